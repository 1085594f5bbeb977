/* synth.c: synthetic fixed-length prompts. Each prompt is a seeded stream of common English
 * words (a different stream per prompt, so servers cannot serve one from another's prefix
 * cache). With a token counter (the server's /tokenize) the word count is searched until the
 * counter reports the target, then single-token filler words close any remaining gap; without
 * one the length is approximated as 4 characters per token and reported as such.
 * Depends on base only (the counter is a callback). */
#include "loadgen.h"

#include <string.h>

static const char *const words[] = {
    "the",        "of",          "and",         "to",         "in",        "is",
    "that",       "for",         "it",          "as",         "was",       "with",
    "be",         "by",          "on",          "not",        "he",        "this",
    "are",        "or",          "his",         "from",       "at",        "which",
    "but",        "have",        "an",          "had",        "they",      "you",
    "were",       "their",       "one",         "all",        "we",        "can",
    "her",        "has",         "there",       "been",       "if",        "more",
    "when",       "will",        "would",       "who",        "so",        "no",
    "time",       "people",      "water",       "number",     "world",     "house",
    "system",     "program",     "question",    "government", "company",   "problem",
    "service",    "example",     "history",     "research",   "education", "community",
    "business",   "language",    "knowledge",   "morning",    "river",     "mountain",
    "garden",     "window",      "science",     "music",      "market",    "village",
    "engine",     "kitchen",     "teacher",     "student",    "machine",   "picture",
    "weather",    "forest",      "island",      "library",    "journey",   "morning",
    "evening",    "summer",      "winter",      "animal",     "doctor",    "family",
    "country",    "between",     "through",     "because",    "however",   "another",
    "several",    "although",    "different",   "important",  "following", "available",
    "particular", "development", "information", "experience", "structure", "reasonable",
    "beautiful",  "carefully",   "quickly",     "slowly",     "quiet",     "bright",
    "simple",     "ancient",     "modern",      "natural",    "careful",   "distant",
    "gentle",
};
#define N_WORDS (sizeof words / sizeof words[0])
#define MAX_COUNT_CALLS 40

typedef struct wstream {
    mc_rng rng;
    mc_buf text;  /* words joined by single spaces */
    size_t *ends; /* ends[i] = length of the text holding words 0..i */
    size_t n, cap;
} wstream;

static mc_err ws_grow(wstream *s, size_t k, mc_diag *d)
{
    while (s->n < k) {
        if (s->n == s->cap) {
            size_t ncap = s->cap ? s->cap * 2 : 256;
            size_t *e = mc_reallocarray(s->ends, ncap, sizeof *e);
            if (!e)
                return mc_fail(d, MC_ERR_NOMEM, "synthetic prompts: out of memory");
            s->ends = e;
            s->cap = ncap;
        }
        const char *w = words[mc_rng_below(&s->rng, N_WORDS)];
        if ((s->n && mc_buf_append(&s->text, " ", 1)) || mc_buf_append(&s->text, w, strlen(w)))
            return mc_fail(d, MC_ERR_NOMEM, "synthetic prompts: out of memory");
        s->ends[s->n++] = s->text.len;
    }
    return MC_OK;
}

typedef struct search {
    const mc_lg_synth_opts *o;
    wstream *s;
    int calls;
} search;

static mc_err count_prefix(search *sr, size_t k, int64_t *c, mc_diag *d)
{
    mc_err e = ws_grow(sr->s, k, d);
    if (e)
        return e;
    sr->calls++;
    e = sr->o->count(sr->o->count_ctx, sr->s->text.data, sr->s->ends[k - 1], c, d);
    if (e)
        mc_diag_prefix(d, "synthetic prompts");
    return e;
}

/* Next word count to try, from the last count (proportional) kept inside (lo, hi). */
static size_t next_guess(size_t k, int64_t c, uint32_t target, size_t lo, size_t hi)
{
    double g = (double)k * (double)target / (double)(c > 0 ? c : 1);
    size_t guess = (size_t)(g + 0.5);
    if (guess == k)
        guess = c < (int64_t)target ? k + 1 : k - 1;
    if (hi && (guess <= lo || guess >= hi))
        guess = lo + (hi - lo) / 2;
    if (guess <= lo)
        guess = lo + 1;
    return guess;
}

/* Finds the word count whose prefix has `target` tokens, or the largest one below it. */
static mc_err search_words(search *sr, uint32_t target, size_t *k_out, int64_t *c_out, mc_diag *d)
{
    size_t lo = 0, hi = 0, k = target;
    int64_t c = 0, clo = 0;
    while (sr->calls < MAX_COUNT_CALLS) {
        mc_err e = count_prefix(sr, k, &c, d);
        if (e)
            return e;
        if (c == (int64_t)target)
            break;
        if (c < (int64_t)target) {
            lo = k;
            clo = c;
        } else {
            hi = k;
        }
        if (hi && hi - lo <= 1) { /* no word count hits it: fillers close the gap */
            k = lo;
            c = clo;
            break;
        }
        k = next_guess(k, c, target, lo, hi);
    }
    *k_out = k;
    *c_out = c;
    return MC_OK;
}

/* Appends single-token fillers ("a") to the first k words until the count is the target (or
 * would pass it). With k = 0 the prompt is fillers only. */
static mc_err close_gap(search *sr, size_t k, int64_t *c, uint32_t target, mc_buf *out, mc_diag *d)
{
    mc_buf_reset(out);
    if (k > 0 && mc_buf_append(out, sr->s->text.data, sr->s->ends[k - 1]))
        return mc_fail(d, MC_ERR_NOMEM, "synthetic prompts: out of memory");
    while (*c < (int64_t)target && sr->calls < MAX_COUNT_CALLS) {
        size_t keep = out->len;
        if (mc_buf_append(out, out->len ? " a" : "a", out->len ? 2 : 1))
            return mc_fail(d, MC_ERR_NOMEM, "synthetic prompts: out of memory");
        int64_t c2;
        sr->calls++;
        mc_err e = sr->o->count(sr->o->count_ctx, out->data, out->len, &c2, d);
        if (e) {
            mc_diag_prefix(d, "synthetic prompts");
            return e;
        }
        if (c2 > (int64_t)target && keep > 0) {
            out->len = keep;
            out->data[keep] = 0;
            break;
        }
        *c = c2; /* (an empty prompt is never sent: one filler stays even when over) */
    }
    return MC_OK;
}

static mc_err one_prompt(const mc_lg_synth_opts *o, uint32_t i, uint32_t target, mc_buf *out,
                         int64_t *tokens, mc_diag *d)
{
    wstream s = {0};
    mc_rng_seed(&s.rng, o->seed * 0x9E3779B97F4A7C15ull + i);
    mc_buf_init(&s.text, 0);
    mc_err e = MC_OK;
    if (!o->count) { /* approximate: 4 characters per token */
        size_t k = 0;
        while (!e && (s.text.len + 3) / 4 < target)
            e = ws_grow(&s, ++k, d);
        if (!e && mc_buf_append(out, s.text.data, s.text.len))
            e = mc_fail(d, MC_ERR_NOMEM, "synthetic prompts: out of memory");
        *tokens = (int64_t)((out->len + 3) / 4);
        goto out;
    }
    search sr = {o, &s, 0};
    size_t k = 0;
    e = search_words(&sr, target, &k, tokens, d);
    if (!e)
        e = close_gap(&sr, k, tokens, target, out, d);
out:
    mc_buf_deinit(&s.text);
    mc_free(s.ends);
    return e;
}

static uint32_t draw(mc_rng *r, uint32_t lo, uint32_t hi)
{
    return hi > lo ? lo + (uint32_t)mc_rng_below(r, (uint64_t)(hi - lo) + 1) : lo;
}

mc_err mc_lg_workload_synthetic(mc_lg_workload *w, const mc_lg_synth_opts *o, mc_diag *d)
{
    if (o->in_min < 1 || o->in_max < o->in_min || o->out_min < 1 || o->out_max < o->out_min)
        return mc_fail(d, MC_ERR_ARG,
                       "synthetic prompts: need 1 <= min <= max for input and "
                       "output lengths");
    mc_rng r;
    mc_rng_seed(&r, o->seed);
    mc_buf text;
    mc_buf_init(&text, 0);
    mc_err e = MC_OK;
    for (uint32_t i = 0; i < o->n && !e; i++) {
        uint32_t in = draw(&r, o->in_min, o->in_max), out = draw(&r, o->out_min, o->out_max);
        int64_t tokens = 0;
        mc_buf_reset(&text);
        e = one_prompt(o, i, in, &text, &tokens, d);
        if (!e)
            e = mc_lg_workload_add(w, text.data ? text.data : "", text.len, out, d);
        if (!e) {
            w->p[w->n - 1].input_tokens = tokens;
            w->p[w->n - 1].input_exact = o->count != NULL;
        }
    }
    mc_buf_deinit(&text);
    return e;
}
