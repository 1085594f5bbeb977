/* ffn.c: the feed-forward block of one layer for every token of a step.
 *
 * Dense: RMSNorm, gate and up in one parallel region, SwiGLU, down, residual.
 * MoE: RMSNorm; router logits (and the qwen2moe shared-expert gate logit) in one region; softmax
 * and top-k per token with the architecture's weight normalisation; a counting sort groups the
 * (token, choice) pairs by expert into slots; each activated expert's prepared input rows are
 * gathered into one block so its gate and up projections run once over all its tokens (every
 * activated expert, and the shared expert, in one region), SwiGLU, the down projections in a
 * second region, then each token adds its experts' outputs in its own top-k order (so a token's
 * result does not depend on which other tokens share the step) and the residual. With an expert
 * cache (xcache.c) the experts' matrices are the cache slots' and are made resident first, in
 * rounds when a step needs more experts in a layer than there are slots.
 * Depends on the kernels, par.c and xcache.c; allocates nothing. */
#include "engine_impl.h"

#include <math.h>
#include <string.h>

typedef struct swi_ctx {
    float *a;
    const float *b;
    int64_t w; /* row width */
} swi_ctx;

static void swiglu_rows(void *ctx, int64_t b, int64_t end, int worker)
{
    const swi_ctx *c = ctx;
    (void)worker;
    mc_kernels_swiglu(c->a + b * c->w, c->a + b * c->w, c->b + b * c->w, (end - b) * c->w);
}

static void swiglu(mc_engine *e, float *a, const float *b, int64_t rows, int64_t w)
{
    swi_ctx c = {a, b, w};
    eng_par(e, rows, 32, swiglu_rows, &c);
}

/* gate/up over the prepared xn rows -> hg/hu, swiglu, prepared hg for the down weights. */
static void dense_ffn(mc_engine *e, const eng_layer *L, int64_t n)
{
    int64_t h = e->hidden, ff = L->ff;
    size_t st = e->act.stride;
    eng_act_reset(e);
    const uint8_t *xg = eng_act_prep(e, e->xn, h, n, h, L->gate.t);
    const uint8_t *xu = eng_act_prep(e, e->xn, h, n, h, L->up.t);
    int j = eng_job_add(e, 0, &L->gate, xg, st, n, e->hg, ff);
    eng_run_jobs(e, eng_job_add(e, j, &L->up, xu, st, n, e->hu, ff));
    swiglu(e, e->hg, e->hu, n, ff);
    eng_act_reset(e);
    const uint8_t *xd = eng_act_prep(e, e->hg, ff, n, ff, L->down.t);
    eng_run_jobs(e, eng_job_add(e, 0, &L->down, xd, st, n, e->tmp, h));
    eng_residual(e, NULL, n);
}

/* ---- routing ---- */

void eng_top_k(const float *p, int64_t n, int64_t k, int32_t *ids)
{
    for (int64_t i = 0; i < k; i++) {
        int32_t best = -1;
        for (int64_t x = 0; x < n; x++) {
            int taken = 0;
            for (int64_t j = 0; j < i && !taken; j++)
                taken = ids[j] == x;
            if (!taken && (best < 0 || p[x] > p[best]))
                best = (int32_t)x;
        }
        ids[i] = best;
    }
}

/* Softmax over all router logits, top-k, and the weights: renormalised over the selected experts
 * (llama/Mixtral, qwen3moe: equal to a softmax over the top-k logits) or the plain probabilities
 * (qwen2moe, olmoe), as llama.cpp's norm_w flag of each architecture. */
static void route(mc_engine *e, const eng_layer *L, int64_t n)
{
    int64_t ne = L->n_exp, k = L->top_k;
    for (int64_t t = 0; t < n; t++) {
        float *p = e->rlog + t * ne;
        int32_t *ids = e->sel + t * k;
        float *w = e->selw + t * k;
        mc_kernels_softmax(p, ne);
        eng_top_k(p, ne, k, ids);
        double sum = 0;
        for (int64_t i = 0; i < k; i++)
            sum += p[ids[i]];
        for (int64_t i = 0; i < k; i++)
            w[i] = e->norm_topk ? (float)(p[ids[i]] / sum) : p[ids[i]];
    }
}

/* Counting sort of the (token, choice) pairs by expert: slots [off[x], off[x+1]) belong to
 * expert x, in token order. */
static void group(mc_engine *e, const eng_layer *L, int64_t n)
{
    int64_t ne = L->n_exp, k = L->top_k;
    memset(e->exp_cnt, 0, (size_t)ne * sizeof *e->exp_cnt);
    for (int64_t i = 0; i < n * k; i++)
        e->exp_cnt[e->sel[i]]++;
    e->exp_off[0] = 0;
    for (int64_t x = 0; x < ne; x++) {
        e->exp_off[x + 1] = e->exp_off[x] + e->exp_cnt[x];
        e->exp_cur[x] = e->exp_off[x];
    }
    for (int64_t t = 0; t < n; t++)
        for (int64_t i = 0; i < k; i++) {
            int64_t s = e->exp_cur[e->sel[t * k + i]]++;
            e->slot_tok[s] = (int32_t)t;
            e->slot_exp[s] = e->sel[t * k + i];
            e->pair_slot[t * k + i] = (int32_t)s;
        }
}

/* ---- experts ---- */

typedef struct gather_ctx {
    const mc_engine *e;
    const uint8_t *src[2];
    size_t bytes[2];
} gather_ctx;

static void gather_rows(void *ctx, int64_t b, int64_t end, int worker)
{
    const gather_ctx *c = ctx;
    const mc_engine *e = c->e;
    (void)worker;
    for (int64_t s = b; s < end; s++)
        for (int i = 0; i < 2; i++)
            if (c->src[i])
                memcpy(e->gx[i] + (size_t)s * e->gx_stride,
                       c->src[i] + (size_t)e->slot_tok[s] * e->act.stride, c->bytes[i]);
}

/* Input rows of expert x for weights prepared as src (slot block i): the prepared rows
 * themselves when the expert takes every token (they are in token order), else the gather. */
static const uint8_t *expert_x(const mc_engine *e, int64_t x, int64_t n, const uint8_t *src, int i,
                               size_t *stride)
{
    if (e->exp_cnt[x] == n) {
        *stride = e->act.stride;
        return src;
    }
    *stride = e->gx_stride;
    return e->gx[i] + (size_t)e->exp_off[x] * e->gx_stride;
}

/* Whether expert x takes part in this round: activated, and resident when there is a cache. */
static int in_round(const mc_engine *e, int64_t x)
{
    return e->exp_cnt[x] && (!e->xc_on || e->xc_on[x]);
}

/* The matrix views of the routed experts: the binding's, or the cache slots'. */
static void expert_mats(const mc_engine *e, const eng_layer *L, const eng_mat *m[3])
{
    m[0] = e->xc ? eng_xc_mats(e, L, 0) : L->xg;
    m[1] = e->xc ? eng_xc_mats(e, L, 1) : L->xu;
    m[2] = e->xc ? eng_xc_mats(e, L, 2) : L->xd;
}

/* Region B: gate and up of every expert of the round (and of the shared expert in the first). */
static void experts_gate_up(mc_engine *e, const eng_layer *L, int64_t n, int shared)
{
    int64_t h = e->hidden, ff = L->ff;
    const eng_mat *m[3];
    expert_mats(e, L, m);
    const eng_mat *g0 = &L->xg[0], *u0 = &L->xu[0]; /* types only */
    gather_ctx gc = {e, {NULL, NULL}, {0, 0}};
    eng_act_reset(e); /* the router's inputs are done with: gate, up and shared need <= 4 types */
    gc.src[0] = eng_act_prep(e, e->xn, h, n, h, g0->t);
    gc.src[1] = u0->t == g0->t ? NULL : eng_act_prep(e, e->xn, h, n, h, u0->t);
    gc.bytes[0] = mc_kernels_act_row_bytes(g0->t, h);
    gc.bytes[1] = gc.src[1] ? mc_kernels_act_row_bytes(u0->t, h) : 0;
    int need_gather = 0;
    for (int64_t x = 0; x < L->n_exp; x++)
        need_gather |= e->exp_cnt[x] > 0 && e->exp_cnt[x] < n;
    if (need_gather)
        eng_par(e, n * L->top_k, 64, gather_rows, &gc);
    int j = 0;
    for (int64_t x = 0; x < L->n_exp; x++) {
        if (!in_round(e, x))
            continue;
        size_t sg = 0, su = 0;
        const uint8_t *xg = expert_x(e, x, n, gc.src[0], 0, &sg), *xu = xg;
        su = sg;
        if (gc.src[1])
            xu = expert_x(e, x, n, gc.src[1], 1, &su);
        float *yg = e->eg + e->exp_off[x] * ff, *yu = e->eu + e->exp_off[x] * ff;
        j = eng_job_add(e, j, &m[0][x], xg, sg, e->exp_cnt[x], yg, ff);
        j = eng_job_add(e, j, &m[1][x], xu, su, e->exp_cnt[x], yu, ff);
    }
    if (L->sh_ff && shared) {
        const uint8_t *a = eng_act_prep(e, e->xn, h, n, h, L->sg.t);
        const uint8_t *b = eng_act_prep(e, e->xn, h, n, h, L->su.t);
        j = eng_job_add(e, j, &L->sg, a, e->act.stride, n, e->hg, L->sh_ff);
        j = eng_job_add(e, j, &L->su, b, e->act.stride, n, e->hu, L->sh_ff);
    }
    eng_run_jobs(e, j);
}

typedef struct down_ctx {
    const mc_engine *e;
    const eng_layer *L;
    int64_t s0; /* first slot */
} down_ctx;

/* Prepares each slot's SwiGLU output for its expert's down weights (slots s0 + [b, end)). */
static void prep_down_rows(void *ctx, int64_t b, int64_t end, int worker)
{
    const down_ctx *c = ctx;
    const mc_engine *e = c->e;
    int64_t ff = c->L->ff;
    (void)worker;
    for (int64_t s = c->s0 + b; s < c->s0 + end; s++)
        mc_kernels_quant_act(c->L->xd[e->slot_exp[s]].t, e->eg + s * ff,
                             e->gd + (size_t)s * e->gd_stride, ff);
}

/* SwiGLU and the down projection's inputs of the round's slots: all at once when the round has
 * every activated expert, else expert by expert (each expert's slots are contiguous). */
static void experts_swiglu(mc_engine *e, const eng_layer *L, int64_t n, int all)
{
    int64_t ff = L->ff;
    if (all) {
        swiglu(e, e->eg, e->eu, n * L->top_k, ff);
        down_ctx dc = {e, L, 0};
        eng_par(e, n * L->top_k, 64, prep_down_rows, &dc);
        return;
    }
    for (int64_t x = 0; x < L->n_exp; x++) {
        if (!in_round(e, x))
            continue;
        int64_t s0 = e->exp_off[x], cnt = e->exp_cnt[x];
        swiglu(e, e->eg + s0 * ff, e->eu + s0 * ff, cnt, ff);
        down_ctx dc = {e, L, s0};
        eng_par(e, cnt, 64, prep_down_rows, &dc);
    }
}

/* Region C: the down projection of the round's experts (and of the shared expert in the first). */
static void experts_down(mc_engine *e, const eng_layer *L, int64_t n, int shared, int all)
{
    int64_t h = e->hidden;
    const eng_mat *m[3];
    expert_mats(e, L, m);
    experts_swiglu(e, L, n, all);
    int j = 0;
    for (int64_t x = 0; x < L->n_exp; x++)
        if (in_round(e, x))
            j = eng_job_add(e, j, &m[2][x], e->gd + (size_t)e->exp_off[x] * e->gd_stride,
                            e->gd_stride, e->exp_cnt[x], e->ed + e->exp_off[x] * h, h);
    if (L->sh_ff && shared) {
        swiglu(e, e->hg, e->hu, n, L->sh_ff);
        eng_act_reset(e);
        const uint8_t *a = eng_act_prep(e, e->hg, L->sh_ff, n, L->sh_ff, L->sd.t);
        j = eng_job_add(e, j, &L->sd, a, e->act.stride, n, e->tmp, h);
    }
    eng_run_jobs(e, j);
}

/* x[t] += sum_k w_k expert_k(t) (+ sigmoid(gate . xn) shared(t)), in the token's top-k order. */
static void combine_rows(void *ctx, int64_t b, int64_t end, int worker)
{
    const down_ctx *c = ctx;
    const mc_engine *e = c->e;
    const eng_layer *L = c->L;
    int64_t h = e->hidden, k = L->top_k;
    (void)worker;
    for (int64_t t = b; t < end; t++) {
        float *acc = e->xn + t * h, *x = e->x + t * h;
        memset(acc, 0, (size_t)h * sizeof *acc);
        for (int64_t i = 0; i < k; i++)
            mc_kernels_axpy(acc, e->selw[t * k + i], e->ed + e->pair_slot[t * k + i] * h, h);
        if (L->sh_ff) {
            float g = L->sgate.rows ? (float)(1.0 / (1.0 + exp(-(double)e->shg[t]))) : 1.0f;
            mc_kernels_axpy(acc, g, e->tmp + t * h, h);
        }
        mc_kernels_add(x, x, acc, h);
    }
}

/* The routed experts with a cache: rounds of resident experts (one round unless a step needs
 * more experts in the layer than there are slots); the prefetch is queued after the first
 * round's experts are resident, so its reads overlap this layer's compute. */
static mc_err cached_experts(mc_engine *e, const eng_layer *L, int64_t n, mc_diag *d)
{
    int more = 1;
    for (int r = 0; more; r++) {
        mc_err err = eng_xc_round(e, L, r, &more, d);
        if (err)
            return err;
        if (r == 0)
            eng_xc_prefetch(e, L, n);
        experts_gate_up(e, L, n, r == 0);
        experts_down(e, L, n, r == 0, r == 0 && !more);
    }
    return MC_OK;
}

/* t: when the layer's FFN started (its norm counts as routing). */
static mc_err moe_ffn(mc_engine *e, const eng_layer *L, int64_t n, mc_ns t, mc_diag *d)
{
    int64_t h = e->hidden;
    eng_act_reset(e);
    const uint8_t *xr = eng_act_prep(e, e->xn, h, n, h, L->router.t);
    int j = eng_job_add(e, 0, &L->router, xr, e->act.stride, n, e->rlog, L->n_exp);
    if (L->sgate.rows) {
        const uint8_t *xs = eng_act_prep(e, e->xn, h, n, h, L->sgate.t);
        j = eng_job_add(e, j, &L->sgate, xs, e->act.stride, n, e->shg, 1);
    }
    eng_run_jobs(e, j);
    if (e->arch == ENG_DEEPSEEK2)
        eng_route_deepseek2(e, L, n);
    else
        route(e, L, n);
    group(e, L, n);
    eng_trace_layer(e, L, n);
    t = eng_lap(e, MC_PHASE_ROUTE, t);
    if (e->xc) {
        mc_err err = cached_experts(e, L, n, d);
        if (err)
            return err;
    } else {
        experts_gate_up(e, L, n, 1);
        experts_down(e, L, n, 1, 1);
    }
    down_ctx dc = {e, L, 0};
    eng_par(e, n, 32, combine_rows, &dc);
    eng_lap(e, MC_PHASE_EXPERTS, t);
    return MC_OK;
}

mc_err eng_ffn(mc_engine *e, const eng_layer *L, int64_t n, mc_diag *d)
{
    mc_ns t = mc_now_ns();
    eng_norm_rows(e, e->x, e->xn, L->ffn_norm, n);
    if (L->moe)
        return moe_ffn(e, L, n, t, d);
    dense_ffn(e, L, n);
    eng_lap(e, MC_PHASE_DENSE, t);
    return MC_OK;
}
