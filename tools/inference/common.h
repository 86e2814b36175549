/* Shared helpers of the `inference` command-line program: error printing,
 * strict number parsing, the sampling and model-loading options every
 * generating subcommand accepts, input reading, UTF-8 checks, JSON output,
 * the load progress bar and the one-line summary.
 *
 * These are program helpers, not library code: they print to stderr and the
 * callers turn their results into exit statuses.  Conventions:
 *  - a function returning int returns 0 on success and CLI_EXIT_ERROR or
 *    CLI_EXIT_USAGE on failure, after printing one line
 *    "inference: <subcommand>: <message>" on stderr;
 *  - cli_set_sub() names the subcommand used in those lines.
 * The serve subcommand (tools/server) may use them too. */
#ifndef INF_CLI_COMMON_H
#define INF_CLI_COMMON_H

#include <getopt.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "inference.h"

/* Exit statuses: 1 for a failure while running, 2 for a wrong command line. */
#define CLI_EXIT_OK 0
#define CLI_EXIT_ERROR 1
#define CLI_EXIT_USAGE 2

/* Sets the subcommand named in error lines ("generate"). */
void cli_set_sub(const char *sub);
/* The subcommand set by cli_set_sub ("" before). */
const char *cli_sub(void);

/* Prints "inference: <sub>: <message>\n" on stderr.  Returns CLI_EXIT_ERROR
 * so callers can write `return cli_err(...)`. */
int cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same for a command-line mistake, with a hint at --help appended.
 * Returns CLI_EXIT_USAGE. */
int cli_usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Reports the option getopt_long just rejected: c is its '?' (unknown) or
 * ':' (value missing) result; optstrings must start with ':' so that the
 * two differ.  Uses optopt / argv[optind - 1].  Returns CLI_EXIT_USAGE. */
int cli_bad_option(int c, int argc, char **argv);
/* Resets getopt for a fresh parse of a subcommand's argv and silences its own
 * messages. */
void cli_getopt_reset(void);

/* Strict parsers: the whole string must be a number within [lo, hi].  On
 * failure print "invalid value 'X' for --NAME ..." and return CLI_EXIT_USAGE;
 * `opt` is the option name used in the message (e.g. "--temp"). */
int cli_parse_long(const char *opt, const char *s, long lo, long hi, long *out);
int cli_parse_double(const char *opt, const char *s, double lo, double hi,
                     double *out);
/* Parses comma-separated token ids ("1, 2,3"); whitespace around numbers is
 * allowed, empty elements are not.  *ids is malloc'd (caller frees).  An
 * empty string yields n = 0 when allow_empty, else an error.  Returns 0 or
 * CLI_EXIT_USAGE after printing which element is wrong. */
int cli_parse_ids(const char *opt, const char *s, int allow_empty,
                  int32_t **ids, size_t *n);

/* Reads a whole file ("-" = standard input) into a NUL-terminated malloc'd
 * buffer; *len (may be NULL) gets its size.  NULL after printing an error
 * naming the file. */
char *cli_read_file(const char *path, size_t *len);
/* 1 when s[len] is valid UTF-8; else 0 and *bad (may be NULL) gets the
 * offset of the first byte that is not. */
int cli_utf8_valid(const char *s, size_t len, size_t *bad);
/* Checks text with cli_utf8_valid; on failure prints "<what> is not valid
 * UTF-8 (byte 0xNN at offset K)" and returns CLI_EXIT_ERROR, else 0. */
int cli_require_utf8(const char *what, const char *s, size_t len);

/* A JSON string of s[len] (invalid UTF-8 sequences become U+FFFD so the
 * output is always valid JSON).  New reference; NULL only when out of
 * memory. */
json_t *cli_json_string(const char *s, size_t len);
/* Prints j compactly on one line to f followed by "\n", and flushes.
 * Steals the reference.  Returns 0, or CLI_EXIT_ERROR when j is NULL (out of
 * memory) or the write fails. */
int cli_json_println(FILE *f, json_t *j);
/* The metrics as a JSON object (new reference). */
json_t *cli_metrics_json(const inf_metrics *m);
/* "eos", "stop", "length" or "none". */
const char *cli_finish_name(inf_finish_reason r);

/* ---- Generation options shared by generate, chat, classify, batch, serve */

/* getopt_long codes of the shared long options (above any short option). */
enum {
    CLI_OPT_TEMP = 1000,
    CLI_OPT_TOP_K,
    CLI_OPT_TOP_P,
    CLI_OPT_MIN_P,
    CLI_OPT_REPEAT_PENALTY,
    CLI_OPT_REPEAT_LAST_N,
    CLI_OPT_SEED,
    CLI_OPT_MAX_TOKENS,
    CLI_OPT_STOP,
    CLI_OPT_IGNORE_EOS,
    CLI_OPT_BACKEND,
    CLI_OPT_CTX,
    CLI_OPT_THREADS,
    CLI_OPT_PARALLEL,
    CLI_OPT_QUIET,
    CLI_OPT_FIRST_FREE /* subcommands number their own options from here */
};

/* struct option entries for the sampling flags, to splice into a
 * subcommand's option table. */
#define CLI_SAMPLING_LONGOPTS                                         \
    {"temp", required_argument, 0, CLI_OPT_TEMP},                     \
    {"temperature", required_argument, 0, CLI_OPT_TEMP},              \
    {"top-k", required_argument, 0, CLI_OPT_TOP_K},                   \
    {"top-p", required_argument, 0, CLI_OPT_TOP_P},                   \
    {"min-p", required_argument, 0, CLI_OPT_MIN_P},                   \
    {"repeat-penalty", required_argument, 0, CLI_OPT_REPEAT_PENALTY}, \
    {"repeat-last-n", required_argument, 0, CLI_OPT_REPEAT_LAST_N},   \
    {"seed", required_argument, 0, CLI_OPT_SEED},                     \
    {"max-tokens", required_argument, 0, CLI_OPT_MAX_TOKENS},         \
    {"stop", required_argument, 0, CLI_OPT_STOP},                     \
    {"ignore-eos", no_argument, 0, CLI_OPT_IGNORE_EOS}

/* Help text of the sampling flags (for usage messages). */
#define CLI_SAMPLING_HELP                                                    \
    "Sampling:\n"                                                            \
    "  --temp X             temperature (default 0 = greedy)\n"              \
    "  --top-k N            keep the N most likely tokens (0 = off)\n"       \
    "  --top-p X            nucleus sampling (0 or 1 = off)\n"               \
    "  --min-p X            drop tokens below X * p(top) (0 = off)\n"        \
    "  --repeat-penalty X   penalise repeated tokens (1 = off)\n"            \
    "  --repeat-last-n N    tokens the penalty looks back (0 = all)\n"       \
    "  --seed N             sampling seed (0 = random)\n"                    \
    "  --max-tokens N       tokens to generate at most\n"                    \
    "  --stop TEXT          stop when TEXT is produced (repeatable)\n"       \
    "  --ignore-eos         do not stop at end-of-sequence tokens\n"

/* Sampling options being collected from the command line. */
typedef struct cli_sampling {
    inf_generate_options o;  /* stop_strings points into `stops` */
    const char **stops;      /* malloc'd array of borrowed argv strings */
    size_t n_stops;
} cli_sampling;

/* Initialises s with the library defaults and max_tokens = default_max. */
void cli_sampling_init(cli_sampling *s, int32_t default_max);
/* Handles one getopt_long result if it is a sampling option: returns 1 when
 * handled, 0 when `code` is not a sampling option, CLI_EXIT_USAGE (> 1)
 * after printing an error for a bad value. */
int cli_sampling_opt(cli_sampling *s, int code, const char *arg);
/* Frees what cli_sampling_opt allocated. */
void cli_sampling_free(cli_sampling *s);

/* struct option entries for model loading: -m/--model, --backend, --ctx,
 * --threads (short -t where the optstring lists it), --parallel, --quiet. */
#define CLI_MODEL_LONGOPTS                                  \
    {"model", required_argument, 0, 'm'},                   \
    {"backend", required_argument, 0, CLI_OPT_BACKEND},     \
    {"ctx", required_argument, 0, CLI_OPT_CTX},             \
    {"threads", required_argument, 0, CLI_OPT_THREADS},     \
    {"parallel", required_argument, 0, CLI_OPT_PARALLEL},   \
    {"quiet", no_argument, 0, CLI_OPT_QUIET}

#define CLI_MODEL_HELP                                                       \
    "Model:\n"                                                               \
    "  -m, --model DIR      the model directory (or what --backend takes)\n" \
    "  --backend NAME       backend to run it (default: automatic)\n"        \
    "  --ctx N              context length (default: the backend's)\n"       \
    "  --threads N          compute threads (default: one per core)\n"       \
    "  --parallel N         concurrent sequences (default: backend's)\n"     \
    "  --quiet              no progress bar, no summary line\n"

typedef struct cli_model_args {
    const char *dir;        /* -m */
    inf_load_options lo;    /* backend, context, threads, slots */
    int quiet;
} cli_model_args;

void cli_model_args_init(cli_model_args *a);
/* As cli_sampling_opt, for the model options. */
int cli_model_opt(cli_model_args *a, int code, const char *arg);
/* Checks that -m was given and, for the local backends, that the directory
 * exists and holds a config.json, so that the common mistakes get a precise
 * message.  Returns 0, or an exit status after printing the error. */
int cli_check_model_dir(const cli_model_args *a, int need_weights);
/* Loads the model (progress bar on a terminal stderr unless quiet).
 * Returns 0 and *out, or CLI_EXIT_ERROR after printing the library's
 * message. */
int cli_load_model(const cli_model_args *a, inf_model **out);

/* 0 when dir is an existing directory, else CLI_EXIT_ERROR after printing
 * why. */
int cli_require_dir(const char *dir);

/* Loads dir's tokenizer.json (+ tokenizer_config.json) with a precise
 * message for a missing directory or file.  Returns 0 and *out (free with
 * inf_tokenizer_free), or an exit status after printing the error. */
int cli_load_tokenizer(const char *dir, inf_tokenizer **out);

/* Prompts read from a file for classify / batch. */
typedef struct cli_prompts {
    char **text;   /* [n] malloc'd, NUL-terminated */
    json_t **tag;  /* [n] the "id" of a JSONL line (borrowed from the
                      caller's view: owned here), or NULL */
    size_t n;
} cli_prompts;

/* Reads FILE ("-" = standard input).  When its first non-empty line is a
 * JSON object or string, the file is JSONL: each non-empty line is
 * {"prompt": TEXT, "id": ANY (optional)} or a JSON string.  Otherwise each
 * non-empty line is one prompt (empty lines are skipped; a trailing "\r" is
 * dropped).  Every prompt must be valid UTF-8.  Returns 0, or
 * CLI_EXIT_ERROR after naming the file and line. */
int cli_read_prompts(const char *path, cli_prompts *p);
void cli_prompts_free(cli_prompts *p);

/* Prints the one-line summary after a generation on stderr:
 * "[N tokens, prompt P at X tok/s, generation Y tok/s, finish: length]". */
void cli_print_summary(const inf_metrics *m, inf_finish_reason r);

/* While c is not NULL, Ctrl-C (SIGINT) triggers c instead of killing the
 * program, so a generation watching c ends cleanly; NULL restores the
 * default.  c must stay alive until the next call. */
void cli_sigint_watch(inf_cancel *c);

/* Peak resident memory of this process in bytes (VmHWM), 0 if unknown. */
int64_t cli_peak_rss(void);
/* Monotonic time in seconds. */
double cli_now(void);

#endif
