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
 */
#ifndef INF_ENGINE_COMPUTE_H
#define INF_ENGINE_COMPUTE_H

#include <stdint.h>

#include "core/error.h"
#include "model/model.h"

/* One forward step.
 * Tokens of the same slot must appear in increasing position order, and a
 * slot's positions must continue its cache: the first token of a slot in
 * this batch has pos == the number of tokens already cached for that slot
 * (the engine calls seq_reset() to start a slot over). */
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
} inf__batch;

typedef struct inf__compute_params {
    int32_t n_slots;        /* KV caches to allocate */
    int32_t context_length; /* positions per slot */
    int32_t n_threads;      /* 0: one per core */
    int32_t gpu_layers;     /* -1: all */
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
} inf__compute_ops;

#endif
