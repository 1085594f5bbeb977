/* bench_engine_pred.c: the analytic expert-cache model (docs/METRICS.md predict.tpot_offload,
 * src/cap mc_predict_cache) for a bench-engine decode phase, so the measured TPOT and hit rate of
 * an engine with an expert cache are printed next to what the model predicts from the cache
 * size, uniform routing, the fast tier's peak bandwidth x an efficiency, and the slow tier's
 * probed bandwidth. Pure glue: no engine driving, no printing. */
#include "engine_run.h"

#include <math.h>
#include <stdio.h>

static mc_cache_policy policy_of(int xcache_policy)
{
    return xcache_policy == MC_XCACHE_LFU      ? MC_CACHE_LFU
           : xcache_policy == MC_XCACHE_STATIC ? MC_CACHE_STATIC
                                               : MC_CACHE_LRU;
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
    /* The cache holds `slots` whole experts (slots carry alignment padding the model's bytes do
     * not have): give the model the same number of experts. */
    const mc_model *m = mc_engine_model(e);
    double cache = s.experts > 0 ? mc_cache_expert_bytes(m) * (double)s.slots / (double)s.experts
                                 : 0;
    mc_predict_cache_in pi = {.batch = in->batch,
                              .context_tok = in->context_tok,
                              .cache_bytes = cache,
                              .policy = policy_of(in->policy),
                              .fast_Bps = in->fast_Bps,
                              .slow_Bps = in->slow_Bps,
                              .eff = in->eff,
                              .overlap = 0};
    return mc_predict_cache(m, &pi, out, d);
}
