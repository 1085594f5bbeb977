/* radar.c: normalisation of the three CAP radar axes to a 0..100 scale (radar.performance,
 * radar.cost, radar.accuracy), the MoE-CAP radar script's formulas with its undefined cases
 * defined. docs/METRICS.md has the formulas and the edge-case rules. Pure arithmetic. */
#include "cap.h"

#include <math.h>

static mc_err check(const double *v, size_t n, double b, double lo, double hi, const char *axis,
                    mc_diag *d)
{
    if (!(b >= 0 && b < 100))
        return mc_fail(d, MC_ERR_RANGE, "radar: baseline %g must be in [0, 100)", b);
    for (size_t i = 0; i < n; i++)
        if (!(v[i] >= lo && v[i] <= hi))
            return mc_fail(d, MC_ERR_RANGE, "radar %s: value %zu (%g) is not in [%g, %g]", axis,
                           i, v[i], lo, hi);
    return MC_OK;
}

static void min_max(const double *v, size_t n, double *lo, double *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        *lo = fmin(*lo, v[i]);
        *hi = fmax(*hi, v[i]);
    }
}

mc_err mc_radar_performance(const double *v, size_t n, double b, double *r, mc_diag *d)
{
    mc_err e = check(v, n, b, 0, HUGE_VAL, "performance", d);
    if (e)
        return e;
    double lo, hi;
    min_max(v, n, &lo, &hi);
    for (size_t i = 0; i < n; i++) /* all equal (or one system): every system is the best */
        r[i] = hi > lo ? b + (hi - v[i]) / (hi - lo) * (100 - b) : 100;
    return MC_OK;
}

mc_err mc_radar_cost(const double *v, size_t n, double ceiling, double b, double *r, mc_diag *d)
{
    if (!(ceiling > 0) || !isfinite(ceiling))
        return mc_fail(d, MC_ERR_RANGE, "radar cost: ceiling %g must be > 0", ceiling);
    mc_err e = check(v, n, b, 0, HUGE_VAL, "cost", d);
    if (e)
        return e;
    for (size_t i = 0; i < n; i++)
        r[i] = b + (ceiling - fmin(v[i], ceiling)) / ceiling * (100 - b);
    return MC_OK;
}

mc_err mc_radar_accuracy(const double *v, size_t n, double b, double *r, mc_diag *d)
{
    mc_err e = check(v, n, b, 0, 1, "accuracy", d);
    if (e)
        return e;
    double lo, hi;
    min_max(v, n, &lo, &hi);
    for (size_t i = 0; i < n; i++) /* the top of the scale is 1.0; all perfect: all 100 */
        r[i] = lo < 1 ? b + (v[i] - lo) / (1 - lo) * (100 - b) : 100;
    return MC_OK;
}
