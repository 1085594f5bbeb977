/* backend_engine.c: the embedded engine (src/engine) as the server's backend: opens it, reads the
 * chat template from the GGUF metadata and names the model after its file. The only server file
 * that calls the engine's functions. */
#include "gguf.h"
#include "server.h"

#include <string.h>

typedef struct eng_backend {
    mc_srv_backend b;
    mc_engine *e;
    char *model_id;
    char *tmpl;
} eng_backend;

/* "dir/name.gguf" -> "name" */
static char *model_name(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 5 && strcmp(base + n - 5, ".gguf") == 0)
        n -= 5;
    return mc_strndup(base, n);
}

/* tokenizer.chat_template, or NULL when absent or unreadable (the fallback format applies). */
static char *chat_template(const char *path)
{
    mc_gguf *g = NULL;
    char *t = NULL;
    if (mc_gguf_open(path, &g, NULL) == MC_OK)
        mc_gguf_get_str_copy(g, "tokenizer.chat_template", &t, NULL);
    mc_gguf_free(g);
    return t;
}

void mc_srv_backend_engine_close(mc_srv_backend *b)
{
    eng_backend *eb = (eng_backend *)b;
    if (!eb)
        return;
    mc_engine_free(eb->e);
    mc_free(eb->model_id);
    mc_free(eb->tmpl);
    mc_free(eb);
}

static mc_err be_step(void *ctx, const mc_batch_item *items, int n, mc_diag *d)
{
    return mc_engine_step(ctx, items, n, d);
}

static const mc_pass *be_last_pass(void *ctx)
{
    return mc_engine_last_pass(ctx);
}
static void be_seq_reset(void *ctx, int seq)
{
    mc_engine_seq_reset(ctx, seq);
}

static int32_t be_sample(void *ctx, float *logits, const mc_sampler *s, mc_rng *rng)
{
    return mc_engine_sample(ctx, logits, s, rng);
}

static const mc_srv_backend_ops engine_ops = {be_step,   be_last_pass, be_seq_reset,
                                              be_sample, mc_logprob,   mc_top_logprobs};

mc_err mc_srv_backend_engine_open(const mc_engine_opts *eo, mc_srv_backend **out, mc_diag *d)
{
    *out = NULL;
    mc_engine_opts o = *eo;
    o.max_seqs = o.max_seqs > 0 ? o.max_seqs : 1;
    o.max_step_tokens = o.max_step_tokens > 0 ? o.max_step_tokens : 512;
    if (o.max_step_tokens < o.max_seqs)
        return mc_fail(d, MC_ERR_ARG,
                       "the step budget (%lld tokens) must be at least --parallel (%d)",
                       (long long)o.max_step_tokens, o.max_seqs);
    eng_backend *eb = mc_calloc(1, sizeof *eb);
    if (!eb)
        return mc_fail(d, MC_ERR_NOMEM, "engine backend: out of memory");
    mc_err e = mc_engine_open(&o, &eb->e, d);
    if (!e && !mc_engine_tok(eb->e)) /* the server reads and writes text */
        e = mc_fail(d, MC_ERR_UNSUPPORTED, "%s: no usable tokenizer: %s", o.model_path,
                    mc_engine_tok_error(eb->e) ? mc_engine_tok_error(eb->e) : "absent");
    if (!e && !(eb->model_id = model_name(o.model_path)))
        e = mc_fail(d, MC_ERR_NOMEM, "engine backend: out of memory");
    if (e) {
        mc_srv_backend_engine_close(&eb->b);
        return e;
    }
    eb->tmpl = chat_template(o.model_path);
    const mc_model *m = mc_engine_model(eb->e);
    eb->b = (mc_srv_backend){&engine_ops,
                             eb->e,
                             mc_engine_tok(eb->e),
                             mc_engine_vocab(eb->e),
                             mc_engine_n_ctx(eb->e),
                             mc_engine_max_seqs(eb->e),
                             o.max_step_tokens,
                             eb->model_id,
                             eb->tmpl,
                             m ? m->n_moe_layers : 0,
                             mc_engine_isa(eb->e)};
    *out = &eb->b;
    return MC_OK;
}
