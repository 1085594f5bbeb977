/* test_server_engine.c: the server on the real engine, with a tiny model written by make-model:
 * greedy outputs over HTTP (streaming and not) equal the engine driven directly (prefill, then one
 * token per step, argmax); 8 concurrent requests on 4 slots each get their solo output; the
 * records carry the model's MoE layers and add up to the requests' usage. With an expert cache
 * whose slow-tier reads fail, the request gets a 500 and the server keeps serving. */
#include "harness.h"
#include "makemodel.h"
#include "server_impl.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdatomic.h>
#include <unistd.h>

#define N_GEN 12
#define N_PROMPTS 8

static const char *prompts[N_PROMPTS] = {"Hello",
                                         "The quick brown fox",
                                         "a",
                                         "1 2 3 4 5 6 7 8 9 10",
                                         "Mixture of experts",
                                         "caf\xc3\xa9 au lait",
                                         "zzz",
                                         "Once upon a time there was"};

static mc_srv_backend *be;
static char base[64];

/* ---- the engine driven directly (through the backend's function table: the same calls the
 * scheduler makes, one sequence, whole prompt in one step) ---- */

static mc_err direct_raw(const char *prompt, mc_buf *raw, mc_buf *text, int64_t *n_prompt)
{
    const mc_srv_backend_ops *ops = be->ops;
    mc_tok_ids ids;
    mc_tok_ids_init(&ids);
    float *logits = mc_mallocarray((size_t)be->vocab, sizeof(float));
    mc_err err =
        mc_tok_encode(be->tok, NULL, prompt, strlen(prompt), MC_TOK_PARSE_SPECIAL, &ids, NULL);
    mc_sampler greedy = {0, 1, 0, 0};
    mc_rng rng;
    mc_rng_seed(&rng, 1);
    mc_tok_stream st;
    mc_tok_stream_init(&st, MC_TOK_KEEP_LEADING_SPACE);
    ops->seq_reset(be->ctx, 0);
    *n_prompt = (int64_t)ids.n;
    int32_t tok = 0;
    for (int i = 0; !err && i < N_GEN; i++) {
        mc_batch_item it = {.seq = 0,
                            .tokens = i == 0 ? ids.v : &tok,
                            .n_tokens = i == 0 ? (int64_t)ids.n : 1,
                            .logits = MC_LOGITS_LAST,
                            .logits_out = logits};
        err = ops->step(be->ctx, &it, 1, NULL);
        if (!err)
            tok = ops->sample(be->ctx, logits, &greedy, &rng);
        if (!err)
            err = mc_tok_stream_feed(be->tok, &st, tok, raw, NULL);
    }
    if (!err)
        err = mc_tok_stream_flush(&st, raw, NULL);
    /* the server sends invalid UTF-8 (random weights make plenty) as U+FFFD */
    if (!err)
        err = mc_srv_utf8_sanitize(raw->data ? raw->data : "", raw->len, text);
    ops->seq_reset(be->ctx, 0);
    mc_free(logits);
    mc_tok_ids_deinit(&ids);
    return err;
}

static mc_err direct(const char *prompt, mc_buf *text, int64_t *n_prompt)
{
    mc_buf raw;
    mc_buf_init(&raw, 0);
    mc_err e = direct_raw(prompt, &raw, text, n_prompt);
    mc_buf_deinit(&raw);
    return e;
}

/* ---- HTTP ---- */

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    mc_buf_append(ud, p, sz * n);
    return sz * n;
}

static CURL *post(const char *path, const char *body, mc_buf *out)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", base, path);
    mc_buf_init(out, 0);
    mc_buf_append(out, "", 0);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 300L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    return c;
}

static char *completion_body(const char *prompt, int stream)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "prompt", prompt);
    cJSON_AddNumberToObject(o, "max_tokens", N_GEN);
    cJSON_AddNumberToObject(o, "temperature", 0);
    cJSON_AddBoolToObject(o, "ignore_eos", 1);
    cJSON_AddBoolToObject(o, "stream", stream);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* Text of a response: the whole JSON, or the concatenated SSE chunks. */
static void text_of(const char *body, int stream, mc_buf *text, int64_t *np, int64_t *nc)
{
    mc_buf_init(text, 0);
    mc_buf_append(text, "", 0);
    for (const char *p = body; p && *p;) {
        const char *json = stream ? strstr(p, "data: ") : p;
        if (!json)
            break;
        json += stream ? 6 : 0;
        const char *end = stream ? strstr(json, "\n\n") : json + strlen(json);
        if (!end || strncmp(json, "[DONE]", 6) == 0)
            break;
        cJSON *o = cJSON_ParseWithLength(json, (size_t)(end - json));
        const cJSON *t =
            cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "choices"), 0), "text");
        if (cJSON_IsString(t))
            mc_buf_append(text, t->valuestring, strlen(t->valuestring));
        const cJSON *u = cJSON_GetObjectItem(o, "usage");
        if (cJSON_IsObject(u)) {
            *np = (int64_t)cJSON_GetObjectItem(u, "prompt_tokens")->valuedouble;
            *nc = (int64_t)cJSON_GetObjectItem(u, "completion_tokens")->valuedouble;
        }
        cJSON_Delete(o);
        p = end;
    }
}

TEST(server_on_engine)
{
    const char *dir = harness_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/tiny.gguf", dir);
    mc_make_opts mo;
    mc_make_opts_default(&mo);
    mo.layers = 2;
    mo.embd = 64;
    mo.ff = 128;
    mo.experts = 4;
    mo.top_k = 2;
    mo.heads = 2;
    mo.vocab = 300;
    mo.ctx = 256;
    mo.type = MC_DT_F32;
    mo.seed = 11;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_make_model(&mo, path, &d), MC_OK);
    mc_engine_opts eo;
    mc_engine_opts_default(&eo);
    eo.model_path = path;
    eo.n_threads = 2;
    eo.n_ctx = 256;
    eo.max_seqs = 4;
    eo.max_step_tokens = 64;
    mc_err e = mc_srv_backend_engine_open(&eo, &be, &d);
    CHECK_EQ_INT(e, MC_OK);
    if (e)
        return;
    CHECK_EQ_INT(be->n_moe_layers, 2);

    mc_buf want[N_PROMPTS];
    int64_t want_np[N_PROMPTS];
    for (int i = 0; i < N_PROMPTS; i++) {
        mc_buf_init(&want[i], 0);
        CHECK_EQ_INT(direct(prompts[i], &want[i], &want_np[i]), MC_OK);
    }

    mc_server_opts so;
    mc_server_opts_default(&so);
    so.port = 0;
    mc_server *s = NULL;
    CHECK_EQ_INT(mc_server_new(be, &so, &s, &d), MC_OK);
    CHECK_EQ_INT(mc_server_start(s, &d), MC_OK);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", mc_server_port(s));
    mc_buf ig;
    CURL *rc = post("/moecap/record/start", "", &ig);
    CHECK_EQ_INT(curl_easy_perform(rc), CURLE_OK);
    curl_easy_cleanup(rc);
    mc_buf_deinit(&ig);

    /* one at a time, streaming and not: the engine's own greedy output */
    for (int i = 0; i < N_PROMPTS; i++)
        for (int stream = 0; stream < 2; stream++) {
            char *body = completion_body(prompts[i], stream);
            mc_buf out, text;
            int64_t np = -1, nc = -1;
            CURL *c = post("/v1/completions", body, &out);
            CHECK_EQ_INT(curl_easy_perform(c), CURLE_OK);
            curl_easy_cleanup(c);
            text_of(out.data, stream, &text, &np, &nc);
            if (strcmp(text.data, want[i].data) != 0)
                HARNESS_FAIL_("prompt %d stream %d: '%s' != engine '%s'", i, stream, text.data,
                              want[i].data);
            CHECK_EQ_INT(np, want_np[i]);
            CHECK_EQ_INT(nc, N_GEN);
            mc_buf_deinit(&text);
            mc_buf_deinit(&out);
            cJSON_free(body);
        }

    /* all at once on 4 slots */
    CURLM *m = curl_multi_init();
    CURL *cs[N_PROMPTS];
    mc_buf outs[N_PROMPTS];
    char *bodies[N_PROMPTS];
    for (int i = 0; i < N_PROMPTS; i++) {
        bodies[i] = completion_body(prompts[i], 1);
        cs[i] = post("/v1/completions", bodies[i], &outs[i]);
        curl_multi_add_handle(m, cs[i]);
    }
    for (int running = 1; running;) {
        curl_multi_perform(m, &running);
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    for (int i = 0; i < N_PROMPTS; i++) {
        mc_buf text;
        int64_t np = -1, nc = -1;
        text_of(outs[i].data, 1, &text, &np, &nc);
        if (strcmp(text.data, want[i].data) != 0)
            HARNESS_FAIL_("concurrent prompt %d: '%s' != alone '%s'", i, text.data, want[i].data);
        mc_buf_deinit(&text);
        mc_buf_deinit(&outs[i]);
        curl_multi_remove_handle(m, cs[i]);
        curl_easy_cleanup(cs[i]);
        cJSON_free(bodies[i]);
    }
    curl_multi_cleanup(m);

    /* records: 2 MoE layers each; all tokens = 3 rounds x sum(prompt + N_GEN - 1) */
    mc_buf rec;
    char url[128];
    snprintf(url, sizeof url, "%s/moecap/records", base);
    mc_buf_init(&rec, 0);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &rec);
    CHECK_EQ_INT(curl_easy_perform(c), CURLE_OK);
    curl_easy_cleanup(c);
    mc_pass_set set;
    mc_pass_set_init(&set);
    CHECK_EQ_INT(mc_pass_parse_jsonl(rec.data, rec.len, 1, 0, &set, NULL), MC_OK);
    int64_t tokens = 0, want_tokens = 0;
    for (size_t i = 0; i < set.n; i++) {
        tokens += set.v[i].new_tokens;
        CHECK_EQ_INT(set.v[i].n_layer_experts, 2);
        CHECK(set.v[i].expert_activation >= 1 && set.v[i].expert_activation <= 4);
    }
    for (int i = 0; i < N_PROMPTS; i++)
        want_tokens += 3 * (want_np[i] + N_GEN - 1);
    CHECK_EQ_INT(tokens, want_tokens);
    mc_pass_set_deinit(&set);
    mc_buf_deinit(&rec);

    mc_server_shutdown(s, 5);
    mc_server_free(s);
    mc_srv_backend_engine_close(be);
    for (int i = 0; i < N_PROMPTS; i++)
        mc_buf_deinit(&want[i]);
}

static atomic_int g_disk_broken;

static ssize_t broken_pread(int fd, void *buf, size_t n, off_t off)
{
    if (atomic_load(&g_disk_broken)) {
        errno = EIO;
        return -1;
    }
    return pread(fd, buf, n, off);
}

/* One completion; its HTTP status. */
static long status_of(const char *prompt, mc_buf *out)
{
    char *body = completion_body(prompt, 0);
    long code = 0;
    CURL *c = post("/v1/completions", body, out);
    CHECK_EQ_INT(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    cJSON_free(body);
    return code;
}

TEST(slow_tier_error_fails_the_request_not_the_server)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/tiny-xc.gguf", harness_tmpdir());
    mc_make_opts mo;
    mc_make_opts_default(&mo);
    mo.layers = 2, mo.embd = 64, mo.ff = 128, mo.experts = 4, mo.top_k = 2, mo.heads = 2;
    mo.vocab = 300, mo.ctx = 256, mo.type = MC_DT_F32, mo.seed = 11;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_make_model(&mo, path, &d), MC_OK);
    mc_engine_opts eo;
    mc_engine_opts_default(&eo);
    eo.model_path = path, eo.n_threads = 2, eo.n_ctx = 256, eo.max_step_tokens = 64;
    eo.expert_cache_bytes = 230000; /* 2 slots of 3 x 36 KiB: every step misses */
    eo.expert_pread = broken_pread;
    mc_srv_backend *xb = NULL;
    mc_server *s = NULL;
    mc_server_opts so;
    mc_server_opts_default(&so);
    so.port = 0;
    CHECK_EQ_INT(mc_srv_backend_engine_open(&eo, &xb, &d), MC_OK);
    CHECK(xb && mc_server_new(xb, &so, &s, &d) == MC_OK && mc_server_start(s, &d) == MC_OK);
    if (!s) {
        mc_srv_backend_engine_close(xb);
        return;
    }
    snprintf(base, sizeof base, "http://127.0.0.1:%d", mc_server_port(s));
    mc_buf out;
    CHECK_EQ_INT(status_of("Hello", &out), 200);
    mc_buf_deinit(&out);
    atomic_store(&g_disk_broken, 1);
    CHECK_EQ_INT(status_of("Hello", &out), 500);
    CHECK_CONTAINS(out.data, "forward pass failed: engine: expert cache: reading MoE layer");
    mc_buf_deinit(&out);
    atomic_store(&g_disk_broken, 0);
    CHECK_EQ_INT(status_of("Hello again", &out), 200);
    CHECK_CONTAINS(out.data, "\"completion_tokens\":12");
    mc_buf_deinit(&out);
    mc_server_shutdown(s, 0);
    mc_server_free(s);
    mc_srv_backend_engine_close(xb);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    RUN(server_on_engine);
    RUN(slow_tier_error_fails_the_request_not_the_server);
    curl_global_cleanup();
    return harness_done();
}
