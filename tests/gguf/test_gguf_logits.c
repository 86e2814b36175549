/* GGUF conversions of the tiny models (made at test set-up by
 * scripts/hf-to-gguf.py, see CMakeLists.txt) against the same models read
 * from safetensors: the logits at every position of a fixed id sequence,
 * through the engine and the cpu backend, agree within a tolerance.  This
 * checks the whole mapping: metadata -> description, tensor names and
 * shapes, the converter's Q/K permutation against RoPE on adjacent pairs
 * (llama), the norms with 1 added (gemma3), Llama 3's rope_freqs, split
 * files.
 *
 *   test_gguf_logits GGUF_DIR CASE...     CASE = fixture:file[:tolerance]
 *
 * e.g. qwen3-bf16:qwen3-bf16-f32.gguf:1e-3.  The tiny models have no
 * tokenizer: both are opened with INF__ENGINE_NO_TOKENIZER_OK. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu.h"
#include "engine/engine.h"
#include "testutil.h"

static float *run(const char *path, const int32_t *ids, size_t n, int32_t *vocab) {
    const inf_model_ops *ops = NULL;
    void *model = NULL;
    char *err = NULL;
    int rc = inf__engine_open(path, NULL, &inf__cpu_compute, INF__ENGINE_NO_TOKENIZER_OK, &ops,
                              &model, &err);
    CHECK_MSG(rc == INF_OK, "open %s: %s", path, err ? err : "");
    free(err);
    err = NULL;
    if (rc) return NULL;
    inf_model_info info;
    ops->info(model, &info);
    *vocab = info.vocab_size;
    float *lg = malloc(n * (size_t)info.vocab_size * sizeof *lg);
    rc = lg ? ops->logits(model, ids, n, lg, &err) : INF_E_NOMEM;
    CHECK_MSG(rc == INF_OK, "logits %s: %s", path, err ? err : "");
    free(err);
    ops->close(model);
    if (rc) {
        free(lg);
        return NULL;
    }
    return lg;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s GGUF_DIR fixture:file[:tol]...\n", argv[0]);
        return 2;
    }
    static const int32_t ids[] = {1, 17, 300, 42, 5, 99, 250, 7, 3, 128, 64, 200, 11, 400, 2, 33};
    const size_t n = sizeof ids / sizeof ids[0];
    for (int a = 2; a < argc; a++) {
        char spec[512], st[1024], gg[1024];
        snprintf(spec, sizeof spec, "%s", argv[a]);
        char *file = strchr(spec, ':');
        if (!file) continue;
        *file++ = 0;
        char *tols = strchr(file, ':');
        double tol = 1e-3;
        if (tols) {
            *tols++ = 0;
            tol = atof(tols);
        }
        snprintf(st, sizeof st, "%s/tiny/%s", INF_FIXTURES, spec);
        snprintf(gg, sizeof gg, "%s/%s", argv[1], file);
        int32_t v1 = 0, v2 = 0;
        float *ref = run(st, ids, n, &v1);
        float *got = run(gg, ids, n, &v2);
        CHECK_EQ_INT(v1, v2);
        if (ref && got && v1 == v2) {
            double md = 0;
            for (size_t i = 0; i < n * (size_t)v1; i++) {
                double d = fabs((double)ref[i] - got[i]);
                if (!(d <= md)) md = d;
            }
            CHECK_MSG(md <= tol, "%s vs %s: logits max |diff| %g > %g", spec, file, md, tol);
            printf("  %-20s %-32s max |diff| %.3g (tolerance %g)\n", spec, file, md, tol);
        }
        free(ref);
        free(got);
    }
    return tu_summary("test_gguf_logits");
}
