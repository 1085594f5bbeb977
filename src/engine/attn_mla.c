/* attn_mla.c: deepseek2's multi-head latent attention (DeepSeek-V2 / V2-Lite / V3 in llama.cpp's
 * GGUF layout) for every token of a step, and the RoPE angle tables (plain, linear, YaRN).
 *
 * Per token: q = attn_q(xn), or attn_q_b(rmsnorm(attn_q_a(xn))) with a q low rank; per head q is
 * [nope | rope]. attn_kv_a_mqa(xn) gives the latent c (kv_lora) and one rope key shared by every
 * head; c is RMS-normed (attn_kv_a_norm) and decompressed by attn_kv_b into k_nope and v per head.
 * The rope parts of q and of the shared key are rotated with adjacent pairs (llama.cpp's
 * LLAMA_ROPE_TYPE_NORM for DEEPSEEK2; the converter keeps HF's interleaved layout). Keys are
 * [k_nope | k_rope], scores scaled by mscale^2 / sqrt(nope + rope) (YaRN's attention factor,
 * mscale = 1 + yarn_log_multiplier * ln(factor); 1 without YaRN).
 *
 * The KV cache holds the decompressed keys and values, one row per (head, position), hd =
 * max(kd, vd) wide and zero-padded: MLA runs as multi-head attention through the same cache
 * layout and attention paths as GQA (attn_kv.c; n_kv = n_heads). This is the non-absorbed form,
 * simple and exact; it stores heads x (kd + vd) values per token and layer, where the compressed
 * latent cache of llama.cpp's absorbed form stores kv_lora + rope (not implemented here).
 * The q scale is folded into q so that eng_attend's 1/sqrt(hd) gives the MLA scale.
 * Depends on the kernels and par.c; allocates nothing. */
#include "engine_impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- RoPE tables ----------------------------------------------------------------------------- */

/* YaRN (ggml's rope_yarn with ext_factor 1): pair i mixes the interpolated angle (freq_scale)
 * and the original one by a ramp over the correction dims [low, high]; the magnitude stays 1
 * (llama.cpp cancels ggml's 1 + 0.1 ln(1/freq_scale) for deepseek2). */
void eng_rope_table(const mc_engine *e, float *cs, int64_t pos)
{
    if (!e->yarn) {
        mc_kernels_rope_table(cs, e->n_rot, pos, e->theta, e->freq_scale);
        return;
    }
    double span = e->yarn_high - e->yarn_low > 0.001 ? e->yarn_high - e->yarn_low : 0.001;
    for (int64_t i = 0; i < e->n_rot / 2; i++) {
        double y = ((double)i - e->yarn_low) / span;
        double mix = 1.0 - (y < 0 ? 0 : y > 1 ? 1 : y);
        double f = e->freq_scale * (1.0 - mix) + mix;
        double a = (double)pos * f * pow(e->theta, -2.0 * (double)i / (double)e->n_rot);
        cs[2 * i] = (float)cos(a);
        cs[2 * i + 1] = (float)sin(a);
    }
}

static mc_err key_f64(const mc_engine *e, const char *suffix, double dflt, double *out, mc_diag *d)
{
    char k[128];
    snprintf(k, sizeof k, "deepseek2.%s", suffix);
    *out = dflt;
    if (mc_gguf_find_key(e->g, k) < 0)
        return MC_OK;
    mc_err err = mc_gguf_get_f64(e->g, k, out, d);
    if (!err && !isfinite(*out))
        err =
            mc_fail(d, MC_ERR_FORMAT, "engine: %s: key '%s' is not finite", mc_gguf_name(e->g), k);
    return err;
}

/* ggml_rope_yarn_corr_dim: the pair index whose wavelength fits n_rot_turns turns in n_orig. */
static double corr_dim(const mc_engine *e, double n_orig, double turns)
{
    return (double)e->n_rot * log(n_orig / (turns * 2.0 * M_PI)) / (2.0 * log(e->theta));
}

/* rope.scaling for deepseek2: none, or yarn (factor, original_context_length,
 * yarn_log_multiplier, yarn_beta_fast/slow with llama.cpp's defaults 32 / 1). */
mc_err eng_mla_rope(mc_engine *e, mc_diag *d)
{
    const char *f = mc_gguf_name(e->g);
    mc_gguf_str type = {"none", 4};
    double factor = 1, orig = 0, log_mul = 0, fast = 32, slow = 1;
    if (mc_gguf_find_key(e->g, "deepseek2.rope.scaling.type") >= 0 &&
        mc_gguf_get_str(e->g, "deepseek2.rope.scaling.type", &type, d))
        return MC_ERR_FORMAT;
    int yarn = type.len == 4 && !memcmp(type.p, "yarn", 4);
    if (!yarn && !(type.len == 4 && !memcmp(type.p, "none", 4)))
        return mc_fail(
            d, MC_ERR_UNSUPPORTED,
            "engine: %s: RoPE scaling '%.*s' is not supported for deepseek2 (none, yarn)", f,
            (int)(type.len < 32 ? type.len : 32), type.p);
    mc_err err = key_f64(e, "rope.scaling.factor", 1, &factor, d);
    if (!err)
        err = key_f64(e, "rope.scaling.original_context_length", (double)e->m->max_ctx, &orig, d);
    if (!err)
        err = key_f64(e, "rope.scaling.yarn_log_multiplier", 0, &log_mul, d);
    if (!err)
        err = key_f64(e, "rope.scaling.yarn_beta_fast", 32, &fast, d);
    if (!err)
        err = key_f64(e, "rope.scaling.yarn_beta_slow", 1, &slow, d);
    if (err)
        return err;
    double mscale = 1.0;
    if (yarn) {
        if (!(factor >= 1) || !(orig >= 1) || !(fast > 0) || !(slow > 0))
            return mc_fail(d, MC_ERR_FORMAT,
                           "engine: %s: YaRN needs rope.scaling.factor >= 1, "
                           "original_context_length >= 1 and positive betas",
                           f);
        e->yarn = 1;
        e->freq_scale = 1.0 / factor;
        e->yarn_low = floor(corr_dim(e, orig, fast));
        e->yarn_high = ceil(corr_dim(e, orig, slow));
        e->yarn_low = e->yarn_low > 0 ? e->yarn_low : 0;
        e->yarn_high =
            e->yarn_high < (double)(e->n_rot - 1) ? e->yarn_high : (double)(e->n_rot - 1);
        mscale = 1.0 + log_mul * log(factor);
    }
    e->mla_qscale = (float)(mscale * mscale * sqrt((double)e->hd / (double)e->kd));
    return MC_OK;
}

/* ---- the attention block --------------------------------------------------------------------- */

typedef struct mla_ctx {
    mc_engine *e;
    const eng_layer *L;
    int64_t l;
} mla_ctx;

/* The q low-rank and latent RMSNorms of tokens [b, end). */
static void mla_norms(void *ctx, int64_t b, int64_t end, int worker)
{
    const mla_ctx *c = ctx;
    const mc_engine *e = c->e;
    int64_t kw = e->kv_lora + e->rope_d;
    (void)worker;
    for (int64_t t = b; t < end; t++) {
        if (c->L->q_a_norm) {
            float *qa = e->mla_qa + t * e->q_lora;
            mc_kernels_rmsnorm(qa, qa, c->L->q_a_norm, e->q_lora, e->eps);
        }
        float *kv = e->mla_kva + t * kw;
        mc_kernels_rmsnorm(kv, kv, c->L->kv_a_norm, e->kv_lora, e->eps);
    }
}

/* Assembles q, k, v of tokens [b, end) per head (RoPE on the rope parts, q scaled, zero padding
 * to hd) and writes K and V into the tokens' slots. */
static void mla_post(void *ctx, int64_t b, int64_t end, int worker)
{
    const mla_ctx *c = ctx;
    const mc_engine *e = c->e;
    int64_t hd = e->hd, kw = e->kv_lora + e->rope_d, bw = e->nope + e->vd;
    (void)worker;
    for (int64_t t = b; t < end; t++) {
        const float *cs = e->rope_cs + t * e->n_rot;
        float *kpe = e->mla_kva + t * kw + e->kv_lora;
        mc_kernels_rope(kpe, 1, e->rope_d, e->rope_d, cs, 0);
        int64_t s = e->tok_seq[t], pos = e->tok_pos[t];
        for (int64_t h = 0; h < e->n_heads; h++) {
            float *q = e->q + t * e->q_dim + h * hd, *k = e->k + t * e->kv_dim + h * hd;
            float *v = e->v + t * e->kv_dim + h * hd;
            const float *kvb = e->mla_kvb + t * e->n_heads * bw + h * bw;
            memset(q, 0, (size_t)hd * sizeof *q);
            memset(k, 0, (size_t)hd * sizeof *k);
            memset(v, 0, (size_t)hd * sizeof *v);
            memcpy(q, e->mla_q + t * e->n_heads * e->kd + h * e->kd, (size_t)e->kd * sizeof *q);
            mc_kernels_rope(q + e->nope, 1, e->rope_d, e->rope_d, cs, 0);
            mc_kernels_scale(q, e->mla_qscale, e->kd);
            memcpy(k, kvb, (size_t)e->nope * sizeof *k);
            memcpy(k + e->nope, kpe, (size_t)e->rope_d * sizeof *k);
            memcpy(v, kvb + e->nope, (size_t)e->vd * sizeof *v);
            mc_kernels_quant_row(e->kv_t, k, eng_kv_row(e, s, c->l, 0, h, pos), hd);
            mc_kernels_quant_row(e->kv_t, v, eng_kv_row(e, s, c->l, 1, h, pos), hd);
        }
    }
}

/* heads x hd attention rows -> heads x vd (the output projection's input) */
static void mla_compact(void *ctx, int64_t b, int64_t end, int worker)
{
    const mla_ctx *c = ctx;
    const mc_engine *e = c->e;
    (void)worker;
    for (int64_t t = b; t < end; t++)
        for (int64_t h = 0; h < e->n_heads; h++)
            memcpy(e->mla_o + (t * e->n_heads + h) * e->vd, e->att + t * e->q_dim + h * e->hd,
                   (size_t)e->vd * sizeof(float));
}

/* One region over the normed input: q (or its low-rank half) and the latent + rope key. */
static void mla_proj_a(mc_engine *e, const eng_layer *L, int64_t n)
{
    int64_t h = e->hidden, kw = e->kv_lora + e->rope_d;
    size_t st = e->act.stride;
    const eng_mat *wq = L->wq_a.rows ? &L->wq_a : &L->wq;
    float *yq = L->wq_a.rows ? e->mla_qa : e->mla_q;
    int64_t yqs = L->wq_a.rows ? e->q_lora : e->n_heads * e->kd;
    eng_act_reset(e);
    const uint8_t *xq = eng_act_prep(e, e->xn, h, n, h, wq->t);
    const uint8_t *xk = eng_act_prep(e, e->xn, h, n, h, L->wkv_a.t);
    int j = eng_job_add(e, 0, wq, xq, st, n, yq, yqs);
    eng_run_jobs(e, eng_job_add(e, j, &L->wkv_a, xk, st, n, e->mla_kva, kw));
}

/* y = W x over n rows of x (row stride xs floats, n_in inputs each) as its own region. */
static void mla_matmul(mc_engine *e, const eng_mat *w, const float *x, int64_t xs, int64_t n,
                       float *y)
{
    eng_act_reset(e);
    const uint8_t *a = eng_act_prep(e, x, xs, n, w->cols, w->t);
    eng_run_jobs(e, eng_job_add(e, 0, w, a, e->act.stride, n, y, w->rows));
}

void eng_attention_mla(mc_engine *e, const eng_layer *L, int64_t n)
{
    mla_ctx c = {e, L, (int64_t)(L - e->L)};
    eng_norm_rows(e, e->x, e->xn, L->attn_norm, n);
    mla_proj_a(e, L, n);
    eng_par(e, n, 16, mla_norms, &c);
    if (L->wq_b.rows)
        mla_matmul(e, &L->wq_b, e->mla_qa, e->q_lora, n, e->mla_q);
    mla_matmul(e, &L->wkv_b, e->mla_kva, e->kv_lora + e->rope_d, n, e->mla_kvb);
    eng_par(e, n, 8, mla_post, &c);
    eng_attend(e, c.l, n);
    eng_par(e, n, 32, mla_compact, &c);
    mla_matmul(e, &L->wo, e->mla_o, e->n_heads * e->vd, n, e->tmp);
    eng_residual(e, NULL, n);
}
