/* libFuzzer: the GGUF reader (src/model/gguf.c) on arbitrary file images,
 * then the model mapping (src/model/gguf_model.c) on what it accepts.
 * Every accepted tensor must lie inside the image with the size its type
 * and shape give; every accessor must stay inside the image. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"
#include "model/gguf_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void touch(const uint8_t *data, size_t size, const void *p, uint64_t n) {
    const uint8_t *q = p;
    if (n == 0) return;
    if (q < data || n > size || q + n > data + size) abort();
    volatile uint8_t sink = q[0] ^ q[n - 1];
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    inf__gguf *g = NULL;
    inf__err err;
    if (inf__gguf_parse_mem(data, size, "fuzz", &g, &err) != INF_OK) {
        if (g || err.msg[0] == '\0') abort(); /* errors always explain */
        return 0;
    }
    for (size_t i = 0; i < inf__gguf_tensor_count(g); i++) {
        const inf__gguf_tensor *t = inf__gguf_tensor_at(g, i);
        int64_t be = inf__ggml_block_elems(t->type), bb = inf__ggml_block_bytes(t->type);
        if (!be || t->ne[0] % be) abort();
        unsigned __int128 n = (unsigned __int128)(t->ne[0] / be) * (uint64_t)bb;
        for (int d = 1; d < 4; d++) n *= (uint64_t)t->ne[d];
        if (n != t->nbytes) abort();
        touch(data, size, t->data, t->nbytes);
        if (inf__gguf_tensor_find(g, t->name) != t) abort();
    }
    for (size_t i = 0; i < inf__gguf_kv_count(g); i++) {
        const inf__gguf_kv *kv = inf__gguf_kv_at(g, i);
        if (inf__gguf_find(g, kv->key) != kv) abort();
        if (kv->type == INF__GGUF_STRING) touch(data, size, kv->str.s, kv->str.n);
        if (kv->type == INF__GGUF_ARRAY) {
            for (uint64_t j = 0; j < kv->arr_n && j < 64; j++) {
                if (kv->strs) touch(data, size, kv->strs[j].s, kv->strs[j].n);
                (void)inf__gguf_arr_int(kv, j);
                (void)inf__gguf_arr_float(kv, j);
            }
        }
    }
    inf__hfconfig c;
    if (inf__gguf_config(g, &c, &err) == INF_OK) {
        inf__model_desc d = c.desc;
        (void)inf__gguf_bind(g, &d, &err);
        inf__hfconfig_free(&c);
    }
    char mix[128];
    inf__gguf_type_mix(g, mix, sizeof mix);
    inf__gguf_free(g);
    return 0;
}
