/* mock_server.c: the mock OpenAI server's loop: listening socket, epoll over non-blocking
 * connections, a timer heap on a timerfd, HTTP/1.1 request parsing and routing. Response
 * generation and fault injection are in mock_gen.c. Test support only: depends on base and libc,
 * never on the load generator it tests. See mock_server.h for why it uses raw sockets. */
#include "mock_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define MOCK_MAX_HEADER (64u << 10)
#define MOCK_MAX_BODY (64u << 20)

/* The thread handle lives outside struct mc_mock so mock_int.h needs no pthread.h. */
typedef struct mock_box {
    struct mc_mock m;
    pthread_t th;
} mock_box;

/* ---- timer heap (min-heap of connections by due time) -------------------------------------- */

static void heap_swap(struct mc_mock *m, size_t a, size_t b)
{
    mock_conn *t = m->heap[a];
    m->heap[a] = m->heap[b];
    m->heap[b] = t;
    m->heap[a]->heap_idx = a;
    m->heap[b]->heap_idx = b;
}

static void heap_up(struct mc_mock *m, size_t i)
{
    while (i > 0 && m->heap[(i - 1) / 2]->due > m->heap[i]->due) {
        heap_swap(m, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void heap_down(struct mc_mock *m, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, s = i;
        if (l < m->heap_n && m->heap[l]->due < m->heap[s]->due)
            s = l;
        if (r < m->heap_n && m->heap[r]->due < m->heap[s]->due)
            s = r;
        if (s == i)
            return;
        heap_swap(m, i, s);
        i = s;
    }
}

static void heap_remove(struct mc_mock *m, mock_conn *c)
{
    size_t i = c->heap_idx;
    if (i == SIZE_MAX)
        return;
    m->heap_n--;
    if (i != m->heap_n) {
        m->heap[i] = m->heap[m->heap_n];
        m->heap[i]->heap_idx = i;
        heap_down(m, i);
        heap_up(m, i);
    }
    c->heap_idx = SIZE_MAX;
}

void mock_due(struct mc_mock *m, mock_conn *c, mc_ns t)
{
    heap_remove(m, c);
    if (!t)
        return;
    if (m->heap_n == m->heap_cap) {
        size_t ncap = m->heap_cap ? m->heap_cap * 2 : 256;
        mock_conn **h = mc_reallocarray(m->heap, ncap, sizeof *h);
        if (!h)
            return; /* out of memory: the response stalls (test support; never in practice) */
        m->heap = h;
        m->heap_cap = ncap;
    }
    c->due = t;
    c->heap_idx = m->heap_n;
    m->heap[m->heap_n++] = c;
    heap_up(m, c->heap_idx);
}

/* ---- connections --------------------------------------------------------------------------- */

static int generating(enum mock_state st)
{
    return st == ST_STREAM || st == ST_WHOLE;
}

void mock_set_state(struct mc_mock *m, mock_conn *c, enum mock_state st)
{
    m->active += generating(st) - generating(c->state);
    m->streaming += (st == ST_STREAM) - (c->state == ST_STREAM);
    c->state = st;
    if (m->active > atomic_load_explicit(&m->st_peak_active, memory_order_relaxed))
        atomic_store_explicit(&m->st_peak_active, m->active, memory_order_relaxed);
}

void mock_close(struct mc_mock *m, mock_conn *c, int rst)
{
    mock_set_state(m, c, ST_READ);
    heap_remove(m, c);
    if (rst) {
        struct linger lg = {1, 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        m->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    mc_buf_deinit(&c->in);
    mc_buf_deinit(&c->out);
    mock_job_clear(&c->j);
    mc_free(c);
    m->nconns--;
}

static void set_out_interest(struct mc_mock *m, mock_conn *c, int on)
{
    if (c->want_out == on)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0u), .data.ptr = c};
    epoll_ctl(m->epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = on;
}

/* Writes pending output (3 bytes per 20 us when trickling). */
int mock_flush(struct mc_mock *m, mock_conn *c)
{
    while (c->out_off < c->out.len) {
        size_t n = c->out.len - c->out_off;
        if (c->j.trickle && n > 3)
            n = 3;
        ssize_t w = send(c->fd, c->out.data + c->out_off, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_out_interest(m, c, 1);
            return 0;
        }
        if (w < 0)
            return -1;
        c->out_off += (size_t)w;
        if (c->j.trickle && c->out_off < c->out.len) {
            mock_due(m, c, mc_now_ns() + 20000);
            return 0;
        }
    }
    mc_buf_reset(&c->out);
    c->out_off = 0;
    set_out_interest(m, c, 0);
    return 0;
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
    }
}

int mock_respond_hdr(mock_conn *c, int status, const char *ctype, const char *extra_headers,
                     const char *body, size_t len)
{
    if (mc_buf_printf(&c->out,
                      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s\r\n",
                      status, reason(status), ctype, len, extra_headers,
                      c->close_after ? "Connection: close\r\n" : ""))
        return -1;
    return mc_buf_append(&c->out, body, len) ? -1 : 0;
}

int mock_respond(mock_conn *c, int status, const char *ctype, const char *body, size_t len)
{
    return mock_respond_hdr(c, status, ctype, "", body, len);
}

/* ---- HTTP requests ------------------------------------------------------------------------- */

typedef struct mock_req {
    char method[8];
    char path[128];
    const char *body;
    size_t body_len, total;
    int close;
} mock_req;

static int header_is(const char *l, size_t n, const char *name, const char **v, size_t *vn)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(l, name, k) != 0 || l[k] != ':')
        return 0;
    *v = l + k + 1;
    *vn = n - k - 1;
    while (*vn && (**v == ' ' || **v == '\t')) {
        (*v)++;
        (*vn)--;
    }
    return 1;
}

/* Header lines after the request line: Content-Length, Connection, Transfer-Encoding. */
static int parse_headers(const char *p, const char *end, mock_req *r, uint64_t *clen)
{
    while (p < end) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        size_t n = eol ? (size_t)(eol - p) : (size_t)(end - p);
        const char *v;
        size_t vn;
        char num[24];
        if (header_is(p, n, "content-length", &v, &vn)) {
            if (vn == 0 || vn >= sizeof num)
                return -1;
            memcpy(num, v, vn);
            num[vn] = 0;
            if (mc_parse_u64(num, clen) != MC_OK)
                return -1;
        } else if (header_is(p, n, "connection", &v, &vn)) {
            r->close = vn >= 5 && strncasecmp(v, "close", 5) == 0;
        } else if (header_is(p, n, "transfer-encoding", &v, &vn)) {
            return -2;
        }
        p += n + 2;
    }
    return 0;
}

/* 1: a whole request; 0: need more; -1: bad request; -2: unsupported body encoding. */
static int parse_request(mock_conn *c, mock_req *r)
{
    const char *buf = c->in.data;
    const char *end = c->in.len ? memmem(buf, c->in.len, "\r\n\r\n", 4) : NULL;
    if (!end)
        return c->in.len > MOCK_MAX_HEADER ? -1 : 0;
    memset(r, 0, sizeof *r);
    const char *eol = memmem(buf, (size_t)(end - buf) + 2, "\r\n", 2);
    const char *sp1 = memchr(buf, ' ', (size_t)(eol - buf));
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
    if (!sp2 || (size_t)(sp1 - buf) >= sizeof r->method ||
        (size_t)(sp2 - sp1 - 1) >= sizeof r->path)
        return -1;
    memcpy(r->method, buf, (size_t)(sp1 - buf));
    memcpy(r->path, sp1 + 1, (size_t)(sp2 - sp1 - 1));
    r->close = (size_t)(eol - sp2 - 1) == 8 && memcmp(sp2 + 1, "HTTP/1.0", 8) == 0;
    uint64_t clen = 0;
    int rc = parse_headers(eol + 2, end + 2, r, &clen);
    if (rc)
        return rc;
    if (clen > MOCK_MAX_BODY)
        return -1;
    size_t head = (size_t)(end + 4 - buf);
    if (c->in.len < head + clen)
        return 0;
    r->body = buf + head;
    r->body_len = (size_t)clen;
    r->total = head + (size_t)clen;
    return 1;
}

static const char models_json[] =
    "{\"object\":\"list\",\"data\":[{\"id\":\"mock-model\",\"object\":\"model\","
    "\"owned_by\":\"moecap-mock\",\"max_model_len\":32768}]}";

/* Returns -1 when the request's handling closed the connection. */
static int route(struct mc_mock *m, mock_conn *c, const mock_req *r)
{
    int post = strcmp(r->method, "POST") == 0, get = strcmp(r->method, "GET") == 0;
    static const char nf[] = "{\"error\":{\"message\":\"no such route\",\"code\":404}}";
    if (post && strcmp(r->path, "/v1/completions") == 0)
        return mock_generate(m, c, 0, r->body, r->body_len);
    if (post && strcmp(r->path, "/v1/chat/completions") == 0)
        return mock_generate(m, c, 1, r->body, r->body_len);
    if (post && strcmp(r->path, "/tokenize") == 0 && !m->o.no_tokenize)
        return mock_tokenize(m, c, r->body, r->body_len);
    if ((post || get) && mock_side_route(m, c, post, r->path))
        return 0;
    if (get && strcmp(r->path, "/v1/models") == 0)
        mock_respond(c, 200, "application/json", models_json, sizeof models_json - 1);
    else if (get && strcmp(r->path, "/health") == 0)
        mock_respond(c, 200, "application/json", "{}", 2);
    else
        mock_respond(c, 404, "application/json", nf, sizeof nf - 1);
    return 0;
}

/* Answers every complete request in the input buffer, one at a time. */
static int serve_requests(struct mc_mock *m, mock_conn *c)
{
    while (c->state == ST_READ) {
        mock_req r;
        int rc = parse_request(c, &r);
        if (rc == 0)
            break;
        if (rc < 0) {
            c->close_after = 1;
            static const char bad[] = "{\"error\":{\"message\":\"bad request\",\"code\":400}}";
            mock_respond(c, rc == -2 ? 411 : 400, "application/json", bad, sizeof bad - 1);
            mock_flush(m, c);
            return -1;
        }
        atomic_fetch_add_explicit(&m->st_requests, 1, memory_order_relaxed);
        c->close_after = r.close;
        if (route(m, c, &r) < 0)
            return -2; /* closed inside route */
        memmove(c->in.data, c->in.data + r.total, c->in.len - r.total);
        c->in.len -= r.total;
        c->in.data[c->in.len] = 0;
        if (mock_flush(m, c) < 0)
            return -1;
        if (c->state == ST_READ && c->close_after && c->out.len == 0)
            return -1;
    }
    return 0;
}

static void on_readable(struct mc_mock *m, mock_conn *c)
{
    char tmp[65536];
    for (;;) {
        ssize_t n = recv(c->fd, tmp, sizeof tmp, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0 || mc_buf_append(&c->in, tmp, (size_t)n) != MC_OK) {
            mock_close(m, c, 0);
            return;
        }
    }
    int rc = serve_requests(m, c);
    if (rc == -1)
        mock_close(m, c, 0);
}

static void on_accept(struct mc_mock *m)
{
    for (;;) {
        int fd = accept4(m->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        mock_conn *c = m->nconns < m->o.max_conns ? mc_calloc(1, sizeof *c) : NULL;
        if (!c) {
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->fd = fd;
        c->heap_idx = SIZE_MAX;
        mc_buf_init(&c->in, MOCK_MAX_HEADER + MOCK_MAX_BODY);
        mc_buf_init(&c->out, 256u << 20);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            mc_free(c);
            continue;
        }
        m->nconns++;
        c->next = m->conns;
        if (m->conns)
            m->conns->prev = c;
        m->conns = c;
        atomic_fetch_add_explicit(&m->st_conns, 1, memory_order_relaxed);
    }
}

/* ---- the loop ------------------------------------------------------------------------------ */

static void run_due(struct mc_mock *m)
{
    mc_ns now = mc_now_ns();
    while (m->heap_n > 0 && m->heap[0]->due <= now) {
        mock_conn *c = m->heap[0];
        heap_remove(m, c);
        if (mock_continue(m, c, now) == 0 && c->state == ST_READ && serve_requests(m, c) == -1)
            mock_close(m, c, 0);
    }
}

static void arm(struct mc_mock *m)
{
    mc_ns at = m->heap_n ? m->heap[0]->due : 0;
    if (at == m->armed)
        return;
    struct itimerspec its = {0};
    its.it_value.tv_sec = (time_t)(at / 1000000000u);
    its.it_value.tv_nsec = (long)(at % 1000000000u);
    timerfd_settime(m->tfd, TFD_TIMER_ABSTIME, &its, NULL);
    m->armed = at;
}

static void on_io(struct mc_mock *m, mock_conn *c, uint32_t events)
{
    if (events & EPOLLOUT) {
        if (mock_flush(m, c) < 0) {
            mock_close(m, c, 0);
            return;
        }
        if (c->out.len == 0 && c->state == ST_READ && c->close_after) {
            mock_close(m, c, 0);
            return;
        }
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        on_readable(m, c); /* may close c */
}

static void *loop(void *arg)
{
    struct mc_mock *m = arg;
    struct epoll_event ev[512];
    for (;;) {
        run_due(m);
        arm(m);
        int n = epoll_wait(m->epfd, ev, 512, -1);
        for (int i = 0; i < n; i++) {
            void *p = ev[i].data.ptr;
            if (p == &m->efd)
                return NULL;
            if (p == &m->lfd) {
                on_accept(m);
            } else if (p == &m->tfd) {
                uint64_t x;
                if (read(m->tfd, &x, sizeof x) < 0) { /* raced with re-arming */
                }
                m->armed = 0;
            } else {
                on_io(m, p, ev[i].events);
            }
        }
    }
}

/* ---- start / stop -------------------------------------------------------------------------- */

static mc_err mock_listen(struct mc_mock *m, mc_diag *d)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    m->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (m->lfd < 0 || bind(m->lfd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(m->lfd, 4096) != 0 || getsockname(m->lfd, (struct sockaddr *)&a, &al) != 0)
        return mc_fail(d, MC_ERR_IO, "mock: cannot listen on 127.0.0.1: %s", strerror(errno));
    m->port = ntohs(a.sin_port);
    snprintf(m->url, sizeof m->url, "http://127.0.0.1:%u", (unsigned)m->port);
    return MC_OK;
}

static mc_err mock_fds(struct mc_mock *m, mc_diag *d)
{
    m->epfd = epoll_create1(EPOLL_CLOEXEC);
    m->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    m->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (m->epfd < 0 || m->tfd < 0 || m->efd < 0)
        return mc_fail(d, MC_ERR_IO, "mock: cannot create the event loop: %s", strerror(errno));
    int fds[3] = {m->lfd, m->tfd, m->efd};
    void *tags[3] = {&m->lfd, &m->tfd, &m->efd};
    for (int i = 0; i < 3; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = tags[i]};
        if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, fds[i], &ev) != 0)
            return mc_fail(d, MC_ERR_IO, "mock: epoll_ctl: %s", strerror(errno));
    }
    return MC_OK;
}

/* Room for max_conns descriptors: raise the soft limit and grow the fd table up front (growing
 * it while other threads run costs an RCU grace period, a ~20 ms stall that would show up in the
 * latencies the tests check). */
static void reserve_fds(const struct mc_mock *m)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t)m->o.max_conns + 64;
    if (rl.rlim_cur < want && (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want)) {
        rl.rlim_cur = want;
        setrlimit(RLIMIT_NOFILE, &rl);
    } else if (rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    rlim_t top = rl.rlim_cur < want ? rl.rlim_cur : want;
    int fd = fcntl(m->epfd, F_DUPFD_CLOEXEC, (int)top - 1);
    if (fd >= 0)
        close(fd);
}

mc_err mc_mock_start(const mc_mock_opts *o, mc_mock **out, mc_diag *d)
{
    *out = NULL;
    mock_box *b = mc_calloc(1, sizeof *b);
    if (!b)
        return mc_fail(d, MC_ERR_NOMEM, "mock: out of memory");
    struct mc_mock *m = &b->m;
    m->o = *o;
    if (!m->o.tokens)
        m->o.tokens = 16;
    if (!m->o.tokens_per_chunk)
        m->o.tokens_per_chunk = 1;
    if (!m->o.max_conns)
        m->o.max_conns = 8192;
    if (!m->o.rec_experts)
        m->o.rec_experts = 8;
    if (!m->o.rec_top_k)
        m->o.rec_top_k = 2;
    if (!m->o.rec_max_bytes)
        m->o.rec_max_bytes = (size_t)64 << 20;
    mc_buf_init(&m->rec, m->o.rec_max_bytes);
    m->lfd = m->epfd = m->tfd = m->efd = -1;
    mc_err e = mock_listen(m, d);
    if (!e)
        e = mock_fds(m, d);
    if (!e)
        reserve_fds(m);
    if (!e && pthread_create(&b->th, NULL, loop, m) != 0)
        e = mc_fail(d, MC_ERR_INTERNAL, "mock: cannot start its thread");
    if (e) {
        mc_mock_stop(m);
        return e;
    }
    m->started = 1;
    *out = m;
    return MC_OK;
}

uint16_t mc_mock_port(const mc_mock *m)
{
    return m->port;
}
const char *mc_mock_url(const mc_mock *m)
{
    return m->url;
}

void mc_mock_stats_get(const mc_mock *m, mc_mock_stats *s)
{
    s->conns_accepted = atomic_load(&m->st_conns);
    s->requests = atomic_load(&m->st_requests);
    s->generations = atomic_load(&m->st_generations);
    s->tokens = atomic_load(&m->st_tokens);
    s->faults = atomic_load(&m->st_faults);
    s->tokenize = atomic_load(&m->st_tokenize);
    s->peak_active = atomic_load(&m->st_peak_active);
    s->records = atomic_load(&m->st_records);
    s->completed = atomic_load(&m->st_completed);
}

/* Closes every connection still open (the loop has stopped). */
static void close_all(struct mc_mock *m)
{
    while (m->conns)
        mock_close(m, m->conns, 0);
}

void mc_mock_stop(mc_mock *m)
{
    if (!m)
        return;
    mock_box *b = (mock_box *)m;
    if (m->started) {
        uint64_t one = 1;
        if (write(m->efd, &one, sizeof one) < 0) { /* cannot fail on a fresh eventfd */
        }
        pthread_join(b->th, NULL);
        close_all(m);
    }
    int fds[4] = {m->lfd, m->epfd, m->tfd, m->efd};
    for (int i = 0; i < 4; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    mc_free(m->heap);
    mock_rec_deinit(m);
    mc_free(b);
}
