/*
 * The cpu backend's per-model state, shared by cpu_backend.c (life cycle,
 * KV cache) and forward.c (the transformer pass).  Private to the backend.
 */
#ifndef INF_BACKENDS_CPU_CPU_CTX_H
#define INF_BACKENDS_CPU_CPU_CTX_H

#include <stdint.h>

#include "backends/cpu/kernels.h"
#include "backends/cpu/threadpool.h"
#include "engine/compute.h"

/* Small per-layer vectors converted to f32 once at init (a few KiB). */
typedef struct inf__cpu_layer {
    float *attn_norm, *post_attn_norm, *ffn_norm, *post_ffn_norm; /* [hidden] or NULL */
    float *q_norm, *k_norm;  /* [head_dim] or NULL */
    float *bq, *bk, *bv;     /* [q_dim], [kv_dim], [kv_dim] or NULL */
    float *inv_freq;         /* [head_dim/2] */
    int rope_as_prev;        /* same RoPE as layer i-1: reuse its cos/sin */
} inf__cpu_layer;

/* One sequence's cache: per layer K and V [cap, kv_dim] f32, positions
 * 0..n_cached-1 filled.  Plain (not ring) even for sliding layers; grown
 * on demand up to the context length. */
typedef struct inf__cpu_slot {
    int32_t n_cached;
    int32_t cap;
    float **k, **v; /* [n_layers] */
} inf__cpu_slot;

typedef struct inf__cpu_ctx {
    const inf__model_desc *d;
    const inf__cpu_kernels *kern;
    inf__pool *pool;
    int nth;
    int32_t n_slots, n_ctx;
    int32_t q_dim, kv_dim, half;
    inf__cpu_layer *layers; /* [n_layers] */
    float *final_norm;      /* [hidden] */
    inf__cpu_slot *slots;   /* [n_slots] */

    /* Scratch for up to max_rows tokens per pass (a longer batch runs in
     * chunks of max_rows). */
    int64_t max_rows;
    float *x, *o;           /* [max_rows, hidden] */
    float *q;               /* [max_rows, q_dim] */
    float *k, *v;           /* [max_rows, kv_dim] */
    /* The matmul inputs have padded rows (ld > width): with rows exactly
     * 4 KiB apart (hidden 1024 f32), the tokens a GEMM tile reads side by
     * side all map to the same L1 sets, which cost ~30% of prefill speed. */
    int64_t ldh, ld_att, ld_ffn;
    float *h;               /* [max_rows, ldh] normed input of q/k/v, gate/up, lm_head */
    float *att;             /* [max_rows, ld_att] attention output (input of o) */
    float *gate, *up;       /* [max_rows, ld_ffn] (gate: input of down) */
    float *cs, *sn;         /* [max_rows, half] RoPE tables */
    /* Attention runs on blocks of att_qb tokens x one KV head, i.e.
     * att_rows = att_qb * (n_heads / n_kv_heads) query rows that share every
     * key and value read (a block of one sequence's consecutive tokens). */
    int32_t att_qb, att_rows;
    float *scores;          /* [nth, att_rows, n_ctx] attention rows */
    float *att_q, *att_o;   /* [nth, att_rows, head_dim] gathered queries / outputs */

    int64_t kv_bytes, scratch_bytes, peak_bytes;
} inf__cpu_ctx;

/* Grows slot s's cache to hold at least need positions (need <= n_ctx).
 * Returns INF_OK or INF_E_NOMEM (the cache stays as it was). */
int inf__cpu_slot_reserve(inf__cpu_ctx *c, int32_t s, int32_t need, inf__err *err);

/* The forward pass (engine/compute.h: forward). */
int inf__cpu_forward(void *ctx, const inf__batch *b, inf__err *err);

#endif
