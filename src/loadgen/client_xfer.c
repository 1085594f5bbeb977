/* client_xfer.c: one transfer of the client: easy-handle options, the header and body callbacks
 * (timestamps taken when bytes arrive, before any parsing), SSE and JSON interpretation, bounded
 * buffers, and the classification of how a request ended. The loop lives in client.c.
 * Depends on base, libcurl and the parsers of this module; never on src/cap. */
#include "client_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

void lg_slot_set_fail(lg_slot *s, mc_lg_fail f, const char *fmt, ...)
{
    if (s->own_fail != MC_LG_OK)
        return; /* the first reason wins */
    s->own_fail = f;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(s->msg, sizeof s->msg, fmt, ap);
    va_end(ap);
    s->msg_len = n < 0 ? 0 : ((size_t)n < sizeof s->msg ? (size_t)n : sizeof s->msg - 1);
}

/* Length of the longest prefix of p[0..n) that does not end inside a UTF-8 sequence. */
static size_t utf8_cut(const char *p, size_t n)
{
    size_t i = n, k = 0;
    while (i > 0 && k < 4 && ((unsigned char)p[i - 1] & 0xC0) == 0x80) {
        i--;
        k++;
    }
    if (i == 0)
        return n;
    unsigned char lead = (unsigned char)p[i - 1];
    size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    return (k + 1 >= want || lead < 0x80) ? n : i - 1;
}

/* Keeps text up to the cap, cutting at a character boundary; counts everything. */
static void keep_text(lg_slot *s, const char *p, size_t n)
{
    s->r.text_bytes += n;
    size_t room = s->text.max - s->text.len;
    if (n > room) {
        n = utf8_cut(p, room);
        s->r.text_truncated = 1;
    }
    if (n && mc_buf_append(&s->text, p, n) != MC_OK)
        s->r.text_truncated = 1; /* out of memory: keep counting, stop keeping */
}

static void keep_stamp(lg_slot *s, mc_ns t)
{
    size_t max = s->c->o.max_chunk_stamps;
    if (s->n_stamps == s->cap_stamps && s->cap_stamps < max) {
        size_t ncap = s->cap_stamps * 2 < max ? s->cap_stamps * 2 : max;
        mc_ns *p = mc_reallocarray(s->stamps, ncap, sizeof *p);
        if (p) {
            s->stamps = p;
            s->cap_stamps = ncap;
        }
    }
    if (s->n_stamps < s->cap_stamps)
        s->stamps[s->n_stamps++] = t;
}

/* Records what a chunk (or a whole response) carried; t is when its bytes arrived.
 * Returns 0, or -1 when the chunk ends the request as failed. */
static int take_chunk(lg_slot *s, const mc_chunk *ch, mc_ns t)
{
    if (ch->error) {
        lg_slot_set_fail(s, MC_LG_FAIL_STREAM_ERROR, "server error: %s", ch->error);
        return -1;
    }
    if (ch->text_len || ch->reasoning_len) {
        if (!s->r.first_token_ns)
            s->r.first_token_ns = t;
        s->r.last_token_ns = t;
        s->r.n_chunks++;
        s->r.n_reasoning_chunks += ch->reasoning_len > 0;
        s->r.reasoning_bytes += ch->reasoning_len;
        keep_stamp(s, t);
        keep_text(s, ch->text, ch->text_len);
    }
    if (ch->finish_reason && ch->finish_reason[0])
        snprintf(s->finish, sizeof s->finish, "%s", ch->finish_reason);
    if (ch->prompt_tokens >= 0)
        s->r.usage_prompt_tokens = ch->prompt_tokens;
    if (ch->completion_tokens >= 0)
        s->r.usage_completion_tokens = ch->completion_tokens;
    return 0;
}

static int take_event(lg_slot *s, const mc_sse_event *ev, mc_ns t)
{
    if (s->r.saw_done)
        return 0; /* anything after [DONE] is ignored */
    if (ev->kind == MC_SSE_DONE) {
        s->r.saw_done = 1;
        return 0;
    }
    if (ev->kind == MC_SSE_ERROR_EVENT) {
        lg_slot_set_fail(s, MC_LG_FAIL_STREAM_ERROR, "event: error: %.*s",
                         (int)(ev->data_len < 160 ? ev->data_len : 160), ev->data);
        return -1;
    }
    mc_chunk ch;
    mc_diag d = {{0}};
    if (mc_chunk_parse(ev->data, ev->data_len, &ch, &d) != MC_OK) {
        lg_slot_set_fail(s, MC_LG_FAIL_MALFORMED, "%s", d.msg);
        return -1;
    }
    int rc = take_chunk(s, &ch, t);
    mc_chunk_deinit(&ch);
    return rc;
}

static int feed_stream(lg_slot *s, const char *p, size_t n, mc_ns t)
{
    while (n > 0) {
        size_t used = 0;
        mc_sse_event ev;
        mc_diag d = {{0}};
        mc_sse_status st = mc_sse_feed(s->sse, p, n, &used, &ev, &d);
        p += used;
        n -= used;
        if (st == MC_SSE_FAIL) {
            lg_slot_set_fail(s, MC_LG_FAIL_MALFORMED, "%s", d.msg);
            return -1;
        }
        if (st == MC_SSE_NEED_MORE)
            break;
        if (take_event(s, &ev, t) != 0)
            return -1;
    }
    return 0;
}

/* First body bytes: is this a response we interpret or an error body we only quote? */
static int check_response(lg_slot *s)
{
    long code = 0;
    char *ctype = NULL;
    s->checked = 1;
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(s->easy, CURLINFO_CONTENT_TYPE, &ctype);
    s->r.http_status = (int)code;
    if (code != 200)
        return 0; /* quote the body in the message */
    if (s->c->o.stream && (!ctype || strncasecmp(ctype, "text/event-stream", 17) != 0)) {
        lg_slot_set_fail(s, MC_LG_FAIL_MALFORMED, "content type '%s', expected text/event-stream",
                         ctype ? ctype : "(none)");
        return -1;
    }
    s->status_ok = 1;
    return 0;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    lg_slot *s = ud;
    size_t n = size * nmemb;
    mc_ns t = mc_now_ns(); /* before any parsing */
    s->last_data_ns = t;
    if (!s->checked && check_response(s) != 0)
        return 0;
    if (!s->status_ok) {
        size_t room = MC_LG_MSG_MAX - s->msg_len;
        size_t k = n < room ? n : room;
        memcpy(s->msg + s->msg_len, p, k);
        s->msg_len += k;
        s->msg[s->msg_len] = 0;
        return n;
    }
    if (s->c->o.stream)
        return feed_stream(s, p, n, t) == 0 ? n : 0;
    if (mc_buf_append(&s->body, p, n) != MC_OK) {
        lg_slot_set_fail(s, MC_LG_FAIL_MALFORMED, "response body larger than %zu bytes",
                         s->body.max);
        return 0;
    }
    return n;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    lg_slot *s = ud;
    if (!s->r.first_byte_ns)
        s->r.first_byte_ns = mc_now_ns();
    (void)p;
    return size * nmemb;
}

/* Allocates n bytes (+ NUL) for b now, so the common response never allocates. */
static mc_err buf_prealloc(mc_buf *b, size_t n)
{
    b->data = mc_malloc(n + 1);
    if (!b->data)
        return MC_ERR_NOMEM;
    b->cap = n + 1;
    b->data[0] = 0;
    return MC_OK;
}

static mc_err reserve_buffers(lg_slot *s, mc_diag *d)
{
    const mc_lg_client_opts *o = &s->c->o;
    mc_buf_init(&s->text, o->max_text_bytes);
    mc_buf_init(&s->body, o->max_body_bytes);
    s->cap_stamps = o->max_chunk_stamps < 256 ? o->max_chunk_stamps : 256;
    s->stamps = mc_mallocarray(s->cap_stamps, sizeof *s->stamps);
    s->sse = mc_sse_new(o->max_event_bytes);
    size_t pre = o->max_text_bytes < 4096 ? o->max_text_bytes : 4096;
    if (!s->stamps || !s->sse || buf_prealloc(&s->text, pre))
        return mc_fail(d, MC_ERR_NOMEM, "loadgen: out of memory for request slots");
    return MC_OK;
}

mc_err lg_slot_setup(lg_slot *s, mc_diag *d)
{
    const mc_lg_client_opts *o = &s->c->o;
    mc_err e = reserve_buffers(s, d);
    if (e)
        return e;
    CURL *h = s->easy = curl_easy_init();
    if (!h)
        return mc_fail(d, MC_ERR_NOMEM, "loadgen: curl_easy_init failed");
    CURLcode rc = CURLE_OK;
    rc |= curl_easy_setopt(h, CURLOPT_URL, s->c->url);
    rc |= curl_easy_setopt(h, CURLOPT_HTTPHEADER, s->c->headers);
    rc |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    rc |= curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
    rc |= curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    rc |= curl_easy_setopt(h, CURLOPT_HEADERDATA, s);
    rc |= curl_easy_setopt(h, CURLOPT_PRIVATE, s);
    rc |= curl_easy_setopt(h, CURLOPT_ERRORBUFFER, s->errbuf);
    rc |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    rc |= curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    rc |= curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 64L * 1024);
    rc |= curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    rc |= curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(o->timeout_s * 1000.0));
    rc |= curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(o->connect_timeout_s * 1000.0));
    rc |= curl_easy_setopt(h, CURLOPT_POST, 1L);
    if (rc != CURLE_OK)
        return mc_fail(d, MC_ERR_INTERNAL, "loadgen: curl option rejected");
    return MC_OK;
}

void lg_slot_begin(lg_slot *s, const mc_lg_request *r, mc_ns now)
{
    memset(&s->r, 0, sizeof s->r);
    s->r.id = r->id;
    s->r.tag = r->tag;
    s->r.sched_ns = r->sched_ns ? r->sched_ns : now;
    s->r.usage_prompt_tokens = s->r.usage_completion_tokens = -1;
    s->r.fail = MC_LG_OK;
    mc_sse_reset(s->sse);
    mc_buf_reset(&s->text);
    mc_buf_reset(&s->body);
    s->n_stamps = 0;
    s->msg[0] = s->finish[0] = s->errbuf[0] = 0;
    s->msg_len = 0;
    s->last_data_ns = 0;
    s->checked = s->status_ok = 0;
    s->own_fail = MC_LG_OK;
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
}

/* ---- end of a transfer ---------------------------------------------------------------------- */

static void parse_whole_body(lg_slot *s)
{
    mc_chunk ch;
    mc_diag d = {{0}};
    if (mc_chunk_parse(s->body.data ? s->body.data : "", s->body.len, &ch, &d) != MC_OK) {
        char *ctype = NULL; /* a web page or proxy error instead of the API: say so first */
        curl_easy_getinfo(s->easy, CURLINFO_CONTENT_TYPE, &ctype);
        if (ctype && !strstr(ctype, "json"))
            lg_slot_set_fail(s, MC_LG_FAIL_MALFORMED,
                             "content type '%s', expected application/json: %s", ctype, d.msg);
        else
            lg_slot_set_fail(s, MC_LG_FAIL_MALFORMED, "%s", d.msg);
        return;
    }
    if (!ch.has_choices && !ch.error)
        lg_slot_set_fail(s, MC_LG_FAIL_MALFORMED, "response has no choices");
    else
        take_chunk(s, &ch, s->last_data_ns);
    mc_chunk_deinit(&ch);
}

static mc_lg_fail curl_fail_kind(lg_slot *s, CURLcode rc)
{
    curl_off_t connect_us = 0;
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT: return MC_LG_FAIL_CONNECT;
    case CURLE_OPERATION_TIMEDOUT:
        curl_easy_getinfo(s->easy, CURLINFO_CONNECT_TIME_T, &connect_us);
        return connect_us == 0 && !s->r.conn_reused ? MC_LG_FAIL_CONNECT : MC_LG_FAIL_TIMEOUT;
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE: return MC_LG_FAIL_TRUNCATED;
    case CURLE_ABORTED_BY_CALLBACK: return MC_LG_FAIL_CANCELLED;
    default: return MC_LG_FAIL_OTHER;
    }
}

static void classify(lg_slot *s, CURLcode rc)
{
    if (s->own_fail != MC_LG_OK) {
        s->r.fail = s->own_fail;
        return;
    }
    int st = s->r.http_status;
    if (st != 0 && st != 200) {
        s->r.fail = MC_LG_FAIL_HTTP_STATUS;
        if (s->msg_len == 0)
            snprintf(s->msg, sizeof s->msg, "HTTP %d with an empty body", st);
        return;
    }
    if (rc != CURLE_OK) {
        lg_slot_set_fail(s, curl_fail_kind(s, rc), "curl: %s%s",
                         s->errbuf[0] ? s->errbuf : curl_easy_strerror(rc),
                         s->r.first_byte_ns ? "" : " (no response)");
        s->r.fail = s->own_fail;
        return;
    }
    if (!s->c->o.stream || s->r.saw_done)
        return;
    if (mc_sse_pending(s->sse) > 0)
        lg_slot_set_fail(s, MC_LG_FAIL_TRUNCATED, "stream ended inside an event");
    else if (!s->finish[0])
        lg_slot_set_fail(s, MC_LG_FAIL_TRUNCATED, "stream ended without [DONE] or finish_reason");
    s->r.fail = s->own_fail;
}

/* The message quotes server bytes: no control characters, no cut UTF-8 sequence at the end. */
static void clean_message(lg_slot *s)
{
    size_t n = strlen(s->msg);
    n = utf8_cut(s->msg, n);
    s->msg[n] = 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s->msg[i] < 0x20 || s->msg[i] == 0x7f)
            s->msg[i] = ' ';
}

void lg_slot_finish(lg_slot *s, CURLcode rc, mc_ns now)
{
    long code = 0, nconn = 0;
    s->r.end_ns = now;
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
    if (!s->r.http_status)
        s->r.http_status = (int)code;
    curl_easy_getinfo(s->easy, CURLINFO_NUM_CONNECTS, &nconn);
    s->r.conn_reused = nconn == 0 && rc != CURLE_COULDNT_CONNECT;
    if (s->own_fail == MC_LG_OK && rc == CURLE_OK && s->r.http_status == 200 && !s->c->o.stream)
        parse_whole_body(s);
    classify(s, rc);
    clean_message(s);
    s->r.text = s->text.data ? s->text.data : "";
    s->r.text_len = s->text.len;
    s->r.chunk_ns = s->stamps;
    s->r.n_chunk_ns = s->n_stamps;
    s->r.finish_reason = s->finish;
    s->r.message = s->r.fail == MC_LG_OK ? "" : s->msg;
}
