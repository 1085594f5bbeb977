/* cmd_generate.c: `moecap generate`: runs the embedded engine on one prompt and streams the
 * generated text (or token ids for a model without a usable tokenizer), then reports prompt and
 * generated token counts, prefill and decode tokens/s, and the mean distinct experts per MoE layer
 * during decode. Parses options and prints; engine driving is engine_run.c's, the rest the
 * engine's and the tokenizer's. Must not depend on the server or loadgen. */
#include "cli.h"
#include "engine_run.h"
#include "tokenizer.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <string.h>

#define CMD "generate"

void usage_generate(FILE *f)
{
    fprintf(f,
            "usage: moecap generate -m MODEL.gguf (-p PROMPT | --prompt-ids 1,2,3) [-n N]\n"
            "         [--temp T] [--top-k K] [--top-p P] [--seed S] [-t THREADS] [--ctx N]\n"
            "         [--kernels ref|avx2|avxvnni|avx512] [--no-bos] [--ignore-eos] [--json]\n"
            "         [--expert-cache-mb N [--expert-cache-policy lru|lfu|static]\n"
            "          [--expert-profile FILE] [--prefetch] [--no-direct]]\n\n"
            "Generates text with moecap's embedded CPU engine: the prompt is tokenised,\n"
            "prefilled in chunks of up to 512 tokens, then N tokens are decoded one per step\n"
            "and streamed to stdout. Figures go to stderr.\n\n"
            "  -m, --model FILE    GGUF model\n"
            "  -p, --prompt TEXT   prompt text (special-token texts become their ids)\n"
            "  --prompt-ids LIST   prompt as comma-separated token ids (for models without a\n"
            "                      usable tokenizer; output is then token ids)\n"
            "  -n, --n-predict N   tokens to generate (default 64)\n"
            "  --temp T            temperature (default 0 = greedy)\n"
            "  --top-k K           keep the K most likely tokens (default 0 = off)\n"
            "  --top-p P           nucleus sampling (default 1 = off)\n"
            "  --seed S            sampler seed (default 1)\n"
            "  -t, --threads N     threads (default: all CPUs)\n"
            "  --ctx N             KV positions (default min(model context, 4096))\n"
            "  --kernels ISA       ref, avx2, avxvnni or avx512 (default: best here)\n"
            "  --no-bos            do not add the BOS token the vocabulary asks for\n"
            "  --ignore-eos        keep generating after an end-of-generation token\n"
            "  --json              print one JSON document (text, ids, timings, counts)\n"
            ER_XCACHE_USAGE);
}

typedef struct gargs {
    er_open eo;
    const char *prompt, *ids;
    int64_t n;
    mc_sampler smp;
    int no_bos, ignore_eos, json;
} gargs;

enum { O_TEMP = 256, O_TOPK, O_TOPP, O_SEED, O_CTX, O_KERN, O_NOBOS, O_IGN, O_IDS, O_JSON };

static const struct option opts[] = {
    {"model", required_argument, NULL, 'm'},  {"prompt", required_argument, NULL, 'p'},
    {"n-predict", required_argument, NULL, 'n'}, {"threads", required_argument, NULL, 't'},
    {"temp", required_argument, NULL, O_TEMP}, {"top-k", required_argument, NULL, O_TOPK},
    {"top-p", required_argument, NULL, O_TOPP}, {"seed", required_argument, NULL, O_SEED},
    {"ctx", required_argument, NULL, O_CTX},   {"kernels", required_argument, NULL, O_KERN},
    {"no-bos", no_argument, NULL, O_NOBOS},    {"ignore-eos", no_argument, NULL, O_IGN},
    {"prompt-ids", required_argument, NULL, O_IDS}, {"json", no_argument, NULL, O_JSON},
    ER_XCACHE_LONGOPTS, {NULL, 0, NULL, 0}};

/* One numeric option; 0 = ok, else the usage error's exit code. */
static int parse_num(gargs *a, int c)
{
    int64_t v;
    double f;
    int ok = 1;
    if (c == 'n' && (ok = mc_parse_i64(optarg, 0, 1 << 20, &v) == MC_OK))
        a->n = v;
    else if (c == 't' && (ok = mc_parse_i64(optarg, 1, 1024, &v) == MC_OK))
        a->eo.threads = (int)v;
    else if (c == O_CTX && (ok = mc_parse_i64(optarg, 1, 1 << 24, &v) == MC_OK))
        a->eo.ctx = v;
    else if (c == O_TOPK && (ok = mc_parse_i64(optarg, 0, 1 << 24, &v) == MC_OK))
        a->smp.top_k = (int)v;
    else if (c == O_SEED && (ok = mc_parse_u64(optarg, &a->smp.seed) == MC_OK))
        ;
    else if (c == O_TEMP && (ok = mc_parse_f64(optarg, &f) == MC_OK && f >= 0))
        a->smp.temperature = (float)f;
    else if (c == O_TOPP && (ok = mc_parse_f64(optarg, &f) == MC_OK && f > 0 && f <= 1))
        a->smp.top_p = (float)f;
    if (ok)
        return 0;
    const char *name = "?";
    for (const struct option *p = opts; p->name; p++)
        if (p->val == c)
            name = p->name;
    return mc_cli_usage_error(CMD, "--%s: bad value '%s'", name, optarg);
}

static int parse_args(int argc, char **argv, gargs *a)
{
    memset(a, 0, sizeof *a);
    a->n = 64;
    a->eo.max_seqs = 1;
    a->eo.step_tokens = 512;
    mc_sampler_default(&a->smp);
    a->smp.seed = 1;
    optind = 1;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, ":m:p:n:t:", opts, NULL)) != -1;) {
        int rc = er_xcache_opt(&a->eo.xc, c, optarg, CMD);
        if (rc >= 0) {
            if (rc)
                return rc;
            continue;
        }
        rc = 0;
        if (c == 'm')
            a->eo.model = optarg;
        else if (c == 'p')
            a->prompt = optarg;
        else if (c == O_IDS)
            a->ids = optarg;
        else if (c == O_KERN)
            a->eo.kernels = optarg;
        else if (c == O_NOBOS || c == O_IGN || c == O_JSON)
            *(c == O_NOBOS ? &a->no_bos : c == O_IGN ? &a->ignore_eos : &a->json) = 1;
        else if (c == '?' || c == ':')
            return mc_cli_usage_error(CMD, "bad or incomplete option '%s'", argv[optind - 1]);
        else
            rc = parse_num(a, c);
        if (rc)
            return rc;
    }
    if (optind < argc)
        return mc_cli_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (!a->eo.model)
        return mc_cli_usage_error(CMD, "-m MODEL.gguf is required");
    if (!a->prompt == !a->ids)
        return mc_cli_usage_error(CMD, "give exactly one of -p PROMPT and --prompt-ids LIST");
    return er_xcache_check(&a->eo.xc, CMD);
}

/* "1,2,3" -> ids (each in [0, vocab)). */
static mc_err parse_ids(const char *s, int64_t vocab, mc_tok_ids *out, mc_diag *d)
{
    char tmp[32];
    while (*s) {
        size_t len = strcspn(s, ",");
        int64_t v;
        if (len == 0 || len >= sizeof tmp)
            return mc_fail(d, MC_ERR_ARG, "--prompt-ids: bad list near '%.20s'", s);
        memcpy(tmp, s, len);
        tmp[len] = 0;
        if (mc_parse_i64(tmp, 0, vocab - 1, &v) != MC_OK)
            return mc_fail(d, MC_ERR_ARG, "--prompt-ids: '%s' is not a token id in 0..%lld", tmp,
                           (long long)(vocab - 1));
        if (out->n == out->cap) {
            size_t cap = out->cap ? 2 * out->cap : 64;
            int32_t *v2 = mc_realloc(out->v, cap * sizeof *v2);
            if (!v2)
                return mc_fail(d, MC_ERR_NOMEM, "out of memory");
            out->v = v2;
            out->cap = cap;
        }
        out->v[out->n++] = (int32_t)v;
        s += len + (s[len] == ',');
    }
    return out->n ? MC_OK : mc_fail(d, MC_ERR_ARG, "--prompt-ids: empty list");
}

/* The run's state. */
typedef struct gen {
    const gargs *a;
    mc_engine *e;
    const mc_tok *tok; /* NULL: ids mode */
    mc_tok_ids prompt;
    int32_t *out_ids;
    int64_t n_out;
    float *logits;
    er_passes ps;
    mc_tok_stream st;
    mc_buf text, piece;
    double prefill_s, decode_s;
    int64_t decode_steps;
    int stopped_eog;
} gen;

static mc_err prompt_ids(gen *g, mc_diag *d)
{
    const gargs *a = g->a;
    if (a->ids)
        return parse_ids(a->ids, mc_engine_vocab(g->e), &g->prompt, d);
    if (!g->tok)
        return mc_fail(d, MC_ERR_UNSUPPORTED,
                       "%s: no usable tokenizer (%s); pass the prompt as --prompt-ids 1,2,3",
                       a->eo.model, mc_engine_tok_error(g->e) ? mc_engine_tok_error(g->e) : "none");
    unsigned fl = MC_TOK_PARSE_SPECIAL | (a->no_bos ? MC_TOK_NO_BOS_EOS : 0);
    mc_err err = mc_tok_encode(g->tok, NULL, a->prompt, strlen(a->prompt), fl, &g->prompt, d);
    if (err == MC_OK && g->prompt.n == 0)
        err = mc_fail(d, MC_ERR_ARG, "the prompt gives no tokens (empty prompt with --no-bos?)");
    return err;
}

/* Emits token id: streamed text (or the id) to stdout unless --json. */
static mc_err emit(gen *g, int32_t id, mc_diag *d)
{
    g->out_ids[g->n_out++] = id;
    if (!g->tok) {
        if (!g->a->json)
            printf("%s%d", g->n_out > 1 ? " " : "", id);
        fflush(stdout);
        return MC_OK;
    }
    mc_buf_reset(&g->piece);
    mc_err err = mc_tok_stream_feed(g->tok, &g->st, id, &g->piece, d);
    if (err == MC_OK)
        err = mc_buf_append(&g->text, g->piece.data, g->piece.len);
    if (err == MC_OK && !g->a->json && g->piece.len) {
        fwrite(g->piece.data, 1, g->piece.len, stdout);
        fflush(stdout);
    }
    return err;
}

static mc_err run(gen *g, mc_diag *d)
{
    const gargs *a = g->a;
    int64_t np = (int64_t)g->prompt.n;
    if (np + a->n > mc_engine_n_ctx(g->e))
        return mc_fail(d, MC_ERR_ARG, "%lld prompt + %lld new tokens exceed the context of %lld",
                       (long long)np, (long long)a->n, (long long)mc_engine_n_ctx(g->e));
    mc_rng rng;
    mc_rng_seed(&rng, a->smp.seed);
    mc_err err = er_prefill(g->e, 0, g->prompt.v, np, a->eo.step_tokens, g->logits, &g->ps,
                            &g->prefill_s, d);
    for (int64_t i = 0; i < a->n && err == MC_OK; i++) {
        int32_t id = mc_engine_sample(g->e, g->logits, &a->smp, &rng);
        if (g->tok && !a->ignore_eos && mc_tok_is_eog(g->tok, id)) {
            g->stopped_eog = 1;
            break;
        }
        err = emit(g, id, d);
        if (err == MC_OK && i + 1 < a->n) {
            err = er_decode_step(g->e, &id, 1, g->logits, &g->ps, &g->decode_s, d);
            g->decode_steps++;
        }
    }
    if (err == MC_OK && g->tok) {
        mc_buf_reset(&g->piece);
        err = mc_tok_stream_flush(&g->st, &g->piece, d);
        if (err == MC_OK)
            err = mc_buf_append(&g->text, g->piece.data, g->piece.len);
        if (err == MC_OK && !a->json && g->piece.len)
            fwrite(g->piece.data, 1, g->piece.len, stdout);
    }
    return err;
}

static double rate(double n, double s)
{
    return s > 0 ? n / s : 0;
}

static void report_text(const gen *g)
{
    double ex = er_mean_experts(g->ps.v, g->ps.n, 1);
    if (g->tok || g->n_out)
        printf("\n");
    fflush(stdout); /* the text ends before the figures on a shared terminal or file */
    fprintf(stderr,
            "prompt: %zu tokens, %.3f s, %.2f tok/s prefill\n"
            "generated: %lld tokens (%s), %lld decode steps, %.3f s, %.2f tok/s decode\n",
            g->prompt.n, g->prefill_s, rate((double)g->prompt.n, g->prefill_s),
            (long long)g->n_out, g->stopped_eog ? "stopped at end of generation" : "length",
            (long long)g->decode_steps, g->decode_s, rate((double)g->decode_steps, g->decode_s));
    if (isnan(ex))
        fprintf(stderr, "experts per MoE layer in decode: n/a (no decode steps or dense model)\n");
    else
        fprintf(stderr, "experts per MoE layer in decode: %.2f (mean distinct)\n", ex);
    er_xcache_report(stderr, g->e);
}

/* Length of the valid UTF-8 sequence at p[0..n) (1..4), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    size_t len = p[0] < 0x80 ? 1 : p[0] >= 0xC2 && p[0] < 0xE0 ? 2 : p[0] >= 0xE0 && p[0] < 0xF0 ? 3
               : p[0] >= 0xF0 && p[0] < 0xF5 ? 4 : 0;
    if (len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    if ((p[0] == 0xE0 && p[1] < 0xA0) || (p[0] == 0xED && p[1] >= 0xA0) ||
        (p[0] == 0xF0 && p[1] < 0x90) || (p[0] == 0xF4 && p[1] >= 0x90))
        return 0; /* overlong, surrogate or beyond U+10FFFF */
    return len;
}

/* The text as valid UTF-8 for JSON: every byte that starts no valid sequence becomes U+FFFD. */
static cJSON *text_json(const mc_buf *b)
{
    mc_buf o;
    mc_buf_init(&o, 0);
    const unsigned char *p = (const unsigned char *)b->data;
    mc_err err = mc_buf_append(&o, "", 0);
    for (size_t i = 0; i < b->len && err == MC_OK;) {
        size_t k = utf8_len(p + i, b->len - i);
        err = k ? mc_buf_append(&o, p + i, k) : mc_buf_append(&o, "\xEF\xBF\xBD", 3);
        i += k ? k : 1;
    }
    cJSON *s = err == MC_OK ? cJSON_CreateString(o.data) : NULL;
    mc_buf_deinit(&o);
    return s;
}

static cJSON *ids_json(const int32_t *v, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

static int report_json(const gen *g)
{
    double ex = er_mean_experts(g->ps.v, g->ps.n, 1);
    cJSON *j = cJSON_CreateObject(), *t;
    cJSON_AddStringToObject(j, "model", g->a->eo.model);
    cJSON_AddStringToObject(j, "kernels", mc_engine_isa(g->e));
    cJSON_AddNumberToObject(j, "threads", mc_engine_threads(g->e));
    if (g->tok)
        cJSON_AddItemToObject(j, "text", text_json(&g->text));
    else
        cJSON_AddNullToObject(j, "text");
    cJSON_AddItemToObject(j, "prompt_ids", ids_json(g->prompt.v, g->prompt.n));
    cJSON_AddItemToObject(j, "ids", ids_json(g->out_ids, (size_t)g->n_out));
    cJSON_AddNumberToObject(j, "prompt_tokens", (double)g->prompt.n);
    cJSON_AddNumberToObject(j, "generated_tokens", (double)g->n_out);
    cJSON_AddStringToObject(j, "stop", g->stopped_eog ? "eog" : "length");
    cJSON_AddItemToObject(j, "timings", t = cJSON_CreateObject());
    cJSON_AddNumberToObject(t, "prefill_s", g->prefill_s);
    cJSON_AddNumberToObject(t, "decode_s", g->decode_s);
    cJSON_AddNumberToObject(t, "decode_steps", (double)g->decode_steps);
    cJSON_AddNumberToObject(t, "prefill_tok_per_s", rate((double)g->prompt.n, g->prefill_s));
    cJSON_AddNumberToObject(t, "decode_tok_per_s", rate((double)g->decode_steps, g->decode_s));
    if (isnan(ex))
        cJSON_AddNullToObject(j, "decode_experts_per_moe_layer");
    else
        cJSON_AddNumberToObject(j, "decode_experts_per_moe_layer", ex);
    cJSON *xc = er_xcache_json(g->e);
    if (xc)
        cJSON_AddItemToObject(j, "expert_cache", xc);
    return mc_cli_print_json(CMD, j);
}

int cmd_generate(int argc, char **argv)
{
    gargs a;
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc;
    gen g = {.a = &a};
    mc_diag d = {0};
    mc_tok_ids_init(&g.prompt);
    mc_buf_init(&g.text, 0);
    mc_buf_init(&g.piece, 0);
    mc_tok_stream_init(&g.st, MC_TOK_KEEP_LEADING_SPACE);
    mc_err err = er_engine_open(&a.eo, &g.e, &d);
    if (err != MC_OK)
        goto out;
    er_engine_notes(stderr, CMD, g.e);
    g.tok = a.ids ? NULL : mc_engine_tok(g.e);
    g.logits = mc_mallocarray((size_t)mc_engine_vocab(g.e), sizeof *g.logits);
    g.out_ids = mc_mallocarray((size_t)a.n + 1, sizeof *g.out_ids);
    err = !g.logits || !g.out_ids ? mc_fail(&d, MC_ERR_NOMEM, "out of memory") : MC_OK;
    if (err == MC_OK)
        err = prompt_ids(&g, &d);
    if (err == MC_OK)
        err = run(&g, &d);
out:
    if (err == MC_OK)
        rc = a.json ? report_json(&g) : (report_text(&g), 0);
    else
        rc = mc_cli_fail(CMD, err, &d);
    er_passes_deinit(&g.ps);
    mc_buf_deinit(&g.text);
    mc_buf_deinit(&g.piece);
    mc_tok_ids_deinit(&g.prompt);
    mc_free(g.logits);
    mc_free(g.out_ids);
    mc_engine_free(g.e);
    return rc;
}
