/* ds_int.h: private to src/data: the data set object, its string arena, and the per-format
 * record readers (ds.c: loading, selection; jsonl.c: JSON records; text.c: HellaSwag text and
 * CSV; read.c: files and bzip2). */
#ifndef MC_DS_INT_H
#define MC_DS_INT_H

#include "data.h"

#include <cjson/cJSON.h>

#define DS_MAX_WARNINGS 20

typedef struct ds_block {
    struct ds_block *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} ds_block;

struct mc_ds {
    mc_ds_fmt fmt;
    ds_block *arena;
    mc_ds_item *items;
    size_t n, cap;
    size_t *sel;
    size_t n_sel;
    unsigned char *is_sel; /* [n] */
    char **files;
    size_t n_files;
    char *warn[DS_MAX_WARNINGS];
    size_t n_warn;
    uint64_t skipped;
};

/* Loading one file: where records go and how bad ones are handled. */
typedef struct ds_ctx {
    mc_ds *ds;
    const mc_ds_opts *o;
    const char *file; /* interned in the arena */
} ds_ctx;

/* ds.c */
void *ds_alloc(mc_ds *ds, size_t n);                  /* 16-byte aligned, zeroed */
char *ds_strndup(mc_ds *ds, const char *s, size_t n); /* NULL only when out of memory */
char *ds_strdup(mc_ds *ds, const char *s);
mc_ds_item *ds_new_item(ds_ctx *c, uint64_t line); /* appended, zeroed, file/line set */
void ds_drop_item(ds_ctx *c);                      /* removes the last item */
/* A bad record: with strict, returns MC_ERR_FORMAT with "file:line: msg" in d; else records a
 * warning, counts the skip and returns MC_OK. */
mc_err ds_bad(ds_ctx *c, uint64_t line, const char *msg, mc_diag *d);
/* The default id of a record: its line number as text. */
const char *ds_line_id(ds_ctx *c, uint64_t line);
/* A value from the file made fit for a one-line message: at most 40 bytes, control characters
 * (newlines...) shown as '?', "..." when cut. Returns buf (48 bytes at least). */
const char *ds_quote(const char *s, char *buf, size_t n);

/* jsonl.c: one record of a JSON-based format into it (already appended). MC_ERR_FORMAT with the
 * problem in d (no file:line prefix) for a bad record; MC_ERR_NOMEM. */
typedef mc_err (*ds_json_fn)(ds_ctx *c, const cJSON *rec, mc_ds_item *it, mc_diag *d);
ds_json_fn ds_json_reader(mc_ds_fmt f);
/* Detects a JSONL format from the first record's keys; MC_DS_AUTO when unknown. */
mc_ds_fmt ds_json_detect(const cJSON *rec);
mc_err ds_load_jsonl(ds_ctx *c, const char *buf, size_t len, mc_ds_fmt f, mc_diag *d);
mc_err ds_load_sharegpt(ds_ctx *c, const char *buf, size_t len, mc_diag *d);

/* text.c */
mc_err ds_load_hellaswag_text(ds_ctx *c, const char *buf, size_t len, mc_diag *d);
int ds_looks_like_hellaswag_text(const char *buf, size_t len);
mc_err ds_load_csv(ds_ctx *c, const char *buf, size_t len, mc_ds_fmt f, mc_diag *d);

#endif
