/* test_bench_cli.c: the parts of `moecap bench` that decide things without a server: the max-rate
 * search (exact probe sequences for known thresholds), a probe's verdict against SLOs, the
 * analytic expert-activation estimate (hand-computed timelines), the vLLM-style dump to JSON
 * Lines, and the local GGUF tokenizer as a prompt counter (token-exact synthetic prompts). */
#include "bench_int.h"
#include "harness.h"
#include "makemodel.h"
#include "tokenizer.h"

/* Runs a search against pass(rate) = rate <= threshold; returns the probes in seq. */
static size_t search(double start, double prec, uint32_t max, double threshold, double *seq,
                     bench_search *q)
{
    size_t n = 0;
    bench_search_init(q, start, prec, max);
    for (double r; (r = bench_search_next(q)) > 0 && n < 64;) {
        seq[n++] = r;
        bench_search_report(q, r, r <= threshold);
    }
    return n;
}

static void check_seq(const double *got, size_t n, const double *want, size_t m)
{
    CHECK_EQ_INT(n, m);
    for (size_t i = 0; i < n && i < m; i++)
        CHECK_NEAR(got[i], want[i], 1e-12);
}

TEST(search_grow_then_bisect)
{
    double seq[64];
    bench_search q;
    size_t n = search(1, 0.05, 20, 37.3, seq, &q);
    const double want[] = {1, 2, 4, 8, 16, 32, 64, 48, 40, 36, 38, 37};
    check_seq(seq, n, want, sizeof want / sizeof want[0]);
    CHECK_NEAR(q.lo, 37, 0);
    CHECK_NEAR(q.hi, 38, 0);
    CHECK(q.done && q.converged);
    CHECK_EQ_INT(q.probes, 12);
    CHECK_STR(q.why, "the bracket is within the precision");
}

TEST(search_shrink_when_start_fails)
{
    double seq[64];
    bench_search q;
    size_t n = search(1, 0.05, 20, 0.3, seq, &q);
    const double want[] = {1, 0.5, 0.25, 0.375, 0.3125, 0.28125, 0.296875, 0.3046875};
    check_seq(seq, n, want, sizeof want / sizeof want[0]);
    CHECK_NEAR(q.lo, 0.296875, 0);
    CHECK_NEAR(q.hi, 0.3046875, 0);
    CHECK(q.converged);
}

TEST(search_limits)
{
    double seq[64];
    bench_search q;
    /* nothing passes: ten halvings below the start, then it gives up */
    size_t n = search(1, 0.1, 100, 0, seq, &q);
    CHECK_EQ_INT(n, 11);
    CHECK_NEAR(seq[10], 1.0 / 1024, 0);
    CHECK(q.done && !q.converged && q.lo == 0);
    CHECK_STR(q.why, "no probed rate met the SLOs");
    /* the probe limit */
    n = search(1, 0.1, 4, 1e9, seq, &q);
    CHECK_EQ_INT(n, 4);
    CHECK_NEAR(q.lo, 8, 0);
    CHECK(q.hi == 0 && !q.converged);
    CHECK_STR(q.why, "probe limit reached before the precision");
    /* everything passes up to the ceiling */
    n = search(1e6, 0.1, 100, 1e9, seq, &q);
    CHECK_EQ_INT(n, 4); /* 1e6, 2e6, 4e6, 8e6; 1.6e7 is above the limit */
    CHECK_STR(q.why, "every rate up to the limit met the SLOs");
    /* bisecting with a coarse precision stops at once */
    n = search(10, 1, 20, 15, seq, &q);
    const double want[] = {10, 20};
    check_seq(seq, n, want, 2);
    CHECK(q.converged && q.lo == 10 && q.hi == 20);
}

static bench_row good_row(void)
{
    bench_row r;
    memset(&r, 0, sizeof r);
    r.ok = 100;
    r.self_ok = 1;
    r.ttft.n = r.tpot.n = r.e2e.n = 100;
    r.ttft.p99 = 0.4;
    r.tpot.p99 = 0.04;
    r.e2e.p99 = 5;
    return r;
}

TEST(probe_verdict)
{
    mc_cap_slo slo = {.ttft_s = 0.5, .tpot_s = 0.05};
    char why[200];
    bench_row r = good_row();
    CHECK_EQ_INT(bench_probe_verdict(&r, &slo, why, sizeof why), 1);
    CHECK_STR(why, "meets the SLOs");
    r.ttft.p99 = 0.5; /* equal is good (<=) */
    CHECK_EQ_INT(bench_probe_verdict(&r, &slo, why, sizeof why), 1);
    r.tpot.p99 = 0.0501;
    CHECK_EQ_INT(bench_probe_verdict(&r, &slo, why, sizeof why), 0);
    CHECK_STR(why, "p99 TPOT 50.1 ms > 50 ms");
    r = good_row();
    slo.e2e_s = 4;
    CHECK_EQ_INT(bench_probe_verdict(&r, &slo, why, sizeof why), 0);
    CHECK_STR(why, "p99 E2E 5000 ms > 4000 ms");
    slo.e2e_s = 0;
    r.failed = 1; /* 1 of 101: within 1% */
    CHECK_EQ_INT(bench_probe_verdict(&r, &slo, why, sizeof why), 1);
    r.failed = 2;
    CHECK_EQ_INT(bench_probe_verdict(&r, &slo, why, sizeof why), 0);
    CHECK_STR(why, "2 of 102 requests failed (more than 1%)");
    r = good_row();
    r.self_ok = 0;
    CHECK_EQ_INT(bench_probe_verdict(&r, &slo, why, sizeof why), 0);
    CHECK_STR(why, "the client could not keep the schedule");
    r = good_row();
    r.tpot.n = 0;
    CHECK_EQ_INT(bench_probe_verdict(&r, &slo, why, sizeof why), 0);
    CHECK_STR(why, "no TPOT values (not streamed?)");
    r = good_row();
    r.partial = 1;
    CHECK_EQ_INT(bench_probe_verdict(&r, &slo, why, sizeof why), 0);
    CHECK_STR(why, "interrupted");
}

static mc_req_timing timing(double first, double end, int64_t in, int ok)
{
    mc_req_timing t = {.start_s = 0, .first_s = first, .end_s = end, .in_tokens = in, .ok = ok};
    return t;
}

/* Mixtral: 8 experts, top-2 in all 32 layers: E(T) = 8 (1 - (3/4)^T): E(1) = 2, E(2) = 3.5. */
TEST(estimate_activation)
{
    mc_model *m = NULL;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_model_load("mixtral-8x7b", &m, &d), MC_OK);
    if (!m)
        return;
    /* A decodes on [0, 2], B on [1, 3]: batch 1, 2, 1 for one second each; C failed */
    mc_req_timing t[3] = {timing(0, 2, 1, 1), timing(1, 3, 2, 1), timing(0.5, 9, 7, 0)};
    bench_est e;
    CHECK_EQ_INT(bench_estimate_act(m, t, 3, &e, &d), MC_OK);
    CHECK_NEAR(e.decode_act, (2 + 3.5 + 2) / 3.0, 1e-12);
    CHECK_NEAR(e.decode_batch, 4.0 / 3.0, 1e-12);
    CHECK_NEAR(e.decode_time_s, 3, 1e-12);
    CHECK_NEAR(e.prefill_act, (2 + 3.5) / 2, 1e-12);
    CHECK_EQ_INT(e.prefills, 2);
    /* not streamed (no first token): no decode figure, prefill still */
    mc_req_timing u[1] = {timing(-1, 2, 1, 1)};
    CHECK_EQ_INT(bench_estimate_act(m, u, 1, &e, &d), MC_OK);
    CHECK(isnan(e.decode_act) && e.decode_time_s == 0);
    CHECK_NEAR(e.prefill_act, 2, 1e-12);
    mc_model_free(m);
    CHECK_EQ_INT(mc_model_load("llama-3.1-8b", &m, &d), MC_OK);
    CHECK_EQ_INT(bench_estimate_act(m, t, 3, &e, &d), MC_ERR_UNSUPPORTED);
    mc_model_free(m);
}

TEST(dump_to_jsonl)
{
    static const char dump[] =
        "{\"status\":\"success\",\"records\":[{\"batch_size\":2,\"latency\":0.01,"
        "\"seq_lens_sum\":40,\"forward_mode\":\"decode\",\"expert_activation\":3.5},"
        "{\"batch_size\":1,\"latency\":0.2,\"seq_lens_sum\":30,\"forward_mode\":\"prefill\"}],"
        "\"total_records\":2,\"dropped\":5}";
    mc_buf b;
    mc_buf_init(&b, 0);
    int64_t dropped = 0;
    mc_diag d = {{0}};
    CHECK_EQ_INT(bench_dump_to_jsonl(dump, sizeof dump - 1, &b, &dropped, &d), MC_OK);
    CHECK_EQ_INT(dropped, 5);
    mc_pass_set set;
    mc_pass_set_init(&set);
    CHECK_EQ_INT(mc_pass_parse_jsonl(b.data, b.len, 1, 0, &set, &d), MC_OK);
    CHECK_EQ_INT(set.n, 2);
    if (set.n == 2) {
        CHECK_EQ_INT(set.v[0].batch_size, 2);
        CHECK_EQ_INT(set.v[0].mode, MC_PASS_DECODE);
        CHECK_NEAR(set.v[0].expert_activation, 3.5, 0);
        CHECK_EQ_INT(set.v[1].mode, MC_PASS_PREFILL);
        CHECK_EQ_INT(set.v[1].new_tokens, 30);
    }
    mc_pass_set_deinit(&set);
    mc_buf_reset(&b);
    CHECK_EQ_INT(bench_dump_to_jsonl("{\"status\":\"success\"}", 20, &b, &dropped, &d),
                 MC_ERR_FORMAT);
    CHECK_CONTAINS(d.msg, "no records array");
    CHECK_EQ_INT(dropped, -1);
    CHECK_EQ_INT(bench_dump_to_jsonl("<html>", 6, &b, &dropped, &d), MC_ERR_FORMAT);
    mc_buf_deinit(&b);
}

/* Synthetic prompts counted by the local tokenizer: re-encoding each prompt gives its count,
 * and with a real vocabulary every target length is hit exactly. */
static void check_local_prompts(const char *gguf, uint32_t lo, uint32_t hi, int want_exact)
{
    bench_ltok *lt = NULL;
    mc_tok *tok = NULL;
    mc_diag d = {{0}};
    CHECK_EQ_INT(bench_ltok_open(gguf, &lt, &d), MC_OK);
    CHECK_EQ_INT(mc_tok_load(gguf, &tok, &d), MC_OK);
    if (!lt || !tok)
        goto out;
    mc_lg_workload w;
    mc_lg_workload_init(&w);
    mc_lg_synth_opts so = {.n = 6,
                           .in_min = lo,
                           .in_max = hi,
                           .out_min = 1,
                           .out_max = 1,
                           .seed = 3,
                           .count = bench_ltok_count,
                           .count_ctx = lt};
    CHECK_EQ_INT(mc_lg_workload_synthetic(&w, &so, &d), MC_OK);
    for (size_t i = 0; i < w.n; i++) {
        mc_tok_ids ids;
        mc_tok_ids_init(&ids);
        CHECK_EQ_INT(mc_tok_encode(tok, NULL, w.p[i].text, strlen(w.p[i].text), 0, &ids, &d),
                     MC_OK);
        CHECK_EQ_INT((int64_t)ids.n, w.p[i].input_tokens);
        CHECK(w.p[i].input_exact);
        if (want_exact)
            CHECK(w.p[i].input_tokens >= lo && w.p[i].input_tokens <= hi);
        mc_tok_ids_deinit(&ids);
    }
    mc_lg_workload_deinit(&w);
out:
    bench_ltok_free(lt);
    mc_tok_free(tok);
}

TEST(local_tokenizer_made_model)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/tiny.gguf", harness_tmpdir());
    mc_make_opts o;
    mc_make_opts_default(&o);
    o.layers = 1;
    o.embd = 64;
    o.ff = 64;
    o.experts = 4;
    o.heads = 2;
    o.vocab = 300;
    o.type = MC_DT_F32;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_make_model(&o, path, &d), MC_OK);
    check_local_prompts(path, 40, 90, 0);
    bench_ltok *lt = NULL;
    CHECK_EQ_INT(bench_ltok_open(path, &lt, &d), MC_OK);
    if (lt) {
        CHECK_STR(bench_ltok_kind(lt), "llama");
        int64_t n = 0;
        /* byte-fallback vocabulary: BOS + "▁" + one token per byte of "ab" at most */
        CHECK_EQ_INT(bench_ltok_count(lt, "ab", 2, &n, &d), MC_OK);
        CHECK(n >= 2 && n <= 4);
    }
    bench_ltok_free(lt);
    CHECK_EQ_INT(bench_ltok_open("/nonexistent/x.gguf", &lt, &d), MC_ERR_IO);
    CHECK_CONTAINS(d.msg, "--tokenizer");
    CHECK(lt == NULL);
}

TEST(local_tokenizer_real_vocab)
{
    const char *p = harness_data_path("vocab/ggml-vocab-gpt-2.gguf");
    if (!p)
        SKIP("../shared/data/vocab/ggml-vocab-gpt-2.gguf absent");
    check_local_prompts(p, 50, 400, 1);
}

int main(void)
{
    RUN(search_grow_then_bisect);
    RUN(search_shrink_when_start_fails);
    RUN(search_limits);
    RUN(probe_verdict);
    RUN(estimate_activation);
    RUN(dump_to_jsonl);
    RUN(local_tokenizer_made_model);
    RUN(local_tokenizer_real_vocab);
    return harness_done();
}
