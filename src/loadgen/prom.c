/* prom.c: the Prometheus text exposition format (0.0.4, and the OpenMetrics spellings servers
 * use) as far as `moecap bench` needs it: samples with their family's TYPE, and the increase of
 * every cumulative series (counters, histogram/summary _sum and _count) between two scrapes.
 * Lenient on purpose: a line that is not a sample is skipped and counted, never fatal, because
 * the scrape only adds context to a run. Bounded: at most max_samples samples. Depends on base
 * only. */
#include "loadgen.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void mc_lg_prom_init(mc_lg_prom *p)
{
    memset(p, 0, sizeof *p);
}

void mc_lg_prom_deinit(mc_lg_prom *p)
{
    for (size_t i = 0; i < p->n; i++)
        mc_free(p->v[i].key);
    mc_free(p->v);
    for (size_t i = 0; i < p->n_types; i++)
        mc_free(p->types[i].family);
    mc_free(p->types);
    mc_lg_prom_init(p);
}

static int name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}

static int name_char(char c)
{
    return name_start(c) || (c >= '0' && c <= '9');
}

static size_t name_len(const char *s, size_t n)
{
    size_t i = 0;
    if (n == 0 || !name_start(s[0]))
        return 0;
    while (i < n && name_char(s[i]))
        i++;
    return i;
}

/* End of a label set starting at s[0] == '{': index after the matching '}', 0 if unterminated.
 * Label values are quoted strings with backslash escapes and may hold '}' and spaces. */
static size_t labels_len(const char *s, size_t n)
{
    int quoted = 0;
    for (size_t i = 1; i < n; i++) {
        if (quoted && s[i] == '\\')
            i++;
        else if (s[i] == '"')
            quoted = !quoted;
        else if (!quoted && s[i] == '}')
            return i + 1;
    }
    return 0;
}

/* A sample value: a number, NaN or [+-]Inf. */
static int parse_value(const char *s, size_t n, double *v)
{
    char buf[64];
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = 0;
    const char *b = buf[0] == '+' ? buf + 1 : buf;
    if (strcmp(buf, "NaN") == 0)
        *v = NAN;
    else if (strcmp(b, "Inf") == 0 || strcmp(b, "+Inf") == 0)
        *v = INFINITY;
    else if (strcmp(buf, "-Inf") == 0)
        *v = -INFINITY;
    else
        return mc_parse_f64(buf, v) == MC_OK ? 0 : -1;
    return 0;
}

static mc_prom_kind kind_of(const char *s, size_t n)
{
    static const struct {
        const char *name;
        mc_prom_kind k;
    } t[] = {{"counter", MC_PROM_COUNTER},
             {"gauge", MC_PROM_GAUGE},
             {"histogram", MC_PROM_HISTOGRAM},
             {"gaugehistogram", MC_PROM_GAUGE},
             {"summary", MC_PROM_SUMMARY}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strlen(t[i].name) == n && memcmp(t[i].name, s, n) == 0)
            return t[i].k;
    return MC_PROM_UNTYPED;
}

/* "# TYPE family kind" */
static mc_err add_type(mc_lg_prom *p, const char *s, size_t n, mc_diag *d)
{
    size_t k = name_len(s, n);
    if (k == 0 || k >= n || s[k] != ' ')
        return MC_OK; /* not a usable TYPE line: ignored */
    if (p->n_types == p->cap_types) {
        size_t nc = p->cap_types ? p->cap_types * 2 : 64;
        void *v = mc_reallocarray(p->types, nc, sizeof *p->types);
        if (!v)
            return mc_fail(d, MC_ERR_NOMEM, "metrics: out of memory");
        p->types = v;
        p->cap_types = nc;
    }
    const char *kind = s + k + 1;
    size_t kn = n - k - 1;
    while (kn && (kind[kn - 1] == ' ' || kind[kn - 1] == '\t'))
        kn--;
    mc_lg_prom_type *t = &p->types[p->n_types];
    if (!(t->family = mc_strndup(s, k)))
        return mc_fail(d, MC_ERR_NOMEM, "metrics: out of memory");
    t->kind = kind_of(kind, kn);
    p->n_types++;
    return MC_OK;
}

static int has_suffix(const char *s, size_t n, const char *suf, size_t fam_n)
{
    size_t k = strlen(suf);
    return n == fam_n + k && memcmp(s + fam_n, suf, k) == 0;
}

/* The family (last TYPE line whose name is this sample's name or its prefix before a standard
 * suffix) decides whether the sample is cumulative. */
static void classify(const mc_lg_prom *p, mc_lg_prom_sample *smp)
{
    const char *s = smp->key;
    size_t n = smp->name_len;
    for (size_t i = p->n_types; i-- > 0;) {
        const mc_lg_prom_type *t = &p->types[i];
        size_t fn = strlen(t->family);
        if (fn > n || memcmp(s, t->family, fn) != 0)
            continue;
        int sum_count = has_suffix(s, n, "_sum", fn) || has_suffix(s, n, "_count", fn);
        if (t->kind == MC_PROM_COUNTER && (n == fn || has_suffix(s, n, "_total", fn))) {
            smp->kind = t->kind;
            smp->cumulative = 1;
            return;
        }
        if ((t->kind == MC_PROM_HISTOGRAM || t->kind == MC_PROM_SUMMARY) &&
            (sum_count || has_suffix(s, n, "_bucket", fn) || n == fn)) {
            smp->kind = t->kind;
            smp->cumulative = sum_count;
            return;
        }
        if (n == fn) {
            smp->kind = t->kind;
            return;
        }
    }
}

static mc_err add_sample(mc_lg_prom *p, const char *s, size_t key_n, size_t name_n, double v,
                         size_t max_samples, mc_diag *d)
{
    if (p->n >= max_samples)
        return mc_fail(d, MC_ERR_RANGE, "metrics: more than %zu samples", max_samples);
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 256;
        void *nv = mc_reallocarray(p->v, nc, sizeof *p->v);
        if (!nv)
            return mc_fail(d, MC_ERR_NOMEM, "metrics: out of memory");
        p->v = nv;
        p->cap = nc;
    }
    mc_lg_prom_sample *smp = &p->v[p->n];
    memset(smp, 0, sizeof *smp);
    if (!(smp->key = mc_strndup(s, key_n)))
        return mc_fail(d, MC_ERR_NOMEM, "metrics: out of memory");
    smp->name_len = name_n;
    smp->value = v;
    classify(p, smp);
    p->n++;
    return MC_OK;
}

/* Length of the sample key (name and label set) at s, 0 when it is not one. */
static size_t key_len(const char *s, size_t n, size_t *name_n)
{
    size_t k = name_len(s, n);
    *name_n = k;
    if (k == 0 || k == n || s[k] != '{')
        return k;
    size_t l = labels_len(s + k, n - k);
    return l ? k + l : 0;
}

/* One line (no line end). Returns an error only for limits and memory. */
static mc_err parse_line(mc_lg_prom *p, const char *s, size_t n, size_t max_samples, mc_diag *d)
{
    while (n && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n == 0)
        return MC_OK;
    if (s[0] == '#')
        return n > 7 && memcmp(s, "# TYPE ", 7) == 0 ? add_type(p, s + 7, n - 7, d) : MC_OK;
    size_t name_n, key = key_len(s, n, &name_n), vs = key, ve;
    while (vs < n && (s[vs] == ' ' || s[vs] == '\t'))
        vs++;
    for (ve = vs; ve < n && s[ve] != ' ' && s[ve] != '\t';)
        ve++;
    double v;
    if (key == 0 || vs == key || parse_value(s + vs, ve - vs, &v) != 0) {
        p->n_skipped++;
        return MC_OK;
    }
    return add_sample(p, s, key, name_n, v, max_samples, d); /* a timestamp after it: ignored */
}

mc_err mc_lg_prom_parse(const char *text, size_t len, size_t max_samples, mc_lg_prom *out,
                        mc_diag *d)
{
    if (max_samples == 0)
        max_samples = 1000000;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t n = eol ? (size_t)(eol - p) : (size_t)(end - p);
        mc_err e = parse_line(out, p, n, max_samples, d);
        if (e)
            return e;
        p += n + 1;
    }
    return MC_OK;
}

static int cmp_key(const void *a, const void *b)
{
    const mc_lg_prom_sample *const *x = a, *const *y = b;
    return strcmp((*x)->key, (*y)->key);
}

static const mc_lg_prom_sample *find(const mc_lg_prom_sample **sorted, size_t n, const char *key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(sorted[mid]->key, key);
        if (c == 0)
            return sorted[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

mc_err mc_lg_prom_deltas(const mc_lg_prom *before, const mc_lg_prom *after, mc_lg_prom_delta **out,
                         size_t *n_out, mc_diag *d)
{
    *out = NULL;
    *n_out = 0;
    const mc_lg_prom_sample **idx = mc_mallocarray(before->n ? before->n : 1, sizeof *idx);
    mc_lg_prom_delta *v = mc_mallocarray(after->n ? after->n : 1, sizeof *v);
    if (!idx || !v) {
        mc_free(idx);
        mc_free(v);
        return mc_fail(d, MC_ERR_NOMEM, "metrics: out of memory");
    }
    for (size_t i = 0; i < before->n; i++)
        idx[i] = &before->v[i];
    qsort(idx, before->n, sizeof *idx, cmp_key);
    size_t n = 0;
    for (size_t i = 0; i < after->n; i++) {
        const mc_lg_prom_sample *a = &after->v[i];
        if (!a->cumulative || !isfinite(a->value))
            continue;
        const mc_lg_prom_sample *b = find(idx, before->n, a->key);
        int fresh = !b || !isfinite(b->value);
        v[n].key = a->key;
        v[n].reset = !fresh && a->value < b->value; /* a restart: it counted from 0 again */
        v[n].delta = fresh || v[n].reset ? a->value : a->value - b->value;
        v[n].is_new = !b;
        n++;
    }
    mc_free(idx);
    *out = v;
    *n_out = n;
    return MC_OK;
}
