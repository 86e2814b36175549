/* tools / tool_choice / response_format (see structured.h).  The prompt
 * rendering mirrors what the Python binding does for messages that
 * inf_message cannot carry: render the messages JSON with the model's own
 * template, tokenize (without BOS when the template wrote it), generate
 * from the ids. */
#include "server/structured.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BAD(param, ...) \
    inf__srv_errorf(err, 400, "invalid_request_error", param, NULL, __VA_ARGS__)

/* More would only make prompts and constraints huge. */
#define MAX_TOOLS 128

static unsigned parse_tools(json_t *root, inf__srv_structured *st,
                            inf__srv_error *err) {
    json_t *t = json_object_get(root, "tools");
    if (!t || json_is_null(t)) return 0;
    if (!json_is_array(t)) return BAD("tools", "'tools' must be an array");
    if (json_array_size(t) > MAX_TOOLS)
        return BAD("tools", "'tools' holds %zu tools; at most %d are accepted",
                   json_array_size(t), MAX_TOOLS);
    size_t i;
    json_t *x;
    json_array_foreach(t, i, x) {
        char p[48];
        snprintf(p, sizeof p, "tools[%zu]", i);
        json_t *type = json_object_get(x, "type");
        json_t *f = json_object_get(x, "function");
        if (!json_is_object(x) || !json_is_string(type) ||
            strcmp(json_string_value(type), "function") != 0 || !json_is_object(f))
            return BAD(p, "'%s' must be {\"type\": \"function\", \"function\": {...}}", p);
        json_t *name = json_object_get(f, "name");
        if (!json_is_string(name) || json_string_length(name) == 0 ||
            json_string_length(name) > 64)
            return BAD(p, "'%s.function.name' must be a string of 1 to 64 characters", p);
        for (const char *c = json_string_value(name); *c; c++)
            if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                  (*c >= '0' && *c <= '9') || *c == '_' || *c == '-' || *c == '.'))
                return BAD(p, "'%s.function.name' may hold only letters, digits, '_', '-' and '.'", p);
        for (size_t k = 0; k < i; k++)
            if (strcmp(json_string_value(json_object_get(
                           json_object_get(json_array_get(t, k), "function"), "name")),
                       json_string_value(name)) == 0)
                return BAD(p, "two tools are called '%s'", json_string_value(name));
        json_t *params = json_object_get(f, "parameters");
        if (params && !json_is_object(params))
            return BAD(p, "'%s.function.parameters' must be a JSON schema object", p);
    }
    if (json_array_size(t) > 0) st->tools = t;
    return 0;
}

static int tool_named(const json_t *tools, const char *name) {
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) if (strcmp(json_string_value(json_object_get(
                                                   json_object_get(t, "function"), "name")),
                                               name) == 0) return 1;
    return 0;
}

static unsigned parse_choice(json_t *root, inf__srv_structured *st,
                             inf__srv_error *err) {
    json_t *c = json_object_get(root, "tool_choice");
    st->choice = INF__TOOLS_AUTO;
    if (!c || json_is_null(c)) return 0;
    if (json_is_string(c)) {
        const char *s = json_string_value(c);
        if (strcmp(s, "auto") == 0) st->choice = INF__TOOLS_AUTO;
        else if (strcmp(s, "none") == 0) st->choice = INF__TOOLS_NONE;
        else if (strcmp(s, "required") == 0) st->choice = INF__TOOLS_REQUIRED;
        else return BAD("tool_choice", "'tool_choice' must be \"auto\", \"none\", \"required\" "
                        "or {\"type\": \"function\", \"function\": {\"name\": ...}}; got \"%s\"", s);
    } else {
        json_t *f = json_object_get(c, "function");
        json_t *name = json_object_get(f, "name");
        if (!json_is_object(c) || !json_is_string(name))
            return BAD("tool_choice", "'tool_choice' must be \"auto\", \"none\", \"required\" "
                       "or {\"type\": \"function\", \"function\": {\"name\": ...}}");
        st->choice = INF__TOOLS_NAMED;
        st->named = json_string_value(name);
    }
    if ((st->choice == INF__TOOLS_REQUIRED || st->choice == INF__TOOLS_NAMED) && !st->tools)
        return BAD("tool_choice", "'tool_choice' asks for a tool call but the request has no 'tools'");
    if (st->choice == INF__TOOLS_NAMED && !tool_named(st->tools, st->named))
        return BAD("tool_choice", "'tool_choice' names '%s', which is not one of the 'tools'",
                   st->named);
    return 0;
}

static unsigned parse_response_format(json_t *root, inf__srv_structured *st,
                                      inf__srv_error *err) {
    json_t *rf = json_object_get(root, "response_format");
    if (!rf || json_is_null(rf)) return 0;
    json_t *type = json_object_get(rf, "type");
    if (!json_is_object(rf) || !json_is_string(type))
        return BAD("response_format", "'response_format' must be an object with a 'type'");
    const char *t = json_string_value(type);
    if (strcmp(t, "text") == 0) return 0;
    if (strcmp(t, "json_object") == 0) {
        st->response_kind = INF_CONSTRAINT_JSON;
        return 0;
    }
    if (strcmp(t, "json_schema") != 0)
        return BAD("response_format", "'response_format.type' must be \"text\", \"json_object\" "
                   "or \"json_schema\"; got \"%s\"", t);
    json_t *js = json_object_get(rf, "json_schema");
    json_t *schema = json_object_get(js, "schema");
    if (!json_is_object(js))
        return BAD("response_format.json_schema", "'response_format.json_schema' must be an object");
    json_t *strict = json_object_get(js, "strict");
    if (strict && !json_is_boolean(strict) && !json_is_null(strict))
        return BAD("response_format.json_schema.strict", "'strict' must be a boolean");
    if (!json_is_object(schema) && !json_is_boolean(schema))
        return BAD("response_format.json_schema.schema",
                   "'response_format.json_schema.schema' must be a JSON schema (an object)");
    /* strict or not, the reply is decoded under the schema: a guarantee
     * costs nothing more than a hope here. */
    st->schema = json_dumps(schema, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!st->schema)
        return inf__srv_errorf(err, 500, "server_error", NULL, NULL, "out of memory");
    st->response_kind = INF_CONSTRAINT_JSON_SCHEMA;
    return 0;
}

/* Assistant tool_calls, tool_call_id and name make the messages "rich". */
static unsigned parse_rich(json_t *root, inf__srv_structured *st,
                           inf__srv_error *err) {
    st->messages = json_object_get(root, "messages");
    size_t i;
    json_t *m;
    json_array_foreach(st->messages, i, m) {
        char p[64];
        json_t *tc = json_object_get(m, "tool_calls");
        json_t *id = json_object_get(m, "tool_call_id");
        json_t *name = json_object_get(m, "name");
        if (id && !json_is_null(id)) {
            snprintf(p, sizeof p, "messages[%zu].tool_call_id", i);
            if (!json_is_string(id)) return BAD(p, "'%s' must be a string", p);
            st->rich = 1;
        }
        if (name && !json_is_null(name)) {
            snprintf(p, sizeof p, "messages[%zu].name", i);
            if (!json_is_string(name)) return BAD(p, "'%s' must be a string", p);
            st->rich = 1;
        }
        if (!tc || json_is_null(tc)) continue;
        snprintf(p, sizeof p, "messages[%zu].tool_calls", i);
        if (!json_is_array(tc)) return BAD(p, "'%s' must be an array", p);
        size_t k;
        json_t *c;
        json_array_foreach(tc, k, c) {
            json_t *f = json_object_get(c, "function");
            json_t *a = json_object_get(f, "arguments");
            if (!json_is_object(c) || !json_is_object(f) ||
                !json_is_string(json_object_get(f, "name")) ||
                (a && !json_is_string(a) && !json_is_object(a)))
                return BAD(p, "'%s[%zu]' must be {\"id\", \"type\": \"function\", \"function\": "
                           "{\"name\": ..., \"arguments\": \"<JSON text>\"}}", p, k);
        }
        if (json_array_size(tc)) st->rich = 1;
    }
    return 0;
}

unsigned inf__srv_structured_parse(json_t *root, inf__srv_structured *st,
                                   inf__srv_error *err) {
    memset(st, 0, sizeof *st);
    st->parallel = 1;
    json_t *p = json_object_get(root, "parallel_tool_calls");
    if (p && !json_is_null(p)) {
        if (!json_is_boolean(p))
            return BAD("parallel_tool_calls", "'parallel_tool_calls' must be a boolean");
        st->parallel = json_is_true(p);
    }
    unsigned s;
    if ((s = parse_tools(root, st, err)) || (s = parse_choice(root, st, err)) ||
        (s = parse_response_format(root, st, err)) || (s = parse_rich(root, st, err)))
        return s;
    return 0;
}

void inf__srv_structured_free(inf__srv_structured *st) {
    if (!st) return;
    free(st->schema);
    free(st->prefix);
    free(st->constraint);
    memset(st, 0, sizeof *st);
}

/* ---- the prompt ---------------------------------------------------------- */

/* An assistant tool call's arguments as the template expects them: an
 * object (templates apply tojson), parsed from OpenAI's JSON text when it
 * holds one (as vLLM does); anything else stays as it came. */
static json_t *call_for_template(json_t *c) {
    json_t *out = json_deep_copy(c);
    json_t *f = json_object_get(out, "function");
    json_t *a = json_object_get(f, "arguments");
    if (json_is_string(a)) {
        json_t *o = json_loads(json_string_value(a), 0, NULL);
        if (json_is_object(o)) json_object_set_new(f, "arguments", o);
        else json_decref(o);
    }
    return out;
}

/* The generic convention's text for an assistant turn's calls. */
static char *generic_calls_text(json_t *tc) {
    json_t *arr = json_array();
    size_t k;
    json_t *c;
    json_array_foreach(tc, k, c) {
        json_t *cc = call_for_template(c);
        json_t *f = json_object_get(cc, "function");
        json_t *a = json_object_get(f, "arguments");
        json_array_append_new(arr, json_pack("{s:O, s:o}", "name", json_object_get(f, "name"),
                                             "arguments", a ? json_incref(a) : json_object()));
        json_decref(cc);
    }
    json_t *o = json_pack("{s:o}", "tool_calls", arr);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* The messages as the template receives them (a new array), or NULL when
 * out of memory.  Texts come from msgs (parts already joined). */
static json_t *template_messages(const inf__srv_structured *st, const inf_message *msgs,
                                 size_t n, int generic, const char *tools_prompt) {
    json_t *out = json_array();
    if (!out) return NULL;
    size_t first = 0;
    if (tools_prompt) {
        /* The generic convention's description joins the first system
         * message, or becomes one. */
        if (n && strcmp(msgs[0].role, "system") == 0) {
            size_t len = strlen(msgs[0].content) + strlen(tools_prompt) + 3;
            char *s = malloc(len);
            if (!s) goto oom;
            snprintf(s, len, "%s%s%s", msgs[0].content, msgs[0].content[0] ? "\n\n" : "",
                     tools_prompt);
            json_array_append_new(out, json_pack("{s:s, s:s}", "role", "system", "content", s));
            free(s);
            first = 1;
        } else {
            json_array_append_new(out, json_pack("{s:s, s:s}", "role", "system", "content",
                                                 tools_prompt));
        }
    }
    for (size_t i = first; i < n; i++) {
        json_t *src = json_array_get(st->messages, i);
        json_t *m = json_pack("{s:s, s:s}", "role", msgs[i].role, "content", msgs[i].content);
        if (!m) goto oom;
        json_t *tc = json_object_get(src, "tool_calls");
        if (json_is_array(tc) && json_array_size(tc)) {
            if (generic) {
                char *calls = generic_calls_text(tc);
                if (!calls) {
                    json_decref(m);
                    goto oom;
                }
                size_t len = strlen(msgs[i].content) + strlen(calls) + 2;
                char *s = malloc(len);
                if (s) {
                    snprintf(s, len, "%s%s%s", msgs[i].content, msgs[i].content[0] ? "\n" : "",
                             calls);
                    json_object_set_new(m, "content", json_string(s));
                }
                free(s);
                free(calls);
            } else {
                json_t *arr = json_array();
                size_t k;
                json_t *c;
                json_array_foreach(tc, k, c) json_array_append_new(arr, call_for_template(c));
                json_object_set_new(m, "tool_calls", arr);
            }
        }
        json_t *id = json_object_get(src, "tool_call_id");
        if (json_is_string(id)) json_object_set(m, "tool_call_id", id);
        json_t *name = json_object_get(src, "name");
        if (json_is_string(name)) json_object_set(m, "name", name);
        json_array_append_new(out, m);
    }
    return out;
oom:
    json_decref(out);
    return NULL;
}

/* ---- the constraint of a forced call ---------------------------------------- */

/* One call to tool t in the format's JSON shape; moves the tool's $defs into
 * defs (its "#/$defs/..." references then resolve at the constraint's
 * root).  NULL with msg filled when two tools define one name differently. */
static json_t *call_schema(json_t *t, inf__tc_format f, json_t *defs, char *msg,
                           size_t msg_size) {
    json_t *fn = json_object_get(t, "function");
    json_t *params = json_object_get(fn, "parameters");
    params = params ? json_deep_copy(params) : json_pack("{s:s}", "type", "object");
    json_t *d = json_object_get(params, "$defs");
    if (json_is_object(d)) {
        const char *k;
        json_t *v;
        json_object_foreach(d, k, v) {
            json_t *have = json_object_get(defs, k);
            if (have && !json_equal(have, v)) {
                snprintf(msg, msg_size, "the tools define $defs/%s differently; "
                         "a forced tool call needs one meaning for each name", k);
                json_decref(params);
                return NULL;
            }
            json_object_set(defs, k, v);
        }
        json_object_del(params, "$defs");
    }
    const char *key = f == INF__TC_LLAMA3 ? "parameters" : "arguments";
    return json_pack("{s:s, s:{s:{s:O}, s:o}, s:[s,s], s:b}", "type", "object", "properties",
                     "name", "const", json_object_get(fn, "name"), key, params, "required",
                     "name", key, "additionalProperties", 0);
}

/* The schema a forced call is decoded under (see toolcall.h for the
 * shapes), and the reply's forced opening marker in st->prefix.  A named
 * function is called exactly once (as vLLM does); "required" allows
 * several calls unless parallel_tool_calls is false.  Hermes and Llama 3
 * replies are decoded as one call. */
static char *forced_schema(inf__srv_structured *st, char *msg, size_t msg_size) {
    json_t *defs = json_object();
    json_t *alts = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(st->tools, i, t) {
        const char *name = json_string_value(json_object_get(json_object_get(t, "function"), "name"));
        if (st->choice == INF__TOOLS_NAMED && strcmp(name, st->named) != 0) continue;
        json_t *c = call_schema(t, st->format, defs, msg, msg_size);
        if (!c) {
            json_decref(defs);
            json_decref(alts);
            return NULL;
        }
        json_array_append_new(alts, c);
    }
    json_t *one = json_array_size(alts) == 1 ? json_incref(json_array_get(alts, 0))
                                             : json_pack("{s:O}", "anyOf", alts);
    json_decref(alts);
    json_t *root;
    switch (st->format) {
    case INF__TC_HERMES:
        st->prefix = strdup("<tool_call>\n");
        root = one;
        break;
    case INF__TC_LLAMA3:
        root = one;
        break;
    case INF__TC_MISTRAL:
        st->prefix = strdup("[TOOL_CALLS]");
        root = json_pack("{s:s, s:o, s:i}", "type", "array", "items", one, "minItems", 1);
        if (!st->parallel || st->choice == INF__TOOLS_NAMED)
            json_object_set_new(root, "maxItems", json_integer(1));
        break;
    default:
        root = json_pack("{s:s, s:{s:{s:s, s:o, s:i}}, s:[s], s:b}", "type", "object",
                         "properties", "tool_calls", "type", "array", "items", one,
                         "minItems", 1, "required", "tool_calls", "additionalProperties", 0);
        if (!st->parallel || st->choice == INF__TOOLS_NAMED)
            json_object_set_new(json_object_get(json_object_get(root, "properties"),
                                                "tool_calls"),
                                "maxItems", json_integer(1));
        break;
    }
    if (root && json_object_size(defs)) json_object_set(root, "$defs", defs);
    json_decref(defs);
    char *s = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (!s) snprintf(msg, msg_size, "out of memory");
    return s;
}

/* ---- starting ------------------------------------------------------------ */

static int render_and_start(inf_model *m, const inf_chat_template *tmpl,
                            const inf_message *msgs, size_t n, inf_generate_options *opts,
                            const inf__srv_structured *st, int offer, inf_stream **out,
                            char *msg, size_t msg_size) {
    const inf_tokenizer *tok = inf_model_tokenizer(m);
    if (!tok) {
        snprintf(msg, msg_size, "this model has no tokenizer of its own: it cannot render tools");
        return INF_E_UNSUPPORTED;
    }
    int generic = st->format == INF__TC_GENERIC;
    char *tools_prompt = NULL, *tools_json = NULL;
    if (offer && generic) {
        tools_prompt = inf__tc_generic_prompt(st->tools);
    } else if (offer) {
        tools_json = json_dumps(st->tools, JSON_COMPACT);
    }
    json_t *arr = template_messages(st, msgs, n, generic, tools_prompt);
    char *mj = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    free(tools_prompt);
    if (!mj || (offer && !generic && !tools_json)) {
        free(mj);
        free(tools_json);
        snprintf(msg, msg_size, "out of memory");
        return INF_E_NOMEM;
    }
    char *text = NULL, *em = NULL;
    int rc = inf_chat_template_apply(tmpl, mj, opts->add_generation_prompt, tools_json,
                                     opts->template_vars_json, &text, &em);
    free(mj);
    free(tools_json);
    if (rc != INF_OK) {
        snprintf(msg, msg_size, "%s", em ? em : inf_strerror(rc));
        inf_free(em);
        return rc;
    }
    if (st->prefix) {
        size_t a = strlen(text), b = strlen(st->prefix);
        char *t2 = malloc(a + b + 1);
        if (!t2) {
            inf_free(text);
            snprintf(msg, msg_size, "out of memory");
            return INF_E_NOMEM;
        }
        memcpy(t2, text, a);
        memcpy(t2 + a, st->prefix, b + 1);
        inf_free(text);
        text = t2;
    } else {
        char *t2 = strdup(text);
        inf_free(text);
        text = t2;
        if (!text) {
            snprintf(msg, msg_size, "out of memory");
            return INF_E_NOMEM;
        }
    }
    /* As the engine's inf_chat: no second BOS when the template wrote one. */
    int32_t bos = inf_tokenizer_bos_id(tok);
    const char *bp = bos >= 0 ? inf_tokenizer_piece(tok, bos) : NULL;
    int add_special = !(bp && *bp && strncmp(text, bp, strlen(bp)) == 0);
    int32_t *ids = NULL;
    size_t n_ids = 0;
    rc = inf_tokenize(tok, text, strlen(text), add_special, &ids, &n_ids, &em);
    free(text);
    if (rc != INF_OK) {
        snprintf(msg, msg_size, "%s", em ? em : inf_strerror(rc));
        inf_free(em);
        return rc;
    }
    opts->prompt_ids = ids;
    opts->n_prompt_ids = n_ids;
    rc = inf_generate(m, "", opts, out);
    opts->prompt_ids = NULL;
    opts->n_prompt_ids = 0;
    inf_free(ids);
    if (rc != INF_OK) snprintf(msg, msg_size, "%s", inf_model_errmsg(m));
    return rc;
}

int inf__srv_structured_prepare(inf_model *m, inf__srv_structured *st,
                                inf_generate_options *opts, char *msg, size_t msg_size) {
    msg[0] = '\0';
    const inf_chat_template *tmpl = inf_model_chat_template(m);
    int offer = st->tools && st->choice != INF__TOOLS_NONE;
    st->format = inf__tc_detect(tmpl ? inf_chat_template_source(tmpl) : NULL);
    /* Without a template of its own (remote backends) the server cannot
     * know the format: the tools travel as tools_json, the reply is text. */
    st->parse_calls = offer && tmpl;
    if (offer && tmpl &&
        (st->choice == INF__TOOLS_REQUIRED || st->choice == INF__TOOLS_NAMED)) {
        st->constraint = forced_schema(st, msg, msg_size);
        if (!st->constraint) return INF_E_INVALID_ARGUMENT;
        opts->constraint_kind = INF_CONSTRAINT_JSON_SCHEMA;
        opts->constraint = st->constraint;
    } else if (st->response_kind != INF_CONSTRAINT_NONE) {
        opts->constraint_kind = st->response_kind;
        opts->constraint = st->schema;
    }
    return INF_OK;
}

int inf__srv_chat_start(inf_model *m, const inf_message *msgs, size_t n,
                        inf_generate_options *opts, const inf__srv_structured *st,
                        inf_stream **out, char *msg, size_t msg_size) {
    msg[0] = '\0';
    const inf_chat_template *tmpl = inf_model_chat_template(m);
    int offer = st->tools && st->choice != INF__TOOLS_NONE;
    int rc;
    if (tmpl && (offer || st->rich)) {
        rc = render_and_start(m, tmpl, msgs, n, opts, st, offer, out, msg, msg_size);
    } else {
        /* Remote backends render on their server: the tools travel as
         * tools_json; a plain conversation needs nothing more. */
        char *tj = offer ? json_dumps(st->tools, JSON_COMPACT) : NULL;
        const char *keep = opts->tools_json;
        if (tj) opts->tools_json = tj;
        rc = inf_chat(m, msgs, n, opts, out);
        opts->tools_json = keep;
        free(tj);
        if (rc != INF_OK) snprintf(msg, msg_size, "%s", inf_model_errmsg(m));
    }
    if (rc != INF_OK && !msg[0]) snprintf(msg, msg_size, "%s", inf_strerror(rc));
    return rc;
}

const char *inf__srv_marker_text(const inf_tokenizer *tok, int32_t id) {
    if (!tok || id < 0 || !inf_tokenizer_is_special(tok, id)) return NULL;
    const char *p = inf_tokenizer_piece(tok, id);
    static const char *const marks[] = {"<|python_tag|>", "[TOOL_CALLS]", "[ARGS]",
                                        "[CALL_ID]", "<tool_call>", "</tool_call>"};
    for (size_t i = 0; p && i < sizeof marks / sizeof marks[0]; i++)
        if (strcmp(p, marks[i]) == 0) return marks[i];
    return NULL;
}
