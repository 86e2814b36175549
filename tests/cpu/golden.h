/* Helpers shared by the cpu golden tests: reading golden.json/logits.f32
 * and running batches through a compute backend. */
#ifndef INF_TESTS_CPU_GOLDEN_H
#define INF_TESTS_CPU_GOLDEN_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine/compute.h"
#include "model/model.h"

/* JSON int array -> malloc'd int32 array; *n its length. */
static inline int32_t *g_ints(json_t *a, int *n) {
    *n = (int)json_array_size(a);
    int32_t *v = malloc((size_t)(*n + 1) * sizeof *v);
    for (int i = 0; i < *n; i++) v[i] = (int32_t)json_integer_value(json_array_get(a, (size_t)i));
    return v;
}

/* Index of the largest value in v[n]. */
static inline int g_argmax(const float *v, int n) {
    int b = 0;
    for (int i = 1; i < n; i++) if (v[i] > v[b]) b = i;
    return b;
}

/* Opens the bundled model models/NAME of the source tree.  Returns its
 * files (free with inf__model_files_free) and *d, or NULL with *e. */
static inline inf__model_files *g_open_bundled(const char *name, inf__model_desc *d, inf__err *e) {
    char path[1024];
    snprintf(path, sizeof path, "%s/models/%s", INF_SOURCE_DIR, name);
    inf__model_files *f = NULL;
    return inf__model_open(path, NULL, d, &f, e) == INF_OK ? f : NULL;
}

/* Runs one forward: tokens with their slots and positions (want all rows
 * when want == NULL); logits out [rows wanted, vocab]. Returns the status. */
static inline int g_forward(const inf__compute_ops *ops, void *ctx, int n, const int32_t *tok,
                            const int32_t *pos, const int32_t *slot, const uint8_t *want,
                            float *logits, inf__err *err) {
    uint8_t *w = NULL;
    if (!want) {
        w = malloc((size_t)n + 1);
        for (int i = 0; i < n; i++) w[i] = 1;
    }
    inf__batch b = {n, tok, pos, slot, want ? want : w, logits, NULL};
    int rc = ops->forward(ctx, &b, err);
    free(w);
    return rc;
}

#endif
