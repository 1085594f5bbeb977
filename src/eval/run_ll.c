/* run_ll.c: multiple choice by log-likelihood, as lm-evaluation-harness scores HellaSwag, ARC
 * and MMLU: for every choice one /v1/completions request with echo + logprobs on context +
 * continuation; the continuation's summed token log-probabilities give acc (argmax) and
 * acc_norm (argmax per byte of the continuation). The first request is sent alone to check
 * that the server returns prompt log-probabilities at all. Depends on base, data, this
 * module's http pool and echo parser. */
#include "eval_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct ll_run {
    mc_ev *ev;
    size_t *first;         /* [n + 1] first request of item k */
    double *ll;            /* per request */
    size_t *bytes, *ntok;  /* per request: continuation bytes, tokens */
    uint32_t *left;        /* per item: choices not answered yet */
    mc_lg_fail *fail;      /* per item: first failure */
    char **err;            /* per item: its message (heap) */
    unsigned char *cancel; /* per item */
    mc_ev_prompt *prompt;  /* per item, alive while its requests are in flight */
    size_t *shots;
    size_t last_k; /* item of the last body built (requests go out in order) */
} ll_run;

static size_t item_of(const ll_run *s, uint64_t id)
{
    size_t lo = 0, hi = s->ev->n; /* first[lo] <= id < first[hi] */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (s->first[mid] <= id)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

static char *joined(const mc_ev_prompt *p, size_t c, size_t *len)
{
    size_t a = strlen(p->context), b = strlen(p->conts[c]);
    char *t = mc_malloc(a + b + 1);
    if (t) {
        memcpy(t, p->context, a);
        memcpy(t + a, p->conts[c], b + 1);
        *len = a + b;
    }
    return t;
}

static char *ll_body(uint64_t id, size_t *len, void *ctx)
{
    ll_run *s = ctx;
    size_t k = item_of(s, id), c = (size_t)(id - s->first[k]);
    mc_diag d = {{0}};
    if (!s->prompt[k].context && ev_prompt(s->ev, k, &s->prompt[k], &s->shots[k], &d) != MC_OK)
        return NULL;
    s->last_k = k;
    size_t n = 0;
    char *text = joined(&s->prompt[k], c, &n);
    s->bytes[id] = strlen(s->prompt[k].conts[c]);
    char *body = text ? mc_ev_body_echo(s->ev->o.model, text, n, 1, s->ev->o.ll_max_tokens) : NULL;
    mc_free(text);
    *len = body ? strlen(body) : 0;
    return body;
}

static void item_fail(ll_run *s, size_t k, mc_lg_fail f, const char *msg)
{
    if (s->err[k])
        return;
    s->fail[k] = f;
    s->err[k] = mc_strdup(msg && *msg ? msg : mc_lg_fail_name(f));
    if (!s->err[k])
        ev_cb_fail(s->ev, MC_ERR_NOMEM, "out of memory");
}

static void finalize(ll_run *s, size_t k)
{
    const mc_ds_item *it = ev_item(s->ev, k);
    size_t f = s->first[k];
    char *ctx = s->prompt[k].context ? mc_strdup(s->prompt[k].context) : NULL;
    char letter[2] = {0, 0};
    mc_ev_result r = {.index = s->ev->items[k],
                      .item = it,
                      .prompt = ctx ? ctx : "",
                      .gold = it->answer,
                      .scored = 1,
                      .official = NAN,
                      .error = "",
                      .shots = s->shots[k],
                      .n_choices = it->n_choices,
                      .ll = s->ll + f,
                      .cont_bytes = s->bytes + f,
                      .cont_tokens = s->ntok + f,
                      .pred = -1,
                      .pred_norm = -1,
                      .ttft_s = NAN,
                      .e2e_s = NAN,
                      .in_tokens = -1,
                      .out_tokens = -1,
                      .finish_reason = "",
                      .rule = "loglik"};
    if (s->err[k]) {
        r.failed = 1;
        r.fail = s->fail[k];
        r.error = s->err[k];
    } else {
        r.pred = mc_ev_ll_choose(s->ll + f, s->bytes + f, it->n_choices, &r.pred_norm);
        r.correct = r.pred == it->gold;
        r.correct_norm = r.pred_norm == it->gold;
        letter[0] = mc_ds_letter((size_t)r.pred);
        r.extracted = letter;
    }
    r.score = r.correct;
    r.em = r.correct;
    if (!s->cancel[k])
        ev_emit(s->ev, &r);
    mc_free(ctx);
    mc_ev_prompt_deinit(&s->prompt[k]);
    mc_free(s->err[k]);
    s->err[k] = NULL;
}

static void ll_done(const mc_ev_http_res *res, void *ctx)
{
    ll_run *s = ctx;
    mc_ev *ev = s->ev;
    size_t k = item_of(s, res->id), c = (size_t)(res->id - s->first[k]);
    mc_req_timing t = {.start_s = mc_ns_to_s(res->send_ns - ev->origin),
                       .first_s = -1,
                       .end_s = mc_ns_to_s(res->end_ns - ev->origin),
                       .ok = res->fail == MC_LG_OK};
    ev_timing(ev, &t);
    s->ll[res->id] = NAN;
    if (res->fail == MC_LG_FAIL_CANCELLED) {
        s->cancel[k] = 1;
        ev->stopped = 1;
    } else if (res->fail != MC_LG_OK) {
        item_fail(s, k, res->fail, res->message);
    } else {
        size_t n = 0;
        char *text = joined(&s->prompt[k], c, &n);
        mc_ev_echo e;
        mc_diag d = {{0}};
        mc_err er = text ? mc_ev_echo_parse(res->body, res->len, text, n, &e, &d)
                         : mc_fail(&d, MC_ERR_NOMEM, "out of memory");
        if (!er) {
            er = mc_ev_echo_span(&e, strlen(s->prompt[k].context), &s->ll[res->id],
                                 &s->ntok[res->id], &d);
            mc_ev_echo_deinit(&e);
        }
        mc_free(text);
        if (er)
            item_fail(s, k, MC_LG_FAIL_MALFORMED, d.msg);
    }
    if (--s->left[k] == 0)
        finalize(s, k);
}

/* ---- the probe: one request alone -------------------------------------------------------- */

typedef struct probe {
    char *text; /* context + first continuation of the first item */
    size_t len, ctx_len;
    const char *model;
    int max_tokens;
    mc_err e;
    mc_diag d;
} probe;

static char *probe_body(uint64_t id, size_t *len, void *ctx)
{
    probe *p = ctx;
    (void)id;
    char *b = mc_ev_body_echo(p->model, p->text, p->len, 1, p->max_tokens);
    *len = b ? strlen(b) : 0;
    return b;
}

static void probe_done(const mc_ev_http_res *res, void *ctx)
{
    probe *p = ctx;
    if (res->fail != MC_LG_OK) {
        p->e = mc_fail(&p->d, MC_ERR_NET, "%s: %s", mc_lg_fail_name(res->fail), res->message);
        return;
    }
    mc_ev_echo e;
    double sum;
    size_t nt;
    p->e = mc_ev_echo_parse(res->body, res->len, p->text, p->len, &e, &p->d);
    if (!p->e) {
        p->e = mc_ev_echo_span(&e, p->ctx_len, &sum, &nt, &p->d);
        mc_ev_echo_deinit(&e);
    }
}

mc_err ev_probe_loglik(mc_ev *ev, mc_diag *d)
{
    mc_ev_prompt pr;
    mc_err e = ev_prompt(ev, 0, &pr, NULL, d);
    if (e)
        return e;
    probe p = {
        .model = ev->o.model, .max_tokens = ev->o.ll_max_tokens, .ctx_len = strlen(pr.context)};
    p.text = joined(&pr, 0, &p.len);
    mc_ev_prompt_deinit(&pr);
    if (!p.text)
        return mc_fail(d, MC_ERR_NOMEM, "out of memory");
    mc_ev_http_opts ho = {.url = ev->ll_url,
                          .api_key = ev->o.api_key,
                          .concurrency = 1,
                          .timeout_s = ev->o.timeout_s > 0 ? ev->o.timeout_s : 600,
                          .stop = ev->o.stop};
    int stopped = 0;
    e = mc_ev_http_run(&ho, 1, probe_body, probe_done, &p, &stopped, d);
    mc_free(p.text);
    if (!e && p.e)
        e = mc_fail(d, MC_ERR_NET,
                    "log-likelihood scoring needs prompt log-probabilities (echo + logprobs on "
                    "%s): %s",
                    ev->ll_url, p.d.msg);
    return e;
}

/* ---- the run --------------------------------------------------------------------------------- */

static mc_err ll_alloc(ll_run *s, mc_diag *d)
{
    size_t n = s->ev->n;
    s->first = mc_calloc(n + 1, sizeof *s->first);
    if (!s->first)
        return mc_fail(d, MC_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < n; k++)
        s->first[k + 1] = s->first[k] + ev_item(s->ev, k)->n_choices;
    size_t total = s->first[n];
    s->ll = mc_calloc(total, sizeof *s->ll);
    s->bytes = mc_calloc(total, sizeof *s->bytes);
    s->ntok = mc_calloc(total, sizeof *s->ntok);
    s->left = mc_calloc(n, sizeof *s->left);
    s->fail = mc_calloc(n, sizeof *s->fail);
    s->err = mc_calloc(n, sizeof *s->err);
    s->cancel = mc_calloc(n, 1);
    s->prompt = mc_calloc(n, sizeof *s->prompt);
    s->shots = mc_calloc(n, sizeof *s->shots);
    if (!s->ll || !s->bytes || !s->ntok || !s->left || !s->fail || !s->err || !s->cancel ||
        !s->prompt || !s->shots)
        return mc_fail(d, MC_ERR_NOMEM, "out of memory for %zu requests", total);
    for (size_t k = 0; k < n; k++)
        s->left[k] = (uint32_t)(s->first[k + 1] - s->first[k]);
    return MC_OK;
}

static void ll_free(ll_run *s)
{
    for (size_t k = 0; s->prompt && k < s->ev->n; k++) {
        mc_ev_prompt_deinit(&s->prompt[k]);
        if (s->err)
            mc_free(s->err[k]);
    }
    mc_free(s->first);
    mc_free(s->ll);
    mc_free(s->bytes);
    mc_free(s->ntok);
    mc_free(s->left);
    mc_free(s->fail);
    mc_free(s->err);
    mc_free(s->cancel);
    mc_free(s->prompt);
    mc_free(s->shots);
}

mc_err ev_run_loglik(mc_ev *ev, mc_diag *d)
{
    ll_run s = {.ev = ev};
    mc_ev_http_opts ho = {.url = ev->ll_url,
                          .api_key = ev->o.api_key,
                          .concurrency = ev->o.concurrency ? ev->o.concurrency : 8,
                          .timeout_s = ev->o.timeout_s > 0 ? ev->o.timeout_s : 600,
                          .stop = ev->o.stop};
    mc_err e = ll_alloc(&s, d);
    int stopped = 0;
    ev->origin = mc_now_ns();
    if (!e)
        e = mc_ev_http_run(&ho, s.first[ev->n], ll_body, ll_done, &s, &stopped, d);
    ev->stopped |= stopped;
    ll_free(&s);
    return e;
}
