/* fuzz_hfconfig.c: the config.json loader on arbitrary bytes. Any input must give either an error
 * with a one-line message or a finalized model whose counts are consistent; never a crash, a hang
 * or a leak. Seeds: tests/fuzz/corpus/hfconfig/ (catalogue configs and broken ones). */
#include "model.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mc_model *m = NULL;
    mc_diag d = {{0}};
    mc_err e = mc_model_parse_hf_config((const char *)data, size, "fuzz.json", &m, &d);
    if (e != MC_OK) {
        if (m != NULL || d.msg[0] == 0 || strchr(d.msg, '\n') != NULL)
            abort(); /* an error must leave no model and carry one line */
        return 0;
    }
    if (!m || m->total_params <= 0 || m->active_params <= 0 ||
        m->active_params > m->total_params + m->hidden || m->kv_bytes_per_token <= 0 ||
        m->n_moe_layers + m->n_dense_layers != m->n_layers)
        abort();
    mc_model_free(m);
    return 0;
}
