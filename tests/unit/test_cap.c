/* test_cap.c: per-pass records (parse, format, JSONL), the moecap bytes/FLOPs formula, run
 * aggregates, the moecap-ref reproduction and the expected-distinct-experts formulas, all
 * against hand-computed worked examples (docs/METRICS.md quotes the same numbers). */
#include "cap.h"
#include "harness.h"

/* ---- fixtures ---- */

/* Mixtral-8x7B from its config.json: d 4096, L 32, H 32, Hkv 8, dh 128, ff 14336, 8 experts
 * top-2, vocab 32000, untied; bf16 weights and KV, f32 norms (mc_model_new's defaults). */
static mc_model *mixtral(void)
{
    mc_model *m = mc_model_new(32);
    snprintf(m->name, sizeof m->name, "mixtral-test");
    snprintf(m->arch, sizeof m->arch, "mixtral");
    m->hidden = 4096;
    m->vocab = 32000;
    m->attn = (mc_attn){.kind = MC_ATTN_GQA, .n_heads = 32, .n_kv_heads = 8, .head_dim = 128};
    for (int l = 0; l < 32; l++)
        m->layers[l] = (mc_layer){.ffn = MC_FFN_MOE, .n_experts = 8, .top_k = 2,
                                  .expert_ff = 14336};
    mc_diag d = {{0}};
    if (mc_model_finalize(m, &d) != MC_OK) {
        fprintf(stderr, "mixtral fixture: %s\n", d.msg);
        exit(1);
    }
    return m;
}

/* DeepSeek-V2-Lite: d 2048, L 27 (layer 0 dense, ff 10944), H 16, MLA kv_lora_rank 512,
 * no q_lora, qk_nope 128, qk_rope 64, v_head 128; 64 routed experts top-6 of width 1408,
 * 2 shared (total width 2816); vocab 102400. */
static mc_model *ds_v2_lite(void)
{
    mc_model *m = mc_model_new(27);
    snprintf(m->arch, sizeof m->arch, "deepseek_v2");
    m->hidden = 2048;
    m->vocab = 102400;
    m->attn = (mc_attn){.kind = MC_ATTN_MLA, .n_heads = 16, .kv_lora_rank = 512,
                        .qk_nope_dim = 128, .qk_rope_dim = 64, .v_head_dim = 128};
    m->layers[0] = (mc_layer){.ffn = MC_FFN_DENSE, .dense_ff = 10944};
    for (int l = 1; l < 27; l++)
        m->layers[l] = (mc_layer){.ffn = MC_FFN_MOE, .n_experts = 64, .top_k = 6,
                                  .expert_ff = 1408, .n_shared = 2, .shared_ff = 2816};
    if (mc_model_finalize(m, NULL) != MC_OK)
        exit(1);
    return m;
}

/* Qwen1.5-MoE-A2.7B: d 2048, L 24, H 16 = Hkv, dh 128, 60 experts top-4 of width 1408, one
 * shared block of width 5632 with a gate, qkv bias; vocab 151936. */
static mc_model *qwen15(void)
{
    mc_model *m = mc_model_new(24);
    snprintf(m->arch, sizeof m->arch, "qwen2_moe");
    m->hidden = 2048;
    m->vocab = 151936;
    m->attn = (mc_attn){.kind = MC_ATTN_GQA, .n_heads = 16, .n_kv_heads = 16, .head_dim = 128,
                        .qkv_bias = 1};
    for (int l = 0; l < 24; l++)
        m->layers[l] = (mc_layer){.ffn = MC_FFN_MOE, .n_experts = 60, .top_k = 4,
                                  .expert_ff = 1408, .n_shared = 1, .shared_ff = 5632,
                                  .shared_gate = 1};
    if (mc_model_finalize(m, NULL) != MC_OK)
        exit(1);
    return m;
}

/* H100 SXM: 3.35 TB/s, 989.5 TFLOP/s dense bf16 (NVIDIA quotes 1979 with 2:4 sparsity). */
static mc_hw_deploy h100(int n)
{
    mc_hw_deploy dep;
    memset(&dep, 0, sizeof dep);
    snprintf(dep.hw.name, sizeof dep.hw.name, "h100-test");
    dep.hw.mem_bw_Bps = 3.35e12;
    dep.hw.flops[MC_PREC_BF16] = 989.5e12;
    dep.count = n;
    return dep;
}

static mc_cap_peak peak_of(const mc_model *m, int n)
{
    mc_hw_deploy dep = h100(n);
    mc_cap_peak pk;
    if (mc_cap_peak_of(m, &dep, &pk, NULL) != MC_OK)
        exit(1);
    return pk;
}

static mc_pass parse_ok(const char *json)
{
    mc_pass p;
    mc_diag d = {{0}};
    mc_err e = mc_pass_parse(json, strlen(json), &p, &d);
    if (e)
        fprintf(stderr, "unexpected parse error: %s (%s)\n", d.msg, json);
    return p;
}

/* The decode and prefill passes. */
static const char *DECODE_REC = "{\"forward_pass_id\": 7, \"forward_mode\": \"decode\", "
                                "\"batch_size\": 32, \"seq_lens_sum\": 144000, "
                                "\"latency\": 0.030, \"expert_activation\": 7.2, \"gpu_num\": 2}";
static const char *PREFILL_REC = "{\"forward_pass_id\": 8, \"forward_mode\": \"prefill\", "
                                 "\"batch_size\": 1, \"seq_lens_sum\": 4000, \"latency\": 0.25, "
                                 "\"expert_activation\": 8.0, \"gpu_num\": 2}";

/* ---- records ---- */

TEST(parse_our_fields)
{
    mc_pass p = parse_ok(
        "{\"forward_pass_id\": 3, \"forward_mode\": \"mixed\", \"batch_size\": 3, "
        "\"new_tokens\": 12, \"seq_lens_sum\": 130, \"latency\": 0.0125, "
        "\"expert_activation\": 5.5, \"experts_per_layer\": [5, 6], "
        "\"tokens_per_expert\": [[1, 0, 3], [0, 0, 2]], "
        "\"per_req_info\": [{\"req_id\": \"a\", \"extend_len\": 10, \"total_len\": 10, "
        "\"is_last_chunk\": true}], \"gpu_num\": 4, \"gpu_raw_type\": \"NVIDIA-H100-HBM3-80GB\"}");
    CHECK_EQ_INT(p.forward_pass_id, 3);
    CHECK_EQ_INT(p.mode, MC_PASS_MIXED);
    CHECK_EQ_INT(p.batch_size, 3);
    CHECK_EQ_INT(p.new_tokens, 12);
    CHECK_EQ_INT(p.seq_lens_sum, 130);
    CHECK_NEAR(p.latency_s, 0.0125, 0);
    CHECK_NEAR(p.expert_activation, 5.5, 0);
    CHECK_EQ_INT(p.n_layer_experts, 2);
    CHECK_NEAR(p.experts_per_layer[1], 6, 0);
    CHECK_EQ_INT(p.tpe_rows, 2);
    CHECK_EQ_INT(p.tpe_cols, 3);
    CHECK_EQ_INT(p.tokens_per_expert[2], 3);
    CHECK_EQ_INT(p.tokens_per_expert[5], 2);
    CHECK_EQ_INT(p.n_chunks, 1);
    CHECK_STR(p.chunks[0].req_id, "a");
    CHECK_EQ_INT(p.chunks[0].total_len, 10);
    CHECK_EQ_INT(p.chunks[0].is_last_chunk, 1);
    CHECK_EQ_INT(p.gpu_num, 4);
    CHECK_STR(p.gpu_raw_type, "NVIDIA-H100-HBM3-80GB");
    mc_pass_deinit(&p);
}

TEST(parse_reference_records)
{
    /* the reference's documented SGLang example: prefill without chunk info -> new tokens are
     * seq_lens_sum; unknown fields (expert_utilization) are ignored */
    mc_pass p = parse_ok("{\"forward_pass_id\": 1, \"batch_size\": 16, \"latency\": 0.023, "
                         "\"seq_lens_sum\": 128, \"forward_mode\": \"prefill\", "
                         "\"expert_activation\": 26.4, \"expert_utilization\": 0.44}");
    CHECK_EQ_INT(p.mode, MC_PASS_PREFILL);
    CHECK_EQ_INT(p.new_tokens, 128);
    CHECK_EQ_INT(p.gpu_num, 0);
    mc_pass_deinit(&p);

    /* SGLang chunked prefill: new tokens = sum of extend_len (300 + 50), numeric req ids */
    p = parse_ok("{\"forward_mode\": \"prefill\", \"batch_size\": 2, \"latency\": 0.1, "
                 "\"seq_lens_sum\": 350, \"expert_activation\": 8, \"per_req_info\": ["
                 "{\"req_pool_idx\": 4, \"req_id\": \"4_0\", \"extend_len\": 300, "
                 "\"total_len\": 300, \"is_last_chunk\": false, \"orig_len\": 900}, "
                 "{\"req_pool_idx\": 9, \"extend_len\": 50, \"total_len\": 50}]}");
    CHECK_EQ_INT(p.new_tokens, 350);
    CHECK_STR(p.chunks[0].req_id, "4_0");
    CHECK_STR(p.chunks[1].req_id, "9");
    CHECK_EQ_INT(p.chunks[0].is_last_chunk, 0);
    CHECK_EQ_INT(p.chunks[1].is_last_chunk, -1);
    mc_pass_deinit(&p);

    /* detailed_results line: latency under "tpot"; vLLM "unknown" mode; gpu_num "N/A";
     * scheduled_tokens gives the new tokens; null activation = not recorded */
    p = parse_ok("{\"index\": 0, \"forward_mode\": \"unknown\", \"expert_activation\": null, "
                 "\"batch_size\": 4, \"seq_lens_sum\": 400, \"scheduled_tokens\": 6, "
                 "\"tpot\": 0.02, \"gpu_num\": \"N/A\"}");
    CHECK_EQ_INT(p.mode, MC_PASS_MIXED);
    CHECK_NEAR(p.latency_s, 0.02, 0);
    CHECK_EQ_INT(p.new_tokens, 6);
    CHECK(p.expert_activation < 0);
    CHECK_EQ_INT(p.gpu_num, 0);
    mc_pass_deinit(&p);

    /* a decode record with nothing but the essentials: new tokens = batch size */
    p = parse_ok("{\"forward_mode\": \"decoding\", \"batch_size\": 5, \"latency\": 1e-3, "
                 "\"seq_lens_sum\": 55}");
    CHECK_EQ_INT(p.mode, MC_PASS_DECODE);
    CHECK_EQ_INT(p.new_tokens, 5);
    CHECK_EQ_INT(p.forward_pass_id, -1);
    mc_pass_deinit(&p);
}

TEST(parse_errors)
{
    static const struct {
        const char *json;
        mc_err err;
        const char *msg;
    } cases[] = {
        {"{\"batch_size\": 1}", MC_ERR_FORMAT, "latency: missing"},
        {"{\"latency\": 0}", MC_ERR_RANGE, "latency: must be > 0"},
        {"{\"latency\": -1}", MC_ERR_RANGE, "latency: -1 is below 0"},
        {"{\"latency\": \"fast\"}", MC_ERR_FORMAT, "latency: not a finite number"},
        {"{\"latency\": 0.1", MC_ERR_FORMAT, "invalid JSON"},
        {"{\"latency\": 0.1} x", MC_ERR_FORMAT, "text after the JSON object at byte 18"},
        {"[1, 2]", MC_ERR_FORMAT, "not a JSON object"},
        {"{\"latency\": 0.1, \"forward_mode\": \"idle\"}", MC_ERR_FORMAT, "forward_mode: 'idle'"},
        {"{\"latency\": 0.1, \"batch_size\": 1.5}", MC_ERR_FORMAT,
         "batch_size: 1.5 is not an integer"},
        {"{\"latency\": 0.1, \"batch_size\": 0}", MC_ERR_RANGE, "batch_size: must be >= 1"},
        {"{\"latency\": 0.1, \"batch_size\": 4, \"new_tokens\": 3}", MC_ERR_RANGE,
         "new_tokens 3 < batch_size 4"},
        {"{\"latency\": 0.1, \"new_tokens\": 9, \"seq_lens_sum\": 8}", MC_ERR_RANGE,
         "seq_lens_sum 8 < new_tokens 9"},
        {"{\"latency\": 0.1, \"forward_pass_id\": \"x\"}", MC_ERR_FORMAT,
         "forward_pass_id: not a number"},
        {"{\"latency\": 0.1, \"experts_per_layer\": [1, -2]}", MC_ERR_FORMAT,
         "experts_per_layer[1]: not a number >= 0"},
        {"{\"latency\": 0.1, \"experts_per_layer\": []}", MC_ERR_FORMAT,
         "experts_per_layer: not an array"},
        {"{\"latency\": 0.1, \"tokens_per_expert\": [[1, 2], [3]]}", MC_ERR_FORMAT,
         "tokens_per_expert[1]: not an array of 2 counts"},
        {"{\"latency\": 0.1, \"tokens_per_expert\": [[1, -2]]}", MC_ERR_RANGE,
         "tokens_per_expert[0][1]: -2 out of range"},
        {"{\"latency\": 0.1, \"per_req_info\": [{\"extend_len\": 3}]}", MC_ERR_FORMAT,
         "per_req_info[0]: needs req_id or req_pool_idx"},
        {"{\"latency\": 0.1, \"per_req_info\": [{\"req_id\": 1, \"is_last_chunk\": \"y\"}]}",
         MC_ERR_FORMAT, "per_req_info[0].is_last_chunk: not a boolean"},
        {"{\"latency\": 0.1, \"per_req_info\": [{\"req_id\": 1, \"extend_len\": -3}]}",
         MC_ERR_RANGE, "per_req_info[0]: extend_len: -3 out of range"},
        {"{\"latency\": 0.1, \"per_req_info\": [{\"req_id\": "
         "\"0123456789012345678901234567890123456789012345678901234567890123\"}]}",
         MC_ERR_FORMAT, "per_req_info[0].req_id: not an integer or a string of < 64 bytes"},
        {"{\"latency\": 0.1, \"gpu_raw_type\": 5}", MC_ERR_FORMAT, "gpu_raw_type: not a string"},
        {"{\"latency\": 0.1, \"cache_hits\": [1, 2]}", MC_ERR_FORMAT,
         "cache_hits / cache_misses: need both"},
        {"{\"latency\": 0.1, \"cache_hits\": [1, 2], \"cache_misses\": [1]}", MC_ERR_FORMAT,
         "cache_misses: not an array of 2 counts"},
        {"{\"latency\": 0.1, \"cache_hits\": [1, -2], \"cache_misses\": [1, 0]}", MC_ERR_RANGE,
         "cache_hits[1]: -2 out of range"},
        {"{\"latency\": 0.1, \"slow_tier_bytes\": -1}", MC_ERR_RANGE, "slow_tier_bytes: -1 out"},
        {"{\"latency\": 0.1, \"slow_tier_stall\": -0.5}", MC_ERR_RANGE,
         "slow_tier_stall: -0.5 is below 0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mc_pass p;
        mc_diag d = {{0}};
        mc_err e = mc_pass_parse(cases[i].json, strlen(cases[i].json), &p, &d);
        CHECK_EQ_INT(e, cases[i].err);
        CHECK_CONTAINS(d.msg, cases[i].msg);
        CHECK(p.experts_per_layer == NULL && p.chunks == NULL); /* left empty */
    }
}

TEST(format_round_trip)
{
    mc_pass p = parse_ok("{\"forward_mode\": \"prefill\", \"batch_size\": 1, \"latency\": 0.25, "
                         "\"seq_lens_sum\": 4000, \"expert_activation\": 8}");
    mc_buf b;
    mc_buf_init(&b, 0);
    CHECK_EQ_INT(mc_pass_format(&p, &b, NULL), MC_OK);
    CHECK_STR(b.data, "{\"forward_mode\":\"prefill\",\"batch_size\":1,\"new_tokens\":4000,"
                      "\"seq_lens_sum\":4000,\"latency\":0.25,\"expert_activation\":8}\n");
    CHECK(p.n_cache_layers == 0 && p.slow_bytes == -1 && p.slow_stall_s == -1); /* absent */
    mc_pass_deinit(&p);

    const char *full =
        "{\"forward_pass_id\": 3, \"forward_mode\": \"decode\", \"batch_size\": 2, "
        "\"new_tokens\": 2, \"seq_lens_sum\": 130, \"latency\": 0.0123456789012345, "
        "\"experts_per_layer\": [1.5, 2], \"tokens_per_expert\": [[1, 0], [0, 2]], "
        "\"per_req_info\": [{\"req_id\": \"r\", \"extend_len\": 1, \"total_len\": 65, "
        "\"is_last_chunk\": false}], \"gpu_num\": 2, \"gpu_raw_type\": \"x\", "
        "\"cache_hits\": [3, 0], \"cache_misses\": [1, 4], \"slow_tier_bytes\": 123456789, "
        "\"slow_tier_stall\": 0.003}";
    mc_pass a = parse_ok(full), c;
    mc_buf_reset(&b);
    CHECK_EQ_INT(mc_pass_format(&a, &b, NULL), MC_OK);
    CHECK_EQ_INT(mc_pass_parse(b.data, b.len, &c, NULL), MC_OK);
    CHECK_EQ_INT(c.forward_pass_id, 3);
    CHECK_EQ_INT(c.mode, MC_PASS_DECODE);
    CHECK_NEAR(c.latency_s, a.latency_s, 0);
    CHECK_NEAR(c.experts_per_layer[0], 1.5, 0);
    CHECK_EQ_INT(c.tokens_per_expert[3], 2);
    CHECK_EQ_INT(c.chunks[0].total_len, 65);
    CHECK_EQ_INT(c.chunks[0].is_last_chunk, 0);
    CHECK_EQ_INT(c.gpu_num, 2);
    CHECK_STR(c.gpu_raw_type, "x");
    CHECK(c.expert_activation < 0);
    CHECK_EQ_INT(c.n_cache_layers, 2);
    CHECK_EQ_INT(c.cache_hits[0], 3);
    CHECK_EQ_INT(c.cache_misses[1], 4);
    CHECK_EQ_INT(c.slow_bytes, 123456789);
    CHECK_NEAR(c.slow_stall_s, 0.003, 0);
    mc_pass_deinit(&a);
    mc_pass_deinit(&c);

    /* numbers come back exactly: integers above 10^15 and doubles needing 17 digits (cJSON's
     * own printer rounds both to 15 digits) */
    a = parse_ok("{\"forward_pass_id\": 9007199254740991, "
                 "\"latency\": 8.8888888888888893e+95}");
    mc_buf_reset(&b);
    CHECK_EQ_INT(mc_pass_format(&a, &b, NULL), MC_OK);
    CHECK_CONTAINS(b.data, "\"forward_pass_id\":9007199254740991,");
    CHECK_EQ_INT(mc_pass_parse(b.data, b.len, &c, NULL), MC_OK);
    CHECK(c.latency_s == a.latency_s);
    CHECK_EQ_INT(c.forward_pass_id, 9007199254740991LL);
    mc_pass_deinit(&a);
    mc_pass_deinit(&c);
    mc_buf_deinit(&b);
}

static const char *JSONL = "{\"latency\": 0.1, \"batch_size\": 1}\r\n"
                           "\n"
                           "   \n"
                           "{\"latency\": 0.2, \"batch_size\": 2\n"
                           "{\"latency\": 0.3, \"batch_size\": 3}\n"
                           "{\"latency\": 0}\n"
                           "{\"latency\": 0.5, \"batch_size\": 5}";

TEST(jsonl_skip_and_strict)
{
    mc_pass_set s;
    mc_pass_set_init(&s);
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_pass_parse_jsonl(JSONL, strlen(JSONL), 0, 0, &s, &d), MC_OK);
    CHECK_EQ_INT(s.n, 3);
    CHECK_EQ_INT(s.n_lines, 7);
    CHECK_EQ_INT(s.n_errs, 2);
    CHECK_EQ_INT(s.errs[0].line, 4);
    CHECK_CONTAINS(s.errs[0].msg, "invalid JSON");
    CHECK_EQ_INT(s.errs[1].line, 6);
    CHECK_EQ_INT(s.errs[1].err, MC_ERR_RANGE);
    CHECK_EQ_INT(s.v[1].batch_size, 3);
    CHECK_EQ_INT(s.v[1].line, 5);
    CHECK_EQ_INT(s.v[2].line, 7);
    mc_pass_set_deinit(&s);

    mc_pass_set_init(&s);
    CHECK_EQ_INT(mc_pass_parse_jsonl(JSONL, strlen(JSONL), 1, 0, &s, &d), MC_ERR_FORMAT);
    CHECK_CONTAINS(d.msg, "line 4: invalid JSON");
    mc_pass_set_deinit(&s);

    mc_pass_set_init(&s);
    CHECK_EQ_INT(mc_pass_parse_jsonl(JSONL, strlen(JSONL), 0, 2, &s, &d), MC_ERR_RANGE);
    CHECK_CONTAINS(d.msg, "more than 2 records");
    mc_pass_set_deinit(&s);
}

TEST(jsonl_alloc_failures)
{
    /* every allocation of ours (cJSON's included) may fail: the parser reports NOMEM, never a
     * skipped "invalid" line, and leaks nothing (asan) */
    const char *buf = "{\"latency\": 0.1, \"experts_per_layer\": [1, 2], \"per_req_info\": "
                      "[{\"req_id\": 1}], \"tokens_per_expert\": [[1]]}\n"
                      "{\"latency\": 0.2}\n";
    int saw_nomem = 0, saw_ok = 0;
    for (uint64_t k = 1; k <= 200 && !saw_ok; k++) {
        mc_pass_set s;
        mc_pass_set_init(&s);
        mc_alloc_fail_at(k);
        mc_err e = mc_pass_parse_jsonl(buf, strlen(buf), 0, 0, &s, NULL);
        mc_alloc_fail_at(0);
        CHECK(e == MC_OK || e == MC_ERR_NOMEM);
        CHECK_EQ_INT(s.n_errs, 0);
        saw_nomem |= e == MC_ERR_NOMEM;
        saw_ok |= e == MC_OK && s.n == 2;
        mc_pass_set_deinit(&s);
    }
    CHECK(saw_nomem && saw_ok);
}

/* ---- moecap formula ---- */

TEST(mixtral_decode_moecap)
{
    /* Mixtral, 2 x H100, decode: batch 32, seq_lens_sum 144000, 0.030 s, 7.2 experts/layer.
     * bytes per layer: attention 4096 x (2x4096 + 2x1024) = 41,943,040 params x 2 B
     *   = 83,886,080; norms 2 x 4096 x 4 B (f32) = 32,768; router 4096 x 8 x 2 B = 65,536;
     *   experts 7.2 x (3 x 4096 x 14336 = 176,160,768 params) x 2 B = 2,536,715,059.2
     *   -> 2,620,699,443.2 x 32 layers = 83,862,382,182.4
     * LM head 32000 x 4096 x 2 B = 262,144,000 + final norm 16,384 = 262,160,384
     * embedding rows 32 x 4096 x 2 B = 262,144
     * KV 144,000 tokens x (2 x 8 x 128 x 32 layers x 2 B = 131,072) = 18,874,368,000
     *   (read 143,968 tokens of context, write 32 new)
     * total 102,999,172,710.4 B / 0.030 s / (2 x 3.35e12 B/s) = 0.512434
     * FLOPs: 2 x 32 tokens x 32 layers x (41,943,040 + 32,768 + 2 x 176,160,768)
     *   = 807,520,960,512; LM head 2 x 32 rows x 32000 x 4096 = 8,388,608,000;
     *   attention pairs = 144,000 (decode: every sequence's new token sees its whole context)
     *   x 32 layers x 4 x 32 x 128 = 75,497,472,000; total 891,407,040,512
     *   / 0.030 s / (2 x 989.5e12) = 0.0150144 */
    mc_model *m = mixtral();
    mc_cap_peak pk = peak_of(m, 2);
    mc_pass p = parse_ok(DECODE_REC);
    mc_pass_usage u;
    CHECK_EQ_INT(mc_cap_pass_usage(m, &pk, &p, &u, NULL), MC_OK);
    CHECK_NEAR(u.bytes.layers, 83862382182.4, 1e-3);
    CHECK_NEAR(u.bytes.head, 262160384, 0);
    CHECK_NEAR(u.bytes.embed, 262144, 0);
    CHECK_NEAR(u.bytes.kv_read, 143968.0 * 131072, 0);
    CHECK_NEAR(u.bytes.kv_write, 32.0 * 131072, 0);
    CHECK_NEAR(u.bytes.total, 102999172710.4, 1e-3);
    CHECK_EQ_INT(u.bytes.source, MC_ACT_MEAN);
    CHECK_NEAR(u.bytes.distinct_mean, 7.2, 1e-12);
    CHECK_NEAR(u.flops.linear, 807520960512.0, 0);
    CHECK_NEAR(u.flops.head, 8388608000.0, 0);
    CHECK_NEAR(u.flops.attn_pairs, 144000, 0);
    CHECK_NEAR(u.flops.attn, 75497472000.0, 0);
    CHECK_NEAR(u.flops.total, 891407040512.0, 0);
    CHECK_NEAR(u.smbu, 0.512433695, 1e-9);
    CHECK_NEAR(u.smfu, 0.0150144356, 1e-10);
    mc_pass_deinit(&p);
    mc_model_free(m);
}

TEST(mixtral_prefill_moecap)
{
    /* prefill: batch 1, 4000 new tokens, no cache, 0.25 s, 8.0 experts/layer.
     * layers 32 x (83,886,080 + 32,768 + 65,536 + 8 x 352,321,536) = 92,881,813,504;
     * head 262,160,384; embedding 4000 x 8192 = 32,768,000; KV 4000 x 131,072 = 524,288,000
     * (all written, none read); total 93,701,029,888 B / 0.25 s / 6.7e12 B/s = 0.0559409
     * FLOPs: 2 x 4000 x 12,617,515,008 = 100,940,120,064,000; LM head for ONE row (the
     * sequence's last token) 2 x 32000 x 4096 = 262,144,000; causal pairs 4000 x 4001 / 2
     * = 8,002,000 x 32 x 16384 = 4,195,352,576,000; total 105,135,734,784,000
     * / 0.25 s / 1979e12 = 0.212503 */
    mc_model *m = mixtral();
    mc_cap_peak pk = peak_of(m, 2);
    mc_pass p = parse_ok(PREFILL_REC);
    mc_pass_usage u;
    CHECK_EQ_INT(mc_cap_pass_usage(m, &pk, &p, &u, NULL), MC_OK);
    CHECK_NEAR(u.bytes.layers, 92881813504.0, 0);
    CHECK_NEAR(u.bytes.embed, 32768000, 0);
    CHECK_NEAR(u.bytes.kv_read, 0, 0);
    CHECK_NEAR(u.bytes.kv_write, 524288000, 0);
    CHECK_NEAR(u.bytes.total, 93701029888.0, 0);
    CHECK_NEAR(u.flops.logits_rows, 1, 0);
    CHECK_NEAR(u.flops.head, 262144000, 0);
    CHECK_NEAR(u.flops.attn_pairs, 8002000, 0);
    CHECK_NEAR(u.flops.total, 105135734784000.0, 0);
    CHECK_NEAR(u.smbu, 0.0559409134, 1e-10);
    CHECK_NEAR(u.smfu, 0.2125027484, 1e-10);
    mc_pass_deinit(&p);
    mc_model_free(m);
}

TEST(activation_sources)
{
    mc_model *m = mixtral();
    mc_pass_bytes b;
    char json[2048];
    /* 32 per-layer counts of 7.2 on average (16 layers at 7, 16 at 7.4): same bytes as the mean */
    int n = snprintf(json, sizeof json, "{\"latency\": 0.03, \"batch_size\": 32, "
                                        "\"seq_lens_sum\": 144000, \"experts_per_layer\": [");
    for (int l = 0; l < 32; l++)
        n += snprintf(json + n, sizeof json - (size_t)n, "%s%s", l ? ", " : "",
                      l % 2 ? "7.4" : "7");
    snprintf(json + n, sizeof json - (size_t)n, "]}");
    mc_pass p = parse_ok(json);
    CHECK_EQ_INT(mc_cap_pass_bytes(m, &p, &b, NULL), MC_OK);
    CHECK_EQ_INT(b.source, MC_ACT_PER_LAYER);
    CHECK_NEAR(b.distinct_mean, 7.2, 1e-12);
    CHECK_NEAR(b.layers, 83862382182.4, 1e-3);
    mc_pass_deinit(&p);

    /* not recorded (activation 0): uniform-routing estimate for T = 8 new tokens,
     * 8 (1 - 0.75^8) = 7.19909668 experts per layer */
    p = parse_ok("{\"latency\": 0.01, \"batch_size\": 8, \"seq_lens_sum\": 800, "
                 "\"expert_activation\": 0}");
    CHECK_EQ_INT(mc_cap_pass_bytes(m, &p, &b, NULL), MC_OK);
    CHECK_EQ_INT(b.source, MC_ACT_UNIFORM);
    CHECK_NEAR(b.distinct_mean, 7.19909668, 1e-8);
    mc_pass_deinit(&p);

    /* wrong shapes and impossible counts name the problem */
    mc_diag d = {{0}};
    p = parse_ok("{\"latency\": 0.01, \"experts_per_layer\": [1, 2, 3]}");
    CHECK_EQ_INT(mc_cap_pass_bytes(m, &p, &b, &d), MC_ERR_FORMAT);
    CHECK_CONTAINS(d.msg, "experts_per_layer has 3 layers; the model has 32 layers, 32 of them MoE");
    mc_pass_deinit(&p);
    p = parse_ok("{\"latency\": 0.01, \"expert_activation\": 9}");
    CHECK_EQ_INT(mc_cap_pass_bytes(m, &p, &b, &d), MC_ERR_RANGE);
    CHECK_CONTAINS(d.msg, "expert_activation 9 exceeds the model's 8 experts");
    mc_pass_deinit(&p);
    p = parse_ok("{\"latency\": 0.01, \"tokens_per_expert\": [[1, 2, 3]]}");
    CHECK_EQ_INT(mc_cap_pass_bytes(m, &p, &b, &d), MC_ERR_FORMAT);
    CHECK_CONTAINS(d.msg, "tokens_per_expert has 3 experts per layer; the model has 8");
    mc_pass_deinit(&p);
    mc_model_free(m);
}

TEST(tokens_per_expert_counts)
{
    /* DeepSeek-V2-Lite with 26 MoE-layer rows of 64 counts: row r routes tokens to experts
     * 0..r+5 (r + 6 distinct); mean over the 26 MoE layers = 6 + 12.5 = 18.5.
     * layers: 27 x attention + layer 0 dense + 26 x (router + shared + distinct experts) */
    mc_model *m = ds_v2_lite();
    static char json[65536];
    int n = snprintf(json, sizeof json, "{\"latency\": 0.01, \"batch_size\": 4, "
                                        "\"new_tokens\": 4, \"seq_lens_sum\": 40, "
                                        "\"tokens_per_expert\": [");
    for (int r = 0; r < 26; r++) {
        n += snprintf(json + n, sizeof json - (size_t)n, "%s[", r ? ", " : "");
        for (int e = 0; e < 64; e++)
            n += snprintf(json + n, sizeof json - (size_t)n, "%s%d", e ? ", " : "",
                          e < r + 6 ? 3 : 0);
        n += snprintf(json + n, sizeof json - (size_t)n, "]");
    }
    snprintf(json + n, sizeof json - (size_t)n, "]}");
    mc_pass p = parse_ok(json);
    mc_pass_bytes b;
    CHECK_EQ_INT(mc_cap_pass_bytes(m, &p, &b, NULL), MC_OK);
    CHECK_EQ_INT(b.source, MC_ACT_TOKENS);
    CHECK_NEAR(b.distinct_mean, 18.5, 1e-12);
    double want = 0;
    for (int l = 0; l < 27; l++)
        want += mc_model_layer_bytes(m, l, l == 0 ? 0 : (double)(l - 1 + 6));
    CHECK_NEAR(b.layers, want, 0);
    /* one MoE layer by hand: attention (2048 x 576 + 512 kv norm + 512 x 16 x 256 +
     * 16 x 128 x 2048 + 2048 x 16 x 192) = 13,763,072 x 2 B = 27,526,144; norms 4096 x 4 B;
     * router 2048 x 64 x 2 B = 262,144; shared 3 x 2048 x 2816 x 2 B = 34,603,008;
     * 6 experts x 3 x 2048 x 1408 x 2 B = 103,809,024  -> 166,216,704 */
    CHECK_NEAR(mc_model_layer_bytes(m, 1, 6), 166216704.0, 0);
    mc_pass_deinit(&p);
    mc_model_free(m);
}

TEST(attention_pairs_chunks)
{
    mc_model *m = mixtral();
    mc_pass_flops f;
    /* two chunks: a (100 new on 200 cached) and b (50 new, no cache):
     * 100 x 200 + 100 x 101 / 2 + 50 x 51 / 2 = 20,000 + 5,050 + 1,275 = 26,325 */
    mc_pass p = parse_ok("{\"forward_mode\": \"prefill\", \"batch_size\": 2, \"latency\": 0.1, "
                         "\"seq_lens_sum\": 350, \"per_req_info\": ["
                         "{\"req_id\": \"a\", \"extend_len\": 100, \"total_len\": 300}, "
                         "{\"req_id\": \"b\", \"extend_len\": 50, \"total_len\": 50}]}");
    mc_cap_pass_flops(m, &p, &f);
    CHECK_EQ_INT(f.pairs_from_chunks, 1);
    CHECK_NEAR(f.attn_pairs, 26325, 0);
    CHECK_NEAR(f.logits_rows, 2, 0);
    /* the equal-length assumption for the same sums: n = 75, c = 100:
     * 2 x (75 x 100 + 75 x 76 / 2) = 20,700 */
    CHECK_NEAR(mc_cap_attn_pairs_equal(2, 150, 350), 20700, 0);
    mc_pass_deinit(&p);

    /* mixed: one 10-token chunk + 2 decodes (contexts 49 and 69 before their token):
     * 55 + (50 + 70) = 175 */
    p = parse_ok("{\"forward_mode\": \"mixed\", \"batch_size\": 3, \"new_tokens\": 12, "
                 "\"latency\": 0.1, \"seq_lens_sum\": 130, \"per_req_info\": ["
                 "{\"req_id\": \"c\", \"extend_len\": 10, \"total_len\": 10}]}");
    mc_cap_pass_flops(m, &p, &f);
    CHECK_EQ_INT(f.pairs_from_chunks, 1);
    CHECK_NEAR(f.attn_pairs, 175, 0);
    mc_pass_deinit(&p);

    /* vLLM-style total_len (= prompt length > seq_lens_sum): inconsistent, so the equal-length
     * assumption is used: n = 100, c = 0 -> 5050 */
    p = parse_ok("{\"forward_mode\": \"prefill\", \"batch_size\": 1, \"latency\": 0.1, "
                 "\"seq_lens_sum\": 100, \"per_req_info\": ["
                 "{\"req_id\": \"d\", \"extend_len\": 100, \"total_len\": 900}]}");
    mc_cap_pass_flops(m, &p, &f);
    CHECK_EQ_INT(f.pairs_from_chunks, 0);
    CHECK_NEAR(f.attn_pairs, 5050, 0);
    mc_pass_deinit(&p);
    mc_model_free(m);
}

TEST(mla_attention_flops)
{
    /* DeepSeek-V2-Lite decode, batch 2, seq_lens_sum 1000: pairs 1000 x 27 layers x
     * 2 x 16 heads x (128 + 64 + 128) = 276,480,000 FLOPs */
    mc_model *m = ds_v2_lite();
    mc_pass p = parse_ok("{\"forward_mode\": \"decode\", \"batch_size\": 2, \"latency\": 0.01, "
                         "\"seq_lens_sum\": 1000}");
    mc_pass_flops f;
    mc_cap_pass_flops(m, &p, &f);
    CHECK_NEAR(f.attn, 276480000.0, 0);
    /* KV: 1000 tokens x 27 x (512 + 64) x 2 B = 31,104,000 */
    mc_pass_bytes b;
    CHECK_EQ_INT(mc_cap_pass_bytes(m, &p, &b, NULL), MC_OK);
    CHECK_NEAR(b.kv_read + b.kv_write, 31104000.0, 0);
    mc_pass_deinit(&p);
    mc_model_free(m);
}

TEST(run_summary)
{
    /* the decode and prefill passes together:
     * time-weighted S-MBU = (102,999,172,710.4 + 93,701,029,888) B / 0.28 s / 6.7e12 = 0.104851
     * per-pass mean = (0.512434 + 0.055941) / 2 = 0.284187
     * time-weighted S-MFU = (891,407,040,512 + 105,135,734,784,000) / 0.28 / 1979e12 = 0.191343
     * decode throughput 32 / 0.03 = 1066.67 tok/s; prefill 4000 / 0.25 = 16000 tok/s */
    mc_model *m = mixtral();
    mc_cap_peak pk = peak_of(m, 2);
    mc_pass p[2] = {parse_ok(DECODE_REC), parse_ok(PREFILL_REC)};
    mc_cap_summary s;
    CHECK_EQ_INT(mc_cap_summarise(m, &pk, p, 2, &s, NULL), MC_OK);
    CHECK_EQ_INT(s.all.passes, 2);
    CHECK_EQ_INT(s.all.new_tokens, 4032);
    CHECK_NEAR(s.all.time_s, 0.28, 1e-15);
    CHECK_NEAR(s.all.smbu_tw, 0.1048508543, 1e-10);
    CHECK_NEAR(s.all.smbu_mean, 0.2841873042, 1e-10);
    CHECK_NEAR(s.all.smfu_tw, 0.1913432863, 1e-10);
    CHECK_NEAR(s.mode[MC_PASS_DECODE].smbu_tw, 0.512433695, 1e-9);
    CHECK_NEAR(s.mode[MC_PASS_DECODE].tok_per_s, 1066.666667, 1e-6);
    CHECK_NEAR(s.mode[MC_PASS_PREFILL].tok_per_s, 16000, 1e-9);
    CHECK_NEAR(s.mode[MC_PASS_PREFILL].act_mean, 8, 0);
    CHECK_NEAR(s.all.act_mean, 7.6, 1e-12);
    CHECK_EQ_INT(s.mode[MC_PASS_MIXED].passes, 0);
    CHECK_EQ_INT(s.all.act_estimated, 0);

    /* an error names the pass's line and id */
    mc_pass bad = parse_ok("{\"forward_pass_id\": 41, \"latency\": 1, \"expert_activation\": 99}");
    bad.line = 42;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_cap_summarise(m, &pk, &bad, 1, &s, &d), MC_ERR_RANGE);
    CHECK_CONTAINS(d.msg, "line 42 (forward_pass_id 41): expert_activation 99 exceeds");
    mc_pass_deinit(&bad);
    mc_pass_deinit(&p[0]);
    mc_pass_deinit(&p[1]);
    mc_model_free(m);
}

TEST(peak_errors)
{
    mc_model *m = mixtral();
    mc_hw_deploy dep = h100(0);
    mc_cap_peak pk;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_cap_peak_of(m, &dep, &pk, &d), MC_ERR_RANGE);
    dep = h100(1);
    dep.hw.mem_bw_Bps = 0;
    CHECK_EQ_INT(mc_cap_peak_of(m, &dep, &pk, &d), MC_ERR_UNSUPPORTED);
    CHECK_CONTAINS(d.msg, "h100-test");
    /* no fp8 peak: the weights are dequantised, the bf16 peak is used and flagged */
    mc_model_set_weight_dtype(m, MC_DT_FP8, NULL);
    dep = h100(1);
    CHECK_EQ_INT(mc_cap_peak_of(m, &dep, &pk, &d), MC_OK);
    CHECK_EQ_INT(pk.prec, MC_PREC_BF16);
    CHECK_EQ_INT(pk.fallback, 1);
    CHECK_NEAR(pk.flops, dep.hw.flops[MC_PREC_BF16], 0);
    /* only an fp32 figure (a CPU probe): fp32 */
    for (int i = 0; i < MC_PREC_COUNT; i++)
        if (i != MC_PREC_FP32)
            dep.hw.flops[i] = 0;
    dep.hw.flops[MC_PREC_FP32] = 1e12;
    CHECK_EQ_INT(mc_cap_peak_of(m, &dep, &pk, &d), MC_OK);
    CHECK_EQ_INT(pk.prec, MC_PREC_FP32);
    CHECK_NEAR(pk.flops, 1e12, 0);
    /* no peak at all: S-MFU is not available (NaN), S-MBU still is */
    dep.hw.flops[MC_PREC_FP32] = 0;
    CHECK_EQ_INT(mc_cap_peak_of(m, &dep, &pk, &d), MC_OK);
    CHECK_EQ_INT(pk.fallback, 0);
    mc_pass p = parse_ok(DECODE_REC);
    mc_pass_usage u;
    CHECK_EQ_INT(mc_cap_pass_usage(m, &pk, &p, &u, NULL), MC_OK);
    CHECK(isnan(u.smfu));
    CHECK(u.smbu > 0);
    mc_pass_deinit(&p);
    mc_model_free(m);
}

/* ---- moecap-ref ---- */

TEST(ref_mixtral_worked_example)
{
    /* the reference's numbers (moecap-reference.md 2.8):
     * S_attn 4.194304e-5, S_exp 1.76160768e-4, KV 65,536 elements/token, p = 2 B;
     * decode S-MBU [32 (7.2 S_exp + S_attn) + 144000 x 65536 / 1e12] x 2 / 0.030 / (2 x 3.35)
     *   = 0.51111; S-MFU [32 (S_attn + S_exp) + 2 x 144000 x 32 x 32 x 128 / 1e12] x 2
     *   x (32 / 0.030) / (2 x 1979 / 2) = 0.048216;
     * prefill S-MBU 0.055763, S-MFU 0.129809 (tokens/s = 4000 / 0.25) */
    mc_model *m = mixtral();
    mc_cap_peak pk = peak_of(m, 2);
    mc_ref_sizes z;
    CHECK_EQ_INT(mc_cap_ref_sizes(m, &z, NULL), MC_OK);
    CHECK_EQ_INT(z.family, MC_REF_DEFAULT);
    CHECK_NEAR(z.s_attn, 4.194304e-5, 1e-20);
    CHECK_NEAR(z.s_exp, 1.76160768e-4, 1e-20);
    CHECK_NEAR(z.kv_per_token, 65536, 0);
    CHECK_NEAR(z.bytes_per_param, 2, 0);

    /* plus two records the reference skips: activation -1, and a 8-token prefill probe */
    mc_pass p[4] = {parse_ok(DECODE_REC), parse_ok(PREFILL_REC),
                    parse_ok("{\"forward_mode\": \"decode\", \"latency\": 0.01, "
                             "\"expert_activation\": -1}"),
                    parse_ok("{\"forward_mode\": \"prefill\", \"latency\": 0.01, "
                             "\"seq_lens_sum\": 8, \"expert_activation\": 2}")};
    mc_ref_summary r;
    CHECK_EQ_INT(mc_cap_ref_summarise(m, &pk, p, 4, &r, NULL), MC_OK);
    CHECK_NEAR(r.decoding_smbu, 0.51111246, 1e-8);
    CHECK_NEAR(r.decoding_smfu, 0.04821620, 1e-8);
    CHECK_NEAR(r.prefill_smbu, 0.05576296, 1e-8);
    CHECK_NEAR(r.prefill_smfu, 0.12980936, 1e-8);
    CHECK_NEAR(r.decoding_throughput, 1066.666667, 1e-6);
    CHECK_NEAR(r.prefill_tp, 16000, 1e-9);
    CHECK_NEAR(r.ttft, 0.25, 0);
    CHECK_NEAR(r.tpot, 0.03, 0);
    /* mean true_kv_size: ((144000 + 1) + (4000 + 1)) x 65536 / 1e6 / 2 = 4849.729536 */
    CHECK_NEAR(r.kv_size, 4849.729536, 1e-9);
    CHECK_EQ_INT(r.skipped_activation, 1);
    CHECK_EQ_INT(r.skipped_probe, 1);
    CHECK_EQ_INT(r.per_request, 0);
    for (int i = 0; i < 4; i++)
        mc_pass_deinit(&p[i]);
    mc_model_free(m);
}

TEST(ref_chunk_aggregation)
{
    /* request r1 prefilled in two chunks (2000 + 2000 tokens, passes of 0.10 s and 0.15 s):
     * TTFT 0.25 s, total_len 4000 -> the same S-MBU / S-MFU as the 4000-token prefill;
     * request r2 never gets its last chunk and is dropped; a prefill pass without chunk info
     * still counts per pass (latency 0.5, 4000 tokens -> half the prefill example's S-MBU). */
    mc_model *m = mixtral();
    mc_cap_peak pk = peak_of(m, 2);
    mc_pass p[4] = {
        parse_ok("{\"forward_mode\": \"prefill\", \"latency\": 0.10, \"seq_lens_sum\": 2500, "
                 "\"expert_activation\": 8, \"per_req_info\": ["
                 "{\"req_id\": \"r1\", \"extend_len\": 2000, \"total_len\": 2000, "
                 "\"is_last_chunk\": false}, {\"req_id\": \"r2\", \"extend_len\": 500, "
                 "\"total_len\": 500, \"is_last_chunk\": false}]}"),
        parse_ok(DECODE_REC),
        parse_ok("{\"forward_mode\": \"prefill\", \"latency\": 0.15, \"seq_lens_sum\": 4000, "
                 "\"expert_activation\": 8, \"per_req_info\": [{\"req_id\": \"r1\", "
                 "\"extend_len\": 2000, \"total_len\": 4000, \"is_last_chunk\": true}]}"),
        parse_ok("{\"forward_mode\": \"prefill\", \"latency\": 0.5, \"seq_lens_sum\": 4000, "
                 "\"expert_activation\": 8}"),
    };
    mc_ref_summary r;
    CHECK_EQ_INT(mc_cap_ref_summarise(m, &pk, p, 4, &r, NULL), MC_OK);
    CHECK_EQ_INT(r.per_request, 1);
    CHECK_EQ_INT(r.prefill_samples, 2);
    CHECK_EQ_INT(r.incomplete_requests, 1);
    CHECK_NEAR(r.prefill_smbu, (0.05576296 + 0.05576296 / 2) / 2, 1e-8);
    CHECK_NEAR(r.ttft, (0.25 + 0.5) / 2, 1e-15);
    CHECK_NEAR(r.prefill_tp, (16000 + 8000) / 2, 1e-9);
    CHECK_NEAR(r.decoding_smbu, 0.51111246, 1e-8);
    for (int i = 0; i < 4; i++)
        mc_pass_deinit(&p[i]);
    mc_model_free(m);
}

TEST(ref_families)
{
    /* sizes from moecap-reference.md 2.8 [D] */
    mc_model *ds = ds_v2_lite(), *qw = qwen15();
    mc_ref_sizes z;
    CHECK_EQ_INT(mc_cap_ref_sizes(ds, &z, NULL), MC_OK);
    CHECK_EQ_INT(z.family, MC_REF_DEEPSEEK);
    CHECK_NEAR(z.s_attn, 1.376256e-5, 1e-20);
    CHECK_NEAR(z.kv_per_token, 15552, 0);
    CHECK_NEAR(z.s_exp, 8.650752e-6, 1e-20);
    CHECK_NEAR(z.s_shared, 1.7301504e-5, 1e-20);
    CHECK_NEAR(z.s_dense, 6.7239936e-5, 1e-20);
    CHECK_NEAR(z.n_moe, 26, 0);
    /* DeepSeek decode: batch 8, ctx 8000, 0.02 s, a = 30, 1 x H100:
     * weights 27 S_attn + 26 (30 S_exp + S_shared) + S_dense = 7,636,254,720 params;
     * S-MBU (7.63625472e9 + 8000 x 15552) x 2 B / 0.02 / 3.35e12 = 0.2316618;
     * S-MFU (27 S_attn + 26 (S_exp + S_shared) + S_dense + 8000 x 27 x 16 x 320 / 1e12)
     *   x 2 x 400 tok/s / 989.5e12 = 0.00179445 */
    mc_cap_peak pk = peak_of(ds, 1);
    mc_ref_sample s = {8000, 30, 0.02, 8 / 0.02};
    double bu, fu;
    mc_cap_ref_util(&z, &pk, &s, &bu, &fu);
    CHECK_NEAR(bu, 0.2316618125, 1e-10);
    CHECK_NEAR(fu, 0.0017944479, 1e-10);

    CHECK_EQ_INT(mc_cap_ref_sizes(qw, &z, NULL), MC_OK);
    CHECK_EQ_INT(z.family, MC_REF_QWEN);
    CHECK_NEAR(z.s_attn, 1.6777216e-5, 1e-20); /* no biases: the reference ignores them */
    CHECK_NEAR(z.s_shared, 3.4603008e-5, 1e-20);
    CHECK_NEAR(z.kv_per_token, 98304, 0);
    /* Qwen decode: batch 4, ctx 2000, 0.01 s, a = 10, 1 device:
     * S-MBU [24 (10 S_exp + S_shared + S_attn) + 2000 x 98304 / 1e12] x 2 / 0.01 / 3.35
     *   = 0.2093083; S-MFU [24 (S_attn + S_exp + S_shared) + 2 x 2000 x 24 x 16 x 128 / 1e12]
     *   x 2 x 400 / 989.5 = 0.00132378 */
    pk = peak_of(qw, 1);
    s = (mc_ref_sample){2000, 10, 0.01, 400};
    mc_cap_ref_util(&z, &pk, &s, &bu, &fu);
    CHECK_NEAR(bu, 0.2093082899, 1e-10);
    CHECK_NEAR(fu, 0.0013237808, 1e-10);
    mc_model_free(ds);
    mc_model_free(qw);
}

TEST(ref_qwen3_dense_layers)
{
    /* a small qwen3_moe: d 1000, L 4 (layers 0 and 2 dense of width 3000, 1 and 3 MoE with
     * 10 experts top-2 of width 500), H 10, Hkv 2, dh 100.
     * S_attn = (1000 x (1000 + 400) + 1000 x 1000) / 1e12 = 2.4e-6; S_exp = 1.5e-6;
     * S_dense = 9e-6; KV 2 x 4 x 100 x 2 = 1600 elements/token.
     * weights(a = 4) = 2 x 4 x 1.5e-6 + 2 x 9e-6 + 4 x 2.4e-6 = 3.96e-5 tera-params;
     * with ctx 1000, 1 s, bandwidth 1e12 B/s: S-MBU = (3.96e7 + 1.6e6) x 2 / 1e12 = 8.24e-5 */
    mc_model *m = mc_model_new(4);
    snprintf(m->arch, sizeof m->arch, "qwen3_moe");
    m->hidden = 1000;
    m->vocab = 1000;
    m->attn = (mc_attn){.kind = MC_ATTN_GQA, .n_heads = 10, .n_kv_heads = 2, .head_dim = 100};
    for (int l = 0; l < 4; l++)
        m->layers[l] = l % 2 ? (mc_layer){.ffn = MC_FFN_MOE, .n_experts = 10, .top_k = 2,
                                          .expert_ff = 500}
                             : (mc_layer){.ffn = MC_FFN_DENSE, .dense_ff = 3000};
    CHECK_EQ_INT(mc_model_finalize(m, NULL), MC_OK);
    mc_ref_sizes z;
    CHECK_EQ_INT(mc_cap_ref_sizes(m, &z, NULL), MC_OK);
    CHECK_EQ_INT(z.family, MC_REF_QWEN3);
    CHECK_NEAR(z.s_dense, 9e-6, 1e-20);
    mc_cap_peak pk = {.devices = 1, .bw_Bps = 1e12, .flops = 1e15};
    mc_ref_sample s = {1000, 4, 1, 1};
    double bu, fu;
    mc_cap_ref_util(&z, &pk, &s, &bu, &fu);
    CHECK_NEAR(bu, 8.24e-5, 1e-17);
    /* S-MFU (weights(1) = 2 x 1.5e-6 + 1.8e-5 + 9.6e-6 = 3.06e-5; score 2 x 1000 x 4 x 10 x 100
     * / 1e12 = 8e-6) x 1e12 x 2 x 1 tok/s / 1e15 = 7.72e-8 */
    CHECK_NEAR(fu, 7.72e-8, 1e-20);
    mc_model_free(m);
}

/* ---- expected distinct experts ---- */

TEST(expected_distinct)
{
    CHECK_NEAR(mc_cap_expected_distinct_uniform(8, 2, 1), 2, 1e-12);
    CHECK_NEAR(mc_cap_expected_distinct_uniform(8, 2, 8), 7.1990966797, 1e-10); /* 8(1-.75^8) */
    CHECK_NEAR(mc_cap_expected_distinct_uniform(8, 2, 16), 7.9198192339, 1e-10);
    CHECK_NEAR(mc_cap_expected_distinct_uniform(64, 6, 8), 34.8818264212, 1e-9);
    CHECK_NEAR(mc_cap_expected_distinct_uniform(8, 8, 3), 8, 0);
    CHECK_NEAR(mc_cap_expected_distinct_uniform(8, 2, 0), 0, 0);

    /* uniform frequencies k/N reproduce the uniform formula; a skewed vector gives fewer:
     * f = {1, 0.5, 0.5, 0} (k = 2), T = 2: 1 + 2 x (1 - 0.25) + 0 = 2.5 */
    double uni[8] = {0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25}, v;
    CHECK_EQ_INT(mc_cap_expected_distinct_freq(uni, 8, 8, &v, NULL), MC_OK);
    CHECK_NEAR(v, 7.1990966797, 1e-10);
    double skew[4] = {1, 0.5, 0.5, 0};
    CHECK_EQ_INT(mc_cap_expected_distinct_freq(skew, 4, 2, &v, NULL), MC_OK);
    CHECK_NEAR(v, 2.5, 1e-15);
    double bad[2] = {0.5, 1.5};
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_cap_expected_distinct_freq(bad, 2, 2, &v, &d), MC_ERR_RANGE);
    CHECK_CONTAINS(d.msg, "expert 1 is 1.5");
}

int main(void)
{
    RUN(parse_our_fields);
    RUN(parse_reference_records);
    RUN(parse_errors);
    RUN(format_round_trip);
    RUN(jsonl_skip_and_strict);
    RUN(jsonl_alloc_failures);
    RUN(mixtral_decode_moecap);
    RUN(mixtral_prefill_moecap);
    RUN(activation_sources);
    RUN(tokens_per_expert_counts);
    RUN(attention_pairs_chunks);
    RUN(mla_attention_flops);
    RUN(run_summary);
    RUN(peak_errors);
    RUN(ref_mixtral_worked_example);
    RUN(ref_chunk_aggregation);
    RUN(ref_families);
    RUN(ref_qwen3_dense_layers);
    RUN(expected_distinct);
    return harness_done();
}
