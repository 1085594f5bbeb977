/* kernels_quant.c: reference weight quantisers (f32 row -> Q8_0 / Q4_0 / Q4_K / Q6_K blocks).
 *
 * Simple deterministic round-to-nearest schemes (no search for optimal scales): used by
 * `moecap make-model` to write GGUF files and by the tests. They are ISA-independent on purpose:
 * every kernel table points here, so a written model is byte-identical on every machine.
 * Must not depend on other kernel files and must never include intrinsics. */
#include "kernels_impl.h"

#include <math.h>

static int clampi(long v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : (int)v;
}

/* Q8_0: d = amax / 127, q = round(x / d). */
void mc_quant_q8_0_ref(const float *x, void *dst, int64_t n)
{
    mc_blk_q8_0 *b = dst;
    for (int64_t i = 0; i < n / MC_QK; i++) {
        const float *v = x + i * MC_QK;
        float amax = 0.0f;
        for (int j = 0; j < MC_QK; j++)
            amax = fmaxf(amax, fabsf(v[j]));
        float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = mc_f2h(d);
        for (int j = 0; j < MC_QK; j++)
            b[i].qs[j] = (int8_t)clampi(lrintf(v[j] * id), -127, 127);
    }
}

/* Q4_0: the value of largest magnitude maps to q = 0 (d = max / -8); q = floor(x/d + 8.5) clamped
 * to 15, so the range [-8d, 7d] covers the block. */
void mc_quant_q4_0_ref(const float *x, void *dst, int64_t n)
{
    mc_blk_q4_0 *b = dst;
    for (int64_t i = 0; i < n / MC_QK; i++) {
        const float *v = x + i * MC_QK;
        float amax = 0.0f, mx = 0.0f;
        for (int j = 0; j < MC_QK; j++)
            if (fabsf(v[j]) > amax) {
                amax = fabsf(v[j]);
                mx = v[j];
            }
        float d = mx / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = mc_f2h(d);
        for (int j = 0; j < MC_QK / 2; j++) {
            int lo = clampi((long)floorf(v[j] * id + 8.5f), 0, 15);
            int hi = clampi((long)floorf(v[j + 16] * id + 8.5f), 0, 15);
            b[i].qs[j] = (uint8_t)(lo | (hi << 4));
        }
    }
}

/* Packs 8 six-bit (scale, min) pairs the way mc_q4k_scales unpacks them. */
static void q4k_pack_scales(const uint8_t sc[8], const uint8_t mn[8], uint8_t s[12])
{
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)(sc[j] | ((sc[j + 4] >> 4) << 6));
        s[j + 4] = (uint8_t)(mn[j] | ((mn[j + 4] >> 4) << 6));
        s[j + 8] = (uint8_t)((sc[j + 4] & 0xF) | ((mn[j + 4] & 0xF) << 4));
    }
}

/* Q4_K super-block: per sub-block of 32, scale s = (max - min) / 15 and min m = -min(0, min x);
 * s and m are quantised to 6 bits against d = max s / 63, dmin = max m / 63; then
 * q = round((x + dmin*mq) / (d*sq)) in [0, 15]. */
static void quant_q4_k_block(const float *v, mc_blk_q4_k *b)
{
    float s[8], m[8], smax = 0.0f, mmax = 0.0f;
    for (int j = 0; j < 8; j++) {
        float lo = 0.0f, hi = -INFINITY;
        for (int l = 0; l < 32; l++) {
            lo = fminf(lo, v[32 * j + l]);
            hi = fmaxf(hi, v[32 * j + l]);
        }
        s[j] = (hi - lo) / 15.0f;
        m[j] = -lo;
        smax = fmaxf(smax, s[j]);
        mmax = fmaxf(mmax, m[j]);
    }
    b->d = mc_f2h(smax / 63.0f);
    b->dmin = mc_f2h(mmax / 63.0f);
    float d = mc_h2f(b->d), dmin = mc_h2f(b->dmin);
    uint8_t sq[8], mq[8];
    for (int j = 0; j < 8; j++) {
        sq[j] = (uint8_t)(d > 0.0f ? clampi(lrintf(s[j] / d), 0, 63) : 0);
        mq[j] = (uint8_t)(dmin > 0.0f ? clampi(lrintf(m[j] / dmin), 0, 63) : 0);
    }
    q4k_pack_scales(sq, mq, b->scales);
    uint8_t q[MC_QK_K];
    for (int e = 0; e < MC_QK_K; e++) {
        float ed = d * sq[e / 32], em = dmin * mq[e / 32];
        q[e] = (uint8_t)(ed > 0.0f ? clampi(lrintf((v[e] + em) / ed), 0, 15) : 0);
    }
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++)
            b->qs[32 * c + l] = (uint8_t)(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
}

void mc_quant_q4_k_ref(const float *x, void *dst, int64_t n)
{
    mc_blk_q4_k *b = dst;
    for (int64_t i = 0; i < n / MC_QK_K; i++)
        quant_q4_k_block(x + i * MC_QK_K, &b[i]);
}

/* Q6_K super-block: per sub-block of 16, scale s = amax / 31 quantised to int8 against
 * d = max s / 127; q = round(x / (d*sq)) in [-32, 31], stored as q + 32 in 6 bits. */
static void quant_q6_k_block(const float *v, mc_blk_q6_k *b)
{
    float s[16], smax = 0.0f;
    for (int j = 0; j < 16; j++) {
        float amax = 0.0f;
        for (int l = 0; l < 16; l++)
            amax = fmaxf(amax, fabsf(v[16 * j + l]));
        s[j] = amax / 31.0f;
        smax = fmaxf(smax, s[j]);
    }
    b->d = mc_f2h(smax / 127.0f);
    float d = mc_h2f(b->d);
    uint8_t L[MC_QK_K];
    for (int j = 0; j < 16; j++)
        b->scales[j] = (int8_t)(d > 0.0f ? clampi(lrintf(s[j] / d), -128, 127) : 0);
    for (int e = 0; e < MC_QK_K; e++) {
        float ed = d * b->scales[e / 16];
        L[e] = (uint8_t)((ed != 0.0f ? clampi(lrintf(v[e] / ed), -32, 31) : 0) + 32);
    }
    for (int n = 0; n < 2; n++) {
        const uint8_t *q = L + 128 * n;
        for (int l = 0; l < 32; l++) {
            b->ql[64 * n + l] = (uint8_t)((q[l] & 0xF) | ((q[l + 64] & 0xF) << 4));
            b->ql[64 * n + l + 32] = (uint8_t)((q[l + 32] & 0xF) | ((q[l + 96] & 0xF) << 4));
            b->qh[32 * n + l] = (uint8_t)((q[l] >> 4) | ((q[l + 32] >> 4) << 2) |
                                          ((q[l + 64] >> 4) << 4) | ((q[l + 96] >> 4) << 6));
        }
    }
}

void mc_quant_q6_k_ref(const float *x, void *dst, int64_t n)
{
    mc_blk_q6_k *b = dst;
    for (int64_t i = 0; i < n / MC_QK_K; i++)
        quant_q6_k_block(x + i * MC_QK_K, &b[i]);
}
