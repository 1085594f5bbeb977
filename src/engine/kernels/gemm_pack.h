/* gemm_pack.h: panel packing shared by the AVX2 and AVX-512 GEMM paths (path B of the matmul):
 * activation slices to f32, and weight slices dequantised and transposed into row-vector panels.
 * Static inline, AVX2 code: include only from files compiled with the AVX2 (or AVX-512) flags. */
#ifndef MC_GEMM_PACK_H
#define MC_GEMM_PACK_H

#include "simd_avx2.h"

#include <stddef.h>

#define MC_GEMM_KC 256 /* columns per panel: a multiple of every block size */

/* Activation slice [k0, k0+kn) of one token (prepared for weight type wt) -> f32. */
static inline void gemm_act_slice(mc_dtype wt, const char *xrow, int64_t k0, int kn, float *dst)
{
    if (wt == MC_DT_F32 || wt == MC_DT_F16 || wt == MC_DT_BF16) {
        memcpy(dst, (const float *)xrow + k0, (size_t)kn * 4);
        return;
    }
    int q8k = wt == MC_DT_Q4_K || wt == MC_DT_Q6_K;
    int be = q8k ? MC_QK_K : MC_QK;
    size_t bsz = q8k ? sizeof(mc_act_q8k) : sizeof(mc_act_q8);
    size_t qoff = q8k ? offsetof(mc_act_q8k, qs) : offsetof(mc_act_q8, qs);
    const char *b0 = xrow + (size_t)(k0 / be) * bsz;
    for (int i = 0; i < kn / be; i++) {
        const char *blk = b0 + (size_t)i * bsz;
        float d;
        memcpy(&d, blk, 4);
        const int8_t *qs = (const int8_t *)(blk + qoff);
        __m256 vd = _mm256_set1_ps(d);
        for (int k = 0; k < be; k += 8) {
            __m128i q = _mm_loadl_epi64((const __m128i *)(qs + k));
            _mm256_storeu_ps(dst + be * i + k,
                             _mm256_mul_ps(vd, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q))));
        }
    }
}

/* 8x8 transpose: rows r[0..7] (each 8 floats at src + i*ss) -> columns stored at dst + k*ds. */
static inline void transpose8(const float *src, int64_t ss, float *dst, int64_t ds)
{
    __m256 r[8], t[8];
    for (int i = 0; i < 8; i++)
        r[i] = _mm256_loadu_ps(src + i * ss);
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) {
        _mm256_storeu_ps(dst + i * ds, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
        _mm256_storeu_ps(dst + (i + 4) * ds, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
    }
}

/* W rows [r, r+rn) x columns [k0, k0+kn) -> wp, in groups of mr rows (mr a multiple of 8):
 * group g at wp + g*MC_GEMM_KC*mr, element (row i, column k) at [k*mr + i%mr]. Rows past rn are
 * zero. Eight rows are dequantised (mc_avx2_dequant) and transposed together. */
static inline void gemm_pack_w(const mc_matmul *m, size_t rb, int64_t r, int rn, int64_t k0, int kn,
                               float *wp, int mr)
{
    float tmp[8 * MC_GEMM_KC] __attribute__((aligned(32)));
    size_t off = mc_type_bytes(m->wtype, k0);
    int rpad = (rn + mr - 1) / mr * mr;
    int kn8 = kn / 8 * 8;
    for (int i0 = 0; i0 < rpad; i0 += 8) {
        for (int i = 0; i < 8; i++) {
            if (i0 + i < rn)
                mc_avx2_dequant(m->wtype, (const char *)m->w + (size_t)(r + i0 + i) * rb + off,
                                tmp + i * MC_GEMM_KC, kn);
            else
                memset(tmp + i * MC_GEMM_KC, 0, sizeof(float) * MC_GEMM_KC);
        }
        float *dst = wp + (size_t)(i0 / mr) * MC_GEMM_KC * mr + i0 % mr;
        for (int k = 0; k < kn8; k += 8)
            transpose8(tmp + k, MC_GEMM_KC, dst + (size_t)k * mr, mr);
        for (int k = kn8; k < kn; k++) /* float types only: widths that are not multiples of 8 */
            for (int i = 0; i < 8; i++)
                dst[(size_t)k * mr + i] = tmp[i * MC_GEMM_KC + k];
    }
}

#endif
