/* cmd_predict.c: `moecap predict`: the analytic CAP model (src/cap predict.*) for a model on a
 * deployment: one row per batch size (memory fit, offload, activated experts, bytes per step,
 * roofline TPOT and TTFT, throughput, S-MBU / S-MFU, $/1M tokens, J/token), the largest batch
 * under a TPOT SLO, and calibration of the efficiency factors from a measured TPOT / TTFT. The
 * --fit listings are in cmd_predict_fit.c. Parses options, wires the catalogues to src/cap and
 * prints; every figure is computed in src/cap and defined in docs/METRICS.md section 11. */
#include "cmd_predict.h"
#include "cli.h"

#include <getopt.h>
#include <math.h>
#include <string.h>

void usage_predict(FILE *f)
{
    fprintf(
        f,
        "usage: moecap predict --model M --hardware H[xN] [--precision P] [--kv-precision P]\n"
        "                      [--batch B | --sweep batch=1,2,4,...] [--input-len I]\n"
        "                      [--output-len O] [--eff-mem F] [--eff-compute F]\n"
        "                      [--tpot-slo S [--find max-batch]] [--price-usd X]\n"
        "                      [--cloud-usd-per-hour X] [--measured-tpot S] [--measured-ttft S]\n"
        "                      [--expert-cache-mb N [--slow-bw GB/s] [--cache-policy P]\n"
        "                      [--prefetch-overlap F]] [--routing FILE.jsonl] [--json]\n"
        "       moecap predict --fit --model M --tpot-slo S [options]     (which hardware?)\n"
        "       moecap predict --fit --hardware H[xN] --tpot-slo S [options] (which models?)\n\n"
        "Analytic CAP model: B sequences of I prompt and O output tokens served as one batch.\n"
        "A decode step (mean context I + O/2) and the prefill of the B prompts are priced with\n"
        "the same bytes/FLOPs definitions as `moecap metrics`; TPOT and TTFT are rooflines:\n"
        "max(bytes / (BW x eff-mem), FLOPs / (peak x eff-compute)) + host-link time of what\n"
        "does not fit in device memory. Definitions: docs/METRICS.md section 11.\n\n"
        "  --model M              catalogue name, config.json or .gguf\n"
        "  --hardware H[xN]       catalogue device and count, e.g. h100-sxm-80gbx2\n"
        "  --precision P          store every weight group as P (bf16, fp8, int4, ...)\n"
        "  --kv-precision P       store the KV cache as P\n"
        "  --batch B              batch size (default 1)\n"
        "  --sweep batch=LIST     one row per batch size (comma-separated, up to %d)\n"
        "  --input-len I          prompt tokens per sequence (default 1024)\n"
        "  --output-len O         output tokens per sequence (default 256)\n"
        "  --eff-mem F            attained fraction of peak bandwidth, (0, 1] (default 1)\n"
        "  --eff-compute F        attained fraction of dense peak FLOP/s, (0, 1] (default 1)\n"
        "  --measured-tpot S      calibrate the factors from a run measured at --batch:\n"
        "  --measured-ttft S        its TPOT and TTFT in seconds\n"
        "  --tpot-slo S           TPOT objective in seconds (adds a column; needed by --find\n"
        "                         and --fit)\n"
        "  --find max-batch       the largest batch that fits and meets --tpot-slo\n"
        "  --fit                  with --model: every catalogue device; with --hardware:\n"
        "                         every catalogue model at native, bf16, fp8 and int4\n"
        "  --price-usd X          purchase price of one device (default: the catalogue's)\n"
        "  --cloud-usd-per-hour X cloud price per device-hour (replaces purchase and energy)\n"
        "  --expert-cache-mb N    routed experts live in a cache of N MiB (everything else\n"
        "                         resident); a miss reads the expert from the slow tier\n"
        "  --slow-bw GB/s         the slow tier (default: the hardware's probed slow tier,\n"
        "                         else its host link); also used when memory is short\n"
        "  --cache-policy P       lru (default), lfu or static (hottest experts)\n"
        "  --prefetch-overlap F   fraction of slow-tier time hidden behind compute, [0, 1]\n"
        "  --routing FILE.jsonl   routing frequencies from records' tokens_per_expert\n"
        "                         (default: uniform routing)\n"
        "  --json                 one JSON document: every figure with unit and definition\n",
        PREDICT_SWEEP_MAX);
}

/* ---- option parsing ---- */

enum {
    O_MODEL = 256,
    O_HW,
    O_PREC,
    O_KV,
    O_BATCH,
    O_IN,
    O_OUT,
    O_EFFM,
    O_EFFC,
    O_SWEEP,
    O_SLO,
    O_FIND,
    O_FIT,
    O_PRICE,
    O_CLOUD,
    O_MTPOT,
    O_MTTFT,
    O_JSON,
    O_CACHE,
    O_SLOW,
    O_ROUTING,
    O_POLICY,
    O_OVERLAP
};

static int bad_number(const char *opt, const char *v, const char *want)
{
    return mc_cli_usage_error(PREDICT_CMD, "%s '%s': %s", opt, v, want);
}

static int parse_count(const char *opt, const char *v, int64_t *out)
{
    if (mc_parse_i64(v, 1, MC_PREDICT_MAX, out) != MC_OK)
        return mc_cli_usage_error(PREDICT_CMD, "%s '%s': expected an integer in 1..%d", opt, v,
                                  MC_PREDICT_MAX);
    return 0;
}

/* A finite number > 0 (and <= hi when hi > 0). */
static int parse_pos(const char *opt, const char *v, double hi, double *out)
{
    if (mc_parse_f64(v, out) != MC_OK || !(*out > 0) || (hi > 0 && *out > hi))
        return bad_number(opt, v, hi > 0 ? "expected a number in (0, 1]" : "expected a number > 0");
    return 0;
}

static int parse_sweep(const char *v, predict_args *a)
{
    if (strncmp(v, "batch=", 6) != 0)
        return mc_cli_usage_error(PREDICT_CMD, "--sweep '%s': only batch=LIST is supported", v);
    a->n_sweep = 0;
    for (const char *t = v + 6;; t++) {
        const char *end = strchr(t, ',');
        size_t len = end ? (size_t)(end - t) : strlen(t);
        char item[32];
        if (len == 0 || len >= sizeof item)
            return mc_cli_usage_error(PREDICT_CMD, "--sweep '%s': expected batch=B1,B2,...", v);
        if (a->n_sweep == PREDICT_SWEEP_MAX)
            return mc_cli_usage_error(PREDICT_CMD, "--sweep: at most %d batch sizes",
                                      PREDICT_SWEEP_MAX);
        memcpy(item, t, len);
        item[len] = 0;
        int rc = parse_count("--sweep", item, &a->sweep[a->n_sweep++]);
        if (rc || !end)
            return rc;
        t = end;
    }
}

static int parse_dtype(const char *opt, const char *v, mc_dtype *out, int *has)
{
    if (mc_dtype_parse(v, out) != MC_OK)
        return mc_cli_usage_error(PREDICT_CMD, "%s: unknown precision '%s'", opt, v);
    *has = 1;
    return 0;
}

static int parse_cache_opt(int c, const char *v, predict_args *a)
{
    a->has_cache_opt = 1;
    switch (c) {
    case O_CACHE: return parse_pos("--expert-cache-mb", v, 0, &a->expert_cache_mb);
    case O_SLOW:
        if (parse_pos("--slow-bw", v, 0, &a->slow_Bps))
            return 2;
        a->slow_Bps *= 1e9;
        return 0;
    case O_ROUTING: a->routing = v; return 0;
    case O_POLICY:
        if (mc_cache_policy_parse(v, &a->policy, NULL) != MC_OK)
            return mc_cli_usage_error(PREDICT_CMD, "--cache-policy '%s': expected lru, lfu or "
                                      "static", v);
        return 0;
    case O_OVERLAP:
        if (mc_parse_f64(v, &a->prefetch_overlap) != MC_OK ||
            !(a->prefetch_overlap >= 0 && a->prefetch_overlap <= 1))
            return bad_number("--prefetch-overlap", v, "expected a number in [0, 1]");
        return 0;
    }
    return mc_cli_usage_error(PREDICT_CMD, "internal: option %d", c);
}

static int parse_one(int c, const char *v, predict_args *a)
{
    switch (c) {
    case O_MODEL: a->model = v; return 0;
    case O_HW: a->hardware = v; return 0;
    case O_PREC: return parse_dtype("--precision", v, &a->prec, &a->has_prec);
    case O_KV: return parse_dtype("--kv-precision", v, &a->kv, &a->has_kv);
    case O_BATCH: a->has_batch = 1; return parse_count("--batch", v, &a->batch);
    case O_IN: return parse_count("--input-len", v, &a->input_len);
    case O_OUT: return parse_count("--output-len", v, &a->output_len);
    case O_EFFM: a->has_eff = 1; return parse_pos("--eff-mem", v, 1, &a->eff_mem);
    case O_EFFC: a->has_eff = 1; return parse_pos("--eff-compute", v, 1, &a->eff_compute);
    case O_SWEEP: return parse_sweep(v, a);
    case O_SLO: return parse_pos("--tpot-slo", v, 0, &a->tpot_slo_s);
    case O_FIND:
        if (strcmp(v, "max-batch") != 0)
            return mc_cli_usage_error(PREDICT_CMD, "--find '%s': only max-batch is supported", v);
        a->find_max = 1;
        return 0;
    case O_PRICE:
        a->has_price = 1;
        if (mc_parse_f64(v, &a->price_usd) != MC_OK || a->price_usd < 0)
            return bad_number("--price-usd", v, "expected a number >= 0");
        return 0;
    case O_CLOUD: return parse_pos("--cloud-usd-per-hour", v, 0, &a->cloud_usd_per_h);
    case O_MTPOT: return parse_pos("--measured-tpot", v, 0, &a->measured_tpot_s);
    case O_MTTFT: return parse_pos("--measured-ttft", v, 0, &a->measured_ttft_s);
    default: return parse_cache_opt(c, v, a);
    }
}

/* Combinations that make no sense; returns an exit code (0 = fine). */
static int check_combination(const predict_args *a)
{
    int calib = a->measured_tpot_s > 0 || a->measured_ttft_s > 0;
    if (a->fit) {
        if (!!a->model == !!a->hardware)
            return mc_cli_usage_error(PREDICT_CMD, "--fit takes --model (which hardware?) or "
                                                   "--hardware (which models?), not both");
        if (!(a->tpot_slo_s > 0))
            return mc_cli_usage_error(PREDICT_CMD, "--fit needs --tpot-slo S");
        if (a->n_sweep || a->has_batch || a->find_max || calib)
            return mc_cli_usage_error(PREDICT_CMD, "--fit does not take --batch, --sweep, "
                                                   "--find or --measured-*");
        if (a->model && (a->has_price || a->cloud_usd_per_h > 0))
            return mc_cli_usage_error(PREDICT_CMD,
                                      "--fit --model lists every device at its "
                                      "catalogue price; drop --price-usd/--cloud-usd-per-hour");
        if (a->has_cache_opt)
            return mc_cli_usage_error(PREDICT_CMD, "--fit does not take the expert-cache "
                                                   "options or --routing");
        if (a->hardware && a->has_prec)
            return mc_cli_usage_error(PREDICT_CMD, "--fit --hardware lists every precision; "
                                                   "drop --precision");
        return 0;
    }
    if (!a->model || !a->hardware)
        return mc_cli_usage_error(PREDICT_CMD, "--model and --hardware are required");
    if (a->n_sweep && a->has_batch && !calib)
        return mc_cli_usage_error(PREDICT_CMD, "give --batch or --sweep, not both");
    if (a->find_max && (a->n_sweep || a->has_batch || calib || !(a->tpot_slo_s > 0)))
        return mc_cli_usage_error(PREDICT_CMD,
                                  "--find max-batch needs --tpot-slo and searches "
                                  "the batch itself (drop --batch, --sweep, --measured-*)");
    if (a->expert_cache_mb > 0 && a->find_max)
        return mc_cli_usage_error(PREDICT_CMD, "--find max-batch does not take "
                                               "--expert-cache-mb (not modelled yet)");
    if (!(a->expert_cache_mb > 0) && (a->policy != MC_CACHE_LRU || a->prefetch_overlap > 0))
        return mc_cli_usage_error(PREDICT_CMD, "--cache-policy and --prefetch-overlap need "
                                               "--expert-cache-mb");
    if (calib && a->has_eff)
        return mc_cli_usage_error(PREDICT_CMD, "--measured-* derive --eff-mem/--eff-compute; "
                                               "give one or the other");
    return 0;
}

static int parse_args(int argc, char **argv, predict_args *a)
{
    static const struct option opts[] = {{"model", required_argument, NULL, O_MODEL},
                                         {"hardware", required_argument, NULL, O_HW},
                                         {"precision", required_argument, NULL, O_PREC},
                                         {"kv-precision", required_argument, NULL, O_KV},
                                         {"batch", required_argument, NULL, O_BATCH},
                                         {"input-len", required_argument, NULL, O_IN},
                                         {"output-len", required_argument, NULL, O_OUT},
                                         {"eff-mem", required_argument, NULL, O_EFFM},
                                         {"eff-compute", required_argument, NULL, O_EFFC},
                                         {"sweep", required_argument, NULL, O_SWEEP},
                                         {"tpot-slo", required_argument, NULL, O_SLO},
                                         {"find", required_argument, NULL, O_FIND},
                                         {"fit", no_argument, NULL, O_FIT},
                                         {"price-usd", required_argument, NULL, O_PRICE},
                                         {"cloud-usd-per-hour", required_argument, NULL, O_CLOUD},
                                         {"measured-tpot", required_argument, NULL, O_MTPOT},
                                         {"measured-ttft", required_argument, NULL, O_MTTFT},
                                         {"json", no_argument, NULL, O_JSON},
                                         {"expert-cache-mb", required_argument, NULL, O_CACHE},
                                         {"slow-bw", required_argument, NULL, O_SLOW},
                                         {"routing", required_argument, NULL, O_ROUTING},
                                         {"cache-policy", required_argument, NULL, O_POLICY},
                                         {"prefetch-overlap", required_argument, NULL, O_OVERLAP},
                                         {NULL, 0, NULL, 0}};
    memset(a, 0, sizeof *a);
    a->batch = 1;
    a->input_len = 1024;
    a->output_len = 256;
    a->eff_mem = a->eff_compute = 1;
    optind = 0; /* glibc: full re-initialisation */
    opterr = 0;
    int c, rc;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (c == ':')
            return mc_cli_usage_error(PREDICT_CMD, "%s needs a value", argv[optind - 1]);
        if (c == '?')
            return mc_cli_usage_error(PREDICT_CMD, "unknown option '%s'", argv[optind - 1]);
        if (c == O_FIT || c == O_JSON) {
            *(c == O_FIT ? &a->fit : &a->json) = 1;
            continue;
        }
        if ((rc = parse_one(c, optarg, a)) != 0)
            return rc;
    }
    if (optind < argc)
        return mc_cli_usage_error(PREDICT_CMD, "unexpected argument '%s'", argv[optind]);
    return check_combination(a);
}

/* ---- helpers shared with cmd_predict_fit.c ---- */

mc_err predict_load_model(const char *what, const predict_args *a, int set_prec, mc_dtype prec,
                          mc_model **out, mc_diag *d)
{
    mc_err e = mc_model_load(what, out, d);
    if (e)
        return e;
    if (a->has_kv)
        (*out)->st.kv = a->kv;
    e = set_prec ? mc_model_set_weight_dtype(*out, prec, d) : mc_model_finalize(*out, d);
    if (e) {
        mc_model_free(*out);
        *out = NULL;
    }
    return e;
}

void predict_make_opts(const predict_args *a, const mc_hw_deploy *dep, mc_predict_opts *o)
{
    mc_predict_opts_default(o, dep);
    o->batch = a->batch;
    o->input_len = a->input_len;
    o->output_len = a->output_len;
    o->eff_mem = a->eff_mem;
    o->eff_compute = a->eff_compute;
    if (a->has_price)
        o->cost.device_price_usd = a->price_usd;
    o->cost.cloud_usd_per_device_hour = a->cloud_usd_per_h;
    o->expert_cache_bytes = a->expert_cache_mb * 1048576.0;
    o->slow_Bps = a->slow_Bps > 0 ? a->slow_Bps : dep->hw.slow_tier_Bps;
    o->cache_policy = a->policy;
    o->prefetch_overlap = a->prefetch_overlap;
}

void predict_fig(cJSON *o, const char *key, double v, const char *unit, const char *def)
{
    cJSON *f = cJSON_AddObjectToObject(o, key);
    if (isfinite(v))
        cJSON_AddNumberToObject(f, "value", v);
    else
        cJSON_AddNullToObject(f, "value");
    cJSON_AddStringToObject(f, "unit", unit);
    cJSON_AddStringToObject(f, "definition", def);
}

int predict_print_json(cJSON *root)
{
    char *s = root ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!s)
        return mc_cli_fail(PREDICT_CMD, MC_ERR_NOMEM, NULL);
    printf("%s\n", s);
    cJSON_free(s);
    return 0;
}

void predict_cell(char *buf, size_t n, double v, int decimals)
{
    if (isfinite(v))
        snprintf(buf, n, "%.*f", decimals, v);
    else
        snprintf(buf, n, "-");
}

void predict_storage_label(const mc_model *m, char *buf, size_t n)
{
    const mc_storage *s = &m->st;
    mc_dtype main = m->n_moe_layers ? s->expert : s->dense;
    const struct {
        const char *name;
        mc_dtype t;
        int used;
    } g[] = {{"attention", s->attn, 1},
             {"shared", s->shared, m->max_shared > 0},
             {"dense", s->dense, m->n_dense_layers > 0 && m->n_moe_layers > 0},
             {"embeddings", s->embed, 1},
             {"lm_head", s->head, !m->tied_embeddings}};
    size_t used = (size_t)snprintf(buf, n, "%s", mc_dtype_name(main));
    int extra = 0;
    for (size_t i = 0; i < sizeof g / sizeof g[0] && used < n; i++) {
        if (!g[i].used || g[i].t == main)
            continue;
        used += (size_t)snprintf(buf + used, n - used, "%s%s %s", extra++ ? ", " : " (", g[i].name,
                                 mc_dtype_name(g[i].t));
    }
    if (extra && used < n)
        snprintf(buf + used, n - used, ")");
}

/* ---- the run: rows for the batch sizes, or the max-batch search ---- */

typedef struct predict_run {
    predict_args a;
    mc_model *m;
    mc_hw_deploy dep;
    mc_predict_opts o;
    int calibrated;
    mc_predict_eff eff;
    mc_predict *rows;
    int n_rows;
    int64_t fit_batch, max_batch; /* --find max-batch */
    double *route;                /* --routing: frequencies (heap), route_rows x route_cols */
    size_t route_rows, route_cols;
} predict_run;

static mc_err calibrate(predict_run *r, mc_diag *d)
{
    mc_predict p;
    mc_err e = mc_predict_run(r->m, &r->dep, &r->o, &p, d);
    if (!e)
        e = mc_predict_calibrate(&p, r->a.measured_tpot_s, r->a.measured_ttft_s, &r->eff, d);
    if (e)
        return e;
    /* faster than the roofline at full peak: the inputs do not describe the measured run */
    if (r->eff.eff_mem > 1 || r->eff.eff_compute > 1)
        return mc_fail(d, MC_ERR_RANGE,
                       "calibrate: the measured run is faster than the "
                       "roofline at peak (eff-mem %.3g, eff-compute %.3g > 1); check --batch, "
                       "--hardware, --input-len and --output-len",
                       r->eff.eff_mem, r->eff.eff_compute);
    r->o.eff_mem = r->eff.eff_mem;
    r->o.eff_compute = r->eff.eff_compute;
    r->calibrated = 1;
    return MC_OK;
}

static mc_err compute_rows(predict_run *r, mc_diag *d)
{
    const int64_t *list = r->a.n_sweep ? r->a.sweep : &r->a.batch;
    int n = r->a.n_sweep ? r->a.n_sweep : 1;
    r->fit_batch = mc_predict_fit_batch(r->m, &r->dep, r->o.input_len, r->o.output_len);
    if (r->a.find_max) {
        r->rows = mc_calloc(1, sizeof *r->rows);
        if (!r->rows)
            return mc_fail(d, MC_ERR_NOMEM, "out of memory");
        mc_err e =
            mc_predict_max_batch(r->m, &r->dep, &r->o, r->a.tpot_slo_s, &r->max_batch, r->rows, d);
        if (!e && r->max_batch == 0) /* show why: the prediction at batch 1 */
            e = mc_predict_run(r->m, &r->dep, &r->o, r->rows, d);
        r->n_rows = 1;
        return e;
    }
    r->rows = mc_calloc((size_t)n, sizeof *r->rows);
    if (!r->rows)
        return mc_fail(d, MC_ERR_NOMEM, "out of memory");
    for (r->n_rows = 0; r->n_rows < n; r->n_rows++) {
        r->o.batch = list[r->n_rows];
        mc_err e = mc_predict_run(r->m, &r->dep, &r->o, &r->rows[r->n_rows], d);
        if (e)
            return e;
    }
    return MC_OK;
}

/* --routing: routing frequencies from a records file (experts.route_freq). */
static mc_err load_routing(predict_run *r, mc_diag *d)
{
    mc_pass_set set;
    char *buf = NULL;
    size_t len = 0;
    mc_pass_set_init(&set);
    mc_err e = mc_read_file(r->a.routing, (size_t)1 << 30, &buf, &len, d);
    if (!e)
        e = mc_pass_parse_jsonl(buf, len, 1, 0, &set, d);
    if (!e)
        e = mc_cap_route_freq(r->m, set.v, set.n, &r->route, &r->route_rows, &r->route_cols, d);
    if (e)
        mc_diag_prefix(d, "--routing %s", r->a.routing);
    mc_free(buf);
    mc_pass_set_deinit(&set);
    return e;
}

/* The routing table and the slow tier a given cache needs. */
static mc_err cache_setup(predict_run *r, mc_diag *d)
{
    if (r->a.routing) {
        mc_err e = load_routing(r, d);
        if (e)
            return e;
        r->o.route_freq = r->route;
        r->o.route_rows = r->route_rows;
        r->o.route_cols = r->route_cols;
    }
    if (r->a.expert_cache_mb > 0 && !(r->o.slow_Bps > 0) && !(r->dep.hw.host_link_Bps > 0))
        return mc_fail(d, MC_ERR_ARG, "--expert-cache-mb: no slow-tier bandwidth for %s: give "
                       "--slow-bw GB/s or run 'moecap probe --slow-tier DIR'", r->dep.hw.name);
    return MC_OK;
}

static mc_err compute(predict_run *r, mc_diag *d)
{
    mc_err e = predict_load_model(r->a.model, &r->a, r->a.has_prec, r->a.prec, &r->m, d);
    if (!e)
        e = mc_hw_parse_deploy(r->a.hardware, &r->dep, d);
    if (e)
        return e;
    predict_make_opts(&r->a, &r->dep, &r->o);
    if ((e = cache_setup(r, d)) != MC_OK)
        return e;
    if (r->a.measured_tpot_s > 0 || r->a.measured_ttft_s > 0)
        if ((e = calibrate(r, d)) != MC_OK)
            return e;
    return compute_rows(r, d);
}

/* ---- text output ---- */

static const char *calib_name(mc_calib_from f)
{
    return f == MC_CALIB_TPOT   ? "from the measured TPOT"
           : f == MC_CALIB_TTFT ? "from the measured TTFT"
                                : "not calibrated";
}

static void print_header(const predict_run *r)
{
    const mc_model *m = r->m;
    const mc_hw *h = &r->dep.hw;
    const mc_predict *p = &r->rows[0];
    char st[160];
    predict_storage_label(m, st, sizeof st);
    printf("model      %s: %.2f B params (%.2f B active), weights %s, %.2f GB; KV %s, %.1f kB "
           "per token\n",
           m->name, (double)m->total_params / 1e9, (double)m->active_params / 1e9, st,
           m->total_bytes / 1e9, mc_dtype_name(m->st.kv), m->kv_bytes_per_token / 1e3);
    printf("hardware   %d x %s: %.0f GB, %.2f TB/s, ", r->dep.count, h->name,
           r->dep.count * h->mem_bytes / 1e9, p->peak.bw_Bps / 1e12);
    if (p->peak.flops > 0)
        printf("%.1f TFLOP/s dense %s%s", p->peak.flops / 1e12, mc_prec_name(p->peak.prec),
               p->peak_fallback ? " (no peak at the weights' precision: dequantised)" : "");
    else
        printf("no FLOP/s figure (memory-only roofline)");
    printf(", host link %.0f GB/s\n", r->dep.count * h->host_link_Bps / 1e9);
    printf("workload   %lld prompt + %lld output tokens per sequence; decode step at the mean "
           "context I + O/2 = %.1f\n",
           (long long)r->o.input_len, (long long)r->o.output_len, p->decode_ctx_tok);
    printf("roofline   eff-mem %.4g, eff-compute %.4g", r->o.eff_mem, r->o.eff_compute);
    if (r->calibrated)
        printf(" (memory %s, compute %s at batch %lld)", calib_name(r->eff.mem_from),
               calib_name(r->eff.compute_from), (long long)r->a.batch);
    printf("; experts: %s\n", r->route ? "measured routing frequencies (--routing)"
                                          : "uniform routing expectation");
    if (r->o.cost.device_price_usd > 0 || r->o.cost.cloud_usd_per_device_hour > 0)
        printf("cost       $%.4g/h (%s)\n", p->hour.usd_per_h,
               r->a.cloud_usd_per_h > 0 ? "cloud price per device-hour x devices"
                                        : "purchase over 3 years + energy at PUE 1.5, "
                                          "host included");
    else
        printf("cost       unknown: no device price in the catalogue (give --price-usd or "
               "--cloud-usd-per-hour)\n");
    putchar('\n');
}

static void print_table_head(int slo)
{
    printf("%7s %4s %8s %8s %8s %9s %5s %10s %9s %9s %6s %6s %9s %7s%s\n", "batch", "fits",
           "offload", "experts", "bytes", "TPOT", "bound", "TTFT", "decode", "output", "S-MBU",
           "S-MFU", "$/1M", "J/tok", slo ? "  SLO" : "");
    printf("%7s %4s %8s %8s %8s %9s %5s %10s %9s %9s %6s %6s %9s %7s%s\n", "", "", "GB", "/layer",
           "GB/step", "ms", "", "ms", "tok/s", "tok/s", "%", "%", "out tok", "out",
           slo ? "  TPOT" : "");
}

static void print_row(const mc_predict *p, double slo)
{
    char c[12][24];
    predict_cell(c[0], 24, p->offload_bytes / 1e9, 2);
    predict_cell(c[1], 24, p->decode.bytes.distinct_mean, 2);
    predict_cell(c[2], 24, p->decode.bytes.total / 1e9, 3);
    predict_cell(c[3], 24, 1e3 * p->tpot_s, 3);
    predict_cell(c[4], 24, 1e3 * p->ttft_s, 2);
    predict_cell(c[5], 24, p->decode_tok_per_s, 1);
    predict_cell(c[6], 24, p->out_tok_per_s, 1);
    predict_cell(c[7], 24, 100 * p->decode.smbu, 1);
    predict_cell(c[8], 24, 100 * p->decode.smfu, 2);
    predict_cell(c[9], 24, p->usd_per_mtok, 3);
    predict_cell(c[10], 24, p->j_per_tok, 3);
    const char *bound = p->decode.offload_s > 0                 ? "host"
                        : p->decode.bound == MC_PREDICT_COMPUTE ? "comp"
                                                                : "mem";
    printf("%7lld %4s %8s %8s %8s %9s %5s %10s %9s %9s %6s %6s %9s %7s", (long long)p->batch,
           p->fits ? "yes" : "no", c[0], c[1], c[2], c[3], bound, c[4], c[5], c[6], c[7], c[8],
           c[9], c[10]);
    if (slo > 0)
        printf("  %s", p->fits && p->tpot_s <= slo ? "meets" : "misses");
    putchar('\n');
}

static void print_find(const predict_run *r)
{
    double slo = r->a.tpot_slo_s;
    printf("max batch  TPOT <= %.4g ms: ", 1e3 * slo);
    if (r->max_batch > 0)
        printf("batch %lld (memory holds up to %lld)\n\n", (long long)r->max_batch,
               (long long)r->fit_batch);
    else if (r->fit_batch == 0)
        printf("none: weights + KV of one sequence do not fit in %.0f GB\n\n",
               r->dep.count * r->dep.hw.mem_bytes / 1e9);
    else
        printf("none: batch 1 already needs more\n\n");
}

/* ---- expert cache (predict.cache_hit_rate, predict.tpot_offload) ---- */

static const char *slow_source(const predict_run *r)
{
    return r->a.slow_Bps > 0            ? "--slow-bw"
           : r->dep.hw.slow_tier_Bps > 0 ? "the probed slow tier"
                                         : "the host link";
}

static void print_cache(const predict_run *r)
{
    const mc_predict *p0 = &r->rows[0];
    printf("\nexpert cache (predict.tpot_offload): policy %s, slow tier %.3f GB/s (%s), prefetch "
           "overlap %.2f; routed experts %.3f GB\n", mc_cache_policy_name(r->o.cache_policy),
           p0->slow_Bps / 1e9, slow_source(r), r->o.prefetch_overlap,
           mc_cache_expert_bytes(r->m) / 1e9);
    printf("%7s %7s %9s %8s %9s %9s %9s %9s %9s\n", "batch", "mode", "cache", "cached",
           "hit", "miss", "fast", "slow", "prefill");
    printf("%7s %7s %9s %8s %9s %9s %9s %9s %9s\n", "", "", "MiB", "%", "%", "MB/step", "ms",
           "ms", "hit %");
    for (int i = 0; i < r->n_rows; i++) {
        const mc_predict *p = &r->rows[i];
        if (p->cache_mode == MC_PREDICT_CACHE_NONE) {
            printf("%7lld %7s\n", (long long)p->batch, "none");
            continue;
        }
        const mc_cache_expect *c = &p->decode.cache;
        printf("%7lld %7s %9.1f %8.2f %9.2f %9.3f %9.3f %9.3f %9.2f\n", (long long)p->batch,
               mc_predict_cache_mode_name(p->cache_mode), p->cache_bytes / 1048576.0,
               100 * c->cached_fraction, 100 * c->hit_rate, c->slow_bytes / 1e6,
               1e3 * fmax(p->decode.mem_s, p->decode.compute_s), 1e3 * p->decode.offload_s,
               100 * p->prefill.cache.hit_rate);
    }
    printf("(mode given: --expert-cache-mb; memory: the device holds only part of the experts. "
           "TPOT = fast + slow;\n slow = (1 - overlap) x miss bytes / slow tier. Definitions: "
           "docs/METRICS.md predict.tpot_offload)\n");
}

static int any_cache(const predict_run *r)
{
    for (int i = 0; i < r->n_rows; i++)
        if (r->rows[i].cache_mode != MC_PREDICT_CACHE_NONE)
            return 1;
    return 0;
}

static void print_text(const predict_run *r)
{
    print_header(r);
    if (r->a.find_max)
        print_find(r);
    print_table_head(r->a.tpot_slo_s > 0);
    for (int i = 0; i < r->n_rows; i++)
        print_row(&r->rows[i], r->a.tpot_slo_s);
    printf("\nbytes: of the mean decode step. bound: the roofline term that wins (mem, comp), "
           "or host when\nweights + KV exceed device memory and the non-resident share crosses "
           "the host link.\noutput tok/s = B x O / (TTFT + (O - 1) x TPOT); $/1M and J per output "
           "token at that rate.\nDefinitions: %s.\n",
           PREDICT_DEFS);
    if (any_cache(r))
        print_cache(r);
}

/* ---- JSON output ---- */

static void json_pass(cJSON *f, const char *pre, const mc_predict_pass *q, const char *def)
{
    char k[64];
#define FIG(name, v, unit)                                                                         \
    do {                                                                                           \
        snprintf(k, sizeof k, "%s_%s", pre, name);                                                 \
        predict_fig(f, k, v, unit, def);                                                           \
    } while (0)
    FIG("experts_per_layer", q->bytes.distinct_mean, "experts");
    FIG("bytes", q->bytes.total, "B");
    FIG("weight_bytes", q->bytes.layers + q->bytes.head + q->bytes.embed, "B");
    FIG("kv_bytes", q->bytes.kv_read + q->bytes.kv_write, "B");
    FIG("flops", q->flops.total, "FLOP");
    FIG("mem_s", q->mem_s, "s");
    FIG("compute_s", q->compute_s, "s");
    FIG("offload_s", q->offload_s, "s");
    FIG("smbu", q->smbu, "fraction");
    FIG("smfu", q->smfu, "fraction");
#undef FIG
}

static void json_cache_point(cJSON *o, cJSON *f, const mc_predict *p)
{
    cJSON_AddStringToObject(o, "cache_mode", mc_predict_cache_mode_name(p->cache_mode));
    if (p->cache_mode == MC_PREDICT_CACHE_NONE)
        return;
    const char *def = "predict.cache_hit_rate";
    predict_fig(f, "cache_bytes", p->cache_bytes, "B", def);
    predict_fig(f, "cache_cached_fraction", p->decode.cache.cached_fraction, "fraction", def);
    predict_fig(f, "slow_Bps", p->slow_Bps, "B/s", "predict.tpot_offload");
    predict_fig(f, "decode_cache_hit_rate", p->decode.cache.hit_rate, "fraction", def);
    predict_fig(f, "decode_cache_misses", p->decode.cache.misses, "experts", def);
    predict_fig(f, "decode_slow_bytes", p->decode.cache.slow_bytes, "B", "predict.tpot_offload");
    predict_fig(f, "prefill_cache_hit_rate", p->prefill.cache.hit_rate, "fraction", def);
    predict_fig(f, "prefill_slow_bytes", p->prefill.cache.slow_bytes, "B",
                "predict.tpot_offload");
    if (p->cache_mode == MC_PREDICT_CACHE_MEMORY)
        predict_fig(f, "nonresident_other", p->nonresident, "fraction", "predict.offload");
    cJSON *l = cJSON_AddArrayToObject(o, "decode_layer_hit_rate");
    for (int64_t i = 0; i < p->decode.cache.n_layers; i++)
        cJSON_AddItemToArray(l, cJSON_CreateNumber(p->decode.cache.layer_hit_rate[i]));
}

cJSON *predict_json_point(const mc_predict *p, double slo)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "batch", (double)p->batch);
    cJSON_AddBoolToObject(o, "fits", p->fits);
    cJSON_AddStringToObject(o, "decode_bound", p->decode.bound ? "compute" : "memory");
    cJSON_AddStringToObject(o, "prefill_bound", p->prefill.bound ? "compute" : "memory");
    if (slo > 0)
        cJSON_AddBoolToObject(o, "meets_tpot_slo", p->fits && p->tpot_s <= slo);
    cJSON *f = cJSON_AddObjectToObject(o, "figures");
    predict_fig(f, "weight_bytes", p->weight_bytes, "B", "predict.memory");
    predict_fig(f, "kv_bytes", p->kv_bytes, "B", "predict.memory");
    predict_fig(f, "need_bytes", p->need_bytes, "B", "predict.memory");
    predict_fig(f, "mem_bytes", p->mem_bytes, "B", "predict.memory");
    predict_fig(f, "offload_bytes", p->offload_bytes, "B", "predict.offload");
    predict_fig(f, "nonresident", p->nonresident, "fraction", "predict.offload");
    predict_fig(f, "decode_context_tok", p->decode_ctx_tok, "tok", "predict.decode_step");
    json_pass(f, "decode", &p->decode, "predict.decode_step");
    json_pass(f, "prefill", &p->prefill, "predict.prefill");
    predict_fig(f, "tpot_s", p->tpot_s, "s", "predict.tpot");
    predict_fig(f, "ttft_s", p->ttft_s, "s", "predict.ttft");
    predict_fig(f, "decode_tok_per_s", p->decode_tok_per_s, "tok/s", "predict.throughput");
    predict_fig(f, "request_s", p->request_s, "s", "predict.throughput");
    predict_fig(f, "out_tok_per_s", p->out_tok_per_s, "tok/s", "predict.throughput");
    json_cache_point(o, f, p);
    predict_fig(f, "usd_per_h", p->hour.usd_per_h, "USD/h", "cost.hourly");
    predict_fig(f, "usd_per_mtok_out", p->usd_per_mtok, "USD/1M tok", "predict.cost");
    predict_fig(f, "j_per_tok_out", p->j_per_tok, "J/tok", "predict.cost");
    return o;
}

cJSON *predict_json_head(const predict_args *a, const mc_model *m, const mc_hw_deploy *dep,
                         const mc_predict *p)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "command", PREDICT_CMD);
    cJSON_AddStringToObject(root, "definitions", PREDICT_DEFS);
    if (m) {
        char st[160];
        predict_storage_label(m, st, sizeof st);
        cJSON *mo = cJSON_AddObjectToObject(root, "model");
        cJSON_AddStringToObject(mo, "name", m->name);
        cJSON_AddStringToObject(mo, "arch", m->arch);
        cJSON_AddStringToObject(mo, "weights", st);
        cJSON_AddStringToObject(mo, "kv_dtype", mc_dtype_name(m->st.kv));
        predict_fig(mo, "weight_bytes", m->total_bytes, "B", "params.counts");
        predict_fig(mo, "kv_bytes_per_token", m->kv_bytes_per_token, "B/tok", "bytes.pass");
    }
    if (dep) {
        cJSON *h = cJSON_AddObjectToObject(root, "hardware");
        cJSON_AddStringToObject(h, "name", dep->hw.name);
        cJSON_AddNumberToObject(h, "devices", dep->count);
        predict_fig(h, "mem_bytes", dep->count * dep->hw.mem_bytes, "B", "predict.memory");
        predict_fig(h, "bw_Bps", dep->count * dep->hw.mem_bw_Bps, "B/s", "smbu.pass");
        predict_fig(h, "host_link_Bps", dep->count * dep->hw.host_link_Bps, "B/s",
                    "predict.offload");
        if (p) {
            predict_fig(h, "peak_flops", p->peak.flops > 0 ? p->peak.flops : NAN, "FLOP/s",
                        "smfu.pass");
            cJSON_AddStringToObject(h, "precision", mc_prec_name(p->peak.prec));
            cJSON_AddBoolToObject(h, "peak_fallback", p->peak_fallback);
        }
    }
    cJSON *w = cJSON_AddObjectToObject(root, "workload");
    cJSON_AddNumberToObject(w, "input_len", (double)a->input_len);
    cJSON_AddNumberToObject(w, "output_len", (double)a->output_len);
    if (a->tpot_slo_s > 0)
        predict_fig(w, "tpot_slo_s", a->tpot_slo_s, "s", "predict.max_batch");
    return root;
}

static void json_cache_assumptions(cJSON *as, const predict_run *r)
{
    cJSON *c = cJSON_AddObjectToObject(as, "expert_cache");
    cJSON_AddNumberToObject(c, "given_bytes", r->o.expert_cache_bytes);
    cJSON_AddStringToObject(c, "policy", mc_cache_policy_name(r->o.cache_policy));
    cJSON_AddNumberToObject(c, "prefetch_overlap", r->o.prefetch_overlap);
    cJSON_AddStringToObject(c, "slow_tier", slow_source(r));
    cJSON_AddStringToObject(c, "model",
                            "routed experts in a cache of the given size, or of what memory "
                            "leaves when weights + KV do not fit; expected misses read from the "
                            "slow tier after the roofline time (predict.tpot_offload)");
}

static int print_json(const predict_run *r)
{
    cJSON *root = predict_json_head(&r->a, r->m, &r->dep, &r->rows[0]);
    cJSON *as = cJSON_AddObjectToObject(root, "assumptions");
    cJSON_AddNumberToObject(as, "eff_mem", r->o.eff_mem);
    cJSON_AddNumberToObject(as, "eff_compute", r->o.eff_compute);
    cJSON_AddStringToObject(as, "experts",
                            r->route ? "measured routing frequencies (experts.route_freq, "
                                       "experts.expected_freq)"
                                     : "uniform routing expectation (experts.expected_uniform)");
    json_cache_assumptions(as, r);
    cJSON_AddStringToObject(as, "decode_context", "I + O/2 (mean over the O - 1 decode steps)");
    cJSON_AddStringToObject(as, "offload",
                            "MoE: routed experts cached in what memory leaves, expected "
                            "misses cross the slow tier (predict.tpot_offload); dense: the "
                            "non-resident share of the bytes a pass touches crosses devices x "
                            "host link; after the roofline time");
    if (r->calibrated) {
        cJSON *c = cJSON_AddObjectToObject(root, "calibration");
        cJSON_AddNumberToObject(c, "batch", (double)r->a.batch);
        predict_fig(c, "measured_tpot_s", r->a.measured_tpot_s, "s", "predict.calibrate");
        predict_fig(c, "measured_ttft_s", r->a.measured_ttft_s, "s", "predict.calibrate");
        cJSON_AddStringToObject(c, "eff_mem_from", calib_name(r->eff.mem_from));
        cJSON_AddStringToObject(c, "eff_compute_from", calib_name(r->eff.compute_from));
    }
    if (r->a.find_max) {
        cJSON *fm = cJSON_AddObjectToObject(root, "max_batch");
        cJSON_AddNumberToObject(fm, "batch", (double)r->max_batch);
        cJSON_AddNumberToObject(fm, "memory_fit_batch", (double)r->fit_batch);
        cJSON_AddStringToObject(fm, "definition", "predict.max_batch");
    }
    cJSON *pts = cJSON_AddArrayToObject(root, "points");
    for (int i = 0; i < r->n_rows; i++)
        cJSON_AddItemToArray(pts, predict_json_point(&r->rows[i], r->a.tpot_slo_s));
    return predict_print_json(root);
}

int cmd_predict(int argc, char **argv)
{
    predict_run r;
    memset(&r, 0, sizeof r);
    int rc = parse_args(argc, argv, &r.a);
    if (rc)
        return rc;
    if (r.a.fit)
        return r.a.model ? predict_fit_devices(&r.a) : predict_fit_models(&r.a);
    mc_diag d = {{0}};
    mc_err e = compute(&r, &d);
    if (e)
        rc = mc_cli_fail(PREDICT_CMD, e, &d);
    else if (r.a.json)
        rc = print_json(&r);
    else
        print_text(&r);
    mc_free(r.rows);
    mc_free(r.route);
    mc_model_free(r.m);
    return rc;
}
