/* gguf_model_impl.h: the state of one GGUF -> mc_model mapping, shared by gguf_model.c
 * (metadata, layers, model fields) and gguf_model_scan.c (tensor names and shape checks).
 * Private to src/model/gguf_model*.c. */
#ifndef MC_GGUF_MODEL_IMPL_H
#define MC_GGUF_MODEL_IMPL_H

#include "gguf.h"

#include <string.h>

/* Bounds on sizes read from the metadata: far above any real model, and low enough that the
 * products of two or three of them used in the shape checks cannot overflow. */
#define DIM_MAX (INT64_C(1) << 24)
#define CTX_MAX (INT64_C(1) << 40)

enum grp { G_ATTN, G_NORM, G_ROUTER, G_EXPERT, G_SHARED, G_DENSE, G_EMBED, G_HEAD, G_FNORM, G_N };

typedef struct arch_info {
    const char *gguf; /* general.architecture */
    const char *hf;   /* mc_model.arch (HF model_type) */
    int mla;          /* DeepSeek multi-head latent attention */
    int ff_is_expert; /* feed_forward_length is the expert width when there is no
                         expert_feed_forward_length (llama/Mixtral, olmoe, dbrx) */
} arch_info;

/* Hyper-parameters from the metadata (0 = absent where that is allowed). */
typedef struct hparams {
    int64_t n_layers, hidden, n_heads, n_kv, key_len, val_len, key_mla, val_mla, ctx;
    int64_t n_exp, top_k, n_shared, lead_dense, exp_ff, shexp_ff, q_lora, kv_lora, rope_dim;
    int64_t sliding, gating;
    double theta, eps;
    int has_theta, has_eps;
    int64_t *ff; /* per layer feed_forward_length (0 = absent) */
} hparams;

/* What the tensors of one layer held. */
typedef struct lacc {
    double bytes[G_N];
    int64_t n_exp;      /* from fused expert tensors (dims[2]) */
    int64_t exp_ff;     /* expert width from expert tensors */
    int64_t n_split[3]; /* split expert tensors (old Mixtral layout): gate, up, down */
    int64_t max_split;  /* largest split expert index + 1 */
    int64_t shexp_ff, dense_ff;
    int has_router, shared_gate, router_bias, expert_bias;
} lacc;

typedef struct ld {
    const mc_gguf *g;
    const char *file;
    mc_diag *d;
    const arch_info *a;
    char key[160];
    hparams h;
    lacc *L;
    double glob[G_N];
    double type_bytes[G_N][MC_GGML_TYPE_COUNT];
    int qkv_bias, o_bias, qk_norm, qk_norm_full, sinks, exp_probs, any_moe;
} ld;

/* Parsed tensor name: "blk.<layer>.<base>[.<expert>].<suffix>" or "<base>.<suffix>". */
typedef struct tname {
    int64_t layer; /* -1 for global tensors */
    char base[64];
    int64_t expert; /* split expert index, -1 */
    char suffix[64];
} tname;

static inline int starts(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

static inline int ends(const char *s, const char *p)
{
    size_t n = strlen(s), m = strlen(p);
    return n >= m && strcmp(s + n - m, p) == 0;
}

/* Classifies every tensor, adds its bytes to its group and checks its shape (gguf_model_scan.c). */
mc_err mc_gguf_model_scan(ld *x);
/* t must have n_dims == nd and dims[i] == want[i] wherever want[i] > 0; `why` names the keys. */
mc_err mc_gguf_model_expect(ld *x, const mc_gguf_tensor *t, uint32_t nd, const int64_t *want,
                            const char *why);
mc_err mc_gguf_model_expect2(ld *x, const mc_gguf_tensor *t, int64_t d0, int64_t d1,
                             const char *why);

#endif
