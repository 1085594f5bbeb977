/* cmd_eval.c: `moecap eval`: accuracy of an OpenAI-compatible server on evaluation data, with
 * the run's latency and throughput from the same requests. Parses and checks every option,
 * loads the data (and the few-shot split), plans the run (src/eval), checks the server's model
 * id, then runs; eval_out.c writes DIR/items.jsonl as items finish and DIR/summary.json at the
 * end. `moecap eval fidelity` is in cmd_eval_fid.c. Ctrl-C stops, keeps what was scored, marks
 * the summary partial and exits 1. */
#include "eval_int.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CMD "eval"

void usage_eval(FILE *f)
{
    fprintf(
        f,
        "usage: moecap eval --url URL --task TASK --data FILE [options]\n"
        "       moecap eval fidelity --reference URL|GGUF --candidate URL|GGUF [options]\n\n"
        "Accuracy of an OpenAI-compatible server (vLLM, SGLang, llama.cpp, moecap serve) on\n"
        "evaluation data; the same requests give latency and throughput. Writes\n"
        "DIR/items.jsonl (one line per item) and DIR/summary.json. Formats, prompts and rules:\n"
        "docs/EVAL.md; definitions: docs/METRICS.md.\n\n"
        "target:\n"
        "  --url URL               server root, .../v1 or a full endpoint URL\n"
        "  --endpoint E            completions (default) or chat, for generation\n"
        "  --model NAME            model id to send (default: the server's /v1/models)\n"
        "  --api-key KEY           bearer token (default: $OPENAI_API_KEY)\n"
        "task and data:\n"
        "  --task T                gsm8k, mmlu-pro, hellaswag, mmlu, arc, longbench,\n"
        "                          mt-bench, sharegpt (responses recorded, not scored), custom\n"
        "  --data FILE|GLOB        data file; repeat it or quote a glob for several files\n"
        "  --format F              data format when not the task's: auto, gsm8k, mmlu-pro,\n"
        "                          hellaswag, mmlu, arc, longbench, mt-bench, sharegpt, custom\n"
        "  --field KEY=NAME        custom JSONL schema, KEY one of prompt (required), answer,\n"
        "                          id, choices, gold, category, context; NAME may be a.b.c\n"
        "  --limit N               evaluate the first N items\n"
        "  --sample N              evaluate N items drawn at random (see --seed)\n"
        "  --category NAME         only items of this category (MMLU-Pro category, MMLU\n"
        "                          subject, ...; exact), before --limit / --sample\n"
        "  --seed S                seed of --sample and of few-shot draws (default 0)\n"
        "  --strict                a malformed record is an error (default: reported, skipped)\n"
        "prompts and scoring:\n"
        "  --method gen|loglik     generate and extract (default; hellaswag, mmlu and arc:\n"
        "                          loglik = log-likelihood of each choice via echo+logprobs)\n"
        "  --metric M              numeric, letter, exact, f1, longbench, loglik, none\n"
        "                          (default: the task's)\n"
        "  --fewshot K             exemplars per prompt (default 0); never scored items\n"
        "  --fewshot-data FILE     exemplars from this file (mmlu-pro default: validation.jsonl\n"
        "                          beside the data, else in the data directory)\n"
        "  --prompt-style S        default or moecap-ref (the MoE-CAP reference's prompts)\n"
        "  --system TEXT           system prompt (replaces the template's; \"\" = none)\n"
        "sampling and load:\n"
        "  --max-tokens N          (default: gsm8k/mmlu-pro 1024, letters 32, LongBench per\n"
        "                          subset, others 1024)\n"
        "  --temperature T         (default 0)\n"
        "  --top-p P               (default: not sent)\n"
        "  --sampling-seed S       sent as \"seed\" (default: not sent)\n"
        "  --stream | --no-stream  SSE (default; gives TTFT/TPOT) or whole responses\n"
        "  --concurrency C         requests in flight (default 8)\n"
        "  --timeout S             per request (default 600)\n"
        "  --ll-max-tokens 0|1     max_tokens of echo requests (default 1)\n"
        "output:\n"
        "  --out DIR               results directory (default ./moecap-eval-<task>-<time>)\n"
        "  --no-prompt             leave prompts out of items.jsonl\n"
        "  --json                  print summary.json instead of the table\n\n");
    usage_eval_fidelity(f);
}

/* ---- options --------------------------------------------------------------------------------- */

static int bad(const char *opt, const char *val, const char *want)
{
    return mc_cli_usage_error(CMD, "%s '%s': %s", opt, val, want);
}

static int u64_arg(const char *opt, const char *v, uint64_t lo, uint64_t hi, uint64_t *out)
{
    int64_t x;
    if (mc_parse_i64(v, (int64_t)lo, (int64_t)hi, &x) != MC_OK) {
        char want[80];
        snprintf(want, sizeof want, "expected an integer in %llu..%llu", (unsigned long long)lo,
                 (unsigned long long)hi);
        return bad(opt, v, want);
    }
    *out = (uint64_t)x;
    return 0;
}

static int u32_arg(const char *opt, const char *v, uint32_t lo, uint32_t hi, uint32_t *out)
{
    uint64_t x = 0;
    int rc = u64_arg(opt, v, lo, hi, &x);
    *out = (uint32_t)x;
    return rc;
}

static int num_arg(const char *opt, const char *v, double lo, double hi, double *out)
{
    if (mc_parse_f64(v, out) != MC_OK || *out < lo || *out > hi) {
        char want[80];
        snprintf(want, sizeof want, "expected a number in %g..%g", lo, hi);
        return bad(opt, v, want);
    }
    return 0;
}

static int field_arg(eval_args *a, const char *v)
{
    const char *eq = strchr(v, '=');
    if (!eq || eq[1] == 0)
        return bad("--field", v, "expected KEY=NAME");
    size_t k = (size_t)(eq - v);
    const char **dst = k == 6 && !strncmp(v, "prompt", 6)     ? &a->fields.prompt
                       : k == 6 && !strncmp(v, "answer", 6)   ? &a->fields.answer
                       : k == 2 && !strncmp(v, "id", 2)       ? &a->fields.id
                       : k == 7 && !strncmp(v, "choices", 7)  ? &a->fields.choices
                       : k == 4 && !strncmp(v, "gold", 4)     ? &a->fields.gold
                       : k == 8 && !strncmp(v, "category", 8) ? &a->fields.category
                       : k == 7 && !strncmp(v, "context", 7)  ? &a->fields.context
                                                              : NULL;
    if (!dst)
        return bad("--field", v, "KEY is prompt, answer, id, choices, gold, category or context");
    *dst = eq + 1;
    return 0;
}

enum {
    O_URL = 256,
    O_ENDPOINT,
    O_MODEL,
    O_KEY,
    O_TASK,
    O_DATA,
    O_FORMAT,
    O_FIELD,
    O_LIMIT,
    O_SAMPLE,
    O_CATEGORY,
    O_SEED,
    O_STRICT,
    O_METHOD,
    O_METRIC,
    O_FEWSHOT,
    O_FSDATA,
    O_STYLE,
    O_SYSTEM,
    O_MAXTOK,
    O_TEMP,
    O_TOPP,
    O_SSEED,
    O_STREAM,
    O_NOSTREAM,
    O_CONC,
    O_TIMEOUT,
    O_LLMAX,
    O_OUT,
    O_NOPROMPT,
    O_JSON
};

static const struct option eval_opts[] = {{"url", required_argument, 0, O_URL},
                                          {"endpoint", required_argument, 0, O_ENDPOINT},
                                          {"model", required_argument, 0, O_MODEL},
                                          {"api-key", required_argument, 0, O_KEY},
                                          {"task", required_argument, 0, O_TASK},
                                          {"data", required_argument, 0, O_DATA},
                                          {"format", required_argument, 0, O_FORMAT},
                                          {"field", required_argument, 0, O_FIELD},
                                          {"limit", required_argument, 0, O_LIMIT},
                                          {"sample", required_argument, 0, O_SAMPLE},
                                          {"category", required_argument, 0, O_CATEGORY},
                                          {"seed", required_argument, 0, O_SEED},
                                          {"strict", no_argument, 0, O_STRICT},
                                          {"method", required_argument, 0, O_METHOD},
                                          {"metric", required_argument, 0, O_METRIC},
                                          {"fewshot", required_argument, 0, O_FEWSHOT},
                                          {"fewshot-data", required_argument, 0, O_FSDATA},
                                          {"prompt-style", required_argument, 0, O_STYLE},
                                          {"system", required_argument, 0, O_SYSTEM},
                                          {"max-tokens", required_argument, 0, O_MAXTOK},
                                          {"temperature", required_argument, 0, O_TEMP},
                                          {"top-p", required_argument, 0, O_TOPP},
                                          {"sampling-seed", required_argument, 0, O_SSEED},
                                          {"stream", no_argument, 0, O_STREAM},
                                          {"no-stream", no_argument, 0, O_NOSTREAM},
                                          {"concurrency", required_argument, 0, O_CONC},
                                          {"timeout", required_argument, 0, O_TIMEOUT},
                                          {"ll-max-tokens", required_argument, 0, O_LLMAX},
                                          {"out", required_argument, 0, O_OUT},
                                          {"no-prompt", no_argument, 0, O_NOPROMPT},
                                          {"json", no_argument, 0, O_JSON},
                                          {0, 0, 0, 0}};

static int target_opt(eval_args *a, int c, const char *v)
{
    mc_diag d = {{0}};
    switch (c) {
    case O_URL: a->url = v; return 0;
    case O_MODEL: a->model = v; return 0;
    case O_KEY: a->api_key = v; return 0;
    case O_ENDPOINT:
        if (strcmp(v, "completions") != 0 && strcmp(v, "chat") != 0)
            return bad("--endpoint", v, "expected completions or chat");
        a->endpoint = strcmp(v, "chat") == 0 ? MC_LG_CHAT : MC_LG_COMPLETIONS;
        return 0;
    case O_TASK:
        a->have_task = 1;
        return mc_ev_task_parse(v, &a->task, &d) ? mc_cli_usage_error(CMD, "%s", d.msg) : 0;
    default: return -1;
    }
}

static int data_opt(eval_args *a, int c, const char *v)
{
    mc_diag d = {{0}};
    switch (c) {
    case O_DATA:
        if (a->n_data == EVAL_MAX_DATA)
            return mc_cli_usage_error(CMD, "at most %d --data options", EVAL_MAX_DATA);
        a->data[a->n_data++] = v;
        return 0;
    case O_FORMAT:
        return mc_ds_fmt_parse(v, &a->fmt, &d) ? mc_cli_usage_error(CMD, "%s", d.msg) : 0;
    case O_FIELD: return field_arg(a, v);
    case O_LIMIT: return u64_arg("--limit", v, 1, INT64_MAX, &a->limit);
    case O_SAMPLE: return u64_arg("--sample", v, 1, INT64_MAX, &a->sample);
    case O_CATEGORY:
        if (!*v)
            return bad("--category", v, "expected a category name");
        a->category = v;
        return 0;
    case O_SEED: return mc_parse_u64(v, &a->seed) ? bad("--seed", v, "expected an integer") : 0;
    case O_STRICT: a->strict = 1; return 0;
    default: return -1;
    }
}

static int prompt_opt(eval_args *a, int c, const char *v)
{
    mc_diag d = {{0}};
    switch (c) {
    case O_METHOD:
        if (strcmp(v, "gen") != 0 && strcmp(v, "loglik") != 0)
            return bad("--method", v, "expected gen or loglik");
        a->method = strcmp(v, "loglik") == 0 ? MC_EV_LOGLIK : MC_EV_GEN;
        a->have_method = 1;
        return 0;
    case O_METRIC:
        return mc_ev_metric_parse(v, &a->metric, &d) ? mc_cli_usage_error(CMD, "%s", d.msg) : 0;
    case O_FEWSHOT: return u32_arg("--fewshot", v, 0, 64, &a->fewshot);
    case O_FSDATA: a->fewshot_data = v; return 0;
    case O_STYLE:
        if (strcmp(v, "default") != 0 && strcmp(v, "moecap-ref") != 0)
            return bad("--prompt-style", v, "expected default or moecap-ref");
        a->style = strcmp(v, "moecap-ref") == 0 ? MC_EV_STYLE_MOECAP_REF : MC_EV_STYLE_DEFAULT;
        return 0;
    case O_SYSTEM: a->system = v; return 0;
    default: return -1;
    }
}

static int load_opt(eval_args *a, int c, const char *v)
{
    uint64_t x = 0;
    switch (c) {
    case O_MAXTOK: return u32_arg("--max-tokens", v, 1, 10000000, &a->max_tokens);
    case O_TEMP: return num_arg("--temperature", v, 0, 100, &a->temperature);
    case O_TOPP: return num_arg("--top-p", v, 0, 1, &a->top_p);
    case O_SSEED:
        if (u64_arg("--sampling-seed", v, 0, INT64_MAX, &x))
            return 2;
        a->sampling_seed = (int64_t)x;
        return 0;
    case O_STREAM: a->stream = 1; return 0;
    case O_NOSTREAM: a->stream = 0; return 0;
    case O_CONC: return u32_arg("--concurrency", v, 1, 4096, &a->concurrency);
    case O_TIMEOUT: return num_arg("--timeout", v, 0.001, 1e7, &a->timeout_s);
    case O_LLMAX:
        if (u64_arg("--ll-max-tokens", v, 0, 1, &x))
            return 2;
        a->ll_max_tokens = (int)x;
        return 0;
    case O_OUT: a->out_dir = v; return 0;
    case O_NOPROMPT: a->with_prompt = 0; return 0;
    case O_JSON: a->json = 1; return 0;
    default: return -1;
    }
}

static void defaults(eval_args *a)
{
    memset(a, 0, sizeof *a);
    a->stream = 1;
    a->with_prompt = 1;
    a->top_p = -1;
    a->sampling_seed = -1;
    a->timeout_s = 600;
    a->concurrency = 8;
    a->ll_max_tokens = 1;
    a->api_key = getenv("OPENAI_API_KEY");
    if (a->api_key && !*a->api_key)
        a->api_key = NULL;
}

static int parse_args(int argc, char **argv, eval_args *a)
{
    int c;
    defaults(a);
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", eval_opts, NULL)) != -1) {
        if (c == ':')
            return mc_cli_usage_error(CMD, "%s needs a value", argv[optind - 1]);
        if (c == '?')
            return mc_cli_usage_error(CMD, "unknown option '%s'", argv[optind - 1]);
        int rc = target_opt(a, c, optarg);
        if (rc < 0)
            rc = data_opt(a, c, optarg);
        if (rc < 0)
            rc = prompt_opt(a, c, optarg);
        if (rc < 0)
            rc = load_opt(a, c, optarg);
        if (rc != 0)
            return rc < 0 ? mc_cli_usage_error(CMD, "unhandled option") : rc;
    }
    if (optind < argc)
        return mc_cli_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    return 0;
}

static int check_args(eval_args *a)
{
    if (!a->url)
        return mc_cli_usage_error(CMD, "--url is required");
    if (!a->have_task)
        return mc_cli_usage_error(CMD, "--task is required");
    if (a->n_data == 0)
        return mc_cli_usage_error(CMD, "--data is required");
    if (a->limit && a->sample)
        return mc_cli_usage_error(CMD, "--limit and --sample exclude each other");
    if (a->task == MC_EV_CUSTOM && !a->fields.prompt)
        return mc_cli_usage_error(CMD, "--task custom needs --field prompt=NAME");
    if (a->task != MC_EV_CUSTOM && a->fields.prompt)
        return mc_cli_usage_error(CMD, "--field is for --task custom");
    if (!a->have_method)
        a->method = a->task == MC_EV_HELLASWAG || a->task == MC_EV_MMLU || a->task == MC_EV_ARC
                        ? MC_EV_LOGLIK
                        : MC_EV_GEN;
    if (a->method == MC_EV_LOGLIK && a->metric == MC_EV_METRIC_NONE)
        a->metric = MC_EV_METRIC_LOGLIK;
    if (a->fmt == MC_DS_AUTO)
        a->fmt = mc_ev_task_format(a->task);
    if (a->fmt == MC_DS_MMLU && a->task == MC_EV_ARC)
        a->fmt = MC_DS_ARC;
    return 0;
}

/* ---- preparing ------------------------------------------------------------------------------ */

static int check_out_dir(eval_state *s)
{
    static const char *const results[] = {"items.jsonl", "summary.json", NULL};
    char prefix[64];
    snprintf(prefix, sizeof prefix, "moecap-eval-%s", mc_ev_task_name(s->a.task));
    return mc_cli_results_dir(CMD, s->a.out_dir, prefix, results, s->out_dir, sizeof s->out_dir);
}

static mc_err expand_data(eval_state *s, mc_diag *d)
{
    for (size_t i = 0; i < s->a.n_data; i++) {
        char **p = NULL;
        size_t n = 0;
        mc_err e = mc_ds_glob(s->a.data[i], &p, &n, d);
        char **all = e ? NULL : mc_reallocarray(s->paths, s->n_paths + n, sizeof *all);
        if (!e && !all)
            e = mc_fail(d, MC_ERR_NOMEM, "out of memory");
        if (e) {
            mc_ds_paths_free(p, n);
            return e;
        }
        s->paths = all;
        memcpy(s->paths + s->n_paths, p, n * sizeof *p);
        s->n_paths += n;
        mc_free(p);
    }
    return MC_OK;
}

static int same_file(const char *a, const char *b)
{
    struct stat x, y;
    return stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

/* MMLU-Pro few-shot default: validation.jsonl beside the data, else in the data directory. */
static void default_fewshot(eval_state *s)
{
    if (s->a.fewshot_data) {
        s->fewshot_path = mc_strdup(s->a.fewshot_data);
        return;
    }
    if (s->a.task != MC_EV_MMLU_PRO || s->a.fewshot == 0)
        return;
    char cand[2][4200];
    const char *slash = strrchr(s->paths[0], '/');
    snprintf(cand[0], sizeof cand[0], "%.*s%svalidation.jsonl",
             slash ? (int)(slash - s->paths[0]) : 0, s->paths[0], slash ? "/" : "");
    snprintf(cand[1], sizeof cand[1], "%s/mmlu_pro/validation.jsonl", mc_data_dir());
    for (int k = 0; k < 2; k++) {
        int is_data = 0;
        for (size_t i = 0; i < s->n_paths; i++)
            is_data |= same_file(cand[k], s->paths[i]);
        if (!is_data && access(cand[k], R_OK) == 0) {
            s->fewshot_path = mc_strdup(cand[k]);
            return;
        }
    }
}

static mc_err load_data(eval_state *s, mc_diag *d)
{
    const eval_args *a = &s->a;
    mc_ds_opts o = {.fmt = a->fmt,
                    .strict = a->strict,
                    .limit = a->limit,
                    .sample = a->sample,
                    .seed = a->seed,
                    .category = a->category,
                    .fields = a->fields};
    mc_err e = expand_data(s, d);
    if (!e)
        e = mc_ds_load((const char *const *)s->paths, s->n_paths, &o, &s->ds, d);
    if (e)
        return e;
    default_fewshot(s);
    if (!s->fewshot_path)
        return MC_OK;
    for (size_t i = 0; i < s->n_paths; i++)
        if (same_file(s->fewshot_path, s->paths[i]))
            return mc_fail(d, MC_ERR_ARG, "--fewshot-data %s is also an evaluated file",
                           s->fewshot_path);
    mc_ds_opts so = {.fmt = a->fmt, .strict = a->strict, .fields = a->fields};
    const char *p = s->fewshot_path;
    return mc_ds_load(&p, 1, &so, &s->shots, d);
}

/* Size and SHA-256 of every data file (and the few-shot file). */
static mc_err hash_files(eval_state *s, mc_diag *d)
{
    size_t n = s->n_paths + (s->fewshot_path != NULL);
    s->files = mc_calloc(n, sizeof *s->files);
    if (!s->files)
        return mc_fail(d, MC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        eval_file *f = &s->files[s->n_files++];
        f->path = mc_strdup(i < s->n_paths ? s->paths[i] : s->fewshot_path);
        struct stat st;
        if (!f->path)
            return mc_fail(d, MC_ERR_NOMEM, "out of memory");
        f->bytes = stat(f->path, &st) == 0 ? (uint64_t)st.st_size : 0;
        mc_err e = mc_ev_sha256_file(f->path, f->sha256, d);
        if (e)
            return e;
    }
    return MC_OK;
}

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static mc_err plan(eval_state *s, mc_diag *d)
{
    const eval_args *a = &s->a;
    mc_ev_opts o = {.task = a->task,
                    .method = a->method,
                    .style = a->style,
                    .metric = a->metric,
                    .url = a->url,
                    .endpoint = a->endpoint,
                    .model = s->model,
                    .api_key = a->api_key,
                    .max_tokens = a->max_tokens,
                    .temperature = a->temperature,
                    .top_p = a->top_p,
                    .seed = a->sampling_seed,
                    .stream = a->stream,
                    .concurrency = a->concurrency,
                    .timeout_s = a->timeout_s,
                    .fewshot = a->fewshot,
                    .shot_seed = a->seed,
                    .system = a->system,
                    .ll_max_tokens = a->ll_max_tokens,
                    .stop = &stop_flag,
                    .on_item = eval_on_item,
                    .ctx = s};
    return mc_ev_new(&o, s->ds, s->shots, &s->ev, d);
}

static mc_err open_items(eval_state *s, mc_diag *d)
{
    mc_err e = mc_mkdirs(s->out_dir, d);
    if (e)
        return e;
    char p[4200];
    snprintf(p, sizeof p, "%s/items.jsonl", s->out_dir);
    s->items_fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
    if (s->items_fd < 0)
        return mc_fail(d, MC_ERR_IO, "%s: cannot create: %s", p, strerror(errno));
    return MC_OK;
}

static mc_err run(eval_state *s, mc_diag *d)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = (int)SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    stop_flag = 0;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(s->date, sizeof s->date, "%Y-%m-%dT%H:%M:%SZ", &tm);
    mc_err e = mc_ev_run(s->ev, d);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    s->stopped = mc_ev_stopped(s->ev) || stop_flag;
    if (!e && s->write_err)
        e = mc_fail(d, s->write_err, "%s", s->write_diag.msg);
    return e;
}

/* ---- the command ------------------------------------------------------------------------------
 */

static void cleanup(eval_state *s)
{
    mc_ev_free(s->ev);
    mc_ds_free(s->ds);
    mc_ds_free(s->shots);
    mc_ds_paths_free(s->paths, s->n_paths);
    for (size_t i = 0; i < s->n_files; i++)
        mc_free(s->files[i].path);
    mc_free(s->files);
    mc_free(s->fewshot_path);
    mc_free(s->model);
    if (s->items_fd >= 0)
        close(s->items_fd);
}

/* Everything that can fail before a request is sent; no results directory is made before. */
static mc_err prepare(eval_state *s, mc_diag *d)
{
    mc_err e = load_data(s, d);
    if (!e)
        eval_print_warnings(s);
    if (!e)
        e = hash_files(s, d);
    if (!e)
        e = mc_cli_model_id(s->a.model, s->a.url, s->a.api_key, &s->model, d);
    if (!e)
        e = plan(s, d);
    if (!e)
        e = mc_ev_probe(s->ev, d);
    if (!e)
        e = open_items(s, d);
    return e;
}

int cmd_eval(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "fidelity") == 0)
        return cmd_eval_fidelity(argc - 1, argv + 1);
    eval_state s;
    memset(&s, 0, sizeof s);
    s.items_fd = -1;
    mc_diag d = {{0}};
    int rc = parse_args(argc, argv, &s.a);
    if (!rc)
        rc = check_args(&s.a);
    if (!rc)
        rc = check_out_dir(&s);
    mc_err e = MC_OK;
    if (!rc && ((e = prepare(&s, &d)) || (e = run(&s, &d)) || (e = eval_write_summary(&s, &d))))
        rc = mc_cli_fail(CMD, e, &d);
    const mc_ev_tally *t = s.ev ? mc_ev_total(s.ev) : NULL;
    if (!rc && s.stopped) {
        fprintf(stderr, "moecap eval: interrupted; partial results in %s\n", s.out_dir);
        rc = 1;
    } else if (!rc && t && t->n > 0 && t->failed == t->n) {
        fprintf(stderr, "moecap eval: every request failed (see %s/items.jsonl)\n", s.out_dir);
        rc = 1;
    }
    cleanup(&s);
    return rc;
}
