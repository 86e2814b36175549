/* Model loading, input and JSON helpers of the tools; see cliutil.h. */
#include "common/cliutil.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------ the model */

void cli_model_args_init(cli_model_args *a) {
    memset(a, 0, sizeof *a);
    inf_load_options_default(&a->lo);
}

int cli_check_precision(void *user, const char *value) {
    (void)user;
    if (strcmp(value, "exact") != 0 && strcmp(value, "fast") != 0)
        return cli_usage_err("--precision takes exact or fast, not '%s'", value);
    return 0;
}

void cli_model_args_precision(cli_model_args *a, int32_t dflt) {
    const char *env = getenv("INF_PRECISION");
    if (!a->precision && a->lo.precision == INF_PRECISION_DEFAULT && !(env && env[0]))
        a->lo.precision = dflt;
}

void cli_model_args_weights(cli_model_args *a) { a->lo.copy_weights = !a->mmap; }

int cli_check_backend(void *user, const char *value) {
    (void)user;
    if (!*value) return cli_usage_err("--backend needs a name");
    return 0;
}

/* The local backends read a directory; the remote ones take URLs or files,
 * which this check must not judge. */
static int is_local_backend(const char *b) {
    return !b || !*b || strcmp(b, "cpu") == 0 || strcmp(b, "cuda") == 0;
}

static int has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* 1 when dir holds a *.gguf file (the library then decides which model). */
static int dir_has_gguf(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int found = 0;
    for (struct dirent *e; !found && (e = readdir(d));)
        found = e->d_name[0] != '.' && has_suffix(e->d_name, ".gguf");
    closedir(d);
    return found;
}

int cli_check_model_dir(const cli_model_args *a) {
    if (!a->dir) return cli_usage_err("no model given: use -m DIR");
    if (!is_local_backend(a->lo.backend)) return 0;
    struct stat st;
    if (stat(a->dir, &st) != 0)
        return cli_err("model directory '%s' not found: %s", a->dir,
                       strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        if (has_suffix(a->dir, ".gguf")) return 0; /* a GGUF file */
        return cli_err("'%s' is not a directory (expected a Hugging Face "
                       "model directory or a .gguf file)", a->dir);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", a->dir);
    if (stat(path, &st) != 0 && !dir_has_gguf(a->dir))
        return cli_err("'%s' is not a model directory: it has no config.json "
                       "(nor a .gguf file)", a->dir);
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
    if (a->precision) /* --precision wins over the command's default */
        lo.precision = strcmp(a->precision, "fast") == 0 ? INF_PRECISION_FAST : INF_PRECISION_EXACT;
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

int cli_require_dir(const char *dir) {
    struct stat st;
    if (stat(dir, &st) != 0)
        return cli_err("directory '%s' not found: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return cli_err("'%s' is not a directory", dir);
    return 0;
}

int cli_lib_err(int status, const char *msg) {
    return cli_err("%s", msg && *msg ? msg : inf_strerror(status));
}

/* ----------------------------------------------------------------- input */

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
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
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

int cli_utf8_valid(const char *s, size_t len, size_t *bad) {
    size_t ok = inf_utf8_valid_prefix(s, len);
    if (ok == len) return 1;
    if (bad) *bad = ok;
    return 0;
}

int cli_require_utf8(const char *what, const char *s, size_t len) {
    size_t bad = 0;
    if (cli_utf8_valid(s, len, &bad)) return 0;
    return cli_err("%s is not valid UTF-8 (byte 0x%02x at offset %zu)", what,
                   (unsigned char)s[bad], bad);
}

/* ------------------------------------------------------------------ JSON */

json_t *cli_json_string(const char *s, size_t len) {
    size_t ok = inf_utf8_valid_prefix(s, len);
    if (ok == len) return json_stringn(s, len);
    /* Each byte that does not start a valid sequence becomes U+FFFD. */
    char *buf = malloc(len * 3 + 1);
    if (!buf) return NULL;
    size_t i = 0, o = 0;
    while (i < len) {
        size_t k = inf_utf8_valid_prefix(s + i, len - i);
        memcpy(buf + o, s + i, k);
        o += k;
        i += k;
        if (i < len) {
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
