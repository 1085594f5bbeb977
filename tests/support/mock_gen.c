/* mock_gen.c: what the mock OpenAI server answers: streamed and whole completions at configured
 * times, the token counter behind /tokenize and usage, and every injected fault (see
 * mock_server.h). Test support only: depends on base, cJSON and the mock's loop. */
#include "mock_int.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const struct {
    const char *name;
    enum mock_fault f;
} fault_names[] = {
    {"http429", F_HTTP429},
    {"http500", F_HTTP500},
    {"http503", F_HTTP503},
    {"http429_empty", F_HTTP429_EMPTY},
    {"http500_empty", F_HTTP500_EMPTY},
    {"http503_empty", F_HTTP503_EMPTY},
    {"reset_headers", F_RESET_HEADERS},
    {"close_mid", F_CLOSE_MID},
    {"reset_mid", F_RESET_MID},
    {"bad_json", F_BAD_JSON},
    {"huge_event", F_HUGE_EVENT},
    {"no_done", F_NO_DONE},
    {"no_done_finish", F_NO_DONE_FINISH},
    {"stall", F_STALL},
    {"never_answer", F_NEVER_ANSWER},
    {"wrong_ctype", F_WRONG_CTYPE},
    {"error_event", F_ERROR_EVENT},
    {"error_obj", F_ERROR_OBJ},
    {"html", F_HTML},
    {"eof_no_done", F_EOF_NO_DONE},
    {"eof_finish", F_EOF_FINISH},
};

/* The last token event carries no finish_reason (and no usage follows). */
static int no_finish(enum mock_fault f)
{
    return f == F_NO_DONE || f == F_EOF_NO_DONE;
}

/* The stream ends without "data: [DONE]". */
static int no_done(enum mock_fault f)
{
    return no_finish(f) || f == F_NO_DONE_FINISH || f == F_EOF_FINISH;
}

uint32_t mock_count_tokens(const char *s, size_t n)
{
    uint32_t tokens = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r'))
            i++;
        size_t start = i;
        while (i < n && !(s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r'))
            i++;
        if (i > start)
            tokens += 1 + (uint32_t)((i - start - 1) / 6);
    }
    return tokens;
}

/* ---- request options ----------------------------------------------------------------------- */

static void marker_pair(mock_job *j, const char *k, size_t kn, const char *v, size_t vn)
{
    char val[32];
    uint64_t u = 0;
    int num = vn < sizeof val && (memcpy(val, v, vn), val[vn] = 0, mc_parse_u64(val, &u) == 0);
#define KEY(s) (kn == strlen(s) && memcmp(k, s, kn) == 0)
    if (KEY("fault")) {
        for (size_t i = 0; i < sizeof fault_names / sizeof fault_names[0]; i++)
            if (strlen(fault_names[i].name) == vn && memcmp(fault_names[i].name, v, vn) == 0)
                j->fault = fault_names[i].f;
    } else if (num && KEY("ttft")) {
        j->ttft = u * 1000000u;
    } else if (num && KEY("itl")) {
        j->itl = u * 1000000u;
    } else if (num && KEY("tokens")) {
        j->tokens = (uint32_t)u;
    } else if (num && KEY("chunk") && u > 0) {
        j->per_chunk = (uint32_t)u;
    } else if (num && KEY("after")) {
        j->after = (uint32_t)u;
    } else if (num && KEY("size")) {
        j->size = (size_t)u;
    } else if (num && KEY("utf8")) {
        j->utf8 = u != 0;
    } else if (num && KEY("trickle")) {
        j->trickle = u != 0;
    }
#undef KEY
}

/* [[mock:key=value,...]] anywhere in the raw body. */
static void parse_marker(mock_job *j, const char *body, size_t len)
{
    const char *p = memmem(body, len, "[[mock:", 7);
    if (!p)
        return;
    p += 7;
    const char *end = memmem(p, len - (size_t)(p - body), "]]", 2);
    while (end && p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma ? comma : end;
        const char *eq = memchr(p, '=', (size_t)(e - p));
        if (eq)
            marker_pair(j, p, (size_t)(eq - p), eq + 1, (size_t)(e - eq - 1));
        p = e + 1;
    }
}

static uint32_t prompt_tokens(const cJSON *req, int chat)
{
    if (!chat) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(req, "prompt");
        return cJSON_IsString(p) ? mock_count_tokens(p->valuestring, strlen(p->valuestring)) : 0;
    }
    uint32_t n = 0;
    const cJSON *msg;
    cJSON_ArrayForEach(msg, cJSON_GetObjectItemCaseSensitive(req, "messages"))
    {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(msg, "content");
        if (cJSON_IsString(c))
            n += mock_count_tokens(c->valuestring, strlen(c->valuestring));
    }
    return n;
}

void mock_job_clear(mock_job *j)
{
    mc_free(j->stext);
    mc_free(j->soff);
    j->stext = NULL;
    j->soff = NULL;
}

static void read_request(struct mc_mock *m, mock_job *j, const cJSON *req, int chat)
{
    mock_job_clear(j);
    memset(j, 0, sizeof *j);
    j->chat = chat;
    j->ttft = (mc_ns)(m->o.ttft_ms * 1e6);
    j->itl = (mc_ns)(m->o.itl_ms * 1e6);
    j->tokens = m->o.tokens;
    j->per_chunk = m->o.tokens_per_chunk;
    j->after = 2;
    j->size = 2u << 20;
    j->stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "stream"));
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(req, "stream_options");
    j->usage = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage"));
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(req, "max_tokens");
    if (!cJSON_IsNumber(mt))
        mt = cJSON_GetObjectItemCaseSensitive(req, "max_completion_tokens");
    if (cJSON_IsNumber(mt) && mt->valuedouble >= 0 && mt->valuedouble < 1e7)
        j->tokens = (uint32_t)mt->valuedouble;
    j->prompt_tokens = prompt_tokens(req, chat);
}

/* ---- streamed events ----------------------------------------------------------------------- */

static const char *token_text(const mock_job *j, uint32_t i, char *buf)
{
    static const char *const u8[4] = {"\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "a"};
    if (j->utf8)
        return u8[i % 4];
    buf[0] = ' ';
    buf[1] = 'w';
    buf[2] = (char)('0' + i % 10);
    buf[3] = 0;
    return buf;
}

/* A scripted token, JSON-escaped, appended to b. */
static void append_script_token(mc_buf *b, const mock_job *j, uint32_t i)
{
    for (uint32_t k = j->soff[i]; k < j->soff[i + 1]; k++) {
        unsigned char ch = (unsigned char)j->stext[k];
        if (ch == '"' || ch == '\\')
            mc_buf_printf(b, "\\%c", ch);
        else if (ch < 0x20)
            mc_buf_printf(b, "\\u%04x", ch);
        else
            mc_buf_append(b, &j->stext[k], 1);
    }
}

static void append_token(mc_buf *b, const mock_job *j, uint32_t i)
{
    char tb[8];
    if (j->stext) {
        append_script_token(b, j, i);
        return;
    }
    const char *t = token_text(j, i, tb);
    mc_buf_append(b, t, strlen(t));
}

static uint32_t n_events(const mock_job *j)
{
    return (j->tokens + j->per_chunk - 1) / j->per_chunk;
}

/* Token events are assembled with memcpy from fixed parts (no printf): the mock must outrun the
 * client it benchmarks. */
#define S_(lit) lit, sizeof lit - 1
static const struct {
    const char *s;
    size_t n;
} ev_head[2] = {{S_("data: {\"id\":\"cmpl-mock\",\"object\":\"text_completion\",\"created\":0,"
                    "\"model\":\"mock-model\",\"choices\":[{\"index\":0,\"text\":\"")},
                {S_("data: {\"id\":\"chatcmpl-mock\",\"object\":\"chat.completion.chunk\","
                    "\"created\":0,\"model\":\"mock-model\",\"choices\":[{\"index\":0,"
                    "\"delta\":{\"content\":\"")}},
  ev_tail[2][2] = {{{S_("\",\"logprobs\":null,\"finish_reason\":null}]}\n\n")},
                    {S_("\",\"logprobs\":null,\"finish_reason\":\"length\"}]}\n\n")}},
                   {{S_("\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n")},
                    {S_("\"},\"logprobs\":null,\"finish_reason\":\"length\"}]}\n\n")}}},
  role_event = {S_("data: {\"id\":\"chatcmpl-mock\",\"object\":\"chat.completion.chunk\","
                   "\"created\":0,\"model\":\"mock-model\",\"choices\":[{\"index\":0,"
                   "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,"
                   "\"finish_reason\":null}]}\n\n")};
#undef S_

static void append_token_event(mock_conn *c, mock_job *j)
{
    uint32_t k =
        j->tokens - j->sent_tokens < j->per_chunk ? j->tokens - j->sent_tokens : j->per_chunk;
    int last = j->events + 1 == n_events(j) && !no_finish(j->fault);
    if (j->chat && j->events == 0)
        mc_buf_append(&c->out, role_event.s, role_event.n);
    mc_buf_append(&c->out, ev_head[j->chat].s, ev_head[j->chat].n);
    for (uint32_t i = 0; i < k; i++)
        append_token(&c->out, j, j->sent_tokens + i);
    mc_buf_append(&c->out, ev_tail[j->chat][last].s, ev_tail[j->chat][last].n);
    j->sent_tokens += k;
    j->events++;
}

static void append_tail(mock_conn *c, const mock_job *j)
{
    if (j->usage && !no_finish(j->fault))
        mc_buf_printf(&c->out,
                      "data: {\"id\":\"cmpl-mock\",\"object\":\"%s\",\"created\":0,"
                      "\"model\":\"mock-model\",\"choices\":[],\"usage\":{\"prompt_tokens\":%u,"
                      "\"total_tokens\":%u,\"completion_tokens\":%u}}\n\n",
                      j->chat ? "chat.completion.chunk" : "text_completion", j->prompt_tokens,
                      j->prompt_tokens + j->sent_tokens, j->sent_tokens);
    if (!no_done(j->fault))
        mc_buf_printf(&c->out, "data: [DONE]\n\n");
}

/* Chunked transfer coding: a fixed-width size line is reserved, filled in by chunk_end. A
 * close-delimited body (j.eof) has no framing: both are no-ops, and so is chunk_last. */
static size_t chunk_begin(mock_conn *c)
{
    size_t at = c->out.len;
    if (!c->j.eof)
        mc_buf_append(&c->out, "00000000\r\n", 10);
    return at;
}

static void chunk_last(mock_conn *c)
{
    if (!c->j.eof)
        mc_buf_append(&c->out, "0\r\n\r\n", 5);
}

static void chunk_end(mock_conn *c, size_t at)
{
    if (c->j.eof)
        return;
    if (c->out.len < at + 10)
        return; /* the size line could not be reserved (out of memory) */
    size_t n = c->out.len - at - 10;
    if (n == 0) {
        c->out.len = at;
        c->out.data[at] = 0;
        return;
    }
    char hex[24];
    snprintf(hex, sizeof hex, "%08zx", n & 0xffffffffu); /* chunks stay far below 4 GiB */
    memcpy(c->out.data + at, hex, 8);
    mc_buf_append(&c->out, "\r\n", 2);
}

static void finish_response(struct mc_mock *m, mock_conn *c)
{
    mock_set_state(m, c, ST_READ);
    c->j.trickle = c->j.trickle && c->out_off < c->out.len;
}

/* A close-delimited body ends with FIN once everything queued is sent: now, or from the
 * loop's EPOLLOUT handler (close_after). Returns -1 when the connection was closed here. */
static int end_by_close(struct mc_mock *m, mock_conn *c)
{
    c->close_after = 1;
    if (mock_flush(m, c) < 0 || c->out.len == 0) {
        mock_close(m, c, 0);
        return -1;
    }
    return 0;
}

/* A fault that acts mid-stream, before token `after`. Returns 1 when the stream must stop
 * here (the connection may be closed: -1). */
static int mid_fault(struct mc_mock *m, mock_conn *c, size_t at)
{
    mock_job *j = &c->j;
    j->fault_done = 1;
    atomic_fetch_add_explicit(&m->st_faults, 1, memory_order_relaxed);
    switch (j->fault) {
    case F_RESET_MID:
    case F_CLOSE_MID:
        chunk_end(c, at);
        mock_flush(m, c);
        mock_close(m, c, j->fault == F_RESET_MID);
        return -1;
    case F_STALL:
        chunk_end(c, at);
        mock_set_state(m, c, ST_STALL);
        return 1;
    case F_BAD_JSON: mc_buf_printf(&c->out, "data: {\"choices\": [ {\"text\": oops\n\n"); return 0;
    case F_HUGE_EVENT:
        mc_buf_append(&c->out, "data: {\"pad\":\"", 14);
        for (size_t i = 0; i < j->size; i += 64)
            mc_buf_append(&c->out,
                          "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                          j->size - i < 64 ? j->size - i : 64);
        mc_buf_append(&c->out, "\"}\n\n", 4);
        return 0;
    case F_ERROR_EVENT:
        mc_buf_printf(&c->out,
                      "event: error\ndata: {\"error\":{\"message\":\"mock error event\"}}\n\n");
        break;
    case F_ERROR_OBJ:
        mc_buf_printf(&c->out, "data: {\"error\":{\"message\":\"mock error object\",\"code\":500}}"
                               "\n\ndata: [DONE]\n\n");
        break;
    default:
        j->fault_done = 0;
        atomic_fetch_sub_explicit(&m->st_faults, 1, memory_order_relaxed);
        return 0;
    }
    chunk_end(c, at);
    chunk_last(c);
    finish_response(m, c);
    return 1;
}

static int is_mid_fault(enum mock_fault f)
{
    return f == F_RESET_MID || f == F_CLOSE_MID || f == F_STALL || f == F_BAD_JSON ||
           f == F_HUGE_EVENT || f == F_ERROR_EVENT || f == F_ERROR_OBJ;
}

/* Emits every event that is due; schedules the next one. */
static int stream_due(struct mc_mock *m, mock_conn *c, mc_ns now)
{
    mock_job *j = &c->j;
    uint32_t total = n_events(j);
    size_t at = chunk_begin(c);
    int pending = is_mid_fault(j->fault) && !j->fault_done;
    while (j->events < total || pending) {
        if (pending && (j->sent_tokens >= j->after || j->events >= total)) {
            pending = 0;
            int rc = mid_fault(m, c, at);
            if (rc < 0)
                return -1;
            if (rc > 0)
                return mock_flush(m, c) < 0 ? (mock_close(m, c, 0), -1) : 0;
            continue;
        }
        if (j->events >= total || j->t0 + j->ttft + j->events * j->itl > now)
            break;
        uint32_t before = j->sent_tokens;
        append_token_event(c, j);
        atomic_fetch_add_explicit(&m->st_tokens, j->per_chunk, memory_order_relaxed);
        mock_record_event(m, j, j->sent_tokens - before);
    }
    if (j->events == total && !pending) {
        append_tail(c, j);
        chunk_end(c, at);
        chunk_last(c);
        finish_response(m, c);
        atomic_fetch_add_explicit(&m->st_completed, 1, memory_order_relaxed);
        if (j->eof)
            return end_by_close(m, c);
    } else {
        chunk_end(c, at);
        mock_due(m, c, j->t0 + j->ttft + j->events * j->itl);
    }
    if (mock_flush(m, c) < 0) {
        mock_close(m, c, 0);
        return -1;
    }
    return 0;
}

/* ---- whole (non-streamed) responses ------------------------------------------------------ */

static int whole_fault(struct mc_mock *m, mock_conn *c)
{
    static const char bad[] = "{\"choices\": [ {\"text\": oops";
    static const char err[] = "{\"error\":{\"message\":\"mock error object\",\"code\":500}}";
    switch (c->j.fault) {
    case F_BAD_JSON: mock_respond(c, 200, "application/json", bad, sizeof bad - 1); return 1;
    case F_ERROR_OBJ: mock_respond(c, 200, "application/json", err, sizeof err - 1); return 1;
    case F_RESET_MID:
    case F_CLOSE_MID:
        mc_buf_printf(&c->out, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                               "Content-Length: 1000\r\n\r\n{\"choices\":");
        mock_flush(m, c);
        mock_close(m, c, c->j.fault == F_RESET_MID);
        return -1;
    case F_STALL: mock_set_state(m, c, ST_STALL); return 2;
    default: return 0;
    }
}

static int whole_due(struct mc_mock *m, mock_conn *c)
{
    mock_job *j = &c->j;
    int f = whole_fault(m, c);
    if (f != 0) {
        atomic_fetch_add_explicit(&m->st_faults, 1, memory_order_relaxed);
        if (f == 1)
            mock_set_state(m, c, ST_READ);
        return f < 0 ? -1 : (mock_flush(m, c) < 0 ? (mock_close(m, c, 0), -1) : 0);
    }
    mc_buf body;
    mc_buf_init(&body, 0);
    mc_buf_printf(&body,
                  "{\"id\":\"cmpl-mock\",\"object\":\"%s\",\"created\":0,"
                  "\"model\":\"mock-model\",\"choices\":[{\"index\":0,%s\"",
                  j->chat ? "chat.completion" : "text_completion",
                  j->chat ? "\"message\":{\"role\":\"assistant\",\"content\":" : "\"text\":");
    for (uint32_t i = 0; i < j->tokens; i++)
        append_token(&body, j, i);
    mc_buf_printf(&body,
                  "\"%s,\"logprobs\":null,\"finish_reason\":\"length\"}],"
                  "\"usage\":{\"prompt_tokens\":%u,\"total_tokens\":%u,"
                  "\"completion_tokens\":%u}}",
                  j->chat ? "}" : "", j->prompt_tokens, j->prompt_tokens + j->tokens, j->tokens);
    atomic_fetch_add_explicit(&m->st_tokens, j->tokens, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->st_completed, 1, memory_order_relaxed);
    mock_respond(c, 200, "application/json", body.data ? body.data : "", body.len);
    mc_buf_deinit(&body);
    mock_set_state(m, c, ST_READ);
    if (mock_flush(m, c) < 0) {
        mock_close(m, c, 0);
        return -1;
    }
    return 0;
}

/* ---- entry points -------------------------------------------------------------------------- */

static int immediate_fault(struct mc_mock *m, mock_conn *c)
{
    static const char body[] =
        "{\"error\":{\"message\":\"mock failure\",\"type\":\"server_error\"}}";
    static const char page[] = "<!DOCTYPE html>\n<html><head><title>Welcome</title></head>"
                               "<body><h1>It works!</h1></body></html>\n";
    static const int status[] = {
        [F_HTTP429] = 429,       [F_HTTP500] = 500,       [F_HTTP503] = 503,
        [F_HTTP429_EMPTY] = 429, [F_HTTP500_EMPTY] = 500, [F_HTTP503_EMPTY] = 503};
    enum mock_fault f = c->j.fault;
    if (f >= F_HTTP429 && f <= F_HTTP503_EMPTY) {
        int with_body = f <= F_HTTP503;
        mock_respond(c, status[f], "application/json", with_body ? body : "",
                     with_body ? sizeof body - 1 : 0);
        return 1;
    }
    if (f == F_HTML) {
        mock_respond(c, 200, "text/html; charset=utf-8", page, sizeof page - 1);
        return 1;
    }
    if (f == F_RESET_HEADERS) {
        mock_close(m, c, 1);
        return -1;
    }
    if (f == F_NEVER_ANSWER) {
        mock_set_state(m, c, ST_STALL);
        return 1;
    }
    return 0;
}

/* Cuts a scripted text into tokens of at most 4 bytes at UTF-8 character boundaries. */
static int script_tokens(mock_job *j, char *text)
{
    size_t n = strlen(text);
    j->soff = mc_calloc(n + 2, sizeof *j->soff);
    if (!j->soff) {
        mc_free(text);
        return -1;
    }
    j->stext = text;
    uint32_t k = 0;
    for (size_t i = 0; i < n;) {
        size_t e = i + 4 < n ? i + 4 : n;
        while (e > i + 1 && e < n && ((unsigned char)text[e] & 0xC0) == 0x80)
            e--;
        while (e < n && ((unsigned char)text[e] & 0xC0) == 0x80)
            e++;
        j->soff[++k] = (uint32_t)e;
        i = e;
    }
    j->tokens = k;
    return 0;
}

/* Scripted mode: 1 when the reply was sent whole (status or raw body), 0 to go on generating
 * the scripted text, -1 on failure. */
static int script_reply(struct mc_mock *m, mock_conn *c, const char *body, size_t len)
{
    static const char err[] = "{\"error\":{\"message\":\"scripted failure\"}}";
    mc_mock_reply r = {0, NULL, NULL};
    m->o.script(body, len, &r, m->o.script_ctx);
    int rc = 0;
    if (r.status != 0 && r.status != 200) {
        rc = mock_respond(c, r.status, "application/json", err, sizeof err - 1) ? -1 : 1;
    } else if (r.raw) {
        rc = mock_respond(c, 200, "application/json", r.raw, strlen(r.raw)) ? -1 : 1;
    } else if (r.text) {
        rc = script_tokens(&c->j, r.text);
        r.text = NULL;
    }
    mc_free(r.raw);
    mc_free(r.text);
    return rc;
}

int mock_generate(struct mc_mock *m, mock_conn *c, int chat, const char *body, size_t len)
{
    cJSON *req = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(req)) {
        cJSON_Delete(req);
        static const char bad[] = "{\"error\":{\"message\":\"body is not a JSON object\"}}";
        mock_respond(c, 400, "application/json", bad, sizeof bad - 1);
        return 0;
    }
    read_request(m, &c->j, req, chat);
    cJSON_Delete(req);
    parse_marker(&c->j, body, len);
    atomic_fetch_add_explicit(&m->st_generations, 1, memory_order_relaxed);
    int sr = m->o.script ? script_reply(m, c, body, len) : 0;
    if (sr != 0)
        return sr < 0 ? (mock_close(m, c, 0), -1) : 0;
    mock_job *j = &c->j;
    mock_note_generation(m, j);
    mc_ns now = mc_now_ns();
    j->t0 = now;
    int f = immediate_fault(m, c);
    if (f != 0) {
        atomic_fetch_add_explicit(&m->st_faults, 1, memory_order_relaxed);
        return f < 0 ? -1 : 0;
    }
    if (!j->stream) {
        mock_set_state(m, c, ST_WHOLE);
        mc_ns due = j->t0 + j->ttft + (j->tokens > 1 ? (j->tokens - 1) * j->itl : 0);
        if (due <= now)
            return whole_due(m, c);
        mock_due(m, c, due);
        return 0;
    }
    if (j->fault == F_WRONG_CTYPE || j->fault == F_EOF_NO_DONE || j->fault == F_EOF_FINISH)
        atomic_fetch_add_explicit(&m->st_faults, 1, memory_order_relaxed);
    j->eof = j->fault == F_EOF_NO_DONE || j->fault == F_EOF_FINISH;
    mc_buf_printf(&c->out,
                  "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nCache-Control: no-cache\r\n%s%s\r\n",
                  j->fault == F_WRONG_CTYPE ? "text/plain" : "text/event-stream",
                  j->eof ? "" : "Transfer-Encoding: chunked\r\n",
                  c->close_after || j->eof ? "Connection: close\r\n" : "");
    mock_set_state(m, c, ST_STREAM);
    return stream_due(m, c, now);
}

int mock_continue(struct mc_mock *m, mock_conn *c, mc_ns now)
{
    if (c->out_off < c->out.len) {
        if (mock_flush(m, c) < 0) {
            mock_close(m, c, 0);
            return -1;
        }
        if (c->out_off < c->out.len)
            return 0; /* still draining: the flush rescheduled itself or waits for EPOLLOUT */
    }
    if (c->state == ST_STREAM)
        return stream_due(m, c, now);
    if (c->state == ST_WHOLE)
        return whole_due(m, c);
    return 0;
}

int mock_tokenize(struct mc_mock *m, mock_conn *c, const char *body, size_t len)
{
    atomic_fetch_add_explicit(&m->st_tokenize, 1, memory_order_relaxed);
    cJSON *req = cJSON_ParseWithLength(body, len);
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(req, "content");
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(req, "prompt");
    const cJSON *s = cJSON_IsString(content) ? content : prompt;
    if (!cJSON_IsString(s)) {
        cJSON_Delete(req);
        static const char bad[] = "{\"error\":{\"message\":\"need content or prompt\"}}";
        mock_respond(c, 400, "application/json", bad, sizeof bad - 1);
        return 0;
    }
    uint32_t n = mock_count_tokens(s->valuestring, strlen(s->valuestring));
    mc_buf out;
    mc_buf_init(&out, 0);
    if (s == prompt)
        mc_buf_printf(&out, "{\"count\":%u,\"max_model_len\":32768,\"tokens\":[", n);
    else
        mc_buf_printf(&out, "{\"tokens\":[");
    for (uint32_t i = 0; i < n; i++)
        mc_buf_printf(&out, i ? ",%u" : "%u", i);
    mc_buf_printf(&out, "]}");
    cJSON_Delete(req);
    mock_respond(c, 200, "application/json", out.data ? out.data : "", out.len);
    mc_buf_deinit(&out);
    return 0;
}
