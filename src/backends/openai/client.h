/* The openai backend's client, for other backends: THE ONE HEADER OF
 * src/backends/openai THAT ANOTHER BACKEND MAY INCLUDE.  Everything else
 * in this folder (openai.h, xfer.h, proto.h, sse.h, model.h) is private to
 * the openai backend.
 *
 * A backend that runs an OpenAI-compatible server itself (llama_cpp starts
 * llama-server) polls it with inf__oai_simple until it is ready and then
 * reaches the model through inf__openai_connect, getting the same model
 * and stream ops as the "openai" backend (requests, retries and errors are
 * described in openai.h).  A backend that includes this header links the
 * inf_openai area. */
#ifndef INF_OPENAI_CLIENT_H
#define INF_OPENAI_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "inference_backend.h"

struct curl_slist;

/* Adds context to an error message (llama_cpp: the child's exit status and
 * last log lines).  Appends to buf[size] (NUL-terminated). */
typedef void (*inf__oai_diag_fn)(void *user, char *buf, size_t size);

typedef struct inf__openai_config {
    const char *base_url;    /* "http://host:port/v1" (no trailing slash) */
    const char *model_name;  /* NULL: the first of GET /models */
    const char *api_key;     /* NULL: no Authorization header */
    int64_t timeout_ms;      /* per request; 0: no total limit */
    int max_retries;         /* attempts after the first; < 0: default 3 */
    const char *backend_name;  /* reported in inf_model_info; "openai" */
    const char *architecture;  /* inf_model_type; NULL: "remote" */
    int want_token_ids;      /* ask for logprobs to learn token ids */
    int check_model;         /* fail when model_name is not listed */
    const inf_model_info *info; /* optional: what the caller knows (from
                                   the model file); non-zero fields win
                                   over what the server reports */
    inf__oai_diag_fn diag;   /* optional: context for error messages */
    void *diag_user;
    void (*on_close)(void *user); /* optional: after the model is closed */
    void *close_user;
} inf__openai_config;

/* Connects to the server: lists its models (GET {base}/models), picks the
 * model, and returns the model ops and a new model object in *ops and *model.
 * On failure returns INF_E_NETWORK (unreachable, with the URL),
 * INF_E_REMOTE (HTTP error, with the server's message), INF_E_NOT_FOUND
 * (model_name not listed when check_model is set) and fills err; on_close is
 * not called then.  Strings in cfg are copied. */
int inf__openai_connect(const inf__openai_config *cfg,
                        const inf_model_ops **ops, void **model,
                        inf__err *err);

/* Runs one request to completion (load-time GETs: /v1/models, /health)
 * and returns its status; the body in *body (malloc'd, may be NULL) and the
 * HTTP status in *http.  headers may be NULL.  Errors carry a message in
 * errmsg[size]. */
int inf__oai_simple(const char *url, const struct curl_slist *headers,
                    int64_t timeout_ms, int max_retries, long *http,
                    char **body, char *errmsg, size_t size);

#endif
