/* test_cap_latency.c: per-request latency figures, summary statistics (hand values and a
 * rank-counting oracle), throughput windows and goodput under SLOs. */
#include "cap.h"
#include "harness.h"

/* Four requests (seconds):
 *   r0 sent 0.0, chunks at 0.5 1.0 1.5 2.0 2.5, 5 output tokens, 100 input: TTFT 0.5, E2E 2.5,
 *      TPOT (2.5 - 0.5) / 4 = 0.5, ITL gaps 0.5 x 4
 *   r1 sent 1.0, one chunk at 1.2, 1 output token, 50 input: TTFT 0.2, E2E 0.2, no TPOT
 *   r2 sent 1.5, failed, 80 input
 *   r3 sent 2.0, chunks at 2.3 2.8 4.0 (the last carries 2 tokens), 3 output tokens, 20 input:
 *      TTFT 0.3, E2E 2.0, TPOT 1.7 / 2 = 0.85, ITL gaps 0.5 and 1.2 */
static const double c0[] = {0.5, 1.0, 1.5, 2.0, 2.5}, c1[] = {1.2}, c3[] = {2.3, 2.8, 4.0};
static const mc_req_timing REQS[4] = {
    {.start_s = 0.0, .first_s = 0.5, .end_s = 2.5, .in_tokens = 100, .out_tokens = 5, .ok = 1,
     .chunk_s = c0, .n_chunks = 5},
    {.start_s = 1.0, .first_s = 1.2, .end_s = 1.2, .in_tokens = 50, .out_tokens = 1, .ok = 1,
     .chunk_s = c1, .n_chunks = 1},
    {.start_s = 1.5, .first_s = -1, .end_s = 3.0, .in_tokens = 80, .out_tokens = 0, .ok = 0},
    {.start_s = 2.0, .first_s = 2.3, .end_s = 4.0, .in_tokens = 20, .out_tokens = 3, .ok = 1,
     .chunk_s = c3, .n_chunks = 3},
};

TEST(per_request)
{
    double x;
    CHECK_EQ_INT(mc_cap_ttft_s(&REQS[0], &x), 0);
    CHECK_NEAR(x, 0.5, 0);
    CHECK_EQ_INT(mc_cap_e2e_s(&REQS[0], &x), 0);
    CHECK_NEAR(x, 2.5, 0);
    CHECK_EQ_INT(mc_cap_tpot_s(&REQS[0], &x), 0);
    CHECK_NEAR(x, 0.5, 0);
    CHECK_EQ_INT(mc_cap_tpot_s(&REQS[3], &x), 0);
    CHECK_NEAR(x, 0.85, 1e-15);
    CHECK_EQ_INT(mc_cap_tpot_s(&REQS[1], &x), -1); /* one output token: no TPOT */
    CHECK_EQ_INT(mc_cap_ttft_s(&REQS[2], &x), -1); /* failed */
    CHECK_EQ_INT(mc_cap_e2e_s(&REQS[2], &x), -1);
}

TEST(collect)
{
    double v[8];
    CHECK_EQ_INT(mc_cap_collect(REQS, 4, MC_LAT_TTFT, v, 8), 3);
    CHECK_NEAR(v[1], 0.2, 1e-15);
    CHECK_EQ_INT(mc_cap_collect(REQS, 4, MC_LAT_TPOT, v, 8), 2);
    CHECK_NEAR(v[1], 0.85, 1e-15);
    CHECK_EQ_INT(mc_cap_collect(REQS, 4, MC_LAT_E2E, v, 8), 3);
    CHECK_NEAR(v[2], 2.0, 0);
    CHECK_EQ_INT(mc_cap_collect(REQS, 4, MC_LAT_ITL, v, 8), 6);
    CHECK_NEAR(v[3], 0.5, 0);
    CHECK_NEAR(v[5], 1.2, 1e-15);
    /* capacity smaller than the count: the count is still returned, only cap written */
    v[3] = -7;
    CHECK_EQ_INT(mc_cap_collect(REQS, 4, MC_LAT_ITL, v, 3), 6);
    CHECK_NEAR(v[3], -7, 0);
}

TEST(stats_hand_values)
{
    /* 1..10 shuffled: mean 5.5; population sd sqrt(82.5 / 10) = 2.8722813; rank h = 9q:
     * p50 h 4.5 -> 5.5; p90 h 8.1 -> 9.1; p95 9.55; p99 9.91; p99.9 9.991 */
    double v[10] = {7, 3, 10, 1, 5, 9, 2, 8, 6, 4};
    mc_cap_stats s;
    CHECK_EQ_INT(mc_cap_stats_of(v, 10, &s, NULL), MC_OK);
    CHECK_EQ_INT(s.n, 10);
    CHECK_NEAR(s.mean, 5.5, 0);
    CHECK_NEAR(s.sd, 2.8722813233, 1e-10);
    CHECK_NEAR(s.min, 1, 0);
    CHECK_NEAR(s.max, 10, 0);
    CHECK_NEAR(s.p50, 5.5, 1e-12);
    CHECK_NEAR(s.p90, 9.1, 1e-12);
    CHECK_NEAR(s.p95, 9.55, 1e-12);
    CHECK_NEAR(s.p99, 9.91, 1e-12);
    CHECK_NEAR(s.p999, 9.991, 1e-12);
    CHECK_NEAR(v[0], 1, 0); /* sorted in place */

    double one = 0.25;
    CHECK_EQ_INT(mc_cap_stats_of(&one, 1, &s, NULL), MC_OK);
    CHECK(s.p50 == 0.25 && s.p999 == 0.25 && s.sd == 0 && s.min == 0.25);
    CHECK_EQ_INT(mc_cap_stats_of(NULL, 0, &s, NULL), MC_OK);
    CHECK_EQ_INT(s.n, 0);
    double bad[2] = {1, NAN};
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_cap_stats_of(bad, 2, &s, &d), MC_ERR_RANGE);
    CHECK_CONTAINS(d.msg, "value 1 is not finite");
    double p[2] = {1, 3};
    CHECK_NEAR(mc_cap_percentile(p, 2, 0.25), 1.5, 0);
    CHECK_NEAR(mc_cap_percentile(p, 2, 2), 3, 0); /* q clamped */
    CHECK(isnan(mc_cap_percentile(p, 0, 0.5)));
}

TEST(stats_rank_oracle)
{
    /* 1001 distinct random values: at q = h / 1000 the interpolated percentile is the value
     * with exactly h smaller values, found by counting (no sorting) */
    enum { N = 1001 };
    static double v[N], orig[N];
    mc_rng r;
    mc_rng_seed(&r, 42);
    for (int i = 0; i < N; i++)
        orig[i] = v[i] = mc_rng_normal(&r) * 0.1 + 1.0;
    mc_cap_stats s;
    CHECK_EQ_INT(mc_cap_stats_of(v, N, &s, NULL), MC_OK);
    const struct {
        double got;
        int h;
    } want[] = {{s.p50, 500}, {s.p90, 900}, {s.p95, 950}, {s.p99, 990}, {s.p999, 999},
                {s.min, 0},   {s.max, 1000}};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        int found = 0;
        for (int i = 0; i < N; i++) {
            int below = 0;
            for (int j = 0; j < N; j++)
                below += orig[j] < orig[i];
            if (below == want[k].h) {
                CHECK_NEAR(want[k].got, orig[i], 1e-12);
                found = 1;
            }
        }
        CHECK(found);
    }
    double sum = 0;
    for (int i = 0; i < N; i++)
        sum += orig[i];
    CHECK_NEAR(s.mean, sum / N, 1e-12);
}

TEST(throughput)
{
    /* window: first sent (0.0) -> last successful completion (4.0) = 4 s; 3 ok, 1 failed;
     * input 100 + 50 + 20 = 170, output 5 + 1 + 3 = 9 tokens of the successful requests */
    mc_cap_throughput t;
    mc_cap_window w = {0, 0};
    CHECK_EQ_INT(mc_cap_throughput_of(REQS, 4, w, &t, NULL), MC_OK);
    CHECK_NEAR(t.duration_s, 4, 0);
    CHECK_EQ_INT(t.ok, 3);
    CHECK_EQ_INT(t.failed, 1);
    CHECK_NEAR(t.req_per_s, 0.75, 0);
    CHECK_NEAR(t.in_tok_per_s, 42.5, 0);
    CHECK_NEAR(t.out_tok_per_s, 2.25, 0);
    CHECK_NEAR(t.total_tok_per_s, 44.75, 0);
    w = (mc_cap_window){0, 5};
    CHECK_EQ_INT(mc_cap_throughput_of(REQS, 4, w, &t, NULL), MC_OK);
    CHECK_NEAR(t.out_tok_per_s, 1.8, 1e-15);
    /* only a failed request: no window */
    mc_diag d = {{0}};
    w = (mc_cap_window){0, 0};
    CHECK_EQ_INT(mc_cap_throughput_of(&REQS[2], 1, w, &t, &d), MC_ERR_RANGE);
    CHECK_CONTAINS(d.msg, "no positive duration");
}

TEST(goodput)
{
    mc_cap_goodput g;
    mc_cap_window w = {0, 0};
    /* TTFT <= 0.4, TPOT <= 0.6: r0 late first token, r3 TPOT 0.85; r1 (1 token, no TPOT)
     * passes; r2 failed -> 1 good of 4; 1 good / 4 s; its 1 output token / 4 s */
    mc_cap_slo slo = {.ttft_s = 0.4, .tpot_s = 0.6};
    CHECK_EQ_INT(mc_cap_goodput_of(REQS, 4, &slo, w, &g, NULL), MC_OK);
    CHECK_EQ_INT(g.good, 1);
    CHECK_NEAR(g.good_fraction, 0.25, 0);
    CHECK_NEAR(g.req_per_s, 0.25, 0);
    CHECK_NEAR(g.out_tok_per_s, 0.25, 0);
    CHECK_EQ_INT(mc_cap_request_good(&REQS[1], &slo), 1);
    slo = (mc_cap_slo){.ttft_s = 0.6, .tpot_s = 0.9};
    CHECK_EQ_INT(mc_cap_goodput_of(REQS, 4, &slo, w, &g, NULL), MC_OK);
    CHECK_EQ_INT(g.good, 3);
    slo = (mc_cap_slo){.e2e_s = 2.2}; /* r0 2.5 s too slow; r1 0.2, r3 2.0 */
    CHECK_EQ_INT(mc_cap_goodput_of(REQS, 4, &slo, w, &g, NULL), MC_OK);
    CHECK_EQ_INT(g.good, 2);
    CHECK_NEAR(g.out_tok_per_s, 1.0, 0);
    slo = (mc_cap_slo){0};
    CHECK_EQ_INT(mc_cap_request_good(&REQS[2], &slo), 0); /* failed is never good */
}

int main(void)
{
    RUN(per_request);
    RUN(collect);
    RUN(stats_hand_values);
    RUN(stats_rank_oracle);
    RUN(throughput);
    RUN(goodput);
    return harness_done();
}
