/* test_kernels_r16k.c: MC_WLAYOUT_R16 for the K-quants Q6_K and Q4_K (r16k.h): byte positions
 * of hand-made blocks, in-place repack/unpack round trips (byte-exact, tail rows untouched), and
 * every kernel set's R16 matmul against the ref kernel on GGML weights at many shapes, token
 * counts and row ranges (the ref R16 kernel bit-identical, the SIMD ones within the tolerance of
 * test_kernels.c). */
#include "harness.h"
#include "kernel_check.h"
#include "kernels.h"
#include "r16k.h"

static const mc_dtype ktypes[] = {MC_DT_Q6_K, MC_DT_Q4_K};
static const char *isas[] = {"avx2", "avx512"};

static void fill_normal(mc_rng *r, float *x, int64_t n, double sd)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(mc_rng_normal(r) * sd);
}

/* ---------------------------------------------------------------- byte layout ---- */

/* Q6_K: a block whose element e has q = e % 64 (GGUF bit order as in ggml's dequantize_row_q6_K),
 * scales j - 8, d = 0x3c00; put as row 5 of a column and checked at hand-computed bytes. */
TEST(q6_k_positions)
{
    mc_blk_q6_k b, back;
    memset(&b, 0, sizeof b);
    for (int e = 0; e < 256; e++) {
        int q = e % 64, n = e / 128, l = e % 32, k = (e % 128) / 32;
        uint8_t *lo = &b.ql[64 * n + l + 32 * (k & 1)];
        *lo = (uint8_t)(*lo | (q & 15) << ((k & 2) ? 4 : 0));
        b.qh[32 * n + l] = (uint8_t)(b.qh[32 * n + l] | (q >> 4) << (2 * k));
    }
    for (int j = 0; j < 16; j++)
        b.scales[j] = (int8_t)(j - 8);
    b.d = 0x3c00;
    static uint8_t col[16 * sizeof(mc_blk_q6_k)];
    memset(col, 0xAA, sizeof col);
    mc_r16k_put_block(MC_DT_Q6_K, col, 5, &b);
    CHECK_EQ_INT(col[10], 0x00); /* d of row 5 at 2 * 5, little endian */
    CHECK_EQ_INT(col[11], 0x3c);
    CHECK_EQ_INT((int8_t)col[32 + 16 * 3 + 5], -5); /* scale 3 */
    /* element 38 = 16*2 + 4*1 + 2: vector 1 of sub-block 2, byte 2 of row 5's word; q = 38; its
     * top bits are bits 2..3 of element 16*2 + 12 + 2 = 46 (q 46 = 0b101110: bits 2..3 = 0b11) */
    CHECK_EQ_INT(col[288 + 192 * 2 + 64 * 1 + 4 * 5 + 2], 38 | 3 << 6);
    /* element 200 = 16*12 + 8 (vector 2, byte 0): q 200 % 64 = 8; fourth element 204 -> q 12 =
     * 0b001100, bits 4..5 = 0 */
    CHECK_EQ_INT(col[288 + 192 * 12 + 64 * 2 + 4 * 5 + 0], 8);
    /* element 0 (vector 0, byte 0): q 0, top bits = bits 0..1 of q[12] = 12 -> 0 */
    CHECK_EQ_INT(col[288 + 4 * 5], 0);
    /* element 1: q 1, top = bits 0..1 of q[13] = 0b01 */
    CHECK_EQ_INT(col[288 + 4 * 5 + 1], 1 | 1 << 6);
    CHECK_EQ_INT(col[288 + 4 * 4], 0xAA); /* row 4 untouched */
    mc_r16k_get_block(MC_DT_Q6_K, col, 5, &back);
    CHECK(memcmp(&b, &back, sizeof b) == 0);
}

/* Q4_K: q = (e * 7) % 16, scales sc_j = 10 + j, mins m_j = 40 + 2 j (6-bit, top bits used). */
TEST(q4_k_positions)
{
    mc_blk_q4_k b, back;
    memset(&b, 0, sizeof b);
    for (int e = 0; e < 256; e++) {
        int q = (e * 7) % 16, c = e / 64, l = e % 32, hi = (e % 64) / 32;
        b.qs[32 * c + l] = (uint8_t)(b.qs[32 * c + l] | q << (4 * hi));
    }
    uint8_t sc[8], mn[8];
    for (int j = 0; j < 4; j++) { /* GGUF's 12-byte packing of (sc, m) */
        b.scales[j] = (uint8_t)((10 + j) | ((10 + j + 4) >> 4) << 6);
        b.scales[j + 4] = (uint8_t)((40 + 2 * j) | ((40 + 2 * (j + 4)) >> 4) << 6);
        b.scales[j + 8] = (uint8_t)(((10 + j + 4) & 15) | ((40 + 2 * (j + 4)) & 15) << 4);
    }
    mc_q4k_scales(b.scales, sc, mn);
    CHECK_EQ_INT(sc[6], 16);
    CHECK_EQ_INT(mn[6], 52);
    b.d = 0x3c00;
    b.dmin = 0x4000;
    static uint8_t col[16 * sizeof(mc_blk_q4_k)];
    memset(col, 0x55, sizeof col);
    mc_r16k_put_block(MC_DT_Q4_K, col, 9, &b);
    CHECK_EQ_INT(col[18] | col[19] << 8, 0x3c00);
    CHECK_EQ_INT(col[32 + 18] | col[32 + 19] << 8, 0x4000);
    /* sub-block 6: sc 16, m 52 = 0b110100: byte 64 + 96 + 9 = 16 | 0b11 << 6 */
    CHECK_EQ_INT(col[64 + 16 * 6 + 9], 16 | 3 << 6);
    /* pair 3 (sub-blocks 6, 7): low bits of m 52 (4) and m 54 (6) */
    CHECK_EQ_INT(col[192 + 16 * 3 + 9], 4 | 6 << 4);
    /* element 32*5 + 4*2 + 1 = 169 (q = 1183 % 16 = 15) in the low nibble, element 185 (q = 1295
     * % 16 = 15) in the high nibble of byte 1 of row 9's word in vector 2 of sub-block 5 */
    CHECK_EQ_INT(col[256 + 256 * 5 + 64 * 2 + 4 * 9 + 1], 15 | 15 << 4);
    /* element 3 (q 5) low, element 19 (q 133 % 16 = 5) high */
    CHECK_EQ_INT(col[256 + 4 * 9 + 3], 5 | 5 << 4);
    CHECK_EQ_INT(col[256 + 4 * 8 + 3], 0x55); /* row 8 untouched */
    mc_r16k_get_block(MC_DT_Q4_K, col, 9, &back);
    CHECK(memcmp(&b, &back, sizeof b) == 0);
}

/* Random bytes (every bit pattern, not only what the quantiser writes) of 37-row matrices:
 * repack changes the two full groups and not the 5 tail rows; unpack restores every byte. */
TEST(repack_round_trip)
{
    mc_rng r;
    mc_rng_seed(&r, 77);
    for (int ti = 0; ti < 2; ti++) {
        mc_dtype t = ktypes[ti];
        const int64_t rows = 37, cols = 768;
        size_t rb = mc_type_bytes(t, cols), n = rb * (size_t)rows;
        uint8_t *w = mc_malloc(n), *orig = mc_malloc(n);
        for (size_t i = 0; i < n; i++)
            orig[i] = (uint8_t)(mc_rng_u64(&r) >> 56);
        memcpy(w, orig, n);
        mc_diag d = {{0}};
        CHECK_EQ_INT(mc_kernels_repack_scratch_bytes(t, cols), 16 * rb);
        CHECK_EQ_INT(mc_kernels_repack(t, MC_WLAYOUT_R16, rows, cols, w, NULL, &d), MC_OK);
        CHECK(memcmp(w, orig, 32 * rb) != 0);
        CHECK(memcmp(w + 32 * rb, orig + 32 * rb, 5 * rb) == 0);
        /* row 20, super-block 2, read back through the layout */
        uint8_t blk[sizeof(mc_blk_q6_k)];
        const void *p = mc_r16k_row_block(t, w, rows, rb, 20, 2, blk);
        CHECK(memcmp(p, orig + 20 * rb + 2 * mc_type_bytes(t, 256), mc_type_bytes(t, 256)) == 0);
        p = mc_r16k_row_block(t, w, rows, rb, 33, 1, blk); /* tail row: its own bytes */
        CHECK(p == w + 33 * rb + mc_type_bytes(t, 256));
        void *scratch = mc_malloc(16 * rb);
        CHECK_EQ_INT(mc_kernels_unpack(t, MC_WLAYOUT_R16, rows, cols, w, scratch, &d), MC_OK);
        CHECK(memcmp(w, orig, n) == 0);
        CHECK_EQ_INT(mc_kernels_repack(t, MC_WLAYOUT_R16, 16, 100, w, scratch, &d), MC_ERR_ARG);
        mc_free(scratch);
        mc_free(w);
        mc_free(orig);
    }
}

/* ---------------------------------------------------------------- matmul ---- */

typedef kc_case kcase; /* kernel_check.h */

typedef kc_data kdata; /* kernel_check.h */

static void kd_prepare(const kcase *c, kdata *d, mc_rng *r, const mc_kernel_table *ref)
{
    size_t rb = mc_type_bytes(c->t, c->cols);
    int64_t big = c->rows > c->n_tok ? c->rows : c->n_tok;
    float *tmp = mc_malloc((size_t)big * (size_t)c->cols * 4);
    d->w = mc_malloc(rb * (size_t)c->rows);
    d->wr = mc_malloc(rb * (size_t)c->rows);
    d->wf = mc_malloc((size_t)c->rows * (size_t)c->cols * 4);
    fill_normal(r, tmp, c->rows * c->cols, 0.05);
    for (int64_t i = 0; i < c->rows; i++) {
        ref->quant[c->t](tmp + i * c->cols, (uint8_t *)d->w + i * rb, c->cols);
        ref->dequant[c->t]((uint8_t *)d->w + i * rb, d->wf + i * c->cols, c->cols);
    }
    memcpy(d->wr, d->w, rb * (size_t)c->rows);
    if (mc_kernels_repack(c->t, MC_WLAYOUT_R16, c->rows, c->cols, d->wr, NULL, NULL) != MC_OK)
        abort();
    d->xs = mc_act_bytes(c->t, c->cols) + 20; /* padded stride */
    d->x = mc_malloc(d->xs * (size_t)c->n_tok);
    d->xf = mc_malloc((size_t)c->n_tok * (size_t)c->cols * 4);
    fill_normal(r, tmp, c->n_tok * c->cols, 1.0);
    for (int64_t t = 0; t < c->n_tok; t++) {
        ref->quant_act[c->t](tmp + t * c->cols, (uint8_t *)d->x + t * d->xs, c->cols);
        mc_act_row_to_f32(c->t, (uint8_t *)d->x + t * d->xs, d->xf + t * c->cols, c->cols);
    }
    d->ys = c->rows + 5;
    d->yref = mc_malloc((size_t)(c->n_tok * d->ys) * 4);
    d->y = mc_malloc((size_t)(c->n_tok * d->ys) * 4);
    mc_free(tmp);
}

/* One case (kc_compare's bound holds here too: the R16 kernels also round the per-sub-block
 * products d * sc * isum in f32, each within 2^-24 relative): the ref GGML result; the ref R16 kernel bit-identical to it; every SIMD set's R16
 * kernel within the tolerance. Returns the number of failing kernel sets. */
static int kd_check(const kcase *c, mc_rng *r)
{
    mc_kernel_table ref, k;
    if (mc_kernels_table_for("ref", &ref, NULL) != MC_OK)
        abort();
    kdata d;
    int fails = 0;
    kd_prepare(c, &d, r, &ref);
    kc_data_run(&ref, c, &d, d.yref, 0);
    kc_data_run(&ref, c, &d, d.y, 1);
    fails += memcmp(d.y, d.yref, (size_t)(c->n_tok * d.ys) * 4) != 0;
    for (int i = 0; i < 2; i++)
        if (mc_kernels_table_for(isas[i], &k, NULL) == MC_OK) {
            kc_data_run(&k, c, &d, d.y, 1);
            fails += kc_data_compare(c, &d, isas[i]) != 0;
        }
    kc_data_release(&d);
    return fails;
}

/* Token counts 1..20 (every sweep remainder, one and two sweeps per column) and around the
 * 64-token pass, on a 37-row matrix with row ranges that start and end inside groups. */
TEST(matmul_r16k_tokens)
{
    mc_rng r;
    mc_rng_seed(&r, 31);
    int fails = 0;
    const int64_t toks[] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13,
                            14, 15, 16, 17, 18, 19, 20, 31, 63, 64, 65, 70, 129};
    for (int ti = 0; ti < 2; ti++)
        for (size_t k = 0; k < sizeof toks / sizeof toks[0]; k++) {
            kcase c = {ktypes[ti], 37, 512, toks[k], toks[k] % 4, 37 - toks[k] % 6};
            fails += kd_check(&c, &r);
        }
    CHECK_EQ_INT(fails, 0);
}

/* Shapes: one super-block, long rows, exactly one group, row ranges inside one group, on group
 * boundaries, crossing groups, and only tail rows. */
TEST(matmul_r16k_shapes)
{
    mc_rng r;
    mc_rng_seed(&r, 32);
    int fails = 0;
    const int64_t shape[][2] = {{16, 256}, {37, 256}, {131, 768}, {48, 2048}, {20, 1024}};
    const int64_t toks[] = {1, 3, 8, 16};
    for (int ti = 0; ti < 2; ti++)
        for (int s = 0; s < 5; s++) {
            int64_t rows = shape[s][0], cols = shape[s][1];
            const int64_t rr[][2] = {{0, rows},
                                     {rows / 2, rows / 2 + 1},
                                     {16, rows >= 32 ? 32 : rows},
                                     {5, rows - 1},
                                     {rows / 16 * 16, rows}};
            for (int q = 0; q < 5; q++)
                for (int k = 0; k < 4; k++) {
                    kcase c = {ktypes[ti], rows, cols, toks[k], rr[q][0], rr[q][1]};
                    fails += kd_check(&c, &r);
                }
        }
    CHECK_EQ_INT(fails, 0);
}

/* The public entry point on a repacked matrix, and which layout pays on which kernel set. */
TEST(public_entry)
{
    CHECK_EQ_INT(mc_kernels_init("ref", NULL), MC_OK);
    CHECK_EQ_INT(mc_kernels_best_layout(MC_DT_Q6_K, 4096), MC_WLAYOUT_GGML);
    if (mc_kernels_isa_available("avx512")) {
        CHECK_EQ_INT(mc_kernels_init("avx512", NULL), MC_OK);
        CHECK_EQ_INT(mc_kernels_best_layout(MC_DT_Q6_K, 16), MC_WLAYOUT_R16);
        CHECK_EQ_INT(mc_kernels_best_layout(MC_DT_Q4_K, 4096), MC_WLAYOUT_R16);
        CHECK_EQ_INT(mc_kernels_best_layout(MC_DT_Q6_K, 15), MC_WLAYOUT_GGML);
    }
    if (mc_kernels_isa_available("avx2")) {
        CHECK_EQ_INT(mc_kernels_init("avx2", NULL), MC_OK);
        CHECK_EQ_INT(mc_kernels_best_layout(MC_DT_Q6_K, 4096), MC_WLAYOUT_R16);
        CHECK_EQ_INT(mc_kernels_best_layout(MC_DT_Q4_K, 16), MC_WLAYOUT_R16);
        CHECK_EQ_INT(mc_kernels_best_layout(MC_DT_Q4_K, 15), MC_WLAYOUT_GGML);
    }
    CHECK_EQ_INT(mc_kernels_init(NULL, NULL), MC_OK);
    mc_rng r;
    mc_rng_seed(&r, 33);
    mc_kernel_table ref;
    CHECK_EQ_INT(mc_kernels_table_for("ref", &ref, NULL), MC_OK);
    kcase c = {MC_DT_Q6_K, 40, 512, 5, 3, 38};
    kdata d;
    kd_prepare(&c, &d, &r, &ref);
    kc_data_run(&ref, &c, &d, d.yref, 0);
    for (int64_t i = 0; i < c.n_tok * d.ys; i++)
        d.y[i] = -12345.0f;
    mc_matmul mm = {.wtype = c.t,
                    .w = d.wr,
                    .cols = c.cols,
                    .r0 = c.r0,
                    .r1 = c.r1,
                    .x = d.x,
                    .x_stride = d.xs,
                    .n_tok = c.n_tok,
                    .y = d.y,
                    .y_stride = d.ys,
                    .layout = MC_WLAYOUT_R16,
                    .rows = c.rows};
    mc_kernels_matmul(&mm);
    CHECK_EQ_INT(kc_data_compare(&c, &d, mc_kernels_isa()), 0);
    kc_data_release(&d);
}

int main(void)
{
    RUN(q6_k_positions);
    RUN(q4_k_positions);
    RUN(repack_round_trip);
    RUN(matmul_r16k_tokens);
    RUN(matmul_r16k_shapes);
    RUN(public_entry);
    return harness_done();
}
