/* echo.c: the prompt log-probabilities of a completions response to an echo request
 * (choices[0].logprobs: tokens, token_logprobs, top_logprobs, text_offset). Servers count
 * text_offset in bytes (moecap serve, llama.cpp) or in characters (vLLM, OpenAI); for a prompt
 * with non-ASCII text the reading under which more tokens' text sits at its offset in the
 * prompt is taken. The span of a continuation is found from the offsets, so no tokenizer is
 * needed on this side (docs/EVAL.md section 4.4). Depends on base and cJSON. */
#include "eval.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

static const cJSON *get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

/* Byte position of every character start, [nchars + 1] entries (the last = len). */
static size_t *char_starts(const char *s, size_t len, size_t *nchars)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    size_t *pos = mc_mallocarray(n + 1, sizeof *pos);
    if (!pos)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            pos[k++] = i;
    pos[k] = len;
    *nchars = n;
    return pos;
}

typedef struct cols {
    const cJSON *tokens, *lps, *tops, *offs;
    int n;
} cols;

static mc_err read_cols(const cJSON *j, cols *c, mc_diag *d)
{
    const cJSON *err = get(j, "error");
    if (err) {
        const cJSON *m = cJSON_IsObject(err) ? get(err, "message") : err;
        return mc_fail(d, MC_ERR_FORMAT, "server error: %.200s",
                       cJSON_IsString(m) ? m->valuestring : "(no message)");
    }
    const cJSON *ch = get(j, "choices");
    const cJSON *lp = cJSON_IsArray(ch) && ch->child ? get(ch->child, "logprobs") : NULL;
    c->tokens = get(lp, "tokens");
    c->lps = get(lp, "token_logprobs");
    c->offs = get(lp, "text_offset");
    c->tops = get(lp, "top_logprobs");
    if (!cJSON_IsArray(c->tokens) || !cJSON_IsArray(c->lps) || !cJSON_IsArray(c->offs))
        return mc_fail(d, MC_ERR_FORMAT,
                       "response has no prompt log-probabilities (choices[0].logprobs with "
                       "tokens, token_logprobs, text_offset): does the server support echo "
                       "with logprobs on /v1/completions?");
    c->n = cJSON_GetArraySize(c->tokens);
    if (cJSON_GetArraySize(c->lps) != c->n || cJSON_GetArraySize(c->offs) != c->n ||
        (cJSON_IsArray(c->tops) && cJSON_GetArraySize(c->tops) != c->n))
        return mc_fail(d, MC_ERR_FORMAT, "logprobs arrays differ in length");
    return MC_OK;
}

/* How many tokens' text sits at their offset read as bytes (chars == NULL) or characters. */
static size_t matches(const cols *c, const char *p, size_t plen, const size_t *chars, size_t nch)
{
    size_t hits = 0;
    const cJSON *t = c->tokens->child, *o = c->offs->child;
    for (; t && o; t = t->next, o = o->next) {
        double x = cJSON_IsNumber(o) ? o->valuedouble : -1;
        size_t lim = chars ? nch : plen;
        if (x < 0 || x >= (double)lim || !cJSON_IsString(t))
            continue;
        size_t at = chars ? chars[(size_t)x] : (size_t)x, k = strlen(t->valuestring);
        hits += k > 0 && at + k <= plen && memcmp(p + at, t->valuestring, k) == 0;
    }
    return hits;
}

static mc_err read_top(const cJSON *d, mc_ev_top **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!cJSON_IsObject(d))
        return MC_OK;
    size_t k = (size_t)cJSON_GetArraySize(d);
    *out = mc_calloc(k ? k : 1, sizeof **out);
    if (!*out)
        return MC_ERR_NOMEM;
    for (const cJSON *e = d->child; e; e = e->next) {
        if (!cJSON_IsNumber(e) || !e->string)
            continue;
        mc_ev_top *t = &(*out)[(*n)++];
        t->lp = e->valuedouble;
        if (!(t->tok = mc_strdup(e->string)))
            return MC_ERR_NOMEM;
    }
    return MC_OK;
}

static mc_err alloc_echo(mc_ev_echo *e, size_t n)
{
    e->tok = mc_calloc(n ? n : 1, sizeof *e->tok);
    e->off = mc_calloc(n ? n : 1, sizeof *e->off);
    e->lp = mc_calloc(n ? n : 1, sizeof *e->lp);
    e->top = mc_calloc(n ? n : 1, sizeof *e->top);
    e->n_top = mc_calloc(n ? n : 1, sizeof *e->n_top);
    return e->tok && e->off && e->lp && e->top && e->n_top ? MC_OK : MC_ERR_NOMEM;
}

/* Copies the tokens whose offset lies inside the prompt (in order; stops at the first one
 * past it or out of order). */
static mc_err take(const cols *c, const size_t *chars, size_t lim, mc_ev_echo *e, mc_diag *d)
{
    if (alloc_echo(e, (size_t)c->n))
        return mc_fail(d, MC_ERR_NOMEM, "out of memory");
    const cJSON *t = c->tokens->child, *l = c->lps->child, *o = c->offs->child;
    const cJSON *tp = cJSON_IsArray(c->tops) ? c->tops->child : NULL;
    size_t prev = 0;
    for (; t && l && o; t = t->next, l = l->next, o = o->next, tp = tp ? tp->next : NULL) {
        double x = cJSON_IsNumber(o) ? o->valuedouble : -1;
        if (x < 0 || x >= (double)lim || x != floor(x) || (size_t)x < prev)
            break;
        size_t i = e->n;
        prev = (size_t)x;
        e->off[i] = chars ? chars[prev] : prev;
        e->lp[i] = cJSON_IsNumber(l) ? l->valuedouble : NAN;
        e->tok[i] = mc_strdup(cJSON_IsString(t) ? t->valuestring : "");
        e->n++;
        if (!e->tok[i] || read_top(tp, &e->top[i], &e->n_top[i]))
            return mc_fail(d, MC_ERR_NOMEM, "out of memory");
    }
    if (e->n == 0)
        return mc_fail(d, MC_ERR_FORMAT, "no token of the response lies inside the prompt");
    return MC_OK;
}

mc_err mc_ev_echo_parse(const char *body, size_t len, const char *prompt, size_t plen,
                        mc_ev_echo *out, mc_diag *d)
{
    memset(out, 0, sizeof *out);
    out->prompt_len = plen;
    cJSON *j = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return mc_fail(d, MC_ERR_FORMAT, "response is not a JSON object");
    }
    cols c = {0};
    size_t nch = 0, *chars = NULL;
    mc_err e = read_cols(j, &c, d);
    if (!e && !(chars = char_starts(prompt, plen, &nch)))
        e = mc_fail(d, MC_ERR_NOMEM, "out of memory");
    if (!e && nch != plen &&
        matches(&c, prompt, plen, chars, nch) > matches(&c, prompt, plen, NULL, 0))
        out->char_offsets = 1;
    if (!e)
        e = take(&c, out->char_offsets ? chars : NULL, out->char_offsets ? nch : plen, out, d);
    mc_free(chars);
    cJSON_Delete(j);
    if (e)
        mc_ev_echo_deinit(out);
    return e;
}

void mc_ev_echo_deinit(mc_ev_echo *e)
{
    for (size_t i = 0; i < e->n; i++) {
        mc_free(e->tok[i]);
        for (size_t k = 0; e->top && e->top[i] && k < e->n_top[i]; k++)
            mc_free(e->top[i][k].tok);
        if (e->top)
            mc_free(e->top[i]);
    }
    mc_free(e->tok);
    mc_free(e->off);
    mc_free(e->lp);
    mc_free(e->top);
    mc_free(e->n_top);
    memset(e, 0, sizeof *e);
}

mc_err mc_ev_echo_span(const mc_ev_echo *e, size_t from, double *sum, size_t *n_tokens, mc_diag *d)
{
    double s = 0;
    size_t k = 0;
    for (size_t i = 0; i < e->n; i++) {
        size_t end = i + 1 < e->n ? e->off[i + 1] : e->prompt_len;
        if (end <= from)
            continue;
        if (isnan(e->lp[i]))
            return mc_fail(d, MC_ERR_FORMAT,
                           "token %zu of the continuation has no "
                           "log-probability",
                           i);
        s += e->lp[i];
        k++;
    }
    if (k == 0)
        return mc_fail(d, MC_ERR_FORMAT, "no token covers the continuation (offset %zu of %zu)",
                       from, e->prompt_len);
    *sum = s;
    *n_tokens = k;
    return MC_OK;
}
