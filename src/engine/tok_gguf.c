/* tok_gguf.c: mc_tok_from_gguf / mc_tok_load: fills an mc_tok_vocab from a GGUF file's
 * tokenizer.ggml.* keys (with llama.cpp's defaults for absent keys) and builds the tokenizer.
 * The only tokenizer file that knows GGUF: depends on model/gguf.h, base and tokenizer.h. */
#include "gguf.h"
#include "tokenizer.h"

#include <stdio.h>
#include <string.h>

/* Everything the description points to, owned here until the tokenizer is built. */
typedef struct gg_vocab {
    mc_tok_vocab v;
    char model[64], pre[64];
    mc_tok_str *toks, *merges;
    float *scores;
    int32_t *types;
} gg_vocab;

static void gg_free(gg_vocab *gv)
{
    mc_free(gv->toks);
    mc_free(gv->merges);
    mc_free(gv->scores);
    mc_free(gv->types);
}

/* A short string value (model / pre name) into buf; absent and optional: "". */
static mc_err get_name(const mc_gguf *g, const char *key, char *buf, size_t cap, int required,
                       mc_diag *d)
{
    mc_gguf_str s;
    buf[0] = 0;
    mc_err e = mc_gguf_get_str(g, key, &s, d);
    if (e == MC_ERR_NOT_FOUND && !required)
        return MC_OK;
    if (e)
        return e;
    if (s.len >= cap || memchr(s.p, 0, s.len))
        return mc_fail(d, MC_ERR_FORMAT, "%s: %s: not a name (%llu bytes)", mc_gguf_name(g), key,
                       (unsigned long long)s.len);
    memcpy(buf, s.p, s.len);
    buf[s.len] = 0;
    return MC_OK;
}

/* A string array as (pointer, length) pairs into the file; absent and optional: NULL, 0. */
static mc_err get_strs(const mc_gguf *g, const char *key, int required, int32_t max,
                       mc_tok_str **out, int32_t *n, mc_diag *d)
{
    mc_gguf_str *views = NULL;
    uint64_t cnt = 0;
    *out = NULL;
    *n = 0;
    mc_err e = mc_gguf_get_str_array(g, key, &views, &cnt, d);
    if (e == MC_ERR_NOT_FOUND && !required)
        return MC_OK;
    if (e)
        return e;
    if (cnt > (uint64_t)max) {
        mc_free(views);
        return mc_fail(d, MC_ERR_RANGE, "%s: %s: %llu entries (limit %d)", mc_gguf_name(g), key,
                       (unsigned long long)cnt, max);
    }
    mc_tok_str *s = mc_mallocarray(cnt ? cnt : 1, sizeof *s);
    if (!s) {
        mc_free(views);
        return mc_fail(d, MC_ERR_NOMEM, "%s: %s: out of memory", mc_gguf_name(g), key);
    }
    for (uint64_t i = 0; i < cnt; i++)
        s[i] = (mc_tok_str){views[i].p, (size_t)views[i].len};
    mc_free(views);
    *out = s;
    *n = (int32_t)cnt;
    return MC_OK;
}

/* A numeric array with at least n elements; absent: *found = 0. */
static mc_err get_num_arr(const mc_gguf *g, const char *key, int32_t n, mc_gguf_value *arr,
                          int *found, mc_diag *d)
{
    *found = 0;
    mc_err e = mc_gguf_get_arr(g, key, arr, d);
    if (e == MC_ERR_NOT_FOUND)
        return MC_OK;
    if (e)
        return e;
    if (arr->elem == MC_GGUF_STRING || arr->elem == MC_GGUF_ARRAY)
        return mc_fail(d, MC_ERR_FORMAT, "%s: %s: array of %s, expected numbers", mc_gguf_name(g),
                       key, mc_gguf_type_name(arr->elem));
    if (arr->len < (uint64_t)n)
        return mc_fail(d, MC_ERR_FORMAT, "%s: %s: %llu entries for %d tokens", mc_gguf_name(g),
                       key, (unsigned long long)arr->len, n);
    *found = 1;
    return MC_OK;
}

static mc_err get_scores(const mc_gguf *g, gg_vocab *gv, mc_diag *d)
{
    const char *key = "tokenizer.ggml.scores";
    mc_gguf_value arr;
    int found;
    mc_err e = get_num_arr(g, key, gv->v.n_tokens, &arr, &found, d);
    if (e || !found)
        return e;
    gv->scores = mc_mallocarray((size_t)gv->v.n_tokens, sizeof *gv->scores);
    if (!gv->scores)
        return mc_fail(d, MC_ERR_NOMEM, "%s: %s: out of memory", mc_gguf_name(g), key);
    for (int32_t i = 0; i < gv->v.n_tokens; i++) {
        double x;
        if (mc_gguf_arr_f64(&arr, (uint64_t)i, &x))
            return mc_fail(d, MC_ERR_FORMAT, "%s: %s[%d]: not a number", mc_gguf_name(g), key,
                           i);
        gv->scores[i] = (float)x;
    }
    gv->v.scores = gv->scores;
    return MC_OK;
}

static mc_err get_types(const mc_gguf *g, gg_vocab *gv, mc_diag *d)
{
    const char *key = "tokenizer.ggml.token_type";
    mc_gguf_value arr;
    int found;
    mc_err e = get_num_arr(g, key, gv->v.n_tokens, &arr, &found, d);
    if (e || !found)
        return e;
    gv->types = mc_mallocarray((size_t)gv->v.n_tokens, sizeof *gv->types);
    if (!gv->types)
        return mc_fail(d, MC_ERR_NOMEM, "%s: %s: out of memory", mc_gguf_name(g), key);
    for (int32_t i = 0; i < gv->v.n_tokens; i++) {
        int64_t x;
        if (mc_gguf_arr_i64(&arr, (uint64_t)i, &x) || x < INT32_MIN || x > INT32_MAX)
            return mc_fail(d, MC_ERR_FORMAT, "%s: %s[%d]: not a token type", mc_gguf_name(g), key,
                           i);
        gv->types[i] = (int32_t)x;
    }
    gv->v.types = gv->types;
    return MC_OK;
}

/* A token id key; absent: dflt. Range against the vocabulary is checked by mc_tok_new. */
static mc_err get_id(const mc_gguf *g, const char *name, int32_t dflt, int32_t *out, mc_diag *d)
{
    char key[64];
    snprintf(key, sizeof key, "tokenizer.ggml.%s", name);
    int64_t x;
    mc_err e = mc_gguf_get_i64(g, key, &x, d);
    if (e == MC_ERR_NOT_FOUND) {
        *out = dflt;
        return MC_OK;
    }
    if (e)
        return e;
    if (x < -1 || x > INT32_MAX) /* -1: some converters write "none" this way */
        return mc_fail(d, MC_ERR_RANGE, "%s: %s: %lld is not a token id", mc_gguf_name(g), key,
                       (long long)x);
    *out = (int32_t)x;
    return MC_OK;
}

/* A boolean key; absent: -1 (the tokenizer's per-model default). */
static mc_err get_flag(const mc_gguf *g, const char *name, int *out, mc_diag *d)
{
    char key[64];
    snprintf(key, sizeof key, "tokenizer.ggml.%s", name);
    mc_err e = mc_gguf_get_bool(g, key, out, d);
    if (e == MC_ERR_NOT_FOUND) {
        *out = -1;
        return MC_OK;
    }
    return e;
}

static mc_err get_ids_and_flags(const mc_gguf *g, gg_vocab *gv, mc_diag *d)
{
    /* llama.cpp's defaults for SentencePiece vocabularies; BPE ones have none */
    int spm = strcmp(gv->model, "llama") == 0;
    int32_t n = gv->v.n_tokens;
    mc_tok_vocab *v = &gv->v;
    mc_err e = get_id(g, "bos_token_id", spm && n > 1 ? 1 : -1, &v->bos_id, d);
    if (!e)
        e = get_id(g, "eos_token_id", spm && n > 2 ? 2 : -1, &v->eos_id, d);
    if (!e)
        e = get_id(g, "unknown_token_id", spm ? 0 : -1, &v->unk_id, d);
    if (!e)
        e = get_id(g, "padding_token_id", -1, &v->pad_id, d);
    if (!e)
        e = get_flag(g, "add_bos_token", &v->add_bos, d);
    if (!e)
        e = get_flag(g, "add_eos_token", &v->add_eos, d);
    if (!e)
        e = get_flag(g, "add_space_prefix", &v->add_space_prefix, d);
    return e;
}

static mc_err read_vocab(const mc_gguf *g, gg_vocab *gv, mc_diag *d)
{
    mc_tok_vocab_init(&gv->v);
    mc_err e = get_name(g, "tokenizer.ggml.model", gv->model, sizeof gv->model, 1, d);
    if (!e)
        e = get_name(g, "tokenizer.ggml.pre", gv->pre, sizeof gv->pre, 0, d);
    if (!e)
        e = get_strs(g, "tokenizer.ggml.tokens", 1, MC_TOK_MAX_TOKENS, &gv->toks,
                     &gv->v.n_tokens, d);
    if (!e)
        e = get_strs(g, "tokenizer.ggml.merges", 0, MC_TOK_MAX_MERGES, &gv->merges,
                     &gv->v.n_merges, d);
    if (!e)
        e = get_scores(g, gv, d);
    if (!e)
        e = get_types(g, gv, d);
    if (!e)
        e = get_ids_and_flags(g, gv, d);
    gv->v.model = gv->model;
    gv->v.pre = gv->pre;
    gv->v.tokens = gv->toks;
    gv->v.merges = gv->merges;
    return e;
}

mc_err mc_tok_from_gguf(const mc_gguf *g, mc_tok **out, mc_diag *d)
{
    *out = NULL;
    gg_vocab gv;
    memset(&gv, 0, sizeof gv);
    mc_err e = read_vocab(g, &gv, d);
    if (!e) {
        e = mc_tok_new(&gv.v, out, d);
        if (e)
            mc_diag_prefix(d, "%s", mc_gguf_name(g));
    }
    gg_free(&gv);
    return e;
}

mc_err mc_tok_load(const char *path, mc_tok **out, mc_diag *d)
{
    mc_gguf *g = NULL;
    *out = NULL;
    mc_err e = mc_gguf_open(path, &g, d);
    if (!e)
        e = mc_tok_from_gguf(g, out, d);
    mc_gguf_free(g);
    return e;
}
