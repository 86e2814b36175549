/* Public chat-template functions of inference.h: the inf_chat_template
 * handle (load, parse, apply) and inf_chat_template_render, a thin layer
 * over chat_template.h turning inf__err messages into malloc'd *errmsg
 * strings. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/jsonwatch.h"
#include "core/util.h"
#include "text/template/chat_template.h"

struct inf_chat_template { inf__chat_template *t; };

static int fail(int rc, const inf__err *e, char **errmsg) {
    if (errmsg) *errmsg = inf__strdup(e->msg[0] ? e->msg : inf_strerror(rc));
    return rc;
}

inf_chat_template *inf__tmpl_wrap(inf__chat_template *t) {
    if (!t) return NULL;
    inf_chat_template *w = calloc(1, sizeof *w);
    if (!w) {
        inf__tmpl_free(t);
        return NULL;
    }
    w->t = t;
    return w;
}

const inf__chat_template *inf__tmpl_unwrap(const inf_chat_template *h) { return h ? h->t : NULL; }

/* A model directory the caller names must exist: the template loader alone
 * would take a missing one for a model without a template. */
static int check_dir(const char *dir, inf__err *err) {
    struct stat st;
    if (stat(dir, &st) != 0)
        return inf__seterr(err, INF_E_IO, "%s: cannot open directory: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return inf__seterr(err, INF_E_IO, "%s: not a directory", dir);
    return INF_OK;
}

/* Wraps a template that rc says was made; INF_E_NOMEM when wrapping fails. */
static int wrap_out(int rc, inf__chat_template *t, inf_chat_template **out, inf__err *err) {
    if (rc != INF_OK) return rc;
    if (!(*out = inf__tmpl_wrap(t))) return inf__seterr(err, INF_E_NOMEM, "out of memory");
    return INF_OK;
}

int inf_chat_template_load(const char *model_dir, inf_chat_template **out, char **errmsg) {
    inf__err err;
    inf__err_clear(&err);
    if (errmsg) *errmsg = NULL;
    if (out) *out = NULL;
    if (!model_dir || !out) {
        inf__seterr(&err, INF_E_INVALID_ARGUMENT, "inf_chat_template_load: NULL argument");
        return fail(err.code, &err, errmsg);
    }
    inf__chat_template *t = NULL;
    int rc = check_dir(model_dir, &err);
    if (rc == INF_OK) rc = inf__tmpl_load_dir(model_dir, &t, &err);
    rc = wrap_out(rc, t, out, &err);
    return rc == INF_OK ? INF_OK : fail(rc, &err, errmsg);
}

/* The directory's special tokens with the caller's on top, as one JSON
 * object string (malloc'd), or NULL in *vars when there are neither. */
static int merged_vars(const char *model_dir, const char *extra, char **vars, inf__err *err) {
    *vars = NULL;
    char *dir_vars = NULL;
    int rc = INF_OK;
    if (model_dir) {
        rc = check_dir(model_dir, err);
        if (rc == INF_OK) rc = inf__tmpl_dir_special_tokens(model_dir, &dir_vars, err);
        if (rc != INF_OK) return rc;
    }
    if (!dir_vars || !extra) {
        *vars = dir_vars ? dir_vars : extra ? inf__strdup(extra) : NULL;
        return (dir_vars || !extra || *vars) ? INF_OK : inf__seterr(err, INF_E_NOMEM, "out of memory");
    }
    json_error_t je;
    inf__json_watch_begin();
    json_t *base = json_loads(dir_vars, 0, &je), *top = json_loads(extra, JSON_DECODE_ANY, &je);
    free(dir_vars);
    if (inf__json_watch_failed()) { /* jansson says "malformed": core/jsonwatch.h */
        rc = inf__seterr(err, INF_E_NOMEM, "out of memory");
    } else if (!json_is_object(top)) {
        rc = inf__seterr(err, INF_E_INVALID_ARGUMENT, "chat template: special tokens are not a JSON object");
    } else if (!base || json_object_update(base, top) != 0 ||
               !(*vars = json_dumps(base, JSON_COMPACT))) {
        rc = inf__seterr(err, INF_E_NOMEM, "out of memory");
    }
    json_decref(base);
    json_decref(top);
    return rc;
}

int inf_chat_template_parse(const char *source, const char *model_dir, const char *special_tokens_json,
                            inf_chat_template **out, char **errmsg) {
    inf__err err;
    inf__err_clear(&err);
    if (errmsg) *errmsg = NULL;
    if (out) *out = NULL;
    if (!source || !out) {
        inf__seterr(&err, INF_E_INVALID_ARGUMENT, "inf_chat_template_parse: NULL argument");
        return fail(err.code, &err, errmsg);
    }
    char *vars = NULL;
    inf__chat_template *t = NULL;
    int rc = merged_vars(model_dir, special_tokens_json, &vars, &err);
    if (rc == INF_OK) rc = inf__tmpl_from_source(source, vars, &t, &err);
    free(vars);
    rc = wrap_out(rc, t, out, &err);
    return rc == INF_OK ? INF_OK : fail(rc, &err, errmsg);
}

void inf_chat_template_free(inf_chat_template *t) {
    if (!t) return;
    inf__tmpl_free(t->t);
    free(t);
}

const char *inf_chat_template_source(const inf_chat_template *t) { return t ? inf__tmpl_source(t->t) : NULL; }

int inf_chat_template_is_fallback(const inf_chat_template *t) { return t ? inf__tmpl_is_fallback(t->t) : 0; }

int inf_chat_template_apply(const inf_chat_template *t, const char *messages_json, int add_generation_prompt,
                            const char *tools_json, const char *extra_vars_json, char **out, char **errmsg) {
    inf__err err;
    inf__err_clear(&err);
    if (errmsg) *errmsg = NULL;
    if (out) *out = NULL;
    if (!t || !messages_json || !out) {
        inf__seterr(&err, INF_E_INVALID_ARGUMENT, "inf_chat_template_apply: NULL argument");
        return fail(err.code, &err, errmsg);
    }
    int rc = inf__tmpl_render_json(t->t, messages_json, add_generation_prompt, tools_json, extra_vars_json, out,
                                   &err);
    return rc == INF_OK ? INF_OK : fail(rc, &err, errmsg);
}

INF_API int inf_chat_template_render(const char *model_dir, const char *tmpl, const inf_message *msgs, size_t n_msgs,
                                     int add_generation_prompt, const char *tools_json, const char *extra_vars_json,
                                     char **out, char **errmsg) {
    inf__err err;
    inf__err_clear(&err);
    if (out) *out = NULL;
    if (errmsg) *errmsg = NULL;
    inf__chat_template *t = NULL;
    int rc;
    if (!out || (!model_dir && !tmpl)) {
        rc = inf__seterr(&err, INF_E_INVALID_ARGUMENT, "inf_chat_template_render: need out and a model_dir or tmpl");
    } else if (tmpl) {
        /* a caller's template still sees the model's special tokens */
        char *vars = NULL;
        rc = model_dir ? inf__tmpl_dir_special_tokens(model_dir, &vars, &err) : INF_OK;
        if (rc == INF_OK) rc = inf__tmpl_from_source(tmpl, vars, &t, &err);
        free(vars);
    } else {
        rc = inf__tmpl_load_dir(model_dir, &t, &err);
    }
    if (rc == INF_OK) rc = inf__tmpl_render(t, msgs, n_msgs, add_generation_prompt, tools_json, extra_vars_json, out, &err);
    inf__tmpl_free(t);
    return rc == INF_OK ? INF_OK : fail(rc, &err, errmsg);
}
