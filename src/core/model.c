/* inf_model and inf_stream: the handles programs hold.  They wrap a
 * backend's ops tables, normalise and check the options once (core/options.h)
 * before a backend sees them, keep each thread's last error, and supply
 * generic Classify / BatchGenerate for backends that do not implement their
 * own (core/batch.c). */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/handles.h"
#include "core/options.h"
#include "core/registry.h"
#include "core/util.h"
#include "inference_backend.h"

/* ---- per-thread errors ------------------------------------------------------
 * Each thread keeps the last failure of a few models, keyed by the model's
 * serial number (not its address, which a later model may reuse), so that a
 * message always belongs to the caller's own call: two threads failing on
 * one model at once each read their own.  A thread that fails on more than
 * INF__TL_ERRS models forgets the oldest. */
#define INF__TL_ERRS 4
typedef struct tl_err {
    uint64_t serial; /* 0: empty */
    uint64_t age;
    int code;
    char msg[INF__ERR_MSG_MAX];
} tl_err;
static _Thread_local tl_err tl_errs[INF__TL_ERRS];
static _Thread_local uint64_t tl_clock;
static atomic_uint_fast64_t next_serial = 1;

static tl_err *tl_find(const inf_model *m) {
    for (int i = 0; i < INF__TL_ERRS; i++)
        if (tl_errs[i].serial == m->serial) return &tl_errs[i];
    return NULL;
}

void inf__model_seterr(inf_model *m, int code, const char *msg) {
    tl_err *e = tl_find(m);
    if (!e) { /* the empty or oldest slot */
        e = &tl_errs[0];
        for (int i = 1; i < INF__TL_ERRS; i++)
            if (tl_errs[i].age < e->age) e = &tl_errs[i];
    }
    e->serial = m->serial;
    e->age = ++tl_clock;
    e->code = code;
    snprintf(e->msg, sizeof e->msg, "%s",
             msg && msg[0] ? msg : inf_strerror(code));
}

/* Records a failed call with an inf__err and returns its code. */
static int model_fail(inf_model *m, const inf__err *err) {
    inf__model_seterr(m, err->code, err->msg);
    return err->code;
}

int inf_model_load(const char *path, const inf_load_options *opts,
                   inf_model **out, char **errmsg) {
    if (errmsg) *errmsg = NULL;
    if (!out) return INF_E_INVALID_ARGUMENT;
    *out = NULL;
    inf__err err;
    inf__err_clear(&err);
    if (!path || !path[0]) {
        if (errmsg) *errmsg = inf__strdup("model path is empty");
        return INF_E_INVALID_ARGUMENT;
    }
    inf_load_options o;
    const inf_backend *b = NULL;
    int rc = inf__load_opts_prepare(opts, &o, &err);
    if (rc == INF_OK) rc = inf__backend_resolve(o.backend, &b, &err);
    if (rc != INF_OK) {
        if (errmsg) *errmsg = inf__strdup(err.msg);
        return rc;
    }
    inf_model *m = calloc(1, sizeof *m);
    if (!m) {
        if (errmsg) *errmsg = inf__strdup("out of memory");
        return INF_E_NOMEM;
    }
    m->serial = atomic_fetch_add(&next_serial, 1);
    m->backend = b;
    char *bmsg = NULL;
    rc = b->load(b->user, path, &o, &m->ops, &m->impl, &bmsg);
    if (rc == INF_OK && (!m->ops || !m->ops->start || !m->ops->close)) {
        if (m->ops && m->ops->close && m->impl) m->ops->close(m->impl);
        rc = INF_E_INTERNAL;
        free(bmsg);
        bmsg = NULL;
        if (errmsg) {
            char buf[256];
            snprintf(buf, sizeof buf,
                     "backend \"%s\" returned an incomplete model", b->name);
            *errmsg = inf__strdup(buf);
        }
    } else if (rc != INF_OK) {
        if (errmsg)
            *errmsg = bmsg ? bmsg : inf__strdup(inf_strerror(rc));
        else
            free(bmsg);
        bmsg = NULL;
    }
    free(bmsg);
    if (rc != INF_OK) {
        free(m);
        return rc;
    }
    *out = m;
    return INF_OK;
}

void inf_model_close(inf_model **pm) {
    if (!pm || !*pm) return;
    inf_model *m = *pm;
    *pm = NULL;
    if (m->ops && m->ops->close) m->ops->close(m->impl);
    free(m);
}

const char *inf_model_type(const inf_model *m) {
    if (!m || !m->ops) return "";
    if (m->ops->model_type) {
        const char *t = m->ops->model_type(m->impl);
        if (t) return t;
    }
    return "";
}

int inf_model_info_get(const inf_model *m, inf_model_info *out) {
    if (!m || !out) return INF_E_INVALID_ARGUMENT;
    memset(out, 0, sizeof *out);
    int rc = m->ops->info ? m->ops->info(m->impl, out) : INF_E_UNSUPPORTED;
    if (!out->backend[0])
        snprintf(out->backend, sizeof out->backend, "%s", m->backend->name);
    return rc;
}

int inf_model_metrics(const inf_model *m, inf_metrics *out) {
    if (!m || !out) return INF_E_INVALID_ARGUMENT;
    memset(out, 0, sizeof *out);
    return m->ops->metrics ? m->ops->metrics(m->impl, out) : INF_E_UNSUPPORTED;
}

int inf_model_errcode(const inf_model *m) {
    if (!m) return INF_E_INVALID_ARGUMENT;
    const tl_err *e = tl_find(m);
    return e ? e->code : INF_OK;
}

const char *inf_model_errmsg(const inf_model *m) {
    if (!m) return "invalid model handle (NULL)";
    const tl_err *e = tl_find(m);
    return e ? e->msg : "";
}

const inf_tokenizer *inf_model_tokenizer(const inf_model *m) {
    return m && m->ops->tokenizer ? m->ops->tokenizer(m->impl) : NULL;
}

const inf_chat_template *inf_model_chat_template(const inf_model *m) {
    return m && m->ops->chat_template ? m->ops->chat_template(m->impl) : NULL;
}

int inf_model_generation_defaults(const inf_model *m, inf_generate_options *o) {
    if (!m || !o) return INF_E_INVALID_ARGUMENT;
    if (!m->ops->generation_defaults) return INF_OK;
    /* The backend writes into a full-size struct; the caller's may be an
     * older, smaller one. */
    inf_generate_options full;
    inf__gen_opts_normalize(o, &full);
    m->ops->generation_defaults(m->impl, &full);
    size_t n = o->struct_size && o->struct_size < sizeof full ? o->struct_size
                                                              : sizeof full;
    memcpy(o, &full, n);
    o->struct_size = n;
    return INF_OK;
}

/* The one place that decides what a request is.  chat: the messages, and
 * the token-id prompt fields are cleared; generate: the token ids when
 * opts has them, else the text.  The backend sees the decision in what is
 * non-NULL (inference_backend.h, inf_model_ops.start). */
static int start(inf_model *m, int chat, const char *prompt,
                 const inf_message *msgs, size_t n_msgs,
                 const inf_generate_options *opts, inf_stream **out) {
    if (out) *out = NULL;
    if (!m || !out) return INF_E_INVALID_ARGUMENT;
    inf_generate_options o;
    inf__err err;
    inf__err_clear(&err);
    if (inf__gen_opts_prepare(opts, &o, &err) != INF_OK)
        return model_fail(m, &err);
    if (chat) {
        static const inf_message none[1] = {{"user", ""}};
        if (!msgs && n_msgs)
            return inf__seterr(&err, INF_E_INVALID_ARGUMENT,
                               "messages array is NULL"), model_fail(m, &err);
        if (!msgs) msgs = none, n_msgs = 0; /* an empty conversation */
        for (size_t i = 0; i < n_msgs; i++)
            if (!msgs[i].role || !msgs[i].content)
                return inf__seterr(&err, INF_E_INVALID_ARGUMENT,
                                   "message %zu has no %s", i,
                                   msgs[i].role ? "content" : "role"),
                       model_fail(m, &err);
        prompt = NULL;
        o.prompt_ids = NULL;
        o.n_prompt_ids = 0;
    } else if (o.n_prompt_ids > 0) {
        prompt = NULL; /* the ids instead of the text */
    } else if (!prompt) {
        inf__seterr(&err, INF_E_INVALID_ARGUMENT, "prompt is NULL");
        return model_fail(m, &err);
    }
    inf_stream *s = calloc(1, sizeof *s);
    if (!s) {
        inf__seterr(&err, INF_E_NOMEM, "out of memory");
        return model_fail(m, &err);
    }
    char *msg = NULL;
    int rc = m->ops->start(m->impl, prompt, msgs, n_msgs, &o, &s->ops,
                           &s->impl, &msg);
    if (rc != INF_OK) {
        inf__model_seterr(m, rc, msg);
        free(msg);
        free(s);
        return rc;
    }
    free(msg);
    s->model = m;
    *out = s;
    return INF_OK;
}

int inf_generate(inf_model *m, const char *prompt,
                 const inf_generate_options *opts, inf_stream **out) {
    return start(m, 0, prompt, NULL, 0, opts, out);
}

int inf_chat(inf_model *m, const inf_message *msgs, size_t n_msgs,
             const inf_generate_options *opts, inf_stream **out) {
    return start(m, 1, NULL, msgs, n_msgs, opts, out);
}

int inf_stream_next(inf_stream *s, inf_token *tok) {
    if (!s || !tok) return INF_E_INVALID_ARGUMENT;
    memset(tok, 0, sizeof *tok);
    return s->ops->next(s->impl, tok);
}

int inf_stream_err(const inf_stream *s) {
    if (!s) return INF_E_INVALID_ARGUMENT;
    return s->ops->err ? s->ops->err(s->impl) : INF_OK;
}

const char *inf_stream_errmsg(const inf_stream *s) {
    if (!s) return "invalid stream handle (NULL)";
    const char *m = s->ops->errmsg ? s->ops->errmsg(s->impl) : NULL;
    return m ? m : "";
}

inf_finish_reason inf_stream_finish_reason(const inf_stream *s) {
    if (!s || !s->ops->finish_reason) return INF_FINISH_NONE;
    return s->ops->finish_reason(s->impl);
}

int inf_stream_metrics(const inf_stream *s, inf_metrics *out) {
    if (!s || !out) return INF_E_INVALID_ARGUMENT;
    memset(out, 0, sizeof *out);
    return s->ops->metrics ? s->ops->metrics(s->impl, out) : INF_E_UNSUPPORTED;
}

void inf_stream_cancel(inf_stream *s) {
    if (s && s->ops->cancel) s->ops->cancel(s->impl);
}

void inf_stream_close(inf_stream **ps) {
    if (!ps || !*ps) return;
    inf_stream *s = *ps;
    *ps = NULL;
    if (s->ops->cancel) s->ops->cancel(s->impl);
    if (s->ops->close) s->ops->close(s->impl);
    free(s);
}

static int run_cb(inf_stream *s, int rc, inf_token_fn fn, void *user,
                  char **errmsg) {
    if (rc != INF_OK) return rc;
    inf_token t;
    int r;
    while ((r = inf_stream_next(s, &t)) == 1) {
        if (fn && fn(&t, user)) {
            inf_stream_close(&s);
            if (errmsg) *errmsg = inf__strdup("stopped by the token callback");
            return INF_E_CANCELLED;
        }
    }
    rc = r < 0 ? r : inf_stream_err(s);
    if (rc != INF_OK && errmsg) *errmsg = inf__strdup(inf_stream_errmsg(s));
    inf_stream_close(&s);
    return rc;
}

int inf_generate_cb(inf_model *m, const char *prompt,
                    const inf_generate_options *opts, inf_token_fn fn,
                    void *user, char **errmsg) {
    if (errmsg) *errmsg = NULL;
    inf_stream *s = NULL;
    int rc = inf_generate(m, prompt, opts, &s);
    if (rc != INF_OK && errmsg && m) *errmsg = inf__strdup(inf_model_errmsg(m));
    return run_cb(s, rc, fn, user, errmsg);
}

int inf_chat_cb(inf_model *m, const inf_message *msgs, size_t n_msgs,
                const inf_generate_options *opts, inf_token_fn fn, void *user,
                char **errmsg) {
    if (errmsg) *errmsg = NULL;
    inf_stream *s = NULL;
    int rc = inf_chat(m, msgs, n_msgs, opts, &s);
    if (rc != INF_OK && errmsg && m) *errmsg = inf__strdup(inf_model_errmsg(m));
    return run_cb(s, rc, fn, user, errmsg);
}

int inf_model_logits(inf_model *m, const int32_t *ids, size_t n, float **out,
                     int32_t *vocab, char **errmsg) {
    if (errmsg) *errmsg = NULL;
    if (out) *out = NULL;
    if (!m || !ids || !n || !out || !vocab) return INF_E_INVALID_ARGUMENT;
    if (!m->ops->logits) {
        if (errmsg) {
            char buf[128];
            snprintf(buf, sizeof buf,
                     "backend \"%s\" does not report logits per position",
                     m->backend->name);
            *errmsg = inf__strdup(buf);
        }
        return INF_E_UNSUPPORTED;
    }
    inf_model_info info;
    int rc = inf_model_info_get(m, &info);
    if (rc != INF_OK || info.vocab_size <= 0) {
        if (errmsg) *errmsg = inf__strdup("model does not report its vocabulary size");
        return rc != INF_OK ? rc : INF_E_INTERNAL;
    }
    float *buf = malloc(n * (size_t)info.vocab_size * sizeof(float));
    if (!buf) return INF_E_NOMEM;
    char *msg = NULL;
    rc = m->ops->logits(m->impl, ids, n, buf, &msg);
    if (rc != INF_OK) {
        free(buf);
        if (errmsg) *errmsg = msg ? msg : inf__strdup(inf_strerror(rc));
        else free(msg);
        return rc;
    }
    free(msg);
    *vocab = info.vocab_size;
    *out = buf;
    return INF_OK;
}
