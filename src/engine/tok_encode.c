/* tok_encode.c: the encode entry point: BOS/EOS, the per-fragment preparation each model needs
 * (space escaping for llama, UTF-8 repair for gpt2) and the scratch memory. Depends on base and
 * the tok_*.c files only. */
#include "tok_internal.h"

#include <string.h>

mc_tok_scratch *mc_tok_scratch_new(void) { return mc_calloc(1, sizeof(mc_tok_scratch)); }

void mc_tok_scratch_free(mc_tok_scratch *s)
{
    if (!s)
        return;
    tok_scratch_free_md(s);
    mc_free(s->text);
    mc_free(s->word);
    for (int i = 0; i < 2; i++) {
        mc_free(s->fr[i]);
        mc_free(s->sp[i]);
    }
    mc_free(s->sym);
    mc_free(s->heap);
    mc_free(s->mark);
    mc_free(s);
}

size_t tok_utf8_valid_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    size_t need;
    uint32_t cp, min;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2, cp = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3, cp = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return need;
}

/* ---- per-fragment preparation ---- */

/* llama: optional leading space, then every ' ' becomes U+2581 (3 bytes). */
static mc_err spm_fragment(const mc_tok *t, mc_tok_scratch *s, const char *p, size_t n,
                           int prefix, mc_tok_ids *out)
{
    size_t spaces = prefix ? 1 : 0;
    for (size_t i = 0; i < n; i++)
        spaces += p[i] == ' ';
    if (!TOK_RESERVE(s->text, s->text_cap, n + 1 + 2 * spaces))
        return MC_ERR_NOMEM;
    size_t k = 0;
    if (prefix) {
        memcpy(s->text, "\xe2\x96\x81", 3);
        k = 3;
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i] == ' ') {
            memcpy(s->text + k, "\xe2\x96\x81", 3);
            k += 3;
        } else {
            s->text[k++] = p[i];
        }
    }
    return tok_spm_encode(t, s, s->text, k, out);
}

/* gpt2: invalid UTF-8 bytes become U+FFFD (the regexes need valid UTF-8), then pre-tokenizer
 * words, then BPE per word. */
static mc_err bpe_fragment(const mc_tok *t, mc_tok_scratch *s, const char *p, size_t n,
                           mc_tok_ids *out, mc_diag *d)
{
    if (!TOK_RESERVE(s->text, s->text_cap, 3 * n + 1))
        return MC_ERR_NOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        size_t l = tok_utf8_valid_len((const unsigned char *)p + i, n - i);
        if (l == 0) {
            memcpy(s->text + k, "\xef\xbf\xbd", 3);
            k += 3;
            i++;
        } else {
            memcpy(s->text + k, p + i, l);
            k += l;
            i += l;
        }
    }
    const tok_span *w;
    size_t nw;
    mc_err e = tok_pretok_split(t, s, s->text, k, &w, &nw, d);
    for (size_t i = 0; i < nw && !e; i++)
        e = tok_bpe_encode_word(t, s, s->text + w[i].off, w[i].len, out);
    return e;
}

static mc_err encode_frags(const mc_tok *t, mc_tok_scratch *s, const char *text, size_t n_frag,
                           mc_tok_ids *out, mc_diag *d)
{
    int prev_special = 1; /* llama: a space prefix goes in front of text after a token/start */
    for (size_t i = 0; i < n_frag; i++) {
        tok_frag f = s->fr[0][i];
        mc_err e;
        if (f.id >= 0)
            e = tok_ids_push(out, f.id);
        else if (t->model == TOK_SPM)
            e = spm_fragment(t, s, text + f.off, f.len, t->add_space_prefix && prev_special,
                             out);
        else
            e = bpe_fragment(t, s, text + f.off, f.len, out, d);
        if (e)
            return e;
        prev_special = f.id >= 0;
    }
    return MC_OK;
}

static mc_err encode_with(const mc_tok *t, mc_tok_scratch *s, const char *text, size_t len,
                          unsigned flags, mc_tok_ids *out, mc_diag *d)
{
    int add = !(flags & MC_TOK_NO_BOS_EOS);
    size_t n_frag;
    mc_err e = MC_OK;
    if (add && t->add_bos)
        e = tok_ids_push(out, t->bos);
    if (!e)
        e = tok_partition(t, s, text, len, flags, &n_frag);
    if (!e)
        e = encode_frags(t, s, text, n_frag, out, d);
    if (!e && add && t->add_eos)
        e = tok_ids_push(out, t->eos);
    return e;
}

mc_err mc_tok_encode(const mc_tok *t, mc_tok_scratch *s, const char *text, size_t len,
                     unsigned flags, mc_tok_ids *out, mc_diag *d)
{
    if (len > MC_TOK_MAX_TEXT)
        return mc_fail(d, MC_ERR_RANGE, "tokenizer: input of %zu bytes exceeds the limit %zu",
                       len, MC_TOK_MAX_TEXT);
    if (len > 0 && !text)
        return mc_fail(d, MC_ERR_ARG, "tokenizer: no input text");
    mc_tok_scratch *own = NULL;
    if (!s) {
        s = own = mc_tok_scratch_new();
        if (!s)
            return mc_fail(d, MC_ERR_NOMEM, "tokenizer: out of memory");
    }
    size_t n0 = out->n;
    mc_diag dd = {{0}};
    mc_err e = encode_with(t, s, text, len, flags, out, &dd);
    if (e) {
        out->n = n0;
        if (dd.msg[0])
            mc_fail(d, e, "%s", dd.msg);
        else
            mc_fail(d, e, "tokenizer: %s while encoding %zu bytes", mc_err_name(e), len);
    }
    mc_tok_scratch_free(own);
    return e;
}
