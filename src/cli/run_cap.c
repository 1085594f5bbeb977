/* run_cap.c: cap.json of a `moecap run` directory (docs/RUNDIR.md): every figure of every system
 * read from the steps' own files (summary.json of bench and eval, fidelity, predict.json), the
 * model description and memory, the cost (src/cap cost.*), the headline and the CAP radar
 * (src/cap radar.*). Written last and atomically. Reads files; computes nothing that src/cap
 * does not define. */
#include "cap.h"
#include "hw.h"
#include "model.h"
#include "run_int.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

cJSON *run_fig(double v, const char *unit, const char *def, const char *note)
{
    cJSON *f = cJSON_CreateObject();
    if (isfinite(v))
        cJSON_AddNumberToObject(f, "value", v);
    else
        cJSON_AddNullToObject(f, "value");
    cJSON_AddStringToObject(f, "unit", unit);
    cJSON_AddStringToObject(f, "definition", def);
    if (note)
        cJSON_AddStringToObject(f, "note", note);
    return f;
}

/* A number at a path of object keys ("a", "b", NULL); NAN when absent or not a number. */
static double num_at(const cJSON *j, ...)
{
    va_list ap;
    va_start(ap, j);
    for (const char *k; j && (k = va_arg(ap, const char *));)
        j = cJSON_GetObjectItemCaseSensitive(j, k);
    va_end(ap);
    return cJSON_IsNumber(j) ? j->valuedouble : NAN;
}

/* ---- model and memory ---- */

typedef struct sys_model {
    mc_model *m;
    double expert_bytes;
} sys_model;

static void add_model(cJSON *o, run_sys *s, sys_model *sm)
{
    mc_model *m = NULL;
    if (!s->cap_model[0] || mc_model_load(s->cap_model, &m, NULL) != MC_OK) {
        cJSON_AddNullToObject(o, "model");
        return;
    }
    double eb = 0;
    for (int64_t l = 0; l < m->n_layers; l++)
        if (m->layers[l].ffn == MC_FFN_MOE)
            eb += (double)m->layers[l].n_experts * m->layers[l].b_expert;
    cJSON *j = cJSON_AddObjectToObject(o, "model");
    cJSON_AddStringToObject(j, "name", m->name);
    cJSON_AddNumberToObject(j, "n_layers", (double)m->n_layers);
    cJSON_AddNumberToObject(j, "n_moe_layers", (double)m->n_moe_layers);
    cJSON_AddNumberToObject(j, "n_experts", (double)m->max_experts);
    cJSON_AddNumberToObject(j, "top_k", (double)m->max_top_k);
    cJSON_AddNumberToObject(j, "params_total", (double)m->total_params);
    cJSON_AddNumberToObject(j, "params_active", (double)m->active_params);
    cJSON_AddNumberToObject(j, "weight_bytes", m->total_bytes);
    cJSON_AddNumberToObject(j, "expert_bytes", eb);
    sm->m = m;
    sm->expert_bytes = eb;
}

/* cost.memory_capital from the memory price table (data/memory.csv): the fast tier priced as
 * server DRAM (ddr5-rdimm), the slow tier as datacenter NVMe (nvme-dc). NaN and why on failure;
 * otherwise `why` names the tiers and their prices. */
static double table_price(double fast, double slow, char *why, size_t cap)
{
    mc_mem_price *tab = NULL;
    int n = 0;
    mc_diag d = {{0}};
    mc_mem_capital out;
    mc_mem_capital_in in = {fast, "ddr5-rdimm", slow, "nvme-dc"};
    mc_err e = mc_hw_mem_prices_load(&tab, &n, &d);
    if (e == MC_OK)
        e = mc_cost_memory_capital(tab, (size_t)n, &in, &out, &d);
    mc_free(tab);
    if (e != MC_OK) {
        snprintf(why, cap, "memory prices not available: %s", d.msg);
        return NAN;
    }
    char slow_part[64] = "";
    if (slow > 0)
        snprintf(slow_part, sizeof slow_part, " + slow bytes x nvme-dc %.3g $/GB",
                 out.slow_usd_per_gb);
    snprintf(why, cap,
             "fast bytes x ddr5-rdimm %.3g $/GB%s (data/memory.csv, estimates; override with "
             "cost.dram_usd_per_gb, cost.ssd_usd_per_gb)",
             out.fast_usd_per_gb, slow_part);
    return out.usd;
}

/* memory: resident weights (+ the expert cache instead of the experts) + the KV the workload
 * needs in the server's slots; the experts on the slow tier when there is a cache. */
static double add_memory(cJSON *o, run_ctx *c, run_sys *s, const sys_model *sm)
{
    cJSON *j = cJSON_AddObjectToObject(o, "memory");
    if (!sm->m) {
        cJSON_AddNullToObject(j, "fast_bytes");
        cJSON_AddNullToObject(j, "slow_bytes");
        cJSON_AddItemToObject(j, "cost.memory_capital",
                              run_fig(NAN, "USD", "cost.memory_capital", "no model description"));
        return NAN;
    }
    int64_t slots = s->s->parallel > 0 ? s->s->parallel : 1;
    for (size_t i = 0; s->s->parallel <= 0 && i < c->n_points; i++)
        slots = c->points[i] > slots ? c->points[i] : slots;
    double kv = sm->m->kv_bytes_per_token * (double)slots * (double)(c->input_len + c->output_len);
    double cache = s->cache_mb > 0 ? (double)s->cache_mb * 1048576.0 : 0;
    double slow = s->cache_mb > 0 ? sm->expert_bytes : 0;
    double fast = sm->m->total_bytes - slow + fmin(cache, sm->expert_bytes) + kv;
    cJSON_AddNumberToObject(j, "fast_bytes", fast);
    cJSON_AddNumberToObject(j, "slow_bytes", slow);
    double dram = c->cfg->cost.dram_usd_per_gb, ssd = c->cfg->cost.ssd_usd_per_gb;
    double cap = NAN;
    const char *note = NULL;
    char why[sizeof(mc_diag){0}.msg + 64];
    if (isfinite(dram)) {
        cap = fast / 1e9 * dram + (slow > 0 ? slow / 1e9 * (isfinite(ssd) ? ssd : NAN) : 0);
        note = isfinite(cap) ? "fast bytes x cost.dram_usd_per_gb + slow bytes x "
                               "cost.ssd_usd_per_gb (config)"
                             : "no slow-tier price (set cost.ssd_usd_per_gb)";
    } else {
        cap = table_price(fast, slow, why, sizeof why);
        note = why;
    }
    cJSON_AddItemToObject(j, "cost.memory_capital",
                          run_fig(cap, "USD", "cost.memory_capital", note));
    return cap;
}

/* ---- performance ---- */

/* cache.hit_rate over every pass of a records file: hits / (hits + misses); NAN without cache
 * data (pass.cache). */
static double hit_rate(const char *dir)
{
    char p[RUN_PATH], *buf = NULL;
    size_t len = 0;
    double h = 0, m = 0;
    if (run_join(p, sizeof p, dir, "records.jsonl", NULL) ||
        mc_read_file(p, 1u << 30, &buf, &len, NULL))
        return NAN;
    mc_pass_set set;
    mc_pass_set_init(&set);
    if (mc_pass_parse_jsonl(buf, len, 0, 0, &set, NULL) == MC_OK)
        for (size_t i = 0; i < set.n; i++)
            for (int64_t l = 0; l < set.v[i].n_cache_layers; l++) {
                h += (double)set.v[i].cache_hits[l];
                m += (double)set.v[i].cache_misses[l];
            }
    mc_pass_set_deinit(&set);
    mc_free(buf);
    return h + m > 0 ? h / (h + m) : NAN;
}

static const cJSON *predict_point(const cJSON *pred, int64_t batch)
{
    const cJSON *pt;
    cJSON_ArrayForEach(pt, cJSON_GetObjectItem(pred, "points"))
    {
        if (num_at(pt, "batch", NULL) == (double)batch)
            return pt;
    }
    return NULL;
}

static double gap_pct(double pred, double meas)
{
    return isfinite(pred) && isfinite(meas) && meas > 0 ? 100 * (pred - meas) / meas : NAN;
}

/* `key` {predict.tpot, predict.ttft, predict.throughput, predict.smbu} from a predict.json point
 * and `gap_key` {tpot, ttft, smbu}: 100 x (predicted - measured) / measured. */
static void add_predicted(cJSON *o, const char *key, const char *gap_key, const cJSON *pt,
                          const char *why, const double meas[3])
{
    why = pt ? NULL : why;
    double p_tpot = num_at(pt, "figures", "tpot_s", "value", NULL);
    double p_ttft = num_at(pt, "figures", "ttft_s", "value", NULL);
    double p_thr = num_at(pt, "figures", "out_tok_per_s", "value", NULL);
    double p_smbu = num_at(pt, "figures", "decode_smbu", "value", NULL);
    cJSON *p = cJSON_AddObjectToObject(o, key);
    cJSON_AddItemToObject(p, "predict.tpot", run_fig(p_tpot, "s", "predict.tpot", why));
    cJSON_AddItemToObject(p, "predict.ttft", run_fig(p_ttft, "s", "predict.ttft", why));
    cJSON_AddItemToObject(p, "predict.throughput",
                          run_fig(p_thr, "tok/s", "predict.throughput", why));
    cJSON_AddItemToObject(p, "predict.smbu", run_fig(p_smbu, "fraction", "predict.decode_step",
                                                     why));
    cJSON *g = cJSON_AddObjectToObject(o, gap_key);
    double v[3] = {gap_pct(p_tpot, meas[0]), gap_pct(p_ttft, meas[1]), gap_pct(p_smbu, meas[2])};
    const char *k[3] = {"tpot", "ttft", "smbu"};
    for (int i = 0; i < 3; i++)
        if (isfinite(v[i]))
            cJSON_AddNumberToObject(g, k[i], v[i]);
        else
            cJSON_AddNullToObject(g, k[i]);
}

/* The raw prediction (eff 1) and the one calibrated on the headline point (predict.calibrate),
 * with `calibrated_at` naming that point; the headline point itself is marked
 * (`calibration_point`): there the figure that calibrated a factor has a gap of about 0 by
 * construction. */
static void add_predictions(cJSON *o, const run_ctx *c, const cJSON *pred, const cJSON *cal,
                            int64_t point, const double meas[3])
{
    add_predicted(o, "predicted", "gap_pct", predict_point(pred, point),
                  "no prediction (predict.json absent or without this point)", meas);
    const cJSON *cpt = cal ? predict_point(cal, point) : NULL;
    add_predicted(o, "predicted_calibrated", "gap_pct_calibrated", cpt,
                  "no calibrated prediction (predict-calibrated.json absent: no headline "
                  "measurement, or calibration refused; see predict-calibrated.log)",
                  meas);
    char at[48];
    snprintf(at, sizeof at, "perf-%c%lld", c->batch_mode ? 'b' : 'c', (long long)c->points[0]);
    if (cpt)
        cJSON_AddStringToObject(o, "calibrated_at", at);
    else
        cJSON_AddNullToObject(o, "calibrated_at");
    cJSON_AddBoolToObject(o, "calibration_point", cpt && point == c->points[0]);
}

typedef struct measured {
    double thr, ttft, tpot, smbu;
} measured;

/* The measured figures of one bench summary (NULL: every figure null, with why). */
static void add_measured(cJSON *o, const cJSON *sum, const char *dir, measured *m)
{
    const char *why = sum ? NULL : "no measurement (the step failed or did not run)";
    const cJSON *lat = cJSON_GetObjectItem(sum, "latency");
    const cJSON *dec = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(sum, "server"), "cap"), "decode");
    m->thr = num_at(sum, "throughput.requests", "output_tokens_per_s", NULL);
    m->ttft = num_at(lat, "latency.ttft", "p50", NULL);
    m->tpot = num_at(lat, "latency.tpot", "p50", NULL);
    m->smbu = num_at(dec, "smbu.time_weighted", NULL);
    double act = num_at(dec, "experts.activation_mean", NULL);
    if (!isfinite(act))
        act = num_at(sum, "server", "expert_activation", "value", NULL);
    double hr = sum ? hit_rate(dir) : NAN;
    const struct {
        const char *key;
        double v;
        const char *unit, *def, *note;
    } f[] = {
        {"throughput.requests", m->thr, "tok/s", "throughput.requests", why},
        {"latency.ttft", m->ttft, "s", "latency.ttft", why},
        {"latency.ttft_p99", num_at(lat, "latency.ttft", "p99", NULL), "s", "latency.ttft", why},
        {"latency.tpot", m->tpot, "s", "latency.tpot", why},
        {"latency.tpot_p99", num_at(lat, "latency.tpot", "p99", NULL), "s", "latency.tpot", why},
        {"latency.e2e", num_at(lat, "latency.e2e", "p50", NULL), "s", "latency.e2e", why},
        {"smbu.time_weighted", m->smbu, "fraction", "smbu.time_weighted",
         isfinite(m->smbu) ? NULL : "no records or no hardware"},
        {"smfu.time_weighted", num_at(dec, "smfu.time_weighted", NULL), "fraction",
         "smfu.time_weighted", NULL},
        {"experts.activation_mean", act, "experts", "experts.activation_mean", NULL},
        {"cache.hit_rate", hr, "fraction", "pass.cache",
         isfinite(hr) ? NULL : "no expert cache in the records"},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        cJSON_AddItemToObject(o, f[i].key, run_fig(f[i].v, f[i].unit, f[i].def, f[i].note));
}

/* One perf point; returns the output throughput (tok/s) and sets *tpot. */
static double add_point(cJSON *arr, run_ctx *c, run_sys *s, int64_t point, const cJSON *pred,
                        const cJSON *cal, double *tpot_out)
{
    char name[48], dir[RUN_PATH], sum_path[RUN_PATH + 16], rel[RUN_PATH];
    snprintf(name, sizeof name, "perf-%c%lld", c->batch_mode ? 'b' : 'c', (long long)point);
    run_join(dir, sizeof dir, s->dir, name, NULL);
    snprintf(sum_path, sizeof sum_path, "%s/summary.json", dir);
    cJSON *sum = run_read_json(sum_path);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, c->batch_mode ? "batch" : "concurrency", (double)point);
    snprintf(rel, sizeof rel, "systems/%s/%s", s->s->name, name);
    cJSON_AddStringToObject(o, "dir", rel);
    measured m;
    add_measured(o, sum, dir, &m);
    const double meas[3] = {m.tpot, m.ttft, m.smbu};
    add_predictions(o, c, pred, cal, point, meas);
    cJSON_AddItemToArray(arr, o);
    cJSON_Delete(sum);
    *tpot_out = m.tpot;
    return m.thr;
}

/* ---- accuracy, fidelity ---- */

static double add_accuracy(cJSON *o, run_ctx *c, run_sys *s)
{
    cJSON *arr = cJSON_AddArrayToObject(o, "accuracy");
    double first = NAN;
    for (size_t i = 0; i < c->cfg->eval.n_tasks; i++) {
        char name[64], dir[RUN_PATH], p[RUN_PATH + 16];
        snprintf(name, sizeof name, "eval-%s", c->cfg->eval.tasks[i]);
        run_join(dir, sizeof dir, s->dir, name, NULL);
        snprintf(p, sizeof p, "%s/summary.json", dir);
        cJSON *sum = run_read_json(p);
        if (!sum)
            continue;
        const cJSON *acc = cJSON_GetObjectItem(cJSON_GetObjectItem(sum, "accuracy"), "acc");
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "task", c->cfg->eval.tasks[i]);
        snprintf(p, sizeof p, "systems/%s/%s", s->s->name, name);
        cJSON_AddStringToObject(t, "dir", p);
        cJSON *f = run_fig(num_at(acc, "value", NULL), "fraction", "acc", NULL);
        cJSON_AddNumberToObject(f, "stderr", num_at(acc, "stderr", NULL));
        cJSON_AddItemToObject(t, "acc", f);
        cJSON_AddNumberToObject(t, "n", num_at(acc, "n", NULL));
        cJSON_AddItemToArray(arr, t);
        if (isnan(first))
            first = num_at(acc, "value", NULL);
        cJSON_Delete(sum);
    }
    return first;
}

static double add_fidelity(cJSON *o, run_sys *s)
{
    char p[RUN_PATH + 32];
    snprintf(p, sizeof p, "%s/fidelity/summary.json", s->dir);
    cJSON *f = run_read_json(p);
    if (!f) {
        cJSON_AddNullToObject(o, "fidelity");
        return NAN;
    }
    cJSON *j = cJSON_AddObjectToObject(o, "fidelity");
    snprintf(p, sizeof p, "systems/%s/fidelity", s->s->name);
    cJSON_AddStringToObject(j, "dir", p);
    double top1 = num_at(f, "top1_agreement", NULL);
    cJSON_AddItemToObject(j, "fidelity.top1", run_fig(top1, "fraction", "fidelity.top1", NULL));
    cJSON_AddItemToObject(j, "fidelity.kl",
                          run_fig(num_at(f, "kl", "mean", NULL), "nats", "fidelity.kl", NULL));
    cJSON_AddItemToObject(j, "fidelity.ppl_ratio",
                          run_fig(num_at(f, "perplexity", "ratio", NULL), "ratio",
                                  "fidelity.ppl_ratio", NULL));
    cJSON_Delete(f);
    return top1;
}

/* ---- cost ---- */

typedef struct run_cost {
    int ok;
    mc_cost_hour hour;
    char note[700];
} run_cost;

static void set_if(double *dst, double v)
{
    if (isfinite(v))
        *dst = v;
}

/* cost.hourly of the configured hardware with the config's overrides. A device without a price
 * (the probed `local` CPU) is priced as the host alone when it is a CPU: the host IS the
 * machine; any other device without a price leaves the cost unknown. */
static void resolve_cost(run_ctx *c, run_cost *rc)
{
    mc_hw_deploy dep;
    mc_cost_opts o;
    mc_diag d = {{0}};
    memset(rc, 0, sizeof *rc);
    if (!c->hardware[0] || mc_hw_parse_deploy(c->hardware, &dep, &d) != MC_OK) {
        snprintf(rc->note, sizeof rc->note, "no hardware to price%s%s", d.msg[0] ? ": " : "",
                 d.msg);
        return;
    }
    mc_cost_opts_default(&o);
    o.devices = dep.count;
    o.device_price_usd = dep.hw.price_usd;
    o.device_power_w = dep.hw.tdp_w;
    const struct mc_run_cost *k = &c->cfg->cost;
    set_if(&o.device_price_usd, k->device_price_usd);
    set_if(&o.device_power_w, k->device_power_w);
    set_if(&o.host_price_usd, k->host_price_usd);
    set_if(&o.host_power_w, k->host_power_w);
    set_if(&o.pue, k->pue);
    set_if(&o.usd_per_kwh, k->usd_per_kwh);
    set_if(&o.lifetime_years, k->lifetime_years);
    set_if(&o.utilisation, k->utilisation);
    set_if(&o.cloud_usd_per_device_hour, k->cloud_usd_per_device_hour);
    if (o.device_price_usd <= 0 && o.cloud_usd_per_device_hour <= 0) {
        if (dep.hw.kind != MC_HW_CPU) {
            snprintf(rc->note, sizeof rc->note,
                     "%s has no price: set cost.device_price_usd or cost.cloud_usd_per_device_hour",
                     dep.hw.name);
            return;
        }
        snprintf(rc->note, sizeof rc->note,
                 "%s (CPU) has no price or power of its own: priced as the host alone "
                 "($%.0f, %.0f W; set cost.host_price_usd / host_power_w)",
                 dep.hw.name, o.host_price_usd, o.host_power_w);
    }
    if (mc_cost_per_hour(&o, &rc->hour, &d) != MC_OK) {
        snprintf(rc->note, sizeof rc->note, "%s", d.msg);
        return;
    }
    rc->ok = 1;
}

static void add_cost(cJSON *o, const run_cost *rc, double thr, double mem_cap)
{
    cJSON *j = cJSON_AddObjectToObject(o, "cost");
    double mtok = rc->ok ? mc_cost_usd_per_mtok(rc->hour.usd_per_h, thr) : NAN;
    double jpt = rc->ok && rc->hour.facility_power_w > 0
                     ? mc_cost_j_per_tok(rc->hour.facility_power_w, thr)
                     : NAN;
    const char *note = rc->note[0] ? rc->note : NULL;
    if (rc->ok && !isfinite(thr))
        note = "no throughput measured";
    cJSON_AddItemToObject(j, "cost.per_mtok", run_fig(mtok, "USD/Mtok", "cost.per_mtok", note));
    cJSON_AddItemToObject(j, "energy.per_token", run_fig(jpt, "J/tok", "energy.per_token", note));
    cJSON_AddItemToObject(j, "cost.memory_capital",
                          run_fig(mem_cap, "USD", "cost.memory_capital",
                                  isfinite(mem_cap) ? NULL : "see memory"));
}

/* ---- one system ---- */

typedef struct sys_head {
    double perf, cost_mtok, cost_mem, acc;
} sys_head;

static void add_target(cJSON *o, run_sys *s)
{
    cJSON *t = cJSON_AddObjectToObject(o, "target");
    cJSON_AddStringToObject(t, "kind", s->embedded ? "embedded" : "url");
    cJSON_AddStringToObject(t, "model", s->embedded ? s->gguf : (s->s->model ? s->s->model : ""));
    if (s->embedded)
        cJSON_AddNullToObject(t, "url");
    else
        cJSON_AddStringToObject(t, "url", s->url);
    if (s->s->weights_type)
        cJSON_AddStringToObject(t, "weights_type", s->s->weights_type);
    else
        cJSON_AddNullToObject(t, "weights_type");
    if (s->cache_mb > 0)
        cJSON_AddNumberToObject(t, "expert_cache_mb", (double)s->cache_mb);
    else
        cJSON_AddNullToObject(t, "expert_cache_mb");
    if (s->s->expert_cache_policy)
        cJSON_AddStringToObject(t, "expert_cache_policy", s->s->expert_cache_policy);
    else
        cJSON_AddNullToObject(t, "expert_cache_policy");
    if (s->s->threads > 0)
        cJSON_AddNumberToObject(t, "threads", (double)s->s->threads);
    else
        cJSON_AddNullToObject(t, "threads");
}

/* calibration: the efficiency factors predict-calibrated.json was made with, or null. */
static void add_calibration(cJSON *o, const run_ctx *c, const cJSON *cal)
{
    const cJSON *cb = cJSON_GetObjectItem(cal, "calibration");
    const cJSON *as = cJSON_GetObjectItem(cal, "assumptions");
    if (!cb) {
        cJSON_AddNullToObject(o, "calibration");
        return;
    }
    cJSON *j = cJSON_AddObjectToObject(o, "calibration");
    char at[48];
    snprintf(at, sizeof at, "perf-%c%lld", c->batch_mode ? 'b' : 'c', (long long)c->points[0]);
    cJSON_AddStringToObject(j, "at", at);
    cJSON_AddNumberToObject(j, c->batch_mode ? "batch" : "concurrency", (double)c->points[0]);
    cJSON_AddNumberToObject(j, "eff_mem", num_at(as, "eff_mem", NULL));
    cJSON_AddNumberToObject(j, "eff_compute", num_at(as, "eff_compute", NULL));
    const char *k[2] = {"eff_mem_from", "eff_compute_from"};
    for (int i = 0; i < 2; i++) {
        const cJSON *v = cJSON_GetObjectItem(cb, k[i]);
        cJSON_AddStringToObject(j, k[i], cJSON_IsString(v) ? v->valuestring : "");
    }
    cJSON_AddStringToObject(j, "definition", "predict.calibrate");
}

static cJSON *system_json(run_ctx *c, run_sys *s, const run_cost *rc, sys_head *h)
{
    cJSON *o = cJSON_CreateObject();
    sys_model sm = {NULL, 0};
    cJSON_AddStringToObject(o, "name", s->s->name);
    cJSON_AddStringToObject(o, "label", s->label);
    add_target(o, s);
    add_model(o, s, &sm);
    double mem_cap = add_memory(o, c, s, &sm);
    char p[RUN_PATH + 32];
    snprintf(p, sizeof p, "%s/predict.json", s->dir);
    cJSON *pred = run_read_json(p);
    snprintf(p, sizeof p, "%s/predict-calibrated.json", s->dir);
    cJSON *cal = run_read_json(p);
    add_calibration(o, c, cal);
    cJSON *perf = cJSON_AddArrayToObject(o, "perf");
    double thr0 = NAN, tpot0 = NAN;
    for (size_t i = 0; i < c->n_points; i++) {
        double tpot, thr = add_point(perf, c, s, c->points[i], pred, cal, &tpot);
        if (i == 0)
            thr0 = thr, tpot0 = tpot;
    }
    cJSON_Delete(pred);
    cJSON_Delete(cal);
    double acc = add_accuracy(o, c, s);
    double top1 = add_fidelity(o, s);
    add_cost(o, rc, thr0, mem_cap);
    h->perf = tpot0;
    h->cost_mtok = rc->ok ? mc_cost_usd_per_mtok(rc->hour.usd_per_h, thr0) : NAN;
    h->cost_mem = mem_cap;
    h->acc = c->cfg->eval.fidelity_reference ? top1 : acc;
    cJSON_AddStringToObject(o, "status", s->failed ? "failed" : "ok");
    if (s->failed)
        cJSON_AddStringToObject(o, "error", s->error);
    mc_model_free(sm.m);
    return o;
}

/* ---- radar and headline ---- */

/* A round ceiling above the largest cost: 1, 2, 2.5, 5 or 10 x a power of ten. */
static double nice_ceiling(double v)
{
    if (!(v > 0))
        return 1;
    double p = pow(10, floor(log10(v))), steps[] = {1, 2, 2.5, 5, 10};
    for (int i = 0; i < 5; i++)
        if (steps[i] * p > v)
            return steps[i] * p;
    return 10 * p;
}

typedef struct axis {
    const char *axis, *figure, *unit;
    double v[MC_RUN_MAX_SYSTEMS], r[MC_RUN_MAX_SYSTEMS];
    int ok;
} axis;

/* Normalises the systems that have a value; r = NAN for the others. */
static void radar_axis(axis *a, size_t n, int which, double ceiling)
{
    double v[MC_RUN_MAX_SYSTEMS], r[MC_RUN_MAX_SYSTEMS];
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(a->v[i]))
            v[m++] = a->v[i];
    mc_err e = MC_ERR_ARG;
    if (m && which == 0)
        e = mc_radar_performance(v, m, 20, r, NULL);
    else if (m && which == 1)
        e = mc_radar_cost(v, m, ceiling, 20, r, NULL);
    else if (m)
        e = mc_radar_accuracy(v, m, 20, r, NULL);
    a->ok = e == MC_OK;
    for (size_t i = 0, k = 0; i < n; i++)
        a->r[i] = (a->ok && isfinite(a->v[i])) ? r[k++] : NAN;
}

static void add_radar(cJSON *root, const run_ctx *c, const sys_head *h, int use_mem,
                      const char *acc_fig)
{
    size_t n = c->n_sys;
    axis ax[3] = {{"performance", "latency.tpot", "s", {0}, {0}, 0},
                  {"cost", use_mem ? "cost.memory_capital" : "cost.per_mtok",
                   use_mem ? "USD" : "USD/Mtok", {0}, {0}, 0},
                  {"accuracy", acc_fig, "fraction", {0}, {0}, 0}};
    double maxc = 0;
    for (size_t i = 0; i < n; i++) {
        ax[0].v[i] = h[i].perf;
        ax[1].v[i] = use_mem ? h[i].cost_mem : h[i].cost_mtok;
        ax[2].v[i] = h[i].acc;
        if (isfinite(ax[1].v[i]) && ax[1].v[i] > maxc)
            maxc = ax[1].v[i];
    }
    double ceiling = nice_ceiling(maxc);
    for (int k = 0; k < 3; k++)
        radar_axis(&ax[k], n, k, ceiling);
    cJSON *r = cJSON_AddObjectToObject(root, "radar");
    cJSON_AddNumberToObject(r, "baseline", 20);
    cJSON_AddNumberToObject(r, "cost_ceiling", ceiling);
    cJSON *axes = cJSON_AddArrayToObject(r, "axes");
    for (int k = 0; k < 3; k++) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddStringToObject(a, "axis", ax[k].axis);
        cJSON_AddStringToObject(a, "figure", ax[k].figure);
        cJSON_AddStringToObject(a, "unit", ax[k].unit);
        cJSON_AddItemToArray(axes, a);
    }
    cJSON *sys = cJSON_AddArrayToObject(r, "systems");
    for (size_t i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", c->sys[i].s->name);
        cJSON *radii = cJSON_AddObjectToObject(o, "radii");
        for (int k = 0; k < 3; k++)
            if (isfinite(ax[k].r[i]))
                cJSON_AddNumberToObject(radii, ax[k].axis, ax[k].r[i]);
            else
                cJSON_AddNullToObject(radii, ax[k].axis);
        cJSON_AddItemToArray(sys, o);
    }
}

static void add_headline(cJSON *o, const run_ctx *c, const sys_head *h, int use_mem,
                         const char *acc_fig)
{
    cJSON *j = cJSON_AddObjectToObject(o, "headline");
    cJSON_AddItemToObject(j, "performance", run_fig(h->perf, "s", "latency.tpot", NULL));
    cJSON_AddItemToObject(j, "cost",
                          use_mem ? run_fig(h->cost_mem, "USD", "cost.memory_capital", NULL)
                                  : run_fig(h->cost_mtok, "USD/Mtok", "cost.per_mtok", NULL));
    cJSON_AddItemToObject(j, "accuracy", run_fig(h->acc, "fraction", acc_fig, NULL));
    cJSON_AddNumberToObject(j, c->batch_mode ? "batch" : "concurrency", (double)c->points[0]);
}

static cJSON *workload_json(const run_ctx *c)
{
    cJSON *w = cJSON_CreateObject();
    cJSON_AddNumberToObject(w, "input_len", (double)c->input_len);
    cJSON_AddNumberToObject(w, "output_len", (double)c->output_len);
    cJSON_AddNumberToObject(w, "num_requests", (double)c->num_requests);
    cJSON *pts = cJSON_AddArrayToObject(w, c->batch_mode ? "batch" : "concurrency");
    for (size_t i = 0; i < c->n_points; i++)
        cJSON_AddItemToArray(pts, cJSON_CreateNumber((double)c->points[i]));
    cJSON_AddStringToObject(w, "dataset", "synthetic");
    return w;
}

static cJSON *cap_root(const run_ctx *c)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "command", "run");
    cJSON_AddStringToObject(root, "moecap_version", MC_VERSION);
    cJSON_AddStringToObject(root, "definitions", "docs/METRICS.md");
    cJSON_AddStringToObject(root, "created", c->created);
    cJSON_AddBoolToObject(root, "partial", c->partial || run_interrupted);
    cJSON *m = cJSON_AddObjectToObject(root, "machine");
    char probe[RUN_PATH];
    if (run_join(probe, sizeof probe, c->dir, "probe.json", NULL) == MC_OK &&
        access(probe, R_OK) == 0)
        cJSON_AddStringToObject(m, "probe", "probe.json");
    else
        cJSON_AddNullToObject(m, "probe");
    if (c->hardware[0])
        cJSON_AddStringToObject(m, "hardware", c->hardware);
    else
        cJSON_AddNullToObject(m, "hardware");
    cJSON_AddItemToObject(root, "workload", workload_json(c));
    if (c->cfg->eval.fidelity_reference)
        cJSON_AddStringToObject(root, "reference_system", c->cfg->eval.fidelity_reference);
    else
        cJSON_AddNullToObject(root, "reference_system");
    return root;
}

mc_err run_write_cap(run_ctx *c, mc_diag *d)
{
    run_cost rc;
    sys_head h[MC_RUN_MAX_SYSTEMS];
    resolve_cost(c, &rc);
    cJSON *root = cap_root(c);
    cJSON *systems = cJSON_AddArrayToObject(root, "systems");
    int use_mem = c->n_sys > 0;
    for (size_t i = 0; i < c->n_sys; i++) {
        cJSON_AddItemToArray(systems, system_json(c, &c->sys[i], &rc, &h[i]));
        use_mem = use_mem && isfinite(h[i].cost_mem);
    }
    const char *acc_fig = c->cfg->eval.fidelity_reference ? "fidelity.top1" : "acc";
    for (size_t i = 0; i < c->n_sys; i++)
        add_headline(cJSON_GetArrayItem(systems, (int)i), c, &h[i], use_mem, acc_fig);
    add_radar(root, c, h, use_mem, acc_fig);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    char path[RUN_PATH];
    mc_err e = run_join(path, sizeof path, c->dir, "cap.json", d);
    if (!text)
        e = mc_fail(d, MC_ERR_NOMEM, "cap.json: out of memory");
    if (e == MC_OK)
        e = mc_write_file_atomic(path, text, strlen(text), d);
    cJSON_free(text);
    return e;
}
