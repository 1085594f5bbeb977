/* body.c: OpenAI-compatible request bodies for evaluation: generation (completions text or chat
 * messages, sampling settings, stop strings) and echo requests that return the prompt's own
 * log-probabilities (completions with echo + logprobs). Depends on base and cJSON. */
#include "eval.h"

#include <cjson/cJSON.h>
#include <string.h>

static char *print(cJSON *b, int ok)
{
    char *s = ok && b ? cJSON_PrintUnformatted(b) : NULL;
    cJSON_Delete(b);
    char *r = s ? mc_strdup(s) : NULL;
    cJSON_free(s);
    return r;
}

static int add_messages(cJSON *b, const mc_ev_prompt *p)
{
    cJSON *a = cJSON_AddArrayToObject(b, "messages");
    for (size_t i = 0; a && i < p->n_msgs; i++) {
        cJSON *m = cJSON_CreateObject();
        if (!m || !cJSON_AddItemToArray(a, m) ||
            !cJSON_AddStringToObject(m, "role", p->msgs[i].role) ||
            !cJSON_AddStringToObject(m, "content", p->msgs[i].content))
            return 0;
    }
    return a != NULL;
}

static int add_stop(cJSON *b, const char *const *stop)
{
    if (!stop || !stop[0])
        return 1;
    cJSON *a = cJSON_AddArrayToObject(b, "stop");
    for (size_t i = 0; a && stop[i]; i++) {
        cJSON *s = cJSON_CreateString(stop[i]);
        if (!s || !cJSON_AddItemToArray(a, s))
            return 0;
    }
    return a != NULL;
}

char *mc_ev_body_gen(const mc_ev_gen_opts *o, const mc_ev_prompt *p)
{
    cJSON *b = cJSON_CreateObject();
    int ok = b != NULL;
    if (ok && o->model)
        ok = cJSON_AddStringToObject(b, "model", o->model) != NULL;
    if (ok && o->endpoint == MC_LG_CHAT)
        ok = add_messages(b, p);
    else if (ok)
        ok = cJSON_AddStringToObject(b, "prompt", p->text ? p->text : "") != NULL &&
             add_stop(b, p->stop);
    ok = ok && cJSON_AddNumberToObject(b, "max_tokens", o->max_tokens) &&
         cJSON_AddNumberToObject(b, "temperature", o->temperature);
    if (ok && o->top_p >= 0)
        ok = cJSON_AddNumberToObject(b, "top_p", o->top_p) != NULL;
    if (ok && o->seed >= 0)
        ok = cJSON_AddNumberToObject(b, "seed", (double)o->seed) != NULL;
    ok = ok && cJSON_AddBoolToObject(b, "stream", o->stream);
    if (ok && o->stream) {
        cJSON *so = cJSON_AddObjectToObject(b, "stream_options");
        ok = so && cJSON_AddTrueToObject(so, "include_usage");
    }
    return print(b, ok);
}

char *mc_ev_body_echo(const char *model, const char *text, size_t len, int top_n, int max_tokens)
{
    char *t = mc_strndup(text, len);
    cJSON *b = t ? cJSON_CreateObject() : NULL;
    int ok = b != NULL;
    if (ok && model)
        ok = cJSON_AddStringToObject(b, "model", model) != NULL;
    ok = ok && cJSON_AddStringToObject(b, "prompt", t) &&
         cJSON_AddNumberToObject(b, "max_tokens", max_tokens) &&
         cJSON_AddNumberToObject(b, "temperature", 0) && cJSON_AddTrueToObject(b, "echo") &&
         cJSON_AddNumberToObject(b, "logprobs", top_n) && cJSON_AddFalseToObject(b, "stream");
    mc_free(t);
    return print(b, ok);
}
