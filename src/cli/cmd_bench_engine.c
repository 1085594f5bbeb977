/* cmd_bench_engine.c: `moecap bench-engine`: benchmarks the embedded CPU engine on a GGUF model.
 * After a warm-up, each repetition prefills a p-token prompt of seeded random token ids and then,
 * for each batch size b, decodes n tokens with b sequences together (each first gets its own
 * p-token prompt, untimed). Figures come from the engine's own per-pass records (copied per step)
 * through mc_cap_summarise against a hardware entry (default `local`, the probe's): tokens/s,
 * S-MBU and S-MFU of prefill and decode, mean +- sd over repetitions; with an expert cache the
 * analytic model's predictions beside them. Parses options, runs and predicts; the output is
 * bench_engine_out.c's, engine driving engine_run.c's. Must not depend on the server or loadgen. */
#include "bench_engine_int.h"

#include <getopt.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void usage_bench_engine(FILE *f)
{
    fprintf(f,
            "usage: moecap bench-engine -m MODEL.gguf [-t THREADS] [-p 512] [-n 128] [-b 1,4,16]\n"
            "         [-r 5] [--hardware H] [--kernels ref|avx2|avxvnni|avx512] [--seed S] [--json]\n"
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
            "  --kernels ISA       ref, avx2, avxvnni or avx512 (default: best here)\n"
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

/* 1 when path names a file (not a directory) whose directory exists and is writable: checked
 * before the run, so a bad --records does not cost a benchmark's worth of time. */
static int records_writable(const char *path)
{
    char dir[4096];
    struct stat st;
    const char *slash = strrchr(path, '/');
    if (!*path || (slash && !slash[1]) || (stat(path, &st) == 0 && S_ISDIR(st.st_mode)))
        return 0;
    if (!slash)
        return access(".", W_OK) == 0;
    if ((size_t)(slash - path) >= sizeof dir)
        return 0;
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = 0;
    return access(slash == path ? "/" : dir, W_OK) == 0;
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
    if (a->records && !records_writable(a->records))
        return mc_cli_usage_error(CMD, "--records '%s': not a file in a writable directory",
                                  a->records);
    return er_xcache_check(&a->eo.xc, CMD);
}


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

double be_mean_of(const double *v, int n)
{
    double m = 0;
    for (int i = 0; i < n; i++)
        m += v[i] / n;
    return m;
}

/* The a priori slow tier: --slow-bw, else the hardware entry's probed one (0 = unknown). */
double be_slow_of(const bench *B)
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
        double bw = be_mean_of(B->dec[i][F_BW], a->reps);
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
    double slow = be_slow_of(B);
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
        er_engine_notes(stderr, CMD, B->e);
    if (err == MC_OK)
        rc = a.json ? be_report_json(B) : (be_report_text(B), 0);
    else
        rc = mc_cli_fail(CMD, err, &d);
    if (err == MC_OK && rc == 0 && a.records && (err = be_write_records(B, &d)) != MC_OK)
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
