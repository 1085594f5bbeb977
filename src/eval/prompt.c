/* prompt.c: tasks and their prompts. Zero- and few-shot templates per task, rendered for the
 * completions endpoint (one text, exemplars joined by blank lines) or the chat endpoint
 * (system message, then one user/assistant pair per exemplar, then the question); the
 * log-likelihood form (a context and one continuation per choice); and the MoE-CAP
 * reference's prompts (--prompt-style moecap-ref). Texts are in docs/EVAL.md section 3.
 * Depends on base, data and cJSON (rendering chat messages for the records). */
#include "eval.h"

#include <cjson/cJSON.h>
#include <string.h>

static const char *const task_names[MC_EV_TASK_COUNT_] = {
    "gsm8k", "mmlu-pro", "hellaswag", "mmlu", "arc", "longbench", "mt-bench", "sharegpt", "custom"};

static const mc_ds_fmt task_fmts[MC_EV_TASK_COUNT_] = {
    MC_DS_GSM8K,     MC_DS_MMLU_PRO, MC_DS_HELLASWAG, MC_DS_MMLU,  MC_DS_ARC,
    MC_DS_LONGBENCH, MC_DS_MT_BENCH, MC_DS_SHAREGPT,  MC_DS_CUSTOM};

mc_err mc_ev_task_parse(const char *s, mc_ev_task *out, mc_diag *d)
{
    for (int t = 0; t < MC_EV_TASK_COUNT_; t++)
        if (strcmp(s, task_names[t]) == 0) {
            *out = (mc_ev_task)t;
            return MC_OK;
        }
    return mc_fail(d, MC_ERR_ARG,
                   "unknown task '%s' (gsm8k, mmlu-pro, hellaswag, mmlu, arc, longbench, "
                   "mt-bench, sharegpt, custom)",
                   s);
}

const char *mc_ev_task_name(mc_ev_task t)
{
    return t < MC_EV_TASK_COUNT_ ? task_names[t] : "?";
}

mc_ds_fmt mc_ev_task_format(mc_ev_task t)
{
    return t < MC_EV_TASK_COUNT_ ? task_fmts[t] : MC_DS_AUTO;
}

static const char *const metric_names[] = {"none", "numeric",   "letter", "exact",
                                           "f1",   "longbench", "loglik"};

mc_err mc_ev_metric_parse(const char *s, mc_ev_metric *out, mc_diag *d)
{
    for (int m = 0; m <= MC_EV_METRIC_LOGLIK; m++)
        if (strcmp(s, metric_names[m]) == 0) {
            *out = (mc_ev_metric)m;
            return MC_OK;
        }
    return mc_fail(d, MC_ERR_ARG,
                   "unknown metric '%s' (none, numeric, letter, exact, f1, longbench, loglik)", s);
}

const char *mc_ev_metric_name(mc_ev_metric m)
{
    return m <= MC_EV_METRIC_LOGLIK ? metric_names[m] : "?";
}

/* ---- building blocks ------------------------------------------------------------------------ */

typedef struct pb {
    const mc_ev_prompt_opts *o;
    mc_ev_prompt *p;
    mc_buf text; /* completions text / log-likelihood context */
    int bad;     /* out of memory */
} pb;

static void put(pb *b, const char *s)
{
    b->bad |= mc_buf_append(&b->text, s, strlen(s)) != MC_OK;
}

static void putn(pb *b, const char *s, size_t n)
{
    b->bad |= mc_buf_append(&b->text, s, n) != MC_OK;
}

/* Appends a chat message (content copied). */
static void msg(pb *b, const char *role, const char *content)
{
    mc_ev_prompt *p = b->p;
    mc_ev_msg *m = mc_reallocarray(p->msgs, p->n_msgs + 1, sizeof *m);
    char *c = m ? mc_strdup(content) : NULL;
    if (m)
        p->msgs = m;
    if (!c) {
        b->bad = 1;
        return;
    }
    p->msgs[p->n_msgs++] = (mc_ev_msg){role, c};
}

/* Takes the text built so far as a chat message and empties the buffer. */
static void msg_take(pb *b, const char *role)
{
    msg(b, role, b->text.data ? b->text.data : "");
    mc_buf_reset(&b->text);
}

static void options(pb *b, const mc_ds_item *it)
{
    for (size_t i = 0; i < it->n_choices; i++) {
        char l[4] = {mc_ds_letter(i), '.', ' ', 0};
        put(b, l);
        put(b, it->choices[i]);
        put(b, "\n");
    }
}

static void subject(pb *b, const char *cat)
{
    for (const char *c = cat; c && *c; c++)
        putn(b, *c == '_' ? " " : c, 1);
}

/* Fills a template's {context} and {input}. */
static void fill(pb *b, const char *tmpl, const mc_ds_item *it)
{
    for (const char *p = tmpl; *p;) {
        if (strncmp(p, "{context}", 9) == 0) {
            put(b, it->context ? it->context : "");
            p += 9;
        } else if (strncmp(p, "{input}", 7) == 0) {
            put(b, it->text);
            p += 7;
        } else {
            putn(b, p++, 1);
        }
    }
}

static int chat(const pb *b)
{
    return b->o->endpoint == MC_LG_CHAT && b->o->method == MC_EV_GEN;
}

/* The system prompt: the user's override, else the template's (NULL/"" = none). Completions
 * get it as the first paragraph. */
static void system_prompt(pb *b, const char *tmpl_system)
{
    const char *s = b->o->system ? b->o->system : tmpl_system;
    if (!s || !*s)
        return;
    if (chat(b)) {
        msg(b, "system", s);
    } else {
        put(b, s);
        put(b, "\n\n");
    }
}

/* ---- GSM8K -------------------------------------------------------------------------------- */

static const char *const stop_question[] = {"\n\nQuestion:", "\nQuestion:", NULL};
static const char *const stop_blank[] = {"\n\n", NULL};

static const char gsm8k_chat_instr[] =
    "Solve the following math problem step by step. End your response with a line of the form "
    "\"#### N\" where N is the final numeric answer.\n\nQuestion: ";

/* A worked solution without GSM8K's calculator annotations "<<48/2=24>>". */
static void solution(pb *b, const char *s)
{
    for (const char *p = s; *p;) {
        const char *a = strstr(p, "<<"), *z = a ? strstr(a + 2, ">>") : NULL;
        if (!z) {
            put(b, p);
            break;
        }
        putn(b, p, (size_t)(a - p));
        p = z + 2;
    }
}

static void gsm8k_shot(pb *b, const mc_ds_item *s)
{
    if (chat(b)) {
        put(b, gsm8k_chat_instr);
        put(b, s->text);
        msg_take(b, "user");
    } else {
        put(b, "Question: ");
        put(b, s->text);
        put(b, "\nAnswer: ");
    }
    if (s->solution && *s->solution) {
        solution(b, s->solution);
        put(b, "\n");
    }
    put(b, "#### ");
    put(b, s->answer);
    if (chat(b))
        msg_take(b, "assistant");
    else
        put(b, "\n\n");
}

static void gsm8k(pb *b, const mc_ds_item *it, const mc_ds_item *const *shots, size_t n)
{
    system_prompt(b, NULL);
    for (size_t i = 0; i < n; i++)
        gsm8k_shot(b, shots[i]);
    if (chat(b)) {
        put(b, gsm8k_chat_instr);
        put(b, it->text);
        msg_take(b, "user");
        return;
    }
    put(b, "Question: ");
    put(b, it->text);
    put(b, "\nAnswer:");
    b->p->stop = stop_question;
}

/* ---- MMLU-Pro (generation: chain of thought) ----------------------------------------------- */

static void mmlu_pro_block(pb *b, const mc_ds_item *it)
{
    put(b, "Question:\n");
    put(b, it->text);
    put(b, "\nOptions:\n");
    options(b, it);
}

/* An exemplar's reasoning: cot_content without its leading "A: ", or just the answer. */
static void mmlu_pro_cot(pb *b, const mc_ds_item *s)
{
    const char *c = s->solution;
    if (c && strncmp(c, "A: ", 3) == 0)
        c += 3;
    if (c && *c) {
        put(b, c);
        return;
    }
    put(b, "The answer is (");
    put(b, s->answer);
    put(b, ").");
}

static void mmlu_pro(pb *b, const mc_ds_item *it, const mc_ds_item *const *shots, size_t n)
{
    mc_buf instr;
    mc_buf_init(&instr, 0);
    b->bad |= mc_buf_printf(&instr,
                            "The following are multiple choice questions (with answers) about "
                            "%s. Think step by step and then finish your answer with \"the "
                            "answer is (X)\" where X is the correct letter choice.",
                            it->category ? it->category : "various subjects") != MC_OK;
    system_prompt(b, instr.data);
    mc_buf_deinit(&instr);
    for (size_t i = 0; i < n; i++) {
        mmlu_pro_block(b, shots[i]);
        if (chat(b))
            msg_take(b, "user");
        else
            put(b, "Answer: ");
        mmlu_pro_cot(b, shots[i]);
        if (chat(b))
            msg_take(b, "assistant");
        else
            put(b, "\n\n");
    }
    mmlu_pro_block(b, it);
    if (chat(b))
        msg_take(b, "user");
    else
        put(b, "Answer: Let's think step by step.");
}

/* ---- multiple choice by letter (MMLU, ARC, HellaSwag, custom with choices) ------------------- */

static const char mc_chat_tail[] = "Answer with the letter of the correct option only.";

static void mc_block(pb *b, const mc_ds_item *it, int hellaswag)
{
    put(b, hellaswag ? "Which ending completes the text best?\n" : "Question: ");
    put(b, it->text);
    put(b, "\n");
    options(b, it);
    put(b, chat(b) ? "\n" : "Answer:");
    if (chat(b))
        put(b, mc_chat_tail);
}

static void mc_letters(pb *b, const mc_ds_item *it, const mc_ds_item *const *shots, size_t n)
{
    int hs = b->o->task == MC_EV_HELLASWAG;
    mc_buf head;
    mc_buf_init(&head, 0);
    if (b->o->task == MC_EV_MMLU && it->category) {
        b->bad |= mc_buf_printf(&head, "The following are multiple choice questions (with "
                                       "answers) about ") != MC_OK;
        for (const char *c = it->category; *c; c++)
            b->bad |= mc_buf_append(&head, *c == '_' ? " " : c, 1) != MC_OK;
        b->bad |= mc_buf_append(&head, ".", 1) != MC_OK;
    }
    system_prompt(b, head.data);
    mc_buf_deinit(&head);
    for (size_t i = 0; i < n; i++) {
        mc_block(b, shots[i], hs);
        if (chat(b))
            msg_take(b, "user");
        char l[4] = {' ', shots[i]->answer[0], 0, 0};
        put(b, chat(b) ? l + 1 : l);
        if (chat(b))
            msg_take(b, "assistant");
        else
            put(b, "\n\n");
    }
    mc_block(b, it, hs);
    if (chat(b))
        msg_take(b, "user");
    else
        b->p->stop = stop_blank;
}

/* ---- log-likelihood ------------------------------------------------------------------------ */

/* Context and continuations: MMLU-style tasks score " A", " B", ... after "Answer:"; ARC and
 * custom score " <choice text>" after "Question: q\nAnswer:"; HellaSwag " <ending>" after the
 * context. Exemplars are the same form with the gold continuation, blank-line separated. */
static void ll_context(pb *b, const mc_ds_item *it, int letters)
{
    if (b->o->task == MC_EV_HELLASWAG) {
        put(b, it->text);
        return;
    }
    put(b, letters ? "" : "Question: ");
    put(b, it->text);
    put(b, "\n");
    if (letters)
        options(b, it);
    put(b, "Answer:");
}

static char *ll_cont(const mc_ds_item *it, size_t i, int letters)
{
    char l[3] = {' ', mc_ds_letter(i), 0};
    if (letters)
        return mc_strdup(l);
    size_t n = strlen(it->choices[i]);
    char *c = mc_malloc(n + 2);
    if (c) {
        c[0] = ' ';
        memcpy(c + 1, it->choices[i], n + 1);
    }
    return c;
}

static void loglik(pb *b, const mc_ds_item *it, const mc_ds_item *const *shots, size_t n)
{
    int letters = b->o->task == MC_EV_MMLU || b->o->task == MC_EV_MMLU_PRO;
    system_prompt(b, NULL);
    if (letters && it->category) {
        put(b, "The following are multiple choice questions (with answers) about ");
        subject(b, it->category);
        put(b, ".\n\n");
    }
    for (size_t i = 0; i < n; i++) {
        ll_context(b, shots[i], letters);
        char *c = ll_cont(shots[i], (size_t)shots[i]->gold, letters);
        b->bad |= !c;
        put(b, c ? c : "");
        mc_free(c);
        put(b, "\n\n");
    }
    ll_context(b, it, letters);
    mc_ev_prompt *p = b->p;
    p->conts = mc_calloc(it->n_choices, sizeof *p->conts);
    b->bad |= !p->conts;
    for (size_t i = 0; p->conts && i < it->n_choices; i++) {
        p->conts[i] = ll_cont(it, i, letters);
        b->bad |= !p->conts[i];
        p->n_conts++;
    }
}

/* ---- LongBench, open prompts ---------------------------------------------------------------- */

static mc_err longbench(pb *b, const mc_ds_item *it, mc_diag *d)
{
    const char *tmpl = mc_ev_lb_template(it->category);
    if (b->o->style == MC_EV_STYLE_MOECAP_REF) {
        system_prompt(b, mc_ev_ref_lb_system(it->category));
        tmpl = mc_ev_ref_lb_user(it->category);
    } else if (!tmpl) {
        return mc_fail(d, MC_ERR_UNSUPPORTED,
                       "LongBench subset '%s' is not supported (English subsets only)",
                       it->category ? it->category : "?");
    } else {
        system_prompt(b, NULL);
    }
    fill(b, tmpl, it);
    if (chat(b))
        msg_take(b, "user");
    return MC_OK;
}

static void open_prompt(pb *b, const mc_ds_item *it)
{
    system_prompt(b, NULL);
    put(b, it->text);
    if (chat(b))
        msg_take(b, "user");
}

/* ---- the MoE-CAP reference's prompts (zero-shot) -------------------------------------------- */

static mc_err moecap_ref(pb *b, const mc_ds_item *it, mc_diag *d)
{
    switch (b->o->task) {
    case MC_EV_GSM8K:
        system_prompt(b, mc_ev_ref_gsm8k_system);
        put(b, it->text);
        break;
    case MC_EV_MMLU_PRO:
        system_prompt(b, mc_ev_ref_default_system);
        put(b, "Question (Category: ");
        put(b, it->category ? it->category : "");
        put(b, "):\n");
        put(b, it->text);
        put(b, "\n\nOptions:\n");
        options(b, it);
        b->text.len--; /* the reference joins the options with '\n' (no final one) */
        put(b, "\n\nFormat your response as follows: \"The answer is (insert answer here)\".");
        break;
    case MC_EV_LONGBENCH: return longbench(b, it, d);
    default:
        return mc_fail(d, MC_ERR_UNSUPPORTED,
                       "--prompt-style moecap-ref: the reference has no prompt for task %s",
                       mc_ev_task_name(b->o->task));
    }
    if (chat(b))
        msg_take(b, "user");
    return MC_OK;
}

/* ---- entry points --------------------------------------------------------------------------- */

static mc_err check(const mc_ev_prompt_opts *o, const mc_ds_item *it, size_t n_shots, mc_diag *d)
{
    if (o->method == MC_EV_LOGLIK && it->n_choices < 2)
        return mc_fail(d, MC_ERR_UNSUPPORTED,
                       "item %s has no choices: log-likelihood scoring needs them", it->id);
    if (o->method == MC_EV_LOGLIK && o->style == MC_EV_STYLE_MOECAP_REF)
        return mc_fail(d, MC_ERR_UNSUPPORTED,
                       "--prompt-style moecap-ref is for generation (the reference generates)");
    if (o->style == MC_EV_STYLE_MOECAP_REF && n_shots > 0)
        return mc_fail(d, MC_ERR_UNSUPPORTED, "--prompt-style moecap-ref prompts are zero-shot");
    int open_task = o->task == MC_EV_LONGBENCH || o->task == MC_EV_MT_BENCH ||
                    o->task == MC_EV_SHAREGPT || (o->task == MC_EV_CUSTOM && it->n_choices < 2);
    if (n_shots > 0 && open_task && o->method == MC_EV_GEN)
        return mc_fail(d, MC_ERR_UNSUPPORTED, "task %s has no few-shot template (use --fewshot 0)",
                       mc_ev_task_name(o->task));
    if (o->method == MC_EV_LOGLIK && (o->task == MC_EV_LONGBENCH || o->task == MC_EV_GSM8K))
        return mc_fail(d, MC_ERR_UNSUPPORTED, "task %s is scored by generation",
                       mc_ev_task_name(o->task));
    return MC_OK;
}

static mc_err dispatch(pb *b, const mc_ds_item *it, const mc_ds_item *const *shots, size_t n,
                       mc_diag *d)
{
    const mc_ev_prompt_opts *o = b->o;
    if (o->style == MC_EV_STYLE_MOECAP_REF)
        return moecap_ref(b, it, d);
    if (o->method == MC_EV_LOGLIK) {
        loglik(b, it, shots, n);
        return MC_OK;
    }
    switch (o->task) {
    case MC_EV_GSM8K: gsm8k(b, it, shots, n); break;
    case MC_EV_MMLU_PRO: mmlu_pro(b, it, shots, n); break;
    case MC_EV_HELLASWAG:
    case MC_EV_MMLU:
    case MC_EV_ARC: mc_letters(b, it, shots, n); break;
    case MC_EV_LONGBENCH: return longbench(b, it, d);
    case MC_EV_CUSTOM:
        if (it->n_choices >= 2)
            mc_letters(b, it, shots, n);
        else
            open_prompt(b, it);
        break;
    default: open_prompt(b, it); break;
    }
    return MC_OK;
}

mc_err mc_ev_prompt_build(const mc_ev_prompt_opts *o, const mc_ds_item *it,
                          const mc_ds_item *const *shots, size_t n_shots, mc_ev_prompt *out,
                          mc_diag *d)
{
    memset(out, 0, sizeof *out);
    mc_err e = check(o, it, n_shots, d);
    if (e)
        return e;
    pb b = {.o = o, .p = out};
    mc_buf_init(&b.text, 0);
    e = dispatch(&b, it, shots, n_shots, d);
    if (!e && !b.bad && b.text.len > 0 && !chat(&b)) {
        char **dst = o->method == MC_EV_LOGLIK ? &out->context : &out->text;
        *dst = b.text.data;
        b.text.data = NULL;
    }
    mc_buf_deinit(&b.text);
    if (!e && b.bad)
        e = mc_fail(d, MC_ERR_NOMEM, "out of memory building a prompt");
    if (!e && !out->text && !out->context && out->n_msgs == 0)
        e = mc_fail(d, MC_ERR_INTERNAL, "empty prompt for item %s", it->id);
    if (e)
        mc_ev_prompt_deinit(out);
    return e;
}

void mc_ev_prompt_deinit(mc_ev_prompt *p)
{
    for (size_t i = 0; i < p->n_msgs; i++)
        mc_free(p->msgs[i].content);
    mc_free(p->msgs);
    for (size_t i = 0; i < p->n_conts; i++)
        mc_free(p->conts[i]);
    mc_free(p->conts);
    mc_free(p->text);
    mc_free(p->context);
    memset(p, 0, sizeof *p);
}

char *mc_ev_prompt_render(const mc_ev_prompt *p)
{
    if (p->text)
        return mc_strdup(p->text);
    if (p->context)
        return mc_strdup(p->context);
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < p->n_msgs; i++) {
        cJSON *m = cJSON_CreateObject();
        if (!m || !cJSON_AddItemToArray(a, m) ||
            !cJSON_AddStringToObject(m, "role", p->msgs[i].role) ||
            !cJSON_AddStringToObject(m, "content", p->msgs[i].content)) {
            cJSON_Delete(a);
            return NULL;
        }
    }
    char *s = a ? cJSON_PrintUnformatted(a) : NULL;
    cJSON_Delete(a);
    char *r = s ? mc_strdup(s) : NULL;
    cJSON_free(s);
    return r;
}
