/* ref.c: `--formula moecap-ref`, the MoE-CAP reference code's S-MBU / S-MFU numbers reproduced
 * exactly (docs/METRICS.md "ref.*"): its sizes in tera-parameters, its family variants, its skip
 * rules, its per-request chunk aggregation and its unweighted means. Known defects of the
 * reference are kept on purpose here; the moecap formula (usage.c) is where they are fixed.
 * Pure arithmetic; allocates only the per-request index. No I/O, no clock. */
#include "cap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *mc_ref_family_name(mc_ref_family f)
{
    static const char *names[] = {"default", "qwen", "qwen3", "deepseek"};
    return (unsigned)f < 4 ? names[f] : "?";
}

/* The reference's `precision` (bytes per parameter) for a storage type. */
static double ref_bytes_per_param(mc_dtype t)
{
    switch (t) {
    case MC_DT_F32: return 4.0;
    case MC_DT_F16:
    case MC_DT_BF16: return 2.0;
    case MC_DT_FP8:
    case MC_DT_INT8: return 1.0;
    case MC_DT_INT4:
    case MC_DT_MXFP4: return 0.5;
    default: return mc_dtype_bits(t) / 8; /* GGUF types: the reference has none; real size */
    }
}

static const mc_layer *first_layer(const mc_model *m, mc_ffn_kind kind)
{
    for (int64_t l = 0; l < m->n_layers; l++)
        if (m->layers[l].ffn == kind)
            return &m->layers[l];
    return NULL;
}

/* Family chosen from the structure instead of the reference's case-sensitive substring of the
 * model id: any MLA model takes the DeepSeek path (the reference sends Kimi-K2 and lower-case
 * "deepseek" ids to the GQA formulas, a defect not reproduced). */
static mc_ref_family family_of(const mc_model *m)
{
    if (m->attn.kind == MC_ATTN_MLA)
        return MC_REF_DEEPSEEK;
    if (strcmp(m->arch, "qwen3_moe") == 0)
        return MC_REF_QWEN3;
    if (strcmp(m->arch, "qwen2_moe") == 0)
        return MC_REF_QWEN;
    return MC_REF_DEFAULT;
}

static void attn_sizes(const mc_model *m, mc_ref_sizes *z)
{
    const mc_attn *a = &m->attn;
    double d = (double)m->hidden, H = (double)a->n_heads, L = (double)m->n_layers;
    if (z->family == MC_REF_DEEPSEEK) {
        double dq = (double)(a->qk_nope_dim + a->qk_rope_dim), dr = (double)a->qk_rope_dim;
        double dv = (double)a->v_head_dim, r = (double)a->kv_lora_rank;
        double rq = (double)a->q_lora_rank;
        double q = rq > 0 ? d * rq + rq * H * dq : d * H * dq;
        z->s_attn = (d * (r + dr) + r * H * (dq - dr + dv) + dv * H * d + q) / 1e12;
        z->kv_per_token = L * (r + dr);
        z->score_per_ctx = L * H * (dq + dv) / 1e12;
        return;
    }
    double dh = (double)a->head_dim, kv = (double)a->n_kv_heads;
    z->s_attn = (d * (H * dh + 2 * kv * dh) + H * dh * d) / 1e12;
    z->kv_per_token = 2 * L * dh * kv;
    z->score_per_ctx = 2 * L * H * dh / 1e12;
}

mc_err mc_cap_ref_sizes(const mc_model *m, mc_ref_sizes *z, mc_diag *d)
{
    memset(z, 0, sizeof *z);
    const mc_layer *moe = first_layer(m, MC_FFN_MOE), *dense = first_layer(m, MC_FFN_DENSE);
    double dm = (double)m->hidden;
    if (!moe && !dense)
        return mc_fail(d, MC_ERR_INTERNAL, "moecap-ref: model has no layers");
    z->family = family_of(m);
    attn_sizes(m, z);
    /* the reference's d_ff: moe_intermediate_size, else intermediate_size (dense models) */
    z->s_exp = (double)(moe ? moe->expert_ff : dense->dense_ff) * 3 * dm / 1e12;
    z->s_dense = dense ? (double)dense->dense_ff * 3 * dm / 1e12 : 0;
    if (z->family == MC_REF_QWEN && moe)
        z->s_shared = (double)moe->shared_ff * 3 * dm / 1e12;
    if (z->family == MC_REF_DEEPSEEK)
        z->s_shared = 2 * z->s_exp; /* hard-coded 2 shared experts (V3/R1 have 1) */
    z->n_layers = (double)m->n_layers;
    z->n_moe = (double)m->n_moe_layers;
    z->n_dense = (double)m->n_dense_layers;
    z->bytes_per_param = ref_bytes_per_param(moe ? m->st.expert : m->st.dense);
    return MC_OK;
}

/* Weights in tera-parameters at activation a; the S-MFU numerator is the same at a = 1. */
static double ref_weights(const mc_ref_sizes *z, double a)
{
    switch (z->family) {
    case MC_REF_QWEN: return z->n_layers * (a * z->s_exp + z->s_shared + z->s_attn);
    case MC_REF_QWEN3:
        return z->n_moe * a * z->s_exp + z->n_dense * z->s_dense + z->n_layers * z->s_attn;
    case MC_REF_DEEPSEEK:
        return z->n_layers * z->s_attn + z->n_moe * (a * z->s_exp + z->s_shared) +
               z->n_dense * z->s_dense;
    default: return z->n_layers * (a * z->s_exp + z->s_attn);
    }
}

void mc_cap_ref_util(const mc_ref_sizes *z, const mc_cap_peak *pk, const mc_ref_sample *s,
                     double *smbu, double *smfu)
{
    /* ref.smbu: (weights(a) + kv_size) x precision / t / (gpus x bandwidth); KV at the weight
     * precision */
    double bytes = (ref_weights(z, s->a) * 1e12 + s->ctx * z->kv_per_token) * z->bytes_per_param;
    *smbu = bytes / s->t / pk->bw_Bps;
    /* ref.smfu: (weights(1) + attention_score) x 2 x tokens/s / (gpus x peak / 2); peak / 2 of
     * the reference's sparse table is the dense peak we store */
    double flops = (ref_weights(z, 1) + s->ctx * z->score_per_ctx) * 1e12 * 2 * s->tok_per_s;
    *smfu = pk->flops > 0 ? flops / pk->flops : NAN;
}

/* ---- ref.aggregate ---- */

typedef struct ref_acc {
    double smbu[2], smfu[2], tp[2], lat[2]; /* [0] prefill, [1] decode */
    int64_t n[2];
    double kv;
    int64_t n_kv;
} ref_acc;

static void acc_add(ref_acc *r, const mc_ref_sizes *z, const mc_cap_peak *pk, int dec,
                    const mc_ref_sample *s)
{
    double bu, fu;
    mc_cap_ref_util(z, pk, s, &bu, &fu);
    r->smbu[dec] += bu;
    r->smfu[dec] += fu;
    r->tp[dec] += s->tok_per_s;
    r->lat[dec] += s->t;
    r->n[dec]++;
    r->kv += (s->ctx + 1) * z->kv_per_token / 1e6; /* true_kv_size, mega-elements */
    r->n_kv++;
}

/* The reference's expert_activation: recorded, else the mean of our per-layer arrays; -1 when
 * none (the reference then skips the record). */
static double ref_activation(const mc_pass *p)
{
    if (p->expert_activation >= 0)
        return p->expert_activation;
    double s = 0;
    if (p->n_layer_experts > 0) {
        for (int64_t i = 0; i < p->n_layer_experts; i++)
            s += p->experts_per_layer[i];
        return s / (double)p->n_layer_experts;
    }
    if (p->tpe_rows == 0)
        return -1;
    for (int64_t i = 0; i < p->tpe_rows * p->tpe_cols; i++)
        s += p->tokens_per_expert[i] > 0;
    return s / (double)p->tpe_rows;
}

typedef struct chunk_ref {
    const char *id;
    size_t pass, chunk;
} chunk_ref;

static int chunk_ref_cmp(const void *x, const void *y)
{
    const chunk_ref *a = x, *b = y;
    int c = strcmp(a->id, b->id);
    if (c)
        return c;
    if (a->pass != b->pass)
        return a->pass < b->pass ? -1 : 1;
    return a->chunk < b->chunk ? -1 : a->chunk > b->chunk;
}

/* One request's chunks r[0..n), in record order: TTFT = sum of the pass latencies, tokens = last
 * total_len (else the sum of extend_len), activation = the last pass's. */
static void ref_request(const mc_pass *p, const chunk_ref *r, size_t n, const mc_ref_sizes *z,
                        const mc_cap_peak *pk, ref_acc *acc, mc_ref_summary *out)
{
    double lat = 0;
    int64_t ext = 0, total = 0;
    int done = 0;
    for (size_t i = 0; i < n; i++) {
        const mc_req_chunk *c = &p[r[i].pass].chunks[r[i].chunk];
        lat += p[r[i].pass].latency_s;
        ext += c->extend_len;
        if (c->total_len >= 0)
            total = c->total_len;
        done |= c->is_last_chunk == 1;
    }
    if (!done) {
        out->incomplete_requests++;
        return;
    }
    double tokens = (double)(total > 0 ? total : ext);
    mc_ref_sample s = {tokens, ref_activation(&p[r[n - 1].pass]), lat, lat > 0 ? tokens / lat : 0};
    acc_add(acc, z, pk, 0, &s);
}

static void ref_requests(const mc_pass *p, const chunk_ref *all, size_t n, const mc_ref_sizes *z,
                         const mc_cap_peak *pk, ref_acc *acc, mc_ref_summary *out)
{
    for (size_t i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && strcmp(all[j].id, all[i].id) == 0; j++)
            ;
        ref_request(p, all + i, j - i, z, pk, acc, out);
    }
}

/* Filters every pass by the reference's skip rules, adds per-pass samples to acc and collects
 * the chunks of prefill passes into *refs when per-request aggregation is on. */
static size_t ref_passes(const mc_pass *p, size_t n, const mc_ref_sizes *z, const mc_cap_peak *pk,
                         chunk_ref *refs, ref_acc *acc, mc_ref_summary *out)
{
    size_t nr = 0;
    for (size_t i = 0; i < n; i++) {
        double a = ref_activation(&p[i]);
        int prefill = p[i].mode == MC_PASS_PREFILL;
        if (a < 0) {
            out->skipped_activation++;
            continue;
        }
        if (prefill && p[i].seq_lens_sum <= 10) {
            out->skipped_probe++;
            continue;
        }
        double t = p[i].latency_s, ctx = (double)p[i].seq_lens_sum;
        if (prefill && out->per_request && p[i].n_chunks > 0) {
            for (int64_t c = 0; c < p[i].n_chunks; c++)
                refs[nr++] = (chunk_ref){p[i].chunks[c].req_id, i, (size_t)c};
            continue;
        }
        double tok = prefill ? ctx / t : (double)p[i].batch_size / t;
        mc_ref_sample s = {ctx, a, t, tok};
        acc_add(acc, z, pk, !prefill, &s);
    }
    return nr;
}

static void ref_finish(const ref_acc *acc, mc_ref_summary *out)
{
    double np = (double)acc->n[0], nd = (double)acc->n[1];
    out->prefill_samples = acc->n[0];
    out->decode_samples = acc->n[1];
    if (np > 0) {
        out->prefill_smbu = acc->smbu[0] / np;
        out->prefill_smfu = acc->smfu[0] / np;
        out->prefill_tp = acc->tp[0] / np;
        out->ttft = acc->lat[0] / np;
    }
    if (nd > 0) {
        out->decoding_smbu = acc->smbu[1] / nd;
        out->decoding_smfu = acc->smfu[1] / nd;
        out->decoding_throughput = acc->tp[1] / nd;
        out->tpot = acc->lat[1] / nd;
    }
    out->kv_size = acc->n_kv ? acc->kv / (double)acc->n_kv : 0;
}

mc_err mc_cap_ref_summarise(const mc_model *m, const mc_cap_peak *pk, const mc_pass *p, size_t n,
                            mc_ref_summary *out, mc_diag *d)
{
    memset(out, 0, sizeof *out);
    mc_ref_sizes z;
    mc_err e = mc_cap_ref_sizes(m, &z, d);
    if (e)
        return e;
    size_t n_chunks = 0;
    for (size_t i = 0; i < n; i++)
        if (p[i].mode == MC_PASS_PREFILL && p[i].n_chunks > 0) {
            out->per_request = 1; /* decided over all records, before any skipping */
            n_chunks += (size_t)p[i].n_chunks;
        }
    chunk_ref *refs = n_chunks ? mc_mallocarray(n_chunks, sizeof *refs) : NULL;
    if (n_chunks && !refs)
        return mc_fail(d, MC_ERR_NOMEM, "moecap-ref: out of memory");
    ref_acc acc;
    memset(&acc, 0, sizeof acc);
    size_t nr = ref_passes(p, n, &z, pk, refs, &acc, out);
    if (nr > 0)
        qsort(refs, nr, sizeof *refs, chunk_ref_cmp);
    ref_requests(p, refs, nr, &z, pk, &acc, out);
    mc_free(refs);
    ref_finish(&acc, out);
    return MC_OK;
}
