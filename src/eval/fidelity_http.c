/* fidelity_http.c: fidelity of two OpenAI-compatible servers: every sequence is sent to both as
 * a /v1/completions echo request with top-N log-probabilities; the returned prompt tokens must
 * be the same on both sides (same tokenizer), then each position's two top-N lists go to the
 * accumulator (fidelity.c). Sequences go out in batches of `concurrency` until enough
 * positions are scored. Depends on base and this module's http pool and echo parser. */
#include "eval.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct side {
    const mc_fid_texts *t;
    size_t first; /* first sequence of the batch */
    const char *model;
    int top_n;
    mc_ev_echo *echo; /* [batch] */
    mc_err err;
    mc_diag diag;
} side;

static char *fid_body(uint64_t id, size_t *len, void *ctx)
{
    side *s = ctx;
    const char *text = s->t->seg[s->first + id];
    char *b = mc_ev_body_echo(s->model, text, strlen(text), s->top_n, 1);
    *len = b ? strlen(b) : 0;
    return b;
}

static void fid_done(const mc_ev_http_res *r, void *ctx)
{
    side *s = ctx;
    if (s->err)
        return;
    const char *text = s->t->seg[s->first + r->id];
    if (r->fail != MC_LG_OK) {
        s->err =
            mc_fail(&s->diag, MC_ERR_NET, "sequence %llu: %s: %s",
                    (unsigned long long)(s->first + r->id), mc_lg_fail_name(r->fail), r->message);
        return;
    }
    mc_diag d = {{0}};
    if (mc_ev_echo_parse(r->body, r->len, text, strlen(text), &s->echo[r->id], &d) != MC_OK)
        s->err = mc_fail(&s->diag, MC_ERR_NET, "sequence %llu: %s",
                         (unsigned long long)(s->first + r->id), d.msg);
}

static mc_err run_side(const mc_fid_opts *o, const char *url, side *s, size_t n, mc_diag *d)
{
    char *ep = NULL;
    mc_err e = mc_lg_url_endpoint(url, MC_LG_COMPLETIONS, &ep, d);
    mc_ev_http_opts ho = {.url = ep,
                          .api_key = o->api_key,
                          .concurrency = o->concurrency ? o->concurrency : 4,
                          .timeout_s = o->timeout_s > 0 ? o->timeout_s : 600,
                          .stop = o->stop};
    int stopped = 0;
    if (!e)
        e = mc_ev_http_run(&ho, n, fid_body, fid_done, s, &stopped, d);
    if (!e && s->err)
        e = mc_fail(d, s->err, "%s: %s", url, s->diag.msg);
    if (!e && stopped)
        e = mc_fail(d, MC_ERR_ARG, "interrupted");
    mc_free(ep);
    return e;
}

/* Checks that both sides returned the same tokens and accumulates positions 1..n-1. */
static mc_err compare(const mc_fid_opts *o, size_t seq, const mc_ev_echo *a, const mc_ev_echo *b,
                      mc_fid *f, mc_diag *d)
{
    if (a->n != b->n)
        return mc_fail(d, MC_ERR_FORMAT,
                       "sequence %zu: %zu tokens from the reference, %zu from the candidate: "
                       "fidelity needs the same tokenizer on both sides",
                       seq, a->n, b->n);
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->tok[i], b->tok[i]) != 0)
            return mc_fail(d, MC_ERR_FORMAT,
                           "sequence %zu, token %zu: '%.40s' vs '%.40s': fidelity needs the same "
                           "tokenizer on both sides",
                           seq, i, a->tok[i], b->tok[i]);
    for (size_t i = 1; i < a->n && (!o->max_tokens || f->n < o->max_tokens); i++) {
        if (!a->top[i] || !b->top[i] || a->n_top[i] == 0 || b->n_top[i] == 0)
            return mc_fail(d, MC_ERR_FORMAT,
                           "sequence %zu, token %zu: no top log-probabilities (the server ignored "
                           "logprobs=%d?)",
                           seq, i, o->top_n);
        mc_fid_add_top(f, a->top[i], a->n_top[i], b->top[i], b->n_top[i], a->lp[i], b->lp[i]);
    }
    return MC_OK;
}

static void free_echoes(mc_ev_echo *e, size_t n)
{
    for (size_t i = 0; e && i < n; i++)
        mc_ev_echo_deinit(&e[i]);
    mc_free(e);
}

mc_err mc_fid_run_http(const mc_fid_opts *o, const mc_fid_texts *t, mc_fid *f, mc_diag *d)
{
    size_t batch = o->concurrency ? o->concurrency : 4;
    mc_err e = MC_OK;
    for (size_t first = 0; !e && first < t->n && (!o->max_tokens || f->n < o->max_tokens);
         first += batch) {
        size_t n = t->n - first < batch ? t->n - first : batch;
        side a = {.t = t, .first = first, .model = o->ref_model, .top_n = o->top_n};
        side b = {.t = t, .first = first, .model = o->cand_model, .top_n = o->top_n};
        a.echo = mc_calloc(n, sizeof *a.echo);
        b.echo = mc_calloc(n, sizeof *b.echo);
        if (!a.echo || !b.echo)
            e = mc_fail(d, MC_ERR_NOMEM, "out of memory");
        if (!e)
            e = run_side(o, o->ref, &a, n, d);
        if (!e)
            e = run_side(o, o->cand, &b, n, d);
        for (size_t i = 0; !e && i < n; i++)
            e = compare(o, first + i, &a.echo[i], &b.echo[i], f, d);
        free_echoes(a.echo, n);
        free_echoes(b.echo, n);
    }
    return e;
}
