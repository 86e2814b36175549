/* Methods callable on values (str.strip(), dict.items(), ...) and the
 * Unicode string helpers they share with the filters.  Only non-mutating
 * methods exist: transformers renders in an immutable sandbox. */
#include "text/template/tmpl_internal.h"

#include <stdio.h>
#include <string.h>
#include <utf8proc.h>

#define FAIL(r, ...) inf__tc_fail((r)->c, INF_E_TEMPLATE, __VA_ARGS__)

size_t inf__ts_next(const char *p, size_t n, size_t i, int32_t *cp) {
    utf8proc_int32_t c;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)p + i, (utf8proc_ssize_t)(n - i), &c);
    if (k <= 0) { *cp = (unsigned char)p[i]; return 1; }
    *cp = c;
    return (size_t)k;
}

int inf__ts_isspace(int32_t cp) {
    if (cp == ' ' || (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x1f) || cp == 0x85 || cp == 0xa0) return 1;
    if (cp < 0x1680) return 0;
    return cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f ||
           cp == 0x205f || cp == 0x3000;
}

size_t inf__ts_linebreak(const char *p, size_t n, size_t i) {
    unsigned char ch = (unsigned char)p[i];
    if (ch == '\r') return (i + 1 < n && p[i + 1] == '\n') ? 2 : 1;
    if (ch == '\n' || ch == '\v' || ch == '\f' || (ch >= 0x1c && ch <= 0x1e)) return 1;
    if (ch >= 0x80) {
        int32_t cp;
        size_t k = inf__ts_next(p, n, i, &cp);
        if (cp == 0x85 || cp == 0x2028 || cp == 0x2029) return k;
    }
    return 0;
}

size_t inf__ts_wordcount(tstr s) {
    size_t words = 0;
    int in_word = 0;
    for (size_t i = 0; i < s.n;) {
        int32_t cp;
        i += inf__ts_next(s.p, s.n, i, &cp);
        utf8proc_category_t c = utf8proc_category(cp);
        int w = cp == '_' || (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) ||
                (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO) || c == UTF8PROC_CATEGORY_MN ||
                c == UTF8PROC_CATEGORY_MC;
        if (w && !in_word) words++;
        in_word = w;
    }
    return words;
}

static int in_chars(int32_t cp, const tstr *chars) {
    if (!chars) return inf__ts_isspace(cp);
    for (size_t i = 0; i < chars->n;) {
        int32_t c;
        i += inf__ts_next(chars->p, chars->n, i, &c);
        if (c == cp) return 1;
    }
    return 0;
}

tstr inf__ts_strip(tstr s, const tstr *chars, int left, int right) {
    size_t a = 0, b = s.n;
    if (left)
        while (a < b) {
            int32_t cp;
            size_t k = inf__ts_next(s.p, b, a, &cp);
            if (!in_chars(cp, chars)) break;
            a += k;
        }
    if (right)
        while (b > a) {
            size_t j = b - 1;
            while (j > a && ((unsigned char)s.p[j] & 0xC0) == 0x80) j--;
            int32_t cp;
            inf__ts_next(s.p, b, j, &cp);
            if (!in_chars(cp, chars)) break;
            b = j;
        }
    return (tstr){s.p + a, b - a};
}

static void put_cp(tbuf *b, int32_t cp) {
    utf8proc_uint8_t u[4];
    utf8proc_ssize_t k = utf8proc_encode_char(cp, u);
    inf__tb_put(b, (const char *)u, (size_t)(k > 0 ? k : 0));
}

static int is_cased_letter(int32_t cp) {
    utf8proc_category_t c = utf8proc_category(cp);
    return c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LL || c == UTF8PROC_CATEGORY_LT ||
           c == UTF8PROC_CATEGORY_LM || c == UTF8PROC_CATEGORY_LO;
}

tstr inf__ts_case(tctx *c, tstr s, int mode) {
    tbuf b;
    inf__tb_init(&b, c, 0);
    int prev_letter = 0, first = 1;
    for (size_t i = 0; i < s.n;) {
        int32_t cp;
        size_t k = inf__ts_next(s.p, s.n, i, &cp);
        int32_t o = cp;
        switch (mode) {
        case TCASE_UPPER: o = utf8proc_toupper(cp); break;
        case TCASE_LOWER: o = utf8proc_tolower(cp); break;
        case TCASE_CAPITALIZE: o = first ? utf8proc_toupper(cp) : utf8proc_tolower(cp); break;
        case TCASE_PYTITLE: /* str.title(): a letter after a non-letter starts a word */
            o = prev_letter ? utf8proc_tolower(cp) : utf8proc_toupper(cp);
            prev_letter = is_cased_letter(cp);
            break;
        case TCASE_JTITLE: /* Jinja's title filter: words start after spaces, -, ( { [ < */
            o = prev_letter ? utf8proc_tolower(cp) : utf8proc_toupper(cp);
            prev_letter = !(inf__ts_isspace(cp) || cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<');
            break;
        }
        first = 0;
        if (k == 1 && o == cp) inf__tb_putc(&b, s.p[i]); /* keeps invalid bytes as they were */
        else put_cp(&b, o);
        i += k;
    }
    return (tstr){b.p ? b.p : "", b.n};
}

tstr inf__ts_replace(trender *r, tstr s, tstr old, tstr rep, long long count) {
    tbuf b;
    inf__tb_init(&b, r->c, r->out_limit);
    size_t i = 0;
    long long done = 0;
    if (old.n == 0) { /* Python inserts rep between every character */
        while (i <= s.n && (count < 0 || done < count)) {
            inf__tb_put(&b, rep.p, rep.n);
            done++;
            if (i == s.n) { i++; break; }
            int32_t cp;
            size_t k = inf__ts_next(s.p, s.n, i, &cp);
            inf__tb_put(&b, s.p + i, k);
            i += k;
        }
        if (i < s.n) inf__tb_put(&b, s.p + i, s.n - i);
        return (tstr){b.p ? b.p : "", b.n};
    }
    while (i < s.n && (count < 0 || done < count)) {
        const char *hit = memmem(s.p + i, s.n - i, old.p, old.n);
        if (!hit) break;
        size_t h = (size_t)(hit - s.p);
        inf__tb_put(&b, s.p + i, h - i);
        inf__tb_put(&b, rep.p, rep.n);
        i = h + old.n;
        done++;
    }
    inf__tb_put(&b, s.p + i, s.n - i);
    return (tstr){b.p ? b.p : "", b.n};
}

static const char *const str_methods[] = {
    "strip", "lstrip", "rstrip", "split", "rsplit", "startswith", "endswith", "replace", "upper", "lower",
    "title", "capitalize", "format", "find", "rfind", "count", "join", "splitlines", "isdigit", "isalpha",
    "isalnum", "isspace", "isupper", "islower", NULL};
static const char *const dict_methods[] = {"items", "keys", "values", "get", "copy", NULL};
static const char *const list_methods[] = {"index", "count", "copy", NULL};

static int in_list(const char *const *l, tstr n) {
    for (int i = 0; l[i]; i++) if (tstr_eq(n, l[i])) return 1;
    return 0;
}

int inf__tmethod_exists(tv x, tstr name) {
    if (x.t == TV_STR) return in_list(str_methods, name);
    if (x.t == TV_DICT) return in_list(dict_methods, name);
    if (x.t == TV_LIST) return in_list(list_methods, name);
    return 0;
}

static tstr need_str(trender *r, tv v, const char *what) {
    if (v.t != TV_STR) FAIL(r, "%s must be a string, not %s", what, inf__tv_type_name(v));
    return v.u.s;
}

static tv split(trender *r, tstr s, tv sepv, long long maxsplit, int from_right) {
    tlist *l = inf__tv_list_new(r->c, 0);
    if (sepv.t == TV_UNDEF || sepv.t == TV_NONE) {
        /* whitespace runs; from_right only matters with maxsplit */
        tstr *parts = NULL;
        size_t np = 0, cap = 0;
        size_t i = 0;
        while (i < s.n) {
            int32_t cp;
            size_t k;
            while (i < s.n && (k = inf__ts_next(s.p, s.n, i, &cp), inf__ts_isspace(cp))) i += k;
            if (i >= s.n) break;
            size_t a = i;
            while (i < s.n && (k = inf__ts_next(s.p, s.n, i, &cp), !inf__ts_isspace(cp))) i += k;
            if (np == cap) {
                cap = cap ? cap * 2 : 8;
                tstr *nps = inf__tc_alloc(r->c, cap * sizeof *nps);
                if (np) memcpy(nps, parts, np * sizeof *nps);
                parts = nps;
            }
            parts[np++] = (tstr){s.p + a, i - a};
        }
        if (maxsplit >= 0 && (size_t)maxsplit < np && np) {
            if (!from_right) {
                for (long long k = 0; k < maxsplit; k++) inf__tv_list_push(r->c, l, tv_strn(parts[k].p, parts[k].n));
                tstr rest = inf__ts_strip((tstr){parts[maxsplit].p, (size_t)(s.p + s.n - parts[maxsplit].p)}, NULL, 0, 1);
                inf__tv_list_push(r->c, l, tv_strn(rest.p, rest.n));
            } else {
                size_t first = np - (size_t)maxsplit;
                tstr rest = inf__ts_strip((tstr){s.p, (size_t)(parts[first - 1].p + parts[first - 1].n - s.p)}, NULL, 1, 0);
                inf__tv_list_push(r->c, l, tv_strn(rest.p, rest.n));
                for (size_t k = first; k < np; k++) inf__tv_list_push(r->c, l, tv_strn(parts[k].p, parts[k].n));
            }
            return tv_list(l);
        }
        for (size_t k = 0; k < np; k++) inf__tv_list_push(r->c, l, tv_strn(parts[k].p, parts[k].n));
        return tv_list(l);
    }
    tstr sep = need_str(r, sepv, "separator");
    if (sep.n == 0) FAIL(r, "empty separator");
    if (from_right && maxsplit >= 0) {
        /* collect from the right, then reverse */
        tlist *rev = inf__tv_list_new(r->c, 0);
        size_t end = s.n;
        long long done = 0;
        while (done < maxsplit) {
            size_t j = end;
            int found = 0;
            while (j >= sep.n) {
                if (memcmp(s.p + j - sep.n, sep.p, sep.n) == 0) { found = 1; break; }
                j--;
            }
            if (!found) break;
            inf__tv_list_push(r->c, rev, tv_strn(s.p + j, end - j));
            end = j - sep.n;
            done++;
        }
        inf__tv_list_push(r->c, l, tv_strn(s.p, end));
        for (size_t k = rev->n; k > 0; k--) inf__tv_list_push(r->c, l, rev->v[k - 1]);
        return tv_list(l);
    }
    size_t i = 0;
    long long done = 0;
    for (;;) {
        const char *hit = (maxsplit < 0 || done < maxsplit) ? memmem(s.p + i, s.n - i, sep.p, sep.n) : NULL;
        if (!hit) break;
        size_t h = (size_t)(hit - s.p);
        inf__tv_list_push(r->c, l, tv_strn(s.p + i, h - i));
        i = h + sep.n;
        done++;
    }
    inf__tv_list_push(r->c, l, tv_strn(s.p + i, s.n - i));
    return tv_list(l);
}

static int affix(trender *r, tstr s, tv pre, int end) {
    if (pre.t == TV_LIST && pre.u.l->tuple) {
        for (size_t i = 0; i < pre.u.l->n; i++)
            if (affix(r, s, pre.u.l->v[i], end)) return 1;
        return 0;
    }
    tstr p = need_str(r, pre, end ? "endswith argument" : "startswith argument");
    if (p.n > s.n) return 0;
    return memcmp(end ? s.p + s.n - p.n : s.p, p.p, p.n) == 0;
}

/* "{} {0} {name}".format(...) without format specs. */
static tv format(trender *r, tstr f, tv *args, size_t n, tstr *kwn, tv *kwv, size_t nkw) {
    tbuf b;
    inf__tb_init(&b, r->c, r->out_limit);
    size_t auto_i = 0;
    for (size_t i = 0; i < f.n; i++) {
        char ch = f.p[i];
        if (ch == '}') {
            if (i + 1 < f.n && f.p[i + 1] == '}') i++;
            else FAIL(r, "Single '}' encountered in format string");
            inf__tb_putc(&b, '}');
            continue;
        }
        if (ch != '{') { inf__tb_putc(&b, ch); continue; }
        if (i + 1 < f.n && f.p[i + 1] == '{') { inf__tb_putc(&b, '{'); i++; continue; }
        size_t j = i + 1;
        while (j < f.n && f.p[j] != '}') j++;
        if (j >= f.n) FAIL(r, "Single '{' encountered in format string");
        tstr field = {f.p + i + 1, j - i - 1};
        if (memchr(field.p, ':', field.n) || memchr(field.p, '!', field.n))
            FAIL(r, "format specs in str.format() are not supported");
        tv v;
        if (field.n == 0) {
            if (auto_i >= n) FAIL(r, "Replacement index %zu out of range for positional args tuple", auto_i);
            v = args[auto_i++];
        } else if (field.p[0] >= '0' && field.p[0] <= '9') {
            size_t k = 0;
            for (size_t q = 0; q < field.n; q++) k = k * 10 + (size_t)(field.p[q] - '0');
            if (k >= n) FAIL(r, "Replacement index %zu out of range for positional args tuple", k);
            v = args[k];
        } else {
            size_t k;
            for (k = 0; k < nkw; k++) if (kwn[k].n == field.n && memcmp(kwn[k].p, field.p, field.n) == 0) break;
            if (k == nkw) FAIL(r, "KeyError: '%.*s'", (int)field.n, field.p);
            v = kwv[k];
        }
        inf__tv_str(&b, v);
        i = j;
    }
    return tv_strn(b.p ? b.p : "", b.n);
}

static int all_cp(tstr s, int kind) {
    if (s.n == 0) return 0;
    int cased = 0;
    for (size_t i = 0; i < s.n;) {
        int32_t cp;
        i += inf__ts_next(s.p, s.n, i, &cp);
        utf8proc_category_t c = utf8proc_category(cp);
        switch (kind) {
        case 0: if (c != UTF8PROC_CATEGORY_ND) return 0; break;
        case 1: if (!is_cased_letter(cp)) return 0; break;
        case 2: if (!is_cased_letter(cp) && c != UTF8PROC_CATEGORY_ND && c != UTF8PROC_CATEGORY_NL && c != UTF8PROC_CATEGORY_NO) return 0; break;
        case 3: if (!inf__ts_isspace(cp)) return 0; break;
        case 4: if (c == UTF8PROC_CATEGORY_LL) return 0; if (c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LT) cased = 1; break;
        case 5: if (c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LT) return 0; if (c == UTF8PROC_CATEGORY_LL) cased = 1; break;
        }
    }
    return kind >= 4 ? cased : 1;
}

tv inf__tmethod(trender *r, tv self, tstr name, tv *args, size_t n, tstr *kwn, tv *kwv, size_t nkw, int line) {
    (void)line;
    if (self.t == TV_STR) {
        tstr s = self.u.s;
        if (tstr_eq(name, "format")) return format(r, s, args, n, kwn, kwv, nkw);
        tv a[3];
        static const char *const p_strip[] = {"chars", NULL};
        static const char *const p_split[] = {"sep", "maxsplit", NULL};
        static const char *const p_affix[] = {"prefix", "start", "end", NULL};
        static const char *const p_repl[] = {"old", "new", "count", NULL};
        static const char *const p_one[] = {"x", "start", "end", NULL};
        static const char *const p_none[] = {NULL};
        static const char *const p_lines[] = {"keepends", NULL};
        int l = tstr_eq(name, "strip") || tstr_eq(name, "lstrip"), rr = tstr_eq(name, "strip") || tstr_eq(name, "rstrip");
        if (l || rr) {
            inf__tbind(r, "strip", p_strip, args, n, kwn, kwv, nkw, a, line);
            if (a[0].t == TV_UNDEF || a[0].t == TV_NONE) {
                tstr t = inf__ts_strip(s, NULL, l, rr);
                return tv_strn(t.p, t.n);
            }
            tstr ch = need_str(r, a[0], "strip argument");
            tstr t = inf__ts_strip(s, &ch, l, rr);
            return tv_strn(t.p, t.n);
        }
        if (tstr_eq(name, "split") || tstr_eq(name, "rsplit")) {
            inf__tbind(r, "split", p_split, args, n, kwn, kwv, nkw, a, line);
            long long ms = a[1].t == TV_INT ? a[1].u.i : -1;
            return split(r, s, a[0], ms, name.p[0] == 'r');
        }
        if (tstr_eq(name, "startswith") || tstr_eq(name, "endswith")) {
            inf__tbind(r, "startswith", p_affix, args, n, kwn, kwv, nkw, a, line);
            if (a[1].t != TV_UNDEF || a[2].t != TV_UNDEF) FAIL(r, "start/end arguments of %.*s are not supported", (int)name.n, name.p);
            return tv_bool(affix(r, s, a[0], name.p[0] == 'e'));
        }
        if (tstr_eq(name, "replace")) {
            inf__tbind(r, "replace", p_repl, args, n, kwn, kwv, nkw, a, line);
            long long cnt = a[2].t == TV_INT ? a[2].u.i : -1;
            tstr t = inf__ts_replace(r, s, need_str(r, a[0], "replace argument"), need_str(r, a[1], "replace argument"), cnt);
            return tv_strn(t.p, t.n);
        }
        int cm = tstr_eq(name, "upper") ? TCASE_UPPER : tstr_eq(name, "lower") ? TCASE_LOWER : tstr_eq(name, "title") ? TCASE_PYTITLE
               : tstr_eq(name, "capitalize") ? TCASE_CAPITALIZE : -1;
        if (cm >= 0) {
            inf__tbind(r, "str method", p_none, args, n, kwn, kwv, nkw, a, line);
            tstr t = inf__ts_case(r->c, s, cm);
            return tv_strn(t.p, t.n);
        }
        if (tstr_eq(name, "find") || tstr_eq(name, "rfind") || tstr_eq(name, "count")) {
            inf__tbind(r, "find", p_one, args, n, kwn, kwv, nkw, a, line);
            tstr sub = need_str(r, a[0], "argument");
            if (a[1].t != TV_UNDEF) FAIL(r, "start/end arguments are not supported");
            if (name.p[0] == 'c') {
                if (sub.n == 0) return tv_int((long long)inf__utf8_len(s.p, s.n) + 1);
                long long k = 0;
                for (size_t i = 0; i + sub.n <= s.n;) {
                    const char *h = memmem(s.p + i, s.n - i, sub.p, sub.n);
                    if (!h) break;
                    k++;
                    i = (size_t)(h - s.p) + sub.n;
                }
                return tv_int(k);
            }
            long long pos = -1;
            for (size_t i = 0; i + sub.n <= s.n; i++)
                if (memcmp(s.p + i, sub.p, sub.n) == 0) {
                    pos = (long long)i;
                    if (name.p[0] == 'f') break;
                }
            return tv_int(pos < 0 ? -1 : (long long)inf__utf8_len(s.p, (size_t)pos));
        }
        if (tstr_eq(name, "join")) {
            if (n != 1 || nkw) FAIL(r, "join() takes exactly one argument");
            tlist *it = inf__teval_iter(r, args[0], line);
            tbuf b;
            inf__tb_init(&b, r->c, r->out_limit);
            for (size_t i = 0; i < it->n; i++) {
                if (i) inf__tb_put(&b, s.p, s.n);
                inf__tb_put(&b, need_str(r, it->v[i], "sequence item").p, it->v[i].u.s.n);
            }
            return tv_strn(b.p ? b.p : "", b.n);
        }
        if (tstr_eq(name, "splitlines")) {
            inf__tbind(r, "splitlines", p_lines, args, n, kwn, kwv, nkw, a, line);
            int keep = inf__tv_truthy(a[0]);
            tlist *out = inf__tv_list_new(r->c, 0);
            size_t i = 0, st = 0;
            while (i < s.n) {
                size_t lb = inf__ts_linebreak(s.p, s.n, i);
                if (lb) {
                    size_t e = i + lb;
                    inf__tv_list_push(r->c, out, tv_strn(s.p + st, (keep ? e : i) - st));
                    st = i = e;
                } else i++;
            }
            if (st < s.n) inf__tv_list_push(r->c, out, tv_strn(s.p + st, s.n - st));
            return tv_list(out);
        }
        int k = tstr_eq(name, "isdigit") ? 0 : tstr_eq(name, "isalpha") ? 1 : tstr_eq(name, "isalnum") ? 2
              : tstr_eq(name, "isspace") ? 3 : tstr_eq(name, "isupper") ? 4 : tstr_eq(name, "islower") ? 5 : -1;
        if (k >= 0) return tv_bool(all_cp(s, k));
    } else if (self.t == TV_DICT) {
        tdict *d = self.u.d;
        if (tstr_eq(name, "items") || tstr_eq(name, "keys") || tstr_eq(name, "values")) {
            if (n || nkw) FAIL(r, "%.*s() takes no arguments", (int)name.n, name.p);
            tlist *l = inf__tv_list_new(r->c, d->n);
            for (size_t i = 0; i < d->n; i++) {
                if (name.p[0] == 'k') l->v[l->n++] = d->k[i];
                else if (name.p[0] == 'v') l->v[l->n++] = d->v[i];
                else {
                    tlist *p = inf__tv_list_new(r->c, 2);
                    p->tuple = 1;
                    p->v[0] = d->k[i];
                    p->v[1] = d->v[i];
                    p->n = 2;
                    l->v[l->n++] = tv_list(p);
                }
            }
            return tv_list(l);
        }
        if (tstr_eq(name, "get")) {
            static const char *const p_get[] = {"key", "default", NULL};
            tv a[2];
            inf__tbind(r, "get", p_get, args, n, kwn, kwv, nkw, a, line);
            tv *v = inf__tv_dict_find(d, a[0]);
            return v ? *v : (a[1].t == TV_UNDEF ? tv_none() : a[1]);
        }
        if (tstr_eq(name, "copy")) {
            tdict *c = inf__tv_dict_new(r->c, d->n);
            for (size_t i = 0; i < d->n; i++) inf__tv_dict_set(r->c, c, d->k[i], d->v[i]);
            return tv_dict(c);
        }
    } else if (self.t == TV_LIST) {
        tlist *l = self.u.l;
        if (tstr_eq(name, "copy")) return self;
        if ((tstr_eq(name, "index") || tstr_eq(name, "count")) && n == 1 && !nkw) {
            long long k = 0;
            for (size_t i = 0; i < l->n; i++)
                if (inf__tv_eq(l->v[i], args[0])) {
                    if (name.p[0] == 'i') return tv_int((long long)i);
                    k++;
                }
            if (name.p[0] == 'i') FAIL(r, "list.index(x): x not in list");
            return tv_int(k);
        }
    }
    FAIL(r, "'%s' has no method '%.*s' (or bad arguments)", inf__tv_type_name(self), (int)name.n, name.p);
}

void inf__tbind(trender *r, const char *what, const char *const *params, tv *args, size_t n, tstr *kwn, tv *kwv,
                size_t nkw, tv *outv, int line) {
    (void)line;
    size_t np = 0;
    while (params[np]) np++;
    for (size_t i = 0; i < np; i++) outv[i] = tv_undef();
    if (n > np) FAIL(r, "%s() takes at most %zu arguments (%zu given)", what, np, n);
    for (size_t i = 0; i < n; i++) outv[i] = args[i];
    for (size_t k = 0; k < nkw; k++) {
        size_t i;
        for (i = 0; i < np; i++) if (tstr_eq(kwn[k], params[i])) break;
        if (i == np) FAIL(r, "%s() got an unexpected keyword argument '%.*s'", what, (int)kwn[k].n, kwn[k].p);
        outv[i] = kwv[k];
    }
}
