/* yaml_json.c: YAML text -> a cJSON tree through libyaml's event parser, so the radar input
 * (YAML or JSON) is read by one code path. Plain scalars become numbers, booleans or null when
 * they read as such; quoted scalars stay strings. Depends on base, libyaml, cJSON. */
#include "report.h"

#include <cjson/cJSON.h>
#include <string.h>
#include <yaml.h>

#define YAML_MAX_DEPTH 64

typedef struct yparse {
    yaml_parser_t p;
    const char *name;
    mc_diag *d;
} yparse;

static mc_err next_event(yparse *y, yaml_event_t *ev)
{
    if (yaml_parser_parse(&y->p, ev))
        return MC_OK;
    return mc_fail(y->d, MC_ERR_FORMAT, "%s: line %zu: %s", y->name, y->p.problem_mark.line + 1,
                   y->p.problem ? y->p.problem : "YAML syntax error");
}

static int is_one_of(const char *s, const char *const *words)
{
    for (; *words; words++)
        if (strcmp(s, *words) == 0)
            return 1;
    return 0;
}

static cJSON *scalar_json(const yaml_event_t *ev)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const trues[] = {"true", "True", "TRUE", NULL};
    static const char *const falses[] = {"false", "False", "FALSE", NULL};
    char *s = mc_strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
    if (!s)
        return NULL;
    cJSON *j;
    double v;
    int plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !ev->data.scalar.tag;
    if (plain && is_one_of(s, nulls))
        j = cJSON_CreateNull();
    else if (plain && (is_one_of(s, trues) || is_one_of(s, falses)))
        j = cJSON_CreateBool(is_one_of(s, trues));
    else if (plain && mc_parse_f64(s, &v) == MC_OK)
        j = cJSON_CreateNumber(v);
    else
        j = cJSON_CreateString(s);
    mc_free(s);
    return j;
}

static mc_err node(yparse *y, yaml_event_t *ev, int depth, cJSON **out);

/* A mapping key: a scalar not seen before in this mapping. */
static mc_err map_key(yparse *y, const yaml_event_t *ev, const cJSON *obj, char **key)
{
    *key = NULL;
    if (ev->type != YAML_SCALAR_EVENT)
        return mc_fail(y->d, MC_ERR_FORMAT, "%s: line %zu: mapping keys must be plain values",
                       y->name, ev->start_mark.line + 1);
    *key = mc_strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
    if (!*key)
        return mc_fail(y->d, MC_ERR_NOMEM, "%s: out of memory", y->name);
    if (cJSON_GetObjectItemCaseSensitive(obj, *key))
        return mc_fail(y->d, MC_ERR_FORMAT, "%s: line %zu: duplicate key '%s'", y->name,
                       ev->start_mark.line + 1, *key);
    return MC_OK;
}

/* Items until the end event of the collection `first` opened. */
static mc_err collection(yparse *y, const yaml_event_t *first, int depth, cJSON *c)
{
    int map = first->type == YAML_MAPPING_START_EVENT;
    yaml_event_type_t end = map ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT;
    mc_err e = MC_OK;
    for (;;) {
        yaml_event_t ev;
        char *key = NULL;
        cJSON *val = NULL;
        if ((e = next_event(y, &ev)))
            return e;
        if (ev.type == end) {
            yaml_event_delete(&ev);
            return MC_OK;
        }
        if (map) {
            e = map_key(y, &ev, c, &key);
            yaml_event_delete(&ev);
            if (!e)
                e = next_event(y, &ev);
            if (e) {
                mc_free(key);
                return e;
            }
        }
        e = node(y, &ev, depth + 1, &val);
        if (!e && !(map ? cJSON_AddItemToObject(c, key, val) : cJSON_AddItemToArray(c, val)))
            e = mc_fail(y->d, MC_ERR_NOMEM, "%s: out of memory", y->name);
        if (e)
            cJSON_Delete(val);
        mc_free(key);
        if (e)
            return e;
    }
}

/* Converts the node that starts with *ev (which this call deletes). */
static mc_err node(yparse *y, yaml_event_t *ev, int depth, cJSON **out)
{
    mc_err e = MC_OK;
    size_t line = ev->start_mark.line + 1;
    *out = NULL;
    if (depth > YAML_MAX_DEPTH)
        e = mc_fail(y->d, MC_ERR_FORMAT, "%s: line %zu: nested deeper than %d", y->name, line,
                    YAML_MAX_DEPTH);
    else if (ev->type == YAML_SCALAR_EVENT)
        *out = scalar_json(ev);
    else if (ev->type == YAML_MAPPING_START_EVENT)
        *out = cJSON_CreateObject();
    else if (ev->type == YAML_SEQUENCE_START_EVENT)
        *out = cJSON_CreateArray();
    else if (ev->type == YAML_ALIAS_EVENT)
        e = mc_fail(y->d, MC_ERR_UNSUPPORTED, "%s: line %zu: aliases are not supported", y->name,
                    line);
    else
        e = mc_fail(y->d, MC_ERR_FORMAT, "%s: line %zu: unexpected YAML event", y->name, line);
    if (!e && !*out)
        e = mc_fail(y->d, MC_ERR_NOMEM, "%s: out of memory", y->name);
    if (!e && ev->type != YAML_SCALAR_EVENT)
        e = collection(y, ev, depth, *out);
    yaml_event_delete(ev);
    if (e) {
        cJSON_Delete(*out);
        *out = NULL;
    }
    return e;
}

/* Skips events up to the first document's root node; *root gets it (NULL for an empty stream). */
static mc_err document(yparse *y, cJSON **root)
{
    yaml_event_t ev;
    mc_err e;
    *root = NULL;
    for (;;) {
        if ((e = next_event(y, &ev)))
            return e;
        if (ev.type == YAML_STREAM_START_EVENT || ev.type == YAML_DOCUMENT_START_EVENT) {
            yaml_event_delete(&ev);
            continue;
        }
        if (ev.type == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            return mc_fail(y->d, MC_ERR_FORMAT, "%s: empty YAML document", y->name);
        }
        return node(y, &ev, 0, root);
    }
}

mc_err mc_yaml_to_json(const char *name, const char *text, size_t len, void **out, mc_diag *d)
{
    yparse y = {.name = name, .d = d};
    cJSON *root = NULL;
    *out = NULL;
    if (!yaml_parser_initialize(&y.p))
        return mc_fail(d, MC_ERR_NOMEM, "%s: out of memory", name);
    yaml_parser_set_input_string(&y.p, (const unsigned char *)text, len);
    mc_err e = document(&y, &root);
    yaml_event_t ev;
    if (!e && !(e = next_event(&y, &ev))) { /* the document must end here; a second is refused */
        if (ev.type != YAML_DOCUMENT_END_EVENT)
            e = mc_fail(d, MC_ERR_FORMAT, "%s: line %zu: unexpected content", name,
                        ev.start_mark.line + 1);
        yaml_event_delete(&ev);
    }
    if (!e && !(e = next_event(&y, &ev))) {
        if (ev.type != YAML_STREAM_END_EVENT)
            e = mc_fail(d, MC_ERR_FORMAT, "%s: line %zu: more than one YAML document", name,
                        ev.start_mark.line + 1);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&y.p);
    if (e)
        cJSON_Delete(root);
    else
        *out = root;
    return e;
}
