/* tile_r16_256.h: the 16-row Q8_0/Q4_0 tile (MC_WLAYOUT_R16) on 256-bit vectors, shared by
 * matmul_avx2.c and matmul_r16_avxvnni.c, which differ only in the int8 dot product. The
 * including file defines, before including this one:
 *   R16_Q8_FROM_C   1: Q8_0 lanes start from the activation's correction c (weights made
 *                   unsigned), 0: from zero (Q4_0 lanes always start from c);
 *   __m256i r16_q8_prep(__m256i v): a Q8_0 weight vector as the dot product wants it, once for
 *                   all tokens (|w| for the sign trick, or w + 128);
 *   __m256i r16_q8_dot(__m256i is, __m256i p, __m256i v, __m256i x): is + the 4-element dot
 *                   products per int32 lane of the prepared weights p (v: as stored) and the
 *                   activation bytes x;
 *   __m256i r16_q4_dot(__m256i is, __m256i lo, __m256i xl, __m256i hi, __m256i xh): is + the
 *                   dot products of the low nibbles with xl and the high ones with xh;
 * and includes simd_avx2.h. Defines tile_r16_256 and tile_r16_256_any (an mc_r16_tile_fn). */
#ifndef MC_TILE_R16_256_H
#define MC_TILE_R16_256_H

/* UNROLL(n) loop prefixes: clang-format cannot lay them out. */
// clang-format off

/* One group of 16 rows (two ymm halves of 8) x NT tokens (NT <= 2) over nb block columns at g,
 * into out[t * 16 + row]. Each 4-byte piece of an activation block is broadcast once for 8 rows'
 * dot products. The int32 sums of a block are scaled in f32 (row scale x activation scale). */
MC_AI void tile_r16_256(const char *g, int64_t nb, const char *x, size_t xs, float *out,
                        const int q4, const int NT)
{
    const size_t cb = q4 ? 16 * sizeof(mc_blk_q4_0) : 16 * sizeof(mc_blk_q8_0);
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc[2][2];
    UNROLL(2) for (int t = 0; t < NT; t++) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const char *col = g + (size_t)b * cb;
        const mc_act_q8 *xb[2];
        __m256i is[2][2];
        UNROLL(2) for (int t = 0; t < NT; t++) {
            xb[t] = (const mc_act_q8 *)(x + t * xs) + b;
            is[t][0] = is[t][1] =
                q4 || R16_Q8_FROM_C ? _mm256_set1_epi32(xb[t]->c) : _mm256_setzero_si256();
        }
        prefetch_w(col);
        const int nw = q4 ? 4 : 8;
        UNROLL(8) for (int m = 0; m < nw; m++) {
            prefetch_w(col + 32 + 64 * m + 32);
            UNROLL(2) for (int h = 0; h < 2; h++) {
                __m256i v = ld256(col + 32 + 64 * m + 32 * h);
                if (q4) {
                    __m256i lo = _mm256_and_si256(v, m4);
                    __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
                    UNROLL(2) for (int t = 0; t < NT; t++) {
                        __m256i xl = _mm256_set1_epi32(ld32(xb[t]->qs + 4 * m));
                        __m256i xh = _mm256_set1_epi32(ld32(xb[t]->qs + 16 + 4 * m));
                        is[t][h] = r16_q4_dot(is[t][h], lo, xl, hi, xh);
                    }
                } else {
                    __m256i p = r16_q8_prep(v);
                    UNROLL(2) for (int t = 0; t < NT; t++) {
                        __m256i xv = _mm256_set1_epi32(ld32(xb[t]->qs + 4 * m));
                        is[t][h] = r16_q8_dot(is[t][h], p, v, xv);
                    }
                }
            }
        }
        UNROLL(2) for (int h = 0; h < 2; h++) {
            __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(col + 16 * h)));
            UNROLL(2) for (int t = 0; t < NT; t++) {
                __m256 sc = _mm256_mul_ps(dw, _mm256_set1_ps(xb[t]->d));
                acc[t][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is[t][h]), sc, acc[t][h]);
            }
        }
    }
    UNROLL(2) for (int t = 0; t < NT; t++) {
        _mm256_storeu_ps(out + 16 * t, acc[t][0]);
        _mm256_storeu_ps(out + 16 * t + 8, acc[t][1]);
    }
}

// clang-format on

/* tile_r16_256 for a run-time token count (1 or 2) and type. */
static void tile_r16_256_any(const char *g, int64_t nb, const char *x, size_t xs, float *out,
                             int q4, int nt)
{
    if (q4)
        nt == 2 ? tile_r16_256(g, nb, x, xs, out, 1, 2) : tile_r16_256(g, nb, x, xs, out, 1, 1);
    else
        nt == 2 ? tile_r16_256(g, nb, x, xs, out, 0, 2) : tile_r16_256(g, nb, x, xs, out, 0, 1);
}

#endif
