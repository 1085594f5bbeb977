/* chat.c: chat messages -> prompt text. The format is recognised by markers in the model's
 * tokenizer.chat_template (Jinja is NOT interpreted) and rendered by hand, following what the
 * common templates produce; docs/SERVER.md "Chat templates" lists the formats, the markers and
 * the fallback. Pure: no tokenizer calls, no I/O. Must not depend on libmicrohttpd or the
 * scheduler. */
#include "server_impl.h"

#include <stdarg.h>
#include <string.h>

static const char *role_name(mc_chat_role r)
{
    return r == MC_ROLE_SYSTEM ? "system" : r == MC_ROLE_USER ? "user" : "assistant";
}

mc_chat_kind mc_chat_detect(const char *t)
{
    if (!t || !*t)
        return MC_CHAT_FALLBACK;
    if (strstr(t, "<|im_start|>"))
        return MC_CHAT_CHATML;
    if (strstr(t, "<|start_header_id|>"))
        return MC_CHAT_LLAMA3;
    if (strstr(t, "[INST]"))
        return strstr(t, "<<SYS>>") ? MC_CHAT_LLAMA2 : MC_CHAT_MISTRAL;
    return MC_CHAT_FALLBACK;
}

const char *mc_chat_kind_name(mc_chat_kind k)
{
    static const char *names[] = {"fallback", "chatml", "llama2", "mistral", "llama3"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

/* Appends the NULL-terminated list of strings. */
static mc_err put(mc_buf *b, const char *s, ...)
{
    va_list ap;
    va_start(ap, s);
    mc_err e = MC_OK;
    for (; s && !e; s = va_arg(ap, const char *))
        e = mc_buf_append(b, s, strlen(s));
    va_end(ap);
    return e;
}

/* s without leading and trailing ASCII whitespace, as (pointer, length). */
static const char *strip(const char *s, size_t *len)
{
    size_t n = strlen(s);
    while (n && strchr(" \t\r\n", s[0])) {
        s++;
        n--;
    }
    while (n && strchr(" \t\r\n", s[n - 1]))
        n--;
    *len = n;
    return s;
}

static mc_err put_stripped(mc_buf *b, const char *s)
{
    size_t n;
    const char *p = strip(s, &n);
    return mc_buf_append(b, p, n);
}

/* <|im_start|>role\ncontent<|im_end|>\n ... <|im_start|>assistant\n */
static mc_err render_chatml(const mc_chat_msg *m, size_t n, mc_buf *out)
{
    mc_err e = MC_OK;
    for (size_t i = 0; i < n && !e; i++)
        e = put(out, "<|im_start|>", role_name(m[i].role), "\n", m[i].content, "<|im_end|>\n",
                NULL);
    return e ? e : put(out, "<|im_start|>assistant\n", NULL);
}

static mc_err render_llama3(const mc_chat_specials *sp, const mc_chat_msg *m, size_t n, mc_buf *out)
{
    mc_err e = put(out, sp->bos, NULL);
    for (size_t i = 0; i < n && !e; i++) {
        e = put(out, "<|start_header_id|>", role_name(m[i].role), "<|end_header_id|>\n\n", NULL);
        if (!e)
            e = put_stripped(out, m[i].content);
        if (!e)
            e = put(out, "<|eot_id|>", NULL);
    }
    return e ? e : put(out, "<|start_header_id|>assistant<|end_header_id|>\n\n", NULL);
}

/* Llama-2: a leading system message is wrapped in <<SYS>> into the first user turn;
 * "<s>[INST] {user} [/INST] {assistant} </s>" per exchange. Later system messages are user
 * turns. */
static mc_err render_llama2(const mc_chat_specials *sp, const mc_chat_msg *m, size_t n, mc_buf *out)
{
    const char *sys = NULL;
    size_t i = 0;
    if (n > 0 && m[0].role == MC_ROLE_SYSTEM)
        sys = m[i++].content;
    mc_err e = MC_OK;
    if (i == n) /* only a system message: render it as an empty first turn */
        return put(out, sp->bos, "[INST] <<SYS>>\n", sys ? sys : "", "\n<</SYS>>\n\n [/INST]",
                   NULL);
    for (size_t k = i; k < n && !e; k++) {
        if (m[k].role == MC_ROLE_ASSISTANT) {
            e = put(out, " ", NULL);
            if (!e)
                e = put_stripped(out, m[k].content);
            if (!e)
                e = put(out, " ", sp->eos, NULL);
            continue;
        }
        e = put(out, sp->bos, "[INST] ", NULL);
        if (!e && k == i && sys)
            e = put(out, "<<SYS>>\n", sys, "\n<</SYS>>\n\n", NULL);
        if (!e)
            e = put_stripped(out, m[k].content);
        if (!e)
            e = put(out, " [/INST]", NULL);
    }
    return e;
}

/* Mistral / Mixtral instruct: "<s>[INST] {user} [/INST]{assistant}</s>"; system messages are
 * joined (with a blank line) in front of the next user message. */
static mc_err render_mistral(const mc_chat_specials *sp, const mc_chat_msg *m, size_t n,
                             mc_buf *out)
{
    mc_err e = put(out, sp->bos, NULL);
    const char *sys = NULL;
    for (size_t k = 0; k < n && !e; k++) {
        if (m[k].role == MC_ROLE_SYSTEM) {
            sys = m[k].content;
            continue;
        }
        if (m[k].role == MC_ROLE_ASSISTANT) {
            e = put(out, m[k].content, sp->eos, NULL);
            continue;
        }
        e = put(out, "[INST] ", NULL);
        if (!e && sys)
            e = put(out, sys, "\n\n", NULL);
        sys = NULL;
        if (!e)
            e = put(out, m[k].content, " [/INST]", NULL);
    }
    if (!e && sys) /* a trailing system message: its own instruction */
        e = put(out, "[INST] ", sys, " [/INST]", NULL);
    return e;
}

mc_err mc_chat_render(mc_chat_kind k, const mc_chat_specials *spec, const mc_chat_msg *m, size_t n,
                      mc_buf *out, mc_diag *d)
{
    /* put() stops at the first NULL: absent special texts are "" */
    mc_chat_specials s = *spec, *sp = &s;
    s.bos = s.bos ? s.bos : "";
    s.eos = s.eos ? s.eos : "";
    mc_err e;
    switch (k) {
    case MC_CHAT_CHATML: e = render_chatml(m, n, out); break;
    case MC_CHAT_LLAMA3: e = render_llama3(sp, m, n, out); break;
    case MC_CHAT_LLAMA2: e = render_llama2(sp, m, n, out); break;
    case MC_CHAT_MISTRAL: e = render_mistral(sp, m, n, out); break;
    default:
        e = put(out, sp->add_bos ? sp->bos : "", NULL);
        if (!e)
            e = render_chatml(m, n, out);
        break;
    }
    if (!e && !out->data)
        e = mc_buf_append(out, "", 0);
    return e ? mc_fail(d, e, "chat template: prompt too large") : MC_OK;
}
