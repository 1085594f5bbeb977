/* xcache_int.h: the expert cache's state shared by xcache.c (directory, steps, prefetch, figures)
 * and xcache_io.c (the slow tier: the file, the I/O threads, their queue and the loads). Private
 * to src/engine. Thread safety: the compute thread owns everything but what is marked atomic or
 * guarded by mu (the queue, in_flight, busy time, io_msg). */
#ifndef MC_XCACHE_INT_H
#define MC_XCACHE_INT_H

#include "engine_impl.h"
#include "xcache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#define XC_ALIGN ((uint64_t)4096)
#define XC_IO_THREADS 4
#define XC_HUGE ((size_t)2 << 20)
/* A matrix is read in requests of at most 1 MiB, so a wrong prediction's reads not yet started
 * can be dropped (cancel_wrong) and a demand read waits behind at most a chunk per I/O thread. */
#define XC_CHUNK ((uint64_t)1 << 20)

typedef struct xc_req {
    int64_t slot, expert;
    int k;                     /* 0 gate, 1 up, 2 down */
    uint64_t aoff, alen, need; /* aligned file range of this chunk; bytes that must arrive */
    uint8_t *dst, *mdst;       /* where the chunk goes; the matrix's aligned region */
} xc_req;

struct eng_xcache {
    xc_dir dir;
    int64_t n_slots, n_exp, max_exp, n_moe, max_topk;
    uint64_t slot_bytes, sub_off[3];
    uint64_t *foff, *flen;      /* [n_exp * 3]: each expert matrix's file offset and length */
    eng_mat *mats;              /* [n_moe][3][max_exp]: the views the matmuls use (slot pointers) */
    const eng_layer **layer_of; /* [n_moe] */
    uint8_t *arena;
    void *map;
    size_t map_len;
    int fd, direct, prefetch;
    char note[512], path[4096];
    ssize_t (*pread_fn)(int, void *, size_t, off_t);
    /* per-slot read state: pending reads (atomic), error code of the last load */
    atomic_int *pending;
    atomic_int *err;
    atomic_int *mat_left; /* [n_slots * 3]: chunks of each matrix still to arrive */
    int64_t slot_chunks;  /* read requests of one expert */
    uint64_t chunk;       /* largest read request (XC_CHUNK unless the options say) */
    /* the current layer: wanted experts, round membership (engine's xc_on), scratch */
    int64_t *want, *slot, n_want, *sub, n_sub;
    uint8_t *take, *on, *mark;
    int32_t *ids;
    /* I/O threads and their queue (guarded by mu) */
    pthread_t th[XC_IO_THREADS];
    int n_th, quit, in_flight;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    xc_req *q;
    int64_t q_cap, q_head, q_n;
    atomic_int outstanding, n_err;
    mc_ns busy_t0, busy_ns;
    char io_msg[512];
    atomic_llong bytes, reads, repack_ns;
    uint8_t *scratch; /* [XC_IO_THREADS][scratch_bytes]: repack_read's group buffers */
    size_t scratch_bytes;
    atomic_int th_next; /* hands each I/O thread its index */
    /* figures: this pass and since open */
    int64_t *pass_hits, *pass_misses;
    int64_t bytes0;
    mc_ns pass_stall;
    int64_t hits, misses, prefetched, pinned, cancelled, pf_used;
    int64_t step_clock, pf_floor; /* dir.clock when this step and the one before it began */
    mc_ns stall;
    uint8_t *kill; /* [n_slots]: scratch of cancel_wrong */
    uint8_t *pf;   /* [n_slots]: holds a prediction its layer has not asked for yet */
};

static inline uint64_t floor4k(uint64_t v)
{
    return v / XC_ALIGN * XC_ALIGN;
}

static inline uint64_t ceil4k(uint64_t v)
{
    return (v + XC_ALIGN - 1) / XC_ALIGN * XC_ALIGN;
}

/* ---- xcache_io.c ---- */
/* Opens c->path a second time: O_DIRECT when want_direct and the file system takes it, else
 * buffered (c->note says why). */
mc_err xc_open_file(eng_xcache *c, int want_direct, mc_diag *d);
/* Repack buffers, locks and the I/O threads. */
mc_err xc_start_io(eng_xcache *c, mc_diag *d);
/* The last read error's message as an mc_err (MC_ERR_IO). */
mc_err xc_io_error(eng_xcache *c, mc_diag *d);
/* 1 when slot s has no read in flight. */
int xc_slot_ready(eng_xcache *c, int64_t s);
/* Waits until slot s has no read in flight; the wait counts as the pass's stall. */
void xc_wait_slot(eng_xcache *c, int64_t s);
/* Queues the loads of experts[i] into slots[i] (each first waits for its slot). */
void xc_load_many(eng_xcache *c, const int64_t *slots, const int64_t *experts, int64_t n);
/* Drops the queued reads of the slots marked in c->kill (marking them 2); returns how many.
 * Called with mu held. */
int64_t xc_unqueue_locked(eng_xcache *c);

#endif
