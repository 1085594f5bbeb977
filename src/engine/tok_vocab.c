/* tok_vocab.c: builds an mc_tok from an mc_tok_vocab (validation, string table and hash map,
 * merge table, byte tables, special-token list, end-of-generation set) and its getters.
 * Depends on base and the other tok_*.c files only; knows nothing about GGUF. */
#include "tok_internal.h"

#include <stdlib.h>
#include <string.h>

int tok_grow(void *pp, size_t *cap, size_t need, size_t elem)
{
    void *p;
    memcpy(&p, pp, sizeof p);
    size_t ncap = *cap ? *cap : 16;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 4 ? need : ncap * 2;
    void *np = mc_reallocarray(p, ncap, elem);
    if (!np)
        return 0;
    memcpy(pp, &np, sizeof np);
    *cap = ncap;
    return 1;
}

void mc_tok_ids_init(mc_tok_ids *ids) { memset(ids, 0, sizeof *ids); }

void mc_tok_ids_deinit(mc_tok_ids *ids)
{
    mc_free(ids->v);
    memset(ids, 0, sizeof *ids);
}

mc_err tok_ids_push(mc_tok_ids *ids, int32_t id)
{
    if (!TOK_RESERVE(ids->v, ids->cap, ids->n + 1))
        return MC_ERR_NOMEM;
    ids->v[ids->n++] = id;
    return MC_OK;
}

void mc_tok_vocab_init(mc_tok_vocab *v)
{
    memset(v, 0, sizeof *v);
    v->bos_id = v->eos_id = v->unk_id = v->pad_id = -1;
    v->add_bos = v->add_eos = v->add_space_prefix = -1;
}

/* ---- string table and map ---- */

uint64_t tok_hash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

static int str_eq(const mc_tok *t, int32_t id, const char *p, size_t n)
{
    return t->str_len[id] == n && memcmp(t->blob + t->str_off[id], p, n) == 0;
}

int32_t tok_map_find(const mc_tok *t, const char *p, size_t n)
{
    size_t i = (size_t)tok_hash(p, n) & t->map.mask;
    for (;;) {
        uint32_t s = t->map.slot[i];
        if (s == 0)
            return -1;
        if (str_eq(t, (int32_t)(s - 1), p, n))
            return (int32_t)(s - 1);
        i = (i + 1) & t->map.mask;
    }
}

static void map_insert(mc_tok *t, int32_t id)
{
    const char *p = t->blob + t->str_off[id];
    size_t i = (size_t)tok_hash(p, t->str_len[id]) & t->map.mask;
    while (t->map.slot[i] != 0)
        i = (i + 1) & t->map.mask;
    t->map.slot[i] = (uint32_t)id + 1;
    t->map.used++;
}

/* Appends a string to the table (not to the map); returns its id or -1 (no memory). */
static int32_t str_add(mc_tok *t, const char *p, size_t n)
{
    if (!TOK_RESERVE(t->str_off, t->cap_off, (size_t)t->n_strs + 1) ||
        !TOK_RESERVE(t->str_len, t->cap_len, (size_t)t->n_strs + 1))
        return -1;
    if (!TOK_RESERVE(t->blob, t->blob_cap, t->blob_len + n + 1))
        return -1;
    if (n)
        memcpy(t->blob + t->blob_len, p, n);
    t->blob[t->blob_len + n] = 0; /* every string is NUL-terminated in the blob */
    t->str_off[t->n_strs] = t->blob_len;
    t->str_len[t->n_strs] = (uint32_t)n;
    t->blob_len += n + 1;
    return t->n_strs++;
}

/* The id of a string, adding it (as a merge-only string) when it is new. -1 = no memory. */
static int32_t str_intern(mc_tok *t, const char *p, size_t n)
{
    int32_t id = tok_map_find(t, p, n);
    if (id >= 0)
        return id;
    id = str_add(t, p, n);
    if (id >= 0)
        map_insert(t, id);
    return id;
}

static mc_err map_alloc(mc_tok *t, size_t entries)
{
    size_t n = 64;
    while (n < entries * 2)
        n *= 2;
    t->map.slot = mc_calloc(n, sizeof *t->map.slot);
    if (!t->map.slot)
        return MC_ERR_NOMEM;
    t->map.mask = n - 1;
    return MC_OK;
}

/* ---- tokens ---- */

static mc_err check_type(const mc_tok_vocab *v, int32_t i, mc_diag *d)
{
    int32_t ty = v->types[i];
    if (ty < 0 || ty > MC_TOKT_BYTE)
        return mc_fail(d, MC_ERR_FORMAT, "tokenizer: token %d has type %d (expected 0..6)", i,
                       ty);
    return MC_OK;
}

static mc_err load_tokens(mc_tok *t, const mc_tok_vocab *v, mc_diag *d)
{
    size_t total = 0;
    for (int32_t i = 0; i < v->n_tokens; i++) {
        const mc_tok_str *s = &v->tokens[i];
        if (s->len && !s->ptr)
            return mc_fail(d, MC_ERR_ARG, "tokenizer: token %d has no text", i);
        total += s->len + 1;
        if (s->len > UINT32_MAX / 2 || total > MC_TOK_MAX_TEXT)
            return mc_fail(d, MC_ERR_RANGE, "tokenizer: token texts exceed %zu bytes",
                           MC_TOK_MAX_TEXT);
        if (v->types && check_type(v, i, d))
            return MC_ERR_FORMAT;
    }
    t->type = mc_malloc((size_t)v->n_tokens);
    t->score = mc_calloc((size_t)v->n_tokens, sizeof *t->score);
    t->eog = mc_calloc((size_t)v->n_tokens, 1);
    if (!t->type || !t->score || !t->eog || !TOK_RESERVE(t->blob, t->blob_cap, total))
        return mc_fail(d, MC_ERR_NOMEM, "tokenizer: out of memory for %d tokens", v->n_tokens);
    for (int32_t i = 0; i < v->n_tokens; i++) {
        const mc_tok_str *s = &v->tokens[i];
        if (str_add(t, s->ptr, s->len) != i)
            return mc_fail(d, MC_ERR_NOMEM, "tokenizer: out of memory");
        int ty = v->types ? v->types[i] : MC_TOKT_NORMAL;
        t->type[i] = (uint8_t)(ty == 0 ? MC_TOKT_NORMAL : ty);
        t->score[i] = v->scores ? v->scores[i] : 0.0f;
        if (s->len > t->max_tok_len)
            t->max_tok_len = s->len;
        /* duplicates: the first id keeps the text (later ones still decode); empty texts
         * cannot be matched and stay out of the map */
        if (s->len && tok_map_find(t, s->ptr, s->len) < 0)
            map_insert(t, i);
    }
    t->n_tokens = v->n_tokens;
    return MC_OK;
}

/* ---- merges ---- */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

static void merge_put(tok_mergemap *m, int32_t a, int32_t b, int32_t rank, int32_t res)
{
    uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    size_t i = (size_t)mix64(key) & m->mask;
    while (m->key[i] != 0) {
        if (m->key[i] == key)
            return; /* a repeated pair keeps its first (lowest) rank */
        i = (i + 1) & m->mask;
    }
    m->key[i] = key;
    m->rank[i] = rank;
    m->res[i] = res;
}

static mc_err add_merge(mc_tok *t, const mc_tok_str *s, int32_t rank, char **tmp, size_t *tmp_cap,
                        mc_diag *d)
{
    const char *sep = s->len > 1 ? memchr(s->ptr + 1, ' ', s->len - 1) : NULL;
    if (!sep)
        return mc_fail(d, MC_ERR_FORMAT,
                       "tokenizer: merge %d (\"%.*s\") has no space separating two parts", rank,
                       (int)(s->len > 40 ? 40 : s->len), s->ptr ? s->ptr : "");
    size_t nl = (size_t)(sep - s->ptr), nr = s->len - nl - 1;
    if (!TOK_RESERVE(*tmp, *tmp_cap, s->len))
        return mc_fail(d, MC_ERR_NOMEM, "tokenizer: out of memory");
    memcpy(*tmp, s->ptr, nl);
    memcpy(*tmp + nl, sep + 1, nr);
    int32_t a = str_intern(t, s->ptr, nl);
    int32_t b = a < 0 ? -1 : str_intern(t, sep + 1, nr);
    int32_t r = b < 0 ? -1 : str_intern(t, *tmp, nl + nr);
    if (r < 0)
        return mc_fail(d, MC_ERR_NOMEM, "tokenizer: out of memory");
    merge_put(&t->merges, a, b, rank, r);
    return MC_OK;
}

static mc_err load_merges(mc_tok *t, const mc_tok_vocab *v, mc_diag *d)
{
    size_t n = 64;
    while (n < (size_t)v->n_merges * 2)
        n *= 2;
    t->merges.key = mc_calloc(n, sizeof *t->merges.key);
    t->merges.rank = mc_mallocarray(n, sizeof *t->merges.rank);
    t->merges.res = mc_mallocarray(n, sizeof *t->merges.res);
    if (!t->merges.key || !t->merges.rank || !t->merges.res)
        return mc_fail(d, MC_ERR_NOMEM, "tokenizer: out of memory for %d merges", v->n_merges);
    t->merges.mask = n - 1;
    char *tmp = NULL;
    size_t tmp_cap = 0;
    mc_err e = MC_OK;
    for (int32_t i = 0; i < v->n_merges && !e; i++) {
        if (v->merges[i].len && !v->merges[i].ptr)
            e = mc_fail(d, MC_ERR_ARG, "tokenizer: merge %d has no text", i);
        else
            e = add_merge(t, &v->merges[i], i, &tmp, &tmp_cap, d);
    }
    mc_free(tmp);
    return e;
}

/* ---- byte tables, specials, end of generation ---- */

static void build_byte_ids(mc_tok *t)
{
    static const char hex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; b++) {
        char buf[8];
        int32_t id;
        if (t->model == TOK_SPM) {
            char name[6] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
            id = tok_map_find(t, name, sizeof name);
            if (id < 0) {
                buf[0] = (char)b;
                id = tok_map_find(t, buf, 1);
            }
        } else {
            id = tok_map_find(t, buf, tok_utf8_put(tok_gpt2_cp((uint8_t)b), buf));
        }
        t->byte_id[b] = id;
    }
}

typedef struct special_key {
    uint32_t len;
    int32_t id;
} special_key;

static int special_cmp(const void *pa, const void *pb)
{
    const special_key *a = pa, *b = pb;
    if (a->len != b->len)
        return a->len > b->len ? -1 : 1; /* longest first */
    return a->id < b->id ? -1 : 1;
}

static mc_err build_specials(mc_tok *t, mc_diag *d)
{
    special_key *k = mc_mallocarray((size_t)t->n_tokens, sizeof *k);
    t->special = mc_mallocarray((size_t)t->n_tokens, sizeof *t->special);
    if (!k || !t->special) {
        mc_free(k);
        return mc_fail(d, MC_ERR_NOMEM, "tokenizer: out of memory");
    }
    for (int32_t i = 0; i < t->n_tokens; i++) {
        int ty = t->type[i];
        bool sp = ty == MC_TOKT_CONTROL || ty == MC_TOKT_UNKNOWN || ty == MC_TOKT_USER_DEFINED;
        if (sp && t->str_len[i] > 0)
            k[t->n_special++] = (special_key){t->str_len[i], i};
    }
    qsort(k, (size_t)t->n_special, sizeof *k, special_cmp);
    for (int32_t i = 0; i < t->n_special; i++)
        t->special[i] = k[i].id;
    mc_free(k);
    return MC_OK;
}

/* Control tokens that end a turn in common chat templates (the texts llama.cpp also treats as
 * end of generation). */
static const char *const eog_texts[] = {
    "<|eot_id|>",    "<|im_end|>", "<|end|>",         "<end_of_turn>",
    "<|endoftext|>", "<|eom_id|>", "<|end_of_text|>", "<EOT>",
    "<｜end▁of▁sentence｜>", /* DeepSeek (UTF-8: fullwidth bars, U+2581) */
};

static void build_eog(mc_tok *t)
{
    if (t->eos >= 0)
        t->eog[t->eos] = 1;
    for (size_t k = 0; k < sizeof eog_texts / sizeof eog_texts[0]; k++) {
        int32_t id = tok_map_find(t, eog_texts[k], strlen(eog_texts[k]));
        if (id >= 0 && id < t->n_tokens && t->type[id] == MC_TOKT_CONTROL)
            t->eog[id] = 1;
    }
}

/* ---- mc_tok_new ---- */

static mc_err check_id(const char *what, int32_t id, int32_t n, mc_diag *d)
{
    if (id < -1 || id >= n)
        return mc_fail(d, MC_ERR_RANGE, "tokenizer: %s %d out of range (vocabulary has %d tokens)",
                       what, id, n);
    return MC_OK;
}

static mc_err check_vocab(const mc_tok_vocab *v, mc_diag *d)
{
    if (v->n_tokens < 1 || v->n_tokens > MC_TOK_MAX_TOKENS)
        return mc_fail(d, MC_ERR_RANGE, "tokenizer: %d tokens (expected 1..%d)", v->n_tokens,
                       MC_TOK_MAX_TOKENS);
    if (!v->tokens)
        return mc_fail(d, MC_ERR_ARG, "tokenizer: no token texts");
    if (v->n_merges < 0 || v->n_merges > MC_TOK_MAX_MERGES)
        return mc_fail(d, MC_ERR_RANGE, "tokenizer: %d merges (expected 0..%d)", v->n_merges,
                       MC_TOK_MAX_MERGES);
    if (v->n_merges > 0 && !v->merges)
        return mc_fail(d, MC_ERR_ARG, "tokenizer: %d merges but no merge texts", v->n_merges);
    if (check_id("bos_token_id", v->bos_id, v->n_tokens, d) ||
        check_id("eos_token_id", v->eos_id, v->n_tokens, d) ||
        check_id("unknown_token_id", v->unk_id, v->n_tokens, d) ||
        check_id("padding_token_id", v->pad_id, v->n_tokens, d))
        return MC_ERR_RANGE;
    return MC_OK;
}

/* Model, pre-tokenizer and the add_* flags with their per-model defaults. */
static mc_err setup_model(mc_tok *t, const mc_tok_vocab *v, mc_diag *d)
{
    const char *m = v->model ? v->model : "";
    int def_bos = 0;
    if (strcmp(m, "llama") == 0) {
        t->model = TOK_SPM;
        def_bos = 1;
    } else if (strcmp(m, "gpt2") == 0) {
        t->model = TOK_BPE;
        if (v->n_merges == 0 && !v->merges)
            return mc_fail(d, MC_ERR_ARG, "tokenizer: model gpt2 needs merges");
        mc_err e = tok_pretok_init(t, v->pre, &def_bos, d);
        if (e)
            return e;
    } else {
        return mc_fail(d, MC_ERR_UNSUPPORTED,
                       "tokenizer: model '%s' not supported (expected llama or gpt2)", m);
    }
    t->add_bos = v->add_bos < 0 ? def_bos : v->add_bos != 0;
    t->add_eos = v->add_eos > 0;
    t->add_space_prefix = t->model == TOK_SPM && v->add_space_prefix != 0;
    t->bos = v->bos_id;
    t->eos = v->eos_id;
    t->unk = v->unk_id;
    t->pad = v->pad_id;
    if (t->add_bos && t->bos < 0)
        return mc_fail(d, MC_ERR_ARG, "tokenizer: add_bos_token is true but there is no BOS id");
    if (t->add_eos && t->eos < 0)
        return mc_fail(d, MC_ERR_ARG, "tokenizer: add_eos_token is true but there is no EOS id");
    return MC_OK;
}

mc_err mc_tok_new(const mc_tok_vocab *v, mc_tok **out, mc_diag *d)
{
    *out = NULL;
    mc_err e = check_vocab(v, d);
    if (e)
        return e;
    mc_tok *t = mc_calloc(1, sizeof *t);
    if (!t)
        return mc_fail(d, MC_ERR_NOMEM, "tokenizer: out of memory");
    e = setup_model(t, v, d);
    if (!e)
        e = map_alloc(t, (size_t)v->n_tokens + 3 * (size_t)v->n_merges)
                ? mc_fail(d, MC_ERR_NOMEM, "tokenizer: out of memory for the token map")
                : MC_OK;
    if (!e)
        e = load_tokens(t, v, d);
    if (!e && t->model == TOK_BPE)
        e = load_merges(t, v, d);
    if (!e)
        e = build_specials(t, d);
    if (!e)
        e = tok_trie_build(t, d);
    if (!e)
        e = tok_build_pieces(t, d);
    if (e) {
        mc_tok_free(t);
        return e;
    }
    build_byte_ids(t);
    build_eog(t);
    *out = t;
    return MC_OK;
}

void mc_tok_free(mc_tok *t)
{
    if (!t)
        return;
    tok_pretok_deinit(&t->pre);
    mc_free(t->blob);
    mc_free(t->str_off);
    mc_free(t->str_len);
    mc_free(t->type);
    mc_free(t->score);
    mc_free(t->eog);
    mc_free(t->map.slot);
    mc_free(t->merges.key);
    mc_free(t->merges.rank);
    mc_free(t->merges.res);
    mc_free(t->piece);
    mc_free(t->piece_off);
    mc_free(t->piece_len);
    mc_free(t->special);
    tok_trie_free(&t->trie);
    mc_free(t);
}

/* ---- getters ---- */

int32_t mc_tok_n_tokens(const mc_tok *t) { return t->n_tokens; }
const char *mc_tok_model_name(const mc_tok *t) { return t->model == TOK_SPM ? "llama" : "gpt2"; }
const char *mc_tok_pre_name(const mc_tok *t) { return t->pre_name; }
int32_t mc_tok_bos(const mc_tok *t) { return t->bos; }
int32_t mc_tok_eos(const mc_tok *t) { return t->eos; }
int32_t mc_tok_unk(const mc_tok *t) { return t->unk; }
int32_t mc_tok_pad(const mc_tok *t) { return t->pad; }
int mc_tok_adds_bos(const mc_tok *t) { return t->add_bos; }
int mc_tok_adds_eos(const mc_tok *t) { return t->add_eos; }

const char *mc_tok_text(const mc_tok *t, int32_t id, size_t *len)
{
    if (id < 0 || id >= t->n_tokens)
        return NULL;
    if (len)
        *len = t->str_len[id];
    return t->blob + t->str_off[id];
}

int mc_tok_type(const mc_tok *t, int32_t id)
{
    return id < 0 || id >= t->n_tokens ? 0 : t->type[id];
}

int32_t mc_tok_find(const mc_tok *t, const char *text, size_t len)
{
    int32_t id = tok_map_find(t, text, len);
    return id < t->n_tokens ? id : -1;
}

int mc_tok_is_eog(const mc_tok *t, int32_t id)
{
    return id >= 0 && id < t->n_tokens && t->eog[id];
}
