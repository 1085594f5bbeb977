/* run_conf.c: `moecap run`'s configuration resolved into a run (defaults, the MoE-CAP reference's
 * keys mapped onto moecap's, systems checked: GGUF files present, make-model specs made, the
 * expert cache size in MiB, the fidelity reference named), and written back as RUN_DIR/config.yaml
 * so that a run can be reproduced and resumed. Errors are the user's: one line, file:line. */
#include "model.h"
#include "run_int.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

static int64_t pick(int64_t a, int64_t b, int64_t dflt)
{
    return a > 0 ? a : b > 0 ? b : dflt;
}

static mc_err sys_fail(const run_ctx *c, const mc_run_system *s, mc_diag *d, const char *msg)
{
    return mc_fail(d, MC_ERR_ARG, "%s:%d: systems.%s: %s", c->cfg->path, s->line, s->name, msg);
}

/* "make-model:--layers 2 --type q4_0": made once into the cache (name from a hash of the spec). */
static mc_err make_spec(run_ctx *c, run_sys *rs, mc_diag *d)
{
    const char *spec = rs->s->model + strlen("make-model:");
    uint64_t h = 1469598103934665603ull;
    for (const char *p = spec; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    char dir[RUN_PATH - 64], log[RUN_PATH], copy[1024];
    snprintf(dir, sizeof dir, "%s/run-models", mc_cache_dir());
    snprintf(rs->gguf, sizeof rs->gguf, "%s/%016llx.gguf", dir, (unsigned long long)h);
    if (access(rs->gguf, R_OK) == 0)
        return MC_OK;
    mc_err e = mc_mkdirs(dir, d);
    if (e)
        return e;
    snprintf(log, sizeof log, "%s/%016llx.log", dir, (unsigned long long)h);
    snprintf(copy, sizeof copy, "%s", spec);
    const char *argv[64] = {"make-model", "-o", rs->gguf};
    size_t n = 3;
    for (char *save = NULL, *t = strtok_r(copy, " \t", &save); t && n < 62;
         t = strtok_r(NULL, " \t", &save))
        argv[n++] = t;
    argv[n] = NULL;
    int status;
    e = run_child(argv, NULL, log, 600, &status, d);
    if (!e && status != 0) {
        char msg[RUN_PATH + 64];
        snprintf(msg, sizeof msg, "make-model failed (see %s)", log);
        return sys_fail(c, rs->s, d, msg);
    }
    return e;
}

static mc_err resolve_embedded(run_ctx *c, run_sys *rs, mc_diag *d)
{
    mc_run_system *s = rs->s;
    rs->embedded = 1;
    if (strncmp(s->model, "make-model:", 11) == 0) {
        mc_err e = make_spec(c, rs, d);
        if (e)
            return e;
    } else {
        snprintf(rs->gguf, sizeof rs->gguf, "%s", s->model);
    }
    mc_model *m = NULL;
    mc_diag md = {{0}};
    if (access(rs->gguf, R_OK) != 0 || mc_model_load(rs->gguf, &m, &md) != MC_OK)
        return sys_fail(c, s, d, md.msg[0] ? md.msg : "model file not found");
    snprintf(rs->cap_model, sizeof rs->cap_model, "%s", rs->gguf);
    double eb = 0;
    for (int64_t l = 0; l < m->n_layers; l++)
        if (m->layers[l].ffn == MC_FFN_MOE)
            eb += (double)m->layers[l].n_experts * m->layers[l].b_expert;
    if (!s->weights_type)
        s->weights_type = mc_strdup(mc_dtype_name(m->st.expert));
    mc_model_free(m);
    if (isfinite(s->expert_cache_frac)) {
        if (eb <= 0)
            return sys_fail(c, s, d, "expert_cache_mb: the model has no routed experts");
        rs->cache_mb = (int64_t)ceil(s->expert_cache_frac * eb / 1048576.0);
    }
    return MC_OK;
}

static mc_err resolve_system(run_ctx *c, run_sys *rs, mc_diag *d)
{
    mc_run_system *s = rs->s;
    rs->cache_mb = s->expert_cache_mb;
    if (run_join(rs->dir, sizeof rs->dir, c->dir, "systems", d))
        return MC_ERR_RANGE;
    snprintf(rs->dir + strlen(rs->dir), sizeof rs->dir - strlen(rs->dir), "/%s", s->name);
    if (s->url) {
        snprintf(rs->url, sizeof rs->url, "%s", s->url);
        if (s->cap_model)
            snprintf(rs->cap_model, sizeof rs->cap_model, "%s", s->cap_model);
        snprintf(rs->label, sizeof rs->label, "%s", s->label ? s->label : s->url);
        return MC_OK;
    }
    if (!s->model)
        return sys_fail(c, s, d, "needs model (a GGUF file or make-model:OPTIONS) or url");
    mc_err e = resolve_embedded(c, rs, d);
    if (e)
        return e;
    if (s->label)
        snprintf(rs->label, sizeof rs->label, "%s", s->label);
    else
        snprintf(rs->label, sizeof rs->label, "%s%s", s->weights_type ? s->weights_type : "gguf",
                 rs->cache_mb > 0 ? ", expert cache" : ", all experts resident");
    return MC_OK;
}

/* Without `systems:`, the reference's model_id (+ api_url) is the one system. */
static mc_err reference_system(run_ctx *c, mc_diag *d)
{
    mc_run_config *k = c->cfg;
    if (k->n_systems)
        return MC_OK;
    if (!k->model_id)
        return mc_fail(d, MC_ERR_ARG, "%s: no systems: give systems:, or model_id (a GGUF file, "
                                      "or a served model with api_url)", k->path);
    char name[MC_RUN_NAME_MAX];
    const char *base = strrchr(k->model_id, '/') ? strrchr(k->model_id, '/') + 1 : k->model_id;
    size_t n = 0;
    for (; base[n] && n + 1 < sizeof name; n++) {
        char ch = base[n] >= 'A' && base[n] <= 'Z' ? (char)(base[n] - 'A' + 'a') : base[n];
        name[n] = mc_run_name_ok((char[]){ch, 0}) ? ch : '-';
    }
    name[n] = 0;
    if (!mc_run_name_ok(name))
        snprintf(name, sizeof name, "system");
    mc_run_system *s = mc_run_config_add_system(k, name, k->model_id);
    if (!s || (k->api_url && !(s->url = mc_strdup(k->api_url))) ||
        (k->precision && !(s->weights_type = mc_strdup(k->precision))))
        return mc_fail(d, MC_ERR_NOMEM, "out of memory");
    mc_model *m = NULL;
    if (s->url && mc_model_load(k->model_id, &m, NULL) == MC_OK)
        s->cap_model = mc_strdup(k->model_id);
    mc_model_free(m);
    return MC_OK;
}

static void resolve_workload(run_ctx *c)
{
    mc_run_config *k = c->cfg;
    int fixed = k->fixed_length_mode == 1;
    c->input_len = pick(k->workload.input_len, k->target_input_tokens, 128);
    c->output_len = pick(k->workload.output_len, k->target_output_tokens, 128);
    c->num_requests = pick(k->workload.num_requests, fixed ? k->num_samples : -1, 32);
    c->warmup = k->workload.warmup >= 0 ? k->workload.warmup : 2;
    c->seed = k->workload.seed >= 0 ? k->workload.seed : 0;
    c->batch_mode = k->workload.n_batch_sizes > 0;
    const int64_t *src = c->batch_mode ? k->workload.batch_sizes : k->workload.concurrency;
    c->n_points = c->batch_mode ? k->workload.n_batch_sizes : k->workload.n_concurrency;
    memcpy(c->points, src, c->n_points * sizeof *src);
    if (!c->n_points)
        c->points[c->n_points++] = k->server_batch_size > 0 ? k->server_batch_size : 1;
    c->eval_limit = pick(k->eval.limit, fixed ? -1 : k->num_samples, 50);
    c->eval_max_tokens = k->eval.max_tokens;
    c->fid_tokens = k->eval.fidelity_tokens >= 0 ? k->eval.fidelity_tokens : 2048;
}

/* The reference's dataset_names become eval tasks when eval.tasks is not given. */
static mc_err resolve_tasks(run_ctx *c, mc_diag *d)
{
    mc_run_config *k = c->cfg;
    if (!k->eval.n_tasks && k->fixed_length_mode != 1)
        for (size_t i = 0; i < k->n_dataset_names; i++)
            if (!(k->eval.tasks[k->eval.n_tasks++] = mc_strdup(k->dataset_names[i])))
                return mc_fail(d, MC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < k->eval.n_tasks; i++) {
        char *t = k->eval.tasks[i];
        for (char *p = t; *p; p++)
            *p = *p == '_' ? '-' : (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : *p;
        if (!mc_run_name_ok(t))
            return mc_fail(d, MC_ERR_ARG, "%s: eval.tasks: '%s' is not a task name", k->path, t);
    }
    return MC_OK;
}

/* MMLU-Pro's categories (the `category` of mmlu_pro/test-*.jsonl in the data directory). */
static const char *const mmlu_pro_categories[] = {
    "biology", "business", "chemistry", "computer science", "economics", "engineering", "health",
    "history", "law", "math", "other", "philosophy", "physics", "psychology"};

static int is_category(const char *v)
{
    for (size_t i = 0; i < sizeof mmlu_pro_categories / sizeof mmlu_pro_categories[0]; i++)
        if (strcmp(v, mmlu_pro_categories[i]) == 0)
            return 1;
    return 0;
}

/* dataset_split: only the test split is shipped. dataset_subset, per eval task: gsm8k's only
 * subset is "main" (the file in the data directory); for mmlu-pro it is a category (passed as
 * `moecap eval --category`); other tasks have none here. */
static mc_err resolve_dataset(run_ctx *c, mc_diag *d)
{
    mc_run_config *k = c->cfg;
    const char *sub = k->dataset_subset, *split = k->dataset_split;
    if (split && strcmp(split, "test") != 0)
        return mc_fail(d, MC_ERR_ARG, "%s:%d: dataset_split: '%.100s': only the test split is in "
                       "the data directory (gsm8k/test.jsonl, mmlu_pro/test-*.jsonl)",
                       k->path, k->dataset_split_line, split);
    for (size_t i = 0; sub && i < k->eval.n_tasks; i++) {
        const char *t = k->eval.tasks[i];
        if (strcmp(t, "gsm8k") == 0 && strcmp(sub, "main") != 0)
            return mc_fail(d, MC_ERR_ARG, "%s:%d: dataset_subset: '%.100s': gsm8k has only the "
                           "main subset in the data directory", k->path, k->dataset_subset_line,
                           sub);
        if (strcmp(t, "mmlu-pro") == 0 && !is_category(sub))
            return mc_fail(d, MC_ERR_ARG, "%s:%d: dataset_subset: '%.100s': not an MMLU-Pro "
                           "category (biology, business, chemistry, computer science, economics, "
                           "engineering, health, history, law, math, other, philosophy, physics, "
                           "psychology)", k->path, k->dataset_subset_line, sub);
        if (strcmp(t, "gsm8k") != 0 && strcmp(t, "mmlu-pro") != 0)
            return mc_fail(d, MC_ERR_ARG, "%s:%d: dataset_subset: '%.100s': task %s has no "
                           "subsets here (gsm8k: main; mmlu-pro: a category)", k->path,
                           k->dataset_subset_line, sub, t);
    }
    return MC_OK;
}

mc_err run_resolve(run_ctx *c, mc_diag *d)
{
    mc_run_config *k = c->cfg;
    mc_err e = reference_system(c, d);
    if (!e)
        e = resolve_tasks(c, d);
    if (!e)
        e = resolve_dataset(c, d);
    if (e)
        return e;
    resolve_workload(c);
    int any_embedded = 0;
    c->n_sys = k->n_systems;
    for (size_t i = 0; i < k->n_systems && !e; i++) {
        c->sys[i].s = &k->systems[i];
        e = resolve_system(c, &c->sys[i], d);
        any_embedded |= c->sys[i].embedded;
    }
    if (e)
        return e;
    snprintf(c->hardware, sizeof c->hardware, "%s",
             k->hardware ? k->hardware : any_embedded ? "local" : "");
    const char *ref = k->eval.fidelity_reference;
    for (size_t i = 0; ref && i < c->n_sys; i++)
        if (strcmp(c->sys[i].s->name, ref) == 0)
            return MC_OK;
    if (ref)
        return mc_fail(d, MC_ERR_ARG, "%s: eval.fidelity_reference: no system named '%s'",
                       k->path, ref);
    return MC_OK;
}

/* ---- config.yaml as resolved ---- */

static void yq(mc_buf *b, const char *key, const char *v, const char *indent)
{
    if (!v)
        return;
    mc_buf_printf(b, "%s%s: \"", indent, key);
    for (const char *p = v; *p; p++)
        mc_buf_printf(b, (*p == '"' || *p == '\\') ? "\\%c" : "%c", *p);
    mc_buf_printf(b, "\"\n");
}

static void yi(mc_buf *b, const char *key, int64_t v, const char *indent)
{
    if (v >= 0)
        mc_buf_printf(b, "%s%s: %lld\n", indent, key, (long long)v);
}

static void yf(mc_buf *b, const char *key, double v)
{
    if (isfinite(v))
        mc_buf_printf(b, "  %s: %.17g\n", key, v);
}

static void write_systems(run_ctx *c, mc_buf *b)
{
    mc_buf_printf(b, "systems:\n");
    for (size_t i = 0; i < c->n_sys; i++) {
        run_sys *rs = &c->sys[i];
        mc_run_system *s = rs->s;
        mc_buf_printf(b, "  - name: %s\n", s->name);
        yq(b, "label", rs->label, "    ");
        yq(b, "model", rs->embedded ? rs->gguf : s->model, "    ");
        yq(b, "url", s->url, "    ");
        yq(b, "cap_model", s->url ? s->cap_model : NULL, "    ");
        yq(b, "weights_type", s->weights_type, "    ");
        yi(b, "expert_cache_mb", rs->cache_mb, "    ");
        yq(b, "expert_cache_policy", s->expert_cache_policy, "    ");
        if (s->prefetch >= 0)
            mc_buf_printf(b, "    prefetch: %s\n", s->prefetch ? "true" : "false");
        yi(b, "threads", s->threads, "    ");
        yi(b, "parallel", s->parallel, "    ");
    }
}

static void write_cost(const struct mc_run_cost *q, mc_buf *b)
{
    const double cv[] = {q->device_price_usd, q->device_power_w, q->host_price_usd,
                         q->host_power_w, q->pue, q->usd_per_kwh, q->lifetime_years,
                         q->utilisation, q->cloud_usd_per_device_hour, q->dram_usd_per_gb,
                         q->ssd_usd_per_gb};
    static const char *const ck[] = {"device_price_usd", "device_power_w", "host_price_usd",
                                     "host_power_w", "pue", "usd_per_kwh", "lifetime_years",
                                     "utilisation", "cloud_usd_per_device_hour",
                                     "dram_usd_per_gb", "ssd_usd_per_gb"};
    int any = 0;
    for (size_t i = 0; i < sizeof ck / sizeof ck[0]; i++)
        any |= isfinite(cv[i]);
    if (any)
        mc_buf_printf(b, "cost:\n");
    for (size_t i = 0; i < sizeof ck / sizeof ck[0]; i++)
        yf(b, ck[i], cv[i]);
}

mc_err run_write_config(run_ctx *c, mc_diag *d)
{
    mc_run_config *k = c->cfg;
    mc_buf b;
    mc_buf_init(&b, 0);
    mc_buf_printf(&b, "# moecap run: the configuration as resolved (docs/RUN.md)\n");
    yq(&b, "hardware", c->hardware[0] ? c->hardware : NULL, "");
    yq(&b, "dataset_subset", k->dataset_subset, "");
    yq(&b, "dataset_split", k->dataset_split, "");
    if (k->profiling_only == 1)
        mc_buf_printf(&b, "profiling_only: true\n");
    write_systems(c, &b);
    mc_buf_printf(&b, "workload:\n");
    yi(&b, "input_len", c->input_len, "  ");
    yi(&b, "output_len", c->output_len, "  ");
    yi(&b, "num_requests", c->num_requests, "  ");
    yi(&b, "warmup", c->warmup, "  ");
    yi(&b, "seed", c->seed, "  ");
    mc_buf_printf(&b, "  %s: [", c->batch_mode ? "batch_sizes" : "concurrency");
    for (size_t i = 0; i < c->n_points; i++)
        mc_buf_printf(&b, "%s%lld", i ? ", " : "", (long long)c->points[i]);
    mc_buf_printf(&b, "]\neval:\n  tasks: [");
    for (size_t i = 0; i < k->eval.n_tasks; i++)
        mc_buf_printf(&b, "%s%s", i ? ", " : "", k->eval.tasks[i]);
    mc_buf_printf(&b, "]\n");
    yi(&b, "limit", c->eval_limit, "  ");
    yi(&b, "max_tokens", c->eval_max_tokens, "  ");
    yq(&b, "fidelity_reference", k->eval.fidelity_reference, "  ");
    yi(&b, "fidelity_tokens", c->fid_tokens, "  ");
    write_cost(&k->cost, &b);
    char path[RUN_PATH];
    mc_err e = run_join(path, sizeof path, c->dir, "config.yaml", d);
    if (!e)
        e = mc_write_file_atomic(path, b.data, b.len, d);
    mc_buf_deinit(&b);
    return e;
}
