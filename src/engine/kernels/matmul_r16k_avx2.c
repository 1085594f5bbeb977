/* matmul_r16k_avx2.c: AVX2 + FMA + F16C matmul of Q6_K and Q4_K weights repacked into
 * MC_WLAYOUT_R16 (layout: r16k.h), at every token count.
 *
 * As in matmul_r16k_avx512.c, a 16-row group is walked one block column (super-block) at a time
 * and the column is decoded once into a stack buffer: the quants as unsigned bytes in two ymm
 * halves of 8 rows per quant vector (one 32-bit lane = 4 consecutive elements of one row), the
 * sub-block scales as int16 pairs (scale16, pair16). Then every token (up to TCH per pass over the
 * weights, KT per sweep of the buffer) runs over it; up to KT_RAW tokens the sweep decodes the
 * quants in registers instead and up to KG groups are walked side by side. Without VNNI the int8
 * dot product is vpmaddubsw (the unsigned stored quants x the signed activations into int16 pair
 * sums, which cannot saturate: |pair| <= 2 * 63 * 127, so no sign trick is needed); the int16
 * pair sums of several quant vectors are added while they cannot overflow (Q4_K: all 8 of a
 * sub-block, <= 8 * 2 * 15 * 127; Q6_K: 2, <= 2 * 2 * 63 * 127), then one vpmaddwd by the
 * sub-block scale (in both int16 halves of each row's lane) gives scale * dot in int32. The sums
 * stay integer over the super-block and are converted once: Q6_K minus 32 * sum_j scale_j *
 * bsum_j (its quants are stored + 32), Q4_K with the mins' sum_j m_j * (sub-block activation
 * sum) apart, each from one vpmaddwd per pair of sub-blocks; then d (dmin), and the Q8_K
 * activation scale. Rows after the last full group (GGML layout) go to the GGML path A of
 * matmul_avx2.c.
 *
 * Compiled with -mavx2 -mfma -mf16c; reached only through the dispatch table after the CPU check.
 * Allocates nothing (~10 KiB of stack). Must not depend on the ref file or on the AVX-512 files. */
#include "r16k.h"
#include "simd_avx2.h"

/* The sweeps use UNROLL(n) loop prefixes, which clang-format cannot lay out. */
// clang-format off

#define KT 2   /* tokens per sweep of a decoded column (both halves: 4 int32 + 4 int16 sums) */
#define TCH 64 /* tokens per pass over the weights (their f32 accumulators live on the stack) */
#ifndef KG
#define KG 4 /* most groups side by side (at up to KT_RAW tokens) */
#endif
#ifndef KT_RAW
#define KT_RAW 2 /* up to this many tokens the sweeps read the column's bytes, no decoded copy */
#endif

/* One block column decoded, [.][h] = rows 8h .. 8h + 7. Quant vector v of sub-block j holds
 * elements 16j + 4v .. (Q6_K, 4 vectors per sub-block of 16) or 32j + 4v .. (Q4_K, 8 per 32). */
typedef struct kcol {
    __m256i w[64][2];
    __m256i sc[16][2]; /* sub-block scales (scale16) */
    __m256i pr[8][2];  /* pairs of sub-blocks' Q6_K scales or Q4_K mins (pair16) */
    __m256 d[2], dm[2];
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

/* Quant vector v of sub-block j, half h, as unsigned bytes, from the column's bytes. */
MC_AI __m256i wraw(const uint8_t *col, int j, int v, int h, const int q4)
{
    if (q4) { /* vectors 0..3 the low nibbles of the stored words, 4..7 the high ones */
        __m256i b = ld256(col + MC_R16K_Q4_Q + MC_R16K_Q4_SB * j + 32 * h + 64 * (v & 3));
        return and_srli(b, v < 4 ? 0 : 4, _mm256_set1_epi8(0x0f));
    }
    const uint8_t *q = col + MC_R16K_Q6_Q + MC_R16K_Q6_SB * j + 32 * h;
    if (v < 3)
        return _mm256_and_si256(ld256(q + 64 * v), _mm256_set1_epi8(0x3f));
    /* the fourth word: bits 6..7 of the three stored ones are its bits 0..1, 2..3, 4..5 */
    __m256i lo = and_srli(ld256(q), 6, _mm256_set1_epi8(0x03));
    __m256i mid = and_srli(ld256(q + 64), 4, _mm256_set1_epi8(0x0c));
    return _mm256_or_si256(_mm256_or_si256(lo, mid),
                           and_srli(ld256(q + 128), 2, _mm256_set1_epi8(0x30)));
}

/* d (Q4_K: dmin with dm = 1) of the half's 8 rows */
MC_AI __m256 dvec(const uint8_t *col, int h, const int dm)
{
    return load_f16x8((const uint16_t *)col + 16 * dm + 8 * h);
}

/* Two int32 vectors as the low and high int16 halves of each lane (both fit in int16). */
MC_AI __m256i pack16(__m256i lo, __m256i hi)
{
    return _mm256_or_si256(_mm256_and_si256(lo, _mm256_set1_epi32(0xffff)),
                           _mm256_slli_epi32(hi, 16));
}

/* The scale of sub-block j (Q4_K 0..63, Q6_K -128..127) of the half's rows, as int32 */
MC_AI __m256i scale_raw(const uint8_t *col, int j, int h, const int q4)
{
    if (q4)
        return _mm256_and_si256(u8x8(col + MC_R16K_Q4_S + 16 * j + 8 * h), _mm256_set1_epi32(63));
    return i8x8(col + MC_R16K_Q6_SC + 16 * j + 8 * h);
}

/* Q4_K: the min (0..63) of sub-block j of the half's rows, as int32 */
MC_AI __m256i min_raw(const uint8_t *col, int j, int h)
{
    __m256i s = u8x8(col + MC_R16K_Q4_S + 16 * j + 8 * h);
    __m256i m = u8x8(col + MC_R16K_Q4_M + 16 * (j / 2) + 8 * h);
    return _mm256_or_si256(_mm256_slli_epi32(_mm256_srli_epi32(s, 6), 4),
                           _mm256_and_si256(_mm256_srli_epi32(m, 4 * (j & 1)),
                                            _mm256_set1_epi32(15)));
}

/* Sub-block j's scale in both int16 halves of each row's lane: vpmaddwd of a row's two int16
 * pair sums with it gives scale * (the row's 4-element dot product). */
MC_AI __m256i scale16(const uint8_t *col, int j, int h, const int q4)
{
    __m256i s = scale_raw(col, j, h, q4);
    return pack16(s, s);
}

/* Sub-blocks 2p and 2p + 1 as the int16 halves of each row's lane: their mins (Q4_K) or scales
 * (Q6_K), for one vpmaddwd with a pair of activation sums. */
MC_AI __m256i pair16(const uint8_t *col, int p, int h, const int q4)
{
    if (q4)
        return pack16(min_raw(col, 2 * p, h), min_raw(col, 2 * p + 1, h));
    return pack16(scale_raw(col, 2 * p, h, 0), scale_raw(col, 2 * p + 1, h, 0));
}

/* Software prefetch of the lines of block column col that sub-block j reads (j = 0: also the d,
 * scale and min header), spread over the column's work: prefetching a whole column at once
 * measured slower (the prefetches of 36-53 lines queue up behind the line fill buffers). */
MC_AI void prefetch_sub(const uint8_t *col, int j, const int q4)
{
    if (j == 0)
        prefetch_w_span(col, q4 ? MC_R16K_Q4_Q : MC_R16K_Q6_Q);
    if (q4)
        prefetch_w_span(col + MC_R16K_Q4_Q + MC_R16K_Q4_SB * j, MC_R16K_Q4_SB);
    else
        prefetch_w_span(col + MC_R16K_Q6_Q + MC_R16K_Q6_SB * j, MC_R16K_Q6_SB);
}

MC_AI void decode(const uint8_t *col, kcol *c, const int q4)
{
    const int ns = q4 ? 8 : 16, nw = q4 ? 8 : 4;
    UNROLL(2) for (int h = 0; h < 2; h++) {
        c->d[h] = dvec(col, h, 0);
        c->dm[h] = dvec(col, h, 1);
        UNROLL(2) for (int j = 0; j < ns; j++) {
            if (h == 0)
                prefetch_sub(col, j, q4);
            c->sc[j][h] = scale16(col, j, h, q4);
            if (j % 2)
                c->pr[j / 2][h] = pair16(col, j / 2, h, q4);
            UNROLL(8) for (int v = 0; v < nw; v++) c->w[nw * j + v][h] = wraw(col, j, v, h, q4);
        }
    }
}

/* Adds to `is` the int32 row sums (both halves) of sub-block j for NT tokens, each times the
 * row's sub-block scale; the quants from the decoded column c or (RAW) straight from col. */
MC_AI void subblock(const kcol *c, const uint8_t *col, const mc_act_q8k *const *xb, int j,
                    __m256i is[KT][2], const int q4, const int RAW, const int NT)
{
    const int nw = q4 ? 8 : 4, run = q4 ? 8 : 2;
    __m256i p[KT][2], sc[2];
    UNROLL(2) for (int h = 0; h < 2; h++) sc[h] = RAW ? scale16(col, j, h, q4) : c->sc[j][h];
    UNROLL(8) for (int v = 0; v < nw; v++) {
        __m256i w[2];
        UNROLL(2) for (int h = 0; h < 2; h++)
            w[h] = RAW ? wraw(col, j, v, h, q4) : c->w[nw * j + v][h];
        UNROLL(2) for (int t = 0; t < NT; t++) {
            __m256i xv = _mm256_set1_epi32(ld32(xb[t]->qs + 4 * nw * j + 4 * v));
            UNROLL(2) for (int h = 0; h < 2; h++) {
                __m256i d = _mm256_maddubs_epi16(w[h], xv);
                p[t][h] = v % run ? _mm256_add_epi16(p[t][h], d) : d;
                if (v % run == run - 1)
                    is[t][h] = _mm256_add_epi32(is[t][h], _mm256_madd_epi16(p[t][h], sc[h]));
            }
        }
    }
}

/* Per row: the sum over sub-blocks of pair16 (Q4_K mins, Q6_K scales) times the sub-blocks'
 * activation sums (Q4_K: of 32 elements, Q6_K: bsums), for NT tokens, into ip. */
MC_AI void pair_sums(const kcol *c, const uint8_t *col, const mc_act_q8k *const *xb,
                     __m256i ip[KT][2], const int q4, const int RAW, const int NT)
{
    const int np = q4 ? 4 : 8;
    int16_t b32[KT][8];
    UNROLL(2) for (int t = 0; t < NT; t++) {
        ip[t][0] = ip[t][1] = _mm256_setzero_si256();
        if (q4) /* sums of the 32-element sub-blocks: adjacent bsums added */
            _mm_storeu_si128((__m128i *)b32[t],
                             _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)xb[t]->bsums),
                                            _mm_loadu_si128((const __m128i *)xb[t]->bsums + 1)));
    }
    UNROLL(8) for (int p = 0; p < np; p++) {
        UNROLL(2) for (int h = 0; h < 2; h++) {
            __m256i pr = RAW ? pair16(col, p, h, q4) : c->pr[p][h];
            UNROLL(2) for (int t = 0; t < NT; t++) {
                __m256i b = _mm256_set1_epi32(ld32(q4 ? b32[t] + 2 * p : xb[t]->bsums + 2 * p));
                ip[t][h] = _mm256_add_epi32(ip[t][h], _mm256_madd_epi16(pr, b));
            }
        }
    }
}

/* NT (<= KT) tokens over block column sb (decoded in c, or RAW: the bytes at col): acc[16 t + r]
 * += the column's part of Y[t][row r]. The sums stay integer over the whole super-block (no
 * overflow: |Q6_K| <= 16 * 2 * 2 * 2 * 63 * 127 * 128 + 32 * 8 * 2 * 128 * 2032, Q4_K below
 * 8 * 2 * 30480 * 63) and are converted once. */
MC_AI void sweep(const kcol *c, const uint8_t *col, const char *x, size_t xs, int64_t sb,
                 float *acc, const int q4, const int RAW, const int NT)
{
    const mc_act_q8k *xb[KT];
    __m256i is[KT][2], ip[KT][2];
    UNROLL(2) for (int t = 0; t < NT; t++) {
        xb[t] = (const mc_act_q8k *)(x + t * xs) + sb;
        is[t][0] = is[t][1] = _mm256_setzero_si256();
    }
    for (int j = 0; j < (q4 ? 8 : 16); j++) {
        if (RAW)
            prefetch_sub(col, j, q4);
        subblock(c, col, xb, j, is, q4, RAW, NT);
    }
    pair_sums(c, col, xb, ip, q4, RAW, NT);
    UNROLL(2) for (int h = 0; h < 2; h++) {
        __m256 d = RAW ? dvec(col, h, 0) : c->d[h], dm = RAW ? dvec(col, h, 1) : c->dm[h];
        UNROLL(2) for (int t = 0; t < NT; t++) {
            __m256 f; /* Q6_K: q is stored + 32; Q4_K: value d sc q - dmin m */
            if (q4)
                f = _mm256_fmsub_ps(_mm256_cvtepi32_ps(is[t][h]), d,
                                    _mm256_mul_ps(_mm256_cvtepi32_ps(ip[t][h]), dm));
            else
                f = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(
                                      is[t][h], _mm256_slli_epi32(ip[t][h], 5))), d);
            float *o = acc + 16 * t + 8 * h;
            _mm256_store_ps(o, _mm256_fmadd_ps(f, _mm256_set1_ps(xb[t]->d), _mm256_load_ps(o)));
        }
    }
}
// clang-format on

_Static_assert(KT == 2, "sweep_nt lists the token counts up to KT");
_Static_assert(KG * KT_RAW <= TCH, "group_k's accumulators hold KG groups x KT_RAW tokens");

/* The sweep of nt (1..KT) tokens; raw: over the column's bytes (no decoded copy). */
static void sweep_nt(int nt, const kcol *c, const uint8_t *col, const char *x, size_t xs,
                     int64_t sb, float *acc, int q4, int raw)
{
    switch (q4 * 4 + raw * 2 + (nt - 1)) {
    case 0: sweep(c, col, x, xs, sb, acc, 0, 0, 1); break;
    case 1: sweep(c, col, x, xs, sb, acc, 0, 0, 2); break;
    case 2: sweep(c, col, x, xs, sb, acc, 0, 1, 1); break;
    case 3: sweep(c, col, x, xs, sb, acc, 0, 1, 2); break;
    case 4: sweep(c, col, x, xs, sb, acc, 1, 0, 1); break;
    case 5: sweep(c, col, x, xs, sb, acc, 1, 0, 2); break;
    case 6: sweep(c, col, x, xs, sb, acc, 1, 1, 1); break;
    default: sweep(c, col, x, xs, sb, acc, 1, 1, 2); break;
    }
}

/* The groups of one group_k call: ng consecutive groups from g, gs bytes apart, and the lanes of
 * each to store (r16_lanes). */
typedef struct kgroups {
    const char *g;
    size_t gs;
    int ng;
    unsigned lanes[KG];
} kgroups;

/* ng groups of 16 rows x nt (<= TCH) tokens: each block column is read from memory once, decoded
 * once and swept by every token (up to KT_RAW tokens the sweeps decode the quants in registers
 * instead: storing and reloading the copy cost more than it saves). Several groups (only then)
 * are walked side by side, column by column: several weight streams, which one core reads faster
 * than one. Lanes outside each group's lanes are not stored. */
static void group_k(const kgroups *gr, int64_t nsb, const char *x, size_t xs, int nt, float *y,
                    int64_t ys, int q4)
{
    const size_t cb = mc_r16k_col_bytes(q4 ? MC_DT_Q4_K : MC_DT_Q6_K);
    float acc[TCH * 16] __attribute__((aligned(32)));
    kcol c;
    int raw = nt <= KT_RAW;
    memset(acc, 0, (size_t)(gr->ng * nt) * 16 * sizeof(float));
    for (int64_t sb = 0; sb < nsb; sb++)
        for (int i = 0; i < gr->ng; i++) {
            const uint8_t *col = (const uint8_t *)gr->g + i * gr->gs + (size_t)sb * cb;
            if (!raw && q4)
                decode(col, &c, 1);
            else if (!raw)
                decode(col, &c, 0);
            for (int t0 = 0; t0 < nt; t0 += KT)
                sweep_nt(nt - t0 < KT ? nt - t0 : KT, &c, col, x + (size_t)t0 * xs, xs, sb,
                         acc + 16 * (i * nt + t0), q4, raw);
        }
    for (int i = 0; i < gr->ng; i++)
        for (int t = 0; t < nt; t++) {
            const float *a = acc + 16 * (i * nt + t);
            store16_lanes(y + t * ys + MC_R16 * i, _mm256_load_ps(a), _mm256_load_ps(a + 8),
                          gr->lanes[i]);
        }
}

/* Rows [r0, r1) of an R16 matrix: full and partial 16-row groups with group_k (a partial group is
 * computed whole and stored under its lanes; up to KG side by side at up to KT_RAW tokens), the
 * GGML tail rows with the GGML path A. */
static void path_r16k(const mc_matmul *m, int q4)
{
    size_t rb = mc_type_bytes(m->wtype, m->cols);
    int64_t nsb = m->cols / MC_QK_K, g0;
    const char *w = m->w, *x = m->x;
    unsigned lanes;
    mc_matmul tail;
    for (r16_walk it = r16_walk_of(m); r16_next(&it, &g0, &lanes);) {
        kgroups gr = {.g = w + (size_t)g0 * rb, .gs = MC_R16 * rb};
        gr.ng = r16_gather(&it, lanes, m->n_tok <= KT_RAW ? KG : 1, gr.lanes);
        for (int64_t t0 = 0; t0 < m->n_tok; t0 += TCH)
            group_k(&gr, nsb, x + (size_t)t0 * m->x_stride, m->x_stride,
                    (int)min64(TCH, m->n_tok - t0), m->y + t0 * m->y_stride + g0, m->y_stride, q4);
    }
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
