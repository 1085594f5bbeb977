/* matmul_r16_avxvnni.c: the 16-row Q8_0/Q4_0 tile (MC_WLAYOUT_R16) with AVX-VNNI, the VEX form of
 * vpdpbusd on ymm that Intel client cores since Alder Lake have without AVX-512 (and Sapphire
 * Rapids and later with it). The kernel set "avxvnni" is the AVX2 set with these two matmuls;
 * kernels.c picks it when the CPU has AVX2 and AVX-VNNI but not the AVX-512 set.
 *
 * Against the AVX2 tile (matmul_avx2.c), per 32 weight bytes and token: Q4_0 two vpdpbusd in
 * place of two vpmaddubsw, vpaddw, vpmaddwd and vpaddd; Q8_0 one vpdpbusd in place of vpsignb,
 * vpmaddubsw, vpmaddwd and vpaddd, the weights made unsigned by flipping their sign bit once for
 * all tokens (w + 128) and the lanes started from the activation's correction c = -128 sum(x),
 * as the AVX-512 tile does. The tile itself is the AVX2 one (tile_r16_256.h): int32 sums per
 * block, scaled in f32.
 *
 * Compiled with -mavx2 -mfma -mf16c -mavxvnni; called only after the CPU check. */
#include "kernels_impl.h"
#include "simd_avx2.h"

#include <immintrin.h>

/* The 16-row tile (tile_r16_256.h) with vpdpbusd: Q8_0 weights made unsigned (w + 128, lanes
 * from the correction c), Q4_0 nibbles as stored. */
#define R16_Q8_FROM_C 1
MC_AI __m256i r16_q8_prep(__m256i v)
{
    return _mm256_xor_si256(v, _mm256_set1_epi8(-128));
}
MC_AI __m256i r16_q8_dot(__m256i is, __m256i p, __m256i v, __m256i x)
{
    (void)v;
    return _mm256_dpbusd_avx_epi32(is, p, x);
}
MC_AI __m256i r16_q4_dot(__m256i is, __m256i lo, __m256i xl, __m256i hi, __m256i xh)
{
    return _mm256_dpbusd_avx_epi32(_mm256_dpbusd_avx_epi32(is, lo, xl), hi, xh);
}
#include "tile_r16_256.h"

static void mm_q8_0_r16_vnni(const mc_matmul *m)
{
    mc_avx2_r16_rows(m, 0, tile_r16_256_any);
}
static void mm_q4_0_r16_vnni(const mc_matmul *m)
{
    mc_avx2_r16_rows(m, 1, tile_r16_256_any);
}

void mc_kernels_fill_avxvnni(mc_kernel_table *t)
{
    t->isa = "avxvnni";
    t->matmul_r16[MC_DT_Q8_0] = mm_q8_0_r16_vnni;
    t->matmul_r16[MC_DT_Q4_0] = mm_q4_0_r16_vnni;
}
