/* probe.c: `moecap probe` measurements: memory READ bandwidth with 1..N pinned threads over one
 * working set far larger than the last-level cache, and peak f32 FMA FLOP/s.
 *
 * Method (docs/HARDWARE.md "Probe"): persistent pthreads, one per CPU in the affinity mask, each
 * pinned; every round the coordinator publishes a job and releases the workers through a
 * barrier; each worker reads its own contiguous slice with the SIMD kernel and records its
 * monotonic start/end; the round's time is (latest end - earliest start). Best of `repeats`
 * rounds per thread count. Pages are first touched by the workers (NUMA-local placement).
 *
 * Depends on base and the kernels in probe_kernels.c / probe_avx*.c. Never prints. */
#include "hw.h"
#include "hw_internal.h"

#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PROBE_MAX_T 256
#define PROBE_MIN_BYTES (1u << 20)
#define PROBE_DEFAULT_REPEATS 5
#define PROBE_FMA_ROUND_S 0.05 /* target duration of one FMA round */

typedef enum job_kind { JOB_TOUCH, JOB_READ, JOB_FMA, JOB_QUIT } job_kind;

typedef struct worker_slot {
    mc_ns t0, t1;
    double sink; /* kernel result, kept so the work cannot be optimised away */
    char pad[40]; /* one cache line per worker */
} worker_slot;

typedef struct probe_pool {
    pthread_t th[PROBE_MAX_T];
    int cpu[PROBE_MAX_T];
    int n;        /* workers */
    int created;  /* threads started so far */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int gate;     /* 0 wait, 1 go, -1 abort: released once every thread exists */
    pthread_barrier_t start, done;
    /* the job: written by the coordinator before `start`, read by workers after it */
    job_kind job;
    int active;
    float *buf;
    size_t nfloats;
    uint64_t fma_iters;
    mc_probe_kernels k;
    worker_slot slot[PROBE_MAX_T];
} probe_pool;

typedef struct worker_arg {
    probe_pool *pool;
    int id;
} worker_arg;

/* ---- machine facts ---- */

static double parse_cache_size(const char *s)
{
    uint64_t v;
    char tmp[32];
    size_t n = strcspn(s, "\n");
    if (n == 0 || n >= sizeof tmp)
        return 0;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    return mc_parse_size(tmp, &v) == MC_OK ? (double)v : 0; /* "266240K" */
}

static double sysfs_cache_size(int index)
{
    char path[128], buf[64];
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", index);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    double v = fgets(buf, sizeof buf, f) ? parse_cache_size(buf) : 0;
    fclose(f);
    return v;
}

/* Largest cache level's size in bytes, 0 if unknown. */
static double llc_bytes(void)
{
#ifdef _SC_LEVEL3_CACHE_SIZE
    long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (l3 > 0)
        return (double)l3;
#endif
    double best = 0;
    for (int i = 0; i < 16; i++) {
        double v = sysfs_cache_size(i);
        if (v < 0)
            break;
        best = v > best ? v : best;
    }
    return best;
}

static int affinity_cpus(int *cpu, int cap)
{
    cpu_set_t set;
    int n = 0;
    if (sched_getaffinity(0, sizeof set, &set) != 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        for (int i = 0; i < c && n < cap; i++)
            cpu[n++] = -1; /* unknown ids: do not pin */
        return n > 0 ? n : 1;
    }
    for (int i = 0; i < CPU_SETSIZE && n < cap; i++)
        if (CPU_ISSET(i, &set))
            cpu[n++] = i;
    return n;
}

/* ---- workers ---- */

static void job_slice(const probe_pool *p, int id, size_t *begin, size_t *end)
{
    size_t per = p->nfloats / (size_t)p->active / 16 * 16; /* 64-byte aligned slices */
    *begin = (size_t)id * per;
    *end = id == p->active - 1 ? p->nfloats : *begin + per;
}

static void run_job(probe_pool *p, int id)
{
    worker_slot *s = &p->slot[id];
    size_t b, e;
    job_slice(p, id, &b, &e);
    if (p->job == JOB_TOUCH) {
        for (size_t i = b; i < e; i++)
            p->buf[i] = (float)(i % 7);
        return;
    }
    s->t0 = mc_now_ns();
    if (p->job == JOB_READ)
        s->sink = p->k.read(p->buf + b, e - b);
    else
        s->sink = p->k.fma(p->fma_iters);
    s->t1 = mc_now_ns();
}

static void *worker(void *arg)
{
    probe_pool *p = ((worker_arg *)arg)->pool;
    int id = ((worker_arg *)arg)->id;
    mc_free(arg);
    if (p->cpu[id] >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(p->cpu[id], &set);
        pthread_setaffinity_np(pthread_self(), sizeof set, &set); /* best effort */
    }
    pthread_mutex_lock(&p->mu);
    while (p->gate == 0)
        pthread_cond_wait(&p->cv, &p->mu);
    int go = p->gate > 0;
    pthread_mutex_unlock(&p->mu);
    while (go) {
        pthread_barrier_wait(&p->start);
        if (p->job == JOB_QUIT)
            break;
        if (id < p->active)
            run_job(p, id);
        pthread_barrier_wait(&p->done);
    }
    return NULL;
}

static void pool_open_gate(probe_pool *p, int value)
{
    pthread_mutex_lock(&p->mu);
    p->gate = value;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void pool_destroy(probe_pool *p)
{
    pthread_barrier_destroy(&p->start);
    pthread_barrier_destroy(&p->done);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
}

/* Starts p->n workers. On failure every started thread is joined again. */
static mc_err pool_start(probe_pool *p, mc_diag *d)
{
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    pthread_barrier_init(&p->start, NULL, (unsigned)p->n + 1);
    pthread_barrier_init(&p->done, NULL, (unsigned)p->n + 1);
    for (p->created = 0; p->created < p->n; p->created++) {
        worker_arg *a = mc_malloc(sizeof *a);
        if (a) {
            a->pool = p;
            a->id = p->created;
        }
        if (!a || pthread_create(&p->th[p->created], NULL, worker, a) != 0) {
            int failed = p->created + 1;
            mc_free(a);
            pool_open_gate(p, -1); /* started workers see the abort and return */
            for (int i = 0; i < p->created; i++)
                pthread_join(p->th[i], NULL);
            pool_destroy(p);
            return mc_fail(d, MC_ERR_NOMEM, "probe: cannot start thread %d", failed);
        }
    }
    pool_open_gate(p, 1);
    return MC_OK;
}

static void pool_stop(probe_pool *p)
{
    p->job = JOB_QUIT;
    pthread_barrier_wait(&p->start);
    for (int i = 0; i < p->n; i++)
        pthread_join(p->th[i], NULL);
    pool_destroy(p);
}


/* Runs one round with `active` workers; returns latest end - earliest start in seconds. */
static double pool_round(probe_pool *p, job_kind job, int active)
{
    p->job = job;
    p->active = active;
    pthread_barrier_wait(&p->start);
    pthread_barrier_wait(&p->done);
    mc_ns t0 = p->slot[0].t0, t1 = p->slot[0].t1;
    for (int i = 1; i < active; i++) {
        t0 = p->slot[i].t0 < t0 ? p->slot[i].t0 : t0;
        t1 = p->slot[i].t1 > t1 ? p->slot[i].t1 : t1;
    }
    double s = mc_ns_to_s(t1 - t0);
    return s > 1e-9 ? s : 1e-9;
}

/* ---- measurements ---- */

static double best_read_Bps(probe_pool *p, int threads, int repeats)
{
    double best = 0, bytes = (double)p->nfloats * sizeof(float);
    for (int r = 0; r < repeats; r++) {
        double bw = bytes / pool_round(p, JOB_READ, threads);
        best = bw > best ? bw : best;
    }
    return best;
}

static double best_fma_flops(probe_pool *p, int threads, int repeats)
{
    double best = 0, flops = (double)threads * (double)p->fma_iters * p->k.fma_flops_per_iter;
    for (int r = 0; r < repeats; r++) {
        double f = flops / pool_round(p, JOB_FMA, threads);
        best = f > best ? f : best;
    }
    return best;
}

/* Picks fma_iters so that one round lasts about PROBE_FMA_ROUND_S. */
static void calibrate_fma(probe_pool *p)
{
    p->fma_iters = 1u << 14;
    for (int i = 0; i < 20; i++) {
        double s = pool_round(p, JOB_FMA, 1);
        if (s >= PROBE_FMA_ROUND_S / 4 || p->fma_iters >= (1ull << 34))
            break;
        p->fma_iters *= 4;
    }
}

static void measure(probe_pool *p, int repeats, mc_probe_result *r)
{
    pool_round(p, JOB_TOUCH, p->n);
    pool_round(p, JOB_READ, p->n); /* warm-up: TLB, prefetchers, frequency */
    r->bw_Bps = 0;
    for (int t = 1; t <= p->n; t++) {
        r->bw_Bps_by_threads[t - 1] = best_read_Bps(p, t, repeats);
        if (r->bw_Bps_by_threads[t - 1] > r->bw_Bps)
            r->bw_Bps = r->bw_Bps_by_threads[t - 1];
    }
    calibrate_fma(p);
    r->fma_flops_1t = best_fma_flops(p, 1, repeats);
    r->fma_flops = best_fma_flops(p, p->n, repeats);
    r->n_threads = p->n;
}

/* ---- options ---- */

static mc_err resolve_opts(const mc_probe_opts *o, int ncpu, double llc, size_t *bytes,
                           int *threads, int *repeats, mc_diag *d)
{
    *threads = o && o->max_threads ? o->max_threads : ncpu;
    if (*threads < 1 || *threads > ncpu)
        return mc_fail(d, MC_ERR_RANGE, "probe: %d threads requested, this process may use "
                       "1..%d CPUs", *threads, ncpu);
    *repeats = o && o->repeats ? o->repeats : PROBE_DEFAULT_REPEATS;
    if (*repeats < 1 || *repeats > 1000)
        return mc_fail(d, MC_ERR_RANGE, "probe: repeats %d not in 1..1000", *repeats);
    double want = 4 * llc > (double)(1u << 30) ? 4 * llc : (double)(1u << 30);
    *bytes = o && o->array_bytes ? o->array_bytes : (size_t)want;
    if (*bytes < PROBE_MIN_BYTES)
        return mc_fail(d, MC_ERR_RANGE, "probe: working set %zu bytes is below the 1 MiB minimum",
                       *bytes);
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    double phys = pages > 0 && page > 0 ? (double)pages * (double)page : 0;
    if (phys > 0 && (double)*bytes > phys / 2)
        return mc_fail(d, MC_ERR_RANGE, "probe: working set %zu bytes exceeds half of physical "
                       "memory (%.0f bytes)", *bytes, phys);
    return MC_OK;
}

mc_err mc_probe_run(const mc_probe_opts *o, mc_probe_result *r, mc_diag *d)
{
    probe_pool *p = mc_calloc(1, sizeof *p);
    if (!p)
        return mc_fail(d, MC_ERR_NOMEM, "probe: out of memory");
    int ncpu = affinity_cpus(p->cpu, PROBE_MAX_T), repeats = 0;
    size_t bytes = 0;
    memset(r, 0, sizeof *r);
    r->llc_bytes = llc_bytes();
    mc_err e = resolve_opts(o, ncpu, r->llc_bytes, &bytes, &p->n, &repeats, d);
    if (e == MC_OK)
        e = mc_probe_kernels_get(o ? o->kernel : NULL, &p->k, d);
    char *raw = e == MC_OK ? mc_malloc(bytes + 64) : NULL;
    if (e == MC_OK && !raw)
        e = mc_fail(d, MC_ERR_NOMEM, "probe: cannot allocate a %zu-byte working set", bytes);
    if (e == MC_OK) {
        p->buf = (float *)(void *)(raw + (64 - (uintptr_t)raw % 64) % 64);
        p->nfloats = bytes / sizeof(float);
        e = pool_start(p, d);
    }
    if (e == MC_OK) {
        measure(p, repeats, r);
        pool_stop(p);
        mc_hw_cpu_identity(r->cpu_model, sizeof r->cpu_model, (char[32]){0}, 32);
        snprintf(r->isa, sizeof r->isa, "%s", p->k.isa);
        r->array_bytes = (double)p->nfloats * sizeof(float);
        r->repeats = repeats;
    }
    mc_free(raw);
    mc_free(p);
    return e;
}
