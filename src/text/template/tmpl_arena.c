/* Arena + error context for one parse or one render (see tmpl_internal.h
 * for why failures longjmp: the arena owns everything, so nothing leaks). */
#include "text/template/tmpl_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tchunk {
    tchunk *next;
    size_t used, cap;
    max_align_t data[];
};

#define CHUNK_MIN (64 * 1024)

void inf__tc_init(tctx *c, size_t limit, inf__err *err) {
    c->chunks = NULL;
    c->total = 0;
    c->limit = limit;
    c->err = err;
}

void inf__tc_release(tctx *c) {
    if (!c) return;
    tchunk *k = c->chunks;
    while (k) {
        tchunk *next = k->next;
        free(k);
        k = next;
    }
    c->chunks = NULL;
    c->total = 0;
}

_Noreturn void inf__tc_fail(tctx *c, int code, const char *fmt, ...) {
    c->err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err->msg, sizeof c->err->msg, fmt, ap);
    va_end(ap);
    longjmp(c->jb, 1);
}

void *inf__tc_alloc(tctx *c, size_t n) {
    const size_t al = sizeof(max_align_t);
    if (n > (size_t)1 << 40) inf__tc_fail(c, INF_E_LIMIT, "template memory limit exceeded");
    n = (n + al - 1) / al * al;
    if (n == 0) n = al;
    tchunk *k = c->chunks;
    if (!k || k->cap - k->used < n) {
        size_t cap = n > CHUNK_MIN ? n : CHUNK_MIN;
        if (c->limit && c->total + cap > c->limit)
            inf__tc_fail(c, INF_E_LIMIT, "template memory limit exceeded (%zu bytes)", c->limit);
        tchunk *nk = malloc(sizeof *nk + cap);
        if (!nk) inf__tc_fail(c, INF_E_NOMEM, "out of memory in template engine");
        nk->used = 0;
        nk->cap = cap;
        c->total += cap;
        /* A big one-off block goes behind the current chunk so the
         * current chunk's free tail stays usable. */
        if (k && cap == n && k->cap - k->used > 256) {
            nk->next = k->next;
            k->next = nk;
        } else {
            nk->next = k;
            c->chunks = nk;
        }
        k = nk;
    }
    void *p = (char *)k->data + k->used;
    k->used += n;
    memset(p, 0, n);
    return p;
}

char *inf__tc_strdup(tctx *c, const char *p, size_t n) {
    char *s = inf__tc_alloc(c, n + 1);
    if (n) memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

void inf__tb_init(tbuf *b, tctx *c, size_t limit) {
    b->c = c;
    b->p = NULL;
    b->n = b->cap = 0;
    b->limit = limit;
}

void inf__tb_put(tbuf *b, const char *p, size_t n) {
    if (n == 0) return;
    if (b->limit && b->n + n > b->limit)
        inf__tc_fail(b->c, INF_E_LIMIT, "template output exceeds the limit of %zu bytes", b->limit);
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        while (cap < b->n + n + 1) cap *= 2;
        char *np = inf__tc_alloc(b->c, cap);
        if (b->n) memcpy(np, b->p, b->n);
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void inf__tb_puts(tbuf *b, const char *s) { inf__tb_put(b, s, strlen(s)); }
void inf__tb_putc(tbuf *b, char ch) { inf__tb_put(b, &ch, 1); }

void inf__tb_printf(tbuf *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0) return;
    if ((size_t)k >= sizeof tmp) k = sizeof tmp - 1;
    inf__tb_put(b, tmp, (size_t)k);
}
