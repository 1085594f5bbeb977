/* engine.c: opening and closing an engine: options, the GGUF mapping and model description, the
 * architecture's conventions (RoPE layout, expert-weight normalisation), every buffer a step needs
 * (KV cache, activations, routing, parallel-region tables, sampler scratch: allocated here once,
 * so a step never allocates), the thread pool, and the getters.
 * Depends on the GGUF reader, the model description, the kernels and the pool. */
#include "engine_impl.h"
#include "tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

_Noreturn void eng_bug(const char *file, int line, const char *what)
{
    /* a broken internal invariant: report and stop, like assert() */
    fprintf(stderr, "%s:%d: engine: internal check failed: %s\n", file, line, what);
    abort();
}

void mc_engine_opts_default(mc_engine_opts *o)
{
    memset(o, 0, sizeof *o);
    o->kv_type = MC_DT_F16;
    o->expert_direct = 1;
}

/* ---- options and architecture ---------------------------------------------------------------- */

static mc_err check_opts(const mc_engine_opts *o, mc_diag *d)
{
    if (!o || !o->model_path || !*o->model_path)
        return mc_fail(d, MC_ERR_ARG, "engine: no model path");
    if (o->n_threads < 0 || o->n_threads > 256)
        return mc_fail(d, MC_ERR_ARG, "engine: %d threads is out of range [0, 256]", o->n_threads);
    if (o->n_ctx < 0 || o->n_ctx > (INT64_C(1) << 24))
        return mc_fail(d, MC_ERR_ARG, "engine: n_ctx %lld is out of range [0, 16777216]",
                       (long long)o->n_ctx);
    if (o->max_seqs < 0 || o->max_seqs > 4096)
        return mc_fail(d, MC_ERR_ARG, "engine: max_seqs %d is out of range [0, 4096]", o->max_seqs);
    if (o->max_step_tokens < 0 || o->max_step_tokens > 65536)
        return mc_fail(d, MC_ERR_ARG, "engine: max_step_tokens %lld is out of range [0, 65536]",
                       (long long)o->max_step_tokens);
    if (o->weights < MC_WEIGHTS_AUTO || o->weights > MC_WEIGHTS_COPY)
        return mc_fail(d, MC_ERR_ARG, "engine: weights mode %d (0 auto, 1 mmap, 2 copy)",
                       o->weights);
    if (o->kv_type != MC_DT_F16 && o->kv_type != MC_DT_F32)
        return mc_fail(d, MC_ERR_ARG, "engine: KV cache type %s is not supported (f16, f32)",
                       mc_dtype_name(o->kv_type));
    return MC_OK;
}

static mc_err read_arch(mc_engine *e, mc_diag *d)
{
    static const struct {
        const char *name;
        eng_arch a;
        int neox, norm_topk;
    } archs[] = {
        {"llama", ENG_LLAMA, 0, 1},         {"qwen2moe", ENG_QWEN2MOE, 1, 0},
        {"qwen3moe", ENG_QWEN3MOE, 1, 1},   {"olmoe", ENG_OLMOE, 1, 0},
        {"deepseek2", ENG_DEEPSEEK2, 0, 0}, /* norm_topk: expert_weights_norm (read_routing) */
        {"qwen2", ENG_QWEN2, 1, 0},         {"qwen3", ENG_QWEN3, 1, 0},
    };
    mc_gguf_str s;
    mc_err err = mc_gguf_get_str(e->g, "general.architecture", &s, d);
    if (err)
        return err;
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (strlen(archs[i].name) == s.len && !memcmp(archs[i].name, s.p, (size_t)s.len)) {
            e->arch = archs[i].a;
            e->rope_neox = archs[i].neox;
            e->norm_topk = archs[i].norm_topk;
            return MC_OK;
        }
    return mc_fail(d, MC_ERR_UNSUPPORTED,
                   "engine: %s: architecture '%s' is not supported by the engine (llama, "
                   "qwen2, qwen3, qwen2moe, qwen3moe, olmoe, deepseek2)",
                   mc_gguf_name(e->g), e->m->arch);
}

/* <arch>.<suffix> */
static const char *akey(const mc_engine *e, char *buf, size_t n, const char *suffix)
{
    mc_gguf_str s = {"", 0};
    mc_gguf_get_str(e->g, "general.architecture", &s, NULL);
    snprintf(buf, n, "%.*s.%s", (int)(s.len < 64 ? s.len : 64), s.p, suffix);
    return buf;
}

/* Rotated dims (rope.dimension_count, default head_dim) and linear RoPE scaling. */
static mc_err read_rope(mc_engine *e, mc_diag *d)
{
    char k[128];
    const char *f = mc_gguf_name(e->g);
    e->n_rot = e->hd;
    if (mc_gguf_find_key(e->g, akey(e, k, sizeof k, "rope.dimension_count")) >= 0) {
        mc_err err = mc_gguf_get_i64(e->g, k, &e->n_rot, d);
        if (err)
            return err;
        if (e->n_rot <= 0 || e->n_rot > e->hd || e->n_rot % 2)
            return mc_fail(d, MC_ERR_FORMAT,
                           "engine: %s: key '%s' = %lld must be even and in [2, head dim %lld]", f,
                           k, (long long)e->n_rot, (long long)e->hd);
    }
    e->freq_scale = 1.0;
    if (e->arch == ENG_DEEPSEEK2)
        return eng_mla_rope(e, d); /* none or YaRN (attn_mla.c) */
    double factor = 0;
    mc_gguf_str type = {"linear", 6};
    if (mc_gguf_find_key(e->g, akey(e, k, sizeof k, "rope.scaling.type")) >= 0 &&
        mc_gguf_get_str(e->g, k, &type, d))
        return MC_ERR_FORMAT;
    int none = type.len == 4 && !memcmp(type.p, "none", 4);
    int linear = type.len == 6 && !memcmp(type.p, "linear", 6);
    if (!none && !linear)
        return mc_fail(d, MC_ERR_UNSUPPORTED,
                       "engine: %s: RoPE scaling '%.*s' is not supported (none, linear)", f,
                       (int)(type.len < 32 ? type.len : 32), type.p);
    const char *fk = akey(e, k, sizeof k, "rope.scaling.factor");
    if (mc_gguf_find_key(e->g, fk) < 0)
        fk = akey(e, k, sizeof k, "rope.scale_linear");
    if (linear && mc_gguf_find_key(e->g, fk) >= 0) {
        mc_err err = mc_gguf_get_f64(e->g, fk, &factor, d);
        if (err)
            return err;
        if (factor > 0)
            e->freq_scale = 1.0 / factor;
    }
    return MC_OK;
}

/* deepseek2's routing keys (llama.cpp: expert_gating_func absent = softmax, for V2 files;
 * expert_weights_norm absent = false; expert_weights_scale absent = 1). */
static mc_err read_routing(mc_engine *e, mc_diag *d)
{
    char k[128];
    const char *f = mc_gguf_name(e->g);
    int64_t gate = ENG_GATE_SOFTMAX, groups = 0, used = 0;
    double scale = 1.0;
    int norm = 0;
    e->gating = ENG_GATE_SOFTMAX;
    e->w_scale = 1.0f;
    if (e->arch != ENG_DEEPSEEK2)
        return MC_OK;
    mc_err err = MC_OK;
    if (mc_gguf_find_key(e->g, akey(e, k, sizeof k, "expert_gating_func")) >= 0)
        err = mc_gguf_get_i64(e->g, k, &gate, d);
    if (!err && gate == 0)
        gate = ENG_GATE_SOFTMAX;
    if (!err && gate != ENG_GATE_SOFTMAX && gate != ENG_GATE_SIGMOID)
        err = mc_fail(d, MC_ERR_UNSUPPORTED,
                      "engine: %s: expert_gating_func %lld is not supported (1 softmax, 2 sigmoid)",
                      f, (long long)gate);
    if (!err && mc_gguf_find_key(e->g, akey(e, k, sizeof k, "expert_weights_scale")) >= 0)
        err = mc_gguf_get_f64(e->g, k, &scale, d);
    if (!err && mc_gguf_find_key(e->g, akey(e, k, sizeof k, "expert_weights_norm")) >= 0)
        err = mc_gguf_get_bool(e->g, k, &norm, d);
    if (!err && mc_gguf_find_key(e->g, akey(e, k, sizeof k, "expert_group_count")) >= 0)
        err = mc_gguf_get_i64(e->g, k, &groups, d);
    if (!err && mc_gguf_find_key(e->g, akey(e, k, sizeof k, "expert_group_used_count")) >= 0)
        err = mc_gguf_get_i64(e->g, k, &used, d);
    if (err)
        return err;
    if (!(scale > 0 && scale < 1e6))
        return mc_fail(d, MC_ERR_FORMAT, "engine: %s: expert_weights_scale %g must be in (0, 1e6)",
                       f, scale);
    e->gating = (int)gate;
    e->w_scale = (float)scale;
    e->norm_topk = norm != 0;
    e->n_group = groups;
    e->group_used = used;
    return MC_OK;
}

/* deepseek2's MLA as multi-head attention over decompressed keys and values: every head has its
 * own K (nope + rope) and V row in the cache, rows hd = max(kd, vd) wide (zero-padded). */
static mc_err read_mla(mc_engine *e, mc_diag *d)
{
    const mc_attn *a = &e->m->attn;
    e->mla = 1;
    e->q_lora = a->q_lora_rank;
    e->kv_lora = a->kv_lora_rank;
    e->nope = a->qk_nope_dim;
    e->rope_d = a->qk_rope_dim;
    e->vd = a->v_head_dim;
    e->kd = e->nope + e->rope_d;
    e->n_kv = e->n_heads;
    e->hd = e->kd > e->vd ? e->kd : e->vd;
    if (e->rope_d % 2 || e->kd <= 0 || e->vd <= 0 || e->hd > 4096)
        return mc_fail(d, MC_ERR_FORMAT,
                       "engine: %s: MLA head dims (nope %lld + rope %lld, value %lld) must be "
                       "positive, the rope part even, at most 4096",
                       mc_gguf_name(e->g), (long long)e->nope, (long long)e->rope_d,
                       (long long)e->vd);
    return MC_OK;
}

static mc_err read_shape(mc_engine *e, mc_diag *d)
{
    const mc_model *m = e->m;
    const char *f = mc_gguf_name(e->g);
    if ((m->attn.kind == MC_ATTN_MLA) != (e->arch == ENG_DEEPSEEK2))
        return mc_fail(d, MC_ERR_UNSUPPORTED,
                       "engine: %s: MLA attention is supported for deepseek2 only", f);
    e->hidden = m->hidden;
    e->n_layers = m->n_layers;
    e->n_heads = m->attn.n_heads;
    e->n_kv = m->attn.n_kv_heads;
    e->hd = m->attn.head_dim;
    e->vocab = m->vocab;
    mc_err err = m->attn.kind == MC_ATTN_MLA ? read_mla(e, d) : MC_OK;
    if (err)
        return err;
    e->q_dim = e->n_heads * e->hd;
    e->kv_dim = e->n_kv * e->hd;
    e->eps = (float)m->norm_eps;
    e->theta = m->rope_theta;
    if (e->n_kv <= 0 || e->n_heads % e->n_kv != 0)
        return mc_fail(d, MC_ERR_FORMAT,
                       "engine: %s: head_count %lld is not a multiple of head_count_kv %lld", f,
                       (long long)e->n_heads, (long long)e->n_kv);
    if (!(e->eps > 0) || !(e->theta > 0))
        return mc_fail(d, MC_ERR_FORMAT,
                       "engine: %s: RMSNorm epsilon %g and RoPE base %g must be > 0", f,
                       (double)e->eps, e->theta);
    err = read_rope(e, d);
    if (!err && e->mla && (e->n_rot != e->rope_d))
        err = mc_fail(d, MC_ERR_FORMAT,
                      "engine: %s: rope.dimension_count %lld differs from the MLA rope dims %lld",
                      f, (long long)e->n_rot, (long long)e->rope_d);
    return err ? err : read_routing(e, d);
}

/* Largest widths and counts over the layers (sizes of the step buffers). */
static void layer_maxima(mc_engine *e)
{
    for (int64_t l = 0; l < e->n_layers; l++) {
        const eng_layer *L = &e->L[l];
        int64_t ff = L->ff > L->sh_ff ? L->ff : L->sh_ff;
        e->max_ff = ff > e->max_ff ? ff : e->max_ff;
        e->max_exp = L->n_exp > e->max_exp ? L->n_exp : e->max_exp;
        e->max_topk = L->top_k > e->max_topk ? L->top_k : e->max_topk;
    }
}

/* ---- buffers --------------------------------------------------------------------------------- */

static size_t act_bytes_max(const eng_mat *w, int64_t n, size_t cur)
{
    size_t b = w->rows ? mc_kernels_act_row_bytes(w->t, w->cols) : 0;
    for (int64_t i = 1; i < n; i++)
        if (w[i].rows && mc_kernels_act_row_bytes(w[i].t, w[i].cols) > b)
            b = mc_kernels_act_row_bytes(w[i].t, w[i].cols);
    return b > cur ? b : cur;
}

static size_t round64(size_t n)
{
    return (n + 63) / 64 * 64;
}

/* Row strides of the prepared activations: the widest input of any matrix that reads them. */
static void act_strides(mc_engine *e)
{
    size_t a = 0, gx = 0, gd = 0;
    for (int64_t l = 0; l < e->n_layers; l++) {
        const eng_layer *L = &e->L[l];
        const eng_mat *all[] = {&L->wq,   &L->wk,     &L->wv,    &L->wo,   &L->gate, &L->up,
                                &L->down, &L->router, &L->sg,    &L->su,   &L->sd,   &L->sgate,
                                &L->wq_a, &L->wq_b,   &L->wkv_a, &L->wkv_b};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
            a = act_bytes_max(all[i], 1, a);
        if (L->moe) {
            gx = act_bytes_max(L->xg, L->n_exp, act_bytes_max(L->xu, L->n_exp, gx));
            gd = act_bytes_max(L->xd, L->n_exp, gd);
        }
    }
    a = act_bytes_max(&e->head, 1, a);
    e->act.stride = round64(a);
    e->gx_stride = round64(gx);
    e->gd_stride = round64(gd);
}

typedef struct sbuf {
    void **p;
    size_t n, size;
} sbuf;

/* Every step buffer: (field, elements, element size). Used to allocate and to free. */
static size_t step_buffers(mc_engine *e, sbuf *t)
{
    size_t T = (size_t)e->max_tok, P = T * (size_t)(e->max_topk ? e->max_topk : 1);
    size_t h = (size_t)e->hidden, ff = (size_t)(e->max_ff ? e->max_ff : 1);
    size_t ne = (size_t)e->max_exp + 1, F = sizeof(float);
    sbuf b[] = {
        {(void **)&e->tok_id, T, 4},
        {(void **)&e->tok_seq, T, 4},
        {(void **)&e->tok_pos, T, 8},
        {(void **)&e->item_t0, (size_t)e->max_seqs, 8},
        {(void **)&e->item_n, (size_t)e->max_seqs, 8},
        {(void **)&e->pair_tok, T, 4},
        {(void **)&e->att_s, T >= ENG_ATT_BLOCK ? T * (size_t)e->n_ctx : 1, F},
        {(void **)&e->att_vt, (size_t)e->hd * (size_t)e->n_ctx, F},
        {(void **)&e->rope_cs, T * (size_t)e->n_rot, F},
        {(void **)&e->x, T * h, F},
        {(void **)&e->xn, T * h, F},
        {(void **)&e->tmp, T * h, F},
        {(void **)&e->q, T * (size_t)e->q_dim, F},
        {(void **)&e->att, T * (size_t)e->q_dim, F},
        {(void **)&e->k, T * (size_t)e->kv_dim, F},
        {(void **)&e->v, T * (size_t)e->kv_dim, F},
        {(void **)&e->hg, T * ff, F},
        {(void **)&e->hu, T * ff, F},
        {(void **)&e->shg, T, F},
        {(void **)&e->act.buf[0], T, e->act.stride},
        {(void **)&e->act.buf[1], T, e->act.stride},
        {(void **)&e->act.buf[2], T, e->act.stride},
        {(void **)&e->act.buf[3], T, e->act.stride},
        {(void **)&e->rlog, T * ne, F},
        {(void **)&e->sel, P, 4},
        {(void **)&e->selw, P, F},
        {(void **)&e->pair_slot, P, 4},
        {(void **)&e->slot_tok, P, 4},
        {(void **)&e->slot_exp, P, 4},
        {(void **)&e->exp_cnt, ne, 8},
        {(void **)&e->exp_off, ne + 1, 8},
        {(void **)&e->exp_cur, ne, 8},
        {(void **)&e->gx[0], P, e->gx_stride + 64},
        {(void **)&e->gx[1], P, e->gx_stride + 64},
        {(void **)&e->gd, P, e->gd_stride + 64},
        {(void **)&e->eg, P * ff, F},
        {(void **)&e->eu, P * ff, F},
        {(void **)&e->ed, P * h, F},
        {(void **)&e->lrow_tok, T, 4},
        {(void **)&e->lrow_dst, T, sizeof(float *)},
        {(void **)&e->head_buf, (size_t)e->n_threads * T * ENG_HEAD_ROWS, F},
        {(void **)&e->seq_stamp, (size_t)e->max_seqs, 8},
        {(void **)&e->seq_len, (size_t)e->max_seqs, 8},
        {(void **)&e->jobs, (size_t)e->max_jobs, sizeof(eng_job)},
        {(void **)&e->chunks, (size_t)e->max_chunks, sizeof(eng_chunk)},
        {(void **)&e->scores, (size_t)e->n_threads * (size_t)e->n_ctx, F},
        {(void **)&e->samp, (size_t)e->vocab, F},
        {(void **)&e->samp_id, (size_t)e->vocab, 4},
        {(void **)&e->seq_names, (size_t)e->max_seqs, 16},
        {(void **)&e->route_s, ne, F},
        {(void **)&e->mla_qa, e->mla ? T * (size_t)e->q_lora : 1, F},
        {(void **)&e->mla_kva, e->mla ? T * (size_t)(e->kv_lora + e->rope_d) : 1, F},
        {(void **)&e->mla_kvb, e->mla ? T * (size_t)(e->n_heads * (e->nope + e->vd)) : 1, F},
        {(void **)&e->mla_q, e->mla ? T * (size_t)(e->n_heads * e->kd) : 1, F},
        {(void **)&e->mla_o, e->mla ? T * (size_t)(e->n_heads * e->vd) : 1, F},
    };
    size_t n = sizeof b / sizeof b[0];
    if (t)
        memcpy(t, b, sizeof b);
    return n;
}

#define MAX_BUFS 64

static mc_err alloc_buffers(mc_engine *e, mc_diag *d)
{
    sbuf t[MAX_BUFS];
    size_t n = step_buffers(e, NULL);
    MC_ENG_ASSERT(n <= MAX_BUFS);
    step_buffers(e, t);
    for (size_t i = 0; i < n; i++) {
        *t[i].p = mc_calloc(t[i].n ? t[i].n : 1, t[i].size);
        if (!*t[i].p)
            return mc_fail(d, MC_ERR_NOMEM, "engine: out of memory for the step buffers");
    }
    for (int s = 0; s < e->max_seqs; s++)
        snprintf(e->seq_names[s], sizeof e->seq_names[s], "seq%d", s);
    /* the KV cache: calloc'd so pages are only touched when a sequence reaches them */
    e->kv_row_bytes = (size_t)e->hd * (e->kv_t == MC_DT_F16 ? 2 : 4);
    e->kv_head_bytes = e->kv_row_bytes * (size_t)e->n_ctx;
    double kv = (double)e->kv_head_bytes * (double)e->max_seqs * (double)e->n_layers * 2.0 *
                (double)e->n_kv;
    if (kv > (double)(SIZE_MAX / 4) || !(e->kv = mc_calloc((size_t)kv, 1)))
        return mc_fail(d, MC_ERR_NOMEM,
                       "engine: cannot allocate a KV cache of %.3g GiB (%d sequences x %lld "
                       "positions); lower n_ctx or max_seqs",
                       kv / 1073741824.0, e->max_seqs, (long long)e->n_ctx);
    return MC_OK;
}

static void free_buffers(mc_engine *e)
{
    sbuf t[MAX_BUFS];
    size_t n = step_buffers(e, t);
    for (size_t i = 0; i < n; i++)
        mc_free(*t[i].p);
    mc_free(e->kv);
}

static mc_err size_engine(mc_engine *e, const mc_engine_opts *o)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    e->n_threads = o->n_threads > 0 ? o->n_threads : (int)(cpus > 0 && cpus <= 256 ? cpus : 1);
    int64_t mctx = e->m->max_ctx > 0 ? e->m->max_ctx : 4096;
    e->n_ctx = o->n_ctx > 0 ? o->n_ctx : (mctx < 4096 ? mctx : 4096);
    e->max_seqs = o->max_seqs > 0 ? o->max_seqs : 1;
    e->max_tok = o->max_step_tokens > 0 ? o->max_step_tokens : 512;
    e->kv_t = o->kv_type;
    e->trace_tokens = o->trace_tokens != 0;
    e->no_trace = o->no_trace != 0;
    layer_maxima(e);
    act_strides(e);
    int64_t j = 2 * e->max_exp + 4;
    j = j > e->max_seqs + 1 ? j : e->max_seqs + 1;
    e->max_jobs = j > 8 ? j : 8;
    e->max_chunks = 2 * e->max_jobs + 8 * e->n_threads + 8;
    return MC_OK;
}

/* mc_engine_model describes what this engine holds and reads: its KV cache type, for MLA the
 * decompressed cache (heads x (K + V) rows of hd per token and layer, not the latent of
 * mc_model's accounting: attn_mla.c), and for a split attn_k_b / attn_v_b file of a quantised
 * type the f32 attn_kv_b rebuilt from it in place of the two tensors' bytes. */
static mc_err describe_engine(mc_engine *e, mc_diag *d)
{
    mc_model *m = e->m;
    for (int64_t l = 0; l < e->n_layers; l++) {
        const eng_layer *L = &e->L[l];
        if (!L->wkv_b_own)
            continue;
        char k[64], v[64];
        snprintf(k, sizeof k, "blk.%lld.attn_k_b.weight", (long long)l);
        snprintf(v, sizeof v, "blk.%lld.attn_v_b.weight", (long long)l);
        m->layers[l].b_attn += (double)L->wkv_b.rows * (double)L->wkv_b.row_bytes -
                               (double)mc_gguf_find_tensor(e->g, k)->n_bytes -
                               (double)mc_gguf_find_tensor(e->g, v)->n_bytes;
    }
    m->st.kv = e->kv_t;
    mc_err err = mc_model_finalize(m, d);
    if (!err && e->mla)
        m->kv_bytes_per_token = (double)e->n_layers * 2.0 * (double)e->n_heads * (double)e->hd *
                                (e->kv_t == MC_DT_F16 ? 2.0 : 4.0);
    return err;
}

/* The file's tokenizer. A model without one, or with one this build cannot read, still runs on
 * token ids: mc_engine_tok is then NULL and mc_engine_tok_error says why. */
static mc_err open_tokenizer(mc_engine *e, mc_diag *d)
{
    mc_diag td = {{0}};
    mc_err err = mc_tok_from_gguf(e->g, &e->tok, &td);
    if (err == MC_ERR_NOMEM)
        return mc_fail(d, err, "%s", td.msg);
    if (err)
        snprintf(e->tok_err, sizeof e->tok_err, "%s", td.msg);
    return MC_OK;
}

/* ---- open / free ------------------------------------------------------------------------------
 */

mc_err mc_engine_open(const mc_engine_opts *o, mc_engine **out, mc_diag *d)
{
    mc_engine *e = NULL;
    *out = NULL;
    mc_err err = check_opts(o, d);
    if (!err)
        err = mc_kernels_init(o->kernels, d);
    if (!err && !(e = mc_calloc(1, sizeof *e)))
        err = mc_fail(d, MC_ERR_NOMEM, "engine: out of memory");
    if (!err)
        err = mc_gguf_open(o->model_path, &e->g, d);
    if (!err)
        err = mc_model_from_gguf(e->g, &e->m, d);
    if (!err)
        err = read_arch(e, d);
    if (!err)
        err = read_shape(e, d);
    if (!err)
        err = eng_bind(e, d);
    if (!err)
        err = eng_xc_open(e, o, d);
    if (!err)
        err = eng_place_weights(e, o->weights, !o->no_repack, d);
    if (!err)
        err = size_engine(e, o);
    if (!err)
        err = describe_engine(e, d);
    if (!err)
        err = alloc_buffers(e, d);
    if (!err)
        err = mc_pool_new(e->n_threads, &e->pool, d);
    if (!err)
        err = eng_trace_alloc(e, d);
    if (!err)
        err = open_tokenizer(e, d);
    if (err) {
        mc_engine_free(e);
        return err;
    }
    snprintf(e->isa, sizeof e->isa, "%s", mc_kernels_isa());
    *out = e;
    return MC_OK;
}

void mc_engine_free(mc_engine *e)
{
    if (!e)
        return;
    eng_xc_free(e);
    mc_pool_free(e->pool);
    mc_tok_free(e->tok);
    free_buffers(e);
    mc_pass_deinit(&e->pass);
    for (int64_t l = 0; e->L && l < e->n_layers; l++)
        mc_free(e->L[l].wkv_b_own);
    mc_free(e->L);
    mc_free(e->vecs);
    mc_free(e->exp_mats);
    eng_free_weights(e);
    mc_model_free(e->m);
    mc_gguf_free(e->g);
    mc_free(e);
}

/* ---- getters and sequences ----------------------------------------------------------------- */

const mc_model *mc_engine_model(const mc_engine *e)
{
    return e->m;
}
const mc_tok *mc_engine_tok(const mc_engine *e)
{
    return e->tok;
}
const char *mc_engine_tok_error(const mc_engine *e)
{
    return e->tok ? NULL : e->tok_err;
}
int64_t mc_engine_vocab(const mc_engine *e)
{
    return e->vocab;
}
int64_t mc_engine_n_ctx(const mc_engine *e)
{
    return e->n_ctx;
}
int mc_engine_max_seqs(const mc_engine *e)
{
    return e->max_seqs;
}
int mc_engine_threads(const mc_engine *e)
{
    return e->n_threads;
}
const char *mc_engine_isa(const mc_engine *e)
{
    return e->isa;
}

void mc_engine_seq_reset(mc_engine *e, int seq)
{
    if (seq >= 0 && seq < e->max_seqs)
        e->seq_len[seq] = 0;
}

int64_t mc_engine_seq_len(const mc_engine *e, int seq)
{
    return seq >= 0 && seq < e->max_seqs ? e->seq_len[seq] : -1;
}
