/* benchutil.h: what the benchmarks in bench/ share: where they ran (commit, a shell line), waiting
 * for idle cores on a shared machine, mean and sd of repetitions, and the cached random MoE that
 * the engine benchmarks run on. Not thread-safe; for bench/ programs only (they print). */
#ifndef MC_BENCHUTIL_H
#define MC_BENCHUTIL_H

#include "model.h" /* mc_dtype */

#include <stddef.h>
#include <stdint.h>

/* The first line of cmd's output (no newline) in out; "" when it prints nothing or fails. */
void mc_bench_read_line(const char *cmd, char *out, size_t n);
/* `git describe --always --dirty` of the source tree; "" outside a checkout. */
void mc_bench_commit(char *out, size_t n);

/* Waits until `threads` spinning threads (at most 64) each get 90% of a core, checking every ~2 s,
 * or until max_s seconds passed; always measures once (about 200 ms). */
void mc_bench_wait_quiet(int threads, double max_s);

/* Mean and sample sd (n - 1; 0 for one value) of v[0..n), n >= 1. */
void mc_bench_mean_sd(const double *v, int n, double *mean, double *sd);

/* The benchmarks' random MoE: make-model --embd 2048 --layers 8 --experts 16 --top-k 2 --ff 1024
 * --heads 16 --kv-heads 4 --type type, the llama-spm vocabulary when the data directory has it
 * (else a synthetic one of `vocab` tokens), written once to
 * $MOECAP_CACHE_DIR/<subdir>/moe-2048x8-e16k2-<type>.gguf. Fills path; returns it, or NULL
 * after a message on stderr prefixed with who. */
const char *mc_bench_moe_model(const char *subdir, mc_dtype type, int64_t vocab, const char *who,
                               char *path, size_t n);

#endif
