/* The "openai" backend: a model behind any OpenAI-compatible HTTP server,
 * through the shared client in src/remote (client.h).  This file is the
 * backend's own part: the load path's URL forms and the registry entry. */
#include "backends/openai/openai.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remote/client.h"

int inf__openai_parse_url(const char *path, char **base, char **model,
                          inf__err *err) {
    *base = NULL;
    *model = NULL;
    if (!path) return inf__seterr(err, INF_E_INVALID_ARGUMENT, "no URL given");
    if (strncmp(path, "openai:", 7) == 0) path += 7;
    if (strncmp(path, "http://", 7) != 0 && strncmp(path, "https://", 8) != 0)
        return inf__seterr(err, INF_E_INVALID_ARGUMENT,
                           "\"%s\" is not an http:// or https:// URL "
                           "(forms: http://host:port/v1[#model], "
                           "openai:http://host:port/v1[#model])", path);
    const char *hash = strchr(path, '#');
    size_t n = hash ? (size_t)(hash - path) : strlen(path);
    while (n > 0 && path[n - 1] == '/') n--;
    const char *host = strstr(path, "://") + 3;
    if ((size_t)(host - path) >= n)
        return inf__seterr(err, INF_E_INVALID_ARGUMENT, "URL \"%s\" has no host",
                           path);
    /* No path after the host: the API lives under /v1. */
    int add_v1 = memchr(host, '/', n - (size_t)(host - path)) == NULL;
    *base = malloc(n + 4);
    if (!*base) return inf__seterr(err, INF_E_NOMEM, "out of memory");
    memcpy(*base, path, n);
    strcpy(*base + n, add_v1 ? "/v1" : "");
    if (hash && hash[1]) {
        *model = strdup(hash + 1);
        if (!*model) {
            free(*base);
            *base = NULL;
            return inf__seterr(err, INF_E_NOMEM, "out of memory");
        }
    }
    return INF_OK;
}

/* ---- the backend ------------------------------------------------------- */

static int b_available(void *user, char *why, size_t why_size) {
    (void)user;
    if (inf__oai_curl_init() != 0) {
        if (why && why_size) snprintf(why, why_size, "libcurl failed to initialise");
        return 0;
    }
    return 1;
}

static int b_load(void *user, const char *path, const inf_load_options *opts,
                  const inf_model_ops **ops, void **model, char **errmsg) {
    (void)user;
    inf__err err;
    inf__err_clear(&err);
    char *base = NULL, *frag_model = NULL;
    int rc = inf__openai_parse_url(path, &base, &frag_model, &err);
    if (rc == INF_OK) {
        inf__openai_config cfg = {0};
        cfg.base_url = base;
        cfg.model_name = opts && opts->model_name && opts->model_name[0]
                             ? opts->model_name : frag_model;
        cfg.api_key = opts ? opts->api_key : NULL;
        cfg.timeout_ms = opts ? opts->timeout_ms : 0;
        cfg.max_retries = -1;
        cfg.backend_name = "openai";
        cfg.check_model = 1;
        rc = inf__openai_connect(&cfg, ops, model, &err);
    }
    free(base);
    free(frag_model);
    if (rc != INF_OK && errmsg) *errmsg = strdup(err.msg);
    return rc;
}

const inf_backend inf__backend_openai = {
    .name = "openai",
    .description = "a model served by an OpenAI-compatible HTTP server "
                   "(load path: http://host:port/v1[#model])",
    .user = NULL,
    .available = b_available,
    .load = b_load,
};
