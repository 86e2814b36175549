/* Fast reader for model.vocab and model.merges of tokenizer.json. */
#ifndef INF_TEXT_TOK_JSON_FAST_H
#define INF_TEXT_TOK_JSON_FAST_H

#include "text/tokenizer/tok_internal.h"

typedef struct {
    tk_buf blob;                  /* decoded strings, each followed by NUL */
    size_t *vocab, n_vocab;       /* n_vocab triples: offset, length, id */
    size_t *merges, n_merges;     /* n_merges quads: a off, a len, b off, b len */
    size_t vocab_start, vocab_end;   /* byte span of the vocab value in js */
    size_t merges_start, merges_end; /* byte span of the merges value */
} tk_fastjson;

/* Scans js (a whole tokenizer.json).  0: *f holds both members (free with
 * inf__tk_fast_free); 1: declined (unusual layout or malformed: use the
 * general parser), *f empty. */
int inf__tk_fast_model(const char *js, size_t len, tk_fastjson *f);
void inf__tk_fast_free(tk_fastjson *f);

#endif
