/* tile_q4k256.h: the Q4_K x Q8_K register tile of GGUF's layout on 256-bit vectors, shared by
 * matmul_avx2.c and matmul_avx512.c, which differ only in how the 16-bit products (vpmaddubsw of
 * weights and activations) are multiplied by their scales and summed into int32. The including
 * file defines, before including this one,
 *   __m256i q4k_acc(__m256i isum, __m256i p_lo, __m256i s_lo, __m256i p_hi, __m256i s_hi):
 *   isum + pairwise sums of p_lo * s_lo and p_hi * s_hi (vpmaddwd + vpaddd on AVX2; vpdpwssd
 *   with AVX-512 VNNI, where a zmm tile would be limited to ports 0 and 5),
 * and includes simd_avx2.h (prefetch_w, q4k_scales_vec, word_bcast, ld256, hsum256, UNROLL). */
#ifndef MC_TILE_Q4K256_H
#define MC_TILE_Q4K256_H

#include <string.h>

/* UNROLL(n) loop prefixes: clang-format cannot lay them out. */
// clang-format off
/* Q4_K weights, Q8_K activations: NR rows x NT tokens. */
MC_AI void tile_q4_k_256(const char *w, size_t rb, const char *x, size_t xs, int64_t nsb, float *y,
                         int64_t ys, const int unused, const int NR, const int NT)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc[4][4];
    (void)unused;
    UNROLL(4) for (int r = 0; r < NR; r++) UNROLL(4) for (int t = 0; t < NT; t++)
        acc[r][t] = _mm256_setzero_ps();
    for (int64_t sb = 0; sb < nsb; sb++) {
        UNROLL(4) for (int r = 0; r < NR; r++) {
            const mc_blk_q4_k *wb = (const mc_blk_q4_k *)(w + r * rb) + sb;
            prefetch_w(wb);
            prefetch_w((const char *)wb + 64);
            prefetch_w((const char *)wb + 128);
            __m128i sm = q4k_scales_vec(wb->scales); /* bytes 0..7 scales, 8..15 mins */
            __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
            __m256i mn16 = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(sm, sm)); /* m0 m0 m1 m1 .. */
            __m256i isum[4];
            UNROLL(4) for (int t = 0; t < NT; t++) isum[t] = _mm256_setzero_si256();
            UNROLL(4) for (int c = 0; c < 4; c++) {
                __m256i qv = _mm256_loadu_si256((const __m256i *)(wb->qs + 32 * c));
                __m256i lo = _mm256_and_si256(qv, m4);
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qv, 4), m4);
                __m256i s_lo = word_bcast(sc16, 2 * c);
                __m256i s_hi = word_bcast(sc16, 2 * c + 1);
                UNROLL(4) for (int t = 0; t < NT; t++) {
                    const mc_act_q8k *xb = (const mc_act_q8k *)(x + t * xs) + sb;
                    __m256i xl = _mm256_loadu_si256((const __m256i *)(xb->qs + 64 * c));
                    __m256i xh = _mm256_loadu_si256((const __m256i *)(xb->qs + 64 * c + 32));
                    isum[t] = q4k_acc(isum[t], _mm256_maddubs_epi16(lo, xl), s_lo,
                                      _mm256_maddubs_epi16(hi, xh), s_hi);
                }
            }
            int32_t dpair;
            memcpy(&dpair, &wb->d, 4); /* d and dmin are adjacent halves */
            __m128 dd = _mm_cvtph_ps(_mm_cvtsi32_si128(dpair));
            UNROLL(4) for (int t = 0; t < NT; t++) {
                const mc_act_q8k *xb = (const mc_act_q8k *)(x + t * xs) + sb;
                __m128 s = _mm_mul_ps(dd, _mm_set1_ps(xb->d)); /* d*dx, dmin*dx */
                __m256i im = _mm256_madd_epi16(ld256(xb->bsums), mn16);
                __m256 fi = _mm256_cvtepi32_ps(isum[t]);
                acc[r][t] = _mm256_fmadd_ps(fi, _mm256_broadcastss_ps(s), acc[r][t]);
                acc[r][t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(im),
                                             _mm256_broadcastss_ps(_mm_movehdup_ps(s)), acc[r][t]);
            }
        }
    }
    UNROLL(4) for (int r = 0; r < NR; r++) UNROLL(4) for (int t = 0; t < NT; t++)
        y[t * ys + r] = hsum256(acc[r][t]);
}

// clang-format on

#endif
