/* test_kernels_r16f.c: the float weight types (F32, F16, BF16) in MC_WLAYOUT_R16 (r16f.h): byte
 * positions and round trip of the repack, hand-computed matmul results, the ref kernel on the
 * layout bit-identical to the GGML ref kernel, and every SIMD kernel set on the layout against the
 * ref at many shapes, token counts (1..20 and beyond a tile), row ranges that do not start at 0 or
 * a group boundary, and tail rows (rows % 16) that stay in GGML layout. */
#include "harness.h"
#include "kernel_check.h"
#include "kernels.h"
#include "kernels_impl.h"
#include "r16f.h"

static const mc_dtype ftypes[] = {MC_DT_F16, MC_DT_BF16, MC_DT_F32};
#define N_FTYPES 3

/* Writes v as element i of a float row of type t. */
static void put_elem(mc_dtype t, void *row, int64_t i, float v)
{
    if (t == MC_DT_F32)
        memcpy((char *)row + 4 * i, &v, 4);
    else if (t == MC_DT_F16)
        memcpy((char *)row + 2 * i, &(uint16_t){mc_kernels_f32_to_f16(v)}, 2);
    else
        memcpy((char *)row + 2 * i, &(uint16_t){mc_kernels_f32_to_bf16(v)}, 2);
}

/* Element (r, c) = 100 r + c (all distinct after rounding): 37 rows, 5 columns, so two groups of
 * 16 and a 5-row tail. Checks R16 byte positions of the groups, the unchanged
 * tail, mc_r16f_get, and the in-place round trip. */
TEST(repack_positions)
{
    enum { ROWS = 37, COLS = 5 };
    for (int k = 0; k < N_FTYPES; k++) {
        mc_dtype t = ftypes[k];
        size_t es = mc_r16f_es(t), rb = es * COLS;
        uint8_t orig[ROWS * COLS * 4], w[ROWS * COLS * 4];
        for (int r = 0; r < ROWS; r++)
            for (int c = 0; c < COLS; c++)
                put_elem(t, orig + r * rb, c, (float)(100 * r + c));
        memcpy(w, orig, sizeof w);
        mc_diag d = {0};
        CHECK_EQ_INT(mc_kernels_repack(t, MC_WLAYOUT_R16, ROWS, COLS, w, NULL, &d), MC_OK);
        /* group 1 (rows 16..31), row i = 3 (row 19), column c = 4: byte (16 * 4 + 3) * es */
        CHECK(!memcmp(w + 16 * rb + (16 * 4 + 3) * es, orig + 19 * rb + 4 * es, es));
        /* group 0, row 0, column 1 right after row 15 of column 0 */
        CHECK(!memcmp(w + 16 * es, orig + 1 * es, es));
        CHECK(!memcmp(w + 15 * es, orig + 15 * rb, es));
        CHECK(!memcmp(w + 32 * rb, orig + 32 * rb, 5 * rb)); /* tail rows untouched */
        CHECK(memcmp(w, orig, 32 * rb) != 0);
        int wrong = 0;
        for (int r = 0; r < ROWS; r++) {
            float want[COLS];
            mc_kernels_dequant_row(t, orig + r * rb, want, COLS);
            for (int c = 0; c < COLS; c++)
                wrong += mc_r16f_get(t, w, ROWS, COLS, r, c) != want[c];
        }
        CHECK_EQ_INT(wrong, 0);
        CHECK_EQ_INT(mc_kernels_unpack(t, MC_WLAYOUT_R16, ROWS, COLS, w, NULL, &d), MC_OK);
        CHECK(!memcmp(w, orig, sizeof w));
        /* fewer than 16 rows: nothing to rewrite */
        CHECK_EQ_INT(mc_kernels_repack(t, MC_WLAYOUT_R16, 15, COLS, w, NULL, &d), MC_OK);
        CHECK(!memcmp(w, orig, 15 * rb));
    }
}

/* Hand-computed: W[r][c] = r - c (r < 37, c < 5), x[t][c] = (c + 1) * (t + 1): Y[t][r] =
 * (t + 1) * sum_c (r - c)(c + 1) = (t + 1) * (15 r - 40); every term and partial sum is a small
 * integer, so every kernel set must give it exactly, on rows [3, 36) and 1..14 tokens. */
TEST(matmul_known)
{
    enum { ROWS = 37, COLS = 5, NT = 14, YS = ROWS + 2 };
    const char *sets[] = {"ref", "avx2", "avx512"};
    for (int k = 0; k < N_FTYPES; k++) {
        mc_dtype t = ftypes[k];
        size_t rb = mc_r16f_es(t) * COLS;
        uint8_t w[ROWS * COLS * 4];
        float x[NT][COLS], y[NT * YS];
        for (int r = 0; r < ROWS; r++)
            for (int c = 0; c < COLS; c++)
                put_elem(t, w + r * rb, c, (float)(r - c));
        for (int i = 0; i < NT; i++)
            for (int c = 0; c < COLS; c++)
                x[i][c] = (float)((c + 1) * (i + 1));
        CHECK_EQ_INT(mc_kernels_repack(t, MC_WLAYOUT_R16, ROWS, COLS, w, NULL, NULL), MC_OK);
        for (int s = 0; s < 3; s++) {
            mc_kernel_table tab;
            if (mc_kernels_table_for(sets[s], &tab, NULL) != MC_OK)
                continue;
            for (int n = 1; n <= NT; n++) {
                for (int i = 0; i < NT * YS; i++)
                    y[i] = -7.0f;
                mc_matmul mm = {.wtype = t,
                                .w = w,
                                .cols = COLS,
                                .r0 = 3,
                                .r1 = 36,
                                .x = x,
                                .x_stride = sizeof x[0],
                                .n_tok = n,
                                .y = y,
                                .y_stride = YS,
                                .layout = MC_WLAYOUT_R16,
                                .rows = ROWS};
                tab.matmul_r16[t](&mm);
                int bad = 0;
                for (int i = 0; i < n; i++)
                    for (int r = 0; r < YS; r++) {
                        float want = r >= 3 && r < 36 ? (float)((i + 1) * (15 * r - 40)) : -7.0f;
                        bad += y[i * YS + r] != want;
                    }
                if (bad)
                    fprintf(stderr, "     %s %s n_tok %d: %d wrong\n", sets[s], mc_dtype_name(t), n,
                            bad);
                CHECK_EQ_INT(bad, 0);
            }
        }
    }
}

/* ---- random cases against the ref ---- */

typedef kc_case fcase; /* kernel_check.h */

typedef kc_data fdata; /* kernel_check.h (xf NULL: x holds the f32 activations) */

static void fprepare(const fcase *c, fdata *d, mc_rng *g)
{
    size_t rb = mc_r16f_es(c->t) * (size_t)c->cols;
    float *row = mc_malloc((size_t)c->cols * 4);
    d->xf = NULL; /* x holds the f32 activations */
    d->w = mc_malloc(rb * (size_t)c->rows);
    d->wr = mc_malloc(rb * (size_t)c->rows);
    d->wf = mc_malloc((size_t)(c->rows * c->cols) * 4);
    for (int64_t r = 0; r < c->rows; r++) {
        for (int64_t k = 0; k < c->cols; k++)
            row[k] = (float)(mc_rng_normal(g) * 0.05);
        mc_kernels_quant_row(c->t, row, (char *)d->w + r * rb, c->cols);
        mc_kernels_dequant_row(c->t, (char *)d->w + r * rb, d->wf + r * c->cols, c->cols);
    }
    memcpy(d->wr, d->w, rb * (size_t)c->rows);
    if (mc_kernels_repack(c->t, MC_WLAYOUT_R16, c->rows, c->cols, d->wr, NULL, NULL) != MC_OK)
        abort();
    d->xs = (size_t)c->cols * 4 + 20;
    d->x = mc_malloc(d->xs * (size_t)c->n_tok);
    for (int64_t i = 0; i < c->n_tok; i++)
        for (int64_t k = 0; k < c->cols; k++)
            ((float *)((char *)d->x + (size_t)i * d->xs))[k] = (float)mc_rng_normal(g);
    d->ys = c->rows + 5;
    d->yref = mc_malloc((size_t)(c->n_tok * d->ys) * 4);
    d->y = mc_malloc((size_t)(c->n_tok * d->ys) * 4);
    mc_free(row);
}

/* The ref on R16 is bit-identical to the ref on GGML; every SIMD set on R16 within tolerance. */
static void fcheck(const fcase *c, mc_rng *g, int *failures)
{
    static const char *simd[] = {"avx2", "avx512"};
    mc_kernel_table ref, tab;
    fdata d;
    if (mc_kernels_table_for("ref", &ref, NULL) != MC_OK)
        abort();
    fprepare(c, &d, g);
    kc_data_run(&ref, c, &d, d.yref, 0);
    kc_data_run(&ref, c, &d, d.y, 1);
    *failures += memcmp(d.y, d.yref, (size_t)(c->n_tok * d.ys) * 4) != 0;
    for (int k = 0; k < 2; k++) {
        if (mc_kernels_table_for(simd[k], &tab, NULL) != MC_OK)
            continue;
        kc_data_run(&tab, c, &d, d.y, 1);
        *failures += kc_data_compare(c, &d, simd[k]) != 0;
    }
    kc_data_release(&d);
}

/* Token counts 1..20 and across the tile's token chunks (12 per tile, balanced), on 45 rows (two
 * groups and a 13-row tail) with ranges starting inside a group, at a group, and in the tail. */
TEST(matmul_vs_ref_tokens)
{
    mc_rng g;
    mc_rng_seed(&g, 71);
    int failures = 0;
    const int64_t toks[] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13,
                            14, 15, 16, 17, 18, 19, 20, 24, 25, 36, 37, 64};
    const int64_t ranges[][2] = {{0, 45}, {3, 43}, {16, 32}, {17, 40}, {33, 45}, {5, 9}};
    for (int k = 0; k < N_FTYPES; k++)
        for (size_t n = 0; n < sizeof toks / sizeof toks[0]; n++)
            for (int q = 0; q < 6; q++) {
                fcase c = {ftypes[k], 45, 96, toks[n], ranges[q][0], ranges[q][1]};
                fcheck(&c, &g, &failures);
            }
    CHECK_EQ_INT(failures, 0);
}

/* Shapes: one column, odd column counts (the tile's odd last column), long rows, exactly one
 * group, many groups, an odd number of groups (a lone last group), a single row. */
TEST(matmul_vs_ref_shapes)
{
    mc_rng g;
    mc_rng_seed(&g, 72);
    int failures = 0;
    const int64_t shapes[][2] = {{16, 1}, {16, 7}, {37, 33}, {48, 288}, {131, 1024}, {80, 129}};
    const int64_t toks[] = {1, 2, 3, 8, 13};
    for (int k = 0; k < N_FTYPES; k++)
        for (int s = 0; s < 6; s++)
            for (int n = 0; n < 5; n++) {
                int64_t rows = shapes[s][0];
                fcase a = {ftypes[k], rows, shapes[s][1], toks[n], 0, rows};
                fcase b = {ftypes[k], rows, shapes[s][1], toks[n], rows / 2, rows / 2 + 1};
                fcase c = {ftypes[k], rows, shapes[s][1], toks[n], 1, rows - 1};
                fcheck(&a, &g, &failures);
                fcheck(&b, &g, &failures);
                fcheck(&c, &g, &failures);
            }
    CHECK_EQ_INT(failures, 0);
}

/* Batch invariance of the SIMD R16 kernels on the grouped rows: token t's results are the same
 * bits whether it is computed alone or as one of 2..30 tokens (every chunking of the token loop)
 * and whatever row range the call covers (AVX-512: one or two groups per tile; AVX2: four, three
 * (r0 = 16), two or one groups per tile at 1, 2 and more tokens). */
static int batch_invariant(const char *isa)
{
    mc_kernel_table tab;
    if (mc_kernels_table_for(isa, &tab, NULL) != MC_OK)
        return 0; /* nothing to check on this machine (the other tests still ran) */
    mc_rng g;
    mc_rng_seed(&g, 73);
    int bad = 0;
    for (int k = 0; k < N_FTYPES; k++) {
        fcase c = {ftypes[k], 80, 77, 30, 0, 64};
        fdata d;
        fprepare(&c, &d, &g);
        for (int64_t n = 1; n <= 30; n++) {
            fcase cn = c;
            cn.n_tok = n;
            cn.r0 = n % 2 ? 0 : 16; /* a pair of groups first, or a lone one (AVX-512) */
            kc_data_run(&tab, &cn, &d, d.y, 1);
            if (n == 1)
                memcpy(d.yref, d.y, (size_t)d.ys * 4); /* token 0 alone, rows [0, 64) */
            for (int64_t r = 16; r < 64; r++)
                bad += d.y[r] != d.yref[r];
        }
        kc_data_release(&d);
    }
    if (bad)
        fprintf(stderr, "     %s: %d results depend on the batch\n", isa, bad);
    return bad;
}

TEST(batch_invariant)
{
    CHECK_EQ_INT(batch_invariant("avx2"), 0);
    CHECK_EQ_INT(batch_invariant("avx512"), 0);
}

/* Which layout pays, and the public entry point on an R16 F16 matrix. */
TEST(best_layout_and_public)
{
    CHECK_EQ_INT(mc_kernels_init("ref", NULL), MC_OK);
    CHECK_EQ_INT(mc_kernels_best_layout(MC_DT_F16, 4096), MC_WLAYOUT_GGML);
    if (mc_kernels_init("avx512", NULL) == MC_OK) {
        CHECK_EQ_INT(mc_kernels_best_layout(MC_DT_F16, 16), MC_WLAYOUT_R16);
        CHECK_EQ_INT(mc_kernels_best_layout(MC_DT_BF16, 4096), MC_WLAYOUT_R16);
        CHECK_EQ_INT(mc_kernels_best_layout(MC_DT_F16, 15), MC_WLAYOUT_GGML);
    }
    if (mc_kernels_init("avx2", NULL) == MC_OK) {
        CHECK_EQ_INT(mc_kernels_best_layout(MC_DT_F16, 4096), MC_WLAYOUT_R16);
        CHECK_EQ_INT(mc_kernels_best_layout(MC_DT_F32, 16), MC_WLAYOUT_R16);
        CHECK_EQ_INT(mc_kernels_best_layout(MC_DT_BF16, 15), MC_WLAYOUT_GGML);
    }
    CHECK_EQ_INT(mc_kernels_init(NULL, NULL), MC_OK);
    enum { ROWS = 33, COLS = 3 };
    uint16_t w[ROWS * COLS];
    float x[COLS] = {1.0f, -2.0f, 0.5f}, y[ROWS] = {0};
    for (int r = 0; r < ROWS; r++) /* row r = (r, 1, 2): y[r] = r - 2 + 1 = r - 1 */
        for (int c = 0; c < COLS; c++)
            w[r * COLS + c] = mc_kernels_f32_to_f16(c == 0 ? (float)r : (float)c);
    CHECK_EQ_INT(mc_kernels_repack(MC_DT_F16, MC_WLAYOUT_R16, ROWS, COLS, w, NULL, NULL), MC_OK);
    mc_matmul mm = {.wtype = MC_DT_F16,
                    .w = w,
                    .cols = COLS,
                    .r0 = 1,
                    .r1 = ROWS,
                    .x = x,
                    .n_tok = 1,
                    .y = y,
                    .layout = MC_WLAYOUT_R16,
                    .rows = ROWS};
    mc_kernels_matmul(&mm);
    CHECK(y[0] == 0.0f);
    for (int r = 1; r < ROWS; r++)
        CHECK(y[r] == (float)(r - 1));
}

int main(void)
{
    RUN(repack_positions);
    RUN(matmul_known);
    RUN(matmul_vs_ref_tokens);
    RUN(matmul_vs_ref_shapes);
    RUN(batch_invariant);
    RUN(best_layout_and_public);
    return harness_done();
}
