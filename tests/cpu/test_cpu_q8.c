/* The opt-in avx2q8 kernel set (int8 activations in one-token MLX
 * products) on the bundled brown-llama-8m mlx8 and mlx4 models.  Its
 * numerics differ from the exact kernels, so this test has its own,
 * documented tolerances instead of the golden ones:
 *  - decode perplexity (one token per forward, the path avx2q8 changes)
 *    over the first Q8_WINS 256-token windows of the brown ppl_ids: within
 *    0.5% of the same measurement with the exact kernels;
 *  - per decode step, logits max |d| against the exact kernels fed the
 *    same tokens (asserted < 1.0; 0.42 mlx8 and 0.44 mlx4 observed over
 *    2040 steps, far beyond the golden 1e-3, hence this separate test) and
 *    argmax agreement (asserted >= 95% of the steps; ~98% observed);
 *  - greedy agreement with the reference greedy_ids of each prompt
 *    (reported: tokens equal until the first difference).
 * Skipped (passes with a note) on processors without AVX2.
 * The opt-in avx512bf16 set (bf16 activations in BF16 prefill) on the
 * bf16 brown model: prefill perplexity over the same windows within 0.5% of
 * the exact kernels, logits max |d| (asserted < 1.0) and argmax agreement
 * (>= 95%) reported; skipped without AVX512_BF16. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu.h"
#include "backends/cpu/kernels.h"
#include "golden.h"
#include "testutil.h"

#define WIN 256
#define Q8_WINS 8

static void *init_ctx(const inf__model_desc *d, const char *kernels) {
    unsetenv("INF_CPU_REFERENCE");
    setenv("INF_CPU_KERNELS", kernels, 1);
    inf__compute_params p = {1, WIN, 0, -1, 0, 0};
    void *ctx = NULL;
    inf__err e;
    int rc = inf__cpu_compute.init(d, &p, &ctx, &e);
    CHECK_MSG(rc == INF_OK, "init: %s", e.msg);
    return ctx;
}

static double nll_of(const float *row, int V, int tok) {
    float mx = row[0];
    double sum = 0;
    for (int v = 1; v < V; v++) mx = row[v] > mx ? row[v] : mx;
    for (int v = 0; v < V; v++) sum += expf(row[v] - mx);
    return mx + log(sum) - row[tok];
}

/* Decode perplexity of both sets in lockstep over the windows. */
static void decode_ppl(const char *variant, const inf__model_desc *d, const int32_t *ids) {
    void *cx = init_ctx(d, ""), *cq = init_ctx(d, "avx2q8");
    if (!cx || !cq) goto out;
    const int V = d->vocab_size;
    float *lx = malloc((size_t)V * 4), *lq = malloc((size_t)V * 4);
    double nx = 0, nq = 0, maxd = 0;
    long count = 0, agree = 0;
    inf__err e;
    for (int w = 0; w < Q8_WINS; w++) {
        inf__cpu_compute.seq_reset(cx, 0);
        inf__cpu_compute.seq_reset(cq, 0);
        for (int i = 0; i < WIN - 1; i++) {
            const int32_t tok = ids[w * WIN + i], pos = i, slot = 0;
            if (g_forward(&inf__cpu_compute, cx, 1, &tok, &pos, &slot, NULL, lx, &e) != INF_OK ||
                g_forward(&inf__cpu_compute, cq, 1, &tok, &pos, &slot, NULL, lq, &e) != INF_OK) {
                CHECK_MSG(0, "forward: %s", e.msg);
                goto done;
            }
            const int next = ids[w * WIN + i + 1];
            nx += nll_of(lx, V, next);
            nq += nll_of(lq, V, next);
            for (int v = 0; v < V; v++) maxd = fmax(maxd, fabs(lx[v] - lq[v]));
            agree += g_argmax(lx, V) == g_argmax(lq, V);
            count++;
        }
    }
    const double px = exp(nx / count), pq = exp(nq / count);
    printf("  %-5s decode perplexity (%d windows): exact %s %.3f, avx2q8 %.3f (%+.3f%%); logits max|d| %.3g; "
           "argmax agree %ld/%ld\n",
           variant, Q8_WINS, inf__cpu_kernels_name(cx), px, pq, 100 * (pq - px) / px, maxd, agree, count);
    CHECK_MSG(fabs(pq - px) / px < 0.005, "%s avx2q8 perplexity %g vs %g", variant, pq, px);
    CHECK_MSG(maxd < 1.0, "%s avx2q8 logits off by %g", variant, maxd);
    CHECK_MSG(agree >= count * 95 / 100, "%s avx2q8 argmax agrees %ld/%ld", variant, agree, count);
done:
    free(lx);
    free(lq);
out:
    inf__cpu_compute.free(cx);
    inf__cpu_compute.free(cq);
}

/* Prefill perplexity (whole windows in one forward, the path avx512bf16
 * changes) of the exact and avx512bf16 sets. */
static void prefill_ppl_bf16(const inf__model_desc *d, const int32_t *ids) {
    void *cx = init_ctx(d, ""), *cb = init_ctx(d, "avx512bf16");
    const int V = d->vocab_size, n = WIN - 1;
    float *lx = malloc((size_t)n * V * 4), *lb = malloc((size_t)n * V * 4);
    int32_t pos[WIN], slot[WIN] = {0};
    for (int i = 0; i < WIN; i++) pos[i] = i;
    double nx = 0, nb = 0, maxd = 0;
    long count = 0, agree = 0;
    inf__err e;
    for (int w = 0; cx && cb && w < Q8_WINS; w++) {
        inf__cpu_compute.seq_reset(cx, 0);
        inf__cpu_compute.seq_reset(cb, 0);
        if (g_forward(&inf__cpu_compute, cx, n, ids + w * WIN, pos, slot, NULL, lx, &e) != INF_OK ||
            g_forward(&inf__cpu_compute, cb, n, ids + w * WIN, pos, slot, NULL, lb, &e) != INF_OK) {
            CHECK_MSG(0, "forward: %s", e.msg);
            break;
        }
        for (int i = 0; i < n; i++) {
            const float *rx = lx + (size_t)i * V, *rb = lb + (size_t)i * V;
            nx += nll_of(rx, V, ids[w * WIN + i + 1]);
            nb += nll_of(rb, V, ids[w * WIN + i + 1]);
            for (int v = 0; v < V; v++) maxd = fmax(maxd, fabs(rx[v] - rb[v]));
            agree += g_argmax(rx, V) == g_argmax(rb, V);
            count++;
        }
    }
    if (count > 0) {
        const double px = exp(nx / count), pb = exp(nb / count);
        printf("  bf16  prefill perplexity (%d windows): exact %s %.3f, avx512bf16 %.3f (%+.3f%%); "
               "logits max|d| %.3g; argmax agree %ld/%ld\n",
               Q8_WINS, inf__cpu_kernels_name(cx), px, pb, 100 * (pb - px) / px, maxd, agree, count);
        CHECK_MSG(fabs(pb - px) / px < 0.005, "avx512bf16 perplexity %g vs %g", pb, px);
        CHECK_MSG(maxd < 1.0, "avx512bf16 logits off by %g", maxd);
        CHECK_MSG(agree >= count * 95 / 100, "avx512bf16 argmax agrees %ld/%ld", agree, count);
    }
    free(lx);
    free(lb);
    inf__cpu_compute.free(cx);
    inf__cpu_compute.free(cb);
}

/* Free-running greedy decode with avx2q8 against the reference ids. */
static void greedy(const char *variant, const inf__model_desc *d, json_t *pr) {
    int np, ng;
    int32_t *ids = g_ints(json_object_get(pr, "prompt_ids"), &np);
    int32_t *want = g_ints(json_object_get(pr, "greedy_ids"), &ng);
    void *ctx = init_ctx(d, "avx2q8");
    const int V = d->vocab_size;
    float *lg = malloc((size_t)np * V * 4);
    int32_t pos[64], slot[64] = {0};
    for (int i = 0; i < 64; i++) pos[i] = i;
    inf__err e;
    int match = 0;
    if (ctx && np <= 64 && g_forward(&inf__cpu_compute, ctx, np, ids, pos, slot, NULL, lg, &e) == INF_OK) {
        int tok = g_argmax(lg + (size_t)(np - 1) * V, V);
        for (int i = 0; i < ng && tok == want[i]; i++) {
            match++;
            int32_t p = np + i, s = 0;
            if (g_forward(&inf__cpu_compute, ctx, 1, &tok, &p, &s, NULL, lg, &e) != INF_OK) break;
            tok = g_argmax(lg, V);
        }
    }
    printf("  %-5s avx2q8 \"%s\": greedy %d/%d equal to the reference\n", variant,
           json_string_value(json_object_get(pr, "prompt")), match, ng);
    free(lg); free(ids); free(want);
    inf__cpu_compute.free(ctx);
}

int main(void) {
    if (!inf__cpu_kernels_avx2q8()) {
        printf("avx2q8 not available on this processor: nothing to test\n");
        return tu_summary("test_cpu_q8");
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/golden/brown.json", INF_FIXTURES);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    CHECK_MSG(j != NULL, "%s: %s", path, je.text);
    if (!j) return tu_summary("test_cpu_q8");
    int n_ids;
    int32_t *ids = g_ints(json_object_get(json_object_get(j, "perplexity"), "ppl_ids"), &n_ids);
    CHECK(n_ids >= Q8_WINS * WIN);
    static const char *variants[][2] = {{"mlx8", "brown-llama-8m-mlx8"}, {"mlx4", "brown-llama-8m-mlx4"}};
    for (int v = 0; v < 2 && n_ids >= Q8_WINS * WIN; v++) {
        inf__model_desc d;
        inf__err e;
        inf__model_files *f = g_open_bundled(variants[v][1], &d, &e);
        if (!f) {
            CHECK_MSG(0, "%s: %s", variants[v][1], e.msg);
            continue;
        }
        decode_ppl(variants[v][0], &d, ids);
        json_t *prompts = json_object_get(j, "prompts");
        for (size_t i = 0; i < json_array_size(prompts); i++) {
            json_t *pr = json_array_get(prompts, i);
            if (strcmp(json_string_value(json_object_get(pr, "weights")), variants[v][0]) == 0)
                greedy(variants[v][0], &d, pr);
        }
        inf__model_files_free(f);
    }
    if (n_ids >= Q8_WINS * WIN && inf__cpu_kernels_avx512bf16()) {
        inf__model_desc d;
        inf__err e;
        inf__model_files *f = g_open_bundled("brown-llama-8m", &d, &e);
        CHECK_MSG(f != NULL, "brown-llama-8m: %s", f ? "" : e.msg);
        if (f) prefill_ppl_bf16(&d, ids);
        inf__model_files_free(f);
    } else {
        printf("  avx512bf16 not available on this processor: bf16 prefill not tested\n");
    }
    free(ids);
    json_decref(j);
    return tu_summary("test_cpu_q8");
}
