/* engine_run.c: engine driving shared by `moecap generate` and `moecap bench-engine` (open from
 * CLI choices, chunked prefill, batched decode steps, copies of per-pass records). Depends on the
 * engine and the cap records only; prints nothing. */
#include "engine_run.h"

#include <math.h>
#include <string.h>

void er_passes_deinit(er_passes *ps)
{
    for (size_t i = 0; i < ps->n; i++)
        mc_pass_deinit(&ps->v[i]);
    mc_free(ps->v);
    memset(ps, 0, sizeof *ps);
}

static void *dup_array(const void *src, size_t n, size_t size, int *bad)
{
    if (!src || n == 0)
        return NULL;
    void *p = mc_mallocarray(n, size);
    if (!p)
        *bad = 1;
    else
        memcpy(p, src, n * size);
    return p;
}

static mc_err pass_copy(mc_pass *dst, const mc_pass *src, mc_diag *d)
{
    int bad = 0;
    *dst = *src;
    dst->experts_per_layer = dup_array(src->experts_per_layer, (size_t)src->n_layer_experts,
                                       sizeof(double), &bad);
    dst->tokens_per_expert = dup_array(src->tokens_per_expert,
                                       (size_t)(src->tpe_rows * src->tpe_cols), sizeof(int64_t),
                                       &bad);
    dst->chunks = dup_array(src->chunks, (size_t)src->n_chunks, sizeof(mc_req_chunk), &bad);
    if (bad) {
        mc_pass_deinit(dst);
        return mc_fail(d, MC_ERR_NOMEM, "out of memory copying a pass record");
    }
    return MC_OK;
}

mc_err er_passes_take(er_passes *ps, const mc_engine *e, mc_diag *d)
{
    const mc_pass *p = mc_engine_last_pass(e);
    if (!p)
        return MC_OK;
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? 2 * ps->cap : 64;
        mc_pass *v = mc_realloc(ps->v, cap * sizeof *v);
        if (!v)
            return mc_fail(d, MC_ERR_NOMEM, "out of memory growing the pass records");
        ps->v = v;
        ps->cap = cap;
    }
    mc_err err = pass_copy(&ps->v[ps->n], p, d);
    if (err == MC_OK)
        ps->n++;
    return err;
}

mc_err er_engine_open(const er_open *o, mc_engine **out, mc_diag *d)
{
    mc_engine_opts eo;
    mc_engine_opts_default(&eo);
    eo.model_path = o->model;
    eo.n_threads = o->threads;
    eo.n_ctx = o->ctx;
    eo.max_seqs = o->max_seqs;
    eo.max_step_tokens = o->step_tokens;
    eo.kernels = o->kernels;
    return mc_engine_open(&eo, out, d);
}

mc_err er_prefill(mc_engine *e, int seq, const int32_t *toks, int64_t n, int64_t chunk,
                  float *logits, er_passes *ps, double *time_s, mc_diag *d)
{
    mc_err err = MC_OK;
    for (int64_t at = 0; at < n && err == MC_OK; at += chunk) {
        int64_t k = n - at < chunk ? n - at : chunk;
        mc_batch_item it = {.seq = seq,
                            .tokens = toks + at,
                            .n_tokens = k,
                            .logits = at + k == n ? MC_LOGITS_LAST : MC_LOGITS_NONE,
                            .logits_out = at + k == n ? logits : NULL,
                            .more_chunks = at + k < n};
        mc_ns t0 = mc_now_ns();
        err = mc_engine_step(e, &it, 1, d);
        if (time_s)
            *time_s += mc_ns_to_s(mc_now_ns() - t0);
        if (err == MC_OK && ps)
            err = er_passes_take(ps, e, d);
    }
    return err;
}

mc_err er_decode_step(mc_engine *e, const int32_t *cur, int b, float *logits, er_passes *ps,
                      double *time_s, mc_diag *d)
{
    mc_batch_item it[64];
    if (b < 1 || b > 64)
        return mc_fail(d, MC_ERR_ARG, "batch of %d sequences: must be 1..64", b);
    int64_t V = mc_engine_vocab(e);
    for (int s = 0; s < b; s++)
        it[s] = (mc_batch_item){.seq = s,
                                .tokens = &cur[s],
                                .n_tokens = 1,
                                .logits = MC_LOGITS_LAST,
                                .logits_out = logits + (int64_t)s * V};
    mc_ns t0 = mc_now_ns();
    mc_err err = mc_engine_step(e, it, b, d);
    if (time_s)
        *time_s += mc_ns_to_s(mc_now_ns() - t0);
    if (err == MC_OK && ps)
        err = er_passes_take(ps, e, d);
    return err;
}

double er_mean_experts(const mc_pass *p, size_t n, int decode_only)
{
    double sum = 0;
    int64_t cnt = 0;
    for (size_t i = 0; i < n; i++) {
        if (decode_only && p[i].mode != MC_PASS_DECODE)
            continue;
        for (int64_t l = 0; l < p[i].n_layer_experts; l++, cnt++)
            sum += p[i].experts_per_layer[l];
    }
    return cnt ? sum / (double)cnt : NAN;
}
