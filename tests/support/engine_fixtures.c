/* engine_fixtures.c: shared helpers of the engine tests (see engine_fixtures.h). Depends on the
 * engine and make-model libraries only. */
#include "engine_fixtures.h"

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
