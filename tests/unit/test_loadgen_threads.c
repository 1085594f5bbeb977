/* test_loadgen_threads.c: the load generator's thread-safety contract (loadgen.h): distinct
 * clients may run on distinct threads at the same time, with no shared state but libcurl's
 * one-time global init. Four threads start at once (so the first client creations race for that
 * init), each creates its own client, probes the server and runs a closed loop of good and faulty
 * requests against one shared mock server while the main thread reads the mock's counters. Each
 * thread checks its own results; the totals must add up. Meant to run under ThreadSanitizer
 * (make tsan), where any data race fails it; in a normal build it checks the counts. This is the
 * only test in its executable so that the global init really happens inside the race. */
#include "harness.h"
#include "loadgen.h"
#include "mock_server.h"

#include <pthread.h>
#include <stdio.h>

enum { THREADS = 4, PER_THREAD = 40, PROMPTS = 4 };

typedef struct worker {
    const char *base; /* server root */
    pthread_barrier_t *go;
    uint64_t kinds[MC_LG_FAIL_COUNT_];
    uint64_t results, sent;
    int errors;
    char err[600];
} worker;

static void on_result(const mc_lg_result *r, void *ctx)
{
    worker *w = ctx;
    w->results++;
    if ((unsigned)r->fail < MC_LG_FAIL_COUNT_)
        w->kinds[r->fail]++;
}

static void werr(worker *w, const char *what, const mc_diag *d)
{
    w->errors++;
    snprintf(w->err, sizeof w->err, "%s: %s", what, d->msg);
}

/* prompt i: 0 good, 1 HTTP 500, 2 invalid JSON event, 3 reset mid-stream */
static int build_workload(mc_lg_workload *wl)
{
    static const char *const text[PROMPTS] = {"plain", "[[mock:fault=http500]] x",
                                              "[[mock:fault=bad_json,after=1]] y",
                                              "[[mock:fault=reset_mid,after=2]] z"};
    mc_lg_workload_init(wl);
    for (int i = 0; i < PROMPTS; i++)
        if (mc_lg_workload_add(wl, text[i], strlen(text[i]), 4, NULL) != MC_OK)
            return -1;
    mc_lg_body_opts bo = {.stream = 1, .model = "mock-model"};
    return mc_lg_workload_build(wl, &bo, NULL) == MC_OK ? 0 : -1;
}

static void *work(void *arg)
{
    worker *w = arg;
    mc_diag d = {{0}};
    char url[160];
    char *model = NULL;
    mc_lg_client *c = NULL;
    mc_lg_workload wl;
    snprintf(url, sizeof url, "%s/v1/completions", w->base);
    mc_lg_client_opts co = {.url = url,
                            .stream = 1,
                            .max_inflight = 4,
                            .timeout_s = 10,
                            .on_result = on_result,
                            .ctx = w};
    int wb = build_workload(&wl);
    pthread_barrier_wait(w->go);
    if (mc_lg_client_new(&co, &c, &d) != MC_OK) {
        werr(w, "client", &d);
        goto out;
    }
    if (mc_lg_probe_model(w->base, NULL, 10, &model, &d) != MC_OK || strcmp(model, "mock-model"))
        werr(w, "probe", &d);
    mc_lg_run_opts o = {.mode = MC_LG_CLOSED, .concurrency = 4, .num_requests = PER_THREAD};
    mc_lg_run_info info;
    if (wb != 0 || mc_lg_run(c, &wl, &o, &info, &d) != MC_OK)
        werr(w, "run", &d);
    else
        w->sent = info.sent;
out:
    mc_lg_client_free(c);
    mc_lg_workload_deinit(&wl);
    mc_free(model);
    return NULL;
}

TEST(clients_on_threads)
{
    mc_mock *m = NULL;
    mc_mock_opts mo = {.ttft_ms = 2, .itl_ms = 1, .tokens = 4};
    if (mc_mock_start(&mo, &m, NULL) != MC_OK) {
        HARNESS_FAIL_("mock did not start");
        return;
    }
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, THREADS);
    worker w[THREADS];
    pthread_t th[THREADS];
    memset(w, 0, sizeof w);
    for (int i = 0; i < THREADS; i++) {
        w[i].base = mc_mock_url(m);
        w[i].go = &go;
        CHECK_EQ_INT(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    mc_mock_stats st;
    uint64_t seen = 0;
    for (int k = 0; k < 50; k++) { /* read the counters while the clients run */
        mc_mock_stats_get(m, &st);
        seen = st.generations > seen ? st.generations : seen;
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
    uint64_t total = 0;
    for (int i = 0; i < THREADS; i++) {
        if (w[i].errors)
            HARNESS_FAIL_("thread %d: %s", i, w[i].err);
        CHECK_EQ_INT(w[i].sent, PER_THREAD);
        CHECK_EQ_INT(w[i].results, PER_THREAD);
        CHECK_EQ_INT(w[i].kinds[MC_LG_OK], PER_THREAD / PROMPTS);
        CHECK_EQ_INT(w[i].kinds[MC_LG_FAIL_HTTP_STATUS], PER_THREAD / PROMPTS);
        CHECK_EQ_INT(w[i].kinds[MC_LG_FAIL_MALFORMED], PER_THREAD / PROMPTS);
        CHECK_EQ_INT(w[i].kinds[MC_LG_FAIL_TRUNCATED], PER_THREAD / PROMPTS);
        total += w[i].results;
    }
    mc_mock_stats_get(m, &st);
    CHECK_EQ_INT(total, THREADS * PER_THREAD);
    CHECK_EQ_INT(st.generations, THREADS * PER_THREAD);
    CHECK(seen <= st.generations);
    mc_mock_stop(m);
}

int main(void)
{
    RUN(clients_on_threads);
    return harness_done();
}
