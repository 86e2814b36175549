/*
 * Sliding windows on every layer (tests/fixtures/tiny/mistral-bf16-swa:
 * window 8, 3 layers, vocab 512) on the cpu backend's paged KV memory: a
 * sequence releases its blocks wholly below the window (seqkv.c
 * inf__seqkv_drop_window), so
 *  - memory: 4 concurrent streams of 500 positions (16 blocks each, 64 in
 *    all) run in a pool of one 1,024-position context (32 blocks) and the
 *    pool never has more than 16 blocks in use (4 per stream at most: a
 *    100-token prompt's 4 blocks before its first release);
 *  - exactness: every stream's tokens and logits at every step equal (bit
 *    for bit with INF_CPU_REFERENCE=1, test_engine_kv_window_exact; else to
 *    1e-4 of their range and the same tokens) its solo run with the prefix
 *    cache off (blocks released as soon as the window passes, the freed
 *    block handed straight back to the same sequence: a read of a released
 *    block would see overwritten keys), and the teacher-forced logits of
 *    the whole sequence from the logits op (inf_model_logits).
 * A block released while a concurrent stream takes it over would change
 * that stream's logits, so the comparison also covers "no stream reads a
 * block it released".  The tiny models have no tokenizer: opened with the
 * internal inf__engine_open(.., INF__ENGINE_NO_TOKENIZER_OK) and run from
 * ids, as test_golden does.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "backends/cpu/cpu.h"
#include "engine/engine.h"
#include "engine_testutil.h"

#define MODEL INF_FIXTURES "/tiny/mistral-bf16-swa"
#define V 512
#define NS 4      /* streams */
#define PROMPT 100
#define GEN 400
#define CTX 1024
#define KV_TOKEN_BYTES (2 * 3 * 2 * 16 * 4) /* K+V, 3 layers, 2 kv heads x 16, f32 */

static int g_exact;

typedef struct model {
    const inf_model_ops *ops;
    void *m;
} model;

static model load(int64_t kv_memory, int no_cache) {
    inf_load_options lo;
    inf_load_options_default(&lo);
    lo.backend = "cpu";
    lo.context_length = CTX;
    lo.parallel_slots = NS;
    lo.kv_memory = kv_memory;
    lo.no_prefix_cache = no_cache;
    model m = {NULL, NULL};
    char *err = NULL;
    int rc = inf__engine_open(MODEL, &lo, &inf__cpu_compute, INF__ENGINE_NO_TOKENIZER_OK, &m.ops, &m.m, &err);
    CHECK_MSG(rc == INF_OK, "load: %s", err ? err : "");
    free(err);
    return m;
}

typedef struct run {
    model m;
    int32_t ids[PROMPT + GEN];
    int32_t n_out;
    float *logits; /* [GEN, V] */
    int rc, err;
} run;

static void *run_fn(void *arg) {
    run *r = arg;
    inf_generate_options o;
    inf_generate_options_default(&o);
    o.max_tokens = GEN;
    o.ignore_eos = 1;
    o.return_logits = 1;
    const inf_stream_ops *sops = NULL;
    void *s = NULL;
    char *err = NULL;
    r->n_out = 0;
    r->rc = inf__engine_start_ids(r->m.m, r->ids, PROMPT, &o, &sops, &s, &err);
    free(err);
    if (r->rc != INF_OK) return NULL;
    inf_token t;
    while (sops->next(s, &t) == 1) {
        if (r->n_out < GEN && t.logits && t.n_logits == V) {
            memcpy(r->logits + (size_t)r->n_out * V, t.logits, V * sizeof(float));
            r->ids[PROMPT + r->n_out++] = t.id;
        }
    }
    r->err = sops->err(s);
    sops->close(s);
    return NULL;
}

static void init_run(run *r, model m, uint64_t seed) {
    memset(r, 0, sizeof *r);
    r->m = m;
    uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 7;
    for (int i = 0; i < PROMPT; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        r->ids[i] = (int32_t)(3 + x % (V - 3));
    }
    r->logits = malloc((size_t)GEN * V * sizeof(float));
}

/* Row-wise: equal bit for bit (exact) or within 1e-4 of the row's range. */
static int same_rows(const float *a, const float *b, int rows, int *bad_row) {
    for (int r = 0; r < rows; r++) {
        const float *x = a + (size_t)r * V, *y = b + (size_t)r * V;
        if (g_exact) {
            if (memcmp(x, y, V * sizeof(float)) != 0) return *bad_row = r, 0;
            continue;
        }
        float lo = x[0], hi = x[0], d = 0;
        for (int i = 0; i < V; i++) {
            lo = x[i] < lo ? x[i] : lo;
            hi = x[i] > hi ? x[i] : hi;
            float e = fabsf(x[i] - y[i]);
            d = e > d ? e : d;
        }
        if (d > 1e-4f * (hi - lo > 1 ? hi - lo : 1)) return *bad_row = r, 0;
    }
    return 1;
}

typedef struct poll {
    model m;
    atomic_int stop;
    int64_t peak_used, total;
} poll;

static void *poll_fn(void *arg) {
    poll *p = arg;
    while (!atomic_load(&p->stop)) {
        inf_metrics mm;
        memset(&mm, 0, sizeof mm);
        if (p->m.ops->metrics(p->m.m, &mm) == INF_OK) {
            p->peak_used = mm.kv_blocks_used > p->peak_used ? mm.kv_blocks_used : p->peak_used;
            p->total = mm.kv_blocks_total;
        }
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

int main(void) {
    const char *ref = getenv("INF_CPU_REFERENCE");
    g_exact = ref && ref[0] == '1';
    /* The pool: one context (32 blocks), shared by 4 streams of 16 blocks. */
    model m = load((int64_t)CTX * KV_TOKEN_BYTES, 0);
    model solo = load(0, 1);
    if (!m.m || !solo.m) return tu_summary("test_engine_kv_window");

    run r[NS];
    pthread_t th[NS], pt;
    for (int i = 0; i < NS; i++) init_run(&r[i], m, (uint64_t)i + 1);
    poll pl = {.m = m};
    pthread_create(&pt, NULL, poll_fn, &pl);
    for (int i = 0; i < NS; i++) pthread_create(&th[i], NULL, run_fn, &r[i]);
    for (int i = 0; i < NS; i++) pthread_join(th[i], NULL);
    atomic_store(&pl.stop, 1);
    pthread_join(pt, NULL);
    CHECK_MSG(pl.total == CTX / 32, "pool of %lld blocks", (long long)pl.total);
    CHECK_MSG(pl.peak_used > 0 && pl.peak_used <= 16,
              "peak blocks in use %lld of %lld (4 streams x 16 blocks without releases)",
              (long long)pl.peak_used, (long long)pl.total);

    for (int i = 0; i < NS; i++) {
        CHECK_EQ_INT(r[i].rc, INF_OK);
        CHECK_EQ_INT(r[i].err, INF_OK);
        CHECK_EQ_INT(r[i].n_out, GEN);
        run s;
        init_run(&s, solo, (uint64_t)i + 1);
        run_fn(&s);
        CHECK_EQ_INT(s.n_out, GEN);
        CHECK_MSG(memcmp(s.ids, r[i].ids, sizeof s.ids) == 0, "stream %d: tokens differ from its solo run", i);
        int bad = -1;
        CHECK_MSG(same_rows(r[i].logits, s.logits, GEN, &bad), "stream %d: logits of step %d differ from solo",
                  i, bad);
        /* Teacher-forced: the logits of positions PROMPT-1 .. PROMPT+GEN-2
         * predict the generated tokens. */
        float *all = malloc((size_t)(PROMPT + GEN) * V * sizeof(float));
        char *err = NULL;
        int rc = solo.ops->logits(solo.m, r[i].ids, PROMPT + GEN - 1, all, &err);
        CHECK_MSG(rc == INF_OK, "logits: %s", err ? err : "");
        free(err);
        if (rc == INF_OK)
            CHECK_MSG(same_rows(r[i].logits, all + (size_t)(PROMPT - 1) * V, GEN, &bad),
                      "stream %d: logits of step %d differ from the logits op", i, bad);
        free(all);
        free(s.logits);
        free(r[i].logits);
    }
    m.ops->close(m.m);
    solo.ops->close(solo.m);
    return tu_summary("test_engine_kv_window");
}
