/* model: one description of an MoE (or dense) transformer, and the accounting of its parameters
 * and bytes.
 *
 * A mc_model is filled by a loader (HF config.json: mc_model_load_hf_config; GGUF: see gguf.h
 * mc_model_load_gguf; the catalogue: mc_model_load) and then sealed by mc_model_finalize, which
 * computes every parameter and byte count from the structure. Callers read the counts; they never
 * recompute them. The counting convention is documented in docs/MODELS.md ("Parameter counts"):
 * active parameters = everything a decoded token touches, with the LM head and ONE embedding row
 * counted and the rest of the embedding table not (with tied embeddings the row lies inside the
 * LM head matrix and is not counted twice).
 *
 * Ownership: mc_model_new returns a heap object freed by mc_model_free (NULL ok). Layer arrays
 * belong to the model. Thread safety: a finalized model is read-only and may be shared. */
#ifndef MC_MODEL_H
#define MC_MODEL_H

#include "base.h"

#include <stdint.h>

/* ---- storage types ---------------------------------------------------------------------------
 * Weight and KV-cache storage types. The GGUF block types carry their real size including scales
 * (Q4_0 = 18 bytes per 32 weights = 4.5 bits). HF precisions map to nominal sizes
 * (fp8/int8 8 bits, int4 (gptq/awq) 4 bits as the MoE-CAP reference prices them, mxfp4 4.25 bits:
 * one 8-bit scale per 32 values). */
typedef enum mc_dtype {
    MC_DT_F32 = 0,
    MC_DT_F16,
    MC_DT_BF16,
    MC_DT_FP8,   /* e4m3 / e5m2 */
    MC_DT_INT8,
    MC_DT_INT4,  /* gptq / awq nominal */
    MC_DT_MXFP4,
    MC_DT_Q8_0,
    MC_DT_Q4_0,
    MC_DT_Q4_1,
    MC_DT_Q5_0,
    MC_DT_Q5_1,
    MC_DT_Q2_K,
    MC_DT_Q3_K,
    MC_DT_Q4_K,
    MC_DT_Q5_K,
    MC_DT_Q6_K,
    MC_DT_COUNT
} mc_dtype;

const char *mc_dtype_name(mc_dtype t);         /* "f32", "bf16", "q4_k", ... */
double mc_dtype_bits(mc_dtype t);              /* bits per element incl. block scales */
mc_err mc_dtype_parse(const char *s, mc_dtype *out); /* accepts names and aliases: float16,
                                                        bfloat16, fp16, int4, gptq, awq, mxfp4, fp4 */

/* Compute precision used to pick the peak FLOP/s column of a device (hw module). */
typedef enum mc_prec {
    MC_PREC_FP32 = 0,
    MC_PREC_TF32,
    MC_PREC_BF16, /* bf16 and fp16 share a column */
    MC_PREC_FP8,
    MC_PREC_INT8,
    MC_PREC_FP4,
    MC_PREC_COUNT
} mc_prec;
const char *mc_prec_name(mc_prec p);
/* The compute precision a weight storage type runs at on a GPU (f32 -> fp32, f16/bf16 -> bf16,
 * fp8 -> fp8, int8 -> int8, mxfp4 -> fp4, int4/gguf quants -> bf16 (dequantised)). */
mc_prec mc_dtype_compute_prec(mc_dtype t);

/* ---- structure ------------------------------------------------------------------------------ */

typedef enum mc_attn_kind { MC_ATTN_GQA = 0, MC_ATTN_MLA } mc_attn_kind;

typedef struct mc_attn {
    mc_attn_kind kind;
    int64_t n_heads;
    int64_t n_kv_heads;     /* GQA; MHA when == n_heads */
    int64_t head_dim;       /* GQA: q/k/v head dim */
    /* MLA (DeepSeek-V2/V3) */
    int64_t q_lora_rank;    /* 0 = q projected directly from hidden */
    int64_t kv_lora_rank;
    int64_t qk_nope_dim;
    int64_t qk_rope_dim;
    int64_t v_head_dim;
    /* extras, all counted as attention parameters */
    int qkv_bias;           /* qwen2-style bias on q, k, v */
    int o_bias;             /* bias on the output projection (gpt-oss) */
    int qk_norm;            /* per-head RMSNorm on q and k (qwen3, olmoe: over the full width) */
    int qk_norm_full;       /* olmoe: q_norm over n_heads*head_dim, k_norm over n_kv*head_dim */
    int sinks;              /* gpt-oss attention sinks: one scalar per head */
    int64_t sliding_window; /* 0 = none; informational (KV accounting uses full context) */
} mc_attn;

typedef enum mc_ffn_kind { MC_FFN_DENSE = 0, MC_FFN_MOE } mc_ffn_kind;

typedef struct mc_layer {
    mc_ffn_kind ffn;
    /* dense FFN (ffn == MC_FFN_DENSE): gate, up, down of width dense_ff */
    int64_t dense_ff;
    /* MoE (ffn == MC_FFN_MOE) */
    int64_t n_experts;      /* routed experts */
    int64_t top_k;
    int64_t expert_ff;      /* width of one routed expert (gate, up, down) */
    int64_t n_shared;       /* shared experts (0 = none) */
    int64_t shared_ff;      /* TOTAL width of the shared block (n_shared * width each) */
    int shared_gate;        /* qwen2moe: sigmoid gate on the shared block, hidden -> 1 */
    int router_bias;        /* router bias / e_score_correction_bias: n_experts values */
    int expert_bias;        /* gpt-oss: biases on expert gate/up (2*ff) and down (hidden) */
    int extra_norms;        /* norms of width hidden beyond the usual two (arctic: the norm in
                               front of the parallel residual MLP); 0 for most models */

    /* ---- computed by mc_model_finalize (parameters are element counts) ---- */
    int64_t p_attn;         /* q, k, v, o (+ MLA low-rank, biases, qk norms, sinks) */
    int64_t p_norm;         /* attention-input and ffn-input norms (+ extra_norms) of this layer */
    int64_t p_router;
    int64_t p_expert;       /* ONE routed expert */
    int64_t p_shared;       /* the whole shared block incl. its gate */
    int64_t p_dense;        /* dense FFN */
    /* bytes at the storage types (or exact GGUF tensor sizes when loaded from GGUF) */
    double b_attn, b_norm, b_router, b_expert, b_shared, b_dense;
} mc_layer;

/* Storage type of each tensor group, and the KV cache. */
typedef struct mc_storage {
    mc_dtype attn, router, expert, shared, dense, embed, head, norm;
    mc_dtype kv;
} mc_storage;

typedef struct mc_model {
    char name[128];          /* catalogue name, file stem or general.name */
    char arch[32];           /* "mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v3", "olmoe", "dbrx",
                                "gpt_oss", "llama", "mistral", "qwen2", ... (HF model_type, or the
                                GGUF general.architecture mapped to it) */
    char source[512];        /* path or catalogue name it came from */
    int64_t hidden;
    int64_t n_layers;
    int64_t vocab;
    int64_t max_ctx;         /* max_position_embeddings (0 = unknown) */
    int tied_embeddings;
    double rope_theta;
    double norm_eps;
    mc_attn attn;
    mc_layer *layers;        /* n_layers entries */
    mc_storage st;
    int exact_bytes;         /* 1 when b_* come from real tensor sizes (GGUF) */

    /* ---- computed by mc_model_finalize ---- */
    int64_t n_moe_layers;
    int64_t n_dense_layers;
    int64_t max_experts;     /* max n_experts over MoE layers (0 for dense models) */
    int64_t max_top_k;
    int64_t max_shared;
    int64_t p_embed;         /* vocab * hidden */
    int64_t p_head;          /* LM head (0 when tied) */
    int64_t p_final_norm;
    int64_t total_params;
    int64_t active_params;   /* per token: see header comment */
    double b_embed, b_head, b_final_norm;
    double total_bytes;
    double kv_bytes_per_token;            /* all layers, K and V (or MLA latent + rope key) */
    double decode_weight_bytes_per_token; /* bytes of active weights at batch 1 (incl. LM head and
                                             one embedding row) */
} mc_model;

mc_model *mc_model_new(int64_t n_layers);  /* zeroed layers; NULL on OOM or n_layers out of range */
void mc_model_free(mc_model *m);

/* Validates the structure (positive sizes, top_k <= n_experts, products fit in int64, ...) and
 * computes every p_*, b_* and summary field. Safe to call again after editing. On error the
 * message names the model and field. */
mc_err mc_model_finalize(mc_model *m, mc_diag *d);

/* Sets every weight group to storage type t (KV untouched) and re-finalizes. */
mc_err mc_model_set_weight_dtype(mc_model *m, mc_dtype t, mc_diag *d);

/* Loaders. `what` for mc_model_load: a path to config.json or .gguf, or a catalogue name
 * (case-insensitive, e.g. "mixtral-8x7b"; see mc_catalogue_dir()/models/). */
mc_err mc_model_load(const char *what, mc_model **out, mc_diag *d);
mc_err mc_model_load_hf_config(const char *path, mc_model **out, mc_diag *d);
mc_err mc_model_parse_hf_config(const char *json, size_t len, const char *where, mc_model **out,
                                mc_diag *d);
/* Lists catalogue names (sorted); *names is a heap array of heap strings, free with
 * mc_model_catalogue_free. */
mc_err mc_model_catalogue(char ***names, int *count, mc_diag *d);
void mc_model_catalogue_free(char **names, int count);

/* Bytes of the weights one forward pass reads in layer l when `distinct` routed experts were
 * activated (fractional allowed: a mean). Attention, norms, router, shared, dense included. */
double mc_model_layer_bytes(const mc_model *m, int64_t l, double distinct);

#endif
