/* trace.c: the per-forward-pass record (mc_pass, src/cap/cap.h) each step leaves behind: mode,
 * new tokens, batch size, context tokens, latency on the monotonic clock, and per MoE layer the
 * distinct experts hit and (with trace_tokens) the tokens routed to each. The arrays are
 * allocated at open; a step only writes numbers into them (docs/ENGINE.md, "Tracing").
 * Depends on the engine's state and cap.h's record type; allocates nothing after open. */
#include "engine_impl.h"

#include <string.h>

mc_err eng_trace_alloc(mc_engine *e, mc_diag *d)
{
    mc_pass *p = &e->pass;
    mc_pass_init(p);
    if (e->no_trace)
        return MC_OK;
    size_t nm = (size_t)(e->n_moe_layers ? e->n_moe_layers : 1);
    p->experts_per_layer = mc_calloc(nm, sizeof *p->experts_per_layer);
    p->chunks = mc_calloc((size_t)e->max_seqs, sizeof *p->chunks);
    if (e->trace_tokens && e->n_moe_layers > 0)
        p->tokens_per_expert = mc_calloc(nm * (size_t)e->max_exp, sizeof *p->tokens_per_expert);
    if (e->xc) { /* filled by the expert cache at the end of each step (xcache.c) */
        p->cache_hits = mc_calloc(nm, sizeof *p->cache_hits);
        p->cache_misses = mc_calloc(nm, sizeof *p->cache_misses);
    }
    if (!p->experts_per_layer || !p->chunks ||
        (e->trace_tokens && e->n_moe_layers > 0 && !p->tokens_per_expert) ||
        (e->xc && (!p->cache_hits || !p->cache_misses)))
        return mc_fail(d, MC_ERR_NOMEM, "engine: out of memory for the pass record");
    return MC_OK;
}

void eng_trace_layer(mc_engine *e, const eng_layer *L, int64_t n_tok)
{
    (void)n_tok;
    if (e->no_trace)
        return;
    int64_t distinct = 0;
    for (int64_t x = 0; x < L->n_exp; x++)
        distinct += e->exp_cnt[x] > 0;
    e->pass.experts_per_layer[L->moe_index] = (double)distinct;
    if (!e->trace_tokens)
        return;
    int64_t *row = e->pass.tokens_per_expert + L->moe_index * e->max_exp;
    memcpy(row, e->exp_cnt, (size_t)L->n_exp * sizeof *row);
    for (int64_t x = L->n_exp; x < e->max_exp; x++)
        row[x] = 0;
}

/* prefill: every item is a prompt chunk (more than one token, or the first token of its
 * sequence); decode: every item is one token appended to a non-empty sequence; else mixed. */
static mc_pass_mode step_mode(const mc_engine *e, const mc_batch_item *items, int n_items)
{
    int pre = 0, dec = 0;
    for (int i = 0; i < n_items; i++) {
        int64_t before = e->seq_len[items[i].seq] - items[i].n_tokens;
        if (items[i].n_tokens > 1 || before == 0)
            pre++;
        else
            dec++;
    }
    return dec == 0 ? MC_PASS_PREFILL : pre == 0 ? MC_PASS_DECODE : MC_PASS_MIXED;
}

void eng_trace_end(mc_engine *e, const mc_batch_item *items, int n_items, mc_ns t0, mc_ns t1)
{
    mc_pass *p = &e->pass;
    e->pass_id++;
    if (e->no_trace)
        return;
    p->forward_pass_id = e->pass_id - 1;
    p->mode = step_mode(e, items, n_items);
    p->new_tokens = 0;
    p->seq_lens_sum = 0;
    p->batch_size = n_items;
    for (int i = 0; i < n_items; i++) {
        mc_req_chunk *c = &p->chunks[i];
        memcpy(c->req_id, e->seq_names[items[i].seq], sizeof e->seq_names[0]);
        c->extend_len = items[i].n_tokens;
        c->total_len = e->seq_len[items[i].seq];
        c->is_last_chunk = items[i].more_chunks ? 0 : 1;
        p->new_tokens += c->extend_len;
        p->seq_lens_sum += c->total_len;
    }
    p->n_chunks = n_items;
    p->latency_s = t1 > t0 ? mc_ns_to_s(t1 - t0) : 1e-9;
    p->n_layer_experts = e->n_moe_layers;
    double sum = 0;
    for (int64_t l = 0; l < e->n_moe_layers; l++)
        sum += p->experts_per_layer[l];
    p->expert_activation = e->n_moe_layers ? sum / (double)e->n_moe_layers : -1;
    p->tpe_rows = e->trace_tokens ? e->n_moe_layers : 0;
    p->tpe_cols = e->trace_tokens && e->n_moe_layers ? e->max_exp : 0;
    p->gpu_num = 0;
    e->have_pass = 1;
}

const mc_pass *mc_engine_last_pass(const mc_engine *e)
{
    return e->have_pass && !e->no_trace ? &e->pass : NULL;
}
