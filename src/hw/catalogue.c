/* catalogue.c: the hardware catalogue (mc_catalogue_dir()/hardware.csv, format in
 * docs/HARDWARE.md): a strict CSV reader, name normalisation, lookup by name or alias with
 * "did you mean" suggestions, and NAMExN deployment specs.
 *
 * Depends on base only (and local.c for the `local` entry). There is no global state: every call
 * reads the file afresh (a few kilobytes), which keeps the module reentrant. */
#include "hw.h"
#include "hw_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define HW_CSV_MAX_BYTES (1u << 20)
#define HW_KEY_MAX 128
#define HW_COUNT_MAX 4096

enum col {
    C_NAME, C_ALIASES, C_VENDOR, C_KIND, C_MEM, C_BW, C_FP32, C_TF32, C_BF16, C_FP8, C_INT8,
    C_FP4, C_TDP, C_PRICE, C_HOST, C_SCALEUP, C_SOURCE, C_COUNT
};

/* R_POS: required, > 0. R_NONNEG: required, >= 0. R_OPT: empty = 0 (not supported / unknown),
 * else >= 0. */
enum rule { R_TEXT, R_POS, R_NONNEG, R_OPT };

static const struct {
    const char *name;
    enum rule rule;
    double scale; /* CSV unit -> SI unit of the mc_hw field */
} cols[C_COUNT] = {
    {"name", R_TEXT, 0},          {"aliases", R_TEXT, 0},          {"vendor", R_TEXT, 0},
    {"kind", R_TEXT, 0},          {"mem_gb", R_POS, 1e9},          {"mem_bw_gbps", R_POS, 1e9},
    {"fp32_tflops", R_POS, 1e12}, {"tf32_tflops", R_OPT, 1e12},    {"bf16_tflops", R_POS, 1e12},
    {"fp8_tflops", R_OPT, 1e12},  {"int8_tops", R_OPT, 1e12},      {"fp4_tflops", R_OPT, 1e12},
    {"tdp_w", R_POS, 1},          {"price_usd", R_OPT, 1},         {"host_link_gbps", R_NONNEG, 1e9},
    {"scaleup_link_gbps", R_NONNEG, 1e9}, {"source", R_TEXT, 0},
};

typedef struct hw_key {
    char key[HW_KEY_MAX]; /* normalised name or alias */
    int entry;
    int line;
} hw_key;

typedef struct hw_table {
    char path[4096];
    int colpos[C_COUNT]; /* field index of each column in the file */
    int nfields;         /* fields in the header */
    mc_hw *hw;
    int n, cap;
    hw_key *keys;
    int nkeys, kcap;
} hw_table;

typedef mc_csv_fields csv_fields;

/* ---- names ---- */

size_t mc_hw_normalise(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    int dash = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        int c = tolower(*p);
        if (c == ' ' || c == '_' || c == '-' || c == '\t') {
            dash = n > 0;
            continue;
        }
        if (dash) {
            if (n + 1 < cap)
                out[n] = '-';
            n++;
            dash = 0;
        }
        if (n + 1 < cap)
            out[n] = (char)c;
        n++;
    }
    if (cap > 0)
        out[n < cap ? n : cap - 1] = 0;
    return n;
}

const char *mc_hw_kind_name(mc_hw_kind k)
{
    switch (k) {
    case MC_HW_GPU: return "gpu";
    case MC_HW_CPU: return "cpu";
    case MC_HW_SOC: return "soc";
    }
    return "?";
}

/* ---- CSV ---- */

/* Splits one line in place into fields (RFC 4180 quoting: "a,b" and "" for a quote; a quoted
 * field may not span lines). */
mc_err mc_hw_csv_split(char *line, mc_csv_fields *out, const char *path, int lineno, mc_diag *d)
{
    char *src = line, *dst = line;
    out->n = 0;
    for (;;) {
        if (out->n == MC_CSV_MAX_FIELDS)
            return mc_fail(d, MC_ERR_FORMAT, "%s:%d: more than %d fields", path, lineno,
                           MC_CSV_MAX_FIELDS);
        out->f[out->n++] = dst;
        int quoted = *src == '"';
        src += quoted;
        while (*src && (quoted || *src != ',')) {
            if (*src == '"' && !quoted)
                return mc_fail(d, MC_ERR_FORMAT, "%s:%d: field %d: stray '\"' in an unquoted field",
                               path, lineno, out->n);
            if (*src == '"' && src[1] != '"') {
                quoted = 0;
                src++;
                if (*src && *src != ',')
                    return mc_fail(d, MC_ERR_FORMAT, "%s:%d: field %d: text after closing '\"'",
                                   path, lineno, out->n);
                break;
            }
            src += (*src == '"'); /* "" inside quotes is one quote */
            *dst++ = *src++;
        }
        if (quoted)
            return mc_fail(d, MC_ERR_FORMAT, "%s:%d: field %d: unterminated quoted field", path,
                           lineno, out->n);
        int more = *src == ',';
        *dst++ = 0;
        if (!more)
            return MC_OK;
        src++;
    }
}

static mc_err header_parse(hw_table *t, const csv_fields *f, int lineno, mc_diag *d)
{
    for (int c = 0; c < C_COUNT; c++)
        t->colpos[c] = -1;
    for (int i = 0; i < f->n; i++) {
        int c = 0;
        while (c < C_COUNT && strcmp(cols[c].name, f->f[i]) != 0)
            c++;
        if (c == C_COUNT)
            return mc_fail(d, MC_ERR_FORMAT, "%s:%d: unknown column '%s'", t->path, lineno,
                           f->f[i]);
        if (t->colpos[c] >= 0)
            return mc_fail(d, MC_ERR_FORMAT, "%s:%d: duplicate column '%s'", t->path, lineno,
                           f->f[i]);
        t->colpos[c] = i;
    }
    for (int c = 0; c < C_COUNT; c++)
        if (t->colpos[c] < 0)
            return mc_fail(d, MC_ERR_FORMAT, "%s:%d: missing column '%s'", t->path, lineno,
                           cols[c].name);
    t->nfields = f->n;
    return MC_OK;
}

/* ---- one row ---- */

static double *num_field(mc_hw *h, int c)
{
    switch (c) {
    case C_MEM: return &h->mem_bytes;
    case C_BW: return &h->mem_bw_Bps;
    case C_FP32: return &h->flops[MC_PREC_FP32];
    case C_TF32: return &h->flops[MC_PREC_TF32];
    case C_BF16: return &h->flops[MC_PREC_BF16];
    case C_FP8: return &h->flops[MC_PREC_FP8];
    case C_INT8: return &h->flops[MC_PREC_INT8];
    case C_FP4: return &h->flops[MC_PREC_FP4];
    case C_TDP: return &h->tdp_w;
    case C_PRICE: return &h->price_usd;
    case C_HOST: return &h->host_link_Bps;
    case C_SCALEUP: return &h->scaleup_link_Bps;
    }
    return NULL;
}

static mc_err parse_num(const hw_table *t, int lineno, int c, const char *s, double *out,
                        mc_diag *d)
{
    const char *col = cols[c].name;
    if (!*s) {
        *out = 0;
        if (cols[c].rule == R_OPT)
            return MC_OK;
        return mc_fail(d, MC_ERR_FORMAT, "%s:%d:%s: empty (a value is required)", t->path,
                       lineno, col);
    }
    double v;
    mc_err e = mc_parse_f64(s, &v);
    if (e != MC_OK)
        return mc_fail(d, MC_ERR_FORMAT, "%s:%d:%s: not a %snumber: '%s'", t->path, lineno, col,
                       e == MC_ERR_RANGE ? "finite " : "", s);
    if (v < 0)
        return mc_fail(d, MC_ERR_RANGE, "%s:%d:%s: negative value %s", t->path, lineno, col, s);
    if (v == 0 && cols[c].rule == R_POS)
        return mc_fail(d, MC_ERR_RANGE, "%s:%d:%s: must be greater than 0", t->path, lineno, col);
    *out = v * cols[c].scale;
    return MC_OK;
}

static mc_err copy_text(const hw_table *t, int lineno, int c, const char *s, char *dst,
                        size_t cap, mc_diag *d)
{
    if (!*s)
        return mc_fail(d, MC_ERR_FORMAT, "%s:%d:%s: empty (a value is required)", t->path, lineno,
                       cols[c].name);
    if (strlen(s) >= cap)
        return mc_fail(d, MC_ERR_FORMAT, "%s:%d:%s: too long (max %zu characters)", t->path,
                       lineno, cols[c].name, cap - 1);
    memcpy(dst, s, strlen(s) + 1);
    return MC_OK;
}

static mc_err check_name(const hw_table *t, int lineno, const char *name, mc_diag *d)
{
    char norm[HW_KEY_MAX];
    for (const char *p = name; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || strchr(".+-", *p)))
            return mc_fail(d, MC_ERR_FORMAT,
                           "%s:%d:name: '%s' is not normalised (use a-z, 0-9, '.', '+', '-')",
                           t->path, lineno, name);
    mc_hw_normalise(name, norm, sizeof norm);
    if (strcmp(norm, name) != 0)
        return mc_fail(d, MC_ERR_FORMAT, "%s:%d:name: '%s' is not normalised (expected '%s')",
                       t->path, lineno, name, norm);
    if (strcmp(name, "local") == 0)
        return mc_fail(d, MC_ERR_FORMAT, "%s:%d:name: 'local' is reserved for the probe result",
                       t->path, lineno);
    return MC_OK;
}

static mc_err parse_kind(const hw_table *t, int lineno, const char *s, mc_hw_kind *out, mc_diag *d)
{
    for (int k = MC_HW_GPU; k <= MC_HW_SOC; k++)
        if (strcmp(s, mc_hw_kind_name((mc_hw_kind)k)) == 0) {
            *out = (mc_hw_kind)k;
            return MC_OK;
        }
    return mc_fail(d, MC_ERR_FORMAT, "%s:%d:kind: '%s' is not one of gpu, cpu, soc", t->path,
                   lineno, s);
}

static mc_err add_key(hw_table *t, const char *raw, int c, int lineno, mc_diag *d)
{
    char norm[HW_KEY_MAX];
    if (mc_hw_normalise(raw, norm, sizeof norm) >= sizeof norm)
        return mc_fail(d, MC_ERR_FORMAT, "%s:%d:%s: '%s' is too long", t->path, lineno,
                       cols[c].name, raw);
    if (!norm[0])
        return mc_fail(d, MC_ERR_FORMAT, "%s:%d:%s: empty alias", t->path, lineno, cols[c].name);
    for (int i = 0; i < t->nkeys; i++)
        if (strcmp(t->keys[i].key, norm) == 0)
            return mc_fail(d, MC_ERR_FORMAT, "%s:%d:%s: duplicate name/alias '%s' (already used "
                           "by '%s' on line %d)", t->path, lineno, cols[c].name, raw,
                           t->hw[t->keys[i].entry].name, t->keys[i].line);
    if (t->nkeys == t->kcap) {
        int ncap = t->kcap ? 2 * t->kcap : 64;
        hw_key *k = mc_reallocarray(t->keys, (size_t)ncap, sizeof *k);
        if (!k)
            return mc_fail(d, MC_ERR_NOMEM, "%s: out of memory", t->path);
        t->keys = k;
        t->kcap = ncap;
    }
    hw_key *k = &t->keys[t->nkeys++];
    memcpy(k->key, norm, sizeof norm);
    k->entry = t->n;
    k->line = lineno;
    return MC_OK;
}

/* Registers the name and every ';'-separated alias of the row about to become entry t->n. */
static mc_err add_keys(hw_table *t, const char *name, char *aliases, int lineno, mc_diag *d)
{
    mc_err e = add_key(t, name, C_NAME, lineno, d);
    if (e != MC_OK || !*aliases)
        return e;
    for (char *a = aliases; e == MC_OK && a;) {
        char *semi = strchr(a, ';');
        if (semi)
            *semi = 0;
        e = add_key(t, a, C_ALIASES, lineno, d);
        a = semi ? semi + 1 : NULL;
    }
    return e;
}

static mc_err row_fill(const hw_table *t, const csv_fields *f, int lineno, mc_hw *h, mc_diag *d)
{
    const int *cp = t->colpos;
    mc_err e = copy_text(t, lineno, C_NAME, f->f[cp[C_NAME]], h->name, sizeof h->name, d);
    if (e == MC_OK)
        e = check_name(t, lineno, h->name, d);
    if (e == MC_OK)
        e = copy_text(t, lineno, C_VENDOR, f->f[cp[C_VENDOR]], h->vendor, sizeof h->vendor, d);
    if (e == MC_OK)
        e = parse_kind(t, lineno, f->f[cp[C_KIND]], &h->kind, d);
    for (int c = 0; e == MC_OK && c < C_COUNT; c++)
        if (cols[c].rule != R_TEXT)
            e = parse_num(t, lineno, c, f->f[cp[c]], num_field(h, c), d);
    if (e == MC_OK)
        e = copy_text(t, lineno, C_SOURCE, f->f[cp[C_SOURCE]], h->source, sizeof h->source, d);
    return e;
}

static mc_err row_parse(hw_table *t, csv_fields *f, int lineno, mc_diag *d)
{
    if (f->n != t->nfields)
        return mc_fail(d, MC_ERR_FORMAT, "%s:%d: %d fields, the header has %d", t->path, lineno,
                       f->n, t->nfields);
    mc_hw h;
    memset(&h, 0, sizeof h);
    mc_err e = row_fill(t, f, lineno, &h, d);
    if (e == MC_OK && t->n == t->cap) {
        int ncap = t->cap ? 2 * t->cap : 32;
        mc_hw *nh = mc_reallocarray(t->hw, (size_t)ncap, sizeof *nh);
        if (!nh)
            return mc_fail(d, MC_ERR_NOMEM, "%s: out of memory", t->path);
        t->hw = nh;
        t->cap = ncap;
    }
    if (e == MC_OK) {
        t->hw[t->n] = h; /* stored first so duplicate messages can name this entry */
        e = add_keys(t, h.name, f->f[t->colpos[C_ALIASES]], lineno, d);
    }
    if (e == MC_OK)
        t->n++;
    return e;
}

/* ---- the table ---- */

static void table_free(hw_table *t)
{
    mc_free(t->hw);
    mc_free(t->keys);
    t->hw = NULL;
    t->keys = NULL;
}

static mc_err table_line(hw_table *t, char *line, int lineno, int *have_header, mc_diag *d)
{
    size_t len = strlen(line);
    if (len && line[len - 1] == '\r')
        line[--len] = 0;
    if (len == 0 || line[0] == '#')
        return MC_OK;
    csv_fields f;
    mc_err e = mc_hw_csv_split(line, &f, t->path, lineno, d);
    if (e != MC_OK)
        return e;
    if (*have_header)
        return row_parse(t, &f, lineno, d);
    *have_header = 1;
    return header_parse(t, &f, lineno, d);
}

static mc_err table_parse(hw_table *t, char *data, size_t len, mc_diag *d)
{
    if (strlen(data) != len)
        return mc_fail(d, MC_ERR_FORMAT, "%s: contains a NUL byte", t->path);
    int lineno = 0, have_header = 0;
    mc_err e = MC_OK;
    for (char *p = data; e == MC_OK && *p;) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = 0;
        e = table_line(t, p, ++lineno, &have_header, d);
        p = nl ? nl + 1 : p + strlen(p);
    }
    if (e == MC_OK && !have_header)
        return mc_fail(d, MC_ERR_FORMAT, "%s: no header row", t->path);
    if (e == MC_OK && t->n == 0)
        return mc_fail(d, MC_ERR_FORMAT, "%s: no hardware rows", t->path);
    return e;
}

static mc_err table_load(hw_table *t, mc_diag *d)
{
    memset(t, 0, sizeof *t);
    int n = snprintf(t->path, sizeof t->path, "%s/hardware.csv", mc_catalogue_dir());
    if (n < 0 || (size_t)n >= sizeof t->path)
        return mc_fail(d, MC_ERR_ARG, "hardware: catalogue directory path too long");
    char *data = NULL;
    size_t len = 0;
    mc_err e = mc_read_file(t->path, HW_CSV_MAX_BYTES, &data, &len, d);
    if (e == MC_OK)
        e = table_parse(t, data, len, d);
    mc_free(data);
    if (e != MC_OK)
        table_free(t);
    return e;
}

static int table_find(const hw_table *t, const char *norm)
{
    for (int i = 0; i < t->nkeys; i++)
        if (strcmp(t->keys[i].key, norm) == 0)
            return t->keys[i].entry;
    return -1;
}

/* ---- suggestions ---- */

static int levenshtein(const char *a, const char *b)
{
    int row[HW_KEY_MAX + 1];
    size_t la = strlen(a), lb = strlen(b);
    if (la > HW_KEY_MAX || lb > HW_KEY_MAX)
        return HW_KEY_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            best = up + 1 < best ? up + 1 : best;
            best = row[j - 1] + 1 < best ? row[j - 1] + 1 : best;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* Writes up to three entry names close to norm ("a, b, c") into buf; empty if none is close. */
static void suggest(const hw_table *t, const char *norm, char *buf, size_t cap)
{
    buf[0] = 0;
    int *score = mc_mallocarray((size_t)t->n, sizeof *score);
    if (!score)
        return;
    for (int i = 0; i < t->n; i++)
        score[i] = HW_KEY_MAX;
    for (int k = 0; k < t->nkeys; k++) {
        int s = levenshtein(norm, t->keys[k].key);
        if (strlen(norm) >= 2 && strstr(t->keys[k].key, norm))
            s = 1; /* a fragment of a real name ("h100") is a strong hint */
        int *best = &score[t->keys[k].entry];
        *best = s < *best ? s : *best;
    }
    int limit = (int)strlen(norm) / 3 > 2 ? (int)strlen(norm) / 3 : 2;
    size_t used = 0;
    for (int round = 0; round < 3; round++) {
        int pick = -1;
        for (int i = 0; i < t->n; i++)
            if (score[i] <= limit && (pick < 0 || score[i] < score[pick]))
                pick = i;
        if (pick < 0)
            break;
        used += (size_t)snprintf(buf + used, cap - used, "%s%s", round ? ", " : "",
                                 t->hw[pick].name);
        score[pick] = HW_KEY_MAX + 1;
        if (used >= cap)
            break;
    }
    mc_free(score);
}

/* ---- public ---- */

mc_err mc_hw_lookup(const char *name, mc_hw *out, mc_diag *d)
{
    if (!name || !*name)
        return mc_fail(d, MC_ERR_ARG, "hardware: empty name");
    char norm[HW_KEY_MAX];
    size_t nlen = mc_hw_normalise(name, norm, sizeof norm);
    if (strcmp(norm, "local") == 0)
        return mc_hw_local_load(out, d);
    hw_table t;
    mc_err e = table_load(&t, d);
    if (e != MC_OK)
        return e;
    int idx = nlen < sizeof norm ? table_find(&t, norm) : -1;
    if (idx >= 0) {
        *out = t.hw[idx];
    } else {
        char hint[256];
        suggest(&t, norm, hint, sizeof hint);
        e = mc_fail(d, MC_ERR_NOT_FOUND, "hardware '%s': not found%s%s%s (all names: 'moecap "
                    "hardware list')", name, hint[0] ? "; did you mean " : "", hint,
                    hint[0] ? "?" : "");
    }
    table_free(&t);
    return e;
}

/* Splits "NAMExN" into NAME (trailing ' ', '-', '_' dropped) and the digit string N. Returns 0
 * when spec does not end in x<digits>. */
static int split_count(const char *spec, char *base, size_t cap, const char **digits)
{
    size_t len = strlen(spec), i = len;
    while (i > 0 && isdigit((unsigned char)spec[i - 1]))
        i--;
    if (i == len || i < 2 || (spec[i - 1] != 'x' && spec[i - 1] != 'X'))
        return 0;
    size_t blen = i - 1;
    while (blen > 0 && strchr(" -_", spec[blen - 1]))
        blen--;
    if (blen == 0 || blen >= cap)
        return 0;
    memcpy(base, spec, blen);
    base[blen] = 0;
    *digits = spec + i;
    return 1;
}

mc_err mc_hw_parse_deploy(const char *spec, mc_hw_deploy *out, mc_diag *d)
{
    if (!spec || !*spec)
        return mc_fail(d, MC_ERR_ARG, "hardware: empty deployment (expected NAME or NAMExN)");
    mc_err e = mc_hw_lookup(spec, &out->hw, d);
    if (e == MC_OK)
        out->count = 1;
    if (e != MC_ERR_NOT_FOUND)
        return e;
    char base[256];
    const char *digits;
    if (!split_count(spec, base, sizeof base, &digits))
        return e; /* keep the lookup's message and suggestions */
    int64_t n;
    if (mc_parse_i64(digits, 1, HW_COUNT_MAX, &n) != MC_OK)
        return mc_fail(d, MC_ERR_RANGE, "hardware '%s': device count %s is not in 1..%d", spec,
                       digits, HW_COUNT_MAX);
    e = mc_hw_lookup(base, &out->hw, d);
    if (e == MC_OK)
        out->count = (int)n;
    return e;
}

mc_err mc_hw_list(mc_hw **list, int *count, mc_diag *d)
{
    hw_table t;
    mc_err e = table_load(&t, d);
    if (e != MC_OK)
        return e;
    *list = t.hw;
    *count = t.n;
    t.hw = NULL;
    table_free(&t);
    return MC_OK;
}
