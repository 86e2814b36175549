/* Jinja filters and tests.  Semantics follow Jinja2's documentation; tojson
 * follows transformers' override (json.dumps, ensure_ascii=False, optional
 * indent and sort_keys, key order kept). */
#include "text/template/tmpl_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(r, ...) inf__tc_fail((r)->c, INF_E_TEMPLATE, __VA_ARGS__)

static tv S(tstr s) { return tv_strn(s.p, s.n); }
static int is_num(tv x) { return x.t == TV_BOOL || x.t == TV_INT || x.t == TV_FLOAT; }
static double fnum(tv x) { return x.t == TV_FLOAT ? x.u.f : x.t == TV_INT ? (double)x.u.i : (double)x.u.b; }

/* Jinja attribute getter: "a.b.0" walks attributes / items. */
static tv get_path(trender *r, tv x, tv attr, int line) {
    if (attr.t == TV_INT) return inf__teval_getitem(r, x, attr, line);
    tstr a = inf__tv_to_tstr(r->c, attr);
    size_t i = 0;
    while (i <= a.n) {
        size_t j = i;
        while (j < a.n && a.p[j] != '.') j++;
        tstr part = {a.p + i, j - i};
        int digits = part.n > 0;
        long long k = 0;
        for (size_t q = 0; q < part.n; q++) {
            if (part.p[q] < '0' || part.p[q] > '9') { digits = 0; break; }
            k = k * 10 + (part.p[q] - '0');
            if (k > 1000000000) { digits = 0; break; }
        }
        x = digits ? inf__teval_getitem(r, x, tv_int(k), line) : inf__teval_getitem(r, x, S(part), line);
        i = j + 1;
    }
    return x;
}

/* Case-insensitive key for sort/unique/min/max (Jinja's default). */
static tv fold(trender *r, tv x, int case_sensitive) {
    if (!case_sensitive && x.t == TV_STR) return S(inf__ts_case(r->c, x.u.s, TCASE_LOWER));
    return x;
}

static void sort_list(trender *r, tlist *l, tv *keys, int reverse) {
    /* stable insertion sort over index order; lists here are small and the
     * iteration budget bounds the work */
    size_t n = l->n;
    for (size_t i = 1; i < n; i++) {
        tv k = keys[i], v = l->v[i];
        size_t j = i;
        while (j > 0) {
            inf__teval_tick(r, 0);
            int c = inf__tv_cmp(r->c, keys[j - 1], k);
            if (reverse ? c >= 0 : c <= 0) break;
            keys[j] = keys[j - 1];
            l->v[j] = l->v[j - 1];
            j--;
        }
        keys[j] = k;
        l->v[j] = v;
    }
}

static tlist *copy_list(trender *r, tlist *src) {
    tlist *l = inf__tv_list_new(r->c, src->n);
    if (src->n) memcpy(l->v, src->v, src->n * sizeof(tv));
    l->n = src->n;
    return l;
}

static long long to_int(trender *r, tv x, long long dflt) {
    switch (x.t) {
    case TV_INT: return x.u.i;
    case TV_BOOL: return x.u.b;
    case TV_FLOAT:
        if (isnan(x.u.f) || fabs(x.u.f) > 9.2e18) return dflt;
        return (long long)x.u.f;
    case TV_STR: {
        char buf[64];
        tstr s = inf__ts_strip(x.u.s, NULL, 1, 1);
        if (s.n == 0 || s.n >= sizeof buf) return dflt;
        memcpy(buf, s.p, s.n);
        buf[s.n] = '\0';
        char *end;
        errno = 0;
        long long v = strtoll(buf, &end, 10);
        if (*end == '\0' && !errno) return v;
        double d = strtod(buf, &end); /* Jinja's int filter accepts "3.7" */
        if (*end == '\0' && !isnan(d) && fabs(d) < 9.2e18) return (long long)d;
        return dflt;
    }
    default: (void)r; return dflt;
    }
}

static tv lazy(tv v) {
    v.u.l->lazy = 1;
    return v;
}

static tv select_common(trender *r, tv in, tv *args, size_t n, int use_attr, int keep, int line) {
    tlist *out = inf__tv_list_new(r->c, 0);
    out->lazy = 1;
    if (!inf__tv_truthy(in)) return tv_list(out); /* Jinja2: `if value:` before iterating */
    tlist *src = inf__teval_iter(r, in, line);
    size_t k = 0;
    tv attr = tv_undef();
    if (use_attr) {
        if (n < 1) FAIL(r, "selectattr/rejectattr need an attribute");
        attr = args[k++];
    }
    for (size_t i = 0; i < src->n; i++) {
        inf__teval_tick(r, line);
        tv x = use_attr ? get_path(r, src->v[i], attr, line) : src->v[i];
        int t;
        if (k < n) {
            tstr tn = inf__tv_to_tstr(r->c, args[k]);
            t = inf__ttest(r, tn, x, args + k + 1, n - k - 1, line);
        } else t = inf__tv_truthy(x);
        if (t == keep) inf__tv_list_push(r->c, out, src->v[i]);
    }
    return tv_list(out);
}

tv inf__tfilter(trender *r, tstr name, tv in, tv *args, size_t n, tstr *kwn, tv *kwv, size_t nkw, int line) {
    tv a[6];
#define BIND(...) do { static const char *const p_[] = {__VA_ARGS__, NULL}; \
        inf__tbind(r, "filter", p_, args, n, kwn, kwv, nkw, a, line); } while (0)
#define IS(s) tstr_eq(name, s)
    if (IS("safe") || IS("string") || IS("e") || IS("escape") || IS("forceescape")) {
        if (IS("string") || IS("safe")) return in.t == TV_STR ? in : S(inf__tv_to_tstr(r->c, in));
        tstr s = inf__tv_to_tstr(r->c, in);
        tbuf b;
        inf__tb_init(&b, r->c, r->out_limit);
        for (size_t i = 0; i < s.n; i++) {
            switch (s.p[i]) {
            case '&': inf__tb_puts(&b, "&amp;"); break;
            case '<': inf__tb_puts(&b, "&lt;"); break;
            case '>': inf__tb_puts(&b, "&gt;"); break;
            case '"': inf__tb_puts(&b, "&#34;"); break;
            case '\'': inf__tb_puts(&b, "&#39;"); break;
            default: inf__tb_putc(&b, s.p[i]);
            }
        }
        return tv_strn(b.p ? b.p : "", b.n);
    }
    if (IS("trim")) {
        BIND("chars");
        tstr s = inf__tv_to_tstr(r->c, in);
        if (a[0].t == TV_STR) return S(inf__ts_strip(s, &a[0].u.s, 1, 1));
        return S(inf__ts_strip(s, NULL, 1, 1));
    }
    if (IS("tojson")) {
        BIND("indent", "ensure_ascii", "separators", "sort_keys");
        char ind[64];
        const char *indent = NULL;
        if (a[0].t == TV_INT) {
            long long k = a[0].u.i < 0 ? 0 : a[0].u.i > 32 ? 32 : a[0].u.i;
            memset(ind, ' ', (size_t)k);
            ind[k] = '\0';
            indent = ind;
        } else if (a[0].t == TV_STR) {
            size_t k = a[0].u.s.n < sizeof ind - 1 ? a[0].u.s.n : sizeof ind - 1;
            memcpy(ind, a[0].u.s.p, k);
            ind[k] = '\0';
            indent = ind;
        }
        tjson_opts o = {indent, NULL, NULL, inf__tv_truthy(a[3]), inf__tv_truthy(a[1])};
        if (a[2].t == TV_LIST && a[2].u.l->n == 2 && a[2].u.l->v[0].t == TV_STR && a[2].u.l->v[1].t == TV_STR) {
            o.item_sep = inf__tc_strdup(r->c, a[2].u.l->v[0].u.s.p, a[2].u.l->v[0].u.s.n);
            o.key_sep = inf__tc_strdup(r->c, a[2].u.l->v[1].u.s.p, a[2].u.l->v[1].u.s.n);
        } else if (a[2].t != TV_UNDEF && a[2].t != TV_NONE)
            FAIL(r, "tojson: separators must be a pair of strings");
        tbuf b;
        inf__tb_init(&b, r->c, r->out_limit);
        inf__tv_tojson(&b, in, &o);
        return tv_strn(b.p ? b.p : "", b.n);
    }
    if (IS("length") || IS("count")) {
        switch (in.t) {
        case TV_STR: return tv_int((long long)inf__utf8_len(in.u.s.p, in.u.s.n));
        case TV_LIST:
            if (in.u.l->lazy) FAIL(r, "object of type 'generator' has no len()");
            return tv_int((long long)in.u.l->n);
        case TV_DICT: case TV_NS: return tv_int((long long)in.u.d->n);
        case TV_UNDEF: return tv_int(0);
        default: FAIL(r, "object of type '%s' has no len()", inf__tv_type_name(in));
        }
    }
    if (IS("upper") || IS("lower") || IS("title") || IS("capitalize")) {
        int m = IS("upper") ? TCASE_UPPER : IS("lower") ? TCASE_LOWER : IS("title") ? TCASE_JTITLE : TCASE_CAPITALIZE;
        return S(inf__ts_case(r->c, inf__tv_to_tstr(r->c, in), m));
    }
    if (IS("default") || IS("d")) {
        BIND("default_value", "boolean");
        int use = in.t == TV_UNDEF || (inf__tv_truthy(a[1]) && !inf__tv_truthy(in));
        if (!use) return in;
        return a[0].t == TV_UNDEF ? tv_strn("", 0) : a[0];
    }
    if (IS("join")) {
        BIND("d", "attribute");
        tlist *l = inf__teval_iter(r, in, line);
        tstr sep = a[0].t == TV_UNDEF ? (tstr){"", 0} : inf__tv_to_tstr(r->c, a[0]);
        tbuf b;
        inf__tb_init(&b, r->c, r->out_limit);
        for (size_t i = 0; i < l->n; i++) {
            if (i) inf__tb_put(&b, sep.p, sep.n);
            inf__tv_str(&b, a[1].t == TV_UNDEF ? l->v[i] : get_path(r, l->v[i], a[1], line));
        }
        return tv_strn(b.p ? b.p : "", b.n);
    }
    if (IS("first") || IS("last")) {
        if (IS("last") && in.t == TV_LIST && in.u.l->lazy) FAIL(r, "'generator' object is not reversible");
        tlist *l = inf__teval_iter(r, in, line);
        if (!l->n) return tv_undef();
        return IS("first") ? l->v[0] : l->v[l->n - 1];
    }
    if (IS("list")) return tv_list(copy_list(r, inf__teval_iter(r, in, line)));
    if (IS("items")) {
        if (in.t == TV_UNDEF) return lazy(tv_list(inf__tv_list_new(r->c, 0)));
        if (in.t != TV_DICT) FAIL(r, "Can only get item pairs from a mapping.");
        return lazy(inf__tmethod(r, in, (tstr){"items", 5}, NULL, 0, NULL, NULL, 0, line));
    }
    if (IS("selectattr")) return select_common(r, in, args, n, 1, 1, line);
    if (IS("rejectattr")) return select_common(r, in, args, n, 1, 0, line);
    if (IS("select")) return select_common(r, in, args, n, 0, 1, line);
    if (IS("reject")) return select_common(r, in, args, n, 0, 0, line);
    if (IS("map")) {
        if (!inf__tv_truthy(in)) return lazy(tv_list(inf__tv_list_new(r->c, 0)));
        tlist *src = inf__teval_iter(r, in, line);
        tlist *out = inf__tv_list_new(r->c, src->n);
        out->lazy = 1;
        tv attr = tv_undef(), dflt = tv_undef();
        for (size_t k = 0; k < nkw; k++) {
            if (tstr_eq(kwn[k], "attribute")) attr = kwv[k];
            else if (tstr_eq(kwn[k], "default")) dflt = kwv[k];
        }
        if (attr.t == TV_UNDEF && n == 0) FAIL(r, "map requires a filter argument");
        for (size_t i = 0; i < src->n; i++) {
            inf__teval_tick(r, line);
            tv x;
            if (attr.t != TV_UNDEF) {
                x = get_path(r, src->v[i], attr, line);
                if (x.t == TV_UNDEF && dflt.t != TV_UNDEF) x = dflt;
            } else {
                tstr fname = inf__tv_to_tstr(r->c, args[0]);
                x = inf__tfilter(r, fname, src->v[i], args + 1, n - 1, kwn, kwv, nkw, line);
            }
            out->v[out->n++] = x;
        }
        return tv_list(out);
    }
    if (IS("replace")) {
        BIND("old", "new", "count");
        tstr s = inf__tv_to_tstr(r->c, in);
        long long cnt = a[2].t == TV_INT ? a[2].u.i : -1;
        return S(inf__ts_replace(r, s, inf__tv_to_tstr(r->c, a[0]), inf__tv_to_tstr(r->c, a[1]), cnt));
    }
    if ((IS("int") || IS("float")) && in.t == TV_UNDEF) /* int(Undefined) raises */
        FAIL(r, "%.*s", (int)(in.u.s.n ? in.u.s.n : 18), in.u.s.n ? in.u.s.p : "value is undefined");
    if (IS("int")) {
        BIND("default", "base");
        return tv_int(to_int(r, in, a[0].t == TV_INT ? a[0].u.i : 0));
    }
    if (IS("float")) {
        BIND("default");
        double d = a[0].t == TV_FLOAT ? a[0].u.f : a[0].t == TV_INT ? (double)a[0].u.i : 0.0;
        if (is_num(in)) return tv_float(fnum(in));
        if (in.t == TV_STR) {
            char buf[64];
            tstr s = inf__ts_strip(in.u.s, NULL, 1, 1);
            if (s.n && s.n < sizeof buf) {
                memcpy(buf, s.p, s.n);
                buf[s.n] = '\0';
                char *end;
                double v = strtod(buf, &end);
                if (*end == '\0') return tv_float(v);
            }
        }
        return tv_float(d);
    }
    if (IS("abs")) {
        if (in.t == TV_INT) {
            if (in.u.i == INT64_MIN) inf__tc_fail(r->c, INF_E_LIMIT, "integer overflow in template arithmetic");
            return tv_int(in.u.i < 0 ? -in.u.i : in.u.i);
        }
        if (in.t == TV_BOOL) return tv_int(in.u.b);
        if (in.t == TV_FLOAT) return tv_float(fabs(in.u.f));
        FAIL(r, "bad operand type for abs(): '%s'", inf__tv_type_name(in));
    }
    if (IS("round")) {
        BIND("precision", "method");
        if (!is_num(in)) FAIL(r, "round filter needs a number");
        if (in.t != TV_FLOAT && (a[1].t == TV_UNDEF || (a[1].t == TV_STR && tstr_eq(a[1].u.s, "common"))))
            return tv_int(in.t == TV_INT ? in.u.i : in.u.b); /* Python round(int) is the int */
        long long prec = a[0].t == TV_INT ? a[0].u.i : 0;
        if (prec > 15) prec = 15;
        if (prec < -15) prec = -15;
        double m = pow(10.0, (double)prec), v = fnum(in) * m;
        tstr meth = a[1].t == TV_STR ? a[1].u.s : (tstr){"common", 6};
        if (tstr_eq(meth, "common")) v = nearbyint(v); /* Python round(): half to even */
        else if (tstr_eq(meth, "ceil")) v = ceil(v);
        else if (tstr_eq(meth, "floor")) v = floor(v);
        else FAIL(r, "method must be common, ceil or floor");
        return tv_float(v / m);
    }
    if (IS("indent")) {
        BIND("width", "first", "blank");
        tstr ind;
        char sp[256];
        if (a[0].t == TV_STR) ind = a[0].u.s;
        else {
            long long w = a[0].t == TV_UNDEF ? 4 : to_int(r, a[0], 4);
            if (w < 0) w = 0;
            if (w > 255) w = 255;
            memset(sp, ' ', (size_t)w);
            ind = (tstr){sp, (size_t)w};
        }
        if (in.t != TV_STR) FAIL(r, "'%s' has no attribute 'splitlines'", inf__tv_type_name(in));
        tstr s = in.u.s;
        int first = inf__tv_truthy(a[1]), blank = inf__tv_truthy(a[2]);
        /* Jinja2: lines = (s + "\n").splitlines(); the first line as is, the
         * others indented (empty ones only with blank), joined by "\n" */
        tbuf b;
        inf__tb_init(&b, r->c, r->out_limit);
        if (first) inf__tb_put(&b, ind.p, ind.n);
        size_t i = 0, lineno = 0;
        for (;;) {
            size_t j = i, lb = 0;
            while (j < s.n && !(lb = inf__ts_linebreak(s.p, s.n, j))) j++;
            if (lineno > 0) {
                inf__tb_putc(&b, '\n');
                if (blank || j > i) inf__tb_put(&b, ind.p, ind.n);
            }
            inf__tb_put(&b, s.p + i, j - i);
            lineno++;
            if (j >= s.n) break; /* the appended "\n" ends this last line */
            i = j + lb;
        }
        return tv_strn(b.p ? b.p : "", b.n);
    }
    if (IS("reverse")) {
        if (in.t == TV_STR) {
            tlist *cps = inf__teval_iter(r, in, line);
            tbuf b;
            inf__tb_init(&b, r->c, 0);
            for (size_t i = cps->n; i > 0; i--) inf__tb_put(&b, cps->v[i - 1].u.s.p, cps->v[i - 1].u.s.n);
            return tv_strn(b.p ? b.p : "", b.n);
        }
        tlist *l = inf__teval_iter(r, in, line);
        tlist *o = inf__tv_list_new(r->c, l->n);
        for (size_t i = l->n; i > 0; i--) o->v[o->n++] = l->v[i - 1];
        /* Jinja2 returns reversed(value), an iterator (a list only for
         * values that cannot be reversed in place, e.g. generators) */
        o->lazy = !(in.t == TV_LIST && in.u.l->lazy);
        return tv_list(o);
    }
    if (IS("sort") || IS("unique") || IS("min") || IS("max")) {
        int is_sort = IS("sort");
        if (is_sort) BIND("reverse", "case_sensitive", "attribute");
        else { BIND("case_sensitive", "attribute"); a[2] = a[1]; a[1] = a[0]; a[0] = tv_bool(0); }
        /* unique is a generator in Jinja2: a non-iterable input only fails
         * when consumed; keep the common uses (truth test, printing) alike */
        if (IS("unique") && in.t != TV_LIST && in.t != TV_STR && in.t != TV_DICT && in.t != TV_UNDEF)
            return lazy(tv_list(inf__tv_list_new(r->c, 0)));
        tlist *l = copy_list(r, inf__teval_iter(r, in, line));
        int cs = inf__tv_truthy(a[1]);
        tv *keys = inf__tc_alloc(r->c, (l->n + 1) * sizeof(tv));
        for (size_t i = 0; i < l->n; i++) keys[i] = fold(r, a[2].t == TV_UNDEF ? l->v[i] : get_path(r, l->v[i], a[2], line), cs);
        if (IS("unique")) {
            tlist *o = inf__tv_list_new(r->c, 0);
            tlist *seen = inf__tv_list_new(r->c, 0);
            for (size_t i = 0; i < l->n; i++) {
                int dup = 0;
                for (size_t k = 0; k < seen->n && !dup; k++) { inf__teval_tick(r, line); dup = inf__tv_eq(seen->v[k], keys[i]); }
                if (!dup) { inf__tv_list_push(r->c, seen, keys[i]); inf__tv_list_push(r->c, o, l->v[i]); }
            }
            return lazy(tv_list(o));
        }
        if (!is_sort) {
            if (!l->n) return tv_undef();
            size_t best = 0;
            for (size_t i = 1; i < l->n; i++) {
                int c = inf__tv_cmp(r->c, keys[i], keys[best]);
                if (IS("min") ? c < 0 : c > 0) best = i;
            }
            return l->v[best];
        }
        sort_list(r, l, keys, inf__tv_truthy(a[0]));
        return tv_list(l);
    }
    if (IS("dictsort")) {
        BIND("case_sensitive", "by", "reverse");
        if (in.t != TV_DICT) FAIL(r, "dictsort needs a mapping");
        tv items = inf__tmethod(r, in, (tstr){"items", 5}, NULL, 0, NULL, NULL, 0, line);
        tlist *l = items.u.l;
        int by_value = a[1].t == TV_STR && tstr_eq(a[1].u.s, "value");
        tv *keys = inf__tc_alloc(r->c, (l->n + 1) * sizeof(tv));
        for (size_t i = 0; i < l->n; i++) keys[i] = fold(r, l->v[i].u.l->v[by_value ? 1 : 0], inf__tv_truthy(a[0]));
        sort_list(r, l, keys, inf__tv_truthy(a[2]));
        return items;
    }
    if (IS("sum")) {
        BIND("attribute", "start");
        tlist *l = inf__teval_iter(r, in, line);
        tv acc = a[1].t == TV_UNDEF ? tv_int(0) : a[1];
        for (size_t i = 0; i < l->n; i++) {
            tv x = a[0].t == TV_UNDEF ? l->v[i] : get_path(r, l->v[i], a[0], line);
            if (!is_num(x) || !is_num(acc)) FAIL(r, "sum filter needs numbers");
            if (acc.t != TV_FLOAT && x.t != TV_FLOAT) {
                long long z;
                long long xa = acc.t == TV_INT ? acc.u.i : acc.u.b, xb = x.t == TV_INT ? x.u.i : x.u.b;
                if (__builtin_add_overflow(xa, xb, &z)) inf__tc_fail(r->c, INF_E_LIMIT, "integer overflow in template arithmetic");
                acc = tv_int(z);
            } else acc = tv_float(fnum(acc) + fnum(x));
        }
        return acc;
    }
    if (IS("batch")) {
        BIND("linecount", "fill_with");
        if (a[0].t != TV_INT || a[0].u.i <= 0) FAIL(r, "batch needs a positive line count");
        tlist *src = inf__teval_iter(r, in, line);
        tlist *out = inf__tv_list_new(r->c, 0);
        out->lazy = 1;
        size_t per = (size_t)a[0].u.i;
        for (size_t i = 0; i < src->n; i += per) {
            tlist *row = inf__tv_list_new(r->c, 0);
            for (size_t k = 0; k < per; k++) {
                inf__teval_tick(r, line);
                if (i + k < src->n) inf__tv_list_push(r->c, row, src->v[i + k]);
                else if (a[1].t != TV_UNDEF) inf__tv_list_push(r->c, row, a[1]);
                else break;
            }
            inf__tv_list_push(r->c, out, tv_list(row));
        }
        return tv_list(out);
    }
    if (IS("attr")) {
        if (n != 1) FAIL(r, "attr filter needs one argument");
        return inf__teval_getattr(r, in, inf__tv_to_tstr(r->c, args[0]), line);
    }
    if (IS("format")) {
        tlist *t = inf__tv_list_new(r->c, n);
        t->tuple = 1;
        for (size_t i = 0; i < n; i++) t->v[t->n++] = args[i];
        /* "fmt"|format(a, b) == "fmt" % (a, b) */
        tv fmt = S(inf__tv_to_tstr(r->c, in));
        return inf__teval_binop_mod(r, fmt, tv_list(t), line);
    }
    if (IS("wordcount")) return tv_int((long long)inf__ts_wordcount(inf__tv_to_tstr(r->c, in)));
    if (IS("center")) {
        BIND("width");
        tstr s = inf__tv_to_tstr(r->c, in);
        long long w = a[0].t == TV_INT ? a[0].u.i : 80;
        long long len = (long long)inf__utf8_len(s.p, s.n);
        if (w > 4096) w = 4096;
        if (w <= len) return S(s);
        long long pad = w - len, left = pad / 2 + (pad & w & 1);
        tbuf b;
        inf__tb_init(&b, r->c, 0);
        for (long long i = 0; i < left; i++) inf__tb_putc(&b, ' ');
        inf__tb_put(&b, s.p, s.n);
        for (long long i = 0; i < pad - left; i++) inf__tb_putc(&b, ' ');
        return tv_strn(b.p, b.n);
    }
    FAIL(r, "No filter named '%.*s'.", (int)(name.n > 60 ? 60 : name.n), name.p);
#undef BIND
#undef IS
}

int inf__ttest(trender *r, tstr name, tv in, tv *args, size_t n, int line) {
#define IS(s) tstr_eq(name, s)
#define ARG() (n >= 1 ? args[0] : (FAIL(r, "test '%.*s' needs an argument", (int)name.n, name.p), tv_undef()))
    (void)line;
    if (IS("defined")) return in.t != TV_UNDEF;
    if (IS("undefined")) return in.t == TV_UNDEF;
    if (IS("none")) return in.t == TV_NONE;
    if (IS("string")) return in.t == TV_STR;
    if (IS("mapping")) return in.t == TV_DICT;
    if (IS("iterable")) return in.t == TV_STR || in.t == TV_LIST || in.t == TV_DICT || in.t == TV_UNDEF;
    /* Jinja2: len() and __getitem__ exist (Undefined has both) */
    if (IS("sequence")) return in.t == TV_STR || (in.t == TV_LIST && !in.u.l->lazy) || in.t == TV_DICT || in.t == TV_UNDEF;
    if (IS("number")) return in.t == TV_INT || in.t == TV_FLOAT || in.t == TV_BOOL;
    if (IS("integer")) return in.t == TV_INT;
    if (IS("float")) return in.t == TV_FLOAT;
    if (IS("boolean")) return in.t == TV_BOOL;
    if (IS("true")) return in.t == TV_BOOL && in.u.b;
    if (IS("false")) return in.t == TV_BOOL && !in.u.b;
    /* Jinja2's Undefined has __call__ (it raises), so callable() says yes */
    if (IS("callable")) return in.t == TV_MACRO || in.t == TV_BUILTIN || in.t == TV_BOUND || in.t == TV_UNDEF;
    if (IS("odd") || IS("even") || IS("divisibleby")) {
        /* value % 2 == 1, value % 2 == 0, value % num == 0, with Python's
         * % (so floats work and strings format) */
        tv d = IS("divisibleby") ? ARG() : tv_int(2);
        tv m = inf__teval_binop_mod(r, in, d, line);
        return inf__tv_eq(m, tv_int(IS("odd") ? 1 : 0));
    }
    if (IS("eq") || IS("equalto") || IS("==")) return inf__tv_eq(in, ARG());
    if (IS("ne") || IS("!=")) return !inf__tv_eq(in, ARG());
    if (IS("lt") || IS("lessthan") || IS("<")) return inf__tv_cmp(r->c, in, ARG()) < 0;
    if (IS("le") || IS("<=")) return inf__tv_cmp(r->c, in, ARG()) <= 0;
    if (IS("gt") || IS("greaterthan") || IS(">")) return inf__tv_cmp(r->c, in, ARG()) > 0;
    if (IS("ge") || IS(">=")) return inf__tv_cmp(r->c, in, ARG()) >= 0;
    if (IS("in")) {
        tv hay = ARG();
        if (hay.t == TV_STR) {
            if (in.t != TV_STR) FAIL(r, "'in <string>' requires string as left operand");
            return in.u.s.n == 0 || memmem(hay.u.s.p, hay.u.s.n, in.u.s.p, in.u.s.n) != NULL;
        }
        if (hay.t == TV_LIST) {
            for (size_t i = 0; i < hay.u.l->n; i++) if (inf__tv_eq(hay.u.l->v[i], in)) return 1;
            return 0;
        }
        if (hay.t == TV_DICT) return inf__tv_dict_find(hay.u.d, in) != NULL;
        FAIL(r, "argument of type '%s' is not iterable", inf__tv_type_name(hay));
    }
    if (IS("sameas")) {
        tv o = ARG();
        if (in.t != o.t) return 0;
        if (in.t == TV_NONE || in.t == TV_UNDEF) return 1;
        if (in.t == TV_BOOL) return in.u.b == o.u.b;
        if (in.t == TV_INT) return in.u.i == o.u.i;
        return inf__tv_eq(in, o) && (in.t != TV_LIST || in.u.l == o.u.l) && (in.t != TV_DICT || in.u.d == o.u.d);
    }
    if (IS("lower") || IS("upper")) { /* str(value).islower() / .isupper() */
        tv s = S(inf__tv_to_tstr(r->c, in));
        return inf__tv_truthy(inf__tmethod(r, s, IS("lower") ? (tstr){"islower", 7} : (tstr){"isupper", 7}, NULL, 0,
                                           NULL, NULL, 0, line));
    }
    if (IS("escaped")) return 0;
    FAIL(r, "No test named '%.*s'.", (int)(name.n > 60 ? 60 : name.n), name.p);
#undef IS
#undef ARG
}
