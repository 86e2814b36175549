/* Public "Text: tokenizers" functions of inference.h: a thin layer over
 * inf__tok_*, turning inf__err messages into malloc'd *errmsg strings. */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "inference.h"
#include "text/tokenizer/tokenizer.h"

struct inf_tokenizer { inf__tokenizer *t; };

static int fail(int rc, const inf__err *e, char **errmsg) {
    if (errmsg) *errmsg = inf__strdup(e->msg[0] ? e->msg : inf_strerror(rc));
    return rc;
}

inf_tokenizer *inf__tok_wrap(inf__tokenizer *t) {
    if (!t) return NULL;
    inf_tokenizer *w = calloc(1, sizeof *w);
    if (!w) {
        inf__tok_free(t);
        return NULL;
    }
    w->t = t;
    return w;
}

const inf__tokenizer *inf__tok_unwrap(const inf_tokenizer *h) { return h ? h->t : NULL; }

/* inf_tokenizer_load is src/engine/tokenizer_load.c's: it also reads GGUF
 * files, which this layer does not know. */

void inf_tokenizer_free(inf_tokenizer *t) {
    if (!t) return;
    inf__tok_free(t->t);
    free(t);
}

int inf_tokenize(const inf_tokenizer *t, const char *text, size_t len, int add_special, int32_t **ids,
                 size_t *n_ids, char **errmsg) {
    inf__err e;
    inf__err_clear(&e);
    if (errmsg) *errmsg = NULL;
    int rc = inf__tok_encode(t ? t->t : NULL, text, len, add_special, ids, n_ids, &e);
    return rc ? fail(rc, &e, errmsg) : INF_OK;
}

int inf_detokenize(const inf_tokenizer *t, const int32_t *ids, size_t n_ids, int skip_special, char **text,
                   size_t *len, char **errmsg) {
    inf__err e;
    inf__err_clear(&e);
    if (errmsg) *errmsg = NULL;
    int rc = inf__tok_decode(t ? t->t : NULL, ids, n_ids, skip_special, text, len, &e);
    return rc ? fail(rc, &e, errmsg) : INF_OK;
}

int32_t inf_tokenizer_vocab_size(const inf_tokenizer *t) { return t ? inf__tok_vocab_size(t->t) : 0; }

const char *inf_tokenizer_piece(const inf_tokenizer *t, int32_t id) {
    return t ? inf__tok_piece(t->t, id) : NULL;
}

int inf_tokenizer_is_special(const inf_tokenizer *t, int32_t id) {
    return t ? inf__tok_is_special(t->t, id) : 0;
}

int32_t inf_tokenizer_bos_id(const inf_tokenizer *t) { return t ? inf__tok_bos_id(t->t) : -1; }
int32_t inf_tokenizer_eos_id(const inf_tokenizer *t) { return t ? inf__tok_eos_id(t->t) : -1; }
