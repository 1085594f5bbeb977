/* config.c: the `moecap run` configuration loader: YAML (libyaml's document API) -> mc_run_config.
 * Key tables map each accepted key to a field and a type; sections (systems, workload, eval,
 * cost) have their own tables. Errors carry file:line and the key; unknown keys become warnings.
 * Must not depend on any moecap module but base, and must not print. */
#include "run.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#define CONFIG_MAX_BYTES (1u << 20)

typedef struct yctx {
    yaml_document_t *doc;
    const char *where;
    mc_run_config *cfg;
    mc_diag *d;
} yctx;

typedef enum ktype { K_STR, K_INT, K_BOOL, K_F64, K_STRLIST, K_INTLIST, K_SECTION } ktype;

typedef struct keydef keydef;
typedef mc_err (*section_fn)(yctx *x, yaml_node_t *n, void *base, const char *key);

struct keydef {
    const char *name;
    ktype type;
    size_t off;      /* field offset in the section's struct */
    size_t count_off; /* lists: offset of the size_t count; K_STR: nonzero = offset of an int
                         that gets the line of the key */
    int64_t lo, hi;   /* integers: allowed range */
    section_fn fn;    /* K_SECTION */
};

/* Messages are one line: a key or value that holds a line break or another control character
 * (YAML allows "a\nb" as a key) shows it as '?'. */
static void one_line(char *msg)
{
    for (unsigned char *p = (unsigned char *)msg; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            *p = '?';
}

static mc_err failn(yctx *x, const yaml_node_t *n, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static mc_err failn(yctx *x, const yaml_node_t *n, const char *key, const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mc_err e = mc_fail(x->d, MC_ERR_FORMAT, "%s:%zu: %s%s%s", x->where,
                       n ? n->start_mark.line + 1 : 1, key, key[0] ? ": " : "", msg);
    if (x->d)
        one_line(x->d->msg);
    return e;
}

static mc_err warn(yctx *x, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static mc_err warn(yctx *x, const yaml_node_t *n, const char *fmt, ...)
{
    mc_run_config *c = x->cfg;
    char msg[384];
    int k = snprintf(msg, sizeof msg, "%s:%zu: ", x->where, n->start_mark.line + 1);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + k, sizeof msg - (size_t)k, fmt, ap);
    va_end(ap);
    one_line(msg);
    char **w = mc_reallocarray(c->warnings, c->n_warnings + 1, sizeof *w);
    if (!w)
        return mc_fail(x->d, MC_ERR_NOMEM, "config: out of memory");
    c->warnings = w;
    if (!(w[c->n_warnings] = mc_strdup(msg)))
        return mc_fail(x->d, MC_ERR_NOMEM, "config: out of memory");
    c->n_warnings++;
    return MC_OK;
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* ---- scalar conversions ---- */

static mc_err set_str(yctx *x, yaml_node_t *n, const char *key, char **dst)
{
    const char *s = scalar(n);
    if (!s)
        return failn(x, n, key, "not a string");
    char *v = mc_strdup(s);
    if (!v)
        return mc_fail(x->d, MC_ERR_NOMEM, "config: out of memory");
    mc_free(*dst);
    *dst = v;
    return MC_OK;
}

static mc_err get_int(yctx *x, yaml_node_t *n, const char *key, int64_t lo, int64_t hi,
                      int64_t *out)
{
    const char *s = scalar(n);
    if (!s || mc_parse_i64(s, lo, hi, out) != MC_OK)
        return failn(x, n, key, "not an integer in %lld..%lld", (long long)lo, (long long)hi);
    return MC_OK;
}

static mc_err get_bool(yctx *x, yaml_node_t *n, const char *key, int *out)
{
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "on", "On"};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No", "off", "Off"};
    const char *s = scalar(n);
    for (size_t i = 0; s && i < sizeof yes / sizeof yes[0]; i++) {
        if (strcmp(s, yes[i]) == 0)
            return (*out = 1), MC_OK;
        if (strcmp(s, no[i]) == 0)
            return (*out = 0), MC_OK;
    }
    return failn(x, n, key, "not a boolean (true or false)");
}

static mc_err get_f64(yctx *x, yaml_node_t *n, const char *key, double *out)
{
    const char *s = scalar(n);
    if (!s || mc_parse_f64(s, out) != MC_OK || *out < 0)
        return failn(x, n, key, "not a number >= 0");
    return MC_OK;
}

/* A list (or one scalar, read as a list of one) of strings or integers. */
static mc_err get_list(yctx *x, yaml_node_t *n, const keydef *k, void *base)
{
    size_t *count = (size_t *)((char *)base + k->count_off);
    yaml_node_item_t one = 0, *it = &one, *end = &one + 1;
    if (n->type == YAML_SEQUENCE_NODE) {
        it = n->data.sequence.items.start;
        end = n->data.sequence.items.top;
    } else if (n->type != YAML_SCALAR_NODE || !n->data.scalar.length) {
        return failn(x, n, k->name, "not a list of %s",
                     k->type == K_INTLIST ? "integers" : "strings");
    }
    if (end - it > MC_RUN_MAX_LIST)
        return failn(x, n, k->name, "more than %d entries", MC_RUN_MAX_LIST);
    if (k->type == K_STRLIST) /* a key given again replaces the list: free the old one whole */
        for (char **a = (char **)((char *)base + k->off); *count; (*count)--) {
            mc_free(a[*count - 1]);
            a[*count - 1] = NULL;
        }
    *count = 0;
    for (; it < end; it++) {
        yaml_node_t *e = n->type == YAML_SEQUENCE_NODE ? yaml_document_get_node(x->doc, *it) : n;
        mc_err err;
        if (k->type == K_INTLIST) {
            int64_t *a = (int64_t *)((char *)base + k->off);
            if (!scalar(e) || mc_parse_i64(scalar(e), k->lo, k->hi, &a[*count]) != MC_OK)
                return failn(x, e, k->name, "not a list of integers in %lld..%lld",
                             (long long)k->lo, (long long)k->hi);
        } else {
            char **a = (char **)((char *)base + k->off);
            if (!scalar(e))
                return failn(x, e, k->name, "not a list of strings");
            if ((err = set_str(x, e, k->name, &a[*count])))
                return err;
        }
        (*count)++;
    }
    return MC_OK;
}

static mc_err set_field(yctx *x, yaml_node_t *v, const keydef *k, void *base)
{
    void *f = (char *)base + k->off;
    switch (k->type) {
    case K_STR:
        return set_str(x, v, k->name, (char **)f);
    case K_INT:
        return get_int(x, v, k->name, k->lo, k->hi, (int64_t *)f);
    case K_BOOL:
        return get_bool(x, v, k->name, (int *)f);
    case K_F64:
        return get_f64(x, v, k->name, (double *)f);
    case K_STRLIST:
    case K_INTLIST:
        return get_list(x, v, k, base);
    case K_SECTION:
        return k->fn(x, v, base, k->name);
    }
    return mc_fail(x->d, MC_ERR_INTERNAL, "config: key type %d", (int)k->type);
}

/* Applies every pair of mapping n through table t (unknown keys: a warning). */
static mc_err apply_map(yctx *x, yaml_node_t *n, const keydef *t, size_t nt, void *base,
                        const char *what)
{
    if (n->type != YAML_MAPPING_NODE)
        return failn(x, n, what, "not a mapping of keys to values");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(x->doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(x->doc, p->value);
        const char *key = scalar(kn);
        if (!key)
            return failn(x, kn, what, "a key that is not a string");
        const keydef *k = NULL;
        for (size_t i = 0; i < nt && !k; i++)
            if (strcmp(t[i].name, key) == 0)
                k = &t[i];
        mc_err e = k ? set_field(x, vn, k, base)
                     : warn(x, kn, "%s%s%s: unknown key (ignored)", what[0] ? what : "",
                            what[0] ? "." : "", key);
        if (e)
            return e;
        if (k && k->type == K_STR && k->count_off)
            *(int *)((char *)base + k->count_off) = (int)kn->start_mark.line + 1;
    }
    return MC_OK;
}

/* ---- sections ---- */

#define OFF(type, f) offsetof(type, f)
#define I64MAX INT64_MAX

/* expert_cache_mb: an integer (MiB) or "P%" of the expert bytes. */
static mc_err sec_cache(yctx *x, yaml_node_t *n, void *base, const char *key)
{
    mc_run_system *s = base;
    const char *v = scalar(n);
    size_t len = v ? strlen(v) : 0;
    if (len > 1 && v[len - 1] == '%') {
        char num[32];
        double pct;
        if (len >= sizeof num)
            return failn(x, n, key, "not a number of MiB or a percentage");
        memcpy(num, v, len - 1);
        num[len - 1] = 0;
        if (mc_parse_f64(num, &pct) != MC_OK || !(pct > 0 && pct <= 100))
            return failn(x, n, key, "a percentage must be in (0, 100]");
        s->expert_cache_frac = pct / 100;
        s->expert_cache_mb = -1;
        return MC_OK;
    }
    s->expert_cache_frac = NAN;
    return get_int(x, n, key, 1, 1 << 30, &s->expert_cache_mb);
}

/* The name was read before the table is applied (it must come first for the messages). */
static mc_err sec_name(yctx *x, yaml_node_t *n, void *base, const char *key)
{
    (void)x, (void)n, (void)base, (void)key;
    return MC_OK;
}

static const keydef system_keys[] = {
    {"name", K_SECTION, 0, 0, 0, 0, sec_name},
    {"label", K_STR, OFF(mc_run_system, label), 0, 0, 0, NULL},
    {"model", K_STR, OFF(mc_run_system, model), 0, 0, 0, NULL},
    {"url", K_STR, OFF(mc_run_system, url), 0, 0, 0, NULL},
    {"cap_model", K_STR, OFF(mc_run_system, cap_model), 0, 0, 0, NULL},
    {"weights_type", K_STR, OFF(mc_run_system, weights_type), 0, 0, 0, NULL},
    {"expert_cache_mb", K_SECTION, 0, 0, 0, 0, sec_cache},
    {"expert_cache_policy", K_STR, OFF(mc_run_system, expert_cache_policy), 0, 0, 0, NULL},
    {"prefetch", K_BOOL, OFF(mc_run_system, prefetch), 0, 0, 0, NULL},
    {"threads", K_INT, OFF(mc_run_system, threads), 0, 1, 1024, NULL},
    {"parallel", K_INT, OFF(mc_run_system, parallel), 0, 1, 4096, NULL},
};

static mc_err sec_system(yctx *x, yaml_node_t *n, mc_run_system *s)
{
    yaml_node_t *name = NULL;
    if (n->type != YAML_MAPPING_NODE)
        return failn(x, n, "systems", "each entry must be a mapping with a name");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++)
        if (scalar(yaml_document_get_node(x->doc, p->key)) &&
            strcmp(scalar(yaml_document_get_node(x->doc, p->key)), "name") == 0)
            name = yaml_document_get_node(x->doc, p->value);
    if (!name || !scalar(name) || !mc_run_name_ok(scalar(name)))
        return failn(x, name ? name : n, "systems.name",
                     "every system needs a name of [a-z0-9._-] (at most %d characters)",
                     MC_RUN_NAME_MAX - 1);
    snprintf(s->name, sizeof s->name, "%s", scalar(name));
    s->line = (int)n->start_mark.line + 1;
    return apply_map(x, n, system_keys, sizeof system_keys / sizeof system_keys[0], s,
                     "systems");
}

static mc_err sec_systems(yctx *x, yaml_node_t *n, void *base, const char *key)
{
    mc_run_config *c = base;
    if (n->type != YAML_SEQUENCE_NODE)
        return failn(x, n, key, "not a list of systems");
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        yaml_node_t *e = yaml_document_get_node(x->doc, *it);
        if (c->n_systems == MC_RUN_MAX_SYSTEMS)
            return failn(x, e, key, "more than %d systems", MC_RUN_MAX_SYSTEMS);
        mc_run_system *s = mc_run_config_add_system(c, "x", NULL);
        if (!s)
            return mc_fail(x->d, MC_ERR_NOMEM, "config: out of memory");
        mc_err err = sec_system(x, e, s);
        if (err)
            return err;
        for (size_t i = 0; i + 1 < c->n_systems; i++)
            if (strcmp(c->systems[i].name, s->name) == 0)
                return failn(x, e, "systems.name", "'%s' is used twice", s->name);
    }
    return MC_OK;
}

static const keydef workload_keys[] = {
    {"input_len", K_INT, OFF(struct mc_run_workload, input_len), 0, 1, 1 << 20, NULL},
    {"output_len", K_INT, OFF(struct mc_run_workload, output_len), 0, 1, 1 << 20, NULL},
    {"num_requests", K_INT, OFF(struct mc_run_workload, num_requests), 0, 1, 10000000, NULL},
    {"warmup", K_INT, OFF(struct mc_run_workload, warmup), 0, 0, 1000000, NULL},
    {"seed", K_INT, OFF(struct mc_run_workload, seed), 0, 0, I64MAX, NULL},
    {"concurrency", K_INTLIST, OFF(struct mc_run_workload, concurrency), OFF(struct mc_run_workload, n_concurrency), 1,
     4096, NULL},
    {"batch_sizes", K_INTLIST, OFF(struct mc_run_workload, batch_sizes), OFF(struct mc_run_workload, n_batch_sizes), 1,
     4096, NULL},
};

static mc_err sec_workload(yctx *x, yaml_node_t *n, void *base, const char *key)
{
    mc_run_config *c = base;
    return apply_map(x, n, workload_keys, sizeof workload_keys / sizeof workload_keys[0],
                     &c->workload, key);
}

static const keydef eval_keys[] = {
    {"tasks", K_STRLIST, OFF(struct mc_run_eval, tasks), OFF(struct mc_run_eval, n_tasks), 0, 0, NULL},
    {"limit", K_INT, OFF(struct mc_run_eval, limit), 0, 1, 100000000, NULL},
    {"max_tokens", K_INT, OFF(struct mc_run_eval, max_tokens), 0, 1, 1 << 20, NULL},
    {"fidelity_reference", K_STR, OFF(struct mc_run_eval, fidelity_reference), 0, 0, 0, NULL},
    {"fidelity_tokens", K_INT, OFF(struct mc_run_eval, fidelity_tokens), 0, 0, 100000000, NULL},
};

static mc_err sec_eval(yctx *x, yaml_node_t *n, void *base, const char *key)
{
    mc_run_config *c = base;
    return apply_map(x, n, eval_keys, sizeof eval_keys / sizeof eval_keys[0], &c->eval, key);
}

static const keydef cost_keys[] = {
    {"device_price_usd", K_F64, OFF(struct mc_run_cost, device_price_usd), 0, 0, 0, NULL},
    {"device_power_w", K_F64, OFF(struct mc_run_cost, device_power_w), 0, 0, 0, NULL},
    {"host_price_usd", K_F64, OFF(struct mc_run_cost, host_price_usd), 0, 0, 0, NULL},
    {"host_power_w", K_F64, OFF(struct mc_run_cost, host_power_w), 0, 0, 0, NULL},
    {"pue", K_F64, OFF(struct mc_run_cost, pue), 0, 0, 0, NULL},
    {"usd_per_kwh", K_F64, OFF(struct mc_run_cost, usd_per_kwh), 0, 0, 0, NULL},
    {"lifetime_years", K_F64, OFF(struct mc_run_cost, lifetime_years), 0, 0, 0, NULL},
    {"utilisation", K_F64, OFF(struct mc_run_cost, utilisation), 0, 0, 0, NULL},
    {"cloud_usd_per_device_hour", K_F64, OFF(struct mc_run_cost, cloud_usd_per_device_hour), 0, 0, 0, NULL},
    {"dram_usd_per_gb", K_F64, OFF(struct mc_run_cost, dram_usd_per_gb), 0, 0, 0, NULL},
    {"ssd_usd_per_gb", K_F64, OFF(struct mc_run_cost, ssd_usd_per_gb), 0, 0, 0, NULL},
};

static mc_err sec_cost(yctx *x, yaml_node_t *n, void *base, const char *key)
{
    mc_run_config *c = base;
    return apply_map(x, n, cost_keys, sizeof cost_keys / sizeof cost_keys[0], &c->cost, key);
}

/* The reference's CLI spells some keys with dashes or other names; all map to one field. */
static const keydef top_keys[] = {
    {"model_id", K_STR, OFF(mc_run_config, model_id), 0, 0, 0, NULL},
    {"model_name", K_STR, OFF(mc_run_config, model_id), 0, 0, 0, NULL},
    {"precision", K_STR, OFF(mc_run_config, precision), 0, 0, 0, NULL},
    {"dataset_names", K_STRLIST, OFF(mc_run_config, dataset_names),
     OFF(mc_run_config, n_dataset_names), 0, 0, NULL},
    {"datasets", K_STRLIST, OFF(mc_run_config, dataset_names), OFF(mc_run_config, n_dataset_names),
     0, 0, NULL},
    {"metrics", K_STRLIST, OFF(mc_run_config, metrics), OFF(mc_run_config, n_metrics), 0, 0, NULL},
    {"dataset_subset", K_STR, OFF(mc_run_config, dataset_subset),
     OFF(mc_run_config, dataset_subset_line), 0, 0, NULL},
    {"dataset_split", K_STR, OFF(mc_run_config, dataset_split),
     OFF(mc_run_config, dataset_split_line), 0, 0, NULL},
    {"fixed_length_mode", K_BOOL, OFF(mc_run_config, fixed_length_mode), 0, 0, 0, NULL},
    {"target_input_tokens", K_INT, OFF(mc_run_config, target_input_tokens), 0, 1, 1 << 20, NULL},
    {"target_output_tokens", K_INT, OFF(mc_run_config, target_output_tokens), 0, 1, 1 << 20,
     NULL},
    {"num_samples", K_INT, OFF(mc_run_config, num_samples), 0, 1, 100000000, NULL},
    {"profiling_only", K_BOOL, OFF(mc_run_config, profiling_only), 0, 0, 0, NULL},
    {"api_url", K_STR, OFF(mc_run_config, api_url), 0, 0, 0, NULL},
    {"api-url", K_STR, OFF(mc_run_config, api_url), 0, 0, 0, NULL},
    {"server_batch_size", K_INT, OFF(mc_run_config, server_batch_size), 0, 1, 4096, NULL},
    {"server-batch-size", K_INT, OFF(mc_run_config, server_batch_size), 0, 1, 4096, NULL},
    {"output_dir", K_STR, OFF(mc_run_config, output_dir), 0, 0, 0, NULL},
    {"hardware", K_STR, OFF(mc_run_config, hardware), 0, 0, 0, NULL},
    {"batch_sizes", K_INTLIST, OFF(mc_run_config, workload.batch_sizes),
     OFF(mc_run_config, workload.n_batch_sizes), 1, 4096, NULL},
    {"systems", K_SECTION, 0, 0, 0, 0, sec_systems},
    {"workload", K_SECTION, 0, 0, 0, 0, sec_workload},
    {"eval", K_SECTION, 0, 0, 0, 0, sec_eval},
    {"cost", K_SECTION, 0, 0, 0, 0, sec_cost},
};

/* ---- public ---- */

int mc_run_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= MC_RUN_NAME_MAX || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
              ch == '-'))
            return 0;
    }
    return 1;
}

static void system_unset(mc_run_system *s)
{
    memset(s, 0, sizeof *s);
    s->expert_cache_mb = -1;
    s->expert_cache_frac = NAN;
    s->prefetch = -1;
    s->threads = -1;
    s->parallel = -1;
}

mc_run_config *mc_run_config_new(void)
{
    mc_run_config *c = mc_calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->fixed_length_mode = c->profiling_only = -1;
    c->target_input_tokens = c->target_output_tokens = c->num_samples = -1;
    c->server_batch_size = -1;
    c->workload.input_len = c->workload.output_len = -1;
    c->workload.num_requests = c->workload.warmup = c->workload.seed = -1;
    c->eval.limit = c->eval.max_tokens = c->eval.fidelity_tokens = -1;
    double *costs[] = {&c->cost.device_price_usd, &c->cost.device_power_w,
                       &c->cost.host_price_usd,   &c->cost.host_power_w,
                       &c->cost.pue,              &c->cost.usd_per_kwh,
                       &c->cost.lifetime_years,   &c->cost.utilisation,
                       &c->cost.cloud_usd_per_device_hour, &c->cost.dram_usd_per_gb,
                       &c->cost.ssd_usd_per_gb};
    for (size_t i = 0; i < sizeof costs / sizeof costs[0]; i++)
        *costs[i] = NAN;
    return c;
}

mc_run_system *mc_run_config_add_system(mc_run_config *c, const char *name, const char *model)
{
    if (c->n_systems == MC_RUN_MAX_SYSTEMS)
        return NULL;
    mc_run_system *s = &c->systems[c->n_systems];
    system_unset(s);
    snprintf(s->name, sizeof s->name, "%s", name);
    if (model && !(s->model = mc_strdup(model)))
        return NULL;
    c->n_systems++;
    return s;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        mc_free(v[i]);
}

void mc_run_config_free(mc_run_config *c)
{
    if (!c)
        return;
    char *strs[] = {c->path,           c->model_id,      c->precision,  c->dataset_subset,
                    c->dataset_split,  c->api_url,       c->output_dir, c->hardware,
                    c->eval.fidelity_reference};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        mc_free(strs[i]);
    free_list(c->dataset_names, c->n_dataset_names);
    free_list(c->metrics, c->n_metrics);
    free_list(c->eval.tasks, c->eval.n_tasks);
    free_list(c->warnings, c->n_warnings);
    mc_free(c->warnings);
    for (size_t i = 0; i < c->n_systems; i++) {
        mc_run_system *s = &c->systems[i];
        char *ss[] = {s->label, s->model, s->url, s->cap_model, s->weights_type,
                      s->expert_cache_policy};
        for (size_t j = 0; j < sizeof ss / sizeof ss[0]; j++)
            mc_free(ss[j]);
    }
    mc_free(c);
}

static mc_err parse_doc(yctx *x, yaml_parser_t *p)
{
    yaml_document_t doc;
    if (!yaml_parser_load(p, &doc)) {
        size_t line = (p->problem_mark.line ? p->problem_mark.line : p->context_mark.line) + 1;
        return mc_fail(x->d, MC_ERR_FORMAT, "%s:%zu: bad YAML: %s%s%s", x->where, line,
                       p->problem ? p->problem : "parse error", p->context ? " " : "",
                       p->context ? p->context : "");
    }
    x->doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    mc_err e = MC_OK;
    if (root && !(root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0))
        e = apply_map(x, root, top_keys, sizeof top_keys / sizeof top_keys[0], x->cfg, "");
    yaml_document_delete(&doc);
    return e;
}

mc_err mc_run_config_parse(const char *yaml, size_t len, const char *where, mc_run_config **out,
                           mc_diag *d)
{
    *out = NULL;
    mc_run_config *c = mc_run_config_new();
    if (!c || !(c->path = mc_strdup(where ? where : "<string>"))) {
        mc_run_config_free(c);
        return mc_fail(d, MC_ERR_NOMEM, "config: out of memory");
    }
    yctx x = {NULL, c->path, c, d};
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        mc_run_config_free(c);
        return mc_fail(d, MC_ERR_NOMEM, "config: out of memory");
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)yaml, len);
    mc_err e = parse_doc(&x, &p);
    yaml_parser_delete(&p);
    if (e) {
        mc_run_config_free(c);
        return e;
    }
    *out = c;
    return MC_OK;
}

mc_err mc_run_config_load(const char *path, mc_run_config **out, mc_diag *d)
{
    char *buf = NULL;
    size_t len = 0;
    *out = NULL;
    mc_err e = mc_read_file(path, CONFIG_MAX_BYTES, &buf, &len, d);
    if (e == MC_OK)
        e = mc_run_config_parse(buf, len, path, out, d);
    mc_free(buf);
    return e;
}
