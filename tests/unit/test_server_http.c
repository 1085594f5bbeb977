/* test_server_http.c: the whole server (libmicrohttpd, scheduler, formatting) on the fake backend
 * (tests/support/srv_fake.h), on an ephemeral loopback port, driven by libcurl: every endpoint,
 * streaming and not; streamed text equals the whole response; 8 concurrent streams each get what
 * they get alone; bad requests get 4xx with the OpenAI error body; a client that disconnects
 * mid-stream frees its slot; the recording endpoints (ours and the vLLM-style aliases) and the
 * records' token counts against usage; a full queue answers 503 with Retry-After; shutdown. */
#include "harness.h"
#include "server_impl.h"
#include "srv_fake.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <unistd.h>

static char base[64];

typedef struct resp {
    long status;
    mc_buf body, headers;
    int abort_after; /* > 0: hang up after this many SSE events */
    int events;
} resp;

static void resp_init(resp *r)
{
    memset(r, 0, sizeof *r);
    mc_buf_init(&r->body, 0);
    mc_buf_init(&r->headers, 0);
    mc_buf_append(&r->body, "", 0);
    mc_buf_append(&r->headers, "", 0);
}

static void resp_deinit(resp *r)
{
    mc_buf_deinit(&r->body);
    mc_buf_deinit(&r->headers);
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    resp *r = ud;
    mc_buf_append(&r->body, p, sz * n);
    r->events = 0;
    for (const char *q = r->body.data; (q = strstr(q, "data: ")) != NULL; q += 6)
        r->events++;
    if (r->abort_after > 0 && r->events >= r->abort_after)
        return 0; /* curl aborts the transfer: the client is gone */
    return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    mc_buf_append(&((resp *)ud)->headers, p, sz * n);
    return sz * n;
}

static CURL *easy(const char *method, const char *path, const char *body, resp *r,
                  struct curl_slist *hdrs)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", base, path);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    return c;
}

static struct curl_slist *json_hdr;

static long call(const char *method, const char *path, const char *body, resp *r)
{
    resp_init(r);
    CURL *c = easy(method, path, body, r, json_hdr);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_cleanup(c);
    return r->status;
}

/* Concatenated text of an SSE body (completions text or chat delta.content); finish and usage
 * of the last chunks; -1 on a malformed stream. */
typedef struct sse_sum {
    mc_buf text;
    char finish[16];
    int64_t completion_tokens, prompt_tokens;
    int done, chunks;
} sse_sum;

static int sse_parse(const char *body, sse_sum *s)
{
    memset(s, 0, sizeof *s);
    mc_buf_init(&s->text, 0);
    mc_buf_append(&s->text, "", 0);
    for (const char *p = body; *p;) {
        const char *end = strstr(p, "\n\n");
        if (strncmp(p, "data: ", 6) != 0 || !end)
            return -1;
        if (strncmp(p + 6, "[DONE]", 6) == 0) {
            s->done = 1;
            return end[2] ? -1 : 0;
        }
        cJSON *o = cJSON_ParseWithLength(p + 6, (size_t)(end - p - 6));
        const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "choices"), 0);
        const cJSON *t = cJSON_GetObjectItem(ch, "text");
        if (!t)
            t = cJSON_GetObjectItem(cJSON_GetObjectItem(ch, "delta"), "content");
        if (cJSON_IsString(t))
            mc_buf_append(&s->text, t->valuestring, strlen(t->valuestring));
        const cJSON *f = cJSON_GetObjectItem(ch, "finish_reason");
        if (cJSON_IsString(f))
            snprintf(s->finish, sizeof s->finish, "%s", f->valuestring);
        const cJSON *u = cJSON_GetObjectItem(o, "usage");
        if (cJSON_IsObject(u)) {
            s->completion_tokens =
                (int64_t)cJSON_GetObjectItem(u, "completion_tokens")->valuedouble;
            s->prompt_tokens = (int64_t)cJSON_GetObjectItem(u, "prompt_tokens")->valuedouble;
        }
        s->chunks++;
        cJSON_Delete(o);
        p = end + 2;
    }
    return -1; /* no [DONE] */
}

/* text and usage of a non-streaming response */
static int whole(const char *body, mc_buf *text, int64_t *prompt, int64_t *completion)
{
    cJSON *o = cJSON_Parse(body);
    const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "choices"), 0);
    const cJSON *t = cJSON_GetObjectItem(ch, "text");
    if (!t)
        t = cJSON_GetObjectItem(cJSON_GetObjectItem(ch, "message"), "content");
    const cJSON *u = cJSON_GetObjectItem(o, "usage");
    int ok = cJSON_IsString(t) && cJSON_IsObject(u);
    if (ok) {
        mc_buf_append(text, t->valuestring, strlen(t->valuestring));
        *prompt = (int64_t)cJSON_GetObjectItem(u, "prompt_tokens")->valuedouble;
        *completion = (int64_t)cJSON_GetObjectItem(u, "completion_tokens")->valuedouble;
    }
    cJSON_Delete(o);
    return ok ? 0 : -1;
}

/* ---- a server per test ---- */

typedef struct srv {
    srv_fake *fake;
    mc_server *s;
} srv;

static int srv_open(srv *v, int slots, int64_t queue, int delay_us, size_t max_body)
{
    v->fake = srv_fake_new(slots, 256, 64);
    if (!v->fake)
        return -1;
    srv_fake_set_delay(v->fake, delay_us);
    srv_fake_set_template(v->fake, "{{ '<|im_start|>' }}");
    mc_server_opts o;
    mc_server_opts_default(&o);
    o.port = 0;
    o.max_queue = queue;
    o.max_body_bytes = max_body;
    o.hardware = "test-cpu";
    mc_diag d = {{0}};
    if (mc_server_new(srv_fake_backend(v->fake), &o, &v->s, &d) || mc_server_start(v->s, &d)) {
        fprintf(stderr, "server: %s\n", d.msg);
        return -1;
    }
    snprintf(base, sizeof base, "http://127.0.0.1:%d", mc_server_port(v->s));
    return 0;
}

static void srv_close(srv *v)
{
    mc_server_shutdown(v->s, 5);
    mc_server_free(v->s);
    srv_fake_free(v->fake);
}

/* ---- tests ---- */

TEST(basic_endpoints)
{
    srv v;
    if (srv_open(&v, 2, 8, 100, 1 << 20))
        SKIP("no server");
    resp r;
    CHECK_EQ_INT(call("GET", "/health", NULL, &r), 200);
    CHECK_CONTAINS(r.body.data, "\"status\":\"ok\",\"model\":\"fake-moe\",\"slots\":2");
    CHECK_CONTAINS(r.body.data, "\"chat_template\":\"chatml\"");
    resp_deinit(&r);
    CHECK_EQ_INT(call("GET", "/v1/models", NULL, &r), 200);
    CHECK_CONTAINS(r.body.data, "\"data\":[{\"id\":\"fake-moe\",\"object\":\"model\"");
    CHECK_CONTAINS(r.headers.data, "Content-Type: application/json");
    resp_deinit(&r);
    CHECK_EQ_INT(call("POST", "/tokenize", "{\"content\":\"ab\"}", &r), 200);
    CHECK_STR(r.body.data, "{\"tokens\":[259,260,261]}");
    resp_deinit(&r);
    CHECK_EQ_INT(call("POST", "/detokenize", "{\"tokens\":[259,260,261]}", &r), 200);
    CHECK_STR(r.body.data, "{\"content\":\"ab\"}"); /* decode(encode(s)) == s */
    resp_deinit(&r);
    CHECK_EQ_INT(call("POST", "/v1/completions",
                      "{\"prompt\":\"ab\",\"max_tokens\":9,\"temperature\":0}", &r),
                 200);
    mc_buf text;
    int64_t np = 0, nc = 0;
    mc_buf_init(&text, 0);
    CHECK_EQ_INT(whole(r.body.data, &text, &np, &nc), 0);
    CHECK_STR(text.data, "c fghi de"); /* the fake model's greedy continuation */
    CHECK_EQ_INT(np, 4);
    CHECK_EQ_INT(nc, 9);
    CHECK_CONTAINS(r.body.data, "\"id\":\"cmpl-");
    CHECK_CONTAINS(r.body.data, "\"finish_reason\":\"length\"");
    resp_deinit(&r);
    mc_buf_deinit(&text);
    /* the server counts a request as finished when its last bytes have left (MHD's completion
     * callback), which can come just after the client has read them: wait for it, briefly */
    for (int tries = 0; tries < 100; tries++) {
        CHECK_EQ_INT(call("GET", "/metrics", NULL, &r), 200);
        if (strstr(r.body.data, "moecap_requests_total{outcome=\"finished\"} 1\n") ||
            tries == 99)
            break;
        resp_deinit(&r);
        usleep(10000);
    }
    CHECK_CONTAINS(r.body.data, "moecap_requests_total{outcome=\"finished\"} 1\n");
    CHECK_CONTAINS(r.body.data, "moecap_generation_tokens_total 9\n");
    CHECK_CONTAINS(r.body.data, "moecap_time_to_first_token_seconds_count 1\n");
    CHECK_CONTAINS(r.body.data, "moecap_inter_token_latency_seconds_count 8\n");
    CHECK_CONTAINS(r.body.data, "moecap_expert_activations_total{moe_layer=\"1\"}");
    CHECK_CONTAINS(r.headers.data, "text/plain; version=0.0.4");
    resp_deinit(&r);
    srv_close(&v);
}

/* Streaming and non-streaming give the same text and usage, completions and chat. */
TEST(streaming)
{
    srv v;
    if (srv_open(&v, 2, 8, 100, 1 << 20))
        SKIP("no server");
    static const char *bodies[][2] = {
        {"/v1/completions", "{\"prompt\":\"hello q\",\"max_tokens\":12,\"temperature\":0"},
        {"/v1/chat/completions", "{\"messages\":[{\"role\":\"system\",\"content\":\"be\"},"
                                 "{\"role\":\"user\",\"content\":\"q q\"}],\"max_tokens\":7,"
                                 "\"temperature\":0"}};
    for (int i = 0; i < 2; i++) {
        char plain[512], streamed[512];
        snprintf(plain, sizeof plain, "%s}", bodies[i][1]);
        snprintf(streamed, sizeof streamed, "%s%s", bodies[i][1],
                 ",\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
        resp a, b;
        CHECK_EQ_INT(call("POST", bodies[i][0], plain, &a), 200);
        CHECK_EQ_INT(call("POST", bodies[i][0], streamed, &b), 200);
        CHECK_CONTAINS(b.headers.data, "Content-Type: text/event-stream");
        CHECK_CONTAINS(b.headers.data, "Transfer-Encoding: chunked");
        mc_buf text;
        int64_t np = 0, nc = 0;
        mc_buf_init(&text, 0);
        CHECK_EQ_INT(whole(a.body.data, &text, &np, &nc), 0);
        sse_sum s;
        CHECK_EQ_INT(sse_parse(b.body.data, &s), 0);
        CHECK_STR(s.text.data, text.data);
        CHECK(i == 1 || strstr(text.data, "\xc3\xa9") != NULL); /* a split U+00E9, whole */
        CHECK_EQ_INT(s.completion_tokens, nc);
        CHECK_EQ_INT(s.prompt_tokens, np);
        CHECK(s.done);
        CHECK(s.chunks >= 4);
        CHECK(s.finish[0]);
        resp_deinit(&a);
        resp_deinit(&b);
        mc_buf_deinit(&text);
        mc_buf_deinit(&s.text);
    }
    srv_close(&v);
}

/* 8 concurrent streams on 4 slots: each gets exactly the text it gets alone. */
TEST(concurrent_streams)
{
    srv v;
    if (srv_open(&v, 4, 16, 300, 1 << 20))
        SKIP("no server");
    static const char *prompts[8] = {"ab",  "q",       "hello world", "xy",
                                     "a b", "zzz a q", "abcdefghij",  "mnop"};
    char bodies[8][160];
    mc_buf alone[8];
    for (int i = 0; i < 8; i++) {
        snprintf(bodies[i], sizeof bodies[i],
                 "{\"prompt\":\"%s\",\"max_tokens\":%d,\"temperature\":0,\"stream\":true}",
                 prompts[i], 8 + 3 * i);
        resp r;
        sse_sum s;
        CHECK_EQ_INT(call("POST", "/v1/completions", bodies[i], &r), 200);
        CHECK_EQ_INT(sse_parse(r.body.data, &s), 0);
        alone[i] = s.text;
        resp_deinit(&r);
    }
    CURLM *m = curl_multi_init();
    resp rs[8];
    CURL *cs[8];
    for (int i = 0; i < 8; i++) {
        resp_init(&rs[i]);
        cs[i] = easy("POST", "/v1/completions", bodies[i], &rs[i], json_hdr);
        curl_multi_add_handle(m, cs[i]);
    }
    int running = 1;
    while (running) {
        curl_multi_perform(m, &running);
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    for (int i = 0; i < 8; i++) {
        sse_sum s;
        CHECK_EQ_INT(sse_parse(rs[i].body.data, &s), 0);
        CHECK_STR(s.text.data, alone[i].data);
        mc_buf_deinit(&s.text);
        mc_buf_deinit(&alone[i]);
        curl_multi_remove_handle(m, cs[i]);
        curl_easy_cleanup(cs[i]);
        resp_deinit(&rs[i]);
    }
    curl_multi_cleanup(m);
    CHECK(srv_fake_max_batch(v.fake) > 1);
    srv_close(&v);
}

typedef struct bad_http {
    const char *method, *path, *body;
    long status;
    const char *want; /* substring of the body */
} bad_http;

TEST(errors)
{
    srv v;
    if (srv_open(&v, 1, 8, 100, 4096))
        SKIP("no server");
    static const bad_http cases[] = {
        {"POST", "/v1/completions", "{\"prompt\": ", 400, "\"code\":\"invalid_json\"}"},
        {"POST", "/v1/completions", "{\"prompt\":\"a\",\"n\":2}", 400, "\"param\":\"n\""},
        {"POST", "/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":0}", 400,
         "'max_tokens' must be at least 1"},
        {"POST", "/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":300}", 400,
         "\"code\":\"context_length_exceeded\""},
        {"POST", "/v1/completions", "{\"prompt\":[1,9999]}", 400, "out of the vocabulary"},
        {"POST", "/v1/completions", "{\"prompt\":\"\xff\"}", 400, "\"code\":\"invalid_utf8\""},
        {"POST", "/v1/chat/completions", "{\"messages\":[]}", 400, "\"param\":\"messages\""},
        {"POST", "/v1/chat/completions", "{\"prompt\":\"a\"}", 400, "'messages' is required"},
        {"POST", "/tokenize", "{}", 400, "'content' must be a string"},
        {"POST", "/detokenize", "[1]", 400, "must be a JSON object"},
        {"GET", "/v1/nothing", NULL, 404, "\"code\":\"unknown_url\""},
        {"POST", "/v1/nothing", "{}", 404, "unknown endpoint: POST /v1/nothing"},
        {"GET", "/get_model_info", NULL, 404, "\"type\":\"not_found_error\""},
        {"GET", "/v1/completions", NULL, 405, "method not allowed (use POST)"},
        {"DELETE", "/health", NULL, 405, "\"code\":\"method_not_allowed\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        resp r;
        long st = call(cases[i].method, cases[i].path, cases[i].body, &r);
        if (st != cases[i].status || !strstr(r.body.data, cases[i].want) ||
            !strstr(r.body.data, "{\"error\":{\"message\":"))
            HARNESS_FAIL_("case %zu %s %s: %ld %s", i, cases[i].method, cases[i].path, st,
                          r.body.data);
        resp_deinit(&r);
    }
    resp r;
    CHECK_EQ_INT(call("GET", "/v1/completions", NULL, &r), 405);
    CHECK_CONTAINS(r.headers.data, "Allow: POST");
    resp_deinit(&r);
    /* bodies over --max-body: announced (Content-Length) or not (chunked) */
    char *big = mc_malloc(10000);
    memset(big, 'a', 9999);
    big[9999] = 0;
    memcpy(big, "{\"prompt\":\"", 11);
    memcpy(big + 9997, "\"}", 3);
    CHECK_EQ_INT(call("POST", "/v1/completions", big, &r), 413);
    CHECK_CONTAINS(r.body.data, "\"code\":\"body_too_large\"");
    resp_deinit(&r);
    struct curl_slist *chunked = curl_slist_append(NULL, "Transfer-Encoding: chunked");
    resp_init(&r);
    CURL *c = easy("POST", "/v1/completions", big, &r, chunked);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, -1L);
    CHECK_EQ_INT(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    CHECK_EQ_INT(r.status, 413);
    curl_easy_cleanup(c);
    curl_slist_free_all(chunked);
    resp_deinit(&r);
    mc_free(big);
    /* the server is still fine */
    CHECK_EQ_INT(call("POST", "/v1/completions", "{\"prompt\":\"ab\",\"max_tokens\":2}", &r), 200);
    resp_deinit(&r);
    CHECK_EQ_INT(call("GET", "/metrics", NULL, &r), 200);
    /* the 8 rejected generation requests above and the two 413s */
    CHECK_CONTAINS(r.body.data, "moecap_requests_total{outcome=\"invalid\"} 10\n");
    resp_deinit(&r);
    srv_close(&v);
}

static int64_t health_running(void)
{
    resp r;
    int64_t n = -1;
    if (call("GET", "/health", NULL, &r) == 200) {
        cJSON *o = cJSON_Parse(r.body.data);
        n = (int64_t)cJSON_GetObjectItem(o, "running")->valuedouble +
            (int64_t)cJSON_GetObjectItem(o, "queued")->valuedouble;
        cJSON_Delete(o);
    }
    resp_deinit(&r);
    return n;
}

/* A client that hangs up mid-stream frees its slot: the only slot serves the next request. */
TEST(disconnect)
{
    srv v;
    if (srv_open(&v, 1, 8, 2000, 1 << 20))
        SKIP("no server");
    resp r;
    resp_init(&r);
    r.abort_after = 3;
    CURL *c = easy("POST", "/v1/completions",
                   "{\"prompt\":\"ab\",\"max_tokens\":200,\"ignore_eos\":true,\"stream\":true}", &r,
                   json_hdr);
    CHECK_EQ_INT(curl_easy_perform(c), CURLE_WRITE_ERROR);
    curl_easy_cleanup(c);
    CHECK(r.events >= 3);
    resp_deinit(&r);
    int64_t busy = -1;
    for (int i = 0; i < 500 && busy != 0; i++) {
        usleep(10000);
        busy = health_running();
    }
    CHECK_EQ_INT(busy, 0);
    CHECK_EQ_INT(call("POST", "/v1/completions", "{\"prompt\":\"ab\",\"max_tokens\":3}", &r), 200);
    resp_deinit(&r);
    CHECK_EQ_INT(call("GET", "/metrics", NULL, &r), 200);
    CHECK_CONTAINS(r.body.data, "moecap_requests_total{outcome=\"cancelled\"} 1\n");
    resp_deinit(&r);
    srv_close(&v);
}

/* Per-request token totals of the records against usage: prompt + completion - 1. */
static void check_records(const char *jsonl, const char *id, int64_t np, int64_t nc)
{
    mc_pass_set set;
    mc_pass_set_init(&set);
    CHECK_EQ_INT(mc_pass_parse_jsonl(jsonl, strlen(jsonl), 1, 0, &set, NULL), MC_OK);
    int64_t sum = 0, last = 0;
    for (size_t i = 0; i < set.n; i++) {
        CHECK_STR(set.v[i].gpu_raw_type, "test-cpu");
        CHECK_EQ_INT(set.v[i].gpu_num, 1);
        for (int64_t k = 0; k < set.v[i].n_chunks; k++)
            if (strcmp(set.v[i].chunks[k].req_id, id) == 0) {
                sum += set.v[i].chunks[k].extend_len;
                last += set.v[i].chunks[k].is_last_chunk == 1;
            }
    }
    CHECK_EQ_INT(sum, np + nc - 1);
    CHECK_EQ_INT(last, 1);
    mc_pass_set_deinit(&set);
}

TEST(recording)
{
    srv v;
    if (srv_open(&v, 2, 8, 100, 1 << 20))
        SKIP("no server");
    resp r;
    CHECK_EQ_INT(call("POST", "/v1/completions", "{\"prompt\":\"ab\",\"max_tokens\":2}", &r), 200);
    resp_deinit(&r); /* before recording: not recorded */
    CHECK_EQ_INT(call("POST", "/moecap/record/start", "", &r), 200);
    CHECK_STR(r.body.data, "{\"status\":\"ok\",\"recording\":true,\"total_records\":0}");
    resp_deinit(&r);
    CHECK_EQ_INT(call("POST", "/v1/completions",
                      "{\"prompt\":\"abcd\",\"max_tokens\":5,"
                      "\"ignore_eos\":true}",
                      &r),
                 200);
    cJSON *o = cJSON_Parse(r.body.data);
    char id[64];
    snprintf(id, sizeof id, "%s", cJSON_GetObjectItem(o, "id")->valuestring);
    cJSON_Delete(o);
    resp_deinit(&r);
    CHECK_EQ_INT(call("POST", "/moecap/record/stop", "", &r), 200);
    CHECK_CONTAINS(r.body.data, "\"recording\":false");
    resp_deinit(&r);
    CHECK_EQ_INT(call("GET", "/moecap/records", NULL, &r), 200);
    CHECK_CONTAINS(r.headers.data, "application/x-ndjson");
    CHECK_CONTAINS(r.headers.data, "X-Moecap-Records: 5");
    check_records(r.body.data, id, 6, 5);
    resp_deinit(&r);
    /* the vLLM-style aliases */
    CHECK_EQ_INT(call("GET", "/batch_recording_status", NULL, &r), 200);
    CHECK_STR(r.body.data, "{\"is_recording\":false,\"total_records\":5}");
    resp_deinit(&r);
    CHECK_EQ_INT(call("POST", "/start_batch_recording", "", &r), 200);
    CHECK_CONTAINS(r.body.data, "\"status\":\"success\"");
    resp_deinit(&r);
    CHECK_EQ_INT(call("POST", "/v1/chat/completions",
                      "{\"messages\":[{\"role\":\"user\",\"content\":\"ab\"}],\"max_tokens\":3,"
                      "\"ignore_eos\":true}",
                      &r),
                 200);
    resp_deinit(&r);
    CHECK_EQ_INT(call("POST", "/stop_batch_recording", "", &r), 200);
    CHECK_CONTAINS(r.body.data, "\"total_records\":3");
    resp_deinit(&r);
    CHECK_EQ_INT(call("POST", "/dump_batch_recording", "", &r), 200);
    o = cJSON_Parse(r.body.data);
    CHECK_STR(cJSON_GetObjectItem(o, "status")->valuestring, "success");
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(o, "records")), 3);
    CHECK_EQ_INT(cJSON_GetObjectItem(o, "total_records")->valuedouble, 3);
    const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "records"), 0);
    CHECK_STR(cJSON_GetObjectItem(first, "forward_mode")->valuestring, "prefill");
    cJSON_Delete(o);
    resp_deinit(&r);
    CHECK_EQ_INT(call("POST", "/clear_batch_recording", "", &r), 200);
    resp_deinit(&r);
    CHECK_EQ_INT(call("GET", "/moecap/records", NULL, &r), 200);
    CHECK_STR(r.body.data, "");
    resp_deinit(&r);
    srv_close(&v);
}

/* One slot, one queue place: of three concurrent requests one gets 503 with Retry-After. */
TEST(queue_full)
{
    srv v;
    if (srv_open(&v, 1, 1, 3000, 1 << 20))
        SKIP("no server");
    CURLM *m = curl_multi_init();
    resp rs[3];
    CURL *cs[3];
    for (int i = 0; i < 3; i++) {
        resp_init(&rs[i]);
        cs[i] = easy("POST", "/v1/completions",
                     "{\"prompt\":\"ab\",\"max_tokens\":20,"
                     "\"ignore_eos\":true}",
                     &rs[i], json_hdr);
        curl_multi_add_handle(m, cs[i]);
    }
    int running = 1;
    while (running) {
        curl_multi_perform(m, &running);
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    int ok = 0, busy = 0;
    for (int i = 0; i < 3; i++) {
        long st = 0;
        curl_easy_getinfo(cs[i], CURLINFO_RESPONSE_CODE, &st);
        ok += st == 200;
        if (st == 503) {
            busy++;
            CHECK_CONTAINS(rs[i].headers.data, "Retry-After: 1");
            CHECK_CONTAINS(rs[i].body.data, "\"code\":\"queue_full\"");
        }
        curl_multi_remove_handle(m, cs[i]);
        curl_easy_cleanup(cs[i]);
        resp_deinit(&rs[i]);
    }
    curl_multi_cleanup(m);
    CHECK_EQ_INT(ok, 2);
    CHECK_EQ_INT(busy, 1);
    srv_close(&v);
}

/* Shutdown while a stream runs: the stream ends properly ([DONE]), new connections fail. */
TEST(shutdown)
{
    srv v;
    if (srv_open(&v, 1, 4, 2000, 1 << 20))
        SKIP("no server");
    CURLM *m = curl_multi_init();
    resp r;
    resp_init(&r);
    CURL *c = easy("POST", "/v1/completions",
                   "{\"prompt\":\"ab\",\"max_tokens\":200,"
                   "\"ignore_eos\":true,\"stream\":true}",
                   &r, json_hdr);
    curl_multi_add_handle(m, c);
    int running = 1;
    while (running && r.events < 2) { /* until the stream is under way */
        curl_multi_perform(m, &running);
        curl_multi_poll(m, NULL, 0, 50, NULL);
    }
    /* no grace period: the stream is cut; its last chunks wait in the socket buffer */
    mc_server_shutdown(v.s, 0);
    while (running) {
        curl_multi_perform(m, &running);
        if (running)
            curl_multi_poll(m, NULL, 0, 50, NULL);
    }
    sse_sum s;
    CHECK_EQ_INT(sse_parse(r.body.data, &s), 0);
    CHECK_STR(s.finish, "abort");
    CHECK(s.completion_tokens < 200);
    mc_buf_deinit(&s.text);
    curl_multi_remove_handle(m, c);
    curl_easy_cleanup(c);
    curl_multi_cleanup(m);
    resp_deinit(&r);
    resp q;
    CHECK_EQ_INT(call("GET", "/health", NULL, &q), 0); /* nobody listens */
    resp_deinit(&q);
    mc_server_free(v.s);
    srv_fake_free(v.fake);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    json_hdr = curl_slist_append(NULL, "Content-Type: application/json");
    RUN(basic_endpoints);
    RUN(streaming);
    RUN(concurrent_streams);
    RUN(errors);
    RUN(disconnect);
    RUN(recording);
    RUN(queue_full);
    RUN(shutdown);
    curl_slist_free_all(json_hdr);
    curl_global_cleanup();
    return harness_done();
}
