/* The cpu forward pass against the transformers goldens of the 12 tiny
 * models (tests/fixtures/golden/models), with the reference kernels and
 * the fast ones:
 *  - logits at every position of input_ids within 1e-3 (max diff printed);
 *  - 20 greedy tokens through the KV cache (prefill, then one token per
 *    forward) equal to the golden ones up to the first step whose margin is
 *    below 1e-2;
 *  - several slots with mixed-length prompts and interleaved decode in one
 *    forward give the same logits (1e-4) as each sequence alone;
 *  - seq_reset, memory(), and the errors of malformed batches. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu.h"
#include "backends/cpu/kernels.h"
#include "golden.h"
#include "testutil.h"

static const char *models[] = {
    "llama-f32", "llama-bf16-tied", "llama3rope-bf16", "qwen2-bf16",
    "qwen3-bf16", "qwen3-f16-sharded", "gemma3-bf16-swa", "mistral-bf16-swa",
    "qwen3-mlx4-g32", "llama-mlx8-g64", "gemma3-mlx4-g32", "qwen3-small-bf16",
};

typedef struct golden {
    int32_t *ids, *greedy;
    int n_ids, n_greedy, T, V;
    double *margin;
    float *logits; /* [T, V] */
} golden;

static int load_golden(const char *name, golden *g) {
    char path[1024];
    memset(g, 0, sizeof *g);
    snprintf(path, sizeof path, "%s/golden/models/%s/golden.json", INF_FIXTURES, name);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) { fprintf(stderr, "%s: %s\n", path, je.text); return -1; }
    g->ids = g_ints(json_object_get(j, "input_ids"), &g->n_ids);
    g->greedy = g_ints(json_object_get(j, "greedy"), &g->n_greedy);
    json_t *m = json_object_get(j, "greedy_margin");
    g->margin = malloc(json_array_size(m) * sizeof(double) + 8);
    for (size_t i = 0; i < json_array_size(m); i++) g->margin[i] = json_real_value(json_array_get(m, i));
    json_t *sh = json_object_get(j, "logits_shape");
    g->T = (int)json_integer_value(json_array_get(sh, 0));
    g->V = (int)json_integer_value(json_array_get(sh, 1));
    json_decref(j);
    snprintf(path, sizeof path, "%s/golden/models/%s/logits.f32", INF_FIXTURES, name);
    size_t len = 0;
    g->logits = (float *)tu_read_file(path, &len);
    if (!g->logits || len != (size_t)g->T * g->V * 4) return -1;
    return 0;
}

static void free_golden(golden *g) {
    free(g->ids); free(g->greedy); free(g->margin); free(g->logits);
}

/* kernels: "reference", "avx2", "avx512" or NULL (the default choice). */
static void *init_ctx(const inf__model_desc *d, const char *kernels, int n_slots, int ctxlen) {
    if (kernels) setenv("INF_CPU_KERNELS", kernels, 1);
    else unsetenv("INF_CPU_KERNELS");
    inf__compute_params p = {n_slots, ctxlen, 2, -1, 0, 0, INF_PRECISION_EXACT, 0};
    void *ctx = NULL;
    inf__err e;
    int rc = inf__cpu_compute.init(d, &p, &ctx, &e);
    CHECK_MSG(rc == INF_OK, "init: %s", e.msg);
    return ctx;
}

/* Logits at every position and the greedy continuation through the cache. */
static void test_logits_and_greedy(const char *name, const inf__model_desc *d, const golden *g,
                                   const char *kernels) {
    void *ctx = init_ctx(d, kernels, 2, 128);
    if (!ctx) return;
    const int T = g->n_ids, V = g->V;
    CHECK_EQ_INT(d->vocab_size, V);
    float *lg = malloc((size_t)T * V * 4);
    int32_t *pos = malloc((size_t)T * 4), *slot = malloc((size_t)T * 4);
    for (int i = 0; i < T; i++) { pos[i] = i; slot[i] = 1; }
    inf__err e;
    int rc = g_forward(&inf__cpu_compute, ctx, T, g->ids, pos, slot, NULL, lg, &e);
    CHECK_MSG(rc == INF_OK, "%s forward: %s", name, e.msg);
    double maxd = 0;
    int argmax_agree = 0;
    for (int t = 0; t < T; t++) {
        for (int v = 0; v < V; v++) maxd = fmax(maxd, fabs(lg[(size_t)t * V + v] - g->logits[(size_t)t * V + v]));
        argmax_agree += g_argmax(lg + (size_t)t * V, V) == g_argmax(g->logits + (size_t)t * V, V);
    }
    /* Greedy: argmax of the last prompt row, then one token per forward. */
    int first_low = g->n_greedy;
    for (int i = 0; i < g->n_greedy; i++) if (g->margin[i] < 1e-2) { first_low = i; break; }
    int tok = g_argmax(lg + (size_t)(T - 1) * V, V), match = 0;
    for (int i = 0; i < g->n_greedy; i++) {
        if (i < first_low) { CHECK_MSG(tok == g->greedy[i], "%s greedy step %d: %d vs %d", name, i, tok, g->greedy[i]); }
        if (tok == g->greedy[i] && match == i) match++;
        if (i == g->n_greedy - 1) break;
        int32_t p = T + i, s = 1;
        rc = g_forward(&inf__cpu_compute, ctx, 1, &tok, &p, &s, NULL, lg, &e);
        if (rc) { CHECK_MSG(rc == INF_OK, "%s decode: %s", name, e.msg); break; }
        tok = g_argmax(lg, V);
    }
    printf("  %-18s %-9s max|d| %.2e  argmax agree %d/%d  greedy %2d/%d equal (checked %d)\n", name,
           inf__cpu_kernels_name(ctx), maxd, argmax_agree, T, match, g->n_greedy, first_low);
    CHECK_MSG(maxd < 1e-3, "%s logits off by %g", name, maxd);
    int64_t act = 0, peak = 0;
    inf__cpu_compute.memory(ctx, &act, &peak);
    CHECK(act > 0 && peak >= act);
    free(lg); free(pos); free(slot);
    inf__cpu_compute.free(ctx);
}

/* The token that sequence s holds at position p (prompt, then decode). */
#define NSEQ 4
static const int plen[NSEQ] = {12, 7, 9, 9};
static int32_t seq_tok(const golden *g, int s, int p) {
    return g->ids[(s * 5 + p) % g->n_ids];
}

/* Several sequences at different positions in one batch == each alone. */
static void test_batching(const char *name, const inf__model_desc *d, const golden *g) {
    const int V = d->vocab_size, NDEC = 4;
    /* Alone: prompt in one forward, then NDEC single-token decodes; keep
     * the logits of every position. */
    float *alone[NSEQ];
    void *ctx = init_ctx(d, NULL, 1, 64);
    if (!ctx) return;
    inf__err e;
    for (int s = 0; s < NSEQ; s++) {
        int n = plen[s] + NDEC;
        alone[s] = malloc((size_t)n * V * 4);
        int32_t tok[32], pos[32], slot[32];
        for (int p = 0; p < n; p++) { tok[p] = seq_tok(g, s, p); pos[p] = p; slot[p] = 0; }
        inf__cpu_compute.seq_reset(ctx, 0);
        CHECK(g_forward(&inf__cpu_compute, ctx, plen[s], tok, pos, slot, NULL, alone[s], &e) == INF_OK);
        for (int p = plen[s]; p < n; p++)
            CHECK(g_forward(&inf__cpu_compute, ctx, 1, tok + p, pos + p, slot + p, NULL,
                            alone[s] + (size_t)p * V, &e) == INF_OK);
    }
    inf__cpu_compute.free(ctx);

    /* Together: a schedule of batches; each batch row is (seq, position).
     * Batch 1: seqs 0 and 1 prompts interleaved row by row.
     * Batch 2: decode 0 and 1, prompt of 2, first 5 of seq 3's prompt.
     * Batch 3: decode 0, 1, 2, the rest of seq 3's prompt.
     * Then decode everyone until each has its NDEC tokens. Only some rows
     * want logits (every other prompt row, all decode rows). */
    ctx = init_ctx(d, NULL, NSEQ, 64);
    if (!ctx) return;
    int next[NSEQ] = {0};
    int total[NSEQ];
    for (int s = 0; s < NSEQ; s++) total[s] = plen[s] + NDEC;
    double maxd = 0;
    int rows_checked = 0;
    for (int step = 0;; step++) {
        int32_t tok[64], pos[64], slot[64];
        uint8_t want[64];
        int n = 0, take[NSEQ] = {0};
        if (step == 0) { take[0] = plen[0]; take[1] = plen[1]; }
        else if (step == 1) { take[0] = 1; take[1] = 1; take[2] = plen[2]; take[3] = 5; }
        else if (step == 2) { take[0] = take[1] = take[2] = 1; take[3] = plen[3] - 5; }
        else for (int s = 0; s < NSEQ; s++) take[s] = next[s] < total[s];
        int any = 0;
        for (int s = 0; s < NSEQ; s++) any |= take[s] > 0;
        if (!any) break;
        /* Interleave: round-robin over sequences, one row each. */
        for (int more = 1; more;) {
            more = 0;
            for (int s = 0; s < NSEQ; s++) {
                if (take[s] <= 0) continue;
                int p = next[s]++;
                take[s]--;
                more |= take[s] > 0;
                tok[n] = seq_tok(g, s, p); pos[n] = p; slot[n] = s;
                want[n] = p >= plen[s] - 1 || p % 2 == 0;
                n++;
            }
        }
        int nw = 0;
        for (int i = 0; i < n; i++) nw += want[i];
        float *lg = malloc((size_t)nw * V * 4);
        int rc = g_forward(&inf__cpu_compute, ctx, n, tok, pos, slot, want, lg, &e);
        CHECK_MSG(rc == INF_OK, "%s batch step %d: %s", name, step, e.msg);
        for (int i = 0, j = 0; rc == INF_OK && i < n; i++) {
            if (!want[i]) continue;
            const float *a = alone[slot[i]] + (size_t)pos[i] * V, *b = lg + (size_t)j++ * V;
            for (int v = 0; v < V; v++) maxd = fmax(maxd, fabs(a[v] - b[v]));
            rows_checked++;
        }
        free(lg);
    }
    printf("  %-18s batched vs alone: %d rows, max|d| %.2e\n", name, rows_checked, maxd);
    CHECK_MSG(maxd < 1e-4, "%s batched differs by %g", name, maxd);
    for (int s = 0; s < NSEQ; s++) free(alone[s]);
    inf__cpu_compute.free(ctx);
}

/* Malformed batches fail with a message and leave the cache untouched. */
static void test_errors(const inf__model_desc *d, const golden *g) {
    void *ctx = init_ctx(d, NULL, 2, 16);
    if (!ctx) return;
    inf__err e;
    float *lg = malloc((size_t)d->vocab_size * 20 * 4);
    int32_t tok[2] = {g->ids[0], g->ids[1]}, pos[2] = {0, 1}, slot[2] = {0, 0};
    int32_t bad_pos[2] = {1, 2}, bad_slot[2] = {0, 2}, bad_tok[2] = {0, d->vocab_size};
    CHECK_EQ_INT(g_forward(&inf__cpu_compute, ctx, 2, tok, bad_pos, slot, NULL, lg, &e), INF_E_INVALID_ARGUMENT);
    CHECK(strstr(e.msg, "position") != NULL);
    CHECK_EQ_INT(g_forward(&inf__cpu_compute, ctx, 2, tok, pos, bad_slot, NULL, lg, &e), INF_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(g_forward(&inf__cpu_compute, ctx, 2, bad_tok, pos, slot, NULL, lg, &e), INF_E_INVALID_ARGUMENT);
    int32_t far[2] = {16, 17};
    CHECK_EQ_INT(g_forward(&inf__cpu_compute, ctx, 2, tok, far, slot, NULL, lg, &e), INF_E_CONTEXT_LENGTH);
    /* After the failures slot 0 is still empty: position 0 is accepted. */
    CHECK_EQ_INT(g_forward(&inf__cpu_compute, ctx, 2, tok, pos, slot, NULL, lg, &e), INF_OK);
    /* Repeating position 0 without a reset is refused; after reset it works
     * and gives the same logits. */
    float *lg2 = malloc((size_t)d->vocab_size * 2 * 4);
    CHECK_EQ_INT(g_forward(&inf__cpu_compute, ctx, 2, tok, pos, slot, NULL, lg2, &e), INF_E_INVALID_ARGUMENT);
    inf__cpu_compute.seq_reset(ctx, 0);
    CHECK_EQ_INT(g_forward(&inf__cpu_compute, ctx, 2, tok, pos, slot, NULL, lg2, &e), INF_OK);
    CHECK(memcmp(lg, lg2, (size_t)d->vocab_size * 2 * 4) == 0);
    /* The context is full at 16 positions. */
    int32_t t16[16], p16[16], s16[16];
    for (int i = 0; i < 16; i++) { t16[i] = g->ids[i % g->n_ids]; p16[i] = i; s16[i] = 1; }
    CHECK_EQ_INT(g_forward(&inf__cpu_compute, ctx, 16, t16, p16, s16, NULL, lg, &e), INF_OK);
    free(lg); free(lg2);
    inf__cpu_compute.free(ctx);
    inf__cpu_compute.free(NULL);
}

int main(int argc, char **argv) {
    const char *only = argc > 1 ? argv[1] : NULL;
    unsetenv("INF_CPU_REFERENCE");
    char why[64];
    CHECK(inf__cpu_compute.available(why, sizeof why) == 1);
    CHECK_EQ_STR(inf__cpu_compute.name, "cpu");
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        if (only && strcmp(only, models[m]) != 0) continue;
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/tiny/%s", INF_FIXTURES, models[m]);
        inf__model_desc d;
        inf__model_files *f = NULL;
        inf__err e;
        int rc = inf__model_open(dir, NULL, &d, &f, &e);
        CHECK_MSG(rc == INF_OK, "%s: %s", models[m], e.msg);
        golden g;
        if (rc || load_golden(models[m], &g) != 0) {
            CHECK_MSG(0, "%s: cannot load golden", models[m]);
            inf__model_files_free(f);
            continue;
        }
        /* Every kernel set this processor has. */
        test_logits_and_greedy(models[m], &d, &g, "reference");
        if (inf__cpu_kernels_avx2()) test_logits_and_greedy(models[m], &d, &g, "avx2");
        if (inf__cpu_kernels_avx512()) test_logits_and_greedy(models[m], &d, &g, "avx512");
        test_batching(models[m], &d, &g);
        if (m == 0) test_errors(&d, &g);
        free_golden(&g);
        inf__model_files_free(f);
    }
    return tu_summary("test_cpu_golden");
}
