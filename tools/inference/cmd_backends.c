/* inference backends: the registry, and whether each backend runs here. */
#include <string.h>

#include "commands.h"
#include "common.h"

static const char usage_text[] =
    "usage: inference backends [--json]\n"
    "\n"
    "Lists the registered backends, whether each is available on this machine\n"
    "(and why not), and which one loads models by default.\n"
    "\n"
    "Options:\n"
    "  --json       one JSON object: {\"default\": NAME, \"backends\": [...]}\n"
    "  -h, --help   this help\n";

enum { OPT_JSON = CLI_OPT_FIRST_FREE };

int inf_cmd_backends(int argc, char **argv) {
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
    if (argc > optind)
        return cli_usage_err("unexpected argument '%s'", argv[optind]);
    char *derr = NULL;
    const inf_backend *def = inf_backend_default(&derr);
    size_t n = inf_backend_count();
    json_t *arr = json ? json_array() : NULL;
    if (!json) printf("%-10s %-9s %s\n", "NAME", "AVAILABLE", "DESCRIPTION");
    for (size_t i = 0; i < n; i++) {
        const inf_backend *b = inf_backend_at(i);
        if (!b) continue;
        char why[512] = "";
        int ok = inf_backend_available(b, why, sizeof why);
        const char *desc = inf_backend_description(b);
        if (json) {
            json_t *o = json_pack("{s:s,s:s,s:b,s:b}", "name", inf_backend_name(b),
                                  "description", desc, "available", ok,
                                  "default", b == def);
            if (!ok) json_object_set_new(o, "reason", cli_json_string(why, strlen(why)));
            json_array_append_new(arr, o);
        } else {
            printf("%-10s %-9s %s%s%s%s%s\n", inf_backend_name(b), ok ? "yes" : "no", desc,
                   b == def ? " [default]" : "", ok ? "" : " (", ok ? "" : why,
                   ok ? "" : ")");
        }
    }
    int rc = CLI_EXIT_OK;
    if (json) {
        json_t *o = json_pack("{s:o,s:o}", "default",
                              def ? json_string(inf_backend_name(def)) : json_null(),
                              "backends", arr);
        rc = cli_json_println(stdout, o);
    } else {
        if (!def) printf("no backend is available here: %s\n", derr ? derr : "");
        fflush(stdout);
    }
    inf_free(derr);
    return rc;
}
