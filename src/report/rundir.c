/* rundir.c: reads the cap.json of `moecap run` results directories (docs/RUNDIR.md) into the
 * report's systems: headline figures, the headline perf point, status, model shape, and the
 * radar of all systems (normalised through src/cap). Refuses a directory that is not a run's.
 * Depends on base, cap (radar via chart_radar.c), cJSON. */
#include "rundir_int.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define CAP_JSON_MAX_BYTES ((size_t)64 << 20)

static mc_err load_cap_json(mc_report *r, const char *dir, mc_diag *d)
{
    char path[4096], *text = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/cap.json", dir);
    mc_err e = mc_read_file(path, CAP_JSON_MAX_BYTES, &text, &len, d);
    if (e == MC_ERR_IO && d) {
        char msg[sizeof d->msg];
        memcpy(msg, d->msg, sizeof msg);
        return mc_fail(d, e, "%.400s (not a `moecap run` results directory?)", msg);
    }
    if (e)
        return e;
    cJSON *root = NULL;
    e = mc_report_json_parse(path, text, len, &root, d);
    mc_free(text);
    if (e)
        return e;
    r->roots[r->n_runs] = root;
    if (!(r->dirs[r->n_runs] = mc_strdup(dir)))
        return mc_fail(d, MC_ERR_NOMEM, "out of memory");
    r->n_runs++;
    const char *cmd = mc_jstr(root, "command");
    if (!cmd || strcmp(cmd, "run") != 0)
        return mc_fail(d, MC_ERR_FORMAT, "%s: not a run's cap.json (command is %s%s%s, not "
                       "\"run\")", path, cmd ? "\"" : "", cmd ? cmd : "missing", cmd ? "\"" : "");
    if (!cJSON_IsArray(mc_jget(root, "systems")))
        return mc_fail(d, MC_ERR_FORMAT, "%s: no systems array", path);
    return MC_OK;
}

double mc_perf_point(const cJSON *perf)
{
    double c = mc_jnum(perf, "concurrency");
    return isfinite(c) ? c : mc_jnum(perf, "batch_size"); /* perf-b<B> points */
}

static void status_of(mc_rsys *s)
{
    const cJSON *st = mc_jget(s->j, "status");
    const char *v = cJSON_IsString(st) ? st->valuestring : mc_jstr(st, "status");
    s->failed = v && strcmp(v, "ok") != 0;
    if (!s->failed)
        return;
    const cJSON *err = cJSON_IsObject(st) ? mc_jget(st, "error") : mc_jget(s->j, "error");
    const char *step = mc_jstr(err, "step"), *msg = mc_jstr(err, "message");
    if (cJSON_IsString(err))
        msg = err->valuestring;
    snprintf(s->status_note, MC_NOTE, "%s%s%s%s%s", v, step || msg ? ": " : "", step ? step : "",
             step && msg ? ": " : "", msg ? msg : "");
}

/* The perf[] entry at the headline concurrency (the first entry when none is named). */
static void headline_of(mc_rsys *s)
{
    const cJSON *h = mc_jget(s->j, "headline"), *perf = mc_jget(s->j, "perf"), *p;
    s->perf_s = mc_fig(h, "performance");
    s->cost = mc_fig(h, "cost");
    s->acc = mc_fig(h, "accuracy");
    double c = mc_fig(h, "concurrency");
    s->head_conc = isfinite(c) ? (int64_t)c : -1;
    cJSON_ArrayForEach(p, (cJSON_IsArray(perf) ? perf : NULL))
    {
        double pc = mc_perf_point(p);
        if (s->head_conc < 0 || (isfinite(pc) && (int64_t)pc == s->head_conc)) {
            s->head_perf = p;
            if (s->head_conc < 0 && isfinite(pc))
                s->head_conc = (int64_t)pc;
            return;
        }
    }
}

static mc_err add_system(mc_report *r, size_t run, const cJSON *sj, mc_diag *d)
{
    if (r->n_sys >= MC_REPORT_MAX_SYSTEMS)
        return mc_fail(d, MC_ERR_RANGE, "report: more than %d systems", MC_REPORT_MAX_SYSTEMS);
    mc_rsys *s = &r->sys[r->n_sys++];
    memset(s, 0, sizeof *s);
    s->j = sj;
    s->run = run;
    const char *name = mc_jstr(sj, "name"), *base = strrchr(r->dirs[run], '/');
    base = base && base[1] ? base + 1 : r->dirs[run];
    if (r->n_runs > 1)
        snprintf(s->name, sizeof s->name, "%s/%s", base, name ? name : "?");
    else
        snprintf(s->name, sizeof s->name, "%s", name ? name : "?");
    status_of(s);
    headline_of(s);
    const cJSON *m = mc_jget(sj, "model");
    s->n_experts = mc_jnum(m, "n_experts");
    s->top_k = mc_jnum(m, "top_k");
    return mc_rsys_load_files(r, s, d);
}

/* Radar labels name the figures plotted (from the first system that has them). */
static void radar_labels(mc_report *r)
{
    static const char *const key[MC_RADAR_AXES] = {"performance", "cost", "accuracy"};
    static const char *const title[MC_RADAR_AXES] = {"Performance", "Cost", "Accuracy"};
    const char *def[MC_RADAR_AXES] = {NULL, NULL, NULL}, *unit = NULL;
    for (size_t i = 0; i < r->n_sys; i++)
        for (int a = 0; a < MC_RADAR_AXES; a++) {
            const cJSON *f = mc_jget(mc_jget(r->sys[i].j, "headline"), key[a]);
            if (!def[a])
                def[a] = mc_jstr(f, "definition");
            if (a == MC_RADAR_COST && !unit)
                unit = mc_jstr(f, "unit");
        }
    snprintf(r->radar_label[0], 128, "%s (%s, ms/token)", title[0], def[0] ? def[0] : "latency.tpot");
    snprintf(r->radar_label[1], 128, "%s (%s, %s)", title[1], def[1] ? def[1] : "cost",
             unit ? unit : "$");
    snprintf(r->radar_label[2], 128, "%s (%s)", title[2], def[2] ? def[2] : "accuracy");
    for (int a = 0; a < MC_RADAR_AXES; a++)
        r->radar.axis_label[a] = r->radar_label[a];
}

static void build_radar(mc_report *r)
{
    mc_radar_chart *c = &r->radar;
    c->title = "CAP radar: headline figures of every system";
    c->sys = r->radar_sys;
    c->n = r->n_sys;
    c->baseline = 20;
    c->suffix[MC_RADAR_PERF] = " ms/token";
    c->prefix[MC_RADAR_COST] = "$";
    double b = mc_jnum(mc_jget(r->roots[0], "radar"), "baseline");
    if (isfinite(b))
        c->baseline = b;
    for (size_t k = 0; k < r->n_runs; k++) { /* several runs: the largest of their ceilings */
        double t = mc_jnum(mc_jget(r->roots[k], "radar"), "cost_ceiling");
        if (isfinite(t) && t > c->cost_ceiling)
            c->cost_ceiling = t;
    }
    for (size_t i = 0; i < r->n_sys; i++) {
        mc_radar_sys *s = &r->radar_sys[i];
        s->name = r->sys[i].name;
        s->value[MC_RADAR_PERF] = r->sys[i].perf_s * 1000; /* s -> ms per token */
        s->value[MC_RADAR_COST] = r->sys[i].cost;
        s->value[MC_RADAR_ACC] = r->sys[i].acc;
        s->note = r->sys[i].failed ? r->sys[i].status_note : NULL;
    }
    radar_labels(r);
    mc_diag d = {{0}};
    if (mc_radar_normalise(c, &d) != MC_OK) { /* shown in the report instead of the radar */
        snprintf(r->radar_err, MC_NOTE, "%.300s", d.msg);
        for (size_t i = 0; i < r->n_sys; i++)
            for (int a = 0; a < MC_RADAR_AXES; a++)
                r->radar_sys[i].radius[a] = NAN;
    }
}

static mc_err load_systems(mc_report *r, mc_diag *d)
{
    size_t total = 0;
    for (size_t k = 0; k < r->n_runs; k++)
        total += (size_t)cJSON_GetArraySize(mc_jget(r->roots[k], "systems"));
    if (total > MC_REPORT_MAX_SYSTEMS)
        return mc_fail(d, MC_ERR_RANGE, "report: %zu systems (at most %d)", total,
                       MC_REPORT_MAX_SYSTEMS);
    r->sys = mc_calloc(total ? total : 1, sizeof *r->sys);
    if (!r->sys)
        return mc_fail(d, MC_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < r->n_runs; k++) {
        const cJSON *sj;
        cJSON_ArrayForEach(sj, mc_jget(r->roots[k], "systems"))
        {
            if (!cJSON_IsObject(sj) || !mc_jstr(sj, "name"))
                return mc_fail(d, MC_ERR_FORMAT, "%s/cap.json: systems[%zu]: not an object "
                               "with a name", r->dirs[k], r->n_sys);
            mc_err e = add_system(r, k, sj, d);
            if (e)
                return e;
        }
    }
    return MC_OK;
}

mc_err mc_report_load(const char *const *dirs, size_t n, mc_report **out, mc_diag *d)
{
    *out = NULL;
    if (n == 0 || n > MC_REPORT_MAX_RUNS)
        return mc_fail(d, MC_ERR_ARG, "report: 1 to %d run directories", MC_REPORT_MAX_RUNS);
    mc_report *r = mc_calloc(1, sizeof *r);
    if (!r)
        return mc_fail(d, MC_ERR_NOMEM, "out of memory");
    mc_err e = MC_OK;
    for (size_t k = 0; k < n && !e; k++)
        e = load_cap_json(r, dirs[k], d);
    if (!e)
        e = load_systems(r, d);
    if (e) {
        mc_report_free(r);
        return e;
    }
    build_radar(r);
    *out = r;
    return MC_OK;
}

void mc_report_free(mc_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; r->sys && i < r->n_sys; i++) {
        mc_free(r->sys[i].ttft);
        mc_free(r->sys[i].tpot);
        mc_free(r->sys[i].heat);
    }
    mc_free(r->sys);
    for (size_t k = 0; k < r->n_runs; k++) {
        cJSON_Delete(r->roots[k]);
        mc_free(r->dirs[k]);
    }
    mc_free(r);
}

size_t mc_report_n_systems(const mc_report *r) { return r->n_sys; }

const mc_radar_chart *mc_report_radar(const mc_report *r) { return &r->radar; }
