/* test_engine.c: the embedded engine's numbers (src/engine/engine.h) on tiny generated models of
 * every supported architecture: logits against the double-precision reference forward pass
 * (tests/support/ref_forward.c) per weight type, for chunked prefill (both attention paths) and
 * decode; thread counts, kernel sets and weight placement; deterministic greedy generation;
 * batched (several sequences, mixed prefill + decode in one step) against unbatched runs.
 * test_engine_api.c covers the record, bad input, the tokenizer and the sampler. */
#include "engine.h"
#include "engine_fixtures.h"
#include "harness.h"
#include "kernels.h"
#include "ref_forward.h"

#include <math.h>
#include <stdlib.h>

/* the model o written to name in the temporary directory; NULL on failure */
static const char *make(const mc_make_opts *o, const char *name)
{
    return ef_make_in(o, harness_tmpdir(), name);
}

/* ---- logits against the reference ------------------------------------------------------------ */

static const char *g_archs[] = {"llama", "qwen2moe", "qwen3moe", "olmoe"};

TEST(logits_match_reference_every_arch_and_type)
{
    static const mc_dtype types[] = {MC_DT_F32,  MC_DT_F16,  MC_DT_BF16, MC_DT_Q8_0,
                                     MC_DT_Q4_0, MC_DT_Q4_K, MC_DT_Q6_K};
    for (size_t a = 0; a < 4; a++)
        for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
            char name[64], label[64];
            snprintf(name, sizeof name, "%s-%s.gguf", g_archs[a], mc_dtype_name(types[t]));
            snprintf(label, sizeof label, "%s %s", g_archs[a], mc_dtype_name(types[t]));
            mc_make_opts o = ef_tiny(g_archs[a], types[t]);
            const char *p = make(&o, name);
            CHECK(p != NULL);
            if (p)
                CHECK(ef_compare_ref(p, 2, MC_DT_F32, label) < ef_type_tol(types[t]));
        }
}

TEST(dense_llama_and_f16_cache_match_reference)
{
    static const mc_dtype types[] = {MC_DT_F32, MC_DT_Q8_0, MC_DT_Q4_K};
    for (size_t t = 0; t < 3; t++) {
        mc_make_opts o = ef_tiny("llama", types[t]);
        o.experts = 0;
        o.top_k = 0;
        o.ff = 512;
        char name[64], label[64];
        snprintf(name, sizeof name, "dense-%s.gguf", mc_dtype_name(types[t]));
        snprintf(label, sizeof label, "dense llama %s", mc_dtype_name(types[t]));
        const char *p = make(&o, name);
        CHECK(p != NULL);
        if (p)
            CHECK(ef_compare_ref(p, 2, MC_DT_F32, label) < ef_type_tol(types[t]));
    }
    /* the default f16 KV cache against a reference that rounds K and V to f16: a K or V element
     * near an f16 rounding tie may round the other way (2^-11 relative on that element);
     * observed <= 7e-5 */
    for (size_t a = 0; a < 4; a++) {
        mc_make_opts o = ef_tiny(g_archs[a], MC_DT_F32);
        char label[64];
        snprintf(label, sizeof label, "%s f32, f16 KV", g_archs[a]);
        const char *p = make(&o, "kvf16.gguf");
        CHECK(p != NULL);
        if (p)
            CHECK(ef_compare_ref(p, 2, MC_DT_F16, label) < 3e-4);
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
             ef_step(e, 0, ef_prompt, n, MC_LOGITS_ALL, out) == MC_OK;
    int copied = ok ? mc_engine_weights_copied(e) : -1;
    mc_engine_free(e);
    return copied;
}

static int prompt_logits(const char *path, int threads, const char *isa, float *out, int64_t n)
{
    return prompt_logits_w(path, threads, isa, MC_WEIGHTS_AUTO, out, n) >= 0;
}

static int prompt_logits_repack(const char *path, int threads, const char *isa, int repack,
                                float *out, int64_t n);

TEST(threads_and_weight_placement_change_no_bits)
{
    /* splitting a matmul's rows or the attention's (token, head) pairs across threads changes
     * no arithmetic: 1, 2 and 3 threads give bit-identical logits */
    mc_make_opts o = ef_tiny("qwen2moe", MC_DT_Q4_K);
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
    CHECK_EQ_INT(prompt_logits_w(p, 2, NULL, MC_WEIGHTS_COPY, a + n * V, n), 1);
    CHECK_EQ_INT(prompt_logits_w(p, 2, NULL, MC_WEIGHTS_AUTO, a + 2 * n * V, n), 1); /* tiny */
    CHECK(memcmp(a, a + n * V, (size_t)(n * V) * sizeof *a) == 0);
    CHECK(memcmp(a, a + 2 * n * V, (size_t)(n * V) * sizeof *a) == 0);
    /* weights run from the file mapping or from the huge-page copy kept in GGUF's layout: the
     * same bits (the copy's repacked matrices round differently where the kernels have an R16
     * layout, Q4_K on avx512: repacked_weights_give_the_same_logits) */
    CHECK_EQ_INT(prompt_logits_w(p, 2, NULL, MC_WEIGHTS_MMAP, a + n * V, n), 0);
    CHECK_EQ_INT(prompt_logits_repack(p, 2, NULL, 0, a + 2 * n * V, n), 0);
    CHECK(memcmp(a + n * V, a + 2 * n * V, (size_t)(n * V) * sizeof *a) == 0);
    /* every kernel set this CPU runs gives the same logits up to float rounding */
    static const char *isas[] = {"ref", "avx2", "avxvnni", "avx512"};
    for (int i = 0; i < 4; i++) {
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

/* Prompt logits with the weights copied, repacked into the kernels' layout or not; returns the
 * number of repacked matrices, -1 on failure. */
static int prompt_logits_repack(const char *path, int threads, const char *isa, int repack,
                                float *out, int64_t n)
{
    mc_engine_opts o;
    mc_engine_opts_default(&o);
    o.model_path = path;
    o.n_threads = threads;
    o.n_ctx = 64;
    o.kernels = isa;
    o.weights = MC_WEIGHTS_COPY;
    o.no_repack = !repack;
    mc_engine *e = NULL;
    int ok = mc_engine_open(&o, &e, NULL) == MC_OK &&
             ef_step(e, 0, ef_prompt, n, MC_LOGITS_ALL, out) == MC_OK;
    int n_rep = ok ? mc_engine_weights_repacked(e) : -1;
    mc_engine_free(e);
    return n_rep;
}

TEST(repacked_weights_give_the_same_logits)
{
    /* Q8_0/Q4_0/Q4_K matrices repacked into 16-row groups (kernels.h MC_WLAYOUT_R16): every matmul
     * matrix with >= 16 rows (2 layers x (q, k, v, o + 8 experts x 3) + the 300-row head,
     * whose last 12 rows stay in GGUF's layout; not the 8-row routers): the same integer block
     * sums, rounded in another order, for every kernel set; thread counts still change no bits */
    static const mc_dtype types[] = {MC_DT_Q8_0, MC_DT_Q4_0, MC_DT_Q4_K};
    static const char *isas[] = {"ref", "avx2", "avxvnni", "avx512"};
    int64_t V = 300, n = 9;
    float *a = mc_calloc((size_t)(3 * n * V), sizeof *a), *b = a + n * V, *c = b + n * V;
    for (int ti = 0; ti < 3; ti++) {
        mc_make_opts o = ef_tiny("olmoe", types[ti]);
        const char *p = make(&o, "repack.gguf");
        CHECK(p != NULL);
        for (int i = 0; p && i < 4; i++) {
            if (!mc_kernels_isa_available(isas[i]))
                continue;
            CHECK_EQ_INT(prompt_logits_repack(p, 2, isas[i], 0, a, n), 0);
            /* ref: no R16 gain; make-model gives q4_0 and q4_K models a q6_K head (as llama.cpp
             * does); the K-quants are repacked on avx2, avxvnni and avx512 alike */
            int want = strcmp(isas[i], "ref") ? 2 * (4 + 8 * 3) + 1 : 0;
            CHECK_EQ_INT(prompt_logits_repack(p, 2, isas[i], 1, b, n), want);
            CHECK_EQ_INT(prompt_logits_repack(p, 1, isas[i], 1, c, n), want);
            CHECK(memcmp(b, c, (size_t)(n * V) * sizeof *b) == 0);
            double m = 0;
            for (int64_t k = 0; k < n * V; k++)
                m = fabs(a[k] - b[k]) > m ? fabs(a[k] - b[k]) : m;
            fprintf(stderr, "  %s %s repacked vs GGUF layout: max |diff| %.3g\n", isas[i],
                    mc_dtype_name(types[ti]), m);
            CHECK(m < 1e-3); /* float rounding of the same block sums; logits are O(1) */
        }
    }
    mc_kernels_init(NULL, NULL);
    mc_free(a);
}

/* ---- generation and batching ----------------------------------------------------------------- */

/* Greedy continuation of prompt[0..np) by n_gen tokens in slot seq (one sequence per step). */
static int generate(mc_engine *e, int seq, const int32_t *prompt, int64_t np, int n_gen,
                    int32_t *out, float *logits_out)
{
    int64_t V = mc_engine_vocab(e);
    float *l = mc_calloc((size_t)V, sizeof *l);
    int ok = ef_step(e, seq, prompt, np, MC_LOGITS_LAST, l) == MC_OK;
    for (int i = 0; ok && i < n_gen; i++) {
        out[i] = ef_argmax(l, V);
        if (logits_out)
            memcpy(logits_out + i * V, l, (size_t)V * sizeof *l);
        if (i + 1 < n_gen)
            ok = ef_step(e, seq, &out[i], 1, MC_LOGITS_LAST, l) == MC_OK;
    }
    mc_free(l);
    return ok;
}

TEST(greedy_generation_is_deterministic)
{
    mc_make_opts o = ef_tiny("qwen3moe", MC_DT_Q8_0);
    const char *p = make(&o, "greedy.gguf");
    CHECK(p != NULL);
    if (!p)
        return;
    int32_t a[12], b[12], c[12];
    mc_engine *e = ef_open(p, 2, 2, MC_DT_F16, 0);
    CHECK(e && generate(e, 0, ef_prompt, 5, 12, a, NULL));
    mc_engine_seq_reset(e, 0);
    CHECK_EQ_INT(mc_engine_seq_len(e, 0), 0);
    CHECK(generate(e, 0, ef_prompt, 5, 12, b, NULL));
    CHECK(generate(e, 1, ef_prompt, 5, 12, c, NULL)); /* another slot, other slot not cleared */
    mc_engine_free(e);
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(memcmp(a, c, sizeof a) == 0);
    e = ef_open(p, 1, 1, MC_DT_F16, 0);
    CHECK(e && generate(e, 0, ef_prompt, 5, 12, c, NULL));
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
    mc_make_opts o = ef_tiny("qwen2moe", MC_DT_F32);
    const char *p = make(&o, "batch.gguf");
    CHECK(p != NULL);
    if (!p)
        return;
    const int32_t *prompts[NSEQ] = {ef_prompt, ef_prompt + 5, ef_prompt + 8};
    const int64_t plen[NSEQ] = {5, 3, 1};
    int64_t V = 300;
    int32_t solo[NSEQ][NGEN], bat[NSEQ][NGEN];
    float *solo_l = mc_calloc((size_t)(NSEQ * NGEN * V), sizeof(float));
    float *bat_l = mc_calloc((size_t)(NSEQ * NGEN * V), sizeof(float));
    for (int s = 0; s < NSEQ; s++) {
        mc_engine *e = ef_open(p, 2, 1, MC_DT_F16, 0);
        CHECK(e && generate(e, 0, prompts[s], plen[s], NGEN, solo[s], solo_l + s * NGEN * V));
        mc_engine_free(e);
    }
    /* step 1: A's first chunk (3 of 5) and B's prompt; step 2: A's last chunk, B decodes, C's
     * one-token prompt (mixed); then all three decode together */
    mc_engine *e = ef_open(p, 2, 4, MC_DT_F16, 1);
    CHECK(e != NULL);
    if (!e)
        return;
    float *l = mc_calloc((size_t)(NSEQ * V), sizeof *l);
    int32_t last[NSEQ];
    mc_batch_item s1[2] = {{.seq = 3, .tokens = prompts[0], .n_tokens = 3, .more_chunks = 1},
                           {.seq = 1,
                            .tokens = prompts[1],
                            .n_tokens = 3,
                            .logits = MC_LOGITS_LAST,
                            .logits_out = l + V}};
    CHECK(mc_engine_step(e, s1, 2, NULL) == MC_OK);
    CHECK_EQ_INT(mc_engine_last_pass(e)->mode, MC_PASS_PREFILL);
    bat[1][0] = last[1] = ef_argmax(l + V, V);
    memcpy(bat_l + 1 * NGEN * V, l + V, (size_t)V * sizeof *l);
    mc_batch_item s2[3] = {{.seq = 3,
                            .tokens = prompts[0] + 3,
                            .n_tokens = 2,
                            .logits = MC_LOGITS_LAST,
                            .logits_out = l},
                           {.seq = 1,
                            .tokens = &last[1],
                            .n_tokens = 1,
                            .logits = MC_LOGITS_LAST,
                            .logits_out = l + V},
                           {.seq = 0,
                            .tokens = prompts[2],
                            .n_tokens = 1,
                            .logits = MC_LOGITS_LAST,
                            .logits_out = l + 2 * V}};
    CHECK(mc_engine_step(e, s2, 3, NULL) == MC_OK);
    CHECK_EQ_INT(mc_engine_last_pass(e)->mode, MC_PASS_MIXED);
    bat[0][0] = ef_argmax(l, V);
    bat[1][1] = ef_argmax(l + V, V);
    bat[2][0] = ef_argmax(l + 2 * V, V);
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
                it[n] = (mc_batch_item){.seq = slot[s],
                                        .tokens = &last[s],
                                        .n_tokens = 1,
                                        .logits = MC_LOGITS_LAST,
                                        .logits_out = l + n * V};
                who[n++] = s;
            }
        CHECK(mc_engine_step(e, it, n, NULL) == MC_OK);
        CHECK_EQ_INT(mc_engine_last_pass(e)->mode, MC_PASS_DECODE);
        for (int i = 0; i < n; i++) {
            int s = who[i];
            bat[s][have[s]] = ef_argmax(l + i * V, V);
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
    mc_make_opts o = ef_tiny("llama", MC_DT_F32);
    const char *p = make(&o, "rows.gguf");
    mc_engine *e = p ? ef_open(p, 2, 3, MC_DT_F32, 0) : NULL;
    CHECK(e != NULL);
    if (!e)
        return;
    float *all = mc_calloc(5 * 300, sizeof *all), *sep = mc_calloc(5 * 300, sizeof *sep);
    for (int i = 0; i < 5 * 300; i++)
        all[i] = sep[i] = NAN;
    mc_batch_item it[3] = {
        {.seq = 0, .tokens = ef_prompt, .n_tokens = 4, .logits = MC_LOGITS_ALL, .logits_out = all},
        {.seq = 1, .tokens = ef_prompt + 4, .n_tokens = 2},
        {.seq = 2,
         .tokens = ef_prompt + 6,
         .n_tokens = 3,
         .logits = MC_LOGITS_LAST,
         .logits_out = all + 4 * 300}};
    CHECK(mc_engine_step(e, it, 3, NULL) == MC_OK);
    mc_engine_free(e);
    e = ef_open(p, 2, 3, MC_DT_F32, 0);
    CHECK(e && ef_step(e, 0, ef_prompt, 4, MC_LOGITS_ALL, sep) == MC_OK);
    CHECK(e && ef_step(e, 2, ef_prompt + 6, 3, MC_LOGITS_LAST, sep + 4 * 300) == MC_OK);
    mc_engine_free(e);
    double m = 0;
    for (int i = 0; i < 5 * 300; i++)
        m = fabs(all[i] - sep[i]) > m || isnan(all[i]) ? fabs(all[i] - sep[i]) : m;
    CHECK(m < 1e-5);
    mc_free(all);
    mc_free(sep);
}

int main(void)
{
    RUN(logits_match_reference_every_arch_and_type);
    RUN(dense_llama_and_f16_cache_match_reference);
    RUN(threads_and_weight_placement_change_no_bits);
    RUN(repacked_weights_give_the_same_logits);
    RUN(greedy_generation_is_deterministic);
    RUN(batched_equals_unbatched);
    RUN(logits_rows_of_several_items);
    return harness_done();
}
