/* weights.c: where the tensor data lives while the engine runs: in the read-only file mapping
 * (mc_gguf_open's mmap, 4 KiB page-cache pages), or copied once into anonymous memory backed by
 * 2 MiB transparent huge pages, where the Q8_0/Q4_0 matrices are then rewritten in the layout the
 * kernels read fastest (mc_kernels_best_layout: 16-row groups, docs/KERNELS.md). Decode streams every weight it needs once per token; on 4 KiB
 * pages the hardware prefetcher stops at every page boundary and each page costs a TLB walk, and
 * the copy measured about 15% faster batch-1 decode on this project's machine
 * (docs/ENGINE.md, "Weights in memory").
 *
 * The copy is one mmap (not mc_malloc: it must be 2 MiB aligned and madvise'd); it covers the
 * tensor data section and every bound matrix is re-pointed into it. Depends on the GGUF reader
 * and the engine's binding tables. */
#include "engine_impl.h"

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
        eng_mat *ms[] = {&L->wq,   &L->wk,     &L->wv, &L->wo, &L->gate, &L->up,
                         &L->down, &L->router, &L->sg, &L->su, &L->sd,   &L->sgate};
        for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
            rebase(ms[i], from, n, to);
        for (int64_t x = 0; L->moe && x < L->n_exp; x++) {
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
    long pages = sysconf(_SC_AVPHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    return pages > 0 && psz > 0 && (double)bytes <= 0.5 * (double)pages * (double)psz;
}

mc_err eng_place_weights(mc_engine *e, int mode, int repack, mc_diag *d)
{
    const uint8_t *base = mc_gguf_bytes(e->g);
    uint64_t off = mc_gguf_data_offset(e->g), size = mc_gguf_file_size(e->g);
    if (off >= size || !want_copy(mode, (size_t)(size - off)))
        return MC_OK;
    size_t n = (size_t)(size - off), len = (n + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE + HUGE_PAGE;
    void *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) {
        if (mode == MC_WEIGHTS_AUTO)
            return MC_OK; /* run from the file mapping instead */
        return mc_fail(d, MC_ERR_NOMEM, "engine: cannot allocate %.3g GiB for the weights",
                       (double)n / 1073741824.0);
    }
    uint8_t *to = (uint8_t *)(((uintptr_t)map + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    madvise(to, len - (size_t)(to - (uint8_t *)map), MADV_HUGEPAGE); /* a hint: ignore failure */
    memcpy(to, base + off, n);
    rebase_all(e, base + off, n, to);
    e->wcopy = map;
    e->wcopy_len = len;
    return repack ? eng_repack_all(e, d) : MC_OK;
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
