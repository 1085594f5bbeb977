/* loadgen: the load generator of `moecap bench` for OpenAI-compatible servers.
 *
 * Parts (one file per concern): the incremental SSE parser (sse.c) and the stream-chunk
 * interpreter (chunk.c); the HTTP client, libcurl multi on one epoll loop per client
 * (client.c, client_result.c); arrival schedules (schedule.c); the load models that drive a client
 * (run.c); workloads, i.e. prompts and request bodies (workload.c, dataset.c, synth.c); probing a
 * server for its model id and token counts (probe.c); blocking calls to side endpoints such as
 * recording control and /metrics (http.c) and the Prometheus text format (prom.c).
 *
 * loadgen never includes src/cap: it emits plain per-request records (mc_lg_result) with raw
 * monotonic timestamps; statistics are the caller's business. Nothing here prints.
 * Thread safety: objects are not shared between threads; distinct clients (each with its own
 * loop) may run on distinct threads at the same time. There is no global state except libcurl's
 * one-time global init, done under pthread_once. */
#ifndef MC_LOADGEN_H
#define MC_LOADGEN_H

#include "base.h"

#include <signal.h>

/* ==== SSE parser ============================================================================
 * Incremental parser for text/event-stream (WHATWG rules): lines end in CRLF, LF or CR (also
 * split across feeds); "field:value" with one optional space after the colon; lines starting
 * with ':' are comments; "data" lines of one event are joined with '\n'; a blank line
 * dispatches the event; a leading UTF-8 BOM is skipped. Bytes are buffered until a line is
 * complete, so events and UTF-8 sequences may be split at any byte.
 * Memory is bounded: an event (its data plus the line being read) larger than max_event_bytes
 * is an error; the parser then stays failed until mc_sse_reset. */
typedef struct mc_sse mc_sse;

typedef enum mc_sse_kind {
    MC_SSE_MESSAGE = 0, /* an ordinary data event */
    MC_SSE_DONE,        /* data was exactly "[DONE]" (OpenAI end-of-stream marker) */
    MC_SSE_ERROR_EVENT  /* "event: error": the server reports a failure; data is its payload */
} mc_sse_kind;

typedef struct mc_sse_event {
    mc_sse_kind kind;
    const char *data; /* NUL-terminated; owned by the parser, valid until the next feed/reset */
    size_t data_len;
} mc_sse_event;

typedef enum mc_sse_status {
    MC_SSE_NEED_MORE = 0, /* all input consumed, no complete event */
    MC_SSE_EVENT = 1,     /* *ev holds an event; input[0 .. *consumed) was consumed */
    MC_SSE_FAIL = -1      /* oversize event (message in d); sticky until mc_sse_reset */
} mc_sse_status;

/* max_event_bytes 0 = 1 MiB. Returns NULL when out of memory. */
mc_sse *mc_sse_new(size_t max_event_bytes);
void mc_sse_free(mc_sse *p);
void mc_sse_reset(mc_sse *p); /* ready for a new stream; keeps its buffers */
/* Feeds input; returns at most one event per call. Call again with the unconsumed rest. */
mc_sse_status mc_sse_feed(mc_sse *p, const char *in, size_t len, size_t *consumed, mc_sse_event *ev,
                          mc_diag *d);
/* Bytes of an unfinished line or event (0 when the stream stopped at an event boundary). */
size_t mc_sse_pending(const mc_sse *p);
/* Heap bytes the parser holds (its buffers at their allocated size, which they keep across
 * resets): below 4 x (max_event_bytes + 1) + 256 whatever the input. */
size_t mc_sse_mem_bytes(const mc_sse *p);

/* ==== stream chunk / response interpreter ===================================================
 * One OpenAI completions or chat-completions JSON object: a streamed chunk or a whole
 * non-streamed response. Text comes from choices[0].text, choices[0].delta.content or
 * choices[0].message.content; reasoning from .reasoning_content or .reasoning of delta/message.
 * A chunk is token-bearing when text or reasoning is non-empty (docs/LOADGEN.md says why
 * reasoning counts). An "error" member (object or string) makes it an error chunk. */
typedef struct mc_chunk {
    const char *text; /* "" when absent; pointers valid until mc_chunk_deinit */
    size_t text_len;
    const char *reasoning;
    size_t reasoning_len;
    const char *finish_reason; /* NULL when absent or null */
    int has_choices;           /* a non-empty choices array */
    int has_usage;
    int64_t prompt_tokens;     /* from usage; -1 when absent */
    int64_t completion_tokens; /* from usage; -1 when absent */
    const char *error;         /* error message when the object is an error, else NULL */
    void *json_;               /* private */
} mc_chunk;

/* MC_ERR_FORMAT (message in d) when data is not a JSON object. On success call
 * mc_chunk_deinit. */
mc_err mc_chunk_parse(const char *data, size_t len, mc_chunk *out, mc_diag *d);
void mc_chunk_deinit(mc_chunk *c);

/* ==== per-request result ================================================================== */
typedef enum mc_lg_fail {
    MC_LG_OK = 0,
    MC_LG_FAIL_CONNECT,      /* could not connect or resolve */
    MC_LG_FAIL_HTTP_STATUS,  /* HTTP status other than 200 */
    MC_LG_FAIL_TIMEOUT,      /* request exceeded the timeout */
    MC_LG_FAIL_MALFORMED,    /* bad SSE/JSON, oversize event or body, wrong content type */
    MC_LG_FAIL_TRUNCATED,    /* connection ended before a complete response */
    MC_LG_FAIL_STREAM_ERROR, /* the server reported an error inside a 200 response */
    MC_LG_FAIL_CANCELLED,    /* cancelled by the caller (e.g. Ctrl-C) */
    MC_LG_FAIL_OTHER,        /* any other transport error (message says which) */
    MC_LG_FAIL_COUNT_
} mc_lg_fail;

const char *mc_lg_fail_name(mc_lg_fail f); /* "ok", "connect", "http_status", ... */

#define MC_LG_MSG_MAX 200

/* Everything measured for one request. Timestamps are mc_now_ns() values, 0 = did not happen.
 * Token-bearing chunks are stamped when their bytes reach the client, before JSON parsing.
 * Pointers are owned by the client and valid only during the on_result callback. */
typedef struct mc_lg_result {
    uint64_t id;           /* caller's id (mc_lg_request.id) */
    uint64_t tag;          /* caller's tag, passed through */
    mc_ns sched_ns;        /* when the request was due (the latency anchor) */
    mc_ns send_ns;         /* when it was handed to the transport */
    mc_ns first_byte_ns;   /* first response byte (status line) */
    mc_ns first_token_ns;  /* first token-bearing chunk */
    mc_ns last_token_ns;   /* last token-bearing chunk */
    mc_ns end_ns;          /* transfer finished (after [DONE]/usage) or failed */
    const mc_ns *chunk_ns; /* stamps of the first n_chunk_ns token-bearing chunks */
    size_t n_chunk_ns;
    uint64_t n_chunks;           /* token-bearing chunks received (may exceed n_chunk_ns) */
    uint64_t n_reasoning_chunks; /* of those, chunks that carried reasoning text */
    const char *text;            /* output text (content only), at most max_text_bytes */
    size_t text_len;
    uint64_t text_bytes; /* content bytes received in total */
    uint64_t reasoning_bytes;
    int text_truncated;              /* text_len < text_bytes */
    int64_t usage_prompt_tokens;     /* -1 when the server sent no usage */
    int64_t usage_completion_tokens; /* -1 when the server sent no usage */
    const char *finish_reason;       /* "" when none was received */
    int saw_done;                    /* "[DONE]" received */
    int http_status;                 /* 0 when no response */
    int conn_reused;                 /* sent on an existing keep-alive connection */
    mc_lg_fail fail;
    const char *message; /* "" on success; else at most MC_LG_MSG_MAX bytes (an error body's
                            first bytes or a description) */
} mc_lg_result;

typedef void (*mc_lg_on_result)(const mc_lg_result *r, void *ctx);

/* ==== client ================================================================================
 * One libcurl multi handle driven by its own epoll loop; slots (easy handle, parser, buffers) are
 * allocated before the run; keep-alive connections are reused. Not thread safe: one thread per
 * client; several clients may run in parallel. */
typedef struct mc_lg_client mc_lg_client;

typedef struct mc_lg_client_opts {
    const char *url;           /* full request URL, e.g. http://127.0.0.1:8000/v1/completions */
    int stream;                /* 1: SSE stream; 0: one JSON response */
    uint32_t max_inflight;     /* slots; 0 = 256 */
    double timeout_s;          /* whole request; 0 = none */
    double connect_timeout_s;  /* 0 = 10 s */
    size_t max_event_bytes;    /* SSE event cap; 0 = 1 MiB */
    size_t max_body_bytes;     /* non-streamed response cap; 0 = 16 MiB */
    size_t max_text_bytes;     /* kept output text per request; 0 = 64 KiB */
    size_t max_chunk_stamps;   /* kept chunk stamps per request; 0 = 65536 */
    const char *api_key;       /* sent as "Authorization: Bearer ..." when non-NULL */
    mc_lg_on_result on_result; /* called from poll/cancel for every finished request */
    void *ctx;
} mc_lg_client_opts;

typedef struct mc_lg_request {
    uint64_t id;
    uint64_t tag;
    const char *body; /* JSON body; must stay valid until the request's result is emitted */
    size_t body_len;
    mc_ns sched_ns; /* 0 = now */
} mc_lg_request;

mc_err mc_lg_client_new(const mc_lg_client_opts *o, mc_lg_client **out, mc_diag *d);
void mc_lg_client_free(mc_lg_client *c); /* cancels (and reports) requests still in flight */
/* Starts a request now. MC_ERR_RANGE when every slot is busy. */
mc_err mc_lg_client_submit(mc_lg_client *c, const mc_lg_request *r, mc_diag *d);
/* One round of the loop: waits for network events until something happens, until deadline_ns
 * (0 = no deadline; a deadline in the past only processes what is ready) or until a signal
 * interrupts the wait, handles the events and emits the results of finished requests (through
 * on_result, before returning). Returns at once when nothing is in flight and there is no
 * deadline. Returns MC_OK or a fatal loop error (epoll failure). */
mc_err mc_lg_client_poll(mc_lg_client *c, mc_ns deadline_ns, mc_diag *d);
uint32_t mc_lg_client_inflight(const mc_lg_client *c);
uint32_t mc_lg_client_slots(const mc_lg_client *c);
/* Heap bytes the request slots hold now: parsers, text, body and stamp buffers at their
 * allocated size. Buffers keep their size between requests, so this is also the peak so far. It
 * is bounded by the caps in mc_lg_client_opts whatever the servers send (docs/RELIABILITY.md). */
size_t mc_lg_client_mem_bytes(const mc_lg_client *c);
/* Aborts every request in flight; each is reported with MC_LG_FAIL_CANCELLED. */
void mc_lg_client_cancel_all(mc_lg_client *c);

/* ==== arrival schedules =====================================================================
 * Absolute offsets (ns from the run's t0) of an open-loop arrival process, precomputed from a
 * seeded RNG so a run is reproducible and pacing never drifts. Intervals are gamma distributed
 * with mean 1/rate and shape = burstiness (1 = Poisson, exponential intervals; < 1 burstier,
 * > 1 more regular). A ramp-up of ramp_s seconds raises the rate linearly from 0 to rate (a
 * time change of the same process, so the count is unchanged). */
typedef struct mc_lg_sched_opts {
    double rate_per_s;
    double burstiness; /* 0 = 1 */
    double ramp_s;
    uint64_t seed;
} mc_lg_sched_opts;

/* Fills out[0..n) with non-decreasing offsets. MC_ERR_ARG for a rate or burstiness <= 0. */
mc_err mc_lg_schedule(const mc_lg_sched_opts *o, size_t n, mc_ns *out, mc_diag *d);
/* Offsets up to duration_s: *out is a heap array (mc_free) of *n entries; at most max_n. */
mc_err mc_lg_schedule_until(const mc_lg_sched_opts *o, double duration_s, size_t max_n, mc_ns **out,
                            size_t *n, mc_diag *d);
/* One gamma(shape, scale 1) variate (Marsaglia-Tsang), exposed for tests. */
double mc_lg_gamma(mc_rng *r, double shape);

/* ==== workload ==============================================================================
 * Prompts with their requested output length and request bodies built before the run. */
typedef struct mc_lg_prompt {
    char *text;
    uint32_t max_tokens;
    int64_t input_tokens; /* exact when input_exact, else chars/4 rounded up */
    int input_exact;
    char *body; /* request JSON (mc_lg_workload_build) */
    size_t body_len;
} mc_lg_prompt;

typedef struct mc_lg_workload {
    mc_lg_prompt *p;
    size_t n;
    size_t cap_;
} mc_lg_workload;

void mc_lg_workload_init(mc_lg_workload *w);
void mc_lg_workload_deinit(mc_lg_workload *w);
/* Appends a copy of text. */
mc_err mc_lg_workload_add(mc_lg_workload *w, const char *text, size_t len, uint32_t max_tokens,
                          mc_diag *d);

/* Token counter: exact count of text's prompt tokens, e.g. through a server's /tokenize. */
typedef mc_err (*mc_lg_count_fn)(void *ctx, const char *text, size_t len, int64_t *n_tokens,
                                 mc_diag *d);

typedef struct mc_lg_synth_opts {
    uint32_t n;                /* prompts */
    uint32_t in_min, in_max;   /* input tokens, drawn uniformly from [min, max] */
    uint32_t out_min, out_max; /* output tokens (max_tokens) */
    uint64_t seed;
    mc_lg_count_fn count; /* NULL: lengths are approximate (4 chars per token) */
    void *count_ctx;
} mc_lg_synth_opts;

/* Synthetic prompts built from a word list; with a counter each prompt is adjusted until the
 * counter reports exactly the target (input_exact = 1); else its length is approximated. */
mc_err mc_lg_workload_synthetic(mc_lg_workload *w, const mc_lg_synth_opts *o, mc_diag *d);

typedef enum mc_lg_dataset_fmt {
    MC_LG_DS_AUTO = 0, /* from the file: '[' = ShareGPT, else the first JSONL record's keys */
    MC_LG_DS_SHAREGPT, /* [{id, conversations: [{from, value}]}]: the first human turn */
    MC_LG_DS_GSM8K,    /* JSONL {question} */
    MC_LG_DS_MMLU_PRO, /* JSONL {question, options}: question and lettered options */
    MC_LG_DS_MT_BENCH, /* JSONL {turns}: turns[0] */
    MC_LG_DS_CUSTOM    /* JSONL {prompt, max_tokens (optional)} */
} mc_lg_dataset_fmt;

/* "auto", "sharegpt", "gsm8k", "mmlu-pro", "mt-bench", "jsonl" -> format; MC_ERR_ARG if unknown. */
mc_err mc_lg_dataset_fmt_parse(const char *s, mc_lg_dataset_fmt *out, mc_diag *d);

typedef struct mc_lg_dataset_opts {
    mc_lg_dataset_fmt fmt;
    uint32_t num_prompts; /* 0 = all */
    uint64_t seed;        /* 0 = file order; else a seeded shuffle before taking num_prompts */
    uint32_t output_len;  /* max_tokens where the record has none (custom JSONL may) */
    mc_lg_count_fn count; /* NULL: approximate input lengths */
    void *count_ctx;
} mc_lg_dataset_opts;

/* Loads prompts from a data file. Bad records are errors naming "file:line: problem". */
mc_err mc_lg_workload_load(mc_lg_workload *w, const char *path, const mc_lg_dataset_opts *o,
                           mc_diag *d);

typedef enum mc_lg_endpoint { MC_LG_COMPLETIONS = 0, MC_LG_CHAT } mc_lg_endpoint;

typedef struct mc_lg_body_opts {
    mc_lg_endpoint endpoint;
    const char *model; /* NULL: omitted */
    int stream;        /* also asks for stream_options.include_usage */
    int ignore_eos;    /* vLLM/SGLang/llama.cpp extension: generate exactly max_tokens */
    double temperature;
} mc_lg_body_opts;

/* Counts every prompt's input tokens with f (input_exact = 1 afterwards). */
mc_err mc_lg_workload_count(mc_lg_workload *w, mc_lg_count_fn f, void *ctx, mc_diag *d);

/* Builds every prompt's request body. */
mc_err mc_lg_workload_build(mc_lg_workload *w, const mc_lg_body_opts *o, mc_diag *d);

/* ==== server probing (blocking, before a run) ===============================================
 * URL helpers: base is what the user gave (http://host:port, optionally ending in /v1 or a full
 * endpoint URL). Results are heap strings (mc_free). */
mc_err mc_lg_url_endpoint(const char *base, mc_lg_endpoint ep, char **out, mc_diag *d);
mc_err mc_lg_url_root(const char *base, char **out, mc_diag *d); /* without /v1/... */

/* GET <root>/v1/models -> data[0].id. */
mc_err mc_lg_probe_model(const char *base, const char *api_key, double timeout_s, char **model,
                         mc_diag *d);

/* A /tokenize client, usable as an mc_lg_count_fn. Tries the llama.cpp / moecap form
 * {"content": text} -> {"tokens": [...]}, then the vLLM form {"prompt", "model"} ->
 * {"count"} / {"tokens"}. */
typedef struct mc_lg_tokenizer mc_lg_tokenizer;
/* MC_ERR_NOT_FOUND (message in d) when the server has no usable /tokenize. */
mc_err mc_lg_tokenizer_open(const char *base, const char *model, const char *api_key,
                            double timeout_s, mc_lg_tokenizer **out, mc_diag *d);
void mc_lg_tokenizer_free(mc_lg_tokenizer *t);
mc_err mc_lg_tokenizer_count(void *tokenizer, const char *text, size_t len, int64_t *n_tokens,
                             mc_diag *d);
uint64_t mc_lg_tokenizer_calls(const mc_lg_tokenizer *t);

/* ==== blocking HTTP calls (side endpoints: recording control, records, /metrics) =============
 * One keep-alive connection to the server root; used before and after measured phases, never
 * while requests are timed. Not thread safe. */
typedef struct mc_lg_http mc_lg_http;

/* base as for mc_lg_url_root; timeout_s per call (0 = 30 s). */
mc_err mc_lg_http_new(const char *base, const char *api_key, double timeout_s, mc_lg_http **out,
                      mc_diag *d);
void mc_lg_http_free(mc_lg_http *h);
/* method "GET" or "POST" (body NULL = empty body) to root + path. Any HTTP status is MC_OK with
 * *status set (0 when no response); MC_ERR_NET for a transport failure, MC_ERR_RANGE when the
 * body exceeds max_bytes (> 0). The body and headers stay readable until the next call. */
mc_err mc_lg_http_call(mc_lg_http *h, const char *method, const char *path, const char *body,
                       size_t max_bytes, long *status, mc_diag *d);
const char *mc_lg_http_body(const mc_lg_http *h, size_t *len); /* NUL-terminated */
/* A response header of the last call (case-insensitive name; value trimmed, at most 255 bytes,
 * valid until the next call), NULL when absent. */
const char *mc_lg_http_header(mc_lg_http *h, const char *name);

/* ==== Prometheus text format (GET /metrics) =================================================
 * Samples with the kind of their family (from "# TYPE" lines); lines that are not samples are
 * skipped and counted. A sample is cumulative when the increase between two scrapes means
 * something: a counter (its name or name_total), or a histogram's / summary's _sum or _count. */
typedef enum mc_prom_kind {
    MC_PROM_UNTYPED = 0,
    MC_PROM_COUNTER,
    MC_PROM_GAUGE,
    MC_PROM_HISTOGRAM,
    MC_PROM_SUMMARY
} mc_prom_kind;

typedef struct mc_lg_prom_sample {
    char *key;       /* name and label set as written, e.g. requests_total{code="200"} */
    size_t name_len; /* the metric name is key[0 .. name_len) */
    mc_prom_kind kind;
    int cumulative;
    double value; /* may be NaN or +-Inf */
} mc_lg_prom_sample;

typedef struct mc_lg_prom_type {
    char *family;
    mc_prom_kind kind;
} mc_lg_prom_type;

typedef struct mc_lg_prom {
    mc_lg_prom_sample *v;
    size_t n, cap;
    size_t n_skipped; /* lines that were neither comments nor samples */
    mc_lg_prom_type *types;
    size_t n_types, cap_types;
} mc_lg_prom;

void mc_lg_prom_init(mc_lg_prom *p);
void mc_lg_prom_deinit(mc_lg_prom *p);
/* Appends the samples of text to out (initialised). MC_ERR_RANGE beyond max_samples (0 = 10^6). */
mc_err mc_lg_prom_parse(const char *text, size_t len, size_t max_samples, mc_lg_prom *out,
                        mc_diag *d);

typedef struct mc_lg_prom_delta {
    const char *key; /* points into the `after` set */
    double delta;    /* after - before; after alone for a new series or after a reset */
    int reset;       /* the value went down (the server restarted): delta = after */
    int is_new;      /* absent before */
} mc_lg_prom_delta;

/* The increase of every finite cumulative series of `after`, in its order. *out: heap (mc_free). */
mc_err mc_lg_prom_deltas(const mc_lg_prom *before, const mc_lg_prom *after, mc_lg_prom_delta **out,
                         size_t *n, mc_diag *d);

/* ==== load models ===========================================================================
 * Drives a client with a workload. Request i (0-based over the whole run, warm-up first) uses
 * prompt i mod n. Results go to the client's on_result; mc_lg_result.tag is 1 for warm-up
 * requests, 0 for measured ones, and id is the request's index. */
typedef enum mc_lg_mode {
    MC_LG_CLOSED = 0, /* keep `concurrency` requests in flight */
    MC_LG_BATCH,      /* waves of `batch` requests; a wave starts when the previous finished */
    MC_LG_OPEN /* arrivals at `rate_per_s` from a schedule, at most `concurrency` in flight */
} mc_lg_mode;

typedef struct mc_lg_run_opts {
    mc_lg_mode mode;
    uint32_t concurrency; /* closed: in flight; open: cap (0 = client slots) */
    uint32_t batch;
    mc_lg_sched_opts sched; /* open loop */
    uint64_t num_requests;  /* measured requests; 0 = until duration_s */
    double duration_s;      /* stop sending after this long (0 = no limit) */
    uint32_t warmup;        /* warm-up requests, sent first under the same load model and
                               drained before the measured phase starts */
    double ramp_up_s;       /* closed loop: concurrency rises linearly from 1 to C over this;
                               open loop: see mc_lg_sched_opts.ramp_s */
    const volatile sig_atomic_t *stop; /* when it becomes non-zero: stop sending and cancel */
    /* Called once after the warm-up drained (nothing in flight), right before the measured
     * phase's clock starts, e.g. to start server-side recording; may block. NULL = none. Not
     * called when the run stopped during warm-up. */
    void (*on_measure)(void *ctx);
    void *on_measure_ctx;
} mc_lg_run_opts;

typedef struct mc_lg_run_info {
    mc_ns t0_ns;         /* start of the measured phase (schedule origin) */
    mc_ns first_send_ns; /* first measured request sent */
    mc_ns end_ns;        /* the measured phase ended (nothing left in flight) */
    uint64_t sent;       /* measured requests sent */
    uint64_t warmup_sent;
    uint64_t queued; /* open loop: measured requests that were due while the concurrency
                        cap was reached (they waited for a slot; lag = queueing) */
    int stopped;     /* the stop flag ended the run early (results are partial) */
} mc_lg_run_info;

/* Checks options (MC_ERR_ARG with a message) without sending anything. */
mc_err mc_lg_run_check(const mc_lg_run_opts *o, mc_diag *d);
mc_err mc_lg_run(mc_lg_client *c, const mc_lg_workload *w, const mc_lg_run_opts *o,
                 mc_lg_run_info *info, mc_diag *d);

#endif
