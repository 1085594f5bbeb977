/* bench_engine_out.c: `moecap bench-engine`'s output: the text report, the --json document and
 * the --records file, from the figures cmd_bench_engine.c gathered (bench_engine_int.h). Only
 * formats: must not drive the engine or compute predictions. */
#include "bench_engine_int.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

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
    double m = measured_tpot(B, i), st = be_mean_of(B->dec[i][F_STALL], B->a->reps);
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
               k                  ? "calibrated (routing replayed, slow bw)"
               : !B->a->routing   ? "predicted (uniform routing)"
               : B->rrp_same_b[i] ? "predicted (--routing, its passes of this batch size)"
                                  : "predicted (--routing, all its passes)",
               p->hit_rate, 1e3 * p->tpot_s, 1e3 * p->fast_s, 1e3 * p->slow_s,
               (k ? B->cal_slow_Bps[i] : be_slow_of(B)) / 1e9, 1e3 * m, 100 * (p->tpot_s - m) / m);
        if (k)
            printf("%-22s   its parts vs measured: slow %.2f vs stalled %.2f ms (%+.1f %%), fast "
                   "%.2f vs the rest %.2f ms (%+.1f %%)\n",
                   "", 1e3 * p->slow_s, 1e3 * st, 100 * (p->slow_s - st) / st, 1e3 * p->fast_s,
                   1e3 * rest, 100 * (p->fast_s - rest) / rest);
    }
}

void be_report_text(const bench *B)
{
    const bargs *a = B->a;
    char what[64];
    printf("model %s: %s kernels, %d threads; hardware %s x%d: %.1f GB/s, %.4g GFLOP/s dense %s\n",
           a->eo.model, mc_engine_isa(B->e), mc_engine_threads(B->e), B->dep.hw.name, B->dep.count,
           B->pk.bw_Bps / 1e9, B->pk.flops / 1e9, mc_prec_name(B->pk.prec));
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
    static const char *names[F_TIME] = {
        "tok_per_s",      "smbu",          "smfu",          "experts_per_moe_layer",
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
                            cal             ? "this phase's records, replayed through the cache"
                            : B->a->routing ? B->a->routing
                                            : "uniform");
    cJSON_AddStringToObject(o, "hit_model", p->hit_model);
    if (!cal && B->a->routing)
        cJSON_AddBoolToObject(o, "routing_same_batch", B->rrp_same_b[i]);
    add_num(o, "slow_Bps", cal ? B->cal_slow_Bps[i] : be_slow_of(B));
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

int be_report_json(const bench *B)
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
    return mc_cli_print_json(CMD, j);
}

/* --records: the last repetition's decode passes of every batch size, one JSON line each (the
 * format of GET /moecap/records), written atomically. */
mc_err be_write_records(const bench *B, mc_diag *d)
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
