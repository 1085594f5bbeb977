/* cmd_model_info.c: `moecap model-info`: parameters, weight bytes and KV-cache size of a model
 * given as a config.json, a .gguf file or a catalogue name; `--list` lists the catalogue.
 * Parses options, loads through the model module and prints (text or one JSON document). Every
 * number comes from mc_model_finalize; nothing is recomputed here except sums for display. */
#include "cli.h"
#include "model.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <inttypes.h>
#include <string.h>

#define CMD "model-info"
#define CONVENTION                                                                                 \
    "active = every weight one decoded token touches at batch 1: attention, norms, router, "       \
    "shared experts, the top-k routed experts, dense FFNs, the final norm, the LM head and one "   \
    "embedding row (the rest of the embedding table is not counted)"

void usage_model_info(FILE *f)
{
    fprintf(f,
            "usage: moecap model-info <config.json | file.gguf | catalogue name> [options]\n"
            "       moecap model-info --list [--json]\n\n"
            "Parameter counts, weight bytes, KV-cache bytes per token and the weights read per\n"
            "decoded token (batch 1) of a model, with a per-layer breakdown.\n\n"
            "options:\n"
            "  --precision P      store every weight group as P (bf16, f16, f32, fp8, int8,\n"
            "                     int4, mxfp4, q8_0, q4_0, q4_k, ...); norms are left as they are\n"
            "  --kv-precision P   store the KV cache as P (default: the config's torch_dtype)\n"
            "  --list             list the catalogue model names\n"
            "  --json             print one JSON document instead of text\n");
}

typedef struct opts {
    const char *what;
    int has_weight, has_kv; /* --precision / --kv-precision given */
    mc_dtype weight, kv;
    int list, json;
} opts;

/* ---- layer groups: layers with identical structure and sizes are shown once ---- */

static int same_layer(const mc_layer *a, const mc_layer *b)
{
    return a->ffn == b->ffn && a->n_experts == b->n_experts && a->top_k == b->top_k &&
           a->n_shared == b->n_shared && a->p_attn == b->p_attn && a->p_norm == b->p_norm &&
           a->p_router == b->p_router && a->p_expert == b->p_expert && a->p_shared == b->p_shared &&
           a->p_dense == b->p_dense && a->b_attn == b->b_attn && a->b_norm == b->b_norm &&
           a->b_router == b->b_router && a->b_expert == b->b_expert && a->b_shared == b->b_shared &&
           a->b_dense == b->b_dense;
}

/* gid[l] = group of layer l (groups numbered by first appearance); returns the group count. */
static int64_t group_layers(const mc_model *m, int64_t *gid)
{
    int64_t ng = 0;
    for (int64_t l = 0; l < m->n_layers; l++) {
        gid[l] = -1;
        for (int64_t k = 0; k < l && gid[l] < 0; k++)
            if (same_layer(&m->layers[k], &m->layers[l]))
                gid[l] = gid[k];
        if (gid[l] < 0)
            gid[l] = ng++;
    }
    return ng;
}

/* "0-2,5,7-9": the layers of group g. */
static void layer_ranges(const int64_t *gid, int64_t n, int64_t g, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = 0;
    for (int64_t l = 0; l < n; l++) {
        if (gid[l] != g || (l > 0 && gid[l - 1] == g))
            continue;
        int64_t end = l;
        while (end + 1 < n && gid[end + 1] == g)
            end++;
        int w = end > l ? snprintf(buf + used, size - used, "%s%" PRId64 "-%" PRId64,
                                   used ? "," : "", l, end)
                        : snprintf(buf + used, size - used, "%s%" PRId64, used ? "," : "", l);
        if (w < 0 || (size_t)w >= size - used) {
            snprintf(buf + (size > 4 ? size - 4 : 0), size > 4 ? 4 : size, "...");
            return;
        }
        used += (size_t)w;
    }
}

static int64_t layer_total(const mc_layer *L)
{
    return L->p_attn + L->p_norm + L->p_router + L->p_shared + L->p_dense +
           L->n_experts * L->p_expert;
}

static int64_t layer_active(const mc_layer *L)
{
    return L->p_attn + L->p_norm + L->p_router + L->p_shared + L->p_dense + L->top_k * L->p_expert;
}

/* ---- text output ---- */

/* 46702792704 -> "46,702,792,704" */
static const char *grouped(int64_t v, char *buf, size_t size)
{
    char raw[32];
    int n = snprintf(raw, sizeof raw, "%" PRId64, v < 0 ? -v : v), o = 0;
    if (v < 0 && (size_t)o + 1 < size)
        buf[o++] = '-';
    for (int i = 0; i < n && (size_t)o + 1 < size; i++) {
        if (i > 0 && (n - i) % 3 == 0 && (size_t)o + 2 < size)
            buf[o++] = ',';
        buf[o++] = raw[i];
    }
    buf[o] = 0;
    return buf;
}

static void print_count(const char *label, int64_t v)
{
    char b[40];
    printf("  %-22s %18s\n", label, grouped(v, b, sizeof b));
}

static void print_bytes(const char *label, double bytes, const char *note)
{
    char b[40];
    const char *unit = bytes >= 1e9 ? "GB" : bytes >= 1e6 ? "MB" : "kB";
    double scale = bytes >= 1e9 ? 1e9 : bytes >= 1e6 ? 1e6 : 1e3;
    printf("%-32s %s B (%.2f %s)%s\n", label, grouped((int64_t)(bytes + 0.5), b, sizeof b),
           bytes / scale, unit, note);
}

static void print_group(const mc_model *m, const int64_t *gid, int64_t g)
{
    char ranges[256];
    int64_t first = 0, count = 0;
    for (int64_t l = m->n_layers - 1; l >= 0; l--)
        if (gid[l] == g) {
            first = l;
            count++;
        }
    const mc_layer *L = &m->layers[first];
    layer_ranges(gid, m->n_layers, g, ranges, sizeof ranges);
    if (L->ffn == MC_FFN_MOE)
        printf("layers %s (%" PRId64 " x MoE: %" PRId64 " experts, top-%" PRId64 ", %" PRId64
               " shared)\n",
               ranges, count, L->n_experts, L->top_k, L->n_shared);
    else
        printf("layers %s (%" PRId64 " x dense FFN)\n", ranges, count);
    print_count("attention", L->p_attn);
    print_count("norms", L->p_norm);
    if (L->ffn == MC_FFN_MOE) {
        print_count("router", L->p_router);
        print_count("shared experts", L->p_shared);
        print_count("one routed expert", L->p_expert);
        print_count("all routed experts", L->n_experts * L->p_expert);
    } else {
        print_count("dense FFN", L->p_dense);
    }
    print_count("layer total", layer_total(L));
    print_count("layer active", layer_active(L));
}

static const char *attn_text(const mc_model *m, char *buf, size_t size)
{
    const mc_attn *a = &m->attn;
    if (a->kind == MC_ATTN_MLA)
        snprintf(buf, size,
                 "MLA: %" PRId64 " heads, q_lora_rank %" PRId64 ", kv_lora_rank %" PRId64
                 ", qk_nope %" PRId64 ", qk_rope %" PRId64 ", v_head %" PRId64,
                 a->n_heads, a->q_lora_rank, a->kv_lora_rank, a->qk_nope_dim, a->qk_rope_dim,
                 a->v_head_dim);
    else
        snprintf(buf, size,
                 "%s: %" PRId64 " heads, %" PRId64 " KV heads, head_dim %" PRId64 "%s%s%s",
                 a->n_kv_heads == a->n_heads ? "MHA" : "GQA", a->n_heads, a->n_kv_heads,
                 a->head_dim, a->qkv_bias ? ", qkv bias" : "", a->qk_norm ? ", q/k norm" : "",
                 a->sinks ? ", sinks" : "");
    return buf;
}

static void print_storage(const mc_storage *s)
{
    printf("storage          attention %s, router %s, experts %s, shared %s, dense %s,\n"
           "                 embeddings %s, lm_head %s, norms %s, kv cache %s\n",
           mc_dtype_name(s->attn), mc_dtype_name(s->router), mc_dtype_name(s->expert),
           mc_dtype_name(s->shared), mc_dtype_name(s->dense), mc_dtype_name(s->embed),
           mc_dtype_name(s->head), mc_dtype_name(s->norm), mc_dtype_name(s->kv));
}

static void print_summary(const mc_model *m)
{
    char a[40], b[40], at[256];
    printf("model            %s\n", m->name);
    printf("arch             %s (from %s)\n", m->arch, m->source);
    printf("total params     %s (%.2f B)\n", grouped(m->total_params, a, sizeof a),
           (double)m->total_params / 1e9);
    printf("active params    %s (%.2f B) per token\n", grouped(m->active_params, b, sizeof b),
           (double)m->active_params / 1e9);
    printf(
        "                 (per decoded token at batch 1: attention, norms, router, shared and the\n"
        "                 top-k routed experts, dense FFNs, final norm, LM head and ONE embedding\n"
        "                 row; the rest of the embedding table is not counted)\n");
    printf("layers           %" PRId64 " (%" PRId64 " MoE, %" PRId64 " dense)\n", m->n_layers,
           m->n_moe_layers, m->n_dense_layers);
    printf("experts          %" PRId64 " routed, top-%" PRId64 ", %" PRId64 " shared\n",
           m->max_experts, m->max_top_k, m->max_shared);
    printf("attention        %s\n", attn_text(m, at, sizeof at));
    printf("hidden / vocab   %" PRId64 " / %" PRId64 ", max context %" PRId64
           ", tied embeddings %s\n",
           m->hidden, m->vocab, m->max_ctx, m->tied_embeddings ? "yes" : "no");
    print_storage(&m->st);
}

static void print_text(const mc_model *m, const int64_t *gid, int64_t ng)
{
    print_summary(m);
    printf("\nper-layer parameters (layers with identical structure grouped)\n");
    for (int64_t g = 0; g < ng; g++)
        print_group(m, gid, g);
    printf("\n");
    print_count("embeddings", m->p_embed);
    print_count(m->tied_embeddings ? "LM head (tied)" : "LM head", m->p_head);
    print_count("final norm", m->p_final_norm);
    printf("\n");
    print_bytes("total weight bytes", m->total_bytes, "");
    print_bytes("KV cache per token", m->kv_bytes_per_token, " (all layers, K and V or latent)");
    print_bytes("weights read per decoded token", m->decode_weight_bytes_per_token, " (batch 1)");
}

/* ---- JSON output: every add is checked, so a failure never leaves a partial document ---- */

typedef struct jw {
    int bad;
} jw;

static cJSON *jchk(jw *w, cJSON *item)
{
    if (!item)
        w->bad = 1;
    return item;
}

static void jnum(jw *w, cJSON *o, const char *k, double v)
{
    jchk(w, cJSON_AddNumberToObject(o, k, v));
}

static void jstr(jw *w, cJSON *o, const char *k, const char *v)
{
    jchk(w, cJSON_AddStringToObject(o, k, v));
}

/* Appends item to arr; on failure frees item and marks the document bad. */
static void jpush(jw *w, cJSON *arr, cJSON *item)
{
    if (!item || !cJSON_AddItemToArray(arr, item)) {
        cJSON_Delete(item);
        w->bad = 1;
    }
}

static void json_storage(jw *w, cJSON *root, const mc_storage *s)
{
    cJSON *o = jchk(w, cJSON_AddObjectToObject(root, "storage"));
    jstr(w, o, "attention", mc_dtype_name(s->attn));
    jstr(w, o, "router", mc_dtype_name(s->router));
    jstr(w, o, "experts", mc_dtype_name(s->expert));
    jstr(w, o, "shared", mc_dtype_name(s->shared));
    jstr(w, o, "dense", mc_dtype_name(s->dense));
    jstr(w, o, "embedding", mc_dtype_name(s->embed));
    jstr(w, o, "lm_head", mc_dtype_name(s->head));
    jstr(w, o, "norms", mc_dtype_name(s->norm));
    jstr(w, o, "kv_cache", mc_dtype_name(s->kv));
}

static void json_attention(jw *w, cJSON *root, const mc_attn *a)
{
    cJSON *o = jchk(w, cJSON_AddObjectToObject(root, "attention"));
    jstr(w, o, "kind", a->kind == MC_ATTN_MLA ? "mla" : "gqa");
    jnum(w, o, "num_heads", (double)a->n_heads);
    jnum(w, o, "num_kv_heads", (double)a->n_kv_heads);
    jnum(w, o, "head_dim", (double)a->head_dim);
    if (a->kind == MC_ATTN_MLA) {
        jnum(w, o, "q_lora_rank", (double)a->q_lora_rank);
        jnum(w, o, "kv_lora_rank", (double)a->kv_lora_rank);
        jnum(w, o, "qk_nope_head_dim", (double)a->qk_nope_dim);
        jnum(w, o, "qk_rope_head_dim", (double)a->qk_rope_dim);
        jnum(w, o, "v_head_dim", (double)a->v_head_dim);
    }
    jnum(w, o, "sliding_window", (double)a->sliding_window);
}

static void json_group(jw *w, cJSON *arr, const mc_model *m, const int64_t *gid, int64_t g)
{
    char ranges[256];
    int64_t first = -1, count = 0;
    cJSON *o = cJSON_CreateObject();
    jpush(w, arr, o);
    if (w->bad)
        return;
    cJSON *idx = jchk(w, cJSON_AddArrayToObject(o, "layer_indices"));
    for (int64_t l = 0; l < m->n_layers; l++)
        if (gid[l] == g) {
            first = first < 0 ? l : first;
            count++;
            jpush(w, idx, cJSON_CreateNumber((double)l));
        }
    const mc_layer *L = &m->layers[first];
    layer_ranges(gid, m->n_layers, g, ranges, sizeof ranges);
    jstr(w, o, "layers", ranges);
    jnum(w, o, "count", (double)count);
    jstr(w, o, "ffn", L->ffn == MC_FFN_MOE ? "moe" : "dense");
    jnum(w, o, "num_experts", (double)L->n_experts);
    jnum(w, o, "top_k", (double)L->top_k);
    jnum(w, o, "num_shared_experts", (double)L->n_shared);
    jnum(w, o, "attention_params", (double)L->p_attn);
    jnum(w, o, "norm_params", (double)L->p_norm);
    jnum(w, o, "router_params", (double)L->p_router);
    jnum(w, o, "shared_params", (double)L->p_shared);
    jnum(w, o, "expert_params", (double)L->p_expert);
    jnum(w, o, "routed_params", (double)(L->n_experts * L->p_expert));
    jnum(w, o, "dense_params", (double)L->p_dense);
    jnum(w, o, "total_params", (double)layer_total(L));
    jnum(w, o, "active_params", (double)layer_active(L));
    jnum(w, o, "weight_bytes", mc_model_layer_bytes(m, first, (double)L->n_experts));
    jnum(w, o, "active_weight_bytes", mc_model_layer_bytes(m, first, (double)L->top_k));
}

static void json_summary(jw *w, cJSON *root, const mc_model *m)
{
    jstr(w, root, "name", m->name);
    jstr(w, root, "arch", m->arch);
    jstr(w, root, "source", m->source);
    jnum(w, root, "total_params", (double)m->total_params);
    jnum(w, root, "active_params", (double)m->active_params);
    jstr(w, root, "active_params_convention", CONVENTION);
    jnum(w, root, "num_layers", (double)m->n_layers);
    jnum(w, root, "num_moe_layers", (double)m->n_moe_layers);
    jnum(w, root, "num_dense_layers", (double)m->n_dense_layers);
    jnum(w, root, "num_experts", (double)m->max_experts);
    jnum(w, root, "top_k", (double)m->max_top_k);
    jnum(w, root, "num_shared_experts", (double)m->max_shared);
    jnum(w, root, "hidden_size", (double)m->hidden);
    jnum(w, root, "vocab_size", (double)m->vocab);
    jnum(w, root, "max_position_embeddings", (double)m->max_ctx);
    jchk(w, cJSON_AddBoolToObject(root, "tied_embeddings", m->tied_embeddings));
    jnum(w, root, "embedding_params", (double)m->p_embed);
    jnum(w, root, "lm_head_params", (double)m->p_head);
    jnum(w, root, "final_norm_params", (double)m->p_final_norm);
    jnum(w, root, "total_weight_bytes", m->total_bytes);
    jnum(w, root, "kv_bytes_per_token", m->kv_bytes_per_token);
    jnum(w, root, "decode_weight_bytes_per_token", m->decode_weight_bytes_per_token);
}

static int print_json(const mc_model *m, const int64_t *gid, int64_t ng)
{
    jw w = {0};
    cJSON *root = jchk(&w, cJSON_CreateObject());
    json_summary(&w, root, m);
    json_attention(&w, root, &m->attn);
    json_storage(&w, root, &m->st);
    cJSON *arr = jchk(&w, cJSON_AddArrayToObject(root, "layers"));
    for (int64_t g = 0; g < ng && !w.bad; g++)
        json_group(&w, arr, m, gid, g);
    char *text = w.bad ? NULL : cJSON_Print(root);
    cJSON_Delete(root);
    if (!text)
        return mc_cli_fail(CMD, MC_ERR_NOMEM, NULL);
    puts(text);
    cJSON_free(text);
    return 0;
}

/* ---- --list ---- */

static int run_list(int json)
{
    char **names = NULL;
    int n = 0;
    mc_diag d = {{0}};
    mc_err e = mc_model_catalogue(&names, &n, &d);
    if (e)
        return mc_cli_fail(CMD, e, &d);
    if (!json) {
        for (int i = 0; i < n; i++)
            printf("%s\n", names[i]);
        mc_model_catalogue_free(names, n);
        return 0;
    }
    jw w = {0};
    cJSON *root = jchk(&w, cJSON_CreateObject());
    cJSON *arr = jchk(&w, cJSON_AddArrayToObject(root, "models"));
    for (int i = 0; i < n; i++)
        jpush(&w, arr, cJSON_CreateString(names[i]));
    mc_model_catalogue_free(names, n);
    char *text = w.bad ? NULL : cJSON_Print(root);
    cJSON_Delete(root);
    if (!text)
        return mc_cli_fail(CMD, MC_ERR_NOMEM, NULL);
    puts(text);
    cJSON_free(text);
    return 0;
}

/* ---- main ---- */

static int parse_opts(int argc, char **argv, opts *o)
{
    static const struct option longopts[] = {
        {"precision", required_argument, NULL, 'p'},
        {"kv-precision", required_argument, NULL, 'k'},
        {"list", no_argument, NULL, 'l'},
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    int c;
    memset(o, 0, sizeof *o);
    optind = 0; /* glibc: full re-initialisation, so the command can run twice in one process */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (mc_dtype_parse(optarg, &o->weight) != MC_OK)
                return mc_cli_usage_error(CMD, "unknown precision '%s'", optarg);
            o->has_weight = 1;
            break;
        case 'k':
            if (mc_dtype_parse(optarg, &o->kv) != MC_OK)
                return mc_cli_usage_error(CMD, "unknown KV precision '%s'", optarg);
            o->has_kv = 1;
            break;
        case 'l': o->list = 1; break;
        case 'j': o->json = 1; break;
        default:
            return mc_cli_usage_error(CMD, "unknown option or missing value: %s", argv[optind - 1]);
        }
    }
    if (o->list)
        return optind == argc ? 0 : mc_cli_usage_error(CMD, "--list takes no model argument");
    if (optind != argc - 1)
        return mc_cli_usage_error(CMD,
                                  optind == argc ? "no model given" : "give exactly one model");
    o->what = argv[optind];
    return 0;
}

/* Applies --precision and --kv-precision; returns an exit code (0 = fine). */
static int apply_precision(const opts *o, mc_model *m)
{
    mc_diag d = {{0}};
    if (o->has_kv)
        m->st.kv = o->kv;
    mc_err e =
        o->has_weight ? mc_model_set_weight_dtype(m, o->weight, &d) : mc_model_finalize(m, &d);
    return e ? mc_cli_fail(CMD, e, &d) : 0;
}

int cmd_model_info(int argc, char **argv)
{
    opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc || o.list)
        return rc ? rc : run_list(o.json);
    mc_model *m = NULL;
    mc_diag d = {{0}};
    mc_err e = mc_model_load(o.what, &m, &d);
    if (e)
        return mc_cli_fail(CMD, e, &d);
    int64_t *gid = NULL;
    if ((rc = apply_precision(&o, m)) != 0)
        goto out;
    gid = mc_calloc((size_t)m->n_layers, sizeof *gid);
    if (!gid) {
        rc = mc_cli_fail(CMD, MC_ERR_NOMEM, NULL);
        goto out;
    }
    int64_t ng = group_layers(m, gid);
    if (o.json)
        rc = print_json(m, gid, ng);
    else
        print_text(m, gid, ng);
out:
    mc_free(gid);
    mc_model_free(m);
    return rc;
}
