/* workload.c: the prompt list of a run and the request bodies built from it before the run
 * (so no JSON is written while requests are timed). Depends on base and cJSON; never on
 * src/cap. */
#include "loadgen.h"

#include <cjson/cJSON.h>
#include <string.h>

void mc_lg_workload_init(mc_lg_workload *w)
{
    memset(w, 0, sizeof *w);
}

void mc_lg_workload_deinit(mc_lg_workload *w)
{
    for (size_t i = 0; w->p && i < w->n; i++) {
        mc_free(w->p[i].text);
        mc_free(w->p[i].body);
    }
    mc_free(w->p);
    memset(w, 0, sizeof *w);
}

mc_err mc_lg_workload_add(mc_lg_workload *w, const char *text, size_t len, uint32_t max_tokens,
                          mc_diag *d)
{
    if (w->n == w->cap_) {
        size_t ncap = w->cap_ ? w->cap_ * 2 : 64;
        mc_lg_prompt *p = mc_reallocarray(w->p, ncap, sizeof *p);
        if (!p)
            return mc_fail(d, MC_ERR_NOMEM, "workload: out of memory for %zu prompts", ncap);
        w->p = p;
        w->cap_ = ncap;
    }
    mc_lg_prompt *p = &w->p[w->n];
    memset(p, 0, sizeof *p);
    p->text = mc_strndup(text, len);
    if (!p->text)
        return mc_fail(d, MC_ERR_NOMEM, "workload: out of memory for a %zu-byte prompt", len);
    p->max_tokens = max_tokens;
    p->input_tokens = (int64_t)((strlen(p->text) + 3) / 4);
    w->n++;
    return MC_OK;
}

mc_err mc_lg_workload_count(mc_lg_workload *w, mc_lg_count_fn f, void *ctx, mc_diag *d)
{
    for (size_t i = 0; i < w->n; i++) {
        mc_lg_prompt *p = &w->p[i];
        mc_err e = f(ctx, p->text, strlen(p->text), &p->input_tokens, d);
        if (e)
            return e;
        p->input_exact = 1;
    }
    return MC_OK;
}

static cJSON *body_json(const mc_lg_prompt *p, const mc_lg_body_opts *o)
{
    cJSON *b = cJSON_CreateObject();
    if (!b)
        return NULL;
    int ok = 1;
    if (o->model)
        ok &= cJSON_AddStringToObject(b, "model", o->model) != NULL;
    if (o->endpoint == MC_LG_CHAT) {
        cJSON *msgs = cJSON_AddArrayToObject(b, "messages");
        cJSON *m = cJSON_CreateObject();
        ok &= msgs && m && cJSON_AddItemToArray(msgs, m);
        ok &= m && cJSON_AddStringToObject(m, "role", "user") != NULL;
        ok &= m && cJSON_AddStringToObject(m, "content", p->text) != NULL;
    } else {
        ok &= cJSON_AddStringToObject(b, "prompt", p->text) != NULL;
    }
    ok &= cJSON_AddNumberToObject(b, "max_tokens", p->max_tokens) != NULL;
    ok &= cJSON_AddNumberToObject(b, "temperature", o->temperature) != NULL;
    ok &= cJSON_AddBoolToObject(b, "stream", o->stream) != NULL;
    if (o->stream) {
        cJSON *so = cJSON_AddObjectToObject(b, "stream_options");
        ok &= so && cJSON_AddTrueToObject(so, "include_usage") != NULL;
    }
    if (o->ignore_eos)
        ok &= cJSON_AddTrueToObject(b, "ignore_eos") != NULL;
    if (!ok) {
        cJSON_Delete(b);
        return NULL;
    }
    return b;
}

mc_err mc_lg_workload_build(mc_lg_workload *w, const mc_lg_body_opts *o, mc_diag *d)
{
    for (size_t i = 0; i < w->n; i++) {
        mc_lg_prompt *p = &w->p[i];
        cJSON *b = body_json(p, o);
        char *s = b ? cJSON_PrintUnformatted(b) : NULL;
        cJSON_Delete(b);
        mc_free(p->body);
        p->body = s ? mc_strdup(s) : NULL;
        cJSON_free(s);
        if (!p->body)
            return mc_fail(d, MC_ERR_NOMEM, "workload: out of memory building request %zu", i);
        p->body_len = strlen(p->body);
    }
    return MC_OK;
}
