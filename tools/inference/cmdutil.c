/* Helpers of the `inference` subcommands; see cmdutil.h. */
#include "cmdutil.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

/* --------------------------------------------------------------- sampling */

void cli_sampling_init(cli_sampling *s, int32_t default_max) {
    memset(s, 0, sizeof *s);
    inf_generate_options_default(&s->o);
    s->o.max_tokens = default_max;
}

void cli_sampling_free(cli_sampling *s) {
    if (!s) return;
    cli_strs_free(&s->stops);
    s->o.stop_strings = NULL;
    s->o.n_stop_strings = 0;
    free(s->bias_ids);
    free(s->bias_vals);
    s->bias_ids = NULL;
    s->bias_vals = NULL;
    s->n_bias = 0;
    s->o.logit_bias_ids = NULL;
    s->o.logit_bias_values = NULL;
    s->o.n_logit_bias = 0;
}

int cli_sampling_bias(void *user, const char *value) {
    cli_sampling *s = user;
    const char *p = value;
    for (;;) {
        char *end;
        errno = 0;
        long id = strtol(p, &end, 10);
        if (end == p || *end != '=' || errno || id < 0 || id > INT32_MAX)
            return cli_usage_err("--logit-bias '%s': expected ID=BIAS with a token id "
                                 "(a non-negative integer), e.g. 42=-100", value);
        p = end + 1;
        double b = strtod(p, &end);
        if (end == p || (*end && *end != ',') || errno || !(b >= -100 && b <= 100))
            return cli_usage_err("--logit-bias '%s': BIAS must be a number in "
                                 "[-100, 100]", value);
        int32_t *ids = realloc(s->bias_ids, (s->n_bias + 1) * sizeof *ids);
        if (ids) s->bias_ids = ids;
        float *vals = realloc(s->bias_vals, (s->n_bias + 1) * sizeof *vals);
        if (vals) s->bias_vals = vals;
        if (!ids || !vals) return cli_err("out of memory");
        s->bias_ids[s->n_bias] = (int32_t)id;
        s->bias_vals[s->n_bias] = (float)b;
        s->n_bias++;
        s->o.logit_bias_ids = s->bias_ids;
        s->o.logit_bias_values = s->bias_vals;
        s->o.n_logit_bias = s->n_bias;
        if (!*end) return 0;
        p = end + 1;
    }
}

int cli_sampling_stop(void *user, const char *value) {
    cli_sampling *s = user;
    if (!*value) return cli_usage_err("--stop needs a non-empty text");
    if (cli_require_utf8("--stop text", value, strlen(value))) return CLI_EXIT_USAGE;
    s->o.stop_strings = s->stops.v;
    s->o.n_stop_strings = s->stops.n;
    return 0;
}

/* -------------------------------------------------------------- tokenizer */

/* 1 when dir holds tokenizer.json or a *.gguf file (which of several
 * GGUF files, if any, is the library's call). */
static int has_tokenizer_file(const char *dir) {
    char p[4096];
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    if (access(p, F_OK) == 0) return 1;
    DIR *d = opendir(dir);
    if (!d) return 0;
    int found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        found = n > 5 && !strcmp(e->d_name + n - 5, ".gguf");
    }
    closedir(d);
    return found;
}

int cli_load_tokenizer(const char *path, inf_tokenizer **out) {
    *out = NULL;
    if (!path) return cli_usage_err("no tokenizer given: use -m DIR or -m FILE.gguf");
    struct stat st;
    if (stat(path, &st) != 0) return cli_err("'%s' not found: %s", path, strerror(errno));
    /* A directory: its tokenizer.json, or the one GGUF model it holds; a
     * file: a GGUF model file's tokenizer metadata (inf_tokenizer_load
     * decides; the weights are not read). */
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
        return cli_err("'%s' is neither a directory nor a file", path);
    if (S_ISDIR(st.st_mode) && !has_tokenizer_file(path))
        return cli_err("'%s' has no tokenizer.json (nor a .gguf model file)", path);
    char *msg = NULL;
    int rc = inf_tokenizer_load(path, out, &msg);
    if (rc != INF_OK) {
        cli_err("cannot load the tokenizer of '%s': %s", path,
                msg && *msg ? msg : inf_strerror(rc));
        inf_free(msg);
        return CLI_EXIT_ERROR;
    }
    inf_free(msg);
    return 0;
}

/* ---------------------------------------------------------------- output */

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

void cli_print_summary(const inf_metrics *m, inf_finish_reason r) {
    fprintf(stderr,
            "[%lld tokens, prompt %lld tokens at %.1f tok/s, generation "
            "%.1f tok/s, %.2f s, finish: %s]\n",
            (long long)m->generated_tokens, (long long)m->prompt_tokens,
            m->prefill_tokens_per_second, m->decode_tokens_per_second,
            m->total_seconds, inf_finish_reason_name(r));
}

/* ----------------------------------------------------------------- Ctrl-C */

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

/* ----------------------------------------------------------- measurements */

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

int cli_constraint_apply(cli_constraint *c, inf_generate_options *o) {
    int n = (c->schema_path != NULL) + (c->grammar_path != NULL) + (c->regex != NULL);
    if (n > 1) return cli_usage_err("give one of --json-schema, --grammar and --regex");
    if (n == 0) return 0;
    if (c->regex) {
        o->constraint_kind = INF_CONSTRAINT_REGEX;
        o->constraint = c->regex;
        return 0;
    }
    const char *path = c->schema_path ? c->schema_path : c->grammar_path;
    size_t len = 0;
    if (!(c->text = cli_read_file(path, &len))) return CLI_EXIT_ERROR;
    if (strlen(c->text) != len) {
        cli_err("%s contains a NUL byte", path);
        return CLI_EXIT_ERROR;
    }
    o->constraint_kind = c->schema_path ? INF_CONSTRAINT_JSON_SCHEMA : INF_CONSTRAINT_GRAMMAR;
    o->constraint = c->text;
    return 0;
}

void cli_constraint_free(cli_constraint *c) {
    if (!c) return;
    free(c->text);
    c->text = NULL;
}
