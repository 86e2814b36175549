/* Pre-tokenizers: cut a normalized piece of text into the words BPE runs
 * on.  The steps run depth first: each piece a step produces goes through
 * the following steps and to BPE at once, and a long text is segmented in
 * batches, so memory stays small however long the input.  The splitting
 * rules (segments of match / non-match, then a behaviour that decides how
 * matches join their neighbours) follow the HF definitions. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "text/tokenizer/tok_internal.h"

#define OOM(err) inf__seterr(err, INF_E_NOMEM, "out of memory")

/* Segments: (start, end, is_match) triples covering a stretch of text. */
typedef struct { size_t *p; size_t n, cap; } segs_t;

static int seg_push(segs_t *g, size_t s, size_t e, int m) {
    if (g->n + 3 > g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 96;
        size_t *p = realloc(g->p, cap * sizeof *p);
        if (!p) return -1;
        g->p = p;
        g->cap = cap;
    }
    g->p[g->n++] = s;
    g->p[g->n++] = e;
    g->p[g->n++] = (size_t)m;
    return 0;
}

struct tk_pt_depth { segs_t g; tk_buf buf; };

/* Applies a split behaviour to the segments in g, in place: afterwards g
 * holds *n_out (start, end) pairs of the resulting pieces (empty pieces
 * included; callers skip them). */
static void apply_behavior(segs_t *g, int behavior, int invert, size_t *n_out) {
    size_t n = g->n / 3, w = 0;
    size_t *q = g->p;
    int prev_match = 0;
    if (invert)
        for (size_t i = 0; i < n; i++) q[3 * i + 2] = !q[3 * i + 2];
    if (behavior == SB_MERGED_NEXT) {
        /* Fold from the right (a match joins the piece after it), writing
         * pairs from the end of the array, then move them to the front. */
        size_t top = 3 * n; /* pairs are written downwards from here */
        for (size_t k = n; k-- > 0;) {
            size_t s = q[3 * k], e = q[3 * k + 1];
            int m = (int)q[3 * k + 2];
            if (m && !prev_match && w > 0) q[top] = s;
            else { top -= 2; q[top] = s; q[top + 1] = e; w++; }
            prev_match = m;
        }
        memmove(q, q + top, 2 * w * sizeof *q);
        *n_out = w;
        return;
    }
    for (size_t k = 0; k < n; k++) {
        size_t s = q[3 * k], e = q[3 * k + 1];
        int m = (int)q[3 * k + 2];
        switch (behavior) {
        case SB_REMOVED:
            prev_match = m;
            if (m) continue;
            break;
        case SB_MERGED_PREV:
            if (m && !prev_match && w > 0) { q[2 * (w - 1) + 1] = e; prev_match = m; continue; }
            break;
        case SB_CONTIGUOUS:
            if (m == prev_match && w > 0) { q[2 * (w - 1) + 1] = e; prev_match = m; continue; }
            break;
        default:
            break;
        }
        prev_match = m;
        q[2 * w] = s;
        q[2 * w + 1] = e;
        w++;
    }
    *n_out = w;
}

/* Rust char::is_numeric (what HF's Digits uses): Nd, Nl and No. */
static int is_numeric(uint32_t c) {
    if (c < 0x80) return c >= '0' && c <= '9';
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO;
}

static int is_punct(uint32_t c) {
    if (c < 0x80) return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

typedef struct {
    const inf__tokenizer *t;
    struct tk_pt_depth *d;
    pcre2_match_data *md;
    int (*fn)(void *ctx, const char *w, size_t n);
    void *ctx;
    inf__err *err;
} walk_t;

static int step(walk_t *w, size_t k, const char *p, size_t m, int at_zero);

/* Next match of a step's pattern in p[m] at or after pos: 1 and bounds, 0
 * when none, -1 on a regex failure.  Character classes match one char. */
static int next_match(walk_t *w, const tk_pretok *pt, const pcre2_code *re, const char *p, size_t m, size_t pos,
                      size_t *ms, size_t *me) {
    if (re) return inf__tk_regex_next(re, w->md, p, m, pos, ms, me);
    while (pos < m) {
        int l;
        uint32_t c = inf__tk_utf8_dec(p + pos, m - pos, &l);
        int hit = pt->type == PT_DIGITS ? is_numeric(c)
                : pt->type == PT_PUNCTUATION ? is_punct(c) : inf__tk_is_space(c);
        if (hit) { *ms = pos; *me = pos + (size_t)l; return 1; }
        pos += (size_t)l;
    }
    return 0;
}

/* Splits p[m] by the step's pattern and behaviour and passes each piece to
 * step k + 1.  Segments are
 * gathered in batches; every piece of a batch but the last is final (a
 * behaviour only ever joins a piece with its neighbour), and the next batch
 * restarts at the last piece. */
static int split_stream(walk_t *w, size_t k, const tk_pretok *pt, const pcre2_code *re, int behavior, int invert,
                        const char *p, size_t m, int at_zero) {
    segs_t *g = &w->d[k].g;
    size_t base = 0, batch = 256;
    for (;;) {
        g->n = 0;
        size_t prev = base, pos = base, count = 0, ms, me;
        int done = 0, r;
        for (;;) {
            if (count >= batch) break;
            r = next_match(w, pt, re, p, m, pos, &ms, &me);
            if (r < 0) return inf__seterr(w->err, INF_E_TOKENIZER, "pre-tokenizer regex match failed");
            if (r == 0) {
                if (prev < m && seg_push(g, prev, m, 0)) return OOM(w->err);
                done = 1;
                break;
            }
            if ((ms > prev && seg_push(g, prev, ms, 0)) || seg_push(g, ms, me, 1)) return OOM(w->err);
            prev = me;
            count++;
            if (me == ms) {
                if (me >= m) { done = 1; break; }
                int l;
                inf__tk_utf8_dec(p + me, m - me, &l);
                pos = me + (size_t)l;
            } else {
                pos = me;
            }
        }
        if (done && prev < m && (g->n == 0 || g->p[g->n - 2] < m) && seg_push(g, prev, m, 0)) return OOM(w->err);
        size_t n_out;
        apply_behavior(g, behavior, invert, &n_out);
        if (!done && n_out <= 1) { batch *= 2; continue; } /* no final piece yet */
        size_t emit = done ? n_out : n_out - 1;
        /* Pieces are read from g while deeper steps use their own depth. */
        for (size_t i = 0; i < emit; i++) {
            size_t s = g->p[2 * i], e = g->p[2 * i + 1];
            if (e <= s) continue;
            int rc = step(w, k + 1, p + s, e - s, at_zero && s == 0);
            if (rc) return rc;
        }
        if (done) return INF_OK;
        base = g->p[2 * (n_out - 1)];
    }
}

/* Maps bytes to the GPT-2 alphabet into buf (cleared first). */
static int bytelevel_map(const char *s, size_t n, int add_prefix_space, tk_buf *out) {
    out->n = 0;
    if (inf__tk_buf_reserve(out, 2 * n + 3)) return -1;
    char *o = out->p;
    if (add_prefix_space && (n == 0 || s[0] != ' ')) {
        *o++ = (char)0xC4; *o++ = (char)0xA0; /* U+0120, the image of ' ' */
    }
    for (size_t i = 0; i < n; i++) {
        uint16_t cp = inf__tk_byte2cp[(uint8_t)s[i]];
        if (cp < 0x80) *o++ = (char)cp;
        else { *o++ = (char)(0xC0 | (cp >> 6)); *o++ = (char)(0x80 | (cp & 0x3F)); }
    }
    out->n = (size_t)(o - out->p);
    out->p[out->n] = '\0';
    return 0;
}

static int step(walk_t *w, size_t k, const char *p, size_t m, int at_zero) {
    if (k == w->t->n_pre) return w->fn(w->ctx, p, m);
    const tk_pretok *pt = &w->t->pre[k];
    tk_buf *buf = &w->d[k].buf;
    switch (pt->type) {
    case PT_SPLIT:
        return split_stream(w, k, pt, pt->re, pt->behavior, pt->invert, p, m, at_zero);
    case PT_WHITESPACE:
        return split_stream(w, k, pt, pt->re, SB_REMOVED, 1, p, m, at_zero);
    case PT_DIGITS:
        return split_stream(w, k, pt, NULL, pt->individual_digits ? SB_ISOLATED : SB_CONTIGUOUS, 0, p, m, at_zero);
    case PT_PUNCTUATION:
        return split_stream(w, k, pt, NULL, pt->behavior, 0, p, m, at_zero);
    case PT_WHITESPACE_SPLIT:
        return split_stream(w, k, pt, NULL, SB_REMOVED, 0, p, m, at_zero);
    case PT_BYTELEVEL: {
        if (!pt->use_regex) {
            if (bytelevel_map(p, m, pt->add_prefix_space, buf)) return OOM(w->err);
            return step(w, k + 1, buf->p, buf->n, at_zero);
        }
        /* Prefix space, the GPT-2 split (Isolated), then each piece mapped:
         * done as a nested walk over a private copy of the text. */
        tk_buf pre = {0};
        if ((pt->add_prefix_space && (m == 0 || p[0] != ' ') && inf__tk_buf_put(&pre, " ", 1)) ||
            inf__tk_buf_put(&pre, p, m)) { free(pre.p); return OOM(w->err); }
        segs_t *g = &w->d[k].g;
        g->n = 0;
        size_t pos = 0, prev = 0, ms, me;
        int r, rc = 0;
        while ((r = inf__tk_regex_next(pt->re, w->md, pre.p, pre.n, pos, &ms, &me)) == 1) {
            if ((ms > prev && seg_push(g, prev, ms, 0)) || seg_push(g, ms, me, 1)) { rc = OOM(w->err); break; }
            prev = me;
            if (me == ms) {
                if (me >= pre.n) break;
                int l;
                inf__tk_utf8_dec(pre.p + me, pre.n - me, &l);
                pos = me + (size_t)l;
            } else {
                pos = me;
            }
        }
        if (!rc && r < 0) rc = inf__seterr(w->err, INF_E_TOKENIZER, "ByteLevel regex match failed");
        if (!rc && prev < pre.n && seg_push(g, prev, pre.n, 0)) rc = OOM(w->err);
        /* Bounds copied out of g: buf (the mapped piece) is rewritten per
         * piece, the segments must stay. */
        size_t nseg = g->n / 3;
        size_t *bounds = rc ? NULL : malloc((nseg ? nseg : 1) * 2 * sizeof *bounds);
        if (!rc && !bounds) rc = OOM(w->err);
        for (size_t i = 0; !rc && i < nseg; i++) { bounds[2 * i] = g->p[3 * i]; bounds[2 * i + 1] = g->p[3 * i + 1]; }
        for (size_t i = 0; !rc && i < nseg; i++) {
            size_t s = bounds[2 * i], e = bounds[2 * i + 1];
            if (e <= s) continue;
            if (bytelevel_map(pre.p + s, e - s, 0, buf)) { rc = OOM(w->err); break; }
            rc = step(w, k + 1, buf->p, buf->n, at_zero && s == 0);
        }
        free(bounds);
        free(pre.p);
        return rc;
    }
    case PT_METASPACE: {
        /* Spaces become the replacement, which may be prepended; then each
         * replacement starts a new word (MergedWithNext). */
        buf->n = 0;
        /* HF tests for the replacement after spaces were replaced. */
        int starts = (m > 0 && p[0] == ' ') ||
                     (m >= (size_t)pt->repl_len && memcmp(p, pt->repl, (size_t)pt->repl_len) == 0);
        int prepend = !starts && (pt->prepend_scheme == PS_ALWAYS || (pt->prepend_scheme == PS_FIRST && at_zero));
        if (prepend && inf__tk_buf_put(buf, pt->repl, (size_t)pt->repl_len)) return OOM(w->err);
        for (size_t j = 0; j < m; j++)
            if (p[j] == ' ' ? inf__tk_buf_put(buf, pt->repl, (size_t)pt->repl_len) : inf__tk_buf_put(buf, p + j, 1))
                return OOM(w->err);
        if (!buf->n) return INF_OK;
        if (!pt->split) return step(w, k + 1, buf->p, buf->n, at_zero);
        /* Own the transformed text: buf belongs to this depth and is not
         * touched by deeper steps, so the pieces can point into it. */
        segs_t *g = &w->d[k].g;
        g->n = 0;
        size_t run = 0, L = (size_t)pt->repl_len;
        for (size_t j = 0; j + L <= buf->n;) {
            if (memcmp(buf->p + j, pt->repl, L) == 0) {
                if ((j > run && seg_push(g, run, j, 0)) || seg_push(g, j, j + L, 1)) return OOM(w->err);
                j += L;
                run = j;
            } else {
                j++;
            }
        }
        if (run < buf->n && seg_push(g, run, buf->n, 0)) return OOM(w->err);
        size_t n_out;
        apply_behavior(g, SB_MERGED_NEXT, 0, &n_out);
        for (size_t i = 0; i < n_out; i++) {
            size_t s = g->p[2 * i], e = g->p[2 * i + 1];
            if (e <= s) continue;
            int rc = step(w, k + 1, buf->p + s, e - s, at_zero && s == 0);
            if (rc) return rc;
        }
        return INF_OK;
    }
    }
    return inf__seterr(w->err, INF_E_INTERNAL, "unknown pre-tokenizer");
}

tk_pt_scratch *inf__tk_pt_scratch_new(const inf__tokenizer *t) {
    tk_pt_scratch *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->n = t->n_pre;
    s->d = calloc(t->n_pre ? t->n_pre : 1, sizeof *s->d);
    if (!s->d) { free(s); return NULL; }
    return s;
}

void inf__tk_pt_scratch_free(tk_pt_scratch *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) { free(s->d[i].g.p); free(s->d[i].buf.p); }
    free(s->d);
    pcre2_match_data_free(s->md);
    free(s);
}

int inf__tk_pretokenize(const inf__tokenizer *t, const char *s, size_t n, int at_zero, tk_pt_scratch *sc,
                        int (*fn)(void *ctx, const char *w, size_t n), void *ctx, inf__err *err) {
    if (!sc->md && !(sc->md = pcre2_match_data_create(1, NULL))) return OOM(err);
    walk_t w = {t, sc->d, sc->md, fn, ctx, err};
    return step(&w, 0, s, n, at_zero);
}
