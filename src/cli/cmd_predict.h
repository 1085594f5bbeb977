/* cmd_predict.h: internal to `moecap predict` (cmd_predict.c: options, batch rows, max-batch
 * search; cmd_predict_out.c: their text and JSON; cmd_predict_fit.c: the two --fit listings).
 * Not a public interface. */
#ifndef MC_CMD_PREDICT_H
#define MC_CMD_PREDICT_H

#include "cap.h"

#include <cjson/cJSON.h>

#define PREDICT_CMD "predict"
#define PREDICT_SWEEP_MAX 64
#define PREDICT_DEFS "docs/METRICS.md section 11 (predict.*)"

typedef struct predict_args {
    const char *model, *hardware;
    int has_prec, has_kv;
    mc_dtype prec, kv;
    int has_batch;
    int64_t batch, input_len, output_len;
    int has_eff;
    double eff_mem, eff_compute;
    int n_sweep;
    int64_t sweep[PREDICT_SWEEP_MAX];
    double tpot_slo_s; /* 0 = none */
    int find_max, fit, json;
    int has_price;
    double price_usd;
    double cloud_usd_per_h;                  /* per device-hour; 0 = none */
    double measured_tpot_s, measured_ttft_s; /* 0 = not given */
    /* expert cache (predict.tpot_offload) */
    double expert_cache_mb;                  /* MiB; 0 = none */
    double slow_Bps;                         /* --slow-bw; 0 = probe / host link */
    const char *routing;                     /* records file with tokens_per_expert */
    mc_cache_policy policy;
    double prefetch_overlap;
    int has_cache_opt;                       /* any of the above given */
} predict_args;

/* Loads a model (catalogue name, config.json or .gguf), applies --kv-precision and either
 * weights `prec` (set_prec = 1) or the model's native storage, and finalizes it. */
mc_err predict_load_model(const char *what, const predict_args *a, int set_prec, mc_dtype prec,
                          mc_model **out, mc_diag *d);
/* mc_predict_opts from the arguments: workload, efficiency, prices. */
void predict_make_opts(const predict_args *a, const mc_hw_deploy *dep, mc_predict_opts *o);

/* JSON: o[key] = {"value": v (null when not finite), "unit": unit, "definition": def}. */
void predict_fig(cJSON *o, const char *key, double v, const char *unit, const char *def);
/* Text cell: v with `decimals` decimals, "-" when not finite. */
void predict_cell(char *buf, size_t n, double v, int decimals);
/* A one-line description of the weights' storage ("bf16", or "fp8 (embeddings bf16)"). */
void predict_storage_label(const mc_model *m, char *buf, size_t n);

/* JSON of one prediction (every figure with unit and definition); slo > 0 adds
 * meets_tpot_slo. The document head: command, definitions, model (m may be NULL), hardware
 * (dep may be NULL; p adds its peak), workload. */
cJSON *predict_json_point(const mc_predict *p, double slo);
cJSON *predict_json_head(const predict_args *a, const mc_model *m, const mc_hw_deploy *dep,
                         const mc_predict *p);

/* The run of the batch rows (cmd_predict.c computes it, cmd_predict_out.c prints it). */
typedef struct predict_run {
    predict_args a;
    mc_model *m;
    mc_hw_deploy dep;
    mc_predict_opts o;
    int calibrated;
    mc_predict_eff eff;
    mc_predict *rows;
    int n_rows;
    int64_t fit_batch, max_batch; /* --find max-batch */
    double *route;                /* --routing: frequencies (heap), route_rows x route_cols */
    size_t route_rows, route_cols;
} predict_run;

void predict_print_text(const predict_run *r);
int predict_print_run(const predict_run *r); /* --json: one document; returns the exit code */

int predict_fit_devices(const predict_args *a); /* --fit --model M --tpot-slo S */
int predict_fit_models(const predict_args *a);  /* --fit --hardware H[xN] --tpot-slo S */

#endif
