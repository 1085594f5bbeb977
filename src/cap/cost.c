/* cost.c: what a deployment costs per hour (cost.hourly: amortised purchase + energy, or a
 * cloud price), per million tokens (cost.per_mtok), energy per token (energy.per_token), and the
 * MoE-CAP reference's run cost reproduced (cost.ref), and the purchase price of the memory a
 * system needs from a price table passed in (cost.memory_capital). Definitions and defaults:
 * docs/METRICS.md section 7. Pure arithmetic: no I/O, no clock. */
#include "cap.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define HOURS_PER_YEAR 8760.0 /* 365 days */

/* The MoE-CAP reference's constants (cost_utils.py). */
#define REF_HOST_USD 7214.0
#define REF_HOST_W 350.0
#define REF_USD_PER_KWH 0.15
#define REF_ENERGY_SCALE 1.2
#define REF_CAPITAL_SCALE 1.25

void mc_cost_opts_default(mc_cost_opts *o)
{
    memset(o, 0, sizeof *o);
    o->devices = 1;
    o->host_price_usd = REF_HOST_USD;
    o->host_power_w = REF_HOST_W;
    o->lifetime_years = 3;
    o->utilisation = 1;
    o->pue = 1.5;
    o->usd_per_kwh = REF_USD_PER_KWH;
}

static mc_err check_opts(const mc_cost_opts *o, mc_diag *d)
{
    const struct {
        const char *name;
        double v;
    } nonneg[] = {{"device price", o->device_price_usd}, {"device power", o->device_power_w},
                  {"host price", o->host_price_usd},     {"host power", o->host_power_w},
                  {"$/kWh", o->usd_per_kwh},             {"cloud $/device-hour",
                                                          o->cloud_usd_per_device_hour}};
    if (o->devices < 1)
        return mc_fail(d, MC_ERR_RANGE, "cost: device count %d must be >= 1", o->devices);
    for (size_t i = 0; i < sizeof nonneg / sizeof nonneg[0]; i++)
        if (!(nonneg[i].v >= 0) || !isfinite(nonneg[i].v))
            return mc_fail(d, MC_ERR_RANGE, "cost: %s must be a finite number >= 0",
                           nonneg[i].name);
    if (!(o->lifetime_years > 0) || !isfinite(o->lifetime_years))
        return mc_fail(d, MC_ERR_RANGE, "cost: lifetime must be > 0 years");
    if (!(o->utilisation > 0 && o->utilisation <= 1))
        return mc_fail(d, MC_ERR_RANGE, "cost: utilisation must be in (0, 1]");
    if (!(o->pue >= 1) || !isfinite(o->pue))
        return mc_fail(d, MC_ERR_RANGE, "cost: PUE must be >= 1");
    return MC_OK;
}

mc_err mc_cost_per_hour(const mc_cost_opts *o, mc_cost_hour *out, mc_diag *d)
{
    memset(out, 0, sizeof *out);
    mc_err e = check_opts(o, d);
    if (e)
        return e;
    double n = (double)o->devices;
    out->facility_power_w = (n * o->device_power_w + o->host_power_w) * o->pue;
    if (o->cloud_usd_per_device_hour > 0) {
        /* a cloud price already includes the hardware, the power and the facility */
        out->capital_usd_per_h = n * o->cloud_usd_per_device_hour;
    } else {
        double capex = n * o->device_price_usd + o->host_price_usd;
        out->capital_usd_per_h = capex / (o->lifetime_years * HOURS_PER_YEAR * o->utilisation);
        out->energy_usd_per_h = out->facility_power_w / 1000 * o->usd_per_kwh;
    }
    out->usd_per_h = out->capital_usd_per_h + out->energy_usd_per_h;
    return MC_OK;
}

double mc_cost_usd_per_mtok(double usd_per_h, double tok_per_s)
{
    return tok_per_s > 0 ? usd_per_h / (tok_per_s * 3600) * 1e6 : NAN;
}

double mc_cost_j_per_tok(double power_w, double tok_per_s)
{
    return tok_per_s > 0 ? power_w / tok_per_s : NAN;
}

double mc_cost_ref_usd(double price_usd, double tdp_w, int n, double seconds)
{
    double capital = price_usd * n + REF_HOST_USD;
    double energy = (tdp_w * n + REF_HOST_W) / 1000 * REF_USD_PER_KWH * seconds / 3600;
    /* the reference's constant names are swapped relative to this use; the formula is kept */
    return energy * REF_ENERGY_SCALE + capital * REF_CAPITAL_SCALE;
}

/* ---- cost.memory_capital ---- */

static mc_err find_tier(const mc_mem_price *tab, size_t n, const char *tier, double *usd_per_gb,
                        mc_diag *d)
{
    char names[256] = "";
    for (size_t i = 0; i < n; i++) {
        if (tier && strcasecmp(tab[i].tier, tier) == 0) {
            *usd_per_gb = tab[i].usd_per_gb;
            return MC_OK;
        }
        size_t used = strlen(names);
        if (used + 40 < sizeof names)
            snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", tab[i].tier);
    }
    return mc_fail(d, MC_ERR_NOT_FOUND, "memory price: unknown tier '%s' (known: %s)",
                   tier ? tier : "(none)", n ? names : "none");
}

mc_err mc_cost_memory_capital(const mc_mem_price *tab, size_t n, const mc_mem_capital_in *in,
                              mc_mem_capital *out, mc_diag *d)
{
    memset(out, 0, sizeof *out);
    if (!(in->fast_bytes >= 0) || !isfinite(in->fast_bytes) || !(in->slow_bytes >= 0) ||
        !isfinite(in->slow_bytes))
        return mc_fail(d, MC_ERR_RANGE, "memory price: bytes must be finite and >= 0 (fast %g, "
                       "slow %g)", in->fast_bytes, in->slow_bytes);
    mc_err e = find_tier(tab, n, in->fast_tier, &out->fast_usd_per_gb, d);
    if (!e && in->slow_bytes > 0)
        e = find_tier(tab, n, in->slow_tier, &out->slow_usd_per_gb, d);
    if (e)
        return e;
    out->fast_usd = in->fast_bytes / 1e9 * out->fast_usd_per_gb;
    out->slow_usd = in->slow_bytes / 1e9 * out->slow_usd_per_gb;
    out->usd = out->fast_usd + out->slow_usd;
    return MC_OK;
}
