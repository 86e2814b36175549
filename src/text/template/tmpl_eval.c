/* Evaluator: executes the AST against a scope chain.
 *
 * Scoping follows Jinja: a for-loop iteration and a macro call get a fresh
 * frame (assignments inside do not leak out, which is why templates use
 * namespace()), if-blocks do not.  Every expression/statement level counts
 * against depth_limit, every loop iteration against iter_limit, and output
 * against out_limit, so any template terminates with bounded memory. */
#include "text/template/tmpl_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define FAIL(r, line, ...) ((void)(line), inf__tc_fail((r)->c, INF_E_TEMPLATE, __VA_ARGS__))

static void exec_node(trender *r, tnode *n);

static tframe *frame_new(trender *r, tframe *parent) {
    tframe *f = inf__tc_alloc(r->c, sizeof *f);
    f->parent = parent;
    f->vars = inf__tv_dict_new(r->c, 0);
    return f;
}

static void set_var(trender *r, tframe *f, tstr name, tv v) {
    inf__tv_dict_set(r->c, f->vars, tv_strn(name.p, name.n), v);
}

static tv undef_msg(trender *r, const char *fmt, const char *a, tstr b) {
    tbuf m;
    inf__tb_init(&m, r->c, 0);
    inf__tb_printf(&m, fmt, a, (int)(b.n > 200 ? 200 : b.n), b.p);
    tv u = tv_undef();
    u.u.s = (tstr){m.p, m.n};
    return u;
}

static _Noreturn void undefined_error(trender *r, tv u) {
    if (u.u.s.n) inf__tc_fail(r->c, INF_E_TEMPLATE, "%.*s", (int)u.u.s.n, u.u.s.p);
    inf__tc_fail(r->c, INF_E_TEMPLATE, "value is undefined");
}

static tv builtin(int fn) { tv v; v.t = TV_BUILTIN; v.u.fn = fn; return v; }

static tv lookup(trender *r, tstr name) {
    for (tframe *f = r->scope; f; f = f->parent) {
        tv *v = inf__tv_dict_find_str(f->vars, name.p, name.n);
        if (v) return *v;
    }
    if (tstr_eq(name, "range")) return builtin(BI_RANGE);
    if (tstr_eq(name, "namespace")) return builtin(BI_NAMESPACE);
    if (tstr_eq(name, "dict")) return builtin(BI_DICT);
    if (tstr_eq(name, "raise_exception")) return builtin(BI_RAISE);
    if (tstr_eq(name, "strftime_now")) return builtin(BI_STRFTIME);
    return undef_msg(r, "'%s%.*s' is undefined", "", name);
}

void inf__teval_tick(trender *r, int line) {
    (void)line;
    if (++r->iters > r->iter_limit)
        inf__tc_fail(r->c, INF_E_LIMIT, "template loop iteration limit (%zu) exceeded", r->iter_limit);
}

static void enter(trender *r, int line) {
    if (++r->depth > r->depth_limit)
        inf__tc_fail(r->c, INF_E_LIMIT, "template recursion depth limit (%d) exceeded at line %d", r->depth_limit, line);
}

/* ---- access ------------------------------------------------------------- */

static tv bound(trender *r, tv self, tstr name) {
    tbound *b = inf__tc_alloc(r->c, sizeof *b);
    b->self = self;
    b->name = name;
    tv v;
    v.t = TV_BOUND;
    v.u.bm = b;
    return v;
}

static int is_mutator(tstr n) {
    static const char *const m[] = {"append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse",
                                    "update", "setdefault", "popitem", "add", "discard", NULL};
    for (int i = 0; m[i]; i++) if (tstr_eq(n, m[i])) return 1;
    return 0;
}

static tv loop_attr(trender *r, tv lv, tstr name) {
    tloop *lp = lv.u.lp;
    size_t n = lp->items->n, i = lp->index0;
    if (tstr_eq(name, "index")) return tv_int((long long)i + 1);
    if (tstr_eq(name, "index0")) return tv_int((long long)i);
    if (tstr_eq(name, "revindex")) return tv_int((long long)(n - i));
    if (tstr_eq(name, "revindex0")) return tv_int((long long)(n - i - 1));
    if (tstr_eq(name, "first")) return tv_bool(i == 0);
    if (tstr_eq(name, "last")) return tv_bool(i + 1 == n);
    if (tstr_eq(name, "length")) return tv_int((long long)n);
    if (tstr_eq(name, "depth")) return tv_int(lp->depth0 + 1);
    if (tstr_eq(name, "depth0")) return tv_int(lp->depth0);
    if (tstr_eq(name, "previtem")) return i > 0 ? lp->items->v[i - 1] : undef_msg(r, "%s%.*s", "there is no previous item", (tstr){"", 0});
    if (tstr_eq(name, "nextitem")) return i + 1 < n ? lp->items->v[i + 1] : undef_msg(r, "%s%.*s", "there is no next item", (tstr){"", 0});
    if (tstr_eq(name, "cycle")) return bound(r, lv, name);
    return undef_msg(r, "'%s' has no attribute '%.*s'", "LoopContext object", name);
}

tv inf__teval_getattr(trender *r, tv obj, tstr name, int line) {
    switch (obj.t) {
    case TV_UNDEF: undefined_error(r, obj);
    case TV_DICT: case TV_STR: case TV_LIST:
        if (name.n && name.p[0] == '_') break;
        if (inf__tmethod_exists(obj, name)) return bound(r, obj, name);
        if ((obj.t == TV_LIST || obj.t == TV_DICT) && is_mutator(name))
            FAIL(r, line, "access to attribute '%.*s' of '%s' object is unsafe.", (int)name.n, name.p,
                 obj.t == TV_LIST ? "list" : "dict");
        if (obj.t == TV_DICT) {
            tv *v = inf__tv_dict_find_str(obj.u.d, name.p, name.n);
            if (v) return *v;
        }
        break;
    case TV_NS: {
        tv *v = inf__tv_dict_find_str(obj.u.d, name.p, name.n);
        if (v) return *v;
        break;
    }
    case TV_LOOP: return loop_attr(r, obj, name);
    default: break;
    }
    return undef_msg(r, "'%s' has no attribute '%.*s'", inf__tv_type_name(obj), name);
}

/* Python index normalisation: -1 is the last; returns -1 when out of range. */
static long long norm_index(long long i, size_t n) {
    if (i < 0) i += (long long)n;
    return (i < 0 || i >= (long long)n) ? -1 : i;
}

tv inf__teval_getitem(trender *r, tv obj, tv key, int line) {
    switch (obj.t) {
    case TV_UNDEF: undefined_error(r, obj);
    case TV_DICT: {
        tv *v = inf__tv_dict_find(obj.u.d, key);
        if (v) return *v;
        if (key.t == TV_STR) return inf__teval_getattr(r, obj, key.u.s, line);
        break;
    }
    case TV_LIST:
        if (obj.u.l->lazy) break;
        if (key.t == TV_INT || key.t == TV_BOOL) {
            long long i = norm_index(key.t == TV_INT ? key.u.i : key.u.b, obj.u.l->n);
            if (i >= 0) return obj.u.l->v[i];
            return undef_msg(r, "%s%.*s", "list index out of range", (tstr){"", 0});
        }
        if (key.t == TV_STR) return inf__teval_getattr(r, obj, key.u.s, line);
        break;
    case TV_STR:
        if (key.t == TV_INT || key.t == TV_BOOL) {
            size_t n = inf__utf8_len(obj.u.s.p, obj.u.s.n);
            long long i = norm_index(key.t == TV_INT ? key.u.i : key.u.b, n);
            if (i < 0) return undef_msg(r, "%s%.*s", "string index out of range", (tstr){"", 0});
            size_t a = inf__utf8_offset(obj.u.s.p, obj.u.s.n, (size_t)i);
            size_t b = inf__utf8_offset(obj.u.s.p, obj.u.s.n, (size_t)i + 1);
            return tv_strn(obj.u.s.p + a, b - a);
        }
        if (key.t == TV_STR) return inf__teval_getattr(r, obj, key.u.s, line);
        break;
    case TV_NS: case TV_LOOP:
        if (key.t == TV_STR) return inf__teval_getattr(r, obj, key.u.s, line);
        break;
    default: break;
    }
    tstr ks = inf__tv_to_tstr(r->c, key);
    return undef_msg(r, "'%s' has no attribute '%.*s'", inf__tv_type_name(obj), ks);
}

static long long slice_arg(trender *r, tv v, long long dflt, int line) {
    if (v.t == TV_UNDEF || v.t == TV_NONE) return dflt;
    if (v.t == TV_INT) return v.u.i;
    if (v.t == TV_BOOL) return v.u.b;
    FAIL(r, line, "slice indices must be integers or None");
}

static tv do_slice(trender *r, tv obj, tv a, tv b, tv c, int line) {
    long long step = slice_arg(r, c, 1, line);
    if (step == 0) FAIL(r, line, "slice step cannot be zero");
    size_t n;
    if (obj.t == TV_LIST && !obj.u.l->lazy) n = obj.u.l->n;
    else if (obj.t == TV_STR) n = inf__utf8_len(obj.u.s.p, obj.u.s.n);
    else if (obj.t == TV_UNDEF) undefined_error(r, obj);
    /* Jinja2 compiles slices to plain Python subscripts (no getitem
     * fallback), so anything else is a TypeError */
    else if (obj.t == TV_DICT) FAIL(r, line, "unhashable type: 'slice'");
    else FAIL(r, line, "'%s' object is not subscriptable", inf__tv_type_name(obj));
    long long N = (long long)n;
    long long start, stop;
    if (step > 0) {
        start = slice_arg(r, a, 0, line);
        stop = slice_arg(r, b, N, line);
        if (start < 0) start += N;
        if (start < 0) start = 0;
        if (start > N) start = N;
        if (stop < 0) stop += N;
        if (stop < 0) stop = 0;
        if (stop > N) stop = N;
    } else {
        start = slice_arg(r, a, N - 1, line);
        stop = slice_arg(r, b, -N - 1, line);
        if (start < 0) start += N;
        if (start < -1) start = -1;
        if (start >= N) start = N - 1;
        if (stop < 0) stop += N;
        if (stop < -1) stop = -1;
        if (stop >= N) stop = N - 1;
    }
    if (obj.t == TV_LIST) {
        tlist *l = inf__tv_list_new(r->c, 0);
        l->tuple = obj.u.l->tuple;
        for (long long i = start; step > 0 ? i < stop : i > stop; i += step) inf__tv_list_push(r->c, l, obj.u.l->v[i]);
        return tv_list(l);
    }
    /* strings index code points: map them to byte offsets once */
    const char *s = obj.u.s.p;
    size_t *off = inf__tc_alloc(r->c, (n + 1) * sizeof *off);
    size_t k = 0;
    for (size_t j = 0; j < obj.u.s.n; j++)
        if (((unsigned char)s[j] & 0xC0) != 0x80) off[k++] = j;
    off[n] = obj.u.s.n;
    tbuf out;
    inf__tb_init(&out, r->c, 0);
    for (long long i = start; step > 0 ? i < stop : i > stop; i += step) inf__tb_put(&out, s + off[i], off[i + 1] - off[i]);
    return tv_strn(out.p ? out.p : "", out.n);
}

tlist *inf__teval_iter(trender *r, tv x, int line) {
    switch (x.t) {
    case TV_UNDEF: return inf__tv_list_new(r->c, 0);
    case TV_LIST: return x.u.l;
    case TV_DICT: {
        tlist *l = inf__tv_list_new(r->c, x.u.d->n);
        for (size_t i = 0; i < x.u.d->n; i++) l->v[l->n++] = x.u.d->k[i];
        return l;
    }
    case TV_STR: {
        tlist *l = inf__tv_list_new(r->c, 0);
        const char *s = x.u.s.p;
        size_t i = 0;
        while (i < x.u.s.n) {
            size_t j = i + 1;
            while (j < x.u.s.n && ((unsigned char)s[j] & 0xC0) == 0x80) j++;
            inf__tv_list_push(r->c, l, tv_strn(s + i, j - i));
            i = j;
        }
        return l;
    }
    default:
        FAIL(r, line, "'%s' object is not iterable", inf__tv_type_name(x));
    }
}

/* ---- arithmetic ---------------------------------------------------------- */

static int is_num(tv x) { return x.t == TV_BOOL || x.t == TV_INT || x.t == TV_FLOAT; }
static int is_intlike(tv x) { return x.t == TV_BOOL || x.t == TV_INT; }
static double fnum(tv x) { return x.t == TV_FLOAT ? x.u.f : x.t == TV_INT ? (double)x.u.i : (double)x.u.b; }
static long long inum(tv x) { return x.t == TV_INT ? x.u.i : x.u.b; }

static const char *opname(int op) {
    static const char *const n[] = {"+", "-", "*", "/", "//", "%", "**", "~"};
    return op <= OP_CONCAT ? n[op] : "?";
}

static tv repeat(trender *r, tv seq, long long k, int line) {
    if (k < 0) k = 0;
    if (seq.t == TV_STR) {
        if (seq.u.s.n && (unsigned long long)k > r->out_limit / seq.u.s.n)
            inf__tc_fail(r->c, INF_E_LIMIT, "string repetition exceeds the output limit");
        tbuf b;
        inf__tb_init(&b, r->c, 0);
        for (long long i = 0; i < k; i++) inf__tb_put(&b, seq.u.s.p, seq.u.s.n);
        return tv_strn(b.p ? b.p : "", b.n);
    }
    if (seq.u.l->n && (unsigned long long)k > r->iter_limit / seq.u.l->n)
        inf__tc_fail(r->c, INF_E_LIMIT, "list repetition exceeds the iteration limit");
    tlist *l = inf__tv_list_new(r->c, (size_t)k * seq.u.l->n);
    l->tuple = seq.u.l->tuple;
    for (long long i = 0; i < k; i++)
        for (size_t j = 0; j < seq.u.l->n; j++) l->v[l->n++] = seq.u.l->v[j];
    (void)line;
    return tv_list(l);
}

/* Python's printf-style `fmt % args`: %[flags][width][.precision]conv with
 * conv in s r d i u f F e E g G x X o c %; one value or a tuple. */
static tv format_percent(trender *r, tstr f, tv b, int line) {
    tlist *args;
    if (b.t == TV_LIST && b.u.l->tuple) args = b.u.l;
    else { args = inf__tv_list_new(r->c, 1); args->v[args->n++] = b; }
    tbuf o;
    inf__tb_init(&o, r->c, r->out_limit);
    size_t k = 0;
    for (size_t i = 0; i < f.n; i++) {
        char ch = f.p[i];
        if (ch != '%') { inf__tb_putc(&o, ch); continue; }
        char spec[32];
        size_t sn = 0;
        spec[sn++] = '%';
        i++;
        while (i < f.n && strchr("-+ #0", f.p[i]) && sn < 8) spec[sn++] = f.p[i++];
        long width = 0, prec = -1;
        while (i < f.n && f.p[i] >= '0' && f.p[i] <= '9') { width = width * 10 + (f.p[i++] - '0'); if (width > 1000) width = 1000; }
        if (i < f.n && f.p[i] == '.') {
            i++;
            prec = 0;
            while (i < f.n && f.p[i] >= '0' && f.p[i] <= '9') { prec = prec * 10 + (f.p[i++] - '0'); if (prec > 100) prec = 100; }
        }
        if (i >= f.n) FAIL(r, line, "incomplete format");
        char conv = f.p[i];
        if (conv == '%') { inf__tb_putc(&o, '%'); continue; }
        if (k >= args->n) FAIL(r, line, "not enough arguments for format string");
        tv v = args->v[k++];
        int left = memchr(spec, '-', sn) != NULL;
        if (conv == 's' || conv == 'r') {
            tbuf t;
            inf__tb_init(&t, r->c, r->out_limit);
            if (conv == 's') inf__tv_str(&t, v);
            else inf__tv_repr(&t, v);
            size_t len = t.n, cps = inf__utf8_len(t.p ? t.p : "", t.n);
            if (prec >= 0 && (size_t)prec < cps) { len = inf__utf8_offset(t.p, t.n, (size_t)prec); cps = (size_t)prec; }
            if (!left) for (long q = (long)cps; q < width; q++) inf__tb_putc(&o, ' ');
            if (len) inf__tb_put(&o, t.p, len);
            if (left) for (long q = (long)cps; q < width; q++) inf__tb_putc(&o, ' ');
            continue;
        }
        if (v.t == TV_UNDEF) undefined_error(r, v);
        if (!is_num(v)) FAIL(r, line, "%%%c format: a real number is required, not %s", conv, inf__tv_type_name(v));
        char cfmt[48];
        memcpy(cfmt, spec, sn);
        size_t cn = sn;
        cn += (size_t)snprintf(cfmt + cn, sizeof cfmt - cn, "%ld", width);
        if (prec >= 0) cn += (size_t)snprintf(cfmt + cn, sizeof cfmt - cn, ".%ld", prec);
        if (strchr("diu", conv)) {
            long long iv = v.t == TV_FLOAT ? (long long)v.u.f : inum(v);
            snprintf(cfmt + cn, sizeof cfmt - cn, "lld");
            inf__tb_printf(&o, cfmt, iv);
        } else if (strchr("xXo", conv)) {
            if (v.t == TV_FLOAT) FAIL(r, line, "%%%c format: an integer is required, not float", conv);
            long long iv = inum(v);
            snprintf(cfmt + cn, sizeof cfmt - cn, "ll%c", conv);
            if (iv < 0) { inf__tb_putc(&o, '-'); iv = -iv; }
            inf__tb_printf(&o, cfmt, (unsigned long long)iv);
        } else if (strchr("fFeEgG", conv)) {
            snprintf(cfmt + cn, sizeof cfmt - cn, "%c", conv);
            inf__tb_printf(&o, cfmt, fnum(v));
        } else if (conv == 'c' && is_intlike(v)) {
            long long cp = inum(v);
            if (cp < 0 || cp > 0x10FFFF) FAIL(r, line, "%%c arg not in range(0x110000)");
            char u[5] = {0};
            if (cp < 0x80) u[0] = (char)cp;
            else if (cp < 0x800) { u[0] = (char)(0xC0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 63)); }
            else if (cp < 0x10000) { u[0] = (char)(0xE0 | (cp >> 12)); u[1] = (char)(0x80 | ((cp >> 6) & 63)); u[2] = (char)(0x80 | (cp & 63)); }
            else { u[0] = (char)(0xF0 | (cp >> 18)); u[1] = (char)(0x80 | ((cp >> 12) & 63)); u[2] = (char)(0x80 | ((cp >> 6) & 63)); u[3] = (char)(0x80 | (cp & 63)); }
            inf__tb_put(&o, u, strlen(u) ? strlen(u) : 1);
        } else FAIL(r, line, "unsupported format character '%c'", conv);
    }
    /* Python: a non-tuple sequence or mapping argument may go unused */
    int lenient = k == 0 && (b.t == TV_DICT || (b.t == TV_LIST && !b.u.l->tuple));
    if (k < args->n && !lenient) FAIL(r, line, "not all arguments converted during string formatting");
    return tv_strn(o.p ? o.p : "", o.n);
}

static tv binop(trender *r, int op, tv a, tv b, int line) {
    if (op == OP_CONCAT) {
        tbuf s;
        inf__tb_init(&s, r->c, 0);
        inf__tv_str(&s, a);
        inf__tv_str(&s, b);
        return tv_strn(s.p ? s.p : "", s.n);
    }
    if (a.t == TV_UNDEF) undefined_error(r, a);
    if (b.t == TV_UNDEF) undefined_error(r, b);
    if (is_intlike(a) && is_intlike(b)) {
        long long x = inum(a), y = inum(b), z;
        switch (op) {
        case OP_ADD: if (__builtin_add_overflow(x, y, &z)) goto ovf; return tv_int(z);
        case OP_SUB: if (__builtin_sub_overflow(x, y, &z)) goto ovf; return tv_int(z);
        case OP_MUL: if (__builtin_mul_overflow(x, y, &z)) goto ovf; return tv_int(z);
        case OP_DIV: if (!y) FAIL(r, line, "division by zero"); return tv_float((double)x / (double)y);
        case OP_FLOORDIV: case OP_MOD: {
            if (!y) FAIL(r, line, "integer division or modulo by zero");
            if (x == INT64_MIN && y == -1) goto ovf;
            long long q = x / y, m = x % y;
            if (m && ((m < 0) != (y < 0))) { q--; m += y; }
            return tv_int(op == OP_FLOORDIV ? q : m);
        }
        case OP_POW:
            if (y >= 0) {
                long long acc = 1;
                for (long long i = 0; i < y; i++) {
                    if (__builtin_mul_overflow(acc, x, &acc)) goto ovf;
                    if (acc == 0 || acc == 1) break;
                    if (acc == -1) { acc = (y - i - 1) % 2 ? -acc : acc; break; }
                }
                return tv_int(acc);
            }
            return tv_float(pow((double)x, (double)y));
        }
    }
    if (is_num(a) && is_num(b)) {
        double x = fnum(a), y = fnum(b);
        switch (op) {
        case OP_ADD: return tv_float(x + y);
        case OP_SUB: return tv_float(x - y);
        case OP_MUL: return tv_float(x * y);
        case OP_DIV: if (y == 0) FAIL(r, line, "float division by zero"); return tv_float(x / y);
        case OP_FLOORDIV: if (y == 0) FAIL(r, line, "float floor division by zero"); return tv_float(floor(x / y));
        case OP_MOD: {
            if (y == 0) FAIL(r, line, "float modulo");
            double m = fmod(x, y);
            if (m != 0 && ((m < 0) != (y < 0))) m += y;
            return tv_float(m);
        }
        case OP_POW: return tv_float(pow(x, y));
        }
    }
    if (op == OP_ADD && a.t == TV_STR && b.t == TV_STR) {
        if (r->out_limit && a.u.s.n + b.u.s.n > r->out_limit)
            inf__tc_fail(r->c, INF_E_LIMIT, "string exceeds the output limit");
        char *p = inf__tc_alloc(r->c, a.u.s.n + b.u.s.n + 1);
        memcpy(p, a.u.s.p, a.u.s.n);
        memcpy(p + a.u.s.n, b.u.s.p, b.u.s.n);
        return tv_strn(p, a.u.s.n + b.u.s.n);
    }
    if (op == OP_ADD && a.t == TV_LIST && b.t == TV_LIST && a.u.l->tuple == b.u.l->tuple && !a.u.l->lazy && !b.u.l->lazy) {
        tlist *l = inf__tv_list_new(r->c, a.u.l->n + b.u.l->n);
        l->tuple = a.u.l->tuple;
        for (size_t i = 0; i < a.u.l->n; i++) l->v[l->n++] = a.u.l->v[i];
        for (size_t i = 0; i < b.u.l->n; i++) l->v[l->n++] = b.u.l->v[i];
        return tv_list(l);
    }
    if (op == OP_MUL && (a.t == TV_STR || (a.t == TV_LIST && !a.u.l->lazy)) && is_intlike(b)) return repeat(r, a, inum(b), line);
    if (op == OP_MUL && (b.t == TV_STR || (b.t == TV_LIST && !b.u.l->lazy)) && is_intlike(a)) return repeat(r, b, inum(a), line);
    if (op == OP_MOD && a.t == TV_STR) return format_percent(r, a.u.s, b, line);
    FAIL(r, line, "unsupported operand type(s) for %s: '%s' and '%s'", opname(op), inf__tv_type_name(a), inf__tv_type_name(b));
ovf:
    inf__tc_fail(r->c, INF_E_LIMIT, "integer overflow in template arithmetic");
}

tv inf__teval_binop_mod(trender *r, tv a, tv b, int line) { return binop(r, OP_MOD, a, b, line); }

static int contains(trender *r, tv hay, tv needle, int line) {
    switch (hay.t) {
    case TV_STR:
        if (needle.t != TV_STR) FAIL(r, line, "'in <string>' requires string as left operand, not %s", inf__tv_type_name(needle));
        if (needle.u.s.n == 0) return 1;
        return memmem(hay.u.s.p, hay.u.s.n, needle.u.s.p, needle.u.s.n) != NULL;
    case TV_LIST:
        for (size_t i = 0; i < hay.u.l->n; i++) if (inf__tv_eq(hay.u.l->v[i], needle)) return 1;
        return 0;
    case TV_DICT: case TV_NS:
        if ((needle.t == TV_LIST && !needle.u.l->tuple) || needle.t == TV_DICT)
            FAIL(r, line, "unhashable type: '%s'", needle.t == TV_DICT ? "dict" : "list");
        return inf__tv_dict_find(hay.u.d, needle) != NULL;
    case TV_UNDEF: return 0;
    default: FAIL(r, line, "argument of type '%s' is not iterable", inf__tv_type_name(hay));
    }
}

/* ---- calls ------------------------------------------------------------- */

static tv call_macro(trender *r, tmacro *m, tv *args, size_t n, tstr *kwn, tv *kwv, size_t nkw, tv caller, int line) {
    tnode *def = m->def;
    enter(r, line);
    tframe *saved = r->scope;
    tframe *f = frame_new(r, m->scope);
    tlist *varargs = inf__tv_list_new(r->c, 0);
    varargs->tuple = 1;
    tdict *kwargs = inf__tv_dict_new(r->c, 0);
    for (size_t i = 0; i < n; i++) {
        if (i < def->nnames) set_var(r, f, def->names[i], args[i]);
        else inf__tv_list_push(r->c, varargs, args[i]);
    }
    for (size_t k = 0; k < nkw; k++) {
        size_t i;
        for (i = 0; i < def->nnames; i++) if (def->names[i].n == kwn[k].n && memcmp(def->names[i].p, kwn[k].p, kwn[k].n) == 0) break;
        if (i == def->nnames) { inf__tv_dict_set(r->c, kwargs, tv_strn(kwn[k].p, kwn[k].n), kwv[k]); continue; }
        if (i < n) FAIL(r, line, "macro '%.*s' got multiple values for argument '%.*s'", (int)def->name.n, def->name.p, (int)kwn[k].n, kwn[k].p);
        set_var(r, f, def->names[i], kwv[k]);
    }
    r->scope = f;
    for (size_t i = 0; i < def->nnames; i++) {
        if (inf__tv_dict_find_str(f->vars, def->names[i].p, def->names[i].n)) continue;
        tv v = (i < def->n && def->items[i]) ? inf__teval_expr(r, def->items[i])
                                              : undef_msg(r, "parameter '%s%.*s' was not provided", "", def->names[i]);
        set_var(r, f, def->names[i], v);
    }
    set_var(r, f, (tstr){"varargs", 7}, tv_list(varargs));
    set_var(r, f, (tstr){"kwargs", 6}, tv_dict(kwargs));
    if (caller.t != TV_UNDEF) set_var(r, f, (tstr){"caller", 6}, caller);
    tbuf out, *saved_out = r->out;
    inf__tb_init(&out, r->c, r->out_limit);
    r->out = &out;
    int saved_ctl = r->loop_ctl;
    exec_node(r, def->b);
    r->loop_ctl = saved_ctl;
    r->out = saved_out;
    r->scope = saved;
    r->depth--;
    return tv_strn(out.p ? out.p : "", out.n);
}

static tv call_builtin(trender *r, int fn, tv *args, size_t n, tstr *kwn, tv *kwv, size_t nkw, int line) {
    switch (fn) {
    case BI_RANGE: {
        long long a = 0, b, s = 1;
        for (size_t i = 0; i < n; i++) if (!is_intlike(args[i])) FAIL(r, line, "range() arguments must be integers");
        if (n == 1) b = inum(args[0]);
        else if (n == 2 || n == 3) { a = inum(args[0]); b = inum(args[1]); if (n == 3) s = inum(args[2]); }
        else FAIL(r, line, "range expected 1 to 3 arguments, got %zu", n);
        if (s == 0) FAIL(r, line, "range() arg 3 must not be zero");
        tlist *l = inf__tv_list_new(r->c, 0);
        for (long long i = a; s > 0 ? i < b : i > b; i += s) {
            if (l->n >= r->iter_limit) inf__tc_fail(r->c, INF_E_LIMIT, "range() larger than the iteration limit");
            inf__tv_list_push(r->c, l, tv_int(i));
        }
        return tv_list(l);
    }
    case BI_NAMESPACE: case BI_DICT: {
        tdict *d = inf__tv_dict_new(r->c, 0);
        for (size_t i = 0; i < n; i++) {
            if (args[i].t != TV_DICT) FAIL(r, line, "%s() positional argument must be a mapping", fn == BI_DICT ? "dict" : "namespace");
            for (size_t k = 0; k < args[i].u.d->n; k++) inf__tv_dict_set(r->c, d, args[i].u.d->k[k], args[i].u.d->v[k]);
        }
        for (size_t k = 0; k < nkw; k++) inf__tv_dict_set(r->c, d, tv_strn(kwn[k].p, kwn[k].n), kwv[k]);
        tv v = tv_dict(d);
        if (fn == BI_NAMESPACE) v.t = TV_NS;
        return v;
    }
    case BI_RAISE: {
        /* the message must reach the caller exactly as the template wrote it */
        tstr m = n ? inf__tv_to_tstr(r->c, args[0]) : (tstr){"", 0};
        inf__tc_fail(r->c, INF_E_TEMPLATE, "%.*s", (int)m.n, m.p);
    }
    case BI_STRFTIME: {
        if (n < 1 || args[0].t != TV_STR) FAIL(r, line, "strftime_now() needs a format string");
        char fmt[256], buf[512];
        size_t k = args[0].u.s.n < sizeof fmt - 1 ? args[0].u.s.n : sizeof fmt - 1;
        memcpy(fmt, args[0].u.s.p, k);
        fmt[k] = '\0';
        time_t now = time(NULL);
        struct tm tmv;
        localtime_r(&now, &tmv);
        size_t m = strftime(buf, sizeof buf, fmt, &tmv);
        return tv_strn(inf__tc_strdup(r->c, buf, m), m);
    }
    }
    FAIL(r, line, "unknown builtin");
}

tv inf__teval_call(trender *r, tv fn, tv *args, size_t n, tstr *kwn, tv *kwv, size_t nkw, int line) {
    switch (fn.t) {
    case TV_MACRO: return call_macro(r, fn.u.m, args, n, kwn, kwv, nkw, tv_undef(), line);
    case TV_BUILTIN: return call_builtin(r, fn.u.fn, args, n, kwn, kwv, nkw, line);
    case TV_BOUND:
        if (fn.u.bm->self.t == TV_LOOP) { /* loop.cycle(a, b, ...) */
            if (!n) FAIL(r, line, "no items for cycling given");
            return args[fn.u.bm->self.u.lp->index0 % n];
        }
        return inf__tmethod(r, fn.u.bm->self, fn.u.bm->name, args, n, kwn, kwv, nkw, line);
    case TV_UNDEF: undefined_error(r, fn);
    default: FAIL(r, line, "'%s' object is not callable", inf__tv_type_name(fn));
    }
}

/* Evaluates the argument lists of a call/filter/test node. */
static void eval_args(trender *r, tnode *e, tv **args, tv **kwv) {
    *args = e->n ? inf__tc_alloc(r->c, e->n * sizeof(tv)) : NULL;
    *kwv = e->n2 ? inf__tc_alloc(r->c, e->n2 * sizeof(tv)) : NULL;
    for (size_t i = 0; i < e->n; i++) (*args)[i] = inf__teval_expr(r, e->items[i]);
    for (size_t i = 0; i < e->n2; i++) (*kwv)[i] = inf__teval_expr(r, e->items2[i]);
}

/* ---- expressions -------------------------------------------------------- */

tv inf__teval_expr(trender *r, tnode *e) {
    enter(r, e->line);
    tv res;
    switch (e->kind) {
    case E_CONST: res = e->val; break;
    case E_NAME: res = lookup(r, e->name); break;
    case E_INPUT: res = r->block_input; break;
    case E_ATTR: res = inf__teval_getattr(r, inf__teval_expr(r, e->a), e->name, e->line); break;
    case E_ITEM: {
        tv o = inf__teval_expr(r, e->a);
        res = inf__teval_getitem(r, o, inf__teval_expr(r, e->b), e->line);
        break;
    }
    case E_SLICE: {
        tv o = inf__teval_expr(r, e->a);
        tv a = e->b ? inf__teval_expr(r, e->b) : tv_none();
        tv b = e->c ? inf__teval_expr(r, e->c) : tv_none();
        tv c = e->d ? inf__teval_expr(r, e->d) : tv_none();
        res = do_slice(r, o, a, b, c, e->line);
        break;
    }
    case E_CALL: {
        tv fn = inf__teval_expr(r, e->a);
        tv *args, *kwv;
        eval_args(r, e, &args, &kwv);
        res = inf__teval_call(r, fn, args, e->n, e->names, kwv, e->n2, e->line);
        break;
    }
    case E_FILTER: {
        tv in = inf__teval_expr(r, e->a);
        tv *args, *kwv;
        eval_args(r, e, &args, &kwv);
        res = inf__tfilter(r, e->name, in, args, e->n, e->names, kwv, e->n2, e->line);
        break;
    }
    case E_TEST: {
        tv in = inf__teval_expr(r, e->a);
        tv *args, *kwv;
        eval_args(r, e, &args, &kwv);
        int t = inf__ttest(r, e->name, in, args, e->n, e->line);
        res = tv_bool(e->op ? !t : t);
        break;
    }
    case E_BIN: {
        tv a = inf__teval_expr(r, e->a);
        res = binop(r, e->op, a, inf__teval_expr(r, e->b), e->line);
        break;
    }
    case E_NEG: case E_POS: {
        tv a = inf__teval_expr(r, e->a);
        if (a.t == TV_UNDEF) undefined_error(r, a);
        if (!is_num(a)) FAIL(r, e->line, "bad operand type for unary %c: '%s'", e->kind == E_NEG ? '-' : '+', inf__tv_type_name(a));
        if (e->kind == E_POS) res = a.t == TV_BOOL ? tv_int(a.u.b) : a;
        else if (a.t == TV_FLOAT) res = tv_float(-a.u.f);
        else {
            long long v = inum(a);
            if (v == INT64_MIN) inf__tc_fail(r->c, INF_E_LIMIT, "integer overflow in template arithmetic");
            res = tv_int(-v);
        }
        break;
    }
    case E_NOT: res = tv_bool(!inf__tv_truthy(inf__teval_expr(r, e->a))); break;
    case E_AND: {
        tv a = inf__teval_expr(r, e->a);
        res = inf__tv_truthy(a) ? inf__teval_expr(r, e->b) : a;
        break;
    }
    case E_OR: {
        tv a = inf__teval_expr(r, e->a);
        res = inf__tv_truthy(a) ? a : inf__teval_expr(r, e->b);
        break;
    }
    case E_CMP: {
        tv a = inf__teval_expr(r, e->a);
        tv b = inf__teval_expr(r, e->b);
        switch (e->op) {
        case OP_EQ: res = tv_bool(inf__tv_eq(a, b)); break;
        case OP_NE: res = tv_bool(!inf__tv_eq(a, b)); break;
        case OP_IN: res = tv_bool(contains(r, b, a, e->line)); break;
        case OP_NOTIN: res = tv_bool(!contains(r, b, a, e->line)); break;
        default: {
            if (a.t == TV_UNDEF) undefined_error(r, a);
            if (b.t == TV_UNDEF) undefined_error(r, b);
            int c = inf__tv_cmp(r->c, a, b);
            res = tv_bool(e->op == OP_LT ? c < 0 : e->op == OP_LE ? c <= 0 : e->op == OP_GT ? c > 0 : c >= 0);
        }
        }
        break;
    }
    case E_COND:
        if (inf__tv_truthy(inf__teval_expr(r, e->b))) res = inf__teval_expr(r, e->a);
        else res = e->c ? inf__teval_expr(r, e->c) : undef_msg(r, "%s%.*s", "the inline if-expression evaluated to false and no else section was defined.", (tstr){"", 0});
        break;
    case E_LIST: case E_TUPLE: {
        tlist *l = inf__tv_list_new(r->c, e->n);
        l->tuple = e->kind == E_TUPLE;
        for (size_t i = 0; i < e->n; i++) l->v[l->n++] = inf__teval_expr(r, e->items[i]);
        res = tv_list(l);
        break;
    }
    case E_DICT: {
        tdict *d = inf__tv_dict_new(r->c, e->n);
        for (size_t i = 0; i < e->n; i++) {
            tv k = inf__teval_expr(r, e->items[i]);
            if (k.t == TV_LIST && !k.u.l->tuple) FAIL(r, e->line, "unhashable type: 'list'");
            if (k.t == TV_DICT) FAIL(r, e->line, "unhashable type: 'dict'");
            inf__tv_dict_set(r->c, d, k, inf__teval_expr(r, e->items2[i]));
        }
        res = tv_dict(d);
        break;
    }
    default:
        FAIL(r, e->line, "internal error: bad expression node");
    }
    r->depth--;
    return res;
}

/* ---- statements --------------------------------------------------------- */

static void assign_targets(trender *r, tframe *f, tnode *n, tv v) {
    if (n->nnames == 1) { set_var(r, f, n->names[0], v); return; }
    tlist *l = inf__teval_iter(r, v, n->line);
    if (l->n != n->nnames)
        FAIL(r, n->line, l->n < n->nnames ? "not enough values to unpack (expected %zu, got %zu)"
                                          : "too many values to unpack (expected %zu, got %zu)", n->nnames, l->n);
    for (size_t i = 0; i < n->nnames; i++) set_var(r, f, n->names[i], l->v[i]);
}

static tstr capture(trender *r, tnode *body) {
    tbuf out, *saved = r->out;
    inf__tb_init(&out, r->c, r->out_limit);
    r->out = &out;
    exec_node(r, body);
    r->out = saved;
    return (tstr){out.p ? out.p : "", out.n};
}

static void exec_for(trender *r, tnode *n) {
    tlist *src = inf__teval_iter(r, inf__teval_expr(r, n->a), n->line);
    tframe *outer = r->scope;
    tlist *items = src;
    if (n->d) { /* {% for x in xs if cond %}: filtered before loop.* counts */
        items = inf__tv_list_new(r->c, 0);
        tframe *ff = frame_new(r, outer);
        for (size_t i = 0; i < src->n; i++) {
            inf__teval_tick(r, n->line);
            ff->vars->n = 0;
            r->scope = ff;
            assign_targets(r, r->scope, n, src->v[i]);
            int keep = inf__tv_truthy(inf__teval_expr(r, n->d));
            r->scope = outer;
            if (keep) inf__tv_list_push(r->c, items, src->v[i]);
        }
    }
    tloop *lp = inf__tc_alloc(r->c, sizeof *lp);
    lp->items = items;
    lp->depth0 = r->loop_depth;
    lp->r = r;
    tv lv;
    lv.t = TV_LOOP;
    lv.u.lp = lp;
    r->loop_depth++;
    /* One frame serves every iteration, emptied each time: a fresh scope per
     * iteration as Jinja has, without arena growth per iteration. */
    tframe *f = frame_new(r, outer);
    for (size_t i = 0; i < items->n; i++) {
        inf__teval_tick(r, n->line);
        lp->index0 = i;
        f->vars->n = 0;
        r->scope = f;
        assign_targets(r, r->scope, n, items->v[i]);
        set_var(r, r->scope, (tstr){"loop", 4}, lv);
        exec_node(r, n->b);
        r->scope = outer;
        if (r->loop_ctl == 1) { r->loop_ctl = 0; break; }
        r->loop_ctl = 0;
    }
    r->loop_depth--;
    r->scope = outer;
    if (items->n == 0 && n->c) exec_node(r, n->c);
}

static void exec_node(trender *r, tnode *n) {
    enter(r, n->line);
    switch (n->kind) {
    case N_BLOCK:
        for (size_t i = 0; i < n->n && !r->loop_ctl; i++) exec_node(r, n->items[i]);
        break;
    case N_TEXT: inf__tb_put(r->out, n->name.p, n->name.n); break;
    case N_OUT: inf__tv_str(r->out, inf__teval_expr(r, n->a)); break;
    case N_IF:
        if (inf__tv_truthy(inf__teval_expr(r, n->a))) exec_node(r, n->b);
        else if (n->c) exec_node(r, n->c);
        break;
    case N_FOR: exec_for(r, n); break;
    case N_SET: {
        tv v = inf__teval_expr(r, n->a);
        if (n->name2.p) {
            tv ns = lookup(r, n->names[0]);
            if (ns.t != TV_NS) FAIL(r, n->line, "cannot assign attribute on non-namespace object");
            inf__tv_dict_set(r->c, ns.u.d, tv_strn(n->name2.p, n->name2.n), v);
        } else assign_targets(r, r->scope, n, v);
        break;
    }
    case N_SETBLOCK: {
        tstr s = capture(r, n->b);
        tv v = tv_strn(s.p, s.n);
        if (n->a) {
            tv saved = r->block_input;
            r->block_input = v;
            v = inf__teval_expr(r, n->a);
            r->block_input = saved;
        }
        set_var(r, r->scope, n->names[0], v);
        break;
    }
    case N_FILTERBLOCK: {
        tstr s = capture(r, n->b);
        tv saved = r->block_input;
        r->block_input = tv_strn(s.p, s.n);
        tv v = inf__teval_expr(r, n->a);
        r->block_input = saved;
        inf__tv_str(r->out, v);
        break;
    }
    case N_MACRO: {
        tmacro *m = inf__tc_alloc(r->c, sizeof *m);
        m->def = n;
        m->scope = r->scope;
        tv v;
        v.t = TV_MACRO;
        v.u.m = m;
        set_var(r, r->scope, n->name, v);
        break;
    }
    case N_CALLBLOCK: {
        /* {% call m(args) %}body{% endcall %}: body becomes `caller` */
        tmacro *cm = inf__tc_alloc(r->c, sizeof *cm);
        cm->def = n; /* names/items = caller params, b = body */
        cm->scope = r->scope;
        tv caller;
        caller.t = TV_MACRO;
        caller.u.m = cm;
        tnode *call = n->a;
        tv fn = inf__teval_expr(r, call->a);
        if (fn.t != TV_MACRO) FAIL(r, n->line, "{%% call %%} needs a macro");
        tv *args, *kwv;
        eval_args(r, call, &args, &kwv);
        tv v = call_macro(r, fn.u.m, args, call->n, call->names, kwv, call->n2, caller, n->line);
        inf__tv_str(r->out, v);
        break;
    }
    case N_BREAK: r->loop_ctl = 1; break;
    case N_CONTINUE: r->loop_ctl = 2; break;
    case N_WITH: {
        tframe *outer = r->scope;
        tframe *f = frame_new(r, outer);
        for (size_t i = 0; i < n->nnames; i++) {
            r->scope = f; /* later values see earlier ones, as in Jinja */
            set_var(r, f, n->names[i], inf__teval_expr(r, n->items[i]));
        }
        r->scope = f;
        exec_node(r, n->b);
        r->scope = outer;
        break;
    }
    default:
        FAIL(r, n->line, "internal error: bad statement node");
    }
    r->depth--;
}

void inf__teval_render(trender *r, tnode *root, tstr *out) {
    tbuf b;
    inf__tb_init(&b, r->c, r->out_limit);
    r->out = &b;
    r->scope = r->globals;
    exec_node(r, root);
    *out = (tstr){b.p ? b.p : "", b.n};
}
