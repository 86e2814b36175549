/*
 * The cuda compute backend: the same forward pass as the cpu backend, on an
 * NVIDIA GPU.  Weights are uploaded once, as stored, with plain cudaMalloc
 * (never managed memory); the KV cache lives on the device.  Small batches
 * (decode) run the memory-bound matvec kernel that dequantises in
 * registers; large batches (prefill) run tensor-core GEMMs through cuBLAS
 * on bf16 copies of the activations (and of the weight, dequantised into a
 * scratch buffer, when it is not stored as bf16).  INF_CUDA_EXACT=1 keeps
 * every matmul on the f32 matvec path, for comparing with the cpu backend.
 * Decode steps of one token per sequence are captured in CUDA graphs, keyed
 * by the number of rows, to remove launch overhead.
 * KV memory is paged (engine/compute.h): the engine passes the pool's size
 * in blocks and every sequence's block table; the kernels find a position's
 * row through the tables (cu_kv_map), uploaded each step before the kernels
 * (or the graph, whose kernels read them from the same device buffer) run.
 */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "backends/cuda/cuda.h"
#include "core/error.h"
#include "engine/compute.h"
#include "model/model.h"
}
#include "model/rope.h" /* RoPE frequencies (inline), shared with cpu */
#include "cuda_kernels.cuh"

static_assert(INF__W_F32 == 1 && INF__W_F16 == 2 && INF__W_BF16 == 3 &&
                  INF__W_MLX4 == 4 && INF__W_MLX8 == 5,
              "cuda_kernels.cu repeats inf__wfmt values");
static_assert(INF__DT_F32 == 0 && INF__DT_F16 == 1 && INF__DT_BF16 == 2,
              "cuda_kernels.cu repeats inf__dtype values");

/* cuBLAS is opened with dlopen the first time a model is loaded on the
 * GPU, not linked: its libraries are hundreds of megabytes, and every
 * program linking libinference (on machines without a GPU too) would pay
 * for mapping them at start-up.  The CUDA runtime is linked statically for
 * the same reason (it loads the driver itself when first used). */
typedef cublasStatus_t (*blas_create_fn)(cublasHandle_t *);
typedef cublasStatus_t (*blas_destroy_fn)(cublasHandle_t);
typedef cublasStatus_t (*blas_set_stream_fn)(cublasHandle_t, cudaStream_t);
typedef cublasStatus_t (*blas_sgemm_fn)(cublasHandle_t, cublasOperation_t,
                                        cublasOperation_t, int, int, int,
                                        const float *, const float *, int,
                                        const float *, int, const float *,
                                        float *, int);
typedef cublasStatus_t (*blas_gemm_ex_fn)(cublasHandle_t, cublasOperation_t,
                                          cublasOperation_t, int, int, int,
                                          const void *, const void *,
                                          cudaDataType, int, const void *,
                                          cudaDataType, int, const void *,
                                          void *, cudaDataType, int,
                                          cublasComputeType_t, cublasGemmAlgo_t);
static struct {
    blas_create_fn create;
    blas_destroy_fn destroy;
    blas_set_stream_fn set_stream;
    blas_sgemm_fn sgemm;
    blas_gemm_ex_fn gemm_ex;
    char error[256];
} blas;
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void blas_open(void) {
    const char *names[] = {"libcublas.so.13", "libcublas.so.12", "libcublas.so"};
    void *h = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !h; i++)
        h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(blas.error, sizeof blas.error, "cannot open cuBLAS: %s", dlerror());
        return;
    }
    blas.create = (blas_create_fn)dlsym(h, "cublasCreate_v2");
    blas.destroy = (blas_destroy_fn)dlsym(h, "cublasDestroy_v2");
    blas.set_stream = (blas_set_stream_fn)dlsym(h, "cublasSetStream_v2");
    blas.sgemm = (blas_sgemm_fn)dlsym(h, "cublasSgemm_v2");
    blas.gemm_ex = (blas_gemm_ex_fn)dlsym(h, "cublasGemmEx");
    if (!blas.create || !blas.destroy || !blas.set_stream || !blas.sgemm || !blas.gemm_ex) {
        snprintf(blas.error, sizeof blas.error, "cuBLAS lacks an expected function");
        blas.create = NULL;
    }
}

#define GEMM_MIN_ROWS 16 /* batches at least this tall use cuBLAS */
#define MAX_GRAPHS 64    /* decode graphs kept, one per batch height */

struct cu_layer {
    float *attn_norm, *post_attn_norm, *ffn_norm, *post_ffn_norm;
    float *q_norm, *k_norm;
    float *bq, *bk, *bv;
    cu_weight wq, wk, wv, wo, w_gate, w_up, w_down;
    float *inv_freq; /* [head_dim/2] */
    int window;
};

struct cu_graph {
    int T;
    cudaGraphExec_t exec;
};

struct cu_ctx {
    const inf__model_desc *d;
    int n_slots, ctx_len;
    cudaStream_t st;
    cublasHandle_t blas;
    int exact;
    cu_weight embed, lm_head;
    float *final_norm;
    cu_layer *layers;
    float *kc, *vc; /* per layer: [n_layers][kv_rows][kvdim] */
    /* Where positions live (cu_kv_map): paged, kv_rows = kv_blocks x bt
     * and h_tables holds the batch's block tables; per slot (the engine
     * gave no pool), bt = ctx, tmax = 1, tables[s] = s. */
    int paged, bt, tmax, kv_blocks;
    int kv_window; /* every layer windowed: the widest window; else 0 */
    int64_t kv_rows;
    int32_t *h_tables, *d_tables; /* [n_slots][tmax] */
    /* Per-step inputs and scratch, sized for max_T rows. */
    int max_T;
    int32_t *d_tokens, *d_pos, *d_slot, *d_want_rows;
    float *x, *h, *q, *k, *v, *att, *o, *g, *u, *scores, *logits_rows;
    float *logits;   /* [max_want, vocab] */
    void *bf16_x;    /* activations as bf16 for cuBLAS */
    void *bf16_w;    /* dequantised weight scratch */
    size_t bf16_w_bytes;
    int64_t bytes_alloc, bytes_peak;
    cu_graph graphs[MAX_GRAPHS];
    int n_graphs;
};

/* ---- errors and allocation ---- */

static int cuda_fail(inf__err *err, cudaError_t e, const char *what) {
    return inf__seterr(err, INF_E_INTERNAL, "cuda: %s: %s", what,
                       cudaGetErrorString(e));
}

static int dev_alloc(cu_ctx *c, void **p, size_t n, inf__err *err) {
    *p = NULL;
    if (n == 0) return INF_OK;
    cudaError_t e = cudaMalloc(p, n);
    if (e != cudaSuccess) {
        *p = NULL;
        return inf__seterr(err, INF_E_NOMEM,
                           "cuda: cannot allocate %zu bytes of device memory: %s",
                           n, cudaGetErrorString(e));
    }
    c->bytes_alloc += (int64_t)n;
    if (c->bytes_alloc > c->bytes_peak) c->bytes_peak = c->bytes_alloc;
    return INF_OK;
}

static int upload(cu_ctx *c, void **dst, const void *src, size_t n,
                  inf__err *err) {
    int rc = dev_alloc(c, dst, n, err);
    if (rc != INF_OK || n == 0) return rc;
    cudaError_t e = cudaMemcpy(*dst, src, n, cudaMemcpyHostToDevice);
    return e == cudaSuccess ? INF_OK : cuda_fail(err, e, "upload");
}

static float half_to_f32(uint16_t h) {
    uint32_t s = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 31, m = h & 1023;
    uint32_t bits;
    if (e == 0) {
        if (m == 0) {
            bits = s;
        } else { /* subnormal */
            e = 113;
            while (!(m & 1024)) { m <<= 1; e--; }
            bits = s | (e << 23) | ((m & 1023) << 13);
        }
    } else if (e == 31) {
        bits = s | 0x7f800000u | (m << 13);
    } else {
        bits = s | ((e + 112) << 23) | (m << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Uploads a 1-D vector as f32 (NULL when absent). */
static int upload_vec(cu_ctx *c, const inf__vec *v, float **dst, inf__err *err) {
    *dst = NULL;
    if (v->fmt == INF__W_NONE || !v->data) return INF_OK;
    float *tmp = (float *)malloc((size_t)v->n * sizeof(float));
    if (!tmp) return inf__seterr(err, INF_E_NOMEM, "out of memory");
    for (int64_t i = 0; i < v->n; i++) {
        if (v->fmt == INF__W_F32) {
            tmp[i] = ((const float *)v->data)[i];
        } else if (v->fmt == INF__W_F16) {
            tmp[i] = half_to_f32(((const uint16_t *)v->data)[i]);
        } else {
            uint32_t b = (uint32_t)((const uint16_t *)v->data)[i] << 16;
            memcpy(&tmp[i], &b, 4);
        }
    }
    int rc = upload(c, (void **)dst, tmp, (size_t)v->n * sizeof(float), err);
    free(tmp);
    return rc;
}

static size_t sb_size(inf__dtype dt) { return dt == INF__DT_F32 ? 4 : 2; }

static int upload_weight(cu_ctx *c, const inf__weight *w, cu_weight *out,
                         inf__err *err) {
    memset(out, 0, sizeof *out);
    out->fmt = w->fmt;
    out->rows = w->rows;
    out->cols = w->cols;
    out->bits = w->bits;
    out->group = w->group;
    out->sb_dtype = w->sb_dtype;
    if (w->cols % 8 != 0 || (w->group && w->group % 8 != 0))
        return inf__seterr(err, INF_E_UNSUPPORTED,
                           "cuda: matrix with %lld columns (group %d) is not a "
                           "multiple of 8", (long long)w->cols, w->group);
    size_t n = (size_t)(w->rows * w->cols);
    size_t bytes;
    switch (w->fmt) {
    case INF__W_F32: bytes = n * 4; break;
    case INF__W_F16:
    case INF__W_BF16: bytes = n * 2; break;
    case INF__W_MLX4: bytes = n / 2; break;
    case INF__W_MLX8: bytes = n; break;
    default:
        return inf__seterr(err, INF_E_UNSUPPORTED, "cuda: weight format %d",
                           (int)w->fmt);
    }
    int rc = upload(c, (void **)&out->data, w->data, bytes, err);
    if (rc == INF_OK && (w->fmt == INF__W_MLX4 || w->fmt == INF__W_MLX8)) {
        size_t ng = n / (size_t)w->group;
        rc = upload(c, (void **)&out->scales, w->scales, ng * sb_size(w->sb_dtype), err);
        if (rc == INF_OK)
            rc = upload(c, (void **)&out->biases, w->biases, ng * sb_size(w->sb_dtype), err);
    }
    if (rc == INF_OK && w->fmt != INF__W_BF16) {
        size_t need = n * 2;
        if (need > c->bf16_w_bytes) c->bf16_w_bytes = need;
    }
    return rc;
}

/* ---- backend ops ---- */

static int cuda_available(char *why, size_t n) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        if (why)
            snprintf(why, n, "no usable CUDA device (%s)",
                     e != cudaSuccess ? cudaGetErrorString(e) : "0 devices found");
        cudaGetLastError(); /* clear the sticky error */
        return 0;
    }
    return 1;
}

static void cuda_free(void *p);

static int alloc_step_buffers(cu_ctx *c, int T, inf__err *err) {
    const inf__model_desc *d = c->d;
    const int64_t H = d->hidden_size, qd = (int64_t)d->n_heads * d->head_dim,
                  kvd = (int64_t)d->n_kv_heads * d->head_dim,
                  I = d->intermediate_size, V = d->vocab_size;
    int64_t widest = H > qd ? H : qd;
    if (I > widest) widest = I;
    void **bufs[] = {(void **)&c->d_tokens, (void **)&c->d_pos, (void **)&c->d_slot,
                     (void **)&c->d_want_rows, (void **)&c->x, (void **)&c->h,
                     (void **)&c->q, (void **)&c->k, (void **)&c->v,
                     (void **)&c->att, (void **)&c->o, (void **)&c->g,
                     (void **)&c->u, (void **)&c->scores, (void **)&c->logits_rows,
                     (void **)&c->logits, &c->bf16_x};
    size_t sizes[] = {(size_t)T * 4, (size_t)T * 4, (size_t)T * 4, (size_t)T * 4,
                      (size_t)(T * H * 4), (size_t)(T * H * 4), (size_t)(T * qd * 4),
                      (size_t)(T * kvd * 4), (size_t)(T * kvd * 4),
                      (size_t)(T * qd * 4), (size_t)(T * H * 4), (size_t)(T * I * 4),
                      (size_t)(T * I * 4),
                      (size_t)T * d->n_heads * (size_t)c->ctx_len * 4,
                      (size_t)(T * H * 4), (size_t)(T * V * 4),
                      (size_t)(T * widest * 2)};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        if (*bufs[i]) {
            cudaFree(*bufs[i]);
            *bufs[i] = NULL;
        }
        int rc = dev_alloc(c, bufs[i], sizes[i], err);
        if (rc != INF_OK) return rc;
    }
    c->max_T = T;
    return INF_OK;
}

/* What this backend has no kernels for yet: ggml's block formats (GGUF
 * files; the cpu backend runs them) and RoPE on adjacent pairs.  Refused
 * up front, before any device memory is taken. */
static const char *unsupported_fmt(inf__wfmt f) {
    switch (f) {
    case INF__W_Q8_0: return "Q8_0";
    case INF__W_Q4_0: return "Q4_0";
    case INF__W_Q4_1: return "Q4_1";
    case INF__W_Q5_0: return "Q5_0";
    case INF__W_Q5_1: return "Q5_1";
    case INF__W_Q2_K: return "Q2_K";
    case INF__W_Q3_K: return "Q3_K";
    case INF__W_Q4_K: return "Q4_K";
    case INF__W_Q5_K: return "Q5_K";
    case INF__W_Q6_K: return "Q6_K";
    default: return NULL;
    }
}

static int check_supported(const inf__model_desc *d, inf__err *err) {
    const char *name = unsupported_fmt(d->embed.fmt);
    if (!name) name = unsupported_fmt(d->lm_head.fmt);
    for (int l = 0; !name && l < d->n_layers; l++) {
        const inf__layer *L = &d->layers[l];
        const inf__weight *ws[7] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (int i = 0; !name && i < 7; i++) name = unsupported_fmt(ws[i]->fmt);
    }
    if (name)
        return inf__seterr(err, INF_E_UNSUPPORTED,
                           "cuda: weight type %s is not supported yet (the cpu backend runs it)", name);
    for (int l = 0; l < d->n_layers; l++)
        if (d->layers[l].rope.adjacent_pairs)
            return inf__seterr(err, INF_E_UNSUPPORTED,
                               "cuda: RoPE on adjacent pairs (GGUF llama) is not supported yet");
    return INF_OK;
}

static int cuda_init(const inf__model_desc *d, const inf__compute_params *p,
                     void **out, inf__err *err) {
    *out = NULL;
    char why[256];
    if (!cuda_available(why, sizeof why))
        return inf__seterr(err, INF_E_BACKEND_UNAVAILABLE, "%s", why);
    if (d && d->layers) {
        int rc0 = check_supported(d, err);
        if (rc0) return rc0;
    }
    if (p->gpu_layers >= 0 && p->gpu_layers < d->n_layers)
        return inf__seterr(err, INF_E_UNSUPPORTED,
                           "cuda: partial offload (gpu_layers %d of %d) is not "
                           "supported; use -1 for all layers",
                           p->gpu_layers, d->n_layers);
    if (d->n_heads % d->n_kv_heads != 0 || d->head_dim % 2 != 0)
        return inf__seterr(err, INF_E_UNSUPPORTED, "cuda: unsupported head layout");
    cu_ctx *c = (cu_ctx *)calloc(1, sizeof *c);
    if (!c) return inf__seterr(err, INF_E_NOMEM, "out of memory");
    c->d = d;
    c->n_slots = p->n_slots > 0 ? p->n_slots : 1;
    c->ctx_len = p->context_length;
    c->paged = p->kv_blocks > 0 && p->kv_block_tokens > 0;
    c->bt = c->paged ? p->kv_block_tokens : (c->ctx_len > 0 ? c->ctx_len : 1);
    c->tmax = c->paged ? (c->ctx_len + c->bt - 1) / c->bt : 1;
    c->kv_blocks = c->paged ? p->kv_blocks : c->n_slots;
    c->kv_rows = (int64_t)c->kv_blocks * c->bt;
    c->kv_window = inf__model_kv_window(d);
    const char *ex = getenv("INF_CUDA_EXACT");
    c->exact = ex && ex[0] == '1';
    int rc = INF_OK;
    cudaError_t e = cudaStreamCreateWithFlags(&c->st, cudaStreamNonBlocking);
    if (e != cudaSuccess) {
        free(c);
        return cuda_fail(err, e, "stream");
    }
    pthread_once(&blas_once, blas_open);
    if (!blas.create || blas.create(&c->blas) != CUBLAS_STATUS_SUCCESS) {
        cudaStreamDestroy(c->st);
        free(c);
        return inf__seterr(err, INF_E_UNSUPPORTED, "cuda: %s",
                           blas.create ? "cublasCreate failed" : blas.error);
    }
    blas.set_stream(c->blas, c->st);
    c->layers = (cu_layer *)calloc((size_t)d->n_layers, sizeof *c->layers);
    if (!c->layers) rc = inf__seterr(err, INF_E_NOMEM, "out of memory");
    if (rc == INF_OK) rc = upload_weight(c, &d->embed, &c->embed, err);
    if (rc == INF_OK) {
        if (d->lm_head.data == d->embed.data) c->lm_head = c->embed;
        else rc = upload_weight(c, &d->lm_head, &c->lm_head, err);
    }
    if (rc == INF_OK) rc = upload_vec(c, &d->final_norm, &c->final_norm, err);
    float *inv = (float *)malloc((size_t)d->head_dim / 2 * sizeof(float));
    if (!inv && rc == INF_OK) rc = inf__seterr(err, INF_E_NOMEM, "out of memory");
    for (int l = 0; l < d->n_layers && rc == INF_OK; l++) {
        const inf__layer *L = &d->layers[l];
        cu_layer *cl = &c->layers[l];
        cl->window = L->sliding_window;
        const inf__vec *vecs[] = {&L->attn_norm, &L->post_attn_norm, &L->ffn_norm,
                                  &L->post_ffn_norm, &L->q_norm, &L->k_norm,
                                  &L->bq, &L->bk, &L->bv};
        float **dst[] = {&cl->attn_norm, &cl->post_attn_norm, &cl->ffn_norm,
                         &cl->post_ffn_norm, &cl->q_norm, &cl->k_norm,
                         &cl->bq, &cl->bk, &cl->bv};
        for (int i = 0; i < 9 && rc == INF_OK; i++) rc = upload_vec(c, vecs[i], dst[i], err);
        const inf__weight *ws[] = {&L->wq, &L->wk, &L->wv, &L->wo,
                                   &L->w_gate, &L->w_up, &L->w_down};
        cu_weight *wd[] = {&cl->wq, &cl->wk, &cl->wv, &cl->wo,
                           &cl->w_gate, &cl->w_up, &cl->w_down};
        for (int i = 0; i < 7 && rc == INF_OK; i++) rc = upload_weight(c, ws[i], wd[i], err);
        if (rc == INF_OK) {
            inf__rope_inv_freq(&L->rope, d->head_dim, inv);
            rc = upload(c, (void **)&cl->inv_freq, inv,
                        (size_t)d->head_dim / 2 * sizeof(float), err);
        }
    }
    free(inv);
    const size_t kvd = (size_t)d->n_kv_heads * d->head_dim;
    const size_t cache = (size_t)d->n_layers * (size_t)c->kv_rows * kvd * 4;
    if (rc == INF_OK) rc = dev_alloc(c, (void **)&c->kc, cache, err);
    if (rc == INF_OK) rc = dev_alloc(c, (void **)&c->vc, cache, err);
    const size_t tbytes = (size_t)c->n_slots * c->tmax * sizeof(int32_t);
    if (rc == INF_OK) {
        c->h_tables = (int32_t *)calloc(1, tbytes);
        if (!c->h_tables) rc = inf__seterr(err, INF_E_NOMEM, "out of memory");
    }
    if (rc == INF_OK) rc = dev_alloc(c, (void **)&c->d_tables, tbytes, err);
    if (rc == INF_OK && !c->paged) {
        for (int s = 0; s < c->n_slots; s++) c->h_tables[s] = s;
        cudaError_t e2 = cudaMemcpy(c->d_tables, c->h_tables, tbytes, cudaMemcpyHostToDevice);
        if (e2 != cudaSuccess) rc = cuda_fail(err, e2, "upload KV tables");
    }
    if (rc == INF_OK && c->bf16_w_bytes)
        rc = dev_alloc(c, &c->bf16_w, c->bf16_w_bytes, err);
    if (rc == INF_OK) rc = alloc_step_buffers(c, 64, err);
    if (rc != INF_OK) {
        cuda_free(c);
        return rc;
    }
    *out = c;
    return INF_OK;
}

/* y[T, w.rows] = x[T, w.cols] . W^T + bias */
static int matmul(cu_ctx *c, const cu_weight *w, const float *x, int T,
                  const float *bias, float *y, inf__err *err) {
    if (c->exact || T < GEMM_MIN_ROWS) {
        cu_matvec(w, x, T, bias, y, c->st);
        return INF_OK;
    }
    const float one = 1.0f, zero = 0.0f;
    cublasStatus_t s;
    if (w->fmt == INF__W_F32) {
        s = blas.sgemm(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)w->rows, T,
                        (int)w->cols, &one, (const float *)w->data, (int)w->cols,
                        x, (int)w->cols, &zero, y, (int)w->rows);
    } else {
        const void *wb = w->data;
        if (w->fmt != INF__W_BF16) {
            cu_dequant_bf16(w, c->bf16_w, c->st);
            wb = c->bf16_w;
        }
        cu_f32_to_bf16(x, c->bf16_x, (int64_t)T * w->cols, c->st);
        s = blas.gemm_ex(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)w->rows, T,
                         (int)w->cols, &one, wb, CUDA_R_16BF, (int)w->cols,
                         c->bf16_x, CUDA_R_16BF, (int)w->cols, &zero, y,
                         CUDA_R_32F, (int)w->rows, CUBLAS_COMPUTE_32F,
                         CUBLAS_GEMM_DEFAULT);
    }
    if (s != CUBLAS_STATUS_SUCCESS)
        return inf__seterr(err, INF_E_INTERNAL, "cuda: cuBLAS GEMM failed (%d)", (int)s);
    if (bias) {
        /* Rare (qwen2 q/k/v): add the bias row by row via the add kernel. */
        for (int t = 0; t < T; t++) cu_add(y + (int64_t)t * w->rows, bias, w->rows, c->st);
    }
    return INF_OK;
}

/* Enqueues the layers and the final norm for T rows already uploaded; the
 * logits of the n_want wanted rows land in c->logits. */
static int enqueue_forward(cu_ctx *c, int T, int n_want, inf__err *err) {
    const inf__model_desc *d = c->d;
    const int H = d->hidden_size, nh = d->n_heads, nkv = d->n_kv_heads,
              hd = d->head_dim, I = d->intermediate_size;
    const int kvd = nkv * hd;
    const size_t layer_cache = (size_t)c->kv_rows * kvd;
    const cu_kv_map map = {c->d_tables, c->tmax, c->bt};
    int rc = INF_OK;
    cu_embed(&c->embed, c->d_tokens, T, d->embed_scale, c->x, c->st);
    for (int l = 0; l < d->n_layers && rc == INF_OK; l++) {
        const cu_layer *L = &c->layers[l];
        cu_rmsnorm(c->x, L->attn_norm, T, H, d->norm_eps, d->norm_add_one, c->h, c->st);
        rc = matmul(c, &L->wq, c->h, T, L->bq, c->q, err);
        if (rc == INF_OK) rc = matmul(c, &L->wk, c->h, T, L->bk, c->k, err);
        if (rc == INF_OK) rc = matmul(c, &L->wv, c->h, T, L->bv, c->v, err);
        if (rc != INF_OK) break;
        if (L->q_norm) cu_rmsnorm(c->q, L->q_norm, T * nh, hd, d->norm_eps, d->norm_add_one, c->q, c->st);
        if (L->k_norm) cu_rmsnorm(c->k, L->k_norm, T * nkv, hd, d->norm_eps, d->norm_add_one, c->k, c->st);
        cu_rope(c->q, c->k, c->d_pos, L->inv_freq, T, nh, nkv, hd, c->st);
        float *kc = c->kc + l * layer_cache, *vc = c->vc + l * layer_cache;
        cu_kv_store(c->k, c->v, c->d_slot, c->d_pos, T, kvd, map, kc, vc, c->st);
        cu_attention(c->q, kc, vc, c->d_slot, c->d_pos, T, nh, nkv, hd, c->ctx_len, map,
                     L->window, d->attn_scale, d->attn_logit_softcap, c->scores,
                     c->att, c->st);
        rc = matmul(c, &L->wo, c->att, T, NULL, c->o, err);
        if (rc != INF_OK) break;
        if (L->post_attn_norm)
            cu_rmsnorm(c->o, L->post_attn_norm, T, H, d->norm_eps, d->norm_add_one, c->o, c->st);
        cu_add(c->x, c->o, (int64_t)T * H, c->st);
        cu_rmsnorm(c->x, L->ffn_norm, T, H, d->norm_eps, d->norm_add_one, c->h, c->st);
        rc = matmul(c, &L->w_gate, c->h, T, NULL, c->g, err);
        if (rc == INF_OK) rc = matmul(c, &L->w_up, c->h, T, NULL, c->u, err);
        if (rc != INF_OK) break;
        cu_act_mul(c->g, c->u, (int64_t)T * I, d->act == INF__ACT_GELU_TANH, c->st);
        rc = matmul(c, &L->w_down, c->g, T, NULL, c->o, err);
        if (rc != INF_OK) break;
        if (L->post_ffn_norm)
            cu_rmsnorm(c->o, L->post_ffn_norm, T, H, d->norm_eps, d->norm_add_one, c->o, c->st);
        cu_add(c->x, c->o, (int64_t)T * H, c->st);
    }
    if (rc != INF_OK || n_want == 0) return rc;
    cu_gather_rows(c->x, c->d_want_rows, n_want, H, c->logits_rows, c->st);
    cu_rmsnorm(c->logits_rows, c->final_norm, n_want, H, d->norm_eps, d->norm_add_one,
               c->logits_rows, c->st);
    rc = matmul(c, &c->lm_head, c->logits_rows, n_want, NULL, c->logits, err);
    if (rc == INF_OK && d->final_logit_softcap > 0)
        cu_softcap(c->logits, (int64_t)n_want * d->vocab_size, d->final_logit_softcap, c->st);
    return rc;
}

static int run_graph(cu_ctx *c, int T, inf__err *err) {
    for (int i = 0; i < c->n_graphs; i++) {
        if (c->graphs[i].T == T) {
            cudaError_t e = cudaGraphLaunch(c->graphs[i].exec, c->st);
            return e == cudaSuccess ? INF_OK : cuda_fail(err, e, "graph launch");
        }
    }
    if (c->n_graphs == MAX_GRAPHS) return enqueue_forward(c, T, T, err);
    cudaGraph_t g;
    cudaError_t e = cudaStreamBeginCapture(c->st, cudaStreamCaptureModeThreadLocal);
    if (e != cudaSuccess) return cuda_fail(err, e, "graph capture");
    int rc = enqueue_forward(c, T, T, err);
    e = cudaStreamEndCapture(c->st, &g);
    if (rc != INF_OK) return rc;
    if (e != cudaSuccess) return cuda_fail(err, e, "graph capture");
    cudaGraphExec_t exec;
    e = cudaGraphInstantiate(&exec, g, 0);
    cudaGraphDestroy(g);
    if (e != cudaSuccess) return cuda_fail(err, e, "graph instantiate");
    c->graphs[c->n_graphs].T = T;
    c->graphs[c->n_graphs].exec = exec;
    c->n_graphs++;
    e = cudaGraphLaunch(exec, c->st);
    return e == cudaSuccess ? INF_OK : cuda_fail(err, e, "graph launch");
}

static void drop_graphs(cu_ctx *c) {
    for (int i = 0; i < c->n_graphs; i++) cudaGraphExecDestroy(c->graphs[i].exec);
    c->n_graphs = 0;
}

/* Paged mode: the block tables of the slots in the batch into h_tables,
 * checked (every entry a row of the batch may touch is a block of the
 * pool, or -1 before the window: compute.h), then uploaded.  Entries of
 * other slots are not read by this step's kernels. */
static int load_tables(cu_ctx *c, const inf__batch *b, inf__err *err) {
    if (!b->block_tables)
        return inf__seterr(err, INF_E_INVALID_ARGUMENT, "cuda: forward: paged KV cache but no block tables");
    for (int i = 0; i < b->n_tokens; i++) {
        const int s = b->slot[i];
        int first = 1, last = b->pos[i];
        for (int j = 0; j < i && first; j++) first = b->slot[j] != s;
        if (!first) continue;
        for (int j = i + 1; j < b->n_tokens; j++)
            if (b->slot[j] == s && b->pos[j] > last) last = b->pos[j];
        const int32_t *tab = b->block_tables[s];
        if (!tab)
            return inf__seterr(err, INF_E_INVALID_ARGUMENT, "cuda: forward: slot %d has no block table", s);
        /* Blocks before every layer's window of the first row may have
         * been released (-1): not read, not copied. */
        const int lo = c->kv_window > 0 && b->pos[i] - c->kv_window + 1 > 0 ? b->pos[i] - c->kv_window + 1 : 0;
        for (int k = lo / c->bt; k <= last / c->bt; k++) {
            const int32_t id = tab[k];
            if (id < 0 || id >= c->kv_blocks)
                return inf__seterr(err, INF_E_INVALID_ARGUMENT,
                                   "cuda: forward: slot %d block %d is %d, outside the pool [0, %d)", s, k,
                                   (int)id, c->kv_blocks);
            c->h_tables[(size_t)s * c->tmax + k] = id;
        }
    }
    cudaError_t e = cudaMemcpyAsync(c->d_tables, c->h_tables, (size_t)c->n_slots * c->tmax * sizeof(int32_t),
                                    cudaMemcpyHostToDevice, c->st);
    return e == cudaSuccess ? INF_OK : cuda_fail(err, e, "upload block tables");
}

static int cuda_forward(void *p, const inf__batch *b, inf__err *err) {
    cu_ctx *c = (cu_ctx *)p;
    const int T = b->n_tokens;
    if (T <= 0) return INF_OK;
    for (int i = 0; i < T; i++) {
        if (b->slot[i] < 0 || b->slot[i] >= c->n_slots || b->pos[i] < 0 ||
            b->pos[i] >= c->ctx_len || b->tokens[i] < 0 ||
            b->tokens[i] >= c->d->vocab_size)
            return inf__seterr(err, INF_E_INVALID_ARGUMENT,
                               "cuda: batch row %d out of range (token %d, slot %d, pos %d)",
                               i, b->tokens[i], b->slot[i], b->pos[i]);
    }
    if (c->paged) {
        int rc = load_tables(c, b, err);
        if (rc != INF_OK) return rc;
    }
    if (T > c->max_T) {
        drop_graphs(c); /* graphs point at the old buffers */
        int want = c->max_T;
        while (want < T) want *= 2;
        int rc = alloc_step_buffers(c, want, err);
        if (rc != INF_OK) return rc;
    }
    int32_t *rows = (int32_t *)malloc((size_t)T * sizeof(int32_t));
    if (!rows) return inf__seterr(err, INF_E_NOMEM, "out of memory");
    int n_want = 0;
    for (int i = 0; i < T; i++)
        if (b->want[i]) rows[n_want++] = i;
    cudaMemcpyAsync(c->d_tokens, b->tokens, (size_t)T * 4, cudaMemcpyHostToDevice, c->st);
    cudaMemcpyAsync(c->d_pos, b->pos, (size_t)T * 4, cudaMemcpyHostToDevice, c->st);
    cudaMemcpyAsync(c->d_slot, b->slot, (size_t)T * 4, cudaMemcpyHostToDevice, c->st);
    cudaMemcpyAsync(c->d_want_rows, rows, (size_t)T * 4, cudaMemcpyHostToDevice, c->st);
    /* Decode steps (few rows, every row wanted) replay a graph. */
    int rc;
    if (n_want == T && T < GEMM_MIN_ROWS && !getenv("INF_CUDA_NO_GRAPHS"))
        rc = run_graph(c, T, err);
    else
        rc = enqueue_forward(c, T, n_want, err);
    if (rc == INF_OK && n_want > 0)
        cudaMemcpyAsync(b->logits, c->logits,
                        (size_t)n_want * c->d->vocab_size * sizeof(float),
                        cudaMemcpyDeviceToHost, c->st);
    cudaError_t e = cudaStreamSynchronize(c->st);
    free(rows);
    if (rc != INF_OK) return rc;
    if (e != cudaSuccess) return cuda_fail(err, e, "forward");
    e = cudaGetLastError();
    return e == cudaSuccess ? INF_OK : cuda_fail(err, e, "kernel launch");
}

static void cuda_seq_reset(void *p, int32_t slot) {
    /* Positions are always written before they are read, so forgetting a
     * slot needs no device work: the engine restarts it at position 0. */
    (void)p;
    (void)slot;
}

static void cuda_memory(void *p, int64_t *active, int64_t *peak) {
    cu_ctx *c = (cu_ctx *)p;
    if (active) *active = c ? c->bytes_alloc : 0;
    if (peak) *peak = c ? c->bytes_peak : 0;
}

static void free_weight(cu_weight *w) {
    cudaFree((void *)w->data);
    cudaFree((void *)w->scales);
    cudaFree((void *)w->biases);
}

static void cuda_free(void *p) {
    cu_ctx *c = (cu_ctx *)p;
    if (!c) return;
    drop_graphs(c);
    if (c->layers) {
        for (int l = 0; l < c->d->n_layers; l++) {
            cu_layer *L = &c->layers[l];
            float *vecs[] = {L->attn_norm, L->post_attn_norm, L->ffn_norm,
                             L->post_ffn_norm, L->q_norm, L->k_norm, L->bq,
                             L->bk, L->bv, L->inv_freq};
            for (size_t i = 0; i < sizeof vecs / sizeof vecs[0]; i++) cudaFree(vecs[i]);
            cu_weight *ws[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate,
                               &L->w_up, &L->w_down};
            for (int i = 0; i < 7; i++) free_weight(ws[i]);
        }
        free(c->layers);
    }
    if (c->lm_head.data != c->embed.data) free_weight(&c->lm_head);
    free_weight(&c->embed);
    free(c->h_tables);
    void *bufs[] = {c->final_norm, c->kc, c->vc, c->d_tables, c->d_tokens, c->d_pos, c->d_slot,
                    c->d_want_rows, c->x, c->h, c->q, c->k, c->v, c->att, c->o,
                    c->g, c->u, c->scores, c->logits_rows, c->logits, c->bf16_x,
                    c->bf16_w};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) cudaFree(bufs[i]);
    if (c->blas) blas.destroy(c->blas);
    if (c->st) cudaStreamDestroy(c->st);
    free(c);
}

/* Paged mode: f32 K and V rows of every layer per position. */
static int64_t cuda_kv_token_bytes(const inf__model_desc *d, const inf__compute_params *p) {
    (void)p;
    return (int64_t)d->n_layers * 2 * d->n_kv_heads * d->head_dim * (int64_t)sizeof(float);
}

/* Copy-on-write of a shared block: rows [0, n_rows) of src into dst, in
 * every layer, on the forward stream (so before the next step's kernels). */
static int cuda_copy_block(void *p, int32_t dst, int32_t src, int32_t n_rows, inf__err *err) {
    cu_ctx *c = (cu_ctx *)p;
    if (!c->paged || dst < 0 || src < 0 || dst >= c->kv_blocks || src >= c->kv_blocks || n_rows < 0 ||
        n_rows > c->bt)
        return inf__seterr(err, INF_E_INVALID_ARGUMENT, "cuda: copy_block(%d, %d, %d) outside the pool of %d",
                           (int)dst, (int)src, (int)n_rows, c->kv_blocks);
    if (dst == src || n_rows == 0) return INF_OK;
    const size_t kvd = (size_t)c->d->n_kv_heads * c->d->head_dim, layer = (size_t)c->kv_rows * kvd;
    const size_t bytes = (size_t)n_rows * kvd * sizeof(float);
    for (int l = 0; l < c->d->n_layers; l++) {
        float *caches[2] = {c->kc, c->vc};
        for (int i = 0; i < 2; i++) {
            float *base = caches[i] + l * layer;
            cudaError_t e = cudaMemcpyAsync(base + (size_t)dst * c->bt * kvd, base + (size_t)src * c->bt * kvd,
                                            bytes, cudaMemcpyDeviceToDevice, c->st);
            if (e != cudaSuccess) return cuda_fail(err, e, "copy KV block");
        }
    }
    return INF_OK;
}

extern "C" const inf__compute_ops inf__cuda_compute = {
    "cuda", cuda_available, cuda_init, cuda_forward,
    cuda_seq_reset, cuda_memory, cuda_free,
    cuda_kv_token_bytes, cuda_copy_block};
