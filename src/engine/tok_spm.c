/* tok_spm.c: the SentencePiece-style ("llama") encoder and the binary heap both encoders use.
 * Input: one fragment whose spaces are already U+2581. Every UTF-8 character (an invalid byte
 * counts as one character) starts as a symbol; the adjacent pair whose concatenation is the
 * vocabulary piece with the highest score merges first (ties: leftmost), until no pair forms a
 * piece. Symbols that are not pieces become byte tokens <0xXX>, else the unknown token.
 * O(n log n) in the fragment length; memory comes from the scratch. Depends on tok_* only. */
#include "tok_internal.h"

/* ---- binary heap of bigrams, ordered by `before` ---- */

mc_err tok_heap_push(mc_tok_scratch *s, const tok_bigram *b,
                     int (*before)(const tok_bigram *, const tok_bigram *))
{
    if (!TOK_RESERVE(s->heap, s->heap_cap, s->heap_n + 1))
        return MC_ERR_NOMEM;
    size_t i = s->heap_n++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!before(b, &s->heap[up]))
            break;
        s->heap[i] = s->heap[up];
        i = up;
    }
    s->heap[i] = *b;
    return MC_OK;
}

void tok_heap_pop(mc_tok_scratch *s, tok_bigram *top,
                  int (*before)(const tok_bigram *, const tok_bigram *))
{
    *top = s->heap[0];
    tok_bigram last = s->heap[--s->heap_n];
    size_t n = s->heap_n, i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && before(&s->heap[c + 1], &s->heap[c]))
            c++;
        if (!before(&s->heap[c], &last))
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n > 0)
        s->heap[i] = last;
}

/* ---- SentencePiece merging ---- */

static int spm_before(const tok_bigram *a, const tok_bigram *b)
{
    if (a->score != b->score)
        return a->score > b->score;
    return a->left < b->left;
}

/* Pieces that text may turn into: normal and user-defined tokens (control, unknown, unused and
 * byte tokens are never produced from text by merging). */
static int spm_usable(const mc_tok *t, int32_t id)
{
    return id >= 0 && id < t->n_tokens &&
           (t->type[id] == MC_TOKT_NORMAL || t->type[id] == MC_TOKT_USER_DEFINED);
}

static mc_err spm_try(const mc_tok *t, mc_tok_scratch *s, const char *text, int32_t l, int32_t r)
{
    if (l < 0 || r < 0)
        return MC_OK;
    const tok_sym *a = &s->sym[l], *b = &s->sym[r];
    size_t n = (size_t)a->len + b->len;
    if (n > t->max_tok_len)
        return MC_OK;
    int32_t id = tok_map_find(t, text + a->off, n);
    if (!spm_usable(t, id))
        return MC_OK;
    tok_bigram g = {.score = t->score[id], .left = l, .right = r, .size = (uint32_t)n};
    return tok_heap_push(s, &g, spm_before);
}

static mc_err spm_emit(const mc_tok *t, const char *text, const tok_sym *y, mc_tok_ids *out)
{
    int32_t id = tok_map_find(t, text + y->off, y->len);
    if (spm_usable(t, id))
        return tok_ids_push(out, id);
    int all_bytes = 1;
    for (uint32_t i = 0; i < y->len; i++)
        all_bytes &= t->byte_id[(unsigned char)text[y->off + i]] >= 0;
    if (!all_bytes)
        return t->unk >= 0 ? tok_ids_push(out, t->unk) : MC_OK;
    for (uint32_t i = 0; i < y->len; i++) {
        mc_err e = tok_ids_push(out, t->byte_id[(unsigned char)text[y->off + i]]);
        if (e)
            return e;
    }
    return MC_OK;
}

static mc_err spm_symbols(mc_tok_scratch *s, const char *text, size_t len, int32_t *n_sym)
{
    if (!TOK_RESERVE(s->sym, s->sym_cap, len))
        return MC_ERR_NOMEM;
    int32_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t l = tok_utf8_valid_len((const unsigned char *)text + i, len - i);
        if (l == 0)
            l = 1;
        s->sym[n] = (tok_sym){n - 1, n + 1, -1, (uint32_t)i, (uint32_t)l};
        n++;
        i += l;
    }
    s->sym[n - 1].next = -1;
    *n_sym = n;
    return MC_OK;
}

mc_err tok_spm_encode(const mc_tok *t, mc_tok_scratch *s, const char *text, size_t len,
                      mc_tok_ids *out)
{
    if (len == 0)
        return MC_OK;
    int32_t n;
    mc_err e = spm_symbols(s, text, len, &n);
    s->heap_n = 0;
    for (int32_t i = 1; i < n && !e; i++)
        e = spm_try(t, s, text, i - 1, i);
    while (s->heap_n > 0 && !e) {
        tok_bigram g;
        tok_heap_pop(s, &g, spm_before);
        tok_sym *a = &s->sym[g.left], *b = &s->sym[g.right];
        if (a->len == 0 || b->len == 0 || a->len + b->len != g.size)
            continue; /* stale: one side changed since the pair was queued */
        a->len += b->len;
        b->len = 0;
        a->next = b->next;
        if (b->next >= 0)
            s->sym[b->next].prev = g.left;
        e = spm_try(t, s, text, a->prev, g.left);
        if (!e)
            e = spm_try(t, s, text, g.left, a->next);
    }
    for (int32_t i = 0; i != -1 && !e; i = s->sym[i].next)
        e = spm_emit(t, text, &s->sym[i], out);
    return e;
}
