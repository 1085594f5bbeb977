/* matmul_r16k_avx512.c: AVX-512 (F, BW, VL, DQ, VNNI) matmul of Q6_K and Q4_K weights repacked
 * into MC_WLAYOUT_R16 (layout: r16k.h), at every token count.
 *
 * A 16-row group is walked one block column (super-block) at a time. The column is decoded once
 * into a stack buffer: the quants as unsigned bytes in 16-row vectors (one zmm lane = 4
 * consecutive elements of one row), the sub-block scales as f32 vectors (times the rows' d; the
 * Q4_K mins times dmin). Then every token (up to 64 per pass over the weights, 8 per sweep of the
 * buffer) runs over it: per sub-block one int32 vector per token starts from the activation
 * correction (Q6_K stores q + 32: -32 * the sub-block's activation sum), takes one 512-bit
 * vpdpbusd per quant vector with a broadcast 4-byte activation piece (64 multiply-adds for 16
 * rows), and is scaled into an f32 sum by the sub-block scales with one conversion and one FMA
 * (Q4_K: one more FMA subtracts min * activation sum). The Q8_K activation scale is applied once
 * per super-block. Rows after the last full group (GGML layout) go to the GGML kernels of
 * matmul_avx512.c.
 *
 * Compiled with the AVX-512 flags; reached only through the dispatch table after the CPU check.
 * Allocates nothing (~10 KiB of stack). Must not depend on the ref file. */
#include "r16k.h"
#include "simd_avx2.h"

/* The sweeps use UNROLL(n) loop prefixes, which clang-format cannot lay out. */
// clang-format off

#define KT 8   /* tokens per sweep of a decoded column */
#define TCH 64 /* tokens per pass over the weights (their f32 accumulators live on the stack) */



MC_AI __m512i ld512(const void *p) { return _mm512_loadu_si512(p); }


/* bitwise c ? a : b */
MC_AI __m512i sel(__m512i a, __m512i b, __m512i c)
{
    return _mm512_ternarylogic_epi32(a, b, c, 0xE4);
}

/* One block column decoded: 64 quant vectors (Q6_K: 4 per sub-block of 16 elements, vector v of
 * sub-block j holds elements 16j + 4v ..; Q4_K: 8 per sub-block of 32, elements 32j + 4v ..). */
typedef struct kcol {
    __m512i w[64];
    __m512 sc[16]; /* d * sub-block scale, one lane per row */
    __m512 mn[8];  /* Q4_K: dmin * sub-block min */
} kcol;

static void decode_q6(const uint8_t *col, kcol *c)
{
    const __m512i m3f = _mm512_set1_epi8(0x3f), m03 = _mm512_set1_epi8(3);
    const __m512i m0f = _mm512_set1_epi8(0x0f);
    __m512 d = _mm512_cvtph_ps(ld256(col));
    UNROLL(4) for (int j = 0; j < 16; j++) {
        __m128i s8 = _mm_loadu_si128((const __m128i *)(col + MC_R16K_Q6_SC + 16 * j));
        c->sc[j] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(s8)), d);
        const uint8_t *q = col + MC_R16K_Q6_Q + MC_R16K_Q6_SB * j;
        __m512i a = ld512(q), b = ld512(q + 64), e = ld512(q + 128);
        c->w[4 * j] = _mm512_and_si512(a, m3f);
        c->w[4 * j + 1] = _mm512_and_si512(b, m3f);
        c->w[4 * j + 2] = _mm512_and_si512(e, m3f);
        /* the fourth word: bits 6..7 of a, b, e are its bits 0..1, 2..3, 4..5 */
        __m512i t = sel(_mm512_srli_epi16(a, 6), _mm512_srli_epi16(b, 4), m03);
        t = sel(t, _mm512_srli_epi16(e, 2), m0f);
        c->w[4 * j + 3] = _mm512_and_si512(t, m3f);
    }
}

static void decode_q4(const uint8_t *col, kcol *c)
{
    const __m512i m0f = _mm512_set1_epi8(0x0f), m63 = _mm512_set1_epi32(63);
    const __m512i m15 = _mm512_set1_epi32(15);
    __m512 d = _mm512_cvtph_ps(ld256(col)), dm = _mm512_cvtph_ps(ld256(col + 32));
    UNROLL(2) for (int j = 0; j < 8; j++) {
        __m512i s = _mm512_cvtepu8_epi32(
            _mm_loadu_si128((const __m128i *)(col + MC_R16K_Q4_S + 16 * j)));
        __m512i m = _mm512_cvtepu8_epi32(
            _mm_loadu_si128((const __m128i *)(col + MC_R16K_Q4_M + 16 * (j / 2))));
        __m512i mn = _mm512_or_si512(_mm512_slli_epi32(_mm512_srli_epi32(s, 6), 4),
                                     _mm512_and_si512(_mm512_srli_epi32(m, 4 * (j & 1)), m15));
        c->sc[j] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_and_si512(s, m63)), d);
        c->mn[j] = _mm512_mul_ps(_mm512_cvtepi32_ps(mn), dm);
        const uint8_t *q = col + MC_R16K_Q4_Q + MC_R16K_Q4_SB * j;
        UNROLL(4) for (int k = 0; k < 4; k++) {
            __m512i v = ld512(q + 64 * k);
            c->w[8 * j + k] = _mm512_and_si512(v, m0f);
            c->w[8 * j + 4 + k] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m0f);
        }
    }
}

/* NT (<= KT) tokens over a decoded column (super-block sb): acc[16 t + r] += the column's part of
 * Y[t][row r]. Up to 2 tokens, two int32 chains per token hide vpdpbusd's latency. */
MC_AI void sweep(const kcol *c, const char *x, size_t xs, int64_t sb, float *acc, const int q4,
                 const int NT)
{
    const int ns = q4 ? 8 : 16, nw = q4 ? 8 : 4, two = NT <= 2;
    const mc_act_q8k *xb[KT];
    int32_t bias[KT][16] __attribute__((aligned(64)));
    float bsf[KT][8];
    __m512 fs[KT];
    UNROLL(8) for (int t = 0; t < NT; t++) {
        xb[t] = (const mc_act_q8k *)(x + t * xs) + sb;
        fs[t] = _mm512_setzero_ps();
        __m256i bs = ld256(xb[t]->bsums);
        if (q4) { /* the activation sums of the 32-element sub-blocks */
            __m256i pairs = _mm256_madd_epi16(bs, _mm256_set1_epi16(1));
            _mm256_storeu_ps(bsf[t], _mm256_cvtepi32_ps(pairs));
        } else {  /* q is stored + 32 */
            __m512i b32 = _mm512_slli_epi32(_mm512_cvtepi16_epi32(bs), 5);
            _mm512_store_si512(bias[t], _mm512_sub_epi32(_mm512_setzero_si512(), b32));
        }
    }
    for (int j = 0; j < ns; j++) {
        __m512i a[KT], a2[KT];
        UNROLL(8) for (int t = 0; t < NT; t++) {
            a[t] = q4 ? _mm512_setzero_si512() : _mm512_set1_epi32(bias[t][j]);
            a2[t] = _mm512_setzero_si512();
        }
        UNROLL(8) for (int v = 0; v < nw; v++) {
            __m512i wv = c->w[nw * j + v];
            UNROLL(8) for (int t = 0; t < NT; t++) {
                __m512i xv = _mm512_set1_epi32(ld32(xb[t]->qs + 4 * nw * j + 4 * v));
                if (two && (v & 1))
                    a2[t] = _mm512_dpbusd_epi32(a2[t], wv, xv);
                else
                    a[t] = _mm512_dpbusd_epi32(a[t], wv, xv);
            }
        }
        UNROLL(8) for (int t = 0; t < NT; t++) {
            __m512i is = two ? _mm512_add_epi32(a[t], a2[t]) : a[t];
            fs[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is), c->sc[j], fs[t]);
            if (q4)
                fs[t] = _mm512_fnmadd_ps(c->mn[j], _mm512_set1_ps(bsf[t][j]), fs[t]);
        }
    }
    UNROLL(8) for (int t = 0; t < NT; t++) {
        float *o = acc + 16 * t;
        _mm512_store_ps(o, _mm512_fmadd_ps(fs[t], _mm512_set1_ps(xb[t]->d), _mm512_load_ps(o)));
    }
}

static void sweep_nt(int nt, const kcol *c, const char *x, size_t xs, int64_t sb, float *acc,
                     int q4)
{
#define SW_CASE(n)                                                                                 \
    case n:                                                                                        \
        if (q4)                                                                                    \
            sweep(c, x, xs, sb, acc, 1, n);                                                        \
        else                                                                                       \
            sweep(c, x, xs, sb, acc, 0, n);                                                        \
        break;
    switch (nt) {
    SW_CASE(1) SW_CASE(2) SW_CASE(3) SW_CASE(4) SW_CASE(5) SW_CASE(6) SW_CASE(7)
    default: SW_CASE(8)
    }
#undef SW_CASE
}

/* One group of 16 rows at g x nt (<= TCH) tokens: each block column is read from memory once,
 * decoded once and swept by every token. Lanes outside `keep` are not stored. */
static void group_k(const char *g, int64_t nsb, const char *x, size_t xs, int nt, float *y,
                    int64_t ys, __mmask16 keep, int q4)
{
    const size_t cb = mc_r16k_col_bytes(q4 ? MC_DT_Q4_K : MC_DT_Q6_K);
    float acc[TCH * 16] __attribute__((aligned(64)));
    kcol c;
    memset(acc, 0, (size_t)nt * 16 * sizeof(float));
    for (int64_t sb = 0; sb < nsb; sb++) {
        const char *col = g + (size_t)sb * cb;
        for (size_t o = 0; o < cb; o += 64) {
            _mm_prefetch(col + o + MC_PF_DIST, MC_PF_HINT);
            _mm_prefetch(col + o + MC_PF_L1, _MM_HINT_T0);
        }
        if (q4)
            decode_q4((const uint8_t *)col, &c);
        else
            decode_q6((const uint8_t *)col, &c);
        for (int t0 = 0; t0 < nt; t0 += KT)
            sweep_nt(nt - t0 < KT ? nt - t0 : KT, &c, x + (size_t)t0 * xs, xs, sb, acc + 16 * t0,
                     q4);
    }
    for (int t = 0; t < nt; t++)
        _mm512_mask_storeu_ps(y + t * ys, keep, _mm512_load_ps(acc + 16 * t));
}

/* Rows [r0, r1) of an R16 matrix: full and partial 16-row groups with group_k (a partial group is
 * computed whole and stored under a lane mask), the GGML tail rows with matmul_avx512.c. */
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
                    (__mmask16)lanes, q4);
    if (r16_tail(m, &tail))
        mc_avx512_matmul_kquant(&tail);
}

static void mm_q6_k_r16_avx512(const mc_matmul *m) { path_r16k(m, 0); }
static void mm_q4_k_r16_avx512(const mc_matmul *m) { path_r16k(m, 1); }

void mc_kernels_fill_avx512_r16k(mc_kernel_table *t)
{
    t->matmul_r16[MC_DT_Q6_K] = mm_q6_k_r16_avx512;
    t->matmul_r16[MC_DT_Q4_K] = mm_q4_k_r16_avx512;
    t->r16_native[MC_DT_Q6_K] = t->r16_native[MC_DT_Q4_K] = 1;
}
// clang-format on
