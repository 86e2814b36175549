/* Internal error reporting: every fallible internal function takes an
 * inf__err* (which may be NULL) and returns an inf_status code.
 * The library never prints, aborts or exits; failures travel up as values. */
#ifndef INF_CORE_ERROR_H
#define INF_CORE_ERROR_H

#include "inference.h"

#define INF__ERR_MSG_MAX 512

typedef struct inf__err {
    int code;                    /* inf_status; INF_OK when clear */
    char msg[INF__ERR_MSG_MAX];  /* human-readable, always NUL-terminated */
} inf__err;

/* Records code and a printf-style message in *e (when e != NULL) and
 * returns code, so callers can write `return inf__seterr(e, ...);`. */
int inf__seterr(inf__err *e, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Prefixes the existing message with "prefix: " (e.g. a file name). */
int inf__err_prefix(inf__err *e, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static inline void inf__err_clear(inf__err *e) {
    if (e) { e->code = 0; e->msg[0] = '\0'; }
}

#endif
