/* Regular expressions (README.md lists the syntax) -> expression trees.
 *
 * Characters are Unicode code points matched as UTF-8.  In JSON mode (the
 * schema keyword "pattern") the expression describes a string's decoded
 * value while the grammar produces its JSON text, so a character that JSON
 * must escape (", \, control characters) is matched in its escaped form. */
#include <stdlib.h>
#include <string.h>

#include "text/grammar/gram_internal.h"

typedef struct {
    gx_builder *b;
    const char *s;
    size_t n, i;
    int json;
    uint32_t depth;
    const char *what;
    inf__err *err;
    int rc;
} rp;

typedef struct { uint32_t *r; size_t n, cap; } cpset; /* lo,hi pairs */

static int fail(rp *p, int code, const char *msg) {
    if (!p->rc) p->rc = inf__seterr(p->err, code, "%s at offset %zu: %s", p->what, p->i, msg);
    return p->rc;
}

static int cs_add(rp *p, cpset *c, uint32_t lo, uint32_t hi) {
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        uint32_t *r = realloc(c->r, cap * 2 * sizeof *r);
        if (!r) return fail(p, INF_E_NOMEM, "out of memory");
        c->r = r;
        c->cap = cap;
    }
    c->r[2 * c->n] = lo;
    c->r[2 * c->n + 1] = hi;
    c->n++;
    return 0;
}

static int cmp_pair(const void *a, const void *b) {
    const uint32_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Sorts and merges; negate: complement over all code points. */
static int cs_norm(rp *p, cpset *c, int negate) {
    if (c->n) qsort(c->r, c->n, 2 * sizeof *c->r, cmp_pair);
    size_t m = 0;
    for (size_t k = 0; k < c->n; k++) {
        if (m && c->r[2 * k] <= c->r[2 * (m - 1) + 1] + 1) {
            if (c->r[2 * k + 1] > c->r[2 * (m - 1) + 1]) c->r[2 * (m - 1) + 1] = c->r[2 * k + 1];
        } else {
            c->r[2 * m] = c->r[2 * k];
            c->r[2 * m + 1] = c->r[2 * k + 1];
            m++;
        }
    }
    c->n = m;
    if (!negate) return 0;
    cpset o = {0};
    uint32_t next = 0;
    for (size_t k = 0; k < c->n; k++) {
        if (c->r[2 * k] > next && cs_add(p, &o, next, c->r[2 * k] - 1)) { free(o.r); return p->rc; }
        next = c->r[2 * k + 1] + 1;
    }
    if (next <= 0x10FFFF && cs_add(p, &o, next, 0x10FFFF)) { free(o.r); return p->rc; }
    free(c->r);
    *c = o;
    return 0;
}

static const char HEXU[] = "0123456789ABCDEF";

/* JSON's escaped form of code point c (< 0x20, '"' or '\\'). */
static gx_node *json_escape(gx_builder *b, uint32_t c) {
    static const char *short_esc[32] = {[8] = "\\b", [9] = "\\t", [10] = "\\n", [12] = "\\f", [13] = "\\r"};
    if (c == '"') return gx_lit(b, "\\\"", 2);
    if (c == '\\') return gx_lit(b, "\\\\", 2);
    gx_node *alt = gx_alt(b);
    if (short_esc[c] && gx_add(b, alt, gx_lit(b, short_esc[c], 2))) return NULL;
    /* \u00XX, hexadecimal digits in either case */
    gx_node *q = gx_seq(b);
    if (gx_add(b, q, gx_lit(b, "\\u00", 4))) return NULL;
    for (int k = 0; k < 2; k++) {
        int d = k ? (int)(c & 15) : (int)(c >> 4);
        gx_node *s = gx_set(b);
        if (!s) return NULL;
        unsigned char u = (unsigned char)HEXU[d], l = (unsigned char)(d >= 10 ? 'a' + d - 10 : HEXU[d]);
        s->set[u >> 5] |= 1u << (u & 31);
        s->set[l >> 5] |= 1u << (l & 31);
        if (gx_add(b, q, s)) return NULL;
    }
    if (gx_add(b, alt, q)) return NULL;
    return alt;
}

/* A node matching one character of the set. */
static gx_node *cs_node(rp *p, const cpset *c) {
    gx_node *alt = gx_alt(p->b);
    for (size_t k = 0; k < c->n && alt; k++) {
        uint32_t lo = c->r[2 * k], hi = c->r[2 * k + 1];
        if (p->json) {
            /* split off what JSON escapes */
            for (uint32_t x = lo; x <= hi && (x < 0x20 || x == '"' || x == '\\'); lo = ++x)
                if (gx_add(p->b, alt, json_escape(p->b, x))) return NULL;
            for (uint32_t x = hi; x >= lo && (x == '"' || x == '\\'); hi = --x)
                if (gx_add(p->b, alt, json_escape(p->b, x))) return NULL;
            if (lo <= '"' && hi >= '"') {
                if (gx_add(p->b, alt, gx_cp_range(p->b, lo, '"' - 1)) || gx_add(p->b, alt, json_escape(p->b, '"')))
                    return NULL;
                lo = '"' + 1;
            }
            if (lo <= '\\' && hi >= '\\') {
                if (gx_add(p->b, alt, gx_cp_range(p->b, lo, '\\' - 1)) || gx_add(p->b, alt, json_escape(p->b, '\\')))
                    return NULL;
                lo = '\\' + 1;
            }
            if (lo > hi) continue;
        }
        if (gx_add(p->b, alt, gx_cp_range(p->b, lo, hi))) return NULL;
    }
    if (!alt) fail(p, INF_E_NOMEM, "out of memory");
    return alt;
}

static int peek(rp *p) { return p->i < p->n ? (unsigned char)p->s[p->i] : -1; }

static int64_t utf8_cp(rp *p) {
    const unsigned char *s = (const unsigned char *)p->s + p->i;
    size_t left = p->n - p->i;
    uint32_t c = s[0];
    int l = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (!l || (size_t)l > left) return fail(p, INF_E_INVALID_ARGUMENT, "invalid UTF-8"), -1;
    if (l > 1) {
        c &= 0x3F >> (l - 1);
        for (int k = 1; k < l; k++) {
            if ((s[k] & 0xC0) != 0x80) return fail(p, INF_E_INVALID_ARGUMENT, "invalid UTF-8"), -1;
            c = (c << 6) | (s[k] & 0x3F);
        }
    }
    p->i += (size_t)l;
    return c;
}

static int hexv(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* After a backslash: adds the escape's characters to c.  Returns 0, or
 * the error. */
static int escape(rp *p, cpset *c) {
    if (p->i >= p->n) return fail(p, INF_E_INVALID_ARGUMENT, "trailing backslash");
    int e = (unsigned char)p->s[p->i++];
    switch (e) {
    case 'd': return cs_add(p, c, '0', '9');
    case 'w': return cs_add(p, c, '0', '9') || cs_add(p, c, 'A', 'Z') || cs_add(p, c, '_', '_') || cs_add(p, c, 'a', 'z');
    case 's':
        return cs_add(p, c, 9, 13) || cs_add(p, c, ' ', ' ') || cs_add(p, c, 0xA0, 0xA0) ||
               cs_add(p, c, 0x1680, 0x1680) || cs_add(p, c, 0x2000, 0x200A) || cs_add(p, c, 0x2028, 0x2029) ||
               cs_add(p, c, 0x202F, 0x202F) || cs_add(p, c, 0x205F, 0x205F) || cs_add(p, c, 0x3000, 0x3000) ||
               cs_add(p, c, 0xFEFF, 0xFEFF);
    case 'D': case 'W': case 'S': {
        /* the lower-case class, complemented */
        cpset t = {0};
        static const char lower[3] = {'d', 'w', 's'};
        rp q = *p;
        q.s = &lower[e == 'D' ? 0 : e == 'W' ? 1 : 2];
        q.n = 1;
        q.i = 0;
        int rc = escape(&q, &t);
        if (rc) p->rc = rc;
        if (!rc) rc = cs_norm(p, &t, 1);
        for (size_t k = 0; k < t.n && !rc; k++) rc = cs_add(p, c, t.r[2 * k], t.r[2 * k + 1]);
        free(t.r);
        return rc;
    }
    case 'n': return cs_add(p, c, '\n', '\n');
    case 't': return cs_add(p, c, '\t', '\t');
    case 'r': return cs_add(p, c, '\r', '\r');
    case 'f': return cs_add(p, c, '\f', '\f');
    case 'v': return cs_add(p, c, '\v', '\v');
    case '0': return cs_add(p, c, 0, 0);
    case 'x': case 'u': {
        int nd = e == 'x' ? 2 : 4;
        uint32_t v = 0;
        if (e == 'u' && peek(p) == '{') {
            p->i++;
            nd = 0;
            while (hexv(peek(p)) >= 0 && nd < 7) { v = v * 16 + (uint32_t)hexv(peek(p)); p->i++; nd++; }
            if (!nd || peek(p) != '}' || v > 0x10FFFF) return fail(p, INF_E_INVALID_ARGUMENT, "bad \\u{...} escape");
            p->i++;
            return cs_add(p, c, v, v);
        }
        for (int k = 0; k < nd; k++) {
            int h = hexv(peek(p));
            if (h < 0) return fail(p, INF_E_INVALID_ARGUMENT, "bad hexadecimal escape");
            v = v * 16 + (uint32_t)h;
            p->i++;
        }
        if (v >= 0xD800 && v <= 0xDFFF) return fail(p, INF_E_UNSUPPORTED, "surrogate escapes are not supported");
        return cs_add(p, c, v, v);
    }
    default:
        if ((e >= '1' && e <= '9') || e == 'k')
            return p->i--, fail(p, INF_E_UNSUPPORTED, "back-references are not supported (not a regular language)");
        if (e == 'b' || e == 'B') return p->i--, fail(p, INF_E_UNSUPPORTED, "word boundaries (\\b, \\B) are not supported");
        if (e == 'p' || e == 'P') return p->i--, fail(p, INF_E_UNSUPPORTED, "Unicode property classes (\\p) are not supported");
        if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z'))
            return p->i--, fail(p, INF_E_INVALID_ARGUMENT, "unknown escape");
        p->i--;
        {
            int64_t cp = utf8_cp(p);
            if (cp < 0) return p->rc;
            return cs_add(p, c, (uint32_t)cp, (uint32_t)cp);
        }
    }
}

static int parse_class(rp *p, cpset *c) {
    p->i++; /* [ */
    int neg = 0;
    if (peek(p) == '^') { neg = 1; p->i++; }
    int first = 1;
    for (;;) {
        if (p->i >= p->n) return fail(p, INF_E_INVALID_ARGUMENT, "unterminated character class");
        int ch = peek(p);
        if (ch == ']' && !first) { p->i++; break; }
        first = 0;
        cpset one = {0};
        int rc;
        if (ch == '\\') { p->i++; rc = escape(p, &one); }
        else if (ch == '[' && p->i + 1 < p->n && p->s[p->i + 1] == ':') {
            free(one.r);
            return fail(p, INF_E_UNSUPPORTED, "POSIX classes ([:alpha:]) are not supported");
        } else {
            int64_t cp = utf8_cp(p);
            rc = cp < 0 ? p->rc : cs_add(p, &one, (uint32_t)cp, (uint32_t)cp);
        }
        if (rc) { free(one.r); return rc; }
        /* a range a-z: both ends single characters */
        if (peek(p) == '-' && p->i + 1 < p->n && p->s[p->i + 1] != ']') {
            p->i++;
            cpset hi = {0};
            if (peek(p) == '\\') { p->i++; rc = escape(p, &hi); }
            else {
                int64_t cp = utf8_cp(p);
                rc = cp < 0 ? p->rc : cs_add(p, &hi, (uint32_t)cp, (uint32_t)cp);
            }
            if (!rc && (one.n != 1 || hi.n != 1 || one.r[0] != one.r[1] || hi.r[0] != hi.r[1]))
                rc = fail(p, INF_E_INVALID_ARGUMENT, "a class range needs single characters at both ends");
            if (!rc && hi.r[0] < one.r[0]) rc = fail(p, INF_E_INVALID_ARGUMENT, "class range out of order");
            if (!rc) rc = cs_add(p, c, one.r[0], hi.r[0]);
            free(hi.r);
            free(one.r);
            if (rc) return rc;
            continue;
        }
        for (size_t k = 0; k < one.n && !rc; k++) rc = cs_add(p, c, one.r[2 * k], one.r[2 * k + 1]);
        free(one.r);
        if (rc) return rc;
    }
    return cs_norm(p, c, neg);
}

static gx_node *parse_alts(rp *p);

static int read_num(rp *p, uint32_t *v) {
    uint64_t x = 0;
    if (peek(p) < '0' || peek(p) > '9') return fail(p, INF_E_INVALID_ARGUMENT, "expected a number");
    while (peek(p) >= '0' && peek(p) <= '9') {
        x = x * 10 + (uint64_t)(p->s[p->i++] - '0');
        if (x > p->b->lim.max_repeat) return fail(p, INF_E_LIMIT, "repeat count above the limit");
    }
    *v = (uint32_t)x;
    return 0;
}

/* {m}, {m,}, {m,n} at p->i: 1 and the bounds when it is a quantifier (a
 * '{' that does not start one is a literal, as in JavaScript). */
static int quant_braces(rp *p, uint32_t *lo, uint32_t *hi) {
    size_t k = p->i + 1;
    while (k < p->n && p->s[k] >= '0' && p->s[k] <= '9') k++;
    if (k == p->i + 1) return 0;
    if (k < p->n && p->s[k] == ',') {
        k++;
        while (k < p->n && p->s[k] >= '0' && p->s[k] <= '9') k++;
    }
    if (k >= p->n || p->s[k] != '}') return 0;
    p->i++;
    if (read_num(p, lo)) return -1;
    *hi = *lo;
    if (peek(p) == ',') {
        p->i++;
        if (peek(p) == '}') *hi = GX_INF;
        else if (read_num(p, hi)) return -1;
    }
    p->i++; /* } */
    if (*hi < *lo) return fail(p, INF_E_INVALID_ARGUMENT, "{m,n} with n < m"), -1;
    return 1;
}

static gx_node *parse_atom(rp *p) {
    int c = peek(p);
    cpset cs = {0};
    gx_node *n = NULL;
    if (c == '(') {
        if (++p->depth > p->b->lim.max_ref_depth) return fail(p, INF_E_LIMIT, "groups nested too deeply"), NULL;
        p->i++;
        if (peek(p) == '?') {
            if (p->i + 1 < p->n && p->s[p->i + 1] == ':') p->i += 2;
            else if (p->i + 2 < p->n && p->s[p->i + 1] == '<' && p->s[p->i + 2] != '=' && p->s[p->i + 2] != '!') {
                while (p->i < p->n && p->s[p->i] != '>') p->i++; /* named group: the name is irrelevant */
                if (p->i >= p->n) return fail(p, INF_E_INVALID_ARGUMENT, "unterminated group name"), NULL;
                p->i++;
            } else return fail(p, INF_E_UNSUPPORTED, "lookaround and inline flags are not supported"), NULL;
        }
        n = parse_alts(p);
        if (!n) return NULL;
        if (peek(p) != ')') return fail(p, INF_E_INVALID_ARGUMENT, "expected ')'"), NULL;
        p->i++;
        p->depth--;
        return n;
    }
    if (c == '[') {
        if (parse_class(p, &cs)) { free(cs.r); return NULL; }
    } else if (c == '.') {
        p->i++;
        if (cs_add(p, &cs, '\n', '\n') || cs_add(p, &cs, '\r', '\r') || cs_add(p, &cs, 0x2028, 0x2029) ||
            cs_norm(p, &cs, 1)) { free(cs.r); return NULL; }
    } else if (c == '\\') {
        p->i++;
        if (escape(p, &cs) || cs_norm(p, &cs, 0)) { free(cs.r); return NULL; }
    } else if (c == '*' || c == '+' || c == '?') {
        return fail(p, INF_E_INVALID_ARGUMENT, "nothing to repeat"), NULL;
    } else if (c == '^' || c == '$') {
        return fail(p, INF_E_UNSUPPORTED, "anchors are only supported at the start (^) and end ($)"), NULL;
    } else {
        int64_t cp = utf8_cp(p);
        if (cp < 0 || cs_add(p, &cs, (uint32_t)cp, (uint32_t)cp)) { free(cs.r); return NULL; }
    }
    n = cs_node(p, &cs);
    free(cs.r);
    return n;
}

static gx_node *parse_seq(rp *p) {
    gx_node *q = gx_seq(p->b);
    while (q && !p->rc) {
        int c = peek(p);
        if (c < 0 || c == '|' || c == ')') break;
        /* ^ at the very start and $ at the very end: the match is whole
         * anyway (see gx_regex_parse for JSON Schema's search semantics) */
        if ((c == '^' && p->i == 0) || (c == '$' && p->i + 1 == p->n)) { p->i++; continue; }
        gx_node *a = parse_atom(p);
        if (!a) return NULL;
        for (;;) {
            c = peek(p);
            uint32_t lo = 0, hi = 0;
            if (c == '*') { p->i++; lo = 0; hi = GX_INF; }
            else if (c == '+') { p->i++; lo = 1; hi = GX_INF; }
            else if (c == '?') { p->i++; lo = 0; hi = 1; }
            else if (c == '{') {
                int r = quant_braces(p, &lo, &hi);
                if (r < 0) return NULL;
                if (!r) break;
            } else break;
            if (peek(p) == '?') p->i++; /* lazy: the same language */
            else if (peek(p) == '+') return fail(p, INF_E_UNSUPPORTED, "possessive quantifiers are not supported"), NULL;
            a = gx_rep(p->b, a, lo, hi);
            if (!a) return NULL;
        }
        if (gx_add(p->b, q, a)) return NULL;
    }
    return p->rc ? NULL : q;
}

static gx_node *parse_alts(rp *p) {
    gx_node *first = parse_seq(p);
    if (!first || peek(p) != '|') return first;
    gx_node *alt = gx_alt(p->b);
    if (gx_add(p->b, alt, first)) return NULL;
    while (peek(p) == '|' && !p->rc) {
        p->i++;
        if (gx_add(p->b, alt, parse_seq(p))) return NULL;
    }
    return p->rc ? NULL : alt;
}

/* json: JSON mode, and JSON Schema's search semantics (an unanchored
 * pattern may have any characters before / after it). */
static gx_node *regex_parse(gx_builder *b, const char *re, size_t len, int json, const char *what, inf__err *err) {
    rp p = {b, re, len, 0, json, 0, what, err, 0};
    gx_node *n = parse_alts(&p);
    if (n && p.i < p.n) { fail(&p, INF_E_INVALID_ARGUMENT, "unbalanced ')'"); n = NULL; }
    if (!n) {
        if (!p.rc) p.rc = inf__seterr(err, err && err->code ? err->code : INF_E_NOMEM, "%s: out of memory", what);
        return NULL;
    }
    if (!json) return n;
    int head = len > 0 && re[0] == '^', tail = len > 0 && re[len - 1] == '$' && (len < 2 || re[len - 2] != '\\');
    if (head && tail) return n;
    cpset any = {0};
    if (cs_norm(&p, &any, 1)) { free(any.r); return NULL; }
    gx_node *anyc = gx_rep(b, cs_node(&p, &any), 0, GX_INF);
    free(any.r);
    gx_node *q = gx_seq(b);
    if (!head && gx_add(b, q, anyc)) return NULL;
    if (gx_add(b, q, n)) return NULL;
    if (!tail && gx_add(b, q, anyc)) return NULL;
    return q;
}

gx_node *gx_regex_parse(gx_builder *b, const char *re, size_t len, int json, const char *what, inf__err *err) {
    return regex_parse(b, re, len, json, what, err);
}

int inf__grammar_from_regex(const char *re, size_t len, const inf__grammar_limits *limits, inf__grammar **out,
                            inf__err *err) {
    *out = NULL;
    gx_builder b;
    gx_init(&b, limits, err);
    if (len > b.lim.max_source)
        return inf__seterr(err, INF_E_LIMIT, "regex of %zu bytes is above the limit of %zu", len, b.lim.max_source);
    uint32_t root = gx_rule_id(&b, "root", 4, 1, 1);
    int rc = INF_OK;
    if (root == UINT32_MAX) rc = err && err->code ? err->code : INF_E_NOMEM;
    else {
        gx_node *n = regex_parse(&b, re, len, 0, "regex", err);
        if (!n) rc = err && err->code ? err->code : INF_E_NOMEM;
        else {
            b.rules[root].body = n;
            rc = gx_compile(&b, "root", out, err);
        }
    }
    gx_free(&b);
    return rc;
}
