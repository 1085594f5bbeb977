/* attn.c: the attention block of one layer for every token of a step: RMSNorm, the q/k/v
 * projections of all tokens in one parallel region, optional biases and q/k norms, RoPE, the K/V
 * rows written into each token's own sequence slot, causal GQA attention per (token, head)
 * against that slot, the output projection and the residual add.
 * Depends on the kernels (all arithmetic) and par.c; allocates nothing. */
#include "engine_impl.h"

#include <math.h>
#include <string.h>

/* K (kv = 0) or V (kv = 1) row of kv head g at position pos of sequence slot s, layer l. */
static uint8_t *kv_row(const mc_engine *e, int64_t s, int64_t l, int kv, int64_t g, int64_t pos)
{
    size_t head = (size_t)(((s * e->n_layers + l) * 2 + kv) * e->n_kv + g);
    return e->kv + head * e->kv_head_bytes + (size_t)pos * e->kv_row_bytes;
}

typedef struct norm_ctx {
    const float *in;
    float *out;
    const float *w;
    int64_t n;
    float eps;
} norm_ctx;

static void norm_rows(void *ctx, int64_t b, int64_t end, int worker)
{
    const norm_ctx *c = ctx;
    (void)worker;
    for (int64_t t = b; t < end; t++)
        mc_kernels_rmsnorm(c->out + t * c->n, c->in + t * c->n, c->w, c->n, c->eps);
}

void eng_norm_rows(mc_engine *e, const float *in, float *out, const float *w, int64_t n_tok)
{
    norm_ctx c = {in, out, w, e->hidden, e->eps};
    eng_par(e, n_tok, 16, norm_rows, &c);
}

typedef struct layer_ctx {
    mc_engine *e;
    const eng_layer *L;
    int64_t l;
} layer_ctx;

static void qk_norm(const mc_engine *e, const eng_layer *L, float *q, float *k)
{
    if (!L->q_norm)
        return;
    if (L->qk_norm_full) {
        mc_kernels_rmsnorm(q, q, L->q_norm, e->q_dim, e->eps);
        mc_kernels_rmsnorm(k, k, L->k_norm, e->kv_dim, e->eps);
        return;
    }
    for (int64_t h = 0; h < e->n_heads; h++)
        mc_kernels_rmsnorm(q + h * e->hd, q + h * e->hd, L->q_norm, e->hd, e->eps);
    for (int64_t g = 0; g < e->n_kv; g++)
        mc_kernels_rmsnorm(k + g * e->hd, k + g * e->hd, L->k_norm, e->hd, e->eps);
}

/* Biases, q/k norms, RoPE and the K/V cache writes of tokens [b, end). */
static void qkv_post(void *ctx, int64_t b, int64_t end, int worker)
{
    const layer_ctx *c = ctx;
    const mc_engine *e = c->e;
    const eng_layer *L = c->L;
    (void)worker;
    for (int64_t t = b; t < end; t++) {
        float *q = e->q + t * e->q_dim, *k = e->k + t * e->kv_dim, *v = e->v + t * e->kv_dim;
        if (L->bq)
            mc_kernels_add(q, q, L->bq, e->q_dim);
        if (L->bk)
            mc_kernels_add(k, k, L->bk, e->kv_dim);
        if (L->bv)
            mc_kernels_add(v, v, L->bv, e->kv_dim);
        qk_norm(e, L, q, k);
        const float *cs = e->rope_cs + t * e->n_rot;
        mc_kernels_rope(q, e->n_heads, e->hd, e->n_rot, cs, e->rope_neox);
        mc_kernels_rope(k, e->n_kv, e->hd, e->n_rot, cs, e->rope_neox);
        for (int64_t g = 0; g < e->n_kv; g++) {
            int64_t s = e->tok_seq[t], pos = e->tok_pos[t];
            mc_kernels_quant_row(e->kv_t, k + g * e->hd, kv_row(e, s, c->l, 0, g, pos), e->hd);
            mc_kernels_quant_row(e->kv_t, v + g * e->hd, kv_row(e, s, c->l, 1, g, pos), e->hd);
        }
    }
}

/* Causal attention of (token, head) pairs [b, end): positions 0..pos of the token's own slot. */
static void attn_pairs(void *ctx, int64_t b, int64_t end, int worker)
{
    const layer_ctx *c = ctx;
    const mc_engine *e = c->e;
    int64_t group = e->n_heads / e->n_kv;
    float *sc = e->scores + (size_t)worker * (size_t)e->n_ctx;
    float scale = (float)(1.0 / sqrt((double)e->hd));
    for (int64_t i = b; i < end; i++) {
        int64_t t = i / e->n_heads, h = i % e->n_heads, g = h / group;
        int64_t s = e->tok_seq[t], n = e->tok_pos[t] + 1;
        const float *q = e->q + t * e->q_dim + h * e->hd;
        float *out = e->att + t * e->q_dim + h * e->hd;
        mc_kernels_attn_scores(sc, q, kv_row(e, s, c->l, 0, g, 0), e->kv_t, e->kv_row_bytes, n,
                               e->hd, scale);
        mc_kernels_softmax(sc, n);
        memset(out, 0, (size_t)e->hd * sizeof *out);
        mc_kernels_attn_accum(out, sc, kv_row(e, s, c->l, 1, g, 0), e->kv_t, e->kv_row_bytes, n,
                              e->hd);
    }
}

typedef struct resid_ctx {
    const mc_engine *e;
    const float *bias;
} resid_ctx;

/* x[t] += tmp[t] (+ bias) */
static void resid_rows(void *ctx, int64_t b, int64_t end, int worker)
{
    const resid_ctx *c = ctx;
    const mc_engine *e = c->e;
    (void)worker;
    for (int64_t t = b; t < end; t++) {
        float *x = e->x + t * e->hidden;
        mc_kernels_add(x, x, e->tmp + t * e->hidden, e->hidden);
        if (c->bias)
            mc_kernels_add(x, x, c->bias, e->hidden);
    }
}

void eng_residual(mc_engine *e, const float *bias, int64_t n_tok)
{
    resid_ctx c = {e, bias};
    eng_par(e, n_tok, 32, resid_rows, &c);
}

static void qkv_proj(mc_engine *e, const eng_layer *L, int64_t n)
{
    int64_t h = e->hidden;
    size_t st = e->act.stride;
    eng_act_reset(e);
    const uint8_t *xq = eng_act_prep(e, e->xn, h, n, h, L->wq.t);
    const uint8_t *xk = eng_act_prep(e, e->xn, h, n, h, L->wk.t);
    const uint8_t *xv = eng_act_prep(e, e->xn, h, n, h, L->wv.t);
    int j = eng_job_add(e, 0, &L->wq, xq, st, n, e->q, e->q_dim);
    j = eng_job_add(e, j, &L->wk, xk, st, n, e->k, e->kv_dim);
    j = eng_job_add(e, j, &L->wv, xv, st, n, e->v, e->kv_dim);
    eng_run_jobs(e, j);
}

void eng_attention(mc_engine *e, const eng_layer *L, int64_t n)
{
    layer_ctx c = {e, L, (int64_t)(L - e->L)};
    eng_norm_rows(e, e->x, e->xn, L->attn_norm, n);
    qkv_proj(e, L, n);
    eng_par(e, n, 8, qkv_post, &c);
    int64_t pairs = n * e->n_heads, keys = 0;
    for (int64_t t = 0; t < n; t++)
        keys += e->tok_pos[t] + 1;
    /* a few thousand key rows are cheaper than waking the pool */
    if (e->n_threads == 1 || keys * e->n_heads * e->hd < (1 << 16))
        attn_pairs(&c, 0, pairs, 0);
    else
        mc_pool_for(e->pool, pairs, (pairs + 8 * e->n_threads - 1) / (8 * e->n_threads),
                    attn_pairs, &c);
    eng_act_reset(e);
    const uint8_t *xo = eng_act_prep(e, e->att, e->q_dim, n, e->q_dim, L->wo.t);
    eng_run_jobs(e, eng_job_add(e, 0, &L->wo, xo, e->act.stride, n, e->tmp, e->hidden));
    eng_residual(e, L->bo, n);
}
