/* Concurrent failures: many threads fail on one model at the same time, each
 * differently, and each must read back its own message (inf_model_errmsg is
 * per thread), never another thread's; the real message of every layer
 * reaches the caller.  Part one uses a program-defined backend whose every
 * start fails with a message naming the request; part two the built-in cpu
 * backend on the bundled model, with failures from the core's option checks
 * and from the engine. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "inference_backend.h"
#include "testutil.h"

#define N_THREADS 16
#define N_ITERS 400

/* ---- a backend whose start always fails, saying what was asked ---- */
static int fb_start(void *m, const char *prompt, const inf_message *msgs,
                    size_t n, const inf_generate_options *o,
                    const inf_stream_ops **sops, void **stream,
                    char **errmsg) {
    (void)m, (void)msgs, (void)n, (void)o, (void)sops, (void)stream;
    char buf[128];
    snprintf(buf, sizeof buf, "cannot generate from \"%s\"",
             prompt ? prompt : "");
    *errmsg = strdup(buf);
    return INF_E_REMOTE;
}
static void fb_close(void *m) { (void)m; }
static const inf_model_ops failer_ops = {.start = fb_start, .close = fb_close};
static int fb_available(void *u, char *why, size_t n) {
    (void)u, (void)why, (void)n;
    return 1;
}
static int fb_load(void *u, const char *path, const inf_load_options *o,
                   const inf_model_ops **ops, void **model, char **errmsg) {
    (void)u, (void)path, (void)o, (void)errmsg;
    *ops = &failer_ops;
    *model = NULL;
    return INF_OK;
}

typedef struct job {
    inf_model *m;
    int t;
    int wrong; /* messages that were not this thread's own */
    char first_wrong[256];
} job;

static void note_wrong(job *j, const char *got) {
    if (!j->wrong++) snprintf(j->first_wrong, sizeof j->first_wrong, "%s", got);
}

/* Runs fn on N_THREADS threads at once against m; each must have read only
 * its own messages. */
static void run_threads(inf_model *m, void *(*fn)(void *)) {
    pthread_t th[N_THREADS];
    job jobs[N_THREADS];
    for (int t = 0; t < N_THREADS; t++) {
        jobs[t] = (job){.m = m, .t = t};
        pthread_create(&th[t], NULL, fn, &jobs[t]);
    }
    for (int t = 0; t < N_THREADS; t++) {
        pthread_join(th[t], NULL);
        CHECK_MSG(jobs[t].wrong == 0, "thread %d read %d foreign messages, "
                  "first \"%s\"", t, jobs[t].wrong, jobs[t].first_wrong);
    }
}

static void *fail_fake(void *p) {
    job *j = p;
    for (int i = 0; i < N_ITERS; i++) {
        char prompt[64], want[128];
        inf_generate_options o;
        inf_generate_options_default(&o);
        inf_stream *s = NULL;
        int rc;
        if (i % 3 == 2) {
            /* refused by the core's option check, before the backend */
            o.temperature = 101.0f + (float)j->t;
            rc = inf_generate(j->m, "x", &o, &s);
            snprintf(want, sizeof want,
                     "temperature = %d is out of range [0, 100]", 101 + j->t);
            if (rc != INF_E_INVALID_ARGUMENT) note_wrong(j, "wrong code");
        } else {
            snprintf(prompt, sizeof prompt, "thread %d call %d", j->t, i);
            rc = inf_generate(j->m, prompt, &o, &s);
            snprintf(want, sizeof want, "cannot generate from \"%s\"", prompt);
            if (rc != INF_E_REMOTE || inf_model_errcode(j->m) != INF_E_REMOTE)
                note_wrong(j, "wrong code");
        }
        if (s) note_wrong(j, "a stream from a failed call");
        const char *got = inf_model_errmsg(j->m);
        if (strcmp(got, want) != 0) note_wrong(j, got);
    }
    return NULL;
}

static void test_fake_backend(void) {
    inf_backend b = {.name = "failer", .description = "fails every call",
                     .available = fb_available, .load = fb_load};
    CHECK_EQ_INT(inf_backend_register(&b), INF_OK);
    inf_load_options lo;
    inf_load_options_default(&lo);
    lo.backend = "failer";
    inf_model *m = NULL;
    CHECK_EQ_INT(inf_model_load("anything", &lo, &m, NULL), INF_OK);
    if (!m) return;
    /* A thread that never failed sees no error. */
    CHECK_EQ_INT(inf_model_errcode(m), INF_OK);
    CHECK_EQ_STR(inf_model_errmsg(m), "");
    run_threads(m, fail_fake);
    /* The main thread still has none: others' failures are not its own. */
    CHECK_EQ_STR(inf_model_errmsg(m), "");
    /* The callback form hands the message over directly. */
    char *msg = NULL;
    CHECK_EQ_INT(inf_generate_cb(m, "cb", NULL, NULL, NULL, &msg), INF_E_REMOTE);
    CHECK_EQ_STR(msg, "cannot generate from \"cb\"");
    inf_free(msg);
    /* A second model keeps its own error on the same thread. */
    inf_model *m2 = NULL;
    CHECK_EQ_INT(inf_model_load("other", &lo, &m2, NULL), INF_OK);
    inf_stream *s = NULL;
    inf_generate(m2, "second", NULL, &s);
    CHECK_EQ_STR(inf_model_errmsg(m2), "cannot generate from \"second\"");
    CHECK_EQ_STR(inf_model_errmsg(m), "cannot generate from \"cb\"");
    inf_model_close(&m2);
    inf_model_close(&m);
    inf_backend_unregister("failer");
}

/* ---- the cpu backend on the bundled model ---- */
static void *fail_engine(void *p) {
    job *j = p;
    for (int i = 0; i < N_ITERS / 8; i++) {
        char want[160];
        inf_generate_options o;
        inf_generate_options_default(&o);
        inf_stream *s = NULL;
        int rc, want_rc;
        if (i % 2) {
            /* the engine refuses an id outside the vocabulary */
            int32_t id = 32000 + j->t * 100 + i;
            o.prompt_ids = &id;
            o.n_prompt_ids = 1;
            rc = inf_generate(j->m, NULL, &o, &s);
            want_rc = INF_E_INVALID_ARGUMENT;
            snprintf(want, sizeof want,
                     "token id %d at position 0 is outside the vocabulary "
                     "(0..31999)", id);
        } else {
            /* Classify as a whole: the core names the NULL prompt */
            const char *prompts[3] = {"a", "b", "c"};
            prompts[j->t % 3] = NULL;
            inf_classify_result *r = NULL;
            rc = inf_classify(j->m, prompts, 3, &o, &r);
            want_rc = INF_E_INVALID_ARGUMENT;
            snprintf(want, sizeof want, "prompt %d is NULL", j->t % 3);
            if (r) note_wrong(j, "results from a failed call");
        }
        if (rc != want_rc) note_wrong(j, "wrong code");
        if (s) inf_stream_close(&s);
        const char *got = inf_model_errmsg(j->m);
        if (strcmp(got, want) != 0) note_wrong(j, got);
    }
    return NULL;
}

static void test_engine(void) {
    inf_load_options lo;
    inf_load_options_default(&lo);
    lo.backend = "cpu";
    lo.n_threads = 1;
    lo.context_length = 32;
    inf_model *m = NULL;
    char *err = NULL;
    int rc = inf_model_load(INF_SOURCE_DIR "/models/brown-llama-8m", &lo, &m, &err);
    CHECK_MSG(rc == INF_OK, "load: %s", err ? err : "");
    inf_free(err);
    if (!m) return;
    run_threads(m, fail_engine);
    /* The engine's own message survives Classify's per-prompt results. */
    char long_prompt[1024] = "";
    for (int i = 0; i < 60; i++) strcat(long_prompt, "the jury said ");
    const char *prompts[2] = {"The jury", long_prompt};
    inf_classify_result *r = NULL;
    CHECK_EQ_INT(inf_classify(m, prompts, 2, NULL, &r), INF_OK);
    if (r) {
        CHECK_EQ_INT(r[0].status, INF_OK);
        CHECK_EQ_INT(r[1].status, INF_E_CONTEXT_LENGTH);
        CHECK(r[1].error && strstr(r[1].error, "but the context holds 32"));
        CHECK_MSG(r[1].error && strcmp(r[1].error, inf_strerror(r[1].status)) != 0,
                  "the generic text replaced the engine's message: %s",
                  r[1].error ? r[1].error : "(null)");
        inf_classify_results_free(r, 2);
    }
    inf_model_close(&m);
}

int main(void) {
    test_fake_backend();
    test_engine();
    return tu_summary("test_errors");
}
