/* r16f.h: MC_WLAYOUT_R16 for the float weight types F32, F16 and BF16 (kernels.h "weight
 * layouts"): each group of 16 rows [16g, 16g+16) is stored, in place of the same bytes, column
 * after column, the 16 rows' elements of column c contiguous (row i of column c at byte
 * (16c + i) * es of the group, es = 4 for F32, 2 for F16/BF16). Rows after the last full group stay
 * in GGML layout. Internal to the kernels (kernels_r16f.c, matmul_r16f_avx2.c, matmul_r16f_avx512.c,
 * tests). */
#ifndef MC_R16F_H
#define MC_R16F_H

#include "kernels_impl.h"

/* 1 for the types this layout covers. */
static inline int mc_r16f_type(mc_dtype t)
{
    return t == MC_DT_F32 || t == MC_DT_F16 || t == MC_DT_BF16;
}

/* Bytes of one element. */
static inline size_t mc_r16f_es(mc_dtype t)
{
    return t == MC_DT_F32 ? 4 : 2;
}

/* Element (r, c) of a rows x cols float matrix of type t in R16 layout at w, as f32. */
static inline float mc_r16f_get(mc_dtype t, const void *w, int64_t rows, int64_t cols, int64_t r,
                                int64_t c)
{
    size_t es = mc_r16f_es(t), rb = es * (size_t)cols;
    const uint8_t *p = (const uint8_t *)w + (size_t)r * rb + (size_t)c * es; /* GGML tail row */
    if (r < rows / MC_R16 * MC_R16)
        p = (const uint8_t *)w + (size_t)(r / MC_R16) * MC_R16 * rb +
            ((size_t)c * MC_R16 + (size_t)(r % MC_R16)) * es;
    uint16_t h;
    float f;
    if (t == MC_DT_F32) {
        memcpy(&f, p, 4);
        return f;
    }
    memcpy(&h, p, 2);
    return t == MC_DT_F16 ? mc_h2f(h) : mc_bf2f(h);
}

/* One 16-row group at g (16 rows of cols elements) from GGML to R16 layout (to_r16 = 1) or back,
 * through tmp (16 rows' bytes). kernels_r16f.c. */
void mc_r16f_group_convert(mc_dtype t, void *g, int64_t cols, void *tmp, int to_r16);

/* Fill the R16 float entries of a kernel table: the scalar reference (kernels_r16f.c, every set
 * starts from it), the AVX2 kernels (matmul_r16f_avx2.c) and the AVX-512 kernels
 * (matmul_r16f_avx512.c). */
void mc_kernels_fill_r16f_ref(mc_kernel_table *t);
void mc_kernels_fill_r16f_avx2(mc_kernel_table *t);
void mc_kernels_fill_r16f_avx512(mc_kernel_table *t);

#endif
