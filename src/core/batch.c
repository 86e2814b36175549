/* Classify and BatchGenerate at the handle level: argument checks, then the
 * backend's own implementation, or a generic one built on streams (all
 * streams are started before any is read, so a backend that batches
 * concurrent streams runs them together). */
#include <stdlib.h>
#include <string.h>

#include "core/handles.h"
#include "core/options.h"
#include "core/util.h"
#include "inference_backend.h"


/* The checks every batch call starts with: the prompts, then the options
 * (normalised into *o once, for the backend and the generic path alike).
 * On failure the calling thread's model error says why. */
static int begin(inf_model *m, const char *const *prompts, size_t n,
                 const inf_generate_options *opts, void *out,
                 inf_generate_options *o) {
    if (!m || !out) return INF_E_INVALID_ARGUMENT;
    inf__err err;
    inf__err_clear(&err);
    if (n && !prompts)
        inf__seterr(&err, INF_E_INVALID_ARGUMENT, "prompts array is NULL");
    for (size_t i = 0; prompts && i < n && !err.code; i++)
        if (!prompts[i])
            inf__seterr(&err, INF_E_INVALID_ARGUMENT, "prompt %zu is NULL", i);
    if (!err.code) inf__gen_opts_prepare(opts, o, &err);
    if (err.code) inf__model_seterr(m, err.code, err.msg);
    return err.code;
}

/* A backend's own Classify / BatchGenerate returned rc and msg (malloc'd or
 * NULL): a failure becomes the thread's model error; msg is freed. */
static int backend_done(inf_model *m, int rc, char *msg) {
    if (rc != INF_OK) inf__model_seterr(m, rc, msg);
    free(msg);
    return rc;
}

int inf_classify(inf_model *m, const char *const *prompts, size_t n,
                 const inf_generate_options *opts, inf_classify_result **out) {
    if (out) *out = NULL;
    inf_generate_options o;
    int rc0 = begin(m, prompts, n, opts, out, &o);
    if (rc0 != INF_OK) return rc0;
    inf_classify_result *r = calloc(n ? n : 1, sizeof *r);
    if (!r) return INF_E_NOMEM;
    if (m->ops->classify) {
        char *msg = NULL;
        int rc = m->ops->classify(m->impl, prompts, n, &o, r, &msg);
        if (backend_done(m, rc, msg) != INF_OK) {
            inf_classify_results_free(r, n);
            return rc;
        }
        *out = r;
        return INF_OK;
    }
    o.max_tokens = 1;
    inf_stream **ss = calloc(n ? n : 1, sizeof *ss);
    if (!ss) {
        free(r);
        return INF_E_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        r[i].status = inf_generate(m, prompts[i], &o, &ss[i]);
        if (r[i].status != INF_OK) r[i].error = inf__strdup_or_empty(inf_model_errmsg(m));
    }
    for (size_t i = 0; i < n; i++) {
        if (!ss[i]) continue;
        inf_token t;
        int got = inf_stream_next(ss[i], &t);
        if (got == 1) {
            r[i].token_id = t.id;
            r[i].text = inf__strdup_or_empty(t.text);
            if (t.logits && t.n_logits > 0) {
                r[i].logits = malloc((size_t)t.n_logits * sizeof(float));
                if (r[i].logits) {
                    memcpy(r[i].logits, t.logits,
                           (size_t)t.n_logits * sizeof(float));
                    r[i].n_logits = t.n_logits;
                }
            }
        } else {
            r[i].status = got < 0 ? got : inf_stream_err(ss[i]);
            if (r[i].status == INF_OK) r[i].status = INF_E_INTERNAL;
            r[i].error = inf__strdup_or_empty(inf_stream_errmsg(ss[i]));
        }
        inf_stream_close(&ss[i]);
    }
    free(ss);
    *out = r;
    return INF_OK;
}

void inf_classify_results_free(inf_classify_result *r, size_t n) {
    if (!r) return;
    for (size_t i = 0; i < n; i++) {
        free(r[i].error);
        free(r[i].text);
        free(r[i].logits);
    }
    free(r);
}

/* Appends to a growable buffer; returns 0 on allocation failure. */
static int append(char **buf, size_t *len, size_t *cap, const char *s,
                  size_t n) {
    if (*len + n + 1 > *cap) {
        size_t nc = (*cap ? *cap * 2 : 64);
        while (nc < *len + n + 1) nc *= 2;
        char *nb = realloc(*buf, nc);
        if (!nb) return 0;
        *buf = nb;
        *cap = nc;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 1;
}

int inf_batch_generate(inf_model *m, const char *const *prompts, size_t n,
                       const inf_generate_options *opts,
                       inf_batch_result **out) {
    if (out) *out = NULL;
    inf_generate_options o;
    int rc0 = begin(m, prompts, n, opts, out, &o);
    if (rc0 != INF_OK) return rc0;
    inf_batch_result *r = calloc(n ? n : 1, sizeof *r);
    if (!r) return INF_E_NOMEM;
    if (m->ops->batch_generate) {
        char *msg = NULL;
        int rc = m->ops->batch_generate(m->impl, prompts, n, &o, r, &msg);
        if (backend_done(m, rc, msg) != INF_OK) {
            inf_batch_results_free(r, n);
            return rc;
        }
        *out = r;
        return INF_OK;
    }
    inf_stream **ss = calloc(n ? n : 1, sizeof *ss);
    if (!ss) {
        free(r);
        return INF_E_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        r[i].status = inf_generate(m, prompts[i], &o, &ss[i]);
        if (r[i].status != INF_OK) r[i].error = inf__strdup_or_empty(inf_model_errmsg(m));
    }
    for (size_t i = 0; i < n; i++) {
        if (!ss[i]) continue;
        size_t len = 0, cap = 0, ncap = 0;
        inf_token t;
        int got;
        int oom = 0;
        while ((got = inf_stream_next(ss[i], &t)) == 1) {
            if (r[i].n_tokens == ncap) {
                ncap = ncap ? ncap * 2 : 16;
                int32_t *ni = realloc(r[i].token_ids, ncap * sizeof(int32_t));
                if (!ni) { oom = 1; break; }
                r[i].token_ids = ni;
            }
            r[i].token_ids[r[i].n_tokens++] = t.id;
            if (!append(&r[i].text, &len, &cap, t.text ? t.text : "",
                        t.text_len)) { oom = 1; break; }
        }
        if (!r[i].text) r[i].text = inf__strdup_or_empty("");
        r[i].status = oom ? INF_E_NOMEM : got < 0 ? got : inf_stream_err(ss[i]);
        if (r[i].status != INF_OK)
            r[i].error = inf__strdup_or_empty(oom ? "out of memory" : inf_stream_errmsg(ss[i]));
        r[i].finish_reason = inf_stream_finish_reason(ss[i]);
        inf_stream_metrics(ss[i], &r[i].metrics);
        inf_stream_close(&ss[i]);
    }
    free(ss);
    *out = r;
    return INF_OK;
}

void inf_batch_results_free(inf_batch_result *r, size_t n) {
    if (!r) return;
    for (size_t i = 0; i < n; i++) {
        free(r[i].error);
        free(r[i].token_ids);
        free(r[i].text);
    }
    free(r);
}
