/* probe_vs_stream.c: is `moecap probe`'s read bandwidth honest? Runs the probe's read kernel
 * (the one mc_probe_run dispatches to) and a STREAM-style reference (stream_ref.c: a plain double
 * sum compiled -O3 -march=native -ffast-math -funroll-loops) on the SAME buffer, alternating,
 * with 1..nproc pinned threads each reading its own slice; then runs mc_probe_run itself.
 * Prints one JSON line per case (commit, CPU, threads, samples, mean, sd, best) and a summary.
 *
 * Checks: both kernels return the exact sums of the known buffer contents, and the probe reaches
 * at least 90% of the reference's best bandwidth at every thread count (exit 1 otherwise).
 * usage: probe_vs_stream [--size BYTES] [--samples N]
 * Depends on the hw module (public API + hw_internal.h for the kernels). */
#include "hw.h"
#include "hw_internal.h"

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MAX_T 256
#define REQUIRED_RATIO 0.90

double stream_ref_sum(const double *a, size_t n);

typedef struct round_ctx {
    const char *buf;
    size_t bytes;
    int threads;
    int use_ref; /* 1: stream_ref_sum over doubles, 0: probe kernel over floats */
    mc_probe_read_fn read;
    pthread_barrier_t bar;
    int cpu[MAX_T];
    mc_ns t0[MAX_T], t1[MAX_T];
    double sum[MAX_T];
} round_ctx;

typedef struct worker_arg {
    round_ctx *c;
    int id;
} worker_arg;

typedef struct stats {
    double mean, sd, best;
} stats;

static void *bench_worker(void *p)
{
    round_ctx *c = ((worker_arg *)p)->c;
    int id = ((worker_arg *)p)->id;
    if (c->cpu[id] >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(c->cpu[id], &set);
        pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    }
    size_t per = c->bytes / (size_t)c->threads / 64 * 64;
    size_t b = (size_t)id * per, e = id == c->threads - 1 ? c->bytes : b + per;
    pthread_barrier_wait(&c->bar);
    c->t0[id] = mc_now_ns();
    if (c->use_ref)
        c->sum[id] = stream_ref_sum((const double *)(const void *)(c->buf + b), (e - b) / 8);
    else
        c->sum[id] = c->read((const float *)(const void *)(c->buf + b), (e - b) / 4);
    c->t1[id] = mc_now_ns();
    return NULL;
}

/* One timed pass; returns bytes/s and the total of the threads' sums in *sum. */
static double one_round(round_ctx *c, double *sum)
{
    pthread_t th[MAX_T];
    worker_arg a[MAX_T];
    pthread_barrier_init(&c->bar, NULL, (unsigned)c->threads);
    for (int i = 0; i < c->threads; i++) {
        a[i].c = c;
        a[i].id = i;
        if (pthread_create(&th[i], NULL, bench_worker, &a[i]) != 0) {
            fprintf(stderr, "probe_vs_stream: pthread_create failed\n");
            _exit(1);
        }
    }
    for (int i = 0; i < c->threads; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&c->bar);
    mc_ns t0 = c->t0[0], t1 = c->t1[0];
    *sum = 0;
    for (int i = 0; i < c->threads; i++) {
        t0 = c->t0[i] < t0 ? c->t0[i] : t0;
        t1 = c->t1[i] > t1 ? c->t1[i] : t1;
        *sum += c->sum[i];
    }
    return (double)c->bytes / mc_ns_to_s(t1 - t0);
}

static stats summarise(const double *x, int n)
{
    stats s = {0, 0, 0};
    for (int i = 0; i < n; i++) {
        s.mean += x[i] / n;
        s.best = x[i] > s.best ? x[i] : s.best;
    }
    for (int i = 0; i < n; i++)
        s.sd += (x[i] - s.mean) * (x[i] - s.mean) / (n > 1 ? n - 1 : 1);
    s.sd = sqrt(s.sd);
    return s;
}

static void git_commit(char *out, size_t cap)
{
    snprintf(out, cap, "unknown");
    FILE *p = popen("git -C '" MC_SOURCE_DIR "' rev-parse --short=12 HEAD 2>/dev/null", "r");
    if (p && fgets(out, (int)cap, p))
        out[strcspn(out, "\n")] = 0;
    if (p)
        pclose(p);
    p = popen("git -C '" MC_SOURCE_DIR "' status --porcelain --untracked-files=no 2>/dev/null",
              "r");
    char line[8];
    if (p && fgets(line, sizeof line, p) && strlen(out) + 7 < cap)
        strcat(out, "-dirty");
    if (p)
        pclose(p);
}

typedef struct env {
    char commit[64], cpu[128];
    int nproc;
    double bytes;
} env;

static void print_case(const env *v, const char *name, int threads, int samples, stats s)
{
    printf("{\"bench\":\"probe_vs_stream\",\"case\":\"%s\",\"threads\":%d,\"bytes\":%.0f,"
           "\"samples\":%d,\"mean_GBps\":%.3f,\"sd_GBps\":%.3f,\"best_GBps\":%.3f,"
           "\"commit\":\"%s\",\"cpu\":\"%s\",\"nproc\":%d}\n",
           name, threads, v->bytes, samples, s.mean / 1e9, s.sd / 1e9, s.best / 1e9, v->commit,
           v->cpu, v->nproc);
}

static int parse_args(int argc, char **argv, size_t *bytes, int *samples)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        uint64_t u;
        int64_t n;
        if (strcmp(argv[i], "--size") == 0 && mc_parse_size(argv[i + 1], &u) == MC_OK &&
            u >= (1u << 20))
            *bytes = (size_t)u;
        else if (strcmp(argv[i], "--samples") == 0 &&
                 mc_parse_i64(argv[i + 1], 1, 1000, &n) == MC_OK)
            *samples = (int)n;
        else
            return -1;
    }
    return argc % 2 == 1 ? 0 : -1;
}

/* Alternates reference and probe passes `samples` times at one thread count; checks sums. */
static int compare_at(round_ctx *c, const env *v, int samples, double *ratio)
{
    double ref[1000], prb[1000], sum;
    int ok = 1;
    size_t nf = c->bytes / 4;
    double expect_ref = (double)(c->bytes / 8) * ((const double *)(const void *)c->buf)[0];
    for (int s = -1; s < samples; s++) { /* s = -1: warm-up */
        c->use_ref = 1;
        double r = one_round(c, &sum);
        ok &= fabs(sum - expect_ref) <= 1e-6 * fabs(expect_ref);
        c->use_ref = 0;
        double p = one_round(c, &sum);
        ok &= sum == (double)nf; /* every float is 1.0f: the probe must have read them all */
        if (s >= 0) {
            ref[s] = r;
            prb[s] = p;
        }
    }
    stats sr = summarise(ref, samples), sp = summarise(prb, samples);
    print_case(v, "stream_ref_f64_sum", c->threads, samples, sr);
    print_case(v, "probe_read_kernel", c->threads, samples, sp);
    *ratio = sp.best / sr.best;
    if (!ok)
        fprintf(stderr, "probe_vs_stream: wrong sum at %d threads\n", c->threads);
    return ok;
}

/* Allocates and fills the shared buffer (every float 1.0f); fills the CPU list. */
static char *setup(round_ctx *c, env *v, size_t bytes, mc_probe_read_fn read)
{
    char *raw = mc_malloc(bytes + 64);
    if (!raw)
        return NULL;
    c->buf = raw + (64 - (uintptr_t)raw % 64) % 64;
    float *f = (float *)(void *)(uintptr_t)c->buf;
    for (size_t i = 0; i < bytes / 4; i++)
        f[i] = 1.0f;
    c->bytes = bytes;
    c->read = read;
    cpu_set_t set;
    v->nproc = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        for (int i = 0; i < CPU_SETSIZE && v->nproc < MAX_T; i++)
            if (CPU_ISSET(i, &set))
                c->cpu[v->nproc++] = i;
    if (v->nproc == 0)
        c->cpu[v->nproc++] = -1;
    git_commit(v->commit, sizeof v->commit);
    char vendor[32];
    mc_hw_cpu_identity(v->cpu, sizeof v->cpu, vendor, sizeof vendor);
    v->bytes = (double)bytes;
    return raw;
}

/* The probe end to end (its own buffer, pool and best-of-5); prints its per-thread bests. */
static int run_probe(const env *v, size_t bytes, mc_probe_result *r)
{
    mc_probe_opts o = {0, bytes, 5, NULL};
    mc_diag d = {{0}};
    if (mc_probe_run(&o, r, &d) != MC_OK) {
        fprintf(stderr, "probe_vs_stream: %s\n", d.msg);
        return 0;
    }
    for (int t = 0; t < r->n_threads; t++) {
        stats s = {r->bw_Bps_by_threads[t], 0, r->bw_Bps_by_threads[t]};
        print_case(v, "mc_probe_run_best", t + 1, r->repeats, s);
    }
    return 1;
}

int main(int argc, char **argv)
{
    static round_ctx c;
    env v;
    size_t bytes = 0;
    int samples = 10;
    mc_probe_kernels k;
    mc_diag d = {{0}};
    if (parse_args(argc, argv, &bytes, &samples) != 0) {
        fprintf(stderr, "usage: probe_vs_stream [--size BYTES (>= 1M)] [--samples N]\n");
        return 2;
    }
    if (mc_probe_kernels_get(NULL, &k, &d) != MC_OK) {
        fprintf(stderr, "probe_vs_stream: %s\n", d.msg);
        return 1;
    }
    long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (!bytes)
        bytes = 4.0 * (double)l3 > (double)(1u << 30) ? (size_t)(4 * l3) : (size_t)1 << 30;
    bytes = bytes / 4096 * 4096;
    char *raw = setup(&c, &v, bytes, k.read);
    if (!raw) {
        fprintf(stderr, "probe_vs_stream: cannot allocate %zu bytes\n", bytes);
        return 1;
    }
    int ok = 1;
    double worst = 1e9, ratio;
    for (c.threads = 1; c.threads <= v.nproc; c.threads++) {
        ok &= compare_at(&c, &v, samples, &ratio);
        worst = ratio < worst ? ratio : worst;
        printf("{\"bench\":\"probe_vs_stream\",\"case\":\"ratio\",\"threads\":%d,\"isa\":\"%s\","
               "\"probe_over_ref_best\":%.3f}\n", c.threads, k.isa, ratio);
    }
    mc_free(raw);
    mc_probe_result r;
    memset(&r, 0, sizeof r);
    ok &= run_probe(&v, bytes, &r);
    ok &= worst >= REQUIRED_RATIO;
    printf("{\"bench\":\"probe_vs_stream\",\"summary\":true,\"isa\":\"%s\",\"worst_ratio\":%.3f,"
           "\"required\":%.2f,\"fma_GFLOPs\":%.1f,\"fma_GFLOPs_1t\":%.1f,\"pass\":%s}\n",
           k.isa, worst, REQUIRED_RATIO, r.fma_flops / 1e9, r.fma_flops_1t / 1e9,
           ok ? "true" : "false");
    return ok ? 0 : 1;
}
