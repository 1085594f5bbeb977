/* test_model.c: the model description and its loaders.
 *
 * Oracles: (1) exact parameter counts worked out by hand from the published configs (the
 * arithmetic is in the comments), (2) the vendors' published totals and active counts within a
 * stated tolerance, (3) every corruption of a config built in memory gives its exact message. */
#include "harness.h"
#include "model.h"

#include <cjson/cJSON.h>
#include <sys/stat.h>

static mc_model *load(const char *name)
{
    mc_model *m = NULL;
    mc_diag d = {{0}};
    mc_err e = mc_model_load(name, &m, &d);
    if (e)
        fprintf(stderr, "load %s: %s\n", name, d.msg);
    return m;
}

/* ---- catalogue totals: exact (hand-computed) and against published figures ----
 *
 * Published totals are given to 3-4 significant figures, so they are checked to 0.5%. The exact
 * value of each model is the sum of its layers, embedding, LM head and final norm, e.g.
 * Mixtral-8x7B: 32 x (41,943,040 attn + 8,192 norms + 32,768 router + 8 x 176,160,768 experts)
 * + 2 x 32000 x 4096 (embedding, head) + 4096 (final norm) = 46,702,792,704.
 *
 * Active counts: moecap counts the LM head and ONE embedding row (docs/MODELS.md). Vendors differ:
 *  'm' = the vendor counts like moecap (DeepSeek-V3: "36.6B incl. 0.9B output head"; OpenAI's
 *        gpt-oss card counts the unembedding, not the embedding),
 *  'v' = the vendor counts the whole embedding table as active too (Mistral's 12.9B, Qwen's
 *        2.7B/3.3B/22B/14B, OLMoE's 1.3B); we add vocab x hidden - hidden before comparing,
 *  '-' = nothing published (dense model).
 * Figures that are only a rounded name ("A14B", "2.4B", "1.3B", "17B") get a 3% tolerance, the
 * others 1%. */
static const struct {
    const char *name;
    int64_t exact_total;
    double published_total, published_active;
    char convention;
    double active_tol;
} totals[] = {
    {"mixtral-8x7b", 46702792704, 46.7e9, 12.9e9, 'v', 0.01},
    {"mixtral-8x22b", 140630071296, 141e9, 39e9, 'm', 0.01},
    {"qwen1.5-moe-a2.7b", 14315784192, 14.3e9, 2.7e9, 'v', 0.01},
    {"qwen2-57b-a14b", 57408658944, 57.4e9, 14e9, 'v', 0.03},
    {"qwen3-30b-a3b", 30532122624, 30.5e9, 3.3e9, 'v', 0.03},
    {"qwen3-235b-a22b", 235093634560, 235e9, 22e9, 'v', 0.03},
    {"deepseek-v2-lite", 15706484224, 15.7e9, 2.4e9, 'm', 0.03},
    {"deepseek-v2", 235741434880, 236e9, 21e9, 'm', 0.01},
    {"deepseek-v3", 671026419200, 671e9, 36.6e9, 'm', 0.01},
    {"deepseek-r1", 671026419200, 671e9, 37e9, 'm', 0.03},
    {"olmoe-1b-7b", 6919161856, 6.9e9, 1.3e9, 'v', 0.03},
    {"dbrx", 131596523520, 132e9, 36e9, 'm', 0.01},
    {"gpt-oss-20b", 20914757184, 20.91e9, 3.61e9, 'm', 0.01},
    {"gpt-oss-120b", 116829156672, 116.83e9, 5.13e9, 'm', 0.01},
    {"snowflake-arctic", 478584608768, 480e9, 17e9, 'm', 0.03},
    {"llama-3.1-8b", 8030261248, 8.03e9, 0, '-', 0},
};

TEST(catalogue_totals)
{
    for (size_t i = 0; i < sizeof totals / sizeof totals[0]; i++) {
        mc_model *m = load(totals[i].name);
        CHECK(m != NULL);
        if (!m)
            continue;
        CHECK_EQ_INT(m->total_params, totals[i].exact_total);
        CHECK_REL((double)m->total_params, totals[i].published_total, 0.005);
        double active = (double)m->active_params;
        if (totals[i].convention == 'v')
            active += (double)(m->p_embed - m->hidden);
        if (totals[i].convention != '-')
            CHECK_REL(active, totals[i].published_active, totals[i].active_tol);
        CHECK_STR(m->name, totals[i].name);
        mc_model_free(m);
    }
}

TEST(catalogue_active_exact)
{
    /* DeepSeek-V3: 58 MoE layers x (187,107,328 attn + 14,336 norms + 1,835,264 router
     * + 44,040,192 shared + 8 x 44,040,192) + 3 dense layers x 583,483,392 + 926,679,040 head
     * + 7,168 row + 7,168 final norm = 36,625,625,600 (DeepSeek: "36.6B incl. 0.9B head"). */
    mc_model *m = load("deepseek-v3");
    CHECK(m && m->active_params == 36625625600);
    mc_model_free(m);
    /* gpt-oss-120b: 36 x (26,550,144 + 5,760 + 368,768 + 4 x 24,891,840) + 579,133,440 + 2 x 2,880
     * = 5,132,852,352 (OpenAI's card: 5.13B). */
    m = load("gpt-oss-120b");
    CHECK(m && m->active_params == 5132852352);
    mc_model_free(m);
    /* Mixtral-8x7B: 32 x 394,305,536 + 131,072,000 + 4,096 + 4,096 = 12,748,857,344. */
    m = load("mixtral-8x7b");
    CHECK(m && m->active_params == 12748857344);
    mc_model_free(m);
}

/* ---- exact per-layer sizes ---- */

TEST(mixtral_layers)
{
    mc_model *m = load("mixtral-8x7b");
    if (!m) {
        CHECK(0);
        return;
    }
    const mc_layer *L = &m->layers[0];
    /* q 4096x4096 + k,v 4096x1024 each + o 4096x4096 */
    CHECK_EQ_INT(L->p_attn, 41943040);
    CHECK_EQ_INT(L->p_expert, 176160768); /* 3 x 4096 x 14336 */
    CHECK_EQ_INT(L->p_router, 32768);     /* 4096 x 8 */
    CHECK_EQ_INT(L->p_norm, 8192);
    CHECK_EQ_INT(m->n_moe_layers, 32);
    CHECK_EQ_INT(m->max_experts, 8);
    CHECK_EQ_INT(m->max_top_k, 2);
    CHECK_NEAR(m->kv_bytes_per_token, 2.0 * 32 * 8 * 128 * 2, 0); /* K+V, 32 layers, bf16 */
    CHECK_NEAR(m->total_bytes, 2.0 * 46702792704, 0);             /* everything bf16 */
    CHECK_NEAR(m->decode_weight_bytes_per_token, 2.0 * 12748857344, 0);
    CHECK_EQ_INT(m->st.kv, MC_DT_BF16);
    mc_model_free(m);
}

TEST(deepseek_v2_lite_mla)
{
    mc_model *m = load("deepseek-v2-lite");
    if (!m) {
        CHECK(0);
        return;
    }
    /* MLA attention of DeepSeek-V2-Lite (d 2048, 16 heads, no q LoRA):
     *   q_proj             2048 x 16 x (128 nope + 64 rope)   = 6,291,456
     *   kv_a_proj_with_mqa 2048 x (512 kv_lora + 64 rope)     = 1,179,648
     *   kv_a_layernorm     512                                 =       512
     *   kv_b_proj          512 x 16 x (128 nope + 128 v)       = 2,097,152
     *   o_proj             16 x 128 x 2048                     = 4,194,304
     *   total                                                  = 13,763,072
     * (the MoE-CAP reference prices 13,762,560: the same without the latent norm.) */
    CHECK_EQ_INT(m->attn.kind, MC_ATTN_MLA);
    CHECK_EQ_INT(m->layers[0].p_attn, 13763072);
    CHECK_EQ_INT(m->layers[0].ffn, MC_FFN_DENSE); /* first_k_dense_replace = 1 */
    CHECK_EQ_INT(m->layers[0].p_dense, 67239936); /* 3 x 2048 x 10944 */
    CHECK_EQ_INT(m->layers[1].ffn, MC_FFN_MOE);
    CHECK_EQ_INT(m->layers[1].p_expert, 8650752);  /* 3 x 2048 x 1408 */
    CHECK_EQ_INT(m->layers[1].p_shared, 17301504); /* 2 shared experts of 1408 */
    CHECK_EQ_INT(m->layers[1].p_router, 131072);   /* 2048 x 64, no bias in V2 */
    CHECK_EQ_INT(m->n_moe_layers, 26);
    CHECK_EQ_INT(m->n_dense_layers, 1);
    CHECK_NEAR(m->kv_bytes_per_token, 27.0 * (512 + 64) * 2, 0); /* latent + rope key, bf16 */
    mc_model_free(m);
}

TEST(deepseek_v3_fp8)
{
    mc_model *m = load("deepseek-v3");
    if (!m) {
        CHECK(0);
        return;
    }
    /* q_a 7168x1536 + 1536 norm + q_b 1536x128x192 + kv_a 7168x576 + 512 norm
     * + kv_b 512x128x256 + o 128x128x7168 = 187,107,328 */
    CHECK_EQ_INT(m->layers[3].p_attn, 187107328);
    CHECK_EQ_INT(m->layers[3].p_router, 1835264); /* 7168 x 256 + 256 e_score_correction_bias */
    CHECK_EQ_INT(m->layers[3].p_expert, 44040192);
    CHECK_EQ_INT(m->layers[3].p_shared, 44040192); /* ONE shared expert in V3 */
    CHECK_EQ_INT(m->layers[2].p_dense, 396361728);
    CHECK_NEAR(m->kv_bytes_per_token, 61.0 * (512 + 64) * 2, 0);
    /* quantization_config fp8: linear layers 1 byte, router/embeddings/head/norms bf16 */
    CHECK_EQ_INT(m->st.attn, MC_DT_FP8);
    CHECK_EQ_INT(m->st.expert, MC_DT_FP8);
    CHECK_EQ_INT(m->st.shared, MC_DT_FP8);
    CHECK_EQ_INT(m->st.dense, MC_DT_FP8);
    CHECK_EQ_INT(m->st.router, MC_DT_BF16);
    CHECK_EQ_INT(m->st.embed, MC_DT_BF16);
    CHECK_EQ_INT(m->st.head, MC_DT_BF16);
    CHECK_EQ_INT(m->st.kv, MC_DT_BF16);
    /* fp8: 61 x 187,107,328 + 58 x 257 x 44,040,192 + 3 x 396,361,728 = 669,065,734,144;
     * bf16: 58 x 1,835,264 + 61 x 14,336 + 7,168 + 2 x 926,679,040 = 1,960,685,056 params */
    CHECK_NEAR(m->total_bytes, 669065734144.0 + 2 * 1960685056.0, 0);
    CHECK_NEAR(m->decode_weight_bytes_per_token, 37659638784.0, 0);
    mc_model_free(m);
}

TEST(other_layer_sizes)
{
    mc_model *m = load("qwen1.5-moe-a2.7b");
    /* 4 x 2048 x 2048 + qkv bias 3 x 2048; shared 3 x 2048 x 5632 + sigmoid gate 2048 */
    CHECK(m && m->layers[0].p_attn == 16783360 && m->layers[0].p_shared == 34605056);
    CHECK(m && m->kv_bytes_per_token == 98304.0 * 2);
    mc_model_free(m);
    m = load("gpt-oss-20b");
    /* q 2880x4096 + k,v 2880x512 + o 4096x2880 + biases 4096+512+512+2880 + 64 sinks */
    CHECK(m && m->layers[0].p_attn == 26550144);
    CHECK(m && m->layers[0].p_expert == 24891840); /* 3 x 2880^2 + biases 2 x 2880 + 2880 */
    CHECK(m && m->layers[0].p_router == 92192);    /* 2880 x 32 + 32 */
    /* experts in mxfp4 (4.25 bits), the rest bf16 */
    CHECK(m && m->st.expert == MC_DT_MXFP4 && m->st.attn == MC_DT_BF16);
    CHECK(m && m->total_bytes ==
                   24.0 * 32 * 24891840 * 4.25 / 8 + 2.0 * (20914757184 - 24.0 * 32 * 24891840));
    mc_model_free(m);
    m = load("olmoe-1b-7b");
    CHECK(m && m->layers[0].p_attn == 16781312); /* 4 x 2048^2 + q_norm 2048 + k_norm 2048 */
    mc_model_free(m);
    m = load("qwen3-30b-a3b");
    CHECK(m && m->layers[0].p_attn == 18874624); /* 2 x 2048x4096 + 2 x 2048x512 + 2 x 128 */
    mc_model_free(m);
    m = load("dbrx");
    CHECK(m && m->layers[0].p_attn == 88080384 && m->layers[0].p_expert == 198180864);
    mc_model_free(m);
    m = load("snowflake-arctic");
    /* residual MLP 3 x 7168 x 7168 as the shared block; 3 norms */
    CHECK(m && m->layers[0].p_shared == 154140672 && m->layers[0].p_norm == 3 * 7168);
    mc_model_free(m);
}

/* ---- precision ---- */

TEST(precision_override)
{
    mc_model *m = load("mixtral-8x7b");
    mc_diag d = {{0}};
    if (!m) {
        CHECK(0);
        return;
    }
    CHECK_EQ_INT(mc_model_set_weight_dtype(m, MC_DT_INT4, &d), MC_OK);
    /* every weight group at 4 bits; the 32 x 8192 + 4096 norm weights stay bf16 */
    CHECK_NEAR(m->total_bytes, (46702792704.0 - 266240) * 0.5 + 266240 * 2, 0);
    CHECK_NEAR(m->kv_bytes_per_token, 131072, 0); /* KV untouched */
    m->st.kv = MC_DT_FP8;
    CHECK_EQ_INT(mc_model_finalize(m, &d), MC_OK);
    CHECK_NEAR(m->kv_bytes_per_token, 65536, 0);
    CHECK_EQ_INT(m->total_params, 46702792704); /* parameters do not depend on storage */
    mc_model_free(m);
}

/* ---- bad configs: each corruption of a valid config gives its exact message ---- */

static const char *mixtral_small =
    "{\"model_type\": \"mixtral\", \"hidden_size\": 4096, \"num_hidden_layers\": 2,"
    " \"num_attention_heads\": 32, \"num_key_value_heads\": 8, \"vocab_size\": 32000,"
    " \"intermediate_size\": 14336, \"num_local_experts\": 8, \"num_experts_per_tok\": 2,"
    " \"torch_dtype\": \"bfloat16\"}";

static cJSON *parse_json(const char *text)
{
    cJSON *j = cJSON_Parse(text);
    if (!j)
        fprintf(stderr, "test JSON does not parse: %s\n", text);
    return j;
}

/* Sets dotted key path in doc to the JSON value text (NULL deletes it). */
static void mutate(cJSON *doc, const char *path, const char *value)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    cJSON *obj = doc;
    char *key = buf, *dot;
    while ((dot = strchr(key, '.')) != NULL) {
        *dot = 0;
        obj = cJSON_GetObjectItemCaseSensitive(obj, key);
        key = dot + 1;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
    if (value)
        cJSON_AddItemToObject(obj, key, parse_json(value));
}

/* Parses base with one mutation; returns the error and the message. */
static mc_err try_config(const char *base, const char *path, const char *value, mc_diag *d)
{
    cJSON *doc = parse_json(base);
    if (path)
        mutate(doc, path, value);
    char *text = cJSON_PrintUnformatted(doc);
    mc_model *m = NULL;
    d->msg[0] = 0;
    mc_err e = mc_model_parse_hf_config(text, strlen(text), "configs/x.json", &m, d);
    if (!e && !m)
        e = MC_ERR_INTERNAL;
    mc_model_free(m);
    cJSON_free(text);
    cJSON_Delete(doc);
    return e;
}

static const struct {
    const char *path, *value;
    mc_err err;
    const char *msg;
} mixtral_bad[] = {
    {"num_experts_per_tok", "9", MC_ERR_RANGE,
     "configs/x.json: key 'num_experts_per_tok': 9 exceeds num_local_experts 8"},
    {"hidden_size", NULL, MC_ERR_FORMAT,
     "configs/x.json: key 'hidden_size': missing (required for model_type 'mixtral')"},
    {"hidden_size", "null", MC_ERR_FORMAT, "key 'hidden_size': missing"},
    {"hidden_size", "\"4096\"", MC_ERR_FORMAT,
     "configs/x.json: key 'hidden_size': expected an integer, got a string"},
    {"hidden_size", "0", MC_ERR_RANGE, "configs/x.json: key 'hidden_size': 0 must be positive"},
    {"hidden_size", "-4096", MC_ERR_RANGE, "key 'hidden_size': -4096 must be positive"},
    {"hidden_size", "4096.5", MC_ERR_FORMAT, "key 'hidden_size': expected an integer, got 4096.5"},
    {"hidden_size", "true", MC_ERR_FORMAT, "key 'hidden_size': expected an integer, got a boolean"},
    {"vocab_size", "1e300", MC_ERR_FORMAT, "key 'vocab_size': expected an integer, got 1e+300"},
    {"num_hidden_layers", "100000", MC_ERR_RANGE,
     "key 'num_hidden_layers': 100000 exceeds the limit 65536"},
    {"num_key_value_heads", "64", MC_ERR_RANGE,
     "configs/x.json: key 'num_key_value_heads': 64 exceeds num_attention_heads 32"},
    {"num_key_value_heads", "3", MC_ERR_RANGE,
     "key 'num_key_value_heads': 3 does not divide num_attention_heads 32"},
    {"num_attention_heads", "24", MC_ERR_RANGE,
     "key 'num_attention_heads': 24 does not divide hidden_size 4096 and no head_dim is given"},
    {"num_local_experts", "0", MC_ERR_RANGE, "key 'num_local_experts': 0 must be positive"},
    {"intermediate_size", "[1]", MC_ERR_FORMAT,
     "key 'intermediate_size': expected an integer, got an array"},
    {"model_type", "\"gpt2\"", MC_ERR_UNSUPPORTED,
     "configs/x.json: key 'model_type': 'gpt2' is not supported (supported: mixtral, qwen2_moe"},
    {"model_type", NULL, MC_ERR_FORMAT, "configs/x.json: key 'model_type': missing (required)"},
    {"tie_word_embeddings", "1", MC_ERR_FORMAT,
     "key 'tie_word_embeddings': expected true or false, got a number"},
    {"torch_dtype", "\"int8\"", MC_ERR_UNSUPPORTED,
     "key 'torch_dtype': 'int8' is not a supported weight dtype"},
    {"torch_dtype", "16", MC_ERR_FORMAT, "key 'torch_dtype': expected a string, got a number"},
    {"quantization_config", "\"fp8\"", MC_ERR_FORMAT,
     "key 'quantization_config': expected an object, got a string"},
    {"quantization_config", "{}", MC_ERR_FORMAT,
     "key 'quantization_config.quant_method': missing (required for model_type 'mixtral')"},
    {"quantization_config", "{\"quant_method\": \"bitsandbytes\"}", MC_ERR_UNSUPPORTED,
     "key 'quantization_config.quant_method': 'bitsandbytes' is not supported"},
    {"quantization_config", "{\"quant_method\": \"gptq\", \"bits\": 3}", MC_ERR_UNSUPPORTED,
     "key 'quantization_config.bits': 3-bit gptq is not supported (4 or 8)"},
    {"quantization_config",
     "{\"quant_method\": \"compressed-tensors\", \"config_groups\": {\"group_0\": "
     "{\"weights\": {\"num_bits\": 6, \"type\": \"int\"}}}}",
     MC_ERR_UNSUPPORTED,
     "key 'quantization_config.config_groups.group_0.weights.num_bits': 6 bits is not supported"},
    {"text_config", "\"x\"", MC_ERR_FORMAT, "key 'text_config': expected an object, got a string"},
};

TEST(bad_mixtral_configs)
{
    mc_diag d;
    for (size_t i = 0; i < sizeof mixtral_bad / sizeof mixtral_bad[0]; i++) {
        mc_err e = try_config(mixtral_small, mixtral_bad[i].path, mixtral_bad[i].value, &d);
        CHECK_EQ_INT(e, mixtral_bad[i].err);
        CHECK_CONTAINS(d.msg, mixtral_bad[i].msg);
        CHECK(strchr(d.msg, '\n') == NULL);
    }
    CHECK_EQ_INT(try_config(mixtral_small, NULL, NULL, &d), MC_OK); /* the base is valid */
}

static char *catalogue_text(const char *name)
{
    char path[1024], *text = NULL;
    snprintf(path, sizeof path, "%s/models/%s.json", mc_catalogue_dir(), name);
    if (mc_read_file(path, 1 << 20, &text, NULL, NULL) != MC_OK)
        fprintf(stderr, "cannot read %s\n", path);
    return text;
}

static const struct {
    const char *model, *path, *value;
    mc_err err;
    const char *msg;
} other_bad[] = {
    {"deepseek-v2-lite", "kv_lora_rank", NULL, MC_ERR_FORMAT,
     "key 'kv_lora_rank': missing (required for model_type 'deepseek_v2')"},
    {"deepseek-v2-lite", "num_experts_per_tok", "65", MC_ERR_RANGE,
     "key 'num_experts_per_tok': 65 exceeds n_routed_experts 64"},
    {"deepseek-v2-lite", "first_k_dense_replace", "28", MC_ERR_RANGE,
     "key 'first_k_dense_replace': 28 exceeds the limit 27"},
    {"deepseek-v2-lite", "intermediate_size", NULL, MC_ERR_FORMAT,
     "key 'intermediate_size': missing (layer 0 is a dense layer)"},
    {"deepseek-v2-lite", "qk_rope_head_dim", "0", MC_ERR_RANGE,
     "key 'qk_rope_head_dim': 0 must be positive"},
    {"qwen1.5-moe-a2.7b", "mlp_only_layers", "[0, 99]", MC_ERR_RANGE,
     "key 'mlp_only_layers': element 1 is not a layer index in 0..23"},
    {"qwen1.5-moe-a2.7b", "decoder_sparse_step", "0", MC_ERR_RANGE,
     "key 'decoder_sparse_step': 0 must be positive"},
    {"qwen3-30b-a3b", "head_dim", "0", MC_ERR_RANGE, "key 'head_dim': 0 must be positive"},
    {"dbrx", "ffn_config.moe_top_k", "17", MC_ERR_RANGE,
     "configs/x.json: key 'ffn_config.moe_top_k': 17 exceeds moe_num_experts 16"},
    {"dbrx", "attn_config", NULL, MC_ERR_FORMAT,
     "key 'attn_config': missing (required for model_type 'dbrx')"},
    {"dbrx", "attn_config.kv_n_heads", "64", MC_ERR_RANGE,
     "key 'attn_config.kv_n_heads': 64 exceeds n_heads 48"},
    {"gpt-oss-20b", "num_experts_per_tok", "33", MC_ERR_RANGE,
     "key 'num_experts_per_tok': 33 exceeds num_local_experts 32"},
    {"gpt-oss-20b", "quantization_config.quant_method", "7", MC_ERR_FORMAT,
     "key 'quantization_config.quant_method': expected a string, got a number"},
    {"snowflake-arctic", "moe_layer_frequency", "-1", MC_ERR_RANGE,
     "key 'moe_layer_frequency': -1 must be positive"},
    {"llama-3.1-8b", "mlp_bias", "true", MC_ERR_UNSUPPORTED,
     "key 'mlp_bias': true is not supported"},
};

TEST(bad_other_configs)
{
    mc_diag d;
    for (size_t i = 0; i < sizeof other_bad / sizeof other_bad[0]; i++) {
        char *base = catalogue_text(other_bad[i].model);
        if (!base) {
            CHECK(0);
            continue;
        }
        mc_err e = try_config(base, other_bad[i].path, other_bad[i].value, &d);
        CHECK_EQ_INT(e, other_bad[i].err);
        CHECK_CONTAINS(d.msg, other_bad[i].msg);
        mc_free(base);
    }
}

static mc_err parse_text(const char *text, mc_model **m, mc_diag *d)
{
    return mc_model_parse_hf_config(text, strlen(text), "configs/x.json", m, d);
}

TEST(bad_json)
{
    mc_model *m = (mc_model *)1;
    mc_diag d = {{0}};
    CHECK_EQ_INT(parse_text("{\"model_type\": ", &m, &d), MC_ERR_FORMAT);
    CHECK_CONTAINS(d.msg, "configs/x.json: not valid JSON (error near byte");
    CHECK(m == NULL);
    CHECK_EQ_INT(parse_text("[1, 2]", &m, &d), MC_ERR_FORMAT);
    CHECK_CONTAINS(d.msg, "configs/x.json: expected a JSON object at the top level");
    CHECK_EQ_INT(parse_text("", &m, &d), MC_ERR_FORMAT);
    CHECK_EQ_INT(parse_text("{\"model_type\": \"mixtral\", \"model_type\": \"llama\"}", &m, &d),
                 MC_ERR_FORMAT);
    CHECK_CONTAINS(d.msg, "key 'model_type': appears more than once");
    /* values are echoed in messages: control characters become '?' (one line, always) */
    CHECK_EQ_INT(parse_text("{\"model_type\": \"mix\ntral\"}", &m, &d), MC_ERR_UNSUPPORTED);
    CHECK_CONTAINS(d.msg, "key 'model_type': 'mix?tral' is not supported");
    /* a NUL inside the buffer ends the document early: not accepted as valid */
    CHECK_EQ_INT(mc_model_parse_hf_config("{\"a\":\0}", 7, "configs/x.json", &m, &d),
                 MC_ERR_FORMAT);
}

/* ---- loader features ---- */

TEST(nested_text_config)
{
    /* a multimodal wrapper: the language model in text_config, dtype and quantization at the top */
    char text[1024];
    snprintf(text, sizeof text,
             "{\"model_type\": \"mistral3\", \"torch_dtype\": \"float16\", \"text_config\": %s,"
             " \"quantization_config\": {\"quant_method\": \"gptq\", \"bits\": 4}}",
             mixtral_small);
    /* the inner torch_dtype wins over the outer one */
    mc_model *m = NULL;
    mc_diag d = {{0}};
    CHECK_EQ_INT(parse_text(text, &m, &d), MC_OK);
    CHECK(m && strcmp(m->arch, "mixtral") == 0);
    CHECK(m && m->st.attn == MC_DT_INT4 && m->st.expert == MC_DT_INT4);
    CHECK(m && m->st.router == MC_DT_BF16 && m->st.embed == MC_DT_BF16 && m->st.kv == MC_DT_BF16);
    mc_model_free(m);
    m = NULL;
    snprintf(text, sizeof text, "{\"thinker_config\": {\"text_config\": %s}}", mixtral_small);
    CHECK_EQ_INT(parse_text(text, &m, &d), MC_OK);
    CHECK(m && m->n_layers == 2 && m->max_experts == 8);
    mc_model_free(m);
    /* errors inside name the nested key */
    cJSON *inner = parse_json(mixtral_small);
    mutate(inner, "num_experts_per_tok", "9");
    char *s = cJSON_PrintUnformatted(inner);
    snprintf(text, sizeof text, "{\"model_type\": \"llava\", \"text_config\": %s}", s);
    cJSON_free(s);
    cJSON_Delete(inner);
    CHECK_EQ_INT(parse_text(text, &m, &d), MC_ERR_RANGE);
    CHECK_CONTAINS(d.msg, "key 'text_config.num_experts_per_tok': 9 exceeds num_local_experts 8");
}

TEST(quantization_variants)
{
    static const struct {
        const char *qc;
        mc_dtype attn, expert;
    } cases[] = {
        {"{\"quant_method\": \"fp8\"}", MC_DT_FP8, MC_DT_FP8},
        {"{\"quant_method\": \"awq\", \"bits\": 4}", MC_DT_INT4, MC_DT_INT4},
        {"{\"quant_method\": \"gptq\", \"bits\": 8}", MC_DT_INT8, MC_DT_INT8},
        {"{\"quant_method\": \"mxfp4\"}", MC_DT_BF16, MC_DT_MXFP4},
        {"{\"quant_method\": \"compressed-tensors\", \"config_groups\": {\"g\": {\"weights\":"
         " {\"num_bits\": 8, \"type\": \"float\"}}}}",
         MC_DT_FP8, MC_DT_FP8},
        {"{\"quant_method\": \"compressed-tensors\", \"config_groups\": {\"g\": {\"weights\":"
         " {\"num_bits\": 4, \"type\": \"int\"}}}}",
         MC_DT_INT4, MC_DT_INT4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *doc = parse_json(mixtral_small);
        mutate(doc, "quantization_config", cases[i].qc);
        char *text = cJSON_PrintUnformatted(doc);
        mc_model *m = NULL;
        mc_diag d = {{0}};
        CHECK_EQ_INT(parse_text(text, &m, &d), MC_OK);
        CHECK(m && m->st.attn == cases[i].attn && m->st.expert == cases[i].expert);
        CHECK(m && m->st.router == MC_DT_BF16 && m->st.head == MC_DT_BF16);
        mc_model_free(m);
        cJSON_free(text);
        cJSON_Delete(doc);
    }
}

TEST(layer_placement)
{
    mc_model *m = NULL;
    mc_diag d = {{0}};
    /* qwen2_moe: layer 0 forced dense, then MoE on every 2nd layer ((l+1) % 2 == 0) */
    const char *q = "{\"model_type\": \"qwen2_moe\", \"hidden_size\": 64, \"num_hidden_layers\": 4,"
                    " \"num_attention_heads\": 4, \"vocab_size\": 100, \"num_experts\": 4,"
                    " \"num_experts_per_tok\": 2, \"moe_intermediate_size\": 32,"
                    " \"intermediate_size\": 128, \"decoder_sparse_step\": 2,"
                    " \"mlp_only_layers\": [1], \"shared_expert_intermediate_size\": 0}";
    CHECK_EQ_INT(parse_text(q, &m, &d), MC_OK);
    CHECK(m && m->layers[0].ffn == MC_FFN_DENSE && m->layers[1].ffn == MC_FFN_DENSE);
    CHECK(m && m->layers[2].ffn == MC_FFN_DENSE && m->layers[3].ffn == MC_FFN_MOE);
    CHECK(m && m->layers[3].n_shared == 0 && m->layers[3].p_shared == 0);
    CHECK(m && m->layers[0].p_dense == 3 * 64 * 128);
    mc_model_free(m);
    /* arctic: moe_layer_frequency 2 -> layers 1, 3 MoE with the residual MLP */
    const char *a = "{\"model_type\": \"arctic\", \"hidden_size\": 64, \"num_hidden_layers\": 4,"
                    " \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"vocab_size\": 100,"
                    " \"num_local_experts\": 8, \"num_experts_per_tok\": 2,"
                    " \"intermediate_size\": 48, \"moe_layer_frequency\": 2,"
                    " \"parallel_attn_mlp_res\": true}";
    CHECK_EQ_INT(parse_text(a, &m, &d), MC_OK);
    CHECK(m && m->layers[0].ffn == MC_FFN_DENSE && m->layers[0].p_dense == 3 * 64 * 48);
    CHECK(m && m->layers[1].ffn == MC_FFN_MOE && m->layers[1].p_shared == 3 * 64 * 64);
    CHECK(m && m->layers[0].p_norm == 2 * 64 && m->layers[1].p_norm == 3 * 64);
    mc_model_free(m);
}

TEST(tied_embeddings_counted_once)
{
    /* qwen2 0.5B-like dense model with tied embeddings: every weight is touched by a token, and
     * the embedding row is part of the (tied) head matrix, so active == total exactly. */
    const char *t = "{\"model_type\": \"qwen2\", \"hidden_size\": 896, \"num_hidden_layers\": 24,"
                    " \"num_attention_heads\": 14, \"num_key_value_heads\": 2,"
                    " \"intermediate_size\": 4864, \"vocab_size\": 151936,"
                    " \"tie_word_embeddings\": true, \"torch_dtype\": \"bfloat16\"}";
    mc_model *m = NULL;
    mc_diag d = {{0}};
    CHECK_EQ_INT(parse_text(t, &m, &d), MC_OK);
    if (!m)
        return;
    /* Qwen2.5-0.5B: 494,032,768 parameters (Qwen's published 0.49B) */
    CHECK_EQ_INT(m->total_params, 494032768);
    CHECK_EQ_INT(m->active_params, m->total_params);
    CHECK_EQ_INT(m->p_head, 0);
    /* bytes read per token do include the embedding row on top of the head matrix */
    CHECK_NEAR(m->decode_weight_bytes_per_token, 2.0 * (494032768 + 896), 0);
    mc_model_free(m);
}

TEST(load_paths_and_names)
{
    mc_model *m = NULL;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_model_load("Mixtral-8x7B", &m, &d), MC_OK); /* case-insensitive */
    CHECK(m && strcmp(m->name, "mixtral-8x7b") == 0);
    mc_model_free(m);
    CHECK_EQ_INT(mc_model_load("mixtral-8x8b", &m, &d), MC_ERR_NOT_FOUND);
    CHECK_CONTAINS(d.msg, "unknown model 'mixtral-8x8b' (close: mixtral-8x7b");
    CHECK(m == NULL);
    CHECK_EQ_INT(mc_model_load("../etc/passwd", &m, &d), MC_ERR_NOT_FOUND);
    CHECK_EQ_INT(mc_model_load("weights/model.gguf", &m, &d), MC_ERR_IO);
    CHECK_CONTAINS(d.msg, "gguf: weights/model.gguf: cannot open");
    CHECK_EQ_INT(mc_model_load("/nonexistent/config.json", &m, &d), MC_ERR_IO);
    CHECK_CONTAINS(d.msg, "/nonexistent/config.json");
    /* a model directory: name taken from the directory */
    char dir[4200], path[4300];
    snprintf(dir, sizeof dir, "%s/Tiny-MoE", harness_tmpdir());
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/config.json", dir);
    CHECK_EQ_INT(mc_write_file_atomic(path, mixtral_small, strlen(mixtral_small), &d), MC_OK);
    CHECK_EQ_INT(mc_model_load(dir, &m, &d), MC_OK);
    CHECK(m && strcmp(m->name, "Tiny-MoE") == 0 && strcmp(m->source, path) == 0);
    mc_model_free(m);
    CHECK_EQ_INT(mc_model_load_hf_config(path, &m, &d), MC_OK);
    CHECK(m && strcmp(m->name, "Tiny-MoE") == 0);
    mc_model_free(m);
}

TEST(catalogue_listing)
{
    char **names = NULL;
    int n = 0;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_model_catalogue(&names, &n, &d), MC_OK);
    CHECK_EQ_INT(n, (int)(sizeof totals / sizeof totals[0]));
    for (int i = 1; i < n; i++)
        CHECK(strcmp(names[i - 1], names[i]) < 0);
    int found = 0;
    for (int i = 0; i < n; i++)
        found += strcmp(names[i], "deepseek-v3") == 0 || strcmp(names[i], "gpt-oss-120b") == 0;
    CHECK_EQ_INT(found, 2);
    mc_model_catalogue_free(names, n);
    mc_model_catalogue_free(NULL, 0);
}

TEST(allocation_failures)
{
    /* every allocation of a catalogue load fails in turn: an error or success, never a crash or
     * a leak (the asan build checks the latter) */
    int failures = 0;
    for (uint64_t n = 1; n < 64; n++) {
        mc_model *m = NULL;
        mc_diag d = {{0}};
        mc_alloc_fail_at(n);
        mc_err e = mc_model_load("deepseek-v2-lite", &m, &d);
        mc_alloc_fail_at(0);
        CHECK(e == MC_OK || e == MC_ERR_NOMEM);
        CHECK((e == MC_OK) == (m != NULL));
        failures += e == MC_ERR_NOMEM;
        mc_model_free(m);
    }
    CHECK(failures >= 2); /* the file buffer and the model at least */
}

int main(void)
{
    RUN(catalogue_totals);
    RUN(catalogue_active_exact);
    RUN(mixtral_layers);
    RUN(deepseek_v2_lite_mla);
    RUN(deepseek_v3_fp8);
    RUN(other_layer_sizes);
    RUN(precision_override);
    RUN(bad_mixtral_configs);
    RUN(bad_other_configs);
    RUN(bad_json);
    RUN(nested_text_config);
    RUN(quantization_variants);
    RUN(layer_placement);
    RUN(tied_embeddings_counted_once);
    RUN(load_paths_and_names);
    RUN(catalogue_listing);
    RUN(allocation_failures);
    return harness_done();
}
