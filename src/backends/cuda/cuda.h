/* The cuda compute backend (see cuda_compute.cu). */
#ifndef INF_BACKENDS_CUDA_CUDA_H
#define INF_BACKENDS_CUDA_CUDA_H

#include "engine/compute.h"

extern const inf__compute_ops inf__cuda_compute;

#endif
