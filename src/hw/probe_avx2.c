/* probe_avx2.c: the probe's AVX2 + FMA kernels (memory read sum, f32 FMA peak).
 *
 * Documented exception to "intrinsics only in src/engine/kernels": the probe must measure what
 * the hardware can do without depending on the engine. This file alone is compiled with
 * -mavx2 -mfma (set_source_files_properties in src/CMakeLists.txt); it is only called after
 * probe_kernels.c has checked the CPU. Depends on nothing but <immintrin.h>. */
#include "hw_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

static double hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return (double)_mm_cvtss_f32(s);
}

double mc_probe_read_avx2(const float *p, size_t n)
{
    /* 8 independent accumulators x 8 lanes: 256 bytes in flight per iteration, far more than
     * the add latency needs, so the loop waits only on memory */
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0,
           a7 = a0;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        a0 = _mm256_add_ps(a0, _mm256_loadu_ps(p + i));
        a1 = _mm256_add_ps(a1, _mm256_loadu_ps(p + i + 8));
        a2 = _mm256_add_ps(a2, _mm256_loadu_ps(p + i + 16));
        a3 = _mm256_add_ps(a3, _mm256_loadu_ps(p + i + 24));
        a4 = _mm256_add_ps(a4, _mm256_loadu_ps(p + i + 32));
        a5 = _mm256_add_ps(a5, _mm256_loadu_ps(p + i + 40));
        a6 = _mm256_add_ps(a6, _mm256_loadu_ps(p + i + 48));
        a7 = _mm256_add_ps(a7, _mm256_loadu_ps(p + i + 56));
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    double t = hsum256(s);
    for (; i < n; i++)
        t += p[i];
    return t;
}

double mc_probe_fma_avx2(uint64_t iters)
{
    /* MC_PROBE_FMA_ACC (12) chains cover FMA latency (4-5 cycles) x 2 ports with room to spare;
     * acc = acc * m + c converges to 1, so values stay normal */
    const __m256 m = _mm256_set1_ps(0.99f), c = _mm256_set1_ps(0.01f);
    __m256 a[MC_PROBE_FMA_ACC];
    for (int k = 0; k < MC_PROBE_FMA_ACC; k++)
        a[k] = _mm256_set1_ps((float)k * 0.1f);
    for (uint64_t it = 0; it < iters; it++) {
        a[0] = _mm256_fmadd_ps(a[0], m, c);
        a[1] = _mm256_fmadd_ps(a[1], m, c);
        a[2] = _mm256_fmadd_ps(a[2], m, c);
        a[3] = _mm256_fmadd_ps(a[3], m, c);
        a[4] = _mm256_fmadd_ps(a[4], m, c);
        a[5] = _mm256_fmadd_ps(a[5], m, c);
        a[6] = _mm256_fmadd_ps(a[6], m, c);
        a[7] = _mm256_fmadd_ps(a[7], m, c);
        a[8] = _mm256_fmadd_ps(a[8], m, c);
        a[9] = _mm256_fmadd_ps(a[9], m, c);
        a[10] = _mm256_fmadd_ps(a[10], m, c);
        a[11] = _mm256_fmadd_ps(a[11], m, c);
    }
    double t = 0;
    for (int k = 0; k < MC_PROBE_FMA_ACC; k++)
        t += hsum256(a[k]);
    return t;
}
#else
typedef int mc_probe_avx2_unused; /* non-x86 builds: nothing to compile */
#endif
