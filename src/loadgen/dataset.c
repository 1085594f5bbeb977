/* dataset.c: prompts from data files for load tests: ShareGPT-format JSON (first human turn),
 * JSONL GSM8K (question), MMLU-Pro (question and lettered options), MT-bench (first turn) and
 * custom {prompt, max_tokens}. Every bad record is an error naming file:line (or the array item).
 * These are load-test prompts, not evaluation prompts (no templates, no answers).
 * Depends on base and cJSON; never on src/cap. */
#include "loadgen.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#define DATASET_MAX_BYTES ((size_t)1 << 30)

static const struct {
    const char *name;
    mc_lg_dataset_fmt fmt;
} fmt_names[] = {
    {"auto", MC_LG_DS_AUTO},         {"sharegpt", MC_LG_DS_SHAREGPT}, {"gsm8k", MC_LG_DS_GSM8K},
    {"mmlu-pro", MC_LG_DS_MMLU_PRO}, {"mt-bench", MC_LG_DS_MT_BENCH}, {"jsonl", MC_LG_DS_CUSTOM},
};

mc_err mc_lg_dataset_fmt_parse(const char *s, mc_lg_dataset_fmt *out, mc_diag *d)
{
    for (size_t i = 0; i < sizeof fmt_names / sizeof fmt_names[0]; i++)
        if (strcmp(s, fmt_names[i].name) == 0) {
            *out = fmt_names[i].fmt;
            return MC_OK;
        }
    return mc_fail(d, MC_ERR_ARG,
                   "unknown dataset format '%s' (auto, sharegpt, gsm8k, mmlu-pro, mt-bench, jsonl)",
                   s);
}

/* ---- one record -> prompt ------------------------------------------------------------------ */

static const char *str_field(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char *sharegpt_turn(const cJSON *rec)
{
    const cJSON *turn, *conv = cJSON_GetObjectItemCaseSensitive(rec, "conversations");
    if (!cJSON_IsArray(conv))
        return NULL;
    cJSON_ArrayForEach(turn, conv)
    {
        const char *from = str_field(turn, "from");
        if (from && (strcmp(from, "human") == 0 || strcmp(from, "user") == 0))
            return str_field(turn, "value");
    }
    return NULL;
}

static const char *mmlu_prompt(const cJSON *rec, mc_buf *out)
{
    const char *q = str_field(rec, "question");
    const cJSON *opts = cJSON_GetObjectItemCaseSensitive(rec, "options");
    if (!q)
        return "missing string field 'question'";
    if (!cJSON_IsArray(opts))
        return "missing array field 'options'";
    mc_buf_printf(out, "%s\n", q);
    int letter = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, opts)
    {
        if (!cJSON_IsString(o) || letter >= 26)
            return "'options' must be at most 26 strings";
        if (strcmp(o->valuestring, "N/A") != 0) /* padding in the published files */
            mc_buf_printf(out, "%c. %s\n", 'A' + letter++, o->valuestring);
    }
    return NULL;
}

static const char *custom_max_tokens(const cJSON *rec, uint32_t *max_tokens)
{
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(rec, "max_tokens");
    if (!mt || cJSON_IsNull(mt))
        return NULL;
    if (!cJSON_IsNumber(mt) || mt->valuedouble < 1 || mt->valuedouble > 10000000 ||
        mt->valuedouble != (double)(uint32_t)mt->valuedouble)
        return "'max_tokens' must be an integer in 1..10000000";
    *max_tokens = (uint32_t)mt->valuedouble;
    return NULL;
}

/* Writes the prompt of rec into out; returns NULL or what is wrong with the record. */
static const char *record_prompt(const cJSON *rec, mc_lg_dataset_fmt fmt, mc_buf *out,
                                 uint32_t *max_tokens)
{
    const char *s = NULL, *missing = NULL;
    const cJSON *turns;
    mc_buf_reset(out);
    switch (fmt) {
    case MC_LG_DS_SHAREGPT:
        s = sharegpt_turn(rec);
        missing = "no human turn with a string 'value' in 'conversations'";
        break;
    case MC_LG_DS_GSM8K:
        s = str_field(rec, "question");
        missing = "missing string field 'question'";
        break;
    case MC_LG_DS_MMLU_PRO: return mmlu_prompt(rec, out);
    case MC_LG_DS_MT_BENCH:
        turns = cJSON_GetObjectItemCaseSensitive(rec, "turns");
        s = cJSON_IsArray(turns) && cJSON_IsString(cJSON_GetArrayItem(turns, 0))
                ? cJSON_GetArrayItem(turns, 0)->valuestring
                : NULL;
        missing = "missing 'turns' with a string first turn";
        break;
    default:
        s = str_field(rec, "prompt");
        missing = "missing string field 'prompt'";
        if (s && custom_max_tokens(rec, max_tokens))
            return custom_max_tokens(rec, max_tokens);
        break;
    }
    if (!s)
        return missing;
    return mc_buf_append(out, s, strlen(s)) ? "out of memory" : NULL;
}

static mc_lg_dataset_fmt detect(const cJSON *rec)
{
    if (cJSON_GetObjectItemCaseSensitive(rec, "conversations"))
        return MC_LG_DS_SHAREGPT;
    if (cJSON_GetObjectItemCaseSensitive(rec, "turns"))
        return MC_LG_DS_MT_BENCH;
    if (str_field(rec, "question"))
        return cJSON_GetObjectItemCaseSensitive(rec, "options") ? MC_LG_DS_MMLU_PRO
                                                                : MC_LG_DS_GSM8K;
    if (str_field(rec, "prompt"))
        return MC_LG_DS_CUSTOM;
    return MC_LG_DS_AUTO;
}

/* ---- files --------------------------------------------------------------------------------- */

typedef struct loader {
    const char *path;
    mc_lg_dataset_fmt fmt;
    uint32_t output_len;
    mc_lg_workload *w;
    mc_buf text;
} loader;

static mc_err add_record(loader *l, const cJSON *rec, const char *where, mc_diag *d)
{
    if (l->fmt == MC_LG_DS_AUTO && (l->fmt = detect(rec)) == MC_LG_DS_AUTO)
        return mc_fail(d, MC_ERR_FORMAT,
                       "%s:%s: cannot tell the dataset format from the record's keys; give "
                       "--dataset-format",
                       l->path, where);
    uint32_t max_tokens = l->output_len;
    const char *why = record_prompt(rec, l->fmt, &l->text, &max_tokens);
    if (why)
        return mc_fail(d, MC_ERR_FORMAT, "%s:%s: %s", l->path, where, why);
    return mc_lg_workload_add(l->w, l->text.data ? l->text.data : "", l->text.len, max_tokens, d);
}

static int blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return 0;
    return 1;
}

/* One JSON object per line, split on '\n' only (MMLU-Pro text contains U+0085). */
static mc_err load_jsonl(loader *l, const char *data, size_t len, mc_diag *d)
{
    size_t line = 0, pos = 0;
    while (pos < len) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - data) - pos : len - pos;
        const char *s = data + pos;
        pos += n + 1;
        line++;
        if (blank(s, n))
            continue;
        char where[32];
        snprintf(where, sizeof where, "%zu", line);
        cJSON *rec = cJSON_ParseWithLength(s, n);
        mc_err e = cJSON_IsObject(rec) ? add_record(l, rec, where, d)
                                       : mc_fail(d, MC_ERR_FORMAT, "%s:%zu: %s", l->path, line,
                                                 rec ? "not a JSON object" : "invalid JSON");
        cJSON_Delete(rec);
        if (e)
            return e;
    }
    return MC_OK;
}

static mc_err load_array(loader *l, const char *data, size_t len, mc_diag *d)
{
    cJSON *arr = cJSON_ParseWithLength(data, len);
    if (!cJSON_IsArray(arr)) {
        cJSON_Delete(arr);
        return mc_fail(d, MC_ERR_FORMAT,
                       "%s: not a JSON array (ShareGPT format is an array of "
                       "{id, conversations})",
                       l->path);
    }
    mc_err e = MC_OK;
    size_t i = 0;
    const cJSON *rec;
    cJSON_ArrayForEach(rec, arr)
    {
        char where[48];
        snprintf(where, sizeof where, " item %zu", i++);
        e = cJSON_IsObject(rec) ? add_record(l, rec, where, d)
                                : mc_fail(d, MC_ERR_FORMAT, "%s:%s: not an object", l->path, where);
        if (e)
            break;
    }
    cJSON_Delete(arr);
    return e;
}

/* Seeded shuffle (Fisher-Yates) of the prompts from `first` on, then keep n of them. */
static void select_prompts(mc_lg_workload *w, size_t first, uint64_t seed, uint32_t n)
{
    mc_lg_prompt *p = w->p + first;
    if (seed) {
        mc_rng r;
        mc_rng_seed(&r, seed);
        for (size_t i = w->n - first; i > 1; i--) {
            size_t j = (size_t)mc_rng_below(&r, i);
            mc_lg_prompt t = p[i - 1];
            p[i - 1] = p[j];
            p[j] = t;
        }
    }
    while (n && w->n > first + n) {
        w->n--;
        mc_free(w->p[w->n].text);
        mc_free(w->p[w->n].body);
    }
}

mc_err mc_lg_workload_load(mc_lg_workload *w, const char *path, const mc_lg_dataset_opts *o,
                           mc_diag *d)
{
    char *data = NULL;
    size_t len = 0, first = w->n;
    mc_err e = mc_read_file(path, DATASET_MAX_BYTES, &data, &len, d);
    if (e)
        return e;
    loader l = {
        .path = path, .fmt = o->fmt, .output_len = o->output_len ? o->output_len : 256, .w = w};
    mc_buf_init(&l.text, 0);
    size_t skip = 0;
    while (skip < len &&
           (data[skip] == ' ' || data[skip] == '\n' || data[skip] == '\r' || data[skip] == '\t'))
        skip++;
    int array = skip < len && data[skip] == '[';
    if (array && o->fmt != MC_LG_DS_AUTO && o->fmt != MC_LG_DS_SHAREGPT)
        e = mc_fail(d, MC_ERR_FORMAT, "%s: a JSON array, expected JSONL", path);
    else if (array) {
        l.fmt = MC_LG_DS_SHAREGPT;
        e = load_array(&l, data, len, d);
    } else {
        e = load_jsonl(&l, data, len, d);
    }
    if (!e && w->n == first)
        e = mc_fail(d, MC_ERR_FORMAT, "%s: no prompts", path);
    if (!e)
        select_prompts(w, first, o->seed, o->num_prompts);
    if (!e && o->count) {
        mc_lg_workload part = {.p = w->p + first, .n = w->n - first};
        e = mc_lg_workload_count(&part, o->count, o->count_ctx, d);
    }
    mc_buf_deinit(&l.text);
    mc_free(data);
    return e;
}
