/* The GBNF-like grammar syntax (README.md): a recursive-descent parser into
 * expression trees.  Errors carry the line and column. */
#include <stdlib.h>
#include <string.h>

#include "text/grammar/gram_internal.h"

typedef struct {
    gx_builder *b;
    const char *s;
    size_t n, i;
    int line;
    size_t line_start;
    uint32_t depth;
    inf__err *err;
    int rc;
} gp;

static int fail(gp *p, int code, const char *msg) {
    if (!p->rc)
        p->rc = inf__seterr(p->err, code, "gbnf line %d col %d: %s", p->line, (int)(p->i - p->line_start) + 1, msg);
    return p->rc;
}

static int at_end(gp *p) { return p->i >= p->n; }
static int peek(gp *p) { return p->i < p->n ? (unsigned char)p->s[p->i] : -1; }

/* Spaces, newlines and # comments. */
static void skip_ws(gp *p) {
    while (p->i < p->n) {
        char c = p->s[p->i];
        if (c == '\n') { p->i++; p->line++; p->line_start = p->i; }
        else if (c == ' ' || c == '\t' || c == '\r') p->i++;
        else if (c == '#') { while (p->i < p->n && p->s[p->i] != '\n') p->i++; }
        else break;
    }
}

static int is_name(int c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static size_t name_len(gp *p, size_t at) {
    size_t k = at;
    while (k < p->n && is_name((unsigned char)p->s[k])) k++;
    return k - at;
}

/* Whether a rule definition "name ::=" starts at the current position. */
static int at_definition(gp *p) {
    size_t l = name_len(p, p->i);
    if (!l) return 0;
    size_t k = p->i + l;
    while (k < p->n && (p->s[k] == ' ' || p->s[k] == '\t' || p->s[k] == '\r' || p->s[k] == '\n')) k++;
    return k + 3 <= p->n && !memcmp(p->s + k, "::=", 3);
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* One UTF-8 code point (the input's own bytes); -1 on invalid UTF-8. */
static int64_t utf8_next(gp *p) {
    const unsigned char *s = (const unsigned char *)p->s + p->i;
    size_t left = p->n - p->i;
    uint32_t c = s[0];
    int l = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (!l || (size_t)l > left) return -1;
    if (l > 1) {
        c &= 0x3F >> (l - 1);
        for (int k = 1; k < l; k++) {
            if ((s[k] & 0xC0) != 0x80) return -1;
            c = (c << 6) | (s[k] & 0x3F);
        }
        static const uint32_t minv[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (c < minv[l] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return -1;
    }
    p->i += (size_t)l;
    return c;
}

/* A character of a literal or class, escapes decoded: the code point, and
 * *raw = 1 when it was \xHH (one byte, not a code point). */
static int64_t read_char(gp *p, int *raw) {
    *raw = 0;
    if (at_end(p)) return fail(p, INF_E_INVALID_ARGUMENT, "unexpected end inside a literal or class"), -1;
    if (p->s[p->i] == '\n') return fail(p, INF_E_INVALID_ARGUMENT, "newline inside a literal or class"), -1;
    if (p->s[p->i] != '\\') {
        int64_t c = utf8_next(p);
        if (c < 0) fail(p, INF_E_INVALID_ARGUMENT, "invalid UTF-8");
        return c;
    }
    p->i++;
    if (at_end(p)) return fail(p, INF_E_INVALID_ARGUMENT, "unexpected end after '\\'"), -1;
    char e = p->s[p->i++];
    int nhex = 0;
    switch (e) {
    case 'n': return '\n';
    case 't': return '\t';
    case 'r': return '\r';
    case '0': return 0;
    case '\\': case '"': case '\'': case ']': case '[': case '-': case '^': return (unsigned char)e;
    case 'x': nhex = 2; *raw = 1; break;
    case 'u': nhex = 4; break;
    case 'U': nhex = 8; break;
    default: p->i--; return fail(p, INF_E_INVALID_ARGUMENT, "unknown escape"), -1;
    }
    uint32_t v = 0;
    for (int k = 0; k < nhex; k++) {
        int h = hexval(peek(p));
        if (h < 0) return fail(p, INF_E_INVALID_ARGUMENT, "bad hexadecimal escape"), -1;
        v = v * 16 + (uint32_t)h;
        p->i++;
    }
    if (!*raw && (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)))
        return fail(p, INF_E_INVALID_ARGUMENT, "escape is not a Unicode scalar value"), -1;
    return v;
}

static gx_node *parse_alts(gp *p);

static gx_node *parse_literal(gp *p, char quote) {
    p->i++;
    gx_node *q = gx_seq(p->b);
    while (!p->rc && q) {
        if (at_end(p)) { fail(p, INF_E_INVALID_ARGUMENT, "unterminated literal"); return NULL; }
        if (p->s[p->i] == quote) { p->i++; return q; }
        int raw;
        int64_t c = read_char(p, &raw);
        if (c < 0) return NULL;
        uint8_t buf[4];
        size_t l = 1;
        if (raw || c < 0x80) buf[0] = (uint8_t)c;
        else if (c < 0x800) { buf[0] = (uint8_t)(0xC0 | (c >> 6)); buf[1] = (uint8_t)(0x80 | (c & 63)); l = 2; }
        else if (c < 0x10000) {
            buf[0] = (uint8_t)(0xE0 | (c >> 12)); buf[1] = (uint8_t)(0x80 | ((c >> 6) & 63));
            buf[2] = (uint8_t)(0x80 | (c & 63)); l = 3;
        } else {
            buf[0] = (uint8_t)(0xF0 | (c >> 18)); buf[1] = (uint8_t)(0x80 | ((c >> 12) & 63));
            buf[2] = (uint8_t)(0x80 | ((c >> 6) & 63)); buf[3] = (uint8_t)(0x80 | (c & 63)); l = 4;
        }
        for (size_t k = 0; k < l; k++)
            if (gx_add(p->b, q, gx_byte(p->b, buf[k]))) return NULL;
    }
    return NULL;
}

static int cmp_range(const void *a, const void *b) {
    const uint32_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* [abc], [a-z], [^...]: code points (\xHH: bytes, allowed only in a
 * non-negated class).  Sorted and merged, then UTF-8 encoded. */
static gx_node *parse_class(gp *p) {
    p->i++;
    int neg = 0;
    if (peek(p) == '^') { neg = 1; p->i++; }
    uint32_t *r = NULL;
    size_t n = 0, cap = 0;
    gx_node *bytes = gx_set(p->b);
    int any_bytes = 0;
    while (!p->rc) {
        if (at_end(p)) { fail(p, INF_E_INVALID_ARGUMENT, "unterminated character class"); break; }
        if (p->s[p->i] == ']') { p->i++; break; }
        int raw, raw2 = 0;
        int64_t lo = read_char(p, &raw), hi = lo;
        if (lo < 0) break;
        if (peek(p) == '-' && p->i + 1 < p->n && p->s[p->i + 1] != ']') {
            p->i++;
            hi = read_char(p, &raw2);
            if (hi < 0) break;
            if (hi < lo) { fail(p, INF_E_INVALID_ARGUMENT, "range out of order in character class"); break; }
        }
        if (raw || raw2) {
            if (neg) { fail(p, INF_E_INVALID_ARGUMENT, "\\x byte escapes are not allowed in a negated class"); break; }
            if (!(raw && raw2) && lo != hi) { fail(p, INF_E_INVALID_ARGUMENT, "a range mixes a byte and a code point"); break; }
            if (bytes) for (int64_t c = lo; c <= hi; c++) bytes->set[c >> 5] |= 1u << (c & 31);
            any_bytes = 1;
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            uint32_t *nr = realloc(r, cap * 2 * sizeof *nr);
            if (!nr) { fail(p, INF_E_NOMEM, "out of memory"); break; }
            r = nr;
        }
        r[2 * n] = (uint32_t)lo;
        r[2 * n + 1] = (uint32_t)hi;
        n++;
    }
    gx_node *out = NULL;
    if (!p->rc) {
        if (n) qsort(r, n, 2 * sizeof *r, cmp_range);
        size_t m = 0;
        for (size_t k = 0; k < n; k++) {
            if (m && r[2 * k] <= r[2 * (m - 1) + 1] + 1) {
                if (r[2 * k + 1] > r[2 * (m - 1) + 1]) r[2 * (m - 1) + 1] = r[2 * k + 1];
            } else {
                r[2 * m] = r[2 * k];
                r[2 * m + 1] = r[2 * k + 1];
                m++;
            }
        }
        if (neg) out = gx_cp_except(p->b, r, m);
        else {
            out = gx_alt(p->b);
            for (size_t k = 0; k < m && out; k++)
                if (gx_add(p->b, out, gx_cp_range(p->b, r[2 * k], r[2 * k + 1]))) out = NULL;
            if (out && any_bytes && gx_add(p->b, out, bytes)) out = NULL;
        }
        if (!out) fail(p, INF_E_NOMEM, "out of memory");
    }
    free(r);
    return out;
}

static int read_uint(gp *p, uint32_t *v) {
    if (peek(p) < '0' || peek(p) > '9') return fail(p, INF_E_INVALID_ARGUMENT, "expected a number");
    uint64_t x = 0;
    while (peek(p) >= '0' && peek(p) <= '9') {
        x = x * 10 + (uint64_t)(p->s[p->i++] - '0');
        if (x > p->b->lim.max_repeat) return fail(p, INF_E_LIMIT, "repeat count above the limit");
    }
    *v = (uint32_t)x;
    return 0;
}

static gx_node *parse_item(gp *p) {
    gx_node *n = NULL;
    int c = peek(p);
    if (c == '"' || c == '\'') n = parse_literal(p, (char)c);
    else if (c == '[') n = parse_class(p);
    else if (c == '.') { p->i++; n = gx_cp_except(p->b, (const uint32_t[]){'\n', '\n'}, 1); }
    else if (c == '(') {
        if (++p->depth > p->b->lim.max_ref_depth) { fail(p, INF_E_LIMIT, "groups nested too deeply"); return NULL; }
        p->i++;
        n = parse_alts(p);
        skip_ws(p);
        if (!p->rc && peek(p) != ')') { fail(p, INF_E_INVALID_ARGUMENT, "expected ')'"); return NULL; }
        p->i++;
        p->depth--;
    } else if (is_name(c)) {
        size_t l = name_len(p, p->i);
        uint32_t id = gx_rule_id(p->b, p->s + p->i, l, p->line, (int)(p->i - p->line_start) + 1);
        if (id == UINT32_MAX) { p->rc = p->err && p->err->code ? p->err->code : INF_E_LIMIT; return NULL; }
        p->i += l;
        n = gx_ref(p->b, id);
    } else {
        fail(p, INF_E_INVALID_ARGUMENT, "expected a literal, class, rule name or group");
        return NULL;
    }
    /* postfix operators */
    for (;;) {
        if (!n || p->rc) return NULL;
        c = peek(p);
        if (c == '?') { p->i++; n = gx_rep(p->b, n, 0, 1); }
        else if (c == '*') { p->i++; n = gx_rep(p->b, n, 0, GX_INF); }
        else if (c == '+') { p->i++; n = gx_rep(p->b, n, 1, GX_INF); }
        else if (c == '{') {
            p->i++;
            uint32_t lo, hi;
            skip_ws(p);
            if (read_uint(p, &lo)) return NULL;
            skip_ws(p);
            hi = lo;
            if (peek(p) == ',') {
                p->i++;
                skip_ws(p);
                if (peek(p) == '}') hi = GX_INF;
                else if (read_uint(p, &hi)) return NULL;
                skip_ws(p);
            }
            if (peek(p) != '}') { fail(p, INF_E_INVALID_ARGUMENT, "expected '}'"); return NULL; }
            p->i++;
            if (hi < lo) { fail(p, INF_E_INVALID_ARGUMENT, "{m,n} with n < m"); return NULL; }
            n = gx_rep(p->b, n, lo, hi);
        } else return n;
    }
}

static gx_node *parse_seq(gp *p) {
    gx_node *q = gx_seq(p->b);
    for (;;) {
        skip_ws(p);
        int c = peek(p);
        if (c < 0 || c == '|' || c == ')' || p->rc || !q) break;
        if (is_name(c) && at_definition(p)) break;
        if (gx_add(p->b, q, parse_item(p))) {
            if (!p->rc) fail(p, INF_E_NOMEM, "out of memory");
            return NULL;
        }
    }
    return p->rc ? NULL : q;
}

static gx_node *parse_alts(gp *p) {
    gx_node *first = parse_seq(p);
    if (!first) return NULL;
    skip_ws(p);
    if (peek(p) != '|') return first;
    gx_node *a = gx_alt(p->b);
    if (gx_add(p->b, a, first)) return NULL;
    while (peek(p) == '|' && !p->rc) {
        p->i++;
        if (gx_add(p->b, a, parse_seq(p))) return NULL;
        skip_ws(p);
    }
    return p->rc ? NULL : a;
}

int inf__grammar_from_gbnf(const char *text, size_t len, const inf__grammar_limits *limits, inf__grammar **out,
                           inf__err *err) {
    *out = NULL;
    gx_builder b;
    gx_init(&b, limits, err);
    if (len > b.lim.max_source)
        return inf__seterr(err, INF_E_LIMIT, "grammar text of %zu bytes is above the limit of %zu", len,
                           b.lim.max_source);
    gp p = {&b, text, len, 0, 1, 0, 0, err, 0};
    for (;;) {
        skip_ws(&p);
        if (at_end(&p)) break;
        size_t l = name_len(&p, p.i);
        if (!l) { fail(&p, INF_E_INVALID_ARGUMENT, "expected a rule name"); break; }
        int line = p.line, col = (int)(p.i - p.line_start) + 1;
        uint32_t id = gx_rule_id(&b, text + p.i, l, line, col);
        if (id == UINT32_MAX) { p.rc = err && err->code ? err->code : INF_E_LIMIT; break; }
        p.i += l;
        skip_ws(&p);
        if (p.i + 3 > p.n || memcmp(text + p.i, "::=", 3)) { fail(&p, INF_E_INVALID_ARGUMENT, "expected '::='"); break; }
        p.i += 3;
        if (b.rules[id].body) {
            fail(&p, INF_E_INVALID_ARGUMENT, "rule defined twice");
            break;
        }
        gx_node *body = parse_alts(&p);
        if (!body) { if (!p.rc) fail(&p, INF_E_NOMEM, "out of memory"); break; }
        b.rules[id].body = body;
        skip_ws(&p);
        if (!at_end(&p) && !at_definition(&p)) {
            fail(&p, INF_E_INVALID_ARGUMENT, peek(&p) == ')' ? "unbalanced ')'" : "unexpected character");
            break;
        }
    }
    int rc = p.rc;
    if (!rc && b.failed) rc = err && err->code ? err->code : INF_E_NOMEM;
    if (!rc) rc = gx_compile(&b, "root", out, err);
    gx_free(&b);
    return rc;
}
