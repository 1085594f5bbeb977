/* radar_input.c: the input of `moecap radar`: the MoE-CAP reference's radar YAML (model_name,
 * axis_labels, axis_keys, baseline, ticks, data {system: {key: value}}, reference section 7.1) or
 * JSON with the same keys (plus cost_ceiling), into a normalised mc_radar_chart. Depends on base,
 * cap (through mc_radar_normalise), cJSON and libyaml (yaml_json.c). */
#include "report_int.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define RADAR_INPUT_MAX_BYTES ((size_t)16 << 20)
#define RADAR_MAX_SYSTEMS 64

struct mc_radar_input {
    cJSON *root; /* owns every string the chart points into */
    mc_radar_chart chart;
    mc_radar_sys sys[RADAR_MAX_SYSTEMS];
};

static const char *const default_keys[MC_RADAR_AXES] = {"performance", "cost", "accuracy"};

/* An optional list of exactly 3 strings into out[]. */
static mc_err three_strings(const char *name, const cJSON *root, const char *key,
                            const char *out[MC_RADAR_AXES], mc_diag *d)
{
    const cJSON *arr = mc_jget(root, key);
    if (!arr || cJSON_IsNull(arr))
        return MC_OK;
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) != MC_RADAR_AXES)
        return mc_fail(d, MC_ERR_FORMAT, "%s: %s: must be a list of 3 strings", name, key);
    for (int a = 0; a < MC_RADAR_AXES; a++) {
        const cJSON *s = cJSON_GetArrayItem(arr, a);
        if (!cJSON_IsString(s))
            return mc_fail(d, MC_ERR_FORMAT, "%s: %s[%d]: must be a string", name, key, a);
        out[a] = s->valuestring;
    }
    return MC_OK;
}

/* cost_ceiling, else the second-to-last tick (the reference's T = ticks[-2]), else the only
 * tick, else 0 (mc_radar_normalise then takes the largest cost). */
static mc_err ceiling(const char *name, const cJSON *root, double *out, mc_diag *d)
{
    const cJSON *cc = mc_jget(root, "cost_ceiling"), *ticks = mc_jget(root, "ticks");
    *out = 0;
    if (cc && !cJSON_IsNull(cc)) {
        if (!cJSON_IsNumber(cc) || !(cc->valuedouble > 0) || !isfinite(cc->valuedouble))
            return mc_fail(d, MC_ERR_FORMAT, "%s: cost_ceiling: must be a number > 0", name);
        *out = cc->valuedouble;
        return MC_OK;
    }
    if (!ticks || cJSON_IsNull(ticks))
        return MC_OK;
    int n = cJSON_IsArray(ticks) ? cJSON_GetArraySize(ticks) : -1;
    if (n < 1)
        return mc_fail(d, MC_ERR_FORMAT, "%s: ticks: must be a non-empty list of numbers", name);
    const cJSON *t = cJSON_GetArrayItem(ticks, n >= 2 ? n - 2 : 0);
    if (!cJSON_IsNumber(t) || !(t->valuedouble > 0) || !isfinite(t->valuedouble))
        return mc_fail(d, MC_ERR_FORMAT, "%s: ticks[%d]: the cost ceiling must be a number > 0",
                       name, n >= 2 ? n - 2 : 0);
    *out = t->valuedouble;
    return MC_OK;
}

static mc_err one_system(const char *name, const cJSON *entry, const char *keys[MC_RADAR_AXES],
                         mc_radar_sys *sy, mc_diag *d)
{
    sy->name = entry->string;
    if (!cJSON_IsObject(entry))
        return mc_fail(d, MC_ERR_FORMAT, "%s: data.%s: must be a mapping of %s, %s, %s", name,
                       entry->string, keys[0], keys[1], keys[2]);
    for (int a = 0; a < MC_RADAR_AXES; a++) {
        const cJSON *v = mc_jget(entry, keys[a]);
        sy->value[a] = sy->radius[a] = NAN;
        if (!v || cJSON_IsNull(v))
            continue; /* missing: drawn at the centre, said in the legend */
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
            return mc_fail(d, MC_ERR_FORMAT, "%s: data.%s.%s: must be a number", name,
                           entry->string, keys[a]);
        sy->value[a] = v->valuedouble;
    }
    return MC_OK;
}

static mc_err systems(const char *name, mc_radar_input *in, const char *keys[MC_RADAR_AXES],
                      mc_diag *d)
{
    const cJSON *data = mc_jget(in->root, "data"), *it;
    if (!cJSON_IsObject(data) || cJSON_GetArraySize(data) == 0)
        return mc_fail(d, MC_ERR_FORMAT, "%s: data: must be a mapping of systems to values "
                       "(at least one)", name);
    if (cJSON_GetArraySize(data) > RADAR_MAX_SYSTEMS)
        return mc_fail(d, MC_ERR_RANGE, "%s: data: %d systems (at most %d)", name,
                       cJSON_GetArraySize(data), RADAR_MAX_SYSTEMS);
    cJSON_ArrayForEach(it, data)
    {
        mc_err e = one_system(name, it, keys, &in->sys[in->chart.n], d);
        if (e)
            return e;
        in->chart.n++;
    }
    return MC_OK;
}

static mc_err fill(const char *name, mc_radar_input *in, mc_diag *d)
{
    mc_radar_chart *c = &in->chart;
    const char *keys[MC_RADAR_AXES] = {default_keys[0], default_keys[1], default_keys[2]};
    if (!cJSON_IsObject(in->root))
        return mc_fail(d, MC_ERR_FORMAT, "%s: the radar input must be a mapping (model_name, "
                       "axis_keys, data, ...)", name);
    c->sys = in->sys;
    c->title = mc_jstr(in->root, "model_name");
    c->baseline = 20;
    const cJSON *b = mc_jget(in->root, "baseline");
    if (b && !cJSON_IsNull(b) && !cJSON_IsNumber(b))
        return mc_fail(d, MC_ERR_FORMAT, "%s: baseline: must be a number", name);
    if (cJSON_IsNumber(b))
        c->baseline = b->valuedouble;
    mc_err e = three_strings(name, in->root, "axis_keys", keys, d);
    if (!e)
        e = three_strings(name, in->root, "axis_labels", c->axis_label, d);
    if (!e)
        e = ceiling(name, in->root, &c->cost_ceiling, d);
    if (!e)
        e = systems(name, in, keys, d);
    if (!e && (e = mc_radar_normalise(c, d)))
        mc_diag_prefix(d, "%s", name);
    return e;
}

mc_err mc_radar_input_parse(const char *name, const char *text, size_t len, int yaml,
                            mc_radar_input **out, mc_diag *d)
{
    *out = NULL;
    mc_radar_input *in = mc_calloc(1, sizeof *in);
    if (!in)
        return mc_fail(d, MC_ERR_NOMEM, "%s: out of memory", name);
    void *root = NULL;
    mc_err e = yaml ? mc_yaml_to_json(name, text, len, &root, d)
                    : mc_report_json_parse(name, text, len, (cJSON **)&root, d);
    in->root = root;
    if (!e)
        e = fill(name, in, d);
    if (e) {
        /* one line, even when a system name or key in the message holds a line break */
        for (unsigned char *p = d ? (unsigned char *)d->msg : NULL; p && *p; p++)
            *p = *p < 0x20 || *p == 0x7f ? '?' : *p;
        mc_radar_input_free(in);
        return e;
    }
    *out = in;
    return MC_OK;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

mc_err mc_radar_input_load(const char *path, mc_radar_input **out, mc_diag *d)
{
    char *text = NULL;
    size_t len = 0;
    *out = NULL;
    mc_err e = mc_read_file(path, RADAR_INPUT_MAX_BYTES, &text, &len, d);
    if (e)
        return e;
    e = mc_radar_input_parse(path, text, len, ends_with(path, ".yaml") || ends_with(path, ".yml"),
                             out, d);
    mc_free(text);
    return e;
}

void mc_radar_input_free(mc_radar_input *in)
{
    if (!in)
        return;
    cJSON_Delete(in->root);
    mc_free(in);
}

mc_radar_chart *mc_radar_input_chart(mc_radar_input *in) { return &in->chart; }
