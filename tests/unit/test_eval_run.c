/* test_eval_run.c: evaluation runs end to end against the in-process mock server in scripted mode:
 * GSM8K items of ../shared/data answered right and wrong in varied formats (streamed and not,
 * completions and chat) with the exact accuracy, failures and unanswered counts checked;
 * log-likelihood scoring against a server whose log-probabilities are known (acc and acc_norm
 * differ on purpose, a failed choice fails its item); a server without prompt log-probabilities
 * is refused before the run; few-shot exemplars never scored; MMLU-Pro 5-shot from the
 * validation split, same category; the echo parser with byte and character offsets; per-item
 * JSON lines. */
#include "eval.h"
#include "harness.h"
#include "mock_server.h"

#include <cjson/cJSON.h>
#include <math.h>

/* ---- the script ----------------------------------------------------------------------------- */

enum { S_GSM8K = 0, S_LETTER_A, S_LOGLIK, S_TEXT_ONLY };

typedef struct script {
    int mode;
    const mc_ds *ds;
    uint64_t requests;
} script;

/* The prompt text of a request: "prompt", or the last message's content. */
static char *request_prompt(const char *body, size_t len)
{
    cJSON *j = cJSON_ParseWithLength(body, len);
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "prompt");
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(j, "messages");
    if (!cJSON_IsString(p) && cJSON_IsArray(msgs)) {
        const cJSON *last = cJSON_GetArrayItem(msgs, cJSON_GetArraySize(msgs) - 1);
        p = cJSON_GetObjectItemCaseSensitive(last, "content");
    }
    char *s = cJSON_IsString(p) ? mc_strdup(p->valuestring) : NULL;
    cJSON_Delete(j);
    return s;
}

/* The item whose text occurs last in the prompt (exemplars come before the question). */
static long find_item(const mc_ds *ds, const char *prompt)
{
    long best = -1;
    const char *best_at = NULL;
    for (size_t i = 0; i < mc_ds_count(ds); i++) {
        const char *at = strstr(prompt, mc_ds_at(ds, i)->text);
        if (at && (!best_at || at > best_at)) {
            best = (long)i;
            best_at = at;
        }
    }
    return best;
}

static void with_commas(const char *num, char *out, size_t cap)
{
    size_t n = strlen(num), w = 0;
    for (size_t i = 0; i < n && w + 2 < cap; i++) {
        out[w++] = num[i];
        if ((n - i - 1) % 3 == 0 && i + 1 < n)
            out[w++] = ',';
    }
    out[w] = 0;
}

/* GSM8K: pattern i % 12 (docs of the test: 6 right, 2 failed, 1 unanswered, 3 wrong). */
static void gsm8k_reply(const mc_ds_item *it, size_t i, mc_mock_reply *r)
{
    char g[64], c[64], buf[512];
    snprintf(g, sizeof g, "%s", it->answer);
    with_commas(g, c, sizeof c);
    int64_t v = 0;
    mc_parse_i64(g, -1000000000, 1000000000, &v);
    switch (i % 12) {
    case 0: snprintf(buf, sizeof buf, "Step 1: \"think\".\nStep 2: add 3.\n#### %s", g); break;
    case 1: snprintf(buf, sizeof buf, "Working... 12 + 7 = 19. The answer is %s.", g); break;
    case 2: snprintf(buf, sizeof buf, "So the total is \\boxed{%s}, done.", c); break;
    case 3: snprintf(buf, sizeof buf, "She pays $%s.00 in total.", c); break;
    case 4: snprintf(buf, sizeof buf, "#### %lld", (long long)v + 1); break;
    case 5: snprintf(buf, sizeof buf, "I don't know."); break;
    case 6: r->status = 500; return;
    case 7:
        snprintf(buf, sizeof buf, "<think>#### 0</think>The answer is **%s**\xE2\x9C\x85", g);
        break;
    case 8:
        snprintf(buf, sizeof buf, "The answer is %s. Hmm, the answer is %lld", g, (long long)v + 2);
        break;
    case 9: snprintf(buf, sizeof buf, "#### %s\n\nThat is 3 more than 4 days ago.", g); break;
    case 10: snprintf(buf, sizeof buf, "Answer: -$%s", g); break;
    default: r->status = 429; return;
    }
    r->text = mc_strdup(buf);
}

/* Log-likelihood: tokens are the prompt's words (with their leading space), byte offsets;
 * context tokens -1 each; the continuation's tokens share the total the test chose. */
static const double ll_totals[4][4] = {
    {-1.0, -2.0, -5.0, -6.0},  /* acc picks 0, acc_norm picks 1 (the long ending) */
    {-0.5, -4.0, -4.0, -4.0},  /* both pick 0 */
    {-3.0, -3.0, -0.1, -9.0},  /* both pick 2 */
    {-1.0, -1.0, -1.0, -1.0}}; /* choice 3 fails (HTTP 503) */

static char *echo_body(const char *prompt, size_t ctx_len, double total, int char_offsets)
{
    cJSON *o = cJSON_CreateObject(), *ch = cJSON_AddArrayToObject(o, "choices");
    cJSON *c0 = cJSON_CreateObject();
    cJSON_AddItemToArray(ch, c0);
    cJSON_AddStringToObject(c0, "text", prompt);
    cJSON *lp = cJSON_AddObjectToObject(c0, "logprobs");
    cJSON *toks = cJSON_AddArrayToObject(lp, "tokens"),
          *lps = cJSON_AddArrayToObject(lp, "token_logprobs");
    cJSON *offs = cJSON_AddArrayToObject(lp, "text_offset");
    size_t n = strlen(prompt), starts[512], k = 0, cont = 0;
    for (size_t i = 0; i < n && k < 512; i++)
        if (i == 0 || (prompt[i] == ' ' && prompt[i - 1] != ' '))
            starts[k++] = i;
    for (size_t t = 0; t < k; t++)
        cont += starts[t] >= ctx_len;
    for (size_t t = 0; t < k; t++) {
        size_t end = t + 1 < k ? starts[t + 1] : n, chars = 0;
        char piece[256];
        snprintf(piece, sizeof piece, "%.*s", (int)(end - starts[t]), prompt + starts[t]);
        cJSON_AddItemToArray(toks, cJSON_CreateString(piece));
        double v = t == 0 ? NAN : starts[t] >= ctx_len ? total / (double)cont : -1.0;
        cJSON_AddItemToArray(lps, isnan(v) ? cJSON_CreateNull() : cJSON_CreateNumber(v));
        for (size_t b = 0; b < starts[t]; b++)
            chars += ((unsigned char)prompt[b] & 0xC0) != 0x80;
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(char_offsets ? chars : starts[t])));
    }
    cJSON_AddItemToArray(toks, cJSON_CreateString("\n"));
    cJSON_AddItemToArray(lps, cJSON_CreateNumber(-0.5));
    size_t total_chars = 0;
    for (size_t b = 0; b < n; b++)
        total_chars += ((unsigned char)prompt[b] & 0xC0) != 0x80;
    cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(char_offsets ? total_chars : n)));
    char *s = cJSON_PrintUnformatted(o);
    char *r = mc_strdup(s);
    cJSON_free(s);
    cJSON_Delete(o);
    return r;
}

static void loglik_reply(const script *sc, const char *prompt, mc_mock_reply *r)
{
    for (size_t i = 0; i < mc_ds_count(sc->ds); i++) {
        const mc_ds_item *it = mc_ds_at(sc->ds, i);
        size_t cl = strlen(it->text);
        if (strncmp(prompt, it->text, cl) != 0 || prompt[cl] != ' ')
            continue;
        for (size_t k = 0; k < it->n_choices; k++)
            if (strcmp(prompt + cl + 1, it->choices[k]) == 0) {
                if (i == 3 && k == 3) {
                    r->status = 503;
                    return;
                }
                r->raw = echo_body(prompt, cl, ll_totals[i][k], i == 2);
                return;
            }
    }
    r->status = 404;
}

static void script_fn(const char *body, size_t len, mc_mock_reply *r, void *ctx)
{
    script *sc = ctx;
    sc->requests++;
    char *prompt = request_prompt(body, len);
    if (!prompt) {
        r->status = 400;
        return;
    }
    if (sc->mode == S_LOGLIK) {
        loglik_reply(sc, prompt, r);
    } else if (sc->mode == S_TEXT_ONLY) {
        r->text = mc_strdup("no log-probabilities here");
    } else if (sc->mode == S_LETTER_A) {
        r->text = mc_strdup("Let's see. The answer is (A).");
    } else {
        long i = find_item(sc->ds, prompt);
        if (i < 0)
            r->status = 404;
        else
            gsm8k_reply(mc_ds_at(sc->ds, (size_t)i), (size_t)i, r);
    }
    mc_free(prompt);
}

/* ---- collecting results --------------------------------------------------------------------- */

typedef struct got {
    size_t n;
    int correct[64], failed[64], pred[64], pred_norm[64];
    char extracted[64][32], rule[64][24];
    size_t shots[64];
    char prompt[64][32768];
    char line[64][2048];
} got;

static void on_item(const mc_ev_result *r, void *ctx)
{
    got *g = ctx;
    size_t i = r->index;
    if (i >= 64) {
        HARNESS_FAIL_("item index %zu out of the test's range", i);
        return;
    }
    g->n++;
    g->correct[i] = r->correct;
    g->failed[i] = r->failed;
    g->pred[i] = r->pred;
    g->pred_norm[i] = r->pred_norm;
    g->shots[i] = r->shots;
    snprintf(g->extracted[i], sizeof g->extracted[i], "%s", r->extracted ? r->extracted : "-");
    snprintf(g->rule[i], sizeof g->rule[i], "%s", r->rule ? r->rule : "");
    snprintf(g->prompt[i], sizeof g->prompt[i], "%s", r->prompt);
    char *line = mc_ev_result_json(r, 0);
    CHECK(line != NULL);
    snprintf(g->line[i], sizeof g->line[i], "%s", line ? line : "");
    mc_free(line);
}

static mc_mock *start_mock(script *sc)
{
    mc_mock_opts mo = {.ttft_ms = 1, .itl_ms = 0, .script = script_fn, .script_ctx = sc};
    mc_mock *m = NULL;
    mc_diag d = {{0}};
    if (mc_mock_start(&mo, &m, &d) != MC_OK)
        HARNESS_FAIL_("mock: %s", d.msg);
    return m;
}

static mc_ds *load_limit(const char *path, mc_ds_fmt fmt, uint64_t limit)
{
    mc_ds_opts o = {.fmt = fmt, .limit = limit};
    mc_ds *ds = NULL;
    mc_diag d = {{0}};
    if (mc_ds_load(&path, 1, &o, &ds, &d) != MC_OK)
        HARNESS_FAIL_("load %s: %s", path, d.msg);
    return ds;
}

/* ---- GSM8K end to end ------------------------------------------------------------------------ */

static void gsm8k_run(mc_ds *ds, mc_lg_endpoint ep, int stream)
{
    script sc = {.mode = S_GSM8K, .ds = ds};
    mc_mock *m = start_mock(&sc);
    static got g;
    memset(&g, 0, sizeof g);
    mc_ev_opts o = {.task = MC_EV_GSM8K,
                    .url = mc_mock_url(m),
                    .endpoint = ep,
                    .stream = stream,
                    .concurrency = 4,
                    .timeout_s = 30,
                    .top_p = -1,
                    .seed = -1,
                    .on_item = on_item,
                    .ctx = &g};
    mc_ev *ev = NULL;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_ev_new(&o, ds, NULL, &ev, &d), MC_OK);
    CHECK_EQ_INT(ev ? mc_ev_run(ev, &d) : MC_ERR_INTERNAL, MC_OK);
    mc_mock_stop(m);
    if (!ev)
        return;
    const mc_ev_tally *t = mc_ev_total(ev);
    CHECK_EQ_INT(g.n, 24);
    CHECK_EQ_INT(t->scored, 24);
    CHECK_EQ_INT(t->correct, 12);
    CHECK_EQ_INT(t->failed, 4);
    CHECK_EQ_INT(t->no_answer, 2);
    CHECK_EQ_INT(sc.requests, 24);
    for (size_t i = 0; i < 24; i++) {
        int want =
            i % 12 == 0 || i % 12 == 1 || i % 12 == 2 || i % 12 == 3 || i % 12 == 7 || i % 12 == 9;
        CHECK_EQ_INT(g.correct[i], want);
        CHECK_EQ_INT(g.failed[i], i % 12 == 6 || i % 12 == 11);
    }
    CHECK_STR(g.extracted[2], "70000"); /* "\boxed{70,000}" */
    CHECK_STR(g.rule[2], "boxed");
    CHECK_STR(g.extracted[3], "540"); /* "$540.00" */
    CHECK_STR(g.rule[3], "last number");
    CHECK_STR(g.extracted[4], "21"); /* gold 20, answered 21 */
    CHECK_STR(g.extracted[5], "-");
    CHECK_STR(g.rule[5], "none");
    CHECK_STR(g.extracted[8], "47"); /* gold 45: the later "answer is" wins */
    CHECK_STR(g.extracted[10], "-366");
    CHECK_STR(g.extracted[15], "125"); /* "$125.00" */
    CHECK_STR(g.extracted[19], "6");   /* the reasoning's "#### 0" is ignored */
    CHECK_STR(g.rule[19], "answer is");
    mc_ev_stat st;
    mc_ev_stat_binary(t->correct, t->scored, &st);
    CHECK_NEAR(st.mean, 0.5, 0);
    /* one per-item line, parsed back */
    cJSON *j = cJSON_Parse(g.line[6]);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(j, "failed")));
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "status")), "http_status");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "error")),
              "HTTP 500: {\"error\":{\"message\":\"scripted failure\"}}");
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(j, "correct")));
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "gold")), "260");
    cJSON_Delete(j);
    j = cJSON_Parse(g.line[7]);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "response")),
              "<think>#### 0</think>The answer is **160**\xE2\x9C\x85");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(j, "correct")));
    CHECK_NEAR(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "index")), 7, 0);
    cJSON_Delete(j);
    mc_ev_perf pf;
    CHECK_EQ_INT(mc_ev_perf_of(ev, &pf, &d), MC_OK);
    CHECK_EQ_INT(pf.requests, 24);
    CHECK_EQ_INT(pf.failed, 4);
    CHECK(pf.e2e_mean_s > 0);
    CHECK(stream ? pf.ttft_mean_s > 0 : isnan(pf.ttft_mean_s));
    mc_ev_free(ev);
}

TEST(gsm8k_scripted_all_endpoints)
{
    const char *p = harness_data_path("gsm8k/test.jsonl");
    if (!p)
        SKIP("../shared/data not present");
    mc_ds *ds = load_limit(p, MC_DS_GSM8K, 24);
    if (!ds)
        return;
    gsm8k_run(ds, MC_LG_COMPLETIONS, 1);
    gsm8k_run(ds, MC_LG_COMPLETIONS, 0);
    gsm8k_run(ds, MC_LG_CHAT, 1);
    gsm8k_run(ds, MC_LG_CHAT, 0);
    mc_ds_free(ds);
}

/* ---- few-shot exemplars are never scored ----------------------------------------------------- */

TEST(fewshot_never_scored)
{
    const char *p = harness_data_path("gsm8k/test.jsonl");
    if (!p)
        SKIP("../shared/data not present");
    mc_ds *ds = load_limit(p, MC_DS_GSM8K, 5); /* items 0..4 scored; exemplars from the rest */
    script sc = {.mode = S_GSM8K, .ds = ds};
    mc_mock *m = start_mock(&sc);
    static got g;
    memset(&g, 0, sizeof g);
    mc_ev_opts o = {.task = MC_EV_GSM8K,
                    .url = mc_mock_url(m),
                    .fewshot = 3,
                    .shot_seed = 9,
                    .top_p = -1,
                    .seed = -1,
                    .on_item = on_item,
                    .ctx = &g};
    mc_ev *ev = NULL;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_ev_new(&o, ds, NULL, &ev, &d), MC_OK);
    CHECK(ev && mc_ev_run(ev, &d) == MC_OK);
    CHECK_EQ_INT(g.n, 5);
    for (size_t i = 0; i < 5; i++) {
        CHECK_EQ_INT(g.shots[i], 3);
        for (size_t k = 0; k < 5; k++) /* no scored question appears as an exemplar */
            CHECK(k == i || !strstr(g.prompt[i], mc_ds_at(ds, k)->text));
        CHECK_EQ_INT(g.correct[i], i != 4); /* pattern 4 is wrong: the exemplars did not confuse
                                               the script */
    }
    CHECK_CONTAINS(mc_ev_shots_note(ev), "3 exemplar(s) from the 1314 loaded items");
    mc_ev_free(ev);
    mc_mock_stop(m);
    mc_ds_free(ds);

    /* every item selected: exemplars are drawn from the selection and excluded */
    const char *q = "{\"question\": \"Alpha?\", \"answer\": \"#### 1\"}\n"
                    "{\"question\": \"Beta?\", \"answer\": \"#### 2\"}\n"
                    "{\"question\": \"Gamma?\", \"answer\": \"#### 3\"}\n"
                    "{\"question\": \"Delta?\", \"answer\": \"#### 4\"}\n";
    char path[4200];
    snprintf(path, sizeof path, "%s/four.jsonl", harness_tmpdir());
    CHECK_EQ_INT(mc_write_file_atomic(path, q, strlen(q), &d), MC_OK);
    ds = load_limit(path, MC_DS_GSM8K, 0);
    o.url = "http://127.0.0.1:9";
    o.fewshot = 1;
    CHECK_EQ_INT(mc_ev_new(&o, ds, NULL, &ev, &d), MC_OK);
    size_t nx = 0;
    const size_t *x = ev ? mc_ev_excluded(ev, &nx) : NULL;
    CHECK_EQ_INT(nx, 1);
    CHECK_EQ_INT(ev ? mc_ev_n_items(ev) : 0, 3);
    CHECK_CONTAINS(ev ? mc_ev_shots_note(ev) : "", "excluded from scoring");
    CHECK(x && x[0] < 4);
    mc_ev_free(ev);
    o.fewshot = 4; /* nothing left */
    CHECK_EQ_INT(mc_ev_new(&o, ds, NULL, &ev, &d), MC_ERR_ARG);
    CHECK_CONTAINS(d.msg, "no item left to evaluate");
    mc_ds_free(ds);
}

TEST(mmlu_pro_fewshot_from_validation)
{
    const char *v = harness_data_path("mmlu_pro/validation.jsonl");
    const char *t = harness_data_path("mmlu_pro/test-00000-of-00003.jsonl");
    if (!v || !t)
        SKIP("../shared/data not present");
    char vpath[4200];
    snprintf(vpath, sizeof vpath, "%s", v);
    mc_ds *shots = load_limit(vpath, MC_DS_MMLU_PRO, 0);
    mc_ds *ds = load_limit(t, MC_DS_MMLU_PRO, 3);
    script sc = {.mode = S_LETTER_A, .ds = ds};
    mc_mock *m = start_mock(&sc);
    static got g;
    memset(&g, 0, sizeof g);
    mc_ev_opts o = {.task = MC_EV_MMLU_PRO,
                    .url = mc_mock_url(m),
                    .endpoint = MC_LG_CHAT,
                    .fewshot = 5,
                    .top_p = -1,
                    .seed = -1,
                    .on_item = on_item,
                    .ctx = &g};
    mc_ev *ev = NULL;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_ev_new(&o, ds, shots, &ev, &d), MC_OK);
    CHECK(ev && mc_ev_run(ev, &d) == MC_OK);
    CHECK_EQ_INT(g.n, 3);
    for (size_t i = 0; i < 3; i++) {
        const mc_ds_item *it = mc_ds_at(ds, i);
        CHECK_EQ_INT(g.shots[i], 5);
        size_t same = 0, other = 0;
        for (size_t k = 0; k < mc_ds_count(shots); k++) {
            const mc_ds_item *s = mc_ds_at(shots, k);
            /* JSON-escaped prompt: compare on the first 20 plain bytes of each question */
            char head[21];
            snprintf(head, sizeof head, "%s", s->text);
            int in = strchr(head, '"') == NULL && strchr(head, '\\') == NULL &&
                     strchr(head, '\n') == NULL && strstr(g.prompt[i], head) != NULL;
            if (strcmp(s->category, it->category) == 0)
                same += in;
            else
                other += in;
        }
        CHECK(same >= 3); /* (a few exemplar questions start with characters JSON escapes) */
        CHECK_EQ_INT(other, 0);
        CHECK_EQ_INT(g.correct[i], strcmp(it->answer, "A") == 0);
    }
    mc_ev_free(ev);
    mc_mock_stop(m);
    mc_ds_free(ds);
    mc_ds_free(shots);
}

/* ---- log-likelihood -------------------------------------------------------------------------- */

static const char hs4[] = "Cooking: She cracks the eggs. she\n1\n"
                          "stirs.\nwhisks them gently with a fork until the yolks and whites "
                          "blend.\nsings.\ndances.\n"
                          "Running: He ties his shoes. he\n0\n"
                          "runs.\nsleeps.\neats.\nreads.\n"
                          "Caf\xC3\xA9: The barista smiles. she\n2\n"
                          "frowns.\nleaves.\npours a caf\xC3\xA9 cr\xC3\xA8me.\ncries.\n"
                          "Gym: A man lifts weights. he\n0\n"
                          "rests.\nsweats.\nfalls.\nflies.\n";

TEST(loglik_known_logprobs)
{
    char path[4200];
    mc_diag d = {{0}};
    snprintf(path, sizeof path, "%s/hs4.txt", harness_tmpdir());
    CHECK_EQ_INT(mc_write_file_atomic(path, hs4, sizeof hs4 - 1, &d), MC_OK);
    mc_ds *ds = load_limit(path, MC_DS_HELLASWAG, 0);
    if (!ds)
        return;
    script sc = {.mode = S_LOGLIK, .ds = ds};
    mc_mock *m = start_mock(&sc);
    static got g;
    memset(&g, 0, sizeof g);
    mc_ev_opts o = {.task = MC_EV_HELLASWAG,
                    .method = MC_EV_LOGLIK,
                    .url = mc_mock_url(m),
                    .ll_max_tokens = 1,
                    .concurrency = 3,
                    .top_p = -1,
                    .seed = -1,
                    .on_item = on_item,
                    .ctx = &g};
    mc_ev *ev = NULL;
    CHECK_EQ_INT(mc_ev_new(&o, ds, NULL, &ev, &d), MC_OK);
    CHECK_EQ_INT(ev ? mc_ev_run(ev, &d) : MC_ERR_INTERNAL, MC_OK);
    if (!ev)
        return;
    CHECK_EQ_INT(sc.requests, 1 + 16); /* the probe, then every choice */
    CHECK_EQ_INT(g.n, 4);
    CHECK_EQ_INT(g.pred[0], 0);
    CHECK_EQ_INT(g.pred_norm[0], 1);
    CHECK_EQ_INT(g.pred[1], 0);
    CHECK_EQ_INT(g.pred_norm[1], 0);
    CHECK_EQ_INT(g.pred[2], 2);
    CHECK_EQ_INT(g.pred_norm[2], 2);
    CHECK_EQ_INT(g.failed[3], 1);
    CHECK_EQ_INT(g.pred[3], -1);
    const mc_ev_tally *t = mc_ev_total(ev);
    CHECK_EQ_INT(t->correct, 2);      /* items 1 and 2 */
    CHECK_EQ_INT(t->correct_norm, 3); /* items 0, 1 and 2 */
    CHECK_EQ_INT(t->failed, 1);
    cJSON *j = cJSON_Parse(g.line[0]);
    const cJSON *ll = cJSON_GetObjectItem(j, "ll");
    CHECK_NEAR(cJSON_GetNumberValue(cJSON_GetArrayItem(ll, 0)), -1.0, 1e-12);
    CHECK_NEAR(cJSON_GetNumberValue(cJSON_GetArrayItem(ll, 1)), -2.0, 1e-12);
    CHECK_NEAR(cJSON_GetNumberValue(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "cont_bytes"), 1)),
               65, 0);
    CHECK_NEAR(cJSON_GetNumberValue(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "cont_tokens"), 1)),
               12, 0);
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(j, "correct")));
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(j, "correct_norm")));
    cJSON_Delete(j);
    mc_ev_free(ev);
    mc_mock_stop(m);

    /* a server that answers without prompt log-probabilities is refused after one request */
    sc = (script){.mode = S_TEXT_ONLY, .ds = ds};
    m = start_mock(&sc);
    o.url = mc_mock_url(m);
    memset(&g, 0, sizeof g);
    CHECK_EQ_INT(mc_ev_new(&o, ds, NULL, &ev, &d), MC_OK);
    CHECK_EQ_INT(ev ? mc_ev_run(ev, &d) : MC_OK, MC_ERR_NET);
    CHECK_CONTAINS(d.msg, "log-likelihood scoring needs prompt log-probabilities");
    CHECK_EQ_INT(sc.requests, 1);
    CHECK_EQ_INT(g.n, 0);
    mc_ev_free(ev);
    mc_mock_stop(m);
    mc_ds_free(ds);
}

/* ---- the echo parser ------------------------------------------------------------------------ */

TEST(echo_bytes_and_chars)
{
    const char *prompt = "H\xC3\xA9llo w\xC3\xB6rld"; /* 13 bytes, 11 characters */
    const char *bodies[2] = {
        "{\"choices\":[{\"text\":\"x\",\"logprobs\":{\"tokens\":[\"H\",\"\xC3\xA9llo\",\" "
        "w\xC3\xB6\","
        "\"rld\",\"!\"],\"token_logprobs\":[null,-1.5,-2.0,-0.25,-3],\"text_offset\":[0,1,5,8,11],"
        "\"top_logprobs\":[null,{\"\xC3\xA9llo\":-1.5,\"ello\":-2.5},{\" w\xC3\xB6\":-2.0},"
        "{\"rld\":-0.25,\"x\":-4},{\"!\":-3}]}}]}",
        "{\"choices\":[{\"text\":\"x\",\"logprobs\":{\"tokens\":[\"H\",\"\xC3\xA9llo\",\" "
        "w\xC3\xB6\","
        "\"rld\",\"!\"],\"token_logprobs\":[null,-1.5,-2.0,-0.25,-3],\"text_offset\":[0,1,6,10,13],"
        "\"top_logprobs\":null}}]}"};
    for (int b = 0; b < 2; b++) {
        mc_ev_echo e;
        mc_diag d = {{0}};
        CHECK_EQ_INT(mc_ev_echo_parse(bodies[b], strlen(bodies[b]), prompt, 13, &e, &d), MC_OK);
        CHECK_EQ_INT(e.char_offsets, b == 0);
        CHECK_EQ_INT(e.n, 4);
        CHECK_EQ_INT(e.off[2], 6);
        CHECK_EQ_INT(e.off[3], 10);
        CHECK(isnan(e.lp[0]));
        double sum = 0;
        size_t nt = 0;
        CHECK_EQ_INT(mc_ev_echo_span(&e, 6, &sum, &nt, &d), MC_OK);
        CHECK_NEAR(sum, -2.25, 1e-12);
        CHECK_EQ_INT(nt, 2);
        CHECK_EQ_INT(mc_ev_echo_span(&e, 8, &sum, &nt, &d), MC_OK); /* inside " wö" */
        CHECK_EQ_INT(nt, 2);
        CHECK_EQ_INT(mc_ev_echo_span(&e, 0, &sum, &nt, &d), MC_ERR_FORMAT);
        CHECK_EQ_INT(mc_ev_echo_span(&e, 13, &sum, &nt, &d), MC_ERR_FORMAT);
        if (b == 0) {
            CHECK_EQ_INT(e.n_top[1], 2);
            CHECK_STR(e.top[1][1].tok, "ello");
            CHECK_NEAR(e.top[1][1].lp, -2.5, 0);
        }
        mc_ev_echo_deinit(&e);
    }
    mc_ev_echo e;
    mc_diag d = {{0}};
    const char *no = "{\"choices\":[{\"text\":\"x\",\"logprobs\":null}]}";
    CHECK_EQ_INT(mc_ev_echo_parse(no, strlen(no), "x", 1, &e, &d), MC_ERR_FORMAT);
    CHECK_CONTAINS(d.msg, "does the server support echo with logprobs");
    const char *err = "{\"error\":{\"message\":\"echo is not supported\"}}";
    CHECK_EQ_INT(mc_ev_echo_parse(err, strlen(err), "x", 1, &e, &d), MC_ERR_FORMAT);
    CHECK_STR(d.msg, "server error: echo is not supported");
    const char *uneven = "{\"choices\":[{\"logprobs\":{\"tokens\":[\"a\"],\"token_logprobs\":[],"
                         "\"text_offset\":[0]}}]}";
    CHECK_EQ_INT(mc_ev_echo_parse(uneven, strlen(uneven), "a", 1, &e, &d), MC_ERR_FORMAT);
    CHECK_STR(d.msg, "logprobs arrays differ in length");
}

TEST(bodies)
{
    char s1[] = "S", s2[] = "U \"q\"", t1[] = "T";
    mc_ev_msg msgs[2] = {{"system", s1}, {"user", s2}};
    mc_ev_prompt p = {.msgs = msgs, .n_msgs = 2};
    mc_ev_gen_opts o = {.endpoint = MC_LG_CHAT,
                        .model = "m",
                        .max_tokens = 7,
                        .temperature = 0,
                        .top_p = -1,
                        .seed = 3,
                        .stream = 1};
    char *b = mc_ev_body_gen(&o, &p);
    CHECK_STR(b, "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"S\"},{\"role\":"
                 "\"user\",\"content\":\"U \\\"q\\\"\"}],\"max_tokens\":7,\"temperature\":0,"
                 "\"seed\":3,\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
    mc_free(b);
    static const char *const stop[] = {"\nQ:", NULL};
    mc_ev_prompt q = {.text = t1, .stop = stop};
    o = (mc_ev_gen_opts){.endpoint = MC_LG_COMPLETIONS,
                         .max_tokens = 5,
                         .temperature = 0.5,
                         .top_p = 0.9,
                         .seed = -1};
    b = mc_ev_body_gen(&o, &q);
    CHECK_STR(b, "{\"prompt\":\"T\",\"stop\":[\"\\nQ:\"],\"max_tokens\":5,\"temperature\":0.5,"
                 "\"top_p\":0.9,\"stream\":false}");
    mc_free(b);
    b = mc_ev_body_echo("m", "ab", 1, 5, 1);
    CHECK_STR(b, "{\"model\":\"m\",\"prompt\":\"a\",\"max_tokens\":1,\"temperature\":0,\"echo\":"
                 "true,\"logprobs\":5,\"stream\":false}");
    mc_free(b);
}

TEST(sha256)
{
    char path[4200], hex[65];
    mc_diag d = {{0}};
    snprintf(path, sizeof path, "%s/abc.txt", harness_tmpdir());
    CHECK_EQ_INT(mc_write_file_atomic(path, "abc", 3, &d), MC_OK);
    CHECK_EQ_INT(mc_ev_sha256_file(path, hex, &d), MC_OK);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK_EQ_INT(mc_ev_sha256_file("/nonexistent", hex, &d), MC_ERR_IO);
    const char *g = harness_data_path("gsm8k/test.jsonl");
    if (g && mc_ev_sha256_file(g, hex, &d) == MC_OK)
        CHECK_STR(hex, "3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14");
}

int main(void)
{
    RUN(echo_bytes_and_chars);
    RUN(bodies);
    RUN(sha256);
    RUN(loglik_known_logprobs);
    RUN(gsm8k_scripted_all_endpoints);
    RUN(fewshot_never_scored);
    RUN(mmlu_pro_fewshot_from_validation);
    return harness_done();
}
