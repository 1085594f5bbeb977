/* cli: one cmd_<name>.c per subcommand. Each parses its options, wires modules, prints.
 * Libraries never print; this layer decides what the user sees. Only main.c calls exit().
 * Exit codes: 0 success, 1 failure, 2 usage error. */
#ifndef MC_CLI_H
#define MC_CLI_H

#include "base.h"

#include <stdio.h>

typedef struct mc_cmd {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
    void (*usage)(FILE *f);
} mc_cmd;

extern const mc_cmd mc_cli_commands[]; /* terminated by {NULL} */
const mc_cmd *mc_cli_find(const char *name);

/* Prints "moecap <cmd>: <message>" to stderr (the diag message if set, else the error name) and
 * returns the exit code for e (2 for MC_ERR_ARG, else 1). */
int mc_cli_fail(const char *cmd, mc_err e, const mc_diag *d);
/* Prints "moecap <cmd>: <fmt...>" and a hint to run `moecap help <cmd>`; returns 2. */
int mc_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints root as one JSON document on stdout and deletes it (NULL: building it ran out of
 * memory). Returns 0, or mc_cli_fail's 1 when it cannot be printed. */
struct cJSON;
int mc_cli_print_json(const char *cmd, struct cJSON *root);

/* The results directory (cli_results.c): `given`, else "<prefix>-YYYYmmdd-HHMMSS" (local time),
 * into buf. A usage error (returns 2) when it exists and is not a directory, or holds one of
 * `files` (NULL-terminated; NULL = none checked); 0 otherwise. */
int mc_cli_results_dir(const char *cmd, const char *given, const char *prefix,
                       const char *const *files, char *buf, size_t cap);
/* The model id to send: a copy of `given`, else the server's /v1/models (*out heap). */
mc_err mc_cli_model_id(const char *given, const char *url, const char *api_key, char **out,
                       mc_diag *d);

/* Subcommands (each in cmd_<name>.c). */
#define MC_CMD(n)                                                                                  \
    int cmd_##n(int argc, char **argv);                                                            \
    void usage_##n(FILE *f);
MC_CMD(model_info)
MC_CMD(hardware)
MC_CMD(probe)
MC_CMD(metrics)
MC_CMD(predict)
MC_CMD(make_model)
MC_CMD(bench)
MC_CMD(eval)
MC_CMD(generate)
MC_CMD(bench_engine)
MC_CMD(serve)
MC_CMD(run)
MC_CMD(compare)
MC_CMD(report)
MC_CMD(radar)
#undef MC_CMD

#endif
