/* server_impl.h: the server's internal pieces, shared by its files and its unit tests.
 *
 *   errors    OpenAI-style error bodies                                  (error.c)
 *   utf8      validation and sanitising                                   (error.c)
 *   params    request JSON -> mc_srv_params, validation                   (req.c)
 *   prepare   params + tokenizer -> prompt tokens, max_tokens             (prepare.c)
 *   chat      chat templates by marker detection (no Jinja)               (chat.c)
 *   stop      stop-string scanning for streaming-safe output              (stop.c)
 *   req       the request object shared by the HTTP thread and scheduler  (request.c)
 *   format    response JSON and Server-Sent Events                        (format.c)
 *   metrics   Prometheus counters and histograms                          (metrics.c)
 *   records   the bounded per-pass record store                           (records.c)
 *   sched     the continuous-batching scheduler                           (sched.c)
 * Everything but sched, http.c and server.c is pure (no threads, no clock, no I/O). */
#ifndef MC_SERVER_IMPL_H
#define MC_SERVER_IMPL_H

#include "server.h"

#include <pthread.h>
#include <stdatomic.h>

/* ==== errors ================================================================================== */

typedef struct mc_srv_error {
    int status;       /* HTTP status; 0 = no error */
    const char *type; /* "invalid_request_error", "server_error", ... */
    const char *code; /* NULL = JSON null */
    char param[48];   /* "" = JSON null */
    char message[320];
} mc_srv_error;

/* Fills e; type follows the status (4xx invalid_request_error, 5xx server_error). Returns
 * MC_ERR_ARG for 4xx, MC_ERR_INTERNAL for 5xx, so parsers can `return mc_srv_fail(...)`. */
mc_err mc_srv_fail(mc_srv_error *e, int status, const char *code, const char *param,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* {"error":{"message","type","param","code"}} */
mc_err mc_srv_format_error(const mc_srv_error *e, mc_buf *out);

/* ==== UTF-8 =================================================================================== */

/* Length of the longest valid UTF-8 prefix of s[0..n) (n when all of it is valid; overlong forms,
 * surrogates and code points above U+10FFFF are invalid). */
size_t mc_srv_utf8_valid_len(const char *s, size_t n);
/* Appends s[0..n) to out with every invalid byte replaced by U+FFFD. */
mc_err mc_srv_utf8_sanitize(const char *s, size_t n, mc_buf *out);
/* Appends s[0..n) as a quoted JSON string: invalid UTF-8 bytes become U+FFFD, NUL and other
 * control bytes are escaped (cJSON strings end at a NUL byte; generated text may contain one). */
mc_err mc_srv_json_str(const char *s, size_t n, mc_buf *out);

/* ==== request parameters (req.c) ============================================================== */

typedef enum mc_srv_kind { MC_SRV_COMPLETION = 0, MC_SRV_CHAT } mc_srv_kind;
typedef enum mc_chat_role { MC_ROLE_SYSTEM = 0, MC_ROLE_USER, MC_ROLE_ASSISTANT } mc_chat_role;

typedef struct mc_chat_msg {
    mc_chat_role role;
    char *content; /* owned, NUL-terminated UTF-8 ("" for a null assistant content) */
} mc_chat_msg;

#define MC_SRV_MAX_STOP 16         /* stop strings per request */
#define MC_SRV_MAX_STOP_BYTES 256  /* bytes of one stop string */
#define MC_SRV_MAX_TOP_LOGPROBS 20 /* alternatives per token */
#define MC_SRV_MAX_MESSAGES 4096   /* chat messages per request */

typedef struct mc_srv_params {
    mc_srv_kind kind;
    int stream;
    int include_usage; /* stream_options.include_usage */
    int echo;          /* completions: prepend the prompt */
    int ignore_eos;
    int64_t max_tokens; /* 0 = not given (the default applies, see prepare) */
    mc_sampler samp;    /* temperature, top_p, top_k, seed */
    int seed_given;
    int logprobs;     /* 1: return log-probabilities of the chosen tokens */
    int top_logprobs; /* alternatives per token, 0..MC_SRV_MAX_TOP_LOGPROBS */
    char *stop[MC_SRV_MAX_STOP];
    size_t n_stop;
    char *prompt; /* completions: text prompt (owned), or NULL */
    size_t prompt_len;
    int32_t *prompt_ids; /* completions: token-array prompt (owned), or NULL */
    size_t n_prompt_ids;
    mc_chat_msg *msgs; /* chat: messages (owned) */
    size_t n_msgs;
} mc_srv_params;

void mc_srv_params_init(mc_srv_params *p);
void mc_srv_params_deinit(mc_srv_params *p); /* frees, back to the init state */

/* Parses and validates a request body (any bytes; len need not end in NUL). On error *out is in
 * the init state and err holds the status (400), the offending parameter and a one-line
 * message. Unknown fields are ignored. Checks that need the model (token ids, context length)
 * are in mc_srv_prepare. */
mc_err mc_srv_parse_request(mc_srv_kind kind, const char *body, size_t len, mc_srv_params *out,
                            mc_srv_error *err);

struct cJSON;
/* The body as one JSON object (UTF-8 checked, no NUL, no trailing text): the first step of every
 * POST endpoint. *out is freed with cJSON_Delete. */
mc_err mc_srv_parse_object(const char *body, size_t len, struct cJSON **out, mc_srv_error *err);

/* ==== chat templates (chat.c) ================================================================= */

typedef enum mc_chat_kind {
    MC_CHAT_FALLBACK = 0, /* no or unrecognised template: ChatML markers as plain text */
    MC_CHAT_CHATML,       /* <|im_start|>role\n...<|im_end|>\n */
    MC_CHAT_LLAMA2,       /* [INST] <<SYS>>\n...\n<</SYS>>\n\n... [/INST] */
    MC_CHAT_MISTRAL, /* [INST] ... [/INST] (no <<SYS>>: system text joins the first user turn) */
    MC_CHAT_LLAMA3   /* <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|> */
} mc_chat_kind;

/* Detects the format from markers in the template text (NULL or "" -> fallback). */
mc_chat_kind mc_chat_detect(const char *tmpl);
const char *mc_chat_kind_name(mc_chat_kind k); /* "fallback", "chatml", "llama2", ... */

typedef struct mc_chat_specials {
    const char *bos; /* BOS token text ("" when the vocabulary has none) */
    const char *eos; /* EOS token text */
    int add_bos;     /* the tokenizer adds BOS by default (used by the fallback) */
} mc_chat_specials;

/* Renders messages into the prompt text, with the assistant's generation prompt at the end. The
 * text carries BOS where the format wants it; tokenize it with MC_TOK_PARSE_SPECIAL |
 * MC_TOK_NO_BOS_EOS. */
mc_err mc_chat_render(mc_chat_kind k, const mc_chat_specials *sp, const mc_chat_msg *m, size_t n,
                      mc_buf *out, mc_diag *d);

/* ==== prepare (prepare.c) ===================================================================== */

typedef struct mc_srv_model_info {
    const mc_tok *tok;
    int64_t vocab, n_ctx;
    mc_chat_kind chat;
    size_t max_piece_bytes; /* longest token text (mc_srv_max_piece_bytes); 0 = unknown */
    int64_t max_tokens;     /* the server's cap on a request's max_tokens; 0 = none */
} mc_srv_model_info;

/* The longest text of a token of t, stored or decoded: every token covers at most that many
 * bytes of a prompt (4 at least: one unknown character). */
size_t mc_srv_max_piece_bytes(const mc_tok *t);

#define MC_SRV_DEFAULT_MAX_TOKENS 16 /* completions without max_tokens (as OpenAI and vLLM) */

/* Builds the prompt tokens (appended to ids) and the effective max_tokens: renders chat
 * messages, tokenizes text prompts, checks token-array ids against the vocabulary, and the
 * context: prompt < n_ctx, prompt + max_tokens <= n_ctx (a missing max_tokens becomes 16 for
 * completions, the rest of the context for chat, clamped to the context). A text so long that
 * it cannot fit (more than 4 x max_piece_bytes x n_ctx bytes) is refused without tokenizing. */
mc_err mc_srv_prepare(const mc_srv_params *p, const mc_srv_model_info *mi, mc_tok_ids *ids,
                      int64_t *max_tokens, mc_srv_error *err);

/* ==== stop strings (stop.c) =================================================================== */

/* Scans pending text for the stop strings. Returns 1 when one occurs: *emit is the offset of the
 * earliest match (the text before it is the output; the match and everything after are not).
 * Returns 0 otherwise: *emit is how many bytes may be sent now; the rest is a suffix that could
 * still grow into a stop string and must be held back. */
int mc_srv_stop_scan(char *const *stop, size_t n_stop, const char *text, size_t len, size_t *emit);

/* ==== the request (request.c) ================================================================= */

/* One streamed piece of output: the text and the generated tokens since the previous event. */
typedef struct mc_srv_event {
    size_t text_hi; /* req->text[previous text_hi .. text_hi) */
    int64_t tok_hi; /* generated tokens [previous tok_hi .. tok_hi) */
} mc_srv_event;

typedef struct mc_srv_req mc_srv_req;
/* Tells the HTTP side that r has news (events, prompt done, finished). Called with r->mu held. */
typedef void (*mc_srv_wake_fn)(mc_srv_req *r);

struct mc_srv_req {
    /* ---- set before submit, read-only afterwards ---- */
    char id[48];          /* "cmpl-N" / "chatcmpl-N": per_req_info req_id too */
    int64_t created_s;    /* unix time */
    const char *model_id; /* borrowed from the server */
    mc_srv_params p;
    int32_t *prompt; /* prompt tokens */
    int64_t n_prompt;
    int64_t max_tokens;
    int n_top;         /* alternatives per token (0 without logprobs) */
    int echo_logprobs; /* echo + logprobs: prompt log-probabilities (MC_LOGITS_ALL) */
    mc_buf echo;       /* prompt text for echo */
    mc_ns t_arrival;
    atomic_int refs;
    atomic_int cancelled; /* the client went away: the scheduler frees the slot */

    pthread_mutex_t mu; /* guards everything below */
    /* ---- written by the scheduler ---- */
    mc_buf text;      /* emitted completion text (stop strings removed) */
    int32_t *ids;     /* [max_tokens] generated tokens */
    double *lps;      /* [max_tokens] their log-probabilities (when logprobs) */
    int32_t *top_ids; /* [max_tokens][n_top] */
    double *top_lps;
    int64_t *offs; /* [max_tokens] byte offset of each token in the decoded text */
    int64_t n_out;
    double *p_lps;      /* [n_prompt] prompt log-probabilities (echo_logprobs; [0] NaN) */
    int32_t *p_top_ids; /* [n_prompt][n_top] */
    double *p_top_lps;
    int prompt_done;  /* prefill finished */
    mc_srv_event *ev; /* [max_tokens + 1] */
    size_t n_ev;
    int finished;
    const char *finish_reason; /* "stop", "length", "abort" */
    mc_srv_error err;          /* err.status != 0: the request failed */
    mc_ns t_first, t_end;
    /* ---- consumer (HTTP) side ---- */
    size_t ev_sent;
    int head_sent, tail_sent;
    int suspended; /* the HTTP side suspended its connection and waits for wake */
    mc_srv_wake_fn wake;
    void *conn;
};

/* Takes ownership of *p (left in the init state) and of prompt. Allocates the output arrays for
 * max_tokens tokens. One reference, held by the caller. NULL on OOM (p and prompt are freed). */
mc_srv_req *mc_srv_req_new(mc_srv_params *p, int32_t *prompt, int64_t n_prompt, int64_t max_tokens);
void mc_srv_req_ref(mc_srv_req *r);
void mc_srv_req_unref(mc_srv_req *r); /* frees at zero; NULL ok */
/* Prompt text for echo: the text prompt, or the decoded tokens. */
mc_err mc_srv_req_set_echo(mc_srv_req *r, const mc_tok *tok);
/* Ends the request with an error (no more output); calls wake. Caller holds r->mu. */
void mc_srv_req_fail_locked(mc_srv_req *r, const mc_srv_error *e);

/* ==== formatting (format.c) =================================================================== */

/* Everything that is new since the last call, as Server-Sent Events (`data: {...}\n\n`): the
 * opening chunk (chat: the assistant role; echo: the prompt), one chunk per event, and after the
 * end the final chunk (finish_reason, usage), the include_usage chunk and `data: [DONE]`. Caller
 * holds r->mu. Returns 1 in *done when nothing more will come. */
mc_err mc_srv_fmt_stream(mc_srv_req *r, const mc_tok *tok, mc_buf *out, int *done);
/* The complete non-streaming response body of a finished request. Caller holds r->mu. */
mc_err mc_srv_fmt_response(const mc_srv_req *r, const mc_tok *tok, mc_buf *out);
/* usage object fields */
void mc_srv_usage(const mc_srv_req *r, int64_t *prompt, int64_t *completion);

/* ==== metrics (metrics.c) ===================================================================== */

#define MC_SRV_HIST_MAX 24

typedef struct mc_srv_hist {
    int n_bounds;
    double bounds[MC_SRV_HIST_MAX];       /* upper bounds (le), ascending */
    uint64_t counts[MC_SRV_HIST_MAX + 1]; /* per bucket, not cumulative; last = +Inf */
    double sum;
    uint64_t count;
} mc_srv_hist;

void mc_srv_hist_init(mc_srv_hist *h, const double *bounds, int n); /* n <= MC_SRV_HIST_MAX */
void mc_srv_hist_add(mc_srv_hist *h, double v);

typedef enum mc_srv_outcome {
    MC_OUT_FINISHED = 0, /* stop or length */
    MC_OUT_CANCELLED,    /* the client went away */
    MC_OUT_ABORTED,      /* cancelled by shutdown */
    MC_OUT_FAILED,       /* engine error */
    MC_OUT_REJECTED,     /* 503: queue full or shutting down */
    MC_OUT_INVALID,      /* 4xx */
    MC_OUT_COUNT
} mc_srv_outcome;

typedef struct mc_srv_metrics {
    pthread_mutex_t mu;
    uint64_t requests[MC_OUT_COUNT];
    uint64_t prompt_tokens, generation_tokens;
    mc_srv_hist ttft, e2e, itl, pass;
    uint64_t passes[MC_PASS_MODE_COUNT];
    uint64_t pass_tokens;
    int64_t queue_depth, running, batch_size;
    int64_t n_layers;   /* MoE layers of expert_act */
    double *expert_act; /* [n_layers] sum over passes of the distinct experts the layer used */
    /* expert cache (pass.cache of the records; 0 without a cache) */
    uint64_t xc_hits, xc_misses, xc_bytes;
    double xc_stall_s;
} mc_srv_metrics;

mc_err mc_srv_metrics_init(mc_srv_metrics *m, int64_t n_moe_layers);
void mc_srv_metrics_deinit(mc_srv_metrics *m);
/* Counts one pass (caller holds m->mu). */
void mc_srv_metrics_pass_locked(mc_srv_metrics *m, const mc_pass *p);
/* Prometheus text exposition format 0.0.4. Takes m->mu. */
mc_err mc_srv_metrics_format(mc_srv_metrics *m, mc_buf *out);

/* ==== per-pass records (records.c) ============================================================ */

typedef struct mc_srv_records {
    pthread_mutex_t mu;
    atomic_int on;
    mc_pass *ring; /* [cap]: the newest n records, oldest at head */
    size_t cap, head, n;
    uint64_t dropped; /* records pushed out since start (the ring was full) */
} mc_srv_records;

mc_err mc_srv_records_init(mc_srv_records *r, size_t cap);
void mc_srv_records_deinit(mc_srv_records *r);
void mc_srv_records_start(mc_srv_records *r); /* clears, then records */
void mc_srv_records_stop(mc_srv_records *r);  /* keeps what was recorded */
void mc_srv_records_clear(mc_srv_records *r);
/* Deep copy of p; when full the oldest record is dropped (and counted). No-op when not on. */
mc_err mc_srv_records_push(mc_srv_records *r, const mc_pass *p);
/* Records as JSON Lines (mc_pass_format), or as a JSON array (array = 1); *n = records. */
mc_err mc_srv_records_dump(mc_srv_records *r, int array, mc_buf *out, int64_t *n,
                           uint64_t *dropped);
int64_t mc_srv_records_count(mc_srv_records *r);

/* ==== scheduler (sched.c) ===================================================================== */

typedef struct mc_srv_sched mc_srv_sched;

typedef struct mc_srv_sched_opts {
    int64_t max_queue;        /* requests waiting for a slot (>= 1) */
    const char *gpu_raw_type; /* records: "cpu" or the --hardware name */
    int gpu_num;              /* records: 0 (not recorded) or 1 */
} mc_srv_sched_opts;

/* Borrows be, m and rec (they outlive the scheduler). Allocates every buffer a step needs. */
mc_err mc_srv_sched_new(const mc_srv_backend *be, const mc_srv_sched_opts *o, mc_srv_metrics *m,
                        mc_srv_records *rec, mc_srv_sched **out, mc_diag *d);
mc_err mc_srv_sched_start(mc_srv_sched *s, mc_diag *d); /* starts the scheduler thread */
/* Queues r (takes a reference). 503 in err when the queue is full or the server stops. */
mc_err mc_srv_sched_submit(mc_srv_sched *s, mc_srv_req *r, mc_srv_error *err);
/* The client of r went away: r leaves its slot (or the queue) before the next step. */
void mc_srv_sched_cancel(mc_srv_sched *s, mc_srv_req *r);
/* Shutdown: refuse new requests; wait until nothing runs or the timeout passes (1 = idle);
 * cancel what is left (running: finish_reason "abort"; queued: 503). */
void mc_srv_sched_stop_accepting(mc_srv_sched *s);
int mc_srv_sched_wait_idle(mc_srv_sched *s, double timeout_s);
void mc_srv_sched_abort_all(mc_srv_sched *s);
/* Stops and joins the thread (cancelling what is left), frees. NULL ok. */
void mc_srv_sched_free(mc_srv_sched *s);
/* Requests queued and running (for /health). */
void mc_srv_sched_load(mc_srv_sched *s, int64_t *queued, int64_t *running);

/* ==== generation text (generate.c) ============================================================ */

/* Per-slot text state: the streaming detokenizer and the decoded text held back because it may
 * be the start of a stop string. */
typedef struct mc_srv_gen {
    mc_tok_stream dec;
    mc_buf pending;
    int64_t decoded; /* bytes decoded so far (emitted, held and dropped) */
} mc_srv_gen;

void mc_srv_gen_init(mc_srv_gen *g);
void mc_srv_gen_deinit(mc_srv_gen *g);
void mc_srv_gen_reset(mc_srv_gen *g);
/* Appends generated token id to r (r->ids, r->offs, r->n_out; the caller has stored its
 * log-probabilities at index r->n_out), decodes it, applies EOS / stop strings / max_tokens,
 * moves the text that is safe to send into r->text and records an event for it. Returns 1 when
 * the request is finished (r->finished, r->finish_reason set), 0 to continue, -1 on error
 * (r->err set, r->finished). Caller holds r->mu; nobody is woken. */
int mc_srv_gen_push(mc_srv_gen *g, const mc_tok *tok, mc_srv_req *r, int32_t id);

/* ==== small endpoints (endpoints.c) =========================================================== */

/* POST /tokenize: {"content": text, "add_special": false, "parse_special": true,
 * "with_pieces": false} -> {"tokens": [ids]} (with_pieces: [{"id", "piece"}]). */
mc_err mc_srv_tokenize(const mc_tok *tok, const char *body, size_t len, mc_buf *out,
                       mc_srv_error *err);
/* POST /detokenize: {"tokens": [ids]} -> {"content": text}. */
mc_err mc_srv_detokenize(const mc_tok *tok, int64_t vocab, const char *body, size_t len,
                         mc_buf *out, mc_srv_error *err);
/* GET /v1/models */
mc_err mc_srv_models_json(const char *model_id, int64_t n_ctx, int64_t created_s, mc_buf *out);

/* ==== the server object (server.c: lifecycle, http.c: requests) =============================== */

struct MHD_Daemon;

struct mc_server {
    mc_srv_backend be; /* copy of the caller's description */
    mc_server_opts o;
    char host[64];
    char hardware[96];
    mc_srv_model_info mi;
    mc_srv_metrics metrics;
    int metrics_ok;
    mc_srv_records rec;
    int rec_ok;
    mc_srv_sched *sched;
    struct MHD_Daemon *daemon;
    int port;
    int64_t created_s;    /* start time (unix), for /v1/models */
    atomic_int stopping;  /* new requests get 503 */
    atomic_llong next_id; /* request ids */
    atomic_int conns;     /* open connection contexts */
    atomic_int sockets;   /* open TCP connections (libmicrohttpd's notify callback) */
    int shut;
};

/* Starts libmicrohttpd on s->o.host:port (http.c); fills s->daemon and s->port. */
mc_err mc_srv_http_start(mc_server *s, mc_diag *d);
/* Stops listening (existing connections continue). */
void mc_srv_http_quiesce(mc_server *s);
void mc_srv_http_stop(mc_server *s);

#endif
