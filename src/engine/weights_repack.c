/* weights_repack.c: rewrites the engine's matmul matrices in place into the layout the active
 * kernels read fastest (mc_kernels_best_layout; 16-row groups of Q8_0/Q4_0, Q6_K/Q4_K and
 * F32/F16/BF16 on avx2 and avx512, docs/KERNELS.md "Repacked weights") and records it in each
 * eng_mat.
 * Called by weights.c on its huge-page copy; eng_mat_repack is also the entry point for anything
 * else that fills a matrix's bytes (an expert cache's slots). Depends on the kernels and the
 * engine's binding tables. */
#include "engine_impl.h"

mc_err eng_mat_repack(eng_mat *m, void *scratch, mc_diag *d)
{
    mc_wlayout lay = mc_kernels_best_layout(m->t, m->rows);
    if (m->layout != MC_WLAYOUT_GGML || lay == MC_WLAYOUT_GGML)
        return MC_OK;
    mc_err err = mc_kernels_repack(m->t, lay, m->rows, m->cols, (void *)m->p, scratch, d);
    if (!err)
        m->layout = lay;
    return err;
}

/* Calls fn on every matmul matrix: the head (unless it shares the embedding's bytes: embedding
 * rows are looked up and dequantised one at a time, so that table stays in GGUF's layout), each
 * layer's projections (MLA's too) and router, and every expert unless an expert cache serves
 * them. Stops at the first error. */
typedef mc_err (*mat_fn)(mc_engine *e, eng_mat *m, void *ctx, mc_diag *d);

static mc_err for_each_mat(mc_engine *e, mat_fn fn, void *ctx, mc_diag *d)
{
    mc_err err = e->head.p != e->embd.p ? fn(e, &e->head, ctx, d) : MC_OK;
    for (int64_t l = 0; !err && l < e->n_layers; l++) {
        eng_layer *L = &e->L[l];
        eng_mat *ms[] = {&L->wq,   &L->wk,     &L->wv,    &L->wo,   &L->gate, &L->up,
                         &L->down, &L->router, &L->sg,    &L->su,   &L->sd,   &L->sgate,
                         &L->wq_a, &L->wq_b,   &L->wkv_a, &L->wkv_b};
        for (size_t i = 0; !err && i < sizeof ms / sizeof ms[0]; i++)
            err = fn(e, ms[i], ctx, d);
        /* with an expert cache the routed experts are not in the copy: the cache reads them into
         * its slots and repacks each matrix as it lands (xcache_io.c, repack_read) */
        for (int64_t x = 0; !err && L->moe && !e->xc && x < L->n_exp; x++)
            if (!(err = fn(e, &L->xg[x], ctx, d)) && !(err = fn(e, &L->xu[x], ctx, d)))
                err = fn(e, &L->xd[x], ctx, d);
    }
    return err;
}

static mc_err scratch_need(mc_engine *e, eng_mat *m, void *ctx, mc_diag *d)
{
    size_t *need = ctx, s = m->rows ? mc_kernels_repack_scratch_bytes(m->t, m->cols) : 0;
    (void)e, (void)d;
    *need = s > *need ? s : *need;
    return MC_OK;
}

static mc_err repack_one(mc_engine *e, eng_mat *m, void *scratch, mc_diag *d)
{
    mc_err err = m->rows ? eng_mat_repack(m, scratch, d) : MC_OK;
    e->n_repacked += !err && m->layout != MC_WLAYOUT_GGML;
    return err;
}

/* Every matmul matrix of the copy into the kernels' layout, through one scratch buffer. */
mc_err eng_repack_all(mc_engine *e, mc_diag *d)
{
    size_t need = 0;
    for_each_mat(e, scratch_need, &need, d);
    void *scratch = mc_malloc(need ? need : 1);
    if (!scratch)
        return mc_fail(d, MC_ERR_NOMEM, "engine: no memory (%zu bytes) to repack weights", need);
    mc_err err = for_each_mat(e, repack_one, scratch, d);
    mc_free(scratch);
    return err;
}

int mc_engine_weights_repacked(const mc_engine *e)
{
    return e->n_repacked;
}
