/* libFuzzer: a tokenizer from a GGUF file's metadata alone (what
 * inf_tokenizer_load does with a .gguf: src/engine/tokenizer_load.c on
 * the container of src/model/gguf.c, then tok_gguf.c's vocabulary loader
 * with llama.cpp's type rules), on arbitrary file images.  Whatever the
 * vocabulary, merges and ids say, loading either fails with a message or
 * gives a tokenizer that encodes a fixed text (special tokens parsed, and
 * not) into ids inside the vocabulary and decodes every id. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_int.h"
#include "model/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char TEXT[] = "Hello </s> wörld<|im_end|>  123\n\n<|fim_prefix|>a\xE2\x96\x81" "b e\xCC\x81 <s>";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    inf__gguf *g = NULL;
    inf__err err;
    inf__err_clear(&err);
    if (inf__gguf_parse_mem(data, size, "fuzz", &g, &err) != INF_OK) return 0;
    inf__tokenizer *t = NULL;
    inf__err_clear(&err);
    int rc = inf__engine_gguf_tokenizer(g, &t, &err);
    if (rc != INF_OK) {
        if (t || err.msg[0] == '\0') abort(); /* errors always explain */
        inf__gguf_free(g);
        return 0;
    }
    int32_t n_vocab = inf__tok_vocab_size(t);
    for (int flags = 0; flags < 4; flags++) {
        int32_t *ids = NULL;
        size_t n = 0;
        if (inf__tok_encode_flags(t, TEXT, sizeof TEXT - 1, flags, &ids, &n, &err) == INF_OK) {
            for (size_t i = 0; i < n; i++)
                if (ids[i] < 0 || ids[i] >= n_vocab) abort();
            char *out = NULL;
            size_t out_len = 0;
            if (inf__tok_decode(t, ids, n, flags & 1, &out, &out_len, &err) == INF_OK && strlen(out) > out_len)
                abort();
            free(out);
        }
        free(ids);
    }
    int32_t all[64];
    int32_t k = n_vocab < 64 ? n_vocab : 64;
    for (int32_t i = 0; i < k; i++) all[i] = n_vocab - 1 - i;
    char *out = NULL;
    size_t out_len = 0;
    if (inf__tok_decode(t, all, (size_t)k, 0, &out, &out_len, &err) == INF_OK) free(out);
    inf__tok_free(t);
    inf__gguf_free(g);
    return 0;
}
