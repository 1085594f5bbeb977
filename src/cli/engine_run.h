/* engine_run: what `moecap generate` and `moecap bench-engine` share on top of the engine:
 * opening an engine from command-line choices, chunked prefill, one decode step for many
 * sequences, and a growing list of copies of the engine's per-pass records (the engine overwrites
 * its record every step, src/engine/engine.h). */
#ifndef MC_CLI_ENGINE_RUN_H
#define MC_CLI_ENGINE_RUN_H

#include "base.h"
#include "cap.h"
#include "engine.h"

#include <stdint.h>

/* Copies of per-pass records, owned. */
typedef struct er_passes {
    mc_pass *v;
    size_t n, cap;
} er_passes;

void er_passes_deinit(er_passes *ps);
/* Appends a deep copy of the engine's last record (nothing when it keeps none). */
mc_err er_passes_take(er_passes *ps, const mc_engine *e, mc_diag *d);

typedef struct er_open {
    const char *model;
    int threads;        /* 0 = all CPUs */
    int64_t ctx;        /* 0 = engine default */
    int max_seqs;       /* KV slots */
    int64_t step_tokens;/* prefill chunk budget (max tokens per step) */
    const char *kernels;/* NULL = best */
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
