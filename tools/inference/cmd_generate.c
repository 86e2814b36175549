/* inference generate: stream the continuation of a prompt. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmdutil.h"
#include "commands.h"

static const char about[] =
    "Streams the model's continuation of PROMPT (raw text: no chat template)\n"
    "to standard output as it is produced.  Without PROMPT, the prompt is read\n"
    "from standard input exactly as given (a trailing newline is kept).\n";

static const char epilog[] =
    "Output: the generated text only, exactly (a newline is added at the end\n"
    "only when standard output is a terminal).  A summary line (tokens,\n"
    "tokens/s) goes to standard error unless --quiet.  Ctrl-C stops the\n"
    "generation.\n";

int inf_cmd_generate(int argc, char **argv) {
    cli_model_args ma;
    cli_sampling sp;
    cli_model_args_init(&ma);
    cli_sampling_init(&sp, INF_DEFAULT_MAX_TOKENS);
    const char *file = NULL;
    cli_ids ids = {NULL, 0};
    cli_constraint con = {0};
    int json = 0;
    const cli_opt opts[] = {
        {.short_name = 'f', .name = "file", .kind = CLI_STRING, .dest = &file,
         .metavar = "FILE", .help = "read the prompt from FILE"},
        {.name = "prompt-ids", .kind = CLI_IDS, .dest = &ids,
         .help = "start from these comma-separated token ids (no BOS\n"
                 "is added) instead of text"},
        {.name = "json", .kind = CLI_FLAG, .dest = &json,
         .help = "one JSON object per token ({\"id\", \"text\"}), then\n"
                 "one with the finish reason and the metrics"},
        CLI_MODEL_OPTIONS(&ma),
        CLI_MMAP_OPTION(&ma),
        CLI_SAMPLING_OPTIONS(&sp),
        CLI_CONSTRAINT_OPTIONS(&con),
        CLI_END};
    const cli_cmd cmd = {.synopsis = "-m DIR [OPTIONS] [PROMPT]", .about = about,
                         .epilog = epilog, .opts = opts, .pos_max = 1,
                         .pos_name = "PROMPT", .pos_hint = "quote the prompt"};
    cli_args args;
    char *prompt = NULL;
    inf_model *m = NULL;
    inf_stream *s = NULL;
    inf_cancel *cancel = NULL;
    int rc = cli_parse(&cmd, argc, argv, &args);
    if (rc) {
        rc = cli_parse_exit(rc);
        goto done;
    }
    int npos = args.n;
    if ((npos == 1) + (file != NULL) + (ids.n > 0) > 1) {
        rc = cli_usage_err("give the prompt once: as PROMPT, --file or "
                           "--prompt-ids");
        goto done;
    }
    if ((rc = cli_check_model_dir(&ma)) != 0) goto done;
    if ((rc = cli_constraint_apply(&con, &sp.o)) != 0) goto done;

    size_t plen = 0;
    if (ids.n) {
        sp.o.prompt_ids = ids.v;
        sp.o.n_prompt_ids = ids.n;
    } else if (npos == 1) {
        prompt = strdup(args.pos[0]);
        plen = strlen(prompt);
    } else {
        if (!file && isatty(STDIN_FILENO) && !ma.quiet)
            fprintf(stderr, "(reading the prompt from standard input; end it "
                            "with Ctrl-D)\n");
        prompt = cli_read_file(file ? file : "-", &plen);
        rc = CLI_EXIT_ERROR;
        if (!prompt) goto done;
    }
    rc = CLI_EXIT_ERROR;
    if (prompt) {
        if (strlen(prompt) != plen) {
            cli_err("the prompt contains a NUL byte");
            goto done;
        }
        if (cli_require_utf8("the prompt", prompt, plen)) goto done;
    }

    /* generating: the fast kernels unless told otherwise (issue 20) */
    cli_model_args_precision(&ma, CLI_PRECISION_GENERATING);
    cli_model_args_weights(&ma);
    if ((rc = cli_load_model(&ma, &m)) != 0) goto done;
    rc = CLI_EXIT_ERROR;
    cancel = inf_cancel_new();
    sp.o.cancel = cancel;
    int st = inf_generate(m, prompt ? prompt : "", &sp.o, &s);
    if (st != INF_OK) {
        cli_lib_err(st, inf_model_errmsg(m));
        goto done;
    }
    cli_sigint_watch(cancel);
    inf_token tok;
    int wrote_any = 0, last_nl = 0;
    /* After Ctrl-C stop printing at once, even when the engine has already
     * produced more tokens than the terminal has shown. */
    while (inf_cancel_check(cancel) == INF_OK &&
           inf_stream_next(s, &tok) == 1) {
        if (json) {
            json_t *o = json_object();
            json_object_set_new(o, "id", json_integer(tok.id));
            json_object_set_new(o, "text", cli_json_string(tok.text, tok.text_len));
            if (cli_json_println(stdout, o)) goto done;
        } else if (tok.text_len) {
            fwrite(tok.text, 1, tok.text_len, stdout);
            fflush(stdout);
            wrote_any = 1;
            last_nl = tok.text[tok.text_len - 1] == '\n';
        }
    }
    cli_sigint_watch(NULL);
    int err = inf_stream_err(s);
    inf_metrics met;
    memset(&met, 0, sizeof met);
    inf_stream_metrics(s, &met);
    inf_finish_reason fr = inf_stream_finish_reason(s);
    if (!json && wrote_any && !last_nl && isatty(STDOUT_FILENO)) putchar('\n');
    fflush(stdout);
    if (inf_cancel_check(cancel) == INF_E_CANCELLED) {
        if (!ma.quiet) fprintf(stderr, "[interrupted]\n");
        rc = 130;
        goto done;
    }
    if (err != INF_OK) {
        const char *msg = inf_stream_errmsg(s);
        cli_err("generation failed: %s", msg && *msg ? msg : inf_strerror(err));
        goto done;
    }
    if (json) {
        json_t *o = json_object();
        json_object_set_new(o, "finish_reason", json_string(inf_finish_reason_name(fr)));
        json_object_set_new(o, "metrics", cli_metrics_json(&met));
        if (cli_json_println(stdout, o)) goto done;
    }
    if (!ma.quiet) cli_print_summary(&met, fr);
    rc = CLI_EXIT_OK;
done:
    cli_sigint_watch(NULL);
    inf_stream_close(&s);
    inf_model_close(&m);
    inf_cancel_free(cancel);
    free(prompt);
    cli_ids_free(&ids);
    cli_sampling_free(&sp);
    cli_constraint_free(&con);
    return rc;
}
