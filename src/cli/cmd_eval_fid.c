/* cmd_eval_fid.c: `moecap eval fidelity`: how closely a candidate (quantised, offloaded, fewer
 * experts...) follows a reference on the same token sequences: mean KL divergence, top-1
 * agreement, perplexity ratio (docs/METRICS.md fidelity.*, docs/EVAL.md section 6). Two
 * servers are compared through top-N log-probabilities, two GGUF files in-process with the
 * engine (full distributions). Prints a table or one JSON document. */
#include "eval_int.h"

#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define CMD "eval fidelity"

void usage_eval_fidelity(FILE *f)
{
    fprintf(f,
            "usage: moecap eval fidelity --reference URL|MODEL.gguf --candidate URL|MODEL.gguf\n"
            "         [--data TEXT | --dataset FILE] [--tokens N] [options]\n\n"
            "Mean KL(P_ref || P_cand) of the next-token distributions, top-1 agreement and the\n"
            "perplexity ratio on the same token sequences. Two servers: top-N log-probabilities\n"
            "of echoed prompts (/v1/completions, echo + logprobs); two GGUF files: in-process\n"
            "with the engine, full distributions.\n\n"
            "  --data TEXT             a plain text file, cut into sequences\n"
            "  --dataset FILE          a data set file (any --format of moecap eval); its items\n"
            "                          become the text (default: GSM8K test in the data dir)\n"
            "  --tokens N              positions to score (default 4096; 0 = all)\n"
            "  --seq-bytes N           longest sequence in bytes (default 2048)\n"
            "  --top N                 top log-probabilities per position over HTTP (default 20)\n"
            "  --reference-model M, --candidate-model M   \"model\" sent to each server\n"
            "  --api-key KEY           bearer token (default: $OPENAI_API_KEY)\n"
            "  --concurrency C         sequences in flight per server (default 4)\n"
            "  --timeout S             per request (default 600)\n"
            "  --threads N             engine threads (default: all)\n"
            "  --json                  print one JSON document\n");
}

typedef struct fid_args {
    const char *ref, *cand, *data, *dataset, *ref_model, *cand_model, *api_key;
    uint64_t tokens, seq_bytes;
    int top_n, json, threads;
    uint32_t concurrency;
    double timeout_s;
} fid_args;

enum {
    F_REF = 256,
    F_CAND,
    F_DATA,
    F_DATASET,
    F_TOKENS,
    F_SEQ,
    F_TOP,
    F_RMODEL,
    F_CMODEL,
    F_KEY,
    F_CONC,
    F_TIMEOUT,
    F_THREADS,
    F_JSON
};

static const struct option fid_opts[] = {{"reference", required_argument, 0, F_REF},
                                         {"candidate", required_argument, 0, F_CAND},
                                         {"data", required_argument, 0, F_DATA},
                                         {"dataset", required_argument, 0, F_DATASET},
                                         {"tokens", required_argument, 0, F_TOKENS},
                                         {"seq-bytes", required_argument, 0, F_SEQ},
                                         {"top", required_argument, 0, F_TOP},
                                         {"reference-model", required_argument, 0, F_RMODEL},
                                         {"candidate-model", required_argument, 0, F_CMODEL},
                                         {"api-key", required_argument, 0, F_KEY},
                                         {"concurrency", required_argument, 0, F_CONC},
                                         {"timeout", required_argument, 0, F_TIMEOUT},
                                         {"threads", required_argument, 0, F_THREADS},
                                         {"json", no_argument, 0, F_JSON},
                                         {0, 0, 0, 0}};

static int int_opt(const char *opt, const char *v, int64_t lo, int64_t hi, int64_t *out)
{
    if (mc_parse_i64(v, lo, hi, out) == MC_OK)
        return 0;
    return mc_cli_usage_error(CMD, "%s '%s': expected an integer in %lld..%lld", opt, v,
                              (long long)lo, (long long)hi);
}

static int one_opt(fid_args *a, int c, const char *v)
{
    int64_t x = 0;
    int rc = 0;
    switch (c) {
    case F_REF: a->ref = v; break;
    case F_CAND: a->cand = v; break;
    case F_DATA: a->data = v; break;
    case F_DATASET: a->dataset = v; break;
    case F_RMODEL: a->ref_model = v; break;
    case F_CMODEL: a->cand_model = v; break;
    case F_KEY: a->api_key = v; break;
    case F_JSON: a->json = 1; break;
    case F_TOKENS: rc = int_opt("--tokens", v, 0, INT64_MAX, &x), a->tokens = (uint64_t)x; break;
    case F_SEQ: rc = int_opt("--seq-bytes", v, 64, 1 << 24, &x), a->seq_bytes = (uint64_t)x; break;
    case F_TOP: rc = int_opt("--top", v, 1, 100, &x), a->top_n = (int)x; break;
    case F_CONC: rc = int_opt("--concurrency", v, 1, 1024, &x), a->concurrency = (uint32_t)x; break;
    case F_THREADS: rc = int_opt("--threads", v, 0, 4096, &x), a->threads = (int)x; break;
    case F_TIMEOUT:
        if (mc_parse_f64(v, &a->timeout_s) != MC_OK || !(a->timeout_s > 0))
            rc = mc_cli_usage_error(CMD, "--timeout '%s': expected a number > 0", v);
        break;
    default: rc = mc_cli_usage_error(CMD, "unhandled option");
    }
    return rc;
}

static int is_url(const char *s)
{
    return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

static int parse(int argc, char **argv, fid_args *a)
{
    memset(a, 0, sizeof *a);
    a->tokens = 4096;
    a->seq_bytes = 2048;
    a->top_n = 20;
    a->concurrency = 4;
    a->timeout_s = 600;
    a->api_key = getenv("OPENAI_API_KEY");
    if (a->api_key && !*a->api_key)
        a->api_key = NULL;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":", fid_opts, NULL)) != -1) {
        if (c == ':')
            return mc_cli_usage_error(CMD, "%s needs a value", argv[optind - 1]);
        if (c == '?')
            return mc_cli_usage_error(CMD, "unknown option '%s'", argv[optind - 1]);
        int rc = one_opt(a, c, optarg);
        if (rc)
            return rc;
    }
    if (optind < argc)
        return mc_cli_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (!a->ref || !a->cand)
        return mc_cli_usage_error(CMD, "--reference and --candidate are required");
    if (a->data && a->dataset)
        return mc_cli_usage_error(CMD, "--data and --dataset exclude each other");
    if (is_url(a->ref) != is_url(a->cand))
        return mc_cli_usage_error(CMD, "compare two servers or two GGUF files (serve a file with "
                                       "'moecap serve' to compare it with a server)");
    return 0;
}

/* The text to score: a plain file, or a data set's items joined by blank lines. */
static mc_err load_text(const fid_args *a, mc_buf *text, mc_diag *d)
{
    if (a->data) {
        char *s = NULL;
        size_t n = 0;
        mc_err e = mc_read_file(a->data, (size_t)1 << 30, &s, &n, d);
        e = e ? e : mc_buf_append(text, s, n) ? mc_fail(d, MC_ERR_NOMEM, "out of memory") : MC_OK;
        mc_free(s);
        return e;
    }
    char def[4200];
    snprintf(def, sizeof def, "%s/gsm8k/test.jsonl", mc_data_dir());
    const char *path = a->dataset ? a->dataset : def;
    mc_ds_opts o = {0};
    mc_ds *ds = NULL;
    mc_err e = mc_ds_load(&path, 1, &o, &ds, d);
    if (e && !a->dataset)
        mc_diag_prefix(d, "no --data or --dataset given and the default text is missing");
    for (size_t i = 0; !e && i < mc_ds_count(ds); i++) {
        const mc_ds_item *it = mc_ds_at(ds, i);
        if (mc_buf_printf(text, "%s%s%s%s%s\n\n", it->text, it->solution ? "\n" : "",
                          it->solution ? it->solution : "",
                          it->solution && it->answer ? "\n#### " : "",
                          it->solution && it->answer ? it->answer : ""))
            e = mc_fail(d, MC_ERR_NOMEM, "out of memory");
    }
    mc_ds_free(ds);
    return e;
}

static void add_num(cJSON *o, const char *k, double v)
{
    if (isnan(v) || isinf(v))
        cJSON_AddNullToObject(o, k);
    else
        cJSON_AddNumberToObject(o, k, v);
}

static void print_json(const fid_args *a, const mc_fid_result *r, size_t nseq, int http)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "command", "eval fidelity");
    cJSON_AddStringToObject(o, "moecap_version", MC_VERSION);
    cJSON_AddStringToObject(o, "definitions", "docs/METRICS.md fidelity.*; docs/EVAL.md section 6");
    cJSON_AddStringToObject(o, "reference", a->ref);
    cJSON_AddStringToObject(o, "candidate", a->cand);
    cJSON_AddStringToObject(o, "method", http ? "http-top-n" : "engine-full");
    add_num(o, "top_n", http ? a->top_n : NAN);
    add_num(o, "sequences", (double)nseq);
    add_num(o, "positions", (double)r->positions);
    cJSON *kl = cJSON_AddObjectToObject(o, "kl");
    add_num(kl, "mean", r->kl_mean);
    add_num(kl, "stderr", r->kl_stderr);
    add_num(kl, "max", r->kl_max);
    add_num(o, "top1_agreement", r->top1_agree);
    cJSON *p = cJSON_AddObjectToObject(o, "perplexity");
    add_num(p, "reference", r->ppl_ref);
    add_num(p, "candidate", r->ppl_cand);
    add_num(p, "ratio", r->ppl_ratio);
    add_num(p, "positions", (double)r->nll_positions);
    if (http) {
        cJSON *t = cJSON_AddObjectToObject(o, "top_n_truncation");
        add_num(t, "reference_mass_outside_list_mean", r->missing_ref_mean);
        add_num(t, "reference_tokens_missing_from_candidate_list", r->cand_missing_frac);
    }
    char *s = cJSON_Print(o);
    if (s)
        printf("%s\n", s);
    cJSON_free(s);
    cJSON_Delete(o);
}

static void print_table(const fid_args *a, const mc_fid_result *r, size_t nseq, int http)
{
    printf("moecap eval fidelity: %s vs %s (%s)\n", a->cand, a->ref,
           http ? "top-N log-probabilities over HTTP" : "full distributions, in-process");
    printf("sequences %zu, positions %llu\n", nseq, (unsigned long long)r->positions);
    printf("KL(ref || cand)   mean %.6g nats (stderr %.2g), max %.6g\n", r->kl_mean, r->kl_stderr,
           r->kl_max);
    printf("top-1 agreement   %.4f\n", r->top1_agree);
    printf("perplexity        ref %.4f, cand %.4f, ratio %.6f\n", r->ppl_ref, r->ppl_cand,
           r->ppl_ratio);
    if (http)
        printf("top-%d lists       reference mass outside its list %.4f (mean); reference tokens "
               "missing from the candidate's list %.4f\n",
               a->top_n, r->missing_ref_mean, r->cand_missing_frac);
}

static volatile sig_atomic_t fid_stop;

static void on_signal(int sig)
{
    (void)sig;
    fid_stop = 1;
}

int cmd_eval_fidelity(int argc, char **argv)
{
    fid_args a;
    int rc = parse(argc, argv, &a);
    if (rc)
        return rc;
    mc_diag d = {{0}};
    mc_buf text;
    mc_buf_init(&text, (size_t)1 << 30);
    mc_fid_texts t = {0};
    mc_err e = load_text(&a, &text, &d);
    if (!e)
        e = mc_fid_texts_split(text.data ? text.data : "", text.len, a.seq_bytes, &t, &d);
    mc_fid_opts o = {.ref = a.ref,
                     .cand = a.cand,
                     .ref_model = a.ref_model,
                     .cand_model = a.cand_model,
                     .api_key = a.api_key,
                     .top_n = a.top_n,
                     .max_tokens = a.tokens,
                     .concurrency = a.concurrency,
                     .timeout_s = a.timeout_s,
                     .threads = a.threads,
                     .stop = &fid_stop};
    mc_fid f;
    mc_fid_init(&f);
    int http = is_url(a.ref);
    fid_stop = 0;
    signal(SIGINT, on_signal);
    if (!e)
        e = http ? mc_fid_run_http(&o, &t, &f, &d) : mc_fid_run_engine(&o, &t, &f, &d);
    signal(SIGINT, SIG_DFL);
    if (!e && f.n == 0)
        e = mc_fail(&d, MC_ERR_FORMAT, "no position was scored (sequences of one token?)");
    mc_fid_result r;
    mc_fid_result_of(&f, &r);
    if (!e && a.json)
        print_json(&a, &r, t.n, http);
    else if (!e)
        print_table(&a, &r, t.n, http);
    rc = e ? mc_cli_fail(CMD, e, &d) : 0;
    mc_fid_texts_deinit(&t);
    mc_buf_deinit(&text);
    return rc;
}
