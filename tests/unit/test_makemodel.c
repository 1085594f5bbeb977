/* test_makemodel.c: `make-model` as a library (src/engine/makemodel.h): generated files load
 * through the GGUF -> mc_model mapping with hand-computed tensor bytes, every architecture and
 * type, byte-identical output for equal seeds (and a golden hash, so a change of platform or
 * generator shows), quantised weights close to the f32 weights of the same seed, the synthetic
 * vocabulary, --vocab-from, the routing skew measured on the router logits of the embeddings,
 * weight statistics, and the exact message of every bad option (with no file left behind). */
#include "gguf.h"
#include "harness.h"
#include "kernels.h"
#include "makemodel.h"
#include "tokenizer.h"

#include <sys/stat.h>

static char g_path[4200];

static const char *tmp(const char *name)
{
    int n = snprintf(g_path, sizeof g_path, "%.4000s/%.64s", harness_tmpdir(), name);
    (void)n;
    return g_path;
}

static mc_make_opts tiny(void)
{
    mc_make_opts o;
    mc_make_opts_default(&o);
    o.layers = 2;
    o.embd = 64;
    o.ff = 128;
    o.experts = 4;
    o.top_k = 2;
    o.heads = 4;
    o.kv_heads = 2;
    o.vocab = 300;
    o.type = MC_DT_F32;
    return o;
}

static uint64_t fnv_file(const char *path)
{
    char *buf = NULL;
    size_t n = 0;
    if (mc_read_file(path, (size_t)1 << 30, &buf, &n, NULL) != MC_OK)
        return 0;
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)buf[i]) * UINT64_C(0x100000001b3);
    mc_free(buf);
    return h;
}

static int64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

/* ---- structure and exact bytes --------------------------------------------------------------- */

/* llama, 2 layers, embd 64, 4 heads (2 kv) of dim 16, 4 experts of width 128, vocab 300, f32:
 *   per layer: norms 2 x 64; q 64x64 + k 64x32 + v 64x32 + o 64x64 = 12288; router 64x4 = 256;
 *   experts 3 x 64 x 128 x 4 = 98304  -> 110976 elements
 *   globals: token_embd 64x300 = 19200, output 19200, output_norm 64 -> 38464
 *   total 2 x 110976 + 38464 = 260416 elements = 1041664 bytes; 2 x 10 + 3 = 23 tensors. */
TEST(llama_f32_exact)
{
    mc_make_opts o = tiny();
    mc_make_summary s;
    mc_diag d = {{0}};
    const char *p = tmp("llama-f32.gguf");
    CHECK_EQ_INT(mc_make_model_ex(&o, p, &s, &d), MC_OK);
    if (d.msg[0])
        fprintf(stderr, "%s\n", d.msg);
    CHECK_EQ_INT(s.n_tensors, 23);
    CHECK_EQ_INT(s.n_params, 260416);
    CHECK_EQ_INT(s.tensor_bytes, 1041664);
    CHECK_EQ_INT(s.type_bytes[MC_DT_F32], 1041664);
    CHECK_EQ_INT(s.vocab, 300);
    CHECK_EQ_INT(s.head_dim, 16);
    CHECK_EQ_INT(file_size(p), (int64_t)s.file_bytes);
    mc_model *m = NULL;
    CHECK_EQ_INT(mc_model_load_gguf(p, &m, &d), MC_OK);
    if (!m) {
        fprintf(stderr, "%s\n", d.msg);
        return;
    }
    CHECK_STR(m->arch, "mixtral");
    CHECK_STR(m->name, "moecap-random-llama");
    CHECK_EQ_INT(m->n_layers, 2);
    CHECK_EQ_INT(m->hidden, 64);
    CHECK_EQ_INT(m->vocab, 300);
    CHECK_EQ_INT(m->max_ctx, 4096);
    CHECK_EQ_INT(m->attn.n_heads, 4);
    CHECK_EQ_INT(m->attn.n_kv_heads, 2);
    CHECK_EQ_INT(m->attn.head_dim, 16);
    CHECK_NEAR(m->rope_theta, 10000, 0);
    CHECK_NEAR(m->norm_eps, 1e-5f, 0);
    CHECK_EQ_INT(m->layers[1].n_experts, 4);
    CHECK_EQ_INT(m->layers[1].top_k, 2);
    CHECK_EQ_INT(m->layers[1].expert_ff, 128);
    CHECK_NEAR(m->layers[1].b_attn, 49152, 0);
    CHECK_NEAR(m->layers[1].b_norm, 512, 0);
    CHECK_NEAR(m->layers[1].b_router, 1024, 0);
    CHECK_NEAR(m->layers[1].b_expert, 98304, 0);
    CHECK_NEAR(m->b_embed, 76800, 0);
    CHECK_NEAR(m->b_head, 76800, 0);
    CHECK_NEAR(m->total_bytes, 1041664, 0);
    CHECK_EQ_INT(m->total_params, 260416);
    mc_model_free(m);
}

/* The same shape in q8_0 (34 bytes per 32): attention 12288 -> 13056, experts 98304 -> 104448,
 * token_embd and output 19200 -> 20400 each; norms and router stay f32 (1536 per layer + 256):
 * 2 x (13056 + 104448 + 1536) + 2 x 20400 + 256 = 279136. */
TEST(llama_q8_0_exact)
{
    mc_make_opts o = tiny();
    o.type = MC_DT_Q8_0;
    mc_make_summary s;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_make_model_ex(&o, tmp("llama-q8.gguf"), &s, &d), MC_OK);
    CHECK_EQ_INT(s.tensor_bytes, 279136);
    CHECK_EQ_INT(s.type_bytes[MC_DT_F32], 2 * 1536 + 256);
    CHECK_EQ_INT(s.type_bytes[MC_DT_Q8_0], 279136 - 3328);
    CHECK_EQ_INT(s.n_params, 260416);
    mc_model *m = NULL;
    CHECK_EQ_INT(mc_model_load_gguf(g_path, &m, &d), MC_OK);
    if (m) {
        CHECK_EQ_INT(m->st.expert, MC_DT_Q8_0);
        CHECK_EQ_INT(m->st.router, MC_DT_F32);
        CHECK_NEAR(m->layers[0].b_expert, 104448 / 4, 0);
        CHECK_NEAR(m->total_bytes, 279136, 0);
    }
    mc_model_free(m);
}

/* q4_K, 1 layer, embd 256, ff 256, 4 heads (2 kv) of 64, 4 experts, vocab 300. q4_K: 144 bytes
 * per 256; output q6_K (210 per 256) as llama.cpp stores it:
 *   attention (65536 + 2 x 32768 + 65536) / 256 x 144 = 110592; experts 786432 / 256 x 144 =
 *   442368; token_embd 300 x 144 = 43200; output 300 x 210 = 63000; norms 3 x 1024; router 4096
 *   -> 666328. */
TEST(q4_k_output_q6_k)
{
    mc_make_opts o = tiny();
    o.layers = 1;
    o.embd = 256;
    o.ff = 256;
    o.type = MC_DT_Q4_K;
    mc_make_summary s;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_make_model_ex(&o, tmp("q4k.gguf"), &s, &d), MC_OK);
    CHECK_EQ_INT(s.tensor_bytes, 666328);
    CHECK_EQ_INT(s.type_bytes[MC_DT_Q6_K], 63000);
    CHECK_EQ_INT(s.type_bytes[MC_DT_Q4_K], 110592 + 442368 + 43200);
    mc_gguf *g = NULL;
    CHECK_EQ_INT(mc_gguf_open(g_path, &g, &d), MC_OK);
    if (g) {
        CHECK_EQ_INT(mc_gguf_find_tensor(g, "output.weight")->type, MC_GGML_Q6_K);
        CHECK_EQ_INT(mc_gguf_find_tensor(g, "token_embd.weight")->type, MC_GGML_Q4_K);
        CHECK_EQ_INT(mc_gguf_find_tensor(g, "blk.0.ffn_gate_inp.weight")->type, MC_GGML_F32);
        uint32_t ft = 0;
        CHECK_EQ_INT(mc_gguf_get_u32(g, "general.file_type", &ft, &d), MC_OK);
        CHECK_EQ_INT(ft, 14);
    }
    mc_gguf_free(g);
    /* q4_0 with embd 64 (not whole 256-blocks): output falls back to q8_0 */
    o = tiny();
    o.type = MC_DT_Q4_0;
    CHECK_EQ_INT(mc_make_model_ex(&o, tmp("q40.gguf"), &s, &d), MC_OK);
    CHECK_EQ_INT(s.type_bytes[MC_DT_Q8_0], 19200 / 32 * 34);
    /* an explicit --output-type wins */
    o.has_output_type = 1;
    o.output_type = MC_DT_F16;
    CHECK_EQ_INT(mc_make_model_plan(&o, &s, &d), MC_OK);
    CHECK_EQ_INT(s.type_bytes[MC_DT_F16], 19200 * 2);
    CHECK_EQ_INT(s.type_bytes[MC_DT_Q8_0], 0);
}

/* Each architecture loads and maps to its HF name, with its own tensors. */
TEST(every_arch)
{
    static const struct {
        const char *arch, *hf;
        const char *tensor; /* one tensor only this arch has */
    } cases[] = {
        {"llama", "mixtral", "blk.1.ffn_gate_exps.weight"},
        {"qwen2moe", "qwen2_moe", "blk.1.ffn_gate_inp_shexp.weight"},
        {"olmoe", "olmoe", "blk.1.attn_q_norm.weight"},
        {"qwen3moe", "qwen3_moe", "blk.1.attn_k_norm.weight"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mc_make_opts o = tiny();
        o.arch = cases[i].arch;
        if (!strcmp(o.arch, "olmoe"))
            o.kv_heads = 4;
        if (!strcmp(o.arch, "qwen3moe"))
            o.head_dim = 32; /* != embd / heads */
        char name[64];
        snprintf(name, sizeof name, "arch-%s.gguf", o.arch);
        mc_diag d = {{0}};
        CHECK_EQ_INT(mc_make_model(&o, tmp(name), &d), MC_OK);
        mc_model *m = NULL;
        CHECK_EQ_INT(mc_model_load_gguf(g_path, &m, &d), MC_OK);
        if (!m) {
            fprintf(stderr, "%s: %s\n", o.arch, d.msg);
            continue;
        }
        CHECK_STR(m->arch, cases[i].hf);
        CHECK_EQ_INT(m->n_moe_layers, 2);
        mc_gguf *g = NULL;
        CHECK_EQ_INT(mc_gguf_open(g_path, &g, &d), MC_OK);
        CHECK(g && mc_gguf_find_tensor(g, cases[i].tensor) != NULL);
        if (!strcmp(o.arch, "qwen2moe")) {
            CHECK_EQ_INT(m->layers[0].n_shared, 1);
            CHECK_EQ_INT(m->layers[0].shared_ff, 512); /* default 4 x ff */
            CHECK_EQ_INT(m->layers[0].shared_gate, 1);
            CHECK_EQ_INT(m->attn.qkv_bias, 1);
            CHECK_NEAR(m->rope_theta, 1e6, 0);
        }
        if (!strcmp(o.arch, "olmoe"))
            CHECK_EQ_INT(m->attn.qk_norm_full, 1);
        if (!strcmp(o.arch, "qwen3moe")) {
            CHECK_EQ_INT(m->attn.head_dim, 32);
            CHECK_EQ_INT(m->attn.qk_norm, 1);
            CHECK_EQ_INT(m->attn.qk_norm_full, 0);
            CHECK(mc_gguf_find_tensor(g, "blk.0.attn_q.weight")->dims[1] == 128);
        }
        mc_gguf_free(g);
        mc_model_free(m);
    }
}

/* experts = 0: a dense llama with ffn_gate/up/down of width ff. */
TEST(dense_llama)
{
    mc_make_opts o = tiny();
    o.experts = 0;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_make_model(&o, tmp("dense.gguf"), &d), MC_OK);
    mc_model *m = NULL;
    CHECK_EQ_INT(mc_model_load_gguf(g_path, &m, &d), MC_OK);
    if (!m)
        return;
    CHECK_STR(m->arch, "llama");
    CHECK_EQ_INT(m->n_moe_layers, 0);
    CHECK_EQ_INT(m->layers[0].ffn, MC_FFN_DENSE);
    CHECK_EQ_INT(m->layers[0].dense_ff, 128);
    CHECK_NEAR(m->layers[0].b_dense, 3 * 64 * 128 * 4, 0);
    mc_model_free(m);
}

/* ---- determinism ----------------------------------------------------------------------------- */

TEST(same_seed_same_bytes)
{
    mc_make_opts o = tiny();
    o.type = MC_DT_Q4_0;
    o.route_skew = 2;
    mc_diag d = {{0}};
    char a[4200], b[4200], c[4200];
    CHECK_EQ_INT(mc_make_model(&o, tmp("seed-a.gguf"), &d), MC_OK);
    snprintf(a, sizeof a, "%s", g_path);
    CHECK_EQ_INT(mc_make_model(&o, tmp("seed-b.gguf"), &d), MC_OK);
    snprintf(b, sizeof b, "%s", g_path);
    o.seed = 2;
    CHECK_EQ_INT(mc_make_model(&o, tmp("seed-c.gguf"), &d), MC_OK);
    snprintf(c, sizeof c, "%s", g_path);
    uint64_t ha = fnv_file(a), hb = fnv_file(b), hc = fnv_file(c);
    CHECK(ha != 0);
    CHECK(ha == hb);
    CHECK(ha != hc);
    CHECK_EQ_INT(file_size(a), file_size(c)); /* same shapes, other values */
    /* the scalar reference kernels write the same bytes as the best kernel set */
    if (strcmp(mc_kernels_isa_best(), "ref") != 0) {
        o.seed = 1;
        CHECK_EQ_INT(mc_kernels_init("ref", &d), MC_OK);
        CHECK_EQ_INT(mc_make_model(&o, tmp("seed-ref.gguf"), &d), MC_OK);
        CHECK(fnv_file(g_path) == ha);
        o.type = MC_DT_F16;
        CHECK_EQ_INT(mc_make_model(&o, tmp("seed-ref16.gguf"), &d), MC_OK);
        uint64_t href = fnv_file(g_path);
        CHECK_EQ_INT(mc_kernels_init(NULL, &d), MC_OK);
        CHECK_EQ_INT(mc_make_model(&o, tmp("seed-best16.gguf"), &d), MC_OK);
        CHECK(fnv_file(g_path) == href);
    }
}

/* Golden hashes of two small files written on the development machine (x86-64, AVX2). The
 * generator uses only IEEE basic operations and sqrt and the quantisers are scalar, so every
 * machine must reproduce them; a deliberate change of the generator updates them. */
TEST(golden_hash)
{
    mc_make_opts o = tiny();
    o.type = MC_DT_F16;
    o.route_skew = 1.5;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_make_model(&o, tmp("golden-f16.gguf"), &d), MC_OK);
    uint64_t h1 = fnv_file(g_path);
    o.layers = 1;
    o.embd = 256;
    o.ff = 256;
    o.arch = "qwen3moe";
    o.type = MC_DT_Q4_K;
    CHECK_EQ_INT(mc_make_model(&o, tmp("golden-q4k.gguf"), &d), MC_OK);
    uint64_t h2 = fnv_file(g_path);
    fprintf(stderr, "golden: 0x%016llx 0x%016llx\n", (unsigned long long)h1,
            (unsigned long long)h2);
    CHECK(h1 == UINT64_C(0x1cf60ec18aadbbdd));
    CHECK(h2 == UINT64_C(0xf1bab09b94c23f18));
}

/* ---- values ---------------------------------------------------------------------------------- */

/* Dequantised rows of tensor `name` (every row) into a heap array. */
static float *tensor_f32(const mc_gguf *g, const char *name, int64_t *n)
{
    const mc_gguf_tensor *t = mc_gguf_find_tensor(g, name);
    mc_dtype dt;
    if (!t || !mc_ggml_to_dtype(t->type, &dt))
        return NULL;
    int64_t cols = t->dims[0], rows = (int64_t)t->n_elements / cols;
    size_t rb = 0;
    if (mc_kernels_row_bytes(dt, cols, &rb, NULL) != MC_OK)
        return NULL;
    float *out = mc_mallocarray((size_t)(rows * cols), sizeof *out);
    for (int64_t r = 0; out && r < rows; r++)
        mc_kernels_dequant_row(dt, (const char *)t->data + r * rb, out + r * cols, cols);
    *n = rows * cols;
    return out;
}

/* Relative RMS error of the quantised tensors against the f32 file of the same seed. The
 * expert tensors (4 MiB in f32) span several of the writer's 1 MiB fill chunks, so a chunking
 * error would show as a large error. */
TEST(quantised_close_to_f32)
{
    static const struct {
        mc_dtype t;
        double tol;
    } types[] = {{MC_DT_F16, 1e-3},  {MC_DT_BF16, 6e-3}, {MC_DT_Q8_0, 0.012},
                 {MC_DT_Q6_K, 0.05}, {MC_DT_Q4_0, 0.15}, {MC_DT_Q4_K, 0.15}};
    static const char *names[] = {"blk.0.ffn_up_exps.weight", "blk.1.attn_q.weight",
                                  "token_embd.weight"};
    mc_make_opts o = tiny();
    o.embd = 256;
    o.ff = 512;
    o.experts = 8;
    mc_diag d = {{0}};
    mc_gguf *ref = NULL;
    CHECK_EQ_INT(mc_make_model(&o, tmp("ref-f32.gguf"), &d), MC_OK);
    CHECK_EQ_INT(mc_gguf_open(g_path, &ref, &d), MC_OK);
    for (size_t i = 0; ref && i < sizeof types / sizeof types[0]; i++) {
        o.type = types[i].t;
        mc_gguf *g = NULL;
        CHECK_EQ_INT(mc_make_model(&o, tmp("quant.gguf"), &d), MC_OK);
        CHECK_EQ_INT(mc_gguf_open(g_path, &g, &d), MC_OK);
        for (size_t k = 0; g && k < sizeof names / sizeof names[0]; k++) {
            int64_t n1 = 0, n2 = 0;
            float *a = tensor_f32(ref, names[k], &n1), *b = tensor_f32(g, names[k], &n2);
            CHECK(a && b && n1 == n2);
            double se = 0, ss = 0;
            for (int64_t j = 0; a && b && j < n1; j++) {
                se += ((double)a[j] - b[j]) * ((double)a[j] - b[j]);
                ss += (double)a[j] * a[j];
            }
            double rel = ss > 0 ? sqrt(se / ss) : 1;
            if (!(rel <= types[i].tol && rel > 0))
                fprintf(stderr, "%s %s: rel err %g\n", mc_dtype_name(types[i].t), names[k], rel);
            CHECK(rel <= types[i].tol && rel > 0);
            mc_free(a);
            mc_free(b);
        }
        mc_gguf_free(g);
    }
    mc_gguf_free(ref);
}

static double rms(const float *x, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)x[i] * x[i];
    return sqrt(s / (double)n);
}

/* Matrices: sd 1/sqrt(fan_in) (output projections / sqrt(2 x layers)); embeddings unit RMS;
 * norms exactly 1; values uniform (max |w| <= sqrt(3) sd). */
TEST(weight_statistics)
{
    mc_make_opts o = tiny();
    o.embd = 256;
    o.ff = 512;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_make_model(&o, tmp("stats.gguf"), &d), MC_OK);
    mc_gguf *g = NULL;
    CHECK_EQ_INT(mc_gguf_open(g_path, &g, &d), MC_OK);
    if (!g)
        return;
    int64_t n;
    float *w = tensor_f32(g, "blk.0.ffn_up_exps.weight", &n);
    CHECK_NEAR(rms(w, n) * sqrt(256.0), 1.0, 0.01);
    float mx = 0;
    for (int64_t i = 0; i < n; i++)
        mx = fmaxf(mx, fabsf(w[i]));
    CHECK(mx <= sqrt(3.0 / 256.0) && mx > 0.99 * sqrt(3.0 / 256.0));
    mc_free(w);
    w = tensor_f32(g, "blk.1.ffn_down_exps.weight", &n);
    CHECK_NEAR(rms(w, n) * sqrt(512.0) * sqrt(4.0), 1.0, 0.01);
    mc_free(w);
    w = tensor_f32(g, "token_embd.weight", &n);
    CHECK_NEAR(rms(w, n), 1.0, 0.02);
    mc_free(w);
    w = tensor_f32(g, "blk.1.ffn_norm.weight", &n);
    CHECK_EQ_INT(n, 256);
    CHECK(w[0] == 1.0f && w[255] == 1.0f);
    mc_free(w);
    mc_gguf_free(g);
}

/* ---- vocabularies ---------------------------------------------------------------------------- */

static int tok_is(const mc_gguf_str *toks, int64_t i, const char *s)
{
    return toks[i].len == strlen(s) && memcmp(toks[i].p, s, toks[i].len) == 0;
}

/* Layout: <unk> <s> </s>, <0x00>..<0xFF> (3..258), "\u2581" (259), '!'..'~' (260..353),
 * "\u2581a".."\u2581z" (354..379), then "\u2581aa" "aa" "\u2581ab" "ab" ... */
TEST(synthetic_vocab)
{
    mc_make_opts o = tiny();
    o.vocab = 500;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_make_model(&o, tmp("vocab.gguf"), &d), MC_OK);
    mc_gguf *g = NULL;
    CHECK_EQ_INT(mc_gguf_open(g_path, &g, &d), MC_OK);
    mc_gguf_str *toks = NULL;
    uint64_t n = 0;
    CHECK_EQ_INT(mc_gguf_get_str_array(g, "tokenizer.ggml.tokens", &toks, &n, &d), MC_OK);
    CHECK_EQ_INT(n, 500);
    if (toks && n == 500) {
        CHECK(tok_is(toks, 0, "<unk>") && tok_is(toks, 1, "<s>") && tok_is(toks, 2, "</s>"));
        CHECK(tok_is(toks, 3, "<0x00>") && tok_is(toks, 258, "<0xFF>"));
        CHECK(tok_is(toks, 259, "\xe2\x96\x81") && tok_is(toks, 260, "!"));
        CHECK(tok_is(toks, 353, "~") && tok_is(toks, 354,
                                               "\xe2\x96\x81"
                                               "a"));
        CHECK(tok_is(toks, 379, "\xe2\x96\x81z") && tok_is(toks, 380,
                                                           "\xe2\x96\x81"
                                                           "aa"));
        CHECK(tok_is(toks, 381, "aa") && tok_is(toks, 383, "ab"));
        CHECK(tok_is(toks, 299, "H"));
    }
    mc_gguf_value sc, ty;
    CHECK_EQ_INT(mc_gguf_get_arr(g, "tokenizer.ggml.scores", &sc, &d), MC_OK);
    CHECK_EQ_INT(mc_gguf_get_arr(g, "tokenizer.ggml.token_type", &ty, &d), MC_OK);
    double s354 = 0;
    int64_t t0 = 0, t1 = 0, t3 = 0, t260 = 0;
    CHECK_EQ_INT(mc_gguf_arr_f64(&sc, 299, &s354), MC_OK);
    CHECK_NEAR(s354, -40, 0); /* piece index 40 = 299 - 259 */
    mc_gguf_arr_i64(&ty, 0, &t0);
    mc_gguf_arr_i64(&ty, 1, &t1);
    mc_gguf_arr_i64(&ty, 3, &t3);
    mc_gguf_arr_i64(&ty, 260, &t260);
    CHECK(t0 == 2 && t1 == 3 && t3 == 6 && t260 == 1);
    mc_gguf_str model;
    CHECK_EQ_INT(mc_gguf_get_str(g, "tokenizer.ggml.model", &model, &d), MC_OK);
    CHECK(model.len == 5 && !memcmp(model.p, "llama", 5));
    uint32_t bos = 0;
    CHECK_EQ_INT(mc_gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &bos, &d), MC_OK);
    CHECK_EQ_INT(bos, 1);
    mc_free(toks);
    mc_gguf_free(g);
    /* a large vocabulary runs into 2- and 3-letter pieces, all distinct */
    o.vocab = 20000;
    CHECK_EQ_INT(mc_make_model(&o, tmp("vocab-big.gguf"), &d), MC_OK);
    mc_model *m = NULL;
    CHECK_EQ_INT(mc_model_load_gguf(g_path, &m, &d), MC_OK);
    CHECK(m && m->vocab == 20000);
    mc_model_free(m);
}

/* The synthetic vocabulary builds a tokenizer: text (with bytes outside the pieces) tokenises
 * with BOS, merges into the lowercase pieces and decodes back exactly. */
TEST(synthetic_vocab_tokenises)
{
    mc_make_opts o = tiny();
    o.vocab = 2000;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_make_model(&o, tmp("tok.gguf"), &d), MC_OK);
    mc_tok *t = NULL;
    CHECK_EQ_INT(mc_tok_load(g_path, &t, &d), MC_OK);
    if (!t) {
        fprintf(stderr, "%s\n", d.msg);
        return;
    }
    const char *text = "hello world, Caf\xc3\xa9 42!";
    mc_tok_ids ids;
    mc_tok_ids_init(&ids);
    CHECK_EQ_INT(mc_tok_encode(t, NULL, text, strlen(text), 0, &ids, &d), MC_OK);
    CHECK(ids.n > 2 && ids.v[0] == 1);
    size_t len = 0;
    const char *p1 = ids.n > 1 ? mc_tok_text(t, ids.v[1], &len) : NULL;
    /* "\u2581hello" is not a piece; the best merge reaches a 3-byte-space + 2-letter piece */
    CHECK(p1 && len >= 4 && memcmp(p1, "\xe2\x96\x81", 3) == 0);
    int bytes = 0;
    for (size_t i = 0; i < ids.n; i++)
        bytes += mc_tok_type(t, ids.v[i]) == 6;
    CHECK(bytes == 2); /* the two UTF-8 bytes of e-acute fall back to <0xC3> <0xA9> */
    CHECK(ids.n < strlen(text));
    mc_buf out;
    mc_buf_init(&out, 0);
    CHECK_EQ_INT(mc_tok_decode(t, ids.v, ids.n, 0, &out, &d), MC_OK);
    CHECK_STR(out.data, text);
    mc_buf_deinit(&out);
    mc_tok_ids_deinit(&ids);
    mc_tok_free(t);
}

/* Every tokenizer.* key of the source is copied byte for byte; the vocab is its token count. */
TEST(vocab_from)
{
    const char *src = harness_data_path("vocab/ggml-vocab-llama-spm.gguf");
    if (!src)
        SKIP("vocab/ggml-vocab-llama-spm.gguf not present");
    char srcp[4096];
    snprintf(srcp, sizeof srcp, "%s", src);
    mc_make_opts o = tiny();
    o.type = MC_DT_Q8_0;
    o.vocab = 0; /* ignored */
    o.vocab_from = srcp;
    mc_make_summary s;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_make_model_ex(&o, tmp("spm.gguf"), &s, &d), MC_OK);
    if (d.msg[0])
        fprintf(stderr, "%s\n", d.msg);
    CHECK_EQ_INT(s.vocab, 32000);
    mc_gguf *a = NULL, *b = NULL;
    CHECK_EQ_INT(mc_gguf_open(srcp, &a, &d), MC_OK);
    CHECK_EQ_INT(mc_gguf_open(g_path, &b, &d), MC_OK);
    int copied = 0;
    for (uint64_t i = 0; a && b && i < mc_gguf_kv_count(a); i++) {
        mc_gguf_str k = mc_gguf_kv_key(a, i);
        if (k.len < 10 || memcmp(k.p, "tokenizer.", 10) != 0)
            continue;
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)k.len, k.p);
        int64_t j = mc_gguf_find_key(b, key);
        CHECK(j >= 0);
        if (j < 0)
            continue;
        mc_gguf_value va = mc_gguf_kv_value(a, i), vb = mc_gguf_kv_value(b, (uint64_t)j);
        uint64_t na = va.type == MC_GGUF_ARRAY    ? va.bytes
                      : va.type == MC_GGUF_STRING ? va.len
                                                  : mc_gguf_type_size(va.type);
        CHECK(va.type == vb.type && va.elem == vb.elem && va.len == vb.len);
        CHECK(va.bytes == vb.bytes && memcmp(va.p, vb.p, (size_t)na) == 0);
        copied++;
    }
    CHECK(copied >= 5);
    /* the copy tokenises exactly as the source */
    mc_tok *ta = NULL, *tb = NULL;
    CHECK_EQ_INT(mc_tok_load(srcp, &ta, &d), MC_OK);
    CHECK_EQ_INT(mc_tok_load(g_path, &tb, &d), MC_OK);
    const char *text = " Hello world! Mixture-of-experts models route tokens. \xe2\x82\xac 3.14";
    mc_tok_ids ia, ib;
    mc_tok_ids_init(&ia);
    mc_tok_ids_init(&ib);
    CHECK(ta && mc_tok_encode(ta, NULL, text, strlen(text), 0, &ia, &d) == MC_OK);
    CHECK(tb && mc_tok_encode(tb, NULL, text, strlen(text), 0, &ib, &d) == MC_OK);
    CHECK(ia.n > 5 && ia.n == ib.n && memcmp(ia.v, ib.v, ia.n * sizeof *ia.v) == 0);
    mc_tok_ids_deinit(&ia);
    mc_tok_ids_deinit(&ib);
    mc_tok_free(ta);
    mc_tok_free(tb);
    mc_model *m = NULL;
    CHECK_EQ_INT(mc_model_load_gguf(g_path, &m, &d), MC_OK);
    CHECK(m && m->vocab == 32000);
    mc_model_free(m);
    mc_gguf_free(a);
    mc_gguf_free(b);
}

/* ---- routing skew ---------------------------------------------------------------------------- */

/* Router logits of layer 0 for every embedding row (RMS-normalised, as the ffn_norm of weight 1
 * would see it at layer 0 without the attention contribution): the share of top-k picks that
 * land on the recorded hot experts, and the mean logit gap hot - cold. */
static void skew_stats(const char *path, double *hot_share, double *gap)
{
    mc_gguf *g = NULL;
    *hot_share = *gap = -1;
    if (mc_gguf_open(path, &g, NULL) != MC_OK)
        return;
    int64_t ne, nr;
    float *E = tensor_f32(g, "token_embd.weight", &ne),
          *R = tensor_f32(g, "blk.0.ffn_gate_inp.weight", &nr);
    mc_gguf_value hv;
    mc_gguf_get_arr(g, "moecap.hot_experts", &hv, NULL);
    const int64_t H = 256, X = 8, K = 2, V = ne / H;
    int hot[8] = {0};
    for (int j = 0; j < K; j++) {
        int64_t e = 0;
        mc_gguf_arr_i64(&hv, (uint64_t)j, &e);
        hot[e] = 1;
    }
    int64_t picks_hot = 0;
    double gsum = 0;
    for (int64_t t = 0; t < V; t++) {
        const float *x = E + t * H;
        double r = rms(x, H), lg[8], hs = 0, cs = 0;
        for (int64_t e = 0; e < X; e++) {
            lg[e] = 0;
            for (int64_t i = 0; i < H; i++)
                lg[e] += (double)R[e * H + i] * x[i] / r;
            if (hot[e])
                hs += lg[e] / K;
            else
                cs += lg[e] / (X - K);
        }
        gsum += hs - cs;
        for (int k = 0; k < K; k++) { /* top-k by repeated argmax */
            int best = 0;
            for (int e = 1; e < X; e++)
                if (lg[e] > lg[best])
                    best = e;
            picks_hot += hot[best];
            lg[best] = -1e300;
        }
    }
    *hot_share = (double)picks_hot / (double)(V * K);
    *gap = gsum / (double)V;
    mc_free(E);
    mc_free(R);
    mc_gguf_free(g);
}

TEST(route_skew)
{
    mc_make_opts o = tiny();
    o.layers = 3;
    o.embd = 256;
    o.experts = 8;
    o.vocab = 2000;
    mc_diag d = {{0}};
    double share0, gap0, share4, gap4, share1, gap1;
    CHECK_EQ_INT(mc_make_model(&o, tmp("skew0.gguf"), &d), MC_OK);
    skew_stats(g_path, &share0, &gap0);
    o.route_skew = 1;
    CHECK_EQ_INT(mc_make_model(&o, tmp("skew1.gguf"), &d), MC_OK);
    skew_stats(g_path, &share1, &gap1);
    o.route_skew = 4;
    CHECK_EQ_INT(mc_make_model(&o, tmp("skew4.gguf"), &d), MC_OK);
    skew_stats(g_path, &share4, &gap4);
    fprintf(stderr, "skew 0: hot share %.3f gap %.3f; 1: %.3f %.3f; 4: %.3f %.3f\n", share0, gap0,
            share1, gap1, share4, gap4);
    /* uniform routing gives the 2 hot of 8 experts 1/4 of the picks */
    CHECK_NEAR(share0, 0.25, 0.06);
    CHECK_NEAR(gap0, 0, 0.25);
    /* the skew adds S to the hot experts' logits (on top of the random gap of skew 0) */
    CHECK_NEAR(gap1 - gap0, 1, 0.1);
    CHECK_NEAR(gap4 - gap0, 4, 0.2);
    CHECK(share1 > 0.45 && share1 < 0.9);
    CHECK(share4 > 0.95);
    /* the hot sets: top_k distinct experts per layer, recorded for every layer */
    mc_gguf *g = NULL;
    CHECK_EQ_INT(mc_gguf_open(g_path, &g, &d), MC_OK);
    mc_gguf_value hv;
    CHECK_EQ_INT(mc_gguf_get_arr(g, "moecap.hot_experts", &hv, &d), MC_OK);
    CHECK_EQ_INT(hv.len, 3 * 2);
    for (uint64_t l = 0; l < 3 && hv.len == 6; l++) {
        int64_t a = -1, b = -1;
        mc_gguf_arr_i64(&hv, 2 * l, &a);
        mc_gguf_arr_i64(&hv, 2 * l + 1, &b);
        CHECK(a >= 0 && a < b && b < 8);
    }
    mc_gguf_free(g);
}

/* ---- bad options ----------------------------------------------------------------------------- */

typedef void (*tweak_fn)(mc_make_opts *o);
#define TW(name, body)                                                                             \
    static void name(mc_make_opts *o)                                                              \
    {                                                                                              \
        body;                                                                                      \
    }
TW(tw_topk, o->top_k = 9; o->experts = 8)
TW(tw_arch, o->arch = "falcon")
TW(tw_heads, o->embd = 100; o->heads = 3; o->kv_heads = 0)
TW(tw_block, o->type = MC_DT_Q8_0; o->embd = 48)
TW(tw_ff_block, o->type = MC_DT_Q4_K; o->embd = 256; o->ff = 128)
TW(tw_vocab, o->vocab = 100)
TW(tw_dense_qwen, o->arch = "qwen3moe"; o->experts = 0)
TW(tw_shared, o->shared_ff = 64)
TW(tw_olmoe_kv, o->arch = "olmoe")
TW(tw_kv, o->kv_heads = 3)
TW(tw_type, o->type = MC_DT_Q5_0)
TW(tw_skew, o->route_skew = -1)
TW(tw_layers, o->layers = 0)
TW(tw_hd_odd, o->head_dim = 7)
TW(tw_qwen2_hd, o->arch = "qwen2moe"; o->head_dim = 32)
TW(tw_qwen2_noshared, o->arch = "qwen2moe"; o->shared_ff = 0)
TW(tw_out_type, o->has_output_type = 1; o->output_type = MC_DT_Q4_K)
TW(tw_vocab_from, o->vocab_from = "/nonexistent/v.gguf")

TEST(bad_options)
{
    static const struct {
        tweak_fn f;
        const char *msg;
    } cases[] = {
        {tw_topk, "make-model: --top-k 9 exceeds --experts 8"},
        {tw_arch, "make-model: --arch 'falcon' is not one of llama, qwen2moe, olmoe, qwen3moe"},
        {tw_heads, "make-model: --embd 100 is not a multiple of --heads 3 (or give --head-dim)"},
        {tw_block, "make-model: --embd = 48 is not a multiple of 32 (the q8_0 block size)"},
        {tw_ff_block, "make-model: --ff = 128 is not a multiple of 256 (the q4_k block size)"},
        {tw_vocab, "make-model: --vocab 100 out of range [259, 4194304]"},
        {tw_dense_qwen, "make-model: --experts 0 (a dense model) needs --arch llama"},
        {tw_shared, "make-model: --shared-ff needs --arch qwen2moe"},
        {tw_olmoe_kv, "make-model: --kv-heads 2: olmoe needs --kv-heads = --heads (4)"},
        {tw_kv, "make-model: --heads 4 is not a multiple of --kv-heads 3"},
        {tw_type, "make-model: --type q5_0 is not supported"},
        {tw_skew, "make-model: --route-skew -1 must lie in [0, 1000]"},
        {tw_layers, "make-model: --layers 0 out of range [1, 4096]"},
        {tw_hd_odd, "make-model: head dim 7 must be even"},
        {tw_qwen2_hd, "make-model: --head-dim 32: qwen2moe needs --heads x head dim = --embd"},
        {tw_qwen2_noshared, "make-model: --shared-ff 0: qwen2moe needs a shared expert"},
        {tw_out_type, "the q4_k block size of --output-type"},
        {tw_vocab_from, "make-model: --vocab-from: gguf: /nonexistent/v.gguf: cannot open"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mc_make_opts o = tiny();
        cases[i].f(&o);
        mc_diag d = {{0}};
        const char *p = tmp("bad.gguf");
        mc_err e = mc_make_model(&o, p, &d);
        CHECK(e == MC_ERR_ARG || e == MC_ERR_IO);
        CHECK_CONTAINS(d.msg, cases[i].msg);
        CHECK(access(p, F_OK) != 0);
    }
    /* an unwritable path: an I/O error and no file or temp file */
    mc_make_opts o = tiny();
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_make_model(&o, "/nonexistent-dir/m.gguf", &d), MC_ERR_IO);
    CHECK_EQ_INT(mc_make_model(&o, "", &d), MC_ERR_ARG);
    CHECK_CONTAINS(d.msg, "no output file");
}

/* Every allocation failing in turn: a clean error (out of memory) and no file, never a crash or
 * a leak (the asan build checks leaks); the run after the last allocation succeeds. */
TEST(allocation_failures)
{
    mc_make_opts o = tiny();
    o.layers = 1;
    o.arch = "qwen2moe";
    o.route_skew = 1;
    const char *p = tmp("oom.gguf");
    int ok = 0;
    for (uint64_t k = 1; k < 2000 && !ok; k++) {
        mc_diag d = {{0}};
        mc_alloc_fail_at(k);
        mc_err e = mc_make_model(&o, p, &d);
        mc_alloc_fail_at(0);
        ok = e == MC_OK;
        if (!ok) {
            CHECK_EQ_INT(e, MC_ERR_NOMEM);
            CHECK(access(p, F_OK) != 0);
        }
    }
    CHECK(ok);
}

int main(void)
{
    RUN(llama_f32_exact);
    RUN(llama_q8_0_exact);
    RUN(q4_k_output_q6_k);
    RUN(every_arch);
    RUN(dense_llama);
    RUN(same_seed_same_bytes);
    RUN(golden_hash);
    RUN(quantised_close_to_f32);
    RUN(weight_statistics);
    RUN(synthetic_vocab);
    RUN(synthetic_vocab_tokenises);
    RUN(vocab_from);
    RUN(route_skew);
    RUN(bad_options);
    RUN(allocation_failures);
    return harness_done();
}
