/* http.c: a small libcurl-multi pool for non-streamed JSON requests whose whole response body
 * the caller needs (echo + logprobs for log-likelihood scoring and fidelity). The load
 * generator's client keeps only the generated text of a response (mc_lg_result), so these
 * requests cannot go through it; see docs/EVAL.md section 7. Slots (easy handle, header list,
 * capped body buffer) are made once and reused, so keep-alive connections are reused too.
 * Depends on base, libcurl and the loadgen failure names. */
#include "eval.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

typedef struct slot {
    CURL *h;
    mc_buf resp;
    char *body;
    uint64_t id;
    int busy, too_big;
    mc_ns send_ns;
    char err[CURL_ERROR_SIZE];
} slot;

typedef struct pool {
    const mc_ev_http_opts *o;
    CURLM *m;
    struct curl_slist *hdr;
    slot *s;
    uint32_t n;
    mc_ev_http_done_fn done;
    void *ctx;
} pool;

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud)
{
    slot *s = ud;
    size_t n = size * nmemb;
    if (mc_buf_append(&s->resp, p, n) != MC_OK) {
        s->too_big = 1;
        return 0;
    }
    return n;
}

static mc_err slot_init(pool *p, slot *s, mc_diag *d)
{
    const mc_ev_http_opts *o = p->o;
    mc_buf_init(&s->resp, o->max_body_bytes ? o->max_body_bytes : (size_t)64 << 20);
    s->h = curl_easy_init();
    if (!s->h)
        return mc_fail(d, MC_ERR_NOMEM, "eval: curl_easy_init failed");
    int bad = 0;
    bad |= curl_easy_setopt(s->h, CURLOPT_URL, o->url) != CURLE_OK;
    bad |= curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, p->hdr) != CURLE_OK;
    bad |= curl_easy_setopt(s->h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(s->h, CURLOPT_TCP_NODELAY, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(s->h, CURLOPT_CONNECTTIMEOUT_MS, 10000L) != CURLE_OK;
    bad |= curl_easy_setopt(s->h, CURLOPT_TIMEOUT_MS, (long)(o->timeout_s * 1000)) != CURLE_OK;
    bad |= curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, on_data) != CURLE_OK;
    bad |= curl_easy_setopt(s->h, CURLOPT_WRITEDATA, s) != CURLE_OK;
    bad |= curl_easy_setopt(s->h, CURLOPT_ERRORBUFFER, s->err) != CURLE_OK;
    bad |= curl_easy_setopt(s->h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) != CURLE_OK;
    return bad ? mc_fail(d, MC_ERR_INTERNAL, "eval: curl_easy_setopt failed") : MC_OK;
}

static mc_err pool_open(pool *p, mc_diag *d)
{
    pthread_once(&once, global_init);
    if (global_rc != CURLE_OK)
        return mc_fail(d, MC_ERR_INTERNAL, "eval: curl_global_init failed");
    const mc_ev_http_opts *o = p->o;
    p->n = o->concurrency ? o->concurrency : 8;
    p->m = curl_multi_init();
    p->s = mc_calloc(p->n, sizeof *p->s);
    p->hdr = curl_slist_append(NULL, "Content-Type: application/json");
    struct curl_slist *t = p->hdr ? curl_slist_append(p->hdr, "Expect:") : NULL;
    char auth[600];
    if (t && o->api_key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", o->api_key);
        t = curl_slist_append(p->hdr, auth);
    }
    if (!p->m || !p->s || !t)
        return mc_fail(d, MC_ERR_NOMEM, "out of memory");
    for (uint32_t i = 0; i < p->n; i++) {
        mc_err e = slot_init(p, &p->s[i], d);
        if (e)
            return e;
    }
    return MC_OK;
}

static void pool_close(pool *p)
{
    for (uint32_t i = 0; p->s && i < p->n; i++) {
        if (p->s[i].h) {
            if (p->s[i].busy)
                curl_multi_remove_handle(p->m, p->s[i].h);
            curl_easy_cleanup(p->s[i].h);
        }
        mc_free(p->s[i].body);
        mc_buf_deinit(&p->s[i].resp);
    }
    mc_free(p->s);
    if (p->m)
        curl_multi_cleanup(p->m);
    curl_slist_free_all(p->hdr);
}

static mc_lg_fail fail_of(CURLcode rc, const slot *s)
{
    switch (rc) {
    case CURLE_OK: return MC_LG_OK;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return MC_LG_FAIL_CONNECT;
    case CURLE_OPERATION_TIMEDOUT: return MC_LG_FAIL_TIMEOUT;
    case CURLE_WRITE_ERROR: return s->too_big ? MC_LG_FAIL_MALFORMED : MC_LG_FAIL_OTHER;
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE: return MC_LG_FAIL_TRUNCATED;
    default: return MC_LG_FAIL_OTHER;
    }
}

/* Reports a finished (or cancelled) slot and frees it. */
static void finish(pool *p, slot *s, CURLcode rc, int cancelled)
{
    mc_ev_http_res r = {.id = s->id, .send_ns = s->send_ns, .end_ns = mc_now_ns()};
    char msg[MC_LG_MSG_MAX + 1] = "";
    long status = 0;
    curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
    r.status = (int)status;
    r.body = s->resp.data ? s->resp.data : "";
    r.len = s->resp.len;
    r.fail = cancelled ? MC_LG_FAIL_CANCELLED : fail_of(rc, s);
    if (r.fail == MC_LG_OK && status != 200) {
        r.fail = MC_LG_FAIL_HTTP_STATUS;
        snprintf(msg, sizeof msg, "HTTP %ld: %.*s", status, (int)(r.len < 180 ? r.len : 180),
                 r.body);
    } else if (r.fail == MC_LG_FAIL_MALFORMED) {
        snprintf(msg, sizeof msg, "response body larger than %zu bytes", s->resp.max);
    } else if (r.fail != MC_LG_OK) {
        const char *why = cancelled ? "cancelled" : s->err[0] ? s->err : curl_easy_strerror(rc);
        snprintf(msg, sizeof msg, "%.200s", why);
    }
    r.message = msg;
    curl_multi_remove_handle(p->m, s->h);
    s->busy = 0;
    p->done(&r, p->ctx);
    mc_free(s->body);
    s->body = NULL;
}

static mc_err submit(pool *p, slot *s, uint64_t id, mc_ev_http_body_fn body, mc_diag *d)
{
    size_t len = 0;
    s->body = body(id, &len, p->ctx);
    if (!s->body)
        return mc_fail(d, MC_ERR_NOMEM, "out of memory building request %llu",
                       (unsigned long long)id);
    mc_buf_reset(&s->resp);
    s->too_big = 0;
    s->err[0] = 0;
    s->id = id;
    curl_easy_setopt(s->h, CURLOPT_POSTFIELDS, s->body);
    curl_easy_setopt(s->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    s->send_ns = mc_now_ns();
    if (curl_multi_add_handle(p->m, s->h) != CURLM_OK)
        return mc_fail(d, MC_ERR_INTERNAL, "eval: curl_multi_add_handle failed");
    s->busy = 1;
    return MC_OK;
}

static void reap(pool *p, uint32_t *inflight)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(p->m, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        for (uint32_t i = 0; i < p->n; i++)
            if (p->s[i].busy && p->s[i].h == msg->easy_handle) {
                finish(p, &p->s[i], msg->data.result, 0);
                (*inflight)--;
                break;
            }
    }
}

mc_err mc_ev_http_run(const mc_ev_http_opts *o, uint64_t n, mc_ev_http_body_fn body,
                      mc_ev_http_done_fn done, void *ctx, int *stopped, mc_diag *d)
{
    pool p = {.o = o, .done = done, .ctx = ctx};
    *stopped = 0;
    mc_err e = pool_open(&p, d);
    uint64_t next = 0;
    uint32_t inflight = 0;
    while (!e && (next < n || inflight > 0)) {
        int stop = o->stop && *o->stop;
        for (uint32_t i = 0; !e && !stop && next < n && i < p.n; i++)
            if (!p.s[i].busy && (e = submit(&p, &p.s[i], next, body, d)) == MC_OK) {
                next++;
                inflight++;
            }
        if (stop) {
            for (uint32_t i = 0; i < p.n; i++)
                if (p.s[i].busy)
                    finish(&p, &p.s[i], CURLE_OK, 1);
            *stopped = 1;
            break;
        }
        int running = 0;
        if (!e && curl_multi_perform(p.m, &running) != CURLM_OK)
            e = mc_fail(d, MC_ERR_INTERNAL, "eval: curl_multi_perform failed");
        if (!e)
            reap(&p, &inflight);
        if (!e && inflight > 0 && curl_multi_poll(p.m, NULL, 0, 100, NULL) != CURLM_OK)
            e = mc_fail(d, MC_ERR_INTERNAL, "eval: curl_multi_poll failed");
    }
    pool_close(&p);
    return e;
}
