/* engine_run: what `moecap generate` and `moecap bench-engine` share on top of the engine:
 * opening an engine from command-line choices, chunked prefill, one decode step for many
 * sequences, and a growing list of copies of the engine's per-pass records (the engine overwrites
 * its record every step, src/engine/engine.h). The expert-cache options (--expert-cache-mb ...)
 * are parsed here for generate, bench-engine and serve alike. */
#ifndef MC_CLI_ENGINE_RUN_H
#define MC_CLI_ENGINE_RUN_H

#include "base.h"
#include "cap.h"
#include "engine.h"

#include <stdint.h>
#include <stdio.h>

/* Copies of per-pass records, owned. */
typedef struct er_passes {
    mc_pass *v;
    size_t n, cap;
} er_passes;

void er_passes_deinit(er_passes *ps);
/* Appends a deep copy of the engine's last record (nothing when it keeps none). */
mc_err er_passes_take(er_passes *ps, const mc_engine *e, mc_diag *d);

/* ---- expert offloading options (docs/ENGINE.md, "Expert offloading") ---- */
typedef struct er_xcache {
    int64_t cache_bytes; /* 0 = off */
    double cache_mb;     /* as given */
    int policy;          /* MC_XCACHE_* */
    const char *profile;
    int prefetch, no_direct, policy_set;
} er_xcache;

enum { ER_O_XC_MB = 0x7100, ER_O_XC_POLICY, ER_O_XC_PROFILE, ER_O_XC_PREFETCH, ER_O_XC_NODIRECT };

/* getopt_long entries of the five options; put them in the command's option table. */
#define ER_XCACHE_LONGOPTS                                                                         \
    {"expert-cache-mb", required_argument, NULL, ER_O_XC_MB},                                      \
        {"expert-cache-policy", required_argument, NULL, ER_O_XC_POLICY},                          \
        {"expert-profile", required_argument, NULL, ER_O_XC_PROFILE},                              \
        {"prefetch", no_argument, NULL, ER_O_XC_PREFETCH},                                         \
        {"no-direct", no_argument, NULL, ER_O_XC_NODIRECT}

#define ER_XCACHE_USAGE                                                                            \
    "  --expert-cache-mb N     keep the routed experts in a cache of N MiB (decimals ok) and\n"    \
    "                          read misses from the GGUF file with O_DIRECT (default: all\n"       \
    "                          experts resident)\n"                                                \
    "  --expert-cache-policy P lru (default), lfu, or static: pin the hottest experts of\n"        \
    "                          --expert-profile\n"                                                 \
    "  --expert-profile FILE   per-pass records (JSONL) with tokens_per_expert, for static\n"      \
    "  --prefetch              read the next MoE layer's predicted experts ahead\n"                \
    "  --no-direct             buffered reads instead of O_DIRECT (fadvise DONTNEED after each)\n"

/* Parses option c (value arg) when it is one of the five: 0 = parsed, 2 = usage error printed
 * (for cmd), -1 = not an expert-cache option. */
int er_xcache_opt(er_xcache *x, int c, const char *arg, const char *cmd);
/* Checks the options together (after parsing): 0 or 2 (usage error printed). */
int er_xcache_check(const er_xcache *x, const char *cmd);
void er_xcache_apply(const er_xcache *x, mc_engine_opts *o);
/* Notes on f about where the engine put its data: a line when the expert cache runs without
 * O_DIRECT (what it uses instead), a line when the weights run from the file mapping. */
void er_engine_notes(FILE *f, const char *cmd, const mc_engine *e);
/* The cache's totals since open as one line on f (nothing without a cache). */
void er_xcache_report(FILE *f, const mc_engine *e);
/* The same as a JSON object (cJSON *, caller-owned), NULL without a cache. */
struct cJSON *er_xcache_json(const mc_engine *e);

/* The analytic expert-cache prediction of one decode phase (bench_engine_pred.c): batch B at a
 * mean sequence length context_tok, the engine's own cache (slots, policy), fast tier
 * fast_Bps x eff, slow tier slow_Bps, routing freq (experts.route_freq, borrowed) or uniform
 * routing when freq is NULL, no overlap. */
typedef struct er_pred_in {
    int64_t batch;
    double context_tok, fast_Bps, slow_Bps, eff;
    int policy; /* MC_XCACHE_* */
    const double *freq;
    size_t freq_rows, freq_cols;
    const mc_cache_replay *replay; /* per-layer hit rates from a replayed trace, or NULL */
} er_pred_in;
mc_err er_predict_cache(const mc_engine *e, const er_pred_in *in, mc_predict_cache_out *out,
                        mc_diag *d);
/* The records p[0..n) replayed through a cache of the engine's slots under policy
 * (MC_XCACHE_*): mc_cache_replay_of with the cache bytes er_predict_cache gives the model. */
mc_err er_replay(const mc_engine *e, int policy, const mc_pass *p, size_t n, mc_cache_replay *out,
                 mc_diag *d);

typedef struct er_open {
    const char *model;
    int threads;        /* 0 = all CPUs */
    int64_t ctx;        /* 0 = engine default */
    int max_seqs;       /* KV slots */
    int64_t step_tokens;/* prefill chunk budget (max tokens per step) */
    const char *kernels;/* NULL = best */
    er_xcache xc;       /* expert cache */
    int trace_tokens;   /* records carry tokens_per_expert */
} er_open;

mc_err er_engine_open(const er_open *o, mc_engine **out, mc_diag *d);

/* Appends toks[0..n) to sequence seq in chunks of at most `chunk` tokens, one step each, asking
 * for the last token's logits (vocab floats into logits). Each step's record goes to ps (may be
 * NULL); *time_s (may be NULL) gets the summed step wall time. */
mc_err er_prefill(mc_engine *e, int seq, const int32_t *toks, int64_t n, int64_t chunk,
                  float *logits, er_passes *ps, double *time_s, mc_diag *d);

/* One decode step: sequence s (0..b-1) appends cur[s]; logits of s go to logits + s * vocab. */
mc_err er_decode_step(mc_engine *e, const int32_t *cur, int b, float *logits, er_passes *ps,
                      double *time_s, mc_diag *d);

/* Mean of the distinct experts per MoE layer over the records' experts_per_layer (decode passes
 * only when decode_only); NaN when nothing was recorded. */
double er_mean_experts(const mc_pass *p, size_t n, int decode_only);

#endif
