/* matmul_r16f_avx2.c: AVX2 + FMA + F16C matmul of F32/F16/BF16 weights in MC_WLAYOUT_R16 (r16f.h:
 * per 16-row group, column after column, the 16 rows' elements of a column contiguous).
 *
 * One column of a group is two ymm of 8 rows' weights (F16: vcvtph2ps of 16 bytes each, BF16: a
 * zero-extension and shift, F32: plain loads); each token's x[c] is broadcast from memory and
 * feeds 8 rows in one FMA. With 16 ymm registers a tile is one group (16 rows) x up to FT_TT = 6
 * tokens (12 accumulators, 2 weight vectors, 1 broadcast); at 1 token four groups are walked side
 * by side (four sequential weight streams, which one core reads faster than one), at 2 tokens
 * two. Tokens beyond a tile run in balanced chunks over the same group, whose weights are then
 * still in L2. Each (row, token) is one FMA chain over the columns in order, whatever the tile
 * shape, so a token's result does not depend on the other tokens of the call. Rows after the
 * last full group (GGML layout) go to the GGML path A of matmul_avx2.c.
 *
 * Compiled with -mavx2 -mfma -mf16c; reached only through the dispatch table after the CPU check.
 * Allocates nothing. Must not depend on the ref file or on the AVX-512 files. */
#include "r16f.h"
#include "simd_avx2.h"

/* The register tiles use UNROLL(n) loop prefixes, which clang-format cannot lay out. */
// clang-format off

#define FT_TT 6 /* most tokens per tile */
#define FT_NG 4 /* most groups per tile (at one token) */

enum { ET_F32 = 0, ET_F16 = 1, ET_BF16 = 2 };

/* 8 elements of type et at p, as f32 */
MC_AI __m256 ld8(const char *p, const int et)
{
    if (et == ET_F16)
        return load_f16x8((const uint16_t *)p);
    if (et == ET_BF16)
        return load_bf16x8((const uint16_t *)p);
    return _mm256_loadu_ps((const float *)p);
}

typedef struct ftile {
    const char *g;           /* first group */
    size_t gs;               /* bytes of one group */
    int64_t cols;
    const float *x;          /* token t's row at x + t * xs */
    size_t xs;
    float *y;                /* Y[t][row 0 of the first group] at y[t * ys] */
    int64_t ys;
    unsigned lanes[FT_NG];   /* rows of each group to store (r16_lanes) */
} ftile;

/* One column c of NG groups into the accumulators of NT tokens. */
MC_AI void column(const ftile *j, int64_t c, __m256 acc[FT_NG][2][FT_TT], const int et,
                  const int NG, const int NT)
{
    const size_t cb = et == ET_F32 ? 32 : 16; /* bytes of 8 rows' elements */
    UNROLL(4) for (int i = 0; i < NG; i++) {
        const char *p = j->g + i * j->gs + (size_t)c * 2 * cb;
        __m256 w0 = ld8(p, et), w1 = ld8(p + cb, et);
        UNROLL(6) for (int t = 0; t < NT; t++) {
            __m256 xb = _mm256_broadcast_ss(j->x + t * j->xs + c);
            acc[i][0][t] = _mm256_fmadd_ps(w0, xb, acc[i][0][t]);
            acc[i][1][t] = _mm256_fmadd_ps(w1, xb, acc[i][1][t]);
        }
    }
}

/* NG groups x NT tokens over all columns, stored under each group's lanes. */
MC_AI void tile(const ftile *j, const int et, const int NG, const int NT)
{
    const size_t cb = et == ET_F32 ? 64 : 32; /* bytes of one column of a group */
    __m256 acc[FT_NG][2][FT_TT];
    UNROLL(4) for (int i = 0; i < NG; i++) UNROLL(6) for (int t = 0; t < NT; t++)
        acc[i][0][t] = acc[i][1][t] = _mm256_setzero_ps();
    int64_t c = 0;
    for (; c + 2 <= j->cols; c += 2) {
        UNROLL(4) for (int i = 0; i < NG; i++)
            prefetch_w_span(j->g + i * j->gs + (size_t)c * cb, 2 * cb);
        column(j, c, acc, et, NG, NT);
        column(j, c + 1, acc, et, NG, NT);
    }
    if (c < j->cols) /* odd column count */
        column(j, c, acc, et, NG, NT);
    UNROLL(4) for (int i = 0; i < NG; i++) UNROLL(6) for (int t = 0; t < NT; t++)
        store16_lanes(j->y + t * j->ys + MC_R16 * i, acc[i][0][t], acc[i][1][t], j->lanes[i]);
}

/* The tile shapes: NG groups x NT tokens, NG * NT <= 4 when NG > 1. */
typedef void (*tile_fn)(const ftile *j);
#define TILE_FN(et, ng, nt)                                                                        \
    static void tile_##et##_##ng##_##nt(const ftile *j) { tile(j, et, ng, nt); }
#define TILE_SET(et)                                                                               \
    TILE_FN(et, 1, 1) TILE_FN(et, 1, 2) TILE_FN(et, 1, 3) TILE_FN(et, 1, 4) TILE_FN(et, 1, 5)      \
    TILE_FN(et, 1, 6) TILE_FN(et, 2, 1) TILE_FN(et, 2, 2) TILE_FN(et, 3, 1) TILE_FN(et, 4, 1)
#define TILE_ROW(et)                                                                               \
    {{tile_##et##_1_1, tile_##et##_1_2, tile_##et##_1_3, tile_##et##_1_4, tile_##et##_1_5,        \
      tile_##et##_1_6},                                                                            \
     {tile_##et##_2_1, tile_##et##_2_2}, {tile_##et##_3_1}, {tile_##et##_4_1}}
TILE_SET(ET_F32)
TILE_SET(ET_F16)
TILE_SET(ET_BF16)
static const tile_fn tiles[3][FT_NG][FT_TT] = {TILE_ROW(ET_F32), TILE_ROW(ET_F16),
                                               TILE_ROW(ET_BF16)};
// clang-format on

_Static_assert(FT_TT == 6 && FT_NG == 4, "TILE_ROW lists the shapes of these bounds");

/* Most groups per tile for a token chunk of nt (see tiles). */
static int groups_for(int64_t nt)
{
    return nt == 1 ? FT_NG : nt == 2 ? 2 : 1;
}

/* Rows [r0, r1): tiles of 1..4 groups, each for every token in balanced chunks of at most FT_TT,
 * then the GGML tail rows. */
static void mm_r16f_avx2(const mc_matmul *m)
{
    size_t rb = mc_r16f_es(m->wtype) * (size_t)m->cols;
    int et = m->wtype == MC_DT_F16 ? ET_F16 : m->wtype == MC_DT_BF16 ? ET_BF16 : ET_F32;
    int64_t chunks = (m->n_tok + FT_TT - 1) / FT_TT, per = (m->n_tok + chunks - 1) / chunks;
    ftile j = {.gs = MC_R16 * rb, .cols = m->cols, .ys = m->y_stride};
    j.xs = m->n_tok == 1 ? 0 : m->x_stride / 4; /* x_stride is ignored for one token */
    int64_t g0;
    unsigned lanes;
    mc_matmul tail;
    for (r16_walk it = r16_walk_of(m); r16_next(&it, &g0, &lanes);) {
        int ng = r16_gather(&it, lanes, groups_for(per), j.lanes);
        j.g = (const char *)m->w + (size_t)g0 * rb;
        for (int64_t t0 = 0; t0 < m->n_tok; t0 += per) {
            int64_t nt = min64(per, m->n_tok - t0);
            j.x = (const float *)m->x + (size_t)t0 * j.xs;
            j.y = m->y + t0 * m->y_stride + g0;
            tiles[et][ng - 1][nt - 1](&j);
        }
    }
    if (r16_tail(m, &tail))
        mc_avx2_matmul_small(&tail);
}

void mc_kernels_fill_r16f_avx2(mc_kernel_table *t)
{
    t->matmul_r16[MC_DT_F32] = t->matmul_r16[MC_DT_F16] = t->matmul_r16[MC_DT_BF16] =
        mm_r16f_avx2;
    t->r16_native[MC_DT_F32] = t->r16_native[MC_DT_F16] = t->r16_native[MC_DT_BF16] = 1;
}
