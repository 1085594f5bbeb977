/* ds.c: the data set object: string arena, item list, bad-record policy (file:line warnings or
 * a strict failure), format detection, loading several files into one set, the --limit /
 * seeded --sample selection, and glob expansion. Depends on base, cJSON and this module's
 * readers; knows nothing about prompts or scoring. */
#include "ds_int.h"

#include <glob.h>
#include <stdio.h>
#include <string.h>

static const char *const fmt_names[MC_DS_FMT_COUNT_] = {
    [MC_DS_AUTO] = "auto",           [MC_DS_GSM8K] = "gsm8k",       [MC_DS_MMLU_PRO] = "mmlu-pro",
    [MC_DS_HELLASWAG] = "hellaswag", [MC_DS_MMLU] = "mmlu",         [MC_DS_ARC] = "arc",
    [MC_DS_LONGBENCH] = "longbench", [MC_DS_MT_BENCH] = "mt-bench", [MC_DS_SHAREGPT] = "sharegpt",
    [MC_DS_CUSTOM] = "custom"};

const char *mc_ds_fmt_name(mc_ds_fmt f)
{
    return f >= 0 && f < MC_DS_FMT_COUNT_ ? fmt_names[f] : "?";
}

mc_err mc_ds_fmt_parse(const char *s, mc_ds_fmt *out, mc_diag *d)
{
    for (int f = 0; f < MC_DS_FMT_COUNT_; f++)
        if (strcmp(s, fmt_names[f]) == 0) {
            *out = (mc_ds_fmt)f;
            return MC_OK;
        }
    return mc_fail(d, MC_ERR_ARG,
                   "unknown data format '%s' (auto, gsm8k, mmlu-pro, hellaswag, mmlu, arc, "
                   "longbench, mt-bench, sharegpt, custom)",
                   s);
}

char mc_ds_letter(size_t i)
{
    return i < 26 ? (char)('A' + i) : '?';
}

/* ---- arena --------------------------------------------------------------------------------- */

void *ds_alloc(mc_ds *ds, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    ds_block *b = ds->arena;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > (1u << 16) ? n : (1u << 16);
        b = mc_malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->used = 0;
        b->cap = cap;
        b->next = ds->arena;
        ds->arena = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

char *ds_strndup(mc_ds *ds, const char *s, size_t n)
{
    char *p = n < SIZE_MAX - 16 ? ds_alloc(ds, n + 1) : NULL;
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

char *ds_strdup(mc_ds *ds, const char *s)
{
    return ds_strndup(ds, s, strlen(s));
}

/* ---- items and bad records ------------------------------------------------------------------ */

mc_ds_item *ds_new_item(ds_ctx *c, uint64_t line)
{
    mc_ds *ds = c->ds;
    if (ds->n == ds->cap) {
        size_t ncap = ds->cap ? ds->cap * 2 : 256;
        mc_ds_item *p = mc_reallocarray(ds->items, ncap, sizeof *p);
        if (!p)
            return NULL;
        ds->items = p;
        ds->cap = ncap;
    }
    mc_ds_item *it = &ds->items[ds->n++];
    memset(it, 0, sizeof *it);
    it->gold = -1;
    it->file = c->file;
    it->line = line;
    return it;
}

void ds_drop_item(ds_ctx *c)
{
    if (c->ds->n)
        c->ds->n--;
}

mc_err ds_bad(ds_ctx *c, uint64_t line, const char *msg, mc_diag *d)
{
    if (c->o->strict)
        return mc_fail(d, MC_ERR_FORMAT, "%s:%llu: %s", c->file, (unsigned long long)line, msg);
    mc_ds *ds = c->ds;
    ds->skipped++;
    if (ds->n_warn < DS_MAX_WARNINGS) {
        char buf[600];
        snprintf(buf, sizeof buf, "%s:%llu: %s", c->file, (unsigned long long)line, msg);
        char *w = ds_strdup(ds, buf);
        if (!w)
            return mc_fail(d, MC_ERR_NOMEM, "out of memory");
        ds->warn[ds->n_warn++] = w;
    }
    return MC_OK;
}

const char *ds_quote(const char *s, char *buf, size_t n)
{
    size_t i = 0, max = n < 48 ? n - 4 : 40;
    for (; s[i] && i < max; i++)
        buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    if (s[i])
        buf[i++] = '.', buf[i++] = '.', buf[i++] = '.';
    buf[i] = 0;
    return buf;
}

const char *ds_line_id(ds_ctx *c, uint64_t line)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)line);
    return ds_strdup(c->ds, buf);
}

/* ---- one file -------------------------------------------------------------------------------- */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    return p;
}

/* The first non-blank line as JSON, for detection. */
static mc_ds_fmt detect_jsonl(const char *buf, size_t len)
{
    const char *p = skip_ws(buf, buf + len);
    const char *nl = memchr(p, '\n', (size_t)(buf + len - p));
    cJSON *j = cJSON_ParseWithLength(p, nl ? (size_t)(nl - p) : (size_t)(buf + len - p));
    mc_ds_fmt f = j ? ds_json_detect(j) : MC_DS_AUTO;
    cJSON_Delete(j);
    return f;
}

static mc_ds_fmt detect(const char *path, const char *buf, size_t len)
{
    const char *p = skip_ws(buf, buf + len);
    if (ds_looks_like_hellaswag_text(buf, len))
        return MC_DS_HELLASWAG;
    if (p < buf + len && *p == '[')
        return MC_DS_SHAREGPT;
    if (ends_with(path, ".csv"))
        return MC_DS_MMLU; /* the CSV reader tells MMLU and ARC layouts apart itself */
    return detect_jsonl(buf, len);
}

static mc_err load_buf(ds_ctx *c, const char *path, const char *buf, size_t len, mc_diag *d)
{
    mc_ds *ds = c->ds;
    mc_ds_fmt f = ds->fmt;
    if (f == MC_DS_AUTO) {
        f = detect(path, buf, len);
        if (f == MC_DS_AUTO)
            return mc_fail(d, MC_ERR_FORMAT,
                           "%s: cannot tell the data format from the first record (give "
                           "--format)",
                           path);
        ds->fmt = f;
    }
    if (f == MC_DS_SHAREGPT)
        return ds_load_sharegpt(c, buf, len, d);
    if (f == MC_DS_HELLASWAG && ds_looks_like_hellaswag_text(buf, len))
        return ds_load_hellaswag_text(c, buf, len, d);
    if ((f == MC_DS_MMLU || f == MC_DS_ARC) && ends_with(path, ".csv"))
        return ds_load_csv(c, buf, len, f, d);
    return ds_load_jsonl(c, buf, len, f, d);
}

static mc_err load_file(mc_ds *ds, const mc_ds_opts *o, const char *path, mc_diag *d)
{
    char *name = ds_strdup(ds, path);
    char **files = name ? mc_reallocarray(ds->files, ds->n_files + 1, sizeof *files) : NULL;
    if (!files)
        return mc_fail(d, MC_ERR_NOMEM, "out of memory");
    ds->files = files;
    ds->files[ds->n_files++] = name;
    char *buf = NULL;
    size_t len = 0;
    mc_err e = mc_ds_read_file(path, o->max_file_bytes ? o->max_file_bytes : (size_t)1 << 30, &buf,
                               &len, d);
    if (e)
        return e;
    ds_ctx c = {.ds = ds, .o = o, .file = name};
    e = load_buf(&c, path, buf, len, d);
    mc_free(buf);
    return e;
}

/* ---- selection ------------------------------------------------------------------------------ */

/* Does item i take part in the selection (the category filter)? */
static int candidate(const mc_ds *ds, const mc_ds_opts *o, size_t i)
{
    const char *c = ds->items[i].category;
    return !o->category || (c && strcmp(c, o->category) == 0);
}

/* The selection among the candidates: the first `limit`, or `sample` drawn with Floyd's
 * algorithm (a uniform N-subset, independent of the order of draws), in file order. */
static mc_err select_items(mc_ds *ds, const mc_ds_opts *o, mc_diag *d)
{
    size_t n = ds->n, nc = 0;
    ds->is_sel = mc_calloc(n, 1);
    ds->sel = mc_mallocarray(n, sizeof *ds->sel);
    if (!ds->is_sel || !ds->sel)
        return mc_fail(d, MC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) /* sel holds the candidates first */
        if (candidate(ds, o, i))
            ds->sel[nc++] = i;
    if (nc == 0)
        return mc_fail(d, MC_ERR_ARG, "--category '%.200s': no item of that category",
                       o->category);
    size_t want = nc;
    if (o->limit && o->limit < want)
        want = (size_t)o->limit;
    if (o->sample && o->sample < want) {
        mc_rng r;
        mc_rng_seed(&r, o->seed);
        for (size_t j = nc - (size_t)o->sample; j < nc; j++) {
            size_t t = (size_t)mc_rng_below(&r, (uint64_t)j + 1);
            ds->is_sel[ds->sel[ds->is_sel[ds->sel[t]] ? j : t]] = 1;
        }
    } else {
        for (size_t k = 0; k < want; k++)
            ds->is_sel[ds->sel[k]] = 1;
    }
    ds->n_sel = 0;
    for (size_t i = 0; i < n; i++)
        if (ds->is_sel[i])
            ds->sel[ds->n_sel++] = i;
    return MC_OK;
}

mc_err mc_ds_load(const char *const *paths, size_t n_paths, const mc_ds_opts *o, mc_ds **out,
                  mc_diag *d)
{
    *out = NULL;
    if (o->limit && o->sample)
        return mc_fail(d, MC_ERR_ARG, "--limit and --sample exclude each other");
    if (n_paths == 0)
        return mc_fail(d, MC_ERR_ARG, "no data file given");
    if (o->fmt == MC_DS_CUSTOM && !o->fields.prompt)
        return mc_fail(d, MC_ERR_ARG, "custom data needs --field prompt=KEY");
    mc_ds *ds = mc_calloc(1, sizeof *ds);
    if (!ds)
        return mc_fail(d, MC_ERR_NOMEM, "out of memory");
    ds->fmt = o->fmt;
    mc_err e = MC_OK;
    for (size_t i = 0; i < n_paths && !e; i++)
        e = load_file(ds, o, paths[i], d);
    if (!e && ds->n == 0)
        e = mc_fail(d, MC_ERR_FORMAT, "%s%s: no valid %s item%s%.300s%s", paths[0],
                    n_paths > 1 ? " (and the other files)" : "", mc_ds_fmt_name(ds->fmt),
                    ds->skipped ? " (every record was bad; first: " : "",
                    ds->n_warn ? ds->warn[0] : "", ds->skipped ? ")" : "");
    if (!e)
        e = select_items(ds, o, d);
    if (e) {
        mc_ds_free(ds);
        return e;
    }
    *out = ds;
    return MC_OK;
}

void mc_ds_free(mc_ds *ds)
{
    if (!ds)
        return;
    for (ds_block *b = ds->arena, *next; b; b = next) {
        next = b->next;
        mc_free(b);
    }
    mc_free(ds->items);
    mc_free(ds->sel);
    mc_free(ds->is_sel);
    mc_free(ds->files);
    mc_free(ds);
}

/* ---- getters -------------------------------------------------------------------------------- */

mc_ds_fmt mc_ds_format(const mc_ds *ds)
{
    return ds->fmt;
}
size_t mc_ds_count(const mc_ds *ds)
{
    return ds->n;
}
const mc_ds_item *mc_ds_at(const mc_ds *ds, size_t i)
{
    return i < ds->n ? &ds->items[i] : NULL;
}
int mc_ds_is_selected(const mc_ds *ds, size_t i)
{
    return i < ds->n && ds->is_sel[i];
}
uint64_t mc_ds_skipped(const mc_ds *ds)
{
    return ds->skipped;
}
size_t mc_ds_n_warnings(const mc_ds *ds)
{
    return ds->n_warn;
}
const char *mc_ds_warning(const mc_ds *ds, size_t i)
{
    return i < ds->n_warn ? ds->warn[i] : NULL;
}
size_t mc_ds_n_files(const mc_ds *ds)
{
    return ds->n_files;
}
const char *mc_ds_file(const mc_ds *ds, size_t i)
{
    return i < ds->n_files ? ds->files[i] : NULL;
}

const size_t *mc_ds_selected(const mc_ds *ds, size_t *n)
{
    *n = ds->n_sel;
    return ds->sel;
}

/* ---- glob ------------------------------------------------------------------------------------ */

mc_err mc_ds_glob(const char *pattern, char ***paths, size_t *n, mc_diag *d)
{
    *paths = NULL;
    *n = 0;
    glob_t g;
    memset(&g, 0, sizeof g);
    int rc = glob(pattern, GLOB_ERR, NULL, &g);
    if (rc == GLOB_NOMATCH || (rc == 0 && g.gl_pathc == 0)) {
        globfree(&g);
        return mc_fail(d, MC_ERR_NOT_FOUND, "%s: no such file", pattern);
    }
    if (rc != 0) {
        globfree(&g);
        return mc_fail(d, rc == GLOB_NOSPACE ? MC_ERR_NOMEM : MC_ERR_IO, "%s: cannot expand",
                       pattern);
    }
    char **out = mc_calloc(g.gl_pathc, sizeof *out);
    mc_err e = out ? MC_OK : mc_fail(d, MC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !e && i < g.gl_pathc; i++)
        if (!(out[i] = mc_strdup(g.gl_pathv[i])))
            e = mc_fail(d, MC_ERR_NOMEM, "out of memory");
    size_t cnt = g.gl_pathc;
    globfree(&g);
    if (e) {
        mc_ds_paths_free(out, cnt);
        return e;
    }
    *paths = out;
    *n = cnt;
    return MC_OK;
}

void mc_ds_paths_free(char **paths, size_t n)
{
    for (size_t i = 0; paths && i < n; i++)
        mc_free(paths[i]);
    mc_free(paths);
}
