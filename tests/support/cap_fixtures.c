/* cap_fixtures.c: the tiny synthetic MoE of the cap tests (see cap_fixtures.h). Depends on the
 * model module only; no files, no catalogue. */
#include "cap_fixtures.h"

#include <stdio.h>
#include <stdlib.h>

mc_model *cf_tiny_moe(void)
{
    mc_model *m = mc_model_new(2);
    snprintf(m->name, sizeof m->name, "tiny");
    snprintf(m->arch, sizeof m->arch, "mixtral");
    m->hidden = 64;
    m->vocab = 1000;
    m->attn = (mc_attn){.kind = MC_ATTN_GQA, .n_heads = 4, .n_kv_heads = 2, .head_dim = 16};
    for (int l = 0; l < 2; l++)
        m->layers[l] = (mc_layer){.ffn = MC_FFN_MOE, .n_experts = 8, .top_k = 2, .expert_ff = 128};
    m->st.norm = MC_DT_BF16;
    mc_diag d = {{0}};
    if (mc_model_finalize(m, &d) != MC_OK) {
        fprintf(stderr, "tiny fixture: %s\n", d.msg);
        exit(1);
    }
    return m;
}
