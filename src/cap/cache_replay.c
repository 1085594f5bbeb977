/* cache_replay.c: cache.replay, the hit rate of an expert cache on a recorded routing trace
 * (docs/METRICS.md section 11): the records' tokens_per_expert, pass by pass and MoE layer by MoE
 * layer, replayed through a cache of whole experts under LRU, LFU or STATIC with the engine
 * cache's own directory (xcache_dir.c, xc_dir_group: a layer's residents first, then its misses
 * into the slots the policy gives up, never one the layer is using; a layer with more experts
 * than free slots runs in rounds). Unlike Che's approximation it keeps the trace's order, so it
 * sees temporal locality (consecutive tokens routed alike) as well as skewed frequencies. The trace
 * is replayed twice and only the second replay counts: the cache starts as the trace left it
 * (steady state), not empty. Pure arithmetic over the records: no I/O, no clock, no engine;
 * it allocates only scratch. */
#include "cap.h"
#include "xcache.h"

#include <math.h>
#include <string.h>

/* Row of MoE ordinal k of pass p (rows = MoE layers, or all layers with dense ones empty). */
static const int64_t *tpe_row(const mc_model *m, const mc_pass *p, int64_t k)
{
    if (p->tpe_rows == m->n_moe_layers)
        return p->tokens_per_expert + k * p->tpe_cols;
    for (int64_t l = 0, j = 0; l < m->n_layers; l++)
        if (m->layers[l].ffn == MC_FFN_MOE && j++ == k)
            return p->tokens_per_expert + l * p->tpe_cols;
    return NULL;
}

static mc_err check_trace(const mc_model *m, const mc_pass *p, size_t n, int64_t cols, size_t *used,
                          mc_diag *d)
{
    *used = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i].tpe_rows == 0)
            continue;
        if ((p[i].tpe_rows != m->n_moe_layers && p[i].tpe_rows != m->n_layers) ||
            p[i].tpe_cols != cols)
            return mc_fail(d, MC_ERR_ARG,
                           "cache replay: line %lld: tokens_per_expert is %lld x %lld; the model "
                           "has %lld MoE layers of %lld experts",
                           (long long)p[i].line, (long long)p[i].tpe_rows, (long long)p[i].tpe_cols,
                           (long long)m->n_moe_layers, (long long)cols);
        ++*used;
    }
    if (*used == 0)
        return mc_fail(d, MC_ERR_NOT_FOUND, "cache replay: no record has tokens_per_expert");
    return MC_OK;
}

/* STATIC: pins the experts with the most tokens over the trace (lower id on ties; only experts
 * with tokens) in all slots but top_k, as the engine does with a profile. */
static void rp_pin(xc_dir *r, const mc_model *m, const mc_pass *p, size_t n, int64_t *tok)
{
    int64_t cols = r->n_exp / m->n_moe_layers;
    for (size_t i = 0; i < n; i++)
        for (int64_t k = 0; p[i].tpe_rows && k < m->n_moe_layers; k++)
            for (int64_t x = 0; x < cols; x++)
                tok[k * cols + x] += tpe_row(m, &p[i], k)[x];
    int64_t n_pin = r->n_slots > m->max_top_k ? r->n_slots - m->max_top_k : 0;
    for (int64_t s = 0; s < n_pin; s++) {
        int64_t best = -1;
        for (int64_t x = 0; x < r->n_exp; x++)
            if (tok[x] > 0 && (best < 0 || tok[x] > tok[best]))
                best = x;
        if (best < 0)
            break;
        tok[best] = 0;
        xc_dir_place(r, s, best, 0);
        xc_dir_pin(r, s);
    }
}

/* Replays the trace once; counts into out when count is set. want, slot, take: scratch of
 * n_exp. */
static void rp_trace(xc_dir *r, const mc_model *m, const mc_pass *p, size_t n, int64_t *want,
                     int64_t *slot, uint8_t *take, mc_cache_replay *out, int count)
{
    int64_t cols = r->n_exp / m->n_moe_layers;
    for (size_t i = 0; i < n; i++) {
        if (p[i].tpe_rows == 0)
            continue;
        out->passes += count;
        for (int64_t k = 0; k < m->n_moe_layers; k++) {
            const int64_t *row = tpe_row(m, &p[i], k);
            int64_t nw = 0, h = 0, mi = 0;
            for (int64_t x = 0; x < cols; x++)
                if (row[x] > 0)
                    want[nw++] = k * cols + x;
            xc_dir_group(r, want, nw, take, slot, &h, &mi);
            out->layer_hits[k] += count ? (double)h : 0;
            out->layer_misses[k] += count ? (double)mi : 0;
        }
    }
}

static void rp_finish(mc_cache_replay *o)
{
    for (int64_t k = 0; k < o->n_layers; k++) {
        double a = o->layer_hits[k] + o->layer_misses[k];
        o->layer_hit_rate[k] = a > 0 ? o->layer_hits[k] / a : NAN;
        o->hits += o->layer_hits[k];
        o->misses += o->layer_misses[k];
    }
    o->hit_rate = o->hits + o->misses > 0 ? o->hits / (o->hits + o->misses) : NAN;
}

mc_err mc_cache_replay_of(const mc_model *m, const mc_pass *p, size_t n, double cache_bytes,
                          mc_cache_policy policy, mc_cache_replay *out, mc_diag *d)
{
    memset(out, 0, sizeof *out);
    if (m->n_moe_layers == 0 || m->n_moe_layers > MC_CAP_CACHE_LAYERS)
        return mc_fail(d, MC_ERR_UNSUPPORTED, "cache replay: %s has %lld MoE layers (1..%d)",
                       m->name, (long long)m->n_moe_layers, MC_CAP_CACHE_LAYERS);
    if ((unsigned)policy >= MC_CACHE_POLICY_COUNT)
        return mc_fail(d, MC_ERR_ARG, "cache replay: unknown policy %d", (int)policy);
    double expert_b = 0; /* bytes of the largest expert: one slot */
    for (int64_t l = 0; l < m->n_layers; l++)
        if (m->layers[l].ffn == MC_FFN_MOE)
            expert_b = fmax(expert_b, m->layers[l].b_expert);
    int64_t cols = m->max_experts, n_exp = m->n_moe_layers * cols;
    /* (1 + 1e-12): a cache given as k x the expert's bytes holds k, whatever the rounding */
    double slots = expert_b > 0 ? floor(cache_bytes / expert_b * (1 + 1e-12)) : 0;
    if (!(slots >= (double)m->max_top_k) || !isfinite(cache_bytes))
        return mc_fail(d, MC_ERR_RANGE,
                       "cache replay: %.0f bytes hold %.0f experts; a layer needs top_k = %lld",
                       cache_bytes, slots, (long long)m->max_top_k);
    size_t used;
    mc_err e = check_trace(m, p, n, cols, &used, d);
    if (e)
        return e;
    out->n_layers = m->n_moe_layers;
    out->slots = slots < (double)n_exp ? (int64_t)slots : n_exp;
    xc_dir r;
    int64_t *want = mc_calloc((size_t)n_exp, sizeof *want);
    int64_t *slot = mc_mallocarray((size_t)n_exp, sizeof *slot);
    uint8_t *take = mc_malloc((size_t)n_exp);
    e = xc_dir_init(&r, (int)policy, out->slots, n_exp, d);
    if (!e && (!want || !slot || !take))
        e = mc_fail(d, MC_ERR_NOMEM, "cache replay: out of memory");
    if (!e && policy == MC_CACHE_STATIC)
        rp_pin(&r, m, p, n, want);
    for (int rep = 0; !e && rep < 2; rep++)
        rp_trace(&r, m, p, n, want, slot, take, out, rep == 1);
    if (!e)
        rp_finish(out);
    xc_dir_deinit(&r);
    mc_free(want);
    mc_free(slot);
    mc_free(take);
    return e;
}
