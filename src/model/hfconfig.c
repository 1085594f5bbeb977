/* hfconfig.c: the Hugging Face config.json loader. Reads the keys of each supported model_type
 * (the list and the keys are in docs/MODELS.md), validates every value it uses and builds a
 * finalized mc_model, including the storage type of each tensor group from torch_dtype and
 * quantization_config. Every error is one line naming the file, the key and the problem.
 * Key access is in hfjson.c. Depends on base, model.h and cJSON only; prints nothing; the only I/O
 * is reading the file. */
#include "hfjson.h"
#include "model.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define HF_MAX_FILE ((size_t)4 << 20) /* a config.json is a few kB; refuse anything absurd */
#define HF_MAX_DIM ((int64_t)1 << 30)
#define HF_MAX_LAYERS 65536

/* ---- the structure read from the keys, before it becomes an mc_model ---- */

typedef enum sparsity {
    SP_ALL = 0,  /* every layer is MoE */
    SP_NONE,     /* dense model */
    SP_QWEN,     /* MoE iff not in mlp_only_layers and (l+1) % decoder_sparse_step == 0 */
    SP_DEEPSEEK, /* MoE iff l >= first_k_dense_replace and l % moe_layer_freq == 0 */
    SP_ARCTIC    /* MoE iff (l+1) % moe_layer_frequency == 0 */
} sparsity;

typedef struct shape {
    int64_t hidden, n_layers, vocab, max_ctx;
    int tied;
    double rope_theta, norm_eps;
    mc_attn attn;
    int64_t dense_ff;                    /* width of the dense layers (0 = not given) */
    int64_t n_experts, top_k, expert_ff; /* routed experts (n_experts 0 = none) */
    int64_t n_shared, shared_ff;         /* shared block: count and TOTAL width */
    int shared_gate, router_bias, expert_bias, moe_extra_norms;
    sparsity rule;
    int64_t step, first_dense; /* see sparsity */
    const cJSON *mlp_only;     /* SP_QWEN: validated array of layer indices */
    const char *dense_key;     /* key that gives dense_ff, for messages */
} shape;

/* Keys every HF decoder config has (all supported types except dbrx). */
static mc_err parse_common(const mc_hfj *h, shape *s)
{
    mc_err e;
    if ((e = mc_hfj_req_int(h, "hidden_size", 1, HF_MAX_DIM, &s->hidden)) ||
        (e = mc_hfj_req_int(h, "num_hidden_layers", 1, HF_MAX_LAYERS, &s->n_layers)) ||
        (e = mc_hfj_req_int(h, "vocab_size", 1, HF_MAX_DIM, &s->vocab)) ||
        (e = mc_hfj_opt_int(h, "max_position_embeddings", 0, 0, INT64_MAX, &s->max_ctx)) ||
        (e = mc_hfj_opt_bool(h, "tie_word_embeddings", 0, &s->tied)) ||
        (e = mc_hfj_opt_f64(h, "rope_theta", 10000.0, &s->rope_theta)) ||
        (e = mc_hfj_opt_f64(h, "rms_norm_eps", 1e-5, &s->norm_eps)))
        return e;
    return MC_OK;
}

/* GQA/MHA heads: num_attention_heads, num_key_value_heads (default: MHA), head_dim (default
 * hidden_size / heads). */
static mc_err parse_heads(const mc_hfj *h, shape *s)
{
    mc_attn *a = &s->attn;
    mc_err e;
    if ((e = mc_hfj_req_int(h, "num_attention_heads", 1, HF_MAX_DIM, &a->n_heads)) ||
        (e = mc_hfj_opt_int(h, "num_key_value_heads", a->n_heads, 1, HF_MAX_DIM, &a->n_kv_heads)) ||
        (e = mc_hfj_opt_int(h, "head_dim", 0, 1, HF_MAX_DIM, &a->head_dim)))
        return e;
    a->kind = MC_ATTN_GQA;
    if (a->n_kv_heads > a->n_heads)
        return mc_hfj_fail(h, MC_ERR_RANGE, "num_key_value_heads",
                           "%lld exceeds num_attention_heads %lld", (long long)a->n_kv_heads,
                           (long long)a->n_heads);
    if (a->n_heads % a->n_kv_heads != 0)
        return mc_hfj_fail(h, MC_ERR_RANGE, "num_key_value_heads",
                           "%lld does not divide num_attention_heads %lld",
                           (long long)a->n_kv_heads, (long long)a->n_heads);
    if (a->head_dim == 0) {
        if (s->hidden % a->n_heads != 0)
            return mc_hfj_fail(h, MC_ERR_RANGE, "num_attention_heads",
                               "%lld does not divide hidden_size %lld and no head_dim is given",
                               (long long)a->n_heads, (long long)s->hidden);
        a->head_dim = s->hidden / a->n_heads;
    }
    return MC_OK;
}

/* attention_bias: bias on q, k, v and o (llama, qwen3, olmoe, gpt-oss). */
static mc_err parse_attn_bias(const mc_hfj *h, shape *s, int def)
{
    int bias;
    mc_err e = mc_hfj_opt_bool(h, "attention_bias", def, &bias);
    s->attn.qkv_bias = s->attn.o_bias = bias;
    return e;
}

/* sliding_window (null = none), switched off by use_sliding_window: false (qwen2). */
static mc_err parse_window(const mc_hfj *h, shape *s)
{
    int use;
    mc_err e = mc_hfj_opt_int(h, "sliding_window", 0, 1, INT64_MAX, &s->attn.sliding_window);
    if (!e)
        e = mc_hfj_opt_bool(h, "use_sliding_window", 1, &use);
    if (!e && !use)
        s->attn.sliding_window = 0;
    return e;
}

/* Routed experts: count, top-k and width, with top-k <= count. */
static mc_err parse_experts(const mc_hfj *h, shape *s, const char *n_key, const char *k_key,
                            const char *ff_key)
{
    mc_err e;
    if ((e = mc_hfj_req_int(h, n_key, 1, HF_MAX_DIM, &s->n_experts)) ||
        (e = mc_hfj_req_int(h, k_key, 1, HF_MAX_DIM, &s->top_k)) ||
        (e = mc_hfj_req_int(h, ff_key, 1, HF_MAX_DIM, &s->expert_ff)))
        return e;
    if (s->top_k > s->n_experts)
        return mc_hfj_fail(h, MC_ERR_RANGE, k_key, "%lld exceeds %s %lld", (long long)s->top_k,
                           n_key, (long long)s->n_experts);
    return MC_OK;
}

/* Dense FFN width; required only when some layer is dense (checked when layers are built). */
static mc_err parse_dense_ff(const mc_hfj *h, shape *s, const char *key, int required)
{
    s->dense_key = key;
    if (required)
        return mc_hfj_req_int(h, key, 1, HF_MAX_DIM, &s->dense_ff);
    return mc_hfj_opt_int(h, key, 0, 1, HF_MAX_DIM, &s->dense_ff);
}

/* Qwen MoE layer placement: decoder_sparse_step and mlp_only_layers. */
static mc_err parse_qwen_sparsity(const mc_hfj *h, shape *s)
{
    const cJSON *v;
    mc_err e = mc_hfj_opt_int(h, "decoder_sparse_step", 1, 1, HF_MAX_LAYERS, &s->step);
    if (!e)
        e = mc_hfj_find(h, "mlp_only_layers", &v);
    if (e)
        return e;
    s->rule = SP_QWEN;
    if (!v)
        return MC_OK;
    if (!cJSON_IsArray(v))
        return mc_hfj_fail(h, MC_ERR_FORMAT, "mlp_only_layers", "expected an array, got %s",
                           mc_hfj_type_name(v));
    int i = 0;
    for (const cJSON *c = v->child; c; c = c->next, i++) {
        if (!cJSON_IsNumber(c) || c->valuedouble != floor(c->valuedouble) || c->valuedouble < 0 ||
            c->valuedouble >= (double)s->n_layers)
            return mc_hfj_fail(h, MC_ERR_RANGE, "mlp_only_layers",
                               "element %d is not a layer index in 0..%lld", i,
                               (long long)s->n_layers - 1);
    }
    s->mlp_only = v;
    return MC_OK;
}

/* ---- one parser per model_type ---- */

static mc_err parse_llama(const mc_hfj *h, shape *s)
{
    int mlp_bias;
    mc_err e;
    if ((e = parse_common(h, s)) || (e = parse_heads(h, s)) || (e = parse_attn_bias(h, s, 0)) ||
        (e = parse_window(h, s)) || (e = parse_dense_ff(h, s, "intermediate_size", 1)) ||
        (e = mc_hfj_opt_bool(h, "mlp_bias", 0, &mlp_bias)))
        return e;
    if (mlp_bias)
        return mc_hfj_fail(h, MC_ERR_UNSUPPORTED, "mlp_bias", "true is not supported");
    s->rule = SP_NONE;
    return MC_OK;
}

static mc_err parse_qwen2(const mc_hfj *h, shape *s)
{
    mc_err e;
    if ((e = parse_common(h, s)) || (e = parse_heads(h, s)) || (e = parse_window(h, s)) ||
        (e = parse_dense_ff(h, s, "intermediate_size", 1)))
        return e;
    s->attn.qkv_bias = 1;
    s->rule = SP_NONE;
    return MC_OK;
}

static mc_err parse_qwen3(const mc_hfj *h, shape *s)
{
    mc_err e;
    if ((e = parse_common(h, s)) || (e = parse_heads(h, s)) || (e = parse_attn_bias(h, s, 0)) ||
        (e = parse_dense_ff(h, s, "intermediate_size", 1)))
        return e;
    s->attn.qk_norm = 1;
    s->rule = SP_NONE;
    return MC_OK;
}

static mc_err parse_mixtral(const mc_hfj *h, shape *s)
{
    mc_err e;
    if ((e = parse_common(h, s)) || (e = parse_heads(h, s)) || (e = parse_window(h, s)) ||
        (e = parse_experts(h, s, "num_local_experts", "num_experts_per_tok", "intermediate_size")))
        return e;
    s->rule = SP_ALL;
    return MC_OK;
}

/* Qwen1.5-MoE / Qwen2-MoE: qkv bias, one shared expert block behind a sigmoid gate. */
static mc_err parse_qwen2_moe(const mc_hfj *h, shape *s)
{
    mc_err e;
    if ((e = parse_common(h, s)) || (e = parse_heads(h, s)) || (e = parse_window(h, s)) ||
        (e = parse_experts(h, s, "num_experts", "num_experts_per_tok", "moe_intermediate_size")) ||
        (e = mc_hfj_opt_int(h, "shared_expert_intermediate_size", 0, 0, HF_MAX_DIM,
                            &s->shared_ff)) ||
        (e = parse_dense_ff(h, s, "intermediate_size", 0)) || (e = parse_qwen_sparsity(h, s)))
        return e;
    s->attn.qkv_bias = 1;
    s->n_shared = s->shared_ff > 0;
    s->shared_gate = s->shared_ff > 0;
    return MC_OK;
}

static mc_err parse_qwen3_moe(const mc_hfj *h, shape *s)
{
    mc_err e;
    if ((e = parse_common(h, s)) || (e = parse_heads(h, s)) || (e = parse_attn_bias(h, s, 0)) ||
        (e = parse_experts(h, s, "num_experts", "num_experts_per_tok", "moe_intermediate_size")) ||
        (e = parse_dense_ff(h, s, "intermediate_size", 0)) || (e = parse_qwen_sparsity(h, s)))
        return e;
    s->attn.qk_norm = 1;
    return MC_OK;
}

/* DeepSeek-V2/V3 multi-head latent attention. */
static mc_err parse_mla(const mc_hfj *h, shape *s)
{
    mc_attn *a = &s->attn;
    mc_err e;
    if ((e = mc_hfj_req_int(h, "num_attention_heads", 1, HF_MAX_DIM, &a->n_heads)) ||
        (e = mc_hfj_opt_int(h, "q_lora_rank", 0, 0, HF_MAX_DIM, &a->q_lora_rank)) ||
        (e = mc_hfj_req_int(h, "kv_lora_rank", 1, HF_MAX_DIM, &a->kv_lora_rank)) ||
        (e = mc_hfj_req_int(h, "qk_nope_head_dim", 0, HF_MAX_DIM, &a->qk_nope_dim)) ||
        (e = mc_hfj_req_int(h, "qk_rope_head_dim", 1, HF_MAX_DIM, &a->qk_rope_dim)) ||
        (e = mc_hfj_req_int(h, "v_head_dim", 1, HF_MAX_DIM, &a->v_head_dim)))
        return e;
    a->kind = MC_ATTN_MLA;
    a->n_kv_heads = a->n_heads; /* informational: MLA caches one latent per token, see KV */
    a->head_dim = a->qk_nope_dim + a->qk_rope_dim;
    return MC_OK;
}

/* DeepSeek MoE: n_routed_experts (null = dense model), n_shared_experts of the same width,
 * the first first_k_dense_replace layers dense, then every moe_layer_freq-th layer MoE. */
static mc_err parse_deepseek_moe(const mc_hfj *h, shape *s)
{
    mc_err e = mc_hfj_opt_int(h, "n_routed_experts", 0, 1, HF_MAX_DIM, &s->n_experts);
    if (!e && s->n_experts > 0)
        e = parse_experts(h, s, "n_routed_experts", "num_experts_per_tok", "moe_intermediate_size");
    if (!e)
        e = mc_hfj_opt_int(h, "n_shared_experts", 0, 0, HF_MAX_DIM, &s->n_shared);
    if (!e)
        e = mc_hfj_opt_int(h, "first_k_dense_replace", 0, 0, s->n_layers, &s->first_dense);
    if (!e)
        e = mc_hfj_opt_int(h, "moe_layer_freq", 1, 1, HF_MAX_LAYERS, &s->step);
    if (e)
        return e;
    if (s->n_experts == 0)
        s->n_shared = 0;
    s->shared_ff = s->n_shared * s->expert_ff;
    s->rule = SP_DEEPSEEK;
    return MC_OK;
}

static mc_err parse_deepseek_v2(const mc_hfj *h, shape *s)
{
    mc_err e;
    if ((e = parse_common(h, s)) || (e = parse_mla(h, s)) || (e = parse_deepseek_moe(h, s)) ||
        (e = parse_dense_ff(h, s, "intermediate_size", 0)))
        return e;
    return MC_OK;
}

/* V3 adds the router's e_score_correction_bias (one value per routed expert). */
static mc_err parse_deepseek_v3(const mc_hfj *h, shape *s)
{
    mc_err e = parse_deepseek_v2(h, s);
    s->router_bias = 1;
    return e;
}

/* OLMoE: q/k RMSNorm over the full projection width. */
static mc_err parse_olmoe(const mc_hfj *h, shape *s)
{
    mc_err e;
    if ((e = parse_common(h, s)) || (e = parse_heads(h, s)) || (e = parse_attn_bias(h, s, 0)) ||
        (e = parse_experts(h, s, "num_experts", "num_experts_per_tok", "intermediate_size")))
        return e;
    s->attn.qk_norm = s->attn.qk_norm_full = 1;
    s->rule = SP_ALL;
    return MC_OK;
}

/* gpt-oss: biases everywhere, attention sinks; the top-k key is num_experts_per_tok in the HF
 * config and experts_per_token in the original one. */
static mc_err parse_gpt_oss(const mc_hfj *h, shape *s)
{
    const cJSON *v;
    mc_err e;
    if ((e = parse_common(h, s)) || (e = parse_heads(h, s)) || (e = parse_attn_bias(h, s, 1)) ||
        (e = parse_window(h, s)) || (e = mc_hfj_find(h, "num_experts_per_tok", &v)))
        return e;
    const char *k_key = v ? "num_experts_per_tok" : "experts_per_token";
    if ((e = parse_experts(h, s, "num_local_experts", k_key, "intermediate_size")))
        return e;
    s->attn.sinks = 1;
    s->expert_bias = s->router_bias = 1;
    s->rule = SP_ALL;
    return MC_OK;
}

/* Snowflake Arctic: MoE every moe_layer_frequency-th layer (other layers a dense MLP of
 * intermediate_size); with parallel_attn_mlp_res each MoE layer also runs a dense residual MLP
 * of width hidden_size behind its own norm, modelled as a shared block. */
static mc_err parse_arctic(const mc_hfj *h, shape *s)
{
    int residual;
    mc_err e;
    if ((e = parse_common(h, s)) || (e = parse_heads(h, s)) ||
        (e = parse_experts(h, s, "num_local_experts", "num_experts_per_tok",
                           "intermediate_size")) ||
        (e = mc_hfj_opt_int(h, "moe_layer_frequency", 2, 1, HF_MAX_LAYERS, &s->step)) ||
        (e = mc_hfj_opt_bool(h, "parallel_attn_mlp_res", 0, &residual)))
        return e;
    s->dense_ff = s->expert_ff;
    s->dense_key = "intermediate_size";
    if (residual) {
        s->n_shared = 1;
        s->shared_ff = s->hidden;
        s->moe_extra_norms = 1;
    }
    s->rule = SP_ARCTIC;
    return MC_OK;
}

/* DBRX: its own key names, attention and FFN settings in nested objects. */
static mc_err parse_dbrx(const mc_hfj *h, shape *s)
{
    mc_hfj attn, ffn;
    mc_attn *a = &s->attn;
    mc_err e;
    if ((e = mc_hfj_req_int(h, "d_model", 1, HF_MAX_DIM, &s->hidden)) ||
        (e = mc_hfj_req_int(h, "n_layers", 1, HF_MAX_LAYERS, &s->n_layers)) ||
        (e = mc_hfj_req_int(h, "n_heads", 1, HF_MAX_DIM, &a->n_heads)) ||
        (e = mc_hfj_req_int(h, "vocab_size", 1, HF_MAX_DIM, &s->vocab)) ||
        (e = mc_hfj_opt_int(h, "max_seq_len", 0, 0, INT64_MAX, &s->max_ctx)) ||
        (e = mc_hfj_opt_bool(h, "tie_word_embeddings", 0, &s->tied)) ||
        (e = mc_hfj_req_child(h, "attn_config", &attn)) ||
        (e = mc_hfj_req_child(h, "ffn_config", &ffn)) ||
        (e = mc_hfj_opt_int(&attn, "kv_n_heads", 1, 1, HF_MAX_DIM, &a->n_kv_heads)) ||
        (e = mc_hfj_opt_f64(&attn, "rope_theta", 10000.0, &s->rope_theta)) ||
        (e = parse_experts(&ffn, s, "moe_num_experts", "moe_top_k", "ffn_hidden_size")))
        return e;
    a->kind = MC_ATTN_GQA;
    if (a->n_kv_heads > a->n_heads)
        return mc_hfj_fail(&attn, MC_ERR_RANGE, "kv_n_heads", "%lld exceeds n_heads %lld",
                           (long long)a->n_kv_heads, (long long)a->n_heads);
    if (s->hidden % a->n_heads != 0 || a->n_heads % a->n_kv_heads != 0)
        return mc_hfj_fail(h, MC_ERR_RANGE, "n_heads",
                           "%lld must divide d_model %lld and be a multiple of kv_n_heads %lld",
                           (long long)a->n_heads, (long long)s->hidden, (long long)a->n_kv_heads);
    a->head_dim = s->hidden / a->n_heads;
    s->norm_eps = 1e-5;
    s->rule = SP_ALL;
    return MC_OK;
}

static const struct arch {
    const char *type;
    mc_err (*parse)(const mc_hfj *h, shape *s);
} archs[] = {
    {"mixtral", parse_mixtral},
    {"qwen2_moe", parse_qwen2_moe},
    {"qwen3_moe", parse_qwen3_moe},
    {"deepseek_v2", parse_deepseek_v2},
    {"deepseek_v3", parse_deepseek_v3},
    {"olmoe", parse_olmoe},
    {"dbrx", parse_dbrx},
    {"gpt_oss", parse_gpt_oss},
    {"arctic", parse_arctic},
    {"llama", parse_llama},
    {"mistral", parse_llama},
    {"qwen2", parse_qwen2},
    {"qwen3", parse_qwen3},
};

/* ---- from shape to mc_model ---- */

static int in_list(const cJSON *arr, int64_t l)
{
    for (const cJSON *c = arr ? arr->child : NULL; c; c = c->next)
        if ((int64_t)c->valuedouble == l)
            return 1;
    return 0;
}

static int layer_is_moe(const shape *s, int64_t l)
{
    if (s->n_experts == 0)
        return 0;
    switch (s->rule) {
    case SP_ALL: return 1;
    case SP_NONE: return 0;
    case SP_QWEN: return !in_list(s->mlp_only, l) && (l + 1) % s->step == 0;
    case SP_DEEPSEEK: return l >= s->first_dense && l % s->step == 0;
    case SP_ARCTIC: return (l + 1) % s->step == 0;
    }
    return 0;
}

static mc_err fill_layers(const mc_hfj *h, const shape *s, mc_model *m)
{
    for (int64_t l = 0; l < s->n_layers; l++) {
        mc_layer *L = &m->layers[l];
        if (!layer_is_moe(s, l)) {
            if (s->dense_ff <= 0)
                return mc_hfj_fail(h, MC_ERR_FORMAT,
                                   s->dense_key ? s->dense_key : "intermediate_size",
                                   "missing (layer %lld is a dense layer)", (long long)l);
            L->ffn = MC_FFN_DENSE;
            L->dense_ff = s->dense_ff;
            continue;
        }
        L->ffn = MC_FFN_MOE;
        L->n_experts = s->n_experts;
        L->top_k = s->top_k;
        L->expert_ff = s->expert_ff;
        L->n_shared = s->n_shared;
        L->shared_ff = s->shared_ff;
        L->shared_gate = s->shared_gate;
        L->router_bias = s->router_bias;
        L->expert_bias = s->expert_bias;
        L->extra_norms = s->moe_extra_norms;
    }
    return MC_OK;
}

static mc_err build(const mc_hfj *h, const shape *s, mc_model **out)
{
    mc_model *m = mc_model_new(s->n_layers);
    if (!m)
        return mc_fail(h->d, MC_ERR_NOMEM, "%s: out of memory", h->where);
    m->hidden = s->hidden;
    m->vocab = s->vocab;
    m->max_ctx = s->max_ctx;
    m->tied_embeddings = s->tied;
    m->rope_theta = s->rope_theta;
    m->norm_eps = s->norm_eps;
    m->attn = s->attn;
    mc_err e = fill_layers(h, s, m);
    if (e) {
        mc_model_free(m);
        return e;
    }
    *out = m;
    return MC_OK;
}

/* ---- precision: torch_dtype / dtype and quantization_config ---- */

/* torch_dtype (or dtype, its newer name) in h; *found = 0 when neither is there. */
static mc_err parse_torch_dtype(const mc_hfj *h, mc_dtype *t, int *found)
{
    const char *key = "torch_dtype", *s;
    mc_err e = mc_hfj_opt_str(h, key, &s);
    if (!e && !s) {
        key = "dtype";
        e = mc_hfj_opt_str(h, key, &s);
    }
    *found = s != NULL;
    if (e || !s)
        return e;
    if (mc_dtype_parse(s, t) != MC_OK || (*t != MC_DT_F32 && *t != MC_DT_F16 && *t != MC_DT_BF16))
        return mc_hfj_fail(h, MC_ERR_UNSUPPORTED, key,
                           "'%s' is not a supported weight dtype (float32, float16, bfloat16)", s);
    return MC_OK;
}

/* compressed-tensors: the weights of the first config group give bits and type. */
static mc_err parse_compressed(const mc_hfj *q, mc_dtype *t)
{
    mc_hfj groups, group, weights;
    int64_t bits;
    const char *type;
    mc_err e = mc_hfj_req_child(q, "config_groups", &groups);
    if (e)
        return e;
    const cJSON *g = groups.obj->child;
    if (!g || !cJSON_IsObject(g) || !g->string)
        return mc_hfj_fail(q, MC_ERR_FORMAT, "config_groups", "expected at least one group object");
    if ((e = mc_hfj_req_child(&groups, g->string, &group)) ||
        (e = mc_hfj_req_child(&group, "weights", &weights)) ||
        (e = mc_hfj_req_int(&weights, "num_bits", 1, 64, &bits)) ||
        (e = mc_hfj_opt_str(&weights, "type", &type)))
        return e;
    int is_float = type && strcmp(type, "float") == 0;
    if (bits == 8)
        *t = is_float ? MC_DT_FP8 : MC_DT_INT8;
    else if (bits == 4)
        *t = is_float ? MC_DT_MXFP4 : MC_DT_INT4;
    else
        return mc_hfj_fail(&weights, MC_ERR_UNSUPPORTED, "num_bits",
                           "%lld bits is not supported (4 or 8)", (long long)bits);
    return MC_OK;
}

/* quantization_config sets the linear layers' storage (experts only for mxfp4); the router,
 * embeddings, LM head and norms stay at torch_dtype. */
static mc_err parse_quant(const mc_hfj *q, mc_storage *st)
{
    const char *method;
    int64_t bits;
    mc_dtype t = MC_DT_BF16;
    mc_err e = mc_hfj_req_str(q, "quant_method", &method);
    if (e)
        return e;
    if (strcasecmp(method, "fp8") == 0) {
        t = MC_DT_FP8;
    } else if (strcasecmp(method, "gptq") == 0 || strcasecmp(method, "awq") == 0) {
        if ((e = mc_hfj_req_int(q, "bits", 1, 64, &bits)))
            return e;
        if (bits != 4 && bits != 8)
            return mc_hfj_fail(q, MC_ERR_UNSUPPORTED, "bits",
                               "%lld-bit %s is not supported (4 or 8)", (long long)bits, method);
        t = bits == 4 ? MC_DT_INT4 : MC_DT_INT8;
    } else if (strcasecmp(method, "mxfp4") == 0) {
        st->expert = MC_DT_MXFP4;
        return MC_OK;
    } else if (strcasecmp(method, "compressed-tensors") == 0) {
        if ((e = parse_compressed(q, &t)))
            return e;
    } else {
        return mc_hfj_fail(q, MC_ERR_UNSUPPORTED, "quant_method",
                           "'%s' is not supported (fp8, gptq, awq, mxfp4, compressed-tensors)",
                           method);
    }
    st->attn = st->expert = st->shared = st->dense = t;
    return MC_OK;
}

/* Looks in the model's own object first (text_config when nested), then the top level. */
static mc_err parse_precision(const mc_hfj *root, const mc_hfj *top, mc_storage *st)
{
    mc_dtype base = MC_DT_BF16; /* configs without torch_dtype (gpt-oss) ship bf16 */
    mc_hfj q;
    int found = 0;
    mc_err e = parse_torch_dtype(root, &base, &found);
    if (!e && !found && root->obj != top->obj)
        e = parse_torch_dtype(top, &base, &found);
    if (e)
        return e;
    *st = (mc_storage){base, base, base, base, base, base, base, base, base};
    e = mc_hfj_opt_child(root, "quantization_config", &q, &found);
    if (!e && !found && root->obj != top->obj)
        e = mc_hfj_opt_child(top, "quantization_config", &q, &found);
    if (e || !found)
        return e;
    return parse_quant(&q, st);
}

/* ---- entry points ---- */

/* Model name from the file: "x/Mixtral-8x7B/config.json" -> "Mixtral-8x7B", "a/b.json" -> "b". */
static void name_from_path(const char *path, char *out, size_t n)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    if (len > 5 && strcasecmp(base + len - 5, ".json") == 0)
        len -= 5;
    if (len == 6 && strncmp(base, "config", 6) == 0 && base > path + 1) {
        const char *end = base - 1, *start = end;
        while (start > path && start[-1] != '/')
            start--;
        if (end > start) {
            base = start;
            len = (size_t)(end - start);
        }
    }
    snprintf(out, n, "%.*s", (int)(len < n ? len : n - 1), base);
}

/* The object that describes the language model: thinker_config.text_config, text_config or the
 * top level. */
static mc_err pick_root(const mc_hfj *top, mc_hfj *root)
{
    mc_hfj sub;
    int found;
    *root = *top;
    mc_err e = mc_hfj_opt_child(top, "thinker_config", &sub, &found);
    if (!e && found)
        *root = sub;
    if (!e)
        e = mc_hfj_opt_child(root, "text_config", &sub, &found);
    if (!e && found)
        *root = sub;
    return e;
}

static mc_err find_arch(const mc_hfj *root, const struct arch **out)
{
    const char *type;
    char list[256] = "";
    mc_err e = mc_hfj_req_str(root, "model_type", &type);
    if (e)
        return e;
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++) {
        if (strcmp(type, archs[i].type) == 0) {
            *out = &archs[i];
            return MC_OK;
        }
        size_t used = strlen(list);
        snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", archs[i].type);
    }
    return mc_hfj_fail(root, MC_ERR_UNSUPPORTED, "model_type",
                       "'%s' is not supported (supported: %s)", type, list);
}

static mc_err parse_doc(const mc_hfj *top, mc_model **out)
{
    mc_hfj root;
    const struct arch *arch = NULL;
    shape s;
    memset(&s, 0, sizeof s);
    mc_err e = pick_root(top, &root);
    if (!e)
        e = find_arch(&root, &arch);
    if (e)
        return e;
    root.type = arch->type;
    mc_model *m = NULL;
    if ((e = arch->parse(&root, &s)) || (e = build(&root, &s, &m)))
        return e;
    snprintf(m->arch, sizeof m->arch, "%s", arch->type);
    snprintf(m->source, sizeof m->source, "%s", top->where);
    name_from_path(top->where, m->name, sizeof m->name);
    e = parse_precision(&root, top, &m->st);
    if (!e && (e = mc_model_finalize(m, top->d)))
        mc_diag_prefix(top->d, "%s", top->where); /* finalize names the model, not the file */
    if (e) {
        mc_model_free(m);
        return e;
    }
    *out = m;
    return MC_OK;
}

mc_err mc_model_parse_hf_config(const char *json, size_t len, const char *where, mc_model **out,
                                mc_diag *d)
{
    *out = NULL;
    if (!where)
        where = "config.json";
    const char *end = NULL;
    uint64_t f0 = mc_alloc_failures();
    cJSON *doc = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!doc && mc_alloc_failures() != f0) /* cJSON returns NULL for both */
        return mc_fail(d, MC_ERR_NOMEM, "%s: out of memory parsing JSON", where);
    if (!doc)
        return mc_fail(d, MC_ERR_FORMAT, "%s: not valid JSON (error near byte %zu)", where,
                       end && end >= json ? (size_t)(end - json) : (size_t)0);
    mc_err e;
    if (!cJSON_IsObject(doc)) {
        e = mc_fail(d, MC_ERR_FORMAT, "%s: expected a JSON object at the top level", where);
    } else {
        mc_hfj top = {where, NULL, doc, "", d};
        e = parse_doc(&top, out);
    }
    cJSON_Delete(doc);
    return e;
}

mc_err mc_model_load_hf_config(const char *path, mc_model **out, mc_diag *d)
{
    char *buf = NULL;
    size_t n = 0;
    *out = NULL;
    mc_err e = mc_read_file(path, HF_MAX_FILE, &buf, &n, d);
    if (e)
        return e;
    e = mc_model_parse_hf_config(buf, n, path, out, d);
    mc_free(buf);
    return e;
}
