/* makemodel_impl.h: the state of one `make-model` run, shared by makemodel.c (options, metadata,
 * writing), makemodel_tensors.c (tensor list and weight generation) and makemodel_vocab.c
 * (tokenizer keys). Private to src/engine/makemodel*.c. */
#ifndef MC_MAKEMODEL_IMPL_H
#define MC_MAKEMODEL_IMPL_H

#include "gguf.h"
#include "makemodel.h"

enum mk_arch { MK_LLAMA, MK_QWEN2MOE, MK_OLMOE, MK_QWEN3MOE, MK_DEEPSEEK2, MK_QWEN2, MK_QWEN3 };

/* How a tensor's rows are generated (makemodel_tensors.c). */
typedef enum mk_kind {
    MK_UNIFORM, /* uniform in [-scale, scale] */
    MK_ONES,    /* norms */
    MK_EMBED,   /* sqrt(1 - a^2) g + a u, g uniform with unit variance */
    MK_ROUTER,  /* uniform, plus the skew direction on hot experts' rows */
    MK_KB,      /* deepseek2 attn_k_b: the k_nope rows of the layer's attn_kv_b, transposed */
    MK_VB       /* deepseek2 attn_v_b: the v rows of the layer's attn_kv_b */
} mk_kind;

typedef struct mk mk;

typedef struct mk_tensor {
    char name[MC_GGUF_MAX_NAME];
    mk_kind kind;
    mc_dtype dt;
    uint32_t n_dims;
    int64_t dims[3];    /* ggml order: dims[0] = cols (contiguous) */
    int64_t cols, rows; /* rows = dims[1] x dims[2] */
    size_t row_bytes;
    uint64_t seed; /* stream of this tensor (from the run seed and the name) */
    double scale;  /* MK_UNIFORM / MK_ROUTER half-width */
    int64_t layer; /* MK_ROUTER: whose hot set */
    mk *m;
} mk_tensor;

struct mk {
    /* resolved options */
    int arch;
    const char *arch_name;
    int64_t layers, embd, ff, experts, top_k, shared_ff, heads, kv, hd, vocab, ctx;
    double theta, eps, skew;
    /* deepseek2 (resolved) */
    int64_t dense_layers, dense_ff, q_lora, kv_lora, rope, nope, vd, n_shared, groups, gused;
    int gating, w_norm, split;
    float *kb_cache; /* [nope][kv_lora]: one head of attn_kv_b's k_nope rows (MK_KB) */
    int64_t kb_key;  /* layer * heads + head held in kb_cache, -1 = none */
    double w_scale, yarn, yarn_log_mul;
    int64_t yarn_orig;
    uint64_t seed;
    mc_dtype type, out_type;
    const mc_make_opts *o;
    /* the tensors and the generation state */
    mk_tensor *t;
    int64_t n_t;
    float *u;     /* [embd] shared embedding direction, sum of squares = embd */
    int64_t *hot; /* [layers][top_k] hot experts, ascending */
    float *row;   /* [max_cols] scratch */
    void *qrow;   /* [max_row_bytes] scratch */
    int64_t max_cols;
    size_t max_row_bytes;
    mc_gguf *vocab_src;
    mc_make_summary sum;
    mc_diag *d;
};

#define MK_SHARE 0.5 /* a: weight of the shared direction u in every embedding */

uint32_t mk_ggml_type(mc_dtype t);

/* makemodel_tensors.c */
mc_err mk_plan_tensors(mk *m);                              /* fills m->t, m->sum (tensor side) */
mc_err mk_prepare_streams(mk *m);                           /* u, hot sets, scratch */
mc_err mk_add_tensors(mk *m, mc_gguf_writer *w);            /* with fill callbacks */
void mk_gen_row(const mk_tensor *t, int64_t r, float *out); /* f32 values of row r */

/* makemodel_vocab.c */
mc_err mk_open_vocab(mk *m);                   /* vocab_from -> m->vocab_src, m->vocab */
mc_err mk_add_vocab(mk *m, mc_gguf_writer *w); /* tokenizer.* keys */

#endif
