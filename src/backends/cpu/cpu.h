/*
 * The cpu compute backend (see engine/compute.h for the contract).
 *
 * Weights are used as stored (F32, F16, BF16, MLX 4/8-bit, ggml blocks); the
 * KV cache is per-layer pools of blocks (paged by the engine, or fixed per
 * slot for direct callers), f32 under precision exact and f16 under
 * precision fast (half the memory per position; attention widens each key
 * and value to f32 in registers and accumulates in f32).  Kernels are
 * chosen at run time: AVX2+FMA+F16C when the processor has them, portable C
 * otherwise; INF_CPU_REFERENCE=1 in the environment forces the portable
 * reference kernels (f32 math, f32 accumulation in index order), which are
 * the ones the golden tests hold to ~1e-5.
 */
#ifndef INF_BACKENDS_CPU_CPU_H
#define INF_BACKENDS_CPU_CPU_H

#include "engine/compute.h"
#include "inference_backend.h"

/* The operations table: name "cpu"; available() always returns 1. */
extern const inf__compute_ops inf__cpu_compute;

/* The "cpu" backend: the engine over inf__cpu_compute (cpu_register.c),
 * listed by src/backends/builtin.c. */
extern const inf_backend inf__backend_cpu;

/* Name of the kernel set a context uses: "reference" or "avx2".
 * ctx is the pointer init() returned; NULL gives "". Static string. */
const char *inf__cpu_kernels_name(const void *ctx);

/* Bytes per element of a context's KV cache: 2 (f16, precision fast) or 4
 * (f32, exact); 0 for NULL. */
int inf__cpu_kv_elem_bytes(const void *ctx);

#endif
