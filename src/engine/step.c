/* step.c: one forward pass (mc_engine_step): checks the batch (nothing changes on a bad item),
 * lays the items' tokens out as the rows of the step with their slot and position, embeds them,
 * runs every layer over all rows at once, computes the logits of the rows that want them straight
 * into the callers' buffers, then advances the sequences and records the pass. With an expert
 * cache (xcache.c) a failed slow-tier read ends the step early with nothing advanced.
 * Depends on attn.c, ffn.c, par.c, trace.c, xcache.c and the kernels; allocates nothing. */
#include "engine_impl.h"

#include <string.h>

static mc_err check_item(mc_engine *e, const mc_batch_item *it, int i, mc_diag *d)
{
    if (it->seq < 0 || it->seq >= e->max_seqs)
        return mc_fail(d, MC_ERR_ARG, "engine: item %d: sequence slot %d out of range [0, %d)", i,
                       it->seq, e->max_seqs);
    if (e->seq_stamp[it->seq] == e->stamp)
        return mc_fail(d, MC_ERR_ARG, "engine: item %d: sequence slot %d appears twice in the step",
                       i, it->seq);
    e->seq_stamp[it->seq] = e->stamp;
    if (it->n_tokens < 1 || !it->tokens)
        return mc_fail(d, MC_ERR_ARG, "engine: item %d: no tokens (n_tokens %lld)", i,
                       (long long)it->n_tokens);
    if (it->n_tokens > e->n_ctx - e->seq_len[it->seq])
        return mc_fail(
            d, MC_ERR_RANGE,
            "engine: item %d: sequence %d holds %lld tokens; %lld more exceed n_ctx %lld", i,
            it->seq, (long long)e->seq_len[it->seq], (long long)it->n_tokens, (long long)e->n_ctx);
    for (int64_t j = 0; j < it->n_tokens; j++)
        if (it->tokens[j] < 0 || it->tokens[j] >= e->vocab)
            return mc_fail(
                d, MC_ERR_RANGE,
                "engine: item %d: token %lld is id %ld, outside the vocabulary [0, %lld)", i,
                (long long)j, (long)it->tokens[j], (long long)e->vocab);
    if (it->logits < MC_LOGITS_NONE || it->logits > MC_LOGITS_ALL)
        return mc_fail(d, MC_ERR_ARG, "engine: item %d: logits mode %d (0 none, 1 last, 2 all)", i,
                       it->logits);
    if (it->logits != MC_LOGITS_NONE && !it->logits_out)
        return mc_fail(d, MC_ERR_ARG, "engine: item %d: logits requested without a buffer", i);
    return MC_OK;
}

static mc_err check_items(mc_engine *e, const mc_batch_item *items, int n_items, mc_diag *d)
{
    if (!items || n_items < 1)
        return mc_fail(d, MC_ERR_ARG, "engine: a step needs at least one item");
    e->stamp++;
    int64_t total = 0;
    for (int i = 0; i < n_items; i++) {
        mc_err err = check_item(e, &items[i], i, d);
        if (err)
            return err;
        total += items[i].n_tokens;
        if (total > e->max_tok)
            return mc_fail(d, MC_ERR_RANGE,
                           "engine: the step carries more than max_step_tokens = %lld tokens",
                           (long long)e->max_tok);
    }
    return MC_OK;
}

/* Rows of the step: item by item, token by token. */
static int64_t lay_out(mc_engine *e, const mc_batch_item *items, int n_items)
{
    int64_t n = 0;
    e->n_step_items = n_items;
    for (int i = 0; i < n_items; i++) {
        e->item_t0[i] = n;
        e->item_n[i] = items[i].n_tokens;
        for (int64_t j = 0; j < items[i].n_tokens; j++, n++) {
            e->tok_id[n] = items[i].tokens[j];
            e->tok_seq[n] = items[i].seq;
            e->tok_pos[n] = e->seq_len[items[i].seq] + j;
        }
    }
    return n;
}

/* Embedding rows and RoPE angles of rows [b, end). */
static void embed_rows(void *ctx, int64_t b, int64_t end, int worker)
{
    const mc_engine *e = ctx;
    (void)worker;
    for (int64_t t = b; t < end; t++) {
        const uint8_t *row = e->embd.p + (size_t)e->tok_id[t] * e->embd.row_bytes;
        mc_kernels_dequant_row(e->embd.t, row, e->x + t * e->hidden, e->hidden);
        eng_rope_table(e, e->rope_cs + t * e->n_rot, e->tok_pos[t]);
    }
}

typedef struct head_ctx {
    const mc_engine *e;
    const uint8_t *xq;
    int64_t n_rows;
} head_ctx;

/* LM-head chunks [b, end): vocabulary rows c*ENG_HEAD_ROWS.. for every logits row at once. */
static void head_chunks(void *ctx, int64_t b, int64_t end, int worker)
{
    const head_ctx *c = ctx;
    const mc_engine *e = c->e;
    float *y = e->head_buf + (size_t)worker * (size_t)e->max_tok * ENG_HEAD_ROWS;
    for (int64_t k = b; k < end; k++) {
        int64_t r0 = k * ENG_HEAD_ROWS;
        int64_t nr = e->vocab - r0 < ENG_HEAD_ROWS ? e->vocab - r0 : ENG_HEAD_ROWS;
        mc_matmul mm = {.wtype = e->head.t,
                        .w = e->head.p + (size_t)r0 * e->head.row_bytes,
                        .cols = e->hidden,
                        .r0 = 0,
                        .r1 = nr,
                        .x = c->xq,
                        .x_stride = e->act.stride,
                        .n_tok = c->n_rows,
                        .y = y,
                        .y_stride = ENG_HEAD_ROWS,
                        .layout = e->head.layout,
                        .rows = nr};
        mc_kernels_matmul(&mm);
        for (int64_t t = 0; t < c->n_rows; t++)
            memcpy(e->lrow_dst[t] + r0, y + t * ENG_HEAD_ROWS, (size_t)nr * sizeof(float));
    }
}

/* Final norm of the rows that want logits (compacted, item by item) and the LM head over all of
 * them at once, written straight into the callers' buffers. */
static void logits(mc_engine *e, const mc_batch_item *items, int n_items)
{
    int64_t n_rows = 0, t = 0;
    for (int i = 0; i < n_items; i++) {
        int64_t nt = items[i].n_tokens;
        for (int64_t j = 0; j < nt; j++, t++) {
            int all = items[i].logits == MC_LOGITS_ALL;
            if (!all && !(items[i].logits == MC_LOGITS_LAST && j == nt - 1))
                continue;
            e->lrow_dst[n_rows] = items[i].logits_out + (all ? j * e->vocab : 0);
            e->lrow_tok[n_rows++] = (int32_t)t;
        }
    }
    if (n_rows == 0)
        return;
    for (int64_t r = 0; r < n_rows; r++)
        memcpy(e->tmp + r * e->hidden, e->x + (int64_t)e->lrow_tok[r] * e->hidden,
               (size_t)e->hidden * sizeof(float));
    eng_norm_rows(e, e->tmp, e->xn, e->out_norm, n_rows);
    eng_act_reset(e);
    head_ctx c = {e, eng_act_prep(e, e->xn, e->hidden, n_rows, e->hidden, e->head.t), n_rows};
    int64_t chunks = (e->vocab + ENG_HEAD_ROWS - 1) / ENG_HEAD_ROWS;
    if (e->n_threads == 1)
        head_chunks(&c, 0, chunks, 0);
    else
        mc_pool_for(e->pool, chunks, 1, head_chunks, &c);
}

mc_err mc_engine_step(mc_engine *e, const mc_batch_item *items, int n_items, mc_diag *d)
{
    mc_ns t0 = mc_now_ns();
    mc_err err = check_items(e, items, n_items, d);
    if (err)
        return err;
    int64_t n = lay_out(e, items, n_items);
    if (e->xc)
        eng_xc_step_begin(e);
    memset(e->prof_ns, 0, sizeof e->prof_ns);
    eng_par(e, n, 16, embed_rows, e);
    for (int64_t l = 0; l < e->n_layers && !err; l++) {
        mc_ns t = mc_now_ns();
        eng_attention(e, &e->L[l], n);
        eng_lap(e, MC_PHASE_ATTN, t);
        err = eng_ffn(e, &e->L[l], n, d);
    }
    if (e->xc)
        eng_xc_step_end(e, !err);
    if (err) { /* a slow-tier read failed: no slot advances; the K/V rows written past each
                  slot's length are overwritten by the next step */
        e->have_pass = 0;
        return err;
    }
    mc_ns th = mc_now_ns();
    logits(e, items, n_items);
    eng_lap(e, MC_PHASE_HEAD, th);
    for (int i = 0; i < n_items; i++)
        e->seq_len[items[i].seq] += items[i].n_tokens;
    mc_ns t1 = mc_now_ns();
    eng_trace_end(e, items, n_items, t0, t1);
    for (int p = 0; p < MC_PHASES; p++)
        e->prof_sum[p] += e->prof_ns[p];
    e->prof_step += t1 - t0;
    e->prof_steps++;
    return MC_OK;
}

void mc_engine_profile(const mc_engine *e, mc_engine_prof *out)
{
    mc_ns named = 0;
    memset(out, 0, sizeof *out);
    for (int p = 0; p < MC_PHASES; p++) {
        out->s[p] = mc_ns_to_s(e->prof_sum[p]);
        named += p == MC_PHASE_OTHER ? 0 : e->prof_sum[p];
    }
    out->s[MC_PHASE_OTHER] = e->prof_step > named ? mc_ns_to_s(e->prof_step - named) : 0;
    out->step_s = mc_ns_to_s(e->prof_step);
    out->steps = e->prof_steps;
}

void mc_engine_profile_reset(mc_engine *e)
{
    memset(e->prof_sum, 0, sizeof e->prof_sum);
    e->prof_step = 0;
    e->prof_steps = 0;
}

const char *mc_engine_phase_name(int phase)
{
    static const char *const names[MC_PHASES] = {"attention", "routing", "experts",
                                                 "dense_ffn", "head",    "other"};
    return phase >= 0 && phase < MC_PHASES ? names[phase] : NULL;
}
