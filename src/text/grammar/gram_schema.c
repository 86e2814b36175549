/* JSON Schema -> grammar (README.md lists the subset and its choices).
 *
 * Every string the grammar produces is a JSON text valid under the schema
 * (the reverse need not hold: objects' properties come in the schema's
 * order, whitespace is bounded, numbers under bounds have no exponent).
 * Scalars are inlined into their parent's rule; objects, arrays and every
 * $ref target become rules of their own (a $ref target once, so recursive
 * schemas are recursive rules).  A keyword outside the subset is an error
 * naming it, never ignored. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "text/grammar/gram_internal.h"

#define WS_MAX 20 /* whitespace bytes between tokens of the JSON text */

typedef struct {
    gx_builder *b;
    json_t *doc;
    inf__err *err;
    int rc;
    uint32_t depth;
    /* $ref targets: pointer -> rule, bodies generated from a worklist */
    char **ref_ptr;
    uint32_t *ref_rule;
    json_t **ref_schema;
    size_t n_refs, done_refs, cap_refs;
    uint32_t any_rule;    /* the "any JSON value" rule, UINT32_MAX until used */
    uint32_t n_anon;
} sc;

static gx_node *gen(sc *c, json_t *s, const char *path);

static int fail(sc *c, int code, const char *path, const char *fmt, const char *arg) {
    if (!c->rc) {
        char m[300];
        snprintf(m, sizeof m, fmt, arg);
        c->rc = inf__seterr(c->err, code, "schema at %s: %s", *path ? path : "/", m);
    }
    return c->rc;
}

static gx_node *lit(sc *c, const char *s) { return gx_lit(c->b, s, strlen(s)); }

static gx_node *ws(sc *c) {
    gx_node *s = gx_set(c->b);
    if (!s) return NULL;
    s->set[0] |= (1u << '\t') | (1u << '\n');
    s->set[1] |= 1u << (' ' - 32);
    return gx_rep(c->b, s, 0, WS_MAX);
}

static gx_node *seq_of(sc *c, gx_node **k, int n) {
    gx_node *q = gx_seq(c->b);
    for (int i = 0; i < n; i++)
        if (gx_add(c->b, q, k[i])) return NULL;
    return q;
}
#define SEQ(c, ...) seq_of(c, (gx_node *[]){__VA_ARGS__}, (int)(sizeof((gx_node *[]){__VA_ARGS__}) / sizeof(gx_node *)))

/* A regular expression over raw bytes (the grammar's own pieces). */
static gx_node *regex(sc *c, const char *re, const char *path) {
    (void)path;
    gx_node *n = gx_regex_parse(c->b, re, strlen(re), 0, "internal regex", c->err);
    if (!n && !c->rc) c->rc = c->err && c->err->code ? c->err->code : INF_E_NOMEM;
    return n;
}

/* A pattern over a JSON string's value (the quotes not included). */
static gx_node *pattern(sc *c, const char *re, const char *path) {
    char what[200];
    snprintf(what, sizeof what, "schema at %s: pattern", *path ? path : "/");
    gx_node *n = gx_regex_parse(c->b, re, strlen(re), 1, what, c->err);
    if (!n && !c->rc) c->rc = c->err && c->err->code ? c->err->code : INF_E_NOMEM;
    return n;
}

/* One character of a JSON string: unescaped, or an escape (a surrogate
 * pair written as \uD8xx\uDCxx counts as one character). */
static gx_node *str_char(sc *c) {
    static const uint32_t ex[] = {0, 0x1F, '"', '"', '\\', '\\'};
    gx_node *plain = gx_cp_except(c->b, ex, 3);
    gx_node *esc = regex(c, "^\\\\([\"\\\\/bfnrt]|u([0-9a-cA-CeEfF][0-9a-fA-F]{3}|[dD][0-7][0-9a-fA-F]{2}|"
                            "[dD][89abAB][0-9a-fA-F]{2}\\\\u[dD][c-fC-F][0-9a-fA-F]{2}))$", "");
    gx_node *a = gx_alt(c->b);
    if (gx_add(c->b, a, plain) || gx_add(c->b, a, esc)) return NULL;
    return a;
}

static gx_node *any_string(sc *c) { return SEQ(c, lit(c, "\""), gx_rep(c->b, str_char(c), 0, GX_INF), lit(c, "\"")); }

/* Numbers have bounded digits (19 integer, 17 fraction, 3 exponent: every
 * double fits) so that sampling cannot run on in digits forever. */
static gx_node *number_plain(sc *c) {
    return regex(c, "^-?(0|[1-9][0-9]{0,18})(\\.[0-9]{1,17})?([eE][+-]?[0-9]{1,3})?$", "");
}

/* The rule for any JSON value (made on first use). */
static gx_node *any_value(sc *c) {
    if (c->any_rule == UINT32_MAX) {
        uint32_t v = gx_rule_id(c->b, "any-value", 9, 0, 0), o = gx_rule_id(c->b, "any-object", 10, 0, 0),
                 a = gx_rule_id(c->b, "any-array", 9, 0, 0);
        if (v == UINT32_MAX || o == UINT32_MAX || a == UINT32_MAX) { c->rc = c->err->code; return NULL; }
        c->any_rule = v;
        gx_node *alt = gx_alt(c->b);
        if (gx_add(c->b, alt, gx_ref(c->b, o)) || gx_add(c->b, alt, gx_ref(c->b, a)) ||
            gx_add(c->b, alt, any_string(c)) || gx_add(c->b, alt, number_plain(c)) ||
            gx_add(c->b, alt, lit(c, "true")) || gx_add(c->b, alt, lit(c, "false")) || gx_add(c->b, alt, lit(c, "null")))
            return NULL;
        c->b->rules[v].body = alt;
        gx_node *member = SEQ(c, any_string(c), ws(c), lit(c, ":"), ws(c), gx_ref(c->b, v));
        gx_node *more = gx_rep(c->b, SEQ(c, ws(c), lit(c, ","), ws(c), member), 0, GX_INF);
        c->b->rules[o].body = SEQ(c, lit(c, "{"), ws(c), gx_rep(c->b, SEQ(c, member, more), 0, 1), ws(c), lit(c, "}"));
        gx_node *el = gx_ref(c->b, v);
        gx_node *mel = gx_rep(c->b, SEQ(c, ws(c), lit(c, ","), ws(c), gx_ref(c->b, v)), 0, GX_INF);
        c->b->rules[a].body = SEQ(c, lit(c, "["), ws(c), gx_rep(c->b, SEQ(c, el, mel), 0, 1), ws(c), lit(c, "]"));
        if (!c->b->rules[o].body || !c->b->rules[a].body) return NULL;
    }
    return gx_ref(c->b, c->any_rule);
}

/* The compact JSON text of v, as a literal. */
static gx_node *json_lit(sc *c, json_t *v) {
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s) { fail(c, INF_E_NOMEM, "", "out of memory%s", ""); return NULL; }
    gx_node *n = lit(c, s);
    free(s);
    return n;
}

/* ---- integers and bounded numbers ---- */

static int ndigits(uint64_t v) { int d = 1; while (v >= 10) { v /= 10; d++; } return d; }

static gx_node *digit_range(sc *c, int lo, int hi) { return gx_range(c->b, (uint8_t)('0' + lo), (uint8_t)('0' + hi)); }

/* Fixed-width digit strings (leading zeros allowed) from a[0..w) to
 * b[0..w), a <= b. */
static gx_node *fixed_range(sc *c, const char *a, const char *b, int w) {
    if (w == 0) return gx_seq(c->b);
    if (a[0] == b[0]) return SEQ(c, digit_range(c, a[0] - '0', a[0] - '0'), fixed_range(c, a + 1, b + 1, w - 1));
    char nines[24], zeros[24];
    memset(nines, '9', sizeof nines);
    memset(zeros, '0', sizeof zeros);
    gx_node *alt = gx_alt(c->b);
    int rest_lo_min = !memcmp(a + 1, zeros, (size_t)w - 1), rest_hi_max = !memcmp(b + 1, nines, (size_t)w - 1);
    int d0 = a[0] - '0' + (rest_lo_min ? 0 : 1), d1 = b[0] - '0' - (rest_hi_max ? 0 : 1);
    if (!rest_lo_min && gx_add(c->b, alt, SEQ(c, digit_range(c, a[0] - '0', a[0] - '0'), fixed_range(c, a + 1, nines, w - 1))))
        return NULL;
    if (d0 <= d1 && gx_add(c->b, alt, SEQ(c, digit_range(c, d0, d1), gx_rep(c->b, digit_range(c, 0, 9), (uint32_t)w - 1, (uint32_t)w - 1))))
        return NULL;
    if (!rest_hi_max && gx_add(c->b, alt, SEQ(c, digit_range(c, b[0] - '0', b[0] - '0'), fixed_range(c, zeros, b + 1, w - 1))))
        return NULL;
    return alt;
}

/* Decimal naturals in [lo, hi] without leading zeros; hi = UINT64_MAX:
 * unbounded. */
static gx_node *nat_range(sc *c, uint64_t lo, uint64_t hi) {
    gx_node *alt = gx_alt(c->b);
    if (lo > hi) return alt;
    int dl = ndigits(lo), dh = hi == UINT64_MAX ? 19 : ndigits(hi);
    for (int d = dl; d <= dh && d < 20; d++) {
        uint64_t p = 1;
        for (int k = 1; k < d; k++) p *= 10;
        uint64_t a = d == dl ? lo : (d == 1 ? 0 : p), z = p * 10 - 1;
        if (d == 1 && a == 0 && lo > 0) a = lo;
        if (d > 1 && a < p) a = p;
        if (hi != UINT64_MAX && z > hi) z = hi;
        if (a > z) continue;
        char sa[24], sz[24];
        snprintf(sa, sizeof sa, "%0*llu", d, (unsigned long long)a);
        snprintf(sz, sizeof sz, "%0*llu", d, (unsigned long long)z);
        if (gx_add(c->b, alt, fixed_range(c, sa, sz, d))) return NULL;
    }
    return alt; /* no upper bound: at most 19 digits (see number_plain) */
}

/* Bounds as read from the schema; has_* = 0: none. */
typedef struct { int has_lo, has_hi, lo_ex, hi_ex; double lo, hi; } bounds;

static int read_bounds(sc *c, json_t *s, const char *path, bounds *bd) {
    memset(bd, 0, sizeof *bd);
    json_t *mn = json_object_get(s, "minimum"), *mx = json_object_get(s, "maximum");
    json_t *emn = json_object_get(s, "exclusiveMinimum"), *emx = json_object_get(s, "exclusiveMaximum");
    if (mn) { if (!json_is_number(mn)) return fail(c, INF_E_INVALID_ARGUMENT, path, "%s must be a number", "minimum"); bd->has_lo = 1; bd->lo = json_number_value(mn); }
    if (mx) { if (!json_is_number(mx)) return fail(c, INF_E_INVALID_ARGUMENT, path, "%s must be a number", "maximum"); bd->has_hi = 1; bd->hi = json_number_value(mx); }
    if (json_is_boolean(emn)) bd->lo_ex = json_is_true(emn) && bd->has_lo; /* draft 4 */
    else if (emn) {
        if (!json_is_number(emn)) return fail(c, INF_E_INVALID_ARGUMENT, path, "%s must be a number", "exclusiveMinimum");
        double v = json_number_value(emn);
        if (!bd->has_lo || v >= bd->lo) { bd->has_lo = 1; bd->lo = v; bd->lo_ex = 1; }
    }
    if (json_is_boolean(emx)) bd->hi_ex = json_is_true(emx) && bd->has_hi;
    else if (emx) {
        if (!json_is_number(emx)) return fail(c, INF_E_INVALID_ARGUMENT, path, "%s must be a number", "exclusiveMaximum");
        double v = json_number_value(emx);
        if (!bd->has_hi || v <= bd->hi) { bd->has_hi = 1; bd->hi = v; bd->hi_ex = 1; }
    }
    if ((bd->has_lo && fabs(bd->lo) > 1e18) || (bd->has_hi && fabs(bd->hi) > 1e18))
        return fail(c, INF_E_UNSUPPORTED, path, "%s beyond 1e18 is not supported", "a numeric bound");
    return 0;
}

/* Integers in [lo, hi] (as int64; absent bounds are infinite). */
static gx_node *int_range(sc *c, int has_lo, int64_t lo, int has_hi, int64_t hi) {
    gx_node *alt = gx_alt(c->b);
    if (has_lo && has_hi && lo > hi) return alt;
    /* non-negative part */
    if (!has_hi || hi >= 0) {
        uint64_t a = has_lo && lo > 0 ? (uint64_t)lo : 0, z = has_hi ? (uint64_t)hi : UINT64_MAX;
        if (gx_add(c->b, alt, nat_range(c, a, z))) return NULL;
    }
    /* negative part: "-" and magnitudes in [max(1, -hi), -lo] */
    if (!has_lo || lo < 0) {
        uint64_t a = has_hi && hi < 0 ? (uint64_t)(-hi) : 1, z = has_lo ? (uint64_t)(-lo) : UINT64_MAX;
        if (gx_add(c->b, alt, SEQ(c, lit(c, "-"), nat_range(c, a, z)))) return NULL;
    }
    return alt;
}

static gx_node *integer(sc *c, json_t *s, const char *path) {
    bounds bd;
    if (read_bounds(c, s, path, &bd)) return NULL;
    if (!bd.has_lo && !bd.has_hi) return regex(c, "^-?(0|[1-9][0-9]{0,18})$", "");
    int64_t lo = 0, hi = 0;
    if (bd.has_lo) { double v = ceil(bd.lo); if (bd.lo_ex && v == bd.lo) v += 1; lo = (int64_t)v; }
    if (bd.has_hi) { double v = floor(bd.hi); if (bd.hi_ex && v == bd.hi) v -= 1; hi = (int64_t)v; }
    return int_range(c, bd.has_lo, lo, bd.has_hi, hi);
}

/* A non-negative decimal bound: integer part and fraction digits (no
 * trailing zeros). */
typedef struct { uint64_t i; char f[20]; } dec;

/* The shortest fixed-point form of v >= 0 that reads back as v, with at
 * most 17 fraction digits; -1 when there is none. */
static int to_dec(double v, dec *d) {
    char buf[64];
    for (int p = 0; p <= 17; p++) {
        snprintf(buf, sizeof buf, "%.*f", p, v);
        if (strtod(buf, NULL) != v) continue;
        char *dot = strchr(buf, '.');
        d->i = strtoull(buf, NULL, 10);
        d->f[0] = 0;
        if (dot) {
            snprintf(d->f, sizeof d->f, "%s", dot + 1);
            size_t n = strlen(d->f);
            while (n && d->f[n - 1] == '0') d->f[--n] = 0;
        }
        return 0;
    }
    return -1;
}

/* Fraction digits from position pos on (a '.' was written when pos > 0),
 * at most maxd, between lo and hi (digit strings; "tight" while the digits
 * so far equal the bound's), each bound strict or not.  Decimals compare as
 * if padded with zeros. */
static gx_node *frac_from(sc *c, const char *lo, int lo_s, const char *hi, int hi_s, int pos, int lt, int ht, int maxd) {
    gx_node *alt = gx_alt(c->b);
    if (!alt) return NULL;
    int m = lo ? (int)strlen(lo) : 0, n = hi ? (int)strlen(hi) : 0;
    /* end here: the rest is zeros */
    int end = pos > 0;
    if (end && lt && (pos < m || lo_s)) end = 0;
    if (end && ht && pos >= n && hi_s) end = 0;
    if (end && gx_add(c->b, alt, gx_seq(c->b))) return NULL;
    if (pos >= maxd) return alt;
    int l = lt ? (pos < m ? lo[pos] - '0' : 0) : 0, h = ht ? (pos < n ? hi[pos] - '0' : 0) : 9;
    for (int d = l; d <= h;) {
        int tl = lt && d == l, th = ht && d == h;
        if (!tl && !th) {
            /* a run of digits that keeps both bounds loose */
            int e = ht ? h - 1 : 9;
            gx_node *rest = gx_rep(c->b, digit_range(c, 0, 9), 0, (uint32_t)(maxd - pos - 1));
            if (gx_add(c->b, alt, SEQ(c, digit_range(c, d, e), rest))) return NULL;
            d = e + 1;
            continue;
        }
        if (gx_add(c->b, alt, SEQ(c, digit_range(c, d, d), frac_from(c, lo, lo_s, hi, hi_s, pos + 1, tl, th, maxd)))) return NULL;
        d++;
    }
    return alt;
}

/* The optional fraction of a number whose integer part is ip: none
 * (value .0) or '.' and digits, between lo and hi (NULL: no bound).  Next
 * to a bound, a value must keep at most 15 significant digits: those are
 * the decimals that stay distinct and in order as doubles, so that the
 * validator, reading a double, agrees with the grammar's decimal
 * comparison (1.10000000000000001 is the double 1.1). */
static gx_node *fraction(sc *c, uint64_t ip, const char *lo, int lo_s, const char *hi, int hi_s) {
    int maxd = 17;
    if (lo || hi) {
        maxd = 15 - (ip ? ndigits(ip) : 0);
        if (maxd < 1) maxd = 1;
    }
    gx_node *alt = gx_alt(c->b);
    int lt = lo != NULL, ht = hi != NULL;
    /* no fraction at all: value == integer part */
    int none = !(lt && (lo[0] || lo_s)) && !(ht && !hi[0] && hi_s);
    if (none && gx_add(c->b, alt, gx_seq(c->b))) return NULL;
    if (gx_add(c->b, alt, SEQ(c, lit(c, "."), frac_from(c, lo, lo_s, hi, hi_s, 0, lt, ht, maxd)))) return NULL;
    return alt;
}

/* Non-negative decimals I.F (F optional) between a and b (b NULL: none),
 * each end strict or not. */
static gx_node *magnitude(sc *c, const dec *a, int a_ex, const dec *b, int b_ex) {
    gx_node *alt = gx_alt(c->b);
    if (b && (a->i > b->i || (a->i == b->i && strcmp(a->f, b->f) > 0))) return alt;
    char buf[24];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)a->i);
    if (b && a->i == b->i) {
        if (gx_add(c->b, alt, SEQ(c, lit(c, buf), fraction(c, a->i, a->f, a_ex, b->f, b_ex)))) return NULL;
        return alt;
    }
    /* I == a.i, I strictly between, I == b.i */
    if (gx_add(c->b, alt, SEQ(c, lit(c, buf), fraction(c, a->i, a->f, a_ex, NULL, 0)))) return NULL;
    if (!b || a->i + 1 <= b->i - 1)
        if (gx_add(c->b, alt, SEQ(c, nat_range(c, a->i + 1, b ? b->i - 1 : UINT64_MAX), fraction(c, 0, NULL, 0, NULL, 0))))
            return NULL;
    if (b) {
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)b->i);
        if (gx_add(c->b, alt, SEQ(c, lit(c, buf), fraction(c, b->i, NULL, 0, b->f, b_ex)))) return NULL;
    }
    return alt;
}

static gx_node *number(sc *c, json_t *s, const char *path) {
    bounds bd;
    if (read_bounds(c, s, path, &bd)) return NULL;
    if (!bd.has_lo && !bd.has_hi) return number_plain(c);
    dec lo = {0, ""}, hi = {0, ""}, zero = {0, ""};
    if ((bd.has_lo && to_dec(fabs(bd.lo), &lo)) || (bd.has_hi && to_dec(fabs(bd.hi), &hi))) {
        fail(c, INF_E_UNSUPPORTED, path, "%s: a bound needing more than 17 decimals is not supported", "minimum / maximum");
        return NULL;
    }
    gx_node *alt = gx_alt(c->b);
    /* x >= 0: magnitudes from max(lo, 0) to hi */
    if (!bd.has_hi || bd.hi > 0 || (bd.hi == 0 && !bd.hi_ex)) {
        int from_lo = bd.has_lo && bd.lo >= 0;
        if (gx_add(c->b, alt, magnitude(c, from_lo ? &lo : &zero, from_lo && bd.lo_ex, bd.has_hi ? &hi : NULL, bd.hi_ex)))
            return NULL;
    }
    /* x < 0: "-" and magnitudes from max(-hi, 0) (0 itself excluded: it
     * is on the other side) to -lo */
    if (!bd.has_lo || bd.lo < 0) {
        int from_hi = bd.has_hi && bd.hi < 0;
        if (gx_add(c->b, alt, SEQ(c, lit(c, "-"), magnitude(c, from_hi ? &hi : &zero, from_hi ? bd.hi_ex : 1,
                                                             bd.has_lo ? &lo : NULL, bd.lo_ex))))
            return NULL;
    }
    return alt;
}

/* ---- strings ---- */

/* Days that exist: 31 in 01 03 05 07 08 10 12, 30 in 04 06 09 11, 28 in
 * 02 and the 29th in leap years (divisible by 4, centuries by 400). */
#define DATE_RE "([0-9]{4}-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))|([0-9]{2}(0[48]|[2468][048]|[13579][26])|(0[048]|[2468][048]|[13579][26])00)-02-29)"
static const struct { const char *name, *re; } formats[] = {
    {"date", "^" DATE_RE "$"},
    {"time", "^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?([zZ]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"},
    {"date-time", "^" DATE_RE "[tT]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
                  "(\\.[0-9]{1,9})?([zZ]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"},
    {"uuid", "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"},
    {"email", "^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@"
              "([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"},
};

static int get_count(sc *c, json_t *s, const char *key, const char *path, uint32_t *v, int *has) {
    json_t *x = json_object_get(s, key);
    *has = 0;
    if (!x) return 0;
    double d = json_number_value(x);
    if (!json_is_number(x) || d < 0 || d != floor(d))
        return fail(c, INF_E_INVALID_ARGUMENT, path, "%s must be a non-negative integer", key);
    if (d > c->b->lim.max_repeat) {
        char m[120];
        snprintf(m, sizeof m, "%s %.0f is above the limit of %u", key, d, c->b->lim.max_repeat);
        return fail(c, INF_E_LIMIT, path, "%s", m);
    }
    *v = (uint32_t)d;
    *has = 1;
    return 0;
}

static gx_node *string(sc *c, json_t *s, const char *path) {
    uint32_t mn = 0, mx = GX_INF;
    int hmn, hmx;
    if (get_count(c, s, "minLength", path, &mn, &hmn) || get_count(c, s, "maxLength", path, &mx, &hmx)) return NULL;
    if (!hmx) mx = GX_INF;
    json_t *pat = json_object_get(s, "pattern"), *fmt = json_object_get(s, "format");
    if (pat && !json_is_string(pat)) { fail(c, INF_E_INVALID_ARGUMENT, path, "%s must be a string", "pattern"); return NULL; }
    if (fmt && !json_is_string(fmt)) { fail(c, INF_E_INVALID_ARGUMENT, path, "%s must be a string", "format"); return NULL; }
    if ((pat || fmt) && (hmn || hmx)) {
        fail(c, INF_E_UNSUPPORTED, path, "%s together with minLength / maxLength is not supported", pat ? "pattern" : "format");
        return NULL;
    }
    if (pat && fmt) { fail(c, INF_E_UNSUPPORTED, path, "%s", "pattern together with format is not supported"); return NULL; }
    if (fmt) {
        const char *f = json_string_value(fmt);
        for (size_t k = 0; k < sizeof formats / sizeof *formats; k++)
            if (!strcmp(f, formats[k].name)) return SEQ(c, lit(c, "\""), pattern(c, formats[k].re, path), lit(c, "\""));
        fail(c, INF_E_UNSUPPORTED, path, "format '%s' is not supported (date, time, date-time, uuid, email are)", f);
        return NULL;
    }
    if (pat) return SEQ(c, lit(c, "\""), pattern(c, json_string_value(pat), path), lit(c, "\""));
    if (hmn && hmx && mn > mx) return gx_alt(c->b);
    return SEQ(c, lit(c, "\""), gx_rep(c->b, str_char(c), mn, mx), lit(c, "\""));
}

/* ---- $ref ---- */

static json_t *resolve(sc *c, const char *ref, const char *path) {
    if (ref[0] != '#') { fail(c, INF_E_UNSUPPORTED, path, "$ref '%s': only references inside the schema ('#/...') are supported", ref); return NULL; }
    json_t *at = c->doc;
    const char *p = ref + 1;
    if (*p && *p != '/') { fail(c, INF_E_UNSUPPORTED, path, "$ref '%s': anchors are not supported", ref); return NULL; }
    while (*p == '/') {
        p++;
        char tok[256];
        size_t n = 0;
        while (*p && *p != '/' && n + 1 < sizeof tok) {
            char ch = *p++;
            if (ch == '~' && (*p == '0' || *p == '1')) ch = *p++ == '0' ? '~' : '/';
            else if (ch == '%' && p[0] && p[1]) {
                unsigned v;
                if (sscanf(p, "%2x", &v) == 1) { ch = (char)v; p += 2; }
            }
            tok[n++] = ch;
        }
        tok[n] = 0;
        if (json_is_object(at)) at = json_object_get(at, tok);
        else if (json_is_array(at)) {
            char *e;
            long i = strtol(tok, &e, 10);
            at = *e || !n ? NULL : json_array_get(at, (size_t)i);
        } else at = NULL;
        if (!at) { fail(c, INF_E_INVALID_ARGUMENT, path, "$ref '%s' points to nothing", ref); return NULL; }
    }
    return at;
}

static gx_node *ref_node(sc *c, const char *ref, const char *path) {
    for (size_t i = 0; i < c->n_refs; i++)
        if (!strcmp(c->ref_ptr[i], ref)) return gx_ref(c->b, c->ref_rule[i]);
    json_t *t = resolve(c, ref, path);
    if (!t) return NULL;
    if (c->n_refs == c->cap_refs) {
        size_t cap = c->cap_refs ? c->cap_refs * 2 : 16;
        char **p = realloc(c->ref_ptr, cap * sizeof *p);
        if (p) c->ref_ptr = p;
        uint32_t *r = realloc(c->ref_rule, cap * sizeof *r);
        if (r) c->ref_rule = r;
        json_t **s = realloc(c->ref_schema, cap * sizeof *s);
        if (s) c->ref_schema = s;
        if (!p || !r || !s) { fail(c, INF_E_NOMEM, path, "%s", "out of memory"); return NULL; }
        c->cap_refs = cap;
    }
    char *dup = strdup(ref);
    uint32_t rule = gx_rule_id(c->b, NULL, 0, 0, 0);
    if (!dup || rule == UINT32_MAX) { free(dup); if (!c->rc) c->rc = c->err->code ? c->err->code : INF_E_NOMEM; return NULL; }
    c->ref_ptr[c->n_refs] = dup;
    c->ref_rule[c->n_refs] = rule;
    c->ref_schema[c->n_refs] = t;
    c->n_refs++;
    return gx_ref(c->b, rule);
}

/* ---- keywords ---- */

static const char *const ignored_kw[] = {"title", "description", "default", "examples", "$schema", "$id", "$comment",
                                         "deprecated", "readOnly", "writeOnly", "$defs", "definitions",
                                         "contentMediaType", "contentEncoding", NULL};
static const char *const known_kw[] = {"type", "properties", "required", "additionalProperties", "items", "prefixItems",
                                       "additionalItems", "minItems", "maxItems", "enum", "const", "anyOf", "oneOf",
                                       "allOf", "$ref", "minLength", "maxLength", "pattern", "format", "minimum",
                                       "maximum", "exclusiveMinimum", "exclusiveMaximum", "nullable", "uniqueItems",
                                       NULL};

static int in_list(const char *const *l, const char *k) {
    for (; *l; l++)
        if (!strcmp(*l, k)) return 1;
    return 0;
}

static int check_keywords(sc *c, json_t *s, const char *path) {
    const char *k;
    json_t *v;
    json_object_foreach(s, k, v) {
        if (in_list(ignored_kw, k)) continue;
        if (!in_list(known_kw, k))
            return fail(c, INF_E_UNSUPPORTED, path, "keyword '%s' is not supported", k);
        if (!strcmp(k, "uniqueItems") && json_is_true(v))
            return fail(c, INF_E_UNSUPPORTED, path, "keyword '%s' (true) is not supported: no grammar can check it", k);
    }
    return 0;
}

/* Whether s has keywords beyond annotations and those listed in skip. */
static int has_constraints(json_t *s, const char *const *skip) {
    const char *k;
    json_t *v;
    json_object_foreach(s, k, v) {
        (void)v;
        if (!in_list(ignored_kw, k) && !in_list(skip, k)) return 1;
    }
    return 0;
}

/* ---- allOf: merging object schemas ---- */

static int merge_into(sc *c, json_t *dst, json_t *src, const char *path);

static int type_mask(json_t *t) {
    static const char *names[] = {"null", "boolean", "object", "array", "number", "string", "integer"};
    if (!t) return 0x7F;
    int m = 0;
    for (size_t i = 0; i < (json_is_array(t) ? json_array_size(t) : 1); i++) {
        const char *n = json_string_value(json_is_array(t) ? json_array_get(t, i) : t);
        for (int k = 0; n && k < 7; k++)
            if (!strcmp(n, names[k])) m |= 1 << k;
    }
    if (m & (1 << 4)) m |= 1 << 6; /* number includes integer */
    return m;
}

static json_t *mask_types(int m) {
    static const char *names[] = {"null", "boolean", "object", "array", "number", "string", "integer"};
    json_t *a = json_array();
    if ((m & (1 << 4)) && (m & (1 << 6))) m &= ~(1 << 6);
    for (int k = 0; k < 7; k++)
        if (m & (1 << k)) json_array_append_new(a, json_string(names[k]));
    return a;
}

/* additionalProperties speaks of the properties of its own schema object:
 * when two objects merge, each one's additionalProperties applies to the
 * other's properties that it does not list itself. */
static json_t *apply_ap(json_t *props, json_t *own, json_t *ap) {
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(props, k, v) {
        if (own && json_object_get(own, k)) json_object_set(out, k, v);
        else if (json_is_false(ap)) json_object_set_new(out, k, json_false());
        else json_object_set_new(out, k, json_pack("{s:[O,O]}", "allOf", v, ap));
    }
    return out;
}

/* Merges the keywords of src itself (not its $ref, not its allOf). */
static int merge_unit(sc *c, json_t *dst, json_t *src, const char *path) {
    int rc = 0;
    json_t *sp = json_object_get(src, "properties"), *sap = json_object_get(src, "additionalProperties");
    json_t *dp = json_object_get(dst, "properties"), *dap = json_object_get(dst, "additionalProperties");
    json_t *src_copy = NULL;
    if (json_is_object(sp) && dap && !json_is_true(dap)) {
        src_copy = json_copy(src);
        json_object_set_new(src_copy, "properties", apply_ap(sp, dp, dap));
        src = src_copy;
    }
    if (json_is_object(dp) && sap && !json_is_true(sap))
        json_object_set_new(dst, "properties", apply_ap(dp, sp, sap));
    const char *k;
    json_t *v;
    json_object_foreach(src, k, v) {
        json_t *d = json_object_get(dst, k);
        if (in_list(ignored_kw, k)) continue;
        if (!strcmp(k, "$ref") || !strcmp(k, "allOf")) {
            continue; /* merge_into follows them */
        } else if (!d) {
            /* a copy: later members add to properties / required in place,
             * and the schema document must stay as it was */
            json_object_set_new(dst, k, json_copy(v));
        } else if (!strcmp(k, "type")) {
            json_object_set_new(dst, k, mask_types(type_mask(d) & type_mask(v)));
        } else if (!strcmp(k, "properties")) {
            const char *pk;
            json_t *pv;
            json_object_foreach(v, pk, pv) {
                json_t *old = json_object_get(d, pk);
                if (!old) json_object_set(d, pk, pv);
                else json_object_set_new(d, pk, json_pack("{s:[O,O]}", "allOf", old, pv));
            }
        } else if (!strcmp(k, "required")) {
            size_t i;
            json_t *x;
            json_array_foreach(v, i, x) json_array_append(d, x);
        } else if (!strcmp(k, "additionalProperties") || !strcmp(k, "items") || !strcmp(k, "additionalItems")) {
            if (json_is_false(d) || json_is_false(v)) json_object_set_new(dst, k, json_false());
            else json_object_set_new(dst, k, json_pack("{s:[O,O]}", "allOf", d, v));
        } else if (!strcmp(k, "minimum") || !strcmp(k, "minLength") || !strcmp(k, "minItems") ||
                   (!strcmp(k, "exclusiveMinimum") && json_is_number(v))) {
            if (json_number_value(v) > json_number_value(d)) json_object_set(dst, k, v);
        } else if (!strcmp(k, "maximum") || !strcmp(k, "maxLength") || !strcmp(k, "maxItems") ||
                   (!strcmp(k, "exclusiveMaximum") && json_is_number(v))) {
            if (json_number_value(v) < json_number_value(d)) json_object_set(dst, k, v);
        } else if (!strcmp(k, "enum") || !strcmp(k, "const")) {
            /* keep the values both allow */
            json_t *a = !strcmp(k, "enum") ? v : NULL, *keep = json_array();
            json_t *dl = json_is_array(d) && !strcmp(k, "enum") ? d : NULL;
            size_t i, j;
            json_t *x, *y;
            json_t *one = json_array();
            if (!a) { json_array_append(one, v); a = one; }
            json_t *done = one;
            if (!dl) { dl = json_array(); json_array_append(dl, d); } else json_incref(dl);
            json_array_foreach(a, i, x) json_array_foreach(dl, j, y) if (json_equal(x, y)) { json_array_append(keep, x); break; }
            json_decref(dl);
            json_decref(done);
            json_object_del(dst, "const");
            json_object_set_new(dst, "enum", keep);
        } else if (!strcmp(k, "nullable")) {
            if (!json_is_true(v)) json_object_set(dst, k, v);
        } else if (!strcmp(k, "uniqueItems")) {
        } else if (!json_equal(d, v)) {
            rc = fail(c, INF_E_UNSUPPORTED, path, "allOf / $ref with siblings: two different '%s' cannot be combined", k);
            break;
        }
    }
    json_decref(src_copy);
    return rc;
}

static int merge_into(sc *c, json_t *dst, json_t *src, const char *path) {
    if (++c->depth > c->b->lim.max_ref_depth) return fail(c, INF_E_LIMIT, path, "%s", "allOf / $ref nested too deeply");
    int rc = 0;
    if (json_is_true(src)) goto out;
    if (json_is_false(src) || !json_is_object(src)) {
        if (!json_is_false(src)) { rc = fail(c, INF_E_INVALID_ARGUMENT, path, "%s", "a schema must be an object or a boolean"); goto out; }
        json_object_set_new(dst, "enum", json_array()); /* nothing valid */
        goto out;
    }
    if ((rc = check_keywords(c, src, path)) || (rc = merge_unit(c, dst, src, path))) goto out;
    json_t *ref = json_object_get(src, "$ref"), *all = json_object_get(src, "allOf");
    if (ref) {
        json_t *t = json_is_string(ref) ? resolve(c, json_string_value(ref), path) : NULL;
        if (!t) { rc = c->rc ? c->rc : fail(c, INF_E_INVALID_ARGUMENT, path, "%s", "$ref must be a string"); goto out; }
        if ((rc = merge_into(c, dst, t, path))) goto out;
    }
    if (all) {
        size_t i;
        json_t *x;
        if (!json_is_array(all)) { rc = fail(c, INF_E_INVALID_ARGUMENT, path, "%s must be an array", "allOf"); goto out; }
        json_array_foreach(all, i, x) if ((rc = merge_into(c, dst, x, path))) break;
    }
out:
    c->depth--;
    return rc;
}

/* ---- objects and arrays ---- */

static gx_node *comma(sc *c) { return SEQ(c, ws(c), lit(c, ","), ws(c)); }

/* A JSON string without escapes that is none of the n keys (the
 * additional properties' names: unescaped, so the text decides the name). */
static gx_node *key_except(sc *c, const char **keys, size_t n, size_t depth) {
    static const uint32_t base_ex[] = {0, 0x1F, '"', '"', '\\', '\\'};
    gx_node *alt = gx_alt(c->b);
    int here = 0;
    for (size_t i = 0; i < n; i++) here |= strlen(keys[i]) == depth;
    if (!here && gx_add(c->b, alt, gx_seq(c->b))) return NULL; /* end here */
    /* the bytes that continue some key at this depth */
    uint8_t used[256] = {0};
    for (size_t i = 0; i < n; i++)
        if (strlen(keys[i]) > depth) used[(uint8_t)keys[i][depth]] = 1;
    /* or a character whose first byte continues no key, then anything */
    gx_node *plain_any = gx_rep(c->b, gx_cp_except(c->b, base_ex, 3), 0, GX_INF);
    gx_node *diverge = gx_alt(c->b), *lead = gx_set(c->b);
    if (!lead || !diverge) return NULL;
    for (int b = 0x20; b < 0x80; b++)
        if (b != '"' && b != '\\' && !used[b]) lead->set[b >> 5] |= 1u << (b & 31);
    if (gx_add(c->b, diverge, SEQ(c, lead, plain_any))) return NULL;
    for (int b = 0xC2; b <= 0xF4; b++) {
        if (used[b]) continue;
        /* the code points whose UTF-8 starts with byte b */
        uint32_t lo, hi;
        if (b < 0xE0) { lo = (uint32_t)(b & 0x1F) << 6; hi = lo | 0x3F; }
        else if (b < 0xF0) { lo = (uint32_t)(b & 0x0F) << 12; hi = lo | 0xFFF; if (lo < 0x800) lo = 0x800; }
        else { lo = (uint32_t)(b & 0x07) << 18; hi = lo | 0x3FFFF; if (lo < 0x10000) lo = 0x10000; }
        if (gx_add(c->b, diverge, SEQ(c, gx_cp_range(c->b, lo, hi), plain_any))) return NULL;
    }
    if (gx_add(c->b, alt, diverge)) return NULL;
    /* follow each used byte */
    for (int b = 0; b < 256; b++) {
        if (!used[b]) continue;
        const char **sub = malloc(n * sizeof *sub);
        if (!sub) return NULL;
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (strlen(keys[i]) > depth && (uint8_t)keys[i][depth] == b) sub[m++] = keys[i];
        gx_node *rest = key_except(c, sub, m, depth + 1);
        free(sub);
        if (!rest || gx_add(c->b, alt, SEQ(c, gx_byte(c->b, (uint8_t)b), rest))) return NULL;
    }
    return alt;
}

static gx_node *new_rule(sc *c, gx_node *body) {
    if (!body) return NULL;
    uint32_t r = gx_rule_id(c->b, NULL, 0, 0, 0);
    if (r == UINT32_MAX) { if (!c->rc) c->rc = c->err->code ? c->err->code : INF_E_LIMIT; return NULL; }
    c->b->rules[r].body = body;
    return gx_ref(c->b, r);
}

static gx_node *object(sc *c, json_t *s, const char *path) {
    json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required"),
           *ap = json_object_get(s, "additionalProperties");
    if (props && !json_is_object(props)) { fail(c, INF_E_INVALID_ARGUMENT, path, "%s must be an object", "properties"); return NULL; }
    if (req && !json_is_array(req)) { fail(c, INF_E_INVALID_ARGUMENT, path, "%s must be an array", "required"); return NULL; }
    size_t np = props ? json_object_size(props) : 0, nr = req ? json_array_size(req) : 0;
    /* members: the properties in order, then required names that are not
     * properties (their value follows additionalProperties) */
    const char **names = calloc(np + nr + 1, sizeof *names);
    json_t **schemas = calloc(np + nr + 1, sizeof *schemas);
    int *reqd = calloc(np + nr + 1, sizeof *reqd);
    gx_node *out = NULL;
    if (!names || !schemas || !reqd) { fail(c, INF_E_NOMEM, path, "%s", "out of memory"); goto done; }
    size_t n = 0;
    const char *k;
    json_t *v;
    if (props) json_object_foreach(props, k, v) { names[n] = k; schemas[n] = v; n++; }
    for (size_t i = 0; i < nr; i++) {
        const char *r = json_string_value(json_array_get(req, i));
        if (!r) { fail(c, INF_E_INVALID_ARGUMENT, path, "%s must hold strings", "required"); goto done; }
        size_t j;
        for (j = 0; j < n && strcmp(names[j], r); j++) {}
        if (j == n) {
            if (json_is_false(ap) || (np && !ap)) { out = gx_alt(c->b); goto done; } /* can never hold */
            names[n] = r;
            schemas[n] = ap ? ap : json_true();
            n++;
        }
        reqd[j] = 1;
    }
    /* additional members: allowed when additionalProperties says so, or
     * when the schema lists no properties at all (like json_object) */
    int add = ap ? !json_is_false(ap) : np == 0;
    gx_node *add_member = NULL;
    if (add) {
        gx_node *val = ap && !json_is_true(ap) ? gen(c, ap, path) : any_value(c);
        gx_node *key = SEQ(c, lit(c, "\""), key_except(c, names, n, 0), lit(c, "\""));
        add_member = new_rule(c, SEQ(c, key, ws(c), lit(c, ":"), ws(c), val));
        if (!add_member) goto done;
    }
    /* members as rules (each is copied into several places below) */
    gx_node **mem = calloc(n + 1, sizeof *mem);
    if (!mem) { fail(c, INF_E_NOMEM, path, "%s", "out of memory"); goto done; }
    for (size_t i = 0; i < n && !c->rc; i++) {
        char sub[512];
        snprintf(sub, sizeof sub, "%s/properties/%s", path, names[i]);
        json_t *ks = json_string(names[i]);
        gx_node *key = json_lit(c, ks);
        json_decref(ks);
        mem[i] = new_rule(c, SEQ(c, key, ws(c), lit(c, ":"), ws(c), gen(c, schemas[i], sub)));
    }
    if (c->rc) { free(mem); goto done; }
    /* L(i, first): members i.. given whether one was written (then each
     * starts with a comma).  Built from the end; both variants shared. */
    gx_node *l_first = NULL, *l_more = NULL;
    if (add_member) {
        gx_node *tail = gx_rep(c->b, SEQ(c, comma(c), add_member), 0, GX_INF);
        l_more = tail;
        l_first = gx_rep(c->b, SEQ(c, add_member, tail), 0, 1);
    } else {
        l_more = gx_seq(c->b);
        l_first = gx_seq(c->b);
    }
    for (size_t i = n; i-- > 0;) {
        gx_node *with_more = SEQ(c, comma(c), mem[i], l_more);
        gx_node *with_first = SEQ(c, mem[i], l_more);
        if (reqd[i]) { l_more = with_more; l_first = with_first; }
        else {
            gx_node *a = gx_alt(c->b), *b2 = gx_alt(c->b);
            if (gx_add(c->b, a, with_more) || gx_add(c->b, a, l_more) || gx_add(c->b, b2, with_first) ||
                gx_add(c->b, b2, l_first)) { free(mem); goto done; }
            l_more = a;
            l_first = b2;
        }
    }
    free(mem);
    out = new_rule(c, SEQ(c, lit(c, "{"), ws(c), l_first, ws(c), lit(c, "}")));
done:
    free(names);
    free(schemas);
    free(reqd);
    return out;
}

static gx_node *array(sc *c, json_t *s, const char *path) {
    json_t *prefix = json_object_get(s, "prefixItems"), *items = json_object_get(s, "items"),
           *addl = json_object_get(s, "additionalItems");
    json_t *rest = items;
    if (json_is_array(items)) { /* draft 4-7 tuple form */
        if (prefix) { fail(c, INF_E_INVALID_ARGUMENT, path, "%s", "items as an array together with prefixItems"); return NULL; }
        prefix = items;
        rest = addl;
    } else if (addl && !prefix) {
        rest = items; /* additionalItems without tuple items: no effect */
    }
    if (prefix && !json_is_array(prefix)) { fail(c, INF_E_INVALID_ARGUMENT, path, "%s must be an array", "prefixItems"); return NULL; }
    uint32_t mn = 0, mx = GX_INF;
    int hmn, hmx;
    if (get_count(c, s, "minItems", path, &mn, &hmn) || get_count(c, s, "maxItems", path, &mx, &hmx)) return NULL;
    if (!hmx) mx = GX_INF;
    if (mn > mx) return gx_alt(c->b);
    size_t k = prefix ? json_array_size(prefix) : 0;
    if (k > c->b->lim.max_repeat) { fail(c, INF_E_LIMIT, path, "%s", "prefixItems longer than the repeat limit"); return NULL; }
    gx_node *el_rest = NULL; /* NULL: no more elements allowed */
    if (!json_is_false(rest)) {
        char sub[512];
        snprintf(sub, sizeof sub, "%s/items", path);
        el_rest = rest && !json_is_true(rest) ? gen(c, rest, sub) : any_value(c);
        if (!el_rest) return NULL;
        el_rest = new_rule(c, el_rest);
    }
    /* tail(i): elements from position i on, position i-1 written */
    gx_node *tail;
    if (el_rest) {
        uint32_t rmin = mn > k ? mn - (uint32_t)k : 0;
        uint32_t rmax = mx == GX_INF ? GX_INF : (mx > k ? mx - (uint32_t)k : 0);
        tail = gx_rep(c->b, SEQ(c, comma(c), el_rest), rmin, rmax);
    } else {
        if (mn > k) return gx_alt(c->b);
        tail = gx_seq(c->b);
    }
    gx_node **el = calloc(k + 1, sizeof *el);
    if (!el) { fail(c, INF_E_NOMEM, path, "%s", "out of memory"); return NULL; }
    for (size_t i = 0; i < k && !c->rc; i++) {
        char sub[512];
        snprintf(sub, sizeof sub, "%s/prefixItems/%zu", path, i);
        el[i] = new_rule(c, gen(c, json_array_get(prefix, i), sub));
    }
    if (c->rc) { free(el); return NULL; }
    size_t kk = k < mx ? k : mx; /* positions past maxItems never appear */
    if (kk < k) tail = gx_seq(c->b);
    for (size_t i = kk; i-- > 1;) {
        gx_node *t = SEQ(c, comma(c), el[i], tail);
        tail = i < mn ? t : gx_rep(c->b, t, 0, 1);
    }
    gx_node *body;
    if (kk > 0) {
        body = SEQ(c, el[0], tail);
        if (mn == 0) body = gx_rep(c->b, body, 0, 1);
    } else if (el_rest && mx > 0) {
        uint32_t rmin = mn ? mn - 1 : 0, rmax = mx == GX_INF ? GX_INF : mx - 1;
        body = SEQ(c, el_rest, gx_rep(c->b, SEQ(c, comma(c), el_rest), rmin, rmax));
        if (mn == 0) body = gx_rep(c->b, body, 0, 1);
    } else {
        body = mn == 0 ? gx_seq(c->b) : gx_alt(c->b);
    }
    free(el);
    return new_rule(c, SEQ(c, lit(c, "["), ws(c), body, ws(c), lit(c, "]")));
}

/* ---- one schema ---- */

static int value_type_ok(json_t *v, int mask) {
    int t = json_is_null(v) ? 0 : json_is_boolean(v) ? 1 : json_is_object(v) ? 2 : json_is_array(v) ? 3
          : json_is_integer(v) ? 6 : json_is_real(v) ? 4 : 5;
    if (t == 4 && json_real_value(v) == floor(json_real_value(v)) && (mask & (1 << 6))) return 1;
    return (mask >> t) & 1;
}

/* What a oneOf branch can be, to show that no value matches two branches
 * (a grammar cannot check "exactly one"): its types, and its values when it
 * lists them (enum / const). */
static int branch_types(sc *c, json_t *b, json_t **vals) {
    *vals = NULL;
    for (int k = 0; k < 16 && json_is_object(b) && json_is_string(json_object_get(b, "$ref")); k++) {
        json_t *t = resolve(c, json_string_value(json_object_get(b, "$ref")), "");
        if (!t) { c->rc = 0; inf__err_clear(c->err); break; }
        b = t;
    }
    if (json_is_false(b)) return 0;
    if (!json_is_object(b)) return 0x7F;
    json_t *en = json_object_get(b, "enum"), *cn = json_object_get(b, "const");
    if (cn) { *vals = json_pack("[O]", cn); }
    else if (json_is_array(en)) *vals = json_incref(en);
    int m = type_mask(json_object_get(b, "type"));
    if (json_is_true(json_object_get(b, "nullable"))) m |= 1;
    if (*vals) {
        int vm = 0;
        size_t i;
        json_t *x;
        json_array_foreach(*vals, i, x) vm |= 1 << (json_is_null(x) ? 0 : json_is_boolean(x) ? 1 : json_is_object(x) ? 2
                                                  : json_is_array(x) ? 3 : json_is_string(x) ? 5 : 4);
        if (vm & (1 << 4)) vm |= 1 << 6;
        m &= vm;
    }
    return m;
}

/* 1 when no value matches both branches a and b by their types, or by their
 * enum/const value lists (when both have one and they share no value).
 * *common (optional) gets the type bits both allow. */
static int values_disjoint(sc *c, json_t *a, json_t *b, int *common) {
    json_t *va, *vb;
    int ma = branch_types(c, a, &va), mb = branch_types(c, b, &vb);
    int dis = !(ma & mb);
    if (!dis && va && vb) {
        dis = 1;
        size_t p, q;
        json_t *u, *w;
        json_array_foreach(va, p, u) json_array_foreach(vb, q, w) if (json_equal(u, w)) dis = 0;
    }
    json_decref(va);
    json_decref(vb);
    if (common) *common = ma & mb;
    return dis;
}

/* A property both object branches require whose const / enum values are
 * disjoint (a discriminator, e.g. "kind": "circle" / "kind": "square"). */
static int discriminated(sc *c, json_t *a, json_t *b) {
    json_t *pa = json_object_get(a, "properties"), *pb = json_object_get(b, "properties");
    json_t *ra = json_object_get(a, "required"), *rb = json_object_get(b, "required");
    size_t i, j;
    json_t *x, *y;
    json_array_foreach(ra, i, x) json_array_foreach(rb, j, y) {
        if (!json_equal(x, y) || !json_is_string(x)) continue;
        const char *key = json_string_value(x);
        if (values_disjoint(c, json_object_get(pa, key), json_object_get(pb, key), NULL))
            return 1;
    }
    return 0;
}

static int one_of_disjoint(sc *c, json_t *list) {
    size_t n = json_array_size(list);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            json_t *a = json_array_get(list, i), *b = json_array_get(list, j);
            int common;
            int dis = values_disjoint(c, a, b, &common);
            if (!dis && common == 4 && discriminated(c, a, b)) dis = 1;
            if (!dis) return 0;
        }
    return 1;
}

static gx_node *gen_inner(sc *c, json_t *s, const char *path) {
    if (json_is_true(s)) return any_value(c);
    if (json_is_false(s)) return gx_alt(c->b);
    if (!json_is_object(s)) { fail(c, INF_E_INVALID_ARGUMENT, path, "%s", "a schema must be an object or a boolean"); return NULL; }
    if (check_keywords(c, s, path)) return NULL;
    json_t *ref = json_object_get(s, "$ref"), *all = json_object_get(s, "allOf");
    static const char *const only_ref[] = {"$ref", NULL};
    if (ref && !json_is_string(ref)) { fail(c, INF_E_INVALID_ARGUMENT, path, "%s must be a string", "$ref"); return NULL; }
    if (ref && !has_constraints(s, only_ref)) return ref_node(c, json_string_value(ref), path);
    if (ref || all) {
        if (all && !json_is_array(all)) { fail(c, INF_E_INVALID_ARGUMENT, path, "%s must be an array", "allOf"); return NULL; }
        json_t *m = json_object();
        gx_node *n = NULL;
        if (!merge_into(c, m, s, path)) n = gen(c, m, path);
        json_decref(m);
        return n;
    }
    json_t *any = json_object_get(s, "anyOf"), *one = json_object_get(s, "oneOf");
    if (any && one) { fail(c, INF_E_UNSUPPORTED, path, "%s", "anyOf together with oneOf is not supported"); return NULL; }
    if (any || one) {
        json_t *list = any ? any : one;
        if (!json_is_array(list) || !json_array_size(list)) {
            fail(c, INF_E_INVALID_ARGUMENT, path, "%s must be a non-empty array", any ? "anyOf" : "oneOf");
            return NULL;
        }
        if (one && !one_of_disjoint(c, one)) {
            fail(c, INF_E_UNSUPPORTED, path, "%s",
                 "oneOf whose branches may overlap is not supported (a grammar cannot check that exactly one matches; "
                 "branches of different types, const / enum values or a required discriminator property are fine; or use anyOf)");
            return NULL;
        }
        static const char *const only_alt[] = {"anyOf", "oneOf", NULL};
        json_t *sib = NULL;
        if (has_constraints(s, only_alt)) {
            sib = json_deep_copy(s);
            json_object_del(sib, "anyOf");
            json_object_del(sib, "oneOf");
        }
        gx_node *alt = gx_alt(c->b);
        size_t i;
        json_t *x;
        json_array_foreach(list, i, x) {
            char sub[512];
            snprintf(sub, sizeof sub, "%s/%s/%zu", path, any ? "anyOf" : "oneOf", i);
            gx_node *n = NULL;
            if (sib) {
                json_t *m = json_object();
                if (!merge_into(c, m, sib, sub) && !merge_into(c, m, x, sub)) n = gen(c, m, sub);
                json_decref(m);
            } else n = gen(c, x, sub);
            if (!n || gx_add(c->b, alt, n)) { alt = NULL; break; }
        }
        json_decref(sib);
        return alt;
    }
    json_t *type = json_object_get(s, "type");
    if (type && !json_is_string(type) && !json_is_array(type)) { fail(c, INF_E_INVALID_ARGUMENT, path, "%s must be a string or an array", "type"); return NULL; }
    int mask = type_mask(type);
    if (type && !json_is_array(type) && !(mask & 0x7F)) { fail(c, INF_E_INVALID_ARGUMENT, path, "unknown type '%s'", json_string_value(type)); return NULL; }
    if (json_is_true(json_object_get(s, "nullable"))) mask |= 1;
    json_t *en = json_object_get(s, "enum"), *cn = json_object_get(s, "const");
    if (en || cn) {
        static const char *const enum_ok[] = {"enum", "const", "type", "nullable", NULL};
        if (has_constraints(s, enum_ok)) {
            fail(c, INF_E_UNSUPPORTED, path, "%s together with other constraints than type is not supported", en ? "enum" : "const");
            return NULL;
        }
        if (en && !json_is_array(en)) { fail(c, INF_E_INVALID_ARGUMENT, path, "%s must be an array", "enum"); return NULL; }
        gx_node *alt = gx_alt(c->b);
        size_t i;
        json_t *x;
        if (en) json_array_foreach(en, i, x) {
            if (cn && !json_equal(x, cn)) continue;
            if (value_type_ok(x, mask) && gx_add(c->b, alt, json_lit(c, x))) return NULL;
        }
        else if (value_type_ok(cn, mask) && gx_add(c->b, alt, json_lit(c, cn))) return NULL;
        return alt;
    }
    /* no type and no constraint: any value, through the shared rule */
    static const char *const nothing[] = {"type", "nullable", NULL};
    if (!type && !has_constraints(s, nothing)) return any_value(c);
    gx_node *alt = gx_alt(c->b);
    if ((mask & 1) && gx_add(c->b, alt, lit(c, "null"))) return NULL;
    if ((mask & 2) && gx_add(c->b, alt, regex(c, "true|false", path))) return NULL;
    if ((mask & 4) && gx_add(c->b, alt, object(c, s, path))) return NULL;
    if ((mask & 8) && gx_add(c->b, alt, array(c, s, path))) return NULL;
    if ((mask & 16) && gx_add(c->b, alt, number(c, s, path))) return NULL;
    else if (!(mask & 16) && (mask & 64) && gx_add(c->b, alt, integer(c, s, path))) return NULL;
    if ((mask & 32) && gx_add(c->b, alt, string(c, s, path))) return NULL;
    return alt;
}

static gx_node *gen(sc *c, json_t *s, const char *path) {
    if (c->rc) return NULL;
    if (++c->depth > c->b->lim.max_ref_depth) {
        fail(c, INF_E_LIMIT, path, "schema nested deeper than %s levels", "the limit of");
        c->depth--;
        return NULL;
    }
    gx_node *n = gen_inner(c, s, path);
    c->depth--;
    if (!n && !c->rc) c->rc = c->err && c->err->code ? c->err->code : INF_E_NOMEM;
    return n;
}

int inf__grammar_from_json_schema(const char *json, size_t len, const inf__grammar_limits *limits, inf__grammar **out,
                                  inf__err *err) {
    *out = NULL;
    inf__err local = {0};
    if (!err) err = &local;
    gx_builder b;
    gx_init(&b, limits, err);
    if (len > b.lim.max_source)
        return inf__seterr(err, INF_E_LIMIT, "schema of %zu bytes is above the limit of %zu", len, b.lim.max_source);
    json_error_t je;
    json_t *doc = json_loadb(json, len, JSON_DECODE_ANY, &je);
    if (!doc)
        return inf__seterr(err, INF_E_INVALID_ARGUMENT, "schema is not valid JSON: line %d col %d: %s", je.line, je.column, je.text);
    sc c = {&b, doc, err, 0, 0, NULL, NULL, NULL, 0, 0, 0, UINT32_MAX, 0};
    uint32_t root = gx_rule_id(&b, "root", 4, 0, 0);
    gx_node *n = root == UINT32_MAX ? NULL : gen(&c, doc, "");
    if (n) b.rules[root].body = n;
    /* $ref targets, each once (a target may add more) */
    while (n && !c.rc && c.done_refs < c.n_refs) {
        size_t i = c.done_refs++;
        char path[300];
        snprintf(path, sizeof path, "%s", c.ref_ptr[i] + 1);
        gx_node *body = gen(&c, c.ref_schema[i], path);
        if (!body) break;
        b.rules[c.ref_rule[i]].body = body;
    }
    int rc = c.rc;
    if (!rc && !n) rc = err->code ? err->code : INF_E_NOMEM;
    if (!rc) {
        rc = gx_compile(&b, "root", out, err);
        if (rc == INF_E_INVALID_ARGUMENT && strstr(err->msg, "matches no string"))
            inf__seterr(err, rc, "the schema can never be satisfied: no JSON value is valid under it");
        else if (rc == INF_E_INVALID_ARGUMENT && strstr(err->msg, "left recursion"))
            inf__seterr(err, rc, "the schema refers to itself ($ref) without consuming anything: %s", err->msg);
    }
    for (size_t i = 0; i < c.n_refs; i++) free(c.ref_ptr[i]);
    free(c.ref_ptr);
    free(c.ref_rule);
    free(c.ref_schema);
    json_decref(doc);
    gx_free(&b);
    return rc;
}
