/* OpenAI request bodies and response events (see proto.h). */
#include "remote/proto.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"

/* Sampling fields shared by both endpoints.  Only what is switched on is
 * sent, so servers that lack an extension field (top_k, min_p,
 * repeat_penalty are llama.cpp / vLLM extensions) are not confused by it;
 * temperature and max_tokens always go, because a server's defaults
 * (temperature 1, often a small max_tokens) differ from ours. */
static int add_sampling(json_t *req, const inf_generate_options *o) {
    int bad = 0;
    bad |= json_object_set_new(req, "max_tokens", json_integer(o->max_tokens));
    bad |= json_object_set_new(req, "temperature",
                               json_real((double)o->temperature));
    if (o->top_p > 0 && o->top_p < 1)
        bad |= json_object_set_new(req, "top_p", json_real((double)o->top_p));
    if (o->top_k > 0)
        bad |= json_object_set_new(req, "top_k", json_integer(o->top_k));
    if (o->min_p > 0)
        bad |= json_object_set_new(req, "min_p", json_real((double)o->min_p));
    if (o->repeat_penalty > 0 && o->repeat_penalty != 1) {
        bad |= json_object_set_new(req, "repeat_penalty",
                                   json_real((double)o->repeat_penalty));
        if (o->repeat_last_n > 0)
            bad |= json_object_set_new(req, "repeat_last_n",
                                       json_integer(o->repeat_last_n));
    }
    if (o->presence_penalty != 0)
        bad |= json_object_set_new(req, "presence_penalty",
                                   json_real((double)o->presence_penalty));
    if (o->frequency_penalty != 0)
        bad |= json_object_set_new(req, "frequency_penalty",
                                   json_real((double)o->frequency_penalty));
    if (o->n_logit_bias > 0) {
        /* OpenAI's shape: token ids as strings -> bias.  A repeated id
         * adds up, as it does in the engine's sampler. */
        json_t *lb = json_object();
        for (size_t i = 0; lb && i < o->n_logit_bias; i++) {
            char key[16];
            snprintf(key, sizeof key, "%d", (int)o->logit_bias_ids[i]);
            double v = (double)o->logit_bias_values[i];
            json_t *prev = json_object_get(lb, key);
            if (prev) v += json_number_value(prev);
            bad |= json_object_set_new(lb, key, json_real(v));
        }
        bad |= json_object_set_new(req, "logit_bias", lb);
    }
    if (o->seed != INF_SEED_RANDOM)
        /* JSON integers are signed 64-bit in jansson: keep the low 63 bits
         * so the value stays positive on every server. */
        bad |= json_object_set_new(
            req, "seed", json_integer((json_int_t)(o->seed & 0x7fffffffffffffffULL)));
    if (o->n_stop_strings > 0) {
        json_t *stop = json_array();
        for (size_t i = 0; stop && i < o->n_stop_strings; i++)
            if (o->stop_strings[i] && o->stop_strings[i][0])
                bad |= json_array_append_new(stop, json_string(o->stop_strings[i]));
        bad |= json_object_set_new(req, "stop", stop);
    }
    if (o->n_stop_ids > 0)
        inf__log(INF_LOG_WARN,
                 "openai: %zu stop token id(s) ignored: OpenAI-compatible "
                 "servers take stop strings only", o->n_stop_ids);
    if (o->ignore_eos)
        bad |= json_object_set_new(req, "ignore_eos", json_true());
    return bad ? -1 : 0;
}

static char *finish_body(json_t *req, int stream, int bad) {
    if (stream) {
        bad |= json_object_set_new(req, "stream", json_true());
        json_t *so = json_object();
        bad |= json_object_set_new(so, "include_usage", json_true());
        bad |= json_object_set_new(req, "stream_options", so);
    }
    char *s = bad ? NULL : json_dumps(req, JSON_COMPACT);
    json_decref(req);
    return s;
}

char *inf__oai_body_completion(const char *model, const char *prompt,
                               const int32_t *ids, size_t n_ids,
                               const inf_generate_options *o, int stream,
                               const char **bad_field) {
    if (bad_field) *bad_field = NULL;
    json_t *req = json_object();
    if (!req) return NULL;
    int bad = 0;
    if (model) bad |= json_object_set_new(req, "model", json_string(model));
    if (n_ids > 0 && ids) {
        /* The completions API takes a prompt of token ids as an array of
         * integers. */
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < n_ids; i++)
            bad |= json_array_append_new(arr, json_integer(ids[i]));
        bad |= json_object_set_new(req, "prompt", arr);
    } else {
        bad |= json_object_set_new(req, "prompt",
                                   json_string(prompt ? prompt : ""));
    }
    if (add_sampling(req, o)) bad = 1;
    return finish_body(req, stream, bad);
}

char *inf__oai_body_chat(const char *model, const inf_message *msgs,
                         size_t n_msgs, const inf_generate_options *o,
                         int stream, const char **bad_field) {
    if (bad_field) *bad_field = NULL;
    json_t *req = json_object();
    if (!req) return NULL;
    int bad = 0;
    if (model) bad |= json_object_set_new(req, "model", json_string(model));
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n_msgs; i++) {
        json_t *m = json_object();
        bad |= json_object_set_new(m, "role", json_string(msgs[i].role));
        bad |= json_object_set_new(m, "content", json_string(msgs[i].content));
        bad |= json_array_append_new(arr, m);
    }
    bad |= json_object_set_new(req, "messages", arr);
    if (add_sampling(req, o)) bad = 1;
    if (o->tools_json && o->tools_json[0]) {
        json_t *t = json_loads(o->tools_json, 0, NULL);
        if (!t) {
            if (bad_field) *bad_field = "tools_json";
            json_decref(req);
            return NULL;
        }
        bad |= json_object_set_new(req, "tools", t);
    }
    if (o->template_vars_json && o->template_vars_json[0]) {
        /* llama.cpp and vLLM read template variables from this field. */
        json_t *t = json_loads(o->template_vars_json, 0, NULL);
        if (!t || !json_is_object(t)) {
            json_decref(t);
            if (bad_field) *bad_field = "template_vars_json";
            json_decref(req);
            return NULL;
        }
        bad |= json_object_set_new(req, "chat_template_kwargs", t);
    }
    if (o->chat_template)
        inf__log(INF_LOG_WARN, "openai: chat_template ignored: the server "
                               "renders messages with its own template");
    if (!o->add_generation_prompt)
        inf__log(INF_LOG_WARN, "openai: add_generation_prompt=0 ignored by "
                               "the chat endpoint");
    return finish_body(req, stream, bad);
}

static const char *static_finish(const char *r) {
    static const char *const known[] = {"stop", "length", "content_filter",
                                        "tool_calls", "function_call", "eos"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(r, known[i]) == 0) return known[i];
    return "other";
}

/* The id of the (last) token a choice carries, where the server says. */
static int32_t choice_token_id(json_t *choice, json_t *root) {
    json_t *ids = json_object_get(choice, "token_ids"); /* vLLM */
    if (!json_is_array(ids)) ids = json_object_get(root, "tokens"); /* llama.cpp native */
    if (json_is_array(ids) && json_array_size(ids) > 0) {
        json_t *v = json_array_get(ids, json_array_size(ids) - 1);
        if (json_is_integer(v)) return (int32_t)json_integer_value(v);
    }
    /* logprobs.content[].id (llama.cpp when logprobs are requested) */
    json_t *lp = json_object_get(choice, "logprobs");
    json_t *content = json_is_object(lp) ? json_object_get(lp, "content") : NULL;
    if (json_is_array(content) && json_array_size(content) > 0) {
        json_t *last = json_array_get(content, json_array_size(content) - 1);
        json_t *id = json_object_get(last, "id");
        if (json_is_integer(id)) return (int32_t)json_integer_value(id);
    }
    return -1;
}

static char *error_of(json_t *root) {
    json_t *e = json_object_get(root, "error");
    if (json_is_string(e)) return strdup(json_string_value(e));
    json_t *m = NULL;
    if (json_is_object(e)) m = json_object_get(e, "message");
    else if (!e) m = json_object_get(root, "message");
    if (json_is_string(m)) return strdup(json_string_value(m));
    if (json_is_object(e)) return json_dumps(e, JSON_COMPACT);
    return NULL;
}

int inf__oai_parse_event(const char *data, size_t len, int chat,
                         inf__oai_event *ev) {
    memset(ev, 0, sizeof *ev);
    ev->token_id = -1;
    ev->prompt_tokens = -1;
    ev->completion_tokens = -1;
    /* Tolerate surrounding whitespace around the sentinel. */
    const char *s = data;
    size_t n = len;
    while (n && (*s == ' ' || *s == '\t')) { s++; n--; }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n')) n--;
    if (n == 6 && memcmp(s, "[DONE]", 6) == 0) {
        ev->done = 1;
        return 0;
    }
    json_error_t jerr;
    json_t *root = json_loadb(data, len, 0, &jerr);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        char buf[256];
        snprintf(buf, sizeof buf, "malformed event from server: %s",
                 root ? "not a JSON object" : jerr.text);
        ev->error = strdup(buf);
        return -1;
    }
    json_t *err = json_object_get(root, "error");
    if (err && !json_is_null(err)) {
        ev->error = error_of(root);
        if (!ev->error) ev->error = strdup("server reported an error");
        json_decref(root);
        return 0;
    }
    json_t *choices = json_object_get(root, "choices");
    json_t *c0 = json_is_array(choices) ? json_array_get(choices, 0) : NULL;
    /* Fields of the wrong type are a broken server, reported as such rather
     * than read as an event without text (a completion would then end
     * "successfully" empty).  null stands for absent, as servers send it. */
    const char *wrong = NULL;
    if (choices && !json_is_null(choices) && !json_is_array(choices))
        wrong = "\"choices\" is not an array";
    else if (c0 && !json_is_object(c0))
        wrong = "a choice is not an object";
    if (json_is_object(c0)) {
        json_t *t = NULL;
        if (chat) {
            json_t *d = json_object_get(c0, "delta");
            if (d && !json_is_null(d) && !json_is_object(d)) wrong = "\"delta\" is not an object";
            if (!json_is_object(d)) d = json_object_get(c0, "message");
            if (json_is_object(d)) t = json_object_get(d, "content");
        } else {
            t = json_object_get(c0, "text");
        }
        if (json_is_string(t)) {
            /* jansson has validated the string as UTF-8, so every piece
             * holds whole characters. */
            ev->text = inf__strndup(json_string_value(t), json_string_length(t));
            ev->text_len = ev->text ? json_string_length(t) : 0;
            if (!ev->text) wrong = "out of memory copying its text";
        } else if (t && !json_is_null(t)) {
            wrong = chat ? "\"content\" is not a string" : "\"text\" is not a string";
        }
        ev->token_id = choice_token_id(c0, root);
        json_t *fr = json_object_get(c0, "finish_reason");
        if (json_is_string(fr)) ev->finish = static_finish(json_string_value(fr));
        else if (fr && !json_is_null(fr)) wrong = "\"finish_reason\" is not a string";
    }
    if (wrong) {
        json_decref(root);
        free(ev->text);
        ev->text = NULL;
        ev->text_len = 0;
        char buf[160];
        snprintf(buf, sizeof buf, "malformed event from server: %s", wrong);
        ev->error = strdup(buf);
        return -1;
    }
    json_t *usage = json_object_get(root, "usage");
    if (json_is_object(usage)) {
        json_t *p = json_object_get(usage, "prompt_tokens");
        json_t *c = json_object_get(usage, "completion_tokens");
        if (json_is_integer(p)) ev->prompt_tokens = json_integer_value(p);
        if (json_is_integer(c)) ev->completion_tokens = json_integer_value(c);
    }
    json_decref(root);
    return 0;
}

void inf__oai_event_free(inf__oai_event *ev) {
    if (!ev) return;
    free(ev->text);
    free(ev->error);
    ev->text = NULL;
    ev->error = NULL;
}

char *inf__oai_error_message(const char *body, size_t len) {
    if (!body || !len) return NULL;
    json_t *root = json_loadb(body, len, 0, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        return NULL;
    }
    char *m = error_of(root);
    json_decref(root);
    return m;
}

inf_finish_reason inf__oai_finish(const char *reason, int sent_stop_strings) {
    if (!reason) return INF_FINISH_NONE;
    if (strcmp(reason, "length") == 0) return INF_FINISH_LENGTH;
    if (strcmp(reason, "eos") == 0) return INF_FINISH_EOS;
    if (strcmp(reason, "stop") == 0)
        return sent_stop_strings ? INF_FINISH_STOP : INF_FINISH_EOS;
    return INF_FINISH_STOP; /* content_filter, tool_calls, ... */
}
