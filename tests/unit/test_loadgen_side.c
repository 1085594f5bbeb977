/* test_loadgen_side.c: the load generator's side channels: the Prometheus text parser and
 * counter deltas (exact values from hand-written pages, every kind of line), and the blocking
 * HTTP calls against the mock server's recording protocol and /metrics, including the records
 * the mock makes for what it streamed. */
#include "harness.h"
#include "loadgen.h"
#include "mock_server.h"

#include <cjson/cJSON.h>

static const mc_lg_prom_sample *sample(const mc_lg_prom *p, const char *key)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->v[i].key, key) == 0)
            return &p->v[i];
    return NULL;
}

static const char page1[] = "# HELP req_total Requests.\n"
                            "# TYPE req_total counter\n"
                            "req_total{code=\"200\",path=\"/v1\"} 10\n"
                            "req_total{code=\"500\"} 2 1700000000000\n"
                            "# TYPE om counter\n"
                            "om_total 5\n"
                            "om_created 1.7e9\n"
                            "# TYPE temp gauge\n"
                            "temp 3.5\n"
                            "# TYPE lat histogram\n"
                            "lat_bucket{le=\"0.1\"} 4\n"
                            "lat_bucket{le=\"+Inf\"} 6\n"
                            "lat_sum 0.75\n"
                            "lat_count 6\n"
                            "# TYPE q summary\n"
                            "q{quantile=\"0.5\"} NaN\n"
                            "q_sum 12\n"
                            "q_count 3\n"
                            "loose 7\r\n"
                            "esc{note=\"a \\\"b\\\" } c\",x=\"y\"} +Inf\n"
                            "this is not a sample\n"
                            "nolabelsend{a=\"1\" 3\n"
                            "\n"
                            "# a comment\n";

TEST(prom_parse_kinds)
{
    mc_lg_prom p;
    mc_lg_prom_init(&p);
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_lg_prom_parse(page1, sizeof page1 - 1, 0, &p, &d), MC_OK);
    CHECK_EQ_INT(p.n, 14);
    CHECK_EQ_INT(p.n_skipped, 2); /* "this is not a sample", the unterminated label set */
    const mc_lg_prom_sample *s = sample(&p, "req_total{code=\"200\",path=\"/v1\"}");
    CHECK(s && s->kind == MC_PROM_COUNTER && s->cumulative && s->value == 10 && s->name_len == 9);
    s = sample(&p, "req_total{code=\"500\"}"); /* the timestamp is not the value */
    CHECK(s && s->value == 2);
    s = sample(&p, "om_total"); /* OpenMetrics: family om, sample om_total */
    CHECK(s && s->kind == MC_PROM_COUNTER && s->cumulative);
    s = sample(&p, "om_created");
    CHECK(s && !s->cumulative);
    s = sample(&p, "temp");
    CHECK(s && s->kind == MC_PROM_GAUGE && !s->cumulative && s->value == 3.5);
    s = sample(&p, "lat_bucket{le=\"+Inf\"}");
    CHECK(s && s->kind == MC_PROM_HISTOGRAM && !s->cumulative && s->value == 6);
    s = sample(&p, "lat_sum");
    CHECK(s && s->cumulative && s->value == 0.75);
    s = sample(&p, "q_count");
    CHECK(s && s->kind == MC_PROM_SUMMARY && s->cumulative && s->value == 3);
    s = sample(&p, "q{quantile=\"0.5\"}");
    CHECK(s && isnan(s->value) && !s->cumulative);
    s = sample(&p, "loose");
    CHECK(s && s->kind == MC_PROM_UNTYPED && !s->cumulative && s->value == 7);
    s = sample(&p, "esc{note=\"a \\\"b\\\" } c\",x=\"y\"}");
    CHECK(s && isinf(s->value) && s->value > 0);
    mc_lg_prom_deinit(&p);
    CHECK_EQ_INT(p.n, 0);
}

TEST(prom_deltas)
{
    static const char after[] = "# TYPE req_total counter\n"
                                "req_total{code=\"200\",path=\"/v1\"} 25\n"
                                "req_total{code=\"500\"} 1\n"
                                "req_total{code=\"404\"} 4\n"
                                "# TYPE om counter\nom_total 5\n"
                                "# TYPE temp gauge\ntemp 9\n"
                                "# TYPE lat histogram\nlat_bucket{le=\"0.1\"} 9\n"
                                "lat_sum 1.25\nlat_count 11\n";
    mc_lg_prom b, a;
    mc_lg_prom_init(&b);
    mc_lg_prom_init(&a);
    CHECK_EQ_INT(mc_lg_prom_parse(page1, sizeof page1 - 1, 0, &b, NULL), MC_OK);
    CHECK_EQ_INT(mc_lg_prom_parse(after, sizeof after - 1, 0, &a, NULL), MC_OK);
    mc_lg_prom_delta *v = NULL;
    size_t n = 0;
    CHECK_EQ_INT(mc_lg_prom_deltas(&b, &a, &v, &n, NULL), MC_OK);
    CHECK_EQ_INT(n, 6); /* 4 counters, lat_sum, lat_count; not the gauge or the bucket */
    if (n == 6) {
        CHECK_STR(v[0].key, "req_total{code=\"200\",path=\"/v1\"}");
        CHECK_NEAR(v[0].delta, 15, 0);
        CHECK(v[1].reset && v[1].delta == 1); /* 2 -> 1: restarted, counted from 0 */
        CHECK(v[2].is_new && v[2].delta == 4 && !v[2].reset);
        CHECK_STR(v[3].key, "om_total");
        CHECK_NEAR(v[3].delta, 0, 0);
        CHECK_NEAR(v[4].delta, 0.5, 1e-12);
        CHECK_NEAR(v[5].delta, 5, 0);
    }
    mc_free(v);
    mc_lg_prom_deinit(&b);
    mc_lg_prom_init(&b);
    /* the sample limit */
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_lg_prom_parse(page1, sizeof page1 - 1, 3, &b, &d), MC_ERR_RANGE);
    CHECK_CONTAINS(d.msg, "more than 3 samples");
    mc_lg_prom_deinit(&b);
    mc_lg_prom_deinit(&a);
}

/* Every prefix of a page parses without error (a cut line is a skipped line or a sample). */
TEST(prom_any_prefix)
{
    for (size_t k = 0; k <= sizeof page1 - 1; k++) {
        mc_lg_prom p;
        mc_lg_prom_init(&p);
        CHECK_EQ_INT(mc_lg_prom_parse(page1, k, 0, &p, NULL), MC_OK);
        CHECK(p.n <= 14);
        mc_lg_prom_deinit(&p);
    }
}

static mc_mock *start_mock(int recording, int metrics)
{
    mc_mock *m = NULL;
    mc_mock_opts o = {.ttft_ms = 2, .itl_ms = 1, .recording = recording, .metrics = metrics};
    return mc_mock_start(&o, &m, NULL) == MC_OK ? m : NULL;
}

TEST(http_calls)
{
    mc_mock *m = start_mock(MC_MOCK_REC_MOECAP, 1);
    CHECK(m != NULL);
    if (!m)
        return;
    mc_lg_http *h = NULL;
    mc_diag d = {{0}};
    char base[160];
    snprintf(base, sizeof base, "%s/v1", mc_mock_url(m)); /* the root is found from /v1 */
    CHECK_EQ_INT(mc_lg_http_new(base, "k", 5, &h, &d), MC_OK);
    long st = 0;
    size_t n = 0;
    CHECK_EQ_INT(mc_lg_http_call(h, "POST", "/moecap/record/start", NULL, 4096, &st, &d), MC_OK);
    CHECK_EQ_INT(st, 200);
    CHECK_STR(mc_lg_http_body(h, &n), "{\"status\":\"ok\",\"recording\":true,\"total_records\":0}");
    CHECK_EQ_INT(mc_lg_http_call(h, "GET", "/moecap/records", NULL, 4096, &st, &d), MC_OK);
    CHECK_STR(mc_lg_http_header(h, "x-moecap-records"), "0");
    CHECK_STR(mc_lg_http_header(h, "X-Moecap-Dropped"), "0");
    CHECK(mc_lg_http_header(h, "X-Nothing") == NULL);
    CHECK_EQ_INT(mc_lg_http_call(h, "GET", "/nope", NULL, 4096, &st, &d), MC_OK);
    CHECK_EQ_INT(st, 404);
    CHECK_EQ_INT(mc_lg_http_call(h, "GET", "/metrics", NULL, 64, &st, &d), MC_ERR_RANGE);
    CHECK_CONTAINS(d.msg, "larger than 64 bytes");
    CHECK_EQ_INT(mc_lg_http_call(h, "GET", "/metrics", NULL, 1 << 20, &st, &d), MC_OK);
    CHECK_CONTAINS(mc_lg_http_body(h, &n), "# TYPE mock_requests_total counter");
    mc_lg_http_free(h);
    mc_mock_stop(m);
    /* nothing listens any more */
    CHECK_EQ_INT(mc_lg_http_new(base, NULL, 5, &h, &d), MC_OK);
    CHECK_EQ_INT(mc_lg_http_call(h, "GET", "/metrics", NULL, 4096, &st, &d), MC_ERR_NET);
    CHECK_EQ_INT(st, 0);
    mc_lg_http_free(h);
    CHECK_EQ_INT(mc_lg_http_new("ftp://x", NULL, 5, &h, &d), MC_ERR_ARG);
}

typedef struct counter {
    int ok, n;
} counter;

static void on_result(const mc_lg_result *r, void *ctx)
{
    counter *c = ctx;
    c->n++;
    c->ok += r->fail == MC_LG_OK;
}

/* Runs n streamed requests of `tokens` tokens (32-token prompts), `conc` at a time. */
static void run_requests(mc_mock *m, int n, int conc, int tokens, counter *c)
{
    char url[160], body[400];
    snprintf(url, sizeof url, "%s/v1/completions", mc_mock_url(m));
    mc_lg_client_opts co = {
        .url = url, .stream = 1, .max_inflight = 8, .on_result = on_result, .ctx = c};
    mc_lg_client *cl = NULL;
    if (mc_lg_client_new(&co, &cl, NULL) != MC_OK)
        return;
    snprintf(body, sizeof body, "{\"prompt\": \"%s\", \"max_tokens\": %d, \"stream\": true}",
             "a b c d e f g h i j k l m n o p q r s t u v w x y z a b c d e f", tokens);
    mc_lg_workload w;
    mc_lg_workload_init(&w);
    mc_lg_workload_add(&w, "x", 1, (uint32_t)tokens, NULL);
    w.p[0].body = mc_strdup(body);
    w.p[0].body_len = strlen(body);
    mc_lg_run_opts ro = {
        .mode = MC_LG_CLOSED, .concurrency = (uint32_t)conc, .num_requests = (uint64_t)n};
    mc_lg_run_info info;
    mc_lg_run(cl, &w, &ro, &info, NULL);
    mc_lg_workload_deinit(&w);
    mc_lg_client_free(cl);
}

/* The records the mock makes: one per streamed token event, a prefill for the first. */
TEST(mock_records_follow_streams)
{
    mc_mock *m = start_mock(MC_MOCK_REC_MOECAP, 0);
    if (!m)
        return;
    mc_lg_http *h = NULL;
    long st = 0;
    size_t n = 0;
    counter c = {0};
    CHECK_EQ_INT(mc_lg_http_new(mc_mock_url(m), NULL, 5, &h, NULL), MC_OK);
    run_requests(m, 2, 1, 3, &c); /* before recording: no records */
    CHECK_EQ_INT(mc_lg_http_call(h, "POST", "/start_batch_recording", NULL, 4096, &st, NULL),
                 MC_OK);
    run_requests(m, 3, 1, 4, &c); /* one stream at a time */
    CHECK_EQ_INT(mc_lg_http_call(h, "POST", "/moecap/record/stop", NULL, 4096, &st, NULL), MC_OK);
    run_requests(m, 2, 1, 3, &c); /* after: none either */
    CHECK_EQ_INT(c.ok, 7);
    CHECK_EQ_INT(mc_lg_http_call(h, "GET", "/moecap/records", NULL, 1 << 20, &st, NULL), MC_OK);
    CHECK_STR(mc_lg_http_header(h, "X-Moecap-Records"), "12");
    const char *body = mc_lg_http_body(h, &n);
    int pre = 0, dec = 0;
    for (const char *p = body; (p = strchr(p, '{')) != NULL; p++) {
        cJSON *j = cJSON_ParseWithLength(p, strcspn(p, "\n"));
        const char *mode = cJSON_GetStringValue(cJSON_GetObjectItem(j, "forward_mode"));
        double b = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "batch_size"));
        double nt = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "new_tokens"));
        double act = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "expert_activation"));
        int is_pre = mode && strcmp(mode, "prefill") == 0;
        pre += is_pre;
        dec += !is_pre;
        CHECK(is_pre ? (b == 1 && nt == 32 && act == 8) : (b == 1 && nt == 1 && act == 2));
        cJSON_Delete(j);
    }
    CHECK_EQ_INT(pre, 3);
    CHECK_EQ_INT(dec, 9);
    /* the vLLM-style dump holds the same records */
    CHECK_EQ_INT(mc_lg_http_call(h, "POST", "/dump_batch_recording", NULL, 1 << 20, &st, NULL),
                 MC_OK);
    cJSON *j = cJSON_Parse(mc_lg_http_body(h, &n));
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "records")), 12);
    CHECK_NEAR(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "total_records")), 12, 0);
    cJSON_Delete(j);
    mc_lg_http_free(h);
    mc_mock_stop(m);
}

/* Without the options the side endpoints do not exist; the vLLM mode has only the aliases. */
TEST(mock_side_routes_optional)
{
    mc_mock *m = start_mock(MC_MOCK_REC_NONE, 0), *v = start_mock(MC_MOCK_REC_VLLM, 0);
    mc_lg_http *h = NULL, *hv = NULL;
    long st = 0;
    if (!m || !v)
        goto out;
    CHECK_EQ_INT(mc_lg_http_new(mc_mock_url(m), NULL, 5, &h, NULL), MC_OK);
    CHECK_EQ_INT(mc_lg_http_call(h, "POST", "/moecap/record/start", NULL, 4096, &st, NULL), 0);
    CHECK_EQ_INT(st, 404);
    CHECK_EQ_INT(mc_lg_http_call(h, "GET", "/metrics", NULL, 4096, &st, NULL), 0);
    CHECK_EQ_INT(st, 404);
    CHECK_EQ_INT(mc_lg_http_new(mc_mock_url(v), NULL, 5, &hv, NULL), MC_OK);
    CHECK_EQ_INT(mc_lg_http_call(hv, "POST", "/moecap/record/start", NULL, 4096, &st, NULL), 0);
    CHECK_EQ_INT(st, 404);
    CHECK_EQ_INT(mc_lg_http_call(hv, "POST", "/start_batch_recording", NULL, 4096, &st, NULL), 0);
    CHECK_EQ_INT(st, 200);
out:
    mc_lg_http_free(h);
    mc_lg_http_free(hv);
    mc_mock_stop(m);
    mc_mock_stop(v);
}

int main(void)
{
    RUN(prom_parse_kinds);
    RUN(prom_deltas);
    RUN(prom_any_prefix);
    RUN(http_calls);
    RUN(mock_records_follow_streams);
    RUN(mock_side_routes_optional);
    return harness_done();
}
