/* run: the configuration of `moecap run` (docs/RUN.md), loaded from YAML with libyaml.
 *
 * A pure loader: YAML text (or a file) -> mc_run_config. It accepts the MoE-CAP reference's
 * keys (model_id, precision, dataset_names, ..., api_url, server_batch_size, output_dir) and
 * moecap's sections (systems, hardware, workload, eval, cost). Errors name the file, the line
 * and the key ("config.yaml:12: batch_sizes: not a list of integers"); unknown keys are not
 * errors but warnings, kept in cfg->warnings for the caller to print.
 *
 * Ownership: an mc_run_config and every string in it are owned by it; mc_run_config_free(NULL)
 * is a no-op. Unset numbers are -1 (integers), NAN (reals) or -1 (booleans). Nothing here does
 * I/O beyond reading the file, and nothing depends on another moecap module except base.
 * Thread safety: reentrant. */
#ifndef MC_RUN_H
#define MC_RUN_H

#include "base.h"

#include <stddef.h>
#include <stdint.h>

#define MC_RUN_MAX_SYSTEMS 32
#define MC_RUN_MAX_POINTS 32 /* concurrency values or batch sizes */
#define MC_RUN_MAX_LIST 32   /* tasks, dataset names, metrics */
#define MC_RUN_NAME_MAX 48   /* a system name: [a-z0-9._-]+ */

typedef struct mc_run_system {
    char name[MC_RUN_NAME_MAX];
    char *label;               /* one-line description; NULL = made up by the runner */
    char *model;               /* GGUF path, "make-model:<options>" or the served model id */
    char *url;                 /* non-NULL: a server that is already running (kind url) */
    char *cap_model;           /* url targets: model description for S-MBU (catalogue, .gguf) */
    char *weights_type;        /* f16, q8_0, ... (informational for url targets) */
    int64_t expert_cache_mb;   /* -1 = all experts resident */
    double expert_cache_frac;  /* expert_cache: "25%" -> 0.25; NAN = not given */
    char *expert_cache_policy; /* NULL = the server's default */
    int prefetch;              /* -1 unset, 0/1 */
    int64_t threads;           /* -1 = the server's default */
    int64_t parallel;          /* KV slots of the server; -1 = the largest concurrency */
    int line;                  /* where it was configured (0 = made by the program) */
} mc_run_system;

typedef struct mc_run_config {
    char *path; /* the file name used in messages ("<string>" when parsed from memory) */

    /* the MoE-CAP reference's keys (reference section 6.1 / 6.2) */
    char *model_id;
    char *precision;
    char *dataset_names[MC_RUN_MAX_LIST];
    size_t n_dataset_names;
    char *metrics[MC_RUN_MAX_LIST];
    size_t n_metrics;
    char *dataset_subset;     /* gsm8k: "main"; mmlu-pro: a category (docs/RUN.md) */
    char *dataset_split;      /* only "test" is shipped */
    int dataset_subset_line;  /* where each was given (0 = not given) */
    int dataset_split_line;
    int fixed_length_mode;
    int64_t target_input_tokens;
    int64_t target_output_tokens;
    int64_t num_samples;
    int profiling_only;
    char *api_url;
    int64_t server_batch_size;
    char *output_dir;

    /* moecap's */
    mc_run_system systems[MC_RUN_MAX_SYSTEMS];
    size_t n_systems;
    char *hardware; /* catalogue name (H or HxN) or "local" */
    struct mc_run_workload {
        int64_t input_len, output_len, num_requests, warmup;
        int64_t concurrency[MC_RUN_MAX_POINTS];
        size_t n_concurrency;
        int64_t batch_sizes[MC_RUN_MAX_POINTS];
        size_t n_batch_sizes;
        int64_t seed;
    } workload;
    struct mc_run_eval {
        char *tasks[MC_RUN_MAX_LIST];
        size_t n_tasks;
        int64_t limit;
        int64_t max_tokens;
        char *fidelity_reference; /* a system name */
        int64_t fidelity_tokens;
    } eval;
    struct mc_run_cost {
        double device_price_usd, device_power_w, host_price_usd, host_power_w;
        double pue, usd_per_kwh, lifetime_years, utilisation, cloud_usd_per_device_hour;
        double dram_usd_per_gb, ssd_usd_per_gb; /* memory tiers, $ per GB */
    } cost;

    char **warnings; /* "file:line: unknown key 'x' (ignored)" */
    size_t n_warnings;
} mc_run_config;

/* A config with nothing set (every field unset as described above). NULL on OOM. */
mc_run_config *mc_run_config_new(void);
void mc_run_config_free(mc_run_config *c);

/* Parses YAML text (len bytes; need not be NUL-terminated). `where` names it in messages.
 * Errors: MC_ERR_FORMAT (bad YAML, wrong type, bad value; "where:line: key: problem"),
 * MC_ERR_NOMEM. Empty text is an empty config. On error *out is NULL. */
mc_err mc_run_config_parse(const char *yaml, size_t len, const char *where, mc_run_config **out,
                           mc_diag *d);
/* Reads and parses a file (at most 1 MiB). */
mc_err mc_run_config_load(const char *path, mc_run_config **out, mc_diag *d);

/* Checks a system name: 1..MC_RUN_NAME_MAX-1 characters of [a-z0-9._-], not "." or "..". */
int mc_run_name_ok(const char *name);

/* Adds a system made by the program (demo, reference keys); copies the strings. Returns the new
 * entry or NULL (full or OOM). */
mc_run_system *mc_run_config_add_system(mc_run_config *c, const char *name, const char *model);

#endif
