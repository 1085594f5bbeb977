/* cmd_run.c: `moecap run [config.yaml]`: a whole CAP evaluation (docs/RUN.md). Loads and resolves
 * the configuration (or builds the demo), creates the run directory (docs/RUNDIR.md), runs every
 * system's steps as child processes (run_steps.c), writes cap.json (run_cap.c), then the report
 * when the binary has `moecap report`, and prints the headline table. --resume DIR redoes only
 * the steps whose results are missing or partial. */
#include "cli.h"
#include "hw.h"
#include "run_int.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void usage_run(FILE *f)
{
    fprintf(f,
            "usage: moecap run [config.yaml] [--out DIR] [--fast] [--json]\n"
            "       moecap run --resume DIR [--json]\n\n"
            "A whole CAP evaluation: for every system of the configuration (a GGUF model served\n"
            "by `moecap serve` on a free loopback port, or a running server's URL): model-info,\n"
            "the analytic prediction, one `moecap bench` per concurrency (or batch size) with\n"
            "per-pass records, `moecap eval` per task, fidelity against the reference system,\n"
            "cost; then cap.json, the MoE-CAP reference's files and the report. Without a\n"
            "configuration: the demo (a random MoE in F16, Q8_0, Q4_0 and with a 25%% expert\n"
            "cache). The configuration keys and the directory: docs/RUN.md, docs/RUNDIR.md.\n\n"
            "  --out DIR       run directory (default: output_dir, else ./moecap-run-<time>);\n"
            "                  it must be new or empty\n"
            "  --resume DIR    finish an interrupted run: steps whose results are complete are\n"
            "                  skipped, the rest are run again (config: DIR/config.yaml)\n"
            "  --fast          the demo with a tiny model and a few requests (CI)\n"
            "  --json          print cap.json instead of the table\n");
}

typedef struct run_args {
    const char *config, *out, *resume;
    int fast, json;
} run_args;

static int parse_args(int argc, char **argv, run_args *a)
{
    static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
                                         {"resume", required_argument, NULL, 'r'},
                                         {"fast", no_argument, NULL, 'f'},
                                         {"json", no_argument, NULL, 'j'},
                                         {NULL, 0, NULL, 0}};
    int ch;
    opterr = 0;
    optind = 0;
    while ((ch = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
        if (ch == 'o')
            a->out = optarg;
        else if (ch == 'r')
            a->resume = optarg;
        else if (ch == 'f')
            a->fast = 1;
        else if (ch == 'j')
            a->json = 1;
        else
            return mc_cli_usage_error(RUN_CMD, "unknown or incomplete option '%s'",
                                      argv[optind - 1]);
    }
    if (optind < argc)
        a->config = argv[optind++];
    if (optind < argc)
        return mc_cli_usage_error(RUN_CMD, "unexpected argument '%s'", argv[optind]);
    if (a->resume && a->out)
        return mc_cli_usage_error(RUN_CMD, "--resume continues DIR; it takes no --out");
    if (a->fast && (a->config || a->resume))
        return mc_cli_usage_error(RUN_CMD, "--fast is for the demo (no configuration)");
    return 0;
}

/* 1 = DIR exists and holds something. */
static int dir_nonempty(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n > 0;
}

static mc_err load_config(run_ctx *c, const run_args *a, mc_diag *d)
{
    char path[RUN_PATH];
    const char *cfg = a->config;
    if (!cfg && a->resume) {
        if (run_join(path, sizeof path, a->resume, "config.yaml", d))
            return MC_ERR_ARG;
        if (access(path, R_OK) != 0)
            return mc_fail(d, MC_ERR_ARG, "--resume %s: no config.yaml there (not a run "
                                          "directory?)", a->resume);
        cfg = path;
    }
    if (cfg) {
        mc_err e = mc_run_config_load(cfg, &c->cfg, d);
        return e == MC_ERR_IO ? e : e ? MC_ERR_ARG : MC_OK;
    }
    c->demo = 1;
    c->cfg = mc_run_config_new();
    return c->cfg ? MC_OK : mc_fail(d, MC_ERR_NOMEM, "out of memory");
}

static mc_err choose_dir(run_ctx *c, const run_args *a, mc_diag *d)
{
    const char *dir = a->resume ? a->resume : a->out ? a->out : c->cfg->output_dir;
    if (dir)
        snprintf(c->dir, sizeof c->dir, "%s", dir);
    else
        snprintf(c->dir, sizeof c->dir, "moecap-run-%.4s%.2s%.2s-%.2s%.2s%.2s", c->created,
                 c->created + 5, c->created + 8, c->created + 11, c->created + 14,
                 c->created + 17);
    size_t n = strlen(c->dir);
    while (n > 1 && c->dir[n - 1] == '/')
        c->dir[--n] = 0;
    if (!a->resume && dir_nonempty(c->dir))
        return mc_fail(d, MC_ERR_ARG, "%s already holds files; give a new or empty --out, or "
                                      "--resume %s", c->dir, c->dir);
    return MC_OK;
}

/* probe.json: a copy of the cached probe of this machine, else a probe run now (when the
 * hardware is `local`, which needs it). */
static void step_probe(run_ctx *c)
{
    char out[RUN_PATH], log[RUN_PATH];
    run_join(out, sizeof out, c->dir, "probe.json", NULL);
    run_join(log, sizeof log, c->dir, "probe.log", NULL);
    char *buf = NULL;
    size_t len = 0;
    double t0 = mc_ns_to_s(mc_now_ns());
    if (mc_read_file(mc_probe_local_path(), 1u << 20, &buf, &len, NULL) == MC_OK) {
        mc_write_file_atomic(out, buf, len, NULL);
        mc_free(buf);
        run_progress(c, "probe", NULL, "done", 0, "copied the cached probe");
        return;
    }
    if (strcmp(c->hardware, "local") != 0)
        return run_progress(c, "probe", NULL, "skipped", 0, "no cached probe; hardware is not "
                                                            "local");
    run_progress(c, "probe", NULL, "started", 0, NULL);
    const char *argv[] = {"probe", "--json", "--repeats", c->fast ? "1" : "2", NULL};
    int status = -1;
    mc_diag d = {{0}};
    run_child(argv, out, log, 600, &status, &d);
    if (status != 0) {
        unlink(out);
        c->partial = 1;
    }
    run_progress(c, "probe", NULL, status == 0 ? "done" : "failed",
                 mc_ns_to_s(mc_now_ns()) - t0, status == 0 ? NULL : "see probe.log");
}

/* slow_tier.read_Bps of a `probe --slow-tier --json` document into c->slow_Bps; 1 = found. */
static int read_slow_tier(run_ctx *c, const char *path)
{
    cJSON *j = run_read_json(path);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j,
                                                      "slow_tier"), "read_Bps");
    c->slow_Bps = cJSON_IsNumber(v) && v->valuedouble > 0 ? v->valuedouble : 0;
    cJSON_Delete(j);
    return c->slow_Bps > 0;
}

/* probe-slow-tier.json: when a system keeps its experts in a cache (expert_cache_mb), the slow
 * tier it reads them from, measured in the directory of that system's model file (`probe
 * --slow-tier DIR --slow-tier-only --no-save`: the saved hardware entry is left alone), so
 * predict can model the cache (--slow-bw). Reused on --resume. */
static void step_slow_tier(run_ctx *c)
{
    const run_sys *s = NULL;
    for (size_t i = 0; i < c->n_sys && !s; i++)
        s = c->sys[i].cache_mb >= 0 && c->sys[i].gguf[0] ? &c->sys[i] : NULL;
    if (!s)
        return;
    char dir[RUN_PATH], out[RUN_PATH], log[RUN_PATH];
    snprintf(dir, sizeof dir, "%s", s->gguf);
    char *slash = strrchr(dir, '/'); /* the model's directory */
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else
        slash[slash == dir] = 0;
    run_join(out, sizeof out, c->dir, "probe-slow-tier.json", NULL);
    run_join(log, sizeof log, c->dir, "probe-slow-tier.log", NULL);
    if (c->resume && read_slow_tier(c, out))
        return run_progress(c, "probe-slow-tier", NULL, "done", 0, "kept from the earlier run");
    double t0 = mc_ns_to_s(mc_now_ns());
    run_progress(c, "probe-slow-tier", NULL, "started", 0, NULL);
    const char *argv[] = {"probe", "--slow-tier", dir, "--slow-tier-size", c->fast ? "64M" : "1G",
                          "--slow-tier-only", "--no-save", "--json", NULL};
    int status = -1;
    mc_diag d = {{0}};
    run_child(argv, out, log, 600, &status, &d);
    if (status != 0 || !read_slow_tier(c, out)) {
        unlink(out);
        c->partial = 1;
        return run_progress(c, "probe-slow-tier", NULL, "failed", mc_ns_to_s(mc_now_ns()) - t0,
                            "see probe-slow-tier.log");
    }
    char msg[RUN_PATH + 64];
    snprintf(msg, sizeof msg, "%.3g GB/s in %s", c->slow_Bps / 1e9, dir);
    run_progress(c, "probe-slow-tier", NULL, "done", mc_ns_to_s(mc_now_ns()) - t0, msg);
}

static void prepare_fidelity_text(run_ctx *c)
{
    char gsm[RUN_PATH];
    snprintf(gsm, sizeof gsm, "%s/gsm8k/test.jsonl", mc_data_dir());
    if (!c->cfg->eval.fidelity_reference || access(gsm, R_OK) == 0)
        return;
    run_join(c->fid_text, sizeof c->fid_text, c->dir, "fidelity-text.txt", NULL);
    if (run_demo_text(c->fid_text, NULL) != MC_OK)
        c->fid_text[0] = 0;
}

/* `moecap report RUN_DIR -o RUN_DIR/report.html` when this binary has it. */
static void step_report(run_ctx *c)
{
    if (!mc_cli_find("report"))
        return run_progress(c, "report", NULL, "skipped", 0,
                            "this moecap has no report command yet");
    char html[RUN_PATH], log[RUN_PATH];
    run_join(html, sizeof html, c->dir, "report.html", NULL);
    run_join(log, sizeof log, c->dir, "report.log", NULL);
    const char *argv[] = {"report", c->dir, "-o", html, NULL};
    int status = -1;
    double t0 = mc_ns_to_s(mc_now_ns());
    run_progress(c, "report", NULL, "started", 0, NULL);
    mc_diag d = {{0}};
    run_child(argv, NULL, log, 600, &status, &d);
    run_progress(c, "report", NULL, status == 0 ? "done" : "failed",
                 mc_ns_to_s(mc_now_ns()) - t0, status == 0 ? html : "see report.log");
}

static void iso_now(char *out, size_t cap)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static mc_err setup(run_ctx *c, const run_args *a, mc_diag *d)
{
    iso_now(c->created, sizeof c->created);
    c->fast = a->fast;
    c->resume = a->resume != NULL;
    mc_err e = load_config(c, a, d);
    for (size_t i = 0; !e && i < c->cfg->n_warnings; i++)
        fprintf(stderr, "moecap run: warning: %s\n", c->cfg->warnings[i]);
    if (!e)
        e = choose_dir(c, a, d);
    if (!e && c->demo)
        e = run_demo_config(c, d);
    if (!e)
        e = run_resolve(c, d);
    if (!e)
        e = mc_mkdirs(c->dir, d);
    if (!e)
        e = run_write_config(c, d);
    return e;
}

static int finish(run_ctx *c, int json)
{
    mc_diag d = {{0}};
    run_progress(c, "cost", NULL, "done", 0, NULL);
    if (run_write_cap(c, &d) != MC_OK)
        return mc_cli_fail(RUN_CMD, MC_ERR_IO, &d);
    run_progress(c, "cap.json", NULL, "done", 0, NULL);
    if (!run_interrupted)
        step_report(c);
    char path[RUN_PATH];
    run_join(path, sizeof path, c->dir, "cap.json", NULL);
    cJSON *cap = run_read_json(path);
    if (json) {
        char *s = cJSON_Print(cap);
        if (s)
            printf("%s\n", s);
        cJSON_free(s);
    } else {
        const char *dirs[1] = {c->dir};
        const cJSON *caps[1] = {cap};
        if (cap)
            run_print_table(stdout, caps, dirs, 1);
        printf("\nresults: %s/cap.json\n", c->dir);
        run_join(path, sizeof path, c->dir, "report.html", NULL);
        if (access(path, R_OK) == 0)
            printf("report:  %s\n", path);
    }
    cJSON_Delete(cap);
    size_t ok = 0;
    for (size_t i = 0; i < c->n_sys; i++)
        ok += !c->sys[i].failed;
    if (run_interrupted)
        fprintf(stderr, "moecap run: interrupted; finish with: moecap run --resume %s\n", c->dir);
    return run_interrupted || ok == 0 ? 1 : 0;
}

int cmd_run(int argc, char **argv)
{
    run_args a = {NULL, NULL, NULL, 0, 0};
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc;
    run_ctx *c = mc_calloc(1, sizeof *c);
    if (!c)
        return mc_cli_fail(RUN_CMD, MC_ERR_NOMEM, NULL);
    mc_diag d = {{0}};
    mc_err e = setup(c, &a, &d);
    if (e) {
        for (char *p = d.msg; *p; p++) /* one line, even when a value holds a line break */
            *p = (unsigned char)*p < 0x20 ? '?' : *p;
        rc = mc_cli_fail(RUN_CMD, e, &d);
        goto out;
    }
    run_install_signals();
    fprintf(stderr, "moecap run: %zu systems -> %s\n", c->n_sys, c->dir);
    step_probe(c);
    step_slow_tier(c);
    prepare_fidelity_text(c);
    for (size_t i = 0; i < c->n_sys; i++) {
        run_sys *s = &c->sys[i];
        if (!run_interrupted) {
            run_system_steps(c, s);
            continue;
        }
        s->failed = 1;
        snprintf(s->error, sizeof s->error, "not run: the run was interrupted");
    }
    rc = finish(c, a.json);
out:
    for (size_t i = 0; i < c->n_sys; i++)
        run_server_stop(&c->sys[i].server, 5);
    mc_run_config_free(c->cfg);
    mc_free(c);
    return rc;
}
