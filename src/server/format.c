/* format.c: response bodies of /v1/completions and /v1/chat/completions, whole or as Server-Sent
 * Events, in the OpenAI shapes (docs/SERVER.md "Responses"): choices, usage, and the two
 * log-probability layouts (completions: tokens / token_logprobs / top_logprobs / text_offset;
 * chat: content[] with token, logprob, bytes, top_logprobs). Every string goes through the UTF-8
 * sanitiser, so a model that emits broken UTF-8 still yields valid JSON. The caller holds the
 * request's lock. Must not depend on libmicrohttpd or the scheduler. */
#include "server_impl.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

/* ---- small builders: each returns 0 on success, -1 on OOM ---- */

/* A JSON string of any bytes (raw item: cJSON strings cannot hold NUL bytes). */
static cJSON *str_item(const char *s, size_t n)
{
    mc_buf b;
    mc_buf_init(&b, 0);
    cJSON *v = mc_srv_json_str(s, n, &b) == MC_OK ? cJSON_CreateRaw(b.data) : NULL;
    mc_buf_deinit(&b);
    return v;
}

/* Adds v (NULL = out of memory) under key; v is freed when the key's copy fails. */
static int add_item(cJSON *o, const char *key, cJSON *v)
{
    if (v && cJSON_AddItemToObject(o, key, v))
        return 0;
    cJSON_Delete(v);
    return -1;
}

static int add_str(cJSON *o, const char *key, const char *s, size_t n)
{
    return add_item(o, key, str_item(s, n));
}

/* log-probabilities: NaN (no value, the first prompt token) is null; -inf is -9999 */
static cJSON *lp_item(double lp)
{
    if (isnan(lp))
        return cJSON_CreateNull();
    return cJSON_CreateNumber(isfinite(lp) ? lp : -9999.0);
}

static int push(cJSON *a, cJSON *v)
{
    return v && cJSON_AddItemToArray(a, v) ? 0 : -1;
}

static cJSON *piece_item(const mc_tok *tok, int32_t id)
{
    const char *p = NULL;
    size_t n = mc_tok_piece(tok, id, MC_TOK_RENDER_SPECIAL, &p);
    return str_item(p ? p : "", n);
}

/* ---- completions log-probabilities ---- */

typedef struct lp_cols {
    cJSON *obj, *tokens, *lps, *tops, *offs;
} lp_cols;

/* A run of tokens with their values; offs NULL = computed from the decoded pieces. */
typedef struct lp_run {
    const int32_t *ids;
    const double *lps;
    const int32_t *top_ids;
    const double *top_lps;
    const int64_t *offs;
    int64_t n, off_base;
    int n_top;
} lp_run;

static int lp_cols_new(lp_cols *c, cJSON *parent)
{
    c->obj = cJSON_AddObjectToObject(parent, "logprobs");
    c->tokens = c->obj ? cJSON_AddArrayToObject(c->obj, "tokens") : NULL;
    c->lps = c->obj ? cJSON_AddArrayToObject(c->obj, "token_logprobs") : NULL;
    c->tops = c->obj ? cJSON_AddArrayToObject(c->obj, "top_logprobs") : NULL;
    c->offs = c->obj ? cJSON_AddArrayToObject(c->obj, "text_offset") : NULL;
    return c->tokens && c->lps && c->tops && c->offs ? 0 : -1;
}

static cJSON *top_dict(const mc_tok *tok, const lp_run *r, int64_t i)
{
    if (isnan(r->lps[i]))
        return cJSON_CreateNull();
    cJSON *d = cJSON_CreateObject();
    for (int k = 0; d && k < r->n_top; k++) {
        const char *p = NULL;
        size_t n = mc_tok_piece(tok, r->top_ids[i * r->n_top + k], MC_TOK_RENDER_SPECIAL, &p);
        mc_buf b;
        mc_buf_init(&b, 0);
        int ok = mc_srv_utf8_sanitize(p ? p : "", n, &b) == MC_OK;
        cJSON *v = ok ? lp_item(r->top_lps[i * r->n_top + k]) : NULL;
        if (!v || !cJSON_AddItemToObject(d, b.data, v)) {
            cJSON_Delete(v);
            cJSON_Delete(d);
            d = NULL;
        }
        mc_buf_deinit(&b);
    }
    return d;
}

static int lp_cols_add(lp_cols *c, const mc_tok *tok, const lp_run *r)
{
    mc_tok_stream st;
    mc_buf dec; /* decoded text so far, for offsets the run does not carry */
    mc_tok_stream_init(&st, MC_TOK_KEEP_LEADING_SPACE);
    mc_buf_init(&dec, 0);
    int bad = 0;
    for (int64_t i = 0; i < r->n && !bad; i++) {
        int64_t off = r->offs ? r->offs[i] : (int64_t)dec.len;
        if (!r->offs)
            bad |= mc_tok_stream_feed(tok, &st, r->ids[i], &dec, NULL) != MC_OK;
        bad |= push(c->tokens, piece_item(tok, r->ids[i]));
        bad |= push(c->lps, lp_item(r->lps[i]));
        bad |= push(c->tops, r->n_top > 0 ? top_dict(tok, r, i) : cJSON_CreateNull());
        bad |= push(c->offs, cJSON_CreateNumber((double)(r->off_base + off)));
    }
    mc_buf_deinit(&dec);
    return bad ? -1 : 0;
}

static lp_run gen_run(const mc_srv_req *r, int64_t lo, int64_t hi, int64_t off_base)
{
    int k = r->n_top;
    return (lp_run){r->ids + lo,
                    r->lps + lo,
                    r->top_ids ? r->top_ids + lo * k : NULL,
                    r->top_lps ? r->top_lps + lo * k : NULL,
                    r->offs + lo,
                    hi - lo,
                    off_base,
                    k};
}

static lp_run prompt_run(const mc_srv_req *r)
{
    return (lp_run){r->prompt,   r->p_lps, r->p_top_ids, r->p_top_lps, NULL,
                    r->n_prompt, 0,        r->n_top};
}

/* ---- chat log-probabilities ---- */

static cJSON *chat_entry(const mc_tok *tok, int32_t id, double lp)
{
    const char *p = NULL;
    size_t n = mc_tok_piece(tok, id, MC_TOK_RENDER_SPECIAL, &p);
    cJSON *e = cJSON_CreateObject();
    cJSON *bytes = e ? cJSON_AddArrayToObject(e, "bytes") : NULL;
    int bad = !bytes || add_str(e, "token", p ? p : "", n) ||
              add_item(e, "logprob", lp_item(lp));
    for (size_t i = 0; i < n && !bad; i++)
        bad |= push(bytes, cJSON_CreateNumber((unsigned char)p[i]));
    if (bad) {
        cJSON_Delete(e);
        return NULL;
    }
    return e;
}

static int chat_logprobs(cJSON *choice, const mc_srv_req *r, const mc_tok *tok, int64_t lo,
                         int64_t hi)
{
    if (!r->p.logprobs)
        return cJSON_AddNullToObject(choice, "logprobs") ? 0 : -1;
    cJSON *o = cJSON_AddObjectToObject(choice, "logprobs");
    cJSON *content = o ? cJSON_AddArrayToObject(o, "content") : NULL;
    int bad = !content;
    for (int64_t i = lo; i < hi && !bad; i++) {
        cJSON *e = chat_entry(tok, r->ids[i], r->lps[i]);
        cJSON *tops = e ? cJSON_AddArrayToObject(e, "top_logprobs") : NULL;
        bad |= !tops || push(content, e);
        for (int k = 0; k < r->n_top && !bad; k++)
            bad |= push(
                tops, chat_entry(tok, r->top_ids[i * r->n_top + k], r->top_lps[i * r->n_top + k]));
    }
    return bad ? -1 : 0;
}

/* ---- choices and envelopes ---- */

static cJSON *envelope(const mc_srv_req *r, const char *object)
{
    cJSON *o = cJSON_CreateObject();
    int bad = !o || !cJSON_AddStringToObject(o, "id", r->id) ||
              !cJSON_AddStringToObject(o, "object", object) ||
              !cJSON_AddNumberToObject(o, "created", (double)r->created_s) ||
              !cJSON_AddStringToObject(o, "model", r->model_id ? r->model_id : "");
    if (bad) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

void mc_srv_usage(const mc_srv_req *r, int64_t *prompt, int64_t *completion)
{
    *prompt = r->n_prompt;
    *completion = r->n_out;
}

static int add_usage(cJSON *o, const mc_srv_req *r)
{
    int64_t np, nc;
    mc_srv_usage(r, &np, &nc);
    cJSON *u = cJSON_AddObjectToObject(o, "usage");
    int bad = !u || !cJSON_AddNumberToObject(u, "prompt_tokens", (double)np) ||
              !cJSON_AddNumberToObject(u, "completion_tokens", (double)nc) ||
              !cJSON_AddNumberToObject(u, "total_tokens", (double)(np + nc));
    return bad ? -1 : 0;
}

static cJSON *add_choice(cJSON *o, const char *finish)
{
    cJSON *a = cJSON_AddArrayToObject(o, "choices");
    cJSON *c = a ? cJSON_CreateObject() : NULL;
    if (!c || !cJSON_AddItemToArray(a, c))
        return NULL;
    int bad = !cJSON_AddNumberToObject(c, "index", 0) ||
              !(finish ? cJSON_AddStringToObject(c, "finish_reason", finish)
                       : cJSON_AddNullToObject(c, "finish_reason"));
    return bad ? NULL : c;
}

/* A completions choice with text [text_lo, text_hi) (after prefix) and generated tokens
 * [lo, hi) (after the prompt run when with_prompt). */
typedef struct comp_part {
    const char *prefix;
    size_t prefix_len;
    size_t text_lo, text_hi;
    int64_t lo, hi;
    int with_prompt;
    const char *finish;
} comp_part;

static int completion_choice(cJSON *o, const mc_srv_req *r, const mc_tok *tok, const comp_part *cp)
{
    cJSON *c = add_choice(o, cp->finish);
    mc_buf t;
    mc_buf_init(&t, 0);
    int bad = !c || mc_buf_append(&t, cp->prefix, cp->prefix_len) ||
              mc_buf_append(&t, r->text.data + cp->text_lo, cp->text_hi - cp->text_lo);
    bad = bad || add_str(c, "text", t.data, t.len);
    mc_buf_deinit(&t);
    if (bad)
        return -1;
    if (!r->p.logprobs)
        return cJSON_AddNullToObject(c, "logprobs") ? 0 : -1;
    lp_cols cols;
    if (lp_cols_new(&cols, c))
        return -1;
    lp_run pr = prompt_run(r);
    if (cp->with_prompt && lp_cols_add(&cols, tok, &pr))
        return -1;
    /* text_offset counts from the start of the returned text, the echoed prompt included */
    lp_run g = gen_run(r, cp->lo, cp->hi, (int64_t)(r->p.echo ? r->echo.len : 0));
    return lp_cols_add(&cols, tok, &g);
}

static int chat_choice(cJSON *o, const mc_srv_req *r, const mc_tok *tok, int delta,
                       const comp_part *cp)
{
    cJSON *c = add_choice(o, cp->finish);
    cJSON *m = c ? cJSON_AddObjectToObject(c, delta ? "delta" : "message") : NULL;
    if (!m)
        return -1;
    int bad = 0;
    if (!delta)
        bad |= !cJSON_AddStringToObject(m, "role", "assistant");
    if (!delta || cp->text_hi > cp->text_lo)
        bad |= add_str(m, "content", r->text.data + cp->text_lo, cp->text_hi - cp->text_lo);
    return bad ? -1 : chat_logprobs(c, r, tok, cp->lo, cp->hi);
}

static mc_err emit(cJSON *o, mc_buf *out, int sse)
{
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!s)
        return MC_ERR_NOMEM;
    mc_err e = sse ? mc_buf_append(out, "data: ", 6) : MC_OK;
    if (!e)
        e = mc_buf_append(out, s, strlen(s));
    if (!e && sse)
        e = mc_buf_append(out, "\n\n", 2);
    cJSON_free(s);
    return e;
}

mc_err mc_srv_fmt_response(const mc_srv_req *r, const mc_tok *tok, mc_buf *out)
{
    if (r->err.status)
        return mc_srv_format_error(&r->err, out);
    int chat = r->p.kind == MC_SRV_CHAT;
    cJSON *o = envelope(r, chat ? "chat.completion" : "text_completion");
    comp_part cp = {"", 0, 0, r->text.len, 0, r->n_out, 0, r->finish_reason};
    if (!chat && r->p.echo) {
        cp.prefix = r->echo.data;
        cp.prefix_len = r->echo.len;
        cp.with_prompt = r->echo_logprobs;
    }
    int bad = !o || (chat ? chat_choice(o, r, tok, 0, &cp) : completion_choice(o, r, tok, &cp));
    if (bad || add_usage(o, r)) {
        cJSON_Delete(o);
        return MC_ERR_NOMEM;
    }
    return emit(o, out, 0);
}

/* ---- streaming ---- */

static const char *chunk_object(const mc_srv_req *r)
{
    return r->p.kind == MC_SRV_CHAT ? "chat.completion.chunk" : "text_completion";
}

/* One chunk: text [text_lo, text_hi), tokens [lo, hi), finish reason or NULL. */
static mc_err stream_chunk(const mc_srv_req *r, const mc_tok *tok, const comp_part *cp, int usage,
                           mc_buf *out)
{
    cJSON *o = envelope(r, chunk_object(r));
    int bad = !o;
    if (!bad && r->p.kind == MC_SRV_CHAT)
        bad = chat_choice(o, r, tok, 1, cp);
    else if (!bad)
        bad = completion_choice(o, r, tok, cp);
    if (!bad && usage)
        bad = add_usage(o, r);
    else if (!bad && r->p.include_usage)
        bad = !cJSON_AddNullToObject(o, "usage");
    if (bad) {
        cJSON_Delete(o);
        return MC_ERR_NOMEM;
    }
    return emit(o, out, 1);
}

/* chat: {"delta":{"role":"assistant","content":""}}; completions with echo: the prompt. */
static mc_err stream_head(mc_srv_req *r, const mc_tok *tok, mc_buf *out)
{
    comp_part cp = {"", 0, 0, 0, 0, 0, 0, NULL};
    if (r->p.kind == MC_SRV_CHAT) {
        cJSON *o = envelope(r, chunk_object(r));
        cJSON *c = o ? add_choice(o, NULL) : NULL;
        cJSON *d = c ? cJSON_AddObjectToObject(c, "delta") : NULL;
        int bad = !d || !cJSON_AddStringToObject(d, "role", "assistant") ||
                  !cJSON_AddStringToObject(d, "content", "") ||
                  !cJSON_AddNullToObject(c, "logprobs") ||
                  (r->p.include_usage && !cJSON_AddNullToObject(o, "usage"));
        if (bad) {
            cJSON_Delete(o);
            return MC_ERR_NOMEM;
        }
        return emit(o, out, 1);
    }
    if (!r->p.echo)
        return MC_OK;
    cp.prefix = r->echo.data;
    cp.prefix_len = r->echo.len;
    cp.with_prompt = r->echo_logprobs;
    return stream_chunk(r, tok, &cp, 0, out);
}

static mc_err stream_tail(mc_srv_req *r, const mc_tok *tok, size_t text_lo, int64_t lo, mc_buf *out)
{
    comp_part cp = {"", 0, text_lo, r->text.len, lo, r->n_out, 0, r->finish_reason};
    mc_err e = stream_chunk(r, tok, &cp, !r->p.include_usage, out);
    if (!e && r->p.include_usage) {
        cJSON *o = envelope(r, chunk_object(r));
        int bad = !o || !cJSON_AddArrayToObject(o, "choices") || add_usage(o, r);
        if (bad) {
            cJSON_Delete(o);
            return MC_ERR_NOMEM;
        }
        e = emit(o, out, 1);
    }
    return e ? e : mc_buf_append(out, "data: [DONE]\n\n", 14);
}

mc_err mc_srv_fmt_stream(mc_srv_req *r, const mc_tok *tok, mc_buf *out, int *done)
{
    mc_err e = MC_OK;
    *done = r->tail_sent;
    if (r->tail_sent)
        return MC_OK;
    if (!r->head_sent && !r->err.status) {
        int wait = r->p.kind == MC_SRV_COMPLETION && r->p.echo && !r->prompt_done && !r->finished;
        if (wait)
            return MC_OK;
        if ((e = stream_head(r, tok, out)) != MC_OK)
            return e;
        r->head_sent = 1;
    }
    for (; r->ev_sent < r->n_ev; r->ev_sent++) {
        size_t i = r->ev_sent;
        comp_part cp = {"",
                        0,
                        i ? r->ev[i - 1].text_hi : 0,
                        r->ev[i].text_hi,
                        i ? r->ev[i - 1].tok_hi : 0,
                        r->ev[i].tok_hi,
                        0,
                        NULL};
        if ((e = stream_chunk(r, tok, &cp, 0, out)) != MC_OK)
            return e;
    }
    if (!r->finished)
        return MC_OK;
    if (r->err.status) {
        if ((e = mc_buf_append(out, "data: ", 6)) || (e = mc_srv_format_error(&r->err, out)) ||
            (e = mc_buf_append(out, "\n\ndata: [DONE]\n\n", 16)))
            return e;
    } else {
        size_t n = r->ev_sent;
        e = stream_tail(r, tok, n ? r->ev[n - 1].text_hi : 0, n ? r->ev[n - 1].tok_hi : 0, out);
        if (e)
            return e;
    }
    r->tail_sent = 1;
    *done = 1;
    return MC_OK;
}
