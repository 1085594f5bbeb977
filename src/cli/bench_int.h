/* bench_int.h: private to `moecap bench`:
 *   cmd_bench.c     the command: preparation, one measured run, the single-run output
 *   bench_args.c    options and their checks
 *   bench_out.c     per-request JSON Lines, statistics through src/cap, summary.json, the table
 *   bench_sweep.c   sweeps (one sub-run per value) and the max-rate search under SLOs
 *   bench_server.c  server-side data: recording protocol, per-pass records -> src/cap,
 *                   the analytic expert-activation estimate, Prometheus /metrics snapshots
 *   bench_server_out.c   how that data appears in summary.json ("server") and the table
 *   bench_tok.c     the local GGUF tokenizer as a prompt token counter */
#ifndef MC_CLI_BENCH_INT_H
#define MC_CLI_BENCH_INT_H

#include "cap.h"
#include "cli.h"
#include "loadgen.h"

#include <cjson/cJSON.h>
#include <signal.h>

#define BENCH_CMD "bench"

enum { TOK_OFF = 0, TOK_AUTO, TOK_REQUIRE, TOK_LOCAL }; /* --tokenize */
enum { TOKM_APPROX = 0, TOKM_SERVER, TOKM_LOCAL };      /* how prompts were counted */
enum { SWEEP_NONE = 0, SWEEP_CONCURRENCY, SWEEP_RATE, SWEEP_BATCH };
enum { REC_UNKNOWN = 0, REC_MOECAP, REC_VLLM, REC_NONE }; /* recording protocol */

#define BENCH_SWEEP_MAX 64
#define BENCH_FIND_MIN_REQUESTS 20 /* a p99 from fewer requests is its maximum */

typedef struct bench_args {
    const char *url, *model, *api_key, *dataset, *out_dir;
    mc_lg_endpoint endpoint;
    int stream;
    mc_lg_dataset_fmt fmt;
    uint32_t in_min, in_max, out_min, out_max;
    int have_in, have_out;
    uint32_t num_prompts;
    uint64_t seed;
    int tokenize;          /* TOK_* */
    const char *tokenizer; /* --tokenizer FILE.gguf */
    int ignore_eos;        /* -1: default (on for synthetic prompts, off for datasets) */
    double temperature;
    mc_lg_mode mode;
    uint32_t concurrency, batch;
    int have_concurrency;
    double rate, burstiness;
    uint64_t num_requests;
    double duration_s, ramp_s, timeout_s;
    uint32_t warmup;
    mc_cap_slo slo;
    int have_slo;
    uint64_t max_text, max_event, max_itl;
    int save_text, json;
    /* server-side data */
    int server_data; /* 1: auto (default), 0: off */
    const char *cap_model, *hardware;
    uint64_t max_records; /* bytes of records fetched per run */
    /* several runs */
    int sweep; /* SWEEP_* */
    double sweep_v[BENCH_SWEEP_MAX];
    size_t n_sweep;
    int find;              /* --find max-rate */
    double find_precision; /* relative width of the final bracket */
    uint32_t find_max_probes;
} bench_args;

/* The analytic expert-activation estimate (docs/LOADGEN.md "server-side data"): expected
 * distinct experts per MoE layer under uniform routing, for the decode batches the client saw
 * (requests streaming at the same time) and for each request's prefill. */
typedef struct bench_est {
    double decode_act;   /* time-weighted mean over the time >= 1 request was decoding */
    double decode_batch; /* time-weighted mean decode batch over that time */
    double decode_time_s;
    double prefill_act; /* mean over successful requests */
    int64_t prefills;
} bench_est;

/* Server-side data of one run. */
typedef struct bench_srv_run {
    int recording;  /* recording was started for this run */
    int fetched;    /* records were fetched and saved */
    char note[640]; /* what went wrong with recording in this run; "" = nothing */
    mc_pass_set set;
    size_t rec_bytes;
    int64_t dropped; /* -1 = the server did not say */
    int have_cap;
    mc_cap_summary cap;
    char cap_err[640];
    int have_est;
    bench_est est;
    mc_buf prom_before, prom_after;
    int have_before, have_after;
    int settled_before, settled_after; /* the counters had stopped moving (bench_server.c) */
    char warn[640];                    /* records and options disagree (e.g. device count) */
} bench_srv_run;

/* Server-side state kept across the runs of one command. */
typedef struct bench_srv {
    mc_lg_http *http; /* NULL with --server-data off */
    int rec;          /* REC_*: learnt at the first measured window */
    char rec_note[640];
    int prom;         /* 0 unknown, 1 the server has /metrics, -1 it has not */
    mc_model *m;      /* model description, or NULL */
    char m_from[600]; /* where it came from, or why there is none */
    int have_hw;
    mc_hw_deploy dep;
    mc_cap_peak pk;
} bench_srv;

/* Everything one measured run collects; reset before each (sub-)run. Measured requests become
 * src/cap timings (times in s from origin), with pooled ITL gaps, schedule lags, failure counts. */
typedef struct bench_run {
    char dir[4096];
    mc_ns origin; /* time origin of every number written */
    int req_fd;   /* requests.jsonl, append-only, one write() per line */
    mc_err write_err;
    mc_diag write_diag;
    mc_req_timing *t; /* measured (non warm-up, non cancelled) requests */
    size_t nt, cap_t;
    double *itl, *lag;
    size_t n_itl, cap_itl, n_lag, cap_lag;
    uint64_t itl_total;
    uint64_t fails[MC_LG_FAIL_COUNT_];
    uint64_t done, warm_done, cancelled;
    uint64_t usage_out, chunk_out, no_usage, usage_in;
    int64_t out_discrepancy; /* sum over requests with usage of usage - chunks */
    int64_t in_discrepancy;  /* sum over requests with usage of usage - the workload's count */
    uint64_t in_mismatch;    /* requests where they differ */
    mc_lg_run_info info;
    double cpu_s;
    mc_ns progress_ns;
    int stopped;
    bench_srv_run srv;
} bench_run;

typedef struct bench_state {
    bench_args a;    /* the current run's arguments (a sub-run changes the load fields) */
    bench_args base; /* as given */
    char *url;       /* endpoint URL */
    char *model;     /* served model id */
    char top_dir[4096];
    mc_lg_workload w;
    int tok_method; /* TOKM_* */
    mc_lg_client *client;
    double *stamps_s; /* scratch: one request's chunk stamps in s */
    mc_buf line;
    int tty;
    const char *label; /* sub-run in progress lines ("" for a single run) */
    bench_srv srv;
    bench_run r;
} bench_state;

typedef struct bench_stats {
    mc_cap_stats ttft, tpot, itl, e2e, lag;
    mc_cap_throughput tp;
    mc_cap_goodput gp;
    int have_tp;
} bench_stats;

/* One sub-run of a sweep or one probe of a search. */
typedef struct bench_row {
    double value; /* the swept value or the probed rate */
    char dir[160];
    uint64_t sent, ok, failed;
    int have_tp;
    mc_cap_throughput tp;
    mc_cap_stats ttft, tpot, itl, e2e;
    int have_gp;
    mc_cap_goodput gp;
    double smbu, smfu, act; /* NaN when unknown */
    int act_estimate;
    int self_ok, partial;
    int pass; /* search: the probe met the objectives */
    char reason[200];
} bench_row;

/* bench_args.c */
void bench_usage(FILE *f);
int bench_parse_args(int argc, char **argv, bench_args *a); /* 0 or an exit code */
int bench_check_args(bench_args *a);
const char *bench_sweep_name(int sweep); /* "concurrency", "rate", "batch" */

/* cmd_bench.c */
extern volatile sig_atomic_t bench_stop_flag;
/* One measured run (warm-up, measured phase, server-side data) into directory dir; fills st and
 * writes dir/summary.json. */
mc_err bench_run_one(bench_state *s, const char *dir, bench_stats *st, mc_diag *d);
uint32_t bench_slots(const bench_args *a);

/* bench_out.c */
void bench_on_result(const mc_lg_result *r, void *ctx);
void bench_run_reset(bench_run *r); /* frees and zeroes; the file must be closed */
mc_err bench_compute(bench_state *s, bench_stats *st, mc_diag *d);
cJSON *bench_summary_json(const bench_state *s, const bench_stats *st);
void bench_print_table(const bench_state *s, const bench_stats *st);
const char *bench_mode_name(mc_lg_mode m);
int bench_self_ok(const bench_state *s, const bench_stats *st);
mc_err bench_write_json(const char *path, const cJSON *j, int to_stdout, mc_diag *d);
void bench_json_num(cJSON *o, const char *key, double v); /* null when not finite */
cJSON *bench_json_stats(const mc_cap_stats *x);

/* bench_sweep.c */
int bench_sweep(bench_state *s, mc_diag *d, mc_err *e); /* exit code */
int bench_find(bench_state *s, mc_diag *d, mc_err *e);  /* exit code */
/* Sets the swept parameter (and the load model it implies) of a to v. */
void bench_apply_value(bench_args *a, double v);
void bench_row_of(const bench_state *s, const bench_stats *st, double value, bench_row *row);
/* Does a probe meet the objectives? p99 of each given objective, failures <= 1%, and the
 * client kept its schedule. reason says why not (or "meets the SLOs"). */
int bench_probe_verdict(const bench_row *row, const mc_cap_slo *slo, char *reason, size_t n);

/* The max-rate search as a state machine (docs/LOADGEN.md "finding the maximum rate"): double
 * from the start rate until a probe fails (halve until one passes when the first fails), then
 * bisect until (hi - lo) / lo <= precision or max_probes probes were made. */
typedef struct bench_search {
    double start, precision, floor_rate, ceil_rate;
    uint32_t max_probes, probes;
    double lo, hi; /* highest passing, lowest failing rate; 0 = none yet */
    int done, converged;
    char why[200]; /* how the search ended */
} bench_search;
void bench_search_init(bench_search *s, double start, double precision, uint32_t max_probes);
double bench_search_next(bench_search *s); /* next rate to probe; 0 when done */
void bench_search_report(bench_search *s, double rate, int pass);

/* bench_server.c */
mc_err bench_srv_prepare(bench_state *s, mc_diag *d); /* model description, hardware, http */
void bench_srv_deinit(bench_srv *v);
void bench_srv_run_deinit(bench_srv_run *r);
void bench_srv_window_start(void *state); /* mc_lg_run_opts.on_measure */
void bench_srv_window_end(bench_state *s);
void bench_srv_compute(bench_state *s); /* S-MBU/S-MFU from records, or the estimate */
void bench_srv_json(const bench_state *s, cJSON *root);
void bench_srv_print(const bench_state *s);
mc_err bench_estimate_act(const mc_model *m, const mc_req_timing *t, size_t n, bench_est *out,
                          mc_diag *d);
/* The per-pass records of a vLLM-style dump ({"records": [...]}) as JSON Lines appended to out. */
mc_err bench_dump_to_jsonl(const char *json, size_t len, mc_buf *out, int64_t *dropped, mc_diag *d);

/* bench_tok.c */
typedef struct bench_ltok bench_ltok;
mc_err bench_ltok_open(const char *path, bench_ltok **out, mc_diag *d);
void bench_ltok_free(bench_ltok *t);
/* An mc_lg_count_fn: tokens the model sees for text (BOS/EOS as the vocabulary adds them). */
mc_err bench_ltok_count(void *ltok, const char *text, size_t len, int64_t *n_tokens, mc_diag *d);
const char *bench_ltok_kind(const bench_ltok *t); /* "llama" | "gpt2" */

#endif
