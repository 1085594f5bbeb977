/* kernels_repack_k.c: the K-quant (Q6_K, Q4_K) side of MC_WLAYOUT_R16 (layout in r16k.h): one
 * row's super-block between GGUF's block and a 16-row block column, and whole 16-row groups in
 * place. kernels_repack.c calls the group functions; the ref kernel set reads single blocks back.
 *
 * Plain C, no ISA flags, no intrinsics (the same bytes come out on every machine). Depends only on
 * the kernel internals (kernels_impl.h, r16k.h). */
#include "r16k.h"

/* ---- GGUF blocks <-> the 256 unsigned quants ---- */

static void q6_from_ggml(const mc_blk_q6_k *b, uint8_t q[MC_QK_K])
{
    for (int n = 0; n < 2; n++)
        for (int l = 0; l < 32; l++) {
            uint8_t a = b->ql[64 * n + l], c = b->ql[64 * n + 32 + l], h = b->qh[32 * n + l];
            uint8_t *o = q + 128 * n + l;
            o[0] = (uint8_t)((a & 15) | (h & 3) << 4);
            o[32] = (uint8_t)((c & 15) | ((h >> 2) & 3) << 4);
            o[64] = (uint8_t)((a >> 4) | ((h >> 4) & 3) << 4);
            o[96] = (uint8_t)((c >> 4) | ((h >> 6) & 3) << 4);
        }
}

static void q6_to_ggml(const uint8_t q[MC_QK_K], mc_blk_q6_k *b)
{
    for (int n = 0; n < 2; n++)
        for (int l = 0; l < 32; l++) {
            const uint8_t *s = q + 128 * n + l;
            b->ql[64 * n + l] = (uint8_t)((s[0] & 15) | (s[64] & 15) << 4);
            b->ql[64 * n + 32 + l] = (uint8_t)((s[32] & 15) | (s[96] & 15) << 4);
            b->qh[32 * n + l] =
                (uint8_t)((s[0] >> 4) | (s[32] >> 4) << 2 | (s[64] >> 4) << 4 | (s[96] >> 4) << 6);
        }
}

static void q4_from_ggml(const mc_blk_q4_k *b, uint8_t q[MC_QK_K])
{
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) {
            q[64 * c + l] = b->qs[32 * c + l] & 15;
            q[64 * c + 32 + l] = b->qs[32 * c + l] >> 4;
        }
}

static void q4_to_ggml(const uint8_t q[MC_QK_K], mc_blk_q4_k *b)
{
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++)
            b->qs[32 * c + l] = (uint8_t)(q[64 * c + l] | q[64 * c + 32 + l] << 4);
}

/* The inverse of mc_q4k_scales: 8 (scale, min) pairs of 6 bits into GGUF's 12 bytes. */
static void q4_pack_scales(const uint8_t sc[8], const uint8_t mn[8], uint8_t s[12])
{
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)(sc[j] | (sc[j + 4] >> 4) << 6);
        s[j + 4] = (uint8_t)(mn[j] | (mn[j + 4] >> 4) << 6);
        s[j + 8] = (uint8_t)((sc[j + 4] & 15) | (mn[j + 4] & 15) << 4);
    }
}

/* ---- one row of a block column ---- */

/* 4 bytes as a word; the word operations below act on each byte alone (masks per byte, shifts
 * whose spill into the neighbouring byte is masked off), so byte order does not matter */
static uint32_t ld_u32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static void st_u32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static void q6_put(uint8_t *col, int r, const mc_blk_q6_k *b)
{
    uint8_t q[MC_QK_K];
    q6_from_ggml(b, q);
    memcpy(col + 2 * r, &b->d, 2);
    for (int j = 0; j < 16; j++)
        col[MC_R16K_Q6_SC + 16 * j + r] = (uint8_t)b->scales[j];
    for (int j = 0; j < 16; j++) { /* 4 quants at a time, bytewise in 32-bit words */
        uint32_t fourth = ld_u32(q + 16 * j + 12);
        for (int k = 0; k < 3; k++) {
            uint32_t top = (fourth >> (2 * k)) & 0x03030303u;
            st_u32(col + MC_R16K_Q6_Q + MC_R16K_Q6_SB * j + 64 * k + 4 * r,
                   ld_u32(q + 16 * j + 4 * k) | top << 6);
        }
    }
}

static void q6_get(const uint8_t *col, int r, mc_blk_q6_k *b)
{
    uint8_t q[MC_QK_K];
    memcpy(&b->d, col + 2 * r, 2);
    for (int j = 0; j < 16; j++)
        b->scales[j] = (int8_t)col[MC_R16K_Q6_SC + 16 * j + r];
    for (int j = 0; j < 16; j++) {
        uint32_t fourth = 0;
        for (int k = 0; k < 3; k++) {
            uint32_t v = ld_u32(col + MC_R16K_Q6_Q + MC_R16K_Q6_SB * j + 64 * k + 4 * r);
            st_u32(q + 16 * j + 4 * k, v & 0x3f3f3f3fu);
            fourth |= ((v >> 6) & 0x03030303u) << (2 * k);
        }
        st_u32(q + 16 * j + 12, fourth);
    }
    q6_to_ggml(q, b);
}

static void q4_put(uint8_t *col, int r, const mc_blk_q4_k *b)
{
    uint8_t q[MC_QK_K], sc[8], mn[8];
    q4_from_ggml(b, q);
    mc_q4k_scales(b->scales, sc, mn);
    memcpy(col + 2 * r, &b->d, 2);
    memcpy(col + 2 * MC_R16 + 2 * r, &b->dmin, 2);
    for (int j = 0; j < 8; j++)
        col[MC_R16K_Q4_S + 16 * j + r] = (uint8_t)(sc[j] | (mn[j] >> 4) << 6);
    for (int p = 0; p < 4; p++)
        col[MC_R16K_Q4_M + 16 * p + r] = (uint8_t)((mn[2 * p] & 15) | (mn[2 * p + 1] & 15) << 4);
    for (int j = 0; j < 8; j++)
        for (int k = 0; k < 4; k++)
            st_u32(col + MC_R16K_Q4_Q + MC_R16K_Q4_SB * j + 64 * k + 4 * r,
                   ld_u32(q + 32 * j + 4 * k) | ld_u32(q + 32 * j + 16 + 4 * k) << 4);
}

static void q4_get(const uint8_t *col, int r, mc_blk_q4_k *b)
{
    uint8_t q[MC_QK_K], sc[8], mn[8];
    memcpy(&b->d, col + 2 * r, 2);
    memcpy(&b->dmin, col + 2 * MC_R16 + 2 * r, 2);
    for (int j = 0; j < 8; j++) {
        uint8_t s = col[MC_R16K_Q4_S + 16 * j + r], m = col[MC_R16K_Q4_M + 16 * (j / 2) + r];
        sc[j] = s & 63;
        mn[j] = (uint8_t)((s >> 6) << 4 | ((m >> (4 * (j & 1))) & 15));
    }
    q4_pack_scales(sc, mn, b->scales);
    for (int j = 0; j < 8; j++)
        for (int k = 0; k < 4; k++) {
            uint32_t v = ld_u32(col + MC_R16K_Q4_Q + MC_R16K_Q4_SB * j + 64 * k + 4 * r);
            st_u32(q + 32 * j + 4 * k, v & 0x0f0f0f0fu);
            st_u32(q + 32 * j + 16 + 4 * k, (v >> 4) & 0x0f0f0f0fu);
        }
    q4_to_ggml(q, b);
}

void mc_r16k_get_block(mc_dtype t, const uint8_t *col, int r, void *blk)
{
    MC_KASSERT(mc_r16k_type(t) && r >= 0 && r < MC_R16);
    if (t == MC_DT_Q6_K)
        q6_get(col, r, blk);
    else
        q4_get(col, r, blk);
}

void mc_r16k_put_block(mc_dtype t, uint8_t *col, int r, const void *blk)
{
    MC_KASSERT(mc_r16k_type(t) && r >= 0 && r < MC_R16);
    if (t == MC_DT_Q6_K)
        q6_put(col, r, blk);
    else
        q4_put(col, r, blk);
}

/* ---- whole groups ---- */

void mc_r16k_group_to(mc_dtype t, uint8_t *g, int64_t nsb, size_t rb, uint8_t *tmp)
{
    size_t bb = mc_type_bytes(t, MC_QK_K), cb = mc_r16k_col_bytes(t);
    memcpy(tmp, g, MC_R16 * rb);
    for (int r = 0; r < MC_R16; r++)
        for (int64_t sb = 0; sb < nsb; sb++)
            mc_r16k_put_block(t, g + (size_t)sb * cb, r, tmp + (size_t)r * rb + (size_t)sb * bb);
}

void mc_r16k_group_from(mc_dtype t, uint8_t *g, int64_t nsb, size_t rb, uint8_t *tmp)
{
    size_t bb = mc_type_bytes(t, MC_QK_K), cb = mc_r16k_col_bytes(t);
    memcpy(tmp, g, MC_R16 * rb);
    for (int r = 0; r < MC_R16; r++)
        for (int64_t sb = 0; sb < nsb; sb++)
            mc_r16k_get_block(t, tmp + (size_t)sb * cb, r, g + (size_t)r * rb + (size_t)sb * bb);
}
