/* http.c: the libmicrohttpd side of the server: the listening socket, routing, request bodies
 * (capped), and responses: whole JSON bodies, and Server-Sent Events streamed from a content
 * reader that suspends its connection while the request has no news and is resumed by the
 * scheduler's wake callback. A connection that ends before its request finished cancels the
 * request. docs/SERVER.md describes every endpoint. The scheduler and the formatting are reached
 * through server_impl.h only; nothing here touches the engine. */
#include "server_impl.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define STREAM_BLOCK_BYTES (16 * 1024)
/* libmicrohttpd keeps a connection's request line, headers, read buffer and write buffer in one
 * pool: twice --max-header plus this. Headers over --max-header get our 431 (begin()); only a
 * header block that does not fit the pool gets libmicrohttpd's own 431 (an HTML body). */
#define CONN_MEMORY_EXTRA_BYTES ((size_t)48 * 1024)
/* Connections libmicrohttpd accepts beyond --max-connections only to answer them 503; more wait
 * in the listen backlog until one closes. */
#define CONN_RESERVE 16

typedef enum route_id {
    R_NONE = 0,
    R_HEALTH,
    R_MODELS,
    R_METRICS,
    R_COMPLETIONS,
    R_CHAT,
    R_TOKENIZE,
    R_DETOKENIZE,
    R_REC_START,
    R_REC_STOP,
    R_RECORDS,
    R_B_START,
    R_B_STOP,
    R_B_DUMP,
    R_B_STATUS,
    R_B_CLEAR
} route_id;

static const struct route {
    const char *path;
    const char *method;
    route_id id;
} routes[] = {
    {"/health", "GET", R_HEALTH},
    {"/v1/models", "GET", R_MODELS},
    {"/metrics", "GET", R_METRICS},
    {"/v1/completions", "POST", R_COMPLETIONS},
    {"/v1/chat/completions", "POST", R_CHAT},
    {"/tokenize", "POST", R_TOKENIZE},
    {"/detokenize", "POST", R_DETOKENIZE},
    {"/moecap/record/start", "POST", R_REC_START},
    {"/moecap/record/stop", "POST", R_REC_STOP},
    {"/moecap/records", "GET", R_RECORDS},
    /* the MoE-CAP reference's vLLM-side names, so its client can drive us */
    {"/start_batch_recording", "POST", R_B_START},
    {"/stop_batch_recording", "POST", R_B_STOP},
    {"/dump_batch_recording", "POST", R_B_DUMP},
    {"/batch_recording_status", "GET", R_B_STATUS},
    {"/clear_batch_recording", "POST", R_B_CLEAR},
};

typedef struct conn_ctx {
    mc_server *s;
    route_id route;
    int early;         /* status to answer without reading the body (404, 405, 413, 431, 503) */
    const char *allow; /* 405: the method the path takes */
    mc_buf body;
    int too_large;
    mc_ns t_start;   /* request arrival */
    mc_srv_req *req; /* generation request (non-streaming: waiting for the end) */
    int streaming;
} conn_ctx;

typedef struct stream_ctx {
    mc_server *s;
    mc_srv_req *req;
    mc_buf out;
    size_t off;
} stream_ctx;

/* ---- responses ---- */

static void free_buffer(void *p)
{
    mc_free(p);
}

/* Sends b's bytes (taken: b is left empty). */
static enum MHD_Result send_buf(struct MHD_Connection *c, unsigned status, const char *ctype,
                                mc_buf *b)
{
    if (!b->data && mc_buf_append(b, "", 0) != MC_OK)
        return MHD_NO;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer_with_free_callback(b->len, b->data, free_buffer);
    if (!resp)
        return MHD_NO;
    b->data = NULL;
    b->len = b->cap = 0;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, mc_buf *b)
{
    return send_buf(c, status, "application/json", b);
}

static enum MHD_Result send_error(struct MHD_Connection *c, const mc_srv_error *e,
                                  const char *allow)
{
    mc_buf b;
    mc_buf_init(&b, 0);
    if (mc_srv_format_error(e, &b) != MC_OK) {
        mc_buf_deinit(&b);
        return MHD_NO;
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer_with_free_callback(b.len, b.data, free_buffer);
    if (!resp) {
        mc_buf_deinit(&b);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (e->status == 503)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    /* refused before its body was read, or to free the connection: do not keep it alive */
    if (e->status == 413 || e->status == 431 ||
        (e->code && strcmp(e->code, "too_many_connections") == 0))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    if (allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)e->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_oom(struct MHD_Connection *c)
{
    mc_srv_error e;
    mc_srv_fail(&e, 500, NULL, NULL, "out of memory");
    return send_error(c, &e, NULL);
}

/* A small JSON object built by the caller. */
static enum MHD_Result send_object(struct MHD_Connection *c, unsigned status, cJSON *o)
{
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    mc_buf b;
    mc_buf_init(&b, 0);
    mc_err e = s ? mc_buf_append(&b, s, strlen(s)) : MC_ERR_NOMEM;
    cJSON_free(s);
    if (e) {
        mc_buf_deinit(&b);
        return send_oom(c);
    }
    return send_json(c, status, &b);
}

/* ---- wake callbacks (scheduler thread, r->mu held) ---- */

static void wake_stream(mc_srv_req *r)
{
    if (r->suspended && r->conn) {
        r->suspended = 0;
        MHD_resume_connection(r->conn);
    }
}

static void wake_final(mc_srv_req *r)
{
    if (r->finished)
        wake_stream(r);
}

/* ---- streaming ---- */

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    stream_ctx *sx = cls;
    mc_srv_req *r = sx->req;
    (void)pos;
    pthread_mutex_lock(&r->mu);
    int done = 0;
    if (sx->off == sx->out.len) {
        mc_buf_reset(&sx->out);
        sx->off = 0;
        if (mc_srv_fmt_stream(r, sx->s->be.tok, &sx->out, &done) != MC_OK) {
            pthread_mutex_unlock(&r->mu);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
    size_t n = sx->out.len - sx->off;
    if (n > 0) {
        n = n < max ? n : max;
        memcpy(buf, sx->out.data + sx->off, n);
        sx->off += n;
    } else if (!done && r->conn) {
        r->suspended = 1; /* resumed by wake_stream when the scheduler has news */
        MHD_suspend_connection(r->conn);
    }
    pthread_mutex_unlock(&r->mu);
    if (n == 0 && done)
        return MHD_CONTENT_READER_END_OF_STREAM;
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    stream_ctx *sx = cls;
    mc_buf_deinit(&sx->out);
    mc_srv_req_unref(sx->req);
    mc_free(sx);
}

static enum MHD_Result start_stream(conn_ctx *cx, struct MHD_Connection *c)
{
    stream_ctx *sx = mc_calloc(1, sizeof *sx);
    if (!sx)
        return MHD_NO;
    sx->s = cx->s;
    sx->req = cx->req;
    mc_srv_req_ref(sx->req);
    mc_buf_init(&sx->out, 0);
    struct MHD_Response *resp = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, STREAM_BLOCK_BYTES, stream_read, sx, stream_free);
    if (!resp) {
        stream_free(sx);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Non-streaming: answer when the request has finished, else suspend until wake_final. */
static enum MHD_Result respond_when_done(conn_ctx *cx, struct MHD_Connection *c)
{
    mc_srv_req *r = cx->req;
    mc_buf b;
    mc_buf_init(&b, 0);
    pthread_mutex_lock(&r->mu);
    if (!r->finished) {
        r->suspended = 1;
        MHD_suspend_connection(c);
        pthread_mutex_unlock(&r->mu);
        return MHD_YES;
    }
    mc_err e = mc_srv_fmt_response(r, cx->s->be.tok, &b);
    unsigned status = r->err.status ? (unsigned)r->err.status : MHD_HTTP_OK;
    pthread_mutex_unlock(&r->mu);
    if (e) {
        mc_buf_deinit(&b);
        return send_oom(c);
    }
    return send_json(c, status, &b);
}

/* ---- generation ---- */

static void count_invalid(mc_server *s)
{
    pthread_mutex_lock(&s->metrics.mu);
    s->metrics.requests[MC_OUT_INVALID]++;
    pthread_mutex_unlock(&s->metrics.mu);
}

/* A generation request refused by a limit counts in moecap_requests_total, so that the outcomes
 * add up to the requests sent: 503 as rejected, 413 and 431 as invalid. */
static void count_refused(conn_ctx *cx, int status)
{
    if (cx->route != R_COMPLETIONS && cx->route != R_CHAT)
        return;
    pthread_mutex_lock(&cx->s->metrics.mu);
    cx->s->metrics.requests[status == 503 ? MC_OUT_REJECTED : MC_OUT_INVALID]++;
    pthread_mutex_unlock(&cx->s->metrics.mu);
}

/* Parses, validates and tokenizes the body into a request (NULL and err on failure). */
static mc_srv_req *make_request(conn_ctx *cx, mc_srv_kind kind, mc_srv_error *err)
{
    mc_server *s = cx->s;
    mc_srv_params p;
    mc_tok_ids ids;
    int64_t max_tokens = 0;
    mc_tok_ids_init(&ids);
    const char *body = cx->body.data ? cx->body.data : "";
    if (mc_srv_parse_request(kind, body, cx->body.len, &p, err) != MC_OK)
        return NULL;
    if (mc_srv_prepare(&p, &s->mi, &ids, &max_tokens, err) != MC_OK) {
        mc_srv_params_deinit(&p);
        mc_tok_ids_deinit(&ids);
        return NULL;
    }
    mc_srv_req *r = mc_srv_req_new(&p, ids.v, (int64_t)ids.n, max_tokens);
    if (!r || (r->p.echo && mc_srv_req_set_echo(r, s->be.tok) != MC_OK)) {
        mc_srv_req_unref(r);
        mc_srv_fail(err, 500, NULL, NULL, "out of memory for the request");
        return NULL;
    }
    long long n = atomic_fetch_add(&s->next_id, 1);
    snprintf(r->id, sizeof r->id, "%s-%lld", kind == MC_SRV_CHAT ? "chatcmpl" : "cmpl", n);
    r->created_s = (int64_t)time(NULL);
    r->model_id = s->be.model_id;
    r->t_arrival = cx->t_start;
    return r;
}

static enum MHD_Result generate(conn_ctx *cx, struct MHD_Connection *c, mc_srv_kind kind)
{
    mc_server *s = cx->s;
    mc_srv_error err = {0};
    if (atomic_load(&s->stopping)) {
        mc_srv_fail(&err, 503, "shutting_down", NULL, "the server is shutting down");
        return send_error(c, &err, NULL);
    }
    mc_srv_req *r = make_request(cx, kind, &err);
    if (!r) {
        if (err.status < 500)
            count_invalid(s);
        return send_error(c, &err, NULL);
    }
    r->conn = c;
    r->wake = r->p.stream ? wake_stream : wake_final;
    cx->req = r;
    cx->streaming = r->p.stream;
    if (mc_srv_sched_submit(s->sched, r, &err) != MC_OK) {
        cx->req = NULL;
        r->conn = NULL;
        mc_srv_req_unref(r);
        return send_error(c, &err, NULL);
    }
    return cx->streaming ? start_stream(cx, c) : respond_when_done(cx, c);
}

/* ---- the other endpoints ---- */

static enum MHD_Result health(mc_server *s, struct MHD_Connection *c)
{
    int64_t queued = 0, running = 0;
    mc_srv_sched_load(s->sched, &queued, &running);
    int stopping = atomic_load(&s->stopping);
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "status", stopping ? "shutting_down" : "ok");
        cJSON_AddStringToObject(o, "model", s->be.model_id);
        cJSON_AddNumberToObject(o, "slots", s->be.max_seqs);
        cJSON_AddNumberToObject(o, "running", (double)running);
        cJSON_AddNumberToObject(o, "queued", (double)queued);
        cJSON_AddNumberToObject(o, "n_ctx", (double)s->be.n_ctx);
        cJSON_AddStringToObject(o, "chat_template", mc_chat_kind_name(s->mi.chat));
        cJSON_AddStringToObject(o, "kernels", s->be.isa ? s->be.isa : "");
        cJSON_AddBoolToObject(o, "recording", atomic_load(&s->rec.on));
    }
    return send_object(c, stopping ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK, o);
}

static enum MHD_Result plain(struct MHD_Connection *c, mc_err e, mc_buf *b, const char *ctype)
{
    if (e) {
        mc_buf_deinit(b);
        return send_oom(c);
    }
    return send_buf(c, MHD_HTTP_OK, ctype, b);
}

static enum MHD_Result small_endpoint(conn_ctx *cx, struct MHD_Connection *c)
{
    mc_server *s = cx->s;
    mc_buf b;
    mc_srv_error err = {0};
    mc_err e = MC_OK;
    mc_buf_init(&b, 0);
    const char *body = cx->body.data ? cx->body.data : "";
    switch (cx->route) {
    case R_MODELS:
        e = mc_srv_models_json(s->be.model_id, s->be.n_ctx, s->created_s, &b);
        return plain(c, e, &b, "application/json");
    case R_METRICS:
        e = mc_srv_metrics_format(&s->metrics, &b);
        return plain(c, e, &b, "text/plain; version=0.0.4; charset=utf-8");
    case R_TOKENIZE: e = mc_srv_tokenize(s->be.tok, body, cx->body.len, &b, &err); break;
    default: e = mc_srv_detokenize(s->be.tok, s->be.vocab, body, cx->body.len, &b, &err); break;
    }
    if (e) {
        mc_buf_deinit(&b);
        return send_error(c, &err, NULL);
    }
    return send_json(c, MHD_HTTP_OK, &b);
}

/* GET /moecap/records: JSON Lines, counts in headers. */
static enum MHD_Result records_jsonl(mc_server *s, struct MHD_Connection *c)
{
    mc_buf b;
    int64_t n = 0;
    uint64_t dropped = 0;
    char hn[32], hd[32];
    mc_buf_init(&b, 0);
    if (mc_srv_records_dump(&s->rec, 0, &b, &n, &dropped) != MC_OK) {
        mc_buf_deinit(&b);
        return send_oom(c);
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer_with_free_callback(b.len, b.data, free_buffer);
    if (!resp) {
        mc_buf_deinit(&b);
        return MHD_NO;
    }
    snprintf(hn, sizeof hn, "%lld", (long long)n);
    snprintf(hd, sizeof hd, "%llu", (unsigned long long)dropped);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-ndjson");
    MHD_add_response_header(resp, "X-Moecap-Records", hn);
    MHD_add_response_header(resp, "X-Moecap-Dropped", hd);
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* POST /dump_batch_recording: {"status", "records": [...], "total_records", "dropped"} */
static enum MHD_Result records_dump(mc_server *s, struct MHD_Connection *c)
{
    mc_buf b;
    int64_t n = 0;
    uint64_t dropped = 0;
    mc_buf_init(&b, 0);
    mc_err e = mc_buf_append(&b, "{\"status\":\"success\",\"records\":", 30);
    if (!e)
        e = mc_srv_records_dump(&s->rec, 1, &b, &n, &dropped);
    if (!e)
        e = mc_buf_printf(&b, ",\"total_records\":%lld,\"dropped\":%llu}", (long long)n,
                          (unsigned long long)dropped);
    return plain(c, e, &b, "application/json");
}

static enum MHD_Result recording(mc_server *s, route_id id, struct MHD_Connection *c)
{
    if (id == R_RECORDS)
        return records_jsonl(s, c);
    if (id == R_B_DUMP)
        return records_dump(s, c);
    if (id == R_REC_START || id == R_B_START)
        mc_srv_records_start(&s->rec);
    else if (id == R_REC_STOP || id == R_B_STOP)
        mc_srv_records_stop(&s->rec);
    else if (id == R_B_CLEAR)
        mc_srv_records_clear(&s->rec);
    int64_t n = mc_srv_records_count(&s->rec);
    int on = atomic_load(&s->rec.on);
    cJSON *o = cJSON_CreateObject();
    if (o && id == R_B_STATUS) {
        cJSON_AddBoolToObject(o, "is_recording", on);
    } else if (o) {
        cJSON_AddStringToObject(o, "status", id >= R_B_START ? "success" : "ok");
        cJSON_AddBoolToObject(o, "recording", on);
    }
    if (o)
        cJSON_AddNumberToObject(o, "total_records", (double)n);
    return send_object(c, MHD_HTTP_OK, o);
}

/* ---- routing and the request life cycle ---- */

static enum MHD_Result dispatch(conn_ctx *cx, struct MHD_Connection *c)
{
    mc_srv_error err = {0};
    if (cx->too_large) {
        count_refused(cx, 413);
        mc_srv_fail(&err, 413, "body_too_large", NULL, "request body exceeds %zu bytes",
                    cx->s->o.max_body_bytes);
        return send_error(c, &err, NULL);
    }
    switch (cx->route) {
    case R_HEALTH: return health(cx->s, c);
    case R_COMPLETIONS: return generate(cx, c, MC_SRV_COMPLETION);
    case R_CHAT: return generate(cx, c, MC_SRV_CHAT);
    case R_MODELS:
    case R_METRICS:
    case R_TOKENIZE:
    case R_DETOKENIZE: return small_endpoint(cx, c);
    default: return recording(cx->s, cx->route, c);
    }
}

static void route(conn_ctx *cx, const char *url, const char *method)
{
    const char *m = strcmp(method, "HEAD") == 0 ? "GET" : method;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (strcmp(url, routes[i].path) != 0)
            continue;
        if (strcmp(m, routes[i].method) == 0) {
            cx->route = routes[i].id;
            return;
        }
        cx->early = 405;
        cx->allow = routes[i].method;
    }
    if (!cx->early)
        cx->early = 404;
}

static enum MHD_Result early_error(conn_ctx *cx, struct MHD_Connection *c, const char *url,
                                   const char *method)
{
    mc_srv_error err;
    if (cx->early == 404)
        mc_srv_fail(&err, 404, "unknown_url", NULL, "unknown endpoint: %s %.200s", method, url);
    else if (cx->early == 405)
        mc_srv_fail(&err, 405, "method_not_allowed", NULL, "%s %.200s: method not allowed (use %s)",
                    method, url, cx->allow);
    else if (cx->early == 431)
        mc_srv_fail(&err, 431, "header_too_large", NULL,
                    "request line and headers exceed %zu bytes", cx->s->o.max_header_bytes);
    else if (cx->early == 503)
        mc_srv_fail(&err, 503, "too_many_connections", NULL,
                    "more than %lld connections are open", (long long)cx->s->o.max_connections);
    else
        mc_srv_fail(&err, 413, "body_too_large", NULL, "request body exceeds %zu bytes",
                    cx->s->o.max_body_bytes);
    return send_error(c, &err, cx->early == 405 ? cx->allow : NULL);
}

static enum MHD_Result add_header_bytes(void *cls, enum MHD_ValueKind kind, const char *key,
                                        const char *value)
{
    size_t *total = cls;
    (void)kind;
    *total += strlen(key) + (value ? strlen(value) : 0) + 4; /* ": " and CRLF */
    return MHD_YES;
}

/* The limits checked before the body: open connections, header bytes, announced body size. */
static int check_limits(mc_server *s, struct MHD_Connection *c, const char *url,
                        const char *method)
{
    if (atomic_load(&s->sockets) > s->o.max_connections)
        return 503;
    size_t hdr = strlen(method) + strlen(url) + 12; /* request line: " HTTP/1.1\r\n" */
    MHD_get_connection_values(c, MHD_HEADER_KIND, add_header_bytes, &hdr);
    if (hdr > s->o.max_header_bytes)
        return 431;
    const char *cl =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    uint64_t n = 0;
    if (cl && mc_parse_u64(cl, &n) == MC_OK && n > s->o.max_body_bytes)
        return 413;
    return 0;
}

/* First call of a request: route it, check the announced body size. */
static enum MHD_Result begin(mc_server *s, struct MHD_Connection *c, const char *url,
                             const char *method, void **con_cls)
{
    conn_ctx *cx = mc_calloc(1, sizeof *cx);
    if (!cx)
        return MHD_NO;
    cx->s = s;
    cx->t_start = mc_now_ns();
    mc_buf_init(&cx->body, s->o.max_body_bytes);
    *con_cls = cx;
    atomic_fetch_add(&s->conns, 1);
    route(cx, url, method);
    int limit = cx->early ? 0 : check_limits(s, c, url, method);
    if (limit) {
        cx->early = limit;
        count_refused(cx, limit);
    }
    return cx->early ? early_error(cx, c, url, method) : MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **con_cls)
{
    conn_ctx *cx = *con_cls;
    (void)version;
    if (!cx)
        return begin(cls, c, url, method, con_cls);
    if (cx->req && !cx->streaming)
        return respond_when_done(cx, c); /* resumed by wake_final */
    if (*size > 0) {
        /* a body without Content-Length (chunked) that grows past --max-body: the rest is read
         * and dropped, then 413 (libmicrohttpd 0.9.75 cannot answer in the middle of a body) */
        if (!cx->too_large && mc_buf_append(&cx->body, data, *size) != MC_OK) {
            cx->too_large = 1;
            mc_buf_deinit(&cx->body);
        }
        *size = 0;
        return MHD_YES;
    }
    return dispatch(cx, c);
}

/* The request is over (answered, or the client went away): cancel it if it still runs. */
static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    mc_server *s = cls;
    conn_ctx *cx = *con_cls;
    (void)c;
    (void)toe;
    if (!cx)
        return;
    *con_cls = NULL;
    mc_srv_req *r = cx->req;
    if (r) {
        pthread_mutex_lock(&r->mu);
        r->wake = NULL;
        r->conn = NULL;
        int finished = r->finished;
        pthread_mutex_unlock(&r->mu);
        if (!finished)
            mc_srv_sched_cancel(s->sched, r);
        mc_srv_req_unref(r);
    }
    mc_buf_deinit(&cx->body);
    mc_free(cx);
    atomic_fetch_sub(&s->conns, 1);
}

/* ---- the daemon ---- */

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    mc_server *s = cls;
    (void)c;
    (void)socket_context;
    atomic_fetch_add(&s->sockets, toe == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1);
}

static mc_err listen_socket(mc_server *s, int *fd_out, mc_diag *d)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    socklen_t len = sizeof *a4;
    if (inet_pton(AF_INET, s->host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)s->o.port);
    } else if (inet_pton(AF_INET6, s->host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)s->o.port);
        len = sizeof *a6;
    } else {
        return mc_fail(d, MC_ERR_ARG, "server: --host '%s' is not a numeric IPv4 or IPv6 address",
                       s->host);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 128) != 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        return mc_fail(d, MC_ERR_NET, "server: cannot listen on %s port %d: %s", s->host, s->o.port,
                       strerror(err));
    }
    s->port = ntohs(ss.ss_family == AF_INET ? a4->sin_port : a6->sin6_port);
    *fd_out = fd;
    return MC_OK;
}

mc_err mc_srv_http_start(mc_server *s, mc_diag *d)
{
    int fd = -1;
    mc_err e = listen_socket(s, &fd, d);
    if (e)
        return e;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
    unsigned threads = s->o.http_threads > 1 ? (unsigned)s->o.http_threads : 0;
    size_t pool = 2 * s->o.max_header_bytes + STREAM_BLOCK_BYTES + CONN_MEMORY_EXTRA_BYTES;
    unsigned limit = (unsigned)s->o.max_connections + CONN_RESERVE;
    /* the idle timeout does not run while a connection is suspended (waiting for tokens) */
    s->daemon =
        MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET, fd,
                         MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                         MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                         MHD_OPTION_CONNECTION_LIMIT, limit, MHD_OPTION_CONNECTION_TIMEOUT,
                         (unsigned)s->o.idle_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool,
                         MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_END);
    if (!s->daemon) {
        close(fd);
        return mc_fail(d, MC_ERR_NET, "server: libmicrohttpd could not start on %s port %d",
                       s->host, s->port);
    }
    return MC_OK;
}

void mc_srv_http_quiesce(mc_server *s)
{
    if (!s->daemon)
        return;
    MHD_socket fd = MHD_quiesce_daemon(s->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
}

void mc_srv_http_stop(mc_server *s)
{
    if (s->daemon)
        MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
}
