/* Helpers of the `inference` subcommands beyond tools/common: the sampling
 * options every generating subcommand accepts, prompt files, the one-line
 * summary, Ctrl-C handling and small measurements.  Errors are printed as
 * in common/cliopt.h. */
#ifndef INF_CLI_CMDUTIL_H
#define INF_CLI_CMDUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "common/cliopt.h"
#include "common/cliutil.h"
#include "inference.h"

/* ---- Sampling options shared by generate, chat, classify, batch */

/* Sampling options being collected from the command line. */
typedef struct cli_sampling {
    inf_generate_options o; /* stop_strings points into `stops`, the
                               logit_bias arrays into bias_* */
    cli_strs stops;         /* borrowed argv strings */
    int32_t *bias_ids;      /* --logit-bias entries, malloc'd */
    float *bias_vals;
    size_t n_bias;
} cli_sampling;

/* Initialises s with the library's defaults and max_tokens = default_max. */
void cli_sampling_init(cli_sampling *s, int32_t default_max);
/* Frees what the parser allocated for s. */
void cli_sampling_free(cli_sampling *s);
/* --stop's check (user: the cli_sampling): a non-empty UTF-8 text; keeps
 * o.stop_strings pointing at the texts so far. */
int cli_sampling_stop(void *user, const char *value);
/* --logit-bias (user: the cli_sampling): "ID=BIAS[,ID=BIAS...]", each
 * BIAS in [-100, 100]; appends to o.logit_bias_ids / values. */
int cli_sampling_bias(void *user, const char *value);

/* The sampling options as rows of an option table (a cli_sampling *s).
 * Their ranges are the library's (inf_generate_option_bound). */
#define CLI_SAMPLING_OPTIONS(s)                                                \
    {.group = "Sampling:", .name = "temp", .alias = "temperature",             \
     .kind = CLI_FLOAT, .dest = &(s)->o.temperature, .bound = "temperature",   \
     .show_default = 1, .help = "temperature, 0 = greedy"},                    \
    {.name = "top-k", .kind = CLI_INT, .dest = &(s)->o.top_k,                  \
     .bound = "top_k", .help = "keep the N most likely tokens (0 = off)"},     \
    {.name = "top-p", .kind = CLI_FLOAT, .dest = &(s)->o.top_p,                \
     .bound = "top_p", .help = "nucleus sampling (0 or 1 = off)"},             \
    {.name = "min-p", .kind = CLI_FLOAT, .dest = &(s)->o.min_p,                \
     .bound = "min_p", .help = "drop tokens below X * p(top) (0 = off)"},      \
    {.name = "repeat-penalty", .kind = CLI_FLOAT,                              \
     .dest = &(s)->o.repeat_penalty, .bound = "repeat_penalty",                \
     .help = "penalise repeated tokens (0 or 1 = off)"},                       \
    {.name = "repeat-last-n", .kind = CLI_INT, .dest = &(s)->o.repeat_last_n,  \
     .bound = "repeat_last_n",                                                 \
     .help = "tokens the penalty looks back (0 = all)"},                       \
    {.name = "presence-penalty", .kind = CLI_FLOAT,                            \
     .dest = &(s)->o.presence_penalty, .bound = "presence_penalty",            \
     .help = "OpenAI's: subtract X from tokens already\n"                      \
             "generated (the prompt does not count; 0 = off)"},                \
    {.name = "frequency-penalty", .kind = CLI_FLOAT,                           \
     .dest = &(s)->o.frequency_penalty, .bound = "frequency_penalty",          \
     .help = "OpenAI's: subtract X times each token's count\n"                 \
             "so far in the generated text (0 = off)"},                        \
    {.name = "logit-bias", .kind = CLI_CALL, .fn = cli_sampling_bias,          \
     .user = (s), .metavar = "ID=BIAS",                                        \
     .help = "add BIAS (-100..100) to token ID's logit\n"                      \
             "(repeatable, or comma-separated)"},                              \
    {.name = "seed", .kind = CLI_U64, .dest = &(s)->o.seed,                    \
     .help = "sampling seed; the same seed gives the same text\n"             \
             "(default: a random one)"},                                       \
    {.name = "max-tokens", .kind = CLI_INT, .dest = &(s)->o.max_tokens,        \
     .bound = "max_tokens", .show_default = 1,                                 \
     .help = "tokens to generate at most (0 = until the\ncontext is full)"},   \
    {.name = "stop", .kind = CLI_STRINGS, .dest = &(s)->stops,                 \
     .fn = cli_sampling_stop, .user = (s), .metavar = "TEXT",                  \
     .help = "stop when TEXT is produced (repeatable)"},                       \
    {.name = "ignore-eos", .kind = CLI_FLAG, .dest = &(s)->o.ignore_eos,       \
     .help = "do not stop at end-of-sequence tokens"}

/* ---- Constrained output (issue 15): --json-schema, --grammar, --regex */

typedef struct cli_constraint {
    const char *schema_path;  /* --json-schema FILE */
    const char *grammar_path; /* --grammar FILE */
    const char *regex;        /* --regex RE */
    char *text;               /* the file read by cli_constraint_apply */
} cli_constraint;

#define CLI_CONSTRAINT_OPTIONS(c)                                              \
    {.group = "Constrained output (one of):", .name = "json-schema",          \
     .kind = CLI_STRING, .dest = &(c)->schema_path, .metavar = "FILE",         \
     .help = "the output is JSON valid under the JSON Schema in\nFILE"},      \
    {.name = "grammar", .kind = CLI_STRING, .dest = &(c)->grammar_path,        \
     .metavar = "FILE",                                                        \
     .help = "the output is a sentence of the GBNF grammar in\nFILE (rule root)"}, \
    {.name = "regex", .kind = CLI_STRING, .dest = &(c)->regex, .metavar = "RE", \
     .help = "the output matches the regular expression RE"}

/* Reads the chosen constraint into o (constraint_kind, constraint, which
 * points into c until cli_constraint_free).  Returns 0, or an exit status
 * after printing the error (two given, an unreadable file). */
int cli_constraint_apply(cli_constraint *c, inf_generate_options *o);
void cli_constraint_free(cli_constraint *c);

/* Loads the tokenizer of path (inf_tokenizer_load: a directory's
 * tokenizer.json, or a GGUF file's tokenizer metadata) with a precise
 * message for a missing path.  Returns 0 and *out (free with
 * inf_tokenizer_free), or an exit status after printing the error. */
int cli_load_tokenizer(const char *path, inf_tokenizer **out);

/* The metrics as a JSON object (new reference). */
json_t *cli_metrics_json(const inf_metrics *m);

/* Prints the one-line summary after a generation on stderr:
 * "[N tokens, prompt P tokens at X tok/s, generation Y tok/s, T s,
 * finish: length]". */
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
