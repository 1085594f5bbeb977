/* tok_decode.c: token ids -> bytes. Every token's bytes are computed once when the tokenizer is
 * built (U+2581 -> space for llama, GPT-2 characters -> bytes for gpt2, <0xXX> byte tokens -> the
 * byte, control/user-defined tokens -> their text), so decoding is a table lookup and a copy.
 * The streaming variant holds back an incomplete UTF-8 tail until the next token.
 * Depends on base and tok_internal.h only. */
#include "tok_internal.h"

#include <string.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* "<0xXX>" -> XX, or -1. */
static int byte_token_value(const char *s, size_t n)
{
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>')
        return -1;
    int hi = hexval(s[3]), lo = hexval(s[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/* llama normal token: U+2581 -> ' '. Returns the bytes written (never more than n). */
static size_t spm_piece(const char *s, size_t n, char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        if (n - i >= 3 && memcmp(s + i, "\xe2\x96\x81", 3) == 0) {
            out[k++] = ' ';
            i += 3;
        } else {
            out[k++] = s[i++];
        }
    }
    return k;
}

/* gpt2 normal token: each GPT-2 character -> its byte; anything else is copied as it is. */
static size_t bpe_piece(const char *s, size_t n, const int16_t *inv, char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        const unsigned char *p = (const unsigned char *)s + i;
        size_t l = tok_utf8_valid_len(p, n - i);
        uint32_t cp = 0x110000;
        if (l == 1)
            cp = p[0];
        else if (l == 2)
            cp = ((uint32_t)(p[0] & 0x1F) << 6) | (p[1] & 0x3F);
        if (cp < 324 && inv[cp] >= 0) {
            out[k++] = (char)inv[cp];
        } else {
            l = l ? l : 1;
            memcpy(out + k, s + i, l);
            k += l;
        }
        i += l ? l : 1;
    }
    return k;
}

static size_t token_piece(const mc_tok *t, int32_t id, const int16_t *inv, char *out)
{
    const char *s = t->blob + t->str_off[id];
    size_t n = t->str_len[id];
    int ty = t->type[id], b;
    if (ty == MC_TOKT_BYTE && (b = byte_token_value(s, n)) >= 0) {
        out[0] = (char)b;
        return 1;
    }
    if (ty == MC_TOKT_NORMAL || ty == MC_TOKT_BYTE)
        return t->model == TOK_SPM ? spm_piece(s, n, out) : bpe_piece(s, n, inv, out);
    memcpy(out, s, n); /* control, unknown, unused, user-defined: the text itself */
    return n;
}

mc_err tok_build_pieces(mc_tok *t, mc_diag *d)
{
    int16_t inv[324]; /* GPT-2 code point -> byte */
    for (uint32_t cp = 0; cp < 324; cp++)
        inv[cp] = -1;
    for (int b = 0; b < 256; b++)
        inv[tok_gpt2_cp((uint8_t)b)] = (int16_t)b;
    size_t total = 1;
    for (int32_t i = 0; i < t->n_tokens; i++)
        total += t->str_len[i];
    t->piece = mc_malloc(total); /* a piece is never longer than its token text */
    t->piece_off = mc_mallocarray((size_t)t->n_tokens, sizeof *t->piece_off);
    t->piece_len = mc_mallocarray((size_t)t->n_tokens, sizeof *t->piece_len);
    if (!t->piece || !t->piece_off || !t->piece_len)
        return mc_fail(d, MC_ERR_NOMEM, "tokenizer: out of memory for the decode table");
    size_t k = 0;
    for (int32_t i = 0; i < t->n_tokens; i++) {
        t->piece_off[i] = k;
        t->piece_len[i] = (uint32_t)token_piece(t, i, inv, t->piece + k);
        k += t->piece_len[i];
    }
    return MC_OK;
}

size_t mc_tok_piece(const mc_tok *t, int32_t id, unsigned flags, const char **p)
{
    *p = "";
    if (id < 0 || id >= t->n_tokens)
        return 0;
    int ty = t->type[id];
    int special = ty == MC_TOKT_CONTROL || ty == MC_TOKT_UNKNOWN || ty == MC_TOKT_UNUSED;
    if (special && !(flags & MC_TOK_RENDER_SPECIAL))
        return 0;
    *p = t->piece + t->piece_off[id];
    return t->piece_len[id];
}

/* The piece of id, with the encoder's space prefix removed when it is the first output. */
static size_t piece_at_start(const mc_tok *t, int32_t id, unsigned flags, int *started,
                             const char **p)
{
    size_t n = mc_tok_piece(t, id, flags, p);
    if (n == 0)
        return 0;
    int strip = t->add_space_prefix && !(flags & MC_TOK_KEEP_LEADING_SPACE) && !*started;
    *started = 1;
    if (strip && (*p)[0] == ' ') {
        (*p)++;
        n--;
    }
    return n;
}

static mc_err buf_fail(mc_diag *d, mc_err e)
{
    return mc_fail(d, e, "tokenizer: decoded text does not fit the output buffer (%s)",
                   mc_err_name(e));
}

mc_err mc_tok_decode(const mc_tok *t, const int32_t *ids, size_t n, unsigned flags, mc_buf *out,
                     mc_diag *d)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= t->n_tokens)
            return mc_fail(d, MC_ERR_RANGE, "tokenizer: token id %d at position %zu out of range "
                           "(vocabulary has %d tokens)", ids[i], i, t->n_tokens);
    size_t len0 = out->len;
    int started = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p;
        size_t l = piece_at_start(t, ids[i], flags, &started, &p);
        mc_err e = mc_buf_append(out, p, l);
        if (e) {
            out->len = len0;
            if (out->data)
                out->data[len0] = 0;
            return buf_fail(d, e);
        }
    }
    return MC_OK;
}

/* ---- streaming ---- */

void mc_tok_stream_init(mc_tok_stream *st, unsigned flags)
{
    memset(st, 0, sizeof *st);
    st->flags = flags;
}

/* How many of the last n bytes of b (n counts only bytes not yet emitted) start a UTF-8 sequence
 * that is still missing bytes. */
static size_t incomplete_tail(const unsigned char *b, size_t n)
{
    for (size_t k = 1; k <= 3 && k <= n; k++) {
        unsigned c = b[n - k];
        if ((c & 0xC0) == 0x80)
            continue; /* continuation byte: its lead is further back */
        size_t need = 1;
        if (c >= 0xC2 && c <= 0xDF)
            need = 2;
        else if (c >= 0xE0 && c <= 0xEF)
            need = 3;
        else if (c >= 0xF0 && c <= 0xF4)
            need = 4;
        return need > k ? k : 0;
    }
    return 0;
}

mc_err mc_tok_stream_feed(const mc_tok *t, mc_tok_stream *st, int32_t id, mc_buf *out,
                          mc_diag *d)
{
    if (id < 0 || id >= t->n_tokens)
        return mc_fail(d, MC_ERR_RANGE, "tokenizer: token id %d out of range (vocabulary has %d "
                       "tokens)", id, t->n_tokens);
    const char *p;
    size_t l = piece_at_start(t, id, st->flags, &st->started, &p);
    if (l == 0)
        return MC_OK;
    size_t len0 = out->len;
    mc_err e = mc_buf_append(out, st->hold, (size_t)st->n_hold);
    if (!e)
        e = mc_buf_append(out, p, l);
    if (e) {
        out->len = len0;
        if (out->data)
            out->data[len0] = 0;
        return buf_fail(d, e);
    }
    size_t fresh = (size_t)st->n_hold + l;
    size_t keep = incomplete_tail((const unsigned char *)out->data + len0, fresh);
    memcpy(st->hold, out->data + out->len - keep, keep);
    st->n_hold = (int)keep;
    out->len -= keep;
    out->data[out->len] = 0;
    return MC_OK;
}

mc_err mc_tok_stream_flush(mc_tok_stream *st, mc_buf *out, mc_diag *d)
{
    mc_err e = mc_buf_append(out, st->hold, (size_t)st->n_hold);
    if (e)
        return buf_fail(d, e);
    st->n_hold = 0;
    return MC_OK;
}
