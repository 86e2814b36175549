/* Classify and BatchGenerate for the remote backends: one request per
 * prompt, all in flight together on one curl multi handle (the server
 * batches concurrent requests), each prompt with its own status. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remote/model.h"
#include "remote/proto.h"
#include "core/clock.h"
#include "core/log.h"

/* Requests in flight at once; more wait their turn (a server queues or
 * rejects what exceeds its slots anyway). */
#define MAX_ACTIVE 16
#define POLL_MS 50

typedef struct run {
    CURLM *multi;
    inf__oai_xfer **xs;
    size_t n;
} run;

/* Creates a request per prompt; a prompt whose request cannot be built gets
 * its error in *status and *error and a NULL transfer. */
static int start_all(inf__oai_model *m, const char *const *prompts, size_t n,
                     const inf_generate_options *o, run *r, int *status,
                     char **error, size_t stride) {
    r->n = n;
    r->xs = calloc(n ? n : 1, sizeof *r->xs);
    r->multi = curl_multi_init();
    if (!r->xs || !r->multi) return INF_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        char *msg = NULL;
        int rc = inf__oai_request(m, prompts[i], NULL, 0, o, 1, &r->xs[i], &msg);
        int *st = (int *)((char *)status + i * stride);
        char **er = (char **)((char *)error + i * stride);
        if (rc != INF_OK) {
            *st = rc;
            *er = msg ? msg : strdup(inf_strerror(rc));
        } else {
            free(msg);
        }
    }
    return INF_OK;
}

static void end_all(run *r) {
    for (size_t i = 0; r->xs && i < r->n; i++) {
        inf__oai_xfer_detach(r->xs[i], r->multi);
        inf__oai_xfer_free(r->xs[i]);
    }
    free(r->xs);
    if (r->multi) curl_multi_cleanup(r->multi);
}

static int all_done(const run *r) {
    for (size_t i = 0; i < r->n; i++)
        if (r->xs[i] && !r->xs[i]->done) return 0;
    return 1;
}

/* Aggregate metrics of the whole call, recorded on the model. */
static void record(inf__oai_model *m, const run *r, int64_t t0) {
    inf_metrics agg;
    memset(&agg, 0, sizeof agg);
    double first_max = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (!r->xs[i]) continue;
        inf_metrics mt;
        inf__oai_xfer_metrics(r->xs[i], &mt);
        agg.prompt_tokens += mt.prompt_tokens;
        agg.generated_tokens += mt.generated_tokens;
        double first = (double)((r->xs[i]->got_first ? r->xs[i]->t_first_ns
                                                     : r->xs[i]->t_end_ns) - t0) * 1e-9;
        if (first > first_max) first_max = first;
        agg.active_memory_bytes = mt.active_memory_bytes;
        agg.peak_memory_bytes = mt.peak_memory_bytes;
    }
    agg.total_seconds = (double)(inf__now_ns() - t0) * 1e-9;
    agg.prefill_seconds = first_max;
    agg.decode_seconds = agg.total_seconds - first_max;
    if (agg.prefill_seconds > 0)
        agg.prefill_tokens_per_second = (double)agg.prompt_tokens / agg.prefill_seconds;
    if (agg.decode_seconds > 0)
        agg.decode_tokens_per_second = (double)agg.generated_tokens / agg.decode_seconds;
    inf__oai_model_record(m, &agg);
}

static int append(char **buf, size_t *len, size_t *cap, const char *s, size_t n) {
    if (*len + n + 1 > *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        while (nc < *len + n + 1) nc *= 2;
        char *nb = realloc(*buf, nc);
        if (!nb) return -1;
        *buf = nb;
        *cap = nc;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

static int refuse_logits(const inf_generate_options *o, char **errmsg) {
    if (!o->return_logits) return 0;
    const char *msg = "return_logits is not supported by the remote backends: "
                      "OpenAI-compatible servers do not return logits";
    inf__log(INF_LOG_ERROR, "%s", msg);
    if (errmsg) *errmsg = strdup(msg);
    return 1;
}

int inf__oai_batch_generate(void *model, const char *const *prompts,
                            size_t n, const inf_generate_options *opts,
                            inf_batch_result *out, char **errmsg) {
    inf__oai_model *m = model;
    if (refuse_logits(opts, errmsg)) return INF_E_UNSUPPORTED;
    inf_generate_options o = *opts;
    o.prompt_ids = NULL; /* each prompt is its own text */
    o.n_prompt_ids = 0;
    int64_t t0 = inf__now_ns();
    run r = {0};
    int rc = start_all(m, prompts, n, &o, &r, &out[0].status, &out[0].error,
                       sizeof out[0]);
    size_t *len = calloc(n ? n : 1, sizeof *len);
    size_t *cap = calloc(n ? n : 1, sizeof *cap);
    size_t *icap = calloc(n ? n : 1, sizeof *icap);
    if (rc != INF_OK || !len || !cap || !icap) {
        end_all(&r);
        free(len); free(cap); free(icap);
        return INF_E_NOMEM;
    }
    int oom = 0;
    for (;;) {
        for (size_t i = 0; i < n; i++) { /* take what has arrived */
            inf__oai_piece p;
            while (r.xs[i] && inf__oai_xfer_pop(r.xs[i], &p)) {
                if (out[i].n_tokens == icap[i]) {
                    icap[i] = icap[i] ? icap[i] * 2 : 32;
                    int32_t *ni = realloc(out[i].token_ids, icap[i] * sizeof *ni);
                    if (!ni) oom = 1;
                    else out[i].token_ids = ni;
                }
                if (!oom) out[i].token_ids[out[i].n_tokens++] = p.id;
                if (!oom && append(&out[i].text, &len[i], &cap[i], p.text, p.len))
                    oom = 1;
                free(p.text);
            }
        }
        if (oom || all_done(&r)) break;
        if (inf__oai_pump(r.multi, r.xs, n, MAX_ACTIVE, POLL_MS) != INF_OK) {
            oom = 1;
            break;
        }
    }
    for (size_t i = 0; i < n; i++) {
        inf__oai_xfer *x = r.xs[i];
        if (!out[i].text) out[i].text = strdup("");
        if (!x) continue; /* the request could not be built: error set */
        if (oom && !x->done) {
            out[i].status = INF_E_NOMEM;
            out[i].error = strdup("out of memory");
            continue;
        }
        out[i].status = x->status;
        if (x->status != INF_OK) out[i].error = strdup(x->errmsg);
        out[i].finish_reason = x->status == INF_OK
                                   ? inf__oai_finish(x->finish, x->sent_stop)
                                   : INF_FINISH_NONE;
        if (x->status == INF_OK && out[i].finish_reason == INF_FINISH_NONE)
            out[i].finish_reason = INF_FINISH_EOS;
        inf__oai_xfer_metrics(x, &out[i].metrics);
    }
    record(m, &r, t0);
    end_all(&r);
    free(len); free(cap); free(icap);
    return oom ? INF_E_NOMEM : INF_OK;
}

int inf__oai_classify(void *model, const char *const *prompts, size_t n,
                      const inf_generate_options *opts,
                      inf_classify_result *out, char **errmsg) {
    inf__oai_model *m = model;
    if (refuse_logits(opts, errmsg)) return INF_E_UNSUPPORTED;
    inf_generate_options o = *opts;
    o.prompt_ids = NULL;
    o.n_prompt_ids = 0;
    o.max_tokens = 1; /* the next token only */
    int64_t t0 = inf__now_ns();
    run r = {0};
    int rc = start_all(m, prompts, n, &o, &r, &out[0].status, &out[0].error,
                       sizeof out[0]);
    if (rc != INF_OK) {
        end_all(&r);
        return INF_E_NOMEM;
    }
    while (!all_done(&r))
        if (inf__oai_pump(r.multi, r.xs, n, MAX_ACTIVE, POLL_MS) != INF_OK) {
            rc = INF_E_INTERNAL;
            break;
        }
    for (size_t i = 0; i < n; i++) {
        inf__oai_xfer *x = r.xs[i];
        if (!x) continue;
        out[i].token_id = -1;
        if (!x->done || x->status != INF_OK) {
            out[i].status = x->done ? x->status : INF_E_INTERNAL;
            out[i].error = strdup(x->done ? x->errmsg : "curl failed");
            continue;
        }
        /* Usually one piece; a server may split a token's text in two. */
        size_t len = 0, cap = 0;
        inf__oai_piece p;
        while (inf__oai_xfer_pop(x, &p)) {
            if (append(&out[i].text, &len, &cap, p.text, p.len)) rc = INF_E_NOMEM;
            out[i].token_id = p.id;
            free(p.text);
        }
        /* No text: the model's next token ends the sequence (eos). */
        if (!out[i].text) out[i].text = strdup("");
        out[i].status = INF_OK;
    }
    record(m, &r, t0);
    end_all(&r);
    return rc;
}
