/* test_run_config.c: the `moecap run` configuration loader (src/run): the MoE-CAP reference's
 * keys, moecap's sections, unknown keys as warnings, and bad YAML / bad values with file:line. */
#include "harness.h"
#include "run.h"

static mc_run_config *parse(const char *y, mc_diag *d)
{
    mc_run_config *c = NULL;
    memset(d, 0, sizeof *d);
    mc_err e = mc_run_config_parse(y, strlen(y), "config.yaml", &c, d);
    if (e)
        CHECK(c == NULL);
    return c;
}

TEST(reference_keys)
{
    const char *y = "model_id: Qwen/Qwen3-30B-A3B\n"
                    "dataset_names: [gsm8k, mmlu-pro]\n"
                    "metrics: [em, f1]\n"
                    "precision: fp8\n"
                    "dataset_subset: main\n"
                    "dataset_split: test\n"
                    "fixed_length_mode: true\n"
                    "target_input_tokens: 4096\n"
                    "target_output_tokens: 1024\n"
                    "num_samples: 100\n"
                    "profiling_only: false\n"
                    "api_url: http://127.0.0.1:8000/v1/completions\n"
                    "server_batch_size: 64\n"
                    "output_dir: out/\n";
    mc_diag d;
    mc_run_config *c = parse(y, &d);
    CHECK(c != NULL);
    if (!c)
        return;
    CHECK_STR(c->model_id, "Qwen/Qwen3-30B-A3B");
    CHECK_EQ_INT(c->n_dataset_names, 2);
    CHECK_STR(c->dataset_names[1], "mmlu-pro");
    CHECK_EQ_INT(c->n_metrics, 2);
    CHECK_STR(c->metrics[0], "em");
    CHECK_STR(c->precision, "fp8");
    CHECK_STR(c->dataset_subset, "main");
    CHECK_STR(c->dataset_split, "test");
    CHECK_EQ_INT(c->dataset_subset_line, 5); /* for the runner's messages */
    CHECK_EQ_INT(c->dataset_split_line, 6);
    CHECK_EQ_INT(c->fixed_length_mode, 1);
    CHECK_EQ_INT(c->target_input_tokens, 4096);
    CHECK_EQ_INT(c->target_output_tokens, 1024);
    CHECK_EQ_INT(c->num_samples, 100);
    CHECK_EQ_INT(c->profiling_only, 0);
    CHECK_STR(c->api_url, "http://127.0.0.1:8000/v1/completions");
    CHECK_EQ_INT(c->server_batch_size, 64);
    CHECK_STR(c->output_dir, "out/");
    CHECK_EQ_INT(c->n_warnings, 0);
    CHECK_EQ_INT(c->n_systems, 0);
    mc_run_config_free(c);
}

TEST(moecap_sections)
{
    const char *y = "hardware: local\n"
                    "systems:\n"
                    "  - name: f16\n"
                    "    label: F16, all experts resident\n"
                    "    model: /tmp/m-f16.gguf\n"
                    "    threads: 2\n"
                    "    parallel: 4\n"
                    "  - name: offload\n"
                    "    model: /tmp/m-f16.gguf\n"
                    "    expert_cache_mb: 25%\n"
                    "    expert_cache_policy: lru\n"
                    "    prefetch: yes\n"
                    "  - name: remote\n"
                    "    url: http://10.0.0.1:8000\n"
                    "    model: mixtral\n"
                    "    cap_model: mixtral-8x7b\n"
                    "    weights_type: bf16\n"
                    "    expert_cache_mb: 512\n"
                    "workload:\n"
                    "  input_len: 64\n"
                    "  output_len: 16\n"
                    "  num_requests: 12\n"
                    "  concurrency: [1, 4]\n"
                    "  warmup: 2\n"
                    "eval:\n"
                    "  tasks: [gsm8k]\n"
                    "  limit: 5\n"
                    "  fidelity_reference: f16\n"
                    "cost:\n"
                    "  device_price_usd: 1200.5\n"
                    "  pue: 1.2\n"
                    "  dram_usd_per_gb: 3\n"
                    "output_dir: runs/x\n";
    mc_diag d;
    mc_run_config *c = parse(y, &d);
    CHECK(c != NULL);
    if (!c)
        return;
    CHECK_STR(c->hardware, "local");
    CHECK_EQ_INT(c->n_systems, 3);
    CHECK_STR(c->systems[0].name, "f16");
    CHECK_STR(c->systems[0].label, "F16, all experts resident");
    CHECK_EQ_INT(c->systems[0].threads, 2);
    CHECK_EQ_INT(c->systems[0].parallel, 4);
    CHECK_EQ_INT(c->systems[0].expert_cache_mb, -1);
    CHECK_EQ_INT(c->systems[0].line, 3);
    CHECK_NEAR(c->systems[1].expert_cache_frac, 0.25, 1e-12);
    CHECK_EQ_INT(c->systems[1].expert_cache_mb, -1);
    CHECK_STR(c->systems[1].expert_cache_policy, "lru");
    CHECK_EQ_INT(c->systems[1].prefetch, 1);
    CHECK(c->systems[1].label == NULL);
    CHECK_STR(c->systems[2].url, "http://10.0.0.1:8000");
    CHECK_STR(c->systems[2].cap_model, "mixtral-8x7b");
    CHECK_EQ_INT(c->systems[2].expert_cache_mb, 512);
    CHECK(isnan(c->systems[2].expert_cache_frac));
    CHECK_EQ_INT(c->workload.input_len, 64);
    CHECK_EQ_INT(c->workload.output_len, 16);
    CHECK_EQ_INT(c->workload.num_requests, 12);
    CHECK_EQ_INT(c->workload.n_concurrency, 2);
    CHECK_EQ_INT(c->workload.concurrency[1], 4);
    CHECK_EQ_INT(c->workload.warmup, 2);
    CHECK_EQ_INT(c->eval.n_tasks, 1);
    CHECK_STR(c->eval.tasks[0], "gsm8k");
    CHECK_EQ_INT(c->eval.limit, 5);
    CHECK_STR(c->eval.fidelity_reference, "f16");
    CHECK_NEAR(c->cost.device_price_usd, 1200.5, 0);
    CHECK_NEAR(c->cost.pue, 1.2, 0);
    CHECK_NEAR(c->cost.dram_usd_per_gb, 3, 0);
    CHECK(isnan(c->cost.host_price_usd));
    CHECK_EQ_INT(c->eval.fidelity_tokens, -1);
    CHECK_STR(c->output_dir, "runs/x");
    mc_run_config_free(c);
}

TEST(unknown_keys_warn)
{
    mc_diag d;
    mc_run_config *c = parse("model_id: m\nfoo: 1\nworkload:\n  input_len: 8\n  bar: [1]\n", &d);
    CHECK(c != NULL);
    if (!c)
        return;
    CHECK_EQ_INT(c->n_warnings, 2);
    if (c->n_warnings == 2) {
        CHECK_STR(c->warnings[0], "config.yaml:2: foo: unknown key (ignored)");
        CHECK_STR(c->warnings[1], "config.yaml:5: workload.bar: unknown key (ignored)");
    }
    CHECK_EQ_INT(c->workload.input_len, 8);
    mc_run_config_free(c);
    /* a key with a line break is still one line (found by fuzz_run_config's seed) */
    c = parse("\"odd\\nkey\": 2\nworkload: {\"a\\tb\": 1}\n", &d);
    CHECK(c != NULL && c->n_warnings == 2);
    if (c && c->n_warnings == 2) {
        CHECK_STR(c->warnings[0], "config.yaml:1: odd?key: unknown key (ignored)");
        CHECK_STR(c->warnings[1], "config.yaml:2: workload.a?b: unknown key (ignored)");
    }
    mc_run_config_free(c);
    /* a list given again replaces the first one whole (the second entry of the first list was
     * leaked; found by fuzz_run_config) */
    c = parse("metrics: [em, f1]\nmetrics: x\n", &d);
    CHECK(c != NULL && c->n_metrics == 1 && c->metrics[1] == NULL);
    if (c)
        CHECK_STR(c->metrics[0], "x");
    mc_run_config_free(c);
    c = parse("workload: {input_len: \"1\\n2\"}\n", &d);
    CHECK(c == NULL);
    CHECK(strchr(d.msg, '\n') == NULL);
}

TEST(empty_and_scalar_list)
{
    mc_diag d;
    mc_run_config *c = parse("", &d);
    CHECK(c != NULL);
    if (c)
        CHECK_EQ_INT(c->n_systems, 0);
    mc_run_config_free(c);
    c = parse("dataset_names: gsm8k\n", &d);
    CHECK(c != NULL);
    if (c) {
        CHECK_EQ_INT(c->n_dataset_names, 1);
        CHECK_STR(c->dataset_names[0], "gsm8k");
    }
    mc_run_config_free(c);
}

TEST(errors_name_line_and_key)
{
    static const struct {
        const char *yaml, *msg;
    } cases[] = {
        {"model_id: m\nworkload:\n  input_len: 8\n  output_len: 4\nbatch_sizes: [1, x]\n",
         "config.yaml:5: batch_sizes: not a list of integers in 1..4096"},
        {"workload:\n  concurrency: {a: 1}\n",
         "config.yaml:2: concurrency: not a list of integers"},
        {"fixed_length_mode: maybe\n",
         "config.yaml:1: fixed_length_mode: not a boolean (true or false)"},
        {"server_batch_size: 0\n", "config.yaml:1: server_batch_size: not an integer in 1..4096"},
        {"systems:\n  - name: F16\n", "config.yaml:2: systems.name: every system needs a name of "
                                      "[a-z0-9._-] (at most 47 characters)"},
        {"systems:\n  - name: a\n  - name: a\n", "config.yaml:3: systems.name: 'a' is used twice"},
        {"systems:\n  - name: a\n    expert_cache_mb: 150%\n",
         "config.yaml:3: expert_cache_mb: a percentage must be in (0, 100]"},
        {"cost:\n  pue: -1\n", "config.yaml:2: pue: not a number >= 0"},
        {"- a\n- b\n", "config.yaml:1: not a mapping of keys to values"},
        {"workload: 3\n", "config.yaml:1: workload: not a mapping of keys to values"},
        {"model_id: [a\n", "config.yaml:2: bad YAML: did not find expected ',' or ']' while "
                           "parsing a flow sequence"},
        {"a: 1\n b: 2\n", "config.yaml:2: bad YAML: mapping values are not allowed in this "
                          "context"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mc_diag d;
        mc_run_config *c = parse(cases[i].yaml, &d);
        CHECK(c == NULL);
        CHECK_STR(d.msg, cases[i].msg);
        mc_run_config_free(c);
    }
}

TEST(load_file)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/c.yaml", harness_tmpdir());
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs("model_id: x\nnum_samples: nope\n", f);
    fclose(f);
    mc_run_config *c = NULL;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_run_config_load(path, &c, &d), MC_ERR_FORMAT);
    char want[4300];
    snprintf(want, sizeof want, "%s:2: num_samples: not an integer in 1..100000000", path);
    CHECK_STR(d.msg, want);
    CHECK(c == NULL);
    CHECK(mc_run_config_load("/nonexistent/c.yaml", &c, &d) != MC_OK);
}

TEST(names)
{
    CHECK(mc_run_name_ok("q4_0"));
    CHECK(mc_run_name_ok("f16-offload.25"));
    CHECK(!mc_run_name_ok(""));
    CHECK(!mc_run_name_ok(".."));
    CHECK(!mc_run_name_ok("a/b"));
    CHECK(!mc_run_name_ok("Q4"));
}

int main(void)
{
    RUN(reference_keys);
    RUN(moecap_sections);
    RUN(unknown_keys_warn);
    RUN(empty_and_scalar_list);
    RUN(errors_name_line_and_key);
    RUN(load_file);
    RUN(names);
    return harness_done();
}
