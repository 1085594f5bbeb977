/* report: SVG charts, the CAP radar (SVG and PNG), and the HTML report of `moecap run` results.
 *
 *   svg        a small SVG writer: escaping, compact numbers, a palette            (svg.c)
 *   axis       linear / log2 scales with nice ticks                              (axis.c)
 *   charts     radar, x-y lines (measured solid, predicted dashed), empirical CDF,
 *              heat map: pure functions, data in, SVG text out, same input ->
 *              same bytes                                         (chart_*.c)
 *   radar      the radar input (the MoE-CAP reference's YAML, or JSON with the same keys),
 *              normalisation through src/cap mc_radar_*, PNG through cairo (radar_*.c)
 *   rundir     a run directory (docs/RUNDIR.md) read into report data          (rundir*.c)
 *   html       the self-contained HTML report                                  (html*.c)
 *
 * Ownership: functions that fill an mc_buf append to it (the caller owns it); objects from
 * _load/_new are freed with their _free (NULL is a no-op). Returned pointers into an object live
 * as long as it. Errors: mc_err with a one-line message in the mc_diag naming the file or key.
 * Thread safety: reentrant. Nothing here prints. */
#ifndef MC_REPORT_H
#define MC_REPORT_H

#include "base.h"

#include <stddef.h>
#include <stdint.h>

/* ==== SVG writer =============================================================================== */

#define MC_SVG_NUMBUF 16 /* number strings one mc_svg_n() caller may hold at once */

/* Appends SVG text to a buffer. The first error sticks (later calls do nothing), so chart code
 * writes freely and checks mc_svg_finish() once. */
typedef struct mc_svg {
    mc_buf *b;
    mc_err err;
    unsigned ring;
    char num[MC_SVG_NUMBUF][32];
} mc_svg;

void mc_svg_init(mc_svg *s, mc_buf *b);
/* Compact number: at most 2 decimals, no trailing zeros, no "-0" ("12.5", "3", "0.07"). */
void mc_svg_fmt(char out[32], double v);
/* The same into one of MC_SVG_NUMBUF rotating buffers inside s (valid for the next 15 calls). */
const char *mc_svg_n(mc_svg *s, double v);
/* Appends printf output as is (markup: the caller escapes text with mc_svg_esc). */
void mc_svg_raw(mc_svg *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends text with & < > " ' escaped. */
void mc_svg_esc(mc_svg *s, const char *text);
/* <text x y class text-anchor>escaped text</text>; anchor NULL = start. */
void mc_svg_text(mc_svg *s, double x, double y, const char *anchor, const char *cls,
                 const char *text);
void mc_svg_line(mc_svg *s, double x1, double y1, double x2, double y2, const char *cls);
/* <svg> root with width, height, viewBox, and a <title>; mc_svg_close() ends it. */
void mc_svg_open(mc_svg *s, int w, int h, const char *cls, const char *title);
void mc_svg_close(mc_svg *s);
mc_err mc_svg_finish(const mc_svg *s, mc_diag *d); /* the sticky error, with a message */

/* Series colours (colour-blind safe), "#rrggbb"; index taken modulo the palette size. */
const char *mc_svg_color(size_t i);
/* Sequential colour scale for t in [0, 1] (dark blue-purple -> yellow), written as "#rrggbb". */
void mc_svg_scale_color(double t, char out[8]);

/* ==== scales and ticks ========================================================================= */

typedef struct mc_scale {
    double d0, d1; /* domain (d0 < d1; for log, both > 0) */
    double r0, r1; /* range in pixels */
    int log2;      /* logarithmic (base 2) */
} mc_scale;

double mc_scale_map(const mc_scale *s, double v);

#define MC_TICKS_MAX 32
typedef struct mc_ticks {
    double v[MC_TICKS_MAX];
    size_t n;
    double lo, hi;   /* the domain, widened to the outer ticks */
    int decimals;    /* decimals that print every tick exactly (linear) */
} mc_ticks;

/* Nice linear ticks (steps 1, 2, 2.5, 5 x 10^k), about `want` of them, covering [lo, hi]. lo == hi
 * widens the range; non-finite input gives the ticks of [0, 1]. */
void mc_ticks_linear(double lo, double hi, int want, mc_ticks *t);
/* Powers of two covering [lo, hi] (lo > 0), every other one (or fewer) past 12 ticks. */
void mc_ticks_log2(double lo, double hi, mc_ticks *t);
/* A tick label: decimals as t->decimals (linear), thousands separators from 10,000 on. */
void mc_ticks_label(const mc_ticks *t, double v, char out[32]);

/* ==== charts ================================================================================== */

typedef struct mc_xy_series {
    const char *name;
    const double *x, *y; /* n points; a point with a non-finite x or y is skipped */
    size_t n;
    size_t color;        /* palette index */
    int dashed;          /* predicted values: dashed line, hollow markers (MC_SERIES_*) */
} mc_xy_series;

/* mc_xy_series.dashed: 0 measured (solid); 1 predicted (class "predicted", long dashes); 2 a
 * calibrated prediction (classes "predicted calibrated", short dashes). */
#define MC_SERIES_PREDICTED 1
#define MC_SERIES_CALIBRATED 2

typedef struct mc_chart {
    const char *title, *x_label, *y_label;
    int width, height;   /* pixels; 0 = 520 x 320 */
    int x_log2;          /* log2 x axis (batch size, concurrency); falls back to linear if x <= 0 */
    int y_from_zero;     /* y axis starts at 0 */
} mc_chart;

/* Lines with markers, one per series (class "series"; path class "line", "line predicted" or
 * "line predicted calibrated").
 * A chart with no points says "no data". */
mc_err mc_chart_xy(const mc_chart *c, const mc_xy_series *s, size_t n, mc_buf *out, mc_diag *d);
/* Empirical CDFs: series x = the samples (y unused), one step <path class="cdf"> per series with
 * at least one finite sample; the legend names the series with no data. */
mc_err mc_chart_cdf(const mc_chart *c, const mc_xy_series *s, size_t n, mc_buf *out, mc_diag *d);

typedef struct mc_heat {
    const char *title, *row_label, *col_label, *value_label;
    int64_t rows, cols;
    const double *v;     /* [rows][cols] row-major, values >= 0 */
} mc_heat;

/* One <rect class="heat"> per cell (row 0 at the top), a colour legend (class "heat-legend")
 * from 0 to the maximum, a <title> per cell with its value. */
mc_err mc_chart_heat(const mc_heat *h, mc_buf *out, mc_diag *d);

/* ==== the CAP radar ============================================================================ */

enum { MC_RADAR_PERF = 0, MC_RADAR_COST = 1, MC_RADAR_ACC = 2, MC_RADAR_AXES = 3 };

/* Geometry shared by the SVG and the PNG: the radar's centre, the pixel length of radius 100 and
 * the axis angles (performance at 30 degrees, then clockwise 120 degrees apart, as the MoE-CAP
 * reference's plot: rotation 30, clockwise). */
#define MC_RADAR_W 860
#define MC_RADAR_H 500
#define MC_RADAR_CX 280.0
#define MC_RADAR_CY 265.0
#define MC_RADAR_R_PX 190.0

typedef struct mc_radar_sys {
    const char *name;
    double value[MC_RADAR_AXES];  /* raw values; NaN = missing */
    double radius[MC_RADAR_AXES]; /* 0..100 after normalisation; NaN = missing */
    const char *note;             /* shown in the legend (e.g. "failed: ..."), or NULL */
} mc_radar_sys;

typedef struct mc_radar_chart {
    const char *title;
    const char *axis_label[MC_RADAR_AXES];
    const char *prefix[MC_RADAR_AXES], *suffix[MC_RADAR_AXES]; /* around raw values; NULL = "" */
    double baseline;
    double cost_ceiling;
    mc_radar_sys *sys;
    size_t n;
} mc_radar_chart;

/* Fills every radius from the values: each axis is normalised over the systems that have a value
 * (src/cap mc_radar_performance / _cost / _accuracy, docs/METRICS.md section 8); a missing value
 * keeps radius NaN. Errors name the axis and system. */
mc_err mc_radar_normalise(mc_radar_chart *c, mc_diag *d);
/* Pixel position (relative to the centre, y down) of radius r (0..100) on an axis. */
void mc_radar_xy(int axis, double r, double *x, double *y);
/* The SVG: rings at 20..100 and the baseline, axes with labels, one <polygon class="radar-sys">
 * per system with at least one value (a missing value sits at the centre), a legend with raw
 * values. Polygon points are relative to the centre (a translate()). */
mc_err mc_chart_radar(const mc_radar_chart *c, mc_buf *out, mc_diag *d);
/* The same geometry drawn with cairo as a PNG (scale x the SVG's pixel size) into out. */
mc_err mc_radar_png(const mc_radar_chart *c, double scale, mc_buf *out, mc_diag *d);

/* Radar input: the reference's radar YAML (model_name, axis_labels, axis_keys, baseline, ticks,
 * data {system: {key: value}}) or JSON with the same keys, plus optional cost_ceiling. The cost
 * ceiling is cost_ceiling, else the second-to-last tick (the reference's rule; the only tick when
 * there is one), else the largest cost. Parsed from text (name is for messages). */
typedef struct mc_radar_input mc_radar_input;
mc_err mc_radar_input_parse(const char *name, const char *text, size_t len, int yaml,
                            mc_radar_input **out, mc_diag *d);
/* Reads and parses a file: YAML when it ends in .yaml/.yml, else JSON. */
mc_err mc_radar_input_load(const char *path, mc_radar_input **out, mc_diag *d);
void mc_radar_input_free(mc_radar_input *in);
/* The chart of the input, normalised; owned by in. */
mc_radar_chart *mc_radar_input_chart(mc_radar_input *in);

/* YAML text -> cJSON tree (mappings -> objects, sequences -> arrays; plain scalars that parse as
 * numbers -> numbers, true/false -> booleans, null/~/empty -> null; everything else a string).
 * Errors carry the line: "radar.yaml: line 4: ...". Aliases are refused. Returns a cJSON * (as
 * void * so this header does not need cJSON) the caller frees with cJSON_Delete. */
mc_err mc_yaml_to_json(const char *name, const char *text, size_t len, void **out, mc_diag *d);

/* ==== run directories and the HTML report ====================================================== */

typedef struct mc_report mc_report;

/* Reads cap.json of every run directory (refused: no cap.json, not valid JSON, command not "run",
 * no systems array: MC_ERR_FORMAT / MC_ERR_IO naming the file) and, per system, the headline
 * perf point's requests.jsonl and every perf point's records.jsonl. Missing or bad side files are
 * recorded as notes in the report, not errors. */
mc_err mc_report_load(const char *const *dirs, size_t n, mc_report **out, mc_diag *d);
void mc_report_free(mc_report *r);
size_t mc_report_n_systems(const mc_report *r);
/* The radar of all systems' headline figures (owned by r). */
const mc_radar_chart *mc_report_radar(const mc_report *r);
/* The whole HTML document. */
mc_err mc_report_html(const mc_report *r, mc_buf *out, mc_diag *d);

#endif
