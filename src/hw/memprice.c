/* memprice.c: the memory price table (mc_catalogue_dir()/memory.csv, format in docs/HARDWARE.md
 * "Memory prices"): $ per GB of each memory tier (server DRAM, HBM, datacenter SSD), each row
 * with its source and date, for cost.memory_capital (src/cap/cost.c).
 *
 * Depends on base and the CSV splitter of catalogue.c; never on the hardware rows. */
#include "hw.h"
#include "hw_internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MEM_CSV_MAX_BYTES (256u << 10)
#define MEM_MAX_ROWS 256

enum mcol { M_TIER, M_PRICE, M_ESTIMATE, M_DATE, M_SOURCE, M_NOTES, M_COUNT };
static const char *mcols[M_COUNT] = {"tier", "usd_per_gb", "estimate", "date", "source", "notes"};

typedef struct mem_table {
    const char *path;
    int pos[M_COUNT];
    int nfields;
    mc_mem_price *v;
    int n;
} mem_table;

static mc_err header(mem_table *t, const mc_csv_fields *f, int line, mc_diag *d)
{
    for (int c = 0; c < M_COUNT; c++)
        t->pos[c] = -1;
    for (int i = 0; i < f->n; i++) {
        int c = 0;
        while (c < M_COUNT && strcmp(f->f[i], mcols[c]) != 0)
            c++;
        if (c == M_COUNT)
            return mc_fail(d, MC_ERR_FORMAT, "%s:%d: unknown column '%s'", t->path, line, f->f[i]);
        if (t->pos[c] >= 0)
            return mc_fail(d, MC_ERR_FORMAT, "%s:%d: duplicate column '%s'", t->path, line,
                           f->f[i]);
        t->pos[c] = i;
    }
    for (int c = 0; c < M_COUNT; c++)
        if (t->pos[c] < 0)
            return mc_fail(d, MC_ERR_FORMAT, "%s:%d: missing column '%s'", t->path, line, mcols[c]);
    t->nfields = f->n;
    return MC_OK;
}

static mc_err text(const mem_table *t, int line, int c, const char *s, char *dst, size_t cap,
                   int required, mc_diag *d)
{
    if ((required && !s[0]) || strlen(s) >= cap)
        return mc_fail(d, MC_ERR_FORMAT, "%s:%d:%s: %s", t->path, line, mcols[c],
                       s[0] ? "too long" : "required");
    memcpy(dst, s, strlen(s) + 1);
    return MC_OK;
}

static mc_err check_date(const mem_table *t, int line, const char *s, mc_diag *d)
{
    int ok = strlen(s) == 7 && s[4] == '-';
    for (int i = 0; ok && i < 7; i++)
        ok = i == 4 || (s[i] >= '0' && s[i] <= '9');
    if (!ok)
        return mc_fail(d, MC_ERR_FORMAT, "%s:%d:date: '%s' is not YYYY-MM", t->path, line, s);
    return MC_OK;
}

static mc_err row(mem_table *t, const mc_csv_fields *f, int line, mc_diag *d)
{
    if (f->n != t->nfields)
        return mc_fail(d, MC_ERR_FORMAT, "%s:%d: %d fields, the header has %d", t->path, line,
                       f->n, t->nfields);
    if (t->n == MEM_MAX_ROWS)
        return mc_fail(d, MC_ERR_RANGE, "%s:%d: more than %d rows", t->path, line, MEM_MAX_ROWS);
    mc_mem_price *p = &t->v[t->n];
    const char *est = f->f[t->pos[M_ESTIMATE]];
    mc_err e = text(t, line, M_TIER, f->f[t->pos[M_TIER]], p->tier, sizeof p->tier, 1, d);
    if (!e)
        e = text(t, line, M_SOURCE, f->f[t->pos[M_SOURCE]], p->source, sizeof p->source, 1, d);
    if (!e)
        e = text(t, line, M_NOTES, f->f[t->pos[M_NOTES]], p->notes, sizeof p->notes, 0, d);
    if (!e)
        e = text(t, line, M_DATE, f->f[t->pos[M_DATE]], p->date, sizeof p->date, 1, d);
    if (!e)
        e = check_date(t, line, p->date, d);
    if (e)
        return e;
    if (mc_parse_f64(f->f[t->pos[M_PRICE]], &p->usd_per_gb) != MC_OK || !(p->usd_per_gb > 0))
        return mc_fail(d, MC_ERR_FORMAT, "%s:%d:usd_per_gb: '%s' is not a number > 0", t->path,
                       line, f->f[t->pos[M_PRICE]]);
    if (strcmp(est, "yes") != 0 && strcmp(est, "no") != 0)
        return mc_fail(d, MC_ERR_FORMAT, "%s:%d:estimate: '%s' is not yes or no", t->path, line,
                       est);
    p->estimate = strcmp(est, "yes") == 0;
    for (int i = 0; i < t->n; i++)
        if (strcasecmp(t->v[i].tier, p->tier) == 0)
            return mc_fail(d, MC_ERR_FORMAT, "%s:%d:tier: duplicate tier '%s'", t->path, line,
                           p->tier);
    t->n++;
    return MC_OK;
}

static mc_err line_parse(mem_table *t, char *s, int line, int *have_header, mc_diag *d)
{
    size_t len = strlen(s);
    if (len && s[len - 1] == '\r')
        s[--len] = 0;
    if (len == 0 || s[0] == '#')
        return MC_OK;
    mc_csv_fields f;
    mc_err e = mc_hw_csv_split(s, &f, t->path, line, d);
    if (e)
        return e;
    if (*have_header)
        return row(t, &f, line, d);
    *have_header = 1;
    return header(t, &f, line, d);
}

mc_err mc_hw_mem_prices_parse(char *data, size_t len, const char *path, mc_mem_price **list,
                              int *count, mc_diag *d)
{
    mem_table t = {.path = path};
    *list = NULL;
    *count = 0;
    if (strlen(data) != len)
        return mc_fail(d, MC_ERR_FORMAT, "%s: contains a NUL byte", path);
    t.v = mc_calloc(MEM_MAX_ROWS, sizeof *t.v);
    if (!t.v)
        return mc_fail(d, MC_ERR_NOMEM, "%s: out of memory", path);
    int line = 0, have_header = 0;
    mc_err e = MC_OK;
    for (char *p = data; !e && *p;) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = 0;
        e = line_parse(&t, p, ++line, &have_header, d);
        p = nl ? nl + 1 : p + strlen(p);
    }
    if (!e && t.n == 0)
        e = mc_fail(d, MC_ERR_FORMAT, "%s: no price rows", path);
    if (e) {
        mc_free(t.v);
        return e;
    }
    *list = t.v;
    *count = t.n;
    return MC_OK;
}

mc_err mc_hw_mem_prices_load(mc_mem_price **list, int *count, mc_diag *d)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/memory.csv", mc_catalogue_dir());
    if (n < 0 || (size_t)n >= sizeof path)
        return mc_fail(d, MC_ERR_ARG, "memory prices: catalogue directory path too long");
    char *data = NULL;
    size_t len = 0;
    mc_err e = mc_read_file(path, MEM_CSV_MAX_BYTES, &data, &len, d);
    if (!e)
        e = mc_hw_mem_prices_parse(data, len, path, list, count, d);
    mc_free(data);
    return e;
}
