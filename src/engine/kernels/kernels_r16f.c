/* kernels_r16f.c: the float weight types (F32, F16, BF16) in MC_WLAYOUT_R16 (r16f.h): the
 * conversion of one 16-row group between GGML and R16 layout, and the scalar reference matmul on
 * that layout, the oracle of the SIMD kernels (same double sum in the same column order as the
 * GGML reference kernel, so the two agree bit for bit).
 *
 * Plain C, no ISA flags, no intrinsics. Depends only on the kernel internals (kernels_impl.h,
 * r16f.h). */
#include "r16f.h"

/* One group through tmp, column by column on the R16 side: each R16 column (16 elements, 32 or
 * 64 bytes) is written or read whole while the 16 GGML rows are walked in step (row by row, which
 * revisited every R16 column 16 times, measured 3.5x (F16) and 5.8x (F32) slower on 1024 x 2048;
 * the expert cache repacks every expert it reads, so this is on the path of a miss). Inlined with
 * es = 2 or 4 so the copies are fixed-size moves. */
static inline __attribute__((always_inline)) void convert_cols(uint8_t *d, const uint8_t *s,
                                                               int64_t cols, size_t rb, size_t es,
                                                               int to_r16)
{
    for (int64_t c = 0; c < cols; c++)
        for (size_t i = 0; i < MC_R16; i++) {
            size_t ggml = i * rb + (size_t)c * es, r16 = ((size_t)c * MC_R16 + i) * es;
            if (to_r16)
                memcpy(d + r16, s + ggml, es);
            else
                memcpy(d + ggml, s + r16, es);
        }
}

void mc_r16f_group_convert(mc_dtype t, void *g, int64_t cols, void *tmp, int to_r16)
{
    size_t es = mc_r16f_es(t), rb = es * (size_t)cols;
    memcpy(tmp, g, MC_R16 * rb);
    if (es == 2)
        convert_cols(g, tmp, cols, rb, 2, to_r16);
    else
        convert_cols(g, tmp, cols, rb, 4, to_r16);
}

static void mm_r16f_ref(const mc_matmul *m)
{
    const char *x = m->x;
    MC_KASSERT(m->rows >= m->r1);
    for (int64_t t = 0; t < m->n_tok; t++) {
        const float *xt = (const float *)(x + (size_t)t * m->x_stride);
        for (int64_t r = m->r0; r < m->r1; r++) {
            double s = 0;
            for (int64_t c = 0; c < m->cols; c++)
                s += (double)mc_r16f_get(m->wtype, m->w, m->rows, m->cols, r, c) * xt[c];
            m->y[t * m->y_stride + r] = (float)s;
        }
    }
}

void mc_kernels_fill_r16f_ref(mc_kernel_table *t)
{
    t->matmul_r16[MC_DT_F32] = t->matmul_r16[MC_DT_F16] = t->matmul_r16[MC_DT_BF16] = mm_r16f_ref;
}
