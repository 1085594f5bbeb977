/* par.c: how the engine spends its threads. Activation rows are prepared once per (input, weight
 * type); a parallel region runs several matmuls at once (q/k/v, the gate and up projections of
 * every activated expert, the LM head of every item) split into row chunks handed out by the
 * pool, so one barrier covers them all and each weight row is read once per step.
 * Depends on the kernels and the pool; allocates nothing. */
#include "engine_impl.h"

#include <string.h>

void eng_act_reset(mc_engine *e)
{
    for (int i = 0; i < ENG_ACT_SLOTS; i++)
        e->act.valid[i] = 0;
}

typedef struct prep_ctx {
    const float *x;
    int64_t xs, n_in;
    mc_dtype t;
    uint8_t *out;
    size_t stride;
} prep_ctx;

static void prep_rows(void *ctx, int64_t b, int64_t end, int worker)
{
    const prep_ctx *c = ctx;
    (void)worker;
    for (int64_t r = b; r < end; r++)
        mc_kernels_quant_act(c->t, c->x + r * c->xs, c->out + (size_t)r * c->stride, c->n_in);
}

const uint8_t *eng_act_prep(mc_engine *e, const float *x, int64_t xs, int64_t n, int64_t n_in,
                            mc_dtype t)
{
    eng_act *a = &e->act;
    int slot = -1;
    for (int i = 0; i < ENG_ACT_SLOTS; i++)
        if (a->valid[i] && a->t[i] == t)
            return a->buf[i];
    for (int i = 0; i < ENG_ACT_SLOTS && slot < 0; i++)
        if (!a->valid[i])
            slot = i;
    MC_ENG_ASSERT(slot >= 0); /* a region needs at most ENG_ACT_SLOTS types of one input */
    prep_ctx c = {x, xs, n_in, t, a->buf[slot], a->stride};
    eng_par(e, n, 16, prep_rows, &c);
    a->t[slot] = t;
    a->valid[slot] = 1;
    return a->buf[slot];
}

int eng_job_add(mc_engine *e, int n, const eng_mat *w, const void *x, size_t xs, int64_t n_tok,
                float *y, int64_t ys)
{
    MC_ENG_ASSERT(n < e->max_jobs);
    eng_job *j = &e->jobs[n];
    j->w = w;
    j->x = x;
    j->x_stride = xs;
    j->n_tok = n_tok;
    j->y = y;
    j->y_stride = ys;
    return n + 1;
}

static void run_one(const eng_job *j, int64_t r0, int64_t r1)
{
    mc_matmul mm = {
        .wtype = j->w->t,
        .w = j->w->p,
        .cols = j->w->cols,
        .r0 = r0,
        .r1 = r1,
        .x = j->x,
        .x_stride = j->x_stride,
        .n_tok = j->n_tok,
        .y = j->y,
        .y_stride = j->y_stride,
        .layout = j->w->layout,
        .rows = j->w->rows,
    };
    mc_kernels_matmul(&mm);
}

static void run_chunks(void *ctx, int64_t b, int64_t end, int worker)
{
    const mc_engine *e = ctx;
    (void)worker;
    for (int64_t i = b; i < end; i++) {
        const eng_chunk *c = &e->chunks[i];
        run_one(&e->jobs[c->job], c->r0, c->r1);
    }
}

/* Work estimate of a job: weight bytes streamed plus the multiply-adds. */
static double job_work(const eng_job *j)
{
    return (double)j->w->rows *
           ((double)j->w->row_bytes + 0.25 * (double)j->w->cols * (double)j->n_tok);
}

/* Splits each job into row chunks: about 8 chunks per thread over the region, in proportion to
 * the work, multiples of 16 rows (64 when the kernels take the GEMM path). The pool hands them
 * out in order, so a thread that finishes early takes the next chunk: with 8 per thread the
 * region ends within about 1/16 of its work of the ideal (4 per thread measured ~10% slower
 * decode; 16 and 32 no faster than 8). */
static int64_t make_chunks(mc_engine *e, int n_jobs)
{
    double total = 0;
    for (int i = 0; i < n_jobs; i++)
        total += job_work(&e->jobs[i]);
    int64_t target = 8 * (int64_t)e->n_threads, n = 0;
    for (int i = 0; i < n_jobs; i++) {
        const eng_job *j = &e->jobs[i];
        int64_t rows = j->w->rows, gran = j->n_tok >= 8 ? 64 : 16;
        int64_t c = total > 0 ? (int64_t)(target * job_work(j) / total + 0.5) : 1;
        int64_t cmax = (rows + gran - 1) / gran;
        c = c < 1 ? 1 : c > cmax ? cmax : c;
        int64_t per = (rows + c - 1) / c;
        per = (per + gran - 1) / gran * gran;
        for (int64_t r = 0; r < rows; r += per) {
            MC_ENG_ASSERT(n < e->max_chunks);
            e->chunks[n].job = i;
            e->chunks[n].r0 = r;
            e->chunks[n].r1 = r + per < rows ? r + per : rows;
            n++;
        }
    }
    return n;
}

void eng_run_jobs(mc_engine *e, int n_jobs)
{
    if (n_jobs <= 0)
        return;
    if (e->n_threads == 1) {
        for (int i = 0; i < n_jobs; i++)
            run_one(&e->jobs[i], 0, e->jobs[i].w->rows);
        return;
    }
    int64_t n = make_chunks(e, n_jobs);
    mc_pool_for(e->pool, n, 1, run_chunks, e);
}

void eng_par(mc_engine *e, int64_t n, int64_t min_par, mc_pool_fn fn, void *ctx)
{
    if (n <= 0)
        return;
    if (n < min_par || e->n_threads == 1) {
        fn(ctx, 0, n, 0);
        return;
    }
    mc_pool_for(e->pool, n, 0, fn, ctx);
}
