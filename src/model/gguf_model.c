/* gguf_model.c: describes the model in a validated GGUF file as an mc_model.
 *
 * Structure comes from general.architecture and the <arch>.* hyper-parameters; the bytes of each
 * tensor group come from the real tensor sizes (so quantised files are priced exactly), and the
 * tensor shapes are checked against the metadata. The mapping table is in docs/GGUF.md.
 * Depends on the reader (gguf.h) and the model description (model.h); must not do any I/O of its
 * own except through mc_gguf_open. */
#include "gguf_model_impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const arch_info archs[] = {
    {"llama", "llama", 0, 1},           {"qwen2", "qwen2", 0, 0},
    {"qwen3", "qwen3", 0, 0},           {"qwen2moe", "qwen2_moe", 0, 0},
    {"qwen3moe", "qwen3_moe", 0, 0},    {"olmoe", "olmoe", 0, 1},
    {"deepseek2", "deepseek_v2", 1, 0}, {"dbrx", "dbrx", 0, 1},
    {"gpt-oss", "gpt_oss", 0, 0},
};

static const char *akey(ld *x, const char *suffix)
{
    snprintf(x->key, sizeof x->key, "%s.%s", x->a->gguf, suffix);
    return x->key;
}

/* ---- metadata -------------------------------------------------------------------------------- */

static mc_err read_arch(ld *x)
{
    mc_gguf_str s;
    mc_err e = mc_gguf_get_str(x->g, "general.architecture", &s, x->d);
    if (e)
        return e;
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (strlen(archs[i].gguf) == s.len && memcmp(archs[i].gguf, s.p, (size_t)s.len) == 0) {
            x->a = &archs[i];
            return MC_OK;
        }
    char shown[80];
    snprintf(shown, sizeof shown, "%.*s", (int)(s.len > 60 ? 60 : s.len), s.p);
    for (char *q = shown; *q; q++)
        if ((unsigned char)*q < 0x20)
            *q = '?';
    return mc_fail(x->d, MC_ERR_UNSUPPORTED,
                   "gguf: %s: architecture '%s' is not supported (llama, qwen2, qwen3, qwen2moe, "
                   "qwen3moe, olmoe, deepseek2, dbrx, gpt-oss)",
                   x->file, shown);
}

static mc_err range_fail(ld *x, const char *key, int64_t v, int64_t lo, int64_t hi)
{
    return mc_fail(x->d, MC_ERR_RANGE, "gguf: %s: key '%s' = %lld out of range [%lld, %lld]",
                   x->file, key, (long long)v, (long long)lo, (long long)hi);
}

/* <arch>.<suffix> as an integer in [lo, hi]; absent: *out untouched, or an error if required. */
static mc_err get_int(ld *x, const char *suffix, int required, int64_t lo, int64_t hi, int64_t *out)
{
    const char *k = akey(x, suffix);
    if (!required && mc_gguf_find_key(x->g, k) < 0)
        return MC_OK;
    int64_t v;
    mc_err e = mc_gguf_get_i64(x->g, k, &v, x->d);
    if (e)
        return e;
    if (v < lo || v > hi)
        return range_fail(x, k, v, lo, hi);
    *out = v;
    return MC_OK;
}

/* A per-layer value stored as a scalar or as an array of block_count integers into vals[]. */
static mc_err get_per_layer(ld *x, const char *suffix, int64_t lo, int64_t hi, int64_t *vals,
                            int *present)
{
    const char *k = akey(x, suffix);
    int64_t i = mc_gguf_find_key(x->g, k);
    *present = i >= 0;
    if (i < 0)
        return MC_OK;
    mc_gguf_value v = mc_gguf_kv_value(x->g, (uint64_t)i);
    if (v.type != MC_GGUF_ARRAY) {
        mc_err e = get_int(x, suffix, 1, lo, hi, &vals[0]);
        for (int64_t l = 1; !e && l < x->h.n_layers; l++)
            vals[l] = vals[0];
        return e;
    }
    if (v.len != (uint64_t)x->h.n_layers)
        return mc_fail(x->d, MC_ERR_FORMAT,
                       "gguf: %s: key '%s' has %llu entries, expected %lld "
                       "(block_count)",
                       x->file, k, (unsigned long long)v.len, (long long)x->h.n_layers);
    for (int64_t l = 0; l < x->h.n_layers; l++) {
        if (mc_gguf_arr_i64(&v, (uint64_t)l, &vals[l]) != MC_OK)
            return mc_fail(x->d, MC_ERR_FORMAT,
                           "gguf: %s: key '%s': entry %lld is not an "
                           "integer in range",
                           x->file, k, (long long)l);
        if (vals[l] < lo || vals[l] > hi)
            return range_fail(x, k, vals[l], lo, hi);
    }
    return MC_OK;
}

/* A per-layer value that moecap needs to be the same in every layer (attention heads). */
static mc_err get_uniform(ld *x, const char *suffix, int64_t *out, int *present)
{
    int64_t *vals = mc_calloc((size_t)x->h.n_layers, sizeof *vals);
    if (!vals)
        return mc_fail(x->d, MC_ERR_NOMEM, "gguf: %s: out of memory", x->file);
    mc_err e = get_per_layer(x, suffix, 1, DIM_MAX, vals, present);
    for (int64_t l = 1; !e && *present && l < x->h.n_layers; l++)
        if (vals[l] != vals[0])
            e = mc_fail(x->d, MC_ERR_UNSUPPORTED,
                        "gguf: %s: key '%s' differs between layers "
                        "(layer 0: %lld, layer %lld: %lld); per-layer attention shapes are not "
                        "supported",
                        x->file, akey(x, suffix), (long long)vals[0], (long long)l,
                        (long long)vals[l]);
    if (!e && *present)
        *out = vals[0];
    mc_free(vals);
    return e;
}

static mc_err get_float(ld *x, const char *suffix, double *out, int *present)
{
    const char *k = akey(x, suffix);
    if (mc_gguf_find_key(x->g, k) < 0)
        return MC_OK;
    mc_err e = mc_gguf_get_f64(x->g, k, out, x->d);
    if (e)
        return e;
    if (!isfinite(*out) || *out < 0)
        return mc_fail(x->d, MC_ERR_RANGE, "gguf: %s: key '%s' = %g is not a finite number >= 0",
                       x->file, k, *out);
    *present = 1;
    return MC_OK;
}

static mc_err read_attention_keys(ld *x)
{
    hparams *h = &x->h;
    int present = 0;
    mc_err e = get_uniform(x, "attention.head_count", &h->n_heads, &present);
    if (!e && !present)
        e = mc_fail(x->d, MC_ERR_NOT_FOUND, "gguf: %s: missing key '%s'", x->file,
                    akey(x, "attention.head_count"));
    h->n_kv = h->n_heads;
    if (!e)
        e = get_uniform(x, "attention.head_count_kv", &h->n_kv, &present);
    if (!e && h->n_kv > h->n_heads)
        e = mc_fail(x->d, MC_ERR_RANGE, "gguf: %s: key '%s' = %lld exceeds head_count %lld",
                    x->file, akey(x, "attention.head_count_kv"), (long long)h->n_kv,
                    (long long)h->n_heads);
    if (!e)
        e = get_int(x, "attention.key_length", 0, 1, DIM_MAX, &h->key_len);
    if (!e)
        e = get_int(x, "attention.value_length", 0, 1, DIM_MAX, &h->val_len);
    if (!e)
        e = get_int(x, "attention.key_length_mla", 0, 1, DIM_MAX, &h->key_mla);
    if (!e)
        e = get_int(x, "attention.value_length_mla", 0, 1, DIM_MAX, &h->val_mla);
    if (!e)
        e = get_int(x, "attention.q_lora_rank", 0, 0, DIM_MAX, &h->q_lora);
    if (!e)
        e = get_int(x, "attention.kv_lora_rank", 0, 0, DIM_MAX, &h->kv_lora);
    if (!e)
        e = get_int(x, "rope.dimension_count", 0, 0, DIM_MAX, &h->rope_dim);
    if (!e)
        e = get_int(x, "attention.sliding_window", 0, 0, DIM_MAX, &h->sliding);
    if (!e)
        e = get_float(x, "rope.freq_base", &h->theta, &h->has_theta);
    if (!e)
        e = get_float(x, "attention.layer_norm_rms_epsilon", &h->eps, &h->has_eps);
    if (!e && !h->has_eps)
        e = get_float(x, "attention.layer_norm_epsilon", &h->eps, &h->has_eps);
    return e;
}

static mc_err read_moe_keys(ld *x)
{
    hparams *h = &x->h;
    int present = 0;
    mc_err e = get_int(x, "expert_count", 0, 0, 1 << 20, &h->n_exp);
    if (!e)
        e = get_int(x, "expert_used_count", 0, 0, 1 << 20, &h->top_k);
    if (!e && h->top_k > h->n_exp)
        e = mc_fail(x->d, MC_ERR_RANGE,
                    "gguf: %s: key '%s.expert_used_count' = %lld exceeds "
                    "'%s.expert_count' = %lld",
                    x->file, x->a->gguf, (long long)h->top_k, x->a->gguf, (long long)h->n_exp);
    if (!e)
        e = get_int(x, "expert_shared_count", 0, 0, 1 << 20, &h->n_shared);
    if (!e)
        e = get_int(x, "leading_dense_block_count", 0, 0, h->n_layers, &h->lead_dense);
    if (!e)
        e = get_int(x, "expert_feed_forward_length", 0, 1, DIM_MAX, &h->exp_ff);
    if (!e)
        e = get_int(x, "expert_shared_feed_forward_length", 0, 1, DIM_MAX, &h->shexp_ff);
    if (!e)
        e = get_int(x, "expert_gating_func", 0, 0, 1 << 20, &h->gating);
    if (!e)
        e = get_per_layer(x, "feed_forward_length", 0, DIM_MAX, h->ff, &present);
    return e;
}

static mc_err read_hparams(ld *x)
{
    hparams *h = &x->h;
    mc_err e = get_int(x, "block_count", 1, 1, 100000, &h->n_layers);
    if (!e)
        e = get_int(x, "embedding_length", 1, 1, DIM_MAX, &h->hidden);
    if (!e)
        e = get_int(x, "context_length", 0, 0, CTX_MAX, &h->ctx);
    if (e)
        return e;
    h->ff = mc_calloc((size_t)h->n_layers, sizeof *h->ff);
    x->L = mc_calloc((size_t)h->n_layers, sizeof *x->L);
    if (!h->ff || !x->L)
        return mc_fail(x->d, MC_ERR_NOMEM, "gguf: %s: out of memory", x->file);
    e = read_attention_keys(x);
    return e ? e : read_moe_keys(x);
}

/* ---- layers ---------------------------------------------------------------------------------- */

/* The metadata's expert width for layer l (0 = none to check against). */
static int64_t meta_expert_ff(const ld *x, int64_t l)
{
    if (x->h.exp_ff)
        return x->h.exp_ff;
    return x->a->ff_is_expert ? x->h.ff[l] : 0;
}

static mc_err check_moe_layer(ld *x, int64_t l, const lacc *a)
{
    const hparams *h = &x->h;
    const char *f = x->file, *arch = x->a->gguf;
    if (h->n_exp <= 0 || h->top_k <= 0)
        return mc_fail(x->d, MC_ERR_FORMAT,
                       "gguf: %s: layer %lld has expert tensors but "
                       "'%s.expert_count' / '%s.expert_used_count' are missing or 0",
                       f, (long long)l, arch, arch);
    int split_ok = a->n_split[0] == h->n_exp && a->n_split[1] == h->n_exp &&
                   a->n_split[2] == h->n_exp && a->max_split == h->n_exp;
    if ((a->n_exp && a->n_exp != h->n_exp) || (!a->n_exp && !split_ok))
        return mc_fail(x->d, MC_ERR_FORMAT,
                       "gguf: %s: layer %lld: expert tensors hold %lld "
                       "experts but '%s.expert_count' is %lld",
                       f, (long long)l, (long long)(a->n_exp ? a->n_exp : a->max_split), arch,
                       (long long)h->n_exp);
    if (!a->has_router)
        return mc_fail(x->d, MC_ERR_FORMAT,
                       "gguf: %s: layer %lld has expert tensors but no "
                       "router (ffn_gate_inp)",
                       f, (long long)l);
    if (l < h->lead_dense)
        return mc_fail(x->d, MC_ERR_FORMAT,
                       "gguf: %s: layer %lld has expert tensors but "
                       "'%s.leading_dense_block_count' is %lld",
                       f, (long long)l, arch, (long long)h->lead_dense);
    int64_t want = meta_expert_ff(x, l);
    if (want && want != a->exp_ff)
        return mc_fail(x->d, MC_ERR_FORMAT,
                       "gguf: %s: layer %lld: expert width %lld in the "
                       "tensors disagrees with %s = %lld in the metadata",
                       f, (long long)l, (long long)a->exp_ff,
                       h->exp_ff ? "expert_feed_forward_length" : "feed_forward_length",
                       (long long)want);
    if (a->bytes[G_DENSE] > 0)
        return mc_fail(x->d, MC_ERR_FORMAT,
                       "gguf: %s: layer %lld has both expert and dense "
                       "feed-forward tensors",
                       f, (long long)l);
    if (a->bytes[G_SHARED] > 0 && a->shexp_ff == 0)
        return mc_fail(x->d, MC_ERR_FORMAT,
                       "gguf: %s: layer %lld: shared-expert gate without "
                       "shared-expert weights",
                       f, (long long)l);
    if (a->shexp_ff && h->shexp_ff && a->shexp_ff != h->shexp_ff)
        return mc_fail(x->d, MC_ERR_FORMAT,
                       "gguf: %s: layer %lld: shared-expert width %lld "
                       "disagrees with expert_shared_feed_forward_length = %lld",
                       f, (long long)l, (long long)a->shexp_ff, (long long)h->shexp_ff);
    return MC_OK;
}

static mc_err moe_layer(ld *x, int64_t l, mc_layer *L)
{
    const lacc *a = &x->L[l];
    mc_err e = check_moe_layer(x, l, a);
    if (e)
        return e;
    L->ffn = MC_FFN_MOE;
    L->n_experts = x->h.n_exp;
    L->top_k = x->h.top_k;
    L->expert_ff = a->exp_ff;
    L->n_shared = a->shexp_ff ? (x->h.n_shared > 0 ? x->h.n_shared : 1) : 0;
    L->shared_ff = a->shexp_ff;
    L->shared_gate = a->shared_gate;
    L->router_bias = a->router_bias;
    L->expert_bias = a->expert_bias;
    L->b_router = a->bytes[G_ROUTER];
    L->b_expert = a->bytes[G_EXPERT] / (double)x->h.n_exp;
    L->b_shared = a->bytes[G_SHARED];
    x->any_moe = 1;
    return MC_OK;
}

static mc_err dense_layer(ld *x, int64_t l, mc_layer *L)
{
    const lacc *a = &x->L[l];
    const char *f = x->file;
    if (a->dense_ff == 0)
        return mc_fail(x->d, MC_ERR_FORMAT, "gguf: %s: layer %lld has no feed-forward tensors", f,
                       (long long)l);
    if (x->h.n_exp > 0 && l >= x->h.lead_dense)
        return mc_fail(x->d, MC_ERR_FORMAT,
                       "gguf: %s: layer %lld has no expert tensors but "
                       "'%s.expert_count' is %lld",
                       f, (long long)l, x->a->gguf, (long long)x->h.n_exp);
    if (a->bytes[G_ROUTER] > 0 || a->bytes[G_SHARED] > 0)
        return mc_fail(x->d, MC_ERR_FORMAT,
                       "gguf: %s: layer %lld has router or shared-expert "
                       "tensors but no expert tensors",
                       f, (long long)l);
    if (x->h.ff[l] && x->h.ff[l] != a->dense_ff)
        return mc_fail(x->d, MC_ERR_FORMAT,
                       "gguf: %s: layer %lld: feed-forward width %lld in "
                       "the tensors disagrees with feed_forward_length = %lld",
                       f, (long long)l, (long long)a->dense_ff, (long long)x->h.ff[l]);
    L->ffn = MC_FFN_DENSE;
    L->dense_ff = a->dense_ff;
    L->b_dense = a->bytes[G_DENSE];
    return MC_OK;
}

static mc_err build_layers(ld *x, mc_model *m)
{
    for (int64_t l = 0; l < x->h.n_layers; l++) {
        const lacc *a = &x->L[l];
        mc_layer *L = &m->layers[l];
        int moe = a->bytes[G_EXPERT] > 0;
        mc_err e = moe ? moe_layer(x, l, L) : dense_layer(x, l, L);
        if (e)
            return e;
        if (a->bytes[G_ATTN] <= 0)
            return mc_fail(x->d, MC_ERR_FORMAT, "gguf: %s: layer %lld has no attention tensors",
                           x->file, (long long)l);
        L->b_attn = a->bytes[G_ATTN];
        L->b_norm = a->bytes[G_NORM];
    }
    return MC_OK;
}

/* ---- model fields ---------------------------------------------------------------------------- */

static void fill_attention(const ld *x, mc_model *m)
{
    const hparams *h = &x->h;
    mc_attn *at = &m->attn;
    at->n_heads = h->n_heads;
    at->n_kv_heads = h->n_kv;
    at->sliding_window = h->sliding;
    at->qkv_bias = x->qkv_bias;
    at->o_bias = x->o_bias;
    at->qk_norm = x->qk_norm;
    at->qk_norm_full = x->qk_norm_full;
    at->sinks = x->sinks;
    if (!x->a->mla) {
        at->kind = MC_ATTN_GQA;
        at->head_dim = h->key_len;
        return;
    }
    at->kind = MC_ATTN_MLA;
    at->q_lora_rank = h->q_lora;
    at->kv_lora_rank = h->kv_lora;
    at->qk_rope_dim = h->rope_dim;
    at->qk_nope_dim = h->key_mla - h->rope_dim;
    at->v_head_dim = h->val_mla;
    at->head_dim = h->key_mla;
}

/* Head dims from the metadata, needed before the tensor shapes can be checked. */
static mc_err resolve_head_dims(ld *x)
{
    hparams *h = &x->h;
    const char *f = x->file, *arch = x->a->gguf;
    if (x->a->mla) {
        if (!h->key_mla)
            h->key_mla = h->key_len;
        if (!h->val_mla)
            h->val_mla = h->val_len;
        if (!h->key_mla || !h->val_mla || !h->kv_lora || !h->rope_dim || h->rope_dim > h->key_mla)
            return mc_fail(x->d, MC_ERR_FORMAT,
                           "gguf: %s: MLA needs '%s.attention.key_length', "
                           "'value_length', 'kv_lora_rank' > 0 and 0 < rope.dimension_count < "
                           "key_length",
                           f, arch);
        return MC_OK;
    }
    if (!h->key_len) {
        if (h->hidden % h->n_heads != 0)
            return mc_fail(x->d, MC_ERR_FORMAT,
                           "gguf: %s: embedding_length %lld is not a "
                           "multiple of head_count %lld and '%s.attention.key_length' is missing",
                           f, (long long)h->hidden, (long long)h->n_heads, arch);
        h->key_len = h->hidden / h->n_heads;
    }
    if (h->val_len && h->val_len != h->key_len)
        return mc_fail(x->d, MC_ERR_UNSUPPORTED,
                       "gguf: %s: value_length %lld differs from "
                       "key_length %lld (not supported)",
                       f, (long long)h->val_len, (long long)h->key_len);
    return MC_OK;
}

/* vocab: rows of token_embd, which must agree with tokenizer.ggml.tokens / <arch>.vocab_size. */
static mc_err fill_vocab(ld *x, mc_model *m)
{
    const mc_gguf_tensor *te = mc_gguf_find_tensor(x->g, "token_embd.weight");
    if (!te)
        return mc_fail(x->d, MC_ERR_FORMAT, "gguf: %s: missing tensor 'token_embd.weight'",
                       x->file);
    mc_err e = mc_gguf_model_expect2(x, te, x->h.hidden, 0, "embedding_length, vocab");
    if (e)
        return e;
    int64_t want = -1;
    mc_gguf_value v;
    if (mc_gguf_find_key(x->g, "tokenizer.ggml.tokens") >= 0) {
        if ((e = mc_gguf_get_arr(x->g, "tokenizer.ggml.tokens", &v, x->d)))
            return e;
        want = (int64_t)v.len;
    } else if ((e = get_int(x, "vocab_size", 0, 1, DIM_MAX, &want))) {
        return e;
    }
    if (want >= 0 && want != te->dims[1])
        return mc_fail(x->d, MC_ERR_FORMAT,
                       "gguf: %s: tokenizer has %lld tokens but "
                       "token_embd.weight has %lld rows",
                       x->file, (long long)want, (long long)te->dims[1]);
    m->vocab = te->dims[1];
    const mc_gguf_tensor *out = mc_gguf_find_tensor(x->g, "output.weight");
    m->tied_embeddings = out == NULL;
    if (out &&
        (e = mc_gguf_model_expect2(x, out, x->h.hidden, m->vocab, "embedding_length, vocab")))
        return e;
    const mc_gguf_tensor *on = mc_gguf_find_tensor(x->g, "output_norm.weight");
    return on ? mc_gguf_model_expect(x, on, 1, &x->h.hidden, "embedding_length") : MC_OK;
}

/* The mc_dtype of a ggml type, or the GGUF block type nearest in bits per weight. */
static mc_dtype dtype_of(uint32_t gt)
{
    static const mc_dtype cands[] = {MC_DT_F32,  MC_DT_F16,  MC_DT_Q8_0, MC_DT_Q6_K,
                                     MC_DT_Q5_1, MC_DT_Q5_0, MC_DT_Q5_K, MC_DT_Q4_1,
                                     MC_DT_Q4_0, MC_DT_Q4_K, MC_DT_Q3_K, MC_DT_Q2_K};
    mc_dtype t;
    if (mc_ggml_to_dtype(gt, &t))
        return t;
    double bits = 8.0 * mc_ggml_block_bytes(gt) / mc_ggml_block_size(gt), best = 1e9;
    t = MC_DT_F16;
    for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++)
        if (fabs(mc_dtype_bits(cands[i]) - bits) < best) {
            best = fabs(mc_dtype_bits(cands[i]) - bits);
            t = cands[i];
        }
    return t;
}

/* Storage type of a group: the type holding most of its bytes; `dflt` for empty groups. */
static mc_dtype group_dtype(const ld *x, int grp, mc_dtype dflt)
{
    double best = 0;
    int bt = -1;
    for (int t = 0; t < MC_GGML_TYPE_COUNT; t++)
        if (x->type_bytes[grp][t] > best) {
            best = x->type_bytes[grp][t];
            bt = t;
        }
    return bt < 0 ? dflt : dtype_of((uint32_t)bt);
}

static void fill_storage(const ld *x, mc_model *m)
{
    mc_storage *st = &m->st;
    st->attn = group_dtype(x, G_ATTN, MC_DT_F16);
    st->embed = group_dtype(x, G_EMBED, st->attn);
    st->head = group_dtype(x, G_HEAD, st->embed);
    st->norm = group_dtype(x, G_NORM, group_dtype(x, G_FNORM, MC_DT_F32));
    st->expert = group_dtype(x, G_EXPERT, st->attn);
    st->router = group_dtype(x, G_ROUTER, st->attn);
    st->shared = group_dtype(x, G_SHARED, st->expert);
    st->dense = group_dtype(x, G_DENSE, st->attn);
    st->kv = MC_DT_F16; /* llama.cpp's default KV cache type; a GGUF does not say */
}

static void fill_names(ld *x, mc_model *m)
{
    mc_gguf_str s;
    if (mc_gguf_get_str(x->g, "general.name", &s, NULL) == MC_OK && s.len > 0 &&
        !memchr(s.p, 0, (size_t)s.len)) {
        snprintf(m->name, sizeof m->name, "%.*s", (int)(s.len < 127 ? s.len : 127), s.p);
    } else {
        const char *base = strrchr(x->file, '/');
        base = base ? base + 1 : x->file;
        size_t n = strlen(base);
        if (n > 5 && !strcmp(base + n - 5, ".gguf"))
            n -= 5;
        snprintf(m->name, sizeof m->name, "%.*s", (int)(n < 127 ? n : 127), base);
    }
    for (char *q = m->name; *q; q++)
        if ((unsigned char)*q < 0x20)
            *q = '?';
    const char *hf = x->a->hf;
    if (!strcmp(x->a->gguf, "llama") && x->any_moe)
        hf = "mixtral";
    if (x->a->mla && (x->h.gating == 2 || x->exp_probs))
        hf = "deepseek_v3"; /* sigmoid routing with a correction bias: the V3 design */
    snprintf(m->arch, sizeof m->arch, "%s", hf);
    snprintf(m->source, sizeof m->source, "%s", x->file);
}

static mc_err fill_model(ld *x, mc_model *m)
{
    mc_err e = fill_vocab(x, m);
    if (e)
        return e;
    fill_names(x, m);
    m->hidden = x->h.hidden;
    m->max_ctx = x->h.ctx;
    if (x->h.has_theta)
        m->rope_theta = x->h.theta;
    if (x->h.has_eps)
        m->norm_eps = x->h.eps;
    fill_attention(x, m);
    fill_storage(x, m);
    m->b_embed = x->glob[G_EMBED];
    m->b_head = x->glob[G_HEAD];
    m->b_final_norm = x->glob[G_FNORM];
    m->exact_bytes = 1;
    return MC_OK;
}

/* mc_model_finalize must keep the exact bytes; a change here is a bug in model.c. */
static mc_err finalize(ld *x, mc_model *m)
{
    double b_attn0 = m->layers[0].b_attn, b_embed = m->b_embed;
    mc_err e = mc_model_finalize(m, x->d);
    if (e) {
        mc_diag_prefix(x->d, "gguf: %s", x->file);
        return e;
    }
    if (m->layers[0].b_attn != b_attn0 || m->b_embed != b_embed || !m->exact_bytes)
        return mc_fail(x->d, MC_ERR_INTERNAL,
                       "gguf: %s: mc_model_finalize replaced the exact "
                       "tensor bytes",
                       x->file);
    return MC_OK;
}

mc_err mc_model_from_gguf(const mc_gguf *g, mc_model **out, mc_diag *d)
{
    ld x;
    memset(&x, 0, sizeof x);
    x.g = g;
    x.file = mc_gguf_name(g);
    x.d = d;
    mc_model *m = NULL;
    *out = NULL;
    mc_err e = MC_OK;
    if (mc_gguf_tensor_count(g) == 0)
        e = mc_fail(d, MC_ERR_FORMAT, "gguf: %s: no tensors (a vocab-only file?)", x.file);
    if (!e)
        e = read_arch(&x);
    if (!e)
        e = read_hparams(&x);
    if (!e)
        e = resolve_head_dims(&x);
    if (!e)
        e = mc_gguf_model_scan(&x);
    if (!e && !(m = mc_model_new(x.h.n_layers)))
        e = mc_fail(d, MC_ERR_NOMEM, "gguf: %s: out of memory", x.file);
    if (!e)
        e = build_layers(&x, m);
    if (!e)
        e = fill_model(&x, m);
    if (!e)
        e = finalize(&x, m);
    mc_free(x.h.ff);
    mc_free(x.L);
    if (e) {
        for (char *q = d ? d->msg : NULL; q && *q; q++) /* tensor names come from the file */
            if ((unsigned char)*q < 0x20 || *q == 0x7f)
                *q = '?';
        mc_model_free(m);
        return e;
    }
    *out = m;
    return MC_OK;
}

mc_err mc_model_load_gguf(const char *path, mc_model **out, mc_diag *d)
{
    mc_gguf *g = NULL;
    *out = NULL;
    mc_err e = mc_gguf_open(path, &g, d);
    if (!e)
        e = mc_model_from_gguf(g, out, d);
    mc_gguf_free(g);
    return e;
}
