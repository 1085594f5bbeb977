/* kernel_check.h: the matmul checks the kernel tests share: run one table's matmul of a case into
 * a sentinel-filled output, and compare it with a reference result within the kernels' tolerance.
 * Test support only (uses the kernels' internal dispatch table). */
#ifndef MC_KERNEL_CHECK_H
#define MC_KERNEL_CHECK_H

#include "kernels_impl.h"

#include <stddef.h>
#include <stdint.h>

#define KC_SENTINEL (-12345.0f) /* what rows outside [r0, r1) must still hold after a matmul */

/* One matmul test case: rows [r0, r1) of a rows x cols matrix of type t against n_tok tokens. */
typedef struct kc_case {
    mc_dtype t;
    int64_t rows, cols, n_tok, r0, r1;
} kc_case;

/* Fills y (n_tok rows of ys floats) with KC_SENTINEL, then runs table k's matmul of c on weights w
 * (MC_WLAYOUT_R16 when r16, else GGML) and prepared activations x (token i at x + i * xs). */
void kc_run(const mc_kernel_table *k, const kc_case *c, const void *w, int r16, const void *x,
            size_t xs, float *y, int64_t ys);

/* Number of elements of y (n_tok x ys) that differ from yref beyond the tolerance: rows outside
 * [r0, r1) must hold KC_SENTINEL exactly, rows inside must be within 5e-6 * sum_c |w_rc x_ic| +
 * 1e-30 of yref (wf: the dequantised weights, rows x cols; token i's values at
 * (const char *)xf + i * xf_stride). The ref kernels sum in double, the SIMD ones in f32 chains
 * rounded per block; test_kernels.c explains the bound. Prints the first mismatch, naming isa. */
int kc_compare(const kc_case *c, const float *y, const float *yref, int64_t ys, const float *wf,
               const float *xf, size_t xf_stride, const char *isa);

/* A case's buffers, filled by each test's own preparation: weights in GGML layout (w) and
 * repacked (wr), prepared activations (x, token i at x + i * xs), the dequantised weights and
 * activations for the tolerance (wf; xf, cols floats per token, or NULL when x already holds
 * f32 values), the reference and the kernel's outputs (n_tok rows of ys floats). */
typedef struct kc_data {
    void *w, *wr, *x;
    float *wf, *xf, *yref, *y;
    size_t xs;
    int64_t ys;
} kc_data;

void kc_data_release(kc_data *d); /* frees every buffer */
/* kc_run of table k on d's weights (repacked when r16) into y. */
void kc_data_run(const mc_kernel_table *k, const kc_case *c, const kc_data *d, float *y, int r16);
/* kc_compare of d->y against d->yref. */
int kc_data_compare(const kc_case *c, const kc_data *d, const char *isa);

#endif
