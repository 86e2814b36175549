/* The command line of every `inference` subcommand, serve included: one
 * table-driven option parser, the --help text generated from the same
 * table, and the one-line error messages.
 *
 * A subcommand declares its options as an array of cli_opt (usually a local
 * array, since each entry points at the variable its value goes to), ended
 * by CLI_END, and describes itself with a cli_cmd.  cli_parse() then
 * accepts, in any order:
 *   --name VALUE, --name=VALUE, -c VALUE, -cVALUE, bundled short flags
 *   (-xy), positional arguments, "--" (everything after it is positional),
 *   "-" alone (a positional argument: standard input), -h / --help.
 * Values are checked as they are read: integers and numbers strictly (the
 * whole text, within the option's range; the sampling options take their
 * ranges from the library's table, inf_generate_option_bound).
 *
 * Errors are one line on stderr, "inference: SUBCOMMAND: message (see
 * 'inference SUBCOMMAND --help')", and the exit status 2 (CLI_EXIT_USAGE).
 * These helpers are program code, not library code: they print. */
#ifndef INF_TOOLS_CLIOPT_H
#define INF_TOOLS_CLIOPT_H

#include <stddef.h>
#include <stdint.h>

/* Exit statuses: 1 for a failure while running, 2 for a wrong command line. */
#define CLI_EXIT_OK 0
#define CLI_EXIT_ERROR 1
#define CLI_EXIT_USAGE 2
/* cli_parse's result after it printed the help: the command ends, status 0. */
#define CLI_HELP_SHOWN (-1)

/* ------------------------------------------------------------ messages */

/* Sets the subcommand named in error lines ("generate"); "" for none. */
void cli_set_sub(const char *sub);
/* The subcommand set by cli_set_sub ("" before). */
const char *cli_sub(void);

/* Prints "inference: <sub>: <message>\n" on stderr as one write (a message
 * that spans lines is joined into one).  Returns CLI_EXIT_ERROR so callers
 * can write `return cli_err(...)`. */
int cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same for a command-line mistake, with "(see 'inference <sub>
 * --help')" appended.  Returns CLI_EXIT_USAGE. */
int cli_usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* -------------------------------------------------------- value parsers */

/* The whole string must be an integer / a finite number within [lo, hi].
 * On failure print "invalid value 'X' for NAME: ..." and return
 * CLI_EXIT_USAGE; `name` is the option as the user knows it ("--temp"). */
int cli_parse_long(const char *name, const char *s, long lo, long hi, long *out);
int cli_parse_double(const char *name, const char *s, double lo, double hi,
                     double *out);
/* Comma-separated token ids ("1, 2,3"): whitespace around numbers is fine,
 * empty elements are not.  *ids is malloc'd (caller frees).  An empty
 * string gives n = 0 when allow_empty, else an error.  Returns 0, or
 * CLI_EXIT_USAGE after naming the element that is wrong. */
int cli_parse_ids(const char *name, const char *s, int allow_empty,
                  int32_t **ids, size_t *n);

/* ------------------------------------------------------- option tables */

typedef enum cli_kind {
    CLI_END_ = 0, /* the end of a table (use CLI_END) */
    CLI_FLAG,     /* no value; dest: int, set to 1 */
    CLI_STRING,   /* dest: const char *, the argv string itself */
    CLI_INT,      /* dest: int (int32_t), an integer in [min, max] */
    CLI_U64,      /* dest: uint64_t, a non-negative integer */
    CLI_FLOAT,    /* dest: float, a number in [min, max] */
    CLI_DOUBLE,   /* dest: double, a number in [min, max] */
    CLI_IDS,      /* dest: cli_ids, comma-separated token ids (each in
                     [min, max] when max > min); a later use replaces it */
    CLI_STRINGS,  /* dest: cli_strs; repeatable, each use appends */
    CLI_CALL      /* takes a value and hands it to fn(user, value) alone */
} cli_kind;

/* CLI_IDS values (free with cli_ids_free). */
typedef struct cli_ids {
    int32_t *v;
    size_t n;
} cli_ids;
void cli_ids_free(cli_ids *ids);

/* CLI_STRINGS values: borrowed argv strings (free with cli_strs_free). */
typedef struct cli_strs {
    const char **v;
    size_t n;
} cli_strs;
void cli_strs_free(cli_strs *s);

typedef struct cli_opt {
    const char *group;   /* a heading ("Model:") printed in the help before
                            this option; options before the first heading
                            are listed under "Options:" */
    char short_name;     /* 'm' for -m; 0 = none */
    const char *name;    /* "model" for --model; NULL = short only */
    const char *alias;   /* another accepted long name (not in the help) */
    cli_kind kind;
    void *dest;          /* where the value goes (see cli_kind) */
    /* CLI_CALL: handles the value.  Any other kind: called after the value
     * was stored, to check it further.  Returns 0, or an exit status after
     * printing the error (cli_usage_err). */
    int (*fn)(void *user, const char *value);
    void *user;
    const char *metavar; /* "DIR"; NULL: "N", "X", "TEXT" or "IDS" by kind */
    const char *help;    /* one line (more with "\n") */
    int show_default;    /* append "(default V)", V = dest's value before
                            parsing */
    double min, max;     /* CLI_INT / CLI_FLOAT / CLI_DOUBLE range, CLI_IDS
                            element range (when max > min) */
    const char *bound;   /* the range is the library's bound of this
                            inf_generate_options field ("temperature") */
} cli_opt;

#define CLI_END {.kind = CLI_END_}

/* A subcommand's command line. */
typedef struct cli_cmd {
    /* What follows "usage: inference SUB " ("-m DIR [OPTIONS] [PROMPT]");
     * "\n" separates alternative forms, each printed on its own line; a
     * line that starts with a space continues the form above it. */
    const char *synopsis;
    const char *about;   /* paragraph(s) between the usage line and the
                            options, or NULL */
    const char *epilog;  /* text after the options, or NULL */
    const cli_opt *opts;
    /* Positional arguments: between pos_min and pos_max of them, named
     * pos_name in messages ("expected one FILE argument, got 2");
     * pos_hint is appended to those messages in parentheses. */
    int pos_min, pos_max;
    const char *pos_name;
    const char *pos_hint;
} cli_cmd;

/* The positional arguments cli_parse found, in order. */
typedef struct cli_args {
    char **pos; /* pos[0..n): pointers into argv (argv + 1, see below) */
    int n;
} cli_args;

/* Parses argv[1..argc) (argv[0] is the subcommand's name) against cmd and
 * fills the options' destinations.  The positional arguments are moved to
 * the front of argv[1..] (the strings are not touched), and *args points
 * at them.  Returns 0; CLI_HELP_SHOWN after printing the help on stdout
 * for -h / --help; or CLI_EXIT_USAGE after printing the error. */
int cli_parse(const cli_cmd *cmd, int argc, char **argv, cli_args *args);
/* The exit status for a non-zero cli_parse result (0 after the help). */
static inline int cli_parse_exit(int rc) { return rc == CLI_HELP_SHOWN ? 0 : rc; }

/* Writes the help generated from cmd to stdout (what --help prints). */
void cli_print_help(const cli_cmd *cmd);

#endif
