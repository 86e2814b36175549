/* The client of OpenAI-compatible HTTP servers (libcurl) that the remote
 * backends share: "openai" connects to any such server, "llama_cpp" to the
 * llama-server it starts.  This header is the client's interface; the rest
 * of src/remote (xfer.h, proto.h, sse.h, model.h) is private to it.
 *
 * A backend that runs the server itself polls it with inf__oai_simple until
 * it is ready; both then reach the model through inf__openai_connect and
 * get its model and stream ops.
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
 * timeout_ms a request has no total limit.
 * Limits (a hostile or broken server must not exhaust the
 * client's memory; xfer.h and sse.h): one server-sent-events line 8 MiB,
 * one event's data (its "data:" lines joined) 8 MiB, a response that is not
 * an event stream 16 MiB, an HTTP error's body 64 KiB, the text generated
 * by one request 64 MiB.  Passing one fails the request with INF_E_REMOTE
 * and a message naming the limit ("... (the limit on one server-sent
 * event)"), for both backends. */
#ifndef INF_REMOTE_CLIENT_H
#define INF_REMOTE_CLIENT_H

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

/* Initialises libcurl once per process; 0 on success.  Thread-safe. */
int inf__oai_curl_init(void);

#endif
