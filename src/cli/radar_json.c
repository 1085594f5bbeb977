/* radar_json.c: the radar's systems as JSON for the radar and report commands (see
 * radar_json.h). Depends on cJSON and the radar chart type of src/report only; prints nothing. */
#include "radar_json.h"

#include <math.h>

const char *const rj_axis[MC_RADAR_AXES] = {"performance", "cost", "accuracy"};

cJSON *rj_num_or_null(double v)
{
    return isnan(v) ? cJSON_CreateNull() : cJSON_CreateNumber(v);
}

static cJSON *axis_object(const double *v)
{
    cJSON *o = cJSON_CreateObject();
    for (int k = 0; o && k < MC_RADAR_AXES; k++)
        cJSON_AddItemToObject(o, rj_axis[k], rj_num_or_null(v[k]));
    return o;
}

cJSON *rj_systems(const mc_radar_chart *c, int with_values)
{
    cJSON *sys = cJSON_CreateArray();
    for (size_t i = 0; sys && i < c->n; i++) {
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "name", c->sys[i].name);
        if (with_values)
            cJSON_AddItemToObject(s, "values", axis_object(c->sys[i].value));
        cJSON_AddItemToObject(s, "radii", axis_object(c->sys[i].radius));
        cJSON_AddItemToArray(sys, s);
    }
    return sys;
}
