/* matmul_r16k_avx2.c: AVX2 + FMA + F16C matmul of Q6_K and Q4_K weights repacked into
 * MC_WLAYOUT_R16 (layout: r16k.h), at every token count.
 *
 * As in matmul_r16k_avx512.c, a 16-row group is walked one block column (super-block) at a time
 * and the column is decoded once into a stack buffer: the quants as unsigned bytes in two ymm
 * halves of 8 rows per quant vector (one 32-bit lane = 4 consecutive elements of one row), the
 * sub-block scales as f32 vectors (times the rows' d; the Q4_K mins times dmin). Then every token
 * (up to TCH per pass over the weights, KT per sweep of the buffer) runs over it. Without VNNI the
 * int8 dot product is vpmaddubsw (unsigned weights x signed activations into int16 pair sums,
 * which cannot saturate: |pair| <= 2 * 63 * 127) then vpmaddwd by 1 into int32 row sums; the
 * int16 pair sums of several quant vectors are added before the vpmaddwd as long as they cannot
 * overflow (Q4_K: all 8 of a sub-block, <= 8 * 2 * 15 * 127; Q6_K: 2, <= 2 * 2 * 63 * 127).
 * Per sub-block one conversion and one FMA scale the int32 sums into an f32 sum (Q6_K starts from
 * -32 * the activation sum, the quants being stored + 32; Q4_K subtracts min * activation sum with
 * one more FMA); the Q8_K activation scale is applied once per super-block. Rows after the last
 * full group (GGML layout) go to the GGML path A of matmul_avx2.c.
 *
 * Compiled with -mavx2 -mfma -mf16c; reached only through the dispatch table after the CPU check.
 * Allocates nothing (~10 KiB of stack). Must not depend on the ref file or on the AVX-512 files. */
#include "r16k.h"
#include "simd_avx2.h"

/* The sweeps use UNROLL(n) loop prefixes, which clang-format cannot lay out. */
// clang-format off

#define KT 2   /* tokens per sweep of a decoded column (both halves: 4 f32 + 4 int accumulators) */
#define TCH 64 /* tokens per pass over the weights (their f32 accumulators live on the stack) */

/* One block column decoded, [.][h] = rows 8h .. 8h + 7. Quant vector v of sub-block j holds
 * elements 16j + 4v .. (Q6_K, 4 vectors per sub-block of 16) or 32j + 4v .. (Q4_K, 8 per 32). */
typedef struct kcol {
    __m256i w[64][2];
    __m256 sc[16][2]; /* d * sub-block scale, one lane per row */
    __m256 mn[8][2];  /* Q4_K: dmin * sub-block min */
} kcol;

/* 8 bytes at p, zero- or sign-extended to 8 int32 lanes */
MC_AI __m256i u8x8(const uint8_t *p)
{
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p));
}

MC_AI __m256i i8x8(const uint8_t *p)
{
    return _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p));
}

MC_AI __m256i and_srli(__m256i v, int s, __m256i mask)
{
    return _mm256_and_si256(_mm256_srli_epi16(v, s), mask);
}

static void decode_q6(const uint8_t *col, kcol *c)
{
    const __m256i m3f = _mm256_set1_epi8(0x3f), m03 = _mm256_set1_epi8(0x03);
    const __m256i m0c = _mm256_set1_epi8(0x0c), m30 = _mm256_set1_epi8(0x30);
    UNROLL(2) for (int h = 0; h < 2; h++) {
        __m256 d = load_f16x8((const uint16_t *)col + 8 * h);
        UNROLL(4) for (int j = 0; j < 16; j++) {
            __m256i s = i8x8(col + MC_R16K_Q6_SC + 16 * j + 8 * h);
            c->sc[j][h] = _mm256_mul_ps(_mm256_cvtepi32_ps(s), d);
            const uint8_t *q = col + MC_R16K_Q6_Q + MC_R16K_Q6_SB * j + 32 * h;
            __m256i a = ld256(q), b = ld256(q + 64), e = ld256(q + 128);
            c->w[4 * j][h] = _mm256_and_si256(a, m3f);
            c->w[4 * j + 1][h] = _mm256_and_si256(b, m3f);
            c->w[4 * j + 2][h] = _mm256_and_si256(e, m3f);
            /* the fourth word: bits 6..7 of a, b, e are its bits 0..1, 2..3, 4..5 */
            c->w[4 * j + 3][h] = _mm256_or_si256(
                _mm256_or_si256(and_srli(a, 6, m03), and_srli(b, 4, m0c)), and_srli(e, 2, m30));
        }
    }
}

static void decode_q4(const uint8_t *col, kcol *c)
{
    const __m256i m0f = _mm256_set1_epi8(0x0f), m63 = _mm256_set1_epi32(63);
    const __m256i m15 = _mm256_set1_epi32(15);
    UNROLL(2) for (int h = 0; h < 2; h++) {
        __m256 d = load_f16x8((const uint16_t *)col + 8 * h);
        __m256 dm = load_f16x8((const uint16_t *)col + 16 + 8 * h);
        UNROLL(2) for (int j = 0; j < 8; j++) {
            __m256i s = u8x8(col + MC_R16K_Q4_S + 16 * j + 8 * h);
            __m256i m = u8x8(col + MC_R16K_Q4_M + 16 * (j / 2) + 8 * h);
            __m256i mn = _mm256_or_si256(_mm256_slli_epi32(_mm256_srli_epi32(s, 6), 4),
                                         _mm256_and_si256(_mm256_srli_epi32(m, 4 * (j & 1)), m15));
            c->sc[j][h] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_and_si256(s, m63)), d);
            c->mn[j][h] = _mm256_mul_ps(_mm256_cvtepi32_ps(mn), dm);
            const uint8_t *q = col + MC_R16K_Q4_Q + MC_R16K_Q4_SB * j + 32 * h;
            UNROLL(4) for (int k = 0; k < 4; k++) {
                __m256i v = ld256(q + 64 * k);
                c->w[8 * j + k][h] = _mm256_and_si256(v, m0f);
                c->w[8 * j + 4 + k][h] = and_srli(v, 4, m0f);
            }
        }
    }
}

/* The int32 row sums (both halves) of sub-block j for NT tokens, from `is` (the Q6_K bias). */
MC_AI void subblock(const kcol *c, const mc_act_q8k *const *xb, int j, __m256i is[KT][2],
                    const int q4, const int NT)
{
    const int nw = q4 ? 8 : 4, run = q4 ? 8 : 2;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i p[KT][2];
    UNROLL(8) for (int v = 0; v < nw; v++) {
        UNROLL(2) for (int t = 0; t < NT; t++) {
            __m256i xv = _mm256_set1_epi32(ld32(xb[t]->qs + 4 * nw * j + 4 * v));
            UNROLL(2) for (int h = 0; h < 2; h++) {
                __m256i d = _mm256_maddubs_epi16(c->w[nw * j + v][h], xv);
                p[t][h] = v % run ? _mm256_add_epi16(p[t][h], d) : d;
                if (v % run == run - 1)
                    is[t][h] = _mm256_add_epi32(is[t][h], _mm256_madd_epi16(p[t][h], ones));
            }
        }
    }
}

/* NT (<= KT) tokens over a decoded column (super-block sb): acc[16 t + r] += the column's part of
 * Y[t][row r]. */
MC_AI void sweep(const kcol *c, const char *x, size_t xs, int64_t sb, float *acc, const int q4,
                 const int NT)
{
    const int ns = q4 ? 8 : 16;
    const mc_act_q8k *xb[KT];
    __m256 fs[KT][2];
    UNROLL(2) for (int t = 0; t < NT; t++) {
        xb[t] = (const mc_act_q8k *)(x + t * xs) + sb;
        fs[t][0] = fs[t][1] = _mm256_setzero_ps();
    }
    for (int j = 0; j < ns; j++) {
        __m256i is[KT][2];
        UNROLL(2) for (int t = 0; t < NT; t++) /* Q6_K: q is stored + 32 */
            is[t][0] = is[t][1] = _mm256_set1_epi32(q4 ? 0 : -32 * xb[t]->bsums[j]);
        subblock(c, xb, j, is, q4, NT);
        UNROLL(2) for (int t = 0; t < NT; t++) UNROLL(2) for (int h = 0; h < 2; h++) {
            fs[t][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is[t][h]), c->sc[j][h], fs[t][h]);
            if (q4) {
                float bs = (float)(xb[t]->bsums[2 * j] + xb[t]->bsums[2 * j + 1]);
                fs[t][h] = _mm256_fnmadd_ps(c->mn[j][h], _mm256_set1_ps(bs), fs[t][h]);
            }
        }
    }
    UNROLL(2) for (int t = 0; t < NT; t++) UNROLL(2) for (int h = 0; h < 2; h++) {
        float *o = acc + 16 * t + 8 * h;
        _mm256_store_ps(o, _mm256_fmadd_ps(fs[t][h], _mm256_set1_ps(xb[t]->d), _mm256_load_ps(o)));
    }
}
// clang-format on

_Static_assert(KT == 2, "sweep_nt lists the token counts up to KT");

static void sweep_nt(int nt, const kcol *c, const char *x, size_t xs, int64_t sb, float *acc,
                     int q4)
{
    if (q4)
        nt == 2 ? sweep(c, x, xs, sb, acc, 1, 2) : sweep(c, x, xs, sb, acc, 1, 1);
    else
        nt == 2 ? sweep(c, x, xs, sb, acc, 0, 2) : sweep(c, x, xs, sb, acc, 0, 1);
}

/* One group of 16 rows at g x nt (<= TCH) tokens: each block column is read from memory once,
 * decoded once and swept by every token. Lanes outside `lanes` are not stored. */
static void group_k(const char *g, int64_t nsb, const char *x, size_t xs, int nt, float *y,
                    int64_t ys, unsigned lanes, int q4)
{
    const size_t cb = mc_r16k_col_bytes(q4 ? MC_DT_Q4_K : MC_DT_Q6_K);
    float acc[TCH * 16] __attribute__((aligned(32)));
    kcol c;
    memset(acc, 0, (size_t)nt * 16 * sizeof(float));
    for (int64_t sb = 0; sb < nsb; sb++) {
        const char *col = g + (size_t)sb * cb;
        prefetch_w_span(col, cb);
        if (q4)
            decode_q4((const uint8_t *)col, &c);
        else
            decode_q6((const uint8_t *)col, &c);
        for (int t0 = 0; t0 < nt; t0 += KT)
            sweep_nt(nt - t0 < KT ? nt - t0 : KT, &c, x + (size_t)t0 * xs, xs, sb, acc + 16 * t0,
                     q4);
    }
    for (int t = 0; t < nt; t++)
        store16_lanes(y + t * ys, _mm256_load_ps(acc + 16 * t), _mm256_load_ps(acc + 16 * t + 8),
                      lanes);
}

/* Rows [r0, r1) of an R16 matrix: full and partial 16-row groups with group_k (a partial group is
 * computed whole and stored under its lanes), the GGML tail rows with the GGML path A. */
static void path_r16k(const mc_matmul *m, int q4)
{
    size_t rb = mc_type_bytes(m->wtype, m->cols);
    int64_t nsb = m->cols / MC_QK_K, g0;
    const char *w = m->w, *x = m->x;
    unsigned lanes;
    mc_matmul tail;
    for (r16_walk it = r16_walk_of(m); r16_next(&it, &g0, &lanes);)
        for (int64_t t0 = 0; t0 < m->n_tok; t0 += TCH)
            group_k(w + (size_t)g0 * rb, nsb, x + (size_t)t0 * m->x_stride, m->x_stride,
                    (int)min64(TCH, m->n_tok - t0), m->y + t0 * m->y_stride + g0, m->y_stride,
                    lanes, q4);
    if (r16_tail(m, &tail))
        mc_avx2_matmul_small(&tail);
}

static void mm_q6_k_r16_avx2(const mc_matmul *m)
{
    path_r16k(m, 0);
}

static void mm_q4_k_r16_avx2(const mc_matmul *m)
{
    path_r16k(m, 1);
}

void mc_kernels_fill_r16k_avx2(mc_kernel_table *t)
{
    t->matmul_r16[MC_DT_Q6_K] = mm_q6_k_r16_avx2;
    t->matmul_r16[MC_DT_Q4_K] = mm_q4_k_r16_avx2;
    t->r16_native[MC_DT_Q6_K] = t->r16_native[MC_DT_Q4_K] = 1;
}
