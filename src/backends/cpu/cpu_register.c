/* The "cpu" backend: the shared engine over the cpu compute backend
 * (inf__cpu_compute).  Always available. */
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
