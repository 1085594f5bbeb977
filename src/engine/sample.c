/* sample.c: drawing the next token from logits (greedy, temperature, top-k, top-p; seeded through
 * mc_rng) and log-probabilities in double precision.
 *
 * Order of the filters (docs/ENGINE.md): temperature scales the logits, top-k keeps the k largest,
 * top-p keeps the smallest prefix of those (by probability, renormalised over the top-k set)
 * whose mass reaches p, and the token is drawn from what is left in proportion to exp(logit).
 * Every ordering is the strict total order "larger logit first, lower id on ties", so the result
 * does not depend on how the selection is implemented. Greedy (temperature 0, or top_k 1) returns
 * the lowest id among the largest logits. The scratch is the engine's (no allocation).
 * Depends on base (mc_rng) and the engine's state only. */
#include "engine_impl.h"

#include <math.h>
#include <stdlib.h>

void mc_sampler_default(mc_sampler *s)
{
    s->temperature = 0.0f;
    s->top_p = 1.0f;
    s->top_k = 0;
    s->seed = 0;
}

/* a ranks before b */
static int before(const float *l, int32_t a, int32_t b)
{
    return l[a] > l[b] || (l[a] == l[b] && a < b);
}

static int32_t argmax(const float *l, int64_t n)
{
    int32_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (l[i] > l[best])
            best = (int32_t)i;
    return best;
}

static void swap_ids(int32_t *a, int32_t *b)
{
    int32_t t = *a;
    *a = *b;
    *b = t;
}

/* Moves the k best of ids[0..n) to ids[0..k) (in no particular order): quickselect. */
static void select_best(const float *l, int32_t *ids, int64_t n, int64_t k)
{
    int64_t lo = 0, hi = n - 1, m = k - 1;
    while (lo < hi) {
        int32_t a = ids[lo], b = ids[lo + (hi - lo) / 2], c = ids[hi], piv;
        if (before(l, a, b))
            piv = before(l, b, c) ? b : before(l, a, c) ? c : a;
        else
            piv = before(l, a, c) ? a : before(l, b, c) ? c : b;
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (before(l, ids[i], piv))
                i++;
            while (before(l, piv, ids[j]))
                j--;
            if (i <= j)
                swap_ids(&ids[i++], &ids[j--]);
        }
        if (m <= j)
            hi = j;
        else if (m >= i)
            lo = i;
        else
            return;
    }
}

static int cmp_rank(const void *pa, const void *pb, void *ctx)
{
    int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    return before(ctx, a, b) ? -1 : before(ctx, b, a) ? 1 : 0;
}

/* ids[0..k) = the k best of ids[0..n), sorted. */
static void best_sorted(float *l, int32_t *ids, int64_t n, int64_t k)
{
    select_best(l, ids, n, k);
    qsort_r(ids, (size_t)k, sizeof *ids, cmp_rank, l);
}

/* Sum of exp(l - mx) over ids[0..n). */
static double mass(const float *l, const int32_t *ids, int64_t n, float mx)
{
    double z = 0;
    for (int64_t i = 0; i < n; i++)
        z += exp((double)l[ids[i]] - mx);
    return z;
}

/* Top-p over the candidates ids[0..n) (sorted when `sorted`): the kept prefix length. */
static int64_t top_p_keep(float *l, int32_t *ids, int64_t n, int sorted, double p, float mx)
{
    double z = mass(l, ids, n, mx);
    for (int64_t k = sorted ? n : (n < 64 ? n : 64);; k = 2 * k < n ? 2 * k : n) {
        if (!sorted)
            best_sorted(l, ids, n, k);
        double cum = 0;
        for (int64_t i = 0; i < k; i++) {
            cum += exp((double)l[ids[i]] - mx);
            if (cum >= p * z)
                return i + 1;
        }
        if (k == n)
            return n;
    }
}

/* Draws from ids[0..n) in proportion to exp(l - mx). */
static int32_t draw(const float *l, const int32_t *ids, int64_t n, float mx, mc_rng *rng)
{
    double u = mc_rng_uniform(rng) * mass(l, ids, n, mx), cum = 0;
    for (int64_t i = 0; i < n; i++) {
        cum += exp((double)l[ids[i]] - mx);
        if (u < cum)
            return ids[i];
    }
    return ids[n - 1]; /* u within rounding of the total */
}

/* Logits of the tokens outside ids[0..n) become -inf. */
static void mask_rest(float *l, int64_t vocab, const int32_t *ids, int64_t n, float *save)
{
    for (int64_t i = 0; i < n; i++)
        save[i] = l[ids[i]];
    for (int64_t i = 0; i < vocab; i++)
        l[i] = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        l[ids[i]] = save[i];
}

int32_t mc_engine_sample(mc_engine *e, float *l, const mc_sampler *s, mc_rng *rng)
{
    int64_t V = e->vocab;
    for (int64_t i = 0; i < V; i++)
        if (isnan(l[i]))
            l[i] = -INFINITY;
    if (!s || !(s->temperature > 0) || s->top_k == 1)
        return argmax(l, V);
    float inv = 1.0f / s->temperature, mx = -INFINITY;
    for (int64_t i = 0; i < V; i++) {
        l[i] *= inv;
        mx = l[i] > mx ? l[i] : mx;
    }
    int32_t *ids = e->samp_id;
    for (int64_t i = 0; i < V; i++)
        ids[i] = (int32_t)i;
    int64_t n = V;
    int sorted = 0;
    if (s->top_k > 0 && s->top_k < V) {
        n = s->top_k;
        best_sorted(l, ids, V, n);
        sorted = 1;
    }
    if (s->top_p > 0 && s->top_p < 1)
        n = top_p_keep(l, ids, n, sorted, s->top_p, mx);
    if (n < V)
        mask_rest(l, V, ids, n, e->samp);
    return draw(l, ids, n, mx, rng);
}

/* ---- scores ---------------------------------------------------------------------------------- */

/* max and log(sum exp(l - max)) in double */
static double log_norm(const float *l, int64_t V, double *mx)
{
    double m = -INFINITY, z = 0;
    for (int64_t i = 0; i < V; i++)
        m = l[i] > m ? l[i] : m;
    for (int64_t i = 0; i < V; i++)
        z += exp((double)l[i] - m);
    *mx = m;
    return log(z);
}

double mc_logprob(const float *logits, int64_t vocab, int32_t token)
{
    if (!logits || vocab < 1 || token < 0 || token >= vocab)
        return NAN;
    double mx, lz = log_norm(logits, vocab, &mx);
    return ((double)logits[token] - mx) - lz;
}

int mc_top_logprobs(const float *logits, int64_t vocab, int n, int32_t *ids, double *lps)
{
    if (!logits || vocab < 1 || n < 1)
        return 0;
    n = n > 64 ? 64 : n;
    n = n > vocab ? (int)vocab : n;
    int have = 0;
    for (int64_t i = 0; i < vocab; i++) {
        if (have == n && !before(logits, (int32_t)i, ids[n - 1]))
            continue;
        int at = have < n ? have++ : n - 1;
        while (at > 0 && before(logits, (int32_t)i, ids[at - 1])) {
            ids[at] = ids[at - 1];
            at--;
        }
        ids[at] = (int32_t)i;
    }
    double mx, lz = log_norm(logits, vocab, &mx);
    for (int i = 0; i < n; i++)
        lps[i] = ((double)logits[ids[i]] - mx) - lz;
    return n;
}
