/* tok_bpe.c: the byte-level BPE ("gpt2") encoder for one pre-tokenized word, and the GPT-2
 * byte <-> character mapping.
 * Every byte of the word starts as a symbol (its GPT-2 character); the adjacent pair with the
 * lowest merge rank merges first (ties: leftmost), with pairs looked up by string id in a hash
 * table, so a word of n bytes costs O(n log n). With ignore_merges (llama3) a word that is itself
 * a token is emitted whole. Depends on tok_* only. */
#include "tok_internal.h"

/* Bytes GPT-2 keeps as their own code point: printable Latin-1 except the soft hyphen. */
static int gpt2_self(unsigned b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b != 0xAD); }

uint32_t tok_gpt2_cp(uint8_t b)
{
    if (gpt2_self(b))
        return b;
    uint32_t n = 0; /* the others get 256, 257, ... in byte order */
    for (unsigned c = 0; c < b; c++)
        n += !gpt2_self(c);
    return 256 + n;
}

int tok_gpt2_byte(uint32_t cp)
{
    if (cp < 256)
        return gpt2_self(cp) ? (int)cp : -1;
    uint32_t n = 256;
    for (unsigned c = 0; c < 256; c++) {
        if (gpt2_self(c))
            continue;
        if (n++ == cp)
            return (int)c;
    }
    return -1;
}

size_t tok_utf8_put(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- merging ---- */

static int bpe_before(const tok_bigram *a, const tok_bigram *b)
{
    if (a->rank != b->rank)
        return a->rank < b->rank;
    return a->left < b->left;
}

static int merge_find(const mc_tok *t, int32_t a, int32_t b, int32_t *rank, int32_t *res)
{
    const tok_mergemap *m = &t->merges;
    uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    uint64_t h = key ^ (key >> 33);
    h *= 0xff51afd7ed558ccdull;
    size_t i = (size_t)(h ^ (h >> 33)) & m->mask;
    for (;;) {
        if (m->key[i] == 0)
            return 0;
        if (m->key[i] == key) {
            *rank = m->rank[i];
            *res = m->res[i];
            return 1;
        }
        i = (i + 1) & m->mask;
    }
}

static mc_err bpe_try(const mc_tok *t, mc_tok_scratch *s, int32_t l, int32_t r)
{
    if (l < 0 || r < 0)
        return MC_OK;
    int32_t a = s->sym[l].id, b = s->sym[r].id, rank, res;
    if (a < 0 || b < 0 || !merge_find(t, a, b, &rank, &res))
        return MC_OK;
    tok_bigram g = {.rank = rank, .left = l, .right = r, .lid = a, .rid = b, .res = res};
    return tok_heap_push(s, &g, bpe_before);
}

/* The token id of the whole word (written in GPT-2 characters), or -1. */
static int32_t whole_word(const mc_tok *t, mc_tok_scratch *s, const char *w, size_t n)
{
    if (!TOK_RESERVE(s->word, s->word_cap, 2 * n))
        return -1; /* no memory: fall back to merging, which gives the same ids */
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += tok_utf8_put(tok_gpt2_cp((uint8_t)w[i]), s->word + k);
    int32_t id = tok_map_find(t, s->word, k);
    return id < t->n_tokens ? id : -1;
}

static mc_err bpe_emit(const mc_tok *t, const char *w, const tok_sym *y, mc_tok_ids *out)
{
    if (y->id >= 0 && y->id < t->n_tokens)
        return tok_ids_push(out, y->id);
    for (uint32_t i = 0; i < y->len; i++) { /* a merge-only string: its bytes one by one */
        int32_t b = t->byte_id[(unsigned char)w[y->off + i]];
        if (b >= 0 && b < t->n_tokens) {
            mc_err e = tok_ids_push(out, b);
            if (e)
                return e;
        }
    }
    return MC_OK;
}

static mc_err bpe_merge_all(const mc_tok *t, mc_tok_scratch *s)
{
    while (s->heap_n > 0) {
        tok_bigram g;
        tok_heap_pop(s, &g, bpe_before);
        tok_sym *a = &s->sym[g.left], *b = &s->sym[g.right];
        if (a->len == 0 || b->len == 0 || a->id != g.lid || b->id != g.rid)
            continue; /* stale */
        a->id = g.res;
        a->len += b->len;
        b->len = 0;
        a->next = b->next;
        if (b->next >= 0)
            s->sym[b->next].prev = g.left;
        mc_err e = bpe_try(t, s, a->prev, g.left);
        if (!e)
            e = bpe_try(t, s, g.left, a->next);
        if (e)
            return e;
    }
    return MC_OK;
}

mc_err tok_bpe_encode_word(const mc_tok *t, mc_tok_scratch *s, const char *w, size_t n,
                           mc_tok_ids *out)
{
    if (n == 0)
        return MC_OK;
    if (t->ignore_merges) {
        int32_t id = whole_word(t, s, w, n);
        if (id >= 0)
            return tok_ids_push(out, id);
    }
    if (!TOK_RESERVE(s->sym, s->sym_cap, n))
        return MC_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        int32_t k = (int32_t)i;
        s->sym[i] = (tok_sym){k - 1, k + 1, t->byte_id[(unsigned char)w[i]], (uint32_t)i, 1};
    }
    s->sym[n - 1].next = -1;
    s->heap_n = 0;
    mc_err e = MC_OK;
    for (size_t i = 1; i < n && !e; i++)
        e = bpe_try(t, s, (int32_t)i - 1, (int32_t)i);
    if (!e)
        e = bpe_merge_all(t, s);
    for (int32_t i = 0; i != -1 && !e; i = s->sym[i].next)
        e = bpe_emit(t, w, &s->sym[i], out);
    return e;
}
