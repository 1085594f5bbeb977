/* test_kernels.c: the engine kernels. Every kernel of every ISA this machine runs is checked
 * against the scalar `_ref` oracle on random inputs (mc_rng, fixed seeds); the ref kernels
 * themselves are checked on hand-made blocks with exact expected values, byte layouts, f16/bf16
 * conversion edge cases and quantise -> dequantise error bounds. Tolerances are stated (and
 * justified) where each comparison is made; docs/KERNELS.md collects them. */
#include "harness.h"
#include "kernel_check.h"
#include "kernels.h"
#include "kernels_impl.h"
#include "pool.h"

#include <stdatomic.h>
#include <stddef.h>

static const mc_dtype all_types[] = {MC_DT_F32,  MC_DT_F16,  MC_DT_BF16, MC_DT_Q8_0,
                                     MC_DT_Q4_0, MC_DT_Q4_K, MC_DT_Q6_K};
#define N_TYPES ((int)(sizeof all_types / sizeof all_types[0]))

static const char *isas[] = {"avx2", "avxvnni", "avx512"};
#define N_ISAS 3

static void fill_normal(mc_rng *r, float *x, int64_t n, double sd)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(mc_rng_normal(r) * sd);
}

/* The ref table and, for each SIMD ISA runnable here, its table; returns how many. */
static int simd_tables(mc_kernel_table *out, const char **names)
{
    int n = 0;
    for (int i = 0; i < N_ISAS; i++)
        if (mc_kernels_table_for(isas[i], &out[n], NULL) == MC_OK)
            names[n++] = isas[i];
    return n;
}

static mc_kernel_table ref_table(void)
{
    mc_kernel_table t;
    if (mc_kernels_table_for("ref", &t, NULL) != MC_OK)
        abort();
    return t;
}

/* ---------------------------------------------------------------- sizes and layouts ---- */

TEST(row_sizes)
{
    size_t b = 0;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_kernels_row_bytes(MC_DT_F32, 7, &b, &d), MC_OK);
    CHECK_EQ_INT(b, 28);
    CHECK_EQ_INT(mc_kernels_row_bytes(MC_DT_F16, 7, &b, &d), MC_OK);
    CHECK_EQ_INT(b, 14);
    CHECK_EQ_INT(mc_kernels_row_bytes(MC_DT_BF16, 4096, &b, &d), MC_OK);
    CHECK_EQ_INT(b, 8192);
    CHECK_EQ_INT(mc_kernels_row_bytes(MC_DT_Q8_0, 4096, &b, &d), MC_OK);
    CHECK_EQ_INT(b, 128 * 34);
    CHECK_EQ_INT(mc_kernels_row_bytes(MC_DT_Q4_0, 64, &b, &d), MC_OK);
    CHECK_EQ_INT(b, 36);
    CHECK_EQ_INT(mc_kernels_row_bytes(MC_DT_Q4_K, 512, &b, &d), MC_OK);
    CHECK_EQ_INT(b, 288);
    CHECK_EQ_INT(mc_kernels_row_bytes(MC_DT_Q6_K, 256, &b, &d), MC_OK);
    CHECK_EQ_INT(b, 210);
    CHECK_EQ_INT(mc_kernels_row_bytes(MC_DT_Q8_0, 0, &b, &d), MC_OK);
    CHECK_EQ_INT(b, 0);
    CHECK_EQ_INT(mc_kernels_row_bytes(MC_DT_Q4_0, 48, &b, &d), MC_ERR_ARG);
    CHECK_CONTAINS(d.msg, "q4_0 row of 48 elements");
    CHECK_EQ_INT(mc_kernels_row_bytes(MC_DT_Q6_K, 128, &b, &d), MC_ERR_ARG);
    CHECK_EQ_INT(mc_kernels_row_bytes(MC_DT_F16, -2, &b, &d), MC_ERR_ARG);
    CHECK_EQ_INT(mc_kernels_row_bytes(MC_DT_Q5_K, 256, &b, &d), MC_ERR_UNSUPPORTED);
    CHECK_CONTAINS(d.msg, "q5_k");
    CHECK_EQ_INT(mc_kernels_row_bytes(MC_DT_F32, INT64_MAX, &b, &d), MC_ERR_RANGE);
    CHECK_EQ_INT(mc_kernels_block_elems(MC_DT_Q4_K), 256);
    CHECK_EQ_INT(mc_kernels_block_bytes(MC_DT_Q4_K), 144);
    CHECK_EQ_INT(mc_kernels_block_bytes(MC_DT_Q6_K), 210);
    CHECK_EQ_INT(mc_kernels_block_bytes(MC_DT_Q8_0), 34);
    CHECK_EQ_INT(mc_kernels_block_bytes(MC_DT_Q4_0), 18);
    CHECK(!mc_kernels_type_supported(MC_DT_Q4_1));
    CHECK(mc_kernels_type_supported(MC_DT_BF16));
    CHECK_EQ_INT(mc_kernels_act_row_bytes(MC_DT_Q4_0, 64), 80);
    CHECK_EQ_INT(mc_kernels_act_row_bytes(MC_DT_Q6_K, 512), 584);
    CHECK_EQ_INT(mc_kernels_act_row_bytes(MC_DT_F16, 10), 40);
}

/* Field offsets of the GGUF blocks (ggml-common.h order). */
TEST(block_layouts)
{
    CHECK_EQ_INT(offsetof(mc_blk_q8_0, qs), 2);
    CHECK_EQ_INT(offsetof(mc_blk_q4_0, qs), 2);
    CHECK_EQ_INT(offsetof(mc_blk_q4_k, dmin), 2);
    CHECK_EQ_INT(offsetof(mc_blk_q4_k, scales), 4);
    CHECK_EQ_INT(offsetof(mc_blk_q4_k, qs), 16);
    CHECK_EQ_INT(offsetof(mc_blk_q6_k, qh), 128);
    CHECK_EQ_INT(offsetof(mc_blk_q6_k, scales), 192);
    CHECK_EQ_INT(offsetof(mc_blk_q6_k, d), 208);
}

TEST(dispatch)
{
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_kernels_init("ref", &d), MC_OK);
    CHECK_STR(mc_kernels_isa(), "ref");
    CHECK_EQ_INT(mc_kernels_init("sse9", &d), MC_ERR_ARG);
    CHECK_CONTAINS(d.msg, "unknown kernel set 'sse9'");
    CHECK_STR(mc_kernels_isa(), "ref"); /* a failed init leaves the table alone */
    CHECK_EQ_INT(mc_kernels_init(NULL, &d), MC_OK);
    CHECK_STR(mc_kernels_isa(), mc_kernels_isa_best());
    CHECK(mc_kernels_isa_available("ref"));
    CHECK(!mc_kernels_isa_available("neon"));
    for (int i = 0; i < N_ISAS; i++) {
        mc_err e = mc_kernels_init(isas[i], &d);
        if (mc_kernels_isa_available(isas[i])) {
            CHECK_EQ_INT(e, MC_OK);
            CHECK_STR(mc_kernels_isa(), isas[i]);
        } else {
            CHECK_EQ_INT(e, MC_ERR_UNSUPPORTED);
        }
    }
    CHECK_EQ_INT(mc_kernels_init("auto", &d), MC_OK);
    fprintf(stderr, "     kernels: best ISA here: %s\n", mc_kernels_isa_best());
}

/* ---------------------------------------------------------------- conversions ---- */

TEST(f16_conversion)
{
    CHECK_EQ_INT(mc_kernels_f32_to_f16(1.0f), 0x3c00);
    CHECK_EQ_INT(mc_kernels_f32_to_f16(-2.0f), 0xc000);
    CHECK_EQ_INT(mc_kernels_f32_to_f16(65504.0f), 0x7bff);
    CHECK_EQ_INT(mc_kernels_f32_to_f16(65519.0f), 0x7bff);
    CHECK_EQ_INT(mc_kernels_f32_to_f16(65520.0f), 0x7c00); /* tie rounds to even = inf */
    CHECK_EQ_INT(mc_kernels_f32_to_f16(INFINITY), 0x7c00);
    CHECK_EQ_INT(mc_kernels_f32_to_f16(0x1p-24f), 0x0001);        /* smallest subnormal */
    CHECK_EQ_INT(mc_kernels_f32_to_f16(0x1p-25f), 0x0000);        /* tie to even: 0 */
    CHECK_EQ_INT(mc_kernels_f32_to_f16(0x1.8p-24f), 0x0002);      /* 1.5 ulp: tie to even 2 */
    CHECK_EQ_INT(mc_kernels_f32_to_f16(0x1p-14f), 0x0400);        /* smallest normal */
    CHECK_EQ_INT(mc_kernels_f32_to_f16(1.0f + 0x1p-11f), 0x3c00); /* tie to even */
    CHECK_EQ_INT(mc_kernels_f32_to_f16(1.0f + 0x1.8p-11f), 0x3c01);
    CHECK(isnan(mc_kernels_f16_to_f32(mc_kernels_f32_to_f16(NAN))));
    CHECK_NEAR(mc_kernels_f16_to_f32(0x3555), 0.333251953125, 0);
    CHECK_NEAR(mc_kernels_f16_to_f32(0x0001), 0x1p-24, 0);
    CHECK_NEAR(mc_kernels_f16_to_f32(0xfbff), -65504.0, 0);
    /* every non-NaN f16 survives f16 -> f32 -> f16 */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff))
            continue;
        if (mc_kernels_f32_to_f16(mc_kernels_f16_to_f32((uint16_t)h)) != h)
            bad++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(mc_kernels_f32_to_bf16(1.0f), 0x3f80);
    CHECK_EQ_INT(mc_kernels_f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);   /* tie to even */
    CHECK_EQ_INT(mc_kernels_f32_to_bf16(1.0f + 0x1.8p-8f), 0x3f81); /* 0.75 ulp */
    CHECK_EQ_INT(mc_kernels_f32_to_bf16(1.0f + 0x1.8p-7f), 0x3f82); /* 1.5 ulp: tie to even */
    CHECK_NEAR(mc_kernels_bf16_to_f32(0xc040), -3.0, 0);
    CHECK(isnan(mc_kernels_bf16_to_f32(mc_kernels_f32_to_bf16(NAN))));
}

/* SIMD f16/bf16 row writers (F16C / integer rounding) agree bit for bit with the scalar ones,
 * including subnormals, overflow and ties. */
TEST(float_rows_bit_exact)
{
    mc_kernel_table ref = ref_table(), tabs[N_ISAS];
    const char *names[N_ISAS];
    int nt = simd_tables(tabs, names);
    enum { N = 4099 };
    float *x = mc_malloc(N * 4);
    uint16_t *a = mc_malloc(N * 2), *b = mc_malloc(N * 2);
    mc_rng r;
    mc_rng_seed(&r, 11);
    for (int i = 0; i < N; i++) {
        uint32_t bits = (uint32_t)mc_rng_u64(&r);
        if (i % 3 == 0) /* random magnitudes around the f16 range */
            bits = (bits & 0x807fffffu) | ((uint32_t)(100 + mc_rng_below(&r, 60)) << 23);
        if (i % 7 == 0) /* exact ties */
            bits &= 0xffffe000u, bits |= 0x1000u;
        memcpy(&x[i], &bits, 4);
        if (isnan(x[i]))
            x[i] = 1.0f;
    }
    for (int k = 0; k < nt; k++) {
        for (int f = 0; f < 2; f++) {
            mc_dtype t = f ? MC_DT_BF16 : MC_DT_F16;
            ref.quant[t](x, a, N);
            tabs[k].quant[t](x, b, N);
            int diff = memcmp(a, b, N * 2) != 0;
            if (diff)
                fprintf(stderr, "     %s %s row writer differs from ref\n", names[k],
                        mc_dtype_name(t));
            CHECK(!diff);
        }
    }
    mc_free(x);
    mc_free(a);
    mc_free(b);
}

/* ---------------------------------------------------------------- hand-made blocks ---- */

TEST(q4_0_known_block)
{
    mc_blk_q4_0 b;
    b.d = mc_kernels_f32_to_f16(0.5f);
    for (int j = 0; j < 16; j++)
        b.qs[j] = (uint8_t)(j | ((15 - j) << 4));
    float y[32];
    mc_kernel_table ref = ref_table();
    ref.dequant[MC_DT_Q4_0](&b, y, 32);
    for (int j = 0; j < 16; j++) {
        CHECK_NEAR(y[j], 0.5 * (j - 8), 0);
        CHECK_NEAR(y[16 + j], 0.5 * (7 - j), 0);
    }
    /* byte layout as in a GGUF file: f16 scale (little endian) then the nibbles */
    const uint8_t *p = (const uint8_t *)&b;
    CHECK_EQ_INT(p[0], 0x00);
    CHECK_EQ_INT(p[1], 0x38);
    CHECK_EQ_INT(p[2], 0xf0);
    CHECK_EQ_INT(p[17], 0x0f);
}

TEST(q8_0_known_block)
{
    mc_blk_q8_0 b;
    b.d = mc_kernels_f32_to_f16(0.25f);
    for (int j = 0; j < 32; j++)
        b.qs[j] = (int8_t)(j * 8 - 128);
    float y[32];
    mc_kernel_table ref = ref_table();
    ref.dequant[MC_DT_Q8_0](&b, y, 32);
    for (int j = 0; j < 32; j++)
        CHECK_NEAR(y[j], 0.25 * (j * 8 - 128), 0);
}

/* Q4_K with scale byte patterns that exercise both halves of the 6-bit packing. */
TEST(q4_k_known_block)
{
    mc_blk_q4_k b;
    memset(&b, 0, sizeof b);
    b.d = mc_kernels_f32_to_f16(0.5f);
    b.dmin = mc_kernels_f32_to_f16(0.25f);
    /* sub-block j: scale = 10 + 7j (so 4..7 need the high bits), min = 60 - 5j */
    uint8_t sc[8], mn[8], s2[8], m2[8];
    for (int j = 0; j < 8; j++) {
        sc[j] = (uint8_t)(10 + 7 * j);
        mn[j] = (uint8_t)(60 - 5 * j);
    }
    for (int j = 0; j < 4; j++) {
        b.scales[j] = (uint8_t)(sc[j] | ((sc[j + 4] >> 4) << 6));
        b.scales[j + 4] = (uint8_t)(mn[j] | ((mn[j + 4] >> 4) << 6));
        b.scales[j + 8] = (uint8_t)((sc[j + 4] & 0xF) | ((mn[j + 4] & 0xF) << 4));
    }
    mc_q4k_scales(b.scales, s2, m2);
    CHECK(memcmp(sc, s2, 8) == 0);
    CHECK(memcmp(mn, m2, 8) == 0);
    CHECK_EQ_INT(b.scales[4], 60 | ((40 >> 4) << 6)); /* m0 = 60, m4 = 40: high bits 2 */
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++)
            b.qs[32 * c + l] = (uint8_t)((l % 16) | ((15 - l % 16) << 4));
    float y[256];
    mc_kernel_table ref = ref_table();
    ref.dequant[MC_DT_Q4_K](&b, y, 256);
    int bad = 0;
    for (int e = 0; e < 256; e++) {
        int j = e / 32, l = e % 32;
        int q = (j % 2 == 0) ? l % 16 : 15 - l % 16;
        double want = 0.5 * sc[j] * q - 0.25 * mn[j];
        bad += y[e] != (float)want;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_NEAR(y[0], -15.0, 0);                      /* q 0, sub-block 0: -0.25*60 */
    CHECK_NEAR(y[255], 0.5 * 59 * 0 - 0.25 * 25, 0); /* last: q = 15 - 15 = 0 */
}

TEST(q6_k_known_block)
{
    mc_blk_q6_k b;
    memset(&b, 0, sizeof b);
    b.d = mc_kernels_f32_to_f16(0.125f);
    for (int j = 0; j < 16; j++)
        b.scales[j] = (int8_t)(j % 2 ? -(j + 1) : j + 1);
    /* element e gets q = e % 64 (stored value), i.e. weight (e%64 - 32) */
    for (int n = 0; n < 2; n++)
        for (int l = 0; l < 32; l++) {
            int q[4];
            for (int k = 0; k < 4; k++)
                q[k] = (128 * n + 32 * k + l) % 64;
            b.ql[64 * n + l] = (uint8_t)((q[0] & 0xF) | ((q[2] & 0xF) << 4));
            b.ql[64 * n + l + 32] = (uint8_t)((q[1] & 0xF) | ((q[3] & 0xF) << 4));
            b.qh[32 * n + l] = (uint8_t)((q[0] >> 4) | ((q[1] >> 4) << 2) | ((q[2] >> 4) << 4) |
                                         ((q[3] >> 4) << 6));
        }
    float y[256];
    mc_kernel_table ref = ref_table();
    ref.dequant[MC_DT_Q6_K](&b, y, 256);
    int bad = 0;
    for (int e = 0; e < 256; e++)
        bad += y[e] != (float)(0.125 * b.scales[e / 16] * (e % 64 - 32));
    CHECK_EQ_INT(bad, 0);
    CHECK_NEAR(y[0], 0.125 * 1 * -32, 0);
    CHECK_NEAR(y[31], 0.125 * -2 * -1, 0);
}

/* Quantiser outputs on hand-computable inputs. */
TEST(quantise_known)
{
    mc_kernel_table ref = ref_table();
    float x[32], y[32];
    for (int j = 0; j < 32; j++)
        x[j] = (float)(j - 16) * 0.5f; /* -8 .. 7.5 */
    mc_blk_q4_0 q4;
    ref.quant[MC_DT_Q4_0](x, &q4, 32);
    CHECK_NEAR(mc_kernels_f16_to_f32(q4.d), 1.0, 0); /* max |x| = -8 -> d = -8 / -8 */
    ref.dequant[MC_DT_Q4_0](&q4, y, 32);
    CHECK_NEAR(y[0], -8.0, 0);
    CHECK_NEAR(y[31], 7.0, 0); /* 7.5 rounds half up (floor(x + 8.5)) to q = 15 -> 7 */
    CHECK_NEAR(y[17], 1.0, 0); /* 0.5: floor(0.5 + 8.5) = 9 -> 1 */
    CHECK_NEAR(y[16], 0.0, 0); /* 0: floor(8.5) = 8 -> 0 */
    mc_blk_q8_0 q8;
    ref.quant[MC_DT_Q8_0](x, &q8, 32);
    CHECK_EQ_INT(q8.qs[0], -127);
    CHECK_EQ_INT(q8.qs[16], 0);
}

/* ---------------------------------------------------------------- round trips ---- */

/* quantise -> dequantise: the error of every element is bounded by the type's step size.
 *   Q8_0: |e| <= d/2 + 127*|d - f16(d)| <= d/2 + 127*d*2^-11 with d = amax/127 -> 0.57 d
 *   Q4_0: step |d| = amax/8; rounding d/2, the clamped +8 end costs one step -> bound 1.01 |d|
 *   Q4_K: step s_j*(1 +/- 1/126) plus the 6-bit min error dmin/2      -> bound s_j + dmin
 *   Q6_K: step d*sc_j ~ amax_j/31, half a step + scale rounding       -> bound 0.6 amax_j/31 + d
 *   F16/BF16: relative 2^-11 / 2^-8 (half an ulp).                                           */
TEST(quant_roundtrip_bounds)
{
    mc_kernel_table ref = ref_table();
    enum { N = 256 * 16 };
    float *x = mc_malloc(N * 4), *y = mc_malloc(N * 4);
    void *q = mc_malloc(N * 4);
    mc_rng r;
    mc_rng_seed(&r, 5);
    for (int i = 0; i < N; i++) /* blocks of very different magnitudes, some with offsets */
        x[i] = (float)(mc_rng_normal(&r) * pow(10.0, (double)((i / 256) % 5) - 2.0) +
                       ((i / 512) % 3 == 1 ? 0.3 : 0.0));
    for (int ti = 0; ti < N_TYPES; ti++) {
        mc_dtype t = all_types[ti];
        ref.quant[t](x, q, N);
        ref.dequant[t](q, y, N);
        double worst = 0; /* max over elements of |err| / bound */
        int64_t be = t == MC_DT_Q4_K || t == MC_DT_Q6_K ? 256 : 32;
        for (int64_t b0 = 0; b0 < N; b0 += be) {
            for (int64_t i = b0; i < b0 + be; i++) {
                double bound;
                int64_t s0 = t == MC_DT_Q6_K ? i / 16 * 16 : i / 32 * 32,
                        sn = t == MC_DT_Q6_K ? 16 : 32;
                double amax = 0, lo = 0, hi = -1e30, bmax = 0;
                for (int64_t k = s0; k < s0 + sn; k++) {
                    amax = fmax(amax, fabs(x[k]));
                    lo = fmin(lo, x[k]);
                    hi = fmax(hi, x[k]);
                }
                for (int64_t k = b0; k < b0 + be; k++)
                    bmax = fmax(bmax, fabs(x[k]));
                switch (t) {
                case MC_DT_F32: bound = 0; break;
                case MC_DT_F16: bound = fabs(x[i]) * 0x1p-11 + 0x1p-25; break;
                case MC_DT_BF16: bound = fabs(x[i]) * 0x1p-8; break;
                case MC_DT_Q8_0: bound = 0.57 * amax / 127; break;
                case MC_DT_Q4_0: bound = 1.01 * amax / 8; break;
                case MC_DT_Q4_K: bound = (hi - lo) / 15 * 1.05 + bmax / 63 * 0.55 + 1e-30; break;
                default: bound = 0.6 * amax / 31 + bmax / 31 / 127 + 1e-30; break;
                }
                double err = fabs((double)y[i] - x[i]);
                if (bound == 0 ? err > 0 : err / bound > worst)
                    worst = bound == 0 ? 1e9 : err / bound;
            }
        }
        if (worst > 1.0)
            fprintf(stderr, "     %s: worst error / bound = %.3f\n", mc_dtype_name(t), worst);
        CHECK(worst <= 1.0);
    }
    mc_free(x);
    mc_free(y);
    mc_free(q);
}

/* Quantisers are deterministic and every ISA table uses the same ones (model files must not
 * depend on the machine that wrote them). */
TEST(quantisers_identical_across_isas)
{
    mc_kernel_table ref = ref_table(), tabs[N_ISAS];
    const char *names[N_ISAS];
    int nt = simd_tables(tabs, names);
    enum { N = 1024 };
    float x[N];
    uint8_t a[N * 4], b[N * 4];
    mc_rng r;
    mc_rng_seed(&r, 3);
    fill_normal(&r, x, N, 1.0);
    for (int k = 0; k < nt; k++)
        for (int ti = 0; ti < N_TYPES; ti++) {
            mc_dtype t = all_types[ti];
            size_t nb = mc_type_bytes(t, N);
            ref.quant[t](x, a, N);
            tabs[k].quant[t](x, b, N);
            CHECK(memcmp(a, b, nb) == 0);
        }
}

/* ---------------------------------------------------------------- SIMD vs ref ---- */

/* Dequantisation: bit-exact (the SIMD code performs the same float operations in the same order).
 */
TEST(dequant_bit_exact)
{
    mc_kernel_table ref = ref_table(), tabs[N_ISAS];
    const char *names[N_ISAS];
    int nt = simd_tables(tabs, names);
    enum { N = 256 * 5 };
    float x[N], a[N], b[N];
    uint8_t *q = mc_malloc(N * 4);
    mc_rng r;
    mc_rng_seed(&r, 7);
    fill_normal(&r, x, N, 2.0);
    for (int k = 0; k < nt; k++)
        for (int ti = 0; ti < N_TYPES; ti++) {
            mc_dtype t = all_types[ti];
            ref.quant[t](x, q, N);
            int64_t be = mc_kernels_block_elems(t);
            int64_t nv[] = {be, 4 * be, 7 * be, 10 * be, N / be * be, be == 1 ? 13 : be};
            for (int vi = 0; vi < 6; vi++) {
                int64_t n = nv[vi];
                if (n > N)
                    continue;
                ref.dequant[t](q, a, n);
                tabs[k].dequant[t](q, b, n);
                if (memcmp(a, b, (size_t)n * 4) != 0) {
                    fprintf(stderr, "     %s dequant %s n=%lld differs\n", names[k],
                            mc_dtype_name(t), (long long)n);
                    CHECK(0);
                }
            }
        }
    mc_free(q);
}

/* Activation quantisation: bit-exact (same max, same division, same rounding mode). */
TEST(quant_act_bit_exact)
{
    mc_kernel_table ref = ref_table(), tabs[N_ISAS];
    const char *names[N_ISAS];
    int nt = simd_tables(tabs, names);
    enum { N = 256 * 4 };
    float x[N];
    uint8_t a[N * 4], b[N * 4];
    mc_rng r;
    mc_rng_seed(&r, 8);
    fill_normal(&r, x, N, 3.0);
    for (int i = 0; i < 64; i++)
        x[i] = (float)(i - 32) * 0.5f; /* exact ties after scaling */
    for (int i = 64; i < 96; i++)
        x[i] = 0.0f; /* an all-zero block */
    for (int k = 0; k < nt; k++)
        for (int ti = 0; ti < N_TYPES; ti++) {
            mc_dtype t = all_types[ti];
            size_t nb = mc_act_bytes(t, N);
            memset(a, 0, sizeof a);
            memset(b, 0, sizeof b);
            ref.quant_act[t](x, a, N);
            tabs[k].quant_act[t](x, b, N);
            if (memcmp(a, b, nb) != 0) {
                fprintf(stderr, "     %s quant_act(%s) differs\n", names[k], mc_dtype_name(t));
                CHECK(0);
            }
        }
    /* the Q8_K sums are the sums */
    mc_act_q8k *qk = (mc_act_q8k *)a;
    ref.quant_act[MC_DT_Q4_K](x, a, N);
    int s = 0;
    for (int l = 0; l < 16; l++)
        s += qk[1].qs[16 * 3 + l];
    CHECK_EQ_INT(qk[1].bsums[3], s);
    mc_act_q8 *q8 = (mc_act_q8 *)a;
    ref.quant_act[MC_DT_Q8_0](x, a, N);
    CHECK_NEAR(q8[0].d, 16.0 / 127.0, 1e-9);
    CHECK_EQ_INT(q8[0].qs[0], -127);
    CHECK_EQ_INT(q8[2].d, 0);
    int sum = 0;
    for (int l = 0; l < 32; l++)
        sum += q8[1].qs[l];
    CHECK_EQ_INT(q8[1].c, -128 * sum); /* Q8_0 weights are offset by 128 */
    ref.quant_act[MC_DT_Q4_0](x, a, N);
    CHECK_EQ_INT(q8[1].c, -8 * sum); /* Q4_0 nibbles by 8 */
}

/* One matmul case: rows x cols weights of type t, n_tok tokens, rows [r0, r1). */
typedef kc_case mm_case; /* kernel_check.h */

typedef kc_data mm_data; /* kernel_check.h */

static void mm_prepare(const mm_case *c, mm_data *d, mc_rng *r, const mc_kernel_table *ref)
{
    size_t rb = mc_type_bytes(c->t, c->cols);
    float *tmp = mc_malloc((size_t)(c->rows > c->n_tok ? c->rows : c->n_tok) * (size_t)c->cols * 4);
    d->w = mc_malloc(rb * (size_t)c->rows + 1);
    d->wf = mc_malloc((size_t)c->rows * (size_t)c->cols * 4);
    fill_normal(r, tmp, c->rows * c->cols, 0.05);
    for (int64_t i = 0; i < c->rows; i++) {
        ref->quant[c->t](tmp + i * c->cols, (char *)d->w + i * rb, c->cols);
        ref->dequant[c->t]((char *)d->w + i * rb, d->wf + i * c->cols, c->cols);
    }
    d->xs = mc_act_bytes(c->t, c->cols) + 12; /* padded stride */
    d->x = mc_malloc(d->xs * (size_t)c->n_tok);
    d->xf = mc_malloc((size_t)c->n_tok * (size_t)c->cols * 4);
    fill_normal(r, tmp, c->n_tok * c->cols, 1.0);
    for (int64_t t = 0; t < c->n_tok; t++) {
        ref->quant_act[c->t](tmp + t * c->cols, (char *)d->x + t * d->xs, c->cols);
        memcpy(d->xf + t * c->cols, tmp + t * c->cols, (size_t)c->cols * 4);
    }
    d->wr = NULL;
    if (c->t == MC_DT_Q8_0 || c->t == MC_DT_Q4_0) {
        d->wr = mc_malloc(rb * (size_t)c->rows + 1);
        memcpy(d->wr, d->w, rb * (size_t)c->rows);
        if (mc_kernels_repack(c->t, MC_WLAYOUT_R16, c->rows, c->cols, d->wr, NULL, NULL) != MC_OK)
            abort();
    }
    d->ys = c->rows + 3;
    d->yref = mc_malloc((size_t)(c->n_tok * d->ys) * 4);
    d->y = mc_malloc((size_t)(c->n_tok * d->ys) * 4);
    mc_free(tmp);
}

/* The tolerance of kc_compare (kernel_check.h): |y - yref| <= 5e-6 * sum_c |w_c x_c| + 1e-30.
 * Both sides compute the same sum of products of the same (de)quantised values; the ref adds in
 * double, the SIMD paths in float: path A rounds once per block (the int sums are exact), path B
 * rounds each f32 product and partial sum. With cols <= 1024 the worst case is
 * cols * 2^-24 = 6e-5 relative to sum |w x|; the errors actually add like a random walk and the
 * largest observed over all cases here is 3e-7, so 5e-6 leaves a 15x margin while any wrong
 * element, scale or block (an error of order 1e-3 of the sum or more) still fails. */
static void mm_check_case(const mm_case *c, mc_rng *r, int *failures)
{
    mc_kernel_table ref = ref_table(), tabs[N_ISAS];
    const char *names[N_ISAS];
    int nt = simd_tables(tabs, names);
    mm_data d;
    mm_prepare(c, &d, r, &ref);
    kc_data_run(&ref, c, &d, d.yref, 0);
    for (int k = 0; k < nt; k++) {
        kc_data_run(&tabs[k], c, &d, d.y, 0);
        *failures += kc_data_compare(c, &d, names[k]) != 0;
    }
    if (d.wr) {
        /* R16: the ref kernel gathers the same blocks and sums in the same order (exact); every
         * SIMD table within the usual tolerance */
        kc_data_run(&ref, c, &d, d.y, 1);
        *failures += memcmp(d.y, d.yref, (size_t)(c->n_tok * d.ys) * 4) != 0;
        for (int k = 0; k < nt; k++) {
            kc_data_run(&tabs[k], c, &d, d.y, 1);
            *failures += kc_data_compare(c, &d, names[k]) != 0;
        }
    }
    kc_data_release(&d);
}

/* Every type, n_tok 1..70 (both paths and every micro-tile remainder), odd row counts and row
 * ranges that are not multiples of any tile. */
TEST(matmul_vs_ref_tokens)
{
    mc_rng r;
    mc_rng_seed(&r, 21);
    int failures = 0;
    for (int ti = 0; ti < N_TYPES; ti++) {
        mc_dtype t = all_types[ti];
        int64_t cols = mc_kernels_block_elems(t) == 256 ? 512 : 96;
        for (int64_t n = 1; n <= 70; n++) {
            mm_case c = {t, 37, cols, n, n % 3, 37 - n % 5};
            mm_check_case(&c, &r, &failures);
        }
    }
    CHECK_EQ_INT(failures, 0);
}

/* Token counts around every path-A/path-B switch (16, 64, 96, 128) and beyond, so
 * the GEMM path of every type and ISA is exercised with full and partial token groups. */
TEST(matmul_vs_ref_gemm_path)
{
    mc_rng r;
    mc_rng_seed(&r, 23);
    int failures = 0;
    const int64_t toks[] = {15, 16, 31, 32, 47, 48, 63, 64, 95, 96, 127, 128, 141};
    for (int ti = 0; ti < N_TYPES; ti++) {
        mc_dtype t = all_types[ti];
        int64_t cols = mc_kernels_block_elems(t) == 256 ? 512 : 288;
        for (int k = 0; k < 13; k++) {
            mm_case c = {t, 45, cols, toks[k], 2, 43};
            mm_check_case(&c, &r, &failures);
        }
    }
    CHECK_EQ_INT(failures, 0);
}

/* Shapes: long rows (several panels), odd float widths, single rows, wide row ranges. */
TEST(matmul_vs_ref_shapes)
{
    mc_rng r;
    mc_rng_seed(&r, 22);
    int failures = 0;
    for (int ti = 0; ti < N_TYPES; ti++) {
        mc_dtype t = all_types[ti];
        int64_t be = mc_kernels_block_elems(t);
        int64_t colsv[] = {be == 1 ? 7 : be, be == 1 ? 37 : 3 * be, 1024};
        int64_t tokv[] = {1, 2, 3, 5, 8, 13};
        for (int ci = 0; ci < 3; ci++)
            for (int k = 0; k < 6; k++) {
                mm_case c1 = {t, 131, colsv[ci], tokv[k], 0, 131};
                mm_case c2 = {t, 131, colsv[ci], tokv[k], 65, 66};
                mm_case c3 = {t, 131, colsv[ci], tokv[k], 17, 100};
                mm_check_case(&c1, &r, &failures);
                mm_check_case(&c2, &r, &failures);
                mm_check_case(&c3, &r, &failures);
            }
    }
    CHECK_EQ_INT(failures, 0);
}

/* MC_WLAYOUT_R16 byte positions (kernels.h), in-place round trip, tail rows, errors, and the
 * public entry point on a repacked matrix. */
TEST(repack_layout)
{
    enum { ROWS = 37, COLS = 64 }; /* 2 groups of 16 + 5 GGML tail rows, 2 blocks per row */
    uint8_t w[ROWS * 2 * 34], orig[sizeof w], scratch[16 * 2 * 34];
    for (size_t i = 0; i < sizeof w; i++)
        w[i] = orig[i] = (uint8_t)(i * 7 + i / 251);
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_kernels_repack_scratch_bytes(MC_DT_Q8_0, COLS), sizeof scratch);
    CHECK_EQ_INT(mc_kernels_repack(MC_DT_Q8_0, MC_WLAYOUT_R16, ROWS, COLS, w, scratch, &d), MC_OK);
    /* group 1 (rows 16..31) starts at byte 16 * 68; its block column 1 at + 544: the 16 scales,
     * then word m of row i at + 32 + 64 m + 4 i. Row 19 = group row 3, block 1: scale bytes
     * orig[19*68 + 34 ..+1], quant byte 4m + j at orig[19*68 + 34 + 2 + 4m + j]. */
    const uint8_t *col = w + 16 * 68 + 544, *src = orig + 19 * 68 + 34;
    CHECK_EQ_INT(col[2 * 3], src[0]);
    CHECK_EQ_INT(col[2 * 3 + 1], src[1]);
    for (int m = 0; m < 8; m++)
        for (int j = 0; j < 4; j++)
            CHECK_EQ_INT(col[32 + 64 * m + 4 * 3 + j], src[2 + 4 * m + j]);
    CHECK(memcmp(w + 32 * 68, orig + 32 * 68, 5 * 68) == 0); /* tail rows untouched */
    CHECK(memcmp(w, orig, 16 * 68) != 0);
    CHECK_EQ_INT(mc_kernels_unpack(MC_DT_Q8_0, MC_WLAYOUT_R16, ROWS, COLS, w, NULL, &d), MC_OK);
    CHECK(memcmp(w, orig, sizeof w) == 0);
    /* Q4_0: the nibble bytes move as 4-byte words, 4 per block: row 5, block 0, word 2 */
    CHECK_EQ_INT(mc_kernels_repack(MC_DT_Q4_0, MC_WLAYOUT_R16, 16, COLS, w, NULL, &d), MC_OK);
    CHECK_EQ_INT(w[2 * 5], orig[5 * 36]);
    CHECK_EQ_INT(w[32 + 64 * 2 + 4 * 5 + 1], orig[5 * 36 + 2 + 8 + 1]);
    CHECK_EQ_INT(mc_kernels_unpack(MC_DT_Q4_0, MC_WLAYOUT_R16, 16, COLS, w, NULL, &d), MC_OK);
    CHECK(memcmp(w, orig, sizeof w) == 0);
    /* fewer than 16 rows: nothing to group; GGML: a no-op */
    CHECK_EQ_INT(mc_kernels_repack(MC_DT_Q8_0, MC_WLAYOUT_R16, 15, COLS, w, NULL, &d), MC_OK);
    CHECK_EQ_INT(mc_kernels_repack(MC_DT_Q6_K, MC_WLAYOUT_GGML, 16, 256, w, NULL, &d), MC_OK);
    CHECK(memcmp(w, orig, sizeof w) == 0);
    CHECK_EQ_INT(mc_kernels_repack(MC_DT_Q5_K, MC_WLAYOUT_R16, 16, 256, w, NULL, &d), MC_ERR_ARG);
    CHECK_CONTAINS(d.msg, "q5_k"); /* K-quant R16: test_kernels_r16k.c */
    CHECK_EQ_INT(mc_kernels_repack(MC_DT_Q8_0, MC_WLAYOUT_R16, 16, 48, w, NULL, &d), MC_ERR_ARG);
    CHECK_EQ_INT(mc_kernels_repack(MC_DT_Q8_0, (mc_wlayout)7, 16, 64, w, NULL, &d), MC_ERR_ARG);
    /* which layout pays: R16 with >= 16 rows on the SIMD sets (every type that has it, AVX2
     * included since matmul_r16f_avx2.c / matmul_r16k_avx2.c), never on ref */
    CHECK_EQ_INT(mc_kernels_init("ref", NULL), MC_OK);
    CHECK_EQ_INT(mc_kernels_best_layout(MC_DT_Q8_0, 4096), MC_WLAYOUT_GGML);
    if (mc_kernels_init("avx2", NULL) == MC_OK) {
        CHECK_EQ_INT(mc_kernels_best_layout(MC_DT_Q4_0, 16), MC_WLAYOUT_R16);
        CHECK_EQ_INT(mc_kernels_best_layout(MC_DT_Q4_0, 15), MC_WLAYOUT_GGML);
        CHECK_EQ_INT(mc_kernels_best_layout(MC_DT_F16, 4096), MC_WLAYOUT_R16);
        CHECK_EQ_INT(mc_kernels_best_layout(MC_DT_Q4_K, 4096), MC_WLAYOUT_R16);
        CHECK_EQ_INT(mc_kernels_best_layout(MC_DT_F32, 15), MC_WLAYOUT_GGML);
    }
    /* public entry point: Y = W X for a 37-row R16 matrix, rows [3, 35), against GGML */
    CHECK_EQ_INT(mc_kernels_init(NULL, NULL), MC_OK);
    float xf[COLS], y1[ROWS], y2[ROWS];
    mc_act_q8 xa[2];
    for (int i = 0; i < COLS; i++)
        xf[i] = (float)((i * 37) % 11) - 5.0f;
    for (int r = 0; r < ROWS; r++) /* sane f16 scales: 2^-4 */
        for (int b = 0; b < 2; b++)
            memcpy(orig + r * 68 + 34 * b, &(uint16_t){0x2C00}, 2);
    memcpy(w, orig, sizeof w);
    mc_kernels_quant_act(MC_DT_Q8_0, xf, xa, COLS);
    mc_matmul mm = {.wtype = MC_DT_Q8_0,
                    .w = w,
                    .cols = COLS,
                    .r0 = 3,
                    .r1 = 35,
                    .x = xa,
                    .n_tok = 1,
                    .y = y1,
                    .rows = ROWS};
    mc_kernels_matmul(&mm);
    CHECK_EQ_INT(mc_kernels_repack(MC_DT_Q8_0, MC_WLAYOUT_R16, ROWS, COLS, w, NULL, &d), MC_OK);
    mm.y = y2;
    mm.layout = MC_WLAYOUT_R16;
    mc_kernels_matmul(&mm);
    for (int r = 3; r < 35; r++)
        CHECK(fabsf(y1[r] - y2[r]) <= 1e-5f * (fabsf(y1[r]) + 1.0f));
}

/* The public entry point with an empty row range writes nothing; with cols == 0 writes zeros. */
TEST(matmul_public_edges)
{
    CHECK_EQ_INT(mc_kernels_init(NULL, NULL), MC_OK);
    float y[4] = {1, 2, 3, 4};
    mc_act_q8 xa;
    memset(&xa, 0, sizeof xa);
    mc_matmul mm = {.wtype = MC_DT_Q8_0, /* cols = 0 */
                    .r0 = 1,
                    .r1 = 2,
                    .x = &xa,
                    .x_stride = sizeof xa,
                    .n_tok = 2,
                    .y = y,
                    .y_stride = 2};
    mc_kernels_matmul(&mm);
    CHECK_NEAR(y[0], 1, 0);
    CHECK_NEAR(y[1], 0, 0);
    CHECK_NEAR(y[2], 3, 0);
    CHECK_NEAR(y[3], 0, 0);
    mm.r1 = 1; /* empty row range */
    y[1] = 5;
    mc_kernels_matmul(&mm);
    CHECK_NEAR(y[1], 5, 0);
}

/* ---------------------------------------------------------------- f32 helpers ---- */

/* max |a - b| / (|b| + floor) over n values */
static double max_rel(const float *a, const float *b, int64_t n, double floor)
{
    double w = 0;
    for (int64_t i = 0; i < n; i++)
        w = fmax(w, fabs((double)a[i] - b[i]) / (fabs((double)b[i]) + floor));
    return w;
}

/* Tolerances: rmsnorm 2e-6 relative (float vs double sum of squares, then 2 roundings);
 * rope 1e-6 of the vector magnitude (FMA vs separate roundings); softmax 4e-6 relative (exp
 * polynomial within 2 ulp, float sum); swiglu 2e-6 relative to |ref| + 1e-20 (exp + division;
 * for a < -87 the SIMD exp saturates at e^88 and returns ~1e-36 where libm gives -0);
 * add/scale exact (same single rounding); axpy 1.2e-7 of |y| + |a x| (FMA rounds once). */
TEST(f32_helpers_vs_ref)
{
    mc_kernel_table ref = ref_table(), tabs[N_ISAS];
    const char *names[N_ISAS];
    int nt = simd_tables(tabs, names);
    enum { N = 1000 };
    float x[N], w[N], a[N], b[N], c[N], cs[N];
    mc_rng r;
    mc_rng_seed(&r, 31);
    int64_t sizes[] = {1, 7, 8, 13, 64, 100, 999};
    for (int k = 0; k < nt; k++) {
        const char *isa = names[k];
        for (int si = 0; si < 7; si++) {
            int64_t n = sizes[si];
            fill_normal(&r, x, n, 3.0);
            fill_normal(&r, w, n, 1.0);
            ref.rmsnorm(a, x, w, n, 1e-5f);
            tabs[k].rmsnorm(b, x, w, n, 1e-5f);
            CHECK(max_rel(b, a, n, 1e-6) < 2e-6);
            ref.rmsnorm(a, x, NULL, n, 1e-6f);
            tabs[k].rmsnorm(b, x, NULL, n, 1e-6f);
            CHECK(max_rel(b, a, n, 1e-6) < 2e-6);
            /* softmax with a wide range (some exp underflow) */
            for (int64_t i = 0; i < n; i++)
                a[i] = b[i] = x[i] * 10.0f;
            ref.softmax(a, n);
            tabs[k].softmax(b, n);
            CHECK(max_rel(b, a, n, 1e-30) < 4e-6 || max_rel(b, a, n, 1e-20) < 4e-6);
            double s = 0;
            for (int64_t i = 0; i < n; i++)
                s += b[i];
            CHECK_NEAR(s, 1.0, 1e-5);
            /* swiglu, including large |a| where exp saturates */
            for (int64_t i = 0; i < n; i++)
                c[i] = x[i] * (i % 5 == 0 ? 40.0f : 1.0f);
            ref.swiglu(a, c, w, n);
            tabs[k].swiglu(b, c, w, n);
            CHECK(max_rel(b, a, n, 1e-20) < 2e-6);
            ref.add(a, x, w, n);
            tabs[k].add(b, x, w, n);
            CHECK(max_rel(b, a, n, 0) == 0);
            memcpy(a, x, (size_t)n * 4);
            memcpy(b, x, (size_t)n * 4);
            ref.scale(a, 0.37f, n);
            tabs[k].scale(b, 0.37f, n);
            CHECK(max_rel(b, a, n, 0) == 0);
            memcpy(a, x, (size_t)n * 4);
            memcpy(b, x, (size_t)n * 4);
            ref.axpy(a, -1.7f, w, n);
            tabs[k].axpy(b, -1.7f, w, n);
            for (int64_t i = 0; i < n; i++) /* FMA: one rounding instead of two */
                CHECK_NEAR(b[i], a[i], 1.2e-7 * (fabs(x[i]) + 1.7 * fabs(w[i])));
        }
        /* softmax of one element and of equal elements */
        a[0] = 123.0f;
        tabs[k].softmax(a, 1);
        CHECK_NEAR(a[0], 1.0, 0);
        for (int i = 0; i < 9; i++)
            a[i] = -5.0f;
        tabs[k].softmax(a, 9);
        CHECK_NEAR(a[8], 1.0 / 9.0, 1e-7);
        /* rope: both layouts, partial rotation, several positions */
        int64_t hd_v[] = {64, 80, 128, 6}, rot_v[] = {64, 32, 128, 4};
        for (int hi = 0; hi < 4; hi++)
            for (int neox = 0; neox < 2; neox++) {
                int64_t hd = hd_v[hi], nrot = rot_v[hi], nh = 3;
                mc_kernels_rope_table(cs, nrot, 1000 + hi, 10000.0, 1.0);
                fill_normal(&r, x, nh * hd, 1.0);
                memcpy(a, x, (size_t)(nh * hd) * 4);
                memcpy(b, x, (size_t)(nh * hd) * 4);
                ref.rope(a, nh, hd, nrot, cs, neox);
                tabs[k].rope(b, nh, hd, nrot, cs, neox);
                double err = 0;
                for (int64_t i = 0; i < nh * hd; i++)
                    err = fmax(err, fabs((double)a[i] - b[i]));
                if (err > 1e-6)
                    fprintf(stderr, "     %s rope hd %lld neox %d err %g\n", isa, (long long)hd,
                            neox, err);
                CHECK(err <= 1e-6);
            }
    }
}

TEST(rope_known)
{
    float cs[4], x[4] = {1, 0, 0, 1};
    mc_kernels_rope_table(cs, 4, 1, 10000.0, 1.0);
    CHECK_NEAR(cs[0], cos(1.0), 1e-7);
    CHECK_NEAR(cs[1], sin(1.0), 1e-7);
    CHECK_NEAR(cs[2], cos(0.01), 1e-7); /* theta^(-2/4) = 1/100 */
    mc_kernels_rope_table(cs, 4, 0, 10000.0, 1.0);
    CHECK_NEAR(cs[0], 1.0, 0);
    CHECK_NEAR(cs[1], 0.0, 0);
    /* rotate by pi/2 at pair 0 (normal layout): (1, 0) -> (0, 1) */
    float c2[4] = {0.0f, 1.0f, 1.0f, 0.0f};
    mc_kernel_table ref = ref_table();
    ref.rope(x, 1, 4, 4, c2, 0);
    CHECK_NEAR(x[0], 0.0, 0);
    CHECK_NEAR(x[1], 1.0, 0);
    CHECK_NEAR(x[2], 0.0, 0);
    CHECK_NEAR(x[3], 1.0, 0);
    float y[4] = {1, 0, 0, 1}; /* neox: pair 0 = (y0, y2) = (1, 0) -> (0, 1) */
    ref.rope(y, 1, 4, 4, c2, 1);
    CHECK_NEAR(y[0], 0.0, 0);
    CHECK_NEAR(y[2], 1.0, 0);
    CHECK_NEAR(y[1], 0.0, 0); /* pair 1 = (y1, y3) = (0, 1), angle 0 */
    CHECK_NEAR(y[3], 1.0, 0);
}

/* Attention: scores and accumulation over F32 and F16 caches with padded row strides.
 * Tolerance: 1e-6 * sum |terms| (float vs double accumulation over <= 128 terms). */
TEST(attention_vs_ref)
{
    mc_kernel_table ref = ref_table(), tabs[N_ISAS];
    const char *names[N_ISAS];
    int nt = simd_tables(tabs, names);
    enum { HD = 136, NMAX = 37 };
    float q[HD], kf[NMAX * (HD + 8)], p[NMAX], sa[NMAX], sb[NMAX], oa[HD], ob[HD];
    uint16_t kh[NMAX * (HD + 8)];
    mc_rng r;
    mc_rng_seed(&r, 41);
    fill_normal(&r, kf, NMAX * (HD + 8), 1.0);
    for (int i = 0; i < NMAX * (HD + 8); i++)
        kh[i] = mc_kernels_f32_to_f16(kf[i]);
    int64_t hds[] = {64, 128, 136, 5, 72};
    for (int k = 0; k < nt; k++)
        for (int hi = 0; hi < 5; hi++)
            for (int f16 = 0; f16 < 2; f16++) {
                int64_t hd = hds[hi], n = 1 + (hi * 7 + f16 * 11) % NMAX;
                size_t stride = (size_t)(HD + 8) * (f16 ? 2 : 4);
                const void *cache = f16 ? (const void *)kh : (const void *)kf;
                fill_normal(&r, q, hd, 1.0);
                ref.attn_scores[f16](sa, q, cache, stride, n, hd, 0.125f);
                tabs[k].attn_scores[f16](sb, q, cache, stride, n, hd, 0.125f);
                for (int64_t i = 0; i < n; i++)
                    CHECK_NEAR(sb[i], sa[i], 1e-6 * 0.125 * hd * 4);
                fill_normal(&r, p, n, 0.3);
                fill_normal(&r, oa, hd, 1.0);
                memcpy(ob, oa, (size_t)hd * 4);
                ref.attn_accum[f16](oa, p, cache, stride, n, hd);
                tabs[k].attn_accum[f16](ob, p, cache, stride, n, hd);
                for (int64_t j = 0; j < hd; j++)
                    CHECK_NEAR(ob[j], oa[j], 1e-6 * (n * 0.3 * 4 + 4));
            }
    (void)names;
}

/* The public wrappers reach the active table. */
TEST(public_wrappers)
{
    CHECK_EQ_INT(mc_kernels_init(NULL, NULL), MC_OK);
    float x[4] = {3, 4, 0, 0}, y[4];
    mc_kernels_rmsnorm(y, x, NULL, 2, 0.0f);
    CHECK_NEAR(y[0], 3.0 / sqrt(12.5), 1e-6);
    mc_kernels_add(y, x, x, 4);
    CHECK_NEAR(y[1], 8, 0);
    mc_kernels_scale(y, 0.5f, 4);
    CHECK_NEAR(y[1], 4, 0);
    mc_kernels_axpy(y, 2.0f, x, 4);
    CHECK_NEAR(y[0], 9, 0);
    float s[2] = {0, 0};
    mc_kernels_softmax(s, 2);
    CHECK_NEAR(s[0], 0.5, 0);
    float a[1] = {0}, b[1] = {5};
    mc_kernels_swiglu(a, a, b, 1);
    CHECK_NEAR(a[0], 0, 0);
    uint16_t h[8];
    float back[8], v[8] = {1, 2, 3, 4, 5, 6, 7, 0.5f};
    mc_kernels_quant_row(MC_DT_F16, v, h, 8);
    mc_kernels_dequant_row(MC_DT_F16, h, back, 8);
    CHECK(memcmp(v, back, sizeof v) == 0);
    float sc[1];
    mc_kernels_attn_scores(sc, v, v, MC_DT_F32, 32, 1, 8, 1.0f);
    CHECK_NEAR(sc[0], 1 + 4 + 9 + 16 + 25 + 36 + 49 + 0.25, 1e-4);
    float o[8] = {0};
    float p1[1] = {2.0f};
    mc_kernels_attn_accum(o, p1, h, MC_DT_F16, 16, 1, 8);
    CHECK_NEAR(o[7], 1.0, 0);
}

/* The measurement kernels: read_sum is the exact sum of the 64-bit words on every ISA; the FMA
 * loop reports 2 flops per lane per FMA (12 chains x 8 lanes (avx2, avxvnni) or 16 lanes (avx512)).
 */
TEST(measurement_kernels)
{
    mc_kernel_table ref = ref_table(), tabs[N_ISAS];
    const char *names[N_ISAS];
    int nt = simd_tables(tabs, names);
    enum { BYTES = 64 * 1000 };
    char *raw = mc_malloc(BYTES + 64);
    uint64_t *buf = (uint64_t *)(raw + (64 - (uintptr_t)raw % 64) % 64);
    mc_rng r;
    mc_rng_seed(&r, 51);
    uint64_t want = 0;
    for (size_t i = 0; i < BYTES / 8; i++)
        want += buf[i] = mc_rng_u64(&r);
    CHECK(ref.read_sum(buf, BYTES, 1) == want);
    CHECK_NEAR(ref.fma_loop(10), 10 * 8 * 2, 0);
    for (int k = 0; k < nt; k++) {
        CHECK(tabs[k].read_sum(buf, BYTES, 1) == want);
        CHECK(tabs[k].read_sum(buf, BYTES, 4) == want);
        CHECK(tabs[k].read_sum(buf, 64 * 7, 4) == tabs[k].read_sum(buf, 64 * 7, 1)); /* tail only */
        double f = tabs[k].fma_loop(10);
        CHECK_NEAR(f, strcmp(names[k], "avx512") != 0 ? 10 * 12 * 16 : 10 * 12 * 32, 0);
    }
    mc_free(raw);
}

/* ---------------------------------------------------------------- thread pool ---- */

typedef struct cover_ctx {
    atomic_int *hits;
    int64_t chunk;
    int n_threads;
    atomic_int bad;
} cover_ctx;

static void cover_fn(void *vctx, int64_t b, int64_t e, int worker)
{
    cover_ctx *c = vctx;
    if (worker < 0 || worker >= c->n_threads || b >= e ||
        (c->chunk > 0 && (b % c->chunk != 0 || e - b > c->chunk)))
        atomic_fetch_add(&c->bad, 1);
    for (int64_t i = b; i < e; i++)
        atomic_fetch_add_explicit(&c->hits[i], 1, memory_order_relaxed);
}

/* Every index is covered exactly once, chunks are aligned and bounded, worker ids are in range,
 * for many n, chunk sizes and thread counts, with spinning and with sleeping workers. */
TEST(pool_covers_exactly_once)
{
    int threads[] = {1, 2, 3, 4, 8};
    int64_t ns[] = {1, 2, 7, 100, 1000, 12345};
    int64_t chunks[] = {0, 1, 3, 64, 100000};
    atomic_int *hits = mc_malloc(12345 * sizeof *hits);
    int failures = 0;
    for (int ti = 0; ti < 5; ti++) {
        mc_pool *p = NULL;
        CHECK_EQ_INT(mc_pool_new(threads[ti], &p, NULL), MC_OK);
        if (!p)
            continue;
        CHECK_EQ_INT(mc_pool_threads(p), threads[ti]);
        for (int spin = 0; spin < 2; spin++) {
            mc_pool_set_spin_us(p, spin ? 100 : 0);
            for (int ni = 0; ni < 6; ni++)
                for (int ci = 0; ci < 5; ci++)
                    for (int rep = 0; rep < 8; rep++) {
                        int64_t n = ns[ni];
                        for (int64_t i = 0; i < n; i++)
                            atomic_init(&hits[i], 0);
                        cover_ctx c = {hits, chunks[ci] > 0 ? chunks[ci] : 0, threads[ti], 0};
                        if (chunks[ci] <= 0)
                            c.chunk = (n + threads[ti] - 1) / threads[ti];
                        mc_pool_for(p, n, chunks[ci], cover_fn, &c);
                        int ok = atomic_load(&c.bad) == 0;
                        for (int64_t i = 0; i < n; i++)
                            ok &= atomic_load(&hits[i]) == 1;
                        failures += !ok;
                    }
        }
        mc_pool_for(p, 0, 1, cover_fn, NULL); /* n = 0: no call */
        mc_pool_free(p);
    }
    CHECK_EQ_INT(failures, 0);
    mc_free(hits);
    mc_pool *p = NULL;
    CHECK_EQ_INT(mc_pool_new(0, &p, NULL), MC_ERR_ARG);
    CHECK(p == NULL);
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_pool_new(1000, &p, &d), MC_ERR_ARG);
    CHECK_CONTAINS(d.msg, "1000 threads");
    mc_pool_free(NULL);
}

/* Allocation failure is reported, not crashed on. */
TEST(pool_nomem)
{
    mc_pool *p = NULL;
    mc_alloc_fail_at(1);
    CHECK_EQ_INT(mc_pool_new(2, &p, NULL), MC_ERR_NOMEM);
    mc_alloc_fail_at(0);
    CHECK(p == NULL);
}

int main(void)
{
    RUN(row_sizes);
    RUN(block_layouts);
    RUN(dispatch);
    RUN(f16_conversion);
    RUN(float_rows_bit_exact);
    RUN(q4_0_known_block);
    RUN(q8_0_known_block);
    RUN(q4_k_known_block);
    RUN(q6_k_known_block);
    RUN(quantise_known);
    RUN(quant_roundtrip_bounds);
    RUN(quantisers_identical_across_isas);
    RUN(dequant_bit_exact);
    RUN(quant_act_bit_exact);
    RUN(matmul_vs_ref_tokens);
    RUN(matmul_vs_ref_shapes);
    RUN(matmul_vs_ref_gemm_path);
    RUN(matmul_public_edges);
    RUN(repack_layout);
    RUN(f32_helpers_vs_ref);
    RUN(rope_known);
    RUN(attention_vs_ref);
    RUN(public_wrappers);
    RUN(measurement_kernels);
    RUN(pool_covers_exactly_once);
    RUN(pool_nomem);
    return harness_done();
}
