/* xcache.c: the engine's expert cache over a slow tier (docs/ENGINE.md, "Expert offloading").
 *
 * Routed experts (the gate, up and down matrices of one (MoE layer, expert)) live in the slots of
 * one aligned arena of at most expert_cache_bytes; everything else stays where weights.c puts
 * it. A slot holds each matrix in its own 4 KiB-aligned region, large enough for the read
 * [floor4k(off), ceil4k(off + len)) of that matrix of any expert, so O_DIRECT reads work for
 * tensors at any file offset; the matrix view points at slot + region + (off - floor4k(off)).
 * A miss reads those ranges from the GGUF file, opened a second time with O_DIRECT (or buffered
 * with posix_fadvise(DONTNEED) after each read when the file system refuses O_DIRECT), on a few
 * I/O threads: the misses of a layer round are queued together so several reads are in flight.
 *
 * The compute thread owns the directory (src/cap/xcache_dir.c): on a hit it touches plain arrays
 * and one atomic, never a lock or a syscall. Waiting for reads is the only blocking, timed as
 * stall.
 * Prefetch applies the next MoE layer's router to the current layer's normalised input and queues
 * the predicted experts' reads while the current layer computes.
 * The file, the I/O threads, their queue and the waits are xcache_io.c's (xcache_int.h).
 * Depends on the engine's state, par.c (the predictor's matmul) and POSIX I/O and threads. */
#include "xcache_int.h"

/* the directory (src/cap/xcache_dir.c) takes cap's policy numbers */
_Static_assert((int)MC_XCACHE_LRU == (int)MC_CACHE_LRU && (int)MC_XCACHE_LFU == (int)MC_CACHE_LFU &&
                   (int)MC_XCACHE_STATIC == (int)MC_CACHE_STATIC,
               "engine and cap cache policies differ");

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const eng_mat *src_mat(const eng_layer *L, int k, int64_t x)
{
    return k == 0 ? &L->xg[x] : k == 1 ? &L->xu[x] : &L->xd[x];
}

/* ---- layout --------------------------------------------------------------------------------- */

/* File offsets of every expert matrix, the slot's regions and size, the matmul views. */
static mc_err layout(mc_engine *e, eng_xcache *c, mc_diag *d)
{
    const uint8_t *base = mc_gguf_bytes(e->g);
    uint64_t reg[3] = {0, 0, 0};
    for (int64_t l = 0; l < e->n_layers; l++) {
        const eng_layer *L = &e->L[l];
        for (int64_t x = 0; L->moe && x < L->n_exp; x++)
            for (int k = 0; k < 3; k++) {
                const eng_mat *m = src_mat(L, k, x);
                int64_t i = (L->moe_index * c->max_exp + x) * 3 + k;
                c->foff[i] = (uint64_t)(m->p - base);
                c->flen[i] = (uint64_t)m->rows * m->row_bytes;
                uint64_t span = ceil4k(c->foff[i] + c->flen[i]) - floor4k(c->foff[i]);
                reg[k] = span > reg[k] ? span : reg[k];
                eng_mat *v = &c->mats[(L->moe_index * 3 + k) * c->max_exp + x];
                *v = *m;
                v->p = NULL;
                /* every read is rewritten into the kernels' layout (repack_read) */
                v->layout = mc_kernels_best_layout(m->t, m->rows);
            }
        if (L->moe)
            c->layer_of[L->moe_index] = L;
    }
    c->sub_off[0] = 0;
    c->sub_off[1] = reg[0];
    c->sub_off[2] = reg[0] + reg[1];
    c->slot_bytes = reg[0] + reg[1] + reg[2];
    if (c->slot_bytes == 0)
        return mc_fail(d, MC_ERR_ARG,
                       "engine: %s: an expert cache needs routed experts (the "
                       "model has none)",
                       mc_gguf_name(e->g));
    return MC_OK;
}

static void maxima(const mc_engine *e, eng_xcache *c)
{
    for (int64_t l = 0; l < e->n_layers; l++) {
        const eng_layer *L = &e->L[l];
        if (!L->moe)
            continue;
        c->max_exp = L->n_exp > c->max_exp ? L->n_exp : c->max_exp;
        c->max_topk = L->top_k > c->max_topk ? L->top_k : c->max_topk;
    }
    c->n_moe = e->n_moe_layers;
    c->n_exp = c->n_moe * c->max_exp;
}

static mc_err alloc_tables(eng_xcache *c, mc_diag *d)
{
    size_t ne = (size_t)(c->n_exp ? c->n_exp : 1), me = (size_t)(c->max_exp ? c->max_exp : 1);
    c->foff = mc_calloc(ne * 3, sizeof *c->foff);
    c->flen = mc_calloc(ne * 3, sizeof *c->flen);
    c->mats = mc_calloc(ne * 3, sizeof *c->mats);
    c->layer_of = mc_calloc((size_t)(c->n_moe ? c->n_moe : 1), sizeof *c->layer_of);
    c->want = mc_calloc(me, sizeof *c->want);
    c->slot = mc_calloc(me, sizeof *c->slot);
    c->sub = mc_calloc(me, sizeof *c->sub);
    c->take = mc_calloc(me, 1);
    c->on = mc_calloc(me, 1);
    c->mark = mc_calloc(me, 1);
    c->ids = mc_calloc((size_t)(c->max_topk ? c->max_topk : 1), sizeof *c->ids);
    c->pass_hits = mc_calloc((size_t)(c->n_moe ? c->n_moe : 1), sizeof *c->pass_hits);
    c->pass_misses = mc_calloc((size_t)(c->n_moe ? c->n_moe : 1), sizeof *c->pass_misses);
    if (!c->foff || !c->flen || !c->mats || !c->layer_of || !c->want || !c->slot || !c->sub ||
        !c->take || !c->on || !c->mark || !c->ids || !c->pass_hits || !c->pass_misses)
        return mc_fail(d, MC_ERR_NOMEM, "engine: out of memory for the expert cache tables");
    return MC_OK;
}

/* Slots: as many as the budget holds, at most one per expert; at least top_k. */
static mc_err size_slots(const mc_engine *e, eng_xcache *c, int64_t budget, mc_diag *d)
{
    int64_t n = budget / (int64_t)c->slot_bytes;
    c->n_slots = n < c->n_exp ? n : c->n_exp;
    if (c->n_slots >= c->max_topk)
        return MC_OK;
    return mc_fail(d, MC_ERR_ARG,
                   "engine: --expert-cache-mb %.4g holds %lld expert slot%s of %.1f MiB; a layer "
                   "needs at least top_k = %lld (%s)",
                   (double)budget / 1048576.0, (long long)c->n_slots, c->n_slots == 1 ? "" : "s",
                   (double)c->slot_bytes / 1048576.0, (long long)c->max_topk, mc_gguf_name(e->g));
}

static mc_err alloc_arena(eng_xcache *c, mc_diag *d)
{
    size_t n = (size_t)c->n_slots * (size_t)c->slot_bytes;
    c->map_len = (n + XC_HUGE - 1) / XC_HUGE * XC_HUGE + XC_HUGE;
    c->map = mmap(NULL, c->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (c->map == MAP_FAILED) {
        c->map = NULL;
        return mc_fail(d, MC_ERR_NOMEM, "engine: cannot allocate an expert cache of %.3g MiB",
                       (double)n / 1048576.0);
    }
    /* 2 MiB aligned and huge pages, as the weights' copy (weights.c): a hit streams as fast */
    c->arena = (uint8_t *)(((uintptr_t)c->map + XC_HUGE - 1) & ~(uintptr_t)(XC_HUGE - 1));
    madvise(c->arena, c->map_len - (size_t)(c->arena - (uint8_t *)c->map), MADV_HUGEPAGE);
    c->pending = mc_calloc((size_t)c->n_slots, sizeof *c->pending);
    c->err = mc_calloc((size_t)c->n_slots, sizeof *c->err);
    c->slot_chunks = 0;
    for (int k = 0; k < 3; k++) {
        uint64_t reg = (k < 2 ? c->sub_off[k + 1] : c->slot_bytes) - c->sub_off[k];
        c->slot_chunks += (int64_t)((reg + c->chunk - 1) / c->chunk);
    }
    c->q_cap = c->slot_chunks * (c->n_slots + 1);
    c->q = mc_calloc((size_t)c->q_cap, sizeof *c->q);
    c->kill = mc_calloc((size_t)c->n_slots, 1);
    c->pf = mc_calloc((size_t)c->n_slots, 1);
    c->mat_left = mc_calloc((size_t)c->n_slots * 3, sizeof *c->mat_left);
    if (!c->pending || !c->err || !c->q || !c->kill || !c->mat_left || !c->pf)
        return mc_fail(d, MC_ERR_NOMEM, "engine: out of memory for the expert cache");
    return MC_OK;
}

/* ---- the static policy's pinned set -----------------------------------------------------------
 */

/* Total tokens per expert [n_exp] from a records file's tokens_per_expert. */
static mc_err profile_tokens(const mc_engine *e, eng_xcache *c, const char *path, int64_t *tok,
                             mc_diag *d)
{
    char *buf = NULL;
    size_t len = 0;
    mc_pass_set set;
    mc_pass_set_init(&set);
    mc_err err = mc_read_file(path, (size_t)1 << 31, &buf, &len, d);
    if (!err)
        err = mc_pass_parse_jsonl(buf, len, 1, 0, &set, d);
    if (err)
        mc_diag_prefix(d, "engine: expert profile %s", path);
    int64_t used = 0;
    for (size_t i = 0; !err && i < set.n; i++) {
        const mc_pass *p = &set.v[i];
        if (p->tpe_rows == 0)
            continue;
        int per_layer = p->tpe_rows == e->n_layers && p->tpe_rows != c->n_moe;
        if (p->tpe_rows != c->n_moe && !per_layer) {
            err = mc_fail(d, MC_ERR_FORMAT,
                          "engine: expert profile %s: line %lld: tokens_per_expert has %lld rows; "
                          "the model has %lld MoE layers",
                          path, (long long)p->line, (long long)p->tpe_rows, (long long)c->n_moe);
            break;
        }
        used++;
        for (int64_t m = 0; m < c->n_moe; m++) {
            const eng_layer *L = c->layer_of[m];
            int64_t row = per_layer ? (int64_t)(L - e->L) : m;
            for (int64_t x = 0; x < L->n_exp && x < p->tpe_cols; x++)
                tok[m * c->max_exp + x] += p->tokens_per_expert[row * p->tpe_cols + x];
        }
    }
    if (!err && used == 0)
        err = mc_fail(d, MC_ERR_FORMAT,
                      "engine: expert profile %s: no record has tokens_per_expert (record with "
                      "--trace-tokens)",
                      path);
    mc_pass_set_deinit(&set);
    mc_free(buf);
    return err;
}

/* The hottest experts (most tokens, lower index on ties; only experts with tokens), at most max.
 * Selection by repeated maximum: n_exp is small (hundreds to a few thousand). */
static int64_t hottest(int64_t *tok, int64_t n_exp, int64_t max, int64_t *out)
{
    int64_t n = 0;
    while (n < max) {
        int64_t best = -1;
        for (int64_t x = 0; x < n_exp; x++)
            if (tok[x] > 0 && (best < 0 || tok[x] > tok[best]))
                best = x;
        if (best < 0)
            break;
        out[n++] = best;
        tok[best] = 0;
    }
    return n;
}

/* STATIC: pins the hottest experts in all slots but top_k (2 top_k with prefetch: room for the
 * next layer's predicted experts besides the current layer's), the LRU area for the rest; the
 * pinned experts are read now. */
static mc_err pin_static(const mc_engine *e, eng_xcache *c, const char *profile, mc_diag *d)
{
    if (!profile || !*profile)
        return mc_fail(d, MC_ERR_ARG,
                       "engine: the static expert cache policy needs a profile "
                       "(--expert-profile records.jsonl with tokens_per_expert)");
    int64_t *tok = mc_calloc((size_t)c->n_exp, sizeof *tok);
    int64_t *pins = mc_calloc((size_t)c->n_slots, sizeof *pins);
    int64_t *slots = mc_calloc((size_t)c->n_slots, sizeof *slots);
    mc_err err = !tok || !pins || !slots ? mc_fail(d, MC_ERR_NOMEM, "engine: out of memory")
                                         : profile_tokens(e, c, profile, tok, d);
    if (!err) {
        int64_t area = c->max_topk * (c->prefetch ? 2 : 1);
        c->pinned = hottest(tok, c->n_exp, c->n_slots > area ? c->n_slots - area : 0, pins);
        for (int64_t i = 0; i < c->pinned; i++) {
            xc_dir_place(&c->dir, i, pins[i], 1);
            xc_dir_pin(&c->dir, i);
            slots[i] = i;
        }
        xc_load_many(c, slots, pins, c->pinned);
        for (int64_t i = 0; i < c->pinned; i++)
            xc_wait_slot(c, i);
        if (atomic_load(&c->n_err))
            err = xc_io_error(c, d);
        c->pass_stall = 0; /* loading at open is no pass's stall */
    }
    mc_free(tok);
    mc_free(pins);
    mc_free(slots);
    return err;
}

/* ---- open / free ------------------------------------------------------------------------------
 */

static mc_err xc_setup(mc_engine *e, eng_xcache *c, const mc_engine_opts *o, mc_diag *d)
{
    if (o->expert_cache_policy < MC_XCACHE_LRU || o->expert_cache_policy > MC_XCACHE_STATIC)
        return mc_fail(d, MC_ERR_ARG, "engine: expert cache policy %d (0 lru, 1 lfu, 2 static)",
                       o->expert_cache_policy);
    if (o->expert_cache_policy != MC_XCACHE_STATIC && o->expert_profile && *o->expert_profile)
        return mc_fail(d, MC_ERR_ARG,
                       "engine: an expert profile is only used by the static "
                       "policy (--expert-cache-policy static)");
    if (o->expert_chunk_bytes < 0 || o->expert_chunk_bytes % (int64_t)XC_ALIGN != 0)
        return mc_fail(d, MC_ERR_ARG, "engine: expert read chunk of %lld bytes: give 0 (1 MiB) or "
                       "a positive multiple of 4096", (long long)o->expert_chunk_bytes);
    c->chunk = o->expert_chunk_bytes > 0 ? (uint64_t)o->expert_chunk_bytes : XC_CHUNK;
    snprintf(c->path, sizeof c->path, "%s", o->model_path);
    c->pread_fn = o->expert_pread ? o->expert_pread : pread;
    if (o->expert_prefetch < 0 || o->expert_prefetch > 2)
        return mc_fail(d, MC_ERR_ARG, "engine: expert_prefetch %d (0 off, 1 the confident half of "
                       "each top-k, 2 all of it)", o->expert_prefetch);
    c->prefetch = o->expert_prefetch;
    maxima(e, c);
    mc_err err = alloc_tables(c, d);
    if (!err)
        err = layout(e, c, d);
    if (!err)
        err = size_slots(e, c, o->expert_cache_bytes, d);
    if (!err)
        err = alloc_arena(c, d);
    if (!err)
        err = xc_dir_init(&c->dir, o->expert_cache_policy, c->n_slots, c->n_exp, d);
    if (!err)
        err = xc_open_file(c, o->expert_direct, d);
    if (!err)
        err = xc_start_io(c, d);
    if (!err && o->expert_cache_policy == MC_XCACHE_STATIC)
        err = pin_static(e, c, o->expert_profile, d);
    return err;
}

mc_err eng_xc_open(mc_engine *e, const mc_engine_opts *o, mc_diag *d)
{
    if (o->expert_cache_bytes == 0)
        return MC_OK;
    if (o->expert_cache_bytes < 0)
        return mc_fail(d, MC_ERR_ARG, "engine: expert cache of %lld bytes",
                       (long long)o->expert_cache_bytes);
    if (e->n_moe_layers == 0)
        return mc_fail(d, MC_ERR_ARG,
                       "engine: %s: an expert cache needs routed experts (the "
                       "model is dense)",
                       mc_gguf_name(e->g));
    eng_xcache *c = mc_calloc(1, sizeof *c);
    if (!c)
        return mc_fail(d, MC_ERR_NOMEM, "engine: out of memory");
    c->fd = -1;
    e->xc = c;
    mc_err err = xc_setup(e, c, o, d);
    if (!err)
        e->xc_on = c->on;
    return err;
}

void eng_xc_free(mc_engine *e)
{
    eng_xcache *c = e->xc;
    if (!c)
        return;
    if (c->n_th) {
        pthread_mutex_lock(&c->mu);
        c->quit = 1;
        pthread_cond_broadcast(&c->cv_work);
        pthread_mutex_unlock(&c->mu);
        for (int i = 0; i < c->n_th; i++)
            pthread_join(c->th[i], NULL);
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cv_work);
        pthread_cond_destroy(&c->cv_done);
    }
    if (c->fd >= 0)
        close(c->fd);
    if (c->map)
        munmap(c->map, c->map_len);
    void *ptrs[] = {c->foff,        c->flen,    c->mats, c->layer_of, c->want,   c->slot,
                    c->sub,         c->take,    c->on,   c->mark,     c->ids,    c->pass_hits,
                    c->pass_misses, c->pending, c->err,  c->q,        c->scratch,
                    c->kill,        c->mat_left, c->pf};
    for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++)
        mc_free(ptrs[i]);
    xc_dir_deinit(&c->dir);
    mc_free(c);
    e->xc = NULL;
    e->xc_on = NULL;
}

/* ---- a step -----------------------------------------------------------------------------------
 */

const eng_mat *eng_xc_mats(const mc_engine *e, const eng_layer *L, int k)
{
    const eng_xcache *c = e->xc;
    return c->mats + (L->moe_index * 3 + k) * c->max_exp;
}

void eng_xc_step_begin(mc_engine *e)
{
    eng_xcache *c = e->xc;
    memset(c->pass_hits, 0, (size_t)c->n_moe * sizeof *c->pass_hits);
    memset(c->pass_misses, 0, (size_t)c->n_moe * sizeof *c->pass_misses);
    c->bytes0 = atomic_load(&c->bytes);
    c->pass_stall = 0;
    c->pf_floor = c->step_clock;
    c->step_clock = c->dir.clock;
}

/* The layer's distinct activated experts (round 0). */
static void layer_wants(mc_engine *e, eng_xcache *c, const eng_layer *L)
{
    int64_t base = L->moe_index * c->max_exp;
    c->n_want = 0;
    for (int64_t x = 0; x < L->n_exp; x++)
        if (e->exp_cnt[x])
            c->want[c->n_want++] = base + x;
}

/* Classifies the round's experts (a resident one counts as a hit only when its reads are done),
 * marks them in `on`, queues the new loads, keeps the rest in want. */
static void round_plan(eng_xcache *c, const eng_layer *L, int round)
{
    int64_t keep = 0, base = L->moe_index * c->max_exp;
    c->n_sub = 0;
    for (int64_t i = 0; i < c->n_want; i++) {
        int64_t x = c->want[i], s = c->slot[i];
        if (!c->take[i]) {
            c->want[keep++] = x;
            continue;
        }
        c->on[x - base] = 1;
        int hit = c->take[i] == 1 && round == 0 && xc_slot_ready(c, s) && !atomic_load(&c->err[s]);
        c->pass_hits[L->moe_index] += hit;
        c->pass_misses[L->moe_index] += !hit;
        c->pf_used += c->take[i] == 1 && c->pf[s];
        c->pf[s] = 0;
        if (c->take[i] == 2) {
            c->sub[c->n_sub] = x;
            c->slot[c->n_sub++] = s; /* slot[] of this index is not read again */
        }
    }
    c->n_want = keep;
}

/* Cancels the wrong predictions for layer L before its round: a slot of one of L's experts
 * that L did not activate and whose reads have not all finished can only be a prefetch (demand
 * loads of L happen in this round; a step drains its reads). Its queued reads are dropped, so
 * the round's demand reads do not queue behind reads nobody will use, and its entry is emptied
 * (its bytes are incomplete). Reads already running finish; wait_slot waits for them if the
 * round takes the slot. */
static void cancel_wrong(mc_engine *e, eng_xcache *c, const eng_layer *L)
{
    int64_t base = L->moe_index * c->max_exp, n = 0;
    for (int64_t s = 0; s < c->n_slots; s++) {
        int64_t x = c->dir.owner[s] - base;
        c->kill[s] = x >= 0 && x < c->max_exp && !e->exp_cnt[x] && !xc_slot_ready(c, s);
        n += c->kill[s];
    }
    if (n == 0)
        return;
    pthread_mutex_lock(&c->mu);
    int64_t dropped = xc_unqueue_locked(c);
    pthread_cond_broadcast(&c->cv_done);
    pthread_mutex_unlock(&c->mu);
    if (dropped == 0)
        return;
    for (int64_t s = 0; s < c->n_slots; s++)
        if (c->kill[s] == 2) { /* slots whose reads all run keep their (complete) expert */
            xc_dir_drop(&c->dir, s);
            c->pf[s] = 0;
            c->cancelled++;
        }
}

mc_err eng_xc_round(mc_engine *e, const eng_layer *L, int round, int *more, mc_diag *d)
{
    eng_xcache *c = e->xc;
    if (round == 0) {
        layer_wants(e, c, L);
        if (c->prefetch)
            cancel_wrong(e, c, L);
    }
    memset(c->on, 0, (size_t)c->max_exp);
    xc_dir_new_round(&c->dir);
    int64_t left = xc_dir_round(&c->dir, c->want, c->n_want, c->take, c->slot);
    MC_ENG_ASSERT(left < c->n_want || c->n_want == 0); /* >= top_k unpinned slots */
    round_plan(c, L, round);
    xc_load_many(c, c->slot, c->sub, c->n_sub);
    *more = left > 0;
    int64_t base = L->moe_index * c->max_exp;
    mc_err err = MC_OK;
    for (int64_t x = 0; x < L->n_exp; x++) {
        if (!c->on[x])
            continue;
        int64_t s = c->dir.slot_of[base + x];
        xc_wait_slot(c, s);
        if (atomic_load(&c->err[s]) && !err)
            err = xc_io_error(c, d);
    }
    return err;
}

/* The first MoE layer after L, or NULL. */
static const eng_layer *next_moe(const mc_engine *e, const eng_layer *L)
{
    const eng_xcache *c = e->xc;
    return L->moe_index + 1 < c->n_moe ? c->layer_of[L->moe_index + 1] : NULL;
}

/* Predicted experts of layer N: its router over the current layer's normalised input (e->xn);
 * marks in c->mark the more confident half of each token's top-k (the first ceil(k / 2) by
 * logit: the top-1 for top-2), or all of it with expert_prefetch 2. Measured on the bench model (bench_offload, 50% cache), the top-1
 * was used by its layer 95% of the time and the second choice 72%; reading the second too added
 * 3 MB per token of wasted reads for no more hits. Uses e->rlog (free after routing) and the act
 * slots. */
static void predict(mc_engine *e, eng_xcache *c, const eng_layer *N, int64_t n)
{
    int64_t h = e->hidden;
    eng_act_reset(e);
    const uint8_t *xr = eng_act_prep(e, e->xn, h, n, h, N->router.t);
    eng_run_jobs(e, eng_job_add(e, 0, &N->router, xr, e->act.stride, n, e->rlog, N->n_exp));
    memset(c->mark, 0, (size_t)c->max_exp);
    for (int64_t t = 0; t < n; t++) {
        eng_top_k(e->rlog + t * N->n_exp, N->n_exp, N->top_k, c->ids);
        for (int64_t i = 0; i < (c->prefetch == 2 ? N->top_k : (N->top_k + 1) / 2); i++)
            c->mark[c->ids[i]] = 1;
    }
}

void eng_xc_prefetch(mc_engine *e, const eng_layer *L, int64_t n)
{
    eng_xcache *c = e->xc;
    const eng_layer *N = c->prefetch ? next_moe(e, L) : NULL;
    if (!N || xc_dir_victim_before(&c->dir, c->pf_floor) < 0)
        return; /* every slot holds an expert used in this step or the last one: keep them */
    predict(e, c, N, n);
    int64_t base = N->moe_index * c->max_exp, k = 0;
    for (int64_t x = 0; x < N->n_exp && k < c->max_exp; x++) {
        if (!c->mark[x] || c->dir.slot_of[base + x] >= 0)
            continue;
        int64_t s = xc_dir_victim_before(&c->dir, c->pf_floor);
        if (s < 0 || !xc_slot_ready(c, s))
            break; /* no slot unused for a step, or its last read is in flight: do not wait */
        xc_dir_place(&c->dir, s, base + x, 1);
        c->pf[s] = 1;
        c->slot[k] = s;
        c->sub[k++] = base + x;
    }
    xc_load_many(c, c->slot, c->sub, k);
    c->prefetched += k;
}

/* Waits for every read still in flight (mispredicted prefetches) and forgets failed loads. */
static void drain(eng_xcache *c)
{
    if (atomic_load(&c->outstanding) > 0) {
        mc_ns t0 = mc_now_ns();
        pthread_mutex_lock(&c->mu);
        while (atomic_load(&c->outstanding) > 0)
            pthread_cond_wait(&c->cv_done, &c->mu);
        pthread_mutex_unlock(&c->mu);
        c->pass_stall += mc_now_ns() - t0;
    }
    if (atomic_load(&c->n_err) == 0)
        return;
    for (int64_t s = 0; s < c->n_slots; s++)
        if (atomic_exchange(&c->err[s], 0))
            xc_dir_drop(&c->dir, s);
    atomic_store(&c->n_err, 0);
}

void eng_xc_step_end(mc_engine *e, int ok)
{
    eng_xcache *c = e->xc;
    drain(c);
    c->stall += c->pass_stall;
    if (!ok)
        return;
    for (int64_t m = 0; m < c->n_moe; m++) {
        c->hits += c->pass_hits[m];
        c->misses += c->pass_misses[m];
    }
    mc_pass *p = &e->pass;
    if (e->no_trace || !p->cache_hits)
        return;
    p->n_cache_layers = c->n_moe;
    memcpy(p->cache_hits, c->pass_hits, (size_t)c->n_moe * sizeof *p->cache_hits);
    memcpy(p->cache_misses, c->pass_misses, (size_t)c->n_moe * sizeof *p->cache_misses);
    p->slow_bytes = (int64_t)atomic_load(&c->bytes) - c->bytes0;
    p->slow_stall_s = mc_ns_to_s(c->pass_stall);
}

/* ---- getters ----------------------------------------------------------------------------------
 */

int mc_engine_xcache_stats(const mc_engine *e, mc_engine_xstats *out)
{
    eng_xcache *c = e->xc;
    memset(out, 0, sizeof *out);
    if (!c)
        return 0;
    out->slots = c->n_slots;
    out->slot_bytes = (int64_t)c->slot_bytes;
    out->experts = 0;
    for (int64_t m = 0; m < c->n_moe; m++)
        out->experts += c->layer_of[m]->n_exp;
    out->pinned = c->pinned;
    out->hits = c->hits;
    out->misses = c->misses;
    out->bytes = (int64_t)atomic_load(&c->bytes);
    out->reads = (int64_t)atomic_load(&c->reads);
    out->prefetched = c->prefetched;
    out->cancelled = c->cancelled;
    out->prefetch_used = c->pf_used;
    out->repack_s = mc_ns_to_s((mc_ns)atomic_load(&c->repack_ns));
    out->stall_s = mc_ns_to_s(c->stall);
    pthread_mutex_lock(&c->mu);
    mc_ns busy = c->busy_ns + (c->in_flight ? mc_now_ns() - c->busy_t0 : 0);
    pthread_mutex_unlock(&c->mu);
    out->read_s = mc_ns_to_s(busy);
    out->direct = c->direct;
    return 1;
}

int mc_engine_xcache_direct(const mc_engine *e)
{
    return e->xc ? e->xc->direct : -1;
}

const char *mc_engine_xcache_note(const mc_engine *e)
{
    return e->xc ? e->xc->note : "";
}
