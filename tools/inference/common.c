/* Shared helpers of the `inference` program; see common.h. */
#include "common.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *g_sub = "";

void cli_set_sub(const char *sub) { g_sub = sub ? sub : ""; }
const char *cli_sub(void) { return g_sub; }

static void vprint_err(const char *fmt, va_list ap) {
    /* Build the whole line first so that one write carries it: lines from a
     * program and its tests' stderr never interleave mid-line. */
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

void cli_getopt_reset(void) {
    optind = 0; /* 0 makes glibc reinitialise its internal state */
    opterr = 0;
}

int cli_bad_option(int c, int argc, char **argv) {
    const char *arg = (optind > 0 && optind - 1 < argc) ? argv[optind - 1] : "";
    int is_long = arg[0] == '-' && arg[1] == '-';
    if (c == ':') {
        if (is_long) return cli_usage_err("option '%s' needs a value", arg);
        return cli_usage_err("option '-%c' needs a value", optopt);
    }
    if (is_long) {
        if (optopt != 0) /* a known flag given a value it does not take */
            return cli_usage_err("option '%s' takes no value", arg);
        return cli_usage_err("unknown option '%s'", arg);
    }
    return cli_usage_err("unknown option '-%c'", optopt ? optopt : '?');
}

/* ---------------------------------------------------------------- numbers */

int cli_parse_long(const char *opt, const char *s, long lo, long hi,
                   long *out) {
    char *end = NULL;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || end == s || *end || errno)
        return cli_usage_err("invalid value '%s' for %s: expected an integer",
                             s ? s : "", opt);
    if (v < lo || v > hi)
        return cli_usage_err("invalid value '%s' for %s: must be in [%ld, %ld]",
                             s, opt, lo, hi);
    *out = v;
    return 0;
}

int cli_parse_double(const char *opt, const char *s, double lo, double hi,
                     double *out) {
    char *end = NULL;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || !*s || end == s || *end || errno || !isfinite(v))
        return cli_usage_err("invalid value '%s' for %s: expected a number",
                             s ? s : "", opt);
    if (v < lo || v > hi)
        return cli_usage_err("invalid value '%s' for %s: must be in [%g, %g]",
                             s, opt, lo, hi);
    *out = v;
    return 0;
}

int cli_parse_ids(const char *opt, const char *s, int allow_empty,
                  int32_t **ids, size_t *n) {
    *ids = NULL;
    *n = 0;
    const char *p = s;
    while (*p == ' ' || *p == '\t' || *p == '\n') p++;
    if (!*p) {
        if (allow_empty) return 0;
        return cli_usage_err("%s: no token ids given", opt);
    }
    size_t cap = 16, cnt = 0;
    int32_t *v = malloc(cap * sizeof *v);
    if (!v) return cli_err("out of memory");
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n') p++;
        char *end = NULL;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (end == p || errno || x < 0 || x > INT32_MAX) {
            const char *e = p;
            while (*e && *e != ',') e++;
            int rc = cli_usage_err("%s: element %zu ('%.*s') is not a token id "
                                   "(a non-negative integer)",
                                   opt, cnt + 1, (int)(e - p), p);
            free(v);
            return rc;
        }
        p = end;
        while (*p == ' ' || *p == '\t' || *p == '\n') p++;
        if (cnt == cap) {
            int32_t *nv = realloc(v, 2 * cap * sizeof *v);
            if (!nv) { free(v); return cli_err("out of memory"); }
            v = nv;
            cap *= 2;
        }
        v[cnt++] = (int32_t)x;
        if (!*p) break;
        if (*p != ',') {
            int rc = cli_usage_err("%s: unexpected '%c' after element %zu "
                                   "(ids are separated by commas)",
                                   opt, *p, cnt);
            free(v);
            return rc;
        }
        p++;
    }
    *ids = v;
    *n = cnt;
    return 0;
}

/* ------------------------------------------------------------------ input */

char *cli_read_file(const char *path, size_t *len) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        cli_err("cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        if (f != stdin) fclose(f);
        cli_err("'%s' is a directory, expected a file", path);
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) { free(buf); buf = NULL; break; }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    int failed = ferror(f);
    if (f != stdin) fclose(f);
    if (!buf) {
        cli_err("out of memory reading '%s'", path);
        return NULL;
    }
    if (failed) {
        free(buf);
        cli_err("cannot read '%s'", strcmp(path, "-") ? path : "standard input");
        return NULL;
    }
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

/* Length of the valid UTF-8 sequence at s[0..left), 0 when invalid
 * (overlongs, surrogates and code points above U+10FFFF are invalid). */
static size_t utf8_seq(const unsigned char *s, size_t left) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t n;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c == 0xE0) { n = 3; lo = 0xA0; }
    else if (c >= 0xE1 && c <= 0xEC) n = 3;
    else if (c == 0xED) { n = 3; hi = 0x9F; }
    else if (c >= 0xEE && c <= 0xEF) n = 3;
    else if (c == 0xF0) { n = 4; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) n = 4;
    else if (c == 0xF4) { n = 4; hi = 0x8F; }
    else return 0;
    if (left < n) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return n;
}

int cli_utf8_valid(const char *s, size_t len, size_t *bad) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t k = utf8_seq(u + i, len - i);
        if (!k) {
            if (bad) *bad = i;
            return 0;
        }
        i += k;
    }
    return 1;
}

int cli_require_utf8(const char *what, const char *s, size_t len) {
    size_t bad = 0;
    if (cli_utf8_valid(s, len, &bad)) return 0;
    return cli_err("%s is not valid UTF-8 (byte 0x%02x at offset %zu)", what,
                   (unsigned char)s[bad], bad);
}

/* ------------------------------------------------------------------- JSON */

json_t *cli_json_string(const char *s, size_t len) {
    if (cli_utf8_valid(s, len, NULL)) return json_stringn(s, len);
    /* Replace each invalid byte with U+FFFD (3 bytes). */
    char *buf = malloc(len * 3 + 1);
    if (!buf) return NULL;
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, o = 0;
    while (i < len) {
        size_t k = utf8_seq(u + i, len - i);
        if (k) {
            memcpy(buf + o, s + i, k);
            o += k;
            i += k;
        } else {
            memcpy(buf + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    json_t *j = json_stringn(buf, o);
    free(buf);
    return j;
}

int cli_json_println(FILE *f, json_t *j) {
    if (!j) return cli_err("out of memory");
    /* 9 significant digits round-trip a float32 and keep lines short. */
    int rc = json_dumpf(j, f, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(9));
    json_decref(j);
    if (rc != 0 || fputc('\n', f) == EOF || fflush(f) != 0)
        return cli_err("cannot write the output");
    return 0;
}

const char *cli_finish_name(inf_finish_reason r) {
    switch (r) {
    case INF_FINISH_EOS: return "eos";
    case INF_FINISH_STOP: return "stop";
    case INF_FINISH_LENGTH: return "length";
    default: return "none";
    }
}

json_t *cli_metrics_json(const inf_metrics *m) {
    return json_pack("{s:I,s:I,s:f,s:f,s:f,s:f,s:f,s:I,s:I}",
                     "prompt_tokens", (json_int_t)m->prompt_tokens,
                     "generated_tokens", (json_int_t)m->generated_tokens,
                     "prefill_seconds", m->prefill_seconds,
                     "decode_seconds", m->decode_seconds,
                     "total_seconds", m->total_seconds,
                     "prefill_tokens_per_second", m->prefill_tokens_per_second,
                     "decode_tokens_per_second", m->decode_tokens_per_second,
                     "peak_memory_bytes", (json_int_t)m->peak_memory_bytes,
                     "active_memory_bytes", (json_int_t)m->active_memory_bytes);
}

/* --------------------------------------------------------------- sampling */

void cli_sampling_init(cli_sampling *s, int32_t default_max) {
    memset(s, 0, sizeof *s);
    inf_generate_options_default(&s->o);
    s->o.max_tokens = default_max;
}

void cli_sampling_free(cli_sampling *s) {
    if (!s) return;
    free(s->stops);
    s->stops = NULL;
    s->n_stops = 0;
    s->o.stop_strings = NULL;
    s->o.n_stop_strings = 0;
}

int cli_sampling_opt(cli_sampling *s, int code, const char *arg) {
    double d;
    long l;
    switch (code) {
    case CLI_OPT_TEMP:
        if (cli_parse_double("--temp", arg, 0, 100, &d)) return CLI_EXIT_USAGE;
        s->o.temperature = (float)d;
        return 1;
    case CLI_OPT_TOP_K:
        if (cli_parse_long("--top-k", arg, 0, INT32_MAX, &l)) return CLI_EXIT_USAGE;
        s->o.top_k = (int32_t)l;
        return 1;
    case CLI_OPT_TOP_P:
        if (cli_parse_double("--top-p", arg, 0, 1, &d)) return CLI_EXIT_USAGE;
        s->o.top_p = (float)d;
        return 1;
    case CLI_OPT_MIN_P:
        if (cli_parse_double("--min-p", arg, 0, 1, &d)) return CLI_EXIT_USAGE;
        s->o.min_p = (float)d;
        return 1;
    case CLI_OPT_REPEAT_PENALTY:
        if (cli_parse_double("--repeat-penalty", arg, 0, 100, &d))
            return CLI_EXIT_USAGE;
        s->o.repeat_penalty = (float)d;
        return 1;
    case CLI_OPT_REPEAT_LAST_N:
        if (cli_parse_long("--repeat-last-n", arg, 0, INT32_MAX, &l))
            return CLI_EXIT_USAGE;
        s->o.repeat_last_n = (int32_t)l;
        return 1;
    case CLI_OPT_SEED: {
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(arg, &end, 10);
        if (!*arg || *end || errno || arg[0] == '-')
            return cli_usage_err("invalid value '%s' for --seed: expected a "
                                 "non-negative integer", arg);
        s->o.seed = (uint64_t)v;
        return 1;
    }
    case CLI_OPT_MAX_TOKENS:
        if (cli_parse_long("--max-tokens", arg, 0, INT32_MAX, &l))
            return CLI_EXIT_USAGE;
        s->o.max_tokens = (int32_t)l;
        return 1;
    case CLI_OPT_STOP: {
        if (!*arg) return cli_usage_err("--stop needs a non-empty text");
        if (cli_require_utf8("--stop text", arg, strlen(arg)))
            return CLI_EXIT_USAGE;
        const char **ns = realloc(s->stops, (s->n_stops + 1) * sizeof *ns);
        if (!ns) return cli_err("out of memory"), CLI_EXIT_USAGE;
        s->stops = ns;
        s->stops[s->n_stops++] = arg;
        s->o.stop_strings = s->stops;
        s->o.n_stop_strings = s->n_stops;
        return 1;
    }
    case CLI_OPT_IGNORE_EOS:
        s->o.ignore_eos = 1;
        return 1;
    default:
        return 0;
    }
}

/* ------------------------------------------------------------------ model */

void cli_model_args_init(cli_model_args *a) {
    memset(a, 0, sizeof *a);
    inf_load_options_default(&a->lo);
}

int cli_model_opt(cli_model_args *a, int code, const char *arg) {
    long l;
    switch (code) {
    case 'm':
        a->dir = arg;
        return 1;
    case CLI_OPT_BACKEND:
        if (!*arg) return cli_usage_err("--backend needs a name");
        a->lo.backend = arg;
        return 1;
    case CLI_OPT_CTX:
        if (cli_parse_long("--ctx", arg, 1, INT32_MAX, &l)) return CLI_EXIT_USAGE;
        a->lo.context_length = (int32_t)l;
        return 1;
    case 't':
    case CLI_OPT_THREADS:
        if (cli_parse_long("--threads", arg, 0, 1024, &l)) return CLI_EXIT_USAGE;
        a->lo.n_threads = (int32_t)l;
        return 1;
    case CLI_OPT_PARALLEL:
        if (cli_parse_long("--parallel", arg, 1, 4096, &l)) return CLI_EXIT_USAGE;
        a->lo.parallel_slots = (int32_t)l;
        return 1;
    case CLI_OPT_QUIET:
        a->quiet = 1;
        return 1;
    default:
        return 0;
    }
}

/* The local backends read a directory; the remote ones take URLs or files,
 * which this check must not judge. */
static int is_local_backend(const char *b) {
    return !b || !*b || strcmp(b, "cpu") == 0 || strcmp(b, "cuda") == 0;
}

int cli_check_model_dir(const cli_model_args *a, int need_weights) {
    (void)need_weights;
    if (!a->dir)
        return cli_usage_err("no model given: use -m DIR");
    if (!is_local_backend(a->lo.backend)) return 0;
    struct stat st;
    if (stat(a->dir, &st) != 0)
        return cli_err("model directory '%s' not found: %s", a->dir,
                       strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return cli_err("'%s' is not a directory (expected a Hugging Face "
                       "model directory)", a->dir);
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", a->dir);
    if (stat(path, &st) != 0)
        return cli_err("'%s' is not a model directory: it has no config.json",
                       a->dir);
    return 0;
}

typedef struct progress_state {
    int shown;
    int last;
} progress_state;

static void progress_cb(float fraction, void *user) {
    progress_state *p = user;
    if (fraction < 0) fraction = 0;
    if (fraction > 1) fraction = 1;
    int pct = (int)(fraction * 100.0f + 0.5f);
    if (p->shown && pct == p->last) return;
    p->shown = 1;
    p->last = pct;
    char bar[41];
    int full = pct * 40 / 100;
    for (int i = 0; i < 40; i++) bar[i] = i < full ? '#' : '.';
    bar[40] = 0;
    fprintf(stderr, "\rloading [%s] %3d%%", bar, pct);
    fflush(stderr);
}

int cli_load_model(const cli_model_args *a, inf_model **out) {
    *out = NULL;
    inf_load_options lo = a->lo;
    progress_state ps = {0, -1};
    int bar = !a->quiet && isatty(STDERR_FILENO);
    if (bar) {
        lo.progress = progress_cb;
        lo.progress_user = &ps;
    }
    char *msg = NULL;
    int rc = inf_model_load(a->dir, &lo, out, &msg);
    if (bar && ps.shown) fprintf(stderr, "\r\033[K"); /* clear the bar line */
    if (rc != INF_OK) {
        cli_err("cannot load '%s': %s", a->dir,
                msg && *msg ? msg : inf_strerror(rc));
        inf_free(msg);
        *out = NULL;
        return CLI_EXIT_ERROR;
    }
    inf_free(msg);
    return 0;
}

void cli_print_summary(const inf_metrics *m, inf_finish_reason r) {
    fprintf(stderr,
            "[%lld tokens, prompt %lld tokens at %.1f tok/s, generation "
            "%.1f tok/s, %.2f s, finish: %s]\n",
            (long long)m->generated_tokens, (long long)m->prompt_tokens,
            m->prefill_tokens_per_second, m->decode_tokens_per_second,
            m->total_seconds, cli_finish_name(r));
}

int64_t cli_peak_rss(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    int64_t kb = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmHWM:", 6) == 0) {
            kb = strtoll(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb * 1024;
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The token the SIGINT handler triggers.  inf_cancel_trigger is one atomic
 * store, which is safe inside a signal handler. */
static inf_cancel *volatile g_sigint_cancel;

static void on_sigint(int sig) {
    (void)sig;
    inf_cancel *c = g_sigint_cancel;
    if (c) inf_cancel_trigger(c);
}

void cli_sigint_watch(inf_cancel *c) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    g_sigint_cancel = c;
    sa.sa_handler = c ? on_sigint : SIG_DFL;
    sigaction(SIGINT, &sa, NULL);
}

int cli_load_tokenizer(const char *dir, inf_tokenizer **out) {
    *out = NULL;
    if (!dir) return cli_usage_err("no tokenizer given: use -m DIR");
    if (cli_require_dir(dir)) return CLI_EXIT_ERROR;
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (access(path, F_OK) != 0)
        return cli_err("'%s' has no tokenizer.json", dir);
    char *msg = NULL;
    int st = inf_tokenizer_load(dir, out, &msg);
    if (st != INF_OK) {
        cli_err("cannot load the tokenizer of '%s': %s", dir,
                msg && *msg ? msg : inf_strerror(st));
        inf_free(msg);
        return CLI_EXIT_ERROR;
    }
    inf_free(msg);
    return 0;
}


int cli_require_dir(const char *dir) {
    struct stat st;
    if (stat(dir, &st) != 0)
        return cli_err("directory '%s' not found: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return cli_err("'%s' is not a directory", dir);
    return 0;
}

static int push_prompt(cli_prompts *p, char *text, json_t *tag) {
    char **nt = realloc(p->text, (p->n + 1) * sizeof *nt);
    if (nt) p->text = nt;
    json_t **ng = realloc(p->tag, (p->n + 1) * sizeof *ng);
    if (ng) p->tag = ng;
    if (!nt || !ng || !text) {
        free(text);
        json_decref(tag);
        return cli_err("out of memory");
    }
    p->text[p->n] = text;
    p->tag[p->n] = tag;
    p->n++;
    return 0;
}

int cli_read_prompts(const char *path, cli_prompts *p) {
    memset(p, 0, sizeof *p);
    size_t len = 0;
    char *buf = cli_read_file(path, &len);
    if (!buf) return CLI_EXIT_ERROR;
    const char *name = strcmp(path, "-") ? path : "standard input";
    if (strlen(buf) != len) {
        free(buf);
        return cli_err("%s: contains a NUL byte", name);
    }
    int jsonl = -1, rc = 0;
    size_t lineno = 0;
    char *save = NULL;
    for (char *line = buf; line && !rc; line = save) {
        char *nl = strchr(line, '\n');
        save = nl ? nl + 1 : NULL;
        if (nl) *nl = 0;
        lineno++;
        size_t ll = strlen(line);
        if (ll && line[ll - 1] == '\r') line[--ll] = 0;
        if (ll == 0) continue;
        size_t bad;
        if (!cli_utf8_valid(line, ll, &bad)) {
            rc = cli_err("%s:%zu: not valid UTF-8 (byte 0x%02x at column %zu)",
                         name, lineno, (unsigned char)line[bad], bad + 1);
            break;
        }
        if (jsonl < 0) {
            json_t *probe = (line[0] == '{' || line[0] == '"')
                                ? json_loads(line, JSON_DECODE_ANY, NULL) : NULL;
            jsonl = probe != NULL;
            json_decref(probe);
        }
        if (!jsonl) {
            rc = push_prompt(p, strdup(line), NULL);
            continue;
        }
        json_error_t jerr;
        json_t *j = json_loads(line, JSON_DECODE_ANY, &jerr);
        if (!j) {
            rc = cli_err("%s:%zu: not valid JSON (%s)", name, lineno, jerr.text);
            break;
        }
        json_t *pr = json_is_string(j) ? j : json_object_get(j, "prompt");
        if (!json_is_string(pr)) {
            json_decref(j);
            rc = cli_err("%s:%zu: expected a JSON string or an object with a "
                         "\"prompt\" string", name, lineno);
            break;
        }
        json_t *tag = json_is_object(j) ? json_object_get(j, "id") : NULL;
        if (tag) json_incref(tag);
        rc = push_prompt(p, strndup(json_string_value(pr), json_string_length(pr)), tag);
        json_decref(j);
    }
    free(buf);
    if (!rc && p->n == 0) rc = cli_err("%s: no prompts", name);
    if (rc) cli_prompts_free(p);
    return rc;
}

void cli_prompts_free(cli_prompts *p) {
    if (!p) return;
    for (size_t i = 0; i < p->n; i++) {
        free(p->text[i]);
        json_decref(p->tag[i]);
    }
    free(p->text);
    free(p->tag);
    memset(p, 0, sizeof *p);
}
