/* inference info: what a model is, which tokenizer and chat template it
 * uses, and the memory its weights take. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmdutil.h"
#include "commands.h"

static const char about[] =
    "Loads the model and prints its ModelInfo (architecture, backend,\n"
    "vocabulary, layers, hidden size, quantisation, context length), the\n"
    "tokenizer and chat template in use, and the memory its weights take.\n"
    "For a GGUF file also its weight types, training context, tokenizer\n"
    "model and pre-tokenizer, and whether it carries a chat template.\n";

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

/* The model's tokenizer, as {"file", "vocab_size", "bos", "eos"}; "file"
 * is null for a model without one of its own (token ids only). */
static json_t *tokenizer_json(const inf_model *m, int local, int gguf) {
    const inf_tokenizer *t = inf_model_tokenizer(m);
    if (!t) return json_pack("{s:n}", "file");
    json_t *o = json_pack("{s:s,s:i}", "file",
                          gguf ? "GGUF tokenizer.ggml.*" : local ? "tokenizer.json" : "the backend's",
                          "vocab_size", (int)inf_tokenizer_vocab_size(t));
    int32_t ids[2] = {inf_tokenizer_bos_id(t), inf_tokenizer_eos_id(t)};
    const char *keys[2] = {"bos", "eos"};
    for (int k = 0; k < 2; k++) {
        const char *piece = ids[k] >= 0 ? inf_tokenizer_piece(t, ids[k]) : NULL;
        json_object_set_new(o, keys[k],
                            ids[k] >= 0 ? json_pack("{s:i,s:o}", "id", (int)ids[k], "text",
                                                    cli_json_string(piece ? piece : "",
                                                                    piece ? strlen(piece) : 0))
                                        : json_null());
    }
    return o;
}

/* The chat template the model uses, as {"source", "fallback", "bytes"} (or
 * "error" when it failed to load); an empty object for a model that has
 * none of its own (remote backends render on their server). */
static json_t *template_json(const inf_model *m, const char *dir, int local, int gguf) {
    json_t *o = json_object();
    if (!local && !gguf) return o;
    const inf_chat_template *own_t = inf_model_chat_template(m);
    const char *src = gguf ? (own_t && !inf_chat_template_is_fallback(own_t)
                                  ? "tokenizer.chat_template" : "ChatML fallback")
                      : config_has_template(dir) ? "tokenizer_config.json"
                      : file_exists(dir, "chat_template.jinja") ? "chat_template.jinja"
                      : "ChatML fallback";
    json_object_set_new(o, "source", json_string(src));
    const inf_chat_template *t = inf_model_chat_template(m);
    if (t) {
        json_object_set_new(o, "fallback", json_boolean(inf_chat_template_is_fallback(t)));
        json_object_set_new(o, "bytes", json_integer((json_int_t)strlen(inf_chat_template_source(t))));
        return o;
    }
    /* The model loaded without its template: say why, as loading it alone
     * does. */
    inf_chat_template *own = NULL;
    char *msg = NULL;
    int st = inf_chat_template_load(dir, &own, &msg);
    const char *why = st != INF_OK ? (msg && *msg ? msg : inf_strerror(st))
                                   : "the backend did not load it";
    json_object_set_new(o, "error", cli_json_string(why, strlen(why)));
    inf_chat_template_free(own);
    inf_free(msg);
    return o;
}

int inf_cmd_info(int argc, char **argv) {
    cli_model_args ma;
    cli_model_args_init(&ma);
    int json = 0;
    const cli_opt opts[] = {
        {.name = "json", .kind = CLI_FLAG, .dest = &json, .help = "one JSON object"},
        CLI_MODEL_OPTIONS(&ma),
        CLI_END};
    const cli_cmd cmd = {.synopsis = "-m DIR [--json] [model options]",
                         .about = about, .opts = opts};
    cli_args args;
    int rc = cli_parse(&cmd, argc, argv, &args);
    if (rc) return cli_parse_exit(rc);
    if ((rc = cli_check_model_dir(&ma))) return rc;
    ma.quiet = ma.quiet || json;
    inf_model *m = NULL;
    if ((rc = cli_load_model(&ma, &m))) return rc;
    inf_model_info info;
    memset(&info, 0, sizeof info);
    int st = inf_model_info_get(m, &info);
    if (st != INF_OK) {
        cli_err("cannot read the model's info: %s", inf_strerror(st));
        inf_model_close(&m);
        return CLI_EXIT_ERROR;
    }
    const char *dir = ma.dir;
    int local = file_exists(dir, "config.json");
    int gguf = strcmp(info.format, "gguf") == 0;
    json_t *tok = tokenizer_json(m, local, gguf), *tmpl = template_json(m, dir, local, gguf);
    inf_model_close(&m);

    if (json) {
        json_t *o = json_pack(
            "{s:s,s:s,s:s,s:i,s:i,s:i,s:i,s:i,s:i,s:I,s:o,s:o}", "path", dir,
            "architecture", info.architecture, "backend", info.backend,
            "vocab_size", (int)info.vocab_size, "n_layers", (int)info.n_layers,
            "hidden_size", (int)info.hidden_size, "quant_bits", (int)info.quant_bits,
            "quant_group", (int)info.quant_group, "context_length",
            (int)info.context_length, "weight_bytes", (json_int_t)info.weight_bytes,
            "tokenizer", tok, "chat_template", tmpl);
        json_object_set_new(o, "format", json_string(info.format));
        json_object_set_new(o, "weight_types", json_string(info.weight_types));
        json_object_set_new(o, "train_context", json_integer(info.train_context));
        if (gguf) {
            json_object_set_new(o, "tokenizer_model", json_string(info.tokenizer_model));
            json_object_set_new(o, "tokenizer_pre", json_string(info.tokenizer_pre));
            json_object_set_new(o, "has_chat_template", json_boolean(info.chat_template == 1));
        }
        return cli_json_println(stdout, o);
    }
    char wb[64];
    human_bytes(info.weight_bytes, wb, sizeof wb);
    printf("model:          %s\n", dir);
    if (info.format[0]) printf("format:         %s\n", info.format);
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
    if (info.weight_types[0]) printf("weight types:   %s\n", info.weight_types);
    printf("context length: %d tokens", (int)info.context_length);
    if (info.train_context > 0) printf(" (trained for %d)", (int)info.train_context);
    printf("\n");
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
        printf("\n");
    } else {
        printf("tokenizer:      none (token ids only)\n");
    }
    if (gguf)
        printf("gguf tokenizer: model %s, pre %s; chat template %s\n",
               info.tokenizer_model[0] ? info.tokenizer_model : "(none)",
               info.tokenizer_pre[0] ? info.tokenizer_pre : "(none)",
               info.chat_template == 1 ? "present" : "absent");
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
