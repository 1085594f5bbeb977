/* fuzz_server_request.c: the server's request parsing for every endpoint that takes a body, on
 * arbitrary bytes. The first byte picks the endpoint: bits 2-3 = 0: /v1/completions (bit 0
 * clear) or /v1/chat/completions (bit 0 set): mc_srv_parse_request, then what follows a
 * successful parse: every chat format renders, stop strings scan the prompt, and the HTTP
 * thread's preparation on the fake backend's tokenizer (chat rendering, tokenization, context
 * check, the request object, its response body); 1: /tokenize; 2: /detokenize (their answers
 * must be JSON objects, their rejections 400s); 3: both. Always also mc_srv_parse_object, the
 * JSON string writer and the UTF-8 sanitiser: their output must be valid JSON / UTF-8. */
#include "server_impl.h"
#include "srv_fake.h"

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

static srv_fake *fake;

static const mc_tok *fake_tok(void)
{
    if (!fake)
        fake = srv_fake_new(2, 256, 64); /* kept for the life of the process */
    if (!fake)
        abort();
    return srv_fake_tok(fake);
}

/* What the HTTP thread does with a parsed request (http.c make_request), then the response. */
static void prepare(mc_srv_params *p)
{
    mc_srv_model_info mi = {fake_tok(), 288, 256, MC_CHAT_CHATML,
                            mc_srv_max_piece_bytes(fake_tok()), p->n_stop ? 0 : 64};
    mc_tok_ids ids;
    mc_srv_error err = {0};
    int64_t max_tokens = 0;
    mc_tok_ids_init(&ids);
    if (mc_srv_prepare(p, &mi, &ids, &max_tokens, &err) != MC_OK) {
        if (err.status != 400 && err.status != 500)
            abort();
        mc_tok_ids_deinit(&ids);
        return;
    }
    if (ids.n == 0 || (int64_t)ids.n >= mi.n_ctx || max_tokens < 1 ||
        (int64_t)ids.n + max_tokens > mi.n_ctx)
        abort(); /* prepare accepted what cannot run */
    mc_srv_req *r = mc_srv_req_new(p, ids.v, (int64_t)ids.n, max_tokens); /* takes p, ids */
    if (!r)
        return;
    mc_buf out;
    mc_buf_init(&out, 0);
    if (r->p.echo)
        mc_srv_req_set_echo(r, fake_tok());
    pthread_mutex_lock(&r->mu);
    mc_err e = mc_srv_fmt_response(r, fake_tok(), &out);
    pthread_mutex_unlock(&r->mu);
    cJSON *o = e ? NULL : cJSON_ParseWithLength(out.data, out.len);
    if (!e && !cJSON_IsObject(o))
        abort(); /* the response body must be a JSON object */
    cJSON_Delete(o);
    mc_buf_deinit(&out);
    mc_srv_req_unref(r);
}

static void small_endpoint(int detok, const char *body, size_t n)
{
    mc_buf b;
    mc_srv_error err = {0};
    mc_buf_init(&b, 0);
    mc_err e = detok ? mc_srv_detokenize(fake_tok(), 288, body, n, &b, &err)
                     : mc_srv_tokenize(fake_tok(), body, n, &b, &err);
    if (e && err.status != 400 && err.status != 500)
        abort();
    cJSON *o = e ? NULL : cJSON_ParseWithLength(b.data, b.len);
    if (!e && !cJSON_IsObject(o))
        abort();
    cJSON_Delete(o);
    mc_buf_deinit(&b);
}

static void generation(mc_srv_kind kind, const char *body, size_t n)
{
    mc_srv_params p;
    mc_srv_error err = {0};
    mc_err e = mc_srv_parse_request(kind, body, n, &p, &err);
    if (e && (err.status != 400 && err.status != 500))
        abort(); /* every rejection is a 400 (500 only for out of memory) */
    if (!e) {
        after_parse(&p);
        prepare(&p);
    }
    mc_srv_params_deinit(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *body = (const char *)data + 1;
    size_t n = size - 1;
    int mode = (data[0] >> 2) & 3;
    mc_srv_error err = {0};
    if (mode == 0)
        generation((data[0] & 1) ? MC_SRV_CHAT : MC_SRV_COMPLETION, body, n);
    if (mode & 1)
        small_endpoint(0, body, n);
    if (mode & 2)
        small_endpoint(1, body, n);
    cJSON *o = NULL;
    if (mc_srv_parse_object(body, n, &o, &err) == MC_OK)
        cJSON_Delete(o);
    strings(body, n);
    return 0;
}
