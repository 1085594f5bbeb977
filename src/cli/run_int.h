/* run_int.h: internals of `moecap run` shared by cmd_run.c and run_*.c (docs/RUN.md,
 * docs/RUNDIR.md). Not a public interface. */
#ifndef MC_RUN_INT_H
#define MC_RUN_INT_H

#include "base.h"
#include "run.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <sys/types.h>

#define RUN_CMD "run"
#define RUN_PATH 4096

/* ---- child processes (run_proc.c) ---- */

extern volatile sig_atomic_t run_interrupted; /* set by SIGINT / SIGTERM */
void run_install_signals(void);

/* Runs `moecap <argv...>` (argv NULL-terminated, argv[0] the subcommand) as a child of this same
 * binary, stdout to out_path (NULL: the log), stderr appended to log_path; waits at most
 * timeout_s (0 = no limit), ending the child (SIGTERM, then SIGKILL) on timeout or interrupt.
 * *status gets the exit code, or -1 when it was killed. Fails (with a message) only when the
 * child could not be started. */
mc_err run_child(const char *const *argv, const char *out_path, const char *log_path,
                 double timeout_s, int *status, mc_diag *d);

typedef struct run_server {
    pid_t pid; /* 0 = not running */
    int port;
    char url[64];
} run_server;

/* Starts `moecap serve <args> --port P` on a free loopback port, stdout+stderr to log_path,
 * and waits for GET /health (at most timeout_s). A child that exits early, or a port taken in
 * between (retried once), is an error whose message quotes the last line of the log. */
mc_err run_server_start(const char *const *args, const char *log_path, double timeout_s,
                        run_server *sv, mc_diag *d);
/* SIGTERM, wait up to grace_s, then SIGKILL; always reaps. No-op when not running. */
void run_server_stop(run_server *sv, double grace_s);
/* The last non-empty line of a log file into out ("" when unreadable). */
void run_last_line(const char *path, char *out, size_t cap);

/* ---- the run ---- */

typedef struct run_sys {
    mc_run_system *s;
    char dir[RUN_PATH];        /* RUN_DIR/systems/<name> */
    char gguf[RUN_PATH];       /* embedded: the model file; "" for url targets */
    char url[256];             /* the server's root URL (embedded: once started) */
    char cap_model[RUN_PATH];  /* description given to bench/predict ("" = none) */
    char label[256];
    int embedded;
    int64_t cache_mb;          /* resolved expert cache (-1 = all resident) */
    int failed;
    char error[600];           /* "step: message" of the first failure */
    run_server server;
} run_sys;

typedef struct run_ctx {
    mc_run_config *cfg;
    char dir[RUN_PATH];
    char hardware[128];        /* what --hardware gets ("" = none) */
    int fast;
    int resume;
    int demo;
    int64_t input_len, output_len, num_requests, warmup, seed;
    int64_t points[MC_RUN_MAX_POINTS];
    size_t n_points;
    int batch_mode;            /* points are batch sizes (perf-b<B>), not concurrencies */
    int64_t eval_limit, eval_max_tokens, fid_tokens;
    char fid_text[RUN_PATH];   /* fidelity --data when the data dir has no GSM8K ("" = none) */
    run_sys sys[MC_RUN_MAX_SYSTEMS];
    size_t n_sys;
    int partial;               /* a step failed or the run was interrupted */
    char created[32];
    double slow_Bps;           /* the slow tier measured by the run (probe-slow-tier.json) for
                                  predict --slow-bw; 0 = not measured */
} run_ctx;

/* Configuration -> run (run_conf.c): defaults, systems checked and made, the fidelity
 * reference; errors are MC_ERR_ARG with file:line. Then RUN_DIR/config.yaml as resolved. */
mc_err run_resolve(run_ctx *c, mc_diag *d);
mc_err run_write_config(run_ctx *c, mc_diag *d);

/* progress.jsonl: one line per step event (status started / done / failed / skipped). */
void run_progress(run_ctx *c, const char *step, const char *sys, const char *status,
                  double seconds, const char *msg);

/* Steps (run_steps.c). Each returns MC_OK when the run may go on (a failed step is recorded in
 * the system's status and progress.jsonl, not returned). */
void run_system_steps(run_ctx *c, run_sys *s);
/* Is `dir/summary.json` present, parseable and not partial? */
int run_step_complete(const char *dir);
/* path = a "/" b, failing when it does not fit. */
mc_err run_join(char *out, size_t cap, const char *a, const char *b, mc_diag *d);
/* Reads a JSON file (at most 256 MiB); NULL when absent or unparseable. */
cJSON *run_read_json(const char *path);

/* cap.json (run_cap.c) and the MoE-CAP reference's file set (run_ref.c). */
mc_err run_write_cap(run_ctx *c, mc_diag *d);
mc_err run_write_ref(run_ctx *c, run_sys *s, mc_diag *d);

/* The demo (run_demo.c): the models in the cache directory and the four systems. */
mc_err run_demo_config(run_ctx *c, mc_diag *d);
/* Deterministic plain text for fidelity when no data set is present. */
mc_err run_demo_text(const char *path, mc_diag *d);

/* The headline table of one or more cap.json documents (cmd_compare.c). */
void run_print_table(FILE *f, const cJSON *const *caps, const char *const *dirs, size_t n);

/* Figures: {"value": v|null, "unit": u, "definition": def[, "note": note]}. */
cJSON *run_fig(double v, const char *unit, const char *def, const char *note);

#endif
