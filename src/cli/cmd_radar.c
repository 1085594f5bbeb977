/* cmd_radar.c: `moecap radar INPUT.(yaml|json)`: the CAP radar alone from a list of systems
 * with their performance, cost and accuracy values (the MoE-CAP reference's radar YAML, or JSON
 * with the same keys): the normalised radii as text or JSON, the chart as SVG or PNG. Parses
 * options, wires src/report (which normalises through src/cap), prints. */
#include "cli.h"
#include "radar_json.h"
#include "report.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <string.h>
#include <strings.h>

typedef struct radar_args {
    const char *input, *out;
    double scale;
    int json, png;
} radar_args;

void usage_radar(FILE *f)
{
    fprintf(f,
            "usage: moecap radar INPUT.(yaml|json) [-o radar.svg|radar.png] [--scale S] [--json]\n\n"
            "The CAP radar (docs/METRICS.md section 8, docs/REPORT.md): one polygon per system on\n"
            "the axes performance, cost and accuracy, normalised to 0..100 with baseline b.\n"
            "INPUT is the MoE-CAP reference's radar YAML (model_name, axis_labels, axis_keys,\n"
            "baseline, ticks, data: {system: {key: value}}) or JSON with the same keys; an\n"
            "optional cost_ceiling overrides the reference's rule (the second-to-last tick).\n\n"
            "  -o, --out FILE  write the chart: .svg, or .png (cairo)\n"
            "  --scale S       PNG pixels per SVG pixel (default 2)\n"
            "  --json          print the normalised radii as one JSON document\n");
}

static int parse_args(int argc, char **argv, radar_args *a)
{
    static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
                                         {"scale", required_argument, NULL, 's'},
                                         {"json", no_argument, NULL, 'j'},
                                         {NULL, 0, NULL, 0}};
    int c;
    memset(a, 0, sizeof *a);
    a->scale = 2;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:", opts, NULL)) != -1) {
        switch (c) {
        case 'o': a->out = optarg; break;
        case 'j': a->json = 1; break;
        case 's':
            if (mc_parse_f64(optarg, &a->scale) || a->scale < 0.25 || a->scale > 8)
                return mc_cli_usage_error("radar", "--scale must be a number in [0.25, 8]");
            break;
        case ':': return mc_cli_usage_error("radar", "%s needs a value", argv[optind - 1]);
        default: return mc_cli_usage_error("radar", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind + 1 != argc)
        return mc_cli_usage_error("radar", "give exactly one input file");
    a->input = argv[optind];
    if (a->out) {
        size_t n = strlen(a->out);
        a->png = n >= 4 && strcasecmp(a->out + n - 4, ".png") == 0;
        if (!a->png && !(n >= 4 && strcasecmp(a->out + n - 4, ".svg") == 0))
            return mc_cli_usage_error("radar", "-o must name a .svg or .png file");
    }
    return 0;
}

static cJSON *radar_json(const mc_radar_chart *c, const radar_args *a)
{
    cJSON *root = cJSON_CreateObject(), *axes = cJSON_CreateArray();
    cJSON_AddStringToObject(root, "command", "radar");
    cJSON_AddStringToObject(root, "definitions", "docs/METRICS.md section 8 (radar.*)");
    cJSON_AddItemToObject(root, "title", c->title ? cJSON_CreateString(c->title) : cJSON_CreateNull());
    cJSON_AddNumberToObject(root, "baseline", c->baseline);
    cJSON_AddNumberToObject(root, "cost_ceiling", c->cost_ceiling);
    for (int k = 0; k < MC_RADAR_AXES; k++) {
        cJSON *ax = cJSON_CreateObject();
        cJSON_AddStringToObject(ax, "axis", rj_axis[k]);
        cJSON_AddStringToObject(ax, "label", c->axis_label[k] ? c->axis_label[k] : rj_axis[k]);
        cJSON_AddItemToArray(axes, ax);
    }
    cJSON_AddItemToObject(root, "axes", axes);
    cJSON_AddItemToObject(root, "systems", rj_systems(c, 1));
    cJSON_AddItemToObject(root, "output", a->out ? cJSON_CreateString(a->out) : cJSON_CreateNull());
    return root;
}

static void print_text(const mc_radar_chart *c)
{
    printf("CAP radar%s%s (baseline %g, cost ceiling %g)\n", c->title ? ": " : "",
           c->title ? c->title : "", c->baseline, c->cost_ceiling);
    printf("%-24s %12s %12s %10s %8s %8s %8s\n", "system", "performance", "cost", "accuracy",
           "r_perf", "r_cost", "r_acc");
    for (size_t i = 0; i < c->n; i++) {
        const mc_radar_sys *s = &c->sys[i];
        printf("%-24s %12.6g %12.6g %10.4g %8.2f %8.2f %8.2f\n", s->name, s->value[0],
               s->value[1], s->value[2], s->radius[0], s->radius[1], s->radius[2]);
    }
}

static mc_err write_chart(const mc_radar_chart *c, const radar_args *a, mc_diag *d)
{
    mc_buf b;
    mc_buf_init(&b, (size_t)64 << 20);
    mc_err e = a->png ? mc_radar_png(c, a->scale, &b, d) : mc_chart_radar(c, &b, d);
    if (!e)
        e = mc_write_file_atomic(a->out, b.data, b.len, d);
    mc_buf_deinit(&b);
    return e;
}

int cmd_radar(int argc, char **argv)
{
    radar_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc;
    mc_diag d = {{0}};
    mc_radar_input *in = NULL;
    mc_err e = mc_radar_input_load(a.input, &in, &d);
    if (e)
        return mc_cli_fail("radar", e, &d);
    const mc_radar_chart *c = mc_radar_input_chart(in);
    if (a.out && (e = write_chart(c, &a, &d))) {
        mc_radar_input_free(in);
        return mc_cli_fail("radar", e, &d);
    }
    if (a.json) {
        cJSON *j = radar_json(c, &a);
        char *s = j ? cJSON_Print(j) : NULL;
        if (s)
            printf("%s\n", s);
        cJSON_free(s);
        cJSON_Delete(j);
        rc = s ? 0 : mc_cli_fail("radar", MC_ERR_NOMEM, NULL);
    } else {
        print_text(c);
        if (a.out)
            printf("wrote %s\n", a.out);
    }
    mc_radar_input_free(in);
    return rc;
}
