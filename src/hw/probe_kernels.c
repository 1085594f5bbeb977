/* probe_kernels.c: the probe's scalar kernels (portable fallback and test oracle) and the
 * one-time choice of the kernel set from the CPU's features (__builtin_cpu_supports).
 *
 * Compiled with the project's ordinary flags: no intrinsics here. The SIMD variants live in
 * probe_avx2.c / probe_avx512.c with per-file flags (see hw_internal.h). */
#include "hw_internal.h"

#include <string.h>

double mc_probe_read_scalar(const float *p, size_t n)
{
    /* eight independent partial sums so the loop is not one long add-latency chain */
    float s[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            s[k] += p[i + (size_t)k];
    for (; i < n; i++)
        s[0] += p[i];
    double t = 0;
    for (int k = 0; k < 8; k++)
        t += s[k];
    return t;
}

double mc_probe_fma_scalar(uint64_t iters)
{
    /* acc = acc * m + c converges to c / (1 - m) = 1: values stay normal and finite */
    const float m = 0.99f, c = 0.01f;
    float a[MC_PROBE_FMA_ACC];
    for (int k = 0; k < MC_PROBE_FMA_ACC; k++)
        a[k] = (float)k * 0.1f;
    for (uint64_t it = 0; it < iters; it++)
        for (int k = 0; k < MC_PROBE_FMA_ACC; k++)
            a[k] = a[k] * m + c;
    double t = 0;
    for (int k = 0; k < MC_PROBE_FMA_ACC; k++)
        t += a[k];
    return t;
}

#if defined(__x86_64__) || defined(__i386__)
static int have_avx512(void)
{
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") ? 1 : 0;
    }
    return cached;
}

static int have_avx2(void)
{
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1 : 0;
    }
    return cached;
}
#else
static int have_avx512(void) { return 0; }
static int have_avx2(void) { return 0; }
#endif

static void set_scalar(mc_probe_kernels *k)
{
    k->isa = "scalar";
    k->read = mc_probe_read_scalar;
    k->fma = mc_probe_fma_scalar;
    k->fma_flops_per_iter = 2.0 * MC_PROBE_FMA_ACC;
}

static int set_simd(mc_probe_kernels *k, const char *isa)
{
#if defined(__x86_64__) || defined(__i386__)
    if (strcmp(isa, "avx512") == 0 && have_avx512()) {
        k->isa = "avx512";
        k->read = mc_probe_read_avx512;
        k->fma = mc_probe_fma_avx512;
        k->fma_flops_per_iter = 2.0 * 16 * MC_PROBE_FMA_ACC;
        return 1;
    }
    if (strcmp(isa, "avx2") == 0 && have_avx2()) {
        k->isa = "avx2";
        k->read = mc_probe_read_avx2;
        k->fma = mc_probe_fma_avx2;
        k->fma_flops_per_iter = 2.0 * 8 * MC_PROBE_FMA_ACC;
        return 1;
    }
#else
    (void)k;
    (void)isa;
#endif
    return 0;
}

mc_err mc_probe_kernels_get(const char *isa, mc_probe_kernels *k, mc_diag *d)
{
    if (!isa || !*isa) {
        if (!set_simd(k, have_avx512() ? "avx512" : "avx2"))
            set_scalar(k);
        return MC_OK;
    }
    if (strcmp(isa, "scalar") == 0) {
        set_scalar(k);
        return MC_OK;
    }
    if (strcmp(isa, "avx512") != 0 && strcmp(isa, "avx2") != 0)
        return mc_fail(d, MC_ERR_ARG, "probe: unknown kernel '%s' (avx512, avx2 or scalar)", isa);
    if (!set_simd(k, isa))
        return mc_fail(d, MC_ERR_UNSUPPORTED, "probe: this CPU does not support the %s kernel",
                       isa);
    return MC_OK;
}
