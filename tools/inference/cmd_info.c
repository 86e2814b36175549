/* inference info: what a model is, which tokenizer and chat template it
 * uses, and the memory its weights take. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "common.h"

#ifdef INF_HAVE_INF_TOKENIZER
#include "text/tokenizer/tokenizer.h"
#endif
#ifdef INF_HAVE_INF_TEMPLATE
#include "text/template/chat_template.h"
#endif

static const char usage_text[] =
    "usage: inference info -m DIR [--json] [model options]\n"
    "\n"
    "Loads the model and prints its ModelInfo (architecture, backend,\n"
    "vocabulary, layers, hidden size, quantisation, context length), the\n"
    "tokenizer and chat template in use, and the memory its weights take.\n"
    "\n"
    "Options:\n"
    "  --json       one JSON object\n"
    "  -h, --help   this help\n"
    "\n" CLI_MODEL_HELP;

enum { OPT_JSON = CLI_OPT_FIRST_FREE };

static int file_exists(const char *dir, const char *name) {
    char p[4096];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0;
}

/* Whether tokenizer_config.json has a "chat_template" key. */
static int config_has_template(const char *dir) {
    char p[4096];
    snprintf(p, sizeof p, "%s/tokenizer_config.json", dir);
    json_t *j = json_load_file(p, 0, NULL);
    int has = j && json_object_get(j, "chat_template") != NULL;
    json_decref(j);
    return has;
}

static void human_bytes(int64_t b, char *out, size_t n) {
    if (b >= (int64_t)1 << 30) snprintf(out, n, "%.2f GiB", (double)b / (1 << 30));
    else if (b >= 1 << 20) snprintf(out, n, "%.1f MiB", (double)b / (1 << 20));
    else snprintf(out, n, "%.1f KiB", (double)b / 1024);
}

int inf_cmd_info(int argc, char **argv) {
    static const struct option longopts[] = {
        CLI_MODEL_LONGOPTS,
        {"json", no_argument, 0, OPT_JSON},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    cli_model_args ma;
    cli_model_args_init(&ma);
    int json = 0, c, rc;
    while ((c = getopt_long(argc, argv, ":m:t:h", longopts, NULL)) != -1) {
        int r = cli_model_opt(&ma, c, optarg);
        if (r == 1) continue;
        if (r) return r;
        switch (c) {
        case OPT_JSON: json = 1; break;
        case 'h': fputs(usage_text, stdout); return CLI_EXIT_OK;
        default: return cli_bad_option(c, argc, argv);
        }
    }
    if (argc > optind)
        return cli_usage_err("unexpected argument '%s'", argv[optind]);
    if ((rc = cli_check_model_dir(&ma, 1))) return rc;
    ma.quiet = ma.quiet || json;
    inf_model *m = NULL;
    if ((rc = cli_load_model(&ma, &m))) return rc;
    inf_model_info info;
    memset(&info, 0, sizeof info);
    int st = inf_model_info_get(m, &info);
    if (st != INF_OK) {
        cli_err("cannot read the model's info: %s", inf_model_errmsg(m));
        inf_model_close(&m);
        return CLI_EXIT_ERROR;
    }
    inf_model_close(&m);

    /* The tokenizer and template, read the way the engine reads them. */
    json_t *tok = json_object(), *tmpl = json_object();
    const char *dir = ma.dir;
    int local = cli_check_model_dir(&ma, 0) == 0 && file_exists(dir, "config.json");
    if (local && file_exists(dir, "tokenizer.json")) {
        json_object_set_new(tok, "file", json_string("tokenizer.json"));
#ifdef INF_HAVE_INF_TOKENIZER
        inf__tokenizer *t = NULL;
        inf__err err;
        inf__err_clear(&err);
        if (inf__tok_load_dir(dir, &t, &err) == INF_OK) {
            json_object_set_new(tok, "vocab_size", json_integer(inf__tok_vocab_size(t)));
            int32_t bos = inf__tok_bos_id(t), eos = inf__tok_eos_id(t);
            const char *bp = bos >= 0 ? inf__tok_piece(t, bos) : NULL;
            const char *ep = eos >= 0 ? inf__tok_piece(t, eos) : NULL;
            json_object_set_new(tok, "bos", bos >= 0 ? json_pack("{s:i,s:s}", "id", (int)bos, "text", bp ? bp : "") : json_null());
            json_object_set_new(tok, "eos", eos >= 0 ? json_pack("{s:i,s:s}", "id", (int)eos, "text", ep ? ep : "") : json_null());
            inf__tok_free(t);
        } else {
            json_object_set_new(tok, "error", json_string(err.msg));
        }
#endif
    } else {
        json_object_set_new(tok, "file", json_null());
    }
    if (local) {
        const char *src = config_has_template(dir) ? "tokenizer_config.json"
                          : file_exists(dir, "chat_template.jinja") ? "chat_template.jinja"
                          : "ChatML fallback";
        json_object_set_new(tmpl, "source", json_string(src));
#ifdef INF_HAVE_INF_TEMPLATE
        inf__chat_template *t = NULL;
        inf__err err;
        inf__err_clear(&err);
        if (inf__tmpl_load_dir(dir, &t, &err) == INF_OK) {
            json_object_set_new(tmpl, "fallback", json_boolean(inf__tmpl_is_fallback(t)));
            const char *s = inf__tmpl_source(t);
            json_object_set_new(tmpl, "bytes", json_integer(s ? (json_int_t)strlen(s) : 0));
            inf__tmpl_free(t);
        } else {
            json_object_set_new(tmpl, "error", json_string(err.msg));
        }
#endif
    }

    if (json) {
        json_t *o = json_pack(
            "{s:s,s:s,s:s,s:i,s:i,s:i,s:i,s:i,s:i,s:I,s:o,s:o}", "path", dir,
            "architecture", info.architecture, "backend", info.backend,
            "vocab_size", (int)info.vocab_size, "n_layers", (int)info.n_layers,
            "hidden_size", (int)info.hidden_size, "quant_bits", (int)info.quant_bits,
            "quant_group", (int)info.quant_group, "context_length",
            (int)info.context_length, "weight_bytes", (json_int_t)info.weight_bytes,
            "tokenizer", tok, "chat_template", tmpl);
        return cli_json_println(stdout, o);
    }
    char wb[64];
    human_bytes(info.weight_bytes, wb, sizeof wb);
    printf("model:          %s\n", dir);
    printf("architecture:   %s\n", info.architecture);
    printf("backend:        %s\n", info.backend);
    printf("vocabulary:     %d tokens\n", (int)info.vocab_size);
    printf("layers:         %d\n", (int)info.n_layers);
    printf("hidden size:    %d\n", (int)info.hidden_size);
    if (info.quant_bits)
        printf("quantisation:   %d-bit, group %d\n", (int)info.quant_bits,
               (int)info.quant_group);
    else
        printf("quantisation:   none\n");
    printf("context length: %d tokens\n", (int)info.context_length);
    printf("weights:        %s (%lld bytes)\n", wb, (long long)info.weight_bytes);
    json_t *f = json_object_get(tok, "file");
    if (json_is_string(f)) {
        printf("tokenizer:      %s", json_string_value(f));
        json_t *v = json_object_get(tok, "vocab_size");
        if (v) printf(", %lld tokens", (long long)json_integer_value(v));
        json_t *b = json_object_get(tok, "bos"), *e = json_object_get(tok, "eos");
        if (json_is_object(b))
            printf(", bos %s (%lld)", json_string_value(json_object_get(b, "text")),
                   (long long)json_integer_value(json_object_get(b, "id")));
        if (json_is_object(e))
            printf(", eos %s (%lld)", json_string_value(json_object_get(e, "text")),
                   (long long)json_integer_value(json_object_get(e, "id")));
        json_t *er = json_object_get(tok, "error");
        if (er) printf(" (error: %s)", json_string_value(er));
        printf("\n");
    } else {
        printf("tokenizer:      none (token ids only)\n");
    }
    json_t *ts = json_object_get(tmpl, "source");
    if (ts) {
        printf("chat template:  %s", json_string_value(ts));
        json_t *bytes = json_object_get(tmpl, "bytes");
        if (bytes) printf(" (%lld bytes)", (long long)json_integer_value(bytes));
        json_t *er = json_object_get(tmpl, "error");
        if (er) printf(" (error: %s)", json_string_value(er));
        printf("\n");
    }
    fflush(stdout);
    json_decref(tok);
    json_decref(tmpl);
    return CLI_EXIT_OK;
}
