/* inference logits: the logits at every position of a token sequence, as a
 * raw float32 file, for comparing with other implementations. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "common.h"

static const char usage_text[] =
    "usage: inference logits -m DIR --tokens IDS --out FILE [model options]\n"
    "\n"
    "Runs the comma-separated token ids IDS as one fresh sequence (no BOS is\n"
    "added) and writes the logits at every position to FILE (\"-\" = standard\n"
    "output): float32 little-endian, row-major [T, V] (T = number of ids,\n"
    "V = vocabulary size).  The shape goes to standard error unless --quiet.\n"
    "\n"
    "Options:\n"
    "  --tokens IDS   the token ids, e.g. 1,415,19723\n"
    "  --out FILE     where to write the logits\n"
    "  -h, --help     this help\n"
    "\n" CLI_MODEL_HELP;

enum { OPT_TOKENS = CLI_OPT_FIRST_FREE, OPT_OUT };

/* Writes n floats little-endian whatever the host order. */
static int write_f32le(FILE *f, const float *v, size_t n) {
    const uint16_t one = 1;
    if (*(const uint8_t *)&one == 1) return fwrite(v, sizeof *v, n, f) == n ? 0 : -1;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        uint8_t b[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16),
                        (uint8_t)(u >> 24)};
        if (fwrite(b, 1, 4, f) != 4) return -1;
    }
    return 0;
}

int inf_cmd_logits(int argc, char **argv) {
    static const struct option longopts[] = {
        CLI_MODEL_LONGOPTS,
        {"tokens", required_argument, 0, OPT_TOKENS},
        {"out", required_argument, 0, OPT_OUT},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    cli_model_args ma;
    cli_model_args_init(&ma);
    const char *tokens = NULL, *out_path = NULL;
    int c, rc;
    while ((c = getopt_long(argc, argv, ":m:t:h", longopts, NULL)) != -1) {
        int r = cli_model_opt(&ma, c, optarg);
        if (r == 1) continue;
        if (r) return r;
        switch (c) {
        case OPT_TOKENS: tokens = optarg; break;
        case OPT_OUT: out_path = optarg; break;
        case 'h': fputs(usage_text, stdout); return CLI_EXIT_OK;
        default: return cli_bad_option(c, argc, argv);
        }
    }
    if (argc > optind)
        return cli_usage_err("unexpected argument '%s'", argv[optind]);
    if (!tokens) return cli_usage_err("no tokens given: use --tokens IDS");
    if (!out_path) return cli_usage_err("no output file given: use --out FILE");
    int32_t *ids = NULL;
    size_t n = 0;
    if ((rc = cli_parse_ids("--tokens", tokens, 0, &ids, &n))) return rc;
    inf_model *m = NULL;
    float *logits = NULL;
    FILE *f = NULL;
    if ((rc = cli_check_model_dir(&ma, 1)) || (rc = cli_load_model(&ma, &m)))
        goto done;
    rc = CLI_EXIT_ERROR;
    inf_model_info info;
    if (inf_model_info_get(m, &info) == INF_OK && info.vocab_size > 0) {
        for (size_t i = 0; i < n; i++)
            if (ids[i] >= info.vocab_size) {
                cli_err("token id %d (element %zu) is out of range: the "
                        "vocabulary has %d tokens", (int)ids[i], i + 1,
                        (int)info.vocab_size);
                goto done;
            }
    }
    int32_t vocab = 0;
    char *msg = NULL;
    int st = inf_model_logits(m, ids, n, &logits, &vocab, &msg);
    if (st != INF_OK) {
        cli_err("%s", msg && *msg ? msg : inf_strerror(st));
        inf_free(msg);
        goto done;
    }
    inf_free(msg);
    int to_stdout = strcmp(out_path, "-") == 0;
    f = to_stdout ? stdout : fopen(out_path, "wb");
    if (!f) {
        cli_err("cannot create '%s': %s", out_path, strerror(errno));
        goto done;
    }
    if (write_f32le(f, logits, n * (size_t)vocab) != 0 || fflush(f) != 0) {
        cli_err("cannot write '%s'", out_path);
        goto done;
    }
    if (!ma.quiet)
        fprintf(stderr, "wrote float32 logits [%zu, %d] to %s\n", n, (int)vocab,
                to_stdout ? "standard output" : out_path);
    rc = CLI_EXIT_OK;
done:
    if (f && f != stdout && fclose(f) != 0 && rc == CLI_EXIT_OK)
        rc = cli_err("cannot write '%s'", out_path);
    inf_free(logits);
    inf_model_close(&m);
    free(ids);
    return rc;
}
