/* fuzz_run_config.c: the `moecap run` configuration loader (src/run, libyaml) on arbitrary YAML
 * text in memory. Any input must give either an error with a one-line message and no config, or
 * a config whose counts stay inside their fixed arrays and whose system names are valid; never a
 * crash, a hang or a leak. Seeds: tests/fuzz/corpus/run_config/ (the tests' configurations). */
#include "run.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_config(const mc_run_config *c)
{
    if (c->n_systems > MC_RUN_MAX_SYSTEMS || c->n_dataset_names > MC_RUN_MAX_LIST ||
        c->n_metrics > MC_RUN_MAX_LIST || c->eval.n_tasks > MC_RUN_MAX_LIST ||
        c->workload.n_concurrency > MC_RUN_MAX_POINTS ||
        c->workload.n_batch_sizes > MC_RUN_MAX_POINTS)
        abort();
    for (size_t i = 0; i < c->n_systems; i++)
        if (!mc_run_name_ok(c->systems[i].name) || c->systems[i].line <= 0)
            abort();
    for (size_t i = 0; i < c->n_warnings; i++)
        if (!c->warnings[i] || strchr(c->warnings[i], '\n'))
            abort(); /* a warning is printed as one line */
    if ((c->dataset_subset != NULL) != (c->dataset_subset_line > 0) ||
        (c->dataset_split != NULL) != (c->dataset_split_line > 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mc_run_config *c = NULL;
    mc_diag d = {{0}};
    mc_err e = mc_run_config_parse((const char *)data, size, "fuzz.yaml", &c, &d);
    if (e != MC_OK) {
        if (c != NULL || d.msg[0] == 0 || strchr(d.msg, '\n') != NULL)
            abort(); /* an error must leave no config and carry one line */
        return 0;
    }
    if (!c)
        abort();
    check_config(c);
    mc_run_config_free(c);
    return 0;
}
