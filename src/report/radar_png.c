/* radar_png.c: the CAP radar drawn with cairo into a PNG, from the same geometry as the SVG
 * (mc_radar_xy, the label positions and legend text of chart_radar.c). Depends on base, cairo. */
#include "report_int.h"

#include <cairo.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define PNG_MAX_BYTES ((size_t)64 << 20)

static void set_hex(cairo_t *cr, const char *hex, double alpha)
{
    unsigned v[3] = {0, 0, 0};
    for (int k = 0; k < 3; k++)
        for (int j = 0; j < 2; j++) {
            char ch = hex[1 + 2 * k + j];
            unsigned x = ch >= 'a' ? (unsigned)(ch - 'a' + 10) : (unsigned)(ch - '0');
            v[k] = v[k] * 16 + x;
        }
    cairo_set_source_rgba(cr, v[0] / 255.0, v[1] / 255.0, v[2] / 255.0, alpha);
}

/* Text at (x, y) with anchor 0 = start, 1 = middle, 2 = end (the SVG's text-anchor). */
static void text(cairo_t *cr, double x, double y, int anchor, double size, int bold,
                 const char *s)
{
    cairo_text_extents_t ext;
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
    cairo_text_extents(cr, s, &ext);
    cairo_move_to(cr, x - (anchor == 1 ? ext.x_advance / 2 : anchor == 2 ? ext.x_advance : 0), y);
    cairo_show_text(cr, s);
}

static void grid(cairo_t *cr, const mc_radar_chart *c)
{
    cairo_set_line_width(cr, 1);
    for (int k = 20; k <= 100; k += 20) {
        set_hex(cr, "#cccccc", 1);
        cairo_new_path(cr);
        cairo_arc(cr, 0, 0, k / 100.0 * MC_RADAR_R_PX, 0, 2 * M_PI);
        cairo_stroke(cr);
        char lab[8];
        snprintf(lab, sizeof lab, "%d", k);
        set_hex(cr, "#555555", 1);
        text(cr, 3, -k / 100.0 * MC_RADAR_R_PX - 2, 0, 10, 0, lab);
    }
    if (c->baseline > 0) {
        double dash[2] = {4, 3};
        set_hex(cr, "#999999", 1);
        cairo_set_dash(cr, dash, 2, 0);
        cairo_new_path(cr);
        cairo_arc(cr, 0, 0, c->baseline / 100.0 * MC_RADAR_R_PX, 0, 2 * M_PI);
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
    }
    for (int a = 0; a < MC_RADAR_AXES; a++) {
        double x, y;
        mc_radar_xy(a, 100, &x, &y);
        set_hex(cr, "#999999", 1);
        cairo_move_to(cr, 0, 0);
        cairo_line_to(cr, x, y);
        cairo_stroke(cr);
    }
}

static void axis_labels(cairo_t *cr, const mc_radar_chart *c)
{
    static const char *const def[MC_RADAR_AXES] = {"performance", "cost", "accuracy"};
    static const int anchor[MC_RADAR_AXES] = {0, 1, 2};
    set_hex(cr, "#222222", 1);
    for (int a = 0; a < MC_RADAR_AXES; a++) {
        const char *label = c->axis_label[a] ? c->axis_label[a] : def[a];
        char first[128];
        const char *paren = strstr(label, " (");
        size_t len = paren ? (size_t)(paren - label) : strlen(label);
        if (len > sizeof first - 1)
            len = sizeof first - 1;
        memcpy(first, label, len);
        first[len] = 0;
        double x, y;
        mc_radar_label_pos(a, &x, &y);
        text(cr, x, y, anchor[a], 14, 1, first);
        if (paren)
            text(cr, x, y + 15, anchor[a], 10, 0, paren + 1);
    }
}

static void polygons(cairo_t *cr, const mc_radar_chart *c)
{
    cairo_set_line_width(cr, 2);
    for (size_t i = 0; i < c->n; i++) {
        if (!mc_radar_has_any(&c->sys[i]))
            continue;
        cairo_new_path(cr);
        for (int a = 0; a < MC_RADAR_AXES; a++) {
            double r = isnan(c->sys[i].radius[a]) ? 0 : c->sys[i].radius[a], x, y;
            mc_radar_xy(a, r, &x, &y);
            cairo_line_to(cr, x, y);
        }
        cairo_close_path(cr);
        set_hex(cr, mc_svg_color(i), 0.15);
        cairo_fill_preserve(cr);
        set_hex(cr, mc_svg_color(i), 1);
        cairo_stroke(cr);
    }
}

static void legend(cairo_t *cr, const mc_radar_chart *c)
{
    double x = MC_RADAR_LEGEND_X, y = MC_RADAR_LEGEND_Y;
    for (size_t i = 0; i < c->n; i++, y += MC_RADAR_LEGEND_DY) {
        char l1[400], l2[400];
        mc_radar_legend_text(c, i, l1, l2);
        set_hex(cr, mc_svg_color(i), 1);
        cairo_rectangle(cr, x, y - 10, 12, 12);
        cairo_fill(cr);
        set_hex(cr, "#222222", 1);
        text(cr, x + 18, y, 0, 14, 1, c->sys[i].name);
        set_hex(cr, "#555555", 1);
        text(cr, x + 18, y + 15, 0, 10, 0, l1);
        text(cr, x + 18, y + 29, 0, 10, 0, l2);
    }
}

static cairo_status_t write_cb(void *closure, const unsigned char *data, unsigned int len)
{
    return mc_buf_append(closure, data, len) ? CAIRO_STATUS_WRITE_ERROR : CAIRO_STATUS_SUCCESS;
}

static void draw(cairo_t *cr, const mc_radar_chart *c, double scale)
{
    cairo_scale(cr, scale, scale);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    set_hex(cr, "#222222", 1);
    text(cr, 16, 22, 0, 14, 1, c->title ? c->title : "CAP radar");
    cairo_save(cr);
    cairo_translate(cr, MC_RADAR_CX, MC_RADAR_CY);
    grid(cr, c);
    axis_labels(cr, c);
    polygons(cr, c);
    cairo_restore(cr);
    legend(cr, c);
}

mc_err mc_radar_png(const mc_radar_chart *c, double scale, mc_buf *out, mc_diag *d)
{
    if (!(scale >= 0.25 && scale <= 8))
        return mc_fail(d, MC_ERR_RANGE, "radar png: scale %g must be in [0.25, 8]", scale);
    int w = (int)ceil(MC_RADAR_W * scale), h = (int)ceil(mc_radar_height(c) * scale);
    cairo_surface_t *sf = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, h);
    cairo_t *cr = NULL;
    mc_err e = MC_OK;
    if (cairo_surface_status(sf) != CAIRO_STATUS_SUCCESS) {
        e = mc_fail(d, MC_ERR_NOMEM, "radar png: cannot create a %d x %d image", w, h);
        goto out;
    }
    cr = cairo_create(sf);
    draw(cr, c, scale);
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
        e = mc_fail(d, MC_ERR_INTERNAL, "radar png: cairo: %s",
                    cairo_status_to_string(cairo_status(cr)));
        goto out;
    }
    cairo_surface_flush(sf);
    size_t max_before = out->max;
    if (out->max == 0 || out->max > PNG_MAX_BYTES)
        out->max = PNG_MAX_BYTES;
    cairo_status_t st = cairo_surface_write_to_png_stream(sf, write_cb, out);
    out->max = max_before;
    if (st != CAIRO_STATUS_SUCCESS)
        e = mc_fail(d, MC_ERR_IO, "radar png: encoding failed: %s", cairo_status_to_string(st));
out:
    if (cr)
        cairo_destroy(cr);
    cairo_surface_destroy(sf);
    return e;
}
