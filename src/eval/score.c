/* score.c: scoring rules and accuracy statistics: LongBench's answer normalisation, token F1 and
 * exact match, its official classification / retrieval / count metrics, the log-likelihood
 * choice (acc, acc_norm), the tally of per-item outcomes and the standard error and 95%
 * interval of a proportion (Wilson) or a mean (normal). Definitions: docs/METRICS.md "Accuracy
 * and fidelity"; rules: docs/EVAL.md section 4. Depends on base and data only. */
#include "eval.h"

#include <math.h>
#include <string.h>

/* ==== LongBench normalisation, F1, EM ======================================================= */

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int is_punct(char c)
{
    return c > 32 && c < 127 && !(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'z') &&
           !(c >= 'A' && c <= 'Z');
}

static int is_article(const char *w, size_t n)
{
    return (n == 1 && w[0] == 'a') || (n == 2 && memcmp(w, "an", 2) == 0) ||
           (n == 3 && memcmp(w, "the", 3) == 0);
}

/* Lower-cases and drops punctuation into a scratch copy, then joins the non-article words
 * with single spaces. */
char *mc_ev_normalize_answer(const char *s, size_t n)
{
    char *t = mc_malloc(n + 1), *out = mc_malloc(n + 1);
    if (!t || !out) {
        mc_free(t);
        mc_free(out);
        return NULL;
    }
    size_t k = 0, w = 0;
    for (size_t i = 0; i < n; i++)
        if (!is_punct(s[i]))
            t[k++] = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i];
    for (size_t i = 0; i < k;) {
        while (i < k && is_space(t[i]))
            i++;
        size_t st = i;
        while (i < k && !is_space(t[i]))
            i++;
        if (i == st || is_article(t + st, i - st))
            continue;
        if (w)
            out[w++] = ' ';
        memcpy(out + w, t + st, i - st);
        w += i - st;
    }
    out[w] = 0;
    mc_free(t);
    return out;
}

typedef struct words {
    const char **w;
    size_t *len;
    size_t n;
} words;

/* Splits a normalised string on its single spaces (pointers into s). */
static int split_words(const char *s, words *out)
{
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ' ';
    out->w = mc_mallocarray(cap, sizeof *out->w);
    out->len = mc_mallocarray(cap, sizeof *out->len);
    out->n = 0;
    if (!out->w || !out->len)
        return -1;
    for (const char *p = s; *p;) {
        const char *e = strchr(p, ' ');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        out->w[out->n] = p;
        out->len[out->n++] = n;
        p += n + (e != NULL);
    }
    return 0;
}

/* Multiset intersection size of two word lists. */
static size_t common_words(const words *a, const words *b)
{
    unsigned char *used = mc_calloc(b->n ? b->n : 1, 1);
    size_t same = 0;
    for (size_t i = 0; used && i < a->n; i++)
        for (size_t j = 0; j < b->n; j++)
            if (!used[j] && a->len[i] == b->len[j] && memcmp(a->w[i], b->w[j], a->len[i]) == 0) {
                used[j] = 1;
                same++;
                break;
            }
    mc_free(used);
    return same;
}

double mc_ev_qa_f1(const char *pred, size_t pn, const char *gold)
{
    char *np = mc_ev_normalize_answer(pred, pn), *ng = mc_ev_normalize_answer(gold, strlen(gold));
    words a = {0}, b = {0};
    double f1 = 0;
    if (np && ng && split_words(np, &a) == 0 && split_words(ng, &b) == 0) {
        size_t same = common_words(&a, &b);
        if (same > 0) {
            double p = (double)same / (double)a.n, r = (double)same / (double)b.n;
            f1 = 2 * p * r / (p + r);
        }
    }
    mc_free(a.w);
    mc_free(a.len);
    mc_free(b.w);
    mc_free(b.len);
    mc_free(np);
    mc_free(ng);
    return f1;
}

int mc_ev_qa_em(const char *pred, size_t pn, const char *gold)
{
    char *np = mc_ev_normalize_answer(pred, pn), *ng = mc_ev_normalize_answer(gold, strlen(gold));
    int em = np && ng && strcmp(np, ng) == 0;
    mc_free(np);
    mc_free(ng);
    return em;
}

/* ==== LongBench official metrics ============================================================= */

static const struct {
    const char *name;
    mc_ev_lb_metric m;
} lb_metrics[] = {
    {"narrativeqa", MC_EV_LB_QA_F1},
    {"qasper", MC_EV_LB_QA_F1},
    {"multifieldqa_en", MC_EV_LB_QA_F1},
    {"hotpotqa", MC_EV_LB_QA_F1},
    {"2wikimqa", MC_EV_LB_QA_F1},
    {"musique", MC_EV_LB_QA_F1},
    {"triviaqa", MC_EV_LB_QA_F1},
    {"trec", MC_EV_LB_CLASSIFY},
    {"passage_retrieval_en", MC_EV_LB_RETRIEVAL},
    {"passage_count", MC_EV_LB_COUNT},
    {"gov_report", MC_EV_LB_ROUGE},
    {"qmsum", MC_EV_LB_ROUGE},
    {"multi_news", MC_EV_LB_ROUGE},
    {"samsum", MC_EV_LB_ROUGE},
    {"lcc", MC_EV_LB_CODE},
    {"repobench-p", MC_EV_LB_CODE},
};

mc_ev_lb_metric mc_ev_lb_metric_of(const char *dataset)
{
    char base[64];
    size_t n = dataset ? strlen(dataset) : 0;
    /* LongBench-E files are named <subset>_e */
    if (n > 2 && n < sizeof base && strcmp(dataset + n - 2, "_e") == 0) {
        memcpy(base, dataset, n - 2);
        base[n - 2] = 0;
        dataset = base;
    }
    for (size_t i = 0; dataset && i < sizeof lb_metrics / sizeof lb_metrics[0]; i++)
        if (strcmp(dataset, lb_metrics[i].name) == 0)
            return lb_metrics[i].m;
    return MC_EV_LB_UNSUPPORTED;
}

const char *mc_ev_lb_metric_name(mc_ev_lb_metric m)
{
    static const char *const n[] = {"qa_f1",   "classification", "retrieval",  "count",
                                    "rouge_l", "code_sim",       "unsupported"};
    return m <= MC_EV_LB_UNSUPPORTED ? n[m] : "?";
}

int mc_ev_lb_first_line(const char *dataset)
{
    return dataset && (strcmp(dataset, "trec") == 0 || strcmp(dataset, "triviaqa") == 0 ||
                       strcmp(dataset, "samsum") == 0 || strcmp(dataset, "lsht") == 0);
}

/* Every maximal digit run of s[0..n) is compared with want (count of equal runs / runs). */
static double digit_runs_score(const char *s, size_t n, const char *want, size_t wn)
{
    size_t runs = 0, right = 0;
    for (size_t i = 0; i < n;) {
        if (!(s[i] >= '0' && s[i] <= '9')) {
            i++;
            continue;
        }
        size_t st = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        runs++;
        right += i - st == wn && memcmp(s + st, want, wn) == 0;
    }
    return runs ? (double)right / (double)runs : 0.0;
}

static double retrieval_score(const char *pred, size_t pn, const char *gold)
{
    const char *p = strstr(gold, "Paragraph ");
    while (p && !(p[10] >= '0' && p[10] <= '9'))
        p = strstr(p + 1, "Paragraph ");
    if (!p)
        return 0.0;
    size_t k = 0;
    while (p[10 + k] >= '0' && p[10 + k] <= '9')
        k++;
    return digit_runs_score(pred, pn, p + 10, k);
}

/* LongBench classification_score: classes that occur in the prediction, minus those that are
 * substrings of (but not equal to) the answer -- removed while iterating, as the Python code
 * does, so the element after a removed one is not examined -- then 1/len if the answer is
 * among them. */
static double classify_score(const char *pred, size_t pn, const mc_ds_item *it, const char *gold)
{
    char *p = mc_strndup(pred, pn);
    const char **m = mc_calloc(it->n_classes + 1, sizeof *m);
    double score = 0;
    size_t n = 0;
    for (size_t i = 0; p && m && i < it->n_classes; i++)
        if (strstr(p, it->classes[i]))
            m[n++] = it->classes[i];
    for (size_t i = 0; m && i < n; i++)
        if (strstr(gold, m[i]) && strcmp(m[i], gold) != 0) {
            memmove(m + i, m + i + 1, (n - i - 1) * sizeof *m);
            n--;
        }
    for (size_t i = 0; m && i < n; i++)
        if (strcmp(m[i], gold) == 0)
            score = 1.0 / (double)n;
    mc_free(p);
    mc_free(m);
    return score;
}

static double official_one(mc_ev_lb_metric m, const char *pred, size_t pn, const mc_ds_item *it,
                           const char *gold)
{
    switch (m) {
    case MC_EV_LB_QA_F1: return mc_ev_qa_f1(pred, pn, gold);
    case MC_EV_LB_CLASSIFY: return classify_score(pred, pn, it, gold);
    case MC_EV_LB_RETRIEVAL: return retrieval_score(pred, pn, gold);
    case MC_EV_LB_COUNT: return digit_runs_score(pred, pn, gold, strlen(gold));
    default: return NAN;
    }
}

void mc_ev_lb_score_item(const char *pred, size_t pn, const mc_ds_item *it, mc_ev_lb_score *out)
{
    out->metric = mc_ev_lb_metric_of(it->category);
    if (mc_ev_lb_first_line(it->category)) {
        while (pn && *pred == '\n')
            pred++, pn--;
        const char *nl = memchr(pred, '\n', pn);
        if (nl)
            pn = (size_t)(nl - pred);
    }
    out->f1 = 0;
    out->em = 0;
    out->official = out->metric >= MC_EV_LB_ROUGE ? NAN : 0.0;
    for (size_t i = 0; i < it->n_answers; i++) {
        double f = mc_ev_qa_f1(pred, pn, it->answers[i]);
        out->f1 = f > out->f1 ? f : out->f1;
        out->em |= mc_ev_qa_em(pred, pn, it->answers[i]);
        double o = official_one(out->metric, pred, pn, it, it->answers[i]);
        if (!isnan(o) && o > out->official)
            out->official = o;
    }
}

/* ==== log-likelihood choice ================================================================== */

int mc_ev_ll_choose(const double *ll, const size_t *bytes, size_t n, int *norm)
{
    int best = 0, best_n = 0;
    for (size_t i = 1; i < n; i++) {
        if (ll[i] > ll[best])
            best = (int)i;
        double a = ll[i] / (double)(bytes[i] ? bytes[i] : 1);
        double b = ll[best_n] / (double)(bytes[best_n] ? bytes[best_n] : 1);
        if (a > b)
            best_n = (int)i;
    }
    if (norm)
        *norm = best_n;
    return best;
}

/* ==== statistics ============================================================================== */

#define Z95 1.959963984540054

void mc_ev_stat_binary(uint64_t k, uint64_t n, mc_ev_stat *out)
{
    memset(out, 0, sizeof *out);
    out->n = n;
    out->wilson = 1;
    if (n == 0) {
        out->mean = out->stderr_ = out->lo = out->hi = NAN;
        return;
    }
    double p = (double)k / (double)n, nn = (double)n, z2 = Z95 * Z95;
    out->mean = p;
    out->stderr_ = n >= 2 ? sqrt(p * (1 - p) / (nn - 1)) : NAN;
    double denom = 1 + z2 / nn;
    double center = (p + z2 / (2 * nn)) / denom;
    double half = Z95 / denom * sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn));
    out->lo = center - half < 0 ? 0 : center - half;
    out->hi = center + half > 1 ? 1 : center + half;
}

void mc_ev_stat_mean(double sum, double sumsq, uint64_t n, mc_ev_stat *out)
{
    memset(out, 0, sizeof *out);
    out->n = n;
    if (n == 0) {
        out->mean = out->stderr_ = out->lo = out->hi = NAN;
        return;
    }
    double nn = (double)n, m = sum / nn;
    out->mean = m;
    if (n < 2) {
        out->stderr_ = out->lo = out->hi = NAN;
        return;
    }
    double var = (sumsq - nn * m * m) / (nn - 1);
    out->stderr_ = sqrt(var > 0 ? var / nn : 0);
    out->lo = m - Z95 * out->stderr_ < 0 ? 0 : m - Z95 * out->stderr_;
    out->hi = m + Z95 * out->stderr_ > 1 ? 1 : m + Z95 * out->stderr_;
}

void mc_ev_tally_add(mc_ev_tally *t, const mc_ev_result *r)
{
    t->n++;
    t->failed += r->failed != 0;
    if (!r->scored)
        return;
    t->scored++;
    t->correct += r->correct != 0;
    t->correct_norm += r->correct_norm != 0;
    t->em += r->em != 0;
    t->no_answer += !r->failed && !r->extracted;
    t->sum += r->score;
    t->sumsq += r->score * r->score;
    if (!isnan(r->official)) {
        t->off_n++;
        t->off_sum += r->official;
        t->off_sumsq += r->official * r->official;
    }
}
