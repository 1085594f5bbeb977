/* cmd_bench_engine.c: `moecap bench-engine`: benchmarks the embedded CPU engine on a GGUF model.
 * After a warm-up, each repetition prefills a p-token prompt of seeded random token ids and then,
 * for each batch size b, decodes n tokens with b sequences together (each first gets its own
 * p-token prompt, untimed). Figures come from the engine's own per-pass records (copied per step)
 * through mc_cap_summarise against a hardware entry (default `local`, the probe's): tokens/s,
 * S-MBU and S-MFU of prefill and decode, mean +- sd over repetitions. Parses options and prints;
 * engine driving is engine_run.c's. Must not depend on the server or loadgen. */
#include "cli.h"
#include "engine_run.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <string.h>

#define CMD "bench-engine"
#define MAX_NB 8
#define MAX_REPS 100
#define MAX_BATCH 64

void usage_bench_engine(FILE *f)
{
    fprintf(f,
            "usage: moecap bench-engine -m MODEL.gguf [-t THREADS] [-p 512] [-n 128] [-b 1,4,16]\n"
            "         [-r 5] [--hardware H] [--kernels ref|avx2|avx512] [--seed S] [--json]\n"
            "         [--expert-cache-mb N [--expert-cache-policy lru|lfu|static]\n"
            "          [--expert-profile FILE] [--prefetch] [--no-direct]]\n\n"
            "Benchmarks moecap's embedded CPU engine. After a warm-up, each repetition prefills\n"
            "a P-token prompt of seeded random token ids (in chunks of up to 512 tokens), then for\n"
            "each batch size B gives B sequences their own P-token prompt (untimed) and decodes N\n"
            "tokens with all B together. Reported per phase, mean +- sd over repetitions:\n"
            "tokens/s and S-MBU / S-MFU (the engine's per-pass records through moecap's CAP\n"
            "metrics, time-weighted, against the hardware's peak bandwidth and dense FLOP/s).\n"
            "With an expert cache also: hit rate, slow-tier bandwidth while reads are in flight\n"
            "(bytes / time with at least one read in flight) and the share of step time stalled\n"
            "on the slow tier.\n\n"
            "  -m, --model FILE    GGUF model\n"
            "  -t, --threads N     threads (default: all CPUs)\n"
            "  -p, --prompt N      prompt tokens (default 512)\n"
            "  -n, --gen N         decode steps per batch size (default 128)\n"
            "  -b, --batch LIST    comma-separated batch sizes, 1..64 (default 1,4,16)\n"
            "  -r, --reps N        repetitions (default 5)\n"
            "  --hardware H        hardware entry for S-MBU / S-MFU (default local: run\n"
            "                      `moecap probe` first)\n"
            "  --kernels ISA       ref, avx2 or avx512 (default: best for this CPU)\n"
            "  --seed S            prompt token seed (default 1)\n"
            "  --json              print one JSON document\n"
            "  --records FILE      write the last repetition's decode passes (every batch\n"
            "                      size) as per-pass records JSONL with tokens_per_expert,\n"
            "                      for a later --routing or --expert-profile\n"
            ER_XCACHE_USAGE
            "  with an expert cache, each decode phase is compared with the analytic model\n"
            "  (docs/METRICS.md predict.tpot_offload, no overlap) twice: predicted a priori\n"
            "  (uniform routing, or --routing), and calibrated from the phase's own records\n"
            "  (its routing replayed through the cache, the slow tier as measured):\n"
            "  --slow-bw GB/s      slow tier bandwidth (default: the hardware entry's probed\n"
            "                      slow tier, `moecap probe --slow-tier DIR`)\n"
            "  --routing FILE      a routing trace recorded before (records JSONL with\n"
            "                      tokens_per_expert, e.g. --records or serve --trace-tokens):\n"
            "                      the prediction replays its passes of each phase's batch size\n"
            "                      (all of them if none) through the cache (default: uniform)\n"
            "  --predict-eff F     attained fraction of the fast tier's peak bandwidth, (0, 1]:\n"
            "                      the decode S-MBU this engine reaches without a cache on this\n"
            "                      machine (default 0.85, see docs/ENGINE.md)\n");
}

typedef struct bargs {
    er_open eo;
    int64_t p, n;
    int b[MAX_NB], nb, reps, json;
    const char *hw;
    uint64_t seed;
    double slow_Bps, pred_eff; /* --slow-bw (0 = the hardware entry's), --predict-eff */
    const char *routing;       /* --routing: a trace for the a priori prediction, or NULL */
    const char *records;       /* --records: where the decode phases' records go, or NULL */
} bargs;

enum { O_HW = 256, O_KERN, O_SEED, O_JSON, O_SLOW, O_PEFF, O_ROUTING, O_RECORDS };

static const struct option opts[] = {
    {"model", required_argument, NULL, 'm'},  {"threads", required_argument, NULL, 't'},
    {"prompt", required_argument, NULL, 'p'}, {"gen", required_argument, NULL, 'n'},
    {"batch", required_argument, NULL, 'b'},  {"reps", required_argument, NULL, 'r'},
    {"hardware", required_argument, NULL, O_HW}, {"kernels", required_argument, NULL, O_KERN},
    {"seed", required_argument, NULL, O_SEED}, {"json", no_argument, NULL, O_JSON},
    {"slow-bw", required_argument, NULL, O_SLOW}, {"predict-eff", required_argument, NULL, O_PEFF},
    {"routing", required_argument, NULL, O_ROUTING}, {"records", required_argument, NULL, O_RECORDS},
    ER_XCACHE_LONGOPTS, {NULL, 0, NULL, 0}};

static const char *opt_name(int c)
{
    for (const struct option *p = opts; p->name; p++)
        if (p->val == c)
            return p->name;
    return "?";
}

static int parse_batches(bargs *a, const char *s)
{
    char tmp[16];
    a->nb = 0;
    while (*s) {
        size_t len = strcspn(s, ",");
        int64_t v;
        if (a->nb == MAX_NB || len == 0 || len >= sizeof tmp)
            return 0;
        memcpy(tmp, s, len);
        tmp[len] = 0;
        if (mc_parse_i64(tmp, 1, MAX_BATCH, &v) != MC_OK)
            return 0;
        a->b[a->nb++] = (int)v;
        s += len + (s[len] == ',');
    }
    return a->nb > 0;
}

/* One option with a value; 1 = ok. */
static int parse_one(bargs *a, int c)
{
    int64_t v = 0;
    if (c == 'm' || c == O_HW || c == O_KERN || c == O_ROUTING || c == O_RECORDS) {
        *(c == 'm'         ? &a->eo.model
          : c == O_HW      ? &a->hw
          : c == O_ROUTING ? &a->routing
          : c == O_RECORDS ? &a->records
                           : &a->eo.kernels) = optarg;
        return 1;
    }
    if (c == 'b')
        return parse_batches(a, optarg);
    if (c == O_SEED)
        return mc_parse_u64(optarg, &a->seed) == MC_OK;
    if (c == O_SLOW || c == O_PEFF) {
        double x = 0;
        int ok = mc_parse_f64(optarg, &x) == MC_OK && x > 0 && (c == O_SLOW || x <= 1);
        *(c == O_SLOW ? &a->slow_Bps : &a->pred_eff) = c == O_SLOW ? x * 1e9 : x;
        return ok;
    }
    int64_t hi = c == 't' ? 1024 : c == 'r' ? MAX_REPS : 1 << 20;
    if (mc_parse_i64(optarg, 1, hi, &v) != MC_OK)
        return 0;
    if (c == 't')
        a->eo.threads = (int)v;
    else if (c == 'p')
        a->p = v;
    else if (c == 'n')
        a->n = v;
    else if (c == 'r')
        a->reps = (int)v;
    return 1;
}

static int parse_args(int argc, char **argv, bargs *a)
{
    memset(a, 0, sizeof *a);
    a->p = 512;
    a->n = 128;
    a->reps = 5;
    a->hw = "local";
    a->seed = 1;
    a->pred_eff = 0.85;
    parse_batches(a, "1,4,16");
    optind = 1;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, ":m:t:p:n:b:r:", opts, NULL)) != -1;) {
        int rc = er_xcache_opt(&a->eo.xc, c, optarg, CMD);
        if (rc > 0)
            return rc;
        if (rc == 0)
            continue;
        if (c == O_JSON)
            a->json = 1;
        else if (c == '?' || c == ':')
            return mc_cli_usage_error(CMD, "bad or incomplete option '%s'", argv[optind - 1]);
        else if (!parse_one(a, c))
            return mc_cli_usage_error(CMD, "bad value '%s' for --%s", optarg, opt_name(c));
    }
    if (optind < argc)
        return mc_cli_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (!a->eo.model)
        return mc_cli_usage_error(CMD, "-m MODEL.gguf is required");
    int maxb = 1;
    for (int i = 0; i < a->nb; i++)
        maxb = a->b[i] > maxb ? a->b[i] : maxb;
    a->eo.max_seqs = maxb;
    a->eo.step_tokens = maxb > 512 ? maxb : 512;
    a->eo.ctx = a->p + a->n + 1;
    /* the calibrated prediction's routing; --records keeps it for a later --routing */
    a->eo.trace_tokens = a->eo.xc.cache_bytes > 0 || a->records;
    return er_xcache_check(&a->eo.xc, CMD);
}

/* Figures per repetition: tok/s, S-MBU, S-MFU, mean distinct experts per MoE layer; with an
 * expert cache the hit rate, the slow tier's bytes/s while reads are in flight and the share of
 * the step time stalled on it (NaN without a cache); then the share of the step time in each of
 * the engine's phases (mc_engine_profile, MC_PHASES of them from F_TIME). */
enum { F_TPS = 0, F_SMBU, F_SMFU, F_ACT, F_HIT, F_BW, F_STALL, F_TIME };
#define F_COUNT (F_TIME + MC_PHASES)

typedef struct bench {
    const bargs *a;
    mc_engine *e;
    mc_hw_deploy dep;
    mc_cap_peak pk;
    int32_t *prompt; /* [max_seqs][p] */
    float *logits;   /* [max_seqs][vocab] */
    double pre[F_COUNT][MAX_REPS];
    double dec[MAX_NB][F_COUNT][MAX_REPS];
    mc_predict_cache_out pred[MAX_NB]; /* the analytic model per decode phase (with a cache) */
    int pred_ok;                       /* 1: pred[] filled; 0: pred_why says why not */
    char pred_why[sizeof(mc_diag){0}.msg];
    /* Calibrated from the run's records: each decode phase's routing frequencies (mean over
     * repetitions of experts.route_freq of its passes) and slow tier read at the bandwidth
     * measured while reads were in flight (cache.slow_bw). */
    double *route[MAX_NB];
    size_t route_rows, route_cols;
    er_passes trace[MAX_NB]; /* the last repetition's decode records of each phase */
    double *rfreq;           /* --routing: its frequencies and, per decode phase, its replay */
    size_t rrows, rcols;
    mc_cache_replay rrp[MAX_NB];
    int rrp_same_b[MAX_NB]; /* 1: replayed the trace's passes of the phase's batch size only */
    mc_predict_cache_out cal[MAX_NB];
    double cal_slow_Bps[MAX_NB];
    int cal_ok;
    char cal_why[sizeof(mc_diag){0}.msg];
} bench;

/* The expert cache's figures of the passes ps, read from the engine's totals since s0. */
static void cache_figures(const bench *B, const er_passes *ps, const mc_engine_xstats *s0,
                          double f[F_COUNT][MAX_REPS], int rep)
{
    mc_engine_xstats s1;
    f[F_HIT][rep] = f[F_BW][rep] = f[F_STALL][rep] = NAN;
    if (!mc_engine_xcache_stats(B->e, &s1))
        return;
    double hits = 0, misses = 0, stall = 0, lat = 0;
    for (size_t i = 0; i < ps->n; i++) {
        const mc_pass *p = &ps->v[i];
        for (int64_t l = 0; l < p->n_cache_layers; l++) {
            hits += (double)p->cache_hits[l];
            misses += (double)p->cache_misses[l];
        }
        stall += p->slow_stall_s > 0 ? p->slow_stall_s : 0;
        lat += p->latency_s;
    }
    double rd = s1.read_s - s0->read_s;
    f[F_HIT][rep] = hits + misses > 0 ? hits / (hits + misses) : NAN;
    f[F_BW][rep] = rd > 0 ? (double)(s1.bytes - s0->bytes) / rd : NAN;
    f[F_STALL][rep] = lat > 0 ? stall / lat : NAN;
}

/* Summarises the records into f[.][rep]. */
static mc_err record(bench *B, const er_passes *ps, const mc_engine_xstats *s0,
                     double f[F_COUNT][MAX_REPS], int rep, mc_diag *d)
{
    cache_figures(B, ps, s0, f, rep);
    mc_engine_prof pr;
    mc_engine_profile(B->e, &pr);
    for (int p = 0; p < MC_PHASES; p++)
        f[F_TIME + p][rep] = pr.step_s > 0 ? pr.s[p] / pr.step_s : NAN;
    mc_cap_summary s;
    mc_err err = mc_cap_summarise(mc_engine_model(B->e), &B->pk, ps->v, ps->n, &s, d);
    if (err != MC_OK)
        return err;
    f[F_TPS][rep] = s.all.tok_per_s;
    f[F_SMBU][rep] = s.all.smbu_tw;
    f[F_SMFU][rep] = s.all.smfu_tw;
    f[F_ACT][rep] = er_mean_experts(ps->v, ps->n, 0);
    return MC_OK;
}

/* Adds the routing frequencies of decode phase i's passes / reps into B->route[i]. */
static mc_err add_routing(bench *B, const er_passes *ps, int i, mc_diag *d)
{
    double *f = NULL;
    size_t rows = 0, cols = 0;
    mc_err err = mc_cap_route_freq(mc_engine_model(B->e), ps->v, ps->n, &f, &rows, &cols, d);
    if (err == MC_OK && !B->route[i])
        B->route[i] = mc_calloc(rows * cols, sizeof *B->route[i]);
    if (err == MC_OK && !B->route[i])
        err = mc_fail(d, MC_ERR_NOMEM, "out of memory");
    for (size_t k = 0; err == MC_OK && k < rows * cols; k++)
        B->route[i][k] += f[k] / B->a->reps;
    B->route_rows = rows;
    B->route_cols = cols;
    mc_free(f);
    return err;
}

static mc_err prefill_seq(bench *B, int s, er_passes *ps, mc_diag *d)
{
    const bargs *a = B->a;
    int64_t V = mc_engine_vocab(B->e);
    mc_engine_seq_reset(B->e, s);
    return er_prefill(B->e, s, B->prompt + (int64_t)s * a->p, a->p, a->eo.step_tokens,
                      B->logits + (int64_t)s * V, ps, NULL, d);
}

/* b sequences with their prompts, then `steps` greedy decode steps of all b; records into ps,
 * the cache's totals before the decode steps into s0. */
static mc_err decode_run(bench *B, int b, int64_t steps, er_passes *ps, mc_engine_xstats *s0,
                         mc_diag *d)
{
    int64_t V = mc_engine_vocab(B->e);
    int32_t cur[MAX_BATCH];
    mc_sampler g;
    mc_sampler_default(&g);
    mc_err err = MC_OK;
    for (int s = 0; s < b && err == MC_OK; s++)
        err = prefill_seq(B, s, NULL, d);
    mc_engine_xcache_stats(B->e, s0);
    mc_engine_profile_reset(B->e);
    for (int64_t k = 0; k < steps && err == MC_OK; k++) {
        for (int s = 0; s < b; s++)
            cur[s] = mc_engine_sample(B->e, B->logits + (int64_t)s * V, &g, NULL);
        err = er_decode_step(B->e, cur, b, B->logits, ps, NULL, d);
    }
    return err;
}

static mc_err one_rep(bench *B, int rep, mc_diag *d)
{
    er_passes ps = {0};
    mc_engine_xstats s0;
    mc_engine_xcache_stats(B->e, &s0);
    mc_engine_profile_reset(B->e);
    mc_err err = prefill_seq(B, 0, &ps, d);
    if (err == MC_OK)
        err = record(B, &ps, &s0, B->pre, rep, d);
    for (int i = 0; i < B->a->nb && err == MC_OK; i++) {
        er_passes_deinit(&ps);
        err = decode_run(B, B->a->b[i], B->a->n, &ps, &s0, d);
        if (err == MC_OK)
            err = record(B, &ps, &s0, B->dec[i], rep, d);
        if (err == MC_OK && B->a->eo.trace_tokens)
            err = add_routing(B, &ps, i, d);
        if (err == MC_OK && B->a->eo.trace_tokens && rep == B->a->reps - 1) {
            B->trace[i] = ps; /* kept for the replay (calibrate_phases) and --records */
            ps = (er_passes){0};
        }
    }
    er_passes_deinit(&ps);
    return err;
}

static mc_err load_routing(bench *B, mc_diag *d);

static mc_err setup(bench *B, mc_diag *d)
{
    const bargs *a = B->a;
    mc_err err = mc_hw_parse_deploy(a->hw, &B->dep, d);
    if (err != MC_OK)
        return err;
    err = er_engine_open(&a->eo, &B->e, d);
    if (err == MC_OK)
        err = mc_cap_peak_of(mc_engine_model(B->e), &B->dep, &B->pk, d);
    if (err == MC_OK) /* a bad trace fails before the benchmark runs */
        err = load_routing(B, d);
    if (err != MC_OK)
        return err;
    int64_t V = mc_engine_vocab(B->e), S = a->eo.max_seqs;
    B->prompt = mc_mallocarray((size_t)(S * a->p), sizeof *B->prompt);
    B->logits = mc_mallocarray((size_t)(S * V), sizeof *B->logits);
    if (!B->prompt || !B->logits)
        return mc_fail(d, MC_ERR_NOMEM, "out of memory for %lld prompts", (long long)S);
    mc_rng rng;
    mc_rng_seed(&rng, a->seed);
    for (int64_t i = 0; i < S * a->p; i++)
        B->prompt[i] = (int32_t)mc_rng_below(&rng, (uint64_t)V);
    return MC_OK;
}

static double mean_of(const double *v, int n)
{
    double m = 0;
    for (int i = 0; i < n; i++)
        m += v[i] / n;
    return m;
}

/* The a priori slow tier: --slow-bw, else the hardware entry's probed one (0 = unknown). */
static double slow_of(const bench *B)
{
    return B->a->slow_Bps > 0 ? B->a->slow_Bps : B->dep.hw.slow_tier_Bps;
}

/* The same model calibrated from the run's records: the phase's measured routing frequencies
 * and slow-tier bandwidth (the a priori slow tier when no read was timed: a cache that missed
 * nothing). A failure leaves cal_why. */
static void calibrate_phases(bench *B, double slow)
{
    const bargs *a = B->a;
    mc_diag d = {0};
    mc_err err = MC_OK;
    for (int i = 0; i < a->nb && err == MC_OK; i++) {
        double bw = mean_of(B->dec[i][F_BW], a->reps);
        B->cal_slow_Bps[i] = isfinite(bw) && bw > 0 ? bw : slow;
        er_pred_in in = {.batch = a->b[i],
                         .context_tok = (double)a->p + (double)(a->n + 1) / 2,
                         .fast_Bps = B->pk.bw_Bps,
                         .slow_Bps = B->cal_slow_Bps[i],
                         .eff = a->pred_eff,
                         .policy = a->eo.xc.policy,
                         .freq = B->route[i],
                         .freq_rows = B->route_rows,
                         .freq_cols = B->route_cols};
        mc_cache_replay rp;
        err = B->route[i] ? MC_OK : mc_fail(&d, MC_ERR_NOT_FOUND, "no routing was recorded");
        if (err == MC_OK)
            err = er_replay(B->e, a->eo.xc.policy, B->trace[i].v, B->trace[i].n, &rp, &d);
        in.replay = &rp;
        if (err == MC_OK)
            err = er_predict_cache(B->e, &in, &B->cal[i], &d);
    }
    B->cal_ok = err == MC_OK;
    if (err != MC_OK)
        snprintf(B->cal_why, sizeof B->cal_why, "%s", d.msg);
}

/* The analytic model of each decode phase (bench_engine_pred.c), a priori: uniform routing and
 * the probed (or --slow-bw) slow tier; then calibrated from the run's records. A failure is not
 * an error of the benchmark: pred_why / cal_why say why there is no prediction. */
/* Replays the trace's passes of batch size b through the engine's cache (all of its passes
 * when it has none of that size: a cache's hit rate depends on how many experts a pass
 * activates); *same_b says which. */
static mc_err replay_batch(const bench *B, const mc_pass_set *set, int b, mc_cache_replay *rp,
                           int *same_b, mc_diag *d)
{
    mc_pass *v = mc_mallocarray(set->n ? set->n : 1, sizeof *v);
    if (!v)
        return mc_fail(d, MC_ERR_NOMEM, "out of memory");
    size_t n = 0;
    for (size_t k = 0; k < set->n; k++)
        if (set->v[k].batch_size == b)
            v[n++] = set->v[k]; /* shallow: read only, the set owns the arrays */
    *same_b = n > 0;
    mc_err e = er_replay(B->e, B->a->eo.xc.policy, n ? v : set->v, n ? n : set->n, rp, d);
    mc_free(v);
    return e;
}

/* --routing: the trace's frequencies (B->rfreq, heap) and its replay per decode phase. */
static mc_err load_routing(bench *B, mc_diag *d)
{
    if (!B->a->routing)
        return MC_OK;
    if (!B->a->eo.xc.cache_bytes)
        return mc_fail(d, MC_ERR_ARG, "--routing needs --expert-cache-mb");
    mc_pass_set set;
    char *buf = NULL;
    size_t len = 0;
    mc_pass_set_init(&set);
    mc_err e = mc_read_file(B->a->routing, (size_t)1 << 30, &buf, &len, d);
    if (!e)
        e = mc_pass_parse_jsonl(buf, len, 1, 0, &set, d);
    if (!e)
        e = mc_cap_route_freq(mc_engine_model(B->e), set.v, set.n, &B->rfreq, &B->rrows,
                              &B->rcols, d);
    for (int i = 0; i < B->a->nb && !e; i++)
        e = replay_batch(B, &set, B->a->b[i], &B->rrp[i], &B->rrp_same_b[i], d);
    if (e)
        mc_diag_prefix(d, "--routing %s", B->a->routing);
    mc_free(buf);
    mc_pass_set_deinit(&set);
    return e;
}

static void predict_phases(bench *B)
{
    const bargs *a = B->a;
    mc_diag d = {0};
    mc_engine_xstats s;
    B->pred_ok = 0;
    if (!mc_engine_xcache_stats(B->e, &s))
        return;
    double slow = slow_of(B);
    mc_err err = MC_OK;
    for (int i = 0; i < a->nb && err == MC_OK; i++) {
        er_pred_in in = {.batch = a->b[i],
                         .context_tok = (double)a->p + (double)(a->n + 1) / 2,
                         .fast_Bps = B->pk.bw_Bps,
                         .slow_Bps = slow,
                         .eff = a->pred_eff,
                         .policy = a->eo.xc.policy,
                         .freq = B->rfreq,
                         .freq_rows = B->rrows,
                         .freq_cols = B->rcols,
                         .replay = a->routing ? &B->rrp[i] : NULL};
        err = er_predict_cache(B->e, &in, &B->pred[i], &d);
    }
    B->pred_ok = err == MC_OK;
    if (err != MC_OK)
        snprintf(B->pred_why, sizeof B->pred_why, "%s", d.msg);
    calibrate_phases(B, slow);
}

static mc_err run(bench *B, mc_diag *d)
{
    er_passes warm = {0};
    mc_engine_xstats s0;
    mc_err err = setup(B, d);
    if (err == MC_OK) /* warm-up: page the weights in, spin the thread pool up */
        err = decode_run(B, 1, B->a->n < 4 ? B->a->n : 4, &warm, &s0, d);
    er_passes_deinit(&warm);
    for (int r = 0; r < B->a->reps && err == MC_OK; r++)
        err = one_rep(B, r, d);
    if (err == MC_OK)
        predict_phases(B);
    return err;
}

typedef struct msd {
    double mean, sd; /* sd: sample standard deviation (0 for one repetition) */
} msd;

static msd msd_of(const double *v, int n)
{
    msd m = {0, 0};
    for (int i = 0; i < n; i++)
        m.mean += v[i] / n;
    for (int i = 0; i < n && n > 1; i++)
        m.sd += (v[i] - m.mean) * (v[i] - m.mean) / (n - 1);
    m.sd = sqrt(m.sd);
    return m;
}

static void print_phase(const char *what, double f[F_COUNT][MAX_REPS], int reps)
{
    msd t = msd_of(f[F_TPS], reps), u = msd_of(f[F_SMBU], reps), m = msd_of(f[F_SMFU], reps);
    msd x = msd_of(f[F_ACT], reps);
    printf("%-22s %10.2f +- %-8.2f tok/s  S-MBU %7.3g +- %-7.2g %%  S-MFU %7.3g +- %-7.2g %%", what,
           t.mean, t.sd, 100 * u.mean, 100 * u.sd, 100 * m.mean, 100 * m.sd);
    if (!isnan(x.mean))
        printf("  experts/MoE layer %.2f", x.mean);
    msd h = msd_of(f[F_HIT], reps), b = msd_of(f[F_BW], reps), st = msd_of(f[F_STALL], reps);
    if (!isnan(h.mean))
        printf("\n%-22s hit rate %.3f +- %.3f  slow tier %.1f MB/s while reading  stalled %.1f %%",
               "", h.mean, h.sd, isnan(b.mean) ? 0 : b.mean / 1e6, 100 * st.mean);
    printf("\n%-22s time:", "");
    for (int p = 0; p < MC_PHASES; p++) {
        msd ph = msd_of(f[F_TIME + p], reps);
        if (ph.mean >= 0.0005)
            printf(" %s %.1f %%", mc_engine_phase_name(p), 100 * ph.mean);
    }
    printf("\n");
}

/* Measured TPOT of decode phase i: one step of b tokens, b / (tokens/s). */
static double measured_tpot(const bench *B, int i)
{
    msd t = msd_of(B->dec[i][F_TPS], B->a->reps);
    return t.mean > 0 ? B->a->b[i] / t.mean : NAN;
}

/* The measured TPOT of phase i split as the model splits it: the time stalled on the slow tier
 * (stall share x TPOT) and the rest (s). */
static void measured_split(const bench *B, int i, double *stall_s, double *rest_s)
{
    double m = measured_tpot(B, i), st = mean_of(B->dec[i][F_STALL], B->a->reps);
    *stall_s = isfinite(st) ? st * m : NAN;
    *rest_s = m - *stall_s;
}

static void print_pred(const bench *B, int i)
{
    double m = measured_tpot(B, i), st, rest;
    measured_split(B, i, &st, &rest);
    for (int k = 0; k < 2; k++) {
        const mc_predict_cache_out *p = k ? &B->cal[i] : &B->pred[i];
        if (!(k ? B->cal_ok : B->pred_ok))
            continue;
        printf("%-22s %s: hit rate %.3f, TPOT %.2f ms (fast %.2f + slow %.2f at %.2f GB/s) vs "
               "measured %.2f ms: %+.1f %%\n",
               "",
               k                       ? "calibrated (routing replayed, slow bw)"
               : !B->a->routing        ? "predicted (uniform routing)"
               : B->rrp_same_b[i]      ? "predicted (--routing, its passes of this batch size)"
                                       : "predicted (--routing, all its passes)",
               p->hit_rate, 1e3 * p->tpot_s, 1e3 * p->fast_s, 1e3 * p->slow_s,
               (k ? B->cal_slow_Bps[i] : slow_of(B)) / 1e9, 1e3 * m, 100 * (p->tpot_s - m) / m);
        if (k)
            printf("%-22s   its parts vs measured: slow %.2f vs stalled %.2f ms (%+.1f %%), fast "
                   "%.2f vs the rest %.2f ms (%+.1f %%)\n",
                   "", 1e3 * p->slow_s, 1e3 * st, 100 * (p->slow_s - st) / st, 1e3 * p->fast_s,
                   1e3 * rest, 100 * (p->fast_s - rest) / rest);
    }
}

static void report_text(const bench *B)
{
    const bargs *a = B->a;
    char what[64];
    printf("model %s: %s kernels, %d threads; hardware %s x%d: %.1f GB/s, %.4g GFLOP/s dense %s\n",
           a->eo.model, mc_engine_isa(B->e), mc_engine_threads(B->e), B->dep.hw.name,
           B->dep.count, B->pk.bw_Bps / 1e9, B->pk.flops / 1e9, mc_prec_name(B->pk.prec));
    printf("%d repetitions (mean +- sd); S-MBU / S-MFU time-weighted over the engine's passes\n",
           a->reps);
    er_xcache_report(stdout, B->e);
    snprintf(what, sizeof what, "prefill p=%lld", (long long)a->p);
    print_phase(what, (double(*)[MAX_REPS])B->pre, a->reps);
    for (int i = 0; i < a->nb; i++) {
        snprintf(what, sizeof what, "decode b=%d n=%lld", a->b[i], (long long)a->n);
        print_phase(what, (double(*)[MAX_REPS])B->dec[i], a->reps);
        print_pred(B, i);
    }
    if (mc_engine_xcache_stats(B->e, &(mc_engine_xstats){0}) && !B->pred_ok)
        printf("no prediction: %s\n", B->pred_why);
    if (mc_engine_xcache_stats(B->e, &(mc_engine_xstats){0}) && !B->cal_ok)
        printf("no calibrated prediction: %s\n", B->cal_why);
}

static void add_num(cJSON *o, const char *k, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

static cJSON *phase_json(const double f[F_COUNT][MAX_REPS], int reps)
{
    static const char *names[F_TIME] = {"tok_per_s", "smbu", "smfu", "experts_per_moe_layer",
                                        "cache_hit_rate", "slow_tier_Bps", "stall_fraction"};
    cJSON *o = cJSON_CreateObject();
    for (int k = 0; k < F_COUNT; k++) {
        char key[64], tk[48];
        if (k >= F_HIT && k < F_TIME && isnan(f[F_HIT][0]))
            continue; /* no expert cache */
        if (k >= F_TIME)
            snprintf(tk, sizeof tk, "time_share_%s", mc_engine_phase_name(k - F_TIME));
        const char *name = k < F_TIME ? names[k] : tk;
        msd m = msd_of(f[k], reps);
        snprintf(key, sizeof key, "%s_mean", name);
        add_num(o, key, m.mean);
        snprintf(key, sizeof key, "%s_sd", name);
        add_num(o, key, m.sd);
    }
    return o;
}

/* predict.cache_hit_rate and predict.tpot_offload (s) of phase i, the measured TPOT (s) and the
 * gap in % of the measurement. */
static cJSON *pred_json(const bench *B, int i, int cal)
{
    const mc_predict_cache_out *p = cal ? &B->cal[i] : &B->pred[i];
    double m = measured_tpot(B, i);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "routing",
                            cal              ? "this phase's records, replayed through the cache"
                            : B->a->routing ? B->a->routing
                                             : "uniform");
    cJSON_AddStringToObject(o, "hit_model", p->hit_model);
    if (!cal && B->a->routing)
        cJSON_AddBoolToObject(o, "routing_same_batch", B->rrp_same_b[i]);
    add_num(o, "slow_Bps", cal ? B->cal_slow_Bps[i] : slow_of(B));
    add_num(o, "predict.cache_hit_rate", p->hit_rate);
    add_num(o, "predict.tpot_offload_s", p->tpot_s);
    add_num(o, "fast_s", p->fast_s);
    add_num(o, "slow_s", p->slow_s);
    add_num(o, "measured_tpot_s", m);
    add_num(o, "gap_pct", 100 * (p->tpot_s - m) / m);
    add_num(o, "eff", B->a->pred_eff);
    double st, rest;
    measured_split(B, i, &st, &rest);
    add_num(o, "measured_stall_s", st);
    add_num(o, "measured_rest_s", rest);
    add_num(o, "slow_gap_pct", 100 * (p->slow_s - st) / st);
    add_num(o, "fast_gap_pct", 100 * (p->fast_s - rest) / rest);
    return o;
}

static int report_json(const bench *B)
{
    const bargs *a = B->a;
    cJSON *j = cJSON_CreateObject(), *h, *dec;
    cJSON_AddStringToObject(j, "model", a->eo.model);
    cJSON_AddStringToObject(j, "kernels", mc_engine_isa(B->e));
    cJSON_AddNumberToObject(j, "threads", mc_engine_threads(B->e));
    cJSON_AddNumberToObject(j, "reps", a->reps);
    cJSON_AddNumberToObject(j, "prompt_tokens", (double)a->p);
    cJSON_AddNumberToObject(j, "gen_tokens", (double)a->n);
    cJSON_AddStringToObject(j, "units", "tok_per_s: tokens/s; smbu, smfu: fractions of the peak");
    cJSON_AddItemToObject(j, "hardware", h = cJSON_CreateObject());
    cJSON_AddStringToObject(h, "name", B->dep.hw.name);
    cJSON_AddNumberToObject(h, "count", B->dep.count);
    cJSON_AddNumberToObject(h, "peak_bw_GBps", B->pk.bw_Bps / 1e9);
    cJSON_AddNumberToObject(h, "peak_TFLOPs", B->pk.flops / 1e12);
    cJSON_AddStringToObject(h, "prec", mc_prec_name(B->pk.prec));
    cJSON *xc = er_xcache_json(B->e);
    if (xc)
        cJSON_AddItemToObject(j, "expert_cache", xc);
    if (xc && !B->pred_ok)
        cJSON_AddStringToObject(xc, "no_prediction", B->pred_why);
    if (xc && !B->cal_ok)
        cJSON_AddStringToObject(xc, "no_calibrated_prediction", B->cal_why);
    cJSON_AddItemToObject(j, "prefill", phase_json((const double(*)[MAX_REPS])B->pre, a->reps));
    cJSON_AddItemToObject(j, "decode", dec = cJSON_CreateArray());
    for (int i = 0; i < a->nb; i++) {
        cJSON *o = phase_json((const double(*)[MAX_REPS])B->dec[i], a->reps);
        cJSON_AddNumberToObject(o, "batch", a->b[i]);
        if (B->pred_ok)
            cJSON_AddItemToObject(o, "predicted", pred_json(B, i, 0));
        if (B->cal_ok)
            cJSON_AddItemToObject(o, "calibrated", pred_json(B, i, 1));
        cJSON_AddItemToArray(dec, o);
    }
    char *s = cJSON_Print(j);
    cJSON_Delete(j);
    if (!s)
        return mc_cli_fail(CMD, MC_ERR_NOMEM, NULL);
    printf("%s\n", s);
    cJSON_free(s);
    return 0;
}

/* --records: the last repetition's decode passes of every batch size, one JSON line each (the
 * format of GET /moecap/records), written atomically. */
static mc_err write_records(const bench *B, mc_diag *d)
{
    mc_buf b;
    mc_buf_init(&b, (size_t)1 << 30);
    mc_err err = MC_OK;
    for (int i = 0; i < B->a->nb && err == MC_OK; i++)
        for (size_t k = 0; k < B->trace[i].n && err == MC_OK; k++)
            err = mc_pass_format(&B->trace[i].v[k], &b, d);
    if (err == MC_OK)
        err = mc_write_file_atomic(B->a->records, b.data ? b.data : "", b.len, d);
    if (err != MC_OK)
        mc_diag_prefix(d, "--records %s", B->a->records);
    mc_buf_deinit(&b);
    return err;
}

int cmd_bench_engine(int argc, char **argv)
{
    bargs a;
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc;
    bench *B = mc_calloc(1, sizeof *B);
    if (!B)
        return mc_cli_fail(CMD, MC_ERR_NOMEM, NULL);
    B->a = &a;
    mc_diag d = {0};
    mc_err err = run(B, &d);
    if (B->e)
        er_xcache_note(stderr, CMD, B->e);
    if (err == MC_OK)
        rc = a.json ? report_json(B) : (report_text(B), 0);
    else
        rc = mc_cli_fail(CMD, err, &d);
    if (err == MC_OK && rc == 0 && a.records && (err = write_records(B, &d)) != MC_OK)
        rc = mc_cli_fail(CMD, err, &d); /* after the report: the figures are not lost */
    mc_engine_free(B->e);
    mc_free(B->rfreq);
    for (int i = 0; i < MAX_NB; i++) {
        mc_free(B->route[i]);
        er_passes_deinit(&B->trace[i]);
    }
    mc_free(B->prompt);
    mc_free(B->logits);
    mc_free(B);
    return rc;
}
