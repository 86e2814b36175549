/* inference logits: the logits at every position of a token sequence, as a
 * raw float32 file, for comparing with other implementations. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmdutil.h"
#include "commands.h"

static const char about[] =
    "Runs the comma-separated token ids IDS as one fresh sequence (no BOS is\n"
    "added) and writes the logits at every position to FILE (\"-\" = standard\n"
    "output): float32 little-endian, row-major [T, V] (T = number of ids,\n"
    "V = vocabulary size).  The shape goes to standard error unless --quiet.\n";

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
    cli_model_args ma;
    cli_model_args_init(&ma);
    const char *out_path = NULL;
    cli_ids ids = {NULL, 0};
    const cli_opt opts[] = {
        {.name = "tokens", .kind = CLI_IDS, .dest = &ids,
         .help = "the token ids, e.g. 1,415,19723"},
        {.name = "out", .kind = CLI_STRING, .dest = &out_path, .metavar = "FILE",
         .help = "where to write the logits"},
        CLI_MODEL_OPTIONS(&ma),
        CLI_END};
    const cli_cmd cmd = {.synopsis = "-m DIR --tokens IDS --out FILE [model options]",
                         .about = about, .opts = opts};
    cli_args args;
    int rc = cli_parse(&cmd, argc, argv, &args);
    if (rc) {
        cli_ids_free(&ids);
        return cli_parse_exit(rc);
    }
    if (!ids.n) return cli_usage_err("no tokens given: use --tokens IDS");
    /* logits are compared with references (golden files, other programs):
     * always the exact kernels, whatever INF_PRECISION says */
    if (ma.precision && strcmp(ma.precision, "exact") != 0) {
        cli_ids_free(&ids);
        return cli_usage_err("logits always runs with --precision exact");
    }
    ma.lo.precision = INF_PRECISION_EXACT;
    if (!out_path) {
        cli_ids_free(&ids);
        return cli_usage_err("no output file given: use --out FILE");
    }
    size_t n = ids.n;
    inf_model *m = NULL;
    float *logits = NULL;
    FILE *f = NULL;
    if ((rc = cli_check_model_dir(&ma)) || (rc = cli_load_model(&ma, &m)))
        goto done;
    rc = CLI_EXIT_ERROR;
    inf_model_info info;
    if (inf_model_info_get(m, &info) == INF_OK && info.vocab_size > 0) {
        for (size_t i = 0; i < n; i++)
            if (ids.v[i] >= info.vocab_size) {
                cli_err("token id %d (element %zu) is out of range: the "
                        "vocabulary has %d tokens", (int)ids.v[i], i + 1,
                        (int)info.vocab_size);
                goto done;
            }
    }
    int32_t vocab = 0;
    char *msg = NULL;
    int st = inf_model_logits(m, ids.v, n, &logits, &vocab, &msg);
    if (st != INF_OK) {
        cli_lib_err(st, msg);
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
    cli_ids_free(&ids);
    return rc;
}
