/* chart_heat.c: a heat map (rows x columns of non-negative values, e.g. layer x expert token
 * counts) with a colour legend, as SVG text. Pure: data in, SVG out. Depends on base only. */
#include "report_int.h"

#include <math.h>
#include <stdio.h>

#define HEAT_MAX_CELLS (1 << 20)
#define LEFT 64.0
#define TOP 36.0

typedef struct heat_geom {
    double cw, ch;  /* cell size */
    double w, h;    /* whole chart */
    double max;     /* largest value (0 when all zero) */
} heat_geom;

static double clampd(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

static void heat_layout(const mc_heat *h, heat_geom *g)
{
    g->cw = floor(clampd(560.0 / (double)h->cols, 3, 28));
    g->ch = floor(clampd(320.0 / (double)h->rows, 3, 22));
    g->w = LEFT + g->cw * (double)h->cols + 130;
    if (g->w < 460)
        g->w = 460; /* room for the title */
    g->h = TOP + g->ch * (double)h->rows + 44;
    if (g->h < TOP + 200)
        g->h = TOP + 200; /* room for the legend */
    g->max = 0;
    for (int64_t i = 0; i < h->rows * h->cols; i++)
        if (h->v[i] > g->max)
            g->max = h->v[i];
}

static void heat_cells(mc_svg *s, const mc_heat *h, const heat_geom *g)
{
    char col[8], val[40];
    for (int64_t r = 0; r < h->rows; r++)
        for (int64_t c = 0; c < h->cols; c++) {
            double v = h->v[r * h->cols + c];
            mc_svg_scale_color(g->max > 0 ? v / g->max : 0, col);
            mc_report_fmt_value(v, val);
            mc_svg_raw(s, "<rect class=\"heat\" x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" "
                          "fill=\"%s\"><title>", mc_svg_n(s, LEFT + g->cw * (double)c),
                       mc_svg_n(s, TOP + g->ch * (double)r), mc_svg_n(s, g->cw),
                       mc_svg_n(s, g->ch), col);
            mc_svg_esc(s, h->row_label);
            mc_svg_raw(s, " %lld, ", (long long)r);
            mc_svg_esc(s, h->col_label);
            mc_svg_raw(s, " %lld: %s</title></rect>\n", (long long)c, val);
        }
}

/* Row and column numbers, thinned so they do not overlap. */
static void heat_labels(mc_svg *s, const mc_heat *h, const heat_geom *g)
{
    char lab[32];
    int64_t rstep = (int64_t)ceil(12.0 / g->ch), cstep = (int64_t)ceil(22.0 / g->cw);
    for (int64_t r = 0; r < h->rows; r += rstep) {
        snprintf(lab, sizeof lab, "%lld", (long long)r);
        mc_svg_text(s, LEFT - 4, TOP + g->ch * ((double)r + 0.5) + 3.5, "end", "small", lab);
    }
    double yb = TOP + g->ch * (double)h->rows;
    for (int64_t c = 0; c < h->cols; c += cstep) {
        snprintf(lab, sizeof lab, "%lld", (long long)c);
        mc_svg_text(s, LEFT + g->cw * ((double)c + 0.5), yb + 13, "middle", "small", lab);
    }
    mc_svg_text(s, LEFT + g->cw * (double)h->cols / 2, yb + 32, "middle", NULL, h->col_label);
    double ym = TOP + g->ch * (double)h->rows / 2;
    mc_svg_raw(s, "<text x=\"16\" y=\"%s\" text-anchor=\"middle\" transform=\"rotate(-90 16 %s)\">",
               mc_svg_n(s, ym), mc_svg_n(s, ym));
    mc_svg_esc(s, h->row_label);
    mc_svg_raw(s, "</text>\n");
}

/* A vertical bar of 10 steps, the maximum at the top. */
static void heat_legend(mc_svg *s, const mc_heat *h, const heat_geom *g)
{
    double x = LEFT + g->cw * (double)h->cols + 24, y = TOP, step = 16;
    char col[8], lab[40];
    for (int i = 0; i < 10; i++) {
        mc_svg_scale_color(1 - (i + 0.5) / 10, col);
        mc_svg_raw(s, "<rect class=\"heat-legend\" x=\"%s\" y=\"%s\" width=\"14\" height=\"%s\" "
                      "fill=\"%s\"/>\n", mc_svg_n(s, x), mc_svg_n(s, y + step * i),
                   mc_svg_n(s, step), col);
    }
    mc_report_fmt_value(g->max, lab);
    mc_svg_text(s, x + 20, y + 9, NULL, "small", lab);
    mc_svg_text(s, x + 20, y + step * 10, NULL, "small", "0");
    mc_svg_text(s, x, y + step * 10 + 18, NULL, "small", h->value_label);
}

mc_err mc_chart_heat(const mc_heat *h, mc_buf *out, mc_diag *d)
{
    if (h->rows <= 0 || h->cols <= 0 || h->rows > HEAT_MAX_CELLS / h->cols)
        return mc_fail(d, MC_ERR_RANGE, "heat map: %lld x %lld cells (1 to %d)",
                       (long long)h->rows, (long long)h->cols, HEAT_MAX_CELLS);
    for (int64_t i = 0; i < h->rows * h->cols; i++)
        if (!(h->v[i] >= 0) || !isfinite(h->v[i]))
            return mc_fail(d, MC_ERR_RANGE, "heat map: cell %lld is %g (must be >= 0)",
                           (long long)i, h->v[i]);
    heat_geom g;
    heat_layout(h, &g);
    mc_svg s;
    mc_svg_init(&s, out);
    mc_svg_open(&s, (int)g.w, (int)g.h, "chart heatmap", h->title);
    mc_svg_text(&s, LEFT, 18, NULL, "title", h->title);
    heat_cells(&s, h, &g);
    heat_labels(&s, h, &g);
    heat_legend(&s, h, &g);
    mc_svg_close(&s);
    return mc_svg_finish(&s, d);
}
