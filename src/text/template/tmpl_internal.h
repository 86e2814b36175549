/* Internal interface of the chat-template Jinja engine.
 *
 * Layout: tmpl_arena.c (memory + error context), tmpl_lexer.c (source ->
 * tokens, whitespace control), tmpl_parser.c (tokens -> AST), tmpl_value.c
 * (values: str/repr/tojson/compare/JSON import), tmpl_eval.c (statements and
 * expressions), tmpl_filters.c (filters, tests), tmpl_methods.c (str/dict
 * methods), chat_template.c (the chat layer).
 *
 * Memory: everything a parse or a render allocates comes from one arena
 * (tctx) that is released in one go.  Errors inside the engine longjmp back
 * to the entry point that owns the arena (inf__tc_fail), so a failure deep
 * in an expression needs no unwinding code and can never leak: the arena is
 * the only owner.  Nothing outside the engine sees a longjmp; the public
 * functions return inf_status codes. */
#ifndef INF_TMPL_INTERNAL_H
#define INF_TMPL_INTERNAL_H

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* ---- arena + error context ------------------------------------------- */

typedef struct tchunk tchunk;
typedef struct tctx {
    tchunk *chunks;
    size_t total;      /* bytes allocated so far */
    size_t limit;      /* allocation budget; exceeding it is an E_LIMIT error */
    jmp_buf jb;        /* set by the entry point that owns this context */
    inf__err *err;     /* where failure messages go (never NULL inside) */
} tctx;

/* Initialises c with an allocation budget; c->jb must be set with setjmp
 * before anything can fail.  err must not be NULL. */
void inf__tc_init(tctx *c, size_t limit, inf__err *err);
/* Releases every allocation of c (safe on an initialised, empty c). */
void inf__tc_release(tctx *c);
/* Zeroed, max-aligned memory of n bytes; fails (longjmp) past the limit. */
void *inf__tc_alloc(tctx *c, size_t n);
/* Records code + message in c->err and longjmps to c->jb. */
_Noreturn void inf__tc_fail(tctx *c, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Copies p[n] into the arena and NUL-terminates it. */
char *inf__tc_strdup(tctx *c, const char *p, size_t n);

typedef struct tstr { const char *p; size_t n; } tstr;

/* Growable byte buffer in the arena; `limit` bounds its length (0: none). */
typedef struct tbuf { tctx *c; char *p; size_t n, cap, limit; } tbuf;
void inf__tb_init(tbuf *b, tctx *c, size_t limit);
void inf__tb_put(tbuf *b, const char *p, size_t n);
void inf__tb_puts(tbuf *b, const char *s);
void inf__tb_putc(tbuf *b, char ch);
void inf__tb_printf(tbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static inline int tstr_eq(tstr a, const char *s) {
    size_t i = 0;
    for (; i < a.n; i++) if (s[i] != a.p[i] || !s[i]) return 0;
    return s[i] == '\0';
}

/* ---- values ----------------------------------------------------------- */

enum {
    TV_UNDEF, TV_NONE, TV_BOOL, TV_INT, TV_FLOAT, TV_STR, TV_LIST, TV_DICT,
    TV_MACRO, TV_NS, TV_LOOP, TV_BOUND, TV_BUILTIN
};

typedef struct tv tv;
typedef struct tlist tlist;
typedef struct tdict tdict;
struct tnode;
struct tframe;

struct tv {
    int t;
    union {
        int b;
        long long i;
        double f;
        tstr s;                 /* TV_STR; TV_UNDEF: the missing name (may be empty) */
        tlist *l;               /* TV_LIST (tuples too) */
        tdict *d;               /* TV_DICT, TV_NS (namespace attributes) */
        struct tmacro *m;
        struct tloop *lp;
        struct tbound *bm;      /* a method bound to its object */
        int fn;                 /* TV_BUILTIN: which global function */
    } u;
};
/* lazy: the result of a filter that Jinja2 implements as a generator (map,
 * select, unique, ...): always true, no len(), prints as a generator. */
struct tlist { tv *v; size_t n, cap; int tuple; int lazy; };
struct tdict { tv *k; tv *v; size_t n, cap; };
typedef struct tmacro { struct tnode *def; struct tframe *scope; } tmacro;
typedef struct tbound { tv self; tstr name; } tbound;
typedef struct tloop {
    tlist *items;
    size_t index0;
    int depth0;
    struct trender *r;          /* for loop.cycle */
} tloop;

enum { BI_RANGE, BI_NAMESPACE, BI_DICT, BI_RAISE, BI_STRFTIME, BI_CYCLER_UNUSED };

static inline tv tv_undef(void) { tv v; v.t = TV_UNDEF; v.u.s.p = ""; v.u.s.n = 0; return v; }
static inline tv tv_none(void) { tv v; v.t = TV_NONE; v.u.i = 0; return v; }
static inline tv tv_bool(int b) { tv v; v.t = TV_BOOL; v.u.b = b ? 1 : 0; return v; }
static inline tv tv_int(long long i) { tv v; v.t = TV_INT; v.u.i = i; return v; }
static inline tv tv_float(double f) { tv v; v.t = TV_FLOAT; v.u.f = f; return v; }
static inline tv tv_strn(const char *p, size_t n) { tv v; v.t = TV_STR; v.u.s.p = p; v.u.s.n = n; return v; }

tlist *inf__tv_list_new(tctx *c, size_t cap);
void inf__tv_list_push(tctx *c, tlist *l, tv x);
tdict *inf__tv_dict_new(tctx *c, size_t cap);
/* Inserts or replaces key k. */
void inf__tv_dict_set(tctx *c, tdict *d, tv k, tv x);
/* Pointer to the value under k, or NULL. */
tv *inf__tv_dict_find(const tdict *d, tv k);
tv *inf__tv_dict_find_str(const tdict *d, const char *p, size_t n);
static inline tv tv_list(tlist *l) { tv v; v.t = TV_LIST; v.u.l = l; return v; }
static inline tv tv_dict(tdict *d) { tv v; v.t = TV_DICT; v.u.d = d; return v; }

/* Python truthiness. */
int inf__tv_truthy(tv x);
/* Python ==, across int/float/bool like Python. */
int inf__tv_eq(tv a, tv b);
/* Python ordering (<0, 0, >0); fails with a TypeError-like message when
 * the types cannot be ordered. */
int inf__tv_cmp(tctx *c, tv a, tv b);
/* Appends str(x) / repr(x) as Python prints them. */
void inf__tv_str(tbuf *b, tv x);
void inf__tv_repr(tbuf *b, tv x);
/* str(x) as an arena string. */
tstr inf__tv_to_tstr(tctx *c, tv x);
/* json.dumps(x, ensure_ascii, indent (NULL: none), separators, sort_keys)
 * as transformers' tojson filter calls it.  item_sep/key_sep NULL: Python's
 * defaults (", " or "," with indent, and ": "). */
typedef struct tjson_opts {
    const char *indent;
    const char *item_sep, *key_sep;
    int sort_keys, ensure_ascii;
} tjson_opts;
void inf__tv_tojson(tbuf *b, tv x, const tjson_opts *o);
/* Python float repr (shortest round-trip, "1.0", "1e+16", "inf", "nan"). */
void inf__tv_float_repr(tbuf *b, double f);
/* Type name as Jinja error messages spell it ("dict object", "str object"). */
const char *inf__tv_type_name(tv x);
/* Imports a jansson value (json_t*) into the arena. */
tv inf__tv_from_json(tctx *c, const void *json, int depth);

/* UTF-8 helpers (Python strings index code points). */
size_t inf__utf8_len(const char *p, size_t n);
/* Byte offset of code point i (clamped to n). */
size_t inf__utf8_offset(const char *p, size_t n, size_t i);

/* ---- lexer ------------------------------------------------------------ */

enum {
    TK_EOF, TK_TEXT, TK_VAR_BEGIN, TK_VAR_END, TK_BLOCK_BEGIN, TK_BLOCK_END,
    TK_NAME, TK_STRING, TK_INT, TK_FLOAT, TK_OP
};
typedef struct ttoken {
    int type;
    int line;
    tstr s;          /* TEXT/NAME/OP: the text; STRING: the decoded value */
    long long i;
    double f;
} ttoken;
/* Tokenises src with trim_blocks and lstrip_blocks on (as transformers
 * configures Jinja).  Returns an arena array ending with TK_EOF. */
ttoken *inf__tlex(tctx *c, const char *src, size_t n, size_t *ntok);

/* ---- AST -------------------------------------------------------------- */

enum {
    /* statements */
    N_BLOCK, N_TEXT, N_OUT, N_IF, N_FOR, N_SET, N_SETBLOCK, N_MACRO,
    N_FILTERBLOCK, N_BREAK, N_CONTINUE, N_WITH, N_CALLBLOCK,
    /* expressions */
    E_CONST, E_NAME, E_ATTR, E_ITEM, E_SLICE, E_CALL, E_FILTER, E_TEST,
    E_BIN, E_NEG, E_POS, E_NOT, E_AND, E_OR, E_CMP, E_COND, E_LIST, E_TUPLE,
    E_DICT, E_INPUT
};
/* Binary / comparison operators. */
enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW, OP_CONCAT,
       OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_IN, OP_NOTIN };

typedef struct tnode tnode;
struct tnode {
    int kind, op, line;
    tnode *a, *b, *c, *d;
    tnode **items; size_t n;     /* block statements, args, list items, dict keys, param defaults(NULL=none) */
    tnode **items2; size_t n2;   /* kwarg values, dict values */
    tstr *names; size_t nnames;  /* kwarg names, loop/set targets, macro params */
    tstr name, name2;
    tv val;
};
/* Parses a template into an AST (N_BLOCK). */
tnode *inf__tparse(tctx *c, const char *src, size_t n);

/* ---- evaluation ------------------------------------------------------- */

typedef struct tframe { struct tframe *parent; tdict *vars; } tframe;

typedef struct trender {
    tctx *c;
    tbuf *out;             /* where output currently goes */
    tframe *globals;
    tframe *scope;         /* innermost frame */
    size_t iters, iter_limit;
    int depth, depth_limit;
    size_t out_limit;
    int loop_ctl;          /* 1 break, 2 continue pending */
    int loop_depth;
    tv block_input;        /* value E_INPUT evaluates to (filter blocks) */
    tv caller;             /* the caller() macro inside a call block */
} trender;

/* Renders root with variables `globals` into *out (arena string). */
void inf__teval_render(trender *r, tnode *root, tstr *out);
tv inf__teval_expr(trender *r, tnode *e);
/* Calls a callable value (macro, builtin, bound method). */
tv inf__teval_call(trender *r, tv fn, tv *args, size_t n, tstr *kwn, tv *kwv,
                   size_t nkw, int line);
/* Attribute / item access as Jinja does (missing -> undefined). */
tv inf__teval_getattr(trender *r, tv obj, tstr name, int line);
tv inf__teval_getitem(trender *r, tv obj, tv key, int line);
/* Iterates: materialises an iterable value as a list (dict -> keys,
 * string -> characters, undefined -> empty). */
tlist *inf__teval_iter(trender *r, tv x, int line);
/* Python's `a % b` (numbers, or printf-style string formatting). */
tv inf__teval_binop_mod(trender *r, tv a, tv b, int line);
/* Counts one loop iteration against the render's budget. */
void inf__teval_tick(trender *r, int line);

/* Filters and tests; args[0..n) positional, kw names/values. */
tv inf__tfilter(trender *r, tstr name, tv in, tv *args, size_t n, tstr *kwn,
                tv *kwv, size_t nkw, int line);
int inf__ttest(trender *r, tstr name, tv in, tv *args, size_t n, int line);
/* Method call on a str / dict / list. */
tv inf__tmethod(trender *r, tv self, tstr name, tv *args, size_t n, tstr *kwn,
                tv *kwv, size_t nkw, int line);
/* 1 when `name` is a method of x's type (so x.name is a bound method). */
int inf__tmethod_exists(tv x, tstr name);

/* Binds positional + keyword arguments to the parameter list `params`
 * (NULL-terminated); missing ones become TV_UNDEF with `present` 0. */
void inf__tbind(trender *r, const char *what, const char *const *params,
                tv *args, size_t n, tstr *kwn, tv *kwv, size_t nkw, tv *outv,
                int line);

/* String helpers shared by filters and methods (tmpl_methods.c). */
enum { TCASE_UPPER, TCASE_LOWER, TCASE_PYTITLE, TCASE_JTITLE, TCASE_CAPITALIZE };
tstr inf__ts_case(tctx *c, tstr s, int mode);
/* Python strip: chars NULL strips Unicode whitespace. */
tstr inf__ts_strip(tstr s, const tstr *chars, int left, int right);
/* Python str.replace(old, new, count); count < 0: all. */
tstr inf__ts_replace(trender *r, tstr s, tstr old, tstr rep, long long count);
/* Decodes one code point at p[i..n) (invalid bytes read as themselves);
 * returns its length in bytes. */
size_t inf__ts_next(const char *p, size_t n, size_t i, int32_t *cp);
int inf__ts_isspace(int32_t cp);
/* Length in bytes of the line break at p[i] as str.splitlines() sees them
 * (\n \r \r\n \v \f \x1c-\x1e \x85 U+2028 U+2029), 0 when none. */
size_t inf__ts_linebreak(const char *p, size_t n, size_t i);
/* Number of \w+ runs (Jinja's wordcount). */
size_t inf__ts_wordcount(tstr s);

#endif
