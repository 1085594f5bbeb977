/* matmul_r16_avxvnni.c: the 16-row Q8_0/Q4_0 tile (MC_WLAYOUT_R16) with AVX-VNNI, the VEX form of
 * vpdpbusd on ymm that Intel client cores since Alder Lake have without AVX-512 (and Sapphire
 * Rapids and later with it). The kernel set "avxvnni" is the AVX2 set with these two matmuls;
 * kernels.c picks it when the CPU has AVX2 and AVX-VNNI but not the AVX-512 set.
 *
 * Against the AVX2 tile (matmul_avx2.c), per 32 weight bytes and token: Q4_0 two vpdpbusd in
 * place of two vpmaddubsw, vpaddw, vpmaddwd and vpaddd; Q8_0 one vpdpbusd in place of vpsignb,
 * vpmaddubsw, vpmaddwd and vpaddd, the weights made unsigned by flipping their sign bit once for
 * all tokens (w + 128) and the lanes started from the activation's correction c = -128 sum(x),
 * as the AVX-512 tile does. Same accumulation order as the AVX2 tile: int32 sums per block,
 * scaled in f32.
 *
 * Compiled with -mavx2 -mfma -mf16c -mavxvnni; called only after the CPU check. */
#include "kernels_impl.h"
#include "simd_avx2.h"

#include <immintrin.h>

/* The register tiles use UNROLL(n) loop prefixes, which clang-format cannot lay out. */
// clang-format off

/* One group of 16 rows (two ymm halves of 8) x NT tokens (NT <= 2) over nb block columns at g,
 * into out[t * 16 + row]. Each 4-byte piece of an activation block is broadcast once and feeds
 * 8 rows' dot products in one vpdpbusd per half. */
MC_AI void tile_r16_vnni(const char *g, int64_t nb, const char *x, size_t xs, float *out,
                         const int q4, const int NT)
{
    const size_t cb = q4 ? 16 * sizeof(mc_blk_q4_0) : 16 * sizeof(mc_blk_q8_0);
    const __m256i m4 = _mm256_set1_epi8(0x0F), flip = _mm256_set1_epi8(-128);
    __m256 acc[2][2];
    UNROLL(2) for (int t = 0; t < NT; t++) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const char *col = g + (size_t)b * cb;
        const mc_act_q8 *xb[2];
        __m256i is[2][2];
        UNROLL(2) for (int t = 0; t < NT; t++) {
            xb[t] = (const mc_act_q8 *)(x + t * xs) + b;
            is[t][0] = is[t][1] = _mm256_set1_epi32(xb[t]->c);
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
                        is[t][h] = _mm256_dpbusd_avx_epi32(is[t][h], lo, xl);
                        is[t][h] = _mm256_dpbusd_avx_epi32(is[t][h], hi, xh);
                    }
                } else {
                    __m256i u = _mm256_xor_si256(v, flip);
                    UNROLL(2) for (int t = 0; t < NT; t++) {
                        __m256i xv = _mm256_set1_epi32(ld32(xb[t]->qs + 4 * m));
                        is[t][h] = _mm256_dpbusd_avx_epi32(is[t][h], u, xv);
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

static void tile_r16_vnni_any(const char *g, int64_t nb, const char *x, size_t xs, float *out,
                              int q4, int nt)
{
    if (q4)
        nt == 2 ? tile_r16_vnni(g, nb, x, xs, out, 1, 2) : tile_r16_vnni(g, nb, x, xs, out, 1, 1);
    else
        nt == 2 ? tile_r16_vnni(g, nb, x, xs, out, 0, 2) : tile_r16_vnni(g, nb, x, xs, out, 0, 1);
}

static void mm_q8_0_r16_vnni(const mc_matmul *m)
{
    mc_avx2_r16_rows(m, 0, tile_r16_vnni_any);
}
static void mm_q4_0_r16_vnni(const mc_matmul *m)
{
    mc_avx2_r16_rows(m, 1, tile_r16_vnni_any);
}

void mc_kernels_fill_avxvnni(mc_kernel_table *t)
{
    t->isa = "avxvnni";
    t->matmul_r16[MC_DT_Q8_0] = mm_q8_0_r16_vnni;
    t->matmul_r16[MC_DT_Q4_0] = mm_q4_0_r16_vnni;
}
