/* engine_fixtures.h: what the engine tests share: tiny generated models of each architecture
 * (src/engine/makemodel.h), engine opening with the test options, one-item steps, a fixed
 * prompt, the comparison with the reference forward pass. Paths are the caller's (tests put them
 * under harness_tmpdir()). */
#ifndef MC_ENGINE_FIXTURES_H
#define MC_ENGINE_FIXTURES_H

#include "engine.h"
#include "makemodel.h"

/* 40 token ids below 300 (the tiny models' vocabulary). */
extern const int32_t ef_prompt[40];

/* Tiny model of arch with weights of type t: 2 layers, embd 256 (a multiple of the K-quant
 * block), 4 heads of 64 (2 KV heads where the arch allows GQA), 8 experts top-2 of width 256,
 * vocabulary 300, seed 7; qwen2moe gets a shared expert of width 512. */
mc_make_opts ef_tiny(const char *arch, mc_dtype t);
/* Writes the model to path; 0 on failure (message on stderr). */
int ef_make(const mc_make_opts *o, const char *path);
/* Opens path: threads, KV slots, KV type, trace_tokens; n_ctx 64, max_step_tokens 64, the kernel
 * set from env MC_TEST_KERNELS (unset = best). NULL on failure (message on stderr). */
mc_engine *ef_open(const char *path, int threads, int seqs, mc_dtype kv, int trace_tok);
/* One step of one item (message on stderr on failure). */
mc_err ef_step(mc_engine *e, int seq, const int32_t *tok, int64_t n, int mode, float *out);
/* Lowest index of the largest value. */
int32_t ef_argmax(const float *l, int64_t n);

/* Writes the model to dir/name; the path (one of 4 static buffers, reused in turn), or NULL on
 * failure (message on stderr). */
const char *ef_make_in(const mc_make_opts *o, const char *dir, const char *name);

/* Logits of the engine (threads, KV type kv) against the double-precision reference forward
 * (tests/support/ref_forward.c) on ef_prompt: prefill 18 tokens, a second chunk of 17 (both
 * attend as blocks, the second from position 18), then 3 decode steps. Returns the worst
 * max |engine - ref| / rms(ref) over every position (INFINITY when something failed), and prints
 * it on stderr after label. */
double ef_compare_ref(const char *path, int threads, mc_dtype kv, const char *label);

/* The bound on ef_compare_ref for weights of type t: float weights differ by float rounding
 * only (observed <= ~1e-5 of the logits' RMS); quantised weights by near-tie int8 roundings of a
 * matmul input that land on the other side than in double precision (1-3% of the RMS on these
 * tiny models, observed <= 0.03); a wrong layout, scale, RoPE or routing rule moves them by 0.5
 * or more. */
double ef_type_tol(mc_dtype t);

#endif
