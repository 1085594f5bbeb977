/* bench_server.c: server-side data around each measured window of `moecap bench`:
 *   - the moecap recording protocol (POST /moecap/record/start, /moecap/record/stop, GET
 *     /moecap/records as JSON Lines) or the vLLM-style aliases of the MoE-CAP reference (POST
 *     /start_batch_recording, /stop_batch_recording, /dump_batch_recording -> {records}), found
 *     by trying the start endpoint at the first window (404/405 = not spoken);
 *   - Prometheus GET /metrics snapshots before and after the window;
 *   - what is computed from them: S-MBU / S-MFU / expert activation from the records through
 *     src/cap, or, when the server does not record, the analytic estimate of expert activation.
 * Output of all this (summary.json "server", the table) is in bench_server_out.c. Depends on
 * loadgen's blocking HTTP calls, src/cap, src/model and src/hw; never on the client loop. */
#include "bench_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROM_MAX_BYTES ((size_t)16 << 20)
#define CONTROL_MAX_BYTES ((size_t)1 << 20)
#define SETTLE_MS 20
#define SETTLE_TRIES 25 /* at most ~0.5 s */

static const char *const start_path[] = {
    [REC_MOECAP] = "/moecap/record/start", [REC_VLLM] = "/start_batch_recording"};
static const char *const stop_path[] = {
    [REC_MOECAP] = "/moecap/record/stop", [REC_VLLM] = "/stop_batch_recording"};

/* ---- preparation --------------------------------------------------------------------------- */

/* The model description: --cap-model (must load), else the served model id when the catalogue
 * (or a local config.json/.gguf of that name) knows it. */
static mc_err load_description(bench_state *s, mc_diag *d)
{
    bench_srv *v = &s->srv;
    const char *what = s->a.cap_model ? s->a.cap_model : s->model;
    mc_diag q = {{0}};
    mc_err e = mc_model_load(what, &v->m, s->a.cap_model ? d : &q);
    if (e && s->a.cap_model) {
        mc_diag_prefix(d, "--cap-model");
        return e;
    }
    if (e)
        snprintf(v->m_from, sizeof v->m_from,
                 "none: the model id '%s' is not a catalogue name or a model file "
                 "(give --cap-model)",
                 what);
    else
        snprintf(v->m_from, sizeof v->m_from, "%s '%s'",
                 s->a.cap_model ? "--cap-model" : "the model id", what);
    return MC_OK;
}

static mc_err load_hardware(bench_state *s, mc_diag *d)
{
    bench_srv *v = &s->srv;
    if (!s->a.hardware)
        return MC_OK;
    if (!v->m)
        return mc_fail(d, MC_ERR_ARG, "--hardware needs a model description: %s", v->m_from);
    mc_err e = mc_hw_parse_deploy(s->a.hardware, &v->dep, d);
    if (e)
        mc_diag_prefix(d, "--hardware");
    if (!e)
        e = mc_cap_peak_of(v->m, &v->dep, &v->pk, d);
    v->have_hw = e == MC_OK;
    return e;
}

mc_err bench_srv_prepare(bench_state *s, mc_diag *d)
{
    mc_err e = load_description(s, d);
    if (!e)
        e = load_hardware(s, d);
    if (!e && s->a.server_data)
        e = mc_lg_http_new(s->a.url, s->a.api_key, 30, &s->srv.http, d);
    return e;
}

void bench_srv_deinit(bench_srv *v)
{
    mc_lg_http_free(v->http);
    mc_model_free(v->m);
    memset(v, 0, sizeof *v);
}

void bench_srv_run_deinit(bench_srv_run *r)
{
    mc_pass_set_deinit(&r->set);
    mc_buf_deinit(&r->prom_before);
    mc_buf_deinit(&r->prom_after);
    memset(r, 0, sizeof *r);
}

/* ---- the window ---------------------------------------------------------------------------- */

static int ok_status(long st)
{
    return st >= 200 && st < 300;
}

/* GET /metrics into b (replacing what it held) when the server has it (learnt at the first
 * scrape). */
static int scrape(bench_srv *v, mc_buf *b)
{
    long st = 0;
    size_t n = 0;
    if (v->prom < 0 ||
        mc_lg_http_call(v->http, "GET", "/metrics", NULL, PROM_MAX_BYTES, &st, NULL) != MC_OK ||
        !ok_status(st)) {
        v->prom = v->prom ? v->prom : -1;
        return 0;
    }
    const char *text = mc_lg_http_body(v->http, &n);
    mc_lg_prom p;
    mc_lg_prom_init(&p);
    int is_prom = mc_lg_prom_parse(text, n, 0, &p, NULL) == MC_OK && p.n > 0;
    mc_lg_prom_deinit(&p);
    if (!is_prom) { /* a page that is not Prometheus text */
        v->prom = v->prom ? v->prom : -1;
        return 0;
    }
    v->prom = 1;
    mc_buf_deinit(b);
    mc_buf_init(b, 0);
    return mc_buf_append(b, text, n) == MC_OK;
}

/* Series that may move without requests: the standard runtime collectors (process CPU, garbage
 * collector) and duration sums (the scrape itself takes time). */
static int restless(const char *key)
{
    size_t n = strcspn(key, "{");
    return strncmp(key, "process_", 8) == 0 || strncmp(key, "python_", 7) == 0 ||
           strncmp(key, "go_", 3) == 0 || (n >= 4 && memcmp(key + n - 4, "_sum", 4) == 0);
}

/* The last two pages and the increases between the last three. */
typedef struct settle {
    mc_lg_prom page[2];
    mc_lg_prom_delta *d[2];
    size_t n[2];
    int pages;
} settle;

static const mc_lg_prom_delta *find_delta(const mc_lg_prom_delta *d, size_t n, size_t hint,
                                          const char *key)
{
    if (hint < n && strcmp(d[hint].key, key) == 0)
        return &d[hint];
    for (size_t i = 0; i < n; i++)
        if (strcmp(d[i].key, key) == 0)
            return &d[i];
    return NULL;
}

/* Did every steady series increase by the same amount in the last two intervals? */
static int same_motion(const settle *t)
{
    for (size_t i = 0; i < t->n[1]; i++) {
        const mc_lg_prom_delta *b = &t->d[1][i];
        const mc_lg_prom_delta *a =
            restless(b->key) ? NULL : find_delta(t->d[0], t->n[0], i, b->key);
        if (!restless(b->key) && (!a || a->delta != b->delta || b->reset || b->is_new))
            return 0;
    }
    return 1;
}

/* Adds the page in b; 1 when the counters move only as the scrapes themselves make them. */
static int settle_add(settle *t, const mc_buf *b)
{
    mc_free(t->d[0]); /* its keys pointed into page[0], dropped next */
    t->d[0] = t->d[1];
    t->n[0] = t->n[1];
    t->d[1] = NULL;
    t->n[1] = 0;
    mc_lg_prom_deinit(&t->page[0]);
    t->page[0] = t->page[1];
    mc_lg_prom_init(&t->page[1]);
    if (mc_lg_prom_parse(b->data, b->len, 0, &t->page[1], NULL) != MC_OK ||
        (++t->pages >= 2 && mc_lg_prom_deltas(&t->page[0], &t->page[1], &t->d[1], &t->n[1], NULL)))
        return 0;
    return t->pages >= 3 && same_motion(t);
}

/* A server may count a request after its last bytes left (moecap serve counts it finished
 * then), so when the client has seen every response end its counters can still move. Scrapes
 * SETTLE_MS apart until two successive increases agree (every counter moves only by what the
 * scrapes add, e.g. an HTTP request counter), at most SETTLE_TRIES times; *settled says whether
 * they did. The last page is kept in b. */
static int scrape_settled(bench_srv *v, mc_buf *b, int *settled)
{
    settle t;
    memset(&t, 0, sizeof t);
    *settled = 0;
    int ok = scrape(v, b);
    if (ok)
        settle_add(&t, b);
    for (int i = 1; ok && i < SETTLE_TRIES && !*settled; i++) {
        struct timespec ts = {0, SETTLE_MS * 1000000L};
        nanosleep(&ts, NULL);
        ok = scrape(v, b);
        *settled = ok && settle_add(&t, b);
    }
    for (int k = 0; k < 2; k++) {
        mc_free(t.d[k]);
        mc_lg_prom_deinit(&t.page[k]);
    }
    return ok;
}

/* Starting recording doubles as detection: 404/405 means the server does not speak it. */
static void detect_and_start(bench_state *s)
{
    bench_srv *v = &s->srv;
    bench_srv_run *r = &s->r.srv;
    long st[REC_NONE] = {0};
    mc_diag q = {{0}};
    for (int p = REC_MOECAP; p <= REC_VLLM; p++) {
        if (mc_lg_http_call(v->http, "POST", start_path[p], NULL, CONTROL_MAX_BYTES, &st[p], &q) !=
            MC_OK) {
            snprintf(r->note, sizeof r->note, "could not start recording: %s", q.msg);
            return; /* a transport problem: try again at the next window */
        }
        if (ok_status(st[p])) {
            v->rec = p;
            r->recording = 1;
            return;
        }
        if (st[p] != 404 && st[p] != 405) {
            snprintf(r->note, sizeof r->note, "POST %s: HTTP %ld", start_path[p], st[p]);
            return;
        }
    }
    v->rec = REC_NONE;
    snprintf(v->rec_note, sizeof v->rec_note,
             "the server does not record per-pass data (POST %s: HTTP %ld, POST %s: HTTP %ld)",
             start_path[REC_MOECAP], st[REC_MOECAP], start_path[REC_VLLM], st[REC_VLLM]);
}

static void start_recording(bench_state *s)
{
    bench_srv *v = &s->srv;
    bench_srv_run *r = &s->r.srv;
    long st = 0;
    mc_diag q = {{0}};
    if (v->rec == REC_UNKNOWN) {
        detect_and_start(s);
    } else if (v->rec != REC_NONE) {
        if (mc_lg_http_call(v->http, "POST", start_path[v->rec], NULL, CONTROL_MAX_BYTES, &st,
                            &q) != MC_OK)
            snprintf(r->note, sizeof r->note, "could not start recording: %s", q.msg);
        else if (!ok_status(st))
            snprintf(r->note, sizeof r->note, "POST %s: HTTP %ld", start_path[v->rec], st);
        else
            r->recording = 1;
    }
}

/* mc_lg_run_opts.on_measure: the warm-up has drained; the measured phase starts next. The
 * Prometheus snapshot comes first so the recording window is as tight as it can be. */
void bench_srv_window_start(void *state)
{
    bench_state *s = state;
    s->r.srv.have_before = scrape_settled(&s->srv, &s->r.srv.prom_before, &s->r.srv.settled_before);
    start_recording(s);
}

static mc_err save(const bench_state *s, const char *name, const mc_buf *b, mc_diag *d)
{
    char p[4300];
    snprintf(p, sizeof p, "%s/%s", s->r.dir, name);
    return mc_write_file_atomic(p, b->data ? b->data : "", b->len, d);
}

/* The records of the window as JSON Lines in out. */
static mc_err fetch(bench_state *s, mc_buf *out, mc_diag *d)
{
    bench_srv *v = &s->srv;
    long st = 0;
    size_t n = 0;
    int moecap = v->rec == REC_MOECAP;
    mc_err e = mc_lg_http_call(v->http, moecap ? "GET" : "POST",
                               moecap ? "/moecap/records" : "/dump_batch_recording", NULL,
                               (size_t)s->a.max_records, &st, d);
    if (!e && !ok_status(st))
        e = mc_fail(d, MC_ERR_NET, "%s: HTTP %ld",
                    moecap ? "GET /moecap/records" : "POST /dump_batch_recording", st);
    if (e)
        return e;
    const char *body = mc_lg_http_body(v->http, &n);
    if (!moecap)
        return bench_dump_to_jsonl(body, n, out, &s->r.srv.dropped, d);
    const char *dropped = mc_lg_http_header(v->http, "X-Moecap-Dropped");
    uint64_t k = 0;
    s->r.srv.dropped = dropped && mc_parse_u64(dropped, &k) == MC_OK ? (int64_t)k : -1;
    return mc_buf_append(out, body, n) ? mc_fail(d, MC_ERR_NOMEM, "out of memory") : MC_OK;
}

static void stop_and_fetch(bench_state *s)
{
    bench_srv *v = &s->srv;
    bench_srv_run *r = &s->r.srv;
    long st = 0;
    mc_diag q = {{0}};
    mc_buf b;
    mc_buf_init(&b, 0);
    mc_err e =
        mc_lg_http_call(v->http, "POST", stop_path[v->rec], NULL, CONTROL_MAX_BYTES, &st, &q);
    if (e || !ok_status(st))
        snprintf(r->note, sizeof r->note, "could not stop recording: %s",
                 e ? q.msg : "HTTP error from the stop endpoint");
    e = fetch(s, &b, &q);
    if (!e)
        e = save(s, "records.jsonl", &b, &q);
    if (!e)
        e = mc_pass_parse_jsonl(b.data ? b.data : "", b.len, 0, 0, &r->set, &q);
    if (e)
        snprintf(r->note, sizeof r->note, "records: %s", q.msg);
    r->fetched = e == MC_OK;
    r->rec_bytes = b.len;
    mc_buf_deinit(&b);
}

/* After the measured phase (also after an interruption): stop recording, take the second
 * snapshot, fetch and keep the records. Problems become notes in the summary, never failures of
 * the run. */
void bench_srv_window_end(bench_state *s)
{
    bench_srv_run *r = &s->r.srv;
    mc_diag q = {{0}};
    if (r->recording)
        stop_and_fetch(s);
    if (r->have_before) {
        r->have_after = scrape_settled(&s->srv, &r->prom_after, &r->settled_after);
        if (save(s, "metrics-before.prom", &r->prom_before, &q) ||
            (r->have_after && save(s, "metrics-after.prom", &r->prom_after, &q)))
            fprintf(stderr, "moecap bench: %s\n", q.msg);
    }
}

/* ---- from records, or estimated ------------------------------------------------------------ */

/* Records of another device count than --hardware: S-MBU would divide by the wrong peak. */
static void check_devices(bench_state *s)
{
    const bench_srv *v = &s->srv;
    bench_srv_run *r = &s->r.srv;
    for (size_t i = 0; v->have_hw && i < r->set.n; i++) {
        const mc_pass *p = &r->set.v[i];
        if (p->gpu_num > 0 && p->gpu_num != v->dep.count) {
            snprintf(r->warn, sizeof r->warn,
                     "records say gpu_num %d but --hardware gives %d device(s): S-MBU and S-MFU "
                     "divide by %d",
                     p->gpu_num, v->dep.count, v->dep.count);
            return;
        }
    }
}

void bench_srv_compute(bench_state *s)
{
    const bench_srv *v = &s->srv;
    bench_srv_run *r = &s->r.srv;
    mc_diag q = {{0}};
    if (r->fetched && r->set.n > 0 && v->m) {
        /* without --hardware the bytes, FLOPs and activation are still defined; S-MBU/S-MFU
         * are NaN (null in the summary) */
        mc_cap_peak pk = v->have_hw ? v->pk : (mc_cap_peak){.bw_Bps = NAN};
        if (mc_cap_summarise(v->m, &pk, r->set.v, r->set.n, &r->cap, &q) == MC_OK)
            r->have_cap = 1;
        else
            snprintf(r->cap_err, sizeof r->cap_err, "%s", q.msg);
        check_devices(s);
        if (r->cap_err[0])
            fprintf(stderr, "moecap bench: records: %s (no S-MBU/S-MFU)\n", r->cap_err);
    }
    if (!r->fetched && v->m && v->m->n_moe_layers > 0 && s->r.fails[MC_LG_OK] > 0)
        r->have_est = bench_estimate_act(v->m, s->r.t, s->r.nt, &r->est, &q) == MC_OK;
}

/* experts.expected_uniform averaged over the MoE layers, for T tokens in one pass. */
static double expected_act(const mc_model *m, double tokens)
{
    double sum = 0;
    for (int64_t l = 0; l < m->n_layers; l++) {
        const mc_layer *y = &m->layers[l];
        if (y->ffn == MC_FFN_MOE)
            sum += mc_cap_expected_distinct_uniform((double)y->n_experts, (double)y->top_k, tokens);
    }
    return sum / (double)m->n_moe_layers;
}

typedef struct edge {
    double t;
    int step; /* +1: a request starts decoding, -1: it ends */
} edge;

static int cmp_edge(const void *a, const void *b)
{
    const edge *x = a, *y = b;
    return x->t < y->t ? -1 : x->t > y->t ? 1 : x->step - y->step;
}

/* Decode: between a request's first and last token it is in every decode batch, so the batch at
 * time t is the number of requests streaming at t; the expectation is weighted by time (decode
 * steps are about equally long). Prefill: one pass per request of its prompt tokens. */
mc_err bench_estimate_act(const mc_model *m, const mc_req_timing *t, size_t n, bench_est *out,
                          mc_diag *d)
{
    memset(out, 0, sizeof *out);
    out->decode_act = out->decode_batch = out->prefill_act = NAN;
    if (m->n_moe_layers == 0)
        return mc_fail(d, MC_ERR_UNSUPPORTED, "%s has no MoE layers", m->name);
    edge *e = mc_mallocarray(2 * (n ? n : 1), sizeof *e);
    if (!e)
        return mc_fail(d, MC_ERR_NOMEM, "out of memory");
    size_t k = 0;
    double pre = 0;
    for (size_t i = 0; i < n; i++) {
        if (!t[i].ok)
            continue;
        pre += expected_act(m, (double)(t[i].in_tokens > 0 ? t[i].in_tokens : 1));
        out->prefills++;
        if (t[i].first_s >= 0 && t[i].end_s > t[i].first_s) {
            e[k++] = (edge){t[i].first_s, 1};
            e[k++] = (edge){t[i].end_s, -1};
        }
    }
    qsort(e, k, sizeof *e, cmp_edge);
    double act = 0, batch = 0, busy = 0;
    int64_t b = 0;
    for (size_t i = 0; i < k; i++) {
        double dt = i ? e[i].t - e[i - 1].t : 0;
        if (b > 0 && dt > 0) {
            act += expected_act(m, (double)b) * dt;
            batch += (double)b * dt;
            busy += dt;
        }
        b += e[i].step;
    }
    mc_free(e);
    out->prefill_act = out->prefills ? pre / (double)out->prefills : NAN;
    out->decode_time_s = busy;
    out->decode_act = busy > 0 ? act / busy : NAN;
    out->decode_batch = busy > 0 ? batch / busy : NAN;
    return MC_OK;
}

mc_err bench_dump_to_jsonl(const char *json, size_t len, mc_buf *out, int64_t *dropped, mc_diag *d)
{
    cJSON *j = cJSON_ParseWithLength(json, len);
    const cJSON *recs = cJSON_GetObjectItemCaseSensitive(j, "records");
    const cJSON *dr = cJSON_GetObjectItemCaseSensitive(j, "dropped");
    mc_err e = MC_OK;
    *dropped = cJSON_IsNumber(dr) && dr->valuedouble >= 0 ? (int64_t)dr->valuedouble : -1;
    if (!cJSON_IsArray(recs))
        e = mc_fail(d, MC_ERR_FORMAT, "dump_batch_recording: the response has no records array");
    const cJSON *it, *list = e ? NULL : recs;
    cJSON_ArrayForEach(it, list)
    {
        char *line = cJSON_PrintUnformatted(it);
        if (!line || mc_buf_append(out, line, strlen(line)) || mc_buf_append(out, "\n", 1))
            e = mc_fail(d, MC_ERR_NOMEM, "out of memory");
        cJSON_free(line);
        if (e)
            break;
    }
    cJSON_Delete(j);
    return e;
}
