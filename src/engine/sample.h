/*
 * Token sampling: turns one row of logits into the next token id.
 *
 * Order of operations (as Hugging Face transformers' logits processors and
 * llama.cpp's default chain apply them):
 *   1. repeat penalty over the last repeat_last_n tokens of prompt +
 *      generated text (0 = all): a positive logit is divided by the penalty,
 *      a negative one multiplied, each distinct token once;
 *   2. temperature 0 (or below): greedy argmax, lowest id on ties;
 *   3. otherwise logits / temperature, then top-k, top-p (nucleus: the
 *      smallest prefix of the sorted distribution whose mass reaches top_p,
 *      at least one token), min-p (drop tokens whose probability is below
 *      min_p times the top probability), then a draw from the renormalised
 *      distribution with the sequence's own RNG.
 * The same seed, settings and logits give the same token on every run.
 */
#ifndef INF_ENGINE_SAMPLE_H
#define INF_ENGINE_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "inference.h"

typedef struct inf__sampler_cfg {
    float temperature;    /* <= 0: greedy */
    int32_t top_k;        /* <= 0: off */
    float top_p;          /* <= 0 or >= 1: off */
    float min_p;          /* <= 0: off */
    float repeat_penalty; /* <= 0 or == 1: off */
    int32_t repeat_last_n;/* window of the penalty; 0 = whole history */
} inf__sampler_cfg;

/* Per-sequence random state (xoshiro256**). */
typedef struct inf__rng {
    uint64_t s[4];
} inf__rng;

/* Seeds *r from seed; INF_SEED_RANDOM picks a seed from the clock and a
 * counter, so two sequences started at once still differ.  Every other
 * value, 0 included, is a fixed seed. */
void inf__rng_seed(inf__rng *r, uint64_t seed);
/* Next 64 random bits. */
uint64_t inf__rng_next(inf__rng *r);
/* Uniform double in [0, 1). */
double inf__rng_uniform(inf__rng *r);

/* Scratch memory reused across calls (one per worker thread). */
typedef struct inf__sample_scratch {
    float *vals;     /* [cap] */
    int32_t *ids;    /* [cap] */
    uint8_t *seen;   /* [cap] marks for the penalty's distinct tokens */
    size_t cap;
} inf__sample_scratch;

void inf__sample_scratch_free(inf__sample_scratch *s);

/* Picks the next token from logits[n_vocab] (not modified).  history holds
 * the prompt and the tokens generated so far (for the repeat penalty; may be
 * NULL when n_hist is 0).  rng may be NULL when the configuration is
 * greedy.  Returns the token id, or -1 when scratch memory could not be
 * allocated or n_vocab <= 0. */
int32_t inf__sample(const inf__sampler_cfg *cfg, const float *logits,
                    int32_t n_vocab, const int32_t *history, size_t n_hist,
                    inf__rng *rng, inf__sample_scratch *scratch);

/* Index of the largest value, lowest index on ties; -1 when n <= 0. */
int32_t inf__argmax(const float *x, int32_t n);

#endif
