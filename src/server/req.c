/* req.c: request bodies of /v1/completions and /v1/chat/completions -> mc_srv_params. Every
 * rejection is a 400 naming the parameter ("'max_tokens' must be at least 1"); unknown fields
 * are ignored; docs/SERVER.md lists the fields. Pure: no tokenizer, no threads, no I/O. Must not
 * depend on libmicrohttpd or the scheduler. */
#include "server_impl.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#define MAX_INT_JSON 9007199254740992.0 /* 2^53 */

void mc_srv_params_init(mc_srv_params *p)
{
    memset(p, 0, sizeof *p);
    p->samp.temperature = 1.0f; /* OpenAI's defaults */
    p->samp.top_p = 1.0f;
}

void mc_srv_params_deinit(mc_srv_params *p)
{
    for (size_t i = 0; i < p->n_stop; i++)
        mc_free(p->stop[i]);
    mc_free(p->prompt);
    mc_free(p->prompt_ids);
    for (size_t i = 0; i < p->n_msgs; i++)
        mc_free(p->msgs[i].content);
    mc_free(p->msgs);
    mc_srv_params_init(p);
}

/* ---- typed fields: JSON null counts as absent ---- */

static const cJSON *field(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return (v && !cJSON_IsNull(v)) ? v : NULL;
}

static mc_err bad(mc_srv_error *err, const char *param, const char *what)
{
    return mc_srv_fail(err, 400, "invalid_type", param, "'%s' must be %s", param, what);
}

static mc_err get_bool(const cJSON *o, const char *key, int *out, mc_srv_error *err)
{
    const cJSON *v = field(o, key);
    if (!v)
        return MC_OK;
    if (!cJSON_IsBool(v))
        return bad(err, key, "a boolean");
    *out = cJSON_IsTrue(v);
    return MC_OK;
}

/* An integral number in [lo, hi]; *seen = 1 when present. */
static mc_err get_int(const cJSON *o, const char *key, double lo, double hi, int64_t *out,
                      int *seen, mc_srv_error *err)
{
    const cJSON *v = field(o, key);
    *seen = v != NULL;
    if (!v)
        return MC_OK;
    double x = v->valuedouble;
    if (!cJSON_IsNumber(v) || x != floor(x) || fabs(x) > MAX_INT_JSON)
        return bad(err, key, "an integer");
    if (x < lo || x > hi)
        return mc_srv_fail(err, 400, "invalid_value", key, "'%s' must be in [%.0f, %.0f], got %.0f",
                           key, lo, hi, x);
    *out = (int64_t)x;
    return MC_OK;
}

static mc_err get_num(const cJSON *o, const char *key, double lo, double hi, double *out,
                      mc_srv_error *err)
{
    const cJSON *v = field(o, key);
    if (!v)
        return MC_OK;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return bad(err, key, "a number");
    if (v->valuedouble < lo || v->valuedouble > hi)
        return mc_srv_fail(err, 400, "invalid_value", key, "'%s' must be in [%g, %g], got %g", key,
                           lo, hi, v->valuedouble);
    *out = v->valuedouble;
    return MC_OK;
}

/* ---- sampling and output options ---- */

static mc_err parse_sampling(const cJSON *o, mc_srv_params *p, mc_srv_error *err)
{
    double temp = p->samp.temperature, top_p = p->samp.top_p;
    int64_t top_k = 0, seed = 0, n = 1;
    int seen;
    mc_err e = get_num(o, "temperature", 0, 1e6, &temp, err);
    if (!e)
        e = get_num(o, "top_p", 0, 1, &top_p, err);
    if (!e && top_p <= 0)
        e = mc_srv_fail(err, 400, "invalid_value", "top_p", "'top_p' must be in (0, 1]");
    if (!e)
        e = get_int(o, "top_k", -1, 2147483647.0, &top_k, &seen, err);
    if (!e)
        e = get_int(o, "seed", -MAX_INT_JSON, MAX_INT_JSON, &seed, &p->seed_given, err);
    if (!e)
        e = get_int(o, "n", 1, 1, &n, &seen, err);
    if (!e)
        e = get_int(o, "best_of", 1, 1, &n, &seen, err);
    if (e)
        return e;
    p->samp.temperature = (float)temp;
    p->samp.top_p = (float)top_p;
    p->samp.top_k = top_k < 0 ? 0 : (int)top_k;
    p->samp.seed = (uint64_t)seed;
    return MC_OK;
}

/* Known OpenAI parameters moecap does not implement: accepted only at their neutral value. */
static mc_err parse_unsupported(const cJSON *o, mc_srv_error *err)
{
    static const char *zero[] = {"presence_penalty", "frequency_penalty"};
    for (size_t i = 0; i < 2; i++) {
        double v = 0;
        mc_err e = get_num(o, zero[i], -2, 2, &v, err);
        if (e)
            return e;
        if (v != 0)
            return mc_srv_fail(err, 400, "unsupported_parameter", zero[i],
                               "'%s' is not supported (only 0)", zero[i]);
    }
    const cJSON *lb = field(o, "logit_bias");
    if (lb && (!cJSON_IsObject(lb) || lb->child))
        return mc_srv_fail(err, 400, "unsupported_parameter", "logit_bias",
                           "'logit_bias' is not supported (only {})");
    return MC_OK;
}

static mc_err add_stop(mc_srv_params *p, const cJSON *s, mc_srv_error *err)
{
    if (!cJSON_IsString(s))
        return bad(err, "stop", "a string or an array of strings");
    size_t len = strlen(s->valuestring);
    if (len == 0 || len > MC_SRV_MAX_STOP_BYTES)
        return mc_srv_fail(err, 400, "invalid_value", "stop",
                           "'stop' strings must have 1 to %d bytes", MC_SRV_MAX_STOP_BYTES);
    if (p->n_stop == MC_SRV_MAX_STOP)
        return mc_srv_fail(err, 400, "invalid_value", "stop", "at most %d 'stop' strings",
                           MC_SRV_MAX_STOP);
    if (!(p->stop[p->n_stop] = mc_strdup(s->valuestring)))
        return mc_srv_fail(err, 500, NULL, NULL, "out of memory");
    p->n_stop++;
    return MC_OK;
}

static mc_err parse_stop(const cJSON *o, mc_srv_params *p, mc_srv_error *err)
{
    const cJSON *v = field(o, "stop");
    if (!v)
        return MC_OK;
    if (!cJSON_IsArray(v))
        return add_stop(p, v, err);
    for (const cJSON *s = v->child; s; s = s->next) {
        mc_err e = add_stop(p, s, err);
        if (e)
            return e;
    }
    return MC_OK;
}

/* completions: logprobs = N (0..20): the chosen token's log-probability and N alternatives.
 * chat: logprobs = true/false, top_logprobs = N. */
static mc_err parse_logprobs(const cJSON *o, mc_srv_params *p, mc_srv_error *err)
{
    int64_t n = 0;
    int seen = 0;
    if (p->kind == MC_SRV_COMPLETION) {
        mc_err e = get_int(o, "logprobs", 0, MC_SRV_MAX_TOP_LOGPROBS, &n, &seen, err);
        p->logprobs = seen;
        p->top_logprobs = (int)n;
        return e;
    }
    mc_err e = get_bool(o, "logprobs", &p->logprobs, err);
    if (!e)
        e = get_int(o, "top_logprobs", 0, MC_SRV_MAX_TOP_LOGPROBS, &n, &seen, err);
    if (!e && seen && n > 0 && !p->logprobs)
        e = mc_srv_fail(err, 400, "invalid_value", "top_logprobs",
                        "'top_logprobs' needs 'logprobs': true");
    p->top_logprobs = (int)n;
    return e;
}

static mc_err parse_stream(const cJSON *o, mc_srv_params *p, mc_srv_error *err)
{
    mc_err e = get_bool(o, "stream", &p->stream, err);
    const cJSON *so = field(o, "stream_options");
    if (e || !so)
        return e;
    if (!cJSON_IsObject(so))
        return bad(err, "stream_options", "an object");
    if (!p->stream)
        return mc_srv_fail(err, 400, "invalid_value", "stream_options",
                           "'stream_options' needs 'stream': true");
    const cJSON *iu = field(so, "include_usage");
    if (iu && !cJSON_IsBool(iu))
        return bad(err, "stream_options.include_usage", "a boolean");
    p->include_usage = iu && cJSON_IsTrue(iu);
    return MC_OK;
}

static mc_err parse_limits(const cJSON *o, mc_srv_params *p, mc_srv_error *err)
{
    static const char *keys[] = {"max_tokens", "max_completion_tokens"};
    for (int i = 0; i < (p->kind == MC_SRV_CHAT ? 2 : 1); i++) {
        int64_t v = 0;
        int seen;
        const cJSON *f = field(o, keys[i]);
        if (f && cJSON_IsNumber(f) && f->valuedouble < 1)
            return mc_srv_fail(err, 400, "invalid_value", keys[i], "'%s' must be at least 1",
                               keys[i]);
        mc_err e = get_int(o, keys[i], 1, 2147483647.0, &v, &seen, err);
        if (e)
            return e;
        if (seen)
            p->max_tokens = v; /* max_completion_tokens wins over max_tokens */
    }
    return get_bool(o, "ignore_eos", &p->ignore_eos, err);
}

static mc_err parse_common(const cJSON *o, mc_srv_params *p, mc_srv_error *err)
{
    const cJSON *model = field(o, "model");
    if (model && !cJSON_IsString(model))
        return bad(err, "model", "a string");
    mc_err e = parse_stream(o, p, err);
    if (!e)
        e = parse_limits(o, p, err);
    if (!e)
        e = parse_sampling(o, p, err);
    if (!e)
        e = parse_unsupported(o, err);
    if (!e)
        e = parse_stop(o, p, err);
    if (!e)
        e = parse_logprobs(o, p, err);
    if (!e && p->kind == MC_SRV_COMPLETION)
        e = get_bool(o, "echo", &p->echo, err);
    return e;
}

/* ---- prompt (completions) ---- */

static mc_err take_ids(const cJSON *a, mc_srv_params *p, mc_srv_error *err)
{
    int n = cJSON_GetArraySize(a);
    if (n == 0)
        return mc_srv_fail(err, 400, "invalid_value", "prompt", "'prompt' is empty");
    p->prompt_ids = mc_mallocarray((size_t)n, sizeof *p->prompt_ids);
    if (!p->prompt_ids)
        return mc_srv_fail(err, 500, NULL, NULL, "out of memory");
    for (const cJSON *v = a->child; v; v = v->next) {
        double x = v->valuedouble;
        if (!cJSON_IsNumber(v) || x != floor(x) || x < 0 || x > 2147483647.0)
            return mc_srv_fail(err, 400, "invalid_type", "prompt",
                               "'prompt' token arrays must hold integers >= 0 (item %zu)",
                               p->n_prompt_ids);
        p->prompt_ids[p->n_prompt_ids++] = (int32_t)x;
    }
    return MC_OK;
}

static mc_err take_text(const cJSON *s, mc_srv_params *p, mc_srv_error *err)
{
    p->prompt_len = strlen(s->valuestring);
    if (!(p->prompt = mc_strdup(s->valuestring)))
        return mc_srv_fail(err, 500, NULL, NULL, "out of memory");
    return MC_OK;
}

static mc_err parse_prompt(const cJSON *o, mc_srv_params *p, mc_srv_error *err)
{
    const cJSON *v = field(o, "prompt");
    if (!v)
        return mc_srv_fail(err, 400, "missing_parameter", "prompt", "'prompt' is required");
    if (cJSON_IsString(v))
        return take_text(v, p, err);
    if (!cJSON_IsArray(v))
        return bad(err, "prompt", "a string, an array of token ids, or a one-item array of those");
    const cJSON *first = v->child;
    if (!first || cJSON_IsNumber(first))
        return take_ids(v, p, err);
    if (cJSON_GetArraySize(v) != 1)
        return mc_srv_fail(err, 400, "invalid_value", "prompt",
                           "one prompt per request is supported (got %d)", cJSON_GetArraySize(v));
    if (cJSON_IsString(first))
        return take_text(first, p, err);
    if (cJSON_IsArray(first))
        return take_ids(first, p, err);
    return bad(err, "prompt", "a string, an array of token ids, or a one-item array of those");
}

/* ---- messages (chat) ---- */

static mc_err role_of(const cJSON *m, size_t i, mc_chat_role *out, mc_srv_error *err)
{
    static const struct {
        const char *name;
        mc_chat_role role;
    } roles[] = {{"system", MC_ROLE_SYSTEM},
                 {"developer", MC_ROLE_SYSTEM},
                 {"user", MC_ROLE_USER},
                 {"assistant", MC_ROLE_ASSISTANT}};
    const cJSON *r = field(m, "role");
    if (!r || !cJSON_IsString(r))
        return mc_srv_fail(err, 400, "invalid_type", "messages",
                           "messages[%zu].role must be a string", i);
    for (size_t k = 0; k < sizeof roles / sizeof roles[0]; k++)
        if (strcmp(r->valuestring, roles[k].name) == 0) {
            *out = roles[k].role;
            return MC_OK;
        }
    return mc_srv_fail(err, 400, "invalid_value", "messages",
                       "messages[%zu].role '%.40s' is not supported (system, developer, user, "
                       "assistant)",
                       i, r->valuestring);
}

/* content: a string, null (assistant only), or an array of {"type":"text","text":...} parts
 * (joined with "\n"). */
static mc_err content_of(const cJSON *m, size_t i, mc_chat_role role, mc_buf *b, mc_srv_error *err)
{
    const cJSON *c = field(m, "content");
    if (!c && role == MC_ROLE_ASSISTANT)
        return mc_buf_append(b, "", 0) ? mc_srv_fail(err, 500, NULL, NULL, "out of memory") : MC_OK;
    if (c && cJSON_IsString(c))
        return mc_buf_append(b, c->valuestring, strlen(c->valuestring))
                   ? mc_srv_fail(err, 500, NULL, NULL, "out of memory")
                   : MC_OK;
    if (!c || !cJSON_IsArray(c))
        return mc_srv_fail(err, 400, "invalid_type", "messages",
                           "messages[%zu].content must be a string or an array of text parts", i);
    size_t k = 0;
    for (const cJSON *part = c->child; part; part = part->next, k++) {
        const cJSON *type = field(part, "type"), *text = field(part, "text");
        if (!type || !cJSON_IsString(type) || strcmp(type->valuestring, "text") != 0 || !text ||
            !cJSON_IsString(text))
            return mc_srv_fail(err, 400, "invalid_value", "messages",
                               "messages[%zu].content[%zu] must be {\"type\": \"text\", \"text\": "
                               "string} (only text is supported)",
                               i, k);
        if ((k > 0 && mc_buf_append(b, "\n", 1)) ||
            mc_buf_append(b, text->valuestring, strlen(text->valuestring)))
            return mc_srv_fail(err, 500, NULL, NULL, "out of memory");
    }
    return mc_buf_append(b, "", 0) ? mc_srv_fail(err, 500, NULL, NULL, "out of memory") : MC_OK;
}

static mc_err parse_messages(const cJSON *o, mc_srv_params *p, mc_srv_error *err)
{
    const cJSON *a = field(o, "messages");
    if (!a)
        return mc_srv_fail(err, 400, "missing_parameter", "messages", "'messages' is required");
    int n = cJSON_GetArraySize(a);
    if (!cJSON_IsArray(a) || n < 1 || n > MC_SRV_MAX_MESSAGES)
        return mc_srv_fail(err, 400, "invalid_value", "messages",
                           "'messages' must be an array of 1 to %d messages", MC_SRV_MAX_MESSAGES);
    if (!(p->msgs = mc_calloc((size_t)n, sizeof *p->msgs)))
        return mc_srv_fail(err, 500, NULL, NULL, "out of memory");
    for (const cJSON *m = a->child; m; m = m->next) {
        size_t i = p->n_msgs;
        if (!cJSON_IsObject(m))
            return mc_srv_fail(err, 400, "invalid_type", "messages",
                               "messages[%zu] must be an object", i);
        mc_chat_role role = MC_ROLE_USER;
        mc_buf b;
        mc_buf_init(&b, 0);
        mc_err e = role_of(m, i, &role, err);
        if (!e)
            e = content_of(m, i, role, &b, err);
        if (e) {
            mc_buf_deinit(&b);
            return e;
        }
        p->msgs[i] = (mc_chat_msg){role, b.data};
        p->n_msgs++;
    }
    return MC_OK;
}

/* ---- entry ---- */

/* A \u0000 escape would silently cut a string short in cJSON: refuse it. */
static int has_nul_escape(const char *s, size_t n)
{
    for (size_t i = 0; i + 6 <= n; i++) {
        if (s[i] != '\\')
            continue;
        if (memcmp(s + i + 1, "u0000", 5) == 0)
            return 1;
        i++; /* skip the escaped character (an escaped backslash included) */
    }
    return 0;
}

mc_err mc_srv_parse_object(const char *body, size_t len, cJSON **out, mc_srv_error *err)
{
    size_t ok = mc_srv_utf8_valid_len(body, len);
    if (ok != len)
        return mc_srv_fail(err, 400, "invalid_utf8", NULL,
                           "request body is not valid UTF-8 (byte %zu)", ok + 1);
    if (memchr(body, 0, len) || has_nul_escape(body, len))
        return mc_srv_fail(err, 400, "invalid_value", NULL,
                           "request body contains a NUL character");
    const char *end = NULL;
    uint64_t f0 = mc_alloc_failures();
    cJSON *o = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!o && mc_alloc_failures() != f0) /* cJSON says NULL for both: not the client's fault */
        return mc_srv_fail(err, 500, NULL, NULL, "out of memory parsing the request body");
    if (!o)
        return mc_srv_fail(err, 400, "invalid_json", NULL, "invalid JSON near byte %zu",
                           (size_t)((end ? end : body) - body) + 1);
    for (const char *q = end; q < body + len; q++)
        if (*q != ' ' && *q != '\t' && *q != '\r' && *q != '\n') {
            cJSON_Delete(o);
            return mc_srv_fail(err, 400, "invalid_json", NULL,
                               "text after the JSON object at byte %zu", (size_t)(q - body) + 1);
        }
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return mc_srv_fail(err, 400, "invalid_json", NULL, "request body must be a JSON object");
    }
    *out = o;
    return MC_OK;
}

mc_err mc_srv_parse_request(mc_srv_kind kind, const char *body, size_t len, mc_srv_params *out,
                            mc_srv_error *err)
{
    cJSON *o = NULL;
    mc_srv_params_init(out);
    out->kind = kind;
    mc_err e = mc_srv_parse_object(body, len, &o, err);
    if (!e)
        e = parse_common(o, out, err);
    if (!e)
        e = kind == MC_SRV_CHAT ? parse_messages(o, out, err) : parse_prompt(o, out, err);
    cJSON_Delete(o);
    if (e)
        mc_srv_params_deinit(out);
    return e;
}
