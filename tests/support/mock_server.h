/* mock_server.h: a mock OpenAI-compatible server for the load generator's tests and benchmarks.
 *
 * Why raw sockets and not libmicrohttpd: this server must misbehave on purpose (reset before
 * headers, reset or close mid-stream, stall, never answer, send invalid or oversize events) at
 * exact times, and it must be fast enough that the client, not the mock, is what a benchmark
 * measures. A small epoll loop over non-blocking sockets gives that control; it implements only
 * the HTTP/1.1 subset the client uses (Content-Length bodies, keep-alive, chunked responses).
 *
 * It listens on 127.0.0.1 port 0 and runs its loop in its own thread. Routes:
 *   POST /v1/completions, /v1/chat/completions   streamed (SSE) or whole JSON
 *   POST /tokenize    {"content": s} -> {"tokens": [...]}; {"prompt": s} -> {"count", "tokens"}
 *   GET  /v1/models   {"data": [{"id": "mock-model"}]};   GET /health
 * and, when the options ask for them (else 404, as on a server without them):
 *   POST /moecap/record/start, /moecap/record/stop   -> {"status", "recording", "total_records"}
 *   GET  /moecap/records  JSON Lines, one per-pass record per line; headers X-Moecap-Records,
 *                         X-Moecap-Dropped (the moecap recording protocol, docs/LOADGEN.md)
 *   POST /start_batch_recording, /stop_batch_recording, /dump_batch_recording (vLLM-style
 *        aliases of the MoE-CAP reference; the dump is {"status", "records": [...],
 *        "total_records"})
 *   GET  /metrics     Prometheus text: counters of requests, generations, prompt and generated
 *                     tokens, a gauge of active streams, a TTFT histogram
 * Recorded passes are synthetic but consistent with what the mock served: while recording, every
 * token event of a streamed response adds one record: the first event of a response a "prefill"
 * record (batch_size 1, new_tokens = prompt tokens, latency = its TTFT), every later one a
 * "decode" record with batch_size B = responses streaming at that moment, new_tokens = B x the
 * event's tokens, seq_lens_sum = B x (prompt + tokens so far), latency = its ITL, and
 * expert_activation = min(rec_experts, rec_top_k x new_tokens). (There is no global step: each
 * stream's event is its own record.) Non-streamed responses add no records.
 * Token i of a response has the text " w<i mod 10>"; with marker utf8=1 the texts cycle through
 * "é", "€", "😀", "a". The mock tokenizer counts a whitespace-separated word of L bytes as
 * 1 + (L - 1) / 6 tokens. max_tokens in the request sets the response length.
 * Timing: the first token event is due ttft after the request was received, event k (0-based)
 * at ttft + k * itl; times are absolute (no drift) and kept with a timerfd (ns resolution).
 *
 * Per-request overrides and faults: a marker anywhere in the request body,
 *   [[mock:key=value,key=value]]   keys: ttft, itl (ms), tokens, chunk (tokens per event),
 *   after (tokens before a mid-stream fault, default 2), size (bytes of huge_event),
 *   utf8=1, trickle=1 (write the response 3 bytes at a time, 20 us apart), fault=NAME with NAME:
 *   http429, http500, http503          status with a JSON error body
 *   http429_empty, http500_empty, http503_empty   status with an empty body
 *   reset_headers   RST before any response byte        close_mid   FIN inside the stream
 *   reset_mid       RST after `after` tokens            bad_json    an invalid JSON event
 *   huge_event      an event of `size` bytes (default 2 MiB)
 *   no_done         no finish_reason, no [DONE]          no_done_finish   finish_reason, no [DONE]
 *   stall           stop after `after` tokens, keep the connection open
 *   never_answer    read the request, never respond       wrong_ctype  200 text/plain
 *   error_event     "event: error" after `after` tokens   error_obj   {"error": ...} chunk
 *   html            200 text/html with a web page (streamed and whole requests alike)
 *   eof_no_done     a stream without chunked coding that ends by closing the connection, with
 *                   no finish_reason and no [DONE]
 *   eof_finish      the same with finish_reason and usage on its last events, no [DONE]
 * Thread safety: start/stop from one thread; stats may be read from any thread. */
#ifndef MC_MOCK_SERVER_H
#define MC_MOCK_SERVER_H

#include "base.h"

/* Scripted mode (tests that score answers): when mc_mock_opts.script is set it is called on the
 * mock's thread for every completion request, with the raw request body, and fills a reply:
 *   status  0 or 200: answer; any other: that status with a JSON error body
 *   raw     heap (mc_malloc) JSON body sent as is with status 200 (e.g. echo + logprobs)
 *   text    heap generated text, sent as tokens of up to 4 bytes (never splitting a UTF-8
 *           character), streamed at the configured times or whole, JSON-escaped
 * The mock frees raw and text. Faults and timing markers still apply to text replies. */
typedef struct mc_mock_reply {
    int status;
    char *raw;
    char *text;
} mc_mock_reply;

typedef void (*mc_mock_script_fn)(const char *body, size_t len, mc_mock_reply *reply, void *ctx);

typedef struct mc_mock_opts {
    double ttft_ms;            /* request received -> first token event */
    double itl_ms;             /* between token events */
    uint32_t tokens;           /* when the request has no max_tokens; 0 = 16 */
    uint32_t tokens_per_chunk; /* 0 = 1 */
    uint32_t max_conns;        /* 0 = 8192 */
    int recording;             /* MC_MOCK_REC_*: which recording endpoints exist */
    int metrics;               /* serve GET /metrics */
    int no_tokenize;           /* /tokenize answers 404 (a server without one) */
    uint32_t rec_experts;      /* routed experts behind expert_activation; 0 = 8 */
    uint32_t rec_top_k;        /* 0 = 2 */
    size_t rec_max_bytes;      /* bytes of records kept while recording (records beyond it
                                  are dropped and counted); 0 = 64 MiB */
    mc_mock_script_fn script;  /* NULL: the usual " w<i>" tokens */
    void *script_ctx;
} mc_mock_opts;

enum {
    MC_MOCK_REC_NONE = 0, /* no recording endpoints */
    MC_MOCK_REC_MOECAP,   /* /moecap/record/... and the vLLM-style aliases */
    MC_MOCK_REC_VLLM      /* the vLLM-style aliases only */
};

typedef struct mc_mock mc_mock;

typedef struct mc_mock_stats {
    uint64_t conns_accepted;
    uint64_t requests;    /* complete HTTP requests parsed */
    uint64_t generations; /* completion requests answered (streamed or not) */
    uint64_t tokens;      /* token events' tokens sent */
    uint64_t faults;      /* faults injected */
    uint64_t tokenize;    /* /tokenize requests */
    uint64_t peak_active; /* most responses being generated at the same time */
    uint64_t records;     /* per-pass records made while recording (since the last start) */
    uint64_t completed;   /* completion responses generated in full (the last byte queued for
                             sending; faults that cut a response short are not counted) */
} mc_mock_stats;

mc_err mc_mock_start(const mc_mock_opts *o, mc_mock **out, mc_diag *d);
uint16_t mc_mock_port(const mc_mock *m);
/* "http://127.0.0.1:<port>" (static inside m). */
const char *mc_mock_url(const mc_mock *m);
void mc_mock_stats_get(const mc_mock *m, mc_mock_stats *out);
/* Stops the loop thread and closes every connection. NULL is a no-op. */
void mc_mock_stop(mc_mock *m);

#endif
