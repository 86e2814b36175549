/* Sequences: one prompt being generated, shared by the worker (which
 * produces events) and a reader (stream, classify or batch call). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "engine/constrain.h"
#include "engine/engine_int.h"

void inf__event_clear(inf__event *ev) {
    if (!ev) return;
    free(ev->text);
    free(ev->logits);
    memset(ev, 0, sizeof *ev);
}

inf__seq *inf__seq_new(inf__engine *e, const int32_t *ids, size_t n,
                       const inf_generate_options *o, int want_text,
                       inf__err *err) {
    inf__seq *s = calloc(1, sizeof *s);
    if (!s) {
        inf__seterr(err, INF_E_NOMEM, "out of memory");
        return NULL;
    }
    atomic_init(&s->refs, 1);
    atomic_init(&s->cancelled, 0);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->eng = e;
    s->vocab = e->vocab;
    s->slot = -1;
    s->n_prompt = n;
    s->max_tokens = o->max_tokens;
    s->scfg.temperature = o->temperature;
    s->scfg.top_k = o->top_k;
    s->scfg.top_p = o->top_p;
    s->scfg.min_p = o->min_p;
    s->scfg.repeat_penalty = o->repeat_penalty;
    s->scfg.repeat_last_n = o->repeat_last_n;
    s->scfg.presence_penalty = o->presence_penalty;
    s->scfg.frequency_penalty = o->frequency_penalty;
    s->scfg.n_prompt = n;
    inf__rng_seed(&s->rng, o->seed);
    s->ignore_eos = o->ignore_eos;
    s->return_logits = o->return_logits;
    s->cancel = o->cancel;
    s->t_submit = inf__now_ns();

    /* The history holds the prompt plus the generated tokens, which the
     * context bounds (the caller checked n <= n_ctx). */
    s->hist_cap = (n > (size_t)e->n_ctx ? n : (size_t)e->n_ctx) + 2;
    s->hist = malloc(s->hist_cap * sizeof *s->hist);
    if (!s->hist) goto nomem;
    memcpy(s->hist, ids, n * sizeof *ids);
    s->n_hist = n;

    s->priority = o->priority;
    if (e->paged) {
        s->blocks_cap = (int32_t)((s->hist_cap + INF__KV_BLOCK - 1) / INF__KV_BLOCK) + 1;
        s->blocks = malloc((size_t)s->blocks_cap * sizeof *s->blocks);
        s->bhash = malloc((size_t)s->blocks_cap * sizeof *s->bhash);
        if (!s->blocks || !s->bhash) goto nomem;
    }
    if (o->n_stop_ids && o->stop_ids) {
        s->stop_ids = malloc(o->n_stop_ids * sizeof *s->stop_ids);
        if (!s->stop_ids) goto nomem;
        memcpy(s->stop_ids, o->stop_ids, o->n_stop_ids * sizeof *s->stop_ids);
        s->n_stop_ids = o->n_stop_ids;
    }
    if (o->n_logit_bias && o->logit_bias_ids && o->logit_bias_values) {
        size_t nb = o->n_logit_bias;
        s->bias_ids = malloc(nb * sizeof *s->bias_ids);
        s->bias = malloc(nb * sizeof *s->bias);
        if (!s->bias_ids || !s->bias) goto nomem;
        memcpy(s->bias_ids, o->logit_bias_ids, nb * sizeof *s->bias_ids);
        memcpy(s->bias, o->logit_bias_values, nb * sizeof *s->bias);
        s->scfg.bias_ids = s->bias_ids;
        s->scfg.bias = s->bias;
        s->scfg.n_bias = nb;
    }
    if (want_text && e->tok) {
        s->detok = inf__detok_new(e->tok, 1);
        if (!s->detok) goto nomem;
        if (o->n_stop_strings && o->stop_strings) {
            s->stop = inf__stopstr_new(o->stop_strings, o->n_stop_strings);
            if (!s->stop) goto nomem;
        }
    }
    if (inf__constraint_init(e, s, o, err) != INF_OK) {
        inf__seq_unref(s);
        return NULL;
    }
    return s;
nomem:
    inf__seterr(err, INF_E_NOMEM, "out of memory");
    inf__seq_unref(s);
    return NULL;
}

void inf__seq_unref(inf__seq *s) {
    if (!s) return;
    if (atomic_fetch_sub(&s->refs, 1) != 1) return;
    for (size_t i = 0; i < s->ev_len; i++)
        inf__event_clear(&s->ev[(s->ev_head + i) % s->ev_cap]);
    free(s->ev);
    inf__event_clear(&s->cur);
    inf__event_clear(&s->pending);
    free(s->hist);
    free(s->blocks);
    free(s->bhash);
    free(s->stop_ids);
    free(s->bias_ids);
    free(s->bias);
    inf__detok_free(s->detok);
    inf__stopstr_free(s->stop);
    inf__constraint_free(s);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

void inf__seq_deliver(inf__seq *s, inf__event *ev) {
    pthread_mutex_lock(&s->mu);
    if (s->done) {
        /* Ended early by a failed delivery (below): nothing more goes out. */
        pthread_mutex_unlock(&s->mu);
        inf__event_clear(ev);
        return;
    }
    if (s->ev_len == s->ev_cap) {
        size_t cap = s->ev_cap ? s->ev_cap * 2 : 16;
        inf__event *n = malloc(cap * sizeof *n);
        if (!n) {
            /* The token cannot be queued: end the stream with the error
             * rather than hand the reader text with a piece missing, and
             * have the scheduler drop the sequence at its next step. */
            pthread_mutex_unlock(&s->mu);
            inf__event_clear(ev);
            inf__seq_finish(s, INF_E_NOMEM, INF_FINISH_NONE,
                            "out of memory queuing a token for the reader");
            atomic_store(&s->cancelled, 1);
            return;
        }
        for (size_t i = 0; i < s->ev_len; i++)
            n[i] = s->ev[(s->ev_head + i) % s->ev_cap];
        free(s->ev);
        s->ev = n;
        s->ev_cap = cap;
        s->ev_head = 0;
    }
    s->ev[(s->ev_head + s->ev_len) % s->ev_cap] = *ev;
    s->ev_len++;
    memset(ev, 0, sizeof *ev);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void inf__seq_finish(inf__seq *s, int status, inf_finish_reason why,
                     const char *msg) {
    pthread_mutex_lock(&s->mu);
    if (!s->done) {
        s->done = 1;
        s->status = status;
        s->finish = status == INF_OK ? why : INF_FINISH_NONE;
        snprintf(s->errmsg, sizeof s->errmsg, "%s", msg ? msg : "");
        if (!s->t_end) s->t_end = inf__now_ns();
        if (!s->t_admit) s->t_admit = s->t_end;
        if (!s->t_first) s->t_first = s->t_end;
    }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* Text-only events are a few bytes and max_tokens bounds them; events
 * with logits are vocab-sized, hence the pause. */
int inf__seq_backlogged(inf__seq *s) {
    if (!s->return_logits) return 0;
    pthread_mutex_lock(&s->mu);
    int full = s->ev_len >= INF__SEQ_LOGITS_BACKLOG;
    pthread_mutex_unlock(&s->mu);
    return full;
}

void inf__seq_unpause_locked(inf__seq *s) {
    /* Only the event that brought the queue under the bound matters.  The
     * engine is alive while s is not done: the worker ends every sequence
     * (under s->mu) before the engine is freed. */
    if (!s->return_logits || s->done ||
        s->ev_len + 1 != INF__SEQ_LOGITS_BACKLOG)
        return;
    inf__engine *e = s->eng;
    pthread_mutex_lock(&e->mu);
    e->wakes++;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

void inf__seq_wait(inf__seq *s) {
    pthread_mutex_lock(&s->mu);
    while (!s->done) pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
}

void inf__seq_metrics(inf__seq *s, inf_metrics *m) {
    memset(m, 0, sizeof *m);
    pthread_mutex_lock(&s->mu);
    int64_t now = inf__now_ns();
    int64_t admit = s->t_admit ? s->t_admit : now;
    int64_t first = s->t_first ? s->t_first : now;
    int64_t end = s->t_end ? s->t_end : now;
    int done = s->done;
    m->active_memory_bytes = s->mem_active;
    m->peak_memory_bytes = s->mem_peak;
    m->prompt_tokens = (int64_t)s->n_prompt;
    m->generated_tokens = s->n_gen;
    m->cached_prompt_tokens = s->n_cached;
    m->prefill_seconds = s->t_admit ? (double)(first - admit) * 1e-9 : 0;
    m->decode_seconds = s->t_first ? (double)(end - first) * 1e-9 : 0;
    m->total_seconds = (double)(end - s->t_submit) * 1e-9;
    pthread_mutex_unlock(&s->mu);
    if (m->prefill_seconds > 0)
        m->prefill_tokens_per_second =
            (double)m->prompt_tokens / m->prefill_seconds;
    /* The first token comes out of the prefill; the decode steps produce
     * the others. */
    if (m->decode_seconds > 0 && m->generated_tokens > 1)
        m->decode_tokens_per_second =
            (double)(m->generated_tokens - 1) / m->decode_seconds;
    /* A finished sequence keeps the reading taken when it ended, so that
     * its metrics never touch the engine again. */
    if (!done) inf__engine_memory(s->eng, m);
}
