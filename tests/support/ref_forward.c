/* ref_forward.c: the engine tests' oracle, a plain double-precision transformer forward pass over
 * a whole sequence (see ref_forward.h). Deliberately simple and slow: every weight dequantised to
 * float once at open, every product summed in double, nothing shared with src/engine.
 * Depends on the GGUF reader and the kernels' dequantiser / activation preparation only. */
#include "ref_forward.h"

#include "gguf.h"
#include "kernels.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct rmat {
    mc_dtype t;
    int64_t rows, cols;
    float *w; /* rows x cols, dequantised */
} rmat;

typedef struct rlayer {
    float *attn_norm, *ffn_norm, *bq, *bk, *bv, *qn, *kn;
    int64_t qn_len, kn_len;
    rmat q, k, v, o;
    int moe;
    rmat gate, up, down; /* dense */
    rmat router, sg, su, sd, sgate;
    rmat *eg, *eu, *ed; /* experts */
    /* deepseek2 MLA: q (plain in q) or qa -> norm -> qb; kva (latent + rope key), kvb */
    rmat qa, qb, kva, kvb;
    float *qa_norm, *kva_norm, *exp_b;
} rlayer;

struct ref_model {
    mc_gguf *g;
    ref_opts o;
    char arch[16];
    int64_t L, h, nh, nkv, hd, nrot, vocab, ne, topk, ff, n_moe;
    double theta, eps;
    int neox, normw;
    /* deepseek2 */
    int mla, gating, yarn;
    int64_t q_lora, kv_lora, nope, rope_d, vd, ngroup, gused;
    double wscale, fs, ylow, yhigh, mscale;
    rmat embd, head;
    float *out_norm;
    rlayer *ly;
};

/* ---- loading --------------------------------------------------------------------------------- */

/* blk.<l>.<rest> */
static const mc_gguf_tensor *tensor(ref_model *r, int64_t l, const char *rest)
{
    char name[96];
    snprintf(name, sizeof name, "blk.%lld.%s", (long long)l, rest);
    return mc_gguf_find_tensor(r->g, name);
}

static int load_mat(const mc_gguf_tensor *t, int64_t slice, rmat *m)
{
    mc_dtype dt;
    if (!t || !mc_ggml_to_dtype(t->type, &dt) || !mc_kernels_type_supported(dt))
        return 0;
    m->t = dt;
    m->cols = t->dims[0];
    m->rows = t->dims[1];
    m->w = mc_mallocarray((size_t)(m->rows * m->cols), sizeof(float));
    if (!m->w)
        return 0;
    size_t rb;
    if (mc_kernels_row_bytes(dt, m->cols, &rb, NULL) != MC_OK)
        return 0;
    const uint8_t *p = (const uint8_t *)t->data + (size_t)slice * (size_t)m->rows * rb;
    for (int64_t i = 0; i < m->rows; i++)
        mc_kernels_dequant_row(dt, p + (size_t)i * rb, m->w + i * m->cols, m->cols);
    return 1;
}

static float *load_vec(const mc_gguf_tensor *t, int64_t *len)
{
    rmat m = {0};
    if (!t || !load_mat(t, 0, &m))
        return NULL;
    if (len)
        *len = m.cols * m.rows;
    return m.w;
}

static int64_t key_i64(ref_model *r, const char *suffix, int64_t dflt)
{
    char k[96];
    int64_t v;
    snprintf(k, sizeof k, "%s.%s", r->arch, suffix);
    return mc_gguf_get_i64(r->g, k, &v, NULL) == MC_OK ? v : dflt;
}

static double key_f64(ref_model *r, const char *suffix, double dflt)
{
    char k[96];
    double v;
    snprintf(k, sizeof k, "%s.%s", r->arch, suffix);
    return mc_gguf_get_f64(r->g, k, &v, NULL) == MC_OK ? v : dflt;
}

static int load_experts(ref_model *r, int64_t l, rlayer *y)
{
    y->eg = mc_calloc((size_t)r->ne, sizeof(rmat));
    y->eu = mc_calloc((size_t)r->ne, sizeof(rmat));
    y->ed = mc_calloc((size_t)r->ne, sizeof(rmat));
    if (!y->eg || !y->eu || !y->ed)
        return 0;
    int ok = load_mat(tensor(r, l, "ffn_gate_inp.weight"), 0, &y->router);
    for (int64_t x = 0; ok && x < r->ne; x++)
        ok = load_mat(tensor(r, l, "ffn_gate_exps.weight"), x, &y->eg[x]) &&
             load_mat(tensor(r, l, "ffn_up_exps.weight"), x, &y->eu[x]) &&
             load_mat(tensor(r, l, "ffn_down_exps.weight"), x, &y->ed[x]);
    if (ok && tensor(r, l, "ffn_gate_shexp.weight"))
        ok = load_mat(tensor(r, l, "ffn_gate_shexp.weight"), 0, &y->sg) &&
             load_mat(tensor(r, l, "ffn_up_shexp.weight"), 0, &y->su) &&
             load_mat(tensor(r, l, "ffn_down_shexp.weight"), 0, &y->sd);
    if (ok && tensor(r, l, "ffn_gate_inp_shexp.weight"))
        ok = load_mat(tensor(r, l, "ffn_gate_inp_shexp.weight"), 0, &y->sgate);
    y->exp_b = load_vec(tensor(r, l, "exp_probs_b.bias"), NULL);
    return ok;
}

/* attn_kv_b [heads x (nope + vd) rows, kv_lora] rebuilt from llama.cpp's split attn_k_b
 * ([nope, kv_lora, heads]: element (i, c, h) is kv_b row h*(nope+vd) + i, column c) and attn_v_b
 * ([kv_lora, vd, heads]: row (j, h) is kv_b row h*(nope+vd) + nope + j). */
static int load_kv_b_split(ref_model *r, int64_t l, rmat *m)
{
    rmat kb = {0}, vb = {0};
    int64_t c = r->kv_lora, nope = r->nope, vd = r->vd, bw = nope + vd, nh = r->nh;
    int ok = load_mat(tensor(r, l, "attn_k_b.weight"), 0, &kb) &&
             load_mat(tensor(r, l, "attn_v_b.weight"), 0, &vb);
    /* load_mat read slice 0's rows only: reload every head's slice */
    m->t = MC_DT_F32; /* the engine prepares f32 activations for it whatever the source type */
    m->rows = nh * bw;
    m->cols = c;
    m->w = ok ? mc_mallocarray((size_t)(m->rows * c), sizeof(float)) : NULL;
    for (int64_t h = 0; m->w && h < nh; h++) {
        rmat kh = {0}, vh = {0};
        ok = ok && load_mat(tensor(r, l, "attn_k_b.weight"), h, &kh) &&
             load_mat(tensor(r, l, "attn_v_b.weight"), h, &vh);
        for (int64_t i = 0; ok && i < nope; i++)
            for (int64_t cc = 0; cc < c; cc++)
                m->w[(h * bw + i) * c + cc] = kh.w[cc * nope + i];
        for (int64_t j = 0; ok && j < vd; j++)
            memcpy(m->w + (h * bw + nope + j) * c, vh.w + j * c, (size_t)c * sizeof(float));
        mc_free(kh.w);
        mc_free(vh.w);
    }
    mc_free(kb.w);
    mc_free(vb.w);
    return ok && m->w;
}

static int load_mla(ref_model *r, int64_t l, rlayer *y)
{
    int ok = r->q_lora > 0 ? load_mat(tensor(r, l, "attn_q_a.weight"), 0, &y->qa) &&
                                 load_mat(tensor(r, l, "attn_q_b.weight"), 0, &y->qb) &&
                                 (y->qa_norm = load_vec(tensor(r, l, "attn_q_a_norm.weight"), NULL))
                           : load_mat(tensor(r, l, "attn_q.weight"), 0, &y->q);
    ok = ok &&
         (tensor(r, l, "attn_kv_b.weight") ? load_mat(tensor(r, l, "attn_kv_b.weight"), 0, &y->kvb)
                                           : load_kv_b_split(r, l, &y->kvb));
    return ok && load_mat(tensor(r, l, "attn_kv_a_mqa.weight"), 0, &y->kva) &&
           (y->kva_norm = load_vec(tensor(r, l, "attn_kv_a_norm.weight"), NULL)) &&
           load_mat(tensor(r, l, "attn_output.weight"), 0, &y->o);
}

static int load_layer(ref_model *r, int64_t l, rlayer *y)
{
    y->attn_norm = load_vec(tensor(r, l, "attn_norm.weight"), NULL);
    y->ffn_norm = load_vec(tensor(r, l, "ffn_norm.weight"), NULL);
    if (r->mla) {
        int ok = y->attn_norm && y->ffn_norm && load_mla(r, l, y);
        y->moe = tensor(r, l, "ffn_gate_exps.weight") != NULL;
        if (ok && y->moe)
            return load_experts(r, l, y);
        return ok && load_mat(tensor(r, l, "ffn_gate.weight"), 0, &y->gate) &&
               load_mat(tensor(r, l, "ffn_up.weight"), 0, &y->up) &&
               load_mat(tensor(r, l, "ffn_down.weight"), 0, &y->down);
    }
    y->bq = load_vec(tensor(r, l, "attn_q.bias"), NULL);
    y->bk = load_vec(tensor(r, l, "attn_k.bias"), NULL);
    y->bv = load_vec(tensor(r, l, "attn_v.bias"), NULL);
    y->qn = load_vec(tensor(r, l, "attn_q_norm.weight"), &y->qn_len);
    y->kn = load_vec(tensor(r, l, "attn_k_norm.weight"), &y->kn_len);
    int ok = y->attn_norm && y->ffn_norm && load_mat(tensor(r, l, "attn_q.weight"), 0, &y->q) &&
             load_mat(tensor(r, l, "attn_k.weight"), 0, &y->k) &&
             load_mat(tensor(r, l, "attn_v.weight"), 0, &y->v) &&
             load_mat(tensor(r, l, "attn_output.weight"), 0, &y->o);
    y->moe = tensor(r, l, "ffn_gate_exps.weight") != NULL;
    if (ok && y->moe)
        return load_experts(r, l, y);
    return ok && load_mat(tensor(r, l, "ffn_gate.weight"), 0, &y->gate) &&
           load_mat(tensor(r, l, "ffn_up.weight"), 0, &y->up) &&
           load_mat(tensor(r, l, "ffn_down.weight"), 0, &y->down);
}

/* YaRN as HF's DeepseekV2YarnRotaryEmbedding defines it: the correction range [low, high] of
 * pair indices from beta_fast = 32 / beta_slow = 1 turns over the original context. */
static void read_yarn(ref_model *r)
{
    mc_gguf_str t;
    r->fs = 1;
    r->mscale = 1;
    if (mc_gguf_get_str(r->g, "deepseek2.rope.scaling.type", &t, NULL) != MC_OK || t.len != 4 ||
        memcmp(t.p, "yarn", 4))
        return;
    double factor = key_f64(r, "rope.scaling.factor", 1);
    double orig = key_f64(r, "rope.scaling.original_context_length", 4096);
    double lm = key_f64(r, "rope.scaling.yarn_log_multiplier", 0);
    double dim = (double)r->nrot, lb = 2 * log(r->theta);
    double lo = floor(dim * log(orig / (32 * 2 * M_PI)) / lb);
    double hi = ceil(dim * log(orig / (1 * 2 * M_PI)) / lb);
    r->yarn = 1;
    r->fs = 1 / factor;
    r->ylow = lo < 0 ? 0 : lo;
    r->yhigh = hi > dim - 1 ? dim - 1 : hi;
    r->mscale = 1 + lm * log(factor);
}

/* deepseek2: MLA dims and the routing rules. */
static void read_deepseek(ref_model *r)
{
    int norm = 0;
    char k[96];
    snprintf(k, sizeof k, "deepseek2.expert_weights_norm");
    if (mc_gguf_get_bool(r->g, k, &norm, NULL) != MC_OK)
        norm = 0;
    r->mla = 1;
    r->neox = 0;
    r->normw = norm;
    r->nkv = r->nh;
    r->q_lora = key_i64(r, "attention.q_lora_rank", 0);
    r->kv_lora = key_i64(r, "attention.kv_lora_rank", 0);
    r->hd = key_i64(r, "attention.key_length_mla", r->hd); /* split files: the latent is */
    r->vd = key_i64(r, "attention.value_length_mla",       /* key_length / value_length */
                    key_i64(r, "attention.value_length", r->hd));
    r->rope_d = r->nrot;
    r->nope = r->hd - r->rope_d;
    r->gating = (int)key_i64(r, "expert_gating_func", 1);
    r->wscale = key_f64(r, "expert_weights_scale", 1);
    r->ngroup = key_i64(r, "expert_group_count", 0);
    r->gused = key_i64(r, "expert_group_used_count", 0);
    read_yarn(r);
}

static mc_err read_hparams(ref_model *r, mc_diag *d)
{
    mc_gguf_str a;
    mc_err e = mc_gguf_get_str(r->g, "general.architecture", &a, d);
    if (e)
        return e;
    snprintf(r->arch, sizeof r->arch, "%.*s", (int)(a.len < 15 ? a.len : 15), a.p);
    r->neox = strcmp(r->arch, "llama") != 0;
    r->normw = !strcmp(r->arch, "llama") || !strcmp(r->arch, "qwen3moe");
    r->L = key_i64(r, "block_count", 0);
    r->h = key_i64(r, "embedding_length", 0);
    r->nh = key_i64(r, "attention.head_count", 0);
    r->nkv = key_i64(r, "attention.head_count_kv", r->nh);
    r->hd = key_i64(r, "attention.key_length", r->nh ? r->h / r->nh : 0);
    r->nrot = key_i64(r, "rope.dimension_count", r->hd);
    r->ne = key_i64(r, "expert_count", 0);
    r->topk = key_i64(r, "expert_used_count", 0);
    r->theta = key_f64(r, "rope.freq_base", 10000.0);
    r->eps = key_f64(r, "attention.layer_norm_rms_epsilon", 1e-5);
    r->wscale = 1;
    r->fs = 1;
    r->mscale = 1;
    if (!strcmp(r->arch, "deepseek2"))
        read_deepseek(r);
    if (r->L < 1 || r->h < 1 || r->nh < 1 || r->nkv < 1 || r->hd < 1)
        return mc_fail(d, MC_ERR_FORMAT, "ref: %s: incomplete hyper-parameters", r->arch);
    return MC_OK;
}

mc_err ref_open(const char *path, const ref_opts *o, ref_model **out, mc_diag *d)
{
    ref_model *r = mc_calloc(1, sizeof *r);
    *out = NULL;
    if (!r)
        return mc_fail(d, MC_ERR_NOMEM, "ref: out of memory");
    if (o)
        r->o = *o;
    mc_err e = mc_gguf_open(path, &r->g, d);
    if (!e)
        e = read_hparams(r, d);
    if (!e && !(r->ly = mc_calloc((size_t)r->L, sizeof *r->ly)))
        e = mc_fail(d, MC_ERR_NOMEM, "ref: out of memory");
    int ok = !e && load_mat(mc_gguf_find_tensor(r->g, "token_embd.weight"), 0, &r->embd) &&
             (r->out_norm = load_vec(mc_gguf_find_tensor(r->g, "output_norm.weight"), NULL));
    const mc_gguf_tensor *ht = ok ? mc_gguf_find_tensor(r->g, "output.weight") : NULL;
    ok = ok && load_mat(ht ? ht : mc_gguf_find_tensor(r->g, "token_embd.weight"), 0, &r->head);
    for (int64_t l = 0; ok && l < r->L; l++) {
        ok = load_layer(r, l, &r->ly[l]);
        r->n_moe += r->ly[l].moe;
    }
    if (!e && !ok)
        e = mc_fail(d, MC_ERR_FORMAT, "ref: %s: a tensor is missing or of an unsupported type",
                    path);
    r->vocab = r->embd.rows;
    if (e) {
        ref_free(r);
        return e;
    }
    *out = r;
    return MC_OK;
}

static void free_mat(rmat *m)
{
    mc_free(m->w);
}

void ref_free(ref_model *r)
{
    if (!r)
        return;
    for (int64_t l = 0; r->ly && l < r->L; l++) {
        rlayer *y = &r->ly[l];
        float *v[] = {y->attn_norm, y->ffn_norm, y->bq,      y->bk,       y->bv,
                      y->qn,        y->kn,       y->qa_norm, y->kva_norm, y->exp_b};
        for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
            mc_free(v[i]);
        rmat *m[] = {&y->q,  &y->k,  &y->v,  &y->o,     &y->gate, &y->up, &y->down, &y->router,
                     &y->sg, &y->su, &y->sd, &y->sgate, &y->qa,   &y->qb, &y->kva,  &y->kvb};
        for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
            free_mat(m[i]);
        for (int64_t x = 0; y->eg && x < r->ne; x++) {
            free_mat(&y->eg[x]);
            free_mat(&y->eu[x]);
            free_mat(&y->ed[x]);
        }
        mc_free(y->eg);
        mc_free(y->eu);
        mc_free(y->ed);
    }
    mc_free(r->ly);
    free_mat(&r->embd);
    free_mat(&r->head);
    mc_free(r->out_norm);
    mc_gguf_free(r->g);
    mc_free(r);
}

int64_t ref_vocab(const ref_model *r)
{
    return r->vocab;
}
int64_t ref_moe_layers(const ref_model *r)
{
    return r->n_moe;
}
int64_t ref_experts(const ref_model *r)
{
    return r->ne;
}

/* ---- arithmetic ------------------------------------------------------------------------------ */

/* The value the kernels compute with for input x of a matmul with weights of type t. Layouts of
 * the prepared rows (docs/KERNELS.md): f32 copy; Q8_0/Q4_0 blocks {f32 d, i32 c, i8 q[32]};
 * Q4_K/Q6_K blocks {f32 d, i8 q[256], i16 bsums[16]}; the value is d * q. */
static void act_round(const ref_model *r, mc_dtype t, const double *x, int64_t n, double *out)
{
    static float xf[65536];
    static uint8_t buf[65536 * 5];
    if (!r->o.act_round || n > 65536) {
        memmove(out, x, (size_t)n * sizeof *out);
        return;
    }
    for (int64_t i = 0; i < n; i++)
        xf[i] = (float)x[i];
    mc_kernels_quant_act(t, xf, buf, n);
    int64_t blk = t == MC_DT_Q8_0 || t == MC_DT_Q4_0   ? 32
                  : t == MC_DT_Q4_K || t == MC_DT_Q6_K ? 256
                                                       : 1;
    size_t bb = blk == 32 ? 40 : 292, qoff = blk == 32 ? 8 : 4;
    for (int64_t b = 0; b < n / blk; b++) {
        if (blk == 1) {
            float v;
            memcpy(&v, buf + 4 * b, 4);
            out[b] = v;
            continue;
        }
        float dd;
        memcpy(&dd, buf + (size_t)b * bb, 4);
        for (int64_t j = 0; j < blk; j++)
            out[b * blk + j] = (double)dd * (int8_t)buf[(size_t)b * bb + qoff + (size_t)j];
    }
}

/* y = W x (x rounded for W's type) */
static void matvec(const ref_model *r, const rmat *m, const double *x, double *y)
{
    static double xr[65536];
    act_round(r, m->t, x, m->cols, xr);
    for (int64_t i = 0; i < m->rows; i++) {
        double s = 0;
        const float *w = m->w + i * m->cols;
        for (int64_t c = 0; c < m->cols; c++)
            s += (double)w[c] * xr[c];
        y[i] = s;
    }
}

/* RMSNorm in double. With act_round the output feeds the int8 rounding of quantised matmuls,
 * which turns a 1-ulp difference into a whole quantum at an exact tie; ties are common in layer 0,
 * where a Q4_0 embedding puts every element on a lattice. So in that mode the norm is computed as
 * the engine computes it, by the kernel on the float-rounded input. */
static void rmsnorm(const ref_model *r, const double *x, const float *w, int64_t n, double *out)
{
    static float xf[65536], of[65536];
    if (r->o.act_round && n <= 65536) {
        for (int64_t i = 0; i < n; i++)
            xf[i] = (float)x[i];
        mc_kernels_rmsnorm(of, xf, w, n, (float)r->eps);
        for (int64_t i = 0; i < n; i++)
            out[i] = of[i];
        return;
    }
    double ss = 0;
    for (int64_t i = 0; i < n; i++)
        ss += x[i] * x[i];
    double s = 1.0 / sqrt(ss / (double)n + r->eps);
    for (int64_t i = 0; i < n; i++)
        out[i] = x[i] * s * (w ? (double)w[i] : 1.0);
}

static void rope(const ref_model *r, double *v, int64_t pos)
{
    for (int64_t i = 0; i < r->nrot / 2; i++) {
        double inv = pow(r->theta, -2.0 * (double)i / (double)r->nrot), keep = 1.0;
        if (r->yarn) { /* weight of the original (extrapolated) frequency */
            double span = r->yhigh - r->ylow > 0.001 ? r->yhigh - r->ylow : 0.001;
            double ramp = ((double)i - r->ylow) / span;
            keep = 1.0 - (ramp < 0 ? 0 : ramp > 1 ? 1 : ramp);
        }
        inv = inv * r->fs * (1.0 - keep) + inv * keep;
        double a = (double)pos * inv;
        int64_t i0 = r->neox ? i : 2 * i, i1 = r->neox ? i + r->nrot / 2 : 2 * i + 1;
        double x0 = v[i0], x1 = v[i1];
        v[i0] = x0 * cos(a) - x1 * sin(a);
        v[i1] = x0 * sin(a) + x1 * cos(a);
    }
}

static double silu(double a)
{
    return a / (1.0 + exp(-a));
}

/* SwiGLU FFN: out = down(silu(gate x) * up x) */
static void ffn(const ref_model *r, const rmat *g, const rmat *u, const rmat *dn, const double *x,
                double *out, double *ga, double *ua)
{
    matvec(r, g, x, ga);
    matvec(r, u, x, ua);
    for (int64_t i = 0; i < g->rows; i++)
        ga[i] = silu(ga[i]) * ua[i];
    matvec(r, dn, ga, out);
}

typedef struct work {
    double *x, *xn, *q, *att, *tmp, *ga, *ua, *acc, *p, *sc;
} work;

/* q, k, v of row t (biases, q/k norms, RoPE at position t, optional f16 rounding of k and v) */
static void project_qkv(const ref_model *r, const rlayer *y, int64_t t, work *w, double *K,
                        double *V)
{
    int64_t qd = r->nh * r->hd, kd = r->nkv * r->hd, h = r->h;
    double *q = w->q + t * qd, *k = K + t * kd, *v = V + t * kd;
    rmsnorm(r, w->x + t * h, y->attn_norm, h, w->xn);
    matvec(r, &y->q, w->xn, q);
    matvec(r, &y->k, w->xn, k);
    matvec(r, &y->v, w->xn, v);
    for (int64_t i = 0; y->bq && i < qd; i++)
        q[i] += y->bq[i];
    for (int64_t i = 0; y->bk && i < kd; i++)
        k[i] += y->bk[i];
    for (int64_t i = 0; y->bv && i < kd; i++)
        v[i] += y->bv[i];
    if (y->qn && y->qn_len == qd) {
        rmsnorm(r, q, y->qn, qd, q);
        rmsnorm(r, k, y->kn, kd, k);
    } else if (y->qn) {
        for (int64_t hh = 0; hh < r->nh; hh++)
            rmsnorm(r, q + hh * r->hd, y->qn, r->hd, q + hh * r->hd);
        for (int64_t g = 0; g < r->nkv; g++)
            rmsnorm(r, k + g * r->hd, y->kn, r->hd, k + g * r->hd);
    }
    for (int64_t hh = 0; hh < r->nh; hh++)
        rope(r, q + hh * r->hd, t);
    for (int64_t g = 0; g < r->nkv; g++)
        rope(r, k + g * r->hd, t);
    for (int64_t i = 0; r->o.kv_f16 && i < kd; i++) {
        k[i] = mc_kernels_f16_to_f32(mc_kernels_f32_to_f16((float)k[i]));
        v[i] = mc_kernels_f16_to_f32(mc_kernels_f32_to_f16((float)v[i]));
    }
}

/* Causal softmax attention of row t, head hh, over rows 0..t. */
static void attend(const ref_model *r, int64_t t, int64_t hh, work *w, const double *K,
                   const double *V)
{
    int64_t qd = r->nh * r->hd, kd = r->nkv * r->hd, g = hh / (r->nh / r->nkv);
    const double *q = w->q + t * qd + hh * r->hd;
    double mx = -INFINITY, z = 0, *o = w->att + t * qd + hh * r->hd;
    for (int64_t s = 0; s <= t; s++) {
        double dot = 0;
        for (int64_t i = 0; i < r->hd; i++)
            dot += q[i] * K[s * kd + g * r->hd + i];
        w->sc[s] = dot / sqrt((double)r->hd);
        mx = w->sc[s] > mx ? w->sc[s] : mx;
    }
    for (int64_t s = 0; s <= t; s++)
        z += (w->sc[s] = exp(w->sc[s] - mx));
    for (int64_t i = 0; i < r->hd; i++) {
        double a = 0;
        for (int64_t s = 0; s <= t; s++)
            a += w->sc[s] / z * V[s * kd + g * r->hd + i];
        o[i] = a;
    }
}

static double f16r(const ref_model *r, double x)
{
    return r->o.kv_f16 ? mc_kernels_f16_to_f32(mc_kernels_f32_to_f16((float)x)) : x;
}

/* deepseek2 MLA of row t: q per head [nope | rope], the latent normed and decompressed into
 * k_nope and v per head, one rope key shared by the heads. K: [t][head][kd], V: [t][head][vd]. */
static void project_mla(const ref_model *r, const rlayer *y, int64_t t, work *w, double *K,
                        double *V, double *tmp)
{
    int64_t nh = r->nh, kd = r->hd, vd = r->vd, nope = r->nope, kvl = r->kv_lora;
    double *q = w->q + t * nh * kd, *kv = tmp, *dec = tmp + kvl + r->rope_d;
    rmsnorm(r, w->x + t * r->h, y->attn_norm, r->h, w->xn);
    if (r->q_lora > 0) {
        double *qa = dec; /* scratch before dec is used */
        matvec(r, &y->qa, w->xn, qa);
        rmsnorm(r, qa, y->qa_norm, r->q_lora, qa);
        matvec(r, &y->qb, qa, q);
    } else {
        matvec(r, &y->q, w->xn, q);
    }
    matvec(r, &y->kva, w->xn, kv);
    rmsnorm(r, kv, y->kva_norm, kvl, kv);
    rope(r, kv + kvl, t);
    matvec(r, &y->kvb, kv, dec);
    for (int64_t h = 0; h < nh; h++) {
        rope(r, q + h * kd + nope, t);
        const double *src = dec + h * (nope + vd);
        for (int64_t i = 0; i < kd; i++)
            K[(t * nh + h) * kd + i] = f16r(r, i < nope ? src[i] : kv[kvl + i - nope]);
        for (int64_t i = 0; i < vd; i++)
            V[(t * nh + h) * vd + i] = f16r(r, src[nope + i]);
    }
}

/* Causal attention of row t, head h, scaled by mscale^2 / sqrt(kd) (YaRN's attention factor). */
static void attend_mla(const ref_model *r, int64_t t, int64_t h, work *w, const double *K,
                       const double *V)
{
    int64_t nh = r->nh, kd = r->hd, vd = r->vd;
    const double *q = w->q + (t * nh + h) * kd;
    double mx = -INFINITY, z = 0, *o = w->att + (t * nh + h) * vd;
    for (int64_t s = 0; s <= t; s++) {
        double dot = 0;
        for (int64_t i = 0; i < kd; i++)
            dot += q[i] * K[(s * nh + h) * kd + i];
        w->sc[s] = dot * r->mscale * r->mscale / sqrt((double)kd);
        mx = w->sc[s] > mx ? w->sc[s] : mx;
    }
    for (int64_t s = 0; s <= t; s++)
        z += (w->sc[s] = exp(w->sc[s] - mx));
    for (int64_t i = 0; i < vd; i++) {
        double a = 0;
        for (int64_t s = 0; s <= t; s++)
            a += w->sc[s] / z * V[(s * nh + h) * vd + i];
        o[i] = a;
    }
}

static int attention_mla(const ref_model *r, const rlayer *y, int64_t n, work *w, double *K,
                         double *V)
{
    int64_t h = r->h, od = r->nh * r->vd;
    size_t nt = (size_t)(r->kv_lora + r->rope_d + r->nh * (r->nope + r->vd) + r->q_lora + 1);
    double *tmp = mc_calloc(nt, sizeof *tmp);
    if (!tmp)
        return 0;
    for (int64_t t = 0; t < n; t++)
        project_mla(r, y, t, w, K, V, tmp);
    for (int64_t t = 0; t < n; t++)
        for (int64_t hh = 0; hh < r->nh; hh++)
            attend_mla(r, t, hh, w, K, V);
    for (int64_t t = 0; t < n; t++) {
        matvec(r, &y->o, w->att + t * od, w->tmp);
        for (int64_t i = 0; i < h; i++)
            w->x[t * h + i] += w->tmp[i];
    }
    mc_free(tmp);
    return 1;
}

static void attention(const ref_model *r, const rlayer *y, int64_t n, work *w, double *K, double *V)
{
    int64_t qd = r->nh * r->hd, h = r->h;
    for (int64_t t = 0; t < n; t++)
        project_qkv(r, y, t, w, K, V);
    for (int64_t t = 0; t < n; t++)
        for (int64_t hh = 0; hh < r->nh; hh++)
            attend(r, t, hh, w, K, V);
    for (int64_t t = 0; t < n; t++) {
        matvec(r, &y->o, w->att + t * qd, w->tmp);
        for (int64_t i = 0; i < h; i++)
            w->x[t * h + i] += w->tmp[i];
    }
}

/* The best allowed expert by score (lower id first on ties). */
static int64_t best_allowed(const double *sc, const int *allowed, int64_t ne)
{
    int64_t best = -1;
    for (int64_t x = 0; x < ne; x++)
        if (allowed[x] && (best < 0 || sc[x] > sc[best]))
            best = x;
    return best;
}

/* deepseek2 expert groups: a group scores the sum of its two best selection scores; only the
 * gused best groups stay allowed. */
static void group_mask(const ref_model *r, const double *sc, int *allowed)
{
    int64_t ng = r->ngroup, size = r->ne / ng;
    double gs[256];
    int keep[256] = {0};
    for (int64_t g = 0; g < ng; g++) {
        double b1 = -INFINITY, b2 = -INFINITY;
        for (int64_t x = g * size; x < (g + 1) * size; x++) {
            double v = sc[x];
            if (v > b1) {
                b2 = b1;
                b1 = v;
            } else if (v > b2) {
                b2 = v;
            }
        }
        gs[g] = size > 1 ? b1 + b2 : b1;
    }
    for (int64_t k = 0; k < r->gused; k++) {
        int64_t best = -1;
        for (int64_t g = 0; g < ng; g++)
            if (!keep[g] && (best < 0 || gs[g] > gs[best]))
                best = g;
        keep[best] = 1;
    }
    for (int64_t x = 0; x < r->ne; x++)
        allowed[x] = keep[x / size];
}

/* Router logits -> the top-k experts and their weights. Probabilities: softmax (sigmoid for a
 * deepseek2 file with gating 2); selection by probability + exp_probs_b within the allowed
 * groups; weights: the probabilities, renormalised over the top-k when the architecture says
 * so, times the deepseek2 weight scale. */
static void select_experts(const ref_model *r, const rlayer *y, const double *logit, double *p,
                           int64_t *sel, double *wt)
{
    int64_t ne = r->ne;
    static int allowed[4096];
    static double sc[4096];
    double mx = -INFINITY, z = 0, wsum = 0;
    for (int64_t x = 0; x < ne; x++)
        mx = logit[x] > mx ? logit[x] : mx;
    for (int64_t x = 0; x < ne; x++)
        z += exp(logit[x] - mx);
    for (int64_t x = 0; x < ne; x++) {
        p[x] = r->mla && r->gating == 2 ? 1 / (1 + exp(-logit[x])) : exp(logit[x] - mx) / z;
        sc[x] = p[x] + (y->exp_b ? y->exp_b[x] : 0);
        allowed[x] = 1;
    }
    if (r->mla && r->ngroup > 1 && r->gused < r->ngroup)
        group_mask(r, sc, allowed);
    for (int64_t k = 0; k < r->topk; k++) {
        sel[k] = best_allowed(sc, allowed, ne);
        allowed[sel[k]] = 0;
        wsum += p[sel[k]];
    }
    for (int64_t k = 0; k < r->topk; k++)
        wt[k] = p[sel[k]] / (r->normw ? wsum : 1.0) * r->wscale;
}

/* Routed experts and the shared expert (times sigmoid(gate . x) when there is a gate). */
static void moe(const ref_model *r, const rlayer *y, const double *xn, double *acc, work *w,
                int64_t *counts)
{
    int64_t h = r->h, sel[64];
    double wt[64];
    matvec(r, &y->router, xn, w->p);
    select_experts(r, y, w->p, w->p, sel, wt);
    for (int64_t i = 0; i < h; i++)
        acc[i] = 0;
    for (int64_t k = 0; k < r->topk; k++) {
        ffn(r, &y->eg[sel[k]], &y->eu[sel[k]], &y->ed[sel[k]], xn, w->tmp, w->ga, w->ua);
        for (int64_t i = 0; i < h; i++)
            acc[i] += wt[k] * w->tmp[i];
        if (counts)
            counts[sel[k]]++;
    }
    if (!y->sg.rows)
        return;
    double gate = 1.0, gl;
    if (y->sgate.rows) {
        matvec(r, &y->sgate, xn, &gl);
        gate = 1.0 / (1.0 + exp(-gl));
    }
    ffn(r, &y->sg, &y->su, &y->sd, xn, w->tmp, w->ga, w->ua);
    for (int64_t i = 0; i < h; i++)
        acc[i] += gate * w->tmp[i];
}

static int64_t max_ff(const ref_model *r)
{
    int64_t m = 1;
    for (int64_t l = 0; l < r->L; l++) {
        const rlayer *y = &r->ly[l];
        int64_t c[] = {y->gate.rows, y->sg.rows, y->moe ? y->eg[0].rows : 0};
        for (int i = 0; i < 3; i++)
            m = c[i] > m ? c[i] : m;
    }
    return m;
}

static void ffn_block(const ref_model *r, const rlayer *y, int64_t n, work *w, int64_t *counts)
{
    int64_t h = r->h;
    for (int64_t t = 0; t < n; t++) {
        rmsnorm(r, w->x + t * h, y->ffn_norm, h, w->xn);
        if (y->moe)
            moe(r, y, w->xn, w->acc, w, counts);
        else
            ffn(r, &y->gate, &y->up, &y->down, w->xn, w->acc, w->ga, w->ua);
        for (int64_t i = 0; i < h; i++)
            w->x[t * h + i] += w->acc[i];
    }
}

mc_err ref_forward(ref_model *r, const int32_t *tokens, int64_t n, double *out, int64_t *counts,
                   mc_diag *d)
{
    int64_t hw = r->mla && r->vd > r->hd ? r->vd : r->hd; /* widest head (MLA: k or v) */
    int64_t h = r->h, qd = r->nh * hw, kd = r->nkv * hw, ff = max_ff(r);
    size_t sz[] = {(size_t)(n * h),           (size_t)h,  (size_t)(n * qd), (size_t)(n * qd),
                   (size_t)(h > qd ? h : qd), (size_t)ff, (size_t)ff,       (size_t)h,
                   (size_t)(r->ne + 1),       (size_t)n};
    work w;
    double **f[] = {&w.x, &w.xn, &w.q, &w.att, &w.tmp, &w.ga, &w.ua, &w.acc, &w.p, &w.sc};
    double *K = mc_calloc((size_t)(n * kd), sizeof(double));
    double *V = mc_calloc((size_t)(n * kd), sizeof(double));
    int ok = K && V;
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        ok &= (*f[i] = mc_calloc(sz[i] + 1, sizeof(double))) != NULL;
    for (int64_t t = 0; ok && t < n; t++)
        for (int64_t i = 0; i < h; i++)
            w.x[t * h + i] = r->embd.w[(int64_t)tokens[t] * h + i];
    int64_t moe_i = 0;
    for (int64_t l = 0; ok && l < r->L; l++) {
        if (r->mla)
            ok = attention_mla(r, &r->ly[l], n, &w, K, V);
        else
            attention(r, &r->ly[l], n, &w, K, V);
        ffn_block(r, &r->ly[l], n, &w, counts && r->ly[l].moe ? counts + moe_i * r->ne : NULL);
        moe_i += r->ly[l].moe;
    }
    for (int64_t t = 0; ok && t < n; t++) {
        rmsnorm(r, w.x + t * h, r->out_norm, h, w.xn);
        matvec(r, &r->head, w.xn, out + t * r->vocab);
    }
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        mc_free(*f[i]);
    mc_free(K);
    mc_free(V);
    return ok ? MC_OK : mc_fail(d, MC_ERR_NOMEM, "ref: out of memory");
}
