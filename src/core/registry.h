#ifndef INF_CORE_REGISTRY_H
#define INF_CORE_REGISTRY_H

#include <stddef.h>

#include "core/error.h"
#include "inference.h"

/* The backend called name (or the default when name is NULL or ""), checked
 * to be available; a clear error otherwise. */
int inf__backend_resolve(const char *name, const inf_backend **out,
                         inf__err *err);

/* The backends built into the library, as the layer above the core
 * provides them (src/backends/builtin.c). */
typedef struct inf__builtin_list {
    /* Registered first, in this order (the order of preference). */
    const inf_backend *const *backends;
    size_t n;
    /* The names inf_backend_default tries first, in this order (whether
     * built or not); then any available backend in registration order. */
    const char *const *preferred;
    size_t n_preferred;
} inf__builtin_list;

/* The one hook through which the registry learns the built-in backends.
 * The core references it weakly: where it is not linked (the core's own
 * tests), there are no built-in backends and no preferred names. */
const inf__builtin_list *inf__builtin_backends(void);

#endif
