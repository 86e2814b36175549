/* The cuda compute backend (see cuda_compute.cu). */
#ifndef INF_BACKENDS_CUDA_CUDA_H
#define INF_BACKENDS_CUDA_CUDA_H

#include "engine/compute.h"
#include "inference_backend.h"

extern const inf__compute_ops inf__cuda_compute;

/* The "cuda" backend: the engine over inf__cuda_compute (cuda_backend.c),
 * listed by src/backends/builtin.c. */
extern const inf_backend inf__backend_cuda;

#endif
