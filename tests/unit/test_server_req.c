/* test_server_req.c: request parsing and validation of the server (src/server/req.c): every
 * rejection's status, parameter, code and message, the accepted forms of each field, and the
 * OpenAI error body. */
#include "harness.h"
#include "server_impl.h"

#include <cjson/cJSON.h>

typedef struct bad_case {
    mc_srv_kind kind;
    const char *body;
    const char *param; /* "" = null */
    const char *code;
    const char *msg; /* substring of the message */
} bad_case;

#define C MC_SRV_COMPLETION
#define H MC_SRV_CHAT
#define MSG "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"

static const bad_case bad_cases[] = {
    {C, "", "", "invalid_json", "invalid JSON near byte 1"},
    {C, "{\"prompt\": \"a\"", "", "invalid_json", "invalid JSON"},
    {C, "{\"prompt\": \"a\"} x", "", "invalid_json", "text after the JSON object at byte 17"},
    {C, "[1, 2]", "", "invalid_json", "must be a JSON object"},
    {C, "\"hello\"", "", "invalid_json", "must be a JSON object"},
    {C, "{\"prompt\": \"\xff\"}", "", "invalid_utf8", "not valid UTF-8 (byte 13)"},
    {C, "{\"prompt\": \"\xc0\xaf\"}", "", "invalid_utf8", "not valid UTF-8 (byte 13)"},
    {C, "{\"prompt\": \"\xed\xa0\x80\"}", "", "invalid_utf8", "not valid UTF-8"},
    {C, "{\"prompt\": \"a\\u0000b\"}", "", "invalid_value", "NUL character"},
    {C, "{\"prompt\": \"\\ud800\"}", "", "invalid_json", "invalid JSON"},
    {C, "{}", "prompt", "missing_parameter", "'prompt' is required"},
    {C, "{\"prompt\": null}", "prompt", "missing_parameter", "'prompt' is required"},
    {C, "{\"prompt\": 5}", "prompt", "invalid_type", "'prompt' must be a string"},
    {C, "{\"prompt\": []}", "prompt", "invalid_value", "'prompt' is empty"},
    {C, "{\"prompt\": [1, \"a\"]}", "prompt", "invalid_type", "integers >= 0 (item 1)"},
    {C, "{\"prompt\": [1, -2]}", "prompt", "invalid_type", "(item 1)"},
    {C, "{\"prompt\": [1.5]}", "prompt", "invalid_type", "(item 0)"},
    {C, "{\"prompt\": [\"a\", \"b\"]}", "prompt", "invalid_value", "one prompt per request"},
    {C, "{\"prompt\": [[1], [2]]}", "prompt", "invalid_value", "(got 2)"},
    {C, "{\"prompt\": [{}]}", "prompt", "invalid_type", "must be a string"},
    {C, "{\"prompt\": \"a\", \"max_tokens\": 0}", "max_tokens", "invalid_value",
     "'max_tokens' must be at least 1"},
    {C, "{\"prompt\": \"a\", \"max_tokens\": -5}", "max_tokens", "invalid_value", "at least 1"},
    {C, "{\"prompt\": \"a\", \"max_tokens\": 2.5}", "max_tokens", "invalid_type",
     "'max_tokens' must be an integer"},
    {C, "{\"prompt\": \"a\", \"max_tokens\": \"7\"}", "max_tokens", "invalid_type", "an integer"},
    {C, "{\"prompt\": \"a\", \"max_tokens\": 1e12}", "max_tokens", "invalid_value", "must be in"},
    {C, "{\"prompt\": \"a\", \"temperature\": \"hot\"}", "temperature", "invalid_type",
     "'temperature' must be a number"},
    {C, "{\"prompt\": \"a\", \"temperature\": -0.5}", "temperature", "invalid_value",
     "must be in [0, 1e+06]"},
    {C, "{\"prompt\": \"a\", \"top_p\": 0}", "top_p", "invalid_value", "(0, 1]"},
    {C, "{\"prompt\": \"a\", \"top_p\": 1.5}", "top_p", "invalid_value", "must be in"},
    {C, "{\"prompt\": \"a\", \"top_k\": -2}", "top_k", "invalid_value", "must be in [-1,"},
    {C, "{\"prompt\": \"a\", \"top_k\": true}", "top_k", "invalid_type", "an integer"},
    {C, "{\"prompt\": \"a\", \"seed\": \"x\"}", "seed", "invalid_type", "an integer"},
    {C, "{\"prompt\": \"a\", \"n\": 2}", "n", "invalid_value", "'n' must be in [1, 1]"},
    {C, "{\"prompt\": \"a\", \"best_of\": 3}", "best_of", "invalid_value", "[1, 1]"},
    {C, "{\"prompt\": \"a\", \"stream\": 1}", "stream", "invalid_type", "a boolean"},
    {C, "{\"prompt\": \"a\", \"stream_options\": {\"include_usage\": true}}", "stream_options",
     "invalid_value", "needs 'stream': true"},
    {C, "{\"prompt\": \"a\", \"stream\": true, \"stream_options\": 3}", "stream_options",
     "invalid_type", "an object"},
    {C, "{\"prompt\": \"a\", \"stream\": true, \"stream_options\": {\"include_usage\": 1}}",
     "stream_options.include_usage", "invalid_type", "a boolean"},
    {C, "{\"prompt\": \"a\", \"stop\": 3}", "stop", "invalid_type", "a string or an array"},
    {C, "{\"prompt\": \"a\", \"stop\": [\"x\", 3]}", "stop", "invalid_type", "a string or"},
    {C, "{\"prompt\": \"a\", \"stop\": \"\"}", "stop", "invalid_value", "1 to 256 bytes"},
    {C,
     "{\"prompt\": \"a\", \"stop\": [\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\","
     "\"10\",\"11\",\"12\",\"13\",\"14\",\"15\",\"16\",\"17\"]}",
     "stop", "invalid_value", "at most 16"},
    {C, "{\"prompt\": \"a\", \"ignore_eos\": \"yes\"}", "ignore_eos", "invalid_type", "a boolean"},
    {C, "{\"prompt\": \"a\", \"echo\": 1}", "echo", "invalid_type", "a boolean"},
    {C, "{\"prompt\": \"a\", \"logprobs\": 21}", "logprobs", "invalid_value", "[0, 20]"},
    {C, "{\"prompt\": \"a\", \"logprobs\": true}", "logprobs", "invalid_type", "an integer"},
    {C, "{\"prompt\": \"a\", \"model\": 7}", "model", "invalid_type", "'model' must be a string"},
    {C, "{\"prompt\": \"a\", \"presence_penalty\": 0.5}", "presence_penalty",
     "unsupported_parameter", "not supported"},
    {C, "{\"prompt\": \"a\", \"logit_bias\": {\"1\": 5}}", "logit_bias", "unsupported_parameter",
     "not supported"},
    {H, "{}", "messages", "missing_parameter", "'messages' is required"},
    {H, "{\"messages\": []}", "messages", "invalid_value", "array of 1 to 4096"},
    {H, "{\"messages\": {}}", "messages", "invalid_value", "array of 1 to 4096"},
    {H, "{\"messages\": [3]}", "messages", "invalid_type", "messages[0] must be an object"},
    {H, "{\"messages\": [{\"content\": \"x\"}]}", "messages", "invalid_type",
     "messages[0].role must be a string"},
    {H, "{\"messages\": [{\"role\": \"tool\", \"content\": \"x\"}]}", "messages", "invalid_value",
     "role 'tool' is not supported"},
    {H, "{\"messages\": [{\"role\": \"user\"}]}", "messages", "invalid_type",
     "messages[0].content must be a string"},
    {H, "{\"messages\": [{\"role\": \"user\", \"content\": 5}]}", "messages", "invalid_type",
     "content must be"},
    {H, "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\"}]}]}",
     "messages", "invalid_value", "messages[0].content[0] must be"},
    {H, "{" MSG ", \"max_completion_tokens\": 0}", "max_completion_tokens", "invalid_value",
     "at least 1"},
    {H, "{" MSG ", \"logprobs\": 1}", "logprobs", "invalid_type", "a boolean"},
    {H, "{" MSG ", \"top_logprobs\": 3}", "top_logprobs", "invalid_value",
     "needs 'logprobs': true"},
    {H, "{" MSG ", \"logprobs\": true, \"top_logprobs\": 30}", "top_logprobs", "invalid_value",
     "[0, 20]"},
};

TEST(bad_requests)
{
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case *c = &bad_cases[i];
        mc_srv_params p;
        mc_srv_error err = {0};
        mc_err e = mc_srv_parse_request(c->kind, c->body, strlen(c->body), &p, &err);
        if (e != MC_ERR_ARG || err.status != 400 || strcmp(err.param, c->param) != 0 || !err.code ||
            strcmp(err.code, c->code) != 0 || !strstr(err.message, c->msg)) {
            HARNESS_FAIL_("case %zu (%s): e=%d status=%d param='%s' code='%s' msg='%s'", i, c->body,
                          e, err.status, err.param, err.code ? err.code : "(null)", err.message);
        }
        CHECK_STR(err.type, "invalid_request_error");
        CHECK(p.prompt == NULL && p.msgs == NULL && p.n_stop == 0); /* left in the init state */
    }
}

static mc_srv_params parse_ok(mc_srv_kind kind, const char *body)
{
    mc_srv_params p;
    mc_srv_error err = {0};
    mc_err e = mc_srv_parse_request(kind, body, strlen(body), &p, &err);
    if (e)
        HARNESS_FAIL_("parse %s: %s", body, err.message);
    return p;
}

TEST(completion_fields)
{
    mc_srv_params p = parse_ok(C, "{\"model\":\"m\",\"prompt\":\"Hello\",\"max_tokens\":7,"
                                  "\"temperature\":0,\"top_p\":0.5,\"top_k\":-1,\"seed\":42,"
                                  "\"stop\":[\"\\n\",\"END\"],\"n\":1,\"best_of\":1,"
                                  "\"ignore_eos\":true,\"logprobs\":3,\"echo\":true,"
                                  "\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                                  "\"presence_penalty\":0,\"logit_bias\":{},\"user\":\"x\","
                                  "\"unknown_field\":[1,2,{}]}");
    CHECK_STR(p.prompt, "Hello");
    CHECK_EQ_INT(p.prompt_len, 5);
    CHECK_EQ_INT(p.max_tokens, 7);
    CHECK_NEAR(p.samp.temperature, 0, 0);
    CHECK_NEAR(p.samp.top_p, 0.5, 0);
    CHECK_EQ_INT(p.samp.top_k, 0);
    CHECK_EQ_INT(p.samp.seed, 42);
    CHECK_EQ_INT(p.seed_given, 1);
    CHECK_EQ_INT(p.n_stop, 2);
    CHECK_STR(p.stop[0], "\n");
    CHECK_STR(p.stop[1], "END");
    CHECK_EQ_INT(p.ignore_eos, 1);
    CHECK_EQ_INT(p.logprobs, 1);
    CHECK_EQ_INT(p.top_logprobs, 3);
    CHECK_EQ_INT(p.echo, 1);
    CHECK_EQ_INT(p.stream, 1);
    CHECK_EQ_INT(p.include_usage, 1);
    mc_srv_params_deinit(&p);

    /* defaults: OpenAI's temperature 1, top_p 1; no max_tokens (0 = the default applies) */
    p = parse_ok(C, "{\"prompt\":\"x\",\"max_tokens\":null,\"stop\":null,\"logprobs\":null}");
    CHECK_NEAR(p.samp.temperature, 1, 0);
    CHECK_NEAR(p.samp.top_p, 1, 0);
    CHECK_EQ_INT(p.max_tokens, 0);
    CHECK_EQ_INT(p.logprobs, 0);
    CHECK_EQ_INT(p.seed_given, 0);
    CHECK_EQ_INT(p.stream, 0);
    mc_srv_params_deinit(&p);

    p = parse_ok(C, "{\"prompt\":\"x\",\"stop\":\"###\",\"logprobs\":0}");
    CHECK_EQ_INT(p.n_stop, 1);
    CHECK_STR(p.stop[0], "###");
    CHECK_EQ_INT(p.logprobs, 1);
    CHECK_EQ_INT(p.top_logprobs, 0);
    mc_srv_params_deinit(&p);
}

TEST(prompt_forms)
{
    mc_srv_params p = parse_ok(C, "{\"prompt\":[1,2,300]}");
    CHECK_EQ_INT(p.n_prompt_ids, 3);
    CHECK_EQ_INT(p.prompt_ids[2], 300);
    CHECK(p.prompt == NULL);
    mc_srv_params_deinit(&p);
    p = parse_ok(C, "{\"prompt\":[[5,6]]}");
    CHECK_EQ_INT(p.n_prompt_ids, 2);
    CHECK_EQ_INT(p.prompt_ids[0], 5);
    mc_srv_params_deinit(&p);
    p = parse_ok(C, "{\"prompt\":[\"only one\"]}");
    CHECK_STR(p.prompt, "only one");
    mc_srv_params_deinit(&p);
    p = parse_ok(C, "{\"prompt\":\"caf\xc3\xa9 \\u00e9\\n\"}");
    CHECK_STR(p.prompt, "caf\xc3\xa9 \xc3\xa9\n");
    mc_srv_params_deinit(&p);
    p = parse_ok(C, "{\"prompt\":\"\"}"); /* empty text: rejected later if it has no tokens */
    CHECK_STR(p.prompt, "");
    mc_srv_params_deinit(&p);
}

TEST(chat_fields)
{
    mc_srv_params p = parse_ok(H, "{\"messages\":[{\"role\":\"system\",\"content\":\"S\"},"
                                  "{\"role\":\"developer\",\"content\":\"D\"},"
                                  "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"
                                  "\"a\"},{\"type\":\"text\",\"text\":\"b\"}]},"
                                  "{\"role\":\"assistant\",\"content\":null},"
                                  "{\"role\":\"user\",\"content\":\"q\",\"name\":\"n\"}],"
                                  "\"max_tokens\":5,\"max_completion_tokens\":9,"
                                  "\"logprobs\":true,\"top_logprobs\":2,\"echo\":true}");
    CHECK_EQ_INT(p.n_msgs, 5);
    CHECK_EQ_INT(p.msgs[0].role, MC_ROLE_SYSTEM);
    CHECK_EQ_INT(p.msgs[1].role, MC_ROLE_SYSTEM);
    CHECK_STR(p.msgs[2].content, "a\nb");
    CHECK_EQ_INT(p.msgs[3].role, MC_ROLE_ASSISTANT);
    CHECK_STR(p.msgs[3].content, "");
    CHECK_STR(p.msgs[4].content, "q");
    CHECK_EQ_INT(p.max_tokens, 9); /* max_completion_tokens wins */
    CHECK_EQ_INT(p.logprobs, 1);
    CHECK_EQ_INT(p.top_logprobs, 2);
    CHECK_EQ_INT(p.echo, 0); /* completions only */
    mc_srv_params_deinit(&p);
}

TEST(error_body)
{
    mc_srv_error e;
    mc_buf b;
    mc_buf_init(&b, 0);
    CHECK_EQ_INT(mc_srv_fail(&e, 400, "invalid_value", "max_tokens", "bad \"%s\"", "x"),
                 MC_ERR_ARG);
    CHECK_EQ_INT(mc_srv_format_error(&e, &b), MC_OK);
    CHECK_STR(b.data,
              "{\"error\":{\"message\":\"bad \\\"x\\\"\",\"type\":\"invalid_request_error\","
              "\"param\":\"max_tokens\",\"code\":\"invalid_value\"}}");
    mc_buf_reset(&b);
    CHECK_EQ_INT(mc_srv_fail(&e, 503, NULL, NULL, "busy \xff"), MC_ERR_INTERNAL);
    CHECK_EQ_INT(mc_srv_format_error(&e, &b), MC_OK);
    CHECK_STR(b.data, "{\"error\":{\"message\":\"busy \xef\xbf\xbd\",\"type\":\"server_error\","
                      "\"param\":null,\"code\":null}}");
    mc_buf_reset(&b);
    mc_srv_fail(&e, 404, "unknown_url", NULL, "nope");
    CHECK_STR(e.type, "not_found_error");
    mc_buf_deinit(&b);
}

TEST(utf8)
{
    CHECK_EQ_INT(mc_srv_utf8_valid_len("abc", 3), 3);
    CHECK_EQ_INT(mc_srv_utf8_valid_len("a\xc3\xa9z", 4), 4);
    CHECK_EQ_INT(mc_srv_utf8_valid_len("a\xc3", 2), 1);             /* truncated */
    CHECK_EQ_INT(mc_srv_utf8_valid_len("\xe0\x80\x80", 3), 0);      /* overlong */
    CHECK_EQ_INT(mc_srv_utf8_valid_len("\xed\xa0\x80", 3), 0);      /* surrogate */
    CHECK_EQ_INT(mc_srv_utf8_valid_len("\xf4\x90\x80\x80", 4), 0);  /* > U+10FFFF */
    CHECK_EQ_INT(mc_srv_utf8_valid_len("\xf0\x9f\x98\x80!", 5), 5); /* emoji */
    CHECK_EQ_INT(mc_srv_utf8_valid_len("ok\x80", 3), 2);            /* stray continuation */
    mc_buf b;
    mc_buf_init(&b, 0);
    CHECK_EQ_INT(mc_srv_utf8_sanitize("a\xff\xc3\xa9\xc3", 5, &b), MC_OK);
    CHECK_STR(b.data, "a\xef\xbf\xbd\xc3\xa9\xef\xbf\xbd");
    mc_buf_reset(&b);
    CHECK_EQ_INT(mc_srv_utf8_sanitize("", 0, &b), MC_OK);
    CHECK_STR(b.data, "");
    mc_buf_deinit(&b);
}

/* Every prefix of a valid body either parses or fails with a 400, never anything else. */
TEST(truncations)
{
    const char *body = "{\"prompt\":[1,2],\"max_tokens\":3,\"stop\":[\"a\"],\"stream\":true,"
                       "\"stream_options\":{\"include_usage\":true},\"logprobs\":2}";
    size_t n = strlen(body);
    for (size_t i = 0; i <= n; i++) {
        mc_srv_params p;
        mc_srv_error err = {0};
        mc_err e = mc_srv_parse_request(C, body, i, &p, &err);
        CHECK(e == (i == n ? MC_OK : MC_ERR_ARG));
        CHECK(i == n || err.status == 400);
        mc_srv_params_deinit(&p);
    }
}

int main(void)
{
    RUN(bad_requests);
    RUN(completion_fields);
    RUN(prompt_forms);
    RUN(chat_fields);
    RUN(error_body);
    RUN(utf8);
    RUN(truncations);
    return harness_done();
}
