/*
 * Element-wise pieces of the forward pass (norms, RoPE, activations,
 * softcap).  Not hot enough to need vector versions: they touch each
 * activation once, while the matmuls touch each weight once per token.
 */
#ifndef INF_BACKENDS_CPU_OPS_H
#define INF_BACKENDS_CPU_OPS_H

#include <stdint.h>

#include "model/model.h"

/* y[n] = x[n] / sqrt(mean(x^2) + eps) * w[n]  (w already holds 1+w for
 * gemma-style norms).  y may equal x. Mean of squares in double. */
void inf__cpu_rmsnorm(const float *x, const float *w, float eps, int64_t n,
                      float *y);

/* cos/sin tables [head_dim/2] for position pos: angle = f32(pos * inv). */
void inf__cpu_rope_cos_sin(const float *inv, int32_t half, int32_t pos,
                           float *cs, float *sn);

/* Rotates one head x[head_dim] in place, HF rotate_half convention: pairs
 * (i, i + head_dim/2). */
void inf__cpu_rope_apply(float *x, const float *cs, const float *sn,
                         int32_t half);

/* The same rotation with adjacent pairs (2i, 2i+1) at frequency i, as
 * llama.cpp's ggml_rope mode 0 does for GGUF llama files
 * (inf__rope.adjacent_pairs). */
void inf__cpu_rope_apply_adjacent(float *x, const float *cs, const float *sn,
                                  int32_t half);

/* g[i] = act(g[i]) * u[i] over n (SiLU or gelu-tanh). */
void inf__cpu_act_mul(inf__act act, float *g, const float *u, int64_t n);

/* x[i] = cap * tanh(x[i] / cap) over n. */
void inf__cpu_softcap(float *x, int64_t n, float cap);

#endif
