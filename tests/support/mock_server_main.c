/* mock_server_main.c: `mc_mock_server`, the tests' mock OpenAI server as a program, for scripts,
 * integration tests and benchmarks against an out-of-process server. Prints its URL on the first
 * line of stdout (and into --port-file), then serves until SIGINT/SIGTERM. With --answers FILE
 * or --echo-logprobs it runs in scripted mode (the eval integration tests). With --stats-file it
 * writes its counters as one JSON object there when it stops (the kill -9 tests compare what the
 * client kept with what the mock served). Test support only. */
#include "mock_server.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: mc_mock_server [--ttft-ms MS] [--itl-ms MS] [--tokens N] [--chunk N]\n"
               "                      [--max-conns N] [--port-file PATH] [--record moecap|vllm]\n"
               "                      [--rec-experts N] [--rec-top-k K] [--metrics]\n"
               "                      [--no-tokenize] [--answers FILE] [--echo-logprobs]\n"
               "                      [--stats-file PATH]\n"
               "Listens on 127.0.0.1 (a free port), prints http://127.0.0.1:PORT, serves until\n"
               "SIGINT/SIGTERM. Faults and overrides: see tests/support/mock_server.h.\n"
               "--answers FILE: JSON Lines {\"match\": S, \"text\": T | \"status\": N}; a request\n"
               "whose prompt (or messages) contains S gets T or that status (first match wins).\n"
               "--echo-logprobs: echo requests get the prompt's words as tokens, each with\n"
               "log-probability -0.1 x its bytes, byte text_offset and itself as top_logprobs.\n");
}

static int parse_u32(const char *s, uint32_t *out)
{
    int64_t v;
    if (mc_parse_i64(s, 0, UINT32_MAX, &v) != MC_OK)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int side_opt(const char *v, mc_mock_opts *o)
{
    if (strcmp(v, "moecap") == 0)
        o->recording = MC_MOCK_REC_MOECAP;
    else if (strcmp(v, "vllm") == 0)
        o->recording = MC_MOCK_REC_VLLM;
    else
        return 1;
    return 0;
}

/* ---- scripted mode ----------------------------------------------------------------------- */

typedef struct rule {
    char *match, *text;
    int status;
} rule;

typedef struct rules {
    rule *r;
    size_t n;
    int echo;
} rules;

static int load_rules(const char *path, rules *rs)
{
    char *buf = NULL;
    size_t len = 0;
    mc_diag d = {{0}};
    if (mc_read_file(path, (size_t)1 << 30, &buf, &len, &d) != MC_OK) {
        fprintf(stderr, "mc_mock_server: %s\n", d.msg);
        return -1;
    }
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        const char *m = cJSON_GetStringValue(cJSON_GetObjectItem(j, "match"));
        const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(j, "text"));
        const cJSON *st = cJSON_GetObjectItem(j, "status");
        rule *nr = m ? mc_reallocarray(rs->r, rs->n + 1, sizeof *nr) : NULL;
        if (nr) {
            rs->r = nr;
            rs->r[rs->n++] = (rule){mc_strdup(m), t ? mc_strdup(t) : NULL,
                                    cJSON_IsNumber(st) ? (int)st->valuedouble : 0};
        }
        cJSON_Delete(j);
        if (!nr) {
            fprintf(stderr, "mc_mock_server: %s: bad rule '%.60s'\n", path, line);
            mc_free(buf);
            return -1;
        }
    }
    mc_free(buf);
    return 0;
}

/* The prompt, or every message's content joined by newlines. */
static char *prompt_of(const cJSON *req)
{
    const char *p = cJSON_GetStringValue(cJSON_GetObjectItem(req, "prompt"));
    if (p)
        return mc_strdup(p);
    mc_buf b;
    mc_buf_init(&b, 0);
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItem(req, "messages"))
    {
        const char *c = cJSON_GetStringValue(cJSON_GetObjectItem(m, "content"));
        mc_buf_printf(&b, "%s\n", c ? c : "");
    }
    mc_buf_append(&b, "", 0);
    return b.data;
}

static char *echo_reply(const char *prompt)
{
    cJSON *o = cJSON_CreateObject(), *ch = cJSON_AddArrayToObject(o, "choices");
    cJSON *c0 = cJSON_CreateObject();
    cJSON_AddItemToArray(ch, c0);
    cJSON_AddStringToObject(c0, "text", prompt);
    cJSON *lp = cJSON_AddObjectToObject(c0, "logprobs");
    cJSON *toks = cJSON_AddArrayToObject(lp, "tokens");
    cJSON *lps = cJSON_AddArrayToObject(lp, "token_logprobs");
    cJSON *tops = cJSON_AddArrayToObject(lp, "top_logprobs");
    cJSON *offs = cJSON_AddArrayToObject(lp, "text_offset");
    size_t n = strlen(prompt);
    for (size_t i = 0; i < n;) {
        size_t e = i + 1;
        while (e < n && prompt[e] != ' ')
            e++;
        char *piece = mc_strndup(prompt + i, e - i);
        double v = -0.1 * (double)(e - i);
        cJSON_AddItemToArray(toks, cJSON_CreateString(piece ? piece : ""));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)i));
        cJSON_AddItemToArray(lps, i == 0 ? cJSON_CreateNull() : cJSON_CreateNumber(v));
        cJSON *t = i == 0 ? cJSON_CreateNull() : cJSON_CreateObject();
        if (i > 0)
            cJSON_AddNumberToObject(t, piece ? piece : "", v);
        cJSON_AddItemToArray(tops, t);
        mc_free(piece);
        i = e;
    }
    char *s = cJSON_PrintUnformatted(o);
    char *r = s ? mc_strdup(s) : NULL;
    cJSON_free(s);
    cJSON_Delete(o);
    return r;
}

static void main_script(const char *body, size_t len, mc_mock_reply *r, void *ctx)
{
    const rules *rs = ctx;
    cJSON *req = cJSON_ParseWithLength(body, len);
    char *prompt = req ? prompt_of(req) : NULL;
    int echo = cJSON_IsTrue(cJSON_GetObjectItem(req, "echo"));
    if (!prompt) {
        r->status = 400;
    } else if (echo && rs->echo) {
        r->raw = echo_reply(prompt);
    } else {
        r->status = 404;
        for (size_t i = 0; i < rs->n; i++)
            if (strstr(prompt, rs->r[i].match)) {
                r->status = rs->r[i].status;
                r->text = rs->r[i].text ? mc_strdup(rs->r[i].text) : NULL;
                break;
            }
    }
    mc_free(prompt);
    cJSON_Delete(req);
}

/* The counters as JSON, written atomically (a reader never sees half of it). */
static void write_stats(const mc_mock *m, const char *path)
{
    mc_mock_stats st;
    mc_mock_stats_get(m, &st);
    char buf[512];
    int n = snprintf(buf, sizeof buf,
                     "{\"conns_accepted\":%llu,\"requests\":%llu,\"generations\":%llu,"
                     "\"completed\":%llu,\"tokens\":%llu,\"faults\":%llu,\"tokenize\":%llu,"
                     "\"peak_active\":%llu}\n",
                     (unsigned long long)st.conns_accepted, (unsigned long long)st.requests,
                     (unsigned long long)st.generations, (unsigned long long)st.completed,
                     (unsigned long long)st.tokens, (unsigned long long)st.faults,
                     (unsigned long long)st.tokenize, (unsigned long long)st.peak_active);
    /* temporary + rename without fsync: the tests need atomicity, not durability (an fsync
     * takes seconds on a busy disk) */
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.part", path);
    FILE *f = fopen(tmp, "w");
    int ok = f && fwrite(buf, 1, (size_t)n, f) == (size_t)n;
    ok = (f && fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0)
        fprintf(stderr, "mc_mock_server: cannot write %s\n", path);
}

typedef struct main_files {
    const char *port;
    const char *stats;
} main_files;

static int parse_args(int argc, char **argv, mc_mock_opts *o, main_files *files)
{
    static const struct option opts[] = {{"ttft-ms", required_argument, 0, 't'},
                                         {"itl-ms", required_argument, 0, 'i'},
                                         {"tokens", required_argument, 0, 'n'},
                                         {"chunk", required_argument, 0, 'c'},
                                         {"max-conns", required_argument, 0, 'm'},
                                         {"port-file", required_argument, 0, 'p'},
                                         {"record", required_argument, 0, 'r'},
                                         {"rec-experts", required_argument, 0, 'E'},
                                         {"rec-top-k", required_argument, 0, 'K'},
                                         {"metrics", no_argument, 0, 'M'},
                                         {"no-tokenize", no_argument, 0, 'T'},
                                         {"answers", required_argument, 0, 'a'},
                                         {"echo-logprobs", no_argument, 0, 'e'},
                                         {"stats-file", required_argument, 0, 's'},
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
            files->port = optarg;
        else if (ch == 's')
            files->stats = optarg;
        else if (ch == 'r')
            bad = side_opt(optarg, o);
        else if (ch == 'E')
            bad = parse_u32(optarg, &o->rec_experts);
        else if (ch == 'K')
            bad = parse_u32(optarg, &o->rec_top_k);
        else if (ch == 'M')
            o->metrics = 1;
        else if (ch == 'T')
            o->no_tokenize = 1;
        else if (ch == 'a')
            bad = load_rules(optarg, o->script_ctx);
        else if (ch == 'e')
            ((rules *)o->script_ctx)->echo = 1;
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
    static rules rs;
    mc_mock_opts o = {.script_ctx = &rs};
    main_files files = {NULL, NULL};
    int rc = parse_args(argc, argv, &o, &files);
    if (rs.n > 0 || rs.echo)
        o.script = main_script;
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
    if (files.port) {
        char buf[16];
        int n = snprintf(buf, sizeof buf, "%u\n", (unsigned)mc_mock_port(m));
        if (mc_write_file_atomic(files.port, buf, (size_t)n, &d) != MC_OK)
            fprintf(stderr, "mc_mock_server: %s\n", d.msg);
    }
    int sig = 0;
    sigwait(&set, &sig);
    if (files.stats)
        write_stats(m, files.stats);
    mc_mock_stop(m);
    return 0;
}
