/* fidelity_engine.c: fidelity of two GGUF models in-process with moecap's engine: each sequence
 * is tokenised once (both models must tokenise it identically), fed to both engines in prefill
 * chunks with MC_LOGITS_ALL, and every position's full next-token distributions go to the
 * accumulator (fidelity.c), so the KL divergence is exact (no top-N truncation).
 * Compiled against src/engine/engine.h; the build defines MC_HAVE_ENGINE only when the engine's
 * implementation is in the tree (src/engine/engine.c), otherwise mc_fid_run_engine reports that
 * this build has no engine. Depends on base, engine (and its tokenizer). */
#include "eval.h"

#if defined(MC_HAVE_ENGINE) && MC_HAVE_ENGINE

#include "engine.h"
#include "tokenizer.h"

#include <string.h>

int mc_fid_have_engine(void)
{
    return 1;
}

typedef struct pair {
    mc_engine *e[2];
    float *logits[2]; /* [chunk x vocab] */
    int64_t vocab, n_ctx, chunk;
} pair;

static mc_err open_pair(const mc_fid_opts *o, pair *p, mc_diag *d)
{
    const char *path[2] = {o->ref, o->cand};
    for (int k = 0; k < 2; k++) {
        mc_engine_opts eo;
        mc_engine_opts_default(&eo);
        eo.model_path = path[k];
        eo.n_threads = o->threads;
        eo.max_seqs = 1;
        mc_err e = mc_engine_open(&eo, &p->e[k], d);
        if (e) {
            mc_diag_prefix(d, "%s", path[k]);
            return e;
        }
    }
    p->vocab = mc_engine_vocab(p->e[0]);
    if (mc_engine_vocab(p->e[1]) != p->vocab)
        return mc_fail(d, MC_ERR_FORMAT, "vocabularies differ (%lld vs %lld tokens)",
                       (long long)p->vocab, (long long)mc_engine_vocab(p->e[1]));
    int64_t c0 = mc_engine_n_ctx(p->e[0]), c1 = mc_engine_n_ctx(p->e[1]);
    p->n_ctx = c0 < c1 ? c0 : c1;
    p->chunk = 128;
    for (int k = 0; k < 2; k++)
        if (!(p->logits[k] = mc_mallocarray((size_t)(p->chunk * p->vocab), sizeof(float))))
            return mc_fail(d, MC_ERR_NOMEM, "out of memory for %lld x %lld logits",
                           (long long)p->chunk, (long long)p->vocab);
    return MC_OK;
}

static void close_pair(pair *p)
{
    for (int k = 0; k < 2; k++) {
        mc_engine_free(p->e[k]);
        mc_free(p->logits[k]);
    }
}

/* The sequence's tokens by both tokenizers, which must agree. */
static mc_err tokens_of(const pair *p, const char *text, size_t seq, mc_tok_ids *ids, mc_diag *d)
{
    mc_tok_ids other;
    mc_tok_ids_init(&other);
    mc_err e = mc_tok_encode(mc_engine_tok(p->e[0]), NULL, text, strlen(text), 0, ids, d);
    if (!e)
        e = mc_tok_encode(mc_engine_tok(p->e[1]), NULL, text, strlen(text), 0, &other, d);
    if (!e && (other.n != ids->n || memcmp(other.v, ids->v, ids->n * sizeof *ids->v) != 0))
        e = mc_fail(d, MC_ERR_FORMAT,
                    "sequence %zu: the two models tokenise it differently: fidelity needs the "
                    "same tokenizer",
                    seq);
    mc_tok_ids_deinit(&other);
    return e;
}

/* Feeds tokens[0..n) to both engines and accumulates positions 0..n-2 (each predicts the next
 * token). */
static mc_err run_seq(const mc_fid_opts *o, pair *p, const int32_t *tok, int64_t n, mc_fid *f,
                      mc_diag *d)
{
    for (int k = 0; k < 2; k++)
        mc_engine_seq_reset(p->e[k], 0);
    for (int64_t at = 0; at < n; at += p->chunk) {
        int64_t m = n - at < p->chunk ? n - at : p->chunk;
        for (int k = 0; k < 2; k++) {
            mc_batch_item it = {.seq = 0,
                                .tokens = tok + at,
                                .n_tokens = m,
                                .logits = MC_LOGITS_ALL,
                                .logits_out = p->logits[k]};
            mc_err e = mc_engine_step(p->e[k], &it, 1, d);
            if (e)
                return e;
        }
        for (int64_t i = 0; i < m && at + i + 1 < n; i++) {
            if (o->max_tokens && f->n >= o->max_tokens)
                return MC_OK;
            mc_fid_add_logits(f, p->logits[0] + i * p->vocab, p->logits[1] + i * p->vocab, p->vocab,
                              tok[at + i + 1]);
        }
    }
    return MC_OK;
}

mc_err mc_fid_run_engine(const mc_fid_opts *o, const mc_fid_texts *t, mc_fid *f, mc_diag *d)
{
    pair p;
    memset(&p, 0, sizeof p);
    mc_err e = open_pair(o, &p, d);
    mc_tok_ids ids;
    mc_tok_ids_init(&ids);
    for (size_t s = 0; !e && s < t->n && (!o->max_tokens || f->n < o->max_tokens); s++) {
        if (o->stop && *o->stop)
            e = mc_fail(d, MC_ERR_ARG, "interrupted");
        ids.n = 0;
        if (!e)
            e = tokens_of(&p, t->seg[s], s, &ids, d);
        int64_t n = (int64_t)ids.n < p.n_ctx ? (int64_t)ids.n : p.n_ctx;
        if (!e && n >= 2)
            e = run_seq(o, &p, ids.v, n, f, d);
    }
    mc_tok_ids_deinit(&ids);
    close_pair(&p);
    return e;
}

#else /* no engine in this tree */

int mc_fid_have_engine(void)
{
    return 0;
}

mc_err mc_fid_run_engine(const mc_fid_opts *o, const mc_fid_texts *t, mc_fid *f, mc_diag *d)
{
    (void)o;
    (void)t;
    (void)f;
    return mc_fail(d, MC_ERR_UNSUPPORTED,
                   "this build has no inference engine (src/engine/engine.c is not in the tree): "
                   "compare GGUF models through servers (--reference URL --candidate URL)");
}

#endif
