/* test_engine.c: the embedded engine (src/engine/engine.h) on tiny generated models of every
 * supported architecture: logits against the double-precision reference forward pass
 * (tests/support/ref_forward.c) per type, prefill and decode; deterministic greedy generation;
 * batched (several sequences, mixed prefill + decode) against unbatched runs; the per-pass
 * record; bad items rejected with nothing changed; bad files with clear errors; the sampler and
 * log-probabilities against hand-computed values. */
#include "engine.h"
#include "gguf.h"
#include "gguf_fixtures.h"
#include "harness.h"
#include "kernels.h"
#include "makemodel.h"
#include "ref_forward.h"
#include "tokenizer.h"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

static char g_path[4200];

static const char *tmp(const char *name)
{
    snprintf(g_path, sizeof g_path, "%.4000s/%.64s", harness_tmpdir(), name);
    return g_path;
}

/* Tiny model of arch with weights of type t: 2 layers, embd 256 (a multiple of the K-quant
 * block), 4 heads of 64 (2 KV heads where the arch allows GQA), 8 experts top-2 of width 256. */
static mc_make_opts tiny(const char *arch, mc_dtype t)
{
    mc_make_opts o;
    mc_make_opts_default(&o);
    o.arch = arch;
    o.layers = 2;
    o.embd = 256;
    o.ff = 256;
    o.experts = 8;
    o.top_k = 2;
    o.heads = 4;
    o.kv_heads = strcmp(arch, "olmoe") ? 2 : 4;
    o.vocab = 300;
    o.type = t;
    o.seed = 7;
    if (!strcmp(arch, "qwen2moe"))
        o.shared_ff = 512;
    return o;
}

static const char *make(const mc_make_opts *o, const char *name)
{
    static char path[4200];
    mc_diag d = {{0}};
    snprintf(path, sizeof path, "%s", tmp(name));
    mc_err e = mc_make_model(o, path, &d);
    if (e) {
        fprintf(stderr, "make-model %s: %s\n", name, d.msg);
        return NULL;
    }
    return path;
}

static mc_engine *open_engine(const char *path, int threads, int seqs, mc_dtype kv, int trace_tok)
{
    mc_engine_opts o;
    mc_engine_opts_default(&o);
    o.model_path = path;
    o.n_threads = threads;
    o.max_seqs = seqs;
    o.n_ctx = 64;
    o.max_step_tokens = 64;
    o.kv_type = kv;
    o.trace_tokens = trace_tok;
    o.kernels = getenv("MC_TEST_KERNELS");
    mc_engine *e = NULL;
    mc_diag d = {{0}};
    if (mc_engine_open(&o, &e, &d) != MC_OK)
        fprintf(stderr, "engine open %s: %s\n", path, d.msg);
    return e;
}

/* max |a - b| over n values, and the RMS of b */
static double max_diff(const float *a, const double *b, int64_t n, double *rms)
{
    double m = 0, s = 0;
    for (int64_t i = 0; i < n; i++) {
        double dd = fabs((double)a[i] - b[i]);
        m = dd > m ? dd : m;
        s += b[i] * b[i];
    }
    *rms = sqrt(s / (double)n);
    return m;
}

static const int32_t g_prompt[] = {1,   17,  250, 3,   99,  42,  7,   281, 5,   64,
                                   128, 2,   33,  160, 77,  201, 12,  9,   295, 140,
                                   61,  8,   222, 45,  190, 3,   87,  150, 260, 31,
                                   14,  111, 240, 6,   73,  199, 52,  288, 19,  101};

static mc_err step1(mc_engine *e, int seq, const int32_t *tok, int64_t n, int mode, float *out)
{
    mc_batch_item it = {.seq = seq, .tokens = tok, .n_tokens = n, .logits = mode,
                        .logits_out = out};
    mc_diag d = {{0}};
    mc_err err = mc_engine_step(e, &it, 1, &d);
    if (err)
        fprintf(stderr, "step: %s\n", d.msg);
    return err;
}

/* Prefill 18 tokens, then a second chunk of 17 (both attend as blocks, the second from
 * position 18), then 3 decode steps; logits of every position against the reference over the
 * whole sequence. Returns the worst |diff| / rms(ref). */
static double compare_ref(const char *path, int threads, mc_dtype kv, const char *label)
{
    ref_opts ro = {.act_round = 1, .kv_f16 = kv == MC_DT_F16};
    ref_model *r = NULL;
    mc_diag d = {{0}};
    if (ref_open(path, &ro, &r, &d) != MC_OK) {
        fprintf(stderr, "ref open: %s\n", d.msg);
        return INFINITY;
    }
    mc_engine *e = open_engine(path, threads, 2, kv, 0);
    int64_t V = ref_vocab(r), c1 = 18, c2 = 17, nt = 38;
    double *ref = mc_calloc((size_t)(nt * V), sizeof *ref);
    float *got = mc_calloc((size_t)(nt * V), sizeof *got);
    double worst = INFINITY, rms;
    if (e && ref && got && ref_forward(r, g_prompt, nt, ref, NULL, &d) == MC_OK &&
        step1(e, 1, g_prompt, c1, MC_LOGITS_ALL, got) == MC_OK &&
        step1(e, 1, g_prompt + c1, c2, MC_LOGITS_ALL, got + c1 * V) == MC_OK) {
        worst = 0;
        for (int64_t t = c1 + c2; t < nt; t++)
            if (step1(e, 1, g_prompt + t, 1, MC_LOGITS_LAST, got + t * V) != MC_OK)
                worst = INFINITY;
        for (int64_t t = 0; t < nt; t++) {
            double m = max_diff(got + t * V, ref + t * V, V, &rms) / rms;
            worst = m > worst ? m : worst;
        }
    }
    fprintf(stderr, "  %-28s worst |engine - ref| / rms(ref) = %.3g\n", label, worst);
    mc_free(ref);
    mc_free(got);
    mc_engine_free(e);
    ref_free(r);
    return worst;
}

/* ---- logits against the reference ------------------------------------------------------------ */

static const char *g_archs[] = {"llama", "qwen2moe", "qwen3moe", "olmoe"};

/* Float weights: the engine computes exactly what the reference does up to float rounding
 * (observed <= 3e-6 of the logits' RMS). Quantised weights: the int8 rounding of a matmul input
 * can land on the other side of a near tie than in double precision (a few in ten thousand
 * elements), which moves the logits by 1-3% of their RMS on these tiny models (observed
 * <= 0.03); a wrong layout, scale, RoPE or routing rule moves them by 0.5 or more. */
static double type_tol(mc_dtype t)
{
    return t == MC_DT_F32 || t == MC_DT_F16 || t == MC_DT_BF16 ? 1e-4 : 0.1;
}

TEST(logits_match_reference_every_arch_and_type)
{
    static const mc_dtype types[] = {MC_DT_F32, MC_DT_F16, MC_DT_BF16, MC_DT_Q8_0,
                                     MC_DT_Q4_0, MC_DT_Q4_K, MC_DT_Q6_K};
    for (size_t a = 0; a < 4; a++)
        for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
            char name[64], label[64];
            snprintf(name, sizeof name, "%s-%s.gguf", g_archs[a], mc_dtype_name(types[t]));
            snprintf(label, sizeof label, "%s %s", g_archs[a], mc_dtype_name(types[t]));
            mc_make_opts o = tiny(g_archs[a], types[t]);
            const char *p = make(&o, name);
            CHECK(p != NULL);
            if (p)
                CHECK(compare_ref(p, 2, MC_DT_F32, label) < type_tol(types[t]));
        }
}

TEST(dense_llama_and_f16_cache_match_reference)
{
    static const mc_dtype types[] = {MC_DT_F32, MC_DT_Q8_0, MC_DT_Q4_K};
    for (size_t t = 0; t < 3; t++) {
        mc_make_opts o = tiny("llama", types[t]);
        o.experts = 0;
        o.top_k = 0;
        o.ff = 512;
        char name[64], label[64];
        snprintf(name, sizeof name, "dense-%s.gguf", mc_dtype_name(types[t]));
        snprintf(label, sizeof label, "dense llama %s", mc_dtype_name(types[t]));
        const char *p = make(&o, name);
        CHECK(p != NULL);
        if (p)
            CHECK(compare_ref(p, 2, MC_DT_F32, label) < type_tol(types[t]));
    }
    /* the default f16 KV cache against a reference that rounds K and V to f16: a K or V element
     * near an f16 rounding tie may round the other way (2^-11 relative on that element);
     * observed <= 7e-5 */
    for (size_t a = 0; a < 4; a++) {
        mc_make_opts o = tiny(g_archs[a], MC_DT_F32);
        char label[64];
        snprintf(label, sizeof label, "%s f32, f16 KV", g_archs[a]);
        const char *p = make(&o, "kvf16.gguf");
        CHECK(p != NULL);
        if (p)
            CHECK(compare_ref(p, 2, MC_DT_F16, label) < 3e-4);
    }
}

/* Logits of the prompt (all positions) from a fresh engine; returns -1 on failure, else
 * whether the weights were copied. */
static int prompt_logits_w(const char *path, int threads, const char *isa, int weights, float *out,
                           int64_t n)
{
    mc_engine_opts o;
    mc_engine_opts_default(&o);
    o.model_path = path;
    o.n_threads = threads;
    o.n_ctx = 64;
    o.kernels = isa;
    o.weights = weights;
    mc_engine *e = NULL;
    int ok = mc_engine_open(&o, &e, NULL) == MC_OK &&
             step1(e, 0, g_prompt, n, MC_LOGITS_ALL, out) == MC_OK;
    int copied = ok ? mc_engine_weights_copied(e) : -1;
    mc_engine_free(e);
    return copied;
}

static int prompt_logits(const char *path, int threads, const char *isa, float *out, int64_t n)
{
    return prompt_logits_w(path, threads, isa, MC_WEIGHTS_AUTO, out, n) >= 0;
}

TEST(threads_and_weight_placement_change_no_bits)
{
    /* splitting a matmul's rows or the attention's (token, head) pairs across threads changes
     * no arithmetic: 1, 2 and 3 threads give bit-identical logits */
    mc_make_opts o = tiny("qwen2moe", MC_DT_Q4_K);
    const char *p = make(&o, "threads.gguf");
    CHECK(p != NULL);
    if (!p)
        return;
    int64_t V = 300, n = 9;
    float *a = mc_calloc((size_t)(3 * n * V), sizeof *a);
    CHECK(prompt_logits(p, 1, NULL, a, n));
    CHECK(prompt_logits(p, 2, NULL, a + n * V, n));
    CHECK(prompt_logits(p, 3, NULL, a + 2 * n * V, n));
    CHECK(memcmp(a, a + n * V, (size_t)(n * V) * sizeof *a) == 0);
    CHECK(memcmp(a, a + 2 * n * V, (size_t)(n * V) * sizeof *a) == 0);
    /* weights run from the file mapping or from the huge-page copy: the same bits */
    CHECK_EQ_INT(prompt_logits_w(p, 2, NULL, MC_WEIGHTS_MMAP, a + n * V, n), 0);
    CHECK_EQ_INT(prompt_logits_w(p, 2, NULL, MC_WEIGHTS_COPY, a + 2 * n * V, n), 1);
    CHECK_EQ_INT(prompt_logits_w(p, 2, NULL, MC_WEIGHTS_AUTO, a + 2 * n * V, n), 1); /* tiny */
    CHECK(memcmp(a, a + n * V, (size_t)(n * V) * sizeof *a) == 0);
    CHECK(memcmp(a, a + 2 * n * V, (size_t)(n * V) * sizeof *a) == 0);
    /* every kernel set this CPU runs gives the same logits up to float rounding */
    static const char *isas[] = {"ref", "avx2", "avx512"};
    for (int i = 0; i < 3; i++) {
        if (!mc_kernels_isa_available(isas[i]))
            continue;
        float *b = mc_calloc((size_t)(n * V), sizeof *b);
        CHECK(prompt_logits(p, 2, isas[i], b, n));
        double m = 0;
        for (int64_t k = 0; k < n * V; k++)
            m = fabs(a[k] - b[k]) > m ? fabs(a[k] - b[k]) : m;
        fprintf(stderr, "  %s vs auto: max |diff| %.3g\n", isas[i], m);
        CHECK(m < 0.1); /* int8 rounding flips as in the reference test; logits are O(1) */
        mc_free(b);
    }
    mc_kernels_init(NULL, NULL);
    mc_free(a);
}

/* ---- generation and batching ----------------------------------------------------------------- */

static int32_t argmax(const float *l, int64_t n)
{
    int32_t b = 0;
    for (int64_t i = 1; i < n; i++)
        if (l[i] > l[b])
            b = (int32_t)i;
    return b;
}

/* Greedy continuation of prompt[0..np) by n_gen tokens in slot seq (one sequence per step). */
static int generate(mc_engine *e, int seq, const int32_t *prompt, int64_t np, int n_gen,
                    int32_t *out, float *logits_out)
{
    int64_t V = mc_engine_vocab(e);
    float *l = mc_calloc((size_t)V, sizeof *l);
    int ok = step1(e, seq, prompt, np, MC_LOGITS_LAST, l) == MC_OK;
    for (int i = 0; ok && i < n_gen; i++) {
        out[i] = argmax(l, V);
        if (logits_out)
            memcpy(logits_out + i * V, l, (size_t)V * sizeof *l);
        if (i + 1 < n_gen)
            ok = step1(e, seq, &out[i], 1, MC_LOGITS_LAST, l) == MC_OK;
    }
    mc_free(l);
    return ok;
}

TEST(greedy_generation_is_deterministic)
{
    mc_make_opts o = tiny("qwen3moe", MC_DT_Q8_0);
    const char *p = make(&o, "greedy.gguf");
    CHECK(p != NULL);
    if (!p)
        return;
    int32_t a[12], b[12], c[12];
    mc_engine *e = open_engine(p, 2, 2, MC_DT_F16, 0);
    CHECK(e && generate(e, 0, g_prompt, 5, 12, a, NULL));
    mc_engine_seq_reset(e, 0);
    CHECK_EQ_INT(mc_engine_seq_len(e, 0), 0);
    CHECK(generate(e, 0, g_prompt, 5, 12, b, NULL));
    CHECK(generate(e, 1, g_prompt, 5, 12, c, NULL)); /* another slot, other slot not cleared */
    mc_engine_free(e);
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(memcmp(a, c, sizeof a) == 0);
    e = open_engine(p, 1, 1, MC_DT_F16, 0);
    CHECK(e && generate(e, 0, g_prompt, 5, 12, c, NULL));
    mc_engine_free(e);
    CHECK(memcmp(a, c, sizeof a) == 0);
    int distinct = 0; /* a random model still does not emit one token forever */
    for (int i = 1; i < 12; i++)
        distinct += a[i] != a[0];
    CHECK(distinct > 0);
}

#define NSEQ 3
#define NGEN 6

TEST(batched_equals_unbatched)
{
    mc_make_opts o = tiny("qwen2moe", MC_DT_F32);
    const char *p = make(&o, "batch.gguf");
    CHECK(p != NULL);
    if (!p)
        return;
    const int32_t *prompts[NSEQ] = {g_prompt, g_prompt + 5, g_prompt + 8};
    const int64_t plen[NSEQ] = {5, 3, 1};
    int64_t V = 300;
    int32_t solo[NSEQ][NGEN], bat[NSEQ][NGEN];
    float *solo_l = mc_calloc((size_t)(NSEQ * NGEN * V), sizeof(float));
    float *bat_l = mc_calloc((size_t)(NSEQ * NGEN * V), sizeof(float));
    for (int s = 0; s < NSEQ; s++) {
        mc_engine *e = open_engine(p, 2, 1, MC_DT_F16, 0);
        CHECK(e && generate(e, 0, prompts[s], plen[s], NGEN, solo[s], solo_l + s * NGEN * V));
        mc_engine_free(e);
    }
    /* step 1: A's first chunk (3 of 5) and B's prompt; step 2: A's last chunk, B decodes, C's
     * one-token prompt (mixed); then all three decode together */
    mc_engine *e = open_engine(p, 2, 4, MC_DT_F16, 1);
    CHECK(e != NULL);
    if (!e)
        return;
    float *l = mc_calloc((size_t)(NSEQ * V), sizeof *l);
    int32_t last[NSEQ];
    mc_batch_item s1[2] = {{.seq = 3, .tokens = prompts[0], .n_tokens = 3, .more_chunks = 1},
                           {.seq = 1, .tokens = prompts[1], .n_tokens = 3, .logits = MC_LOGITS_LAST,
                            .logits_out = l + V}};
    CHECK(mc_engine_step(e, s1, 2, NULL) == MC_OK);
    CHECK_EQ_INT(mc_engine_last_pass(e)->mode, MC_PASS_PREFILL);
    bat[1][0] = last[1] = argmax(l + V, V);
    memcpy(bat_l + 1 * NGEN * V, l + V, (size_t)V * sizeof *l);
    mc_batch_item s2[3] = {
        {.seq = 3, .tokens = prompts[0] + 3, .n_tokens = 2, .logits = MC_LOGITS_LAST, .logits_out = l},
        {.seq = 1, .tokens = &last[1], .n_tokens = 1, .logits = MC_LOGITS_LAST, .logits_out = l + V},
        {.seq = 0, .tokens = prompts[2], .n_tokens = 1, .logits = MC_LOGITS_LAST, .logits_out = l + 2 * V}};
    CHECK(mc_engine_step(e, s2, 3, NULL) == MC_OK);
    CHECK_EQ_INT(mc_engine_last_pass(e)->mode, MC_PASS_MIXED);
    bat[0][0] = argmax(l, V);
    bat[1][1] = argmax(l + V, V);
    bat[2][0] = argmax(l + 2 * V, V);
    memcpy(bat_l, l, (size_t)V * sizeof *l);
    memcpy(bat_l + (1 * NGEN + 1) * V, l + V, (size_t)V * sizeof *l);
    memcpy(bat_l + 2 * NGEN * V, l + 2 * V, (size_t)V * sizeof *l);
    int have[NSEQ] = {1, 2, 1};
    const int slot[NSEQ] = {3, 1, 0};
    while (have[0] < NGEN || have[1] < NGEN || have[2] < NGEN) {
        mc_batch_item it[NSEQ];
        int n = 0, who[NSEQ];
        for (int s = 0; s < NSEQ; s++)
            if (have[s] < NGEN) {
                last[s] = bat[s][have[s] - 1];
                it[n] = (mc_batch_item){.seq = slot[s], .tokens = &last[s], .n_tokens = 1,
                                        .logits = MC_LOGITS_LAST, .logits_out = l + n * V};
                who[n++] = s;
            }
        CHECK(mc_engine_step(e, it, n, NULL) == MC_OK);
        CHECK_EQ_INT(mc_engine_last_pass(e)->mode, MC_PASS_DECODE);
        for (int i = 0; i < n; i++) {
            int s = who[i];
            bat[s][have[s]] = argmax(l + i * V, V);
            memcpy(bat_l + (s * NGEN + have[s]) * V, l + i * V, (size_t)V * sizeof *l);
            have[s]++;
        }
    }
    CHECK(memcmp(solo, bat, sizeof solo) == 0);
    double m = 0;
    for (int64_t i = 0; i < NSEQ * NGEN * V; i++)
        m = fabs(solo_l[i] - bat_l[i]) > m ? fabs(solo_l[i] - bat_l[i]) : m;
    fprintf(stderr, "  batched vs unbatched: max |diff| of logits %.3g\n", m);
    CHECK(m < 1e-4);
    CHECK_EQ_INT(mc_engine_seq_len(e, 3), 5 + NGEN - 1);
    CHECK_EQ_INT(mc_engine_seq_len(e, 0), 1 + NGEN - 1);
    mc_free(l);
    mc_free(solo_l);
    mc_free(bat_l);
    mc_engine_free(e);
}

TEST(logits_rows_of_several_items)
{
    /* one step: A all 4 positions, B none, C its last; equal to separate steps */
    mc_make_opts o = tiny("llama", MC_DT_F32);
    const char *p = make(&o, "rows.gguf");
    mc_engine *e = p ? open_engine(p, 2, 3, MC_DT_F32, 0) : NULL;
    CHECK(e != NULL);
    if (!e)
        return;
    float *all = mc_calloc(5 * 300, sizeof *all), *sep = mc_calloc(5 * 300, sizeof *sep);
    for (int i = 0; i < 5 * 300; i++)
        all[i] = sep[i] = NAN;
    mc_batch_item it[3] = {
        {.seq = 0, .tokens = g_prompt, .n_tokens = 4, .logits = MC_LOGITS_ALL, .logits_out = all},
        {.seq = 1, .tokens = g_prompt + 4, .n_tokens = 2},
        {.seq = 2, .tokens = g_prompt + 6, .n_tokens = 3, .logits = MC_LOGITS_LAST,
         .logits_out = all + 4 * 300}};
    CHECK(mc_engine_step(e, it, 3, NULL) == MC_OK);
    mc_engine_free(e);
    e = open_engine(p, 2, 3, MC_DT_F32, 0);
    CHECK(e && step1(e, 0, g_prompt, 4, MC_LOGITS_ALL, sep) == MC_OK);
    CHECK(e && step1(e, 2, g_prompt + 6, 3, MC_LOGITS_LAST, sep + 4 * 300) == MC_OK);
    mc_engine_free(e);
    double m = 0;
    for (int i = 0; i < 5 * 300; i++)
        m = fabs(all[i] - sep[i]) > m || isnan(all[i]) ? fabs(all[i] - sep[i]) : m;
    CHECK(m < 1e-5);
    mc_free(all);
    mc_free(sep);
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
    mc_make_opts o = tiny("olmoe", MC_DT_F16);
    o.layers = 3;
    const char *p = make(&o, "record.gguf");
    CHECK(p != NULL);
    if (!p)
        return;
    mc_engine *e = open_engine(p, 2, 4, MC_DT_F16, 1);
    CHECK(e != NULL);
    if (!e)
        return;
    CHECK(mc_engine_last_pass(e) == NULL);
    float l[300 * 2];
    /* prefill 9 tokens in slot 2 (first chunk of 2) */
    mc_batch_item a = {.seq = 2, .tokens = g_prompt, .n_tokens = 9, .more_chunks = 1};
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
    CHECK(ref_open(p, &ro, &rm, NULL) == MC_OK && ref_forward(rm, g_prompt, 9, lg, cnt, NULL) == MC_OK);
    for (int i = 0; i < 3 * 8; i++)
        CHECK_EQ_INT(r->tokens_per_expert[i], cnt[i]);
    ref_free(rm);
    mc_free(lg);
    /* mixed: slot 2 decodes, slot 0 prefills 3 tokens */
    int32_t t1 = 4;
    mc_batch_item b[2] = {{.seq = 2, .tokens = &t1, .n_tokens = 1, .logits = MC_LOGITS_LAST, .logits_out = l},
                          {.seq = 0, .tokens = g_prompt + 2, .n_tokens = 3, .logits = MC_LOGITS_LAST,
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
    mc_make_opts o = tiny("llama", MC_DT_F32);
    const char *p = make(&o, "notrace.gguf");
    CHECK(p != NULL);
    if (!p)
        return;
    float a[300], b[300];
    mc_engine *e = open_engine(p, 2, 1, MC_DT_F16, 0);
    CHECK(e && step1(e, 0, g_prompt, 4, MC_LOGITS_LAST, a) == MC_OK);
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
    CHECK(e && step1(e, 0, g_prompt, 4, MC_LOGITS_LAST, b) == MC_OK);
    CHECK(e && mc_engine_last_pass(e) == NULL);
    CHECK(memcmp(a, b, sizeof a) == 0);
    mc_engine_free(e);
    /* dense model: no MoE layers in the record */
    o.experts = 0;
    o.top_k = 0;
    p = make(&o, "dense-rec.gguf");
    e = p ? open_engine(p, 1, 1, MC_DT_F16, 1) : NULL;
    CHECK(e && step1(e, 0, g_prompt, 3, MC_LOGITS_NONE, NULL) == MC_OK);
    r = e ? mc_engine_last_pass(e) : NULL;
    CHECK(r && r->n_layer_experts == 0 && r->expert_activation < 0 && r->tpe_rows == 0);
    mc_engine_free(e);
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
    mc_make_opts o = tiny("qwen3moe", MC_DT_F32);
    const char *p = make(&o, "bad-items.gguf");
    CHECK(p != NULL);
    if (!p)
        return;
    mc_engine *e = open_engine(p, 2, 2, MC_DT_F16, 0); /* n_ctx 64, max_step_tokens 64 */
    float l[300], ref_l[300];
    CHECK(e && step1(e, 0, g_prompt, 3, MC_LOGITS_NONE, NULL) == MC_OK);
    if (!e)
        return;
    int32_t bad_tok[2] = {5, 300}, neg = -1, big[70] = {0};
    mc_batch_item ok = {.seq = 1, .tokens = g_prompt, .n_tokens = 2};
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
    expect_step_error(e, it, 1, MC_ERR_ARG, "engine: item 0: logits mode 7 (0 none, 1 last, 2 all)");
    expect_step_error(e, NULL, 1, MC_ERR_ARG, "engine: a step needs at least one item");
    /* the engine still computes exactly what a fresh one does */
    CHECK(step1(e, 0, g_prompt + 3, 2, MC_LOGITS_LAST, l) == MC_OK);
    mc_engine_free(e);
    e = open_engine(p, 2, 2, MC_DT_F16, 0);
    CHECK(e && step1(e, 0, g_prompt, 5, MC_LOGITS_LAST, ref_l) == MC_OK);
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
             "(supported: f32, f16, bf16, q8_0, q4_0, q4_k, q6_k)", p);
    CHECK_STR(d.msg, want);
    /* a tensor the engine would not use (attention sinks on llama) */
    s = fx_preset("llama");
    s.sinks = 1;
    p = write_fixture(&s, "sinks.gguf");
    CHECK_EQ_INT(open_err(p, &d), MC_ERR_UNSUPPORTED);
    snprintf(want, sizeof want,
             "engine: %s: tensor 'blk.0.attn_sinks.weight' is not used by the engine's mixtral "
             "model (unsupported feature)", p);
    CHECK_STR(d.msg, want);
    /* olmoe with head-wide q/k norms (the engine follows llama.cpp: full width) */
    s = fx_preset("olmoe");
    s.n_kv = 4;
    s.qk_norm_full = 0;
    p = write_fixture(&s, "olmoe-qk.gguf");
    CHECK_EQ_INT(open_err(p, &d), MC_ERR_FORMAT);
    snprintf(want, sizeof want,
             "engine: %s: tensor 'blk.0.attn_q_norm.weight' has dims [2], expected [8] "
             "(head_count x head dim)", p);
    CHECK_STR(d.msg, want);
    /* architectures the engine does not run */
    s = fx_preset("qwen2");
    p = write_fixture(&s, "qwen2.gguf");
    CHECK_EQ_INT(open_err(p, &d), MC_ERR_UNSUPPORTED);
    snprintf(want, sizeof want,
             "engine: %s: architecture 'qwen2' is not supported by the engine (llama, qwen2moe, "
             "qwen3moe, olmoe)", p);
    CHECK_STR(d.msg, want);
    s = fx_preset("deepseek2");
    p = write_fixture(&s, "ds2.gguf");
    CHECK_EQ_INT(open_err(p, &d), MC_ERR_UNSUPPORTED);
    CHECK_CONTAINS(d.msg, "architecture 'deepseek_v2' is not supported by the engine");
    /* a truncated model file, a missing one */
    mc_make_opts o = tiny("llama", MC_DT_Q8_0);
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
    mc_make_opts o = tiny("qwen2moe", MC_DT_F32);
    const char *p = make(&o, "tok.gguf");
    mc_engine *e = p ? open_engine(p, 1, 1, MC_DT_F16, 0) : NULL;
    CHECK(e && mc_engine_tok(e) != NULL);
    CHECK(e && mc_engine_tok_error(e) == NULL);
    if (e && mc_engine_tok(e))
        CHECK_EQ_INT(mc_tok_n_tokens(mc_engine_tok(e)), 300);
    mc_engine_free(e);
    /* a file whose tokenizer cannot be built (the fixture's gpt2 model has no merges) still
     * runs on token ids */
    fx_model s = fx_preset("llama");
    p = write_fixture(&s, "notok.gguf");
    e = p ? open_engine(p, 1, 1, MC_DT_F16, 0) : NULL;
    int32_t ids[2] = {1, 2};
    CHECK(e && mc_engine_tok(e) == NULL);
    CHECK(e && mc_engine_tok_error(e) && strstr(mc_engine_tok_error(e), "needs merges"));
    CHECK(e && step1(e, 0, ids, 2, MC_LOGITS_NONE, NULL) == MC_OK);
    mc_engine_free(e);
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
    mc_make_opts o = tiny("llama", MC_DT_F32);
    const char *p = make(&o, "sampler.gguf");
    mc_engine *e = p ? open_engine(p, 1, 1, MC_DT_F16, 0) : NULL;
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
    RUN(logits_match_reference_every_arch_and_type);
    RUN(dense_llama_and_f16_cache_match_reference);
    RUN(threads_and_weight_placement_change_no_bits);
    RUN(greedy_generation_is_deterministic);
    RUN(batched_equals_unbatched);
    RUN(logits_rows_of_several_items);
    RUN(record_counts_add_up);
    RUN(record_without_token_counts_and_off_switch);
    RUN(bad_items_change_nothing);
    RUN(bad_files_give_clear_errors);
    RUN(tokenizer_from_the_file);
    RUN(logprobs_hand_computed);
    RUN(sampler);
    return harness_done();
}
