/* run_ref.c: the MoE-CAP reference's output files for one system of a `moecap run`
 * (systems/<name>/moecap-ref/; field names as reference/moecap-reference.md section 6.6), made
 * from each performance step's requests.jsonl, records.jsonl and summary.json: per step ("data
 * set" synthetic-c<C> or synthetic-b<B>) output_data_*.jsonl, metrics_*.json, metadata_*.json
 * and detailed_results_*.jsonl; and from each eval step's items.jsonl and summary.json (data set
 * = the task) the first three, with quality.acc / total. Reads and rewrites files; measures
 * nothing. */
#include "run_int.h"

#include <math.h>
#include <string.h>

typedef struct ref_acc {
    double pre_lat, pre_tok, pre_act, pre_bs, dec_lat, dec_act, dec_bs;
    int64_t n_pre, n_pre_act, n_dec, n_dec_act;
} ref_acc;

/* Calls fn for each parsed JSON line of a file. */
static mc_err each_line(const char *path, void (*fn)(cJSON *, void *), void *u)
{
    char *buf = NULL;
    size_t len = 0;
    mc_err e = mc_read_file(path, 1u << 30, &buf, &len, NULL);
    if (e)
        return e;
    for (char *p = buf, *nl; p < buf + len; p = nl + 1) {
        nl = memchr(p, '\n', (size_t)(buf + len - p));
        if (!nl)
            nl = buf + len;
        cJSON *j = cJSON_ParseWithLength(p, (size_t)(nl - p));
        if (j)
            fn(j, u);
        cJSON_Delete(j);
    }
    mc_free(buf);
    return MC_OK;
}

static double num(const cJSON *j, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

typedef struct out_ctx {
    mc_buf out;
    int64_t requested;
    double in_att, in_ok, out_tok;
    int64_t attempted, served, completed;
} out_ctx;

static void add_num(cJSON *o, const char *k, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

/* requests.jsonl -> output_data: one line per measured request. */
static void out_line(cJSON *r, void *u)
{
    out_ctx *o = u;
    if (cJSON_IsTrue(cJSON_GetObjectItem(r, "warmup")))
        return;
    const cJSON *st = cJSON_GetObjectItem(r, "status");
    int ok = cJSON_IsString(st) && strcmp(st->valuestring, "ok") == 0;
    double in = num(r, "usage_prompt_tokens"), outn = num(r, "usage_completion_tokens");
    if (!isfinite(in))
        in = num(r, "input_tokens");
    if (!isfinite(outn))
        outn = ok ? num(r, "output_tokens") : 0;
    cJSON *j = cJSON_CreateObject();
    add_num(j, "index", num(r, "id"));
    add_num(j, "input_tokens", num(r, "input_tokens"));
    const cJSON *text = cJSON_GetObjectItem(r, "text");
    cJSON_AddStringToObject(j, "output_tokens", ok && cJSON_IsString(text) ? text->valuestring : "");
    add_num(j, "input_token_count", in);
    add_num(j, "output_token_count", outn);
    cJSON_AddNumberToObject(j, "requested_output_tokens", (double)o->requested);
    cJSON_AddBoolToObject(j, "success", ok);
    add_num(j, "latency_s", num(r, "e2e_s"));
    add_num(j, "ttft_s", num(r, "ttft_s"));
    const cJSON *msg = cJSON_GetObjectItem(r, "message");
    if (!ok && cJSON_IsString(msg))
        cJSON_AddStringToObject(j, "error", msg->valuestring);
    char *line = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (line) {
        mc_buf_printf(&o->out, "%s\n", line);
        cJSON_free(line);
    }
    o->attempted++;
    o->in_att += isfinite(in) ? in : 0;
    o->served += ok || num(r, "ttft_s") > 0;
    o->completed += ok;
    o->in_ok += ok && isfinite(in) ? in : 0;
    o->out_tok += isfinite(outn) ? outn : 0;
}

typedef struct det_ctx {
    mc_buf out;
    int64_t index;
    ref_acc a;
} det_ctx;

/* records.jsonl -> detailed_results: one line per pass, and the pass statistics. */
static void det_line(cJSON *r, void *u)
{
    det_ctx *c = u;
    const cJSON *m = cJSON_GetObjectItem(r, "forward_mode");
    const char *mode = cJSON_IsString(m) ? m->valuestring : "mixed";
    int prefill = strcmp(mode, "prefill") == 0;
    double lat = num(r, "latency"), act = num(r, "expert_activation");
    double bs = num(r, "batch_size"), sls = num(r, "seq_lens_sum");
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "index", (double)c->index++);
    cJSON_AddStringToObject(j, "forward_mode", mode);
    add_num(j, "expert_activation", act);
    add_num(j, "batch_size", bs);
    add_num(j, "seq_lens_sum", sls);
    add_num(j, prefill ? "ttft" : "tpot", lat);
    cJSON *pri = cJSON_GetObjectItem(r, "per_req_info");
    if (pri)
        cJSON_AddItemToObject(j, "per_req_info", cJSON_Duplicate(pri, 1));
    add_num(j, "scheduled_tokens", num(r, "new_tokens"));
    char *line = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (line) {
        mc_buf_printf(&c->out, "%s\n", line);
        cJSON_free(line);
    }
    ref_acc *a = &c->a;
    if (prefill && sls > 10) { /* the reference's "client prefill passes" */
        a->n_pre++, a->pre_lat += lat, a->pre_tok += num(r, "new_tokens"), a->pre_bs += bs;
        if (act >= 0)
            a->n_pre_act++, a->pre_act += act;
    } else if (!prefill) {
        a->n_dec++, a->dec_lat += lat, a->dec_bs += bs;
        if (act >= 0)
            a->n_dec_act++, a->dec_act += act;
    }
}

static double mean(double s, int64_t n)
{
    return n > 0 ? s / (double)n : NAN;
}

/* The client-side figures a metrics file needs besides the passes: the window (s) and the mean
 * TTFT / TPOT of the requests (s), the reference's last fallbacks. */
typedef struct client_perf {
    double window_s, ttft_mean_s, tpot_mean_s;
} client_perf;

static cJSON *metrics_json(const out_ctx *o, const det_ctx *dc, const client_perf *cp)
{
    const ref_acc *a = &dc->a;
    double window = cp->window_s;
    double n = (double)o->attempted;
    cJSON *m = cJSON_CreateObject();
    cJSON *p = cJSON_AddObjectToObject(m, "performance");
    add_num(p, "e2e_s", n > 0 ? window / n : NAN);
    add_num(p, "request/s", window > 0 ? n / window : NAN);
    add_num(p, "ttft", cp->ttft_mean_s);
    add_num(p, "prefill_pass_latency_s", mean(a->pre_lat, a->n_pre));
    double tpot = mean(a->dec_lat, a->n_dec);
    add_num(p, "tpot", isfinite(tpot) ? tpot : cp->tpot_mean_s);
    add_num(p, "prefill_forwarded_tokens", a->n_pre ? a->pre_tok : NAN);
    add_num(p, "prefill_step_elapsed_s", a->n_pre ? a->pre_lat : NAN);
    cJSON *e = cJSON_AddObjectToObject(m, "expert_activation");
    add_num(e, "avg_expert_activation_prefill", mean(a->pre_act, a->n_pre_act));
    add_num(e, "avg_expert_activation_decode", mean(a->dec_act, a->n_dec_act));
    cJSON *b = cJSON_AddObjectToObject(m, "batch_token_profile");
    add_num(b, "prefill_tokens", o->in_att);
    add_num(b, "prefill_tokens_per_request", n > 0 ? o->in_att / n : NAN);
    add_num(b, "prefill_avg_batch_size", mean(a->pre_bs, a->n_pre));
    add_num(b, "decode_generated_tokens", o->out_tok);
    add_num(b, "decode_generated_tokens_per_request", n > 0 ? o->out_tok / n : NAN);
    add_num(b, "decode_avg_batch_size", mean(a->dec_bs, a->n_dec));
    add_num(b, "prefill_tokens_attempted", o->in_att);
    add_num(b, "prefill_tokens_completed", o->in_ok);
    cJSON *q = cJSON_AddObjectToObject(m, "quality");
    cJSON_AddNumberToObject(q, "attempted", n);
    cJSON_AddNumberToObject(q, "served", (double)o->served);
    cJSON_AddNumberToObject(q, "completed", (double)o->completed);
    return m;
}

static cJSON *metadata_json(run_ctx *c, run_sys *s, int64_t point, const det_ctx *dc)
{
    cJSON *m = cJSON_CreateObject();
    cJSON *h = cJSON_AddObjectToObject(m, "hardware");
    cJSON_AddStringToObject(h, "gpu_type", c->hardware[0] ? c->hardware : "Unknown");
    cJSON_AddNumberToObject(h, "num_gpus", 1);
    cJSON *mc = cJSON_AddObjectToObject(m, "model_config");
    cJSON_AddStringToObject(mc, "model_name", s->embedded ? s->gguf : s->s->model ? s->s->model
                                                                                 : "");
    cJSON_AddStringToObject(mc, "precision", s->s->weights_type ? s->s->weights_type : "unknown");
    cJSON *e = cJSON_AddObjectToObject(m, "system_environment");
    cJSON_AddStringToObject(e, "inference_engine", s->embedded ? "moecap" : "unknown");
    cJSON_AddStringToObject(e, "inference_engine_version", s->embedded ? MC_VERSION : "unknown");
    cJSON_AddNumberToObject(e, "batch_size", (double)point);
    add_num(e, "avg_batch_size_prefill", mean(dc->a.pre_bs, dc->a.n_pre));
    add_num(e, "avg_batch_size_decode", mean(dc->a.dec_bs, dc->a.n_dec));
    return m;
}

static mc_err write_json(const char *dir, const char *name, cJSON *j, mc_diag *d)
{
    char path[RUN_PATH];
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    mc_err e = run_join(path, sizeof path, dir, name, d);
    if (e == MC_OK)
        e = text ? mc_write_file_atomic(path, text, strlen(text), d)
                 : mc_fail(d, MC_ERR_NOMEM, "out of memory");
    cJSON_free(text);
    return e;
}

static mc_err write_buf(const char *dir, const char *name, const mc_buf *b, mc_diag *d)
{
    char path[RUN_PATH];
    mc_err e = run_join(path, sizeof path, dir, name, d);
    return e ? e : mc_write_file_atomic(path, b->data ? b->data : "", b->len, d);
}

/* The reference's timestamp YYYYmmdd_HHMMSS from the run's creation time (ISO 8601). */
static void ref_stamp(const run_ctx *c, char ts[32])
{
    snprintf(ts, 32, "%.4s%.2s%.2s_%.2s%.2s%.2s", c->created, c->created + 5, c->created + 8,
             c->created + 11, c->created + 14, c->created + 17);
}

static mc_err ref_point(run_ctx *c, run_sys *s, int64_t point, const char *ref_dir, mc_diag *d)
{
    char step[48], dir[RUN_PATH], p[RUN_PATH + 32], ds[96], name[160];
    snprintf(step, sizeof step, "perf-%c%lld", c->batch_mode ? 'b' : 'c', (long long)point);
    run_join(dir, sizeof dir, s->dir, step, NULL);
    snprintf(p, sizeof p, "%s/summary.json", dir);
    cJSON *sum = run_read_json(p);
    if (!sum)
        return MC_OK; /* the step failed or did not run: nothing to convert */
    char ts[32];
    ref_stamp(c, ts);
    snprintf(ds, sizeof ds, "synthetic-%c%lld_%s", c->batch_mode ? 'b' : 'c', (long long)point,
             ts);
    out_ctx o = {.requested = c->output_len};
    det_ctx dc = {.index = 0};
    mc_buf_init(&o.out, 0);
    mc_buf_init(&dc.out, 0);
    snprintf(p, sizeof p, "%s/requests.jsonl", dir);
    mc_err e = each_line(p, out_line, &o);
    snprintf(p, sizeof p, "%s/records.jsonl", dir);
    if (e == MC_OK)
        each_line(p, det_line, &dc); /* absent without recording: no passes */
    if (e)
        mc_fail(d, e, "%s: cannot read", p);
    snprintf(name, sizeof name, "output_data_%s.jsonl", ds);
    if (e == MC_OK)
        e = write_buf(ref_dir, name, &o.out, d);
    snprintf(name, sizeof name, "detailed_results_%s.jsonl", ds);
    if (e == MC_OK)
        e = write_buf(ref_dir, name, &dc.out, d);
    snprintf(name, sizeof name, "metrics_%s.json", ds);
    const cJSON *lat = cJSON_GetObjectItem(sum, "latency");
    client_perf cp = {num(cJSON_GetObjectItem(sum, "window"), "duration_s"),
                      num(cJSON_GetObjectItem(lat, "latency.ttft"), "mean"),
                      num(cJSON_GetObjectItem(lat, "latency.tpot"), "mean")};
    if (e == MC_OK)
        e = write_json(ref_dir, name, metrics_json(&o, &dc, &cp), d);
    snprintf(name, sizeof name, "metadata_%s.json", ds);
    if (e == MC_OK)
        e = write_json(ref_dir, name, metadata_json(c, s, point, &dc), d);
    mc_buf_deinit(&o.out);
    mc_buf_deinit(&dc.out);
    cJSON_Delete(sum);
    return e;
}

/* eval items.jsonl -> the request fields out_line reads (a bench requests.jsonl line). */
static void eval_line(cJSON *it, void *u)
{
    cJSON *r = cJSON_CreateObject();
    const char *map[][2] = {{"index", "id"},         {"usage_prompt_tokens", "input_tokens"},
                            {"response", "text"},     {"usage_completion_tokens", "output_tokens"},
                            {"status", "status"},     {"error", "message"},
                            {"e2e_s", "e2e_s"},       {"ttft_s", "ttft_s"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        const cJSON *v = cJSON_GetObjectItem(it, map[i][0]);
        if (v && !cJSON_IsNull(v))
            cJSON_AddItemToObject(r, map[i][1], cJSON_Duplicate(v, 1));
    }
    out_line(r, u);
    cJSON_Delete(r);
}

/* The quality block of an eval's metrics file: acc and total (items scored) beside the request
 * counts. */
static void eval_quality(cJSON *m, const cJSON *sum)
{
    const cJSON *acc = cJSON_GetObjectItem(sum, "accuracy");
    cJSON *q = cJSON_GetObjectItem(m, "quality");
    double v = num(cJSON_GetObjectItem(acc, "acc"), "value");
    if (!isfinite(v)) /* log-likelihood and exact-match tasks may publish another metric */
        v = num(cJSON_GetObjectItem(acc, "em"), "value");
    cJSON *nq = cJSON_CreateObject();
    add_num(nq, "acc", v);
    add_num(nq, "total", num(acc, "scored"));
    for (cJSON *it = q ? q->child : NULL; it; it = it->next)
        cJSON_AddItemToObject(nq, it->string, cJSON_Duplicate(it, 1));
    cJSON_ReplaceItemInObject(m, "quality", nq);
}

/* One eval task: output_data, metrics (with quality acc/total) and metadata, data set = the task
 * name. No detailed_results: `moecap eval` does not record forward passes. */
static mc_err ref_eval(run_ctx *c, run_sys *s, const char *task, const char *ts,
                       const char *ref_dir, mc_diag *d)
{
    char dir[RUN_PATH], p[RUN_PATH + 32], name[200];
    snprintf(name, sizeof name, "eval-%s", task);
    run_join(dir, sizeof dir, s->dir, name, NULL);
    snprintf(p, sizeof p, "%s/summary.json", dir);
    cJSON *sum = run_read_json(p);
    if (!sum)
        return MC_OK; /* skipped (no data), failed or not run */
    const cJSON *perf = cJSON_GetObjectItem(sum, "performance");
    const cJSON *samp = cJSON_GetObjectItem(sum, "sampling");
    out_ctx o = {.requested = (int64_t)fmax(0, num(samp, "max_tokens"))};
    det_ctx dc = {.index = 0};
    mc_buf_init(&o.out, 0);
    snprintf(p, sizeof p, "%s/items.jsonl", dir);
    mc_err e = each_line(p, eval_line, &o);
    if (e)
        mc_fail(d, e, "%s: cannot read", p);
    client_perf cp = {num(perf, "duration_s"), num(cJSON_GetObjectItem(perf, "ttft_s"), "mean"),
                      num(cJSON_GetObjectItem(perf, "tpot_s"), "mean")};
    snprintf(name, sizeof name, "output_data_%s_%s.jsonl", task, ts);
    if (e == MC_OK)
        e = write_buf(ref_dir, name, &o.out, d);
    cJSON *m = metrics_json(&o, &dc, &cp);
    eval_quality(m, sum);
    snprintf(name, sizeof name, "metrics_%s_%s.json", task, ts);
    e = e ? (cJSON_Delete(m), e) : write_json(ref_dir, name, m, d);
    int64_t conc = (int64_t)fmax(1, num(samp, "concurrency"));
    snprintf(name, sizeof name, "metadata_%s_%s.json", task, ts);
    if (e == MC_OK)
        e = write_json(ref_dir, name, metadata_json(c, s, conc, &dc), d);
    mc_buf_deinit(&o.out);
    cJSON_Delete(sum);
    return e;
}

mc_err run_write_ref(run_ctx *c, run_sys *s, mc_diag *d)
{
    char dir[RUN_PATH];
    mc_err e = run_join(dir, sizeof dir, s->dir, "moecap-ref", d);
    if (e == MC_OK)
        e = mc_mkdirs(dir, d);
    for (size_t i = 0; e == MC_OK && i < c->n_points; i++)
        e = ref_point(c, s, c->points[i], dir, d);
    char ts[32];
    ref_stamp(c, ts);
    for (size_t i = 0; e == MC_OK && i < c->cfg->eval.n_tasks; i++)
        e = ref_eval(c, s, c->cfg->eval.tasks[i], ts, dir, d);
    return e;
}
