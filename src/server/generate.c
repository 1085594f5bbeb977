/* generate.c: generated tokens -> response text. Each token is decoded with the tokenizer's
 * streaming decoder (complete UTF-8 sequences only), checked for EOS, stop strings and
 * max_tokens, and the text that can no longer turn into a stop string becomes one streaming
 * event. Pure apart from the read-only tokenizer: the caller holds the request's lock. Must not
 * depend on libmicrohttpd or the scheduler. */
#include "server_impl.h"

#include <string.h>

/* Generated text continues the prompt: a leading space of the first piece is kept. */
void mc_srv_gen_init(mc_srv_gen *g)
{
    mc_tok_stream_init(&g->dec, MC_TOK_KEEP_LEADING_SPACE);
    mc_buf_init(&g->pending, 0);
    g->decoded = 0;
}

void mc_srv_gen_deinit(mc_srv_gen *g)
{
    mc_buf_deinit(&g->pending);
}

void mc_srv_gen_reset(mc_srv_gen *g)
{
    mc_tok_stream_init(&g->dec, MC_TOK_KEEP_LEADING_SPACE);
    mc_buf_reset(&g->pending);
    g->decoded = 0;
}

static int fail(mc_srv_req *r, const char *what)
{
    mc_srv_error e;
    mc_srv_fail(&e, 500, NULL, NULL, "generation failed: %s", what);
    r->err = e;
    r->finished = 1;
    r->finish_reason = "error";
    return -1;
}

/* Moves pending[0..n) to the response text as one event; drops pending[n..drop) too. */
static int emit(mc_srv_gen *g, mc_srv_req *r, size_t n, size_t drop)
{
    if (n > 0) {
        if (mc_buf_append(&r->text, g->pending.data, n) != MC_OK)
            return fail(r, "the generated text exceeds its size limit");
        r->ev[r->n_ev++] = (mc_srv_event){r->text.len, r->n_out};
    }
    memmove(g->pending.data, g->pending.data + drop, g->pending.len - drop);
    g->pending.len -= drop;
    g->pending.data[g->pending.len] = 0;
    return 0;
}

static int finish(mc_srv_req *r, const char *reason)
{
    r->finished = 1;
    r->finish_reason = reason;
    return 1;
}

int mc_srv_gen_push(mc_srv_gen *g, const mc_tok *tok, mc_srv_req *r, int32_t id)
{
    int64_t k = r->n_out;
    r->ids[k] = id;
    r->offs[k] = g->decoded;
    r->n_out = k + 1;
    int eog = !r->p.ignore_eos && mc_tok_is_eog(tok, id);
    const char *reason = eog ? "stop" : r->n_out >= r->max_tokens ? "length" : NULL;
    size_t before = g->pending.len;
    if (mc_buf_append(&g->pending, "", 0) != MC_OK)
        return fail(r, "out of memory");
    if (!eog && mc_tok_stream_feed(tok, &g->dec, id, &g->pending, NULL) != MC_OK)
        return fail(r, "cannot decode a token");
    if (reason && mc_tok_stream_flush(&g->dec, &g->pending, NULL) != MC_OK)
        return fail(r, "out of memory");
    g->decoded += (int64_t)(g->pending.len - before);
    size_t n = g->pending.len;
    int matched = r->p.n_stop &&
                  mc_srv_stop_scan(r->p.stop, r->p.n_stop, g->pending.data, g->pending.len, &n);
    if (matched) /* the stop string and what follows it are not output */
        return emit(g, r, n, g->pending.len) ? -1 : finish(r, "stop");
    if (reason)
        n = g->pending.len;
    if (emit(g, r, n, n))
        return -1;
    return reason ? finish(r, reason) : 0;
}
