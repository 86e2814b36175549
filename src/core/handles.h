/* The layout of the public handles, shared by the core's source files. */
#ifndef INF_CORE_HANDLES_H
#define INF_CORE_HANDLES_H

#include <pthread.h>

#include "core/error.h"
#include "inference_backend.h"

struct inf_model {
    const inf_backend *backend;
    const inf_model_ops *ops;
    void *impl;
    pthread_mutex_t mu; /* guards the error fields */
    int errcode;
    char errmsg[INF__ERR_MSG_MAX];
    char errmsg_out[INF__ERR_MSG_MAX]; /* copy returned to callers */
};

struct inf_stream {
    inf_model *model;
    const inf_stream_ops *ops;
    void *impl;
};

/* Records the error of a model-level call (inf_model_errcode/errmsg). */
void inf__model_seterr(inf_model *m, int code, const char *msg);

#endif
