/* The "openai" backend's internal API, for backends that reach a model
 * through an OpenAI-compatible server they manage themselves (llama_cpp
 * starts llama-server and then connects with inf__openai_connect).
 *
 * URL forms accepted by the "openai" backend's load(path):
 *   http://host:port/v1          base URL of the API (https:// too)
 *   http://host:port             "/v1" is appended when the path is empty
 *   openai:http://host:port/v1   the same, with an explicit scheme prefix
 *   ...#model-name               a fragment names the model to request
 * The model is opts->model_name, else the URL's fragment, else the first
 * model that GET {base}/models lists; a named model that the list lacks
 * fails the load (INF_E_NOT_FOUND), a server without a list is trusted.
 *
 * Requests: Generate -> POST {base}/completions, Chat -> POST
 * {base}/chat/completions, both with "stream": true and usage in the last
 * chunk.  Sampling options are sent where switched on (temperature and
 * max_tokens always); stop token ids cannot be expressed (logged, ignored);
 * return_logits fails with INF_E_UNSUPPORTED.  Token ids are -1 unless the
 * server reports them (token_ids, tokens, or logprobs[].id).
 * Errors: connection failures and HTTP 5xx are retried 3 times with
 * backoff (200 ms, doubling) while no token has arrived, never after;
 * then INF_E_NETWORK (with the URL), INF_E_REMOTE (HTTP status and the
 * server's message), INF_E_BUSY (HTTP 429), INF_E_DEADLINE (timeout_ms).
 * Connecting times out after 10 s (or timeout_ms when shorter); without
 * timeout_ms a request has no total limit. */
#ifndef INF_OPENAI_H
#define INF_OPENAI_H

#include <stddef.h>
#include <stdint.h>

#include "backends/openai/xfer.h"
#include "core/error.h"
#include "inference_backend.h"

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

/* Splits an "openai" load path into the base URL and the model name of
 * its fragment (see the URL forms above).  *base and *model are malloc'd
 * (*model is NULL without a fragment).  Returns INF_OK or
 * INF_E_INVALID_ARGUMENT with a message in err. */
int inf__openai_parse_url(const char *path, char **base, char **model,
                          inf__err *err);

/* The backend, registered through the weak reference in core/registry.c. */
extern const inf_backend inf__backend_openai;

#endif
