/* usage.c: the moecap formula. Bytes and FLOPs of one forward pass (bytes.pass, flops.pass),
 * S-MBU / S-MFU of a pass (smbu.pass, smfu.pass), run aggregates (smbu.time_weighted,
 * smbu.pass_mean, throughput.*) and the expected number of distinct experts
 * (experts.expected_uniform, experts.expected_freq). Definitions: docs/METRICS.md.
 * Pure arithmetic on mc_model / mc_pass / mc_hw_deploy: no I/O, no clock, no allocation. */
#include "cap.h"

#include <math.h>
#include <string.h>

const char *mc_act_source_name(mc_act_source s)
{
    static const char *names[] = {"none", "experts_per_layer", "tokens_per_expert",
                                  "expert_activation", "uniform_estimate"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

/* ---- experts.expected_uniform / experts.expected_freq ---- */

double mc_cap_expected_distinct_uniform(double n_experts, double top_k, double tokens)
{
    if (!(n_experts > 0) || !(top_k > 0) || !(tokens > 0))
        return 0;
    if (top_k >= n_experts)
        return n_experts;
    /* 1 - (1 - k/N)^T written with log1p/expm1 so small k/N and large T stay accurate */
    return n_experts * -expm1(tokens * log1p(-top_k / n_experts));
}

mc_err mc_cap_expected_distinct_freq(const double *f, size_t n, double tokens, double *out,
                                     mc_diag *d)
{
    double s = 0;
    if (!(tokens >= 0) || !isfinite(tokens))
        return mc_fail(d, MC_ERR_RANGE, "expected experts: token count %g must be >= 0", tokens);
    for (size_t i = 0; i < n; i++) {
        if (!(f[i] >= 0 && f[i] <= 1))
            return mc_fail(d, MC_ERR_RANGE,
                           "expected experts: frequency of expert %zu is %g, not in [0, 1]", i,
                           f[i]);
        if (tokens == 0 || f[i] == 0)
            continue;
        s += f[i] == 1 ? 1 : -expm1(tokens * log1p(-f[i]));
    }
    *out = s;
    return MC_OK;
}

/* ---- which activation a pass carries, and the distinct experts of each layer ---- */

typedef struct act_ctx {
    mc_act_source src;
    int per_model_layer; /* arrays have one entry per model layer (else per MoE layer) */
} act_ctx;

static mc_err check_rows(const mc_model *m, int64_t rows, const char *what, act_ctx *a,
                         mc_diag *d)
{
    if (rows == m->n_layers) {
        a->per_model_layer = 1;
        return MC_OK;
    }
    if (rows == m->n_moe_layers)
        return MC_OK;
    return mc_fail(d, MC_ERR_FORMAT, "%s has %lld layers; the model has %lld layers, %lld of them MoE",
                   what, (long long)rows, (long long)m->n_layers, (long long)m->n_moe_layers);
}

static mc_err pick_source(const mc_model *m, const mc_pass *p, act_ctx *a, mc_diag *d)
{
    memset(a, 0, sizeof *a);
    if (m->n_moe_layers == 0) {
        a->src = MC_ACT_NONE;
        return MC_OK;
    }
    if (p->n_layer_experts > 0) {
        a->src = MC_ACT_PER_LAYER;
        return check_rows(m, p->n_layer_experts, "experts_per_layer", a, d);
    }
    if (p->tpe_rows > 0) {
        a->src = MC_ACT_TOKENS;
        if (p->tpe_cols != m->max_experts)
            return mc_fail(d, MC_ERR_FORMAT, "tokens_per_expert has %lld experts per layer; the "
                           "model has %lld", (long long)p->tpe_cols, (long long)m->max_experts);
        return check_rows(m, p->tpe_rows, "tokens_per_expert", a, d);
    }
    if (p->expert_activation > (double)m->max_experts)
        return mc_fail(d, MC_ERR_RANGE, "expert_activation %g exceeds the model's %lld experts",
                       p->expert_activation, (long long)m->max_experts);
    /* 0 means "not traced" in the reference's records (profiling-only, vLLM without patching):
     * an MoE layer that computed a token used at least top_k experts */
    a->src = p->expert_activation > 0 ? MC_ACT_MEAN : MC_ACT_UNIFORM;
    return MC_OK;
}

static int64_t count_used(const int64_t *row, int64_t n)
{
    int64_t c = 0;
    for (int64_t i = 0; i < n; i++)
        c += row[i] > 0;
    return c;
}

/* Distinct routed experts of MoE layer l (model index l, MoE ordinal k). */
static mc_err layer_distinct(const mc_model *m, const mc_pass *p, const act_ctx *a, int64_t l,
                             int64_t k, double *out, mc_diag *d)
{
    const mc_layer *L = &m->layers[l];
    int64_t row = a->per_model_layer ? l : k;
    double v = 0;
    switch (a->src) {
    case MC_ACT_PER_LAYER: v = p->experts_per_layer[row]; break;
    case MC_ACT_TOKENS:
        v = (double)count_used(p->tokens_per_expert + row * p->tpe_cols, L->n_experts);
        break;
    case MC_ACT_MEAN: v = fmin(p->expert_activation, (double)L->n_experts); break;
    default:
        v = mc_cap_expected_distinct_uniform((double)L->n_experts, (double)L->top_k,
                                             (double)p->new_tokens);
    }
    if (v > (double)L->n_experts)
        return mc_fail(d, MC_ERR_RANGE, "layer %lld: %g distinct experts, but it has %lld",
                       (long long)l, v, (long long)L->n_experts);
    *out = v;
    return MC_OK;
}

/* ---- bytes.pass ---- */

static mc_err weight_bytes(const mc_model *m, const mc_pass *p, mc_pass_bytes *out, mc_diag *d)
{
    act_ctx a;
    mc_err e = pick_source(m, p, &a, d);
    if (e)
        return e;
    double sum = 0, distinct_sum = 0;
    for (int64_t l = 0, k = 0; l < m->n_layers; l++) {
        double v = 0;
        if (m->layers[l].ffn == MC_FFN_MOE) {
            if ((e = layer_distinct(m, p, &a, l, k++, &v, d)) != MC_OK)
                return e;
            distinct_sum += v;
        }
        sum += mc_model_layer_bytes(m, l, v);
    }
    out->layers = sum;
    out->source = a.src;
    out->distinct_mean = m->n_moe_layers ? distinct_sum / (double)m->n_moe_layers : 0;
    return MC_OK;
}

mc_err mc_cap_pass_bytes(const mc_model *m, const mc_pass *p, mc_pass_bytes *out, mc_diag *d)
{
    memset(out, 0, sizeof *out);
    mc_err e = weight_bytes(m, p, out, d);
    if (e)
        return e;
    double n = (double)p->new_tokens;
    /* every pass computes at least one row of logits (flops.lm_head), so reads the head once */
    out->head = (m->tied_embeddings ? m->b_embed : m->b_head) + m->b_final_norm;
    out->embed = n * m->b_embed / (double)m->vocab;
    out->kv_read = (double)(p->seq_lens_sum - p->new_tokens) * m->kv_bytes_per_token;
    out->kv_write = n * m->kv_bytes_per_token;
    out->total = out->layers + out->head + out->embed + out->kv_read + out->kv_write;
    return MC_OK;
}

/* ---- flops.pass ---- */

double mc_cap_attn_pairs_equal(double b, double n_total, double s_total)
{
    if (!(b > 0))
        return 0;
    double n = n_total / b, c = s_total / b - n;
    return b * (n * c + n * (n + 1) / 2);
}

/* Pairs from per_req_info when it is consistent with the pass's sums (SGLang's total_len =
 * cached + this chunk); sequences the chunks do not cover are taken as equal-length. */
static int chunk_pairs(const mc_pass *p, double *pairs)
{
    int64_t ext = 0, tot = 0;
    double sum = 0;
    if (p->n_chunks == 0 || p->n_chunks > p->batch_size)
        return 0;
    for (int64_t i = 0; i < p->n_chunks; i++) {
        const mc_req_chunk *c = &p->chunks[i];
        if (c->total_len < 0 || c->extend_len < 1 || c->extend_len > c->total_len)
            return 0;
        double n = (double)c->extend_len, ctx = (double)(c->total_len - c->extend_len);
        sum += n * ctx + n * (n + 1) / 2;
        ext += c->extend_len;
        tot += c->total_len;
    }
    if (ext > p->new_tokens || tot > p->seq_lens_sum)
        return 0;
    int64_t rest_b = p->batch_size - p->n_chunks, rest_n = p->new_tokens - ext;
    if (rest_n > 0 && rest_b < 1)
        return 0;
    if (rest_n > 0)
        sum += mc_cap_attn_pairs_equal((double)rest_b, (double)rest_n,
                                       (double)(p->seq_lens_sum - tot));
    *pairs = sum;
    return 1;
}

/* Matmul parameters one token passes through: attention projections, router, shared block,
 * top_k routed experts, dense FFN. */
static double matmul_params_per_token(const mc_model *m)
{
    double s = 0;
    for (int64_t l = 0; l < m->n_layers; l++) {
        const mc_layer *L = &m->layers[l];
        s += (double)L->p_attn + (double)L->p_dense + (double)L->p_router +
             (double)L->p_shared + (double)L->top_k * (double)L->p_expert;
    }
    return s;
}

/* Score (Q K^T) plus value (A V) FLOPs of one (query, key) pair in one layer. */
static double attn_flops_per_pair(const mc_model *m)
{
    const mc_attn *a = &m->attn;
    if (a->kind == MC_ATTN_MLA)
        return 2.0 * (double)a->n_heads *
               (double)(a->qk_nope_dim + a->qk_rope_dim + a->v_head_dim);
    return 4.0 * (double)a->n_heads * (double)a->head_dim;
}

void mc_cap_pass_flops(const mc_model *m, const mc_pass *p, mc_pass_flops *out)
{
    memset(out, 0, sizeof *out);
    double n = (double)p->new_tokens;
    out->linear = 2 * n * matmul_params_per_token(m);
    /* flops.lm_head: one row per sequence; decode: one per new token (speculative verify) */
    out->logits_rows = p->mode == MC_PASS_DECODE ? n : (double)p->batch_size;
    out->head = 2 * out->logits_rows * (double)m->vocab * (double)m->hidden;
    out->pairs_from_chunks = chunk_pairs(p, &out->attn_pairs);
    if (!out->pairs_from_chunks)
        out->attn_pairs =
            mc_cap_attn_pairs_equal((double)p->batch_size, n, (double)p->seq_lens_sum);
    out->attn = out->attn_pairs * (double)m->n_layers * attn_flops_per_pair(m);
    out->total = out->linear + out->head + out->attn;
}

/* ---- smbu.pass / smfu.pass ---- */

mc_err mc_cap_peak_of(const mc_model *m, const mc_hw_deploy *dep, mc_cap_peak *out, mc_diag *d)
{
    memset(out, 0, sizeof *out);
    if (dep->count < 1)
        return mc_fail(d, MC_ERR_RANGE, "hardware '%s': device count %d must be >= 1",
                       dep->hw.name, dep->count);
    if (!(dep->hw.mem_bw_Bps > 0))
        return mc_fail(d, MC_ERR_UNSUPPORTED, "hardware '%s': no memory bandwidth figure",
                       dep->hw.name);
    out->devices = dep->count;
    out->prec = mc_dtype_compute_prec(m->n_moe_layers ? m->st.expert : m->st.dense);
    out->bw_Bps = dep->count * dep->hw.mem_bw_Bps;
    double f = dep->hw.flops[out->prec];
    static const mc_prec fallback[] = {MC_PREC_BF16, MC_PREC_FP32};
    for (size_t i = 0; !(f > 0) && i < sizeof fallback / sizeof fallback[0]; i++) {
        if (dep->hw.flops[fallback[i]] > 0) {
            out->prec = fallback[i];
            out->fallback = 1;
            f = dep->hw.flops[fallback[i]];
        }
    }
    out->flops = f > 0 ? dep->count * f : 0;
    return MC_OK;
}

mc_err mc_cap_pass_usage(const mc_model *m, const mc_cap_peak *pk, const mc_pass *p,
                         mc_pass_usage *out, mc_diag *d)
{
    memset(out, 0, sizeof *out);
    mc_err e = mc_cap_pass_bytes(m, p, &out->bytes, d);
    if (e)
        return e;
    mc_cap_pass_flops(m, p, &out->flops);
    out->smbu = out->bytes.total / p->latency_s / pk->bw_Bps;
    out->smfu = pk->flops > 0 ? out->flops.total / p->latency_s / pk->flops : NAN;
    return MC_OK;
}

/* ---- run aggregates ---- */

static void group_add(mc_cap_group *g, const mc_pass *p, const mc_pass_usage *u)
{
    g->passes++;
    g->new_tokens += p->new_tokens;
    g->sequences += p->batch_size;
    g->time_s += p->latency_s;
    g->bytes += u->bytes.total;
    g->flops += u->flops.total;
    g->smbu_mean += u->smbu; /* sums until group_finish */
    g->smfu_mean += u->smfu;
    g->tok_per_s_mean += (double)p->new_tokens / p->latency_s;
    g->act_mean += u->bytes.distinct_mean;
    g->act_estimated += u->bytes.source == MC_ACT_UNIFORM;
}

static void group_finish(mc_cap_group *g, const mc_cap_peak *pk)
{
    if (g->passes == 0)
        return;
    double n = (double)g->passes;
    g->smbu_mean /= n;
    g->smfu_mean /= n;
    g->tok_per_s_mean /= n;
    g->act_mean /= n;
    g->smbu_tw = g->bytes / g->time_s / pk->bw_Bps;
    g->smfu_tw = pk->flops > 0 ? g->flops / g->time_s / pk->flops : NAN;
    g->tok_per_s = (double)g->new_tokens / g->time_s;
}

mc_err mc_cap_summarise(const mc_model *m, const mc_cap_peak *pk, const mc_pass *p, size_t n,
                        mc_cap_summary *out, mc_diag *d)
{
    memset(out, 0, sizeof *out);
    out->peak = *pk;
    for (size_t i = 0; i < n; i++) {
        mc_pass_usage u;
        mc_err e = mc_cap_pass_usage(m, pk, &p[i], &u, d);
        if (e) {
            mc_diag_prefix(d, "line %lld (forward_pass_id %lld)", (long long)p[i].line,
                           (long long)p[i].forward_pass_id);
            return e;
        }
        group_add(&out->mode[p[i].mode], &p[i], &u);
        group_add(&out->all, &p[i], &u);
    }
    for (int k = 0; k < MC_PASS_MODE_COUNT; k++)
        group_finish(&out->mode[k], pk);
    group_finish(&out->all, pk);
    return MC_OK;
}
