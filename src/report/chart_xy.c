/* chart_xy.c: line charts (several series, measured solid, predicted dashed, optional log2 x
 * axis) and empirical CDF charts, as SVG text. Pure: data in, SVG out. Depends on base only. */
#include "report_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CDF_MAX_SAMPLES 1000000 /* per series; more would make a report nobody can open */

static int point_ok(const mc_xy_series *s, size_t i, int x_log2)
{
    return isfinite(s->x[i]) && isfinite(s->y[i]) && (!x_log2 || s->x[i] > 0);
}

/* Data bounds over all usable points; returns the number of points. */
static size_t xy_bounds(const mc_xy_series *s, size_t n, int x_log2, double b[4])
{
    size_t cnt = 0;
    b[0] = b[2] = INFINITY;
    b[1] = b[3] = -INFINITY;
    for (size_t k = 0; k < n; k++)
        for (size_t i = 0; i < s[k].n; i++) {
            if (!point_ok(&s[k], i, x_log2))
                continue;
            b[0] = fmin(b[0], s[k].x[i]);
            b[1] = fmax(b[1], s[k].x[i]);
            b[2] = fmin(b[2], s[k].y[i]);
            b[3] = fmax(b[3], s[k].y[i]);
            cnt++;
        }
    return cnt;
}

static void xy_series(mc_svg *s, const mc_frame *f, const mc_xy_series *ser)
{
    const char *col = mc_svg_color(ser->color);
    size_t ok = 0;
    for (size_t i = 0; i < ser->n; i++)
        ok += (size_t)point_ok(ser, i, f->x_log2);
    if (!ok)
        return;
    mc_svg_raw(s, "<g class=\"series\">\n<path class=\"line%s\" stroke=\"%s\" d=\"",
               mc_series_class(ser->dashed), col);
    char cmd = 'M';
    for (size_t i = 0; i < ser->n; i++) {
        if (!point_ok(ser, i, f->x_log2))
            continue;
        mc_svg_raw(s, "%c%s %s", cmd, mc_svg_n(s, mc_scale_map(&f->sx, ser->x[i])),
                   mc_svg_n(s, mc_scale_map(&f->sy, ser->y[i])));
        cmd = 'L';
    }
    mc_svg_raw(s, "\"/>\n");
    for (size_t i = 0; i < ser->n; i++) {
        if (!point_ok(ser, i, f->x_log2))
            continue;
        mc_svg_raw(s, "<circle cx=\"%s\" cy=\"%s\" r=\"3.5\" stroke=\"%s\" fill=\"%s\"/>\n",
                   mc_svg_n(s, mc_scale_map(&f->sx, ser->x[i])),
                   mc_svg_n(s, mc_scale_map(&f->sy, ser->y[i])), col,
                   ser->dashed ? "#fff" : col);
    }
    mc_svg_raw(s, "</g>\n");
}

mc_err mc_chart_xy(const mc_chart *c, const mc_xy_series *s, size_t n, mc_buf *out, mc_diag *d)
{
    mc_svg svg;
    mc_frame f;
    double b[4];
    mc_svg_init(&svg, out);
    int x_log2 = c->x_log2;
    for (size_t k = 0; k < n && x_log2; k++) /* log2 only when every x is positive */
        for (size_t i = 0; i < s[k].n; i++)
            if (isfinite(s[k].x[i]) && isfinite(s[k].y[i]) && !(s[k].x[i] > 0))
                x_log2 = 0;
    size_t cnt = xy_bounds(s, n, x_log2, b);
    mc_chart cc = *c;
    cc.x_log2 = x_log2;
    mc_frame_layout(&cc, b[0], b[1], b[2], b[3], &f);
    mc_frame_draw(&svg, &cc, &f);
    for (size_t k = 0; k < n; k++) {
        xy_series(&svg, &f, &s[k]);
        mc_frame_legend(&svg, &f, k, mc_svg_color(s[k].color), s[k].dashed, s[k].name);
    }
    if (cnt == 0)
        mc_frame_nodata(&svg, &f, "no data");
    mc_svg_close(&svg);
    return mc_svg_finish(&svg, d);
}

/* ---- empirical CDF ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The finite samples of a series, sorted (caller frees). *m = 0 with NULL when none. */
static mc_err sorted_samples(const mc_xy_series *s, double **out, size_t *m, mc_diag *d)
{
    *out = NULL;
    *m = 0;
    size_t n = s->n < CDF_MAX_SAMPLES ? s->n : CDF_MAX_SAMPLES;
    if (n == 0)
        return MC_OK;
    double *v = mc_mallocarray(n, sizeof *v);
    if (!v)
        return mc_fail(d, MC_ERR_NOMEM, "cdf: out of memory");
    for (size_t i = 0; i < n; i++)
        if (isfinite(s->x[i]))
            v[(*m)++] = s->x[i];
    qsort(v, *m, sizeof *v, cmp_double);
    *out = v;
    return MC_OK;
}

/* Step function: from (v0, 0) up to 1/m, right to v1, up to 2/m, ... */
static void cdf_path(mc_svg *s, const mc_frame *f, const double *v, size_t m, const char *col)
{
    mc_svg_raw(s, "<path class=\"cdf\" stroke=\"%s\" d=\"M%s %s", col,
               mc_svg_n(s, mc_scale_map(&f->sx, v[0])), mc_svg_n(s, mc_scale_map(&f->sy, 0)));
    for (size_t i = 0; i < m; i++) {
        if (i > 0 && v[i] != v[i - 1])
            mc_svg_raw(s, "H%s", mc_svg_n(s, mc_scale_map(&f->sx, v[i])));
        if (i + 1 == m || v[i + 1] != v[i]) /* one vertical step per distinct value */
            mc_svg_raw(s, "V%s", mc_svg_n(s, mc_scale_map(&f->sy, (double)(i + 1) / m)));
    }
    mc_svg_raw(s, "\"/>\n");
}

static void cdf_bounds(double **v, const size_t *m, size_t n, double *lo, double *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (size_t k = 0; k < n; k++)
        if (m[k] > 0) {
            *lo = fmin(*lo, v[k][0]);
            *hi = fmax(*hi, v[k][m[k] - 1]);
        }
    if (*lo > 0)
        *lo = 0; /* latencies: the axis starts at zero */
}

mc_err mc_chart_cdf(const mc_chart *c, const mc_xy_series *s, size_t n, mc_buf *out, mc_diag *d)
{
    mc_err e = MC_OK;
    double **v = mc_calloc(n ? n : 1, sizeof *v);
    size_t *m = mc_calloc(n ? n : 1, sizeof *m);
    if (!v || !m) {
        e = mc_fail(d, MC_ERR_NOMEM, "cdf: out of memory");
        goto out;
    }
    for (size_t k = 0; k < n && !e; k++)
        e = sorted_samples(&s[k], &v[k], &m[k], d);
    if (e)
        goto out;
    double lo, hi;
    cdf_bounds(v, m, n, &lo, &hi);
    mc_chart cc = *c;
    cc.x_log2 = 0;
    mc_frame f;
    mc_svg svg;
    mc_svg_init(&svg, out);
    mc_frame_layout(&cc, lo, hi, 0, 1, &f);
    mc_frame_draw(&svg, &cc, &f);
    size_t any = 0;
    for (size_t k = 0; k < n; k++) {
        char lab[200];
        snprintf(lab, sizeof lab, "%s%s", s[k].name, m[k] ? "" : ": no data");
        if (m[k])
            cdf_path(&svg, &f, v[k], m[k], mc_svg_color(s[k].color));
        mc_frame_legend(&svg, &f, k, mc_svg_color(s[k].color), 0, lab);
        any += m[k];
    }
    if (!any)
        mc_frame_nodata(&svg, &f, "no data");
    mc_svg_close(&svg);
    e = mc_svg_finish(&svg, d);
out:
    for (size_t k = 0; v && k < n; k++)
        mc_free(v[k]);
    mc_free(v);
    mc_free(m);
    return e;
}
