/* Public "Text: tokenizers" functions of inference.h: a thin layer over
 * inf__tok_*, turning inf__err messages into strdup'd *errmsg strings. */
#include <stdlib.h>
#include <string.h>

#include "inference.h"
#include "text/tokenizer/tokenizer.h"

struct inf_tokenizer { inf__tokenizer *t; };

static int fail(int rc, const inf__err *e, char **errmsg) {
    if (errmsg) *errmsg = strdup(e->msg[0] ? e->msg : inf_strerror(rc));
    return rc;
}

int inf_tokenizer_load(const char *dir, inf_tokenizer **out, char **errmsg) {
    inf__err e;
    inf__err_clear(&e);
    if (errmsg) *errmsg = NULL;
    if (!out) { inf__seterr(&e, INF_E_INVALID_ARGUMENT, "out is NULL"); return fail(e.code, &e, errmsg); }
    *out = NULL;
    inf_tokenizer *w = calloc(1, sizeof *w);
    if (!w) { inf__seterr(&e, INF_E_NOMEM, "out of memory"); return fail(e.code, &e, errmsg); }
    int rc = inf__tok_load_dir(dir, &w->t, &e);
    if (rc) { free(w); return fail(rc, &e, errmsg); }
    *out = w;
    return INF_OK;
}

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
