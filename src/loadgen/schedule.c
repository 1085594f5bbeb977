/* schedule.c: open-loop arrival schedules as absolute offsets from one t0, precomputed from a
 * seeded RNG (gamma-distributed intervals; shape 1 = Poisson), with an optional linear ramp-up
 * done as a time change of the same process. Pure computation: depends only on base. */
#include "loadgen.h"

#include <math.h>

double mc_lg_gamma(mc_rng *r, double shape)
{
    if (shape < 1.0) { /* gamma(k) = gamma(k + 1) * U^(1/k) */
        double u = 1.0 - mc_rng_uniform(r);
        return mc_lg_gamma(r, shape + 1.0) * pow(u, 1.0 / shape);
    }
    double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) { /* Marsaglia and Tsang (2000) */
        double x = mc_rng_normal(r), v = 1.0 + c * x;
        if (v <= 0)
            continue;
        v = v * v * v;
        double u = 1.0 - mc_rng_uniform(r); /* (0, 1] */
        if (u < 1.0 - 0.0331 * x * x * x * x)
            return d * v;
        if (log(u) < 0.5 * x * x + d * (1.0 - v + log(v)))
            return d * v;
    }
}

static mc_err check_opts(const mc_lg_sched_opts *o, mc_diag *d)
{
    if (!(o->rate_per_s > 0) || !isfinite(o->rate_per_s))
        return mc_fail(d, MC_ERR_ARG, "schedule: rate must be > 0 (got %g)", o->rate_per_s);
    if (o->burstiness < 0 || !isfinite(o->burstiness))
        return mc_fail(d, MC_ERR_ARG, "schedule: burstiness must be > 0 (got %g)", o->burstiness);
    if (o->ramp_s < 0 || !isfinite(o->ramp_s))
        return mc_fail(d, MC_ERR_ARG, "schedule: ramp-up must be >= 0 s (got %g)", o->ramp_s);
    return MC_OK;
}

/* Next arrival of the homogeneous process, in seconds after the previous one. */
static double next_interval(mc_rng *r, const mc_lg_sched_opts *o)
{
    double k = o->burstiness > 0 ? o->burstiness : 1.0;
    if (k == 1.0)
        return -log(1.0 - mc_rng_uniform(r)) / o->rate_per_s;
    return mc_lg_gamma(r, k) / (k * o->rate_per_s);
}

/* Ramp-up as a time change: with the rate rising linearly from 0 to R over T, the integrated
 * rate is R t^2 / (2T) up to T, so homogeneous arrival s maps to sqrt(2 T s) for s <= T/2
 * and to s + T/2 after it. */
static double warp(double s, double ramp_s)
{
    if (ramp_s <= 0)
        return s;
    return s <= ramp_s / 2 ? sqrt(2.0 * ramp_s * s) : s + ramp_s / 2;
}

static mc_ns to_ns(double s)
{
    return (mc_ns)llround(s * 1e9);
}

mc_err mc_lg_schedule(const mc_lg_sched_opts *o, size_t n, mc_ns *out, mc_diag *d)
{
    mc_err e = check_opts(o, d);
    if (e)
        return e;
    mc_rng r;
    mc_rng_seed(&r, o->seed);
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        s += next_interval(&r, o);
        out[i] = to_ns(warp(s, o->ramp_s));
    }
    return MC_OK;
}

mc_err mc_lg_schedule_until(const mc_lg_sched_opts *o, double duration_s, size_t max_n, mc_ns **out,
                            size_t *n, mc_diag *d)
{
    *out = NULL;
    *n = 0;
    mc_err e = check_opts(o, d);
    if (e)
        return e;
    mc_rng r;
    mc_rng_seed(&r, o->seed);
    size_t cap = 0, len = 0;
    mc_ns *a = NULL;
    double s = 0;
    for (;;) {
        s += next_interval(&r, o);
        double t = warp(s, o->ramp_s);
        if (t > duration_s)
            break;
        if (len == max_n) {
            mc_free(a);
            return mc_fail(d, MC_ERR_RANGE, "schedule: more than %zu arrivals in %g s", max_n,
                           duration_s);
        }
        if (len == cap) {
            cap = cap ? cap * 2 : 1024;
            mc_ns *na = mc_reallocarray(a, cap, sizeof *na);
            if (!na) {
                mc_free(a);
                return mc_fail(d, MC_ERR_NOMEM, "schedule: out of memory");
            }
            a = na;
        }
        a[len++] = to_ns(t);
    }
    *out = a;
    *n = len;
    return MC_OK;
}
