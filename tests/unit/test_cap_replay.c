/* test_cap_replay.c: cache.replay (src/cap/cache_replay.c) on hand-simulated routing traces of
 * the tiny MoE (tests/support/cap_fixtures.c: 2 MoE layers x 8 experts of 49,152 B, top-2), and
 * its use by mc_predict_cache (predict.tpot_offload with a replayed hit rate). Every count below
 * was worked out by hand, slot by slot, in the comments. */
#include "cap.h"
#include "cap_fixtures.h"
#include "harness.h"

#include <math.h>
#include <string.h>

#define EXPERT 49152.0

/* Trace of two batch-1 passes (rows = the 2 MoE layers, 8 experts each; 1 token per expert):
 *   A: layer 0 {0, 1}, layer 1 {0, 1}      B: layer 0 {0, 2}, layer 1 {0, 1}
 * Experts are numbered layer x 8 + expert: A = {0, 1} {8, 9}, B = {0, 2} {8, 9}. */
static int64_t tpe_a[16] = {1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0};
static int64_t tpe_b[16] = {1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0};

static void trace(mc_pass p[2])
{
    for (int i = 0; i < 2; i++) {
        mc_pass_init(&p[i]);
        p[i].tpe_rows = 2;
        p[i].tpe_cols = 8;
        p[i].tokens_per_expert = i ? tpe_b : tpe_a; /* borrowed: never deinit'ed */
        p[i].line = i + 1;
    }
}

static mc_cache_replay replay(const mc_model *m, const mc_pass *p, size_t n, double slots,
                              mc_cache_policy pol)
{
    mc_cache_replay r;
    mc_diag d = {{0}};
    if (mc_cache_replay_of(m, p, n, slots * EXPERT, pol, &r, &d) != MC_OK) {
        fprintf(stderr, "mc_cache_replay_of: %s\n", d.msg);
        exit(1);
    }
    return r;
}

/* LRU, 3 slots (s0..s2; "x@t" = expert x last used at clock t).
 * First replay (not counted): A0 0->s0@1, 1->s1@2; A1 8->s2@3, 9->s0@4; B0 0->s1@5, 2->s2@6;
 * B1 9 hit s0@7, 8->s1@8. State s0=9@7 s1=8@8 s2=2@6.
 * Second replay: A0 0->s2@9, 1->s0@10 (2 misses); A1 8 hit @11, 9->s2@12 (1/1); B0 0->s0@13,
 * 2->s1@14 (2 misses); B1 9 hit @15, 8->s0@16 (1/1). Layer 0: 0 of 4, layer 1: 2 of 4. */
TEST(lru_hand_simulated)
{
    mc_model *m = cf_tiny_moe();
    mc_pass p[2];
    trace(p);
    mc_cache_replay r = replay(m, p, 2, 3, MC_CACHE_LRU);
    CHECK_EQ_INT(r.slots, 3);
    CHECK_EQ_INT(r.passes, 2);
    CHECK_EQ_INT(r.n_layers, 2);
    CHECK_NEAR(r.hits, 2, 0);
    CHECK_NEAR(r.misses, 6, 0);
    CHECK_NEAR(r.hit_rate, 0.25, 0);
    CHECK_NEAR(r.layer_hit_rate[0], 0, 0);
    CHECK_NEAR(r.layer_hit_rate[1], 0.5, 0);
    mc_model_free(m);
}

/* LFU (fewest uses over the replay's life, least recently used on ties), 3 slots ("x:f@t").
 * First replay: A0 0->s0, 1->s1; A1 8->s2, 9->s0 (all f 1, s0 oldest); B0 0->s1 (f0 = 2),
 * 2->s2; B1 9 hit (f9 = 2), 8 takes s2 (f2 = 1 < f0 = 2): s0=9:2@7 s1=0:2@5 s2=8:2@8.
 * Second replay: A0 0 hit (f0 = 3), 1 takes s0 (f9 2@7 older than f8 2@8); A1 8 hit (f8 = 3),
 * 9 takes s0 (f1 = 2 < f0 = 3); B0 0 hit (f0 = 4), 2 takes s2 (f8 3@11 older than f9 3@12);
 * B1 9 hit, 8 takes s2 (f2 = 2 < f0 = 4). One hit and one miss in every layer of every pass. */
TEST(lfu_hand_simulated)
{
    mc_model *m = cf_tiny_moe();
    mc_pass p[2];
    trace(p);
    mc_cache_replay r = replay(m, p, 2, 3, MC_CACHE_LFU);
    CHECK_NEAR(r.hits, 4, 0);
    CHECK_NEAR(r.misses, 4, 0);
    CHECK_NEAR(r.layer_hit_rate[0], 0.5, 0);
    CHECK_NEAR(r.layer_hit_rate[1], 0.5, 0);
    mc_model_free(m);
}

/* STATIC, 3 slots: all but top_k = 2 pinned = 1 pin, the expert with the most tokens, lower id
 * on ties: 0, 8 and 9 have 2 tokens -> 0. The other 2 slots are LRU: in the second replay A0 0
 * hit, 1 miss; A1 8 hit, 9 miss; B0 0 hit, 2 miss; B1 9 hit, 8 miss (each time the other LRU
 * slot holds the expert just used). 4 hits, 4 misses. */
TEST(static_hand_simulated)
{
    mc_model *m = cf_tiny_moe();
    mc_pass p[2];
    trace(p);
    mc_cache_replay r = replay(m, p, 2, 3, MC_CACHE_STATIC);
    CHECK_NEAR(r.hits, 4, 0);
    CHECK_NEAR(r.misses, 4, 0);
    CHECK_NEAR(r.layer_hit_rate[0], 0.5, 0);
    mc_model_free(m);
}

/* A layer wanting more experts than the cache has slots runs in rounds, as the engine does.
 * 2 slots, one pass, layer 0 {0, 1, 2}, layer 1 nothing. First replay: 0->s0, 1->s1, no free
 * slot -> next round: 2 takes s0 (LRU). Second replay: 1 and 2 hit (s1 then s0 used), 0 takes
 * s1 in the next round. 2 hits, 1 miss; layer 1 activated nothing (NaN). */
TEST(rounds_and_idle_layer)
{
    mc_model *m = cf_tiny_moe();
    static int64_t tpe[16] = {3, 2, 1};
    mc_pass p;
    mc_pass_init(&p);
    p.tpe_rows = 2;
    p.tpe_cols = 8;
    p.tokens_per_expert = tpe;
    mc_cache_replay r = replay(m, &p, 1, 2, MC_CACHE_LRU);
    CHECK_NEAR(r.hits, 2, 0);
    CHECK_NEAR(r.misses, 1, 0);
    CHECK_NEAR(r.layer_hit_rate[0], 2.0 / 3.0, 1e-15);
    CHECK(isnan(r.layer_hit_rate[1]));
    mc_model_free(m);
}

/* Every expert of the trace fits: the second replay hits everything. */
TEST(all_fit)
{
    mc_model *m = cf_tiny_moe();
    mc_pass p[2];
    trace(p);
    mc_cache_replay r = replay(m, p, 2, 16, MC_CACHE_LRU);
    CHECK_EQ_INT(r.slots, 16);
    CHECK_NEAR(r.hit_rate, 1, 0);
    CHECK_NEAR(r.misses, 0, 0);
    mc_model_free(m);
}

/* predict.tpot_offload with the LRU replay above: uniform routing gives 2 experts per layer at
 * batch 1; hit rates 0 and 0.5 -> misses 2 + 1 = 3 -> 147,456 B at 0.1 GB/s = 1.47456 ms;
 * hit rate (0 x 2 + 0.5 x 2) / 4 = 0.25; TPOT 0.404736 + 1.47456 = 1.879296 ms. With a cache of
 * 3 experts uniform routing alone would give 3/16 = 0.1875. */
TEST(predict_with_replay)
{
    mc_model *m = cf_tiny_moe();
    mc_pass p[2];
    trace(p);
    mc_cache_replay r = replay(m, p, 2, 3, MC_CACHE_LRU);
    mc_predict_cache_in in;
    memset(&in, 0, sizeof in);
    in.batch = 1;
    in.context_tok = 110;
    in.cache_bytes = 3 * EXPERT;
    in.policy = MC_CACHE_LRU;
    in.fast_Bps = 1e9;
    in.slow_Bps = 1e8;
    in.eff = 1;
    mc_predict_cache_out o;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_predict_cache(m, &in, &o, &d), MC_OK);
    CHECK_NEAR(o.hit_rate, 0.1875, 1e-15);
    CHECK_STR(o.hit_model, "uniform");
    in.replay = &r;
    CHECK_EQ_INT(mc_predict_cache(m, &in, &o, &d), MC_OK);
    CHECK_STR(o.hit_model, "replay");
    CHECK_NEAR(o.hit_rate, 0.25, 1e-15);
    CHECK_NEAR(o.layer_hit_rate[0], 0, 0);
    CHECK_NEAR(o.layer_hit_rate[1], 0.5, 0);
    CHECK_NEAR(o.misses_per_step, 3, 1e-12);
    CHECK_NEAR(o.slow_bytes, 147456, 1e-6);
    CHECK_NEAR(o.fast_bytes, 404736, 1e-6);
    CHECK_NEAR(o.tpot_s, 1.879296e-3, 1e-15);
    mc_model_free(m);
}

TEST(bad_input)
{
    mc_model *m = cf_tiny_moe();
    mc_pass p[2];
    trace(p);
    mc_cache_replay r;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_cache_replay_of(m, p, 2, 1.5 * EXPERT, MC_CACHE_LRU, &r, &d), MC_ERR_RANGE);
    CHECK_STR(d.msg, "cache replay: 73728 bytes hold 1 experts; a layer needs top_k = 2");
    p[1].tpe_cols = 4;
    CHECK_EQ_INT(mc_cache_replay_of(m, p, 2, 3 * EXPERT, MC_CACHE_LRU, &r, &d), MC_ERR_ARG);
    CHECK_STR(d.msg, "cache replay: line 2: tokens_per_expert is 2 x 4; the model has 2 MoE "
                     "layers of 8 experts");
    p[0].tpe_rows = p[1].tpe_rows = 0;
    CHECK_EQ_INT(mc_cache_replay_of(m, p, 2, 3 * EXPERT, MC_CACHE_LRU, &r, &d), MC_ERR_NOT_FOUND);
    CHECK_STR(d.msg, "cache replay: no record has tokens_per_expert");
    mc_model_free(m);
}

int main(void)
{
    RUN(lru_hand_simulated);
    RUN(lfu_hand_simulated);
    RUN(static_hand_simulated);
    RUN(rounds_and_idle_layer);
    RUN(all_fit);
    RUN(predict_with_replay);
    RUN(bad_input);
    return harness_done();
}
