/* http.c: blocking HTTP calls to a server's side endpoints around a run (recording control,
 * per-pass records, Prometheus /metrics): one libcurl easy handle kept for keep-alive, response
 * bodies and headers held in capped buffers, so a misbehaving server cannot make the client grow
 * without bound. Never used while requests are being timed. Depends on base and libcurl; never
 * on src/cap. */
#include "client_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define HTTP_MAX_HEADERS ((size_t)64 << 10)

struct mc_lg_http {
    CURL *easy;
    char *root; /* server root, no trailing '/' */
    char *auth;
    double timeout_s;
    mc_buf body;
    mc_buf headers; /* header lines of the last response (the final one after redirects) */
    char value[256];
    int too_big;
};

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    mc_lg_http *h = ud;
    if (mc_buf_append(&h->body, p, size * nmemb) != MC_OK) {
        h->too_big = 1;
        return 0; /* aborts the transfer (CURLE_WRITE_ERROR) */
    }
    return size * nmemb;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    mc_lg_http *h = ud;
    size_t n = size * nmemb;
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0)
        mc_buf_reset(&h->headers);    /* a new response (after 100-continue or a redirect) */
    mc_buf_append(&h->headers, p, n); /* beyond the cap: later headers are dropped */
    return n;
}

void mc_lg_http_free(mc_lg_http *h)
{
    if (!h)
        return;
    if (h->easy)
        curl_easy_cleanup(h->easy);
    mc_buf_deinit(&h->body);
    mc_buf_deinit(&h->headers);
    mc_free(h->root);
    mc_free(h->auth);
    mc_free(h);
}

mc_err mc_lg_http_new(const char *base, const char *api_key, double timeout_s, mc_lg_http **out,
                      mc_diag *d)
{
    *out = NULL;
    mc_err e = lg_curl_global(d);
    if (e)
        return e;
    mc_lg_http *h = mc_calloc(1, sizeof *h);
    if (!h)
        return mc_fail(d, MC_ERR_NOMEM, "out of memory");
    mc_buf_init(&h->body, 0);
    mc_buf_init(&h->headers, HTTP_MAX_HEADERS);
    h->timeout_s = timeout_s > 0 ? timeout_s : 30;
    e = mc_lg_url_root(base, &h->root, d);
    if (!e && api_key) {
        size_t n = strlen(api_key) + 32;
        if ((h->auth = mc_malloc(n)) != NULL)
            snprintf(h->auth, n, "Authorization: Bearer %s", api_key);
    }
    if (!e && (!(h->easy = curl_easy_init()) || (api_key && !h->auth)))
        e = mc_fail(d, MC_ERR_NOMEM, "out of memory");
    if (e) {
        mc_lg_http_free(h);
        return e;
    }
    *out = h;
    return MC_OK;
}

static void set_options(mc_lg_http *h, const char *url, const char *method, const char *body,
                        struct curl_slist *hdr)
{
    CURL *e = h->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(h->timeout_s * 1000));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, h);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
    } else {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
}

mc_err mc_lg_http_call(mc_lg_http *h, const char *method, const char *path, const char *body,
                       size_t max_bytes, long *status, mc_diag *d)
{
    *status = 0;
    mc_buf_reset(&h->body);
    mc_buf_reset(&h->headers);
    h->body.max = max_bytes;
    h->too_big = 0;
    size_t n = strlen(h->root) + strlen(path) + 1;
    char *url = mc_malloc(n);
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    struct curl_slist *h2 = hdr ? curl_slist_append(hdr, "Expect:") : NULL;
    struct curl_slist *h3 = h2 && h->auth ? curl_slist_append(h2, h->auth) : h2;
    mc_err e = MC_OK;
    if (!url || !h3) {
        e = mc_fail(d, MC_ERR_NOMEM, "out of memory");
        goto out;
    }
    snprintf(url, n, "%s%s", h->root, path);
    set_options(h, url, method, body, h3);
    CURLcode rc = curl_easy_perform(h->easy);
    curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, status);
    if (h->too_big)
        e = mc_fail(d, MC_ERR_RANGE, "%s %s: response larger than %zu bytes", method, url,
                    max_bytes);
    else if (rc != CURLE_OK)
        e = mc_fail(d, MC_ERR_NET, "%s %s: %s", method, url, curl_easy_strerror(rc));
out:
    curl_slist_free_all(hdr); /* appends return the same head (or NULL, list untouched) */
    mc_free(url);
    return e;
}

const char *mc_lg_http_body(const mc_lg_http *h, size_t *len)
{
    *len = h->body.len;
    return h->body.data ? h->body.data : "";
}

const char *mc_lg_http_header(mc_lg_http *h, const char *name)
{
    size_t k = strlen(name);
    const char *p = h->headers.data, *end = p ? p + h->headers.len : NULL;
    while (p && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t n = eol ? (size_t)(eol - p) : (size_t)(end - p);
        if (n > k && p[k] == ':' && strncasecmp(p, name, k) == 0) {
            const char *v = p + k + 1;
            while (v < p + n && (*v == ' ' || *v == '\t'))
                v++;
            size_t vn = (size_t)(p + n - v);
            while (vn && (v[vn - 1] == '\r' || v[vn - 1] == ' '))
                vn--;
            snprintf(h->value, sizeof h->value, "%.*s", (int)vn, v);
            return h->value;
        }
        p += n + 1;
    }
    return NULL;
}
