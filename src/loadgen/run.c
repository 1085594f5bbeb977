/* run.c: load models that drive a client: closed loop (fixed concurrency, optional linear
 * ramp-up), fixed batches (waves) and open loop (precomputed arrival schedule, latency anchored
 * at the scheduled time so queueing behind a concurrency cap is measured, not hidden). Warm-up
 * requests run first under the same model and are drained before the measured phase.
 * Depends on base and this module's client and schedules; never on src/cap. */
#include "loadgen.h"

#include <math.h>

typedef struct phase {
    mc_lg_client *c;
    const mc_lg_workload *w;
    const mc_lg_run_opts *o;
    uint64_t first_id; /* request index of the phase's first request */
    uint64_t count;    /* requests in this phase; 0 = until the duration ends */
    double duration_s; /* 0 = none */
    int warmup;
    mc_ns t0;
    uint64_t sent;
    uint64_t queued; /* open loop: requests found due while every allowed slot was busy */
    mc_ns first_send_ns;
    int stopped;
} phase;

static int stop_requested(const phase *ph)
{
    return ph->o->stop && *ph->o->stop;
}

static int may_send(const phase *ph, mc_ns now)
{
    if (ph->count && ph->sent >= ph->count)
        return 0;
    return !(ph->duration_s > 0 && now >= ph->t0 + (mc_ns)(ph->duration_s * 1e9));
}

static mc_err send_one(phase *ph, mc_ns sched, mc_diag *d)
{
    uint64_t id = ph->first_id + ph->sent;
    const mc_lg_prompt *p = &ph->w->p[id % ph->w->n];
    mc_lg_request r = {.id = id,
                       .tag = (uint64_t)ph->warmup,
                       .body = p->body,
                       .body_len = p->body_len,
                       .sched_ns = sched};
    mc_err e = mc_lg_client_submit(ph->c, &r, d);
    if (e == MC_OK && ph->sent++ == 0)
        ph->first_send_ns = mc_now_ns();
    return e;
}

/* One poll, waking at deadline (0 = none) and, when a stop flag exists, at least every 100 ms
 * (a signal that lands just before epoll_wait must not leave the loop asleep). */
static mc_err wait_for(phase *ph, mc_ns deadline, mc_diag *d)
{
    if (ph->o->stop) {
        mc_ns cap = mc_now_ns() + 100000000u;
        if (!deadline || deadline > cap)
            deadline = cap;
    }
    if (ph->duration_s > 0 && may_send(ph, mc_now_ns())) {
        mc_ns end = ph->t0 + (mc_ns)(ph->duration_s * 1e9);
        if (!deadline || deadline > end)
            deadline = end;
    }
    return mc_lg_client_poll(ph->c, deadline, d);
}

/* Closed loop: up to C in flight; with a ramp, C grows linearly from 1 over ramp_up_s. */
static uint32_t allowed_now(const phase *ph, mc_ns now)
{
    uint32_t cc = ph->o->concurrency;
    double ramp = ph->o->ramp_up_s;
    if (ramp <= 0 || ph->warmup || cc <= 1)
        return cc;
    double t = mc_ns_to_s(now - ph->t0);
    if (t >= ramp)
        return cc;
    return 1 + (uint32_t)floor((double)(cc - 1) * t / ramp);
}

static mc_err run_closed(phase *ph, mc_diag *d)
{
    for (;;) {
        if (stop_requested(ph)) {
            ph->stopped = 1;
            return MC_OK;
        }
        mc_ns now = mc_now_ns();
        uint32_t allowed = allowed_now(ph, now);
        while (may_send(ph, now) && mc_lg_client_inflight(ph->c) < allowed) {
            mc_err e = send_one(ph, now, d);
            if (e)
                return e;
            now = mc_now_ns();
        }
        if (!may_send(ph, now) && mc_lg_client_inflight(ph->c) == 0)
            return MC_OK;
        int ramping = allowed < ph->o->concurrency && may_send(ph, now);
        mc_err e = wait_for(ph, ramping ? now + 1000000u : 0, d);
        if (e)
            return e;
    }
}

static mc_err run_batch(phase *ph, mc_diag *d)
{
    for (;;) {
        if (stop_requested(ph)) {
            ph->stopped = 1;
            return MC_OK;
        }
        mc_ns now = mc_now_ns();
        if (mc_lg_client_inflight(ph->c) == 0) {
            if (!may_send(ph, now))
                return MC_OK;
            for (uint32_t i = 0; i < ph->o->batch && may_send(ph, now); i++) {
                mc_err e = send_one(ph, now, d);
                if (e)
                    return e;
            }
        }
        mc_err e = wait_for(ph, 0, d);
        if (e)
            return e;
    }
}

static mc_err make_schedule(const phase *ph, mc_ns **sched, size_t *n, mc_diag *d)
{
    mc_lg_sched_opts so = ph->o->sched;
    so.ramp_s = ph->warmup ? 0 : ph->o->ramp_up_s;
    if (ph->warmup)
        so.seed ^= 0x5741524d55505553ull; /* warm-up arrivals differ from the measured ones */
    if (ph->count == 0)
        return mc_lg_schedule_until(&so, ph->duration_s, (size_t)1 << 28, sched, n, d);
    *n = (size_t)ph->count;
    *sched = mc_mallocarray(*n, sizeof **sched);
    if (!*sched)
        return mc_fail(d, MC_ERR_NOMEM, "loadgen: out of memory for %zu arrivals", *n);
    mc_err e = mc_lg_schedule(&so, *n, *sched, d);
    if (e) {
        mc_free(*sched);
        *sched = NULL;
    }
    return e;
}

/* Open loop: request i is due at t0 + offset[i]; when the concurrency cap is reached it waits,
 * and its latency still counts from when it was due. */
static mc_err run_open(phase *ph, mc_diag *d)
{
    mc_ns *off = NULL;
    size_t n = 0, next = 0, queued_upto = 0;
    mc_err e = make_schedule(ph, &off, &n, d);
    uint32_t cap = ph->o->concurrency ? ph->o->concurrency : mc_lg_client_slots(ph->c);
    ph->t0 = mc_now_ns();
    while (!e) {
        if (stop_requested(ph)) {
            ph->stopped = 1;
            break;
        }
        mc_ns now = mc_now_ns();
        while (next < n && ph->t0 + off[next] <= now && mc_lg_client_inflight(ph->c) < cap &&
               may_send(ph, now) && !e) {
            e = send_one(ph, ph->t0 + off[next++], d);
        }
        if (!may_send(ph, now))
            next = n;
        /* due but no free slot: it waits, and its latency keeps counting from when it was due */
        for (; queued_upto < n && ph->t0 + off[queued_upto] <= now; queued_upto++)
            ph->queued += queued_upto >= next;
        if (e || (next == n && mc_lg_client_inflight(ph->c) == 0))
            break;
        int can = next < n && mc_lg_client_inflight(ph->c) < cap;
        e = wait_for(ph, can ? ph->t0 + off[next] : 0, d);
    }
    mc_free(off);
    return e;
}

static mc_err run_phase(phase *ph, mc_diag *d)
{
    ph->t0 = mc_now_ns();
    mc_err e;
    switch (ph->o->mode) {
    case MC_LG_CLOSED: e = run_closed(ph, d); break;
    case MC_LG_BATCH: e = run_batch(ph, d); break;
    default: e = run_open(ph, d); break;
    }
    if (ph->stopped || e)
        mc_lg_client_cancel_all(ph->c);
    return e;
}

mc_err mc_lg_run_check(const mc_lg_run_opts *o, mc_diag *d)
{
    if (o->mode == MC_LG_CLOSED && o->concurrency < 1)
        return mc_fail(d, MC_ERR_ARG, "concurrency must be at least 1");
    if (o->mode == MC_LG_BATCH && o->batch < 1)
        return mc_fail(d, MC_ERR_ARG, "batch size must be at least 1");
    if (o->mode == MC_LG_OPEN && (!(o->sched.rate_per_s > 0) || !isfinite(o->sched.rate_per_s)))
        return mc_fail(d, MC_ERR_ARG, "request rate must be > 0 (got %g)", o->sched.rate_per_s);
    if (o->mode == MC_LG_OPEN && (o->sched.burstiness < 0 || !isfinite(o->sched.burstiness)))
        return mc_fail(d, MC_ERR_ARG, "burstiness must be > 0 (got %g)", o->sched.burstiness);
    if (o->duration_s < 0 || !isfinite(o->duration_s))
        return mc_fail(d, MC_ERR_ARG, "duration must be >= 0 s (got %g)", o->duration_s);
    if (o->ramp_up_s < 0 || !isfinite(o->ramp_up_s))
        return mc_fail(d, MC_ERR_ARG, "ramp-up must be >= 0 s (got %g)", o->ramp_up_s);
    if (o->num_requests == 0 && o->duration_s == 0)
        return mc_fail(d, MC_ERR_ARG, "give a number of requests or a duration");
    if (o->mode > MC_LG_OPEN)
        return mc_fail(d, MC_ERR_ARG, "unknown load model %d", (int)o->mode);
    return MC_OK;
}

static mc_err check_fit(mc_lg_client *c, const mc_lg_workload *w, const mc_lg_run_opts *o,
                        mc_diag *d)
{
    uint32_t slots = mc_lg_client_slots(c);
    if (o->mode == MC_LG_CLOSED && o->concurrency > slots)
        return mc_fail(d, MC_ERR_ARG, "concurrency %u exceeds the client's %u slots",
                       o->concurrency, slots);
    if (o->mode == MC_LG_BATCH && o->batch > slots)
        return mc_fail(d, MC_ERR_ARG, "batch %u exceeds the client's %u slots", o->batch, slots);
    if (o->mode == MC_LG_OPEN && o->concurrency > slots)
        return mc_fail(d, MC_ERR_ARG, "concurrency cap %u exceeds the client's %u slots",
                       o->concurrency, slots);
    if (w->n == 0)
        return mc_fail(d, MC_ERR_ARG, "the workload has no prompts");
    for (size_t i = 0; i < w->n; i++)
        if (!w->p[i].body)
            return mc_fail(d, MC_ERR_INTERNAL, "workload bodies were not built");
    return MC_OK;
}

mc_err mc_lg_run(mc_lg_client *c, const mc_lg_workload *w, const mc_lg_run_opts *o,
                 mc_lg_run_info *info, mc_diag *d)
{
    *info = (mc_lg_run_info){0};
    mc_err e = mc_lg_run_check(o, d);
    if (!e)
        e = check_fit(c, w, o, d);
    if (e)
        return e;
    phase ph = {.c = c, .w = w, .o = o, .count = o->warmup, .warmup = 1};
    if (o->warmup > 0) {
        e = run_phase(&ph, d);
        info->warmup_sent = ph.sent;
        if (e || ph.stopped) {
            info->stopped = ph.stopped;
            return e;
        }
    }
    if (o->on_measure)
        o->on_measure(o->on_measure_ctx);
    phase m = {.c = c,
               .w = w,
               .o = o,
               .first_id = o->warmup,
               .count = o->num_requests,
               .duration_s = o->duration_s};
    e = run_phase(&m, d);
    info->t0_ns = m.t0;
    info->first_send_ns = m.first_send_ns;
    info->end_ns = mc_now_ns();
    info->sent = m.sent;
    info->queued = m.queued;
    info->stopped = m.stopped;
    return e;
}
