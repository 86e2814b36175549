/* The "cpu" backend built into the library: the engine over the cpu
 * compute backend.  The core finds these through weak references, so a build
 * without one of them simply lacks that backend. */
#include "backends/cpu/cpu.h"
#include "engine/engine.h"

static int cpu_available(void *user, char *why, size_t why_size) {
    (void)user;
    return inf__cpu_compute.available(why, why_size);
}

static int cpu_load(void *user, const char *path, const inf_load_options *opts,
                    const inf_model_ops **ops, void **model, char **errmsg) {
    (void)user;
    return inf__engine_load(path, opts, &inf__cpu_compute, ops, model, errmsg);
}

const inf_backend inf__backend_cpu = {
    .name = "cpu",
    .description = "native engine on the CPU (AVX2/FMA kernels when present)",
    .user = 0,
    .available = cpu_available,
    .load = cpu_load,
};

/* "cuda" is defined next to its compute backend, in
 * src/backends/cuda/cuda_backend.c, built only where nvcc is. */
