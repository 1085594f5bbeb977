/* xcache.h: the expert cache's slot directory (docs/ENGINE.md, "Expert offloading").
 *
 * xc_dir (xcache_dir.c) is the pure part of the engine's expert cache: which expert sits in which
 * slot and which slot a policy gives up next, over plain arrays, with no I/O, no clock and no
 * threads, so unit tests can replay synthetic access sequences through it (xc_simulate) and check
 * exact hit/miss counts. It lives in src/cap because two drivers share it: the engine's cache
 * (src/engine/xcache.c adds the arena, the reads from the GGUF file on I/O threads, prefetching
 * and the per-pass figures) and cap's replay of recorded routing (cache_replay.c), which so
 * follows the engine's rules by construction. Policies are mc_cache_policy values (cap.h). */
#ifndef MC_XCACHE_H
#define MC_XCACHE_H

#include "base.h"

#include <stdint.h>

/* Slot directory. Experts are numbered 0..n_exp-1 by the caller (the engine: moe_layer *
 * max_exp + expert). A slot is guarded when the current layer round needs it: never a victim. */
typedef struct xc_dir {
    int policy; /* mc_cache_policy (STATIC: LRU over the slots that are not pinned) */
    int64_t n_slots, n_exp;
    int64_t *slot_of; /* [n_exp]: slot holding the expert, or -1 */
    int64_t *freq;    /* [n_exp]: uses over the engine's life (LFU; kept across evictions) */
    int64_t *owner;   /* [n_slots]: expert in the slot, or -1 */
    int64_t *last;    /* [n_slots]: clock of the slot's last use or placement */
    uint8_t *pinned;  /* [n_slots] */
    uint64_t *guard;  /* [n_slots]: == guard_now while the current round needs the slot */
    uint64_t guard_now;
    int64_t clock;
} xc_dir;

mc_err xc_dir_init(xc_dir *d, int policy, int64_t n_slots, int64_t n_exp, mc_diag *dg);
void xc_dir_deinit(xc_dir *d);

/* The slot the policy gives up next: an empty one first (lowest index), else among the slots
 * neither pinned nor guarded the least recently used (LRU, STATIC) or the one whose expert has
 * the fewest uses, least recently used on ties (LFU). -1 when every slot is pinned or guarded. */
int64_t xc_dir_victim(const xc_dir *d);
/* The same among the empty slots and those last used at or before `clock` only (a prefetch's
 * victim: never an expert used since then); -1 when there is none. */
int64_t xc_dir_victim_before(const xc_dir *d, int64_t clock);
/* Puts expert x in slot s (evicting its owner) and guards it; prefetch: placed without a use. */
void xc_dir_place(xc_dir *d, int64_t s, int64_t x, int prefetch);
/* A use of the expert in slot s: most recent, one more use (LFU), guarded. */
void xc_dir_use(xc_dir *d, int64_t s);
void xc_dir_pin(xc_dir *d, int64_t s);
void xc_dir_drop(xc_dir *d, int64_t s); /* empties the slot (a failed read) */
void xc_dir_new_round(xc_dir *d);       /* releases every guard */

/* One round of a layer that needs the distinct experts want[0..n): residents first (used and
 * guarded: take[i] = 1), then the others in order while a victim exists (placed, used and
 * guarded: take[i] = 2, slot[i] = its slot); take[i] = 0 for those left to a later round.
 * slot[i] is filled for every taken expert. Returns the number left. */
int64_t xc_dir_round(xc_dir *d, const int64_t *want, int64_t n, uint8_t *take, int64_t *slot);

/* Replays groups of distinct experts (one group = one MoE layer of one pass; seq holds the
 * groups back to back, group_len their sizes) through a directory of n_slots slots with the
 * policy, the pinned experts placed first, each group in rounds as the engine does. A hit is a
 * taken resident; every other expert of a group is a miss. */
typedef struct xc_sim {
    int policy;
    int64_t n_slots, n_exp;
    const int64_t *pins; /* experts pinned before the sequence (STATIC), n_pins of them */
    int64_t n_pins;
} xc_sim;

/* One group (a MoE layer's distinct experts want[0..n), reordered) in rounds until every expert
 * was taken; adds the residents of the first round to *hits and the rest to *misses (an expert
 * for which no slot can be given, every slot pinned, is a miss that is never resident). take and
 * slot: scratch of n. */
void xc_dir_group(xc_dir *d, int64_t *want, int64_t n, uint8_t *take, int64_t *slot, int64_t *hits,
                  int64_t *misses);

mc_err xc_simulate(const xc_sim *s, const int64_t *seq, const int64_t *group_len, int64_t n_groups,
                   int64_t *hits, int64_t *misses, mc_diag *d);

#endif
