/* Kernels of the cuda compute backend (see cuda_kernels.cuh). */
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "cuda_kernels.cuh"

/* Values of inf__wfmt and inf__dtype (model/model.h), repeated here because
 * that header is C and this file is CUDA C++; cuda_compute.cu checks they
 * agree at compile time. */
enum { W_F32 = 1, W_F16 = 2, W_BF16 = 3, W_MLX4 = 4, W_MLX8 = 5 };
enum { DT_F32 = 0, DT_F16 = 1, DT_BF16 = 2 };

static __device__ __forceinline__ float sb_load(const void *p, int dt,
                                                int64_t i) {
    if (dt == DT_BF16) return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
    if (dt == DT_F16) return __half2float(((const __half *)p)[i]);
    return ((const float *)p)[i];
}

/* Loads 8 consecutive weights w[r, k0 .. k0+7] as floats.  Callers
 * guarantee cols % 8 == 0 and (for MLX) group % 8 == 0. */
static __device__ __forceinline__ void load8(const cu_weight &w, int64_t r,
                                             int64_t k0, float out[8]) {
    const int64_t idx = r * w.cols + k0;
    switch (w.fmt) {
    case W_F32: {
        const float4 *p = (const float4 *)((const float *)w.data + idx);
        float4 a = p[0], b = p[1];
        out[0] = a.x; out[1] = a.y; out[2] = a.z; out[3] = a.w;
        out[4] = b.x; out[5] = b.y; out[6] = b.z; out[7] = b.w;
        break;
    }
    case W_F16: {
        uint4 u = *(const uint4 *)((const __half *)w.data + idx);
        const __half2 *h = (const __half2 *)&u;
        for (int i = 0; i < 4; i++) {
            float2 f = __half22float2(h[i]);
            out[2 * i] = f.x;
            out[2 * i + 1] = f.y;
        }
        break;
    }
    case W_BF16: {
        uint4 u = *(const uint4 *)((const __nv_bfloat16 *)w.data + idx);
        const uint32_t *v = (const uint32_t *)&u;
        for (int i = 0; i < 4; i++) {
            /* bf16 -> f32 is a 16-bit shift. */
            out[2 * i] = __uint_as_float(v[i] << 16);
            out[2 * i + 1] = __uint_as_float(v[i] & 0xffff0000u);
        }
        break;
    }
    case W_MLX4: {
        const int64_t g = (r * w.cols + k0) / w.group;
        const float s = sb_load(w.scales, w.sb_dtype, g);
        const float b = sb_load(w.biases, w.sb_dtype, g);
        uint32_t q = ((const uint32_t *)w.data)[idx / 8];
        for (int i = 0; i < 8; i++) out[i] = s * (float)((q >> (4 * i)) & 15u) + b;
        break;
    }
    case W_MLX8: {
        const int64_t g = (r * w.cols + k0) / w.group;
        const float s = sb_load(w.scales, w.sb_dtype, g);
        const float b = sb_load(w.biases, w.sb_dtype, g);
        uint2 q = *(const uint2 *)((const uint32_t *)w.data + idx / 4);
        for (int i = 0; i < 4; i++) {
            out[i] = s * (float)((q.x >> (8 * i)) & 255u) + b;
            out[4 + i] = s * (float)((q.y >> (8 * i)) & 255u) + b;
        }
        break;
    }
    default:
        for (int i = 0; i < 8; i++) out[i] = 0.0f;
    }
}

/* ---- matrix x vector(s): one warp per output row, up to NT tokens ---- */

#define MV_ROWS_PER_BLOCK 8
#define MV_NT 8

__global__ void k_matvec(cu_weight w, const float *__restrict__ x, int T,
                         const float *__restrict__ bias, float *__restrict__ y) {
    const int lane = threadIdx.x & 31;
    const int64_t r = (int64_t)blockIdx.x * MV_ROWS_PER_BLOCK + (threadIdx.x >> 5);
    const int t0 = blockIdx.y * MV_NT;
    if (r >= w.rows) return;
    float acc[MV_NT];
    for (int t = 0; t < MV_NT; t++) acc[t] = 0.0f;
    const int nt = min(MV_NT, T - t0);
    for (int64_t k0 = (int64_t)lane * 8; k0 < w.cols; k0 += 32 * 8) {
        float wv[8];
        load8(w, r, k0, wv);
#pragma unroll
        for (int t = 0; t < MV_NT; t++) {
            if (t < nt) {
                const float4 *xp = (const float4 *)(x + (int64_t)(t0 + t) * w.cols + k0);
                float4 a = xp[0], b = xp[1];
                acc[t] += wv[0] * a.x + wv[1] * a.y + wv[2] * a.z + wv[3] * a.w +
                          wv[4] * b.x + wv[5] * b.y + wv[6] * b.z + wv[7] * b.w;
            }
        }
    }
#pragma unroll
    for (int t = 0; t < MV_NT; t++) {
        float v = acc[t];
        for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
        if (lane == 0 && t < nt)
            y[(int64_t)(t0 + t) * w.rows + r] = v + (bias ? bias[r] : 0.0f);
    }
}

void cu_matvec(const cu_weight *w, const float *x, int T, const float *bias,
               float *y, cudaStream_t st) {
    dim3 grid((unsigned)((w->rows + MV_ROWS_PER_BLOCK - 1) / MV_ROWS_PER_BLOCK),
              (unsigned)((T + MV_NT - 1) / MV_NT));
    k_matvec<<<grid, 32 * MV_ROWS_PER_BLOCK, 0, st>>>(*w, x, T, bias, y);
}

__global__ void k_dequant_bf16(cu_weight w, __nv_bfloat16 *out) {
    const int64_t chunk = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    const int64_t per_row = w.cols / 8;
    if (chunk >= w.rows * per_row) return;
    const int64_t r = chunk / per_row, k0 = (chunk % per_row) * 8;
    float v[8];
    load8(w, r, k0, v);
    for (int i = 0; i < 8; i++) out[r * w.cols + k0 + i] = __float2bfloat16(v[i]);
}

void cu_dequant_bf16(const cu_weight *w, void *out, cudaStream_t st) {
    const int64_t chunks = w->rows * (w->cols / 8);
    k_dequant_bf16<<<(unsigned)((chunks + 255) / 256), 256, 0, st>>>(
        *w, (__nv_bfloat16 *)out);
}

__global__ void k_f32_to_bf16(const float *x, __nv_bfloat16 *o, int64_t n) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) o[i] = __float2bfloat16(x[i]);
}

void cu_f32_to_bf16(const float *x, void *out, int64_t n, cudaStream_t st) {
    k_f32_to_bf16<<<(unsigned)((n + 255) / 256), 256, 0, st>>>(
        x, (__nv_bfloat16 *)out, n);
}

/* ---- embedding ---- */

__global__ void k_embed(cu_weight e, const int32_t *tokens, float scale,
                        float *out) {
    const int t = blockIdx.x;
    const int64_t row = tokens[t];
    for (int64_t k0 = (int64_t)threadIdx.x * 8; k0 < e.cols; k0 += blockDim.x * 8) {
        float v[8];
        load8(e, row, k0, v);
        for (int i = 0; i < 8; i++) out[(int64_t)t * e.cols + k0 + i] = v[i] * scale;
    }
}

void cu_embed(const cu_weight *e, const int32_t *tokens, int T, float scale,
              float *out, cudaStream_t st) {
    k_embed<<<T, 128, 0, st>>>(*e, tokens, scale, out);
}

/* ---- block reductions ---- */

static __device__ float block_sum(float v, float *sh) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0) sh[wid] = v;
    __syncthreads();
    const int nw = (blockDim.x + 31) >> 5;
    float r = 0.0f;
    for (int i = 0; i < nw; i++) r += sh[i];
    return r;
}

static __device__ float block_max(float v, float *sh) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0) sh[wid] = v;
    __syncthreads();
    const int nw = (blockDim.x + 31) >> 5;
    float r = -INFINITY;
    for (int i = 0; i < nw; i++) r = fmaxf(r, sh[i]);
    return r;
}

/* ---- RMSNorm ---- */

__global__ void k_rmsnorm(const float *x, const float *w, int n, float eps,
                          int add_one, float *y) {
    __shared__ float sh[32];
    const float *xr = x + (int64_t)blockIdx.x * n;
    float *yr = y + (int64_t)blockIdx.x * n;
    float ss = 0.0f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) ss += xr[i] * xr[i];
    ss = block_sum(ss, sh);
    const float inv = rsqrtf(ss / (float)n + eps);
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        yr[i] = xr[i] * inv * (add_one ? 1.0f + w[i] : w[i]);
}

void cu_rmsnorm(const float *x, const float *w, int rows, int n, float eps,
                int add_one, float *y, cudaStream_t st) {
    int threads = n >= 1024 ? 256 : n >= 256 ? 128 : 64;
    k_rmsnorm<<<rows, threads, 0, st>>>(x, w, n, eps, add_one, y);
}

/* ---- RoPE ---- */

__global__ void k_rope(float *q, float *k, const int32_t *pos,
                       const float *inv_freq, int nh, int nkv, int hd) {
    const int t = blockIdx.x, h = blockIdx.y;
    const int half = hd / 2;
    float *v = h < nh ? q + ((int64_t)t * nh + h) * hd
                      : k + ((int64_t)t * nkv + (h - nh)) * hd;
    const float p = (float)pos[t];
    for (int i = threadIdx.x; i < half; i += blockDim.x) {
        float s, c;
        sincosf(p * inv_freq[i], &s, &c);
        const float a = v[i], b = v[i + half];
        v[i] = a * c - b * s;
        v[i + half] = b * c + a * s;
    }
}

void cu_rope(float *q, float *k, const int32_t *pos, const float *inv_freq,
             int T, int nh, int nkv, int hd, cudaStream_t st) {
    dim3 grid(T, nh + nkv);
    k_rope<<<grid, 64, 0, st>>>(q, k, pos, inv_freq, nh, nkv, hd);
}

/* ---- KV cache ---- */

__device__ __forceinline__ int64_t kv_row(cu_kv_map m, int slot, int p) {
    return (int64_t)m.tables[(int64_t)slot * m.tmax + p / m.bt] * m.bt + p % m.bt;
}

__global__ void k_kv_store(const float *k, const float *v, const int32_t *slot,
                           const int32_t *pos, int kvdim, cu_kv_map map, float *kc,
                           float *vc) {
    const int t = blockIdx.x;
    const int64_t base = kv_row(map, slot[t], pos[t]) * kvdim;
    for (int i = threadIdx.x; i < kvdim; i += blockDim.x) {
        kc[base + i] = k[(int64_t)t * kvdim + i];
        vc[base + i] = v[(int64_t)t * kvdim + i];
    }
}

void cu_kv_store(const float *k, const float *v, const int32_t *slot,
                 const int32_t *pos, int T, int kvdim, cu_kv_map map, float *kc,
                 float *vc, cudaStream_t st) {
    k_kv_store<<<T, 256, 0, st>>>(k, v, slot, pos, kvdim, map, kc, vc);
}

/* ---- attention: one block per (token, head) ---- */

__global__ void k_attention(const float *q, const float *kc, const float *vc,
                            const int32_t *slot, const int32_t *pos, int nh,
                            int nkv, int hd, int ctx, cu_kv_map map, int window,
                            float scale, float softcap, float *scores, float *out) {
    extern __shared__ float qs[]; /* [hd] */
    __shared__ float red[32];
    const int t = blockIdx.x, h = blockIdx.y;
    const int kvh = h / (nh / nkv);
    const int kvdim = nkv * hd;
    const int p = pos[t], s = slot[t];
    const int lo = window > 0 && p - window + 1 > 0 ? p - window + 1 : 0;
    const int64_t hoff = (int64_t)kvh * hd;
    float *sc = scores + ((int64_t)t * nh + h) * ctx;
    for (int i = threadIdx.x; i < hd; i += blockDim.x)
        qs[i] = q[((int64_t)t * nh + h) * hd + i];
    __syncthreads();
    float mx = -INFINITY;
    for (int j = lo + threadIdx.x; j <= p; j += blockDim.x) {
        const float *kr = kc + kv_row(map, s, j) * kvdim + hoff;
        float sv = 0.0f;
        for (int i = 0; i < hd; i++) sv += qs[i] * kr[i];
        sv *= scale;
        if (softcap > 0.0f) sv = softcap * tanhf(sv / softcap);
        sc[j] = sv;
        mx = fmaxf(mx, sv);
    }
    mx = block_max(mx, red);
    float sum = 0.0f;
    for (int j = lo + threadIdx.x; j <= p; j += blockDim.x) {
        const float e = __expf(sc[j] - mx);
        sc[j] = e;
        sum += e;
    }
    sum = block_sum(sum, red);
    __syncthreads(); /* all of sc written before it is read below */
    const float inv = 1.0f / sum;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float acc = 0.0f;
        for (int j = lo; j <= p; j++) acc += sc[j] * vc[kv_row(map, s, j) * kvdim + hoff + d];
        out[((int64_t)t * nh + h) * hd + d] = acc * inv;
    }
}

void cu_attention(const float *q, const float *kc, const float *vc,
                  const int32_t *slot, const int32_t *pos, int T, int nh,
                  int nkv, int hd, int ctx, cu_kv_map map, int window, float scale,
                  float softcap, float *scores, float *out, cudaStream_t st) {
    dim3 grid(T, nh);
    k_attention<<<grid, 128, hd * sizeof(float), st>>>(
        q, kc, vc, slot, pos, nh, nkv, hd, ctx, map, window, scale, softcap, scores,
        out);
}

/* ---- element-wise ---- */

__global__ void k_act_mul(float *g, const float *u, int64_t n, int act) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float x = g[i];
    float a;
    if (act == 0) {
        a = x / (1.0f + expf(-x));
    } else {
        const float c = 0.7978845608028654f; /* sqrt(2/pi) */
        a = 0.5f * x * (1.0f + tanhf(c * (x + 0.044715f * x * x * x)));
    }
    g[i] = a * u[i];
}

void cu_act_mul(float *g, const float *u, int64_t n, int act, cudaStream_t st) {
    k_act_mul<<<(unsigned)((n + 255) / 256), 256, 0, st>>>(g, u, n, act);
}

__global__ void k_add(float *x, const float *y, int64_t n) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] += y[i];
}

void cu_add(float *x, const float *y, int64_t n, cudaStream_t st) {
    k_add<<<(unsigned)((n + 255) / 256), 256, 0, st>>>(x, y, n);
}

__global__ void k_gather_rows(const float *x, const int32_t *rows, int n,
                              float *out) {
    const int j = blockIdx.x;
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        out[(int64_t)j * n + i] = x[(int64_t)rows[j] * n + i];
}

void cu_gather_rows(const float *x, const int32_t *rows, int n_rows, int n,
                    float *out, cudaStream_t st) {
    if (n_rows > 0) k_gather_rows<<<n_rows, 256, 0, st>>>(x, rows, n, out);
}

__global__ void k_softcap(float *x, int64_t n, float cap) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] = cap * tanhf(x[i] / cap);
}

void cu_softcap(float *x, int64_t n, float cap, cudaStream_t st) {
    k_softcap<<<(unsigned)((n + 255) / 256), 256, 0, st>>>(x, n, cap);
}
