/* client_int.h: private to client.c and client_xfer.c (the loop and the per-transfer logic).
 * Not part of the module's interface. */
#ifndef MC_LOADGEN_CLIENT_INT_H
#define MC_LOADGEN_CLIENT_INT_H

#include "loadgen.h"

#include <curl/curl.h>

/* One request slot: allocated with the client, reused for every request it carries. */
typedef struct lg_slot {
    struct mc_lg_client *c;
    CURL *easy;
    mc_sse *sse;
    mc_buf text;   /* kept output text (capped at max_text_bytes) */
    mc_buf body;   /* non-streamed response body (capped at max_body_bytes) */
    mc_ns *stamps; /* token-bearing chunk stamps */
    size_t n_stamps, cap_stamps;
    char msg[MC_LG_MSG_MAX + 1];
    size_t msg_len;
    char finish[32];
    char errbuf[CURL_ERROR_SIZE];
    mc_lg_result r;
    mc_ns last_data_ns;  /* last body bytes received */
    int checked;         /* status and content type examined */
    int status_ok;       /* 200 (and the right content type when streaming) */
    mc_lg_fail own_fail; /* failure decided while receiving; the transfer was aborted */
    int active;
    uint32_t next_free;
} lg_slot;

struct mc_lg_client {
    mc_lg_client_opts o;
    char *url;
    char *auth;
    struct curl_slist *headers;
    CURLM *multi;
    int epfd, tfd;
    mc_ns curl_deadline; /* curl's next timeout (0 = none) */
    mc_ns armed;         /* what the timerfd is set to (0 = disarmed) */
    lg_slot *slots;
    uint32_t n_slots, free_head, inflight;
    char sock_mark; /* its address marks sockets registered with epoll */
};

#define LG_NO_SLOT UINT32_MAX

/* client.c: libcurl's global init, once per process (thread safe). */
mc_err lg_curl_global(mc_diag *d);

/* client_xfer.c */
mc_err lg_slot_setup(lg_slot *s, mc_diag *d); /* easy handle options, buffers */
void lg_slot_begin(lg_slot *s, const mc_lg_request *r, mc_ns now);
/* Fills s->r after the transfer ended with rc; the result is then ready to emit. */
void lg_slot_finish(lg_slot *s, CURLcode rc, mc_ns now);
void lg_slot_set_fail(lg_slot *s, mc_lg_fail f, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
