/* bench_kernels.c: throughput of the engine kernels against this machine's own limits.
 *
 * References measured in the same run, per ISA and thread count: memory read bandwidth (each
 * thread reads its contiguous slice of a buffer much larger than the LLC) as a plain one-stream
 * sum (what `moecap probe` measures, the S-MBU denominator) and as four interleaved prefetched
 * streams (the most one core was seen to read), and peak f32 FMA FLOP/s (12 independent FMA
 * chains per thread, ymm for avx2 and zmm for avx512). Cases:
 *   read, fma    the references
 *   pool         cost of one empty parallel-for (the engine calls dozens per token)
 *   matvec       batch-1 decode: n_tok = 1 over many distinct matrices (working set >> LLC),
 *                GB/s of weight bytes streamed and its ratio to both read references
 *   batch        grouped decode: n_tok = 2..64 on expert-shaped matrices (GB/s and GFLOP/s)
 *   prefill      n_tok = 512 on a 4096 x 4096 matrix: GFLOP/s and its ratio to the AVX2 and the
 *                AVX-512 FMA peak (S-MFU)
 * One warm-up and --reps timed repetitions per case; one JSON line per case on stdout (commit,
 * CPU, ISA, threads, clock, load average, samples, mean, sd), a summary on stderr. Each matmul
 * case checks sample outputs against the scalar reference kernels ("check": "ok" or "FAIL",
 * exit 1). Depends on the kernels module (kernels_impl.h for the ref table) and base. */
#include "benchutil.h"
#include "kernels.h"
#include "kernels_impl.h"
#include "pool.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_LIST 16

typedef struct bench_opts {
    char isas[MAX_LIST][16];
    int n_isas;
    int threads[MAX_LIST];
    int n_threads;
    mc_dtype types[MAX_LIST];
    int n_types;
    char cases[256];
    int reps;
    int64_t ws_bytes;
    int cpu_clock;     /* 1: time samples by process CPU time / threads instead of wall time */
    mc_wlayout layout; /* --layout: weights of the matmul cases repacked (types that have it) */
} bench_opts;

typedef struct bench_env {
    char commit[64];
    char cpu[128];
    double read_GBps[2][MAX_LIST];  /* 4 streams: [avx2, avx512][thread index] */
    double read1_GBps[2][MAX_LIST]; /* 1 plain stream */
    double peak_GFLOPs[2][MAX_LIST];
    int failures;
} bench_env;

static bench_opts O;
static bench_env E;

/* ---------------------------------------------------------------- helpers ---- */

static void env_init(void)
{
    mc_bench_commit(E.commit, sizeof E.commit);
    if (!E.commit[0])
        snprintf(E.commit, sizeof E.commit, "unknown");
    mc_bench_read_line("grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'", E.cpu, sizeof E.cpu);
}

static void *alloc64(size_t bytes, void **raw)
{
    *raw = mc_malloc(bytes + 64);
    if (!*raw) {
        fprintf(stderr, "bench_kernels: out of memory (%zu bytes)\n", bytes);
        exit(1);
    }
    return (char *)*raw + (64 - (uintptr_t)*raw % 64) % 64;
}

typedef struct stats {
    double mean, sd, samples[64];
    int n;
} stats;

static void stats_finish(stats *s)
{
    mc_bench_mean_sd(s->samples, s->n, &s->mean, &s->sd);
}

static cJSON *json_case(const char *name, const char *isa, int threads, const stats *s,
                        const char *unit)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "bench", "kernels");
    cJSON_AddStringToObject(j, "case", name);
    cJSON_AddStringToObject(j, "isa", isa);
    cJSON_AddNumberToObject(j, "threads", threads);
    cJSON_AddStringToObject(j, "unit", unit);
    cJSON_AddStringToObject(j, "clock", O.cpu_clock ? "process_cpu/threads" : "wall");
    cJSON_AddNumberToObject(j, "mean", s->mean);
    cJSON_AddNumberToObject(j, "sd", s->sd);
    cJSON_AddItemToObject(j, "samples", cJSON_CreateDoubleArray(s->samples, s->n));
    cJSON_AddStringToObject(j, "commit", E.commit);
    cJSON_AddStringToObject(j, "cpu", E.cpu);
    char load[64];
    mc_bench_read_line("cut -d' ' -f1 /proc/loadavg", load, sizeof load);
    cJSON_AddStringToObject(j, "loadavg_1min", load); /* other work on the machine skews results */
    return j;
}

static void json_emit(cJSON *j)
{
    char *txt = cJSON_PrintUnformatted(j);
    if (txt) {
        printf("%s\n", txt);
        fflush(stdout);
        free(txt); /* cJSON's allocator */
    }
    cJSON_Delete(j);
}

/* Sample clock. Wall time is what the engine will see; process CPU time divided by the thread
 * count is robust to other processes taking cores away (it includes the pool's spin-waits, so
 * with threads > 1 it can only err towards lower throughput). */
static double clk_s(void)
{
    if (!O.cpu_clock)
        return mc_ns_to_s(mc_now_ns());
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double clk_since(double t0, int threads)
{
    double d = clk_s() - t0;
    return O.cpu_clock ? d / threads : d;
}

static int want_case(const char *c)
{
    return strstr(O.cases, c) != NULL;
}

static int isa_slot(const char *isa)
{
    return strcmp(isa, "avx512") == 0;
}

/* ---------------------------------------------------------------- references ---- */

typedef struct read_job {
    const char *buf;
    size_t bytes;
    int streams;
    uint64_t sums[MAX_LIST * 16];
} read_job;

static void read_fn(void *ctx, int64_t b, int64_t e, int worker)
{
    read_job *j = ctx;
    size_t per = j->bytes / 64 / 256 * 64; /* 256 chunks */
    for (int64_t i = b; i < e; i++)
        j->sums[worker] += mc_kernels_read_sum(j->buf + (size_t)i * per, per, j->streams);
}

/* Read bandwidth with `streams` (1 plain sequential pass, or 4 interleaved prefetched streams)
 * per 4 MiB chunk; each thread reads its own contiguous half/third/... of the buffer. */
static void bench_read(mc_pool *pool, const char *isa, int ti, int streams)
{
    void *raw;
    size_t bytes = (size_t)O.ws_bytes / 16384 * 16384;
    char *buf = alloc64(bytes, &raw);
    memset(buf, 1, bytes);
    read_job j = {buf, bytes, streams, {0}};
    size_t per = bytes / 64 / 256 * 64;
    stats s = {.n = O.reps};
    for (int r = -1; r < O.reps; r++) {
        double t0 = clk_s();
        mc_pool_for(pool, 256, 0, read_fn, &j);
        double dt = clk_since(t0, mc_pool_threads(pool));
        if (r >= 0)
            s.samples[r] = (double)per * 256 / dt / 1e9;
    }
    stats_finish(&s);
    if (streams == 4)
        E.read_GBps[isa_slot(isa)][ti] = s.mean;
    else
        E.read1_GBps[isa_slot(isa)][ti] = s.mean;
    cJSON *js = json_case("read", isa, mc_pool_threads(pool), &s, "GB/s");
    cJSON_AddNumberToObject(js, "bytes", (double)per * 256);
    cJSON_AddNumberToObject(js, "streams", streams);
    json_emit(js);
    fprintf(stderr, "read     %-7s T=%d  %d stream%s %7.2f GB/s (sd %.2f)\n", isa,
            mc_pool_threads(pool), streams, streams > 1 ? "s" : " ", s.mean, s.sd);
    mc_free(raw);
}

static void fma_fn(void *ctx, int64_t b, int64_t e, int worker)
{
    double *flops = ctx;
    for (int64_t i = b; i < e; i++)
        flops[worker] += mc_kernels_fma_loop(20000000);
}

static void bench_fma(mc_pool *pool, const char *isa, int ti)
{
    int T = mc_pool_threads(pool);
    stats s = {.n = O.reps};
    for (int r = -1; r < O.reps; r++) {
        double flops[MAX_LIST * 16] = {0}, tot = 0;
        double t0 = clk_s();
        mc_pool_for(pool, T, 1, fma_fn, flops);
        double dt = clk_since(t0, T);
        for (int i = 0; i < T; i++)
            tot += flops[i];
        if (r >= 0)
            s.samples[r] = tot / dt / 1e9;
    }
    stats_finish(&s);
    E.peak_GFLOPs[isa_slot(isa)][ti] = s.mean;
    json_emit(json_case("fma_peak", isa, T, &s, "GFLOP/s"));
    fprintf(stderr, "fma peak %-7s T=%d  %7.1f GFLOP/s (sd %.1f)\n", isa, T, s.mean, s.sd);
}

static void noop_fn(void *ctx, int64_t b, int64_t e, int worker)
{
    (void)ctx, (void)b, (void)e, (void)worker;
}

static void bench_pool(mc_pool *pool, const char *isa)
{
    int T = mc_pool_threads(pool), calls = 20000;
    stats s = {.n = O.reps};
    for (int r = -1; r < O.reps; r++) {
        double t0 = clk_s();
        for (int i = 0; i < calls; i++)
            mc_pool_for(pool, T, 1, noop_fn, NULL);
        double dt = clk_since(t0, T);
        if (r >= 0)
            s.samples[r] = dt / calls * 1e6;
    }
    stats_finish(&s);
    json_emit(json_case("pool_dispatch", isa, T, &s, "us/call"));
    fprintf(stderr, "pool     %-7s T=%d  %7.2f us per parallel-for (sd %.2f)\n", isa, T, s.mean,
            s.sd);
}

/* ---------------------------------------------------------------- matmul cases ---- */

typedef struct mat_set {
    mc_dtype t;
    int64_t rows, cols, count; /* count distinct matrices */
    size_t mat_bytes;
    char *w;
    void *raw;
    mc_wlayout layout; /* O.layout for the types that have it (mc_kernels_repack), else GGML */
} mat_set;

/* count matrices of rows x cols filling at least ws bytes (at least min_count), made by copying
 * one quantised 256-row unit of random weights (sd 0.02). */
static void mats_make(mat_set *m, mc_dtype t, int64_t rows, int64_t cols, int64_t ws,
                      int64_t min_count)
{
    m->t = t;
    m->rows = rows;
    m->cols = cols;
    if (mc_kernels_row_bytes(t, cols, &m->mat_bytes, NULL) != MC_OK)
        abort();
    size_t rb = m->mat_bytes;
    m->mat_bytes *= (size_t)rows;
    m->count = (ws + (int64_t)m->mat_bytes - 1) / (int64_t)m->mat_bytes;
    if (m->count < min_count)
        m->count = min_count;
    m->w = alloc64(m->mat_bytes * (size_t)m->count, &m->raw);
    int64_t unit = rows < 256 ? rows : 256;
    float *f = mc_malloc((size_t)cols * 4);
    mc_rng r;
    mc_rng_seed(&r, 1234);
    for (int64_t i = 0; i < unit; i++) {
        for (int64_t k = 0; k < cols; k++)
            f[k] = (float)(mc_rng_normal(&r) * 0.02);
        mc_kernels_quant_row(t, f, m->w + (size_t)i * rb, cols);
    }
    /* unit is 256 rows or all of them: whole 16-row groups; a type without the layout (repack
     * says MC_ERR_ARG) stays in GGML layout */
    m->layout = O.layout;
    if (mc_kernels_repack(t, m->layout, unit, cols, m->w, NULL, NULL) != MC_OK)
        m->layout = MC_WLAYOUT_GGML;
    size_t unit_bytes = rb * (size_t)unit, total = m->mat_bytes * (size_t)m->count;
    for (size_t off = unit_bytes; off < total; off += unit_bytes)
        memcpy(m->w + off, m->w, off + unit_bytes <= total ? unit_bytes : total - off);
    mc_free(f);
}

/* n_tok random activation rows prepared for type t. */
static void *acts_make(mc_dtype t, int64_t cols, int64_t n_tok, size_t *stride)
{
    *stride = mc_kernels_act_row_bytes(t, cols);
    char *x = mc_malloc(*stride * (size_t)n_tok);
    float *f = mc_malloc((size_t)cols * 4);
    mc_rng r;
    mc_rng_seed(&r, 99);
    for (int64_t i = 0; i < n_tok; i++) {
        for (int64_t k = 0; k < cols; k++)
            f[k] = (float)mc_rng_normal(&r);
        mc_kernels_quant_act(t, f, x + (size_t)i * *stride, cols);
    }
    mc_free(f);
    return x;
}

static void mm_fn(void *ctx, int64_t b, int64_t e, int worker)
{
    mc_matmul m = *(const mc_matmul *)ctx;
    (void)worker;
    m.r0 = b;
    m.r1 = e;
    mc_kernels_matmul(&m);
}

/* Runs n_mats matmuls (matrices i = 0.. of the set), each split over the pool by rows. */
static void run_mats(mc_pool *pool, const mat_set *m, int64_t n_mats, const void *x, size_t xs,
                     int64_t n_tok, float *y)
{
    int T = mc_pool_threads(pool);
    int64_t chunk = (m->rows + T - 1) / T;
    chunk = (chunk + 15) / 16 * 16;
    for (int64_t i = 0; i < n_mats; i++) {
        mc_matmul mm = {.wtype = m->t,
                        .w = m->w + (size_t)(i % m->count) * m->mat_bytes,
                        .cols = m->cols,
                        .r0 = 0,
                        .r1 = m->rows,
                        .x = x,
                        .x_stride = xs,
                        .n_tok = n_tok,
                        .y = y,
                        .y_stride = m->rows,
                        .layout = m->layout,
                        .rows = m->rows};
        mc_pool_for(pool, m->rows, chunk, mm_fn, &mm);
    }
}

/* Compares sample outputs of matrix 0 with the ref kernels: |y - ref| <= 1e-4 sum |w x|. */
static int check_mats(const mat_set *m, const void *x, size_t xs, int64_t n_tok, const float *y)
{
    mc_kernel_table ref;
    mc_kernels_table_for("ref", &ref, NULL);
    int64_t rows[] = {0, m->rows / 3, m->rows - 1}, toks[] = {0, n_tok / 2, n_tok - 1};
    char *w0 = mc_malloc(m->mat_bytes); /* matrix 0 in GGML layout */
    memcpy(w0, m->w, m->mat_bytes);
    if (mc_kernels_unpack(m->t, m->layout, m->rows, m->cols, w0, NULL, NULL) != MC_OK)
        abort();
    float *wf = mc_malloc((size_t)m->cols * 4), *xf = mc_malloc((size_t)m->cols * 4);
    float *yr = mc_malloc((size_t)m->rows * 4);
    size_t rb = m->mat_bytes / (size_t)m->rows;
    int bad = 0;
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++) {
            mc_matmul one = {.wtype = m->t,
                             .w = w0,
                             .cols = m->cols,
                             .r0 = rows[a],
                             .r1 = rows[a] + 1,
                             .x = (const char *)x + (size_t)toks[b] * xs,
                             .x_stride = xs,
                             .n_tok = 1,
                             .y = yr};
            ref.matmul[m->t](&one);
            float want = yr[rows[a]];
            ref.dequant[m->t](w0 + (size_t)rows[a] * rb, wf, m->cols);
            mc_act_row_to_f32(m->t, (const char *)x + (size_t)toks[b] * xs, xf, m->cols);
            double sabs = 0;
            for (int64_t k = 0; k < m->cols; k++)
                sabs += fabs((double)wf[k] * xf[k]);
            bad += !(fabs((double)y[toks[b] * m->rows + rows[a]] - want) <= 1e-4 * sabs + 1e-30);
        }
    mc_free(wf);
    mc_free(xf);
    mc_free(yr);
    mc_free(w0);
    return bad == 0;
}

/* The read-bandwidth references at thread index ti. best_read: the better of the avx2 and
 * avx512 plain one-stream sums (what `moecap probe` measures: the S-MBU denominator).
 * best_read4: the better 4-stream prefetched read (the most a core was seen to read). */
static double best_read(int ti)
{
    return E.read1_GBps[0][ti] > E.read1_GBps[1][ti] ? E.read1_GBps[0][ti] : E.read1_GBps[1][ti];
}

static double best_read4(int ti)
{
    return E.read_GBps[0][ti] > E.read_GBps[1][ti] ? E.read_GBps[0][ti] : E.read_GBps[1][ti];
}

static const int64_t mv_shapes[][2] = {{4096, 4096}, {1024, 2048}};

static void emit_mm(const char *name, const char *isa, int ti, int T, const mat_set *m,
                    int64_t n_tok, const stats *s, double bytes_per_s_ratio_base, int ok,
                    const stats *gflops)
{
    cJSON *j = json_case(name, isa, T, s, "GB/s");
    cJSON_AddStringToObject(j, "type", mc_dtype_name(m->t));
    cJSON_AddStringToObject(j, "layout", m->layout == MC_WLAYOUT_R16 ? "r16" : "ggml");
    cJSON_AddNumberToObject(j, "rows", (double)m->rows);
    cJSON_AddNumberToObject(j, "cols", (double)m->cols);
    cJSON_AddNumberToObject(j, "n_tok", (double)n_tok);
    cJSON_AddNumberToObject(j, "matrices", (double)m->count);
    double rd = best_read(ti), rd4 = best_read4(ti);
    cJSON_AddNumberToObject(j, "read_GBps", rd);
    cJSON_AddNumberToObject(j, "ratio_read", rd > 0 ? s->mean / rd : 0);
    cJSON_AddNumberToObject(j, "read_4stream_GBps", rd4);
    cJSON_AddNumberToObject(j, "ratio_read_4stream", rd4 > 0 ? s->mean / rd4 : 0);
    if (gflops) {
        cJSON_AddNumberToObject(j, "GFLOPs", gflops->mean);
        cJSON_AddNumberToObject(j, "GFLOPs_sd", gflops->sd);
        cJSON_AddNumberToObject(j, "peak_GFLOPs_avx2", E.peak_GFLOPs[0][ti]);
        cJSON_AddNumberToObject(j, "peak_GFLOPs_avx512", E.peak_GFLOPs[1][ti]);
        cJSON_AddNumberToObject(j, "ratio_peak_avx2",
                                E.peak_GFLOPs[0][ti] > 0 ? gflops->mean / E.peak_GFLOPs[0][ti] : 0);
        cJSON_AddNumberToObject(j, "ratio_peak_avx512",
                                E.peak_GFLOPs[1][ti] > 0 ? gflops->mean / E.peak_GFLOPs[1][ti] : 0);
    }
    cJSON_AddStringToObject(j, "check", ok ? "ok" : "FAIL");
    (void)bytes_per_s_ratio_base;
    json_emit(j);
    if (!ok)
        E.failures++;
}

/* Times n_mats matmuls per repetition; fills GB/s (weight bytes) and GFLOP/s samples. */
static void time_mats(mc_pool *pool, const mat_set *m, int64_t n_mats, const void *x, size_t xs,
                      int64_t n_tok, float *y, stats *gb, stats *gf)
{
    gb->n = gf->n = O.reps;
    for (int r = -1; r < O.reps; r++) {
        double t0 = clk_s();
        run_mats(pool, m, n_mats, x, xs, n_tok, y);
        double dt = clk_since(t0, mc_pool_threads(pool));
        if (r >= 0) {
            gb->samples[r] = (double)m->mat_bytes * (double)n_mats / dt / 1e9;
            gf->samples[r] =
                2.0 * (double)m->rows * (double)m->cols * (double)n_tok * (double)n_mats / dt / 1e9;
        }
    }
    stats_finish(gb);
    stats_finish(gf);
}

static void bench_matvec(mc_pool *pool, const char *isa, int ti, mc_dtype t)
{
    int T = mc_pool_threads(pool);
    for (int si = 0; si < 2; si++) {
        mat_set m;
        mats_make(&m, t, mv_shapes[si][0], mv_shapes[si][1], O.ws_bytes, 1);
        size_t xs;
        void *x = acts_make(t, m.cols, 1, &xs);
        float *y = mc_malloc((size_t)m.rows * 4);
        stats gb, gf;
        time_mats(pool, &m, m.count, x, xs, 1, y, &gb, &gf);
        run_mats(pool, &m, 1, x, xs, 1, y);
        int ok = check_mats(&m, x, xs, 1, y);
        emit_mm("matvec", isa, ti, T, &m, 1, &gb, 0, ok, &gf);
        fprintf(stderr,
                "matvec   %-7s T=%d %-5s %5lldx%-5lld %7.2f GB/s (sd %.2f) = %.3f of read (%.3f of "
                "4-stream read)%s\n",
                isa, T, mc_dtype_name(t), (long long)m.rows, (long long)m.cols, gb.mean, gb.sd,
                gb.mean / best_read(ti), gb.mean / best_read4(ti), ok ? "" : "  CHECK FAILED");
        mc_free(x);
        mc_free(y);
        mc_free(m.raw);
    }
}

static void bench_batch(mc_pool *pool, const char *isa, int ti, mc_dtype t)
{
    int T = mc_pool_threads(pool);
    const int64_t toks[] = {2, 4, 8, 16, 32, 64};
    mat_set m;
    mats_make(&m, t, 1024, 2048, O.ws_bytes, 1);
    for (int k = 0; k < 6; k++) {
        int64_t n_tok = toks[k];
        size_t xs;
        void *x = acts_make(t, m.cols, n_tok, &xs);
        float *y = mc_malloc((size_t)(m.rows * n_tok) * 4);
        int64_t n_mats = m.count * 8 / n_tok; /* keep each repetition near the n_tok = 8 cost */
        if (n_mats > m.count)
            n_mats = m.count;
        if (n_mats < 4)
            n_mats = 4;
        stats gb, gf;
        time_mats(pool, &m, n_mats, x, xs, n_tok, y, &gb, &gf);
        run_mats(pool, &m, 1, x, xs, n_tok, y);
        int ok = check_mats(&m, x, xs, n_tok, y);
        emit_mm("batch", isa, ti, T, &m, n_tok, &gb, 0, ok, &gf);
        fprintf(stderr, "batch    %-7s T=%d %-5s n_tok=%-3lld %7.2f GB/s %7.1f GFLOP/s%s\n", isa, T,
                mc_dtype_name(t), (long long)n_tok, gb.mean, gf.mean, ok ? "" : "  CHECK FAILED");
        mc_free(x);
        mc_free(y);
    }
    mc_free(m.raw);
}

static void bench_prefill(mc_pool *pool, const char *isa, int ti, mc_dtype t)
{
    int T = mc_pool_threads(pool);
    const int64_t n_tok = 512;
    mat_set m;
    mats_make(&m, t, 4096, 4096, 0, 1);
    size_t xs;
    void *x = acts_make(t, m.cols, n_tok, &xs);
    float *y = mc_malloc((size_t)(m.rows * n_tok) * 4);
    stats gb, gf;
    time_mats(pool, &m, 1, x, xs, n_tok, y, &gb, &gf);
    int ok = check_mats(&m, x, xs, n_tok, y);
    emit_mm("prefill", isa, ti, T, &m, n_tok, &gb, 0, ok, &gf);
    fprintf(stderr,
            "prefill  %-7s T=%d %-5s %7.1f GFLOP/s (sd %.1f) = %.3f of avx2 peak, %.3f of avx512 "
            "peak%s\n",
            isa, T, mc_dtype_name(t), gf.mean, gf.sd, gf.mean / E.peak_GFLOPs[0][ti],
            E.peak_GFLOPs[1][ti] > 0 ? gf.mean / E.peak_GFLOPs[1][ti] : 0,
            ok ? "" : "  CHECK FAILED");
    mc_free(x);
    mc_free(y);
    mc_free(m.raw);
}

/* ---------------------------------------------------------------- main ---- */

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_kernels [--isa LIST] [--threads LIST] [--types LIST] [--cases LIST]\n"
               "                     [--reps N] [--ws-mib N] [--quick] [--cpu-clock] [--layout L]\n"
               "  --isa      kernel sets to measure (default: every SIMD set this CPU runs)\n"
               "  --threads  thread counts (default 1,2)\n"
               "  --types    weight types (default f32,f16,bf16,q8_0,q4_0,q4_k,q6_k)\n"
               "  --cases    read,fma,pool,matvec,batch,prefill (default all; read and fma are\n"
               "             always measured for avx2 and avx512 as the references)\n"
               "  --reps     timed repetitions after one warm-up (default 5, max 64)\n"
               "  --ws-mib   working set of the read and matvec cases (default 1024)\n"
               "  --quick    --reps 2 --ws-mib 512\n"
               "  --cpu-clock  time by process CPU time / threads (robust to a busy machine)\n"
               "  --layout   ggml (default) or r16: weights of the matmul cases (types that have it)\n"
               "             repacked into the 16-row interleaved layout (docs/KERNELS.md)\n");
}

/* Splits a comma list into at most MAX_LIST items; calls add(item) for each. */
static int split_list(const char *s, int (*add)(const char *))
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (add(tok) != 0)
            return -1;
    return 0;
}

static int add_isa(const char *s)
{
    if (O.n_isas >= MAX_LIST || !mc_kernels_isa_available(s)) {
        fprintf(stderr, "bench_kernels: kernel set '%s' is not available here\n", s);
        return -1;
    }
    snprintf(O.isas[O.n_isas++], sizeof O.isas[0], "%s", s);
    return 0;
}

static int add_thread(const char *s)
{
    int64_t v;
    if (O.n_threads >= MAX_LIST || mc_parse_i64(s, 1, 64, &v) != MC_OK) {
        fprintf(stderr, "bench_kernels: bad thread count '%s'\n", s);
        return -1;
    }
    O.threads[O.n_threads++] = (int)v;
    return 0;
}

static int add_type(const char *s)
{
    mc_dtype t;
    if (O.n_types >= MAX_LIST || mc_dtype_parse(s, &t) != MC_OK || !mc_kernels_type_supported(t)) {
        fprintf(stderr, "bench_kernels: bad weight type '%s'\n", s);
        return -1;
    }
    O.types[O.n_types++] = t;
    return 0;
}

static int parse_opts(int argc, char **argv)
{
    static const struct option lo[] = {{"isa", 1, 0, 'i'},
                                       {"threads", 1, 0, 't'},
                                       {"types", 1, 0, 'y'},
                                       {"cases", 1, 0, 'c'},
                                       {"reps", 1, 0, 'r'},
                                       {"ws-mib", 1, 0, 'w'},
                                       {"quick", 0, 0, 'q'},
                                       {"help", 0, 0, 'h'},
                                       {"cpu-clock", 0, 0, 'C'},
                                       {"layout", 1, 0, 'L'},
                                       {0, 0, 0, 0}};
    int64_t v;
    O.reps = 5;
    O.ws_bytes = (int64_t)1024 << 20;
    snprintf(O.cases, sizeof O.cases, "read,fma,pool,matvec,batch,prefill");
    for (int c; (c = getopt_long(argc, argv, "", lo, NULL)) != -1;) {
        int bad = 0;
        if (c == 'i')
            bad = split_list(optarg, add_isa);
        else if (c == 't')
            bad = split_list(optarg, add_thread);
        else if (c == 'y')
            bad = split_list(optarg, add_type);
        else if (c == 'c')
            snprintf(O.cases, sizeof O.cases, "%s", optarg);
        else if (c == 'r')
            bad = mc_parse_i64(optarg, 1, 64, &v) != MC_OK ? -1 : (O.reps = (int)v, 0);
        else if (c == 'w')
            bad = mc_parse_i64(optarg, 16, 65536, &v) != MC_OK ? -1 : (O.ws_bytes = v << 20, 0);
        else if (c == 'q')
            O.reps = 2, O.ws_bytes = (int64_t)512 << 20;
        else if (c == 'C')
            O.cpu_clock = 1;
        else if (c == 'L' && (!strcmp(optarg, "ggml") || !strcmp(optarg, "r16")))
            O.layout = !strcmp(optarg, "r16") ? MC_WLAYOUT_R16 : MC_WLAYOUT_GGML;
        else
            return usage(c == 'h' ? stdout : stderr), c == 'h' ? 0 : 2;
        if (bad)
            return usage(stderr), 2;
    }
    if (!O.n_isas)
        split_list(mc_kernels_isa_available("avx512") ? "avx2,avx512" : "avx2", add_isa);
    if (!O.n_threads)
        split_list("1,2", add_thread);
    if (!O.n_types)
        split_list("f32,f16,bf16,q8_0,q4_0,q4_k,q6_k", add_type);
    return -1;
}

/* The references: read bandwidth and FMA peak for avx2 and avx512 at every thread count. */
static void bench_references(mc_pool **pools)
{
    const char *ref_isas[] = {"avx2", "avx512"};
    for (int k = 0; k < 2; k++) {
        if (!mc_kernels_isa_available(ref_isas[k]) || mc_kernels_init(ref_isas[k], NULL) != MC_OK)
            continue;
        for (int ti = 0; ti < O.n_threads; ti++) {
            bench_read(pools[ti], ref_isas[k], ti, 1);
            bench_read(pools[ti], ref_isas[k], ti, 4);
            bench_fma(pools[ti], ref_isas[k], ti);
        }
    }
}

int main(int argc, char **argv)
{
    int rc = parse_opts(argc, argv);
    if (rc >= 0)
        return rc;
    env_init();
    mc_pool *pools[MAX_LIST] = {0};
    for (int ti = 0; ti < O.n_threads; ti++)
        if (mc_pool_new(O.threads[ti], &pools[ti], NULL) != MC_OK)
            return fprintf(stderr, "bench_kernels: cannot start %d threads\n", O.threads[ti]), 1;
    fprintf(stderr, "bench_kernels: %s, commit %s\n", E.cpu, E.commit);
    bench_references(pools);
    for (int k = 0; k < O.n_isas; k++) {
        if (mc_kernels_init(O.isas[k], NULL) != MC_OK)
            continue;
        for (int ti = 0; ti < O.n_threads; ti++) {
            if (want_case("pool"))
                bench_pool(pools[ti], O.isas[k]);
            for (int y = 0; y < O.n_types; y++) {
                if (want_case("matvec"))
                    bench_matvec(pools[ti], O.isas[k], ti, O.types[y]);
                if (want_case("batch"))
                    bench_batch(pools[ti], O.isas[k], ti, O.types[y]);
                if (want_case("prefill"))
                    bench_prefill(pools[ti], O.isas[k], ti, O.types[y]);
            }
        }
    }
    for (int ti = 0; ti < O.n_threads; ti++)
        mc_pool_free(pools[ti]);
    if (E.failures)
        fprintf(stderr, "bench_kernels: %d result checks FAILED\n", E.failures);
    return E.failures ? 1 : 0;
}
