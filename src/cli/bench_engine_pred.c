/* bench_engine_pred.c: the analytic expert-cache model (docs/METRICS.md predict.tpot_offload,
 * src/cap mc_predict_cache) for a bench-engine decode phase, so the measured TPOT and hit rate of
 * an engine with an expert cache are printed next to what the model predicts from the cache
 * size, a routing (uniform, or frequencies the caller measured), the fast tier's peak bandwidth
 * x an efficiency, and a slow-tier bandwidth (probed, or measured by the caller). Pure glue: no engine driving, no printing. */
#include "engine_run.h"

#include <math.h>
#include <stdio.h>

static mc_cache_policy policy_of(int xcache_policy)
{
    return xcache_policy == MC_XCACHE_LFU      ? MC_CACHE_LFU
           : xcache_policy == MC_XCACHE_STATIC ? MC_CACHE_STATIC
                                               : MC_CACHE_LRU;
}

/* The cache's bytes as the model counts them: the engine's slots carry alignment padding the
 * model's expert bytes do not have, so give the model the same number of whole experts. */
static double model_cache_bytes(const mc_engine *e, const mc_engine_xstats *s)
{
    return s->experts > 0 ? mc_cache_expert_bytes(mc_engine_model(e)) * (double)s->slots /
                                (double)s->experts
                          : 0;
}

mc_err er_replay(const mc_engine *e, int policy, const mc_pass *p, size_t n, mc_cache_replay *out,
                 mc_diag *d)
{
    mc_engine_xstats s;
    if (!mc_engine_xcache_stats(e, &s))
        return mc_fail(d, MC_ERR_ARG, "no expert cache");
    return mc_cache_replay_of(mc_engine_model(e), p, n, model_cache_bytes(e, &s),
                              policy_of(policy), out, d);
}

mc_err er_predict_cache(const mc_engine *e, const er_pred_in *in, mc_predict_cache_out *out,
                        mc_diag *d)
{
    mc_engine_xstats s;
    if (!mc_engine_xcache_stats(e, &s))
        return mc_fail(d, MC_ERR_ARG, "no expert cache");
    if (!(in->slow_Bps > 0))
        return mc_fail(d, MC_ERR_ARG, "slow-tier bandwidth unknown (run 'moecap probe "
                                      "--slow-tier DIR' or give --slow-bw)");
    const mc_model *m = mc_engine_model(e);
    double cache = model_cache_bytes(e, &s);
    mc_predict_cache_in pi = {.batch = in->batch,
                              .context_tok = in->context_tok,
                              .cache_bytes = cache,
                              .policy = policy_of(in->policy),
                              .fast_Bps = in->fast_Bps,
                              .slow_Bps = in->slow_Bps,
                              .eff = in->eff,
                              .overlap = 0,
                              .freq = in->freq,
                              .freq_rows = in->freq_rows,
                              .freq_cols = in->freq_cols,
                              .replay = in->replay};
    return mc_predict_cache(m, &pi, out, d);
}
