/* json.c: the JSON helpers of the report module: parsing with a line number in the error, and
 * reading cap.json figures ({"value", "unit", "definition"} objects or bare numbers). Depends
 * on base and cJSON. */
#include "report_int.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

mc_err mc_report_json_parse(const char *name, const char *text, size_t len, cJSON **out,
                            mc_diag *d)
{
    const char *end = NULL;
    *out = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (*out)
        return MC_OK;
    if (!end || end < text || end > text + len)
        return mc_fail(d, MC_ERR_FORMAT, "%s: not valid JSON", name);
    size_t line = 1;
    for (const char *p = text; p < end; p++)
        line += *p == '\n';
    if ((size_t)(end - text) >= len)
        return mc_fail(d, MC_ERR_FORMAT, "%s: not valid JSON (truncated: ends inside a value, "
                       "line %zu)", name, line);
    return mc_fail(d, MC_ERR_FORMAT, "%s: not valid JSON (line %zu, byte %zu)", name, line,
                   (size_t)(end - text) + 1);
}

const cJSON *mc_jget(const cJSON *obj, const char *key)
{
    return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

const char *mc_jstr(const cJSON *obj, const char *key)
{
    const cJSON *j = mc_jget(obj, key);
    return cJSON_IsString(j) ? j->valuestring : NULL;
}

double mc_jnum(const cJSON *obj, const char *key)
{
    const cJSON *j = mc_jget(obj, key);
    return cJSON_IsNumber(j) && isfinite(j->valuedouble) ? j->valuedouble : NAN;
}

double mc_fig_value(const cJSON *fig)
{
    if (cJSON_IsNumber(fig))
        return isfinite(fig->valuedouble) ? fig->valuedouble : NAN;
    return mc_jnum(fig, "value");
}

double mc_fig(const cJSON *obj, const char *key) { return mc_fig_value(mc_jget(obj, key)); }

int mc_is_fig(const cJSON *j)
{
    return cJSON_IsObject(j) && mc_jget(j, "value") &&
           (cJSON_IsNumber(mc_jget(j, "value")) || cJSON_IsNull(mc_jget(j, "value")));
}
