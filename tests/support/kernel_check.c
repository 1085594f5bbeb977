/* kernel_check.c: see kernel_check.h. */
#include "kernel_check.h"

#include <math.h>
#include <stdio.h>

void kc_run(const mc_kernel_table *k, const kc_case *c, const void *w, int r16, const void *x,
            size_t xs, float *y, int64_t ys)
{
    for (int64_t i = 0; i < c->n_tok * ys; i++)
        y[i] = KC_SENTINEL;
    mc_matmul mm = {.wtype = c->t,
                    .w = w,
                    .cols = c->cols,
                    .r0 = c->r0,
                    .r1 = c->r1,
                    .x = x,
                    .x_stride = xs,
                    .n_tok = c->n_tok,
                    .y = y,
                    .y_stride = ys,
                    .layout = r16 ? MC_WLAYOUT_R16 : MC_WLAYOUT_GGML,
                    .rows = c->rows};
    if (r16)
        k->matmul_r16[c->t](&mm);
    else
        k->matmul[c->t](&mm);
}

/* The tolerance of row r, token i (0 outside [r0, r1), where the sentinel is wanted exactly). */
static double tolerance(const kc_case *c, int64_t i, int64_t r, const float *wf, const float *xf,
                        size_t xf_stride)
{
    if (r < c->r0 || r >= c->r1)
        return 0;
    const float *xi = (const float *)((const char *)xf + (size_t)i * xf_stride);
    double sabs = 0;
    for (int64_t k = 0; k < c->cols; k++)
        sabs += fabs((double)wf[r * c->cols + k] * xi[k]);
    return 5e-6 * sabs + 1e-30;
}

int kc_compare(const kc_case *c, const float *y, const float *yref, int64_t ys, const float *wf,
               const float *xf, size_t xf_stride, const char *isa)
{
    int bad = 0;
    for (int64_t i = 0; i < c->n_tok; i++)
        for (int64_t r = 0; r < ys; r++) {
            int inside = r >= c->r0 && r < c->r1;
            float got = y[i * ys + r], want = inside ? yref[i * ys + r] : KC_SENTINEL;
            double tol = tolerance(c, i, r, wf, xf, xf_stride);
            if (!(fabs((double)got - want) <= tol) && bad++ == 0)
                fprintf(stderr,
                        "     %s %s rows %lld cols %lld n_tok %lld [%lld,%lld): y[%lld][%lld] = "
                        "%.9g, want %.9g (tol %.3g)\n",
                        isa, mc_dtype_name(c->t), (long long)c->rows, (long long)c->cols,
                        (long long)c->n_tok, (long long)c->r0, (long long)c->r1, (long long)i,
                        (long long)r, got, want, tol);
        }
    return bad;
}

void kc_data_release(kc_data *d)
{
    mc_free(d->w);
    mc_free(d->wr);
    mc_free(d->x);
    mc_free(d->wf);
    mc_free(d->xf);
    mc_free(d->yref);
    mc_free(d->y);
}

void kc_data_run(const mc_kernel_table *k, const kc_case *c, const kc_data *d, float *y, int r16)
{
    kc_run(k, c, r16 ? d->wr : d->w, r16, d->x, d->xs, y, d->ys);
}

int kc_data_compare(const kc_case *c, const kc_data *d, const char *isa)
{
    const float *xf = d->xf ? d->xf : (const float *)d->x;
    size_t stride = d->xf ? (size_t)c->cols * sizeof(float) : d->xs;
    return kc_compare(c, d->y, d->yref, d->ys, d->wf, xf, stride, isa);
}
