/*
 * The narrow interface between the shared engine (scheduler, sampling,
 * tokenizer, templates) and a native compute backend (cpu, cuda).
 *
 * The engine owns sequences and decides what runs; a compute backend owns
 * the weights' working copies, the KV cache and the kernels.  One call to
 * forward() runs the transformer over a batch of tokens that may belong to
 * different sequences (slots) at different positions, as llama.cpp's
 * llama_batch does: prefill of several prompts, decode of many sequences,
 * or both mixed, in one pass.
 *
 * KV memory comes in two modes, chosen by the backend:
 *  - paged (the backend has copy_block and kv_token_bytes; cpu, cuda): the
 *    backend stores kv_blocks blocks of kv_block_tokens positions each (all
 *    layers of a position in the same block id) and nothing per slot.  The
 *    ENGINE owns everything else: which block holds which positions of a
 *    sequence (its block table, passed in every batch), allocation,
 *    reference counts, the prefix index and copy-on-write (src/engine/kv.h).
 *    A slot is then only a row of block_tables; the backend never decides
 *    which block to use and keeps no per-slot state.
 *  - per slot (test fakes): one cache per slot sized by the context,
 *    positions continue the slot's cache, seq_reset starts it over; the
 *    engine runs without the prefix cache.
 */
#ifndef INF_ENGINE_COMPUTE_H
#define INF_ENGINE_COMPUTE_H

#include <stdint.h>

#include "core/error.h"
#include "model/model.h"

/* One forward step.
 * Tokens of the same slot must appear in consecutive increasing positions.
 * Per-slot mode: a slot's positions continue its cache: the first token of
 * a slot in this batch has pos == the number of tokens already cached for
 * that slot (the engine calls seq_reset() to start a slot over).
 * Paged mode: a token at pos of slot s reads and writes through
 * block_tables[s]: position p lives in block block_tables[s][p / bt] at row
 * p % bt (bt = kv_block_tokens).  The engine guarantees that positions
 * below a slot's first pos in the batch were written before (by this
 * sequence or, for a shared prefix, another one) and that no block written
 * by this batch is shared with another sequence or read by it elsewhere. */
typedef struct inf__batch {
    int32_t n_tokens;
    const int32_t *tokens;  /* [n_tokens] token ids */
    const int32_t *pos;     /* [n_tokens] position within its sequence */
    const int32_t *slot;    /* [n_tokens] KV-cache slot, 0..n_slots-1 */
    const uint8_t *want;    /* [n_tokens] 1: return logits for this row */
    /* Output: logits of the rows with want[i] = 1, in batch order,
     * [n_want, vocab_size] float32, written by forward(). The caller
     * provides the buffer. */
    float *logits;
    /* Paged mode only (NULL otherwise): [n_slots] block tables, entries
     * < kv_blocks, covering positions 0..max pos of the slot's rows.  When
     * EVERY layer has a sliding window (the widest W), the entries of
     * blocks wholly before position (the slot's first pos in the batch) -
     * W + 1 may be -1: the engine released them, and no row reads them. */
    const int32_t *const *block_tables;
} inf__batch;

typedef struct inf__compute_params {
    int32_t n_slots;        /* KV caches to allocate */
    int32_t context_length; /* positions per slot */
    int32_t n_threads;      /* 0: one per core */
    int32_t gpu_layers;     /* -1: all */
    /* Paged mode (0, 0: per slot; a backend without copy_block gets 0). */
    int32_t kv_block_tokens; /* positions per block */
    int32_t kv_blocks;       /* blocks in the pool */
    int32_t precision;      /* INF_PRECISION_EXACT or _FAST (resolved: never
                               _DEFAULT; 0 = exact for callers that fill
                               the struct by position) */
    /* 1: nothing reads the layers' matrices after init but the backend, so
     * init may give back the pages of those it keeps a copy of in a
     * layout of its own (madvise MADV_DONTNEED: a mapped file's pages are
     * read again if touched, a private copy's read as zeros).  0: the
     * caller may read them or init another backend on the same desc. */
    int32_t release_weights;
} inf__compute_params;

typedef struct inf__compute_ops {
    const char *name; /* "cpu", "cuda" */
    /* 1 when usable here; else 0 and a reason in why. */
    int (*available)(char *why, size_t why_size);
    /* Prepares to run desc (weights as described; the engine keeps desc
     * and the files alive until free()). */
    int (*init)(const inf__model_desc *desc, const inf__compute_params *p,
                void **ctx, inf__err *err);
    int (*forward)(void *ctx, const inf__batch *b, inf__err *err);
    /* Forgets the cached tokens of one slot. */
    void (*seq_reset)(void *ctx, int32_t slot);
    /* Bytes in use now and at peak (device memory for GPU backends; 0 when
     * unknown so the engine falls back to the process's resident size). */
    void (*memory)(void *ctx, int64_t *active, int64_t *peak);
    void (*free)(void *ctx);
    /* Paged mode (both NULL for per-slot backends). */
    /* Bytes of KV storage per position (all layers) that init() with the
     * same desc and p will use (the element type may follow p->precision:
     * the cpu backend stores f16 under precision fast), for sizing the
     * pool from inf_load_options.kv_memory before init. */
    int64_t (*kv_token_bytes)(const inf__model_desc *desc, const inf__compute_params *p);
    /* Copies rows [0, n_rows) of block src into block dst, every layer
     * (copy-on-write of a shared block before the engine writes into it).
     * Returns INF_OK or an error (blocks out of range). */
    int (*copy_block)(void *ctx, int32_t dst, int32_t src, int32_t n_rows,
                      inf__err *err);
} inf__compute_ops;

#endif
