/* endpoints.c: the bodies of the small endpoints: POST /tokenize and /detokenize (llama.cpp's
 * shapes) and GET /v1/models. Pure apart from the read-only tokenizer. Must not depend on
 * libmicrohttpd or the scheduler. */
#include "server_impl.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

static mc_err print(cJSON *o, mc_buf *out, mc_srv_error *err)
{
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    mc_err e = s ? mc_buf_append(out, s, strlen(s)) : MC_ERR_NOMEM;
    cJSON_free(s);
    return e ? mc_srv_fail(err, 500, NULL, NULL, "out of memory formatting the response") : MC_OK;
}

static mc_err opt_bool(const cJSON *o, const char *key, int *v, mc_srv_error *err)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!f || cJSON_IsNull(f))
        return MC_OK;
    if (!cJSON_IsBool(f))
        return mc_srv_fail(err, 400, "invalid_type", key, "'%s' must be a boolean", key);
    *v = cJSON_IsTrue(f);
    return MC_OK;
}

static cJSON *piece_entry(const mc_tok *tok, int32_t id)
{
    const char *p = NULL;
    size_t n = mc_tok_piece(tok, id, MC_TOK_RENDER_SPECIAL, &p);
    mc_buf b;
    mc_buf_init(&b, 0);
    cJSON *e = cJSON_CreateObject();
    int bad = !e || mc_srv_json_str(p ? p : "", n, &b) != MC_OK ||
              !cJSON_AddNumberToObject(e, "id", id) || !cJSON_AddRawToObject(e, "piece", b.data);
    mc_buf_deinit(&b);
    if (bad) {
        cJSON_Delete(e);
        return NULL;
    }
    return e;
}

static mc_err tokens_json(const mc_tok *tok, const mc_tok_ids *ids, int pieces, mc_buf *out,
                          mc_srv_error *err)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *a = o ? cJSON_AddArrayToObject(o, "tokens") : NULL;
    int bad = !a;
    for (size_t i = 0; i < ids->n && !bad; i++) {
        cJSON *v = pieces ? piece_entry(tok, ids->v[i]) : cJSON_CreateNumber(ids->v[i]);
        bad = !v || !cJSON_AddItemToArray(a, v);
    }
    if (bad) {
        cJSON_Delete(o);
        o = NULL;
    }
    return print(o, out, err);
}

mc_err mc_srv_tokenize(const mc_tok *tok, const char *body, size_t len, mc_buf *out,
                       mc_srv_error *err)
{
    cJSON *o = NULL;
    int add_special = 0, parse_special = 1, pieces = 0;
    mc_tok_ids ids;
    mc_tok_ids_init(&ids);
    mc_err e = mc_srv_parse_object(body, len, &o, err);
    const cJSON *c = o ? cJSON_GetObjectItemCaseSensitive(o, "content") : NULL;
    if (!e && !cJSON_IsString(c))
        e = mc_srv_fail(err, 400, "invalid_type", "content", "'content' must be a string");
    if (!e)
        e = opt_bool(o, "add_special", &add_special, err);
    if (!e)
        e = opt_bool(o, "parse_special", &parse_special, err);
    if (!e)
        e = opt_bool(o, "with_pieces", &pieces, err);
    unsigned flags =
        (add_special ? 0 : MC_TOK_NO_BOS_EOS) | (parse_special ? MC_TOK_PARSE_SPECIAL : 0);
    mc_diag d = {{0}};
    mc_err te = e ? MC_OK
                  : mc_tok_encode(tok, NULL, c->valuestring, strlen(c->valuestring), flags, &ids, &d);
    if (te == MC_ERR_NOMEM)
        e = mc_srv_fail(err, 500, NULL, NULL, "out of memory tokenizing");
    else if (te)
        e = mc_srv_fail(err, 400, "invalid_value", "content", "cannot tokenize: %s", d.msg);
    if (!e)
        e = tokens_json(tok, &ids, pieces, out, err);
    mc_tok_ids_deinit(&ids);
    cJSON_Delete(o);
    return e;
}

static mc_err decode_array(const mc_tok *tok, int64_t vocab, const cJSON *a, mc_buf *text,
                           mc_srv_error *err)
{
    if (!cJSON_IsArray(a))
        return mc_srv_fail(err, 400, "invalid_type", "tokens", "'tokens' must be an array of ids");
    int n = cJSON_GetArraySize(a);
    int32_t *ids = mc_mallocarray(n > 0 ? (size_t)n : 1, sizeof *ids);
    if (!ids)
        return mc_srv_fail(err, 500, NULL, NULL, "out of memory");
    mc_err e = MC_OK;
    int i = 0;
    for (const cJSON *v = a->child; v && !e; v = v->next, i++) {
        double x = v->valuedouble;
        if (!cJSON_IsNumber(v) || x != floor(x) || x < 0 || x >= (double)vocab)
            e = mc_srv_fail(err, 400, "invalid_value", "tokens",
                            "'tokens'[%d] is not a token id in [0, %lld)", i, (long long)vocab);
        else
            ids[i] = (int32_t)x;
    }
    /* all at once: only the text's first piece loses the space the encoder put in front */
    if (!e && mc_tok_decode(tok, ids, (size_t)n, 0, text, NULL) != MC_OK)
        e = mc_srv_fail(err, 500, NULL, NULL, "out of memory decoding");
    mc_free(ids);
    return e;
}

mc_err mc_srv_detokenize(const mc_tok *tok, int64_t vocab, const char *body, size_t len,
                         mc_buf *out, mc_srv_error *err)
{
    cJSON *o = NULL, *res = NULL;
    mc_buf text, clean;
    mc_buf_init(&text, 0);
    mc_buf_init(&clean, 0);
    mc_err e = mc_srv_parse_object(body, len, &o, err);
    if (!e)
        e = decode_array(tok, vocab, cJSON_GetObjectItemCaseSensitive(o, "tokens"), &text, err);
    if (!e && mc_srv_json_str(text.data ? text.data : "", text.len, &clean) != MC_OK)
        e = mc_srv_fail(err, 500, NULL, NULL, "out of memory");
    if (!e) {
        res = cJSON_CreateObject();
        if (res && !cJSON_AddRawToObject(res, "content", clean.data)) {
            cJSON_Delete(res);
            res = NULL;
        }
        e = print(res, out, err);
    }
    cJSON_Delete(o);
    mc_buf_deinit(&text);
    mc_buf_deinit(&clean);
    return e;
}

mc_err mc_srv_models_json(const char *model_id, int64_t n_ctx, int64_t created_s, mc_buf *out)
{
    cJSON *o = cJSON_CreateObject();
    int bad = !o || !cJSON_AddStringToObject(o, "object", "list");
    cJSON *a = bad ? NULL : cJSON_AddArrayToObject(o, "data");
    cJSON *m = cJSON_CreateObject();
    if (!a || !m || !cJSON_AddItemToArray(a, m)) {
        cJSON_Delete(m);
        cJSON_Delete(o);
        return MC_ERR_NOMEM;
    }
    bad = !cJSON_AddStringToObject(m, "id", model_id) ||
          !cJSON_AddStringToObject(m, "object", "model") ||
          !cJSON_AddNumberToObject(m, "created", (double)created_s) ||
          !cJSON_AddStringToObject(m, "owned_by", "moecap") ||
          !cJSON_AddNumberToObject(m, "max_model_len", (double)n_ctx);
    if (bad) {
        cJSON_Delete(o);
        return MC_ERR_NOMEM;
    }
    mc_srv_error err;
    return print(o, out, &err) ? MC_ERR_NOMEM : MC_OK;
}
