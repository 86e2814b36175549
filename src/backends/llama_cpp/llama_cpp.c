/* The "llama_cpp" backend (documented in llama_cpp.h): llama-server as a
 * child process on a free loopback port, used through the openai client. */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backends/llama_cpp/child.h"
#include "backends/llama_cpp/gguf_meta.h"
#include "backends/llama_cpp/llama_cpp.h"
#include "remote/client.h"
#include "core/clock.h"
#include "core/log.h"

#define ENV_BIN "INFERENCE_LLAMA_SERVER"
#define ENV_TIMEOUT "INFERENCE_LLAMA_SERVER_TIMEOUT_MS"
#define START_TIMEOUT_MS 120000
#define STOP_GRACE_MS 5000
#define LOG_LINES 8
#define ENV_KEY "LLAMA_API_KEY" /* llama-server's --api-key, from the environment */
#define KEY_BYTES 32            /* random bytes of the child's API key */

typedef struct lc_server {
    inf__child child;
    int port;
    char key[2 * KEY_BYTES + 1];                /* hex */
    char key_env[sizeof ENV_KEY + 2 * KEY_BYTES + 1]; /* ENV_KEY=key */
} lc_server;

static void forget_key(lc_server *s) {
    /* volatile: the stores must not be optimised away before free */
    volatile char *k = s->key, *e = s->key_env;
    for (size_t i = 0; i < sizeof s->key; i++) k[i] = 0;
    for (size_t i = 0; i < sizeof s->key_env; i++) e[i] = 0;
}

static char *server_binary(void) {
    const char *env = getenv(ENV_BIN);
    if (env && env[0]) return inf__find_executable(env);
    return inf__find_executable("llama-server");
}

static int b_available(void *user, char *why, size_t why_size) {
    (void)user;
    char *bin = server_binary();
    if (bin) {
        free(bin);
        return 1;
    }
    const char *env = getenv(ENV_BIN);
    if (why && why_size) {
        if (env && env[0])
            snprintf(why, why_size, "$%s=%s is not an executable file", ENV_BIN, env);
        else
            snprintf(why, why_size, "llama-server not found: set $%s or put it "
                     "on PATH (scripts/build-llama-cpp.sh builds one)", ENV_BIN);
    }
    return 0;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Appends the child's fate to an error message, when it has died. */
static void diag(void *user, char *buf, size_t size) {
    lc_server *s = user;
    /* A dropped connection may be seen a moment before the exit is. */
    for (int i = 0; i < 10 && !inf__child_exited(&s->child); i++) sleep_ms(20);
    if (!inf__child_exited(&s->child)) return;
    char how[96], tail[1024];
    inf__child_describe_exit(&s->child, how, sizeof how);
    inf__child_log_tail(&s->child, LOG_LINES, tail, sizeof tail);
    snprintf(buf, size, " (llama-server pid %d died: %s; last output: %s)",
             (int)s->child.pid, how, tail[0] ? tail : "(none)");
}

static void on_close(void *user) {
    lc_server *s = user;
    inf__child_stop(&s->child, STOP_GRACE_MS);
    forget_key(s);
    free(s);
}

/* llama-server's /health once its model is loaded: {"status":"ok"} (503
 * while loading). */
static int health_ok(const char *body) {
    json_t *j = body ? json_loads(body, 0, NULL) : NULL;
    const char *st = json_string_value(json_object_get(j, "status"));
    int ok = st && strcmp(st, "ok") == 0;
    json_decref(j);
    return ok;
}

/* The port was free when we picked it, but another local process may have
 * bound it before the child did (then the child fails to bind and exits,
 * and that process answers).  llama-server, given our random key, refuses
 * GET /props without it (401; /health and /models are open by design) and
 * serves it with it (200): a server that answers otherwise is not ours.
 * What remains: a process that took the port and imitates llama-server,
 * refusing requests without a key and accepting any key, is not told apart
 * (it would receive the prompts); and our child must still be running. */
static int verify_ours(lc_server *s, const char *bin, inf__err *err) {
    char url[64], auth[64 + sizeof s->key], msg[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/props", s->port);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", s->key);
    long open_http = 0, auth_http = 0;
    inf__oai_simple(url, NULL, 5000, 0, &open_http, NULL, msg, sizeof msg);
    struct curl_slist *h = curl_slist_append(NULL, auth);
    if (!h) return inf__seterr(err, INF_E_NOMEM, "out of memory");
    inf__oai_simple(url, h, 5000, 0, &auth_http, NULL, msg, sizeof msg);
    curl_slist_free_all(h);
    volatile char *a = auth;
    for (size_t i = 0; i < sizeof auth; i++) a[i] = 0;
    if (inf__child_exited(&s->child)) {
        char how[96], tail[1024];
        inf__child_describe_exit(&s->child, how, sizeof how);
        inf__child_log_tail(&s->child, LOG_LINES, tail, sizeof tail);
        return inf__seterr(err, INF_E_REMOTE,
                           "%s exited while starting (%s) and something else answers on "
                           "127.0.0.1:%d: %s", bin, how, s->port, tail[0] ? tail : "(no output)");
    }
    if (open_http != 401 || auth_http != 200)
        return inf__seterr(err, INF_E_REMOTE,
                           "the server on 127.0.0.1:%d is not the llama-server we started "
                           "(GET /props answered %ld without its API key and %ld with it; "
                           "llama-server answers 401 and 200): another process may hold the "
                           "port, or %s ignores $%s (too old?)",
                           s->port, open_http, auth_http, bin, ENV_KEY);
    return INF_OK;
}

/* Polls /health until llama-server's 200 {"status":"ok"}, the child exits,
 * or the time is up; then checks that the server is ours. */
static int wait_ready(lc_server *s, const char *bin, inf__err *err) {
    int64_t limit = START_TIMEOUT_MS;
    const char *env = getenv(ENV_TIMEOUT);
    if (env && atoll(env) > 0) limit = atoll(env);
    int64_t deadline = inf__now_ns() + limit * 1000000;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/health", s->port);
    while (inf__now_ns() < deadline) {
        if (inf__child_exited(&s->child)) {
            char how[96], tail[1500];
            inf__child_describe_exit(&s->child, how, sizeof how);
            inf__child_log_tail(&s->child, LOG_LINES, tail, sizeof tail);
            return inf__seterr(err, INF_E_REMOTE,
                               "%s exited while starting (%s): %s", bin, how,
                               tail[0] ? tail : "(no output)");
        }
        long http = 0;
        char msg[256], *body = NULL;
        inf__oai_simple(url, NULL, 2000, 0, &http, &body, msg, sizeof msg);
        if (http == 200) {
            int ok = health_ok(body);
            char shown[128];
            snprintf(shown, sizeof shown, "%s", body ? body : "");
            free(body);
            if (ok) return verify_ours(s, bin, err);
            return inf__seterr(err, INF_E_REMOTE,
                               "GET /health on 127.0.0.1:%d answered 200 with \"%s\", not "
                               "llama-server's {\"status\":\"ok\"}: another process may hold "
                               "the port", s->port, shown);
        }
        free(body);
        sleep_ms(100);
    }
    char tail[1500];
    inf__child_log_tail(&s->child, LOG_LINES, tail, sizeof tail);
    return inf__seterr(err, INF_E_DEADLINE,
                       "%s did not become ready within %lld ms (set $%s for "
                       "more): %s", bin, (long long)limit, ENV_TIMEOUT,
                       tail[0] ? tail : "(no output)");
}

static int b_load(void *user, const char *path, const inf_load_options *opts,
                  const inf_model_ops **ops, void **model, char **errmsg) {
    (void)user;
    inf__err err;
    inf__err_clear(&err);
    inf__gguf_meta meta;
    int rc = inf__gguf_read_meta(path, &meta, &err);
    char *bin = rc == INF_OK ? server_binary() : NULL;
    if (rc == INF_OK && !bin)
        rc = inf__seterr(&err, INF_E_BACKEND_UNAVAILABLE,
                         "llama-server not found ($%s or PATH)", ENV_BIN);
    lc_server *s = NULL;
    if (rc == INF_OK && !(s = calloc(1, sizeof *s)))
        rc = inf__seterr(&err, INF_E_NOMEM, "out of memory");
    if (rc == INF_OK && (s->port = inf__free_loopback_port()) <= 0)
        rc = inf__seterr(&err, INF_E_NETWORK, "no free loopback port");
    /* A fresh random key per child: only we can use it, and its answers
     * show that the server on the port is ours (verify_ours). */
    int ke = rc == INF_OK ? inf__random_hex(s->key, KEY_BYTES) : 0;
    if (ke) rc = inf__seterr(&err, INF_E_IO, "no random bytes for llama-server's API key: %s",
                             strerror(ke));
    if (rc == INF_OK) snprintf(s->key_env, sizeof s->key_env, "%s=%s", ENV_KEY, s->key);
    /* The model's name in requests: general.name, else the file name. */
    const char *alias = meta.name[0] ? meta.name : path;
    if (!meta.name[0] && strrchr(path, '/')) alias = strrchr(path, '/') + 1;
    if (rc == INF_OK) {
        char port[16], ctx[16], ngl[16], par[16], thr[16];
        snprintf(port, sizeof port, "%d", s->port);
        int32_t gl = opts->gpu_layers < 0 ? 999 : opts->gpu_layers;
        snprintf(ngl, sizeof ngl, "%d", (int)gl);
        snprintf(ctx, sizeof ctx, "%d", (int)opts->context_length);
        snprintf(par, sizeof par, "%d", (int)opts->parallel_slots);
        snprintf(thr, sizeof thr, "%d", (int)opts->n_threads);
        char *argv[20];
        int a = 0;
        argv[a++] = bin;
        argv[a++] = "-m";
        argv[a++] = (char *)path;
        argv[a++] = "--host";
        argv[a++] = "127.0.0.1";
        argv[a++] = "--port";
        argv[a++] = port;
        argv[a++] = "--alias";
        argv[a++] = (char *)alias;
        argv[a++] = "--n-gpu-layers";
        argv[a++] = ngl;
        if (opts->context_length > 0) { argv[a++] = "--ctx-size"; argv[a++] = ctx; }
        if (opts->parallel_slots > 0) { argv[a++] = "--parallel"; argv[a++] = par; }
        if (opts->n_threads > 0) { argv[a++] = "--threads"; argv[a++] = thr; }
        /* copy_weights: the child reads its weights too, so truncating the
         * file cannot kill it with SIGBUS (which would fail our streams). */
        if (opts->copy_weights) argv[a++] = "--no-mmap";
        argv[a] = NULL;
        /* The key goes in the environment (private to our user), not on
         * the command line (/proc/PID/cmdline is world-readable). */
        const char *env[] = {s->key_env, NULL};
        int e = inf__child_start(&s->child, argv, env);
        if (e != 0) {
            rc = inf__seterr(&err, INF_E_IO, "cannot start %s: %s", bin, strerror(e));
        } else {
            inf__log(INF_LOG_INFO, "llama_cpp: started %s (pid %d) on port %d for %s",
                     bin, (int)s->child.pid, s->port, path);
            rc = wait_ready(s, bin, &err);
            if (rc != INF_OK) inf__child_stop(&s->child, STOP_GRACE_MS);
        }
        if (e != 0) {
            forget_key(s);
            free(s);
            s = NULL;
        }
    }
    if (rc == INF_OK) {
        char base[64];
        snprintf(base, sizeof base, "http://127.0.0.1:%d/v1", s->port);
        inf_model_info info;
        memset(&info, 0, sizeof info);
        info.vocab_size = meta.vocab_size;
        info.n_layers = meta.block_count;
        info.hidden_size = meta.embedding_length;
        info.context_length = opts->context_length > 0 ? opts->context_length
                                                       : meta.context_length;
        info.weight_bytes = meta.file_bytes;
        inf__openai_config cfg = {0};
        cfg.base_url = base;
        cfg.model_name = alias;
        cfg.api_key = s->key; /* Bearer on every request */
        cfg.timeout_ms = opts->timeout_ms;
        cfg.max_retries = 1; /* a local child: one retry is plenty */
        cfg.backend_name = "llama_cpp";
        cfg.architecture = meta.architecture;
        cfg.want_token_ids = 1;
        cfg.check_model = 0;
        cfg.info = &info;
        cfg.diag = diag;
        cfg.diag_user = s;
        cfg.on_close = on_close;
        cfg.close_user = s;
        rc = inf__openai_connect(&cfg, ops, model, &err);
        if (rc != INF_OK) inf__child_stop(&s->child, STOP_GRACE_MS);
    }
    if (rc != INF_OK) {
        if (s) forget_key(s);
        free(s); /* the child, if any, was stopped above */
        if (errmsg) *errmsg = strdup(err.msg);
    }
    free(bin);
    return rc;
}

const inf_backend inf__backend_llama_cpp = {
    .name = "llama_cpp",
    .description = "GGUF models in llama.cpp's llama-server (a child process)",
    .user = NULL,
    .available = b_available,
    .load = b_load,
};
