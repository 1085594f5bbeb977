/* xcache_dir.c: the expert cache's slot directory and replacement policies (LRU, LFU with LRU
 * ties, STATIC = pinned slots plus LRU over the rest) as pure functions over arrays, and a
 * replay of synthetic access sequences through them for the tests. Used by the engine's cache
 * (src/engine/xcache.c, which adds I/O, clocks and threads) and by cache_replay.c. Must not depend
 * on the engine. */
#include "cap.h"
#include "xcache.h"

#include <string.h>

mc_err xc_dir_init(xc_dir *d, int policy, int64_t n_slots, int64_t n_exp, mc_diag *dg)
{
    memset(d, 0, sizeof *d);
    d->policy = policy;
    d->n_slots = n_slots;
    d->n_exp = n_exp;
    d->slot_of = mc_mallocarray((size_t)(n_exp > 0 ? n_exp : 1), sizeof *d->slot_of);
    d->freq = mc_calloc((size_t)(n_exp > 0 ? n_exp : 1), sizeof *d->freq);
    d->owner = mc_mallocarray((size_t)(n_slots > 0 ? n_slots : 1), sizeof *d->owner);
    d->last = mc_calloc((size_t)(n_slots > 0 ? n_slots : 1), sizeof *d->last);
    d->pinned = mc_calloc((size_t)(n_slots > 0 ? n_slots : 1), 1);
    d->guard = mc_calloc((size_t)(n_slots > 0 ? n_slots : 1), sizeof *d->guard);
    if (!d->slot_of || !d->freq || !d->owner || !d->last || !d->pinned || !d->guard) {
        xc_dir_deinit(d);
        return mc_fail(dg, MC_ERR_NOMEM, "engine: out of memory for the expert cache directory");
    }
    for (int64_t x = 0; x < n_exp; x++)
        d->slot_of[x] = -1;
    for (int64_t s = 0; s < n_slots; s++)
        d->owner[s] = -1;
    d->guard_now = 1;
    return MC_OK;
}

void xc_dir_deinit(xc_dir *d)
{
    mc_free(d->slot_of);
    mc_free(d->freq);
    mc_free(d->owner);
    mc_free(d->last);
    mc_free(d->pinned);
    mc_free(d->guard);
    memset(d, 0, sizeof *d);
}

/* 1 when slot a is a better victim than slot b (both occupied, neither pinned nor guarded). */
static int worse(const xc_dir *d, int64_t a, int64_t b)
{
    if (d->policy == MC_CACHE_LFU) {
        int64_t fa = d->freq[d->owner[a]], fb = d->freq[d->owner[b]];
        if (fa != fb)
            return fa < fb;
    }
    return d->last[a] < d->last[b];
}

int64_t xc_dir_victim(const xc_dir *d)
{
    return xc_dir_victim_before(d, INT64_MAX);
}

int64_t xc_dir_victim_before(const xc_dir *d, int64_t clock)
{
    int64_t best = -1;
    for (int64_t s = 0; s < d->n_slots; s++) {
        if (d->pinned[s] || d->guard[s] == d->guard_now)
            continue;
        if (d->owner[s] < 0)
            return s;
        if (d->last[s] > clock)
            continue;
        if (best < 0 || worse(d, s, best))
            best = s;
    }
    return best;
}

void xc_dir_place(xc_dir *d, int64_t s, int64_t x, int prefetch)
{
    if (d->owner[s] >= 0)
        d->slot_of[d->owner[s]] = -1;
    d->owner[s] = x;
    d->slot_of[x] = s;
    if (prefetch) {
        /* A prediction keeps the age of the entry it replaced: used by its layer, it becomes
         * recent (xc_dir_use); mispredicted, it is the next victim rather than pushing out an
         * expert that was really used (a recent stamp here cost hits at a 50% cache). */
        d->guard[s] = d->guard_now;
    } else {
        xc_dir_use(d, s);
    }
}

void xc_dir_use(xc_dir *d, int64_t s)
{
    d->last[s] = ++d->clock;
    d->freq[d->owner[s]]++;
    d->guard[s] = d->guard_now;
}

void xc_dir_pin(xc_dir *d, int64_t s)
{
    d->pinned[s] = 1;
}

void xc_dir_drop(xc_dir *d, int64_t s)
{
    if (d->owner[s] >= 0)
        d->slot_of[d->owner[s]] = -1;
    d->owner[s] = -1;
    d->pinned[s] = 0;
    d->last[s] = 0;
}

void xc_dir_new_round(xc_dir *d)
{
    d->guard_now++;
}

int64_t xc_dir_round(xc_dir *d, const int64_t *want, int64_t n, uint8_t *take, int64_t *slot)
{
    int64_t left = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t s = d->slot_of[want[i]];
        take[i] = s >= 0;
        slot[i] = s;
        if (s >= 0)
            xc_dir_use(d, s);
    }
    for (int64_t i = 0; i < n; i++) {
        if (take[i])
            continue;
        int64_t s = xc_dir_victim(d);
        if (s < 0) {
            left++;
            continue;
        }
        xc_dir_place(d, s, want[i], 0);
        take[i] = 2;
        slot[i] = s;
    }
    return left;
}

void xc_dir_group(xc_dir *d, int64_t *want, int64_t n, uint8_t *take, int64_t *slot, int64_t *hits,
                  int64_t *misses)
{
    for (int round = 0; n > 0; round++) {
        xc_dir_new_round(d);
        int64_t left = xc_dir_round(d, want, n, take, slot), k = 0;
        if (left == n) { /* no slot to give (every slot pinned): all misses, never resident */
            *misses += n;
            return;
        }
        for (int64_t i = 0; i < n; i++) {
            if (take[i] == 1)
                ++*hits;
            else if (take[i] == 2)
                ++*misses;
            else
                want[k++] = want[i];
        }
        n = left;
    }
}

mc_err xc_simulate(const xc_sim *s, const int64_t *seq, const int64_t *group_len, int64_t n_groups,
                   int64_t *hits, int64_t *misses, mc_diag *d)
{
    xc_dir dir;
    *hits = *misses = 0;
    if (s->n_pins >= s->n_slots && s->n_pins > 0)
        return mc_fail(d, MC_ERR_ARG, "xcache: %lld pins fill all %lld slots", (long long)s->n_pins,
                       (long long)s->n_slots);
    mc_err err = xc_dir_init(&dir, s->policy, s->n_slots, s->n_exp, d);
    if (err)
        return err;
    int64_t *want = mc_mallocarray((size_t)(s->n_exp + 1), sizeof *want);
    int64_t *slot = mc_mallocarray((size_t)(s->n_exp + 1), sizeof *slot);
    uint8_t *take = mc_malloc((size_t)(s->n_exp + 1));
    if (!want || !slot || !take) {
        err = mc_fail(d, MC_ERR_NOMEM, "xcache: out of memory");
        goto out;
    }
    for (int64_t i = 0; i < s->n_pins; i++) {
        xc_dir_place(&dir, i, s->pins[i], 1);
        xc_dir_pin(&dir, i);
    }
    for (int64_t g = 0, at = 0; g < n_groups; at += group_len[g], g++) {
        memcpy(want, seq + at, (size_t)group_len[g] * sizeof *want);
        xc_dir_group(&dir, want, group_len[g], take, slot, hits, misses);
    }
out:
    mc_free(want);
    mc_free(slot);
    mc_free(take);
    xc_dir_deinit(&dir);
    return err;
}
