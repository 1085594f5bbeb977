/* fuzz_sse.c: the SSE parser and the chunk interpreter on arbitrary bytes. The first byte picks
 * the event cap; the stream is parsed whole and again cut at input-derived points, and both runs
 * must give the same events and the same failure (a differential oracle for the incremental
 * parser). Every message event also goes through mc_chunk_parse. Never a crash, hang or leak.
 * Seeds: tests/fuzz/corpus/sse/. */
#include "loadgen.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parses in[0..n) cut every `stride` bytes (0 = whole); events are logged into log. */
static int parse(const char *in, size_t n, size_t cap, size_t stride, mc_buf *log)
{
    mc_sse *p = mc_sse_new(cap);
    if (!p)
        abort();
    size_t pos = 0;
    int failed = 0;
    while (pos < n && !failed) {
        size_t len = stride ? (n - pos < stride ? n - pos : stride) : n - pos;
        const char *s = in + pos;
        pos += len;
        for (;;) {
            size_t used = 0;
            mc_sse_event ev;
            mc_diag d = {{0}};
            mc_sse_status st = mc_sse_feed(p, s, len, &used, &ev, &d);
            if (used > len || (st == MC_SSE_FAIL && (!d.msg[0] || strchr(d.msg, '\n'))))
                abort();
            if (st == MC_SSE_FAIL) {
                failed = 1;
                break;
            }
            s += used;
            len -= used;
            if (st == MC_SSE_NEED_MORE)
                break;
            if (ev.data_len > cap || ev.data[ev.data_len] != 0)
                abort();
            mc_buf_printf(log, "%d:%zu:", (int)ev.kind, ev.data_len);
            mc_buf_append(log, ev.data, ev.data_len);
            mc_chunk ch;
            if (ev.kind == MC_SSE_MESSAGE && mc_chunk_parse(ev.data, ev.data_len, &ch, NULL) == 0)
                mc_chunk_deinit(&ch);
        }
    }
    mc_buf_printf(log, "|%d|%zu", failed, failed ? 0 : mc_sse_pending(p));
    mc_sse_free(p);
    return failed;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t cap = 8 + (size_t)data[0] * 8, stride = 1 + data[1] % 7;
    const char *in = (const char *)data + 2;
    mc_buf a, b;
    mc_buf_init(&a, 0);
    mc_buf_init(&b, 0);
    parse(in, size - 2, cap, 0, &a);
    parse(in, size - 2, cap, stride, &b);
    if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
        abort(); /* where the input is cut must not matter */
    mc_buf_deinit(&a);
    mc_buf_deinit(&b);
    return 0;
}
