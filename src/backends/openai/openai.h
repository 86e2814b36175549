/* The "openai" backend, private to src/backends/openai and to the list of
 * built-in backends (other backends include client.h).
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
 * timeout_ms a request has no total limit.
 * Limits (issue 14: a hostile or broken server must not exhaust the
 * client's memory; xfer.h and sse.h): one server-sent-events line 8 MiB,
 * one event's data (its "data:" lines joined) 8 MiB, a response that is not
 * an event stream 16 MiB, an HTTP error's body 64 KiB, the text generated
 * by one request 64 MiB.  Passing one fails the request with INF_E_REMOTE
 * and a message naming the limit ("... (the limit on one server-sent
 * event)"); the llama_cpp backend, a client of this one, has the same. */
#ifndef INF_OPENAI_H
#define INF_OPENAI_H

#include <stddef.h>
#include <stdint.h>

#include "backends/openai/client.h"
#include "core/error.h"
#include "inference_backend.h"

/* Splits an "openai" load path into the base URL and the model name of
 * its fragment (see the URL forms above).  *base and *model are malloc'd
 * (*model is NULL without a fragment).  Returns INF_OK or
 * INF_E_INVALID_ARGUMENT with a message in err. */
int inf__openai_parse_url(const char *path, char **base, char **model,
                          inf__err *err);

/* The backend, listed by src/backends/builtin.c. */
extern const inf_backend inf__backend_openai;

#endif
