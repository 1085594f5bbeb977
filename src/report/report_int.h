/* report_int.h: what the chart files share inside src/report (not a public API). */
#ifndef MC_REPORT_INT_H
#define MC_REPORT_INT_H

#include "report.h"

/* The plot area of an x-y chart, its scales and ticks. */
typedef struct mc_frame {
    int w, h;
    double x0, y0, x1, y1; /* plot area in pixels (y0 top) */
    mc_scale sx, sy;
    mc_ticks tx, ty;
    int x_log2;
} mc_frame;

/* Lays out the chart for data in [xlo, xhi] x [ylo, yhi] (non-finite = no data). */
void mc_frame_layout(const mc_chart *c, double xlo, double xhi, double ylo, double yhi,
                     mc_frame *f);
/* Opens the <svg> and draws title, grid, axes, tick labels and axis labels. */
void mc_frame_draw(mc_svg *s, const mc_chart *c, const mc_frame *f);
/* Legend entry i (right of the plot): a line sample in the colour, dashed or solid, and text. */
void mc_frame_legend(mc_svg *s, const mc_frame *f, size_t i, const char *color, int dashed,
                     const char *label);
/* "no data" in the middle of the plot area. */
/* The extra class of a series' path by its mc_xy_series.dashed: "", " predicted" or
 * " predicted calibrated". */
const char *mc_series_class(int dashed);
void mc_frame_nodata(mc_svg *s, const mc_frame *f, const char *text);

/* "1234567" -> "1,234,567" (an integer string, optional leading '-'). */
void mc_report_group_thousands(const char *in, char out[32]);
/* A value for people: 4 significant digits, thousands separators from 10,000 on. */
void mc_report_fmt_value(double v, char out[40]);

/* Radar internals shared by the SVG and the PNG (chart_radar.c). */
#define MC_RADAR_LEGEND_X (MC_RADAR_CX + 320)
#define MC_RADAR_LEGEND_Y 56
#define MC_RADAR_LEGEND_DY 50
int mc_radar_height(const mc_radar_chart *c);
void mc_radar_label_pos(int axis, double *x, double *y); /* relative to the centre */
void mc_radar_raw_text(const mc_radar_chart *c, const mc_radar_sys *sy, int axis, char out[96]);
void mc_radar_legend_text(const mc_radar_chart *c, size_t i, char l1[400], char l2[400]);
int mc_radar_has_any(const mc_radar_sys *sy); /* at least one radius: drawn as a polygon */

/* JSON helpers (json.c). cJSON is forward-declared so chart files need not include it. */
struct cJSON;
/* Parses text; errors name the file and the line ("not valid JSON (line 3, byte 40)"). */
mc_err mc_report_json_parse(const char *name, const char *text, size_t len, struct cJSON **out,
                            mc_diag *d);
const struct cJSON *mc_jget(const struct cJSON *obj, const char *key); /* NULL if absent */
const char *mc_jstr(const struct cJSON *obj, const char *key);        /* NULL if not a string */
double mc_jnum(const struct cJSON *obj, const char *key);             /* NaN if not a number */
/* A figure's value: {"value": v, ...} or a bare number; NaN when null or absent. */
double mc_fig_value(const struct cJSON *fig);
double mc_fig(const struct cJSON *obj, const char *key);
int mc_is_fig(const struct cJSON *j); /* an object with a numeric or null "value" */

#endif
