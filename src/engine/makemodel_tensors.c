/* makemodel_tensors.c: the tensors of a `make-model` file (names and shapes as llama.cpp expects
 * them per architecture) and their seeded random values, produced row by row in the GGUF
 * writer's fill callback so nothing larger than one row is ever held in memory.
 * Every row has its own stream (run seed, tensor name, row index), and values use only IEEE
 * basic operations and sqrt (no libm transcendental functions): the bytes are the same on every
 * machine. Depends on base, gguf.h and the kernels' quantisers; no I/O. */
#include "makemodel_impl.h"

#include "kernels.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_TENSOR_BYTES (UINT64_C(1) << 40) /* 1 TiB: far beyond any useful random model */

/* ---- streams --------------------------------------------------------------------------------- */

static uint64_t mix64(uint64_t z)
{
    z += UINT64_C(0x9E3779B97F4A7C15);
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static uint64_t name_seed(uint64_t seed, const char *name)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325); /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * UINT64_C(0x100000001b3);
    return mix64(mix64(seed) ^ h);
}

/* Uniform values in (-1, 1) from 32 random bits each, two per draw. */
typedef struct uni {
    mc_rng rng;
    uint64_t bits;
    int left;
} uni;

static void uni_init(uni *g, uint64_t seed)
{
    mc_rng_seed(&g->rng, seed);
    g->left = 0;
}

static double uni_next(uni *g)
{
    if (g->left == 0) {
        g->bits = mc_rng_u64(&g->rng);
        g->left = 2;
    }
    uint32_t x = (uint32_t)g->bits;
    g->bits >>= 32;
    g->left--;
    return ((double)x + 0.5) * 0x1.0p-31 - 1.0;
}

/* ---- rows ------------------------------------------------------------------------------------ */

static int is_hot(const mk *m, int64_t layer, int64_t expert)
{
    for (int64_t j = 0; j < m->top_k; j++)
        if (m->hot[layer * m->top_k + j] == expert)
            return 1;
    return 0;
}

/* Row r of a uniform tensor of stream seed: n values in [-scale, scale]. */
static void uniform_row(uint64_t seed, int64_t r, int64_t n, double scale, float *out)
{
    uni g;
    uni_init(&g, seed ^ mix64((uint64_t)r + 1));
    for (int64_t i = 0; i < n; i++)
        out[i] = (float)(scale * uni_next(&g));
}

/* attn_k_b / attn_v_b rows from the layer's (unwritten) attn_kv_b stream (t->seed is its seed):
 * k_b row (h, c) = column c of kv_b rows h*(nope+vd) + i; v_b row (h, j) = kv_b row
 * h*(nope+vd) + nope + j. One head's k_nope block is cached: rows are produced in order. */
static void split_row(const mk_tensor *t, int64_t r, float *out)
{
    mk *m = t->m;
    int64_t c = m->kv_lora, nope = m->nope, bw = nope + m->vd;
    double scale = sqrt(3.0 / (double)c);
    if (t->kind == MK_VB) {
        int64_t h = r / m->vd, j = r % m->vd;
        uniform_row(t->seed, h * bw + nope + j, c, scale, out);
        return;
    }
    int64_t h = r / c, col = r % c, key = t->layer * m->heads + h;
    if (m->kb_key != key) {
        for (int64_t i = 0; i < nope; i++)
            uniform_row(t->seed, h * bw + i, c, scale, m->kb_cache + i * c);
        m->kb_key = key;
    }
    for (int64_t i = 0; i < nope; i++)
        out[i] = m->kb_cache[i * c + col];
}

void mk_gen_row(const mk_tensor *t, int64_t r, float *out)
{
    const mk *m = t->m;
    uni g;
    uni_init(&g, t->seed ^ mix64((uint64_t)r + 1));
    int64_t n = t->cols;
    if (t->kind == MK_KB || t->kind == MK_VB) {
        split_row(t, r, out);
        return;
    }
    if (t->kind == MK_ONES) {
        for (int64_t i = 0; i < n; i++)
            out[i] = 1.0f;
        return;
    }
    if (t->kind == MK_EMBED) {
        const double a = MK_SHARE, c = sqrt(1.0 - MK_SHARE * MK_SHARE) * sqrt(3.0);
        for (int64_t i = 0; i < n; i++)
            out[i] = (float)(c * uni_next(&g) + a * m->u[i]);
        return;
    }
    for (int64_t i = 0; i < n; i++)
        out[i] = (float)(t->scale * uni_next(&g));
    if (t->kind == MK_ROUTER && m->skew > 0 && is_hot(m, t->layer, r)) {
        /* u . x ~ a * embd for an input along the embeddings: the logit rises by skew */
        double b = m->skew / (MK_SHARE * (double)m->embd);
        for (int64_t i = 0; i < n; i++)
            out[i] = (float)((double)out[i] + b * m->u[i]);
    }
}

static mc_err fill(void *ctx, const char *name, uint64_t offset, void *buf, size_t len, mc_diag *d)
{
    (void)name;
    (void)d;
    const mk_tensor *t = ctx;
    mk *m = t->m;
    unsigned char *dst = buf;
    int64_t r = (int64_t)(offset / t->row_bytes);
    size_t skip = (size_t)(offset % t->row_bytes);
    while (len > 0) {
        mk_gen_row(t, r, m->row);
        mc_kernels_quant_row(t->dt, m->row, m->qrow, t->cols);
        size_t n = t->row_bytes - skip < len ? t->row_bytes - skip : len;
        memcpy(dst, (const unsigned char *)m->qrow + skip, n);
        dst += n;
        len -= n;
        skip = 0;
        r++;
    }
    return MC_OK;
}

/* ---- the tensor list ------------------------------------------------------------------------- */

typedef struct lst {
    mk *m;
    int64_t cap;
    mc_err e;
} lst;

static void T(lst *L, mk_kind kind, mc_dtype dt, int64_t d0, int64_t d1, int64_t d2,
              const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static void T(lst *L, mk_kind kind, mc_dtype dt, int64_t d0, int64_t d1, int64_t d2,
              const char *fmt, ...)
{
    mk *m = L->m;
    if (L->e)
        return;
    if (m->n_t == L->cap) {
        int64_t nc = L->cap ? 2 * L->cap : 64;
        mk_tensor *nt = mc_reallocarray(m->t, (size_t)nc, sizeof *nt);
        if (!nt) {
            L->e = mc_fail(m->d, MC_ERR_NOMEM, "make-model: out of memory");
            return;
        }
        m->t = nt;
        L->cap = nc;
    }
    mk_tensor *t = &m->t[m->n_t++];
    memset(t, 0, sizeof *t);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    t->kind = kind;
    t->dt = dt;
    t->n_dims = d2 ? 3 : d1 ? 2 : 1;
    t->dims[0] = d0;
    t->dims[1] = d1 ? d1 : 1;
    t->dims[2] = d2 ? d2 : 1;
    t->cols = d0;
    t->rows = t->dims[1] * t->dims[2];
    t->scale = sqrt(3.0 / (double)d0); /* uniform half-width for sd 1/sqrt(fan_in) */
    t->layer = -1;
    t->m = m;
}

/* The last tensor added: an output projection, scaled down so the residual stays O(1). */
static void out_proj(lst *L)
{
    if (!L->e)
        L->m->t[L->m->n_t - 1].scale /= sqrt(2.0 * (double)L->m->layers);
}

/* The last n tensors (biases) uniform in [-0.1, 0.1]. */
static void small(lst *L, int n)
{
    for (int i = 1; i <= n && !L->e; i++)
        L->m->t[L->m->n_t - i].scale = 0.1;
}

/* deepseek2 MLA: q (plain or low-rank with its norm), latent + rope key, its norm, kv_b, o. */
static void attention_mla(lst *L, int64_t l)
{
    mk *m = L->m;
    int64_t H = m->embd, qd = m->heads * m->hd, r = m->q_lora, c = m->kv_lora;
    mc_dtype w = m->type;
    long long ll = (long long)l;
    T(L, MK_ONES, MC_DT_F32, H, 0, 0, "blk.%lld.attn_norm.weight", ll);
    if (r > 0) {
        T(L, MK_UNIFORM, w, H, r, 0, "blk.%lld.attn_q_a.weight", ll);
        T(L, MK_ONES, MC_DT_F32, r, 0, 0, "blk.%lld.attn_q_a_norm.weight", ll);
        T(L, MK_UNIFORM, w, r, qd, 0, "blk.%lld.attn_q_b.weight", ll);
    } else {
        T(L, MK_UNIFORM, w, H, qd, 0, "blk.%lld.attn_q.weight", ll);
    }
    T(L, MK_UNIFORM, w, H, c + m->rope, 0, "blk.%lld.attn_kv_a_mqa.weight", ll);
    T(L, MK_ONES, MC_DT_F32, c, 0, 0, "blk.%lld.attn_kv_a_norm.weight", ll);
    if (m->split) { /* llama.cpp's absorbed layout, the same values as attn_kv_b */
        T(L, MK_KB, w, m->nope, c, m->heads, "blk.%lld.attn_k_b.weight", ll);
        if (!L->e)
            m->t[m->n_t - 1].layer = l;
        T(L, MK_VB, w, c, m->vd, m->heads, "blk.%lld.attn_v_b.weight", ll);
        if (!L->e)
            m->t[m->n_t - 1].layer = l;
    } else {
        T(L, MK_UNIFORM, w, c, m->heads * (m->nope + m->vd), 0, "blk.%lld.attn_kv_b.weight", ll);
    }
    T(L, MK_UNIFORM, w, m->heads * m->vd, H, 0, "blk.%lld.attn_output.weight", ll);
    out_proj(L);
}

static void attention(lst *L, int64_t l)
{
    mk *m = L->m;
    if (m->arch == MK_DEEPSEEK2) {
        attention_mla(L, l);
        return;
    }
    int64_t H = m->embd, q = m->heads * m->hd, kv = m->kv * m->hd;
    mc_dtype w = m->type;
    T(L, MK_ONES, MC_DT_F32, H, 0, 0, "blk.%lld.attn_norm.weight", (long long)l);
    T(L, MK_UNIFORM, w, H, q, 0, "blk.%lld.attn_q.weight", (long long)l);
    T(L, MK_UNIFORM, w, H, kv, 0, "blk.%lld.attn_k.weight", (long long)l);
    T(L, MK_UNIFORM, w, H, kv, 0, "blk.%lld.attn_v.weight", (long long)l);
    T(L, MK_UNIFORM, w, q, H, 0, "blk.%lld.attn_output.weight", (long long)l);
    out_proj(L);
    if (m->arch == MK_QWEN2MOE || m->arch == MK_QWEN2) { /* q/k/v biases */
        T(L, MK_UNIFORM, MC_DT_F32, q, 0, 0, "blk.%lld.attn_q.bias", (long long)l);
        T(L, MK_UNIFORM, MC_DT_F32, kv, 0, 0, "blk.%lld.attn_k.bias", (long long)l);
        T(L, MK_UNIFORM, MC_DT_F32, kv, 0, 0, "blk.%lld.attn_v.bias", (long long)l);
        small(L, 3);
    }
    int64_t qn = m->arch == MK_OLMOE ? q : m->hd, kn = m->arch == MK_OLMOE ? kv : m->hd;
    if (m->arch == MK_OLMOE || m->arch == MK_QWEN3MOE || m->arch == MK_QWEN3) {
        T(L, MK_ONES, MC_DT_F32, qn, 0, 0, "blk.%lld.attn_q_norm.weight", (long long)l);
        T(L, MK_ONES, MC_DT_F32, kn, 0, 0, "blk.%lld.attn_k_norm.weight", (long long)l);
    }
}

static void ffn(lst *L, int64_t l)
{
    mk *m = L->m;
    int64_t H = m->embd, f = m->ff, E = m->experts, s = m->shared_ff;
    mc_dtype w = m->type;
    T(L, MK_ONES, MC_DT_F32, H, 0, 0, "blk.%lld.ffn_norm.weight", (long long)l);
    if (E == 0 || l < m->dense_layers) {
        int64_t df = E == 0 ? f : m->dense_ff; /* deepseek2's leading dense blocks */
        T(L, MK_UNIFORM, w, H, df, 0, "blk.%lld.ffn_gate.weight", (long long)l);
        T(L, MK_UNIFORM, w, H, df, 0, "blk.%lld.ffn_up.weight", (long long)l);
        T(L, MK_UNIFORM, w, df, H, 0, "blk.%lld.ffn_down.weight", (long long)l);
        out_proj(L);
        return;
    }
    T(L, MK_ROUTER, MC_DT_F32, H, E, 0, "blk.%lld.ffn_gate_inp.weight", (long long)l);
    if (!L->e)
        m->t[m->n_t - 1].layer = l;
    if (m->gating == 2) { /* the V3 selection bias (e_score_correction_bias) */
        T(L, MK_UNIFORM, MC_DT_F32, E, 0, 0, "blk.%lld.exp_probs_b.bias", (long long)l);
        small(L, 1);
    }
    T(L, MK_UNIFORM, w, H, f, E, "blk.%lld.ffn_gate_exps.weight", (long long)l);
    T(L, MK_UNIFORM, w, H, f, E, "blk.%lld.ffn_up_exps.weight", (long long)l);
    T(L, MK_UNIFORM, w, f, H, E, "blk.%lld.ffn_down_exps.weight", (long long)l);
    out_proj(L);
    if (s == 0)
        return;
    if (m->arch != MK_DEEPSEEK2) /* deepseek2's shared experts have no gate */
        T(L, MK_UNIFORM, MC_DT_F32, H, 0, 0, "blk.%lld.ffn_gate_inp_shexp.weight", (long long)l);
    T(L, MK_UNIFORM, w, H, s, 0, "blk.%lld.ffn_gate_shexp.weight", (long long)l);
    T(L, MK_UNIFORM, w, H, s, 0, "blk.%lld.ffn_up_shexp.weight", (long long)l);
    T(L, MK_UNIFORM, w, s, H, 0, "blk.%lld.ffn_down_shexp.weight", (long long)l);
    out_proj(L);
}

/* Seeds, row sizes and the summary, once every tensor is listed. */
static mc_err finish_plan(mk *m)
{
    mc_make_summary *s = &m->sum;
    for (int64_t i = 0; i < m->n_t; i++) {
        mk_tensor *t = &m->t[i];
        mc_err e = mc_kernels_row_bytes(t->dt, t->cols, &t->row_bytes, m->d);
        if (e)
            return e;
        t->seed = name_seed(m->seed, t->name);
        if (t->kind == MK_KB || t->kind == MK_VB) { /* the stream of the layer's attn_kv_b */
            char kvb[64];
            snprintf(kvb, sizeof kvb, "blk.%lld.attn_kv_b.weight", (long long)t->layer);
            t->seed = name_seed(m->seed, kvb);
        }
        uint64_t bytes = (uint64_t)t->row_bytes * (uint64_t)t->rows;
        s->tensor_bytes += bytes;
        s->type_bytes[t->dt] += bytes;
        s->type_params[t->dt] += t->cols * t->rows;
        s->n_params += t->cols * t->rows;
        if (t->cols > m->max_cols)
            m->max_cols = t->cols;
        if (t->row_bytes > m->max_row_bytes)
            m->max_row_bytes = t->row_bytes;
    }
    s->n_tensors = m->n_t;
    s->vocab = m->vocab;
    s->head_dim = m->hd;
    s->kv_heads = m->kv;
    s->shared_ff = m->shared_ff;
    s->rope_theta = m->theta;
    s->norm_eps = m->eps;
    s->output_type = m->out_type;
    if (s->tensor_bytes > MAX_TENSOR_BYTES)
        return mc_fail(m->d, MC_ERR_ARG,
                       "make-model: the model would hold %llu bytes of tensors (limit %llu)",
                       (unsigned long long)s->tensor_bytes, (unsigned long long)MAX_TENSOR_BYTES);
    return MC_OK;
}

/* Tensor order as llama.cpp's converter writes it: embedding, blocks, final norm, head. */
mc_err mk_plan_tensors(mk *m)
{
    lst L = {.m = m};
    T(&L, MK_EMBED, m->type, m->embd, m->vocab, 0, "token_embd.weight");
    for (int64_t l = 0; l < m->layers; l++) {
        attention(&L, l);
        ffn(&L, l);
    }
    T(&L, MK_ONES, MC_DT_F32, m->embd, 0, 0, "output_norm.weight");
    T(&L, MK_UNIFORM, m->out_type, m->embd, m->vocab, 0, "output.weight");
    return L.e ? L.e : finish_plan(m);
}

/* ---- generation state ------------------------------------------------------------------------ */

/* u: uniform, rescaled so that sum u_i^2 = embd exactly (unit RMS). */
static void make_u(mk *m)
{
    uni g;
    uni_init(&g, name_seed(m->seed, "moecap.shared_direction"));
    double ss = 0;
    for (int64_t i = 0; i < m->embd; i++) {
        double v = sqrt(3.0) * uni_next(&g);
        m->u[i] = (float)v;
        ss += (double)m->u[i] * (double)m->u[i];
    }
    double k = sqrt((double)m->embd / ss);
    for (int64_t i = 0; i < m->embd; i++)
        m->u[i] = (float)((double)m->u[i] * k);
}

/* hot[l]: the first top_k of a seeded permutation of the experts, ascending. */
static void make_hot(mk *m, int64_t *perm)
{
    for (int64_t l = 0; l < m->layers; l++) {
        mc_rng r;
        mc_rng_seed(&r, name_seed(m->seed, "moecap.hot_experts") ^ mix64((uint64_t)l));
        for (int64_t e = 0; e < m->experts; e++)
            perm[e] = e;
        for (int64_t e = m->experts - 1; e > 0; e--) {
            int64_t j = (int64_t)mc_rng_below(&r, (uint64_t)e + 1), tmp = perm[e];
            perm[e] = perm[j];
            perm[j] = tmp;
        }
        int64_t *h = m->hot + l * m->top_k;
        for (int64_t j = 0; j < m->top_k; j++) {
            int64_t v = perm[j], p = j;
            for (; p > 0 && h[p - 1] > v; p--)
                h[p] = h[p - 1];
            h[p] = v;
        }
    }
}

mc_err mk_prepare_streams(mk *m)
{
    int64_t nh = m->layers * (m->top_k > 0 ? m->top_k : 1);
    int64_t *perm = mc_mallocarray((size_t)(m->experts > 0 ? m->experts : 1), sizeof *perm);
    m->u = mc_mallocarray((size_t)m->embd, sizeof *m->u);
    m->hot = mc_calloc((size_t)nh, sizeof *m->hot);
    m->row = mc_mallocarray((size_t)m->max_cols, sizeof *m->row);
    m->qrow = mc_malloc(m->max_row_bytes);
    m->kb_key = -1;
    m->kb_cache = m->split ? mc_mallocarray((size_t)(m->nope * m->kv_lora), sizeof(float)) : NULL;
    mc_err e = MC_OK;
    if (!perm || !m->u || !m->hot || !m->row || !m->qrow || (m->split && !m->kb_cache))
        e = mc_fail(m->d, MC_ERR_NOMEM, "make-model: out of memory");
    if (!e) {
        make_u(m);
        make_hot(m, perm);
    }
    mc_free(perm);
    return e;
}

mc_err mk_add_tensors(mk *m, mc_gguf_writer *w)
{
    for (int64_t i = 0; i < m->n_t; i++) {
        mk_tensor *t = &m->t[i];
        mc_gguf_tensor_src src = {
            .name = t->name,
            .type = mk_ggml_type(t->dt),
            .n_dims = t->n_dims,
            .dims = {t->dims[0], t->dims[1], t->dims[2], 1},
            .fill = fill,
            .fill_ctx = t,
        };
        mc_err e = mc_gguf_add_tensor(w, &src, m->d);
        if (e)
            return e;
    }
    return MC_OK;
}
