/*
 * Token sampling: turns one row of logits into the next token id.
 *
 * Order of operations (as llama.cpp's default chain applies them: logit
 * bias, then its penalties sampler with repeat, frequency and presence
 * penalties in that order; vLLM and Hugging Face transformers agree on
 * everything they share):
 *   1. logit bias: bias[i] is added to the logit of token bias_ids[i]
 *      (OpenAI's logit_bias; ids outside the vocabulary are ignored);
 *   2. repeat penalty over the last repeat_last_n tokens of prompt +
 *      generated text (0 = all): a positive logit is divided by the penalty,
 *      a negative one multiplied, each distinct token once;
 *   3. frequency and presence penalties, OpenAI's definition, over the
 *      GENERATED tokens only (history after its first n_prompt entries, as
 *      OpenAI and vLLM count them; the prompt does not count):
 *        logit[j] -= count[j] * frequency_penalty
 *                    + (count[j] > 0) * presence_penalty;
 *   4. temperature 0 (or below): greedy argmax, lowest id on ties;
 *   5. otherwise logits / temperature, then top-k, top-p (nucleus: the
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
    float presence_penalty;  /* 0: off; negative values encourage */
    float frequency_penalty; /* 0: off; negative values encourage */
    size_t n_prompt;      /* history[0..n_prompt) is the prompt, which the
                             presence/frequency penalties do not count */
    const int32_t *bias_ids; /* [n_bias] token ids (borrowed) */
    const float *bias;    /* [n_bias] added to those tokens' logits */
    size_t n_bias;
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
    int32_t *counts; /* [cap] occurrences for the frequency penalty; all
                        zero between calls */
    size_t cap;
} inf__sample_scratch;

void inf__sample_scratch_free(inf__sample_scratch *s);

/* Picks the next token from logits[n_vocab] (not modified).  history holds
 * the prompt and the tokens generated so far (for the penalties; may be
 * NULL when n_hist is 0; cfg->n_prompt says where the prompt ends).  rng
 * may be NULL when the configuration is greedy.  Returns the token id, or -1 when scratch memory could not be
 * allocated or n_vocab <= 0. */
int32_t inf__sample(const inf__sampler_cfg *cfg, const float *logits,
                    int32_t n_vocab, const int32_t *history, size_t n_hist,
                    inf__rng *rng, inf__sample_scratch *scratch);

/* Index of the largest value, lowest index on ties; -1 when n <= 0. */
int32_t inf__argmax(const float *x, int32_t n);

#endif
