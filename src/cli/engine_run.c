/* engine_run.c: engine driving shared by `moecap generate` and `moecap bench-engine` (open from
 * CLI choices, chunked prefill, batched decode steps, copies of per-pass records), and the
 * expert-cache options of generate, bench-engine and serve. Depends on the engine and the cap
 * records only; prints only the usage errors and the note it is asked for. */
#include "engine_run.h"
#include "cli.h"

#include <cjson/cJSON.h>
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
    dst->experts_per_layer =
        dup_array(src->experts_per_layer, (size_t)src->n_layer_experts, sizeof(double), &bad);
    dst->tokens_per_expert = dup_array(
        src->tokens_per_expert, (size_t)(src->tpe_rows * src->tpe_cols), sizeof(int64_t), &bad);
    dst->chunks = dup_array(src->chunks, (size_t)src->n_chunks, sizeof(mc_req_chunk), &bad);
    dst->cache_hits =
        dup_array(src->cache_hits, (size_t)src->n_cache_layers, sizeof(int64_t), &bad);
    dst->cache_misses =
        dup_array(src->cache_misses, (size_t)src->n_cache_layers, sizeof(int64_t), &bad);
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
    eo.trace_tokens = o->trace_tokens;
    er_xcache_apply(&o->xc, &eo);
    return mc_engine_open(&eo, out, d);
}

/* ---- expert cache options ---- */

int er_xcache_opt(er_xcache *x, int c, const char *arg, const char *cmd)
{
    static const char *pol[3] = {"lru", "lfu", "static"};
    switch (c) {
    case ER_O_XC_MB:
        if (mc_parse_f64(arg, &x->cache_mb) != MC_OK || !(x->cache_mb > 0) ||
            x->cache_mb > 16777216.0)
            return mc_cli_usage_error(cmd, "--expert-cache-mb must be MiB > 0, got '%s'", arg);
        x->cache_bytes = (int64_t)(x->cache_mb * 1048576.0);
        return 0;
    case ER_O_XC_POLICY:
        for (int i = 0; i < 3; i++)
            if (!strcmp(arg, pol[i])) {
                x->policy = i; /* MC_XCACHE_LRU, _LFU, _STATIC */
                x->policy_set = 1;
                return 0;
            }
        return mc_cli_usage_error(cmd, "--expert-cache-policy must be lru, lfu or static, got '%s'",
                                  arg);
    case ER_O_XC_PROFILE: x->profile = arg; return 0;
    case ER_O_XC_PREFETCH: x->prefetch = 1; return 0;
    case ER_O_XC_NODIRECT: x->no_direct = 1; return 0;
    default: return -1;
    }
}

int er_xcache_check(const er_xcache *x, const char *cmd)
{
    int cache = x->cache_bytes > 0;
    if (!cache && (x->policy_set || x->profile || x->prefetch || x->no_direct))
        return mc_cli_usage_error(cmd, "--expert-cache-policy, --expert-profile, --prefetch and "
                                       "--no-direct need --expert-cache-mb N");
    if (x->policy == MC_XCACHE_STATIC && !x->profile)
        return mc_cli_usage_error(cmd, "--expert-cache-policy static needs --expert-profile FILE");
    if (x->profile && x->policy != MC_XCACHE_STATIC)
        return mc_cli_usage_error(cmd, "--expert-profile is for --expert-cache-policy static");
    return 0;
}

void er_xcache_apply(const er_xcache *x, mc_engine_opts *o)
{
    o->expert_cache_bytes = x->cache_bytes;
    o->expert_cache_policy = x->policy;
    o->expert_profile = x->profile;
    o->expert_prefetch = x->prefetch;
    o->expert_direct = !x->no_direct;
}

void er_engine_notes(FILE *f, const char *cmd, const mc_engine *e)
{
    if (mc_engine_xcache_direct(e) == 0)
        fprintf(f, "moecap %s: note: %s\n", cmd, mc_engine_xcache_note(e));
    if (!mc_engine_weights_copied(e))
        fprintf(f,
                "moecap %s: note: the weights run from the file mapping, not copied to huge pages "
                "nor repacked (they take more than half of the available memory): decode may be "
                "up to 2x slower\n",
                cmd);
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

static double ratio(double a, double b)
{
    return b > 0 ? a / b : 0;
}

void er_xcache_report(FILE *f, const mc_engine *e)
{
    mc_engine_xstats s;
    if (!mc_engine_xcache_stats(e, &s))
        return;
    fprintf(f,
            "expert cache: %lld slots of %.2f MiB (%lld of %lld experts%s), hits %lld, misses %lld "
            "(hit rate %.3f); slow tier %.1f MiB in %lld reads, %.1f MiB/s while reading (%s), "
            "stalled %.3f s; prefetched %lld\n",
            (long long)s.slots, (double)s.slot_bytes / 1048576.0, (long long)s.slots,
            (long long)s.experts, s.pinned ? ", some pinned" : "", (long long)s.hits,
            (long long)s.misses, ratio((double)s.hits, (double)(s.hits + s.misses)),
            (double)s.bytes / 1048576.0, (long long)s.reads,
            ratio((double)s.bytes, s.read_s) / 1048576.0, s.direct ? "O_DIRECT" : "buffered",
            s.stall_s, (long long)s.prefetched);
}

struct cJSON *er_xcache_json(const mc_engine *e)
{
    mc_engine_xstats s;
    if (!mc_engine_xcache_stats(e, &s))
        return NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "slots", (double)s.slots);
    cJSON_AddNumberToObject(o, "slot_bytes", (double)s.slot_bytes);
    cJSON_AddNumberToObject(o, "experts", (double)s.experts);
    cJSON_AddNumberToObject(o, "pinned", (double)s.pinned);
    cJSON_AddNumberToObject(o, "hits", (double)s.hits);
    cJSON_AddNumberToObject(o, "misses", (double)s.misses);
    cJSON_AddNumberToObject(o, "hit_rate", ratio((double)s.hits, (double)(s.hits + s.misses)));
    cJSON_AddNumberToObject(o, "slow_tier_bytes", (double)s.bytes);
    cJSON_AddNumberToObject(o, "slow_tier_reads", (double)s.reads);
    cJSON_AddNumberToObject(o, "slow_tier_read_s", s.read_s);
    cJSON_AddNumberToObject(o, "slow_tier_Bps", ratio((double)s.bytes, s.read_s));
    cJSON_AddNumberToObject(o, "stall_s", s.stall_s);
    cJSON_AddNumberToObject(o, "prefetched", (double)s.prefetched);
    cJSON_AddBoolToObject(o, "direct", s.direct);
    return o;
}
