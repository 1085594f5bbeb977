/* probe.c: talking to a server before a run (blocking libcurl easy requests): endpoint URLs
 * from what the user typed, the served model id (/v1/models) and exact prompt token counts
 * through /tokenize (llama.cpp / moecap serve form, then vLLM form). Depends on base, libcurl
 * and cJSON; never on src/cap. */
#include "client_int.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#define PROBE_MAX_RESPONSE ((size_t)64 << 20)

/* ---- URLs ---------------------------------------------------------------------------------- */

static int ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* Length of base without a trailing '/' and without a known API suffix. */
static size_t root_len(const char *base)
{
    static const char *const suffixes[] = {"/v1/chat/completions", "/v1/completions",
                                           "/chat/completions", "/completions", "/v1"};
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++)
        if (ends_with(base, n, suffixes[i]))
            return n - strlen(suffixes[i]);
    return n;
}

static mc_err check_url(const char *base, mc_diag *d)
{
    if (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0)
        return mc_fail(d, MC_ERR_ARG, "URL '%s' must start with http:// or https://", base);
    const char *host = strstr(base, "//") + 2;
    if (*host == 0 || *host == '/')
        return mc_fail(d, MC_ERR_ARG, "URL '%s' has no host", base);
    return MC_OK;
}

static mc_err join(const char *base, size_t n, const char *path, char **out, mc_diag *d)
{
    size_t k = strlen(path);
    *out = mc_malloc(n + k + 1);
    if (!*out)
        return mc_fail(d, MC_ERR_NOMEM, "out of memory");
    memcpy(*out, base, n);
    memcpy(*out + n, path, k + 1);
    return MC_OK;
}

mc_err mc_lg_url_root(const char *base, char **out, mc_diag *d)
{
    *out = NULL;
    mc_err e = check_url(base, d);
    return e ? e : join(base, root_len(base), "", out, d);
}

mc_err mc_lg_url_endpoint(const char *base, mc_lg_endpoint ep, char **out, mc_diag *d)
{
    *out = NULL;
    mc_err e = check_url(base, d);
    if (e)
        return e;
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    const char *want = ep == MC_LG_CHAT ? "/chat/completions" : "/completions";
    if (ends_with(base, n, want) && (ep == MC_LG_CHAT || !ends_with(base, n, "/chat/completions")))
        return join(base, n, "", out, d); /* a full endpoint URL: use it as given */
    return join(base, root_len(base), ep == MC_LG_CHAT ? "/v1/chat/completions" : "/v1/completions",
                out, d);
}

/* ---- blocking requests --------------------------------------------------------------------- */

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud)
{
    return mc_buf_append(ud, p, size * nmemb) == MC_OK ? size * nmemb : 0;
}

typedef struct http_call {
    CURL *easy; /* reused: keep-alive across calls */
    const char *url;
    const char *body; /* NULL = GET */
    const char *auth; /* "Authorization: Bearer ..." or NULL */
    double timeout_s;
    long status;
    mc_buf resp;
} http_call;

static mc_err http_do(http_call *h, mc_diag *d)
{
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    struct curl_slist *h2 = hdr ? curl_slist_append(hdr, "Expect:") : NULL;
    struct curl_slist *h3 = h2 && h->auth ? curl_slist_append(h2, h->auth) : h2;
    if (!h3) {
        curl_slist_free_all(hdr);
        return mc_fail(d, MC_ERR_NOMEM, "out of memory");
    }
    mc_buf_reset(&h->resp);
    CURL *e = h->easy;
    curl_easy_setopt(e, CURLOPT_URL, h->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h3);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(h->timeout_s * 1000));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &h->resp);
    if (h->body)
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, h->body);
    else
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    CURLcode rc = curl_easy_perform(e);
    curl_slist_free_all(h3);
    h->status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &h->status);
    if (rc != CURLE_OK)
        return mc_fail(d, MC_ERR_NET, "%s: %s", h->url, curl_easy_strerror(rc));
    return MC_OK;
}

static char *auth_header(const char *api_key)
{
    if (!api_key)
        return NULL;
    size_t n = strlen(api_key) + 32;
    char *s = mc_malloc(n);
    if (s)
        snprintf(s, n, "Authorization: Bearer %s", api_key);
    return s;
}

mc_err mc_lg_probe_model(const char *base, const char *api_key, double timeout_s, char **model,
                         mc_diag *d)
{
    *model = NULL;
    mc_err e = lg_curl_global(d);
    if (e)
        return e;
    char *root = NULL, *url = NULL, *auth = auth_header(api_key);
    http_call h = {.easy = curl_easy_init(), .auth = auth, .timeout_s = timeout_s};
    mc_buf_init(&h.resp, PROBE_MAX_RESPONSE);
    cJSON *j = NULL;
    e = mc_lg_url_root(base, &root, d);
    if (!e)
        e = join(root, strlen(root), "/v1/models", &url, d);
    if (!e && (!h.easy || (api_key && !auth)))
        e = mc_fail(d, MC_ERR_NOMEM, "out of memory");
    h.url = url;
    if (!e)
        e = http_do(&h, d);
    if (!e && h.status != 200)
        e = mc_fail(d, MC_ERR_NET, "%s: HTTP %ld", url, h.status);
    if (!e) {
        j = cJSON_ParseWithLength(h.resp.data ? h.resp.data : "", h.resp.len);
        const cJSON *m0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "data"), 0);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(m0, "id");
        if (!cJSON_IsString(id))
            e = mc_fail(d, MC_ERR_FORMAT, "%s: no data[0].id in the response", url);
        else if (!(*model = mc_strdup(id->valuestring)))
            e = mc_fail(d, MC_ERR_NOMEM, "out of memory");
    }
    cJSON_Delete(j);
    mc_buf_deinit(&h.resp);
    if (h.easy)
        curl_easy_cleanup(h.easy);
    mc_free(root);
    mc_free(url);
    mc_free(auth);
    return e;
}

/* ---- /tokenize ----------------------------------------------------------------------------- */

enum { TOK_LLAMA = 1, TOK_VLLM = 2 };

struct mc_lg_tokenizer {
    http_call h;
    char *url, *model, *auth;
    int form;
    uint64_t calls;
};

static char *tokenize_body(const mc_lg_tokenizer *t, int form, const char *text, size_t len)
{
    char *s = mc_strndup(text, len), *out = NULL;
    cJSON *b = cJSON_CreateObject();
    if (s && b && form == TOK_LLAMA && cJSON_AddStringToObject(b, "content", s)) {
        out = cJSON_PrintUnformatted(b);
    } else if (s && b && form == TOK_VLLM && cJSON_AddStringToObject(b, "prompt", s) &&
               (!t->model || cJSON_AddStringToObject(b, "model", t->model))) {
        out = cJSON_PrintUnformatted(b);
    }
    cJSON_Delete(b);
    mc_free(s);
    char *r = out ? mc_strdup(out) : NULL;
    cJSON_free(out);
    return r;
}

/* {"count": n} (vLLM) or {"tokens": [...]} (both) -> n; -1 if neither. */
static int64_t parse_count(const mc_buf *resp)
{
    cJSON *j = cJSON_ParseWithLength(resp->data ? resp->data : "", resp->len);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "count");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "tokens");
    int64_t n = -1;
    if (cJSON_IsNumber(c) && c->valuedouble >= 0)
        n = (int64_t)c->valuedouble;
    else if (cJSON_IsArray(t))
        n = cJSON_GetArraySize(t);
    cJSON_Delete(j);
    return n;
}

static mc_err count_form(mc_lg_tokenizer *t, int form, const char *text, size_t len, int64_t *n,
                         mc_diag *d)
{
    char *body = tokenize_body(t, form, text, len);
    if (!body)
        return mc_fail(d, MC_ERR_NOMEM, "tokenize: out of memory");
    t->h.body = body;
    t->calls++;
    mc_err e = http_do(&t->h, d);
    t->h.body = NULL;
    mc_free(body);
    if (e)
        return e;
    *n = t->h.status == 200 ? parse_count(&t->h.resp) : -1;
    if (*n < 0)
        return mc_fail(d, MC_ERR_NOT_FOUND, "%s: HTTP %ld, no token count in the response", t->url,
                       t->h.status);
    return MC_OK;
}

mc_err mc_lg_tokenizer_count(void *tokenizer, const char *text, size_t len, int64_t *n_tokens,
                             mc_diag *d)
{
    mc_lg_tokenizer *t = tokenizer;
    return count_form(t, t->form, text, len, n_tokens, d);
}

uint64_t mc_lg_tokenizer_calls(const mc_lg_tokenizer *t)
{
    return t->calls;
}

void mc_lg_tokenizer_free(mc_lg_tokenizer *t)
{
    if (!t)
        return;
    if (t->h.easy)
        curl_easy_cleanup(t->h.easy);
    mc_buf_deinit(&t->h.resp);
    mc_free(t->url);
    mc_free(t->model);
    mc_free(t->auth);
    mc_free(t);
}

mc_err mc_lg_tokenizer_open(const char *base, const char *model, const char *api_key,
                            double timeout_s, mc_lg_tokenizer **out, mc_diag *d)
{
    *out = NULL;
    mc_err e = lg_curl_global(d);
    if (e)
        return e;
    mc_lg_tokenizer *t = mc_calloc(1, sizeof *t);
    if (!t)
        return mc_fail(d, MC_ERR_NOMEM, "out of memory");
    char *root = NULL;
    e = mc_lg_url_root(base, &root, d);
    if (!e)
        e = join(root, strlen(root), "/tokenize", &t->url, d);
    mc_free(root);
    t->model = model ? mc_strdup(model) : NULL;
    t->auth = auth_header(api_key);
    t->h = (http_call){
        .easy = curl_easy_init(), .url = t->url, .auth = t->auth, .timeout_s = timeout_s};
    mc_buf_init(&t->h.resp, PROBE_MAX_RESPONSE);
    if (!e && (!t->h.easy || (model && !t->model) || (api_key && !t->auth)))
        e = mc_fail(d, MC_ERR_NOMEM, "out of memory");
    int64_t n = 0;
    mc_diag d1 = {{0}}, d2 = {{0}};
    if (!e && count_form(t, TOK_LLAMA, "hello world", 11, &n, &d1) == MC_OK)
        t->form = TOK_LLAMA;
    else if (!e && count_form(t, TOK_VLLM, "hello world", 11, &n, &d2) == MC_OK)
        t->form = TOK_VLLM;
    else if (!e)
        e = mc_fail(d, MC_ERR_NOT_FOUND, "no usable /tokenize: %s", d2.msg);
    if (e) {
        mc_lg_tokenizer_free(t);
        return e;
    }
    *out = t;
    return MC_OK;
}
