/* request.c: the request object shared by the HTTP thread (which creates it and sends its output)
 * and the scheduler (which fills it). Reference-counted; the output arrays are sized for
 * max_tokens at creation, so generating a token never allocates except for the growing text.
 * Must not depend on libmicrohttpd or the scheduler. */
#include "server_impl.h"

#include <math.h>
#include <string.h>

#define TEXT_MAX_BYTES ((size_t)16 << 20) /* generated text of one request */

static void *arr(size_t n, size_t size, int *ok)
{
    if (n == 0)
        return NULL;
    void *p = mc_calloc(n, size);
    *ok &= p != NULL;
    return p;
}

static int alloc_outputs(mc_srv_req *r)
{
    int ok = 1;
    size_t n = (size_t)r->max_tokens, np = (size_t)r->n_prompt, k = (size_t)r->n_top;
    r->ids = arr(n, sizeof *r->ids, &ok);
    r->offs = arr(n, sizeof *r->offs, &ok);
    r->ev = arr(n + 1, sizeof *r->ev, &ok);
    if (r->p.logprobs) {
        r->lps = arr(n, sizeof *r->lps, &ok);
        r->top_ids = arr(n * k, sizeof *r->top_ids, &ok);
        r->top_lps = arr(n * k, sizeof *r->top_lps, &ok);
    }
    if (r->echo_logprobs) {
        r->p_lps = arr(np, sizeof *r->p_lps, &ok);
        r->p_top_ids = arr(np * k, sizeof *r->p_top_ids, &ok);
        r->p_top_lps = arr(np * k, sizeof *r->p_top_lps, &ok);
        for (size_t i = 0; ok && i < np; i++)
            r->p_lps[i] = NAN;
    }
    return ok;
}

static void req_free(mc_srv_req *r)
{
    mc_srv_params_deinit(&r->p);
    mc_free(r->prompt);
    mc_buf_deinit(&r->echo);
    mc_buf_deinit(&r->text);
    mc_free(r->ids);
    mc_free(r->lps);
    mc_free(r->top_ids);
    mc_free(r->top_lps);
    mc_free(r->offs);
    mc_free(r->p_lps);
    mc_free(r->p_top_ids);
    mc_free(r->p_top_lps);
    mc_free(r->ev);
    pthread_mutex_destroy(&r->mu);
    mc_free(r);
}

mc_srv_req *mc_srv_req_new(mc_srv_params *p, int32_t *prompt, int64_t n_prompt, int64_t max_tokens)
{
    mc_srv_req *r = mc_calloc(1, sizeof *r);
    if (!r || pthread_mutex_init(&r->mu, NULL) != 0) {
        mc_free(r);
        mc_srv_params_deinit(p);
        mc_free(prompt);
        return NULL;
    }
    r->p = *p;
    mc_srv_params_init(p);
    r->prompt = prompt;
    r->n_prompt = n_prompt;
    r->max_tokens = max_tokens;
    r->n_top = r->p.logprobs ? r->p.top_logprobs : 0;
    r->echo_logprobs = r->p.echo && r->p.logprobs;
    atomic_init(&r->refs, 1);
    atomic_init(&r->cancelled, 0);
    mc_buf_init(&r->text, TEXT_MAX_BYTES);
    mc_buf_init(&r->echo, 0);
    if (!alloc_outputs(r) || mc_buf_append(&r->text, "", 0) != MC_OK) {
        req_free(r);
        return NULL;
    }
    return r;
}

void mc_srv_req_ref(mc_srv_req *r)
{
    atomic_fetch_add(&r->refs, 1);
}

void mc_srv_req_unref(mc_srv_req *r)
{
    if (r && atomic_fetch_sub(&r->refs, 1) == 1)
        req_free(r);
}

mc_err mc_srv_req_set_echo(mc_srv_req *r, const mc_tok *tok)
{
    mc_buf_reset(&r->echo);
    if (r->p.prompt)
        return mc_buf_append(&r->echo, r->p.prompt, r->p.prompt_len);
    mc_err e = mc_tok_decode(tok, r->prompt, (size_t)r->n_prompt, 0, &r->echo, NULL);
    return e ? e : mc_buf_append(&r->echo, "", 0);
}

void mc_srv_req_fail_locked(mc_srv_req *r, const mc_srv_error *e)
{
    if (r->finished)
        return;
    r->err = *e;
    r->finished = 1;
    r->finish_reason = "error";
    if (r->wake)
        r->wake(r);
}
