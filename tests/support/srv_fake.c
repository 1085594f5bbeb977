/* srv_fake.c: the fake server backend of srv_fake.h (a tokenizer and a deterministic model with
 * the engine's step contract). Test support only. */
#include "srv_fake.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define FAKE_VOCAB 288
#define FAKE_LAYERS 2

struct srv_fake {
    mc_srv_backend b;
    mc_tok *tok;
    int64_t *len; /* tokens per slot */
    mc_pass pass;
    double epl[FAKE_LAYERS];
    int delay_us;
    int fail;
    int no_trace;
    atomic_llong steps, max_batch;
};

/* ---- tokenizer ---- */

static mc_tok *make_tok(void)
{
    static char names[FAKE_VOCAB][16];
    static mc_tok_str toks[FAKE_VOCAB];
    static int32_t types[FAKE_VOCAB];
    static float scores[FAKE_VOCAB];
    int n = 0;
    const char *fixed[] = {"<unk>", "<s>", "</s>"};
    const int ftype[] = {MC_TOKT_UNKNOWN, MC_TOKT_CONTROL, MC_TOKT_CONTROL};
    for (int i = 0; i < 3; i++, n++) {
        snprintf(names[n], sizeof names[n], "%s", fixed[i]);
        types[n] = ftype[i];
    }
    for (int b = 0; b < 256; b++, n++) {
        snprintf(names[n], sizeof names[n], "<0x%02X>", b);
        types[n] = MC_TOKT_BYTE;
    }
    snprintf(names[n], sizeof names[n], "\xe2\x96\x81");
    types[n++] = MC_TOKT_NORMAL;
    for (int c = 'a'; c <= 'z'; c++, n++) {
        snprintf(names[n], sizeof names[n], "%c", c);
        types[n] = MC_TOKT_NORMAL;
    }
    snprintf(names[n], sizeof names[n], "<|im_start|>");
    types[n++] = MC_TOKT_CONTROL;
    snprintf(names[n], sizeof names[n], "<|im_end|>");
    types[n++] = MC_TOKT_CONTROL;
    for (int i = 0; i < n; i++) {
        toks[i] = (mc_tok_str){names[i], strlen(names[i])};
        scores[i] = -1.0f;
    }
    mc_tok_vocab v;
    mc_tok_vocab_init(&v);
    v.model = "llama";
    v.n_tokens = n;
    v.tokens = toks;
    v.scores = scores;
    v.types = types;
    v.bos_id = FAKE_BOS;
    v.eos_id = FAKE_EOS;
    v.unk_id = 0;
    mc_tok *t = NULL;
    mc_diag d = {{0}};
    if (mc_tok_new(&v, &t, &d) != MC_OK)
        fprintf(stderr, "srv_fake: tokenizer: %s\n", d.msg);
    return t;
}

/* ---- model ---- */

int32_t srv_fake_next(int32_t t, int64_t p)
{
    if (t == FAKE_BOS)
        return FAKE_LETTER('h');
    if (t == FAKE_LETTER('q'))
        return FAKE_BYTE(0xC3);
    if (t == FAKE_BYTE(0xC3))
        return FAKE_BYTE(0xA9);
    if (t == FAKE_BYTE(0xA9))
        return FAKE_LETTER('r');
    if (t == FAKE_LETTER('z'))
        return FAKE_EOS;
    if (t > FAKE_LETTER('a') - 1 && t <= FAKE_LETTER('z'))
        return p % 5 == 4 ? FAKE_SPACE : t + 1;
    if (t == FAKE_SPACE)
        return FAKE_LETTER('a') + (int32_t)(p % 7);
    return FAKE_LETTER('x');
}

static void fill_logits(float *row, int32_t t, int64_t p)
{
    int32_t next = srv_fake_next(t, p);
    for (int i = 0; i < FAKE_VOCAB; i++)
        row[i] = -4.0f;
    row[next] = 6.0f;
    row[(next + 1) % FAKE_VOCAB] = 3.0f;
}

static mc_err check_items(srv_fake *f, const mc_batch_item *it, int n, mc_diag *d)
{
    int64_t total = 0;
    char seen[1024] = {0};
    for (int k = 0; k < n; k++) {
        if (it[k].seq < 0 || it[k].seq >= f->b.max_seqs || it[k].n_tokens < 1)
            return mc_fail(d, MC_ERR_ARG, "fake: bad item %d", k);
        if (seen[it[k].seq]++)
            return mc_fail(d, MC_ERR_ARG, "fake: slot %d twice", it[k].seq);
        if (f->len[it[k].seq] + it[k].n_tokens > f->b.n_ctx)
            return mc_fail(d, MC_ERR_RANGE, "fake: context overflow in slot %d", it[k].seq);
        for (int64_t j = 0; j < it[k].n_tokens; j++)
            if (it[k].tokens[j] < 0 || it[k].tokens[j] >= FAKE_VOCAB)
                return mc_fail(d, MC_ERR_RANGE, "fake: token %d", it[k].tokens[j]);
        total += it[k].n_tokens;
    }
    if (total > f->b.max_step_tokens)
        return mc_fail(d, MC_ERR_RANGE, "fake: %lld tokens in one step", (long long)total);
    return MC_OK;
}

static mc_err fake_step(void *ctx, const mc_batch_item *it, int n, mc_diag *d)
{
    srv_fake *f = ctx;
    mc_ns t0 = mc_now_ns();
    if (f->fail > 0) {
        f->fail--;
        return mc_fail(d, MC_ERR_INTERNAL, "fake: injected failure");
    }
    mc_err e = check_items(f, it, n, d);
    if (e)
        return e;
    int64_t total = 0, seq_sum = 0;
    for (int k = 0; k < n; k++) {
        int64_t p0 = f->len[it[k].seq];
        for (int64_t j = 0; j < it[k].n_tokens; j++) {
            int last = j == it[k].n_tokens - 1;
            if (it[k].logits == MC_LOGITS_ALL)
                fill_logits(it[k].logits_out + j * FAKE_VOCAB, it[k].tokens[j], p0 + j);
            else if (it[k].logits == MC_LOGITS_LAST && last)
                fill_logits(it[k].logits_out, it[k].tokens[j], p0 + j);
        }
        f->len[it[k].seq] += it[k].n_tokens;
        total += it[k].n_tokens;
        seq_sum += f->len[it[k].seq];
    }
    if (f->delay_us > 0)
        usleep((useconds_t)f->delay_us);
    f->epl[0] = total * 2 < 8 ? (double)(total * 2) : 8;
    f->epl[1] = total + 1 < 8 ? (double)(total + 1) : 8;
    mc_pass_init(&f->pass);
    f->pass.mode = MC_PASS_MIXED;
    f->pass.new_tokens = total;
    f->pass.batch_size = n;
    f->pass.seq_lens_sum = seq_sum;
    f->pass.latency_s = mc_ns_to_s(mc_now_ns() - t0) + 1e-9;
    f->pass.expert_activation = (f->epl[0] + f->epl[1]) / 2;
    f->pass.n_layer_experts = FAKE_LAYERS;
    f->pass.experts_per_layer = f->epl;
    atomic_fetch_add(&f->steps, 1);
    if (n > atomic_load(&f->max_batch))
        atomic_store(&f->max_batch, n);
    return MC_OK;
}

static const mc_pass *fake_last(void *ctx)
{
    srv_fake *f = ctx;
    return f->no_trace ? NULL : &f->pass;
}

static void fake_reset(void *ctx, int seq)
{
    srv_fake *f = ctx;
    if (seq >= 0 && seq < f->b.max_seqs)
        f->len[seq] = 0;
}

static double fake_logprob(const float *l, int64_t vocab, int32_t tok)
{
    double mx = l[0], s = 0;
    for (int64_t i = 1; i < vocab; i++)
        mx = l[i] > mx ? l[i] : mx;
    for (int64_t i = 0; i < vocab; i++)
        s += exp((double)l[i] - mx);
    return (double)l[tok] - mx - log(s);
}

static int fake_top(const float *l, int64_t vocab, int n, int32_t *ids, double *lps)
{
    for (int k = 0; k < n; k++) { /* selection: lowest id first on ties */
        int32_t best = -1;
        for (int32_t i = 0; i < vocab; i++) {
            int used = 0;
            for (int j = 0; j < k; j++)
                used |= ids[j] == i;
            if (!used && (best < 0 || l[i] > l[best]))
                best = i;
        }
        ids[k] = best;
        lps[k] = fake_logprob(l, vocab, best);
    }
    return n;
}

static int32_t fake_sample(void *ctx, float *l, const mc_sampler *s, mc_rng *rng)
{
    (void)ctx;
    int32_t best = 0;
    for (int32_t i = 1; i < FAKE_VOCAB; i++)
        if (l[i] > l[best])
            best = i;
    if (s->temperature <= 0)
        return best;
    double sum = 0;
    for (int i = 0; i < FAKE_VOCAB; i++)
        sum += exp((l[i] - l[best]) / s->temperature);
    double u = mc_rng_uniform(rng) * sum;
    for (int i = 0; i < FAKE_VOCAB; i++) {
        u -= exp((l[i] - l[best]) / s->temperature);
        if (u <= 0)
            return i;
    }
    return best;
}

static const mc_srv_backend_ops fake_ops = {fake_step,   fake_last,    fake_reset,
                                            fake_sample, fake_logprob, fake_top};

srv_fake *srv_fake_new(int max_seqs, int64_t n_ctx, int64_t max_step_tokens)
{
    srv_fake *f = mc_calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->tok = make_tok();
    f->len = mc_calloc((size_t)max_seqs, sizeof *f->len);
    if (!f->tok || !f->len || max_seqs > 1024) {
        srv_fake_free(f);
        return NULL;
    }
    f->delay_us = 200;
    f->b = (mc_srv_backend){&fake_ops,       f,          f->tok, FAKE_VOCAB,  n_ctx, max_seqs,
                            max_step_tokens, "fake-moe", NULL,   FAKE_LAYERS, "fake"};
    return f;
}

void srv_fake_free(srv_fake *f)
{
    if (!f)
        return;
    mc_tok_free(f->tok);
    mc_free(f->len);
    mc_free(f);
}

mc_srv_backend *srv_fake_backend(srv_fake *f)
{
    return &f->b;
}
const mc_tok *srv_fake_tok(srv_fake *f)
{
    return f->tok;
}
void srv_fake_set_delay(srv_fake *f, int delay_us)
{
    f->delay_us = delay_us;
}
void srv_fake_set_template(srv_fake *f, const char *tmpl)
{
    f->b.chat_template = tmpl;
}
void srv_fake_fail_steps(srv_fake *f, int n)
{
    f->fail = n;
}
int64_t srv_fake_steps(srv_fake *f)
{
    return atomic_load(&f->steps);
}
int64_t srv_fake_max_batch(srv_fake *f)
{
    return atomic_load(&f->max_batch);
}
void srv_fake_set_no_trace(srv_fake *f, int on)
{
    f->no_trace = on;
}
