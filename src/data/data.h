/* data: evaluation data set loaders for `moecap eval` (docs/EVAL.md section 2).
 *
 * Reads the files the user points at into one list of items with a uniform shape: GSM8K JSONL,
 * MMLU-Pro JSONL, HellaSwag (the 6-lines-per-task text form, bzip2-compressed or not, and the
 * official JSONL), MMLU and ARC (JSONL and CSV layouts), LongBench v1 JSONL, MT-bench questions
 * and ShareGPT prompts (workload-only: no gold answer), and custom JSONL with a declared schema.
 * JSONL is split on '\n' only (a record may contain U+0085 or U+2028 inside a string).
 *
 * Bad records (invalid JSON, missing fields, wrong types) are reported as "file:line: problem"
 * and skipped, or fail the load with opts.strict. A data set with no valid item is an error.
 * After loading, a selection (the first --limit items, or a seeded --sample) names the items to
 * score; the rest stay available (few-shot exemplars must never be scored items).
 *
 * Ownership: an mc_ds owns every string and array of its items (one arena); item pointers live
 * until mc_ds_free. Thread safety: a loaded mc_ds is read-only and may be shared. */
#ifndef MC_DATA_H
#define MC_DATA_H

#include "base.h"

#include <stddef.h>
#include <stdint.h>

typedef enum mc_ds_fmt {
    MC_DS_AUTO = 0,  /* from the file name and the first record */
    MC_DS_GSM8K,     /* JSONL {question, answer "... #### n"} */
    MC_DS_MMLU_PRO,  /* JSONL {question_id, question, options, answer, answer_index, category,
                        cot_content} */
    MC_DS_HELLASWAG, /* text: "label: ctx", gold digit, 4 endings (bz2 or plain); or JSONL
                        {ctx | ctx_a + ctx_b, endings, label, activity_label} */
    MC_DS_MMLU,      /* JSONL {question, choices, answer (index or letter), subject}; CSV */
    MC_DS_ARC,       /* JSONL {id, question, choices {text, label}, answerKey} (HF) or
                        {id, question {stem, choices [{text, label}]}, answerKey}; CSV */
    MC_DS_LONGBENCH, /* JSONL {_id, input, context, answers, all_classes, dataset} */
    MC_DS_MT_BENCH,  /* JSONL {question_id, category, turns}: turns[0]; no gold */
    MC_DS_SHAREGPT,  /* JSON array [{id, conversations [{from, value}]}]: first human turn */
    MC_DS_CUSTOM,    /* JSONL with the fields named in mc_ds_fields */
    MC_DS_FMT_COUNT_
} mc_ds_fmt;

/* "auto", "gsm8k", "mmlu-pro", "hellaswag", "mmlu", "arc", "longbench", "mt-bench",
 * "sharegpt", "custom"; MC_ERR_ARG for anything else. */
mc_err mc_ds_fmt_parse(const char *s, mc_ds_fmt *out, mc_diag *d);
const char *mc_ds_fmt_name(mc_ds_fmt f);

/* One item. Strings are NUL-terminated UTF-8 as found in the file; NULL when absent. */
typedef struct mc_ds_item {
    const char *id;      /* question_id, _id, id, or "<line>" / "<task index>" when absent */
    const char *text;    /* question; HellaSwag context; MT-bench / ShareGPT / custom prompt */
    const char *context; /* LongBench context; custom --field context */
    const char *const *choices; /* options / endings (MMLU-Pro "N/A" padding dropped) */
    size_t n_choices;
    int gold;                   /* index into choices; -1 when the item has no choices */
    const char *answer;         /* gold answer: GSM8K number text after "####"; choice letter;
                                   custom answer field; NULL for workload-only items */
    const char *solution;       /* GSM8K worked solution (without the "#### n" line); MMLU-Pro
                                   cot_content ("" in the test split); NULL when absent */
    const char *const *answers; /* LongBench: every accepted answer */
    size_t n_answers;
    const char *const *classes; /* LongBench all_classes (trec...); NULL when null */
    size_t n_classes;
    const char *category; /* MMLU-Pro category, MMLU subject, LongBench dataset, MT-bench
                             category, HellaSwag activity label */
    const char *file;     /* the file it came from */
    uint64_t line;        /* 1-based line (CSV: first line of the record; HellaSwag text: the
                             context line) */
} mc_ds_item;

/* Custom JSONL schema: record keys (a dotted path "a.b" walks nested objects). prompt is
 * required; the rest are optional. gold may be an index (number) or a letter. */
typedef struct mc_ds_fields {
    const char *prompt, *answer, *id, *choices, *gold, *category, *context;
} mc_ds_fields;

typedef struct mc_ds_opts {
    mc_ds_fmt fmt;
    int strict;      /* a bad record fails the load instead of being skipped */
    uint64_t limit;  /* select the first N valid items (0 = no limit) */
    uint64_t sample; /* select N items at random (seeded, without replacement), kept in
                        file order; 0 = none. limit and sample exclude each other. */
    uint64_t seed;
    const char *category;  /* select only items of this category (exact match; limit and sample
                              then apply among them); NULL = every item */
    mc_ds_fields fields;   /* MC_DS_CUSTOM */
    size_t max_file_bytes; /* per file, after decompression; 0 = 1 GiB */
} mc_ds_opts;

typedef struct mc_ds mc_ds;

/* Loads every path in order (each is a file; use mc_ds_glob for patterns) into one data set
 * and makes the selection. Errors: MC_ERR_IO (cannot read), MC_ERR_FORMAT (a bad record with
 * strict, an undetectable format, no valid item, bad bzip2 stream), MC_ERR_ARG (options),
 * MC_ERR_RANGE (file too large), MC_ERR_NOMEM. */
mc_err mc_ds_load(const char *const *paths, size_t n_paths, const mc_ds_opts *o, mc_ds **out,
                  mc_diag *d);
void mc_ds_free(mc_ds *ds);

mc_ds_fmt mc_ds_format(const mc_ds *ds); /* the format used (detected when AUTO) */
size_t mc_ds_count(const mc_ds *ds);     /* every valid item */
const mc_ds_item *mc_ds_at(const mc_ds *ds, size_t i);
/* The selected items' indices into mc_ds_at, ascending; *n of them. */
const size_t *mc_ds_selected(const mc_ds *ds, size_t *n);
int mc_ds_is_selected(const mc_ds *ds, size_t i);

/* Bad records skipped, and the first few messages ("file:line: problem"). */
uint64_t mc_ds_skipped(const mc_ds *ds);
size_t mc_ds_n_warnings(const mc_ds *ds);
const char *mc_ds_warning(const mc_ds *ds, size_t i);
size_t mc_ds_n_files(const mc_ds *ds);
const char *mc_ds_file(const mc_ds *ds, size_t i);

/* Expands a shell glob (a plain path is returned as is when it exists) into a heap array of
 * heap strings, sorted; free with mc_ds_paths_free. MC_ERR_NOT_FOUND when nothing matches. */
mc_err mc_ds_glob(const char *pattern, char ***paths, size_t *n, mc_diag *d);
void mc_ds_paths_free(char **paths, size_t n);

/* ---- helpers shared with the eval module (and tested on their own) ---- */

/* The letter of choice i ('A' + i) for i < 26, else '?'. */
char mc_ds_letter(size_t i);
/* Reads a whole file, decompressing bzip2 (detected by its "BZh" magic) with libbz2.
 * *out is NUL-terminated, heap (mc_free). */
mc_err mc_ds_read_file(const char *path, size_t max, char **out, size_t *len, mc_diag *d);

#endif
