/* test_gguf_model.c: the GGUF -> mc_model mapping: exact bytes from real tensor sizes (f32 and
 * quantised), every supported architecture, MLA, per-layer keys, and a table of contradictory or
 * missing metadata with the exact messages. Models come from tests/support/gguf_fixtures.c. */
#include "gguf.h"
#include "gguf_fixtures.h"
#include "harness.h"

/* ---- GGUF -> mc_model ------------------------------------------------------------------------ */

static mc_err load(const fx_model *s, mc_model **m, mc_diag *d)
{
    void *buf = NULL;
    size_t n = 0;
    mc_gguf *g = NULL;
    *m = NULL;
    mc_err e = fx_model_bytes(s, &buf, &n, d);
    if (!e)
        e = mc_gguf_parse(buf, n, "m.gguf", &g, d);
    if (!e)
        e = mc_model_from_gguf(g, m, d);
    mc_gguf_free(g);
    mc_free(buf);
    return e;
}

/* Mixtral layout, f32, hidden 8, 2 layers, 4 heads (2 kv) of dim 2, 4 experts of width 16,
 * top-2, vocab 16. Bytes by hand (4 per weight):
 *   attention q 8x8 + k 8x4 + v 8x4 + o 8x8 = 192 weights = 768 bytes; norms 2x8 = 64 bytes;
 *   router 8x4 = 128 bytes; one expert 3x8x16 = 384 weights = 1536 bytes;
 *   embedding 8x16 = 512 bytes, head 512, final norm 32. */
TEST(model_mixtral_exact_bytes)
{
    fx_model s = fx_preset("llama");
    mc_model *m = NULL;
    mc_diag d;
    CHECK_EQ_INT(load(&s, &m, &d), MC_OK);
    if (!m) {
        fprintf(stderr, "%s\n", d.msg);
        return;
    }
    CHECK_STR(m->arch, "mixtral");
    CHECK_STR(m->name, "tiny");
    CHECK_STR(m->source, "m.gguf");
    CHECK_EQ_INT(m->n_layers, 2);
    CHECK_EQ_INT(m->hidden, 8);
    CHECK_EQ_INT(m->vocab, 16);
    CHECK_EQ_INT(m->max_ctx, 4096);
    CHECK_NEAR(m->rope_theta, 1e6, 0);
    CHECK_NEAR(m->norm_eps, 1e-6f, 0);
    CHECK_EQ_INT(m->attn.kind, MC_ATTN_GQA);
    CHECK_EQ_INT(m->attn.n_heads, 4);
    CHECK_EQ_INT(m->attn.n_kv_heads, 2);
    CHECK_EQ_INT(m->attn.head_dim, 2);
    CHECK_EQ_INT(m->exact_bytes, 1);
    CHECK_EQ_INT(m->tied_embeddings, 0);
    CHECK_EQ_INT(m->n_moe_layers, 2);
    const mc_layer *L = &m->layers[1];
    CHECK_EQ_INT(L->ffn, MC_FFN_MOE);
    CHECK_EQ_INT(L->n_experts, 4);
    CHECK_EQ_INT(L->top_k, 2);
    CHECK_EQ_INT(L->expert_ff, 16);
    CHECK_EQ_INT(L->n_shared, 0);
    CHECK_NEAR(L->b_attn, 768, 0);
    CHECK_NEAR(L->b_norm, 64, 0);
    CHECK_NEAR(L->b_router, 128, 0);
    CHECK_NEAR(L->b_expert, 1536, 0);
    CHECK_NEAR(L->b_shared, 0, 0);
    CHECK_NEAR(m->b_embed, 512, 0);
    CHECK_NEAR(m->b_head, 512, 0);
    CHECK_NEAR(m->b_final_norm, 32, 0);
    /* total = 2 x (768 + 64 + 128 + 4 x 1536) + 512 + 512 + 32 = 2 x 7104 + 1056 */
    CHECK_NEAR(m->total_bytes, 15264, 0);
    /* decode = 2 x (768 + 64 + 128 + 2 x 1536) + head 512 + one embedding row 32 + norm 32 */
    CHECK_NEAR(m->decode_weight_bytes_per_token, 8640, 0);
    CHECK_EQ_INT(m->st.expert, MC_DT_F32);
    CHECK_EQ_INT(m->st.kv, MC_DT_F16);
    /* parameters follow the structure: one expert is 3 x 8 x 16 */
    CHECK_EQ_INT(L->p_expert, 384);
    mc_model_free(m);

    /* the old split-expert layout gives the same model */
    s.split_experts = 1;
    CHECK_EQ_INT(load(&s, &m, &d), MC_OK);
    CHECK(m && m->layers[0].b_expert == 1536 && m->total_bytes == 15264);
    mc_model_free(m);
}

/* Quantised experts: exact bytes follow the block sizes (q4_K: 144 bytes per 256 weights). */
TEST(model_quantised_bytes)
{
    fx_model s = fx_preset("llama");
    s.hidden = 256;
    s.n_heads = 4;
    s.n_kv = 4;
    s.head_dim = 64;
    s.exp_ff = s.ff = 512;
    s.wtype = MC_GGML_Q8_0;
    s.etype = MC_GGML_Q4_K;
    s.tied = 1;
    s.n_layers = 1;
    mc_model *m = NULL;
    mc_diag d;
    CHECK_EQ_INT(load(&s, &m, &d), MC_OK);
    if (!m) {
        fprintf(stderr, "%s\n", d.msg);
        return;
    }
    /* one expert: 3 x 256 x 512 = 393216 weights / 256 x 144 = 221184 bytes */
    CHECK_NEAR(m->layers[0].b_expert, 221184, 0);
    /* attention: 4 x 256 x 256 = 262144 weights, q8_0 = 34 bytes / 32 -> 278528 */
    CHECK_NEAR(m->layers[0].b_attn, 278528, 0);
    CHECK_EQ_INT(m->tied_embeddings, 1);
    CHECK_NEAR(m->b_head, 0, 0);
    CHECK_EQ_INT(m->st.expert, MC_DT_Q4_K);
    CHECK_EQ_INT(m->st.attn, MC_DT_Q8_0);
    CHECK_EQ_INT(m->st.head, MC_DT_Q8_0);
    mc_model_free(m);

    s.etype = MC_GGML_IQ2_XXS; /* 2.06 bits: no mc_dtype, nearest is q2_K */
    CHECK_EQ_INT(load(&s, &m, &d), MC_OK);
    CHECK(m && m->st.expert == MC_DT_Q2_K && m->layers[0].b_expert == 3 * 256 * 512 / 256 * 66);
    mc_model_free(m);
}

typedef struct arch_case {
    const char *preset, *arch;
    int64_t moe_layers, dense_layers, n_shared, shared_ff;
    int qkv_bias, o_bias, qk_norm, qk_norm_full, sinks, shared_gate, router_bias, expert_bias;
} arch_case;

TEST(model_architectures)
{
    static const arch_case cases[] = {
        {"llama-dense", "llama", 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
        {"qwen2", "qwen2", 0, 2, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0},
        {"qwen3", "qwen3", 0, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0},
        {"qwen2moe", "qwen2_moe", 2, 0, 1, 8, 1, 0, 0, 0, 0, 1, 0, 0},
        {"qwen3moe", "qwen3_moe", 2, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0},
        {"olmoe", "olmoe", 2, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0},
        {"deepseek2", "deepseek_v2", 2, 1, 2, 8, 0, 0, 0, 0, 0, 0, 0, 0},
        {"dbrx", "dbrx", 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
        {"gpt-oss", "gpt_oss", 2, 0, 0, 0, 1, 1, 0, 0, 1, 0, 1, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const arch_case *c = &cases[i];
        fx_model s = fx_preset(c->preset);
        mc_model *m = NULL;
        mc_diag d;
        mc_err e = load(&s, &m, &d);
        if (e)
            fprintf(stderr, "%s: %s\n", c->preset, d.msg);
        CHECK_EQ_INT(e, MC_OK);
        if (!m)
            continue;
        const mc_layer *L = &m->layers[m->n_layers - 1];
        CHECK_STR(m->arch, c->arch);
        CHECK_EQ_INT(m->n_moe_layers, c->moe_layers);
        CHECK_EQ_INT(m->n_dense_layers, c->dense_layers);
        CHECK_EQ_INT(L->n_shared, c->n_shared);
        CHECK_EQ_INT(L->shared_ff, c->shared_ff);
        CHECK_EQ_INT(m->attn.qkv_bias, c->qkv_bias);
        CHECK_EQ_INT(m->attn.o_bias, c->o_bias);
        CHECK_EQ_INT(m->attn.qk_norm, c->qk_norm);
        CHECK_EQ_INT(m->attn.qk_norm_full, c->qk_norm_full);
        CHECK_EQ_INT(m->attn.sinks, c->sinks);
        CHECK_EQ_INT(L->shared_gate, c->shared_gate);
        CHECK_EQ_INT(L->router_bias, c->router_bias);
        CHECK_EQ_INT(L->expert_bias, c->expert_bias);
        mc_model_free(m);
    }
}

/* deepseek2 preset: MLA with q_lora 6, kv_lora 4, rope 2, key 6 (nope 4), value 4, 4 heads,
 * hidden 8, 3 layers with the first dense (24 wide), 4 routed experts of width 4, 2 shared
 * (8 wide in total), all f32. */
TEST(model_deepseek2_mla)
{
    fx_model s = fx_preset("deepseek2");
    mc_model *m = NULL;
    mc_diag d;
    CHECK_EQ_INT(load(&s, &m, &d), MC_OK);
    if (!m) {
        fprintf(stderr, "%s\n", d.msg);
        return;
    }
    CHECK_EQ_INT(m->attn.kind, MC_ATTN_MLA);
    CHECK_EQ_INT(m->attn.q_lora_rank, 6);
    CHECK_EQ_INT(m->attn.kv_lora_rank, 4);
    CHECK_EQ_INT(m->attn.qk_rope_dim, 2);
    CHECK_EQ_INT(m->attn.qk_nope_dim, 4);
    CHECK_EQ_INT(m->attn.v_head_dim, 4);
    CHECK_EQ_INT(m->layers[0].ffn, MC_FFN_DENSE);
    CHECK_EQ_INT(m->layers[0].dense_ff, 24);
    /* dense: 3 x 8 x 24 weights x 4 bytes */
    CHECK_NEAR(m->layers[0].b_dense, 2304, 0);
    /* attention: q_a 8x6 + q_a_norm 6 + q_b 6x24 + kv_a 8x6 + kv_a_norm 4 + kv_b 4x32 + o 16x8
     * = 48 + 6 + 144 + 48 + 4 + 128 + 128 = 506 weights; the same count as model.c's formula */
    CHECK_NEAR(m->layers[1].b_attn, 506 * 4, 0);
    CHECK_EQ_INT(m->layers[1].p_attn, 506);
    CHECK_NEAR(m->layers[2].b_expert, 3 * 8 * 4 * 4, 0);
    CHECK_NEAR(m->layers[2].b_shared, 3 * 8 * 8 * 4, 0);
    /* KV cache: (kv_lora + rope) x 3 layers x f16 */
    CHECK_NEAR(m->kv_bytes_per_token, 6 * 3 * 2, 0);
    mc_model_free(m);

    s.exp_probs = 1;
    CHECK_EQ_INT(load(&s, &m, &d), MC_OK);
    CHECK(m && !strcmp(m->arch, "deepseek_v3") && m->layers[2].router_bias == 1);
    mc_model_free(m);
}

typedef struct model_error {
    const char *preset, *lie_key;
    int64_t lie_value;
    mc_err err;
    const char *msg; /* after "gguf: m.gguf: " */
} model_error;

static const model_error model_errors[] = {
    {"llama", "expert_used_count", 5, MC_ERR_RANGE,
     "key 'llama.expert_used_count' = 5 exceeds 'llama.expert_count' = 4"},
    {"llama", "expert_used_count", -1, MC_ERR_FORMAT,
     "layer 0 has expert tensors but 'llama.expert_count' / 'llama.expert_used_count' are "
     "missing or 0"},
    {"llama", "expert_count", 8, MC_ERR_FORMAT,
     "tensor 'blk.0.ffn_gate_inp.weight' has dims [8, 4], expected [8, 8] (embedding_length, "
     "expert_count)"},
    {"llama", "feed_forward_length", 32, MC_ERR_FORMAT,
     "layer 0: expert width 16 in the tensors disagrees with feed_forward_length = 32 in the "
     "metadata"},
    {"llama-dense", "feed_forward_length", 32, MC_ERR_FORMAT,
     "layer 0: feed-forward width 16 in the tensors disagrees with feed_forward_length = 32"},
    {"qwen3moe", "expert_feed_forward_length", 6, MC_ERR_FORMAT,
     "layer 0: expert width 4 in the tensors disagrees with expert_feed_forward_length = 6 in "
     "the metadata"},
    {"qwen2moe", "expert_shared_feed_forward_length", 16, MC_ERR_FORMAT,
     "layer 0: shared-expert width 8 disagrees with expert_shared_feed_forward_length = 16"},
    {"llama", "attention.head_count_kv", 8, MC_ERR_RANGE,
     "key 'llama.attention.head_count_kv' = 8 exceeds head_count 4"},
    {"llama", "attention.head_count", 2, MC_ERR_FORMAT,
     "tensor 'blk.0.attn_k.weight' has dims [8, 4], expected [8, 8] (embedding_length, "
     "head_count(_kv) x head dim)"},
    {"llama", "attention.head_count", 3, MC_ERR_FORMAT,
     "embedding_length 8 is not a multiple of head_count 3 and 'llama.attention.key_length' is "
     "missing"},
    {"qwen3", "attention.value_length", 8, MC_ERR_UNSUPPORTED,
     "value_length 8 differs from key_length 4 (not supported)"},
    {"llama", "embedding_length", 16, MC_ERR_FORMAT,
     "tensor 'blk.0.attn_norm.weight' has dims [8], expected [16] (embedding_length)"},
    {"llama", "block_count", 1, MC_ERR_FORMAT,
     "tensor 'blk.1.attn_norm.weight': layer 1 >= block_count 1"},
    {"llama", "block_count", -1, MC_ERR_NOT_FOUND, "missing key 'llama.block_count'"},
    {"llama", "block_count", 0, MC_ERR_RANGE,
     "key 'llama.block_count' = 0 out of range [1, 100000]"},
    {"llama", "embedding_length", -1, MC_ERR_NOT_FOUND, "missing key 'llama.embedding_length'"},
    {"llama", "attention.head_count", -1, MC_ERR_NOT_FOUND,
     "missing key 'llama.attention.head_count'"},
    {"llama", "tokens", 17, MC_ERR_FORMAT,
     "tokenizer has 17 tokens but token_embd.weight has 16 rows"},
    {"deepseek2", "leading_dense_block_count", 0, MC_ERR_FORMAT,
     "layer 0 has no expert tensors but 'deepseek2.expert_count' is 4"},
    {"deepseek2", "leading_dense_block_count", 2, MC_ERR_FORMAT,
     "layer 1 has expert tensors but 'deepseek2.leading_dense_block_count' is 2"},
    {"deepseek2", "leading_dense_block_count", 4, MC_ERR_RANGE,
     "key 'deepseek2.leading_dense_block_count' = 4 out of range [0, 3]"},
    {"deepseek2", "attention.kv_lora_rank", 5, MC_ERR_FORMAT,
     "tensor 'blk.0.attn_kv_a_mqa.weight' has dims [8, 6], expected [8, 7] (MLA ranks and head "
     "dims)"},
    {"deepseek2", "rope.dimension_count", -1, MC_ERR_FORMAT,
     "MLA needs 'deepseek2.attention.key_length', 'value_length', 'kv_lora_rank' > 0 and 0 < "
     "rope.dimension_count < key_length"},
};

TEST(model_errors)
{
    for (size_t i = 0; i < sizeof model_errors / sizeof model_errors[0]; i++) {
        const model_error *c = &model_errors[i];
        fx_model s = fx_preset(c->preset);
        s.lie_key = c->lie_key;
        s.lie_value = c->lie_value;
        mc_model *m = NULL;
        mc_diag d;
        char want[600];
        snprintf(want, sizeof want, "gguf: m.gguf: %s", c->msg);
        mc_err e = load(&s, &m, &d);
        if (e != c->err || strcmp(d.msg, want) != 0)
            fprintf(stderr, "case %zu (%s %s = %lld):\n", i, c->preset, c->lie_key,
                    (long long)c->lie_value);
        CHECK_EQ_INT(e, c->err);
        CHECK_STR(d.msg, want);
        CHECK(m == NULL);
        mc_model_free(m);
    }
    fx_model s = fx_preset("llama");
    s.arch = "falcon";
    mc_model *m = NULL;
    mc_diag d;
    CHECK_EQ_INT(load(&s, &m, &d), MC_ERR_UNSUPPORTED);
    CHECK_STR(d.msg, "gguf: m.gguf: architecture 'falcon' is not supported (llama, qwen2, qwen3, "
                     "qwen2moe, qwen3moe, olmoe, deepseek2, dbrx, gpt-oss)");
}

/* Builds the preset with extra metadata / tensors added by `more`, and loads it. */
static mc_err load_with(const fx_model *s, mc_err (*more)(mc_gguf_writer *w, mc_diag *d),
                        mc_model **m, mc_diag *d)
{
    mc_gguf_writer *w = fx_model_writer(s, d);
    void *buf = NULL;
    size_t n = 0;
    mc_gguf *g = NULL;
    *m = NULL;
    mc_err e = w ? more(w, d) : MC_ERR_ARG;
    if (!e)
        e = mc_gguf_writer_write_mem(w, &buf, &n, d);
    if (!e)
        e = mc_gguf_parse(buf, n, "m.gguf", &g, d);
    if (!e)
        e = mc_model_from_gguf(g, m, d);
    mc_gguf_free(g);
    mc_free(buf);
    mc_gguf_writer_free(w);
    return e;
}

static mc_err add_kv_array_same(mc_gguf_writer *w, mc_diag *d)
{
    static const int32_t kv[] = {2, 2};
    return mc_gguf_add_arr(w, "llama.attention.head_count_kv", MC_GGUF_INT32, kv, 2, d);
}

static mc_err add_kv_array_differs(mc_gguf_writer *w, mc_diag *d)
{
    static const int32_t kv[] = {2, 1};
    return mc_gguf_add_arr(w, "llama.attention.head_count_kv", MC_GGUF_INT32, kv, 2, d);
}

static mc_err add_kv_array_short(mc_gguf_writer *w, mc_diag *d)
{
    static const int32_t kv[] = {2};
    return mc_gguf_add_arr(w, "llama.attention.head_count_kv", MC_GGUF_INT32, kv, 1, d);
}

static mc_err add_unknown_tensor(mc_gguf_writer *w, mc_diag *d)
{
    mc_gguf_tensor_src t = {.name = "blk.0.foo.weight", .type = 0, .n_dims = 1, .dims = {8}};
    return mc_gguf_add_tensor(w, &t, d);
}

static mc_err add_newline_tensor(mc_gguf_writer *w, mc_diag *d)
{
    mc_gguf_tensor_src t = {.name = "blk.0.f\noo.weight", .type = 0, .n_dims = 1, .dims = {8}};
    return mc_gguf_add_tensor(w, &t, d);
}

static mc_err add_rope_freqs(mc_gguf_writer *w, mc_diag *d)
{
    mc_gguf_tensor_src t = {.name = "rope_freqs.weight", .type = 0, .n_dims = 1, .dims = {1}};
    return mc_gguf_add_tensor(w, &t, d);
}

TEST(model_per_layer_keys_and_tensors)
{
    fx_model s = fx_preset("llama");
    s.lie_key = "attention.head_count_kv";
    s.lie_value = -1;
    mc_model *m = NULL;
    mc_diag d;
    CHECK_EQ_INT(load_with(&s, add_kv_array_same, &m, &d), MC_OK);
    CHECK(m && m->attn.n_kv_heads == 2);
    mc_model_free(m);
    CHECK_EQ_INT(load_with(&s, add_kv_array_differs, &m, &d), MC_ERR_UNSUPPORTED);
    CHECK_STR(d.msg, "gguf: m.gguf: key 'llama.attention.head_count_kv' differs between layers "
                     "(layer 0: 2, layer 1: 1); per-layer attention shapes are not supported");
    CHECK_EQ_INT(load_with(&s, add_kv_array_short, &m, &d), MC_ERR_FORMAT);
    CHECK_STR(d.msg, "gguf: m.gguf: key 'llama.attention.head_count_kv' has 1 entries, expected "
                     "2 (block_count)");
    s = fx_preset("llama");
    CHECK_EQ_INT(load_with(&s, add_unknown_tensor, &m, &d), MC_ERR_UNSUPPORTED);
    CHECK_STR(d.msg, "gguf: m.gguf: tensor 'blk.0.foo.weight' is not part of a supported llama "
                     "model");
    CHECK_EQ_INT(load_with(&s, add_newline_tensor, &m, &d), MC_ERR_UNSUPPORTED);
    CHECK_STR(d.msg, "gguf: m.gguf: tensor 'blk.0.f?oo.weight' is not part of a supported llama "
                     "model");
    CHECK_EQ_INT(load_with(&s, add_rope_freqs, &m, &d), MC_OK);
    CHECK(m && m->total_bytes == 15264); /* rope_freqs is not a weight */
    mc_model_free(m);

    /* a model with no vocabulary in the metadata takes it from token_embd */
    s.lie_key = "tokens";
    s.lie_value = -1;
    CHECK_EQ_INT(load(&s, &m, &d), MC_OK);
    CHECK(m && m->vocab == 16);
    mc_model_free(m);
}

TEST(model_load_gguf_file)
{
    fx_model s = fx_preset("qwen3moe");
    mc_gguf_writer *w = NULL;
    mc_diag d;
    char path[4200];
    snprintf(path, sizeof path, "%s/qwen3moe-tiny.gguf", harness_tmpdir());
    s.name = NULL; /* the name then comes from the file */
    CHECK((w = fx_model_writer(&s, &d)) != NULL);
    CHECK_EQ_INT(mc_gguf_writer_write_file(w, path, &d), MC_OK);
    mc_gguf_writer_free(w);
    mc_model *m = NULL;
    CHECK_EQ_INT(mc_model_load_gguf(path, &m, &d), MC_OK);
    CHECK(m != NULL);
    if (m) {
        CHECK_STR(m->name, "qwen3moe-tiny");
        CHECK_STR(m->source, path);
        CHECK_STR(m->arch, "qwen3_moe");
        CHECK_EQ_INT(m->attn.head_dim, 4);
    }
    mc_model_free(m);
    CHECK_EQ_INT(mc_model_load_gguf("/nonexistent.gguf", &m, &d), MC_ERR_IO);
    CHECK(m == NULL);
}

int main(void)
{
    RUN(model_mixtral_exact_bytes);
    RUN(model_quantised_bytes);
    RUN(model_architectures);
    RUN(model_deepseek2_mla);
    RUN(model_errors);
    RUN(model_per_layer_keys_and_tensors);
    RUN(model_load_gguf_file);
    return harness_done();
}
