/* inference chat: a multi-turn conversation, interactive in a terminal (with
 * line editing from libedit) or one reply to a JSON messages file. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmdutil.h"
#include "commands.h"

#ifdef INF_HAVE_LIBEDIT
#include <editline/readline.h>
#endif

static const char about[] =
    "Without --messages: an interactive conversation.  Type a message and\n"
    "press Enter; the reply streams back.  Commands:\n"
    "  /reset          forget the conversation (the system prompt stays)\n"
    "  /system TEXT    set the system prompt (empty TEXT removes it)\n"
    "  /quit           leave (as does Ctrl-D); Ctrl-C stops a reply (at the\n"
    "                  prompt it is ignored)\n"
    "When standard input is not a terminal, each line is one user message and\n"
    "each reply is printed on its own line(s), followed by a newline.\n"
    "\n"
    "With --messages FILE (\"-\" = standard input): FILE holds a JSON array of\n"
    "{\"role\", \"content\"} messages; the assistant's reply to it is printed\n"
    "(a newline is added only when standard output is a terminal).\n";

/* The conversation: owned role/content strings. */
typedef struct convo {
    inf_message *m;
    size_t n, cap;
} convo;

static int convo_add(convo *c, const char *role, const char *content, size_t len) {
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 8;
        inf_message *nm = realloc(c->m, nc * sizeof *nm);
        if (!nm) return cli_err("out of memory");
        c->m = nm;
        c->cap = nc;
    }
    char *r = strdup(role), *t = strndup(content, len);
    if (!r || !t) {
        free(r);
        free(t);
        return cli_err("out of memory");
    }
    c->m[c->n].role = r;
    c->m[c->n].content = t;
    c->n++;
    return 0;
}

static void convo_clear(convo *c, size_t keep) {
    for (size_t i = keep; i < c->n; i++) {
        free((char *)c->m[i].role);
        free((char *)c->m[i].content);
    }
    if (c->n > keep) c->n = keep;
}

/* Streams one reply to the conversation to stdout; *out (malloc'd) gets its
 * text, *met and *fr its metrics and finish reason.  Returns 0, 130 when
 * interrupted by Ctrl-C (*out then holds the partial reply), or
 * CLI_EXIT_ERROR. */
static int reply(inf_model *m, const convo *cv, cli_sampling *sp, char **out,
                 size_t *out_len, inf_metrics *met, inf_finish_reason *fr) {
    inf_cancel *cancel = inf_cancel_new();
    inf_stream *s = NULL;
    inf_generate_options o = sp->o;
    o.cancel = cancel;
    *out = NULL;
    *out_len = 0;
    int rc = CLI_EXIT_ERROR;
    int st = inf_chat(m, cv->m, cv->n, &o, &s);
    if (st != INF_OK) {
        cli_lib_err(st, inf_model_errmsg(m));
        goto done;
    }
    cli_sigint_watch(cancel);
    size_t cap = 256, n = 0;
    char *buf = malloc(cap);
    inf_token tok;
    /* The engine may run ahead of the terminal: after Ctrl-C stop printing
     * at once, even if the stream already holds more tokens. */
    while (buf && inf_cancel_check(cancel) == INF_OK &&
           inf_stream_next(s, &tok) == 1) {
        if (!tok.text_len) continue;
        fwrite(tok.text, 1, tok.text_len, stdout);
        fflush(stdout);
        if (n + tok.text_len + 1 > cap) {
            while (n + tok.text_len + 1 > cap) cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) { free(buf); buf = NULL; break; }
            buf = nb;
        }
        memcpy(buf + n, tok.text, tok.text_len);
        n += tok.text_len;
    }
    cli_sigint_watch(NULL);
    if (!buf) {
        cli_err("out of memory");
        goto done;
    }
    buf[n] = 0;
    *out = buf;
    *out_len = n;
    if (inf_cancel_check(cancel) == INF_E_CANCELLED) {
        rc = 130;
        goto done;
    }
    int err = inf_stream_err(s);
    if (err != INF_OK) {
        const char *msg = inf_stream_errmsg(s);
        fputc('\n', stdout);
        cli_err("generation failed: %s", msg && *msg ? msg : inf_strerror(err));
        goto done;
    }
    memset(met, 0, sizeof *met);
    inf_stream_metrics(s, met);
    *fr = inf_stream_finish_reason(s);
    rc = 0;
done:
    cli_sigint_watch(NULL);
    inf_stream_close(&s);
    inf_cancel_free(cancel);
    return rc;
}

/* Loads a JSON messages array into cv. */
static int load_messages(const char *path, convo *cv) {
    size_t len = 0;
    char *text = cli_read_file(path, &len);
    if (!text) return CLI_EXIT_ERROR;
    if (cli_require_utf8("the messages file", text, len)) {
        free(text);
        return CLI_EXIT_ERROR;
    }
    json_error_t jerr;
    json_t *j = json_loadb(text, len, 0, &jerr);
    free(text);
    if (!j) return cli_err("%s: not valid JSON (line %d: %s)", path, jerr.line, jerr.text);
    int rc = 0;
    if (!json_is_array(j)) {
        rc = cli_err("%s: expected a JSON array of messages", path);
    }
    for (size_t i = 0; !rc && i < json_array_size(j); i++) {
        json_t *e = json_array_get(j, i);
        json_t *role = json_object_get(e, "role"), *content = json_object_get(e, "content");
        if (!json_is_string(role)) {
            rc = cli_err("%s: message %zu has no \"role\" string", path, i);
        } else if (!json_is_string(content) && !json_is_null(content) && content) {
            rc = cli_err("%s: message %zu: \"content\" must be a string", path, i);
        } else {
            const char *ct = json_is_string(content) ? json_string_value(content) : "";
            size_t cl = json_is_string(content) ? json_string_length(content) : 0;
            rc = convo_add(cv, json_string_value(role), ct, cl);
        }
    }
    json_decref(j);
    if (!rc && cv->n == 0) rc = cli_err("%s: the conversation is empty", path);
    return rc;
}

/* Reads one line: with libedit in a terminal, else from stdin.  Returns a
 * malloc'd line without its newline, or NULL at the end of input. */
static char *read_line(int tty) {
#ifdef INF_HAVE_LIBEDIT
    if (tty) {
        errno = 0;
        char *l = readline("> ");
        /* libedit gives up the line when a signal (an ignored Ctrl-C)
         * interrupts it: that is not the end of the input. */
        if (!l && errno == EINTR) {
            fputc('\n', stdout);
            return strdup("");
        }
        if (l && *l) add_history(l);
        return l;
    }
#else
    if (tty) {
        fputs("> ", stdout);
        fflush(stdout);
    }
#endif
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
        free(line);
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
    return line;
}

static int interactive(inf_model *m, convo *cv, cli_sampling *sp, int quiet,
                       const char *dir) {
    int tty = isatty(STDIN_FILENO);
    if (tty && !quiet)
        fprintf(stderr,
                "Chatting with %s.  Commands: /reset, /system TEXT, /quit "
                "(or Ctrl-D); Ctrl-C stops a reply.\n", dir);
    size_t keep = cv->n; /* the system prompt, if any */
    int rc = CLI_EXIT_OK;
    char *line;
    for (;;) {
        /* At the prompt Ctrl-C is ignored (it stops replies; /quit and
         * Ctrl-D leave), so a key pressed just after a reply ends cannot
         * kill the session. */
        if (tty) signal(SIGINT, SIG_IGN);
        if ((line = read_line(tty)) == NULL) break;
        size_t len = strlen(line);
        if (len == 0) {
            free(line);
            continue;
        }
        if (!cli_utf8_valid(line, len, NULL)) {
            cli_err("the message is not valid UTF-8; type it again");
            free(line);
            if (!tty) { rc = CLI_EXIT_ERROR; break; }
            continue;
        }
        if (line[0] == '/') {
            if (strcmp(line, "/quit") == 0 || strcmp(line, "/exit") == 0) {
                free(line);
                break;
            } else if (strcmp(line, "/reset") == 0) {
                convo_clear(cv, keep);
                if (tty) fprintf(stderr, "(conversation reset)\n");
            } else if (strncmp(line, "/system", 7) == 0 &&
                       (line[7] == 0 || line[7] == ' ')) {
                const char *t = line[7] ? line + 8 : "";
                /* Replace the system prompt, keep the rest of the talk. */
                if (keep == 1) {
                    free((char *)cv->m[0].content);
                    cv->m[0].content = strdup(t);
                    if (!*t) {
                        free((char *)cv->m[0].role);
                        free((char *)cv->m[0].content);
                        memmove(cv->m, cv->m + 1, (cv->n - 1) * sizeof *cv->m);
                        cv->n--;
                        keep = 0;
                    }
                } else if (*t) {
                    if (convo_add(cv, "system", t, strlen(t))) { free(line); rc = CLI_EXIT_ERROR; break; }
                    inf_message sys = cv->m[cv->n - 1];
                    memmove(cv->m + 1, cv->m, (cv->n - 1) * sizeof *cv->m);
                    cv->m[0] = sys;
                    keep = 1;
                }
                if (tty) fprintf(stderr, "(system prompt %s)\n", *t ? "set" : "removed");
            } else if (strcmp(line, "/help") == 0) {
                fprintf(stderr, "/reset, /system TEXT, /quit\n");
            } else {
                fprintf(stderr, "unknown command %s (try /help)\n", line);
            }
            free(line);
            continue;
        }
        if (convo_add(cv, "user", line, len)) { free(line); rc = CLI_EXIT_ERROR; break; }
        free(line);
        char *ans = NULL;
        size_t alen = 0;
        inf_metrics met;
        inf_finish_reason fr = INF_FINISH_NONE;
        int r = reply(m, cv, sp, &ans, &alen, &met, &fr);
        if (r && r != 130) {
            free(ans);
            convo_clear(cv, cv->n - 1); /* drop the unanswered message */
            if (!tty) { rc = r; break; }
            continue;
        }
        /* Each reply ends its line, so the next prompt starts fresh. */
        if (!(alen && ans[alen - 1] == '\n')) fputc('\n', stdout);
        fflush(stdout);
        if (r == 130) fprintf(stderr, "(interrupted)\n");
        else if (!quiet) cli_print_summary(&met, fr);
        int arc = convo_add(cv, "assistant", ans ? ans : "", ans ? strlen(ans) : 0);
        free(ans);
        if (arc) { rc = CLI_EXIT_ERROR; break; }
    }
    if (tty && !line) fputc('\n', stdout);
    if (tty) signal(SIGINT, SIG_DFL);
    return rc;
}

/* --var NAME=JSON: adds the variable to the JSON object `user`. */
static int add_var(void *user, const char *arg) {
    const char *eq = strchr(arg, '=');
    json_error_t jerr;
    json_t *v = eq && eq != arg ? json_loads(eq + 1, JSON_DECODE_ANY, &jerr) : NULL;
    if (!v) return cli_usage_err("--var '%s': expected NAME=JSON", arg);
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int)(eq - arg), arg);
    json_object_set_new(user, name, v);
    return 0;
}

int inf_cmd_chat(int argc, char **argv) {
    cli_model_args ma;
    cli_sampling sp;
    cli_model_args_init(&ma);
    cli_sampling_init(&sp, INF_DEFAULT_MAX_TOKENS);
    const char *msgs_path = NULL, *system = NULL, *tmpl_path = NULL;
    json_t *vars = json_object();
    cli_constraint con = {0};
    const cli_opt opts[] = {
        {.name = "messages", .kind = CLI_STRING, .dest = &msgs_path,
         .metavar = "FILE", .help = "reply once to this conversation"},
        {.name = "system", .kind = CLI_STRING, .dest = &system,
         .help = "a system prompt to start with"},
        {.name = "template", .kind = CLI_STRING, .dest = &tmpl_path,
         .metavar = "FILE",
         .help = "a Jinja chat template to use instead of the model's"},
        {.name = "var", .kind = CLI_CALL, .fn = add_var, .user = vars,
         .metavar = "NAME=JSON",
         .help = "an extra template variable (repeatable), e.g.\n"
                 "--var enable_thinking=false"},
        CLI_MODEL_OPTIONS(&ma),
        CLI_MMAP_OPTION(&ma),
        CLI_SAMPLING_OPTIONS(&sp),
        CLI_CONSTRAINT_OPTIONS(&con),
        CLI_END};
    const cli_cmd cmd = {
        .synopsis = "-m DIR [OPTIONS]\n-m DIR --messages FILE [OPTIONS]",
        .about = about, .opts = opts,
        .pos_hint = "chat takes messages interactively or with --messages FILE"};
    char *vars_text = NULL, *tmpl = NULL;
    convo cv = {0};
    inf_model *m = NULL;
    cli_args args;
    int rc = cli_parse(&cmd, argc, argv, &args);
    if (rc) {
        rc = cli_parse_exit(rc);
        goto done;
    }
    if ((rc = cli_check_model_dir(&ma))) goto done;
    if ((rc = cli_constraint_apply(&con, &sp.o))) goto done;
    rc = CLI_EXIT_ERROR;
    if (system) {
        if (cli_require_utf8("--system text", system, strlen(system))) goto done;
        if (convo_add(&cv, "system", system, strlen(system))) goto done;
    }
    if (msgs_path && load_messages(msgs_path, &cv)) goto done;
    if (tmpl_path) {
        if (!(tmpl = cli_read_file(tmpl_path, NULL))) goto done;
        sp.o.chat_template = tmpl;
    }
    if (json_object_size(vars)) {
        vars_text = json_dumps(vars, JSON_COMPACT);
        sp.o.template_vars_json = vars_text;
    }
    /* generating: the fast kernels unless told otherwise (issue 20) */
    cli_model_args_precision(&ma, CLI_PRECISION_GENERATING);
    cli_model_args_weights(&ma);
    if ((rc = cli_load_model(&ma, &m))) goto done;
    if (msgs_path) {
        char *ans = NULL;
        size_t alen = 0;
        inf_metrics met;
        inf_finish_reason fr = INF_FINISH_NONE;
        rc = reply(m, &cv, &sp, &ans, &alen, &met, &fr);
        if (rc != CLI_EXIT_ERROR && alen && ans[alen - 1] != '\n' &&
            isatty(STDOUT_FILENO))
            fputc('\n', stdout);
        fflush(stdout);
        if (rc == 0 && !ma.quiet) cli_print_summary(&met, fr);
        if (rc == 130 && !ma.quiet) fprintf(stderr, "[interrupted]\n");
        free(ans);
    } else {
        rc = interactive(m, &cv, &sp, ma.quiet, ma.dir);
    }
done:
    convo_clear(&cv, 0);
    free(cv.m);
    inf_model_close(&m);
    free(vars_text);
    free(tmpl);
    json_decref(vars);
    cli_sampling_free(&sp);
    cli_constraint_free(&con);
    return rc;
}
