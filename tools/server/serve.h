/* The entry point of `inference serve` (tools/server/cmd_serve.c), for the
 * inference program that dispatches to it.  Same contract as the other
 * subcommands (tools/inference/commands.h): argv[0] is "serve", the return
 * value is the exit status (0 after SIGINT / SIGTERM, 1 failure, 2 bad
 * command line). */
#ifndef INF_SERVER_SERVE_H
#define INF_SERVER_SERVE_H

int inf_cmd_serve(int argc, char **argv);

#endif
