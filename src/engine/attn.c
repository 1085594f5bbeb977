/* attn.c: the attention block of one layer for every token of a step: RMSNorm, the q/k/v
 * projections of all tokens in one parallel region, optional biases and q/k norms, RoPE, the K/V
 * rows written into each token's own sequence slot, causal GQA attention against that slot
 * (attn_kv.c), the output projection and the residual add.
 * Depends on the kernels (all arithmetic) and par.c; allocates nothing. */
#include "engine_impl.h"

#include <math.h>
#include <string.h>

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
            mc_kernels_quant_row(e->kv_t, k + g * e->hd, eng_kv_row(e, s, c->l, 0, g, pos), e->hd);
            mc_kernels_quant_row(e->kv_t, v + g * e->hd, eng_kv_row(e, s, c->l, 1, g, pos), e->hd);
        }
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
    if (e->mla) {
        eng_attention_mla(e, L, n);
        return;
    }
    layer_ctx c = {e, L, (int64_t)(L - e->L)};
    eng_norm_rows(e, e->x, e->xn, L->attn_norm, n);
    qkv_proj(e, L, n);
    eng_par(e, n, 8, qkv_post, &c);
    eng_attend(e, c.l, n);
    eng_act_reset(e);
    const uint8_t *xo = eng_act_prep(e, e->att, e->q_dim, n, e->q_dim, L->wo.t);
    eng_run_jobs(e, eng_job_add(e, 0, &L->wo, xo, e->act.stride, n, e->tmp, e->hidden));
    eng_residual(e, L->bo, n);
}
