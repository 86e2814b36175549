/* The `inference` program: dispatches `inference SUBCOMMAND ...` to the
 * subcommand's function (commands.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdutil.h"
#include "commands.h"
#include "server/serve.h"

#ifndef INF_HAVE_SERVER
/* Built without libmicrohttpd: serve exists but says why it cannot run. */
int inf_cmd_serve(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr,
            "inference: serve: this build has no HTTP server (libmicrohttpd "
            "missing)\n");
    return 2;
}
#endif

typedef struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"generate", inf_cmd_generate, "generate text from a prompt, streaming"},
    {"chat", inf_cmd_chat, "a conversation: interactive, or from a JSON messages file"},
    {"classify", inf_cmd_classify, "the next token of each prompt in a file (JSONL out)"},
    {"batch", inf_cmd_batch, "generate for every prompt in a file together (JSONL out)"},
    {"serve", inf_cmd_serve, "an OpenAI-compatible HTTP server"},
    {"discover", inf_cmd_discover, "list the model directories under a directory"},
    {"info", inf_cmd_info, "a model's architecture, tokenizer, template and memory"},
    {"tokenize", inf_cmd_tokenize, "text to token ids"},
    {"detokenize", inf_cmd_detokenize, "token ids to text"},
    {"template", inf_cmd_template, "render a conversation with the chat template"},
    {"logits", inf_cmd_logits, "the logits at every position of a token sequence"},
    {"perplexity", inf_cmd_perplexity, "perplexity over a text or token ids"},
    {"backends", inf_cmd_backends, "the registered backends and their availability"},
    {"bench", inf_cmd_bench, "prefill and decode speed (tokens/s)"},
};

/* INFERENCE_LOG=debug|info|warn|error prints the library's diagnostics
 * (which kernels and threads a backend chose, child processes, retries) on
 * stderr; unset, the library stays silent. */
static void on_log(inf_log_level level, const char *msg, void *user) {
    static const char *names[] = {"debug", "info", "warn", "error"};
    (void)user;
    fprintf(stderr, "inference: [%s] %s\n", level >= 0 && level <= 3 ? names[level] : "?", msg);
}

static void setup_log(void) {
    static const char *names[] = {"debug", "info", "warn", "error"};
    const char *v = getenv("INFERENCE_LOG");
    if (!v || !v[0]) return;
    for (int i = 0; i < 4; i++)
        if (strcmp(v, names[i]) == 0) {
            inf_set_log_callback(on_log, NULL, (inf_log_level)i);
            return;
        }
    fprintf(stderr, "inference: INFERENCE_LOG=%s ignored (debug, info, warn or error)\n", v);
}

static void usage(FILE *f) {
    fprintf(f, "usage: inference SUBCOMMAND [OPTIONS]   (inference SUBCOMMAND --help)\n\n"
               "Subcommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nOther: inference --version, inference --help\n"
               "Environment: INFERENCE_LOG=debug|info|warn|error shows the library's log on stderr\n");
}

int main(int argc, char **argv) {
    setup_log();
    if (argc < 2) {
        fprintf(stderr, "inference: no subcommand given (see 'inference "
                        "--help')\n");
        return CLI_EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 ||
        strcmp(sub, "help") == 0) {
        if (strcmp(sub, "help") == 0 && argc > 2) {
            /* `inference help generate` = `inference generate --help` */
            char *hargv[] = {argv[2], "--help", NULL};
            for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
                if (strcmp(commands[i].name, argv[2]) == 0) {
                    cli_set_sub(commands[i].name);
                    return commands[i].fn(2, hargv);
                }
        }
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(sub, "--version") == 0 || strcmp(sub, "version") == 0) {
        printf("inference %s\n", inf_version());
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(commands[i].name, sub) == 0) {
            cli_set_sub(commands[i].name);
            return commands[i].fn(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "inference: unknown subcommand '%s' (see 'inference --help')\n",
            sub);
    return CLI_EXIT_USAGE;
}
