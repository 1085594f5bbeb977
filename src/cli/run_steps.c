/* run_steps.c: the steps of `moecap run` for one system (docs/RUN.md): model-info, predict,
 * start `moecap serve` (embedded targets), one `moecap bench` per concurrency or batch size,
 * `moecap eval` per task, stop the server, `moecap eval fidelity` against the reference system.
 * Each step is a child process writing its own directory or file under RUN_DIR/systems/<name>/
 * (docs/RUNDIR.md); a step whose output is complete is skipped by --resume. A failed step is
 * recorded (progress.jsonl, the system's status) and the run goes on. */
#include "run_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STEP_TIMEOUT_S 3600.0

mc_err run_join(char *out, size_t cap, const char *a, const char *b, mc_diag *d)
{
    int n = snprintf(out, cap, "%s/%s", a, b);
    if (n < 0 || (size_t)n >= cap)
        return mc_fail(d, MC_ERR_RANGE, "path too long: %s/%s", a, b);
    return MC_OK;
}

cJSON *run_read_json(const char *path)
{
    char *buf = NULL;
    size_t len = 0;
    if (mc_read_file(path, 256u << 20, &buf, &len, NULL) != MC_OK)
        return NULL;
    cJSON *j = cJSON_ParseWithLength(buf, len);
    mc_free(buf);
    return j;
}

int run_step_complete(const char *dir)
{
    char p[RUN_PATH];
    if (run_join(p, sizeof p, dir, "summary.json", NULL))
        return 0;
    cJSON *j = run_read_json(p);
    int ok = j && cJSON_IsObject(j) && !cJSON_IsTrue(cJSON_GetObjectItem(j, "partial"));
    cJSON_Delete(j);
    return ok;
}

static int file_complete(const char *path)
{
    cJSON *j = run_read_json(path);
    int ok = j != NULL;
    cJSON_Delete(j);
    return ok;
}

/* Removes an incomplete step directory (its files; step directories are flat). */
static void remove_step_dir(const char *dir)
{
    DIR *dp = opendir(dir);
    if (!dp)
        return;
    struct dirent *e;
    char p[RUN_PATH];
    while ((e = readdir(dp)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
            run_join(p, sizeof p, dir, e->d_name, NULL) == MC_OK)
            unlink(p);
    closedir(dp);
    rmdir(dir);
}

void run_progress(run_ctx *c, const char *step, const char *sys, const char *status,
                  double seconds, const char *msg)
{
    cJSON *j = cJSON_CreateObject();
    char path[RUN_PATH];
    cJSON_AddStringToObject(j, "step", step);
    if (sys)
        cJSON_AddStringToObject(j, "system", sys);
    else
        cJSON_AddNullToObject(j, "system");
    cJSON_AddStringToObject(j, "status", status);
    cJSON_AddNumberToObject(j, "seconds", round(seconds * 1000) / 1000);
    cJSON_AddStringToObject(j, "message", msg ? msg : "");
    char *line = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (line && run_join(path, sizeof path, c->dir, "progress.jsonl", NULL) == MC_OK) {
        size_t n = strlen(line);
        line[n] = '\n'; /* replaces the NUL: one write() of the whole line */
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            ssize_t w = write(fd, line, n + 1);
            (void)w;
            close(fd);
        }
        line[n] = 0;
    }
    cJSON_free(line);
    if (strcmp(status, "started") == 0)
        fprintf(stderr, "moecap run: %-8s %-14s ...\n", sys ? sys : "-", step);
    else
        fprintf(stderr, "moecap run: %-8s %-14s %-8s %6.1f s%s%s\n", sys ? sys : "-", step,
                status, seconds, msg && *msg ? "  " : "", msg ? msg : "");
}

/* ---- one step ---- */

typedef struct step {
    const char *name;      /* "perf-c4", "eval-gsm8k", "predict", ... */
    char out[RUN_PATH + 128]; /* the step's directory or file */
    char log[RUN_PATH + 128]; /* systems/<name>/<step>.log */
    int is_dir;
    double t0;
} step;

static double now_s(void)
{
    return mc_ns_to_s(mc_now_ns());
}

static void step_fail(run_ctx *c, run_sys *s, step *st, const char *msg)
{
    if (!s->failed) {
        s->failed = 1;
        snprintf(s->error, sizeof s->error, "%.40s: %.540s", st->name, msg); /* fits error[600] */
    }
    c->partial = 1;
    run_progress(c, st->name, s->s->name, "failed", now_s() - st->t0, msg);
}

/* Prepares a step; 0 = already complete (skipped under --resume), 1 = run it. */
static int step_begin(run_ctx *c, run_sys *s, step *st, const char *name, const char *out,
                      int is_dir)
{
    st->name = name;
    st->is_dir = is_dir;
    st->t0 = now_s();
    run_join(st->out, sizeof st->out, s->dir, out, NULL);
    snprintf(st->log, sizeof st->log, "%s/%s.log", s->dir, name);
    int done = is_dir ? run_step_complete(st->out) : file_complete(st->out);
    if (done && c->resume) {
        run_progress(c, name, s->s->name, "skipped", 0, "complete (resume)");
        return 0;
    }
    if (is_dir)
        remove_step_dir(st->out);
    else
        unlink(st->out);
    unlink(st->log);
    run_progress(c, name, s->s->name, "started", 0, NULL);
    return 1;
}

/* Runs the child for a step and records the outcome. stdout_to_out: the child's stdout is the
 * step's output file (written to a temporary name, renamed on success). */
static int step_run(run_ctx *c, run_sys *s, step *st, const char *const *argv, int stdout_to_out)
{
    char tmp[RUN_PATH + 256];
    snprintf(tmp, sizeof tmp, "%s.tmp", st->out);
    mc_diag d = {{0}};
    int status = -1;
    if (run_child(argv, stdout_to_out ? tmp : NULL, st->log, STEP_TIMEOUT_S, &status, &d)) {
        step_fail(c, s, st, d.msg);
        return 0;
    }
    int ok = status == 0 && (stdout_to_out ? rename(tmp, st->out) == 0
                                           : (!st->is_dir || run_step_complete(st->out)));
    if (!ok) {
        char msg[700];
        unlink(tmp);
        snprintf(msg, sizeof msg, "%s (see %s)",
                 run_interrupted ? "interrupted"
                 : status < 0    ? "killed"
                                 : "exited with an error",
                 st->log + strlen(c->dir) + 1);
        step_fail(c, s, st, msg);
        return 0;
    }
    run_progress(c, st->name, s->s->name, "done", now_s() - st->t0, NULL);
    return 1;
}

static void step_skip(run_ctx *c, run_sys *s, const char *name, const char *why)
{
    run_progress(c, name, s->s->name, "skipped", 0, why);
}

/* As step_run with stdout to the step's file, but a child that exits with an error is not a
 * failure of the system: the step is "skipped" with the child's last line of stderr (in why). */
static int step_run_soft(run_ctx *c, run_sys *s, step *st, const char *const *argv, char *why,
                         size_t cap)
{
    char tmp[RUN_PATH + 256], line[512];
    snprintf(tmp, sizeof tmp, "%s.tmp", st->out);
    mc_diag d = {{0}};
    int status = -1;
    if (run_child(argv, tmp, st->log, STEP_TIMEOUT_S, &status, &d)) {
        step_fail(c, s, st, d.msg);
        return 0;
    }
    if (status == 0 && rename(tmp, st->out) == 0) {
        run_progress(c, st->name, s->s->name, "done", now_s() - st->t0, NULL);
        return 1;
    }
    unlink(tmp);
    run_last_line(st->log, line, sizeof line);
    snprintf(why, cap, "%s", line[0] ? line : "exited with an error");
    step_skip(c, s, st->name, why);
    return 0;
}

/* ---- argv building ---- */

typedef struct argv_b {
    const char *v[96];
    size_t n;
    char nums[24][24]; /* storage for formatted numbers */
    size_t n_nums;
} argv_b;

static void arg(argv_b *a, const char *s)
{
    if (a->n + 1 < sizeof a->v / sizeof a->v[0])
        a->v[a->n++] = s;
    a->v[a->n] = NULL;
}

static void arg_int(argv_b *a, const char *opt, int64_t v)
{
    if (a->n_nums == sizeof a->nums / sizeof a->nums[0])
        return;
    char *buf = a->nums[a->n_nums++];
    snprintf(buf, sizeof a->nums[0], "%lld", (long long)v);
    arg(a, opt);
    arg(a, buf);
}

static int64_t max_point(const run_ctx *c)
{
    int64_t m = 1;
    for (size_t i = 0; i < c->n_points; i++)
        m = c->points[i] > m ? c->points[i] : m;
    return m;
}

/* ---- the steps ---- */

static void step_model_info(run_ctx *c, run_sys *s)
{
    step st;
    if (!s->cap_model[0])
        return step_skip(c, s, "model-info", "no model description (set cap_model)");
    if (!step_begin(c, s, &st, "model-info", "model-info.json", 0))
        return;
    const char *argv[] = {"model-info", s->cap_model, "--json", NULL};
    step_run(c, s, &st, argv, 1);
}

/* A system with an expert cache: predict models it (predict.tpot_offload) with the slow tier
 * the run measured (probe-slow-tier.json; without it predict falls back on the hardware entry's
 * and says so when that has none). bw: storage for the formatted bandwidth. */
static void cache_args(const run_ctx *c, const run_sys *s, argv_b *a, char *bw, size_t cap)
{
    if (s->cache_mb < 0)
        return;
    arg_int(a, "--expert-cache-mb", s->cache_mb);
    if (s->s->expert_cache_policy) {
        arg(a, "--cache-policy");
        arg(a, s->s->expert_cache_policy);
    }
    if (c->slow_Bps > 0) {
        snprintf(bw, cap, "%.6g", c->slow_Bps / 1e9);
        arg(a, "--slow-bw");
        arg(a, bw);
    }
}

static void step_predict(run_ctx *c, run_sys *s)
{
    step st;
    if (!s->cap_model[0] || !c->hardware[0])
        return step_skip(c, s, "predict", "needs a model description and a hardware name");
    if (!step_begin(c, s, &st, "predict", "predict.json", 0))
        return;
    char sweep[512] = "batch=";
    for (size_t i = 0; i < c->n_points; i++)
        snprintf(sweep + strlen(sweep), sizeof sweep - strlen(sweep), "%s%lld", i ? "," : "",
                 (long long)c->points[i]);
    argv_b a = {.n = 0};
    arg(&a, "predict");
    arg(&a, "--model");
    arg(&a, s->cap_model);
    arg(&a, "--hardware");
    arg(&a, c->hardware);
    arg(&a, "--sweep");
    arg(&a, sweep);
    arg_int(&a, "--input-len", c->input_len);
    arg_int(&a, "--output-len", c->output_len);
    char bw[32];
    cache_args(c, s, &a, bw, sizeof bw);
    arg(&a, "--json");
    step_run(c, s, &st, a.v, 1);
}

static void step_perf(run_ctx *c, run_sys *s, int64_t point)
{
    step st;
    char name[48];
    snprintf(name, sizeof name, "perf-%c%lld", c->batch_mode ? 'b' : 'c', (long long)point);
    if (!step_begin(c, s, &st, name, name, 1))
        return;
    argv_b a = {.n = 0};
    arg(&a, "bench");
    arg(&a, "--url");
    arg(&a, s->url);
    if (!s->embedded && s->s->model) {
        arg(&a, "--model");
        arg(&a, s->s->model);
    }
    arg_int(&a, c->batch_mode ? "--batch" : "--concurrency", point);
    arg_int(&a, "--num-requests", c->num_requests);
    arg_int(&a, "--num-prompts", c->num_requests);
    arg_int(&a, "--input-len", c->input_len);
    arg_int(&a, "--output-len", c->output_len);
    arg_int(&a, "--warmup", c->warmup);
    arg_int(&a, "--seed", c->seed);
    arg(&a, "--server-data");
    arg(&a, c->cfg->profiling_only == 1 ? "off" : "auto");
    if (s->cap_model[0]) {
        arg(&a, "--cap-model");
        arg(&a, s->cap_model);
        if (c->hardware[0]) {
            arg(&a, "--hardware");
            arg(&a, c->hardware);
        }
    }
    arg(&a, "--out");
    arg(&a, st.out);
    arg(&a, "--json");
    step_run(c, s, &st, a.v, 0);
}

/* The p50 of latency.<what> in a bench summary.json; NAN when absent. */
static double summary_p50(const cJSON *sum, const char *what)
{
    const cJSON *v = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(sum, "latency"), what), "p50");
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* Is dir/name at least as new as the file `than` (both present)? */
static int newer_than(const char *dir, const char *name, const char *than)
{
    char p[RUN_PATH + 64];
    struct stat a, b;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &a) == 0 && stat(than, &b) == 0 &&
           (a.st_mtim.tv_sec > b.st_mtim.tv_sec ||
            (a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec >= b.st_mtim.tv_nsec));
}

/* predict-calibrated.json: `moecap predict` with the efficiency factors calibrated on the
 * headline perf point (its measured p50 TPOT and TTFT, predict.calibrate), predicting every
 * point. --resume skips it only when it is newer than the headline point's summary.json.
 * A refusal (a measurement faster than the roofline at peak) is a note, not a failure. */
static void step_calibrate(run_ctx *c, run_sys *s)
{
    char name[48], p[RUN_PATH + 64], sweep[512] = "batch=", why[700];
    if (!s->cap_model[0] || !c->hardware[0])
        return step_skip(c, s, "predict-calibrated", "needs a model description and a hardware "
                                                     "name");
    snprintf(name, sizeof name, "perf-%c%lld", c->batch_mode ? 'b' : 'c', (long long)c->points[0]);
    snprintf(p, sizeof p, "%s/%s/summary.json", s->dir, name);
    cJSON *sum = run_read_json(p);
    double tpot = summary_p50(sum, "latency.tpot"), ttft = summary_p50(sum, "latency.ttft");
    cJSON_Delete(sum);
    if (!(tpot > 0) && !(ttft > 0))
        return step_skip(c, s, "predict-calibrated", "no measured TPOT or TTFT at the headline "
                                                     "point");
    step st;
    int resume = c->resume;
    c->resume = resume && newer_than(s->dir, "predict-calibrated.json", p);
    int run = step_begin(c, s, &st, "predict-calibrated", "predict-calibrated.json", 0);
    c->resume = resume;
    if (!run)
        return;
    for (size_t i = 0; i < c->n_points; i++)
        snprintf(sweep + strlen(sweep), sizeof sweep - strlen(sweep), "%s%lld", i ? "," : "",
                 (long long)c->points[i]);
    argv_b a = {.n = 0};
    const char *pv[] = {"predict", "--model", s->cap_model, "--hardware", c->hardware,
                        "--sweep", sweep, "--json"};
    for (size_t k = 0; k < sizeof pv / sizeof pv[0]; k++)
        arg(&a, pv[k]);
    arg_int(&a, "--batch", c->points[0]);
    arg_int(&a, "--input-len", c->input_len);
    arg_int(&a, "--output-len", c->output_len);
    char num[2][40];
    snprintf(num[0], sizeof num[0], "%.9g", tpot);
    snprintf(num[1], sizeof num[1], "%.9g", ttft);
    if (tpot > 0) {
        arg(&a, "--measured-tpot");
        arg(&a, num[0]);
    }
    if (ttft > 0) {
        arg(&a, "--measured-ttft");
        arg(&a, num[1]);
    }
    char bw[32];
    cache_args(c, s, &a, bw, sizeof bw);
    step_run_soft(c, s, &st, a.v, why, sizeof why);
}

/* Where a task's data is, relative to the data directory (probe: a file that must exist). */
static const struct {
    const char *task, *probe, *data;
} task_data[] = {
    {"gsm8k", "gsm8k/test.jsonl", "gsm8k/test.jsonl"},
    {"mmlu-pro", "mmlu_pro/test-00000-of-00003.jsonl", "mmlu_pro/test-*.jsonl"},
    {"hellaswag", "hellaswag/hellaswag_val_full.txt.bz2", "hellaswag/hellaswag_val_full.txt.bz2"},
};

static void step_eval(run_ctx *c, run_sys *s, const char *task)
{
    char name[64], probe[RUN_PATH], data[RUN_PATH];
    snprintf(name, sizeof name, "eval-%s", task);
    size_t i = 0, n = sizeof task_data / sizeof task_data[0];
    while (i < n && strcmp(task_data[i].task, task) != 0)
        i++;
    if (i == n)
        return step_skip(c, s, name, "no data layout known for this task (gsm8k, mmlu-pro, "
                                     "hellaswag)");
    snprintf(probe, sizeof probe, "%s/%s", mc_data_dir(), task_data[i].probe);
    snprintf(data, sizeof data, "%s/%s", mc_data_dir(), task_data[i].data);
    if (access(probe, R_OK) != 0) {
        char why[RUN_PATH + 32];
        snprintf(why, sizeof why, "data absent: %s", probe);
        return step_skip(c, s, name, why);
    }
    step st;
    if (!step_begin(c, s, &st, name, name, 1))
        return;
    argv_b a = {.n = 0};
    const char *ev[] = {"eval", "--url", s->url, "--task", task, "--data", data, "--out", st.out,
                        "--json"};
    for (size_t k = 0; k < sizeof ev / sizeof ev[0]; k++)
        arg(&a, ev[k]);
    if (!s->embedded && s->s->model) {
        arg(&a, "--model");
        arg(&a, s->s->model);
    }
    if (c->eval_limit > 0)
        arg_int(&a, "--limit", c->eval_limit);
    if (c->eval_max_tokens > 0)
        arg_int(&a, "--max-tokens", c->eval_max_tokens);
    if (c->cfg->dataset_subset && strcmp(task, "mmlu-pro") == 0) { /* a category (run_conf.c) */
        arg(&a, "--category");
        arg(&a, c->cfg->dataset_subset);
    }
    arg_int(&a, "--concurrency", max_point(c));
    step_run(c, s, &st, a.v, 0);
}

static run_sys *find_sys(run_ctx *c, const char *name)
{
    for (size_t i = 0; name && i < c->n_sys; i++)
        if (strcmp(c->sys[i].s->name, name) == 0)
            return &c->sys[i];
    return NULL;
}

static void step_fidelity(run_ctx *c, run_sys *s)
{
    run_sys *ref = find_sys(c, c->cfg->eval.fidelity_reference);
    if (!ref)
        return;
    const char *r = ref->embedded ? ref->gguf : ref->url, *k = s->embedded ? s->gguf : s->url;
    if (ref->embedded != s->embedded)
        return step_skip(c, s, "fidelity", "reference and candidate must both be GGUF files or "
                                           "both servers");
    if (s->failed)
        return step_skip(c, s, "fidelity", "the system failed");
    char dir[RUN_PATH];
    run_join(dir, sizeof dir, s->dir, "fidelity", NULL);
    step st;
    if (!step_begin(c, s, &st, "fidelity", "fidelity/summary.json", 0))
        return;
    mc_mkdirs(dir, NULL);
    argv_b a = {.n = 0};
    const char *fv[] = {"eval", "fidelity", "--reference", r, "--candidate", k, "--json"};
    for (size_t i = 0; i < sizeof fv / sizeof fv[0]; i++)
        arg(&a, fv[i]);
    if (!s->embedded && ref->s->model && s->s->model) {
        arg(&a, "--reference-model");
        arg(&a, ref->s->model);
        arg(&a, "--candidate-model");
        arg(&a, s->s->model);
    }
    arg_int(&a, "--tokens", c->fid_tokens);
    if (s->s->threads > 0)
        arg_int(&a, "--threads", s->s->threads);
    if (c->fid_text[0]) {
        arg(&a, "--data");
        arg(&a, c->fid_text);
    }
    step_run(c, s, &st, a.v, 1);
}

/* ---- the server ---- */

static int needs_server(run_ctx *c, run_sys *s)
{
    char p[RUN_PATH];
    for (size_t i = 0; i < c->n_points; i++) {
        char name[48];
        snprintf(name, sizeof name, "perf-%c%lld", c->batch_mode ? 'b' : 'c',
                 (long long)c->points[i]);
        run_join(p, sizeof p, s->dir, name, NULL);
        if (!c->resume || !run_step_complete(p))
            return 1;
    }
    for (size_t i = 0; i < c->cfg->eval.n_tasks; i++) {
        char name[64];
        snprintf(name, sizeof name, "eval-%s", c->cfg->eval.tasks[i]);
        run_join(p, sizeof p, s->dir, name, NULL);
        if (!c->resume || !run_step_complete(p))
            return 1;
    }
    return 0;
}

static int start_server(run_ctx *c, run_sys *s)
{
    step st = {.name = "serve", .t0 = now_s()};
    argv_b a = {.n = 0};
    char log[RUN_PATH];
    run_join(log, sizeof log, s->dir, "serve.log", NULL);
    arg(&a, "-m");
    arg(&a, s->gguf);
    arg_int(&a, "--parallel", s->s->parallel > 0 ? s->s->parallel : max_point(c));
    arg(&a, "--trace-tokens"); /* tokens_per_expert in the records: the report's heat map */
    if (s->s->threads > 0)
        arg_int(&a, "--threads", s->s->threads);
    if (s->cache_mb > 0)
        arg_int(&a, "--expert-cache-mb", s->cache_mb);
    if (s->s->expert_cache_policy) {
        arg(&a, "--expert-cache-policy");
        arg(&a, s->s->expert_cache_policy);
    }
    if (s->s->prefetch > 0)
        arg(&a, "--prefetch");
    run_progress(c, "serve", s->s->name, "started", 0, NULL);
    mc_diag d = {{0}};
    if (run_server_start(a.v, log, 120, &s->server, &d)) {
        step_fail(c, s, &st, d.msg);
        return 0;
    }
    snprintf(s->url, sizeof s->url, "%s", s->server.url);
    char msg[300];
    snprintf(msg, sizeof msg, "listening on %s", s->url);
    run_progress(c, "serve", s->s->name, "done", now_s() - st.t0, msg);
    return 1;
}

void run_system_steps(run_ctx *c, run_sys *s)
{
    mc_mkdirs(s->dir, NULL);
    step_model_info(c, s);
    step_predict(c, s);
    int up = !s->embedded || !needs_server(c, s) || start_server(c, s);
    for (size_t i = 0; up && i < c->n_points && !run_interrupted; i++)
        step_perf(c, s, c->points[i]);
    if (up && !run_interrupted)
        step_calibrate(c, s);
    for (size_t i = 0; up && i < c->cfg->eval.n_tasks && !run_interrupted; i++)
        step_eval(c, s, c->cfg->eval.tasks[i]);
    run_server_stop(&s->server, 15);
    if (!run_interrupted)
        step_fidelity(c, s);
    mc_diag d = {{0}};
    char ref[RUN_PATH];
    run_join(ref, sizeof ref, s->dir, "moecap-ref", NULL);
    remove_step_dir(ref); /* rewritten whole from the steps' files */
    if (!run_interrupted && run_write_ref(c, s, &d) != MC_OK) {
        step st = {.name = "moecap-ref", .t0 = now_s()};
        step_fail(c, s, &st, d.msg);
    }
}
