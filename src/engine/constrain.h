/*
 * Constrained decoding in the engine: a sequence's grammar and matcher
 * (text/grammar/grammar.h), built from inf_generate_options.constraint, and
 * the sampling step under it.
 *
 * Cost per token: the matcher fills the mask (a copy of a cached bitset
 * when the state was seen before, else one pruned walk of the vocabulary
 * trie), the allowed ids are gathered a 32-bit word at a time, and the
 * sampler runs over the allowed tokens alone, which is the distribution of
 * the whole row with the forbidden tokens at -inf (temperature, top-k,
 * top-p, min-p and greedy's lowest-id tie rule all agree) at the cost of
 * the allowed tokens only: inside structure that is a few dozen instead of
 * the vocabulary.  Penalties and logit bias read token ids, so with them
 * the row itself is masked and sampled whole.
 *
 * The vocabulary's byte strings (inf__grammar_vocab) are built once per
 * model, on the first constrained request, under a lock.
 */
#ifndef INF_ENGINE_CONSTRAIN_H
#define INF_ENGINE_CONSTRAIN_H

#include <stdint.h>

#include "core/error.h"
#include "inference.h"
#include "text/grammar/grammar.h"

struct inf__engine;
struct inf__seq;

/* Compiles o's constraint (none: nothing to do) for s: s->grammar and
 * s->matcher, owned by s (inf__constraint_free).  Called on the caller's
 * thread at submit, so a constraint that does not compile fails the call
 * itself: INF_E_INVALID_ARGUMENT / INF_E_UNSUPPORTED / INF_E_LIMIT with the
 * grammar engine's message, INF_E_TOKENIZER when the model has no
 * tokenizer to map tokens to bytes. */
int inf__constraint_init(struct inf__engine *e, struct inf__seq *s,
                         const inf_generate_options *o, inf__err *err);
void inf__constraint_free(struct inf__seq *s);
/* Frees the model's vocabulary (engine teardown). */
void inf__constraint_engine_free(struct inf__engine *e);

/* Worker: the next token of constrained s from logits[vocab] (the row may
 * be overwritten with the mask applied), accepted by its matcher.  Returns
 * the id, or a negative status with err set: INF_E_LIMIT from the matcher,
 * INF_E_NOMEM, INF_E_INVALID_ARGUMENT when the grammar allows no token at
 * all (cannot happen for a satisfiable grammar that is not finished). */
int32_t inf__constraint_sample(struct inf__engine *e, struct inf__seq *s,
                               float *logits, inf__err *err);
/* 1 when s's grammar can take nothing more (generation ends), else 0. */
int inf__constraint_finished(const struct inf__seq *s);

#endif
