/* The chat-template layer: loading templates from model directories, the
 * variables transformers passes, and rendering with limits. */
#include "text/template/chat_template.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonwatch.h"
#include "core/util.h"
#include "text/template/tmpl_internal.h"

const char inf__tmpl_chatml_source[] =
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

struct inf__chat_template {
    char *source;
    int fallback;
    tctx *arena;      /* owns the AST */
    tnode *root;
    json_t *vars;     /* special-token variables (object) */
    char *bos;        /* bos_token when a string */
};

void inf__tmpl_limits_default(inf__tmpl_limits *l) {
    l->max_iterations = 1000000;
    l->max_depth = 500;
    l->max_output = (size_t)32 << 20;
    l->max_memory = (size_t)256 << 20;
}

void inf__tmpl_free(inf__chat_template *t) {
    if (!t) return;
    if (t->arena) {
        inf__tc_release(t->arena);
        free(t->arena);
    }
    json_decref(t->vars);
    free(t->source);
    free(t->bos);
    free(t);
}

int inf__tmpl_is_fallback(const inf__chat_template *t) { return t ? t->fallback : 0; }
const char *inf__tmpl_source(const inf__chat_template *t) { return t ? t->source : NULL; }
const char *inf__tmpl_bos_token(const inf__chat_template *t) { return t ? t->bos : NULL; }

int inf__tmpl_from_source(const char *source, const char *special_tokens_json, inf__chat_template **out,
                          inf__err *err_in) {
    inf__err local;
    inf__err *volatile err = err_in ? err_in : &local; /* volatile: read after longjmp */
    inf__err_clear(err);
    if (out) *out = NULL;
    if (!source || !out) return inf__seterr(err, INF_E_INVALID_ARGUMENT, "chat template: NULL argument");
    inf__chat_template *t = calloc(1, sizeof *t);
    if (!t) return inf__seterr(err, INF_E_NOMEM, "out of memory");
    t->source = inf__strdup(source);
    t->arena = malloc(sizeof *t->arena);
    if (!t->source || !t->arena) {
        free(t->arena);
        t->arena = NULL;
        inf__tmpl_free(t);
        return inf__seterr(err, INF_E_NOMEM, "out of memory");
    }
    if (special_tokens_json) {
        json_error_t je;
        inf__json_watch_begin();
        t->vars = json_loads(special_tokens_json, JSON_DECODE_ANY, &je);
        int nomem = inf__json_watch_failed(); /* jansson says "malformed": core/jsonwatch.h */
        if (nomem || !t->vars || !json_is_object(t->vars)) {
            free(t->arena);
            t->arena = NULL;
            inf__tmpl_free(t);
            if (nomem) return inf__seterr(err, INF_E_NOMEM, "out of memory");
            return inf__seterr(err, INF_E_INVALID_ARGUMENT, "chat template: special tokens are not a JSON object");
        }
        json_t *b = json_object_get(t->vars, "bos_token");
        if (json_is_string(b)) t->bos = inf__strdup(json_string_value(b));
    } else t->vars = json_object();
    inf__tc_init(t->arena, (size_t)64 << 20, err);
    inf__chat_template *volatile tv_ = t;
    if (setjmp(t->arena->jb)) {
        inf__tmpl_free(tv_);
        return err->code;
    }
    t->root = inf__tparse(t->arena, t->source, strlen(t->source));
    *out = t;
    return INF_OK;
}

/* ---- model directories -------------------------------------------------- */

/* Sizes inf__tmpl_load_dir accepts (the model directory reader,
 * src/model/modeldir.c, keeps to the same). */
#define TMPL_CONFIG_MAX ((size_t)64 << 20)
#define TMPL_JINJA_MAX ((size_t)64 << 20)

/* A special token as transformers stores it: "tok" or {"content": "tok"}. */
static json_t *token_value(json_t *v) {
    if (json_is_string(v)) return json_incref(v);
    if (json_is_object(v) && json_is_string(json_object_get(v, "content")))
        return json_incref(json_object_get(v, "content"));
    return NULL;
}

static json_t *special_tokens(json_t *cfg) {
    static const char *const names[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                        "pad_token", "cls_token", "mask_token", NULL};
    json_t *vars = json_object();
    if (!vars || !cfg) return vars;
    for (int i = 0; names[i]; i++) {
        json_t *v = token_value(json_object_get(cfg, names[i]));
        if (v) json_object_set_new(vars, names[i], v);
    }
    json_t *extra = json_object_get(cfg, "additional_special_tokens");
    if (json_is_array(extra)) {
        json_t *list = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(extra, i, e) {
            json_t *v = token_value(e);
            if (v) json_array_append_new(list, v);
        }
        json_object_set_new(vars, "additional_special_tokens", list);
    }
    return vars;
}

/* tokenizer_config.json text -> a JSON object; NULL text: none (NULL
 * returned, *code INF_OK).  `dir` labels messages (may be NULL). */
static json_t *parse_config(const char *text, size_t len, const char *dir, inf__err *err, int *code) {
    *code = INF_OK;
    if (!text) return NULL;
    json_error_t je;
    /* model_max_length can exceed int64 (llama 3 writes 1e30 as an integer) */
    inf__json_watch_begin();
    json_t *cfg = json_loadb(text, len, JSON_DECODE_INT_AS_REAL, &je);
    if (inf__json_watch_failed()) { /* jansson says "malformed": core/jsonwatch.h */
        json_decref(cfg);
        *code = inf__seterr(err, INF_E_NOMEM, "out of memory");
        return NULL;
    }
    if (!cfg || !json_is_object(cfg)) {
        json_decref(cfg);
        *code = inf__seterr(err, INF_E_FORMAT, "%s%stokenizer_config.json: invalid JSON at line %d: %s",
                            dir ? dir : "", dir ? "/" : "", je.line, cfg ? "not an object" : je.text);
        return NULL;
    }
    return cfg;
}

/* Reads dir/name into *text (NULL when the file is absent). */
static int read_optional(const char *dir, const char *name, size_t max, char **text, size_t *len,
                         inf__err *err) {
    *text = NULL;
    *len = 0;
    char *p = inf__path_join(dir, name);
    if (!p) return inf__seterr(err, INF_E_NOMEM, "out of memory");
    int rc = inf__read_file(p, max, text, len, err);
    free(p);
    if (rc == INF_E_NOT_FOUND) {
        inf__err_clear(err);
        rc = INF_OK;
    }
    return rc;
}

int inf__tmpl_special_tokens_text(const char *config_json, size_t config_len, const char *dir,
                                  char **json_out, inf__err *err) {
    if (!json_out) return inf__seterr(err, INF_E_INVALID_ARGUMENT, "NULL argument");
    *json_out = NULL;
    int code;
    json_t *cfg = parse_config(config_json, config_len, dir, err, &code);
    if (code) return code;
    json_t *vars = special_tokens(cfg);
    json_decref(cfg);
    *json_out = vars ? json_dumps(vars, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(vars);
    return *json_out ? INF_OK : inf__seterr(err, INF_E_NOMEM, "out of memory");
}

int inf__tmpl_dir_special_tokens(const char *dir, char **json_out, inf__err *err) {
    if (!dir || !json_out) return inf__seterr(err, INF_E_INVALID_ARGUMENT, "NULL argument");
    char *text;
    size_t len;
    int rc = read_optional(dir, "tokenizer_config.json", TMPL_CONFIG_MAX, &text, &len, err);
    if (rc == INF_OK) rc = inf__tmpl_special_tokens_text(text, len, dir, json_out, err);
    free(text);
    return rc;
}

int inf__tmpl_load_texts(const char *config_json, size_t config_len, const char *jinja, const char *dir,
                         inf__chat_template **out, inf__err *err) {
    inf__err local;
    if (!err) err = &local;
    inf__err_clear(err);
    if (out) *out = NULL;
    if (!out) return inf__seterr(err, INF_E_INVALID_ARGUMENT, "chat template: NULL argument");
    int code;
    json_t *cfg = parse_config(config_json, config_len, dir, err, &code);
    if (code) return code;
    const char *src = NULL;
    json_t *ct = cfg ? json_object_get(cfg, "chat_template") : NULL;
    if (json_is_string(ct)) src = json_string_value(ct);
    else if (json_is_array(ct)) {
        size_t i;
        json_t *e;
        json_array_foreach(ct, i, e) {
            json_t *tpl = json_object_get(e, "template");
            if (!json_is_string(tpl)) continue;
            if (!src) src = json_string_value(tpl);
            const char *name = json_string_value(json_object_get(e, "name"));
            if (name && strcmp(name, "default") == 0) { src = json_string_value(tpl); break; }
        }
    }
    if (!src) src = jinja;
    json_t *vars = special_tokens(cfg);
    char *vars_s = vars ? json_dumps(vars, JSON_COMPACT) : NULL;
    json_decref(vars);
    int fallback = src == NULL;
    int rc = inf__tmpl_from_source(src ? src : inf__tmpl_chatml_source, vars_s, out, err);
    free(vars_s);
    json_decref(cfg);
    if (rc == INF_OK) (*out)->fallback = fallback;
    else inf__err_prefix(err, "%s: chat template", dir ? dir : "model");
    return rc;
}

int inf__tmpl_load_dir(const char *dir, inf__chat_template **out, inf__err *err) {
    inf__err local;
    if (!err) err = &local;
    inf__err_clear(err);
    if (out) *out = NULL;
    if (!dir || !out) return inf__seterr(err, INF_E_INVALID_ARGUMENT, "chat template: NULL argument");
    char *cfg = NULL, *jinja = NULL;
    size_t cfg_len = 0, jinja_len = 0;
    int rc = read_optional(dir, "tokenizer_config.json", TMPL_CONFIG_MAX, &cfg, &cfg_len, err);
    if (rc == INF_OK) rc = read_optional(dir, "chat_template.jinja", TMPL_JINJA_MAX, &jinja, &jinja_len, err);
    if (rc == INF_OK) rc = inf__tmpl_load_texts(cfg, cfg_len, jinja, dir, out, err);
    free(cfg);
    free(jinja);
    return rc;
}

/* ---- rendering ----------------------------------------------------------- */

static tv parse_json_arg(tctx *c, const char *s, const char *what, json_type want, json_t *volatile *hold) {
    json_error_t je;
    inf__json_watch_begin();
    json_t *j = json_loads(s, JSON_DECODE_ANY, &je);
    if (inf__json_watch_failed()) { /* jansson says "malformed": core/jsonwatch.h */
        json_decref(j);
        inf__tc_fail(c, INF_E_NOMEM, "out of memory");
    }
    if (!j) inf__tc_fail(c, INF_E_INVALID_ARGUMENT, "%s: invalid JSON at line %d: %s", what, je.line, je.text);
    *hold = j;
    if (json_typeof(j) != want && !(want == JSON_ARRAY && json_is_null(j)))
        inf__tc_fail(c, INF_E_INVALID_ARGUMENT, "%s must be a JSON %s", what, want == JSON_ARRAY ? "array" : "object");
    tv v = inf__tv_from_json(c, j, 0);
    *hold = NULL;
    json_decref(j);
    return v;
}

static void gset(tctx *c, tdict *g, const char *name, tv v) {
    inf__tv_dict_set(c, g, tv_strn(name, strlen(name)), v);
}

static int render(const inf__chat_template *t, const inf_message *msgs, size_t n, const char *messages_json,
                  int add_generation_prompt, const char *tools_json, const char *extra_vars_json,
                  const inf__tmpl_limits *limits, char **out, inf__err *err_in) {
    inf__err local;
    inf__err *volatile err = err_in ? err_in : &local; /* volatile: read after longjmp */
    inf__err_clear(err);
    if (out) *out = NULL;
    if (!t || !out || (!msgs && n && !messages_json))
        return inf__seterr(err, INF_E_INVALID_ARGUMENT, "chat template: NULL argument");
    inf__tmpl_limits lim;
    if (limits) lim = *limits;
    else inf__tmpl_limits_default(&lim);
    tctx c;
    inf__tc_init(&c, lim.max_memory, err);
    json_t *volatile hold = NULL;
    if (setjmp(c.jb)) {
        json_decref(hold);
        inf__tc_release(&c);
        return err->code;
    }
    tdict *g = inf__tv_dict_new(&c, 16);
    tv sv = inf__tv_from_json(&c, t->vars, 0);
    for (size_t i = 0; i < sv.u.d->n; i++) inf__tv_dict_set(&c, g, sv.u.d->k[i], sv.u.d->v[i]);
    if (extra_vars_json) {
        tv ev = parse_json_arg(&c, extra_vars_json, "template variables", JSON_OBJECT, &hold);
        for (size_t i = 0; i < ev.u.d->n; i++) inf__tv_dict_set(&c, g, ev.u.d->k[i], ev.u.d->v[i]);
    }
    tv mv;
    if (messages_json) {
        mv = parse_json_arg(&c, messages_json, "messages", JSON_ARRAY, &hold);
        if (mv.t != TV_LIST) inf__tc_fail(&c, INF_E_INVALID_ARGUMENT, "messages must be a JSON array");
    } else {
        tlist *l = inf__tv_list_new(&c, n);
        for (size_t i = 0; i < n; i++) {
            tdict *m = inf__tv_dict_new(&c, 2);
            const char *role = msgs[i].role ? msgs[i].role : "";
            gset(&c, m, "role", tv_strn(role, strlen(role)));
            gset(&c, m, "content", msgs[i].content ? tv_strn(msgs[i].content, strlen(msgs[i].content)) : tv_none());
            l->v[l->n++] = tv_dict(m);
        }
        mv = tv_list(l);
    }
    gset(&c, g, "messages", mv);
    gset(&c, g, "tools", tools_json ? parse_json_arg(&c, tools_json, "tools", JSON_ARRAY, &hold) : tv_none());
    if (!inf__tv_dict_find_str(g, "documents", 9)) gset(&c, g, "documents", tv_none());
    gset(&c, g, "add_generation_prompt", tv_bool(add_generation_prompt));

    trender r;
    memset(&r, 0, sizeof r);
    r.c = &c;
    r.globals = inf__tc_alloc(&c, sizeof *r.globals);
    r.globals->vars = g;
    r.iter_limit = lim.max_iterations;
    r.depth_limit = lim.max_depth;
    r.out_limit = lim.max_output;
    r.block_input = tv_undef();
    tstr s;
    inf__teval_render(&r, t->root, &s);
    char *res = malloc(s.n + 1);
    if (!res) inf__tc_fail(&c, INF_E_NOMEM, "out of memory");
    memcpy(res, s.p, s.n);
    res[s.n] = '\0';
    inf__tc_release(&c);
    *out = res;
    return INF_OK;
}

int inf__tmpl_render(const inf__chat_template *t, const inf_message *msgs, size_t n, int add_generation_prompt,
                     const char *tools_json, const char *extra_vars_json, char **out, inf__err *err) {
    return render(t, msgs, n, NULL, add_generation_prompt, tools_json, extra_vars_json, NULL, out, err);
}

int inf__tmpl_render_json(const inf__chat_template *t, const char *messages_json, int add_generation_prompt,
                          const char *tools_json, const char *extra_vars_json, char **out, inf__err *err) {
    return inf__tmpl_render_json_limits(t, messages_json, add_generation_prompt, tools_json, extra_vars_json, NULL,
                                        out, err);
}

int inf__tmpl_render_json_limits(const inf__chat_template *t, const char *messages_json, int add_generation_prompt,
                                 const char *tools_json, const char *extra_vars_json, const inf__tmpl_limits *limits,
                                 char **out, inf__err *err) {
    if (!messages_json) {
        if (err) inf__seterr(err, INF_E_INVALID_ARGUMENT, "chat template: NULL messages");
        if (out) *out = NULL;
        return INF_E_INVALID_ARGUMENT;
    }
    return render(t, NULL, 0, messages_json, add_generation_prompt, tools_json, extra_vars_json, limits, out, err);
}
