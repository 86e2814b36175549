/* `inference serve`: loads a model and serves the OpenAI-compatible HTTP
 * API until SIGINT or SIGTERM.  Argument parsing and the process-level
 * concerns (signals, messages on stderr) live here; the server itself is
 * server.c and friends. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inference/commands.h"
#include "server/server.h"

static void usage(FILE *f) {
    fputs(
        "usage: inference serve -m DIR [options]\n"
        "Serves the model over an OpenAI-compatible HTTP API (and a chat page at /).\n"
        "\n"
        "  -m, --model DIR          model directory (or what --backend accepts)\n"
        "      --host HOST          address to bind (default 127.0.0.1: loopback only)\n"
        "      --port N             TCP port (default 8080; 0 picks a free one)\n"
        "      --parallel N         generations running at once (default 4)\n"
        "      --queue N            requests that may wait for a slot (default 64);\n"
        "                           more get 503 with a JSON error\n"
        "      --api-key KEY        require 'Authorization: Bearer KEY' on /v1/*\n"
        "                           (default: $INFERENCE_API_KEY when set)\n"
        "      --model-name NAME    the model id in /v1/models (default: DIR's name)\n"
        "      --backend NAME       backend to load with (default: automatic)\n"
        "      --ctx N              context length (default: the backend's)\n"
        "  -t, --threads N          compute threads (default: one per core)\n"
        "      --max-body BYTES     largest request body (default 1048576)\n"
        "      --max-messages N     most messages in a chat request (default 256)\n"
        "      --max-tokens-limit N largest max_tokens accepted (default 4096)\n"
        "      --default-max-tokens N  max_tokens when a request omits it (default 512)\n"
        "      --queue-timeout S    seconds a request may wait for a slot (default 600)\n"
        "  -h, --help               this text\n"
        "\n"
        "Endpoints: GET /health, GET /v1/models, POST /v1/chat/completions,\n"
        "POST /v1/completions (both with \"stream\": true for server-sent events),\n"
        "GET /metrics (Prometheus), GET / (chat page).  Sampling fields a request\n"
        "omits default to the model's generation_config.json when it asks for\n"
        "sampling, else greedy decoding.\n",
        f);
}

static int parse_int(const char *opt, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "inference: serve: %s expects an integer in [%ld, %ld], got '%s'\n",
                opt, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* Sampling defaults from generation_config.json, when it asks for sampling
 * (do_sample true); otherwise requests that say nothing decode greedily. */
static void sampling_defaults(const char *dir, inf__srv_config *c) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    json_t *g = json_load_file(path, 0, NULL);
    if (!g) return;
    if (json_is_true(json_object_get(g, "do_sample"))) {
        json_t *v;
        c->default_temperature = 1.0f;
        if (json_is_number(v = json_object_get(g, "temperature")))
            c->default_temperature = (float)json_number_value(v);
        if (json_is_number(v = json_object_get(g, "top_p")))
            c->default_top_p = (float)json_number_value(v);
        if (json_is_integer(v = json_object_get(g, "top_k")))
            c->default_top_k = (int)json_integer_value(v);
        if (json_is_number(v = json_object_get(g, "min_p")))
            c->default_min_p = (float)json_number_value(v);
    }
    json_decref(g);
}

/* The directory's last path component, for the model id. */
static const char *base_name(const char *path, char *buf, size_t n) {
    snprintf(buf, n, "%s", path);
    size_t len = strlen(buf);
    while (len > 1 && buf[len - 1] == '/') buf[--len] = '\0';
    const char *slash = strrchr(buf, '/');
    return slash && slash[1] ? slash + 1 : buf;
}

int inf_cmd_serve(int argc, char **argv) {
    inf__srv_config cfg;
    inf__srv_config_default(&cfg);
    const char *model_dir = NULL, *backend = NULL, *model_name = NULL;
    long ctx = 0, threads = 0;
    cfg.api_key = getenv("INFERENCE_API_KEY");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "inference: serve: unknown option or missing value: %s "
                            "(see inference serve --help)\n", a);
            return 2;
        }
        const char *v = argv[++i];
        long n;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) model_dir = v;
        else if (!strcmp(a, "--host")) cfg.host = v;
        else if (!strcmp(a, "--api-key")) cfg.api_key = v;
        else if (!strcmp(a, "--model-name")) model_name = v;
        else if (!strcmp(a, "--backend")) backend = v;
        else if (!strcmp(a, "--port")) {
            if (parse_int(a, v, 0, 65535, &n)) return 2;
            cfg.port = (int)n;
        } else if (!strcmp(a, "--parallel")) {
            if (parse_int(a, v, 1, 1024, &n)) return 2;
            cfg.parallel = (int)n;
        } else if (!strcmp(a, "--queue")) {
            if (parse_int(a, v, 0, 100000, &n)) return 2;
            cfg.queue = (int)n;
        } else if (!strcmp(a, "--ctx")) {
            if (parse_int(a, v, 1, INT32_MAX, &ctx)) return 2;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (parse_int(a, v, 1, 1024, &threads)) return 2;
        } else if (!strcmp(a, "--max-body")) {
            if (parse_int(a, v, 1024, 1L << 30, &n)) return 2;
            cfg.max_body = (size_t)n;
        } else if (!strcmp(a, "--max-messages")) {
            if (parse_int(a, v, 1, 1000000, &n)) return 2;
            cfg.max_messages = (int)n;
        } else if (!strcmp(a, "--max-tokens-limit")) {
            if (parse_int(a, v, 1, INT32_MAX, &n)) return 2;
            cfg.max_tokens_limit = (int)n;
        } else if (!strcmp(a, "--default-max-tokens")) {
            if (parse_int(a, v, 1, INT32_MAX, &n)) return 2;
            cfg.default_max_tokens = (int)n;
        } else if (!strcmp(a, "--queue-timeout")) {
            if (parse_int(a, v, 1, 86400, &n)) return 2;
            cfg.queue_timeout_ms = n * 1000;
        } else {
            fprintf(stderr, "inference: serve: unknown option: %s (see inference serve --help)\n", a);
            return 2;
        }
    }
    if (!model_dir) {
        fprintf(stderr, "inference: serve: a model is required: -m DIR\n");
        return 2;
    }
    if (cfg.default_max_tokens > cfg.max_tokens_limit)
        cfg.default_max_tokens = cfg.max_tokens_limit;
    char namebuf[PATH_MAX];
    cfg.model_id = model_name ? model_name : base_name(model_dir, namebuf, sizeof namebuf);
    sampling_defaults(model_dir, &cfg);

    inf_load_options lo;
    inf_load_options_default(&lo);
    lo.backend = backend;
    lo.parallel_slots = cfg.parallel;
    lo.context_length = (int32_t)ctx;
    lo.n_threads = (int32_t)threads;
    inf_model *model = NULL;
    char *errmsg = NULL;
    int rc = inf_model_load(model_dir, &lo, &model, &errmsg);
    if (rc != INF_OK) {
        fprintf(stderr, "inference: serve: %s: %s\n", model_dir,
                errmsg ? errmsg : inf_strerror(rc));
        inf_free(errmsg);
        return 1;
    }

    /* SIGINT/SIGTERM are taken synchronously by sigwait below; blocking
     * them before the server starts its threads keeps them off those
     * threads.  A client hanging up must not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    /* Optional: names the alternatives in top_logprobs. */
    inf_tokenizer *tok = NULL;
    char *tok_err = NULL;
    if (inf_tokenizer_load(model_dir, &tok, &tok_err) != INF_OK) tok = NULL;
    inf_free(tok_err);
    cfg.tokenizer = tok;

    inf__srv *srv = NULL;
    char err[512];
    rc = inf__srv_start(model, &cfg, &srv, err, sizeof err);
    if (rc != INF_OK) {
        fprintf(stderr, "inference: serve: %s\n", err);
        inf_tokenizer_free(tok);
        inf_model_close(&model);
        return 1;
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
    inf_tokenizer_free(tok);
    inf_model_close(&model);
    return 0;
}
