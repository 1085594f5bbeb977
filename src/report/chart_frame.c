/* chart_frame.c: the frame of an x-y chart (plot area, scales, grid, axes, ticks, labels,
 * legend) shared by the line and CDF charts, and the number format for people. Depends on base
 * only. */
#include "report_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MARGIN_L 64.0
#define MARGIN_R 190.0 /* the legend */
#define MARGIN_T 34.0
#define MARGIN_B 46.0

void mc_frame_layout(const mc_chart *c, double xlo, double xhi, double ylo, double yhi,
                     mc_frame *f)
{
    memset(f, 0, sizeof *f);
    f->w = c->width > 0 ? c->width : 540;
    f->h = c->height > 0 ? c->height : 320;
    f->x0 = MARGIN_L;
    f->x1 = f->w - MARGIN_R;
    f->y0 = MARGIN_T;
    f->y1 = f->h - MARGIN_B;
    f->x_log2 = c->x_log2 && xlo > 0 && isfinite(xhi);
    if (f->x_log2)
        mc_ticks_log2(xlo, xhi, &f->tx);
    else
        mc_ticks_linear(xlo, xhi, 5, &f->tx);
    if (c->y_from_zero && isfinite(ylo) && ylo > 0)
        ylo = 0;
    mc_ticks_linear(ylo, yhi, 5, &f->ty);
    f->sx = (mc_scale){f->tx.lo, f->tx.hi, f->x0, f->x1, f->x_log2};
    f->sy = (mc_scale){f->ty.lo, f->ty.hi, f->y1, f->y0, 0};
}

static void draw_ticks(mc_svg *s, const mc_frame *f)
{
    char lab[32];
    for (size_t i = 0; i < f->tx.n; i++) {
        double x = mc_scale_map(&f->sx, f->tx.v[i]);
        mc_svg_line(s, x, f->y0, x, f->y1, "grid");
        mc_svg_line(s, x, f->y1, x, f->y1 + 4, "axis");
        mc_ticks_label(&f->tx, f->tx.v[i], lab);
        mc_svg_text(s, x, f->y1 + 16, "middle", "small", lab);
    }
    for (size_t i = 0; i < f->ty.n; i++) {
        double y = mc_scale_map(&f->sy, f->ty.v[i]);
        mc_svg_line(s, f->x0, y, f->x1, y, "grid");
        mc_svg_line(s, f->x0 - 4, y, f->x0, y, "axis");
        mc_ticks_label(&f->ty, f->ty.v[i], lab);
        mc_svg_text(s, f->x0 - 7, y + 3.5, "end", "small", lab);
    }
}

void mc_frame_draw(mc_svg *s, const mc_chart *c, const mc_frame *f)
{
    mc_svg_open(s, f->w, f->h, "chart", c->title);
    mc_svg_text(s, f->x0, 18, NULL, "title", c->title);
    draw_ticks(s, f);
    mc_svg_line(s, f->x0, f->y1, f->x1, f->y1, "axis");
    mc_svg_line(s, f->x0, f->y0, f->x0, f->y1, "axis");
    mc_svg_text(s, (f->x0 + f->x1) / 2, f->h - 8, "middle", NULL, c->x_label);
    double ym = (f->y0 + f->y1) / 2;
    mc_svg_raw(s, "<text x=\"14\" y=\"%s\" text-anchor=\"middle\" transform=\"rotate(-90 14 %s)\">",
               mc_svg_n(s, ym), mc_svg_n(s, ym));
    mc_svg_esc(s, c->y_label);
    mc_svg_raw(s, "</text>\n");
}

const char *mc_series_class(int dashed)
{
    return dashed == MC_SERIES_CALIBRATED ? " predicted calibrated"
           : dashed                      ? " predicted"
                                         : "";
}

void mc_frame_legend(mc_svg *s, const mc_frame *f, size_t i, const char *color, int dashed,
                     const char *label)
{
    double x = f->x1 + 14, y = f->y0 + 8 + 18.0 * (double)i;
    mc_svg_raw(s, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" class=\"line%s\" stroke=\"%s\"/>\n",
               mc_svg_n(s, x), mc_svg_n(s, y), mc_svg_n(s, x + 22), mc_svg_n(s, y),
               mc_series_class(dashed), color);
    mc_svg_text(s, x + 28, y + 4, NULL, NULL, label);
}

void mc_frame_nodata(mc_svg *s, const mc_frame *f, const char *text)
{
    mc_svg_text(s, (f->x0 + f->x1) / 2, (f->y0 + f->y1) / 2, "middle", "nodata", text);
}

void mc_report_fmt_value(double v, char out[40])
{
    if (!isfinite(v)) {
        snprintf(out, 40, "n/a");
        return;
    }
    double a = fabs(v);
    if (a >= 1000 && a < 1e15) { /* "8,920" */
        char tmp[32];
        snprintf(tmp, sizeof tmp, "%.0f", v);
        mc_report_group_thousands(tmp, out);
        return;
    }
    snprintf(out, 40, "%.4g", v);
}
