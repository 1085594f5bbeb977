/* gguf_model_scan.c: the tensor side of the GGUF -> mc_model mapping: parses tensor names
 * (blk.<layer>.<base>[.<expert>].<suffix>), sorts each tensor into its byte group, records the
 * widths and flags it implies and checks its shape against the metadata (docs/GGUF.md).
 * Depends on the reader and gguf_model_impl.h; no I/O. */
#include "gguf_model_impl.h"

#include <stdio.h>

/* ---- tensor names ---------------------------------------------------------------------------- */

static int all_digits(const char *s, size_t n)
{
    if (n == 0 || n > 9 || (n > 1 && s[0] == '0'))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

static int64_t digits_value(const char *s, size_t n)
{
    int64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

/* Splits "a.b.c" (name after the "blk.N." prefix) into base, optional expert index, suffix.
 * Returns 0 for shapes moecap does not know. */
static int split_rest(const char *rest, tname *tn)
{
    const char *d1 = strchr(rest, '.');
    size_t nb = d1 ? (size_t)(d1 - rest) : strlen(rest);
    if (nb == 0 || nb >= sizeof tn->base)
        return 0;
    memcpy(tn->base, rest, nb);
    tn->base[nb] = 0;
    tn->expert = -1;
    tn->suffix[0] = 0;
    if (!d1)
        return 1;
    const char *s = d1 + 1, *d2 = strchr(s, '.');
    if (d2 && all_digits(s, (size_t)(d2 - s))) {
        tn->expert = digits_value(s, (size_t)(d2 - s));
        s = d2 + 1;
    }
    if (strchr(s, '.') || strlen(s) >= sizeof tn->suffix)
        return 0;
    snprintf(tn->suffix, sizeof tn->suffix, "%s", s);
    return 1;
}

static mc_err parse_name(ld *x, const char *name, tname *tn)
{
    tn->layer = -1;
    const char *rest = name;
    if (starts(name, "blk.")) {
        const char *p = name + 4, *dot = strchr(p, '.');
        if (!dot || !all_digits(p, (size_t)(dot - p)))
            return mc_fail(x->d, MC_ERR_FORMAT, "gguf: %s: tensor '%s': bad layer number", x->file,
                           name);
        tn->layer = digits_value(p, (size_t)(dot - p));
        if (tn->layer >= x->h.n_layers)
            return mc_fail(x->d, MC_ERR_FORMAT,
                           "gguf: %s: tensor '%s': layer %lld >= "
                           "block_count %lld",
                           x->file, name, (long long)tn->layer, (long long)x->h.n_layers);
        rest = dot + 1;
    }
    if (!split_rest(rest, tn) || (tn->layer < 0 && tn->expert >= 0))
        return mc_fail(x->d, MC_ERR_UNSUPPORTED,
                       "gguf: %s: tensor '%s' is not part of a "
                       "supported %s model",
                       x->file, name, x->a->gguf);
    return MC_OK;
}

/* Group of a tensor inside a block, or -1 if unknown. */
static int layer_group(const tname *tn)
{
    static const char *norms[] = {"attn_norm",           "ffn_norm",      "attn_output_norm",
                                  "post_attention_norm", "post_ffw_norm", "layer_output_norm",
                                  "attn_norm_2"};
    const char *b = tn->base;
    int dense_name = !strcmp(b, "ffn_gate") || !strcmp(b, "ffn_up") || !strcmp(b, "ffn_down");
    if (tn->expert >= 0)
        return dense_name ? G_EXPERT : -1;
    for (size_t i = 0; i < sizeof norms / sizeof norms[0]; i++)
        if (!strcmp(b, norms[i]))
            return G_NORM;
    if (ends(b, "_exps"))
        return G_EXPERT;
    if (ends(b, "_shexp"))
        return G_SHARED;
    if (!strcmp(b, "ffn_gate_inp") || !strcmp(b, "exp_probs_b"))
        return G_ROUTER;
    if (dense_name)
        return G_DENSE;
    return starts(b, "attn_") ? G_ATTN : -1;
}

/* Group of a global tensor; -2 = known but not counted (rope_freqs: frequency factors). */
static int global_group(const tname *tn)
{
    if (!strcmp(tn->base, "token_embd"))
        return G_EMBED;
    if (!strcmp(tn->base, "output"))
        return G_HEAD;
    if (!strcmp(tn->base, "output_norm"))
        return G_FNORM;
    return !strcmp(tn->base, "rope_freqs") ? -2 : -1;
}

/* ---- shape checks ---------------------------------------------------------------------------- */

static void fmt_dims(char *buf, size_t n, const int64_t *dims, uint32_t nd)
{
    size_t off = 0;
    off += (size_t)snprintf(buf + off, n - off, "[");
    for (uint32_t i = 0; i < nd && off < n; i++)
        off += (size_t)(dims[i] > 0 ? snprintf(buf + off, n - off, "%s%lld", i ? ", " : "",
                                               (long long)dims[i])
                                    : snprintf(buf + off, n - off, "%s*", i ? ", " : ""));
    if (off < n)
        snprintf(buf + off, n - off, "]");
}

/* t must have n_dims == nd and dims[i] == want[i] wherever want[i] > 0. */
mc_err mc_gguf_model_expect(ld *x, const mc_gguf_tensor *t, uint32_t nd, const int64_t *want,
                            const char *why)
{
    int ok = t->n_dims == nd;
    for (uint32_t i = 0; ok && i < nd; i++)
        ok = want[i] <= 0 || t->dims[i] == want[i];
    if (ok)
        return MC_OK;
    char got[96], exp[96];
    fmt_dims(got, sizeof got, t->dims, t->n_dims);
    fmt_dims(exp, sizeof exp, want, nd);
    return mc_fail(x->d, MC_ERR_FORMAT, "gguf: %s: tensor '%s' has dims %s, expected %s (%s)",
                   x->file, t->name, got, exp, why);
}

mc_err mc_gguf_model_expect2(ld *x, const mc_gguf_tensor *t, int64_t d0, int64_t d1,
                             const char *why)
{
    int64_t want[2] = {d0, d1};
    return mc_gguf_model_expect(x, t, 2, want, why);
}

/* Records a width seen in a tensor (*slot), which must agree with earlier ones of the layer. */
static mc_err same_width(ld *x, const mc_gguf_tensor *t, int64_t *slot, int64_t w)
{
    if (*slot && *slot != w)
        return mc_fail(x->d, MC_ERR_FORMAT,
                       "gguf: %s: tensor '%s': width %lld disagrees with "
                       "%lld in other tensors of its layer",
                       x->file, t->name, (long long)w, (long long)*slot);
    *slot = w;
    return MC_OK;
}

/* Fused expert tensors [hidden, ff, n_exp] (down: [ff, hidden, n_exp]) and split ones. */
static mc_err note_expert(ld *x, const mc_gguf_tensor *t, const tname *tn, lacc *a)
{
    int down = starts(tn->base, "ffn_down"), fused = tn->expert < 0;
    int64_t H = x->h.hidden, want[3] = {down ? 0 : H, down ? H : 0, 0};
    if (strcmp(tn->suffix, "weight") != 0) {
        a->expert_bias = 1;
        return MC_OK;
    }
    mc_err e = mc_gguf_model_expect(x, t, fused ? 3 : 2, want, "embedding_length");
    if (e)
        return e;
    int64_t ff = down ? t->dims[0] : t->dims[1];
    if (!strcmp(tn->base, "ffn_gate_up_exps"))
        ff /= 2;
    if (fused)
        e = same_width(x, t, &a->n_exp, t->dims[2]);
    else {
        a->n_split[down ? 2 : starts(tn->base, "ffn_up") ? 1 : 0]++;
        if (tn->expert + 1 > a->max_split)
            a->max_split = tn->expert + 1;
    }
    return e ? e : same_width(x, t, &a->exp_ff, ff);
}

static mc_err note_ffn(ld *x, const mc_gguf_tensor *t, const tname *tn, lacc *a, int shared)
{
    if (!strcmp(tn->base, "ffn_gate_inp_shexp")) {
        a->shared_gate = 1;
        return MC_OK;
    }
    if (strcmp(tn->suffix, "weight") != 0)
        return MC_OK;
    int down = starts(tn->base, "ffn_down");
    int64_t H = x->h.hidden;
    mc_err e = mc_gguf_model_expect2(x, t, down ? 0 : H, down ? H : 0, "embedding_length");
    int64_t w = down ? t->dims[0] : t->dims[1];
    return e ? e : same_width(x, t, shared ? &a->shexp_ff : &a->dense_ff, w);
}

static mc_err note_router(ld *x, const mc_gguf_tensor *t, const tname *tn, lacc *a)
{
    if (!strcmp(tn->base, "exp_probs_b") || strcmp(tn->suffix, "weight") != 0) {
        a->router_bias = 1;
        x->exp_probs |= !strcmp(tn->base, "exp_probs_b");
        return MC_OK;
    }
    a->has_router = 1;
    int64_t n_exp = x->h.n_exp > 0 ? x->h.n_exp : 0;
    return mc_gguf_model_expect2(x, t, x->h.hidden, n_exp, "embedding_length, expert_count");
}

/* Attention weights against head_count / head_count_kv / key_length (GQA). */
static mc_err note_attn_gqa(ld *x, const mc_gguf_tensor *t, const char *b)
{
    const hparams *h = &x->h;
    int64_t H = h->hidden, hd = x->h.key_len, q = h->n_heads * hd, kv = h->n_kv * hd;
    const char *why = "embedding_length, head_count(_kv) x head dim";
    if (!strcmp(b, "attn_q"))
        return mc_gguf_model_expect2(x, t, H, q, why);
    if (!strcmp(b, "attn_k") || !strcmp(b, "attn_v"))
        return mc_gguf_model_expect2(x, t, H, kv, why);
    if (!strcmp(b, "attn_output"))
        return mc_gguf_model_expect2(x, t, q, H, why);
    if (!strcmp(b, "attn_qkv"))
        return mc_gguf_model_expect2(x, t, H, q + 2 * kv, why);
    return MC_OK;
}

/* Attention weights against the MLA ranks and head dims (DeepSeek-V2/V3). */
static mc_err note_attn_mla(ld *x, const mc_gguf_tensor *t, const char *b)
{
    const hparams *h = &x->h;
    int64_t H = h->hidden, nh = h->n_heads, kd = h->key_mla, vd = h->val_mla;
    const char *why = "MLA ranks and head dims";
    if (!strcmp(b, "attn_q"))
        return mc_gguf_model_expect2(x, t, H, nh * kd, why);
    if (!strcmp(b, "attn_q_a"))
        return mc_gguf_model_expect2(x, t, H, h->q_lora, why);
    if (!strcmp(b, "attn_q_b"))
        return mc_gguf_model_expect2(x, t, h->q_lora, nh * kd, why);
    if (!strcmp(b, "attn_kv_a_mqa"))
        return mc_gguf_model_expect2(x, t, H, h->kv_lora + h->rope_dim, why);
    if (!strcmp(b, "attn_kv_b"))
        return mc_gguf_model_expect2(x, t, h->kv_lora, nh * (kd - h->rope_dim + vd), why);
    if (!strcmp(b, "attn_output"))
        return mc_gguf_model_expect2(x, t, nh * vd, H, why);
    return MC_OK;
}

static mc_err note_attn(ld *x, const mc_gguf_tensor *t, const tname *tn)
{
    const char *b = tn->base;
    if (strcmp(tn->suffix, "weight") != 0) {
        if (!strcmp(b, "attn_output"))
            x->o_bias = 1;
        else if (!strcmp(b, "attn_q") || !strcmp(b, "attn_k") || !strcmp(b, "attn_v") ||
                 !strcmp(b, "attn_qkv"))
            x->qkv_bias = 1;
        return MC_OK;
    }
    if (!strcmp(b, "attn_sinks"))
        x->sinks = 1;
    if (!strcmp(b, "attn_q_norm") || !strcmp(b, "attn_k_norm")) {
        x->qk_norm = 1;
        x->qk_norm_full |= !x->a->mla && t->dims[0] != x->h.key_len;
    }
    return x->a->mla ? note_attn_mla(x, t, b) : note_attn_gqa(x, t, b);
}

static mc_err note_layer_tensor(ld *x, const mc_gguf_tensor *t, const tname *tn, int grp)
{
    lacc *a = &x->L[tn->layer];
    a->bytes[grp] += (double)t->n_bytes;
    switch (grp) {
    case G_EXPERT: return note_expert(x, t, tn, a);
    case G_SHARED: return note_ffn(x, t, tn, a, 1);
    case G_DENSE: return note_ffn(x, t, tn, a, 0);
    case G_ROUTER: return note_router(x, t, tn, a);
    case G_ATTN: return note_attn(x, t, tn);
    default: /* G_NORM */
        return strcmp(tn->suffix, "weight")
                   ? MC_OK
                   : mc_gguf_model_expect(x, t, 1, &x->h.hidden, "embedding_length");
    }
}

mc_err mc_gguf_model_scan(ld *x)
{
    for (uint64_t i = 0; i < mc_gguf_tensor_count(x->g); i++) {
        const mc_gguf_tensor *t = mc_gguf_tensor_at(x->g, i);
        tname tn;
        mc_err e = parse_name(x, t->name, &tn);
        if (e)
            return e;
        int grp = tn.layer >= 0 ? layer_group(&tn) : global_group(&tn);
        if (grp == -2)
            continue;
        if (grp < 0)
            return mc_fail(x->d, MC_ERR_UNSUPPORTED,
                           "gguf: %s: tensor '%s' is not part of a "
                           "supported %s model",
                           x->file, t->name, x->a->gguf);
        x->type_bytes[grp][t->type] += (double)t->n_bytes;
        if (tn.layer < 0)
            x->glob[grp] += (double)t->n_bytes;
        else if ((e = note_layer_tensor(x, t, &tn, grp)))
            return e;
    }
    return MC_OK;
}
