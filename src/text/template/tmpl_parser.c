/* Parser: tokens -> AST.  Recursive descent with Jinja's precedence:
 * cond-expr < or < and < not < compare < + - < ~ < * / // % < ** < unary
 * < postfix (. [] ()) with filters (|) and tests (is) binding tightest.
 * Nesting depth is bounded so hostile templates cannot exhaust the stack. */
#include "text/template/tmpl_internal.h"

#include <stdio.h>
#include <string.h>

#define MAX_PARSE_DEPTH 200

typedef struct P {
    tctx *c;
    ttoken *t;
    size_t i, n;
    int depth;
    int loops;   /* for-loop nesting (break/continue need one) */
    int macros;  /* inside a macro: loops restart counting */
} P;

typedef struct nvec { tnode **v; size_t n, cap; } nvec;
static void nv_push(P *p, nvec *v, tnode *x) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        tnode **nv = inf__tc_alloc(p->c, cap * sizeof *nv);
        if (v->n) memcpy(nv, v->v, v->n * sizeof *nv);
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = x;
}
typedef struct svec { tstr *v; size_t n, cap; } svec;
static void sv_push(P *p, svec *v, tstr x) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        tstr *nv = inf__tc_alloc(p->c, cap * sizeof *nv);
        if (v->n) memcpy(nv, v->v, v->n * sizeof *nv);
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = x;
}

static ttoken *cur(P *p) { return &p->t[p->i]; }
static ttoken *peek(P *p, size_t k) { return p->i + k < p->n ? &p->t[p->i + k] : &p->t[p->n - 1]; }
static void adv(P *p) { if (p->i + 1 < p->n) p->i++; }

static _Noreturn void fail(P *p, const char *what) {
    ttoken *t = cur(p);
    const char *desc = t->type == TK_EOF ? "end of template" : t->type == TK_BLOCK_END ? "end of statement block"
                     : t->type == TK_VAR_END ? "end of print statement" : NULL;
    if (desc)
        inf__tc_fail(p->c, INF_E_TEMPLATE, "template syntax error at line %d: %s (got %s)", t->line, what, desc);
    inf__tc_fail(p->c, INF_E_TEMPLATE, "template syntax error at line %d: %s (got '%.*s')", t->line, what,
                 (int)(t->s.n > 40 ? 40 : t->s.n), t->s.p);
}
static int is_op(P *p, const char *op) { return cur(p)->type == TK_OP && tstr_eq(cur(p)->s, op); }
static int is_name(P *p, const char *nm) { return cur(p)->type == TK_NAME && tstr_eq(cur(p)->s, nm); }
static void expect_op(P *p, const char *op) {
    if (!is_op(p, op)) {
        char m[64];
        memcpy(m, "expected '", 10);
        size_t k = strlen(op);
        memcpy(m + 10, op, k);
        m[10 + k] = '\'';
        m[11 + k] = '\0';
        fail(p, m);
    }
    adv(p);
}
static tstr expect_name(P *p) {
    if (cur(p)->type != TK_NAME) fail(p, "expected a name");
    tstr s = cur(p)->s;
    adv(p);
    return s;
}
static void expect_block_end(P *p) {
    if (cur(p)->type != TK_BLOCK_END) fail(p, "expected end of statement block");
    adv(p);
}

static tnode *mk(P *p, int kind) {
    tnode *x = inf__tc_alloc(p->c, sizeof *x);
    x->kind = kind;
    x->line = cur(p)->line;
    return x;
}

static void enter(P *p) {
    if (++p->depth > MAX_PARSE_DEPTH)
        inf__tc_fail(p->c, INF_E_LIMIT, "template syntax error at line %d: nesting deeper than %d", cur(p)->line, MAX_PARSE_DEPTH);
}
static void leave(P *p) { p->depth--; }

static tnode *parse_expr(P *p);
static tnode *parse_or(P *p);
static tnode *parse_unary(P *p, int with_filter);
static tnode *parse_primary(P *p);
static tnode *parse_postfix(P *p, tnode *e);

/* expr [, expr ...] -> a tuple when there is a comma (and always when
 * explicit_parens had no element). */
static tnode *parse_tuple(P *p, int no_condexpr) {
    nvec v = {0};
    int comma = 0;
    for (;;) {
        if (v.n && (cur(p)->type == TK_VAR_END || cur(p)->type == TK_BLOCK_END || is_op(p, ")") || is_name(p, "if")))
            break;
        nv_push(p, &v, no_condexpr ? parse_or(p) : parse_expr(p));
        if (!is_op(p, ",")) break;
        comma = 1;
        adv(p);
    }
    if (!comma) return v.v[0];
    tnode *t = mk(p, E_TUPLE);
    t->items = v.v;
    t->n = v.n;
    return t;
}

static tnode *parse_expr(P *p) {
    enter(p);
    tnode *e = parse_or(p);
    while (is_name(p, "if")) {
        adv(p);
        tnode *x = mk(p, E_COND);
        x->a = e;
        x->b = parse_or(p);
        if (is_name(p, "else")) {
            adv(p);
            x->c = parse_expr(p);
        }
        e = x;
    }
    leave(p);
    return e;
}

static tnode *bin(P *p, int kind, int op, tnode *a, tnode *b) {
    tnode *x = mk(p, kind);
    x->op = op;
    x->a = a;
    x->b = b;
    return x;
}

static tnode *parse_not(P *p);
static tnode *parse_and(P *p) {
    tnode *e = parse_not(p);
    while (is_name(p, "and")) { adv(p); e = bin(p, E_AND, 0, e, parse_not(p)); }
    return e;
}
static tnode *parse_or(P *p) {
    tnode *e = parse_and(p);
    while (is_name(p, "or")) { adv(p); e = bin(p, E_OR, 0, e, parse_and(p)); }
    return e;
}
static tnode *parse_math1(P *p);
static tnode *parse_compare(P *p) {
    tnode *e = parse_math1(p);
    tnode *result = NULL;
    for (;;) {
        int op = -1;
        if (is_op(p, "==")) op = OP_EQ;
        else if (is_op(p, "!=")) op = OP_NE;
        else if (is_op(p, "<")) op = OP_LT;
        else if (is_op(p, "<=")) op = OP_LE;
        else if (is_op(p, ">")) op = OP_GT;
        else if (is_op(p, ">=")) op = OP_GE;
        else if (is_name(p, "in")) op = OP_IN;
        else if (is_name(p, "not") && peek(p, 1)->type == TK_NAME && tstr_eq(peek(p, 1)->s, "in")) { op = OP_NOTIN; adv(p); }
        if (op < 0) break;
        adv(p);
        tnode *rhs = parse_math1(p);
        /* a < b < c == (a < b) and (b < c); b is evaluated twice, which is
         * harmless because expressions have no side effects here */
        tnode *cmp = bin(p, E_CMP, op, e, rhs);
        result = result ? bin(p, E_AND, 0, result, cmp) : cmp;
        e = rhs;
    }
    return result ? result : e;
}
static tnode *parse_not(P *p) {
    if (is_name(p, "not")) {
        enter(p);
        adv(p);
        tnode *x = mk(p, E_NOT);
        x->a = parse_not(p);
        leave(p);
        return x;
    }
    return parse_compare(p);
}
static tnode *parse_math2(P *p);
static tnode *parse_concat(P *p) {
    tnode *e = parse_math2(p);
    while (is_op(p, "~")) { adv(p); e = bin(p, E_BIN, OP_CONCAT, e, parse_math2(p)); }
    return e;
}
static tnode *parse_math1(P *p) {
    tnode *e = parse_concat(p);
    for (;;) {
        if (is_op(p, "+")) { adv(p); e = bin(p, E_BIN, OP_ADD, e, parse_concat(p)); }
        else if (is_op(p, "-")) { adv(p); e = bin(p, E_BIN, OP_SUB, e, parse_concat(p)); }
        else return e;
    }
}
static tnode *parse_pow(P *p) {
    tnode *e = parse_unary(p, 1);
    while (is_op(p, "**")) { adv(p); e = bin(p, E_BIN, OP_POW, e, parse_unary(p, 1)); }
    return e;
}
static tnode *parse_math2(P *p) {
    tnode *e = parse_pow(p);
    for (;;) {
        int op = is_op(p, "*") ? OP_MUL : is_op(p, "/") ? OP_DIV : is_op(p, "//") ? OP_FLOORDIV : is_op(p, "%") ? OP_MOD : -1;
        if (op < 0) return e;
        adv(p);
        e = bin(p, E_BIN, op, e, parse_pow(p));
    }
}

/* ( args ) after the '(' was seen: positional and name=value arguments. */
static void parse_args(P *p, tnode *x) {
    expect_op(p, "(");
    nvec pos = {0}, kwv = {0};
    svec kwn = {0};
    while (!is_op(p, ")")) {
        if (pos.n || kwv.n) expect_op(p, ",");
        if (is_op(p, ")")) break;
        if (cur(p)->type == TK_NAME && peek(p, 1)->type == TK_OP && tstr_eq(peek(p, 1)->s, "=")) {
            tstr k = cur(p)->s;
            adv(p);
            adv(p);
            sv_push(p, &kwn, k);
            nv_push(p, &kwv, parse_expr(p));
        } else {
            if (kwv.n) fail(p, "positional argument after keyword argument");
            if (is_op(p, "*")) fail(p, "*args in calls is not supported");
            nv_push(p, &pos, parse_expr(p));
        }
    }
    adv(p);
    x->items = pos.v;
    x->n = pos.n;
    x->items2 = kwv.v;
    x->n2 = kwv.n;
    x->names = kwn.v;
    x->nnames = kwn.n;
}

static tnode *parse_filter_expr(P *p, tnode *e) {
    for (;;) {
        if (is_op(p, "|")) {
            adv(p);
            tnode *f = mk(p, E_FILTER);
            f->a = e;
            f->name = expect_name(p);
            while (is_op(p, ".")) { /* dotted filter names: keep the last part */
                adv(p);
                f->name = expect_name(p);
            }
            if (is_op(p, "(")) parse_args(p, f);
            e = f;
        } else if (is_name(p, "is")) {
            adv(p);
            tnode *t = mk(p, E_TEST);
            t->a = e;
            if (is_name(p, "not")) { adv(p); t->op = 1; }
            t->name = expect_name(p);
            if (is_op(p, "(")) parse_args(p, t);
            else {
                ttoken *k = cur(p);
                int starts = k->type == TK_NAME || k->type == TK_STRING || k->type == TK_INT || k->type == TK_FLOAT ||
                             (k->type == TK_OP && (tstr_eq(k->s, "(") || tstr_eq(k->s, "[") || tstr_eq(k->s, "{")));
                if (starts && !is_name(p, "else") && !is_name(p, "or") && !is_name(p, "and")) {
                    if (is_name(p, "is")) fail(p, "cannot chain multiple tests with is");
                    tnode *arg = parse_postfix(p, parse_primary(p));
                    t->items = inf__tc_alloc(p->c, sizeof(tnode *));
                    t->items[0] = arg;
                    t->n = 1;
                }
            }
            e = t;
        } else if (is_op(p, "(")) {
            tnode *x = mk(p, E_CALL);
            x->a = e;
            parse_args(p, x);
            e = x;
        } else return e;
    }
}

static tnode *parse_unary(P *p, int with_filter) {
    enter(p);
    tnode *e;
    if (is_op(p, "-") || is_op(p, "+")) {
        int neg = is_op(p, "-");
        adv(p);
        e = mk(p, neg ? E_NEG : E_POS);
        e->a = parse_unary(p, 0);
    } else e = parse_primary(p);
    e = parse_postfix(p, e);
    if (with_filter) e = parse_filter_expr(p, e);
    leave(p);
    return e;
}

static tnode *parse_subscript(P *p, tnode *obj) {
    /* after '[' */
    tnode *parts[3] = {NULL, NULL, NULL};
    int slice = 0, k = 0;
    for (;;) {
        if (is_op(p, ":")) {
            if (++k > 2) fail(p, "bad slice");
            slice = 1;
            adv(p);
            continue;
        }
        if (is_op(p, "]")) break;
        if (parts[k]) fail(p, "expected ']'");
        parts[k] = parse_expr(p);
    }
    adv(p);
    if (!slice) {
        if (!parts[0]) fail(p, "empty subscript");
        tnode *x = mk(p, E_ITEM);
        x->a = obj;
        x->b = parts[0];
        return x;
    }
    tnode *x = mk(p, E_SLICE);
    x->a = obj;
    x->b = parts[0];
    x->c = parts[1];
    x->d = parts[2];
    return x;
}

static tnode *parse_postfix(P *p, tnode *e) {
    for (;;) {
        if (is_op(p, ".")) {
            adv(p);
            if (cur(p)->type == TK_INT) {
                tnode *x = mk(p, E_ITEM);
                tnode *k = mk(p, E_CONST);
                k->val = tv_int(cur(p)->i);
                adv(p);
                x->a = e;
                x->b = k;
                e = x;
                continue;
            }
            tnode *x = mk(p, E_ATTR);
            x->a = e;
            x->name = expect_name(p);
            e = x;
        } else if (is_op(p, "[")) {
            adv(p);
            enter(p);
            e = parse_subscript(p, e);
            leave(p);
        } else if (is_op(p, "(")) {
            tnode *x = mk(p, E_CALL);
            x->a = e;
            enter(p);
            parse_args(p, x);
            leave(p);
            e = x;
        } else return e;
    }
}

static tnode *parse_primary(P *p) {
    ttoken *t = cur(p);
    tnode *x;
    switch (t->type) {
    case TK_NAME:
        x = mk(p, E_CONST);
        if (tstr_eq(t->s, "true") || tstr_eq(t->s, "True")) x->val = tv_bool(1);
        else if (tstr_eq(t->s, "false") || tstr_eq(t->s, "False")) x->val = tv_bool(0);
        else if (tstr_eq(t->s, "none") || tstr_eq(t->s, "None")) x->val = tv_none();
        else { x->kind = E_NAME; x->name = t->s; }
        adv(p);
        return x;
    case TK_STRING: {
        x = mk(p, E_CONST);
        tbuf b;
        inf__tb_init(&b, p->c, 0);
        size_t nparts = 0;
        tstr first = t->s;
        while (cur(p)->type == TK_STRING) { /* "a" "b" concatenates */
            if (nparts++ == 1) inf__tb_put(&b, first.p, first.n);
            if (nparts > 1) inf__tb_put(&b, cur(p)->s.p, cur(p)->s.n);
            adv(p);
        }
        x->val = nparts > 1 ? tv_strn(b.p ? b.p : "", b.n) : tv_strn(first.p, first.n);
        return x;
    }
    case TK_INT:
        x = mk(p, E_CONST);
        x->val = tv_int(t->i);
        adv(p);
        return x;
    case TK_FLOAT:
        x = mk(p, E_CONST);
        x->val = tv_float(t->f);
        adv(p);
        return x;
    case TK_OP:
        if (tstr_eq(t->s, "(")) {
            adv(p);
            enter(p);
            if (is_op(p, ")")) {
                adv(p);
                x = mk(p, E_TUPLE);
                leave(p);
                return x;
            }
            x = parse_tuple(p, 0);
            expect_op(p, ")");
            leave(p);
            return x;
        }
        if (tstr_eq(t->s, "[")) {
            adv(p);
            enter(p);
            x = mk(p, E_LIST);
            nvec v = {0};
            while (!is_op(p, "]")) {
                if (v.n) expect_op(p, ",");
                if (is_op(p, "]")) break;
                nv_push(p, &v, parse_expr(p));
            }
            adv(p);
            x->items = v.v;
            x->n = v.n;
            leave(p);
            return x;
        }
        if (tstr_eq(t->s, "{")) {
            adv(p);
            enter(p);
            x = mk(p, E_DICT);
            nvec k = {0}, v = {0};
            while (!is_op(p, "}")) {
                if (k.n) expect_op(p, ",");
                if (is_op(p, "}")) break;
                nv_push(p, &k, parse_expr(p));
                expect_op(p, ":");
                nv_push(p, &v, parse_expr(p));
            }
            adv(p);
            x->items = k.v;
            x->n = k.n;
            x->items2 = v.v;
            x->n2 = v.n;
            leave(p);
            return x;
        }
        break;
    default:
        break;
    }
    fail(p, "unexpected token in expression");
}

/* ---- statements -------------------------------------------------------- */

static tnode *parse_body(P *p, const char *const *ends);

/* name [, name ...] or (name, name) */
static void parse_targets(P *p, svec *out) {
    int paren = 0;
    if (is_op(p, "(")) { paren = 1; adv(p); }
    for (;;) {
        sv_push(p, out, expect_name(p));
        if (!is_op(p, ",")) break;
        adv(p);
        if (paren && is_op(p, ")")) break;
    }
    if (paren) expect_op(p, ")");
}

/* Filter chain of {% filter %} / {% set x | f %}, applied to E_INPUT. */
static tnode *parse_filter_chain(P *p, int leading_pipe) {
    tnode *in = mk(p, E_INPUT);
    if (!leading_pipe) {
        tnode *f = mk(p, E_FILTER);
        f->a = in;
        f->name = expect_name(p);
        if (is_op(p, "(")) parse_args(p, f);
        in = f;
    }
    return parse_filter_expr(p, in);
}

static tnode *parse_stmt(P *p) {
    /* cur is the keyword after TK_BLOCK_BEGIN */
    int line = cur(p)->line;
    tstr kw = expect_name(p);
    tnode *x;
    if (tstr_eq(kw, "if")) {
        x = mk(p, N_IF);
        x->line = line;
        x->a = parse_expr(p);
        expect_block_end(p);
        static const char *const ends[] = {"elif", "else", "endif", NULL};
        x->b = parse_body(p, ends);
        tnode *tail = x;
        for (;;) {
            if (is_name(p, "elif")) {
                adv(p);
                tnode *e = mk(p, N_IF);
                e->a = parse_expr(p);
                expect_block_end(p);
                e->b = parse_body(p, ends);
                tail->c = e;
                tail = e;
            } else if (is_name(p, "else")) {
                adv(p);
                expect_block_end(p);
                static const char *const ends2[] = {"endif", NULL};
                tail->c = parse_body(p, ends2);
            } else {
                adv(p); /* endif */
                expect_block_end(p);
                return x;
            }
        }
    }
    if (tstr_eq(kw, "for")) {
        x = mk(p, N_FOR);
        x->line = line;
        svec t = {0};
        parse_targets(p, &t);
        x->names = t.v;
        x->nnames = t.n;
        if (!is_name(p, "in")) fail(p, "expected 'in'");
        adv(p);
        x->a = parse_tuple(p, 1);
        if (is_name(p, "if")) {
            adv(p);
            x->d = parse_expr(p);
        }
        if (is_name(p, "recursive")) fail(p, "recursive for loops are not supported");
        expect_block_end(p);
        static const char *const ends[] = {"else", "endfor", NULL};
        p->loops++;
        x->b = parse_body(p, ends);
        p->loops--;
        if (is_name(p, "else")) {
            adv(p);
            expect_block_end(p);
            static const char *const ends2[] = {"endfor", NULL};
            x->c = parse_body(p, ends2);
        }
        adv(p);
        expect_block_end(p);
        return x;
    }
    if (tstr_eq(kw, "set")) {
        svec t = {0};
        tstr attr = {NULL, 0};
        if (cur(p)->type == TK_NAME && peek(p, 1)->type == TK_OP && tstr_eq(peek(p, 1)->s, ".")) {
            sv_push(p, &t, expect_name(p));
            adv(p);
            attr = expect_name(p);
        } else parse_targets(p, &t);
        if (is_op(p, "=")) {
            adv(p);
            x = mk(p, N_SET);
            x->line = line;
            x->a = parse_tuple(p, 0);
            expect_block_end(p);
        } else {
            if (t.n != 1 || attr.p) fail(p, "block set needs a single name");
            x = mk(p, N_SETBLOCK);
            x->line = line;
            if (is_op(p, "|")) x->a = parse_filter_chain(p, 1);
            expect_block_end(p);
            static const char *const ends[] = {"endset", NULL};
            x->b = parse_body(p, ends);
            adv(p);
            expect_block_end(p);
        }
        x->names = t.v;
        x->nnames = t.n;
        x->name2 = attr;
        return x;
    }
    if (tstr_eq(kw, "macro")) {
        x = mk(p, N_MACRO);
        x->line = line;
        x->name = expect_name(p);
        expect_op(p, "(");
        svec names = {0};
        nvec defs = {0};
        while (!is_op(p, ")")) {
            if (names.n) expect_op(p, ",");
            if (is_op(p, ")")) break;
            sv_push(p, &names, expect_name(p));
            if (is_op(p, "=")) {
                adv(p);
                nv_push(p, &defs, parse_expr(p));
            } else {
                if (defs.n && defs.v[defs.n - 1]) fail(p, "non-default argument follows default argument");
                nv_push(p, &defs, NULL);
            }
        }
        adv(p);
        expect_block_end(p);
        x->names = names.v;
        x->nnames = names.n;
        x->items = defs.v;
        x->n = defs.n;
        static const char *const ends[] = {"endmacro", NULL};
        int saved = p->loops;
        p->loops = 0;
        x->b = parse_body(p, ends);
        p->loops = saved;
        adv(p);
        if (cur(p)->type == TK_NAME) adv(p); /* {% endmacro name %} */
        expect_block_end(p);
        return x;
    }
    if (tstr_eq(kw, "call")) {
        x = mk(p, N_CALLBLOCK);
        x->line = line;
        if (is_op(p, "(")) {
            /* caller parameters */
            adv(p);
            svec names = {0};
            nvec defs = {0};
            while (!is_op(p, ")")) {
                if (names.n) expect_op(p, ",");
                if (is_op(p, ")")) break;
                sv_push(p, &names, expect_name(p));
                if (is_op(p, "=")) { adv(p); nv_push(p, &defs, parse_expr(p)); }
                else nv_push(p, &defs, NULL);
            }
            adv(p);
            x->names = names.v;
            x->nnames = names.n;
            x->items = defs.v;
            x->n = defs.n;
        }
        x->a = parse_expr(p);
        if (x->a->kind != E_CALL) fail(p, "expected a macro call");
        expect_block_end(p);
        static const char *const ends[] = {"endcall", NULL};
        int saved = p->loops;
        p->loops = 0;
        x->b = parse_body(p, ends);
        p->loops = saved;
        adv(p);
        expect_block_end(p);
        return x;
    }
    if (tstr_eq(kw, "filter")) {
        x = mk(p, N_FILTERBLOCK);
        x->line = line;
        x->a = parse_filter_chain(p, 0);
        expect_block_end(p);
        static const char *const ends[] = {"endfilter", NULL};
        x->b = parse_body(p, ends);
        adv(p);
        expect_block_end(p);
        return x;
    }
    if (tstr_eq(kw, "break") || tstr_eq(kw, "continue")) {
        if (!p->loops) {
            p->i--;
            fail(p, "break/continue outside of a loop");
        }
        x = mk(p, tstr_eq(kw, "break") ? N_BREAK : N_CONTINUE);
        x->line = line;
        expect_block_end(p);
        return x;
    }
    if (tstr_eq(kw, "with")) {
        x = mk(p, N_WITH);
        x->line = line;
        svec names = {0};
        nvec vals = {0};
        while (cur(p)->type != TK_BLOCK_END) {
            if (names.n) expect_op(p, ",");
            sv_push(p, &names, expect_name(p));
            expect_op(p, "=");
            nv_push(p, &vals, parse_expr(p));
        }
        expect_block_end(p);
        x->names = names.v;
        x->nnames = names.n;
        x->items = vals.v;
        x->n = vals.n;
        static const char *const ends[] = {"endwith", NULL};
        x->b = parse_body(p, ends);
        adv(p);
        expect_block_end(p);
        return x;
    }
    if (tstr_eq(kw, "generation") || tstr_eq(kw, "autoescape")) {
        /* transformers' {% generation %} marks assistant text for masks;
         * rendering is unaffected.  autoescape is off in chat templates. */
        int gen = tstr_eq(kw, "generation");
        if (!gen) (void)parse_expr(p);
        expect_block_end(p);
        static const char *const e1[] = {"endgeneration", NULL};
        static const char *const e2[] = {"endautoescape", NULL};
        x = parse_body(p, gen ? e1 : e2);
        adv(p);
        expect_block_end(p);
        return x;
    }
    p->i--;
    inf__tc_fail(p->c, INF_E_TEMPLATE, "template syntax error at line %d: unsupported or unknown tag '%.*s'", line,
                 (int)(kw.n > 40 ? 40 : kw.n), kw.p);
}

/* Statements until a {% NAME %} with NAME in ends (left at the NAME), or
 * the end of input when ends is NULL. */
static tnode *parse_body(P *p, const char *const *ends) {
    enter(p);
    tnode *blk = mk(p, N_BLOCK);
    nvec v = {0};
    for (;;) {
        ttoken *t = cur(p);
        if (t->type == TK_EOF) {
            if (ends) {
                size_t last = 0;
                while (ends[last + 1]) last++;
                char m[96];
                snprintf(m, sizeof m, "missing '{%% %s %%}'", ends[last]);
                fail(p, m);
            }
            break;
        }
        if (t->type == TK_TEXT) {
            tnode *x = mk(p, N_TEXT);
            x->name = t->s;
            nv_push(p, &v, x);
            adv(p);
        } else if (t->type == TK_VAR_BEGIN) {
            adv(p);
            tnode *x = mk(p, N_OUT);
            x->a = parse_tuple(p, 0);
            if (cur(p)->type != TK_VAR_END) fail(p, "expected '}}'");
            adv(p);
            nv_push(p, &v, x);
        } else if (t->type == TK_BLOCK_BEGIN) {
            adv(p);
            if (cur(p)->type != TK_NAME) fail(p, "expected a tag name");
            if (ends)
                for (int i = 0; ends[i]; i++)
                    if (tstr_eq(cur(p)->s, ends[i])) goto done;
            nv_push(p, &v, parse_stmt(p));
        } else fail(p, "unexpected token");
    }
done:
    blk->items = v.v;
    blk->n = v.n;
    leave(p);
    return blk;
}

tnode *inf__tparse(tctx *c, const char *src, size_t n) {
    P p;
    memset(&p, 0, sizeof p);
    p.c = c;
    p.t = inf__tlex(c, src, n, &p.n);
    tnode *root = parse_body(&p, NULL);
    return root;
}
