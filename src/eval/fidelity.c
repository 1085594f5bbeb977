/* fidelity.c: how closely a candidate model (quantised, offloaded, fewer experts...) follows a
 * reference on the same token sequences: mean KL divergence KL(P_ref || P_cand) of the
 * next-token distributions, top-1 agreement and the perplexity ratio (docs/METRICS.md
 * fidelity.*). From full logits (in-process) the KL is exact; from top-N log-probabilities
 * (over HTTP) it is computed on the reference's listed tokens plus one bucket for the rest
 * (docs/EVAL.md section 6.2). Also splits a text into sequences. Depends on base only. */
#include "eval.h"

#include <math.h>
#include <string.h>

#define Q_FLOOR 1e-10 /* smallest probability a candidate is assumed to give (keeps KL finite) */

void mc_fid_init(mc_fid *f)
{
    memset(f, 0, sizeof *f);
}

/* log-sum-exp of v[0..n) in double precision; *argmax = first index of the largest. */
static double lse(const float *v, int64_t n, int64_t *argmax)
{
    double mx = -INFINITY;
    int64_t am = 0;
    for (int64_t i = 0; i < n; i++)
        if ((double)v[i] > mx) {
            mx = v[i];
            am = i;
        }
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += exp((double)v[i] - mx);
    *argmax = am;
    return mx + log(s);
}

static void add_kl(mc_fid *f, double kl)
{
    kl = kl > 0 ? kl : 0; /* rounding can give -1e-17 for identical distributions */
    f->n++;
    f->kl_sum += kl;
    f->kl_sumsq += kl * kl;
    if (kl > f->kl_max)
        f->kl_max = kl;
}

void mc_fid_add_logits(mc_fid *f, const float *ref, const float *cand, int64_t vocab, int32_t next)
{
    int64_t ar, ac;
    double lr = lse(ref, vocab, &ar), lc = lse(cand, vocab, &ac), kl = 0;
    for (int64_t i = 0; i < vocab; i++) {
        double a = (double)ref[i] - lr, b = (double)cand[i] - lc;
        double p = exp(a);
        if (p > 0)
            kl += p * (a - b);
    }
    add_kl(f, kl);
    f->agree += ar == ac;
    if (next >= 0 && next < vocab) {
        f->nll_ref -= (double)ref[next] - lr;
        f->nll_cand -= (double)cand[next] - lc;
        f->n_nll++;
    }
}

static const mc_ev_top *top_find(const mc_ev_top *l, size_t n, const char *tok)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(l[i].tok, tok) == 0)
            return &l[i];
    return NULL;
}

static const mc_ev_top *top_best(const mc_ev_top *l, size_t n)
{
    const mc_ev_top *b = NULL;
    for (size_t i = 0; i < n; i++)
        if (!b || l[i].lp > b->lp)
            b = &l[i];
    return b;
}

/* The candidate's probability of a token it did not list: at most its smallest listed one, and
 * together with the other missing ones at most the mass its list leaves. */
static double missing_q(const mc_ev_top *cand, size_t nc, size_t n_missing)
{
    double listed = 0, qmin = 1;
    for (size_t i = 0; i < nc; i++) {
        double q = exp(cand[i].lp);
        listed += q;
        qmin = q < qmin ? q : qmin;
    }
    double left = 1 - listed > 0 ? 1 - listed : 0;
    double q = n_missing ? left / (double)n_missing : left;
    q = q < qmin ? q : qmin;
    return q > Q_FLOOR ? q : Q_FLOOR;
}

void mc_fid_add_top(mc_fid *f, const mc_ev_top *ref, size_t nr, const mc_ev_top *cand, size_t nc,
                    double lp_ref, double lp_cand)
{
    size_t missing = 0;
    for (size_t i = 0; i < nr; i++)
        missing += top_find(cand, nc, ref[i].tok) == NULL;
    double qm = missing_q(cand, nc, missing), p_sum = 0, q_sum = 0, kl = 0;
    for (size_t i = 0; i < nr; i++) {
        const mc_ev_top *c = top_find(cand, nc, ref[i].tok);
        double lq = c && c->lp > log(Q_FLOOR) ? c->lp : c ? log(Q_FLOOR) : log(qm);
        double p = exp(ref[i].lp);
        p_sum += p;
        q_sum += exp(lq);
        kl += p * (ref[i].lp - lq); /* identical lists give exactly 0 */
    }
    double p_rest = 1 - p_sum, q_rest = 1 - q_sum > Q_FLOOR ? 1 - q_sum : Q_FLOOR;
    if (p_rest > 1e-12)
        kl += p_rest * (log(p_rest) - log(q_rest));
    add_kl(f, kl);
    const mc_ev_top *br = top_best(ref, nr), *bc = top_best(cand, nc);
    f->agree += br && bc && strcmp(br->tok, bc->tok) == 0;
    f->missing_ref_sum += p_rest > 0 ? p_rest : 0;
    f->cand_missing += missing;
    f->ref_tokens += nr;
    if (!isnan(lp_ref) && !isnan(lp_cand)) {
        f->nll_ref -= lp_ref;
        f->nll_cand -= lp_cand;
        f->n_nll++;
    }
}

void mc_fid_result_of(const mc_fid *f, mc_fid_result *out)
{
    memset(out, 0, sizeof *out);
    double n = (double)f->n;
    out->positions = f->n;
    out->nll_positions = f->n_nll;
    out->kl_mean = f->n ? f->kl_sum / n : NAN;
    double var = f->n > 1 ? (f->kl_sumsq - n * out->kl_mean * out->kl_mean) / (n - 1) : NAN;
    out->kl_stderr = f->n > 1 ? sqrt(var > 0 ? var / n : 0) : NAN;
    out->kl_max = f->n ? f->kl_max : NAN;
    out->top1_agree = f->n ? (double)f->agree / n : NAN;
    out->ppl_ref = f->n_nll ? exp(f->nll_ref / (double)f->n_nll) : NAN;
    out->ppl_cand = f->n_nll ? exp(f->nll_cand / (double)f->n_nll) : NAN;
    out->ppl_ratio = f->n_nll ? exp((f->nll_cand - f->nll_ref) / (double)f->n_nll) : NAN;
    out->missing_ref_mean = f->ref_tokens ? f->missing_ref_sum / n : NAN;
    out->cand_missing_frac = f->ref_tokens ? (double)f->cand_missing / (double)f->ref_tokens : NAN;
}

/* ---- texts ---------------------------------------------------------------------------------- */

/* The last good cut in s[0..n): after a blank line, else after a newline, else after a space,
 * else at a UTF-8 character boundary. */
static size_t cut_at(const char *s, size_t n)
{
    static const char *const seps[] = {"\n\n", "\n", " "};
    for (size_t k = 0; k < 3; k++) {
        size_t m = strlen(seps[k]);
        for (size_t i = n; i >= m && i > n / 4; i--)
            if (memcmp(s + i - m, seps[k], m) == 0)
                return i;
    }
    size_t i = n;
    while (i > 1 && ((unsigned char)s[i] & 0xC0) == 0x80)
        i--;
    return i;
}

static int blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\n' && s[i] != '\t' && s[i] != '\r')
            return 0;
    return 1;
}

mc_err mc_fid_texts_split(const char *text, size_t len, size_t max_bytes, mc_fid_texts *out,
                          mc_diag *d)
{
    memset(out, 0, sizeof *out);
    if (max_bytes < 16)
        return mc_fail(d, MC_ERR_ARG, "sequences must allow at least 16 bytes");
    size_t cap = len / (max_bytes / 4) + 2;
    out->seg = mc_calloc(cap, sizeof *out->seg);
    if (!out->seg)
        return mc_fail(d, MC_ERR_NOMEM, "out of memory");
    for (size_t p = 0; p < len;) {
        while (p < len && (text[p] == '\n' || text[p] == '\r' || text[p] == ' ' || text[p] == '\t'))
            p++;
        if (p >= len)
            break;
        size_t n = len - p > max_bytes ? cut_at(text + p, max_bytes) : len - p;
        size_t e = n;
        while (e > 0 && (text[p + e - 1] == '\n' || text[p + e - 1] == ' '))
            e--;
        if (e > 0 && !blank(text + p, e) && out->n < cap &&
            !(out->seg[out->n++] = mc_strndup(text + p, e))) {
            mc_fid_texts_deinit(out);
            return mc_fail(d, MC_ERR_NOMEM, "out of memory");
        }
        p += n ? n : 1;
    }
    if (out->n == 0) {
        mc_fid_texts_deinit(out);
        return mc_fail(d, MC_ERR_FORMAT, "the text is empty");
    }
    return MC_OK;
}

void mc_fid_texts_deinit(mc_fid_texts *t)
{
    for (size_t i = 0; t->seg && i < t->n; i++)
        mc_free(t->seg[i]);
    mc_free(t->seg);
    memset(t, 0, sizeof *t);
}
