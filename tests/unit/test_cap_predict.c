/* test_cap_predict.c: the analytic CAP model (predict.*, src/cap/predict.c) against hand-computed
 * values for a tiny synthetic model and device (docs/METRICS.md section 11 quotes the same
 * numbers), plus properties: TPOT non-decreasing in the batch, distinct experts saturating at N,
 * memory-fit and offload boundaries, the SLO search against brute force, agreement with
 * mc_cap_pass_bytes / mc_cap_pass_flops on the same pass, calibration, and the DeepSeek-R1
 * bandwidth example of the MoE-CAP paper (documented, not asserted: see the test). */
#include "cap.h"
#include "cap_fixtures.h"
#include "harness.h"

/* ---- fixtures ---- */

/* tiny (cf_tiny_moe(), tests/support/cap_fixtures.c): hidden 64, 2 MoE layers, 4 heads, 2 KV
 * heads, head_dim 16, 8 experts top-2 of width 128, vocab 1000, untied; every group bf16 (norms
 * too), KV bf16.
 *   attention  64x64 (q) + 2 x 64x32 (k, v) + 64x64 (o)  = 12,288 params = 24,576 B
 *   norms      2 x 64                                      =    128 params =    256 B
 *   router     64 x 8                                      =    512 params =  1,024 B
 *   expert     3 x 64 x 128                                = 24,576 params = 49,152 B
 *   embedding, LM head 1000 x 64 = 64,000 params = 128,000 B each; final norm 64 = 128 B
 *   total bytes 2 x [2 x (12,288 + 128 + 512 + 8 x 24,576) + 2 x 64,000 + 64] = 1,094,272 B
 *   KV per token 2 (K, V) x 2 heads x 16 x 2 layers x 2 B = 256 B */

/* tiny-dev: 2,000,000 B of memory, 1 GB/s, 10 GFLOP/s bf16, 0.1 GB/s host link, $1000, 100 W. */
static mc_hw_deploy tiny_dev(int n, double mem_bytes)
{
    mc_hw_deploy dep;
    memset(&dep, 0, sizeof dep);
    snprintf(dep.hw.name, sizeof dep.hw.name, "tiny-dev");
    dep.hw.mem_bytes = mem_bytes;
    dep.hw.mem_bw_Bps = 1e9;
    dep.hw.flops[MC_PREC_BF16] = 1e10;
    dep.hw.host_link_Bps = 1e8;
    dep.hw.price_usd = 1000;
    dep.hw.tdp_w = 100;
    dep.count = n;
    return dep;
}

static mc_predict run(const mc_model *m, const mc_hw_deploy *dep, int64_t b, int64_t in,
                      int64_t out)
{
    mc_predict_opts o;
    mc_predict_opts_default(&o, dep);
    o.batch = b;
    o.input_len = in;
    o.output_len = out;
    mc_predict p;
    mc_diag d = {{0}};
    if (mc_predict_run(m, dep, &o, &p, &d) != MC_OK) {
        fprintf(stderr, "mc_predict_run: %s\n", d.msg);
        exit(1);
    }
    return p;
}

/* ---- hand-computed point: batch 1, I = 100, O = 20 ---- */

TEST(tiny_model_counts)
{
    mc_model *m = cf_tiny_moe();
    CHECK_NEAR(m->total_bytes, 1094272, 0);
    CHECK_NEAR(m->kv_bytes_per_token, 256, 0);
    mc_model_free(m);
}

/* Decode step: context I + O/2 = 110 -> seq_lens_sum 110, 1 new token, 2 distinct experts
 * (8 (1 - (6/8)^1) = 2 exactly).
 *   bytes: layers 2 x (24,576 + 256 + 1,024 + 2 x 49,152) = 248,320; head 128,000 + 128 =
 *          128,128; embedding 128; KV read 109 x 256 = 27,904; written 256 -> 404,736 B
 *   FLOPs: linear 2 x 1 x 2 x (12,288 + 512 + 2 x 24,576) = 247,808; head 2 x 1000 x 64 =
 *          128,000; attention 110 pairs x 2 layers x 4 x 4 x 16 = 56,320 -> 432,128
 *   memory 404,736 / 1e9 = 404.736 us > compute 432,128 / 1e10 = 43.2128 us -> TPOT 404.736 us
 * Prefill: 100 tokens, 8 (1 - 0.75^100) experts (8 - 2.6e-12)
 *   bytes 2 x 25,856 + 2 x 8 x 49,152 + 128,128 + 100 x 128 + 100 x 256 = 1,004,672 B
 *   FLOPs 2 x 100 x 123,904 + 128,000 (1 logits row) + 5,050 pairs x 2 x 256 = 27,494,400
 *   compute 2.74944 ms > memory 1.004672 ms -> TTFT 2.74944 ms
 * Throughput: decode 1 / 404.736 us = 2470.7464 tok/s; request 2.74944 + 19 x 0.404736 =
 *   10.439424 ms -> 20 / 10.439424 ms = 1915.8145 output tok/s
 * Memory: 1,094,272 + 1 x 120 x 256 = 1,124,992 B <= 2,000,000: fits, nothing offloaded.
 * Cost (defaults: host $7,214 and 350 W, 3 years, PUE 1.5, $0.15/kWh):
 *   capital (1000 + 7214) / 26,280 = 0.312557 $/h; energy (100 + 350) x 1.5 / 1000 x 0.15 =
 *   0.10125 $/h; $/1M output tokens = 0.4138071 / (1915.8145 x 3600) x 1e6 = 0.0599987;
 *   J per output token = 675 / 1915.8145 = 0.35233056
 * S-MBU of the decode step 1 (memory-bound at full bandwidth); S-MFU 432,128 / 404.736 us /
 * 1e10 = 0.10677; the prefill's S-MFU 1 (compute-bound). */
TEST(hand_computed_point)
{
    mc_model *m = cf_tiny_moe();
    mc_hw_deploy dep = tiny_dev(1, 2e6);
    mc_predict p = run(m, &dep, 1, 100, 20);
    CHECK_NEAR(p.decode_ctx_tok, 110, 0);
    CHECK_NEAR(p.decode.bytes.distinct_mean, 2, 1e-12);
    CHECK_NEAR(p.decode.bytes.layers, 248320, 1e-6);
    CHECK_NEAR(p.decode.bytes.kv_read, 27904, 0);
    CHECK_NEAR(p.decode.bytes.total, 404736, 1e-6);
    CHECK_NEAR(p.decode.flops.linear, 247808, 0);
    CHECK_NEAR(p.decode.flops.attn, 56320, 0);
    CHECK_NEAR(p.decode.flops.total, 432128, 0);
    CHECK_EQ_INT(p.decode.bound, MC_PREDICT_MEMORY);
    CHECK_NEAR(p.tpot_s, 404.736e-6, 1e-15);
    CHECK_NEAR(p.decode.compute_s, 43.2128e-6, 1e-15);
    CHECK_NEAR(p.prefill.bytes.distinct_mean, 8, 1e-11);
    CHECK_NEAR(p.prefill.bytes.total, 1004672, 1e-3);
    CHECK_NEAR(p.prefill.flops.total, 27494400, 0);
    CHECK_EQ_INT(p.prefill.bound, MC_PREDICT_COMPUTE);
    CHECK_NEAR(p.ttft_s, 2.74944e-3, 1e-15);
    CHECK_NEAR(p.decode_tok_per_s, 2470.746363, 1e-6);
    CHECK_NEAR(p.request_s, 10.439424e-3, 1e-15);
    CHECK_NEAR(p.out_tok_per_s, 1915.814512, 1e-6);
    CHECK_NEAR(p.decode.smbu, 1.0, 1e-12);
    CHECK_NEAR(p.decode.smfu, 0.1067678684, 1e-10);
    CHECK_NEAR(p.prefill.smfu, 1.0, 1e-12);
    CHECK_NEAR(p.need_bytes, 1124992, 0);
    CHECK(p.fits);
    CHECK_NEAR(p.offload_bytes, 0, 0);
    CHECK_NEAR(p.decode.offload_s, 0, 0);
    CHECK_NEAR(p.hour.usd_per_h, 8214.0 / 26280 + 0.10125, 1e-12);
    CHECK_NEAR(p.usd_per_mtok, 0.0599987158, 1e-10);
    CHECK_NEAR(p.j_per_tok, 0.35233056, 1e-8);
    mc_model_free(m);
}

/* O = 21 gives B x O odd: the mean context 110.5 is the mean of the passes at 110 and 111:
 * KV read 109.5 x 256 = 28,032 B, bytes 404,736 + 128 = 404,864, pairs 110.5. */
TEST(half_token_context)
{
    mc_model *m = cf_tiny_moe();
    mc_hw_deploy dep = tiny_dev(1, 2e6);
    mc_predict p = run(m, &dep, 1, 100, 21);
    CHECK_NEAR(p.decode_ctx_tok, 110.5, 0);
    CHECK_NEAR(p.decode.bytes.kv_read, 28032, 0);
    CHECK_NEAR(p.decode.bytes.total, 404864, 1e-6);
    CHECK_NEAR(p.decode.flops.attn_pairs, 110.5, 0);
    mc_model_free(m);
}

/* The prediction prices exactly the record a measurement of the same step would carry. */
TEST(same_as_pass_bytes)
{
    mc_model *m = cf_tiny_moe();
    mc_hw_deploy dep = tiny_dev(1, 1e9);
    const char *rec = "{\"forward_mode\":\"decode\",\"batch_size\":8,\"new_tokens\":8,"
                      "\"seq_lens_sum\":880,\"latency\":0.01}"; /* no activation: uniform */
    mc_pass pass;
    CHECK(mc_pass_parse(rec, strlen(rec), &pass, NULL) == MC_OK);
    mc_pass_bytes b;
    mc_pass_flops f;
    CHECK(mc_cap_pass_bytes(m, &pass, &b, NULL) == MC_OK);
    mc_cap_pass_flops(m, &pass, &f);
    mc_predict p = run(m, &dep, 8, 100, 20); /* 8 x (100 + 10) = 880 */
    CHECK_NEAR(p.decode.bytes.total, b.total, 0);
    CHECK_NEAR(p.decode.bytes.distinct_mean, b.distinct_mean, 0);
    CHECK_NEAR(p.decode.flops.total, f.total, 0);
    CHECK_NEAR(p.decode.bytes.distinct_mean, 8 * (1 - pow(0.75, 8)), 1e-12);
    mc_pass_deinit(&pass);
    mc_model_free(m);
}

/* ---- properties ---- */

TEST(monotonic_in_batch)
{
    mc_model *m = cf_tiny_moe();
    mc_hw_deploy dep = tiny_dev(1, 2e6); /* offload from batch 30 on */
    double last_tpot = 0, last_act = 0;
    for (int64_t b = 1; b <= 300; b++) {
        mc_predict p = run(m, &dep, b, 100, 20);
        CHECK(p.tpot_s >= last_tpot);
        CHECK(p.decode.bytes.distinct_mean >= last_act);
        CHECK(p.decode.bytes.distinct_mean <= 8);
        last_tpot = p.tpot_s;
        last_act = p.decode.bytes.distinct_mean;
    }
    CHECK_NEAR(last_act, 8, 1e-9); /* 8 (1 - 0.75^300) */
    mc_model_free(m);
}

/* fit: floor((2,000,000 - 1,094,272) / (120 x 256)) = floor(29.48) = 29. Batch 29 needs
 * 1,985,152 B; batch 30 needs 2,015,872 B: 15,872 B do not fit. Everything but the routed
 * experts (1,094,272 - 786,432 = 307,840 B of weights + 921,600 B of KV) fits, so the experts
 * are cached in what is left, 770,560 B (predict.offload, cache mode "memory"): under uniform
 * routing each activated expert misses with probability 15,872 / 786,432, and a miss crosses the
 * 0.1 GB/s host link. Decode: 2 layers x E(30) = 8 (1 - 0.75^30) experts -> 16 (1 - 0.75^30) x
 * 49,152 x 15,872 / 786,432 = 15,868.4 B = 158.68 us; prefill (3000 tokens, E = 8): 15,872 B =
 * 158.72 us. */
TEST(memory_fit_and_offload)
{
    mc_model *m = cf_tiny_moe();
    mc_hw_deploy dep = tiny_dev(1, 2e6);
    CHECK_EQ_INT(mc_predict_fit_batch(m, &dep, 100, 20), 29);
    mc_predict a = run(m, &dep, 29, 100, 20), b = run(m, &dep, 30, 100, 20);
    CHECK(a.fits);
    CHECK_NEAR(a.need_bytes, 1985152, 0);
    CHECK_NEAR(a.offload_bytes, 0, 0);
    CHECK_NEAR(a.decode.offload_s, 0, 0);
    CHECK(!b.fits);
    CHECK_NEAR(b.need_bytes, 2015872, 0);
    CHECK_NEAR(b.offload_bytes, 15872, 0);
    CHECK_EQ_INT(b.cache_mode, MC_PREDICT_CACHE_MEMORY);
    CHECK_NEAR(b.cache_bytes, 770560, 0);
    CHECK_NEAR(b.nonresident, 0, 0);
    double miss = 15872.0 / 786432, act30 = 8 * (1 - pow(0.75, 30));
    CHECK_NEAR(b.decode.cache.hit_rate, 1 - miss, 1e-15);
    CHECK_NEAR(b.decode.cache.slow_bytes, 2 * act30 * 49152 * miss, 1e-9);
    CHECK_NEAR(b.decode.offload_s, 2 * act30 * 49152 * miss / 1e8, 1e-15);
    CHECK_NEAR(b.tpot_s, fmax(b.decode.mem_s, b.decode.compute_s) + b.decode.offload_s, 1e-15);
    CHECK_NEAR(b.prefill.cache.slow_bytes, 15872, 1e-6);
    CHECK_NEAR(b.ttft_s, b.prefill.compute_s + 15872 / 1e8, 1e-12);
    /* weights other than the experts + KV exceed memory (300,000 B at batch 1: 307,840 +
     * 30,720 = 338,560 B): nothing is cached, every activated expert streams (2 x 2 x 49,152 =
     * 196,608 B) and the non-fitting share 38,560 / 338,560 of the step's other bytes
     * (404,736 - 196,608) crosses too */
    mc_hw_deploy tight = tiny_dev(1, 300000);
    mc_predict t = run(m, &tight, 1, 100, 20);
    CHECK_EQ_INT(t.cache_mode, MC_PREDICT_CACHE_MEMORY);
    CHECK_NEAR(t.cache_bytes, 0, 0);
    CHECK_NEAR(t.decode.cache.hit_rate, 0, 0);
    CHECK_NEAR(t.nonresident, 38560.0 / 338560, 1e-15);
    CHECK_NEAR(t.decode.offload_s, (196608 + 38560.0 / 338560 * (404736 - 196608)) / 1e8, 1e-12);
    /* memory exactly equal to what batch 29 needs: 29 fits (nothing offloaded), 30 offloads
     * exactly one sequence's KV, 120 x 256 = 30,720 B */
    mc_hw_deploy exact = tiny_dev(1, 1985152);
    CHECK_EQ_INT(mc_predict_fit_batch(m, &exact, 100, 20), 29);
    mc_predict e29 = run(m, &exact, 29, 100, 20), e30 = run(m, &exact, 30, 100, 20);
    CHECK(e29.fits && e29.offload_bytes == 0 && e29.decode.offload_s == 0);
    CHECK(!e30.fits && e30.offload_bytes == 30720 && e30.decode.offload_s > 0);
    /* two devices: twice the memory and the host links */
    mc_hw_deploy two = tiny_dev(2, 2e6);
    CHECK_EQ_INT(mc_predict_fit_batch(m, &two, 100, 20), 94); /* (4e6 - 1,094,272) / 30,720 */
    /* weights alone too large: no batch fits */
    mc_hw_deploy small = tiny_dev(1, 1e6);
    CHECK_EQ_INT(mc_predict_fit_batch(m, &small, 100, 20), 0);
    /* no host link: an offloaded step never finishes */
    small.hw.host_link_Bps = 0;
    mc_predict c = run(m, &small, 1, 100, 20);
    CHECK(!c.fits && isinf(c.tpot_s) && c.decode_tok_per_s == 0 && isnan(c.usd_per_mtok));
    mc_model_free(m);
}

TEST(max_batch_vs_brute_force)
{
    mc_model *m = cf_tiny_moe();
    mc_hw_deploy dep = tiny_dev(1, 2e7); /* fits up to (2e7 - 1,094,272) / 30,720 = 615 */
    CHECK_EQ_INT(mc_predict_fit_batch(m, &dep, 100, 20), 615);
    const double slos[] = {1e-5, 4.05e-4, 1e-3, 5e-3, 2e-2, 3e-2, 1.0};
    mc_predict_opts o;
    mc_predict_opts_default(&o, &dep);
    o.input_len = 100;
    o.output_len = 20;
    for (size_t i = 0; i < sizeof slos / sizeof slos[0]; i++) {
        int64_t brute = 0;
        for (int64_t b = 1; b <= 700; b++) {
            mc_predict p = run(m, &dep, b, 100, 20);
            if (p.fits && p.tpot_s <= slos[i])
                brute = b;
        }
        int64_t best = -1;
        mc_predict at;
        CHECK(mc_predict_max_batch(m, &dep, &o, slos[i], &best, &at, NULL) == MC_OK);
        CHECK_EQ_INT(best, brute);
        if (best > 0)
            CHECK(at.batch == best && at.tpot_s <= slos[i]);
    }
    int64_t best = -1;
    mc_diag d = {{0}};
    CHECK(mc_predict_max_batch(m, &dep, &o, 0, &best, NULL, &d) == MC_ERR_RANGE);
    CHECK_EQ_INT(best, 0);
    mc_model_free(m);
}

/* Batch-1 decode step at minimal activation: 404,736 B (above) -> 0.404736 GB/s for a 1 ms
 * TPOT; full activation: layers 2 x (25,856 + 8 x 49,152) = 838,144 + 128,128 + 128 + 27,904
 * + 256 = 994,560 B -> 0.99456 GB/s. */
TEST(bandwidth_required)
{
    mc_model *m = cf_tiny_moe();
    mc_predict_bw bw;
    CHECK(mc_predict_bw_required(m, 100, 20, 1e-3, &bw, NULL) == MC_OK);
    CHECK_NEAR(bw.min_bytes, 404736, 1e-6);
    CHECK_NEAR(bw.full_bytes, 994560, 1e-6);
    CHECK_NEAR(bw.min_Bps, 404736e3, 1e-3);
    CHECK_NEAR(bw.full_Bps, 994560e3, 1e-3);
    mc_diag d = {{0}};
    CHECK(mc_predict_bw_required(m, 100, 20, -1, &bw, &d) == MC_ERR_RANGE);
    CHECK(mc_predict_bw_required(m, 0, 20, 1, &bw, &d) == MC_ERR_RANGE);
    CHECK_CONTAINS(d.msg, "input length");
    mc_model_free(m);
}

TEST(forced_activation_and_routing_frequencies)
{
    mc_model *m = cf_tiny_moe();
    mc_hw_deploy dep = tiny_dev(1, 1e9);
    mc_predict_opts o;
    mc_predict_opts_default(&o, &dep);
    o.batch = 16;
    o.input_len = 100;
    o.output_len = 20;
    mc_predict p;
    o.act = MC_PREDICT_ACT_FULL;
    CHECK(mc_predict_run(m, &dep, &o, &p, NULL) == MC_OK);
    CHECK_NEAR(p.decode.bytes.distinct_mean, 8, 0);
    o.act = MC_PREDICT_ACT_MIN;
    CHECK(mc_predict_run(m, &dep, &o, &p, NULL) == MC_OK);
    CHECK_NEAR(p.decode.bytes.distinct_mean, 2, 0);
    CHECK_NEAR(p.prefill.bytes.distinct_mean, 2, 0);
    /* a router that always picks experts 0 and 1: 2 distinct whatever the batch */
    const double hot[8] = {1, 1, 0, 0, 0, 0, 0, 0};
    o.act = MC_PREDICT_ACT_EXPECTED;
    o.route_freq = hot;
    o.route_rows = 1;
    o.route_cols = 8;
    CHECK(mc_predict_run(m, &dep, &o, &p, NULL) == MC_OK);
    CHECK_NEAR(p.decode.bytes.distinct_mean, 2, 0);
    /* uniform frequencies 2/8 = the uniform formula: 8 (1 - 0.75^16) */
    const double flat[16] = {.25, .25, .25, .25, .25, .25, .25, .25,
                             .25, .25, .25, .25, .25, .25, .25, .25};
    o.route_freq = flat;
    o.route_rows = 2; /* one row per MoE layer */
    CHECK(mc_predict_run(m, &dep, &o, &p, NULL) == MC_OK);
    CHECK_NEAR(p.decode.bytes.distinct_mean, 8 * (1 - pow(0.75, 16)), 1e-12);
    mc_diag d = {{0}};
    o.route_rows = 3;
    CHECK(mc_predict_run(m, &dep, &o, &p, &d) == MC_ERR_ARG);
    CHECK_CONTAINS(d.msg, "rows");
    o.route_rows = 1;
    o.route_freq = flat + 8;
    o.route_cols = 7;
    CHECK(mc_predict_run(m, &dep, &o, &p, &d) == MC_ERR_ARG);
    CHECK_CONTAINS(d.msg, "experts");
    const double sum1[8] = {.125, .125, .125, .125, .125, .125, .125, .125};
    o.route_freq = sum1;
    o.route_cols = 8;
    CHECK(mc_predict_run(m, &dep, &o, &p, &d) == MC_ERR_ARG);
    CHECK_CONTAINS(d.msg, "top_k 2");
    mc_model_free(m);
}

TEST(efficiency_and_calibration)
{
    mc_model *m = cf_tiny_moe();
    mc_hw_deploy dep = tiny_dev(1, 2e6);
    mc_predict p = run(m, &dep, 1, 100, 20);
    /* a run that took twice the predicted TPOT and four times the TTFT: 50% of the bandwidth
     * in the (memory-bound) decode, 25% of the FLOP/s in the (compute-bound) prefill */
    mc_predict_eff eff;
    CHECK(mc_predict_calibrate(&p, 2 * p.tpot_s, 4 * p.ttft_s, &eff, NULL) == MC_OK);
    CHECK_NEAR(eff.eff_mem, 0.5, 1e-12);
    CHECK_NEAR(eff.eff_compute, 0.25, 1e-12);
    CHECK_EQ_INT(eff.mem_from, MC_CALIB_TPOT);
    CHECK_EQ_INT(eff.compute_from, MC_CALIB_TTFT);
    mc_predict_opts o;
    mc_predict_opts_default(&o, &dep);
    o.input_len = 100;
    o.output_len = 20;
    o.eff_mem = eff.eff_mem;
    o.eff_compute = eff.eff_compute;
    mc_predict q;
    CHECK(mc_predict_run(m, &dep, &o, &q, NULL) == MC_OK);
    CHECK_NEAR(q.tpot_s, 2 * p.tpot_s, 1e-15);
    CHECK_NEAR(q.ttft_s, 4 * p.ttft_s, 1e-15);
    CHECK_NEAR(q.decode.smbu, 0.5, 1e-12); /* the calibrated factor is the measured S-MBU */
    /* a 1-token prompt makes the prefill memory-bound too: TPOT keeps the say on memory and
     * nothing calibrates compute */
    mc_predict r = run(m, &dep, 1, 1, 20);
    CHECK_EQ_INT(r.prefill.bound, MC_PREDICT_MEMORY);
    CHECK(mc_predict_calibrate(&r, 2 * r.tpot_s, 3 * r.ttft_s, &eff, NULL) == MC_OK);
    CHECK_NEAR(eff.eff_mem, 0.5, 1e-12);
    CHECK_NEAR(eff.eff_compute, 1, 0);
    CHECK_EQ_INT(eff.compute_from, MC_CALIB_NONE);
    mc_diag d = {{0}};
    mc_predict off = run(m, &dep, 30, 100, 20); /* offloading */
    CHECK(mc_predict_calibrate(&off, off.decode.offload_s / 2, 0, &eff, &d) == MC_ERR_RANGE);
    CHECK_CONTAINS(d.msg, "host-link");
    mc_model_free(m);
}

TEST(cost_known_and_unknown)
{
    mc_model *m = cf_tiny_moe();
    mc_hw_deploy dep = tiny_dev(1, 2e6);
    dep.hw.price_usd = 0; /* unknown price: cost unknown, not free */
    mc_predict p = run(m, &dep, 1, 100, 20);
    CHECK(isnan(p.usd_per_mtok));
    CHECK_NEAR(p.j_per_tok, 0.35233056, 1e-8);
    mc_predict_opts o;
    mc_predict_opts_default(&o, &dep);
    o.input_len = 100;
    o.output_len = 20;
    o.cost.cloud_usd_per_device_hour = 2; /* $2/h / (1915.8145 tok/s x 3600) x 1e6 = 0.289984 $ */
    CHECK(mc_predict_run(m, &dep, &o, &p, NULL) == MC_OK);
    CHECK_NEAR(p.usd_per_mtok, 2 / (p.out_tok_per_s * 3600) * 1e6, 1e-12);
    CHECK_NEAR(p.usd_per_mtok, 0.289984, 1e-6);
    dep.hw.tdp_w = 0;
    p = run(m, &dep, 1, 100, 20);
    CHECK(isnan(p.j_per_tok));
    mc_model_free(m);
}

TEST(bad_options)
{
    mc_model *m = cf_tiny_moe();
    mc_hw_deploy dep = tiny_dev(1, 2e6);
    mc_predict_opts o;
    mc_predict p;
    mc_diag d = {{0}};
    mc_predict_opts_default(&o, &dep);
    o.batch = 0;
    CHECK(mc_predict_run(m, &dep, &o, &p, &d) == MC_ERR_RANGE);
    CHECK_CONTAINS(d.msg, "batch 0");
    mc_predict_opts_default(&o, &dep);
    o.output_len = MC_PREDICT_MAX + 1;
    CHECK(mc_predict_run(m, &dep, &o, &p, &d) == MC_ERR_RANGE);
    CHECK_CONTAINS(d.msg, "output length");
    mc_predict_opts_default(&o, &dep);
    o.eff_mem = 0;
    CHECK(mc_predict_run(m, &dep, &o, &p, &d) == MC_ERR_RANGE);
    CHECK_CONTAINS(d.msg, "efficiency");
    mc_predict_opts_default(&o, &dep);
    dep.hw.mem_bytes = 0;
    CHECK(mc_predict_run(m, &dep, &o, &p, &d) == MC_ERR_UNSUPPORTED);
    mc_model_free(m);
}

/* A device without a peak at the weights' compute precision (fp8 weights on a bf16-only
 * device) is costed at its bf16 peak, flagged. */
TEST(peak_fallback)
{
    mc_model *m = cf_tiny_moe();
    CHECK(mc_model_set_weight_dtype(m, MC_DT_FP8, NULL) == MC_OK);
    mc_hw_deploy dep = tiny_dev(1, 2e6);
    mc_predict p = run(m, &dep, 1, 100, 20);
    CHECK(p.peak_fallback);
    CHECK_EQ_INT(p.peak.prec, MC_PREC_BF16);
    CHECK_NEAR(p.peak.flops, 1e10, 0);
    dep.hw.flops[MC_PREC_FP8] = 2e10;
    p = run(m, &dep, 1, 100, 20);
    CHECK(!p.peak_fallback);
    CHECK_NEAR(p.peak.flops, 2e10, 0);
    mc_model_free(m);
}

/* DeepSeek-R1 (the catalogue's), all weights bf16, TPOT SLO 0.1 s, context 2 tokens (I 1, O 2)
 * so the KV term is tiny (2 x 70,272 B):
 *   minimal activation (top-8 + 1 shared): the active parameters 36,625,625,600 x 2 B =
 *     73,251,251,200 B -> 732.5 GB/s
 *   full activation: 671,026,419,200 - 926,679,040 (embedding table) + 7,168 (one row) =
 *     670,099,747,328 params x 2 B = 1,340,199,494,656 B -> 13,402 GB/s
 * The MoE-CAP reference code's formula gives 763 / 13,432 GB/s (it counts 2 shared experts and
 * no LM head); the paper quotes 1,040 / 18,901 GB/s from a procedure (its appendix A.7) that is
 * not in the reference code. We document the comparison (docs/METRICS.md) and do not assert
 * the paper's figures. */
TEST(deepseek_r1_paper_example)
{
    mc_model *m = NULL;
    mc_diag d = {{0}};
    if (mc_model_load("deepseek-r1", &m, &d) != MC_OK) {
        HARNESS_FAIL_("catalogue deepseek-r1: %s", d.msg);
        return;
    }
    CHECK(mc_model_set_weight_dtype(m, MC_DT_BF16, NULL) == MC_OK);
    CHECK_EQ_INT(m->active_params, 36625625600LL);
    CHECK_NEAR(m->kv_bytes_per_token, 70272, 0);
    mc_predict_bw bw;
    CHECK(mc_predict_bw_required(m, 1, 2, 0.1, &bw, NULL) == MC_OK);
    double kv = 2 * 70272.0;
    CHECK_NEAR(bw.min_bytes - kv, 73251251200.0, 1e-3);
    CHECK_NEAR(bw.full_bytes - kv, 1340199494656.0, 1e-2);
    CHECK_NEAR(bw.min_Bps / 1e9, 732.5139, 1e-4);
    CHECK_NEAR(bw.full_Bps / 1e9, 13401.9963, 1e-4);
    /* bytes per step grow 18.30x from a = 8 to a = 256 (the paper's figures: 18.17x) */
    CHECK_NEAR(bw.full_bytes / bw.min_bytes, 18.2959, 1e-4);
    mc_model_free(m);
}

/* ---- predict.cache_hit_rate, predict.tpot_offload (docs/METRICS.md section 11) ----
 * tiny: 2 MoE layers x 8 experts of 49,152 B = 786,432 B of routed experts. The decode step at
 * batch 1, context 110 reads 404,736 B (hand_computed_point). Fast tier 1 GB/s, slow 0.1 GB/s. */

static mc_predict_cache_in cache_in(int64_t b, double cache_bytes, mc_cache_policy pol)
{
    mc_predict_cache_in in;
    memset(&in, 0, sizeof in);
    in.batch = b;
    in.context_tok = 110;
    in.cache_bytes = cache_bytes;
    in.policy = pol;
    in.fast_Bps = 1e9;
    in.slow_Bps = 1e8;
    in.eff = 1;
    return in;
}

static mc_predict_cache_out cache_run(const mc_model *m, const mc_predict_cache_in *in)
{
    mc_predict_cache_out o;
    mc_diag d = {{0}};
    if (mc_predict_cache(m, in, &o, &d) != MC_OK) {
        fprintf(stderr, "mc_predict_cache: %s\n", d.msg);
        exit(1);
    }
    return o;
}

/* Uniform routing, a cache of 4 experts (196,608 B = 25%): every policy hits 25%; 2 experts per
 * layer, 1.5 misses each -> 3 x 49,152 = 147,456 B per step at 0.1 GB/s = 1.47456 ms; TPOT =
 * 0.404736 + 1.47456 = 1.879296 ms; with half the miss time hidden 0.404736 + 0.73728 =
 * 1.142016 ms. Batch 4: 8 (1 - 0.75^4) = 5.46875 experts per layer, 0.75 of them missed:
 * 2 x 4.1015625 x 49,152 = 403,200 B. */
TEST(cache_uniform_worked_example)
{
    mc_model *m = cf_tiny_moe();
    for (int pol = 0; pol < MC_CACHE_POLICY_COUNT; pol++) {
        mc_predict_cache_in in = cache_in(1, 196608, (mc_cache_policy)pol);
        mc_predict_cache_out o = cache_run(m, &in);
        CHECK_NEAR(o.hit_rate, 0.25, 1e-15);
        CHECK_NEAR(o.cached_fraction, 0.25, 1e-15);
        CHECK_NEAR(o.expert_bytes, 786432, 0);
        CHECK_NEAR(o.experts_per_layer, 2, 1e-12);
        CHECK_NEAR(o.misses_per_step, 3, 1e-12);
        CHECK_NEAR(o.layer_hit_rate[0], 0.25, 1e-15);
        CHECK_NEAR(o.layer_hit_rate[1], 0.25, 1e-15);
        CHECK_EQ_INT(o.n_layers, 2);
        CHECK_NEAR(o.fast_bytes, 404736, 1e-6);
        CHECK_NEAR(o.slow_bytes, 147456, 1e-6);
        CHECK_NEAR(o.fast_s, 404.736e-6, 1e-15);
        CHECK_NEAR(o.slow_s, 1.47456e-3, 1e-15);
        CHECK_NEAR(o.tpot_s, 1.879296e-3, 1e-15);
        CHECK_NEAR(o.smbu_fast, 404736 / 1.879296e-3 / 1e9, 1e-12);
        CHECK_NEAR(o.smbu_slow, 147456 / 1.879296e-3 / 1e8, 1e-12);
    }
    mc_predict_cache_in in = cache_in(1, 196608, MC_CACHE_LRU);
    in.overlap = 0.5;
    CHECK_NEAR(cache_run(m, &in).tpot_s, 1.142016e-3, 1e-15);
    in = cache_in(4, 196608, MC_CACHE_LRU);
    mc_predict_cache_out o4 = cache_run(m, &in);
    CHECK_NEAR(o4.experts_per_layer, 5.46875, 1e-12);
    CHECK_NEAR(o4.slow_bytes, 403200, 1e-6);
    CHECK_NEAR(o4.hit_rate, 0.25, 1e-15);
    mc_model_free(m);
}

/* Measured routing, one row for both layers: f = 0.5, 0.5, 0.25, 0.25, 0.125 x 4 (sums to 2).
 * STATIC / LFU with 4 experts: the two 0.5-experts of each layer; hit rate (0.5 + 0.5) / 2 =
 * 0.5; 1 miss per layer -> 98,304 B, TPOT 0.404736 + 0.98304 = 1.387776 ms.
 * LRU, Che: sum_i (1 - (1 - f_i)^tau) = 2 experts per layer holds at tau = 1 (the sum of f is
 * top_k), so h_i = f_i and the hit rate is sum f_i^2 / 2 = (0.5 + 0.125 + 0.0625) / 2 = 0.34375;
 * misses 2 x (2 - 0.6875) = 2.625 -> 129,024 B, TPOT 1.694976 ms.
 * LRU with 6.625 experts (325,632 B): tau = 2 (sum 2f - f^2 = 4 - 0.6875 = 3.3125 per layer),
 * h = 0.75, 0.4375, 0.234375 -> hit rate (2 x 0.5 x 0.75 + 2 x 0.25 x 0.4375 +
 * 4 x 0.125 x 0.234375) / 2 = 0.54296875. */
TEST(cache_measured_routing_worked_example)
{
    mc_model *m = cf_tiny_moe();
    static const double f[8] = {0.5, 0.5, 0.25, 0.25, 0.125, 0.125, 0.125, 0.125};
    mc_predict_cache_in in = cache_in(1, 196608, MC_CACHE_STATIC);
    in.freq = f;
    in.freq_rows = 1;
    in.freq_cols = 8;
    for (int pol = MC_CACHE_LFU; pol <= MC_CACHE_STATIC; pol++) {
        in.policy = (mc_cache_policy)pol;
        mc_predict_cache_out o = cache_run(m, &in);
        CHECK_NEAR(o.hit_rate, 0.5, 1e-15);
        CHECK_NEAR(o.layer_hit_rate[1], 0.5, 1e-15);
        CHECK_NEAR(o.slow_bytes, 98304, 1e-6);
        CHECK_NEAR(o.tpot_s, 1.387776e-3, 1e-15);
        CHECK_NEAR(o.che_tokens, 0, 0);
    }
    in.policy = MC_CACHE_LRU;
    mc_predict_cache_out o = cache_run(m, &in);
    CHECK_NEAR(o.che_tokens, 1, 1e-9);
    CHECK_NEAR(o.hit_rate, 0.34375, 1e-9);
    CHECK_NEAR(o.misses_per_step, 2.625, 1e-9);
    CHECK_NEAR(o.slow_bytes, 129024, 1e-4);
    CHECK_NEAR(o.tpot_s, 1.694976e-3, 1e-12);
    CHECK_NEAR(o.fast_bytes, 404736, 1e-6); /* 2 experts per layer expected, as uniform */
    in.cache_bytes = 6.625 * 49152;
    o = cache_run(m, &in);
    CHECK_NEAR(o.che_tokens, 2, 1e-9);
    CHECK_NEAR(o.hit_rate, 0.54296875, 1e-9);
    /* everything fits: no misses, the step runs at the fast tier's speed */
    in.cache_bytes = 786432;
    o = cache_run(m, &in);
    CHECK(isinf(o.che_tokens));
    CHECK_NEAR(o.hit_rate, 1, 0);
    CHECK_NEAR(o.slow_bytes, 0, 0);
    CHECK_NEAR(o.tpot_s, 404.736e-6, 1e-15);
    mc_model_free(m);
}

/* Properties: LRU's hit rate grows with the cache; for one token per step the static hottest
 * set is the best any policy can do under independent references, so it is >= LRU; an expert
 * never routed (f = 0) is never cached. */
TEST(cache_properties)
{
    mc_model *m = cf_tiny_moe();
    static const double f[8] = {0.7, 0.5, 0.3, 0.2, 0.15, 0.1, 0.05, 0.0};
    mc_predict_cache_in in = cache_in(1, 0, MC_CACHE_LRU);
    in.freq = f;
    in.freq_rows = 1;
    in.freq_cols = 8;
    double last = -1;
    for (int k = 4; k <= 16; k++) {
        in.cache_bytes = k * 49152.0;
        in.policy = MC_CACHE_LRU;
        mc_predict_cache_out lru = cache_run(m, &in);
        in.policy = MC_CACHE_STATIC;
        mc_predict_cache_out st = cache_run(m, &in);
        CHECK(lru.hit_rate > last - 1e-12);
        CHECK(st.hit_rate >= lru.hit_rate - 1e-12);
        last = lru.hit_rate;
    }
    in.cache_bytes = 14 * 49152.0; /* the 7 routed experts of each layer fit */
    in.policy = MC_CACHE_LRU;
    CHECK_NEAR(cache_run(m, &in).hit_rate, 1, 0);
    mc_model_free(m);
}

TEST(cache_bad_input)
{
    mc_model *m = cf_tiny_moe();
    mc_diag d = {{0}};
    mc_predict_cache_out o;
    mc_predict_cache_in in = cache_in(1, 98303, MC_CACHE_LRU); /* < top-2 of one layer */
    CHECK_EQ_INT(mc_predict_cache(m, &in, &o, &d), MC_ERR_RANGE);
    CHECK(strstr(d.msg, "top-2 experts of one layer (98304 bytes)") != NULL);
    in = cache_in(0, 196608, MC_CACHE_LRU);
    CHECK_EQ_INT(mc_predict_cache(m, &in, &o, &d), MC_ERR_RANGE);
    in = cache_in(1, 196608, MC_CACHE_LRU);
    in.overlap = 1.5;
    CHECK_EQ_INT(mc_predict_cache(m, &in, &o, &d), MC_ERR_RANGE);
    in.overlap = 0;
    in.slow_Bps = 0;
    CHECK_EQ_INT(mc_predict_cache(m, &in, &o, &d), MC_ERR_RANGE);
    static const double bad[8] = {0.5, 0.5, 0.25, 0.25, 0.125, 0.125, 0.125, 0.0};
    in = cache_in(1, 196608, MC_CACHE_LRU);
    in.freq = bad;
    in.freq_rows = 1;
    in.freq_cols = 8;
    CHECK_EQ_INT(mc_predict_cache(m, &in, &o, &d), MC_ERR_ARG);
    CHECK(strstr(d.msg, "sum to 1.875") != NULL);
    in.freq_cols = 7;
    CHECK_EQ_INT(mc_predict_cache(m, &in, &o, &d), MC_ERR_ARG);
    mc_cache_policy pol;
    CHECK_EQ_INT(mc_cache_policy_parse("LFU", &pol, &d), MC_OK);
    CHECK_EQ_INT(pol, MC_CACHE_LFU);
    CHECK_EQ_INT(mc_cache_policy_parse("fifo", &pol, &d), MC_ERR_ARG);
    CHECK_NEAR(mc_cache_min_bytes(m), 98304, 0);
    mc_model_free(m);
}

/* mc_predict_run with a given cache agrees with mc_predict_cache (one code path): batch 1,
 * I 100, O 20, 4 experts (196,608 B) at 0.1 GB/s: TPOT 0.404736 + 1.47456 = 1.879296 ms;
 * memory needed 1,124,992 - (786,432 - 196,608) = 535,168 B; the prefill (100 tokens, E = 8 -
 * 2.6e-12 per layer) misses 0.75 of 16 experts: 589,824 B = 5.89824 ms after its 2.74944 ms. */
TEST(cache_in_predict_run)
{
    mc_model *m = cf_tiny_moe();
    mc_hw_deploy dep = tiny_dev(1, 2e6);
    mc_predict_opts o;
    mc_predict_opts_default(&o, &dep);
    o.batch = 1;
    o.input_len = 100;
    o.output_len = 20;
    o.expert_cache_bytes = 196608;
    o.slow_Bps = 1e8;
    mc_predict p;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_predict_run(m, &dep, &o, &p, &d), MC_OK);
    CHECK_EQ_INT(p.cache_mode, MC_PREDICT_CACHE_GIVEN);
    CHECK_NEAR(p.need_bytes, 535168, 0);
    CHECK_NEAR(p.decode.cache.hit_rate, 0.25, 1e-15);
    CHECK_NEAR(p.tpot_s, 1.879296e-3, 1e-15);
    CHECK_NEAR(p.prefill.cache.slow_bytes, 589824, 1e-3);
    CHECK_NEAR(p.ttft_s, 2.74944e-3 + 5.89824e-3, 1e-12);
    mc_predict_cache_in in = cache_in(1, 196608, MC_CACHE_LRU);
    CHECK_NEAR(cache_run(m, &in).tpot_s, p.tpot_s, 1e-15);
    o.prefetch_overlap = 0.5;
    CHECK_EQ_INT(mc_predict_run(m, &dep, &o, &p, &d), MC_OK);
    CHECK_NEAR(p.tpot_s, 1.142016e-3, 1e-15);
    o.expert_cache_bytes = 1000; /* below the top-2 of a layer */
    CHECK_EQ_INT(mc_predict_run(m, &dep, &o, &p, &d), MC_ERR_RANGE);
    o.expert_cache_bytes = 196608;
    o.prefetch_overlap = 2;
    CHECK_EQ_INT(mc_predict_run(m, &dep, &o, &p, &d), MC_ERR_RANGE);
    mc_model_free(m);
}

int main(void)
{
    RUN(tiny_model_counts);
    RUN(hand_computed_point);
    RUN(half_token_context);
    RUN(same_as_pass_bytes);
    RUN(monotonic_in_batch);
    RUN(memory_fit_and_offload);
    RUN(max_batch_vs_brute_force);
    RUN(bandwidth_required);
    RUN(forced_activation_and_routing_frequencies);
    RUN(efficiency_and_calibration);
    RUN(cost_known_and_unknown);
    RUN(bad_options);
    RUN(peak_fallback);
    RUN(deepseek_r1_paper_example);
    RUN(cache_uniform_worked_example);
    RUN(cache_measured_routing_worked_example);
    RUN(cache_properties);
    RUN(cache_bad_input);
    RUN(cache_in_predict_run);
    return harness_done();
}
