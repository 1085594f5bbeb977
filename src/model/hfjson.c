/* hfjson.c: typed, range-checked reads of the keys of a cJSON object for the config.json loader,
 * each failure one line naming the file and the dotted key (see hfjson.h).
 * Depends on base and cJSON only. */
#include "hfjson.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

mc_err mc_hfj_fail(const mc_hfj *h, mc_err e, const char *key, const char *fmt, ...)
{
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mc_fail(h->d, e, "%s: key '%s%s': %s", h->where, h->prefix, key, msg);
    /* keys and values are echoed from the file: keep the message on one printable line */
    for (char *c = h->d ? h->d->msg : NULL; c && *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    return e;
}

static mc_err missing(const mc_hfj *h, const char *key)
{
    if (h->type)
        return mc_hfj_fail(h, MC_ERR_FORMAT, key, "missing (required for model_type '%s')",
                           h->type);
    return mc_hfj_fail(h, MC_ERR_FORMAT, key, "missing (required)");
}

const char *mc_hfj_type_name(const cJSON *v)
{
    if (cJSON_IsNull(v))
        return "null";
    if (cJSON_IsBool(v))
        return "a boolean";
    if (cJSON_IsString(v))
        return "a string";
    if (cJSON_IsArray(v))
        return "an array";
    if (cJSON_IsObject(v))
        return "an object";
    return "a number";
}

/* The value of key in h->obj; NULL when absent or null. A key given twice is an error. */
mc_err mc_hfj_find(const mc_hfj *h, const char *key, const cJSON **out)
{
    const cJSON *hit = NULL;
    for (const cJSON *c = h->obj->child; c; c = c->next) {
        if (!c->string || strcmp(c->string, key) != 0)
            continue;
        if (hit)
            return mc_hfj_fail(h, MC_ERR_FORMAT, key, "appears more than once");
        hit = c;
    }
    *out = cJSON_IsNull(hit) ? NULL : hit;
    return MC_OK;
}

static mc_err range(const mc_hfj *h, const char *key, int64_t v, int64_t lo, int64_t hi)
{
    if (v < lo && lo == 1)
        return mc_hfj_fail(h, MC_ERR_RANGE, key, "%lld must be positive", (long long)v);
    if (v < lo && lo == 0)
        return mc_hfj_fail(h, MC_ERR_RANGE, key, "%lld must not be negative", (long long)v);
    if (v < lo)
        return mc_hfj_fail(h, MC_ERR_RANGE, key, "%lld is below %lld", (long long)v, (long long)lo);
    if (v > hi)
        return mc_hfj_fail(h, MC_ERR_RANGE, key, "%lld exceeds the limit %lld", (long long)v,
                           (long long)hi);
    return MC_OK;
}

static mc_err as_int(const mc_hfj *h, const char *key, const cJSON *v, int64_t *out)
{
    if (!cJSON_IsNumber(v))
        return mc_hfj_fail(h, MC_ERR_FORMAT, key, "expected an integer, got %s",
                           mc_hfj_type_name(v));
    double x = v->valuedouble;
    if (!isfinite(x) || x != floor(x) || fabs(x) > 9007199254740992.0)
        return mc_hfj_fail(h, MC_ERR_FORMAT, key, "expected an integer, got %g", x);
    *out = (int64_t)x;
    return MC_OK;
}

/* Integer key in [lo, hi]; required. */
mc_err mc_hfj_req_int(const mc_hfj *h, const char *key, int64_t lo, int64_t hi, int64_t *out)
{
    const cJSON *v = NULL;
    mc_err e = mc_hfj_find(h, key, &v);
    if (e)
        return e;
    if (!v)
        return missing(h, key);
    e = as_int(h, key, v, out);
    return e ? e : range(h, key, *out, lo, hi);
}

/* Integer key in [lo, hi]; def (not range-checked) when absent or null. */
mc_err mc_hfj_opt_int(const mc_hfj *h, const char *key, int64_t def, int64_t lo, int64_t hi,
                      int64_t *out)
{
    const cJSON *v = NULL;
    mc_err e = mc_hfj_find(h, key, &v);
    if (e)
        return e;
    if (!v) {
        *out = def;
        return MC_OK;
    }
    e = as_int(h, key, v, out);
    return e ? e : range(h, key, *out, lo, hi);
}

mc_err mc_hfj_opt_bool(const mc_hfj *h, const char *key, int def, int *out)
{
    const cJSON *v = NULL;
    mc_err e = mc_hfj_find(h, key, &v);
    if (e)
        return e;
    if (v && !cJSON_IsBool(v))
        return mc_hfj_fail(h, MC_ERR_FORMAT, key, "expected true or false, got %s",
                           mc_hfj_type_name(v));
    *out = v ? cJSON_IsTrue(v) : def;
    return MC_OK;
}

mc_err mc_hfj_opt_f64(const mc_hfj *h, const char *key, double def, double *out)
{
    const cJSON *v = NULL;
    mc_err e = mc_hfj_find(h, key, &v);
    if (e)
        return e;
    if (v && (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)))
        return mc_hfj_fail(h, MC_ERR_FORMAT, key, "expected a number, got %s", mc_hfj_type_name(v));
    *out = v ? v->valuedouble : def;
    return MC_OK;
}

/* String key; *out = NULL when absent or null. */
mc_err mc_hfj_opt_str(const mc_hfj *h, const char *key, const char **out)
{
    const cJSON *v = NULL;
    mc_err e = mc_hfj_find(h, key, &v);
    if (e)
        return e;
    if (v && !cJSON_IsString(v))
        return mc_hfj_fail(h, MC_ERR_FORMAT, key, "expected a string, got %s", mc_hfj_type_name(v));
    *out = v ? v->valuestring : NULL;
    return MC_OK;
}

mc_err mc_hfj_req_str(const mc_hfj *h, const char *key, const char **out)
{
    mc_err e = mc_hfj_opt_str(h, key, out);
    if (!e && !*out)
        return missing(h, key);
    return e;
}

/* Object-valued key: *found = 0 when absent or null; else sub reads inside it. */
mc_err mc_hfj_opt_child(const mc_hfj *h, const char *key, mc_hfj *sub, int *found)
{
    const cJSON *v = NULL;
    mc_err e = mc_hfj_find(h, key, &v);
    if (e)
        return e;
    *found = v != NULL;
    if (!v)
        return MC_OK;
    if (!cJSON_IsObject(v))
        return mc_hfj_fail(h, MC_ERR_FORMAT, key, "expected an object, got %s",
                           mc_hfj_type_name(v));
    *sub = *h;
    sub->obj = v;
    int n = snprintf(sub->prefix, sizeof sub->prefix, "%s%s.", h->prefix, key);
    if (n < 0 || (size_t)n >= sizeof sub->prefix)
        return mc_hfj_fail(h, MC_ERR_FORMAT, key, "nested too deeply");
    return MC_OK;
}

mc_err mc_hfj_req_child(const mc_hfj *h, const char *key, mc_hfj *sub)
{
    int found;
    mc_err e = mc_hfj_opt_child(h, key, sub, &found);
    if (!e && !found)
        return missing(h, key);
    return e;
}
