/* kernels_ref.c: the scalar reference kernels, the oracle every SIMD variant is tested against.
 *
 * Plain C, compiled without ISA flags, written for obviousness rather than speed: dot products
 * accumulate in double, integer block sums are exact. Must not depend on any other kernel file
 * (only kernels_impl.h, and the plain-C R16 layout code of r16k.h / kernels_repack_k.c and
 * r16f.h / kernels_r16f.c) and must never include intrinsics. */
#include "r16f.h"
#include "r16k.h"

#include <math.h>

/* ---- dequantisation ---- */

static void deq_f32_ref(const void *src, float *dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * 4);
}

static void deq_f16_ref(const void *src, float *dst, int64_t n)
{
    const uint16_t *s = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = mc_h2f(s[i]);
}

static void deq_bf16_ref(const void *src, float *dst, int64_t n)
{
    const uint16_t *s = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = mc_bf2f(s[i]);
}

static void deq_q8_0_ref(const void *src, float *dst, int64_t n)
{
    const mc_blk_q8_0 *b = src;
    for (int64_t i = 0; i < n / MC_QK; i++) {
        float d = mc_h2f(b[i].d);
        for (int j = 0; j < MC_QK; j++)
            dst[i * MC_QK + j] = d * (float)b[i].qs[j];
    }
}

static void deq_q4_0_ref(const void *src, float *dst, int64_t n)
{
    const mc_blk_q4_0 *b = src;
    for (int64_t i = 0; i < n / MC_QK; i++) {
        float d = mc_h2f(b[i].d);
        float *y = dst + i * MC_QK;
        for (int j = 0; j < MC_QK / 2; j++) {
            y[j] = d * (float)((b[i].qs[j] & 0xF) - 8);
            y[j + 16] = d * (float)((b[i].qs[j] >> 4) - 8);
        }
    }
}

static void deq_q4_k_ref(const void *src, float *dst, int64_t n)
{
    const mc_blk_q4_k *b = src;
    for (int64_t i = 0; i < n / MC_QK_K; i++) {
        uint8_t sc[8], mn[8];
        mc_q4k_scales(b[i].scales, sc, mn);
        float d = mc_h2f(b[i].d), dmin = mc_h2f(b[i].dmin);
        float *y = dst + i * MC_QK_K;
        for (int c = 0; c < 4; c++) {
            const uint8_t *q = b[i].qs + 32 * c;
            float d1 = d * sc[2 * c], m1 = dmin * mn[2 * c];
            float d2 = d * sc[2 * c + 1], m2 = dmin * mn[2 * c + 1];
            for (int l = 0; l < 32; l++) {
                y[64 * c + l] = d1 * (float)(q[l] & 0xF) - m1;
                y[64 * c + 32 + l] = d2 * (float)(q[l] >> 4) - m2;
            }
        }
    }
}

/* Q6_K element e of a super-block: 6-bit q (0..63) from ql/qh. */
static int q6k_q(const mc_blk_q6_k *b, int e)
{
    int n = e / 128, l = e % 32, k = (e % 128) / 32;
    uint8_t lo = b->ql[64 * n + l + 32 * (k & 1)];
    lo = (k & 2) ? (uint8_t)(lo >> 4) : (uint8_t)(lo & 0xF);
    int hi = (b->qh[32 * n + l] >> (2 * k)) & 3;
    return lo | (hi << 4);
}

static void deq_q6_k_ref(const void *src, float *dst, int64_t n)
{
    const mc_blk_q6_k *b = src;
    for (int64_t i = 0; i < n / MC_QK_K; i++) {
        float d = mc_h2f(b[i].d);
        for (int e = 0; e < MC_QK_K; e++)
            dst[i * MC_QK_K + e] = d * (float)b[i].scales[e / 16] * (float)(q6k_q(&b[i], e) - 32);
    }
}

/* ---- float row writers ---- */

static void q_f32_ref(const float *x, void *dst, int64_t n)
{
    memcpy(dst, x, (size_t)n * 4);
}

static void q_f16_ref(const float *x, void *dst, int64_t n)
{
    uint16_t *o = dst;
    for (int64_t i = 0; i < n; i++)
        o[i] = mc_f2h(x[i]);
}

static void q_bf16_ref(const float *x, void *dst, int64_t n)
{
    uint16_t *o = dst;
    for (int64_t i = 0; i < n; i++)
        o[i] = mc_f2bf(x[i]);
}

/* ---- activation quantisation: d = amax/127, q = rint(x * (1/d)), ties to even ---- */

static float act_block_ref(const float *x, int n, int8_t *q)
{
    float amax = 0.0f;
    for (int j = 0; j < n; j++)
        amax = fmaxf(amax, fabsf(x[j]));
    float d = amax / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < n; j++)
        q[j] = (int8_t)lrintf(x[j] * id);
    return d;
}

static void act_q8_off_ref(const float *x, void *dst, int64_t n, int32_t off)
{
    mc_act_q8 *o = dst;
    for (int64_t i = 0; i < n / MC_QK; i++) {
        o[i].d = act_block_ref(x + i * MC_QK, MC_QK, o[i].qs);
        int32_t s = 0;
        for (int j = 0; j < MC_QK; j++)
            s += o[i].qs[j];
        o[i].c = -off * s;
    }
}

static void act_q8_0_ref(const float *x, void *dst, int64_t n)
{
    act_q8_off_ref(x, dst, n, 128);
}
static void act_q4_0_ref(const float *x, void *dst, int64_t n)
{
    act_q8_off_ref(x, dst, n, 8);
}

static void act_q8k_ref(const float *x, void *dst, int64_t n)
{
    mc_act_q8k *o = dst;
    for (int64_t i = 0; i < n / MC_QK_K; i++) {
        o[i].d = act_block_ref(x + i * MC_QK_K, MC_QK_K, o[i].qs);
        for (int j = 0; j < MC_QK_K / 16; j++) {
            int s = 0;
            for (int l = 0; l < 16; l++)
                s += o[i].qs[16 * j + l];
            o[i].bsums[j] = (int16_t)s;
        }
    }
}

/* ---- dot products of one weight row with one activation row ---- */

static double dot_f32_ref(const void *w, const void *x, int64_t n)
{
    const float *a = w, *b = x;
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

static double dot_f16_ref(const void *w, const void *x, int64_t n)
{
    const uint16_t *a = w;
    const float *b = x;
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)mc_h2f(a[i]) * b[i];
    return s;
}

static double dot_bf16_ref(const void *w, const void *x, int64_t n)
{
    const uint16_t *a = w;
    const float *b = x;
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)mc_bf2f(a[i]) * b[i];
    return s;
}

static double dot_q8_0_ref(const void *w, const void *x, int64_t n)
{
    const mc_blk_q8_0 *a = w;
    const mc_act_q8 *b = x;
    double s = 0;
    for (int64_t i = 0; i < n / MC_QK; i++) {
        int32_t is = 0;
        for (int j = 0; j < MC_QK; j++)
            is += a[i].qs[j] * b[i].qs[j];
        s += (double)mc_h2f(a[i].d) * b[i].d * is;
    }
    return s;
}

static double dot_q4_0_ref(const void *w, const void *x, int64_t n)
{
    const mc_blk_q4_0 *a = w;
    const mc_act_q8 *b = x;
    double s = 0;
    for (int64_t i = 0; i < n / MC_QK; i++) {
        int32_t is = 0;
        for (int j = 0; j < MC_QK / 2; j++) {
            is += ((a[i].qs[j] & 0xF) - 8) * b[i].qs[j];
            is += ((a[i].qs[j] >> 4) - 8) * b[i].qs[j + 16];
        }
        s += (double)mc_h2f(a[i].d) * b[i].d * is;
    }
    return s;
}

/* Q4_K: sum = dx * (d * sum_j sc_j * sum_{i in j} q_i x_i  -  dmin * sum_j m_j * sum_{i in j} x_i)
 */
static double dot_q4_k_ref(const void *w, const void *x, int64_t n)
{
    const mc_blk_q4_k *a = w;
    const mc_act_q8k *b = x;
    double s = 0;
    for (int64_t i = 0; i < n / MC_QK_K; i++) {
        uint8_t sc[8], mn[8];
        mc_q4k_scales(a[i].scales, sc, mn);
        int32_t isc = 0, imn = 0;
        for (int j = 0; j < 8; j++) {
            const uint8_t *q = a[i].qs + 32 * (j / 2);
            int32_t sj = 0;
            for (int l = 0; l < 32; l++)
                sj += ((j & 1) ? (q[l] >> 4) : (q[l] & 0xF)) * b[i].qs[32 * j + l];
            isc += sc[j] * sj;
            imn += mn[j] * (b[i].bsums[2 * j] + b[i].bsums[2 * j + 1]);
        }
        s += (double)b[i].d * ((double)mc_h2f(a[i].d) * isc - (double)mc_h2f(a[i].dmin) * imn);
    }
    return s;
}

static double dot_q6_k_ref(const void *w, const void *x, int64_t n)
{
    const mc_blk_q6_k *a = w;
    const mc_act_q8k *b = x;
    double s = 0;
    for (int64_t i = 0; i < n / MC_QK_K; i++) {
        int32_t is = 0;
        for (int j = 0; j < 16; j++) {
            int32_t sj = 0;
            for (int l = 0; l < 16; l++)
                sj += (q6k_q(&a[i], 16 * j + l) - 32) * b[i].qs[16 * j + l];
            is += a[i].scales[j] * sj;
        }
        s += (double)mc_h2f(a[i].d) * b[i].d * is;
    }
    return s;
}

typedef double (*dot_fn)(const void *w, const void *x, int64_t n);

static void matmul_with(const mc_matmul *m, dot_fn dot)
{
    size_t rb = mc_type_bytes(m->wtype, m->cols);
    const char *w = m->w, *x = m->x;
    for (int64_t t = 0; t < m->n_tok; t++)
        for (int64_t r = m->r0; r < m->r1; r++)
            m->y[t * m->y_stride + r] =
                (float)dot(w + (size_t)r * rb, x + (size_t)t * m->x_stride, m->cols);
}

static void mm_f32_ref(const mc_matmul *m)
{
    matmul_with(m, dot_f32_ref);
}
static void mm_f16_ref(const mc_matmul *m)
{
    matmul_with(m, dot_f16_ref);
}
static void mm_bf16_ref(const mc_matmul *m)
{
    matmul_with(m, dot_bf16_ref);
}
static void mm_q8_0_ref(const mc_matmul *m)
{
    matmul_with(m, dot_q8_0_ref);
}
static void mm_q4_0_ref(const mc_matmul *m)
{
    matmul_with(m, dot_q4_0_ref);
}
static void mm_q4_k_ref(const mc_matmul *m)
{
    matmul_with(m, dot_q4_k_ref);
}
static void mm_q6_k_ref(const mc_matmul *m)
{
    matmul_with(m, dot_q6_k_ref);
}

/* Block b of row r of an R16 matrix gathered back into one GGML block (Q8_0/Q4_0: kernels_impl.h;
 * the K-quants: r16k.h); tmp must hold the largest block (Q6_K). */
static const void *r16_block(const mc_matmul *m, size_t rb, int64_t r, int64_t b, void *tmp)
{
    if (mc_r16k_type(m->wtype))
        return mc_r16k_row_block(m->wtype, m->w, m->rows, rb, r, b, tmp);
    return mc_r16_row_blocks(m->wtype, m->w, m->rows, rb, r, b, 1, tmp);
}

/* MC_WLAYOUT_R16: each row's blocks (super-blocks for the K-quants) are gathered back into GGML
 * blocks one at a time and dotted by the same function, summed in the same (block) order: the
 * result is bit-identical to the GGML ref kernel's. */
static void matmul_r16_with(const mc_matmul *m, dot_fn dot)
{
    int kq = mc_r16k_type(m->wtype);
    int64_t qk = kq ? MC_QK_K : MC_QK;
    size_t rb = mc_type_bytes(m->wtype, m->cols), xb = kq ? sizeof(mc_act_q8k) : sizeof(mc_act_q8);
    const char *x = m->x;
    MC_KASSERT(m->rows >= m->r1);
    for (int64_t t = 0; t < m->n_tok; t++)
        for (int64_t r = m->r0; r < m->r1; r++) {
            double s = 0;
            for (int64_t b = 0; b < m->cols / qk; b++) {
                mc_blk_q6_k tmp; /* the largest block of the types with an R16 layout here */
                const void *blk = r16_block(m, rb, r, b, &tmp);
                s += dot(blk, x + (size_t)t * m->x_stride + (size_t)b * xb, qk);
            }
            m->y[t * m->y_stride + r] = (float)s;
        }
}

static void mm_q8_0_r16_ref(const mc_matmul *m)
{
    matmul_r16_with(m, dot_q8_0_ref);
}
static void mm_q4_0_r16_ref(const mc_matmul *m)
{
    matmul_r16_with(m, dot_q4_0_ref);
}
static void mm_q4_k_r16_ref(const mc_matmul *m)
{
    matmul_r16_with(m, dot_q4_k_ref);
}
static void mm_q6_k_r16_ref(const mc_matmul *m)
{
    matmul_r16_with(m, dot_q6_k_ref);
}

/* ---- f32 helpers ---- */

static void rmsnorm_ref(float *out, const float *x, const float *w, int64_t n, float eps)
{
    double ss = 0;
    for (int64_t i = 0; i < n; i++)
        ss += (double)x[i] * x[i];
    float r = (float)(1.0 / sqrt(ss / (double)n + eps));
    for (int64_t i = 0; i < n; i++)
        out[i] = x[i] * r * (w ? w[i] : 1.0f);
}

static void rope_ref(float *x, int64_t n_heads, int64_t head_dim, int64_t n_rot, const float *cs,
                     int neox)
{
    int64_t half = n_rot / 2;
    for (int64_t h = 0; h < n_heads; h++) {
        float *v = x + h * head_dim;
        for (int64_t i = 0; i < half; i++) {
            int64_t a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
            float c = cs[2 * i], s = cs[2 * i + 1], x0 = v[a], x1 = v[b];
            v[a] = x0 * c - x1 * s;
            v[b] = x0 * s + x1 * c;
        }
    }
}

static void softmax_ref(float *x, int64_t n)
{
    float mx = x[0];
    for (int64_t i = 1; i < n; i++)
        mx = fmaxf(mx, x[i]);
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++)
        x[i] *= inv;
}

static void swiglu_ref(float *out, const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        out[i] = a[i] / (1.0f + expf(-a[i])) * b[i];
}

static void add_ref(float *out, const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        out[i] = a[i] + b[i];
}

static void scale_ref(float *x, float s, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] *= s;
}

static void axpy_ref(float *y, float a, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] += a * x[i];
}

static void scores_f32_ref(float *s, const float *q, const void *k, size_t ks, int64_t n,
                           int64_t hd, float scale)
{
    for (int64_t i = 0; i < n; i++)
        s[i] = scale * (float)dot_f32_ref((const char *)k + (size_t)i * ks, q, hd);
}

static void scores_f16_ref(float *s, const float *q, const void *k, size_t ks, int64_t n,
                           int64_t hd, float scale)
{
    for (int64_t i = 0; i < n; i++)
        s[i] = scale * (float)dot_f16_ref((const char *)k + (size_t)i * ks, q, hd);
}

static void accum_f32_ref(float *out, const float *p, const void *v, size_t vs, int64_t n,
                          int64_t hd)
{
    for (int64_t j = 0; j < hd; j++) {
        double s = out[j];
        for (int64_t i = 0; i < n; i++)
            s += (double)p[i] * ((const float *)((const char *)v + (size_t)i * vs))[j];
        out[j] = (float)s;
    }
}

static void accum_f16_ref(float *out, const float *p, const void *v, size_t vs, int64_t n,
                          int64_t hd)
{
    for (int64_t j = 0; j < hd; j++) {
        double s = out[j];
        for (int64_t i = 0; i < n; i++)
            s += (double)p[i] * mc_h2f(((const uint16_t *)((const char *)v + (size_t)i * vs))[j]);
        out[j] = (float)s;
    }
}

/* ---- measurement ---- */

static uint64_t read_sum_ref(const void *p, size_t bytes, int streams)
{
    (void)streams; /* one pass either way: the order of a sum of words does not matter */
    const uint64_t *w = p;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i < bytes / 8; i += 4) {
        s0 += w[i];
        s1 += w[i + 1];
        s2 += w[i + 2];
        s3 += w[i + 3];
    }
    return s0 + s1 + s2 + s3;
}

static double fma_loop_ref(int64_t iters)
{
    float a[8] = {0}, m = 0.999f, c = 0.001f;
    for (int64_t k = 0; k < iters; k++)
        for (int j = 0; j < 8; j++)
            a[j] = a[j] * m + c;
    volatile float sink = a[0] + a[7];
    (void)sink;
    return (double)iters * 8 * 2;
}

void mc_kernels_fill_ref(mc_kernel_table *t)
{
    memset(t, 0, sizeof *t);
    t->isa = "ref";
    t->dequant[MC_DT_F32] = deq_f32_ref;
    t->dequant[MC_DT_F16] = deq_f16_ref;
    t->dequant[MC_DT_BF16] = deq_bf16_ref;
    t->dequant[MC_DT_Q8_0] = deq_q8_0_ref;
    t->dequant[MC_DT_Q4_0] = deq_q4_0_ref;
    t->dequant[MC_DT_Q4_K] = deq_q4_k_ref;
    t->dequant[MC_DT_Q6_K] = deq_q6_k_ref;
    t->quant[MC_DT_F32] = q_f32_ref;
    t->quant[MC_DT_F16] = q_f16_ref;
    t->quant[MC_DT_BF16] = q_bf16_ref;
    t->quant[MC_DT_Q8_0] = mc_quant_q8_0_ref;
    t->quant[MC_DT_Q4_0] = mc_quant_q4_0_ref;
    t->quant[MC_DT_Q4_K] = mc_quant_q4_k_ref;
    t->quant[MC_DT_Q6_K] = mc_quant_q6_k_ref;
    t->quant_act[MC_DT_F32] = t->quant_act[MC_DT_F16] = t->quant_act[MC_DT_BF16] = q_f32_ref;
    t->quant_act[MC_DT_Q8_0] = act_q8_0_ref;
    t->quant_act[MC_DT_Q4_0] = act_q4_0_ref;
    t->quant_act[MC_DT_Q4_K] = t->quant_act[MC_DT_Q6_K] = act_q8k_ref;
    t->matmul[MC_DT_F32] = mm_f32_ref;
    t->matmul[MC_DT_F16] = mm_f16_ref;
    t->matmul[MC_DT_BF16] = mm_bf16_ref;
    t->matmul[MC_DT_Q8_0] = mm_q8_0_ref;
    t->matmul[MC_DT_Q4_0] = mm_q4_0_ref;
    t->matmul[MC_DT_Q4_K] = mm_q4_k_ref;
    t->matmul[MC_DT_Q6_K] = mm_q6_k_ref;
    t->matmul_r16[MC_DT_Q8_0] = mm_q8_0_r16_ref;
    t->matmul_r16[MC_DT_Q4_0] = mm_q4_0_r16_ref;
    t->matmul_r16[MC_DT_Q4_K] = mm_q4_k_r16_ref;
    t->matmul_r16[MC_DT_Q6_K] = mm_q6_k_r16_ref;
    mc_kernels_fill_r16f_ref(t); /* F32/F16/BF16 R16: kernels_r16f.c */
    t->rmsnorm = rmsnorm_ref;
    t->rope = rope_ref;
    t->softmax = softmax_ref;
    t->swiglu = swiglu_ref;
    t->add = add_ref;
    t->scale = scale_ref;
    t->axpy = axpy_ref;
    t->attn_scores[0] = scores_f32_ref;
    t->attn_scores[1] = scores_f16_ref;
    t->attn_accum[0] = accum_f32_ref;
    t->attn_accum[1] = accum_f16_ref;
    t->read_sum = read_sum_ref;
    t->fma_loop = fma_loop_ref;
}
