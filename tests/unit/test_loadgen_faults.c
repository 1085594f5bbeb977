/* test_loadgen_faults.c: the client's fault matrix (docs/RELIABILITY.md, "Fault matrix for the
 * client"). Every way a server can misbehave is scripted per request on the in-process mock
 * server ([[mock:fault=...]] markers) and the client must record the request as failed with the
 * right kind (docs/LOADGEN.md section 2), the right HTTP status and a message that says what
 * happened; its memory must stay within the caps whatever the server sends; and a whole run that
 * mixes good and faulty requests must complete with every request accounted for
 * (completed + failed = sent, failures by kind). Connection refused uses a port that was just
 * closed. The `moecap bench` level is tests/integration/test_bench_faults.sh. */
#include "harness.h"
#include "lg_collect.h"
#include "loadgen.h"
#include "mock_server.h"

#include <stdio.h>
#include <stdlib.h>

/* A URL on which nothing listens: a mock's port right after the mock stopped. */
static void refused_url(char *url, size_t n)
{
    mc_mock *m = NULL;
    mc_mock_opts mo = {0};
    if (mc_mock_start(&mo, &m, NULL) != MC_OK) {
        HARNESS_FAIL_("mock did not start");
        snprintf(url, n, "http://127.0.0.1:1/v1/completions");
        return;
    }
    snprintf(url, n, "%s/v1/completions", mc_mock_url(m));
    mc_mock_stop(m);
}

/* ---- the matrix ---------------------------------------------------------------------------- */

enum { EVENT_CAP = 65536, BODY_CAP = 65536 };

typedef struct fault_case {
    const char *what;   /* the case, as docs/RELIABILITY.md names it */
    const char *marker; /* mock directives; NULL = connection refused (no server) */
    mc_lg_fail want;
    int status;      /* HTTP status recorded (0 = no response) */
    const char *msg; /* substring of the recorded message */
    int chunks;      /* token-bearing chunks before the fault; -1 = any */
} fault_case;

/* Cases that behave the same streamed or not: listed once, run in both matrices (the refused
 * case first: the mixed run below skips index 0). */
static const fault_case both_cases[] = {
    {"connection refused", NULL, MC_LG_FAIL_CONNECT, 0, "(no response)", 0},
    {"reset before headers", "fault=reset_headers", MC_LG_FAIL_TRUNCATED, 0, "(no response)", 0},
    {"HTTP 429 with body", "fault=http429", MC_LG_FAIL_HTTP_STATUS, 429, "mock failure", 0},
    {"HTTP 503 with body", "fault=http503", MC_LG_FAIL_HTTP_STATUS, 503, "mock failure", 0},
    {"HTTP 429 empty", "fault=http429_empty", MC_LG_FAIL_HTTP_STATUS, 429,
     "HTTP 429 with an empty body", 0},
    {"HTTP 500 empty", "fault=http500_empty", MC_LG_FAIL_HTTP_STATUS, 500,
     "HTTP 500 with an empty body", 0},
    {"HTTP 503 empty", "fault=http503_empty", MC_LG_FAIL_HTTP_STATUS, 503,
     "HTTP 503 with an empty body", 0},
    {"accepts, never answers", "fault=never_answer", MC_LG_FAIL_TIMEOUT, 0, "(no response)", 0},
};

/* Streamed requests (SSE), 4 tokens each, timeout 1 s, event cap 64 KiB. */
static const fault_case stream_cases[] = {
    {"reset mid-stream", "fault=reset_mid,after=2", MC_LG_FAIL_TRUNCATED, 200, "curl:", 2},
    {"closed mid-stream", "fault=close_mid,after=3", MC_LG_FAIL_TRUNCATED, 200, "curl:", 3},
    {"HTTP 500 with body", "fault=http500", MC_LG_FAIL_HTTP_STATUS, 500, "server_error", 0},
    {"invalid JSON in an event", "fault=bad_json,after=1", MC_LG_FAIL_MALFORMED, 200,
     "invalid JSON", 1},
    {"event over the cap", "fault=huge_event,after=2,size=4000000", MC_LG_FAIL_MALFORMED, 200,
     "event larger than the 65536-byte limit", 2},
    {"no [DONE], no finish_reason", "fault=no_done", MC_LG_FAIL_TRUNCATED, 200,
     "stream ended without [DONE] or finish_reason", 4},
    {"no [DONE], finish_reason", "fault=no_done_finish", MC_LG_OK, 200, "", 4},
    {"closed after the last event", "fault=eof_no_done", MC_LG_FAIL_TRUNCATED, 200,
     "stream ended without [DONE] or finish_reason", 4},
    {"closed after the last event, finish_reason", "fault=eof_finish", MC_LG_OK, 200, "", 4},
    {"chunked stream cut after the last event", "fault=close_mid,after=4", MC_LG_FAIL_TRUNCATED,
     200, "curl:", 4},
    {"stream stalls forever", "fault=stall,after=2", MC_LG_FAIL_TIMEOUT, 200, "curl:", 2},
    {"200 text/plain", "fault=wrong_ctype", MC_LG_FAIL_MALFORMED, 200,
     "content type 'text/plain', expected text/event-stream", 0},
    {"200 text/html page", "fault=html", MC_LG_FAIL_MALFORMED, 200,
     "content type 'text/html; charset=utf-8', expected text/event-stream", 0},
    {"event: error", "fault=error_event,after=1", MC_LG_FAIL_STREAM_ERROR, 200,
     "event: error: {\"error\":{\"message\":\"mock error event\"}}", 1},
    {"{\"error\"} chunk", "fault=error_obj,after=3", MC_LG_FAIL_STREAM_ERROR, 200,
     "server error: mock error object", 3},
    {"good, trickled UTF-8", "utf8=1,trickle=1", MC_LG_OK, 200, "", 4},
    {"good", "tokens=4", MC_LG_OK, 200, "", 4},
};

/* Whole (non-streamed) responses; body cap 64 KiB. */
static const fault_case whole_cases[] = {
    {"reset mid-body", "fault=reset_mid", MC_LG_FAIL_TRUNCATED, 200, "curl:", 0},
    {"closed mid-body", "fault=close_mid", MC_LG_FAIL_TRUNCATED, 200, "curl:", 0},
    {"HTTP 500 with body", "fault=http500", MC_LG_FAIL_HTTP_STATUS, 500, "mock failure", 0},
    {"invalid JSON body", "fault=bad_json", MC_LG_FAIL_MALFORMED, 200, "invalid JSON", 0},
    {"body over the cap", "tokens=30000", MC_LG_FAIL_MALFORMED, 200,
     "response body larger than 65536 bytes", 0},
    {"stalls forever", "fault=stall", MC_LG_FAIL_TIMEOUT, 0, "curl:", 0},
    {"200 text/html page", "fault=html", MC_LG_FAIL_MALFORMED, 200,
     "content type 'text/html; charset=utf-8', expected application/json", 0},
    {"{\"error\"} body", "fault=error_obj", MC_LG_FAIL_STREAM_ERROR, 200,
     "server error: mock error object", 0},
    {"good", "tokens=4", MC_LG_OK, 200, "", 1},
};

#define COUNT(a) (sizeof(a) / sizeof(a)[0])
enum { MATRIX_MAX = 63 }; /* one client's 64 slots, less one for the request after the matrix */

/* The matrix of one mode: both_cases, then the mode's own cases. Returns the number of cases. */
static size_t matrix_cases(int stream, fault_case *out)
{
    const fault_case *own = stream ? stream_cases : whole_cases;
    size_t n_own = stream ? COUNT(stream_cases) : COUNT(whole_cases);
    memcpy(out, both_cases, sizeof both_cases);
    memcpy(out + COUNT(both_cases), own, n_own * sizeof *own);
    return COUNT(both_cases) + n_own;
}

_Static_assert(sizeof both_cases + sizeof stream_cases <= MATRIX_MAX * sizeof(fault_case),
               "stream matrix fits one client");
_Static_assert(sizeof both_cases + sizeof whole_cases <= MATRIX_MAX * sizeof(fault_case),
               "whole matrix fits one client");

static void body_for(char *buf, size_t n, const fault_case *fc, int stream)
{
    snprintf(buf, n,
             "{\"prompt\":\"[[mock:%s]] go\",\"max_tokens\":4,\"stream\":%s,"
             "\"stream_options\":{\"include_usage\":true}}",
             fc->marker ? fc->marker : "", stream ? "true" : "false");
}

static void check_case(const fault_case *fc, const lg_got *g, int stream)
{
    if (g->r.fail != fc->want || g->r.http_status != fc->status || !strstr(g->msg, fc->msg) ||
        (fc->chunks >= 0 && (int)g->r.n_chunks != fc->chunks))
        HARNESS_FAIL_("%s \"%s\": want %s/%d/%d \"%s\"; got %s/%d/%llu \"%s\"",
                      stream ? "stream" : "whole", fc->what, mc_lg_fail_name(fc->want), fc->status,
                      fc->chunks, fc->msg, mc_lg_fail_name(g->r.fail), g->r.http_status,
                      (unsigned long long)g->r.n_chunks, g->msg);
    if (fc->want != MC_LG_OK && fc->want != MC_LG_FAIL_HTTP_STATUS && fc->status == 200 &&
        fc->chunks >= 0)
        CHECK(g->r.first_byte_ns > 0);
    CHECK(g->r.end_ns >= g->r.send_ns);
    if (fc->want == MC_LG_OK)
        CHECK_STR(g->msg, "");
    if (fc->marker && strcmp(fc->marker, "utf8=1,trickle=1") == 0)
        CHECK_STR(g->text, "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"
                           "a");
}

/* Every case at once on one client (64 slots): the faults must not disturb each other or the
 * good requests, and a plain request afterwards still works (the client stayed healthy). */
static void run_matrix(int stream)
{
    fault_case fc[MATRIX_MAX];
    size_t n = matrix_cases(stream, fc);
    mc_mock *m = NULL;
    mc_mock_opts mo = {.tokens = 4};
    if (mc_mock_start(&mo, &m, NULL) != MC_OK) {
        HARNESS_FAIL_("mock did not start");
        return;
    }
    char url[128], dead[128];
    snprintf(url, sizeof url, "%s/v1/completions", mc_mock_url(m));
    refused_url(dead, sizeof dead);
    lg_sink s = {mc_calloc(n + 1, sizeof(lg_got)), 0, n + 1};
    mc_lg_client_opts co = {.stream = stream,
                            .max_inflight = 64,
                            .timeout_s = 1.0,
                            .connect_timeout_s = 1.0,
                            .max_event_bytes = EVENT_CAP,
                            .max_body_bytes = BODY_CAP,
                            .on_result = lg_collect,
                            .ctx = &s};
    mc_lg_client *c = NULL, *cd = NULL;
    co.url = url;
    CHECK_EQ_INT(mc_lg_client_new(&co, &c, NULL), MC_OK);
    co.url = dead;
    CHECK_EQ_INT(mc_lg_client_new(&co, &cd, NULL), MC_OK);
    static char bodies[64][256];
    for (size_t i = 0; c && cd && i < n; i++) {
        body_for(bodies[i], sizeof bodies[i], &fc[i], stream);
        mc_lg_request r = {.id = i, .body = bodies[i], .body_len = strlen(bodies[i])};
        CHECK_EQ_INT(mc_lg_client_submit(fc[i].marker ? c : cd, &r, NULL), MC_OK);
    }
    lg_drain(cd);
    lg_drain(c);
    fault_case good = {"after", "tokens=4", MC_LG_OK, 200, "", stream ? 4 : 1};
    body_for(bodies[63], sizeof bodies[63], &good, stream);
    mc_lg_request r = {.id = 1000, .body = bodies[63], .body_len = strlen(bodies[63])};
    CHECK_EQ_INT(mc_lg_client_submit(c, &r, NULL), MC_OK);
    lg_drain(c);
    CHECK_EQ_INT(s.n, n + 1);
    for (size_t i = 0; i < n; i++) {
        const lg_got *g = lg_find(&s, i);
        if (g)
            check_case(&fc[i], g, stream);
    }
    const lg_got *g = lg_find(&s, 1000);
    if (g)
        check_case(&good, g, stream);
    mc_lg_client_free(cd);
    mc_lg_client_free(c);
    mc_mock_stop(m);
    mc_free(s.g);
}

TEST(stream_fault_matrix)
{
    run_matrix(1);
}

TEST(whole_fault_matrix)
{
    run_matrix(0);
}

/* ---- memory stays bounded ------------------------------------------------------------------ */

/* One slot; the server sends a 32 MiB event, then a 2 MiB body, then a 16 MiB event split into
 * 64-byte data lines (the data joins up, the cap is on the event): nothing beyond the caps is
 * ever buffered. The bound is the caps' worst case (buffers grow by doubling). */
TEST(memory_bounded_by_caps)
{
    mc_mock *m = NULL;
    mc_mock_opts mo = {.tokens = 4};
    if (mc_mock_start(&mo, &m, NULL) != MC_OK)
        return;
    char url[128];
    snprintf(url, sizeof url, "%s/v1/completions", mc_mock_url(m));
    lg_sink s = {mc_calloc(4, sizeof(lg_got)), 0, 4};
    mc_lg_client_opts co = {.url = url,
                            .stream = 1,
                            .max_inflight = 1,
                            .timeout_s = 10,
                            .max_event_bytes = EVENT_CAP,
                            .max_body_bytes = BODY_CAP,
                            .max_text_bytes = 4096,
                            .on_result = lg_collect,
                            .ctx = &s};
    mc_lg_client *c = NULL;
    CHECK_EQ_INT(mc_lg_client_new(&co, &c, NULL), MC_OK);
    if (!c)
        return;
    size_t before = mc_lg_client_mem_bytes(c);
    const char *huge = "{\"prompt\":\"[[mock:fault=huge_event,after=1,size=33554432]]\","
                       "\"max_tokens\":4,\"stream\":true}";
    mc_lg_request r = {.id = 1, .body = huge, .body_len = strlen(huge)};
    CHECK_EQ_INT(mc_lg_client_submit(c, &r, NULL), MC_OK);
    lg_drain(c);
    size_t after = mc_lg_client_mem_bytes(c);
    size_t bound = 4096 + 4 * (EVENT_CAP + 1) + 256 + 2 * (4096 + 1) + 256 * sizeof(mc_ns) + 64;
    CHECK(after <= bound);
    CHECK(after - before <= 4 * (EVENT_CAP + 1));
    lg_got *g = lg_find(&s, 1);
    if (g) {
        CHECK_EQ_INT(g->r.fail, MC_LG_FAIL_MALFORMED);
        CHECK_CONTAINS(g->msg, "65536-byte limit");
    }
    mc_lg_client_free(c);
    /* the same client kind, non-streamed: a 2 MiB body against the 64 KiB body cap */
    co.stream = 0;
    CHECK_EQ_INT(mc_lg_client_new(&co, &c, NULL), MC_OK);
    if (!c)
        return;
    const char *big = "{\"prompt\":\"[[mock:tokens=700000]]\",\"max_tokens\":4}";
    r = (mc_lg_request){.id = 2, .body = big, .body_len = strlen(big)};
    CHECK_EQ_INT(mc_lg_client_submit(c, &r, NULL), MC_OK);
    lg_drain(c);
    CHECK(mc_lg_client_mem_bytes(c) <= bound + 2 * (BODY_CAP + 1));
    g = lg_find(&s, 2);
    if (g) {
        CHECK_EQ_INT(g->r.fail, MC_LG_FAIL_MALFORMED);
        CHECK_CONTAINS(g->msg, "response body larger than 65536 bytes");
    }
    mc_lg_client_free(c);
    mc_mock_stop(m);
    mc_free(s.g);
}

/* The parser alone, fed an endless event in 4 KiB pieces: it fails at the cap and its buffers
 * never grow past the documented bound; after a reset it parses a normal stream again. */
TEST(sse_parser_memory_bounded)
{
    mc_sse *p = mc_sse_new(EVENT_CAP);
    if (!p)
        return;
    char piece[4096];
    memset(piece, 'x', sizeof piece);
    memcpy(piece, "data: ", 6);
    mc_sse_status st = MC_SSE_NEED_MORE;
    size_t fed = 0;
    mc_diag d = {{0}};
    while (st == MC_SSE_NEED_MORE && fed < ((size_t)64 << 20)) {
        size_t used = 0;
        mc_sse_event ev;
        st = mc_sse_feed(p, piece, sizeof piece, &used, &ev, &d);
        fed += sizeof piece;
        memset(piece, 'x', 6);
    }
    CHECK_EQ_INT(st, MC_SSE_FAIL);
    CHECK(fed <= EVENT_CAP + sizeof piece);
    CHECK_CONTAINS(d.msg, "event larger than the 65536-byte limit");
    CHECK(mc_sse_mem_bytes(p) <= 4 * (EVENT_CAP + 1) + 256);
    mc_sse_reset(p);
    size_t used = 0;
    mc_sse_event ev;
    CHECK_EQ_INT(mc_sse_feed(p, "data: {}\n\n", 10, &used, &ev, &d), MC_SSE_EVENT);
    CHECK_EQ_INT(ev.data_len, 2);
    mc_sse_free(p);
}

/* ---- the run completes and counts every request -------------------------------------------- */

/* A closed-loop run (8 in flight) over prompts that cycle through every server-side case of the
 * streamed matrix: it ends, every request sent has exactly one result, and the results by kind
 * are the matrix's, twice over. */
TEST(mixed_run_accounts_for_every_request)
{
    mc_mock *m = NULL;
    mc_mock_opts mo = {.tokens = 4};
    if (mc_mock_start(&mo, &m, NULL) != MC_OK)
        return;
    char url[128];
    snprintf(url, sizeof url, "%s/v1/completions", mc_mock_url(m));
    fault_case cases[MATRIX_MAX];
    size_t n = matrix_cases(1, cases) - 1; /* the refused case (index 0) needs another server */
    lg_sink s = {mc_calloc(2 * n, sizeof(lg_got)), 0, 2 * n};
    mc_lg_client_opts co = {.url = url,
                            .stream = 1,
                            .max_inflight = 8,
                            .timeout_s = 1.0,
                            .max_event_bytes = EVENT_CAP,
                            .on_result = lg_collect,
                            .ctx = &s};
    mc_lg_client *c = NULL;
    CHECK_EQ_INT(mc_lg_client_new(&co, &c, NULL), MC_OK);
    mc_lg_workload w;
    mc_lg_workload_init(&w);
    uint64_t want[MC_LG_FAIL_COUNT_] = {0};
    for (size_t i = 0; i < n; i++) {
        char text[160];
        snprintf(text, sizeof text, "[[mock:%s]] go", cases[i + 1].marker);
        mc_lg_workload_add(&w, text, strlen(text), 4, NULL);
        want[cases[i + 1].want] += 2;
    }
    mc_lg_body_opts bo = {.stream = 1};
    CHECK_EQ_INT(mc_lg_workload_build(&w, &bo, NULL), MC_OK);
    mc_lg_run_opts o = {.mode = MC_LG_CLOSED, .concurrency = 8, .num_requests = 2 * n};
    mc_lg_run_info info;
    mc_diag d = {{0}};
    mc_ns t0 = mc_now_ns();
    CHECK_EQ_INT(mc_lg_run(c, &w, &o, &info, &d), MC_OK);
    CHECK(mc_now_ns() - t0 < 20000000000ull); /* timeouts of 1 s, 8 at a time */
    CHECK_EQ_INT(info.sent, 2 * n);
    CHECK_EQ_INT(s.n, 2 * n);
    uint64_t got_kind[MC_LG_FAIL_COUNT_] = {0}, ok = 0, failed = 0;
    for (size_t i = 0; i < s.n; i++) {
        const fault_case *fc = &cases[s.g[i].r.id % n + 1];
        got_kind[s.g[i].r.fail]++;
        ok += s.g[i].r.fail == MC_LG_OK;
        failed += s.g[i].r.fail != MC_LG_OK;
        check_case(fc, &s.g[i], 1);
    }
    CHECK_EQ_INT(ok + failed, info.sent);
    for (int k = 0; k < MC_LG_FAIL_COUNT_; k++)
        if (got_kind[k] != want[k])
            HARNESS_FAIL_("%s: %llu results, want %llu", mc_lg_fail_name((mc_lg_fail)k),
                          (unsigned long long)got_kind[k], (unsigned long long)want[k]);
    mc_lg_workload_deinit(&w);
    mc_lg_client_free(c);
    mc_mock_stop(m);
    mc_free(s.g);
}

int main(void)
{
    RUN(stream_fault_matrix);
    RUN(whole_fault_matrix);
    RUN(memory_bounded_by_caps);
    RUN(sse_parser_memory_bounded);
    RUN(mixed_run_accounts_for_every_request);
    return harness_done();
}
