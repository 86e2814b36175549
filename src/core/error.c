#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int inf__seterr(inf__err *e, int code, const char *fmt, ...) {
    if (!e) return code;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return code;
}

int inf__err_prefix(inf__err *e, const char *fmt, ...) {
    if (!e) return INF_OK;
    char prefix[INF__ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[INF__ERR_MSG_MAX];
    memcpy(old, e->msg, sizeof old);
    /* Truncation is acceptable for a diagnostic; build it piecewise. */
    size_t n = strlen(prefix);
    if (n > sizeof e->msg - 3) n = sizeof e->msg - 3;
    memcpy(e->msg, prefix, n);
    e->msg[n] = ':';
    e->msg[n + 1] = ' ';
    size_t rest = sizeof e->msg - n - 3;
    size_t m = strlen(old);
    if (m > rest) m = rest;
    memcpy(e->msg + n + 2, old, m);
    e->msg[n + 2 + m] = '\0';
    return e->code;
}
