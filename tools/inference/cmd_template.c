/* inference template: render a conversation with a model's chat template,
 * byte-exact, for comparing with other implementations. */
#include <stdlib.h>
#include <string.h>

#include "cmdutil.h"
#include "commands.h"

static const char about[] =
    "Renders the JSON messages array in FILE (\"-\" = standard input) with\n"
    "DIR's chat template (tokenizer_config.json \"chat_template\", else\n"
    "chat_template.jinja, else the ChatML fallback) and prints the prompt\n"
    "exactly: nothing is appended.  Messages keep every key (tool_calls,\n"
    "reasoning_content, ...).  DIR may hold only tokenizer_config.json.\n";

static const char epilog[] =
    "A template error (e.g. raise_exception) exits with status 1 and the\n"
    "template's message.\n";

/* The --var values: template variables, and the tools (--var tools=...). */
typedef struct vars {
    json_t *vars;
    json_t *tools;
} vars;

/* Adds NAME=JSON to vars (or to *tools when NAME is "tools"). */
static int add_var(void *user, const char *arg) {
    vars *v = user;
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        return cli_usage_err("--var '%s': expected NAME=JSON", arg);
    json_error_t jerr;
    json_t *val = json_loads(eq + 1, JSON_DECODE_ANY, &jerr);
    if (!val)
        return cli_usage_err("--var '%.*s': the value is not JSON (%s); quote "
                             "strings, e.g. --var 'name=\"text\"'",
                             (int)(eq - arg), arg, jerr.text);
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int)(eq - arg), arg);
    if (strcmp(name, "tools") == 0) {
        json_decref(v->tools);
        v->tools = val;
        return 0;
    }
    json_object_set_new(v->vars, name, val);
    return 0;
}

int inf_cmd_template(int argc, char **argv) {
    const char *dir = NULL, *msgs_path = NULL, *tools_path = NULL,
               *tmpl_path = NULL;
    int add_gen = 0;
    vars vs = {json_object(), NULL};
    const cli_opt opts[] = {
        {.short_name = 'm', .name = "model", .kind = CLI_STRING, .dest = &dir,
         .metavar = "DIR", .help = "the directory holding the template"},
        {.name = "messages", .kind = CLI_STRING, .dest = &msgs_path,
         .metavar = "FILE", .help = "the conversation: a JSON array of messages"},
        {.name = "add-generation-prompt", .kind = CLI_FLAG, .dest = &add_gen,
         .help = "end with the assistant turn's opening"},
        {.name = "var", .kind = CLI_CALL, .fn = add_var, .user = &vs,
         .metavar = "NAME=JSON",
         .help = "an extra template variable, e.g.\n"
                 "--var enable_thinking=false (repeatable);\n"
                 "--var tools=[...] sets the tools"},
        {.name = "tools", .kind = CLI_STRING, .dest = &tools_path,
         .metavar = "FILE", .help = "the tools: a JSON array in FILE"},
        {.name = "template", .kind = CLI_STRING, .dest = &tmpl_path,
         .metavar = "FILE", .help = "use this Jinja template instead of DIR's"},
        CLI_END};
    const cli_cmd cmd = {
        .synopsis = "-m DIR --messages FILE [--add-generation-prompt]\n"
                    " [--var NAME=JSON]... [--tools FILE] [--template FILE]",
        .about = about, .epilog = epilog, .opts = opts};
    json_t *msgs = NULL;
    char *msgs_text = NULL, *tools_text = NULL, *vars_text = NULL,
         *tmpl_src = NULL, *out = NULL, *msg = NULL;
    inf_chat_template *t = NULL;
    cli_args args;
    int rc = cli_parse(&cmd, argc, argv, &args);
    if (rc) {
        rc = cli_parse_exit(rc);
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
        json_decref(vs.tools);
        vs.tools = json_loads(tt, 0, &jerr);
        free(tt);
        if (!vs.tools) {
            cli_err("%s: not valid JSON (line %d: %s)", tools_path, jerr.line,
                    jerr.text);
            goto done;
        }
    }
    if (vs.tools && !json_is_array(vs.tools)) {
        cli_err("the tools must be a JSON array");
        goto done;
    }
    if (vs.tools) tools_text = json_dumps(vs.tools, JSON_COMPACT);
    if (json_object_size(vs.vars)) vars_text = json_dumps(vs.vars, JSON_COMPACT);
    if (tmpl_path && !(tmpl_src = cli_read_file(tmpl_path, NULL))) goto done;

    int st;
    if (tmpl_src) {
        st = inf_chat_template_parse(tmpl_src, NULL, NULL, &t, &msg);
    } else {
        if (cli_require_dir(dir)) goto done;
        st = inf_chat_template_load(dir, &t, &msg);
    }
    if (st == INF_OK)
        st = inf_chat_template_apply(t, msgs_text, add_gen, tools_text, vars_text,
                                     &out, &msg);
    if (st != INF_OK) {
        cli_lib_err(st, msg);
        goto done;
    }
    if (fputs(out, stdout) == EOF || fflush(stdout) != 0) {
        cli_err("cannot write the output");
        goto done;
    }
    rc = CLI_EXIT_OK;
done:
    inf_free(out);
    free(msgs_text);
    free(tools_text);
    free(vars_text);
    free(tmpl_src);
    inf_free(msg);
    inf_chat_template_free(t);
    json_decref(msgs);
    json_decref(vs.tools);
    json_decref(vs.vars);
    return rc;
}
