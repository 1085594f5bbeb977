/* mock_server_main.c: `mc_mock_server`, the tests' mock OpenAI server as a program, for scripts,
 * integration tests and benchmarks against an out-of-process server. Prints its URL on the first
 * line of stdout (and into --port-file), then serves until SIGINT/SIGTERM. Test support only. */
#include "mock_server.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: mc_mock_server [--ttft-ms MS] [--itl-ms MS] [--tokens N] [--chunk N]\n"
               "                      [--max-conns N] [--port-file PATH]\n"
               "Listens on 127.0.0.1 (a free port), prints http://127.0.0.1:PORT, serves until\n"
               "SIGINT/SIGTERM. Faults and overrides: see tests/support/mock_server.h.\n");
}

static int parse_u32(const char *s, uint32_t *out)
{
    int64_t v;
    if (mc_parse_i64(s, 0, UINT32_MAX, &v) != MC_OK)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int parse_args(int argc, char **argv, mc_mock_opts *o, const char **port_file)
{
    static const struct option opts[] = {{"ttft-ms", required_argument, 0, 't'},
                                         {"itl-ms", required_argument, 0, 'i'},
                                         {"tokens", required_argument, 0, 'n'},
                                         {"chunk", required_argument, 0, 'c'},
                                         {"max-conns", required_argument, 0, 'm'},
                                         {"port-file", required_argument, 0, 'p'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int bad = 0;
        if (ch == 't')
            bad = mc_parse_f64(optarg, &o->ttft_ms) != MC_OK || o->ttft_ms < 0;
        else if (ch == 'i')
            bad = mc_parse_f64(optarg, &o->itl_ms) != MC_OK || o->itl_ms < 0;
        else if (ch == 'n')
            bad = parse_u32(optarg, &o->tokens);
        else if (ch == 'c')
            bad = parse_u32(optarg, &o->tokens_per_chunk);
        else if (ch == 'm')
            bad = parse_u32(optarg, &o->max_conns);
        else if (ch == 'p')
            *port_file = optarg;
        else if (ch == 'h')
            return usage(stdout), 1;
        else
            bad = 1;
        if (bad) {
            fprintf(stderr, "mc_mock_server: bad option value '%s'\n", optarg ? optarg : "");
            return -1;
        }
    }
    return optind == argc ? 0 : -1;
}

int main(int argc, char **argv)
{
    mc_mock_opts o = {0};
    const char *port_file = NULL;
    int rc = parse_args(argc, argv, &o, &port_file);
    if (rc != 0) {
        if (rc < 0)
            usage(stderr);
        return rc < 0 ? 2 : 0;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* the loop thread inherits the mask */
    mc_mock *m = NULL;
    mc_diag d = {{0}};
    if (mc_mock_start(&o, &m, &d) != MC_OK) {
        fprintf(stderr, "mc_mock_server: %s\n", d.msg);
        return 1;
    }
    printf("%s\n", mc_mock_url(m));
    fflush(stdout);
    if (port_file) {
        char buf[16];
        int n = snprintf(buf, sizeof buf, "%u\n", (unsigned)mc_mock_port(m));
        if (mc_write_file_atomic(port_file, buf, (size_t)n, &d) != MC_OK)
            fprintf(stderr, "mc_mock_server: %s\n", d.msg);
    }
    int sig = 0;
    sigwait(&set, &sig);
    mc_mock_stop(m);
    return 0;
}
