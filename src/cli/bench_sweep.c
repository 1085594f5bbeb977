/* bench_sweep.c: experiments of several measured runs in one `moecap bench` command:
 *   --sweep P=V1,V2,...  one run per value of concurrency, rate or batch, each with its own
 *                        directory (requests.jsonl, summary.json, server data), then sweep.json
 *                        and a table with one row per value;
 *   --find max-rate      the highest open-loop rate whose p99 latencies meet the SLOs: rates
 *                        doubled until a probe fails, then bisected to a stated precision;
 *                        find.json lists every probe.
 * The search itself is a small state machine (bench_search_*) that knows nothing of HTTP, so
 * its tests run without a server. Depends on cmd_bench.c's single run and src/cap's statistics. */
#include "bench_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- values and rows ----------------------------------------------------------------------- */

void bench_apply_value(bench_args *a, double v)
{
    switch (a->sweep) {
    case SWEEP_CONCURRENCY:
        a->mode = MC_LG_CLOSED;
        a->concurrency = (uint32_t)v;
        break;
    case SWEEP_BATCH:
        a->mode = MC_LG_BATCH;
        a->batch = (uint32_t)v;
        break;
    default:
        a->mode = MC_LG_OPEN;
        a->rate = v;
        break;
    }
}

static double p99_or_nan(const mc_cap_stats *x)
{
    return x->n ? x->p99 : NAN;
}

void bench_row_of(const bench_state *s, const bench_stats *st, double value, bench_row *row)
{
    const bench_srv_run *r = &s->r.srv;
    memset(row, 0, sizeof *row);
    row->value = value;
    row->sent = s->r.info.sent;
    row->ok = s->r.fails[MC_LG_OK];
    row->failed = s->r.nt - row->ok;
    row->have_tp = st->have_tp;
    row->tp = st->tp;
    row->ttft = st->ttft;
    row->tpot = st->tpot;
    row->itl = st->itl;
    row->e2e = st->e2e;
    row->have_gp = s->a.have_slo && st->have_tp;
    row->gp = st->gp;
    const mc_cap_group *dec = &r->cap.mode[MC_PASS_DECODE];
    row->smbu = r->have_cap && s->srv.have_hw ? r->cap.all.smbu_tw : NAN;
    row->smfu = r->have_cap && s->srv.have_hw ? r->cap.all.smfu_tw : NAN;
    row->act = r->have_cap   ? (dec->passes ? dec->act_mean : r->cap.all.act_mean)
               : r->have_est ? r->est.decode_act
                             : NAN;
    row->act_estimate = !r->have_cap && r->have_est;
    row->self_ok = bench_self_ok(s, st);
    row->partial = s->r.stopped;
}

/* A p99 from the requests that succeeded says nothing about the ones that failed, so a probe
 * with more than 1% failures fails; so does one where the client could not keep its schedule
 * (its latencies would include the client's own delay). */
int bench_probe_verdict(const bench_row *row, const mc_cap_slo *slo, char *reason, size_t n)
{
    const struct {
        const char *name;
        double limit;
        const mc_cap_stats *x;
    } obj[3] = {{"TTFT", slo->ttft_s, &row->ttft},
                {"TPOT", slo->tpot_s, &row->tpot},
                {"E2E", slo->e2e_s, &row->e2e}};
    uint64_t done = row->ok + row->failed;
    if (row->partial)
        return snprintf(reason, n, "interrupted"), 0;
    if (row->ok == 0 || row->failed * 100 > done)
        return snprintf(reason, n, "%llu of %llu requests failed (more than 1%%)",
                        (unsigned long long)row->failed, (unsigned long long)done),
               0;
    for (int i = 0; i < 3; i++) {
        if (!(obj[i].limit > 0))
            continue;
        if (obj[i].x->n == 0)
            return snprintf(reason, n, "no %s values (not streamed?)", obj[i].name), 0;
        if (obj[i].x->p99 > obj[i].limit)
            return snprintf(reason, n, "p99 %s %.4g ms > %.4g ms", obj[i].name, obj[i].x->p99 * 1e3,
                            obj[i].limit * 1e3),
                   0;
    }
    if (!row->self_ok)
        return snprintf(reason, n, "the client could not keep the schedule"), 0;
    snprintf(reason, n, "meets the SLOs");
    return 1;
}

static cJSON *json_row(const bench_row *r, int with_verdict)
{
    cJSON *o = cJSON_CreateObject();
    bench_json_num(o, "value", r->value);
    cJSON_AddStringToObject(o, "directory", r->dir);
    if (with_verdict) {
        cJSON_AddBoolToObject(o, "pass", r->pass);
        cJSON_AddStringToObject(o, "reason", r->reason);
    }
    cJSON *q = cJSON_AddObjectToObject(o, "requests");
    bench_json_num(q, "sent", (double)r->sent);
    bench_json_num(q, "ok", (double)r->ok);
    bench_json_num(q, "failed", (double)r->failed);
    cJSON *t = cJSON_AddObjectToObject(o, "throughput.requests");
    bench_json_num(t, "requests_per_s", r->have_tp ? r->tp.req_per_s : NAN);
    bench_json_num(t, "output_tokens_per_s", r->have_tp ? r->tp.out_tok_per_s : NAN);
    bench_json_num(t, "total_tokens_per_s", r->have_tp ? r->tp.total_tok_per_s : NAN);
    cJSON *l = cJSON_AddObjectToObject(o, "latency");
    cJSON_AddItemToObject(l, "latency.ttft", bench_json_stats(&r->ttft));
    cJSON_AddItemToObject(l, "latency.tpot", bench_json_stats(&r->tpot));
    cJSON_AddItemToObject(l, "latency.itl", bench_json_stats(&r->itl));
    cJSON_AddItemToObject(l, "latency.e2e", bench_json_stats(&r->e2e));
    cJSON *g = cJSON_AddObjectToObject(o, "goodput");
    bench_json_num(g, "good_fraction", r->have_gp ? r->gp.good_fraction : NAN);
    bench_json_num(g, "requests_per_s", r->have_gp ? r->gp.req_per_s : NAN);
    cJSON *sv = cJSON_AddObjectToObject(o, "server");
    bench_json_num(sv, "smbu.time_weighted", r->smbu);
    bench_json_num(sv, "smfu.time_weighted", r->smfu);
    bench_json_num(sv, "expert_activation", r->act);
    cJSON_AddBoolToObject(sv, "expert_activation_estimate", r->act_estimate);
    cJSON_AddBoolToObject(o, "self_check_ok", r->self_ok);
    cJSON_AddBoolToObject(o, "partial", r->partial);
    return o;
}

static cJSON *json_head(const bench_state *s, const char *kind)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "command", "bench");
    cJSON_AddStringToObject(root, "experiment", kind);
    cJSON_AddStringToObject(root, "moecap_version", MC_VERSION);
    cJSON_AddStringToObject(root, "definitions", "docs/METRICS.md, docs/LOADGEN.md");
    cJSON_AddStringToObject(root, "url", s->url);
    cJSON_AddStringToObject(root, "model", s->model ? s->model : "");
    cJSON_AddStringToObject(root, "directory", s->top_dir);
    return root;
}

/* ---- the table ----------------------------------------------------------------------------- */

static void cell(double v, double scale, int prec)
{
    if (isfinite(v))
        printf(" %9.*f", prec, v * scale);
    else
        printf(" %9s", "-");
}

static void print_header(const char *first, int verdict, int slo)
{
    printf("%-11s %s %7s %6s %9s %9s %9s %9s %9s %9s %9s %9s%s %9s %9s\n", first,
           verdict ? "  ok?" : "", "ok", "fail", "req/s", "out tok/s", "TTFT p50", "TTFT p99",
           "TPOT p50", "TPOT p99", "ITL p99", "E2E p99", slo ? "    good %" : "", "S-MBU %",
           "experts");
}

static void print_row(const bench_row *r, int verdict, int slo)
{
    printf("%-11.6g %s %7llu %6llu", r->value, verdict ? (r->pass ? " pass" : " FAIL") : "",
           (unsigned long long)r->ok, (unsigned long long)r->failed);
    cell(r->have_tp ? r->tp.req_per_s : NAN, 1, 2);
    cell(r->have_tp ? r->tp.out_tok_per_s : NAN, 1, 1);
    cell(r->ttft.n ? r->ttft.p50 : NAN, 1e3, 2);
    cell(p99_or_nan(&r->ttft), 1e3, 2);
    cell(r->tpot.n ? r->tpot.p50 : NAN, 1e3, 2);
    cell(p99_or_nan(&r->tpot), 1e3, 2);
    cell(p99_or_nan(&r->itl), 1e3, 2);
    cell(p99_or_nan(&r->e2e), 1e3, 2);
    if (slo)
        cell(r->have_gp ? r->gp.good_fraction : NAN, 100, 1);
    cell(r->smbu, 100, 2);
    cell(r->act, 1, 2);
    printf("%s%s%s\n", r->act_estimate ? " (est.)" : "", r->self_ok ? "" : " (client lagged)",
           r->partial ? " PARTIAL" : "");
}

/* ---- running the sub-runs ------------------------------------------------------------------ */

static mc_err sub_run(bench_state *s, double v, const char *dir_name, bench_row *row, mc_diag *d)
{
    char dir[4400], label[96];
    s->a = s->base;
    bench_apply_value(&s->a, v);
    snprintf(label, sizeof label, "%s=%g", s->base.sweep ? bench_sweep_name(s->base.sweep) : "rate",
             v);
    s->label = label;
    snprintf(dir, sizeof dir, "%s/%s", s->top_dir, dir_name);
    bench_stats st;
    mc_err e = bench_run_one(s, dir, &st, d);
    s->label = "";
    if (e)
        return e;
    bench_row_of(s, &st, v, row);
    snprintf(row->dir, sizeof row->dir, "%s", dir_name);
    fprintf(stderr, "moecap bench: %s: %llu ok, %llu failed, %.2f req/s -> %s\n", label,
            (unsigned long long)row->ok, (unsigned long long)row->failed,
            row->have_tp ? row->tp.req_per_s : 0.0, dir);
    return MC_OK;
}

static int finish_doc(bench_state *s, cJSON *doc, const char *file, int partial, mc_diag *d,
                      mc_err *e)
{
    char p[4300];
    cJSON_AddBoolToObject(doc, "partial", partial);
    snprintf(p, sizeof p, "%s/%s", s->top_dir, file);
    *e = bench_write_json(p, doc, s->a.json, d);
    cJSON_Delete(doc);
    return *e ? mc_cli_fail(BENCH_CMD, *e, d) : 0;
}

int bench_sweep(bench_state *s, mc_diag *d, mc_err *e)
{
    const bench_args *b = &s->base;
    bench_row rows[BENCH_SWEEP_MAX];
    size_t n = 0;
    uint64_t any_ok = 0;
    *e = MC_OK;
    for (size_t i = 0; i < b->n_sweep && !*e && !bench_stop_flag; i++) {
        char name[96];
        snprintf(name, sizeof name, "sweep-%s-%g", bench_sweep_name(b->sweep), b->sweep_v[i]);
        *e = sub_run(s, b->sweep_v[i], name, &rows[n], d);
        if (!*e)
            any_ok += rows[n++].ok;
    }
    if (*e)
        return mc_cli_fail(BENCH_CMD, *e, d);
    int partial = n < b->n_sweep || (n && rows[n - 1].partial);
    cJSON *doc = json_head(s, "sweep");
    cJSON_AddStringToObject(doc, "parameter", bench_sweep_name(b->sweep));
    cJSON *arr = cJSON_AddArrayToObject(doc, "rows");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, json_row(&rows[i], 0));
    if (!s->a.json) {
        printf("moecap bench sweep  %s  model %s  (times in ms)\n", s->url, s->model);
        print_header(bench_sweep_name(b->sweep), 0, b->have_slo);
        for (size_t i = 0; i < n; i++)
            print_row(&rows[i], 0, b->have_slo);
        printf("results       %s/sweep.json and one directory per value\n", s->top_dir);
    }
    int rc = finish_doc(s, doc, "sweep.json", partial, d, e);
    if (!rc && partial)
        fprintf(stderr, "moecap bench: interrupted; partial results in %s\n", s->top_dir);
    if (!rc && !partial && any_ok == 0)
        fprintf(stderr, "moecap bench: no request succeeded in any run\n");
    return rc ? rc : partial || any_ok == 0;
}

/* ---- the max-rate search ------------------------------------------------------------------- */

void bench_search_init(bench_search *s, double start, double precision, uint32_t max_probes)
{
    memset(s, 0, sizeof *s);
    s->start = start;
    s->precision = precision;
    s->max_probes = max_probes;
    s->floor_rate = start / 1024; /* ten halvings below the start */
    s->ceil_rate = 1e7;           /* the option parser's limit for rates */
}

static double finish_search(bench_search *s, int converged, const char *why)
{
    s->done = 1;
    s->converged = converged;
    snprintf(s->why, sizeof s->why, "%s", why);
    return 0;
}

double bench_search_next(bench_search *s)
{
    if (s->done)
        return 0;
    if (s->probes == 0)
        return s->start;
    if (s->lo > 0 && s->hi > 0 && (s->hi - s->lo) / s->lo <= s->precision)
        return finish_search(s, 1, "the bracket is within the precision");
    if (s->probes >= s->max_probes)
        return finish_search(s, 0, "probe limit reached before the precision");
    if (s->hi == 0) { /* every probe passed so far: double */
        double r = s->lo * 2;
        return r > s->ceil_rate ? finish_search(s, 0, "every rate up to the limit met the SLOs")
                                : r;
    }
    if (s->lo == 0) { /* every probe failed so far: halve */
        double r = s->hi / 2;
        return r < s->floor_rate ? finish_search(s, 0, "no probed rate met the SLOs") : r;
    }
    return (s->lo + s->hi) / 2;
}

void bench_search_report(bench_search *s, double rate, int pass)
{
    s->probes++;
    if (pass && rate > s->lo)
        s->lo = rate;
    if (!pass && (s->hi == 0 || rate < s->hi))
        s->hi = rate;
}

static cJSON *json_search(const bench_search *q, const bench_args *a)
{
    cJSON *o = cJSON_CreateObject();
    bench_json_num(o, "max_rate_per_s", q->lo > 0 ? q->lo : NAN);
    bench_json_num(o, "lowest_failing_rate_per_s", q->hi > 0 ? q->hi : NAN);
    cJSON_AddBoolToObject(o, "converged", q->converged);
    cJSON_AddStringToObject(o, "ended", q->why);
    bench_json_num(o, "probes", q->probes);
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "rule",
                            "every given objective's p99 <= its limit, at most 1% of "
                            "the requests failed, and the client kept its schedule");
    bench_json_num(c, "ttft_s", a->slo.ttft_s > 0 ? a->slo.ttft_s : NAN);
    bench_json_num(c, "tpot_s", a->slo.tpot_s > 0 ? a->slo.tpot_s : NAN);
    bench_json_num(c, "e2e_s", a->slo.e2e_s > 0 ? a->slo.e2e_s : NAN);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "result", o);
    cJSON_AddItemToObject(root, "slo", c);
    cJSON *m = cJSON_AddObjectToObject(root, "method");
    cJSON_AddStringToObject(m, "search",
                            "double the rate from the start until a probe fails "
                            "(halve until one passes if the first fails), then "
                            "bisect between the highest pass and the lowest fail");
    bench_json_num(m, "start_rate_per_s", a->rate);
    bench_json_num(m, "precision", a->find_precision);
    bench_json_num(m, "max_probes", a->find_max_probes);
    bench_json_num(m, "requests_per_probe", (double)a->num_requests);
    bench_json_num(m, "warmup_per_probe", a->warmup);
    bench_json_num(m, "concurrency_cap", a->concurrency);
    return root;
}

static void print_search(const bench_state *s, const bench_row *rows, size_t n,
                         const bench_search *q)
{
    printf("moecap bench find max-rate  %s  model %s  (times in ms)\n", s->url, s->model);
    print_header("rate/s", 1, 1);
    for (size_t i = 0; i < n; i++)
        print_row(&rows[i], 1, 1);
    for (size_t i = 0; i < n; i++)
        if (!rows[i].pass)
            printf("  rate %.6g: %s\n", rows[i].value, rows[i].reason);
    if (q->lo > 0)
        printf("max rate      %.4g req/s meets the SLOs", q->lo);
    else
        printf("max rate      none: no probed rate met the SLOs");
    if (q->hi > 0)
        printf("; %.4g req/s does not", q->hi);
    printf(" (%s, %u probes)\n", q->why, q->probes);
    printf("results       %s/find.json and one directory per probe\n", s->top_dir);
}

int bench_find(bench_state *s, mc_diag *d, mc_err *e)
{
    const bench_args *b = &s->base;
    bench_search q;
    bench_search_init(&q, b->rate, b->find_precision, b->find_max_probes);
    bench_row *rows = mc_calloc(b->find_max_probes, sizeof *rows);
    size_t n = 0;
    *e = rows ? MC_OK : mc_fail(d, MC_ERR_NOMEM, "out of memory");
    for (double rate; !*e && !bench_stop_flag && (rate = bench_search_next(&q)) > 0;) {
        char name[96];
        snprintf(name, sizeof name, "probe-%02zu-rate-%g", n + 1, rate);
        *e = sub_run(s, rate, name, &rows[n], d);
        if (*e)
            break;
        rows[n].pass =
            bench_probe_verdict(&rows[n], &b->slo, rows[n].reason, sizeof rows[n].reason);
        bench_search_report(&q, rate, rows[n].pass);
        n++;
    }
    int rc = *e ? mc_cli_fail(BENCH_CMD, *e, d) : 0;
    int partial = !q.done;
    if (!rc) {
        if (partial)
            snprintf(q.why, sizeof q.why, "interrupted");
        cJSON *doc = json_head(s, "find max-rate");
        cJSON *res = json_search(&q, b);
        cJSON *arr = cJSON_AddArrayToObject(res, "probes");
        for (size_t i = 0; i < n; i++)
            cJSON_AddItemToArray(arr, json_row(&rows[i], 1));
        cJSON_AddItemToObject(doc, "search", res);
        if (!s->a.json)
            print_search(s, rows, n, &q);
        rc = finish_doc(s, doc, "find.json", partial, d, e);
    }
    mc_free(rows);
    if (!rc && partial)
        fprintf(stderr, "moecap bench: interrupted; partial results in %s\n", s->top_dir);
    else if (!rc && q.lo == 0)
        fprintf(stderr, "moecap bench: no probed rate met the SLOs\n");
    return rc ? rc : partial || q.lo == 0;
}
