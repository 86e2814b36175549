/* POST /tokenize and /detokenize, shaped as llama.cpp's server has them,
 * and the token pieces that they and the completions echo share.
 *
 *   /tokenize   {"content": TEXT, "add_special": false, "parse_special":
 *               true, "with_pieces": false}
 *            -> {"tokens": [ID, ...]}, or with with_pieces
 *               {"tokens": [{"id": ID, "piece": TEXT}, ...]}
 *   /detokenize {"tokens": [ID, ...]} -> {"content": TEXT}
 *
 * A token's piece is the text it adds after the tokens before it (so a
 * leading space stays with it, unlike decoding it alone); a token that
 * ends inside a UTF-8 character adds nothing, and the character goes with
 * the token that completes it.  (llama.cpp shows such pieces as byte
 * arrays; the public tokenizer API decodes whole characters only.) */
#ifndef INF_SERVER_TOKENIZE_H
#define INF_SERVER_TOKENIZE_H

#include <stddef.h>
#include <stdint.h>

#include "inference.h"

struct MHD_Connection;
struct inf__srv;

/* The pieces of ids[0..n): *buf holds them one after another (malloc'd,
 * NUL-terminated), piece i is (*buf)[off[i] .. off[i+1]) with *off
 * malloc'd [n + 1].  skip_special: special tokens add nothing.  Linear in
 * n (each piece decodes a window of the tokens before it).  Returns
 * INF_OK, or the tokenizer's error / INF_E_NOMEM with nothing to free. */
int inf__srv_token_pieces(const inf_tokenizer *t, const int32_t *ids, size_t n,
                          int skip_special, char **buf, size_t **off);

/* Handles POST /tokenize (detok 0) or /detokenize (detok 1) with the whole
 * body; queues exactly one response.  Returns the HTTP status queued, or 0
 * when queuing failed. */
unsigned inf__srv_tokenize(struct inf__srv *s, struct MHD_Connection *conn,
                           const char *body, size_t len, int detok);

#endif
