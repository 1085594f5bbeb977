/* stream_ref.c: the STREAM-style reference read kernel for bench/probe_vs_stream.c: a plain sum
 * over doubles, compiled (bench/CMakeLists.txt) with -O3 -march=native -ffast-math
 * -funroll-loops so the compiler vectorises, unrolls and reassociates it the way a tuned STREAM
 * build would. Deliberately no intrinsics: it is the "what a good compiler makes of the obvious
 * loop" yardstick. Depends on nothing. */
#include <stddef.h>

double stream_ref_sum(const double *a, size_t n);

double stream_ref_sum(const double *a, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i];
    return s;
}
