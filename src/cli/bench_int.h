/* bench_int.h: private to `moecap bench` (cmd_bench.c: options, wiring, run; bench_out.c:
 * per-request JSON Lines, statistics through src/cap, summary.json and the table). */
#ifndef MC_CLI_BENCH_INT_H
#define MC_CLI_BENCH_INT_H

#include "cap.h"
#include "cli.h"
#include "loadgen.h"

#include <cjson/cJSON.h>

enum { TOK_OFF = 0, TOK_AUTO, TOK_REQUIRE };

typedef struct bench_args {
    const char *url, *model, *api_key, *dataset, *out_dir;
    mc_lg_endpoint endpoint;
    int stream;
    mc_lg_dataset_fmt fmt;
    uint32_t in_min, in_max, out_min, out_max;
    int have_in, have_out;
    uint32_t num_prompts;
    uint64_t seed;
    int tokenize;   /* TOK_* */
    int ignore_eos; /* -1: default (on for synthetic prompts, off for datasets) */
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
} bench_args;

/* Everything a run collects: the measured requests as src/cap timings (times in s from origin),
 * pooled ITL gaps, schedule lags, failure counts. */
typedef struct bench_state {
    bench_args a;
    char *url;   /* endpoint URL */
    char *model; /* served model id */
    char out_dir[4096];
    mc_lg_workload w;
    int input_exact; /* every prompt length counted by the server */
    mc_lg_client *client;
    mc_ns origin; /* time origin of every number written */
    int req_fd;   /* requests.jsonl, append-only, one write() per line */
    mc_buf line;
    mc_err write_err;
    mc_diag write_diag;
    mc_req_timing *t; /* measured (non warm-up, non cancelled) requests */
    size_t nt, cap_t;
    double *itl, *lag, *stamps_s;
    size_t n_itl, cap_itl, n_lag, cap_lag;
    uint64_t itl_total;
    uint64_t fails[MC_LG_FAIL_COUNT_];
    uint64_t done, warm_done, cancelled;
    uint64_t usage_out, chunk_out, no_usage, usage_in;
    int64_t out_discrepancy; /* sum over requests with usage of usage - chunks */
    mc_lg_run_info info;
    double cpu_s;
    mc_ns progress_ns;
    int tty;
    int stopped;
} bench_state;

typedef struct bench_stats {
    mc_cap_stats ttft, tpot, itl, e2e, lag;
    mc_cap_throughput tp;
    mc_cap_goodput gp;
    int have_tp;
} bench_stats;

/* bench_out.c */
void bench_on_result(const mc_lg_result *r, void *ctx);
mc_err bench_compute(bench_state *s, bench_stats *st, mc_diag *d);
cJSON *bench_summary_json(const bench_state *s, const bench_stats *st);
void bench_print_table(const bench_state *s, const bench_stats *st);
const char *bench_mode_name(mc_lg_mode m);
int bench_self_ok(const bench_state *s, const bench_stats *st);

#endif
