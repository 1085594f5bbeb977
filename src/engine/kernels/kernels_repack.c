/* kernels_repack.c: weight layouts other than GGUF's. Rewrites Q8_0/Q4_0 matrices (and, through
 * kernels_repack_k.c, Q6_K/Q4_K, through kernels_r16f.c, F32/F16/BF16) into the 16-row
 * interleaved layout MC_WLAYOUT_R16 (kernels.h) and back, in place one 16-row group at a time
 * through a one-group scratch buffer, and says which layout the active kernel set prefers.
 *
 * Plain C, no ISA flags, no intrinsics (the same bytes come out on every machine). Depends only on
 * the kernel internals (kernels_impl.h) and base's allocator. */
#include "r16f.h"
#include "r16k.h"

static int has_r16(mc_dtype t)
{
    return t == MC_DT_Q8_0 || t == MC_DT_Q4_0 || mc_r16k_type(t) || mc_r16f_type(t);
}

size_t mc_kernels_repack_scratch_bytes(mc_dtype t, int64_t cols)
{
    if (!mc_kernels_type_supported(t) || cols < 0 || cols % mc_kernels_block_elems(t))
        return 0;
    return MC_R16 * mc_type_bytes(t, cols);
}

/* One group: GGML rows at g (16 x rb bytes) <-> R16, through tmp (16 x rb bytes). */
static void group_to_r16(mc_dtype t, uint8_t *g, int64_t nb, size_t rb, uint8_t *tmp)
{
    size_t bb = mc_type_bytes(t, MC_QK), cb = mc_r16_col_bytes(t);
    int words = (int)(bb - 2) / 4;
    memcpy(tmp, g, MC_R16 * rb);
    /* column by column: each output column is written whole and in order while the 16 source
     * blocks it gathers stay in L1 (row by row, which touched every column of the group 16 times,
     * measured 1.15x (Q8_0) and 1.3x (Q4_0) slower on 1024 x 2048 matrices) */
    for (int64_t b = 0; b < nb; b++) {
        uint8_t *col = g + (size_t)b * cb;
        for (int i = 0; i < MC_R16; i++)
            memcpy(col + 2 * i, tmp + (size_t)i * rb + (size_t)b * bb, 2);
        for (int m = 0; m < words; m++)
            for (int i = 0; i < MC_R16; i++)
                memcpy(col + 2 * MC_R16 + 64 * m + 4 * i,
                       tmp + (size_t)i * rb + (size_t)b * bb + 2 + 4 * m, 4);
    }
}

static void group_from_r16(mc_dtype t, uint8_t *g, int64_t nb, size_t rb, uint8_t *tmp)
{
    size_t bb = mc_type_bytes(t, MC_QK);
    memcpy(tmp, g, MC_R16 * rb);
    for (int i = 0; i < MC_R16; i++)
        for (int64_t b = 0; b < nb; b++)
            mc_r16_get_block(t, tmp, b, i, g + (size_t)i * rb + (size_t)b * bb);
}

static mc_err convert(mc_dtype t, mc_wlayout lay, int64_t rows, int64_t cols, void *data,
                      void *scratch, int to_r16, mc_diag *d)
{
    if (lay == MC_WLAYOUT_GGML)
        return MC_OK;
    if (lay != MC_WLAYOUT_R16 || !has_r16(t))
        return mc_fail(d, MC_ERR_ARG, "kernels: no layout %d for %s weights", (int)lay,
                       mc_dtype_name(t));
    size_t need = mc_kernels_repack_scratch_bytes(t, cols);
    if (rows < 0 || cols <= 0 || need == 0 || !data)
        return mc_fail(d, MC_ERR_ARG, "kernels: cannot repack a %lld x %lld %s matrix",
                       (long long)rows, (long long)cols, mc_dtype_name(t));
    void *own = NULL;
    if (!scratch && rows >= MC_R16 && !(scratch = own = mc_malloc(need)))
        return mc_fail(d, MC_ERR_NOMEM, "kernels: no memory for a %zu-byte repack buffer", need);
    size_t rb = mc_type_bytes(t, cols);
    for (int64_t g = 0; g + MC_R16 <= rows; g += MC_R16) {
        uint8_t *gp = (uint8_t *)data + (size_t)g * rb;
        if (mc_r16f_type(t))
            mc_r16f_group_convert(t, gp, cols, scratch, to_r16); /* kernels_r16f.c */
        else if (mc_r16k_type(t) && to_r16)
            mc_r16k_group_to(t, gp, cols / MC_QK_K, rb, scratch);
        else if (mc_r16k_type(t))
            mc_r16k_group_from(t, gp, cols / MC_QK_K, rb, scratch);
        else if (to_r16)
            group_to_r16(t, gp, cols / MC_QK, rb, scratch);
        else
            group_from_r16(t, gp, cols / MC_QK, rb, scratch);
    }
    mc_free(own);
    return MC_OK;
}

mc_err mc_kernels_repack(mc_dtype t, mc_wlayout lay, int64_t rows, int64_t cols, void *data,
                         void *scratch, mc_diag *d)
{
    return convert(t, lay, rows, cols, data, scratch, 1, d);
}

mc_err mc_kernels_unpack(mc_dtype t, mc_wlayout lay, int64_t rows, int64_t cols, void *data,
                         void *scratch, mc_diag *d)
{
    return convert(t, lay, rows, cols, data, scratch, 0, d);
}
