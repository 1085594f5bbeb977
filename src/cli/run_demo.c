/* run_demo.c: `moecap run` without a configuration (docs/RUN.md "The demo"): a small random MoE
 * made by make-model (src/engine/makemodel.h) in F16, and the same seed quantised to Q8_0 and
 * Q4_0, cached under mc_cache_dir()/run-demo/ and reused; four systems that span the MoE-CAP
 * trade-off (F16, Q8_0, Q4_0 all resident; F16 with a 25% expert cache), fidelity against F16,
 * GSM8K on a slice of the data directory, the probed `local` hardware. --fast: a tiny model and
 * a few requests for CI. Also the plain text fidelity reads when no data set is present. */
#include "makemodel.h"
#include "run_int.h"

#include <string.h>
#include <unistd.h>

typedef struct demo_shape {
    int64_t layers, embd, ff, experts, top_k, heads, kv_heads;
} demo_shape;

static const demo_shape demo_full = {4, 512, 1024, 8, 2, 8, 4};
static const demo_shape demo_fast = {2, 128, 256, 8, 2, 4, 4};

/* The model file for one storage type: made once, reused from the cache. */
static mc_err demo_model(const demo_shape *sh, const char *vocab, mc_dtype t, char *out,
                         size_t cap, mc_diag *d)
{
    char dir[RUN_PATH];
    snprintf(dir, sizeof dir, "%s/run-demo", mc_cache_dir());
    mc_err e = mc_mkdirs(dir, d);
    if (e)
        return e;
    int n = snprintf(out, cap, "%s/moe-l%lld-e%lld-x%lld-k%lld-%s-%s.gguf", dir,
                     (long long)sh->layers, (long long)sh->embd, (long long)sh->experts,
                     (long long)sh->top_k, vocab ? "spm" : "v512", mc_dtype_name(t));
    if (n < 0 || (size_t)n >= cap)
        return mc_fail(d, MC_ERR_RANGE, "demo: cache path too long");
    if (access(out, R_OK) == 0)
        return MC_OK;
    mc_make_opts o;
    mc_make_opts_default(&o);
    o.layers = sh->layers;
    o.embd = sh->embd;
    o.ff = sh->ff;
    o.experts = sh->experts;
    o.top_k = sh->top_k;
    o.heads = sh->heads;
    o.kv_heads = sh->kv_heads;
    o.vocab_from = vocab;
    o.seed = 7; /* one seed: the Q8_0 and Q4_0 files are the F16 model quantised */
    o.type = t;
    o.name = "moecap-run-demo";
    fprintf(stderr, "moecap run: making %s\n", out);
    return mc_make_model(&o, out, d);
}

static mc_err demo_system(run_ctx *c, const char *name, const char *label, const char *path,
                          const char *wtype, mc_diag *d)
{
    mc_run_system *s = mc_run_config_add_system(c->cfg, name, path);
    if (!s || !(s->label = mc_strdup(label)) || !(s->weights_type = mc_strdup(wtype)))
        return mc_fail(d, MC_ERR_NOMEM, "demo: out of memory");
    return MC_OK;
}

static mc_err set_str(char **dst, const char *v, mc_diag *d)
{
    mc_free(*dst);
    if (!(*dst = mc_strdup(v)))
        return mc_fail(d, MC_ERR_NOMEM, "demo: out of memory");
    return MC_OK;
}

mc_err run_demo_config(run_ctx *c, mc_diag *d)
{
    const demo_shape *sh = c->fast ? &demo_fast : &demo_full;
    char vocab[RUN_PATH], f16[RUN_PATH], q8[RUN_PATH], q4[RUN_PATH];
    snprintf(vocab, sizeof vocab, "%s/vocab/ggml-vocab-llama-spm.gguf", mc_data_dir());
    const char *v = access(vocab, R_OK) == 0 ? vocab : NULL;
    mc_err e = demo_model(sh, v, MC_DT_F16, f16, sizeof f16, d);
    if (!e)
        e = demo_model(sh, v, MC_DT_Q8_0, q8, sizeof q8, d);
    if (!e)
        e = demo_model(sh, v, MC_DT_Q4_0, q4, sizeof q4, d);
    if (!e)
        e = demo_system(c, "f16", "F16, all experts resident", f16, "f16", d);
    if (!e)
        e = demo_system(c, "q8_0", "Q8_0, all experts resident", q8, "q8_0", d);
    if (!e)
        e = demo_system(c, "q4_0", "Q4_0, all experts resident", q4, "q4_0", d);
    if (!e)
        e = demo_system(c, "f16-offload", "F16, 25% expert cache over the slow tier", f16, "f16",
                        d);
    if (e)
        return e;
    mc_run_config *k = c->cfg;
    k->systems[3].expert_cache_frac = 0.25;
    if ((e = set_str(&k->hardware, "local", d)) || (e = set_str(&k->eval.tasks[0], "gsm8k", d)) ||
        (e = set_str(&k->eval.fidelity_reference, "f16", d)))
        return e;
    k->eval.n_tasks = 1;
    k->eval.limit = c->fast ? 4 : 20;
    k->eval.max_tokens = c->fast ? 16 : 48;
    k->eval.fidelity_tokens = c->fast ? 256 : 1024;
    k->workload.input_len = c->fast ? 32 : 128;
    k->workload.output_len = c->fast ? 16 : 64;
    k->workload.num_requests = c->fast ? 6 : 16;
    k->workload.warmup = c->fast ? 1 : 2;
    k->workload.n_concurrency = 2;
    k->workload.concurrency[0] = 1;
    k->workload.concurrency[1] = 4;
    return MC_OK;
}

/* Plain text for `eval fidelity --data` when GSM8K is absent: sentences drawn from a fixed word
 * list by a seeded generator, so every run scores the same tokens. */
mc_err run_demo_text(const char *path, mc_diag *d)
{
    static const char *const words[] = {
        "the",    "model",  "routes", "each",    "token", "to",     "two",    "experts",
        "of",     "eight",  "and",    "a",       "cache", "keeps",  "some",   "in",
        "memory", "while",  "others", "wait",    "on",    "disk",   "cost",   "accuracy",
        "speed",  "trade",  "off",    "against", "one",   "another", "numbers", "measured"};
    mc_buf b;
    mc_rng r;
    mc_buf_init(&b, 0);
    mc_rng_seed(&r, 11);
    mc_err e = MC_OK;
    for (int s = 0; s < 400 && !e; s++) {
        int n = 6 + (int)mc_rng_below(&r, 10);
        for (int w = 0; w < n && !e; w++)
            e = mc_buf_printf(&b, "%s%s", w ? " " : "", words[mc_rng_below(&r, 32)]);
        if (!e)
            e = mc_buf_printf(&b, ".%s", s % 5 == 4 ? "\n\n" : " ");
    }
    if (!e)
        e = mc_write_file_atomic(path, b.data, b.len, d);
    else
        mc_fail(d, e, "fidelity text: out of memory");
    mc_buf_deinit(&b);
    return e;
}
