/* jsonl.c: the JSON-based formats: JSON Lines split on '\n' only (never on U+0085 or U+2028,
 * which may occur inside strings), one reader per format turning a record into an mc_ds_item,
 * detection from the first record's keys, and the ShareGPT JSON array. Depends on base, cJSON
 * and ds.c's arena; knows nothing about prompts or scoring. */
#include "ds_int.h"

#include <stdio.h>
#include <string.h>

/* ---- field helpers ------------------------------------------------------------------------- */

static const cJSON *get(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

/* A dotted path "a.b.c" through nested objects. */
static const cJSON *get_path(const cJSON *o, const char *path)
{
    char key[256];
    while (o && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        if (n >= sizeof key)
            return NULL;
        memcpy(key, path, n);
        key[n] = 0;
        o = cJSON_IsObject(o) ? get(o, key) : NULL;
        path += n + (dot != NULL);
    }
    return o;
}

static mc_err nomem(mc_diag *d)
{
    return mc_fail(d, MC_ERR_NOMEM, "out of memory");
}

/* A required string field (copied into the arena). */
static mc_err need_str(ds_ctx *c, const cJSON *v, const char *key, const char **out, mc_diag *d)
{
    if (!v)
        return mc_fail(d, MC_ERR_FORMAT, "missing field '%s'", key);
    if (!cJSON_IsString(v))
        return mc_fail(d, MC_ERR_FORMAT, "field '%s' is not a string", key);
    return (*out = ds_strdup(c->ds, v->valuestring)) ? MC_OK : nomem(d);
}

/* An optional string field: absent or null gives NULL. */
static mc_err opt_str(ds_ctx *c, const cJSON *v, const char *key, const char **out, mc_diag *d)
{
    *out = NULL;
    if (!v || cJSON_IsNull(v))
        return MC_OK;
    return need_str(c, v, key, out, d);
}

/* A string or an integer, as text (ids). */
static mc_err id_text(ds_ctx *c, const cJSON *v, const char *key, const char **out, mc_diag *d)
{
    *out = NULL;
    if (!v || cJSON_IsNull(v))
        return MC_OK;
    if (cJSON_IsString(v))
        return need_str(c, v, key, out, d);
    if (!cJSON_IsNumber(v))
        return mc_fail(d, MC_ERR_FORMAT, "field '%s' is not a string or number", key);
    char buf[64];
    snprintf(buf, sizeof buf, "%.17g", v->valuedouble);
    return (*out = ds_strdup(c->ds, buf)) ? MC_OK : nomem(d);
}

/* An integer field within [lo, hi]. */
static mc_err need_int(const cJSON *v, const char *key, long lo, long hi, long *out, mc_diag *d)
{
    if (!v)
        return mc_fail(d, MC_ERR_FORMAT, "missing field '%s'", key);
    double x = cJSON_IsNumber(v) ? v->valuedouble : -1e300;
    /* the range first: converting a double outside long's range is undefined */
    if (!(x >= (double)lo && x <= (double)hi) || x != (double)(long)x)
        return mc_fail(d, MC_ERR_FORMAT, "field '%s' is not an integer in %ld..%ld", key, lo, hi);
    *out = (long)x;
    return MC_OK;
}

/* An array of strings (at least min of them) copied into the arena. */
static mc_err str_array(ds_ctx *c, const cJSON *v, const char *key, size_t min,
                        const char *const **out, size_t *n, mc_diag *d)
{
    if (!v)
        return mc_fail(d, MC_ERR_FORMAT, "missing field '%s'", key);
    int k = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
    if (k < 0 || (size_t)k < min)
        return mc_fail(d, MC_ERR_FORMAT, "field '%s' is not an array of at least %zu strings", key,
                       min);
    const char **a = ds_alloc(c->ds, ((size_t)k + 1) * sizeof *a);
    if (!a)
        return nomem(d);
    size_t i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        if (!cJSON_IsString(e))
            return mc_fail(d, MC_ERR_FORMAT, "field '%s': element %zu is not a string", key, i);
        if (!(a[i] = ds_strdup(c->ds, e->valuestring)))
            return nomem(d);
    }
    *out = a;
    *n = i;
    return MC_OK;
}

static mc_err set_letter_answer(ds_ctx *c, mc_ds_item *it, mc_diag *d)
{
    char l[2] = {mc_ds_letter((size_t)it->gold), 0};
    return (it->answer = ds_strdup(c->ds, l)) ? MC_OK : nomem(d);
}

/* A gold choice given as an index (number or digits), or as a letter / label. */
static mc_err gold_of(const cJSON *v, const char *key, const char *const *labels, size_t n,
                      int *gold, mc_diag *d)
{
    if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < (double)n &&
        v->valuedouble == (double)(int)v->valuedouble) {
        *gold = (int)v->valuedouble;
        return MC_OK;
    }
    const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
    for (size_t i = 0; s && labels && i < n; i++)
        if (strcmp(s, labels[i]) == 0) {
            *gold = (int)i;
            return MC_OK;
        }
    if (s && s[0] >= 'A' && s[0] < 'A' + (int)n && s[1] == 0) {
        *gold = s[0] - 'A';
        return MC_OK;
    }
    int64_t x;
    if (s && !labels && mc_parse_i64(s, 0, (int64_t)n - 1, &x) == MC_OK) {
        *gold = (int)x;
        return MC_OK;
    }
    return mc_fail(d, MC_ERR_FORMAT, "field '%s' does not name one of the %zu choices", key, n);
}

/* ---- GSM8K ---------------------------------------------------------------------------------- */

static mc_err rd_gsm8k(ds_ctx *c, const cJSON *r, mc_ds_item *it, mc_diag *d)
{
    const char *ans = NULL;
    mc_err e = need_str(c, get(r, "question"), "question", &it->text, d);
    if (!e)
        e = need_str(c, get(r, "answer"), "answer", &ans, d);
    if (e)
        return e;
    const char *h = strstr(ans, "####"), *next;
    while (h && (next = strstr(h + 4, "####")) != NULL)
        h = next;
    if (!h)
        return mc_fail(d, MC_ERR_FORMAT, "field 'answer' has no '#### <number>' line");
    const char *g = h + 4, *ge = g + strlen(g);
    while (*g == ' ' || *g == '\t')
        g++;
    while (ge > g && (ge[-1] == ' ' || ge[-1] == '\n' || ge[-1] == '\r' || ge[-1] == '\t'))
        ge--;
    if (ge == g)
        return mc_fail(d, MC_ERR_FORMAT, "field 'answer': nothing after '####'");
    const char *se = h;
    while (se > ans && (se[-1] == '\n' || se[-1] == ' ' || se[-1] == '\r'))
        se--;
    it->answer = ds_strndup(c->ds, g, (size_t)(ge - g));
    it->solution = ds_strndup(c->ds, ans, (size_t)(se - ans));
    return it->answer && it->solution ? MC_OK : nomem(d);
}

/* ---- MMLU-Pro ------------------------------------------------------------------------------- */

/* Drops the "N/A" padding of the options (as MMLU-Pro's own evaluation does) and remaps the
 * gold index. */
static mc_err drop_na(mc_ds_item *it, mc_diag *d)
{
    const char **o = (const char **)it->choices;
    size_t k = 0;
    int gold = -1;
    for (size_t i = 0; i < it->n_choices; i++) {
        if (strcmp(o[i], "N/A") == 0)
            continue;
        if ((int)i == it->gold)
            gold = (int)k;
        o[k++] = o[i];
    }
    if (gold < 0)
        return mc_fail(d, MC_ERR_FORMAT, "the gold option is 'N/A'");
    if (k < 2)
        return mc_fail(d, MC_ERR_FORMAT, "fewer than 2 options besides 'N/A'");
    it->n_choices = k;
    it->gold = gold;
    return MC_OK;
}

static mc_err rd_mmlu_pro(ds_ctx *c, const cJSON *r, mc_ds_item *it, mc_diag *d)
{
    long idx = 0;
    const char *letter = NULL;
    mc_err e = id_text(c, get(r, "question_id"), "question_id", &it->id, d);
    if (!e)
        e = need_str(c, get(r, "question"), "question", &it->text, d);
    if (!e)
        e = str_array(c, get(r, "options"), "options", 2, &it->choices, &it->n_choices, d);
    if (!e && it->n_choices > 26)
        e = mc_fail(d, MC_ERR_FORMAT, "more than 26 options");
    if (!e)
        e = need_int(get(r, "answer_index"), "answer_index", 0, (long)it->n_choices - 1, &idx, d);
    if (!e)
        e = need_str(c, get(r, "answer"), "answer", &letter, d);
    char q[48];
    if (!e && (letter[0] != mc_ds_letter((size_t)idx) || letter[1]))
        e = mc_fail(d, MC_ERR_FORMAT, "answer '%s' does not match answer_index %ld",
                    ds_quote(letter, q, sizeof q), idx);
    if (!e)
        e = need_str(c, get(r, "category"), "category", &it->category, d);
    if (!e)
        e = opt_str(c, get(r, "cot_content"), "cot_content", &it->solution, d);
    if (e)
        return e;
    it->gold = (int)idx;
    e = drop_na(it, d);
    return e ? e : set_letter_answer(c, it, d);
}

/* ---- MMLU / ARC (JSONL) --------------------------------------------------------------------- */

/* ARC's choices: {"text": [...], "label": [...]} (HF) or [{"text", "label"}] (original). */
static mc_err arc_choices(ds_ctx *c, const cJSON *ch, mc_ds_item *it, const char *const **labels,
                          mc_diag *d)
{
    size_t nl = 0;
    if (cJSON_IsObject(ch)) {
        mc_err e =
            str_array(c, get(ch, "text"), "choices.text", 2, &it->choices, &it->n_choices, d);
        if (!e)
            e = str_array(c, get(ch, "label"), "choices.label", 2, labels, &nl, d);
        if (!e && nl != it->n_choices)
            e = mc_fail(d, MC_ERR_FORMAT, "choices.text and choices.label differ in length");
        return e;
    }
    int k = cJSON_IsArray(ch) ? cJSON_GetArraySize(ch) : 0;
    if (k < 2 || k > 26)
        return mc_fail(d, MC_ERR_FORMAT, "field 'choices' is not an array of 2..26 choices");
    const char **t = ds_alloc(c->ds, (size_t)k * sizeof *t),
               **l = ds_alloc(c->ds, (size_t)k * sizeof *l);
    if (!t || !l)
        return nomem(d);
    size_t i = 0;
    for (const cJSON *e = ch->child; e; e = e->next, i++) {
        mc_err er = need_str(c, get(e, "text"), "choices[].text", &t[i], d);
        if (!er)
            er = need_str(c, get(e, "label"), "choices[].label", &l[i], d);
        if (er)
            return er;
    }
    it->choices = t;
    it->n_choices = i;
    *labels = l;
    return MC_OK;
}

static mc_err rd_arc(ds_ctx *c, const cJSON *r, mc_ds_item *it, mc_diag *d)
{
    const cJSON *q = get(r, "question");
    const cJSON *ch = cJSON_IsObject(q) ? get(q, "choices") : get(r, "choices");
    const char *const *labels = NULL;
    mc_err e = id_text(c, get(r, "id"), "id", &it->id, d);
    if (!e)
        e = need_str(c, cJSON_IsObject(q) ? get(q, "stem") : q,
                     cJSON_IsObject(q) ? "question.stem" : "question", &it->text, d);
    if (!e)
        e = arc_choices(c, ch, it, &labels, d);
    if (!e && it->n_choices > 26)
        e = mc_fail(d, MC_ERR_FORMAT, "more than 26 choices");
    if (!e)
        e = gold_of(get(r, "answerKey"), "answerKey", labels, it->n_choices, &it->gold, d);
    if (!e)
        e = opt_str(c, get(r, "category"), "category", &it->category, d);
    return e ? e : set_letter_answer(c, it, d);
}

static mc_err rd_mmlu(ds_ctx *c, const cJSON *r, mc_ds_item *it, mc_diag *d)
{
    if (get(r, "answerKey"))
        return rd_arc(c, r, it, d);
    const cJSON *subj = get(r, "subject");
    mc_err e = need_str(c, get(r, "question"), "question", &it->text, d);
    if (!e)
        e = str_array(c, get(r, "choices"), "choices", 2, &it->choices, &it->n_choices, d);
    if (!e && it->n_choices > 26)
        e = mc_fail(d, MC_ERR_FORMAT, "more than 26 choices");
    if (!e)
        e = gold_of(get(r, "answer"), "answer", NULL, it->n_choices, &it->gold, d);
    if (!e)
        e = opt_str(c, subj ? subj : get(r, "category"), subj ? "subject" : "category",
                    &it->category, d);
    if (!e)
        e = id_text(c, get(r, "id"), "id", &it->id, d);
    return e ? e : set_letter_answer(c, it, d);
}

/* ---- HellaSwag (official JSONL) -------------------------------------------------------------- */

/* The usual HellaSwag clean-up: " [title]" -> ". ", other "[...]" tags removed, double spaces
 * collapsed, outer spaces trimmed. In place; returns the string. */
static char *hs_clean(char *s)
{
    char *w = s;
    for (const char *p = s; *p;) {
        if (strncmp(p, " [title]", 8) == 0) {
            memcpy(w, ". ", 2);
            w += 2;
            p += 8;
        } else if (*p == '[' && strchr(p, ']')) {
            p = strchr(p, ']') + 1;
        } else {
            *w++ = *p++;
        }
    }
    *w = 0;
    w = s;
    for (const char *p = s; *p; p++)
        if (!(*p == ' ' && p[1] == ' '))
            *w++ = *p;
    *w = 0;
    while (w > s && w[-1] == ' ')
        *--w = 0;
    return *s == ' ' ? memmove(s, s + 1, strlen(s)) : s;
}

static mc_err rd_hellaswag(ds_ctx *c, const cJSON *r, mc_ds_item *it, mc_diag *d)
{
    const char *act = NULL, *ca = NULL, *cb = NULL;
    mc_err e = need_str(c, get(r, "activity_label"), "activity_label", &act, d);
    if (!e && get(r, "ctx_a"))
        e = need_str(c, get(r, "ctx_a"), "ctx_a", &ca, d);
    if (!e && get(r, "ctx_b"))
        e = need_str(c, get(r, "ctx_b"), "ctx_b", &cb, d);
    if (!e && !ca)
        e = need_str(c, get(r, "ctx"), "ctx", &ca, d);
    if (!e)
        e = str_array(c, get(r, "endings"), "endings", 2, &it->choices, &it->n_choices, d);
    if (!e)
        e = gold_of(get(r, "label"), "label", NULL, it->n_choices, &it->gold, d);
    if (!e)
        e = id_text(c, get(r, "ind"), "ind", &it->id, d);
    if (e)
        return e;
    size_t n = strlen(act) + strlen(ca) + (cb ? strlen(cb) : 0) + 4;
    char *t = ds_alloc(c->ds, n);
    if (!t)
        return nomem(d);
    snprintf(t, n, "%s: %s%s%s", act, ca, cb && *cb ? " " : "", cb ? cb : "");
    /* ctx_b is capitalised as Python's str.capitalize does: first letter upper, rest lower */
    char *b = cb && *cb ? t + strlen(act) + 2 + strlen(ca) + 1 : NULL;
    for (char *q = b; q && *q; q++)
        if (q == b && *q >= 'a' && *q <= 'z')
            *q = (char)(*q - 'a' + 'A');
        else if (q != b && *q >= 'A' && *q <= 'Z')
            *q = (char)(*q - 'A' + 'a');
    it->text = hs_clean(t);
    for (size_t i = 0; i < it->n_choices; i++)
        hs_clean((char *)it->choices[i]);
    it->category = act;
    return set_letter_answer(c, it, d);
}

/* ---- LongBench v1, MT-bench ------------------------------------------------------------------ */

static mc_err rd_longbench(ds_ctx *c, const cJSON *r, mc_ds_item *it, mc_diag *d)
{
    const cJSON *cls = get(r, "all_classes");
    mc_err e = need_str(c, get(r, "input"), "input", &it->text, d);
    if (!e)
        e = need_str(c, get(r, "context"), "context", &it->context, d);
    if (!e)
        e = str_array(c, get(r, "answers"), "answers", 1, &it->answers, &it->n_answers, d);
    if (!e && cls && !cJSON_IsNull(cls))
        e = str_array(c, cls, "all_classes", 1, &it->classes, &it->n_classes, d);
    if (!e)
        e = need_str(c, get(r, "dataset"), "dataset", &it->category, d);
    if (!e)
        e = id_text(c, get(r, "_id"), "_id", &it->id, d);
    if (!e)
        it->answer = it->answers[0];
    return e;
}

static mc_err rd_mt_bench(ds_ctx *c, const cJSON *r, mc_ds_item *it, mc_diag *d)
{
    const char *const *turns = NULL;
    size_t n = 0;
    mc_err e = str_array(c, get(r, "turns"), "turns", 1, &turns, &n, d);
    if (!e)
        e = id_text(c, get(r, "question_id"), "question_id", &it->id, d);
    if (!e)
        e = opt_str(c, get(r, "category"), "category", &it->category, d);
    if (!e)
        it->text = turns[0];
    return e;
}

/* ---- custom -----------------------------------------------------------------------------------
 */

static mc_err rd_custom(ds_ctx *c, const cJSON *r, mc_ds_item *it, mc_diag *d)
{
    const mc_ds_fields *f = &c->o->fields;
    mc_err e = need_str(c, get_path(r, f->prompt), f->prompt, &it->text, d);
    if (!e && f->answer)
        e = id_text(c, get_path(r, f->answer), f->answer, &it->answer, d);
    if (!e && f->answer && !it->answer)
        e = mc_fail(d, MC_ERR_FORMAT, "missing field '%s'", f->answer);
    if (!e && f->id)
        e = id_text(c, get_path(r, f->id), f->id, &it->id, d);
    if (!e && f->category)
        e = opt_str(c, get_path(r, f->category), f->category, &it->category, d);
    if (!e && f->context)
        e = opt_str(c, get_path(r, f->context), f->context, &it->context, d);
    if (!e && f->choices)
        e = str_array(c, get_path(r, f->choices), f->choices, 2, &it->choices, &it->n_choices, d);
    if (!e && it->n_choices > 26)
        e = mc_fail(d, MC_ERR_FORMAT, "more than 26 choices");
    if (!e && f->choices && f->gold)
        e = gold_of(get_path(r, f->gold), f->gold, NULL, it->n_choices, &it->gold, d);
    if (!e && it->gold >= 0 && !it->answer)
        e = set_letter_answer(c, it, d);
    return e;
}

/* ---- dispatch, detection, the line loop ------------------------------------------------------ */

ds_json_fn ds_json_reader(mc_ds_fmt f)
{
    switch (f) {
    case MC_DS_GSM8K: return rd_gsm8k;
    case MC_DS_MMLU_PRO: return rd_mmlu_pro;
    case MC_DS_HELLASWAG: return rd_hellaswag;
    case MC_DS_MMLU: return rd_mmlu;
    case MC_DS_ARC: return rd_arc;
    case MC_DS_LONGBENCH: return rd_longbench;
    case MC_DS_MT_BENCH: return rd_mt_bench;
    case MC_DS_CUSTOM: return rd_custom;
    default: return NULL;
    }
}

mc_ds_fmt ds_json_detect(const cJSON *r)
{
    if (!cJSON_IsObject(r))
        return MC_DS_AUTO;
    if (get(r, "options") && get(r, "answer_index"))
        return MC_DS_MMLU_PRO;
    if (get(r, "context") && get(r, "input") && get(r, "answers"))
        return MC_DS_LONGBENCH;
    if (get(r, "turns"))
        return MC_DS_MT_BENCH;
    if (get(r, "endings"))
        return MC_DS_HELLASWAG;
    if (get(r, "answerKey"))
        return MC_DS_ARC;
    if (get(r, "choices") && get(r, "answer"))
        return MC_DS_MMLU;
    if (cJSON_IsString(get(r, "question")) && cJSON_IsString(get(r, "answer")))
        return MC_DS_GSM8K;
    return MC_DS_AUTO;
}

static int blank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
            return 0;
    return 1;
}

/* Parses one record; trailing bytes after the JSON value make it invalid. *oom = 1 when it
 * failed because an allocation did (not a bad record). */
static cJSON *parse_whole(const char *p, size_t n, int *oom)
{
    const char *end = NULL;
    uint64_t f0 = mc_alloc_failures();
    cJSON *j = cJSON_ParseWithLengthOpts(p, n, &end, 0);
    *oom = !j && mc_alloc_failures() != f0;
    while (j && end && end < p + n && (*end == ' ' || *end == '\t' || *end == '\r'))
        end++;
    if (j && end != p + n) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

static mc_err one_record(ds_ctx *c, ds_json_fn fn, const char *p, size_t n, uint64_t line,
                         mc_diag *d)
{
    int oom = 0;
    cJSON *j = parse_whole(p, n, &oom);
    if (oom)
        return mc_fail(d, MC_ERR_NOMEM, "%s:%llu: out of memory", c->file,
                       (unsigned long long)line);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return ds_bad(c, line, j ? "record is not a JSON object" : "invalid JSON", d);
    }
    mc_ds_item *it = ds_new_item(c, line);
    mc_diag rd = {{0}};
    mc_err e = it ? fn(c, j, it, &rd) : mc_fail(&rd, MC_ERR_NOMEM, "out of memory");
    cJSON_Delete(j);
    if (e == MC_ERR_FORMAT) {
        ds_drop_item(c);
        return ds_bad(c, line, rd.msg, d);
    }
    if (!e && !it->id && !(it->id = ds_line_id(c, line)))
        e = mc_fail(&rd, MC_ERR_NOMEM, "out of memory");
    if (e)
        return mc_fail(d, e, "%s:%llu: %s", c->file, (unsigned long long)line, rd.msg);
    return MC_OK;
}

mc_err ds_load_jsonl(ds_ctx *c, const char *buf, size_t len, mc_ds_fmt f, mc_diag *d)
{
    ds_json_fn fn = ds_json_reader(f);
    if (!fn)
        return mc_fail(d, MC_ERR_FORMAT, "%s: format %s is not JSON Lines", c->file,
                       mc_ds_fmt_name(f));
    const char *p = buf, *end = buf + len;
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    uint64_t line = 0;
    mc_err e = MC_OK;
    while (p < end && !e) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl : end) - p);
        line++;
        if (!blank(p, n))
            e = one_record(c, fn, p, n, line, d);
        p = nl ? nl + 1 : end;
    }
    return e;
}

/* ---- ShareGPT: one JSON array ------------------------------------------------------------- */

static mc_err rd_sharegpt(ds_ctx *c, const cJSON *r, mc_ds_item *it, mc_diag *d)
{
    const cJSON *conv = get(r, "conversations");
    if (!cJSON_IsArray(conv))
        return mc_fail(d, MC_ERR_FORMAT, "field 'conversations' is not an array");
    mc_err e = id_text(c, get(r, "id"), "id", &it->id, d);
    for (const cJSON *m = conv->child; !e && m; m = m->next) {
        const cJSON *from = get(m, "from");
        if (cJSON_IsString(from) &&
            (strcmp(from->valuestring, "human") == 0 || strcmp(from->valuestring, "user") == 0))
            return need_str(c, get(m, "value"), "conversations[].value", &it->text, d);
    }
    return e ? e : mc_fail(d, MC_ERR_FORMAT, "no turn from 'human' or 'user'");
}

static mc_err sharegpt_item(ds_ctx *c, const cJSON *r, mc_ds_item *it, uint64_t pos, mc_diag *d)
{
    mc_err e = rd_sharegpt(c, r, it, d);
    if (!e && !it->id && !(it->id = ds_line_id(c, pos)))
        e = nomem(d);
    return e;
}

mc_err ds_load_sharegpt(ds_ctx *c, const char *buf, size_t len, mc_diag *d)
{
    cJSON *j = cJSON_ParseWithLength(buf, len);
    if (!cJSON_IsArray(j)) {
        cJSON_Delete(j);
        return mc_fail(d, MC_ERR_FORMAT, "%s: not a JSON array (ShareGPT format)", c->file);
    }
    mc_err e = MC_OK;
    uint64_t pos = 0;
    for (const cJSON *r = j->child; r && !e; r = r->next) {
        mc_ds_item *it = ds_new_item(c, ++pos);
        mc_diag rd = {{0}};
        e = it ? sharegpt_item(c, r, it, pos, &rd) : mc_fail(&rd, MC_ERR_NOMEM, "out of memory");
        char msg[560];
        snprintf(msg, sizeof msg, "item %llu: %s", (unsigned long long)pos, rd.msg);
        if (e == MC_ERR_FORMAT) {
            ds_drop_item(c);
            e = ds_bad(c, pos, msg, d);
        } else if (e) {
            mc_fail(d, e, "%s: %s", c->file, msg);
        }
    }
    cJSON_Delete(j);
    return e;
}
