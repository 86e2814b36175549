/* inference tokenize: text to token ids with a directory's tokenizer.json or a
 * GGUF file's tokenizer. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmdutil.h"
#include "commands.h"

static const char about[] =
    "Encodes TEXT (or standard input, exactly as given, when TEXT is absent)\n"
    "with DIR/tokenizer.json (+ tokenizer_config.json; DIR may hold only\n"
    "those files), or with the tokenizer of a GGUF model file (PATH the\n"
    "file, or a directory holding one GGUF model and no tokenizer.json;\n"
    "llama.cpp's meaning, the weights are not read).  Prints the ids\n"
    "comma-separated on one line, or {\"ids\": [...]} with --json.\n";

int inf_cmd_tokenize(int argc, char **argv) {
    const char *dir = NULL;
    int no_special = 0, json = 0;
    const cli_opt opts[] = {
        {.short_name = 'm', .name = "model", .kind = CLI_STRING, .dest = &dir,
         .metavar = "PATH", .help = "a directory holding tokenizer.json, or a\n"
                                      "GGUF model file (its tokenizer metadata)"},
        {.name = "no-special", .kind = CLI_FLAG, .dest = &no_special,
         .help = "do not add the special tokens the post-processor adds\n"
                 "(BOS and the like); special tokens written in the\n"
                 "text are still recognised (Hugging Face\n"
                 "add_special_tokens=False)"},
        {.name = "json", .kind = CLI_FLAG, .dest = &json, .help = "print {\"ids\": [...]}"},
        CLI_END};
    const cli_cmd cmd = {.synopsis = "-m PATH [--no-special] [--json] [TEXT]",
                         .about = about, .opts = opts, .pos_max = 1,
                         .pos_name = "TEXT", .pos_hint = "quote the text"};
    char *text = NULL;
    int32_t *ids = NULL;
    size_t n = 0, len = 0;
    inf_tokenizer *t = NULL;
    cli_args args;
    int rc = cli_parse(&cmd, argc, argv, &args);
    if (rc) return cli_parse_exit(rc);
    if (!dir) return cli_usage_err("no tokenizer given: use -m DIR or -m FILE.gguf");
    if (args.n == 1) {
        text = strdup(args.pos[0]);
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
        cli_lib_err(st, msg);
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
