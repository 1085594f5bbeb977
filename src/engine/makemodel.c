/* makemodel.c: `moecap make-model` as a library: checks the options (every error names the
 * option), writes the GGUF metadata of the chosen architecture and streams the seeded random
 * tensors (makemodel_tensors.c) through the GGUF writer into an atomically written file.
 * Depends on base, the GGUF writer/reader (model/gguf.h) and the kernels' quantisers; must not
 * depend on the engine's forward pass or tokenizer, and never prints. */
#include "makemodel_impl.h"

#include "kernels.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define ERR "make-model: "

void mc_make_opts_default(mc_make_opts *o)
{
    memset(o, 0, sizeof *o);
    o->arch = "llama";
    o->layers = 2;
    o->embd = 256;
    o->ff = 512;
    o->experts = 8;
    o->top_k = 2;
    o->shared_ff = -1;
    o->heads = 4;
    o->vocab = 512;
    o->ctx = 4096;
    o->seed = 1;
    o->type = MC_DT_F16;
    o->dense_layers = -1;
    o->weights_norm = -1;
}

uint32_t mk_ggml_type(mc_dtype t)
{
    switch (t) {
    case MC_DT_F32: return MC_GGML_F32;
    case MC_DT_F16: return MC_GGML_F16;
    case MC_DT_BF16: return MC_GGML_BF16;
    case MC_DT_Q8_0: return MC_GGML_Q8_0;
    case MC_DT_Q4_0: return MC_GGML_Q4_0;
    case MC_DT_Q4_K: return MC_GGML_Q4_K;
    case MC_DT_Q6_K: return MC_GGML_Q6_K;
    default: return UINT32_MAX;
    }
}

/* llama.cpp's general.file_type (llama_ftype) of a file whose matrices are all of type t. */
static uint32_t file_type(mc_dtype t)
{
    switch (t) {
    case MC_DT_F32: return 0;   /* ALL_F32 */
    case MC_DT_F16: return 1;   /* MOSTLY_F16 */
    case MC_DT_Q4_0: return 2;  /* MOSTLY_Q4_0 */
    case MC_DT_Q8_0: return 7;  /* MOSTLY_Q8_0 */
    case MC_DT_Q4_K: return 14; /* MOSTLY_Q4_K_S */
    case MC_DT_Q6_K: return 18; /* MOSTLY_Q6_K */
    default: return 32;         /* MOSTLY_BF16 */
    }
}

static int is_quant(mc_dtype t)
{
    return t == MC_DT_Q8_0 || t == MC_DT_Q4_0 || t == MC_DT_Q4_K || t == MC_DT_Q6_K;
}

/* ---- options --------------------------------------------------------------------------------- */

static mc_err range(mc_diag *d, const char *opt, int64_t v, int64_t lo, int64_t hi)
{
    if (v >= lo && v <= hi)
        return MC_OK;
    return mc_fail(d, MC_ERR_ARG, ERR "%s %lld out of range [%lld, %lld]", opt, (long long)v,
                   (long long)lo, (long long)hi);
}

static mc_err resolve_arch(mk *m)
{
    static const char *names[] = {"llama",     "qwen2moe", "olmoe", "qwen3moe",
                                  "deepseek2", "qwen2",    "qwen3"};
    const char *a = m->o->arch ? m->o->arch : "llama";
    for (int i = 0; i < 7; i++)
        if (!strcmp(a, names[i])) {
            m->arch = i;
            m->arch_name = names[i];
            return MC_OK;
        }
    return mc_fail(m->d, MC_ERR_ARG,
                   ERR "--arch '%.40s' is not one of llama, qwen2moe, olmoe, "
                       "qwen3moe, deepseek2, qwen2, qwen3",
                   a);
}

static mc_err check_type(mk *m, const char *opt, mc_dtype t)
{
    if (mk_ggml_type(t) != UINT32_MAX)
        return MC_OK;
    return mc_fail(m->d, MC_ERR_ARG,
                   ERR "%s %s is not supported (f32, f16, bf16, q8_0, q4_0, "
                       "q4_k, q6_k)",
                   opt, mc_dtype_name(t));
}

static mc_err check_sizes(mk *m)
{
    const mc_make_opts *o = m->o;
    mc_diag *d = m->d;
    mc_err e = range(d, "--layers", o->layers, 1, 4096);
    if (!e)
        e = range(d, "--embd", o->embd, 1, INT64_C(1) << 17);
    if (!e)
        e = range(d, "--ff", o->ff, 1, INT64_C(1) << 20);
    if (!e)
        e = range(d, "--experts", o->experts, 0, 4096);
    if (!e && o->experts > 0 && o->top_k > o->experts)
        e = mc_fail(d, MC_ERR_ARG, ERR "--top-k %lld exceeds --experts %lld", (long long)o->top_k,
                    (long long)o->experts);
    if (!e && o->experts > 0)
        e = range(d, "--top-k", o->top_k, 1, o->experts);
    if (!e && o->shared_ff != -1)
        e = range(d, "--shared-ff", o->shared_ff, 0, INT64_C(1) << 20);
    if (!e)
        e = range(d, "--heads", o->heads, 1, 4096);
    if (!e)
        e = range(d, "--kv-heads", o->kv_heads, 0, o->heads);
    if (!e)
        e = range(d, "--head-dim", o->head_dim, 0, 4096);
    if (!e && !o->vocab_from)
        e = range(d, "--vocab", o->vocab, MC_MAKE_MIN_VOCAB, INT64_C(1) << 22);
    if (!e)
        e = range(d, "--ctx", o->ctx, 1, INT64_C(1) << 24);
    return e;
}

static mc_err check_floats(mk *m)
{
    const mc_make_opts *o = m->o;
    int qwen = m->arch == MK_QWEN2MOE || m->arch == MK_QWEN3MOE || m->arch == MK_QWEN2 ||
               m->arch == MK_QWEN3;
    m->theta = o->rope_theta != 0 ? o->rope_theta : qwen ? 1e6 : 1e4;
    m->eps = o->norm_eps != 0 ? o->norm_eps : qwen ? 1e-6 : 1e-5;
    m->skew = o->route_skew;
    if (!isfinite(m->theta) || m->theta <= 1)
        return mc_fail(m->d, MC_ERR_ARG, ERR "--rope-theta %g must be a finite number > 1",
                       m->theta);
    if (!isfinite(m->eps) || m->eps <= 0 || m->eps >= 1)
        return mc_fail(m->d, MC_ERR_ARG, ERR "--norm-eps %g must lie in (0, 1)", m->eps);
    if (!isfinite(m->skew) || m->skew < 0 || m->skew > 1000)
        return mc_fail(m->d, MC_ERR_ARG, ERR "--route-skew %g must lie in [0, 1000]", m->skew);
    return MC_OK;
}

/* Heads, head dim and the architecture's own constraints. */
static mc_err check_attention(mk *m)
{
    const mc_make_opts *o = m->o;
    mc_diag *d = m->d;
    m->heads = o->heads;
    m->kv = o->kv_heads ? o->kv_heads : o->heads;
    if (m->heads % m->kv != 0)
        return mc_fail(d, MC_ERR_ARG, ERR "--heads %lld is not a multiple of --kv-heads %lld",
                       (long long)m->heads, (long long)m->kv);
    if (!o->head_dim && o->embd % o->heads != 0)
        return mc_fail(d, MC_ERR_ARG,
                       ERR "--embd %lld is not a multiple of --heads %lld (or give --head-dim)",
                       (long long)o->embd, (long long)o->heads);
    m->hd = o->head_dim ? o->head_dim : o->embd / o->heads;
    if (m->hd % 2 != 0)
        return mc_fail(d, MC_ERR_ARG, ERR "head dim %lld must be even (RoPE rotates pairs)",
                       (long long)m->hd);
    int full = m->arch == MK_QWEN2MOE || m->arch == MK_OLMOE || m->arch == MK_QWEN2;
    if (full && m->hd * m->heads != o->embd)
        return mc_fail(d, MC_ERR_ARG,
                       ERR "--head-dim %lld: %s needs --heads x head dim = --embd (%lld)",
                       (long long)m->hd, m->arch_name, (long long)o->embd);
    if (m->arch == MK_OLMOE && m->kv != m->heads)
        return mc_fail(d, MC_ERR_ARG,
                       ERR "--kv-heads %lld: olmoe needs --kv-heads = --heads (%lld): llama.cpp "
                           "sizes its k norm by the full width",
                       (long long)m->kv, (long long)m->heads);
    return MC_OK;
}

static mc_err check_moe(mk *m)
{
    const mc_make_opts *o = m->o;
    mc_diag *d = m->d;
    m->experts = o->experts;
    m->top_k = o->experts ? o->top_k : 0;
    int dense_arch = m->arch == MK_QWEN2 || m->arch == MK_QWEN3;
    if (o->experts == 0 && m->arch != MK_LLAMA && !dense_arch)
        return mc_fail(d, MC_ERR_ARG,
                       ERR "--experts 0 (a dense model) needs --arch llama, qwen2 or qwen3");
    if (o->experts > 0 && dense_arch)
        return mc_fail(d, MC_ERR_ARG, ERR "--arch %s is dense: use --experts 0 (or %smoe)",
                       m->arch_name, m->arch_name);
    m->shared_ff = o->shared_ff >= 0         ? o->shared_ff
                   : m->arch == MK_QWEN2MOE  ? 4 * o->ff
                   : m->arch == MK_DEEPSEEK2 ? 2 * o->ff
                                             : 0;
    if (m->shared_ff > 0 && m->arch != MK_QWEN2MOE && m->arch != MK_DEEPSEEK2)
        return mc_fail(d, MC_ERR_ARG, ERR "--shared-ff needs --arch qwen2moe or deepseek2");
    if (m->shared_ff == 0 && m->arch == MK_QWEN2MOE)
        return mc_fail(d, MC_ERR_ARG,
                       ERR "--shared-ff 0: qwen2moe needs a shared expert (llama.cpp requires "
                           "its tensors)");
    if (m->shared_ff > (INT64_C(1) << 20))
        return mc_fail(d, MC_ERR_ARG, ERR "--shared-ff %lld (4 x --ff) exceeds %lld",
                       (long long)m->shared_ff, (long long)(INT64_C(1) << 20));
    return MC_OK;
}

/* YaRN keys (deepseek2): factor > 1, original context, log multiplier. */
static mc_err check_yarn(mk *m)
{
    const mc_make_opts *o = m->o;
    m->yarn = o->yarn_factor;
    m->yarn_orig = o->yarn_orig_ctx ? o->yarn_orig_ctx : o->ctx;
    m->yarn_log_mul = o->yarn_log_mul != 0 ? o->yarn_log_mul : 0.0707;
    if (m->yarn != 0 && (!isfinite(m->yarn) || m->yarn <= 1 || m->yarn > 1e4))
        return mc_fail(m->d, MC_ERR_ARG, ERR "--yarn-factor %g must lie in (1, 10000]", m->yarn);
    if (!isfinite(m->yarn_log_mul) || m->yarn_log_mul < 0 || m->yarn_log_mul > 10)
        return mc_fail(m->d, MC_ERR_ARG, ERR "--yarn-log-mul %g must lie in [0, 10]",
                       m->yarn_log_mul);
    return range(m->d, "--yarn-orig-ctx", m->yarn_orig, 1, INT64_C(1) << 24);
}

/* deepseek2's MLA shape: heads = kv heads, key = nope + rope, value, ranks. */
static mc_err check_mla(mk *m)
{
    const mc_make_opts *o = m->o;
    mc_diag *d = m->d;
    if (o->kv_heads && o->kv_heads != o->heads)
        return mc_fail(d, MC_ERR_ARG,
                       ERR "--kv-heads %lld: deepseek2 (MLA) has one KV head per "
                           "head (--kv-heads = --heads)",
                       (long long)o->kv_heads);
    m->kv = m->heads;
    m->rope = o->rope_dim ? o->rope_dim : m->hd / 4 / 2 * 2;
    m->vd = o->v_head_dim ? o->v_head_dim : m->hd;
    m->q_lora = o->q_lora;
    m->kv_lora = o->kv_lora ? o->kv_lora : o->embd;
    mc_err e = range(d, "--rope-dim", m->rope, 2, m->hd - 1);
    if (!e && m->rope % 2)
        e = mc_fail(d, MC_ERR_ARG, ERR "--rope-dim %lld must be even", (long long)m->rope);
    if (!e)
        e = range(d, "--v-head-dim", m->vd, 1, 4096);
    if (!e)
        e = range(d, "--q-lora", m->q_lora, 0, INT64_C(1) << 16);
    if (!e)
        e = range(d, "--kv-lora", m->kv_lora, 1, INT64_C(1) << 16);
    m->nope = m->hd - m->rope;
    return e;
}

/* deepseek2's blocks and routing. */
static mc_err check_deepseek(mk *m)
{
    const mc_make_opts *o = m->o;
    mc_diag *d = m->d;
    m->dense_layers = o->dense_layers >= 0 ? o->dense_layers : 1;
    m->dense_ff = o->dense_ff ? o->dense_ff : 4 * o->ff;
    m->gating = o->gating ? o->gating : 1;
    m->w_norm = o->weights_norm >= 0 ? o->weights_norm != 0 : m->gating == 2;
    m->w_scale = o->weights_scale != 0 ? o->weights_scale : 1.0;
    m->groups = o->groups;
    m->gused = o->group_used;
    m->split = o->mla_split != 0;
    mc_err e = check_mla(m);
    if (!e)
        e = range(d, "--dense-layers", m->dense_layers, 0, o->layers);
    if (!e)
        e = range(d, "--dense-ff", m->dense_ff, 1, INT64_C(1) << 20);
    if (!e && (m->gating < 1 || m->gating > 2))
        e = mc_fail(d, MC_ERR_ARG, ERR "--gating %d (1 softmax, 2 sigmoid)", m->gating);
    if (!e && (!isfinite(m->w_scale) || m->w_scale <= 0 || m->w_scale > 1000))
        e = mc_fail(d, MC_ERR_ARG, ERR "--weights-scale %g must lie in (0, 1000]", m->w_scale);
    if (!e && m->experts == 0)
        e = mc_fail(d, MC_ERR_ARG, ERR "deepseek2 needs --experts > 0");
    if (!e && (m->shared_ff == 0 || m->shared_ff % o->ff))
        e = mc_fail(d, MC_ERR_ARG,
                    ERR "--shared-ff %lld: deepseek2 needs a positive multiple "
                        "of --ff (shared experts of the expert width)",
                    (long long)m->shared_ff);
    m->n_shared = m->shared_ff / o->ff;
    if (!e && m->groups &&
        (m->groups < 2 || m->experts % m->groups || m->gused < 1 || m->gused > m->groups ||
         m->top_k > m->gused * (m->experts / m->groups)))
        e = mc_fail(d, MC_ERR_ARG,
                    ERR "--groups %lld / --group-used %lld must divide --experts "
                        "and keep at least --top-k experts",
                    (long long)m->groups, (long long)m->gused);
    return e ? e : check_yarn(m);
}

/* Row lengths must be whole blocks of the storage type. */
static mc_err check_blocks(mk *m)
{
    int64_t b = mc_kernels_block_elems(m->type);
    const char *tn = mc_dtype_name(m->type);
    struct {
        const char *what;
        int64_t v;
    } rows[] = {{"--embd", m->embd},
                {"--ff", m->ff},
                {"--shared-ff", m->shared_ff},
                {"--heads x head dim", m->arch == MK_DEEPSEEK2 ? 0 : m->heads * m->hd},
                {"--heads x --v-head-dim", m->heads * m->vd},
                {"--q-lora", m->q_lora},
                {"--kv-lora", m->kv_lora},
                {"--dense-ff", m->dense_layers ? m->dense_ff : 0},
                {"head dim - --rope-dim (attn_k_b rows)", m->split ? m->nope : 0}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (rows[i].v % b != 0)
            return mc_fail(m->d, MC_ERR_ARG,
                           ERR "%s = %lld is not a multiple of %lld (the %s block size)",
                           rows[i].what, (long long)rows[i].v, (long long)b, tn);
    int64_t ob = mc_kernels_block_elems(m->out_type);
    if (m->embd % ob != 0)
        return mc_fail(m->d, MC_ERR_ARG,
                       ERR "--embd %lld is not a multiple of %lld (the %s block size of "
                           "--output-type)",
                       (long long)m->embd, (long long)ob, mc_dtype_name(m->out_type));
    return MC_OK;
}

/* The output type llama.cpp's quantiser picks: q6_K next to k-quants and q4_0 (q8_0 when the
 * rows are not whole 256-blocks), else the file's type. */
static mc_dtype default_output_type(mc_dtype t, int64_t embd)
{
    if (t != MC_DT_Q4_0 && t != MC_DT_Q4_K && t != MC_DT_Q6_K)
        return t;
    return embd % 256 == 0 ? MC_DT_Q6_K : MC_DT_Q8_0;
}

static mc_err resolve(mk *m)
{
    const mc_make_opts *o = m->o;
    mc_err e = resolve_arch(m);
    if (!e)
        e = check_sizes(m);
    if (!e)
        e = check_type(m, "--type", o->type);
    if (!e && o->has_output_type)
        e = check_type(m, "--output-type", o->output_type);
    if (!e)
        e = check_floats(m);
    if (!e)
        e = check_attention(m);
    if (!e)
        e = check_moe(m);
    if (!e && m->arch == MK_DEEPSEEK2)
        e = check_deepseek(m);
    if (e)
        return e;
    m->layers = o->layers;
    m->embd = o->embd;
    m->ff = o->ff;
    m->vocab = o->vocab;
    m->ctx = o->ctx;
    m->seed = o->seed;
    m->type = o->type;
    m->out_type = o->has_output_type ? o->output_type : default_output_type(o->type, o->embd);
    return check_blocks(m);
}

/* ---- metadata -------------------------------------------------------------------------------- */

typedef struct kw {
    mc_gguf_writer *w;
    mk *m;
    mc_err e;
    char key[96];
} kw;

static const char *akey(kw *k, const char *suffix)
{
    snprintf(k->key, sizeof k->key, "%s.%s", k->m->arch_name, suffix);
    return k->key;
}

static void u32(kw *k, const char *suffix, int64_t v)
{
    if (!k->e)
        k->e = mc_gguf_add_u32(k->w, akey(k, suffix), (uint32_t)v, k->m->d);
}

static void f32(kw *k, const char *suffix, double v)
{
    if (!k->e)
        k->e = mc_gguf_add_f32(k->w, akey(k, suffix), (float)v, k->m->d);
}

static void meta_general(kw *k)
{
    mk *m = k->m;
    char name[96];
    snprintf(name, sizeof name, "moecap-random-%s", m->arch_name);
    const char *nm = m->o->name ? m->o->name : name;
    k->e = mc_gguf_add_str(k->w, "general.architecture", m->arch_name, m->d);
    if (!k->e)
        k->e = mc_gguf_add_str(k->w, "general.name", nm, m->d);
    if (!k->e)
        k->e = mc_gguf_add_u32(k->w, "general.file_type", file_type(m->type), m->d);
    if (!k->e && is_quant(m->type))
        k->e = mc_gguf_add_u32(k->w, "general.quantization_version", 2, m->d);
}

static void flag(kw *k, const char *suffix, int v)
{
    if (!k->e)
        k->e = mc_gguf_add_bool(k->w, akey(k, suffix), v, k->m->d);
}

static void str(kw *k, const char *suffix, const char *v)
{
    if (!k->e)
        k->e = mc_gguf_add_str(k->w, akey(k, suffix), v, k->m->d);
}

/* deepseek2's keys as llama.cpp's converter writes them. */
static void meta_deepseek(kw *k)
{
    mk *m = k->m;
    if (m->q_lora > 0)
        u32(k, "attention.q_lora_rank", m->q_lora);
    u32(k, "attention.kv_lora_rank", m->kv_lora);
    u32(k, "leading_dense_block_count", m->dense_layers);
    u32(k, "expert_feed_forward_length", m->ff);
    u32(k, "expert_shared_count", m->n_shared);
    f32(k, "expert_weights_scale", m->w_scale);
    flag(k, "expert_weights_norm", m->w_norm);
    u32(k, "expert_gating_func", m->gating);
    if (m->groups) {
        u32(k, "expert_group_count", m->groups);
        u32(k, "expert_group_used_count", m->gused);
    }
    if (m->yarn > 1) {
        str(k, "rope.scaling.type", "yarn");
        f32(k, "rope.scaling.factor", m->yarn);
        u32(k, "rope.scaling.original_context_length", m->yarn_orig);
        f32(k, "rope.scaling.yarn_log_multiplier", m->yarn_log_mul);
    }
}

static void meta_arch(kw *k)
{
    mk *m = k->m;
    u32(k, "context_length", m->ctx);
    u32(k, "embedding_length", m->embd);
    u32(k, "block_count", m->layers);
    u32(k, "feed_forward_length", m->arch == MK_DEEPSEEK2 ? m->dense_ff : m->ff);
    u32(k, "attention.head_count", m->heads);
    int ds = m->arch == MK_DEEPSEEK2;
    u32(k, "attention.head_count_kv", ds && m->split ? 1 : m->kv);
    if (ds && m->split) { /* the latent is the key and value of llama.cpp's absorbed MQA */
        u32(k, "attention.key_length", m->kv_lora + m->rope);
        u32(k, "attention.value_length", m->kv_lora);
        u32(k, "attention.key_length_mla", m->hd);
        u32(k, "attention.value_length_mla", m->vd);
    } else if (m->hd * m->heads != m->embd || m->arch == MK_QWEN3MOE || m->arch == MK_QWEN3 || ds) {
        u32(k, "attention.key_length", m->hd);
        u32(k, "attention.value_length", ds ? m->vd : m->hd);
    }
    u32(k, "rope.dimension_count", ds ? m->rope : m->hd);
    f32(k, "rope.freq_base", m->theta);
    f32(k, "attention.layer_norm_rms_epsilon", m->eps);
    if (m->experts > 0) {
        u32(k, "expert_count", m->experts);
        u32(k, "expert_used_count", m->top_k);
    }
    if (m->arch == MK_QWEN2MOE || m->arch == MK_QWEN3MOE)
        u32(k, "expert_feed_forward_length", m->ff);
    if (m->shared_ff > 0 && m->arch == MK_QWEN2MOE)
        u32(k, "expert_shared_feed_forward_length", m->shared_ff);
    if (ds)
        meta_deepseek(k);
}

/* moecap.* keys: how the file was made (other readers ignore them). */
static void meta_moecap(kw *k)
{
    mk *m = k->m;
    if (!k->e)
        k->e = mc_gguf_add_u64(k->w, "moecap.seed", m->seed, m->d);
    if (!k->e)
        k->e = mc_gguf_add_f32(k->w, "moecap.route_skew", (float)m->skew, m->d);
    if (!k->e && m->experts > 0) {
        int64_t n = m->layers * m->top_k;
        uint32_t *h = mc_mallocarray((size_t)n, sizeof *h);
        if (!h) {
            k->e = mc_fail(m->d, MC_ERR_NOMEM, ERR "out of memory");
            return;
        }
        for (int64_t i = 0; i < n; i++)
            h[i] = (uint32_t)m->hot[i];
        k->e = mc_gguf_add_arr(k->w, "moecap.hot_experts", MC_GGUF_UINT32, h, (uint64_t)n, m->d);
        mc_free(h);
    }
}

static mc_err add_metadata(mk *m, mc_gguf_writer *w)
{
    kw k = {.w = w, .m = m};
    meta_general(&k);
    if (!k.e)
        meta_arch(&k);
    if (!k.e)
        k.e = mk_add_vocab(m, w);
    if (!k.e)
        meta_moecap(&k);
    return k.e;
}

/* ---- build and write ------------------------------------------------------------------------- */

static void mk_free(mk *m)
{
    mc_free(m->t);
    mc_free(m->u);
    mc_free(m->hot);
    mc_free(m->row);
    mc_free(m->qrow);
    mc_free(m->kb_cache);
    mc_gguf_free(m->vocab_src);
}

/* Validates, plans and builds the writer (tensor data produced later by the fill callbacks). */
static mc_err build(mk *m, mc_gguf_writer **wout)
{
    mc_gguf_writer *w = NULL;
    mc_err e = resolve(m);
    if (!e)
        e = mk_open_vocab(m);
    if (!e)
        e = mk_plan_tensors(m);
    if (!e)
        e = mk_prepare_streams(m);
    if (!e && !(w = mc_gguf_writer_new()))
        e = mc_fail(m->d, MC_ERR_NOMEM, ERR "out of memory");
    if (!e)
        e = add_metadata(m, w);
    if (!e)
        e = mk_add_tensors(m, w);
    if (e) {
        mc_gguf_writer_free(w);
        return e;
    }
    m->sum.file_bytes = mc_gguf_writer_size(w);
    *wout = w;
    return MC_OK;
}

static mc_err run(const mc_make_opts *o, const char *path, mc_make_summary *out, mc_diag *d)
{
    mk m;
    memset(&m, 0, sizeof m);
    m.o = o;
    m.d = d;
    mc_gguf_writer *w = NULL;
    mc_err e = build(&m, &w);
    if (!e && path)
        e = mc_gguf_writer_write_file(w, path, d);
    if (!e && out)
        *out = m.sum;
    mc_gguf_writer_free(w);
    mk_free(&m);
    return e;
}

mc_err mc_make_model_ex(const mc_make_opts *o, const char *path, mc_make_summary *out, mc_diag *d)
{
    if (!path || !*path)
        return mc_fail(d, MC_ERR_ARG, ERR "no output file (-o FILE)");
    return run(o, path, out, d);
}

mc_err mc_make_model(const mc_make_opts *o, const char *path, mc_diag *d)
{
    return mc_make_model_ex(o, path, NULL, d);
}

mc_err mc_make_model_plan(const mc_make_opts *o, mc_make_summary *out, mc_diag *d)
{
    return run(o, NULL, out, d);
}
