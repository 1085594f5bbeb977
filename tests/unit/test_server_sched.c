/* test_server_sched.c: the continuous-batching scheduler (src/server/sched.c) on the fake backend
 * (tests/support/srv_fake.h), without HTTP: greedy outputs against the model's known next-token
 * rule, batching invariance with 8 concurrent requests, chunked prefill and its records, the
 * records' token counts against usage, echo log-probabilities, cancellation freeing the slot,
 * the bounded queue, engine failures and shutdown. */
#include "harness.h"
#include "server_impl.h"
#include "srv_fake.h"

#include <math.h>
#include <unistd.h>

typedef struct rig {
    srv_fake *fake;
    mc_srv_metrics m;
    mc_srv_records rec;
    mc_srv_sched *s;
} rig;

static int rig_open(rig *g, int slots, int64_t n_ctx, int64_t step_tokens, int64_t max_queue,
                    int start)
{
    memset(g, 0, sizeof *g);
    g->fake = srv_fake_new(slots, n_ctx, step_tokens);
    mc_srv_sched_opts o = {max_queue, "cpu", 0};
    mc_diag d = {{0}};
    if (!g->fake || mc_srv_metrics_init(&g->m, 2) || mc_srv_records_init(&g->rec, 10000) ||
        mc_srv_sched_new(srv_fake_backend(g->fake), &o, &g->m, &g->rec, &g->s, &d) ||
        (start && mc_srv_sched_start(g->s, &d))) {
        fprintf(stderr, "rig: %s\n", d.msg);
        return -1;
    }
    mc_srv_records_start(&g->rec);
    return 0;
}

static void rig_close(rig *g)
{
    mc_srv_sched_free(g->s);
    mc_srv_records_deinit(&g->rec);
    mc_srv_metrics_deinit(&g->m);
    srv_fake_free(g->fake);
}

static mc_srv_req *make(rig *g, mc_srv_kind kind, const char *body, const char *id)
{
    mc_srv_params p;
    mc_srv_error err = {0};
    mc_tok_ids ids;
    int64_t mt = 0;
    mc_tok_ids_init(&ids);
    const mc_srv_backend *be = srv_fake_backend(g->fake);
    mc_srv_model_info mi = {be->tok, be->vocab, be->n_ctx, MC_CHAT_CHATML, 0, 0};
    if (mc_srv_parse_request(kind, body, strlen(body), &p, &err) ||
        mc_srv_prepare(&p, &mi, &ids, &mt, &err)) {
        fprintf(stderr, "make %s: %s\n", body, err.message);
        return NULL;
    }
    mc_srv_req *r = mc_srv_req_new(&p, ids.v, (int64_t)ids.n, mt);
    snprintf(r->id, sizeof r->id, "%s", id);
    r->t_arrival = mc_now_ns();
    if (r->p.echo)
        mc_srv_req_set_echo(r, be->tok);
    return r;
}

static int wait_done(mc_srv_req *r)
{
    for (int i = 0; i < 20000; i++) {
        pthread_mutex_lock(&r->mu);
        int f = r->finished;
        pthread_mutex_unlock(&r->mu);
        if (f)
            return 1;
        usleep(500);
    }
    return 0;
}

/* The greedy continuation of prompt under the fake model (srv_fake.h), and its text. */
static int64_t expect(const int32_t *prompt, int64_t n, int64_t max, int ignore_eos, int32_t *out)
{
    int32_t t = prompt[n - 1];
    int64_t k = 0;
    while (k < max) {
        t = srv_fake_next(t, n - 1 + k);
        out[k++] = t;
        if (t == FAKE_EOS && !ignore_eos)
            break;
    }
    return k;
}

static void expect_text(rig *g, const int32_t *ids, int64_t n, mc_buf *out)
{
    mc_tok_stream st;
    mc_tok_stream_init(&st, MC_TOK_KEEP_LEADING_SPACE);
    for (int64_t i = 0; i < n; i++)
        if (ids[i] != FAKE_EOS)
            mc_tok_stream_feed(srv_fake_tok(g->fake), &st, ids[i], out, NULL);
    mc_tok_stream_flush(&st, out, NULL);
    mc_buf_append(out, "", 0);
}

/* r's output equals the greedy continuation of its prompt. */
static int output_ok(rig *g, mc_srv_req *r, int ignore_eos)
{
    int32_t want[256];
    mc_buf t;
    mc_buf_init(&t, 0);
    int64_t n = expect(r->prompt, r->n_prompt, r->max_tokens, ignore_eos, want);
    expect_text(g, want, n, &t);
    int ok = r->n_out == n && memcmp(r->ids, want, (size_t)n * sizeof *want) == 0 &&
             strcmp(r->text.data, t.data) == 0;
    if (!ok)
        fprintf(stderr, "%s: got %lld tokens '%s', want %lld '%s'\n", r->id, (long long)r->n_out,
                r->text.data, (long long)n, t.data);
    mc_buf_deinit(&t);
    return ok;
}

TEST(single)
{
    rig g;
    if (rig_open(&g, 2, 64, 32, 8, 1))
        SKIP("no rig");
    mc_srv_req *r = make(&g, MC_SRV_COMPLETION,
                         "{\"prompt\":\"ab\",\"max_tokens\":9,"
                         "\"temperature\":0}",
                         "cmpl-1");
    mc_srv_error err = {0};
    CHECK_EQ_INT(mc_srv_sched_submit(g.s, r, &err), MC_OK);
    CHECK(wait_done(r));
    /* prompt BOS _ a b: b at position 3 -> c; c at 4 -> space; space at 5 -> 'a' + 5 = f; ... */
    CHECK_STR(r->text.data, "c fghi de");
    CHECK_STR(r->finish_reason, "length");
    CHECK(output_ok(&g, r, 0));
    CHECK(r->t_first >= r->t_arrival && r->t_end >= r->t_first);
    mc_srv_req_unref(r);
    /* a prompt ending in "xy" reaches z and then EOS: finish "stop", EOS counted */
    r = make(&g, MC_SRV_COMPLETION, "{\"prompt\":\"xy\",\"max_tokens\":9,\"temperature\":0}",
             "cmpl-2");
    CHECK_EQ_INT(mc_srv_sched_submit(g.s, r, &err), MC_OK);
    CHECK(wait_done(r));
    CHECK_STR(r->text.data, "z");
    CHECK_STR(r->finish_reason, "stop");
    CHECK_EQ_INT(r->n_out, 2);
    mc_srv_req_unref(r);
    CHECK(mc_srv_sched_wait_idle(g.s, 5));
    CHECK_EQ_INT(g.m.requests[MC_OUT_FINISHED], 2);
    CHECK_EQ_INT(g.m.generation_tokens, 11);
    CHECK_EQ_INT(g.m.prompt_tokens, 8);
    rig_close(&g);
}

/* 8 requests at once on 4 slots: each gets exactly its own greedy output. */
TEST(concurrent)
{
    rig g;
    if (rig_open(&g, 4, 128, 64, 16, 1))
        SKIP("no rig");
    static const char *prompts[8] = {"ab",  "q",       "hello world", "xy",
                                     "a b", "zzz a q", "abcdefghij",  "mnop"};
    mc_srv_req *r[8];
    mc_srv_error err = {0};
    for (int i = 0; i < 8; i++) {
        char body[128], id[16];
        snprintf(body, sizeof body, "{\"prompt\":\"%s\",\"max_tokens\":%d,\"temperature\":0}",
                 prompts[i], 10 + 3 * i);
        snprintf(id, sizeof id, "cmpl-%d", i);
        r[i] = make(&g, MC_SRV_COMPLETION, body, id);
        CHECK_EQ_INT(mc_srv_sched_submit(g.s, r[i], &err), MC_OK);
    }
    for (int i = 0; i < 8; i++) {
        CHECK(wait_done(r[i]));
        CHECK(output_ok(&g, r[i], 0));
        mc_srv_req_unref(r[i]);
    }
    CHECK(srv_fake_max_batch(g.fake) > 1); /* they really ran together */
    CHECK(srv_fake_max_batch(g.fake) <= 4);
    rig_close(&g);
}

/* Sums the records' extend_len per request id. */
static int64_t record_tokens(rig *g, const char *id, int64_t *chunks, int64_t *last_chunks)
{
    mc_buf b;
    int64_t n = 0, total = 0;
    uint64_t dropped = 0;
    mc_buf_init(&b, 0);
    mc_srv_records_dump(&g->rec, 0, &b, &n, &dropped);
    mc_pass_set set;
    mc_pass_set_init(&set);
    if (mc_pass_parse_jsonl(b.data, b.len, 1, 0, &set, NULL) != MC_OK)
        HARNESS_FAIL_("records do not parse");
    *chunks = *last_chunks = 0;
    for (size_t i = 0; i < set.n; i++)
        for (int64_t c = 0; c < set.v[i].n_chunks; c++) {
            const mc_req_chunk *ch = &set.v[i].chunks[c];
            if (strcmp(ch->req_id, id) != 0)
                continue;
            total += ch->extend_len;
            *chunks += ch->is_last_chunk >= 0;
            *last_chunks += ch->is_last_chunk == 1;
        }
    mc_pass_set_deinit(&set);
    mc_buf_deinit(&b);
    return total;
}

/* A 26-token prompt with an 8-token step budget: prefill in chunks; the records' chunks add up to
 * the prompt, and all the request's tokens to prompt + completion - 1 (the last token generated
 * is never fed back). */
TEST(chunked_prefill_records)
{
    rig g;
    if (rig_open(&g, 2, 128, 8, 8, 1))
        SKIP("no rig");
    mc_srv_req *a = make(&g, MC_SRV_COMPLETION,
                         "{\"prompt\":\"abcdefghijklmnopqrstuvwx\",\"max_tokens\":5,"
                         "\"temperature\":0}",
                         "cmpl-a");
    mc_srv_req *b = make(&g, MC_SRV_COMPLETION,
                         "{\"prompt\":\"ab\",\"max_tokens\":20,"
                         "\"temperature\":0,\"ignore_eos\":true}",
                         "cmpl-b");
    mc_srv_error err = {0};
    CHECK_EQ_INT(a->n_prompt, 26);
    CHECK_EQ_INT(mc_srv_sched_submit(g.s, b, &err), MC_OK);
    CHECK_EQ_INT(mc_srv_sched_submit(g.s, a, &err), MC_OK);
    CHECK(wait_done(a) && wait_done(b));
    CHECK(output_ok(&g, a, 0));
    CHECK(output_ok(&g, b, 1));
    int64_t chunks = 0, last = 0;
    CHECK_EQ_INT(record_tokens(&g, "cmpl-a", &chunks, &last), a->n_prompt + a->n_out - 1);
    CHECK(chunks >= 4); /* 26 tokens in chunks of at most 8 (less while b decodes) */
    CHECK_EQ_INT(last, 1);
    CHECK_EQ_INT(record_tokens(&g, "cmpl-b", &chunks, &last), b->n_prompt + b->n_out - 1);
    /* every record: batch_size = chunks, new_tokens = their sum, at most the budget */
    mc_buf buf;
    int64_t n = 0;
    uint64_t dropped = 0;
    mc_buf_init(&buf, 0);
    mc_srv_records_dump(&g.rec, 0, &buf, &n, &dropped);
    mc_pass_set set;
    mc_pass_set_init(&set);
    CHECK_EQ_INT(mc_pass_parse_jsonl(buf.data, buf.len, 1, 0, &set, NULL), MC_OK);
    int mixed = 0;
    for (size_t i = 0; i < set.n; i++) {
        const mc_pass *p = &set.v[i];
        int64_t sum = 0;
        for (int64_t c = 0; c < p->n_chunks; c++)
            sum += p->chunks[c].extend_len;
        CHECK_EQ_INT(p->n_chunks, p->batch_size);
        CHECK_EQ_INT(sum, p->new_tokens);
        CHECK(p->new_tokens <= 8);
        CHECK_EQ_INT(p->forward_pass_id, (int64_t)i);
        CHECK_STR(p->gpu_raw_type, "cpu");
        CHECK_EQ_INT(p->n_layer_experts, 2);
        mixed += p->mode == MC_PASS_MIXED;
    }
    CHECK(mixed > 0); /* b's decodes ran beside a's prefill chunks */
    mc_pass_set_deinit(&set);
    mc_buf_deinit(&buf);
    mc_srv_req_unref(a);
    mc_srv_req_unref(b);
    rig_close(&g);
}

static double fake_lp(int32_t prev, int64_t pos, int32_t tok)
{
    int32_t next = srv_fake_next(prev, pos);
    double z = log(exp(6.0) + exp(3.0) + 286 * exp(-4.0));
    return (tok == next ? 6.0 : tok == (next + 1) % 288 ? 3.0 : -4.0) - z;
}

/* echo + logprobs: every prompt token's log-probability from MC_LOGITS_ALL rows (chunked), the
 * first one null; the generated tokens' too. */
TEST(echo_logprobs)
{
    rig g;
    if (rig_open(&g, 1, 64, 4, 8, 1))
        SKIP("no rig");
    mc_srv_req *r = make(&g, MC_SRV_COMPLETION,
                         "{\"prompt\":\"abqd x\",\"max_tokens\":3,"
                         "\"temperature\":0,\"echo\":true,\"logprobs\":2}",
                         "cmpl-e");
    mc_srv_error err = {0};
    CHECK_EQ_INT(mc_srv_sched_submit(g.s, r, &err), MC_OK);
    CHECK(wait_done(r));
    CHECK(isnan(r->p_lps[0]));
    for (int64_t i = 1; i < r->n_prompt; i++) {
        CHECK_NEAR(r->p_lps[i], fake_lp(r->prompt[i - 1], i - 1, r->prompt[i]), 1e-9);
        CHECK_EQ_INT(r->p_top_ids[i * 2], srv_fake_next(r->prompt[i - 1], i - 1));
    }
    int32_t prev = r->prompt[r->n_prompt - 1];
    for (int64_t k = 0; k < r->n_out; k++) {
        CHECK_NEAR(r->lps[k], fake_lp(prev, r->n_prompt - 1 + k, r->ids[k]), 1e-9);
        prev = r->ids[k];
    }
    CHECK_STR(r->echo.data, "abqd x");
    CHECK(output_ok(&g, r, 0));
    mc_srv_req_unref(r);
    rig_close(&g);
}

/* A request whose client went away leaves its slot at the next step. */
TEST(cancel)
{
    rig g;
    if (rig_open(&g, 1, 256, 32, 8, 1))
        SKIP("no rig");
    srv_fake_set_delay(g.fake, 2000);
    mc_srv_req *r = make(&g, MC_SRV_COMPLETION,
                         "{\"prompt\":\"ab\",\"max_tokens\":200,"
                         "\"ignore_eos\":true}",
                         "cmpl-c");
    mc_srv_req *q = make(&g, MC_SRV_COMPLETION,
                         "{\"prompt\":\"ab\",\"max_tokens\":3,"
                         "\"temperature\":0}",
                         "cmpl-q");
    mc_srv_error err = {0};
    CHECK_EQ_INT(mc_srv_sched_submit(g.s, r, &err), MC_OK);
    CHECK_EQ_INT(mc_srv_sched_submit(g.s, q, &err), MC_OK); /* waits for the only slot */
    usleep(20000);
    mc_srv_sched_cancel(g.s, r);
    CHECK(wait_done(r));
    CHECK_STR(r->finish_reason, "abort");
    CHECK(r->n_out < 200);
    CHECK(wait_done(q)); /* the slot went to the queued request */
    CHECK(output_ok(&g, q, 0));
    CHECK(mc_srv_sched_wait_idle(g.s, 5));
    CHECK_EQ_INT(g.m.requests[MC_OUT_CANCELLED], 1);
    CHECK_EQ_INT(g.m.running, 0);
    mc_srv_req_unref(r);
    mc_srv_req_unref(q);
    rig_close(&g);
}

/* The queue holds max_queue requests besides those free slots will take; one more is a 503.
 * Nothing runs before start. */
TEST(queue_full)
{
    rig g;
    if (rig_open(&g, 1, 64, 16, 2, 0))
        SKIP("no rig");
    mc_srv_req *r[4];
    mc_srv_error err = {0};
    for (int i = 0; i < 4; i++)
        r[i] = make(&g, MC_SRV_COMPLETION, "{\"prompt\":\"ab\",\"max_tokens\":2}", "cmpl-f");
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(mc_srv_sched_submit(g.s, r[i], &err), MC_OK);
    CHECK_EQ_INT(mc_srv_sched_submit(g.s, r[3], &err), MC_ERR_INTERNAL);
    CHECK_EQ_INT(err.status, 503);
    CHECK_STR(err.code, "queue_full");
    CHECK_CONTAINS(err.message, "queue is full (2 waiting)");
    CHECK_EQ_INT(g.m.queue_depth, 3);
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_srv_sched_start(g.s, &d), MC_OK);
    CHECK(wait_done(r[0]) && wait_done(r[1]) && wait_done(r[2]));
    CHECK_EQ_INT(g.m.requests[MC_OUT_REJECTED], 1);
    for (int i = 0; i < 4; i++)
        mc_srv_req_unref(r[i]);
    rig_close(&g);
}

TEST(engine_failure)
{
    rig g;
    if (rig_open(&g, 2, 64, 16, 4, 0))
        SKIP("no rig");
    srv_fake_fail_steps(g.fake, 1);
    mc_srv_req *r = make(&g, MC_SRV_COMPLETION, "{\"prompt\":\"ab\",\"max_tokens\":4}", "x-1");
    mc_srv_req *q = make(&g, MC_SRV_COMPLETION,
                         "{\"prompt\":\"ab\",\"max_tokens\":4,"
                         "\"temperature\":0}",
                         "x-2");
    mc_srv_error err = {0};
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_srv_sched_submit(g.s, r, &err), MC_OK);
    CHECK_EQ_INT(mc_srv_sched_start(g.s, &d), MC_OK);
    CHECK(wait_done(r));
    CHECK_EQ_INT(r->err.status, 500);
    CHECK_STR(r->err.code, "engine_error");
    CHECK_CONTAINS(r->err.message, "forward pass failed: fake: injected failure");
    CHECK_EQ_INT(mc_srv_sched_submit(g.s, q, &err), MC_OK); /* the server goes on */
    CHECK(wait_done(q));
    CHECK(output_ok(&g, q, 0));
    CHECK_EQ_INT(g.m.requests[MC_OUT_FAILED], 1);
    mc_srv_req_unref(r);
    mc_srv_req_unref(q);
    rig_close(&g);
}

/* Shutdown: new requests get 503; a long request is cut ("abort"), a queued one gets 503. */
TEST(shutdown)
{
    rig g;
    if (rig_open(&g, 1, 256, 32, 8, 1))
        SKIP("no rig");
    srv_fake_set_delay(g.fake, 2000);
    mc_srv_req *r = make(&g, MC_SRV_COMPLETION,
                         "{\"prompt\":\"ab\",\"max_tokens\":200,"
                         "\"ignore_eos\":true}",
                         "s-1");
    mc_srv_req *q = make(&g, MC_SRV_COMPLETION, "{\"prompt\":\"ab\",\"max_tokens\":3}", "s-2");
    mc_srv_req *late = make(&g, MC_SRV_COMPLETION, "{\"prompt\":\"ab\"}", "s-3");
    mc_srv_error err = {0};
    CHECK_EQ_INT(mc_srv_sched_submit(g.s, r, &err), MC_OK);
    CHECK_EQ_INT(mc_srv_sched_submit(g.s, q, &err), MC_OK);
    usleep(10000);
    mc_srv_sched_stop_accepting(g.s);
    CHECK_EQ_INT(mc_srv_sched_submit(g.s, late, &err), MC_ERR_INTERNAL);
    CHECK_STR(err.code, "shutting_down");
    CHECK_EQ_INT(mc_srv_sched_wait_idle(g.s, 0.02), 0); /* still running */
    mc_srv_sched_abort_all(g.s);
    CHECK(r->finished && q->finished);
    CHECK_STR(r->finish_reason, "abort");
    CHECK_EQ_INT(q->err.status, 503);
    CHECK_EQ_INT(mc_srv_sched_wait_idle(g.s, 0), 1);
    mc_srv_req_unref(r);
    mc_srv_req_unref(q);
    mc_srv_req_unref(late);
    rig_close(&g);
}

/* Sampling with a seed is reproducible; stop strings end generation early. */
TEST(seed_and_stop)
{
    rig g;
    if (rig_open(&g, 2, 64, 32, 8, 1))
        SKIP("no rig");
    const char *body = "{\"prompt\":\"ab\",\"max_tokens\":12,\"temperature\":3,\"seed\":7}";
    mc_srv_req *a = make(&g, MC_SRV_COMPLETION, body, "r-1");
    mc_srv_req *b = make(&g, MC_SRV_COMPLETION, body, "r-2");
    mc_srv_error err = {0};
    CHECK_EQ_INT(mc_srv_sched_submit(g.s, a, &err), MC_OK);
    CHECK_EQ_INT(mc_srv_sched_submit(g.s, b, &err), MC_OK);
    CHECK(wait_done(a) && wait_done(b));
    CHECK_EQ_INT(a->n_out, b->n_out);
    CHECK(memcmp(a->ids, b->ids, (size_t)a->n_out * sizeof(int32_t)) == 0);
    mc_srv_req_unref(a);
    mc_srv_req_unref(b);
    a = make(&g, MC_SRV_COMPLETION,
             "{\"prompt\":\"ab\",\"max_tokens\":12,\"temperature\":0,"
             "\"stop\":[\"gh\"]}",
             "r-3");
    CHECK_EQ_INT(mc_srv_sched_submit(g.s, a, &err), MC_OK);
    CHECK(wait_done(a));
    CHECK_STR(a->text.data, "c f"); /* "c fghi de" cut before "gh" */
    CHECK_STR(a->finish_reason, "stop");
    CHECK_EQ_INT(a->n_out, 5);
    mc_srv_req_unref(a);
    rig_close(&g);
}

/* An engine that keeps no record (no_trace): the scheduler records the pass from its own
 * bookkeeping and timing. */
TEST(records_without_engine_pass)
{
    rig g;
    if (rig_open(&g, 2, 64, 32, 8, 1))
        SKIP("no rig");
    srv_fake_set_no_trace(g.fake, 1);
    mc_srv_req *r = make(&g, MC_SRV_COMPLETION, "{\"prompt\":\"abc\",\"max_tokens\":4}", "n-1");
    mc_srv_error err = {0};
    CHECK_EQ_INT(mc_srv_sched_submit(g.s, r, &err), MC_OK);
    CHECK(wait_done(r));
    CHECK(mc_srv_sched_wait_idle(g.s, 5));
    mc_buf b;
    int64_t n = 0;
    uint64_t dropped = 0;
    mc_buf_init(&b, 0);
    mc_srv_records_dump(&g.rec, 0, &b, &n, &dropped);
    mc_pass_set set;
    mc_pass_set_init(&set);
    CHECK_EQ_INT(mc_pass_parse_jsonl(b.data, b.len, 1, 0, &set, NULL), MC_OK);
    CHECK_EQ_INT(set.n, 4); /* the prefill and 3 decodes */
    CHECK_EQ_INT(set.v[0].new_tokens, 5);
    CHECK_EQ_INT(set.v[0].seq_lens_sum, 5);
    CHECK_EQ_INT(set.v[0].mode, MC_PASS_PREFILL);
    CHECK_EQ_INT(set.v[3].new_tokens, 1);
    CHECK_EQ_INT(set.v[3].seq_lens_sum, 8);
    CHECK(set.v[3].latency_s >= 200e-6);   /* the fake sleeps 200 us per step */
    CHECK(set.v[3].expert_activation < 0); /* not recorded */
    mc_pass_set_deinit(&set);
    mc_buf_deinit(&b);
    mc_srv_req_unref(r);
    rig_close(&g);
}

int main(void)
{
    RUN(single);
    RUN(concurrent);
    RUN(chunked_prefill_records);
    RUN(echo_logprobs);
    RUN(cancel);
    RUN(queue_full);
    RUN(engine_failure);
    RUN(shutdown);
    RUN(seed_and_stop);
    RUN(records_without_engine_pass);
    return harness_done();
}
