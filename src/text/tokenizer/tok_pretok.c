/* Pre-tokenizers: cut a normalized piece of text into the words BPE runs
 * on.  Each step maps a list of pieces to a new list; pieces are kept as
 * bounds into one byte buffer, so a step never allocates per piece.  The
 * splitting rules (segments of match / non-match, then a behaviour that
 * decides how matches join their neighbours) follow the HF definitions. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "text/tokenizer/tok_internal.h"

#define OOM(err) inf__seterr(err, INF_E_NOMEM, "out of memory")

static int bounds_push(tk_bounds *b, size_t s, size_t e) {
    if (b->n + 2 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 128;
        size_t *p = realloc(b->p, cap * sizeof *p);
        if (!p) return -1;
        b->p = p;
        b->cap = cap;
    }
    b->p[b->n++] = s;
    b->p[b->n++] = e;
    return 0;
}

/* Segments of one piece: (start, end, is_match) triples, covering it. */
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

/* Applies a split behaviour to the segments and appends the non-empty
 * resulting pieces (as bytes of p) to out / ob. */
static int apply_behavior(const char *p, segs_t *g, int behavior, int invert, tk_buf *out, tk_bounds *ob) {
    size_t n = g->n / 3;
    size_t *q = g->p;
    if (invert)
        for (size_t i = 0; i < n; i++) q[3 * i + 2] = !q[3 * i + 2];
    /* Merge in place: w is the write index of (start, end) pairs. */
    size_t w = 0;
    int prev_match = 0;
    if (behavior == SB_MERGED_NEXT) {
        /* Fold from the right: a match joins the piece that follows it. */
        size_t *tmp = malloc((n ? n : 1) * 2 * sizeof *tmp);
        if (!tmp) return -1;
        for (size_t k = n; k-- > 0;) {
            size_t s = q[3 * k], e = q[3 * k + 1];
            int m = (int)q[3 * k + 2];
            if (m && !prev_match && w > 0) tmp[2 * (w - 1)] = s;
            else { tmp[2 * w] = s; tmp[2 * w + 1] = e; w++; }
            prev_match = m;
        }
        int rc = 0;
        for (size_t k = w; k-- > 0 && !rc;) {
            size_t s = tmp[2 * k], e = tmp[2 * k + 1];
            if (e > s) {
                size_t at = out->n;
                rc = inf__tk_buf_put(out, p + s, e - s) || bounds_push(ob, at, out->n);
            }
        }
        free(tmp);
        return rc ? -1 : 0;
    }
    for (size_t k = 0; k < n; k++) {
        size_t s = q[3 * k], e = q[3 * k + 1];
        int m = (int)q[3 * k + 2];
        switch (behavior) {
        case SB_REMOVED:
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
    for (size_t k = 0; k < w; k++) {
        size_t s = q[2 * k], e = q[2 * k + 1];
        if (e <= s) continue;
        size_t at = out->n;
        if (inf__tk_buf_put(out, p + s, e - s) || bounds_push(ob, at, out->n)) return -1;
    }
    return 0;
}

/* Regex matches as segments (HF find_matches). */
static int regex_segments(const pcre2_code *re, pcre2_match_data *md, const char *s, size_t n,
                          segs_t *g, inf__err *err) {
    size_t pos = 0, prev = 0, ms, me;
    int r;
    while ((r = inf__tk_regex_next(re, md, s, n, pos, &ms, &me)) == 1) {
        if (ms > prev && seg_push(g, prev, ms, 0)) return OOM(err);
        if (seg_push(g, ms, me, 1)) return OOM(err);
        prev = me;
        if (me == ms) {
            if (me >= n) break;
            int l;
            inf__tk_utf8_dec(s + me, n - me, &l);
            pos = me + (size_t)l;
        } else {
            pos = me;
        }
    }
    if (r < 0) return inf__seterr(err, INF_E_TOKENIZER, "pre-tokenizer regex match failed");
    if (prev < n && seg_push(g, prev, n, 0)) return OOM(err);
    return INF_OK;
}

static int is_punct(uint32_t c) {
    if (c < 0x80) return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

/* One segment per matching character, runs of others as one segment. */
static int char_segments(int kind, const char *s, size_t n, segs_t *g, inf__err *err) {
    size_t run = 0;
    for (size_t i = 0; i < n;) {
        int l;
        uint32_t c = inf__tk_utf8_dec(s + i, n - i, &l);
        int m = kind == PT_DIGITS ? (c >= '0' && c <= '9') : kind == PT_PUNCTUATION ? is_punct(c) : inf__tk_is_space(c);
        if (m) {
            if (i > run && seg_push(g, run, i, 0)) return OOM(err);
            if (seg_push(g, i, i + (size_t)l, 1)) return OOM(err);
            run = i + (size_t)l;
        }
        i += (size_t)l;
    }
    if (run < n && seg_push(g, run, n, 0)) return OOM(err);
    return INF_OK;
}

static int bytelevel_map(const char *s, size_t n, int add_prefix_space, tk_buf *out, tk_bounds *ob) {
    size_t at = out->n;
    if (inf__tk_buf_reserve(out, 2 * n + 3)) return -1;
    char *o = out->p + out->n;
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
    return bounds_push(ob, at, out->n);
}

int inf__tk_pretokenize(const inf__tokenizer *t, const char *s, size_t n,
                        int first_piece, tk_buf *words, tk_bounds *bounds,
                        tk_buf *scratch, pcre2_match_data **md, inf__err *err) {
    words->n = 0;
    bounds->n = 0;
    if (inf__tk_buf_put(words, s, n) || bounds_push(bounds, 0, n)) return OOM(err);
    segs_t g = {0};
    tk_bounds nb = {0};
    int rc = INF_OK;
    for (size_t k = 0; k < t->n_pre && !rc; k++) {
        const tk_pretok *pt = &t->pre[k];
        scratch->n = 0;
        nb.n = 0;
        for (size_t i = 0; i < bounds->n && !rc; i += 2) {
            const char *p = words->p + bounds->p[i];
            size_t m = bounds->p[i + 1] - bounds->p[i];
            g.n = 0;
            switch (pt->type) {
            case PT_SPLIT:
            case PT_WHITESPACE:
                if (!*md && !(*md = pcre2_match_data_create(1, NULL))) { rc = OOM(err); break; }
                if (pt->type == PT_WHITESPACE) {
                    rc = regex_segments(pt->re, *md, p, m, &g, err);
                    if (!rc && apply_behavior(p, &g, SB_REMOVED, 1, scratch, &nb)) rc = OOM(err);
                } else {
                    rc = regex_segments(pt->re, *md, p, m, &g, err);
                    if (!rc && apply_behavior(p, &g, pt->behavior, pt->invert, scratch, &nb)) rc = OOM(err);
                }
                break;
            case PT_DIGITS:
                rc = char_segments(PT_DIGITS, p, m, &g, err);
                if (!rc && apply_behavior(p, &g, pt->individual_digits ? SB_ISOLATED : SB_CONTIGUOUS, 0, scratch, &nb))
                    rc = OOM(err);
                break;
            case PT_PUNCTUATION:
            case PT_WHITESPACE_SPLIT:
                rc = char_segments(pt->type, p, m, &g, err);
                if (!rc && apply_behavior(p, &g, pt->type == PT_PUNCTUATION ? pt->behavior : SB_REMOVED, 0, scratch, &nb))
                    rc = OOM(err);
                break;
            case PT_BYTELEVEL:
                if (pt->use_regex) {
                    /* Prefix space first, then the GPT-2 split, then the map. */
                    tk_buf pre = {0};
                    if ((pt->add_prefix_space && (m == 0 || p[0] != ' ') && inf__tk_buf_put(&pre, " ", 1)) ||
                        inf__tk_buf_put(&pre, p, m)) { free(pre.p); rc = OOM(err); break; }
                    if (!*md && !(*md = pcre2_match_data_create(1, NULL))) { free(pre.p); rc = OOM(err); break; }
                    rc = regex_segments(pt->re, *md, pre.p, pre.n, &g, err);
                    for (size_t j = 0; !rc && j < g.n; j += 3)
                        if (g.p[j + 1] > g.p[j] && bytelevel_map(pre.p + g.p[j], g.p[j + 1] - g.p[j], 0, scratch, &nb))
                            rc = OOM(err);
                    free(pre.p);
                } else if (bytelevel_map(p, m, pt->add_prefix_space, scratch, &nb)) {
                    rc = OOM(err);
                }
                break;
            case PT_METASPACE: {
                /* Spaces become the replacement, which may be prepended;
                 * then each replacement starts a new word. */
                tk_buf r = {0};
                int starts = m >= (size_t)pt->repl_len && memcmp(p, pt->repl, (size_t)pt->repl_len) == 0;
                int prepend = !starts && (pt->prepend_scheme == PS_ALWAYS ||
                                          (pt->prepend_scheme == PS_FIRST && first_piece && i == 0));
                if (prepend && inf__tk_buf_put(&r, pt->repl, (size_t)pt->repl_len)) rc = OOM(err);
                for (size_t j = 0; j < m && !rc; j++)
                    if (p[j] == ' ' ? inf__tk_buf_put(&r, pt->repl, (size_t)pt->repl_len) : inf__tk_buf_put(&r, p + j, 1))
                        rc = OOM(err);
                if (!rc && r.n) {
                    if (!pt->split) {
                        size_t at = scratch->n;
                        if (inf__tk_buf_put(scratch, r.p, r.n) || bounds_push(&nb, at, scratch->n)) rc = OOM(err);
                    } else {
                        size_t run = 0;
                        for (size_t j = 0; j + (size_t)pt->repl_len <= r.n && !rc;) {
                            if (memcmp(r.p + j, pt->repl, (size_t)pt->repl_len) == 0) {
                                if (j > run && seg_push(&g, run, j, 0)) rc = OOM(err);
                                if (!rc && seg_push(&g, j, j + (size_t)pt->repl_len, 1)) rc = OOM(err);
                                j += (size_t)pt->repl_len;
                                run = j;
                            } else {
                                j++;
                            }
                        }
                        if (!rc && run < r.n && seg_push(&g, run, r.n, 0)) rc = OOM(err);
                        if (!rc && apply_behavior(r.p, &g, SB_MERGED_NEXT, 0, scratch, &nb)) rc = OOM(err);
                    }
                }
                free(r.p);
                break;
            }
            default:
                rc = inf__seterr(err, INF_E_INTERNAL, "unknown pre-tokenizer");
            }
        }
        /* The new list becomes current. */
        tk_buf sw = *words;
        *words = *scratch;
        *scratch = sw;
        tk_bounds sb = *bounds;
        *bounds = nb;
        nb = sb;
    }
    free(g.p);
    free(nb.p);
    if (!words->p && inf__tk_buf_put(words, "", 0)) rc = OOM(err);
    return rc;
}
