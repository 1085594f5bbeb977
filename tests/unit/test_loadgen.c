/* test_loadgen.c: the load generator's pure parts: SSE vectors (whole, byte by byte and at
 * seeded random split points), the chunk interpreter, arrival schedules, workloads and URL
 * helpers. The client against the mock server is in test_loadgen_client.c. */
#include "harness.h"
#include "loadgen.h"

#include <cjson/cJSON.h>

/* ---- SSE ----------------------------------------------------------------------------------- */

typedef struct sse_vec {
    const char *name;
    const char *in;
    const char *want; /* events as "M:data|", "D|", "E:data|"; "!" appended after a failure */
    size_t max;       /* 0 = default cap */
    int pending;      /* expect unfinished bytes at the end */
} sse_vec;

static const sse_vec sse_vecs[] = {
    {"space", "data: hello\n\n", "M:hello|", 0, 0},
    {"no space", "data:hello\n\n", "M:hello|", 0, 0},
    {"one space stripped", "data:  two\n\n", "M: two|", 0, 0},
    {"multi-line", "data: a\ndata: b\n\n", "M:a\nb|", 0, 0},
    {"crlf", "data: x\r\n\r\n", "M:x|", 0, 0},
    {"crlf multi-line", "data: a\r\ndata: b\r\n\r\n", "M:a\nb|", 0, 0},
    {"cr only", "data: x\r\rdata: y\r\r", "M:x|M:y|", 0, 0},
    {"mixed endings", "data: 1\r\n\ndata: 2\n\r\n", "M:1|M:2|", 0, 0},
    {"comments", ": keep-alive\n\ndata: z\n: mid\n\n", "M:z|", 0, 0},
    {"done", "data: [DONE]\n\n", "D|", 0, 0},
    {"done trailing space", "data: [DONE] \n\n", "D|", 0, 0},
    {"done is exact", "data: [DONE]x\n\n", "M:[DONE]x|", 0, 0},
    {"error event", "event: error\ndata: {\"error\":\"x\"}\n\n", "E:{\"error\":\"x\"}|", 0, 0},
    {"event type resets", "event: error\n\ndata: ok\n\n", "M:ok|", 0, 0},
    {"error type per event", "event: error\ndata: a\n\ndata: b\n\n", "E:a|M:b|", 0, 0},
    {"other event name", "event: message\ndata: m\n\n", "M:m|", 0, 0},
    {"id and retry ignored", "id: 5\nretry: 100\ndata: q\n\n", "M:q|", 0, 0},
    {"empty data line", "data\n\n", "M:|", 0, 0},
    {"two events", "data: a\n\ndata: b\n\n", "M:a|M:b|", 0, 0},
    {"bom",
     "\xEF\xBB\xBF"
     "data: bom\n\n",
     "M:bom|", 0, 0},
    {"utf8", "data: {\"t\":\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"}\n\n",
     "M:{\"t\":\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"}|", 0, 0},
    {"no blank line yet", "data: partial\n", "", 0, 1},
    {"cut inside a line", "data: a\n\ndata: par", "M:a|", 0, 1},
    {"unknown field", "foo\nbar: baz\ndata: x\n\n", "M:x|", 0, 0},
    {"extra blank lines", "\n\ndata: x\n\n\n\n", "M:x|", 0, 0},
    {"openai stream",
     "data: {\"choices\":[{\"text\":\" a\"}]}\n\n"
     "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\n"
     "data: [DONE]\n\n",
     "M:{\"choices\":[{\"text\":\" a\"}]}|"
     "M:{\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}|D|",
     0, 0},
    /* cap 32: a line costs its length + 1 on top of the data already held */
    {"at the cap", "data: 0123456789012345678901234\n\n", "M:0123456789012345678901234|", 32, 0},
    {"over the cap", "data: 01234567890123456789012345\n\n", "!", 32, 0},
    {"over the cap across lines", "data: 0123456789\ndata: 0123456789\ndata: 0123456789\n\n", "!",
     32, 0},
    {"cap resets per event", "data: 0123456789\n\ndata: 0123456789\n\n",
     "M:0123456789|M:0123456789|", 32, 0},
    {"long comment over the cap", ": 0123456789012345678901234567890123\n\ndata: x\n\n", "!", 32,
     0},
    {"sticky failure", "data: 01234567890123456789012345\n\ndata: ok\n\n", "!", 32, 0},
};

static void sse_record(mc_buf *out, const mc_sse_event *ev)
{
    const char *k = ev->kind == MC_SSE_DONE ? "D" : ev->kind == MC_SSE_ERROR_EVENT ? "E" : "M";
    mc_buf_printf(out, "%s", k);
    if (ev->kind != MC_SSE_DONE) {
        mc_buf_append(out, ":", 1);
        mc_buf_append(out, ev->data, ev->data_len);
    }
    mc_buf_append(out, "|", 1);
}

/* Feeds `in` cut at the given positions (sorted, strictly inside); returns events as text. */
static int sse_run(const sse_vec *v, const size_t *cuts, size_t ncuts, mc_buf *out, size_t *pending)
{
    mc_sse *p = mc_sse_new(v->max);
    size_t len = strlen(v->in), start = 0;
    int failed = 0;
    for (size_t c = 0; c <= ncuts && !failed; c++) {
        size_t end = c < ncuts ? cuts[c] : len;
        const char *s = v->in + start;
        size_t n = end - start;
        while (!failed) {
            size_t used = 0;
            mc_sse_event ev;
            mc_diag d = {{0}};
            mc_sse_status st = mc_sse_feed(p, s, n, &used, &ev, &d);
            if (st == MC_SSE_FAIL) {
                mc_buf_append(out, d.msg[0] ? "!" : "!(no message)", d.msg[0] ? 1 : 13);
                failed = 1;
                break;
            }
            s += used;
            n -= used;
            if (st == MC_SSE_NEED_MORE)
                break;
            sse_record(out, &ev);
        }
        start = end;
    }
    *pending = mc_sse_pending(p);
    if (failed) { /* sticky: any further input fails too */
        size_t used;
        mc_sse_event ev;
        if (mc_sse_feed(p, "\n\n", 2, &used, &ev, NULL) != MC_SSE_FAIL)
            mc_buf_append(out, "(not sticky)", 12);
    }
    mc_sse_free(p);
    return failed;
}

static void sse_check(const sse_vec *v, const size_t *cuts, size_t ncuts, const char *mode)
{
    mc_buf out;
    mc_buf_init(&out, 0);
    mc_buf_append(&out, "", 0);
    size_t pending = 0;
    int failed = sse_run(v, cuts, ncuts, &out, &pending);
    if (strcmp(out.data, v->want) != 0)
        HARNESS_FAIL_("sse '%s' (%s): got \"%s\", want \"%s\"", v->name, mode, out.data, v->want);
    if (!failed && (pending > 0) != (v->pending != 0))
        HARNESS_FAIL_("sse '%s' (%s): pending %zu", v->name, mode, pending);
    mc_buf_deinit(&out);
}

TEST(sse_vectors_whole_bytewise_random)
{
    mc_rng r;
    mc_rng_seed(&r, 20240611);
    size_t cuts[4096];
    for (size_t i = 0; i < sizeof sse_vecs / sizeof sse_vecs[0]; i++) {
        const sse_vec *v = &sse_vecs[i];
        size_t len = strlen(v->in);
        sse_check(v, NULL, 0, "whole");
        for (size_t k = 1; k < len; k++)
            cuts[k - 1] = k;
        sse_check(v, cuts, len - 1, "byte by byte");
        for (int rep = 0; rep < 200; rep++) {
            size_t n = 0;
            for (size_t k = 1; k < len; k++)
                if (mc_rng_below(&r, 4) == 0)
                    cuts[n++] = k;
            sse_check(v, cuts, n, "random split");
        }
    }
}

TEST(sse_reset_and_consumed)
{
    mc_sse *p = mc_sse_new(0);
    const char *in = "data: a\n\ndata: b\n\n";
    size_t used = 0;
    mc_sse_event ev;
    CHECK_EQ_INT(mc_sse_feed(p, in, strlen(in), &used, &ev, NULL), MC_SSE_EVENT);
    CHECK_EQ_INT(used, 9); /* stops right after the first event */
    CHECK_STR(ev.data, "a");
    CHECK_EQ_INT(mc_sse_feed(p, in + used, strlen(in) - used, &used, &ev, NULL), MC_SSE_EVENT);
    CHECK_STR(ev.data, "b");
    CHECK_EQ_INT(mc_sse_feed(p, "data: x", 7, &used, &ev, NULL), MC_SSE_NEED_MORE);
    CHECK_EQ_INT(mc_sse_pending(p), 7);
    mc_sse_reset(p);
    CHECK_EQ_INT(mc_sse_pending(p), 0);
    CHECK_EQ_INT(mc_sse_feed(p, "data: y\n\n", 9, &used, &ev, NULL), MC_SSE_EVENT);
    CHECK_STR(ev.data, "y");
    /* oversize: the message names the limit */
    mc_sse_free(p);
    p = mc_sse_new(16);
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_sse_feed(p, "data: 0123456789abcdef\n\n", 24, &used, &ev, &d), MC_SSE_FAIL);
    CHECK_CONTAINS(d.msg, "16-byte limit");
    mc_sse_reset(p);
    CHECK_EQ_INT(mc_sse_feed(p, "data: ok\n\n", 10, &used, &ev, NULL), MC_SSE_EVENT);
    mc_sse_free(p);
}

/* ---- chunk interpreter --------------------------------------------------------------------- */

static mc_err parse(const char *s, mc_chunk *c, mc_diag *d)
{
    return mc_chunk_parse(s, strlen(s), c, d);
}

TEST(chunk_completions_and_chat)
{
    mc_chunk c;
    CHECK_EQ_INT(
        parse("{\"choices\":[{\"index\":0,\"text\":\" hi\",\"finish_reason\":null}]}", &c, NULL),
        MC_OK);
    CHECK_STR(c.text, " hi");
    CHECK_EQ_INT(c.text_len, 3);
    CHECK(c.finish_reason == NULL);
    CHECK_EQ_INT(c.has_choices, 1);
    CHECK_EQ_INT(c.has_usage, 0);
    CHECK_EQ_INT(c.completion_tokens, -1);
    mc_chunk_deinit(&c);

    CHECK_EQ_INT(parse("{\"choices\":[{\"delta\":{\"content\":\"\xC3\xA9\"},\"finish_reason\":"
                       "\"stop\"}]}",
                       &c, NULL),
                 MC_OK);
    CHECK_STR(c.text, "\xC3\xA9");
    CHECK_EQ_INT(c.text_len, 2);
    CHECK_STR(c.finish_reason, "stop");
    mc_chunk_deinit(&c);

    /* role-only first chunk and null content: not token-bearing */
    CHECK_EQ_INT(
        parse("{\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":null}}]}", &c, NULL),
        MC_OK);
    CHECK_EQ_INT(c.text_len, 0);
    CHECK_EQ_INT(c.reasoning_len, 0);
    CHECK_STR(c.text, "");
    mc_chunk_deinit(&c);

    CHECK_EQ_INT(parse("{\"choices\":[{\"delta\":{\"reasoning_content\":\"think\"}}]}", &c, NULL),
                 MC_OK);
    CHECK_STR(c.reasoning, "think");
    CHECK_EQ_INT(c.text_len, 0);
    mc_chunk_deinit(&c);
    CHECK_EQ_INT(
        parse("{\"choices\":[{\"delta\":{\"reasoning\":\"hm\",\"content\":\"x\"}}]}", &c, NULL),
        MC_OK);
    CHECK_STR(c.reasoning, "hm");
    CHECK_STR(c.text, "x");
    mc_chunk_deinit(&c);

    /* whole non-streamed chat response */
    CHECK_EQ_INT(parse("{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"all\"},"
                       "\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":7,"
                       "\"completion_tokens\":3,\"total_tokens\":10}}",
                       &c, NULL),
                 MC_OK);
    CHECK_STR(c.text, "all");
    CHECK_STR(c.finish_reason, "length");
    CHECK_EQ_INT(c.prompt_tokens, 7);
    CHECK_EQ_INT(c.completion_tokens, 3);
    mc_chunk_deinit(&c);
}

TEST(chunk_usage_error_invalid)
{
    mc_chunk c;
    mc_diag d = {{0}};
    CHECK_EQ_INT(parse("{\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":"
                       "34}}",
                       &c, NULL),
                 MC_OK);
    CHECK_EQ_INT(c.has_choices, 0);
    CHECK_EQ_INT(c.has_usage, 1);
    CHECK_EQ_INT(c.prompt_tokens, 12);
    CHECK_EQ_INT(c.completion_tokens, 34);
    mc_chunk_deinit(&c);

    CHECK_EQ_INT(parse("{\"usage\":{\"prompt_tokens\":1.5,\"completion_tokens\":-2}}", &c, NULL),
                 MC_OK);
    CHECK_EQ_INT(c.prompt_tokens, -1);
    CHECK_EQ_INT(c.completion_tokens, -1);
    CHECK_EQ_INT(c.has_usage, 0);
    mc_chunk_deinit(&c);

    CHECK_EQ_INT(parse("{\"error\":{\"message\":\"boom\",\"code\":500}}", &c, NULL), MC_OK);
    CHECK_STR(c.error, "boom");
    mc_chunk_deinit(&c);
    CHECK_EQ_INT(parse("{\"error\":\"plain\"}", &c, NULL), MC_OK);
    CHECK_STR(c.error, "plain");
    mc_chunk_deinit(&c);
    CHECK_EQ_INT(parse("{\"error\":{\"code\":1}}", &c, NULL), MC_OK);
    CHECK_STR(c.error, "error object without a message");
    mc_chunk_deinit(&c);
    CHECK_EQ_INT(parse("{\"error\":null,\"choices\":[{\"text\":\"a\"}]}", &c, NULL), MC_OK);
    CHECK(c.error == NULL);
    mc_chunk_deinit(&c);

    CHECK_EQ_INT(parse("{\"choices\": [ oops", &c, &d), MC_ERR_FORMAT);
    CHECK_CONTAINS(d.msg, "invalid JSON");
    CHECK_EQ_INT(parse("[1,2]", &c, &d), MC_ERR_FORMAT);
    CHECK_CONTAINS(d.msg, "not a JSON object");
    mc_chunk_deinit(NULL);
}

/* ---- schedules ----------------------------------------------------------------------------- */

static void interval_stats(const mc_ns *t, size_t n, double *mean, double *cv)
{
    double s = 0, s2 = 0, prev = 0;
    for (size_t i = 0; i < n; i++) {
        double x = (double)t[i] * 1e-9 - prev;
        prev = (double)t[i] * 1e-9;
        s += x;
        s2 += x * x;
    }
    *mean = s / (double)n;
    *cv = sqrt(s2 / (double)n - *mean * *mean) / *mean;
}

TEST(schedule_poisson_mean_variance)
{
    enum { N = 40000 };
    mc_ns *t = mc_mallocarray(N, sizeof *t);
    mc_lg_sched_opts o = {.rate_per_s = 200, .seed = 7};
    CHECK_EQ_INT(mc_lg_schedule(&o, N, t, NULL), MC_OK);
    double mean, cv;
    interval_stats(t, N, &mean, &cv);
    /* exponential intervals: mean 1/rate, sd = mean; 40k samples: sd of the mean estimate 0.5% */
    CHECK_REL(mean, 1.0 / 200, 0.02);
    CHECK_NEAR(cv, 1.0, 0.03);
    for (size_t i = 1; i < N; i++)
        if (t[i] < t[i - 1]) {
            HARNESS_FAIL_("schedule not monotonic at %zu", i);
            break;
        }
    /* counts per 1-s window: Poisson, variance / mean = 1 */
    double cnt[200] = {0};
    for (size_t i = 0; i < N; i++)
        if (t[i] < 200000000000ull)
            cnt[t[i] / 1000000000ull] += 1;
    double m = 0, v = 0;
    for (int i = 0; i < 199; i++)
        m += cnt[i] / 199;
    for (int i = 0; i < 199; i++)
        v += (cnt[i] - m) * (cnt[i] - m) / 198;
    CHECK_REL(m, 200, 0.02);
    CHECK_NEAR(v / m, 1.0, 0.3);
    mc_free(t);
}

TEST(schedule_gamma_burstiness)
{
    enum { N = 40000 };
    mc_ns *t = mc_mallocarray(N, sizeof *t);
    double mean, cv;
    const double shapes[] = {0.25, 0.5, 4.0};
    for (int k = 0; k < 3; k++) {
        mc_lg_sched_opts o = {.rate_per_s = 100, .burstiness = shapes[k], .seed = 11};
        CHECK_EQ_INT(mc_lg_schedule(&o, N, t, NULL), MC_OK);
        interval_stats(t, N, &mean, &cv);
        CHECK_REL(mean, 0.01, 0.03);
        CHECK_REL(cv, 1.0 / sqrt(shapes[k]), 0.05); /* gamma: CV = 1/sqrt(shape) */
    }
    mc_free(t);
}

TEST(schedule_seeded_and_ramp)
{
    mc_ns a[1000], b[1000], c[1000];
    mc_lg_sched_opts o = {.rate_per_s = 50, .burstiness = 0.7, .seed = 99};
    CHECK_EQ_INT(mc_lg_schedule(&o, 1000, a, NULL), MC_OK);
    CHECK_EQ_INT(mc_lg_schedule(&o, 1000, b, NULL), MC_OK);
    CHECK(memcmp(a, b, sizeof a) == 0);
    o.seed = 100;
    CHECK_EQ_INT(mc_lg_schedule(&o, 1000, c, NULL), MC_OK);
    CHECK(memcmp(a, c, sizeof a) != 0);

    /* ramp over 20 s to 100/s: expected arrivals in the ramp = 100 * 20 / 2 = 1000 */
    mc_ns *t = NULL;
    size_t n = 0;
    mc_lg_sched_opts r = {.rate_per_s = 100, .ramp_s = 20, .seed = 3};
    CHECK_EQ_INT(mc_lg_schedule_until(&r, 40, 100000, &t, &n, NULL), MC_OK);
    size_t in_ramp = 0, first_half = 0;
    for (size_t i = 0; i < n; i++) {
        in_ramp += t[i] <= 20000000000ull;
        first_half += t[i] <= 10000000000ull;
    }
    CHECK_NEAR((double)in_ramp, 1000, 100);  /* sd ~32 */
    CHECK_NEAR((double)first_half, 250, 50); /* 100 * 10^2 / (2 * 20) */
    CHECK_NEAR((double)n, 3000, 170);        /* 1000 + 100 * 20 */
    mc_free(t);

    mc_diag d = {{0}};
    mc_lg_sched_opts bad = {.rate_per_s = -1};
    CHECK_EQ_INT(mc_lg_schedule(&bad, 1, a, &d), MC_ERR_ARG);
    CHECK_CONTAINS(d.msg, "rate must be > 0");
    CHECK_EQ_INT(mc_lg_schedule_until(&o, 1e6, 100, &t, &n, &d), MC_ERR_RANGE);
    CHECK(t == NULL);
}

/* ---- workloads ----------------------------------------------------------------------------- */

/* The mock server's token rule: a word of L bytes is 1 + (L - 1) / 6 tokens; `extra` is added
 * (a BOS token), `per_word` > 0 replaces the rule (every word that many tokens). */
typedef struct fake_tok {
    int extra, per_word;
    long calls;
} fake_tok;

static mc_err fake_count(void *ctx, const char *s, size_t n, int64_t *out, mc_diag *d)
{
    fake_tok *f = ctx;
    int64_t t = f->extra;
    size_t i = 0;
    (void)d;
    while (i < n) {
        while (i < n && s[i] == ' ')
            i++;
        size_t st = i;
        while (i < n && s[i] != ' ')
            i++;
        if (i > st)
            t += f->per_word ? f->per_word : 1 + (int64_t)((i - st - 1) / 6);
    }
    f->calls++;
    *out = t;
    return MC_OK;
}

TEST(synthetic_approximate_and_seeded)
{
    mc_lg_workload a, b, c;
    mc_lg_workload_init(&a);
    mc_lg_workload_init(&b);
    mc_lg_workload_init(&c);
    mc_lg_synth_opts o = {
        .n = 4, .in_min = 100, .in_max = 100, .out_min = 10, .out_max = 20, .seed = 1};
    CHECK_EQ_INT(mc_lg_workload_synthetic(&a, &o, NULL), MC_OK);
    CHECK_EQ_INT(mc_lg_workload_synthetic(&b, &o, NULL), MC_OK);
    o.seed = 2;
    CHECK_EQ_INT(mc_lg_workload_synthetic(&c, &o, NULL), MC_OK);
    CHECK_EQ_INT(a.n, 4);
    for (size_t i = 0; i < a.n; i++) {
        size_t len = strlen(a.p[i].text);
        CHECK_EQ_INT(a.p[i].input_exact, 0);
        CHECK_EQ_INT(a.p[i].input_tokens, (int64_t)((len + 3) / 4));
        CHECK(a.p[i].input_tokens >= 100 && a.p[i].input_tokens <= 103);
        CHECK(a.p[i].max_tokens >= 10 && a.p[i].max_tokens <= 20);
        CHECK_STR(a.p[i].text, b.p[i].text);
        CHECK(strcmp(a.p[i].text, c.p[i].text) != 0);
        if (i > 0) /* distinct prompts from the first words on (no shared prefix cache) */
            CHECK(strncmp(a.p[i].text, a.p[0].text, 12) != 0);
    }
    mc_lg_workload_deinit(&a);
    mc_lg_workload_deinit(&b);
    mc_lg_workload_deinit(&c);
}

TEST(synthetic_token_exact)
{
    const uint32_t targets[] = {1, 7, 128, 513, 2000};
    const int extras[] = {0, 1};
    for (int x = 0; x < 2; x++)
        for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
            fake_tok f = {.extra = extras[x]};
            if (targets[t] <= (uint32_t)f.extra)
                continue;
            mc_lg_workload w;
            mc_lg_workload_init(&w);
            mc_lg_synth_opts o = {.n = 3,
                                  .in_min = targets[t],
                                  .in_max = targets[t],
                                  .out_min = 5,
                                  .out_max = 5,
                                  .seed = 42,
                                  .count = fake_count,
                                  .count_ctx = &f};
            CHECK_EQ_INT(mc_lg_workload_synthetic(&w, &o, NULL), MC_OK);
            for (size_t i = 0; i < w.n; i++) {
                int64_t again = 0;
                fake_count(&f, w.p[i].text, strlen(w.p[i].text), &again, NULL);
                CHECK_EQ_INT(w.p[i].input_tokens, targets[t]);
                CHECK_EQ_INT(again, targets[t]);
                CHECK_EQ_INT(w.p[i].input_exact, 1);
                CHECK_EQ_INT(w.p[i].max_tokens, 5);
            }
            CHECK(f.calls <= 3 * 40 + 3);
            mc_lg_workload_deinit(&w);
        }
    /* every word 3 tokens: 10 cannot be reached; the largest count below it is kept, exactly */
    fake_tok f3 = {.per_word = 3};
    mc_lg_workload w;
    mc_lg_workload_init(&w);
    mc_lg_synth_opts o = {.n = 1,
                          .in_min = 10,
                          .in_max = 10,
                          .out_min = 1,
                          .out_max = 1,
                          .count = fake_count,
                          .count_ctx = &f3};
    CHECK_EQ_INT(mc_lg_workload_synthetic(&w, &o, NULL), MC_OK);
    CHECK_EQ_INT(w.p[0].input_tokens, 9);
    CHECK_EQ_INT(w.p[0].input_exact, 1);
    mc_lg_workload_deinit(&w);
    mc_diag d = {{0}};
    o.in_min = 0;
    CHECK_EQ_INT(mc_lg_workload_synthetic(&w, &o, &d), MC_ERR_ARG);
    CHECK_CONTAINS(d.msg, "1 <= min <= max");
}

TEST(request_bodies)
{
    mc_lg_workload w;
    mc_lg_workload_init(&w);
    const char *text = "say \"hi\"\n\xC3\xA9";
    CHECK_EQ_INT(mc_lg_workload_add(&w, text, strlen(text), 77, NULL), MC_OK);
    mc_lg_body_opts o = {
        .endpoint = MC_LG_COMPLETIONS, .model = "m1", .stream = 1, .ignore_eos = 1};
    CHECK_EQ_INT(mc_lg_workload_build(&w, &o, NULL), MC_OK);
    cJSON *j = cJSON_Parse(w.p[0].body);
    CHECK_EQ_INT(w.p[0].body_len, strlen(w.p[0].body));
    CHECK_STR(cJSON_GetObjectItem(j, "model")->valuestring, "m1");
    CHECK_STR(cJSON_GetObjectItem(j, "prompt")->valuestring, text);
    CHECK_EQ_INT(cJSON_GetObjectItem(j, "max_tokens")->valuedouble, 77);
    CHECK_EQ_INT(cJSON_GetObjectItem(j, "temperature")->valuedouble, 0);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(j, "stream")));
    CHECK(cJSON_IsTrue(
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "stream_options"), "include_usage")));
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(j, "ignore_eos")));
    cJSON_Delete(j);
    o = (mc_lg_body_opts){.endpoint = MC_LG_CHAT};
    CHECK_EQ_INT(mc_lg_workload_build(&w, &o, NULL), MC_OK);
    j = cJSON_Parse(w.p[0].body);
    cJSON *m0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "messages"), 0);
    CHECK_STR(cJSON_GetObjectItem(m0, "role")->valuestring, "user");
    CHECK_STR(cJSON_GetObjectItem(m0, "content")->valuestring, text);
    CHECK(cJSON_GetObjectItem(j, "model") == NULL);
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(j, "stream")));
    CHECK(cJSON_GetObjectItem(j, "stream_options") == NULL);
    CHECK(cJSON_GetObjectItem(j, "ignore_eos") == NULL);
    cJSON_Delete(j);
    mc_lg_workload_deinit(&w);
}

static void load_first(const char *rel, mc_lg_dataset_fmt fmt, uint32_t n, const char *prefix,
                       size_t want_n)
{
    const char *path = harness_data_path(rel);
    if (!path) {
        fprintf(stderr, "  (no %s)\n", rel);
        harness_skipped = 1;
        return;
    }
    mc_lg_workload w;
    mc_lg_workload_init(&w);
    mc_lg_dataset_opts o = {.fmt = fmt, .num_prompts = n, .output_len = 64};
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_lg_workload_load(&w, path, &o, &d), MC_OK);
    CHECK_EQ_INT(w.n, want_n);
    if (w.n > 0) {
        if (strncmp(w.p[0].text, prefix, strlen(prefix)) != 0)
            HARNESS_FAIL_("%s: first prompt \"%.60s\", want prefix \"%s\"", rel, w.p[0].text,
                          prefix);
        CHECK_EQ_INT(w.p[0].max_tokens, 64);
        CHECK_EQ_INT(w.p[0].input_exact, 0);
    }
    mc_lg_workload_deinit(&w);
}

TEST(datasets_shared_data)
{
    load_first("gsm8k/test.jsonl", MC_LG_DS_AUTO, 5, "Janet\xE2\x80\x99s ducks lay 16 eggs", 5);
    load_first("gsm8k/test.jsonl", MC_LG_DS_GSM8K, 0, "Janet", 1319);
    load_first("mmlu_pro/validation.jsonl", MC_LG_DS_AUTO, 3, "The symmetric group $S_n$", 3);
    load_first("mt_bench/question.jsonl", MC_LG_DS_MT_BENCH, 0,
               "Compose an engaging travel blog post", 80);
    load_first("sharegpt/ShareGPT_V3_filtered_500.json", MC_LG_DS_AUTO, 0,
               "How to stop automatic updates from the WSUS Server", 500);
    const char *path = harness_data_path("mmlu_pro/validation.jsonl");
    if (!path)
        return;
    mc_lg_workload a, b;
    mc_lg_workload_init(&a);
    mc_lg_workload_init(&b);
    mc_lg_dataset_opts o = {.num_prompts = 10, .seed = 9};
    CHECK_EQ_INT(mc_lg_workload_load(&a, path, &o, NULL), MC_OK);
    CHECK_EQ_INT(mc_lg_workload_load(&b, path, &o, NULL), MC_OK);
    CHECK_EQ_INT(a.n, 10);
    int same = 0, options = 0;
    for (size_t i = 0; i < a.n; i++) {
        same += strcmp(a.p[i].text, b.p[i].text) == 0;
        options += strstr(a.p[i].text, "\nA. ") != NULL && strstr(a.p[i].text, "N/A") == NULL;
    }
    CHECK_EQ_INT(same, 10);
    CHECK_EQ_INT(options, 10);
    mc_lg_workload_deinit(&a);
    mc_lg_workload_deinit(&b);
    /* the first validation question's options, lettered, N/A padding dropped */
    mc_lg_workload_init(&a);
    o = (mc_lg_dataset_opts){.num_prompts = 1};
    CHECK_EQ_INT(mc_lg_workload_load(&a, path, &o, NULL), MC_OK);
    CHECK_CONTAINS(a.p[0].text, "Find the characteristic of the ring 2Z.\nA. 0\nB. 30\nC. 3\n");
    CHECK_CONTAINS(a.p[0].text, "J. 5\n");
    mc_lg_workload_deinit(&a);
}

static const char *write_tmp(const char *name, const char *content)
{
    static char path[4][8192];
    static int k;
    char *p = path[k++ % 4];
    if (snprintf(p, 8192, "%.4000s/%.200s", harness_tmpdir(), name) >= 8192)
        abort();
    FILE *f = fopen(p, "wb");
    fputs(content, f);
    fclose(f);
    return p;
}

static void expect_load_error(const char *name, const char *content, mc_lg_dataset_fmt fmt,
                              const char *want)
{
    const char *path = write_tmp(name, content);
    mc_lg_workload w;
    mc_lg_workload_init(&w);
    mc_lg_dataset_opts o = {.fmt = fmt};
    mc_diag d = {{0}};
    mc_err e = mc_lg_workload_load(&w, path, &o, &d);
    CHECK(e != MC_OK);
    char full[8400];
    snprintf(full, sizeof full, "%.8190s%.200s", path, want);
    if (!strstr(d.msg, want) || (want[0] == ':' && strncmp(d.msg, full, strlen(full)) != 0))
        HARNESS_FAIL_("%s: got \"%s\", want \"%s\"", name, d.msg, want);
    mc_lg_workload_deinit(&w);
}

TEST(dataset_errors_and_custom)
{
    expect_load_error("bad3.jsonl", "{\"prompt\":\"a\"}\n\n{\"prompt\":\"b\"}\n{oops\n",
                      MC_LG_DS_AUTO, ":4: invalid JSON");
    expect_load_error("missing.jsonl", "{\"prompt\":\"a\"}\n{\"text\":\"b\"}\n", MC_LG_DS_AUTO,
                      ":2: missing string field 'prompt'");
    expect_load_error("maxtok.jsonl", "{\"prompt\":\"a\",\"max_tokens\":0}\n", MC_LG_DS_CUSTOM,
                      ":1: 'max_tokens' must be an integer");
    expect_load_error("unknown.jsonl", "{\"text\":\"a\"}\n", MC_LG_DS_AUTO,
                      ":1: cannot tell the dataset format");
    expect_load_error("notobj.jsonl", "[1]\n", MC_LG_DS_GSM8K, ": a JSON array, expected JSONL");
    expect_load_error("share.json",
                      "[{\"id\":\"a\",\"conversations\":[{\"from\":\"human\",\"value\":\"q\"}]},"
                      "{\"id\":\"b\",\"conversations\":[{\"from\":\"gpt\",\"value\":\"x\"}]}]",
                      MC_LG_DS_AUTO, ": item 1: no human turn");
    expect_load_error("empty.jsonl", "\n  \n", MC_LG_DS_AUTO, ": no prompts");
    expect_load_error("mmlu.jsonl", "{\"question\":\"q\",\"options\":[1,2]}\n", MC_LG_DS_MMLU_PRO,
                      ":1: 'options' must be at most 26 strings");
    mc_lg_workload w;
    mc_lg_workload_init(&w);
    mc_diag d = {{0}};
    mc_lg_dataset_opts o = {.output_len = 33};
    CHECK_EQ_INT(mc_lg_workload_load(&w, "/nonexistent/x.jsonl", &o, &d), MC_ERR_IO);
    CHECK_CONTAINS(d.msg, "/nonexistent/x.jsonl");
    const char *p = write_tmp("custom.jsonl", "{\"prompt\":\"one two\",\"max_tokens\":12}\r\n"
                                              "{\"prompt\":\"three\"}\n");
    CHECK_EQ_INT(mc_lg_workload_load(&w, p, &o, &d), MC_OK);
    CHECK_EQ_INT(w.n, 2);
    CHECK_STR(w.p[0].text, "one two");
    CHECK_EQ_INT(w.p[0].max_tokens, 12);
    CHECK_EQ_INT(w.p[1].max_tokens, 33);
    CHECK_EQ_INT(w.p[0].input_tokens, 2); /* ceil(7 / 4) */
    mc_lg_workload_deinit(&w);
    /* exact counts through a counter */
    fake_tok f = {0};
    o = (mc_lg_dataset_opts){.count = fake_count, .count_ctx = &f};
    CHECK_EQ_INT(mc_lg_workload_load(&w, p, &o, &d), MC_OK);
    CHECK_EQ_INT(w.p[0].input_tokens, 2);
    CHECK_EQ_INT(w.p[0].input_exact, 1);
    CHECK_EQ_INT(w.p[1].max_tokens, 256);
    mc_lg_workload_deinit(&w);
    mc_lg_dataset_fmt fmt;
    CHECK_EQ_INT(mc_lg_dataset_fmt_parse("mmlu-pro", &fmt, NULL), MC_OK);
    CHECK_EQ_INT(fmt, MC_LG_DS_MMLU_PRO);
    CHECK_EQ_INT(mc_lg_dataset_fmt_parse("csv", &fmt, &d), MC_ERR_ARG);
    CHECK_CONTAINS(d.msg, "unknown dataset format 'csv'");
}

static void check_url(const char *base, mc_lg_endpoint ep, const char *want)
{
    char *u = NULL;
    mc_err e = mc_lg_url_endpoint(base, ep, &u, NULL);
    CHECK_EQ_INT(e, MC_OK);
    if (u && strcmp(u, want) != 0)
        HARNESS_FAIL_("endpoint(%s) = %s, want %s", base, u, want);
    mc_free(u);
}

TEST(urls)
{
    check_url("http://h:1", MC_LG_COMPLETIONS, "http://h:1/v1/completions");
    check_url("http://h:1/", MC_LG_CHAT, "http://h:1/v1/chat/completions");
    check_url("http://h:1/v1", MC_LG_COMPLETIONS, "http://h:1/v1/completions");
    check_url("http://h:1/v1/", MC_LG_CHAT, "http://h:1/v1/chat/completions");
    check_url("https://h/x/completions", MC_LG_COMPLETIONS, "https://h/x/completions");
    check_url("http://h/v1/chat/completions", MC_LG_CHAT, "http://h/v1/chat/completions");
    check_url("http://h/v1/chat/completions", MC_LG_COMPLETIONS, "http://h/v1/completions");
    check_url("http://h/v1/completions", MC_LG_CHAT, "http://h/v1/chat/completions");
    char *r = NULL;
    CHECK_EQ_INT(mc_lg_url_root("http://h:1/v1/chat/completions", &r, NULL), MC_OK);
    CHECK_STR(r, "http://h:1");
    mc_free(r);
    CHECK_EQ_INT(mc_lg_url_root("http://h:1/api/v1", &r, NULL), MC_OK);
    CHECK_STR(r, "http://h:1/api");
    mc_free(r);
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_lg_url_endpoint("ftp://h", MC_LG_CHAT, &r, &d), MC_ERR_ARG);
    CHECK_CONTAINS(d.msg, "must start with http:// or https://");
    CHECK(r == NULL);
    CHECK_EQ_INT(mc_lg_url_root("http:///x", &r, &d), MC_ERR_ARG);
    CHECK_CONTAINS(d.msg, "has no host");
}

int main(void)
{
    RUN(sse_vectors_whole_bytewise_random);
    RUN(sse_reset_and_consumed);
    RUN(chunk_completions_and_chat);
    RUN(chunk_usage_error_invalid);
    RUN(schedule_poisson_mean_variance);
    RUN(schedule_gamma_burstiness);
    RUN(schedule_seeded_and_ramp);
    RUN(synthetic_approximate_and_seeded);
    RUN(synthetic_token_exact);
    RUN(request_bodies);
    RUN(datasets_shared_data);
    RUN(dataset_errors_and_custom);
    RUN(urls);
    return harness_done();
}
