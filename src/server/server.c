/* server.c: the server's life cycle: options, the metrics and records stores, the scheduler and
 * the HTTP daemon, and the graceful shutdown (stop listening, refuse new requests, let running
 * ones finish within a timeout, cancel the rest, flush responses, stop). Must not depend on the
 * engine: the backend is given. */
#include "server_impl.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FLUSH_WAIT_NS ((mc_ns)2000000000) /* for connections to send their last bytes */

void mc_server_opts_default(mc_server_opts *o)
{
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = 8080;
    o->max_queue = 64;
    o->max_body_bytes = (size_t)8 << 20;
    o->max_records = 100000;
    o->http_threads = 1;
    o->max_connections = 256;
    o->idle_timeout_s = 60;
    o->max_header_bytes = (size_t)64 << 10;
    o->max_tokens = 0;
}

static mc_err check_opts(const mc_srv_backend *be, const mc_server_opts *o, mc_diag *d)
{
    if (!be || !be->ops || !be->tok)
        return mc_fail(d, MC_ERR_ARG, "server: no backend");
    if (o->port < 0 || o->port > 65535)
        return mc_fail(d, MC_ERR_ARG, "server: --port %d is not in [0, 65535]", o->port);
    if (o->max_queue < 0 || o->max_records < 0 || o->max_connections < 0 || o->http_threads < 0 ||
        o->idle_timeout_s < 0 || o->max_tokens < 0)
        return mc_fail(d, MC_ERR_ARG, "server: negative limit");
    if (o->max_header_bytes > ((size_t)16 << 20))
        return mc_fail(d, MC_ERR_ARG, "server: --max-header is over 16 MiB");
    if (o->host && strlen(o->host) >= 64)
        return mc_fail(d, MC_ERR_ARG, "server: --host is too long");
    if (o->hardware && strlen(o->hardware) >= 96)
        return mc_fail(d, MC_ERR_ARG, "server: --hardware is too long");
    return MC_OK;
}

static void apply_defaults(mc_server *s, const mc_server_opts *o)
{
    mc_server_opts def;
    mc_server_opts_default(&def);
    s->o = *o;
    if (!s->o.max_queue)
        s->o.max_queue = def.max_queue;
    if (!s->o.max_body_bytes)
        s->o.max_body_bytes = def.max_body_bytes;
    if (!s->o.max_records)
        s->o.max_records = def.max_records;
    if (!s->o.http_threads)
        s->o.http_threads = def.http_threads;
    if (!s->o.max_connections)
        s->o.max_connections = def.max_connections;
    if (!s->o.idle_timeout_s)
        s->o.idle_timeout_s = def.idle_timeout_s;
    if (!s->o.max_header_bytes)
        s->o.max_header_bytes = def.max_header_bytes;
    snprintf(s->host, sizeof s->host, "%s", o->host ? o->host : def.host);
    snprintf(s->hardware, sizeof s->hardware, "%s", o->hardware ? o->hardware : "cpu");
}

mc_err mc_server_new(const mc_srv_backend *be, const mc_server_opts *o, mc_server **out, mc_diag *d)
{
    *out = NULL;
    mc_err e = check_opts(be, o, d);
    if (e)
        return e;
    mc_server *s = mc_calloc(1, sizeof *s);
    if (!s)
        return mc_fail(d, MC_ERR_NOMEM, "server: out of memory");
    s->be = *be;
    apply_defaults(s, o);
    s->mi = (mc_srv_model_info){be->tok, be->vocab, be->n_ctx, mc_chat_detect(be->chat_template),
                                mc_srv_max_piece_bytes(be->tok), s->o.max_tokens};
    atomic_init(&s->stopping, 0);
    atomic_init(&s->next_id, 1);
    atomic_init(&s->conns, 0);
    atomic_init(&s->sockets, 0);
    e = mc_srv_metrics_init(&s->metrics, be->n_moe_layers);
    s->metrics_ok = e == MC_OK;
    if (!e)
        e = mc_srv_records_init(&s->rec, (size_t)s->o.max_records);
    s->rec_ok = s->metrics_ok && e == MC_OK;
    mc_srv_sched_opts so = {s->o.max_queue, s->hardware, o->hardware ? 1 : 0};
    if (e)
        e = mc_fail(d, e, "server: out of memory for metrics and records");
    else
        e = mc_srv_sched_new(&s->be, &so, &s->metrics, &s->rec, &s->sched, d);
    if (e) {
        mc_server_free(s);
        return e;
    }
    *out = s;
    return MC_OK;
}

mc_err mc_server_start(mc_server *s, mc_diag *d)
{
    s->created_s = (int64_t)time(NULL);
    mc_err e = mc_srv_sched_start(s->sched, d);
    if (!e)
        e = mc_srv_http_start(s, d);
    return e;
}

int mc_server_port(const mc_server *s)
{
    return s->port;
}

const char *mc_server_chat_format(const mc_server *s)
{
    return mc_chat_kind_name(s->mi.chat);
}

void mc_server_shutdown(mc_server *s, double timeout_s)
{
    if (!s || s->shut)
        return;
    s->shut = 1;
    atomic_store(&s->stopping, 1);
    mc_srv_http_quiesce(s);
    mc_srv_sched_stop_accepting(s->sched);
    if (!mc_srv_sched_wait_idle(s->sched, timeout_s))
        mc_srv_sched_abort_all(s->sched);
    /* every request has ended and woken its connection: let them send their last bytes */
    mc_ns until = mc_now_ns() + FLUSH_WAIT_NS;
    while (atomic_load(&s->conns) > 0 && mc_now_ns() < until)
        usleep(5000);
    mc_srv_http_stop(s);
}

void mc_server_free(mc_server *s)
{
    if (!s)
        return;
    if (s->daemon)
        mc_server_shutdown(s, 0);
    mc_srv_sched_free(s->sched);
    if (s->rec_ok)
        mc_srv_records_deinit(&s->rec);
    if (s->metrics_ok)
        mc_srv_metrics_deinit(&s->metrics);
    mc_free(s);
}
