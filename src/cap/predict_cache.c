/* predict_cache.c: the analytic model of routed experts in a bounded cache over a slow tier
 * (predict.cache_hit_rate, predict.tpot_offload): expected hits and misses per MoE layer for T
 * routed tokens under uniform routing or measured routing frequencies, for LRU (Che's
 * approximation under independent references), LFU and STATIC (the hottest experts that fit),
 * and the TPOT of a decode step whose misses are read from the slow tier. mc_predict_run uses
 * the same code when a device holds only part of the experts (host link = slow tier).
 * Definitions: docs/METRICS.md section 11. Pure arithmetic: no I/O, no clock, no globals; it
 * allocates only scratch. */
#include "cap.h"

#include <strings.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *mc_cache_policy_name(mc_cache_policy p)
{
    static const char *names[] = {"lru", "lfu", "static"};
    return (unsigned)p < MC_CACHE_POLICY_COUNT ? names[p] : "?";
}

mc_err mc_cache_policy_parse(const char *s, mc_cache_policy *out, mc_diag *d)
{
    for (int p = 0; p < MC_CACHE_POLICY_COUNT; p++) {
        if (strcasecmp(s, mc_cache_policy_name((mc_cache_policy)p)) == 0) {
            *out = (mc_cache_policy)p;
            return MC_OK;
        }
    }
    return mc_fail(d, MC_ERR_ARG, "cache policy '%s': expected lru, lfu or static", s);
}

double mc_cache_min_bytes(const mc_model *m)
{
    double v = 0;
    for (int64_t l = 0; l < m->n_layers; l++) {
        const mc_layer *L = &m->layers[l];
        if (L->ffn == MC_FFN_MOE)
            v = fmax(v, (double)L->top_k * L->b_expert);
    }
    return v;
}

double mc_cache_expert_bytes(const mc_model *m)
{
    double v = 0;
    for (int64_t l = 0; l < m->n_layers; l++)
        if (m->layers[l].ffn == MC_FFN_MOE)
            v += (double)m->layers[l].n_experts * m->layers[l].b_expert;
    return v;
}

/* ---- inputs ---- */

static mc_err check_freq(const mc_model *m, const double *f, size_t rows, size_t cols,
                         mc_diag *d)
{
    if (rows != 1 && rows != (size_t)m->n_moe_layers)
        return mc_fail(d, MC_ERR_ARG, "cache: %zu rows of routing frequencies; give 1 or one per "
                       "MoE layer (%lld)", rows, (long long)m->n_moe_layers);
    for (int64_t l = 0, k = 0; l < m->n_layers; l++) {
        const mc_layer *L = &m->layers[l];
        if (L->ffn != MC_FFN_MOE)
            continue;
        if ((int64_t)cols != L->n_experts)
            return mc_fail(d, MC_ERR_ARG, "cache: routing frequencies have %zu experts; layer "
                           "%lld has %lld", cols, (long long)l, (long long)L->n_experts);
        const double *row = f + (rows == 1 ? 0 : (size_t)k) * cols;
        double s = 0;
        for (size_t i = 0; i < cols; i++) {
            if (!(row[i] >= 0 && row[i] <= 1))
                return mc_fail(d, MC_ERR_RANGE, "cache: routing frequency %g of layer %lld "
                               "expert %zu is not in [0, 1]", row[i], (long long)l, i);
            s += row[i];
        }
        if (!(fabs(s - (double)L->top_k) <= 1e-3 * (double)L->top_k))
            return mc_fail(d, MC_ERR_ARG, "cache: routing frequencies of layer %lld sum to %g; "
                           "they must sum to its top_k %lld", (long long)l, s,
                           (long long)L->top_k);
        k++;
    }
    return MC_OK;
}

static mc_err check_expect(const mc_model *m, double tokens, double cache_bytes,
                           mc_cache_policy policy, mc_diag *d)
{
    if (m->n_moe_layers == 0)
        return mc_fail(d, MC_ERR_UNSUPPORTED, "cache: %s has no routed experts", m->name);
    if (m->n_moe_layers > MC_CAP_CACHE_LAYERS)
        return mc_fail(d, MC_ERR_UNSUPPORTED, "cache: %lld MoE layers (at most %d)",
                       (long long)m->n_moe_layers, MC_CAP_CACHE_LAYERS);
    if (!(tokens >= 1) || !isfinite(tokens))
        return mc_fail(d, MC_ERR_RANGE, "cache: token count %g must be >= 1", tokens);
    if ((unsigned)policy >= MC_CACHE_POLICY_COUNT)
        return mc_fail(d, MC_ERR_ARG, "cache: unknown policy %d", (int)policy);
    double min = mc_cache_min_bytes(m);
    if (cache_bytes != 0 && (!(cache_bytes >= min) || !isfinite(cache_bytes)))
        return mc_fail(d, MC_ERR_RANGE, "cache: %.0f bytes cannot hold the top-%lld experts of "
                       "one layer (%.0f bytes)", cache_bytes, (long long)m->max_top_k, min);
    return MC_OK;
}

/* ---- residency h[l][i]: probability that expert i of MoE layer l is cached when asked ---- */

typedef struct item {
    double f;
    size_t at; /* k x cols + i */
} item;

static int by_freq_desc(const void *a, const void *b)
{
    const item *x = a, *y = b;
    if (x->f != y->f)
        return x->f < y->f ? 1 : -1;
    return x->at < y->at ? -1 : x->at > y->at;
}

/* f of MoE ordinal k, expert i; s of ordinal k */
static double freq_at(const double *f, size_t rows, size_t cols, size_t k, size_t i)
{
    return f[(rows == 1 ? 0 : k) * cols + i];
}

/* STATIC and LFU: the hottest experts (by routing frequency) that fit, greedily. */
static mc_err resid_static(const double *f, size_t rows, size_t cols, const double *size,
                           size_t nk, double cache, double *h, mc_diag *d)
{
    item *v = mc_mallocarray(nk * cols, sizeof *v);
    if (!v)
        return mc_fail(d, MC_ERR_NOMEM, "cache: out of memory");
    for (size_t k = 0; k < nk; k++)
        for (size_t i = 0; i < cols; i++)
            v[k * cols + i] = (item){freq_at(f, rows, cols, k, i), k * cols + i};
    qsort(v, nk * cols, sizeof *v, by_freq_desc);
    double used = 0;
    for (size_t j = 0; j < nk * cols && v[j].f > 0; j++) {
        double s = size[v[j].at / cols];
        if (used + s <= cache) {
            used += s;
            h[v[j].at] = 1;
        }
    }
    mc_free(v);
    return MC_OK;
}

/* Bytes LRU holds after tau tokens: sum s_l (1 - (1 - f)^tau) (Che). */
static double che_bytes(const double *f, size_t rows, size_t cols, const double *size, size_t nk,
                        double tau)
{
    double b = 0;
    for (size_t k = 0; k < nk; k++)
        for (size_t i = 0; i < cols; i++) {
            double x = freq_at(f, rows, cols, k, i);
            b += size[k] * (x >= 1 ? 1 : -expm1(tau * log1p(-x)));
        }
    return b;
}

/* LRU: h = 1 - (1 - f)^tau with tau solving che_bytes(tau) = cache (bisection). */
static double resid_lru(const double *f, size_t rows, size_t cols, const double *size, size_t nk,
                        double cache, double *h)
{
    double all = 0, tau = INFINITY;
    for (size_t k = 0; k < nk; k++)
        for (size_t i = 0; i < cols; i++)
            all += freq_at(f, rows, cols, k, i) > 0 ? size[k] : 0;
    if (!(cache > 0))
        tau = 0; /* no cache: nothing is ever resident */
    else if (cache < all) {
        double lo = 0, hi = 1;
        while (che_bytes(f, rows, cols, size, nk, hi) < cache && hi < 1e300)
            lo = hi, hi *= 2;
        for (int it = 0; it < 200 && hi - lo > 1e-14 * hi; it++) {
            double mid = (lo + hi) / 2;
            *(che_bytes(f, rows, cols, size, nk, mid) < cache ? &lo : &hi) = mid;
        }
        tau = (lo + hi) / 2;
    }
    for (size_t k = 0; k < nk; k++)
        for (size_t i = 0; i < cols; i++) {
            double x = freq_at(f, rows, cols, k, i);
            h[k * cols + i] = x <= 0 ? 0 : x >= 1 || isinf(tau) ? 1 : -expm1(tau * log1p(-x));
        }
    return tau;
}

/* ---- expected hits and misses per layer ---- */

typedef struct layer_view {
    size_t nk, cols;
    double *size; /* bytes of one expert of MoE ordinal k */
    int64_t *top, *n;
} layer_view;

static void tally_uniform(const mc_model *m, double tokens, double frac, mc_cache_expect *o)
{
    for (int64_t l = 0, k = 0; l < m->n_layers; l++) {
        const mc_layer *L = &m->layers[l];
        if (L->ffn != MC_FFN_MOE)
            continue;
        double e = mc_cap_expected_distinct_uniform((double)L->n_experts, (double)L->top_k,
                                                    tokens); /* experts.expected_uniform */
        o->experts_per_layer += e;
        o->active_bytes += e * L->b_expert;
        o->misses += e * (1 - frac);
        o->slow_bytes += e * (1 - frac) * L->b_expert;
        o->layer_experts[k] = e;
        o->layer_hit_rate[k++] = frac;
    }
}

/* With frequencies: q = 1 - (1 - f)^T is the chance an expert is activated by T tokens;
 * expected activations E = sum q, hits = sum q h. */
static void tally_freq(const double *f, size_t rows, size_t cols, const double *size, size_t nk,
                       double tokens, const double *h, mc_cache_expect *o)
{
    double hits = 0;
    for (size_t k = 0; k < nk; k++) {
        double e = 0, hk = 0;
        for (size_t i = 0; i < cols; i++) {
            double x = freq_at(f, rows, cols, k, i);
            double q = x <= 0 ? 0 : x >= 1 ? 1 : -expm1(tokens * log1p(-x));
            e += q;
            hk += q * h[k * cols + i];
        }
        o->experts_per_layer += e;
        o->active_bytes += e * size[k];
        o->misses += e - hk;
        o->slow_bytes += (e - hk) * size[k];
        o->layer_hit_rate[k] = e > 0 ? hk / e : NAN;
        o->layer_experts[k] = e;
        hits += hk;
    }
    o->hit_rate = hits; /* a sum until expect_finish */
}

static mc_err expect_freq(const mc_model *m, double tokens, double cache, mc_cache_policy policy,
                          const double *f, size_t rows, size_t cols, mc_cache_expect *o,
                          mc_diag *d)
{
    size_t nk = (size_t)m->n_moe_layers;
    double *size = mc_calloc(nk, sizeof *size), *h = mc_calloc(nk * cols + 1, sizeof *h);
    mc_err e = size && h ? MC_OK : mc_fail(d, MC_ERR_NOMEM, "cache: out of memory");
    for (int64_t l = 0, k = 0; !e && l < m->n_layers; l++)
        if (m->layers[l].ffn == MC_FFN_MOE)
            size[k++] = m->layers[l].b_expert;
    if (!e && policy == MC_CACHE_LRU)
        o->che_tokens = resid_lru(f, rows, cols, size, nk, cache, h);
    else if (!e)
        e = resid_static(f, rows, cols, size, nk, cache, h, d);
    if (!e)
        tally_freq(f, rows, cols, size, nk, tokens, h, o);
    mc_free(size);
    mc_free(h);
    return e;
}

mc_err mc_cache_expect_of(const mc_model *m, double tokens, double cache_bytes,
                          mc_cache_policy policy, const double *freq, size_t rows, size_t cols,
                          mc_cache_expect *out, mc_diag *d)
{
    memset(out, 0, sizeof *out);
    mc_err e = check_expect(m, tokens, cache_bytes, policy, d);
    if (!e && freq)
        e = check_freq(m, freq, rows, cols, d);
    if (e)
        return e;
    out->n_layers = m->n_moe_layers;
    out->expert_bytes = mc_cache_expert_bytes(m);
    out->cached_fraction = fmin(1, cache_bytes / out->expert_bytes);
    if (!freq) {
        /* uniform routing: no expert is hotter than another, so every policy holds the cached
         * fraction of each layer's experts (Che's LRU gives the same) */
        tally_uniform(m, tokens, out->cached_fraction, out);
        out->hit_rate = out->cached_fraction;
    } else {
        e = expect_freq(m, tokens, cache_bytes, policy, freq, rows, cols, out, d);
        if (e)
            return e;
        out->hit_rate = out->experts_per_layer > 0 ? out->hit_rate / out->experts_per_layer : NAN;
    }
    out->experts_per_layer /= (double)m->n_moe_layers;
    return MC_OK;
}

/* ---- predict.tpot_offload: one decode step ---- */

static mc_err check_in(const mc_predict_cache_in *in, mc_diag *d)
{
    if (in->batch < 1 || in->batch > MC_PREDICT_MAX)
        return mc_fail(d, MC_ERR_RANGE, "cache: batch %lld must be in 1..%d",
                       (long long)in->batch, MC_PREDICT_MAX);
    if (!(in->context_tok >= 1) || in->context_tok > 1e12)
        return mc_fail(d, MC_ERR_RANGE, "cache: context %g tokens must be >= 1", in->context_tok);
    if (!(in->fast_Bps > 0) || !isfinite(in->fast_Bps) || !(in->slow_Bps > 0) ||
        !isfinite(in->slow_Bps))
        return mc_fail(d, MC_ERR_RANGE, "cache: fast (%g B/s) and slow (%g B/s) bandwidths must "
                       "be > 0", in->fast_Bps, in->slow_Bps);
    if (!(in->eff >= 0 && in->eff <= 1))
        return mc_fail(d, MC_ERR_RANGE, "cache: efficiency %g must be in (0, 1]", in->eff);
    if (!(in->overlap >= 0 && in->overlap <= 1))
        return mc_fail(d, MC_ERR_RANGE, "cache: prefetch overlap %g must be in [0, 1]",
                       in->overlap);
    return MC_OK;
}

/* bytes.pass of the step, with the expected distinct experts of each layer */
static mc_err step_bytes(const mc_model *m, const mc_predict_cache_in *in, mc_pass_bytes *b,
                         mc_diag *d)
{
    double *epl = mc_calloc((size_t)m->n_moe_layers + 1, sizeof *epl);
    if (!epl)
        return mc_fail(d, MC_ERR_NOMEM, "cache: out of memory");
    mc_err e = MC_OK;
    for (int64_t l = 0, k = 0; l < m->n_layers && !e; l++) {
        const mc_layer *L = &m->layers[l];
        if (L->ffn != MC_FFN_MOE)
            continue;
        if (in->freq)
            e = mc_cap_expected_distinct_freq(in->freq + (in->freq_rows == 1 ? 0 : k) *
                                                             in->freq_cols,
                                              in->freq_cols, (double)in->batch, &epl[k], d);
        else
            epl[k] = mc_cap_expected_distinct_uniform((double)L->n_experts, (double)L->top_k,
                                                      (double)in->batch);
        k++;
    }
    mc_pass p;
    mc_pass_init(&p);
    p.mode = MC_PASS_DECODE;
    p.batch_size = p.new_tokens = in->batch;
    p.seq_lens_sum = llround((double)in->batch * in->context_tok);
    p.latency_s = 1;
    p.n_layer_experts = m->n_moe_layers;
    p.experts_per_layer = epl; /* borrowed: p is never deinit'ed */
    if (!e)
        e = mc_cap_pass_bytes(m, &p, b, d);
    mc_free(epl);
    return e;
}

/* cache.replay: each MoE layer's hit rate from the replayed trace, applied to the expected
 * distinct experts E_k: misses = sum E_k (1 - h_k), slow bytes = sum E_k (1 - h_k) x expert
 * bytes, hit rate = sum E_k h_k / sum E_k. A layer the trace never activated keeps the model's. */
static mc_err apply_replay(const mc_model *m, const mc_cache_replay *r, mc_cache_expect *x,
                           mc_diag *d)
{
    if (r->n_layers != m->n_moe_layers)
        return mc_fail(d, MC_ERR_ARG, "cache: a replay of %lld MoE layers for a model of %lld",
                       (long long)r->n_layers, (long long)m->n_moe_layers);
    double e_sum = 0, hits = 0;
    x->misses = x->slow_bytes = 0;
    for (int64_t l = 0, k = 0; l < m->n_layers; l++) {
        if (m->layers[l].ffn != MC_FFN_MOE)
            continue;
        double h = isnan(r->layer_hit_rate[k]) ? x->layer_hit_rate[k] : r->layer_hit_rate[k];
        double e = x->layer_experts[k];
        x->layer_hit_rate[k++] = h;
        x->misses += e * (1 - h);
        x->slow_bytes += e * (1 - h) * m->layers[l].b_expert;
        e_sum += e;
        hits += e * h;
    }
    x->hit_rate = e_sum > 0 ? hits / e_sum : NAN;
    return MC_OK;
}

static const char *hit_model_of(const mc_predict_cache_in *in)
{
    return in->replay                    ? "replay"
           : !in->freq                   ? "uniform"
           : in->policy == MC_CACHE_LRU ? "che"
                                         : "hottest";
}

mc_err mc_predict_cache(const mc_model *m, const mc_predict_cache_in *in,
                        mc_predict_cache_out *out, mc_diag *d)
{
    memset(out, 0, sizeof *out);
    mc_cache_expect x;
    mc_pass_bytes b;
    mc_err e = check_in(in, d);
    if (!e && !(in->cache_bytes > 0))
        e = mc_fail(d, MC_ERR_RANGE, "cache: size %g bytes must be > 0", in->cache_bytes);
    if (!e)
        e = mc_cache_expect_of(m, (double)in->batch, in->cache_bytes, in->policy, in->freq,
                               in->freq_rows, in->freq_cols, &x, d);
    if (!e && in->replay)
        e = apply_replay(m, in->replay, &x, d);
    if (!e)
        e = step_bytes(m, in, &b, d);
    if (e)
        return e;
    double eff = in->eff > 0 ? in->eff : 1;
    out->hit_rate = x.hit_rate;
    out->hit_model = hit_model_of(in);
    out->experts_per_layer = x.experts_per_layer;
    out->misses_per_step = x.misses;
    out->expert_bytes = x.expert_bytes;
    out->cached_fraction = x.cached_fraction;
    out->che_tokens = x.che_tokens;
    out->n_layers = x.n_layers;
    memcpy(out->layer_hit_rate, x.layer_hit_rate, sizeof out->layer_hit_rate);
    out->fast_bytes = b.total;
    out->slow_bytes = x.slow_bytes;
    out->fast_s = b.total / (in->fast_Bps * eff);
    out->slow_s = x.slow_bytes / in->slow_Bps;
    out->tpot_s = out->fast_s + (1 - in->overlap) * out->slow_s;
    out->smbu_fast = out->fast_bytes / out->tpot_s / in->fast_Bps;
    out->smbu_slow = out->slow_bytes / out->tpot_s / in->slow_Bps;
    return MC_OK;
}
