/* bench_offload.c: expert offloading in the embedded engine against this machine's slow tier
 * (issue targets in docs/PERFORMANCE.md, "Expert offloading").
 *
 * Reference, measured first in the same run: the slow tier's sequential O_DIRECT read bandwidth
 * (the model file read start to end in 8 MiB requests; buffered + fadvise(DONTNEED) when the file
 * system refuses O_DIRECT, said in the output). Model: --model PATH, or the demo's random MoE
 * (scripts/demo.sh: make-model --layers 8 --embd 2048 --ff 1024 --experts 16 --top-k 2 --heads
 * 16 --kv-heads 4, q8_0, about 1.1 GB) generated once into $MOECAP_CACHE_DIR/demo.
 * Cases: batch-1 greedy decode after a 16-token prompt with no cache and with caches of 100%, 50%
 * and 25% of the experts (slots = that share of the routed experts), LRU, in pairs that
 * alternate repetition by repetition (ABBA): no cache vs 100%; then 100%, 50% and 25% each without vs
 * with prefetch. Per case, a warm-up of 48 decode steps and --reps repetitions of --gen decode
 * steps (each after the same prompt, so the cache is warm as in steady serving): tokens/s
 * (mean, sd, best), hit rate, slow-tier bytes/s while reads are in flight, stall share of the
 * step time, slow-tier MB read per decoded token; on stderr also the I/O threads' repack time
 * per expert read and, with prefetch, the experts prefetched since open (used by their layer,
 * cancelled as wrong). One JSON line per case on stdout, a summary on stderr. --only 50 runs only the
 * pairs of a 50% cache (100: both pairs with the full cache); the tokens are then checked
 * against the first run's (cached) instead of an uncached run's. --prefetch-all: the prefetching
 * side reads each token's whole predicted top-k (engine expert_prefetch 2) instead of its more
 * confident half (1, the default).
 * Checks: every cached run's greedy tokens equal the uncached run's; "check": "FAIL" and exit 1
 * otherwise. Targets are reported, not enforced (a shared machine's numbers are noisy). */
#include "benchutil.h"
#include "engine.h"
#include "makemodel.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PROMPT 16
#define MAX_GEN 1024

static struct {
    const char *model;
    int threads, reps, gen, only; /* only: run the pairs of this cache share in % (0 = all) */
    int prefetch;                 /* engine expert_prefetch of the prefetching side (1 or 2) */
} O = {NULL, 2, 3, 32, 0, 1};

static char g_commit[64], g_path[4096];
static double g_seq_Bps;
static int g_seq_direct, g_fail, g_have_ref;
static int32_t g_ref[MAX_GEN];

static const char *model_path(void)
{
    if (O.model)
        return O.model;
    return mc_bench_moe_model("demo", MC_DT_Q8_0, 512, "bench_offload", g_path, sizeof g_path);
}

/* Sequential read bandwidth of the file (O_DIRECT when possible), 8 MiB requests, best of 2. */
static int seq_probe(const char *path)
{
    const size_t chunk = (size_t)8 << 20;
    void *buf = mmap(NULL, chunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int fd = open(path, O_RDONLY | O_DIRECT);
    g_seq_direct = fd >= 0 && buf != MAP_FAILED && pread(fd, buf, 4096, 0) >= 0;
    if (!g_seq_direct) {
        if (fd >= 0)
            close(fd);
        fd = open(path, O_RDONLY);
    }
    if (fd < 0 || buf == MAP_FAILED) {
        fprintf(stderr, "bench_offload: %s: %s\n", path, strerror(errno));
        return 0;
    }
    for (int pass = 0; pass < 2; pass++) {
        mc_ns t0 = mc_now_ns();
        uint64_t total = 0;
        for (ssize_t n; (n = pread(fd, buf, chunk, (off_t)total)) > 0;) {
            if (!g_seq_direct)
                posix_fadvise(fd, (off_t)total, n, POSIX_FADV_DONTNEED);
            total += (uint64_t)n;
        }
        double bw = (double)total / mc_ns_to_s(mc_now_ns() - t0);
        g_seq_Bps = bw > g_seq_Bps ? bw : g_seq_Bps;
    }
    close(fd);
    munmap(buf, chunk);
    return 1;
}

static mc_engine *open_engine(const char *path, int64_t cache_bytes, int prefetch)
{
    mc_engine_opts o;
    mc_engine_opts_default(&o);
    o.model_path = path;
    o.n_threads = O.threads;
    o.max_seqs = 1;
    o.n_ctx = PROMPT + MAX_GEN + 8;
    o.max_step_tokens = 64;
    o.expert_cache_bytes = cache_bytes;
    o.expert_prefetch = prefetch ? O.prefetch : 0;
    mc_engine *e = NULL;
    mc_diag d;
    if (mc_engine_open(&o, &e, &d) != MC_OK)
        fprintf(stderr, "bench_offload: %s\n", d.msg);
    return e;
}

typedef struct fig {
    double tok_s, hit, bw, stall, mb_tok; /* mb_tok: slow-tier MB read per token */
} fig;

/* Prompt (untimed), then n greedy decode steps; figures of the decode steps into *f. */
static int decode(mc_engine *e, int n, float *logits, int32_t *toks, fig *f)
{
    static const int32_t prompt[PROMPT] = {1, 17, 250, 3, 99, 42,  7,  281,
                                           5, 64, 128, 2, 33, 160, 77, 201};
    mc_engine_seq_reset(e, 0);
    mc_batch_item it = {.seq = 0,
                        .tokens = prompt,
                        .n_tokens = PROMPT,
                        .logits = MC_LOGITS_LAST,
                        .logits_out = logits};
    mc_diag d;
    if (mc_engine_step(e, &it, 1, &d) != MC_OK)
        goto fail;
    mc_engine_xstats s0, s1;
    int cached = mc_engine_xcache_stats(e, &s0);
    double lat = 0, stall = 0;
    mc_sampler g;
    mc_sampler_default(&g);
    mc_ns t0 = mc_now_ns();
    for (int k = 0; k < n; k++) {
        int32_t t = mc_engine_sample(e, logits, &g, NULL);
        toks[k] = t;
        it = (mc_batch_item){
            .seq = 0, .tokens = &t, .n_tokens = 1, .logits = MC_LOGITS_LAST, .logits_out = logits};
        if (mc_engine_step(e, &it, 1, &d) != MC_OK)
            goto fail;
        const mc_pass *p = mc_engine_last_pass(e);
        lat += p->latency_s;
        stall += p->slow_stall_s > 0 ? p->slow_stall_s : 0;
    }
    f->tok_s = n / mc_ns_to_s(mc_now_ns() - t0);
    f->hit = f->bw = f->stall = f->mb_tok = NAN;
    if (cached && mc_engine_xcache_stats(e, &s1)) {
        double h = (double)(s1.hits - s0.hits), m = (double)(s1.misses - s0.misses);
        f->hit = h + m > 0 ? h / (h + m) : NAN;
        f->bw = s1.read_s > s0.read_s ? (double)(s1.bytes - s0.bytes) / (s1.read_s - s0.read_s) : 0;
        f->stall = stall / lat;
        f->mb_tok = (double)(s1.bytes - s0.bytes) / 1e6 / n;
    }
    return 1;
fail:
    fprintf(stderr, "bench_offload: step: %s\n", d.msg);
    return 0;
}

static double mean_of(const fig *v, int n, size_t off, double *sd, double *best)
{
    double m = 0, s = 0;
    *best = 0;
    for (int i = 0; i < n; i++) {
        double x = *(const double *)((const char *)&v[i] + off);
        m += x / n;
        *best = x > *best ? x : *best;
    }
    for (int i = 0; i < n && n > 1; i++) {
        double x = *(const double *)((const char *)&v[i] + off);
        s += (x - m) * (x - m) / (n - 1);
    }
    *sd = sqrt(s);
    return m;
}

static void emit(const char *name, double share, int prefetch, const mc_engine_xstats *xs,
                 const fig *v, int n)
{
    double sd, best, sd2, b2;
    double tok = mean_of(v, n, offsetof(fig, tok_s), &sd, &best);
    double hit = mean_of(v, n, offsetof(fig, hit), &sd2, &b2);
    double bw = mean_of(v, n, offsetof(fig, bw), &sd2, &b2);
    double stall = mean_of(v, n, offsetof(fig, stall), &sd2, &b2);
    double mbt = mean_of(v, n, offsetof(fig, mb_tok), &sd2, &b2);
    printf("{\"bench\":\"offload\",\"case\":\"%s\",\"commit\":\"%s\",\"threads\":%d,"
           "\"cache_share\":%.3g,\"slots\":%lld,\"slot_bytes\":%lld,\"prefetch\":%d,"
           "\"samples\":%d,\"mean_tok_s\":%.4g,\"sd_tok_s\":%.3g,\"best_tok_s\":%.4g,"
           "\"hit_rate\":%.4g,\"slow_tier_GBps\":%.4g,\"stall_fraction\":%.4g,"
           "\"slow_MB_per_tok\":%.4g,\"seq_probe_GBps\":%.4g,\"prefetched\":%lld,\"cancelled\":%lld,\"direct\":%d,"
           "\"check\":\"%s\"}\n",
           name, g_commit, O.threads, share, (long long)xs->slots, (long long)xs->slot_bytes,
           prefetch, n, tok, sd, best, isnan(hit) ? -1 : hit, isnan(bw) ? -1 : bw / 1e9,
           isnan(stall) ? -1 : stall, isnan(mbt) ? -1 : mbt, g_seq_Bps / 1e9,
           (long long)xs->prefetched,
           (long long)xs->cancelled, xs->slots ? xs->direct : g_seq_direct,
           g_fail ? "FAIL" : "ok");
    fflush(stdout);
    fprintf(stderr, "%-14s prefetch %d: %7.2f +- %5.2f tok/s (best %6.2f)", name, prefetch, tok, sd,
            best);
    if (xs->slots)
        fprintf(stderr,
                "  hit %.3f  slow tier %.2f GB/s (%.0f%% of sequential)  stall %.0f%%  %.1f MB/tok",
                hit, bw / 1e9, 100 * bw / g_seq_Bps, 100 * stall, mbt);
    if (xs->slots && xs->bytes > 0) /* CPU time of the I/O threads per expert read */
        fprintf(stderr, "  repack %.2f ms/expert",
                1e3 * xs->repack_s / ((double)xs->bytes / (double)xs->slot_bytes));
    if (prefetch)
        fprintf(stderr, "  prefetched %lld (used %lld, cancelled %lld)", (long long)xs->prefetched,
                (long long)xs->prefetch_used, (long long)xs->cancelled);
    fprintf(stderr, "\n");
}

typedef struct side {
    double share;
    int prefetch;
    mc_engine *e;
    float *logits;
    fig v[64];
} side;

static int side_open(const char *path, side *s, int64_t slot, int64_t experts)
{
    int64_t slots = (int64_t)(s->share * (double)experts + 0.5);
    int32_t toks[MAX_GEN];
    fig warm;
    s->e = open_engine(path, s->share > 0 ? slots * slot : 0, s->prefetch);
    s->logits = s->e ? mc_mallocarray((size_t)mc_engine_vocab(s->e), sizeof *s->logits) : NULL;
    /* warm-up: 48 tokens, so a cache of every expert has read (nearly) all of them */
    return s->logits && decode(s->e, 48, s->logits, toks, &warm);
}

static void side_emit(const side *s, int n)
{
    char name[32];
    mc_engine_xstats xs;
    snprintf(name, sizeof name, s->share > 0 ? "cache-%.0f%%" : "no-cache", 100 * s->share);
    mc_engine_xcache_stats(s->e, &xs);
    emit(name, s->share, s->prefetch, &xs, s->v, n);
}

/* Two configurations alternating repetition by repetition (a shared machine's load hits both
 * alike), in ABBA order: the side that runs second follows the other's reads, which on this
 * project's machine slows it (docs/PERFORMANCE.md, "Expert cache (session 4)"), so neither side
 * always goes second. The greedy tokens of every repetition must equal the first uncached run's. */
static int run_pair(const char *path, side *a, side *b, int64_t slot, int64_t experts)
{
    int32_t toks[MAX_GEN];
    int ok = side_open(path, a, slot, experts) && side_open(path, b, slot, experts);
    for (int r = 0; ok && r < O.reps; r++)
        for (int k = 0; ok && k < 2; k++) {
            side *s = (k ^ (r & 1)) ? b : a;
            ok = decode(s->e, O.gen, s->logits, toks, &s->v[r]);
            if (!g_have_ref) {
                memcpy(g_ref, toks, sizeof(int32_t) * (size_t)O.gen);
                g_have_ref = 1;
            }
            if (ok && memcmp(g_ref, toks, sizeof(int32_t) * (size_t)O.gen) != 0)
                g_fail = 1;
        }
    if (ok) {
        side_emit(a, O.reps);
        side_emit(b, O.reps);
        double sd, best, ta = mean_of(a->v, O.reps, offsetof(fig, tok_s), &sd, &best);
        double tb = mean_of(b->v, O.reps, offsetof(fig, tok_s), &sd, &best);
        fprintf(stderr, "  -> second / first: %.3f (means of alternated repetitions)\n", tb / ta);
    }
    for (int k = 0; k < 2; k++) {
        side *s = k ? b : a;
        mc_free(s->logits);
        mc_engine_free(s->e);
    }
    return ok;
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {{"model", required_argument, NULL, 'm'},
                                       {"threads", required_argument, NULL, 't'},
                                       {"reps", required_argument, NULL, 'r'},
                                       {"gen", required_argument, NULL, 'n'},
                                       {"only", required_argument, NULL, 'o'},
                                       {"prefetch-all", no_argument, NULL, 'a'},
                                       {NULL, 0, NULL, 0}};
    for (int c; (c = getopt_long(argc, argv, "m:t:r:n:o:a", lo, NULL)) != -1;) {
        int64_t v = 0;
        if (c == 'a') {
            O.prefetch = 2;
            continue;
        }
        if (c == 'm') {
            O.model = optarg;
            continue;
        }
        if (c == '?' || mc_parse_i64(optarg, 1, c == 'n' ? MAX_GEN : c == 'o' ? 100 : 64, &v)) {
            fprintf(stderr, "usage: bench_offload [-m MODEL] [-t 2] [-r 3 (<= 64)] [-n 32] "
                            "[-o 100|50|25: only the pairs of that cache share] [--prefetch-all]\n");
            return 2;
        }
        *(c == 't'   ? &O.threads
          : c == 'r' ? &O.reps
          : c == 'o' ? &O.only
                     : &O.gen) = (int)v;
    }
    mc_bench_commit(g_commit, sizeof g_commit);
    const char *path = model_path();
    if (!path || !seq_probe(path))
        return 1;
    fprintf(stderr, "model %s; slow tier: sequential %s read %.2f GB/s\n", path,
            g_seq_direct ? "O_DIRECT" : "buffered (O_DIRECT refused)", g_seq_Bps / 1e9);
    mc_engine *e = open_engine(path, (int64_t)1 << 50, 0); /* slot size and expert count */
    mc_engine_xstats xs;
    if (!e || !mc_engine_xcache_stats(e, &xs))
        return 1;
    mc_engine_free(e);
    /* no cache vs every expert cached; then 100%, 50%, 25% without vs with prefetch */
    static const double pairs[4][4] = {
        {0, 0, 1.0, 0}, {1.0, 0, 1.0, 1}, {0.5, 0, 0.5, 1}, {0.25, 0, 0.25, 1}};
    int ok = 1;
    for (int i = 0; ok && i < 4; i++) {
        if (O.only && fabs(100 * pairs[i][2] - O.only) > 0.5)
            continue;
        side a = {.share = pairs[i][0], .prefetch = (int)pairs[i][1]};
        side b = {.share = pairs[i][2], .prefetch = (int)pairs[i][3]};
        ok = run_pair(path, &a, &b, xs.slot_bytes, xs.experts);
    }
    return !ok || g_fail;
}
