#ifndef INF_CORE_REGISTRY_H
#define INF_CORE_REGISTRY_H

#include "core/error.h"
#include "inference.h"

/* The backend called name (or the default when name is NULL or ""), checked
 * to be available; a clear error otherwise. */
int inf__backend_resolve(const char *name, const inf_backend **out,
                         inf__err *err);

#endif
