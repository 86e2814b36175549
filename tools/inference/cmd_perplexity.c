/* inference perplexity: exp(mean NLL) over non-overlapping windows. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cmdutil.h"
#include "commands.h"

static const char about[] =
    "Splits the tokens into non-overlapping windows of N tokens (default 256;\n"
    "a shorter last window counts when it has at least 2 tokens), runs each\n"
    "window as a fresh sequence, and averages the negative log-likelihood of\n"
    "positions 1..N-1 of each window: ppl = exp(mean NLL).\n";

static int read_ids_file(const char *path, int32_t **ids, size_t *n) {
    char *text = cli_read_file(path, NULL);
    if (!text) return CLI_EXIT_ERROR;
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    free(text);
    if (!j) return cli_err("%s: not valid JSON (line %d: %s)", path, jerr.line, jerr.text);
    if (!json_is_array(j)) {
        json_decref(j);
        return cli_err("%s: expected a JSON array of token ids", path);
    }
    size_t cnt = json_array_size(j);
    int32_t *v = malloc((cnt ? cnt : 1) * sizeof *v);
    for (size_t i = 0; v && i < cnt; i++) {
        json_t *e = json_array_get(j, i);
        if (!json_is_integer(e) || json_integer_value(e) < 0 ||
            json_integer_value(e) > INT32_MAX) {
            free(v);
            json_decref(j);
            return cli_err("%s: element %zu is not a token id", path, i);
        }
        v[i] = (int32_t)json_integer_value(e);
    }
    json_decref(j);
    if (!v) return cli_err("out of memory");
    *ids = v;
    *n = cnt;
    return 0;
}

int inf_cmd_perplexity(int argc, char **argv) {
    cli_model_args ma;
    cli_model_args_init(&ma);
    const char *text_path = NULL, *ids_path = NULL;
    int window = 256, json = 0;
    const cli_opt opts[] = {
        {.name = "text", .kind = CLI_STRING, .dest = &text_path, .metavar = "FILE",
         .help = "UTF-8 text, tokenized with the model's tokenizer\n"
                 "(special tokens such as BOS added as it adds them)"},
        {.name = "ids-file", .kind = CLI_STRING, .dest = &ids_path, .metavar = "FILE",
         .help = "a JSON array of token ids"},
        {.name = "window", .kind = CLI_INT, .dest = &window, .min = 2, .max = 1 << 20,
         .show_default = 1, .help = "window length in tokens"},
        {.name = "json", .kind = CLI_FLAG, .dest = &json,
         .help = "print {\"ppl\": X, \"tokens\": N} (N = tokens scored)"},
        CLI_MODEL_OPTIONS(&ma),
        CLI_END};
    const cli_cmd cmd = {.synopsis = "-m DIR (--text FILE | --ids-file FILE)\n"
                                     " [--window N] [--json] [model options]",
                         .about = about, .opts = opts};
    cli_args args;
    int rc = cli_parse(&cmd, argc, argv, &args);
    if (rc) return cli_parse_exit(rc);
    if (!text_path == !ids_path)
        return cli_usage_err("give exactly one of --text FILE and --ids-file FILE");
    if ((rc = cli_check_model_dir(&ma))) return rc;

    int32_t *ids = NULL;
    size_t n = 0;
    inf_model *m = NULL;
    float *logits = NULL;
    rc = CLI_EXIT_ERROR;
    if (ids_path) {
        if ((rc = read_ids_file(ids_path, &ids, &n))) goto done;
    } else {
        size_t len = 0;
        char *text = cli_read_file(text_path, &len);
        if (!text) goto done;
        if (cli_require_utf8("the text", text, len)) { free(text); goto done; }
        inf_tokenizer *t = NULL;
        if ((rc = cli_load_tokenizer(ma.dir, &t))) { free(text); goto done; }
        rc = CLI_EXIT_ERROR;
        char *msg = NULL;
        int st = inf_tokenize(t, text, len, 1, &ids, &n, &msg);
        free(text);
        inf_tokenizer_free(t);
        if (st != INF_OK) {
            cli_lib_err(st, msg);
            inf_free(msg);
            goto done;
        }
        inf_free(msg);
    }
    if (n < 2) {
        cli_err("need at least 2 tokens, got %zu", n);
        goto done;
    }
    if ((rc = cli_load_model(&ma, &m))) goto done;
    rc = CLI_EXIT_ERROR;
    inf_model_info info;
    if (inf_model_info_get(m, &info) == INF_OK && info.vocab_size > 0)
        for (size_t i = 0; i < n; i++)
            if (ids[i] >= info.vocab_size) {
                cli_err("token id %d (position %zu) is out of range: the "
                        "vocabulary has %d tokens", (int)ids[i], i,
                        (int)info.vocab_size);
                goto done;
            }
    double nll = 0;
    size_t scored = 0, windows = 0;
    for (size_t s = 0; s + 1 < n; s += (size_t)window) {
        size_t len = n - s < (size_t)window ? n - s : (size_t)window;
        if (len < 2) break;
        int32_t vocab = 0;
        char *msg = NULL;
        int st = inf_model_logits(m, ids + s, len, &logits, &vocab, &msg);
        if (st != INF_OK) {
            cli_lib_err(st, msg);
            inf_free(msg);
            goto done;
        }
        inf_free(msg);
        /* Row j ([vocab]) predicts token s + j + 1. */
        for (size_t j = 0; j + 1 < len; j++) {
            const float *row = logits + j * (size_t)vocab;
            float mx = row[0];
            for (int32_t v = 1; v < vocab; v++) if (row[v] > mx) mx = row[v];
            double sum = 0;
            for (int32_t v = 0; v < vocab; v++) sum += exp((double)row[v] - mx);
            nll += log(sum) + mx - (double)row[ids[s + j + 1]];
            scored++;
        }
        inf_free(logits);
        logits = NULL;
        windows++;
    }
    double ppl = exp(nll / (double)scored);
    if (json) {
        rc = cli_json_println(stdout, json_pack("{s:f,s:I}", "ppl", ppl, "tokens",
                                                (json_int_t)scored));
        if (rc) goto done;
    } else {
        printf("perplexity %.4f over %zu tokens (%zu windows of up to %d)\n",
               ppl, scored, windows, window);
        fflush(stdout);
    }
    rc = CLI_EXIT_OK;
done:
    inf_free(logits);
    inf_model_close(&m);
    free(ids);
    return rc;
}
