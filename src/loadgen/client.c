/* client.c: the load generator's HTTP client loop: one libcurl multi handle driven by
 * curl_multi_socket_action from an epoll set, plus a timerfd that wakes the loop at curl's
 * timeouts and at the caller's deadlines with nanosecond resolution (epoll's own timeout is
 * milliseconds). Slots are allocated up front. Per-transfer logic is in client_xfer.c.
 * Depends on base and libcurl; never on src/cap. */
#include "client_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <unistd.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

mc_err lg_curl_global(mc_diag *d)
{
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK)
        return mc_fail(d, MC_ERR_INTERNAL, "loadgen: curl_global_init failed");
    return MC_OK;
}

const char *mc_lg_fail_name(mc_lg_fail f)
{
    static const char *const names[MC_LG_FAIL_COUNT_] = {
        "ok",        "connect",      "http_status", "timeout", "malformed_stream",
        "truncated", "stream_error", "cancelled",   "other"};
    return (unsigned)f < MC_LG_FAIL_COUNT_ ? names[f] : "?";
}

/* ---- curl callbacks: socket interest and timer -------------------------------------------- */

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *sockp)
{
    mc_lg_client *c = userp;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(c->epfd, EPOLL_CTL_DEL, fd, NULL); /* may already be closed: ignore */
        curl_multi_assign(c->multi, fd, NULL);
        return 0;
    }
    struct epoll_event ev = {0};
    ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
    ev.data.fd = fd;
    int op = sockp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(c->epfd, op, fd, &ev) != 0) {
        op = errno == EEXIST ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
        if (epoll_ctl(c->epfd, op, fd, &ev) != 0)
            return -1;
    }
    if (!sockp)
        curl_multi_assign(c->multi, fd, &c->sock_mark);
    return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    mc_lg_client *c = userp;
    (void)multi;
    c->curl_deadline = timeout_ms < 0 ? 0 : mc_now_ns() + (mc_ns)timeout_ms * 1000000u;
    if (timeout_ms == 0)
        c->curl_deadline = 1; /* "as soon as possible": any past time */
    return 0;
}

/* ---- creation ------------------------------------------------------------------------------ */

static mc_err fd_limit(uint32_t need, mc_diag *d)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need)
        return MC_OK;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
        return mc_fail(d, MC_ERR_RANGE,
                       "loadgen: %u requests in flight need %u file descriptors; the hard limit "
                       "is %llu",
                       need - 64, need, (unsigned long long)rl.rlim_max);
    rl.rlim_cur = need;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        return mc_fail(d, MC_ERR_RANGE, "loadgen: cannot raise the file-descriptor limit to %u",
                       need);
    return MC_OK;
}

static void apply_defaults(mc_lg_client_opts *o)
{
    if (!o->max_inflight)
        o->max_inflight = 256;
    if (o->connect_timeout_s <= 0)
        o->connect_timeout_s = 10;
    if (!o->max_event_bytes)
        o->max_event_bytes = (size_t)1 << 20;
    if (!o->max_body_bytes)
        o->max_body_bytes = (size_t)16 << 20;
    if (!o->max_text_bytes)
        o->max_text_bytes = (size_t)64 << 10;
    if (!o->max_chunk_stamps)
        o->max_chunk_stamps = 65536;
}

static mc_err make_headers(mc_lg_client *c, mc_diag *d)
{
    const char *h[] = {"Content-Type: application/json",
                       c->o.stream ? "Accept: text/event-stream" : "Accept: application/json",
                       "Expect:", /* no 100-continue round trip for large bodies */
                       c->auth};
    for (size_t i = 0; i < sizeof h / sizeof h[0]; i++) {
        if (!h[i])
            continue;
        struct curl_slist *l = curl_slist_append(c->headers, h[i]);
        if (!l)
            return mc_fail(d, MC_ERR_NOMEM, "loadgen: out of memory for headers");
        c->headers = l;
    }
    return MC_OK;
}

static mc_err make_multi(mc_lg_client *c, mc_diag *d)
{
    c->multi = curl_multi_init();
    c->epfd = epoll_create1(EPOLL_CLOEXEC);
    c->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (!c->multi || c->epfd < 0 || c->tfd < 0)
        return mc_fail(d, MC_ERR_IO, "loadgen: cannot create the event loop: %s", strerror(errno));
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = c->tfd};
    if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->tfd, &ev) != 0)
        return mc_fail(d, MC_ERR_IO, "loadgen: epoll_ctl: %s", strerror(errno));
    CURLMcode rc = CURLM_OK;
    rc |= curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    rc |= curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    rc |= curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    rc |= curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    rc |= curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)c->n_slots + 16);
    if (rc != CURLM_OK)
        return mc_fail(d, MC_ERR_INTERNAL, "loadgen: curl multi option rejected");
    return MC_OK;
}

static mc_err make_slots(mc_lg_client *c, mc_diag *d)
{
    c->slots = mc_calloc(c->n_slots, sizeof *c->slots);
    if (!c->slots)
        return mc_fail(d, MC_ERR_NOMEM, "loadgen: out of memory for %u slots", c->n_slots);
    for (uint32_t i = 0; i < c->n_slots; i++) {
        c->slots[i].c = c;
        c->slots[i].next_free = i + 1 < c->n_slots ? i + 1 : LG_NO_SLOT;
    }
    c->free_head = 0;
    for (uint32_t i = 0; i < c->n_slots; i++) {
        mc_err e = lg_slot_setup(&c->slots[i], d);
        if (e)
            return e;
    }
    return MC_OK;
}

mc_err mc_lg_client_new(const mc_lg_client_opts *o, mc_lg_client **out, mc_diag *d)
{
    *out = NULL;
    if (!o->url || !o->on_result)
        return mc_fail(d, MC_ERR_ARG, "loadgen: client needs a URL and a result callback");
    mc_err e = lg_curl_global(d);
    if (e)
        return e;
    mc_lg_client *c = mc_calloc(1, sizeof *c);
    if (!c)
        return mc_fail(d, MC_ERR_NOMEM, "loadgen: out of memory");
    c->o = *o;
    c->epfd = c->tfd = -1;
    apply_defaults(&c->o);
    c->n_slots = c->o.max_inflight;
    c->url = mc_strdup(o->url);
    if (o->api_key) {
        size_t n = strlen(o->api_key) + 32;
        c->auth = mc_malloc(n);
        if (c->auth)
            snprintf(c->auth, n, "Authorization: Bearer %s", o->api_key);
    }
    if (!c->url || (o->api_key && !c->auth))
        e = mc_fail(d, MC_ERR_NOMEM, "loadgen: out of memory");
    if (!e)
        e = fd_limit(c->n_slots + 64, d);
    if (!e)
        e = make_headers(c, d);
    if (!e)
        e = make_multi(c, d);
    if (!e) { /* grow the fd table now: growing it mid-run in a threaded process stalls ~20 ms */
        int fd = fcntl(c->epfd, F_DUPFD_CLOEXEC, (int)(c->n_slots + 63));
        if (fd >= 0)
            close(fd);
    }
    if (!e)
        e = make_slots(c, d);
    if (e) {
        mc_lg_client_free(c);
        return e;
    }
    *out = c;
    return MC_OK;
}

void mc_lg_client_free(mc_lg_client *c)
{
    if (!c)
        return;
    mc_lg_client_cancel_all(c);
    for (uint32_t i = 0; c->slots && i < c->n_slots; i++) {
        lg_slot *s = &c->slots[i];
        if (s->easy)
            curl_easy_cleanup(s->easy);
        mc_sse_free(s->sse);
        mc_buf_deinit(&s->text);
        mc_buf_deinit(&s->body);
        mc_free(s->stamps);
    }
    if (c->multi)
        curl_multi_cleanup(c->multi); /* closes cached connections (may call on_socket) */
    if (c->epfd >= 0)
        close(c->epfd);
    if (c->tfd >= 0)
        close(c->tfd);
    curl_slist_free_all(c->headers);
    mc_free(c->slots);
    mc_free(c->url);
    mc_free(c->auth);
    mc_free(c);
}

/* ---- requests ------------------------------------------------------------------------------ */

uint32_t mc_lg_client_inflight(const mc_lg_client *c)
{
    return c->inflight;
}
uint32_t mc_lg_client_slots(const mc_lg_client *c)
{
    return c->n_slots;
}

size_t mc_lg_client_mem_bytes(const mc_lg_client *c)
{
    size_t n = 0;
    for (uint32_t i = 0; c->slots && i < c->n_slots; i++) {
        const lg_slot *s = &c->slots[i];
        n += sizeof *s + mc_sse_mem_bytes(s->sse) + s->text.cap + s->body.cap +
             s->cap_stamps * sizeof *s->stamps;
    }
    return n;
}

mc_err mc_lg_client_submit(mc_lg_client *c, const mc_lg_request *r, mc_diag *d)
{
    if (c->free_head == LG_NO_SLOT)
        return mc_fail(d, MC_ERR_RANGE, "loadgen: all %u request slots are busy", c->n_slots);
    uint32_t i = c->free_head;
    lg_slot *s = &c->slots[i];
    lg_slot_begin(s, r, mc_now_ns());
    s->r.send_ns = mc_now_ns();
    if (curl_multi_add_handle(c->multi, s->easy) != CURLM_OK)
        return mc_fail(d, MC_ERR_INTERNAL, "loadgen: curl_multi_add_handle failed");
    c->free_head = s->next_free;
    s->active = 1;
    c->inflight++;
    /* Start the transfer now rather than at the next poll, so the send time is the real one. */
    int running = 0;
    c->curl_deadline = 0;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    return MC_OK;
}

static void release(mc_lg_client *c, lg_slot *s)
{
    curl_multi_remove_handle(c->multi, s->easy);
    s->active = 0;
    s->next_free = c->free_head;
    c->free_head = (uint32_t)(s - c->slots);
    c->inflight--;
}

/* Emits the results of finished transfers; returns how many. */
static int drain_done(mc_lg_client *c)
{
    int left = 0, done = 0;
    CURLMsg *m;
    while ((m = curl_multi_info_read(c->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        lg_slot *s = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
        CURLcode rc = m->data.result; /* m is invalid after remove_handle */
        lg_slot_finish(s, rc, mc_now_ns());
        release(c, s);
        c->o.on_result(&s->r, c->o.ctx);
        done++;
    }
    return done;
}

void mc_lg_client_cancel_all(mc_lg_client *c)
{
    for (uint32_t i = 0; c->slots && i < c->n_slots; i++) {
        lg_slot *s = &c->slots[i];
        if (!s->active)
            continue;
        lg_slot_set_fail(s, MC_LG_FAIL_CANCELLED, "cancelled before completion");
        lg_slot_finish(s, CURLE_ABORTED_BY_CALLBACK, mc_now_ns());
        release(c, s);
        c->o.on_result(&s->r, c->o.ctx);
    }
}

/* ---- the loop ------------------------------------------------------------------------------ */

static void arm_timer(mc_lg_client *c, mc_ns at)
{
    if (at == c->armed)
        return;
    struct itimerspec its = {0};
    its.it_value.tv_sec = (time_t)(at / 1000000000u);
    its.it_value.tv_nsec = (long)(at % 1000000000u);
    timerfd_settime(c->tfd, TFD_TIMER_ABSTIME, &its, NULL); /* at == 0 disarms */
    c->armed = at;
}

static void run_curl_timers(mc_lg_client *c, mc_ns now)
{
    int running = 0;
    if (c->curl_deadline && c->curl_deadline <= now) {
        c->curl_deadline = 0;
        curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
}

static void handle_events(mc_lg_client *c, const struct epoll_event *ev, int n)
{
    int running = 0;
    for (int i = 0; i < n; i++) {
        if (ev[i].data.fd == c->tfd) {
            uint64_t expirations;
            if (read(c->tfd, &expirations, sizeof expirations) < 0) { /* EAGAIN: raced */
            }
            c->armed = 0;
            continue;
        }
        int flags = 0;
        if (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP))
            flags |= CURL_CSELECT_IN;
        if (ev[i].events & EPOLLOUT)
            flags |= CURL_CSELECT_OUT;
        if (ev[i].events & EPOLLERR)
            flags |= CURL_CSELECT_ERR;
        curl_multi_socket_action(c->multi, ev[i].data.fd, flags, &running);
    }
}

mc_err mc_lg_client_poll(mc_lg_client *c, mc_ns deadline_ns, mc_diag *d)
{
    struct epoll_event ev[256];
    run_curl_timers(c, mc_now_ns());
    if (drain_done(c) > 0)
        return MC_OK; /* something happened: let the caller react before waiting */
    if (c->inflight == 0 && deadline_ns == 0)
        return MC_OK; /* nothing could ever wake us */
    mc_ns now = mc_now_ns();
    mc_ns wake = deadline_ns;
    if (c->curl_deadline && (!wake || c->curl_deadline < wake))
        wake = c->curl_deadline;
    int timeout = -1;
    if (wake && wake <= now)
        timeout = 0;
    else
        arm_timer(c, wake);
    int n = epoll_wait(c->epfd, ev, (int)(sizeof ev / sizeof ev[0]), timeout);
    if (n < 0 && errno != EINTR)
        return mc_fail(d, MC_ERR_IO, "loadgen: epoll_wait: %s", strerror(errno));
    if (n > 0)
        handle_events(c, ev, n);
    run_curl_timers(c, mc_now_ns());
    drain_done(c);
    return MC_OK;
}
