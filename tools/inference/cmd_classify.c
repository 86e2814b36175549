/* inference classify: the next token of every prompt of a file, in one
 * batched prefill (the contract's Classify); JSONL out. */
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "common.h"

static const char usage_text[] =
    "usage: inference classify -m DIR [OPTIONS] FILE\n"
    "\n"
    "Reads prompts from FILE (\"-\" = standard input): one per line, or JSONL\n"
    "({\"prompt\": TEXT, \"id\": ANY} or a JSON string per line), and prints\n"
    "one JSON line per prompt, in order:\n"
    "  {\"index\": I, \"id\": ANY, \"token_id\": N, \"text\": T}\n"
    "(the next token: greedy at temperature 0, else sampled), with \"logits\"\n"
    "when --logits, or {\"index\": I, \"error\": MESSAGE} for a prompt that\n"
    "failed (the exit status is then 1).\n"
    "\n"
    "Options:\n"
    "  --logits     include the vocabulary-sized logits\n"
    "  -h, --help   this help\n"
    "\n" CLI_MODEL_HELP "\n" CLI_SAMPLING_HELP;

enum { OPT_LOGITS = CLI_OPT_FIRST_FREE };

int inf_cmd_classify(int argc, char **argv) {
    static const struct option longopts[] = {
        CLI_MODEL_LONGOPTS,
        CLI_SAMPLING_LONGOPTS,
        {"logits", no_argument, 0, OPT_LOGITS},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    cli_model_args ma;
    cli_sampling sp;
    cli_model_args_init(&ma);
    cli_sampling_init(&sp, 1);
    cli_prompts pr = {0};
    inf_model *m = NULL;
    inf_classify_result *res = NULL;
    int c, rc = CLI_EXIT_USAGE;
    while ((c = getopt_long(argc, argv, ":m:t:h", longopts, NULL)) != -1) {
        int r;
        if ((r = cli_model_opt(&ma, c, optarg)) != 0 ||
            (r = cli_sampling_opt(&sp, c, optarg)) != 0) {
            if (r != 1) goto done;
            continue;
        }
        switch (c) {
        case OPT_LOGITS: sp.o.return_logits = 1; break;
        case 'h':
            fputs(usage_text, stdout);
            rc = CLI_EXIT_OK;
            goto done;
        default:
            rc = cli_bad_option(c, argc, argv);
            goto done;
        }
    }
    if (argc - optind != 1) {
        rc = cli_usage_err("expected one FILE argument, got %d", argc - optind);
        goto done;
    }
    if ((rc = cli_check_model_dir(&ma, 1))) goto done;
    if ((rc = cli_read_prompts(argv[optind], &pr))) goto done;
    if ((rc = cli_load_model(&ma, &m))) goto done;
    rc = CLI_EXIT_ERROR;
    double t0 = cli_now();
    int st = inf_classify(m, (const char *const *)pr.text, pr.n, &sp.o, &res);
    double dt = cli_now() - t0;
    if (st != INF_OK) {
        cli_err("%s", inf_model_errmsg(m));
        goto done;
    }
    size_t failed = 0;
    for (size_t i = 0; i < pr.n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "index", json_integer((json_int_t)i));
        if (pr.tag[i]) json_object_set(o, "id", pr.tag[i]);
        if (res[i].status != INF_OK) {
            const char *e = res[i].error ? res[i].error : inf_strerror(res[i].status);
            json_object_set_new(o, "error", cli_json_string(e, strlen(e)));
            failed++;
        } else {
            json_object_set_new(o, "token_id", json_integer(res[i].token_id));
            const char *t = res[i].text ? res[i].text : "";
            json_object_set_new(o, "text", cli_json_string(t, strlen(t)));
            if (res[i].logits) {
                json_t *arr = json_array();
                for (int32_t v = 0; v < res[i].n_logits; v++)
                    json_array_append_new(arr, json_real(res[i].logits[v]));
                json_object_set_new(o, "logits", arr);
            }
        }
        if (cli_json_println(stdout, o)) goto done;
    }
    if (!ma.quiet)
        fprintf(stderr, "[%zu prompts in %.2f s, %.1f prompts/s%s]\n", pr.n, dt,
                dt > 0 ? (double)pr.n / dt : 0.0, failed ? ", some failed" : "");
    if (failed) {
        cli_err("%zu of %zu prompts failed (see their \"error\")", failed, pr.n);
        goto done;
    }
    rc = CLI_EXIT_OK;
done:
    inf_classify_results_free(res, pr.n);
    inf_model_close(&m);
    cli_prompts_free(&pr);
    cli_sampling_free(&sp);
    return rc;
}
