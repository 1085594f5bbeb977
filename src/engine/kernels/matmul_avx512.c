/* matmul_avx512.c: AVX-512 matmul (placeholder: keeps the AVX2 entries until the AVX-512 paths
 * land). Compiled with the AVX-512 flags. */
#include "kernels_impl.h"

void mc_kernels_fill_avx512_matmul(mc_kernel_table *t) { (void)t; }
