/* prepare.c: a validated request -> prompt tokens and the effective max_tokens: chat rendering,
 * tokenization, token ids against the vocabulary, and the context limit. Pure apart from the
 * tokenizer (read-only, shareable). Must not depend on libmicrohttpd or the scheduler. */
#include "server_impl.h"

#include <string.h>

/* NUL-terminated copy of a special token's text ("" when absent). */
static char *special_text(const mc_tok *t, int32_t id)
{
    size_t len = 0;
    const char *s = id >= 0 ? mc_tok_text(t, id, &len) : NULL;
    return mc_strndup(s ? s : "", s ? len : 0);
}

static mc_err render_chat(const mc_srv_params *p, const mc_srv_model_info *mi, mc_buf *text,
                          mc_srv_error *err)
{
    mc_chat_specials sp = {special_text(mi->tok, mc_tok_bos(mi->tok)),
                           special_text(mi->tok, mc_tok_eos(mi->tok)), mc_tok_adds_bos(mi->tok)};
    mc_err e = MC_ERR_NOMEM;
    if (sp.bos && sp.eos)
        e = mc_chat_render(mi->chat, &sp, p->msgs, p->n_msgs, text, NULL);
    mc_free((char *)sp.bos);
    mc_free((char *)sp.eos);
    return e ? mc_srv_fail(err, 500, NULL, NULL, "out of memory rendering the chat") : MC_OK;
}

size_t mc_srv_max_piece_bytes(const mc_tok *t)
{
    size_t max = 4;
    for (int32_t id = 0; id < mc_tok_n_tokens(t); id++) {
        const char *p = NULL;
        size_t stored = 0, decoded = mc_tok_piece(t, id, MC_TOK_RENDER_SPECIAL, &p);
        mc_tok_text(t, id, &stored);
        max = decoded > max ? decoded : max;
        max = stored > max ? stored : max;
    }
    return max;
}

/* Tokenizing megabytes takes the HTTP thread a while: a text that cannot fit is refused first
 * (with a margin of 4: the bound is about bytes, the context about tokens). */
static mc_err too_long(const mc_srv_params *p, const mc_srv_model_info *mi, size_t bytes,
                       mc_srv_error *err)
{
    if (mi->max_piece_bytes == 0 || bytes / (4 * mi->max_piece_bytes) < (size_t)mi->n_ctx)
        return MC_OK;
    return mc_srv_fail(err, 400, "context_length_exceeded",
                       p->kind == MC_SRV_CHAT ? "messages" : "prompt",
                       "the prompt (%zu bytes) is far longer than this model's maximum context "
                       "length of %lld tokens",
                       bytes, (long long)mi->n_ctx);
}

static mc_err tokenize(const mc_srv_params *p, const mc_srv_model_info *mi, mc_tok_ids *ids,
                       mc_srv_error *err)
{
    mc_buf text;
    mc_buf_init(&text, 0);
    unsigned flags = MC_TOK_PARSE_SPECIAL;
    const char *s = p->prompt;
    size_t n = p->prompt_len;
    mc_err e = MC_OK;
    if (p->kind == MC_SRV_CHAT) {
        e = render_chat(p, mi, &text, err);
        flags |= MC_TOK_NO_BOS_EOS; /* the template places BOS itself */
        s = text.data;
        n = text.len;
    }
    mc_diag d = {{0}};
    if (!e)
        e = too_long(p, mi, n, err);
    size_t n0 = ids->n;
    mc_err te = e ? MC_OK : mc_tok_encode(mi->tok, NULL, s ? s : "", n, flags, ids, &d);
    if (te == MC_ERR_NOMEM)
        e = mc_srv_fail(err, 500, NULL, NULL, "out of memory tokenizing the prompt");
    else if (te)
        e = mc_srv_fail(err, 400, "invalid_value", p->kind == MC_SRV_CHAT ? "messages" : "prompt",
                        "cannot tokenize the prompt: %s", d.msg);
    /* a tokenizer with more entries than the model's vocabulary (padded GGUFs) must not hand
     * the engine an id it refuses: that would fail the whole batch */
    for (size_t i = n0; !e && i < ids->n; i++)
        if (ids->v[i] >= mi->vocab)
            e = mc_srv_fail(err, 400, "invalid_value", NULL,
                            "the prompt's token %d is outside the model's vocabulary (%lld)",
                            (int)ids->v[i], (long long)mi->vocab);
    mc_buf_deinit(&text);
    return e;
}

static mc_err copy_ids(const mc_srv_params *p, const mc_srv_model_info *mi, mc_tok_ids *ids,
                       mc_srv_error *err)
{
    for (size_t i = 0; i < p->n_prompt_ids; i++) {
        if (p->prompt_ids[i] >= mi->vocab)
            return mc_srv_fail(err, 400, "invalid_value", "prompt",
                               "token id %d (item %zu) is out of the vocabulary (%lld tokens)",
                               (int)p->prompt_ids[i], i, (long long)mi->vocab);
        if (ids->n == ids->cap) {
            size_t ncap = ids->cap ? ids->cap * 2 : 64;
            int32_t *nv = mc_reallocarray(ids->v, ncap, sizeof *nv);
            if (!nv)
                return mc_srv_fail(err, 500, NULL, NULL, "out of memory");
            ids->v = nv;
            ids->cap = ncap;
        }
        ids->v[ids->n++] = p->prompt_ids[i];
    }
    return MC_OK;
}

static mc_err check_context(const mc_srv_params *p, const mc_srv_model_info *mi, int64_t n,
                            int64_t *max_tokens, mc_srv_error *err)
{
    const char *param = p->kind == MC_SRV_CHAT ? "messages" : "prompt";
    if (n == 0)
        return mc_srv_fail(err, 400, "invalid_value", param, "the prompt is empty (0 tokens)");
    if (n >= mi->n_ctx)
        return mc_srv_fail(err, 400, "context_length_exceeded", param,
                           "this model's maximum context length is %lld tokens, the prompt has "
                           "%lld tokens (at least one must be left for the completion)",
                           (long long)mi->n_ctx, (long long)n);
    int64_t room = mi->n_ctx - n;
    if (p->max_tokens > room)
        return mc_srv_fail(err, 400, "context_length_exceeded", "max_tokens",
                           "this model's maximum context length is %lld tokens, you requested "
                           "%lld tokens (%lld in the prompt, %lld for the completion)",
                           (long long)mi->n_ctx, (long long)(n + p->max_tokens), (long long)n,
                           (long long)p->max_tokens);
    if (mi->max_tokens > 0 && p->max_tokens > mi->max_tokens)
        return mc_srv_fail(err, 400, "invalid_value", "max_tokens",
                           "'max_tokens' must be at most %lld on this server, got %lld",
                           (long long)mi->max_tokens, (long long)p->max_tokens);
    if (mi->max_tokens > 0 && room > mi->max_tokens)
        room = mi->max_tokens; /* the default of a request without max_tokens obeys the cap */
    if (p->max_tokens > 0)
        *max_tokens = p->max_tokens;
    else if (p->kind == MC_SRV_COMPLETION)
        *max_tokens = room < MC_SRV_DEFAULT_MAX_TOKENS ? room : MC_SRV_DEFAULT_MAX_TOKENS;
    else
        *max_tokens = room;
    return MC_OK;
}

mc_err mc_srv_prepare(const mc_srv_params *p, const mc_srv_model_info *mi, mc_tok_ids *ids,
                      int64_t *max_tokens, mc_srv_error *err)
{
    size_t n0 = ids->n;
    mc_err e = p->prompt_ids ? copy_ids(p, mi, ids, err) : tokenize(p, mi, ids, err);
    if (!e)
        e = check_context(p, mi, (int64_t)(ids->n - n0), max_tokens, err);
    if (e)
        ids->n = n0;
    return e;
}
