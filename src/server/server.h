/* server: moecap's OpenAI-compatible HTTP front end (libmicrohttpd) with continuous batching and
 * per-forward-pass CAP recording. docs/SERVER.md describes the endpoints, fields, limits and
 * errors.
 *
 * The server drives a backend: the embedded engine (mc_srv_backend_engine_open) or, in tests, a
 * fake with the same contract. One scheduler thread owns the backend and runs one forward pass
 * after another; HTTP requests are parsed, validated and tokenized on the HTTP thread, wait in a
 * bounded queue, take one of the backend's KV slots, and leave it when they finish or their
 * client goes away.
 *
 * Ownership: mc_server_new borrows the backend (it must outlive the server); mc_server_free
 * stops everything that still runs and frees what the server allocated. Thread safety: the
 * mc_server_* calls are made by one controlling thread (the CLI); the server runs its own
 * threads. */
#ifndef MC_SERVER_H
#define MC_SERVER_H

#include "base.h"
#include "cap.h"
#include "engine.h"
#include "tokenizer.h"

#include <stddef.h>
#include <stdint.h>

/* ---- backend: what the scheduler needs from an engine ------------------------------------- */

typedef struct mc_srv_backend_ops {
    /* mc_engine_step's contract: fails with nothing changed on bad items. */
    mc_err (*step)(void *ctx, const mc_batch_item *items, int n_items, mc_diag *d);
    const mc_pass *(*last_pass)(void *ctx); /* record of the last successful step */
    void (*seq_reset)(void *ctx, int seq);
    /* mc_engine_sample: draws a token from logits (modified in place) */
    int32_t (*sample)(void *ctx, float *logits, const mc_sampler *s, mc_rng *rng);
    /* mc_logprob / mc_top_logprobs */
    double (*logprob)(const float *logits, int64_t vocab, int32_t token);
    int (*top_logprobs)(const float *logits, int64_t vocab, int n, int32_t *ids, double *lps);
} mc_srv_backend_ops;

typedef struct mc_srv_backend {
    const mc_srv_backend_ops *ops;
    void *ctx;
    const mc_tok *tok;
    int64_t vocab;
    int64_t n_ctx;             /* KV positions per sequence */
    int max_seqs;              /* KV slots = the server's parallel requests */
    int64_t max_step_tokens;   /* tokens one step may carry (>= max_seqs) */
    const char *model_id;      /* name in /v1/models and responses */
    const char *chat_template; /* tokenizer.chat_template text, or NULL */
    int64_t n_moe_layers;      /* entries of the records' experts_per_layer (0 = dense) */
    const char *isa;           /* kernel set, for /health ("" if unknown) */
} mc_srv_backend;

/* The embedded engine as a backend (backend_engine.c): opens the engine with eo, reads the chat
 * template from the GGUF file, names the model after the file. Free with
 * mc_srv_backend_engine_close. */
mc_err mc_srv_backend_engine_open(const mc_engine_opts *eo, mc_srv_backend **out, mc_diag *d);
void mc_srv_backend_engine_close(mc_srv_backend *b); /* NULL ok */

/* ---- server --------------------------------------------------------------------------------- */

typedef struct mc_server_opts {
    const char *host;        /* numeric IPv4 or IPv6 address; NULL = "127.0.0.1" */
    int port;                /* 0 = ephemeral */
    int64_t max_queue;       /* requests waiting for a slot; 0 = 64 */
    size_t max_body_bytes;   /* 0 = 8 MiB */
    int64_t max_records;     /* per-pass records kept while recording; 0 = 100000 */
    const char *hardware;    /* gpu_raw_type of the records; NULL = "cpu" (gpu_num 0) */
    int http_threads;        /* libmicrohttpd worker threads; 0 = 1 */
    int64_t max_connections; /* open connections at once; 0 = 256 (more wait in the backlog) */
    int idle_timeout_s;      /* a connection silent this long is closed; 0 = 60 */
    size_t max_header_bytes; /* request line + headers; more gets 431; 0 = 64 KiB */
    int64_t max_tokens;      /* largest max_tokens a request may ask; 0 = the context */
} mc_server_opts;

void mc_server_opts_default(mc_server_opts *o);

typedef struct mc_server mc_server;

/* Validates the options and allocates; nothing runs yet. */
mc_err mc_server_new(const mc_srv_backend *be, const mc_server_opts *o, mc_server **out,
                     mc_diag *d);
/* Binds and starts the scheduler and HTTP threads. MC_ERR_NET when the address cannot be bound
 * (the message names host and port). */
mc_err mc_server_start(mc_server *s, mc_diag *d);
int mc_server_port(const mc_server *s); /* the bound port (after start) */
/* The chat format recognised in the model's template: "chatml", "llama2", "mistral", "llama3"
 * or "fallback" (docs/SERVER.md "Chat templates"). Static string. */
const char *mc_server_chat_format(const mc_server *s);

/* Graceful stop: no new connections, new requests get 503; running and queued requests may
 * finish for up to timeout_s seconds, then the rest are cancelled (finish_reason "abort");
 * responses are flushed, the threads joined. Idempotent. */
void mc_server_shutdown(mc_server *s, double timeout_s);
void mc_server_free(mc_server *s); /* shuts down (timeout 0) if still running; NULL ok */

#endif
