/* The "openai" backend, private to src/backends/openai and to the list of
 * built-in backends.  The client it runs on is src/remote (client.h), which
 * the llama_cpp backend shares.
 *
 * URL forms accepted by the "openai" backend's load(path):
 *   http://host:port/v1          base URL of the API (https:// too)
 *   http://host:port             "/v1" is appended when the path is empty
 *   openai:http://host:port/v1   the same, with an explicit scheme prefix
 *   ...#model-name               a fragment names the model to request
 * The model is opts->model_name, else the URL's fragment, else the first
 * model that GET {base}/models lists; a named model that the list lacks
 * fails the load (INF_E_NOT_FOUND), a server without a list is trusted. */
#ifndef INF_OPENAI_H
#define INF_OPENAI_H

#include <stddef.h>
#include <stdint.h>

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
