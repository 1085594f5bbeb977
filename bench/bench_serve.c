/* bench_serve.c: what does the HTTP server cost over the engine it serves (issue 5's targets,
 * docs/SERVER.md "Performance")? One process: the engine behind `moecap serve`'s server on an
 * ephemeral loopback port, and a libcurl client. Every sequence has its own prompt (identical
 * ones would route to the same experts and flatter batching). Cases, repeated in turn
 * so that a busy moment of a shared machine hits all of them alike:
 *   engine    batch-1 decode driven directly (the scheduler's calls: one step per token, greedy),
 *             after a 16-token prompt: tokens / decode time
 *   engine_4  the same with 4 sequences per step (their own prompts): the engine's batching
 *   http_1    one streaming completion (same prompt, greedy, ignore_eos): decode tokens/s seen by
 *             the client = (events - 1) / (last event - first event)
 *   http_4    4 concurrent streams on --parallel 4: events of all streams inside the window where
 *             all 4 decode (latest first event .. earliest last event) / its length
 * Checks on the medians over repetitions: http_1 >= 95% of engine, http_4 >= 2 x http_1
 * ("check": "FAIL" and exit 1 otherwise); stderr prints medians +- sd.
 * Model: --model PATH, or bench_engine's cached ~1 GB Q8_0 MoE (written once with make-model:
 * --embd 2048 --layers 8 --experts 16 --top-k 2 --ff 1024 --heads 16 --kv-heads 4, the
 * llama-spm vocabulary when ../shared/data has it). Usage: bench_serve [--model PATH]
 * [--threads N] [--reps N] [--tokens N] [--wait-quiet S]. */
#include "benchutil.h"
#include "makemodel.h"
#include "server.h"

#include <curl/curl.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROMPT 16
#define PARALLEL 4
#define MAX_TOK 4096

static struct {
    const char *model;
    int threads, reps, tokens;
    double wait_quiet_s;
} O = {NULL, 2, 5, 128, 0};

static mc_srv_backend *be;
static char base[64], g_commit[64], g_path[4096];
static int32_t prompt[PARALLEL][PROMPT]; /* distinct prompts: distinct experts per sequence */

/* ---- statistics and output ---- */

typedef struct stats {
    int n;
    double v[64], mean, sd, median;
} stats;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void add(stats *s, double x)
{
    if (s->n < 64)
        s->v[s->n++] = x;
    double sum = 0, sq = 0, sorted[64];
    for (int i = 0; i < s->n; i++)
        sum += s->v[i];
    s->mean = sum / s->n;
    for (int i = 0; i < s->n; i++)
        sq += (s->v[i] - s->mean) * (s->v[i] - s->mean);
    s->sd = sqrt(sq / s->n);
    memcpy(sorted, s->v, (size_t)s->n * sizeof *sorted);
    qsort(sorted, (size_t)s->n, sizeof *sorted, cmp_double);
    s->median = s->n % 2 ? sorted[s->n / 2] : (sorted[s->n / 2 - 1] + sorted[s->n / 2]) / 2;
}

static void emit(const char *cs, int streams, const stats *s, const char *extra)
{
    printf("{\"bench\":\"serve\",\"case\":\"%s\",\"commit\":\"%s\",\"isa\":\"%s\",\"threads\":%d,"
           "\"model\":\"%s\",\"streams\":%d,\"tokens\":%d,\"samples\":%d,\"mean_tok_s\":%.4g,"
           "\"sd_tok_s\":%.3g,\"median_tok_s\":%.4g%s}\n",
           cs, g_commit, be->isa, O.threads, be->model_id, streams, O.tokens, s->n, s->mean, s->sd,
           s->median, extra);
    fflush(stdout);
}

/* ---- the engine directly ---- */

/* b sequences (their own prompts) prefilled, then O.tokens greedy decode steps with all of them:
 * tokens/s over the decode steps. Runs on the caller's thread while the server is idle. */
static double engine_decode(int b)
{
    const mc_srv_backend_ops *ops = be->ops;
    float *logits = mc_mallocarray((size_t)be->vocab * PARALLEL, sizeof(float));
    int32_t tok[PARALLEL];
    mc_batch_item it[PARALLEL];
    mc_sampler greedy = {0, 1, 0, 0};
    mc_rng rng;
    mc_rng_seed(&rng, 1);
    for (int k = 0; k < b; k++) {
        ops->seq_reset(be->ctx, k);
        it[k] = (mc_batch_item){.seq = k,
                                .tokens = prompt[k],
                                .n_tokens = PROMPT,
                                .logits = MC_LOGITS_LAST,
                                .logits_out = logits + k * be->vocab};
    }
    mc_err e = ops->step(be->ctx, it, b, NULL);
    mc_ns t0 = mc_now_ns();
    for (int i = 0; !e && i < O.tokens; i++) {
        for (int k = 0; k < b; k++) {
            tok[k] = ops->sample(be->ctx, logits + k * be->vocab, &greedy, &rng);
            it[k].tokens = &tok[k];
            it[k].n_tokens = 1;
        }
        e = ops->step(be->ctx, it, b, NULL);
    }
    double s = mc_ns_to_s(mc_now_ns() - t0);
    for (int k = 0; k < b; k++)
        ops->seq_reset(be->ctx, k);
    mc_free(logits);
    return e ? 0 : b * O.tokens / s;
}

/* ---- the client ---- */

typedef struct stream {
    mc_ns t[MAX_TOK + 8]; /* arrival of each JSON event */
    int n;
    int match; /* bytes of "data: {" matched so far (events may span callbacks) */
} stream;

/* Timestamps every SSE event that carries JSON ("data: [DONE]" excluded) as it arrives. */
static size_t on_body(char *p, size_t sz, size_t nmemb, void *ud)
{
    static const char pat[] = "data: {";
    stream *s = ud;
    size_t n = sz * nmemb;
    mc_ns now = mc_now_ns();
    for (size_t i = 0; i < n; i++) {
        s->match = p[i] == pat[s->match] ? s->match + 1 : p[i] == pat[0];
        if (s->match == 7) {
            s->match = 0;
            if (s->n < MAX_TOK + 8)
                s->t[s->n++] = now;
        }
    }
    return n;
}

static size_t on_text(char *p, size_t sz, size_t n, void *ud)
{
    mc_buf_append(ud, p, sz * n);
    return sz * n;
}

static char *body_json(int seq)
{
    char *b = mc_malloc(512);
    int k = snprintf(b, 512, "{\"prompt\":[");
    for (int i = 0; i < PROMPT; i++)
        k += snprintf(b + k, (size_t)(512 - k), "%s%d", i ? "," : "", prompt[seq][i]);
    snprintf(b + k, (size_t)(512 - k),
             "],\"max_tokens\":%d,\"temperature\":0,\"ignore_eos\":true,\"stream\":true}",
             O.tokens + 1);
    return b;
}

static CURL *request(stream *s, const char *body)
{
    char url[128];
    snprintf(url, sizeof url, "%s/v1/completions", base);
    memset(s, 0, sizeof *s);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    return c;
}

/* The client saw the last chunk before the scheduler freed the slots: wait until it has (the
 * engine is then the main thread's again). */
static void wait_idle(void)
{
    char url[128];
    snprintf(url, sizeof url, "%s/health", base);
    for (int i = 0; i < 1000; i++) {
        mc_buf b;
        mc_buf_init(&b, 0);
        CURL *c = curl_easy_init();
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_text);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
        int idle = curl_easy_perform(c) == CURLE_OK && b.data &&
                   strstr(b.data, "\"running\":0,\"queued\":0");
        curl_easy_cleanup(c);
        mc_buf_deinit(&b);
        if (idle)
            return;
        usleep(1000);
    }
}

/* Tokens per second of n concurrent streams inside the window where all of them decode. */
static double http_streams(int n)
{
    static stream st[PARALLEL];
    CURL *cs[PARALLEL];
    char *body[PARALLEL];
    CURLM *m = curl_multi_init();
    for (int i = 0; i < n; i++) {
        body[i] = body_json(i);
        cs[i] = request(&st[i], body[i]);
        curl_multi_add_handle(m, cs[i]);
    }
    for (int running = 1; running;) {
        curl_multi_perform(m, &running);
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    mc_ns w0 = 0, w1 = UINT64_MAX;
    for (int i = 0; i < n; i++) {
        /* the first event is the first token; the last is the final (finish) chunk */
        w0 = st[i].n > 2 && st[i].t[0] > w0 ? st[i].t[0] : w0;
        w1 = st[i].n > 2 && st[i].t[st[i].n - 2] < w1 ? st[i].t[st[i].n - 2] : w1;
        curl_multi_remove_handle(m, cs[i]);
        curl_easy_cleanup(cs[i]);
        mc_free(body[i]);
    }
    curl_multi_cleanup(m);
    wait_idle();
    int64_t events = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < st[i].n - 1; k++)
            events += st[i].t[k] > w0 && st[i].t[k] <= w1;
    return w1 > w0 ? (double)events / mc_ns_to_s(w1 - w0) : 0;
}

/* ---- setup ---- */

static const char *model_path(void)
{
    if (O.model)
        return O.model;
    /* bench_engine's model at Q8_0 (with the llama-spm vocabulary; a 512-token synthetic one
     * without it) */
    return mc_bench_moe_model("bench-engine", MC_DT_Q8_0, 512, "bench_serve", g_path,
                              sizeof g_path);
}

static int int_arg(const char *s, int *out)
{
    int64_t v;
    if (mc_parse_i64(s, 1, MAX_TOK, &v) != MC_OK)
        return -1;
    *out = (int)v;
    return 0;
}

static int parse(int argc, char **argv)
{
    static const struct option opts[] = {{"model", 1, 0, 'm'},      {"threads", 1, 0, 't'},
                                         {"reps", 1, 0, 'r'},       {"tokens", 1, 0, 'n'},
                                         {"wait-quiet", 1, 0, 'Q'}, {0, 0, 0, 0}};
    int c, bad = 0;
    while (!bad && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm': O.model = optarg; break;
        case 't': bad = int_arg(optarg, &O.threads); break;
        case 'r': bad = int_arg(optarg, &O.reps); break;
        case 'n': bad = int_arg(optarg, &O.tokens); break;
        case 'Q': bad = mc_parse_f64(optarg, &O.wait_quiet_s) != MC_OK; break;
        default: bad = 1;
        }
    }
    return bad || optind < argc ? -1 : 0;
}

int main(int argc, char **argv)
{
    if (parse(argc, argv)) {
        fprintf(stderr, "usage: bench_serve [--model PATH] [--threads N] [--reps N] [--tokens N] "
                        "[--wait-quiet S]\n");
        return 2;
    }
    mc_bench_commit(g_commit, sizeof g_commit);
    const char *path = model_path();
    mc_engine_opts eo;
    mc_engine_opts_default(&eo);
    eo.model_path = path;
    eo.n_threads = O.threads;
    eo.n_ctx = 1024;
    eo.max_seqs = PARALLEL;
    mc_diag d = {{0}};
    mc_server *s = NULL;
    mc_server_opts so;
    mc_server_opts_default(&so);
    so.port = 0;
    if (!path || mc_srv_backend_engine_open(&eo, &be, &d) || mc_server_new(be, &so, &s, &d) ||
        mc_server_start(s, &d)) {
        fprintf(stderr, "bench_serve: %s\n", path ? d.msg : "no model");
        return 1;
    }
    snprintf(base, sizeof base, "http://127.0.0.1:%d", mc_server_port(s));
    for (int k = 0; k < PARALLEL; k++)
        for (int i = 0; i < PROMPT; i++)
            prompt[k][i] = (int32_t)((i * 97 + 11 + k * 7919) % be->vocab);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    stats eng = {0}, eng4 = {0}, h1 = {0}, h4 = {0};
    engine_decode(1); /* warm-up */
    http_streams(1);
    for (int r = 0; r < O.reps; r++) {
        if (O.wait_quiet_s > 0) /* idle cores, as bench_engine waits for them */
            mc_bench_wait_quiet(O.threads, O.wait_quiet_s);
        add(&eng, engine_decode(1));
        add(&h1, http_streams(1));
        add(&eng4, engine_decode(PARALLEL));
        add(&h4, http_streams(PARALLEL));
    }
    char extra[128];
    /* ratios of medians: a busy moment of a shared machine moves a mean more than a median */
    double r1 = h1.median / eng.median, r4 = h4.median / h1.median;
    emit("engine", 1, &eng, "");
    snprintf(extra, sizeof extra, ",\"of_engine_1\":%.4g", eng4.median / eng.median);
    emit("engine_4", PARALLEL, &eng4, extra);
    snprintf(extra, sizeof extra, ",\"of_engine\":%.4g,\"check\":\"%s\"", r1,
             r1 >= 0.95 ? "ok" : "FAIL");
    emit("http_1", 1, &h1, extra);
    snprintf(extra, sizeof extra, ",\"of_http_1\":%.4g,\"check\":\"%s\"", r4,
             r4 >= 2 ? "ok" : "FAIL");
    emit("http_4", PARALLEL, &h4, extra);
    fprintf(stderr,
            "engine %.2f +- %.2f tok/s, 4 sequences %.2f +- %.2f (%.2fx); http 1 stream %.2f +- "
            "%.2f (%.1f%% of the engine); 4 streams %.2f +- %.2f (%.2fx, %.1f%% of the engine's "
            "4)\n",
            eng.median, eng.sd, eng4.median, eng4.sd, eng4.median / eng.median, h1.median, h1.sd,
            100 * r1, h4.median, h4.sd, r4, 100 * h4.median / eng4.median);
    mc_server_shutdown(s, 5);
    mc_server_free(s);
    mc_srv_backend_engine_close(be);
    curl_global_cleanup();
    return r1 >= 0.95 && r4 >= 2 ? 0 : 1;
}
