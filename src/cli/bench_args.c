/* bench_args.c: the options of `moecap bench` and their checks. Every option and every
 * combination is checked here, before anything is sent or written (exit 2 with one line).
 * Depends on the CLI helpers, base and loadgen's option parsers only. */
#include "bench_int.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CMD BENCH_CMD

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
        "  --tokenize M            auto (default): the server's /tokenize, else --tokenizer,\n"
        "                          else approximate; require: exact or fail; local: only\n"
        "                          --tokenizer; off: approximate (4 characters per token)\n"
        "  --tokenizer FILE.gguf   local tokenizer (any GGUF with tokenizer.ggml.* keys)\n"
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
        "several runs:\n"
        "  --sweep P=V1,V2,...     one run per value of P = concurrency, rate or batch, each\n"
        "                          in DIR/sweep-P-V/; DIR/sweep.json and a table of all\n"
        "  --find max-rate         search the highest open-loop rate whose p99 TTFT, TPOT\n"
        "                          (and E2E) meet --slo; start at --rate (default 1);\n"
        "                          --num-requests per probe (default 100, at least 20)\n"
        "  --find-precision P      stop when (high - low) / low <= P (default 0.1)\n"
        "  --find-max-probes N     at most N probes (default 20)\n"
        "server-side data (when the server speaks the moecap recording protocol):\n"
        "  --server-data auto|off  record per-pass data and scrape /metrics around the\n"
        "                          measured window (default auto)\n"
        "  --hardware H[xN]        devices the server runs on: S-MBU / S-MFU from the records\n"
        "  --cap-model M           model description (catalogue name, config.json or .gguf);\n"
        "                          default: --model, when the catalogue knows it\n"
        "  --max-records BYTES     records fetched per run (default 256M)\n"
        "output:\n"
        "  --out DIR               results directory (default ./moecap-bench-<time>)\n"
        "  --no-text               do not keep output text in requests.jsonl\n"
        "  --max-text BYTES        output text kept per request (default 64k)\n"
        "  --max-event BYTES       largest SSE event accepted (default 1M)\n"
        "  --max-itl-samples N     ITL gaps kept for statistics (default 10000000)\n"
        "  --json                  print summary.json (sweep.json, find.json), no table\n");
}

/* ---- single values ------------------------------------------------------------------------- */

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

const char *bench_sweep_name(int sweep)
{
    return sweep == SWEEP_RATE ? "rate" : sweep == SWEEP_BATCH ? "batch" : "concurrency";
}

static int sweep_value(const char *v, const char *item, int sweep, double *x)
{
    if (sweep == SWEEP_RATE)
        return mc_parse_f64(item, x) != MC_OK || !(*x > 0) || *x > 1e7
                   ? bad("--sweep", v, "rates must be numbers > 0")
                   : 0;
    int64_t k;
    if (mc_parse_i64(item, 1, 65536, &k) != MC_OK)
        return bad("--sweep", v, "values must be integers in 1..65536");
    *x = (double)k;
    return 0;
}

/* "concurrency=1,2,4" / "rate=0.5,1" / "batch=8,16" */
static int sweep_arg(const char *v, bench_args *a)
{
    char buf[1024];
    const char *eq = strchr(v, '=');
    if (!eq || strlen(v) >= sizeof buf)
        return bad("--sweep", v, "expected concurrency=V1,V2,..., rate=... or batch=...");
    size_t pn = (size_t)(eq - v);
    a->sweep = pn == 11 && strncmp(v, "concurrency", pn) == 0 ? SWEEP_CONCURRENCY
               : pn == 4 && strncmp(v, "rate", pn) == 0       ? SWEEP_RATE
               : pn == 5 && strncmp(v, "batch", pn) == 0      ? SWEEP_BATCH
                                                              : SWEEP_NONE;
    if (a->sweep == SWEEP_NONE)
        return bad("--sweep", v, "the swept parameter is concurrency, rate or batch");
    snprintf(buf, sizeof buf, "%s", eq + 1);
    a->n_sweep = 0;
    char *save = NULL;
    for (char *it = strtok_r(buf, ",", &save); it; it = strtok_r(NULL, ",", &save)) {
        double x;
        if (a->n_sweep == BENCH_SWEEP_MAX)
            return bad("--sweep", v, "at most 64 values");
        if (sweep_value(v, it, a->sweep, &x))
            return 2;
        for (size_t i = 0; i < a->n_sweep; i++)
            if (a->sweep_v[i] == x)
                return bad("--sweep", v, "a value is repeated");
        a->sweep_v[a->n_sweep++] = x;
    }
    return a->n_sweep ? 0 : bad("--sweep", v, "no values");
}

/* ---- option table -------------------------------------------------------------------------- */

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
    O_TOKENIZER,
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
    O_SWEEP,
    O_FIND,
    O_FIND_PREC,
    O_FIND_PROBES,
    O_SERVER_DATA,
    O_HARDWARE,
    O_CAP_MODEL,
    O_MAX_RECORDS,
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
                                           {"tokenizer", required_argument, 0, O_TOKENIZER},
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
                                           {"sweep", required_argument, 0, O_SWEEP},
                                           {"find", required_argument, 0, O_FIND},
                                           {"find-precision", required_argument, 0, O_FIND_PREC},
                                           {"find-max-probes", required_argument, 0, O_FIND_PROBES},
                                           {"server-data", required_argument, 0, O_SERVER_DATA},
                                           {"hardware", required_argument, 0, O_HARDWARE},
                                           {"cap-model", required_argument, 0, O_CAP_MODEL},
                                           {"max-records", required_argument, 0, O_MAX_RECORDS},
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

static int tokenize_arg(const char *v, int *out)
{
    *out = strcmp(v, "off") == 0       ? TOK_OFF
           : strcmp(v, "auto") == 0    ? TOK_AUTO
           : strcmp(v, "require") == 0 ? TOK_REQUIRE
           : strcmp(v, "local") == 0   ? TOK_LOCAL
                                       : -1;
    return *out < 0 ? bad("--tokenize", v, "expected auto, off, require or local") : 0;
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
    case O_TOKENIZE: return tokenize_arg(v, &a->tokenize);
    case O_TOKENIZER: a->tokenizer = v; return 0;
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

static int multi_opt(bench_args *a, int c, const char *v)
{
    switch (c) {
    case O_SWEEP: return sweep_arg(v, a);
    case O_FIND:
        a->find = strcmp(v, "max-rate") == 0;
        return a->find ? 0 : bad("--find", v, "the one search is max-rate");
    case O_FIND_PREC:
        return mc_parse_f64(v, &a->find_precision) || !(a->find_precision >= 0.001) ||
                       a->find_precision > 1
                   ? bad("--find-precision", v, "expected a fraction in 0.001..1")
                   : 0;
    case O_FIND_PROBES: return u32_arg("--find-max-probes", v, 2, 1000, &a->find_max_probes);
    case O_SERVER_DATA:
        if (strcmp(v, "auto") != 0 && strcmp(v, "off") != 0)
            return bad("--server-data", v, "expected auto or off");
        a->server_data = strcmp(v, "auto") == 0;
        return 0;
    case O_HARDWARE: a->hardware = v; return 0;
    case O_CAP_MODEL: a->cap_model = v; return 0;
    case O_MAX_RECORDS:
        return size_arg("--max-records", v, 4096, (uint64_t)1 << 32, &a->max_records);
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
    a->server_data = 1;
    a->max_records = (uint64_t)256 << 20;
    a->find_precision = 0.1;
    a->find_max_probes = 20;
    a->api_key = getenv("OPENAI_API_KEY");
    if (a->api_key && !*a->api_key)
        a->api_key = NULL;
}

int bench_parse_args(int argc, char **argv, bench_args *a)
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
        int (*const handlers[])(bench_args *, int, const char *) = {
            target_opt, workload_opt, load_opt, multi_opt, output_opt};
        int rc = -1;
        for (size_t i = 0; rc < 0 && i < sizeof handlers / sizeof handlers[0]; i++)
            rc = handlers[i](a, c, optarg);
        if (rc != 0)
            return rc < 0 ? mc_cli_usage_error(CMD, "unhandled option") : rc;
    }
    if (optind < argc)
        return mc_cli_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    return 0;
}

/* ---- combinations -------------------------------------------------------------------------- */

static int check_tokenizer(const bench_args *a)
{
    if (a->tokenize == TOK_LOCAL && !a->tokenizer)
        return mc_cli_usage_error(CMD, "--tokenize local needs --tokenizer FILE.gguf");
    if (a->tokenize == TOK_OFF && a->tokenizer)
        return mc_cli_usage_error(CMD, "--tokenizer with --tokenize off would not be used");
    return 0;
}

static int check_sweep(const bench_args *a)
{
    const char *p = bench_sweep_name(a->sweep);
    if (a->sweep == SWEEP_NONE)
        return 0;
    if (a->find)
        return mc_cli_usage_error(CMD, "--sweep and --find are different experiments");
    if (a->sweep != SWEEP_RATE && a->rate > 0)
        return mc_cli_usage_error(CMD, "--sweep %s runs a %s load model: drop --rate", p,
                                  a->sweep == SWEEP_BATCH ? "fixed-batch" : "closed-loop");
    if (a->sweep == SWEEP_CONCURRENCY && (a->have_concurrency || a->batch))
        return mc_cli_usage_error(CMD, "--sweep concurrency sets the concurrency: drop "
                                       "--concurrency and --batch");
    if (a->sweep == SWEEP_RATE && (a->rate > 0 || a->batch))
        return mc_cli_usage_error(CMD, "--sweep rate sets the rate: drop --rate and --batch");
    if (a->sweep == SWEEP_BATCH && (a->batch || a->have_concurrency || a->ramp_s > 0))
        return mc_cli_usage_error(CMD, "--sweep batch sets the batch: drop --batch, "
                                       "--concurrency and --ramp-up");
    return 0;
}

static int check_find(bench_args *a)
{
    if (!a->find)
        return 0;
    const mc_cap_slo *o = &a->slo;
    if (!a->have_slo || !(o->ttft_s > 0 || o->tpot_s > 0 || o->e2e_s > 0))
        return mc_cli_usage_error(CMD, "--find max-rate needs --slo (ttft, tpot and/or e2e)");
    if (a->batch || a->duration_s > 0)
        return mc_cli_usage_error(CMD, "--find max-rate probes open-loop rates with a number "
                                       "of requests: drop --batch and --duration");
    if (!a->stream && (o->ttft_s > 0 || o->tpot_s > 0))
        return mc_cli_usage_error(CMD, "TTFT and TPOT objectives need --stream");
    if (a->num_requests && a->num_requests < BENCH_FIND_MIN_REQUESTS)
        return mc_cli_usage_error(CMD,
                                  "--find max-rate needs at least %d requests per probe "
                                  "(--num-requests)",
                                  BENCH_FIND_MIN_REQUESTS);
    if (!a->num_requests)
        a->num_requests = 100;
    if (!(a->rate > 0))
        a->rate = 1;
    return 0;
}

/* Option combinations; sets the load model and the defaults that depend on it. */
int bench_check_args(bench_args *a)
{
    if (!a->url)
        return mc_cli_usage_error(CMD, "--url is required");
    if (a->rate > 0 && a->batch)
        return mc_cli_usage_error(CMD, "--rate and --batch are different load models");
    if (a->batch && a->have_concurrency)
        return mc_cli_usage_error(CMD, "--batch and --concurrency are different load models");
    if (a->batch && a->ramp_s > 0)
        return mc_cli_usage_error(CMD, "--ramp-up applies to --concurrency and --rate");
    if (a->burstiness > 0 && !(a->rate > 0) && a->sweep != SWEEP_RATE && !a->find)
        return mc_cli_usage_error(CMD, "--burstiness needs --rate");
    if (a->dataset && a->have_in)
        return mc_cli_usage_error(CMD, "--input-len is for synthetic prompts; a dataset "
                                       "brings its own");
    if (a->dataset && a->out_min != a->out_max)
        return mc_cli_usage_error(CMD, "--output-len with --dataset takes one value");
    if (!a->dataset && a->fmt != MC_LG_DS_AUTO)
        return mc_cli_usage_error(CMD, "--dataset-format needs --dataset");
    int rc = check_tokenizer(a);
    if (!rc)
        rc = check_sweep(a);
    if (!rc)
        rc = check_find(a);
    if (!rc && !a->server_data && a->hardware)
        return mc_cli_usage_error(CMD, "--hardware prices the server's per-pass records: drop "
                                       "--server-data off");
    if (rc)
        return rc;
    a->mode = a->rate > 0 || a->sweep == SWEEP_RATE ? MC_LG_OPEN
              : a->batch || a->sweep == SWEEP_BATCH ? MC_LG_BATCH
                                                    : MC_LG_CLOSED;
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
