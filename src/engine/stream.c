/* Streams: the reader's side of a sequence.  next() blocks on the
 * sequence's condition variable until the worker delivers a token or ends
 * the sequence. */
#include <stdlib.h>
#include <string.h>

#include "engine/engine_int.h"

static int s_next(void *p, inf_token *tok) {
    inf__seq *s = p;
    if (!s || !tok) return INF_E_INVALID_ARGUMENT;
    memset(tok, 0, sizeof *tok);
    inf__event_clear(&s->cur); /* the previous token's text is released */
    pthread_mutex_lock(&s->mu);
    while (!s->ev_len && !s->done) pthread_cond_wait(&s->cv, &s->mu);
    if (s->ev_len) {
        s->cur = s->ev[s->ev_head];
        s->ev_head = (s->ev_head + 1) % s->ev_cap;
        s->ev_len--;
        inf__seq_unpause_locked(s);
        pthread_mutex_unlock(&s->mu);
        tok->id = s->cur.id;
        tok->text = s->cur.text ? s->cur.text : "";
        tok->text_len = s->cur.len;
        tok->logits = s->cur.logits;
        tok->n_logits = s->cur.logits ? s->vocab : 0;
        return 1;
    }
    int st = s->status;
    pthread_mutex_unlock(&s->mu);
    return st == INF_OK ? 0 : st;
}

static int s_err(void *p) {
    inf__seq *s = p;
    if (!s) return INF_E_INVALID_ARGUMENT;
    pthread_mutex_lock(&s->mu);
    int st = s->done ? s->status : INF_OK;
    pthread_mutex_unlock(&s->mu);
    return st;
}

static const char *s_errmsg(void *p) {
    inf__seq *s = p;
    if (!s) return "";
    /* errmsg is written once, before done is set, and never again. */
    pthread_mutex_lock(&s->mu);
    const char *m = s->done ? s->errmsg : "";
    pthread_mutex_unlock(&s->mu);
    return m;
}

static inf_finish_reason s_finish(void *p) {
    inf__seq *s = p;
    if (!s) return INF_FINISH_NONE;
    pthread_mutex_lock(&s->mu);
    inf_finish_reason r = s->done ? s->finish : INF_FINISH_NONE;
    pthread_mutex_unlock(&s->mu);
    return r;
}

static int s_metrics(void *p, inf_metrics *out) {
    if (!p || !out) return INF_E_INVALID_ARGUMENT;
    inf__seq_metrics(p, out);
    return INF_OK;
}

static void s_cancel(void *p) {
    inf__seq *s = p;
    if (s) atomic_store(&s->cancelled, 1);
}

/* Closing cancels: the worker frees the slot at its next step (or drops
 * the sequence from the queue) and releases its reference then. */
static void s_close(void *p) {
    inf__seq *s = p;
    if (!s) return;
    atomic_store(&s->cancelled, 1);
    inf__seq_unref(s);
}

const inf_stream_ops inf__engine_stream_ops = {
    .next = s_next,
    .err = s_err,
    .errmsg = s_errmsg,
    .finish_reason = s_finish,
    .metrics = s_metrics,
    .cancel = s_cancel,
    .close = s_close,
};
