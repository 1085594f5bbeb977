/* err.c: error names and the diagnostics buffer. Depends on nothing but libc. */
#include "base.h"

#include <stdio.h>
#include <string.h>

const char *mc_err_name(mc_err e)
{
    switch (e) {
    case MC_OK: return "ok";
    case MC_ERR_ARG: return "bad argument";
    case MC_ERR_IO: return "I/O error";
    case MC_ERR_FORMAT: return "malformed input";
    case MC_ERR_RANGE: return "out of range";
    case MC_ERR_UNSUPPORTED: return "unsupported";
    case MC_ERR_NOT_FOUND: return "not found";
    case MC_ERR_NOMEM: return "out of memory";
    case MC_ERR_NET: return "network error";
    case MC_ERR_INTERNAL: return "internal error";
    }
    return "unknown error";
}

mc_err mc_vfail(mc_diag *d, mc_err e, const char *fmt, va_list ap)
{
    if (d)
        vsnprintf(d->msg, sizeof d->msg, fmt, ap);
    return e;
}

mc_err mc_fail(mc_diag *d, mc_err e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mc_vfail(d, e, fmt, ap);
    va_end(ap);
    return e;
}

void mc_diag_prefix(mc_diag *d, const char *fmt, ...)
{
    if (!d)
        return;
    char pre[256], old[sizeof d->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, d->msg, sizeof old);
    old[sizeof old - 1] = 0;
    size_t n = strnlen(pre, sizeof pre - 1);
    if (n + 2 >= sizeof d->msg)
        n = sizeof d->msg - 3;
    memcpy(d->msg, pre, n);
    memcpy(d->msg + n, ": ", 2);
    size_t rest = sizeof d->msg - n - 3;
    size_t m = strnlen(old, rest);
    memcpy(d->msg + n + 2, old, m);
    d->msg[n + 2 + m] = 0;
}
