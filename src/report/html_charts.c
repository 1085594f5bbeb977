/* html_charts.c: the report's charts over perf points and expert routing: output throughput and
 * S-MBU against concurrency (cap.json perf[], measured solid and predicted dashed), distinct
 * experts per layer against decode batch size beside the uniform-routing expectation
 * (experts.expected_uniform, src/cap), and one layer x expert heat map per system. Depends on
 * base, cap, cJSON. */
#include "cap.h"
#include "rundir_int.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define CHART_W 540
#define CHART_H 320
#define MAX_POINTS 256 /* perf points or batch sizes per series */

typedef struct series_buf {
    mc_xy_series s[3 * MC_REPORT_MAX_SYSTEMS];
    double x[3 * MC_REPORT_MAX_SYSTEMS][MAX_POINTS], y[3 * MC_REPORT_MAX_SYSTEMS][MAX_POINTS];
    char name[3 * MC_REPORT_MAX_SYSTEMS][200];
    size_t n;
} series_buf;

static size_t new_series(series_buf *b, const char *name, const char *suffix, size_t color,
                         int dashed)
{
    size_t k = b->n++;
    snprintf(b->name[k], sizeof b->name[k], "%s%s", name, suffix);
    b->s[k] = (mc_xy_series){b->name[k], b->x[k], b->y[k], 0, color, dashed};
    return k;
}

static void add_point(series_buf *b, size_t k, double x, double y)
{
    if (b->s[k].n == MAX_POINTS)
        return;
    b->x[k][b->s[k].n] = x;
    b->y[k][b->s[k].n++] = y;
}

/* A figure in percent: fractions (S-MBU's unit "fraction") x 100, "%" as is. */
static double fig_scaled(const cJSON *obj, const char *key, int pct)
{
    const cJSON *f = mc_jget(obj, key);
    const char *unit = mc_jstr(f, "unit");
    double v = mc_fig_value(f);
    return pct && !(unit && strcmp(unit, "%") == 0) ? 100 * v : v;
}

/* A dashed series of perf[].<obj>.<pkey> against concurrency; dropped when it has no value (no
 * entry in the legend). */
static void pred_series(series_buf *b, const mc_rsys *s, size_t color, const char *obj,
                        const char *suffix, int dashed, const char *pkey, int pct)
{
    size_t p = new_series(b, s->name, suffix, color, dashed);
    const cJSON *pt;
    int any = 0;
    cJSON_ArrayForEach(pt, mc_jget(s->j, "perf"))
    {
        double pv = fig_scaled(mc_jget(pt, obj), pkey, pct);
        add_point(b, p, mc_perf_point(pt), pv);
        any |= isfinite(pv);
    }
    if (!any)
        b->n--;
}

/* Measured figure `key`, the raw prediction `pkey` (perf[].predicted, efficiency 1) and the
 * calibrated one (perf[].predicted_calibrated, factors from the headline point) against
 * concurrency. */
static void perf_series(series_buf *b, const mc_rsys *s, size_t color, const char *key,
                        const char *pkey, int pct)
{
    size_t m = new_series(b, s->name, "", color, 0);
    const cJSON *pt;
    cJSON_ArrayForEach(pt, mc_jget(s->j, "perf"))
    {
        add_point(b, m, mc_perf_point(pt), fig_scaled(pt, key, pct));
    }
    pred_series(b, s, color, "predicted", " predicted", MC_SERIES_PREDICTED, pkey, pct);
    pred_series(b, s, color, "predicted_calibrated", " predicted, calibrated",
                MC_SERIES_CALIBRATED, pkey, pct);
}

static mc_err perf_chart(mc_svg *h, const mc_report *r, series_buf *b, int smbu, mc_diag *d)
{
    b->n = 0;
    for (size_t i = 0; i < r->n_sys; i++)
        perf_series(b, &r->sys[i], i, smbu ? "smbu.time_weighted" : "throughput.requests",
                    smbu ? "predict.smbu" : "predict.throughput", smbu);
    mc_chart c = {smbu ? "S-MBU, decode (smbu.time_weighted)"
                       : "Output throughput (throughput.requests)",
                  "concurrency", smbu ? "S-MBU (%)" : "output tokens/s", CHART_W, CHART_H, 1, 1};
    mc_err e = mc_chart_xy(&c, b->s, b->n, h->b, d);
    if (e && !h->err)
        h->err = e;
    return h->err;
}

mc_err mc_html_perf_section(mc_svg *h, const mc_report *r, mc_diag *d)
{
    series_buf *b = mc_calloc(1, sizeof *b);
    if (!b)
        return h->err = mc_fail(d, MC_ERR_NOMEM, "out of memory");
    mc_svg_raw(h, "<section id=\"perf\">\n<h2>Throughput and S-MBU against concurrency</h2>\n"
                  "<p class=\"cap\">Measured (solid) and the analytic model's prediction "
                  "(predict.throughput, predict.smbu) at every perf point: long dashes at "
                  "efficiency 1 (a roofline bound), short dashes with the efficiency factors "
                  "calibrated on the headline point (predict.calibrate; there it matches the "
                  "measurement that calibrated it, usually the TPOT).</p>\n"
                  "<div class=\"row\">\n");
    if (!h->err && !perf_chart(h, r, b, 0, d))
        perf_chart(h, r, b, 1, d);
    mc_svg_raw(h, "</div>\n</section>\n");
    mc_free(b);
    return h->err;
}

/* ---- experts ---- */

static double max_concurrency(const mc_rsys *s)
{
    double mx = 1;
    const cJSON *pt;
    cJSON_ArrayForEach(pt, mc_jget(s->j, "perf"))
    {
        double c = mc_perf_point(pt);
        if (isfinite(c) && c > mx)
            mx = c;
    }
    for (size_t i = 0; i < s->n_bs; i++)
        mx = fmax(mx, s->bs[i]);
    return mx;
}

static void distinct_series(series_buf *b, const mc_rsys *s, size_t color)
{
    size_t m = new_series(b, s->name, "", color, 0);
    for (size_t i = 0; i < s->n_bs; i++)
        add_point(b, m, s->bs[i], s->bs_sum[i] / (double)s->bs_cnt[i]);
}

/* experts.expected_uniform for each distinct (experts, top-k) of the systems, in the colour of
 * the first system with that shape, up to the largest batch any of them ran. */
static void uniform_series(series_buf *b, const mc_report *r, size_t i)
{
    const mc_rsys *s = &r->sys[i];
    if (!(s->n_experts > 0 && s->top_k > 0))
        return;
    double mx = max_concurrency(s);
    for (size_t k = 0; k < r->n_sys; k++) {
        const mc_rsys *o = &r->sys[k];
        if (o->n_experts == s->n_experts && o->top_k == s->top_k) {
            if (k < i)
                return; /* drawn with system k */
            mx = fmax(mx, max_concurrency(o));
        }
    }
    char name[80];
    snprintf(name, sizeof name, "uniform E=%g k=%g", s->n_experts, s->top_k);
    size_t u = new_series(b, name, "", i, 1);
    for (double t = 1; b->s[u].n < MAX_POINTS; t *= 2) { /* 1, 2, 4, ... up to the largest */
        add_point(b, u, t, mc_cap_expected_distinct_uniform(s->n_experts, s->top_k, t));
        if (t >= mx)
            break;
    }
}

static mc_err distinct_chart(mc_svg *h, const mc_report *r, mc_diag *d)
{
    series_buf *b = mc_calloc(1, sizeof *b);
    if (!b)
        return h->err = mc_fail(d, MC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < r->n_sys; i++)
        distinct_series(b, &r->sys[i], i);
    for (size_t i = 0; i < r->n_sys; i++)
        uniform_series(b, r, i);
    mc_chart c = {"Distinct experts per layer (decode)",
                  "decode batch size", "distinct experts per layer", CHART_W, CHART_H, 1, 1};
    mc_err e = mc_chart_xy(&c, b->s, b->n, h->b, d);
    mc_free(b);
    if (e && !h->err)
        h->err = e;
    return h->err;
}

static mc_err heat_map(mc_svg *h, const mc_rsys *s, mc_diag *d)
{
    char title[256];
    if (!s->heat) {
        mc_svg_raw(h, "<div class=\"missing\"><b>");
        mc_svg_esc(h, s->name);
        mc_svg_raw(h, "</b>: no expert heat map (");
        mc_svg_esc(h, s->heat_note);
        mc_svg_raw(h, ")</div>\n");
        return h->err;
    }
    snprintf(title, sizeof title, "%s: tokens per expert (%zu decode passes)", s->name,
             s->heat_passes);
    mc_heat hm = {title, "layer", "expert", "tokens", s->heat_rows, s->heat_cols, s->heat};
    mc_err e = mc_chart_heat(&hm, h->b, d);
    if (e && !h->err)
        h->err = e;
    return h->err;
}

mc_err mc_html_experts_section(mc_svg *h, const mc_report *r, mc_diag *d)
{
    mc_svg_raw(h, "<section id=\"experts\">\n<h2>Expert activation</h2>\n<p class=\"cap\">"
                  "records.jsonl, decode passes: mean distinct experts per layer by batch size "
                  "beside uniform routing (experts.expected_uniform); tokens per expert, summed.</p>\n<div class=\"row\">\n");
    distinct_chart(h, r, d);
    mc_svg_raw(h, "</div>\n<div class=\"row\" style=\"margin-top:16px\">\n");
    for (size_t i = 0; i < r->n_sys && !h->err; i++)
        heat_map(h, &r->sys[i], d);
    mc_svg_raw(h, "</div>\n</section>\n");
    return h->err;
}
