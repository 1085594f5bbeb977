/* cmd_make_model.c: `moecap make-model`: writes a seeded random-weight MoE (or dense) GGUF model
 * (src/engine/makemodel.h, docs/MAKE-MODEL.md) and reports what it wrote: file size, tensors,
 * parameters (total and active, from the GGUF -> model mapping of the written file) and bytes
 * per storage type. Parses options and prints; everything else is the library's. */
#include "cli.h"
#include "gguf.h"
#include "makemodel.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <inttypes.h>
#include <string.h>

#define CMD "make-model"

void usage_make_model(FILE *f)
{
    fprintf(
        f, "usage: moecap make-model -o FILE [--arch A] [--layers N]\n"
           "         [--embd N] [--ff N] [--experts N] [--top-k K] [--shared-ff N] [--heads N]\n"
           "         [--kv-heads N] [--head-dim N] [--vocab-from GGUF | --vocab N] [--ctx N]\n"
           "         [--type T] [--output-type T] [--route-skew S] [--rope-theta X]\n"
           "         [--norm-eps X] [--seed S] [--name NAME] [--json]\n"
           "         deepseek2: [--dense-layers N] [--dense-ff N] [--q-lora N] [--kv-lora N]\n"
           "         [--rope-dim N] [--v-head-dim N] [--gating softmax|sigmoid]\n"
           "         [--weights-norm 0|1] [--weights-scale X] [--groups N --group-used N]\n"
           "         [--yarn-factor X] [--yarn-orig-ctx N] [--mla-split]\n\n"
           "Writes a GGUF v3 transformer with seeded random weights that moecap and llama.cpp\n"
           "load. The same options and seed give a byte-identical file on any machine.\n\n"
           "  -o, --output FILE   file to write (atomically)\n"
           "  --arch A            llama (Mixtral layout; dense with --experts 0), qwen2moe\n"
           "                      (shared expert), olmoe (full-width q/k norms), qwen3moe\n"
           "                      (per-head q/k norms), deepseek2 (MLA, shared experts,\n"
           "                      leading dense blocks), qwen2 / qwen3 (dense); default llama\n"
           "  --layers N          blocks (default 2)\n"
           "  --embd N            hidden size (default 256)\n"
           "  --ff N              expert width, or the dense width with --experts 0 (512)\n"
           "  --experts N         routed experts (default 8, 0 for qwen2/qwen3; 0 = dense:\n"
           "                      llama, qwen2, qwen3)\n"
           "  --top-k K           experts per token (default 2)\n"
           "  --shared-ff N       shared-expert width: qwen2moe (default 4 x --ff), deepseek2\n"
           "                      (a multiple of --ff: that many shared experts; default 2 x)\n"
           "  --heads N           attention heads (default 4)\n"
           "  --kv-heads N        KV heads (default = heads)\n"
           "  --head-dim N        head dimension (default embd / heads)\n"
           "  --vocab N           synthetic byte-fallback SentencePiece vocabulary (default 512,\n"
           "                      at least 259)\n"
           "  --vocab-from GGUF   copy every tokenizer.* key of GGUF (so real text tokenises)\n"
           "  --ctx N             context length (default 4096)\n"
           "  --type T            f32 f16 bf16 q8_0 q4_0 q4_k q6_k (default f16); norms, routers\n"
           "                      and biases stay f32\n"
           "  --output-type T     type of output.weight (default: q6_k next to q4_0/q4_k/q6_k,\n"
           "                      as llama.cpp quantises, q8_0 if --embd is not a multiple of\n"
           "                      256; else --type)\n"
           "  --route-skew S      >= 0: raise the router logits of top-k 'hot' experts per layer\n"
           "                      by about S standard deviations (default 0 = uniform routing)\n"
           "  --rope-theta X      RoPE base (default 10000; 1e6 for qwen)\n"
           "  --norm-eps X        RMSNorm epsilon (default 1e-5; 1e-6 for qwen)\n"
           "  --seed S            weight seed (default 1)\n"
           "  --name NAME         general.name (default moecap-random-<arch>)\n"
           "  --json              print one JSON document\n"
           "deepseek2 (docs/MAKE-MODEL.md): --head-dim is the key width (nope + rope)\n"
           "  --dense-layers N    leading dense blocks (default 1) of width --dense-ff (4 x --ff)\n"
           "  --q-lora N          q low rank (attn_q_a/attn_q_b; default 0 = plain attn_q)\n"
           "  --kv-lora N         latent width (default --embd)\n"
           "  --rope-dim N        rope part of the key (default head dim / 4, even)\n"
           "  --v-head-dim N      value head width (default head dim)\n"
           "  --gating G          softmax (V2, default) or sigmoid (V3, with a selection bias)\n"
           "  --weights-norm B    renormalise the top-k weights (default: 1 with sigmoid)\n"
           "  --weights-scale X   expert_weights_scale (default 1)\n"
           "  --groups N --group-used M  group-limited routing: N groups, the best M kept\n"
           "  --yarn-factor X     YaRN RoPE scaling (> 1), original context --yarn-orig-ctx\n"
           "                      (default --ctx), yarn_log_multiplier 0.0707\n"
           "  --mla-split         attn_k_b + attn_v_b instead of attn_kv_b (llama.cpp's\n"
           "                      absorbed-MLA layout; the same weights)\n");
}

typedef struct args {
    mc_make_opts o;
    const char *out;
    int json, has_vocab, has_experts;
} args;

enum {
    O_ARCH = 256,
    O_LAYERS,
    O_EMBD,
    O_FF,
    O_EXPERTS,
    O_TOPK,
    O_SHARED,
    O_HEADS,
    O_KV,
    O_HD,
    O_VOCAB,
    O_VFROM,
    O_CTX,
    O_TYPE,
    O_OTYPE,
    O_SKEW,
    O_THETA,
    O_EPS,
    O_SEED,
    O_NAME,
    O_JSON,
    O_DLAYERS,
    O_DFF,
    O_QLORA,
    O_KVLORA,
    O_ROPED,
    O_VHD,
    O_GATING,
    O_WNORM,
    O_WSCALE,
    O_GROUPS,
    O_GUSED,
    O_YARN,
    O_YORIG,
    O_SPLIT
};

static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
                                     {"arch", required_argument, NULL, O_ARCH},
                                     {"layers", required_argument, NULL, O_LAYERS},
                                     {"embd", required_argument, NULL, O_EMBD},
                                     {"ff", required_argument, NULL, O_FF},
                                     {"experts", required_argument, NULL, O_EXPERTS},
                                     {"top-k", required_argument, NULL, O_TOPK},
                                     {"shared-ff", required_argument, NULL, O_SHARED},
                                     {"heads", required_argument, NULL, O_HEADS},
                                     {"kv-heads", required_argument, NULL, O_KV},
                                     {"head-dim", required_argument, NULL, O_HD},
                                     {"vocab", required_argument, NULL, O_VOCAB},
                                     {"vocab-from", required_argument, NULL, O_VFROM},
                                     {"ctx", required_argument, NULL, O_CTX},
                                     {"type", required_argument, NULL, O_TYPE},
                                     {"output-type", required_argument, NULL, O_OTYPE},
                                     {"route-skew", required_argument, NULL, O_SKEW},
                                     {"rope-theta", required_argument, NULL, O_THETA},
                                     {"norm-eps", required_argument, NULL, O_EPS},
                                     {"seed", required_argument, NULL, O_SEED},
                                     {"name", required_argument, NULL, O_NAME},
                                     {"json", no_argument, NULL, O_JSON},
                                     {"dense-layers", required_argument, NULL, O_DLAYERS},
                                     {"dense-ff", required_argument, NULL, O_DFF},
                                     {"q-lora", required_argument, NULL, O_QLORA},
                                     {"kv-lora", required_argument, NULL, O_KVLORA},
                                     {"rope-dim", required_argument, NULL, O_ROPED},
                                     {"v-head-dim", required_argument, NULL, O_VHD},
                                     {"gating", required_argument, NULL, O_GATING},
                                     {"weights-norm", required_argument, NULL, O_WNORM},
                                     {"weights-scale", required_argument, NULL, O_WSCALE},
                                     {"groups", required_argument, NULL, O_GROUPS},
                                     {"group-used", required_argument, NULL, O_GUSED},
                                     {"yarn-factor", required_argument, NULL, O_YARN},
                                     {"yarn-orig-ctx", required_argument, NULL, O_YORIG},
                                     {"mla-split", no_argument, NULL, O_SPLIT},
                                     {NULL, 0, NULL, 0}};

static const char *opt_name(int c)
{
    for (const struct option *p = opts; p->name; p++)
        if (p->val == c)
            return p->name;
    return "?";
}

/* The int64 field an integer option sets, or NULL. */
static int64_t *int_field(mc_make_opts *o, int c)
{
    switch (c) {
    case O_LAYERS: return &o->layers;
    case O_EMBD: return &o->embd;
    case O_FF: return &o->ff;
    case O_EXPERTS: return &o->experts;
    case O_TOPK: return &o->top_k;
    case O_SHARED: return &o->shared_ff;
    case O_HEADS: return &o->heads;
    case O_KV: return &o->kv_heads;
    case O_HD: return &o->head_dim;
    case O_VOCAB: return &o->vocab;
    case O_CTX: return &o->ctx;
    case O_DLAYERS: return &o->dense_layers;
    case O_DFF: return &o->dense_ff;
    case O_QLORA: return &o->q_lora;
    case O_KVLORA: return &o->kv_lora;
    case O_ROPED: return &o->rope_dim;
    case O_VHD: return &o->v_head_dim;
    case O_GROUPS: return &o->groups;
    case O_GUSED: return &o->group_used;
    case O_YORIG: return &o->yarn_orig_ctx;
    default: return NULL;
    }
}

static mc_err parse_gating(const char *v, int *out)
{
    if (!strcmp(v, "softmax") || !strcmp(v, "1"))
        *out = 1;
    else if (!strcmp(v, "sigmoid") || !strcmp(v, "2"))
        *out = 2;
    else
        return MC_ERR_ARG;
    return MC_OK;
}

static mc_err parse_bool01(const char *v, int *out)
{
    if (strcmp(v, "0") && strcmp(v, "1"))
        return MC_ERR_ARG;
    *out = v[0] == '1';
    return MC_OK;
}

/* One option with its value; 0 = ok, else the usage-error exit code. */
static int apply(args *a, int c, const char *v)
{
    mc_make_opts *o = &a->o;
    int64_t *f = int_field(o, c);
    mc_err e = MC_OK;
    if (f)
        e = mc_parse_i64(v, 0, INT64_C(1) << 40, f);
    else if (c == O_TYPE)
        e = mc_dtype_parse(v, &o->type);
    else if (c == O_OTYPE) {
        e = mc_dtype_parse(v, &o->output_type);
        o->has_output_type = 1;
    } else if (c == O_SKEW)
        e = mc_parse_f64(v, &o->route_skew);
    else if (c == O_THETA)
        e = mc_parse_f64(v, &o->rope_theta);
    else if (c == O_EPS)
        e = mc_parse_f64(v, &o->norm_eps);
    else if (c == O_SEED)
        e = mc_parse_u64(v, &o->seed);
    else if (c == O_WSCALE)
        e = mc_parse_f64(v, &o->weights_scale);
    else if (c == O_YARN)
        e = mc_parse_f64(v, &o->yarn_factor);
    else if (c == O_GATING)
        e = parse_gating(v, &o->gating);
    else if (c == O_WNORM)
        e = parse_bool01(v, &o->weights_norm);
    if (e)
        return mc_cli_usage_error(CMD, "bad value '%s' for --%s", v, opt_name(c));
    if (c == O_VOCAB)
        a->has_vocab = 1;
    if (c == O_EXPERTS)
        a->has_experts = 1;
    return 0;
}

static int parse_args(int argc, char **argv, args *a)
{
    int c;
    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
        int rc = 0;
        if (c == '?')
            return mc_cli_usage_error(CMD, "unknown or incomplete option '%s'", argv[optind - 1]);
        if (c == 'o')
            a->out = optarg;
        else if (c == O_ARCH)
            a->o.arch = optarg;
        else if (c == O_VFROM)
            a->o.vocab_from = optarg;
        else if (c == O_NAME)
            a->o.name = optarg;
        else if (c == O_JSON)
            a->json = 1;
        else if (c == O_SPLIT)
            a->o.mla_split = 1;
        else
            rc = apply(a, c, optarg);
        if (rc)
            return rc;
    }
    if (optind < argc)
        return mc_cli_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (!a->out)
        return mc_cli_usage_error(CMD, "no output file (-o FILE)");
    if (a->has_vocab && a->o.vocab_from)
        return mc_cli_usage_error(CMD, "--vocab and --vocab-from exclude each other");
    const char *ar = a->o.arch;
    if (!a->has_experts && ar && (!strcmp(ar, "qwen2") || !strcmp(ar, "qwen3")))
        a->o.experts = 0; /* the dense architectures */
    return 0;
}

/* ---- output ---------------------------------------------------------------------------------- */

static void print_text(const args *a, const mc_make_summary *s, const mc_model *m)
{
    const mc_make_opts *o = &a->o;
    printf("wrote %s: %" PRIu64 " bytes (%.2f MB), %" PRId64 " tensors, GGUF v3\n", a->out,
           s->file_bytes, s->file_bytes / 1e6, s->n_tensors);
    printf("model: %s (%s), %" PRId64 " layers, embd %" PRId64 ", %" PRId64 " heads (%" PRId64
           " kv) x %" PRId64 ", vocab %" PRId64 ", ctx %" PRId64 "\n",
           o->arch ? o->arch : "llama", m->arch, o->layers, o->embd, o->heads, s->kv_heads,
           s->head_dim, s->vocab, o->ctx);
    if (o->experts > 0)
        printf("experts: %" PRId64 " of width %" PRId64 ", top-%" PRId64 "%s", o->experts, o->ff,
               o->top_k, s->shared_ff ? "" : "\n");
    else
        printf("dense feed-forward of width %" PRId64 "\n", o->ff);
    if (o->experts > 0 && s->shared_ff)
        printf(", shared expert of width %" PRId64 "\n", s->shared_ff);
    printf("parameters: %" PRId64 " total, %" PRId64 " active per token\n", m->total_params,
           m->active_params);
    printf("tensor bytes by type:\n");
    for (int t = 0; t < MC_DT_COUNT; t++)
        if (s->type_bytes[t])
            printf("  %-5s %14" PRIu64 " bytes  %14" PRId64 " params\n", mc_dtype_name(t),
                   s->type_bytes[t], s->type_params[t]);
    printf("type %s (output %s), seed %" PRIu64 ", route skew %g, rope theta %g, norm eps %g\n",
           mc_dtype_name(o->type), mc_dtype_name(s->output_type), o->seed, o->route_skew,
           s->rope_theta, s->norm_eps);
}

static cJSON *by_type(const mc_make_summary *s, int bytes)
{
    cJSON *j = cJSON_CreateObject();
    for (int t = 0; t < MC_DT_COUNT; t++)
        if (s->type_bytes[t])
            cJSON_AddNumberToObject(j, mc_dtype_name(t),
                                    bytes ? (double)s->type_bytes[t] : (double)s->type_params[t]);
    return j;
}

static int print_json(const args *a, const mc_make_summary *s, const mc_model *m)
{
    const mc_make_opts *o = &a->o;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "path", a->out);
    cJSON_AddNumberToObject(j, "file_bytes", (double)s->file_bytes);
    cJSON_AddNumberToObject(j, "tensor_bytes", (double)s->tensor_bytes);
    cJSON_AddNumberToObject(j, "n_tensors", (double)s->n_tensors);
    cJSON_AddStringToObject(j, "arch", o->arch ? o->arch : "llama");
    cJSON_AddStringToObject(j, "model_type", m->arch);
    cJSON_AddStringToObject(j, "name", m->name);
    cJSON_AddNumberToObject(j, "total_params", (double)m->total_params);
    cJSON_AddNumberToObject(j, "active_params", (double)m->active_params);
    cJSON_AddNumberToObject(j, "layers", (double)o->layers);
    cJSON_AddNumberToObject(j, "embd", (double)o->embd);
    cJSON_AddNumberToObject(j, "ff", (double)o->ff);
    cJSON_AddNumberToObject(j, "experts", (double)o->experts);
    cJSON_AddNumberToObject(j, "top_k", (double)(o->experts ? o->top_k : 0));
    cJSON_AddNumberToObject(j, "shared_ff", (double)s->shared_ff);
    cJSON_AddNumberToObject(j, "heads", (double)o->heads);
    cJSON_AddNumberToObject(j, "kv_heads", (double)s->kv_heads);
    cJSON_AddNumberToObject(j, "head_dim", (double)s->head_dim);
    cJSON_AddNumberToObject(j, "vocab", (double)s->vocab);
    cJSON_AddNumberToObject(j, "ctx", (double)o->ctx);
    cJSON_AddStringToObject(j, "type", mc_dtype_name(o->type));
    cJSON_AddStringToObject(j, "output_type", mc_dtype_name(s->output_type));
    cJSON_AddNumberToObject(j, "seed", (double)o->seed);
    cJSON_AddNumberToObject(j, "route_skew", o->route_skew);
    cJSON_AddNumberToObject(j, "rope_theta", s->rope_theta);
    cJSON_AddNumberToObject(j, "norm_eps", s->norm_eps);
    cJSON_AddItemToObject(j, "bytes_by_type", by_type(s, 1));
    cJSON_AddItemToObject(j, "params_by_type", by_type(s, 0));
    return mc_cli_print_json(CMD, j);
}

int cmd_make_model(int argc, char **argv)
{
    args a;
    memset(&a, 0, sizeof a);
    mc_make_opts_default(&a.o);
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc;
    mc_make_summary s;
    mc_diag d = {{0}};
    mc_err e = mc_make_model_ex(&a.o, a.out, &s, &d);
    if (e && strncmp(d.msg, CMD ": ", sizeof CMD + 1) == 0) /* the prefix mc_cli_fail adds */
        memmove(d.msg, d.msg + sizeof CMD + 1, strlen(d.msg + sizeof CMD + 1) + 1);
    if (e)
        return mc_cli_fail(CMD, e, &d);
    mc_model *m = NULL; /* the written file through the same mapping every command uses */
    e = mc_model_load_gguf(a.out, &m, &d);
    if (e)
        return mc_cli_fail(CMD, e, &d);
    if (a.json)
        rc = print_json(&a, &s, m);
    else
        print_text(&a, &s, m);
    mc_model_free(m);
    return rc;
}
