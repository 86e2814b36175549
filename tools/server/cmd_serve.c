/* `inference serve`: loads a model and serves the OpenAI-compatible HTTP
 * API until SIGINT or SIGTERM.  The command line (tools/common's parser)
 * and the process-level concerns (signals, messages on stderr) live here;
 * the server itself is server.c and friends. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cliopt.h"
#include "common/cliutil.h"
#include "server/serve.h"
#include "server/server.h"

static const char about[] =
    "Serves the model over an OpenAI-compatible HTTP API (and a chat page at /).\n";

static const char epilog[] =
    "Endpoints: GET /health, GET /v1/models, POST /v1/chat/completions,\n"
    "POST /v1/completions (both with \"stream\": true for server-sent events),\n"
    "GET /metrics (Prometheus), GET / (chat page).  Sampling fields a request\n"
    "omits default to the model's generation_config.json when it asks for\n"
    "sampling, else greedy decoding.\n"
    "\n"
    "Weights: read into memory at start-up (the library's copy_weights), so\n"
    "that a weight file truncated or rewritten in place while the server runs\n"
    "(a download into the same file, `cp new old`) cannot kill it with SIGBUS.\n"
    "The cost: the files' size in resident memory for the server's lifetime\n"
    "(a mapping shares the page cache and can drop clean pages) and one full\n"
    "read of them before the server answers (measured on a 2-core VM, page\n"
    "cache warm: a 320 MiB Q4_0 GGUF, +332 MiB private memory and +0.1 s to\n"
    "the first answer).  --mmap maps them instead.\n";

/* The directory's last path component, for the model id. */
static const char *base_name(const char *path, char *buf, size_t n) {
    snprintf(buf, n, "%s", path);
    size_t len = strlen(buf);
    while (len > 1 && buf[len - 1] == '/') buf[--len] = '\0';
    const char *slash = strrchr(buf, '/');
    return slash && slash[1] ? slash + 1 : buf;
}

/* --api-key's check: the same rules the server applies. */
static int check_api_key(void *user, const char *value) {
    (void)user;
    const char *why = inf__srv_api_key_problem(value);
    return why ? cli_usage_err("--api-key: %s", why) : 0;
}

/* --cors-origin's check: the same rules the server applies. */
static int check_cors_origin(void *user, const char *value) {
    (void)user;
    const char *why = inf__srv_cors_origin_problem(value);
    return why ? cli_usage_err("--cors-origin: '%s': %s (scheme://host[:port], '*' or 'null')",
                               value, why)
               : 0;
}

/* The command; --cors-origin's values go to *cors (freed by the caller on
 * every path). */
static int serve(int argc, char **argv, cli_strs *cors) {
    inf__srv_config cfg;
    inf__srv_config_default(&cfg);
    cli_model_args ma;
    cli_model_args_init(&ma);
    const char *model_name = NULL;
    int max_body = (int)cfg.max_body, queue_timeout_s = (int)(cfg.queue_timeout_ms / 1000);
    int header_timeout_s = (int)(cfg.header_timeout_ms / 1000);
    int body_timeout_s = (int)(cfg.body_timeout_ms / 1000);
    const char *key_flag = NULL;
    int kv_mib = 0;
    const cli_opt opts[] = {
        {.short_name = 'm', .name = "model", .kind = CLI_STRING, .dest = &ma.dir,
         .metavar = "DIR", .help = "model directory (or what --backend accepts)"},
        {.name = "host", .kind = CLI_STRING, .dest = &cfg.host, .metavar = "HOST",
         .show_default = 1, .help = "address to bind (the default: loopback only)"},
        {.name = "port", .kind = CLI_INT, .dest = &cfg.port, .min = 0, .max = 65535,
         .show_default = 1, .help = "TCP port (0 picks a free one)"},
        {.name = "parallel", .kind = CLI_INT, .dest = &cfg.parallel, .min = 1,
         .max = 1024, .show_default = 1, .help = "generations running at once"},
        {.name = "queue", .kind = CLI_INT, .dest = &cfg.queue, .min = 0, .max = 100000,
         .show_default = 1,
         .help = "requests that may wait for a slot; more get 503\n"
                 "with a JSON error"},
        {.name = "api-key", .kind = CLI_STRING, .dest = &key_flag, .metavar = "KEY",
         .fn = check_api_key,
         .help = "require 'Authorization: Bearer KEY' on /v1/*\n"
                 "(default: $INFERENCE_API_KEY when set; an empty\n"
                 "key is an error, never \"no key\")"},
        {.name = "cors-origin", .kind = CLI_STRINGS, .dest = cors, .metavar = "ORIGIN",
         .fn = check_cors_origin,
         .help = "also allow requests from web pages at ORIGIN\n"
                 "(scheme://host[:port]; repeatable; '*' any page):\n"
                 "CORS headers and preflights for them (default:\n"
                 "the server's own page only)"},
        {.name = "model-name", .kind = CLI_STRING, .dest = &model_name,
         .metavar = "NAME", .help = "the model id in /v1/models (default: DIR's name)"},
        {.name = "precision", .kind = CLI_STRING, .dest = &ma.precision,
         .fn = cli_check_precision, .metavar = "exact|fast",
         .help = "kernel arithmetic (default: $INF_PRECISION, else fast)"},
        {.name = "backend", .kind = CLI_STRING, .dest = &ma.lo.backend,
         .fn = cli_check_backend, .metavar = "NAME",
         .help = "backend to load with (default: automatic)"},
        {.name = "ctx", .kind = CLI_INT, .dest = &ma.lo.context_length, .min = 1,
         .max = INT32_MAX, .help = "context length (default: the backend's)"},
        {.short_name = 't', .name = "threads", .kind = CLI_INT, .dest = &ma.lo.n_threads,
         .min = 1, .max = 1024, .help = "compute threads (default: one per core)"},
        {.name = "kv-memory", .kind = CLI_INT, .dest = &kv_mib, .min = 1, .max = INT32_MAX,
         .metavar = "MIB",
         .help = "KV cache shared by all generations (native\n"
                 "engine; default: context x parallel)"},
        CLI_MMAP_OPTION(&ma),
        {.name = "no-prefix-cache", .kind = CLI_FLAG, .dest = &ma.lo.no_prefix_cache,
         .help = "never reuse cached prompt prefixes"},
        {.name = "prefill-chunk", .kind = CLI_INT, .dest = &ma.lo.prefill_chunk, .min = -1,
         .max = INT32_MAX, .metavar = "N",
         .help = "prompt tokens per step while others decode\n"
                 "(default 0: adaptive, a step aims at ~1.25x\n"
                 "a decode step; -1: a prompt in one step)"},
        {.name = "max-body", .kind = CLI_INT, .dest = &max_body, .min = 1024,
         .max = 1 << 30, .metavar = "BYTES", .show_default = 1,
         .help = "largest request body"},
        {.name = "max-messages", .kind = CLI_INT, .dest = &cfg.max_messages, .min = 1,
         .max = 1000000, .show_default = 1, .help = "most messages in a chat request"},
        {.name = "max-tokens-limit", .kind = CLI_INT, .dest = &cfg.max_tokens_limit,
         .min = 1, .max = INT32_MAX, .show_default = 1,
         .help = "largest max_tokens accepted"},
        {.name = "default-max-tokens", .kind = CLI_INT, .dest = &cfg.default_max_tokens,
         .min = 1, .max = INT32_MAX, .show_default = 1,
         .help = "max_tokens when a request omits it"},
        {.name = "queue-timeout", .kind = CLI_INT, .dest = &queue_timeout_s, .min = 1,
         .max = 86400, .metavar = "S", .show_default = 1,
         .help = "seconds a request may wait for a slot"},
        {.name = "max-connections", .kind = CLI_INT, .dest = &cfg.max_connections,
         .min = 1, .max = 100000, .show_default = 1,
         .help = "open connections in all (one thread each)"},
        {.name = "max-connections-per-address", .kind = CLI_INT,
         .dest = &cfg.max_connections_per_address, .min = 1, .max = 100000,
         .metavar = "N", .show_default = 1,
         .help = "open connections from one client address;\n"
                 "more are closed at once"},
        {.name = "header-timeout", .kind = CLI_INT, .dest = &header_timeout_s, .min = 1,
         .max = 3600, .metavar = "S", .show_default = 1,
         .help = "seconds a client has to send a request's\n"
                 "header (also the keep-alive idle time)"},
        {.name = "body-timeout", .kind = CLI_INT, .dest = &body_timeout_s, .min = 1,
         .max = 3600, .metavar = "S", .show_default = 1,
         .help = "seconds a client has to send a request's body"},
        CLI_END};
    const cli_cmd cmd = {.synopsis = "-m DIR [OPTIONS]", .about = about,
                         .epilog = epilog, .opts = opts};
    cli_args args;
    int rc = cli_parse(&cmd, argc, argv, &args);
    if (rc) return cli_parse_exit(rc);
    /* The flag wins; else $INFERENCE_API_KEY, where set-but-empty is an
     * error rather than "unset" (an empty key must not turn authentication
     * off while the operator believes it is on). */
    if (key_flag) {
        cfg.api_key = key_flag;
    } else if ((cfg.api_key = getenv("INFERENCE_API_KEY"))) {
        const char *why = inf__srv_api_key_problem(cfg.api_key);
        if (why) {
            cli_err("$INFERENCE_API_KEY: %s (unset it to serve without a key)", why);
            return CLI_EXIT_USAGE;
        }
    }
    if ((rc = cli_check_model_dir(&ma))) return rc;
    cfg.cors_origins = cors->v;
    cfg.n_cors_origins = cors->n;
    cfg.max_body = (size_t)max_body;
    cfg.queue_timeout_ms = (int64_t)queue_timeout_s * 1000;
    cfg.header_timeout_ms = (int64_t)header_timeout_s * 1000;
    cfg.body_timeout_ms = (int64_t)body_timeout_s * 1000;
    if (cfg.default_max_tokens > cfg.max_tokens_limit)
        cfg.default_max_tokens = cfg.max_tokens_limit;
    char namebuf[PATH_MAX];
    cfg.model_id = model_name ? model_name : base_name(ma.dir, namebuf, sizeof namebuf);

    ma.lo.parallel_slots = cfg.parallel;
    ma.lo.kv_memory = (int64_t)kv_mib << 20;
    /* A server outlives the files it was started on (see the epilog). */
    cli_model_args_weights(&ma);
    inf_model *model = NULL;
    /* generating: the fast kernels unless told otherwise (issue 20) */
    cli_model_args_precision(&ma, CLI_PRECISION_GENERATING);
    if ((rc = cli_load_model(&ma, &model))) return rc;
    /* Requests start from the model's own sampling defaults; its tokenizer
     * (borrowed) names the alternatives in top_logprobs. */
    inf_model_generation_defaults(model, &cfg.sampling);
    cfg.tokenizer = inf_model_tokenizer(model);

    /* SIGINT/SIGTERM are taken synchronously by sigwait below; blocking
     * them before the server starts its threads keeps them off those
     * threads.  A client hanging up must not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    inf__srv *srv = NULL;
    char err[512];
    if (inf__srv_start(model, &cfg, &srv, err, sizeof err) != INF_OK) {
        cli_err("%s", err);
        inf_model_close(&model);
        return CLI_EXIT_ERROR;
    }
    inf_model_info info;
    memset(&info, 0, sizeof info);
    inf_model_info_get(model, &info);
    int v6 = strchr(cfg.host, ':') != NULL;
    fprintf(stderr, "inference serve: listening on http://%s%s%s:%d (model %s, backend %s, "
                    "parallel %d, queue %d%s)\n",
            v6 ? "[" : "", cfg.host, v6 ? "]" : "", inf__srv_port(srv), cfg.model_id,
            info.backend, cfg.parallel, cfg.queue, cfg.api_key ? ", API key required" : "");
    if (!cfg.api_key && strcmp(cfg.host, "127.0.0.1") != 0 && strcmp(cfg.host, "localhost") != 0 &&
        strcmp(cfg.host, "::1") != 0)
        fprintf(stderr, "inference serve: warning: listening beyond loopback without --api-key\n");
    fflush(stderr);

    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "inference serve: %s, stopping\n", sig == SIGINT ? "interrupted" : "terminated");
    inf__srv_stop(srv);
    inf_model_close(&model);
    return CLI_EXIT_OK;
}

int inf_cmd_serve(int argc, char **argv) {
    cli_strs cors = {NULL, 0};
    int rc = serve(argc, argv, &cors);
    cli_strs_free(&cors);
    return rc;
}
