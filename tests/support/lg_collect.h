/* lg_collect.h: what the load-generator client tests share (header only, like harness.h, whose
 * failure counters are per test executable): a result sink for mc_lg_client's on_result that
 * copies each result with its text, message, finish reason and first 64 chunk stamps (the
 * client owns the pointers only during the callback, so the copy's pointers are cleared), lookup
 * by request id, and a bounded drain. Include after harness.h; depends on loadgen.h only. */
#ifndef MC_LG_COLLECT_H
#define MC_LG_COLLECT_H

#include "harness.h"
#include "loadgen.h"

#include <stdio.h>
#include <string.h>

enum { LG_GOT_STAMPS = 64 };

typedef struct lg_got {
    mc_lg_result r; /* text, message, finish_reason, chunk_ns cleared: see the fields below */
    char text[512];
    char msg[MC_LG_MSG_MAX + 1];
    char finish[32];
    mc_ns stamps[LG_GOT_STAMPS];
} lg_got;

/* g: cap slots (caller's storage); n: results so far. More results than cap is a failure. */
typedef struct lg_sink {
    lg_got *g;
    size_t n, cap;
} lg_sink;

/* mc_lg_client_opts.on_result with ctx = an lg_sink. */
static inline void lg_collect(const mc_lg_result *r, void *ctx)
{
    lg_sink *s = ctx;
    if (s->n == s->cap) {
        HARNESS_FAIL_("more results than expected (%zu)", s->cap);
        return;
    }
    lg_got *g = &s->g[s->n++];
    g->r = *r;
    g->r.text = g->r.message = g->r.finish_reason = NULL; /* owned by the client */
    g->r.chunk_ns = NULL;
    snprintf(g->text, sizeof g->text, "%.*s", (int)r->text_len, r->text);
    snprintf(g->msg, sizeof g->msg, "%s", r->message);
    snprintf(g->finish, sizeof g->finish, "%s", r->finish_reason);
    size_t k = r->n_chunk_ns < LG_GOT_STAMPS ? r->n_chunk_ns : LG_GOT_STAMPS;
    memcpy(g->stamps, r->chunk_ns, k * sizeof(mc_ns));
}

/* The result of request id; NULL (and a failure) when there is none. */
static inline lg_got *lg_find(lg_sink *s, uint64_t id)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->g[i].r.id == id)
            return &s->g[i];
    HARNESS_FAIL_("no result for request %llu", (unsigned long long)id);
    return NULL;
}

/* Polls until nothing is in flight; 30 s without finishing is a hang, i.e. a failure, not a
 * stuck test. */
static inline void lg_drain(mc_lg_client *c)
{
    mc_ns limit = mc_now_ns() + 30000000000ull;
    while (mc_lg_client_inflight(c) > 0 && mc_now_ns() < limit) {
        mc_diag d = {{0}};
        if (mc_lg_client_poll(c, mc_now_ns() + 100000000ull, &d) != MC_OK) {
            HARNESS_FAIL_("poll: %s", d.msg);
            return;
        }
    }
    CHECK_EQ_INT(mc_lg_client_inflight(c), 0);
}

#endif
