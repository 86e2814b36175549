/* Stop-string matching with hold-back (see stopstr.h). */
#include "engine/stopstr.h"

#include <stdlib.h>
#include <string.h>

struct inf__stopstr {
    char **stops;
    size_t *lens;
    size_t n;
    char *buf; /* held-back tail + the new piece */
    size_t len, cap;
    char *out; /* what feed/flush returned last */
    size_t out_cap;
};

inf__stopstr *inf__stopstr_new(const char *const *stops, size_t n) {
    inf__stopstr *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    if (n) {
        m->stops = calloc(n, sizeof *m->stops);
        m->lens = calloc(n, sizeof *m->lens);
        if (!m->stops || !m->lens) goto fail;
        for (size_t i = 0; i < n; i++) {
            if (!stops[i] || !stops[i][0]) continue;
            size_t l = strlen(stops[i]);
            m->stops[m->n] = malloc(l + 1);
            if (!m->stops[m->n]) goto fail;
            memcpy(m->stops[m->n], stops[i], l + 1);
            m->lens[m->n++] = l;
        }
    }
    return m;
fail:
    inf__stopstr_free(m);
    return NULL;
}

void inf__stopstr_free(inf__stopstr *m) {
    if (!m) return;
    if (m->stops)
        for (size_t i = 0; i < m->n; i++) free(m->stops[i]);
    free(m->stops);
    free(m->lens);
    free(m->buf);
    free(m->out);
    free(m);
}

static int reserve(char **p, size_t *cap, size_t need) {
    if (*cap >= need) return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    char *q = realloc(*p, c);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

/* Copies buf[0..n) to the out buffer and drops it from buf. */
static int release(inf__stopstr *m, size_t n, const char **out,
                   size_t *out_len) {
    if (reserve(&m->out, &m->out_cap, n + 1) != 0) return -1;
    if (n) memcpy(m->out, m->buf, n);
    m->out[n] = '\0';
    if (m->len > n) memmove(m->buf, m->buf + n, m->len - n);
    m->len -= n;
    *out = m->out;
    *out_len = n;
    return 0;
}

int inf__stopstr_feed(inf__stopstr *m, const char *piece, size_t len,
                      const char **out, size_t *out_len) {
    if (reserve(&m->buf, &m->cap, m->len + len + 1) != 0) return -1;
    if (len) memcpy(m->buf + m->len, piece, len);
    m->len += len;

    /* Earliest match of any stop string. */
    size_t best = (size_t)-1;
    for (size_t i = 0; i < m->n; i++) {
        if (m->lens[i] > m->len) continue;
        const char *h = memmem(m->buf, m->len, m->stops[i], m->lens[i]);
        if (h && (size_t)(h - m->buf) < best) best = (size_t)(h - m->buf);
    }
    if (best != (size_t)-1) {
        if (release(m, best, out, out_len) != 0) return -1;
        m->len = 0;
        return 1;
    }

    /* Longest tail of buf that is a proper prefix of some stop string. */
    size_t hold = 0;
    for (size_t i = 0; i < m->n; i++) {
        size_t maxk = m->lens[i] - 1;
        if (maxk > m->len) maxk = m->len;
        for (size_t k = maxk; k > hold; k--) {
            if (memcmp(m->buf + m->len - k, m->stops[i], k) == 0) {
                hold = k;
                break;
            }
        }
    }
    return release(m, m->len - hold, out, out_len) != 0 ? -1 : 0;
}

void inf__stopstr_flush(inf__stopstr *m, const char **out, size_t *out_len) {
    if (release(m, m->len, out, out_len) != 0) {
        /* Out of memory for the copy: hand out the buffer itself. */
        *out = m->buf ? m->buf : "";
        *out_len = m->len;
        m->len = 0;
    }
}

size_t inf__stopstr_held(const inf__stopstr *m) { return m ? m->len : 0; }
