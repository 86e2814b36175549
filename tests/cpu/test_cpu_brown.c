/* The bundled brown-llama-8m model (bf16, mlx8, mlx4) against
 * tests/fixtures/golden/brown.json:
 *  - perplexity over ppl_ids (non-overlapping 256-token windows, NLL of
 *    positions 1..255 of each) within 0.5% of the reference (fast kernels;
 *    several windows per forward in separate slots);
 *  - for each of the 4 prompts: the top-10 next-token ids equal and their
 *    logits within 2e-3, and the 40 greedy tokens (through the KV cache)
 *    equal, with both kernel sets. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu.h"
#include "golden.h"
#include "testutil.h"

#define WIN 256
/* 3 windows = 768 rows: the backend splits it into passes of 512, with a
 * window boundary inside the second pass. */
#define WINS_PER_PASS 3

static void *init_ctx(const inf__model_desc *d, int reference, int n_slots, int ctxlen) {
    unsetenv("INF_CPU_KERNELS");
    if (reference) setenv("INF_CPU_REFERENCE", "1", 1);
    else unsetenv("INF_CPU_REFERENCE");
    inf__compute_params p = {n_slots, ctxlen, 0, -1, 0, 0, INF_PRECISION_EXACT, 0};
    void *ctx = NULL;
    inf__err e;
    int rc = inf__cpu_compute.init(d, &p, &ctx, &e);
    CHECK_MSG(rc == INF_OK, "init: %s", e.msg);
    return ctx;
}

static double perplexity(const inf__model_desc *d, const int32_t *ids, int n) {
    void *ctx = init_ctx(d, 0, WINS_PER_PASS, WIN);
    if (!ctx) return NAN;
    const int V = d->vocab_size, nwin = n / WIN;
    float *lg = malloc((size_t)WINS_PER_PASS * WIN * V * 4);
    int32_t pos[WINS_PER_PASS * WIN], slot[WINS_PER_PASS * WIN];
    double nll = 0;
    long count = 0;
    inf__err e;
    for (int w0 = 0; w0 < nwin; w0 += WINS_PER_PASS) {
        int nw = nwin - w0 < WINS_PER_PASS ? nwin - w0 : WINS_PER_PASS;
        for (int s = 0; s < nw; s++) {
            inf__cpu_compute.seq_reset(ctx, s);
            for (int i = 0; i < WIN; i++) { pos[s * WIN + i] = i; slot[s * WIN + i] = s; }
        }
        int rc = g_forward(&inf__cpu_compute, ctx, nw * WIN, ids + (size_t)w0 * WIN, pos, slot, NULL, lg, &e);
        if (rc) { CHECK_MSG(0, "ppl forward: %s", e.msg); break; }
        for (int s = 0; s < nw; s++)
            for (int i = 1; i < WIN; i++) {
                const float *row = lg + ((size_t)s * WIN + i - 1) * V;
                float mx = row[0];
                double sum = 0;
                for (int v = 1; v < V; v++) mx = row[v] > mx ? row[v] : mx;
                for (int v = 0; v < V; v++) sum += expf(row[v] - mx);
                nll += mx + log(sum) - row[ids[(size_t)(w0 + s) * WIN + i]];
                count++;
            }
    }
    free(lg);
    inf__cpu_compute.free(ctx);
    return exp(nll / (double)count);
}

static void test_prompt(const char *variant, const inf__model_desc *d, json_t *pr, int reference) {
    int np, ng, nt;
    int32_t *ids = g_ints(json_object_get(pr, "prompt_ids"), &np);
    int32_t *greedy = g_ints(json_object_get(pr, "greedy_ids"), &ng);
    int32_t *top = g_ints(json_object_get(pr, "top10_ids"), &nt);
    json_t *toplg = json_object_get(pr, "top10_logits");
    void *ctx = init_ctx(d, reference, 1, 128);
    const int V = d->vocab_size;
    float *lg = malloc((size_t)np * V * 4);
    int32_t pos[128], slot[128] = {0};
    for (int i = 0; i < 128; i++) pos[i] = i;
    inf__err e;
    int rc = ctx ? g_forward(&inf__cpu_compute, ctx, np, ids, pos, slot, NULL, lg, &e) : -1;
    CHECK_MSG(rc == INF_OK, "prompt forward: %s", e.msg);
    if (rc == INF_OK) {
        const float *last = lg + (size_t)(np - 1) * V;
        /* Our top 10 by selection. */
        int mine[10];
        double maxd = 0;
        for (int k = 0; k < 10; k++) {
            int b = -1;
            for (int v = 0; v < V; v++) {
                int used = 0;
                for (int j = 0; j < k; j++) used |= mine[j] == v;
                if (!used && (b < 0 || last[v] > last[b])) b = v;
            }
            mine[k] = b;
        }
        int same = nt == 10;
        for (int k = 0; k < nt && k < 10; k++) {
            same &= mine[k] == top[k];
            maxd = fmax(maxd, fabs(last[top[k]] - json_real_value(json_array_get(toplg, (size_t)k))));
        }
        CHECK_MSG(same, "%s \"%s\": top-10 ids differ", variant, json_string_value(json_object_get(pr, "prompt")));
        CHECK_MSG(maxd < 2e-3, "%s top-10 logits off by %g", variant, maxd);
        int tok = g_argmax(last, V), match = 0;
        for (int i = 0; i < ng; i++) {
            if (tok != greedy[i]) break;
            match++;
            int32_t p = np + i, s = 0;
            if (g_forward(&inf__cpu_compute, ctx, 1, &tok, &p, &s, NULL, lg, &e) != INF_OK) break;
            tok = g_argmax(lg, V);
        }
        printf("  %-5s %-9s \"%s\": top-10 %s (max|d| %.1e), greedy %d/%d equal\n", variant,
               inf__cpu_kernels_name(ctx), json_string_value(json_object_get(pr, "prompt")),
               same ? "equal" : "DIFFER", maxd, match, ng);
        CHECK_MSG(match == ng, "%s greedy: %d of %d equal", variant, match, ng);
    }
    free(lg); free(ids); free(greedy); free(top);
    inf__cpu_compute.free(ctx);
}

int main(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/golden/brown.json", INF_FIXTURES);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    CHECK_MSG(j != NULL, "%s: %s", path, je.text);
    if (!j) return tu_summary("test_cpu_brown");
    json_t *ppl = json_object_get(j, "perplexity");
    int n_ids;
    int32_t *ids = g_ints(json_object_get(ppl, "ppl_ids"), &n_ids);
    CHECK(n_ids >= WIN);
    static const char *variants[][2] = {
        {"bf16", "brown-llama-8m"}, {"mlx8", "brown-llama-8m-mlx8"}, {"mlx4", "brown-llama-8m-mlx4"}};
    for (int v = 0; v < 3; v++) {
        inf__model_desc d;
        inf__err e;
        inf__model_files *f = g_open_bundled(variants[v][1], &d, &e);
        if (!f) {
            CHECK_MSG(0, "%s: %s", variants[v][1], e.msg);
            continue;
        }
        double want = json_real_value(json_object_get(ppl, variants[v][0]));
        double got = perplexity(&d, ids, n_ids);
        printf("  %-5s perplexity %.3f, reference %.3f (%+.3f%%)\n", variants[v][0], got, want,
               100 * (got - want) / want);
        CHECK_MSG(fabs(got - want) / want < 0.005, "%s perplexity %g vs %g", variants[v][0], got, want);
        json_t *prompts = json_object_get(j, "prompts");
        for (size_t i = 0; i < json_array_size(prompts); i++) {
            json_t *pr = json_array_get(prompts, i);
            if (strcmp(json_string_value(json_object_get(pr, "weights")), variants[v][0]) != 0) continue;
            test_prompt(variants[v][0], &d, pr, 1);
            test_prompt(variants[v][0], &d, pr, 0);
        }
        inf__model_files_free(f);
    }
    free(ids);
    json_decref(j);
    return tu_summary("test_cpu_brown");
}
