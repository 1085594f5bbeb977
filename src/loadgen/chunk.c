/* chunk.c: interprets one OpenAI completions / chat-completions JSON object (a streamed chunk or
 * a whole response): text, reasoning, finish_reason, usage, error. Uses cJSON; depends only on
 * base. Knows nothing about transport or timing. */
#include "loadgen.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

static const char *str_member(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int64_t count_member(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > 9.0e15 ||
        floor(v->valuedouble) != v->valuedouble)
        return -1;
    return (int64_t)v->valuedouble;
}

/* choices[0]: "text" (completions) or delta/message {content, reasoning_content|reasoning}. */
static void read_choice(const cJSON *ch, mc_chunk *out)
{
    const char *s = str_member(ch, "text");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(ch, "delta");
    if (!cJSON_IsObject(msg))
        msg = cJSON_GetObjectItemCaseSensitive(ch, "message");
    if (!s && cJSON_IsObject(msg))
        s = str_member(msg, "content");
    if (s) {
        out->text = s;
        out->text_len = strlen(s);
    }
    if (cJSON_IsObject(msg)) {
        const char *r = str_member(msg, "reasoning_content");
        if (!r)
            r = str_member(msg, "reasoning");
        if (r) {
            out->reasoning = r;
            out->reasoning_len = strlen(r);
        }
    }
    out->finish_reason = str_member(ch, "finish_reason");
}

static void read_error(const cJSON *root, mc_chunk *out)
{
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(root, "error");
    if (!err || cJSON_IsNull(err))
        return;
    if (cJSON_IsString(err))
        out->error = err->valuestring;
    else if (cJSON_IsObject(err) && str_member(err, "message"))
        out->error = str_member(err, "message");
    else
        out->error = "error object without a message";
}

mc_err mc_chunk_parse(const char *data, size_t len, mc_chunk *out, mc_diag *d)
{
    memset(out, 0, sizeof *out);
    out->text = "";
    out->reasoning = "";
    out->prompt_tokens = out->completion_tokens = -1;
    cJSON *root = cJSON_ParseWithLength(data, len);
    if (!cJSON_IsObject(root)) {
        char head[41];
        size_t n = len < 40 ? len : 40;
        memcpy(head, data, n);
        head[n] = 0;
        cJSON_Delete(root);
        return mc_fail(d, MC_ERR_FORMAT, "chunk: %s (%zu bytes: \"%s%s\")",
                       root ? "not a JSON object" : "invalid JSON", len, head,
                       len > 40 ? "..." : "");
    }
    out->json_ = root;
    read_error(root, out);
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
    const cJSON *ch = cJSON_IsArray(choices) ? cJSON_GetArrayItem(choices, 0) : NULL;
    if (cJSON_IsObject(ch)) {
        out->has_choices = 1;
        read_choice(ch, out);
    }
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(root, "usage");
    if (cJSON_IsObject(usage)) {
        out->prompt_tokens = count_member(usage, "prompt_tokens");
        out->completion_tokens = count_member(usage, "completion_tokens");
        out->has_usage = out->prompt_tokens >= 0 || out->completion_tokens >= 0;
    }
    return MC_OK;
}

void mc_chunk_deinit(mc_chunk *c)
{
    if (!c)
        return;
    cJSON_Delete(c->json_);
    c->json_ = NULL;
}
