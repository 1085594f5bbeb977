/* kernels_avx512.c: AVX-512 (F, BW, VL, DQ, VNNI) kernels. For now only the matmul
 * (matmul_avx512.c) has AVX-512 variants; every other entry keeps the AVX2 version.
 * Compiled with the AVX-512 flags; reached only through the dispatch table after the CPU check.
 * Must not depend on the ref file. */
#include "kernels_impl.h"

void mc_kernels_fill_avx512(mc_kernel_table *t)
{
    t->isa = "avx512";
    mc_kernels_fill_avx512_matmul(t);
}
