/* latency.c: per-request latency figures (latency.ttft, latency.e2e, latency.tpot, latency.itl),
 * summary statistics (stats.summary, stats.percentile), throughput over a window
 * (throughput.requests) and goodput under SLOs (goodput). Definitions: docs/METRICS.md.
 * Pure functions over arrays of request timings; no clock (times are given), no I/O. */
#include "cap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- per request ---- */

int mc_cap_ttft_s(const mc_req_timing *r, double *out)
{
    if (!r->ok || r->first_s < 0)
        return -1;
    *out = r->first_s - r->start_s;
    return 0;
}

int mc_cap_e2e_s(const mc_req_timing *r, double *out)
{
    if (!r->ok)
        return -1;
    *out = r->end_s - r->start_s;
    return 0;
}

int mc_cap_tpot_s(const mc_req_timing *r, double *out)
{
    /* (E2E - TTFT) / (N - 1): the first token's time is TTFT's, so N - 1 intervals remain */
    if (!r->ok || r->first_s < 0 || r->out_tokens < 2)
        return -1;
    *out = (r->end_s - r->first_s) / (double)(r->out_tokens - 1);
    return 0;
}

static size_t collect_itl(const mc_req_timing *r, size_t n, double *v, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!r[i].ok || !r[i].chunk_s)
            continue;
        for (int64_t c = 1; c < r[i].n_chunks; c++, k++)
            if (k < cap)
                v[k] = r[i].chunk_s[c] - r[i].chunk_s[c - 1];
    }
    return k;
}

size_t mc_cap_collect(const mc_req_timing *r, size_t n, mc_lat_kind kind, double *v, size_t cap)
{
    if (kind == MC_LAT_ITL)
        return collect_itl(r, n, v, cap);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        double x;
        int rc = kind == MC_LAT_TTFT   ? mc_cap_ttft_s(&r[i], &x)
                 : kind == MC_LAT_TPOT ? mc_cap_tpot_s(&r[i], &x)
                                       : mc_cap_e2e_s(&r[i], &x);
        if (rc != 0)
            continue;
        if (k < cap)
            v[k] = x;
        k++;
    }
    return k;
}

/* ---- stats.summary / stats.percentile ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double mc_cap_percentile(const double *sorted, size_t n, double q)
{
    if (n == 0)
        return NAN;
    q = q < 0 ? 0 : q > 1 ? 1 : q;
    double h = (double)(n - 1) * q;
    size_t lo = (size_t)floor(h);
    size_t hi = lo + 1 < n ? lo + 1 : n - 1;
    return sorted[lo] + (h - (double)lo) * (sorted[hi] - sorted[lo]);
}

mc_err mc_cap_stats_of(double *v, size_t n, mc_cap_stats *out, mc_diag *d)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return mc_fail(d, MC_ERR_RANGE, "statistics: value %zu is not finite", i);
    if (n == 0)
        return MC_OK;
    qsort(v, n, sizeof *v, cmp_double);
    double sum = 0, sq = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    out->n = n;
    out->mean = sum / (double)n;
    for (size_t i = 0; i < n; i++)
        sq += (v[i] - out->mean) * (v[i] - out->mean);
    out->sd = sqrt(sq / (double)n); /* population sd, as numpy.std and vLLM's bench */
    out->min = v[0];
    out->max = v[n - 1];
    out->p50 = mc_cap_percentile(v, n, 0.50);
    out->p90 = mc_cap_percentile(v, n, 0.90);
    out->p95 = mc_cap_percentile(v, n, 0.95);
    out->p99 = mc_cap_percentile(v, n, 0.99);
    out->p999 = mc_cap_percentile(v, n, 0.999);
    return MC_OK;
}

/* ---- throughput.requests / goodput ---- */

/* The window: given, else first request sent -> last successful completion. */
static mc_err window_of(const mc_req_timing *r, size_t n, mc_cap_window w, double *dur,
                        mc_diag *d)
{
    if (!(w.end_s > w.start_s)) {
        w.start_s = INFINITY;
        w.end_s = -INFINITY;
        for (size_t i = 0; i < n; i++) {
            w.start_s = fmin(w.start_s, r[i].start_s);
            if (r[i].ok)
                w.end_s = fmax(w.end_s, r[i].end_s);
        }
    }
    *dur = w.end_s - w.start_s;
    if (!(*dur > 0) || !isfinite(*dur))
        return mc_fail(d, MC_ERR_RANGE, "throughput: the window has no positive duration "
                                        "(no successful request?)");
    return MC_OK;
}

mc_err mc_cap_throughput_of(const mc_req_timing *r, size_t n, mc_cap_window w,
                            mc_cap_throughput *out, mc_diag *d)
{
    memset(out, 0, sizeof *out);
    if (n == 0)
        return MC_OK;
    mc_err e = window_of(r, n, w, &out->duration_s, d);
    if (e)
        return e;
    out->requests = (int64_t)n;
    for (size_t i = 0; i < n; i++) {
        if (!r[i].ok)
            continue;
        out->ok++;
        out->in_tokens += r[i].in_tokens;
        out->out_tokens += r[i].out_tokens;
    }
    out->failed = out->requests - out->ok;
    double t = out->duration_s;
    out->req_per_s = (double)out->ok / t;
    out->in_tok_per_s = (double)out->in_tokens / t;
    out->out_tok_per_s = (double)out->out_tokens / t;
    out->total_tok_per_s = (double)(out->in_tokens + out->out_tokens) / t;
    return MC_OK;
}

int mc_cap_request_good(const mc_req_timing *r, const mc_cap_slo *slo)
{
    double x;
    if (!r->ok)
        return 0;
    if (slo->ttft_s > 0 && (mc_cap_ttft_s(r, &x) != 0 || x > slo->ttft_s))
        return 0;
    /* a 1-token output has no TPOT: nothing in it can be late, so it passes (vLLM's rule) */
    if (slo->tpot_s > 0 && mc_cap_tpot_s(r, &x) == 0 && x > slo->tpot_s)
        return 0;
    if (slo->e2e_s > 0 && (mc_cap_e2e_s(r, &x) != 0 || x > slo->e2e_s))
        return 0;
    return 1;
}

mc_err mc_cap_goodput_of(const mc_req_timing *r, size_t n, const mc_cap_slo *slo,
                         mc_cap_window w, mc_cap_goodput *out, mc_diag *d)
{
    memset(out, 0, sizeof *out);
    if (n == 0)
        return MC_OK;
    double dur;
    mc_err e = window_of(r, n, w, &dur, d);
    if (e)
        return e;
    int64_t tok = 0;
    for (size_t i = 0; i < n; i++)
        if (mc_cap_request_good(&r[i], slo)) {
            out->good++;
            tok += r[i].out_tokens;
        }
    out->good_fraction = (double)out->good / (double)n;
    out->req_per_s = (double)out->good / dur;
    out->out_tok_per_s = (double)tok / dur;
    return MC_OK;
}
