/* inference backends and inference discover: two listings, each built
 * once as JSON objects (one per row) and printed either as JSON (--json) or
 * as a table whose columns are described below. */
#include <string.h>

#include "cmdutil.h"
#include "commands.h"

/* ------------------------------------------------------------- the table */

/* A column: its header, its width (0 for the last one), and the text of a
 * row's cell. */
typedef struct column {
    const char *header;
    int width;
    void (*cell)(json_t *row, char *buf, size_t n);
} column;

static void print_line(const column *cols, size_t n, const char *const *cells) {
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n) printf("%-*s ", cols[i].width, cells[i]);
        else printf("%s\n", cells[i]);
    }
}

/* The header, then one line per element of the array rows. */
static void print_table(const column *cols, size_t n, json_t *rows) {
    const char *cells[8];
    char buf[8][1024];
    for (size_t i = 0; i < n; i++) cells[i] = cols[i].header;
    print_line(cols, n, cells);
    size_t r;
    json_t *row;
    json_array_foreach(rows, r, row) {
        for (size_t i = 0; i < n; i++) {
            cols[i].cell(row, buf[i], sizeof buf[i]);
            cells[i] = buf[i];
        }
        print_line(cols, n, cells);
    }
}

static const char *str_of(json_t *row, const char *key) {
    const char *s = json_string_value(json_object_get(row, key));
    return s ? s : "";
}

static int int_of(json_t *row, const char *key) {
    return (int)json_integer_value(json_object_get(row, key));
}

/* ------------------------------------------------------------- backends */

static void b_name(json_t *row, char *buf, size_t n) {
    snprintf(buf, n, "%s", str_of(row, "name"));
}

static void b_available(json_t *row, char *buf, size_t n) {
    snprintf(buf, n, "%s", json_is_true(json_object_get(row, "available")) ? "yes" : "no");
}

static void b_description(json_t *row, char *buf, size_t n) {
    int ok = json_is_true(json_object_get(row, "available"));
    snprintf(buf, n, "%s%s%s%s%s", str_of(row, "description"),
             json_is_true(json_object_get(row, "default")) ? " [default]" : "",
             ok ? "" : " (", ok ? "" : str_of(row, "reason"), ok ? "" : ")");
}

int inf_cmd_backends(int argc, char **argv) {
    int json = 0;
    const cli_opt opts[] = {
        {.name = "json", .kind = CLI_FLAG, .dest = &json,
         .help = "one JSON object: {\"default\": NAME, \"backends\": [...]}"},
        CLI_END};
    const cli_cmd cmd = {
        .synopsis = "[--json]",
        .about = "Lists the registered backends, whether each is available on this machine\n"
                 "(and why not), and which one loads models by default.\n",
        .opts = opts};
    cli_args args;
    int rc = cli_parse(&cmd, argc, argv, &args);
    if (rc) return cli_parse_exit(rc);
    char *derr = NULL;
    const inf_backend *def = inf_backend_default(&derr);
    json_t *rows = json_array();
    for (size_t i = 0; i < inf_backend_count(); i++) {
        const inf_backend *b = inf_backend_at(i);
        if (!b) continue;
        char why[512] = "";
        int ok = inf_backend_available(b, why, sizeof why);
        json_t *o = json_pack("{s:s,s:s,s:b,s:b}", "name", inf_backend_name(b),
                              "description", inf_backend_description(b),
                              "available", ok, "default", b == def);
        if (!ok) json_object_set_new(o, "reason", cli_json_string(why, strlen(why)));
        json_array_append_new(rows, o);
    }
    if (json) {
        rc = cli_json_println(stdout, json_pack("{s:o,s:o}", "default",
                                                def ? json_string(inf_backend_name(def))
                                                    : json_null(),
                                                "backends", rows));
    } else {
        static const column cols[] = {{"NAME", 10, b_name},
                                      {"AVAILABLE", 9, b_available},
                                      {"DESCRIPTION", 0, b_description}};
        print_table(cols, 3, rows);
        if (!def) printf("no backend is available here: %s\n", derr ? derr : "");
        fflush(stdout);
        json_decref(rows);
    }
    inf_free(derr);
    return rc;
}

/* ------------------------------------------------------------- discover */

static void d_type(json_t *row, char *buf, size_t n) {
    const char *t = str_of(row, "model_type");
    snprintf(buf, n, "%s", *t ? t : "?");
}

static void d_format(json_t *row, char *buf, size_t n) {
    snprintf(buf, n, "%s", str_of(row, "format"));
}

static void d_quant(json_t *row, char *buf, size_t n) {
    const char *wt = str_of(row, "weight_types");
    if (*wt)  /* GGUF: the most frequent type ("Q4_K 190, ..." -> "Q4_K") */
        snprintf(buf, n, "%.*s", (int)strcspn(wt, " "), wt);
    else if (int_of(row, "quant_bits"))
        snprintf(buf, n, "%d-bit/g%d", int_of(row, "quant_bits"), int_of(row, "quant_group"));
    else
        snprintf(buf, n, "-");
}

static void d_files(json_t *row, char *buf, size_t n) {
    snprintf(buf, n, "%d", int_of(row, "files"));
}

static void d_path(json_t *row, char *buf, size_t n) {
    snprintf(buf, n, "%s", str_of(row, "path"));
}

int inf_cmd_discover(int argc, char **argv) {
    int json = 0;
    const cli_opt opts[] = {
        {.name = "json", .kind = CLI_FLAG, .dest = &json,
         .help = "a JSON array of {path, model_type, quant_bits,\n"
                 "quant_group, safetensors, format, weight_types, files}"},
        CLI_END};
    const cli_cmd cmd = {
        .synopsis = "[--json] DIR",
        .about = "Lists the model directories (config.json plus *.safetensors) and GGUF\n"
                 "model files (a split set once) in DIR and its immediate subdirectories:\n"
                 "architecture, format, quantisation (GGUF: the most frequent tensor type),\n"
                 "number of files, path.\n",
        .opts = opts, .pos_min = 1, .pos_max = 1, .pos_name = "DIR"};
    cli_args args;
    int rc = cli_parse(&cmd, argc, argv, &args);
    if (rc) return cli_parse_exit(rc);
    const char *dir = args.pos[0];
    if (cli_require_dir(dir)) return CLI_EXIT_ERROR;
    inf_discovered *d = NULL;
    size_t n = 0;
    char *msg = NULL;
    int st = inf_discover(dir, &d, &n, &msg);
    if (st != INF_OK) {
        cli_lib_err(st, msg);
        inf_free(msg);
        return CLI_EXIT_ERROR;
    }
    inf_free(msg);
    json_t *rows = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(
            rows, json_pack("{s:s,s:s,s:i,s:i,s:i,s:s,s:s,s:i}", "path", d[i].path,
                            "model_type", d[i].model_type ? d[i].model_type : "",
                            "quant_bits", (int)d[i].quant_bits,
                            "quant_group", (int)d[i].quant_group,
                            "safetensors", (int)d[i].n_safetensors,
                            "format", d[i].format ? d[i].format : "",
                            "weight_types", d[i].weight_types ? d[i].weight_types : "",
                            "files", (int)d[i].n_files));
    inf_discovered_free(d, n);
    if (json) return cli_json_println(stdout, rows);
    static const column cols[] = {{"TYPE", 12, d_type},
                                  {"FORMAT", 11, d_format},
                                  {"QUANT", 10, d_quant},
                                  {"FILES", 5, d_files},
                                  {"PATH", 0, d_path}};
    if (n == 0) printf("no models in %s\n", dir);
    else print_table(cols, 5, rows);
    fflush(stdout);
    json_decref(rows);
    return CLI_EXIT_OK;
}
