/* alloc.c: the single allocation wrapper (with a fail-at-n hook for the torture tests) and the
 * capped growable buffer; cJSON is pointed at the wrapper before main() runs, so its allocations
 * fail under the torture test too. Depends on nothing but libc and cJSON's hook call. */
#include "base.h"

#include <cjson/cJSON.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Atomic uint64_t alloc_calls;
static _Atomic uint64_t alloc_fail_n; /* fail when alloc_calls reaches this; 0 = never */
static _Atomic uint64_t alloc_failed;  /* NULL returns, injected or real */

void mc_alloc_fail_at(uint64_t n)
{
    atomic_store(&alloc_calls, 0);
    atomic_store(&alloc_fail_n, n);
}

uint64_t mc_alloc_count(void) { return atomic_load(&alloc_calls); }

uint64_t mc_alloc_failures(void) { return atomic_load(&alloc_failed); }

static void *counted(void *p)
{
    if (!p)
        atomic_fetch_add(&alloc_failed, 1);
    return p;
}

static int should_fail(void)
{
    uint64_t n = atomic_fetch_add(&alloc_calls, 1) + 1;
    uint64_t f = atomic_load(&alloc_fail_n);
    return f != 0 && n == f;
}

void *mc_malloc(size_t size)
{
    if (should_fail())
        return counted(NULL);
    return counted(malloc(size ? size : 1));
}

void *mc_calloc(size_t n, size_t size)
{
    if (should_fail())
        return counted(NULL);
    if (n == 0 || size == 0)
        n = size = 1;
    return counted(calloc(n, size));
}

void *mc_realloc(void *p, size_t size)
{
    if (should_fail())
        return counted(NULL);
    return counted(realloc(p, size ? size : 1));
}

void *mc_mallocarray(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    return mc_malloc(n * size);
}

void *mc_reallocarray(void *p, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    return mc_realloc(p, n * size);
}

char *mc_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *r = mc_malloc(len + 1);
    if (!r)
        return NULL;
    memcpy(r, s, len);
    r[len] = 0;
    return r;
}

char *mc_strdup(const char *s) { return mc_strndup(s, SIZE_MAX); }

void mc_free(void *p) { free(p); }

/* Every binary that allocates links this file: cJSON's nodes and printed texts come from
 * mc_malloc from the start (cJSON_free / cJSON_Delete then release them with mc_free). */
__attribute__((constructor)) static void json_hooks(void)
{
    cJSON_Hooks h = {mc_malloc, mc_free};
    cJSON_InitHooks(&h);
}

/* ---- mc_buf ---- */

void mc_buf_init(mc_buf *b, size_t max)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->max = max ? max : SIZE_MAX / 2;
}

void mc_buf_deinit(mc_buf *b)
{
    mc_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void mc_buf_reset(mc_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = 0;
}

static mc_err buf_reserve(mc_buf *b, size_t extra)
{
    if (extra > b->max - b->len)
        return MC_ERR_RANGE;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return MC_OK;
    size_t ncap = b->cap ? b->cap : 64;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 4 ? need : ncap * 2;
    char *nd = mc_realloc(b->data, ncap);
    if (!nd)
        return MC_ERR_NOMEM;
    b->data = nd;
    b->cap = ncap;
    return MC_OK;
}

mc_err mc_buf_append(mc_buf *b, const void *p, size_t n)
{
    mc_err e = buf_reserve(b, n);
    if (e)
        return e;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return MC_OK;
}

mc_err mc_buf_printf(mc_buf *b, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        va_end(ap2);
        return MC_ERR_INTERNAL;
    }
    mc_err e = buf_reserve(b, (size_t)n);
    if (e) {
        va_end(ap2);
        return e;
    }
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    b->len += (size_t)n;
    return MC_OK;
}
