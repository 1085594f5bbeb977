/* kernels: the numeric kernels of the embedded MoE engine, and the only place in moecap with SIMD
 * intrinsics.
 *
 * Weight types (ggml block layouts, byte-exact with GGUF files; docs/KERNELS.md):
 *   F32, F16, BF16      one element per "block"
 *   Q8_0                32 elements: f16 d, int8 q[32]                          value = d * q
 *   Q4_0                32 elements: f16 d, 16 bytes; low nibbles are elements 0..15, high
 *                       nibbles 16..31                                         value = d * (q - 8)
 *   Q4_K                256 elements: f16 d, f16 dmin, 12 bytes of 6-bit (scale, min) for 8
 *                       sub-blocks of 32, 128 bytes of nibbles   value = d*sc_j*q - dmin*m_j
 *   Q6_K                256 elements: 128 bytes low nibbles, 64 bytes 2-bit highs, int8 scale
 *                       per 16 elements, f16 d                        value = d * sc_j * (q - 32)
 *
 * Matmul: Y[t][r] = sum_c W[r][c] * X[t][c]. X rows are first converted once per activation row
 * by mc_kernels_quant_act() into the form the weight type's dot product wants (f32 for the float
 * types, int8 blocks of 32 with an f32 scale for Q8_0/Q4_0, int8 super-blocks of 256 with an f32
 * scale and per-16 sums for Q4_K/Q6_K). The engine's threads call mc_kernels_matmul on disjoint
 * row ranges of the same matrix.
 *
 * Dispatch: one table of function pointers, filled once by mc_kernels_init() ("ref", "avx2",
 * "avx512", or NULL/"auto" for the best the CPU supports). Every kernel has a scalar `_ref`
 * version, the oracle the SIMD versions are tested against. If no kernel is called before
 * mc_kernels_init, the first call initialises "auto".
 *
 * Argument contract of the hot kernels (they return void): types must satisfy
 * mc_kernels_type_supported() and element counts must be multiples of the block size (validate
 * once with mc_kernels_row_bytes); a violation is a bug and aborts. Block data must be 2-byte
 * aligned (4 for F32 and activation rows); f32 arrays need no more than float alignment.
 *
 * Thread safety: mc_kernels_init must not run concurrently with kernel calls (call it at start-up);
 * every kernel is reentrant and may run on many threads at once on disjoint outputs. */
#ifndef MC_KERNELS_H
#define MC_KERNELS_H

#include "base.h"
#include "model.h"

#include <stddef.h>
#include <stdint.h>

/* ---- dispatch --------------------------------------------------------------------------------*/

/* Selects the kernel set: "ref", "avx2", "avxvnni" (avx2 with AVX-VNNI int8 tiles), "avx512", or
 * NULL / "auto" (best supported).
 * MC_ERR_ARG for an unknown name, MC_ERR_UNSUPPORTED when this CPU lacks the ISA. */
mc_err mc_kernels_init(const char *isa, mc_diag *d);
/* Name of the active kernel set ("ref", "avx2", "avxvnni", "avx512"); initialises "auto" if needed. */
const char *mc_kernels_isa(void);
/* 1 when this CPU (and OS) can run the named kernel set. */
int mc_kernels_isa_available(const char *isa);
/* The best kernel set for this CPU (what "auto" picks). */
const char *mc_kernels_isa_best(void);

/* ---- types and sizes -------------------------------------------------------------------------*/

/* 1 for F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K; 0 otherwise. */
int mc_kernels_type_supported(mc_dtype t);
/* Elements per block (1, 32 or 256) and bytes per block; 0 for unsupported types. */
int64_t mc_kernels_block_elems(mc_dtype t);
size_t mc_kernels_block_bytes(mc_dtype t);
/* Bytes of a row of n elements of type t. MC_ERR_UNSUPPORTED for other types, MC_ERR_ARG when n
 * is negative or not a multiple of the block size, MC_ERR_RANGE on overflow. */
mc_err mc_kernels_row_bytes(mc_dtype t, int64_t n, size_t *out, mc_diag *d);

/* ---- conversion ------------------------------------------------------------------------------*/

/* dst[0..n) = the values of the n elements at src (a row of type t). */
void mc_kernels_dequant_row(mc_dtype t, const void *src, float *dst, int64_t n);
/* Writes n values as a row of type t (round to nearest; deterministic and identical on every ISA,
 * so a model written by `moecap make-model` does not depend on the machine). Also used for KV-cache
 * rows (F16/BF16/F32). */
void mc_kernels_quant_row(mc_dtype t, const float *src, void *dst, int64_t n);

/* ---- activations for the matmul --------------------------------------------------------------*/

/* Bytes of one activation row of n elements prepared for weights of type wt (n a multiple of wt's
 * block size). The result is a multiple of 4. */
size_t mc_kernels_act_row_bytes(mc_dtype wt, int64_t n);
/* Converts one activation row x[0..n) for weights of type wt into xq (act_row_bytes bytes). */
void mc_kernels_quant_act(mc_dtype wt, const float *x, void *xq, int64_t n);

/* ---- weight layouts ----------------------------------------------------------------------------
 * A matrix is normally in GGUF's layout (MC_WLAYOUT_GGML: row after row of ggml blocks). Q8_0 and
 * Q4_0 matrices may instead be repacked at load time into MC_WLAYOUT_R16: each group of 16
 * consecutive rows [16g, 16g+16) is rewritten in place of the same bytes as, for each block
 * column b, the 16 rows' f16 scales (32 bytes) followed by their quants interleaved in 4-byte words
 * (word m of row r at byte 64m + 4r: Q8_0 words 0..7 = bytes 4m..4m+3 of the block's int8 q, Q4_0
 * words 0..3 = bytes 4m..4m+3 of its nibble bytes, unchanged). A kernel then loads 16 rows' scales
 * as one vector and feeds one 4-byte piece of an activation block to 16 rows' dot products at
 * once. The rows after the last full group (rows % 16 of them) stay in GGML layout. Byte size and
 * the byte range of every 16-row group are unchanged, so row ranges that start at multiples of 16
 * can be addressed as before. Q6_K and Q4_K matrices have an R16 layout too, with the same group
 * and block-column structure (one column per 256-element super-block; quants, sub-block scales
 * and d of the 16 rows arranged to load as vectors; internal: r16k.h). F32, F16 and BF16 matrices
 * have one as well: per group, column after column, the 16 rows' elements of a column contiguous
 * (r16f.h). docs/KERNELS.md, "Repacked weights". */
typedef enum mc_wlayout { MC_WLAYOUT_GGML = 0, MC_WLAYOUT_R16 = 1 } mc_wlayout;

/* The layout the active kernel set runs fastest for a matrix of type t with `rows` rows:
 * MC_WLAYOUT_R16 with at least 16 rows when the active set has native R16 kernels for the type
 * (Q8_0/Q4_0 on avx2 and avx512; Q6_K/Q4_K and F32/F16/BF16 on avx512), MC_WLAYOUT_GGML
 * otherwise. Every kernel set computes every layout correctly; this only says whether repacking
 * pays. */
mc_wlayout mc_kernels_best_layout(mc_dtype t, int64_t rows);

/* Rewrites a rows x cols matrix of type t from GGML layout into layout `lay` (or back with
 * mc_kernels_unpack), in place at `data`. `scratch` must hold mc_kernels_repack_scratch_bytes(t,
 * cols) bytes (one 16-row group); NULL makes the call allocate and free it (MC_ERR_NOMEM on
 * failure). MC_ERR_ARG for a layout the type does not have (R16: Q8_0, Q4_0, Q6_K, Q4_K, F32,
 * F16, BF16) or a bad shape. Repacking to MC_WLAYOUT_GGML is a no-op. Safe to call concurrently on disjoint
 * matrices. */
size_t mc_kernels_repack_scratch_bytes(mc_dtype t, int64_t cols);
mc_err mc_kernels_repack(mc_dtype t, mc_wlayout lay, int64_t rows, int64_t cols, void *data,
                         void *scratch, mc_diag *d);
mc_err mc_kernels_unpack(mc_dtype t, mc_wlayout lay, int64_t rows, int64_t cols, void *data,
                         void *scratch, mc_diag *d);

/* ---- matmul ----------------------------------------------------------------------------------*/

typedef struct mc_matmul {
    mc_dtype wtype;   /* weight type */
    const void *w;    /* weights: row r (of `cols` elements) at w + r * row_bytes(wtype, cols) */
    int64_t cols;     /* elements per row (the reduction length), a multiple of the block size */
    int64_t r0, r1;   /* rows computed by this call: [r0, r1) */
    const void *x;    /* n_tok activation rows from mc_kernels_quant_act(wtype, ...), token t at
                         (const char *)x + t * x_stride */
    size_t x_stride;  /* bytes between activation rows (>= act_row_bytes, multiple of 4; ignored
                         when n_tok == 1) */
    int64_t n_tok;    /* tokens, >= 1 */
    float *y;         /* output: Y[t][r] at y[t * y_stride + r] (rows outside [r0, r1) untouched) */
    int64_t y_stride; /* floats between output rows */
    mc_wlayout layout; /* layout of w (0 = GGML, the default of a zero-initialised struct) */
    int64_t rows;      /* rows of the whole matrix at w; needed (>= r1) when layout != GGML, since
                          the rows after the last full group of 16 are stored differently */
} mc_matmul;

/* Y[t][r] = sum_c W[r][c] * X[t][c] for r in [r0, r1), t in [0, n_tok). Allocates nothing; uses
 * up to ~150 KiB of stack (the calling thread needs a stack of 256 KiB or more). */
void mc_kernels_matmul(const mc_matmul *mm);

/* ---- f32 helpers of the forward pass ---------------------------------------------------------*/

/* out[i] = x[i] / sqrt(mean(x^2) + eps) * (w ? w[i] : 1). out may alias x. */
void mc_kernels_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps);

/* RoPE. mc_kernels_rope_table writes cs[2i] = cos(a_i), cs[2i+1] = sin(a_i) with
 * a_i = pos * freq_scale * theta^(-2i / n_rot) for i in [0, n_rot/2) (scalar, same on every ISA).
 * mc_kernels_rope rotates the first n_rot dims of each of n_heads heads (head h at x + h*head_dim)
 * by those angles; pair i is (x[2i], x[2i+1]) in the normal layout (GPT-J / llama.cpp "norm")
 * and (x[i], x[i + n_rot/2]) in the neox layout. n_rot even, n_rot <= head_dim. */
void mc_kernels_rope_table(float *cs, int64_t n_rot, int64_t pos, double theta, double freq_scale);
void mc_kernels_rope(float *x, int64_t n_heads, int64_t head_dim, int64_t n_rot, const float *cs,
                     int neox);

/* In place, numerically stable (subtracts the max). n >= 1. */
void mc_kernels_softmax(float *x, int64_t n);
/* out[i] = silu(a[i]) * b[i] = a / (1 + exp(-a)) * b. out may alias a or b. */
void mc_kernels_swiglu(float *out, const float *a, const float *b, int64_t n);
/* out[i] = a[i] + b[i]; x[i] *= s; y[i] += a * x[i]. Outputs may alias inputs exactly. */
void mc_kernels_add(float *out, const float *a, const float *b, int64_t n);
void mc_kernels_scale(float *x, float s, int64_t n);
void mc_kernels_axpy(float *y, float a, const float *x, int64_t n);

/* Attention over a KV cache of type kt (F32 or F16) with rows of head_dim elements, row i at
 * (const char *)k + i * k_stride:
 *   scores: s[i] = scale * (q . k_i) for i in [0, n)
 *   accum:  out[j] += sum_i p[i] * v_i[j]                                                     */
void mc_kernels_attn_scores(float *s, const float *q, const void *k, mc_dtype kt, size_t k_stride,
                            int64_t n, int64_t head_dim, float scale);
void mc_kernels_attn_accum(float *out, const float *p, const void *v, mc_dtype vt, size_t v_stride,
                           int64_t n, int64_t head_dim);

/* ---- measurement kernels (benchmarks and the machine probe) ---------------------------------
 * mc_kernels_read_sum: reads `bytes` (a multiple of 64) at p (64-byte aligned) with the active
 * ISA's widest loads and returns a checksum (the sum of the 64-bit words), so the read cannot be
 * optimised away: the reference for "memory read bandwidth". streams = 1: one plain sequential
 * pass (what STREAM-like probes measure); streams = 4: four interleaved sequential streams with
 * software prefetch (the most one core reads on the machines measured so far).
 * mc_kernels_fma_loop: runs `iters` iterations of independent f32 FMA chains that fill the FMA
 * units of the active ISA (12 chains of ymm for avx2, of zmm for avx512); returns the number of
 * floating-point operations performed (2 per lane per FMA): the reference for "peak FLOP/s". */
uint64_t mc_kernels_read_sum(const void *p, size_t bytes, int streams);
double mc_kernels_fma_loop(int64_t iters);

/* ---- scalar conversions (exact, round to nearest even; identical to F16C) --------------------*/
float mc_kernels_f16_to_f32(uint16_t h);
uint16_t mc_kernels_f32_to_f16(float f);
float mc_kernels_bf16_to_f32(uint16_t h);
uint16_t mc_kernels_f32_to_bf16(float f);

#endif
