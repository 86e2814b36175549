/* libFuzzer target: tokenizer.json parsing.  Any input must load or fail
 * with an error value; a tokenizer that loads must then encode and decode
 * (plain and streaming) without crashing, with ids in range. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    inf__tokenizer *t = NULL;
    inf__err err;
    if (inf__tok_load_mem((const char *)data, size, NULL, 0, &t, &err) != INF_OK) {
        if (t) __builtin_trap(); /* failure must leave *out NULL */
        return 0;
    }
    static const char text[] = "Hello  world! <s>x</s> 123 caf\xC3\xA9 \xF0\x9F\x98\x80 \xFF\xFE end";
    int32_t *ids = NULL;
    size_t n = 0;
    for (int sp = 0; sp < 2; sp++) {
        if (inf__tok_encode(t, text, sizeof text - 1, sp, &ids, &n, &err) == INF_OK) {
            for (size_t i = 0; i < n; i++)
                if (ids[i] < 0 || ids[i] >= inf__tok_vocab_size(t)) __builtin_trap();
            char *out = NULL;
            size_t len;
            if (inf__tok_decode(t, ids, n, sp, &out, &len, &err) == INF_OK && strlen(out) > len) __builtin_trap();
            free(out);
            inf__detok *d = inf__detok_new(t, sp);
            const char *p;
            size_t k;
            for (size_t i = 0; d && i < n; i++) inf__detok_push(d, ids[i], &p, &k, &err);
            if (d) inf__detok_flush(d, &p, &k, &err);
            inf__detok_free(d);
        }
        free(ids);
        ids = NULL;
    }
    (void)inf__tok_piece(t, 0);
    (void)inf__tok_bos_id(t);
    inf__tok_free(t);
    return 0;
}
