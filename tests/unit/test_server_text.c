/* test_server_text.c: the server's pure pieces on the fake tokenizer (tests/support/srv_fake.h):
 * chat template detection and rendering, stop-string scanning, prompt preparation and context
 * limits, generated text and events (EOS, stop strings, max_tokens, split UTF-8), response and
 * SSE formatting with log-probabilities, Prometheus metrics and the records store. Expected
 * strings are written out by hand. */
#include "harness.h"
#include "server_impl.h"
#include "srv_fake.h"

#include <cjson/cJSON.h>
#include <math.h>

static srv_fake *fake;

/* ---- chat templates ---- */

static char c0[] = "Be brief.", c1[] = "Hi", c2[] = "Hello!", c3[] = " Why? ";
static const mc_chat_msg conv[] = {
    {MC_ROLE_SYSTEM, c0}, {MC_ROLE_USER, c1}, {MC_ROLE_ASSISTANT, c2}, {MC_ROLE_USER, c3}};

static const char *render(mc_chat_kind k, const mc_chat_msg *m, size_t n, int add_bos)
{
    static mc_buf b;
    mc_chat_specials sp = {"<s>", "</s>", add_bos};
    mc_buf_deinit(&b);
    mc_buf_init(&b, 0);
    if (mc_chat_render(k, &sp, m, n, &b, NULL) != MC_OK)
        return NULL;
    return b.data;
}

TEST(chat_detect)
{
    CHECK_EQ_INT(mc_chat_detect(NULL), MC_CHAT_FALLBACK);
    CHECK_EQ_INT(mc_chat_detect(""), MC_CHAT_FALLBACK);
    CHECK_EQ_INT(mc_chat_detect("{% for m in messages %}{{ m.content }}{% endfor %}"),
                 MC_CHAT_FALLBACK);
    CHECK_EQ_INT(mc_chat_detect("{{'<|im_start|>' + message['role'] + '\\n'}}"), MC_CHAT_CHATML);
    CHECK_EQ_INT(mc_chat_detect("{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
                                "{% set content = '<<SYS>>\\n' %}"),
                 MC_CHAT_LLAMA2);
    CHECK_EQ_INT(mc_chat_detect("{{ bos_token }}{{ '[INST] ' + message['content'] + ' [/INST]' }}"),
                 MC_CHAT_MISTRAL);
    CHECK_EQ_INT(mc_chat_detect("{{ '<|start_header_id|>' + message['role'] }}"), MC_CHAT_LLAMA3);
    CHECK_STR(mc_chat_kind_name(MC_CHAT_MISTRAL), "mistral");
    CHECK_STR(mc_chat_kind_name(MC_CHAT_FALLBACK), "fallback");
}

TEST(chat_render)
{
    CHECK_STR(render(MC_CHAT_CHATML, conv, 4, 1),
              "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
              "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\n Why? <|im_end|>\n"
              "<|im_start|>assistant\n");
    CHECK_STR(render(MC_CHAT_FALLBACK, conv + 1, 1, 1),
              "<s><|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    CHECK_STR(render(MC_CHAT_FALLBACK, conv + 1, 1, 0),
              "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    CHECK_STR(render(MC_CHAT_LLAMA2, conv, 4, 1),
              "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! </s>"
              "<s>[INST] Why? [/INST]");
    CHECK_STR(render(MC_CHAT_LLAMA2, conv + 1, 1, 1), "<s>[INST] Hi [/INST]");
    CHECK_STR(render(MC_CHAT_LLAMA2, conv, 1, 1),
              "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\n [/INST]");
    CHECK_STR(render(MC_CHAT_MISTRAL, conv, 4, 1),
              "<s>[INST] Be brief.\n\nHi [/INST]Hello!</s>[INST]  Why?  [/INST]");
    CHECK_STR(render(MC_CHAT_LLAMA3, conv, 2, 1),
              "<s><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

/* ---- stop strings ---- */

TEST(stop_scan)
{
    char s0[] = "END", s1[] = "\n\n", s2[] = "ab";
    char *stops[] = {s0, s1, s2};
    size_t emit = 99;
    CHECK_EQ_INT(mc_srv_stop_scan(stops, 3, "hello", 5, &emit), 0);
    CHECK_EQ_INT(emit, 5);
    CHECK_EQ_INT(mc_srv_stop_scan(stops, 3, "hello E", 7, &emit), 0);
    CHECK_EQ_INT(emit, 6); /* "E" may start END */
    CHECK_EQ_INT(mc_srv_stop_scan(stops, 3, "hello EN", 8, &emit), 0);
    CHECK_EQ_INT(emit, 6);
    CHECK_EQ_INT(mc_srv_stop_scan(stops, 3, "hello END!", 10, &emit), 1);
    CHECK_EQ_INT(emit, 6);
    CHECK_EQ_INT(mc_srv_stop_scan(stops, 3, "x\n\nEND", 6, &emit), 1);
    CHECK_EQ_INT(emit, 1); /* the earliest match wins */
    CHECK_EQ_INT(mc_srv_stop_scan(stops, 3, "a", 1, &emit), 0);
    CHECK_EQ_INT(emit, 0);
    CHECK_EQ_INT(mc_srv_stop_scan(stops, 3, "", 0, &emit), 0);
    CHECK_EQ_INT(emit, 0);
    CHECK_EQ_INT(mc_srv_stop_scan(stops, 0, "abc", 3, &emit), 0);
    CHECK_EQ_INT(emit, 3);
}

/* ---- prepare ---- */

static mc_srv_model_info info(int64_t n_ctx, mc_chat_kind chat)
{
    return (mc_srv_model_info){srv_fake_tok(fake), 288, n_ctx, chat,
                               mc_srv_max_piece_bytes(srv_fake_tok(fake)), 0};
}

static mc_err prep(mc_srv_kind kind, const char *body, int64_t n_ctx, mc_tok_ids *ids,
                   int64_t *max_tokens, mc_srv_error *err)
{
    mc_srv_params p;
    mc_err e = mc_srv_parse_request(kind, body, strlen(body), &p, err);
    mc_srv_model_info mi = info(n_ctx, MC_CHAT_CHATML);
    if (!e)
        e = mc_srv_prepare(&p, &mi, ids, max_tokens, err);
    mc_srv_params_deinit(&p);
    return e;
}

TEST(prepare)
{
    mc_tok_ids ids;
    mc_tok_ids_init(&ids);
    int64_t mt = 0;
    mc_srv_error err = {0};
    /* "ab c" -> BOS, space prefix, a, b, space, c */
    CHECK_EQ_INT(prep(MC_SRV_COMPLETION, "{\"prompt\":\"ab c\"}", 64, &ids, &mt, &err), MC_OK);
    CHECK_EQ_INT(ids.n, 6);
    CHECK_EQ_INT(ids.v[0], FAKE_BOS);
    CHECK_EQ_INT(ids.v[1], FAKE_SPACE);
    CHECK_EQ_INT(ids.v[2], FAKE_LETTER('a'));
    CHECK_EQ_INT(ids.v[5], FAKE_LETTER('c'));
    CHECK_EQ_INT(mt, 16); /* the completions default */
    ids.n = 0;
    CHECK_EQ_INT(prep(MC_SRV_COMPLETION, "{\"prompt\":\"ab c\"}", 10, &ids, &mt, &err), MC_OK);
    CHECK_EQ_INT(mt, 4); /* clamped to the context */
    ids.n = 0;
    CHECK_EQ_INT(prep(MC_SRV_COMPLETION, "{\"prompt\":[1,260,287]}", 10, &ids, &mt, &err), MC_OK);
    CHECK_EQ_INT(ids.n, 3);
    CHECK_EQ_INT(ids.v[2], 287);
    ids.n = 0;
    CHECK_EQ_INT(prep(MC_SRV_COMPLETION, "{\"prompt\":[1,288]}", 10, &ids, &mt, &err), MC_ERR_ARG);
    CHECK_CONTAINS(err.message, "token id 288 (item 1) is out of the vocabulary (288 tokens)");
    CHECK_EQ_INT(ids.n, 0);
    CHECK_EQ_INT(prep(MC_SRV_COMPLETION, "{\"prompt\":\"abcdefgh\"}", 9, &ids, &mt, &err),
                 MC_ERR_ARG);
    CHECK_STR(err.code, "context_length_exceeded");
    CHECK_STR(err.param, "prompt");
    CHECK_CONTAINS(err.message, "maximum context length is 9 tokens, the prompt has 10 tokens");
    CHECK_EQ_INT(
        prep(MC_SRV_COMPLETION, "{\"prompt\":\"ab\",\"max_tokens\":7}", 10, &ids, &mt, &err),
        MC_ERR_ARG);
    CHECK_STR(err.param, "max_tokens");
    CHECK_CONTAINS(err.message, "you requested 11 tokens (4 in the prompt, 7 for the completion)");
    /* the fake's longest token text is "<|im_start|>" (12 bytes): beyond 4 x 12 x n_ctx bytes the
     * prompt is refused before tokenizing */
    CHECK_EQ_INT(mc_srv_max_piece_bytes(srv_fake_tok(fake)), 12);
    char body[600];
    snprintf(body, sizeof body, "{\"prompt\":\"%0480d\"}", 0); /* 480 bytes = 4 x 12 x 10 */
    CHECK_EQ_INT(prep(MC_SRV_COMPLETION, body, 10, &ids, &mt, &err), MC_ERR_ARG);
    CHECK_CONTAINS(err.message, "the prompt (480 bytes) is far longer than this model's maximum "
                                "context length of 10 tokens");
    snprintf(body, sizeof body, "{\"prompt\":\"%0479d\"}", 0); /* tokenized, then too long */
    CHECK_EQ_INT(prep(MC_SRV_COMPLETION, body, 10, &ids, &mt, &err), MC_ERR_ARG);
    CHECK_CONTAINS(err.message, "the prompt has 481 tokens");
    CHECK_EQ_INT(
        prep(MC_SRV_COMPLETION, "{\"prompt\":\"ab\",\"max_tokens\":6}", 10, &ids, &mt, &err),
        MC_OK);
    CHECK_EQ_INT(mt, 6);
    ids.n = 0;
    /* a model vocabulary smaller than the tokenizer's: its ids are refused, not sent */
    mc_srv_params pp;
    const char *small = "{\"prompt\":\"<|im_end|>\"}";
    mc_srv_parse_request(MC_SRV_COMPLETION, small, strlen(small), &pp, &err);
    mc_srv_model_info mi = info(64, MC_CHAT_CHATML);
    mi.vocab = 280;
    CHECK_EQ_INT(mc_srv_prepare(&pp, &mi, &ids, &mt, &err), MC_ERR_ARG);
    CHECK_CONTAINS(err.message, "the prompt's token 287 is outside the model's vocabulary (280)");
    CHECK_EQ_INT(ids.n, 0);
    mc_srv_params_deinit(&pp);
    /* chat: ChatML with the specials parsed; no BOS (the template decides); default = the rest */
    CHECK_EQ_INT(prep(MC_SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", 64,
                      &ids, &mt, &err),
                 MC_OK);
    CHECK_EQ_INT(ids.v[0], 286); /* <|im_start|> */
    CHECK_EQ_INT(mt, 64 - (int64_t)ids.n);
    mc_tok_ids_deinit(&ids);
}

/* ---- generation text ---- */

static mc_srv_req *new_req(const char *body, int64_t max_tokens)
{
    mc_srv_params p;
    mc_srv_error err;
    if (mc_srv_parse_request(MC_SRV_COMPLETION, body, strlen(body), &p, &err) != MC_OK)
        return NULL;
    int32_t *prompt = mc_calloc(2, sizeof *prompt);
    prompt[0] = FAKE_BOS;
    prompt[1] = FAKE_LETTER('a');
    mc_srv_req *r = mc_srv_req_new(&p, prompt, 2, max_tokens);
    snprintf(r->id, sizeof r->id, "cmpl-7");
    r->created_s = 1700000000;
    r->model_id = "fake-moe";
    return r;
}

/* Feeds ids until the request finishes; returns the push result of the last one. */
static int feed(mc_srv_req *r, mc_srv_gen *g, const int32_t *ids, int n)
{
    int res = 0;
    for (int i = 0; i < n && res == 0; i++)
        res = mc_srv_gen_push(g, srv_fake_tok(fake), r, ids[i]);
    return res;
}

TEST(generate_text)
{
    const int32_t abc[] = {FAKE_SPACE,       FAKE_LETTER('a'), FAKE_BYTE(0xC3), FAKE_BYTE(0xA9),
                           FAKE_LETTER('b'), FAKE_EOS,         FAKE_LETTER('c')};
    mc_srv_gen g;
    mc_srv_gen_init(&g);
    mc_srv_req *r = new_req("{\"prompt\":\"a\"}", 10);
    CHECK_EQ_INT(feed(r, &g, abc, 7), 1);
    CHECK_STR(r->text.data, " a\xc3\xa9"
                            "b"); /* EOS ends it; its text is not output */
    CHECK_STR(r->finish_reason, "stop");
    CHECK_EQ_INT(r->n_out, 6);
    CHECK_EQ_INT(r->n_ev, 4); /* " ", "a", "é" (two tokens), "b" */
    CHECK_EQ_INT(r->ev[2].text_hi, 4);
    CHECK_EQ_INT(r->ev[2].tok_hi, 4);
    CHECK_EQ_INT(r->offs[3], 2); /* the second byte of é starts decoding at byte 2 */
    CHECK_EQ_INT(r->offs[4], 4);
    mc_srv_req_unref(r);

    mc_srv_gen_reset(&g); /* ignore_eos: EOS is a token like any other; max_tokens ends it */
    r = new_req("{\"prompt\":\"a\",\"ignore_eos\":true}", 3);
    const int32_t e[] = {FAKE_LETTER('a'), FAKE_EOS, FAKE_LETTER('b'), FAKE_LETTER('c')};
    CHECK_EQ_INT(feed(r, &g, e, 4), 1);
    CHECK_STR(r->text.data, "ab");
    CHECK_STR(r->finish_reason, "length");
    CHECK_EQ_INT(r->n_out, 3);
    mc_srv_req_unref(r);

    mc_srv_gen_reset(&g); /* a stop string across tokens; the held "c" never goes out */
    r = new_req("{\"prompt\":\"a\",\"stop\":[\"cd\",\"xyz\"]}", 10);
    const int32_t s[] = {FAKE_LETTER('a'), FAKE_LETTER('b'), FAKE_LETTER('c'), FAKE_LETTER('d'),
                         FAKE_LETTER('e')};
    CHECK_EQ_INT(feed(r, &g, s, 2), 0);
    CHECK_STR(r->text.data, "ab");
    CHECK_EQ_INT(feed(r, &g, s + 2, 1), 0);
    CHECK_STR(r->text.data, "ab"); /* "c" is held: it may start "cd" */
    CHECK_EQ_INT(r->n_ev, 2);
    CHECK_EQ_INT(feed(r, &g, s + 3, 2), 1);
    CHECK_STR(r->text.data, "ab");
    CHECK_STR(r->finish_reason, "stop");
    CHECK_EQ_INT(r->n_out, 4);
    mc_srv_req_unref(r);

    mc_srv_gen_reset(&g); /* held text is flushed when max_tokens ends the request */
    r = new_req("{\"prompt\":\"a\",\"stop\":\"bx\"}", 2);
    CHECK_EQ_INT(feed(r, &g, s, 2), 1);
    CHECK_STR(r->text.data, "ab");
    CHECK_STR(r->finish_reason, "length");
    mc_srv_req_unref(r);

    mc_srv_gen_reset(&g); /* a lone UTF-8 lead byte at the end is sanitised when formatted */
    r = new_req("{\"prompt\":\"a\"}", 2);
    const int32_t u[] = {FAKE_LETTER('a'), FAKE_BYTE(0xC3)};
    CHECK_EQ_INT(feed(r, &g, u, 2), 1);
    CHECK_EQ_INT(r->text.len, 2);
    mc_buf b;
    mc_buf_init(&b, 0);
    CHECK_EQ_INT(mc_srv_fmt_response(r, srv_fake_tok(fake), &b), MC_OK);
    CHECK_CONTAINS(b.data, "\"text\":\"a\xef\xbf\xbd\"");
    mc_buf_deinit(&b);
    mc_srv_req_unref(r);
    mc_srv_gen_deinit(&g);
}

/* ---- formatting ---- */

static mc_srv_req *finished_req(const char *body, int echo_logprobs)
{
    mc_srv_gen g;
    mc_srv_gen_init(&g);
    mc_srv_req *r = new_req(body, 2);
    if (r->p.echo)
        mc_srv_req_set_echo(r, srv_fake_tok(fake));
    if (echo_logprobs) {
        r->p_lps[1] = -0.5;
        for (int k = 0; k < r->n_top; k++) {
            r->p_top_ids[1 * r->n_top + k] = FAKE_LETTER('a') + k;
            r->p_top_lps[1 * r->n_top + k] = -0.5 - k;
        }
    }
    const int32_t ids[] = {FAKE_LETTER('b'), FAKE_LETTER('c')};
    for (int i = 0; i < 2; i++) {
        if (r->p.logprobs)
            r->lps[i] = -0.25 * (i + 1);
        for (int k = 0; k < r->n_top; k++) {
            r->top_ids[i * r->n_top + k] = ids[i] + k;
            r->top_lps[i * r->n_top + k] = -0.25 * (i + 1) - k;
        }
        mc_srv_gen_push(&g, srv_fake_tok(fake), r, ids[i]);
    }
    r->prompt_done = 1;
    mc_srv_gen_deinit(&g);
    return r;
}

TEST(format_response)
{
    mc_buf b;
    mc_buf_init(&b, 0);
    mc_srv_req *r = finished_req("{\"prompt\":\"a\"}", 0);
    CHECK_EQ_INT(mc_srv_fmt_response(r, srv_fake_tok(fake), &b), MC_OK);
    CHECK_STR(b.data, "{\"id\":\"cmpl-7\",\"object\":\"text_completion\",\"created\":1700000000,"
                      "\"model\":\"fake-moe\",\"choices\":[{\"index\":0,\"finish_reason\":"
                      "\"length\",\"text\":\"bc\",\"logprobs\":null}],\"usage\":{"
                      "\"prompt_tokens\":2,\"completion_tokens\":2,\"total_tokens\":4}}");
    mc_srv_req_unref(r);

    mc_buf_reset(&b); /* echo + logprobs 1: the prompt's tokens first, the first one null */
    r = finished_req("{\"prompt\":\"a\",\"echo\":true,\"logprobs\":1}", 1);
    CHECK_EQ_INT(mc_srv_fmt_response(r, srv_fake_tok(fake), &b), MC_OK);
    CHECK_CONTAINS(b.data, "\"text\":\"abc\"");
    CHECK_CONTAINS(b.data, "\"logprobs\":{\"tokens\":[\"<s>\",\"a\",\"b\",\"c\"],"
                           "\"token_logprobs\":[null,-0.5,-0.25,-0.5],\"top_logprobs\":[null,"
                           "{\"a\":-0.5},{\"b\":-0.25},{\"c\":-0.5}],\"text_offset\":[0,0,1,2]}");
    mc_srv_req_unref(r);

    mc_buf_reset(&b); /* chat, with logprobs and 2 alternatives */
    mc_srv_params p;
    mc_srv_error err;
    const char *body = "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logprobs\":true,"
                       "\"top_logprobs\":2}";
    mc_srv_parse_request(MC_SRV_CHAT, body, strlen(body), &p, &err);
    r = mc_srv_req_new(&p, mc_calloc(1, sizeof(int32_t)), 1, 1);
    snprintf(r->id, sizeof r->id, "chatcmpl-3");
    r->ids[0] = FAKE_LETTER('q');
    r->lps[0] = -1;
    r->top_ids[0] = FAKE_LETTER('q');
    r->top_ids[1] = FAKE_LETTER('r');
    r->top_lps[0] = -1;
    r->top_lps[1] = -2;
    r->n_out = 1;
    mc_buf_append(&r->text, "q", 1);
    r->finished = 1;
    r->finish_reason = "stop";
    CHECK_EQ_INT(mc_srv_fmt_response(r, srv_fake_tok(fake), &b), MC_OK);
    CHECK_STR(b.data, "{\"id\":\"chatcmpl-3\",\"object\":\"chat.completion\",\"created\":0,"
                      "\"model\":\"\",\"choices\":[{\"index\":0,\"finish_reason\":\"stop\","
                      "\"message\":{\"role\":\"assistant\",\"content\":\"q\"},\"logprobs\":{"
                      "\"content\":[{\"bytes\":[113],\"token\":\"q\",\"logprob\":-1,"
                      "\"top_logprobs\":[{\"bytes\":[113],\"token\":\"q\",\"logprob\":-1},"
                      "{\"bytes\":[114],\"token\":\"r\",\"logprob\":-2}]}]}}],\"usage\":{"
                      "\"prompt_tokens\":1,\"completion_tokens\":1,\"total_tokens\":2}}");
    mc_srv_req_unref(r);
    mc_buf_deinit(&b);
}

TEST(format_stream)
{
    mc_buf b;
    int done = 0;
    mc_buf_init(&b, 0);
    mc_srv_req *r = finished_req("{\"prompt\":\"a\",\"stream\":true}", 0);
    r->n_ev = 1; /* pretend the consumer saw only the first event so far */
    r->finished = 0;
    CHECK_EQ_INT(mc_srv_fmt_stream(r, srv_fake_tok(fake), &b, &done), MC_OK);
    CHECK_EQ_INT(done, 0);
    CHECK_STR(b.data, "data: {\"id\":\"cmpl-7\",\"object\":\"text_completion\",\"created\":"
                      "1700000000,\"model\":\"fake-moe\",\"choices\":[{\"index\":0,"
                      "\"finish_reason\":null,\"text\":\"b\",\"logprobs\":null}]}\n\n");
    mc_buf_reset(&b);
    CHECK_EQ_INT(mc_srv_fmt_stream(r, srv_fake_tok(fake), &b, &done), MC_OK);
    CHECK_EQ_INT(b.len, 0); /* nothing new */
    r->n_ev = 2;
    r->finished = 1;
    CHECK_EQ_INT(mc_srv_fmt_stream(r, srv_fake_tok(fake), &b, &done), MC_OK);
    CHECK_EQ_INT(done, 1);
    CHECK_STR(b.data, "data: {\"id\":\"cmpl-7\",\"object\":\"text_completion\",\"created\":"
                      "1700000000,\"model\":\"fake-moe\",\"choices\":[{\"index\":0,"
                      "\"finish_reason\":null,\"text\":\"c\",\"logprobs\":null}]}\n\n"
                      "data: {\"id\":\"cmpl-7\",\"object\":\"text_completion\",\"created\":"
                      "1700000000,\"model\":\"fake-moe\",\"choices\":[{\"index\":0,"
                      "\"finish_reason\":\"length\",\"text\":\"\",\"logprobs\":null}],"
                      "\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":2,"
                      "\"total_tokens\":4}}\n\ndata: [DONE]\n\n");
    mc_srv_req_unref(r);

    mc_buf_reset(&b); /* chat with include_usage: role chunk, deltas, finish, usage chunk */
    mc_srv_params p;
    mc_srv_error err;
    const char *body = "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":true,"
                       "\"stream_options\":{\"include_usage\":true}}";
    mc_srv_parse_request(MC_SRV_CHAT, body, strlen(body), &p, &err);
    r = mc_srv_req_new(&p, mc_calloc(1, sizeof(int32_t)), 1, 4);
    snprintf(r->id, sizeof r->id, "chatcmpl-1");
    r->model_id = "m";
    mc_srv_gen g;
    mc_srv_gen_init(&g);
    mc_srv_gen_push(&g, srv_fake_tok(fake), r, FAKE_LETTER('o'));
    mc_srv_gen_push(&g, srv_fake_tok(fake), r, FAKE_EOS);
    mc_srv_gen_deinit(&g);
    CHECK_EQ_INT(mc_srv_fmt_stream(r, srv_fake_tok(fake), &b, &done), MC_OK);
    CHECK_EQ_INT(done, 1);
    const char *want =
        "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":0,"
        "\"model\":\"m\",\"choices\":[{\"index\":0,\"finish_reason\":null,\"delta\":{\"role\":"
        "\"assistant\",\"content\":\"\"},\"logprobs\":null}],\"usage\":null}\n\n"
        "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":0,"
        "\"model\":\"m\",\"choices\":[{\"index\":0,\"finish_reason\":null,\"delta\":{\"content\":"
        "\"o\"},\"logprobs\":null}],\"usage\":null}\n\n"
        "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":0,"
        "\"model\":\"m\",\"choices\":[{\"index\":0,\"finish_reason\":\"stop\",\"delta\":{},"
        "\"logprobs\":null}],\"usage\":null}\n\n"
        "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":0,"
        "\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,"
        "\"total_tokens\":3}}\n\ndata: [DONE]\n\n";
    CHECK_STR(b.data, want);
    mc_srv_req_unref(r);

    mc_buf_reset(&b); /* a failed request: the error as an event, then [DONE] */
    r = finished_req("{\"prompt\":\"a\",\"stream\":true}", 0);
    r->n_ev = 0;
    mc_srv_error fe;
    mc_srv_fail(&fe, 500, "engine_error", NULL, "boom");
    r->finished = 0;
    pthread_mutex_lock(&r->mu);
    mc_srv_req_fail_locked(r, &fe);
    pthread_mutex_unlock(&r->mu);
    CHECK_EQ_INT(mc_srv_fmt_stream(r, srv_fake_tok(fake), &b, &done), MC_OK);
    CHECK_STR(b.data, "data: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\","
                      "\"param\":null,\"code\":\"engine_error\"}}\n\ndata: [DONE]\n\n");
    mc_srv_req_unref(r);
    mc_buf_deinit(&b);
}

/* ---- metrics ---- */

TEST(metrics)
{
    mc_srv_metrics m;
    CHECK_EQ_INT(mc_srv_metrics_init(&m, 2), MC_OK);
    static const double le[] = {0.1, 1};
    mc_srv_hist_init(&m.ttft, le, 2);
    mc_srv_hist_add(&m.ttft, 0.05);
    mc_srv_hist_add(&m.ttft, 0.1); /* le is inclusive */
    mc_srv_hist_add(&m.ttft, 0.5);
    mc_srv_hist_add(&m.ttft, 3);
    m.requests[MC_OUT_FINISHED] = 3;
    m.requests[MC_OUT_INVALID] = 1;
    m.prompt_tokens = 40;
    m.generation_tokens = 12;
    m.queue_depth = 2;
    double epl[2] = {3, 5};
    mc_pass p;
    mc_pass_init(&p);
    p.mode = MC_PASS_DECODE;
    p.new_tokens = 4;
    p.batch_size = 4;
    p.latency_s = 0.02;
    p.n_layer_experts = 2;
    p.experts_per_layer = epl;
    mc_srv_metrics_pass_locked(&m, &p);
    mc_srv_metrics_pass_locked(&m, &p);
    mc_buf b;
    mc_buf_init(&b, 0);
    CHECK_EQ_INT(mc_srv_metrics_format(&m, &b), MC_OK);
    CHECK_CONTAINS(b.data, "# TYPE moecap_requests_total counter\n"
                           "moecap_requests_total{outcome=\"finished\"} 3\n"
                           "moecap_requests_total{outcome=\"cancelled\"} 0\n");
    CHECK_CONTAINS(b.data, "moecap_requests_total{outcome=\"invalid\"} 1\n");
    CHECK_CONTAINS(b.data, "moecap_prompt_tokens_total 40\n");
    CHECK_CONTAINS(b.data, "moecap_generation_tokens_total 12\n");
    CHECK_CONTAINS(b.data, "# TYPE moecap_time_to_first_token_seconds histogram\n"
                           "moecap_time_to_first_token_seconds_bucket{le=\"0.1\"} 2\n"
                           "moecap_time_to_first_token_seconds_bucket{le=\"1\"} 3\n"
                           "moecap_time_to_first_token_seconds_bucket{le=\"+Inf\"} 4\n"
                           "moecap_time_to_first_token_seconds_sum 3.65\n"
                           "moecap_time_to_first_token_seconds_count 4\n");
    CHECK_CONTAINS(b.data, "moecap_forward_pass_seconds_bucket{le=\"0.025\"} 2\n");
    CHECK_CONTAINS(b.data, "moecap_forward_pass_seconds_bucket{le=\"0.01\"} 0\n");
    CHECK_CONTAINS(b.data, "moecap_queue_depth 2\n");
    CHECK_CONTAINS(b.data, "moecap_batch_size 4\n");
    CHECK_CONTAINS(b.data, "moecap_forward_passes_total{mode=\"decode\"} 2\n");
    CHECK_CONTAINS(b.data, "moecap_forward_passes_total{mode=\"prefill\"} 0\n");
    CHECK_CONTAINS(b.data, "moecap_forward_pass_tokens_total 8\n");
    CHECK_CONTAINS(b.data, "moecap_expert_activations_total{moe_layer=\"0\"} 6\n"
                           "moecap_expert_activations_total{moe_layer=\"1\"} 10\n");
    /* every line is a comment or "name{labels} value" */
    for (char *line = b.data; *line;) {
        char *nl = strchr(line, '\n');
        CHECK(nl != NULL);
        if (!nl)
            break;
        CHECK(line[0] == '#' || strchr(line, ' ') != NULL);
        line = nl + 1;
    }
    mc_buf_deinit(&b);
    mc_srv_metrics_deinit(&m);
}

/* ---- records ---- */

TEST(records)
{
    mc_srv_records rec;
    CHECK_EQ_INT(mc_srv_records_init(&rec, 3), MC_OK);
    mc_pass p;
    mc_pass_init(&p);
    p.mode = MC_PASS_PREFILL;
    p.batch_size = 1;
    p.new_tokens = 5;
    p.seq_lens_sum = 5;
    p.latency_s = 0.5;
    mc_req_chunk ch = {"cmpl-1", 5, 5, 1};
    p.chunks = &ch;
    p.n_chunks = 1;
    p.gpu_num = 1;
    snprintf(p.gpu_raw_type, sizeof p.gpu_raw_type, "xeon");
    mc_srv_records_push(&rec, &p); /* not recording: ignored */
    CHECK_EQ_INT(mc_srv_records_count(&rec), 0);
    mc_srv_records_start(&rec);
    for (int i = 0; i < 5; i++) {
        p.forward_pass_id = i;
        CHECK_EQ_INT(mc_srv_records_push(&rec, &p), MC_OK);
    }
    mc_buf b;
    int64_t n = 0;
    uint64_t dropped = 0;
    mc_buf_init(&b, 0);
    CHECK_EQ_INT(mc_srv_records_dump(&rec, 0, &b, &n, &dropped), MC_OK);
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_INT(dropped, 2); /* the two oldest */
    const char *line2 = "{\"forward_pass_id\":2,\"forward_mode\":\"prefill\",\"batch_size\":1,"
                        "\"new_tokens\":5,\"seq_lens_sum\":5,\"latency\":0.5,\"per_req_info\":[{"
                        "\"req_id\":\"cmpl-1\",\"extend_len\":5,\"total_len\":5,\"is_last_chunk\":"
                        "true}],\"gpu_num\":1,\"gpu_raw_type\":\"xeon\"}\n";
    CHECK(strncmp(b.data, line2, strlen(line2)) == 0);
    mc_pass_set set; /* and cap's reader reads them back */
    mc_pass_set_init(&set);
    CHECK_EQ_INT(mc_pass_parse_jsonl(b.data, b.len, 1, 0, &set, NULL), MC_OK);
    CHECK_EQ_INT(set.n, 3);
    CHECK_EQ_INT(set.v[2].forward_pass_id, 4);
    CHECK_EQ_INT(set.v[2].chunks[0].is_last_chunk, 1);
    mc_pass_set_deinit(&set);
    mc_buf_reset(&b);
    CHECK_EQ_INT(mc_srv_records_dump(&rec, 1, &b, &n, &dropped), MC_OK);
    cJSON *a = cJSON_Parse(b.data);
    CHECK(cJSON_IsArray(a) && cJSON_GetArraySize(a) == 3);
    cJSON_Delete(a);
    mc_srv_records_stop(&rec);
    mc_srv_records_push(&rec, &p);
    CHECK_EQ_INT(mc_srv_records_count(&rec), 3);
    mc_srv_records_start(&rec); /* start clears */
    CHECK_EQ_INT(mc_srv_records_count(&rec), 0);
    mc_buf_reset(&b);
    CHECK_EQ_INT(mc_srv_records_dump(&rec, 1, &b, &n, &dropped), MC_OK);
    CHECK_STR(b.data, "[]");
    CHECK_EQ_INT(dropped, 0);
    mc_buf_deinit(&b);
    mc_srv_records_deinit(&rec);
}

/* ---- tokenize / detokenize / models ---- */

TEST(small_endpoints)
{
    mc_buf b;
    mc_srv_error err = {0};
    const mc_tok *t = srv_fake_tok(fake);
    mc_buf_init(&b, 0);
    const char *body = "{\"content\":\"ab\"}";
    CHECK_EQ_INT(mc_srv_tokenize(t, body, strlen(body), &b, &err), MC_OK);
    CHECK_STR(b.data, "{\"tokens\":[259,260,261]}");
    mc_buf_reset(&b);
    body = "{\"content\":\"a<|im_end|>\",\"add_special\":true,\"with_pieces\":true}";
    CHECK_EQ_INT(mc_srv_tokenize(t, body, strlen(body), &b, &err), MC_OK);
    CHECK_STR(b.data, "{\"tokens\":[{\"id\":1,\"piece\":\"<s>\"},{\"id\":259,\"piece\":\" \"},"
                      "{\"id\":260,\"piece\":\"a\"},{\"id\":287,\"piece\":\"<|im_end|>\"}]}");
    mc_buf_reset(&b);
    body = "{\"content\":5}";
    CHECK_EQ_INT(mc_srv_tokenize(t, body, strlen(body), &b, &err), MC_ERR_ARG);
    CHECK_STR(err.param, "content");
    body = "{\"content\":\"a\",\"parse_special\":\"no\"}";
    CHECK_EQ_INT(mc_srv_tokenize(t, body, strlen(body), &b, &err), MC_ERR_ARG);
    CHECK_STR(err.param, "parse_special");
    body = "{\"tokens\":[260,261,3,198,172]}"; /* a, b, <0x00>, <0xC3>, <0xA9> */
    CHECK_EQ_INT(mc_srv_detokenize(t, 288, body, strlen(body), &b, &err), MC_OK);
    CHECK_STR(b.data, "{\"content\":\"ab\\u0000\xc3\xa9\"}");
    mc_buf_reset(&b);
    body = "{\"tokens\":[259,260,259,261]}"; /* only the first piece's space goes */
    CHECK_EQ_INT(mc_srv_detokenize(t, 288, body, strlen(body), &b, &err), MC_OK);
    CHECK_STR(b.data, "{\"content\":\"a b\"}");
    mc_buf_reset(&b);
    body = "{\"tokens\":[260,288]}";
    CHECK_EQ_INT(mc_srv_detokenize(t, 288, body, strlen(body), &b, &err), MC_ERR_ARG);
    CHECK_CONTAINS(err.message, "'tokens'[1] is not a token id in [0, 288)");
    body = "{\"tokens\":\"ab\"}";
    CHECK_EQ_INT(mc_srv_detokenize(t, 288, body, strlen(body), &b, &err), MC_ERR_ARG);
    CHECK_EQ_INT(mc_srv_models_json("m1", 4096, 5, &b), MC_OK);
    CHECK_STR(b.data, "{\"object\":\"list\",\"data\":[{\"id\":\"m1\",\"object\":\"model\","
                      "\"created\":5,\"owned_by\":\"moecap\",\"max_model_len\":4096}]}");
    mc_buf_deinit(&b);
}

/* --max-tokens: a request asking more is a 400 naming max_tokens; without max_tokens a chat
 * request gets the rest of the context, capped. */
TEST(max_tokens_cap)
{
    mc_tok_ids ids;
    mc_tok_ids_init(&ids);
    int64_t mt = 0;
    mc_srv_error err = {0};
    mc_srv_model_info mi = info(64, MC_CHAT_CHATML);
    mi.max_tokens = 8;
    const char *bodies[] = {"{\"prompt\":\"ab\",\"max_tokens\":9}", "{\"prompt\":\"ab\",\"max_tokens\":8}",
                            "{\"messages\":[{\"role\":\"user\",\"content\":\"ab\"}]}"};
    mc_srv_kind kinds[] = {MC_SRV_COMPLETION, MC_SRV_COMPLETION, MC_SRV_CHAT};
    mc_err want[] = {MC_ERR_ARG, MC_OK, MC_OK};
    int64_t want_mt[] = {0, 8, 8};
    for (int i = 0; i < 3; i++) {
        mc_srv_params p;
        mt = 0;
        ids.n = 0;
        CHECK_EQ_INT(mc_srv_parse_request(kinds[i], bodies[i], strlen(bodies[i]), &p, &err), MC_OK);
        CHECK_EQ_INT(mc_srv_prepare(&p, &mi, &ids, &mt, &err), want[i]);
        CHECK_EQ_INT(mt, want_mt[i]);
        mc_srv_params_deinit(&p);
    }
    mc_srv_params p;
    CHECK_EQ_INT(mc_srv_parse_request(MC_SRV_COMPLETION, bodies[0], strlen(bodies[0]), &p, &err),
                 MC_OK);
    CHECK_EQ_INT(mc_srv_prepare(&p, &mi, &ids, &mt, &err), MC_ERR_ARG);
    CHECK_EQ_INT(err.status, 400);
    CHECK_STR(err.code, "invalid_value");
    CHECK_STR(err.param, "max_tokens");
    CHECK_STR(err.message, "'max_tokens' must be at most 8 on this server, got 9");
    mc_srv_params_deinit(&p);
    mc_tok_ids_deinit(&ids);
}

int main(void)
{
    fake = srv_fake_new(1, 64, 64);
    if (!fake)
        return 1;
    RUN(chat_detect);
    RUN(chat_render);
    RUN(stop_scan);
    RUN(prepare);
    RUN(max_tokens_cap);
    RUN(generate_text);
    RUN(format_response);
    RUN(format_stream);
    RUN(metrics);
    RUN(records);
    RUN(small_endpoints);
    srv_fake_free(fake);
    return harness_done();
}
