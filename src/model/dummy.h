/*
 * Dummy weights: deterministic pseudo-random fills for benchmarking a model
 * from its config.json alone.  Values come from a 4096-entry table of
 * standard-normal samples indexed by a xorshift generator, so filling is
 * about as fast as writing the memory; work is split into fixed chunks (the
 * bytes do not depend on the thread count) over a few threads.
 */
#ifndef INF_MODEL_DUMMY_H
#define INF_MODEL_DUMMY_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

typedef enum inf__fill_kind {
    INF__FILL_NORMAL = 0, /* mean + std * N(0,1)-ish, in dtype (F32/F16/BF16) */
    INF__FILL_CONST,      /* every element `mean`, in dtype (F32/F16/BF16) */
    INF__FILL_BITS        /* uniformly random bytes (packed quantised values) */
} inf__fill_kind;

typedef struct inf__fill_job {
    void *p;          /* destination */
    size_t n;         /* elements (bytes for INF__FILL_BITS) */
    inf__fill_kind kind;
    inf__dtype dtype; /* F32, F16 or BF16 (ignored for BITS) */
    float mean, std;
} inf__fill_job;

/* Runs every job; the bytes depend only on the jobs and seed, not on the
 * number of threads.  Returns INF_OK or INF_E_NOMEM. */
int inf__dummy_fill(const inf__fill_job *jobs, size_t n_jobs, uint64_t seed);

/* float -> IEEE half / bfloat16 bits, round to nearest even. */
uint16_t inf__f32_to_f16(float f);
uint16_t inf__f32_to_bf16(float f);

#endif
