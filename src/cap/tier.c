/* tier.c: expert offloading in the measurements: per-tier S-MBU of a pass and of a run
 * (smbu.fast, smbu.slow), the slow tier's bandwidth as the compute saw it (cache.slow_bw,
 * smbu.slow_stall), the cache hit rate overall and per layer (cache.hit_rate,
 * cache.layer_hit_rate), and routing frequencies from records (experts.route_freq) for the
 * cache model. Definitions: docs/METRICS.md sections 3 and 4.
 * Pure arithmetic on mc_model / mc_pass: no I/O, no clock; allocates only the frequency table. */
#include "cap.h"

#include <math.h>
#include <string.h>

static double ratio(double a, double b)
{
    return b > 0 ? a / b : NAN;
}

static void pass_counts(const mc_pass *p, int64_t *hits, int64_t *misses)
{
    *hits = *misses = 0;
    for (int64_t l = 0; l < p->n_cache_layers; l++) {
        *hits += p->cache_hits[l];
        *misses += p->cache_misses[l];
    }
}

mc_err mc_cap_pass_tier(const mc_model *m, const mc_pass *p, double fast_Bps, double slow_Bps,
                        mc_pass_tier *out, mc_diag *d)
{
    mc_pass_bytes b;
    mc_err e = mc_cap_pass_bytes(m, p, &b, d);
    if (e)
        return e;
    double slow_bw = slow_Bps > 0 ? slow_Bps : NAN;
    int64_t hits, misses;
    pass_counts(p, &hits, &misses);
    out->fast_bytes = b.total;
    out->slow_bytes = p->slow_bytes >= 0 ? (double)p->slow_bytes : NAN;
    out->smbu_fast = b.total / p->latency_s / fast_Bps;
    out->smbu_slow = out->slow_bytes / p->latency_s / slow_bw;
    out->slow_bw_Bps = p->slow_stall_s > 0 ? out->slow_bytes / p->slow_stall_s : NAN;
    out->smbu_stall = out->slow_bw_Bps / slow_bw;
    out->hit_rate = ratio((double)hits, (double)(hits + misses));
    return MC_OK;
}

/* ---- run aggregates ---- */

static void group_add(mc_cap_tier_group *g, const mc_pass *p, const mc_pass_tier *t)
{
    int64_t hits, misses;
    pass_counts(p, &hits, &misses);
    g->passes++;
    g->hits += hits;
    g->misses += misses;
    g->time_s += p->latency_s;
    g->fast_bytes += t->fast_bytes;
    if (p->slow_bytes < 0)
        return;
    g->slow_passes++;
    g->slow_bytes += t->slow_bytes;
    g->slow_time_s += p->latency_s;
    if (p->slow_stall_s < 0)
        return;
    g->stall_bytes += t->slow_bytes;
    g->stall_s += p->slow_stall_s;
}

static void group_finish(mc_cap_tier_group *g, double fast_Bps, double slow_Bps)
{
    double slow_bw = slow_Bps > 0 ? slow_Bps : NAN;
    g->hit_rate = ratio((double)g->hits, (double)(g->hits + g->misses));
    g->smbu_fast = ratio(g->fast_bytes, g->time_s) / fast_Bps;
    g->smbu_slow = ratio(g->slow_bytes, g->slow_time_s) / slow_bw;
    g->slow_bw_Bps = ratio(g->stall_bytes, g->stall_s);
    g->smbu_stall = g->slow_bw_Bps / slow_bw;
}

static mc_err check_layers(const mc_model *m, const mc_pass *p, mc_diag *d)
{
    if (p->n_cache_layers != m->n_moe_layers)
        return mc_fail(d, MC_ERR_FORMAT,
                       "line %lld: cache_hits has %lld layers; the model has %lld MoE layers",
                       (long long)p->line, (long long)p->n_cache_layers,
                       (long long)m->n_moe_layers);
    if (p->n_cache_layers > MC_CAP_CACHE_LAYERS)
        return mc_fail(d, MC_ERR_UNSUPPORTED, "line %lld: %lld cache layers (at most %d)",
                       (long long)p->line, (long long)p->n_cache_layers, MC_CAP_CACHE_LAYERS);
    return MC_OK;
}

static void layers_finish(mc_cap_tier_summary *s)
{
    for (int64_t l = 0; l < s->n_layers; l++)
        s->layer_hit_rate[l] =
            ratio((double)s->layer_hits[l], (double)(s->layer_hits[l] + s->layer_misses[l]));
}

mc_err mc_cap_tier_summarise(const mc_model *m, double fast_Bps, double slow_Bps,
                             const mc_pass *p, size_t n, mc_cap_tier_summary *out, mc_diag *d)
{
    memset(out, 0, sizeof *out);
    out->fast_Bps = fast_Bps;
    out->slow_Bps = slow_Bps > 0 ? slow_Bps : 0;
    if (!(fast_Bps > 0))
        return mc_fail(d, MC_ERR_RANGE, "tiers: fast-tier bandwidth %g must be > 0", fast_Bps);
    for (size_t i = 0; i < n; i++) {
        if (p[i].n_cache_layers == 0)
            continue;
        mc_pass_tier t;
        mc_err e = check_layers(m, &p[i], d);
        if (!e)
            e = mc_cap_pass_tier(m, &p[i], fast_Bps, slow_Bps, &t, d);
        if (e)
            return e;
        group_add(&out->mode[p[i].mode], &p[i], &t);
        group_add(&out->all, &p[i], &t);
        out->n_layers = p[i].n_cache_layers;
        for (int64_t l = 0; l < p[i].n_cache_layers; l++) {
            out->layer_hits[l] += p[i].cache_hits[l];
            out->layer_misses[l] += p[i].cache_misses[l];
        }
    }
    for (int k = 0; k < MC_PASS_MODE_COUNT; k++)
        group_finish(&out->mode[k], fast_Bps, out->slow_Bps);
    group_finish(&out->all, fast_Bps, out->slow_Bps);
    layers_finish(out);
    return MC_OK;
}

/* ---- experts.route_freq ---- */

/* Adds pass p's tokens_per_expert into the per-MoE-layer sums (rows x cols). */
static mc_err add_counts(const mc_model *m, const mc_pass *p, double *sum, size_t cols,
                         mc_diag *d)
{
    int per_model = p->tpe_rows == m->n_layers;
    if ((!per_model && p->tpe_rows != m->n_moe_layers) || p->tpe_cols != (int64_t)cols)
        return mc_fail(d, MC_ERR_FORMAT,
                       "line %lld: tokens_per_expert is %lld x %lld; the model has %lld "
                       "layers (%lld MoE) of %zu experts",
                       (long long)p->line, (long long)p->tpe_rows, (long long)p->tpe_cols,
                       (long long)m->n_layers, (long long)m->n_moe_layers, cols);
    for (int64_t l = 0, k = 0; l < m->n_layers; l++) {
        if (m->layers[l].ffn != MC_FFN_MOE)
            continue;
        const int64_t *row = p->tokens_per_expert + (per_model ? l : k) * p->tpe_cols;
        for (size_t i = 0; i < cols; i++)
            sum[(size_t)k * cols + i] += (double)row[i];
        k++;
    }
    return MC_OK;
}

/* Normalises each row to sum to its layer's top_k. */
static mc_err normalise(const mc_model *m, double *f, size_t cols, mc_diag *d)
{
    for (int64_t l = 0, k = 0; l < m->n_layers; l++) {
        const mc_layer *L = &m->layers[l];
        if (L->ffn != MC_FFN_MOE)
            continue;
        if (L->n_experts != (int64_t)cols)
            return mc_fail(d, MC_ERR_UNSUPPORTED,
                           "routing frequencies: layer %lld has %lld experts, others %zu",
                           (long long)l, (long long)L->n_experts, cols);
        double *row = f + (size_t)k++ * cols, s = 0;
        for (size_t i = 0; i < cols; i++)
            s += row[i];
        if (!(s > 0))
            return mc_fail(d, MC_ERR_FORMAT,
                           "routing frequencies: tokens_per_expert routes no token in layer %lld",
                           (long long)l);
        for (size_t i = 0; i < cols; i++)
            row[i] = fmin(1.0, (double)L->top_k * row[i] / s);
    }
    return MC_OK;
}

mc_err mc_cap_route_freq(const mc_model *m, const mc_pass *p, size_t n, double **freq,
                         size_t *rows, size_t *cols, mc_diag *d)
{
    *freq = NULL;
    *rows = *cols = 0;
    if (m->n_moe_layers == 0)
        return mc_fail(d, MC_ERR_UNSUPPORTED, "routing frequencies: %s has no MoE layers",
                       m->name);
    size_t nc = (size_t)m->max_experts, nr = (size_t)m->n_moe_layers, used = 0;
    double *f = mc_calloc(nr * nc, sizeof *f);
    if (!f)
        return mc_fail(d, MC_ERR_NOMEM, "routing frequencies: out of memory");
    mc_err e = MC_OK;
    for (size_t i = 0; i < n && !e; i++) {
        if (p[i].tpe_rows == 0)
            continue;
        used++;
        e = add_counts(m, &p[i], f, nc, d);
    }
    if (!e && used == 0)
        e = mc_fail(d, MC_ERR_NOT_FOUND, "routing frequencies: no record has tokens_per_expert");
    if (!e)
        e = normalise(m, f, nc, d);
    if (e) {
        mc_free(f);
        return e;
    }
    *freq = f;
    *rows = nr;
    *cols = nc;
    return MC_OK;
}
