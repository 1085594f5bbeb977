/* engine_fixtures.c: shared helpers of the engine tests (see engine_fixtures.h). Depends on the
 * engine and make-model libraries and the tests' reference forward pass only. */
#include "engine_fixtures.h"
#include "ref_forward.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const int32_t ef_prompt[40] = {1,   17,  250, 3,   99,  42,  7,  281, 5,   64,  128, 2,  33, 160,
                               77,  201, 12,  9,   295, 140, 61, 8,   222, 45,  190, 3,  87, 150,
                               260, 31,  14,  111, 240, 6,   73, 199, 52,  288, 19,  101};

mc_make_opts ef_tiny(const char *arch, mc_dtype t)
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

int ef_make(const mc_make_opts *o, const char *path)
{
    mc_diag d = {{0}};
    if (mc_make_model(o, path, &d) == MC_OK)
        return 1;
    fprintf(stderr, "make-model %s: %s\n", path, d.msg);
    return 0;
}

mc_engine *ef_open(const char *path, int threads, int seqs, mc_dtype kv, int trace_tok)
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

mc_err ef_step(mc_engine *e, int seq, const int32_t *tok, int64_t n, int mode, float *out)
{
    mc_batch_item it = {
        .seq = seq, .tokens = tok, .n_tokens = n, .logits = mode, .logits_out = out};
    mc_diag d = {{0}};
    mc_err err = mc_engine_step(e, &it, 1, &d);
    if (err)
        fprintf(stderr, "step: %s\n", d.msg);
    return err;
}

int32_t ef_argmax(const float *l, int64_t n)
{
    int32_t b = 0;
    for (int64_t i = 1; i < n; i++)
        if (l[i] > l[b])
            b = (int32_t)i;
    return b;
}

const char *ef_make_in(const mc_make_opts *o, const char *dir, const char *name)
{
    static char path[4][4200];
    static int k;
    char *p = path[k++ % 4];
    snprintf(p, sizeof path[0], "%.4000s/%.64s", dir, name);
    return ef_make(o, p) ? p : NULL;
}

/* max |a - b| over n values / the RMS of b */
static double max_rel_diff(const float *a, const double *b, int64_t n)
{
    double m = 0, s = 0;
    for (int64_t i = 0; i < n; i++) {
        double dd = fabs((double)a[i] - b[i]);
        m = dd > m ? dd : m;
        s += b[i] * b[i];
    }
    return m / sqrt(s / (double)n);
}

double ef_compare_ref(const char *path, int threads, mc_dtype kv, const char *label)
{
    ref_opts ro = {.act_round = 1, .kv_f16 = kv == MC_DT_F16};
    ref_model *r = NULL;
    mc_diag d = {{0}};
    if (ref_open(path, &ro, &r, &d) != MC_OK) {
        fprintf(stderr, "ref open: %s\n", d.msg);
        return INFINITY;
    }
    mc_engine *e = ef_open(path, threads, 2, kv, 0);
    int64_t V = ref_vocab(r), c1 = 18, c2 = 17, nt = 38;
    double *ref = mc_calloc((size_t)(nt * V), sizeof *ref), worst = INFINITY;
    float *got = mc_calloc((size_t)(nt * V), sizeof *got);
    if (e && ref && got && ref_forward(r, ef_prompt, nt, ref, NULL, &d) == MC_OK &&
        ef_step(e, 1, ef_prompt, c1, MC_LOGITS_ALL, got) == MC_OK &&
        ef_step(e, 1, ef_prompt + c1, c2, MC_LOGITS_ALL, got + c1 * V) == MC_OK) {
        worst = 0;
        for (int64_t t = c1 + c2; t < nt; t++)
            if (ef_step(e, 1, ef_prompt + t, 1, MC_LOGITS_LAST, got + t * V) != MC_OK)
                worst = INFINITY;
        for (int64_t t = 0; t < nt; t++) {
            double m = max_rel_diff(got + t * V, ref + t * V, V);
            worst = m > worst ? m : worst;
        }
    }
    fprintf(stderr, "  %-34s worst |engine - ref| / rms(ref) = %.3g\n", label, worst);
    mc_free(ref);
    mc_free(got);
    mc_engine_free(e);
    ref_free(r);
    return worst;
}

double ef_type_tol(mc_dtype t)
{
    return t == MC_DT_F32 || t == MC_DT_F16 || t == MC_DT_BF16 ? 1e-4 : 0.1;
}
