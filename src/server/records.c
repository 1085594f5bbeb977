/* records.c: the bounded store of per-forward-pass records behind /moecap/records and the
 * vLLM-style /dump_batch_recording: a ring of deep-copied mc_pass (src/cap) that drops the
 * oldest record when full and counts the drops. Records are formatted only when dumped, so the
 * scheduler pays one copy per pass while recording and nothing otherwise. Must not depend on
 * libmicrohttpd or the scheduler. */
#include "server_impl.h"

#include <string.h>

mc_err mc_srv_records_init(mc_srv_records *r, size_t cap)
{
    memset(r, 0, sizeof *r);
    atomic_init(&r->on, 0);
    r->cap = cap ? cap : 1;
    if (!(r->ring = mc_calloc(r->cap, sizeof *r->ring)))
        return MC_ERR_NOMEM;
    if (pthread_mutex_init(&r->mu, NULL) != 0) {
        mc_free(r->ring);
        return MC_ERR_INTERNAL;
    }
    return MC_OK;
}

static void clear_locked(mc_srv_records *r)
{
    for (size_t i = 0; i < r->n; i++)
        mc_pass_deinit(&r->ring[(r->head + i) % r->cap]);
    r->head = r->n = 0;
    r->dropped = 0;
}

void mc_srv_records_deinit(mc_srv_records *r)
{
    if (!r->ring)
        return;
    clear_locked(r);
    mc_free(r->ring);
    r->ring = NULL;
    pthread_mutex_destroy(&r->mu);
}

void mc_srv_records_start(mc_srv_records *r)
{
    pthread_mutex_lock(&r->mu);
    clear_locked(r);
    atomic_store(&r->on, 1);
    pthread_mutex_unlock(&r->mu);
}

void mc_srv_records_stop(mc_srv_records *r)
{
    atomic_store(&r->on, 0);
}

void mc_srv_records_clear(mc_srv_records *r)
{
    pthread_mutex_lock(&r->mu);
    clear_locked(r);
    pthread_mutex_unlock(&r->mu);
}

static void *dup_array(const void *p, size_t n, size_t size, int *ok)
{
    if (!p || n == 0)
        return NULL;
    void *q = mc_mallocarray(n, size);
    if (q)
        memcpy(q, p, n * size);
    *ok &= q != NULL;
    return q;
}

static mc_err copy_pass(mc_pass *dst, const mc_pass *src)
{
    int ok = 1;
    *dst = *src;
    dst->experts_per_layer =
        dup_array(src->experts_per_layer, (size_t)src->n_layer_experts, sizeof(double), &ok);
    dst->tokens_per_expert = dup_array(
        src->tokens_per_expert, (size_t)(src->tpe_rows * src->tpe_cols), sizeof(int64_t), &ok);
    dst->chunks = dup_array(src->chunks, (size_t)src->n_chunks, sizeof(mc_req_chunk), &ok);
    dst->cache_hits = dup_array(src->cache_hits, (size_t)src->n_cache_layers, sizeof(int64_t), &ok);
    dst->cache_misses =
        dup_array(src->cache_misses, (size_t)src->n_cache_layers, sizeof(int64_t), &ok);
    if (!ok) {
        mc_pass_deinit(dst);
        return MC_ERR_NOMEM;
    }
    return MC_OK;
}

mc_err mc_srv_records_push(mc_srv_records *r, const mc_pass *p)
{
    if (!atomic_load(&r->on))
        return MC_OK;
    mc_pass copy;
    mc_err e = copy_pass(&copy, p);
    if (e)
        return e;
    pthread_mutex_lock(&r->mu);
    if (r->n == r->cap) {
        mc_pass_deinit(&r->ring[r->head]);
        r->head = (r->head + 1) % r->cap;
        r->n--;
        r->dropped++;
    }
    r->ring[(r->head + r->n) % r->cap] = copy;
    r->n++;
    pthread_mutex_unlock(&r->mu);
    return MC_OK;
}

int64_t mc_srv_records_count(mc_srv_records *r)
{
    pthread_mutex_lock(&r->mu);
    int64_t n = (int64_t)r->n;
    pthread_mutex_unlock(&r->mu);
    return n;
}

static mc_err dump_locked(mc_srv_records *r, int array, mc_buf *out)
{
    mc_err e = mc_buf_append(out, array ? "[" : "", array ? 1 : 0);
    for (size_t i = 0; i < r->n && !e; i++) {
        if (array && i > 0)
            e = mc_buf_append(out, ",", 1);
        if (!e)
            e = mc_pass_format(&r->ring[(r->head + i) % r->cap], out, NULL);
        if (!e && array)
            out->data[--out->len] = 0; /* the line's '\n' */
    }
    return e ? e : mc_buf_append(out, array ? "]" : "", array ? 1 : 0);
}

mc_err mc_srv_records_dump(mc_srv_records *r, int array, mc_buf *out, int64_t *n, uint64_t *dropped)
{
    pthread_mutex_lock(&r->mu);
    mc_err e = dump_locked(r, array, out);
    *n = (int64_t)r->n;
    *dropped = r->dropped;
    pthread_mutex_unlock(&r->mu);
    return e;
}
