/* test_fidelity.c: the fidelity figures: KL divergence from full logits against a hand-computed
 * value, identical models (KL 0, agreement 1, perplexity ratio 1), the top-N estimate (hand
 * computed, and equal to the exact KL when the lists hold the whole vocabulary), the split of a
 * text into sequences, and the HTTP path against two scripted mock servers whose top
 * log-probabilities are known (including a tokenizer mismatch). The in-process path needs the
 * engine: without it the call says so; with it a model against itself gives KL 0. */
#include "eval.h"
#include "harness.h"
#include "mock_server.h"

#include <cjson/cJSON.h>
#include <math.h>

TEST(kl_from_logits)
{
    mc_fid f;
    mc_fid_init(&f);
    float ref[3] = {0, 0, 0}, cand[3] = {(float)log(2.0), 0, 0};
    mc_fid_add_logits(&f, ref, cand, 3, 1);
    double want = (log((1.0 / 3) / 0.5) + 2 * log((1.0 / 3) / 0.25)) / 3;
    mc_fid_result r;
    mc_fid_result_of(&f, &r);
    CHECK_NEAR(r.kl_mean, want, 1e-7);
    CHECK_NEAR(r.top1_agree, 1, 0); /* ref ties go to the lowest id (0), cand argmax 0 */
    CHECK_NEAR(r.ppl_ref, 3, 1e-6);
    CHECK_NEAR(r.ppl_cand, 4, 1e-6);
    CHECK_NEAR(r.ppl_ratio, 4.0 / 3.0, 1e-6);
    CHECK(isnan(r.kl_stderr));

    /* identical distributions: KL exactly 0, agreement 1, ratio 1 */
    mc_fid_init(&f);
    mc_rng g;
    mc_rng_seed(&g, 5);
    float v[64];
    for (int pos = 0; pos < 50; pos++) {
        for (int i = 0; i < 64; i++)
            v[i] = (float)(mc_rng_normal(&g) * 3);
        mc_fid_add_logits(&f, v, v, 64, pos % 64);
    }
    mc_fid_result_of(&f, &r);
    CHECK_EQ_INT(r.positions, 50);
    CHECK_NEAR(r.kl_mean, 0, 1e-15);
    CHECK_NEAR(r.kl_max, 0, 1e-15);
    CHECK_NEAR(r.top1_agree, 1, 0);
    CHECK_NEAR(r.ppl_ratio, 1, 1e-15);
    CHECK_NEAR(r.kl_stderr, 0, 1e-15);
}

static mc_ev_top tp(const char *t, double p)
{
    return (mc_ev_top){(char *)(uintptr_t)t, log(p)};
}

TEST(kl_from_top_lists)
{
    mc_fid f;
    mc_fid_init(&f);
    mc_ev_top ref[2] = {tp("a", 0.5), tp("b", 0.3)}, cand[2] = {tp("a", 0.4), tp("c", 0.35)};
    mc_fid_add_top(&f, ref, 2, cand, 2, log(0.3), log(0.25));
    double want = 0.5 * log(0.5 / 0.4) + 0.3 * log(0.3 / 0.25) + 0.2 * log(0.2 / 0.35);
    mc_fid_result r;
    mc_fid_result_of(&f, &r);
    CHECK_NEAR(r.kl_mean, want, 1e-12);
    CHECK_NEAR(r.top1_agree, 1, 0);
    CHECK_NEAR(r.missing_ref_mean, 0.2, 1e-12);
    CHECK_NEAR(r.cand_missing_frac, 0.5, 0);
    CHECK_NEAR(r.ppl_ratio, 0.3 / 0.25, 1e-12);

    /* lists that hold the whole vocabulary give the exact KL of the logits */
    mc_rng g;
    mc_rng_seed(&g, 11);
    for (int trial = 0; trial < 20; trial++) {
        float a[5], b[5];
        double sa = 0, sb = 0;
        for (int i = 0; i < 5; i++) {
            a[i] = (float)mc_rng_normal(&g);
            b[i] = (float)mc_rng_normal(&g);
            sa += exp(a[i]);
            sb += exp(b[i]);
        }
        char names[5][2] = {"0", "1", "2", "3", "4"};
        mc_ev_top la[5], lb[5];
        for (int i = 0; i < 5; i++) {
            la[i] = (mc_ev_top){names[i], a[i] - log(sa)};
            lb[i] = (mc_ev_top){names[4 - i], b[4 - i] - log(sb)}; /* order does not matter */
        }
        mc_fid x, y;
        mc_fid_init(&x);
        mc_fid_init(&y);
        mc_fid_add_logits(&x, a, b, 5, -1);
        mc_fid_add_top(&y, la, 5, lb, 5, NAN, NAN);
        CHECK_NEAR(x.kl_sum, y.kl_sum, 1e-9);
        CHECK_EQ_INT(x.agree, y.agree);
    }
}

TEST(texts_split)
{
    const char *t = "First paragraph here.\n\nSecond one, a bit longer than that.\n\n\n   \n\n"
                    "Third.";
    mc_fid_texts x;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_fid_texts_split(t, strlen(t), 40, &x, &d), MC_OK);
    CHECK_EQ_INT(x.n, 3);
    if (x.n == 3) {
        CHECK_STR(x.seg[0], "First paragraph here.");
        CHECK_STR(x.seg[1], "Second one, a bit longer than that.");
        CHECK_STR(x.seg[2], "Third.");
    }
    mc_fid_texts_deinit(&x);
    CHECK_EQ_INT(mc_fid_texts_split(t, strlen(t), 4096, &x, &d), MC_OK);
    CHECK_EQ_INT(x.n, 1);
    mc_fid_texts_deinit(&x);
    const char *long_word = "abcdefghijklmnopqrstuvwxyz\xC3\xA9\xC3\xA9\xC3\xA9";
    CHECK_EQ_INT(mc_fid_texts_split(long_word, strlen(long_word), 27, &x, &d), MC_OK);
    CHECK_EQ_INT(x.n, 2);
    if (x.n == 2)
        CHECK_STR(x.seg[1], "\xC3\xA9\xC3\xA9\xC3\xA9"); /* never inside a character */
    mc_fid_texts_deinit(&x);
    CHECK_EQ_INT(mc_fid_texts_split("\n\n ", 3, 100, &x, &d), MC_ERR_FORMAT);
}

/* ---- HTTP: two scripted servers ------------------------------------------------------------ */

typedef struct fscript {
    double p_actual, p_x; /* probabilities of the actual next token and of token "x" */
    int split_first;      /* tokenise differently (the mismatch case) */
} fscript;

static void fid_script(const char *body, size_t len, mc_mock_reply *r, void *ctx)
{
    const fscript *s = ctx;
    cJSON *req = cJSON_ParseWithLength(body, len);
    const char *prompt = cJSON_GetStringValue(cJSON_GetObjectItem(req, "prompt"));
    cJSON *o = cJSON_CreateObject(), *ch = cJSON_AddArrayToObject(o, "choices");
    cJSON *c0 = cJSON_CreateObject();
    cJSON_AddItemToArray(ch, c0);
    cJSON *lp = cJSON_AddObjectToObject(c0, "logprobs");
    cJSON *toks = cJSON_AddArrayToObject(lp, "tokens"),
          *lps = cJSON_AddArrayToObject(lp, "token_logprobs");
    cJSON *tops = cJSON_AddArrayToObject(lp, "top_logprobs"),
          *offs = cJSON_AddArrayToObject(lp, "text_offset");
    size_t n = prompt ? strlen(prompt) : 0;
    for (size_t i = 0; i < n;) {
        size_t e = i + 1;
        while (e < n && prompt[e] != ' ')
            e++;
        if (s->split_first && i == 0 && e - i > 1)
            e = i + 1;
        char piece[128];
        snprintf(piece, sizeof piece, "%.*s", (int)(e - i), prompt + i);
        cJSON_AddItemToArray(toks, cJSON_CreateString(piece));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)i));
        if (i == 0) {
            cJSON_AddItemToArray(lps, cJSON_CreateNull());
            cJSON_AddItemToArray(tops, cJSON_CreateNull());
        } else {
            cJSON_AddItemToArray(lps, cJSON_CreateNumber(log(s->p_actual)));
            cJSON *t = cJSON_CreateObject();
            cJSON_AddNumberToObject(t, piece, log(s->p_actual));
            cJSON_AddNumberToObject(t, "x", log(s->p_x));
            cJSON_AddItemToArray(tops, t);
        }
        i = e;
    }
    char *str = cJSON_PrintUnformatted(o);
    r->raw = mc_strdup(str);
    cJSON_free(str);
    cJSON_Delete(o);
    cJSON_Delete(req);
}

static mc_mock *fmock(fscript *s)
{
    mc_mock_opts mo = {.script = fid_script, .script_ctx = s};
    mc_mock *m = NULL;
    mc_diag d = {{0}};
    if (mc_mock_start(&mo, &m, &d) != MC_OK)
        HARNESS_FAIL_("mock: %s", d.msg);
    return m;
}

TEST(fidelity_over_http)
{
    const char *text = "one two three four five\n\nsix seven eight\n\nnine ten";
    mc_fid_texts t;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_fid_texts_split(text, strlen(text), 24, &t, &d), MC_OK);
    CHECK_EQ_INT(t.n, 3); /* 5 + 3 + 2 tokens: 4 + 2 + 1 = 7 positions */
    fscript a = {0.6, 0.3, 0}, b = {0.5, 0.4, 0}, c = {0.6, 0.3, 1};
    mc_mock *ma = fmock(&a), *mb = fmock(&b), *mc = fmock(&c);
    mc_fid_opts o = {.ref = mc_mock_url(ma),
                     .cand = mc_mock_url(ma),
                     .top_n = 2,
                     .concurrency = 2,
                     .timeout_s = 30};
    mc_fid f;
    mc_fid_result r;
    mc_fid_init(&f);
    CHECK_EQ_INT(mc_fid_run_http(&o, &t, &f, &d), MC_OK);
    mc_fid_result_of(&f, &r);
    CHECK_EQ_INT(r.positions, 7);
    CHECK_NEAR(r.kl_mean, 0, 1e-15);
    CHECK_NEAR(r.top1_agree, 1, 0);
    CHECK_NEAR(r.ppl_ratio, 1, 1e-15);
    CHECK_NEAR(r.ppl_ref, 1 / 0.6, 1e-12);

    o.cand = mc_mock_url(mb);
    mc_fid_init(&f);
    CHECK_EQ_INT(mc_fid_run_http(&o, &t, &f, &d), MC_OK);
    mc_fid_result_of(&f, &r);
    double kl = 0.6 * log(0.6 / 0.5) + 0.3 * log(0.3 / 0.4) + 0.1 * log(0.1 / 0.1);
    CHECK_NEAR(r.kl_mean, kl, 1e-12);
    CHECK_NEAR(r.kl_max, kl, 1e-12);
    CHECK_NEAR(r.top1_agree, 1, 0);
    CHECK_NEAR(r.ppl_ratio, 0.6 / 0.5, 1e-12);
    CHECK_NEAR(r.missing_ref_mean, 0.1, 1e-12);

    o.max_tokens = 3; /* stops after 3 positions */
    mc_fid_init(&f);
    CHECK_EQ_INT(mc_fid_run_http(&o, &t, &f, &d), MC_OK);
    CHECK_EQ_INT(f.n, 3);

    o.max_tokens = 0;
    o.cand = mc_mock_url(mc);
    mc_fid_init(&f);
    CHECK_EQ_INT(mc_fid_run_http(&o, &t, &f, &d), MC_ERR_FORMAT);
    CHECK_CONTAINS(d.msg, "fidelity needs the same tokenizer on both sides");
    o.cand = "http://127.0.0.1:1";
    CHECK_EQ_INT(mc_fid_run_http(&o, &t, &f, &d), MC_ERR_NET);
    CHECK_CONTAINS(d.msg, "connect");
    mc_mock_stop(ma);
    mc_mock_stop(mb);
    mc_mock_stop(mc);
    mc_fid_texts_deinit(&t);
}

TEST(engine_path)
{
    mc_fid_texts t = {0};
    mc_fid f;
    mc_fid_init(&f);
    mc_diag d = {{0}};
    mc_fid_opts o = {.ref = "/nonexistent.gguf", .cand = "/nonexistent.gguf"};
    mc_err e = mc_fid_run_engine(&o, &t, &f, &d);
    if (!mc_fid_have_engine()) {
        CHECK_EQ_INT(e, MC_ERR_UNSUPPORTED);
        CHECK_CONTAINS(d.msg, "this build has no inference engine");
        return;
    }
    CHECK(e != MC_OK);
    CHECK_CONTAINS(d.msg, "/nonexistent.gguf");
}

int main(void)
{
    RUN(kl_from_logits);
    RUN(kl_from_top_lists);
    RUN(texts_split);
    RUN(fidelity_over_http);
    RUN(engine_path);
    return harness_done();
}
