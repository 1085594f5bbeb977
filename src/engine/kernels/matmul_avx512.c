/* matmul_avx512.c: AVX-512 matmul. Path B (n_tok >= MC_GEMM_MIN_TOK: prefill and batched decode)
 * runs a 32-row x 12-token zmm micro-kernel over the dequantised f32 panels of gemm_pack.h
 * (128-row x 256-column weight panels, reused by every token group). Path A (few tokens) uses
 * the AVX2 kernels (mc_avx2_matmul_small).
 *
 * Compiled with the AVX-512 flags; reached only through the dispatch table after the CPU check.
 * Allocates nothing (panels on the stack, ~150 KiB). Must not depend on the ref file. */
#include "gemm_pack.h"

#define MC_PRAGMA(x) _Pragma(#x)
#define UNROLL(n) MC_PRAGMA(GCC unroll n)

#define Z_MR 32  /* rows per micro-tile (2 zmm) */
#define Z_TT 12  /* tokens per micro-tile */
#define Z_RP 128 /* rows per panel */
#define Z_KC MC_GEMM_KC

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* 32 rows x NT tokens over kn columns; adds into y when accumulate; rows >= nrows untouched. */
MC_AI void ukernel512(const float *wp, const float *xp, int kn, float *y, int64_t ys, int nrows,
                      int accumulate, const int NT)
{
    __m512 c0[Z_TT], c1[Z_TT];
    UNROLL(12) for (int t = 0; t < NT; t++) c0[t] = c1[t] = _mm512_setzero_ps();
    UNROLL(2) for (int k = 0; k < kn; k++) {
        __m512 w0 = _mm512_load_ps(wp + Z_MR * k), w1 = _mm512_load_ps(wp + Z_MR * k + 16);
        UNROLL(12) for (int t = 0; t < NT; t++) {
            __m512 xb = _mm512_set1_ps(xp[t * Z_KC + k]);
            c0[t] = _mm512_fmadd_ps(w0, xb, c0[t]);
            c1[t] = _mm512_fmadd_ps(w1, xb, c1[t]);
        }
    }
    __mmask16 m0 = (__mmask16)(nrows >= 16 ? 0xffff : (1u << nrows) - 1);
    __mmask16 m1 = (__mmask16)(nrows >= 32 ? 0xffff : nrows <= 16 ? 0 : (1u << (nrows - 16)) - 1);
    UNROLL(12) for (int t = 0; t < NT; t++) {
        float *yo = y + t * ys;
        if (accumulate) {
            c0[t] = _mm512_add_ps(c0[t], _mm512_maskz_loadu_ps(m0, yo));
            c1[t] = _mm512_add_ps(c1[t], _mm512_maskz_loadu_ps(m1, yo + 16));
        }
        _mm512_mask_storeu_ps(yo, m0, c0[t]);
        _mm512_mask_storeu_ps(yo + 16, m1, c1[t]);
    }
}

static void ukernel512_nt(int nt, const float *wp, const float *xp, int kn, float *y, int64_t ys,
                          int nrows, int acc)
{
    switch (nt) {
    case 12: ukernel512(wp, xp, kn, y, ys, nrows, acc, 12); break;
    case 11: ukernel512(wp, xp, kn, y, ys, nrows, acc, 11); break;
    case 10: ukernel512(wp, xp, kn, y, ys, nrows, acc, 10); break;
    case 9: ukernel512(wp, xp, kn, y, ys, nrows, acc, 9); break;
    case 8: ukernel512(wp, xp, kn, y, ys, nrows, acc, 8); break;
    case 7: ukernel512(wp, xp, kn, y, ys, nrows, acc, 7); break;
    case 6: ukernel512(wp, xp, kn, y, ys, nrows, acc, 6); break;
    case 5: ukernel512(wp, xp, kn, y, ys, nrows, acc, 5); break;
    case 4: ukernel512(wp, xp, kn, y, ys, nrows, acc, 4); break;
    case 3: ukernel512(wp, xp, kn, y, ys, nrows, acc, 3); break;
    case 2: ukernel512(wp, xp, kn, y, ys, nrows, acc, 2); break;
    default: ukernel512(wp, xp, kn, y, ys, nrows, acc, 1); break;
    }
}

static void gemm_avx512(const mc_matmul *m)
{
    float wp[Z_RP * Z_KC] __attribute__((aligned(64)));
    float xp[Z_TT * Z_KC] __attribute__((aligned(64)));
    size_t rb = mc_type_bytes(m->wtype, m->cols);
    for (int64_t k0 = 0; k0 < m->cols; k0 += Z_KC) {
        int kn = (int)min64(Z_KC, m->cols - k0);
        for (int64_t rg = m->r0; rg < m->r1; rg += Z_RP) {
            int rn = (int)min64(Z_RP, m->r1 - rg);
            gemm_pack_w(m, rb, rg, rn, k0, kn, wp, Z_MR);
            for (int64_t tg = 0; tg < m->n_tok; tg += Z_TT) {
                int tn = (int)min64(Z_TT, m->n_tok - tg);
                for (int t = 0; t < tn; t++)
                    gemm_act_slice(m->wtype, (const char *)m->x + (size_t)(tg + t) * m->x_stride,
                                   k0, kn, xp + t * Z_KC);
                for (int i = 0; i < rn; i += Z_MR)
                    ukernel512_nt(tn, wp + (size_t)(i / Z_MR) * Z_KC * Z_MR, xp, kn,
                                  m->y + tg * m->y_stride + rg + i, m->y_stride,
                                  (int)min64(Z_MR, rn - i), k0 > 0);
            }
        }
    }
}

static void mm_avx512(const mc_matmul *m)
{
    if (m->n_tok >= MC_GEMM_MIN_TOK)
        gemm_avx512(m);
    else
        mc_avx2_matmul_small(m);
}

void mc_kernels_fill_avx512_matmul(mc_kernel_table *t)
{
    t->matmul[MC_DT_F32] = t->matmul[MC_DT_F16] = t->matmul[MC_DT_BF16] = mm_avx512;
    t->matmul[MC_DT_Q8_0] = t->matmul[MC_DT_Q4_0] = mm_avx512;
    t->matmul[MC_DT_Q4_K] = t->matmul[MC_DT_Q6_K] = mm_avx512;
}
