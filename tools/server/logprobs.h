/* Log-probabilities for the /v1 responses, from the logits the engine
 * hands over with each token (return_logits):
 * log p(id) = logit[id] - logsumexp(logits).  Chat requests get OpenAI's
 * logprobs.content entries (plus "id", as llama.cpp's server adds);
 * completions get the legacy tokens / token_logprobs / top_logprobs /
 * text_offset arrays (text_offset: bytes into the completion text). */
#ifndef INF_SERVER_LOGPROBS_H
#define INF_SERVER_LOGPROBS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "inference.h"

#define INF__SRV_LP_TOP_MAX 20

/* One token's log-probability and its most likely alternatives. */
typedef struct inf__srv_lp {
    int32_t id;
    int have;           /* 0: the backend gave no logits */
    double lp;
    int k;
    int32_t top_ids[INF__SRV_LP_TOP_MAX];
    double top_lps[INF__SRV_LP_TOP_MAX];
} inf__srv_lp;

/* Fills *o for token t with its k (at most INF__SRV_LP_TOP_MAX) most
 * likely alternatives, best first (ties: the lower id first). */
void inf__srv_lp_compute(const inf_token *t, int k, inf__srv_lp *o);
/* An empty logprobs object for a chat (1) or completions (0) response. */
json_t *inf__srv_lp_new(int chat);
/* Records one token, whose text piece is text[n], into obj (an
 * inf__srv_lp_new object).  tok (may be NULL) names the alternatives by
 * decoding each id alone.  *text_off: bytes of completion text so far
 * (legacy text_offset), advanced by n. */
void inf__srv_lp_add(json_t *obj, int chat, const inf_tokenizer *tok,
                     const inf__srv_lp *o, const char *text, size_t n,
                     size_t *text_off);

/* Echo on /v1/completions: adds the prompt's tokens ids[0..n) to a
 * completions logprobs object (chat 0), in order, with their text pieces
 * (tokenize.h, special tokens adding nothing).  Token i's log-probability
 * and alternatives come from logits row i - 1 ([n, vocab], row i predicts
 * token i + 1: inf_model_logits); the first token has none (null, as
 * OpenAI reports it).  *text_off is advanced over the pieces.  Returns
 * INF_OK, or an error of the tokenizer / INF_E_NOMEM. */
int inf__srv_lp_prompt(json_t *obj, const inf_tokenizer *tok, const int32_t *ids,
                       size_t n, const float *logits, int32_t vocab, int k,
                       size_t *text_off);

#endif
