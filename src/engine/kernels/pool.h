/* pool: a persistent thread pool with a low-latency parallel-for, for the engine's kernels.
 *
 * mc_pool_new(n) starts n-1 worker threads once; the calling thread is worker 0 of every
 * mc_pool_for. A parallel-for hands out chunks [i*chunk, min(n, (i+1)*chunk)) from an atomic
 * counter and returns when every chunk has run (a barrier). Waking is a generation counter that
 * idle workers spin on for a short while (spin_us, default 100 us) before sleeping on a futex,
 * so back-to-back calls (dozens per token) cost a few microseconds and an idle pool costs no CPU.
 * Nothing is allocated per call.
 *
 * Ownership: mc_pool_new returns a heap object freed by mc_pool_free (NULL ok), which joins the
 * workers. Thread safety: one thread at a time may call mc_pool_for on a given pool (it is not
 * reentrant: fn must not call mc_pool_for on the same pool). */
#ifndef MC_POOL_H
#define MC_POOL_H

#include "base.h"

#include <stdint.h>

typedef struct mc_pool mc_pool;

/* fn runs [begin, end) (one chunk) on worker `worker` (0 = the caller, 1..n_threads-1). */
typedef void (*mc_pool_fn)(void *ctx, int64_t begin, int64_t end, int worker);

/* n_threads in [1, 256]; 1 = no worker threads (everything runs on the caller).
 * MC_ERR_ARG out of range, MC_ERR_NOMEM, MC_ERR_INTERNAL if a thread cannot be started. */
mc_err mc_pool_new(int n_threads, mc_pool **out, mc_diag *d);
void mc_pool_free(mc_pool *p);
int mc_pool_threads(const mc_pool *p);
/* How long an idle worker spins before sleeping (0 = sleep at once). Call between runs. */
void mc_pool_set_spin_us(mc_pool *p, int spin_us);

/* Runs fn over [0, n) in chunks of `chunk` elements (chunk <= 0: n split evenly, one chunk per
 * thread). Returns after all chunks ran; their writes are visible to the caller. n <= 0: no-op. */
void mc_pool_for(mc_pool *p, int64_t n, int64_t chunk, mc_pool_fn fn, void *ctx);

#endif
