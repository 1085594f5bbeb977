/* benchutil.c: helpers the bench/ programs share (see benchutil.h): a shell line's output, the
 * commit, waiting for idle cores, mean and sd, the cached random MoE. Prints only on failure
 * (these are programs' helpers, not a library). Depends on base and the model maker only; must
 * not depend on the engine, server or load generator. */
#include "benchutil.h"
#include "makemodel.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void mc_bench_read_line(const char *cmd, char *out, size_t n)
{
    out[0] = 0;
    FILE *f = popen(cmd, "r");
    if (!f)
        return;
    if (fgets(out, (int)n, f))
        out[strcspn(out, "\n")] = 0;
    pclose(f);
}

void mc_bench_commit(char *out, size_t n)
{
    mc_bench_read_line("git -C " MC_SOURCE_DIR " describe --always --dirty 2>/dev/null", out, n);
}

/* CPU time this thread gets while spinning 200 ms of wall time: its share of a core. */
static void *spin(void *arg)
{
    struct timespec c0, c1;
    mc_ns w0 = mc_now_ns();
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    while (mc_now_ns() - w0 < 200000000u)
        ;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    double cpu = (double)(c1.tv_sec - c0.tv_sec) + 1e-9 * (double)(c1.tv_nsec - c0.tv_nsec);
    *(double *)arg = cpu / mc_ns_to_s(mc_now_ns() - w0);
    return NULL;
}

void mc_bench_wait_quiet(int threads, double max_s)
{
    mc_ns give_up = mc_now_ns() + (mc_ns)(max_s * 1e9);
    for (;;) {
        pthread_t t[64];
        double share[64], sum = 0;
        int n = threads < 64 ? threads : 64;
        for (int i = 0; i < n; i++)
            pthread_create(&t[i], NULL, spin, &share[i]);
        for (int i = 0; i < n; i++) {
            pthread_join(t[i], NULL);
            sum += share[i];
        }
        if (sum >= 0.9 * n || mc_now_ns() >= give_up)
            return;
        sleep(2);
    }
}

void mc_bench_mean_sd(const double *v, int n, double *mean, double *sd)
{
    double m = 0, q = 0;
    for (int i = 0; i < n; i++)
        m += v[i];
    m /= n;
    for (int i = 0; i < n; i++)
        q += (v[i] - m) * (v[i] - m);
    *mean = m;
    *sd = n > 1 ? sqrt(q / (n - 1)) : 0;
}

const char *mc_bench_moe_model(const char *subdir, mc_dtype type, int64_t vocab, const char *who,
                               char *path, size_t n)
{
    mc_diag d = {{0}};
    snprintf(path, n, "%s/%s", mc_cache_dir(), subdir);
    if (mc_mkdirs(path, &d) != MC_OK) {
        fprintf(stderr, "%s: %s\n", who, d.msg);
        return NULL;
    }
    snprintf(path, n, "%s/%s/moe-2048x8-e16k2-%s.gguf", mc_cache_dir(), subdir,
             mc_dtype_name(type));
    struct stat st;
    if (stat(path, &st) == 0)
        return path;
    char vocab_file[4096];
    snprintf(vocab_file, sizeof vocab_file, "%s/vocab/ggml-vocab-llama-spm.gguf", mc_data_dir());
    mc_make_opts mo;
    mc_make_opts_default(&mo);
    mo.embd = 2048;
    mo.layers = 8;
    mo.experts = 16;
    mo.top_k = 2;
    mo.ff = 1024;
    mo.heads = 16;
    mo.kv_heads = 4;
    mo.type = type;
    mo.vocab_from = stat(vocab_file, &st) == 0 ? vocab_file : NULL;
    mo.vocab = vocab;
    fprintf(stderr, "%s: writing %s ...\n", who, path);
    if (mc_make_model(&mo, path, &d) != MC_OK) {
        fprintf(stderr, "%s: make-model: %s\n", who, d.msg);
        return NULL;
    }
    return path;
}
