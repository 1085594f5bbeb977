/* radar_json: the CAP radar's systems as JSON, what `moecap radar --json` and `moecap report
 * --json` both print (docs/METRICS.md section 8): the axis names, a number or null for NaN, and
 * the array of systems with their radii (and values). Returned cJSON trees are the caller's. */
#ifndef MC_CLI_RADAR_JSON_H
#define MC_CLI_RADAR_JSON_H

#include "report.h"

#include <cjson/cJSON.h>

/* "performance", "cost", "accuracy": the radar's axes in mc_radar_sys order. */
extern const char *const rj_axis[MC_RADAR_AXES];

/* v as a JSON number, or null when v is NaN (a missing value). */
cJSON *rj_num_or_null(double v);

/* [{"name", "values": {axis: v} (only with with_values), "radii": {axis: r}}, ...] for every
 * system of c, in order; NULL when out of memory. */
cJSON *rj_systems(const mc_radar_chart *c, int with_values);

#endif
