/* makemodel: writes seeded random-weight MoE (or dense) transformers as GGUF v3 files that
 * moecap's GGUF -> model mapping, its engine and llama.cpp-compatible readers load
 * (`moecap make-model`; docs/MAKE-MODEL.md).
 *
 * Architectures (general.architecture) and their tensors, as llama.cpp names and shapes them:
 *   llama     Mixtral layout: ffn_gate_inp + ffn_{gate,up,down}_exps; dense ffn_{gate,up,down}
 *             when experts = 0. feed_forward_length is the expert (or dense) width.
 *   qwen2moe  q/k/v biases, routed experts (expert_feed_forward_length) and a shared expert
 *             ffn_{gate,up,down}_shexp with its sigmoid gate ffn_gate_inp_shexp.
 *   olmoe     q/k RMSNorms over the full q / k width (llama.cpp requires kv_heads = heads).
 *   qwen3moe  per-head q/k RMSNorms (head_dim wide), head_dim may differ from embd / heads.
 *   qwen2     dense, q/k/v biases;  qwen3: dense, per-head q/k RMSNorms.
 *   deepseek2 MLA attention (attn_q or attn_q_a + attn_q_a_norm + attn_q_b, attn_kv_a_mqa,
 *             attn_kv_a_norm, attn_kv_b, attn_output), leading dense blocks (ffn_{gate,up,down}
 *             of dense_ff), then routed experts with shared experts ffn_*_shexp (no gate; width
 *             shared_ff = expert_shared_count x ff), softmax or sigmoid gating (sigmoid with an
 *             exp_probs_b.bias selection bias), optional groups and YaRN keys.
 *
 * Weights: every tensor row is drawn from its own stream, seeded by (seed, tensor name, row), so
 * the f32 values of a tensor do not depend on the storage type, on the other options' effect on
 * other tensors, or on how the writer chunks the data. Matrices are uniform with standard
 * deviation 1/sqrt(fan_in) (output projections additionally / sqrt(2 x layers), so the residual
 * stream stays O(1)); embeddings have unit RMS; norms are 1. Uniform, not normal, so that no libm
 * transcendental function is involved: the same options and seed give a byte-identical file on
 * any IEEE-754 machine (the quantisers in src/engine/kernels are ISA-independent).
 *
 * Routing skew (route_skew = S >= 0): every embedding is sqrt(1 - a^2) g_t + a u with one shared
 * unit-RMS direction u (a = 1/2), and in each MoE layer the router rows of top_k "hot" experts
 * (chosen by the seed, recorded in the key moecap.hot_experts) get S / (a embd) u added, which
 * raises their logit for an input along the embeddings by about S, in units of the standard
 * deviation of the random router logits. S = 0 leaves routing uniform.
 *
 * Storage: matrices at `type`; norms, biases and routers f32; token_embd at `type`; output as
 * llama.cpp's quantiser stores it: q6_K for q4_0 / q4_K / q6_K files (q8_0 when embd is not a
 * multiple of 256), else `type`. A nonzero output_type overrides that.
 *
 * The file is streamed through the GGUF writer's fill callback (a 1 GB model is never held in
 * memory) and written atomically: on any error no file (and no temp file) is left behind.
 * Thread safety: reentrant. */
#ifndef MC_MAKEMODEL_H
#define MC_MAKEMODEL_H

#include "base.h"
#include "model.h"

#include <stdint.h>

#define MC_MAKE_MIN_VOCAB 259 /* <unk>, <s>, </s> and 256 byte tokens */

typedef struct mc_make_opts {
    const char *arch;       /* "llama" | "qwen2moe" | "olmoe" | "qwen3moe" | "deepseek2" |
                               "qwen2" | "qwen3" (the last two dense: experts 0) */
    const char *name;       /* general.name; NULL = "moecap-random-<arch>" */
    int64_t layers;         /* >= 1 */
    int64_t embd;           /* hidden size */
    int64_t ff;             /* expert width (dense width when experts = 0) */
    int64_t experts;        /* routed experts; 0 = dense (llama only) */
    int64_t top_k;          /* experts used per token, 1..experts */
    int64_t shared_ff;      /* qwen2moe shared-expert width; -1 = 4 x ff for qwen2moe, 0 else */
    int64_t heads;          /* attention heads */
    int64_t kv_heads;       /* 0 = heads; must divide heads */
    int64_t head_dim;       /* 0 = embd / heads */
    int64_t vocab;          /* synthetic byte-level SentencePiece vocabulary of this size
                               (>= MC_MAKE_MIN_VOCAB); ignored with vocab_from */
    const char *vocab_from; /* GGUF whose tokenizer.* keys are copied (vocab = its token count) */
    int64_t ctx;            /* context_length */
    double rope_theta;      /* 0 = 10000 (llama, olmoe) / 1e6 (qwen) */
    double norm_eps;        /* 0 = 1e-5 (llama, olmoe) / 1e-6 (qwen) */
    uint64_t seed;
    mc_dtype type;        /* f32 f16 bf16 q8_0 q4_0 q4_k q6_k */
    mc_dtype output_type; /* 0 (= MC_DT_F32) means the rule above; set has_output_type */
    int has_output_type;
    double route_skew; /* S >= 0 */
    /* deepseek2 only (MLA, leading dense blocks, shared experts, DeepSeek routing) */
    int64_t dense_layers;  /* leading dense blocks; -1 (default) = 1 */
    int64_t dense_ff;      /* their width; 0 = 4 x ff */
    int64_t q_lora;        /* q low rank (attn_q_a / attn_q_b); 0 = a plain attn_q */
    int64_t kv_lora;       /* latent width; 0 = embd */
    int64_t rope_dim;      /* rope part of the key (head_dim = nope + rope); 0 = head_dim / 4,
                              rounded down to even */
    int64_t v_head_dim;    /* 0 = head_dim */
    int gating;            /* 0 / 1 softmax, 2 sigmoid (writes an exp_probs_b selection bias) */
    int weights_norm;      /* renormalise the top-k weights; -1 (default) = 1 with sigmoid */
    double weights_scale;  /* expert_weights_scale; 0 = 1 */
    int64_t groups;        /* expert_group_count (0 = no group-limited routing) */
    int64_t group_used;    /* expert_group_used_count */
    double yarn_factor;    /* > 1: YaRN RoPE scaling with this factor; 0 = none */
    int64_t yarn_orig_ctx; /* original_context_length; 0 = ctx */
    double yarn_log_mul;   /* yarn_log_multiplier; 0 = 0.0707 (DeepSeek-V2-Lite) */
    int mla_split;         /* 1: llama.cpp's absorbed-MLA layout: attn_k_b + attn_v_b (the same
                              values as attn_kv_b), key/value_length of the latent, head_count_kv
                              1, key/value_length_mla */
} mc_make_opts;

/* Defaults: llama, 2 layers, embd 256, ff 512, 8 experts, top-2, 4 heads (kv 4), vocab 512,
 * ctx 4096, seed 1, f16, no skew. */
void mc_make_opts_default(mc_make_opts *o);

/* What a written file holds. */
typedef struct mc_make_summary {
    uint64_t file_bytes;
    uint64_t tensor_bytes; /* sum of the tensors' data sizes (no padding) */
    int64_t n_tensors;
    int64_t n_params; /* elements of every tensor */
    int64_t vocab;
    int64_t head_dim, kv_heads, shared_ff; /* resolved */
    double rope_theta, norm_eps;           /* resolved */
    mc_dtype output_type;                  /* resolved */
    uint64_t type_bytes[MC_DT_COUNT];      /* tensor bytes per storage type */
    int64_t type_params[MC_DT_COUNT];      /* elements per storage type */
} mc_make_summary;

/* Checks the options (MC_ERR_ARG; the message names the option, e.g. "--top-k 9 exceeds
 * --experts 8") and writes the model to path. */
mc_err mc_make_model(const mc_make_opts *o, const char *path, mc_diag *d);
/* The same, and fills *out (may be NULL). */
mc_err mc_make_model_ex(const mc_make_opts *o, const char *path, mc_make_summary *out, mc_diag *d);
/* Validates the options and computes the summary without writing anything (file_bytes is the
 * size the file would have). Opens vocab_from if set. */
mc_err mc_make_model_plan(const mc_make_opts *o, mc_make_summary *out, mc_diag *d);

#endif
