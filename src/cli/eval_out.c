/* eval_out.c: what `moecap eval` writes: one JSON line per item in DIR/items.jsonl, each with a
 * single write() as the item is scored (the file always ends with a whole line), and
 * DIR/summary.json (atomically: temporary file, fsync, rename) with the run's metadata,
 * accuracy overall and per category, and the requests' latency and throughput; then a table or
 * the JSON on stdout. Formats: docs/EVAL.md section 5. */
#include "eval_int.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

/* ---- items.jsonl ------------------------------------------------------------------------------
 */

static mc_err write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return MC_ERR_IO;
        p += w;
        n -= (size_t)w;
    }
    return MC_OK;
}

void eval_on_item(const mc_ev_result *r, void *ctx)
{
    eval_state *s = ctx;
    if (s->write_err)
        return;
    char *line = mc_ev_result_json(r, s->a.with_prompt);
    size_t n = line ? strlen(line) : 0;
    char *buf = line ? mc_realloc(line, n + 2) : NULL;
    if (!buf) {
        mc_free(line);
        s->write_err =
            mc_fail(&s->write_diag, MC_ERR_NOMEM, "out of memory writing item %s", r->item->id);
        return;
    }
    buf[n] = '\n';
    buf[n + 1] = 0;
    if (write_all(s->items_fd, buf, n + 1) != MC_OK)
        s->write_err = mc_fail(&s->write_diag, MC_ERR_IO, "%s/items.jsonl: write failed: %s",
                               s->out_dir, strerror(errno));
    mc_free(buf);
}

void eval_print_warnings(const eval_state *s)
{
    size_t nw = mc_ds_n_warnings(s->ds);
    for (size_t i = 0; i < nw; i++)
        fprintf(stderr, "moecap eval: %s (skipped)\n", mc_ds_warning(s->ds, i));
    uint64_t sk = mc_ds_skipped(s->ds);
    if (sk > nw)
        fprintf(stderr, "moecap eval: ... and %llu more bad records skipped\n",
                (unsigned long long)(sk - nw));
}

/* ---- summary.json ---------------------------------------------------------------------------- */

static void add_num(cJSON *o, const char *key, double v)
{
    if (isnan(v) || isinf(v))
        cJSON_AddNullToObject(o, key);
    else
        cJSON_AddNumberToObject(o, key, v);
}

static const char *method_name(mc_ev_method m)
{
    return m == MC_EV_LOGLIK ? "loglik" : "gen";
}

static void json_target(cJSON *root, const eval_state *s)
{
    cJSON *t = cJSON_AddObjectToObject(root, "target");
    cJSON_AddStringToObject(t, "url", mc_ev_endpoint_url(s->ev));
    cJSON_AddStringToObject(t, "endpoint",
                            s->a.method == MC_EV_LOGLIK   ? "completions (echo)"
                            : s->a.endpoint == MC_LG_CHAT ? "chat"
                                                          : "completions");
    cJSON_AddStringToObject(t, "model", s->model ? s->model : "");
    cJSON_AddBoolToObject(t, "stream", s->a.method == MC_EV_GEN && s->a.stream);
    cJSON *p = cJSON_AddObjectToObject(root, "sampling");
    uint32_t mt = mc_ev_max_tokens(s->ev);
    if (s->a.method == MC_EV_LOGLIK)
        add_num(p, "max_tokens", s->a.ll_max_tokens);
    else if (mt)
        add_num(p, "max_tokens", mt);
    else
        cJSON_AddStringToObject(p, "max_tokens", "per LongBench subset (dataset2maxlen)");
    add_num(p, "temperature", s->a.method == MC_EV_LOGLIK ? 0 : s->a.temperature);
    add_num(p, "top_p", s->a.top_p >= 0 ? s->a.top_p : NAN);
    add_num(p, "seed", s->a.sampling_seed >= 0 ? (double)s->a.sampling_seed : NAN);
    add_num(p, "concurrency", s->a.concurrency);
    add_num(p, "timeout_s", s->a.timeout_s);
}

static void json_files(cJSON *o, const eval_state *s, size_t from, size_t to)
{
    cJSON *a = cJSON_AddArrayToObject(o, "files");
    for (size_t i = from; i < to; i++) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddItemToArray(a, f);
        cJSON_AddStringToObject(f, "path", s->files[i].path);
        add_num(f, "bytes", (double)s->files[i].bytes);
        cJSON_AddStringToObject(f, "sha256", s->files[i].sha256);
    }
}

static void json_data(cJSON *root, const eval_state *s)
{
    cJSON *d = cJSON_AddObjectToObject(root, "data");
    cJSON_AddStringToObject(d, "format", mc_ds_fmt_name(mc_ds_format(s->ds)));
    json_files(d, s, 0, s->n_paths);
    size_t nsel = 0;
    mc_ds_selected(s->ds, &nsel);
    add_num(d, "items_loaded", (double)mc_ds_count(s->ds));
    add_num(d, "items_selected", (double)nsel);
    add_num(d, "items_evaluated", (double)mc_ev_n_items(s->ev));
    add_num(d, "bad_records_skipped", (double)mc_ds_skipped(s->ds));
    cJSON *w = cJSON_AddArrayToObject(d, "bad_records");
    for (size_t i = 0; i < mc_ds_n_warnings(s->ds); i++)
        cJSON_AddItemToArray(w, cJSON_CreateString(mc_ds_warning(s->ds, i)));
    cJSON *sel = cJSON_AddObjectToObject(d, "selection");
    add_num(sel, "limit", s->a.limit ? (double)s->a.limit : NAN);
    add_num(sel, "sample", s->a.sample ? (double)s->a.sample : NAN);
    add_num(sel, "seed", (double)s->a.seed);
    if (s->a.category)
        cJSON_AddStringToObject(sel, "category", s->a.category);
    else
        cJSON_AddNullToObject(sel, "category");
}

static void json_fewshot(cJSON *root, const eval_state *s)
{
    cJSON *f = cJSON_AddObjectToObject(root, "fewshot");
    add_num(f, "k", s->a.fewshot);
    cJSON_AddStringToObject(f, "source", mc_ev_shots_note(s->ev));
    if (s->fewshot_path)
        json_files(f, s, s->n_paths, s->n_files);
    size_t nx = 0;
    const size_t *x = mc_ev_excluded(s->ev, &nx);
    cJSON *ids = cJSON_AddArrayToObject(f, "excluded_ids");
    for (size_t i = 0; i < nx; i++)
        cJSON_AddItemToArray(ids, cJSON_CreateString(mc_ds_at(s->ds, x[i])->id));
}

static void json_accuracy(cJSON *root, const eval_state *s)
{
    mc_ev_metric m = mc_ev_metric_used(s->ev);
    cJSON *acc = mc_ev_tally_json(mc_ev_total(s->ev), m);
    if (acc)
        cJSON_AddItemToObject(root, "accuracy", acc);
    size_t nc = 0;
    const mc_ev_category *c = mc_ev_categories(s->ev, &nc);
    cJSON *cats = cJSON_AddObjectToObject(root, "categories");
    for (size_t i = 0; i < nc; i++) {
        cJSON *t = mc_ev_tally_json(&c[i].t, m);
        if (t)
            cJSON_AddItemToObject(cats, c[i].name, t);
    }
}

static cJSON *lat3(double mean, double p50, double p99)
{
    cJSON *o = cJSON_CreateObject();
    add_num(o, "mean", mean);
    add_num(o, "p50", p50);
    add_num(o, "p99", p99);
    return o;
}

static void json_perf(cJSON *root, const mc_ev_perf *p)
{
    cJSON *o = cJSON_AddObjectToObject(root, "performance");
    add_num(o, "requests", (double)p->requests);
    add_num(o, "ok", (double)p->ok);
    add_num(o, "failed", (double)p->failed);
    add_num(o, "duration_s", p->duration_s);
    cJSON_AddItemToObject(o, "ttft_s", lat3(p->ttft_mean_s, p->ttft_p50_s, p->ttft_p99_s));
    cJSON_AddItemToObject(o, "tpot_s", lat3(p->tpot_mean_s, p->tpot_p50_s, p->tpot_p99_s));
    cJSON_AddItemToObject(o, "e2e_s", lat3(p->e2e_mean_s, p->e2e_p50_s, p->e2e_p99_s));
    add_num(o, "requests_per_s", p->req_per_s);
    add_num(o, "output_tokens_per_s", p->out_tok_per_s);
    add_num(o, "input_tokens", (double)p->in_tokens);
    add_num(o, "output_tokens", (double)p->out_tokens);
}

static cJSON *summary_json(const eval_state *s, const mc_ev_perf *perf)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "command", "eval");
    cJSON_AddStringToObject(root, "moecap_version", MC_VERSION);
    cJSON_AddStringToObject(root, "definitions",
                            "docs/METRICS.md, Accuracy and fidelity (acc.*, fidelity.*); "
                            "docs/EVAL.md");
    cJSON_AddBoolToObject(root, "partial", s->stopped);
    cJSON_AddStringToObject(root, "date", s->date);
    cJSON_AddStringToObject(root, "task", mc_ev_task_name(s->a.task));
    cJSON_AddStringToObject(root, "method", method_name(s->a.method));
    cJSON_AddStringToObject(root, "metric", mc_ev_metric_name(mc_ev_metric_used(s->ev)));
    cJSON_AddStringToObject(root, "prompt_style",
                            s->a.style == MC_EV_STYLE_MOECAP_REF ? "moecap-ref" : "default");
    if (s->a.system)
        cJSON_AddStringToObject(root, "system_prompt", s->a.system);
    json_target(root, s);
    json_data(root, s);
    json_fewshot(root, s);
    json_accuracy(root, s);
    json_perf(root, perf);
    cJSON *f = cJSON_AddObjectToObject(root, "files");
    cJSON_AddStringToObject(f, "items", "items.jsonl");
    cJSON_AddStringToObject(f, "directory", s->out_dir);
    return root;
}

/* ---- the table ------------------------------------------------------------------------------ */

static void stat_row(const char *name, const mc_ev_stat *st, uint64_t count, int have_count)
{
    if (st->n == 0)
        return;
    printf("%-10s %.4f", name, st->mean);
    if (!isnan(st->stderr_))
        printf(" +- %.4f (stderr), 95%% CI %.4f..%.4f (%s)", st->stderr_, st->lo, st->hi,
               st->wilson ? "Wilson" : "normal");
    if (have_count)
        printf("   %llu/%llu", (unsigned long long)count, (unsigned long long)st->n);
    printf("\n");
}

static void print_tally(const mc_ev_tally *t, mc_ev_metric m)
{
    mc_ev_stat st;
    if (t->scored == 0)
        return;
    mc_ev_stat_binary(t->correct, t->scored, &st);
    stat_row("acc", &st, t->correct, 1);
    if (m == MC_EV_METRIC_LOGLIK) {
        mc_ev_stat_binary(t->correct_norm, t->scored, &st);
        stat_row("acc_norm", &st, t->correct_norm, 1);
    }
    if (m == MC_EV_METRIC_F1 || m == MC_EV_METRIC_LONGBENCH) {
        mc_ev_stat_mean(t->sum, t->sumsq, t->scored, &st);
        stat_row("f1", &st, 0, 0);
    }
    if (m == MC_EV_METRIC_LONGBENCH && t->off_n) {
        mc_ev_stat_mean(t->off_sum, t->off_sumsq, t->off_n, &st);
        stat_row("official", &st, 0, 0);
    }
}

static void print_categories(const eval_state *s, mc_ev_metric m)
{
    size_t nc = 0;
    const mc_ev_category *c = mc_ev_categories(s->ev, &nc);
    if (nc < 2)
        return;
    printf("\n%-24s %8s %8s %8s\n", "category", "items", "acc",
           m == MC_EV_METRIC_LOGLIK      ? "acc_norm"
           : m == MC_EV_METRIC_LONGBENCH ? "f1"
                                         : "");
    for (size_t i = 0; i < nc; i++) {
        const mc_ev_tally *t = &c[i].t;
        double acc = t->scored ? (double)t->correct / (double)t->scored : NAN;
        double x = m == MC_EV_METRIC_LOGLIK      ? (double)t->correct_norm / (double)t->scored
                   : m == MC_EV_METRIC_LONGBENCH ? t->sum / (double)t->scored
                                                 : NAN;
        printf("%-24.24s %8llu", c[i].name, (unsigned long long)t->n);
        if (isnan(acc))
            printf(" %8s", "-");
        else
            printf(" %8.4f", acc);
        if (!isnan(x) && t->scored)
            printf(" %8.4f", x);
        printf("\n");
    }
}

static void print_table(const eval_state *s, const mc_ev_perf *p)
{
    const mc_ev_tally *t = mc_ev_total(s->ev);
    mc_ev_metric m = mc_ev_metric_used(s->ev);
    printf("moecap eval: %s (%s, %s) on %s, model %s\n", mc_ev_task_name(s->a.task),
           method_name(s->a.method), mc_ev_metric_name(m), mc_ev_endpoint_url(s->ev),
           s->model ? s->model : "?");
    printf("items %llu, failed requests %llu, no answer extracted %llu\n", (unsigned long long)t->n,
           (unsigned long long)t->failed, (unsigned long long)t->no_answer);
    print_tally(t, m);
    print_categories(s, m);
    printf("\nrequests %llu (%llu failed)", (unsigned long long)p->requests,
           (unsigned long long)p->failed);
    if (!isnan(p->duration_s))
        printf(" in %.2f s, %.2f req/s", p->duration_s, p->req_per_s);
    if (!isnan(p->ttft_p50_s))
        printf(", TTFT p50 %.1f ms", p->ttft_p50_s * 1e3);
    if (!isnan(p->tpot_p50_s))
        printf(", TPOT p50 %.2f ms", p->tpot_p50_s * 1e3);
    if (!isnan(p->e2e_p50_s))
        printf(", E2E p50 %.1f ms", p->e2e_p50_s * 1e3);
    printf("\nresults: %s/items.jsonl, %s/summary.json\n", s->out_dir, s->out_dir);
}

mc_err eval_write_summary(eval_state *s, mc_diag *d)
{
    mc_ev_perf perf;
    mc_err e = mc_ev_perf_of(s->ev, &perf, d);
    if (e)
        return e;
    cJSON *j = summary_json(s, &perf);
    char *text = j ? cJSON_Print(j) : NULL;
    cJSON_Delete(j);
    if (!text)
        return mc_fail(d, MC_ERR_NOMEM, "out of memory writing the summary");
    mc_buf b;
    mc_buf_init(&b, 0);
    char p[4200];
    snprintf(p, sizeof p, "%s/summary.json", s->out_dir);
    e = mc_buf_append(&b, text, strlen(text)) || mc_buf_append(&b, "\n", 1)
            ? mc_fail(d, MC_ERR_NOMEM, "out of memory")
            : mc_write_file_atomic(p, b.data, b.len, d);
    cJSON_free(text);
    if (!e && s->a.json)
        fputs(b.data, stdout);
    else if (!e)
        print_table(s, &perf);
    mc_buf_deinit(&b);
    return e;
}
