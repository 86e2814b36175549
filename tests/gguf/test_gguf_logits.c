/* GGUF conversions of the tiny models (made at test set-up by
 * scripts/hf-to-gguf.py, see CMakeLists.txt) against the same models read
 * from safetensors: the logits at every position of a fixed id sequence,
 * through the engine and the cpu backend, agree within a tolerance.  This
 * checks the whole mapping: metadata -> description, tensor names and
 * shapes, the converter's Q/K permutation against RoPE on adjacent pairs
 * (llama), the norms with 1 added (gemma3), Llama 3's rope_freqs, split
 * files.
 *
 *   test_gguf_logits GGUF_DIR CASE...     CASE = reference:file[:tolerance]
 *
 * e.g. qwen3-bf16:qwen3-bf16-f32.gguf:1e-3.  The reference is GGUF_DIR/
 * reference when that exists (a model made at set-up, or the dequantised
 * F32 GGUF a quantised file is checked against: llama256-q4_k-deq.gguf:
 * llama256-q4_k.gguf), else the fixture tests/fixtures/tiny/reference.
 * The tiny models have no tokenizer: both are opened with
 * INF__ENGINE_NO_TOKENIZER_OK.
 *
 * Each model gives the logits of the whole sequence (16 tokens in one
 * step: the cpu backend's prefill path) and of its first 1, 2 and 4 tokens
 * as fresh sequences (the few-token path: for the ggml block formats, the
 * one-token kernels that compute on the blocks themselves, where prefill
 * unpacks them into float panels). */
#include <sys/stat.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu.h"
#include "engine/engine.h"
#include "testutil.h"

/* Lengths of the prefixes whose logits are compared (see above). */
static const size_t lens[] = {16, 1, 2, 4};
#define N_LENS (sizeof lens / sizeof lens[0])

/* The logits of ids[0..lens[k]) for every k, one after another. */
static float *run(const char *path, const int32_t *ids, size_t *rows, int32_t *vocab) {
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
    size_t total = 0;
    for (size_t k = 0; k < N_LENS; k++) total += lens[k];
    *rows = total;
    float *lg = malloc(total * (size_t)info.vocab_size * sizeof *lg);
    rc = lg ? INF_OK : INF_E_NOMEM;
    for (size_t k = 0, at = 0; k < N_LENS && rc == INF_OK; at += lens[k++]) {
        rc = ops->logits(model, ids, lens[k], lg + at * (size_t)info.vocab_size, &err);
        CHECK_MSG(rc == INF_OK, "logits %s (%zu tokens): %s", path, lens[k], err ? err : "");
        free(err);
        err = NULL;
    }
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
    size_t n = 0, n2 = 0;
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
        struct stat sb;
        snprintf(st, sizeof st, "%s/%s", argv[1], spec);
        if (stat(st, &sb) != 0) snprintf(st, sizeof st, "%s/tiny/%s", INF_FIXTURES, spec);
        snprintf(gg, sizeof gg, "%s/%s", argv[1], file);
        int32_t v1 = 0, v2 = 0;
        float *ref = run(st, ids, &n, &v1);
        float *got = run(gg, ids, &n2, &v2);
        CHECK_EQ_INT(v1, v2);
        if (ref && got && v1 == v2 && n == n2) {
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
