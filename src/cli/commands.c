/* commands.c: the subcommand table and the CLI's shared error and JSON printing. */
#include "cli.h"

#include <cjson/cJSON.h>

#include <stdarg.h>
#include <string.h>

const mc_cmd mc_cli_commands[] = {
    {"model-info", "parameters, bytes and KV size of a model (config.json, GGUF, catalogue)",
     cmd_model_info, usage_model_info},
    {"hardware", "list or show catalogue hardware", cmd_hardware, usage_hardware},
    {"probe", "measure this machine's memory bandwidth and FLOP/s", cmd_probe, usage_probe},
    {"metrics", "S-MBU, S-MFU and latency figures from per-pass records", cmd_metrics,
     usage_metrics},
    {"predict", "analytic CAP model: latency, throughput, utilisation and cost", cmd_predict,
     usage_predict},
    {"make-model", "write a seeded random-weight MoE model as a GGUF file", cmd_make_model,
     usage_make_model},
    {"bench", "load-test an OpenAI-compatible server: TTFT, TPOT, ITL, throughput, goodput",
     cmd_bench, usage_bench},
    {"eval", "accuracy on evaluation data (GSM8K, MMLU-Pro, HellaSwag, ...) and model fidelity",
     cmd_eval, usage_eval},
    {"generate", "generate text with the embedded CPU engine (tok/s, experts per layer)",
     cmd_generate, usage_generate},
    {"bench-engine", "benchmark the embedded engine: prefill/decode tok/s, S-MBU, S-MFU",
     cmd_bench_engine, usage_bench_engine},
    {"serve", "OpenAI-compatible HTTP server on the engine, with CAP per-pass records", cmd_serve,
     usage_serve},
    {"run", "a whole CAP evaluation of several systems (or the demo): cap.json and a report",
     cmd_run, usage_run},
    {"compare", "the headline figures of several `moecap run` directories", cmd_compare,
     usage_compare},
    {"report", "self-contained HTML report (CAP radar, latency CDFs, experts) of run directories",
     cmd_report, usage_report},
    {"radar", "the CAP radar (SVG/PNG) and its normalised radii from a list of systems",
     cmd_radar, usage_radar},
    {NULL, NULL, NULL, NULL},
};

const mc_cmd *mc_cli_find(const char *name)
{
    for (const mc_cmd *c = mc_cli_commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

int mc_cli_fail(const char *cmd, mc_err e, const mc_diag *d)
{
    const char *msg = (d && d->msg[0]) ? d->msg : mc_err_name(e);
    fprintf(stderr, "moecap %s: %s\n", cmd, msg);
    return e == MC_ERR_ARG ? 2 : 1;
}

int mc_cli_print_json(const char *cmd, cJSON *root)
{
    char *s = root ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!s)
        return mc_cli_fail(cmd, MC_ERR_NOMEM, NULL);
    printf("%s\n", s);
    cJSON_free(s);
    return 0;
}

int mc_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "moecap %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'moecap help %s')\n", cmd);
    return 2;
}
