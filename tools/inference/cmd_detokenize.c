/* inference detokenize: token ids to text, exactly. */
#include <stdlib.h>
#include <string.h>

#include "cmdutil.h"
#include "commands.h"

static const char about[] =
    "Decodes the comma-separated token ids IDS (e.g. 1,415,19723) with\n"
    "DIR/tokenizer.json, or with a GGUF model file's tokenizer, and prints\n"
    "the text exactly: nothing is appended, not even a newline.  DIR may\n"
    "hold only the tokenizer files.\n";

int inf_cmd_detokenize(int argc, char **argv) {
    const char *dir = NULL;
    int skip = 0;
    const cli_opt opts[] = {
        {.short_name = 'm', .name = "model", .kind = CLI_STRING, .dest = &dir,
         .metavar = "PATH", .help = "a directory holding tokenizer.json, or a\n"
                                      "GGUF model file (its tokenizer metadata)"},
        {.name = "skip-special", .kind = CLI_FLAG, .dest = &skip,
         .help = "leave out special tokens (BOS, EOS, ...)"},
        CLI_END};
    const cli_cmd cmd = {.synopsis = "-m PATH [--skip-special] IDS", .about = about,
                         .opts = opts, .pos_min = 1, .pos_max = 1, .pos_name = "IDS",
                         .pos_hint = "comma-separated token ids"};
    int32_t *ids = NULL;
    size_t n = 0;
    inf_tokenizer *t = NULL;
    char *text = NULL;
    cli_args args;
    int rc = cli_parse(&cmd, argc, argv, &args);
    if (rc) return cli_parse_exit(rc);
    if (!dir) return cli_usage_err("no tokenizer given: use -m DIR or -m FILE.gguf");
    if ((rc = cli_parse_ids("IDS", args.pos[0], 1, &ids, &n))) return rc;
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
        cli_lib_err(st, msg);
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
