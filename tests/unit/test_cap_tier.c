/* test_cap_tier.c: expert offloading in the measurements (src/cap/tier.c): per-tier S-MBU of a
 * pass and of a run (smbu.fast, smbu.slow), cache.slow_bw, smbu.slow_stall, cache.hit_rate
 * overall and per layer, routing frequencies from tokens_per_expert, and the memory price table
 * with cost.memory_capital, against the worked examples of docs/METRICS.md. The model is
 * cf_tiny_moe() (tests/support/cap_fixtures.c): 2 MoE layers of 8 experts (49,152 B each),
 * top-2. */
#include "cap.h"
#include "cap_fixtures.h"
#include "harness.h"

static mc_pass parse(const char *json)
{
    mc_pass p;
    mc_diag d = {{0}};
    if (mc_pass_parse(json, strlen(json), &p, &d) != MC_OK) {
        fprintf(stderr, "parse: %s\n", d.msg);
        exit(1);
    }
    return p;
}

/* Worked example (METRICS.md smbu.fast): a decode pass at context 110 (404,736 B, as
 * predict's worked example), 2.5 ms, layer 0 hit 1 of 2 experts, layer 1 none of 2;
 * 3 x 49,152 = 147,456 B read from the slow tier while the compute waited 1.8432 ms.
 * Fast tier 1 GB/s, slow 0.1 GB/s:
 *   smbu.fast = 404,736 / 0.0025 / 1e9 = 0.1618944
 *   smbu.slow = 147,456 / 0.0025 / 1e8 = 0.589824
 *   cache.slow_bw = 147,456 / 0.0018432 = 80,000,000 B/s; smbu.slow_stall = 0.8
 *   cache.hit_rate = 1 / 4 = 0.25 */
static const char *PASS1 =
    "{\"forward_mode\":\"decode\",\"batch_size\":1,\"seq_lens_sum\":110,\"latency\":0.0025,"
    "\"experts_per_layer\":[2,2],\"cache_hits\":[1,0],\"cache_misses\":[1,2],"
    "\"slow_tier_bytes\":147456,\"slow_tier_stall\":0.0018432}";
/* every expert resident, slow tier not recorded */
static const char *PASS2 =
    "{\"forward_mode\":\"decode\",\"batch_size\":1,\"seq_lens_sum\":110,\"latency\":0.0005,"
    "\"experts_per_layer\":[2,2],\"cache_hits\":[2,2],\"cache_misses\":[0,0]}";
/* no expert cache: not part of the cache figures */
static const char *PASS3 =
    "{\"forward_mode\":\"prefill\",\"batch_size\":1,\"seq_lens_sum\":100,\"latency\":0.01}";

TEST(pass_tier_worked_example)
{
    mc_model *m = cf_tiny_moe();
    mc_pass p = parse(PASS1);
    mc_pass_tier t;
    CHECK_EQ_INT(mc_cap_pass_tier(m, &p, 1e9, 1e8, &t, NULL), MC_OK);
    CHECK_NEAR(t.fast_bytes, 404736, 1e-6);
    CHECK_NEAR(t.slow_bytes, 147456, 0);
    CHECK_NEAR(t.smbu_fast, 0.1618944, 1e-12);
    CHECK_NEAR(t.smbu_slow, 0.589824, 1e-12);
    CHECK_NEAR(t.slow_bw_Bps, 8e7, 1e-3);
    CHECK_NEAR(t.smbu_stall, 0.8, 1e-12);
    CHECK_NEAR(t.hit_rate, 0.25, 0);
    /* slow bandwidth unknown: the slow-tier utilisations are not available */
    CHECK_EQ_INT(mc_cap_pass_tier(m, &p, 1e9, 0, &t, NULL), MC_OK);
    CHECK(isnan(t.smbu_slow) && isnan(t.smbu_stall));
    CHECK_NEAR(t.slow_bw_Bps, 8e7, 1e-3);
    mc_pass_deinit(&p);
    mc_model_free(m);
}

/* Run: passes 1 and 2 (3 has no cache fields). hits 1 + 4 = 5 of 8 -> 0.625; layer 0: 3 of 4
 * = 0.75, layer 1: 2 of 4 = 0.5; smbu.fast = 2 x 404,736 / 0.003 / 1e9 = 0.269824; the slow
 * figures only from pass 1 (pass 2 did not record them): 0.589824, 80 MB/s, 0.8. */
TEST(run_tier_summary)
{
    mc_model *m = cf_tiny_moe();
    mc_pass p[3] = {parse(PASS1), parse(PASS2), parse(PASS3)};
    mc_cap_tier_summary s;
    CHECK_EQ_INT(mc_cap_tier_summarise(m, 1e9, 1e8, p, 3, &s, NULL), MC_OK);
    CHECK_EQ_INT(s.all.passes, 2);
    CHECK_EQ_INT(s.all.hits, 5);
    CHECK_EQ_INT(s.all.misses, 3);
    CHECK_NEAR(s.all.hit_rate, 0.625, 0);
    CHECK_NEAR(s.all.time_s, 0.003, 1e-15);
    CHECK_NEAR(s.all.smbu_fast, 0.269824, 1e-12);
    CHECK_EQ_INT(s.all.slow_passes, 1);
    CHECK_NEAR(s.all.smbu_slow, 0.589824, 1e-12);
    CHECK_NEAR(s.all.slow_bw_Bps, 8e7, 1e-3);
    CHECK_NEAR(s.all.smbu_stall, 0.8, 1e-12);
    CHECK_EQ_INT(s.mode[MC_PASS_DECODE].passes, 2);
    CHECK_EQ_INT(s.mode[MC_PASS_PREFILL].passes, 0);
    CHECK(isnan(s.mode[MC_PASS_PREFILL].hit_rate));
    CHECK_EQ_INT(s.n_layers, 2);
    CHECK_NEAR(s.layer_hit_rate[0], 0.75, 0);
    CHECK_NEAR(s.layer_hit_rate[1], 0.5, 0);
    /* no cache fields at all: nothing to report */
    CHECK_EQ_INT(mc_cap_tier_summarise(m, 1e9, 1e8, p + 2, 1, &s, NULL), MC_OK);
    CHECK_EQ_INT(s.all.passes, 0);
    CHECK_EQ_INT(s.n_layers, 0);
    for (int i = 0; i < 3; i++)
        mc_pass_deinit(&p[i]);
    mc_model_free(m);
}

TEST(tier_errors)
{
    mc_model *m = cf_tiny_moe();
    mc_diag d = {{0}};
    mc_pass p = parse("{\"forward_mode\":\"decode\",\"batch_size\":1,\"latency\":0.001,"
                      "\"cache_hits\":[1,0,0],\"cache_misses\":[1,2,0]}");
    p.line = 7;
    mc_cap_tier_summary s;
    CHECK_EQ_INT(mc_cap_tier_summarise(m, 1e9, 1e8, &p, 1, &s, &d), MC_ERR_FORMAT);
    CHECK_STR(d.msg, "line 7: cache_hits has 3 layers; the model has 2 MoE layers");
    CHECK_EQ_INT(mc_cap_tier_summarise(m, 0, 1e8, &p, 1, &s, &d), MC_ERR_RANGE);
    mc_pass_deinit(&p);
    mc_model_free(m);
}

/* tokens_per_expert of two passes, one row per MoE layer:
 *   layer 0: [4,4,2,2,1,1,1,1] + [4,4,2,2,1,1,1,1] = 32 routed tokens -> 2 x count / 32 =
 *            0.5, 0.5, 0.25, 0.25, 0.125 x 4
 *   layer 1: [8,0,...] + [0,8,...] = 16 -> 1, 1, 0 x 6 */
TEST(route_freq_from_records)
{
    mc_model *m = cf_tiny_moe();
    mc_pass p[2] = {
        parse("{\"forward_mode\":\"prefill\",\"batch_size\":1,\"seq_lens_sum\":8,\"latency\":1,"
              "\"tokens_per_expert\":[[4,4,2,2,1,1,1,1],[8,0,0,0,0,0,0,0]]}"),
        parse("{\"forward_mode\":\"prefill\",\"batch_size\":1,\"seq_lens_sum\":8,\"latency\":1,"
              "\"tokens_per_expert\":[[4,4,2,2,1,1,1,1],[0,8,0,0,0,0,0,0]]}")};
    double *f = NULL;
    size_t rows = 0, cols = 0;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_cap_route_freq(m, p, 2, &f, &rows, &cols, &d), MC_OK);
    CHECK_EQ_INT(rows, 2);
    CHECK_EQ_INT(cols, 8);
    static const double want[16] = {0.5, 0.5, 0.25, 0.25, 0.125, 0.125, 0.125, 0.125,
                                    1,   1,   0,    0,    0,     0,     0,     0};
    for (int i = 0; f && i < 16; i++)
        CHECK_NEAR(f[i], want[i], 1e-15);
    mc_free(f);
    /* no tokens_per_expert anywhere */
    mc_pass q = parse(PASS3);
    CHECK_EQ_INT(mc_cap_route_freq(m, &q, 1, &f, &rows, &cols, &d), MC_ERR_NOT_FOUND);
    CHECK(f == NULL);
    for (int i = 0; i < 2; i++)
        mc_pass_deinit(&p[i]);
    mc_pass_deinit(&q);
    mc_model_free(m);
}

/* ---- memory prices and cost.memory_capital ---- */

static const char *TABLE =
    "# test table\n"
    "tier,usd_per_gb,estimate,date,source,notes\n"
    "ddr5-rdimm,4,no,2025-06,\"a source, quoted\",\n"
    "nvme-dc,0.1,yes,2025-06,another,notes here\r\n";

/* 48 GB of DDR5 at $4/GB + 100 GB of SSD at $0.10/GB = 192 + 10 = 202 $ */
TEST(memory_capital)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", TABLE);
    mc_mem_price *tab = NULL;
    int n = 0;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_hw_mem_prices_parse(buf, strlen(buf), "t.csv", &tab, &n, &d), MC_OK);
    CHECK_EQ_INT(n, 2);
    CHECK_STR(tab[0].source, "a source, quoted");
    CHECK_EQ_INT(tab[1].estimate, 1);
    CHECK_STR(tab[1].notes, "notes here");
    mc_mem_capital c;
    mc_mem_capital_in in = {48e9, "DDR5-RDIMM", 100e9, "nvme-dc"};
    CHECK_EQ_INT(mc_cost_memory_capital(tab, (size_t)n, &in, &c, &d), MC_OK);
    CHECK_NEAR(c.fast_usd, 192, 1e-12);
    CHECK_NEAR(c.slow_usd, 10, 1e-12);
    CHECK_NEAR(c.usd, 202, 1e-12);
    in.slow_bytes = 0; /* no slow tier: its name is not needed */
    in.slow_tier = NULL;
    CHECK_EQ_INT(mc_cost_memory_capital(tab, (size_t)n, &in, &c, &d), MC_OK);
    CHECK_NEAR(c.usd, 192, 1e-12);
    in.fast_tier = "hbm9";
    CHECK_EQ_INT(mc_cost_memory_capital(tab, (size_t)n, &in, &c, &d), MC_ERR_NOT_FOUND);
    CHECK_STR(d.msg, "memory price: unknown tier 'hbm9' (known: ddr5-rdimm, nvme-dc)");
    in.fast_tier = "nvme-dc";
    in.fast_bytes = -1;
    CHECK_EQ_INT(mc_cost_memory_capital(tab, (size_t)n, &in, &c, &d), MC_ERR_RANGE);
    mc_free(tab);
}

TEST(memory_table_errors)
{
    static const struct {
        const char *csv, *msg;
    } cases[] = {
        {"tier,usd_per_gb,estimate,date,source\n", "t.csv:1: missing column 'notes'"},
        {"tier,usd_per_gb,estimate,date,source,notes,x\n", "t.csv:1: unknown column 'x'"},
        {"tier,usd_per_gb,estimate,date,source,notes\na,0,no,2025-01,s,\n",
         "t.csv:2:usd_per_gb: '0' is not a number > 0"},
        {"tier,usd_per_gb,estimate,date,source,notes\na,1,maybe,2025-01,s,\n",
         "t.csv:2:estimate: 'maybe' is not yes or no"},
        {"tier,usd_per_gb,estimate,date,source,notes\na,1,no,2025,s,\n",
         "t.csv:2:date: '2025' is not YYYY-MM"},
        {"tier,usd_per_gb,estimate,date,source,notes\na,1,no,2025-01,,\n",
         "t.csv:2:source: required"},
        {"tier,usd_per_gb,estimate,date,source,notes\na,1,no,2025-01,s,\nA,2,no,2025-01,s,\n",
         "t.csv:3:tier: duplicate tier 'A'"},
        {"tier,usd_per_gb,estimate,date,source,notes\na,1,no,2025-01,s\n",
         "t.csv:2: 5 fields, the header has 6"},
        {"tier,usd_per_gb,estimate,date,source,notes\n", "t.csv: no price rows"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", cases[i].csv);
        mc_mem_price *tab = NULL;
        int n = 0;
        mc_diag d = {{0}};
        CHECK_EQ_INT(mc_hw_mem_prices_parse(buf, strlen(buf), "t.csv", &tab, &n, &d),
                     MC_ERR_FORMAT);
        CHECK_STR(d.msg, cases[i].msg);
        CHECK(tab == NULL);
    }
}

/* The catalogue's data/memory.csv loads (MOECAP_CATALOGUE_DIR points at the source tree). */
TEST(memory_catalogue_loads)
{
    mc_mem_price *tab = NULL;
    int n = 0;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_hw_mem_prices_load(&tab, &n, &d), MC_OK);
    if (!tab)
        fprintf(stderr, "%s\n", d.msg);
    CHECK(n >= 3);
    /* METRICS.md cost.memory_capital: 64 GB ddr5-rdimm + 100 GB nvme-dc = 700.16 + 9.5 $ */
    mc_mem_capital c;
    mc_mem_capital_in in = {64e9, "ddr5-rdimm", 100e9, "nvme-dc"};
    CHECK_EQ_INT(mc_cost_memory_capital(tab, (size_t)n, &in, &c, &d), MC_OK);
    CHECK_NEAR(c.usd, 709.66, 1e-9);
    mc_free(tab);
}

int main(void)
{
    RUN(pass_tier_worked_example);
    RUN(run_tier_summary);
    RUN(tier_errors);
    RUN(route_freq_from_records);
    RUN(memory_capital);
    RUN(memory_table_errors);
    RUN(memory_catalogue_loads);
    return harness_done();
}
