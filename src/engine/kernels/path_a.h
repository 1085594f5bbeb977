/* path_a.h: the row/token walk of the matmul's path A, shared by the ISA matmul files.
 *
 * PATH_A(m, TILE, n, extra, multi) calls TILE(w, rb, x, xs, n, y, ys, extra, NR, NT) over the
 * whole mc_matmul *m with compile-time tile shapes NR x NT: tokens in groups of up to 4; with
 * `multi` (the light-arithmetic types: floats, Q8_0) NR = 4 rows for one token and 2 for two,
 * i.e. several interleaved weight streams, which a core reads faster than one (~16 vs ~14 GB/s
 * here); the arithmetic-heavy types (Q4_0, K-quants) measured faster from DRAM with one row at a
 * time. Leftover rows go one at a time. Include only from ISA files that define such tiles. */
#ifndef MC_PATH_A_H
#define MC_PATH_A_H

#include "kernels_impl.h"

static inline int path_a_rows_per_tile(int64_t n_tok, int multi)
{
    return !multi ? 1 : n_tok == 1 ? 4 : n_tok == 2 ? 2 : 1;
}

#define PATH_A_SHAPE(TILE, nr, nt, ...)                                                            \
    switch ((nr)*8 + (nt)) {                                                                       \
    case 4 * 8 + 1: TILE(__VA_ARGS__, 4, 1); break;                                                \
    case 2 * 8 + 2: TILE(__VA_ARGS__, 2, 2); break;                                                \
    case 1 * 8 + 1: TILE(__VA_ARGS__, 1, 1); break;                                                \
    case 1 * 8 + 2: TILE(__VA_ARGS__, 1, 2); break;                                                \
    case 1 * 8 + 3: TILE(__VA_ARGS__, 1, 3); break;                                                \
    case 1 * 8 + 4: TILE(__VA_ARGS__, 1, 4); break;                                                \
    default: MC_KASSERT(0 && "path A tile shape");                                                 \
    }

#define PATH_A(m, TILE, n, extra, multi)                                                           \
    {                                                                                              \
        size_t rb_ = mc_type_bytes((m)->wtype, (m)->cols);                                         \
        int nrt_ = path_a_rows_per_tile((m)->n_tok, (multi));                                      \
        const char *w_ = (const char *)(m)->w, *x_ = (const char *)(m)->x;                         \
        for (int64_t r_ = (m)->r0; r_ < (m)->r1;) {                                                \
            int nr_ = (m)->r1 - r_ >= nrt_ ? nrt_ : 1;                                             \
            for (int64_t t_ = 0; t_ < (m)->n_tok; t_ += 4) {                                       \
                int nt_ = (m)->n_tok - t_ < 4 ? (int)((m)->n_tok - t_) : 4;                        \
                PATH_A_SHAPE(TILE, nr_, nt_, w_ + (size_t)r_ * rb_, rb_,                           \
                             x_ + (size_t)t_ * (m)->x_stride, (m)->x_stride, (n),                  \
                             (m)->y + t_ * (m)->y_stride + r_, (m)->y_stride, (extra))             \
            }                                                                                      \
            r_ += nr_;                                                                             \
        }                                                                                          \
    }

#endif
