/* report.c: JSON of evaluation results: one line per item (items.jsonl) and the accuracy
 * figures of a tally (acc, acc_norm, em, f1, official, each with its standard error and 95%
 * interval). Strings from outside (responses, data) are made valid UTF-8 (U+FFFD for bad
 * bytes) so every line parses. Formats: docs/EVAL.md section 5. Depends on base and cJSON. */
#include "eval.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return 1;
    size_t k = s[0] >= 0xF0 && s[0] <= 0xF4  ? 4
               : s[0] >= 0xE0                ? 3
               : s[0] >= 0xC2 && s[0] < 0xE0 ? 2
                                             : 0;
    if (k == 0 || k > n)
        return 0;
    for (size_t i = 1; i < k; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if ((k == 3 && s[0] == 0xE0 && s[1] < 0xA0) || (k == 3 && s[0] == 0xED && s[1] >= 0xA0) ||
        (k == 4 && s[0] == 0xF0 && s[1] < 0x90) || (k == 4 && s[0] == 0xF4 && s[1] >= 0x90))
        return 0;
    return k;
}

/* A valid UTF-8 copy (NUL bytes also become U+FFFD); heap, NULL when out of memory. */
static char *utf8_clean(const char *s, size_t n)
{
    char *out = n < SIZE_MAX / 3 ? mc_malloc(3 * n + 1) : NULL;
    size_t w = 0;
    for (size_t i = 0; out && i < n;) {
        size_t k = s[i] ? utf8_len((const unsigned char *)s + i, n - i) : 0;
        if (k == 0) {
            memcpy(out + w, "\xEF\xBF\xBD", 3);
            w += 3;
            i++;
            continue;
        }
        memcpy(out + w, s + i, k);
        w += k;
        i += k;
    }
    if (out)
        out[w] = 0;
    return out;
}

static int add_str(cJSON *o, const char *key, const char *s, size_t n)
{
    if (!s)
        return cJSON_AddNullToObject(o, key) != NULL;
    char *c = utf8_clean(s, n);
    int ok = c && cJSON_AddStringToObject(o, key, c) != NULL;
    mc_free(c);
    return ok;
}

static int add_cstr(cJSON *o, const char *key, const char *s)
{
    return add_str(o, key, s, s ? strlen(s) : 0);
}

static int add_num(cJSON *o, const char *key, double v)
{
    if (isnan(v) || isinf(v))
        return cJSON_AddNullToObject(o, key) != NULL;
    return cJSON_AddNumberToObject(o, key, v) != NULL;
}

static int add_bool_or_null(cJSON *o, const char *key, int set, int v)
{
    return (set ? cJSON_AddBoolToObject(o, key, v) : cJSON_AddNullToObject(o, key)) != NULL;
}

static int add_ll(cJSON *o, const mc_ev_result *r)
{
    cJSON *ll = cJSON_AddArrayToObject(o, "ll");
    cJSON *b = cJSON_AddArrayToObject(o, "cont_bytes");
    cJSON *t = cJSON_AddArrayToObject(o, "cont_tokens");
    int ok = ll && b && t;
    for (size_t i = 0; ok && i < r->n_choices; i++) {
        cJSON *x = isnan(r->ll[i]) ? cJSON_CreateNull() : cJSON_CreateNumber(r->ll[i]);
        ok = x && cJSON_AddItemToArray(ll, x);
        ok = ok && cJSON_AddItemToArray(b, cJSON_CreateNumber((double)r->cont_bytes[i]));
        ok = ok && cJSON_AddItemToArray(t, cJSON_CreateNumber((double)r->cont_tokens[i]));
    }
    ok = ok && add_num(o, "pred", r->pred >= 0 ? r->pred : NAN) &&
         add_num(o, "pred_norm", r->pred_norm >= 0 ? r->pred_norm : NAN) &&
         add_bool_or_null(o, "correct_norm", r->scored, r->correct_norm);
    return ok;
}

static int add_item(cJSON *o, const mc_ev_result *r, int with_prompt)
{
    const mc_ds_item *it = r->item;
    int ok = add_num(o, "index", (double)r->index) && add_cstr(o, "id", it->id) &&
             add_num(o, "line", (double)it->line) && add_cstr(o, "category", it->category);
    if (ok && with_prompt)
        ok = add_cstr(o, "prompt", r->prompt);
    if (ok && !r->ll)
        ok = add_str(o, "response", r->response, r->response_len);
    return ok && add_cstr(o, "extracted", r->extracted) && add_cstr(o, "rule", r->rule) &&
           add_cstr(o, "gold", r->gold) && add_bool_or_null(o, "correct", r->scored, r->correct);
}

char *mc_ev_result_json(const mc_ev_result *r, int with_prompt)
{
    cJSON *o = cJSON_CreateObject();
    int ok = o && add_item(o, r, with_prompt) && add_num(o, "score", r->scored ? r->score : NAN) &&
             (!r->has_em || add_bool_or_null(o, "em", r->scored, r->em)) &&
             (isnan(r->official) || add_num(o, "official", r->official)) &&
             add_num(o, "shots", (double)r->shots) &&
             cJSON_AddBoolToObject(o, "failed", r->failed) &&
             add_cstr(o, "status", mc_lg_fail_name(r->failed ? r->fail : MC_LG_OK)) &&
             add_cstr(o, "error", r->error ? r->error : "");
    if (ok && r->ll)
        ok = add_ll(o, r);
    if (ok && !r->ll)
        ok = add_num(o, "ttft_s", r->ttft_s) && add_num(o, "e2e_s", r->e2e_s) &&
             add_num(o, "usage_prompt_tokens", r->in_tokens >= 0 ? (double)r->in_tokens : NAN) &&
             add_num(o, "usage_completion_tokens",
                     r->out_tokens >= 0 ? (double)r->out_tokens : NAN) &&
             add_cstr(o, "finish_reason", r->finish_reason ? r->finish_reason : "");
    char *s = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    char *out = s ? mc_strdup(s) : NULL;
    cJSON_free(s);
    return out;
}

/* ---- tallies -------------------------------------------------------------------------------- */

static cJSON *stat_json(const mc_ev_stat *st, double count)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *ci = o ? cJSON_AddArrayToObject(o, "ci95") : NULL;
    int ok =
        ci && add_num(o, "value", st->mean) && add_num(o, "stderr", st->stderr_) &&
        cJSON_AddItemToArray(ci, isnan(st->lo) ? cJSON_CreateNull() : cJSON_CreateNumber(st->lo)) &&
        cJSON_AddItemToArray(ci, isnan(st->hi) ? cJSON_CreateNull() : cJSON_CreateNumber(st->hi)) &&
        cJSON_AddStringToObject(o, "interval", st->wilson ? "wilson" : "normal") &&
        add_num(o, "n", (double)st->n);
    if (ok && !isnan(count))
        ok = add_num(o, "count", count);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static int add_stat(cJSON *o, const char *key, const mc_ev_stat *st, double count)
{
    cJSON *s = stat_json(st, count);
    if (s && !cJSON_AddItemToObject(o, key, s)) {
        cJSON_Delete(s); /* the key's copy failed: the item was not taken */
        return 0;
    }
    return s != NULL;
}

static int add_rates(cJSON *o, const mc_ev_tally *t, mc_ev_metric m)
{
    mc_ev_stat st;
    mc_ev_stat_binary(t->correct, t->scored, &st);
    int ok = add_stat(o, "acc", &st, (double)t->correct);
    if (ok && m == MC_EV_METRIC_LOGLIK) {
        mc_ev_stat_binary(t->correct_norm, t->scored, &st);
        ok = add_stat(o, "acc_norm", &st, (double)t->correct_norm);
    }
    if (ok && (m == MC_EV_METRIC_F1 || m == MC_EV_METRIC_LONGBENCH)) {
        mc_ev_stat_mean(t->sum, t->sumsq, t->scored, &st);
        ok = add_stat(o, "f1", &st, NAN);
        mc_ev_stat_binary(t->em, t->scored, &st);
        ok = ok && add_stat(o, "em", &st, (double)t->em);
    }
    if (ok && m == MC_EV_METRIC_LONGBENCH && t->off_n > 0) {
        mc_ev_stat_mean(t->off_sum, t->off_sumsq, t->off_n, &st);
        ok = add_stat(o, "official", &st, NAN);
    }
    return ok;
}

struct cJSON *mc_ev_tally_json(const mc_ev_tally *t, mc_ev_metric m)
{
    cJSON *o = cJSON_CreateObject();
    int ok = o && add_num(o, "items", (double)t->n) && add_num(o, "scored", (double)t->scored) &&
             add_num(o, "failed", (double)t->failed) &&
             add_num(o, "no_answer", (double)t->no_answer);
    if (ok && t->scored > 0)
        ok = add_rates(o, t, m);
    uint64_t answered = t->scored >= t->failed ? t->scored - t->failed : 0;
    if (ok && t->scored > 0)
        ok = add_num(o, "acc_answered", answered ? (double)t->correct / (double)answered : NAN);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}
