/* svg.c: the SVG writer every chart uses: sticky-error appends into an mc_buf, XML escaping,
 * compact number formatting (so the same input gives the same bytes), the series palette and
 * the sequential colour scale. Depends on base only. */
#include "report.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void mc_svg_init(mc_svg *s, mc_buf *b)
{
    memset(s, 0, sizeof *s);
    s->b = b;
}

void mc_svg_fmt(char out[32], double v)
{
    if (!isfinite(v)) {
        snprintf(out, 32, "0");
        return;
    }
    double r = round(v * 100) / 100;
    if (r == 0)
        r = 0; /* no "-0" */
    snprintf(out, 32, "%.2f", r);
    char *dot = strchr(out, '.');
    if (!dot)
        return;
    char *end = out + strlen(out) - 1;
    while (end > dot && *end == '0')
        *end-- = 0;
    if (end == dot)
        *end = 0;
}

const char *mc_svg_n(mc_svg *s, double v)
{
    char *p = s->num[s->ring++ % MC_SVG_NUMBUF];
    mc_svg_fmt(p, v);
    return p;
}

void mc_svg_raw(mc_svg *s, const char *fmt, ...)
{
    if (s->err)
        return;
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        s->err = MC_ERR_INTERNAL; /* a fragment longer than 1 KiB is a bug in the caller */
        return;
    }
    s->err = mc_buf_append(s->b, tmp, (size_t)n);
}

void mc_svg_esc(mc_svg *s, const char *text)
{
    for (const char *p = text ? text : ""; *p && !s->err; p++) {
        const char *rep = NULL;
        switch (*p) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default: break;
        }
        if (rep)
            s->err = mc_buf_append(s->b, rep, strlen(rep));
        else if ((unsigned char)*p >= 0x20 || *p == '\n' || *p == '\t')
            s->err = mc_buf_append(s->b, p, 1);
        /* other control characters are not allowed in XML: dropped */
    }
}

void mc_svg_text(mc_svg *s, double x, double y, const char *anchor, const char *cls,
                 const char *text)
{
    mc_svg_raw(s, "<text x=\"%s\" y=\"%s\"", mc_svg_n(s, x), mc_svg_n(s, y));
    if (anchor && strcmp(anchor, "start") != 0)
        mc_svg_raw(s, " text-anchor=\"%s\"", anchor);
    if (cls)
        mc_svg_raw(s, " class=\"%s\"", cls);
    mc_svg_raw(s, ">");
    mc_svg_esc(s, text);
    mc_svg_raw(s, "</text>\n");
}

void mc_svg_line(mc_svg *s, double x1, double y1, double x2, double y2, const char *cls)
{
    mc_svg_raw(s, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" class=\"%s\"/>\n",
               mc_svg_n(s, x1), mc_svg_n(s, y1), mc_svg_n(s, x2), mc_svg_n(s, y2), cls);
}

/* Presentation attributes live in a <style> inside each SVG, so a chart stands alone (as a .svg
 * file) and inside the HTML report alike. */
static const char svg_style[] =
    "<style>text{font-family:sans-serif;font-size:12px;fill:#222}"
    ".title{font-size:14px;font-weight:bold}.small{font-size:10px;fill:#555}"
    ".axis{stroke:#444;stroke-width:1}.grid{stroke:#ddd;stroke-width:1}"
    ".ring{fill:none;stroke:#ccc;stroke-width:1}.base{fill:none;stroke:#999;stroke-width:1;"
    "stroke-dasharray:4 3}.spoke{stroke:#999;stroke-width:1}"
    ".line{fill:none;stroke-width:2}.predicted{stroke-dasharray:6 4}"
    ".predicted.calibrated{stroke-dasharray:2 3}"
    ".cdf{fill:none;stroke-width:2}.radar-sys{stroke-width:2;fill-opacity:0.15}"
    ".nodata{fill:#888;font-style:italic}</style>\n";

void mc_svg_open(mc_svg *s, int w, int h, const char *cls, const char *title)
{
    mc_svg_raw(s,
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" class=\"%s\" role=\"img\">\n<title>",
               w, h, w, h, cls);
    mc_svg_esc(s, title);
    mc_svg_raw(s, "</title>\n");
    if (!s->err)
        s->err = mc_buf_append(s->b, svg_style, sizeof svg_style - 1);
    mc_svg_raw(s, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n", w, h);
}

void mc_svg_close(mc_svg *s) { mc_svg_raw(s, "</svg>\n"); }

mc_err mc_svg_finish(const mc_svg *s, mc_diag *d)
{
    if (!s->err)
        return MC_OK;
    if (s->err == MC_ERR_NOMEM)
        return mc_fail(d, s->err, "svg: out of memory");
    if (s->err == MC_ERR_RANGE)
        return mc_fail(d, s->err, "svg: output larger than its cap");
    return mc_fail(d, s->err, "svg: %s", mc_err_name(s->err));
}

/* Okabe-Ito colours (distinguishable with the common colour-vision deficiencies), then greys. */
static const char *const palette[] = {"#0072b2", "#d55e00", "#009e73", "#cc79a7",
                                      "#e69f00", "#56b4e9", "#7f7f7f", "#000000"};

const char *mc_svg_color(size_t i) { return palette[i % (sizeof palette / sizeof *palette)]; }

/* Five anchors of a perceptually ordered scale (viridis' ends and quartiles), interpolated. */
static const unsigned char scale_rgb[5][3] = {
    {0x44, 0x01, 0x54}, {0x3b, 0x52, 0x8b}, {0x21, 0x91, 0x8c}, {0x5e, 0xc9, 0x62},
    {0xfd, 0xe7, 0x25}};

void mc_svg_scale_color(double t, char out[8])
{
    if (!(t >= 0))
        t = 0;
    if (t > 1)
        t = 1;
    double pos = t * 4;
    int i = (int)pos;
    if (i > 3)
        i = 3;
    double f = pos - i;
    int c[3];
    for (int k = 0; k < 3; k++)
        c[k] = (int)lround(scale_rgb[i][k] + f * (scale_rgb[i + 1][k] - scale_rgb[i][k]));
    snprintf(out, 8, "#%02x%02x%02x", c[0], c[1], c[2]);
}
