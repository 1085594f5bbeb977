/* probe_avx512.c: the probe's AVX-512F kernels (memory read sum, f32 FMA peak).
 *
 * Documented exception to "intrinsics only in src/engine/kernels": the probe must measure what
 * the hardware can do without depending on the engine. This file alone is compiled with
 * -mavx512f -mavx2 -mfma (set_source_files_properties in src/CMakeLists.txt); it is only called
 * after probe_kernels.c has checked the CPU. Depends on nothing but <immintrin.h>. */
#include "hw_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

double mc_probe_read_avx512(const float *p, size_t n)
{
    /* 8 independent accumulators x 16 lanes: 512 bytes (8 cache lines) per iteration */
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0,
           a7 = a0;
    size_t i = 0;
    for (; i + 128 <= n; i += 128) {
        a0 = _mm512_add_ps(a0, _mm512_loadu_ps(p + i));
        a1 = _mm512_add_ps(a1, _mm512_loadu_ps(p + i + 16));
        a2 = _mm512_add_ps(a2, _mm512_loadu_ps(p + i + 32));
        a3 = _mm512_add_ps(a3, _mm512_loadu_ps(p + i + 48));
        a4 = _mm512_add_ps(a4, _mm512_loadu_ps(p + i + 64));
        a5 = _mm512_add_ps(a5, _mm512_loadu_ps(p + i + 80));
        a6 = _mm512_add_ps(a6, _mm512_loadu_ps(p + i + 96));
        a7 = _mm512_add_ps(a7, _mm512_loadu_ps(p + i + 112));
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    double t = (double)_mm512_reduce_add_ps(s);
    for (; i < n; i++)
        t += p[i];
    return t;
}

double mc_probe_fma_avx512(uint64_t iters)
{
    /* MC_PROBE_FMA_ACC (12) chains cover FMA latency (4 cycles) x 2 ports; acc = acc * m + c
     * converges to 1, so values stay normal */
    const __m512 m = _mm512_set1_ps(0.99f), c = _mm512_set1_ps(0.01f);
    __m512 a[MC_PROBE_FMA_ACC];
    for (int k = 0; k < MC_PROBE_FMA_ACC; k++)
        a[k] = _mm512_set1_ps((float)k * 0.1f);
    for (uint64_t it = 0; it < iters; it++) {
        a[0] = _mm512_fmadd_ps(a[0], m, c);
        a[1] = _mm512_fmadd_ps(a[1], m, c);
        a[2] = _mm512_fmadd_ps(a[2], m, c);
        a[3] = _mm512_fmadd_ps(a[3], m, c);
        a[4] = _mm512_fmadd_ps(a[4], m, c);
        a[5] = _mm512_fmadd_ps(a[5], m, c);
        a[6] = _mm512_fmadd_ps(a[6], m, c);
        a[7] = _mm512_fmadd_ps(a[7], m, c);
        a[8] = _mm512_fmadd_ps(a[8], m, c);
        a[9] = _mm512_fmadd_ps(a[9], m, c);
        a[10] = _mm512_fmadd_ps(a[10], m, c);
        a[11] = _mm512_fmadd_ps(a[11], m, c);
    }
    double t = 0;
    for (int k = 0; k < MC_PROBE_FMA_ACC; k++)
        t += (double)_mm512_reduce_add_ps(a[k]);
    return t;
}
#else
typedef int mc_probe_avx512_unused; /* non-x86 builds: nothing to compile */
#endif
