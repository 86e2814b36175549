/* The layout of the public handles, shared by the core's source files. */
#ifndef INF_CORE_HANDLES_H
#define INF_CORE_HANDLES_H

#include <stdint.h>

#include "core/error.h"
#include "inference_backend.h"

struct inf_model {
    const inf_backend *backend;
    const inf_model_ops *ops;
    void *impl;
    uint64_t serial; /* unique per load: keys the per-thread errors */
};

struct inf_stream {
    inf_model *model;
    const inf_stream_ops *ops;
    void *impl;
};

/* Records the calling thread's error of a model-level call on m (read back
 * by inf_model_errcode / inf_model_errmsg on the same thread). */
void inf__model_seterr(inf_model *m, int code, const char *msg);

#endif
