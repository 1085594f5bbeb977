/* run.c: one evaluation run: the few-shot plan (exemplars never among the scored items), the
 * generation requests (sent through the load generator's client and load model, so the same
 * run measures accuracy and latency), scoring each response as it arrives, tallies overall and
 * per category, and the run's performance through src/cap. Log-likelihood scoring is in
 * run_ll.c. Depends on base, data, loadgen, cap. */
#include "eval_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- defaults ---------------------------------------------------------------------------- */

static int has_categories(mc_ev_task t)
{
    return t == MC_EV_MMLU_PRO || t == MC_EV_MMLU;
}

static mc_ev_metric default_metric(const mc_ev_opts *o, const mc_ds *ds)
{
    if (o->method == MC_EV_LOGLIK)
        return MC_EV_METRIC_LOGLIK;
    const mc_ds_item *first = mc_ds_at(ds, 0);
    switch (o->task) {
    case MC_EV_GSM8K: return MC_EV_METRIC_NUMERIC;
    case MC_EV_MMLU_PRO:
    case MC_EV_HELLASWAG:
    case MC_EV_MMLU:
    case MC_EV_ARC: return MC_EV_METRIC_LETTER;
    case MC_EV_LONGBENCH: return MC_EV_METRIC_LONGBENCH;
    case MC_EV_CUSTOM:
        return first->n_choices >= 2 ? MC_EV_METRIC_LETTER
               : first->answer       ? MC_EV_METRIC_EXACT
                                     : MC_EV_METRIC_NONE;
    default: return MC_EV_METRIC_NONE;
    }
}

static uint32_t default_max_tokens(const mc_ev *ev)
{
    if (ev->o.max_tokens)
        return ev->o.max_tokens;
    if (ev->o.task == MC_EV_LONGBENCH)
        return 0; /* per subset */
    if (ev->metric == MC_EV_METRIC_LETTER && ev->o.task != MC_EV_MMLU_PRO)
        return 32;
    return 1024;
}

static mc_err check_combination(const mc_ev *ev, mc_diag *d)
{
    const mc_ev_opts *o = &ev->o;
    if (o->method == MC_EV_LOGLIK && ev->metric != MC_EV_METRIC_LOGLIK)
        return mc_fail(d, MC_ERR_ARG, "--method loglik scores with --metric loglik only");
    if (o->method == MC_EV_GEN && ev->metric == MC_EV_METRIC_LOGLIK)
        return mc_fail(d, MC_ERR_ARG, "--metric loglik needs --method loglik");
    if (ev->metric == MC_EV_METRIC_LONGBENCH && o->task != MC_EV_LONGBENCH)
        return mc_fail(d, MC_ERR_ARG, "--metric longbench is for --task longbench");
    if (o->ll_max_tokens != 0 && o->ll_max_tokens != 1)
        return mc_fail(d, MC_ERR_ARG, "echo requests use max_tokens 0 or 1");
    return MC_OK;
}

/* ---- few-shot plan ------------------------------------------------------------------------- */

static void shuffle(size_t *a, size_t n, uint64_t seed)
{
    mc_rng r;
    mc_rng_seed(&r, seed);
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)mc_rng_below(&r, i), t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

static const char *group_of(const mc_ev *ev, const mc_ds_item *it)
{
    return has_categories(ev->o.task) && it->category ? it->category : "";
}

/* No separate split and every item selected: take fewshot items per group (seeded) out of
 * the selection; they become the pool. */
static mc_err reserve(mc_ev *ev, const size_t *sel, size_t n_sel, mc_diag *d)
{
    size_t *perm = mc_mallocarray(n_sel ? n_sel : 1, sizeof *perm);
    ev->excluded = mc_mallocarray(n_sel ? n_sel : 1, sizeof *ev->excluded);
    if (!perm || !ev->excluded) {
        mc_free(perm);
        return mc_fail(d, MC_ERR_NOMEM, "out of memory");
    }
    memcpy(perm, sel, n_sel * sizeof *perm);
    shuffle(perm, n_sel, ev->o.shot_seed);
    for (size_t i = 0; i < n_sel; i++) {
        const char *g = group_of(ev, mc_ds_at(ev->ds, perm[i]));
        size_t have = 0;
        for (size_t j = 0; j < ev->n_excl; j++)
            have += strcmp(group_of(ev, mc_ds_at(ev->ds, ev->excluded[j])), g) == 0;
        if (have < ev->o.fewshot)
            ev->excluded[ev->n_excl++] = perm[i];
    }
    mc_free(perm);
    ev->pool = mc_mallocarray(ev->n_excl ? ev->n_excl : 1, sizeof *ev->pool);
    if (!ev->pool)
        return mc_fail(d, MC_ERR_NOMEM, "out of memory");
    memcpy(ev->pool, ev->excluded, ev->n_excl * sizeof *ev->pool);
    ev->n_pool = ev->n_excl;
    snprintf(ev->note, sizeof ev->note,
             "%zu exemplar(s) drawn from the evaluated items (seed %llu) and excluded from "
             "scoring",
             ev->n_excl, (unsigned long long)ev->o.shot_seed);
    return MC_OK;
}

static mc_err plan_shots(mc_ev *ev, const size_t *sel, size_t n_sel, mc_diag *d)
{
    if (ev->o.fewshot == 0) {
        snprintf(ev->note, sizeof ev->note, "zero-shot");
        return MC_OK;
    }
    const mc_ds *src = ev->shots_ds ? ev->shots_ds : ev->ds;
    size_t total = mc_ds_count(src);
    ev->pool = mc_mallocarray(total ? total : 1, sizeof *ev->pool);
    if (!ev->pool)
        return mc_fail(d, MC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < total; i++)
        if (ev->shots_ds || !mc_ds_is_selected(ev->ds, i))
            ev->pool[ev->n_pool++] = i;
    ev->pool_from_shots = ev->shots_ds != NULL;
    if (ev->shots_ds) {
        snprintf(ev->note, sizeof ev->note, "%u exemplar(s) from %s%s (file order)", ev->o.fewshot,
                 mc_ds_file(ev->shots_ds, 0), has_categories(ev->o.task) ? ", same category" : "");
        return MC_OK;
    }
    if (ev->n_pool == 0) {
        mc_free(ev->pool);
        ev->pool = NULL;
        return reserve(ev, sel, n_sel, d);
    }
    shuffle(ev->pool, ev->n_pool, ev->o.shot_seed);
    snprintf(ev->note, sizeof ev->note,
             "%u exemplar(s) from the %zu loaded items that are not evaluated (seed %llu)%s",
             ev->o.fewshot, ev->n_pool, (unsigned long long)ev->o.shot_seed,
             has_categories(ev->o.task) ? ", same category" : "");
    return MC_OK;
}

static size_t shots_for(const mc_ev *ev, const mc_ds_item *it, const mc_ds_item **out)
{
    const mc_ds *src = ev->pool_from_shots ? ev->shots_ds : ev->ds;
    const char *g = group_of(ev, it);
    size_t n = 0;
    for (size_t j = 0; j < ev->n_pool && n < ev->o.fewshot; j++) {
        const mc_ds_item *c = mc_ds_at(src, ev->pool[j]);
        if (c != it && (!*g || (c->category && strcmp(c->category, g) == 0)))
            out[n++] = c;
    }
    return n;
}

/* ---- prompts -------------------------------------------------------------------------------- */

const mc_ds_item *ev_item(const mc_ev *ev, size_t k)
{
    return mc_ds_at(ev->ds, ev->items[k]);
}

mc_err ev_prompt(const mc_ev *ev, size_t k, mc_ev_prompt *p, size_t *n_shots, mc_diag *d)
{
    const mc_ds_item *it = ev_item(ev, k);
    const mc_ds_item **shots = mc_calloc(ev->o.fewshot + 1, sizeof *shots);
    if (!shots)
        return mc_fail(d, MC_ERR_NOMEM, "out of memory");
    size_t n = shots_for(ev, it, shots);
    mc_ev_prompt_opts po = {.task = ev->o.task,
                            .method = ev->o.method,
                            .style = ev->o.style,
                            .endpoint = ev->o.endpoint,
                            .system = ev->o.system};
    mc_err e = mc_ev_prompt_build(&po, it, shots, n, p, d);
    mc_free(shots);
    if (e)
        mc_diag_prefix(d, "%s:%llu", it->file, (unsigned long long)it->line);
    if (n_shots)
        *n_shots = n;
    return e;
}

/* Every item must have a gold answer the metric can use and a prompt. */
static mc_err check_items(const mc_ev *ev, mc_diag *d)
{
    for (size_t k = 0; k < ev->n; k++) {
        const mc_ds_item *it = ev_item(ev, k);
        int needs_choice = ev->metric == MC_EV_METRIC_LETTER || ev->metric == MC_EV_METRIC_LOGLIK;
        if ((needs_choice && it->gold < 0) || (ev->metric != MC_EV_METRIC_NONE && !it->answer))
            return mc_fail(d, MC_ERR_FORMAT, "%s:%llu: item %s has no %s for --metric %s", it->file,
                           (unsigned long long)it->line, it->id,
                           needs_choice ? "gold choice" : "answer", mc_ev_metric_name(ev->metric));
        mc_ev_prompt p;
        mc_err e = ev_prompt(ev, k, &p, NULL, d);
        if (e)
            return e;
        mc_ev_prompt_deinit(&p);
    }
    return MC_OK;
}

static mc_err plan_items(mc_ev *ev, mc_diag *d)
{
    size_t n_sel = 0;
    const size_t *sel = mc_ds_selected(ev->ds, &n_sel);
    mc_err e = plan_shots(ev, sel, n_sel, d);
    if (e)
        return e;
    ev->items = mc_mallocarray(n_sel ? n_sel : 1, sizeof *ev->items);
    if (!ev->items)
        return mc_fail(d, MC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n_sel; i++) {
        int excl = 0;
        for (size_t j = 0; j < ev->n_excl && !excl; j++)
            excl = ev->excluded[j] == sel[i];
        if (!excl)
            ev->items[ev->n++] = sel[i];
    }
    if (ev->n == 0)
        return mc_fail(d, MC_ERR_ARG, "no item left to evaluate after taking %u exemplar(s)",
                       ev->o.fewshot);
    return check_items(ev, d);
}

mc_err mc_ev_new(const mc_ev_opts *o, const mc_ds *ds, const mc_ds *shots, mc_ev **out, mc_diag *d)
{
    *out = NULL;
    mc_ev *ev = mc_calloc(1, sizeof *ev);
    if (!ev)
        return mc_fail(d, MC_ERR_NOMEM, "out of memory");
    ev->o = *o;
    ev->ds = ds;
    ev->shots_ds = shots;
    ev->metric = o->metric != MC_EV_METRIC_NONE ? o->metric : default_metric(o, ds);
    if (o->task == MC_EV_MT_BENCH || o->task == MC_EV_SHAREGPT)
        ev->metric = MC_EV_METRIC_NONE;
    ev->max_tokens = default_max_tokens(ev);
    mc_err e = check_combination(ev, d);
    if (!e)
        e = mc_lg_url_endpoint(o->url, o->endpoint, &ev->gen_url, d);
    if (!e)
        e = mc_lg_url_endpoint(o->url, MC_LG_COMPLETIONS, &ev->ll_url, d);
    if (!e)
        e = plan_items(ev, d);
    if (e) {
        mc_ev_free(ev);
        return e;
    }
    *out = ev;
    return MC_OK;
}

void mc_ev_free(mc_ev *ev)
{
    if (!ev)
        return;
    mc_free(ev->items);
    mc_free(ev->excluded);
    mc_free(ev->pool);
    mc_free(ev->gen_url);
    mc_free(ev->ll_url);
    mc_free(ev->cats);
    mc_free(ev->t);
    mc_free(ev);
}

/* ---- results -------------------------------------------------------------------------------- */

void ev_cb_fail(mc_ev *ev, mc_err e, const char *msg)
{
    if (!ev->cb_err) {
        ev->cb_err = e;
        snprintf(ev->cb_diag.msg, sizeof ev->cb_diag.msg, "%s", msg);
    }
}

static mc_ev_category *category(mc_ev *ev, const char *name)
{
    for (size_t i = 0; i < ev->n_cats; i++)
        if (strcmp(ev->cats[i].name, name) == 0)
            return &ev->cats[i];
    mc_ev_category *c = mc_reallocarray(ev->cats, ev->n_cats + 1, sizeof *c);
    if (!c)
        return NULL;
    ev->cats = c;
    c = &ev->cats[ev->n_cats++];
    memset(c, 0, sizeof *c);
    c->name = name;
    return c;
}

void ev_emit(mc_ev *ev, mc_ev_result *r)
{
    mc_ev_tally_add(&ev->total, r);
    const char *cat = r->item->category;
    if (cat && ev->o.task != MC_EV_HELLASWAG && ev->o.task != MC_EV_SHAREGPT) {
        mc_ev_category *c = category(ev, cat);
        if (c)
            mc_ev_tally_add(&c->t, r);
        else
            ev_cb_fail(ev, MC_ERR_NOMEM, "out of memory for category tallies");
    }
    if (ev->o.on_item)
        ev->o.on_item(r, ev->o.ctx);
}

void ev_timing(mc_ev *ev, const mc_req_timing *t)
{
    if (ev->nt == ev->cap_t) {
        size_t ncap = ev->cap_t ? ev->cap_t * 2 : 1024;
        mc_req_timing *p = mc_reallocarray(ev->t, ncap, sizeof *p);
        if (!p) {
            ev_cb_fail(ev, MC_ERR_NOMEM, "out of memory for request timings");
            return;
        }
        ev->t = p;
        ev->cap_t = ncap;
    }
    ev->t[ev->nt++] = *t;
}

/* ---- scoring a generated response ----------------------------------------------------------- */

typedef struct gen_score {
    char num[160];
    char letter[2];
    char *text; /* heap: stripped response (exact, f1, longbench) */
} gen_score;

static void score_text_metrics(mc_ev *ev, const mc_ds_item *it, const char *s, size_t n,
                               mc_ev_result *r, gen_score *g)
{
    while (n && (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        n--;
    r->has_em = 1;
    g->text = mc_strndup(s, n);
    r->extracted = n ? g->text : NULL;
    if (ev->metric == MC_EV_METRIC_LONGBENCH) {
        mc_ev_lb_score lb;
        mc_ev_lb_score_item(s, n, it, &lb);
        r->score = lb.f1;
        r->em = lb.em;
        r->official = lb.official;
        r->correct = lb.em;
        r->rule = mc_ev_lb_metric_name(lb.metric);
        return;
    }
    r->em = mc_ev_qa_em(s, n, it->answer);
    r->correct = r->em;
    r->score = ev->metric == MC_EV_METRIC_F1 ? mc_ev_qa_f1(s, n, it->answer) : (double)r->em;
    r->rule = "normalised";
}

static void score_gen(mc_ev *ev, const mc_ds_item *it, const char *text, size_t len,
                      mc_ev_result *r, gen_score *g)
{
    const char *s;
    size_t n;
    mc_ev_strip_reasoning(text, len, &s, &n);
    r->scored = ev->metric != MC_EV_METRIC_NONE;
    r->gold = it->answer;
    switch (ev->metric) {
    case MC_EV_METRIC_NUMERIC: {
        mc_ev_num_rule rule = mc_ev_extract_number(s, n, g->num, sizeof g->num);
        r->rule = mc_ev_num_rule_name(rule);
        r->extracted = rule != MC_EV_NUM_NONE ? g->num : NULL;
        r->correct = r->extracted && mc_ev_numbers_equal(g->num, it->answer);
        break;
    }
    case MC_EV_METRIC_LETTER: {
        mc_ev_letter_rule rule = mc_ev_extract_letter(s, n, it->n_choices, g->letter);
        r->rule = mc_ev_letter_rule_name(rule);
        r->extracted = rule != MC_EV_LET_NONE ? g->letter : NULL;
        r->correct = r->extracted && g->letter[0] == it->answer[0];
        break;
    }
    case MC_EV_METRIC_NONE: r->rule = ""; return;
    default: score_text_metrics(ev, it, s, n, r, g); return;
    }
    r->score = r->correct;
    r->em = r->correct;
}

/* ---- generation through the load generator ------------------------------------------------- */

static double rel_s(const mc_ev *ev, mc_ns t)
{
    return t ? mc_ns_to_s(t - ev->origin) : NAN;
}

static void gen_timing(mc_ev *ev, const mc_lg_result *lr, mc_ev_result *r)
{
    mc_req_timing t = {0};
    t.start_s = rel_s(ev, lr->sched_ns);
    t.first_s = ev->o.stream && lr->first_token_ns ? rel_s(ev, lr->first_token_ns) : -1;
    t.end_s = rel_s(ev, lr->last_token_ns ? lr->last_token_ns : lr->end_ns);
    t.out_tokens =
        lr->usage_completion_tokens >= 0 ? lr->usage_completion_tokens : (int64_t)lr->n_chunks;
    t.in_tokens = lr->usage_prompt_tokens >= 0 ? lr->usage_prompt_tokens : 0;
    t.ok = lr->fail == MC_LG_OK;
    ev_timing(ev, &t);
    double v;
    r->ttft_s = mc_cap_ttft_s(&t, &v) == 0 ? v : NAN;
    r->e2e_s = mc_cap_e2e_s(&t, &v) == 0 ? v : NAN;
    r->in_tokens = lr->usage_prompt_tokens;
    r->out_tokens = lr->usage_completion_tokens;
    r->finish_reason = lr->finish_reason;
}

static void gen_on_result(const mc_lg_result *lr, void *ctx)
{
    mc_ev *ev = ctx;
    if (lr->fail == MC_LG_FAIL_CANCELLED) {
        ev->stopped = 1;
        return; /* not answered: reported as missing, not as wrong */
    }
    size_t k = (size_t)lr->id;
    mc_ev_prompt p;
    mc_diag d = {{0}};
    mc_ev_result r = {.index = ev->items[k],
                      .item = ev_item(ev, k),
                      .official = NAN,
                      .error = "",
                      .pred = -1,
                      .pred_norm = -1};
    gen_score g = {.text = NULL};
    char *rendered = NULL;
    if (ev_prompt(ev, k, &p, &r.shots, &d) == MC_OK) {
        rendered = mc_ev_prompt_render(&p);
        mc_ev_prompt_deinit(&p);
    }
    r.prompt = rendered ? rendered : "";
    r.response = lr->text;
    r.response_len = lr->text_len;
    gen_timing(ev, lr, &r);
    score_gen(ev, r.item, lr->text, lr->text_len, &r, &g);
    char err[MC_LG_MSG_MAX + 32];
    if (lr->fail != MC_LG_OK) {
        r.failed = 1;
        r.fail = lr->fail;
        if (lr->fail == MC_LG_FAIL_HTTP_STATUS && strncmp(lr->message, "HTTP ", 5) != 0)
            snprintf(err, sizeof err, "HTTP %d: %s", lr->http_status, lr->message);
        else
            snprintf(err, sizeof err, "%s",
                     lr->message[0] ? lr->message : mc_lg_fail_name(lr->fail));
        r.error = err;
        r.correct = r.em = 0;
        r.score = 0;
        r.extracted = NULL;
        r.official = isnan(r.official) ? NAN : 0;
    }
    ev_emit(ev, &r);
    mc_free(rendered);
    mc_free(g.text);
}

static mc_err build_workload(mc_ev *ev, mc_lg_workload *w, mc_diag *d)
{
    mc_ev_gen_opts go = {.endpoint = ev->o.endpoint,
                         .model = ev->o.model,
                         .temperature = ev->o.temperature,
                         .top_p = ev->o.top_p,
                         .seed = ev->o.seed,
                         .stream = ev->o.stream};
    for (size_t k = 0; k < ev->n; k++) {
        mc_ev_prompt p;
        mc_err e = ev_prompt(ev, k, &p, NULL, d);
        if (e)
            return e;
        go.max_tokens =
            ev->max_tokens ? ev->max_tokens : mc_ev_lb_max_tokens(ev_item(ev, k)->category);
        if (!go.max_tokens)
            go.max_tokens = 128;
        char *body = mc_ev_body_gen(&go, &p);
        mc_ev_prompt_deinit(&p);
        e = body ? mc_lg_workload_add(w, "", 0, go.max_tokens, d)
                 : mc_fail(d, MC_ERR_NOMEM, "out of memory building request bodies");
        if (e) {
            mc_free(body);
            return e;
        }
        w->p[w->n - 1].body = body;
        w->p[w->n - 1].body_len = strlen(body);
    }
    return MC_OK;
}

static mc_err run_gen(mc_ev *ev, mc_diag *d)
{
    mc_lg_workload w;
    mc_lg_workload_init(&w);
    mc_lg_client *c = NULL;
    uint32_t conc = ev->o.concurrency ? ev->o.concurrency : 8;
    mc_err e = build_workload(ev, &w, d);
    mc_lg_client_opts co = {.url = ev->gen_url,
                            .stream = ev->o.stream,
                            .max_inflight = conc,
                            .timeout_s = ev->o.timeout_s > 0 ? ev->o.timeout_s : 600,
                            .max_text_bytes =
                                ev->o.max_text_bytes ? ev->o.max_text_bytes : (size_t)256 << 10,
                            .api_key = ev->o.api_key,
                            .on_result = gen_on_result,
                            .ctx = ev};
    if (!e)
        e = mc_lg_client_new(&co, &c, d);
    mc_lg_run_opts ro = {
        .mode = MC_LG_CLOSED, .concurrency = conc, .num_requests = ev->n, .stop = ev->o.stop};
    mc_lg_run_info info;
    if (!e) {
        ev->origin = mc_now_ns();
        e = mc_lg_run(c, &w, &ro, &info, d);
        ev->stopped |= info.stopped;
    }
    mc_lg_client_free(c);
    mc_lg_workload_deinit(&w);
    return e;
}

mc_err mc_ev_probe(mc_ev *ev, mc_diag *d)
{
    if (ev->probed || ev->o.method != MC_EV_LOGLIK)
        return MC_OK;
    mc_err e = ev_probe_loglik(ev, d);
    ev->probed = e == MC_OK;
    return e;
}

mc_err mc_ev_run(mc_ev *ev, mc_diag *d)
{
    mc_err e = mc_ev_probe(ev, d);
    if (!e)
        e = ev->o.method == MC_EV_LOGLIK ? ev_run_loglik(ev, d) : run_gen(ev, d);
    if (!e && ev->cb_err)
        e = mc_fail(d, ev->cb_err, "%s", ev->cb_diag.msg);
    return e;
}

/* ---- getters and performance ----------------------------------------------------------------- */

size_t mc_ev_n_items(const mc_ev *ev)
{
    return ev->n;
}
const char *mc_ev_shots_note(const mc_ev *ev)
{
    return ev->note;
}
const mc_ev_tally *mc_ev_total(const mc_ev *ev)
{
    return &ev->total;
}
mc_ev_metric mc_ev_metric_used(const mc_ev *ev)
{
    return ev->metric;
}
int mc_ev_stopped(const mc_ev *ev)
{
    return ev->stopped;
}
uint32_t mc_ev_max_tokens(const mc_ev *ev)
{
    return ev->max_tokens;
}

const char *mc_ev_endpoint_url(const mc_ev *ev)
{
    return ev->o.method == MC_EV_LOGLIK ? ev->ll_url : ev->gen_url;
}

const size_t *mc_ev_excluded(const mc_ev *ev, size_t *n)
{
    *n = ev->n_excl;
    return ev->excluded;
}

const mc_ev_category *mc_ev_categories(const mc_ev *ev, size_t *n)
{
    *n = ev->n_cats;
    return ev->cats;
}

static void stats3(const mc_ev *ev, mc_lat_kind k, double *v, double *mean, double *p50,
                   double *p99, mc_diag *d)
{
    size_t n = mc_cap_collect(ev->t, ev->nt, k, v, ev->nt);
    mc_cap_stats st;
    *mean = *p50 = *p99 = NAN;
    if (n > 0 && mc_cap_stats_of(v, n, &st, d) == MC_OK) {
        *mean = st.mean;
        *p50 = st.p50;
        *p99 = st.p99;
    }
}

mc_err mc_ev_perf_of(const mc_ev *ev, mc_ev_perf *out, mc_diag *d)
{
    memset(out, 0, sizeof *out);
    double *v = mc_mallocarray(ev->nt ? ev->nt : 1, sizeof *v);
    if (!v)
        return mc_fail(d, MC_ERR_NOMEM, "out of memory");
    stats3(ev, MC_LAT_TTFT, v, &out->ttft_mean_s, &out->ttft_p50_s, &out->ttft_p99_s, d);
    stats3(ev, MC_LAT_TPOT, v, &out->tpot_mean_s, &out->tpot_p50_s, &out->tpot_p99_s, d);
    stats3(ev, MC_LAT_E2E, v, &out->e2e_mean_s, &out->e2e_p50_s, &out->e2e_p99_s, d);
    mc_free(v);
    mc_cap_throughput tp;
    mc_cap_window w = {0, 0};
    out->requests = ev->nt;
    for (size_t i = 0; i < ev->nt; i++)
        out->ok += ev->t[i].ok != 0;
    out->failed = out->requests - out->ok;
    out->duration_s = out->req_per_s = out->out_tok_per_s = NAN;
    if (out->ok > 0 && mc_cap_throughput_of(ev->t, ev->nt, w, &tp, d) == MC_OK) {
        out->duration_s = tp.duration_s;
        out->req_per_s = tp.req_per_s;
        out->out_tok_per_s = tp.out_tok_per_s;
        out->in_tokens = tp.in_tokens;
        out->out_tokens = tp.out_tokens;
    }
    return MC_OK;
}
