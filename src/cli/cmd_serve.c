/* cmd_serve.c: `moecap serve`: opens the engine on a GGUF model and serves it over HTTP
 * (OpenAI-compatible completions and chat, CAP per-pass recording; docs/SERVER.md) until SIGINT or
 * SIGTERM, then shuts down gracefully and exits 0. Parses options and wires src/engine to
 * src/server; prints the bound address on stdout. */
#include "cli.h"
#include "server.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

typedef struct serve_args {
    mc_engine_opts eo;
    mc_server_opts so;
    double shutdown_timeout_s;
} serve_args;

void usage_serve(FILE *f)
{
    fprintf(f,
            "usage: moecap serve -m MODEL.gguf [--host H] [--port P] [--parallel N] [--ctx N]\n"
            "                    [-t THREADS] [--max-queue N] [--max-body BYTES] [--hardware H]\n"
            "                    [--kernels ISA] [--max-step-tokens N] [--max-records N]\n"
            "                    [--trace-tokens] [--shutdown-timeout S]\n\n"
            "OpenAI-compatible HTTP server on the embedded engine, with continuous batching and\n"
            "per-forward-pass CAP records (docs/SERVER.md). Runs until SIGINT/SIGTERM.\n\n"
            "  -m, --model FILE        GGUF model\n"
            "  --host H                numeric address to listen on (default 127.0.0.1)\n"
            "  --port P                TCP port, 0 = any free port (default 8080); the bound\n"
            "                          address is printed on stdout\n"
            "  --parallel N            requests decoded together = KV slots (default 1)\n"
            "  --ctx N                 context per request (default min(model, 4096))\n"
            "  -t, --threads N         engine threads (default: online CPUs)\n"
            "  --max-queue N           requests waiting for a slot; more get 503 (default 64)\n"
            "  --max-body BYTES        largest request body, e.g. 8M (default 8 MiB)\n"
            "  --hardware H            device name put in the records' gpu_raw_type (gpu_num 1);\n"
            "                          default \"cpu\" with gpu_num 0\n"
            "  --kernels ISA           ref, avx2 or avx512 (default: best for this CPU)\n"
            "  --max-step-tokens N     tokens one forward pass may carry (default 512)\n"
            "  --max-records N         per-pass records kept while recording (default 100000)\n"
            "  --trace-tokens          records carry tokens_per_expert too\n"
            "  --shutdown-timeout S    seconds running requests may finish after a signal\n"
            "                          (default 10); the rest are cancelled\n");
}

static int int_opt(const char *name, const char *v, int64_t lo, int64_t hi, int64_t *out)
{
    if (mc_parse_i64(v, lo, hi, out) != MC_OK)
        return mc_cli_usage_error("serve", "%s must be an integer in [%lld, %lld], got '%s'",
                                  name, (long long)lo, (long long)hi, v);
    return 0;
}

static int size_opt(const char *v, size_t *out)
{
    uint64_t n = 0;
    if (mc_parse_size(v, &n) != MC_OK || n == 0 || n > ((uint64_t)1 << 32))
        return mc_cli_usage_error("serve", "--max-body must be a size from 1 to 4G, got '%s'", v);
    *out = (size_t)n;
    return 0;
}

static int set_opt(serve_args *a, int c, const char *v)
{
    int64_t n = 0;
    int rc = 0;
    switch (c) {
    case 'm': a->eo.model_path = v; break;
    case 'h': a->so.host = v; break;
    case 'P': rc = int_opt("--port", v, 0, 65535, &n); a->so.port = (int)n; break;
    case 'n': rc = int_opt("--parallel", v, 1, 1024, &n); a->eo.max_seqs = (int)n; break;
    case 'c': rc = int_opt("--ctx", v, 16, 1 << 24, &n); a->eo.n_ctx = n; break;
    case 't': rc = int_opt("--threads", v, 1, 1024, &n); a->eo.n_threads = (int)n; break;
    case 'q': rc = int_opt("--max-queue", v, 1, 1 << 20, &n); a->so.max_queue = n; break;
    case 'b': rc = size_opt(v, &a->so.max_body_bytes); break;
    case 'H': a->so.hardware = v; break;
    case 'k': a->eo.kernels = v; break;
    case 's': rc = int_opt("--max-step-tokens", v, 1, 1 << 20, &n); a->eo.max_step_tokens = n; break;
    case 'r': rc = int_opt("--max-records", v, 1, 100000000, &n); a->so.max_records = n; break;
    case 'T': a->eo.trace_tokens = 1; break;
    case 'S':
        if (mc_parse_f64(v, &a->shutdown_timeout_s) != MC_OK || a->shutdown_timeout_s < 0)
            rc = mc_cli_usage_error("serve", "--shutdown-timeout must be seconds >= 0");
        break;
    default: rc = 2; break;
    }
    return rc;
}

static int parse_args(int argc, char **argv, serve_args *a)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},     {"host", required_argument, NULL, 'h'},
        {"port", required_argument, NULL, 'P'},      {"parallel", required_argument, NULL, 'n'},
        {"ctx", required_argument, NULL, 'c'},       {"threads", required_argument, NULL, 't'},
        {"max-queue", required_argument, NULL, 'q'}, {"max-body", required_argument, NULL, 'b'},
        {"hardware", required_argument, NULL, 'H'},  {"kernels", required_argument, NULL, 'k'},
        {"max-step-tokens", required_argument, NULL, 's'},
        {"max-records", required_argument, NULL, 'r'},
        {"trace-tokens", no_argument, NULL, 'T'},
        {"shutdown-timeout", required_argument, NULL, 'S'},
        {NULL, 0, NULL, 0}};
    memset(&a->eo, 0, sizeof a->eo); /* zeros are the engine's defaults (engine.h) */
    mc_server_opts_default(&a->so);
    a->shutdown_timeout_s = 10;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":m:t:", opts, NULL)) != -1) {
        if (c == ':')
            return mc_cli_usage_error("serve", "%s needs a value", argv[optind - 1]);
        if (c == '?')
            return mc_cli_usage_error("serve", "unknown option '%s'", argv[optind - 1]);
        int rc = set_opt(a, c, optarg);
        if (rc)
            return rc;
    }
    if (optind < argc)
        return mc_cli_usage_error("serve", "unexpected argument '%s'", argv[optind]);
    if (!a->eo.model_path)
        return mc_cli_usage_error("serve", "-m MODEL.gguf is required");
    return 0;
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

static void print_address(const mc_server_opts *so, int port, const mc_srv_backend *be)
{
    const char *h = so->host ? so->host : "127.0.0.1";
    int v6 = strchr(h, ':') != NULL;
    printf("moecap serve: listening on http://%s%s%s:%d (model %s, %d slots, ctx %lld)\n",
           v6 ? "[" : "", h, v6 ? "]" : "", port, be->model_id, be->max_seqs,
           (long long)be->n_ctx);
    fflush(stdout);
}

int cmd_serve(int argc, char **argv)
{
    serve_args a;
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
        e = mc_server_new(be, &a.so, &s, &d);
    if (!e)
        e = mc_server_start(s, &d);
    if (!e) {
        print_address(&a.so, mc_server_port(s), be);
        int sig = 0;
        sigwait(&set, &sig);
        fprintf(stderr, "moecap serve: %s: shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
        mc_server_shutdown(s, a.shutdown_timeout_s);
    }
    mc_server_free(s);
    mc_srv_backend_engine_close(be);
    return e ? mc_cli_fail("serve", e, &d) : 0;
}
