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
    /* The matrices as the kernels read them: the description's, or the
     * kernel set's repacked copies in wpack (cpu_backend.c: pack_weights) */
    inf__weight wq, wk, wv, wo, w_gate, w_up, w_down;
} inf__cpu_layer;

typedef struct inf__cpu_ctx {
    const inf__model_desc *d;
    const inf__cpu_kernels *kern;
    void (*act_mul)(inf__act act, float *g, const float *u, int64_t n); /* kern's or ops.c's */
    inf__pool *pool;
    int nth;
    int32_t n_slots, n_ctx;
    int32_t q_dim, kv_dim, half;
    inf__cpu_layer *layers; /* [n_layers] */
    inf__weight embed, lm_head; /* as the kernels read them (pack_weights: a
                               repacked output head; tied, the table too) */
    void *wpack;            /* repacked matrices (one mapping) or NULL */
    size_t wpack_bytes;
    float *final_norm;      /* [hidden] */
    /* The KV cache: per layer one pool of n_blocks blocks of bt positions,
     * K and V [n_blocks][n_kv_heads][bt][head_dim] of kv_f16 ? f16
     * (uint16_t, precision fast: written through kern->kv_round, read by
     * the _f16 attention kernels) : f32 (exact: bit for bit what the
     * kernels computed).  Position p of a slot lives in block
     * table[p / bt], row p % bt of each head's part.  Head-major blocks:
     * attention reads one head's keys of a block as one contiguous run
     * (bt x head_dim), which the hardware prefetcher streams; with the
     * heads interleaved per position (row stride kv_dim) decode at depth
     * 1,000 read the cache at about half the weights' rate.  The engine passes the tables (paged
     * mode, compute.h); without them (direct callers, per-slot mode) slot s
     * owns blocks [s * slot_blocks, (s + 1) * slot_blocks) in order and
     * n_cached[s] counts its positions.  All the pools are one mapping,
     * kv_map, by block: block b of layer l's K pool at element
     * b * kv_bstride + 2l * bt * kv_dim, V's right after it (kp[l], vp[l]
     * point at block 0; a pool's blocks are kv_bstride elements apart).
     * It is left untouched, so the OS commits its pages as blocks are
     * first written, in transparent huge pages where the system gives
     * them (cpu_backend.c: kv_pool_alloc), and the first blocks of every
     * layer share the first page; kv_hw (blocks ever written, the engine
     * hands out low ids first) measures that, to within a huge page. */
    int32_t bt, n_blocks, slot_blocks;
    int32_t kv_window;      /* every layer sliding: the widest window; else 0
                               (blocks before it may be -1: compute.h) */
    int paged;
    int kv_f16;             /* elements are f16 (precision fast) */
    int64_t kv_elem;        /* bytes per element: 2 or 4 */
    int64_t kv_bstride;     /* elements from a block of a pool to the next */
    void *kv_map;           /* the pools' mapping, kv_map_bytes long */
    size_t kv_map_bytes;
    void **kp, **vp;        /* [n_layers] pools */
    int32_t *own_tables;    /* per-slot mode: [n_slots * slot_blocks] */
    const int32_t **own;    /* per-slot mode: [n_slots] rows of own_tables */
    int32_t *n_cached;      /* per-slot mode: [n_slots] */
    int32_t kv_hw;

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
    int64_t lds;            /* score buffer row capacity: n_ctx rounded up to whole blocks, padded */
    float *scores;          /* [nth, att_rows, lds] attention rows */
    float *att_q, *att_o;   /* [nth, att_rows, head_dim] gathered queries / outputs */
    /* Precision fast (kern->matmul_q8): a matmul input rounded to int8
     * blocks once for all row chunks; q [max_rows, ld], d/s [max_rows,
     * cols/32] (n, cols set per matmul).  Zero in exact contexts. */
    inf__cpu_xq xq;
    /* Precision fast, BF16 weights (kern->xb_convert): a matmul input as
     * bf16 pairs, converted once for all row chunks (kernels.h: xb_*), for
     * up to xb_cap rows.  NULL in the sets without. */
    uint32_t *xb;
    int64_t xb_cap;

    int64_t kv_bytes, scratch_bytes, peak_bytes;
} inf__cpu_ctx;


/* A pool job over matrices w[0..) laid end to end in chunks of per rows,
 * matrix j from chunk first_chunk[j] on: chunk's matrix (returned) and its
 * rows [*r0, *r1).  forward.c's matmuls and cpu_backend.c's packing. */
static inline int inf__cpu_chunk_rows(const int64_t *first_chunk, const inf__weight *const *w, int64_t per,
                                      int64_t chunk, int64_t *r0, int64_t *r1) {
    int j = 0;
    while (chunk >= first_chunk[j + 1]) j++;
    *r0 = (chunk - first_chunk[j]) * per;
    *r1 = *r0 + per < w[j]->rows ? *r0 + per : w[j]->rows;
    return j;
}

/* Records that blocks [0, hw) have been written (the memory in use). */
void inf__cpu_note_blocks(inf__cpu_ctx *c, int32_t hw);

/* The forward pass (engine/compute.h: forward). */
int inf__cpu_forward(void *ctx, const inf__batch *b, inf__err *err);

#endif
