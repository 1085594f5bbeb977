/* bench_engine.c: the embedded engine against this machine's own limits (issue targets in
 * docs/ENGINE.md, "Performance").
 *
 * References, measured first in the same run with `moecap probe`'s code (mc_probe_run) at the
 * bench's thread count: memory read bandwidth and peak f32 FMA FLOP/s. Model: --model PATH, or a
 * random MoE generated once into the cache (make-model --embd 2048 --layers 8 --experts 16
 * --top-k 2 --ff 1024 --heads 16 --kv-heads 4, the llama-spm vocabulary, --type T: about 1 GB at
 * q8_0). Cases (one JSON line each on stdout; a summary on stderr):
 *   decode    batch-1 decode after a 16-token prompt: tokens/s, and S-MBU = the bytes the step
 *             really reads (mc_cap_pass_bytes over the engine's own record: attention, norms,
 *             router, the distinct experts hit, LM head, embedding row, KV) / latency / bandwidth
 *   prefill   one 512-token step: S-MFU = FLOPs of the pass (mc_cap_pass_flops) / latency / peak
 *   batch     decode with B sequences per step: tokens/s against what the bytes per step predict
 *             from batch 1 (b x tok/s(1) x bytes(1) / bytes(b))
 *   ab        (only when asked for) batch 1 and every -b on this engine against a second one
 *             opened with no_repack (weights in GGUF's layout), runs alternated: new / old
 *   trace     decode with the per-pass record (tokens per expert too) against an engine opened
 *             with no_trace: the recording's share of the step time
 * One warm-up and --reps repetitions per case. Checks: logits are finite, and the greedy tokens of
 * sequence 0 in the batched runs equal the batch-1 run's; "check": "FAIL" and exit 1 otherwise. */
#include "benchutil.h"
#include "cap.h"
#include "engine.h"
#include "engine_impl.h" /* the trace functions, timed directly in case_trace */
#include "hw.h"
#include "makemodel.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_B 64
#define PROMPT 16

typedef struct bopts {
    const char *model;
    mc_dtype type;
    int threads, reps, steps, prefill, n_b, b[8];
    char cases[128];
    double bw_GBps, fma_GFLOPs; /* 0 = probe */
    double wait_quiet_s;        /* wait up to this long before each case for idle CPUs */
    int no_repack;              /* --no-repack: weights kept in GGUF's layout (A/B runs) */
    int cpu_clock;              /* --cpu-clock: steps timed by process CPU time / threads */
    const char *kernels;        /* --kernels: kernel set (NULL = best for this CPU) */
} bopts;

static bopts O;
static char g_commit[64], g_cpu[128], g_path[4096];
static double g_bw, g_fma; /* bytes/s and FLOP/s */
static int g_fail;

typedef struct stats {
    double mean, sd;
    int n;
} stats;

static stats stats_of(const double *v, int n)
{
    stats s = {0, 0, n};
    mc_bench_mean_sd(v, n, &s.mean, &s.sd);
    return s;
}

/* One JSON line: the common fields, tok/s (mean, sd, best) and up to 4 more (key, value). */
static void emit(const char *cs, int batch, stats tok, double best, const char *isa,
                 const char *const *k, const double *v, int nk)
{
    printf("{\"bench\":\"engine\",\"case\":\"%s\",\"commit\":\"%s\",\"cpu\":\"%s\",\"isa\":\"%s\","
           "\"threads\":%d,\"type\":\"%s\",\"batch\":%d,\"samples\":%d,\"mean_tok_s\":%.4g,"
           "\"sd_tok_s\":%.3g,\"best_tok_s\":%.4g",
           cs, g_commit, g_cpu, isa, O.threads, mc_dtype_name(O.type), batch, tok.n, tok.mean,
           tok.sd, best);
    for (int i = 0; i < nk; i++)
        printf(",\"%s\":%.4g", k[i], v[i]);
    printf(",\"probe_bw_GBps\":%.4g,\"probe_fma_GFLOPs\":%.4g,\"clock\":\"%s\",\"repack\":%d,"
           "\"check\":\"%s\"}\n",
           g_bw / 1e9, g_fma / 1e9, O.cpu_clock ? "process_cpu/threads" : "wall", !O.no_repack,
           g_fail ? "FAIL" : "ok");
    fflush(stdout);
}

/* ---- setup ----------------------------------------------------------------------------------- */

static int probe(void)
{
    if (O.bw_GBps > 0 && O.fma_GFLOPs > 0) {
        g_bw = O.bw_GBps * 1e9;
        g_fma = O.fma_GFLOPs * 1e9;
        return 1;
    }
    mc_probe_opts po = {.max_threads = O.threads, .repeats = 3};
    mc_probe_result r;
    mc_diag d;
    if (mc_probe_run(&po, &r, &d) != MC_OK) {
        fprintf(stderr, "bench_engine: probe: %s\n", d.msg);
        return 0;
    }
    g_bw = r.bw_Bps_by_threads[r.n_threads - 1];
    g_fma = r.fma_flops;
    snprintf(g_cpu, sizeof g_cpu, "%s", r.cpu_model);
    return 1;
}

static const char *model_path(void)
{
    if (O.model)
        return O.model;
    return mc_bench_moe_model("bench-engine", O.type, 32000, "bench_engine", g_path, sizeof g_path);
}

static mc_engine *open_engine(const char *path, int no_trace)
{
    mc_engine_opts o;
    mc_engine_opts_default(&o);
    o.model_path = path;
    o.n_threads = O.threads;
    o.max_seqs = MAX_B;
    o.n_ctx = 1024;
    o.max_step_tokens = O.prefill > MAX_B ? O.prefill : MAX_B;
    o.trace_tokens = 1;
    o.no_trace = no_trace;
    o.no_repack = O.no_repack;
    o.kernels = O.kernels;
    mc_engine *e = NULL;
    mc_diag d;
    if (mc_engine_open(&o, &e, &d) != MC_OK)
        fprintf(stderr, "bench_engine: %s\n", d.msg);
    return e;
}

/* ---- runs ------------------------------------------------------------------------------------ */

static int32_t argmax_finite(const float *l, int64_t n)
{
    int32_t b = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(l[i]))
            g_fail = 1;
        if (l[i] > l[b])
            b = (int32_t)i;
    }
    return b;
}

/* Best steps: at batch 1 every step reads the same bytes, so the fastest step is the best one;
 * at batch B the steps differ in how many distinct experts they read, and the fastest is biased
 * towards steps that read few. best_bw (the step's bytes over its time, the highest of any step)
 * is the figure comparable across batch sizes. */
typedef struct run {
    double time_s, bytes, flops; /* sums over the timed steps */
    double best_s;               /* fastest timed step */
    double best_bw;              /* highest bytes / time of any timed step, B/s */
    int steps;
    int32_t tok0[256];   /* greedy tokens of sequence 0 */
    mc_engine_prof prof; /* the engine's phases over the timed steps */
} run;

/* Step clock: wall time, or with --cpu-clock the process CPU time divided by the threads (robust
 * to neighbours taking a core away, not to them taking memory bandwidth; the pool's spin-waits
 * count, so it errs towards longer steps). */
static double step_clock_s(void)
{
    if (!O.cpu_clock)
        return mc_ns_to_s(mc_now_ns());
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ((double)ts.tv_sec + (double)ts.tv_nsec * 1e-9) / O.threads;
}

/* B sequences: a PROMPT-token prefill each (one step), then `steps` decode steps of all B;
 * the first `warm` decode steps are not timed. */
static int decode_run(mc_engine *e, int B, int warm, int steps, float *logits, run *r)
{
    int64_t V = mc_engine_vocab(e);
    static int32_t prompt[MAX_B][PROMPT];
    int32_t cur[MAX_B];
    mc_batch_item it[MAX_B];
    memset(r, 0, sizeof *r);
    for (int s = 0; s < B; s++) /* a different prompt per sequence: different experts */
        for (int i = 0; i < PROMPT; i++)
            prompt[s][i] = (int32_t)((100 + 37 * i + 7919 * s) % V);
    for (int s = 0; s < B; s++) {
        mc_engine_seq_reset(e, s);
        it[s] = (mc_batch_item){.seq = s,
                                .tokens = prompt[s],
                                .n_tokens = PROMPT,
                                .logits = MC_LOGITS_LAST,
                                .logits_out = logits + s * V};
    }
    mc_diag d;
    for (int s = 0; s < B; s += 8) /* prompts in steps of at most 8 x 16 tokens */
        if (mc_engine_step(e, it + s, B - s < 8 ? B - s : 8, &d) != MC_OK) {
            fprintf(stderr, "bench_engine: %s\n", d.msg);
            return 0;
        }
    for (int k = 0; k < warm + steps; k++) {
        for (int s = 0; s < B; s++) {
            cur[s] = argmax_finite(logits + s * V, V);
            it[s].tokens = &cur[s];
            it[s].n_tokens = 1;
        }
        if (k - warm >= 0 && k - warm < 256)
            r->tok0[k - warm] = cur[0];
        if (k == warm)
            mc_engine_profile_reset(e);
        double t0 = step_clock_s();
        if (mc_engine_step(e, it, B, &d) != MC_OK) {
            fprintf(stderr, "bench_engine: %s\n", d.msg);
            return 0;
        }
        double dt = step_clock_s() - t0;
        const mc_pass *p = mc_engine_last_pass(e);
        mc_pass_bytes pb = {0};
        mc_pass_flops pf = {0};
        if (p && mc_cap_pass_bytes(mc_engine_model(e), p, &pb, NULL) != MC_OK)
            g_fail = 1;
        if (p)
            mc_cap_pass_flops(mc_engine_model(e), p, &pf);
        if (k >= warm) {
            r->best_s = r->steps == 0 || dt < r->best_s ? dt : r->best_s;
            r->best_bw = dt > 0 && pb.total / dt > r->best_bw ? pb.total / dt : r->best_bw;
            r->time_s += dt;
            r->bytes += pb.total;
            r->flops += pf.total;
            r->steps++;
        }
    }
    mc_engine_profile(e, &r->prof);
    return 1;
}

/* Where the timed steps of r (the last repetition) went, ms per step by engine phase: one stderr
 * line, and the keys phase_<name>_ms appended to k/v from index n (returns the new count). */
static int phases(int B, const run *r, const char **k, double *v, int n)
{
    static char names[MC_PHASES][40];
    double steps = r->prof.steps > 0 ? (double)r->prof.steps : 1;
    fprintf(stderr, "  phases b=%d, ms/step:", B);
    for (int p = 0; p < MC_PHASES; p++) {
        snprintf(names[p], sizeof names[p], "phase_%s_ms", mc_engine_phase_name(p));
        k[n] = names[p];
        v[n++] = r->prof.s[p] * 1e3 / steps;
        fprintf(stderr, " %s %.3f", mc_engine_phase_name(p), r->prof.s[p] * 1e3 / steps);
    }
    fprintf(stderr, "\n");
    return n;
}

/* What batch 1 gives the batch cases to scale from: the mean of the repetitions' bytes / time,
 * the best step's bytes / time, the bytes of a step. */
typedef struct base1 {
    double mean_bw, best_bw, bytes;
    run r; /* the first repetition: its greedy tokens are the reference */
} base1;

static void case_decode(mc_engine *e, float *logits, base1 *one)
{
    double ts[64], smbu[64], best = 1e30, bw = 0;
    run r;
    decode_run(e, 1, 4, 8, logits, &r); /* warm-up */
    for (int i = 0; i < O.reps; i++) {
        if (!decode_run(e, 1, 2, O.steps, logits, &r))
            g_fail = 1;
        ts[i] = r.steps / r.time_s;
        smbu[i] = r.bytes / r.time_s / g_bw;
        best = r.best_s < best ? r.best_s : best;
        one->best_bw = r.best_bw > one->best_bw ? r.best_bw : one->best_bw;
        bw += r.bytes / r.time_s / O.reps;
        one->bytes = r.bytes / r.steps;
        if (i == 0)
            one->r = r;
    }
    one->mean_bw = bw;
    stats t = stats_of(ts, O.reps), m = stats_of(smbu, O.reps);
    const char *k[4 + MC_PHASES] = {"MB_per_step", "smbu", "smbu_sd", "smbu_best"};
    double v[4 + MC_PHASES] = {one->bytes / 1e6, m.mean, m.sd, one->bytes / best / g_bw};
    fprintf(stderr,
            "decode b=1: %.2f +- %.2f tok/s (best step %.2f), %.1f MB/step, S-MBU %.3f +- "
            "%.3f (best step %.3f)\n",
            t.mean, t.sd, 1.0 / best, one->bytes / 1e6, m.mean, m.sd, v[3]);
    emit("decode", 1, t, 1.0 / best, mc_engine_isa(e), k, v, phases(1, &r, k, v, 4));
}

/* Batch B against what its bytes predict from batch 1: tok/s = B x batch 1's bandwidth / the
 * bytes of a step. mean / predicted is the ratio of the two batch sizes' mean bandwidths;
 * best / predicted that of their best steps' bandwidths (struct run). */
static void case_batch(mc_engine *e, float *logits, int B, const base1 *one)
{
    double ts[64], best = 1e30, best_bw = 0, bw = 0, bytes = 0, flops = 0;
    run r;
    decode_run(e, B, 2, 4, logits, &r);
    for (int i = 0; i < O.reps; i++) {
        if (!decode_run(e, B, 2, O.steps, logits, &r))
            g_fail = 1;
        ts[i] = B * r.steps / r.time_s;
        best = r.best_s < best ? r.best_s : best;
        best_bw = r.best_bw > best_bw ? r.best_bw : best_bw;
        bw += r.bytes / r.time_s / O.reps;
        bytes += r.bytes / r.steps / O.reps;
        flops += r.flops / r.steps / O.reps;
        for (int k = 0; k < r.steps && k < one->r.steps && k < 256; k++)
            if (r.tok0[k] != one->r.tok0[k])
                g_fail = 1;
    }
    stats t = stats_of(ts, O.reps);
    double pred = B * one->mean_bw / bytes;
    const char *k[6 + MC_PHASES] = {"MB_per_step",         "predicted_tok_s", "mean_over_predicted",
                                    "best_over_predicted", "GFLOP_per_step",  "best_GFLOP_s"};
    double v[6 + MC_PHASES] = {bytes / 1e6,       pred,
                               bw / one->mean_bw, best_bw / one->best_bw,
                               flops / 1e9,       flops / best / 1e9};
    fprintf(stderr,
            "decode b=%d: %.2f +- %.2f tok/s (best step %.2f), %.1f MB/step, predicted %.2f: "
            "mean / predicted %.3f, best / predicted %.3f; %.2f GFLOP/step, %.1f GFLOP/s at the "
            "best step\n",
            B, t.mean, t.sd, B / best, bytes / 1e6, pred, v[2], v[3], v[4], v[5]);
    emit("batch", B, t, B / best, mc_engine_isa(e), k, v, phases(B, &r, k, v, 6));
}

/* A/B of the weight layout: the engine (weights repacked into the kernels' layout) against a
 * second one opened with no_repack (GGUF's layout), their runs alternated at batch 1 and every
 * -b so both see the same neighbours; per engine, best-step tok/s and the bytes' prediction from
 * its own batch 1, and the new / old ratio. */
typedef struct ab_acc {
    double best_s, best_bw, bytes, rate[64];
} ab_acc;

static void ab_report(mc_engine *e, int B, const ab_acc *a, const ab_acc *one, const char *cs)
{
    double pred = B * one->best_bw / a->bytes, tok = B / a->best_s;
    const char *k[] = {"MB_per_step", "predicted_tok_s", "best_over_predicted"};
    double v[] = {a->bytes / 1e6, pred, a->best_bw / one->best_bw};
    emit(cs, B, stats_of(a->rate, O.reps), tok, mc_engine_isa(e), k, v, 3);
}

static void case_ab(mc_engine *e, const char *path, float *logits)
{
    int keep = O.no_repack, bs[9] = {1}, nb = 1 + O.n_b;
    O.no_repack = 1;
    mc_engine *g = open_engine(path, 0), *es[2] = {e, g};
    O.no_repack = keep;
    if (!g) {
        g_fail = 1;
        return;
    }
    static ab_acc acc[2][9];
    memset(acc, 0, sizeof acc);
    for (int i = 0; i < O.n_b; i++)
        bs[i + 1] = O.b[i];
    run r;
    for (int k = 0; k < 2; k++)
        decode_run(es[k], 1, 4, 8, logits, &r); /* warm-up */
    for (int i = 0; i < O.reps; i++)
        for (int b = 0; b < nb; b++)
            for (int k = 0; k < 2; k++) {
                ab_acc *a = &acc[k][b];
                if (!decode_run(es[k], bs[b], 2, O.steps, logits, &r))
                    g_fail = 1;
                a->best_s = i == 0 || r.best_s < a->best_s ? r.best_s : a->best_s;
                a->best_bw = r.best_bw > a->best_bw ? r.best_bw : a->best_bw;
                a->bytes += r.bytes / r.steps / O.reps;
                a->rate[i] = bs[b] * r.steps / r.time_s;
            }
    for (int b = 0; b < nb; b++) {
        ab_report(e, bs[b], &acc[0][b], &acc[0][0], "ab_repacked");
        ab_report(g, bs[b], &acc[1][b], &acc[1][0], "ab_gguf_layout");
        fprintf(stderr,
                "ab b=%d: repacked best %.2f tok/s (%.3f of its bytes' prediction), GGUF layout "
                "%.2f (%.3f): x%.3f best, x%.3f mean\n",
                bs[b], bs[b] / acc[0][b].best_s, acc[0][b].best_bw / acc[0][0].best_bw,
                bs[b] / acc[1][b].best_s, acc[1][b].best_bw / acc[1][0].best_bw,
                acc[1][b].best_s / acc[0][b].best_s,
                stats_of(acc[0][b].rate, O.reps).mean / stats_of(acc[1][b].rate, O.reps).mean);
    }
    if (acc[0][0].best_s > 0)
        fprintf(stderr, "ab b=1 S-MBU at the best step: repacked %.3f, GGUF layout %.3f\n",
                acc[0][0].bytes / acc[0][0].best_s / g_bw,
                acc[1][0].bytes / acc[1][0].best_s / g_bw);
    mc_engine_free(g);
}

static void case_prefill(mc_engine *e, float *logits)
{
    int64_t V = mc_engine_vocab(e), n = O.prefill;
    int32_t *tok = malloc((size_t)n * sizeof *tok);
    double ts[64], smfu[64];
    for (int64_t i = 0; i < n; i++)
        tok[i] = (int32_t)((7 + 101 * i) % V);
    for (int i = -1; i < O.reps; i++) {
        mc_engine_seq_reset(e, 0);
        mc_batch_item it = {
            .seq = 0, .tokens = tok, .n_tokens = n, .logits = MC_LOGITS_LAST, .logits_out = logits};
        mc_ns t0 = mc_now_ns();
        if (mc_engine_step(e, &it, 1, NULL) != MC_OK)
            g_fail = 1;
        double dt = mc_ns_to_s(mc_now_ns() - t0);
        argmax_finite(logits, V);
        mc_pass_flops pf;
        mc_cap_pass_flops(mc_engine_model(e), mc_engine_last_pass(e), &pf);
        if (i >= 0) {
            ts[i] = (double)n / dt;
            smfu[i] = pf.total / dt / g_fma;
        }
    }
    free(tok);
    stats t = stats_of(ts, O.reps), m = stats_of(smfu, O.reps);
    double best = 0, bsmfu = 0;
    for (int i = 0; i < O.reps; i++) {
        best = ts[i] > best ? ts[i] : best;
        bsmfu = smfu[i] > bsmfu ? smfu[i] : bsmfu;
    }
    const char *k[] = {"tokens", "smfu", "smfu_sd", "smfu_best"};
    double v[] = {(double)n, m.mean, m.sd, bsmfu};
    emit("prefill", 1, t, best, mc_engine_isa(e), k, v, 4);
    fprintf(stderr,
            "prefill %lld: %.1f +- %.1f tok/s (best %.1f), S-MFU %.3f +- %.3f (best %.3f)\n",
            (long long)n, t.mean, t.sd, best, m.mean, m.sd, bsmfu);
}

/* The recording code alone, after a decode step: every MoE layer's entry and the rest of the
 * record, n times (what a step spends on it besides two clock reads). */
static double trace_ns_per_step(mc_engine *e, float *logits)
{
    run r;
    decode_run(e, 1, 0, 1, logits, &r);
    int32_t tok = 1;
    mc_batch_item it = {.seq = 0, .tokens = &tok, .n_tokens = 1};
    int n = 20000;
    mc_ns t0 = mc_now_ns();
    for (int k = 0; k < n; k++) {
        for (int64_t l = 0; l < e->n_layers; l++)
            if (e->L[l].moe)
                eng_trace_layer(e, &e->L[l], 1);
        eng_trace_end(e, &it, 1, t0, t0 + 1000);
    }
    return (double)(mc_now_ns() - t0) / n;
}

/* Alternates traced and untraced engines (same model) over decode runs. */
static void case_trace(const char *path, float *logits)
{
    mc_engine *on = open_engine(path, 0), *off = open_engine(path, 1);
    double t_on[64], t_off[64], share[64], b_on = 1e30, b_off = 1e30;
    run r;
    if (!on || !off) {
        g_fail = 1;
        goto out;
    }
    decode_run(on, 1, 4, 8, logits, &r);
    decode_run(off, 1, 4, 8, logits, &r);
    for (int i = 0; i < O.reps; i++) {
        decode_run(off, 1, 2, O.steps, logits, &r);
        t_off[i] = r.time_s / r.steps;
        b_off = r.best_s < b_off ? r.best_s : b_off;
        decode_run(on, 1, 2, O.steps, logits, &r);
        t_on[i] = r.time_s / r.steps;
        b_on = r.best_s < b_on ? r.best_s : b_on;
        share[i] = (t_on[i] - t_off[i]) / t_off[i];
    }
    stats a = stats_of(t_on, O.reps), b = stats_of(t_off, O.reps), s = stats_of(share, O.reps);
    stats tok = {1.0 / a.mean, 0, O.reps};
    double direct = trace_ns_per_step(on, logits);
    const char *k[] = {"ms_traced",        "ms_untraced",       "trace_share",
                       "trace_share_best", "trace_ns_per_step", "trace_share_direct"};
    double v[] = {a.mean * 1e3,           b.mean * 1e3, s.mean,
                  (b_on - b_off) / b_off, direct,       direct * 1e-9 / b_off};
    emit("trace", 1, tok, 1.0 / b_on, mc_engine_isa(on), k, v, 6);
    fprintf(stderr,
            "trace: %.3f ms/step traced, %.3f untraced: %+.2f%% (sd %.2f%%); best steps "
            "%.3f vs %.3f ms: %+.2f%%; the recording code alone: %.0f ns/step = %.4f%% of "
            "the best untraced step\n",
            a.mean * 1e3, b.mean * 1e3, 100 * s.mean, 100 * s.sd, b_on * 1e3, b_off * 1e3,
            100 * v[3], direct, 100 * v[5]);
out:
    mc_engine_free(on);
    mc_engine_free(off);
}

/* ---- main ------------------------------------------------------------------------------------ */

static int parse(int argc, char **argv)
{
    static const struct option lo[] = {
        {"model", 1, 0, 'm'},     {"type", 1, 0, 'T'},       {"threads", 1, 0, 't'},
        {"reps", 1, 0, 'r'},      {"steps", 1, 0, 'n'},      {"prefill", 1, 0, 'p'},
        {"batch", 1, 0, 'b'},     {"cases", 1, 0, 'c'},      {"bw", 1, 0, 'W'},
        {"fma", 1, 0, 'F'},       {"wait-quiet", 1, 0, 'Q'}, {"no-repack", 0, 0, 'R'},
        {"cpu-clock", 0, 0, 'C'}, {"kernels", 1, 0, 'K'},    {0, 0, 0, 0}};
    int64_t v;
    double f;
    for (int c; (c = getopt_long(argc, argv, "m:t:r:n:p:b:c:", lo, NULL)) != -1;) {
        if (c == 'm')
            O.model = optarg;
        else if (c == 'T' && mc_dtype_parse(optarg, &O.type) == MC_OK)
            continue;
        else if (c == 't' && mc_parse_i64(optarg, 1, 256, &v) == MC_OK)
            O.threads = (int)v;
        else if (c == 'r' && mc_parse_i64(optarg, 1, 64, &v) == MC_OK)
            O.reps = (int)v;
        else if (c == 'n' && mc_parse_i64(optarg, 1, 256, &v) == MC_OK)
            O.steps = (int)v;
        else if (c == 'p' && mc_parse_i64(optarg, 1, 4096, &v) == MC_OK)
            O.prefill = (int)v;
        else if (c == 'b' && O.n_b < 8 && mc_parse_i64(optarg, 2, MAX_B, &v) == MC_OK)
            O.b[O.n_b++] = (int)v;
        else if (c == 'c')
            snprintf(O.cases, sizeof O.cases, "%s", optarg);
        else if (c == 'W' && mc_parse_f64(optarg, &f) == MC_OK && f > 0)
            O.bw_GBps = f;
        else if (c == 'F' && mc_parse_f64(optarg, &f) == MC_OK && f > 0)
            O.fma_GFLOPs = f;
        else if (c == 'Q' && mc_parse_f64(optarg, &f) == MC_OK && f >= 0)
            O.wait_quiet_s = f;
        else if (c == 'R')
            O.no_repack = 1;
        else if (c == 'C')
            O.cpu_clock = 1;
        else if (c == 'K')
            O.kernels = optarg;
        else
            return 0;
    }
    return optind == argc;
}

int main(int argc, char **argv)
{
    O = (bopts){.type = MC_DT_Q8_0, .threads = 2, .reps = 5, .steps = 32, .prefill = 512};
    snprintf(O.cases, sizeof O.cases, "decode,prefill,batch,trace");
    if (!parse(argc, argv)) {
        fprintf(stderr, "usage: bench_engine [--model GGUF | --type T] [-t THREADS] [-r REPS] "
                        "[-n STEPS] [-p PREFILL] [-b B]... [-c decode,prefill,batch,trace,ab] "
                        "[--bw GBps --fma GFLOPs] [--wait-quiet S] [--no-repack]\n"
                        "       [--cpu-clock] [--kernels ref|avx2|avxvnni|avx512]\n");
        return 2;
    }
    if (O.n_b == 0) {
        O.b[0] = 4;
        O.b[1] = 16;
        O.n_b = 2;
    }
    mc_bench_commit(g_commit, sizeof g_commit);
    mc_bench_read_line("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'", g_cpu,
                       sizeof g_cpu);
    const char *path = model_path();
    mc_bench_wait_quiet(O.threads, O.wait_quiet_s);
    if (!path || !probe())
        return 1;
    fprintf(stderr, "bench_engine: %s, commit %s, %d threads, probe %.2f GB/s, %.1f GFLOP/s\n",
            g_cpu, g_commit, O.threads, g_bw / 1e9, g_fma / 1e9);
    mc_engine *e = open_engine(path, 0);
    if (!e)
        return 1;
    fprintf(stderr, "bench_engine: weights %s, %d matrices repacked (kernels %s)\n",
            mc_engine_weights_copied(e) ? "copied" : "mapped", mc_engine_weights_repacked(e),
            mc_engine_isa(e));
    float *logits = malloc((size_t)MAX_B * (size_t)mc_engine_vocab(e) * sizeof *logits);
    static base1 one; /* zeroed: holds a run */
    if (strstr(O.cases, "decode") || strstr(O.cases, "batch")) {
        mc_bench_wait_quiet(O.threads, O.wait_quiet_s);
        case_decode(e, logits, &one);
    }
    for (int i = 0; strstr(O.cases, "batch") && i < O.n_b; i++) {
        mc_bench_wait_quiet(O.threads, O.wait_quiet_s);
        case_batch(e, logits, O.b[i], &one);
    }
    if (strstr(O.cases, "prefill")) {
        mc_bench_wait_quiet(O.threads, O.wait_quiet_s);
        case_prefill(e, logits);
    }
    if (strstr(O.cases, "ab")) {
        mc_bench_wait_quiet(O.threads, O.wait_quiet_s);
        case_ab(e, path, logits);
    }
    mc_engine_free(e);
    if (strstr(O.cases, "trace")) {
        mc_bench_wait_quiet(O.threads, O.wait_quiet_s);
        case_trace(path, logits);
    }
    free(logits);
    return g_fail ? 1 : 0;
}
