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
        rc = predict_print_run(&r);
    else
        predict_print_text(&r);
    mc_free(r.rows);
    mc_free(r.route);
    mc_model_free(r.m);
    return rc;
}
