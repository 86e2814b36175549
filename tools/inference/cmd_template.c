/* inference template: render a conversation with a model's chat template,
 * byte-exact, for comparing with other implementations. */
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "common.h"

#ifdef INF_HAVE_INF_TEMPLATE
#include "text/template/chat_template.h"
#endif

static const char usage_text[] =
    "usage: inference template -m DIR --messages FILE [--add-generation-prompt]\n"
    "                          [--var NAME=JSON]... [--tools FILE]\n"
    "                          [--template FILE]\n"
    "\n"
    "Renders the JSON messages array in FILE (\"-\" = standard input) with\n"
    "DIR's chat template (tokenizer_config.json \"chat_template\", else\n"
    "chat_template.jinja, else the ChatML fallback) and prints the prompt\n"
    "exactly: nothing is appended.  Messages keep every key (tool_calls,\n"
    "reasoning_content, ...).  DIR may hold only tokenizer_config.json.\n"
    "\n"
    "Options:\n"
    "  -m, --model DIR           the directory holding the template\n"
    "  --messages FILE           the conversation: a JSON array of messages\n"
    "  --add-generation-prompt   end with the assistant turn's opening\n"
    "  --var NAME=JSON           an extra template variable, e.g.\n"
    "                            --var enable_thinking=false (repeatable);\n"
    "                            --var tools=[...] sets the tools\n"
    "  --tools FILE              the tools: a JSON array in FILE\n"
    "  --template FILE           use this Jinja template instead of DIR's\n"
    "  -h, --help                this help\n"
    "\n"
    "A template error (e.g. raise_exception) exits with status 1 and the\n"
    "template's message.\n";

enum {
    OPT_MESSAGES = CLI_OPT_FIRST_FREE,
    OPT_ADD_GEN,
    OPT_VAR,
    OPT_TOOLS,
    OPT_TEMPLATE
};

/* Adds NAME=JSON to vars (or to *tools when NAME is "tools"). */
static int add_var(json_t *vars, json_t **tools, const char *arg) {
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        return cli_usage_err("--var '%s': expected NAME=JSON", arg);
    json_error_t jerr;
    json_t *v = json_loads(eq + 1, JSON_DECODE_ANY, &jerr);
    if (!v)
        return cli_usage_err("--var '%.*s': the value is not JSON (%s); quote "
                             "strings, e.g. --var 'name=\"text\"'",
                             (int)(eq - arg), arg, jerr.text);
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int)(eq - arg), arg);
    if (strcmp(name, "tools") == 0) {
        json_decref(*tools);
        *tools = v;
        return 0;
    }
    json_object_set_new(vars, name, v);
    return 0;
}

int inf_cmd_template(int argc, char **argv) {
    static const struct option longopts[] = {
        {"model", required_argument, 0, 'm'},
        {"messages", required_argument, 0, OPT_MESSAGES},
        {"add-generation-prompt", no_argument, 0, OPT_ADD_GEN},
        {"var", required_argument, 0, OPT_VAR},
        {"tools", required_argument, 0, OPT_TOOLS},
        {"template", required_argument, 0, OPT_TEMPLATE},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *dir = NULL, *msgs_path = NULL, *tools_path = NULL,
               *tmpl_path = NULL;
    int add_gen = 0, c, rc = CLI_EXIT_USAGE;
    json_t *vars = json_object(), *tools = NULL, *msgs = NULL;
    char *msgs_text = NULL, *tools_text = NULL, *vars_text = NULL,
         *tmpl_src = NULL, *out = NULL;
    while ((c = getopt_long(argc, argv, ":m:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': dir = optarg; break;
        case OPT_MESSAGES: msgs_path = optarg; break;
        case OPT_ADD_GEN: add_gen = 1; break;
        case OPT_VAR:
            if (add_var(vars, &tools, optarg)) goto done;
            break;
        case OPT_TOOLS: tools_path = optarg; break;
        case OPT_TEMPLATE: tmpl_path = optarg; break;
        case 'h':
            fputs(usage_text, stdout);
            rc = CLI_EXIT_OK;
            goto done;
        default:
            rc = cli_bad_option(c, argc, argv);
            goto done;
        }
    }
    if (argc > optind) {
        rc = cli_usage_err("unexpected argument '%s'", argv[optind]);
        goto done;
    }
    if (!dir && !tmpl_path) {
        rc = cli_usage_err("no model given: use -m DIR (or --template FILE)");
        goto done;
    }
    if (!msgs_path) {
        rc = cli_usage_err("no conversation given: use --messages FILE");
        goto done;
    }
    rc = CLI_EXIT_ERROR;
    size_t len = 0;
    if (!(msgs_text = cli_read_file(msgs_path, &len))) goto done;
    if (cli_require_utf8("the messages file", msgs_text, len)) goto done;
    json_error_t jerr;
    msgs = json_loadb(msgs_text, len, 0, &jerr);
    if (!msgs) {
        cli_err("%s: not valid JSON (line %d: %s)", msgs_path, jerr.line,
                jerr.text);
        goto done;
    }
    if (!json_is_array(msgs)) {
        cli_err("%s: expected a JSON array of messages", msgs_path);
        goto done;
    }
    if (tools_path) {
        char *tt = cli_read_file(tools_path, NULL);
        if (!tt) goto done;
        json_decref(tools);
        tools = json_loads(tt, 0, &jerr);
        free(tt);
        if (!tools) {
            cli_err("%s: not valid JSON (line %d: %s)", tools_path, jerr.line,
                    jerr.text);
            goto done;
        }
    }
    if (tools && !json_is_array(tools)) {
        cli_err("the tools must be a JSON array");
        goto done;
    }
    if (tools) tools_text = json_dumps(tools, JSON_COMPACT);
    if (json_object_size(vars)) vars_text = json_dumps(vars, JSON_COMPACT);
    if (tmpl_path && !(tmpl_src = cli_read_file(tmpl_path, NULL))) goto done;

#ifdef INF_HAVE_INF_TEMPLATE
    {
        inf__chat_template *t = NULL;
        inf__err err;
        inf__err_clear(&err);
        int st;
        if (tmpl_src) {
            st = inf__tmpl_from_source(tmpl_src, NULL, &t, &err);
        } else {
            if (cli_require_dir(dir)) goto done;
            st = inf__tmpl_load_dir(dir, &t, &err);
        }
        if (st == INF_OK)
            st = inf__tmpl_render_json(t, msgs_text, add_gen, tools_text,
                                       vars_text, &out, &err);
        inf__tmpl_free(t);
        if (st != INF_OK) {
            cli_err("%s", err.msg[0] ? err.msg : inf_strerror(st));
            goto done;
        }
    }
#else
    cli_err("this build has no chat-template engine");
    goto done;
#endif
    if (fputs(out, stdout) == EOF || fflush(stdout) != 0) {
        cli_err("cannot write the output");
        goto done;
    }
    rc = CLI_EXIT_OK;
done:
    free(out);
    free(msgs_text);
    free(tools_text);
    free(vars_text);
    free(tmpl_src);
    json_decref(msgs);
    json_decref(tools);
    json_decref(vars);
    return rc;
}
