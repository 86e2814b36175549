/* Helpers that the inference program and its server share beside the
 * option parser: the model-loading options and the load itself (with a
 * progress bar on a terminal), reading whole files, UTF-8 checks and JSON
 * output.  Errors are printed as in cliopt.h; a function returning int
 * returns 0 on success and CLI_EXIT_ERROR or CLI_EXIT_USAGE on failure. */
#ifndef INF_TOOLS_CLIUTIL_H
#define INF_TOOLS_CLIUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "common/cliopt.h"
#include "inference.h"

/* ---------------------------------------------------------- the model */

typedef struct cli_model_args {
    const char *dir;     /* -m */
    inf_load_options lo; /* backend, context, threads, slots */
    int quiet;           /* no progress bar (and, for the callers, no
                            summary line) */
    const char *precision; /* --precision: "exact", "fast" or NULL */
    int mmap;              /* --mmap (generating commands): map the weight
                              files instead of reading them into memory */
} cli_model_args;

void cli_model_args_init(cli_model_args *a);
/* --backend's check: a name, not "". */
int cli_check_backend(void *user, const char *value);
/* --precision's check: "exact" or "fast". */
int cli_check_precision(void *user, const char *value);
/* A command's default precision: sets a->lo.precision to dflt unless
 * --precision was given, lo.precision is already set, or the environment
 * names one (INF_PRECISION, which the library reads).  cli_load_model
 * applies --precision over it. */
void cli_model_args_precision(cli_model_args *a, int32_t dflt);

/* The weights of generate, chat, batch, bench and serve: read into
 * private memory (the library's copy_weights) unless --mmap.  The copy
 * sits in transparent huge pages, where a file mapping has 4 KiB pages
 * whose TLB misses slowed decode (Qwen3-0.6B Q4_0, 2 threads: 53 tok/s
 * mapped against 68 copied; bench/README.md, issue 20 session 9), and a
 * weight file rewritten in place cannot kill the process with SIGBUS. */
void cli_model_args_weights(cli_model_args *a);

/* --mmap, the row for the commands that call cli_model_args_weights. */
#define CLI_MMAP_OPTION(a)                                                    \
    {.name = "mmap", .kind = CLI_FLAG, .dest = &(a)->mmap,                    \
     .help = "map the weight files instead of reading them into\n"          \
             "memory: a faster start and less resident memory,\n"           \
             "but slower decode (4 KiB pages, not huge pages), and\n"       \
             "a weight file truncated or rewritten in place then\n"         \
             "kills the process (SIGBUS)"}

/* The default precision of generate, chat, batch, serve and bench: fast
 * (its fidelity gate: tests/cpu/test_cpu_fast.c); perplexity, info and
 * logits (always exact) keep the library's default. */
#define CLI_PRECISION_GENERATING INF_PRECISION_FAST

/* The model-loading options of the generating subcommands, as rows of an
 * option table: -m/--model, --backend, --ctx, -t/--threads, --precision,
 * --parallel, --quiet (a cli_model_args *a). */
#define CLI_MODEL_OPTIONS(a)                                                  \
    {.group = "Model:", .short_name = 'm', .name = "model",                   \
     .kind = CLI_STRING, .dest = &(a)->dir, .metavar = "DIR",                 \
     .help = "the model directory (or what --backend takes)"},                \
    {.name = "backend", .kind = CLI_STRING, .dest = &(a)->lo.backend,         \
     .fn = cli_check_backend, .metavar = "NAME",                              \
     .help = "backend to run it (default: automatic)"},                       \
    {.name = "ctx", .kind = CLI_INT, .dest = &(a)->lo.context_length,         \
     .min = 1, .max = INT32_MAX,                                              \
     .help = "context length (default: the backend's)"},                      \
    {.short_name = 't', .name = "threads", .kind = CLI_INT,                   \
     .dest = &(a)->lo.n_threads, .min = 0, .max = 1024,                       \
     .help = "compute threads (default: one per core)"},                      \
    {.name = "precision", .kind = CLI_STRING, .dest = &(a)->precision,       \
     .fn = cli_check_precision, .metavar = "exact|fast",                     \
     .help = "kernel arithmetic: exact (f32 activations) or fast\n"          \
             "(rounded activations as llama.cpp; default: $INF_PRECISION,\n" \
             "else the command's)"},                                         \
    {.name = "parallel", .kind = CLI_INT, .dest = &(a)->lo.parallel_slots,    \
     .min = 1, .max = 4096,                                                   \
     .help = "concurrent sequences (default: the backend's)"},                \
    {.name = "quiet", .kind = CLI_FLAG, .dest = &(a)->quiet,                  \
     .help = "no progress bar, no summary line"}

/* Checks that -m was given and, for the local backends, that the directory
 * exists and holds a config.json, so that the common mistakes get a precise
 * message.  Returns 0, or an exit status after printing the error. */
int cli_check_model_dir(const cli_model_args *a);
/* Loads the model (a progress bar on a terminal stderr unless quiet).
 * Returns 0 and *out, or CLI_EXIT_ERROR after printing "cannot load 'DIR':
 * " and the library's message. */
int cli_load_model(const cli_model_args *a, inf_model **out);

/* 0 when dir is an existing directory, else CLI_EXIT_ERROR after printing
 * why. */
int cli_require_dir(const char *dir);

/* Prints the library's message for a failed call as it is (the status's
 * name, inf_strerror, when the message is empty or NULL).  Returns
 * CLI_EXIT_ERROR. */
int cli_lib_err(int status, const char *msg);

/* ------------------------------------------------------------ input */

/* Reads a whole file ("-" = standard input) into a NUL-terminated malloc'd
 * buffer; *len (may be NULL) gets its size.  NULL after printing an error
 * naming the file. */
char *cli_read_file(const char *path, size_t *len);
/* 1 when s[len] is valid UTF-8 (inf_utf8_valid_prefix); else 0 and *bad
 * (may be NULL) gets the offset of the first byte that is not. */
int cli_utf8_valid(const char *s, size_t len, size_t *bad);
/* On invalid UTF-8 prints "<what> is not valid UTF-8 (byte 0xNN at offset
 * K)" and returns CLI_EXIT_ERROR, else 0. */
int cli_require_utf8(const char *what, const char *s, size_t len);

/* ------------------------------------------------------------- JSON */

/* A JSON string of s[len]; bytes that are not valid UTF-8 become U+FFFD,
 * so the output is always valid JSON.  New reference; NULL only when out
 * of memory. */
json_t *cli_json_string(const char *s, size_t len);
/* Prints j compactly on one line to f followed by "\n", and flushes.
 * Steals the reference.  Returns 0, or CLI_EXIT_ERROR when j is NULL (out
 * of memory) or the write fails. */
int cli_json_println(FILE *f, json_t *j);

#endif
