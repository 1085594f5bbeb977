/* matmul_avx512.c: AVX-512 matmul (F, BW, VL, DQ, VNNI).
 *
 * Path A (few tokens, decode), tiles of 4 rows x 1 token .. 1 row x 4 tokens as in the AVX2 file:
 *   Q8_0 / Q4_0  256-bit VNNI: the weights are made unsigned (w + 128 by flipping the sign bit,
 *                Q4_0 nibbles are already w + 8) and vpdpbusd accumulates u8 x s8 into int32
 *                lanes that start from the activation's correction c = -off * sum(x).
 *   Q4_K         256-bit maddubs to int16 pairs and vpdpwssd with the sub-block scales straight
 *                into int32 (a 512-bit version was slower: its multiplies only issue on port 0).
 *   Q6_K         512-bit: 64 weights per register, maddubs + vpdpwssd.
 *   F32/F16/BF16 the AVX2 kernels (already faster than memory).
 *   Q8_0 / Q4_0 repacked (MC_WLAYOUT_R16): 16 rows per zmm, one lane per row, 512-bit vpdpbusd
 *                on broadcast 4-byte activation pieces; used at every token count.
 *   F32/F16/BF16 repacked (MC_WLAYOUT_R16): matmul_r16f_avx512.c.
 * Path B (many tokens: prefill and large batched decode) runs a 32-row x 12-token zmm
 * micro-kernel over the dequantised f32 panels of gemm_pack.h (128-row x 256-column weight
 * panels, reused by every token group).
 *
 * Compiled with the AVX-512 flags; reached only through the dispatch table after the CPU check.
 * Allocates nothing (panels on the stack, ~150 KiB). Must not depend on the ref file. */
#include "gemm_pack.h"
#include "r16f.h"

/* The register tiles use UNROLL(n) loop prefixes, which clang-format cannot lay out. */
// clang-format off

#define Z_MR 32  /* rows per micro-tile (2 zmm) */
#define Z_TT 12  /* tokens per micro-tile */
#define Z_RP 128 /* rows per panel */
#define Z_KC MC_GEMM_KC



/* ================= path A ================= */

/* Tile shapes and the row/token walk: path_a.h (4 rows x 1 token, 2 x 2, 1 x 1..4). */

/* Q8_0 / Q4_0 weights, NR rows x NT tokens, 256-bit VNNI on weights made unsigned. */
MC_AI void tile_q8v(const char *w, size_t rb, const char *x, size_t xs, int64_t nb, float *y,
                    int64_t ys, const int q4, const int NR, const int NT)
{
    __m256 acc[4][4];
    UNROLL(4) for (int r = 0; r < NR; r++) UNROLL(4) for (int t = 0; t < NT; t++)
        acc[r][t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        UNROLL(4) for (int r = 0; r < NR; r++) {
            __m256i wq;
            __m256 dw;
            if (q4) {
                const mc_blk_q4_0 *wb = (const mc_blk_q4_0 *)(w + r * rb) + b;
                prefetch_w(wb);
                dw = _mm256_cvtph_ps(_mm_set1_epi16((short)wb->d));
                __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)wb->qs));
                v = _mm256_srlv_epi64(v, _mm256_setr_epi64x(0, 0, 4, 4));
                wq = _mm256_and_si256(v, _mm256_set1_epi8(0x0F));
            } else {
                const mc_blk_q8_0 *wb = (const mc_blk_q8_0 *)(w + r * rb) + b;
                prefetch_w(wb);
                dw = _mm256_cvtph_ps(_mm_set1_epi16((short)wb->d));
                wq = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)wb->qs),
                                      _mm256_set1_epi8(-128));
            }
            UNROLL(4) for (int t = 0; t < NT; t++) {
                const mc_act_q8 *xb = (const mc_act_q8 *)(x + t * xs) + b;
                __m256i c0 = _mm256_zextsi128_si256(_mm_cvtsi32_si128(xb->c));
                __m256i is = _mm256_dpbusd_epi32(c0, wq, ld256(xb->qs));
                __m256 sc = _mm256_mul_ps(dw, _mm256_broadcast_ss(&xb->d));
                acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is), sc, acc[r][t]);
            }
        }
    }
    UNROLL(4) for (int r = 0; r < NR; r++) UNROLL(4) for (int t = 0; t < NT; t++)
        y[t * ys + r] = hsum256(acc[r][t]);
}

MC_AI float hsum512(__m512 v) { return _mm512_reduce_add_ps(v); }

/* int16 lane index vectors for vpermw: 32 lanes, `per` consecutive lanes per scale, starting at
 * scale s0 */
MC_AI __m512i scale_idx(int s0, int per)
{
    int16_t idx[32];
    for (int i = 0; i < 32; i++)
        idx[i] = (int16_t)(s0 + i / per);
    return _mm512_loadu_si512(idx);
}

/* The Q4_K tile (tile_q4k256.h) on 256-bit vectors with vpdpwssd in place of vpmaddwd + vpaddd:
 * it uses ports 0, 1 and 5 where a zmm tile is limited to 0 and 5. */
MC_AI __m256i q4k_acc(__m256i isum, __m256i p_lo, __m256i s_lo, __m256i p_hi, __m256i s_hi)
{
    return _mm256_dpwssd_epi32(_mm256_dpwssd_epi32(isum, p_lo, s_lo), p_hi, s_hi);
}
#include "tile_q4k256.h"

/* Q6_K weights, Q8_K activations: NR rows x NT tokens, 64 weights per zmm. */
MC_AI void tile_q6_k_512(const char *w, size_t rb, const char *x, size_t xs, int64_t nsb, float *y,
                         int64_t ys, const int unused, const int NR, const int NT)
{
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    const __m512i shl01 = _mm512_setr_epi64(4, 4, 4, 4, 2, 2, 2, 2);
    const __m512i shr23 = _mm512_setr_epi64(0, 0, 0, 0, 2, 2, 2, 2);
    __m512 acc[4][4];
    (void)unused;
    UNROLL(4) for (int r = 0; r < NR; r++) UNROLL(4) for (int t = 0; t < NT; t++)
        acc[r][t] = _mm512_setzero_ps();
    for (int64_t sb = 0; sb < nsb; sb++) {
        UNROLL(4) for (int r = 0; r < NR; r++) {
            const mc_blk_q6_k *wb = (const mc_blk_q6_k *)(w + r * rb) + sb;
            prefetch_w(wb);
            prefetch_w((const char *)wb + 64);
            prefetch_w((const char *)wb + 128);
            prefetch_w((const char *)wb + 192);
            __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)wb->scales));
            __m512i sc = _mm512_castsi256_si512(sc16);
            __m512i isum[4], isum2[4]; /* two chains: vpdpwssd has 5 cycles of latency */
            UNROLL(4) for (int t = 0; t < NT; t++) isum[t] = isum2[t] = _mm512_setzero_si512();
            UNROLL(2) for (int h = 0; h < 2; h++) {
                __m512i ql = _mm512_loadu_si512(wb->ql + 64 * h);
                __m512i qh = _mm512_broadcast_i64x4(ld256(wb->qh + 32 * h));
                /* elements 128h + 0..63 (groups 0, 1) and 128h + 64..127 (groups 2, 3) */
                __m512i q01 = _mm512_or_si512(_mm512_and_si512(ql, m4),
                                              _mm512_and_si512(_mm512_sllv_epi64(qh, shl01), m30));
                __m512i q23 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                                              _mm512_and_si512(_mm512_srlv_epi64(qh, shr23), m30));
                __m512i s01 = _mm512_permutexvar_epi16(scale_idx(8 * h, 8), sc);
                __m512i s23 = _mm512_permutexvar_epi16(scale_idx(8 * h + 4, 8), sc);
                UNROLL(4) for (int t = 0; t < NT; t++) {
                    const mc_act_q8k *xb = (const mc_act_q8k *)(x + t * xs) + sb;
                    __m512i x01 = _mm512_loadu_si512(xb->qs + 128 * h);
                    __m512i x23 = _mm512_loadu_si512(xb->qs + 128 * h + 64);
                    isum[t] = _mm512_dpwssd_epi32(isum[t], _mm512_maddubs_epi16(q01, x01), s01);
                    isum2[t] = _mm512_dpwssd_epi32(isum2[t], _mm512_maddubs_epi16(q23, x23), s23);
                }
            }
            float d = f16s(wb->d);
            UNROLL(4) for (int t = 0; t < NT; t++) {
                const mc_act_q8k *xb = (const mc_act_q8k *)(x + t * xs) + sb;
                /* q is stored +32: subtract 32 * sum_j sc_j * bsum_j */
                __m256i corr = _mm256_madd_epi16(ld256(xb->bsums), sc16);
                __m512i is = _mm512_add_epi32(isum[t], isum2[t]);
                is = _mm512_sub_epi32(is, _mm512_zextsi256_si512(_mm256_slli_epi32(corr, 5)));
                __m512 fi = _mm512_cvtepi32_ps(is);
                acc[r][t] = _mm512_fmadd_ps(fi, _mm512_set1_ps(d * xb->d), acc[r][t]);
            }
        }
    }
    UNROLL(4) for (int r = 0; r < NR; r++) UNROLL(4) for (int t = 0; t < NT; t++)
        y[t * ys + r] = hsum512(acc[r][t]);
}

#include "path_a.h"

static void path_a_q8_0(const mc_matmul *m) { PATH_A(m, tile_q8v, m->cols / MC_QK, 0, 1) }
static void path_a_q4_0(const mc_matmul *m) { PATH_A(m, tile_q8v, m->cols / MC_QK, 1, 0) }
static void path_a_q4_k(const mc_matmul *m) { PATH_A(m, tile_q4_k_256, m->cols / MC_QK_K, 0, 0) }
static void path_a_q6_k(const mc_matmul *m) { PATH_A(m, tile_q6_k_512, m->cols / MC_QK_K, 0, 0) }

/* ================= path A on MC_WLAYOUT_R16 (kernels.h) ================= */

/* Block column `col` of a group against tokens xb[0..NT) (NT <= 8): the 16 rows' int32 dot
 * products per token, scaled into acc[t]. Each 4-byte piece of an activation block is broadcast
 * once and feeds 16 rows' dot products in one vpdpbusd (64 multiply-adds); the int32 lanes start
 * from the activation's correction c (weights made unsigned: Q8_0 by flipping the sign bit, Q4_0
 * nibbles are already w + 8). Up to 2 tokens, two chains per token hide vpdpbusd's latency. */
MC_AI void r16_col(const char *col, __m512 dw, const mc_act_q8 *const *xb, __m512 *acc,
                   const int q4, const int NT)
{
    const __m512i m4 = _mm512_set1_epi8(0x0F), flip = _mm512_set1_epi8(-128);
    const int two = NT <= 2, nw = q4 ? 4 : 8;
    __m512i is0[8], is1[8];
    UNROLL(8) for (int t = 0; t < NT; t++) {
        is0[t] = _mm512_set1_epi32(xb[t]->c);
        is1[t] = _mm512_setzero_si512();
    }
    UNROLL(8) for (int m = 0; m < nw; m++) {
        __m512i v = _mm512_loadu_si512(col + 32 + 64 * m), lo, hi = v;
        lo = q4 ? _mm512_and_si512(v, m4) : _mm512_xor_si512(v, flip);
        if (q4)
            hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
        UNROLL(8) for (int t = 0; t < NT; t++) {
            __m512i x0 = _mm512_set1_epi32(ld32(xb[t]->qs + 4 * m));
            if (q4) {
                __m512i x1 = _mm512_set1_epi32(ld32(xb[t]->qs + 16 + 4 * m));
                is0[t] = _mm512_dpbusd_epi32(is0[t], lo, x0);
                if (two)
                    is1[t] = _mm512_dpbusd_epi32(is1[t], hi, x1);
                else
                    is0[t] = _mm512_dpbusd_epi32(is0[t], hi, x1);
            } else if (two && (m & 1)) {
                is1[t] = _mm512_dpbusd_epi32(is1[t], lo, x0);
            } else {
                is0[t] = _mm512_dpbusd_epi32(is0[t], lo, x0);
            }
        }
    }
    UNROLL(8) for (int t = 0; t < NT; t++) {
        __m512i is = two ? _mm512_add_epi32(is0[t], is1[t]) : is0[t];
        __m512 sc = _mm512_mul_ps(dw, _mm512_set1_ps(xb[t]->d));
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is), sc, acc[t]);
    }
}

/* One group of 16 rows x NT tokens (NT <= 16) over nb block columns at g, one zmm lane per row:
 * the 16 scales load as one vector; per block column and token 8 vpdpbusd, one int->float
 * conversion, one multiply and one FMA for all 16 rows. Tokens beyond 8 take a second sweep of
 * the block column (from L1), so up to 16 tokens share one pass over the weights from memory.
 * Lanes outside `keep` are not stored. */
MC_AI void tile_r16(const char *g, int64_t nb, const char *x, size_t xs, float *y, int64_t ys,
                    __mmask16 keep, const int q4, const int NT)
{
    const size_t cb = q4 ? 16 * sizeof(mc_blk_q4_0) : 16 * sizeof(mc_blk_q8_0);
    const int NA = NT > 8 ? 8 : NT, NB = NT - NA;
    __m512 acc[16];
    UNROLL(16) for (int t = 0; t < NT; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const char *col = g + (size_t)b * cb;
        const mc_act_q8 *xb[16];
        UNROLL(16) for (int t = 0; t < NT; t++) xb[t] = (const mc_act_q8 *)(x + t * xs) + b;
        prefetch_w(col);
        UNROLL(9) for (size_t o = 64; o < cb; o += 64) prefetch_w(col + o);
        __m512 dw = _mm512_cvtph_ps(ld256(col));
        r16_col(col, dw, xb, acc, q4, NA);
        if (NB > 0)
            r16_col(col, dw, xb + 8, acc + 8, q4, NB > 0 ? NB : 1);
    }
    UNROLL(16) for (int t = 0; t < NT; t++) _mm512_mask_storeu_ps(y + t * ys, keep, acc[t]);
}

static void tile_r16_nt(int nt, const char *g, int64_t nb, const char *x, size_t xs, float *y,
                        int64_t ys, __mmask16 keep, int q4)
{
#define R16_CASE(n)                                                                                \
    case n:                                                                                        \
        if (q4)                                                                                    \
            tile_r16(g, nb, x, xs, y, ys, keep, 1, n);                                             \
        else                                                                                       \
            tile_r16(g, nb, x, xs, y, ys, keep, 0, n);                                             \
        break;
    switch (nt) {
    R16_CASE(1) R16_CASE(2) R16_CASE(3) R16_CASE(4) R16_CASE(5) R16_CASE(6) R16_CASE(7)
    R16_CASE(8) R16_CASE(9) R16_CASE(10) R16_CASE(11) R16_CASE(12) R16_CASE(13) R16_CASE(14)
    R16_CASE(15)
    default: R16_CASE(16)
    }
#undef R16_CASE
}

static void path_a_r16(const mc_matmul *m, int q4);

/* ================= path B ================= */

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

/* Token count from which path B beats path A, per weight type (see matmul_avx2.c; the zmm
 * GEMM is twice as wide, so it crosses earlier than the AVX2 one). */
static int64_t gemm_min_tok(mc_dtype t)
{
#ifdef MC_GEMM_MIN_TOK
    (void)t;
    return MC_GEMM_MIN_TOK;
#else
    switch (t) {
    case MC_DT_Q8_0: return 64;
    case MC_DT_Q4_0: return 96;
    case MC_DT_Q4_K:
    case MC_DT_Q6_K: return 128;
    default: return 16;
    }
#endif
}

#define MM_ENTRY(name, small)                                                                      \
    static void name(const mc_matmul *m)                                                           \
    {                                                                                              \
        if (m->n_tok >= gemm_min_tok(m->wtype))                                                    \
            gemm_avx512(m);                                                                        \
        else                                                                                       \
            small;                                                                                 \
    }

/* Rows [r0, r1) of an R16 matrix: full and partial 16-row groups with tile_r16 (a partial group
 * is computed whole and stored under a lane mask), the GGML tail rows with the GGML path A. */
static void path_a_r16(const mc_matmul *m, int q4)
{
    size_t rb = mc_type_bytes(m->wtype, m->cols);
    int64_t nb = m->cols / MC_QK, g0;
    const char *w = m->w, *x = m->x;
    unsigned lanes;
    mc_matmul tail;
    for (r16_walk it = r16_walk_of(m); r16_next(&it, &g0, &lanes);)
        for (int64_t t0 = 0; t0 < m->n_tok; t0 += 16)
            tile_r16_nt((int)min64(16, m->n_tok - t0), w + (size_t)g0 * rb, nb,
                        x + (size_t)t0 * m->x_stride, m->x_stride, m->y + t0 * m->y_stride + g0,
                        m->y_stride, (__mmask16)lanes, q4);
    if (r16_tail(m, &tail))
        (q4 ? path_a_q4_0 : path_a_q8_0)(&tail);
}

MM_ENTRY(mm_float_avx512, mc_avx2_matmul_small(m))
MM_ENTRY(mm_q8_0_avx512, path_a_q8_0(m))
MM_ENTRY(mm_q4_0_avx512, path_a_q4_0(m))
MM_ENTRY(mm_q4_k_avx512, path_a_q4_k(m))
MM_ENTRY(mm_q6_k_avx512, path_a_q6_k(m))

void mc_avx512_matmul_kquant(const mc_matmul *m)
{
    MC_KASSERT(m->wtype == MC_DT_Q4_K || m->wtype == MC_DT_Q6_K);
    if (m->wtype == MC_DT_Q4_K)
        mm_q4_k_avx512(m);
    else
        mm_q6_k_avx512(m);
}

/* R16 layout: path A at every token count. Its VNNI tile beats the f32 GEMM of path B from 1 to
 * 512 tokens (one core: 320 vs 80 GFLOP/s at 64 tokens, 374 vs 128 at 512; docs/KERNELS.md), so
 * path B is not used for R16 weights here. */
static void mm_q8_0_r16_avx512(const mc_matmul *m) { path_a_r16(m, 0); }
static void mm_q4_0_r16_avx512(const mc_matmul *m) { path_a_r16(m, 1); }

void mc_kernels_fill_avx512_matmul(mc_kernel_table *t)
{
    t->matmul[MC_DT_F32] = t->matmul[MC_DT_F16] = t->matmul[MC_DT_BF16] = mm_float_avx512;
    t->matmul[MC_DT_Q8_0] = mm_q8_0_avx512;
    t->matmul[MC_DT_Q4_0] = mm_q4_0_avx512;
    t->matmul[MC_DT_Q4_K] = mm_q4_k_avx512;
    t->matmul[MC_DT_Q6_K] = mm_q6_k_avx512;
    t->matmul_r16[MC_DT_Q8_0] = mm_q8_0_r16_avx512;
    t->matmul_r16[MC_DT_Q4_0] = mm_q4_0_r16_avx512;
    t->r16_native[MC_DT_Q8_0] = t->r16_native[MC_DT_Q4_0] = 1;
    mc_kernels_fill_r16f_avx512(t); /* F32/F16/BF16 R16: matmul_r16f_avx512.c */
}
// clang-format on
