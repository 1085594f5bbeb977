/* matmul_r16f_avx512.c: AVX-512 matmul of F32/F16/BF16 weights in MC_WLAYOUT_R16 (r16f.h: per
 * 16-row group, column after column, the 16 rows' elements of a column contiguous).
 *
 * One column of a group is one zmm of 16 rows' weights (F16: one vcvtph2ps of 32 bytes, BF16: a
 * zero-extension and shift, F32: a plain load); each token's x[c] is broadcast and feeds 16 rows
 * in one FMA. A tile is two groups (32 rows) x up to R16F_TT tokens (2 zmm of weights per column
 * shared by every token, one broadcast per 2 FMAs). Weights stream sequentially per group, with
 * software prefetch far ahead into L2 and shortly ahead into L1 as in matmul_avx512.c. Rows after
 * the last full group (GGML layout) go to the AVX2 path A.
 *
 * Compiled with the AVX-512 flags; reached only through the dispatch table after the CPU check.
 * Allocates nothing. Must not depend on the ref file. */
#include "r16f.h"
#include "simd_avx2.h"

// clang-format off

#define R16F_TT 12 /* most tokens per tile */
#ifndef R16F_PF_DIST
#define R16F_PF_DIST 4096
#endif
#ifndef R16F_PF_L1
#define R16F_PF_L1 1024
#endif

enum { ET_F32 = 0, ET_F16 = 1, ET_BF16 = 2 };


/* 16 elements of type et at p, as f32 */
MC_AI __m512 ld16(const char *p, const int et)
{
    if (et == ET_F16)
        return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
    if (et == ET_BF16)
        return _mm512_castsi512_ps(
            _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16));
    return _mm512_loadu_ps(p);
}

MC_AI void prefetch_span(const char *p, size_t n)
{
    for (size_t o = 0; o < n; o += 64) {
        _mm_prefetch(p + o + R16F_PF_DIST, _MM_HINT_T1);
        _mm_prefetch(p + o + R16F_PF_L1, _MM_HINT_T0);
    }
}

/* NG groups (1 or 2, the second gs bytes after the first) x NT tokens over all cols columns.
 * x: token t's f32 row at x + t * xs; y: Y[t][row] at y[t * ys + row] for the group's 16 rows
 * (the second group's at +16), lanes outside keep0/keep1 not stored. Each (row, token) is one
 * chain of FMAs over the columns in order, whatever NG and NT: a token's results do not depend
 * on the other tokens of the call (two chains per accumulator at 1-2 tokens measured only 1-2%
 * faster on the matvec, which is memory-bound either way). */
MC_AI void tile(const char *g, size_t gs, int64_t cols, const float *x, size_t xs, float *y,
                int64_t ys, __mmask16 keep0, __mmask16 keep1, const int et, const int NG,
                const int NT)
{
    const size_t cb = et == ET_F32 ? 64 : 32; /* bytes of one column of a group */
    __m512 acc[2][R16F_TT];
    UNROLL(2) for (int i = 0; i < NG; i++) UNROLL(16) for (int t = 0; t < NT; t++)
        acc[i][t] = _mm512_setzero_ps();
    int64_t c = 0;
    for (; c + 2 <= cols; c += 2) {
        const char *p = g + (size_t)c * cb;
        UNROLL(2) for (int i = 0; i < NG; i++) prefetch_span(p + i * gs, 2 * cb);
        UNROLL(2) for (int k = 0; k < 2; k++) {
            __m512 w[2];
            UNROLL(2) for (int i = 0; i < NG; i++) w[i] = ld16(p + i * gs + k * cb, et);
            UNROLL(16) for (int t = 0; t < NT; t++) {
                __m512 xb = _mm512_set1_ps(x[t * xs + c + k]);
                UNROLL(2) for (int i = 0; i < NG; i++)
                    acc[i][t] = _mm512_fmadd_ps(w[i], xb, acc[i][t]);
            }
        }
    }
    if (c < cols) { /* odd column count */
        const char *p = g + (size_t)c * cb;
        UNROLL(2) for (int i = 0; i < NG; i++) {
            __m512 w = ld16(p + i * gs, et);
            UNROLL(16) for (int t = 0; t < NT; t++)
                acc[i][t] = _mm512_fmadd_ps(w, _mm512_set1_ps(x[t * xs + c]), acc[i][t]);
        }
    }
    UNROLL(16) for (int t = 0; t < NT; t++) {
        _mm512_mask_storeu_ps(y + t * ys, keep0, acc[0][t]);
        if (NG == 2)
            _mm512_mask_storeu_ps(y + t * ys + 16, keep1, acc[1][t]);
    }
}

typedef struct r16f_job {
    const char *g; /* first group */
    size_t gs;     /* bytes of one group */
    int64_t cols;
    const float *x;
    size_t xs; /* floats between tokens */
    float *y;
    int64_t ys;
    __mmask16 keep0, keep1;
} r16f_job;

#define TILE_ARGS j->g, j->gs, j->cols, j->x, j->xs, j->y, j->ys, j->keep0, j->keep1
#define NT_CASE(et, ng, n)                                                                         \
    case n: tile(TILE_ARGS, et, ng, n); break;
#define NT_SWITCH(et, ng)                                                                          \
    switch (nt) {                                                                                  \
    NT_CASE(et, ng, 1) NT_CASE(et, ng, 2) NT_CASE(et, ng, 3) NT_CASE(et, ng, 4)                    \
    NT_CASE(et, ng, 5) NT_CASE(et, ng, 6) NT_CASE(et, ng, 7) NT_CASE(et, ng, 8)                    \
    NT_CASE(et, ng, 9) NT_CASE(et, ng, 10) NT_CASE(et, ng, 11)                                     \
    default: tile(TILE_ARGS, et, ng, R16F_TT); break;                                              \
    }

static void tile_f32(const r16f_job *j, int ng, int nt)
{
    if (ng == 2) { NT_SWITCH(ET_F32, 2) } else { NT_SWITCH(ET_F32, 1) }
}
static void tile_f16(const r16f_job *j, int ng, int nt)
{
    if (ng == 2) { NT_SWITCH(ET_F16, 2) } else { NT_SWITCH(ET_F16, 1) }
}
static void tile_bf16(const r16f_job *j, int ng, int nt)
{
    if (ng == 2) { NT_SWITCH(ET_BF16, 2) } else { NT_SWITCH(ET_BF16, 1) }
}
// clang-format on

_Static_assert(R16F_TT == 12, "NT_SWITCH lists the token counts below 12");

/* Lanes [lo, hi) of a group. */
static __mmask16 lane_mask(int64_t lo, int64_t hi)
{
    return (__mmask16)r16_lanes(lo, hi);
}

/* One tile (ng groups from row g0) for all tokens, in balanced chunks of at most R16F_TT tokens.
 * (Measured: one group x 16 tokens per pass is slower than two groups x 8 + 8, 90 against 112
 * GFLOP/s on one core at 16 tokens.) */
static void tile_tokens(const mc_matmul *m, r16f_job *j, int ng, int64_t g0)
{
    void (*fn)(const r16f_job *, int, int) = m->wtype == MC_DT_F16    ? tile_f16
                                             : m->wtype == MC_DT_BF16 ? tile_bf16
                                                                      : tile_f32;
    int64_t chunks = (m->n_tok + R16F_TT - 1) / R16F_TT;
    int64_t per = (m->n_tok + chunks - 1) / chunks;
    for (int64_t t0 = 0; t0 < m->n_tok; t0 += per) {
        j->x = (const float *)m->x + (size_t)t0 * j->xs;
        j->y = m->y + t0 * m->y_stride + g0;
        fn(j, ng, (int)min64(per, m->n_tok - t0));
    }
}

/* Rows [r0, r1): pairs of groups (a partial group computed whole and stored under a lane mask),
 * then the GGML tail rows. */
static void mm_r16f_avx512(const mc_matmul *m)
{
    size_t rb = mc_r16f_es(m->wtype) * (size_t)m->cols;
    int64_t gend = m->rows / MC_R16 * MC_R16, rend = min64(m->r1, gend);
    r16f_job j = {.gs = MC_R16 * rb, .cols = m->cols, .xs = m->x_stride / 4, .ys = m->y_stride};
    if (m->n_tok == 1)
        j.xs = 0; /* x_stride is ignored for one token */
    for (int64_t r = m->r0; r < rend;) {
        int64_t g0 = r / MC_R16 * MC_R16;
        int ng = g0 + MC_R16 < rend ? 2 : 1;
        j.g = (const char *)m->w + (size_t)g0 * rb;
        j.keep0 = lane_mask(r - g0, min64(rend - g0, MC_R16));
        j.keep1 = ng == 2 ? lane_mask(0, min64(rend - g0 - MC_R16, MC_R16)) : 0;
        tile_tokens(m, &j, ng, g0);
        r = g0 + ng * MC_R16;
    }
    if (m->r1 > gend) {
        mc_matmul tail = *m;
        tail.r0 = m->r0 > gend ? m->r0 : gend;
        tail.layout = MC_WLAYOUT_GGML;
        mc_avx2_matmul_small(&tail);
    }
}

void mc_kernels_fill_r16f_avx512(mc_kernel_table *t)
{
    t->matmul_r16[MC_DT_F32] = t->matmul_r16[MC_DT_F16] = t->matmul_r16[MC_DT_BF16] =
        mm_r16f_avx512;
    t->r16_native[MC_DT_F32] = t->r16_native[MC_DT_F16] = t->r16_native[MC_DT_BF16] = 1;
}
