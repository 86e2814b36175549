/*
 * Kernels of the cuda compute backend.  Activations are float32 on the
 * device; weights stay in their stored format (F32/F16/BF16/MLX 4/8-bit)
 * and are dequantised in registers.  Every kernel reads its per-step inputs
 * (positions, slots) from device memory so a decode step can be captured
 * once in a CUDA graph and replayed.
 */
#ifndef INF_BACKENDS_CUDA_KERNELS_CUH
#define INF_BACKENDS_CUDA_KERNELS_CUH

#include <cuda_runtime.h>
#include <stdint.h>

/* A weight matrix on the device, mirroring inf__weight. */
struct cu_weight {
    int fmt; /* inf__wfmt */
    int64_t rows, cols;
    const void *data;
    const void *scales;
    const void *biases;
    int sb_dtype; /* inf__dtype of scales/biases */
    int bits, group;
};

/* y[T, rows] = x[T, cols] . W^T (+ bias[rows] when not NULL).
 * Memory-bound form: one warp per output row, tokens in groups of 4. */
void cu_matvec(const cu_weight *w, const float *x, int T, const float *bias,
               float *y, cudaStream_t st);

/* Dequantises W into a bf16 [rows, cols] buffer (for tensor-core GEMMs). */
void cu_dequant_bf16(const cu_weight *w, void *out_bf16, cudaStream_t st);

/* Converts n floats to bf16. */
void cu_f32_to_bf16(const float *x, void *out, int64_t n, cudaStream_t st);

/* out[T, hidden] = embed[tokens[t]] * scale. */
void cu_embed(const cu_weight *e, const int32_t *tokens, int T, float scale,
              float *out, cudaStream_t st);

/* y[T, n] = rmsnorm(x) * (w (+1)); w is f32 [n]. y may equal x.
 * Applied per row of n; rows = T * (heads when per-head). */
void cu_rmsnorm(const float *x, const float *w, int rows, int n, float eps,
                int add_one, float *y, cudaStream_t st);

/* Rotates heads of q [T, nh, hd] and k [T, nkv, hd] in place by the
 * token positions pos[T] and inv_freq[hd/2] (HF rotate_half pairs). */
void cu_rope(float *q, float *k, const int32_t *pos, const float *inv_freq,
             int T, int nh, int nkv, int hd, cudaStream_t st);

/* Where a cached position lives: the caches kc/vc are [rows][nkv*hd]
 * (one layer), and position p of slot s is row
 *   tables[s * tmax + p / bt] * bt + p % bt.
 * Paged KV memory (compute.h): bt is the engine's block size and the
 * tables are the sequences' block tables, uploaded every step.  Per-slot
 * caches are the same formula with bt = ctx, tmax = 1 and tables[s] = s. */
struct cu_kv_map {
    const int32_t *tables; /* device, [n_slots][tmax] */
    int tmax, bt;
};

/* Writes k, v [T, nkv*hd] into the caches at the rows of (slot, pos). */
void cu_kv_store(const float *k, const float *v, const int32_t *slot,
                 const int32_t *pos, int T, int kvdim, cu_kv_map map, float *kc,
                 float *vc, cudaStream_t st);

/* Causal attention of q [T, nh, hd] over each token's own sequence in the
 * caches, keys at positions max(0, pos - window + 1) .. pos (window 0 =
 * all; rows before the window are never read, so released blocks may be
 * -1 in the tables).  out [T, nh, hd].  scores is scratch of T*nh*ctx
 * floats. */
void cu_attention(const float *q, const float *kc, const float *vc,
                  const int32_t *slot, const int32_t *pos, int T, int nh,
                  int nkv, int hd, int ctx, cu_kv_map map, int window, float scale,
                  float softcap, float *scores, float *out, cudaStream_t st);

/* g[i] = act(g[i]) * u[i]; act 0 = SiLU, 1 = gelu-tanh. */
void cu_act_mul(float *g, const float *u, int64_t n, int act,
                cudaStream_t st);

/* x[i] += y[i]. */
void cu_add(float *x, const float *y, int64_t n, cudaStream_t st);

/* out[j, :] = x[rows[j], :] for j < n_rows. */
void cu_gather_rows(const float *x, const int32_t *rows, int n_rows, int n,
                    float *out, cudaStream_t st);

/* x[i] = cap * tanh(x[i] / cap). */
void cu_softcap(float *x, int64_t n, float cap, cudaStream_t st);

#endif
