/* chart_radar.c: the CAP radar: normalisation of raw values through src/cap's mc_radar_*
 * (docs/METRICS.md section 8; not re-implemented here), the geometry shared with the PNG, and
 * the SVG. Pure: data in, SVG out. Depends on base and cap (radar.c) only. */
#include "cap.h"
#include "report_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const axis_key[MC_RADAR_AXES] = {"performance", "cost", "accuracy"};

/* Values must be >= 0 (accuracy also <= 1); checked here so the message names the system. */
static mc_err check_values(const mc_radar_chart *c, int a, mc_diag *d)
{
    for (size_t i = 0; i < c->n; i++) {
        double v = c->sys[i].value[a];
        if (isnan(v))
            continue;
        if (!isfinite(v) || v < 0 || (a == MC_RADAR_ACC && v > 1))
            return mc_fail(d, MC_ERR_RANGE, "radar: system '%s': %s %g is not in [0, %s]",
                           c->sys[i].name, axis_key[a], v, a == MC_RADAR_ACC ? "1" : "inf");
    }
    return MC_OK;
}

static mc_err normalise_axis(mc_radar_chart *c, int a, double *v, double *r, size_t *idx,
                             mc_diag *d)
{
    size_t m = 0;
    double maxv = 0;
    for (size_t i = 0; i < c->n; i++) {
        c->sys[i].radius[a] = NAN;
        if (!isnan(c->sys[i].value[a])) {
            idx[m] = i;
            v[m++] = c->sys[i].value[a];
            maxv = fmax(maxv, c->sys[i].value[a]);
        }
    }
    if (m == 0)
        return MC_OK;
    mc_err e;
    if (a == MC_RADAR_PERF)
        e = mc_radar_performance(v, m, c->baseline, r, d);
    else if (a == MC_RADAR_ACC)
        e = mc_radar_accuracy(v, m, c->baseline, r, d);
    else {
        if (!(c->cost_ceiling > 0)) /* no ceiling given: the largest cost (all free: 1) */
            c->cost_ceiling = maxv > 0 ? maxv : 1;
        e = mc_radar_cost(v, m, c->cost_ceiling, c->baseline, r, d);
    }
    for (size_t k = 0; k < m && !e; k++)
        c->sys[idx[k]].radius[a] = r[k];
    return e;
}

mc_err mc_radar_normalise(mc_radar_chart *c, mc_diag *d)
{
    size_t n = c->n ? c->n : 1;
    double *v = mc_mallocarray(n, sizeof *v), *r = mc_mallocarray(n, sizeof *r);
    size_t *idx = mc_mallocarray(n, sizeof *idx);
    mc_err e = MC_OK;
    if (!v || !r || !idx)
        e = mc_fail(d, MC_ERR_NOMEM, "radar: out of memory");
    if (!e && !(c->baseline >= 0 && c->baseline < 100))
        e = mc_fail(d, MC_ERR_RANGE, "radar: baseline %g must be in [0, 100)", c->baseline);
    for (int a = 0; a < MC_RADAR_AXES && !e; a++) {
        e = check_values(c, a, d);
        if (!e)
            e = normalise_axis(c, a, v, r, idx, d);
    }
    mc_free(v);
    mc_free(r);
    mc_free(idx);
    return e;
}

void mc_radar_xy(int axis, double r, double *x, double *y)
{
    /* performance at 30 degrees, then clockwise by 120 degrees (the reference's rotation 30) */
    double th = (30.0 - 120.0 * axis) * M_PI / 180.0;
    double px = r / 100.0 * MC_RADAR_R_PX;
    *x = px * cos(th);
    *y = -px * sin(th);
}

/* ---- SVG ---- */

static void radar_grid(mc_svg *s, const mc_radar_chart *c)
{
    char lab[16];
    for (int k = 20; k <= 100; k += 20) {
        mc_svg_raw(s, "<circle class=\"ring\" cx=\"0\" cy=\"0\" r=\"%s\"/>\n",
                   mc_svg_n(s, k / 100.0 * MC_RADAR_R_PX));
        snprintf(lab, sizeof lab, "%d", k);
        mc_svg_text(s, 3, -k / 100.0 * MC_RADAR_R_PX - 2, NULL, "small", lab);
    }
    if (c->baseline > 0)
        mc_svg_raw(s, "<circle class=\"base\" cx=\"0\" cy=\"0\" r=\"%s\"/>\n",
                   mc_svg_n(s, c->baseline / 100.0 * MC_RADAR_R_PX));
    for (int a = 0; a < MC_RADAR_AXES; a++) {
        double x, y;
        mc_radar_xy(a, 100, &x, &y);
        mc_svg_line(s, 0, 0, x, y, "spoke");
    }
}

/* An axis label, split in two lines at " (" ("Cost ($)" -> "Cost" / "($)"). */
static void radar_axis_label(mc_svg *s, int a, const char *label)
{
    static const char *const anchor[MC_RADAR_AXES] = {"start", "middle", "end"};
    double x, y;
    mc_radar_label_pos(a, &x, &y);
    char first[128];
    const char *paren = strstr(label, " (");
    size_t len = paren ? (size_t)(paren - label) : strlen(label);
    snprintf(first, sizeof first, "%.*s", (int)(len < 127 ? len : 127), label);
    mc_svg_text(s, x, y, anchor[a], "title", first);
    if (paren)
        mc_svg_text(s, x, y + 15, anchor[a], "small", paren + 1);
}

void mc_radar_raw_text(const mc_radar_chart *c, const mc_radar_sys *sy, int a, char out[96])
{
    char v[40];
    mc_report_fmt_value(sy->value[a], v);
    if (isnan(sy->value[a])) {
        snprintf(out, 96, "no %s", axis_key[a]);
        return;
    }
    snprintf(out, 96, "%s%s%s", c->prefix[a] ? c->prefix[a] : "", v,
             c->suffix[a] ? c->suffix[a] : "");
}

void mc_radar_legend_text(const mc_radar_chart *c, size_t i, char l1[400], char l2[400])
{
    const mc_radar_sys *sy = &c->sys[i];
    char raw[3][96], rad[3][40];
    for (int a = 0; a < MC_RADAR_AXES; a++) {
        mc_radar_raw_text(c, sy, a, raw[a]);
        mc_report_fmt_value(sy->radius[a], rad[a]);
    }
    snprintf(l1, 400, "%s \xc2\xb7 %s \xc2\xb7 %s", raw[0], raw[1], raw[2]);
    if (sy->note && *sy->note)
        snprintf(l2, 400, "%s", sy->note);
    else
        snprintf(l2, 400, "radii %s / %s / %s", rad[0], rad[1], rad[2]);
}

int mc_radar_height(const mc_radar_chart *c)
{
    int h = MC_RADAR_LEGEND_Y + MC_RADAR_LEGEND_DY * (int)c->n;
    return h > MC_RADAR_H ? h : MC_RADAR_H;
}

void mc_radar_label_pos(int a, double *x, double *y)
{
    mc_radar_xy(a, 100, x, y);
    *x += a == MC_RADAR_PERF ? 10 : a == MC_RADAR_ACC ? -10 : 0;
    *y += a == MC_RADAR_COST ? 20 : -6;
}

int mc_radar_has_any(const mc_radar_sys *sy)
{
    return !isnan(sy->radius[0]) || !isnan(sy->radius[1]) || !isnan(sy->radius[2]);
}

static void radar_polygon(mc_svg *s, const mc_radar_chart *c, size_t i)
{
    const mc_radar_sys *sy = &c->sys[i];
    const char *col = mc_svg_color(i);
    mc_svg_raw(s, "<polygon class=\"radar-sys\" stroke=\"%s\" fill=\"%s\" points=\"", col, col);
    for (int a = 0; a < MC_RADAR_AXES; a++) {
        double x, y;
        mc_radar_xy(a, isnan(sy->radius[a]) ? 0 : sy->radius[a], &x, &y);
        mc_svg_raw(s, "%s%s,%s", a ? " " : "", mc_svg_n(s, x), mc_svg_n(s, y));
    }
    mc_svg_raw(s, "\"><title>");
    mc_svg_esc(s, sy->name);
    for (int a = 0; a < MC_RADAR_AXES; a++) {
        char raw[96];
        mc_radar_raw_text(c, sy, a, raw);
        mc_svg_raw(s, "%s", a ? "; " : ": ");
        mc_svg_esc(s, raw);
    }
    mc_svg_raw(s, "</title></polygon>\n");
}

/* Legend: name, raw values, radii (or a note) per system. */
static void radar_legend(mc_svg *s, const mc_radar_chart *c)
{
    double x = MC_RADAR_LEGEND_X, y = MC_RADAR_LEGEND_Y;
    for (size_t i = 0; i < c->n; i++, y += MC_RADAR_LEGEND_DY) {
        char l1[400], l2[400];
        mc_radar_legend_text(c, i, l1, l2);
        mc_svg_raw(s, "<rect x=\"%s\" y=\"%s\" width=\"12\" height=\"12\" fill=\"%s\"/>\n",
                   mc_svg_n(s, x), mc_svg_n(s, y - 10), mc_svg_color(i));
        mc_svg_text(s, x + 18, y, NULL, "title", c->sys[i].name);
        mc_svg_text(s, x + 18, y + 15, NULL, "small", l1);
        mc_svg_text(s, x + 18, y + 29, NULL, "small", l2);
    }
}

mc_err mc_chart_radar(const mc_radar_chart *c, mc_buf *out, mc_diag *d)
{
    mc_svg s;
    mc_svg_init(&s, out);
    mc_svg_open(&s, MC_RADAR_W, mc_radar_height(c), "chart radar", c->title ? c->title : "CAP radar");
    mc_svg_text(&s, 16, 22, NULL, "title", c->title ? c->title : "CAP radar");
    mc_svg_raw(&s, "<g transform=\"translate(%s %s)\">\n", mc_svg_n(&s, MC_RADAR_CX),
               mc_svg_n(&s, MC_RADAR_CY));
    radar_grid(&s, c);
    for (int a = 0; a < MC_RADAR_AXES; a++)
        radar_axis_label(&s, a, c->axis_label[a] ? c->axis_label[a] : axis_key[a]);
    for (size_t i = 0; i < c->n; i++)
        if (mc_radar_has_any(&c->sys[i]))
            radar_polygon(&s, c, i);
    mc_svg_raw(&s, "</g>\n");
    radar_legend(&s, c);
    if (c->n == 0)
        mc_svg_text(&s, MC_RADAR_CX, MC_RADAR_CY, "middle", "nodata", "no systems");
    mc_svg_close(&s);
    return mc_svg_finish(&s, d);
}
