/* matmul_avx2.c: AVX2 + FMA + F16C matmul, Y[t][r] = sum_c W[r][c] X[t][c].
 *
 * Two paths (docs/KERNELS.md):
 *   A  few tokens (decode; below gemm_min_tok(type)): dot products straight from the weight
 *      blocks (int8 x int8 with maddubs for the quantised types, f16/bf16 -> f32 FMA for the
 *      float types). A tile is one weight row x up to 4 tokens; rows are walked in order so the
 *      weight stream is sequential (plus a software prefetch MC_PF_DIST ahead into L2), and each
 *      weight block is loaded and unpacked once per row for all the tokens of the tile.
 *   R16  Q8_0 / Q4_0 repacked into 16-row groups (kernels.h MC_WLAYOUT_R16): two ymm halves of
 *      8 rows, maddubs on broadcast 4-byte activation pieces; path A at every token count.
 *   B  many tokens (prefill, large batched decode): a 64-row x 256-column slice of W is
 *      dequantised once into an f32 panel (16-row groups, row-vector order) and reused by every
 *      token; a 16-row x 6-token register-tiled FMA micro-kernel does the work.
 *
 * Compiled with -mavx2 -mfma -mf16c; reached only through the dispatch table. Allocates nothing
 * (panels live on the stack, ~80 KiB). Must not depend on other ISA files. */
#include "gemm_pack.h"
#include "r16f.h"

/* The register tiles use UNROLL(n) loop prefixes, which clang-format cannot lay out. */
// clang-format off

/* ================= path A: few tokens ================= */

/* Tiles are NR weight rows x NT tokens (path_a_shape): one token takes 4 rows at a time, i.e.
 * four interleaved sequential weight streams (one core reads ~16 GB/s from four streams but ~14
 * from one, measured), two tokens 2 rows, more tokens 1 row (there the arithmetic per weight
 * byte is high enough). Each weight block is loaded and unpacked once per tile and used for all
 * NT tokens; the activation rows stay in L1. */


/* Q4_0 nibbles -> 32 unsigned bytes in element order: the 16 bytes go to both halves, the upper
 * half is shifted by 4 (one load, two ALU ops). */
MC_AI __m256i q4_0_nibbles(const uint8_t *qs)
{
    __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs));
    v = _mm256_srlv_epi64(v, _mm256_setr_epi64x(0, 0, 4, 4));
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0F));
}

/* Q8_0 / Q4_0 weights with Q8 activations, NR rows x NT tokens.
 * Q8_0: sign trick (|w| x sign(x, w)) for maddubs. Q4_0: the nibbles q = w + 8 are unsigned, so
 * maddubs(q, x) needs no sign trick and the activation's c = -8 sum(x) restores sum (q - 8) x. */
MC_AI void tile_q8(const char *w, size_t rb, const char *x, size_t xs, int64_t nb, float *y,
                   int64_t ys, const int q4, const int NR, const int NT)
{
    const __m256i ones16 = _mm256_set1_epi16(1);
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
                wq = q4_0_nibbles(wb->qs);
            } else {
                const mc_blk_q8_0 *wb = (const mc_blk_q8_0 *)(w + r * rb) + b;
                prefetch_w(wb);
                dw = _mm256_cvtph_ps(_mm_set1_epi16((short)wb->d));
                wq = _mm256_loadu_si256((const __m256i *)wb->qs);
            }
            UNROLL(4) for (int t = 0; t < NT; t++) {
                const mc_act_q8 *xb = (const mc_act_q8 *)(x + t * xs) + b;
                __m256i xq = _mm256_loadu_si256((const __m256i *)xb->qs), is;
                if (q4)
                    is = _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(wq, xq), ones16),
                                          _mm256_zextsi128_si256(_mm_cvtsi32_si128(xb->c)));
                else
                    is = dot_i8x32(wq, xq);
                __m256 sc = _mm256_mul_ps(dw, _mm256_broadcast_ss(&xb->d));
                acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is), sc, acc[r][t]);
            }
        }
    }
    UNROLL(4) for (int r = 0; r < NR; r++) UNROLL(4) for (int t = 0; t < NT; t++)
        y[t * ys + r] = hsum256(acc[r][t]);
}

/* F32 / F16 / BF16 weights (kind 0/1/2) with f32 activations. */
MC_AI __m256 load_w8(const char *w, int64_t c, const int kind)
{
    if (kind == 0)
        return _mm256_loadu_ps((const float *)w + c);
    if (kind == 1)
        return load_f16x8((const uint16_t *)w + c);
    return load_bf16x8((const uint16_t *)w + c);
}

MC_AI float load_w1(const char *w, int64_t c, const int kind)
{
    if (kind == 0)
        return ((const float *)w)[c];
    if (kind == 1)
        return f16s(((const uint16_t *)w)[c]);
    return mc_bf2f(((const uint16_t *)w)[c]);
}

/* NR rows x NT tokens, 8*U columns per step with U accumulators per (row, token): enough
 * independent FMA chains (NR*NT*U >= 4) to hide the FMA latency at every shape. */
MC_AI void tile_fp(const char *w, size_t rb, const char *x, size_t xs, int64_t n, float *y,
                   int64_t ys, const int kind, const int NR, const int NT)
{
    const int U = NR * NT >= 4 ? 1 : 4 / (NR * NT);
    const int64_t step_bytes = 8 * U * 2; /* f16/bf16 bytes per step */
    __m256 acc[4][4][4];
    UNROLL(4) for (int r = 0; r < NR; r++) UNROLL(4) for (int t = 0; t < NT; t++)
        UNROLL(4) for (int u = 0; u < U; u++) acc[r][t][u] = _mm256_setzero_ps();
    int64_t c = 0;
    for (; c + 8 * U <= n; c += 8 * U) {
        UNROLL(4) for (int r = 0; r < NR; r++) {
            const char *wr = w + r * rb;
            if (kind != 0) /* f32: the hardware prefetcher alone was faster (15.1 vs 14.6 GB/s) */
                UNROLL(2) for (int64_t o = 0; o < step_bytes; o += 64)
                    prefetch_w(wr + c * 2 + o);
            UNROLL(4) for (int u = 0; u < U; u++) {
                __m256 wv = load_w8(wr, c + 8 * u, kind);
                UNROLL(4) for (int t = 0; t < NT; t++)
                    acc[r][t][u] = _mm256_fmadd_ps(
                        wv, _mm256_loadu_ps((const float *)(x + t * xs) + c + 8 * u), acc[r][t][u]);
            }
        }
    }
    UNROLL(4) for (int r = 0; r < NR; r++) UNROLL(4) for (int t = 0; t < NT; t++) {
        __m256 a = acc[r][t][0];
        UNROLL(4) for (int u = 1; u < U; u++) a = _mm256_add_ps(a, acc[r][t][u]);
        const float *xt = (const float *)(x + t * xs);
        for (int64_t k = c; k + 8 <= n; k += 8) /* leftover whole vectors when U > 1 */
            a = _mm256_fmadd_ps(load_w8(w + r * rb, k, kind), _mm256_loadu_ps(xt + k), a);
        float sum = hsum256(a);
        for (int64_t k = n - n % 8 > c ? n - n % 8 : c; k < n; k++)
            sum += load_w1(w + r * rb, k, kind) * xt[k];
        y[t * ys + r] = sum;
    }
}

/* The Q4_K tile (tile_q4k256.h) with vpmaddwd + vpaddd. */
MC_AI __m256i q4k_acc(__m256i isum, __m256i p_lo, __m256i s_lo, __m256i p_hi, __m256i s_hi)
{
    __m256i lo = _mm256_madd_epi16(p_lo, s_lo), hi = _mm256_madd_epi16(p_hi, s_hi);
    return _mm256_add_epi32(isum, _mm256_add_epi32(lo, hi));
}
#include "tile_q4k256.h"

/* Q6_K weights, Q8_K activations: NR rows x NT tokens. */
MC_AI void tile_q6_k(const char *w, size_t rb, const char *x, size_t xs, int64_t nsb, float *y,
                     int64_t ys, const int unused, const int NR, const int NT)
{
    const __m256i pair = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, /**/
                                          2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
    __m256 acc[4][4];
    (void)unused;
    UNROLL(4) for (int r = 0; r < NR; r++) UNROLL(4) for (int t = 0; t < NT; t++)
        acc[r][t] = _mm256_setzero_ps();
    for (int64_t sb = 0; sb < nsb; sb++) {
        UNROLL(4) for (int r = 0; r < NR; r++) {
            const mc_blk_q6_k *wb = (const mc_blk_q6_k *)(w + r * rb) + sb;
            prefetch_w(wb);
            prefetch_w((const char *)wb + 64);
            prefetch_w((const char *)wb + 128);
            prefetch_w((const char *)wb + 192);
            __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)wb->scales));
            __m256i isum[4];
            UNROLL(4) for (int t = 0; t < NT; t++) isum[t] = _mm256_setzero_si256();
            UNROLL(2) for (int h = 0; h < 2; h++) {
                __m256i q[4];
                unpack_q6_k(wb, h, q);
                UNROLL(4) for (int k = 0; k < 4; k++) {
                    /* lanes 0..7 scale 2g, lanes 8..15 scale 2g+1 (g = 4h + k) */
                    __m256i sv = _mm256_shuffle_epi8(
                        _mm256_permutevar8x32_epi32(sc16, _mm256_set1_epi32(4 * h + k)), pair);
                    UNROLL(4) for (int t = 0; t < NT; t++) {
                        const mc_act_q8k *xb = (const mc_act_q8k *)(x + t * xs) + sb;
                        __m256i xq = ld256(xb->qs + 128 * h + 32 * k);
                        __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(q[k], xq), sv);
                        isum[t] = _mm256_add_epi32(isum[t], p);
                    }
                }
            }
            float d = f16s(wb->d);
            UNROLL(4) for (int t = 0; t < NT; t++) {
                const mc_act_q8k *xb = (const mc_act_q8k *)(x + t * xs) + sb;
                /* q is stored +32: subtract 32 * sum_j sc_j * bsum_j */
                __m256i corr = _mm256_madd_epi16(ld256(xb->bsums), sc16);
                __m256i is = _mm256_sub_epi32(isum[t], _mm256_slli_epi32(corr, 5));
                __m256 fi = _mm256_cvtepi32_ps(is);
                acc[r][t] = _mm256_fmadd_ps(fi, _mm256_set1_ps(d * xb->d), acc[r][t]);
            }
        }
    }
    UNROLL(4) for (int r = 0; r < NR; r++) UNROLL(4) for (int t = 0; t < NT; t++)
        y[t * ys + r] = hsum256(acc[r][t]);
}

#include "path_a.h"

/* ================= path B: dequantised panels + f32 micro-kernel ================= */

#define B_MR 16  /* rows per micro-tile (2 ymm) */
#define B_TT 6   /* tokens per micro-tile */
#define B_KC MC_GEMM_KC
#define B_RP 64  /* rows per panel */

/* 16 rows x NT tokens over kn columns; adds into y when accumulate. */
MC_AI void ukernel(const float *wp, const float *xp, int kn, float *y, int64_t ys, int nrows,
                   int accumulate, const int NT)
{
    __m256 c0[B_TT], c1[B_TT];
    UNROLL(6) for (int t = 0; t < NT; t++) c0[t] = c1[t] = _mm256_setzero_ps();
    UNROLL(2) for (int k = 0; k < kn; k++) {
        __m256 w0 = _mm256_load_ps(wp + B_MR * k), w1 = _mm256_load_ps(wp + B_MR * k + 8);
        UNROLL(6) for (int t = 0; t < NT; t++) {
            __m256 xb = _mm256_broadcast_ss(xp + t * B_KC + k);
            c0[t] = _mm256_fmadd_ps(w0, xb, c0[t]);
            c1[t] = _mm256_fmadd_ps(w1, xb, c1[t]);
        }
    }
    UNROLL(6) for (int t = 0; t < NT; t++) {
        float *yo = y + t * ys;
        if (nrows == B_MR) {
            if (accumulate) {
                c0[t] = _mm256_add_ps(c0[t], _mm256_loadu_ps(yo));
                c1[t] = _mm256_add_ps(c1[t], _mm256_loadu_ps(yo + 8));
            }
            _mm256_storeu_ps(yo, c0[t]);
            _mm256_storeu_ps(yo + 8, c1[t]);
        } else {
            float tmp[B_MR];
            _mm256_storeu_ps(tmp, c0[t]);
            _mm256_storeu_ps(tmp + 8, c1[t]);
            for (int i = 0; i < nrows; i++)
                yo[i] = accumulate ? yo[i] + tmp[i] : tmp[i];
        }
    }
}

static void ukernel_nt(int nt, const float *wp, const float *xp, int kn, float *y, int64_t ys,
                       int nrows, int accumulate)
{
    switch (nt) {
    case 6: ukernel(wp, xp, kn, y, ys, nrows, accumulate, 6); break;
    case 5: ukernel(wp, xp, kn, y, ys, nrows, accumulate, 5); break;
    case 4: ukernel(wp, xp, kn, y, ys, nrows, accumulate, 4); break;
    case 3: ukernel(wp, xp, kn, y, ys, nrows, accumulate, 3); break;
    case 2: ukernel(wp, xp, kn, y, ys, nrows, accumulate, 2); break;
    default: ukernel(wp, xp, kn, y, ys, nrows, accumulate, 1); break;
    }
}

static void gemm_avx2(const mc_matmul *m)
{
    float wp[B_RP * B_KC] __attribute__((aligned(32)));
    float xp[B_TT * B_KC] __attribute__((aligned(32)));
    size_t rb = mc_type_bytes(m->wtype, m->cols);
    for (int64_t k0 = 0; k0 < m->cols; k0 += B_KC) {
        int kn = (int)min64(B_KC, m->cols - k0);
        for (int64_t rg = m->r0; rg < m->r1; rg += B_RP) {
            int rn = (int)min64(B_RP, m->r1 - rg);
            gemm_pack_w(m, rb, rg, rn, k0, kn, wp, B_MR);
            for (int64_t tg = 0; tg < m->n_tok; tg += B_TT) {
                int tn = (int)min64(B_TT, m->n_tok - tg);
                for (int t = 0; t < tn; t++)
                    gemm_act_slice(m->wtype, (const char *)m->x + (size_t)(tg + t) * m->x_stride,
                                  k0, kn, xp + t * B_KC);
                for (int i = 0; i < rn; i += B_MR)
                    ukernel_nt(tn, wp + (i / B_MR) * B_KC * B_MR, xp, kn,
                               m->y + tg * m->y_stride + rg + i, m->y_stride,
                               (int)min64(B_MR, rn - i), k0 > 0);
            }
        }
    }
}

/* ================= entry points ================= */

static void path_a_f32(const mc_matmul *m) { PATH_A(m, tile_fp, m->cols, 0, 1) }
static void path_a_f16(const mc_matmul *m) { PATH_A(m, tile_fp, m->cols, 1, 1) }
static void path_a_bf16(const mc_matmul *m) { PATH_A(m, tile_fp, m->cols, 2, 1) }
static void path_a_q8_0(const mc_matmul *m) { PATH_A(m, tile_q8, m->cols / MC_QK, 0, 1) }
static void path_a_q4_0(const mc_matmul *m) { PATH_A(m, tile_q8, m->cols / MC_QK, 1, 0) }
static void path_a_q4_k(const mc_matmul *m) { PATH_A(m, tile_q4_k_256, m->cols / MC_QK_K, 0, 0) }
static void path_a_q6_k(const mc_matmul *m) { PATH_A(m, tile_q6_k, m->cols / MC_QK_K, 0, 0) }

void mc_avx2_matmul_small(const mc_matmul *m)
{
    switch (m->wtype) {
    case MC_DT_F32: path_a_f32(m); break;
    case MC_DT_F16: path_a_f16(m); break;
    case MC_DT_BF16: path_a_bf16(m); break;
    case MC_DT_Q8_0: path_a_q8_0(m); break;
    case MC_DT_Q4_0: path_a_q4_0(m); break;
    case MC_DT_Q4_K: path_a_q4_k(m); break;
    case MC_DT_Q6_K: path_a_q6_k(m); break;
    default: MC_KASSERT(0 && "unsupported type");
    }
}

/* ================= path A on MC_WLAYOUT_R16 (kernels.h) ================= */


/* The 16-row tile (tile_r16_256.h) with maddubs + madd per 8 rows x 4 weights: Q4_0's unsigned
 * nibbles against the activation (lanes start from its correction c); Q8_0 with the sign trick
 * (|w| x sign(x, w)), lanes from zero. vpmaddubsw cannot saturate here: |pair| <= 2 * 128 * 127
 * for Q8_0, 2 * 15 * 127 for Q4_0, and Q4_0's two products are added in int16 (<= 7620). */
#define R16_Q8_FROM_C 0
MC_AI __m256i r16_q8_prep(__m256i v) { return _mm256_abs_epi8(v); }
MC_AI __m256i r16_q8_dot(__m256i is, __m256i p, __m256i v, __m256i x)
{
    __m256i s16 = _mm256_maddubs_epi16(p, _mm256_sign_epi8(x, v));
    return _mm256_add_epi32(is, _mm256_madd_epi16(s16, _mm256_set1_epi16(1)));
}
MC_AI __m256i r16_q4_dot(__m256i is, __m256i lo, __m256i xl, __m256i hi, __m256i xh)
{
    __m256i s16 = _mm256_add_epi16(_mm256_maddubs_epi16(lo, xl), _mm256_maddubs_epi16(hi, xh));
    return _mm256_add_epi32(is, _mm256_madd_epi16(s16, _mm256_set1_epi16(1)));
}
#include "tile_r16_256.h"

/* Rows [r0, r1) of an R16 matrix: each touched group whole with `tile` (its wanted rows copied
 * out), then the GGML tail rows with the GGML path A. */
void mc_avx2_r16_rows(const mc_matmul *m, int q4, mc_r16_tile_fn tile)
{
    size_t rb = mc_type_bytes(m->wtype, m->cols);
    int64_t nb = m->cols / MC_QK, gend = m->rows / MC_R16 * MC_R16;
    int64_t rend = min64(m->r1, gend);
    const char *w = m->w, *x = m->x;
    float out[2 * MC_R16];
    for (int64_t r = m->r0; r < rend;) {
        int64_t g0 = r / MC_R16 * MC_R16, hi = min64(rend, g0 + MC_R16);
        for (int64_t t0 = 0; t0 < m->n_tok; t0 += 2) {
            int nt = (int)min64(2, m->n_tok - t0);
            const char *xt = x + (size_t)t0 * m->x_stride;
            tile(w + (size_t)g0 * rb, nb, xt, m->x_stride, out, q4, nt);
            for (int t = 0; t < nt; t++)
                memcpy(m->y + (t0 + t) * m->y_stride + r, out + 16 * t + (r - g0),
                       (size_t)(hi - r) * sizeof(float));
        }
        r = hi;
    }
    if (m->r1 > gend) {
        mc_matmul tail = *m;
        tail.r0 = m->r0 > gend ? m->r0 : gend;
        tail.layout = MC_WLAYOUT_GGML;
        if (q4)
            path_a_q4_0(&tail);
        else
            path_a_q8_0(&tail);
    }
}

/* Token count from which path B beats path A, per weight type (CPU-time measurements on a
 * Sapphire Rapids core, docs/KERNELS.md): the int8 dot products of path A stay ahead of
 * dequantise + f32 GEMM for a long time, the float types (no cheap int8 path) cross early. */
static int64_t gemm_min_tok(mc_dtype t)
{
#ifdef MC_GEMM_MIN_TOK
    (void)t;
    return MC_GEMM_MIN_TOK;
#else
    switch (t) {
    case MC_DT_Q8_0:
    case MC_DT_Q4_0: return 64;
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
            gemm_avx2(m);                                                                          \
        else                                                                                       \
            small;                                                                                 \
    }

MM_ENTRY(mm_f32_avx2, path_a_f32(m))
MM_ENTRY(mm_f16_avx2, path_a_f16(m))
MM_ENTRY(mm_bf16_avx2, path_a_bf16(m))
MM_ENTRY(mm_q8_0_avx2, path_a_q8_0(m))
MM_ENTRY(mm_q4_0_avx2, path_a_q4_0(m))
MM_ENTRY(mm_q4_k_avx2, path_a_q4_k(m))
MM_ENTRY(mm_q6_k_avx2, path_a_q6_k(m))

/* R16 layout: path A at every token count (one core: ~80-130 GFLOP/s from 16 tokens on against
 * ~60-70 for path B, docs/KERNELS.md). */
static void mm_q8_0_r16_avx2(const mc_matmul *m) { mc_avx2_r16_rows(m, 0, tile_r16_256_any); }
static void mm_q4_0_r16_avx2(const mc_matmul *m) { mc_avx2_r16_rows(m, 1, tile_r16_256_any); }

void mc_kernels_fill_avx2_matmul(mc_kernel_table *t)
{
    t->matmul_r16[MC_DT_Q8_0] = mm_q8_0_r16_avx2;
    t->matmul_r16[MC_DT_Q4_0] = mm_q4_0_r16_avx2;
    t->r16_native[MC_DT_Q8_0] = t->r16_native[MC_DT_Q4_0] = 1;
    mc_kernels_fill_r16f_avx2(t); /* F32/F16/BF16 R16: matmul_r16f_avx2.c */
    mc_kernels_fill_r16k_avx2(t); /* Q4_K/Q6_K R16: matmul_r16k_avx2.c */
    t->matmul[MC_DT_F32] = mm_f32_avx2;
    t->matmul[MC_DT_F16] = mm_f16_avx2;
    t->matmul[MC_DT_BF16] = mm_bf16_avx2;
    t->matmul[MC_DT_Q8_0] = mm_q8_0_avx2;
    t->matmul[MC_DT_Q4_0] = mm_q4_0_avx2;
    t->matmul[MC_DT_Q4_K] = mm_q4_k_avx2;
    t->matmul[MC_DT_Q6_K] = mm_q6_k_avx2;
}
// clang-format on
