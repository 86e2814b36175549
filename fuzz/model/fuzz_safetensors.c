/* libFuzzer: the safetensors header parser on arbitrary file images.  Every
 * accepted tensor must lie inside the image and agree with its dtype/shape. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    inf__st_header *h = NULL;
    inf__err err;
    if (inf__st_parse_mem(data, size, "fuzz", &h, &err) != INF_OK) {
        if (h || err.msg[0] == '\0') abort(); /* errors always explain */
        return 0;
    }
    for (size_t i = 0; i < h->n; i++) {
        const inf__tensor *t = &h->tensors[i];
        const uint8_t *p = t->data;
        if (p < data || p + t->nbytes > data + size) abort();
        size_t n = inf__dtype_size(t->dtype);
        for (int d = 0; d < t->ndim; d++) n *= (size_t)t->shape[d];
        if (n != t->nbytes) abort();
        if (t->nbytes) {
            volatile uint8_t sink = p[0] ^ p[t->nbytes - 1]; /* touch both ends */
            (void)sink;
        }
    }
    inf__st_header_free(h);
    return 0;
}
