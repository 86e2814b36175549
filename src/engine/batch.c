/*
 * Classify, BatchGenerate and the benchmark helper.  All three submit every
 * prompt to the scheduler at once and wait, so the prompts share forward
 * passes (up to parallel_slots at a time, prefill chunks up to the step's
 * token budget) exactly as concurrent streams do.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/util.h"
#include "core/options.h"
#include "engine/engine_int.h"


/* Metrics of an operation over several sequences: token counts summed;
 * prefill = first admission to the last first token, decode = from there
 * to the last end, total = the call's wall time. */
static void aggregate(inf__engine *e, inf__seq **seqs, size_t n, int64_t t0,
                      inf_metrics *m) {
    memset(m, 0, sizeof *m);
    int64_t admit = 0, first = 0, end = 0;
    for (size_t i = 0; i < n; i++) {
        inf__seq *s = seqs[i];
        if (!s) continue;
        pthread_mutex_lock(&s->mu);
        m->prompt_tokens += (int64_t)s->n_prompt;
        m->generated_tokens += s->n_gen;
        m->cached_prompt_tokens += s->n_cached;
        if (!admit || s->t_admit < admit) admit = s->t_admit;
        if (s->t_first > first) first = s->t_first;
        if (s->t_end > end) end = s->t_end;
        pthread_mutex_unlock(&s->mu);
    }
    int64_t now = inf__now_ns();
    if (admit && first >= admit) m->prefill_seconds = (double)(first - admit) * 1e-9;
    if (first && end >= first) m->decode_seconds = (double)(end - first) * 1e-9;
    m->total_seconds = (double)(now - t0) * 1e-9;
    if (m->prefill_seconds > 0)
        m->prefill_tokens_per_second =
            (double)m->prompt_tokens / m->prefill_seconds;
    /* Each sequence's first token comes out of its prefill. */
    int64_t dec = m->generated_tokens;
    for (size_t i = 0; i < n; i++) dec -= seqs[i] && seqs[i]->n_gen > 0;
    if (m->decode_seconds > 0 && dec > 0)
        m->decode_tokens_per_second = (double)dec / m->decode_seconds;
    inf__engine_memory(e, m);
}

static void set_error(int *status, char **error, const inf__err *err, int rc) {
    *status = rc;
    *error = inf__strdup_or_empty(err->msg[0] ? err->msg : inf_strerror(rc));
}

/* ---- classify ------------------------------------------------------------ */

/* Runs prompts given as ids; entries whose status is already an error are
 * skipped (tokenization failed). */
static int classify_run(inf__engine *e, const int32_t *const *ids,
                        const size_t *n_ids, size_t n,
                        const inf_generate_options *opts,
                        inf_classify_result *out, inf__err *err) {
    /* opts comes prepared from the core (or NULL from the ids entry point
     * of tests and benchmarks: defaults). */
    inf_generate_options o;
    inf__gen_opts_normalize(opts, &o);
    /* One token at the last position of each prompt, whatever it is. */
    o.max_tokens = 1;
    o.ignore_eos = 1;
    o.stop_ids = NULL;
    o.n_stop_ids = 0;
    o.stop_strings = NULL;
    o.n_stop_strings = 0;
    inf__seq **seqs = calloc(n ? n : 1, sizeof *seqs);
    if (!seqs) return inf__seterr(err, INF_E_NOMEM, "out of memory");
    int64_t t0 = inf__now_ns();
    for (size_t i = 0; i < n; i++) {
        if (out[i].status != INF_OK) continue;
        inf__err err;
        inf__err_clear(&err);
        int rc = inf__engine_submit_ids(e, ids[i], n_ids[i], &o, 0, 1,
                                        &seqs[i], &err);
        if (rc != INF_OK) set_error(&out[i].status, &out[i].error, &err, rc);
    }
    for (size_t i = 0; i < n; i++) {
        inf__seq *s = seqs[i];
        if (!s) continue;
        inf__seq_wait(s);
        /* done: the worker has delivered everything it will */
        if (s->status != INF_OK || s->ev_len == 0) {
            out[i].status = s->status != INF_OK ? s->status : INF_E_INTERNAL;
            out[i].error = inf__strdup_or_empty(s->errmsg[0] ? s->errmsg
                                                : "no token was produced");
            continue;
        }
        inf__event *ev = &s->ev[s->ev_head];
        out[i].token_id = ev->id;
        out[i].logits = ev->logits;
        out[i].n_logits = ev->logits ? e->vocab : 0;
        ev->logits = NULL;
        char *text = NULL;
        size_t tl = 0;
        /* A token's text that cannot be decoded for want of memory is this
         * prompt's error, not an empty text (allocation-failure test). */
        int drc = e->tok ? inf__tok_decode(e->tok, &ev->id, 1, 0, &text, &tl, NULL) : INF_OK;
        if (drc == INF_OK && text) {
            out[i].text = text;
        } else {
            free(text);
            out[i].text = inf__strdup_or_empty("");
        }
        if (drc != INF_OK || !out[i].text) {
            out[i].status = drc != INF_OK ? drc : INF_E_NOMEM;
            out[i].error = inf__strdup_or_empty("decoding the token's text: out of memory");
        }
    }
    inf_metrics m;
    aggregate(e, seqs, n, t0, &m);
    inf__engine_set_last(e, &m);
    for (size_t i = 0; i < n; i++) inf__seq_unref(seqs[i]);
    free(seqs);
    return INF_OK;
}

int inf__engine_classify_ids(void *model, const int32_t *const *ids,
                             const size_t *n_ids, size_t n,
                             const inf_generate_options *opts,
                             inf_classify_result *out, char **errmsg) {
    if (errmsg) *errmsg = NULL;
    if (!model || (n && (!ids || !n_ids || !out)))
        return INF_E_INVALID_ARGUMENT;
    memset(out, 0, n * sizeof *out);
    inf__err err;
    inf__err_clear(&err);
    int rc = classify_run(model, ids, n_ids, n, opts, out, &err);
    if (rc != INF_OK && errmsg) *errmsg = inf__strdup_or_empty(err.msg);
    return rc;
}

int inf__engine_op_classify(void *model, const char *const *prompts, size_t n,
                            const inf_generate_options *opts,
                            inf_classify_result *out, char **errmsg) {
    inf__engine *e = model;
    if (errmsg) *errmsg = NULL;
    if (n && (!prompts || !out)) return INF_E_INVALID_ARGUMENT;
    memset(out, 0, n * sizeof *out);
    int32_t **ids = calloc(n ? n : 1, sizeof *ids);
    size_t *n_ids = calloc(n ? n : 1, sizeof *n_ids);
    inf__err run_err;
    inf__err_clear(&run_err);
    int rc = inf__seterr(&run_err, INF_E_NOMEM, "out of memory");
    if (ids && n_ids) {
        for (size_t i = 0; i < n; i++) {
            inf__err err;
            inf__err_clear(&err);
            int r = inf__engine_tokenize(e, prompts[i], 1, &ids[i], &n_ids[i],
                                         &err);
            if (r != INF_OK) set_error(&out[i].status, &out[i].error, &err, r);
        }
        rc = classify_run(e, (const int32_t *const *)ids, n_ids, n, opts, out,
                          &run_err);
    }
    if (ids)
        for (size_t i = 0; i < n; i++) free(ids[i]);
    free(ids);
    free(n_ids);
    if (rc != INF_OK && errmsg) *errmsg = inf__strdup_or_empty(run_err.msg);
    return rc;
}

/* ---- batch generate ------------------------------------------------------ */

int inf__engine_op_batch(void *model, const char *const *prompts, size_t n,
                         const inf_generate_options *opts,
                         inf_batch_result *out, char **errmsg) {
    inf__engine *e = model;
    if (errmsg) *errmsg = NULL;
    if (n && (!prompts || !out)) return INF_E_INVALID_ARGUMENT;
    memset(out, 0, n * sizeof *out);
    inf_generate_options o = *opts; /* prepared by the core */
    o.return_logits = 0; /* a batch result has no place for them */
    inf__seq **seqs = calloc(n ? n : 1, sizeof *seqs);
    if (!seqs) {
        if (errmsg) *errmsg = inf__strdup_or_empty("out of memory");
        return INF_E_NOMEM;
    }
    int64_t t0 = inf__now_ns();
    for (size_t i = 0; i < n; i++) {
        inf__err err;
        inf__err_clear(&err);
        int32_t *ids = NULL;
        size_t n_ids = 0;
        int rc = inf__engine_tokenize(e, prompts[i], 1, &ids, &n_ids, &err);
        if (rc == INF_OK)
            rc = inf__engine_submit_ids(e, ids, n_ids, &o, 1, 1, &seqs[i],
                                        &err);
        free(ids);
        if (rc != INF_OK) set_error(&out[i].status, &out[i].error, &err, rc);
    }
    for (size_t i = 0; i < n; i++) {
        inf__seq *s = seqs[i];
        if (!s) continue;
        inf__seq_wait(s);
        inf_batch_result *r = &out[i];
        size_t cap = s->ev_len ? s->ev_len : 1, tl = 0;
        for (size_t k = 0; k < s->ev_len; k++)
            tl += s->ev[(s->ev_head + k) % s->ev_cap].len;
        r->token_ids = malloc(cap * sizeof *r->token_ids);
        r->text = malloc(tl + 1);
        if (!r->token_ids || !r->text) {
            free(r->token_ids);
            free(r->text);
            r->token_ids = NULL;
            r->text = NULL;
            r->status = INF_E_NOMEM;
            r->error = inf__strdup_or_empty("out of memory");
            continue;
        }
        tl = 0;
        for (size_t k = 0; k < s->ev_len; k++) {
            inf__event *ev = &s->ev[(s->ev_head + k) % s->ev_cap];
            if (ev->id >= 0) r->token_ids[r->n_tokens++] = ev->id;
            if (ev->len) memcpy(r->text + tl, ev->text, ev->len);
            tl += ev->len;
        }
        r->text[tl] = '\0';
        r->finish_reason = s->finish;
        inf__seq_metrics(s, &r->metrics);
        if (s->status != INF_OK) {
            r->status = s->status;
            r->error = inf__strdup_or_empty(s->errmsg);
        }
    }
    inf_metrics m;
    aggregate(e, seqs, n, t0, &m);
    inf__engine_set_last(e, &m);
    for (size_t i = 0; i < n; i++) inf__seq_unref(seqs[i]);
    free(seqs);
    return INF_OK;
}

/* ---- logits at every position ------------------------------------------ */

int inf__engine_op_logits(void *model, const int32_t *ids, size_t n,
                          float *out, char **errmsg) {
    inf__engine *e = model;
    if (errmsg) *errmsg = NULL;
    if (!e || !out) return INF_E_INVALID_ARGUMENT;
    inf_generate_options o;
    inf_generate_options_default(&o);
    o.max_tokens = 0;
    inf__err err;
    inf__err_clear(&err);
    /* The worker writes into out directly; the sequence is set up before
     * it is queued, so it must be made here rather than by submit_ids. */
    inf__seq *s = NULL;
    int64_t t0 = inf__now_ns();
    int rc = INF_OK;
    if (!n || !ids) {
        rc = inf__seterr(&err, INF_E_INVALID_ARGUMENT, "no token ids");
    } else if (n > (size_t)e->n_ctx) {
        rc = inf__seterr(&err, INF_E_CONTEXT_LENGTH,
                         "%zu tokens do not fit in the context (%d)", n,
                         e->n_ctx);
    } else {
        for (size_t i = 0; i < n && rc == INF_OK; i++)
            if (ids[i] < 0 || ids[i] >= e->vocab)
                rc = inf__seterr(&err, INF_E_INVALID_ARGUMENT,
                                 "token id %d at position %zu is outside the "
                                 "vocabulary (0..%d)",
                                 ids[i], i, e->vocab - 1);
    }
    if (rc == INF_OK) {
        s = inf__seq_new(e, ids, n, &o, 0, &err);
        if (!s) rc = err.code ? err.code : INF_E_NOMEM;
    }
    if (rc == INF_OK) {
        s->all_logits = out;
        rc = inf__sched_submit(e, s, 0, &err);
    }
    if (rc == INF_OK) {
        inf__seq_wait(s);
        if (s->status != INF_OK)
            rc = inf__seterr(&err, s->status, "%s", s->errmsg);
        inf_metrics m;
        aggregate(e, &s, 1, t0, &m);
        inf__engine_set_last(e, &m);
    }
    inf__seq_unref(s);
    if (rc != INF_OK && errmsg) *errmsg = inf__strdup_or_empty(err.msg);
    return rc;
}

/* ---- benchmark ----------------------------------------------------------- */

int inf__engine_bench(void *model, int32_t n_prompt, int32_t n_gen,
                      int32_t n_parallel, inf_metrics *out, char **errmsg) {
    inf__engine *e = model;
    if (errmsg) *errmsg = NULL;
    if (!e || !out || n_prompt <= 0 || n_gen <= 0 || n_parallel <= 0) {
        if (errmsg) *errmsg = inf__strdup_or_empty("bench: bad arguments");
        return INF_E_INVALID_ARGUMENT;
    }
    inf_generate_options o;
    inf_generate_options_default(&o);
    o.max_tokens = n_gen;
    o.ignore_eos = 1;
    int32_t *ids = malloc((size_t)n_prompt * sizeof *ids);
    inf__seq **seqs = calloc((size_t)n_parallel, sizeof *seqs);
    int rc = INF_OK;
    inf__err err;
    inf__err_clear(&err);
    if (!ids || !seqs) {
        rc = inf__seterr(&err, INF_E_NOMEM, "out of memory");
        goto done;
    }
    uint64_t x = 0x2545f4914f6cdd1dULL;
    int64_t t0 = inf__now_ns();
    for (int32_t p = 0; p < n_parallel && rc == INF_OK; p++) {
        for (int32_t i = 0; i < n_prompt; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ids[i] = (int32_t)(x % (uint64_t)e->vocab);
        }
        rc = inf__engine_submit_ids(e, ids, (size_t)n_prompt, &o, 0, 1,
                                    &seqs[p], &err);
    }
    for (int32_t p = 0; p < n_parallel; p++) {
        if (!seqs[p]) continue;
        inf__seq_wait(seqs[p]);
        if (rc == INF_OK && seqs[p]->status != INF_OK)
            rc = inf__seterr(&err, seqs[p]->status, "%s", seqs[p]->errmsg);
    }
    aggregate(e, seqs, (size_t)n_parallel, t0, out);
done:
    if (seqs)
        for (int32_t p = 0; p < n_parallel; p++) inf__seq_unref(seqs[p]);
    free(seqs);
    free(ids);
    if (rc != INF_OK && errmsg) *errmsg = inf__strdup_or_empty(err.msg);
    return rc;
}
