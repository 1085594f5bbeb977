/* test_cap_cost.c: hourly cost, $/1M tokens, J/token, the MoE-CAP reference's cost formula and
 * the CAP radar normalisation, against hand-computed values. */
#include "cap.h"
#include "harness.h"

static mc_cost_opts h100_pcie_x8(void)
{
    mc_cost_opts o;
    mc_cost_opts_default(&o);
    o.devices = 8;
    o.device_price_usd = 28000;
    o.device_power_w = 350;
    return o;
}

TEST(defaults)
{
    mc_cost_opts o;
    mc_cost_opts_default(&o);
    CHECK_EQ_INT(o.devices, 1);
    CHECK_NEAR(o.host_price_usd, 7214, 0);
    CHECK_NEAR(o.host_power_w, 350, 0);
    CHECK_NEAR(o.lifetime_years, 3, 0);
    CHECK_NEAR(o.utilisation, 1, 0);
    CHECK_NEAR(o.pue, 1.5, 0);
    CHECK_NEAR(o.usd_per_kwh, 0.15, 0);
    CHECK_NEAR(o.cloud_usd_per_device_hour, 0, 0);
}

TEST(hourly)
{
    /* 8 x H100-PCIe ($28,000, 350 W) + host ($7,214, 350 W), 3 years of 8760 h, PUE 1.5,
     * $0.15/kWh: capital 231,214 / 26,280 h = 8.798097 $/h; facility power (2800 + 350) x 1.5
     * = 4725 W -> 4.725 kW x 0.15 = 0.70875 $/h; total 9.506847 $/h.
     * At 1000 tok/s: 9.506847 / 3.6M tokens per hour x 1M = 2.640791 $ per 1M tokens;
     * 4725 W / 1000 tok/s = 4.725 J/token. */
    mc_cost_opts o = h100_pcie_x8();
    mc_cost_hour h;
    CHECK_EQ_INT(mc_cost_per_hour(&o, &h, NULL), MC_OK);
    CHECK_NEAR(h.capital_usd_per_h, 8.7980974125, 1e-9);
    CHECK_NEAR(h.energy_usd_per_h, 0.70875, 1e-12);
    CHECK_NEAR(h.usd_per_h, 9.5068474125, 1e-9);
    CHECK_NEAR(h.facility_power_w, 4725, 0);
    CHECK_NEAR(mc_cost_usd_per_mtok(h.usd_per_h, 1000), 2.6407909479, 1e-9);
    CHECK_NEAR(mc_cost_j_per_tok(h.facility_power_w, 1000), 4.725, 1e-12);
    CHECK(isnan(mc_cost_usd_per_mtok(1, 0)));
    CHECK(isnan(mc_cost_j_per_tok(1, -1)));

    o.utilisation = 0.5; /* capital spread over half the hours: twice as much per used hour */
    CHECK_EQ_INT(mc_cost_per_hour(&o, &h, NULL), MC_OK);
    CHECK_NEAR(h.capital_usd_per_h, 17.596194825, 1e-8);
    CHECK_NEAR(h.energy_usd_per_h, 0.70875, 1e-12);

    o.cloud_usd_per_device_hour = 2.5; /* cloud: 8 x 2.5, power and facility included */
    CHECK_EQ_INT(mc_cost_per_hour(&o, &h, NULL), MC_OK);
    CHECK_NEAR(h.usd_per_h, 20, 0);
    CHECK_NEAR(h.energy_usd_per_h, 0, 0);
}

TEST(option_errors)
{
    static const struct {
        int field;
        double v;
        const char *msg;
    } cases[] = {
        {0, 0, "device count 0"},   {1, -1, "device price"}, {2, NAN, "device power"},
        {3, 0, "lifetime"},         {4, 0, "utilisation"},   {4, 1.5, "utilisation"},
        {5, 0.9, "PUE must be >= 1"}, {6, -0.1, "$/kWh"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mc_cost_opts o = h100_pcie_x8();
        double *f[] = {NULL, &o.device_price_usd, &o.device_power_w, &o.lifetime_years,
                       &o.utilisation, &o.pue, &o.usd_per_kwh};
        if (cases[i].field == 0)
            o.devices = (int)cases[i].v;
        else
            *f[cases[i].field] = cases[i].v;
        mc_cost_hour h;
        mc_diag d = {{0}};
        CHECK_EQ_INT(mc_cost_per_hour(&o, &h, &d), MC_ERR_RANGE);
        CHECK_CONTAINS(d.msg, cases[i].msg);
    }
}

TEST(reference_cost)
{
    /* moecap-reference.md 2.8: 8 x H100-PCIe for 600 s: capital 8 x 28,000 + 7,214 = 231,214;
     * energy (8 x 350 + 350) / 1000 kW x 0.15 $/kWh x 600 / 3600 h = 0.07875;
     * 0.07875 x 1.2 + 231,214 x 1.25 = 289,017.5945 */
    CHECK_NEAR(mc_cost_ref_usd(28000, 350, 8, 600), 289017.5945, 1e-6);
    CHECK_NEAR(mc_cost_ref_usd(0, 0, 0, 3600), 7214 * 1.25 + 0.35 * 0.15 * 1.2, 1e-9);
}

TEST(radar_worked_example)
{
    /* the MoE-CAP radar example (b = 20, ceiling 8000):
     * performance 20 + (150 - v) / 92 x 80: 58 -> 100, 73 -> 86.957, 150 -> 20;
     * cost 20 + (8000 - min(v, 8000)) / 8000 x 80: 8920 -> 20, 3800 -> 62;
     * accuracy 20 + (v - 0.8) / 0.2 x 80: 0.911 -> 64.4, 0.8 -> 20 */
    double lat[3] = {58, 73, 150}, cost[3] = {8920, 3800, 3800}, acc[3] = {0.911, 0.8, 0.911};
    double r[3];
    CHECK_EQ_INT(mc_radar_performance(lat, 3, 20, r, NULL), MC_OK);
    CHECK_NEAR(r[0], 100, 1e-12);
    CHECK_NEAR(r[1], 86.95652174, 1e-8);
    CHECK_NEAR(r[2], 20, 1e-12);
    CHECK_EQ_INT(mc_radar_cost(cost, 3, 8000, 20, r, NULL), MC_OK);
    CHECK_NEAR(r[0], 20, 1e-12);
    CHECK_NEAR(r[1], 62, 1e-12);
    CHECK_NEAR(r[2], 62, 1e-12);
    CHECK_EQ_INT(mc_radar_accuracy(acc, 3, 20, r, NULL), MC_OK);
    CHECK_NEAR(r[0], 64.4, 1e-9);
    CHECK_NEAR(r[1], 20, 1e-12);
    CHECK_NEAR(r[2], 64.4, 1e-9);
}

TEST(radar_edge_cases)
{
    double r[3];
    double same[3] = {70, 70, 70};
    CHECK_EQ_INT(mc_radar_performance(same, 3, 20, r, NULL), MC_OK); /* tie: all best */
    CHECK(r[0] == 100 && r[1] == 100 && r[2] == 100);
    CHECK_EQ_INT(mc_radar_performance(same, 1, 20, r, NULL), MC_OK); /* one system */
    CHECK_NEAR(r[0], 100, 0);
    double perfect[2] = {1, 1};
    CHECK_EQ_INT(mc_radar_accuracy(perfect, 2, 20, r, NULL), MC_OK);
    CHECK(r[0] == 100 && r[1] == 100);
    double equal_acc[2] = {0.5, 0.5}; /* the scale's top is 1.0: both are at the bottom */
    CHECK_EQ_INT(mc_radar_accuracy(equal_acc, 2, 20, r, NULL), MC_OK);
    CHECK(r[0] == 20 && r[1] == 20);
    double free_sys[1] = {0};
    CHECK_EQ_INT(mc_radar_cost(free_sys, 1, 8000, 0, r, NULL), MC_OK);
    CHECK_NEAR(r[0], 100, 0);

    mc_diag d = {{0}};
    double neg[1] = {-1}, big[1] = {1.2};
    CHECK_EQ_INT(mc_radar_performance(neg, 1, 20, r, &d), MC_ERR_RANGE);
    CHECK_CONTAINS(d.msg, "radar performance: value 0 (-1)");
    CHECK_EQ_INT(mc_radar_accuracy(big, 1, 20, r, &d), MC_ERR_RANGE);
    CHECK_EQ_INT(mc_radar_cost(same, 3, 0, 20, r, &d), MC_ERR_RANGE);
    CHECK_CONTAINS(d.msg, "ceiling 0 must be > 0");
    CHECK_EQ_INT(mc_radar_cost(same, 3, 8000, 100, r, &d), MC_ERR_RANGE);
    CHECK_CONTAINS(d.msg, "baseline 100");
}

int main(void)
{
    RUN(defaults);
    RUN(hourly);
    RUN(option_errors);
    RUN(reference_cost);
    RUN(radar_worked_example);
    RUN(radar_edge_cases);
    return harness_done();
}
