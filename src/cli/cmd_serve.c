/* cmd_serve.c: `moecap serve`: opens the engine on a GGUF model and serves it over HTTP
 * (OpenAI-compatible completions and chat, CAP per-pass recording; docs/SERVER.md) until SIGINT or
 * SIGTERM, then shuts down gracefully and exits 0. Parses options and wires src/engine to
 * src/server; prints the bound address on stdout. */
#include "cli.h"
#include "engine_run.h"
#include "server.h"

#include <cjson/cJSON.h>
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

typedef struct serve_args {
    mc_engine_opts eo;
    er_xcache xc;
    mc_server_opts so;
    double shutdown_timeout_s;
    int json;
} serve_args;

void usage_serve(FILE *f)
{
    fprintf(f,
            "usage: moecap serve -m MODEL.gguf [--host H] [--port P] [--parallel N] [--ctx N]\n"
            "                    [-t THREADS] [--max-queue N] [--max-body BYTES] [--hardware H]\n"
            "                    [--kernels ISA] [--max-step-tokens N] [--max-records N]\n"
            "                    [--trace-tokens] [--shutdown-timeout S] [--max-connections N]\n"
            "                    [--idle-timeout S] [--max-header BYTES] [--max-tokens N] [--json]\n"
            "                    [--expert-cache-mb N [--expert-cache-policy lru|lfu|static]\n"
            "                     [--expert-profile FILE] [--prefetch] [--no-direct]]\n\n"
            "OpenAI-compatible HTTP server on the embedded engine, with continuous batching and\n"
            "per-forward-pass CAP records (docs/SERVER.md). Runs until SIGINT/SIGTERM.\n\n"
            "  -m, --model FILE        GGUF model\n"
            "  --host H                numeric address to listen on (default 127.0.0.1: loopback\n"
            "                          only; any other address is reachable from the network)\n"
            "  --port P                TCP port, 0 = any free port (default 8080); the bound\n"
            "                          address is printed on stdout\n"
            "  --parallel N            requests decoded together = KV slots (default 1)\n"
            "  --ctx N                 context per request (default min(model, 4096))\n"
            "  -t, --threads N         engine threads (default: online CPUs)\n"
            "  --max-queue N           requests waiting for a slot; more get 503 (default 64)\n"
            "  --max-body BYTES        largest request body, e.g. 8M (default 8 MiB); more: 413\n"
            "  --max-header BYTES      request line and headers (default 64k); more: 431\n"
            "  --max-tokens N          largest max_tokens a request may ask (default: the\n"
            "                          context); more: 400\n"
            "  --max-connections N     open connections at once (default 256); more wait\n"
            "  --idle-timeout S        close a connection silent for S seconds, e.g. a client\n"
            "                          that stalls in the middle of its request (default 60)\n"
            "  --hardware H            device name put in the records' gpu_raw_type (gpu_num 1);\n"
            "                          default \"cpu\" with gpu_num 0\n"
            "  --kernels ISA           ref, avx2, avxvnni or avx512 (default: best here)\n"
            "  --max-step-tokens N     tokens one forward pass may carry (default 512)\n"
            "  --max-records N         per-pass records kept while recording (default 100000)\n"
            "  --trace-tokens          records carry tokens_per_expert too\n"
            "  --json                  the start-up line as one JSON document (url, host, port,\n"
            "                          model, slots, ctx, kernels, chat_template)\n"
            "  --shutdown-timeout S    seconds running requests may finish after a signal\n"
            "                          (default 10); the rest are cancelled\n"
            ER_XCACHE_USAGE);
}

/* Integer options: parsed into iv[] (by table position), copied into the options afterwards. */
static const struct int_opt {
    int c;
    const char *name;
    int64_t lo, hi;
} int_opts[] = {{'P', "--port", 0, 65535},           {'n', "--parallel", 1, 1024},
                {'c', "--ctx", 16, 1 << 24},         {'t', "--threads", 1, 1024},
                {'q', "--max-queue", 1, 1 << 20},    {'s', "--max-step-tokens", 1, 1 << 20},
                {'r', "--max-records", 1, 100000000}, {'C', "--max-connections", 1, 65536},
                {'i', "--idle-timeout", 1, 86400},   {'x', "--max-tokens", 1, 1 << 24}};
enum { N_INT_OPTS = sizeof int_opts / sizeof int_opts[0] };

static int int_opt(int c, const char *v, int64_t *iv)
{
    for (int i = 0; i < N_INT_OPTS; i++) {
        const struct int_opt *o = &int_opts[i];
        if (o->c != c)
            continue;
        if (mc_parse_i64(v, o->lo, o->hi, &iv[i]) != MC_OK)
            return mc_cli_usage_error("serve", "%s must be an integer in [%lld, %lld], got '%s'",
                                      o->name, (long long)o->lo, (long long)o->hi, v);
        return 0;
    }
    return -1; /* not an integer option */
}

static void apply_ints(serve_args *a, const int64_t *iv)
{
    if (iv[0] >= 0)
        a->so.port = (int)iv[0];
    a->eo.max_seqs = (int)(iv[1] > 0 ? iv[1] : 0);
    a->eo.n_ctx = iv[2] > 0 ? iv[2] : 0;
    a->eo.n_threads = (int)(iv[3] > 0 ? iv[3] : 0);
    if (iv[4] > 0)
        a->so.max_queue = iv[4];
    a->eo.max_step_tokens = iv[5] > 0 ? iv[5] : 0;
    if (iv[6] > 0)
        a->so.max_records = iv[6];
    if (iv[7] > 0)
        a->so.max_connections = iv[7];
    if (iv[8] > 0)
        a->so.idle_timeout_s = (int)iv[8];
    if (iv[9] > 0)
        a->so.max_tokens = iv[9];
}

static int set_opt(serve_args *a, int c, const char *v, int64_t *iv)
{
    uint64_t n = 0;
    int rc = int_opt(c, v, iv);
    if (rc >= 0)
        return rc;
    switch (c) {
    case 'm': a->eo.model_path = v; return 0;
    case 'h': a->so.host = v; return 0;
    case 'H': a->so.hardware = v; return 0;
    case 'k': a->eo.kernels = v; return 0;
    case 'T': a->eo.trace_tokens = 1; return 0;
    case 'j': a->json = 1; return 0;
    case 'b':
        if (mc_parse_size(v, &n) != MC_OK || n == 0 || n > ((uint64_t)1 << 32))
            return mc_cli_usage_error("serve", "--max-body must be a size from 1 to 4G, got '%s'",
                                      v);
        a->so.max_body_bytes = (size_t)n;
        return 0;
    case 'B':
        if (mc_parse_size(v, &n) != MC_OK || n < 1024 || n > ((uint64_t)16 << 20))
            return mc_cli_usage_error("serve", "--max-header must be a size from 1k to 16M, got '%s'",
                                      v);
        a->so.max_header_bytes = (size_t)n;
        return 0;
    case 'S':
        if (mc_parse_f64(v, &a->shutdown_timeout_s) != MC_OK || a->shutdown_timeout_s < 0)
            return mc_cli_usage_error("serve", "--shutdown-timeout must be seconds >= 0");
        return 0;
    default: return 2;
    }
}

static int parse_args(int argc, char **argv, serve_args *a)
{
    static const struct option opts[] = {{"model", required_argument, NULL, 'm'},
                                         {"host", required_argument, NULL, 'h'},
                                         {"port", required_argument, NULL, 'P'},
                                         {"parallel", required_argument, NULL, 'n'},
                                         {"ctx", required_argument, NULL, 'c'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"max-queue", required_argument, NULL, 'q'},
                                         {"max-body", required_argument, NULL, 'b'},
                                         {"hardware", required_argument, NULL, 'H'},
                                         {"kernels", required_argument, NULL, 'k'},
                                         {"max-step-tokens", required_argument, NULL, 's'},
                                         {"max-records", required_argument, NULL, 'r'},
                                         {"trace-tokens", no_argument, NULL, 'T'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"shutdown-timeout", required_argument, NULL, 'S'},
                                         {"max-connections", required_argument, NULL, 'C'},
                                         {"idle-timeout", required_argument, NULL, 'i'},
                                         {"max-header", required_argument, NULL, 'B'},
                                         {"max-tokens", required_argument, NULL, 'x'},
                                         ER_XCACHE_LONGOPTS,
                                         {NULL, 0, NULL, 0}};
    memset(a, 0, sizeof *a);
    mc_engine_opts_default(&a->eo);
    mc_server_opts_default(&a->so);
    a->shutdown_timeout_s = 10;
    int64_t iv[N_INT_OPTS];
    for (int i = 0; i < N_INT_OPTS; i++)
        iv[i] = -1;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":m:t:", opts, NULL)) != -1) {
        if (c == ':')
            return mc_cli_usage_error("serve", "%s needs a value", argv[optind - 1]);
        if (c == '?')
            return mc_cli_usage_error("serve", "unknown option '%s'", argv[optind - 1]);
        int rc = er_xcache_opt(&a->xc, c, optarg, "serve");
        if (rc < 0)
            rc = set_opt(a, c, optarg, iv);
        if (rc)
            return rc;
    }
    apply_ints(a, iv);
    er_xcache_apply(&a->xc, &a->eo);
    if (optind < argc)
        return mc_cli_usage_error("serve", "unexpected argument '%s'", argv[optind]);
    if (!a->eo.model_path)
        return mc_cli_usage_error("serve", "-m MODEL.gguf is required");
    return er_xcache_check(&a->xc, "serve");
}

/* SIGINT/SIGTERM are blocked in every thread (set before any is created) and taken here. */
static void block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* 127.0.0.0/8 or ::1 (numeric forms only: the server takes nothing else). */
static int is_loopback(const char *h)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, h, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    return inet_pton(AF_INET6, h, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

static void print_address(const serve_args *a, const mc_server *s, const mc_srv_backend *be)
{
    const char *h = a->so.host ? a->so.host : "127.0.0.1";
    int v6 = strchr(h, ':') != NULL, lo = is_loopback(h);
    char url[128];
    int port = mc_server_port(s);
    snprintf(url, sizeof url, "http://%s%s%s:%d", v6 ? "[" : "", h, v6 ? "]" : "", port);
    if (!lo)
        fprintf(stderr, "moecap serve: warning: --host %s is reachable from the network; the "
                        "server has no authentication\n", h);
    if (!a->json) {
        printf("moecap serve: listening on %s (model %s, %d slots, ctx %lld, %s)\n", url,
               be->model_id, be->max_seqs, (long long)be->n_ctx,
               lo ? "loopback only" : "network");
        fflush(stdout);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "url", url);
    cJSON_AddStringToObject(o, "host", h);
    cJSON_AddBoolToObject(o, "loopback", lo);
    cJSON_AddNumberToObject(o, "port", port);
    cJSON_AddStringToObject(o, "model", be->model_id);
    cJSON_AddNumberToObject(o, "slots", be->max_seqs);
    cJSON_AddNumberToObject(o, "ctx", (double)be->n_ctx);
    cJSON_AddStringToObject(o, "kernels", be->isa ? be->isa : "");
    cJSON_AddStringToObject(o, "chat_template", mc_server_chat_format(s));
    char *txt = cJSON_PrintUnformatted(o);
    printf("%s\n", txt ? txt : "{}");
    fflush(stdout);
    cJSON_free(txt);
    cJSON_Delete(o);
}

int cmd_serve(int argc, char **argv)
{
    serve_args a;
    memset(&a, 0, sizeof a); /* --json and any later flag default to off (was uninitialised) */
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc;
    sigset_t set;
    block_signals(&set);
    mc_diag d = {{0}};
    mc_srv_backend *be = NULL;
    mc_server *s = NULL;
    mc_err e = mc_srv_backend_engine_open(&a.eo, &be, &d);
    if (!e)
        er_engine_notes(stderr, "serve", be->ctx); /* the backend's context is the engine */
    if (!e)
        e = mc_server_new(be, &a.so, &s, &d);
    if (!e)
        e = mc_server_start(s, &d);
    if (!e) {
        print_address(&a, s, be);
        int sig = 0;
        sigwait(&set, &sig);
        fprintf(stderr, "moecap serve: %s: shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
        mc_server_shutdown(s, a.shutdown_timeout_s);
    }
    mc_server_free(s);
    mc_srv_backend_engine_close(be);
    return e ? mc_cli_fail("serve", e, &d) : 0;
}
