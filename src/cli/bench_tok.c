/* bench_tok.c: a local tokenizer (any GGUF with tokenizer.ggml.* keys, loaded by
 * src/engine/tokenizer) as the prompt token counter of `moecap bench`, for servers without a
 * /tokenize endpoint. The count is what the model sees: the vocabulary's own BOS/EOS rule
 * applies (as in the server's prompt_tokens), special-token texts in a prompt stay plain text.
 * Depends on the engine's tokenizer and base; it never talks to the server. */
#include "bench_int.h"
#include "tokenizer.h"

struct bench_ltok {
    mc_tok *tok;
    mc_tok_scratch *scratch;
    mc_tok_ids ids;
};

void bench_ltok_free(bench_ltok *t)
{
    if (!t)
        return;
    mc_tok_free(t->tok);
    mc_tok_scratch_free(t->scratch);
    mc_tok_ids_deinit(&t->ids);
    mc_free(t);
}

mc_err bench_ltok_open(const char *path, bench_ltok **out, mc_diag *d)
{
    *out = NULL;
    bench_ltok *t = mc_calloc(1, sizeof *t);
    if (!t)
        return mc_fail(d, MC_ERR_NOMEM, "out of memory");
    mc_tok_ids_init(&t->ids);
    mc_err e = mc_tok_load(path, &t->tok, d);
    if (e)
        mc_diag_prefix(d, "--tokenizer");
    if (!e && !(t->scratch = mc_tok_scratch_new()))
        e = mc_fail(d, MC_ERR_NOMEM, "out of memory");
    if (e) {
        bench_ltok_free(t);
        return e;
    }
    *out = t;
    return MC_OK;
}

mc_err bench_ltok_count(void *ltok, const char *text, size_t len, int64_t *n_tokens, mc_diag *d)
{
    bench_ltok *t = ltok;
    t->ids.n = 0;
    mc_err e = mc_tok_encode(t->tok, t->scratch, text, len, 0, &t->ids, d);
    if (e)
        return e;
    *n_tokens = (int64_t)t->ids.n;
    return MC_OK;
}

const char *bench_ltok_kind(const bench_ltok *t)
{
    return mc_tok_model_name(t->tok);
}
