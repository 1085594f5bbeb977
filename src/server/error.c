/* error.c: OpenAI-style error bodies and the UTF-8 checks every request body and every piece of
 * generated text goes through before it reaches JSON. Pure: no threads, no I/O. Must not depend
 * on libmicrohttpd or the scheduler. */
#include "server_impl.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

mc_err mc_srv_fail(mc_srv_error *e, int status, const char *code, const char *param,
                   const char *fmt, ...)
{
    va_list ap;
    e->status = status;
    e->type = status >= 500 ? "server_error" : "invalid_request_error";
    if (status == 404)
        e->type = "not_found_error";
    e->code = code;
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return status >= 500 ? MC_ERR_INTERNAL : MC_ERR_ARG;
}

mc_err mc_srv_format_error(const mc_srv_error *e, mc_buf *out)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *o = root ? cJSON_AddObjectToObject(root, "error") : NULL;
    mc_buf msg;
    mc_buf_init(&msg, 0);
    /* the message may quote request bytes: keep the JSON valid UTF-8 */
    int bad = !o || mc_srv_utf8_sanitize(e->message, strlen(e->message), &msg) != MC_OK;
    if (!bad) {
        bad |= !cJSON_AddStringToObject(o, "message", msg.data ? msg.data : "");
        bad |= !cJSON_AddStringToObject(o, "type", e->type ? e->type : "server_error");
        bad |= !(e->param[0] ? cJSON_AddStringToObject(o, "param", e->param)
                             : cJSON_AddNullToObject(o, "param"));
        bad |= !(e->code ? cJSON_AddStringToObject(o, "code", e->code)
                         : cJSON_AddNullToObject(o, "code"));
    }
    char *s = bad ? NULL : cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    mc_buf_deinit(&msg);
    if (!s)
        return MC_ERR_NOMEM;
    mc_err err = mc_buf_append(out, s, strlen(s));
    cJSON_free(s);
    return err;
}

/* ---- UTF-8 ---- */

/* Length of the valid sequence at s[0..n), or 0 when it is invalid or incomplete. */
static size_t seq_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    if (len == 0 || c > 0xF4 || len > n)
        return 0;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c == 0xE0)
        lo = 0xA0; /* overlong */
    else if (c == 0xED)
        hi = 0x9F; /* surrogates */
    else if (c == 0xF0)
        lo = 0x90; /* overlong */
    else if (c == 0xF4)
        hi = 0x8F; /* above U+10FFFF */
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

size_t mc_srv_utf8_valid_len(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t l = seq_len(u + i, n - i);
        if (l == 0)
            return i;
        i += l;
    }
    return n;
}

mc_err mc_srv_utf8_sanitize(const char *s, size_t n, mc_buf *out)
{
    size_t i = 0;
    while (i < n) {
        size_t good = mc_srv_utf8_valid_len(s + i, n - i);
        mc_err e = mc_buf_append(out, s + i, good);
        if (e)
            return e;
        i += good;
        if (i < n) {
            if ((e = mc_buf_append(out, "\xEF\xBF\xBD", 3)) != MC_OK)
                return e;
            i++;
        }
    }
    if (!out->data) /* keep data non-NULL for callers that print it */
        return mc_buf_append(out, "", 0);
    return MC_OK;
}

static mc_err escape_byte(unsigned char c, mc_buf *out)
{
    static const char hex[] = "0123456789abcdef";
    const char *short_esc = c == '"'    ? "\\\""
                            : c == '\\' ? "\\\\"
                            : c == '\n' ? "\\n"
                            : c == '\r' ? "\\r"
                            : c == '\t' ? "\\t"
                                        : NULL;
    if (short_esc)
        return mc_buf_append(out, short_esc, 2);
    char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
    return mc_buf_append(out, u, 6);
}

mc_err mc_srv_json_str(const char *s, size_t n, mc_buf *out)
{
    mc_err e = mc_buf_append(out, "\"", 1);
    size_t i = 0;
    while (i < n && !e) {
        size_t good = mc_srv_utf8_valid_len(s + i, n - i), run = 0;
        /* copy the run of bytes that need no escape, then handle one byte */
        while (run < good && (unsigned char)s[i + run] >= 0x20 && s[i + run] != '"' &&
               s[i + run] != '\\')
            run++;
        e = mc_buf_append(out, s + i, run);
        i += run;
        if (e || i == n)
            break;
        if (run < good)
            e = escape_byte((unsigned char)s[i], out);
        else
            e = mc_buf_append(out, "\xEF\xBF\xBD", 3); /* an invalid byte */
        i++;
    }
    return e ? e : mc_buf_append(out, "\"", 1);
}
