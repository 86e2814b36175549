/* The subcommands of the `inference` program.  Each takes the arguments
 * after the program name (argv[0] is the subcommand's name), prints its
 * output on stdout and its errors as one line on stderr, and returns the
 * process exit status (0 ok, 1 failure, 2 bad command line).
 * `serve` lives in tools/server (server/serve.h) and is linked only when the
 * HTTP server is built (INF_HAVE_SERVER). */
#ifndef INF_CLI_COMMANDS_H
#define INF_CLI_COMMANDS_H

int inf_cmd_generate(int argc, char **argv);
int inf_cmd_chat(int argc, char **argv);
int inf_cmd_classify(int argc, char **argv);
int inf_cmd_batch(int argc, char **argv);
int inf_cmd_discover(int argc, char **argv);
int inf_cmd_info(int argc, char **argv);
int inf_cmd_tokenize(int argc, char **argv);
int inf_cmd_detokenize(int argc, char **argv);
int inf_cmd_template(int argc, char **argv);
int inf_cmd_logits(int argc, char **argv);
int inf_cmd_perplexity(int argc, char **argv);
int inf_cmd_backends(int argc, char **argv);
int inf_cmd_bench(int argc, char **argv);

#endif
