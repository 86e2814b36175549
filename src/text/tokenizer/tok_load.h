/* Loader pieces shared between tok_load.c and tok_load_pipeline.c. */
#ifndef INF_TEXT_TOK_LOAD_H
#define INF_TEXT_TOK_LOAD_H

#include <jansson.h>

#include "text/tokenizer/tok_internal.h"

/* Boolean member k of o, or dflt when absent / not a boolean. */
int inf__tk_json_bool(json_t *o, const char *k, int dflt);
/* Each reads one tokenizer.json section (NULL / json null: none) into t.
 * INF_OK, or INF_E_UNSUPPORTED naming the component, or INF_E_FORMAT. */
int inf__tk_parse_normalizer(inf__tokenizer *t, json_t *j, inf__err *err);
int inf__tk_parse_pretok(inf__tokenizer *t, json_t *j, inf__err *err);
int inf__tk_parse_post(inf__tokenizer *t, json_t *j, inf__err *err);
int inf__tk_parse_decoder(inf__tokenizer *t, json_t *j, inf__err *err);

#endif
