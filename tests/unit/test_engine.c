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

#include <math.h>

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

static const int32_t g_prompt[] = {1, 17, 250, 3, 99, 42, 7, 281, 5, 64, 128, 2};

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

/* Prefill 7 tokens (logits of all), then decode 3 (logits of the last), against the reference
 * over the whole sequence. Returns the worst |diff| / rms(ref). */
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
    int64_t V = ref_vocab(r), np = 7, nt = 10;
    double *ref = mc_calloc((size_t)(nt * V), sizeof *ref);
    float *got = mc_calloc((size_t)(nt * V), sizeof *got);
    double worst = INFINITY, rms;
    if (e && ref && got && ref_forward(r, g_prompt, nt, ref, NULL, &d) == MC_OK &&
        step1(e, 1, g_prompt, np, MC_LOGITS_ALL, got) == MC_OK) {
        worst = 0;
        for (int64_t t = np; t < nt; t++)
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
            if (!p)
                continue;
            double w = compare_ref(p, 2, MC_DT_F32, label);
            CHECK(w < 1e-4);
        }
}

int main(void)
{
    RUN(logits_match_reference_every_arch_and_type);
    return harness_done();
}
