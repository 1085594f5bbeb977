/* ref_forward.h: a straightforward double-precision reference forward pass for the engine's
 * tests, written independently of src/engine: it reads the GGUF through mc_gguf, dequantises
 * every weight with mc_kernels_dequant_row and recomputes a whole sequence from position 0.
 *
 * Two optional roundings make it model exactly what the engine is defined to compute, so the
 * comparison can be tight: act_round rounds each matmul input the way the kernels prepare it
 * (mc_kernels_quant_act, decoded from the layout in docs/KERNELS.md: int8 blocks for the
 * quantised types), and kv_f16 rounds K and V to f16 as the engine's default cache stores them.
 * Supported: llama (dense / Mixtral), qwen2, qwen3, qwen2moe, qwen3moe, olmoe, deepseek2 (MLA,
 * sigmoid / softmax routing with selection bias, groups and weight scale, YaRN). */
#ifndef MC_REF_FORWARD_H
#define MC_REF_FORWARD_H

#include "base.h"

#include <stdint.h>

typedef struct ref_model ref_model;

typedef struct ref_opts {
    int act_round; /* 1: matmul inputs rounded as the kernels prepare them */
    int kv_f16;    /* 1: K and V rounded to f16 */
} ref_opts;

mc_err ref_open(const char *path, const ref_opts *o, ref_model **out, mc_diag *d);
void ref_free(ref_model *r);
int64_t ref_vocab(const ref_model *r);
int64_t ref_moe_layers(const ref_model *r);
int64_t ref_experts(const ref_model *r);

/* Logits of every position of tokens[0..n): out[t * vocab + v]. counts (optional,
 * [moe_layers][experts]) receives how many of the n tokens each expert was routed. */
mc_err ref_forward(ref_model *r, const int32_t *tokens, int64_t n, double *out, int64_t *counts,
                   mc_diag *d);

#endif
