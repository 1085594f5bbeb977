/* pool.c: persistent worker threads and a low-latency parallel-for (see pool.h).
 *
 * Protocol: the caller publishes a job (fn, ctx, n, chunk), resets the chunk counter and the
 * pending count, then bumps `gen` (seq_cst). Workers wait for `gen` to change: spinning with
 * pause for spin_us, then sleeping in futex(FUTEX_WAIT) on `gen`; the caller issues FUTEX_WAKE
 * only when some worker announced it sleeps (`sleepers`), so a busy pool makes no system calls.
 * Everyone (caller included) takes chunks from the atomic counter; each worker decrements
 * `pending` (release) when the counter is exhausted and the caller spins on it (acquire).
 * Linux-only (futex). Must not depend on the kernel files; no intrinsics beyond a pause hint. */
#include "pool.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define POOL_MAX_THREADS 256

struct mc_pool {
    alignas(64) atomic_uint gen; /* job generation; futex word */
    atomic_int sleepers;         /* workers inside (or entering) FUTEX_WAIT */
    atomic_int stop;
    alignas(64) atomic_llong next;  /* next chunk start */
    alignas(64) atomic_int pending; /* workers still running the current job */
    alignas(64) mc_pool_fn fn;      /* the current job, written before gen is bumped */
    void *ctx;
    int64_t n, chunk;
    int n_threads;
    atomic_int spin_us;
    int started; /* worker threads actually created */
    pthread_t threads[POOL_MAX_THREADS];
    struct pool_arg {
        mc_pool *p;
        int id;
    } args[POOL_MAX_THREADS];
};

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void futex_wait(atomic_uint *w, unsigned val)
{
    syscall(SYS_futex, (unsigned *)w, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake_all(atomic_uint *w)
{
    syscall(SYS_futex, (unsigned *)w, FUTEX_WAKE_PRIVATE, POOL_MAX_THREADS, NULL, NULL, 0);
}

static void run_chunks(mc_pool *p, int worker)
{
    for (;;) {
        int64_t b = atomic_fetch_add_explicit(&p->next, p->chunk, memory_order_relaxed);
        if (b >= p->n)
            return;
        int64_t e = b + p->chunk < p->n ? b + p->chunk : p->n;
        p->fn(p->ctx, b, e, worker);
    }
}

/* Waits until gen differs from seen; returns the new generation. */
static unsigned wait_gen(mc_pool *p, unsigned seen)
{
    mc_ns limit =
        mc_now_ns() + (mc_ns)atomic_load_explicit(&p->spin_us, memory_order_relaxed) * 1000u;
    for (unsigned i = 1;; i++) {
        unsigned g = atomic_load_explicit(&p->gen, memory_order_acquire);
        if (g != seen)
            return g;
        if ((i & 63) == 0 && mc_now_ns() >= limit)
            break;
        cpu_relax();
    }
    for (;;) {
        atomic_fetch_add(&p->sleepers, 1); /* seq_cst: pairs with the caller's gen bump */
        unsigned g = atomic_load(&p->gen);
        if (g == seen)
            futex_wait(&p->gen, seen);
        atomic_fetch_sub(&p->sleepers, 1);
        g = atomic_load_explicit(&p->gen, memory_order_acquire);
        if (g != seen)
            return g;
    }
}

static void *worker_main(void *arg)
{
    struct pool_arg *a = arg;
    mc_pool *p = a->p;
    unsigned seen = 0;
    for (;;) {
        seen = wait_gen(p, seen);
        if (atomic_load_explicit(&p->stop, memory_order_acquire))
            return NULL;
        run_chunks(p, a->id);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
    }
}

static void publish(mc_pool *p)
{
    atomic_fetch_add(&p->gen, 1); /* seq_cst: the job fields above are published with it */
    if (atomic_load(&p->sleepers) > 0)
        futex_wake_all(&p->gen);
}

mc_err mc_pool_new(int n_threads, mc_pool **out, mc_diag *d)
{
    *out = NULL;
    if (n_threads < 1 || n_threads > POOL_MAX_THREADS)
        return mc_fail(d, MC_ERR_ARG, "pool: %d threads is out of range [1, %d]", n_threads,
                       POOL_MAX_THREADS);
    mc_pool *p = mc_calloc(1, sizeof *p);
    if (!p)
        return mc_fail(d, MC_ERR_NOMEM, "pool: out of memory");
    p->n_threads = n_threads;
    atomic_init(&p->spin_us, 100);
    for (int i = 1; i < n_threads; i++) {
        p->args[i].p = p;
        p->args[i].id = i;
        int rc = pthread_create(&p->threads[i], NULL, worker_main, &p->args[i]);
        if (rc != 0) {
            mc_pool_free(p);
            return mc_fail(d, MC_ERR_INTERNAL, "pool: cannot start worker thread %d: %s", i,
                           strerror(rc));
        }
        p->started = i;
    }
    *out = p;
    return MC_OK;
}

void mc_pool_free(mc_pool *p)
{
    if (!p)
        return;
    atomic_store(&p->stop, 1);
    publish(p);
    for (int i = 1; i <= p->started; i++)
        pthread_join(p->threads[i], NULL);
    mc_free(p);
}

int mc_pool_threads(const mc_pool *p)
{
    return p->n_threads;
}

void mc_pool_set_spin_us(mc_pool *p, int spin_us)
{
    atomic_store(&p->spin_us, spin_us < 0 ? 0 : spin_us);
}

void mc_pool_for(mc_pool *p, int64_t n, int64_t chunk, mc_pool_fn fn, void *ctx)
{
    if (n <= 0)
        return;
    if (chunk <= 0)
        chunk = (n + p->n_threads - 1) / p->n_threads;
    if (p->n_threads == 1 || chunk >= n) {
        for (int64_t b = 0; b < n; b += chunk)
            fn(ctx, b, b + chunk < n ? b + chunk : n, 0);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    p->n = n;
    p->chunk = chunk;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    atomic_store_explicit(&p->pending, p->n_threads - 1, memory_order_relaxed);
    publish(p);
    run_chunks(p, 0);
    while (atomic_load_explicit(&p->pending, memory_order_acquire) != 0)
        cpu_relax();
}
