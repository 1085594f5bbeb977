/* kernels_impl.h: internals shared by the kernel files (not part of the public API; tests and
 * benchmarks may include it to compare ISA tables directly).
 *
 * Block layouts (byte-exact ggml/GGUF), the activation blocks, the dispatch table, and the scalar
 * fp16/bf16 conversions as static inline functions (each translation unit, compiled with its own
 * ISA flags, gets its own copy: nothing compiled for AVX2 can leak into the ref path). */
#ifndef MC_KERNELS_IMPL_H
#define MC_KERNELS_IMPL_H

#include "kernels.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MC_QK 32    /* Q8_0 / Q4_0 block */
#define MC_QK_K 256 /* K-quant super-block */

/* ---- weight blocks (GGUF layouts) ---- */
typedef struct mc_blk_q8_0 {
    uint16_t d; /* f16 scale */
    int8_t qs[MC_QK];
} mc_blk_q8_0;

typedef struct mc_blk_q4_0 {
    uint16_t d;            /* f16 scale */
    uint8_t qs[MC_QK / 2]; /* element j in low nibble of qs[j] (j < 16), element 16+j in high */
} mc_blk_q4_0;

typedef struct mc_blk_q4_k {
    uint16_t d;              /* f16 super-scale of the 6-bit scales */
    uint16_t dmin;           /* f16 super-scale of the 6-bit mins */
    uint8_t scales[12];      /* 8 x (scale, min), 6 bits each, packed (see mc_q4k_scales) */
    uint8_t qs[MC_QK_K / 2]; /* chunk c of 64: qs[32c + l] = q[64c + l] | q[64c + 32 + l] << 4 */
} mc_blk_q4_k;

typedef struct mc_blk_q6_k {
    uint8_t ql[MC_QK_K / 2]; /* low 4 bits */
    uint8_t qh[MC_QK_K / 4]; /* high 2 bits */
    int8_t scales[MC_QK_K / 16];
    uint16_t d; /* f16 */
} mc_blk_q6_k;

_Static_assert(sizeof(mc_blk_q8_0) == 34, "q8_0 block is 34 bytes");
_Static_assert(sizeof(mc_blk_q4_0) == 18, "q4_0 block is 18 bytes");
_Static_assert(sizeof(mc_blk_q4_k) == 144, "q4_K block is 144 bytes");
_Static_assert(sizeof(mc_blk_q6_k) == 210, "q6_K block is 210 bytes");

/* ---- activation blocks (internal, produced by quant_act) ---- */
typedef struct mc_act_q8 { /* for Q8_0 / Q4_0 weights: x = d * qs, qs in [-127, 127] */
    float d;
    /* -off * sum(qs), off = 128 (Q8_0) or 8 (Q4_0): the correction a kernel adds when it
     * multiplies qs with the weights stored unsigned (w + off), as VNNI's u8 x s8 wants */
    int32_t c;
    int8_t qs[MC_QK];
} mc_act_q8;

typedef struct mc_act_q8k { /* for Q4_K / Q6_K weights */
    float d;
    int8_t qs[MC_QK_K];
    int16_t bsums[MC_QK_K / 16]; /* bsums[j] = sum of qs[16j .. 16j+15] */
} mc_act_q8k;

_Static_assert(sizeof(mc_act_q8) == 40, "act q8 block is 40 bytes");
_Static_assert(sizeof(mc_act_q8k) == 292, "act q8k block is 292 bytes");

/* ---- dispatch table ---- */
typedef void (*mc_deq_fn)(const void *src, float *dst, int64_t n);
typedef void (*mc_q_fn)(const float *src, void *dst, int64_t n);
typedef void (*mc_mm_fn)(const mc_matmul *mm);

typedef struct mc_kernel_table {
    const char *isa;
    mc_deq_fn dequant[MC_DT_COUNT];   /* by weight type */
    mc_q_fn quant[MC_DT_COUNT];       /* weight/KV quantisers, by type */
    mc_q_fn quant_act[MC_DT_COUNT];   /* activation preparation, by WEIGHT type */
    mc_mm_fn matmul[MC_DT_COUNT];     /* by weight type, GGML layout */
    mc_mm_fn matmul_r16[MC_DT_COUNT]; /* by weight type, MC_WLAYOUT_R16 (Q8_0, Q4_0, Q4_K, Q6_K,
                                         r16f.h) */
    int r16_native[MC_DT_COUNT];      /* 1: this set's R16 kernels beat its GGML ones */
    void (*rmsnorm)(float *out, const float *x, const float *w, int64_t n, float eps);
    void (*rope)(float *x, int64_t n_heads, int64_t head_dim, int64_t n_rot, const float *cs,
                 int neox);
    void (*softmax)(float *x, int64_t n);
    void (*swiglu)(float *out, const float *a, const float *b, int64_t n);
    void (*add)(float *out, const float *a, const float *b, int64_t n);
    void (*scale)(float *x, float s, int64_t n);
    void (*axpy)(float *y, float a, const float *x, int64_t n);
    /* [0] = F32 cache, [1] = F16 cache */
    void (*attn_scores[2])(float *s, const float *q, const void *k, size_t k_stride, int64_t n,
                           int64_t head_dim, float scale);
    void (*attn_accum[2])(float *out, const float *p, const void *v, size_t v_stride, int64_t n,
                          int64_t head_dim);
    uint64_t (*read_sum)(const void *p, size_t bytes, int streams); /* streams 1 or 4 */
    double (*fma_loop)(int64_t iters);
} mc_kernel_table;

/* Each ISA file fills (overrides) the entries it implements; the table starts as a copy of the
 * one below it (ref <- avx2 <- avx512, and ref <- avx2 <- avxvnni). */
void mc_kernels_fill_ref(mc_kernel_table *t);
void mc_kernels_fill_avx2(mc_kernel_table *t);
void mc_kernels_fill_avx512(mc_kernel_table *t);
void mc_kernels_fill_avx2_matmul(mc_kernel_table *t);   /* matmul_avx2.c */
void mc_kernels_fill_avx512_matmul(mc_kernel_table *t); /* matmul_avx512.c */
void mc_kernels_fill_avx512_r16k(mc_kernel_table *t);   /* matmul_r16k_avx512.c */
void mc_kernels_fill_r16k_avx2(mc_kernel_table *t);     /* matmul_r16k_avx2.c */

/* The 16-row Q8_0/Q4_0 walk of matmul_avx2.c with a caller's tile: rows [r0, r1) of m, each
 * touched group whole (tile writes its 16 rows for nt <= 2 tokens to out[t * 16 + row], q4: 1
 * for Q4_0), the GGML tail rows with the AVX2 GGML kernel. For matmul_r16_avxvnni.c. */
typedef void (*mc_r16_tile_fn)(const char *g, int64_t nb, const char *x, size_t xs, float *out,
                               int q4, int nt);
void mc_avx2_r16_rows(const mc_matmul *m, int q4, mc_r16_tile_fn tile);
void mc_kernels_fill_avxvnni(mc_kernel_table *t); /* matmul_r16_avxvnni.c */

/* Row dequantisation of the AVX2 file, for the other AVX2/AVX-512 files (call only after the
 * CPU check, like everything compiled with ISA flags). */
void mc_avx2_dequant(mc_dtype t, const void *src, float *dst, int64_t n);
/* Path A (few tokens) of the AVX2 matmul, any supported type. */
void mc_avx2_matmul_small(const mc_matmul *m);
/* The AVX-512 matmul of Q4_K / Q6_K weights in GGML layout (the K-quant R16 kernels' tail rows). */
void mc_avx512_matmul_kquant(const mc_matmul *m);

/* The complete table of a named ISA (tests/benchmarks). MC_ERR_ARG unknown name,
 * MC_ERR_UNSUPPORTED not runnable here. */
mc_err mc_kernels_table_for(const char *isa, mc_kernel_table *out, mc_diag *d);

/* Weight quantisers (ISA-independent reference code, kernels_quant.c). */
void mc_quant_q8_0_ref(const float *x, void *dst, int64_t n);
void mc_quant_q4_0_ref(const float *x, void *dst, int64_t n);
void mc_quant_q4_k_ref(const float *x, void *dst, int64_t n);
void mc_quant_q6_k_ref(const float *x, void *dst, int64_t n);

/* Matmul: path A (per-row dot products on the quantised blocks) for few tokens, path B
 * (dequantised f32 panels + register-tiled GEMM) from a per-ISA, per-type token count on
 * (gemm_min_tok in matmul_<isa>.c, measured: docs/KERNELS.md). Both compute the same sum and
 * differ only in float rounding. MC_GEMM_MIN_TOK, if defined at build time, overrides every
 * entry (experiments: -DMC_GEMM_MIN_TOK=1 forces path B, a large value path A). */

/* ---- scalar conversions ---- */
static inline float mc_h2f(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu, bits;
    if (exp == 0) {
        float f = (float)mant * 0x1p-24f; /* zero or subnormal, exact */
        return sign ? -f : f;
    }
    if (exp == 31)
        bits = sign | 0x7f800000u | (mant << 13);
    else
        bits = sign | ((exp + 112u) << 23) | (mant << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline uint16_t mc_f2h(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) /* NaN: keep the top payload bits, force quiet */
        return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
    if (ax >= 0x477ff000u) /* >= 65520 rounds to infinity */
        return (uint16_t)(sign | 0x7c00u);
    if (ax < 0x38800000u) { /* below 2^-14: f16 subnormal; scaling by 2^24 is exact */
        float a, s;
        memcpy(&a, &ax, 4);
        s = a * 0x1p24f;
        uint32_t q = (uint32_t)s;
        float rem = s - (float)q;
        if (rem > 0.5f || (rem == 0.5f && (q & 1u)))
            q++;
        return (uint16_t)(sign | q);
    }
    uint32_t h = (ax >> 13) - (112u << 10), rem = ax & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
        h++; /* a carry into the exponent is the correct rounding */
    return (uint16_t)(sign | h);
}

static inline float mc_bf2f(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline uint16_t mc_f2bf(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40u); /* quiet NaN */
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

/* Q4_K: the 8 (scale, min) pairs of a super-block, 6 bits each. */
static inline void mc_q4k_scales(const uint8_t *s, uint8_t sc[8], uint8_t mn[8])
{
    for (int j = 0; j < 4; j++) {
        sc[j] = s[j] & 63;
        mn[j] = s[j + 4] & 63;
        sc[j + 4] = (uint8_t)((s[j + 8] & 0xF) | ((s[j] >> 6) << 4));
        mn[j + 4] = (uint8_t)((s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4));
    }
}

/* Bytes of an activation row prepared for weights of type wt. */
static inline size_t mc_act_bytes(mc_dtype wt, int64_t n)
{
    switch (wt) {
    case MC_DT_Q8_0:
    case MC_DT_Q4_0: return (size_t)(n / MC_QK) * sizeof(mc_act_q8);
    case MC_DT_Q4_K:
    case MC_DT_Q6_K: return (size_t)(n / MC_QK_K) * sizeof(mc_act_q8k);
    default: return (size_t)n * 4;
    }
}

/* An activation row prepared for weights of type wt, back to f32 (x = d * q; tests, benchmarks). */
static inline void mc_act_row_to_f32(mc_dtype wt, const void *xrow, float *dst, int64_t n)
{
    if (wt == MC_DT_Q8_0 || wt == MC_DT_Q4_0) {
        const mc_act_q8 *b = xrow; /* d, c, qs */
        for (int64_t i = 0; i < n; i++)
            dst[i] = b[i / MC_QK].d * (float)b[i / MC_QK].qs[i % MC_QK];
    } else if (wt == MC_DT_Q4_K || wt == MC_DT_Q6_K) {
        const mc_act_q8k *b = xrow;
        for (int64_t i = 0; i < n; i++)
            dst[i] = b[i / MC_QK_K].d * (float)b[i / MC_QK_K].qs[i % MC_QK_K];
    } else {
        memcpy(dst, xrow, (size_t)n * 4);
    }
}

/* Bytes of n elements of a supported type (n a multiple of the block size). */
static inline size_t mc_type_bytes(mc_dtype t, int64_t n)
{
    switch (t) {
    case MC_DT_F32: return (size_t)n * 4;
    case MC_DT_F16:
    case MC_DT_BF16: return (size_t)n * 2;
    case MC_DT_Q8_0: return (size_t)(n / MC_QK) * sizeof(mc_blk_q8_0);
    case MC_DT_Q4_0: return (size_t)(n / MC_QK) * sizeof(mc_blk_q4_0);
    case MC_DT_Q4_K: return (size_t)(n / MC_QK_K) * sizeof(mc_blk_q4_k);
    case MC_DT_Q6_K: return (size_t)(n / MC_QK_K) * sizeof(mc_blk_q6_k);
    default: return 0;
    }
}

/* ---- MC_WLAYOUT_R16 (kernels.h): groups of 16 rows, per block column the 16 f16 scales then the
 * quants in 4-byte words, word m of row r at 64m + 4r. ---- */
#define MC_R16 16

/* Bytes of one block column of a group (16 blocks): 544 for Q8_0, 288 for Q4_0. */
static inline size_t mc_r16_col_bytes(mc_dtype t)
{
    return t == MC_DT_Q8_0 ? MC_R16 * sizeof(mc_blk_q8_0) : MC_R16 * sizeof(mc_blk_q4_0);
}

/* Copies block b of row i (0..15) of the group at g (R16 layout) to dst as a GGML block. */
static inline void mc_r16_get_block(mc_dtype t, const void *g, int64_t b, int i, void *dst)
{
    const uint8_t *col = (const uint8_t *)g + (size_t)b * mc_r16_col_bytes(t);
    int words = t == MC_DT_Q8_0 ? MC_QK / 4 : MC_QK / 8;
    uint8_t *o = dst;
    memcpy(o, col + 2 * i, 2);
    for (int m = 0; m < words; m++)
        memcpy(o + 2 + 4 * m, col + 2 * MC_R16 + 64 * m + 4 * i, 4);
}

/* The GGML blocks [b0, b0 + nb) of row r of a matrix in R16 layout (rows rows, rb bytes per row)
 * into dst; returns dst, or the row's own bytes when row r is a tail row (GGML layout). */
static inline const void *mc_r16_row_blocks(mc_dtype t, const void *w, int64_t rows, size_t rb,
                                            int64_t r, int64_t b0, int64_t nb, void *dst)
{
    size_t bb = mc_type_bytes(t, MC_QK);
    if (r >= rows / MC_R16 * MC_R16)
        return (const uint8_t *)w + (size_t)r * rb + (size_t)b0 * bb;
    const uint8_t *g = (const uint8_t *)w + (size_t)(r / MC_R16) * MC_R16 * rb;
    for (int64_t b = 0; b < nb; b++)
        mc_r16_get_block(t, g, b0 + b, (int)(r % MC_R16), (uint8_t *)dst + (size_t)b * bb);
    return dst;
}

#define MC_KASSERT(c)                                                                              \
    do {                                                                                           \
        if (!(c))                                                                                  \
            mc_kernels_bug(__FILE__, __LINE__, #c);                                                \
    } while (0)
_Noreturn void mc_kernels_bug(const char *file, int line, const char *what);

#endif
