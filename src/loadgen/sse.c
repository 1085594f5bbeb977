/* sse.c: incremental Server-Sent Events parser (text/event-stream), (state, bytes) -> one event |
 * need more | error. Only complete lines are interpreted, so input may be split at any byte.
 * Memory is bounded by max_event_bytes. Depends only on base; knows nothing about JSON or HTTP. */
#include "loadgen.h"

#include <string.h>

struct mc_sse {
    size_t max;      /* cap on data of one event plus the line being read */
    mc_buf line;     /* a line split across feeds */
    mc_buf data;     /* data lines of the event being assembled, each followed by '\n' */
    int error_event; /* "event: error" seen in the current event */
    int pending_cr;  /* the last feed ended in CR: a leading LF of the next feed belongs to it */
    int at_start;    /* no line processed yet (a UTF-8 BOM may precede the first line) */
    int dispatched;  /* data holds the event returned last time: clear before going on */
    int failed;
};

mc_sse *mc_sse_new(size_t max_event_bytes)
{
    mc_sse *p = mc_calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->max = max_event_bytes ? max_event_bytes : (size_t)1 << 20;
    mc_buf_init(&p->line, p->max + 1);
    mc_buf_init(&p->data, p->max + 1);
    mc_sse_reset(p);
    return p;
}

void mc_sse_free(mc_sse *p)
{
    if (!p)
        return;
    mc_buf_deinit(&p->line);
    mc_buf_deinit(&p->data);
    mc_free(p);
}

void mc_sse_reset(mc_sse *p)
{
    mc_buf_reset(&p->line);
    mc_buf_reset(&p->data);
    p->error_event = 0;
    p->pending_cr = 0;
    p->at_start = 1;
    p->dispatched = 0;
    p->failed = 0;
}

size_t mc_sse_pending(const mc_sse *p)
{
    return p->line.len + (p->dispatched ? 0 : p->data.len);
}

size_t mc_sse_mem_bytes(const mc_sse *p)
{
    return sizeof *p + p->line.cap + p->data.cap;
}

static mc_sse_status sse_fail(mc_sse *p, mc_diag *d, size_t need)
{
    p->failed = 1;
    mc_fail(d, MC_ERR_RANGE, "sse: event larger than the %zu-byte limit (at least %zu bytes)",
            p->max, need);
    return MC_SSE_FAIL;
}

/* Appends to one of the parser's buffers; the caller has checked the event cap. */
static mc_sse_status sse_append(mc_sse *p, mc_buf *b, const char *s, size_t n, mc_diag *d)
{
    mc_err e = mc_buf_append(b, s, n);
    if (e == MC_OK)
        return MC_SSE_NEED_MORE;
    if (e == MC_ERR_RANGE)
        return sse_fail(p, d, b->len + n);
    p->failed = 1;
    mc_fail(d, MC_ERR_NOMEM, "sse: out of memory buffering %zu bytes", b->len + n);
    return MC_SSE_FAIL;
}

static int is_field(const char *f, size_t n, const char *name)
{
    return strlen(name) == n && memcmp(f, name, n) == 0;
}

/* Turns the assembled data into an event (data is non-empty). */
static void sse_dispatch(mc_sse *p, mc_sse_event *ev)
{
    p->data.len--; /* drop the '\n' that follows every data line */
    p->data.data[p->data.len] = 0;
    size_t n = p->data.len;
    while (n > 0 && (p->data.data[n - 1] == ' ' || p->data.data[n - 1] == '\t'))
        n--;
    ev->kind = MC_SSE_MESSAGE;
    if (p->error_event)
        ev->kind = MC_SSE_ERROR_EVENT;
    else if (n == 6 && memcmp(p->data.data, "[DONE]", 6) == 0)
        ev->kind = MC_SSE_DONE;
    ev->data = p->data.data;
    ev->data_len = p->data.len;
    p->dispatched = 1;
    p->error_event = 0;
}

/* Interprets one complete line (terminator removed). */
static mc_sse_status sse_line(mc_sse *p, const char *l, size_t n, mc_sse_event *ev, mc_diag *d)
{
    if (p->data.len + n + 1 > p->max)
        return sse_fail(p, d, p->data.len + n + 1);
    if (p->at_start && n >= 3 && memcmp(l, "\xEF\xBB\xBF", 3) == 0) {
        l += 3;
        n -= 3;
    }
    p->at_start = 0;
    if (n == 0) {
        if (p->data.len == 0) {
            p->error_event = 0; /* an event without data is discarded (WHATWG) */
            return MC_SSE_NEED_MORE;
        }
        sse_dispatch(p, ev);
        return MC_SSE_EVENT;
    }
    const char *colon = memchr(l, ':', n);
    if (colon == l)
        return MC_SSE_NEED_MORE; /* comment / keep-alive */
    size_t flen = colon ? (size_t)(colon - l) : n;
    const char *v = colon ? colon + 1 : l + n;
    size_t vlen = (size_t)(l + n - v);
    if (vlen > 0 && *v == ' ') {
        v++;
        vlen--;
    }
    if (is_field(l, flen, "data")) {
        if (sse_append(p, &p->data, v, vlen, d) || sse_append(p, &p->data, "\n", 1, d))
            return MC_SSE_FAIL;
    } else if (is_field(l, flen, "event")) {
        p->error_event = vlen == 5 && memcmp(v, "error", 5) == 0;
    } /* "id", "retry" and unknown fields are ignored */
    return MC_SSE_NEED_MORE;
}

/* Index of the first CR or LF in in[0..len), or len. */
static size_t find_eol(const char *in, size_t len)
{
    const char *lf = memchr(in, '\n', len);
    size_t end = lf ? (size_t)(lf - in) : len;
    const char *cr = memchr(in, '\r', end);
    return cr ? (size_t)(cr - in) : end;
}

mc_sse_status mc_sse_feed(mc_sse *p, const char *in, size_t len, size_t *consumed, mc_sse_event *ev,
                          mc_diag *d)
{
    size_t i = 0;
    *consumed = 0;
    if (p->failed) {
        mc_fail(d, MC_ERR_RANGE, "sse: parser failed earlier");
        return MC_SSE_FAIL;
    }
    if (p->dispatched) {
        mc_buf_reset(&p->data);
        p->dispatched = 0;
    }
    if (p->pending_cr && len > 0) {
        p->pending_cr = 0;
        i = in[0] == '\n';
    }
    while (i < len) {
        size_t j = i + find_eol(in + i, len - i);
        if (j == len) { /* partial line: keep it */
            if (p->data.len + p->line.len + (len - i) + 1 > p->max)
                return sse_fail(p, d, p->data.len + p->line.len + (len - i) + 1);
            if (sse_append(p, &p->line, in + i, len - i, d))
                return MC_SSE_FAIL;
            break;
        }
        const char *l = in + i;
        size_t n = j - i;
        if (p->line.len > 0) {
            if (p->data.len + p->line.len + n + 1 > p->max)
                return sse_fail(p, d, p->data.len + p->line.len + n + 1);
            if (sse_append(p, &p->line, in + i, n, d))
                return MC_SSE_FAIL;
            l = p->line.data;
            n = p->line.len;
        }
        if (in[j] == '\r' && j + 1 < len && in[j + 1] == '\n')
            j++;
        else if (in[j] == '\r' && j + 1 == len)
            p->pending_cr = 1;
        i = j + 1;
        mc_sse_status st = sse_line(p, l, n, ev, d);
        mc_buf_reset(&p->line);
        if (st != MC_SSE_NEED_MORE) {
            *consumed = i;
            return st;
        }
    }
    *consumed = len;
    return MC_SSE_NEED_MORE;
}
