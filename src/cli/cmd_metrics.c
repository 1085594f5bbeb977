/* cmd_metrics.c: `moecap metrics`: reads a per-forward-pass records file (JSON Lines), and prints
 * S-MBU, S-MFU, throughput, expert activation and pass latency per mode (moecap formula), or the
 * MoE-CAP reference code's figures (--formula moecap-ref); with expert-cache records also the
 * per-tier S-MBU and the cache hit rate. Parses options, wires src/cap to the
 * model and hardware catalogues, prints; every figure is computed in src/cap and defined in
 * docs/METRICS.md. */
#include "cap.h"
#include "cli.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <string.h>

#define RECORDS_MAX_BYTES ((size_t)1 << 30)
#define SHOW_ERRORS 5

typedef struct metrics_args {
    const char *records, *model, *hardware;
    int ref, strict, json;
    double slow_Bps; /* --slow-bw; 0 = from the hardware entry */
} metrics_args;

typedef struct metrics_run {
    metrics_args a;
    mc_pass_set set;
    mc_model *m;
    mc_hw_deploy dep;
    mc_cap_peak pk;
    mc_cap_summary sum;
    mc_cap_stats lat[MC_PASS_MODE_COUNT + 1]; /* latency.pass per mode, then all */
    mc_ref_summary ref;
    mc_ref_sizes refz;
    mc_cap_tier_summary tier; /* tier.all.passes = 0: no record has cache fields */
    const char *slow_source;  /* where the slow tier's bandwidth came from */
} metrics_run;

void usage_metrics(FILE *f)
{
    fprintf(f,
            "usage: moecap metrics --records FILE.jsonl --model M --hardware H[xN]\n"
            "                      [--formula moecap|moecap-ref] [--slow-bw GB/s] [--strict]\n"
            "                      [--json]\n\n"
            "Per-forward-pass records (one JSON object per line, see docs/METRICS.md\n"
            "\"pass.record\"; the MoE-CAP reference's records are accepted) -> S-MBU, S-MFU,\n"
            "throughput, expert activation and pass latency per mode (prefill, decode, mixed).\n\n"
            "  --records FILE    records file (JSON Lines, at most 1 GiB)\n"
            "  --model M         catalogue name, config.json or .gguf\n"
            "  --hardware H[xN]  device and count, e.g. h100-sxm-80gbx2\n"
            "  --formula F       moecap (default): bytes and FLOPs the passes needed;\n"
            "                    moecap-ref: the MoE-CAP reference code's numbers, defects kept\n"
            "  --slow-bw GB/s    slow-tier bandwidth for the per-tier S-MBU of expert-cache\n"
            "                    records (default: the hardware's probed slow tier, else its\n"
            "                    host link)\n"
            "  --strict          a bad record line is an error (default: skip it and warn)\n"
            "  --json            one JSON document (keys are docs/METRICS.md definition names)\n");
}

static int parse_args(int argc, char **argv, metrics_args *a)
{
    static const struct option opts[] = {
        {"records", required_argument, NULL, 'r'}, {"model", required_argument, NULL, 'm'},
        {"hardware", required_argument, NULL, 'H'}, {"formula", required_argument, NULL, 'f'},
        {"strict", no_argument, NULL, 's'},        {"json", no_argument, NULL, 'j'},
        {"slow-bw", required_argument, NULL, 'b'}, {NULL, 0, NULL, 0}};
    int c;
    memset(a, 0, sizeof *a);
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case 'r': a->records = optarg; break;
        case 'm': a->model = optarg; break;
        case 'H': a->hardware = optarg; break;
        case 's': a->strict = 1; break;
        case 'j': a->json = 1; break;
        case 'b':
            if (mc_parse_f64(optarg, &a->slow_Bps) != MC_OK || !(a->slow_Bps > 0))
                return mc_cli_usage_error("metrics", "--slow-bw '%s': expected GB/s > 0", optarg);
            a->slow_Bps *= 1e9;
            break;
        case 'f':
            if (strcmp(optarg, "moecap") != 0 && strcmp(optarg, "moecap-ref") != 0)
                return mc_cli_usage_error("metrics", "--formula must be moecap or moecap-ref");
            a->ref = strcmp(optarg, "moecap-ref") == 0;
            break;
        case ':': return mc_cli_usage_error("metrics", "%s needs a value", argv[optind - 1]);
        default: return mc_cli_usage_error("metrics", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return mc_cli_usage_error("metrics", "unexpected argument '%s'", argv[optind]);
    if (!a->records || !a->model || !a->hardware)
        return mc_cli_usage_error("metrics", "--records, --model and --hardware are required");
    return 0;
}

/* ---- loading ---- */

static mc_err load_records(metrics_run *r, mc_diag *d)
{
    char *buf = NULL;
    size_t len = 0;
    mc_err e = mc_read_file(r->a.records, RECORDS_MAX_BYTES, &buf, &len, d); /* names the file */
    if (e)
        return e;
    e = mc_pass_parse_jsonl(buf, len, r->a.strict, 0, &r->set, d);
    mc_free(buf);
    if (e) {
        mc_diag_prefix(d, "%s", r->a.records);
        return e;
    }
    for (int64_t i = 0; i < r->set.n_errs && i < SHOW_ERRORS; i++)
        fprintf(stderr, "moecap metrics: %s: line %lld: %s (skipped)\n", r->a.records,
                (long long)r->set.errs[i].line, r->set.errs[i].msg);
    if (r->set.n_errs > SHOW_ERRORS)
        fprintf(stderr, "moecap metrics: %s: %lld more bad lines skipped\n", r->a.records,
                (long long)(r->set.n_errs - SHOW_ERRORS));
    if (r->set.n == 0)
        return mc_fail(d, MC_ERR_FORMAT, "%s: no valid records", r->a.records);
    return MC_OK;
}

/* The records' gpu_num (when recorded) must agree with the deployment we divide by. */
static mc_err check_devices(const metrics_run *r, mc_diag *d)
{
    for (size_t i = 0; i < r->set.n; i++) {
        const mc_pass *p = &r->set.v[i];
        if (p->gpu_num > 0 && p->gpu_num != r->dep.count)
            return mc_fail(d, MC_ERR_ARG,
                           "%s: line %lld: gpu_num %d, but --hardware gives %d device%s "
                           "(give --hardware NAMEx%d)", r->a.records, (long long)p->line,
                           p->gpu_num, r->dep.count, r->dep.count == 1 ? "" : "s", p->gpu_num);
    }
    return MC_OK;
}

/* A recorded gpu_raw_type that names another catalogue device than --hardware is a mistake;
 * names the catalogue does not know are accepted. One lookup per distinct name in a row. */
static mc_err check_device_type(const metrics_run *r, mc_diag *d)
{
    const char *last = "";
    for (size_t i = 0; i < r->set.n; i++) {
        const mc_pass *p = &r->set.v[i];
        mc_hw hw;
        if (!p->gpu_raw_type[0] || strcmp(p->gpu_raw_type, last) == 0)
            continue;
        last = p->gpu_raw_type;
        if (mc_hw_lookup(last, &hw, NULL) == MC_OK && strcmp(hw.name, r->dep.hw.name) != 0)
            return mc_fail(d, MC_ERR_ARG, "%s: line %lld: gpu_raw_type '%s' is %s, but "
                           "--hardware is %s", r->a.records, (long long)p->line, last, hw.name,
                           r->dep.hw.name);
    }
    return MC_OK;
}

/* latency.pass: statistics of the pass latencies of each mode and of all passes. */
static mc_err pass_latency_stats(metrics_run *r, mc_diag *d)
{
    double *v = mc_mallocarray(r->set.n, sizeof *v);
    if (!v)
        return mc_fail(d, MC_ERR_NOMEM, "out of memory");
    mc_err e = MC_OK;
    for (int k = 0; k <= MC_PASS_MODE_COUNT && !e; k++) {
        size_t n = 0;
        for (size_t i = 0; i < r->set.n; i++)
            if (k == MC_PASS_MODE_COUNT || r->set.v[i].mode == (mc_pass_mode)k)
                v[n++] = r->set.v[i].latency_s;
        e = mc_cap_stats_of(v, n, &r->lat[k], d);
    }
    mc_free(v);
    return e;
}

/* smbu.fast / smbu.slow / cache.*: the slow tier's bandwidth from --slow-bw, else the probe's
 * slow tier of the hardware entry, else the devices' host link (offload over PCIe). */
static mc_err tiers(metrics_run *r, mc_diag *d)
{
    double slow = r->a.slow_Bps;
    r->slow_source = "--slow-bw";
    if (!(slow > 0)) {
        slow = r->dep.hw.slow_tier_Bps;
        r->slow_source = "the hardware entry's probed slow tier";
    }
    if (!(slow > 0)) {
        slow = r->dep.count * r->dep.hw.host_link_Bps;
        r->slow_source = "the devices' host link";
    }
    if (!(slow > 0))
        r->slow_source = "unknown (give --slow-bw or run 'moecap probe --slow-tier DIR')";
    mc_err e = mc_cap_tier_summarise(r->m, r->pk.bw_Bps, slow, r->set.v, r->set.n, &r->tier, d);
    if (e)
        mc_diag_prefix(d, "%s", r->a.records);
    return e;
}

static mc_err compute(metrics_run *r, mc_diag *d)
{
    mc_err e = load_records(r, d);
    if (!e)
        e = mc_model_load(r->a.model, &r->m, d);
    if (!e)
        e = mc_hw_parse_deploy(r->a.hardware, &r->dep, d);
    if (!e)
        e = check_devices(r, d);
    if (!e)
        e = check_device_type(r, d);
    if (!e)
        e = mc_cap_peak_of(r->m, &r->dep, &r->pk, d);
    if (e)
        return e;
    if (r->a.ref) {
        e = mc_cap_ref_sizes(r->m, &r->refz, d);
        return e ? e : mc_cap_ref_summarise(r->m, &r->pk, r->set.v, r->set.n, &r->ref, d);
    }
    e = mc_cap_summarise(r->m, &r->pk, r->set.v, r->set.n, &r->sum, d);
    if (!e)
        e = pass_latency_stats(r, d);
    return e ? e : tiers(r, d);
}

/* ---- text output ---- */

static const char *group_names[MC_PASS_MODE_COUNT + 1] = {"prefill", "decode", "mixed", "all"};

static const mc_cap_group *group_at(const metrics_run *r, int k)
{
    return k < MC_PASS_MODE_COUNT ? &r->sum.mode[k] : &r->sum.all;
}

static void print_header(const metrics_run *r)
{
    const mc_model *m = r->m;
    printf("records   %s: %zu pass%s from %lld lines", r->a.records, r->set.n,
           r->set.n == 1 ? "" : "es", (long long)r->set.n_lines);
    if (r->set.n_errs)
        printf(" (%lld bad line%s skipped)", (long long)r->set.n_errs,
               r->set.n_errs == 1 ? "" : "s");
    printf("\nmodel     %s: %lld layers (%lld MoE, up to %lld experts, top-%lld), weights %s, "
           "KV %s\n", m->name, (long long)m->n_layers, (long long)m->n_moe_layers,
           (long long)m->max_experts, (long long)m->max_top_k, mc_dtype_name(m->st.expert),
           mc_dtype_name(m->st.kv));
    printf("hardware  %d x %s: %.2f TB/s, ", r->dep.count, r->dep.hw.name, r->pk.bw_Bps / 1e12);
    if (r->pk.flops > 0)
        printf("%.1f TFLOP/s dense %s%s\n", r->pk.flops / 1e12, mc_prec_name(r->pk.prec),
               r->pk.fallback ? " (no peak at the weights' precision: dequantised)" : "");
    else
        printf("no %s peak (S-MFU n/a)\n", mc_prec_name(r->pk.prec));
    printf("formula   %s (definitions: docs/METRICS.md)\n\n",
           r->a.ref ? "moecap-ref, the MoE-CAP reference code's numbers" : "moecap");
}

/* Rows of the moecap table: one value per group. */
typedef enum row_field {
    F_PASSES, F_TOKENS, F_TIME, F_SMBU_TW, F_SMBU_MEAN, F_SMFU_TW, F_SMFU_MEAN, F_TPS,
    F_TPS_MEAN, F_ACT, F_EST, F_GB, F_TFLOP, F_LAT_MEAN, F_LAT_P50, F_LAT_P99
} row_field;

static double cell_value(const metrics_run *r, int k, row_field f)
{
    const mc_cap_group *g = group_at(r, k);
    switch (f) {
    case F_PASSES: return (double)g->passes;
    case F_TOKENS: return (double)g->new_tokens;
    case F_TIME: return g->time_s;
    case F_SMBU_TW: return 100 * g->smbu_tw;
    case F_SMBU_MEAN: return 100 * g->smbu_mean;
    case F_SMFU_TW: return 100 * g->smfu_tw;
    case F_SMFU_MEAN: return 100 * g->smfu_mean;
    case F_TPS: return g->tok_per_s;
    case F_TPS_MEAN: return g->tok_per_s_mean;
    case F_ACT: return g->act_mean;
    case F_EST: return (double)g->act_estimated;
    case F_GB: return g->bytes / (double)g->passes / 1e9;
    case F_TFLOP: return g->flops / (double)g->passes / 1e12;
    case F_LAT_MEAN: return 1e3 * r->lat[k].mean;
    case F_LAT_P50: return 1e3 * r->lat[k].p50;
    case F_LAT_P99: return 1e3 * r->lat[k].p99;
    }
    return NAN;
}

static void print_moecap(const metrics_run *r)
{
    static const struct {
        const char *label, *unit;
        int decimals;
        row_field f;
    } rows[] = {
        {"passes", "", 0, F_PASSES},
        {"new tokens", "tok", 0, F_TOKENS},
        {"busy time", "s", 4, F_TIME},
        {"S-MBU time-weighted", "%", 2, F_SMBU_TW},
        {"S-MBU pass mean", "%", 2, F_SMBU_MEAN},
        {"S-MFU time-weighted", "%", 2, F_SMFU_TW},
        {"S-MFU pass mean", "%", 2, F_SMFU_MEAN},
        {"throughput", "tok/s", 1, F_TPS},
        {"throughput pass mean", "tok/s", 1, F_TPS_MEAN},
        {"experts per MoE layer", "", 2, F_ACT},
        {"  passes with estimate", "", 0, F_EST},
        {"bytes per pass (mean)", "GB", 3, F_GB},
        {"FLOPs per pass (mean)", "TFLOP", 4, F_TFLOP},
        {"pass latency mean", "ms", 3, F_LAT_MEAN},
        {"pass latency p50", "ms", 3, F_LAT_P50},
        {"pass latency p99", "ms", 3, F_LAT_P99},
    };
    printf("%-24s %-6s", "", "unit");
    for (int k = 0; k <= MC_PASS_MODE_COUNT; k++)
        printf(" %14s", group_names[k]);
    putchar('\n');
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        printf("%-24s %-6s", rows[i].label, rows[i].unit);
        for (int k = 0; k <= MC_PASS_MODE_COUNT; k++) {
            double v = cell_value(r, k, rows[i].f);
            char cell[32] = "-"; /* empty group, or not available (no peak) */
            if (group_at(r, k)->passes > 0 && isfinite(v))
                snprintf(cell, sizeof cell, "%.*f", rows[i].decimals, v);
            printf(" %14s", cell);
        }
        putchar('\n');
    }
}

/* ---- expert cache (pass.cache): per-tier S-MBU and hit rates ---- */

typedef enum tier_field { T_PASSES, T_HIT, T_FAST, T_SLOW, T_MB, T_BW, T_STALL } tier_field;

static double tier_value(const mc_cap_tier_group *g, tier_field f)
{
    switch (f) {
    case T_PASSES: return (double)g->passes;
    case T_HIT: return 100 * g->hit_rate;
    case T_FAST: return 100 * g->smbu_fast;
    case T_SLOW: return 100 * g->smbu_slow;
    case T_MB: return g->slow_passes ? g->slow_bytes / (double)g->slow_passes / 1e6 : NAN;
    case T_BW: return g->slow_bw_Bps / 1e9;
    case T_STALL: return 100 * g->smbu_stall;
    }
    return NAN;
}

static void print_tiers(const metrics_run *r)
{
    static const struct {
        const char *label, *unit;
        int decimals;
        tier_field f;
    } rows[] = {
        {"passes with a cache", "", 0, T_PASSES},
        {"cache hit rate", "%", 2, T_HIT},
        {"S-MBU fast tier", "%", 2, T_FAST},
        {"S-MBU slow tier", "%", 2, T_SLOW},
        {"slow bytes per pass", "MB", 3, T_MB},
        {"slow bw during stalls", "GB/s", 3, T_BW},
        {"  of the slow tier", "%", 1, T_STALL},
    };
    const mc_cap_tier_summary *t = &r->tier;
    printf("\nexpert cache: fast tier %.2f GB/s, slow tier ", t->fast_Bps / 1e9);
    if (t->slow_Bps > 0)
        printf("%.3f GB/s (%s)\n", t->slow_Bps / 1e9, r->slow_source);
    else
        printf("%s\n", r->slow_source);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        printf("%-24s %-6s", rows[i].label, rows[i].unit);
        for (int k = 0; k <= MC_PASS_MODE_COUNT; k++) {
            const mc_cap_tier_group *g = k < MC_PASS_MODE_COUNT ? &t->mode[k] : &t->all;
            double v = tier_value(g, rows[i].f);
            char cell[32] = "-";
            if (g->passes > 0 && isfinite(v))
                snprintf(cell, sizeof cell, "%.*f", rows[i].decimals, v);
            printf(" %14s", cell);
        }
        putchar('\n');
    }
    printf("hit rate per MoE layer (%%):");
    for (int64_t l = 0; l < t->n_layers; l++)
        printf(l % 12 == 11 ? " %.1f\n  " : " %.1f", 100 * t->layer_hit_rate[l]);
    printf("\n(S-MBU fast = bytes.pass / latency / fast bandwidth; slow = slow_tier_bytes / latency "
           "/ slow bandwidth;\n slow bw during stalls = slow_tier_bytes / slow_tier_stall: "
           "docs/METRICS.md section 3)\n");
}

static void print_ref(const metrics_run *r)
{
    const mc_ref_summary *s = &r->ref;
    printf("family    %s (S_attn %.6g, S_exp %.6g, S_shared %.6g tera-params; %.0f KV "
           "elements/token; %g bytes/param)\n\n", mc_ref_family_name(r->refz.family),
           r->refz.s_attn, r->refz.s_exp, r->refz.s_shared, r->refz.kv_per_token,
           r->refz.bytes_per_param);
    printf("prefill_smbu          %10.4f %%   (%lld samples%s)\n", 100 * s->prefill_smbu,
           (long long)s->prefill_samples, s->per_request ? ", per request" : "");
    printf("prefill_smfu          %10.4f %%\n", 100 * s->prefill_smfu);
    printf("decoding_smbu         %10.4f %%   (%lld samples)\n", 100 * s->decoding_smbu,
           (long long)s->decode_samples);
    printf("decoding_smfu         %10.4f %%\n", 100 * s->decoding_smfu);
    printf("prefill_tp            %10.1f tok/s\n", s->prefill_tp);
    printf("decoding_throughput   %10.1f tok/s\n", s->decoding_throughput);
    printf("ttft                  %10.4f s\n", s->ttft);
    printf("tpot                  %10.4f s\n", s->tpot);
    printf("kv_size               %10.2f M elements\n", s->kv_size);
    printf("skipped               %lld (activation missing or < 0), %lld (prefill <= 10 "
           "tokens), %lld incomplete requests\n", (long long)s->skipped_activation,
           (long long)s->skipped_probe, (long long)s->incomplete_requests);
}

/* ---- JSON output ---- */

static void add_num(cJSON *o, const char *key, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

static cJSON *json_stats(const mc_cap_stats *s)
{
    cJSON *o = cJSON_CreateObject();
    add_num(o, "n", (double)s->n);
    const struct {
        const char *k;
        double v;
    } f[] = {{"mean", s->mean}, {"sd", s->sd},   {"min", s->min},   {"p50", s->p50},
             {"p90", s->p90},   {"p95", s->p95}, {"p99", s->p99},   {"p99.9", s->p999},
             {"max", s->max}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        add_num(o, f[i].k, s->n ? f[i].v : NAN);
    return o;
}

static cJSON *json_group(const mc_cap_group *g, const mc_cap_stats *lat)
{
    cJSON *o = cJSON_CreateObject();
    int any = g->passes > 0;
    add_num(o, "passes", (double)g->passes);
    add_num(o, "new_tokens", (double)g->new_tokens);
    add_num(o, "sequences", (double)g->sequences);
    add_num(o, "time_s", g->time_s);
    add_num(o, "bytes", g->bytes);
    add_num(o, "flops", g->flops);
    add_num(o, "smbu.time_weighted", any ? g->smbu_tw : NAN);
    add_num(o, "smbu.pass_mean", any ? g->smbu_mean : NAN);
    add_num(o, "smfu.time_weighted", any ? g->smfu_tw : NAN);
    add_num(o, "smfu.pass_mean", any ? g->smfu_mean : NAN);
    add_num(o, "throughput.tokens", any ? g->tok_per_s : NAN);
    add_num(o, "throughput.tokens_pass_mean", any ? g->tok_per_s_mean : NAN);
    add_num(o, "experts.activation_mean", any ? g->act_mean : NAN);
    add_num(o, "experts.estimated_passes", (double)g->act_estimated);
    cJSON_AddItemToObject(o, "latency.pass", json_stats(lat));
    return o;
}

static void json_tier_group(cJSON *o, const mc_cap_tier_group *g)
{
    int any = g->passes > 0;
    cJSON *c = cJSON_AddObjectToObject(o, "cache");
    add_num(c, "passes", (double)g->passes);
    add_num(c, "hits", (double)g->hits);
    add_num(c, "misses", (double)g->misses);
    add_num(c, "cache.hit_rate", any ? g->hit_rate : NAN);
    add_num(c, "smbu.fast", any ? g->smbu_fast : NAN);
    add_num(c, "smbu.slow", any ? g->smbu_slow : NAN);
    add_num(c, "slow_bytes", g->slow_bytes);
    add_num(c, "stall_s", g->stall_s);
    add_num(c, "cache.slow_bw", any ? g->slow_bw_Bps : NAN);
    add_num(c, "smbu.slow_stall", any ? g->smbu_stall : NAN);
}

static void json_tiers(cJSON *root, const metrics_run *r)
{
    const mc_cap_tier_summary *t = &r->tier;
    cJSON *c = cJSON_AddObjectToObject(root, "cache");
    add_num(c, "fast_Bps", t->fast_Bps);
    add_num(c, "slow_Bps", t->slow_Bps > 0 ? t->slow_Bps : NAN);
    cJSON_AddStringToObject(c, "slow_source", r->slow_source);
    cJSON *l = cJSON_AddArrayToObject(c, "cache.layer_hit_rate");
    for (int64_t i = 0; i < t->n_layers; i++)
        cJSON_AddItemToArray(l, isfinite(t->layer_hit_rate[i])
                                    ? cJSON_CreateNumber(t->layer_hit_rate[i])
                                    : cJSON_CreateNull());
}

static cJSON *json_ref(const metrics_run *r)
{
    const mc_ref_summary *s = &r->ref;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "ref.family", mc_ref_family_name(r->refz.family));
    const struct {
        const char *k;
        double v;
    } f[] = {{"prefill_smbu", s->prefill_smbu},
             {"prefill_smfu", s->prefill_smfu},
             {"decoding_smbu", s->decoding_smbu},
             {"decoding_smfu", s->decoding_smfu},
             {"kv_size", s->kv_size},
             {"decoding_throughput", s->decoding_throughput},
             {"prefill_tp", s->prefill_tp},
             {"ttft", s->ttft},
             {"tpot", s->tpot},
             {"prefill_samples", (double)s->prefill_samples},
             {"decode_samples", (double)s->decode_samples},
             {"ref.skipped_activation", (double)s->skipped_activation},
             {"ref.skipped_probe", (double)s->skipped_probe},
             {"ref.incomplete_requests", (double)s->incomplete_requests}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        add_num(o, f[i].k, f[i].v);
    cJSON_AddBoolToObject(o, "per_request", s->per_request);
    return o;
}

static cJSON *json_inputs(const metrics_run *r)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "command", "metrics");
    cJSON_AddStringToObject(root, "definitions", "docs/METRICS.md");
    cJSON_AddStringToObject(root, "formula", r->a.ref ? "moecap-ref" : "moecap");
    cJSON *rec = cJSON_AddObjectToObject(root, "records");
    cJSON_AddStringToObject(rec, "file", r->a.records);
    add_num(rec, "lines", (double)r->set.n_lines);
    add_num(rec, "passes", (double)r->set.n);
    add_num(rec, "bad_lines", (double)r->set.n_errs);
    cJSON *errs = cJSON_AddArrayToObject(rec, "errors");
    for (int64_t i = 0; i < r->set.n_errs && i < MC_PASS_SET_MAX_ERRS; i++) {
        cJSON *e = cJSON_CreateObject();
        add_num(e, "line", (double)r->set.errs[i].line);
        cJSON_AddStringToObject(e, "message", r->set.errs[i].msg);
        cJSON_AddItemToArray(errs, e);
    }
    cJSON *m = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(m, "name", r->m->name);
    cJSON_AddStringToObject(m, "arch", r->m->arch);
    cJSON_AddStringToObject(m, "weights_dtype", mc_dtype_name(r->m->st.expert));
    cJSON_AddStringToObject(m, "kv_dtype", mc_dtype_name(r->m->st.kv));
    cJSON *h = cJSON_AddObjectToObject(root, "hardware");
    cJSON_AddStringToObject(h, "name", r->dep.hw.name);
    add_num(h, "devices", r->dep.count);
    add_num(h, "bw_Bps", r->pk.bw_Bps);
    add_num(h, "peak_flops", r->pk.flops > 0 ? r->pk.flops : NAN);
    cJSON_AddStringToObject(h, "precision", mc_prec_name(r->pk.prec));
    cJSON_AddBoolToObject(h, "peak_fallback", r->pk.fallback);
    return root;
}

static int print_json(const metrics_run *r)
{
    cJSON *root = json_inputs(r);
    if (r->a.ref) {
        cJSON_AddItemToObject(root, "ref.aggregate", json_ref(r));
    } else {
        cJSON *g = cJSON_AddObjectToObject(root, "groups");
        int cache = r->tier.all.passes > 0;
        for (int k = 0; k <= MC_PASS_MODE_COUNT; k++) {
            cJSON *grp = json_group(group_at(r, k), &r->lat[k]);
            if (cache)
                json_tier_group(grp, k < MC_PASS_MODE_COUNT ? &r->tier.mode[k] : &r->tier.all);
            cJSON_AddItemToObject(g, group_names[k], grp);
        }
        if (cache)
            json_tiers(root, r);
    }
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    if (!s)
        return -1;
    printf("%s\n", s);
    cJSON_free(s);
    return 0;
}

int cmd_metrics(int argc, char **argv)
{
    metrics_run r;
    memset(&r, 0, sizeof r);
    int rc = parse_args(argc, argv, &r.a);
    if (rc)
        return rc;
    mc_pass_set_init(&r.set);
    mc_diag d = {{0}};
    mc_err e = compute(&r, &d);
    if (e) {
        rc = mc_cli_fail("metrics", e, &d);
        goto out;
    }
    if (r.a.json) {
        if (print_json(&r) != 0)
            rc = mc_cli_fail("metrics", MC_ERR_NOMEM, NULL);
        goto out;
    }
    print_header(&r);
    if (r.a.ref)
        print_ref(&r);
    else
        print_moecap(&r);
    if (!r.a.ref && r.tier.all.passes > 0)
        print_tiers(&r);
out:
    mc_pass_set_deinit(&r.set);
    mc_model_free(r.m);
    return rc;
}
