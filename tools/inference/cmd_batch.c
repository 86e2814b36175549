/* inference batch and inference classify: every prompt of a file at once,
 * through the contract's BatchGenerate (autoregressive decoding of all the
 * prompts together) or Classify (one batched prefill, the next token of
 * each); the same prompt files, the same JSONL out, one line per prompt. */
#include <stdlib.h>
#include <string.h>

#include "cmdutil.h"
#include "commands.h"

static const char batch_about[] =
    "Reads prompts from FILE (\"-\" = standard input): one per line, or JSONL\n"
    "({\"prompt\": TEXT, \"id\": ANY} or a JSON string per line), decodes them\n"
    "all together, and prints one JSON line per prompt, in order:\n"
    "  {\"index\": I, \"id\": ANY, \"text\": T, \"token_ids\": [...],\n"
    "   \"finish_reason\": \"eos\"|\"stop\"|\"length\", \"prompt_tokens\": P,\n"
    "   \"generated_tokens\": G}\n"
    "or {\"index\": I, \"error\": MESSAGE} for a prompt that failed (the exit\n"
    "status is then 1).  A summary with the total tokens/s goes to standard\n"
    "error unless --quiet.\n";

static const char classify_about[] =
    "Reads prompts from FILE (\"-\" = standard input): one per line, or JSONL\n"
    "({\"prompt\": TEXT, \"id\": ANY} or a JSON string per line), and prints\n"
    "one JSON line per prompt, in order:\n"
    "  {\"index\": I, \"id\": ANY, \"token_id\": N, \"text\": T}\n"
    "(the next token: greedy at temperature 0, else sampled), with \"logits\"\n"
    "when --logits, or {\"index\": I, \"error\": MESSAGE} for a prompt that\n"
    "failed (the exit status is then 1).\n";

/* ------------------------------------------------------------ prompt files */

typedef struct prompts {
    char **text;  /* [n] malloc'd, NUL-terminated */
    json_t **tag; /* [n] the "id" of a JSONL line (a reference), or NULL */
    size_t n;
} prompts;

static void prompts_free(prompts *p) {
    for (size_t i = 0; i < p->n; i++) {
        free(p->text[i]);
        json_decref(p->tag[i]);
    }
    free(p->text);
    free(p->tag);
    memset(p, 0, sizeof *p);
}

static int push_prompt(prompts *p, char *text, json_t *tag) {
    char **nt = realloc(p->text, (p->n + 1) * sizeof *nt);
    if (nt) p->text = nt;
    json_t **ng = realloc(p->tag, (p->n + 1) * sizeof *ng);
    if (ng) p->tag = ng;
    if (!nt || !ng || !text) {
        free(text);
        json_decref(tag);
        return cli_err("out of memory");
    }
    p->text[p->n] = text;
    p->tag[p->n] = tag;
    p->n++;
    return 0;
}

/* One non-empty line of a JSONL file: a JSON string, or {"prompt", "id"}. */
static int push_json_line(prompts *p, const char *line, const char *name,
                          size_t lineno) {
    json_error_t jerr;
    json_t *j = json_loads(line, JSON_DECODE_ANY, &jerr);
    if (!j) return cli_err("%s:%zu: not valid JSON (%s)", name, lineno, jerr.text);
    json_t *pr = json_is_string(j) ? j : json_object_get(j, "prompt");
    if (!json_is_string(pr)) {
        json_decref(j);
        return cli_err("%s:%zu: expected a JSON string or an object with a "
                       "\"prompt\" string", name, lineno);
    }
    json_t *tag = json_is_object(j) ? json_object_get(j, "id") : NULL;
    if (tag) json_incref(tag);
    int rc = push_prompt(p, strndup(json_string_value(pr), json_string_length(pr)), tag);
    json_decref(j);
    return rc;
}

/* Reads FILE ("-" = standard input).  When its first non-empty line is a
 * JSON object or string, the file is JSONL; otherwise each non-empty line
 * is one prompt (a trailing "\r" is dropped).  Every prompt must be valid
 * UTF-8.  Returns 0, or CLI_EXIT_ERROR after naming the file and line. */
static int read_prompts(const char *path, prompts *p) {
    memset(p, 0, sizeof *p);
    size_t len = 0;
    char *buf = cli_read_file(path, &len);
    if (!buf) return CLI_EXIT_ERROR;
    const char *name = strcmp(path, "-") ? path : "standard input";
    if (strlen(buf) != len) {
        free(buf);
        return cli_err("%s: contains a NUL byte", name);
    }
    int jsonl = -1, rc = 0;
    size_t lineno = 0;
    char *next = NULL;
    for (char *line = buf; line && !rc; line = next) {
        char *nl = strchr(line, '\n');
        next = nl ? nl + 1 : NULL;
        if (nl) *nl = 0;
        lineno++;
        size_t ll = strlen(line);
        if (ll && line[ll - 1] == '\r') line[--ll] = 0;
        if (ll == 0) continue;
        size_t bad;
        if (!cli_utf8_valid(line, ll, &bad)) {
            rc = cli_err("%s:%zu: not valid UTF-8 (byte 0x%02x at column %zu)",
                         name, lineno, (unsigned char)line[bad], bad + 1);
            break;
        }
        if (jsonl < 0) {
            json_t *probe = (line[0] == '{' || line[0] == '"')
                                ? json_loads(line, JSON_DECODE_ANY, NULL) : NULL;
            jsonl = probe != NULL;
            json_decref(probe);
        }
        rc = jsonl ? push_json_line(p, line, name, lineno)
                   : push_prompt(p, strdup(line), NULL);
    }
    free(buf);
    if (!rc && p->n == 0) rc = cli_err("%s: no prompts", name);
    if (rc) prompts_free(p);
    return rc;
}

/* ------------------------------------------------------------ the results */

static void fill_classify(json_t *o, const inf_classify_result *r) {
    json_object_set_new(o, "token_id", json_integer(r->token_id));
    const char *t = r->text ? r->text : "";
    json_object_set_new(o, "text", cli_json_string(t, strlen(t)));
    if (r->logits) {
        json_t *arr = json_array();
        for (int32_t v = 0; v < r->n_logits; v++)
            json_array_append_new(arr, json_real(r->logits[v]));
        json_object_set_new(o, "logits", arr);
    }
}

static void fill_batch(json_t *o, const inf_batch_result *r) {
    const char *t = r->text ? r->text : "";
    json_object_set_new(o, "text", cli_json_string(t, strlen(t)));
    json_t *ids = json_array();
    for (size_t k = 0; k < r->n_tokens; k++)
        json_array_append_new(ids, json_integer(r->token_ids[k]));
    json_object_set_new(o, "token_ids", ids);
    json_object_set_new(o, "finish_reason",
                        json_string(inf_finish_reason_name(r->finish_reason)));
    json_object_set_new(o, "prompt_tokens", json_integer(r->metrics.prompt_tokens));
    json_object_set_new(o, "generated_tokens", json_integer((json_int_t)r->n_tokens));
}

/* Both subcommands: classify when `classify`, else batch. */
static int run(int argc, char **argv, int classify) {
    cli_model_args ma;
    cli_sampling sp;
    cli_model_args_init(&ma);
    /* Classify produces one token by definition. */
    cli_sampling_init(&sp, classify ? 1 : INF_DEFAULT_MAX_TOKENS);
    const cli_opt opts[] = {
        {.name = "logits", .kind = CLI_FLAG, .dest = &sp.o.return_logits,
         .help = "include the vocabulary-sized logits"}, /* classify only */
        CLI_MODEL_OPTIONS(&ma),
        CLI_MMAP_OPTION(&ma),
        CLI_SAMPLING_OPTIONS(&sp),
        CLI_END};
    const cli_cmd cmd = {.synopsis = "-m DIR [OPTIONS] FILE",
                         .about = classify ? classify_about : batch_about,
                         .opts = classify ? opts : opts + 1, .pos_min = 1,
                         .pos_max = 1, .pos_name = "FILE"};
    prompts pr = {0};
    inf_model *m = NULL;
    inf_classify_result *cres = NULL;
    inf_batch_result *bres = NULL;
    cli_args args;
    int rc = cli_parse(&cmd, argc, argv, &args);
    if (rc) {
        rc = cli_parse_exit(rc);
        goto done;
    }
    if ((rc = cli_check_model_dir(&ma))) goto done;
    if ((rc = read_prompts(args.pos[0], &pr))) goto done;
    /* generating: the fast kernels unless told otherwise (issue 20) */
    cli_model_args_precision(&ma, CLI_PRECISION_GENERATING);
    cli_model_args_weights(&ma);
    if ((rc = cli_load_model(&ma, &m))) goto done;
    rc = CLI_EXIT_ERROR;
    const char *const *texts = (const char *const *)pr.text;
    double t0 = cli_now();
    int st = classify ? inf_classify(m, texts, pr.n, &sp.o, &cres)
                      : inf_batch_generate(m, texts, pr.n, &sp.o, &bres);
    double dt = cli_now() - t0;
    if (st != INF_OK) {
        cli_lib_err(st, inf_model_errmsg(m));
        goto done;
    }
    size_t failed = 0;
    long long total = 0;
    for (size_t i = 0; i < pr.n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "index", json_integer((json_int_t)i));
        if (pr.tag[i]) json_object_set(o, "id", pr.tag[i]);
        int ist = classify ? cres[i].status : bres[i].status;
        const char *e = classify ? cres[i].error : bres[i].error;
        if (ist != INF_OK) {
            if (!e || !*e) e = inf_strerror(ist);
            json_object_set_new(o, "error", cli_json_string(e, strlen(e)));
            failed++;
        } else if (classify) {
            fill_classify(o, &cres[i]);
        } else {
            fill_batch(o, &bres[i]);
            total += (long long)bres[i].n_tokens;
        }
        if (cli_json_println(stdout, o)) goto done;
    }
    if (!ma.quiet && classify)
        fprintf(stderr, "[%zu prompts in %.2f s, %.1f prompts/s%s]\n", pr.n, dt,
                dt > 0 ? (double)pr.n / dt : 0.0, failed ? ", some failed" : "");
    else if (!ma.quiet)
        fprintf(stderr, "[%zu prompts, %lld tokens in %.2f s, %.1f tok/s]\n",
                pr.n, total, dt, dt > 0 ? (double)total / dt : 0.0);
    if (failed) {
        cli_err("%zu of %zu prompts failed (see their \"error\")", failed, pr.n);
        goto done;
    }
    rc = CLI_EXIT_OK;
done:
    inf_classify_results_free(cres, pr.n);
    inf_batch_results_free(bres, pr.n);
    inf_model_close(&m);
    prompts_free(&pr);
    cli_sampling_free(&sp);
    return rc;
}

int inf_cmd_batch(int argc, char **argv) { return run(argc, argv, 0); }
int inf_cmd_classify(int argc, char **argv) { return run(argc, argv, 1); }
