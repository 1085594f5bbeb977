/* model.c: storage types and the parameter/byte accounting of a model description.
 * Pure computation on mc_model; no I/O. Depends on base only.
 * The counting convention is defined in docs/MODELS.md, "Parameter counts". */
#include "model.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *name;
    double bits;
} dtype_info[MC_DT_COUNT] = {
    [MC_DT_F32] = {"f32", 32},        [MC_DT_F16] = {"f16", 16},
    [MC_DT_BF16] = {"bf16", 16},      [MC_DT_FP8] = {"fp8", 8},
    [MC_DT_INT8] = {"int8", 8},       [MC_DT_INT4] = {"int4", 4},
    [MC_DT_MXFP4] = {"mxfp4", 4.25},  [MC_DT_Q8_0] = {"q8_0", 34.0 * 8 / 32},
    [MC_DT_Q4_0] = {"q4_0", 18.0 * 8 / 32}, [MC_DT_Q4_1] = {"q4_1", 20.0 * 8 / 32},
    [MC_DT_Q5_0] = {"q5_0", 22.0 * 8 / 32}, [MC_DT_Q5_1] = {"q5_1", 24.0 * 8 / 32},
    [MC_DT_Q2_K] = {"q2_k", 84.0 * 8 / 256}, [MC_DT_Q3_K] = {"q3_k", 110.0 * 8 / 256},
    [MC_DT_Q4_K] = {"q4_k", 144.0 * 8 / 256}, [MC_DT_Q5_K] = {"q5_k", 176.0 * 8 / 256},
    [MC_DT_Q6_K] = {"q6_k", 210.0 * 8 / 256},
};

const char *mc_dtype_name(mc_dtype t)
{
    return (unsigned)t < MC_DT_COUNT ? dtype_info[t].name : "?";
}

double mc_dtype_bits(mc_dtype t) { return (unsigned)t < MC_DT_COUNT ? dtype_info[t].bits : 0; }

mc_err mc_dtype_parse(const char *s, mc_dtype *out)
{
    static const struct {
        const char *alias;
        mc_dtype t;
    } aliases[] = {
        {"float32", MC_DT_F32}, {"fp32", MC_DT_F32},      {"float16", MC_DT_F16},
        {"fp16", MC_DT_F16},    {"half", MC_DT_F16},      {"bfloat16", MC_DT_BF16},
        {"float8", MC_DT_FP8},  {"fp8_e4m3", MC_DT_FP8},  {"gptq", MC_DT_INT4},
        {"awq", MC_DT_INT4},    {"fp4", MC_DT_MXFP4},     {"nvfp4", MC_DT_MXFP4},
    };
    for (int i = 0; i < MC_DT_COUNT; i++)
        if (strcasecmp(s, dtype_info[i].name) == 0) {
            *out = (mc_dtype)i;
            return MC_OK;
        }
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcasecmp(s, aliases[i].alias) == 0) {
            *out = aliases[i].t;
            return MC_OK;
        }
    return MC_ERR_NOT_FOUND;
}

const char *mc_prec_name(mc_prec p)
{
    static const char *names[MC_PREC_COUNT] = {"fp32", "tf32", "bf16", "fp8", "int8", "fp4"};
    return (unsigned)p < MC_PREC_COUNT ? names[p] : "?";
}

mc_prec mc_dtype_compute_prec(mc_dtype t)
{
    switch (t) {
    case MC_DT_F32: return MC_PREC_FP32;
    case MC_DT_FP8: return MC_PREC_FP8;
    case MC_DT_INT8: return MC_PREC_INT8;
    case MC_DT_MXFP4: return MC_PREC_FP4;
    default: return MC_PREC_BF16;
    }
}

/* ---- object ---- */

mc_model *mc_model_new(int64_t n_layers)
{
    if (n_layers <= 0 || n_layers > 100000)
        return NULL;
    mc_model *m = mc_calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->layers = mc_calloc((size_t)n_layers, sizeof *m->layers);
    if (!m->layers) {
        mc_free(m);
        return NULL;
    }
    m->n_layers = n_layers;
    m->st = (mc_storage){MC_DT_BF16, MC_DT_BF16, MC_DT_BF16, MC_DT_BF16, MC_DT_BF16,
                         MC_DT_BF16, MC_DT_BF16, MC_DT_F32,  MC_DT_BF16};
    m->rope_theta = 10000.0;
    m->norm_eps = 1e-5;
    return m;
}

void mc_model_free(mc_model *m)
{
    if (!m)
        return;
    mc_free(m->layers);
    mc_free(m);
}

/* ---- overflow-checked arithmetic: sets *bad on overflow, so whole expressions can be written
 * plainly and checked once ---- */

static int64_t mul(int64_t a, int64_t b, int *bad)
{
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r)) {
        *bad = 1;
        return 0;
    }
    return r;
}

static int64_t add(int64_t a, int64_t b, int *bad)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) {
        *bad = 1;
        return 0;
    }
    return r;
}

static double bytes_of(int64_t params, mc_dtype t) { return (double)params * mc_dtype_bits(t) / 8; }

/* Parameters of one layer's attention block, see docs/MODELS.md "Parameter counts". */
static int64_t attn_params(const mc_model *m, int *bad)
{
    const mc_attn *a = &m->attn;
    int64_t d = m->hidden, H = a->n_heads, p = 0;
    if (a->kind == MC_ATTN_MLA) {
        int64_t dq = add(a->qk_nope_dim, a->qk_rope_dim, bad);
        if (a->q_lora_rank > 0)
            p = add(add(mul(d, a->q_lora_rank, bad), a->q_lora_rank, bad),
                    mul(mul(a->q_lora_rank, H, bad), dq, bad), bad);
        else
            p = mul(mul(d, H, bad), dq, bad);
        p = add(p, mul(d, add(a->kv_lora_rank, a->qk_rope_dim, bad), bad), bad); /* kv_a */
        p = add(p, a->kv_lora_rank, bad);                                          /* kv_a_norm */
        p = add(p, mul(mul(a->kv_lora_rank, H, bad), add(a->qk_nope_dim, a->v_head_dim, bad), bad),
                bad);                                                              /* kv_b */
        p = add(p, mul(mul(H, a->v_head_dim, bad), d, bad), bad);                  /* o */
        return p;
    }
    int64_t q = mul(H, a->head_dim, bad), kv = mul(a->n_kv_heads, a->head_dim, bad);
    p = mul(d, add(add(q, q, bad), add(kv, kv, bad), bad), bad); /* q, o, k, v */
    if (a->qkv_bias)
        p = add(p, add(q, add(kv, kv, bad), bad), bad);
    if (a->o_bias)
        p = add(p, d, bad);
    if (a->qk_norm)
        p = add(p, a->qk_norm_full ? add(q, kv, bad) : mul(2, a->head_dim, bad), bad);
    if (a->sinks)
        p = add(p, H, bad);
    return p;
}

static mc_err check_structure(const mc_model *m, mc_diag *d)
{
    const mc_attn *a = &m->attn;
    const char *n = m->name[0] ? m->name : "model";
    if (m->hidden <= 0 || m->n_layers <= 0 || m->vocab <= 0)
        return mc_fail(d, MC_ERR_RANGE, "%s: hidden size, layers and vocab must be positive", n);
    if (a->n_heads <= 0)
        return mc_fail(d, MC_ERR_RANGE, "%s: num_attention_heads must be positive", n);
    if (a->kind == MC_ATTN_GQA) {
        if (a->head_dim <= 0 || a->n_kv_heads <= 0 || a->n_kv_heads > a->n_heads)
            return mc_fail(d, MC_ERR_RANGE,
                           "%s: head_dim and num_key_value_heads must be positive, kv heads <= heads",
                           n);
    } else if (a->kv_lora_rank <= 0 || a->qk_rope_dim <= 0 || a->qk_nope_dim < 0 ||
               a->v_head_dim <= 0 || a->q_lora_rank < 0) {
        return mc_fail(d, MC_ERR_RANGE, "%s: MLA needs kv_lora_rank, qk_rope_head_dim, "
                                        "v_head_dim > 0", n);
    }
    for (int64_t l = 0; l < m->n_layers; l++) {
        const mc_layer *L = &m->layers[l];
        if (L->extra_norms < 0)
            return mc_fail(d, MC_ERR_RANGE, "%s: layer %lld: extra_norms must not be negative", n,
                           (long long)l);
        if (L->ffn == MC_FFN_DENSE && L->dense_ff <= 0)
            return mc_fail(d, MC_ERR_RANGE, "%s: layer %lld: dense FFN width must be positive", n,
                           (long long)l);
        if (L->ffn == MC_FFN_MOE &&
            (L->n_experts <= 0 || L->top_k <= 0 || L->top_k > L->n_experts || L->expert_ff <= 0 ||
             L->n_shared < 0 || L->shared_ff < 0 || (L->n_shared > 0 && L->shared_ff == 0)))
            return mc_fail(d, MC_ERR_RANGE,
                           "%s: layer %lld: MoE needs experts > 0, 0 < top_k <= experts, "
                           "expert width > 0 (got %lld experts, top_k %lld, width %lld)",
                           n, (long long)l, (long long)L->n_experts, (long long)L->top_k,
                           (long long)L->expert_ff);
    }
    return MC_OK;
}

static void layer_params(const mc_model *m, mc_layer *L, int64_t p_attn, int *bad)
{
    int64_t dm = m->hidden, dm3 = mul(3, dm, bad);
    L->p_attn = p_attn;
    L->p_norm = mul(add(2, L->extra_norms, bad), dm, bad);
    L->p_router = L->p_expert = L->p_shared = L->p_dense = 0;
    if (L->ffn == MC_FFN_DENSE) {
        L->p_dense = mul(dm3, L->dense_ff, bad); /* gate, up: dm x ff; down: ff x dm */
        return;
    }
    L->p_router = add(mul(dm, L->n_experts, bad), L->router_bias ? L->n_experts : 0, bad);
    L->p_expert = mul(dm3, L->expert_ff, bad);
    if (L->expert_bias)
        L->p_expert = add(L->p_expert, add(mul(2, L->expert_ff, bad), dm, bad), bad);
    L->p_shared = add(mul(dm3, L->shared_ff, bad), L->shared_gate ? dm : 0, bad);
}

static void layer_bytes(const mc_storage *st, mc_layer *L)
{
    L->b_attn = bytes_of(L->p_attn, st->attn);
    L->b_norm = bytes_of(L->p_norm, st->norm);
    L->b_router = bytes_of(L->p_router, st->router);
    L->b_expert = bytes_of(L->p_expert, st->expert);
    L->b_shared = bytes_of(L->p_shared, st->shared);
    L->b_dense = bytes_of(L->p_dense, st->dense);
}

double mc_model_layer_bytes(const mc_model *m, int64_t l, double distinct)
{
    const mc_layer *L = &m->layers[l];
    double b = L->b_attn + L->b_norm;
    if (L->ffn == MC_FFN_DENSE)
        return b + L->b_dense;
    return b + L->b_router + distinct * L->b_expert + L->b_shared;
}

static void summarise(mc_model *m, int *bad)
{
    int64_t total = 0, active = 0;
    m->n_moe_layers = m->n_dense_layers = m->max_experts = m->max_top_k = m->max_shared = 0;
    for (int64_t l = 0; l < m->n_layers; l++) {
        const mc_layer *L = &m->layers[l];
        int64_t common = add(add(L->p_attn, L->p_norm, bad), add(L->p_router, L->p_shared, bad), bad);
        common = add(common, L->p_dense, bad);
        total = add(total, add(common, mul(L->n_experts, L->p_expert, bad), bad), bad);
        active = add(active, add(common, mul(L->top_k, L->p_expert, bad), bad), bad);
        if (L->ffn == MC_FFN_MOE) {
            m->n_moe_layers++;
            if (L->n_experts > m->max_experts) m->max_experts = L->n_experts;
            if (L->top_k > m->max_top_k) m->max_top_k = L->top_k;
            if (L->n_shared > m->max_shared) m->max_shared = L->n_shared;
        } else {
            m->n_dense_layers++;
        }
    }
    m->p_embed = mul(m->vocab, m->hidden, bad);
    m->p_head = m->tied_embeddings ? 0 : m->p_embed;
    m->p_final_norm = m->hidden;
    m->total_params = add(add(total, m->p_embed, bad), add(m->p_head, m->p_final_norm, bad), bad);
    /* active: the LM head matrix (the embedding table when tied) + one embedding row. With tied
     * embeddings that row is part of the head matrix already counted: parameters are distinct
     * weights, so it is not added twice (the byte count below does read it twice). */
    int64_t row = m->tied_embeddings ? 0 : m->hidden;
    m->active_params = add(add(active, m->p_embed, bad), add(row, m->p_final_norm, bad), bad);
}

static void summarise_bytes(mc_model *m)
{
    const mc_attn *a = &m->attn;
    double total = 0, decode = 0;
    if (!m->exact_bytes) {
        for (int64_t l = 0; l < m->n_layers; l++)
            layer_bytes(&m->st, &m->layers[l]);
        m->b_embed = bytes_of(m->p_embed, m->st.embed);
        m->b_head = bytes_of(m->p_head, m->st.head);
        m->b_final_norm = bytes_of(m->p_final_norm, m->st.norm);
    }
    for (int64_t l = 0; l < m->n_layers; l++) {
        const mc_layer *L = &m->layers[l];
        total += mc_model_layer_bytes(m, l, (double)L->n_experts);
        decode += mc_model_layer_bytes(m, l, (double)L->top_k);
    }
    double head = m->tied_embeddings ? m->b_embed : m->b_head;
    m->total_bytes = total + m->b_embed + m->b_head + m->b_final_norm;
    m->decode_weight_bytes_per_token =
        decode + head + m->b_embed / (double)m->vocab + m->b_final_norm;
    double per_layer = a->kind == MC_ATTN_MLA ? (double)(a->kv_lora_rank + a->qk_rope_dim)
                                               : 2.0 * (double)a->n_kv_heads * (double)a->head_dim;
    m->kv_bytes_per_token = per_layer * (double)m->n_layers * mc_dtype_bits(m->st.kv) / 8;
}

mc_err mc_model_finalize(mc_model *m, mc_diag *d)
{
    mc_err e = check_structure(m, d);
    if (e)
        return e;
    int bad = 0;
    int64_t pa = attn_params(m, &bad);
    for (int64_t l = 0; l < m->n_layers; l++)
        layer_params(m, &m->layers[l], pa, &bad);
    summarise(m, &bad);
    if (bad)
        return mc_fail(d, MC_ERR_RANGE, "%s: parameter count overflows 64 bits",
                       m->name[0] ? m->name : "model");
    summarise_bytes(m);
    return MC_OK;
}

mc_err mc_model_set_weight_dtype(mc_model *m, mc_dtype t, mc_diag *d)
{
    m->st.attn = m->st.router = m->st.expert = m->st.shared = m->st.dense = t;
    m->st.embed = m->st.head = t;
    m->exact_bytes = 0;
    return mc_model_finalize(m, d);
}
