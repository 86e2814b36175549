/* inference discover: the model directories in a directory and its
 * immediate subdirectories. */
#include <string.h>

#include "commands.h"
#include "common.h"

static const char usage_text[] =
    "usage: inference discover [--json] DIR\n"
    "\n"
    "Lists the model directories (config.json plus *.safetensors) in DIR and\n"
    "its immediate subdirectories: path, architecture, quantisation, number\n"
    "of safetensors files.\n"
    "\n"
    "Options:\n"
    "  --json       a JSON array of {path, model_type, quant_bits,\n"
    "               quant_group, safetensors}\n"
    "  -h, --help   this help\n";

enum { OPT_JSON = CLI_OPT_FIRST_FREE };

int inf_cmd_discover(int argc, char **argv) {
    static const struct option longopts[] = {
        {"json", no_argument, 0, OPT_JSON},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    int json = 0, c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_JSON: json = 1; break;
        case 'h': fputs(usage_text, stdout); return CLI_EXIT_OK;
        default: return cli_bad_option(c, argc, argv);
        }
    }
    if (argc - optind != 1)
        return cli_usage_err("expected one DIR argument, got %d", argc - optind);
    const char *dir = argv[optind];
    if (cli_require_dir(dir)) return CLI_EXIT_ERROR;
    inf_discovered *d = NULL;
    size_t n = 0;
    char *msg = NULL;
    int st = inf_discover(dir, &d, &n, &msg);
    if (st != INF_OK) {
        cli_err("%s", msg && *msg ? msg : inf_strerror(st));
        inf_free(msg);
        return CLI_EXIT_ERROR;
    }
    inf_free(msg);
    int rc = CLI_EXIT_OK;
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(
                arr, json_pack("{s:s,s:s,s:i,s:i,s:i}", "path", d[i].path,
                               "model_type", d[i].model_type ? d[i].model_type : "",
                               "quant_bits", (int)d[i].quant_bits,
                               "quant_group", (int)d[i].quant_group,
                               "safetensors", (int)d[i].n_safetensors));
        rc = cli_json_println(stdout, arr);
    } else if (n == 0) {
        printf("no model directories in %s\n", dir);
    } else {
        printf("%-12s %-10s %-11s %s\n", "TYPE", "QUANT", "SAFETENSORS", "PATH");
        for (size_t i = 0; i < n; i++) {
            char q[32] = "-";
            if (d[i].quant_bits)
                snprintf(q, sizeof q, "%d-bit/g%d", (int)d[i].quant_bits,
                         (int)d[i].quant_group);
            printf("%-12s %-10s %-11d %s\n",
                   d[i].model_type && *d[i].model_type ? d[i].model_type : "?",
                   q, (int)d[i].n_safetensors, d[i].path);
        }
    }
    fflush(stdout);
    inf_discovered_free(d, n);
    return rc;
}
