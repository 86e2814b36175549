/* Helpers shared by the engine tests: loading the bundled model through
 * the public API and collecting a stream. */
#ifndef INF_ENGINE_TESTUTIL_H
#define INF_ENGINE_TESTUTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inference.h"
#include "testutil.h"

#define BROWN INF_SOURCE_DIR "/models/brown-llama-8m"

static inline double et_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Loads path on the cpu backend; ctx/slots 0 = defaults.  NULL on error
 * (reported as a failed check). */
static inline inf_model *et_load(const char *path, int32_t ctx,
                                 int32_t slots) {
    inf_load_options lo;
    inf_load_options_default(&lo);
    lo.backend = "cpu";
    lo.context_length = ctx;
    lo.parallel_slots = slots;
    inf_model *m = NULL;
    char *err = NULL;
    int rc = inf_model_load(path, &lo, &m, &err);
    CHECK_MSG(rc == INF_OK, "load %s: %s", path, err ? err : "");
    inf_free(err);
    return m;
}

/* What a stream produced. */
typedef struct et_run {
    int rc;                 /* inf_generate / inf_chat result */
    int end;                /* last inf_stream_next result (0 or < 0) */
    int err;                /* inf_stream_err */
    inf_finish_reason finish;
    int32_t ids[2048];
    size_t n;
    char text[16384];
    size_t text_len;
    inf_metrics metrics;
} et_run;

/* Pulls s to its end into r, then closes it. */
static inline void et_drain(inf_stream *s, et_run *r) {
    inf_token t;
    int k;
    while ((k = inf_stream_next(s, &t)) == 1) {
        if (r->n < sizeof r->ids / sizeof *r->ids) r->ids[r->n++] = t.id;
        if (r->text_len + t.text_len < sizeof r->text) {
            memcpy(r->text + r->text_len, t.text, t.text_len);
            r->text_len += t.text_len;
            r->text[r->text_len] = '\0';
        }
    }
    r->end = k;
    r->err = inf_stream_err(s);
    r->finish = inf_stream_finish_reason(s);
    inf_stream_metrics(s, &r->metrics);
    inf_stream_close(&s);
}

/* Generates from a text prompt (or ids when ids != NULL) to the end. */
static inline void et_generate(inf_model *m, const char *prompt,
                               const int32_t *ids, size_t n_ids,
                               const inf_generate_options *o, et_run *r) {
    memset(r, 0, sizeof *r);
    inf_generate_options opts = *o;
    opts.prompt_ids = ids;
    opts.n_prompt_ids = ids ? n_ids : 0;
    inf_stream *s = NULL;
    r->rc = inf_generate(m, prompt, &opts, &s);
    if (r->rc != INF_OK) return;
    et_drain(s, r);
}

#endif
