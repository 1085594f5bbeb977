/* cap_fixtures.h: what the cap tests share: the tiny synthetic MoE whose bytes, FLOPs and KV
 * sizes docs/METRICS.md's worked examples (and test_cap_predict.c's header comment) compute by
 * hand. */
#ifndef MC_CAP_FIXTURES_H
#define MC_CAP_FIXTURES_H

#include "model.h"

/* "tiny" (arch mixtral): hidden 64, vocab 1000, 2 MoE layers of 8 experts top-2 of width 128
 * (49,152 B each), GQA 4 heads / 2 KV heads of 16, every group bf16 (norms too), untied.
 * Owned by the caller (mc_model_free). Exits with a message if the model does not finalize. */
mc_model *cf_tiny_moe(void);

#endif
