/* cmd_bench.c: `moecap bench`: load generator and profiler for any OpenAI-compatible server.
 * Parses and checks every option before anything is sent, prepares the workload (exact prompt
 * lengths through the server's /tokenize when it has one), drives src/loadgen, and hands the
 * per-request timings to src/cap for every statistic (bench_out.c writes the results).
 * Ctrl-C stops sending, keeps what was measured, marks the results partial and exits 1. */
#include "bench_int.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CMD "bench"

void usage_bench(FILE *f)
{
    fprintf(
        f,
        "usage: moecap bench --url URL [options]\n\n"
        "Load generator and profiler for an OpenAI-compatible server (vLLM, SGLang, llama.cpp,\n"
        "moecap serve). Writes DIR/requests.jsonl (one line per request, every timestamp) and\n"
        "DIR/summary.json, and prints a table. Definitions: docs/METRICS.md, docs/LOADGEN.md.\n\n"
        "target:\n"
        "  --url URL               server root, .../v1 or a full endpoint URL\n"
        "  --endpoint E            completions (default) or chat\n"
        "  --model NAME            model id to send (default: the server's /v1/models)\n"
        "  --api-key KEY           bearer token (default: $OPENAI_API_KEY)\n"
        "  --stream | --no-stream  SSE streaming (default) or one JSON response (E2E only)\n"
        "workload (synthetic prompts unless --dataset):\n"
        "  --input-len N|A:B       prompt tokens (default 128); exact via /tokenize\n"
        "  --output-len N|A:B      max_tokens (default 128; with --dataset: where records\n"
        "                          have none, default 256)\n"
        "  --dataset FILE          ShareGPT JSON or JSONL (GSM8K, MMLU-Pro, MT-bench,\n"
        "                          {prompt, max_tokens})\n"
        "  --dataset-format F      auto (default), sharegpt, gsm8k, mmlu-pro, mt-bench, jsonl\n"
        "  --num-prompts N         prompts (synthetic default 100; dataset default all)\n"
        "  --seed S                prompt generation / dataset shuffle / arrivals (default 0)\n"
        "  --tokenize auto|off|require   count prompt tokens with the server's /tokenize\n"
        "  --ignore-eos | --no-ignore-eos   (default on for synthetic prompts)\n"
        "  --temperature T         (default 0)\n"
        "load (closed loop with --concurrency 1 unless told otherwise):\n"
        "  --concurrency C         closed loop: C in flight; with --rate: at most C (def. 1000)\n"
        "  --batch B               waves of B requests, each after the previous one finished\n"
        "  --rate R                open loop: R requests/s from a seeded schedule\n"
        "  --burstiness K          gamma shape of the intervals (1 = Poisson, default)\n"
        "  --num-requests N        measured requests (default: one per prompt)\n"
        "  --duration S            stop sending after S seconds\n"
        "  --warmup N              warm-up requests first (not measured)\n"
        "  --ramp-up S             closed: concurrency 1 -> C; open: rate 0 -> R, over S\n"
        "  --timeout S             per request (default 300)\n"
        "  --slo LIST              goodput objectives, e.g. ttft=0.5,tpot=0.05,e2e=10 (s; or\n"
        "                          with an ms suffix: ttft=500ms)\n"
        "output:\n"
        "  --out DIR               results directory (default ./moecap-bench-<time>)\n"
        "  --no-text               do not keep output text in requests.jsonl\n"
        "  --max-text BYTES        output text kept per request (default 64k)\n"
        "  --max-event BYTES       largest SSE event accepted (default 1M)\n"
        "  --max-itl-samples N     ITL gaps kept for statistics (default 10000000)\n"
        "  --json                  print summary.json instead of the table\n");
}

/* ---- options ------------------------------------------------------------------------------- */

static int bad(const char *opt, const char *val, const char *want)
{
    return mc_cli_usage_error(CMD, "%s '%s': %s", opt, val, want);
}

static int u32_arg(const char *opt, const char *v, uint32_t lo, uint32_t hi, uint32_t *out)
{
    int64_t x;
    if (mc_parse_i64(v, lo, hi, &x) != MC_OK) {
        char want[64];
        snprintf(want, sizeof want, "expected an integer in %u..%u", lo, hi);
        return bad(opt, v, want);
    }
    *out = (uint32_t)x;
    return 0;
}

static int pos_arg(const char *opt, const char *v, int allow_zero, double *out)
{
    if (mc_parse_f64(v, out) != MC_OK || *out < 0 || (!allow_zero && *out == 0))
        return bad(opt, v, allow_zero ? "expected a number >= 0" : "expected a number > 0");
    return 0;
}

static int range_arg(const char *opt, const char *v, uint32_t *lo, uint32_t *hi)
{
    char a[32], b[32];
    const char *colon = strchr(v, ':');
    size_t n = colon ? (size_t)(colon - v) : strlen(v);
    if (n >= sizeof a || (colon && strlen(colon + 1) >= sizeof b))
        return bad(opt, v, "expected N or A:B");
    memcpy(a, v, n);
    a[n] = 0;
    snprintf(b, sizeof b, "%s", colon ? colon + 1 : a);
    int64_t x, y;
    if (mc_parse_i64(a, 1, 1000000, &x) || mc_parse_i64(b, 1, 1000000, &y) || x > y)
        return bad(opt, v, "expected N or A:B with 1 <= A <= B <= 1000000");
    *lo = (uint32_t)x;
    *hi = (uint32_t)y;
    return 0;
}

/* "ttft=0.5,tpot=50ms,e2e=10" */
static int slo_arg(const char *v, mc_cap_slo *slo)
{
    char buf[256];
    if (strlen(v) >= sizeof buf)
        return bad("--slo", v, "too long");
    snprintf(buf, sizeof buf, "%s", v);
    char *save = NULL;
    for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        size_t n = eq ? strlen(eq + 1) : 0;
        double scale = n > 2 && strcmp(eq + 1 + n - 2, "ms") == 0 ? 1e-3 : 1;
        if (eq && scale == 1 && n > 1 && eq[n] == 's')
            eq[n] = 0;
        if (eq && scale != 1)
            eq[n - 1] = 0;
        double x;
        if (!eq || mc_parse_f64(eq + 1, &x) != MC_OK || !(x > 0))
            return bad("--slo", v, "expected ttft=S,tpot=S,e2e=S with values > 0");
        *eq = 0;
        double *dst = strcmp(item, "ttft") == 0   ? &slo->ttft_s
                      : strcmp(item, "tpot") == 0 ? &slo->tpot_s
                      : strcmp(item, "e2e") == 0  ? &slo->e2e_s
                                                  : NULL;
        if (!dst)
            return bad("--slo", v, "objectives are ttft, tpot and e2e");
        *dst = x * scale;
    }
    return 0;
}

static int size_arg(const char *opt, const char *v, uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (mc_parse_size(v, out) != MC_OK || *out < lo || *out > hi)
        return bad(opt, v, "expected a size such as 65536, 64k or 1M within limits");
    return 0;
}

enum {
    O_URL = 256,
    O_ENDPOINT,
    O_MODEL,
    O_KEY,
    O_STREAM,
    O_NOSTREAM,
    O_DATASET,
    O_FORMAT,
    O_IN,
    O_OUT_LEN,
    O_PROMPTS,
    O_SEED,
    O_TOKENIZE,
    O_EOS,
    O_NOEOS,
    O_TEMP,
    O_CONC,
    O_BATCH,
    O_RATE,
    O_BURST,
    O_NREQ,
    O_DUR,
    O_WARM,
    O_RAMP,
    O_TIMEOUT,
    O_SLO,
    O_OUTDIR,
    O_NOTEXT,
    O_MAXTEXT,
    O_MAXEVENT,
    O_MAXITL,
    O_JSON
};

static const struct option bench_opts[] = {{"url", required_argument, 0, O_URL},
                                           {"endpoint", required_argument, 0, O_ENDPOINT},
                                           {"model", required_argument, 0, O_MODEL},
                                           {"api-key", required_argument, 0, O_KEY},
                                           {"stream", no_argument, 0, O_STREAM},
                                           {"no-stream", no_argument, 0, O_NOSTREAM},
                                           {"dataset", required_argument, 0, O_DATASET},
                                           {"dataset-format", required_argument, 0, O_FORMAT},
                                           {"input-len", required_argument, 0, O_IN},
                                           {"output-len", required_argument, 0, O_OUT_LEN},
                                           {"num-prompts", required_argument, 0, O_PROMPTS},
                                           {"seed", required_argument, 0, O_SEED},
                                           {"tokenize", required_argument, 0, O_TOKENIZE},
                                           {"ignore-eos", no_argument, 0, O_EOS},
                                           {"no-ignore-eos", no_argument, 0, O_NOEOS},
                                           {"temperature", required_argument, 0, O_TEMP},
                                           {"concurrency", required_argument, 0, O_CONC},
                                           {"batch", required_argument, 0, O_BATCH},
                                           {"rate", required_argument, 0, O_RATE},
                                           {"burstiness", required_argument, 0, O_BURST},
                                           {"num-requests", required_argument, 0, O_NREQ},
                                           {"duration", required_argument, 0, O_DUR},
                                           {"warmup", required_argument, 0, O_WARM},
                                           {"ramp-up", required_argument, 0, O_RAMP},
                                           {"timeout", required_argument, 0, O_TIMEOUT},
                                           {"slo", required_argument, 0, O_SLO},
                                           {"out", required_argument, 0, O_OUTDIR},
                                           {"no-text", no_argument, 0, O_NOTEXT},
                                           {"max-text", required_argument, 0, O_MAXTEXT},
                                           {"max-event", required_argument, 0, O_MAXEVENT},
                                           {"max-itl-samples", required_argument, 0, O_MAXITL},
                                           {"json", no_argument, 0, O_JSON},
                                           {0, 0, 0, 0}};

static int target_opt(bench_args *a, int c, const char *v)
{
    switch (c) {
    case O_URL: a->url = v; return 0;
    case O_MODEL: a->model = v; return 0;
    case O_KEY: a->api_key = v; return 0;
    case O_STREAM: a->stream = 1; return 0;
    case O_NOSTREAM: a->stream = 0; return 0;
    case O_ENDPOINT:
        if (strcmp(v, "completions") != 0 && strcmp(v, "chat") != 0)
            return bad("--endpoint", v, "expected completions or chat");
        a->endpoint = strcmp(v, "chat") == 0 ? MC_LG_CHAT : MC_LG_COMPLETIONS;
        return 0;
    default: return -1;
    }
}

static int workload_opt(bench_args *a, int c, const char *v)
{
    mc_diag d = {{0}};
    switch (c) {
    case O_DATASET: a->dataset = v; return 0;
    case O_FORMAT:
        return mc_lg_dataset_fmt_parse(v, &a->fmt, &d) ? mc_cli_usage_error(CMD, "%s", d.msg) : 0;
    case O_IN: a->have_in = 1; return range_arg("--input-len", v, &a->in_min, &a->in_max);
    case O_OUT_LEN: a->have_out = 1; return range_arg("--output-len", v, &a->out_min, &a->out_max);
    case O_PROMPTS: return u32_arg("--num-prompts", v, 1, 10000000, &a->num_prompts);
    case O_SEED: return mc_parse_u64(v, &a->seed) ? bad("--seed", v, "expected an integer") : 0;
    case O_EOS: a->ignore_eos = 1; return 0;
    case O_NOEOS: a->ignore_eos = 0; return 0;
    case O_TEMP: return pos_arg("--temperature", v, 1, &a->temperature);
    case O_TOKENIZE:
        a->tokenize = strcmp(v, "off") == 0       ? TOK_OFF
                      : strcmp(v, "auto") == 0    ? TOK_AUTO
                      : strcmp(v, "require") == 0 ? TOK_REQUIRE
                                                  : -1;
        return a->tokenize < 0 ? bad("--tokenize", v, "expected auto, off or require") : 0;
    default: return -1;
    }
}

static int load_opt(bench_args *a, int c, const char *v)
{
    switch (c) {
    case O_CONC:
        a->have_concurrency = 1;
        return u32_arg("--concurrency", v, 1, 65536, &a->concurrency);
    case O_BATCH: return u32_arg("--batch", v, 1, 65536, &a->batch);
    case O_RATE: return pos_arg("--rate", v, 0, &a->rate);
    case O_BURST: return pos_arg("--burstiness", v, 0, &a->burstiness);
    case O_NREQ:
        return mc_parse_u64(v, &a->num_requests) || a->num_requests == 0
                   ? bad("--num-requests", v, "expected an integer >= 1")
                   : 0;
    case O_DUR: return pos_arg("--duration", v, 0, &a->duration_s);
    case O_WARM: return u32_arg("--warmup", v, 0, 10000000, &a->warmup);
    case O_RAMP: return pos_arg("--ramp-up", v, 1, &a->ramp_s);
    case O_TIMEOUT: return pos_arg("--timeout", v, 0, &a->timeout_s);
    case O_SLO: a->have_slo = 1; return slo_arg(v, &a->slo);
    default: return -1;
    }
}

static int output_opt(bench_args *a, int c, const char *v)
{
    switch (c) {
    case O_OUTDIR: a->out_dir = v; return 0;
    case O_NOTEXT: a->save_text = 0; return 0;
    case O_JSON: a->json = 1; return 0;
    case O_MAXTEXT: return size_arg("--max-text", v, 0, (uint64_t)1 << 30, &a->max_text);
    case O_MAXEVENT: return size_arg("--max-event", v, 1024, (uint64_t)1 << 30, &a->max_event);
    case O_MAXITL: return size_arg("--max-itl-samples", v, 1, (uint64_t)1 << 32, &a->max_itl);
    default: return -1;
    }
}

static void defaults(bench_args *a)
{
    memset(a, 0, sizeof *a);
    a->stream = 1;
    a->tokenize = TOK_AUTO;
    a->ignore_eos = -1;
    a->in_min = a->in_max = 128;
    a->out_min = a->out_max = 128;
    a->timeout_s = 300;
    a->max_text = 64 << 10;
    a->max_event = 1 << 20;
    a->max_itl = 10000000;
    a->save_text = 1;
    a->api_key = getenv("OPENAI_API_KEY");
    if (a->api_key && !*a->api_key)
        a->api_key = NULL;
}

static int parse_args(int argc, char **argv, bench_args *a)
{
    int c;
    defaults(a);
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", bench_opts, NULL)) != -1) {
        if (c == ':')
            return mc_cli_usage_error(CMD, "%s needs a value", argv[optind - 1]);
        if (c == '?')
            return mc_cli_usage_error(CMD, "unknown option '%s'", argv[optind - 1]);
        int rc = target_opt(a, c, optarg);
        if (rc < 0)
            rc = workload_opt(a, c, optarg);
        if (rc < 0)
            rc = load_opt(a, c, optarg);
        if (rc < 0)
            rc = output_opt(a, c, optarg);
        if (rc != 0)
            return rc < 0 ? mc_cli_usage_error(CMD, "unhandled option") : rc;
    }
    if (optind < argc)
        return mc_cli_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    return 0;
}

/* Option combinations; sets the load model and the defaults that depend on it. */
static int check_args(bench_args *a)
{
    if (!a->url)
        return mc_cli_usage_error(CMD, "--url is required");
    if (a->rate > 0 && a->batch)
        return mc_cli_usage_error(CMD, "--rate and --batch are different load models");
    if (a->batch && a->have_concurrency)
        return mc_cli_usage_error(CMD, "--batch and --concurrency are different load models");
    if (a->batch && a->ramp_s > 0)
        return mc_cli_usage_error(CMD, "--ramp-up applies to --concurrency and --rate");
    if (a->burstiness > 0 && !(a->rate > 0))
        return mc_cli_usage_error(CMD, "--burstiness needs --rate");
    if (a->dataset && a->have_in)
        return mc_cli_usage_error(CMD, "--input-len is for synthetic prompts; a dataset "
                                       "brings its own");
    if (a->dataset && a->out_min != a->out_max)
        return mc_cli_usage_error(CMD, "--output-len with --dataset takes one value");
    if (!a->dataset && a->fmt != MC_LG_DS_AUTO)
        return mc_cli_usage_error(CMD, "--dataset-format needs --dataset");
    a->mode = a->rate > 0 ? MC_LG_OPEN : a->batch ? MC_LG_BATCH : MC_LG_CLOSED;
    if (!a->have_concurrency)
        a->concurrency = a->mode == MC_LG_OPEN ? 1000 : 1;
    if (a->ignore_eos < 0)
        a->ignore_eos = a->dataset == NULL;
    if (a->dataset && !a->have_out)
        a->out_min = a->out_max = 256;
    if (!a->dataset && !a->num_prompts)
        a->num_prompts = 100;
    return 0;
}

/* The results directory must not already hold results (nothing is overwritten). */
static int check_out_dir(bench_state *s)
{
    if (s->a.out_dir) {
        snprintf(s->out_dir, sizeof s->out_dir, "%s", s->a.out_dir);
    } else {
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(s->out_dir, sizeof s->out_dir, "moecap-bench-%Y%m%d-%H%M%S", &tm);
    }
    char p[4200];
    struct stat st;
    snprintf(p, sizeof p, "%s/requests.jsonl", s->out_dir);
    int taken = stat(p, &st) == 0;
    snprintf(p, sizeof p, "%s/summary.json", s->out_dir);
    taken |= stat(p, &st) == 0;
    if (taken)
        return mc_cli_usage_error(CMD, "%s already holds results; give another --out", s->out_dir);
    if (stat(s->out_dir, &st) == 0 && !S_ISDIR(st.st_mode))
        return mc_cli_usage_error(CMD, "--out %s exists and is not a directory", s->out_dir);
    return 0;
}

/* ---- preparing the run --------------------------------------------------------------------- */

static mc_err prepare_model(bench_state *s, mc_diag *d)
{
    if (s->a.model)
        return (s->model = mc_strdup(s->a.model)) ? MC_OK
                                                  : mc_fail(d, MC_ERR_NOMEM, "out of memory");
    mc_err e = mc_lg_probe_model(s->a.url, s->a.api_key, 30, &s->model, d);
    if (e)
        mc_diag_prefix(d, "cannot learn the model id (give --model)");
    return e;
}

static mc_err open_tokenizer(bench_state *s, mc_lg_tokenizer **tk, mc_diag *d)
{
    *tk = NULL;
    if (s->a.tokenize == TOK_OFF)
        return MC_OK;
    mc_diag td = {{0}};
    mc_err e = mc_lg_tokenizer_open(s->a.url, s->model, s->a.api_key, 30, tk, &td);
    if (e && s->a.tokenize == TOK_REQUIRE)
        return mc_fail(d, e, "--tokenize require: %s", td.msg);
    if (e)
        fprintf(stderr, "moecap bench: %s; prompt lengths are approximate (4 chars/token)\n",
                td.msg);
    return MC_OK;
}

static mc_err prepare_workload(bench_state *s, mc_lg_tokenizer *tk, mc_diag *d)
{
    const bench_args *a = &s->a;
    mc_err e = MC_OK;
    if (!a->dataset) {
        mc_lg_synth_opts so = {.n = a->num_prompts,
                               .in_min = a->in_min,
                               .in_max = a->in_max,
                               .out_min = a->out_min,
                               .out_max = a->out_max,
                               .seed = a->seed,
                               .count = tk ? mc_lg_tokenizer_count : NULL,
                               .count_ctx = tk};
        e = mc_lg_workload_synthetic(&s->w, &so, d);
    } else if (tk) {
        e = mc_lg_workload_count(&s->w, mc_lg_tokenizer_count, tk, d);
    }
    s->input_exact = tk != NULL;
    mc_lg_body_opts bo = {.endpoint = a->endpoint,
                          .model = s->model,
                          .stream = a->stream,
                          .ignore_eos = a->ignore_eos,
                          .temperature = a->temperature};
    if (!e)
        e = mc_lg_workload_build(&s->w, &bo, d);
    return e;
}

/* Dataset files are read (and every record checked) before the server is contacted. */
static mc_err load_dataset(bench_state *s, mc_diag *d)
{
    if (!s->a.dataset)
        return MC_OK;
    mc_lg_dataset_opts o = {.fmt = s->a.fmt,
                            .num_prompts = s->a.num_prompts,
                            .seed = s->a.seed,
                            .output_len = s->a.out_min};
    return mc_lg_workload_load(&s->w, s->a.dataset, &o, d);
}

static mc_err make_client(bench_state *s, mc_diag *d)
{
    const bench_args *a = &s->a;
    uint32_t slots = a->mode == MC_LG_BATCH ? a->batch : a->concurrency;
    mc_lg_client_opts co = {.url = s->url,
                            .stream = a->stream,
                            .max_inflight = slots,
                            .timeout_s = a->timeout_s,
                            .max_event_bytes = a->max_event,
                            .max_text_bytes = a->save_text && a->max_text ? a->max_text : 1,
                            .api_key = a->api_key,
                            .on_result = bench_on_result,
                            .ctx = s};
    mc_err e = mc_lg_client_new(&co, &s->client, d);
    s->stamps_s = e ? NULL : mc_mallocarray(65536, sizeof *s->stamps_s);
    if (!e && !s->stamps_s)
        e = mc_fail(d, MC_ERR_NOMEM, "out of memory");
    return e;
}

static mc_err open_results(bench_state *s, mc_diag *d)
{
    mc_err e = mc_mkdirs(s->out_dir, d);
    if (e)
        return e;
    char p[4200];
    snprintf(p, sizeof p, "%s/requests.jsonl", s->out_dir);
    s->req_fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
    if (s->req_fd < 0)
        return mc_fail(d, MC_ERR_IO, "%s: cannot create: %s", p, strerror(errno));
    return MC_OK;
}

/* ---- running ------------------------------------------------------------------------------- */

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = (int)SA_RESETHAND; /* a second Ctrl-C ends the process at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static double cpu_now_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static mc_lg_run_opts run_opts(const bench_state *s)
{
    const bench_args *a = &s->a;
    mc_lg_run_opts o = {
        .mode = a->mode,
        .concurrency = a->concurrency,
        .batch = a->batch,
        .sched = {.rate_per_s = a->rate, .burstiness = a->burstiness, .seed = a->seed},
        .num_requests = a->num_requests,
        .duration_s = a->duration_s,
        .warmup = a->warmup,
        .ramp_up_s = a->ramp_s,
        .stop = &stop_flag};
    if (!o.num_requests && !(o.duration_s > 0))
        o.num_requests = s->w.n ? s->w.n : 1; /* one request per prompt */
    return o;
}

static mc_err run(bench_state *s, mc_diag *d)
{
    mc_lg_run_opts o = run_opts(s);
    s->a.num_requests = o.num_requests;
    s->tty = isatty(STDERR_FILENO);
    stop_flag = 0;
    install_signals();
    double cpu0 = cpu_now_s();
    s->origin = mc_now_ns();
    mc_err e = mc_lg_run(s->client, &s->w, &o, &s->info, d);
    s->cpu_s = cpu_now_s() - cpu0;
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    s->stopped = s->info.stopped;
    if (s->tty)
        fputc('\n', stderr);
    if (!e && s->write_err)
        e = mc_fail(d, s->write_err, "%s", s->write_diag.msg);
    return e;
}

static mc_err finish(bench_state *s, mc_diag *d)
{
    bench_stats st;
    mc_err e = bench_compute(s, &st, d);
    if (e)
        return e;
    cJSON *j = bench_summary_json(s, &st);
    char *text = j ? cJSON_Print(j) : NULL;
    cJSON_Delete(j);
    if (!text)
        return mc_fail(d, MC_ERR_NOMEM, "out of memory writing the summary");
    char p[4200];
    snprintf(p, sizeof p, "%s/summary.json", s->out_dir);
    size_t n = strlen(text);
    mc_buf b;
    mc_buf_init(&b, 0);
    e = mc_buf_append(&b, text, n) || mc_buf_append(&b, "\n", 1)
            ? mc_fail(d, MC_ERR_NOMEM, "out of memory")
            : mc_write_file_atomic(p, b.data, b.len, d);
    if (!e && s->a.json)
        fputs(b.data, stdout);
    else if (!e)
        bench_print_table(s, &st);
    mc_buf_deinit(&b);
    cJSON_free(text);
    return e;
}

/* ---- the command --------------------------------------------------------------------------- */

static void cleanup(bench_state *s)
{
    mc_lg_client_free(s->client);
    if (s->req_fd >= 0)
        close(s->req_fd);
    mc_lg_workload_deinit(&s->w);
    mc_buf_deinit(&s->line);
    mc_free(s->url);
    mc_free(s->model);
    mc_free(s->t);
    mc_free(s->itl);
    mc_free(s->lag);
    mc_free(s->stamps_s);
}

/* Everything that can be checked without the server, then the server-side preparation; no
 * benchmark request is sent before all of it succeeded. */
static mc_err prepare(bench_state *s, mc_diag *d)
{
    mc_lg_tokenizer *tk = NULL;
    mc_err e = load_dataset(s, d);
    if (!e)
        e = prepare_model(s, d);
    if (!e)
        e = open_tokenizer(s, &tk, d);
    if (!e)
        e = prepare_workload(s, tk, d);
    mc_lg_tokenizer_free(tk);
    if (!e)
        e = make_client(s, d);
    if (!e)
        e = open_results(s, d);
    return e;
}

int cmd_bench(int argc, char **argv)
{
    bench_state s;
    memset(&s, 0, sizeof s);
    s.req_fd = -1;
    mc_buf_init(&s.line, 0);
    mc_diag d = {{0}};
    int rc = parse_args(argc, argv, &s.a);
    if (!rc)
        rc = check_args(&s.a);
    mc_lg_run_opts o = run_opts(&s);
    mc_err e = MC_OK;
    if (!rc && (e = mc_lg_run_check(&o, &d)) != MC_OK)
        rc = mc_cli_usage_error(CMD, "%s", d.msg);
    if (!rc && (e = mc_lg_url_endpoint(s.a.url, s.a.endpoint, &s.url, &d)) != MC_OK)
        rc = mc_cli_fail(CMD, e, &d);
    if (!rc)
        rc = check_out_dir(&s);
    if (!rc && ((e = prepare(&s, &d)) || (e = run(&s, &d)) || (e = finish(&s, &d))))
        rc = mc_cli_fail(CMD, e, &d);
    if (!rc && s.stopped) {
        fprintf(stderr, "moecap bench: interrupted; partial results in %s\n", s.out_dir);
        rc = 1;
    } else if (!rc && s.fails[MC_LG_OK] == 0) {
        fprintf(stderr, "moecap bench: no request succeeded (see %s/requests.jsonl)\n", s.out_dir);
        rc = 1;
    }
    cleanup(&s);
    return rc;
}
