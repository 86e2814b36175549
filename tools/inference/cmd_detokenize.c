/* inference detokenize: token ids to text, exactly. */
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "common.h"

static const char usage_text[] =
    "usage: inference detokenize -m DIR [--skip-special] IDS\n"
    "\n"
    "Decodes the comma-separated token ids IDS (e.g. 1,415,19723) with\n"
    "DIR/tokenizer.json and prints the text exactly: nothing is appended, not\n"
    "even a newline.  DIR may hold only the tokenizer files.\n"
    "\n"
    "Options:\n"
    "  -m, --model DIR   the directory holding tokenizer.json\n"
    "  --skip-special    leave out special tokens (BOS, EOS, ...)\n"
    "  -h, --help        this help\n";

enum { OPT_SKIP_SPECIAL = CLI_OPT_FIRST_FREE };

int inf_cmd_detokenize(int argc, char **argv) {
    static const struct option longopts[] = {
        {"model", required_argument, 0, 'm'},
        {"skip-special", no_argument, 0, OPT_SKIP_SPECIAL},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *dir = NULL;
    int skip = 0, c, rc;
    int32_t *ids = NULL;
    size_t n = 0;
    inf_tokenizer *t = NULL;
    char *text = NULL;
    while ((c = getopt_long(argc, argv, ":m:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': dir = optarg; break;
        case OPT_SKIP_SPECIAL: skip = 1; break;
        case 'h': fputs(usage_text, stdout); return CLI_EXIT_OK;
        default: return cli_bad_option(c, argc, argv);
        }
    }
    if (argc - optind != 1)
        return cli_usage_err("expected one IDS argument (comma-separated token "
                             "ids), got %d", argc - optind);
    if (!dir) return cli_usage_err("no tokenizer given: use -m DIR");
    if ((rc = cli_parse_ids("IDS", argv[optind], 1, &ids, &n))) return rc;
    if ((rc = cli_load_tokenizer(dir, &t)) != 0) goto done;
    rc = CLI_EXIT_ERROR;
    int32_t vocab = inf_tokenizer_vocab_size(t);
    for (size_t i = 0; i < n; i++) {
        if (ids[i] >= vocab) {
            cli_err("token id %d (element %zu) is out of range: the vocabulary "
                    "has %d tokens", (int)ids[i], i + 1, (int)vocab);
            goto done;
        }
    }
    size_t len = 0;
    char *msg = NULL;
    int st = inf_detokenize(t, ids, n, skip, &text, &len, &msg);
    if (st != INF_OK) {
        cli_err("%s", msg && *msg ? msg : inf_strerror(st));
        inf_free(msg);
        goto done;
    }
    inf_free(msg);
    if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0) {
        cli_err("cannot write the output");
        goto done;
    }
    rc = CLI_EXIT_OK;
done:
    inf_free(text);
    inf_tokenizer_free(t);
    free(ids);
    return rc;
}
