/* A streamed Generate / Chat: inf_stream_next drives the transfer on the
 * caller's thread until a piece has arrived, so tokens come out as the
 * server sends them; inf_stream_cancel (any thread) flags the transfer and
 * wakes the poll, which then drops the connection at once. */
#include <stdlib.h>
#include <string.h>

#include "remote/model.h"
#include "remote/proto.h"
#include "core/clock.h"

#define POLL_MS 50 /* also how often a caller's inf_cancel deadline is seen */

typedef struct oai_stream {
    inf__oai_model *model;
    CURLM *multi;
    inf__oai_xfer *x;
    inf__oai_piece cur;   /* the piece handed out last (text owned here) */
    int ended;            /* 1 after the end or an error was returned */
    int result;           /* what next() returns once ended */
    int recorded;         /* metrics stored on the model */
} oai_stream;

static void record_once(oai_stream *s) {
    if (s->recorded) return;
    s->recorded = 1;
    inf_metrics mt;
    inf__oai_xfer_metrics(s->x, &mt);
    inf__oai_model_record(s->model, &mt);
}

static int s_next(void *p, inf_token *tok) {
    oai_stream *s = p;
    free(s->cur.text);
    s->cur.text = NULL;
    if (s->ended) return s->result;
    for (;;) {
        if (inf__oai_xfer_pop(s->x, &s->cur)) {
            tok->id = s->cur.id;
            tok->text = s->cur.text;
            tok->text_len = s->cur.len;
            tok->logits = NULL;
            tok->n_logits = 0;
            return 1;
        }
        if (s->x->done) break;
        int rc = inf__oai_pump(s->multi, &s->x, 1, 0, POLL_MS);
        if (rc != INF_OK && !s->x->done) {
            s->x->status = rc;
            snprintf(s->x->errmsg, sizeof s->x->errmsg, "curl failed: %s",
                     inf_strerror(rc));
            inf__oai_xfer_detach(s->x, s->multi);
            s->x->done = 1;
            s->x->t_end_ns = inf__now_ns();
        }
    }
    s->ended = 1;
    s->result = s->x->status == INF_OK ? 0 : s->x->status;
    if (s->x->status == INF_OK) record_once(s);
    return s->result;
}

static int s_err(void *p) {
    oai_stream *s = p;
    return s->x->done ? s->x->status : INF_OK;
}

static const char *s_errmsg(void *p) {
    oai_stream *s = p;
    return s->x->done && s->x->status != INF_OK ? s->x->errmsg : "";
}

static inf_finish_reason s_finish(void *p) {
    oai_stream *s = p;
    if (!s->x->done || s->x->status != INF_OK) return INF_FINISH_NONE;
    inf_finish_reason r = inf__oai_finish(s->x->finish, s->x->sent_stop);
    /* A server that sent [DONE] without a finish_reason stopped on its own. */
    return r == INF_FINISH_NONE ? INF_FINISH_EOS : r;
}

static int s_metrics(void *p, inf_metrics *out) {
    oai_stream *s = p;
    inf__oai_xfer_metrics(s->x, out);
    return INF_OK;
}

static void s_cancel(void *p) {
    oai_stream *s = p;
    inf__oai_xfer_cancel(s->x);
    curl_multi_wakeup(s->multi); /* thread-safe in libcurl */
}

static void s_close(void *p) {
    oai_stream *s = p;
    if (!s) return;
    free(s->cur.text);
    inf__oai_xfer_detach(s->x, s->multi);
    inf__oai_xfer_free(s->x);
    curl_multi_cleanup(s->multi);
    free(s);
}

static const inf_stream_ops stream_ops = {
    .next = s_next,
    .err = s_err,
    .errmsg = s_errmsg,
    .finish_reason = s_finish,
    .metrics = s_metrics,
    .cancel = s_cancel,
    .close = s_close,
};

int inf__oai_stream_start(void *model, const char *prompt,
                          const inf_message *msgs, size_t n_msgs,
                          const inf_generate_options *opts,
                          const inf_stream_ops **sops, void **stream,
                          char **errmsg) {
    inf__oai_model *m = model;
    oai_stream *s = calloc(1, sizeof *s);
    if (!s) return INF_E_NOMEM;
    s->model = m;
    int rc = inf__oai_request(m, prompt, msgs, n_msgs, opts, 1, &s->x, errmsg);
    if (rc != INF_OK) {
        free(s);
        return rc;
    }
    s->multi = curl_multi_init();
    if (!s->multi) {
        inf__oai_xfer_free(s->x);
        free(s);
        if (errmsg) *errmsg = strdup("curl_multi_init failed");
        return INF_E_NOMEM;
    }
    /* Send the request now, so that several streams started before any is
     * read are all in flight at the server (it batches them). */
    inf__oai_pump(s->multi, &s->x, 1, 0, 0);
    *sops = &stream_ops;
    *stream = s;
    return INF_OK;
}
