/* kernels_avx512.c: AVX-512 (F, BW, VL, DQ, VNNI) kernels other than the matmul
 * (matmul_avx512.c): the measurement loops. Every entry not set here keeps its AVX2 version.
 * Compiled with the AVX-512 flags; reached only through the dispatch table after the CPU check.
 * Must not depend on the ref file. */
#include "simd_avx2.h"

static uint64_t read_sum_avx512(const void *p, size_t bytes)
{
    const __m512i *v = p;
    __m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0;
    for (size_t i = 0; i < bytes / 64; i += 4) {
        for (int l = 0; l < 256; l += 64) { /* as the matmul weight streams do */
            _mm_prefetch((const char *)(v + i) + 4096 + l, _MM_HINT_T1);
            _mm_prefetch((const char *)(v + i) + 512 + l, _MM_HINT_T0);
        }
        s0 = _mm512_add_epi64(s0, _mm512_load_si512(v + i));
        s1 = _mm512_add_epi64(s1, _mm512_load_si512(v + i + 1));
        s2 = _mm512_add_epi64(s2, _mm512_load_si512(v + i + 2));
        s3 = _mm512_add_epi64(s3, _mm512_load_si512(v + i + 3));
    }
    s0 = _mm512_add_epi64(_mm512_add_epi64(s0, s1), _mm512_add_epi64(s2, s3));
    uint64_t o[8], sum = 0; /* not _mm512_reduce_add_epi64: signed (UB on wrap) in GCC's header */
    _mm512_storeu_si512(o, s0);
    for (int i = 0; i < 8; i++)
        sum += o[i];
    return sum;
}

#define FMA12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

static double fma_loop_avx512(int64_t iters)
{
#define DECL(i) __m512 a##i = _mm512_set1_ps(0.001f * i);
#define STEP(i) a##i = _mm512_fmadd_ps(a##i, m, c);
#define SUM(i) s = _mm512_add_ps(s, a##i);
    FMA12(DECL)
    const __m512 m = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(0.001f);
    for (int64_t k = 0; k < iters; k++) {
        FMA12(STEP)
    }
    __m512 s = _mm512_setzero_ps();
    FMA12(SUM)
    volatile float sink = _mm512_reduce_add_ps(s);
    (void)sink;
    return (double)iters * 12 * 32;
#undef DECL
#undef STEP
#undef SUM
}

void mc_kernels_fill_avx512(mc_kernel_table *t)
{
    t->isa = "avx512";
    t->read_sum = read_sum_avx512;
    t->fma_loop = fma_loop_avx512;
    mc_kernels_fill_avx512_matmul(t);
}
