/* engine_impl.h: the internal state of an mc_engine, shared by the engine's .c files (open and
 * allocation, tensor binding, parallel helpers, attention, feed-forward, step, tracing, sampling).
 * Private to the .c files of src/engine; only engine.h is public. */
#ifndef MC_ENGINE_IMPL_H
#define MC_ENGINE_IMPL_H

#include "engine.h"
#include "gguf.h"
#include "kernels.h"
#include "pool.h"

#include <stddef.h>
#include <stdint.h>

/* Always-on check for bugs in the engine itself (never for input: input gets an mc_err). */
_Noreturn void eng_bug(const char *file, int line, const char *what);
#define MC_ENG_ASSERT(c)                                                                           \
    do {                                                                                           \
        if (!(c))                                                                                  \
            eng_bug(__FILE__, __LINE__, #c);                                                       \
    } while (0)

typedef enum eng_arch {
    ENG_LLAMA = 0, /* llama: dense, or Mixtral layout (experts, softmax over the top-k) */
    ENG_QWEN2MOE,  /* experts (no renormalisation) + shared expert with a sigmoid gate */
    ENG_QWEN3MOE,  /* experts (renormalised top-k) + per-head q/k RMSNorm */
    ENG_OLMOE,     /* experts (no renormalisation) + full-width q/k RMSNorm */
    ENG_DEEPSEEK2, /* MLA attention (attn_mla.c), leading dense layers, shared experts, softmax or
                      sigmoid routing with optional bias, groups, scale (ffn_route.c) */
    ENG_QWEN2,     /* dense, q/k/v biases, neox RoPE */
    ENG_QWEN3      /* dense, per-head q/k RMSNorm, neox RoPE */
} eng_arch;

/* Expert gating of deepseek2 (<arch>.expert_gating_func, llama.cpp's numbering). */
enum { ENG_GATE_SOFTMAX = 1, ENG_GATE_SIGMOID = 2 };

/* A weight matrix in the mapping: `rows` output rows of `cols` inputs (ggml dims[1] x dims[0]);
 * row r at p + r * row_bytes. rows == 0 marks an absent matrix. */
typedef struct eng_mat {
    mc_dtype t;
    const uint8_t *p;
    int64_t rows, cols;
    size_t row_bytes;
    mc_wlayout layout; /* MC_WLAYOUT_GGML as bound; R16 once weights.c repacked the copy */
} eng_mat;

typedef struct eng_layer {
    /* attention */
    const float *attn_norm; /* [hidden] */
    eng_mat wq, wk, wv,
        wo; /* q: [heads*hd x hidden], k/v: [kv*hd x hidden], o: [hidden x heads*hd] */
    const float *bq, *bk, *bv, *bo; /* biases (NULL = none) */
    const float *q_norm, *k_norm;   /* [hd] per head, or full width (qk_norm_full); NULL = none */
    int qk_norm_full;
    /* MLA (deepseek2; wq is the plain q projection when there is no q low-rank pair) */
    eng_mat wq_a, wq_b;     /* [q_lora x hidden], [heads*kd x q_lora] (rows 0 = none) */
    eng_mat wkv_a;          /* [kv_lora + rope x hidden]: the latent and the shared rope key */
    eng_mat wkv_b;          /* [heads*(nope + vd) x kv_lora]: per head k_nope then v */
    const float *q_a_norm;  /* [q_lora] */
    const float *kv_a_norm; /* [kv_lora] */
    void *wkv_b_own;        /* engine-owned wkv_b rebuilt from a split attn_k_b / attn_v_b file */
    /* feed-forward */
    const float *ffn_norm; /* [hidden] */
    int moe;
    eng_mat gate, up, down; /* dense FFN: [ff x hidden], [ff x hidden], [hidden x ff] */
    eng_mat router;         /* [n_exp x hidden] */
    eng_mat *xg, *xu, *xd;  /* [n_exp] expert matrices: gate/up [ff x hidden], down [hidden x ff] */
    eng_mat sg, su, sd;     /* shared expert (rows 0 = none) */
    eng_mat sgate;          /* qwen2moe shared-expert gate [1 x hidden] (rows 0 = none) */
    const float *exp_bias;  /* deepseek2 exp_probs_b [n_exp]: added to select, not to weigh */
    int64_t n_exp, top_k, ff; /* ff: dense width or expert width */
    int64_t sh_ff;
    int64_t moe_index; /* index among the MoE layers (record rows), -1 for dense */
} eng_layer;

/* One matmul of a parallel region (par.c): rows [0, mm.rows) of a weight matrix against n_tok
 * prepared activation rows. */
typedef struct eng_job {
    const eng_mat *w;
    const void *x;
    size_t x_stride;
    int64_t n_tok;
    float *y;
    int64_t y_stride;
} eng_job;

/* Items with at least this many tokens attend as a block (two matmuls per head, attn_kv.c). */
#define ENG_ATT_BLOCK 16

/* Vocabulary rows per LM-head chunk: each chunk computes every logits row of the step into a
 * per-thread buffer and copies them out, so the head is read once per step. */
#define ENG_HEAD_ROWS 256

typedef struct eng_chunk {
    int32_t job;
    int64_t r0, r1;
} eng_chunk;

/* Activation rows prepared (mc_kernels_quant_act) for up to four weight types at once (q, k, v
 * may each have their own type; the routed and shared experts' gate and up too). */
#define ENG_ACT_SLOTS 4
typedef struct eng_act {
    mc_dtype t[ENG_ACT_SLOTS];
    int valid[ENG_ACT_SLOTS];
    uint8_t *buf[ENG_ACT_SLOTS];
    size_t stride; /* bytes per row (room for the widest input of any type) */
} eng_act;

struct mc_engine {
    mc_gguf *g;
    mc_model *m;
    mc_tok *tok; /* NULL when the file has no usable tokenizer (tok_err says why) */
    char tok_err[512];
    mc_pool *pool;
    eng_arch arch;
    char isa[16];
    int rope_neox; /* 1: pairs (i, i + n_rot/2); 0: adjacent pairs */
    int norm_topk; /* renormalise the selected experts' weights to sum 1 */
    /* deepseek2 routing (ffn_route.c): gating function, weight scale, expert groups */
    int gating;
    float w_scale;
    int64_t n_group, group_used;
    /* MLA shape (attn_mla.c); hd = max(kd, vd) is the KV row width, n_kv = n_heads */
    int mla;
    int64_t q_lora, kv_lora, nope, rope_d, kd, vd;
    float mla_qscale; /* folded into q: mscale^2 / sqrt(kd), over the 1/sqrt(hd) of eng_attend */
    /* YaRN RoPE (deepseek2): per-pair frequency mix, ext_factor 1, magnitude 1 */
    int yarn;
    double yarn_low, yarn_high; /* correction dims (pair indices) */
    int trace_tokens, no_trace;
    int64_t hidden, n_layers, n_heads, n_kv, hd, n_rot, vocab, n_ctx, max_tok, q_dim, kv_dim;
    int64_t max_exp, max_topk, max_ff, n_moe_layers;
    int max_seqs, n_threads;
    float eps;
    double theta, freq_scale;
    eng_mat embd, head;
    const float *out_norm; /* [hidden] */
    eng_layer *L;
    float *vecs; /* engine-owned f32 copies of every 1-D tensor */
    void *wcopy; /* the weights' huge-page copy (weights.c), NULL when mapped */
    size_t wcopy_len;
    int n_repacked;        /* matrices weights.c rewrote into a kernel layout (0 when mapped) */
    eng_mat *exp_mats;     /* backing store of the layers' expert matrix arrays */
    struct eng_xcache *xc; /* the expert cache (xcache.c), NULL when every expert is resident */
    const uint8_t *xc_on;  /* [max_exp]: experts of the current layer round (NULL: no cache) */

    /* KV cache: [seq][layer][K|V][kv_head][pos][hd] of kv_t */
    mc_dtype kv_t;
    uint8_t *kv;
    size_t kv_row_bytes;  /* hd elements */
    size_t kv_head_bytes; /* n_ctx rows */
    int64_t *seq_len;     /* [max_seqs] */

    /* per-step token tables [max_tok]; the items' rows [max_seqs] */
    int32_t *tok_id, *tok_seq;
    int64_t *tok_pos;
    int64_t *item_t0, *item_n;
    int n_step_items;
    float *rope_cs; /* [max_tok][n_rot] */

    /* activations (f32, [max_tok] rows) */
    float *x;               /* residual stream [hidden] */
    float *xn;              /* normed input / block output [hidden] */
    float *q, *k, *v, *att; /* [q_dim], [kv_dim], [kv_dim], [q_dim] */
    float *tmp;             /* [hidden] matmul outputs before the residual add */
    float *hg, *hu;         /* dense / shared FFN [max_ff] */
    float *shg;             /* shared-expert gate logit [1] per token */
    eng_act act;            /* prepared activations of the current matmul input */
    /* MLA scratch ([max_tok] rows): q low-rank, latent + rope key, decompressed k_nope|v per
     * head, the q projection, and the attention output compacted to heads x vd */
    float *mla_qa, *mla_kva, *mla_kvb, *mla_q, *mla_o;
    float *route_s; /* [max_exp] selection scores of one token (ffn_route.c) */

    /* MoE routing and expert grouping (max_tok x max_topk pairs) */
    float *rlog;                          /* router logits [max_tok][max_exp] */
    int32_t *sel;                         /* selected experts [max_tok][max_topk] */
    float *selw;                          /* their weights */
    int32_t *pair_slot;                   /* slot of pair (t, k) in the grouped order */
    int32_t *slot_tok;                    /* token of each slot */
    int32_t *slot_exp;                    /* expert of each slot */
    int64_t *exp_cnt, *exp_off, *exp_cur; /* [max_exp], [max_exp + 1], [max_exp] */
    uint8_t *gx[2]; /* gathered prepared inputs per slot, for the gate / up weight types */
    uint8_t *gd;    /* prepared down-projection inputs per slot */
    size_t gx_stride, gd_stride;
    float *eg, *eu, *ed; /* per slot: [ff], [ff], [hidden] */

    /* step bookkeeping */
    int32_t *lrow_tok;  /* token of each logits row */
    float **lrow_dst;   /* where each logits row goes (the caller's buffer) */
    float *head_buf;    /* [n_threads][max_tok][ENG_HEAD_ROWS] LM-head chunk outputs */
    int64_t *seq_stamp; /* [max_seqs]: step number that last named the slot (duplicate check) */
    int64_t stamp;

    /* parallel regions */
    eng_job *jobs;
    eng_chunk *chunks;
    int64_t max_jobs, max_chunks;
    float *scores;     /* [n_threads][n_ctx] attention scratch */
    float *att_s;      /* [max_tok][n_ctx] block attention scores of one head */
    float *att_vt;     /* [hd][n_ctx] the values of one kv head, transposed */
    int32_t *pair_tok; /* [max_tok] tokens attending pair by pair */
    float *samp;       /* sampler scratch: vocab floats */
    int32_t *samp_id;  /* vocab ints */

    /* the record of the last step */
    mc_pass pass;
    int64_t pass_id;
    int have_pass;
    mc_ns prof_ns[MC_PHASES]; /* this step's phases (step.c moves them into prof_sum) */
    mc_ns prof_sum[MC_PHASES], prof_step; /* successful steps since the last reset */
    int64_t prof_steps;
    char (*seq_names)[16]; /* "seq<N>" per slot */
};

/* ---- weights.c ---- */
/* Copies the tensor data into huge-page memory (mode MC_WEIGHTS_*) and re-points the matrices. */
mc_err eng_place_weights(mc_engine *e, int mode, int repack, mc_diag *d);
/* Rewrites the bytes at m->p (writable; rows x cols of m->t in m->layout == MC_WLAYOUT_GGML) into
 * the layout the active kernels prefer and sets m->layout; no-op when that is GGML or m is already
 * repacked. scratch: mc_kernels_repack_scratch_bytes(m->t, m->cols) bytes, or NULL to allocate.
 * eng_place_weights calls it for every matmul matrix of the huge-page copy; an expert cache that
 * reads expert matrices into its own slots calls it on each slot after the read. */
mc_err eng_mat_repack(eng_mat *m, void *scratch, mc_diag *d);
/* Every matmul matrix of e (weights in writable memory) through eng_mat_repack; counts them in
 * e->n_repacked (weights_repack.c). */
mc_err eng_repack_all(mc_engine *e, mc_diag *d);
void eng_free_weights(mc_engine *e);

/* ---- bind.c ---- */
/* Binds and checks every tensor of e->g for e->m (fills the weight fields of e). */
mc_err eng_bind(mc_engine *e, mc_diag *d);

/* ---- par.c ---- */
/* Prepares rows [0, n) of x (row stride xs floats, n_in elements each) for weight type t into
 * e->act (slot chosen by type; the other slot stays valid). */
const uint8_t *eng_act_prep(mc_engine *e, const float *x, int64_t xs, int64_t n, int64_t n_in,
                            mc_dtype t);
void eng_act_reset(mc_engine *e);
/* Runs jobs e->jobs[0..n_jobs) as one parallel region. */
void eng_run_jobs(mc_engine *e, int n_jobs);
/* Sets job n: y[t][r] = W x_t for t < n_tok (x prepared for w->t). Returns n + 1 (the count). */
int eng_job_add(mc_engine *e, int n, const eng_mat *w, const void *x, size_t xs, int64_t n_tok,
                float *y, int64_t ys);
/* Runs fn(ctx, begin, end, worker) over [0, n) on the pool; inline (worker 0) when n < min_par. */
void eng_par(mc_engine *e, int64_t n, int64_t min_par, mc_pool_fn fn, void *ctx);

/* ---- attn_kv.c ---- */
/* K (kv = 0) or V (kv = 1) row of kv head g at position pos of slot s, layer l. */
uint8_t *eng_kv_row(const mc_engine *e, int64_t s, int64_t l, int kv, int64_t g, int64_t pos);
/* Attention of the step's n tokens (q, K/V already in the cache) into e->att. */
void eng_attend(mc_engine *e, int64_t l, int64_t n);

/* ---- attn.c ---- */
void eng_attention(mc_engine *e, const eng_layer *L, int64_t n_tok);
/* out[t] = rmsnorm(in[t]) * w for t < n_tok (rows of hidden). */
void eng_norm_rows(mc_engine *e, const float *in, float *out, const float *w, int64_t n_tok);
/* x[t] += tmp[t] (+ bias) for t < n_tok. */
void eng_residual(mc_engine *e, const float *bias, int64_t n_tok);

/* ---- attn_mla.c ---- */
/* The MLA attention block of deepseek2 (called by eng_attention when e->mla). */
void eng_attention_mla(mc_engine *e, const eng_layer *L, int64_t n_tok);
/* RoPE angles of position pos into cs[n_rot] (plain, linear or YaRN per e). */
void eng_rope_table(const mc_engine *e, float *cs, int64_t pos);
/* Reads rope.scaling yarn keys for deepseek2 (sets e->yarn, freq_scale, mla_qscale). */
mc_err eng_mla_rope(mc_engine *e, mc_diag *d);

/* ---- ffn_route.c ---- */
/* deepseek2 routing of n tokens: softmax or sigmoid, selection bias, expert groups, top-k,
 * optional renormalisation, weight scale; fills e->sel / e->selw from e->rlog. */
void eng_route_deepseek2(mc_engine *e, const eng_layer *L, int64_t n_tok);

/* ---- ffn.c ---- */
/* Fails only with an expert cache (a read error on the slow tier). */
mc_err eng_ffn(mc_engine *e, const eng_layer *L, int64_t n_tok, mc_diag *d);
/* Top-k of p[0..n): descending, lower id first on ties. */
void eng_top_k(const float *p, int64_t n, int64_t k, int32_t *ids);

/* ---- xcache.c (expert offloading; all but eng_xc_open only with e->xc) ---- */
typedef struct eng_xcache eng_xcache;
/* With o->expert_cache_bytes > 0: the cache, its I/O threads, the static policy's pinned set. */
mc_err eng_xc_open(mc_engine *e, const mc_engine_opts *o, mc_diag *d);
void eng_xc_free(mc_engine *e); /* no cache: nothing */
/* Expert matrix views of layer L (k: 0 gate, 1 up, 2 down) pointing into the cache slots. */
const eng_mat *eng_xc_mats(const mc_engine *e, const eng_layer *L, int k);
void eng_xc_step_begin(mc_engine *e);
/* Makes the next round of layer L's activated experts (e->exp_cnt) resident and marks them in
 * e->xc_on; *more = 1 when some are left for another round (more experts than slots). */
mc_err eng_xc_round(mc_engine *e, const eng_layer *L, int round, int *more, mc_diag *d);
/* Predicts the next MoE layer's experts from e->xn and queues their reads (expert_prefetch). */
void eng_xc_prefetch(mc_engine *e, const eng_layer *L, int64_t n_tok);
/* Waits for reads in flight; ok: the step succeeded, so its figures go into the record. */
void eng_xc_step_end(mc_engine *e, int ok);

/* ---- trace.c ---- */
mc_err eng_trace_alloc(mc_engine *e, mc_diag *d);
/* Distinct experts (and tokens per expert) of one MoE layer, from the grouping's counts. */
void eng_trace_layer(mc_engine *e, const eng_layer *L, int64_t n_tok);
/* The rest of the record, after the items' sequences have advanced. */
void eng_trace_end(mc_engine *e, const mc_batch_item *items, int n_items, mc_ns t0, mc_ns t1);

/* Adds the time since t0 to this step's phase and returns now (the next phase's t0). */
static inline mc_ns eng_lap(mc_engine *e, int phase, mc_ns t0)
{
    mc_ns t = mc_now_ns();
    e->prof_ns[phase] += t - t0;
    return t;
}

#endif
