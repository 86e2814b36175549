/* Paged KV memory and the prefix cache on the bundled model (cpu backend),
 * through the public API:
 *  - exactness: logits after a reused prefix are bit-identical to the
 *    logits of the same prompt on a model with the cache off;
 *  - copy-on-write: a prompt whose cached prefix ends inside a block
 *    writes into a private copy (the cached block stays valid for later
 *    requests), also with several such streams at once;
 *  - pressure: many concurrent streams on a pool of two contexts, with
 *    evictions and preemption, each producing exactly its solo tokens and
 *    first logits;
 *  - chunked prefill (a long prompt arriving while others decode) gives the
 *    same logits as unchunked prefill.
 *  - precision fast (f16 cache): the reuse and copy-on-write checks again
 *    (copy_block of f16 blocks), and kv_memory holding twice the positions.
 * With INF_CPU_REFERENCE=1 (the reference kernels, the exact path; CTest
 * test_engine_kv_exact) every comparison is bit for bit and over all
 * tokens.  The fast kernels (test_engine_kv) pick matmul code paths by the
 * number of rows in a pass, so a prefix computed in another batch shape
 * moves logits by rounding: there the first logits must agree to FAST_TOL
 * of their range and the first token must be the same (unless the rounding
 * explains it: same_tokens). */
#include <math.h>
#include <pthread.h>
#include <stdio.h>

#include "engine_testutil.h"

#define VOCAB 32000

static void rand_ids(uint64_t seed, int32_t *ids, size_t n) {
    uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ids[i] = (int32_t)(100 + x % 30000);
    }
}

/* The precision the models load with (INF_PRECISION_DEFAULT: exact unless
 * the environment says otherwise). */
static int32_t g_precision = INF_PRECISION_DEFAULT;

static inf_model *load(int32_t ctx, int32_t slots, int64_t kv_memory,
                       int no_cache, int32_t chunk) {
    inf_load_options lo;
    inf_load_options_default(&lo);
    lo.precision = g_precision;
    lo.backend = "cpu";
    lo.context_length = ctx;
    lo.parallel_slots = slots;
    lo.kv_memory = kv_memory;
    lo.no_prefix_cache = no_cache;
    lo.prefill_chunk = chunk;
    inf_model *m = NULL;
    char *err = NULL;
    int rc = inf_model_load(BROWN, &lo, &m, &err);
    CHECK_MSG(rc == INF_OK, "load: %s", err ? err : "");
    inf_free(err);
    return m;
}

/* One greedy (or seeded) run of ids: tokens and the first token's logits. */
typedef struct run {
    inf_model *m;
    const int32_t *ids;
    size_t n;
    int32_t max_tokens;
    float temperature;
    uint64_t seed;
    int rc, err;
    int32_t out[256];
    size_t n_out;
    float *first; /* [VOCAB] */
    inf_metrics met;
} run;

static void *run_fn(void *arg) {
    run *r = arg;
    inf_generate_options o;
    inf_generate_options_default(&o);
    o.max_tokens = r->max_tokens;
    o.ignore_eos = 1;
    o.return_logits = 1;
    o.temperature = r->temperature;
    o.seed = r->seed;
    o.prompt_ids = r->ids;
    o.n_prompt_ids = r->n;
    inf_stream *s = NULL;
    r->n_out = 0;
    r->rc = inf_generate(r->m, NULL, &o, &s);
    if (r->rc != INF_OK) return NULL;
    inf_token t;
    while (inf_stream_next(s, &t) == 1) {
        if (r->n_out == 0 && t.logits && t.n_logits == VOCAB) {
            if (!r->first) r->first = malloc(VOCAB * sizeof(float));
            memcpy(r->first, t.logits, VOCAB * sizeof(float));
        }
        if (r->n_out < 256) r->out[r->n_out++] = t.id;
    }
    r->err = inf_stream_err(s);
    inf_stream_metrics(s, &r->met);
    inf_stream_close(&s);
    return NULL;
}

static void go(run *r, inf_model *m, const int32_t *ids, size_t n, int32_t max_tokens) {
    free(r->first);
    memset(r, 0, sizeof *r);
    r->m = m;
    r->ids = ids;
    r->n = n;
    r->max_tokens = max_tokens;
    run_fn(r);
    CHECK_EQ_INT(r->rc, INF_OK);
    CHECK_EQ_INT(r->err, INF_OK);
    CHECK(r->first != NULL);
}

static int g_exact;

/* Precision fast's tolerance, relative to the largest |logit|: the bf16
 * layer (kernels_amx.c, or kernels_bf16.c off Intel) rounds x to bf16 in
 * passes of 5+ rows and not in shorter ones, so a prefix prefilled in
 * another batch shape moves the brown model's logits by up to ~2.7e-3 of
 * their range (measured); on processors without it the f32 kernels'
 * summation orders alone move them by < 1e-4. */
#define FAST_TOL 1e-2f

static float logit_range(const float *l) {
    float range = 1;
    for (int i = 0; i < VOCAB; i++) range = fabsf(l[i]) > range ? fabsf(l[i]) : range;
    return range;
}

static int same_logits(const run *a, const run *b) {
    if (!a->first || !b->first) return 0;
    if (g_exact) return memcmp(a->first, b->first, VOCAB * sizeof(float)) == 0;
    float diff = 0;
    for (int i = 0; i < VOCAB; i++) {
        float d = fabsf(a->first[i] - b->first[i]);
        diff = d > diff ? d : diff;
    }
    return diff <= FAST_TOL * logit_range(a->first);
}

/* Exact: every token equal.  Fast: the first token equal, unless the
 * rounding above can explain a difference: a greedy pick whose runner-up
 * is within the tolerance (a near tie), or a sampled one (the same draw
 * falls on either side of a moved boundary); same_logits still compares
 * the logits themselves. */
static int same_tokens(const run *a, const run *b) {
    if (g_exact) return a->n_out == b->n_out && memcmp(a->out, b->out, a->n_out * sizeof *a->out) == 0;
    if (a->n_out == 0 || b->n_out == 0) return 0;
    if (a->out[0] == b->out[0] || a->temperature > 0) return 1;
    if (!b->first) return 0;
    return fabsf(b->first[a->out[0]] - b->first[b->out[0]]) <= FAST_TOL * logit_range(b->first);
}

static inf_model *g_on, *g_off;

/* A second request extends the first's prompt: its first 288 positions
 * (9 full blocks, 300 prompt + 4 generated tokens were cached) come from
 * the cache, the rest is prefilled; logits and tokens equal the cache-off
 * model's. */
static void test_reuse_exact(void) {
    int32_t p[400];
    rand_ids(1, p, 400);
    run a = {0}, b = {0}, c = {0};
    go(&a, g_on, p, 300, 4);
    CHECK_EQ_INT(a.met.cached_prompt_tokens, 0);
    go(&b, g_on, p, 345, 16);
    CHECK_EQ_INT(b.met.cached_prompt_tokens, 288);
    go(&c, g_off, p, 345, 16);
    CHECK_EQ_INT(c.met.cached_prompt_tokens, 0);
    CHECK_MSG(same_logits(&b, &c), "reused-prefix logits differ from fresh ones");
    CHECK(same_tokens(&b, &c));
    inf_metrics mm;
    CHECK_EQ_INT(inf_model_metrics(g_on, &mm), INF_OK);
    CHECK_EQ_INT(mm.kv_block_tokens, 32);
    CHECK(mm.prefix_hit_tokens >= 288);
    CHECK(mm.prefix_lookup_tokens >= 645);
    CHECK_EQ_INT(mm.kv_blocks_total, mm.kv_blocks_used + mm.kv_blocks_cached + mm.kv_blocks_free);
    free(a.first);
    free(b.first);
    free(c.first);
}

/* The same 64-token prompt three times: the second and third reuse block
 * 0 and 31 positions of block 1, and write position 63 (and on) into a
 * private copy of block 1.  Then four concurrent sampled streams on that
 * prompt each match their cache-off twin (same seed). */
static void test_cow(void) {
    int32_t p[64];
    rand_ids(2, p, 64);
    run f = {0}, r1 = {0}, r2 = {0};
    go(&f, g_off, p, 64, 8);
    go(&r1, g_on, p, 64, 8);
    go(&r2, g_on, p, 64, 8);
    CHECK_EQ_INT(r2.met.cached_prompt_tokens, 63);
    CHECK_MSG(same_logits(&f, &r1) && same_logits(&f, &r2), "copy-on-write changed the logits");
    CHECK(same_tokens(&f, &r1) && same_tokens(&f, &r2));

    enum { N = 4 };
    run on[N], off[N];
    pthread_t th[N];
    memset(on, 0, sizeof on);
    memset(off, 0, sizeof off);
    for (int i = 0; i < N; i++) {
        on[i] = (run){.m = g_on, .ids = p, .n = 64, .max_tokens = 40, .temperature = 1.0f,
                      .seed = 100 + (uint64_t)i};
        off[i] = on[i];
        off[i].m = g_off;
        pthread_create(&th[i], NULL, run_fn, &on[i]);
    }
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++) {
        run_fn(&off[i]);
        CHECK_EQ_INT(on[i].err, INF_OK);
        CHECK_EQ_INT(on[i].met.cached_prompt_tokens, 63);
        CHECK_MSG(same_tokens(&on[i], &off[i]), "stream %d diverged from its cache-off twin", i);
        CHECK(same_logits(&on[i], &off[i]));
        free(on[i].first);
        free(off[i].first);
    }
    /* The cached block 1 was never written: a plain rerun still matches. */
    go(&r1, g_on, p, 64, 8);
    CHECK(same_logits(&f, &r1) && same_tokens(&f, &r1));
    free(f.first);
    free(r1.first);
    free(r2.first);
}

/* 24 streams at once on a pool of 16 blocks (two contexts of 256) and 12
 * slots: prompts of 40..130 tokens, half of them sharing a 64-token
 * prefix, 60 tokens each.  The pool cannot hold them all: blocks are
 * evicted and sequences preempted.  Every stream must produce exactly its
 * solo run's tokens and first logits (a stream that read a block reused by
 * another would not), and the engine checks before every forward that
 * each block a batch reads is held. */
static void test_pressure(void) {
    enum { N = 24 };
    inf_model *small = load(256, 12, 16LL * 32 * 3072, 0, 0) /* 3072 B per position */;
    inf_model *solo = load(256, 1, 0, 1, 0);
    if (!small || !solo) return;
    static int32_t ids[N][160];
    run on[N], ref[N];
    pthread_t th[N];
    memset(on, 0, sizeof on);
    memset(ref, 0, sizeof ref);
    int32_t shared[64];
    rand_ids(3, shared, 64);
    for (int i = 0; i < N; i++) {
        size_t n = 40 + (size_t)(i * 37) % 91;
        rand_ids(10 + (uint64_t)i, ids[i], n);
        if (i % 2 == 0 && n > 64) memcpy(ids[i], shared, sizeof shared);
        on[i] = (run){.m = small, .ids = ids[i], .n = n, .max_tokens = 60};
        ref[i] = on[i];
        ref[i].m = solo;
    }
    for (int i = 0; i < N; i++) pthread_create(&th[i], NULL, run_fn, &on[i]);
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        run_fn(&ref[i]);
        CHECK_EQ_INT(on[i].rc, INF_OK);
        CHECK_MSG(on[i].err == INF_OK, "stream %d failed: %d", i, on[i].err);
        if (!same_tokens(&on[i], &ref[i]) || !same_logits(&on[i], &ref[i])) bad++;
        free(on[i].first);
        free(ref[i].first);
    }
    CHECK_MSG(bad == 0, "%d of %d streams differ from their solo runs", bad, N);
    inf_metrics mm;
    CHECK_EQ_INT(inf_model_metrics(small, &mm), INF_OK);
    CHECK_EQ_INT(mm.kv_blocks_total, 16);
    CHECK_MSG(mm.kv_evictions > 0, "no eviction happened (%lld)", (long long)mm.kv_evictions);
    CHECK_EQ_INT(mm.kv_blocks_used, 0);
    CHECK_EQ_INT(mm.kv_blocks_total, mm.kv_blocks_cached + mm.kv_blocks_free);
    inf_model_close(&small);
    inf_model_close(&solo);
}

/* A 600-token prompt arrives while 3 streams decode: chunked (default: 64
 * rows per step while others decode) and unchunked (-1) prefill give the
 * same first logits and tokens. */
static void test_chunked(void) {
    int32_t longp[600], shortp[3][20];
    rand_ids(7, longp, 600);
    run res[2];
    memset(res, 0, sizeof res);
    for (int k = 0; k < 2; k++) {
        inf_model *m = load(1024, 4, 0, 1, k == 0 ? 0 : -1);
        if (!m) return;
        run bg[3];
        pthread_t th[3];
        memset(bg, 0, sizeof bg);
        for (int i = 0; i < 3; i++) {
            rand_ids(20 + (uint64_t)i, shortp[i], 20);
            bg[i] = (run){.m = m, .ids = shortp[i], .n = 20, .max_tokens = 200};
            pthread_create(&th[i], NULL, run_fn, &bg[i]);
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL); /* let them start decoding */
        go(&res[k], m, longp, 600, 8);
        for (int i = 0; i < 3; i++) {
            pthread_join(th[i], NULL);
            CHECK_EQ_INT(bg[i].err, INF_OK);
            free(bg[i].first);
        }
        inf_model_close(&m);
    }
    CHECK_MSG(same_logits(&res[0], &res[1]), "chunked prefill changed the logits");
    CHECK(same_tokens(&res[0], &res[1]));
    free(res[0].first);
    free(res[1].first);
}

/* Precision fast stores the cache in f16 on the cpu backend: the same
 * kv_memory holds twice the blocks of the exact (f32) cache. */
static void test_f16_blocks(void) {
    const int64_t mem = 16LL * 32 * 3072; /* 16 blocks of f32 (3072 B per position) */
    int64_t total[2] = {0, 0};
    const int32_t prec[2] = {INF_PRECISION_EXACT, INF_PRECISION_FAST};
    for (int k = 0; k < 2; k++) {
        g_precision = prec[k];
        inf_model *m = load(256, 2, mem, 0, 0);
        inf_metrics mm;
        if (m && inf_model_metrics(m, &mm) == INF_OK) total[k] = mm.kv_blocks_total;
        inf_model_close(&m);
    }
    CHECK_EQ_INT(total[0], 16);
    CHECK_MSG(total[1] == 32, "precision fast: kv_memory for 16 f32 blocks holds %lld f16 blocks, not 32",
              (long long)total[1]);
}

/* A too-small kv_memory is refused with a clear error. */
static void test_too_small(void) {
    inf_load_options lo;
    inf_load_options_default(&lo);
    lo.backend = "cpu";
    lo.kv_memory = 1000;
    inf_model *m = NULL;
    char *err = NULL;
    CHECK_EQ_INT(inf_model_load(BROWN, &lo, &m, &err), INF_E_INVALID_ARGUMENT);
    CHECK(err && strstr(err, "kv_memory"));
    inf_free(err);
}

int main(void) {
    const char *ref = getenv("INF_CPU_REFERENCE");
    g_exact = ref && *ref && strcmp(ref, "0") != 0;
    g_on = load(1024, 4, 0, 0, 0);
    g_off = load(1024, 4, 0, 1, 0);
    if (g_on && g_off) {
        test_reuse_exact();
        test_cow();
    }
    inf_model_close(&g_on);
    inf_model_close(&g_off);
    test_pressure();
    test_chunked();
    test_too_small();
    /* Precision fast: the f16 cache through the prefix cache, its reuse
     * and copy-on-write (reference kernels: bit for bit again). */
    g_precision = INF_PRECISION_FAST;
    g_on = load(1024, 4, 0, 0, 0);
    g_off = load(1024, 4, 0, 1, 0);
    if (g_on && g_off) {
        test_reuse_exact();
        test_cow();
    }
    inf_model_close(&g_on);
    inf_model_close(&g_off);
    test_f16_blocks();
    return tu_summary("test_kv");
}
