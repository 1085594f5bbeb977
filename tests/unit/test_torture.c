/* test_torture.c: allocation-failure torture (as curl's): each operation runs with allocation
 * number n made to fail (mc_alloc_fail_at), for n = 1, 2, ... until a run makes fewer than n
 * allocations, i.e. succeeds with no failure injected. Every injected failure must end in an
 * error (MC_ERR_NOMEM or one propagated from it) with a message, and never in a crash; leaks are
 * found by the ASan build's leak checker at exit (each operation frees everything it made).
 * cJSON allocates through mc_malloc too (alloc.c installs its hooks), so its failures are
 * covered.
 *
 * Operations: GGUF reading (mc_gguf_open of a generated tiny model), model loading (GGUF ->
 * mc_model), the engine opening that model, HF config.json parsing, per-pass records JSONL
 * parsing, report writing (mc_pass_format of those records, the eval tally JSON), a data set
 * load (GSM8K JSONL), and a server request (parse, chat rendering, tokenization, the request
 * object, the response body; /tokenize and /detokenize) on the fake backend's tokenizer.
 *
 * An operation that still succeeds although one of its allocations failed (it has a fallback)
 * is counted as "absorbed" and printed; that is allowed, not an error. An operation that checks
 * its own result returns MC_ERR_INTERNAL when it is wrong: that fails the test (an allocation
 * failure must not be turned into a different result, e.g. a record skipped as invalid). */
#include "data.h"
#include "engine_fixtures.h"
#include "eval.h"
#include "gguf.h"
#include "harness.h"
#include "model.h"
#include "server_impl.h"
#include "srv_fake.h"

#include <cjson/cJSON.h>
#include <stdio.h>

/* Under ASan the leak checker runs after every injected failure, so a leak is pinned to its
 * operation and allocation number (and fails the test) instead of one report at exit. */
#if defined(__SANITIZE_ADDRESS__)
#define TORTURE_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TORTURE_LSAN 1
#endif
#endif
#ifdef TORTURE_LSAN
#include <sanitizer/lsan_interface.h>
/* A leak stays leaked: after the first one, later checks would report it again. */
static int leak_seen;
static int leaked(void)
{
    if (leak_seen)
        return 0;
    leak_seen = __lsan_do_recoverable_leak_check();
    return leak_seen;
}
#else
static int leaked(void)
{
    return 0;
}
#endif

#define MAX_N 200000 /* no operation here makes this many allocations */

typedef mc_err (*op_fn)(mc_diag *d);

typedef struct walk_result {
    uint64_t allocs;   /* allocations of the successful run */
    uint64_t absorbed; /* injected failures after which the operation still succeeded */
    int bad;           /* failures that were not clean errors */
    int leaks;         /* runs after which the leak checker found something (ASan builds) */
    int other;         /* errors other than MC_ERR_NOMEM (propagated: allowed, printed) */
} walk_result;

/* Runs op with allocation n failing for n = 1, 2, ...; fills r. */
static void walk(const char *name, op_fn op, walk_result *r)
{
    memset(r, 0, sizeof *r);
    for (uint64_t n = 1; n < MAX_N; n++) {
        mc_diag d = {{0}};
        mc_alloc_fail_at(n);
        mc_err e = op(&d);
        uint64_t calls = mc_alloc_count();
        mc_alloc_fail_at(0);
        if (calls < n) { /* nothing was made to fail: this is the clean run */
            if (e != MC_OK)
                HARNESS_FAIL_("%s: fails without an injected failure: %s", name, d.msg);
            r->allocs = calls;
            break;
        }
        if (leaked() && r->leaks++ < 4)
            HARNESS_FAIL_("%s: leak after allocation %llu failed (error %d: %s)", name,
                          (unsigned long long)n, (int)e, d.msg);
        if (e == MC_OK) {
            if (r->absorbed++ < 4)
                fprintf(stderr, "torture %s: allocation %llu failed, the operation succeeded\n",
                        name, (unsigned long long)n);
        } else if (e == MC_ERR_INTERNAL) { /* the operation's own check: a wrong result */
            r->bad++;
            HARNESS_FAIL_("%s: allocation %llu failed: wrong result: %s", name,
                          (unsigned long long)n, d.msg);
        } else if (e != MC_ERR_NOMEM && r->other++ < 3) {
            fprintf(stderr, "torture %s: allocation %llu failed: error %d: %s\n", name,
                    (unsigned long long)n, (int)e, d.msg);
        }
        if (e != MC_OK && (d.msg[0] == 0 || strchr(d.msg, '\n'))) {
            r->bad++;
            HARNESS_FAIL_("%s: allocation %llu failed: error %d without a one-line message",
                          name, (unsigned long long)n, (int)e);
        }
    }
    fprintf(stderr, "torture %-15s %5llu allocations, %llu absorbed, %d other errors\n", name,
            (unsigned long long)r->allocs, (unsigned long long)r->absorbed, r->other);
}

/* ---- fixtures ---- */

static char model_path[4096], gsm_path[4096];
static srv_fake *fake;

static const char *hf_config =
    "{\"architectures\":[\"MixtralForCausalLM\"],\"model_type\":\"mixtral\",\"hidden_size\":4096,"
    "\"intermediate_size\":14336,\"num_hidden_layers\":32,\"num_attention_heads\":32,"
    "\"num_key_value_heads\":8,\"num_local_experts\":8,\"num_experts_per_tok\":2,"
    "\"vocab_size\":32000,\"max_position_embeddings\":32768,\"torch_dtype\":\"bfloat16\","
    "\"rope_theta\":1000000.0,\"rms_norm_eps\":1e-05,\"tie_word_embeddings\":false}";

static const char *records =
    "{\"forward_mode\":\"mixed\",\"batch_size\":3,\"new_tokens\":12,\"seq_lens_sum\":130,"
    "\"latency\":0.0125,\"experts_per_layer\":[5,6],\"tokens_per_expert\":[[1,0,3],[0,0,2]],"
    "\"gpu_raw_type\":\"x\"}\n"
    "{\"forward_pass_id\":7,\"forward_mode\":\"decode\",\"batch_size\":2,\"new_tokens\":2,"
    "\"seq_lens_sum\":40,\"latency\":0.01,\"expert_activation\":3.5,\"per_req_info\":"
    "[{\"req_id\":\"cmpl-1\",\"extend_len\":1,\"total_len\":20},{\"req_id\":\"cmpl-2\","
    "\"extend_len\":1,\"total_len\":20}],\"gpu_num\":1,\"gpu_raw_type\":\"h100\"}\n";

static const char *gsm8k =
    "{\"question\":\"Tom has 3 apples and buys 4 more. How many?\",\"answer\":\"3+4=7\\n#### 7\"}\n"
    "{\"question\":\"What is 6 times 7?\",\"answer\":\"6*7=42\\n#### 42\"}\n"
    "{\"question\":\"bad\"}\n";

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

/* ---- operations ---- */

static mc_err op_gguf(mc_diag *d)
{
    mc_gguf *g = NULL;
    mc_err e = mc_gguf_open(model_path, &g, d);
    char *arch = NULL;
    if (!e)
        e = mc_gguf_get_str_copy(g, "general.architecture", &arch, d);
    mc_free(arch);
    mc_gguf_free(g);
    return e;
}

static mc_err op_model(mc_diag *d)
{
    mc_model *m = NULL;
    mc_err e = mc_model_load_gguf(model_path, &m, d);
    mc_model_free(m);
    return e;
}

static mc_err op_engine(mc_diag *d)
{
    mc_engine_opts o;
    mc_engine_opts_default(&o);
    o.model_path = model_path;
    o.n_threads = 1;
    o.max_seqs = 2;
    o.n_ctx = 32;
    o.max_step_tokens = 16;
    mc_engine *eng = NULL;
    mc_err e = mc_engine_open(&o, &eng, d);
    mc_engine_free(eng);
    return e;
}

static mc_err op_hfconfig(mc_diag *d)
{
    mc_model *m = NULL;
    mc_err e = mc_model_parse_hf_config(hf_config, strlen(hf_config), "config.json", &m, d);
    mc_model_free(m);
    return e;
}

static mc_err op_records(mc_diag *d)
{
    mc_pass_set s;
    mc_pass_set_init(&s);
    mc_err e = mc_pass_parse_jsonl(records, strlen(records), 1, 0, &s, d);
    mc_pass_set_deinit(&s);
    return e;
}

/* report writing: the records formatted back, and an eval tally as JSON text */
static mc_err op_report(mc_diag *d)
{
    mc_pass_set s;
    mc_buf b;
    mc_pass_set_init(&s);
    mc_buf_init(&b, 0);
    mc_err e = mc_pass_parse_jsonl(records, strlen(records), 1, 0, &s, d);
    for (size_t i = 0; !e && i < s.n; i++)
        e = mc_pass_format(&s.v[i], &b, d);
    mc_pass_set_deinit(&s);
    mc_buf_deinit(&b);
    if (e)
        return e;
    mc_ev_tally t = {.n = 10, .scored = 10, .correct = 7, .em = 7, .sum = 7, .sumsq = 7};
    cJSON *j = mc_ev_tally_json(&t, MC_EV_METRIC_NUMERIC);
    char *txt = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    e = txt ? MC_OK : mc_fail(d, MC_ERR_NOMEM, "tally: out of memory");
    cJSON_free(txt);
    return e;
}

static mc_err op_dataset(mc_diag *d)
{
    const char *paths[] = {gsm_path};
    mc_ds_opts o = {.fmt = MC_DS_GSM8K};
    mc_ds *ds = NULL;
    mc_err e = mc_ds_load(paths, 1, &o, &ds, d);
    if (!e && mc_ds_count(ds) != 2)
        e = mc_fail(d, MC_ERR_INTERNAL, "gsm8k: %zu items, want 2", mc_ds_count(ds));
    mc_ds_free(ds);
    return e;
}

/* A server rejection under an injected failure: a 500 is the clean out-of-memory answer; a 400
 * would blame the client for the server's memory (a wrong result). */
static mc_err srv_err(const mc_srv_error *err, const char *what, mc_diag *d)
{
    if (err->status == 500)
        return mc_fail(d, MC_ERR_NOMEM, "%s: %s", what, err->message);
    return mc_fail(d, MC_ERR_INTERNAL, "%s: status %d: %s", what, err->status, err->message);
}

/* One request body through what the HTTP thread does with it (http.c make_request), then the
 * response body of the (unfinished) request. */
static mc_err server_request(mc_srv_kind kind, const char *body, mc_diag *d)
{
    mc_srv_model_info mi = {srv_fake_tok(fake), 288, 256, MC_CHAT_CHATML,
                            mc_srv_max_piece_bytes(srv_fake_tok(fake)), 0};
    mc_srv_params p;
    mc_srv_error err = {0};
    mc_tok_ids ids;
    int64_t max_tokens = 0;
    mc_tok_ids_init(&ids);
    mc_err e = mc_srv_parse_request(kind, body, strlen(body), &p, &err);
    if (e)
        return srv_err(&err, "request", d);
    e = mc_srv_prepare(&p, &mi, &ids, &max_tokens, &err);
    if (e) {
        mc_srv_params_deinit(&p);
        mc_tok_ids_deinit(&ids);
        return srv_err(&err, "prepare", d);
    }
    mc_srv_req *r = mc_srv_req_new(&p, ids.v, (int64_t)ids.n, max_tokens);
    if (!r)
        return mc_fail(d, MC_ERR_NOMEM, "request: out of memory");
    mc_buf out;
    mc_buf_init(&out, 0);
    snprintf(r->id, sizeof r->id, "cmpl-1");
    r->model_id = "fake-moe";
    e = r->p.echo ? mc_srv_req_set_echo(r, srv_fake_tok(fake)) : MC_OK;
    pthread_mutex_lock(&r->mu);
    if (!e)
        e = mc_srv_fmt_response(r, srv_fake_tok(fake), &out);
    pthread_mutex_unlock(&r->mu);
    mc_buf_deinit(&out);
    mc_srv_req_unref(r);
    return e ? mc_fail(d, e, "response: out of memory") : MC_OK;
}

static mc_err op_server_chat(mc_diag *d)
{
    return server_request(MC_SRV_CHAT,
                          "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"be "
                          "brief\"},{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"
                          "\"hello\"},{\"type\":\"text\",\"text\":\"there\"}]}],\"max_tokens\":8,"
                          "\"stop\":[\"xy\",\"zz\"],\"logprobs\":true,\"top_logprobs\":2,"
                          "\"seed\":3,\"stream\":true,\"stream_options\":{\"include_usage\":true}}",
                          d);
}

static mc_err op_server_completion(mc_diag *d)
{
    return server_request(MC_SRV_COMPLETION,
                          "{\"prompt\":\"ab cd ef\",\"max_tokens\":4,\"echo\":true,\"logprobs\":2,"
                          "\"stop\":\"q\",\"temperature\":0}",
                          d);
}

/* /tokenize (with pieces) and /detokenize */
static mc_err op_server_tokenize(mc_diag *d)
{
    const char *tb = "{\"content\":\"ab <|im_start|> cd\",\"with_pieces\":true}";
    const char *db = "{\"tokens\":[1,260,261,3,286,287]}";
    mc_buf b;
    mc_srv_error err = {0};
    mc_buf_init(&b, 0);
    mc_err e = mc_srv_tokenize(srv_fake_tok(fake), tb, strlen(tb), &b, &err);
    if (!e) {
        mc_buf_reset(&b);
        e = mc_srv_detokenize(srv_fake_tok(fake), 288, db, strlen(db), &b, &err);
    }
    mc_buf_deinit(&b);
    return e ? srv_err(&err, "tokenize", d) : MC_OK;
}

/* ---- the tests ---- */

static int fixtures(void)
{
    snprintf(model_path, sizeof model_path, "%s/torture.gguf", harness_tmpdir());
    snprintf(gsm_path, sizeof gsm_path, "%s/gsm8k.jsonl", harness_tmpdir());
    mc_make_opts o = ef_tiny("qwen2moe", MC_DT_Q8_0);
    fake = srv_fake_new(2, 256, 64);
    return ef_make(&o, model_path) && write_file(gsm_path, gsm8k) == 0 && fake ? 0 : -1;
}

static const struct {
    const char *name;
    op_fn op;
    uint64_t min_allocs; /* a run must allocate at least this much to mean anything */
} ops[] = {
    {"gguf", op_gguf, 5},
    {"model", op_model, 10},
    {"engine", op_engine, 20},
    {"hfconfig", op_hfconfig, 10},
    {"records", op_records, 10},
    {"report", op_report, 10},
    {"dataset", op_dataset, 5},
    {"server-chat", op_server_chat, 10},
    {"server-compl", op_server_completion, 10},
    {"server-tokenize", op_server_tokenize, 10},
};

TEST(torture)
{
    if (fixtures())
        SKIP("cannot write the fixtures");
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        walk_result r;
        walk(ops[i].name, ops[i].op, &r);
        CHECK_EQ_INT(r.bad, 0);
        CHECK_EQ_INT(r.leaks, 0);
        CHECK_EQ_INT(r.other, 0); /* out of memory is reported as such, not as bad input */
        if (r.allocs < ops[i].min_allocs)
            HARNESS_FAIL_("%s: only %llu allocations", ops[i].name,
                          (unsigned long long)r.allocs);
    }
    srv_fake_free(fake);
}

/* The hook itself: the n-th call fails, the others do not, and cJSON goes through it. */
TEST(hook)
{
    mc_alloc_fail_at(2);
    void *a = mc_malloc(8), *b = mc_malloc(8), *c = mc_malloc(8);
    CHECK(a != NULL);
    CHECK(b == NULL);
    CHECK(c != NULL);
    CHECK_EQ_INT(mc_alloc_count(), 3);
    mc_free(a);
    mc_free(c);
    mc_alloc_fail_at(1);
    cJSON *o = cJSON_CreateObject();
    CHECK(o == NULL);
    CHECK_EQ_INT(mc_alloc_count(), 1);
    mc_alloc_fail_at(0);
}

int main(void)
{
    RUN(hook);
    RUN(torture);
    return harness_done();
}
