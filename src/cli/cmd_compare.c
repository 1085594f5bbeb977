/* cmd_compare.c: `moecap compare RUN_DIR...`: the headline figures of every system of several
 * `moecap run` directories side by side (reads each cap.json, docs/RUNDIR.md; refuses JSON that
 * is not a run's). Also the table `moecap run` prints at its end (run_print_table). */
#include "cli.h"
#include "run_int.h"

#include <getopt.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

void usage_compare(FILE *f)
{
    fprintf(f, "usage: moecap compare RUN_DIR|cap.json... [--json]\n\n"
               "The headline figures of each system of one or more `moecap run` directories:\n"
               "TPOT and TTFT (p50) and output throughput at the headline concurrency, S-MBU,\n"
               "the accuracy figure (fidelity top-1 with a reference system, else acc), the\n"
               "cost ($ per 1M output tokens, or memory capital) and the radar radii.\n\n"
               "  --json   one JSON document: per run, per system, the figures with units\n");
}

static double v_at(const cJSON *j, const char *a, const char *b, const char *c)
{
    const char *k[3] = {a, b, c};
    for (int i = 0; i < 3 && j && k[i]; i++)
        j = cJSON_GetObjectItemCaseSensitive(j, k[i]);
    return cJSON_IsNumber(j) ? j->valuedouble : NAN;
}

static const char *s_at(const cJSON *j, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    return cJSON_IsString(v) ? v->valuestring : "-";
}

/* prec >= 0: fixed decimals; -1: 4 significant digits */
static void cell(FILE *f, double v, double scale, int prec)
{
    char buf[32];
    if (isfinite(v) && prec >= 0)
        snprintf(buf, sizeof buf, "%.*f", prec, v * scale);
    else if (isfinite(v))
        snprintf(buf, sizeof buf, "%.4g", v * scale);
    else
        snprintf(buf, sizeof buf, "-");
    fprintf(f, " %10s", buf);
}

/* The radius of one axis of system i from cap.json's radar. */
static double radius(const cJSON *cap, int i, const char *axis)
{
    const cJSON *s = cJSON_GetArrayItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(cap, "radar"), "systems"), i);
    return v_at(s, "radii", axis, NULL);
}

void run_print_table(FILE *f, const cJSON *const *caps, const char *const *dirs, size_t n)
{
    fprintf(f, "%-24s %-7s %10s %10s %10s %10s %10s %10s %10s\n", "system", "status", "TPOT ms",
            "TTFT ms", "tok/s", "S-MBU", "accuracy", "cost", "radii P/C/A");
    for (size_t r = 0; r < n; r++) {
        if (n > 1)
            fprintf(f, "%s:\n", dirs[r]);
        int i = 0;
        const cJSON *s;
        cJSON_ArrayForEach(s, cJSON_GetObjectItem(caps[r], "systems"))
        {
            const cJSON *p0 = cJSON_GetArrayItem(cJSON_GetObjectItem(s, "perf"), 0);
            const cJSON *h = cJSON_GetObjectItem(s, "headline");
            fprintf(f, "%-24s %-7s", s_at(s, "name"), s_at(s, "status"));
            cell(f, v_at(h, "performance", "value", NULL), 1e3, 3);
            cell(f, v_at(p0, "latency.ttft", "value", NULL), 1e3, 3);
            cell(f, v_at(p0, "throughput.requests", "value", NULL), 1, 1);
            cell(f, v_at(p0, "smbu.time_weighted", "value", NULL), 1, 3);
            cell(f, v_at(h, "accuracy", "value", NULL), 1, 4);
            cell(f, v_at(h, "cost", "value", NULL), 1, -1);
            const char *ax[3] = {"performance", "cost", "accuracy"};
            fputc(' ', f);
            for (int k = 0; k < 3; k++) {
                double v = radius(caps[r], i, ax[k]);
                fprintf(f, isfinite(v) ? "%s%.0f" : "%s-", k ? "/" : " ", v);
            }
            fputc('\n', f);
            if (strcmp(s_at(s, "status"), "ok") != 0)
                fprintf(f, "  error: %s\n", s_at(s, "error"));
            i++;
        }
    }
    const cJSON *h = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(caps[0],
                                                                                "systems"), 0),
                                         "headline");
    fprintf(f, "(accuracy: %s; cost: %s; at concurrency/batch %g)\n",
            s_at(cJSON_GetObjectItem(h, "accuracy"), "definition"),
            s_at(cJSON_GetObjectItem(h, "cost"), "definition"),
            isfinite(v_at(h, "concurrency", NULL, NULL)) ? v_at(h, "concurrency", NULL, NULL)
                                                         : v_at(h, "batch", NULL, NULL));
}

/* Reads RUN_DIR/cap.json (or a cap.json path) and checks that it is a run's. */
static mc_err load_cap(const char *arg, cJSON **out, mc_diag *d)
{
    char path[RUN_PATH];
    struct stat st;
    *out = NULL;
    if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
        if (run_join(path, sizeof path, arg, "cap.json", d))
            return MC_ERR_ARG;
    } else {
        snprintf(path, sizeof path, "%s", arg);
    }
    if (stat(path, &st) != 0)
        return mc_fail(d, MC_ERR_IO, "%s: no cap.json (not a moecap run directory?)", arg);
    cJSON *j = run_read_json(path);
    if (!j)
        return mc_fail(d, MC_ERR_FORMAT, "%s: not JSON", path);
    const cJSON *cmd = cJSON_GetObjectItem(j, "command");
    if (!cJSON_IsString(cmd) || strcmp(cmd->valuestring, "run") != 0 ||
        !cJSON_IsArray(cJSON_GetObjectItem(j, "systems"))) {
        mc_fail(d, MC_ERR_FORMAT, "%s: not the cap.json of a moecap run (command %s%s%s)", path,
                cJSON_IsString(cmd) ? "'" : "", cJSON_IsString(cmd) ? cmd->valuestring : "absent",
                cJSON_IsString(cmd) ? "'" : "");
        cJSON_Delete(j);
        return MC_ERR_FORMAT;
    }
    *out = j;
    return MC_OK;
}

static cJSON *compare_json(cJSON **caps, char **dirs, size_t n)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "command", "compare");
    cJSON_AddStringToObject(o, "definitions", "docs/METRICS.md");
    cJSON *runs = cJSON_AddArrayToObject(o, "runs");
    for (size_t r = 0; r < n; r++) {
        cJSON *run = cJSON_CreateObject();
        cJSON_AddStringToObject(run, "dir", dirs[r]);
        cJSON_AddStringToObject(run, "created", s_at(caps[r], "created"));
        cJSON *sys = cJSON_AddArrayToObject(run, "systems");
        const cJSON *s;
        cJSON_ArrayForEach(s, cJSON_GetObjectItem(caps[r], "systems"))
        {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "name", s_at(s, "name"));
            cJSON_AddStringToObject(e, "status", s_at(s, "status"));
            cJSON_AddItemToObject(e, "headline",
                                  cJSON_Duplicate(cJSON_GetObjectItem(s, "headline"), 1));
            const cJSON *p0 = cJSON_GetArrayItem(cJSON_GetObjectItem(s, "perf"), 0);
            cJSON_AddItemToObject(
                e, "throughput.requests",
                cJSON_Duplicate(cJSON_GetObjectItem(p0, "throughput.requests"), 1));
            cJSON_AddItemToArray(sys, e);
        }
        cJSON_AddItemToArray(runs, run);
    }
    return o;
}

int cmd_compare(int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
    int ch, json = 0, rc = 0;
    opterr = 0;
    optind = 0;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch != 'j')
            return mc_cli_usage_error("compare", "unknown option '%s'", argv[optind - 1]);
        json = 1;
    }
    size_t n = (size_t)(argc - optind);
    if (n == 0)
        return mc_cli_usage_error("compare", "give one or more run directories");
    cJSON **caps = mc_calloc(n, sizeof *caps);
    if (!caps)
        return mc_cli_fail("compare", MC_ERR_NOMEM, NULL);
    mc_diag d = {{0}};
    for (size_t i = 0; i < n && !rc; i++) {
        mc_err e = load_cap(argv[optind + (int)i], &caps[i], &d);
        if (e)
            rc = mc_cli_fail("compare", e, &d);
    }
    if (!rc && json) {
        cJSON *o = compare_json(caps, argv + optind, n);
        char *s = cJSON_Print(o);
        printf("%s\n", s ? s : "null");
        cJSON_free(s);
        cJSON_Delete(o);
    } else if (!rc) {
        run_print_table(stdout, (const cJSON *const *)caps, (const char *const *)(argv + optind),
                        n);
    }
    for (size_t i = 0; i < n; i++)
        cJSON_Delete(caps[i]);
    mc_free(caps);
    return rc;
}
