/* makemodel_vocab.c: the tokenizer.* keys of a `make-model` file: either every tokenizer.* key of
 * another GGUF copied value for value (--vocab-from), or a synthetic SentencePiece-style ("llama")
 * vocabulary of the requested size: <unk>, <s>, </s>, the 256 byte-fallback tokens <0xXX>, then
 * "\u2581", the printable ASCII characters, and lowercase pieces "\u2581s" / "s" by length, with
 * scores falling with the index so shorter pieces merge first. Any text tokenises (bytes fall
 * back) and decodes back. Depends on base and gguf.h; no I/O except opening vocab_from. */
#include "makemodel_impl.h"

#include <stdio.h>
#include <string.h>

#define SPACE "\xe2\x96\x81" /* U+2581, SentencePiece's space */

enum { TOKT_NORMAL = 1, TOKT_UNKNOWN = 2, TOKT_CONTROL = 3, TOKT_BYTE = 6 };

/* ---- --vocab-from ---------------------------------------------------------------------------- */

mc_err mk_open_vocab(mk *m)
{
    const char *path = m->o->vocab_from;
    if (!path)
        return MC_OK;
    mc_err e = mc_gguf_open(path, &m->vocab_src, m->d);
    if (e) {
        mc_diag_prefix(m->d, "make-model: --vocab-from");
        return e;
    }
    mc_gguf_value v;
    e = mc_gguf_get_arr(m->vocab_src, "tokenizer.ggml.tokens", &v, m->d);
    if (e || v.elem != MC_GGUF_STRING || v.len < 1 || v.len > (UINT64_C(1) << 22))
        return mc_fail(m->d, e == MC_ERR_NOMEM ? e : MC_ERR_ARG,
                       "make-model: --vocab-from %s: no usable tokenizer.ggml.tokens (an array "
                       "of 1 to 4194304 strings)",
                       path);
    m->vocab = (int64_t)v.len;
    return MC_OK;
}

/* The value of key i encoded as in a file after its type field. */
static mc_err encode_value(const mc_gguf *g, uint64_t i, mc_buf *b)
{
    mc_gguf_value v = mc_gguf_kv_value(g, i);
    uint8_t hdr[12];
    size_t nh = 0;
    const void *p = v.p;
    uint64_t n = mc_gguf_type_size(v.type);
    if (v.type == MC_GGUF_STRING || v.type == MC_GGUF_ARRAY) {
        if (v.type == MC_GGUF_ARRAY)
            for (int k = 0; k < 4; k++)
                hdr[nh++] = (uint8_t)((uint32_t)v.elem >> (8 * k));
        for (int k = 0; k < 8; k++)
            hdr[nh++] = (uint8_t)(v.len >> (8 * k));
        n = v.type == MC_GGUF_STRING ? v.len : v.bytes;
    }
    mc_err e = mc_buf_append(b, hdr, nh);
    return e ? e : mc_buf_append(b, p, (size_t)n);
}

static mc_err copy_vocab(mk *m, mc_gguf_writer *w)
{
    const mc_gguf *g = m->vocab_src;
    mc_buf b;
    mc_buf_init(&b, 0);
    mc_err e = MC_OK;
    for (uint64_t i = 0; !e && i < mc_gguf_kv_count(g); i++) {
        mc_gguf_str k = mc_gguf_kv_key(g, i);
        if (k.len < 10 || memcmp(k.p, "tokenizer.", 10) != 0)
            continue;
        char *key = mc_strndup(k.p, (size_t)k.len);
        mc_buf_reset(&b);
        e = key ? encode_value(g, i, &b) : MC_ERR_NOMEM;
        if (e)
            e = mc_fail(m->d, e, "make-model: out of memory");
        else
            e = mc_gguf_add_raw(w, key, mc_gguf_kv_type(g, i), b.data, b.len, m->d);
        mc_free(key);
    }
    mc_buf_deinit(&b);
    return e;
}

/* ---- synthetic vocabulary -------------------------------------------------------------------- */

typedef struct syn {
    mc_buf text;    /* every token, NUL-terminated, back to back */
    size_t *off;    /* [vocab] offsets into text */
    float *scores;  /* [vocab] */
    int32_t *types; /* [vocab] */
    int64_t n, cap;
    mc_err e;
} syn;

static void add(syn *s, const char *tok, float score, int32_t type)
{
    if (s->e || s->n >= s->cap)
        return;
    s->off[s->n] = s->text.len;
    s->scores[s->n] = score;
    s->types[s->n] = type;
    s->n++;
    s->e = mc_buf_append(&s->text, tok, strlen(tok) + 1);
}

/* Lowercase pieces of length len in lexicographic order: "\u2581s", and s itself when len >= 2
 * (single letters are already in the ASCII range). */
static void add_pieces(syn *s, int len, int64_t *k)
{
    int dig[8] = {0};
    char tok[16];
    while (s->n < s->cap && !s->e) {
        memcpy(tok, SPACE, 3);
        for (int i = 0; i < len; i++)
            tok[3 + i] = (char)('a' + dig[i]);
        tok[3 + len] = 0;
        add(s, tok, -(float)(*k)++, TOKT_NORMAL);
        if (len >= 2)
            add(s, tok + 3, -(float)(*k)++, TOKT_NORMAL);
        int i = len - 1; /* odometer */
        while (i >= 0 && ++dig[i] == 26)
            dig[i--] = 0;
        if (i < 0)
            return;
    }
}

static void synth_fill(syn *s)
{
    char tok[16];
    add(s, "<unk>", 0, TOKT_UNKNOWN);
    add(s, "<s>", 0, TOKT_CONTROL);
    add(s, "</s>", 0, TOKT_CONTROL);
    for (int b = 0; b < 256; b++) {
        snprintf(tok, sizeof tok, "<0x%02X>", b);
        add(s, tok, 0, TOKT_BYTE);
    }
    int64_t k = 0;
    add(s, SPACE, -(float)k++, TOKT_NORMAL);
    for (int c = 0x21; c < 0x7f; c++) {
        tok[0] = (char)c;
        tok[1] = 0;
        add(s, tok, -(float)k++, TOKT_NORMAL);
    }
    for (int len = 1; len <= 8 && s->n < s->cap && !s->e; len++)
        add_pieces(s, len, &k);
}

static mc_err synth_write(mk *m, syn *s, mc_gguf_writer *w)
{
    const char **strs = mc_mallocarray((size_t)s->n, sizeof *strs);
    if (!strs)
        return mc_fail(m->d, MC_ERR_NOMEM, "make-model: out of memory");
    for (int64_t i = 0; i < s->n; i++)
        strs[i] = s->text.data + s->off[i];
    uint64_t n = (uint64_t)s->n;
    mc_err e = mc_gguf_add_str(w, "tokenizer.ggml.model", "llama", m->d);
    if (!e)
        e = mc_gguf_add_arr_str(w, "tokenizer.ggml.tokens", strs, n, m->d);
    if (!e)
        e = mc_gguf_add_arr(w, "tokenizer.ggml.scores", MC_GGUF_FLOAT32, s->scores, n, m->d);
    if (!e)
        e = mc_gguf_add_arr(w, "tokenizer.ggml.token_type", MC_GGUF_INT32, s->types, n, m->d);
    if (!e)
        e = mc_gguf_add_u32(w, "tokenizer.ggml.bos_token_id", 1, m->d);
    if (!e)
        e = mc_gguf_add_u32(w, "tokenizer.ggml.eos_token_id", 2, m->d);
    if (!e)
        e = mc_gguf_add_u32(w, "tokenizer.ggml.unknown_token_id", 0, m->d);
    if (!e)
        e = mc_gguf_add_bool(w, "tokenizer.ggml.add_bos_token", 1, m->d);
    if (!e)
        e = mc_gguf_add_bool(w, "tokenizer.ggml.add_eos_token", 0, m->d);
    mc_free(strs);
    return e;
}

static mc_err synth_vocab(mk *m, mc_gguf_writer *w)
{
    syn s = {.cap = m->vocab};
    mc_buf_init(&s.text, 0);
    s.off = mc_mallocarray((size_t)s.cap, sizeof *s.off);
    s.scores = mc_mallocarray((size_t)s.cap, sizeof *s.scores);
    s.types = mc_mallocarray((size_t)s.cap, sizeof *s.types);
    mc_err e = MC_OK;
    if (!s.off || !s.scores || !s.types)
        e = mc_fail(m->d, MC_ERR_NOMEM, "make-model: out of memory");
    if (!e)
        synth_fill(&s);
    if (!e && s.e)
        e = mc_fail(m->d, s.e, "make-model: out of memory");
    if (!e && s.n != m->vocab) /* 8-letter pieces alone would give 2 x 26^8 tokens */
        e = mc_fail(m->d, MC_ERR_INTERNAL, "make-model: synthetic vocabulary has %lld tokens",
                    (long long)s.n);
    if (!e)
        e = synth_write(m, &s, w);
    mc_buf_deinit(&s.text);
    mc_free(s.off);
    mc_free(s.scores);
    mc_free(s.types);
    return e;
}

mc_err mk_add_vocab(mk *m, mc_gguf_writer *w)
{
    return m->vocab_src ? copy_vocab(m, w) : synth_vocab(m, w);
}
