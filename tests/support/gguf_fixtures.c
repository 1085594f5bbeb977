/* gguf_fixtures.c: builds tiny GGUF models of each supported architecture with the tensor names
 * and shapes llama.cpp uses, for the GGUF unit tests and the fuzz seed corpus. Test support only;
 * depends on the GGUF writer (src/model/gguf.h). */
#include "gguf_fixtures.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct fxw {
    mc_gguf_writer *w;
    const fx_model *s;
    mc_diag *d;
    mc_err e;
    char key[128];
} fxw;

fx_model fx_preset(const char *arch)
{
    fx_model s = {
        .arch = arch,
        .name = "tiny",
        .n_layers = 2,
        .hidden = 8,
        .n_heads = 4,
        .n_kv = 2,
        .head_dim = 2,
        .vocab = 16,
        .ctx = 4096,
        .wtype = MC_GGML_F32,
        .etype = MC_GGML_F32,
        .tokens = 1,
        .n_exp = 4,
        .top_k = 2,
        .exp_ff = 16,
        .ff = 16,
        .dense_ff = 16,
    };
    if (!strcmp(arch, "qwen2") || !strcmp(arch, "qwen3") || !strcmp(arch, "llama-dense")) {
        s.n_exp = s.top_k = s.exp_ff = 0;
        s.qkv_bias = !strcmp(arch, "qwen2");
        s.qk_norm = !strcmp(arch, "qwen3");
        if (!strcmp(arch, "llama-dense"))
            s.arch = "llama";
    } else if (!strcmp(arch, "qwen2moe") || !strcmp(arch, "qwen3moe")) {
        s.exp_ff = 4;
        s.write_exp_ff = 1;
        s.ff = 0;
        s.qkv_bias = !strcmp(arch, "qwen2moe");
        s.qk_norm = !s.qkv_bias;
        s.shexp_ff = s.qkv_bias ? 8 : 0;
        s.shared_gate = s.qkv_bias;
    } else if (!strcmp(arch, "olmoe")) {
        s.qk_norm = s.qk_norm_full = 1;
    } else if (!strcmp(arch, "dbrx")) {
        s.fused_qkv = 1;
    } else if (!strcmp(arch, "gpt-oss")) {
        s.exp_ff = 8;
        s.write_exp_ff = 1;
        s.ff = 0;
        s.head_dim = 4;
        s.write_head_dim = 1;
        s.qkv_bias = s.o_bias = s.sinks = s.router_bias = s.expert_bias = 1;
    } else if (!strcmp(arch, "deepseek2")) {
        s.n_layers = 3;
        s.lead_dense = 1;
        s.ff = s.dense_ff = 24;
        s.exp_ff = 4;
        s.write_exp_ff = 1;
        s.n_shared = 2;
        s.shexp_ff = 8;
        s.n_kv = 4;
        s.q_lora = 6;
        s.kv_lora = 4;
        s.rope_dim = 2;
        s.head_dim = 6;
        s.v_dim = 4;
        s.write_head_dim = 1;
    }
    if (!strcmp(arch, "qwen3") || !strcmp(arch, "qwen3moe")) {
        s.head_dim = 4;
        s.write_head_dim = 1;
    }
    return s;
}

/* ---- metadata -------------------------------------------------------------------------------- */

static const char *K(fxw *x, const char *suffix)
{
    snprintf(x->key, sizeof x->key, "%s.%s", x->s->arch, suffix);
    return x->key;
}

static void U32(fxw *x, const char *suffix, int64_t v)
{
    if (x->s->lie_key && !strcmp(x->s->lie_key, suffix))
        v = x->s->lie_value;
    if (!x->e && v >= 0)
        x->e = mc_gguf_add_u32(x->w, K(x, suffix), (uint32_t)v, x->d);
}

static void meta_common(fxw *x)
{
    const fx_model *s = x->s;
    if (!x->e)
        x->e = mc_gguf_add_str(x->w, "general.architecture", s->arch, x->d);
    if (!x->e && s->name)
        x->e = mc_gguf_add_str(x->w, "general.name", s->name, x->d);
    U32(x, "block_count", s->n_layers);
    U32(x, "context_length", s->ctx);
    U32(x, "embedding_length", s->hidden);
    if (s->ff)
        U32(x, "feed_forward_length", s->ff);
    U32(x, "attention.head_count", s->n_heads);
    U32(x, "attention.head_count_kv", s->n_kv);
    if (s->write_head_dim) {
        U32(x, "attention.key_length", s->head_dim);
        U32(x, "attention.value_length", s->v_dim ? s->v_dim : s->head_dim);
    }
    if (!x->e)
        x->e = mc_gguf_add_f32(x->w, K(x, "rope.freq_base"), 1000000.0f, x->d);
    if (!x->e)
        x->e = mc_gguf_add_f32(x->w, K(x, "attention.layer_norm_rms_epsilon"), 1e-6f, x->d);
    if (s->kv_lora) {
        U32(x, "attention.q_lora_rank", s->q_lora);
        U32(x, "attention.kv_lora_rank", s->kv_lora);
        U32(x, "rope.dimension_count", s->rope_dim);
    }
}

static void meta_moe(fxw *x)
{
    const fx_model *s = x->s;
    if (s->n_exp == 0)
        return;
    U32(x, "expert_count", s->n_exp);
    U32(x, "expert_used_count", s->top_k);
    if (s->write_exp_ff)
        U32(x, "expert_feed_forward_length", s->exp_ff);
    if (s->n_shared)
        U32(x, "expert_shared_count", s->n_shared);
    if (s->shexp_ff && !s->n_shared)
        U32(x, "expert_shared_feed_forward_length", s->shexp_ff);
    if (s->lead_dense)
        U32(x, "leading_dense_block_count", s->lead_dense);
    if (s->exp_probs)
        U32(x, "expert_gating_func", 2);
}

static void meta_tokens(fxw *x)
{
    const fx_model *s = x->s;
    if (!s->tokens || x->e)
        return;
    char store[256][8];
    const char *toks[256];
    int64_t n = s->lie_key && !strcmp(s->lie_key, "tokens") ? s->lie_value : s->vocab;
    if (n < 0)
        return;
    n = n < 256 ? n : 256;
    for (int64_t i = 0; i < n; i++) {
        snprintf(store[i], sizeof store[i], "t%lld", (long long)i);
        toks[i] = store[i];
    }
    x->e = mc_gguf_add_str(x->w, "tokenizer.ggml.model", "gpt2", x->d);
    if (!x->e)
        x->e = mc_gguf_add_arr_str(x->w, "tokenizer.ggml.tokens", toks, (uint64_t)n, x->d);
}

/* ---- tensors --------------------------------------------------------------------------------- */

static void T(fxw *x, uint32_t type, int64_t d0, int64_t d1, int64_t d2, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void T(fxw *x, uint32_t type, int64_t d0, int64_t d1, int64_t d2, const char *fmt, ...)
{
    if (x->e)
        return;
    mc_gguf_tensor_src t = {.type = type, .n_dims = d2 ? 3 : d1 ? 2 : 1, .dims = {d0, d1, d2}};
    char name[MC_GGUF_MAX_NAME];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    t.name = name;
    x->e = mc_gguf_add_tensor(x->w, &t, x->d);
}

static void attn_gqa(fxw *x, int l)
{
    const fx_model *s = x->s;
    int64_t H = s->hidden, q = s->n_heads * s->head_dim, kv = s->n_kv * s->head_dim;
    uint32_t w = s->wtype;
    if (s->fused_qkv) {
        T(x, w, H, q + 2 * kv, 0, "blk.%d.attn_qkv.weight", l);
    } else {
        T(x, w, H, q, 0, "blk.%d.attn_q.weight", l);
        T(x, w, H, kv, 0, "blk.%d.attn_k.weight", l);
        T(x, w, H, kv, 0, "blk.%d.attn_v.weight", l);
    }
    T(x, w, q, H, 0, "blk.%d.attn_output.weight", l);
    if (s->qkv_bias) {
        T(x, MC_GGML_F32, q, 0, 0, "blk.%d.attn_q.bias", l);
        T(x, MC_GGML_F32, kv, 0, 0, "blk.%d.attn_k.bias", l);
        T(x, MC_GGML_F32, kv, 0, 0, "blk.%d.attn_v.bias", l);
    }
    if (s->o_bias)
        T(x, MC_GGML_F32, H, 0, 0, "blk.%d.attn_output.bias", l);
    if (s->qk_norm) {
        T(x, MC_GGML_F32, s->qk_norm_full ? q : s->head_dim, 0, 0, "blk.%d.attn_q_norm.weight", l);
        T(x, MC_GGML_F32, s->qk_norm_full ? kv : s->head_dim, 0, 0, "blk.%d.attn_k_norm.weight", l);
    }
    if (s->sinks)
        T(x, MC_GGML_F32, s->n_heads, 0, 0, "blk.%d.attn_sinks.weight", l);
}

static void attn_mla(fxw *x, int l)
{
    const fx_model *s = x->s;
    int64_t H = s->hidden, nh = s->n_heads, kd = s->head_dim, r = s->rope_dim;
    uint32_t w = s->wtype;
    if (s->q_lora) {
        T(x, w, H, s->q_lora, 0, "blk.%d.attn_q_a.weight", l);
        T(x, MC_GGML_F32, s->q_lora, 0, 0, "blk.%d.attn_q_a_norm.weight", l);
        T(x, w, s->q_lora, nh * kd, 0, "blk.%d.attn_q_b.weight", l);
    } else {
        T(x, w, H, nh * kd, 0, "blk.%d.attn_q.weight", l);
    }
    T(x, w, H, s->kv_lora + r, 0, "blk.%d.attn_kv_a_mqa.weight", l);
    T(x, MC_GGML_F32, s->kv_lora, 0, 0, "blk.%d.attn_kv_a_norm.weight", l);
    T(x, w, s->kv_lora, nh * (kd - r + s->v_dim), 0, "blk.%d.attn_kv_b.weight", l);
    T(x, w, nh * s->v_dim, H, 0, "blk.%d.attn_output.weight", l);
}

static void ffn_experts(fxw *x, int l)
{
    const fx_model *s = x->s;
    int64_t H = s->hidden, f = s->exp_ff, n = s->n_exp;
    uint32_t et = s->etype;
    T(x, MC_GGML_F32, H, n, 0, "blk.%d.ffn_gate_inp.weight", l);
    if (s->router_bias)
        T(x, MC_GGML_F32, n, 0, 0, "blk.%d.ffn_gate_inp.bias", l);
    if (s->exp_probs)
        T(x, MC_GGML_F32, n, 0, 0, "blk.%d.exp_probs_b.bias", l);
    if (s->split_experts) {
        for (int e = 0; e < (int)n; e++) {
            T(x, et, H, f, 0, "blk.%d.ffn_gate.%d.weight", l, e);
            T(x, et, H, f, 0, "blk.%d.ffn_up.%d.weight", l, e);
            T(x, et, f, H, 0, "blk.%d.ffn_down.%d.weight", l, e);
        }
    } else {
        T(x, et, H, f, n, "blk.%d.ffn_gate_exps.weight", l);
        T(x, et, H, f, n, "blk.%d.ffn_up_exps.weight", l);
        T(x, et, f, H, n, "blk.%d.ffn_down_exps.weight", l);
    }
    if (s->expert_bias) {
        T(x, MC_GGML_F32, f, n, 0, "blk.%d.ffn_gate_exps.bias", l);
        T(x, MC_GGML_F32, f, n, 0, "blk.%d.ffn_up_exps.bias", l);
        T(x, MC_GGML_F32, H, n, 0, "blk.%d.ffn_down_exps.bias", l);
    }
    if (s->shexp_ff) {
        T(x, s->wtype, H, s->shexp_ff, 0, "blk.%d.ffn_gate_shexp.weight", l);
        T(x, s->wtype, H, s->shexp_ff, 0, "blk.%d.ffn_up_shexp.weight", l);
        T(x, s->wtype, s->shexp_ff, H, 0, "blk.%d.ffn_down_shexp.weight", l);
    }
    if (s->shared_gate)
        T(x, MC_GGML_F32, H, 0, 0, "blk.%d.ffn_gate_inp_shexp.weight", l);
}

static void layer(fxw *x, int l)
{
    const fx_model *s = x->s;
    int64_t H = s->hidden;
    const char *ffn_norm = !strcmp(s->arch, "gpt-oss") ? "post_attention_norm"
                           : s->fused_qkv              ? "attn_output_norm"
                                                       : "ffn_norm";
    T(x, MC_GGML_F32, H, 0, 0, "blk.%d.attn_norm.weight", l);
    if (s->kv_lora)
        attn_mla(x, l);
    else
        attn_gqa(x, l);
    T(x, MC_GGML_F32, H, 0, 0, "blk.%d.%s.weight", l, ffn_norm);
    if (s->n_exp == 0 || l < s->lead_dense) {
        T(x, s->wtype, H, s->dense_ff, 0, "blk.%d.ffn_gate.weight", l);
        T(x, s->wtype, H, s->dense_ff, 0, "blk.%d.ffn_up.weight", l);
        T(x, s->wtype, s->dense_ff, H, 0, "blk.%d.ffn_down.weight", l);
    } else {
        ffn_experts(x, l);
    }
}

mc_gguf_writer *fx_model_writer(const fx_model *s, mc_diag *d)
{
    fxw x = {.w = mc_gguf_writer_new(), .s = s, .d = d};
    if (!x.w) {
        mc_fail(d, MC_ERR_NOMEM, "fixture: out of memory");
        return NULL;
    }
    if (s->alignment)
        x.e = mc_gguf_writer_set_alignment(x.w, s->alignment, d);
    meta_common(&x);
    meta_moe(&x);
    meta_tokens(&x);
    T(&x, s->wtype, s->hidden, s->vocab, 0, "token_embd.weight");
    for (int l = 0; l < (int)s->n_layers; l++)
        layer(&x, l);
    T(&x, MC_GGML_F32, s->hidden, 0, 0, "output_norm.weight");
    if (!s->tied)
        T(&x, s->wtype, s->hidden, s->vocab, 0, "output.weight");
    if (x.e) {
        mc_gguf_writer_free(x.w);
        return NULL;
    }
    return x.w;
}

mc_err fx_model_bytes(const fx_model *s, void **out, size_t *len, mc_diag *d)
{
    mc_gguf_writer *w = fx_model_writer(s, d);
    if (!w)
        return MC_ERR_ARG;
    mc_err e = mc_gguf_writer_write_mem(w, out, len, d);
    mc_gguf_writer_free(w);
    return e;
}
