/* xcache_io.c: the expert cache's slow tier (docs/ENGINE.md, "Expert offloading"): the GGUF file
 * opened a second time (O_DIRECT, or buffered with posix_fadvise(DONTNEED)), the I/O threads and
 * their queue, expert loads cut into chunks, the repack of each matrix once its bytes are in,
 * and the waits of the compute thread (stall). Must not depend on the directory's policies or
 * the engine's forward pass (xcache.c decides what to load and when). */
#include "xcache_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---- the slow tier -------------------------------------------------------------------------- */

/* The file a second time: O_DIRECT when asked and the file system takes it (one aligned read
 * checks: some accept the flag at open and refuse the read), else buffered. */
mc_err xc_open_file(eng_xcache *c, int want_direct, mc_diag *d)
{
    c->fd = -1;
    if (want_direct) {
        int fd = open(c->path, O_RDONLY | O_DIRECT | O_CLOEXEC);
        int why = fd < 0 ? errno : 0;
        if (fd >= 0 && pread(fd, c->arena, XC_ALIGN, 0) < 0) {
            why = errno;
            close(fd);
            fd = -1;
        }
        if (fd >= 0) {
            c->fd = fd;
            c->direct = 1;
            return MC_OK;
        }
        snprintf(c->note, sizeof c->note,
                 "O_DIRECT is not available for %.300s (%s): expert reads are buffered, with "
                 "posix_fadvise(DONTNEED) after each read",
                 c->path, strerror(why));
    } else {
        snprintf(c->note, sizeof c->note,
                 "expert reads are buffered (O_DIRECT off), with posix_fadvise(DONTNEED) after "
                 "each read");
    }
    c->fd = open(c->path, O_RDONLY | O_CLOEXEC);
    if (c->fd < 0)
        return mc_fail(d, MC_ERR_IO, "engine: expert cache: cannot open %.300s: %s", c->path,
                       strerror(errno));
    return MC_OK;
}

/* One request: 0, or an errno-like code (EIO for a short read) with c->io_msg (under mu). */
static int do_read(eng_xcache *c, const xc_req *r, uint64_t *got)
{
    *got = 0;
    while (*got < r->need) {
        ssize_t n =
            c->pread_fn(c->fd, r->dst + *got, (size_t)(r->alen - *got), (off_t)(r->aoff + *got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int code = n < 0 ? errno : EIO;
            pthread_mutex_lock(&c->mu);
            snprintf(c->io_msg, sizeof c->io_msg,
                     "engine: expert cache: reading MoE layer %lld expert %lld (%s) from %.240s at "
                     "offset %llu: %s (%llu of %llu bytes)",
                     (long long)(r->expert / c->max_exp), (long long)(r->expert % c->max_exp),
                     r->k == 0   ? "gate"
                     : r->k == 1 ? "up"
                                 : "down",
                     c->path, (unsigned long long)r->aoff, n < 0 ? strerror(code) : "short read",
                     (unsigned long long)*got, (unsigned long long)r->need);
            pthread_mutex_unlock(&c->mu);
            return code ? code : EIO;
        }
        *got += (uint64_t)n;
    }
    if (!c->direct)
        posix_fadvise(c->fd, (off_t)r->aoff, (off_t)r->alen, POSIX_FADV_DONTNEED);
    return 0;
}

/* A matrix just read into its slot, rewritten in place into its view's layout (the kernels'
 * faster one, weights_repack.c), so cached experts compute the same bits as resident ones.
 * 0, or ENOMEM with c->io_msg (under mu) when the group buffer cannot be allocated. */
static int repack_read(eng_xcache *c, const xc_req *r, uint8_t *scratch)
{
    int64_t ml = r->expert / c->max_exp, j = r->expert % c->max_exp;
    const eng_mat *v = &c->mats[(ml * 3 + r->k) * c->max_exp + j];
    uint64_t off = c->foff[r->expert * 3 + r->k];
    mc_diag d;
    if (v->layout == MC_WLAYOUT_GGML ||
        mc_kernels_repack(v->t, v->layout, v->rows, v->cols, r->mdst + (off - floor4k(off)),
                          scratch, &d) == MC_OK)
        return 0;
    pthread_mutex_lock(&c->mu);
    snprintf(c->io_msg, sizeof c->io_msg, "engine: expert cache: %.400s", d.msg);
    pthread_mutex_unlock(&c->mu);
    return ENOMEM;
}

static void *io_main(void *arg)
{
    eng_xcache *c = arg;
    uint8_t *scratch = c->scratch + (size_t)atomic_fetch_add(&c->th_next, 1) * c->scratch_bytes;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->quit && c->q_n == 0)
            pthread_cond_wait(&c->cv_work, &c->mu);
        if (c->q_n == 0)
            break;
        xc_req r = c->q[c->q_head];
        c->q_head = (c->q_head + 1) % c->q_cap;
        c->q_n--;
        if (c->in_flight++ == 0)
            c->busy_t0 = mc_now_ns();
        pthread_mutex_unlock(&c->mu);
        uint64_t got = 0;
        int code = do_read(c, &r, &got);
        if (code)
            atomic_store(&c->err[r.slot], code);
        /* the matrix's last chunk rewrites it (all its bytes are in) before the slot is ready */
        if (atomic_fetch_sub(&c->mat_left[r.slot * 3 + r.k], 1) == 1 &&
            !atomic_load(&c->err[r.slot])) {
            mc_ns t0 = mc_now_ns();
            code = repack_read(c, &r, scratch);
            atomic_fetch_add(&c->repack_ns, (long long)(mc_now_ns() - t0));
        }
        atomic_fetch_add(&c->bytes, (long long)got);
        atomic_fetch_add(&c->reads, 1);
        pthread_mutex_lock(&c->mu);
        if (--c->in_flight == 0)
            c->busy_ns += mc_now_ns() - c->busy_t0;
        if (code) {
            atomic_store(&c->err[r.slot], code);
            atomic_fetch_add(&c->n_err, 1);
        }
        atomic_fetch_sub_explicit(&c->pending[r.slot], 1, memory_order_release);
        atomic_fetch_sub(&c->outstanding, 1);
        pthread_cond_broadcast(&c->cv_done);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

mc_err xc_start_io(eng_xcache *c, mc_diag *d)
{
    for (int64_t i = 0; i < c->n_moe * 3 * c->max_exp; i++) { /* repack_read's buffers */
        size_t sb = c->mats[i].layout != MC_WLAYOUT_GGML
                        ? mc_kernels_repack_scratch_bytes(c->mats[i].t, c->mats[i].cols)
                        : 0;
        c->scratch_bytes = sb > c->scratch_bytes ? sb : c->scratch_bytes;
    }
    if (!(c->scratch = mc_malloc(XC_IO_THREADS * c->scratch_bytes + 1)))
        return mc_fail(d, MC_ERR_NOMEM, "engine: expert cache: out of memory");
    if (pthread_mutex_init(&c->mu, NULL) || pthread_cond_init(&c->cv_work, NULL) ||
        pthread_cond_init(&c->cv_done, NULL))
        return mc_fail(d, MC_ERR_INTERNAL, "engine: expert cache: cannot create its locks");
    for (; c->n_th < XC_IO_THREADS; c->n_th++)
        if (pthread_create(&c->th[c->n_th], NULL, io_main, c) != 0)
            return mc_fail(d, MC_ERR_INTERNAL, "engine: expert cache: cannot start I/O threads");
    return MC_OK;
}

/* Queues the reads of matrix k of expert x into slot s in chunks of c->chunk; returns how
 * many. Called with mu held. */
static int queue_matrix_locked(eng_xcache *c, int64_t s, int64_t x, int k)
{
    uint64_t off = c->foff[x * 3 + k], len = c->flen[x * 3 + k];
    uint64_t a = floor4k(off), alen = ceil4k(off + len) - a, need = off + len - a;
    uint8_t *mdst = c->arena + (size_t)s * c->slot_bytes + c->sub_off[k];
    int n = 0;
    for (uint64_t at = 0; at < alen; at += c->chunk, n++) {
        uint64_t cl = alen - at < c->chunk ? alen - at : c->chunk;
        uint64_t cn = need - at < cl ? need - at : cl; /* need > at: alen = ceil4k(need) */
        c->q[(c->q_head + c->q_n++) % c->q_cap] =
            (xc_req){s, x, k, a + at, cl, cn, mdst + at, mdst};
    }
    int64_t ml = x / c->max_exp, j = x % c->max_exp;
    c->mats[(ml * 3 + k) * c->max_exp + j].p = mdst + (off - a);
    atomic_store(&c->mat_left[s * 3 + k], n);
    return n;
}

/* Queues the loads of expert x into slot s (three matrices) and points its views at the slot.
 * Called with mu held; the slot has no read in flight. */
static void queue_load_locked(eng_xcache *c, int64_t s, int64_t x)
{
    atomic_store(&c->err[s], 0);
    int n = 0;
    for (int k = 0; k < 3; k++)
        n += queue_matrix_locked(c, s, x, k);
    atomic_store_explicit(&c->pending[s], n, memory_order_relaxed);
    atomic_fetch_add(&c->outstanding, n);
}

/* The last read error's message (written by the I/O threads under mu) as the step's error. */
mc_err xc_io_error(eng_xcache *c, mc_diag *d)
{
    pthread_mutex_lock(&c->mu);
    mc_err err = mc_fail(d, MC_ERR_IO, "%s", c->io_msg);
    pthread_mutex_unlock(&c->mu);
    return err;
}

int xc_slot_ready(eng_xcache *c, int64_t s)
{
    return atomic_load_explicit(&c->pending[s], memory_order_acquire) == 0;
}

/* Waits until slot s has no read in flight; the wait counts as stall. */
void xc_wait_slot(eng_xcache *c, int64_t s)
{
    if (xc_slot_ready(c, s))
        return;
    mc_ns t0 = mc_now_ns();
    pthread_mutex_lock(&c->mu);
    while (!xc_slot_ready(c, s))
        pthread_cond_wait(&c->cv_done, &c->mu);
    pthread_mutex_unlock(&c->mu);
    c->pass_stall += mc_now_ns() - t0;
}

/* Queues loads for the (slot, expert) pairs: every one first waits for a read still in flight
 * into its slot (a prefetch the policy gave up), then all go to the I/O threads at once. */
void xc_load_many(eng_xcache *c, const int64_t *slots, const int64_t *experts, int64_t n)
{
    if (n == 0)
        return;
    for (int64_t i = 0; i < n; i++)
        xc_wait_slot(c, slots[i]);
    pthread_mutex_lock(&c->mu);
    for (int64_t i = 0; i < n; i++)
        queue_load_locked(c, slots[i], experts[i]);
    pthread_cond_broadcast(&c->cv_work);
    pthread_mutex_unlock(&c->mu);
}

/* Drops the queued (not yet started) reads of the slots marked in c->kill from the I/O queue,
 * marking those slots 2; returns how many reads were dropped. Called with mu held. */
int64_t xc_unqueue_locked(eng_xcache *c)
{
    int64_t keep = 0, n = c->q_n;
    for (int64_t i = 0; i < n; i++) {
        xc_req r = c->q[(c->q_head + i) % c->q_cap];
        if (!c->kill[r.slot]) {
            c->q[(c->q_head + keep++) % c->q_cap] = r;
            continue;
        }
        c->kill[r.slot] = 2;
        atomic_fetch_sub_explicit(&c->pending[r.slot], 1, memory_order_release);
        atomic_fetch_sub(&c->outstanding, 1);
    }
    c->q_n = keep;
    return n - keep;
}
