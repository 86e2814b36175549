/* The scheduler against a fake compute backend whose "model" is known
 * exactly: the logits of a row are a hash of the slot's whole token
 * history.  So the expected greedy continuation of any prompt can be
 * computed here independently, and forward() can check every batch it is
 * given (positions continue each slot's cache, at most 512 rows).  This
 * shows that continuous batching (prefill chunks mixed with decode rows,
 * sequences entering and leaving slots) feeds every sequence exactly its
 * own history. */
#include <pthread.h>
#include <stdio.h>

#include "engine/engine.h"
#include "engine/engine_int.h"
#include "text/tokenizer/tokenizer.h"
#include "engine_testutil.h"

#define V 97       /* vocabulary */
#define CTX 2048
#define SLOTS 4
#define BAD_TOKEN 96 /* forward() fails on it */

typedef struct fake {
    int32_t *hist[SLOTS]; /* [CTX] cached tokens per slot */
    int32_t n[SLOTS];
    /* statistics (worker thread only; read after the streams end) */
    int calls, max_rows, mixed, errors;
    /* scripted mode: the next token after t is next_of[t] (for the stream
     * text tests); 0 = hash mode */
    int scripted;
} fake;

static const int32_t next_of[6] = {1, 3, 0, 4, 5, 5}; /* a>b>X>Y>eos */

static fake g_fake;

/* Logits of the next token after h[0..n): a hash per vocabulary entry. */
static void ref_logits(const int32_t *h, int32_t n, float *out) {
    uint64_t x = 1469598103934665603ULL;
    for (int32_t i = 0; i < n; i++) {
        x ^= (uint64_t)h[i] + 0x9e37;
        x *= 1099511628211ULL;
    }
    for (int32_t v = 0; v < V; v++) {
        uint64_t y = x ^ ((uint64_t)v * 0xff51afd7ed558ccdULL);
        y ^= y >> 33;
        y *= 0xc4ceb9fe1a85ec53ULL;
        y ^= y >> 33;
        out[v] = (float)(y % 10007) / 1000.0f;
    }
    out[BAD_TOKEN] = -100.0f; /* only ever fed on purpose */
}

static int f_available(char *why, size_t n) {
    (void)why;
    (void)n;
    return 1;
}

static int f_init(const inf__model_desc *d, const inf__compute_params *p,
                  void **ctx, inf__err *err) {
    (void)d;
    if (p->n_slots != SLOTS || p->context_length != CTX)
        return inf__seterr(err, INF_E_INVALID_ARGUMENT, "unexpected params");
    for (int i = 0; i < SLOTS; i++) {
        g_fake.hist[i] = calloc(CTX, sizeof(int32_t));
        g_fake.n[i] = 0;
    }
    *ctx = &g_fake;
    return INF_OK;
}

static int f_forward(void *ctx, const inf__batch *b, inf__err *err) {
    fake *f = ctx;
    f->calls++;
    /* a step takes a millisecond, so that the sequences overlap */
    struct timespec ts = {0, 1000000L};
    nanosleep(&ts, NULL);
    if (b->n_tokens > f->max_rows) f->max_rows = b->n_tokens;
    int rows[SLOTS] = {0};
    int w = 0;
    for (int32_t i = 0; i < b->n_tokens; i++) {
        int32_t s = b->slot[i];
        if (s < 0 || s >= SLOTS || b->pos[i] != f->n[s] || b->pos[i] >= CTX) {
            f->errors++;
            return inf__seterr(err, INF_E_INTERNAL,
                               "row %d: slot %d pos %d, cache has %d", i, s,
                               b->pos[i], s >= 0 && s < SLOTS ? f->n[s] : -1);
        }
        if (b->tokens[i] == BAD_TOKEN)
            return inf__seterr(err, INF_E_INTERNAL, "fake: bad token");
        f->hist[s][f->n[s]++] = b->tokens[i];
        rows[s]++;
        if (!b->want[i]) continue;
        float *row = b->logits + (w++) * V;
        if (f->scripted) {
            for (int v = 0; v < V; v++) row[v] = 0;
            row[next_of[b->tokens[i] % 6]] = 1;
        } else {
            ref_logits(f->hist[s], f->n[s], row);
        }
    }
    int pre = 0, dec = 0;
    for (int s = 0; s < SLOTS; s++) {
        pre |= rows[s] > 1;
        dec |= rows[s] == 1;
    }
    f->mixed += pre && dec;
    return INF_OK;
}

static void f_reset(void *ctx, int32_t slot) { ((fake *)ctx)->n[slot] = 0; }

static void f_memory(void *ctx, int64_t *a, int64_t *p) {
    (void)ctx;
    *a = 1000;
    *p = 2000;
}

static void f_free(void *ctx) {
    fake *f = ctx;
    for (int i = 0; i < SLOTS; i++) free(f->hist[i]);
}

static const inf__compute_ops fake_ops = {"fake", f_available, f_init,
                                          f_forward, f_reset, f_memory,
                                          f_free, NULL, NULL};

/* The greedy continuation of p[0..n) under the fake model. */
static void expected(const int32_t *p, int32_t n, int32_t gen, int32_t *out) {
    static int32_t h[CTX + 8];
    float l[V];
    memcpy(h, p, (size_t)n * sizeof *h);
    for (int32_t k = 0; k < gen; k++) {
        ref_logits(h, n + k, l);
        int32_t best = 0;
        for (int32_t v = 1; v < V; v++)
            if (l[v] > l[best]) best = v;
        out[k] = best;
        h[n + k] = best;
    }
}

typedef struct job {
    void *m;
    int32_t prompt[1400];
    int32_t n, gen;
    int32_t got[128];
    int32_t n_got;
    int err;
    int delay_ms;
} job;

static void *run_job(void *p) {
    job *j = p;
    if (j->delay_ms) {
        struct timespec ts = {0, (long)j->delay_ms * 1000000L};
        nanosleep(&ts, NULL);
    }
    inf_generate_options o;
    inf_generate_options_default(&o);
    o.max_tokens = j->gen;
    const inf_stream_ops *so;
    void *st;
    char *e = NULL;
    j->err = inf__engine_start_ids(j->m, j->prompt, (size_t)j->n, &o, &so,
                                   &st, &e);
    free(e);
    if (j->err != INF_OK) return NULL;
    inf_token t;
    while (so->next(st, &t) == 1 && j->n_got < 128) j->got[j->n_got++] = t.id;
    j->err = so->err(st);
    so->close(st);
    return NULL;
}

static void *open_fake(void) {
    inf__model_desc d;
    memset(&d, 0, sizeof d);
    snprintf(d.model_type, sizeof d.model_type, "fake");
    d.vocab_size = V;
    d.n_eos = 0;
    inf__engine_parts parts = {.desc = &d, .compute = &fake_ops};
    parts.params.n_slots = SLOTS;
    parts.params.context_length = CTX;
    void *m = NULL;
    inf__err err;
    inf__err_clear(&err);
    int rc = inf__engine_create(&parts, &m, &err);
    CHECK_MSG(rc == INF_OK, "create: %s", err.msg);
    return m;
}

static void test_mixed(void) {
    void *m = open_fake();
    if (!m) return;
    static job jobs[6];
    pthread_t th[6];
    uint64_t x = 88172645463325252ULL;
    /* six sequences on four slots: two wait for a slot; one prompt needs
     * three 512-row steps; later arrivals prefill while others decode */
    int32_t lens[6] = {1300, 7, 1, 40, 600, 3};
    for (int i = 0; i < 6; i++) {
        jobs[i].m = m;
        jobs[i].n = lens[i];
        jobs[i].gen = 20 + 7 * i;
        jobs[i].delay_ms = i * 3;
        for (int32_t k = 0; k < lens[i]; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            jobs[i].prompt[k] = (int32_t)(x % (V - 1)); /* never BAD_TOKEN */
        }
        pthread_create(&th[i], NULL, run_job, &jobs[i]);
    }
    for (int i = 0; i < 6; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 6; i++) {
        int32_t want[128];
        expected(jobs[i].prompt, jobs[i].n, jobs[i].gen, want);
        CHECK_EQ_INT(jobs[i].err, INF_OK);
        CHECK_EQ_INT(jobs[i].n_got, jobs[i].gen);
        CHECK_MSG(memcmp(jobs[i].got, want, (size_t)jobs[i].gen * 4) == 0,
                  "sequence %d got another history's tokens", i);
    }
    CHECK_EQ_INT(g_fake.errors, 0);
    CHECK(g_fake.max_rows <= 512);
    CHECK(g_fake.mixed > 0);
    printf("  %d forward calls, at most %d rows, %d mixed prefill+decode\n",
           g_fake.calls, g_fake.max_rows, g_fake.mixed);

    /* a backend error ends the sequences of that batch with its message */
    static job bad;
    bad.m = m;
    bad.n = 3;
    bad.prompt[0] = 1;
    bad.prompt[1] = BAD_TOKEN;
    bad.prompt[2] = 2;
    bad.gen = 5;
    run_job(&bad);
    CHECK_EQ_INT(bad.err, INF_E_INTERNAL);
    CHECK_EQ_INT(bad.n_got, 0);
    /* and the engine goes on */
    static job after;
    after.m = m;
    after.n = 2;
    after.prompt[0] = 5;
    after.prompt[1] = 6;
    after.gen = 4;
    run_job(&after);
    int32_t want[4];
    expected(after.prompt, 2, 4, want);
    CHECK(after.err == INF_OK && memcmp(after.got, want, sizeof want) == 0);

    /* classify from ids: one token per prompt, more prompts than slots,
     * one of them too long for the context */
    {
        static int32_t pr[6][40];
        const int32_t *pp[7];
        size_t pn[7];
        for (int i = 0; i < 6; i++) {
            for (int k = 0; k < 40; k++) pr[i][k] = (i * 31 + k * 7) % (V - 1);
            pp[i] = pr[i];
            pn[i] = (size_t)(5 + i * 6);
        }
        static int32_t toolong[CTX + 1];
        pp[6] = toolong;
        pn[6] = CTX + 1;
        inf_generate_options o;
        inf_generate_options_default(&o);
        o.return_logits = 1;
        inf_classify_result r[7];
        CHECK_EQ_INT(inf__engine_classify_ids(m, pp, pn, 7, &o, r, NULL),
                     INF_OK);
        for (int i = 0; i < 6; i++) {
            int32_t w1;
            float l[V];
            expected(pr[i], (int32_t)pn[i], 1, &w1);
            ref_logits(pr[i], (int32_t)pn[i], l);
            CHECK_EQ_INT(r[i].status, INF_OK);
            CHECK_EQ_INT(r[i].token_id, w1);
            CHECK(r[i].logits && r[i].n_logits == V &&
                  memcmp(r[i].logits, l, sizeof l) == 0);
        }
        CHECK_EQ_INT(r[6].status, INF_E_CONTEXT_LENGTH);
        for (int i = 0; i < 7; i++) {
            free(r[i].error);
            free(r[i].text);
            free(r[i].logits);
        }
    }

    /* model metrics come from the backend's memory report */
    inf_metrics mm;
    CHECK_EQ_INT(inf__engine_ops.metrics(m, &mm), INF_OK);
    CHECK_EQ_INT(mm.active_memory_bytes, 1000);
    CHECK_EQ_INT(mm.peak_memory_bytes, 2000);
    CHECK_EQ_INT(mm.generated_tokens, 6);

    /* closing the model ends running and queued streams */
    inf_generate_options o;
    inf_generate_options_default(&o);
    o.max_tokens = 0; /* until the context is full */
    const inf_stream_ops *so;
    void *st[6];
    int32_t p[1] = {3};
    for (int i = 0; i < 6; i++) {
        CHECK_EQ_INT(inf__engine_start_ids(m, p, 1, &o, &so, &st[i], NULL),
                     INF_OK);
    }
    inf__engine_ops.close(m);
    for (int i = 0; i < 6; i++) {
        inf_token t;
        int k;
        while ((k = so->next(st[i], &t)) == 1) {
        }
        CHECK_EQ_INT(k, INF_E_STATE);
        so->close(st[i]);
    }
}

/* Stream text on a scripted model with a 6-token tokenizer: "a" is
 * followed by b, X, Y, then </s> (eos).  Text held back for a possible stop
 * string must still arrive when eos ends the stream. */
static const char tok_json[] =
    "{\"version\":\"1.0\",\"added_tokens\":[{\"id\":5,\"content\":"
    "\"</s>\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,"
    "\"normalized\":false,\"special\":true}],\"normalizer\":null,"
    "\"pre_tokenizer\":null,\"post_processor\":null,\"decoder\":"
    "{\"type\":\"Fuse\"},\"model\":{\"type\":\"BPE\",\"vocab\":"
    "{\"a\":0,\"b\":1,\"c\":2,\"X\":3,\"Y\":4,\"</s>\":5},"
    "\"merges\":[]}}";
static const char tok_cfg[] = "{\"eos_token\":\"</s>\"}";

typedef struct out {
    int32_t ids[16];
    char text[16][8];
    int n;
    int err;
    inf_finish_reason fin;
} out;

static void run_text(void *m, const char *const *stops, size_t n_stops,
                     int32_t max_tokens, out *o) {
    memset(o, 0, sizeof *o);
    inf_generate_options g;
    inf_generate_options_default(&g);
    g.max_tokens = max_tokens;
    g.stop_strings = stops;
    g.n_stop_strings = n_stops;
    int32_t p[1] = {0};
    const inf_stream_ops *so;
    void *st;
    o->err = inf__engine_start_ids(m, p, 1, &g, &so, &st, NULL);
    if (o->err != INF_OK) return;
    inf_token t;
    while (so->next(st, &t) == 1 && o->n < 16) {
        o->ids[o->n] = t.id;
        snprintf(o->text[o->n], 8, "%s", t.text);
        o->n++;
    }
    o->err = so->err(st);
    o->fin = so->finish_reason(st);
    so->close(st);
}

static void test_text(void) {
    inf__tokenizer *tok = NULL;
    inf__err err;
    inf__err_clear(&err);
    int rc = inf__tok_load_mem(tok_json, strlen(tok_json), tok_cfg,
                               strlen(tok_cfg), &tok, &err);
    CHECK_MSG(rc == INF_OK, "tokenizer: %s", err.msg);
    if (rc != INF_OK) return;
    inf__model_desc d;
    memset(&d, 0, sizeof d);
    d.vocab_size = V;
    inf__engine_parts parts = {.desc = &d, .compute = &fake_ops, .tok = tok};
    parts.params.n_slots = SLOTS;
    parts.params.context_length = CTX;
    void *m = NULL;
    rc = inf__engine_create(&parts, &m, &err);
    CHECK_MSG(rc == INF_OK, "create: %s", err.msg);
    if (rc != INF_OK) return;
    g_fake.scripted = 1;
    out o;
    /* plain: b X Y, eos (the tokenizer's eos token) not delivered */
    run_text(m, NULL, 0, 50, &o);
    CHECK_EQ_INT(o.err, INF_OK);
    CHECK_EQ_INT(o.fin, INF_FINISH_EOS);
    CHECK_EQ_INT(o.n, 3);
    CHECK(o.ids[0] == 1 && o.ids[1] == 3 && o.ids[2] == 4);
    CHECK_EQ_STR(o.text[0], "b");
    CHECK_EQ_STR(o.text[1], "X");
    CHECK_EQ_STR(o.text[2], "Y");
    /* "XYZ" never completes: X and XY are held back, then released with
     * the held token when eos ends the stream */
    const char *s1[1] = {"XYZ"};
    run_text(m, s1, 1, 50, &o);
    CHECK_EQ_INT(o.fin, INF_FINISH_EOS);
    CHECK_EQ_INT(o.n, 3);
    CHECK(o.ids[0] == 1 && o.ids[1] == 3 && o.ids[2] == 4);
    CHECK_EQ_STR(o.text[0], "b");
    CHECK_EQ_STR(o.text[1], "");
    CHECK_EQ_STR(o.text[2], "XY");
    /* "XY" completes at Y: the tokens before Y arrive (X without text),
     * Y does not, the stop string is never shown */
    const char *s2[1] = {"XY"};
    run_text(m, s2, 1, 50, &o);
    CHECK_EQ_INT(o.fin, INF_FINISH_STOP);
    CHECK_EQ_INT(o.n, 2);
    CHECK_EQ_STR(o.text[0], "b");
    CHECK_EQ_STR(o.text[1], "");
    /* "bX": b is held, then the stop matches: b arrives without text */
    const char *s3[1] = {"bX"};
    run_text(m, s3, 1, 50, &o);
    CHECK_EQ_INT(o.fin, INF_FINISH_STOP);
    CHECK_EQ_INT(o.n, 1);
    CHECK_EQ_INT(o.ids[0], 1);
    CHECK_EQ_STR(o.text[0], "");
    /* "Xb" never matches; a stop string inside one token's text ("b") ends
     * before that token: nothing at all */
    const char *s4[2] = {"Xb", "b"};
    run_text(m, s4, 2, 50, &o);
    CHECK_EQ_INT(o.fin, INF_FINISH_STOP);
    CHECK_EQ_INT(o.n, 0);
    /* max_tokens 2 with "XYZ": X is held at the end and released */
    run_text(m, s1, 1, 2, &o);
    CHECK_EQ_INT(o.fin, INF_FINISH_LENGTH);
    CHECK_EQ_INT(o.n, 2);
    CHECK_EQ_STR(o.text[0], "b");
    CHECK_EQ_STR(o.text[1], "X");
    g_fake.scripted = 0;
    inf__engine_ops.close(m);
}

/* Issue 14, defect 7: a reader that stops reading a stream with logits
 * must not make the engine buffer a vocab-sized copy per token.  The
 * sequence pauses at INF__SEQ_LOGITS_BACKLOG waiting tokens while the
 * engine keeps serving other streams, and resumes exactly where it was
 * once the reader comes back. */
static void test_stalled_reader(void) {
    void *m = open_fake();
    if (!m) return;
    enum { GEN = 200 };
    int32_t prompt[3] = {11, 22, 33};
    inf_generate_options o;
    inf_generate_options_default(&o);
    o.max_tokens = GEN;
    o.return_logits = 1;
    const inf_stream_ops *so;
    void *st;
    char *e = NULL;
    int rc = inf__engine_start_ids(m, prompt, 3, &o, &so, &st, &e);
    free(e);
    CHECK_EQ_INT(rc, INF_OK);
    if (rc != INF_OK) {
        inf__engine_ops.close(m);
        return;
    }
    inf__seq *sq = st;
    /* Other streams run to completion meanwhile (the engine is not held
     * up by the stalled one); the queue is sampled all along. */
    size_t max_len = 0;
    for (int r = 0; r < 3; r++) {
        static job other;
        memset(&other, 0, sizeof other);
        other.m = m;
        other.n = 2;
        other.prompt[0] = 5 + r;
        other.prompt[1] = 6;
        other.gen = 60;
        run_job(&other);
        int32_t want[60];
        expected(other.prompt, 2, 60, want);
        CHECK(other.err == INF_OK && other.n_got == 60 &&
              memcmp(other.got, want, sizeof want) == 0);
        pthread_mutex_lock(&sq->mu);
        if (sq->ev_len > max_len) max_len = sq->ev_len;
        pthread_mutex_unlock(&sq->mu);
    }
    struct timespec ts = {0, 120 * 1000000L}; /* > 2 idle waits */
    nanosleep(&ts, NULL);
    pthread_mutex_lock(&sq->mu);
    size_t len = sq->ev_len;
    int done = sq->done;
    pthread_mutex_unlock(&sq->mu);
    if (len > max_len) max_len = len;
    printf("  stalled reader: %zu tokens with logits queued (bound %d, "
           "%d generated), %zu bytes of logits\n",
           max_len, INF__SEQ_LOGITS_BACKLOG, GEN,
           max_len * (size_t)V * sizeof(float));
    CHECK_MSG(max_len <= INF__SEQ_LOGITS_BACKLOG,
              "queue grew to %zu events", max_len);
    CHECK_EQ_INT(len, INF__SEQ_LOGITS_BACKLOG); /* it ran up to the bound */
    CHECK(!done);
    /* The reader comes back: every token, in order, with its own logits. */
    int32_t want[GEN];
    expected(prompt, 3, GEN, want);
    static int32_t hist[3 + GEN];
    memcpy(hist, prompt, sizeof prompt);
    int n = 0, logits_ok = 1;
    inf_token t;
    while (so->next(st, &t) == 1 && n < GEN) {
        float ref[V];
        hist[3 + n] = t.id;
        ref_logits(hist, 3 + n, ref);
        if (!t.logits || t.n_logits != V || memcmp(ref, t.logits, sizeof ref) != 0)
            logits_ok = 0;
        if (t.id != want[n]) break;
        n++;
        pthread_mutex_lock(&sq->mu);
        if (sq->ev_len > max_len) max_len = sq->ev_len;
        pthread_mutex_unlock(&sq->mu);
    }
    CHECK_EQ_INT(n, GEN);
    CHECK(logits_ok);
    CHECK_EQ_INT(so->err(st), INF_OK);
    CHECK(max_len <= INF__SEQ_LOGITS_BACKLOG);
    so->close(st);

    /* Closing a paused stream ends it (the idle worker notices). */
    rc = inf__engine_start_ids(m, prompt, 3, &o, &so, &st, &e);
    free(e);
    CHECK_EQ_INT(rc, INF_OK);
    if (rc == INF_OK) {
        nanosleep(&ts, NULL);
        so->close(st);
    }
    static job last;
    memset(&last, 0, sizeof last);
    last.m = m;
    last.n = 1;
    last.prompt[0] = 9;
    last.gen = 10;
    run_job(&last);
    CHECK_EQ_INT(last.err, INF_OK);
    CHECK_EQ_INT(last.n_got, 10);
    inf__engine_ops.close(m);
}

int main(void) {
    test_mixed();
    test_text();
    test_stalled_reader();
    return tu_summary("test_engine_sched");
}
