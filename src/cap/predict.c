/* predict.c: the analytic CAP model (predict.*). For a model, a deployment and a static batch
 * (B sequences of I prompt and O output tokens): the memory it needs and what must be offloaded,
 * the expected activated experts, bytes and FLOPs of the mean decode step and of the prefill,
 * roofline TPOT / TTFT (with routed experts in a bounded cache over a slow tier when one is given
 * or the device holds only part of them: predict_cache.c), throughput, S-MBU / S-MFU and cost at
 * that point; the largest batch under
 * a TPOT SLO; the bandwidth an SLO requires; efficiency factors calibrated from a measured run.
 *
 * The passes are synthetic mc_pass records priced by mc_cap_pass_bytes / mc_cap_pass_flops
 * (usage.c), so a prediction and a measurement share one definition; costs come from cost.c.
 * Definitions: docs/METRICS.md section 11. Pure arithmetic: no I/O, no clock, no globals; it
 * allocates only the per-layer activation scratch of its synthetic passes. */
#include "cap.h"

#include <math.h>
#include <string.h>

const char *mc_predict_act_name(mc_predict_act a)
{
    static const char *names[] = {"expected", "minimal", "full"};
    return (unsigned)a < sizeof names / sizeof names[0] ? names[a] : "?";
}

void mc_predict_opts_default(mc_predict_opts *o, const mc_hw_deploy *dep)
{
    memset(o, 0, sizeof *o);
    o->batch = 1;
    o->input_len = 1024;
    o->output_len = 256;
    o->eff_mem = 1;
    o->eff_compute = 1;
    o->act = MC_PREDICT_ACT_EXPECTED;
    mc_cost_opts_default(&o->cost);
    if (dep) {
        o->cost.devices = dep->count;
        o->cost.device_price_usd = dep->hw.price_usd;
        o->cost.device_power_w = dep->hw.tdp_w;
    }
}

/* ---- option checks ---- */

static mc_err check_len(const char *what, int64_t v, mc_diag *d)
{
    if (v < 1 || v > MC_PREDICT_MAX)
        return mc_fail(d, MC_ERR_RANGE, "predict: %s %lld must be in 1..%d", what, (long long)v,
                       MC_PREDICT_MAX);
    return MC_OK;
}

/* Routing frequencies: one row for all MoE layers or one per MoE layer; columns = the experts
 * of every MoE layer; each row sums to the layer's top_k (they are fractions of tokens). */
static mc_err check_route(const mc_model *m, const mc_predict_opts *o, mc_diag *d)
{
    if (!o->route_freq)
        return MC_OK;
    if (o->route_rows != 1 && o->route_rows != (size_t)m->n_moe_layers)
        return mc_fail(d, MC_ERR_ARG,
                       "predict: %zu rows of routing frequencies; give 1 or one "
                       "per MoE layer (%lld)",
                       o->route_rows, (long long)m->n_moe_layers);
    for (int64_t l = 0, k = 0; l < m->n_layers; l++) {
        const mc_layer *L = &m->layers[l];
        if (L->ffn != MC_FFN_MOE)
            continue;
        if ((int64_t)o->route_cols != L->n_experts)
            return mc_fail(d, MC_ERR_ARG,
                           "predict: routing frequencies have %zu experts; "
                           "layer %lld has %lld",
                           o->route_cols, (long long)l, (long long)L->n_experts);
        const double *row = o->route_freq + (o->route_rows == 1 ? 0 : k) * o->route_cols;
        double s = 0;
        for (size_t i = 0; i < o->route_cols; i++)
            s += row[i];
        if (!(fabs(s - (double)L->top_k) <= 1e-3 * (double)L->top_k))
            return mc_fail(d, MC_ERR_ARG,
                           "predict: routing frequencies of layer %lld sum to "
                           "%g; they must sum to its top_k %lld",
                           (long long)l, s, (long long)L->top_k);
        k++;
    }
    return MC_OK;
}

static mc_err check_opts(const mc_model *m, const mc_hw_deploy *dep, const mc_predict_opts *o,
                         mc_diag *d)
{
    mc_err e;
    if ((e = check_len("batch", o->batch, d)) || (e = check_len("input length", o->input_len, d)) ||
        (e = check_len("output length", o->output_len, d)))
        return e;
    if (!(o->eff_mem > 0) || !isfinite(o->eff_mem) || !(o->eff_compute > 0) ||
        !isfinite(o->eff_compute))
        return mc_fail(d, MC_ERR_RANGE,
                       "predict: efficiency factors must be finite and > 0 "
                       "(memory %g, compute %g)",
                       o->eff_mem, o->eff_compute);
    if ((unsigned)o->act > MC_PREDICT_ACT_FULL)
        return mc_fail(d, MC_ERR_ARG, "predict: unknown activation mode %d", (int)o->act);
    if (!(dep->hw.mem_bytes > 0))
        return mc_fail(d, MC_ERR_UNSUPPORTED, "hardware '%s': no memory size", dep->hw.name);
    if (!(o->expert_cache_bytes >= 0) || !isfinite(o->expert_cache_bytes) || !(o->slow_Bps >= 0) ||
        !isfinite(o->slow_Bps) || !(o->prefetch_overlap >= 0 && o->prefetch_overlap <= 1) ||
        (unsigned)o->cache_policy >= MC_CACHE_POLICY_COUNT)
        return mc_fail(d, MC_ERR_RANGE, "predict: expert cache %g B, slow tier %g B/s, prefetch "
                       "overlap %g (in [0, 1]) or policy %d out of range", o->expert_cache_bytes,
                       o->slow_Bps, o->prefetch_overlap, (int)o->cache_policy);
    if (o->expert_cache_bytes > 0 && m->n_moe_layers == 0)
        return mc_fail(d, MC_ERR_UNSUPPORTED, "predict: %s has no routed experts to cache",
                       m->name);
    return check_route(m, o, d);
}

/* ---- activation: distinct routed experts of each MoE layer for `tokens` tokens ---- */

static mc_err layer_activation(const mc_model *m, const mc_predict_opts *o, double tokens,
                               double *epl, mc_diag *d)
{
    for (int64_t l = 0, k = 0; l < m->n_layers; l++) {
        const mc_layer *L = &m->layers[l];
        if (L->ffn != MC_FFN_MOE)
            continue;
        double n = (double)L->n_experts, top = (double)L->top_k;
        if (o->act == MC_PREDICT_ACT_MIN) {
            epl[k] = top;
        } else if (o->act == MC_PREDICT_ACT_FULL) {
            epl[k] = n;
        } else if (o->route_freq) {
            const double *row = o->route_freq + (o->route_rows == 1 ? 0 : k) * o->route_cols;
            mc_err e = mc_cap_expected_distinct_freq(row, o->route_cols, tokens, &epl[k], d);
            if (e)
                return e;
        } else {
            epl[k] =
                mc_cap_expected_distinct_uniform(n, top, tokens); /* experts.expected_uniform */
        }
        k++;
    }
    return MC_OK;
}

/* ---- pricing a synthetic pass with the measurement's definitions (bytes.pass, flops.pass) ---- */

typedef struct priced {
    mc_pass_bytes bytes;
    mc_pass_flops flops;
} priced;

static mc_err price(const mc_model *m, mc_pass_mode mode, int64_t batch, int64_t new_tokens,
                    int64_t seq_lens_sum, double *epl, priced *out, mc_diag *d)
{
    mc_pass p;
    mc_pass_init(&p);
    p.mode = mode;
    p.batch_size = batch;
    p.new_tokens = new_tokens;
    p.seq_lens_sum = seq_lens_sum;
    p.latency_s = 1; /* unused by bytes and FLOPs */
    p.n_layer_experts = m->n_moe_layers;
    p.experts_per_layer = m->n_moe_layers ? epl : NULL; /* borrowed: p is never deinit'ed */
    mc_err e = mc_cap_pass_bytes(m, &p, &out->bytes, d);
    if (!e)
        mc_cap_pass_flops(m, &p, &out->flops);
    return e;
}

static double mid(double a, double b)
{
    return (a + b) / 2;
}

/* The mean of two priced passes, field by field (bytes and FLOPs of a decode pass are linear in
 * seq_lens_sum, so this is the pass at the mean length). */
static void average(priced *a, const priced *b)
{
    mc_pass_bytes *x = &a->bytes;
    const mc_pass_bytes *y = &b->bytes;
    x->layers = mid(x->layers, y->layers);
    x->head = mid(x->head, y->head);
    x->embed = mid(x->embed, y->embed);
    x->kv_read = mid(x->kv_read, y->kv_read);
    x->kv_write = mid(x->kv_write, y->kv_write);
    x->total = mid(x->total, y->total);
    mc_pass_flops *f = &a->flops;
    const mc_pass_flops *g = &b->flops;
    f->linear = mid(f->linear, g->linear);
    f->head = mid(f->head, g->head);
    f->attn = mid(f->attn, g->attn);
    f->total = mid(f->total, g->total);
    f->attn_pairs = mid(f->attn_pairs, g->attn_pairs);
}

/* The mean decode step: B sequences of mean length I + O/2 (step j of O - 1 computes token
 * I + j, j = 1 .. O - 1). When B x O is odd, the mean of the passes at the two integer sums. */
static mc_err price_decode(const mc_model *m, const mc_predict_opts *o, double *epl, priced *out,
                           mc_diag *d)
{
    int64_t b = o->batch, twice = 2 * b * o->input_len + b * o->output_len;
    mc_err e = layer_activation(m, o, (double)b, epl, d);
    if (!e)
        e = price(m, MC_PASS_DECODE, b, b, twice / 2, epl, out, d);
    if (e || twice % 2 == 0)
        return e;
    priced hi;
    e = price(m, MC_PASS_DECODE, b, b, twice / 2 + 1, epl, &hi, d);
    if (!e)
        average(out, &hi);
    return e;
}

static mc_err price_prefill(const mc_model *m, const mc_predict_opts *o, double *epl, priced *out,
                            mc_diag *d)
{
    int64_t n = o->batch * o->input_len;
    mc_err e = layer_activation(m, o, (double)n, epl, d);
    return e ? e : price(m, MC_PASS_PREFILL, o->batch, n, n, epl, out, d);
}

/* ---- memory (predict.memory, predict.offload) ---- */

double mc_predict_need_bytes(const mc_model *m, int64_t batch, int64_t input_len,
                             int64_t output_len)
{
    return m->total_bytes +
           (double)batch * (double)(input_len + output_len) * m->kv_bytes_per_token;
}

int64_t mc_predict_fit_batch(const mc_model *m, const mc_hw_deploy *dep, int64_t input_len,
                             int64_t output_len)
{
    double mem = (double)dep->count * dep->hw.mem_bytes;
    double per_seq = (double)(input_len + output_len) * m->kv_bytes_per_token;
    if (mc_predict_need_bytes(m, 1, input_len, output_len) > mem)
        return 0;
    if (!(per_seq > 0))
        return MC_PREDICT_MAX;
    double guess = floor((mem - m->total_bytes) / per_seq);
    int64_t b = guess >= MC_PREDICT_MAX ? MC_PREDICT_MAX : (int64_t)guess;
    /* the division may round either way: settle on the same test mc_predict_run applies */
    while (b < MC_PREDICT_MAX && mc_predict_need_bytes(m, b + 1, input_len, output_len) <= mem)
        b++;
    while (b > 1 && mc_predict_need_bytes(m, b, input_len, output_len) > mem)
        b--;
    return b;
}

const char *mc_predict_cache_mode_name(mc_predict_cache_mode c)
{
    static const char *names[] = {"none", "given", "memory"};
    return (unsigned)c < sizeof names / sizeof names[0] ? names[c] : "?";
}

/* Which expert cache applies (predict.offload): a given one; else, when weights + KV do not fit
 * but everything except the routed experts does and what is left holds the top_k experts of a
 * layer, the experts in that space; else none (the share-of-every-byte offload). */
static void cache_mode(const mc_model *m, const mc_predict_opts *o, mc_predict *out)
{
    double experts = mc_cache_expert_bytes(m);
    out->slow_Bps = o->slow_Bps > 0 ? o->slow_Bps : out->host_Bps;
    if (o->expert_cache_bytes > 0) {
        out->cache_mode = MC_PREDICT_CACHE_GIVEN;
        out->cache_bytes = o->expert_cache_bytes;
        out->need_bytes -= experts - fmin(experts, o->expert_cache_bytes);
        return;
    }
    double rest = out->need_bytes - experts, left = out->mem_bytes - rest;
    if (out->need_bytes <= out->mem_bytes || m->n_moe_layers == 0 ||
        m->n_moe_layers > MC_CAP_CACHE_LAYERS)
        return;
    out->cache_mode = MC_PREDICT_CACHE_MEMORY;
    /* a space that cannot hold one layer's top_k experts caches nothing: every activated
     * expert streams; what of the rest does not fit streams as its share of every byte */
    out->cache_bytes = left >= mc_cache_min_bytes(m) ? left : 0;
    out->nonresident = left < 0 ? -left / rest : 0;
}

static void memory(const mc_model *m, const mc_hw_deploy *dep, const mc_predict_opts *o,
                   mc_predict *out)
{
    out->weight_bytes = m->total_bytes;
    out->kv_bytes =
        (double)o->batch * (double)(o->input_len + o->output_len) * m->kv_bytes_per_token;
    out->need_bytes = mc_predict_need_bytes(m, o->batch, o->input_len, o->output_len);
    out->mem_bytes = (double)dep->count * dep->hw.mem_bytes;
    out->host_Bps = (double)dep->count * dep->hw.host_link_Bps;
    cache_mode(m, o, out);
    out->fits = out->need_bytes <= out->mem_bytes;
    out->offload_bytes = out->fits ? 0 : out->need_bytes - out->mem_bytes;
    /* with an expert cache only its misses cross to the slow tier (predict.tpot_offload) */
    if (out->cache_mode == MC_PREDICT_CACHE_NONE)
        out->nonresident = out->offload_bytes / out->need_bytes;
}

/* The peaks: mc_cap_peak_of (with its bf16 / fp32 fallback, flagged). */
static mc_err peaks(const mc_model *m, const mc_hw_deploy *dep, mc_predict *out, mc_diag *d)
{
    mc_err e = mc_cap_peak_of(m, dep, &out->peak, d);
    out->peak_fallback = out->peak.fallback;
    return e;
}

/* ---- roofline time of one pass (predict.tpot, predict.ttft) ---- */

/* Slow-tier time of a pass: its expected expert misses (cache modes), or its non-resident share
 * of every byte over the host link. */
static double offload_time(const mc_predict *pr, const mc_predict_opts *o, const priced *pc,
                           const mc_cache_expect *c)
{
    if (pr->cache_mode != MC_PREDICT_CACHE_NONE) {
        double bytes = c->slow_bytes + pr->nonresident * (pc->bytes.total - c->active_bytes);
        if (!(bytes > 0))
            return 0;
        double hidden = 1 - o->prefetch_overlap;
        return pr->slow_Bps > 0 ? hidden * bytes / pr->slow_Bps : INFINITY;
    }
    if (!(pr->nonresident > 0))
        return 0;
    return pr->host_Bps > 0 ? pr->nonresident * pc->bytes.total / pr->host_Bps : INFINITY;
}

static void time_pass(const mc_predict *pr, const mc_predict_opts *o, const priced *pc,
                      const mc_cache_expect *c, mc_predict_pass *out)
{
    out->bytes = pc->bytes;
    out->flops = pc->flops;
    out->cache = *c;
    out->mem_s = pc->bytes.total / (pr->peak.bw_Bps * pr->eff_mem);
    out->compute_s = pr->peak.flops > 0 ? pc->flops.total / (pr->peak.flops * pr->eff_compute) : 0;
    out->offload_s = offload_time(pr, o, pc, c);
    out->bound = out->compute_s > out->mem_s ? MC_PREDICT_COMPUTE : MC_PREDICT_MEMORY;
    out->time_s = fmax(out->mem_s, out->compute_s) + out->offload_s;
    out->smbu = pc->bytes.total / out->time_s / pr->peak.bw_Bps; /* 0 when time is infinite */
    out->smfu = pr->peak.flops > 0 ? pc->flops.total / out->time_s / pr->peak.flops : NAN;
}

/* predict.throughput and predict.cost */
static mc_err throughput_cost(const mc_predict_opts *o, const mc_hw_deploy *dep, mc_predict *p,
                              mc_diag *d)
{
    double b = (double)p->batch, out_tok = b * (double)p->output_len;
    p->decode_tok_per_s = isfinite(p->tpot_s) ? b / p->tpot_s : 0;
    p->request_s = p->ttft_s + (double)(p->output_len - 1) * p->tpot_s;
    p->out_tok_per_s = isfinite(p->request_s) ? out_tok / p->request_s : 0;
    mc_cost_opts c = o->cost;
    c.devices = dep->count;
    mc_err e = mc_cost_per_hour(&c, &p->hour, d);
    if (e)
        return e;
    int priced_known = c.device_price_usd > 0 || c.cloud_usd_per_device_hour > 0;
    p->usd_per_mtok =
        priced_known ? mc_cost_usd_per_mtok(p->hour.usd_per_h, p->out_tok_per_s) : NAN;
    p->j_per_tok =
        c.device_power_w > 0 ? mc_cost_j_per_tok(p->hour.facility_power_w, p->out_tok_per_s) : NAN;
    return MC_OK;
}

/* predict.cache_hit_rate of the decode step (B tokens) and the prefill (B x I tokens). */
static mc_err cache_expect(const mc_model *m, const mc_predict_opts *o, const mc_predict *p,
                           mc_cache_expect *dec, mc_cache_expect *pre, mc_diag *d)
{
    memset(dec, 0, sizeof *dec);
    memset(pre, 0, sizeof *pre);
    if (p->cache_mode == MC_PREDICT_CACHE_NONE)
        return MC_OK;
    mc_err e = mc_cache_expect_of(m, (double)o->batch, p->cache_bytes, o->cache_policy,
                                  o->route_freq, o->route_rows, o->route_cols, dec, d);
    if (!e)
        e = mc_cache_expect_of(m, (double)o->batch * (double)o->input_len, p->cache_bytes,
                               o->cache_policy, o->route_freq, o->route_rows, o->route_cols, pre,
                               d);
    return e;
}

mc_err mc_predict_run(const mc_model *m, const mc_hw_deploy *dep, const mc_predict_opts *o,
                      mc_predict *out, mc_diag *d)
{
    memset(out, 0, sizeof *out);
    mc_err e = check_opts(m, dep, o, d);
    if (!e)
        e = peaks(m, dep, out, d);
    if (e)
        return e;
    out->batch = o->batch;
    out->input_len = o->input_len;
    out->output_len = o->output_len;
    out->eff_mem = o->eff_mem;
    out->eff_compute = o->eff_compute;
    out->act = o->act;
    out->decode_ctx_tok = (double)o->input_len + (double)o->output_len / 2;
    memory(m, dep, o, out);
    double *epl = mc_calloc((size_t)m->n_moe_layers + 1, sizeof *epl);
    if (!epl)
        return mc_fail(d, MC_ERR_NOMEM, "predict: out of memory");
    priced dec, pre;
    mc_cache_expect cdec, cpre;
    e = price_decode(m, o, epl, &dec, d);
    if (!e)
        e = price_prefill(m, o, epl, &pre, d);
    mc_free(epl);
    if (!e)
        e = cache_expect(m, o, out, &cdec, &cpre, d);
    if (e)
        return e;
    time_pass(out, o, &dec, &cdec, &out->decode);
    time_pass(out, o, &pre, &cpre, &out->prefill);
    out->tpot_s = out->decode.time_s;
    out->ttft_s = out->prefill.time_s;
    return throughput_cost(o, dep, out, d);
}

/* ---- predict.max_batch ---- */

static mc_err meets(const mc_model *m, const mc_hw_deploy *dep, const mc_predict_opts *base,
                    int64_t b, double slo, int *ok, mc_predict *p, mc_diag *d)
{
    mc_predict_opts o = *base;
    o.batch = b;
    mc_err e = mc_predict_run(m, dep, &o, p, d);
    *ok = !e && p->fits && p->tpot_s <= slo;
    return e;
}

mc_err mc_predict_max_batch(const mc_model *m, const mc_hw_deploy *dep, const mc_predict_opts *o,
                            double tpot_slo_s, int64_t *best, mc_predict *at, mc_diag *d)
{
    *best = 0;
    if (!(tpot_slo_s > 0) || !isfinite(tpot_slo_s))
        return mc_fail(d, MC_ERR_RANGE, "predict: TPOT SLO %g s must be > 0", tpot_slo_s);
    mc_predict p;
    int ok = 0;
    int64_t lo = 1, hi = mc_predict_fit_batch(m, dep, o->input_len, o->output_len);
    mc_err e = meets(m, dep, o, 1, tpot_slo_s, &ok, &p, d); /* also validates the options */
    if (e || !ok || hi < 1)
        return e;
    if ((e = meets(m, dep, o, hi, tpot_slo_s, &ok, &p, d)) != MC_OK)
        return e;
    if (ok)
        lo = hi;
    while (hi - lo > 1) { /* invariant: lo meets the SLO, hi does not */
        int64_t midb = lo + (hi - lo) / 2;
        if ((e = meets(m, dep, o, midb, tpot_slo_s, &ok, &p, d)) != MC_OK)
            return e;
        *(ok ? &lo : &hi) = midb;
    }
    *best = lo;
    if (at)
        return meets(m, dep, o, lo, tpot_slo_s, &ok, at, d);
    return MC_OK;
}

/* ---- predict.bw_required ---- */

mc_err mc_predict_bw_required(const mc_model *m, int64_t input_len, int64_t output_len,
                              double tpot_slo_s, mc_predict_bw *out, mc_diag *d)
{
    memset(out, 0, sizeof *out);
    if (!(tpot_slo_s > 0) || !isfinite(tpot_slo_s))
        return mc_fail(d, MC_ERR_RANGE, "predict: TPOT SLO %g s must be > 0", tpot_slo_s);
    mc_predict_opts o;
    mc_predict_opts_default(&o, NULL);
    o.input_len = input_len;
    o.output_len = output_len;
    mc_err e = check_len("input length", input_len, d);
    if (!e)
        e = check_len("output length", output_len, d);
    double *epl = e ? NULL : mc_calloc((size_t)m->n_moe_layers + 1, sizeof *epl);
    if (!e && !epl)
        e = mc_fail(d, MC_ERR_NOMEM, "predict: out of memory");
    priced lo, full;
    o.act = MC_PREDICT_ACT_MIN;
    if (!e)
        e = price_decode(m, &o, epl, &lo, d);
    o.act = MC_PREDICT_ACT_FULL;
    if (!e)
        e = price_decode(m, &o, epl, &full, d);
    mc_free(epl);
    if (e)
        return e;
    out->min_bytes = lo.bytes.total;
    out->full_bytes = full.bytes.total;
    out->min_Bps = out->min_bytes / tpot_slo_s;
    out->full_Bps = out->full_bytes / tpot_slo_s;
    return MC_OK;
}

/* ---- predict.calibrate ---- */

/* The factor that makes pass q take `measured` seconds, for the resource it is bound by:
 * unscaled time / (measured - host-link time). */
static mc_err calib_one(const mc_predict *p, const mc_predict_pass *q, const char *what,
                        double measured, double *eff, mc_diag *d)
{
    double avail = measured - q->offload_s;
    if (!(avail > 0) || !isfinite(avail))
        return mc_fail(d, MC_ERR_RANGE,
                       "calibrate: measured %s %g s is not above the predicted "
                       "host-link time %g s",
                       what, measured, q->offload_s);
    if (q->bound == MC_PREDICT_MEMORY) {
        *eff = q->mem_s * p->eff_mem / avail;
        return MC_OK;
    }
    *eff = q->compute_s * p->eff_compute / avail;
    return MC_OK;
}

mc_err mc_predict_calibrate(const mc_predict *p, double tpot_s, double ttft_s, mc_predict_eff *out,
                            mc_diag *d)
{
    out->eff_mem = p->eff_mem;
    out->eff_compute = p->eff_compute;
    out->mem_from = out->compute_from = MC_CALIB_NONE;
    const struct {
        const mc_predict_pass *q;
        double t;
        mc_calib_from from;
        const char *name;
    } m[] = {{&p->decode, tpot_s, MC_CALIB_TPOT, "TPOT"},
             {&p->prefill, ttft_s, MC_CALIB_TTFT, "TTFT"}};
    for (int i = 0; i < 2; i++) {
        if (!(m[i].t > 0))
            continue;
        int mem = m[i].q->bound == MC_PREDICT_MEMORY;
        mc_calib_from *from = mem ? &out->mem_from : &out->compute_from;
        /* TPOT has the say on memory, TTFT on compute */
        if (*from != MC_CALIB_NONE && !(mem ? i == 0 : i == 1))
            continue;
        mc_err e =
            calib_one(p, m[i].q, m[i].name, m[i].t, mem ? &out->eff_mem : &out->eff_compute, d);
        if (e)
            return e;
        *from = m[i].from;
    }
    return MC_OK;
}
