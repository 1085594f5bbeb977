/* text.c: the line- and column-based formats: HellaSwag's 6-lines-per-task text form (as
 * llama.cpp's --hellaswag reads it) and CSV (RFC 4180: quoted fields with "" escapes and line
 * breaks inside quotes) in the MMLU layout (question, options, answer; with or without a header)
 * and the ARC layout (a header with "question" whose text carries "(A) ... (B) ..." choices and
 * "AnswerKey"). Depends on base and ds.c's arena; knows nothing about prompts or scoring. */
#include "ds_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- lines ---------------------------------------------------------------------------------- */

typedef struct line_iter {
    const char *p, *end;
    uint64_t no;
} line_iter;

/* The next line (without '\n' and a trailing '\r'); 0 at the end. */
static int next_line(line_iter *li, const char **s, size_t *n)
{
    if (li->p >= li->end)
        return 0;
    const char *nl = memchr(li->p, '\n', (size_t)(li->end - li->p));
    const char *le = nl ? nl : li->end;
    *s = li->p;
    *n = (size_t)(le - li->p);
    if (*n && (*s)[*n - 1] == '\r')
        (*n)--;
    li->p = nl ? nl + 1 : li->end;
    li->no++;
    return 1;
}

/* ---- HellaSwag text ------------------------------------------------------------------------- */

int ds_looks_like_hellaswag_text(const char *buf, size_t len)
{
    line_iter li = {buf, buf + len, 0};
    const char *a, *b;
    size_t na, nb;
    if (!next_line(&li, &a, &na) || !next_line(&li, &b, &nb))
        return 0;
    return na > 0 && a[0] != '{' && a[0] != '[' && memchr(a, ':', na) && nb == 1 && b[0] >= '0' &&
           b[0] <= '9';
}

static mc_err hs_task(ds_ctx *c, const char *const *ln, const size_t *n, uint64_t line,
                      uint64_t task, mc_diag *d)
{
    if (n[1] != 1 || ln[1][0] < '0' || ln[1][0] > '3') {
        char msg[120];
        snprintf(msg, sizeof msg, "gold label '%.*s' is not a digit 0..3 (task %llu skipped)",
                 (int)(n[1] < 40 ? n[1] : 40), ln[1], (unsigned long long)task);
        return ds_bad(c, line + 1, msg, d);
    }
    mc_ds_item *it = ds_new_item(c, line);
    const char **ch = it ? ds_alloc(c->ds, 4 * sizeof *ch) : NULL;
    char id[32];
    snprintf(id, sizeof id, "%llu", (unsigned long long)task);
    if (!ch || !(it->id = ds_strdup(c->ds, id)) || !(it->text = ds_strndup(c->ds, ln[0], n[0])))
        return mc_fail(d, MC_ERR_NOMEM, "out of memory");
    for (int k = 0; k < 4; k++)
        if (!(ch[k] = ds_strndup(c->ds, ln[2 + k], n[2 + k])))
            return mc_fail(d, MC_ERR_NOMEM, "out of memory");
    const char *colon = strstr(it->text, ": ");
    it->category = colon ? ds_strndup(c->ds, it->text, (size_t)(colon - it->text)) : NULL;
    char a[2] = {(char)('A' + (ln[1][0] - '0')), 0};
    it->answer = ds_strdup(c->ds, a);
    it->choices = ch;
    it->n_choices = 4;
    it->gold = ln[1][0] - '0';
    return it->answer ? MC_OK : mc_fail(d, MC_ERR_NOMEM, "out of memory");
}

mc_err ds_load_hellaswag_text(ds_ctx *c, const char *buf, size_t len, mc_diag *d)
{
    line_iter li = {buf, buf + len, 0};
    mc_err e = MC_OK;
    for (uint64_t task = 0; !e; task++) {
        const char *ln[6];
        size_t n[6];
        int k = 0;
        while (k < 6 && next_line(&li, &ln[k], &n[k]))
            k++;
        if (k == 0)
            break;
        uint64_t first = li.no - (uint64_t)k + 1;
        if (k < 6) {
            char msg[80];
            snprintf(msg, sizeof msg, "incomplete task: %d of 6 lines at the end of the file", k);
            return ds_bad(c, first, msg, d);
        }
        e = hs_task(c, ln, n, first, task, d);
    }
    return e;
}

/* ---- CSV ------------------------------------------------------------------------------------ */

#define CSV_MAX_FIELDS 64

typedef struct csv_rec {
    mc_buf text;                /* fields, each NUL-terminated, back to back */
    size_t off[CSV_MAX_FIELDS]; /* field starts in text */
    size_t n;
    uint64_t line; /* first line of the record */
} csv_rec;

static const char *fld(const csv_rec *r, size_t i)
{
    return i < r->n ? r->text.data + r->off[i] : "";
}

static mc_err csv_put(csv_rec *r, const char *p, size_t n)
{
    return mc_buf_append(&r->text, p, n) ? MC_ERR_NOMEM : MC_OK;
}

static mc_err csv_end_field(csv_rec *r)
{
    if (r->n >= CSV_MAX_FIELDS)
        return MC_ERR_RANGE;
    if (mc_buf_append(&r->text, "", 1))
        return MC_ERR_NOMEM;
    r->n++;
    if (r->n < CSV_MAX_FIELDS)
        r->off[r->n] = r->text.len;
    return MC_OK;
}

/* A quoted field from just after its opening quote; *p ends after the closing quote. */
static mc_err csv_quoted(line_iter *li, csv_rec *r)
{
    const char *p = li->p;
    for (;;) {
        const char *q = memchr(p, '"', (size_t)(li->end - p));
        if (!q)
            return MC_ERR_FORMAT;
        for (const char *x = p; x < q; x++)
            li->no += *x == '\n';
        if (csv_put(r, p, (size_t)(q - p)))
            return MC_ERR_NOMEM;
        if (q + 1 < li->end && q[1] == '"') {
            if (csv_put(r, "\"", 1))
                return MC_ERR_NOMEM;
            p = q + 2;
            continue;
        }
        li->p = q + 1;
        return MC_OK;
    }
}

/* Reads one record. Returns MC_OK with r filled, MC_ERR_NOT_FOUND at the end of the data,
 * MC_ERR_FORMAT (unterminated quote), MC_ERR_RANGE (too many fields; the record is consumed),
 * MC_ERR_NOMEM. Bytes after a closing quote and quotes inside unquoted fields are kept
 * literally (lenient, as most CSV readers are). */
static mc_err csv_next(line_iter *li, csv_rec *r)
{
    mc_buf_reset(&r->text);
    r->n = 0;
    r->off[0] = 0;
    if (li->p >= li->end)
        return MC_ERR_NOT_FOUND;
    r->line = li->no + 1;
    int overflow = 0;
    for (;;) {
        if (li->p < li->end && *li->p == '"') {
            li->p++;
            mc_err e = csv_quoted(li, r);
            if (e)
                return e;
        }
        const char *s = li->p;
        while (li->p < li->end && *li->p != ',' && *li->p != '\n')
            li->p++;
        size_t n = (size_t)(li->p - s);
        if (n && s[n - 1] == '\r' && (li->p >= li->end || *li->p == '\n'))
            n--;
        mc_err e = overflow ? MC_OK : csv_put(r, s, n);
        if (!e && !overflow)
            e = csv_end_field(r);
        if (e == MC_ERR_RANGE)
            overflow = 1;
        else if (e)
            return e;
        if (li->p >= li->end || *li->p++ == '\n')
            break;
    }
    li->no++;
    return overflow ? MC_ERR_RANGE : MC_OK;
}

typedef struct csv_cols {
    int question, answer, subject, id;
    int opt[26];
    size_t n_opt;
    int header;
} csv_cols;

static int is_letter_name(const char *s)
{
    return s[0] >= 'A' && s[0] <= 'Z' && s[1] == 0;
}

/* Columns from a header row ("question", "A".."Z", "answer"/"answerKey", "subject"/"category",
 * "id"/"questionID"); without a header: question, options..., answer. */
static int csv_layout(const csv_rec *h, csv_cols *c)
{
    memset(c, -1, sizeof *c);
    c->n_opt = 0;
    c->header = 0;
    for (size_t i = 0; i < h->n; i++)
        c->header |= strcasecmp(fld(h, i), "question") == 0;
    if (!c->header) {
        c->question = 0;
        c->answer = (int)h->n - 1;
        for (size_t i = 1; i + 1 < h->n && c->n_opt < 26; i++)
            c->opt[c->n_opt++] = (int)i;
        return h->n >= 4;
    }
    for (size_t i = 0; i < h->n; i++) {
        const char *f = fld(h, i);
        if (strcasecmp(f, "question") == 0)
            c->question = (int)i;
        else if (strcasecmp(f, "answer") == 0 || strcasecmp(f, "answerkey") == 0)
            c->answer = (int)i;
        else if (strcasecmp(f, "subject") == 0 || strcasecmp(f, "category") == 0)
            c->subject = (int)i;
        else if (strcasecmp(f, "id") == 0 || strcasecmp(f, "questionid") == 0)
            c->id = (int)i;
        else if (is_letter_name(f) && c->n_opt < 26)
            c->opt[c->n_opt++] = (int)i;
    }
    return c->answer >= 0;
}

/* ARC's CSV question text: "stem (A) first (B) second ..." (labels A-E or 1-5). */
static mc_err arc_embedded(ds_ctx *c, const char *q, mc_ds_item *it, char labels[26], mc_diag *d)
{
    const char *marks[27];
    size_t k = 0;
    for (const char *p = q; *p && k < 26; p++)
        if (p[0] == '(' && ((p[1] >= 'A' && p[1] <= 'Z') || (p[1] >= '1' && p[1] <= '9')) &&
            p[2] == ')' && p[3] == ' ' && (p == q || p[-1] == ' '))
            marks[k++] = p;
    if (k < 2)
        return mc_fail(d, MC_ERR_FORMAT, "question has no '(A) ... (B) ...' choices");
    const char **ch = ds_alloc(c->ds, k * sizeof *ch);
    const char *stem_end = marks[0];
    while (stem_end > q && stem_end[-1] == ' ')
        stem_end--;
    if (!ch || !(it->text = ds_strndup(c->ds, q, (size_t)(stem_end - q))))
        return mc_fail(d, MC_ERR_NOMEM, "out of memory");
    marks[k] = q + strlen(q);
    for (size_t i = 0; i < k; i++) {
        const char *s = marks[i] + 4, *e = marks[i + 1];
        while (e > s && e[-1] == ' ')
            e--;
        labels[i] = marks[i][1];
        if (!(ch[i] = ds_strndup(c->ds, s, (size_t)(e - s))))
            return mc_fail(d, MC_ERR_NOMEM, "out of memory");
    }
    it->choices = ch;
    it->n_choices = k;
    return MC_OK;
}

static mc_err csv_options(ds_ctx *c, const csv_rec *r, const csv_cols *cols, mc_ds_item *it,
                          char labels[26], mc_diag *d)
{
    if (cols->n_opt == 0)
        return arc_embedded(c, fld(r, (size_t)cols->question), it, labels, d);
    const char **ch = ds_alloc(c->ds, cols->n_opt * sizeof *ch);
    if (!ch || !(it->text = ds_strdup(c->ds, fld(r, (size_t)cols->question))))
        return mc_fail(d, MC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < cols->n_opt; i++) {
        labels[i] = mc_ds_letter(i);
        if (!(ch[i] = ds_strdup(c->ds, fld(r, (size_t)cols->opt[i]))))
            return mc_fail(d, MC_ERR_NOMEM, "out of memory");
    }
    it->choices = ch;
    it->n_choices = cols->n_opt;
    return MC_OK;
}

static mc_err csv_item(ds_ctx *c, const csv_rec *r, const csv_cols *cols, const char *subject,
                       mc_ds_item *it, mc_diag *d)
{
    char labels[26];
    if (r->n <= (size_t)cols->answer || r->n <= (size_t)cols->question)
        return mc_fail(d, MC_ERR_FORMAT, "%zu fields, fewer than the layout needs", r->n);
    mc_err e = csv_options(c, r, cols, it, labels, d);
    if (e)
        return e;
    const char *a = fld(r, (size_t)cols->answer);
    for (size_t i = 0; i < it->n_choices && it->gold < 0; i++)
        if (a[0] == labels[i] && a[1] == 0)
            it->gold = (int)i;
    char q[48];
    if (it->gold < 0)
        return mc_fail(d, MC_ERR_FORMAT, "answer '%s' names none of the %zu choices",
                       ds_quote(a, q, sizeof q), it->n_choices);
    char l[2] = {mc_ds_letter((size_t)it->gold), 0};
    it->answer = ds_strdup(c->ds, l);
    it->category = cols->subject >= 0 ? ds_strdup(c->ds, fld(r, (size_t)cols->subject)) : subject;
    if (cols->id >= 0)
        it->id = ds_strdup(c->ds, fld(r, (size_t)cols->id));
    return it->answer ? MC_OK : mc_fail(d, MC_ERR_NOMEM, "out of memory");
}

/* MMLU's per-subject files are named <subject>_test.csv (also _dev, _val). */
static const char *subject_of(ds_ctx *c)
{
    const char *b = strrchr(c->file, '/');
    b = b ? b + 1 : c->file;
    const char *u = strstr(b, "_test.csv");
    if (!u)
        u = strstr(b, "_dev.csv");
    if (!u)
        u = strstr(b, "_val.csv");
    return u ? ds_strndup(c->ds, b, (size_t)(u - b)) : NULL;
}

static mc_err csv_record(ds_ctx *c, const csv_rec *r, const csv_cols *cols, const char *subject,
                         mc_diag *d)
{
    mc_ds_item *it = ds_new_item(c, r->line);
    mc_diag rd = {{0}};
    mc_err e = it ? csv_item(c, r, cols, subject, it, &rd) : MC_ERR_NOMEM;
    if (e == MC_ERR_FORMAT) {
        ds_drop_item(c);
        return ds_bad(c, r->line, rd.msg, d);
    }
    if (!e && !it->id && !(it->id = ds_line_id(c, r->line)))
        e = MC_ERR_NOMEM;
    return e ? mc_fail(d, e, "%s:%llu: out of memory", c->file, (unsigned long long)r->line)
             : MC_OK;
}

static mc_err csv_read_error(ds_ctx *c, const csv_rec *r, mc_err e, mc_diag *d)
{
    if (e == MC_ERR_NOMEM)
        return mc_fail(d, e, "%s: out of memory", c->file);
    if (e == MC_ERR_RANGE)
        return ds_bad(c, r->line, "more than 64 fields", d);
    /* an unterminated quote swallows the rest of the file: always fatal */
    return mc_fail(d, MC_ERR_FORMAT, "%s:%llu: unterminated quoted field", c->file,
                   (unsigned long long)r->line);
}

mc_err ds_load_csv(ds_ctx *c, const char *buf, size_t len, mc_ds_fmt f, mc_diag *d)
{
    (void)f;
    csv_rec r;
    mc_buf_init(&r.text, 0);
    line_iter li = {buf, buf + len, 0};
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        li.p += 3;
    csv_cols cols;
    const char *subject = subject_of(c);
    mc_err e = csv_next(&li, &r);
    if (e == MC_ERR_RANGE) /* the first record decides the layout: too wide is fatal */
        e = mc_fail(d, MC_ERR_FORMAT, "%s:1: more than 64 fields", c->file);
    else if (e && e != MC_ERR_NOT_FOUND)
        e = csv_read_error(c, &r, e, d);
    else if (!e && !csv_layout(&r, &cols))
        e = mc_fail(d, MC_ERR_FORMAT,
                    "%s:1: not an MMLU/ARC CSV layout (question, options, answer)", c->file);
    else if (!e && !cols.header)
        e = csv_record(c, &r, &cols, subject, d);
    while (!e) {
        e = csv_next(&li, &r);
        if (e == MC_ERR_NOT_FOUND) {
            e = MC_OK;
            break;
        }
        if (e == MC_OK && r.n == 1 && fld(&r, 0)[0] == 0)
            continue; /* blank line */
        e = e ? csv_read_error(c, &r, e, d) : csv_record(c, &r, &cols, subject, d);
    }
    if (e == MC_ERR_NOT_FOUND)
        e = mc_fail(d, MC_ERR_FORMAT, "%s: empty file", c->file);
    mc_buf_deinit(&r.text);
    return e;
}
