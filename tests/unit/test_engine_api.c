/* test_engine_api.c: the engine's interface beyond the numbers: the per-pass record (counts add
 * up, equal the reference's routing, format and parse back), the off switch, bad items rejected
 * with nothing changed, bad files and options with clear errors, the file's tokenizer, and the
 * sampler and log-probabilities against hand-computed values. */
#include "engine.h"
#include "engine_fixtures.h"
#include "gguf_fixtures.h"
#include "harness.h"
#include "kernels.h"
#include "ref_forward.h"
#include "tokenizer.h"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

static char g_path[4200];

/* path of a file in this test's temporary directory */
static const char *tmp(const char *name)
{
    snprintf(g_path, sizeof g_path, "%.4000s/%.64s", harness_tmpdir(), name);
    return g_path;
}

/* the model o written to name in the temporary directory; NULL on failure */
static const char *make(const mc_make_opts *o, const char *name)
{
    return ef_make_in(o, harness_tmpdir(), name);
}

/* ---- the per-pass record --------------------------------------------------------------------- */

/* Each MoE layer: distinct experts in [top_k, experts] (exactly top_k for one token), the
 * tokens-per-expert row sums to tokens x top_k and its non-zero entries are the distinct count. */
static void check_layers(const mc_pass *p, int64_t n_tok, int64_t top_k, int64_t n_exp)
{
    double mean = 0;
    for (int64_t l = 0; l < p->n_layer_experts; l++) {
        double dd = p->experts_per_layer[l];
        CHECK(dd >= (double)top_k && dd <= (double)n_exp);
        if (n_tok == 1)
            CHECK_EQ_INT((int64_t)dd, top_k);
        int64_t sum = 0, nz = 0;
        for (int64_t x = 0; x < p->tpe_cols; x++) {
            sum += p->tokens_per_expert[l * p->tpe_cols + x];
            nz += p->tokens_per_expert[l * p->tpe_cols + x] > 0;
        }
        CHECK_EQ_INT(sum, n_tok * top_k);
        CHECK_EQ_INT(nz, (int64_t)dd);
        mean += dd;
    }
    CHECK_NEAR(p->expert_activation, mean / (double)p->n_layer_experts, 1e-12);
}

TEST(record_counts_add_up)
{
    mc_make_opts o = ef_tiny("olmoe", MC_DT_F16);
    o.layers = 3;
    const char *p = make(&o, "record.gguf");
    CHECK(p != NULL);
    if (!p)
        return;
    mc_engine *e = ef_open(p, 2, 4, MC_DT_F16, 1);
    CHECK(e != NULL);
    if (!e)
        return;
    CHECK(mc_engine_last_pass(e) == NULL);
    float l[300 * 2];
    /* prefill 9 tokens in slot 2 (first chunk of 2) */
    mc_batch_item a = {.seq = 2, .tokens = ef_prompt, .n_tokens = 9, .more_chunks = 1};
    CHECK(mc_engine_step(e, &a, 1, NULL) == MC_OK);
    const mc_pass *r = mc_engine_last_pass(e);
    CHECK(r != NULL);
    if (!r)
        return;
    CHECK_EQ_INT(r->forward_pass_id, 0);
    CHECK_EQ_INT(r->mode, MC_PASS_PREFILL);
    CHECK_EQ_INT(r->new_tokens, 9);
    CHECK_EQ_INT(r->batch_size, 1);
    CHECK_EQ_INT(r->seq_lens_sum, 9);
    CHECK(r->latency_s > 0 && r->latency_s < 10);
    CHECK_EQ_INT(r->n_layer_experts, 3);
    CHECK_EQ_INT(r->tpe_rows, 3);
    CHECK_EQ_INT(r->tpe_cols, 8);
    CHECK_EQ_INT(r->n_chunks, 1);
    CHECK_STR(r->chunks[0].req_id, "seq2");
    CHECK_EQ_INT(r->chunks[0].extend_len, 9);
    CHECK_EQ_INT(r->chunks[0].total_len, 9);
    CHECK_EQ_INT(r->chunks[0].is_last_chunk, 0);
    CHECK_EQ_INT(r->gpu_num, 0);
    check_layers(r, 9, 2, 8);
    /* the same routing as the reference over those 9 tokens */
    ref_model *rm = NULL;
    ref_opts ro = {.act_round = 1, .kv_f16 = 1};
    int64_t cnt[3 * 8] = {0};
    double *lg = mc_calloc(9 * 300, sizeof *lg);
    CHECK(ref_open(p, &ro, &rm, NULL) == MC_OK &&
          ref_forward(rm, ef_prompt, 9, lg, cnt, NULL) == MC_OK);
    for (int i = 0; i < 3 * 8; i++)
        CHECK_EQ_INT(r->tokens_per_expert[i], cnt[i]);
    ref_free(rm);
    mc_free(lg);
    /* mixed: slot 2 decodes, slot 0 prefills 3 tokens */
    int32_t t1 = 4;
    mc_batch_item b[2] = {
        {.seq = 2, .tokens = &t1, .n_tokens = 1, .logits = MC_LOGITS_LAST, .logits_out = l},
        {.seq = 0,
         .tokens = ef_prompt + 2,
         .n_tokens = 3,
         .logits = MC_LOGITS_LAST,
         .logits_out = l + 300}};
    CHECK(mc_engine_step(e, b, 2, NULL) == MC_OK);
    r = mc_engine_last_pass(e);
    CHECK_EQ_INT(r->forward_pass_id, 1);
    CHECK_EQ_INT(r->mode, MC_PASS_MIXED);
    CHECK_EQ_INT(r->new_tokens, 4);
    CHECK_EQ_INT(r->batch_size, 2);
    CHECK_EQ_INT(r->seq_lens_sum, 10 + 3);
    CHECK_STR(r->chunks[1].req_id, "seq0");
    CHECK_EQ_INT(r->chunks[1].total_len, 3);
    CHECK_EQ_INT(r->chunks[0].is_last_chunk, 1);
    check_layers(r, 4, 2, 8);
    /* decode both: 2 tokens; then a lone decode: exactly top_k experts per layer */
    b[0].tokens = &t1;
    b[1].tokens = &t1;
    b[1].n_tokens = 1;
    CHECK(mc_engine_step(e, b, 2, NULL) == MC_OK);
    r = mc_engine_last_pass(e);
    CHECK_EQ_INT(r->mode, MC_PASS_DECODE);
    CHECK_EQ_INT(r->seq_lens_sum, 11 + 4);
    check_layers(r, 2, 2, 8);
    CHECK(mc_engine_step(e, b, 1, NULL) == MC_OK);
    r = mc_engine_last_pass(e);
    CHECK_EQ_INT(r->forward_pass_id, 3);
    check_layers(r, 1, 2, 8);
    /* a one-token prompt in an empty slot is a prefill */
    b[0].seq = 1;
    CHECK(mc_engine_step(e, b, 1, NULL) == MC_OK);
    CHECK_EQ_INT(mc_engine_last_pass(e)->mode, MC_PASS_PREFILL);
    /* the record formats as a JSON line that parses back */
    mc_buf buf;
    mc_buf_init(&buf, 0);
    mc_pass back;
    mc_pass_init(&back);
    CHECK(mc_pass_format(mc_engine_last_pass(e), &buf, NULL) == MC_OK);
    CHECK(mc_pass_parse(buf.data, buf.len, &back, NULL) == MC_OK);
    CHECK_EQ_INT(back.new_tokens, 1);
    CHECK_EQ_INT(back.n_layer_experts, 3);
    mc_pass_deinit(&back);
    mc_buf_deinit(&buf);
    mc_engine_free(e);
}

TEST(record_without_token_counts_and_off_switch)
{
    mc_make_opts o = ef_tiny("llama", MC_DT_F32);
    const char *p = make(&o, "notrace.gguf");
    CHECK(p != NULL);
    if (!p)
        return;
    float a[300], b[300];
    mc_engine *e = ef_open(p, 2, 1, MC_DT_F16, 0);
    CHECK(e && ef_step(e, 0, ef_prompt, 4, MC_LOGITS_LAST, a) == MC_OK);
    const mc_pass *r = e ? mc_engine_last_pass(e) : NULL;
    CHECK(r != NULL);
    if (r) {
        CHECK_EQ_INT(r->tpe_rows, 0);
        CHECK_EQ_INT(r->tpe_cols, 0);
        CHECK_EQ_INT(r->n_layer_experts, 2);
        CHECK(r->experts_per_layer[0] >= 2 && r->experts_per_layer[0] <= 8);
    }
    mc_engine_free(e);
    mc_engine_opts eo;
    mc_engine_opts_default(&eo);
    eo.model_path = p;
    eo.n_threads = 2;
    eo.no_trace = 1;
    eo.kernels = getenv("MC_TEST_KERNELS");
    e = NULL;
    CHECK(mc_engine_open(&eo, &e, NULL) == MC_OK);
    CHECK(e && ef_step(e, 0, ef_prompt, 4, MC_LOGITS_LAST, b) == MC_OK);
    CHECK(e && mc_engine_last_pass(e) == NULL);
    CHECK(memcmp(a, b, sizeof a) == 0);
    mc_engine_free(e);
    /* dense model: no MoE layers in the record */
    o.experts = 0;
    o.top_k = 0;
    p = make(&o, "dense-rec.gguf");
    e = p ? ef_open(p, 1, 1, MC_DT_F16, 1) : NULL;
    CHECK(e && ef_step(e, 0, ef_prompt, 3, MC_LOGITS_NONE, NULL) == MC_OK);
    r = e ? mc_engine_last_pass(e) : NULL;
    CHECK(r && r->n_layer_experts == 0 && r->expert_activation < 0 && r->tpe_rows == 0);
    mc_engine_free(e);
}

/* ---- step profile --------------------------------------------------------------------------- */

/* The phases of the steps since the last reset: every named phase of the model's kind took time,
 * the others none, and together with "other" they make up the steps' time exactly. */
static void check_profile(const mc_engine *e, int64_t steps, int moe)
{
    mc_engine_prof pr;
    mc_engine_profile(e, &pr);
    CHECK_EQ_INT(pr.steps, steps);
    double named = 0;
    for (int p = 0; p < MC_PHASES; p++) {
        CHECK(pr.s[p] >= 0);
        named += p == MC_PHASE_OTHER ? 0 : pr.s[p];
    }
    CHECK(pr.s[MC_PHASE_ATTN] > 0 && pr.s[MC_PHASE_HEAD] > 0);
    CHECK(moe ? pr.s[MC_PHASE_ROUTE] > 0 && pr.s[MC_PHASE_EXPERTS] > 0 : pr.s[MC_PHASE_DENSE] > 0);
    CHECK(moe ? pr.s[MC_PHASE_DENSE] == 0
              : pr.s[MC_PHASE_ROUTE] == 0 && pr.s[MC_PHASE_EXPERTS] == 0);
    CHECK(named <= pr.step_s);
    CHECK(fabs(named + pr.s[MC_PHASE_OTHER] - pr.step_s) < 1e-9);
}

TEST(step_profile_by_phase)
{
    mc_make_opts o = ef_tiny("qwen3moe", MC_DT_F32);
    const char *p = make(&o, "profile.gguf");
    CHECK(p != NULL);
    if (!p)
        return;
    float l[300];
    mc_engine *e = ef_open(p, 2, 1, MC_DT_F16, 0);
    CHECK(e != NULL);
    if (!e)
        return;
    for (int i = 0; i < 3; i++)
        CHECK(ef_step(e, 0, ef_prompt + i, 1, MC_LOGITS_LAST, l) == MC_OK);
    check_profile(e, 3, 1);
    /* a step that fails its checks is not counted */
    mc_batch_item bad = {.seq = 5, .tokens = ef_prompt, .n_tokens = 1};
    CHECK(mc_engine_step(e, &bad, 1, NULL) != MC_OK);
    check_profile(e, 3, 1);
    mc_engine_profile_reset(e);
    mc_engine_prof pr;
    mc_engine_profile(e, &pr);
    CHECK(pr.steps == 0 && pr.step_s == 0 && pr.s[MC_PHASE_ATTN] == 0 && pr.s[MC_PHASE_OTHER] == 0);
    CHECK(ef_step(e, 0, ef_prompt, 2, MC_LOGITS_LAST, l) == MC_OK);
    check_profile(e, 1, 1);
    mc_engine_free(e);
    o = ef_tiny("llama", MC_DT_F32); /* dense */
    o.experts = 0;
    o.top_k = 0;
    p = make(&o, "profile-dense.gguf");
    e = p ? ef_open(p, 2, 1, MC_DT_F16, 0) : NULL;
    CHECK(e && ef_step(e, 0, ef_prompt, 2, MC_LOGITS_LAST, l) == MC_OK);
    if (e)
        check_profile(e, 1, 0);
    mc_engine_free(e);
    CHECK_STR(mc_engine_phase_name(MC_PHASE_EXPERTS), "experts");
    CHECK_STR(mc_engine_phase_name(MC_PHASE_OTHER), "other");
    CHECK(mc_engine_phase_name(MC_PHASES) == NULL && mc_engine_phase_name(-1) == NULL);
}

/* ---- bad input ------------------------------------------------------------------------------- */

static void expect_step_error(mc_engine *e, const mc_batch_item *it, int n, mc_err want,
                              const char *msg)
{
    mc_diag d = {{0}};
    int64_t id = mc_engine_last_pass(e)->forward_pass_id, l0 = mc_engine_seq_len(e, 0),
            l1 = mc_engine_seq_len(e, 1);
    CHECK_EQ_INT(mc_engine_step(e, it, n, &d), want);
    CHECK_STR(d.msg, msg);
    CHECK_EQ_INT(mc_engine_last_pass(e)->forward_pass_id, id);
    CHECK_EQ_INT(mc_engine_seq_len(e, 0), l0);
    CHECK_EQ_INT(mc_engine_seq_len(e, 1), l1);
}

TEST(bad_items_change_nothing)
{
    mc_make_opts o = ef_tiny("qwen3moe", MC_DT_F32);
    const char *p = make(&o, "bad-items.gguf");
    CHECK(p != NULL);
    if (!p)
        return;
    mc_engine *e = ef_open(p, 2, 2, MC_DT_F16, 0); /* n_ctx 64, max_step_tokens 64 */
    float l[300], ref_l[300];
    CHECK(e && ef_step(e, 0, ef_prompt, 3, MC_LOGITS_NONE, NULL) == MC_OK);
    if (!e)
        return;
    int32_t bad_tok[2] = {5, 300}, neg = -1, big[70] = {0};
    mc_batch_item ok = {.seq = 1, .tokens = ef_prompt, .n_tokens = 2};
    mc_batch_item it[2] = {ok, ok};
    expect_step_error(e, it, 0, MC_ERR_ARG, "engine: a step needs at least one item");
    it[0].seq = 2;
    expect_step_error(e, it, 1, MC_ERR_ARG, "engine: item 0: sequence slot 2 out of range [0, 2)");
    it[0].seq = -1;
    expect_step_error(e, it, 1, MC_ERR_ARG, "engine: item 0: sequence slot -1 out of range [0, 2)");
    it[0] = ok;
    expect_step_error(e, it, 2, MC_ERR_ARG,
                      "engine: item 1: sequence slot 1 appears twice in the step");
    it[1].seq = 0;
    it[1].tokens = bad_tok;
    expect_step_error(e, it, 2, MC_ERR_RANGE,
                      "engine: item 1: token 1 is id 300, outside the vocabulary [0, 300)");
    it[1].tokens = &neg;
    it[1].n_tokens = 1;
    expect_step_error(e, it, 2, MC_ERR_RANGE,
                      "engine: item 1: token 0 is id -1, outside the vocabulary [0, 300)");
    it[1] = ok;
    it[1].seq = 0;
    it[1].n_tokens = 0;
    expect_step_error(e, it, 2, MC_ERR_ARG, "engine: item 1: no tokens (n_tokens 0)");
    it[1].n_tokens = 1;
    it[1].tokens = NULL;
    expect_step_error(e, it, 2, MC_ERR_ARG, "engine: item 1: no tokens (n_tokens 1)");
    it[1].tokens = big;
    it[1].n_tokens = 62;
    expect_step_error(e, it, 2, MC_ERR_RANGE,
                      "engine: item 1: sequence 0 holds 3 tokens; 62 more exceed n_ctx 64");
    it[1].n_tokens = 61;
    it[0].n_tokens = 4;
    expect_step_error(e, it, 2, MC_ERR_RANGE,
                      "engine: the step carries more than max_step_tokens = 64 tokens");
    it[0] = ok;
    it[0].logits = MC_LOGITS_LAST;
    expect_step_error(e, it, 1, MC_ERR_ARG, "engine: item 0: logits requested without a buffer");
    it[0].logits = 7;
    it[0].logits_out = l;
    expect_step_error(e, it, 1, MC_ERR_ARG,
                      "engine: item 0: logits mode 7 (0 none, 1 last, 2 all)");
    expect_step_error(e, NULL, 1, MC_ERR_ARG, "engine: a step needs at least one item");
    /* the engine still computes exactly what a fresh one does */
    CHECK(ef_step(e, 0, ef_prompt + 3, 2, MC_LOGITS_LAST, l) == MC_OK);
    mc_engine_free(e);
    e = ef_open(p, 2, 2, MC_DT_F16, 0);
    CHECK(e && ef_step(e, 0, ef_prompt, 5, MC_LOGITS_LAST, ref_l) == MC_OK);
    mc_engine_free(e);
    double m = 0;
    for (int i = 0; i < 300; i++)
        m = fabs(l[i] - ref_l[i]) > m ? fabs(l[i] - ref_l[i]) : m;
    CHECK(m < 1e-4);
}

/* Opens path with default options; returns the error and its message in d. */
static mc_err open_err(const char *path, mc_diag *d)
{
    mc_engine_opts o;
    mc_engine_opts_default(&o);
    o.model_path = path;
    o.n_threads = 1;
    mc_engine *e = NULL;
    memset(d, 0, sizeof *d);
    mc_err err = mc_engine_open(&o, &e, d);
    CHECK((err == MC_OK) == (e != NULL));
    mc_engine_free(e);
    return err;
}

static const char *write_fixture(const fx_model *s, const char *name)
{
    mc_gguf_writer *w = fx_model_writer(s, NULL);
    const char *p = tmp(name);
    mc_err err = w ? mc_gguf_writer_write_file(w, p, NULL) : MC_ERR_NOMEM;
    mc_gguf_writer_free(w);
    return err ? NULL : p;
}

TEST(bad_files_give_clear_errors)
{
    mc_diag d;
    char want[600];
    /* an iq2_xxs expert tensor */
    fx_model s = fx_preset("llama");
    s.hidden = 256;
    s.head_dim = 64;
    s.exp_ff = s.ff = 256;
    s.etype = MC_GGML_IQ2_XXS;
    const char *p = write_fixture(&s, "iq2.gguf");
    CHECK(p != NULL);
    CHECK_EQ_INT(open_err(p, &d), MC_ERR_UNSUPPORTED);
    snprintf(want, sizeof want,
             "engine: %s: tensor 'blk.0.ffn_gate_exps.weight': type iq2_xxs is not supported "
             "(supported: f32, f16, bf16, q8_0, q4_0, q4_k, q6_k)",
             p);
    CHECK_STR(d.msg, want);
    /* a tensor the engine would not use (attention sinks on llama) */
    s = fx_preset("llama");
    s.sinks = 1;
    p = write_fixture(&s, "sinks.gguf");
    CHECK_EQ_INT(open_err(p, &d), MC_ERR_UNSUPPORTED);
    snprintf(want, sizeof want,
             "engine: %s: tensor 'blk.0.attn_sinks.weight' is not used by the engine's mixtral "
             "model (unsupported feature)",
             p);
    CHECK_STR(d.msg, want);
    /* olmoe with head-wide q/k norms (the engine follows llama.cpp: full width) */
    s = fx_preset("olmoe");
    s.n_kv = 4;
    s.qk_norm_full = 0;
    p = write_fixture(&s, "olmoe-qk.gguf");
    CHECK_EQ_INT(open_err(p, &d), MC_ERR_FORMAT);
    snprintf(want, sizeof want,
             "engine: %s: tensor 'blk.0.attn_q_norm.weight' has dims [2], expected [8] "
             "(head_count x head dim)",
             p);
    CHECK_STR(d.msg, want);
    /* an architecture the engine does not run */
    s = fx_preset("dbrx");
    p = write_fixture(&s, "dbrx.gguf");
    CHECK_EQ_INT(open_err(p, &d), MC_ERR_UNSUPPORTED);
    snprintf(want, sizeof want,
             "engine: %s: architecture 'dbrx' is not supported by the engine (llama, qwen2, "
             "qwen3, qwen2moe, qwen3moe, olmoe, deepseek2)",
             p);
    CHECK_STR(d.msg, want);
    /* the fixture writer's own qwen2 and deepseek2 files open (test_engine_ds2.c has the rest) */
    s = fx_preset("qwen2");
    p = write_fixture(&s, "qwen2.gguf");
    CHECK_EQ_INT(open_err(p, &d), MC_OK);
    s = fx_preset("deepseek2");
    p = write_fixture(&s, "ds2.gguf");
    CHECK_EQ_INT(open_err(p, &d), MC_OK);
    /* a truncated model file, a missing one */
    mc_make_opts o = ef_tiny("llama", MC_DT_Q8_0);
    p = make(&o, "trunc.gguf");
    CHECK(p != NULL && truncate(p, 100000) == 0);
    CHECK_EQ_INT(open_err(p, &d), MC_ERR_FORMAT);
    CHECK_CONTAINS(d.msg, "past end of file (100000)");
    CHECK_EQ_INT(open_err(tmp("absent.gguf"), &d), MC_ERR_IO);
    CHECK_CONTAINS(d.msg, "cannot open");
    /* bad options */
    mc_engine_opts eo;
    mc_engine_opts_default(&eo);
    mc_engine *e = NULL;
    CHECK_EQ_INT(mc_engine_open(&eo, &e, &d), MC_ERR_ARG);
    CHECK_STR(d.msg, "engine: no model path");
    eo.model_path = p;
    eo.kv_type = MC_DT_Q8_0;
    CHECK_EQ_INT(mc_engine_open(&eo, &e, &d), MC_ERR_ARG);
    CHECK_STR(d.msg, "engine: KV cache type q8_0 is not supported (f16, f32)");
    eo.kv_type = MC_DT_F16;
    eo.weights = 3;
    CHECK_EQ_INT(mc_engine_open(&eo, &e, &d), MC_ERR_ARG);
    CHECK_STR(d.msg, "engine: weights mode 3 (0 auto, 1 mmap, 2 copy)");
    eo.weights = 0;
    eo.n_threads = -1;
    CHECK_EQ_INT(mc_engine_open(&eo, &e, &d), MC_ERR_ARG);
    CHECK_STR(d.msg, "engine: -1 threads is out of range [0, 256]");
    eo.n_threads = 1;
    eo.kernels = "sse9";
    CHECK_EQ_INT(mc_engine_open(&eo, &e, &d), MC_ERR_ARG);
    CHECK(e == NULL);
}

TEST(tokenizer_from_the_file)
{
    mc_make_opts o = ef_tiny("qwen2moe", MC_DT_F32);
    const char *p = make(&o, "tok.gguf");
    mc_engine *e = p ? ef_open(p, 1, 1, MC_DT_F16, 0) : NULL;
    CHECK(e && mc_engine_tok(e) != NULL);
    CHECK(e && mc_engine_tok_error(e) == NULL);
    if (e && mc_engine_tok(e))
        CHECK_EQ_INT(mc_tok_n_tokens(mc_engine_tok(e)), 300);
    mc_engine_free(e);
    /* a file whose tokenizer cannot be built (the fixture's gpt2 model has no merges) still
     * runs on token ids */
    fx_model s = fx_preset("llama");
    p = write_fixture(&s, "notok.gguf");
    e = p ? ef_open(p, 1, 1, MC_DT_F16, 0) : NULL;
    int32_t ids[2] = {1, 2};
    CHECK(e && mc_engine_tok(e) == NULL);
    CHECK(e && mc_engine_tok_error(e) && strstr(mc_engine_tok_error(e), "needs merges"));
    CHECK(e && ef_step(e, 0, ids, 2, MC_LOGITS_NONE, NULL) == MC_OK);
    mc_engine_free(e);
}

TEST(steps_never_allocate_and_open_fails_cleanly)
{
    mc_make_opts o = ef_tiny("qwen2moe", MC_DT_Q4_K);
    const char *p = make(&o, "alloc.gguf");
    mc_engine *e = p ? ef_open(p, 2, 3, MC_DT_F16, 1) : NULL;
    CHECK(e != NULL);
    if (!e)
        return;
    float l[2 * 300];
    int32_t t = 5;
    mc_rng rng;
    mc_rng_seed(&rng, 3);
    mc_sampler sp = {.temperature = 0.8f, .top_p = 0.9f, .top_k = 40, .seed = 3};
    CHECK(ef_step(e, 0, ef_prompt, 20, MC_LOGITS_LAST, l) == MC_OK);
    uint64_t before = mc_alloc_count();
    mc_batch_item it[2] = {
        {.seq = 0, .tokens = &t, .n_tokens = 1, .logits = MC_LOGITS_LAST, .logits_out = l},
        {.seq = 1,
         .tokens = ef_prompt,
         .n_tokens = 17,
         .logits = MC_LOGITS_LAST,
         .logits_out = l + 300}};
    for (int k = 0; k < 3; k++) {
        CHECK(mc_engine_step(e, it, 2, NULL) == MC_OK);
        t = mc_engine_sample(e, l, &sp, &rng);
        it[1].tokens = &t;
        it[1].n_tokens = 1;
        CHECK(!isnan(mc_logprob(l + 300, 300, 7)));
    }
    CHECK_EQ_INT(mc_alloc_count() - before, 0);
    mc_engine_free(e);
    /* every allocation of mc_engine_open failing in turn: out of memory, nothing leaked (the
     * ASan build checks), and then it opens */
    mc_engine_opts eo;
    mc_engine_opts_default(&eo);
    eo.model_path = p;
    eo.n_threads = 2;
    eo.kernels = getenv("MC_TEST_KERNELS");
    int opened = 0, n_fail = 0;
    for (uint64_t k = 1; k < 5000 && !opened; k++) {
        mc_diag d = {{0}};
        e = NULL;
        mc_alloc_fail_at(k);
        mc_err err = mc_engine_open(&eo, &e, &d);
        mc_alloc_fail_at(0);
        if (err == MC_OK) {
            opened = 1;
            mc_engine_free(e);
            continue;
        }
        n_fail++;
        CHECK(e == NULL);
        if (err != MC_ERR_NOMEM)
            fprintf(stderr, "  allocation %llu failing: %s: %s\n", (unsigned long long)k,
                    mc_err_name(err), d.msg);
        CHECK_EQ_INT(err, MC_ERR_NOMEM);
    }
    CHECK(opened);
    CHECK(n_fail > 50);
}

/* ---- sampler and scores ---------------------------------------------------------------------- */

TEST(logprobs_hand_computed)
{
    float l[4] = {1.0f, 2.0f, 3.0f, 3.0f};
    double z = log(exp(1.0) + exp(2.0) + 2 * exp(3.0));
    CHECK_NEAR(mc_logprob(l, 4, 0), 1.0 - z, 1e-12);
    CHECK_NEAR(mc_logprob(l, 4, 3), 3.0 - z, 1e-12);
    CHECK(isnan(mc_logprob(l, 4, 4)));
    CHECK(isnan(mc_logprob(l, 4, -1)));
    float u[3] = {0, 0, 0};
    CHECK_NEAR(mc_logprob(u, 3, 1), -log(3.0), 1e-15);
    float big[2] = {1000.0f, 0.0f}; /* stable: no overflow */
    CHECK_NEAR(mc_logprob(big, 2, 0), -log1p(exp(-1000.0)), 1e-12);
    CHECK_NEAR(mc_logprob(big, 2, 1), -1000.0, 1e-9);
    int32_t ids[8];
    double lps[8];
    CHECK_EQ_INT(mc_top_logprobs(l, 4, 3, ids, lps), 3);
    CHECK_EQ_INT(ids[0], 2); /* tie 3.0: lower id first */
    CHECK_EQ_INT(ids[1], 3);
    CHECK_EQ_INT(ids[2], 1);
    CHECK_NEAR(lps[0], 3.0 - z, 1e-12);
    CHECK_NEAR(lps[2], 2.0 - z, 1e-12);
    CHECK_EQ_INT(mc_top_logprobs(l, 4, 100, ids, lps), 4);
    CHECK_EQ_INT(ids[3], 0);
    CHECK_EQ_INT(mc_top_logprobs(l, 4, 0, ids, lps), 0);
}

TEST(sampler)
{
    mc_make_opts o = ef_tiny("llama", MC_DT_F32);
    const char *p = make(&o, "sampler.gguf");
    mc_engine *e = p ? ef_open(p, 1, 1, MC_DT_F16, 0) : NULL;
    CHECK(e != NULL);
    if (!e)
        return;
    enum { V = 300 };
    float l[V], w[V];
    mc_rng rng;
    mc_rng_seed(&rng, 1);
    mc_sampler s;
    mc_sampler_default(&s);
    CHECK(s.temperature == 0 && s.top_p == 1 && s.top_k == 0);
    for (int i = 0; i < V; i++)
        l[i] = (float)(i % 7) - 10.0f;
    l[50] = l[20] = 4.0f; /* tie: greedy takes the lower id */
    memcpy(w, l, sizeof l);
    CHECK_EQ_INT(mc_engine_sample(e, w, &s, &rng), 20);
    s.temperature = 1.0f;
    s.top_k = 1;
    memcpy(w, l, sizeof l);
    CHECK_EQ_INT(mc_engine_sample(e, w, &s, &rng), 20);
    /* three candidates with probabilities 1/2, 1/4, 1/4 (the rest ~e^-30 smaller) */
    for (int i = 0; i < V; i++)
        l[i] = -30.0f;
    l[7] = (float)log(2.0);
    l[100] = 0.0f;
    l[299] = 0.0f;
    int hits[3] = {0, 0, 0}, other = 0, n = 4000;
    s.top_k = 0;
    for (int k = 0; k < n; k++) {
        memcpy(w, l, sizeof l);
        int32_t t = mc_engine_sample(e, w, &s, &rng);
        hits[0] += t == 7;
        hits[1] += t == 100;
        hits[2] += t == 299;
        other += t != 7 && t != 100 && t != 299;
    }
    /* binomial sd: sqrt(4000 * .25 * .75) = 27; allow 5 sd */
    CHECK(abs(hits[0] - 2000) < 160 && abs(hits[1] - 1000) < 140 && abs(hits[2] - 1000) < 140);
    CHECK(other < 3);
    /* the same seed draws the same tokens */
    mc_rng a, b;
    mc_rng_seed(&a, 42);
    mc_rng_seed(&b, 42);
    for (int k = 0; k < 50; k++) {
        memcpy(w, l, sizeof l);
        int32_t x = mc_engine_sample(e, w, &s, &a);
        memcpy(w, l, sizeof l);
        CHECK_EQ_INT(mc_engine_sample(e, w, &s, &b), x);
    }
    /* top-k 2 keeps 7 and 100 (299 ties 100 and loses on id); the rest is masked */
    s.top_k = 2;
    for (int k = 0; k < 300; k++) {
        memcpy(w, l, sizeof l);
        int32_t t = mc_engine_sample(e, w, &s, &rng);
        CHECK(t == 7 || t == 100);
    }
    CHECK(isinf(w[299]) && w[299] < 0 && w[7] == l[7]);
    /* top-p 0.5: the smallest prefix with mass >= 0.5 is token 7 alone */
    s.top_k = 0;
    s.top_p = 0.5f;
    for (int k = 0; k < 100; k++) {
        memcpy(w, l, sizeof l);
        CHECK_EQ_INT(mc_engine_sample(e, w, &s, &rng), 7);
    }
    /* top-p 0.6: 7 and 100 */
    s.top_p = 0.6f;
    int seen100 = 0;
    for (int k = 0; k < 200; k++) {
        memcpy(w, l, sizeof l);
        int32_t t = mc_engine_sample(e, w, &s, &rng);
        CHECK(t == 7 || t == 100);
        seen100 += t == 100;
    }
    CHECK(seen100 > 30);
    /* temperature 0.1 sharpens: 7 (log 2 / 0.1 = 6.9 above the others) nearly always */
    s.top_p = 1.0f;
    s.temperature = 0.1f;
    int seen7 = 0;
    for (int k = 0; k < 200; k++) {
        memcpy(w, l, sizeof l);
        seen7 += mc_engine_sample(e, w, &s, &rng) == 7;
    }
    CHECK(seen7 > 190);
    mc_engine_free(e);
}

int main(void)
{
    RUN(record_counts_add_up);
    RUN(record_without_token_counts_and_off_switch);
    RUN(step_profile_by_phase);
    RUN(bad_items_change_nothing);
    RUN(bad_files_give_clear_errors);
    RUN(tokenizer_from_the_file);
    RUN(steps_never_allocate_and_open_fails_cleanly);
    RUN(logprobs_hand_computed);
    RUN(sampler);
    return harness_done();
}
