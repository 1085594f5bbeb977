/* weights.c: where the tensor data lives while the engine runs: in the read-only file mapping
 * (mc_gguf_open's mmap, 4 KiB page-cache pages), or copied once into anonymous memory backed by
 * 2 MiB transparent huge pages, where the matrices are then rewritten in the layout the kernels
 * read fastest (weights_repack.c). Decode streams every weight it needs once per token;
 * on 4 KiB pages the hardware prefetcher stops at every page boundary and each page costs a TLB
 * walk, and the copy measured about 15% faster batch-1 decode on this project's machine
 * (docs/ENGINE.md, "Weights in memory").
 *
 * The copy is one mmap (not mc_malloc: it must be 2 MiB aligned and madvise'd); it covers the
 * tensor data section and every bound matrix is re-pointed into it. With an expert cache
 * (xcache.c) the routed experts' bytes are left out of the copy and stay untouched in the
 * mapping: the cache reads them from the file. Depends on the GGUF reader and the engine's
 * binding tables. */
#include "engine_impl.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define HUGE_PAGE ((size_t)2 << 20)

static void rebase(eng_mat *m, const uint8_t *from, size_t n, uint8_t *to)
{
    if (m->rows && m->p >= from && m->p < from + n)
        m->p = to + (m->p - from);
}

static void rebase_all(mc_engine *e, const uint8_t *from, size_t n, uint8_t *to)
{
    rebase(&e->embd, from, n, to);
    rebase(&e->head, from, n, to);
    for (int64_t l = 0; l < e->n_layers; l++) {
        eng_layer *L = &e->L[l];
        eng_mat *ms[] = {&L->wq,   &L->wk,     &L->wv,    &L->wo,   &L->gate, &L->up,
                         &L->down, &L->router, &L->sg,    &L->su,   &L->sd,   &L->sgate,
                         &L->wq_a, &L->wq_b,   &L->wkv_a, &L->wkv_b};
        for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
            rebase(ms[i], from, n, to);
        for (int64_t x = 0; L->moe && !e->xc && x < L->n_exp; x++) {
            rebase(&L->xg[x], from, n, to);
            rebase(&L->xu[x], from, n, to);
            rebase(&L->xd[x], from, n, to);
        }
    }
}

/* Auto: copy when the data takes at most half of the memory that is free right now. */
static int want_copy(int mode, size_t bytes)
{
    if (mode != MC_WEIGHTS_AUTO)
        return mode == MC_WEIGHTS_COPY;
    /* MemAvailable, not free pages: after large file reads most memory is page cache, and
     * free pages alone had turned the copy (and the repack with it) off, halving decode speed */
    return (double)bytes <= 0.5 * (double)mc_mem_available();
}

/* Byte ranges [lo, hi) of the data section (relative to base) that hold routed experts. */
typedef struct wrange {
    size_t lo, hi;
} wrange;

static int cmp_range(const void *a, const void *b)
{
    const wrange *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* With an expert cache the experts are read from the file into the cache (xcache.c): their
 * ranges are neither copied nor touched. Sorted ranges in *out (n), NULL when none. */
static mc_err expert_ranges(const mc_engine *e, const uint8_t *base, wrange **out, size_t *n,
                            mc_diag *d)
{
    size_t k = 0, cap = 0;
    *out = NULL;
    *n = 0;
    for (int64_t l = 0; e->xc && l < e->n_layers; l++)
        cap += e->L[l].moe ? 3 * (size_t)e->L[l].n_exp : 0;
    if (cap == 0)
        return MC_OK;
    wrange *r = mc_mallocarray(cap, sizeof *r);
    if (!r)
        return mc_fail(d, MC_ERR_NOMEM, "engine: out of memory");
    for (int64_t l = 0; l < e->n_layers; l++)
        for (int64_t x = 0; e->L[l].moe && x < e->L[l].n_exp; x++) {
            const eng_mat *m[3] = {&e->L[l].xg[x], &e->L[l].xu[x], &e->L[l].xd[x]};
            for (int i = 0; i < 3; i++, k++) {
                r[k].lo = (size_t)(m[i]->p - base);
                r[k].hi = r[k].lo + (size_t)m[i]->rows * m[i]->row_bytes;
            }
        }
    qsort(r, k, sizeof *r, cmp_range);
    *out = r;
    *n = k;
    return MC_OK;
}

/* Copies [0, n) of from to to, except the ranges r[0..nr) (sorted). Returns the bytes copied. */
static size_t copy_except(uint8_t *to, const uint8_t *from, size_t n, const wrange *r, size_t nr)
{
    size_t at = 0, copied = 0;
    for (size_t i = 0; i <= nr; i++) {
        size_t lo = i < nr ? r[i].lo : n, hi = i < nr ? r[i].hi : n;
        if (lo > at) {
            memcpy(to + at, from + at, lo - at);
            copied += lo - at;
        }
        at = hi > at ? hi : at;
    }
    return copied;
}

static size_t ranges_bytes(const wrange *r, size_t nr)
{
    size_t sum = 0, at = 0;
    for (size_t i = 0; i < nr; i++) {
        size_t lo = r[i].lo > at ? r[i].lo : at;
        sum += r[i].hi > lo ? r[i].hi - lo : 0;
        at = r[i].hi > at ? r[i].hi : at;
    }
    return sum;
}

mc_err eng_place_weights(mc_engine *e, int mode, int repack, mc_diag *d)
{
    const uint8_t *base = mc_gguf_bytes(e->g);
    uint64_t off = mc_gguf_data_offset(e->g), size = mc_gguf_file_size(e->g);
    wrange *r = NULL;
    size_t nr = 0;
    if (off >= size)
        return MC_OK;
    mc_err err = expert_ranges(e, base + off, &r, &nr, d);
    size_t n = (size_t)(size - off), len = (n + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE + HUGE_PAGE;
    if (err || !want_copy(mode, n - ranges_bytes(r, nr)))
        goto out;
    /* the mapping spans the whole data section; the experts' pages are never touched */
    void *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) {
        if (mode != MC_WEIGHTS_AUTO) /* auto: run from the file mapping instead */
            err = mc_fail(d, MC_ERR_NOMEM, "engine: cannot allocate %.3g GiB for the weights",
                          (double)n / 1073741824.0);
        goto out;
    }
    uint8_t *to = (uint8_t *)(((uintptr_t)map + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    madvise(to, len - (size_t)(to - (uint8_t *)map), MADV_HUGEPAGE); /* a hint: ignore failure */
    copy_except(to, base + off, n, r, nr);
    rebase_all(e, base + off, n, to);
    e->wcopy = map;
    e->wcopy_len = len;
    if (repack)
        err = eng_repack_all(e, d);
out:
    mc_free(r);
    return err;
}

void eng_free_weights(mc_engine *e)
{
    if (e->wcopy)
        munmap(e->wcopy, e->wcopy_len);
    e->wcopy = NULL;
}

int mc_engine_weights_copied(const mc_engine *e)
{
    return e->wcopy != NULL;
}
