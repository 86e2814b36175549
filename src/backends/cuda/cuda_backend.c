/* Registers the "cuda" backend: the shared engine over the cuda compute
 * backend.  Available when a CUDA device is present. */
#include "backends/cuda/cuda.h"
#include "engine/engine.h"
#include "inference_backend.h"

static int available(void *user, char *why, size_t why_size) {
    (void)user;
    return inf__cuda_compute.available(why, why_size);
}

static int load(void *user, const char *path, const inf_load_options *opts,
                const inf_model_ops **ops, void **model, char **errmsg) {
    (void)user;
    return inf__engine_load(path, opts, &inf__cuda_compute, ops, model, errmsg);
}

const inf_backend inf__backend_cuda = {
    "cuda", "native engine on NVIDIA GPUs (CUDA, cuBLAS)", NULL, available,
    load};
