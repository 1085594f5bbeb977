/* attn_kv.c: the KV-cache layout and causal GQA attention of the tokens of a step against their
 * own sequence slots.
 *
 * Layout: [slot][layer][K|V][kv head][position][head_dim] of kv_t (f16 or f32), so the keys of one
 * head are one contiguous run of rows (streamed, never strided).
 *
 * Two ways to attend, same arithmetic up to float rounding:
 *   pairs   each (token, head) computes its scores against positions 0..pos, softmax, and the
 *           weighted sum of the values (kernels attn_scores / softmax / attn_accum). Decode items
 *           and short chunks; parallel over the pairs.
 *   block   an item of >= ENG_ATT_BLOCK tokens (a prefill chunk), per head: the scores of all its
 *           tokens against all keys up to its last position as one matmul (the K rows are the
 *           weight matrix, the q rows the activations), a causal softmax per row (keys past a
 *           token's position get weight 0), then the output as a second matmul against the
 *           values transposed once per (item, kv head). Both matmuls take the kernels' GEMM path,
 *           where the pairs path re-reads the cache once per (token, head) at vector speed.
 * Depends on the kernels and par.c; allocates nothing. */
#include "engine_impl.h"

#include <math.h>
#include <string.h>

uint8_t *eng_kv_row(const mc_engine *e, int64_t s, int64_t l, int kv, int64_t g, int64_t pos)
{
    size_t head = (size_t)(((s * e->n_layers + l) * 2 + kv) * e->n_kv + g);
    return e->kv + head * e->kv_head_bytes + (size_t)pos * e->kv_row_bytes;
}

/* ---- pairs ----------------------------------------------------------------------------------- */

typedef struct pair_ctx {
    const mc_engine *e;
    int64_t l;
    const int32_t *toks; /* tokens that take this path */
} pair_ctx;

static void attn_pairs(void *ctx, int64_t b, int64_t end, int worker)
{
    const pair_ctx *c = ctx;
    const mc_engine *e = c->e;
    int64_t group = e->n_heads / e->n_kv;
    float *sc = e->scores + (size_t)worker * (size_t)e->n_ctx;
    float scale = (float)(1.0 / sqrt((double)e->hd));
    for (int64_t i = b; i < end; i++) {
        int64_t t = c->toks[i / e->n_heads], h = i % e->n_heads, g = h / group;
        int64_t s = e->tok_seq[t], n = e->tok_pos[t] + 1;
        const float *q = e->q + t * e->q_dim + h * e->hd;
        float *out = e->att + t * e->q_dim + h * e->hd;
        mc_kernels_attn_scores(sc, q, eng_kv_row(e, s, c->l, 0, g, 0), e->kv_t, e->kv_row_bytes, n,
                               e->hd, scale);
        mc_kernels_softmax(sc, n);
        memset(out, 0, (size_t)e->hd * sizeof *out);
        mc_kernels_attn_accum(out, sc, eng_kv_row(e, s, c->l, 1, g, 0), e->kv_t, e->kv_row_bytes, n,
                              e->hd);
    }
}

static void run_pairs(mc_engine *e, int64_t l, const int32_t *toks, int64_t n_tok)
{
    pair_ctx c = {e, l, toks};
    int64_t pairs = n_tok * e->n_heads, keys = 0;
    for (int64_t i = 0; i < n_tok; i++)
        keys += e->tok_pos[toks[i]] + 1;
    /* a few thousand key rows are cheaper than waking the pool */
    if (e->n_threads == 1 || keys * e->n_heads * e->hd < (1 << 16))
        attn_pairs(&c, 0, pairs, 0);
    else
        mc_pool_for(e->pool, pairs, (pairs + 8 * e->n_threads - 1) / (8 * e->n_threads), attn_pairs,
                    &c);
}

/* ---- block ----------------------------------------------------------------------------------- */

typedef struct block_ctx {
    const mc_engine *e;
    const uint8_t *v; /* V rows of the kv head */
    int64_t nk, p0;   /* keys, position of the item's first token */
} block_ctx;

/* VT[j][k] = V[k][j] for key rows [b, end) */
static void transpose_v(void *ctx, int64_t b, int64_t end, int worker)
{
    const block_ctx *c = ctx;
    const mc_engine *e = c->e;
    float row[1024];
    (void)worker;
    for (int64_t k = b; k < end; k++) {
        mc_kernels_dequant_row(e->kv_t, c->v + (size_t)k * e->kv_row_bytes, row, e->hd);
        for (int64_t j = 0; j < e->hd; j++)
            e->att_vt[j * c->nk + k] = row[j];
    }
}

/* Row t of the scores: scaled, softmax over keys 0..p0+t, zero after. */
static void causal_softmax(void *ctx, int64_t b, int64_t end, int worker)
{
    const block_ctx *c = ctx;
    const mc_engine *e = c->e;
    float scale = (float)(1.0 / sqrt((double)e->hd));
    (void)worker;
    for (int64_t t = b; t < end; t++) {
        float *r = e->att_s + t * c->nk;
        int64_t valid = c->p0 + t + 1;
        mc_kernels_scale(r, scale, valid);
        mc_kernels_softmax(r, valid);
        memset(r + valid, 0, (size_t)(c->nk - valid) * sizeof *r);
    }
}

/* Item of n tokens from row t0 (slot s, positions p0 .. p0 + n - 1). */
static void run_block(mc_engine *e, int64_t l, int64_t t0, int64_t n)
{
    int64_t s = e->tok_seq[t0], p0 = e->tok_pos[t0], nk = p0 + n, group = e->n_heads / e->n_kv;
    block_ctx c = {e, NULL, nk, p0};
    for (int64_t g = 0; g < e->n_kv; g++) {
        eng_mat k = {e->kv_t,        eng_kv_row(e, s, l, 0, g, 0), nk, e->hd, e->kv_row_bytes,
                     MC_WLAYOUT_GGML};
        eng_mat vt = {MC_DT_F32, (const uint8_t *)e->att_vt, e->hd,
                      nk,        (size_t)nk * sizeof(float), MC_WLAYOUT_GGML};
        c.v = eng_kv_row(e, s, l, 1, g, 0);
        eng_par(e, nk, 64, transpose_v, &c);
        for (int64_t h = g * group; h < (g + 1) * group; h++) {
            const float *q = e->q + t0 * e->q_dim + h * e->hd;
            size_t qs = (size_t)e->q_dim * sizeof(float);
            eng_run_jobs(e, eng_job_add(e, 0, &k, q, qs, n, e->att_s, nk));
            eng_par(e, n, 8, causal_softmax, &c);
            eng_run_jobs(e, eng_job_add(e, 0, &vt, e->att_s, (size_t)nk * sizeof(float), n,
                                        e->att + t0 * e->q_dim + h * e->hd, e->q_dim));
        }
    }
}

void eng_attend(mc_engine *e, int64_t l, int64_t n)
{
    int64_t n_pair = 0;
    for (int i = 0; i < e->n_step_items; i++) {
        int64_t t0 = e->item_t0[i], nt = e->item_n[i];
        if (nt >= ENG_ATT_BLOCK && e->hd <= 1024) {
            run_block(e, l, t0, nt);
            continue;
        }
        for (int64_t t = t0; t < t0 + nt; t++)
            e->pair_tok[n_pair++] = (int32_t)t;
    }
    MC_ENG_ASSERT(n_pair <= n);
    if (n_pair)
        run_pairs(e, l, e->pair_tok, n_pair);
}
