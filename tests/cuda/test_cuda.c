/* The cuda backend against the Hugging Face goldens and against the cpu
 * backend, through the public API.  Skips (exit 77) with the reason when
 * the backend is not built or no device is present.
 * Tolerances (issue #7): logits within 1e-2 of the cpu backend with bf16
 * GEMM activations, 1e-3 with INF_CUDA_EXACT=1 (f32 matvec everywhere);
 * greedy tokens equal up to the first step whose recorded margin < 1e-2;
 * brown perplexity within 0.5% of the reference.  Paged KV memory (prefix
 * reuse, copy-on-write of a shared block, eviction under a small pool):
 * first-token logits within the same tolerance of the cpu backend's. */
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "inference.h"
#include "testutil.h"

static const char *const tiny[] = {
    "llama-f32", "llama-bf16-tied", "llama3rope-bf16", "qwen2-bf16",
    "qwen3-bf16", "qwen3-f16-sharded", "gemma3-bf16-swa", "mistral-bf16-swa",
    "qwen3-mlx4-g32", "llama-mlx8-g64", "gemma3-mlx4-g32", "qwen3-small-bf16"};

/* kv_memory and slots: 0 keeps the default. */
static inf_model *load_kv(const char *dir, const char *backend, int64_t kv_memory, int32_t slots) {
    inf_load_options o;
    inf_load_options_default(&o);
    o.backend = backend;
    if (kv_memory > 0) o.kv_memory = kv_memory;
    if (slots > 0) o.parallel_slots = slots;
    inf_model *m = NULL;
    char *err = NULL;
    if (inf_model_load(dir, &o, &m, &err) != INF_OK) {
        fprintf(stderr, "load %s (%s): %s\n", dir, backend, err ? err : "?");
        inf_free(err);
        return NULL;
    }
    return m;
}

static inf_model *load(const char *dir, const char *backend) { return load_kv(dir, backend, 0, 0); }

static int32_t *json_ids(json_t *a, size_t *n) {
    *n = json_array_size(a);
    int32_t *ids = malloc(*n * sizeof *ids + 1);
    for (size_t i = 0; i < *n; i++) ids[i] = (int32_t)json_integer_value(json_array_get(a, i));
    return ids;
}

static void golden_model(const char *name, double tol) {
    char dir[512], gpath[512], lpath[512];
    snprintf(dir, sizeof dir, "%s/tiny/%s", INF_FIXTURES, name);
    snprintf(gpath, sizeof gpath, "%s/golden/models/%s/golden.json", INF_FIXTURES, name);
    snprintf(lpath, sizeof lpath, "%s/golden/models/%s/logits.f32", INF_FIXTURES, name);
    json_t *g = json_load_file(gpath, 0, NULL);
    size_t glen = 0;
    float *gold = (float *)tu_read_file(lpath, &glen);
    inf_model *cu = load(dir, "cuda"), *cpu = load(dir, "cpu");
    CHECK_MSG(g && gold && cu && cpu, "%s: fixtures or models missing", name);
    if (g && gold && cu && cpu) {
        size_t n;
        int32_t *ids = json_ids(json_object_get(g, "input_ids"), &n);
        float *lc = NULL, *lp = NULL;
        int32_t V = 0, V2 = 0;
        char *err = NULL;
        int rc = inf_model_logits(cu, ids, n, &lc, &V, &err);
        CHECK_MSG(rc == INF_OK, "%s: cuda logits: %s", name, err ? err : "");
        inf_free(err);
        err = NULL;
        rc = inf_model_logits(cpu, ids, n, &lp, &V2, &err);
        CHECK_MSG(rc == INF_OK, "%s: cpu logits: %s", name, err ? err : "");
        inf_free(err);
        if (lc && lp && V == V2 && glen == n * (size_t)V * sizeof(float)) {
            double dg = 0, dc = 0;
            for (size_t i = 0; i < n * (size_t)V; i++) {
                dg = fmax(dg, fabs(lc[i] - gold[i]));
                dc = fmax(dc, fabs(lc[i] - lp[i]));
            }
            printf("%-20s max|cuda-golden| %.2e  max|cuda-cpu| %.2e\n", name, dg, dc);
            CHECK_MSG(dg <= tol && dc <= tol, "%s: logits differ (%.3g, %.3g > %.3g)", name, dg, dc, tol);
        }
        inf_free(lc);
        inf_free(lp);
        /* Greedy through the engine, cached decode. */
        size_t ng;
        int32_t *greedy = json_ids(json_object_get(g, "greedy"), &ng);
        json_t *margin = json_object_get(g, "greedy_margin");
        inf_generate_options o;
        inf_generate_options_default(&o);
        o.prompt_ids = ids;
        o.n_prompt_ids = n;
        o.max_tokens = (int32_t)ng;
        o.ignore_eos = 1;
        inf_stream *s = NULL;
        if (inf_generate(cu, "", &o, &s) == INF_OK) {
            inf_token t;
            size_t k = 0;
            int same = 1;
            while (inf_stream_next(s, &t) == 1 && k < ng) {
                if (t.id < 0) continue;
                if (same && t.id != greedy[k]) same = 0;
                if (!same) break;
                if (json_real_value(json_array_get(margin, k)) < 1e-2) break;
                k++;
            }
            CHECK_MSG(same, "%s: greedy token %zu differs", name, k);
            inf_stream_close(&s);
        } else {
            CHECK_MSG(0, "%s: generate failed: %s", name, inf_model_errmsg(cu));
        }
        free(greedy);
        free(ids);
    }
    inf_model_close(&cu);
    inf_model_close(&cpu);
    free(gold);
    json_decref(g);
}

static void brown_ppl(const char *variant, const char *key) {
    char dir[512], gpath[512];
    snprintf(dir, sizeof dir, "%s/models/%s", INF_SOURCE_DIR, variant);
    snprintf(gpath, sizeof gpath, "%s/golden/brown.json", INF_FIXTURES);
    json_t *b = json_load_file(gpath, 0, NULL);
    inf_model *m = load(dir, "cuda");
    CHECK(b && m);
    if (b && m) {
        json_t *p = json_object_get(b, "perplexity");
        size_t n;
        int32_t *ids = json_ids(json_object_get(p, "ppl_ids"), &n);
        double ref = json_real_value(json_object_get(p, key)), nll = 0;
        size_t count = 0;
        for (size_t w = 0; w + 256 <= n; w += 256) {
            float *lg = NULL;
            int32_t V = 0;
            if (inf_model_logits(m, ids + w, 256, &lg, &V, NULL) != INF_OK) break;
            for (int i = 0; i < 255; i++) {
                const float *row = lg + (size_t)i * V;
                double mx = row[0], sum = 0;
                for (int v = 1; v < V; v++) mx = fmax(mx, row[v]);
                for (int v = 0; v < V; v++) sum += exp(row[v] - mx);
                nll += log(sum) + mx - row[ids[w + i + 1]];
                count++;
            }
            inf_free(lg);
        }
        double ppl = exp(nll / (double)(count ? count : 1));
        printf("brown %-6s ppl %.3f (reference %.3f, %.3f%%)\n", key, ppl, ref, 100 * fabs(ppl - ref) / ref);
        CHECK_MSG(fabs(ppl - ref) / ref <= 0.005, "%s: perplexity %.3f vs %.3f", key, ppl, ref);
        free(ids);
    }
    inf_model_close(&m);
    json_decref(b);
}

/* ---- paged KV memory on the device ---------------------------------------- */

/* One stream of 16 greedy tokens; keeps the first token's logits (those
 * of the prompt's last position). */
typedef struct pk_job {
    inf_model *m;
    int32_t ids[256];
    size_t n;
    float *logits;
    int32_t V;
    int rc, n_tok;
} pk_job;

static void *pk_run(void *arg) {
    pk_job *j = arg;
    inf_generate_options o;
    inf_generate_options_default(&o);
    o.prompt_ids = j->ids;
    o.n_prompt_ids = j->n;
    o.max_tokens = 16;
    o.ignore_eos = 1;
    o.return_logits = 1;
    inf_stream *s = NULL;
    j->rc = inf_generate(j->m, NULL, &o, &s);
    if (j->rc != INF_OK) return NULL;
    inf_token t;
    while (inf_stream_next(s, &t) == 1) {
        if (j->n_tok++ == 0 && t.logits && t.n_logits > 0) {
            j->V = t.n_logits;
            j->logits = malloc((size_t)t.n_logits * sizeof(float));
            if (j->logits) memcpy(j->logits, t.logits, (size_t)t.n_logits * sizeof(float));
        }
    }
    j->rc = inf_stream_err(s);
    inf_stream_close(&s);
    return NULL;
}

static double pk_diff(const pk_job *a, const pk_job *b) {
    if (!a->logits || !b->logits || a->V != b->V) return INFINITY;
    double d = 0;
    for (int32_t v = 0; v < a->V; v++) d = fmax(d, fabs(a->logits[v] - b->logits[v]));
    return d;
}

static void pk_ids(pk_job *j, uint64_t seed, size_t n) {
    uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        j->ids[i] = (int32_t)(10 + x % 1000);
    }
    j->n = n;
}

static void paged_kv(double tol) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/models/brown-llama-8m", INF_SOURCE_DIR);
    inf_model *cu = load_kv(dir, "cuda", 0, 4), *cpu = load_kv(dir, "cpu", 0, 1);
    CHECK_MSG(cu && cpu, "paged: models missing");
    if (!cu || !cpu) {
        inf_model_close(&cu);
        inf_model_close(&cpu);
        return;
    }
    /* a1: a fresh 200-token prompt; a2: the same again (6 blocks of 32
     * from the prefix cache); b: a1's first 64 tokens, both blocks cached:
     * its last prompt token is computed again, into the second block,
     * which the prefix index holds: copy-on-write of its other 31 rows. */
    static pk_job a1, a2, b, ra, rb;
    pk_ids(&a1, 1, 200);
    a2 = a1;
    b = a1;
    b.n = 64;
    ra = a1;
    rb = b;
    a1.m = a2.m = b.m = cu;
    ra.m = rb.m = cpu;
    pk_job *seq[] = {&a1, &a2, &b, &ra, &rb};
    for (int i = 0; i < 5; i++) pk_run(seq[i]);
    for (int i = 0; i < 5; i++) CHECK_MSG(seq[i]->rc == INF_OK && seq[i]->n_tok == 16, "paged: stream %d: rc %d, %d tokens", i, seq[i]->rc, seq[i]->n_tok);
    inf_metrics mm;
    inf_model_metrics(cu, &mm);
    const double d1 = pk_diff(&a1, &ra), d2 = pk_diff(&a2, &ra), d3 = pk_diff(&b, &rb);
    printf("paged: prefix hits %lld of %lld tokens; max|cuda-cpu| fresh %.2e, reused %.2e, copy-on-write %.2e\n",
           (long long)mm.prefix_hit_tokens, (long long)mm.prefix_lookup_tokens, d1, d2, d3);
    CHECK_MSG(mm.prefix_hit_tokens == 192 + 63, "paged: prefix hits %lld (expected a2's 192 and b's 63)",
              (long long)mm.prefix_hit_tokens);
    CHECK_MSG(d1 <= tol && d2 <= tol && d3 <= tol, "paged: logits differ from the cpu backend's");
    for (int i = 0; i < 5; i++) free(seq[i]->logits);
    inf_model_close(&cu);

    /* 8 concurrent streams of 216 positions in a pool of one context (1024
     * positions, 32 blocks): sequences are pushed back and recomputed. */
    const int64_t one_ctx = 1024LL * 6 * 2 * 64 * 4; /* brown: 6 layers, kv_dim 64, f32 */
    cu = load_kv(dir, "cuda", one_ctx, 8);
    CHECK_MSG(cu != NULL, "paged: load with kv_memory");
    if (cu) {
        static pk_job j[8], r[8];
        pthread_t th[8];
        for (int i = 0; i < 8; i++) {
            pk_ids(&j[i], 100 + (uint64_t)i, 200);
            r[i] = j[i];
            j[i].m = cu;
            r[i].m = cpu;
            pk_run(&r[i]);
        }
        for (int i = 0; i < 8; i++) pthread_create(&th[i], NULL, pk_run, &j[i]);
        for (int i = 0; i < 8; i++) pthread_join(th[i], NULL);
        double worst = 0;
        for (int i = 0; i < 8; i++) {
            CHECK_MSG(j[i].rc == INF_OK && j[i].n_tok == 16, "paged: pressure stream %d: rc %d, %d tokens", i, j[i].rc, j[i].n_tok);
            worst = fmax(worst, pk_diff(&j[i], &r[i]));
            free(j[i].logits);
            free(r[i].logits);
        }
        inf_model_metrics(cu, &mm);
        printf("paged: 8 streams in %lld blocks: max|cuda-cpu| %.2e, evictions %lld\n",
               (long long)mm.kv_blocks_total, worst, (long long)mm.kv_evictions);
        CHECK_MSG(mm.kv_blocks_total == 32, "paged: pool of %lld blocks, expected 32", (long long)mm.kv_blocks_total);
        CHECK_MSG(worst <= tol, "paged: logits under memory pressure differ from the cpu backend's");
    }
    inf_model_close(&cu);
    inf_model_close(&cpu);
}

int main(void) {
    const inf_backend *b = inf_backend_get("cuda");
    if (!b) {
        printf("SKIP: this build has no cuda backend (nvcc not found at configure time)\n");
        return 77;
    }
    char why[256];
    if (!inf_backend_available(b, why, sizeof why)) {
        printf("SKIP: cuda backend not available: %s\n", why);
        return 77;
    }
    const char *ex = getenv("INF_CUDA_EXACT");
    double tol = ex && ex[0] == '1' ? 1e-3 : 1e-2;
    for (size_t i = 0; i < sizeof tiny / sizeof tiny[0]; i++) golden_model(tiny[i], tol);
    brown_ppl("brown-llama-8m", "bf16");
    brown_ppl("brown-llama-8m-mlx8", "mlx8");
    brown_ppl("brown-llama-8m-mlx4", "mlx4");
    paged_kv(tol);
    return tu_summary("test_cuda");
}
