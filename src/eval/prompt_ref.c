/* prompt_ref.c: prompt texts that other projects define and moecap reproduces verbatim so its
 * scores are comparable: LongBench v1's per-subset prompt templates and output lengths
 * (THUDM/LongBench config/dataset2prompt.json, dataset2maxlen.json; English subsets only), and
 * the MoE-CAP reference's system prompts and LongBench user templates (Auto-CAP/MoE-CAP
 * moe_cap/data_loader, see ../shared/reference/moecap-reference.md section 5.1). Data only:
 * depends on libc. */
#include "eval.h"

#include <string.h>

const char mc_ev_ref_gsm8k_system[] =
    "Solve the math problem. End your response with a line of the form '#### <number>' "
    "containing only the final numeric answer (no units, no commas, no currency symbols).";

const char mc_ev_ref_default_system[] = "Output the answer directly without description.";

/* ---- LongBench v1 (dataset2prompt.json) --------------------------------------------------- */

#define LB_ONLY "Only give me the answer and do not output any other words."
#define LB_PASSAGES                                                                                \
    "Answer the question based on the given passages. " LB_ONLY "\n\nThe following are given "     \
    "passages.\n{context}\n\nAnswer the question based on the given passages. " LB_ONLY            \
    "\n\nQuestion: {input}\nAnswer:"
#define LB_QASPER_RULES                                                                            \
    "Answer the question as concisely as you can, using a single phrase or sentence if "           \
    "possible. If the question cannot be answered based on the information in the article, "       \
    "write \"unanswerable\". If the question is a yes/no question, answer \"yes\", \"no\", or "    \
    "\"unanswerable\". Do not provide any explanation."
#define LB_NARR_RULES                                                                              \
    "as concisely as you can, using a single phrase if possible. Do not provide any "              \
    "explanation."

static const struct {
    const char *name, *tmpl;
    uint32_t max_tokens;
} lb[] = {
    {"narrativeqa",
     "You are given a story, which can be either a novel or a movie script, and a question. "
     "Answer the question " LB_NARR_RULES "\n\nStory: {context}\n\nNow, answer the question "
     "based on the story " LB_NARR_RULES "\n\nQuestion: {input}\n\nAnswer:",
     128},
    {"qasper",
     "You are given a scientific article and a question. " LB_QASPER_RULES
     "\n\nArticle: {context}\n\n Answer the question based on the above article as concisely as "
     "you can, using a single phrase or sentence if possible. If the question cannot be "
     "answered based on the information in the article, write \"unanswerable\". If the question "
     "is a yes/no question, answer \"yes\", \"no\", or \"unanswerable\". Do not provide any "
     "explanation.\n\nQuestion: {input}\n\nAnswer:",
     128},
    {"multifieldqa_en",
     "Read the following text and answer briefly.\n\n{context}\n\nNow, answer the following "
     "question based on the above text, only give me the answer and do not output any other "
     "words.\n\nQuestion: {input}\nAnswer:",
     64},
    {"hotpotqa", LB_PASSAGES, 32},
    {"2wikimqa", LB_PASSAGES, 32},
    {"musique", LB_PASSAGES, 32},
    {"gov_report",
     "You are given a report by a government agency. Write a one-page summary of the "
     "report.\n\nReport:\n{context}\n\nNow, write a one-page summary of the report.\n\nSummary:",
     512},
    {"qmsum",
     "You are given a meeting transcript and a query containing a question or instruction. "
     "Answer the query in one or more sentences.\n\nTranscript:\n{context}\n\nNow, answer the "
     "query based on the above meeting transcript in one or more sentences.\n\nQuery: "
     "{input}\nAnswer:",
     512},
    {"multi_news",
     "You are given several news passages. Write a one-page summary of all news. "
     "\n\nNews:\n{context}\n\nNow, write a one-page summary of all the news.\n\nSummary:",
     512},
    {"trec",
     "Please determine the type of the question below. Here are some examples of "
     "questions.\n\n{context}\n{input}",
     64},
    {"triviaqa",
     "Answer the question based on the given passage. " LB_ONLY " The following are some "
     "examples.\n\n{context}\n\n{input}",
     32},
    {"samsum",
     "Summarize the dialogue into a few short sentences. The following are some "
     "examples.\n\n{context}\n\n{input}",
     128},
    {"passage_count",
     "There are some paragraphs below sourced from Wikipedia. Some of them may be duplicates. "
     "Please carefully read these paragraphs and determine how many unique paragraphs there "
     "are after removing duplicates. In other words, how many non-repeating paragraphs are "
     "there in total?\n\n{context}\n\nPlease enter the final count of unique paragraphs after "
     "removing duplicates. The output format should only contain the number, such as 1, 2, 3, "
     "and so on.\n\nThe final answer is: ",
     32},
    {"passage_retrieval_en",
     "Here are 30 paragraphs from Wikipedia, along with an abstract. Please determine which "
     "paragraph the abstract is from.\n\n{context}\n\nThe following is an "
     "abstract.\n\n{input}\n\nPlease enter the number of the paragraph that the abstract is "
     "from. The answer format must be like \"Paragraph 1\", \"Paragraph 2\", etc.\n\nThe answer "
     "is: ",
     32},
    {"lcc", "Please complete the code given below. \n{context}Next line of code:\n", 64},
    {"repobench-p", "Please complete the code given below. \n{context}{input}Next line of code:\n",
     64},
};

static int lb_find(const char *dataset)
{
    for (size_t i = 0; dataset && i < sizeof lb / sizeof lb[0]; i++)
        if (strcmp(dataset, lb[i].name) == 0)
            return (int)i;
    return -1;
}

const char *mc_ev_lb_template(const char *dataset)
{
    int i = lb_find(dataset);
    return i < 0 ? NULL : lb[i].tmpl;
}

uint32_t mc_ev_lb_max_tokens(const char *dataset)
{
    int i = lb_find(dataset);
    return i < 0 ? 0 : lb[i].max_tokens;
}

/* ---- the MoE-CAP reference's LongBench v1 prompts ------------------------------------------ */

static const struct {
    const char *name, *system, *user;
} ref_lb[] = {
    {"narrativeqa",
     "Answer the question as concisely as you can, using a single phrase if possible. Do not "
     "provide any explanation.",
     "Story:\n{context}\n\nQuestion: {input}\n\nAnswer:"},
    {"qasper",
     "Answer the question as concisely as you can, using a single phrase or sentence if "
     "possible. If the question asks about specific methods or terms, list the exact names "
     "mentioned in the article. If the question cannot be answered, write \"None\". If yes/no "
     "question, answer \"yes\", \"no\", or \"None\". Do not provide any explanation.",
     "Article:\n{context}\n\nQuestion: {input}\n\nAnswer:"},
    {"multifieldqa_en", LB_ONLY, "{context}\n\nQuestion: {input}\nAnswer:"},
    {"hotpotqa", LB_ONLY,
     "The following are given passages.\n{context}\n\nQuestion: {input}\nAnswer:"},
    {"2wikimqa", LB_ONLY,
     "The following are given passages.\n{context}\n\nQuestion: {input}\nAnswer:"},
    {"musique", LB_ONLY,
     "The following are given passages.\n{context}\n\nQuestion: {input}\nAnswer:"},
    {"trec", "Determine the type of the question. Only output the type.",
     "Here are some examples of questions.\n\n{context}\n{input}"},
    {"triviaqa", LB_ONLY, "The following are some examples.\n\n{context}\n\n{input}"},
    {"samsum", "Summarize the dialogue into a few short sentences.",
     "The following are some examples.\n\n{context}\n\n{input}"},
    {"passage_retrieval_en", "Answer the question based on the given paragraphs.",
     "{context}\n\n{input}"},
    {"repobench-p", "Output only the next single line of code, nothing else.",
     "{context}{input}Next line of code:\n"},
    {"qmsum", "Answer the query in one or more sentences.",
     "Transcript:\n{context}\n\nQuery: {input}\nAnswer:"},
};

static int ref_find(const char *dataset)
{
    for (size_t i = 0; dataset && i < sizeof ref_lb / sizeof ref_lb[0]; i++)
        if (strcmp(dataset, ref_lb[i].name) == 0)
            return (int)i;
    return -1;
}

const char *mc_ev_ref_lb_system(const char *dataset)
{
    int i = ref_find(dataset);
    return i < 0 ? mc_ev_ref_default_system : ref_lb[i].system;
}

const char *mc_ev_ref_lb_user(const char *dataset)
{
    int i = ref_find(dataset);
    return i < 0 ? "Context:\n{context}\n\nQuestion: {input}\nAnswer:" : ref_lb[i].user;
}
