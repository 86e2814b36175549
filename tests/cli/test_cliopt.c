/* Unit tests of the tools' option parser (tools/common/cliopt.c): every
 * value kind, the argument forms (--name VALUE, --name=VALUE, -xVALUE,
 * bundled flags, --, "-"), the exact error lines and exit statuses, ranges
 * taken from the library's bounds table, and the generated help. */
#include <stdint.h>
#include <unistd.h>

#include "common/cliopt.h"
#include "inference.h"
#include "testutil.h"

/* Runs cli_parse with stdout and stderr captured into out / err. */
static int run(const cli_cmd *cmd, char **argv, cli_args *args, char *out,
               size_t out_n, char *err, size_t err_n) {
    int argc = 0;
    while (argv[argc]) argc++;
    fflush(stdout);
    fflush(stderr);
    FILE *fo = tmpfile(), *fe = tmpfile();
    int so = dup(1), se = dup(2);
    dup2(fileno(fo), 1);
    dup2(fileno(fe), 2);
    int rc = cli_parse(cmd, argc, argv, args);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);
    FILE *fs[2] = {fo, fe};
    char *bufs[2] = {out, err};
    size_t ns[2] = {out_n, err_n};
    for (int i = 0; i < 2; i++) {
        rewind(fs[i]);
        size_t got = fread(bufs[i], 1, ns[i] - 1, fs[i]);
        bufs[i][got] = 0;
        fclose(fs[i]);
    }
    return rc;
}

typedef struct vals {
    int flag, n, called;
    float temp;
    double x;
    uint64_t seed;
    const char *str;
    cli_ids ids;
    cli_strs many;
    char last_call[64];
} vals;

static int on_call(void *user, const char *value) {
    vals *v = user;
    v->called++;
    snprintf(v->last_call, sizeof v->last_call, "%s", value);
    if (strcmp(value, "bad") == 0) return cli_usage_err("--call: bad value");
    return 0;
}

static vals v;
static cli_opt opts[] = {
    {.short_name = 'f', .name = "flag", .kind = CLI_FLAG, .dest = &v.flag, .help = "a flag"},
    {.short_name = 'q', .name = "quick", .kind = CLI_FLAG, .dest = NULL, .help = "another"},
    {.short_name = 's', .name = "str", .kind = CLI_STRING, .dest = &v.str, .metavar = "S",
     .help = "a string", .show_default = 1},
    {.short_name = 'n', .name = "num", .kind = CLI_INT, .dest = &v.n, .min = 1, .max = 10,
     .show_default = 1, .help = "an integer"},
    {.name = "x", .kind = CLI_DOUBLE, .dest = &v.x, .min = -1, .max = 1, .help = "a number"},
    {.group = "Sampling:", .name = "temp", .alias = "temperature", .kind = CLI_FLOAT,
     .dest = &v.temp, .bound = "temperature", .help = "bounded by the library"},
    {.name = "seed", .kind = CLI_U64, .dest = &v.seed, .help = "a seed"},
    {.name = "ids", .kind = CLI_IDS, .dest = &v.ids, .min = 0, .max = 100, .help = "ids"},
    {.name = "many", .kind = CLI_STRINGS, .dest = &v.many, .help = "repeatable"},
    {.name = "call", .kind = CLI_CALL, .fn = on_call, .user = &v, .metavar = "V",
     .help = "a callback\nover two lines"},
    CLI_END};
static const cli_cmd cmd = {.synopsis = "[OPTIONS] [FILE]\n [more]\n-x ALT",
                            .about = "About it.\n", .epilog = "The end.\n",
                            .opts = opts, .pos_max = 2, .pos_name = "FILE",
                            .pos_hint = "a hint"};
static char out[8192], err[2048];

/* Parses argv (NULL-terminated) from fresh values. */
static int parse(char **argv, cli_args *a) {
    cli_ids_free(&v.ids);
    cli_strs_free(&v.many);
    memset(&v, 0, sizeof v);
    v.n = 5;
    v.str = "dflt";
    return run(&cmd, argv, a, out, sizeof out, err, sizeof err);
}

/* Expects argv to fail with exit status 2 and exactly the line
 * "inference: test: <msg> (see 'inference test --help')". */
static void bad(char **argv, const char *msg) {
    cli_args a;
    int rc = parse(argv, &a);
    char want[512];
    snprintf(want, sizeof want, "inference: test: %s (see 'inference test --help')\n", msg);
    CHECK_MSG(rc == CLI_EXIT_USAGE, "%s: rc %d", argv[1], rc);
    CHECK_EQ_STR(err, want);
    CHECK_EQ_STR(out, "");
}

int main(void) {
    cli_set_sub("test");
    cli_args a;

    /* Every form of giving a value, options mixed with positionals. */
    char *a2[] = {"test", "--str", "v1", "pos1", "--num=7", "-f", "-sv2", "--x", "0.5", "pos2",
                  NULL};
    CHECK_EQ_INT(parse(a2, &a), 0);
    CHECK_EQ_INT(v.flag, 1);
    CHECK_EQ_STR(v.str, "v2");
    CHECK_EQ_INT(v.n, 7);
    CHECK_NEAR(v.x, 0.5, 0);
    CHECK_EQ_INT(a.n, 2);
    CHECK_EQ_STR(a.pos[0], "pos1");
    CHECK_EQ_STR(a.pos[1], "pos2");
    CHECK_EQ_STR(err, "");

    /* Bundled flags, a short option's value attached, "-" and "--". */
    char *a3[] = {"test", "-fq", "-n3", "-", "--", "--flag", NULL};
    CHECK_EQ_INT(parse(a3, &a), 0);
    CHECK_EQ_INT(v.flag, 1);
    CHECK_EQ_INT(v.n, 3);
    CHECK_EQ_INT(a.n, 2);
    CHECK_EQ_STR(a.pos[0], "-");
    CHECK_EQ_STR(a.pos[1], "--flag");

    /* The other kinds: alias, u64, ids (replaced by a later use), repeated
     * strings, the callback. */
    char *a4[] = {"test", "--temperature", "0.7", "--seed", "18446744073709551615", "--ids",
                  "9", "--ids", "1, 2,3", "--many", "a", "--many=b", "--call", "c", NULL};
    CHECK_EQ_INT(parse(a4, &a), 0);
    CHECK_NEAR(v.temp, 0.7, 1e-6);
    CHECK(v.seed == UINT64_MAX);
    CHECK_EQ_INT(v.ids.n, 3);
    CHECK_EQ_INT(v.ids.v[2], 3);
    CHECK_EQ_INT(v.many.n, 2);
    CHECK_EQ_STR(v.many.v[1], "b");
    CHECK_EQ_INT(v.called, 1);
    CHECK_EQ_STR(v.last_call, "c");
    char *a4b[] = {"test", "--seed", "0", NULL};
    CHECK_EQ_INT(parse(a4b, &a), 0);
    CHECK(v.seed == 0);

    /* Errors: the messages the CLI tests and users rely on. */
    char *e1[] = {"test", "--bogus", "x", NULL};
    bad(e1, "unknown option '--bogus'");
    char *e2[] = {"test", "-z", NULL};
    bad(e2, "unknown option '-z'");
    char *e3[] = {"test", "x", "--num", NULL};
    bad(e3, "option '--num' needs a value");
    char *e4[] = {"test", "-n", NULL};
    bad(e4, "option '-n' needs a value");
    char *e5[] = {"test", "--flag=yes", NULL};
    bad(e5, "option '--flag' takes no value");
    char *e6[] = {"test", "--num", "hot", NULL};
    bad(e6, "invalid value 'hot' for --num: expected an integer");
    char *e7[] = {"test", "--num", "11", NULL};
    bad(e7, "invalid value '11' for --num: must be in [1, 10]");
    char *e8[] = {"test", "--x", "1e999", NULL};
    bad(e8, "invalid value '1e999' for --x: expected a number");
    char *e9[] = {"test", "--seed", "-1", NULL};
    bad(e9, "invalid value '-1' for --seed: expected a non-negative integer");
    char *e10[] = {"test", "--ids", "1,x", NULL};
    bad(e10, "--ids: element 2 ('x') is not a token id (a non-negative integer)");
    char *e11[] = {"test", "--ids", "1,200", NULL};
    bad(e11, "--ids: element 2 (200) must be in [0, 100]");
    char *e12[] = {"test", "--call", "bad", NULL};
    bad(e12, "--call: bad value");
    char *e13[] = {"test", "a", "b", "c", NULL};
    bad(e13, "expected 0 to 2 FILE arguments, got 3 (a hint)");
    char *e14[] = {"test", "-fz", NULL};
    bad(e14, "unknown option '-z'");

    /* The range of a bounded option is the library's. */
    const inf_option_bound *b = inf_generate_option_bound("temperature");
    CHECK(b != NULL);
    if (b) {
        char at_max[32], above[32], want[128];
        snprintf(at_max, sizeof at_max, "%g", b->max);
        snprintf(above, sizeof above, "%g", b->max * 1.5 + 1);
        char *ok[] = {"test", "--temp", at_max, NULL};
        CHECK_EQ_INT(parse(ok, &a), 0);
        CHECK_NEAR(v.temp, b->max, 1e-3);
        char *no[] = {"test", "--temp", above, NULL};
        snprintf(want, sizeof want, "invalid value '%s' for --temp: must be in [%g, %g]", above,
                 b->min, b->max);
        bad(no, want);
        char *nan[] = {"test", "--temp", "nan", NULL};
        bad(nan, "invalid value 'nan' for --temp: expected a number");
    }

    /* Positional counts of the usual shapes. */
    static const cli_opt none[] = {CLI_END};
    cli_cmd one = {.opts = none, .pos_min = 1, .pos_max = 1, .pos_name = "FILE"};
    char *p0[] = {"test", NULL};
    CHECK_EQ_INT(run(&one, p0, &a, out, sizeof out, err, sizeof err), CLI_EXIT_USAGE);
    CHECK_EQ_STR(err, "inference: test: expected one FILE argument, got 0 (see 'inference test "
                      "--help')\n");
    cli_cmd zero = {.opts = none, .pos_hint = "it takes none"};
    char *p1[] = {"test", "extra", NULL};
    CHECK_EQ_INT(run(&zero, p1, &a, out, sizeof out, err, sizeof err), CLI_EXIT_USAGE);
    CHECK_EQ_STR(err, "inference: test: unexpected argument 'extra' (it takes none) (see "
                      "'inference test --help')\n");
    cli_cmd opt = {.opts = none, .pos_max = 1, .pos_name = "PROMPT"};
    char *p2[] = {"test", "a", "b", NULL};
    CHECK_EQ_INT(run(&opt, p2, &a, out, sizeof out, err, sizeof err), CLI_EXIT_USAGE);
    CHECK(strstr(err, "expected at most one PROMPT argument, got 2") != NULL);

    /* --help / -h: the help on stdout, generated from the table. */
    char *h1[] = {"test", "--num", "4", "--help", "--bogus", NULL};
    CHECK_EQ_INT(parse(h1, &a), CLI_HELP_SHOWN);
    CHECK_EQ_INT(cli_parse_exit(CLI_HELP_SHOWN), 0);
    CHECK_EQ_STR(err, "");
    printf("--- help ---\n%s--- end ---\n", out);
    CHECK(strncmp(out, "usage: inference test [OPTIONS] [FILE]\n", 39) == 0);
    CHECK(strstr(out, "\n                      [more]\n       inference test -x ALT\n") != NULL);
    CHECK(strstr(out, "\nAbout it.\n\nOptions:\n  -f, --flag ") != NULL);
    CHECK(strstr(out, "  -s, --str S ") != NULL && strstr(out, "a string (default dflt)\n"));
    /* The default is the value before parsing, not the one given. */
    CHECK(strstr(out, "an integer (default 5)\n") != NULL);
    CHECK(strstr(out, "  -h, --help ") != NULL);
    CHECK(strstr(out, "this help\n\nSampling:\n  --temp X") != NULL);
    CHECK(strstr(out, "a callback\n") != NULL && strstr(out, "\n        ") != NULL);
    CHECK(strstr(out, "--temperature") == NULL); /* the alias is not listed */
    CHECK(strstr(out, "\nThe end.\n") != NULL);
    char *h2[] = {"test", "-fh", NULL};
    CHECK_EQ_INT(parse(h2, &a), CLI_HELP_SHOWN);
    char *h3[] = {"test", "--help=1", NULL};
    bad(h3, "option '--help' takes no value");

    cli_ids_free(&v.ids);
    cli_strs_free(&v.many);
    return tu_summary("cli_opt");
}
