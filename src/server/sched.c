/* sched.c: continuous batching. One scheduler thread owns the backend (the engine). Each
 * iteration it admits queued requests into free KV slots, drops cancelled ones, builds one step
 * from every running request's next decode token plus prefill chunks of new requests up to the
 * step token budget (oldest first), runs the forward pass, records it, and turns the logits into
 * tokens, text and events for each request. Requests join and leave between steps.
 * docs/SERVER.md "Scheduling" describes the policy. Must not depend on libmicrohttpd: the HTTP
 * side is reached only through each request's wake callback. */
#include "server_impl.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define ECHO_LOGITS_BYTES ((size_t)64 << 20) /* MC_LOGITS_ALL buffer shared by echo prefills */

typedef struct slot {
    mc_srv_req *req; /* NULL = free */
    int64_t n_past;  /* tokens in the KV slot */
    int64_t n_fed;   /* prompt tokens fed */
    int32_t last;    /* the token the next decode step feeds */
    int64_t order;   /* admission order: older prefills go first */
    mc_rng rng;
    mc_srv_gen gen;
    mc_ns t_last;  /* time of the last token (inter-token latency) */
    float *logits; /* [vocab] */
} slot;

/* What the step did for one batch item. */
typedef struct item_info {
    int slot;
    int prefill;    /* prompt tokens, not a decode token */
    int last_chunk; /* the chunk completes the prompt */
    float *all;     /* MC_LOGITS_ALL rows (echo log-probabilities) or NULL */
} item_info;

struct mc_srv_sched {
    const mc_srv_backend *be;
    mc_srv_sched_opts o;
    mc_srv_metrics *m;
    mc_srv_records *rec;
    pthread_t thread;
    int started;
    pthread_mutex_t mu; /* guards the queue and the flags; slots belong to the thread */
    pthread_cond_t cv;  /* work arrived / a flag changed */
    pthread_cond_t idle_cv;
    mc_srv_req **queue; /* ring [q_cap]: waiting requests, and new ones free slots will take */
    int64_t q_cap;      /* max_queue + slots */
    int64_t q_head, q_len;
    int64_t running; /* slots in use (written by the thread under mu) */
    int stopping, abort, quit;
    slot *slots;
    int n_slots;
    int64_t admitted;
    mc_batch_item *items;
    item_info *info;
    mc_req_chunk *chunks;
    char *taken; /* [n_slots] scratch of add_prefills */
    float *all;  /* [all_rows][vocab] */
    int64_t all_rows;
    float *raw; /* [vocab] logits before sampling (log-probabilities) */
    int32_t *top_ids;
    double *top_lps;
    int64_t pass_id;
};

/* ---- setup ---- */

static mc_err alloc_buffers(mc_srv_sched *s)
{
    const mc_srv_backend *be = s->be;
    size_t v = (size_t)be->vocab, n = (size_t)s->n_slots;
    int64_t rows = (int64_t)(ECHO_LOGITS_BYTES / (v * sizeof(float)));
    s->all_rows = rows < 1 ? 1 : rows > be->max_step_tokens ? be->max_step_tokens : rows;
    s->q_cap = s->o.max_queue + s->n_slots;
    s->queue = mc_calloc((size_t)s->q_cap, sizeof *s->queue);
    s->slots = mc_calloc(n, sizeof *s->slots);
    s->items = mc_calloc(n, sizeof *s->items);
    s->info = mc_calloc(n, sizeof *s->info);
    s->chunks = mc_calloc(n, sizeof *s->chunks);
    s->taken = mc_calloc(n, 1);
    s->all = mc_mallocarray((size_t)s->all_rows * v, sizeof(float));
    s->raw = mc_mallocarray(v, sizeof(float));
    s->top_ids = mc_calloc(MC_SRV_MAX_TOP_LOGPROBS, sizeof *s->top_ids);
    s->top_lps = mc_calloc(MC_SRV_MAX_TOP_LOGPROBS, sizeof *s->top_lps);
    if (!s->queue || !s->slots || !s->items || !s->info || !s->chunks || !s->taken || !s->all ||
        !s->raw || !s->top_ids || !s->top_lps)
        return MC_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        mc_srv_gen_init(&s->slots[i].gen);
        if (!(s->slots[i].logits = mc_mallocarray(v, sizeof(float))))
            return MC_ERR_NOMEM;
    }
    return MC_OK;
}

static void free_buffers(mc_srv_sched *s)
{
    for (int i = 0; s->slots && i < s->n_slots; i++) {
        mc_srv_gen_deinit(&s->slots[i].gen);
        mc_free(s->slots[i].logits);
    }
    mc_free(s->queue);
    mc_free(s->slots);
    mc_free(s->items);
    mc_free(s->info);
    mc_free(s->chunks);
    mc_free(s->taken);
    mc_free(s->all);
    mc_free(s->raw);
    mc_free(s->top_ids);
    mc_free(s->top_lps);
}

mc_err mc_srv_sched_new(const mc_srv_backend *be, const mc_srv_sched_opts *o, mc_srv_metrics *m,
                        mc_srv_records *rec, mc_srv_sched **out, mc_diag *d)
{
    *out = NULL;
    if (be->max_seqs < 1 || be->vocab < 1 || be->n_ctx < 2 || be->max_step_tokens < be->max_seqs)
        return mc_fail(d, MC_ERR_ARG,
                       "server: backend needs max_seqs >= 1, vocab >= 1, n_ctx >= 2 and "
                       "max_step_tokens (%lld) >= max_seqs (%d)",
                       (long long)be->max_step_tokens, be->max_seqs);
    if (o->max_queue < 1)
        return mc_fail(d, MC_ERR_ARG, "server: --max-queue must be at least 1");
    mc_srv_sched *s = mc_calloc(1, sizeof *s);
    if (!s)
        return mc_fail(d, MC_ERR_NOMEM, "server: out of memory");
    s->be = be;
    s->o = *o;
    s->m = m;
    s->rec = rec;
    s->n_slots = be->max_seqs;
    if (pthread_mutex_init(&s->mu, NULL) || pthread_cond_init(&s->cv, NULL) ||
        pthread_cond_init(&s->idle_cv, NULL) || alloc_buffers(s) != MC_OK) {
        free_buffers(s);
        mc_free(s);
        return mc_fail(d, MC_ERR_NOMEM, "server: out of memory for the scheduler buffers");
    }
    *out = s;
    return MC_OK;
}

/* ---- queue (caller holds s->mu) ---- */

static void gauges_locked(mc_srv_sched *s)
{
    pthread_mutex_lock(&s->m->mu);
    s->m->queue_depth = s->q_len;
    s->m->running = s->running;
    pthread_mutex_unlock(&s->m->mu);
}

static mc_srv_req *queue_pop(mc_srv_sched *s)
{
    if (s->q_len == 0)
        return NULL;
    mc_srv_req *r = s->queue[s->q_head];
    s->q_head = (s->q_head + 1) % s->q_cap;
    s->q_len--;
    return r;
}

static void count(mc_srv_sched *s, mc_srv_outcome o)
{
    pthread_mutex_lock(&s->m->mu);
    s->m->requests[o]++;
    pthread_mutex_unlock(&s->m->mu);
}

mc_err mc_srv_sched_submit(mc_srv_sched *s, mc_srv_req *r, mc_srv_error *err)
{
    mc_err e = MC_OK;
    pthread_mutex_lock(&s->mu);
    if (s->stopping)
        e = mc_srv_fail(err, 503, "shutting_down", NULL, "the server is shutting down");
    else if (s->q_len - (s->n_slots - s->running) >= s->o.max_queue) /* free slots take some */
        e = mc_srv_fail(err, 503, "queue_full", NULL,
                        "the request queue is full (%lld waiting); retry later",
                        (long long)s->o.max_queue);
    if (!e) {
        mc_srv_req_ref(r);
        s->queue[(s->q_head + s->q_len) % s->q_cap] = r;
        s->q_len++;
        gauges_locked(s);
        pthread_cond_signal(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    if (e)
        count(s, MC_OUT_REJECTED);
    return e;
}

void mc_srv_sched_cancel(mc_srv_sched *s, mc_srv_req *r)
{
    atomic_store(&r->cancelled, 1);
    pthread_mutex_lock(&s->mu);
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void mc_srv_sched_load(mc_srv_sched *s, int64_t *queued, int64_t *running)
{
    pthread_mutex_lock(&s->mu);
    *queued = s->q_len;
    *running = s->running;
    pthread_mutex_unlock(&s->mu);
}

/* ---- ending requests ---- */

/* Marks r finished (if not yet) and wakes its consumer. */
static void end_request(mc_srv_req *r, const char *reason, const mc_srv_error *err)
{
    pthread_mutex_lock(&r->mu);
    if (!r->finished && err) {
        mc_srv_req_fail_locked(r, err);
    } else if (!r->finished) {
        r->finished = 1;
        r->finish_reason = reason;
        if (r->wake)
            r->wake(r);
    }
    pthread_mutex_unlock(&r->mu);
}

/* Frees slot i (the engine forgets the sequence) and drops the scheduler's reference. */
static void release_slot(mc_srv_sched *s, int i)
{
    slot *sl = &s->slots[i];
    s->be->ops->seq_reset(s->be->ctx, i);
    mc_srv_req_unref(sl->req);
    sl->req = NULL;
    pthread_mutex_lock(&s->mu);
    s->running--;
    gauges_locked(s);
    if (s->running == 0 && s->q_len == 0)
        pthread_cond_broadcast(&s->idle_cv);
    pthread_mutex_unlock(&s->mu);
}

/* ---- admission and cancellation (scheduler thread) ---- */

static void admit(mc_srv_sched *s, int i, mc_srv_req *r)
{
    slot *sl = &s->slots[i];
    sl->req = r;
    sl->n_past = sl->n_fed = 0;
    sl->order = s->admitted++;
    sl->t_last = 0;
    mc_rng_seed(&sl->rng, r->p.seed_given ? r->p.samp.seed : (uint64_t)mc_now_ns() ^ (uint64_t)i);
    mc_srv_gen_reset(&sl->gen);
    s->be->ops->seq_reset(s->be->ctx, i);
    pthread_mutex_lock(&s->m->mu);
    s->m->prompt_tokens += (uint64_t)r->n_prompt;
    pthread_mutex_unlock(&s->m->mu);
}

/* Fills free slots from the queue (caller holds s->mu). */
static void admit_locked(mc_srv_sched *s)
{
    for (int i = 0; i < s->n_slots && s->q_len > 0; i++) {
        if (s->slots[i].req)
            continue;
        mc_srv_req *r = queue_pop(s);
        while (r && atomic_load(&r->cancelled)) {
            end_request(r, "abort", NULL);
            count(s, MC_OUT_CANCELLED);
            mc_srv_req_unref(r);
            r = queue_pop(s);
        }
        if (!r)
            break;
        admit(s, i, r);
        s->running++;
    }
    gauges_locked(s);
}

static void drop_cancelled(mc_srv_sched *s)
{
    for (int i = 0; i < s->n_slots; i++) {
        mc_srv_req *r = s->slots[i].req;
        if (!r || !atomic_load(&r->cancelled))
            continue;
        end_request(r, "abort", NULL);
        count(s, MC_OUT_CANCELLED);
        release_slot(s, i);
    }
}

/* Shutdown: running requests end with "abort", queued ones with 503. */
static void abort_everything(mc_srv_sched *s)
{
    mc_srv_error err;
    mc_srv_fail(&err, 503, "shutting_down", NULL, "the server is shutting down");
    for (int i = 0; i < s->n_slots; i++) {
        if (!s->slots[i].req)
            continue;
        end_request(s->slots[i].req, "abort", NULL);
        count(s, MC_OUT_ABORTED);
        release_slot(s, i);
    }
    pthread_mutex_lock(&s->mu);
    for (mc_srv_req *r; (r = queue_pop(s)) != NULL;) {
        end_request(r, NULL, &err);
        count(s, MC_OUT_ABORTED);
        mc_srv_req_unref(r);
    }
    gauges_locked(s);
    pthread_cond_broadcast(&s->idle_cv);
    pthread_mutex_unlock(&s->mu);
}

/* ---- building a step ---- */

static int add_decodes(mc_srv_sched *s, int64_t *budget)
{
    int n = 0;
    for (int i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        if (!sl->req || sl->n_fed < sl->req->n_prompt)
            continue;
        s->items[n] = (mc_batch_item){.seq = i,
                                      .tokens = &sl->last,
                                      .n_tokens = 1,
                                      .logits = MC_LOGITS_LAST,
                                      .logits_out = sl->logits};
        s->info[n++] = (item_info){i, 0, 0, NULL};
        (*budget)--;
    }
    return n;
}

/* The prefilling slot admitted first among those not yet in the step, or -1. */
static int next_prefill(const mc_srv_sched *s, const char *taken)
{
    int best = -1;
    for (int i = 0; i < s->n_slots; i++) {
        const slot *sl = &s->slots[i];
        if (taken[i] || !sl->req || sl->n_fed >= sl->req->n_prompt)
            continue;
        if (best < 0 || sl->order < s->slots[best].order)
            best = i;
    }
    return best;
}

/* Prefill chunks, oldest request first, within the token budget. Echo requests with
 * log-probabilities need every row of logits: their chunks share the MC_LOGITS_ALL buffer. */
static int add_prefills(mc_srv_sched *s, int n, int64_t budget)
{
    int64_t rows_left = s->all_rows;
    memset(s->taken, 0, (size_t)s->n_slots);
    for (int i; budget > 0 && (i = next_prefill(s, s->taken)) >= 0;) {
        slot *sl = &s->slots[i];
        mc_srv_req *r = sl->req;
        int64_t rest = r->n_prompt - sl->n_fed, take = rest < budget ? rest : budget;
        s->taken[i] = 1;
        float *all = NULL, *out = take == rest ? sl->logits : NULL;
        if (r->echo_logprobs) {
            take = take < rows_left ? take : rows_left;
            if (take == 0)
                continue;
            all = out = s->all + (s->all_rows - rows_left) * s->be->vocab;
            rows_left -= take;
        }
        int logits = all ? MC_LOGITS_ALL : out ? MC_LOGITS_LAST : MC_LOGITS_NONE;
        s->items[n] = (mc_batch_item){.seq = i,
                                      .tokens = r->prompt + sl->n_fed,
                                      .n_tokens = take,
                                      .logits = logits,
                                      .logits_out = out,
                                      .more_chunks = take < rest};
        s->info[n++] = (item_info){i, 1, take == rest, all};
        budget -= take;
    }
    return n;
}

static int build_step(mc_srv_sched *s)
{
    int64_t budget = s->be->max_step_tokens;
    int n = add_decodes(s, &budget);
    return add_prefills(s, n, budget);
}

/* ---- after the step ---- */

/* The pass's record: the engine's (shallow copy: its arrays, our chunks), or, when the engine
 * keeps none, one built from the step with our own timing. */
static void record(mc_srv_sched *s, int n, const mc_pass *ep, double latency_s)
{
    mc_pass p;
    mc_pass_init(&p);
    if (ep)
        p = *ep;
    else
        p.latency_s = latency_s > 0 ? latency_s : 1e-9;
    int prefills = 0;
    int64_t new_tokens = 0, seq_lens = 0;
    for (int k = 0; k < n; k++) {
        const slot *sl = &s->slots[s->info[k].slot];
        mc_req_chunk *c = &s->chunks[k];
        snprintf(c->req_id, sizeof c->req_id, "%s", sl->req->id);
        c->extend_len = s->items[k].n_tokens;
        c->total_len = sl->n_past; /* already includes this step */
        c->is_last_chunk = s->info[k].prefill ? s->info[k].last_chunk : -1;
        prefills += s->info[k].prefill;
        new_tokens += c->extend_len;
        seq_lens += c->total_len;
    }
    if (!ep) {
        p.new_tokens = new_tokens;
        p.batch_size = n;
        p.seq_lens_sum = seq_lens;
    }
    p.forward_pass_id = s->pass_id++;
    p.mode = prefills == n ? MC_PASS_PREFILL : prefills == 0 ? MC_PASS_DECODE : MC_PASS_MIXED;
    p.n_chunks = n;
    p.chunks = s->chunks;
    p.gpu_num = s->o.gpu_num;
    snprintf(p.gpu_raw_type, sizeof p.gpu_raw_type, "%s", s->o.gpu_raw_type);
    p.line = 0;
    pthread_mutex_lock(&s->m->mu);
    mc_srv_metrics_pass_locked(s->m, &p);
    pthread_mutex_unlock(&s->m->mu);
    mc_srv_records_push(s->rec, &p); /* out of memory: the record is lost, serving goes on */
}

/* Row j of a prompt chunk predicts prompt token n_fed + j + 1. */
static void prompt_logprobs(mc_srv_sched *s, slot *sl, int64_t n, const float *rows)
{
    mc_srv_req *r = sl->req;
    const mc_srv_backend *be = s->be;
    for (int64_t j = 0; j < n; j++) {
        int64_t pos = sl->n_fed + j + 1;
        if (pos >= r->n_prompt)
            break;
        const float *row = rows + j * be->vocab;
        r->p_lps[pos] = be->ops->logprob(row, be->vocab, r->prompt[pos]);
        if (r->n_top > 0)
            be->ops->top_logprobs(row, be->vocab, r->n_top, r->p_top_ids + pos * r->n_top,
                                  r->p_top_lps + pos * r->n_top);
    }
}

/* Counts the token (TTFT or ITL) and, for the last one, the request's end, before its client can
 * see it: /metrics never lags what a client has received. Caller holds r->mu (m->mu is a leaf). */
static void token_metrics(mc_srv_sched *s, const slot *sl, const mc_srv_req *r, int res, mc_ns now)
{
    int first = r->n_out == 1;
    pthread_mutex_lock(&s->m->mu);
    mc_srv_hist_add(first ? &s->m->ttft : &s->m->itl,
                    mc_ns_to_s(now - (first ? r->t_arrival : sl->t_last)));
    if (res == 1) {
        s->m->requests[MC_OUT_FINISHED]++;
        s->m->generation_tokens += (uint64_t)r->n_out;
        mc_srv_hist_add(&s->m->e2e, mc_ns_to_s(now - r->t_arrival));
    } else if (res < 0) {
        s->m->requests[MC_OUT_FAILED]++;
    }
    pthread_mutex_unlock(&s->m->mu);
}

/* Hands token id (its log-probabilities in the scratch) to slot i's request; returns
 * mc_srv_gen_push's result. */
static int hand_over(mc_srv_sched *s, int i, int32_t id, double lp, mc_ns now)
{
    slot *sl = &s->slots[i];
    mc_srv_req *r = sl->req;
    pthread_mutex_lock(&r->mu);
    int64_t k = r->n_out;
    size_t n_ev = r->n_ev;
    if (r->p.logprobs)
        r->lps[k] = lp;
    for (int t = 0; t < r->n_top; t++) {
        r->top_ids[k * r->n_top + t] = s->top_ids[t];
        r->top_lps[k * r->n_top + t] = s->top_lps[t];
    }
    if (k == 0) {
        r->t_first = now;
        r->prompt_done = 1;
    }
    int res = mc_srv_gen_push(&sl->gen, s->be->tok, r, id);
    if (res != 0)
        r->t_end = now;
    token_metrics(s, sl, r, res, now);
    if (r->wake && (k == 0 || res != 0 || r->n_ev != n_ev))
        r->wake(r);
    pthread_mutex_unlock(&r->mu);
    return res;
}

/* Samples the next token of slot i from row (modified) and hands it to the request. */
static void next_token(mc_srv_sched *s, int i, float *row)
{
    slot *sl = &s->slots[i];
    mc_srv_req *r = sl->req;
    const mc_srv_backend *be = s->be;
    if (r->p.logprobs)
        memcpy(s->raw, row, (size_t)be->vocab * sizeof(float));
    int32_t id = be->ops->sample(be->ctx, row, &r->p.samp, &sl->rng);
    double lp = r->p.logprobs ? be->ops->logprob(s->raw, be->vocab, id) : 0;
    if (r->n_top > 0)
        be->ops->top_logprobs(s->raw, be->vocab, r->n_top, s->top_ids, s->top_lps);
    mc_ns now = mc_now_ns();
    int res = hand_over(s, i, id, lp, now);
    sl->t_last = now;
    sl->last = id;
    if (res != 0)
        release_slot(s, i);
}

static void after_step(mc_srv_sched *s, int n, double latency_s)
{
    for (int k = 0; k < n; k++)
        s->slots[s->info[k].slot].n_past += s->items[k].n_tokens;
    record(s, n, s->be->ops->last_pass(s->be->ctx), latency_s);
    for (int k = 0; k < n; k++) {
        const item_info *in = &s->info[k];
        slot *sl = &s->slots[in->slot];
        float *row = sl->logits;
        if (in->prefill) {
            int64_t nt = s->items[k].n_tokens;
            if (in->all)
                prompt_logprobs(s, sl, nt, in->all);
            sl->n_fed += nt;
            if (!in->last_chunk)
                continue;
            row = in->all ? in->all + (nt - 1) * s->be->vocab : sl->logits;
        }
        next_token(s, in->slot, row);
    }
}

/* The engine refused the step: every request in it fails. */
static void step_failed(mc_srv_sched *s, int n, const mc_diag *d)
{
    mc_srv_error err;
    mc_srv_fail(&err, 500, "engine_error", NULL, "forward pass failed: %s", d->msg);
    for (int k = 0; k < n; k++) {
        int i = s->info[k].slot;
        if (!s->slots[i].req)
            continue;
        end_request(s->slots[i].req, NULL, &err);
        count(s, MC_OUT_FAILED);
        release_slot(s, i);
    }
}

/* ---- the thread ---- */

static void *run(void *arg)
{
    mc_srv_sched *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->quit && !s->abort && s->q_len == 0 && s->running == 0)
            pthread_cond_wait(&s->cv, &s->mu);
        int quit = s->quit, ab = s->abort;
        s->abort = 0;
        if (!quit && !ab)
            admit_locked(s);
        pthread_mutex_unlock(&s->mu);
        if (quit || ab) {
            abort_everything(s);
            if (quit)
                break;
            continue;
        }
        drop_cancelled(s);
        int n = build_step(s);
        if (n == 0)
            continue;
        mc_diag d = {{0}};
        mc_ns t0 = mc_now_ns();
        if (s->be->ops->step(s->be->ctx, s->items, n, &d) != MC_OK)
            step_failed(s, n, &d);
        else
            after_step(s, n, mc_ns_to_s(mc_now_ns() - t0));
    }
    return NULL;
}

mc_err mc_srv_sched_start(mc_srv_sched *s, mc_diag *d)
{
    int rc = pthread_create(&s->thread, NULL, run, s);
    if (rc != 0)
        return mc_fail(d, MC_ERR_INTERNAL, "server: cannot start the scheduler thread: %s",
                       strerror(rc));
    s->started = 1;
    return MC_OK;
}

void mc_srv_sched_stop_accepting(mc_srv_sched *s)
{
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    pthread_mutex_unlock(&s->mu);
}

int mc_srv_sched_wait_idle(mc_srv_sched *s, double timeout_s)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    double t = (double)until.tv_sec + until.tv_nsec * 1e-9 + (timeout_s > 0 ? timeout_s : 0);
    until.tv_sec = (time_t)t;
    until.tv_nsec = (long)((t - (double)until.tv_sec) * 1e9);
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    while ((s->running > 0 || s->q_len > 0) && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&s->idle_cv, &s->mu, &until);
    int idle = s->running == 0 && s->q_len == 0;
    pthread_mutex_unlock(&s->mu);
    return idle;
}

void mc_srv_sched_abort_all(mc_srv_sched *s)
{
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    if (s->started) {
        s->abort = 1;
        pthread_cond_signal(&s->cv);
        while (s->running > 0 || s->q_len > 0)
            pthread_cond_wait(&s->idle_cv, &s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    if (!s->started)
        abort_everything(s);
}

void mc_srv_sched_free(mc_srv_sched *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    s->quit = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (s->started)
        pthread_join(s->thread, NULL);
    else
        abort_everything(s);
    free_buffers(s);
    pthread_cond_destroy(&s->idle_cv);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    mc_free(s);
}
