/* r16k.h: MC_WLAYOUT_R16 for the K-quants Q6_K and Q4_K (kernels.h "weight layouts";
 * docs/KERNELS.md "Repacked weights"). Internal to the kernels, tests and benchmarks.
 *
 * As for Q8_0/Q4_0, a group of 16 rows keeps its bytes and is rewritten as block columns: column
 * sb holds super-block sb (256 elements) of the 16 rows, 16 * block bytes long. Within a column
 * the quants of the 16 rows are interleaved in 4-byte words, "vector" v at byte Q + 64 v, row r's
 * word at Q + 64 v + 4 r, so one 64-byte load feeds 16 rows' dot products with one broadcast
 * 4-byte activation piece. The quants are stored unsigned, as in GGUF (Q6_K: q in 0..63, value
 * d * sc * (q - 32); Q4_K: q in 0..15, value d * sc * q - dmin * m).
 *
 * Q6_K column (3360 bytes):
 *   0     f16 d of rows 0..15                                                  32 bytes
 *   32    int8 scale of sub-block j (16 elements) of row r at 32 + 16 j + r    256 bytes
 *   288   sub-block j (elements 16j .. 16j+15) at 288 + 192 j: three vectors k = 0, 1, 2;
 *         byte i of row r's word in vector k: bits 0..5 = q[16j + 4k + i], bits 6..7 = bits
 *         2k, 2k+1 of q[16j + 12 + i] (the fourth word of the sub-block is spread over the
 *         others' top bits)                                                    3072 bytes
 * Q4_K column (2304 bytes):
 *   0     f16 d of rows 0..15, 32 f16 dmin of rows 0..15                       64 bytes
 *   64    byte 64 + 16 j + r = sc_j | (m_j >> 4) << 6 (6-bit scale, top 2 bits of the min)
 *   192   byte 192 + 16 p + r = (m_2p & 15) | (m_2p+1 & 15) << 4                64 bytes
 *   256   sub-block j (elements 32j .. 32j+31) at 256 + 256 j: four vectors k; byte i of row r's
 *         word in vector k: low nibble q[32j + 4k + i], high nibble q[32j + 16 + 4k + i]
 *
 * Plain C, no intrinsics; depends only on kernels_impl.h. */
#ifndef MC_R16K_H
#define MC_R16K_H

#include "kernels_impl.h"

#define MC_R16K_Q6_SC 32  /* Q6_K column: scales */
#define MC_R16K_Q6_Q 288  /* Q6_K column: quants */
#define MC_R16K_Q6_SB 192 /* Q6_K column: bytes per sub-block of quants */
#define MC_R16K_Q4_S 64   /* Q4_K column: scales with the top bits of the mins */
#define MC_R16K_Q4_M 192  /* Q4_K column: low bits of the mins */
#define MC_R16K_Q4_Q 256  /* Q4_K column: quants */
#define MC_R16K_Q4_SB 256 /* Q4_K column: bytes per sub-block of quants */

/* 1 for the K-quant types that have an R16 layout (Q6_K, Q4_K). */
static inline int mc_r16k_type(mc_dtype t)
{
    return t == MC_DT_Q6_K || t == MC_DT_Q4_K;
}

/* Bytes of one block column of a group: 3360 (Q6_K), 2304 (Q4_K). */
static inline size_t mc_r16k_col_bytes(mc_dtype t)
{
    return MC_R16 * (t == MC_DT_Q6_K ? sizeof(mc_blk_q6_k) : sizeof(mc_blk_q4_k));
}

/* Row r (0..15) of the column at col as one GGML block at blk, and back (kernels_repack_k.c). */
void mc_r16k_get_block(mc_dtype t, const uint8_t *col, int r, void *blk);
void mc_r16k_put_block(mc_dtype t, uint8_t *col, int r, const void *blk);

/* Super-block sb of row r of a matrix in R16 layout (rows rows, rb bytes per row) as a GGML
 * block: copied into dst for a row of a full group, the row's own bytes for a tail row. */
static inline const void *mc_r16k_row_block(mc_dtype t, const void *w, int64_t rows, size_t rb,
                                            int64_t r, int64_t sb, void *dst)
{
    size_t bb = mc_type_bytes(t, MC_QK_K);
    if (r >= rows / MC_R16 * MC_R16)
        return (const uint8_t *)w + (size_t)r * rb + (size_t)sb * bb;
    const uint8_t *g = (const uint8_t *)w + (size_t)(r / MC_R16) * MC_R16 * rb;
    mc_r16k_get_block(t, g + (size_t)sb * mc_r16k_col_bytes(t), (int)(r % MC_R16), dst);
    return dst;
}

/* One group of 16 GGML rows at g (nsb super-blocks each, rb bytes per row) into R16 and back,
 * in place through tmp (16 * rb bytes). */
void mc_r16k_group_to(mc_dtype t, uint8_t *g, int64_t nsb, size_t rb, uint8_t *tmp);
void mc_r16k_group_from(mc_dtype t, uint8_t *g, int64_t nsb, size_t rb, uint8_t *tmp);

#endif
