/* kernels_avx2.c: AVX2 + FMA + F16C kernels except the matmul (matmul_avx2.c): row dequantisation,
 * f16/bf16 row conversion, activation quantisation, and the f32 helpers of the forward pass.
 *
 * Compiled with -mavx2 -mfma -mf16c; only reached through the dispatch table after the CPU check.
 * Dequantisation, f16/bf16 conversion and activation quantisation are bit-identical to the ref
 * kernels (same operations in the same order); the f32 helpers differ by float rounding only.
 * Must not depend on other ISA files. */
#include "simd_avx2.h"

#include <math.h>

/* ---- dequantisation (bit-exact with ref) ---- */

static void deq_f16_avx2(const void *src, float *dst, int64_t n)
{
    const uint16_t *s = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, load_f16x8(s + i));
    for (; i < n; i++)
        dst[i] = f16s(s[i]);
}

static void deq_bf16_avx2(const void *src, float *dst, int64_t n)
{
    const uint16_t *s = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, load_bf16x8(s + i));
    for (; i < n; i++)
        dst[i] = mc_bf2f(s[i]);
}

/* 32 signed bytes times d -> 32 floats */
MC_AI void store_i8x32_scaled(float *y, __m256i q, __m256 d)
{
    __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
    for (int k = 0; k < 4; k++)
        _mm256_storeu_ps(y + 8 * k,
                         _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(parts[k]))));
}

static void deq_q8_0_avx2(const void *src, float *dst, int64_t n)
{
    const mc_blk_q8_0 *b = src;
    for (int64_t i = 0; i < n / MC_QK; i++)
        store_i8x32_scaled(dst + i * MC_QK, _mm256_loadu_si256((const __m256i *)b[i].qs),
                           _mm256_set1_ps(f16s(b[i].d)));
}

static void deq_q4_0_avx2(const void *src, float *dst, int64_t n)
{
    const mc_blk_q4_0 *b = src;
    for (int64_t i = 0; i < n / MC_QK; i++)
        store_i8x32_scaled(dst + i * MC_QK, unpack_q4_0(b[i].qs), _mm256_set1_ps(f16s(b[i].d)));
}

/* 32 unsigned bytes -> d*q - m (mul then sub, as the ref) */
MC_AI void store_u8x32_affine(float *y, __m256i q, __m256 d, __m256 m)
{
    __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
    for (int k = 0; k < 4; k++) {
        __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(parts[k]));
        _mm256_storeu_ps(y + 8 * k, _mm256_sub_ps(_mm256_mul_ps(d, f), m));
    }
}

static void deq_q4_k_avx2(const void *src, float *dst, int64_t n)
{
    const mc_blk_q4_k *b = src;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int64_t i = 0; i < n / MC_QK_K; i++) {
        uint8_t sm[16];
        _mm_storeu_si128((__m128i *)sm, q4k_scales_vec(b[i].scales));
        float d = f16s(b[i].d), dmin = f16s(b[i].dmin);
        for (int c = 0; c < 4; c++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(b[i].qs + 32 * c));
            float *y = dst + i * MC_QK_K + 64 * c;
            store_u8x32_affine(y, _mm256_and_si256(q, m4), _mm256_set1_ps(d * sm[2 * c]),
                               _mm256_set1_ps(dmin * sm[8 + 2 * c]));
            store_u8x32_affine(y + 32, _mm256_and_si256(_mm256_srli_epi16(q, 4), m4),
                               _mm256_set1_ps(d * sm[2 * c + 1]),
                               _mm256_set1_ps(dmin * sm[9 + 2 * c]));
        }
    }
}

static void deq_q6_k_avx2(const void *src, float *dst, int64_t n)
{
    const mc_blk_q6_k *b = src;
    for (int64_t i = 0; i < n / MC_QK_K; i++) {
        float d = f16s(b[i].d);
        for (int h = 0; h < 2; h++) {
            __m256i q[4];
            unpack_q6_k(&b[i], h, q);
            for (int k = 0; k < 4; k++) {
                int j = 8 * h + 2 * k; /* sub-block of the first 16 elements */
                __m256i s = _mm256_sub_epi8(q[k], _mm256_set1_epi8(32));
                float *y = dst + i * MC_QK_K + 128 * h + 32 * k;
                __m128i lo = _mm256_castsi256_si128(s), hi = _mm256_extracti128_si256(s, 1);
                __m256 d0 = _mm256_set1_ps(d * b[i].scales[j]),
                       d1 = _mm256_set1_ps(d * b[i].scales[j + 1]);
                _mm256_storeu_ps(y,
                                 _mm256_mul_ps(d0, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo))));
                _mm256_storeu_ps(y + 8, _mm256_mul_ps(d0, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(
                                                              _mm_srli_si128(lo, 8)))));
                _mm256_storeu_ps(y + 16,
                                 _mm256_mul_ps(d1, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi))));
                _mm256_storeu_ps(y + 24, _mm256_mul_ps(d1, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(
                                                               _mm_srli_si128(hi, 8)))));
            }
        }
    }
}

/* ---- f16 / bf16 row writers (bit-exact with ref: F16C rounds to nearest even) ---- */

static void q_f16_avx2(const float *x, void *dst, int64_t n)
{
    uint16_t *o = dst;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(o + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        o[i] = mc_f2h(x[i]);
}

static void q_bf16_avx2(const float *x, void *dst, int64_t n)
{
    uint16_t *o = dst;
    const __m256i bias = _mm256_set1_epi32(0x7fff), one = _mm256_set1_epi32(1);
    const __m256i absmask = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(x + i));
        __m256i r = _mm256_add_epi32(
            v, _mm256_add_epi32(bias, _mm256_and_si256(_mm256_srli_epi32(v, 16), one)));
        __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(v, absmask), inf);
        r = _mm256_blendv_epi8(r, _mm256_or_si256(v, _mm256_set1_epi32(0x400000)), nan);
        r = _mm256_srli_epi32(r, 16);
        __m128i p = _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
        _mm_storeu_si128((__m128i *)(o + i), p);
    }
    for (; i < n; i++)
        o[i] = mc_f2bf(x[i]);
}

/* ---- activation quantisation (bit-exact with ref) ---- */

/* Quantises 8*nv floats (nv vectors) with d = amax/127 into q; returns d. */
MC_AI float act_quant_vecs(const float *x, int nv, int8_t *q)
{
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 mx = _mm256_setzero_ps();
    for (int k = 0; k < nv; k++)
        mx = _mm256_max_ps(mx, _mm256_and_ps(_mm256_loadu_ps(x + 8 * k), absmask));
    float d = hmax256(mx) / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    __m256 vid = _mm256_set1_ps(id);
    for (int k = 0; k < nv; k += 4) {
        __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), vid));
        __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k + 8), vid));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k + 16), vid));
        __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k + 24), vid));
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
        /* packs works per 128-bit lane: restore element order */
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)(q + 8 * k), p);
    }
    return d;
}

MC_AI void act_q8_off_avx2(const float *x, void *dst, int64_t n, int32_t off)
{
    mc_act_q8 *o = dst;
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    for (int64_t i = 0; i < n / MC_QK; i++) {
        o[i].d = act_quant_vecs(x + i * MC_QK, 4, o[i].qs);
        __m256i q = _mm256_loadu_si256((const __m256i *)o[i].qs);
        o[i].c = -off * hsum256_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(ones8, q), ones16));
    }
}

static void act_q8_0_avx2(const float *x, void *dst, int64_t n)
{
    act_q8_off_avx2(x, dst, n, 128);
}
static void act_q4_0_avx2(const float *x, void *dst, int64_t n)
{
    act_q8_off_avx2(x, dst, n, 8);
}

static void act_q8k_avx2(const float *x, void *dst, int64_t n)
{
    mc_act_q8k *o = dst;
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t i = 0; i < n / MC_QK_K; i++) {
        o[i].d = act_quant_vecs(x + i * MC_QK_K, 32, o[i].qs);
        for (int j = 0; j < 16; j++) {
            __m128i q = _mm_loadu_si128((const __m128i *)(o[i].qs + 16 * j));
            o[i].bsums[j] =
                (int16_t)hsum256_epi32(_mm256_madd_epi16(_mm256_cvtepi8_epi16(q), ones));
        }
    }
}

/* ---- f32 helpers ---- */

static void rmsnorm_avx2(float *out, const float *x, const float *w, int64_t n, float eps)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
        s0 = _mm256_fmadd_ps(a, a, s0);
        s1 = _mm256_fmadd_ps(b, b, s1);
    }
    double ss = hsum256(_mm256_add_ps(s0, s1));
    for (; i < n; i++)
        ss += (double)x[i] * x[i];
    float r = (float)(1.0 / sqrt(ss / (double)n + eps));
    __m256 vr = _mm256_set1_ps(r);
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), vr);
        _mm256_storeu_ps(out + i, w ? _mm256_mul_ps(v, _mm256_loadu_ps(w + i)) : v);
    }
    for (; i < n; i++)
        out[i] = x[i] * r * (w ? w[i] : 1.0f);
}

static void rope_head_norm(float *v, int64_t n_rot, const float *cs)
{
    int64_t i = 0;
    for (; i + 8 <= n_rot; i += 8) { /* 4 pairs: (x0,x1) with (c,s) interleaved alike */
        __m256 x = _mm256_loadu_ps(v + i), t = _mm256_loadu_ps(cs + i);
        __m256 c = _mm256_moveldup_ps(t), s = _mm256_movehdup_ps(t);
        __m256 xs = _mm256_permute_ps(x, 0xB1);
        _mm256_storeu_ps(v + i, _mm256_fmaddsub_ps(x, c, _mm256_mul_ps(xs, s)));
    }
    for (; i < n_rot; i += 2) {
        float c = cs[i], s = cs[i + 1], x0 = v[i], x1 = v[i + 1];
        v[i] = x0 * c - x1 * s;
        v[i + 1] = x0 * s + x1 * c;
    }
}

static void rope_head_neox(float *v, int64_t n_rot, const float *cs)
{
    int64_t half = n_rot / 2, i = 0;
    for (; i + 8 <= half; i += 8) {
        __m256 a = _mm256_loadu_ps(cs + 2 * i), b = _mm256_loadu_ps(cs + 2 * i + 8);
        __m256 c = _mm256_castpd_ps(
            _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
        __m256 s = _mm256_castpd_ps(
            _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8));
        __m256 x0 = _mm256_loadu_ps(v + i), x1 = _mm256_loadu_ps(v + i + half);
        _mm256_storeu_ps(v + i, _mm256_fmsub_ps(x0, c, _mm256_mul_ps(x1, s)));
        _mm256_storeu_ps(v + i + half, _mm256_fmadd_ps(x0, s, _mm256_mul_ps(x1, c)));
    }
    for (; i < half; i++) {
        float c = cs[2 * i], s = cs[2 * i + 1], x0 = v[i], x1 = v[i + half];
        v[i] = x0 * c - x1 * s;
        v[i + half] = x0 * s + x1 * c;
    }
}

static void rope_avx2(float *x, int64_t n_heads, int64_t head_dim, int64_t n_rot, const float *cs,
                      int neox)
{
    for (int64_t h = 0; h < n_heads; h++) {
        if (neox)
            rope_head_neox(x + h * head_dim, n_rot, cs);
        else
            rope_head_norm(x + h * head_dim, n_rot, cs);
    }
}

static void softmax_avx2(float *x, int64_t n)
{
    __m256 mv = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        mv = _mm256_max_ps(mv, _mm256_loadu_ps(x + i));
    float mx = hmax256(mv);
    for (; i < n; i++)
        mx = fmaxf(mx, x[i]);
    __m256 vm = _mm256_set1_ps(mx), sv = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
        _mm256_storeu_ps(x + i, e);
        sv = _mm256_add_ps(sv, e);
    }
    double sum = hsum256(sv);
    for (; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    __m256 vi = _mm256_set1_ps(inv);
    for (i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vi));
    for (; i < n; i++)
        x[i] *= inv;
}

static void swiglu_avx2(float *out, const float *a, const float *b, int64_t n)
{
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 va = _mm256_loadu_ps(a + i);
        __m256 e = exp256(_mm256_sub_ps(zero, va));
        __m256 s = _mm256_div_ps(va, _mm256_add_ps(one, e));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(s, _mm256_loadu_ps(b + i)));
    }
    for (; i < n; i++)
        out[i] = a[i] / (1.0f + expf(-a[i])) * b[i];
}

static void add_avx2(float *out, const float *a, const float *b, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    for (; i < n; i++)
        out[i] = a[i] + b[i];
}

static void scale_avx2(float *x, float s, int64_t n)
{
    __m256 vs = _mm256_set1_ps(s);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vs));
    for (; i < n; i++)
        x[i] *= s;
}

static void axpy_avx2(float *y, float a, const float *x, int64_t n)
{
    __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i,
                         _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] += a * x[i];
}

/* ---- attention over the KV cache ---- */

MC_AI float dot_f32_row(const float *k, const float *q, int64_t hd)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t j = 0;
    for (; j + 16 <= hd; j += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(k + j), _mm256_loadu_ps(q + j), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(k + j + 8), _mm256_loadu_ps(q + j + 8), s1);
    }
    for (; j + 8 <= hd; j += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(k + j), _mm256_loadu_ps(q + j), s0);
    float s = hsum256(_mm256_add_ps(s0, s1));
    for (; j < hd; j++)
        s += k[j] * q[j];
    return s;
}

MC_AI float dot_f16_row(const uint16_t *k, const float *q, int64_t hd)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t j = 0;
    for (; j + 16 <= hd; j += 16) {
        s0 = _mm256_fmadd_ps(load_f16x8(k + j), _mm256_loadu_ps(q + j), s0);
        s1 = _mm256_fmadd_ps(load_f16x8(k + j + 8), _mm256_loadu_ps(q + j + 8), s1);
    }
    for (; j + 8 <= hd; j += 8)
        s0 = _mm256_fmadd_ps(load_f16x8(k + j), _mm256_loadu_ps(q + j), s0);
    float s = hsum256(_mm256_add_ps(s0, s1));
    for (; j < hd; j++)
        s += f16s(k[j]) * q[j];
    return s;
}

static void scores_f32_avx2(float *s, const float *q, const void *k, size_t ks, int64_t n,
                            int64_t hd, float scale)
{
    for (int64_t i = 0; i < n; i++)
        s[i] = scale * dot_f32_row((const float *)((const char *)k + (size_t)i * ks), q, hd);
}

static void scores_f16_avx2(float *s, const float *q, const void *k, size_t ks, int64_t n,
                            int64_t hd, float scale)
{
    for (int64_t i = 0; i < n; i++)
        s[i] = scale * dot_f16_row((const uint16_t *)((const char *)k + (size_t)i * ks), q, hd);
}

/* out[j0 .. j0+8*nv) += sum_i p_i v_i: the output chunk stays in registers over all rows. */
MC_AI void accum_chunk(float *out, const float *p, const char *v, size_t vs, int64_t n, int f16,
                       int64_t j0, int nv)
{
    __m256 acc[8];
    for (int k = 0; k < nv; k++)
        acc[k] = _mm256_loadu_ps(out + j0 + 8 * k);
    for (int64_t i = 0; i < n; i++) {
        __m256 pi = _mm256_set1_ps(p[i]);
        const char *row = v + (size_t)i * vs;
        for (int k = 0; k < nv; k++) {
            __m256 x = f16 ? load_f16x8((const uint16_t *)row + j0 + 8 * k)
                           : _mm256_loadu_ps((const float *)row + j0 + 8 * k);
            acc[k] = _mm256_fmadd_ps(pi, x, acc[k]);
        }
    }
    for (int k = 0; k < nv; k++)
        _mm256_storeu_ps(out + j0 + 8 * k, acc[k]);
}

MC_AI void accum_avx2(float *out, const float *p, const void *v, size_t vs, int64_t n, int64_t hd,
                      int f16)
{
    int64_t j = 0;
    for (; j + 64 <= hd; j += 64)
        accum_chunk(out, p, v, vs, n, f16, j, 8);
    for (; j + 8 <= hd; j += 8)
        accum_chunk(out, p, v, vs, n, f16, j, 1);
    for (; j < hd; j++) {
        float s = out[j];
        for (int64_t i = 0; i < n; i++) {
            const char *row = (const char *)v + (size_t)i * vs;
            s += p[i] * (f16 ? f16s(((const uint16_t *)row)[j]) : ((const float *)row)[j]);
        }
        out[j] = s;
    }
}

static void accum_f32_avx2(float *out, const float *p, const void *v, size_t vs, int64_t n,
                           int64_t hd)
{
    accum_avx2(out, p, v, vs, n, hd, 0);
}

static void accum_f16_avx2(float *out, const float *p, const void *v, size_t vs, int64_t n,
                           int64_t hd)
{
    accum_avx2(out, p, v, vs, n, hd, 1);
}

/* ---- measurement ---- */

static uint64_t read_sum1_avx2(const void *p, size_t bytes)
{
    const __m256i *v = p;
    __m256i s0 = _mm256_setzero_si256(), s1 = s0;
    for (size_t i = 0; i < bytes / 32; i += 2) {
        s0 = _mm256_add_epi64(s0, _mm256_load_si256(v + i));
        s1 = _mm256_add_epi64(s1, _mm256_load_si256(v + i + 1));
    }
    uint64_t o4[4];
    _mm256_storeu_si256((__m256i *)o4, _mm256_add_epi64(s0, s1));
    return o4[0] + o4[1] + o4[2] + o4[3];
}

/* streams = 1: a plain sequential sum. streams = 4: four interleaved sequential streams (a
 * quarter of the buffer each), prefetched like the matmul weight streams: one core reads
 * ~16.7 GB/s this way here, ~14 from a single stream. */
static uint64_t read_sum_avx2(const void *p, size_t bytes, int streams)
{
    if (streams == 1)
        return read_sum1_avx2(p, bytes);
    const char *base = p;
    size_t part = bytes / 4 / 64 * 64;
    __m256i s[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                    _mm256_setzero_si256()};
    for (size_t o = 0; o < part; o += 64) {
        for (int k = 0; k < 4; k++) {
            const char *q = base + (size_t)k * part + o;
            _mm_prefetch(q + 4096, _MM_HINT_T1);
            _mm_prefetch(q + 512, _MM_HINT_T0);
            s[k] = _mm256_add_epi64(s[k],
                                    _mm256_add_epi64(_mm256_load_si256((const __m256i *)q),
                                                     _mm256_load_si256((const __m256i *)(q + 32))));
        }
    }
    for (size_t o = 4 * part; o < bytes; o += 32) /* the tail */
        s[0] = _mm256_add_epi64(s[0], _mm256_load_si256((const __m256i *)(base + o)));
    __m256i t = _mm256_add_epi64(_mm256_add_epi64(s[0], s[1]), _mm256_add_epi64(s[2], s[3]));
    uint64_t o4[4];
    _mm256_storeu_si256((__m256i *)o4, t);
    return o4[0] + o4[1] + o4[2] + o4[3];
}

#define FMA12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

static double fma_loop_avx2(int64_t iters)
{
#define DECL(i) __m256 a##i = _mm256_set1_ps(0.001f * i);
#define STEP(i) a##i = _mm256_fmadd_ps(a##i, m, c);
#define SUM(i) s = _mm256_add_ps(s, a##i);
    FMA12(DECL)
    const __m256 m = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(0.001f);
    for (int64_t k = 0; k < iters; k++) {
        FMA12(STEP)
    }
    __m256 s = _mm256_setzero_ps();
    FMA12(SUM)
    volatile float sink = hsum256(s);
    (void)sink;
    return (double)iters * 12 * 16;
#undef DECL
#undef STEP
#undef SUM
}

void mc_avx2_dequant(mc_dtype t, const void *src, float *dst, int64_t n)
{
    switch (t) {
    case MC_DT_F32: memcpy(dst, src, (size_t)n * 4); break;
    case MC_DT_F16: deq_f16_avx2(src, dst, n); break;
    case MC_DT_BF16: deq_bf16_avx2(src, dst, n); break;
    case MC_DT_Q8_0: deq_q8_0_avx2(src, dst, n); break;
    case MC_DT_Q4_0: deq_q4_0_avx2(src, dst, n); break;
    case MC_DT_Q4_K: deq_q4_k_avx2(src, dst, n); break;
    case MC_DT_Q6_K: deq_q6_k_avx2(src, dst, n); break;
    default: MC_KASSERT(0 && "unsupported type");
    }
}

void mc_kernels_fill_avx2(mc_kernel_table *t)
{
    t->isa = "avx2";
    t->dequant[MC_DT_F16] = deq_f16_avx2;
    t->dequant[MC_DT_BF16] = deq_bf16_avx2;
    t->dequant[MC_DT_Q8_0] = deq_q8_0_avx2;
    t->dequant[MC_DT_Q4_0] = deq_q4_0_avx2;
    t->dequant[MC_DT_Q4_K] = deq_q4_k_avx2;
    t->dequant[MC_DT_Q6_K] = deq_q6_k_avx2;
    t->quant[MC_DT_F16] = q_f16_avx2;
    t->quant[MC_DT_BF16] = q_bf16_avx2;
    t->quant_act[MC_DT_Q8_0] = act_q8_0_avx2;
    t->quant_act[MC_DT_Q4_0] = act_q4_0_avx2;
    t->quant_act[MC_DT_Q4_K] = t->quant_act[MC_DT_Q6_K] = act_q8k_avx2;
    t->rmsnorm = rmsnorm_avx2;
    t->rope = rope_avx2;
    t->softmax = softmax_avx2;
    t->swiglu = swiglu_avx2;
    t->add = add_avx2;
    t->scale = scale_avx2;
    t->axpy = axpy_avx2;
    t->attn_scores[0] = scores_f32_avx2;
    t->attn_scores[1] = scores_f16_avx2;
    t->attn_accum[0] = accum_f32_avx2;
    t->attn_accum[1] = accum_f16_avx2;
    t->read_sum = read_sum_avx2;
    t->fma_loop = fma_loop_avx2;
    mc_kernels_fill_avx2_matmul(t);
}
