/* inf_model and inf_stream: the handles programs hold.  They wrap a
 * backend's ops tables, keep the last error, and supply generic Classify /
 * BatchGenerate for backends that do not implement their own. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/handles.h"
#include "core/options.h"
#include "core/registry.h"
#include "inference.h"


static char *dupstr(const char *s) { return s ? strdup(s) : NULL; }

void inf__model_seterr(inf_model *m, int code, const char *msg) {
    pthread_mutex_lock(&m->mu);
    m->errcode = code;
    snprintf(m->errmsg, sizeof m->errmsg, "%s", msg ? msg : inf_strerror(code));
    pthread_mutex_unlock(&m->mu);
}

int inf_model_load(const char *path, const inf_load_options *opts,
                   inf_model **out, char **errmsg) {
    if (errmsg) *errmsg = NULL;
    if (!out) return INF_E_INVALID_ARGUMENT;
    *out = NULL;
    inf__err err;
    inf__err_clear(&err);
    if (!path || !path[0]) {
        if (errmsg) *errmsg = dupstr("model path is empty");
        return INF_E_INVALID_ARGUMENT;
    }
    inf_load_options o;
    inf__load_opts_normalize(opts, &o);
    const inf_backend *b = NULL;
    int rc = inf__backend_resolve(o.backend, &b, &err);
    if (rc != INF_OK) {
        if (errmsg) *errmsg = dupstr(err.msg);
        return rc;
    }
    inf_model *m = calloc(1, sizeof *m);
    if (!m) {
        if (errmsg) *errmsg = dupstr("out of memory");
        return INF_E_NOMEM;
    }
    pthread_mutex_init(&m->mu, NULL);
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
            *errmsg = dupstr(buf);
        }
    } else if (rc != INF_OK) {
        if (errmsg)
            *errmsg = bmsg ? bmsg : dupstr(inf_strerror(rc));
        else
            free(bmsg);
        bmsg = NULL;
    }
    free(bmsg);
    if (rc != INF_OK) {
        pthread_mutex_destroy(&m->mu);
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
    pthread_mutex_destroy(&m->mu);
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
    pthread_mutex_lock((pthread_mutex_t *)&m->mu);
    int c = m->errcode;
    pthread_mutex_unlock((pthread_mutex_t *)&m->mu);
    return c;
}

const char *inf_model_errmsg(const inf_model *m) {
    if (!m) return "invalid model handle (NULL)";
    inf_model *mm = (inf_model *)m;
    pthread_mutex_lock(&mm->mu);
    memcpy(mm->errmsg_out, mm->errmsg, sizeof mm->errmsg_out);
    pthread_mutex_unlock(&mm->mu);
    return mm->errmsg_out;
}

static int start(inf_model *m, const char *prompt, const inf_message *msgs,
                 size_t n_msgs, const inf_generate_options *opts,
                 inf_stream **out) {
    if (out) *out = NULL;
    if (!m || !out) return INF_E_INVALID_ARGUMENT;
    if (!prompt && !msgs && n_msgs == 0 && !(opts && opts->n_prompt_ids)) {
        inf__model_seterr(m, INF_E_INVALID_ARGUMENT, "no prompt given");
        return INF_E_INVALID_ARGUMENT;
    }
    if (!prompt && !msgs && n_msgs) {
        inf__model_seterr(m, INF_E_INVALID_ARGUMENT, "messages array is NULL");
        return INF_E_INVALID_ARGUMENT;
    }
    for (size_t i = 0; msgs && i < n_msgs; i++) {
        if (!msgs[i].role || !msgs[i].content) {
            char buf[128];
            snprintf(buf, sizeof buf, "message %zu has no %s", i,
                     msgs[i].role ? "content" : "role");
            inf__model_seterr(m, INF_E_INVALID_ARGUMENT, buf);
            return INF_E_INVALID_ARGUMENT;
        }
    }
    inf_generate_options o;
    inf__gen_opts_normalize(opts, &o);
    if (o.max_tokens < 0 || o.temperature < 0 || o.top_p < 0 || o.min_p < 0 ||
        o.top_k < 0 || o.repeat_penalty < 0 ||
        (o.n_stop_ids && !o.stop_ids) || (o.n_stop_strings && !o.stop_strings)) {
        inf__model_seterr(m, INF_E_INVALID_ARGUMENT,
                     "invalid generate options (negative value or NULL array)");
        return INF_E_INVALID_ARGUMENT;
    }
    inf_stream *s = calloc(1, sizeof *s);
    if (!s) {
        inf__model_seterr(m, INF_E_NOMEM, "out of memory");
        return INF_E_NOMEM;
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
    inf_generate_options o;
    inf__gen_opts_normalize(opts, &o);
    if (o.n_prompt_ids > 0 && o.prompt_ids) prompt = NULL; /* ids instead */
    else if (!prompt) {
        if (out) *out = NULL;
        if (m) inf__model_seterr(m, INF_E_INVALID_ARGUMENT, "prompt is NULL");
        return INF_E_INVALID_ARGUMENT;
    }
    return start(m, prompt, NULL, 0, opts, out);
}

int inf_chat(inf_model *m, const inf_message *msgs, size_t n_msgs,
             const inf_generate_options *opts, inf_stream **out) {
    static const inf_message none[1] = {{"user", ""}};
    if (!msgs && n_msgs == 0) msgs = none; /* an empty conversation */
    return start(m, NULL, msgs, n_msgs, opts, out);
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
            if (errmsg) *errmsg = dupstr("stopped by the token callback");
            return INF_E_CANCELLED;
        }
    }
    rc = r < 0 ? r : inf_stream_err(s);
    if (rc != INF_OK && errmsg) *errmsg = dupstr(inf_stream_errmsg(s));
    inf_stream_close(&s);
    return rc;
}

int inf_generate_cb(inf_model *m, const char *prompt,
                    const inf_generate_options *opts, inf_token_fn fn,
                    void *user, char **errmsg) {
    if (errmsg) *errmsg = NULL;
    inf_stream *s = NULL;
    int rc = inf_generate(m, prompt, opts, &s);
    if (rc != INF_OK && errmsg && m) *errmsg = dupstr(inf_model_errmsg(m));
    return run_cb(s, rc, fn, user, errmsg);
}

int inf_chat_cb(inf_model *m, const inf_message *msgs, size_t n_msgs,
                const inf_generate_options *opts, inf_token_fn fn, void *user,
                char **errmsg) {
    if (errmsg) *errmsg = NULL;
    inf_stream *s = NULL;
    int rc = inf_chat(m, msgs, n_msgs, opts, &s);
    if (rc != INF_OK && errmsg && m) *errmsg = dupstr(inf_model_errmsg(m));
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
            *errmsg = dupstr(buf);
        }
        return INF_E_UNSUPPORTED;
    }
    inf_model_info info;
    int rc = inf_model_info_get(m, &info);
    if (rc != INF_OK || info.vocab_size <= 0) {
        if (errmsg) *errmsg = dupstr("model does not report its vocabulary size");
        return rc != INF_OK ? rc : INF_E_INTERNAL;
    }
    float *buf = malloc(n * (size_t)info.vocab_size * sizeof(float));
    if (!buf) return INF_E_NOMEM;
    char *msg = NULL;
    rc = m->ops->logits(m->impl, ids, n, buf, &msg);
    if (rc != INF_OK) {
        free(buf);
        if (errmsg) *errmsg = msg ? msg : dupstr(inf_strerror(rc));
        else free(msg);
        return rc;
    }
    free(msg);
    *vocab = info.vocab_size;
    *out = buf;
    return INF_OK;
}
