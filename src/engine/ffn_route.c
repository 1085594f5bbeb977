/* ffn_route.c: deepseek2's expert routing (llama.cpp's build_moe_ffn as the DEEPSEEK2 graph
 * calls it), per token from the router logits in e->rlog:
 *   1. probabilities p: softmax over the experts (expert_gating_func 1, DeepSeek-V2) or an
 *      element-wise sigmoid (2, DeepSeek-V3);
 *   2. selection scores s = p + exp_probs_b (the V3 correction bias; s = p without it);
 *   3. expert groups (expert_group_count > 1): a group scores the sum of its two best s (its
 *      best alone when groups hold one expert), the expert_group_used_count best groups stay
 *      and every other expert is excluded;
 *   4. the top_k experts by s (lower id first on ties);
 *   5. weights = their p (never the bias), divided by their sum when expert_weights_norm is
 *      set, times expert_weights_scale.
 * Depends on the engine's state and the kernels (softmax); allocates nothing. */
#include "engine_impl.h"

#include <math.h>

/* Index of the largest s[x] over allowed x (lower id first on ties); -1 when none is left. */
static int32_t best_of(const float *s, const uint8_t *allowed, int64_t n)
{
    int32_t best = -1;
    for (int64_t x = 0; x < n; x++)
        if (allowed[x] && (best < 0 || s[x] > s[best]))
            best = (int32_t)x;
    return best;
}

/* Sum of the two largest scores of group g (one when groups hold a single expert). */
static double group_score(const float *s, int64_t g, int64_t size)
{
    double a = -INFINITY, b = -INFINITY;
    for (int64_t x = g * size; x < (g + 1) * size; x++) {
        if (s[x] > a) {
            b = a;
            a = s[x];
        } else if (s[x] > b) {
            b = s[x];
        }
    }
    return size > 1 ? a + b : a;
}

/* Marks the experts of the group_used best groups allowed (lower group id first on ties). */
static void keep_groups(const mc_engine *e, const float *s, int64_t n_exp, uint8_t *allowed)
{
    int64_t ng = e->n_group, size = n_exp / ng;
    double gs[256];
    uint8_t taken[256] = {0};
    for (int64_t g = 0; g < ng; g++)
        gs[g] = group_score(s, g, size);
    for (int64_t k = 0; k < e->group_used; k++) {
        int64_t best = -1;
        for (int64_t g = 0; g < ng; g++)
            if (!taken[g] && (best < 0 || gs[g] > gs[best]))
                best = g;
        taken[best] = 1;
    }
    for (int64_t x = 0; x < n_exp; x++)
        allowed[x] = taken[x / size];
}

static void route_token(mc_engine *e, const eng_layer *L, int64_t t, uint8_t *allowed)
{
    int64_t ne = L->n_exp, k = L->top_k;
    float *p = e->rlog + t * ne, *s = e->route_s;
    int32_t *ids = e->sel + t * k;
    float *w = e->selw + t * k;
    if (e->gating == ENG_GATE_SIGMOID)
        for (int64_t x = 0; x < ne; x++)
            p[x] = (float)(1.0 / (1.0 + exp(-(double)p[x])));
    else
        mc_kernels_softmax(p, ne);
    for (int64_t x = 0; x < ne; x++) {
        s[x] = L->exp_bias ? p[x] + L->exp_bias[x] : p[x];
        allowed[x] = 1;
    }
    if (e->n_group > 1 && e->group_used < e->n_group)
        keep_groups(e, s, ne, allowed);
    double sum = 0;
    for (int64_t i = 0; i < k; i++) {
        ids[i] = best_of(s, allowed, ne);
        MC_ENG_ASSERT(ids[i] >= 0); /* bind checked top_k <= experts in the kept groups */
        allowed[ids[i]] = 0;
        sum += p[ids[i]];
    }
    for (int64_t i = 0; i < k; i++) {
        double wi = e->norm_topk && sum > 0 ? p[ids[i]] / sum : p[ids[i]];
        w[i] = (float)(wi * e->w_scale);
    }
}

void eng_route_deepseek2(mc_engine *e, const eng_layer *L, int64_t n)
{
    uint8_t allowed[4096];
    MC_ENG_ASSERT(L->n_exp <= 4096 && e->n_group <= 256);
    for (int64_t t = 0; t < n; t++)
        route_token(e, L, t, allowed);
}
