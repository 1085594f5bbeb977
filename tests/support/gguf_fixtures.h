/* gguf_fixtures.h: small generated GGUF models for tests and fuzz seeds.
 *
 * fx_preset(arch) gives a tiny but complete description of a model of one architecture
 * (llama/mixtral, qwen2moe, qwen3moe, olmoe, deepseek2, dbrx, gpt-oss, dense llama/qwen2/qwen3);
 * tests edit fields and fx_model_writer() turns it into a GGUF builder with every metadata key and
 * tensor (zero-filled data) llama.cpp would write for that architecture. */
#ifndef MC_GGUF_FIXTURES_H
#define MC_GGUF_FIXTURES_H

#include "gguf.h"

typedef struct fx_model {
    const char *arch; /* general.architecture */
    const char *name; /* general.name (NULL = omit) */
    int64_t n_layers, hidden, n_heads, n_kv, head_dim, vocab, ctx;
    int write_head_dim;           /* write attention.key_length / value_length */
    int64_t ff;                   /* feed_forward_length (0 = omit) */
    int64_t dense_ff;             /* width of dense layers */
    int64_t n_exp, top_k, exp_ff; /* 0 experts = dense model */
    int write_exp_ff;             /* write expert_feed_forward_length */
    int64_t n_shared, shexp_ff;   /* shared experts: count key and TOTAL width (0 = none) */
    int64_t lead_dense;           /* leading dense blocks (written when > 0) */
    int64_t q_lora, kv_lora, rope_dim, v_dim; /* MLA (deepseek2): head_dim is the key length */
    uint32_t wtype;                           /* ggml type of the weight matrices */
    uint32_t etype;                           /* ggml type of the expert matrices */
    int tied;                                 /* no output.weight */
    int qkv_bias, o_bias, qk_norm, qk_norm_full, sinks, shared_gate, router_bias, expert_bias;
    int split_experts;  /* old Mixtral layout: blk.N.ffn_up.E.weight */
    int fused_qkv;      /* dbrx: blk.N.attn_qkv */
    int tokens;         /* write tokenizer.ggml.tokens (vocab entries) */
    int exp_probs;      /* deepseek-v3 style exp_probs_b + expert_gating_func = 2 */
    uint32_t alignment; /* general.alignment (0 = default 32, not written) */
    /* A lie in the metadata, for error tests: the integer key <arch>.<lie_key> (or "tokens": the
     * number of tokenizer tokens) is written as lie_value instead, or omitted if lie_value < 0. */
    const char *lie_key;
    int64_t lie_value;
} fx_model;

fx_model fx_preset(const char *arch);
/* NULL on failure (message in d). */
mc_gguf_writer *fx_model_writer(const fx_model *s, mc_diag *d);
/* The whole file in a heap buffer (mc_free). */
mc_err fx_model_bytes(const fx_model *s, void **out, size_t *len, mc_diag *d);

#endif
