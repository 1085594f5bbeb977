/* cmd_predict_out.c: `moecap predict`'s output for the batch rows and the max-batch search that
 * cmd_predict.c computed (predict_run): the text table with its header, the expert cache's
 * lines, and the --json document. Only formats: every figure comes from src/cap. */
#include "cmd_predict.h"
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

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

void predict_print_text(const predict_run *r)
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

int predict_print_run(const predict_run *r)
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
    return mc_cli_print_json(PREDICT_CMD, root);
}
