/* fuzz_server_request.c: the server's request parsing (mc_srv_parse_request for completions and
 * chat, mc_srv_parse_object) on arbitrary bytes, and what follows a successful parse without a
 * model: every chat format renders, stop strings scan the prompt. Also the JSON string writer
 * and the UTF-8 sanitiser: their output must always be valid JSON / UTF-8. The first byte picks
 * completions (even) or chat (odd). */
#include "server_impl.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void after_parse(const mc_srv_params *p)
{
    mc_chat_specials sp = {"<s>", "</s>", 1};
    for (int k = MC_CHAT_FALLBACK; k <= MC_CHAT_LLAMA3; k++) {
        mc_buf b;
        mc_buf_init(&b, 0);
        if (p->n_msgs && mc_chat_render((mc_chat_kind)k, &sp, p->msgs, p->n_msgs, &b, NULL))
            abort(); /* rendering parsed messages cannot fail (short of memory) */
        mc_buf_deinit(&b);
    }
    size_t emit = 0;
    if (p->prompt && p->n_stop) {
        int hit = mc_srv_stop_scan(p->stop, p->n_stop, p->prompt, p->prompt_len, &emit);
        if (emit > p->prompt_len ||
            (hit && !strstr(p->prompt + emit, p->stop[0]) && p->n_stop == 1))
            abort();
    }
}

static void strings(const char *s, size_t n)
{
    mc_buf b;
    mc_buf_init(&b, 0);
    if (mc_srv_json_str(s, n, &b) == MC_OK) {
        cJSON *v = cJSON_ParseWithLength(b.data, b.len);
        if (!cJSON_IsString(v))
            abort(); /* the writer produced invalid JSON */
        cJSON_Delete(v);
    }
    mc_buf_reset(&b);
    if (mc_srv_utf8_sanitize(s, n, &b) == MC_OK && mc_srv_utf8_valid_len(b.data, b.len) != b.len)
        abort();
    mc_buf_deinit(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    mc_srv_kind kind = (data[0] & 1) ? MC_SRV_CHAT : MC_SRV_COMPLETION;
    const char *body = (const char *)data + 1;
    size_t n = size - 1;
    mc_srv_params p;
    mc_srv_error err = {0};
    mc_err e = mc_srv_parse_request(kind, body, n, &p, &err);
    if (e && (err.status != 400 && err.status != 500))
        abort(); /* every rejection is a 400 (500 only for out of memory) */
    if (!e)
        after_parse(&p);
    mc_srv_params_deinit(&p);
    cJSON *o = NULL;
    if (mc_srv_parse_object(body, n, &o, &err) == MC_OK)
        cJSON_Delete(o);
    strings(body, n);
    return 0;
}
