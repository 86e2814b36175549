/* The list of backends built into the library, for the core's registry
 * (inf__builtin_backends, core/registry.h).  Which backends are built is
 * decided by CMake (src/backends/CMakeLists.txt): each one present is
 * named by a compile definition INF_HAVE_<NAME>_BACKEND. */
#include <stddef.h>

#include "backends/cpu/cpu.h"
#include "backends/cuda/cuda.h"
#include "backends/llama_cpp/llama_cpp.h"
#include "backends/openai/openai.h"
#include "core/registry.h"

/* Registered in this order, which is the order of preference. */
static const inf_backend *const backends[] = {
#ifdef INF_HAVE_CUDA_BACKEND
    &inf__backend_cuda,
#endif
#ifdef INF_HAVE_CPU_BACKEND
    &inf__backend_cpu,
#endif
#ifdef INF_HAVE_LLAMA_CPP_BACKEND
    &inf__backend_llama_cpp,
#endif
#ifdef INF_HAVE_OPENAI_BACKEND
    &inf__backend_openai,
#endif
    NULL, /* keeps the array non-empty; not counted */
};

/* inf_backend_default's preference (include/inference.h): the local ones.
 * "openai" needs a server URL, so it is never picked by default.  The names
 * are listed whether built or not: a program may register its own backend
 * under one of them (its own "cuda" where this build has none). */
static const char *const preferred[] = {"cuda", "cpu", "llama_cpp"};

static const inf__builtin_list list = {
    backends, sizeof backends / sizeof backends[0] - 1,
    preferred, sizeof preferred / sizeof preferred[0],
};

const inf__builtin_list *inf__builtin_backends(void) { return &list; }
