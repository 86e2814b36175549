/* inference tokenize: text to token ids with a directory's tokenizer.json. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "common.h"

static const char usage_text[] =
    "usage: inference tokenize -m DIR [--no-special] [--json] [TEXT]\n"
    "\n"
    "Encodes TEXT (or standard input, exactly as given, when TEXT is absent)\n"
    "with DIR/tokenizer.json (+ tokenizer_config.json); DIR may hold only\n"
    "those files.  Prints the ids comma-separated on one line, or\n"
    "{\"ids\": [...]} with --json.\n"
    "\n"
    "Options:\n"
    "  -m, --model DIR   the directory holding tokenizer.json\n"
    "  --no-special      do not add the special tokens the post-processor adds\n"
    "                    (BOS and the like); special tokens written in the\n"
    "                    text are still recognised (Hugging Face\n"
    "                    add_special_tokens=False)\n"
    "  --json            print {\"ids\": [...]}\n"
    "  -h, --help        this help\n";

enum { OPT_NO_SPECIAL = CLI_OPT_FIRST_FREE, OPT_JSON };

int inf_cmd_tokenize(int argc, char **argv) {
    static const struct option longopts[] = {
        {"model", required_argument, 0, 'm'},
        {"no-special", no_argument, 0, OPT_NO_SPECIAL},
        {"json", no_argument, 0, OPT_JSON},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *dir = NULL;
    int no_special = 0, json = 0, c, rc = CLI_EXIT_USAGE;
    char *text = NULL;
    int32_t *ids = NULL;
    size_t n = 0, len = 0;
    inf_tokenizer *t = NULL;
    while ((c = getopt_long(argc, argv, ":m:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': dir = optarg; break;
        case OPT_NO_SPECIAL: no_special = 1; break;
        case OPT_JSON: json = 1; break;
        case 'h': fputs(usage_text, stdout); return CLI_EXIT_OK;
        default: return cli_bad_option(c, argc, argv);
        }
    }
    if (argc - optind > 1)
        return cli_usage_err("expected one TEXT argument, got %d (quote the "
                             "text)", argc - optind);
    if (!dir) return cli_usage_err("no tokenizer given: use -m DIR");
    if (argc - optind == 1) {
        text = strdup(argv[optind]);
        len = strlen(text);
    } else if (!(text = cli_read_file("-", &len))) {
        return CLI_EXIT_ERROR;
    }
    rc = CLI_EXIT_ERROR;
    if (cli_require_utf8("the text", text, len)) goto done;
    if ((rc = cli_load_tokenizer(dir, &t)) != 0) goto done;
    rc = CLI_EXIT_ERROR;
    char *msg = NULL;
    int st = inf_tokenize(t, text, len, !no_special, &ids, &n, &msg);
    if (st != INF_OK) {
        cli_err("%s", msg && *msg ? msg : inf_strerror(st));
        inf_free(msg);
        goto done;
    }
    inf_free(msg);
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++) json_array_append_new(arr, json_integer(ids[i]));
        if (cli_json_println(stdout, json_pack("{s:o}", "ids", arr))) goto done;
    } else {
        for (size_t i = 0; i < n; i++) printf(i ? ",%d" : "%d", (int)ids[i]);
        putchar('\n');
        if (fflush(stdout) != 0) { cli_err("cannot write the output"); goto done; }
    }
    rc = CLI_EXIT_OK;
done:
    inf_free(ids);
    inf_tokenizer_free(t);
    free(text);
    return rc;
}
