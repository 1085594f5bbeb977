/* cmd_report.c: `moecap report RUN_DIR... [-o report.html]`: one self-contained HTML file
 * (inline CSS and SVG, no scripts) with the CAP radar, latency CDFs, throughput and S-MBU against
 * concurrency, expert activation and the summary table of `moecap run` results directories
 * (docs/RUNDIR.md, docs/REPORT.md). Parses options, wires src/report, prints. */
#include "cli.h"
#include "radar_json.h"
#include "report.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#define REPORT_MAX_BYTES ((size_t)256 << 20)

typedef struct report_args {
    const char *out;
    int json;
    char path[4096];
} report_args;

void usage_report(FILE *f)
{
    fprintf(f,
            "usage: moecap report RUN_DIR... [-o report.html] [--json]\n\n"
            "One self-contained HTML file (no external assets, no JavaScript) from the cap.json\n"
            "and side files of `moecap run` results directories (docs/RUNDIR.md): the CAP radar\n"
            "of every system, TTFT/TPOT CDFs, throughput and S-MBU against concurrency (measured\n"
            "and predicted), expert activation heat maps, distinct experts against batch size,\n"
            "and a summary table of every figure (docs/REPORT.md).\n\n"
            "  -o, --out FILE  output (default RUN_DIR/report.html for one directory, else\n"
            "                  ./report.html); written atomically\n"
            "  --json          print where the report went and the radar radii as JSON\n");
}

static int parse_args(int argc, char **argv, report_args *a)
{
    static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
                                         {"json", no_argument, NULL, 'j'},
                                         {NULL, 0, NULL, 0}};
    int c;
    memset(a, 0, sizeof *a);
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:", opts, NULL)) != -1) {
        switch (c) {
        case 'o': a->out = optarg; break;
        case 'j': a->json = 1; break;
        case ':': return mc_cli_usage_error("report", "%s needs a value", argv[optind - 1]);
        default: return mc_cli_usage_error("report", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return mc_cli_usage_error("report", "give at least one run directory");
    if (a->out)
        snprintf(a->path, sizeof a->path, "%s", a->out);
    else if (argc - optind == 1)
        snprintf(a->path, sizeof a->path, "%s/report.html", argv[optind]);
    else
        snprintf(a->path, sizeof a->path, "report.html");
    return 0;
}

static void print_json(const mc_report *r, const char *path)
{
    const mc_radar_chart *c = mc_report_radar(r);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "command", "report");
    cJSON_AddStringToObject(root, "output", path);
    cJSON_AddNumberToObject(root, "systems", (double)mc_report_n_systems(r));
    cJSON_AddNumberToObject(root, "baseline", c->baseline);
    cJSON_AddNumberToObject(root, "cost_ceiling", c->cost_ceiling);
    cJSON_AddItemToObject(root, "radar", rj_systems(c, 0));
    char *txt = cJSON_Print(root);
    if (txt)
        printf("%s\n", txt);
    cJSON_free(txt);
    cJSON_Delete(root);
}

int cmd_report(int argc, char **argv)
{
    report_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc;
    mc_diag d = {{0}};
    mc_report *r = NULL;
    mc_buf b;
    mc_buf_init(&b, REPORT_MAX_BYTES);
    mc_err e = mc_report_load((const char *const *)argv + optind, (size_t)(argc - optind), &r, &d);
    if (!e)
        e = mc_report_html(r, &b, &d);
    if (!e)
        e = mc_write_file_atomic(a.path, b.data, b.len, &d);
    if (e) {
        rc = mc_cli_fail("report", e, &d);
    } else if (a.json) {
        print_json(r, a.path);
    } else {
        printf("wrote %s (%zu system%s)\n", a.path, mc_report_n_systems(r),
               mc_report_n_systems(r) == 1 ? "" : "s");
    }
    mc_buf_deinit(&b);
    mc_report_free(r);
    return rc;
}
