/* eval_int.h: private to `moecap eval` (cmd_eval.c: options, data, wiring, run; eval_out.c:
 * items.jsonl, summary.json and the table; cmd_eval_fid.c: `moecap eval fidelity`). */
#ifndef MC_CLI_EVAL_INT_H
#define MC_CLI_EVAL_INT_H

#include "cli.h"
#include "data.h"
#include "eval.h"

#include <cjson/cJSON.h>

#define EVAL_MAX_DATA 64

typedef struct eval_args {
    const char *url, *model, *api_key, *out_dir, *fewshot_data, *system;
    const char *data[EVAL_MAX_DATA];
    size_t n_data;
    mc_ev_task task;
    int have_task;
    mc_ds_fmt fmt;
    mc_ds_fields fields;
    mc_ev_method method;
    int have_method;
    mc_ev_metric metric;
    mc_ev_style style;
    mc_lg_endpoint endpoint;
    uint64_t limit, sample, seed;
    const char *category; /* --category: only items of this category (NULL = all) */
    int strict, stream, json, with_prompt;
    uint32_t fewshot, max_tokens, concurrency;
    double temperature, top_p, timeout_s;
    int64_t sampling_seed;
    int ll_max_tokens;
} eval_args;

typedef struct eval_file {
    char *path;
    uint64_t bytes;
    char sha256[65];
} eval_file;

typedef struct eval_state {
    eval_args a;
    char out_dir[4096];
    char **paths; /* expanded --data */
    size_t n_paths;
    eval_file *files; /* data files, then the few-shot file */
    size_t n_files;
    char *fewshot_path; /* resolved few-shot file, NULL when none */
    mc_ds *ds, *shots;
    char *model;
    mc_ev *ev;
    int items_fd;
    mc_err write_err;
    mc_diag write_diag;
    char date[32];
    int stopped;
} eval_state;

/* eval_out.c */
void eval_on_item(const mc_ev_result *r, void *ctx);
mc_err eval_write_summary(eval_state *s, mc_diag *d);
void eval_print_warnings(const eval_state *s);

/* cmd_eval_fid.c */
int cmd_eval_fidelity(int argc, char **argv);
void usage_eval_fidelity(FILE *f);

#endif
