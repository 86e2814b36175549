/* The option parser, its generated help and the error lines; see cliopt.h. */
#include "common/cliopt.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inference.h"

/* ------------------------------------------------------------- messages */

static const char *g_sub = "";

void cli_set_sub(const char *sub) { g_sub = sub ? sub : ""; }
const char *cli_sub(void) { return g_sub; }

static void vprint_err(const char *fmt, va_list ap) {
    /* The whole line first, so that one write carries it: lines from the
     * program and from its tests' stderr never interleave mid-line. */
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    /* A message from the library may end in a newline; one line only. */
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = 0;
    for (size_t i = 0; i < n; i++)
        if (msg[i] == '\n') msg[i] = ' ';
    if (g_sub[0])
        fprintf(stderr, "inference: %s: %s\n", g_sub, msg);
    else
        fprintf(stderr, "inference: %s\n", msg);
}

int cli_err(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprint_err(fmt, ap);
    va_end(ap);
    return CLI_EXIT_ERROR;
}

int cli_usage_err(const char *fmt, ...) {
    char msg[1800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (g_sub[0])
        cli_err("%s (see 'inference %s --help')", msg, g_sub);
    else
        cli_err("%s (see 'inference --help')", msg);
    return CLI_EXIT_USAGE;
}

/* -------------------------------------------------------------- values */

int cli_parse_long(const char *name, const char *s, long lo, long hi,
                   long *out) {
    char *end = NULL;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || end == s || *end || errno)
        return cli_usage_err("invalid value '%s' for %s: expected an integer",
                             s ? s : "", name);
    if (v < lo || v > hi)
        return cli_usage_err("invalid value '%s' for %s: must be in [%ld, %ld]",
                             s, name, lo, hi);
    *out = v;
    return 0;
}

int cli_parse_double(const char *name, const char *s, double lo, double hi,
                     double *out) {
    char *end = NULL;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || !*s || end == s || *end || errno || !isfinite(v))
        return cli_usage_err("invalid value '%s' for %s: expected a number",
                             s ? s : "", name);
    if (v < lo || v > hi)
        return cli_usage_err("invalid value '%s' for %s: must be in [%g, %g]",
                             s, name, lo, hi);
    *out = v;
    return 0;
}

static int parse_u64(const char *name, const char *s, uint64_t *out) {
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || errno || s[0] < '0' || s[0] > '9')
        return cli_usage_err("invalid value '%s' for %s: expected a "
                             "non-negative integer", s, name);
    *out = (uint64_t)v;
    return 0;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n'; }

int cli_parse_ids(const char *name, const char *s, int allow_empty,
                  int32_t **ids, size_t *n) {
    *ids = NULL;
    *n = 0;
    const char *p = s;
    while (is_space(*p)) p++;
    if (!*p) {
        if (allow_empty) return 0;
        return cli_usage_err("%s: no token ids given", name);
    }
    size_t cap = 16, cnt = 0;
    int32_t *v = malloc(cap * sizeof *v);
    if (!v) return cli_err("out of memory");
    for (;;) {
        while (is_space(*p)) p++;
        char *end = NULL;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (end == p || errno || x < 0 || x > INT32_MAX) {
            const char *e = p;
            while (*e && *e != ',') e++;
            free(v);
            return cli_usage_err("%s: element %zu ('%.*s') is not a token id "
                                 "(a non-negative integer)",
                                 name, cnt + 1, (int)(e - p), p);
        }
        p = end;
        while (is_space(*p)) p++;
        if (cnt == cap) {
            int32_t *nv = realloc(v, 2 * cap * sizeof *v);
            if (!nv) {
                free(v);
                return cli_err("out of memory");
            }
            v = nv;
            cap *= 2;
        }
        v[cnt++] = (int32_t)x;
        if (!*p) break;
        if (*p != ',') {
            free(v);
            return cli_usage_err("%s: unexpected '%c' after element %zu "
                                 "(ids are separated by commas)",
                                 name, *p, cnt);
        }
        p++;
    }
    *ids = v;
    *n = cnt;
    return 0;
}

void cli_ids_free(cli_ids *ids) {
    if (!ids) return;
    free(ids->v);
    ids->v = NULL;
    ids->n = 0;
}

void cli_strs_free(cli_strs *s) {
    if (!s) return;
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

/* ---------------------------------------------------------------- table */

enum { DEFAULT_MAX = 48 }; /* room for an option's default in the help */

static int is_end(const cli_opt *o) { return o->kind == CLI_END_; }

static int takes_value(const cli_opt *o) { return o->kind != CLI_FLAG; }

/* The option as messages name it: "--temp", or "-p" when it has no long
 * name. */
static const char *display_name(const cli_opt *o, char *buf, size_t n) {
    if (o->name) snprintf(buf, n, "--%s", o->name);
    else snprintf(buf, n, "-%c", o->short_name);
    return buf;
}

/* The option's range: the library's bound of o->bound, else [min, max].
 * 0, or CLI_EXIT_USAGE when the library has no such bound (a program
 * error, reported like a command-line one so that it is seen). */
static int range_of(const cli_opt *o, double *lo, double *hi) {
    *lo = o->min;
    *hi = o->max;
    if (!o->bound) return 0;
    const inf_option_bound *b = inf_generate_option_bound(o->bound);
    if (!b) {
        char nb[64];
        return cli_err("%s: the library has no bound for '%s'",
                       display_name(o, nb, sizeof nb), o->bound),
               CLI_EXIT_USAGE;
    }
    *lo = b->min;
    *hi = b->max;
    return 0;
}

/* Stores one option's value (NULL for a flag). */
static int apply(const cli_opt *o, const char *value) {
    char nb[64];
    const char *name = display_name(o, nb, sizeof nb);
    double lo, hi;
    int rc = 0;
    switch (o->kind) {
    case CLI_FLAG:
        if (o->dest) *(int *)o->dest = 1;
        break;
    case CLI_STRING:
        *(const char **)o->dest = value;
        break;
    case CLI_INT: {
        long v;
        if ((rc = range_of(o, &lo, &hi)) ||
            (rc = cli_parse_long(name, value, (long)lo, (long)hi, &v)))
            return rc;
        *(int *)o->dest = (int)v;
        break;
    }
    case CLI_U64:
        if ((rc = parse_u64(name, value, (uint64_t *)o->dest))) return rc;
        break;
    case CLI_FLOAT:
    case CLI_DOUBLE: {
        double v;
        if ((rc = range_of(o, &lo, &hi)) ||
            (rc = cli_parse_double(name, value, lo, hi, &v)))
            return rc;
        if (o->kind == CLI_FLOAT) *(float *)o->dest = (float)v;
        else *(double *)o->dest = v;
        break;
    }
    case CLI_IDS: {
        cli_ids *ids = o->dest, got = {NULL, 0};
        if ((rc = cli_parse_ids(name, value, 0, &got.v, &got.n))) return rc;
        for (size_t i = 0; o->max > o->min && i < got.n; i++)
            if (got.v[i] < o->min || got.v[i] > o->max) {
                rc = cli_usage_err("%s: element %zu (%d) must be in [%.0f, %.0f]",
                                   name, i + 1, (int)got.v[i], o->min, o->max);
                cli_ids_free(&got);
                return rc;
            }
        cli_ids_free(ids);
        *ids = got;
        break;
    }
    case CLI_STRINGS: {
        cli_strs *s = o->dest;
        const char **nv = realloc(s->v, (s->n + 1) * sizeof *nv);
        if (!nv) return cli_err("out of memory"), CLI_EXIT_USAGE;
        s->v = nv;
        s->v[s->n++] = value;
        break;
    }
    case CLI_CALL:
        return o->fn(o->user, value);
    default:
        break;
    }
    return o->fn ? o->fn(o->user, value) : 0;
}

static const cli_opt *find_long(const cli_opt *t, const char *name, size_t len) {
    for (; !is_end(t); t++) {
        if (t->name && strlen(t->name) == len && memcmp(t->name, name, len) == 0)
            return t;
        if (t->alias && strlen(t->alias) == len && memcmp(t->alias, name, len) == 0)
            return t;
    }
    return NULL;
}

static const cli_opt *find_short(const cli_opt *t, char c) {
    for (; !is_end(t); t++)
        if (t->short_name && t->short_name == c) return t;
    return NULL;
}

static void print_help(const cli_cmd *cmd, char (*defs)[DEFAULT_MAX]);

/* One "--name[=value]" argument; *i advances past a separate value.  defs:
 * the defaults, for the help. */
static int parse_long_opt(const cli_cmd *cmd, int argc, char **argv, int *i,
                          char (*defs)[DEFAULT_MAX]) {
    const char *a = argv[*i] + 2;
    const char *eq = strchr(a, '=');
    size_t len = eq ? (size_t)(eq - a) : strlen(a);
    if (len == 4 && memcmp(a, "help", 4) == 0) {
        if (eq) return cli_usage_err("option '--help' takes no value");
        print_help(cmd, defs);
        return CLI_HELP_SHOWN;
    }
    const cli_opt *o = find_long(cmd->opts, a, len);
    if (!o) return cli_usage_err("unknown option '--%.*s'", (int)len, a);
    if (!takes_value(o)) {
        if (eq) return cli_usage_err("option '--%.*s' takes no value", (int)len, a);
        return apply(o, NULL);
    }
    if (eq) return apply(o, eq + 1);
    if (*i + 1 >= argc)
        return cli_usage_err("option '--%.*s' needs a value", (int)len, a);
    return apply(o, argv[++*i]);
}

/* One "-x", "-xVALUE" or "-xyz" (flags) argument. */
static int parse_short_opts(const cli_cmd *cmd, int argc, char **argv, int *i,
                            char (*defs)[DEFAULT_MAX]) {
    for (const char *p = argv[*i] + 1; *p; p++) {
        if (*p == 'h') {
            print_help(cmd, defs);
            return CLI_HELP_SHOWN;
        }
        const cli_opt *o = find_short(cmd->opts, *p);
        if (!o) return cli_usage_err("unknown option '-%c'", *p);
        if (!takes_value(o)) {
            int rc = apply(o, NULL);
            if (rc) return rc;
            continue;
        }
        if (p[1]) return apply(o, p + 1);
        if (*i + 1 >= argc) return cli_usage_err("option '-%c' needs a value", *p);
        return apply(o, argv[++*i]);
    }
    return 0;
}

static int check_positionals(const cli_cmd *cmd, int n, char **pos) {
    const char *name = cmd->pos_name ? cmd->pos_name : "";
    char hint[256] = "";
    if (cmd->pos_hint) snprintf(hint, sizeof hint, " (%s)", cmd->pos_hint);
    if (cmd->pos_max == 0 && n > 0)
        return cli_usage_err("unexpected argument '%s'%s", pos[0], hint);
    if (n >= cmd->pos_min && n <= cmd->pos_max) return 0;
    if (cmd->pos_min == cmd->pos_max && cmd->pos_min == 1)
        return cli_usage_err("expected one %s argument, got %d%s", name, n, hint);
    if (cmd->pos_min == 0 && cmd->pos_max == 1)
        return cli_usage_err("expected at most one %s argument, got %d%s", name,
                             n, hint);
    return cli_usage_err("expected %d to %d %s arguments, got %d%s",
                         cmd->pos_min, cmd->pos_max, name, n, hint);
}

static size_t table_size(const cli_opt *t) {
    size_t n = 0;
    while (!is_end(&t[n])) n++;
    return n;
}

static void default_text(const cli_opt *o, char *buf, size_t n);

int cli_parse(const cli_cmd *cmd, int argc, char **argv, cli_args *args) {
    int n = 0, only_pos = 0, rc = 0;
    args->pos = argv + 1;
    args->n = 0;
    /* The defaults the help shows: the values before any option is read. */
    size_t n_opts = table_size(cmd->opts);
    char (*defs)[DEFAULT_MAX] = calloc(n_opts + 1, sizeof *defs);
    if (!defs) return cli_err("out of memory"), CLI_EXIT_USAGE;
    for (size_t k = 0; k < n_opts; k++) default_text(&cmd->opts[k], defs[k], DEFAULT_MAX);
    for (int i = 1; i < argc && !rc; i++) {
        char *a = argv[i];
        if (only_pos || a[0] != '-' || a[1] == 0) {
            /* Positional arguments move to the front; each moves to an
             * index no later than its own, so none is overwritten. */
            argv[1 + n++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        rc = a[1] == '-' ? parse_long_opt(cmd, argc, argv, &i, defs)
                         : parse_short_opts(cmd, argc, argv, &i, defs);
    }
    free(defs);
    if (rc) return rc;
    args->n = n;
    return check_positionals(cmd, n, args->pos);
}

/* ----------------------------------------------------------------- help */

static const char *metavar(const cli_opt *o) {
    if (o->metavar) return o->metavar;
    switch (o->kind) {
    case CLI_FLAG: return NULL;
    case CLI_INT: case CLI_U64: return "N";
    case CLI_FLOAT: case CLI_DOUBLE: return "X";
    case CLI_IDS: return "IDS";
    default: return "TEXT";
    }
}

/* "-m, --model DIR", "--temp X", "-p N". */
static void label(const cli_opt *o, char *buf, size_t n) {
    const char *mv = metavar(o);
    char sh[8] = "", lg[128] = "";
    if (o->short_name) snprintf(sh, sizeof sh, "-%c%s", o->short_name, o->name ? ", " : "");
    if (o->name) snprintf(lg, sizeof lg, "--%s", o->name);
    snprintf(buf, n, "%s%s%s%s", sh, lg, mv ? " " : "", mv ? mv : "");
}

/* The value dest holds before parsing, for "(default V)"; "" for none. */
static void default_text(const cli_opt *o, char *buf, size_t n) {
    buf[0] = 0;
    if (!o->show_default || !o->dest) return;
    switch (o->kind) {
    case CLI_INT: snprintf(buf, n, "%d", *(const int *)o->dest); break;
    case CLI_U64: snprintf(buf, n, "%llu", (unsigned long long)*(const uint64_t *)o->dest); break;
    case CLI_FLOAT: snprintf(buf, n, "%g", (double)*(const float *)o->dest); break;
    case CLI_DOUBLE: snprintf(buf, n, "%g", *(const double *)o->dest); break;
    case CLI_STRING: {
        const char *s = *(const char *const *)o->dest;
        if (s) snprintf(buf, n, "%s", s);
        break;
    }
    default: break;
    }
}

enum { LABEL_MAX = 22 };

/* "  LABEL   help", the help's later lines indented to its column. */
static void print_row(const char *lab, const char *help, const char *def, int col) {
    int len = printf("  %s", lab);
    if (len > col - 1) {
        printf("\n");
        len = 0;
    }
    printf("%*s", col - len, "");
    for (const char *p = help ? help : ""; *p; p++) {
        putchar(*p);
        if (*p == '\n' && p[1]) printf("%*s", col, "");
    }
    if (def && *def) printf(" (default %s)", def);
    printf("\n");
}

static void print_help(const cli_cmd *cmd, char (*defs)[DEFAULT_MAX]) {
    const char *sub = cli_sub();
    const char *s = cmd->synopsis ? cmd->synopsis : "[OPTIONS]";
    int indent = (int)strlen("usage: inference  ") + (int)strlen(sub);
    printf("usage: ");
    for (int first = 1; *s; first = 0) {
        const char *nl = strchr(s, '\n');
        int len = nl ? (int)(nl - s) : (int)strlen(s);
        if (s[0] == ' ')
            printf("%*s%.*s\n", indent, "", len - 1, s + 1);
        else
            printf("%sinference %s %.*s\n", first ? "" : "       ", sub, len, s);
        s += len + (nl != NULL);
    }
    if (cmd->about) printf("\n%s", cmd->about);
    int col = 0;
    char lab[160];
    for (const cli_opt *o = cmd->opts; !is_end(o); o++) {
        label(o, lab, sizeof lab);
        int w = (int)strlen(lab);
        if (w <= LABEL_MAX && w > col) col = w;
    }
    if (col < 10) col = 10; /* "-h, --help" */
    col += 4;               /* two spaces of indent, two of gap */
    printf("\nOptions:\n");
    int help_shown = 0;
    for (size_t k = 0; !is_end(&cmd->opts[k]); k++) {
        const cli_opt *o = &cmd->opts[k];
        if (o->group) {
            if (!help_shown) print_row("-h, --help", "this help", NULL, col);
            help_shown = 1;
            printf("\n%s\n", o->group);
        }
        label(o, lab, sizeof lab);
        print_row(lab, o->help, defs ? defs[k] : NULL, col);
    }
    if (!help_shown) print_row("-h, --help", "this help", NULL, col);
    if (cmd->epilog) printf("\n%s", cmd->epilog);
    fflush(stdout);
}

void cli_print_help(const cli_cmd *cmd) {
    size_t n_opts = table_size(cmd->opts);
    char (*defs)[DEFAULT_MAX] = calloc(n_opts + 1, sizeof *defs);
    for (size_t k = 0; defs && k < n_opts; k++)
        default_text(&cmd->opts[k], defs[k], DEFAULT_MAX);
    print_help(cmd, defs);
    free(defs);
}
