/* mock_int.h: private to mock_server.c (loop, sockets, HTTP) and mock_gen.c (responses, faults). */
#ifndef MC_MOCK_INT_H
#define MC_MOCK_INT_H

#include "mock_server.h"

#include <stdatomic.h>
#include <stddef.h>

enum mock_state { ST_READ, ST_STREAM, ST_WHOLE, ST_STALL };

enum mock_fault {
    F_NONE,
    F_HTTP429,
    F_HTTP500,
    F_HTTP503,
    F_HTTP429_EMPTY,
    F_HTTP500_EMPTY,
    F_HTTP503_EMPTY,
    F_RESET_HEADERS,
    F_CLOSE_MID,
    F_RESET_MID,
    F_BAD_JSON,
    F_HUGE_EVENT,
    F_NO_DONE,
    F_NO_DONE_FINISH,
    F_STALL,
    F_NEVER_ANSWER,
    F_WRONG_CTYPE,
    F_ERROR_EVENT,
    F_ERROR_OBJ,
    F_HTML,          /* 200 text/html page instead of the API's answer */
    F_EOF_NO_DONE,   /* close-delimited stream: no finish_reason, no [DONE], then FIN */
    F_EOF_FINISH,    /* close-delimited stream: finish_reason and usage, no [DONE], then FIN */
    F_COUNT_
};

/* The response a connection is generating. */
typedef struct mock_job {
    int chat, stream, usage, utf8, trickle;
    enum mock_fault fault;
    int fault_done;
    int eof; /* the body ends at connection close (no chunked coding) */
    uint32_t tokens, per_chunk, after;
    uint32_t sent_tokens, events; /* so far */
    uint32_t prompt_tokens;
    size_t size; /* huge_event bytes */
    mc_ns t0, ttft, itl;
    char *stext;    /* scripted text (heap), NULL otherwise */
    uint32_t *soff; /* [tokens + 1] byte offsets of its tokens */
} mock_job;

typedef struct mock_conn {
    struct mock_conn *prev, *next; /* every open connection, for shutdown */
    int fd;
    enum mock_state state;
    int close_after; /* the request asked for Connection: close */
    int want_out;    /* EPOLLOUT is registered */
    mc_buf in;
    mc_buf out;
    size_t out_off;
    size_t heap_idx; /* SIZE_MAX when not in the timer heap */
    mc_ns due;
    mock_job j;
} mock_conn;

struct mc_mock {
    mc_mock_opts o;
    int lfd, epfd, tfd, efd;
    uint16_t port;
    char url[64];
    int started;
    mock_conn **heap;
    size_t heap_n, heap_cap;
    mc_ns armed;
    uint32_t nconns;
    mock_conn *conns;
    uint32_t active;    /* connections generating a response */
    uint32_t streaming; /* of those, streamed responses */
    /* recording and /metrics (mock_rec.c); touched by the loop thread only */
    int rec_on;
    mc_buf rec; /* JSON Lines of the records kept */
    uint64_t rec_n, rec_dropped, rec_pass_id;
    uint64_t prompt_tokens_total, stream_tokens_total;
    uint64_t ttft_buckets[4]; /* le 0.01, 0.1, 1, +Inf (cumulative when printed) */
    double ttft_sum_s;
    _Atomic uint64_t st_records;
    _Atomic uint64_t st_peak_active;
    _Atomic uint64_t st_conns, st_requests, st_generations, st_tokens, st_faults, st_tokenize;
    _Atomic uint64_t st_completed;
};

/* mock_server.c */
void mock_due(struct mc_mock *m, mock_conn *c, mc_ns t); /* (re)schedule; t = 0 removes */
int mock_flush(struct mc_mock *m, mock_conn *c);         /* -1: connection must close */
void mock_close(struct mc_mock *m, mock_conn *c, int rst);
void mock_set_state(struct mc_mock *m, mock_conn *c, enum mock_state st); /* counts active */
int mock_respond(mock_conn *c, int status, const char *ctype, const char *body, size_t len);

int mock_respond_hdr(mock_conn *c, int status, const char *ctype, const char *extra_headers,
                     const char *body, size_t len);

/* mock_rec.c */
/* Recording and /metrics routes; returns 1 when it answered the request. */
int mock_side_route(struct mc_mock *m, mock_conn *c, int post, const char *path);
void mock_note_generation(struct mc_mock *m, const mock_job *j); /* counters behind /metrics */
void mock_record_event(struct mc_mock *m, const mock_job *j, uint32_t tokens); /* one record */
void mock_rec_deinit(struct mc_mock *m);

/* mock_gen.c */
uint32_t mock_count_tokens(const char *s, size_t n);
/* Handles a completion request; returns -1 when the connection was closed. */
int mock_generate(struct mc_mock *m, mock_conn *c, int chat, const char *body, size_t len);
/* Timer or writable: continues the response; returns -1 when the connection was closed. */
int mock_continue(struct mc_mock *m, mock_conn *c, mc_ns now);
int mock_tokenize(struct mc_mock *m, mock_conn *c, const char *body, size_t len);
void mock_job_clear(mock_job *j); /* frees a scripted reply's text */

#endif
