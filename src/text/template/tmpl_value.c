/* Values: containers, Python truthiness / equality / ordering, str() and
 * repr() as Python prints them, transformers' tojson, and JSON import. */
#include "text/template/tmpl_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

tlist *inf__tv_list_new(tctx *c, size_t cap) {
    tlist *l = inf__tc_alloc(c, sizeof *l);
    if (cap) {
        l->v = inf__tc_alloc(c, cap * sizeof(tv));
        l->cap = cap;
    }
    return l;
}

void inf__tv_list_push(tctx *c, tlist *l, tv x) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        tv *nv = inf__tc_alloc(c, cap * sizeof *nv);
        if (l->n) memcpy(nv, l->v, l->n * sizeof *nv);
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = x;
}

tdict *inf__tv_dict_new(tctx *c, size_t cap) {
    tdict *d = inf__tc_alloc(c, sizeof *d);
    if (cap) {
        d->k = inf__tc_alloc(c, cap * sizeof(tv));
        d->v = inf__tc_alloc(c, cap * sizeof(tv));
        d->cap = cap;
    }
    return d;
}

tv *inf__tv_dict_find(const tdict *d, tv k) {
    for (size_t i = 0; i < d->n; i++)
        if (inf__tv_eq(d->k[i], k)) return &d->v[i];
    return NULL;
}

tv *inf__tv_dict_find_str(const tdict *d, const char *p, size_t n) {
    for (size_t i = 0; i < d->n; i++)
        if (d->k[i].t == TV_STR && d->k[i].u.s.n == n && memcmp(d->k[i].u.s.p, p, n) == 0) return &d->v[i];
    return NULL;
}

static void dict_append(tctx *c, tdict *d, tv k, tv x) {
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 4;
        tv *nk = inf__tc_alloc(c, cap * sizeof *nk);
        tv *nv = inf__tc_alloc(c, cap * sizeof *nv);
        if (d->n) {
            memcpy(nk, d->k, d->n * sizeof *nk);
            memcpy(nv, d->v, d->n * sizeof *nv);
        }
        d->k = nk;
        d->v = nv;
        d->cap = cap;
    }
    d->k[d->n] = k;
    d->v[d->n] = x;
    d->n++;
}

void inf__tv_dict_set(tctx *c, tdict *d, tv k, tv x) {
    tv *slot = inf__tv_dict_find(d, k);
    if (slot) *slot = x;
    else dict_append(c, d, k, x);
}

static int is_num(tv x) { return x.t == TV_BOOL || x.t == TV_INT || x.t == TV_FLOAT; }
static double num(tv x) { return x.t == TV_FLOAT ? x.u.f : x.t == TV_INT ? (double)x.u.i : (double)x.u.b; }
static long long inum(tv x) { return x.t == TV_INT ? x.u.i : x.u.b; }

int inf__tv_truthy(tv x) {
    switch (x.t) {
    case TV_UNDEF: case TV_NONE: return 0;
    case TV_BOOL: return x.u.b;
    case TV_INT: return x.u.i != 0;
    case TV_FLOAT: return x.u.f != 0.0;
    case TV_STR: return x.u.s.n != 0;
    case TV_LIST: return x.u.l->lazy || x.u.l->n != 0;
    case TV_DICT: return x.u.d->n != 0;
    default: return 1;
    }
}

/* Values can nest arbitrarily deep ({% set x = [x] %} in a loop), so the
 * recursive walks below are depth-bounded to keep the C stack safe. */
#define MAX_NEST 200

static int eq_rec(tv a, tv b, int depth);
int inf__tv_eq(tv a, tv b) { return eq_rec(a, b, 0); }

static int eq_rec(tv a, tv b, int depth) {
    if (depth > MAX_NEST) return 0; /* too deep to compare: treated as different */
    if (is_num(a) && is_num(b)) {
        if (a.t == TV_FLOAT || b.t == TV_FLOAT) return num(a) == num(b);
        return inum(a) == inum(b);
    }
    if (a.t != b.t) return 0;
    switch (a.t) {
    case TV_UNDEF: case TV_NONE: return 1;
    case TV_STR: return a.u.s.n == b.u.s.n && memcmp(a.u.s.p, b.u.s.p, a.u.s.n) == 0;
    case TV_LIST:
        if (a.u.l->lazy || b.u.l->lazy) return a.u.l == b.u.l;
        if (a.u.l->tuple != b.u.l->tuple || a.u.l->n != b.u.l->n) return 0;
        for (size_t i = 0; i < a.u.l->n; i++)
            if (!eq_rec(a.u.l->v[i], b.u.l->v[i], depth + 1)) return 0;
        return 1;
    case TV_DICT:
        if (a.u.d->n != b.u.d->n) return 0;
        for (size_t i = 0; i < a.u.d->n; i++) {
            tv *o = NULL;
            for (size_t k = 0; k < b.u.d->n && !o; k++)
                if (eq_rec(b.u.d->k[k], a.u.d->k[i], depth + 1)) o = &b.u.d->v[k];
            if (!o || !eq_rec(a.u.d->v[i], *o, depth + 1)) return 0;
        }
        return 1;
    case TV_MACRO: return a.u.m == b.u.m;
    case TV_NS: return a.u.d == b.u.d;
    case TV_LOOP: return a.u.lp == b.u.lp;
    case TV_BUILTIN: return a.u.fn == b.u.fn;
    default: return 0;
    }
}

static const char *py_type(tv x) {
    switch (x.t) {
    case TV_UNDEF: return "Undefined";
    case TV_NONE: return "NoneType";
    case TV_BOOL: return "bool";
    case TV_INT: return "int";
    case TV_FLOAT: return "float";
    case TV_STR: return "str";
    case TV_LIST: return x.u.l->lazy ? "generator" : x.u.l->tuple ? "tuple" : "list";
    case TV_DICT: return "dict";
    case TV_MACRO: return "Macro";
    case TV_NS: return "Namespace";
    case TV_LOOP: return "LoopContext";
    default: return "builtin_function_or_method";
    }
}

const char *inf__tv_type_name(tv x) {
    switch (x.t) {
    case TV_NONE: return "None";
    case TV_BOOL: return "bool object";
    case TV_INT: return "int object";
    case TV_FLOAT: return "float object";
    case TV_STR: return "str object";
    case TV_LIST: return x.u.l->lazy ? "generator object" : x.u.l->tuple ? "tuple object" : "list object";
    case TV_DICT: return "dict object";
    case TV_MACRO: return "Macro object";
    case TV_NS: return "Namespace object";
    case TV_LOOP: return "LoopContext object";
    case TV_UNDEF: return "Undefined";
    default: return "builtin_function_or_method object";
    }
}

static int cmp_rec(tctx *c, tv a, tv b, int depth);
int inf__tv_cmp(tctx *c, tv a, tv b) { return cmp_rec(c, a, b, 0); }

static int cmp_rec(tctx *c, tv a, tv b, int depth) {
    if (depth > MAX_NEST) inf__tc_fail(c, INF_E_LIMIT, "values nested too deeply to compare");
    if (is_num(a) && is_num(b)) {
        if (a.t == TV_FLOAT || b.t == TV_FLOAT) {
            double x = num(a), y = num(b);
            return x < y ? -1 : x > y ? 1 : 0;
        }
        long long x = inum(a), y = inum(b);
        return x < y ? -1 : x > y ? 1 : 0;
    }
    if (a.t == TV_STR && b.t == TV_STR) {
        size_t n = a.u.s.n < b.u.s.n ? a.u.s.n : b.u.s.n;
        int r = n ? memcmp(a.u.s.p, b.u.s.p, n) : 0;
        if (r) return r < 0 ? -1 : 1;
        return a.u.s.n < b.u.s.n ? -1 : a.u.s.n > b.u.s.n ? 1 : 0;
    }
    if (a.t == TV_LIST && b.t == TV_LIST && a.u.l->tuple == b.u.l->tuple) {
        size_t n = a.u.l->n < b.u.l->n ? a.u.l->n : b.u.l->n;
        for (size_t i = 0; i < n; i++) {
            if (inf__tv_eq(a.u.l->v[i], b.u.l->v[i])) continue;
            return cmp_rec(c, a.u.l->v[i], b.u.l->v[i], depth + 1);
        }
        return a.u.l->n < b.u.l->n ? -1 : a.u.l->n > b.u.l->n ? 1 : 0;
    }
    inf__tc_fail(c, INF_E_TEMPLATE, "'<' not supported between instances of '%s' and '%s'", py_type(a), py_type(b));
}

/* ---- numbers ---------------------------------------------------------- */

void inf__tv_float_repr(tbuf *b, double f) {
    if (isnan(f)) { inf__tb_puts(b, "nan"); return; }
    if (isinf(f)) { inf__tb_puts(b, f < 0 ? "-inf" : "inf"); return; }
    char tmp[64];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, f);
        if (strtod(tmp, NULL) == f) break;
    }
    if (prec > 17) prec = 17;
    snprintf(tmp, sizeof tmp, "%.*e", prec - 1, f);
    /* tmp: [-]d.ddde[+-]XX -> digits and decimal exponent */
    const char *s = tmp;
    int neg = 0;
    if (*s == '-') { neg = 1; s++; }
    char dig[32];
    int nd = 0;
    while (*s && *s != 'e') {
        if (*s != '.') dig[nd++] = *s;
        s++;
    }
    int e10 = atoi(s + 1);
    while (nd > 1 && dig[nd - 1] == '0') nd--;
    if (neg) inf__tb_putc(b, '-');
    if (e10 >= -5 + 1 && e10 < 16) {
        if (e10 >= 0) {
            for (int i = 0; i <= e10; i++) inf__tb_putc(b, i < nd ? dig[i] : '0');
            inf__tb_putc(b, '.');
            if (nd > e10 + 1) inf__tb_put(b, dig + e10 + 1, (size_t)(nd - e10 - 1));
            else inf__tb_putc(b, '0');
        } else {
            inf__tb_puts(b, "0.");
            for (int i = 0; i < -e10 - 1; i++) inf__tb_putc(b, '0');
            inf__tb_put(b, dig, (size_t)nd);
        }
    } else {
        inf__tb_putc(b, dig[0]);
        if (nd > 1) {
            inf__tb_putc(b, '.');
            inf__tb_put(b, dig + 1, (size_t)(nd - 1));
        }
        inf__tb_printf(b, "e%c%02d", e10 < 0 ? '-' : '+', e10 < 0 ? -e10 : e10);
    }
}

/* ---- UTF-8 ------------------------------------------------------------ */

size_t inf__utf8_len(const char *p, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)p[i] & 0xC0) != 0x80) k++;
    return k;
}

size_t inf__utf8_offset(const char *p, size_t n, size_t i) {
    size_t k = 0;
    for (size_t j = 0; j < n; j++) {
        if (((unsigned char)p[j] & 0xC0) != 0x80) {
            if (k == i) return j;
            k++;
        }
    }
    return n;
}

/* ---- str / repr -------------------------------------------------------- */

static void repr_str(tbuf *b, tstr s) {
    int has_sq = memchr(s.p, '\'', s.n) != NULL, has_dq = memchr(s.p, '"', s.n) != NULL;
    char q = (has_sq && !has_dq) ? '"' : '\'';
    inf__tb_putc(b, q);
    size_t i = 0;
    while (i < s.n) {
        unsigned char ch = (unsigned char)s.p[i];
        if (ch < 0x80) {
            if (ch == (unsigned char)q || ch == '\\') { inf__tb_putc(b, '\\'); inf__tb_putc(b, (char)ch); }
            else if (ch == '\n') inf__tb_puts(b, "\\n");
            else if (ch == '\r') inf__tb_puts(b, "\\r");
            else if (ch == '\t') inf__tb_puts(b, "\\t");
            else if (ch < 0x20 || ch == 0x7f) inf__tb_printf(b, "\\x%02x", ch);
            else inf__tb_putc(b, (char)ch);
            i++;
            continue;
        }
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s.p + i, (utf8proc_ssize_t)(s.n - i), &cp);
        if (k <= 0) { inf__tb_printf(b, "\\x%02x", ch); i++; continue; }
        utf8proc_category_t cat = utf8proc_category(cp);
        int printable = !(cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_CS ||
                          cat == UTF8PROC_CATEGORY_CO || cat == UTF8PROC_CATEGORY_CN || cat == UTF8PROC_CATEGORY_ZL ||
                          cat == UTF8PROC_CATEGORY_ZP || cat == UTF8PROC_CATEGORY_ZS);
        if (printable) inf__tb_put(b, s.p + i, (size_t)k);
        else if (cp < 0x100) inf__tb_printf(b, "\\x%02x", (unsigned)cp);
        else if (cp < 0x10000) inf__tb_printf(b, "\\u%04x", (unsigned)cp);
        else inf__tb_printf(b, "\\U%08x", (unsigned)cp);
        i += (size_t)k;
    }
    inf__tb_putc(b, q);
}

static void str_rec(tbuf *b, tv x, int depth);

static void repr_rec(tbuf *b, tv x, int depth) {
    if (x.t == TV_STR) repr_str(b, x.u.s);
    else if (x.t == TV_UNDEF) inf__tb_puts(b, "Undefined");
    else str_rec(b, x, depth);
}

void inf__tv_repr(tbuf *b, tv x) { repr_rec(b, x, 0); }
void inf__tv_str(tbuf *b, tv x) { str_rec(b, x, 0); }

static void str_rec(tbuf *b, tv x, int depth) {
    if (depth > MAX_NEST) inf__tc_fail(b->c, INF_E_LIMIT, "value nested too deeply to print");
    switch (x.t) {
    case TV_UNDEF: return;
    case TV_NONE: inf__tb_puts(b, "None"); return;
    case TV_BOOL: inf__tb_puts(b, x.u.b ? "True" : "False"); return;
    case TV_INT: inf__tb_printf(b, "%lld", x.u.i); return;
    case TV_FLOAT: inf__tv_float_repr(b, x.u.f); return;
    case TV_STR: inf__tb_put(b, x.u.s.p, x.u.s.n); return;
    case TV_LIST: {
        tlist *l = x.u.l;
        if (l->lazy) { inf__tb_puts(b, "<generator object>"); return; }
        inf__tb_putc(b, l->tuple ? '(' : '[');
        for (size_t i = 0; i < l->n; i++) {
            if (i) inf__tb_puts(b, ", ");
            repr_rec(b, l->v[i], depth + 1);
        }
        if (l->tuple && l->n == 1) inf__tb_putc(b, ',');
        inf__tb_putc(b, l->tuple ? ')' : ']');
        return;
    }
    case TV_DICT: case TV_NS: {
        tdict *d = x.u.d;
        if (x.t == TV_NS) inf__tb_puts(b, "<Namespace ");
        inf__tb_putc(b, '{');
        for (size_t i = 0; i < d->n; i++) {
            if (i) inf__tb_puts(b, ", ");
            repr_rec(b, d->k[i], depth + 1);
            inf__tb_puts(b, ": ");
            repr_rec(b, d->v[i], depth + 1);
        }
        inf__tb_putc(b, '}');
        if (x.t == TV_NS) inf__tb_putc(b, '>');
        return;
    }
    case TV_MACRO:
        inf__tb_printf(b, "<Macro '%.*s'>", (int)x.u.m->def->name.n, x.u.m->def->name.p);
        return;
    case TV_LOOP:
        inf__tb_printf(b, "<LoopContext %zu/%zu>", x.u.lp->index0 + 1, x.u.lp->items->n);
        return;
    default:
        inf__tb_puts(b, "<built-in function>");
        return;
    }
}

tstr inf__tv_to_tstr(tctx *c, tv x) {
    if (x.t == TV_STR) return x.u.s;
    tbuf b;
    inf__tb_init(&b, c, 0);
    inf__tv_str(&b, x);
    return (tstr){b.p ? b.p : "", b.n};
}

/* ---- tojson ----------------------------------------------------------- */

static void json_str(tbuf *b, tstr s, int ensure_ascii) {
    inf__tb_putc(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < s.n; i++) {
        unsigned char ch = (unsigned char)s.p[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\' && !(ensure_ascii && ch >= 0x7f)) continue; /* ensure_ascii escapes DEL too */
        inf__tb_put(b, s.p + run, i - run);
        if (ch >= 0x80) { /* ensure_ascii: \uXXXX, surrogate pairs above the BMP */
            int32_t cp;
            size_t k = inf__ts_next(s.p, s.n, i, &cp);
            if (cp >= 0x10000) {
                cp -= 0x10000;
                inf__tb_printf(b, "\\u%04x\\u%04x", 0xD800 + ((unsigned)cp >> 10), 0xDC00 + ((unsigned)cp & 0x3FF));
            } else inf__tb_printf(b, "\\u%04x", (unsigned)cp);
            i += k - 1;
            run = i + 1;
            continue;
        }
        run = i + 1;
        switch (ch) {
        case '"': inf__tb_puts(b, "\\\""); break;
        case '\\': inf__tb_puts(b, "\\\\"); break;
        case '\n': inf__tb_puts(b, "\\n"); break;
        case '\r': inf__tb_puts(b, "\\r"); break;
        case '\t': inf__tb_puts(b, "\\t"); break;
        case '\b': inf__tb_puts(b, "\\b"); break;
        case '\f': inf__tb_puts(b, "\\f"); break;
        default: inf__tb_printf(b, "\\u%04x", ch); break;
        }
    }
    inf__tb_put(b, s.p + run, s.n - run);
    inf__tb_putc(b, '"');
}

static void json_nl(tbuf *b, const char *indent, int level) {
    inf__tb_putc(b, '\n');
    for (int i = 0; i < level; i++) inf__tb_puts(b, indent);
}

static void tojson_rec(tbuf *b, tv x, const tjson_opts *o, int level) {
    if (level > MAX_NEST) inf__tc_fail(b->c, INF_E_LIMIT, "tojson: value nested too deeply");
    const char *indent = o->indent;
    const char *isep = o->item_sep ? o->item_sep : indent ? "," : ", ";
    const char *ksep = o->key_sep ? o->key_sep : ": ";
    switch (x.t) {
    case TV_NONE: inf__tb_puts(b, "null"); return;
    case TV_BOOL: inf__tb_puts(b, x.u.b ? "true" : "false"); return;
    case TV_INT: inf__tb_printf(b, "%lld", x.u.i); return;
    case TV_FLOAT:
        if (isnan(x.u.f)) inf__tb_puts(b, "NaN");
        else if (isinf(x.u.f)) inf__tb_puts(b, x.u.f < 0 ? "-Infinity" : "Infinity");
        else inf__tv_float_repr(b, x.u.f);
        return;
    case TV_STR: json_str(b, x.u.s, o->ensure_ascii); return;
    case TV_LIST: {
        tlist *l = x.u.l;
        if (l->lazy) inf__tc_fail(b->c, INF_E_TEMPLATE, "Object of type generator is not JSON serializable");
        if (l->n == 0) { inf__tb_puts(b, "[]"); return; }
        inf__tb_putc(b, '[');
        for (size_t i = 0; i < l->n; i++) {
            if (i) inf__tb_puts(b, isep);
            if (indent) json_nl(b, indent, level + 1);
            tojson_rec(b, l->v[i], o, level + 1);
        }
        if (indent) json_nl(b, indent, level);
        inf__tb_putc(b, ']');
        return;
    }
    case TV_DICT: {
        tdict *d = x.u.d;
        if (d->n == 0) { inf__tb_puts(b, "{}"); return; }
        size_t *ord = inf__tc_alloc(b->c, d->n * sizeof *ord);
        for (size_t i = 0; i < d->n; i++) ord[i] = i;
        if (o->sort_keys) { /* insertion sort: small dicts, stable */
            for (size_t i = 1; i < d->n; i++) {
                size_t k = ord[i], j = i;
                while (j > 0 && inf__tv_cmp(b->c, d->k[ord[j - 1]], d->k[k]) > 0) { ord[j] = ord[j - 1]; j--; }
                ord[j] = k;
            }
        }
        inf__tb_putc(b, '{');
        for (size_t i = 0; i < d->n; i++) {
            tv k = d->k[ord[i]];
            if (i) inf__tb_puts(b, isep);
            if (indent) json_nl(b, indent, level + 1);
            /* json.dumps turns int/float/bool/None keys into strings */
            if (k.t == TV_STR) json_str(b, k.u.s, o->ensure_ascii);
            else if (k.t == TV_NONE) inf__tb_puts(b, "\"null\"");
            else if (k.t == TV_BOOL) inf__tb_puts(b, k.u.b ? "\"true\"" : "\"false\"");
            else if (k.t == TV_INT || k.t == TV_FLOAT) { inf__tb_putc(b, '"'); tojson_rec(b, k, o, level); inf__tb_putc(b, '"'); }
            else inf__tc_fail(b->c, INF_E_TEMPLATE, "keys must be str, int, float, bool or None, not %s", py_type(k));
            inf__tb_puts(b, ksep);
            tojson_rec(b, d->v[ord[i]], o, level + 1);
        }
        if (indent) json_nl(b, indent, level);
        inf__tb_putc(b, '}');
        return;
    }
    default:
        inf__tc_fail(b->c, INF_E_TEMPLATE, "Object of type %s is not JSON serializable", py_type(x));
    }
}

void inf__tv_tojson(tbuf *b, tv x, const tjson_opts *o) {
    tojson_rec(b, x, o, 0);
}

/* ---- JSON import -------------------------------------------------------- */

tv inf__tv_from_json(tctx *c, const void *jv, int depth) {
    const json_t *j = jv;
    if (depth > 200) inf__tc_fail(c, INF_E_LIMIT, "JSON input nested too deeply");
    switch (json_typeof(j)) {
    case JSON_NULL: return tv_none();
    case JSON_TRUE: return tv_bool(1);
    case JSON_FALSE: return tv_bool(0);
    case JSON_INTEGER: return tv_int((long long)json_integer_value(j));
    case JSON_REAL: return tv_float(json_real_value(j));
    case JSON_STRING: {
        size_t n = json_string_length(j);
        return tv_strn(inf__tc_strdup(c, json_string_value(j), n), n);
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        tlist *l = inf__tv_list_new(c, n);
        for (size_t i = 0; i < n; i++) l->v[l->n++] = inf__tv_from_json(c, json_array_get(j, i), depth + 1);
        return tv_list(l);
    }
    case JSON_OBJECT: {
        tdict *d = inf__tv_dict_new(c, json_object_size(j));
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v) {
            size_t kn = strlen(k);
            dict_append(c, d, tv_strn(inf__tc_strdup(c, k, kn), kn), inf__tv_from_json(c, v, depth + 1));
        }
        return tv_dict(d);
    }
    }
    return tv_none();
}
