/* axis.c: chart scales (linear and log2) and "nice" tick positions and labels. Pure arithmetic;
 * depends on base only. */
#include "report_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

double mc_scale_map(const mc_scale *s, double v)
{
    double t;
    if (s->log2)
        t = (log2(v) - log2(s->d0)) / (log2(s->d1) - log2(s->d0));
    else
        t = (v - s->d0) / (s->d1 - s->d0);
    return s->r0 + t * (s->r1 - s->r0);
}

/* The nice step (1, 2, 2.5 or 5 x 10^k) nearest above raw, and the decimals it needs. */
static double nice_step(double raw, int *decimals)
{
    double p = pow(10, floor(log10(raw)));
    double m = raw / p;
    double f = m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10;
    double step = f * p;
    int dec = (int)-floor(log10(step) + 1e-9);
    if (f == 2.5)
        dec++;
    *decimals = dec > 0 ? dec : 0;
    return step;
}

void mc_ticks_linear(double lo, double hi, int want, mc_ticks *t)
{
    memset(t, 0, sizeof *t);
    if (!isfinite(lo) || !isfinite(hi)) {
        lo = 0;
        hi = 1;
    }
    if (lo > hi) {
        double x = lo;
        lo = hi;
        hi = x;
    }
    if (hi - lo <= fabs(hi) * 1e-12) { /* one value: a range around it */
        double w = hi != 0 ? fabs(hi) * 0.5 : 1;
        lo = lo >= 0 && lo - w < 0 ? 0 : lo - w;
        hi = hi + w;
    }
    if (want < 2)
        want = 2;
    double step = nice_step((hi - lo) / want, &t->decimals);
    double first = floor(lo / step + 1e-9) * step;
    for (double v = first; t->n < MC_TICKS_MAX; v = first + step * (double)t->n) {
        t->v[t->n++] = fabs(v) < step * 1e-9 ? 0 : v;
        if (v >= hi - step * 1e-9)
            break;
    }
    t->lo = t->v[0];
    t->hi = t->v[t->n - 1];
}

void mc_ticks_log2(double lo, double hi, mc_ticks *t)
{
    memset(t, 0, sizeof *t);
    if (!(lo > 0) || !isfinite(hi) || hi < lo) {
        lo = 1;
        hi = 2;
    }
    int e0 = (int)floor(log2(lo) + 1e-9), e1 = (int)ceil(log2(hi) - 1e-9);
    if (e1 <= e0)
        e1 = e0 + 1;
    int every = (e1 - e0) / 12 + 1;
    e1 = e0 + (e1 - e0 + every - 1) / every * every;
    for (int e = e0; e <= e1 && t->n < MC_TICKS_MAX; e += every)
        t->v[t->n++] = ldexp(1, e);
    t->lo = ldexp(1, e0);
    t->hi = ldexp(1, e1);
    t->decimals = e0 < 0 ? -e0 : 0;
}

/* "1234567" -> "1,234,567" for an integer string with optional leading '-'. */
void mc_report_group_thousands(const char *in, char out[32])
{
    size_t len = strlen(in), lead = in[0] == '-', o = 0;
    size_t digits = len - lead;
    if (lead)
        out[o++] = '-';
    for (size_t i = 0; i < digits && o < 30; i++) {
        if (i > 0 && (digits - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = in[lead + i];
    }
    out[o] = 0;
}

void mc_ticks_label(const mc_ticks *t, double v, char out[32])
{
    char tmp[32];
    if (fabs(v) >= 1e15 || (v != 0 && fabs(v) < 1e-6)) {
        snprintf(out, 32, "%.3g", v);
        return;
    }
    snprintf(tmp, sizeof tmp, "%.*f", t->decimals, v);
    if (strcmp(tmp, "-0") == 0 || (tmp[0] == '-' && strspn(tmp + 1, "0.") == strlen(tmp + 1)))
        memmove(tmp, tmp + 1, strlen(tmp)); /* no "-0", "-0.00" */
    if (t->decimals == 0 && fabs(v) >= 10000)
        mc_report_group_thousands(tmp, out);
    else
        snprintf(out, 32, "%s", tmp);
}
