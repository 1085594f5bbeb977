/* tok_special.c: finding special tokens in the input. A trie of all control, unknown and
 * user-defined token texts finds in one pass which of them occur (cost: input length x the depth
 * the trie walks, about 1 per byte for ordinary text); then, as in llama.cpp, each token that
 * occurs splits the remaining raw fragments at its occurrences, longest token first.
 * Depends on base and tok_internal.h only. */
#include "tok_internal.h"

#include <string.h>

/* ---- trie ---- */

static size_t edge_slot(const tok_trie *tr, uint64_t key)
{
    uint64_t h = key * 0x9e3779b97f4a7c15ull;
    return (size_t)(h ^ (h >> 29)) & tr->emask;
}

static int32_t edge_get(const tok_trie *tr, int32_t node, unsigned char b)
{
    if (node == 0)
        return tr->root[b];
    uint64_t key = (((uint64_t)node << 8) | b) + 1;
    for (size_t i = edge_slot(tr, key);; i = (i + 1) & tr->emask) {
        if (tr->ekey[i] == 0)
            return -1;
        if (tr->ekey[i] == key)
            return tr->echild[i];
    }
}

static void edge_put(tok_trie *tr, int32_t node, unsigned char b, int32_t child)
{
    if (node == 0) {
        tr->root[b] = child;
        return;
    }
    uint64_t key = (((uint64_t)node << 8) | b) + 1;
    size_t i = edge_slot(tr, key);
    while (tr->ekey[i] != 0)
        i = (i + 1) & tr->emask;
    tr->ekey[i] = key;
    tr->echild[i] = child;
}

static void trie_insert(tok_trie *tr, const unsigned char *p, size_t n, int32_t k)
{
    int32_t node = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t child = edge_get(tr, node, p[i]);
        if (child < 0) {
            child = tr->n_nodes++;
            tr->term[child] = -1;
            edge_put(tr, node, p[i], child);
        }
        node = child;
    }
    if (tr->term[node] < 0) /* a repeated text keeps its first (lowest) k */
        tr->term[node] = k;
}

mc_err tok_trie_build(mc_tok *t, mc_diag *d)
{
    tok_trie *tr = &t->trie;
    for (int b = 0; b < 256; b++)
        tr->root[b] = -1;
    size_t total = 1;
    for (int32_t k = 0; k < t->n_special; k++)
        total += t->str_len[t->special[k]];
    size_t cap = 64;
    while (cap < 2 * total)
        cap *= 2;
    tr->term = mc_mallocarray(total, sizeof *tr->term);
    tr->ekey = mc_calloc(cap, sizeof *tr->ekey);
    tr->echild = mc_mallocarray(cap, sizeof *tr->echild);
    if (!tr->term || !tr->ekey || !tr->echild)
        return mc_fail(d, MC_ERR_NOMEM, "tokenizer: out of memory for the special-token trie");
    tr->emask = cap - 1;
    tr->term[0] = -1;
    tr->n_nodes = 1;
    for (int32_t k = 0; k < t->n_special; k++) {
        int32_t id = t->special[k];
        trie_insert(tr, (const unsigned char *)t->blob + t->str_off[id], t->str_len[id], k);
    }
    return MC_OK;
}

void tok_trie_free(tok_trie *tr)
{
    mc_free(tr->term);
    mc_free(tr->ekey);
    mc_free(tr->echild);
    tr->term = NULL;
    tr->ekey = NULL;
    tr->echild = NULL;
}

/* ---- which special tokens occur ---- */

static int allowed(const mc_tok *t, int32_t k, unsigned flags)
{
    return (flags & MC_TOK_PARSE_SPECIAL) || t->type[t->special[k]] == MC_TOKT_USER_DEFINED;
}

/* Marks s->mark[k] for every special token k (allowed by flags) that occurs in text. */
static size_t mark_present(const mc_tok *t, mc_tok_scratch *s, const char *text, size_t len,
                           unsigned flags)
{
    const tok_trie *tr = &t->trie;
    const unsigned char *p = (const unsigned char *)text;
    size_t found = 0;
    for (size_t i = 0; i < len; i++) {
        int32_t node = tr->root[p[i]];
        for (size_t j = i + 1; node >= 0; j++) {
            int32_t k = tr->term[node];
            if (k >= 0 && !s->mark[k] && allowed(t, k, flags)) {
                s->mark[k] = 1;
                found++;
            }
            node = j < len ? edge_get(tr, node, p[j]) : -1;
        }
    }
    return found;
}

/* ---- splitting ---- */
/* Splits every raw fragment in s->fr[0] at each occurrence of the text of token id. */
static mc_err split_by(const mc_tok *t, mc_tok_scratch *s, const char *text, int32_t id,
                       size_t *n_frag)
{
    const char *tx = t->blob + t->str_off[id];
    size_t n = t->str_len[id], cnt = 0;
    for (size_t i = 0; i < *n_frag; i++) {
        tok_frag f = s->fr[0][i];
        if (!TOK_RESERVE(s->fr[1], s->fr_cap[1], cnt + 1))
            return MC_ERR_NOMEM;
        while (f.id < 0) {
            const char *m = memmem(text + f.off, f.len, tx, n);
            size_t left = m ? (size_t)(m - (text + f.off)) : f.len;
            if (!TOK_RESERVE(s->fr[1], s->fr_cap[1], cnt + 2))
                return MC_ERR_NOMEM;
            if (left > 0)
                s->fr[1][cnt++] = (tok_frag){-1, f.off, left};
            if (!m)
                break;
            s->fr[1][cnt++] = (tok_frag){id, 0, 0};
            f.off += left + n;
            f.len -= left + n;
            if (f.len == 0)
                break;
        }
        if (f.id >= 0)
            s->fr[1][cnt++] = f;
    }
    tok_frag *sw = s->fr[0];
    size_t swc = s->fr_cap[0];
    s->fr[0] = s->fr[1], s->fr_cap[0] = s->fr_cap[1];
    s->fr[1] = sw, s->fr_cap[1] = swc;
    *n_frag = cnt;
    return MC_OK;
}

/* Fragments of text: the special tokens that occur (longest token first, as llama.cpp does)
 * and the raw text between them. Control/unknown tokens only with MC_TOK_PARSE_SPECIAL. */
mc_err tok_partition(const mc_tok *t, mc_tok_scratch *s, const char *text, size_t len,
                     unsigned flags, size_t *n_frag)
{
    *n_frag = 0;
    if (len == 0)
        return MC_OK;
    size_t old = s->mark_cap;
    if (!TOK_RESERVE(s->fr[0], s->fr_cap[0], 1) ||
        !TOK_RESERVE(s->mark, s->mark_cap, (size_t)t->n_special))
        return MC_ERR_NOMEM;
    if (s->mark_cap != old)
        memset(s->mark, 0, s->mark_cap);
    s->fr[0][0] = (tok_frag){-1, 0, len};
    *n_frag = 1;
    size_t left = mark_present(t, s, text, len, flags);
    mc_err e = MC_OK;
    for (int32_t k = 0; k < t->n_special && left > 0; k++) {
        if (!s->mark[k])
            continue;
        s->mark[k] = 0;
        left--;
        if (!e)
            e = split_by(t, s, text, t->special[k], n_frag);
    }
    if (e)
        return e;
    /* the two buffers swap roles: keep them equally large so a warm scratch never grows */
    return TOK_RESERVE(s->fr[1], s->fr_cap[1], s->fr_cap[0]) ? MC_OK : MC_ERR_NOMEM;
}
