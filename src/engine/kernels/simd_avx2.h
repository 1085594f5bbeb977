/* simd_avx2.h: small AVX2/FMA/F16C helpers shared by the *_avx2.c and *_avx512.c files (which are
 * compiled with those flags). Everything is static inline; never include this from a file compiled
 * without -mavx2 -mfma -mf16c. */
#ifndef MC_SIMD_AVX2_H
#define MC_SIMD_AVX2_H

#include "kernels_impl.h"

#include <immintrin.h>

#define MC_AI static inline __attribute__((always_inline))

/* Loop prefixes of the register tiles (UNROLL(n) for ...), which clang-format cannot lay out. */
#define MC_PRAGMA(x) _Pragma(#x)
#define UNROLL(n) MC_PRAGMA(GCC unroll n)

/* Weight streams: two prefetches per weight position, far ahead into L2 (MC_PF_DIST) so enough
 * misses are in flight to reach the memory bandwidth of one core, and shortly ahead into L1
 * (MC_PF_L1) so the loads themselves hit L1 (measured +3-5% on the DRAM-bound quantised
 * matvecs). Overridable at compile time for experiments. */
#ifndef MC_PF_DIST
#define MC_PF_DIST 4096
#endif
#ifndef MC_PF_HINT
#define MC_PF_HINT _MM_HINT_T1
#endif
#ifndef MC_PF_L1
#define MC_PF_L1 512
#endif

MC_AI void prefetch_w(const void *p)
{
    _mm_prefetch((const char *)p + MC_PF_DIST, MC_PF_HINT);
    _mm_prefetch((const char *)p + MC_PF_L1, _MM_HINT_T0);
}

static inline int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* Lanes [lo, hi) of a 16-row group of the R16 layout (kernels.h), bit i for row i of the group: the
 * lanes an R16 kernel stores when a row range starts or ends inside a group. 0 <= lo < hi <= 16. */
static inline unsigned r16_lanes(int64_t lo, int64_t hi)
{
    return (0xffffu >> (16 - hi)) & ~((1u << lo) - 1);
}

/* The 16-row groups an R16-layout matmul of rows [r0, r1) computes, one by one: a partial group
 * is computed whole and stored under the lane mask. The rows after the last full group are in
 * GGML layout: r16_tail gives them as a GGML matmul (0 when there are none). */
typedef struct r16_walk {
    int64_t r, rend;
} r16_walk;

static inline r16_walk r16_walk_of(const mc_matmul *m)
{
    r16_walk w = {m->r0, min64(m->r1, m->rows / MC_R16 * MC_R16)};
    return w;
}

static inline int r16_next(r16_walk *w, int64_t *g0, unsigned *lanes)
{
    if (w->r >= w->rend)
        return 0;
    *g0 = w->r / MC_R16 * MC_R16;
    *lanes = r16_lanes(w->r - *g0, min64(w->rend - *g0, MC_R16));
    w->r = *g0 + MC_R16;
    return 1;
}

/* The groups of one tile walked side by side (several weight streams): the group r16_next just
 * gave (lanes `first`) and up to max - 1 following ones from the walk, their lanes into lanes[].
 * Returns how many (1..max); the groups are consecutive. */
static inline int r16_gather(r16_walk *w, unsigned first, int max, unsigned *lanes)
{
    int64_t g;
    int n = 1;
    lanes[0] = first;
    while (n < max && r16_next(w, &g, &lanes[n]))
        n++;
    return n;
}

static inline int r16_tail(const mc_matmul *m, mc_matmul *tail)
{
    int64_t gend = m->rows / MC_R16 * MC_R16;
    if (m->r1 <= gend)
        return 0;
    *tail = *m;
    tail->r0 = m->r0 > gend ? m->r0 : gend;
    tail->layout = MC_WLAYOUT_GGML;
    return 1;
}

MC_AI __m256i ld256(const void *p)
{
    return _mm256_loadu_si256((const __m256i *)p);
}

/* 4 bytes at p as one int32 (unaligned), e.g. an activation piece to broadcast */
MC_AI int32_t ld32(const void *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Software prefetch (prefetch_w) of every 64-byte line of the n bytes at p. */
MC_AI void prefetch_w_span(const void *p, size_t n)
{
    for (size_t o = 0; o < n; o += 64)
        prefetch_w((const char *)p + o);
}

/* Stores the 16 values lo (rows 0..7), hi (rows 8..15) of an R16 group at y, only the lanes set in
 * `lanes` (r16_lanes): a plain store for a whole group, masked stores for a partial one. */
MC_AI void store16_lanes(float *y, __m256 lo, __m256 hi, unsigned lanes)
{
    if (lanes == 0xffffu) {
        _mm256_storeu_ps(y, lo);
        _mm256_storeu_ps(y + 8, hi);
        return;
    }
    const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    __m256i m0 = _mm256_set1_epi32((int)(lanes & 0xff)), m1 = _mm256_set1_epi32((int)(lanes >> 8));
    _mm256_maskstore_ps(y, _mm256_cmpeq_epi32(_mm256_and_si256(m0, bit), bit), lo);
    _mm256_maskstore_ps(y + 8, _mm256_cmpeq_epi32(_mm256_and_si256(m1, bit), bit), hi);
}

/* every 16-bit lane of both 128-bit halves = 16-bit element j (0..7) of v's halves */
MC_AI __m256i word_bcast(__m256i v, int j)
{
    return _mm256_shuffle_epi8(v, _mm256_set1_epi16((short)(((2 * j + 1) << 8) | (2 * j))));
}

MC_AI float hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

MC_AI int32_t hsum256_epi32(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

MC_AI float hmax256(__m256 v)
{
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* 8 f16 / bf16 values -> f32 */
MC_AI __m256 load_f16x8(const uint16_t *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

MC_AI __m256 load_bf16x8(const uint16_t *p)
{
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

MC_AI float f16s(uint16_t h)
{
    return _cvtsh_ss(h);
}

/* sum of a*b over 32 signed bytes as 8 int32 partial sums (sign trick: maddubs wants unsigned
 * first operand; |a| <= 128 and |b| <= 127 cannot saturate the int16 pair sums). */
MC_AI __m256i dot_i8x32(__m256i a, __m256i b)
{
    __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

/* Q4_0 block nibbles -> 32 signed bytes (q - 8), element order. */
MC_AI __m256i unpack_q4_0(const uint8_t *qs)
{
    __m128i v = _mm_loadu_si128((const __m128i *)qs);
    __m256i q = _mm256_set_m128i(_mm_srli_epi16(v, 4), v);
    q = _mm256_and_si256(q, _mm256_set1_epi8(0x0F));
    return _mm256_sub_epi8(q, _mm256_set1_epi8(8));
}

/* Q6_K: the four groups of 32 six-bit values of chunk n (0/1), minus 32, as signed bytes. */
MC_AI void unpack_q6_k(const mc_blk_q6_k *b, int n, __m256i q[4])
{
    const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
    __m256i l0 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * n));
    __m256i l1 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * n + 32));
    __m256i h = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * n));
    q[0] =
        _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(h, 4), m30));
    q[1] =
        _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(h, 2), m30));
    q[2] =
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(h, m30));
    q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                           _mm256_and_si256(_mm256_srli_epi16(h, 2), m30));
}

/* exp(x) for x in float range: range reduction x = n ln2 + r, |r| <= ln2/2, degree-7 Taylor
 * polynomial (truncation error < 6e-9 relative), 2^n through the exponent field. Inputs are
 * clamped to [-87, 88] so 2^n stays a normal number: results below e^-87 (1.6e-38) come out as
 * about 1.6e-38 instead of denormals/0, far below any tolerance that matters to softmax/SiLU. */
MC_AI __m256 exp256(__m256 x)
{
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i e =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/* Q4_K: 12 scale bytes -> (8 scales, 8 mins) as bytes 0..7 and 8..15 of the result. With
 * u0, u1, u2 the three 32-bit words: scales 0..3 = u0 & 63, mins 0..3 = u1 & 63,
 * scales 4..7 = (u2 & 15) | (u0 >> 6 & 3) << 4, mins 4..7 = (u2 >> 4 & 15) | (u1 >> 6 & 3) << 4
 * (byte-wise; mc_q4k_scales is the scalar form). Reads 16 bytes: the 4 after the scales are the
 * block's first nibbles, always present. */
MC_AI __m128i q4k_scales_vec(const uint8_t *s)
{
    __m128i v = _mm_loadu_si128((const __m128i *)s);
    __m128i lo = _mm_and_si128(v, _mm_set1_epi8(63)); /* [sc 0..3, mn 0..3, ..] */
    __m128i u2 = _mm_shuffle_epi32(v, 0xAA);
    __m128i nib = _mm_and_si128(_mm_srlv_epi32(u2, _mm_setr_epi32(0, 4, 0, 0)), _mm_set1_epi8(15));
    __m128i top = _mm_and_si128(_mm_srli_epi32(v, 6), _mm_set1_epi8(3));
    __m128i hi = _mm_or_si128(nib, _mm_slli_epi32(top, 4)); /* [sc 4..7, mn 4..7, ..] */
    return _mm_unpacklo_epi32(lo, hi); /* [sc 0..3, sc 4..7, mn 0..3, mn 4..7] */
}

#endif
