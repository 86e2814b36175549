/* Incremental server-sent-events parser (see sse.h).  Follows the WHATWG
 * event-stream rules that matter for completion streams: lines end in LF,
 * CR or CRLF; "field: value" drops one space after the colon; an empty line
 * dispatches the event; an event without data is not dispatched. */
#include "remote/sse.h"

#include <stdlib.h>
#include <string.h>

void inf__sse_init(inf__sse *p) {
    memset(p, 0, sizeof *p);
}

void inf__sse_free(inf__sse *p) {
    if (!p) return;
    free(p->line);
    free(p->data);
    inf__sse_init(p);
}

static int grow(char **buf, size_t *cap, size_t need) {
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap : 256;
    while (nc < need) nc *= 2;
    char *nb = realloc(*buf, nc);
    if (!nb) return -1;
    *buf = nb;
    *cap = nc;
    return 0;
}

static int dispatch(inf__sse *p, inf__sse_fn fn, void *user) {
    int rc = 0;
    if (p->has_data) {
        if (grow(&p->data, &p->data_cap, p->data_len + 1)) return INF__SSE_E_NOMEM;
        p->data[p->data_len] = '\0';
        rc = fn(p->event, p->data, p->data_len, user);
    }
    p->data_len = 0;
    p->has_data = 0;
    p->event[0] = '\0';
    return rc;
}

/* Handles one complete line (without its terminator). */
static int line(inf__sse *p, const char *s, size_t n, inf__sse_fn fn,
                void *user) {
    if (n == 0) return dispatch(p, fn, user);
    if (s[0] == ':') return 0; /* comment / keep-alive */
    const char *colon = memchr(s, ':', n);
    size_t flen = colon ? (size_t)(colon - s) : n;
    const char *v = colon ? colon + 1 : s + n;
    size_t vlen = (size_t)(s + n - v);
    if (vlen && v[0] == ' ') { v++; vlen--; }
    if (flen == 4 && memcmp(s, "data", 4) == 0) {
        /* Several data lines form one value joined by '\n', up to
         * max_event bytes: a server that never ends the event cannot make
         * it grow without bound. */
        size_t extra = p->has_data ? 1 : 0;
        size_t max_event = p->max_event ? p->max_event : INF__SSE_MAX_EVENT;
        if (p->data_len + extra + vlen > max_event) return INF__SSE_E_EVENT;
        if (grow(&p->data, &p->data_cap, p->data_len + extra + vlen + 1))
            return INF__SSE_E_NOMEM;
        if (extra) p->data[p->data_len++] = '\n';
        memcpy(p->data + p->data_len, v, vlen);
        p->data_len += vlen;
        p->has_data = 1;
    } else if (flen == 5 && memcmp(s, "event", 5) == 0) {
        size_t k = vlen < sizeof p->event - 1 ? vlen : sizeof p->event - 1;
        memcpy(p->event, v, k);
        p->event[k] = '\0';
    }
    return 0;
}

int inf__sse_feed(inf__sse *p, const char *buf, size_t n, inf__sse_fn fn,
                  void *user) {
    size_t max_line = p->max_line ? p->max_line : INF__SSE_MAX_LINE;
    size_t i = 0;
    if (p->last_cr && n > 0) {
        /* The '\r' that ended the previous chunk already ended a line; a
         * '\n' right after it is the rest of a CRLF pair. */
        if (buf[0] == '\n') i = 1;
        p->last_cr = 0;
    }
    while (i < n) {
        /* Find the end of the current line in this chunk. */
        size_t j = i;
        while (j < n && buf[j] != '\n' && buf[j] != '\r') j++;
        /* Every line, whether it arrived whole or in pieces, is held to
         * max_line. */
        if (p->line_len + (j - i) > max_line) return INF__SSE_E_LINE;
        if (j == n) { /* unfinished: keep it for the next chunk */
            if (grow(&p->line, &p->line_cap, p->line_len + (n - i) + 1))
                return INF__SSE_E_NOMEM;
            memcpy(p->line + p->line_len, buf + i, n - i);
            p->line_len += n - i;
            break;
        }
        int rc;
        if (p->line_len) { /* completes a line started in earlier chunks */
            if (grow(&p->line, &p->line_cap, p->line_len + (j - i) + 1))
                return INF__SSE_E_NOMEM;
            memcpy(p->line + p->line_len, buf + i, j - i);
            size_t len = p->line_len + (j - i);
            p->line_len = 0;
            rc = line(p, p->line, len, fn, user);
        } else {
            rc = line(p, buf + i, j - i, fn, user);
        }
        if (rc) return rc;
        if (buf[j] == '\r') {
            if (j + 1 < n) {
                if (buf[j + 1] == '\n') j++;
            } else {
                p->last_cr = 1;
            }
        }
        i = j + 1;
    }
    return 0;
}

int inf__sse_finish(inf__sse *p, inf__sse_fn fn, void *user) {
    int rc = 0;
    if (p->line_len) {
        size_t len = p->line_len;
        p->line_len = 0;
        rc = line(p, p->line, len, fn, user);
        if (rc) return rc;
    }
    return dispatch(p, fn, user);
}
