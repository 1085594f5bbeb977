/* cmd_bench.c: `moecap bench`: load generator and profiler for any OpenAI-compatible server.
 * Checks every option before anything is sent (bench_args.c), prepares the workload (exact
 * prompt lengths through the server's /tokenize, else a local GGUF tokenizer), drives
 * src/loadgen for one measured run or several (bench_sweep.c), collects server-side data around
 * each measured window (bench_server.c), and hands every number to src/cap (bench_out.c writes
 * the results). Ctrl-C stops sending, keeps what was measured, marks the results partial and
 * exits 1. */
#include "bench_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CMD BENCH_CMD

/* ---- the results directory ----------------------------------------------------------------- */

static int dir_empty_or_absent(const char *path)
{
    DIR *dh = opendir(path);
    if (!dh)
        return errno == ENOENT;
    int empty = 1;
    for (struct dirent *ent; empty && (ent = readdir(dh)) != NULL;)
        empty = strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0;
    closedir(dh);
    return empty;
}

/* A single run's directory must not already hold results; a sweep or a search writes many
 * sub-directories, so its directory must be new or empty. Nothing is ever overwritten. */
static int check_out_dir(bench_state *s)
{
    static const char *const results[] = {"requests.jsonl", "summary.json", NULL};
    int many = s->a.sweep || s->a.find;
    int rc = mc_cli_results_dir(CMD, s->a.out_dir, "moecap-bench", many ? NULL : results,
                                s->top_dir, sizeof s->top_dir);
    if (rc == 0 && many && !dir_empty_or_absent(s->top_dir))
        return mc_cli_usage_error(CMD, "%s is not empty; a sweep or search needs a new --out",
                                  s->top_dir);
    return rc;
}

/* ---- preparing ----------------------------------------------------------------------------- */

/* The prompt token counter: the server's /tokenize (auto, require), else the local tokenizer
 * (--tokenizer), else none (approximate lengths, said on stderr). */
typedef struct counter {
    mc_lg_tokenizer *server;
    bench_ltok *local;
} counter;

static mc_err open_counter(bench_state *s, counter *c, mc_diag *d)
{
    const bench_args *a = &s->a;
    mc_diag td = {{0}};
    mc_err e = MC_OK;
    if (a->tokenize == TOK_AUTO || a->tokenize == TOK_REQUIRE)
        e = mc_lg_tokenizer_open(a->url, s->model, a->api_key, 30, &c->server, &td);
    if (c->server) {
        s->tok_method = TOKM_SERVER;
        return MC_OK;
    }
    if (a->tokenizer) {
        e = bench_ltok_open(a->tokenizer, &c->local, d);
        s->tok_method = e ? TOKM_APPROX : TOKM_LOCAL;
        return e;
    }
    if (e && a->tokenize == TOK_REQUIRE)
        return mc_fail(d, e, "--tokenize require: %s (or give --tokenizer FILE.gguf)", td.msg);
    if (e)
        fprintf(stderr, "moecap bench: %s; prompt lengths are approximate (4 chars/token)\n",
                td.msg);
    s->tok_method = TOKM_APPROX;
    return MC_OK;
}

static mc_err prepare_workload(bench_state *s, const counter *c, mc_diag *d)
{
    const bench_args *a = &s->a;
    mc_lg_count_fn f = c->server ? mc_lg_tokenizer_count : c->local ? bench_ltok_count : NULL;
    void *ctx = c->server ? (void *)c->server : (void *)c->local;
    mc_err e = MC_OK;
    if (!a->dataset) {
        mc_lg_synth_opts so = {.n = a->num_prompts,
                               .in_min = a->in_min,
                               .in_max = a->in_max,
                               .out_min = a->out_min,
                               .out_max = a->out_max,
                               .seed = a->seed,
                               .count = f,
                               .count_ctx = ctx};
        e = mc_lg_workload_synthetic(&s->w, &so, d);
    } else if (f) {
        e = mc_lg_workload_count(&s->w, f, ctx, d);
    }
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

/* Slots for the largest load any run of this command asks for. */
uint32_t bench_slots(const bench_args *a)
{
    uint32_t slots = a->mode == MC_LG_BATCH ? a->batch : a->concurrency;
    if (a->sweep == SWEEP_CONCURRENCY || a->sweep == SWEEP_BATCH)
        for (size_t i = 0; i < a->n_sweep; i++)
            slots = a->sweep_v[i] > slots ? (uint32_t)a->sweep_v[i] : slots;
    return slots ? slots : 1;
}

static mc_err make_client(bench_state *s, mc_diag *d)
{
    const bench_args *a = &s->a;
    mc_lg_client_opts co = {.url = s->url,
                            .stream = a->stream,
                            .max_inflight = bench_slots(a),
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

/* Everything that can be checked without the server, then the server-side preparation; no
 * benchmark request is sent before all of it succeeded. */
static mc_err prepare(bench_state *s, mc_diag *d)
{
    counter c = {0};
    mc_err e = load_dataset(s, d);
    if (!e)
        e = mc_cli_model_id(s->a.model, s->a.url, s->a.api_key, &s->model, d);
    if (!e)
        e = bench_srv_prepare(s, d);
    if (!e)
        e = open_counter(s, &c, d);
    if (!e)
        e = prepare_workload(s, &c, d);
    mc_lg_tokenizer_free(c.server);
    bench_ltok_free(c.local);
    if (!e)
        e = make_client(s, d);
    return e;
}

/* ---- one measured run ---------------------------------------------------------------------- */

volatile sig_atomic_t bench_stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    bench_stop_flag = 1;
}

static void install_signals(int on)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on ? on_signal : SIG_DFL;
    sa.sa_flags = on ? (int)SA_RESETHAND : 0; /* a second Ctrl-C ends the process at once */
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

static mc_lg_run_opts run_opts(bench_state *s)
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
        .stop = &bench_stop_flag,
        .on_measure = s->srv.http ? bench_srv_window_start : NULL,
        .on_measure_ctx = s};
    if (!o.num_requests && !(o.duration_s > 0))
        o.num_requests = s->w.n ? s->w.n : 1; /* one request per prompt */
    return o;
}

static mc_err open_results(bench_state *s, const char *dir, mc_diag *d)
{
    snprintf(s->r.dir, sizeof s->r.dir, "%s", dir);
    mc_err e = mc_mkdirs(dir, d);
    if (e)
        return e;
    char p[4200];
    snprintf(p, sizeof p, "%s/requests.jsonl", dir);
    s->r.req_fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
    if (s->r.req_fd < 0)
        return mc_fail(d, MC_ERR_IO, "%s: cannot create: %s", p, strerror(errno));
    return MC_OK;
}

static mc_err run(bench_state *s, mc_diag *d)
{
    mc_lg_run_opts o = run_opts(s);
    s->a.num_requests = o.num_requests;
    double cpu0 = cpu_now_s();
    s->r.origin = mc_now_ns();
    mc_err e = mc_lg_run(s->client, &s->w, &o, &s->r.info, d);
    s->r.cpu_s = cpu_now_s() - cpu0;
    s->r.stopped = s->r.info.stopped;
    if (s->tty)
        fputc('\n', stderr);
    if (!e && s->r.write_err)
        e = mc_fail(d, s->r.write_err, "%s", s->r.write_diag.msg);
    return e;
}

static mc_err write_summary(bench_state *s, const bench_stats *st, mc_diag *d)
{
    cJSON *j = bench_summary_json(s, st);
    if (!j)
        return mc_fail(d, MC_ERR_NOMEM, "out of memory writing the summary");
    char p[4200];
    snprintf(p, sizeof p, "%s/summary.json", s->r.dir);
    mc_err e = bench_write_json(p, j, 0, d);
    cJSON_Delete(j);
    return e;
}

mc_err bench_run_one(bench_state *s, const char *dir, bench_stats *st, mc_diag *d)
{
    if (s->r.req_fd >= 0)
        close(s->r.req_fd);
    bench_srv_run_deinit(&s->r.srv);
    bench_run_reset(&s->r);
    mc_err e = open_results(s, dir, d);
    if (!e)
        e = run(s, d);
    if (s->r.srv.recording || s->r.srv.have_before) /* also after an error: stop recording */
        bench_srv_window_end(s);
    if (!e)
        e = bench_compute(s, st, d);
    if (!e)
        bench_srv_compute(s);
    if (!e)
        e = write_summary(s, st, d);
    if (s->r.req_fd >= 0)
        close(s->r.req_fd);
    s->r.req_fd = -1;
    return e;
}

/* ---- the command --------------------------------------------------------------------------- */

static void cleanup(bench_state *s)
{
    mc_lg_client_free(s->client);
    if (s->r.req_fd >= 0)
        close(s->r.req_fd);
    bench_srv_run_deinit(&s->r.srv);
    bench_run_reset(&s->r);
    bench_srv_deinit(&s->srv);
    mc_lg_workload_deinit(&s->w);
    mc_buf_deinit(&s->line);
    mc_free(s->url);
    mc_free(s->model);
    mc_free(s->stamps_s);
}

static int single(bench_state *s, mc_diag *d, mc_err *e)
{
    bench_stats st;
    *e = bench_run_one(s, s->top_dir, &st, d);
    if (*e)
        return mc_cli_fail(CMD, *e, d);
    if (s->a.json) {
        cJSON *j = bench_summary_json(s, &st);
        *e = j ? bench_write_json(NULL, j, 1, d) : mc_fail(d, MC_ERR_NOMEM, "out of memory");
        cJSON_Delete(j);
        if (*e)
            return mc_cli_fail(CMD, *e, d);
    } else {
        bench_print_table(s, &st);
    }
    if (s->r.stopped) {
        fprintf(stderr, "moecap bench: interrupted; partial results in %s\n", s->top_dir);
        return 1;
    }
    if (s->r.fails[MC_LG_OK] == 0) {
        fprintf(stderr, "moecap bench: no request succeeded (see %s/requests.jsonl)\n", s->top_dir);
        return 1;
    }
    return 0;
}

static int start(bench_state *s, int argc, char **argv, mc_diag *d)
{
    int rc = bench_parse_args(argc, argv, &s->a);
    if (!rc)
        rc = bench_check_args(&s->a);
    if (rc)
        return rc;
    s->base = s->a;
    if (s->a.sweep) /* every value passed the option check; the first stands for all */
        bench_apply_value(&s->a, s->a.sweep_v[0]);
    mc_lg_run_opts o = run_opts(s);
    s->a = s->base;
    if (mc_lg_run_check(&o, d) != MC_OK)
        return mc_cli_usage_error(CMD, "%s", d->msg);
    mc_err e = mc_lg_url_endpoint(s->a.url, s->a.endpoint, &s->url, d);
    if (e)
        return mc_cli_fail(CMD, e, d);
    return check_out_dir(s);
}

int cmd_bench(int argc, char **argv)
{
    bench_state s;
    memset(&s, 0, sizeof s);
    s.r.req_fd = -1;
    s.label = "";
    mc_buf_init(&s.line, 0);
    mc_diag d = {{0}};
    mc_err e = MC_OK;
    int rc = start(&s, argc, argv, &d);
    if (!rc && (e = prepare(&s, &d)) != MC_OK)
        rc = mc_cli_fail(CMD, e, &d);
    if (!rc) {
        s.tty = isatty(STDERR_FILENO);
        bench_stop_flag = 0;
        install_signals(1);
        rc = s.a.sweep  ? bench_sweep(&s, &d, &e)
             : s.a.find ? bench_find(&s, &d, &e)
                        : single(&s, &d, &e);
        install_signals(0);
    }
    cleanup(&s);
    return rc;
}
