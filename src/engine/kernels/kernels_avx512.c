/* kernels_avx512.c: AVX-512 (F, BW, VL, DQ, VNNI) kernels other than the matmul
 * (matmul_avx512.c): the measurement loops. Every entry not set here keeps its AVX2 version.
 * Compiled with the AVX-512 flags; reached only through the dispatch table after the CPU check.
 * Must not depend on the ref file. */
#include "simd_avx2.h"

static uint64_t hsum_u64x8(__m512i v)
{
    uint64_t o8[8], sum = 0; /* not _mm512_reduce_add_epi64: signed (UB on wrap) in GCC's header */
    _mm512_storeu_si512(o8, v);
    for (int i = 0; i < 8; i++)
        sum += o8[i];
    return sum;
}

/* streams = 1: a plain sequential sum. streams = 4: four interleaved sequential streams (a
 * quarter of the buffer each), prefetched like the matmul weight streams: one core reads
 * ~16.7 GB/s this way here, ~14 from a single stream. */
static uint64_t read_sum_avx512(const void *p, size_t bytes, int streams)
{
    if (streams == 1) {
        const __m512i *v = p;
        __m512i s0 = _mm512_setzero_si512(), s1 = s0;
        for (size_t i = 0; i + 2 <= bytes / 64; i += 2) {
            s0 = _mm512_add_epi64(s0, _mm512_load_si512(v + i));
            s1 = _mm512_add_epi64(s1, _mm512_load_si512(v + i + 1));
        }
        if (bytes / 64 % 2)
            s0 = _mm512_add_epi64(s0, _mm512_load_si512(v + bytes / 64 - 1));
        return hsum_u64x8(_mm512_add_epi64(s0, s1));
    }
    const char *base = p;
    size_t part = bytes / 4 / 64 * 64;
    __m512i s[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                    _mm512_setzero_si512()};
    for (size_t o = 0; o < part; o += 64) {
        for (int k = 0; k < 4; k++) {
            const char *q = base + (size_t)k * part + o;
            _mm_prefetch(q + 4096, _MM_HINT_T1);
            _mm_prefetch(q + 512, _MM_HINT_T0);
            s[k] = _mm512_add_epi64(s[k], _mm512_load_si512(q));
        }
    }
    for (size_t o = 4 * part; o < bytes; o += 64) /* the tail */
        s[0] = _mm512_add_epi64(s[0], _mm512_load_si512(base + o));
    return hsum_u64x8(_mm512_add_epi64(_mm512_add_epi64(s[0], s[1]), _mm512_add_epi64(s[2], s[3])));
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
    mc_kernels_fill_avx512_r16k(t);
}
