/* bench_out.c: what one run of `moecap bench` writes. Each finished request becomes one JSON line
 * in requests.jsonl (written with one write() as it completes) and, unless it was warm-up or
 * cancelled, one src/cap request timing; at the end every statistic (TTFT, TPOT, ITL, E2E,
 * throughput, goodput, percentiles) is computed by src/cap and written to summary.json and as a
 * table. Formats: docs/LOADGEN.md; definitions: docs/METRICS.md. */
#include "bench_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *bench_mode_name(mc_lg_mode m)
{
    return m == MC_LG_OPEN ? "open" : m == MC_LG_BATCH ? "batch" : "closed";
}

/* ---- JSON Lines -------------------------------------------------------------------------- */

/* Length of a valid UTF-8 sequence at p (n bytes left), 0 if invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    size_t k = p[0] < 0x80             ? 1
               : (p[0] & 0xE0) == 0xC0 ? 2
               : (p[0] & 0xF0) == 0xE0 ? 3
               : (p[0] & 0xF8) == 0xF0 ? 4
                                       : 0;
    if (k == 0 || k > n || (k == 2 && p[0] < 0xC2))
        return 0;
    for (size_t i = 1; i < k; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return k;
}

/* A JSON string; control characters escaped, invalid UTF-8 replaced by U+FFFD. */
static void json_str(mc_buf *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    mc_buf_append(b, "\"", 1);
    for (size_t i = 0; i < n;) {
        size_t k = utf8_len(p + i, n - i);
        if (k == 0) {
            mc_buf_append(b, "\\ufffd", 6);
            i++;
        } else if (p[i] == '"' || p[i] == '\\') {
            mc_buf_printf(b, "\\%c", p[i++]);
        } else if (p[i] < 0x20) {
            mc_buf_printf(b, "\\u%04x", p[i++]);
        } else {
            mc_buf_append(b, s + i, k);
            i += k;
        }
    }
    mc_buf_append(b, "\"", 1);
}

static void json_ns(mc_buf *b, const char *key, mc_ns t, mc_ns origin)
{
    if (t)
        mc_buf_printf(b, ",\"%s\":%lld", key, (long long)(t - origin));
    else
        mc_buf_printf(b, ",\"%s\":null", key);
}

static void json_opt(mc_buf *b, const char *key, int defined, double v)
{
    if (defined && isfinite(v))
        mc_buf_printf(b, ",\"%s\":%.9g", key, v);
    else
        mc_buf_printf(b, ",\"%s\":null", key);
}

static void line_times(bench_state *s, const mc_lg_result *r, const mc_req_timing *t)
{
    mc_buf *b = &s->line;
    json_ns(b, "sched_ns", r->sched_ns, s->r.origin);
    json_ns(b, "send_ns", r->send_ns, s->r.origin);
    json_ns(b, "first_byte_ns", r->first_byte_ns, s->r.origin);
    json_ns(b, "first_token_ns", r->first_token_ns, s->r.origin);
    json_ns(b, "last_token_ns", r->last_token_ns, s->r.origin);
    json_ns(b, "end_ns", r->end_ns, s->r.origin);
    mc_buf_append(b, ",\"chunk_ns\":[", 13);
    for (size_t i = 0; i < r->n_chunk_ns; i++)
        mc_buf_printf(b, i ? ",%lld" : "%lld", (long long)(r->chunk_ns[i] - s->r.origin));
    mc_buf_append(b, "]", 1);
    double ttft = 0, tpot = 0, e2e = 0; /* per request, through src/cap */
    int has_ttft = mc_cap_ttft_s(t, &ttft) == 0, has_tpot = mc_cap_tpot_s(t, &tpot) == 0;
    int has_e2e = mc_cap_e2e_s(t, &e2e) == 0;
    json_opt(b, "ttft_s", has_ttft, ttft);
    json_opt(b, "tpot_s", has_tpot, tpot);
    json_opt(b, "e2e_s", has_e2e, e2e);
}

static void line_counts(bench_state *s, const mc_lg_result *r, const mc_req_timing *t)
{
    mc_buf *b = &s->line;
    const mc_lg_prompt *p = &s->w.p[r->id % s->w.n];
    mc_buf_printf(b, ",\"n_chunks\":%llu,\"n_chunk_stamps\":%zu,\"n_reasoning_chunks\":%llu",
                  (unsigned long long)r->n_chunks, r->n_chunk_ns,
                  (unsigned long long)r->n_reasoning_chunks);
    json_opt(b, "usage_prompt_tokens", r->usage_prompt_tokens >= 0, (double)r->usage_prompt_tokens);
    json_opt(b, "usage_completion_tokens", r->usage_completion_tokens >= 0,
             (double)r->usage_completion_tokens);
    mc_buf_printf(b, ",\"input_tokens\":%lld,\"input_exact\":%s,\"output_tokens\":%lld",
                  (long long)t->in_tokens,
                  (r->usage_prompt_tokens >= 0 || p->input_exact) ? "true" : "false",
                  (long long)t->out_tokens);
    mc_buf_printf(b, ",\"finish_reason\":");
    json_str(b, r->finish_reason, strlen(r->finish_reason));
    mc_buf_printf(b,
                  ",\"saw_done\":%s,\"conn_reused\":%s,\"text_bytes\":%llu,"
                  "\"text_truncated\":%s",
                  r->saw_done ? "true" : "false", r->conn_reused ? "true" : "false",
                  (unsigned long long)r->text_bytes, r->text_truncated ? "true" : "false");
    if (s->a.save_text) {
        mc_buf_append(b, ",\"text\":", 8);
        json_str(b, r->text, r->text_len);
    }
}

static void write_line(bench_state *s, const mc_lg_result *r, const mc_req_timing *t)
{
    mc_buf *b = &s->line;
    mc_buf_reset(b);
    mc_buf_printf(b,
                  "{\"id\":%llu,\"warmup\":%s,\"prompt\":%zu,\"status\":\"%s\","
                  "\"http_status\":%d,\"message\":",
                  (unsigned long long)r->id, r->tag ? "true" : "false", (size_t)(r->id % s->w.n),
                  mc_lg_fail_name(r->fail), r->http_status);
    json_str(b, r->message, strlen(r->message));
    line_times(s, r, t);
    line_counts(s, r, t);
    if (mc_buf_append(b, "}\n", 2) != MC_OK) {
        s->r.write_err = mc_fail(&s->r.write_diag, MC_ERR_NOMEM,
                                 "out of memory formatting a "
                                 "request line");
        return;
    }
    for (size_t off = 0; off < b->len && s->r.write_err == MC_OK;) {
        ssize_t w = write(s->r.req_fd, b->data + off, b->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            s->r.write_err = mc_fail(&s->r.write_diag, MC_ERR_IO, "%s/requests.jsonl: %s", s->r.dir,
                                     strerror(errno));
        else
            off += (size_t)w;
    }
}

/* ---- collecting for src/cap ---------------------------------------------------------------- */

static double rel_s(const bench_state *s, mc_ns t)
{
    return mc_ns_to_s(t - s->r.origin);
}

static mc_req_timing to_timing(const bench_state *s, const mc_lg_result *r)
{
    const mc_lg_prompt *p = &s->w.p[r->id % s->w.n];
    mc_req_timing t = {0};
    t.start_s = rel_s(s, r->sched_ns);
    /* without streaming the text arrives at once: no TTFT/TPOT, only E2E */
    t.first_s = s->a.stream && r->first_token_ns ? rel_s(s, r->first_token_ns) : -1;
    t.end_s = rel_s(s, r->last_token_ns ? r->last_token_ns : r->end_ns);
    t.out_tokens =
        r->usage_completion_tokens >= 0 ? r->usage_completion_tokens : (int64_t)r->n_chunks;
    t.in_tokens = r->usage_prompt_tokens >= 0 ? r->usage_prompt_tokens : p->input_tokens;
    t.ok = r->fail == MC_LG_OK;
    return t;
}

/* Grows *p to hold need elements, but never beyond max (then as far as max). Returns 0 when
 * need elements fit. */
static int grow(void **p, size_t *cap, size_t need, size_t elem, size_t max)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 1024;
    while (ncap < need && ncap <= max / 2)
        ncap *= 2;
    if (ncap < need)
        ncap = need;
    if (ncap > max)
        ncap = max;
    if (ncap <= *cap)
        return -1;
    void *np = mc_reallocarray(*p, ncap, elem);
    if (!np)
        return -1;
    *p = np;
    *cap = ncap;
    return ncap >= need ? 0 : -1;
}

/* Pools this request's chunk gaps (latency.itl, through src/cap), up to max_itl in total. */
static void collect_itl(bench_state *s, const mc_lg_result *r, mc_req_timing *t)
{
    if (!t->ok || r->n_chunk_ns < 2)
        return;
    for (size_t i = 0; i < r->n_chunk_ns; i++)
        s->stamps_s[i] = rel_s(s, r->chunk_ns[i]);
    t->chunk_s = s->stamps_s;
    t->n_chunks = (int64_t)r->n_chunk_ns;
    grow((void **)&s->r.itl, &s->r.cap_itl, s->r.n_itl + r->n_chunk_ns, sizeof *s->r.itl,
         s->a.max_itl);
    size_t room = s->r.cap_itl - s->r.n_itl;
    size_t k = mc_cap_collect(t, 1, MC_LAT_ITL, s->r.itl + s->r.n_itl, room);
    s->r.itl_total += k;
    s->r.n_itl += k < room ? k : room;
    t->chunk_s = NULL;
    t->n_chunks = 0;
}

static void collect(bench_state *s, const mc_lg_result *r, mc_req_timing *t)
{
    collect_itl(s, r, t);
    if (grow((void **)&s->r.t, &s->r.cap_t, s->r.nt + 1, sizeof *s->r.t, SIZE_MAX / 2) == 0)
        s->r.t[s->r.nt++] = *t;
    if (grow((void **)&s->r.lag, &s->r.cap_lag, s->r.n_lag + 1, sizeof *s->r.lag, SIZE_MAX / 2) ==
        0)
        s->r.lag[s->r.n_lag++] = mc_ns_to_s(r->send_ns - r->sched_ns);
    if (!t->ok)
        return;
    s->r.chunk_out += r->n_chunks;
    if (r->usage_completion_tokens >= 0) {
        s->r.usage_out += (uint64_t)r->usage_completion_tokens;
        s->r.out_discrepancy += r->usage_completion_tokens - (int64_t)r->n_chunks;
    } else {
        s->r.no_usage++;
    }
    if (r->usage_prompt_tokens >= 0) {
        int64_t diff = r->usage_prompt_tokens - s->w.p[r->id % s->w.n].input_tokens;
        s->r.usage_in++;
        s->r.in_discrepancy += diff;
        s->r.in_mismatch += diff != 0;
    }
}

static void progress(bench_state *s)
{
    mc_ns now = mc_now_ns();
    if (!s->tty || now - s->r.progress_ns < 500000000ull)
        return;
    s->r.progress_ns = now;
    uint64_t failed = s->r.done - s->r.warm_done - s->r.fails[MC_LG_OK];
    double el = mc_ns_to_s(now - s->r.origin);
    fprintf(stderr, "\rmoecap bench: %s%s%llu done, %llu failed, %.1f req/s, %.0f s   ", s->label,
            *s->label ? ": " : "", (unsigned long long)s->r.done, (unsigned long long)failed,
            el > 0 ? (double)s->r.done / el : 0.0, el);
}

void bench_on_result(const mc_lg_result *r, void *ctx)
{
    bench_state *s = ctx;
    mc_req_timing t = to_timing(s, r);
    s->r.done++;
    if (s->r.write_err == MC_OK)
        write_line(s, r, &t);
    if (r->tag) {
        s->r.warm_done++;
    } else if (r->fail == MC_LG_FAIL_CANCELLED) {
        s->r.cancelled++;
    } else {
        s->r.fails[r->fail]++;
        collect(s, r, &t);
    }
    progress(s);
}

void bench_run_reset(bench_run *r)
{
    mc_free(r->t);
    mc_free(r->itl);
    mc_free(r->lag);
    memset(r, 0, sizeof *r);
    r->req_fd = -1;
}

/* ---- statistics (all through src/cap) ------------------------------------------------------ */

mc_err bench_compute(bench_state *s, bench_stats *st, mc_diag *d)
{
    memset(st, 0, sizeof *st);
    double *v = mc_mallocarray(s->r.nt ? s->r.nt : 1, sizeof *v);
    if (!v)
        return mc_fail(d, MC_ERR_NOMEM, "out of memory for statistics");
    const mc_lat_kind kinds[3] = {MC_LAT_TTFT, MC_LAT_TPOT, MC_LAT_E2E};
    mc_cap_stats *out[3] = {&st->ttft, &st->tpot, &st->e2e};
    mc_err e = MC_OK;
    for (int k = 0; k < 3 && !e; k++) {
        size_t n = mc_cap_collect(s->r.t, s->r.nt, kinds[k], v, s->r.nt);
        e = mc_cap_stats_of(v, n, out[k], d);
    }
    mc_free(v);
    if (!e)
        e = mc_cap_stats_of(s->r.itl, s->r.n_itl, &st->itl, d);
    if (!e)
        e = mc_cap_stats_of(s->r.lag, s->r.n_lag, &st->lag, d);
    if (e || s->r.fails[MC_LG_OK] == 0)
        return e; /* no successful request: no window, no throughput */
    st->have_tp = 1;
    mc_cap_window w = {0, 0}; /* first request due -> last successful completion */
    e = mc_cap_throughput_of(s->r.t, s->r.nt, w, &st->tp, d);
    if (!e && s->a.have_slo)
        e = mc_cap_goodput_of(s->r.t, s->r.nt, &s->a.slo, w, &st->gp, d);
    return e;
}

/* ---- summary.json -------------------------------------------------------------------------- */

void bench_json_num(cJSON *o, const char *key, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

cJSON *bench_json_stats(const mc_cap_stats *x)
{
    cJSON *o = cJSON_CreateObject();
    const struct {
        const char *k;
        double v;
    } f[] = {{"mean", x->mean}, {"sd", x->sd},      {"min", x->min},
             {"p50", x->p50},   {"p90", x->p90},    {"p95", x->p95},
             {"p99", x->p99},   {"p99.9", x->p999}, {"max", x->max}};
    bench_json_num(o, "n", (double)x->n);
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        bench_json_num(o, f[i].k, x->n ? f[i].v : NAN);
    return o;
}

static void json_target(cJSON *root, const bench_state *s)
{
    cJSON *o = cJSON_AddObjectToObject(root, "target");
    cJSON_AddStringToObject(o, "url", s->url);
    cJSON_AddStringToObject(o, "endpoint", s->a.endpoint == MC_LG_CHAT ? "chat" : "completions");
    if (s->model)
        cJSON_AddStringToObject(o, "model", s->model);
    else
        cJSON_AddNullToObject(o, "model");
    cJSON_AddBoolToObject(o, "stream", s->a.stream);
}

static void json_load(cJSON *root, const bench_state *s)
{
    const bench_args *a = &s->a;
    cJSON *o = cJSON_AddObjectToObject(root, "load");
    cJSON_AddStringToObject(o, "mode", bench_mode_name(a->mode));
    bench_json_num(o, "concurrency", a->mode == MC_LG_BATCH ? NAN : (double)a->concurrency);
    bench_json_num(o, "batch", a->mode == MC_LG_BATCH ? (double)a->batch : NAN);
    bench_json_num(o, "rate_per_s", a->mode == MC_LG_OPEN ? a->rate : NAN);
    bench_json_num(o, "burstiness", a->mode == MC_LG_OPEN ? a->burstiness : NAN);
    bench_json_num(o, "num_requests", a->num_requests ? (double)a->num_requests : NAN);
    bench_json_num(o, "duration_s", a->duration_s > 0 ? a->duration_s : NAN);
    bench_json_num(o, "warmup", a->warmup);
    bench_json_num(o, "ramp_up_s", a->ramp_s);
    bench_json_num(o, "seed", (double)a->seed);
    bench_json_num(o, "timeout_s", a->timeout_s);
}

static const char *counted_by(int method)
{
    return method == TOKM_SERVER  ? "server /tokenize"
           : method == TOKM_LOCAL ? "local GGUF tokenizer"
                                  : "approximation: 4 chars/token";
}

static void json_workload(cJSON *root, const bench_state *s)
{
    const bench_args *a = &s->a;
    cJSON *o = cJSON_AddObjectToObject(root, "workload");
    cJSON_AddStringToObject(o, "source", a->dataset ? a->dataset : "synthetic");
    bench_json_num(o, "prompts", (double)s->w.n);
    cJSON_AddBoolToObject(o, "input_tokens_exact", s->tok_method != TOKM_APPROX);
    cJSON_AddStringToObject(o, "input_tokens_counted_by", counted_by(s->tok_method));
    cJSON *tk = cJSON_AddObjectToObject(o, "tokenizer");
    cJSON_AddStringToObject(tk, "method",
                            s->tok_method == TOKM_SERVER  ? "server"
                            : s->tok_method == TOKM_LOCAL ? "local"
                                                          : "approximate");
    if (s->tok_method == TOKM_LOCAL)
        cJSON_AddStringToObject(tk, "file", a->tokenizer);
    else
        cJSON_AddNullToObject(tk, "file");
    if (!a->dataset) {
        cJSON *in = cJSON_AddArrayToObject(o, "input_len");
        cJSON_AddItemToArray(in, cJSON_CreateNumber(a->in_min));
        cJSON_AddItemToArray(in, cJSON_CreateNumber(a->in_max));
    }
    cJSON *out = cJSON_AddArrayToObject(o, "output_len");
    cJSON_AddItemToArray(out, cJSON_CreateNumber(a->out_min));
    cJSON_AddItemToArray(out, cJSON_CreateNumber(a->out_max));
    cJSON_AddBoolToObject(o, "ignore_eos", a->ignore_eos);
    bench_json_num(o, "temperature", a->temperature);
}

static void json_requests(cJSON *root, const bench_state *s)
{
    cJSON *o = cJSON_AddObjectToObject(root, "requests");
    bench_json_num(o, "sent", (double)s->r.info.sent);
    bench_json_num(o, "completed", (double)s->r.nt);
    bench_json_num(o, "ok", (double)s->r.fails[MC_LG_OK]);
    bench_json_num(o, "failed", (double)(s->r.nt - s->r.fails[MC_LG_OK]));
    bench_json_num(o, "cancelled", (double)s->r.cancelled);
    bench_json_num(o, "warmup", (double)s->r.warm_done);
    cJSON *f = cJSON_AddObjectToObject(o, "failures");
    for (int k = 1; k < MC_LG_FAIL_COUNT_; k++)
        if (k != MC_LG_FAIL_CANCELLED)
            bench_json_num(f, mc_lg_fail_name((mc_lg_fail)k), (double)s->r.fails[k]);
}

static void json_window_tp(cJSON *root, const bench_state *s, const bench_stats *st)
{
    cJSON *w = cJSON_AddObjectToObject(root, "window");
    cJSON_AddStringToObject(w, "definition", "first request due -> last successful completion");
    bench_json_num(w, "duration_s", st->have_tp ? st->tp.duration_s : NAN);
    cJSON *o = cJSON_AddObjectToObject(root, "throughput.requests");
    bench_json_num(o, "requests_per_s", st->have_tp ? st->tp.req_per_s : NAN);
    bench_json_num(o, "input_tokens_per_s", st->have_tp ? st->tp.in_tok_per_s : NAN);
    bench_json_num(o, "output_tokens_per_s", st->have_tp ? st->tp.out_tok_per_s : NAN);
    bench_json_num(o, "total_tokens_per_s", st->have_tp ? st->tp.total_tok_per_s : NAN);
    bench_json_num(o, "input_tokens", (double)st->tp.in_tokens);
    bench_json_num(o, "output_tokens", (double)st->tp.out_tokens);
    if (!s->a.have_slo) {
        cJSON_AddNullToObject(root, "goodput");
        return;
    }
    cJSON *g = cJSON_AddObjectToObject(root, "goodput");
    cJSON *slo = cJSON_AddObjectToObject(g, "slo");
    bench_json_num(slo, "ttft_s", s->a.slo.ttft_s > 0 ? s->a.slo.ttft_s : NAN);
    bench_json_num(slo, "tpot_s", s->a.slo.tpot_s > 0 ? s->a.slo.tpot_s : NAN);
    bench_json_num(slo, "e2e_s", s->a.slo.e2e_s > 0 ? s->a.slo.e2e_s : NAN);
    bench_json_num(g, "good", (double)st->gp.good);
    bench_json_num(g, "good_fraction", st->have_tp ? st->gp.good_fraction : 0);
    bench_json_num(g, "requests_per_s", st->have_tp ? st->gp.req_per_s : NAN);
    bench_json_num(g, "output_tokens_per_s", st->have_tp ? st->gp.out_tok_per_s : NAN);
}

static void json_latency(cJSON *root, const bench_state *s, const bench_stats *st)
{
    cJSON *o = cJSON_AddObjectToObject(root, "latency");
    cJSON_AddStringToObject(o, "unit", "s");
    cJSON_AddItemToObject(o, "latency.ttft", bench_json_stats(&st->ttft));
    cJSON_AddItemToObject(o, "latency.tpot", bench_json_stats(&st->tpot));
    cJSON *itl = bench_json_stats(&st->itl);
    cJSON_AddBoolToObject(itl, "truncated", s->r.itl_total > s->r.n_itl);
    bench_json_num(itl, "gaps_seen", (double)s->r.itl_total);
    cJSON_AddItemToObject(o, "latency.itl", itl);
    cJSON_AddItemToObject(o, "latency.e2e", bench_json_stats(&st->e2e));
    cJSON_AddItemToObject(root, "schedule_lag_s", bench_json_stats(&st->lag));
}

static void json_tokens_client(cJSON *root, const bench_state *s, const bench_stats *st)
{
    cJSON *o = cJSON_AddObjectToObject(root, "tokens");
    bench_json_num(o, "usage_completion_tokens", (double)s->r.usage_out);
    bench_json_num(o, "chunk_count", (double)s->r.chunk_out);
    bench_json_num(o, "ok_requests_without_usage", (double)s->r.no_usage);
    bench_json_num(o, "usage_minus_chunks", (double)s->r.out_discrepancy);
    bench_json_num(o, "ok_requests_with_prompt_usage", (double)s->r.usage_in);
    bench_json_num(o, "prompt_usage_minus_workload", (double)s->r.in_discrepancy);
    bench_json_num(o, "prompt_count_mismatches", (double)s->r.in_mismatch);
    cJSON_AddStringToObject(o, "output_tokens_source",
                            s->r.no_usage == 0 ? "usage"
                            : s->r.usage_out   ? "mixed"
                                               : "chunks");
    cJSON *c = cJSON_AddObjectToObject(root, "client");
    bench_json_num(c, "slots", (double)mc_lg_client_slots(s->client));
    bench_json_num(c, "cpu_s", s->r.cpu_s);
    bench_json_num(c, "cpu_us_per_request", s->r.done ? s->r.cpu_s / (double)s->r.done * 1e6 : NAN);
    bench_json_num(c, "cpu_ns_per_chunk",
                   s->r.chunk_out ? s->r.cpu_s / (double)s->r.chunk_out * 1e9 : NAN);
    (void)st;
}

/* The names vLLM's bench serve prints, in its units (ms), for side-by-side comparisons. */
static void json_vllm(cJSON *root, const bench_state *s, const bench_stats *st)
{
    cJSON *o = cJSON_AddObjectToObject(root, "vllm_names");
    bench_json_num(o, "completed", (double)s->r.fails[MC_LG_OK]);
    bench_json_num(o, "request_throughput", st->have_tp ? st->tp.req_per_s : NAN);
    bench_json_num(o, "output_throughput", st->have_tp ? st->tp.out_tok_per_s : NAN);
    bench_json_num(o, "total_token_throughput", st->have_tp ? st->tp.total_tok_per_s : NAN);
    bench_json_num(o, "request_goodput", s->a.have_slo && st->have_tp ? st->gp.req_per_s : NAN);
    const struct {
        const char *name;
        const mc_cap_stats *x;
    } k[] = {{"ttft", &st->ttft}, {"tpot", &st->tpot}, {"itl", &st->itl}, {"e2el", &st->e2e}};
    char key[32];
    for (size_t i = 0; i < 4; i++) {
        const mc_cap_stats *x = k[i].x;
        snprintf(key, sizeof key, "mean_%s_ms", k[i].name);
        bench_json_num(o, key, x->n ? x->mean * 1e3 : NAN);
        snprintf(key, sizeof key, "median_%s_ms", k[i].name);
        bench_json_num(o, key, x->n ? x->p50 * 1e3 : NAN);
        snprintf(key, sizeof key, "std_%s_ms", k[i].name);
        bench_json_num(o, key, x->n ? x->sd * 1e3 : NAN);
        snprintf(key, sizeof key, "p99_%s_ms", k[i].name);
        bench_json_num(o, key, x->n ? x->p99 * 1e3 : NAN);
    }
}

#define LAG_LIMIT_S 0.01

/* Could the client keep the schedule? In the open loop a request that found every slot busy
 * waited for the server, not for the client; otherwise a p99 schedule lag over 10 ms means the
 * client (or this machine) was late, and latencies include its delay. */
int bench_self_ok(const bench_state *s, const bench_stats *st)
{
    return s->r.info.queued > 0 || st->lag.n == 0 || st->lag.p99 <= LAG_LIMIT_S;
}

static void json_self_check(cJSON *root, const bench_state *s, const bench_stats *st)
{
    cJSON *o = cJSON_AddObjectToObject(root, "self_check");
    int ok = bench_self_ok(s, st);
    cJSON_AddBoolToObject(o, "ok", ok);
    bench_json_num(o, "schedule_lag_p99_s", st->lag.n ? st->lag.p99 : NAN);
    bench_json_num(o, "lag_limit_s", LAG_LIMIT_S);
    bench_json_num(o, "queued_for_slot", (double)s->r.info.queued);
    cJSON_AddStringToObject(o, "note",
                            !ok ? "the client could not keep the schedule: latencies include its "
                                  "own delay"
                            : s->r.info.queued
                                ? "requests waited for a free slot (concurrency cap):"
                                  " schedule lag is queueing behind the server"
                                : "the client kept the schedule");
}

/* Which experiment a sub-run belongs to (a sweep's value, a search's probe). */
static void json_experiment(cJSON *root, const bench_state *s)
{
    const bench_args *b = &s->base;
    if (!b->sweep && !b->find)
        return;
    cJSON *o = cJSON_AddObjectToObject(root, "experiment");
    cJSON_AddStringToObject(o, "kind", b->sweep ? "sweep" : "find max-rate");
    cJSON_AddStringToObject(o, "parameter", b->sweep ? bench_sweep_name(b->sweep) : "rate");
    double v = b->sweep == SWEEP_CONCURRENCY ? s->a.concurrency
               : b->sweep == SWEEP_BATCH     ? s->a.batch
                                             : s->a.rate;
    bench_json_num(o, "value", v);
    cJSON_AddStringToObject(o, "top_directory", s->top_dir);
}

/* Writes j (pretty, '\n'-terminated) atomically to path (NULL = none) and/or to stdout. */
mc_err bench_write_json(const char *path, const cJSON *j, int to_stdout, mc_diag *d)
{
    char *text = cJSON_Print(j);
    if (!text)
        return mc_fail(d, MC_ERR_NOMEM, "out of memory formatting JSON");
    mc_buf b;
    mc_buf_init(&b, 0);
    mc_err e = mc_buf_append(&b, text, strlen(text)) || mc_buf_append(&b, "\n", 1)
                   ? mc_fail(d, MC_ERR_NOMEM, "out of memory")
                   : MC_OK;
    cJSON_free(text);
    if (!e && path)
        e = mc_write_file_atomic(path, b.data, b.len, d);
    if (!e && to_stdout)
        fputs(b.data, stdout);
    mc_buf_deinit(&b);
    return e;
}

cJSON *bench_summary_json(const bench_state *s, const bench_stats *st)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "command", "bench");
    cJSON_AddStringToObject(root, "moecap_version", MC_VERSION);
    cJSON_AddStringToObject(root, "definitions", "docs/METRICS.md, docs/LOADGEN.md");
    cJSON_AddBoolToObject(root, "partial", s->r.stopped);
    json_experiment(root, s);
    json_target(root, s);
    json_load(root, s);
    json_workload(root, s);
    json_requests(root, s);
    json_window_tp(root, s, st);
    json_latency(root, s, st);
    json_tokens_client(root, s, st);
    json_self_check(root, s, st);
    json_vllm(root, s, st);
    bench_srv_json(s, root);
    cJSON *f = cJSON_AddObjectToObject(root, "files");
    cJSON_AddStringToObject(f, "requests", "requests.jsonl");
    cJSON_AddStringToObject(f, "directory", s->r.dir);
    return root;
}

/* ---- the table ----------------------------------------------------------------------------- */

static void row(const char *name, const mc_cap_stats *x, double scale)
{
    if (!x->n) {
        printf("%-13s %8s\n", name, "-");
        return;
    }
    printf("%-13s %8zu %9.2f %9.2f %9.2f %9.2f %9.2f %9.2f %9.2f\n", name, x->n, x->mean * scale,
           x->sd * scale, x->p50 * scale, x->p90 * scale, x->p99 * scale, x->p999 * scale,
           x->max * scale);
}

static void print_failures(const bench_state *s)
{
    uint64_t failed = s->r.nt - s->r.fails[MC_LG_OK];
    printf("requests      %llu ok, %llu failed", (unsigned long long)s->r.fails[MC_LG_OK],
           (unsigned long long)failed);
    for (int k = 1; k < MC_LG_FAIL_COUNT_; k++)
        if (s->r.fails[k])
            printf(" %s=%llu", mc_lg_fail_name((mc_lg_fail)k), (unsigned long long)s->r.fails[k]);
    if (s->r.cancelled)
        printf(", %llu cancelled", (unsigned long long)s->r.cancelled);
    printf(" (+%llu warm-up)%s\n", (unsigned long long)s->r.warm_done,
           s->r.stopped ? "  PARTIAL: interrupted" : "");
}

/* Token counts (and where they came from) and the client's own CPU. */
static void print_tokens_client(const bench_state *s, const bench_stats *st)
{
    printf("\ninput tokens  %lld (%s; prompts built with %s)\n", (long long)st->tp.in_tokens,
           s->r.usage_in == s->r.fails[MC_LG_OK] ? "server usage" : "workload count",
           s->tok_method == TOKM_APPROX ? "APPROXIMATE lengths: 4 characters per token"
                                        : counted_by(s->tok_method));
    if (s->r.in_mismatch)
        printf("              %llu requests' prompt_tokens differ from the workload's count "
               "(usage - count: %+lld in total)\n",
               (unsigned long long)s->r.in_mismatch, (long long)s->r.in_discrepancy);
    printf("output tokens %lld (usage %llu, chunks %llu, usage - chunks %lld, %llu without "
           "usage)\n",
           (long long)st->tp.out_tokens, (unsigned long long)s->r.usage_out,
           (unsigned long long)s->r.chunk_out, (long long)s->r.out_discrepancy,
           (unsigned long long)s->r.no_usage);
    printf("client CPU    %.3f s (%.1f us/request)\n", s->r.cpu_s,
           s->r.done ? s->r.cpu_s / (double)s->r.done * 1e6 : 0.0);
}

void bench_print_table(const bench_state *s, const bench_stats *st)
{
    printf("moecap bench  %s  model %s  %s", s->url, s->model ? s->model : "-",
           s->a.mode == MC_LG_OPEN    ? "open loop"
           : s->a.mode == MC_LG_BATCH ? "fixed batches"
                                      : "closed loop");
    if (s->a.mode == MC_LG_OPEN)
        printf(", %.4g req/s (burstiness %.3g), at most %u in flight", s->a.rate, s->a.burstiness,
               s->a.concurrency);
    else
        printf(", %s %u", s->a.mode == MC_LG_BATCH ? "batch" : "concurrency",
               s->a.mode == MC_LG_BATCH ? s->a.batch : s->a.concurrency);
    printf("%s\n", s->a.stream ? "" : ", not streamed (no TTFT/TPOT/ITL)");
    print_failures(s);
    if (st->have_tp) {
        printf("window        %.3f s (first request due -> last successful completion)\n",
               st->tp.duration_s);
        printf("throughput    %.2f req/s, %.1f output tok/s, %.1f total tok/s\n", st->tp.req_per_s,
               st->tp.out_tok_per_s, st->tp.total_tok_per_s);
    }
    if (s->a.have_slo && st->have_tp)
        printf("goodput       %.2f req/s, %.1f output tok/s (%.1f%% of requests good)\n",
               st->gp.req_per_s, st->gp.out_tok_per_s, st->gp.good_fraction * 100);
    printf("\n%-13s %8s %9s %9s %9s %9s %9s %9s %9s\n", "ms", "n", "mean", "sd", "p50", "p90",
           "p99", "p99.9", "max");
    row("TTFT", &st->ttft, 1e3);
    row("TPOT", &st->tpot, 1e3);
    row(s->r.itl_total > s->r.n_itl ? "ITL (trunc.)" : "ITL", &st->itl, 1e3);
    row("E2E", &st->e2e, 1e3);
    row("sched. lag", &st->lag, 1e3);
    print_tokens_client(s, st);
    if (s->r.info.queued)
        printf("queued        %llu requests waited for a free slot (the server fell behind "
               "the offered rate)\n",
               (unsigned long long)s->r.info.queued);
    if (!bench_self_ok(s, st))
        printf("WARNING       p99 schedule lag %.1f ms: the client could not keep the schedule;"
               " latencies include its own delay\n",
               st->lag.p99 * 1e3);
    bench_srv_print(s);
    printf("results       %s/requests.jsonl, %s/summary.json\n", s->r.dir, s->r.dir);
}
