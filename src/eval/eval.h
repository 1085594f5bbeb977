/* eval: accuracy of a served model on evaluation data, and fidelity of a cheaper variant
 * (docs/EVAL.md; figures defined in docs/METRICS.md, "Accuracy and fidelity").
 *
 *   extract   answers from generated text: GSM8K numbers, choice letters        (extract.c)
 *   score     numeric equality, LongBench EM / token F1 / official metrics,
 *             log-likelihood choice, accuracy statistics (Wilson / normal)      (score.c)
 *   prompt    zero- and few-shot prompts per task for the completions and chat
 *             endpoints; the MoE-CAP reference's prompts (--prompt-style)      (prompt.c,
 * prompt_ref.c) request   request bodies, echo + logprobs responses (body.c, echo.c) http      a
 * small libcurl-multi pool for whole-body JSON requests           (http.c) run       one
 * evaluation: few-shot plan, requests (generation through the load generator's client,
 * log-likelihood through http), scoring, per-item results as they finish, summary (run.c, run_ll.c)
 *   report    per-item JSON, summary JSON, SHA-256 of data files                (report.c,
 * sha256.c) fidelity  KL divergence, top-1 agreement, perplexity ratio of two models over HTTP
 * (top-N log-probabilities) or in-process (engine)       (fidelity*.c)
 *
 * Libraries never print. Thread safety: everything is reentrant; an mc_ev run and an
 * mc_fid accumulator are used by one thread. */
#ifndef MC_EVAL_H
#define MC_EVAL_H

#include "base.h"
#include "data.h"
#include "loadgen.h"

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

/* ==== extraction (extract.c) ================================================================ */

/* The answer part of a response: the text after the last "</think>" (reasoning models that put
 * their thinking in the content), else after the last "assistantfinal" (gpt-oss channel
 * markers leaking into content), else all of it. */
void mc_ev_strip_reasoning(const char *text, size_t len, const char **out, size_t *out_len);

typedef enum mc_ev_num_rule {
    MC_EV_NUM_NONE = 0,  /* no number at all */
    MC_EV_NUM_HASH,      /* "#### n" */
    MC_EV_NUM_BOXED,     /* \boxed{... n ...} */
    MC_EV_NUM_ANSWER_IS, /* "the answer is n", "answer: n", "final answer: n" */
    MC_EV_NUM_LAST       /* the last number in the text */
} mc_ev_num_rule;

const char *mc_ev_num_rule_name(mc_ev_num_rule r); /* "none", "####", "boxed", ... */

/* GSM8K answer extraction (docs/EVAL.md section 4.1): of the explicit forms ("#### n",
 * \boxed{n}, "answer is/: n") the one that ends last in the text wins; without any, the last
 * number. Numbers may carry '$', thousands commas, a sign, a decimal part and a trailing dot.
 * Writes the canonical number (mc_ev_number_canon) into out (cap >= 2); returns the rule. */
mc_ev_num_rule mc_ev_extract_number(const char *text, size_t len, char *out, size_t cap);

/* Canonical decimal text of a number: '$', '+', commas, a trailing '.' and spaces dropped,
 * leading zeros and trailing fraction zeros removed, "-0" -> "0" ("1,234.50" -> "1234.5",
 * "$07." -> "7"). Returns 0, or -1 when s is not a plain decimal number or out is too small. */
int mc_ev_number_canon(const char *s, size_t n, char *out, size_t cap);
/* Numeric equality of two number texts (their canonical forms are equal); 0 when either is
 * not a number. */
int mc_ev_numbers_equal(const char *a, const char *b);

typedef enum mc_ev_letter_rule {
    MC_EV_LET_NONE = 0,
    MC_EV_LET_ANSWER_IS, /* "answer is (X)", "answer is X", "answer: X", "option X is correct" */
    MC_EV_LET_BOXED,     /* \boxed{X} */
    MC_EV_LET_BARE,      /* the response is just the letter: "X", "(X)", "X.", "X) text" */
    MC_EV_LET_LAST       /* the last standalone letter in range */
} mc_ev_letter_rule;

const char *mc_ev_letter_rule_name(mc_ev_letter_rule r);
/* Multiple-choice letter extraction for n_choices options (letters 'A'..): markdown '*' is
 * ignored; of the explicit forms the one that ends last wins, then a bare letter at the start,
 * then the last standalone letter ("A" and "I" followed by a space and a lower-case letter are
 * words, not choices). *letter is set when the rule is not NONE. */
mc_ev_letter_rule mc_ev_extract_letter(const char *text, size_t len, size_t n_choices,
                                       char *letter);

/* ==== scoring (score.c) ===================================================================== */

/* LongBench's answer normalisation (lower-case, ASCII punctuation removed, articles a/an/the
 * removed, whitespace collapsed) into out (heap, mc_free). NULL when out of memory. */
char *mc_ev_normalize_answer(const char *s, size_t n);
/* Token F1 and exact match after normalisation (LongBench qa_f1_score; SQuAD-style EM). */
double mc_ev_qa_f1(const char *pred, size_t pn, const char *gold);
int mc_ev_qa_em(const char *pred, size_t pn, const char *gold);

typedef enum mc_ev_lb_metric {
    MC_EV_LB_QA_F1 = 0,  /* narrativeqa, qasper, multifieldqa_en, hotpotqa, 2wikimqa, musique,
                            triviaqa */
    MC_EV_LB_CLASSIFY,   /* trec */
    MC_EV_LB_RETRIEVAL,  /* passage_retrieval_en */
    MC_EV_LB_COUNT,      /* passage_count */
    MC_EV_LB_ROUGE,      /* gov_report, qmsum, multi_news, samsum: not implemented */
    MC_EV_LB_CODE,       /* lcc, repobench-p: not implemented */
    MC_EV_LB_UNSUPPORTED /* Chinese subsets and anything unknown */
} mc_ev_lb_metric;

mc_ev_lb_metric mc_ev_lb_metric_of(const char *dataset);
const char *mc_ev_lb_metric_name(mc_ev_lb_metric m); /* "qa_f1", "classification", ... */
/* Whether LongBench cuts this subset's prediction at its first line (trec, triviaqa, samsum). */
int mc_ev_lb_first_line(const char *dataset);

typedef struct mc_ev_lb_score {
    double f1;       /* max over the answers of qa F1 */
    int em;          /* some answer matches exactly after normalisation */
    double official; /* the subset's official metric (max over answers); NAN when not
                        implemented (ROUGE-L, code similarity) */
    mc_ev_lb_metric metric;
} mc_ev_lb_score;

/* Scores a LongBench prediction against an item (answers, all_classes, dataset). */
void mc_ev_lb_score_item(const char *pred, size_t pn, const mc_ds_item *it, mc_ev_lb_score *out);

/* Log-likelihood choice: the argmax of ll (acc) and of ll / bytes (acc_norm); ties go to the
 * lowest index. Returns the acc choice; *norm gets the acc_norm one. */
int mc_ev_ll_choose(const double *ll, const size_t *bytes, size_t n, int *norm);

/* A proportion or mean with its uncertainty (docs/METRICS.md acc.stderr, acc.ci95). */
typedef struct mc_ev_stat {
    uint64_t n;
    double mean;
    double stderr_; /* s / sqrt(n) with the sample standard deviation s (n - 1); NAN if n < 2 */
    double lo, hi;  /* 95% interval: Wilson score for 0/1 outcomes, else mean +- 1.96 stderr
                       clipped to [0, 1]; NAN when n = 0 */
    int wilson;
} mc_ev_stat;

/* k successes out of n. */
void mc_ev_stat_binary(uint64_t k, uint64_t n, mc_ev_stat *out);
/* Scores in [0, 1] given by their sum and sum of squares. */
void mc_ev_stat_mean(double sum, double sumsq, uint64_t n, mc_ev_stat *out);

/* ==== tasks and prompts (prompt.c, prompt_ref.c) ============================================= */

typedef enum mc_ev_task {
    MC_EV_GSM8K = 0,
    MC_EV_MMLU_PRO,
    MC_EV_HELLASWAG,
    MC_EV_MMLU,
    MC_EV_ARC,
    MC_EV_LONGBENCH,
    MC_EV_MT_BENCH, /* workload only: responses are recorded, not scored */
    MC_EV_SHAREGPT, /* workload only */
    MC_EV_CUSTOM,
    MC_EV_TASK_COUNT_
} mc_ev_task;

mc_err mc_ev_task_parse(const char *s, mc_ev_task *out, mc_diag *d);
const char *mc_ev_task_name(mc_ev_task t);
mc_ds_fmt mc_ev_task_format(mc_ev_task t);

typedef enum mc_ev_method {
    MC_EV_GEN = 0, /* generate, extract, compare */
    MC_EV_LOGLIK   /* log-likelihood of each choice (echo + logprobs) */
} mc_ev_method;

typedef enum mc_ev_style {
    MC_EV_STYLE_DEFAULT = 0, /* moecap's templates (docs/EVAL.md section 3) */
    MC_EV_STYLE_MOECAP_REF   /* the MoE-CAP reference's system prompts and templates */
} mc_ev_style;

typedef enum mc_ev_metric {
    MC_EV_METRIC_NONE = 0,  /* workload only */
    MC_EV_METRIC_NUMERIC,   /* GSM8K extraction + numeric equality */
    MC_EV_METRIC_LETTER,    /* choice letter extraction */
    MC_EV_METRIC_EXACT,     /* normalised exact match of the whole response */
    MC_EV_METRIC_F1,        /* token F1 (and EM) against the answer */
    MC_EV_METRIC_LONGBENCH, /* EM, F1 and the subset's official metric */
    MC_EV_METRIC_LOGLIK     /* acc and acc_norm of the log-likelihood choice */
} mc_ev_metric;

mc_err mc_ev_metric_parse(const char *s, mc_ev_metric *out, mc_diag *d);
const char *mc_ev_metric_name(mc_ev_metric m);

typedef struct mc_ev_msg {
    const char *role; /* "system", "user", "assistant" (static strings) */
    char *content;
} mc_ev_msg;

/* A rendered prompt. Generation: msgs (chat endpoint) or text (completions). Log-likelihood:
 * context + one continuation per choice (scored on the completions endpoint). */
typedef struct mc_ev_prompt {
    mc_ev_msg *msgs;
    size_t n_msgs;
    char *text;
    char *context;
    char **conts;
    size_t n_conts;
    const char *const *stop; /* stop strings for completions (static), NULL-terminated or NULL */
} mc_ev_prompt;

typedef struct mc_ev_prompt_opts {
    mc_ev_task task;
    mc_ev_method method;
    mc_ev_style style;
    mc_lg_endpoint endpoint;
    const char *system; /* replaces the template's system prompt when non-NULL ("" = none) */
} mc_ev_prompt_opts;

/* Builds the prompt of item it with the given exemplars (never the item itself).
 * MC_ERR_UNSUPPORTED for a combination that has no prompt (e.g. moecap-ref for HellaSwag,
 * log-likelihood for an item without choices, a Chinese LongBench subset). */
mc_err mc_ev_prompt_build(const mc_ev_prompt_opts *o, const mc_ds_item *it,
                          const mc_ds_item *const *shots, size_t n_shots, mc_ev_prompt *out,
                          mc_diag *d);
void mc_ev_prompt_deinit(mc_ev_prompt *p);
/* The prompt as one string for the per-item record: the completions text, or the chat
 * messages as a JSON array. Heap (mc_free); NULL when out of memory. */
char *mc_ev_prompt_render(const mc_ev_prompt *p);

/* The MoE-CAP reference's LongBench v1 system instruction and user template for a subset
 * (unknown subsets get its defaults), and LongBench's own prompt template (dataset2prompt);
 * NULL for an unknown subset. Templates hold {context} and {input}. */
const char *mc_ev_ref_lb_system(const char *dataset);
const char *mc_ev_ref_lb_user(const char *dataset);
const char *mc_ev_lb_template(const char *dataset);
/* LongBench's max_new_tokens for a subset (dataset2maxlen), 0 when unknown. */
uint32_t mc_ev_lb_max_tokens(const char *dataset);

extern const char mc_ev_ref_gsm8k_system[];   /* the reference's GSM8K system prompt */
extern const char mc_ev_ref_default_system[]; /* "Output the answer directly without ..." */

/* ==== request bodies and echo responses (body.c, echo.c) ===================================== */

typedef struct mc_ev_gen_opts {
    mc_lg_endpoint endpoint;
    const char *model; /* NULL: omitted */
    uint32_t max_tokens;
    double temperature;
    double top_p; /* < 0: omitted */
    int64_t seed; /* < 0: omitted */
    int stream;   /* also asks for usage in the stream */
} mc_ev_gen_opts;

/* A generation request body (heap JSON text). */
char *mc_ev_body_gen(const mc_ev_gen_opts *o, const mc_ev_prompt *p);
/* A /v1/completions body that echoes the prompt with its log-probabilities: {"prompt": text,
 * "echo": true, "logprobs": top_n, "max_tokens": max_tokens, "temperature": 0}. */
char *mc_ev_body_echo(const char *model, const char *text, size_t len, int top_n, int max_tokens);

typedef struct mc_ev_top {
    char *tok;
    double lp;
} mc_ev_top;

/* The prompt part of an echo response: n tokens, their text, byte offsets into the prompt,
 * log-probabilities (NAN for the first token, which has none) and top alternatives. */
typedef struct mc_ev_echo {
    size_t n;
    size_t prompt_len; /* bytes of the prompt */
    char **tok;
    size_t *off; /* byte offset of each token in the prompt (converted when the server counts
                    characters) */
    double *lp;
    mc_ev_top **top; /* per token, n_top[i] entries (NULL when not requested) */
    size_t *n_top;
    int char_offsets; /* the server's text_offset counted characters, not bytes */
} mc_ev_echo;

/* Parses choices[0].logprobs {tokens, token_logprobs, top_logprobs, text_offset} of an echo
 * response to prompt[0..plen). Tokens at or past the prompt's end (generated) are dropped.
 * MC_ERR_FORMAT with a message when the response has no prompt log-probabilities or they do
 * not line up with the prompt. */
mc_err mc_ev_echo_parse(const char *body, size_t len, const char *prompt, size_t plen,
                        mc_ev_echo *out, mc_diag *d);
void mc_ev_echo_deinit(mc_ev_echo *e);
/* Sum of the log-probabilities of the tokens that hold the bytes from `from` to the prompt's
 * end (a token that straddles `from` counts). MC_ERR_FORMAT when a token in the span has no
 * log-probability or the span is empty. */
mc_err mc_ev_echo_span(const mc_ev_echo *e, size_t from, double *sum, size_t *n_tokens, mc_diag *d);

/* ==== HTTP pool for whole-body JSON requests (http.c) ====================================== */

typedef struct mc_ev_http_res {
    uint64_t id;
    int status;       /* HTTP status, 0 when none */
    const char *body; /* response body (valid during the callback) */
    size_t len;
    mc_lg_fail fail; /* MC_LG_OK, connect, http_status, timeout, malformed (body too large),
                        cancelled, other */
    const char *message;
    mc_ns send_ns, end_ns;
} mc_ev_http_res;

/* Body of request id (heap; the pool frees it); NULL = out of memory. */
typedef char *(*mc_ev_http_body_fn)(uint64_t id, size_t *len, void *ctx);
typedef void (*mc_ev_http_done_fn)(const mc_ev_http_res *r, void *ctx);

typedef struct mc_ev_http_opts {
    const char *url;
    const char *api_key;
    uint32_t concurrency;              /* 0 = 8 */
    double timeout_s;                  /* 0 = none */
    size_t max_body_bytes;             /* 0 = 64 MiB */
    const volatile sig_atomic_t *stop; /* non-zero: stop sending, cancel what is in flight */
} mc_ev_http_opts;

/* Sends requests 0..n-1 with at most `concurrency` in flight; done is called once per request
 * (failures included). *stopped is set when the stop flag ended the run early. */
mc_err mc_ev_http_run(const mc_ev_http_opts *o, uint64_t n, mc_ev_http_body_fn body,
                      mc_ev_http_done_fn done, void *ctx, int *stopped, mc_diag *d);

/* ==== one evaluation run (run.c, run_ll.c) =================================================== */

/* One scored (or recorded) item, passed to the on_item callback as soon as it is final.
 * Pointers are valid during the callback only. */
typedef struct mc_ev_result {
    size_t index; /* into the data set (mc_ds_at) */
    const mc_ds_item *item;
    const char *prompt;   /* mc_ev_prompt_render of the prompt (or the log-likelihood
                             context) */
    const char *response; /* generated text; NULL for log-likelihood */
    size_t response_len;
    const char *extracted; /* extracted answer; NULL when none could be extracted */
    const char *rule;      /* the extraction rule that fired ("" when none) */
    const char *gold;      /* the gold answer */
    int scored;            /* 0: workload-only item (no gold) */
    int correct;           /* acc (log-likelihood: the raw argmax) */
    double score;          /* per-item score in [0, 1]: correct, or F1 (LongBench, f1) */
    int em;                /* exact match (LongBench, exact, f1) */
    int has_em;            /* em is a figure of its own (text metrics), not a copy of correct */
    double official;       /* LongBench official metric, NAN when not implemented */
    size_t shots;          /* exemplars in the prompt */
    int failed;            /* a request failed: the item counts as wrong */
    mc_lg_fail fail;
    const char *error; /* "" when none */
    /* log-likelihood */
    size_t n_choices;
    const double *ll; /* [n_choices] summed log-probabilities */
    const size_t *cont_bytes;
    const size_t *cont_tokens;
    int pred, pred_norm; /* -1 when failed */
    int correct_norm;
    /* request timing (generation): seconds; NAN when undefined */
    double ttft_s, e2e_s;
    int64_t in_tokens, out_tokens; /* usage; -1 when the server sent none */
    const char *finish_reason;
} mc_ev_result;

typedef void (*mc_ev_on_item)(const mc_ev_result *r, void *ctx);

typedef struct mc_ev_opts {
    mc_ev_task task;
    mc_ev_method method;
    mc_ev_style style;
    mc_ev_metric metric;     /* MC_EV_METRIC_NONE = the task's default */
    const char *url;         /* server as the user gave it (root, /v1 or an endpoint) */
    mc_lg_endpoint endpoint; /* generation endpoint (log-likelihood always uses completions) */
    const char *model;       /* sent as "model"; NULL = omitted */
    const char *api_key;
    uint32_t max_tokens; /* 0 = the task's default (LongBench: per subset) */
    double temperature;
    double top_p; /* < 0: not sent */
    int64_t seed; /* < 0: not sent */
    int stream;
    uint32_t concurrency;  /* 0 = 8 */
    double timeout_s;      /* 0 = 600 */
    uint32_t fewshot;      /* exemplars per prompt */
    uint64_t shot_seed;    /* which exemplars, when drawn from a pool */
    const char *system;    /* system prompt override (NULL = the template's) */
    int ll_max_tokens;     /* max_tokens of echo requests: 1 (default) or 0 */
    size_t max_text_bytes; /* generated text kept per request; 0 = 256 KiB */
    const volatile sig_atomic_t *stop;
    mc_ev_on_item on_item;
    void *ctx;
} mc_ev_opts;

/* Accumulated outcomes of a set of items (all, or one category). */
typedef struct mc_ev_tally {
    uint64_t n;       /* items */
    uint64_t scored;  /* items with a gold answer */
    uint64_t correct; /* acc numerator (failed items count as wrong) */
    uint64_t correct_norm;
    uint64_t em;
    uint64_t failed;    /* items whose request failed */
    uint64_t no_answer; /* responses from which no answer could be extracted */
    double sum, sumsq;  /* per-item scores */
    double off_sum, off_sumsq;
    uint64_t off_n; /* items with an official LongBench metric */
} mc_ev_tally;

void mc_ev_tally_add(mc_ev_tally *t, const mc_ev_result *r);

typedef struct mc_ev_category {
    const char *name;
    mc_ev_tally t;
} mc_ev_category;

typedef struct mc_ev mc_ev;

/* Plans a run over the selected items of ds: the few-shot exemplars of every item come from
 * shots (a separate split, e.g. MMLU-Pro validation; same category where the task has
 * categories) or, when shots is NULL, from the items of ds that are not selected; when every
 * item is selected, fewshot items are drawn (seeded) and removed from the scored set. Checks
 * that every item has a prompt. No request is sent. */
mc_err mc_ev_new(const mc_ev_opts *o, const mc_ds *ds, const mc_ds *shots, mc_ev **out, mc_diag *d);
void mc_ev_free(mc_ev *ev);
/* Log-likelihood runs: sends the first request alone and checks that the server returns prompt
 * log-probabilities (MC_ERR_NET with the reason when not). A no-op for generation. mc_ev_run
 * calls it when the caller did not. */
mc_err mc_ev_probe(mc_ev *ev, mc_diag *d);
/* Sends every request and reports every item through on_item. */
mc_err mc_ev_run(mc_ev *ev, mc_diag *d);

size_t mc_ev_n_items(const mc_ev *ev);         /* items to score */
const char *mc_ev_shots_note(const mc_ev *ev); /* where the exemplars came from */
/* ds indices of exemplars removed from the scored set (when drawn from it). */
const size_t *mc_ev_excluded(const mc_ev *ev, size_t *n);
const mc_ev_tally *mc_ev_total(const mc_ev *ev);
const mc_ev_category *mc_ev_categories(const mc_ev *ev, size_t *n);
mc_ev_metric mc_ev_metric_used(const mc_ev *ev);
int mc_ev_stopped(const mc_ev *ev);
uint32_t mc_ev_max_tokens(const mc_ev *ev); /* 0 when per item (LongBench) */
const char *mc_ev_endpoint_url(const mc_ev *ev);

/* Performance of the run's requests, from the client's timestamps through src/cap
 * (docs/METRICS.md latency.*, throughput.requests). Fields are NAN when undefined. */
typedef struct mc_ev_perf {
    uint64_t requests, ok, failed;
    double duration_s;
    double ttft_mean_s, ttft_p50_s, ttft_p99_s;
    double tpot_mean_s, tpot_p50_s, tpot_p99_s;
    double e2e_mean_s, e2e_p50_s, e2e_p99_s;
    double req_per_s, out_tok_per_s;
    int64_t in_tokens, out_tokens;
} mc_ev_perf;

mc_err mc_ev_perf_of(const mc_ev *ev, mc_ev_perf *out, mc_diag *d);

/* ==== reports (report.c, sha256.c) ========================================================== */

/* One per-item line (without the newline): unformatted JSON, heap (mc_free). */
char *mc_ev_result_json(const mc_ev_result *r, int with_prompt);
/* The accuracy figures of a tally as a JSON object text (heap): acc, acc_norm, em, f1,
 * official, with stderr and ci95 (docs/EVAL.md section 5). */
struct cJSON;
struct cJSON *mc_ev_tally_json(const mc_ev_tally *t, mc_ev_metric m);

/* SHA-256 of a file as 64 lowercase hex digits (OpenSSL libcrypto). */
mc_err mc_ev_sha256_file(const char *path, char hex[65], mc_diag *d);

/* ==== fidelity (fidelity.c, fidelity_http.c, fidelity_engine.c) ============================= */

/* Accumulates, over next-token positions, the KL divergence KL(P_ref || P_cand), whether the
 * two argmax tokens agree, and the log-likelihood of the actual next token under each model
 * (docs/METRICS.md fidelity.*). */
typedef struct mc_fid {
    uint64_t n; /* positions */
    double kl_sum, kl_sumsq, kl_max;
    uint64_t agree;
    double nll_ref, nll_cand; /* sums of -log p(actual token) */
    uint64_t n_nll;
    double missing_ref_sum; /* top-N: probability mass outside the reference's list */
    uint64_t cand_missing;  /* top-N: reference tokens absent from the candidate's list */
    uint64_t ref_tokens;    /* top-N: reference tokens looked up in the candidate's list */
} mc_fid;

void mc_fid_init(mc_fid *f);
/* One position from full logits (vocab entries each). next = the actual next token, or -1. */
void mc_fid_add_logits(mc_fid *f, const float *ref, const float *cand, int64_t vocab, int32_t next);
/* One position from top-N lists (docs/EVAL.md section 6.2: the reference's listed tokens plus
 * one "rest" bucket; candidate probabilities missing from its list are bounded by its smallest
 * listed one and the mass it leaves). lp_* = the actual token's log-probability (NAN: none). */
void mc_fid_add_top(mc_fid *f, const mc_ev_top *ref, size_t nr, const mc_ev_top *cand, size_t nc,
                    double lp_ref, double lp_cand);

typedef struct mc_fid_result {
    uint64_t positions;
    double kl_mean, kl_stderr, kl_max;
    double top1_agree;
    double ppl_ref, ppl_cand, ppl_ratio; /* exp(mean NLL); ratio = cand / ref */
    uint64_t nll_positions;
    double missing_ref_mean;  /* top-N only */
    double cand_missing_frac; /* top-N only */
} mc_fid_result;

void mc_fid_result_of(const mc_fid *f, mc_fid_result *out);

/* Texts to compare on: a file split into segments of at most max_bytes at paragraph or line
 * boundaries (each segment is one sequence). */
typedef struct mc_fid_texts {
    char **seg;
    size_t n;
} mc_fid_texts;

mc_err mc_fid_texts_split(const char *text, size_t len, size_t max_bytes, mc_fid_texts *out,
                          mc_diag *d);
void mc_fid_texts_deinit(mc_fid_texts *t);

typedef struct mc_fid_opts {
    const char *ref, *cand;             /* URL (http:// or https://) or a GGUF path */
    const char *ref_model, *cand_model; /* "model" sent to servers; NULL = omitted */
    const char *api_key;
    int top_n;           /* HTTP: top log-probabilities requested (default 20) */
    uint64_t max_tokens; /* stop after this many positions (0 = all) */
    uint32_t concurrency;
    double timeout_s;
    int threads; /* engine threads (0 = all) */
    const volatile sig_atomic_t *stop;
} mc_fid_opts;

/* Both sides over HTTP (same tokenizer required: every sequence must come back as the same
 * tokens from both servers). */
mc_err mc_fid_run_http(const mc_fid_opts *o, const mc_fid_texts *t, mc_fid *f, mc_diag *d);
/* Both sides in-process with the engine (full distributions). MC_ERR_UNSUPPORTED when this
 * build has no engine. */
mc_err mc_fid_run_engine(const mc_fid_opts *o, const mc_fid_texts *t, mc_fid *f, mc_diag *d);
int mc_fid_have_engine(void);

#endif
