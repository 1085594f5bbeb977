/* bind.c: finds every tensor the engine's architecture needs in the mapped GGUF, checks its shape
 * and storage type before the first token, and binds it: matrices stay in the mapping (eng_mat
 * views), 1-D tensors (norms, biases) are copied to f32. Any tensor in the file that the engine
 * would not use is an error too (it would be silently ignored otherwise).
 * Depends on the GGUF reader, the model description and the kernels' type table; no I/O. */
#include "engine_impl.h"

#include <stdio.h>
#include <string.h>

typedef struct bctx {
    mc_engine *e;
    mc_diag *d;
    const char *file;
    uint8_t *used; /* per tensor index */
    float *vp;     /* next free float of e->vecs */
    float *vend;
    char name[MC_GGUF_MAX_NAME + 16];
} bctx;

static const char *tname(bctx *b, int64_t layer, const char *base, const char *suffix)
{
    if (layer < 0)
        snprintf(b->name, sizeof b->name, "%s.%s", base, suffix);
    else
        snprintf(b->name, sizeof b->name, "blk.%lld.%s.%s", (long long)layer, base, suffix);
    return b->name;
}

static void mark_used(bctx *b, const mc_gguf_tensor *t)
{
    uint64_t n = mc_gguf_tensor_count(b->e->g);
    const mc_gguf_tensor *t0 = mc_gguf_tensor_at(b->e->g, 0);
    uint64_t i = (uint64_t)(t - t0);
    if (t >= t0 && i < n && mc_gguf_tensor_at(b->e->g, i) == t) {
        b->used[i] = 1;
        return;
    }
    for (i = 0; i < n; i++)
        if (mc_gguf_tensor_at(b->e->g, i) == t)
            b->used[i] = 1;
}

static void fmt_dims(char *buf, size_t n, const int64_t *dims, uint32_t nd)
{
    size_t off = (size_t)snprintf(buf, n, "[");
    for (uint32_t i = 0; i < nd && off < n; i++)
        off += (size_t)snprintf(buf + off, n - off, "%s%lld", i ? ", " : "", (long long)dims[i]);
    if (off < n)
        snprintf(buf + off, n - off, "]");
}

/* The tensor's storage type, which the kernels must support. */
static mc_err check_type(bctx *b, const mc_gguf_tensor *t, mc_dtype *out)
{
    if (mc_ggml_to_dtype(t->type, out) && mc_kernels_type_supported(*out))
        return MC_OK;
    return mc_fail(b->d, MC_ERR_UNSUPPORTED,
                   "engine: %s: tensor '%s': type %s is not supported (supported: f32, f16, bf16, "
                   "q8_0, q4_0, q4_k, q6_k)",
                   b->file, t->name, mc_ggml_type_name(t->type));
}

/* Looks up name; it must have exactly nd dims equal to want (what names the expectation). */
static mc_err find(bctx *b, const char *name, int required, uint32_t nd, const int64_t *want,
                   const char *what, const mc_gguf_tensor **out)
{
    const mc_gguf_tensor *t = mc_gguf_find_tensor(b->e->g, name);
    *out = NULL;
    if (!t)
        return required ? mc_fail(b->d, MC_ERR_FORMAT, "engine: %s: missing tensor '%s' (%s)",
                                  b->file, name, what)
                        : MC_OK;
    int ok = 1; /* unused dims are 1 in the reader, so [n] matches [n, 1] and back */
    for (uint32_t i = 0; ok && i < MC_GGUF_MAX_DIMS; i++)
        ok = t->dims[i] == (i < nd ? want[i] : 1);
    if (!ok) {
        char got[96], exp[96];
        fmt_dims(got, sizeof got, t->dims, t->n_dims);
        fmt_dims(exp, sizeof exp, want, nd);
        return mc_fail(b->d, MC_ERR_FORMAT, "engine: %s: tensor '%s' has dims %s, expected %s (%s)",
                       b->file, name, got, exp, what);
    }
    mark_used(b, t);
    *out = t;
    return MC_OK;
}

/* A matrix [cols, rows] (ggml order), or [cols, rows, n3] when n3 > 0. */
static mc_err bind_mat(bctx *b, const char *name, int required, int64_t cols, int64_t rows,
                       int64_t n3, const char *what, eng_mat *out)
{
    int64_t want[3] = {cols, rows, n3};
    const mc_gguf_tensor *t;
    memset(out, 0, sizeof *out);
    mc_err err = find(b, name, required, n3 > 0 ? 3 : 2, want, what, &t);
    if (err || !t)
        return err;
    if ((err = check_type(b, t, &out->t)))
        return err;
    if ((err = mc_kernels_row_bytes(out->t, cols, &out->row_bytes, b->d))) {
        mc_diag_prefix(b->d, "engine: %s: tensor '%s'", b->file, name);
        return err;
    }
    out->p = t->data;
    out->rows = rows;
    out->cols = cols;
    return MC_OK;
}

/* A vector of n values, copied to f32 (any supported type). */
static mc_err bind_vec(bctx *b, const char *name, int required, int64_t n, const char *what,
                       const float **out)
{
    const mc_gguf_tensor *t;
    mc_dtype dt;
    *out = NULL;
    mc_err err = find(b, name, required, 1, &n, what, &t);
    if (err || !t)
        return err;
    if ((err = check_type(b, t, &dt)))
        return err;
    if (n % mc_kernels_block_elems(dt) != 0 || b->vend - b->vp < n)
        return mc_fail(b->d, MC_ERR_FORMAT, "engine: %s: tensor '%s': %lld elements of type %s",
                       b->file, name, (long long)n, mc_ggml_type_name(t->type));
    mc_kernels_dequant_row(dt, t->data, b->vp, n);
    *out = b->vp;
    b->vp += n;
    return MC_OK;
}

static mc_err bind_attention(bctx *b, int64_t l, eng_layer *L)
{
    mc_engine *e = b->e;
    int64_t h = e->hidden, qd = e->q_dim, kd = e->kv_dim;
    mc_err err =
        bind_vec(b, tname(b, l, "attn_norm", "weight"), 1, h, "embedding_length", &L->attn_norm);
    if (!err)
        err = bind_mat(b, tname(b, l, "attn_q", "weight"), 1, h, qd, 0,
                       "embedding_length, head_count x head dim", &L->wq);
    if (!err)
        err = bind_mat(b, tname(b, l, "attn_k", "weight"), 1, h, kd, 0,
                       "embedding_length, head_count_kv x head dim", &L->wk);
    if (!err)
        err = bind_mat(b, tname(b, l, "attn_v", "weight"), 1, h, kd, 0,
                       "embedding_length, head_count_kv x head dim", &L->wv);
    if (!err)
        err = bind_mat(b, tname(b, l, "attn_output", "weight"), 1, qd, h, 0,
                       "head_count x head dim, embedding_length", &L->wo);
    if (!err)
        err = bind_vec(b, tname(b, l, "attn_q", "bias"), 0, qd, "q bias", &L->bq);
    if (!err)
        err = bind_vec(b, tname(b, l, "attn_k", "bias"), 0, kd, "k bias", &L->bk);
    if (!err)
        err = bind_vec(b, tname(b, l, "attn_v", "bias"), 0, kd, "v bias", &L->bv);
    if (!err)
        err = bind_vec(b, tname(b, l, "attn_output", "bias"), 0, h, "output bias", &L->bo);
    return err;
}

/* The low-rank q pair (attn_q_a, its norm, attn_q_b) or the plain attn_q. */
static mc_err bind_mla_q(bctx *b, int64_t l, eng_layer *L)
{
    mc_engine *e = b->e;
    int64_t h = e->hidden, qd = e->n_heads * e->kd, r = e->q_lora;
    if (r <= 0)
        return bind_mat(b, tname(b, l, "attn_q", "weight"), 1, h, qd, 0,
                        "embedding_length, head_count x key_length", &L->wq);
    mc_err err = bind_mat(b, tname(b, l, "attn_q_a", "weight"), 1, h, r, 0,
                          "embedding_length, q_lora_rank", &L->wq_a);
    if (!err)
        err =
            bind_vec(b, tname(b, l, "attn_q_a_norm", "weight"), 1, r, "q_lora_rank", &L->q_a_norm);
    if (!err)
        err = bind_mat(b, tname(b, l, "attn_q_b", "weight"), 1, r, qd, 0,
                       "q_lora_rank, head_count x key_length", &L->wq_b);
    return err;
}

typedef struct split_kv {
    const mc_gguf_tensor *t[2]; /* attn_k_b, attn_v_b */
    mc_dtype dt[2];
    size_t rb[2];
} split_kv;

/* Head h of attn_kv_b from the split tensors into own (rows of ro bytes of type dt): k_nope's
 * rows are the columns of k_b[h] ([kv_lora rows of nope]), v's rows are v_b[h]'s rows. */
static void kv_b_head(const mc_engine *e, const split_kv *s, int64_t h, mc_dtype dt, size_t ro,
                      uint8_t *own, float *kt, float *row)
{
    int64_t c = e->kv_lora, nope = e->nope, vd = e->vd, bw = nope + vd;
    const uint8_t *k = s->t[0]->data, *v = s->t[1]->data;
    for (int64_t r = 0; r < c; r++) {
        mc_kernels_dequant_row(s->dt[0], k + (size_t)(h * c + r) * s->rb[0], row, nope);
        for (int64_t i = 0; i < nope; i++)
            kt[i * c + r] = row[i];
    }
    for (int64_t i = 0; i < nope; i++)
        mc_kernels_quant_row(dt, kt + i * c, own + (size_t)(h * bw + i) * ro, c);
    for (int64_t j = 0; j < vd; j++) {
        mc_kernels_dequant_row(s->dt[1], v + (size_t)(h * vd + j) * s->rb[1], row, c);
        mc_kernels_quant_row(dt, row, own + (size_t)(h * bw + nope + j) * ro, c);
    }
}

static mc_err find_split(bctx *b, int64_t l, split_kv *s)
{
    mc_engine *e = b->e;
    int64_t wk[3] = {e->nope, e->kv_lora, e->n_heads}, wv[3] = {e->kv_lora, e->vd, e->n_heads};
    mc_err err = find(b, tname(b, l, "attn_k_b", "weight"), 1, 3, wk,
                      "nope dims, kv_lora_rank, head_count", &s->t[0]);
    if (!err)
        err = find(b, tname(b, l, "attn_v_b", "weight"), 1, 3, wv,
                   "kv_lora_rank, value dims, head_count", &s->t[1]);
    for (int i = 0; !err && i < 2; i++)
        if (!(err = check_type(b, s->t[i], &s->dt[i])))
            err = mc_kernels_row_bytes(s->dt[i], s->t[i]->dims[0], &s->rb[i], b->d);
    if (!err && mc_gguf_find_tensor(e->g, tname(b, l, "attn_kv_b", "weight")))
        err = mc_fail(b->d, MC_ERR_FORMAT,
                      "engine: %s: layer %lld has both attn_kv_b and attn_k_b / attn_v_b", b->file,
                      (long long)l);
    return err;
}

/* llama.cpp's absorbed-MLA layout splits attn_kv_b per head into attn_k_b [nope, kv_lora, heads]
 * (k_nope's rows transposed) and attn_v_b [kv_lora, vd, heads]. The engine rebuilds the attn_kv_b
 * it decompresses with, [heads x (nope + vd), kv_lora]: in the files' own type when both are f32,
 * f16 or bf16 (a permutation of the same values: the same bytes), else in f32 (the exact values
 * of the quantised blocks at 4 bytes per weight; docs/ENGINE.md). */
static mc_err bind_kv_b_split(bctx *b, int64_t l, eng_layer *L)
{
    mc_engine *e = b->e;
    int64_t c = e->kv_lora, rows = e->n_heads * (e->nope + e->vd);
    split_kv s;
    size_t ro;
    mc_err err = find_split(b, l, &s);
    if (err)
        return err;
    mc_dtype dt = s.dt[0] == s.dt[1] &&
                          (s.dt[0] == MC_DT_F32 || s.dt[0] == MC_DT_F16 || s.dt[0] == MC_DT_BF16)
                      ? s.dt[0]
                      : MC_DT_F32;
    if ((err = mc_kernels_row_bytes(dt, c, &ro, b->d)))
        return err;
    float *kt = mc_mallocarray((size_t)(e->nope * c + c + e->nope), sizeof *kt);
    uint8_t *own = mc_calloc((size_t)rows, ro);
    if (!kt || !own) {
        mc_free(kt);
        mc_free(own);
        return mc_fail(b->d, MC_ERR_NOMEM, "engine: out of memory for attn_kv_b of layer %lld",
                       (long long)l);
    }
    for (int64_t h = 0; h < e->n_heads; h++)
        kv_b_head(e, &s, h, dt, ro, own, kt, kt + e->nope * c);
    mc_free(kt);
    L->wkv_b_own = own;
    L->wkv_b = (eng_mat){dt, own, rows, c, ro, MC_WLAYOUT_GGML};
    return MC_OK;
}

/* deepseek2 MLA: q, the latent with the shared rope key, its norm, the decompression (attn_kv_b,
 * or the split attn_k_b / attn_v_b rebuilt into it), output. */
static mc_err bind_attention_mla(bctx *b, int64_t l, eng_layer *L)
{
    mc_engine *e = b->e;
    int64_t h = e->hidden, nh = e->n_heads, kvl = e->kv_lora;
    mc_err err =
        bind_vec(b, tname(b, l, "attn_norm", "weight"), 1, h, "embedding_length", &L->attn_norm);
    if (!err)
        err = bind_mla_q(b, l, L);
    if (!err)
        err = bind_mat(b, tname(b, l, "attn_kv_a_mqa", "weight"), 1, h, kvl + e->rope_d, 0,
                       "embedding_length, kv_lora_rank + rope dims", &L->wkv_a);
    if (!err)
        err = bind_vec(b, tname(b, l, "attn_kv_a_norm", "weight"), 1, kvl, "kv_lora_rank",
                       &L->kv_a_norm);
    if (!err && mc_gguf_find_tensor(e->g, tname(b, l, "attn_k_b", "weight")))
        err = bind_kv_b_split(b, l, L);
    else if (!err)
        err = bind_mat(b, tname(b, l, "attn_kv_b", "weight"), 1, kvl, nh * (e->nope + e->vd), 0,
                       "kv_lora_rank, head_count x (nope + value dims)", &L->wkv_b);
    if (!err)
        err = bind_mat(b, tname(b, l, "attn_output", "weight"), 1, nh * e->vd, h, 0,
                       "head_count x value_length, embedding_length", &L->wo);
    return err;
}

/* qwen3(moe): per-head q/k norms of head_dim; olmoe: over the full q and k widths. */
static mc_err bind_qk_norms(bctx *b, int64_t l, eng_layer *L)
{
    mc_engine *e = b->e;
    if (e->arch != ENG_QWEN3MOE && e->arch != ENG_QWEN3 && e->arch != ENG_OLMOE)
        return MC_OK;
    int full = e->arch == ENG_OLMOE;
    L->qk_norm_full = full;
    mc_err err = bind_vec(b, tname(b, l, "attn_q_norm", "weight"), 1, full ? e->q_dim : e->hd,
                          full ? "head_count x head dim" : "head dim", &L->q_norm);
    if (!err)
        err = bind_vec(b, tname(b, l, "attn_k_norm", "weight"), 1, full ? e->kv_dim : e->hd,
                       full ? "head_count_kv x head dim" : "head dim", &L->k_norm);
    return err;
}

static mc_err bind_dense(bctx *b, int64_t l, eng_layer *L, int64_t ff)
{
    int64_t h = b->e->hidden;
    L->ff = ff;
    mc_err err = bind_mat(b, tname(b, l, "ffn_gate", "weight"), 1, h, ff, 0,
                          "embedding_length, feed_forward_length", &L->gate);
    if (!err)
        err = bind_mat(b, tname(b, l, "ffn_up", "weight"), 1, h, ff, 0,
                       "embedding_length, feed_forward_length", &L->up);
    if (!err)
        err = bind_mat(b, tname(b, l, "ffn_down", "weight"), 1, ff, h, 0,
                       "feed_forward_length, embedding_length", &L->down);
    return err;
}

/* Expert e of a fused [cols, rows, n_exp] tensor as its own matrix. */
static void expert_view(const eng_mat *all, int64_t e, eng_mat *out)
{
    *out = *all;
    out->p = all->p + (size_t)e * (size_t)all->rows * all->row_bytes;
}

/* Fused experts (ffn_gate_exps ...) or the old split layout (ffn_gate.<e>.weight ...). */
static mc_err bind_experts(bctx *b, int64_t l, eng_layer *L)
{
    int64_t h = b->e->hidden, ff = L->ff, n = L->n_exp;
    static const char *fused[3] = {"ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"};
    static const char *split[3] = {"ffn_gate", "ffn_up", "ffn_down"};
    eng_mat *dst[3] = {L->xg, L->xu, L->xd};
    int have_fused = mc_gguf_find_tensor(b->e->g, tname(b, l, fused[0], "weight")) != NULL;
    for (int k = 0; k < 3; k++) {
        int64_t cols = k == 2 ? ff : h, rows = k == 2 ? h : ff;
        const char *what = k == 2 ? "expert width, embedding_length, expert_count"
                                  : "embedding_length, expert width, expert_count";
        if (have_fused) {
            eng_mat all;
            mc_err err = bind_mat(b, tname(b, l, fused[k], "weight"), 1, cols, rows, n, what, &all);
            for (int64_t x = 0; !err && x < n; x++)
                expert_view(&all, x, &dst[k][x]);
            if (err)
                return err;
            continue;
        }
        for (int64_t x = 0; x < n; x++) {
            char nm[MC_GGUF_MAX_NAME + 16];
            snprintf(nm, sizeof nm, "blk.%lld.%s.%lld.weight", (long long)l, split[k],
                     (long long)x);
            mc_err err = bind_mat(b, nm, 1, cols, rows, 0, what, &dst[k][x]);
            if (err)
                return err;
        }
    }
    return MC_OK;
}

static mc_err bind_shared(bctx *b, int64_t l, eng_layer *L, const mc_layer *ml)
{
    int64_t h = b->e->hidden, sf = ml->shared_ff;
    int req = b->e->arch == ENG_QWEN2MOE;
    if (sf <= 0) {
        if (req)
            return mc_fail(b->d, MC_ERR_FORMAT,
                           "engine: %s: layer %lld: qwen2moe needs a shared expert "
                           "(ffn_{gate,up,down}_shexp)",
                           b->file, (long long)l);
        return MC_OK;
    }
    L->sh_ff = sf;
    mc_err err = bind_mat(b, tname(b, l, "ffn_gate_shexp", "weight"), 1, h, sf, 0,
                          "embedding_length, shared width", &L->sg);
    if (!err)
        err = bind_mat(b, tname(b, l, "ffn_up_shexp", "weight"), 1, h, sf, 0,
                       "embedding_length, shared width", &L->su);
    if (!err)
        err = bind_mat(b, tname(b, l, "ffn_down_shexp", "weight"), 1, sf, h, 0,
                       "shared width, embedding_length", &L->sd);
    /* the gate is [hidden] (llama.cpp writes it 1-D), bound as a one-row matrix */
    if (!err)
        err = bind_mat(b, tname(b, l, "ffn_gate_inp_shexp", "weight"), req, h, 1, 0,
                       "embedding_length (shared-expert gate)", &L->sgate);
    return err;
}

/* deepseek2: the selection bias (exp_probs_b, sigmoid gating) and the expert groups. */
static mc_err bind_route_extras(bctx *b, int64_t l, eng_layer *L)
{
    mc_engine *e = b->e;
    if (e->arch != ENG_DEEPSEEK2)
        return MC_OK;
    if (L->n_exp > 4096 || e->n_group > 256)
        return mc_fail(b->d, MC_ERR_UNSUPPORTED,
                       "engine: %s: deepseek2 routing supports at most 4096 experts in at most "
                       "256 groups (%lld experts, %lld groups)",
                       b->file, (long long)L->n_exp, (long long)e->n_group);
    if (e->n_group > 1 &&
        (L->n_exp % e->n_group != 0 || e->group_used < 1 || e->group_used > e->n_group ||
         L->top_k > e->group_used * (L->n_exp / e->n_group)))
        return mc_fail(b->d, MC_ERR_FORMAT,
                       "engine: %s: expert_group_count %lld / expert_group_used_count %lld do "
                       "not fit %lld experts with top-%lld",
                       b->file, (long long)e->n_group, (long long)e->group_used,
                       (long long)L->n_exp, (long long)L->top_k);
    return bind_vec(b, tname(b, l, "exp_probs_b", "bias"), 0, L->n_exp,
                    "expert_count (selection bias)", &L->exp_bias);
}

static mc_err bind_moe(bctx *b, int64_t l, eng_layer *L, const mc_layer *ml)
{
    L->moe = 1;
    L->n_exp = ml->n_experts;
    L->top_k = ml->top_k;
    L->ff = ml->expert_ff;
    L->moe_index = b->e->n_moe_layers++;
    mc_err err = bind_mat(b, tname(b, l, "ffn_gate_inp", "weight"), 1, b->e->hidden, L->n_exp, 0,
                          "embedding_length, expert_count", &L->router);
    if (!err)
        err = bind_experts(b, l, L);
    if (!err)
        err = bind_route_extras(b, l, L);
    return err ? err : bind_shared(b, l, L, ml);
}

static mc_err bind_layer(bctx *b, int64_t l, eng_layer *L)
{
    const mc_layer *ml = &b->e->m->layers[l];
    L->moe_index = -1;
    mc_err err = b->e->mla ? bind_attention_mla(b, l, L) : bind_attention(b, l, L);
    if (!err)
        err = bind_qk_norms(b, l, L);
    if (!err)
        err = bind_vec(b, tname(b, l, "ffn_norm", "weight"), 1, b->e->hidden, "embedding_length",
                       &L->ffn_norm);
    if (err)
        return err;
    return ml->ffn == MC_FFN_MOE ? bind_moe(b, l, L, ml) : bind_dense(b, l, L, ml->dense_ff);
}

static mc_err bind_globals(bctx *b)
{
    mc_engine *e = b->e;
    mc_err err = bind_mat(b, "token_embd.weight", 1, e->hidden, e->vocab, 0,
                          "embedding_length, vocab", &e->embd);
    if (!err)
        err = bind_mat(b, "output.weight", 0, e->hidden, e->vocab, 0, "embedding_length, vocab",
                       &e->head);
    if (!err && e->head.rows == 0)
        e->head = e->embd; /* tied embeddings */
    if (!err)
        err = bind_vec(b, "output_norm.weight", 1, e->hidden, "embedding_length", &e->out_norm);
    return err;
}

static mc_err check_all_used(bctx *b)
{
    uint64_t n = mc_gguf_tensor_count(b->e->g);
    for (uint64_t i = 0; i < n; i++)
        if (!b->used[i])
            return mc_fail(b->d, MC_ERR_UNSUPPORTED,
                           "engine: %s: tensor '%s' is not used by the engine's %s model "
                           "(unsupported feature)",
                           b->file, mc_gguf_tensor_at(b->e->g, i)->name, b->e->m->arch);
    return MC_OK;
}

/* Floats of every 1-D tensor the engine may bind (norms, biases, MLA norms, selection bias). */
static int64_t vec_room(const mc_engine *e)
{
    int64_t per_layer = 4 * e->hidden + 2 * e->q_dim + 3 * e->kv_dim + e->q_lora + e->kv_lora;
    int64_t n = e->hidden + e->n_layers * per_layer;
    for (int64_t l = 0; l < e->n_layers; l++)
        n += e->m->layers[l].ffn == MC_FFN_MOE ? e->m->layers[l].n_experts : 0;
    return n;
}

/* Expert matrix arrays for every MoE layer, and room for every 1-D tensor. */
static mc_err alloc_bind_storage(mc_engine *e, mc_diag *d)
{
    int64_t n_mats = 0;
    for (int64_t l = 0; l < e->n_layers; l++)
        if (e->m->layers[l].ffn == MC_FFN_MOE)
            n_mats += 3 * e->m->layers[l].n_experts;
    int64_t n_vec = vec_room(e);
    e->exp_mats = mc_calloc((size_t)(n_mats ? n_mats : 1), sizeof *e->exp_mats);
    e->vecs = mc_calloc((size_t)n_vec, sizeof *e->vecs);
    e->L = mc_calloc((size_t)e->n_layers, sizeof *e->L);
    if (!e->exp_mats || !e->vecs || !e->L)
        return mc_fail(d, MC_ERR_NOMEM, "engine: out of memory for the weight tables");
    eng_mat *p = e->exp_mats;
    for (int64_t l = 0; l < e->n_layers; l++) {
        int64_t n = e->m->layers[l].ffn == MC_FFN_MOE ? e->m->layers[l].n_experts : 0;
        e->L[l].xg = p;
        e->L[l].xu = p + n;
        e->L[l].xd = p + 2 * n;
        p += 3 * n;
    }
    return MC_OK;
}

mc_err eng_bind(mc_engine *e, mc_diag *d)
{
    bctx b;
    memset(&b, 0, sizeof b);
    b.e = e;
    b.d = d;
    b.file = mc_gguf_name(e->g);
    mc_err err = alloc_bind_storage(e, d);
    if (err)
        return err;
    b.vp = e->vecs;
    b.vend = e->vecs + vec_room(e);
    b.used = mc_calloc((size_t)mc_gguf_tensor_count(e->g) + 1, 1);
    if (!b.used)
        return mc_fail(d, MC_ERR_NOMEM, "engine: out of memory");
    err = bind_globals(&b);
    for (int64_t l = 0; !err && l < e->n_layers; l++)
        err = bind_layer(&b, l, &e->L[l]);
    if (!err)
        err = check_all_used(&b);
    mc_free(b.used);
    return err;
}
