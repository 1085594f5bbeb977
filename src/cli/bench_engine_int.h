/* bench_engine_int.h: `moecap bench-engine`'s options, run state and figures, shared by
 * cmd_bench_engine.c (options, the run, the predictions) and bench_engine_out.c (text, JSON and
 * --records output). Private to src/cli. */
#ifndef MC_BENCH_ENGINE_INT_H
#define MC_BENCH_ENGINE_INT_H

#include "cli.h"
#include "engine_run.h"

#define CMD "bench-engine"
#define MAX_NB 8
#define MAX_REPS 100
#define MAX_BATCH 64

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

double be_mean_of(const double *v, int n);
/* The a priori slow tier: --slow-bw, else the hardware entry's probed one (0 = unknown). */
double be_slow_of(const bench *B);

/* ---- bench_engine_out.c ---- */
void be_report_text(const bench *B);
int be_report_json(const bench *B); /* exit code: 0, or mc_cli_fail's */
/* --records: the last repetition's decode passes of every batch size, one JSON line each (the
 * format of GET /moecap/records), written atomically. */
mc_err be_write_records(const bench *B, mc_diag *d);

#endif
