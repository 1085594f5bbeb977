/* engine: moecap's embedded CPU inference engine for MoE (and dense) transformers in GGUF files.
 *
 * An mc_engine owns the mmap'd GGUF weights (every tensor's shape and type checked against the
 * architecture at open), the tokenizer, a KV cache of max_seqs slots x n_ctx positions, all
 * activation scratch (allocated once: a step never allocates), and a persistent thread pool.
 *
 * One call to mc_engine_step is one forward pass over a batch: each item appends n_tokens tokens
 * to the sequence in its KV slot (prefill chunks and single decode tokens may be mixed) and asks
 * for the logits of its last token or of every token. Within a step the tokens routed to each
 * expert are grouped so each activated expert's weights are read once for all its tokens.
 *
 * Every step yields a per-forward-pass record (mc_pass, src/cap/cap.h): mode, new tokens, batch
 * size, seq_lens_sum, latency on the monotonic clock, and per MoE layer the distinct experts hit
 * (experts_per_layer, one entry per MoE layer) and the tokens routed to each expert
 * (tokens_per_expert, [n_moe_layers][max_experts]). The record is engine-owned and overwritten
 * by the next step (mc_engine_last_pass).
 *
 * Supported architectures (general.architecture): llama (dense, or Mixtral layout with
 * ffn_gate_inp / ffn_{gate,up,down}_exps), qwen2moe (shared expert with sigmoid gate), olmoe,
 * qwen3moe (q/k norms), deepseek2 (MLA, shared experts, leading dense layers); weight types F32,
 * F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K (src/engine/kernels). Anything else: an error naming the
 * tensor and type at open.
 *
 * Expert offloading (expert_cache_bytes > 0): the routed experts live in a bounded cache and a
 * miss reads them from the GGUF file with O_DIRECT on the engine's I/O threads; the records then
 * carry per-layer cache hits and misses, slow-tier bytes and stall (docs/ENGINE.md).
 *
 * Thread safety: one mc_engine is driven by one thread at a time (the server's scheduler);
 * the engine parallelises internally. Ownership: mc_engine_free releases everything. */
#ifndef MC_ENGINE_H
#define MC_ENGINE_H

#include "base.h"
#include "cap.h"
#include "model.h"

#include <stdint.h>
#include <sys/types.h>

typedef struct mc_engine mc_engine;
typedef struct mc_tok mc_tok; /* src/engine/tokenizer.h */

/* Where the weights live (mc_engine_opts.weights). */
enum {
    MC_WEIGHTS_AUTO = 0, /* copy when the tensor data takes at most half of MemAvailable */
    MC_WEIGHTS_MMAP = 1, /* run from the read-only file mapping (page cache, 4 KiB pages) */
    MC_WEIGHTS_COPY = 2  /* copy into anonymous memory on 2 MiB huge pages (faster decode) */
};

typedef struct mc_engine_opts {
    const char *model_path;  /* GGUF file */
    int n_threads;           /* 0 = number of online CPUs */
    int64_t n_ctx;           /* KV positions per sequence; 0 = min(model context, 4096) */
    int max_seqs;            /* KV slots (sequences alive at once); 0 = 1 */
    int64_t max_step_tokens; /* most tokens one step may carry (prefill chunk budget); 0 = 512 */
    mc_dtype kv_type;        /* MC_DT_F16 (mc_engine_opts_default) or MC_DT_F32. Taken as given:
                                MC_DT_F32 is 0, so zeroed options get an f32 cache */
    const char *kernels;     /* "ref", "avx2", "avxvnni", "avx512" or NULL = best for this CPU */
    int trace_tokens;        /* 1: fill tokens_per_expert in the records (distinct counts are
                                always recorded) */
    int no_trace;            /* 1: keep no per-pass record (mc_engine_last_pass returns NULL);
                                for measuring what recording costs (docs/ENGINE.md) */
    int weights;             /* MC_WEIGHTS_* (0 = auto) */
    /* expert offloading (docs/ENGINE.md, "Expert offloading") */
    int64_t expert_cache_bytes; /* 0 = off (every expert resident); else routed experts live in
                                   a cache of at most this many bytes, read from the GGUF file on
                                   a miss */
    int expert_cache_policy;    /* MC_XCACHE_LRU (default), MC_XCACHE_LFU, MC_XCACHE_STATIC */
    const char *expert_profile; /* records JSONL with tokens_per_expert: STATIC pins the hottest
                                   experts by total tokens (required for STATIC) */
    int expert_prefetch;        /* 1: predict the next MoE layer's experts and read the more
                                   confident half of each token's top-k ahead; 2: all of its
                                   top-k (MC_XCACHE_PREFETCH_*; A/B measurements) */
    int expert_direct;          /* 1 (default): O_DIRECT reads (buffered + fadvise(DONTNEED) when
                                   the file system refuses); 0: buffered reads */
    /* tests: replaces pread(2) for the expert reads (fault injection); NULL = pread */
    ssize_t (*expert_pread)(int fd, void *buf, size_t n, off_t off);
    int64_t expert_chunk_bytes; /* largest expert read request; 0 = 1 MiB; a multiple of 4096
                                   (tests force many chunks per matrix with a small one) */
    int no_repack; /* 1: keep copied weights in GGUF's layout instead of the kernels'
                      faster one (A/B measurements; docs/KERNELS.md "Repacked weights") */
} mc_engine_opts;

/* Expert cache policies (mc_engine_opts.expert_cache_policy). */
enum { MC_XCACHE_LRU = 0, MC_XCACHE_LFU = 1, MC_XCACHE_STATIC = 2 };

void mc_engine_opts_default(mc_engine_opts *o);

mc_err mc_engine_open(const mc_engine_opts *o, mc_engine **out, mc_diag *d);
void mc_engine_free(mc_engine *e); /* NULL ok */

const mc_model *mc_engine_model(const mc_engine *e); /* description with exact GGUF bytes */
const mc_tok *mc_engine_tok(const mc_engine *e); /* the file's tokenizer (tokenizer.h); NULL when
                                                   it has none this build can read */
const char *mc_engine_tok_error(const mc_engine *e); /* why mc_engine_tok is NULL (else NULL) */
int64_t mc_engine_vocab(const mc_engine *e);
int64_t mc_engine_n_ctx(const mc_engine *e);
int mc_engine_max_seqs(const mc_engine *e);
int mc_engine_threads(const mc_engine *e);
const char *mc_engine_isa(const mc_engine *e);      /* kernel set in use */
int mc_engine_weights_copied(const mc_engine *e);   /* 1: weights in huge-page memory, 0: mapped */
int mc_engine_weights_repacked(const mc_engine *e); /* matrices repacked into a kernel layout */

/* ---- expert cache (xcache.c) ---- */
/* Cumulative figures since open (the per-pass ones are in the record, mc_pass.cache_*). */
typedef struct mc_engine_xstats {
    int64_t slots, slot_bytes; /* cache slots and the bytes of one (an expert's three matrices,
                                  4 KiB aligned with padding) */
    int64_t experts;           /* routed experts of the model (all MoE layers) */
    int64_t pinned;            /* experts pinned by the static policy (loaded at open) */
    int64_t hits, misses;      /* per (pass, MoE layer, distinct activated expert) */
    int64_t bytes, reads;      /* bytes and read calls to the slow tier (prefetches included) */
    int64_t prefetched;        /* experts read ahead by the prefetcher */
    int64_t cancelled;         /* of those, wrong predictions whose queued reads were dropped */
    int64_t prefetch_used;     /* of those, asked for by their layer (resident or still read) */
    double stall_s;            /* time the compute thread waited for reads */
    double read_s;             /* wall time with at least one read in flight */
    double repack_s;           /* I/O threads' time rewriting read matrices into the kernels'
                                  layout (CPU time taken beside the compute when overlapped) */
    int direct;                /* 1: O_DIRECT, 0: buffered reads + fadvise(DONTNEED) */
} mc_engine_xstats;

/* 1 and *out filled when the engine has an expert cache, else 0. */
int mc_engine_xcache_stats(const mc_engine *e, mc_engine_xstats *out);
/* 1: the expert cache reads with O_DIRECT; 0: buffered (fallback or asked); -1: no cache. */
int mc_engine_xcache_direct(const mc_engine *e);
/* Why the cache does not use O_DIRECT ("" when it does or there is no cache). */
const char *mc_engine_xcache_note(const mc_engine *e);

/* ---- where a step's time goes ---- */
/* Wall time of the successful steps since open or the last mc_engine_profile_reset, by phase:
 * attention (norm, projections, RoPE, KV, scores), routing (FFN norm, router matmul, top-k,
 * grouping, tracing), experts (gate/up/down of the routed and shared experts, expert-cache waits,
 * combining), dense FFN layers, head (final norm and LM head), and other (checks, embedding,
 * bookkeeping: step minus the named phases). Always on: a few clock reads per layer. */
enum {
    MC_PHASE_ATTN,
    MC_PHASE_ROUTE,
    MC_PHASE_EXPERTS,
    MC_PHASE_DENSE,
    MC_PHASE_HEAD,
    MC_PHASE_OTHER,
    MC_PHASES
};
typedef struct mc_engine_prof {
    double s[MC_PHASES]; /* seconds per phase, summed over the steps */
    double step_s;       /* seconds of those steps in all */
    int64_t steps;
} mc_engine_prof;
void mc_engine_profile(const mc_engine *e, mc_engine_prof *out);
void mc_engine_profile_reset(mc_engine *e);
const char *mc_engine_phase_name(int phase); /* "attention", "routing", ...; NULL out of range */

/* ---- sequences (KV slots 0 .. max_seqs-1) ---- */
void mc_engine_seq_reset(mc_engine *e, int seq);        /* forget the slot's tokens */
int64_t mc_engine_seq_len(const mc_engine *e, int seq); /* tokens in the slot's KV */

/* ---- one forward pass ---- */
enum { MC_LOGITS_NONE = 0, MC_LOGITS_LAST = 1, MC_LOGITS_ALL = 2 };

typedef struct mc_batch_item {
    int seq;               /* KV slot; each slot at most once per step */
    const int32_t *tokens; /* tokens appended at positions seq_len .. seq_len + n_tokens - 1 */
    int64_t n_tokens;      /* >= 1 */
    int logits;            /* MC_LOGITS_* */
    float *logits_out;     /* caller-owned: vocab floats (LAST) or n_tokens x vocab (ALL) */
    int more_chunks;       /* 1: more prompt chunks of this sequence follow; recorded as
                              is_last_chunk = 0 (0, the default, records is_last_chunk = 1) */
} mc_batch_item;

/* Runs one forward pass. Fails (with nothing changed) on bad items: unknown slot, a slot twice,
 * token ids out of the vocabulary, context overflow (seq_len + n_tokens > n_ctx), more than
 * max_step_tokens tokens in total. With an expert cache a read error on the slow tier fails the
 * step too (no slot advances, mc_engine_last_pass is NULL until the next successful step); the
 * engine stays usable. */
mc_err mc_engine_step(mc_engine *e, const mc_batch_item *items, int n_items, mc_diag *d);

/* The record of the last successful step (engine-owned, valid until the next step); NULL before
 * the first step and when the engine was opened with no_trace. */
const mc_pass *mc_engine_last_pass(const mc_engine *e);

/* ---- sampling and scores (sample.c) ---- */
typedef struct mc_sampler {
    float temperature; /* 0 = greedy (argmax, lowest id on ties) */
    float top_p;       /* 1 = off */
    int top_k;         /* 0 = off */
    uint64_t seed;
} mc_sampler;

void mc_sampler_default(mc_sampler *s); /* greedy */

/* Draws a token from logits (modified in place: scaled, filtered). rng advances; scratch holds
 * at least vocab floats + vocab int32 (mc_engine provides one via mc_engine_sample). */
int32_t mc_engine_sample(mc_engine *e, float *logits, const mc_sampler *s, mc_rng *rng);

/* log softmax(logits)[token] computed stably in double precision. */
double mc_logprob(const float *logits, int64_t vocab, int32_t token);
/* The n most likely tokens and their log-probabilities, descending (n <= 64). */
int mc_top_logprobs(const float *logits, int64_t vocab, int n, int32_t *ids, double *lps);

#endif
