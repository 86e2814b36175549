/* Request parsing (see request.h).  Field semantics follow the OpenAI API:
 * unknown fields are ignored (SDKs send extras), known fields with the
 * wrong type are 400s naming the field. */
#include "server/request.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The defaults live here because most of them are request limits. */
void inf__srv_config_default(inf__srv_config *c) {
    memset(c, 0, sizeof *c);
    c->host = "127.0.0.1";
    c->port = 8080;
    c->parallel = 4;
    c->queue = 64;
    c->max_body = 1 << 20;
    c->max_messages = 256;
    c->max_tokens_limit = 4096;
    c->default_max_tokens = INF_DEFAULT_MAX_TOKENS;
    c->max_stop = 16;
    c->queue_timeout_ms = 600000;
    c->max_connections = 1024;
    c->max_connections_per_address = 128;
    c->header_timeout_ms = 10000;
    c->body_timeout_ms = 30000;
    inf_generate_options_default(&c->sampling);
}

#define BAD(param, ...) \
    inf__srv_errorf(err, 400, "invalid_request_error", param, NULL, __VA_ARGS__)

/* Reads an optional number field into *out; 0 ok, else the 400 status. */
static unsigned get_number(json_t *root, const char *key, double lo, double hi,
                           double *out, int *present, inf__srv_error *err) {
    json_t *v = json_object_get(root, key);
    *present = 0;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v)) return BAD(key, "'%s' must be a number", key);
    double d = json_number_value(v);
    if (!isfinite(d) || d < lo || d > hi)
        return BAD(key, "'%s' must be between %g and %g", key, lo, hi);
    *out = d;
    *present = 1;
    return 0;
}

static unsigned get_int(json_t *root, const char *key, long long lo,
                        long long hi, long long *out, int *present,
                        inf__srv_error *err);

/* A field of inf_generate_options, within the library's bound of `field`
 * (inf_generate_option_bound) and [lo, hi], the server's own policy. */
static unsigned get_bounded(json_t *root, const char *key, const char *field,
                            double lo, double hi, double *out, int *present,
                            inf__srv_error *err) {
    const inf_option_bound *b = inf_generate_option_bound(field);
    if (b && b->min > lo) lo = b->min;
    if (b && b->max < hi) hi = b->max;
    if (b && b->is_integer) {
        long long x;
        unsigned st = get_int(root, key, (long long)lo, (long long)hi, &x, present, err);
        if (!st && *present) *out = (double)x;
        return st;
    }
    return get_number(root, key, lo, hi, out, present, err);
}

static unsigned get_int(json_t *root, const char *key, long long lo,
                        long long hi, long long *out, int *present,
                        inf__srv_error *err) {
    json_t *v = json_object_get(root, key);
    *present = 0;
    if (!v || json_is_null(v)) return 0;
    /* JSON has one number type: accept 5.0 but not 5.5. */
    long long x;
    if (json_is_integer(v)) {
        x = json_integer_value(v);
    } else if (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v) &&
               fabs(json_real_value(v)) < 9e15) {
        x = (long long)json_real_value(v);
    } else {
        return BAD(key, "'%s' must be an integer", key);
    }
    if (x < lo || x > hi)
        return BAD(key, "'%s' must be between %lld and %lld", key, lo, hi);
    *out = x;
    *present = 1;
    return 0;
}

static unsigned get_bool(json_t *root, const char *key, int *out,
                         inf__srv_error *err) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) return BAD(key, "'%s' must be a boolean", key);
    *out = json_is_true(v);
    return 0;
}

/* Message content: a string, null (assistant turns with tool calls), or an
 * array of parts of which only {"type":"text","text":...} are supported. */
static unsigned message_content(json_t *c, size_t i, const char **text,
                                char **owned, inf__srv_error *err) {
    char param[64];
    snprintf(param, sizeof param, "messages[%zu].content", i);
    *owned = NULL;
    if (!c || json_is_null(c)) {
        *text = "";
        return 0;
    }
    if (json_is_string(c)) {
        if (strlen(json_string_value(c)) != json_string_length(c))
            return BAD(param, "'%s' must not contain NUL characters", param);
        *text = json_string_value(c);
        return 0;
    }
    if (!json_is_array(c))
        return BAD(param, "'%s' must be a string or an array of text parts", param);
    size_t total = 0, k;
    json_t *part;
    json_array_foreach(c, k, part) {
        json_t *type = json_object_get(part, "type");
        json_t *t = json_object_get(part, "text");
        if (!json_is_object(part) || !json_is_string(type) ||
            strcmp(json_string_value(type), "text") != 0 || !json_is_string(t))
            return BAD(param, "'%s[%zu]': only parts {\"type\": \"text\", \"text\": ...} are supported",
                       param, k);
        total += json_string_length(t);
    }
    char *buf = malloc(total + 1);
    if (!buf)
        return inf__srv_errorf(err, 500, "server_error", NULL, NULL, "out of memory");
    size_t at = 0;
    json_array_foreach(c, k, part) {
        json_t *t = json_object_get(part, "text");
        memcpy(buf + at, json_string_value(t), json_string_length(t));
        at += json_string_length(t);
    }
    buf[at] = '\0';
    if (strlen(buf) != at) {
        free(buf);
        return BAD(param, "'%s' must not contain NUL characters", param);
    }
    *owned = buf;
    *text = buf;
    return 0;
}

static unsigned parse_messages(json_t *root, const inf__srv_config *cfg,
                               inf__srv_request *r, inf__srv_error *err) {
    json_t *ms = json_object_get(root, "messages");
    if (!ms) return BAD("messages", "'messages' is required");
    if (!json_is_array(ms)) return BAD("messages", "'messages' must be an array");
    size_t n = json_array_size(ms);
    if (n == 0) return BAD("messages", "'messages' must not be empty");
    if (n > (size_t)cfg->max_messages)
        return BAD("messages", "too many messages: %zu (this server accepts at most %d)",
                   n, cfg->max_messages);
    r->msgs = calloc(n, sizeof *r->msgs);
    r->owned = calloc(n, sizeof *r->owned);
    if (!r->msgs || !r->owned)
        return inf__srv_errorf(err, 500, "server_error", NULL, NULL, "out of memory");
    r->n_msgs = n;
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(ms, i);
        char param[64];
        snprintf(param, sizeof param, "messages[%zu]", i);
        if (!json_is_object(m)) return BAD(param, "'%s' must be an object", param);
        json_t *role = json_object_get(m, "role");
        snprintf(param, sizeof param, "messages[%zu].role", i);
        if (!json_is_string(role)) return BAD(param, "'%s' must be a string", param);
        const char *rs = json_string_value(role);
        /* "developer" is the newer OpenAI name for the system role. */
        if (strcmp(rs, "developer") == 0) rs = "system";
        if (strcmp(rs, "system") != 0 && strcmp(rs, "user") != 0 &&
            strcmp(rs, "assistant") != 0 && strcmp(rs, "tool") != 0)
            return BAD(param, "'%s' must be one of system, developer, user, assistant, tool; got '%s'",
                       param, rs);
        r->msgs[i].role = rs;
        unsigned st = message_content(json_object_get(m, "content"), i,
                                      &r->msgs[i].content, &r->owned[i], err);
        if (st) return st;
    }
    return 0;
}

static unsigned parse_prompt(json_t *root, inf__srv_request *r,
                             inf__srv_error *err) {
    json_t *p = json_object_get(root, "prompt");
    if (!p) return BAD("prompt", "'prompt' is required");
    /* n = 1 only: a list must hold exactly one prompt (a string, or one
     * list of token ids); a flat list of integers is a token-id prompt. */
    if (json_is_array(p) && json_array_size(p) == 1 &&
        (json_is_string(json_array_get(p, 0)) || json_is_array(json_array_get(p, 0))))
        p = json_array_get(p, 0);
    if (json_is_string(p)) {
        if (strlen(json_string_value(p)) != json_string_length(p))
            return BAD("prompt", "'prompt' must not contain NUL characters");
        r->prompt = json_string_value(p);
        return 0;
    }
    if (json_is_array(p) && json_array_size(p) > 0) {
        size_t n = json_array_size(p);
        r->prompt_ids = malloc(n * sizeof *r->prompt_ids);
        if (!r->prompt_ids)
            return inf__srv_errorf(err, 500, "server_error", NULL, NULL, "out of memory");
        for (size_t i = 0; i < n; i++) {
            json_t *v = json_array_get(p, i);
            if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                json_integer_value(v) > INT32_MAX)
                return BAD("prompt", "'prompt' must be a string, a list of one string, or a list of token ids");
            r->prompt_ids[i] = (int32_t)json_integer_value(v);
        }
        r->n_prompt_ids = n;
        r->prompt = "";
        return 0;
    }
    return BAD("prompt", "'prompt' must be a string, a list of one string, or a list of token ids");
}

static unsigned parse_stop(json_t *root, const inf__srv_config *cfg,
                           inf__srv_request *r, inf__srv_error *err) {
    json_t *s = json_object_get(root, "stop");
    if (!s || json_is_null(s)) return 0;
    size_t n = json_is_string(s) ? 1 : json_is_array(s) ? json_array_size(s) : 0;
    if (!json_is_string(s) && !json_is_array(s))
        return BAD("stop", "'stop' must be a string or a list of strings");
    if (n > (size_t)cfg->max_stop)
        return BAD("stop", "'stop' holds %zu strings; at most %d are accepted", n, cfg->max_stop);
    if (n == 0) return 0;
    r->stops = calloc(n, sizeof *r->stops);
    if (!r->stops)
        return inf__srv_errorf(err, 500, "server_error", NULL, NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_is_string(s) ? s : json_array_get(s, i);
        if (!json_is_string(v) || json_string_length(v) == 0 ||
            strlen(json_string_value(v)) != json_string_length(v))
            return BAD("stop", "'stop' entries must be non-empty strings");
        r->stops[i] = json_string_value(v);
    }
    r->n_stops = n;
    r->opts.stop_strings = r->stops;
    r->opts.n_stop_strings = n;
    return 0;
}

static unsigned parse_sampling(json_t *root, const inf__srv_config *cfg,
                               inf__srv_request *r, inf__srv_error *err) {
    inf_generate_options *o = &r->opts;
    double d;
    long long x;
    int have;
    unsigned st;
    /* Every range is the library's (one table for the library, the CLI and
     * the server); the server adds its max_tokens policy on top. */
    if ((st = get_bounded(root, "temperature", "temperature", -INFINITY, INFINITY, &d, &have, err)))
        return st;
    if (have) o->temperature = (float)d;
    if ((st = get_bounded(root, "top_p", "top_p", -INFINITY, INFINITY, &d, &have, err))) return st;
    if (have) o->top_p = (float)d;
    if ((st = get_bounded(root, "min_p", "min_p", -INFINITY, INFINITY, &d, &have, err))) return st;
    if (have) o->min_p = (float)d;
    if ((st = get_bounded(root, "top_k", "top_k", -INFINITY, INFINITY, &d, &have, err))) return st;
    if (have) o->top_k = (int32_t)d;
    if ((st = get_bounded(root, "repeat_penalty", "repeat_penalty", -INFINITY, INFINITY, &d,
                          &have, err)))
        return st;
    if (have) o->repeat_penalty = (float)d;
    /* OpenAI's penalties, over the generated tokens (see sample.h). */
    if ((st = get_bounded(root, "frequency_penalty", "frequency_penalty", -INFINITY,
                          INFINITY, &d, &have, err)))
        return st;
    if (have) o->frequency_penalty = (float)d;
    if ((st = get_bounded(root, "presence_penalty", "presence_penalty", -INFINITY,
                          INFINITY, &d, &have, err)))
        return st;
    if (have) o->presence_penalty = (float)d;
    /* Passed through as given: every value is a fixed seed, except -1
     * (UINT64_MAX, INF_SEED_RANDOM), which asks for a random one, as does
     * a request without a seed. */
    if ((st = get_int(root, "seed", INT64_MIN, INT64_MAX, &x, &have, err))) return st;
    if (have) o->seed = (uint64_t)x;

    /* max_tokens: at least 1 (0, "until the context is full", is not
     * offered) and at most --max-tokens-limit. */
    o->max_tokens = cfg->default_max_tokens;
    if ((st = get_bounded(root, "max_tokens", "max_tokens", 1, cfg->max_tokens_limit, &d,
                          &have, err)))
        return st;
    if (have) o->max_tokens = (int32_t)d;
    if ((st = get_bounded(root, "max_completion_tokens", "max_tokens", 1,
                          cfg->max_tokens_limit, &d, &have, err)))
        return st;
    if (have) o->max_tokens = (int32_t)d;

    /* n: every choice holds an engine slot of its own while it runs (the
     * admission gate takes n at once), so n is bounded by --parallel. */
    r->n = 1;
    if ((st = get_int(root, "n", 1, cfg->parallel, &x, &have, err))) {
        inf__srv_errorf(err, 400, "invalid_request_error", "n", NULL,
                        "'n' must be an integer between 1 and %d (this server runs %d "
                        "generations at once)", cfg->parallel, cfg->parallel);
        return 400;
    }
    if (have) r->n = (int)x;
    return 0;
}

/* logit_bias: OpenAI's object of token ids (decimal strings) -> bias in
 * [-100, 100].  Ids beyond the vocabulary are the library's to refuse (the
 * server may not know the vocabulary: remote backends). */
#define LOGIT_BIAS_MAX 1024
static unsigned parse_logit_bias(json_t *root, inf__srv_request *r,
                                 inf__srv_error *err) {
    json_t *lb = json_object_get(root, "logit_bias");
    if (!lb || json_is_null(lb)) return 0;
    if (!json_is_object(lb))
        return BAD("logit_bias", "'logit_bias' must be an object mapping token ids "
                                 "(strings) to biases between -100 and 100");
    size_t n = json_object_size(lb);
    if (n == 0) return 0;
    if (n > LOGIT_BIAS_MAX)
        return BAD("logit_bias", "'logit_bias' has %zu entries; at most %d are accepted", n,
                   LOGIT_BIAS_MAX);
    r->bias_ids = malloc(n * sizeof *r->bias_ids);
    r->bias_vals = malloc(n * sizeof *r->bias_vals);
    if (!r->bias_ids || !r->bias_vals)
        return inf__srv_errorf(err, 500, "server_error", NULL, NULL, "out of memory");
    const char *key;
    json_t *v;
    size_t i = 0;
    json_object_foreach(lb, key, v) {
        char *end;
        long long id = strtoll(key, &end, 10);
        if (!*key || *end || key[0] == '-' || key[0] == '+' || key[0] == ' ' || id < 0 ||
            id > INT32_MAX)
            return BAD("logit_bias", "'logit_bias' key '%.40s' is not a token id (a "
                                     "non-negative integer written as a string)", key);
        if (!json_is_number(v))
            return BAD("logit_bias", "'logit_bias' value for token %lld must be a number",
                       id);
        double b = json_number_value(v);
        if (!isfinite(b) || b < -100 || b > 100)
            return BAD("logit_bias", "'logit_bias' value for token %lld must be between "
                                     "-100 and 100, got %g", id, b);
        r->bias_ids[i] = (int32_t)id;
        r->bias_vals[i] = (float)b;
        i++;
    }
    r->n_bias = i;
    r->opts.logit_bias_ids = r->bias_ids;
    r->opts.logit_bias_values = r->bias_vals;
    r->opts.n_logit_bias = i;
    return 0;
}

/* Chat: "logprobs": bool, "top_logprobs": 0..20 (needs logprobs).
 * Completions (legacy): "logprobs": 0..5, the number of alternatives. */
static unsigned parse_logprobs(json_t *root, inf__srv_request *r,
                               inf__srv_error *err) {
    long long x;
    int have;
    unsigned st;
    if (r->chat) {
        if ((st = get_bool(root, "logprobs", &r->logprobs, err))) return st;
        if ((st = get_int(root, "top_logprobs", 0, 20, &x, &have, err))) return st;
        if (have) {
            if (!r->logprobs && x > 0)
                return BAD("top_logprobs", "'top_logprobs' needs 'logprobs': true");
            r->top_logprobs = (int)x;
        }
    } else {
        json_t *v = json_object_get(root, "logprobs");
        if (json_is_boolean(v)) {
            r->logprobs = json_is_true(v);
        } else {
            if ((st = get_int(root, "logprobs", 0, 5, &x, &have, err))) return st;
            if (have) {
                r->logprobs = 1;
                r->top_logprobs = (int)x;
            }
        }
    }
    /* The engine hands each token's logits over only when asked. */
    r->opts.return_logits = r->logprobs;
    return 0;
}

unsigned inf__srv_request_parse(const char *body, size_t len, int chat,
                                const inf__srv_config *cfg,
                                inf__srv_request *r, inf__srv_error *err) {
    memset(r, 0, sizeof *r);
    r->chat = chat;
    r->opts = cfg->sampling;
    json_error_t je;
    r->root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!r->root) {
        BAD(NULL, "the request body is not valid JSON: %s (line %d, column %d)",
            je.text, je.line, je.column);
        return 400;
    }
    if (!json_is_object(r->root)) {
        BAD(NULL, "the request body must be a JSON object");
        goto fail;
    }
    json_t *model = json_object_get(r->root, "model");
    if (model && !json_is_string(model)) {
        BAD("model", "'model' must be a string");
        goto fail;
    }
    /* The model is optional (one model is served) but, when named, must be
     * the one served: a client that asks for another should hear so. */
    if (model && cfg->model_id && strcmp(json_string_value(model), cfg->model_id) != 0) {
        inf__srv_errorf(err, 404, "invalid_request_error", "model", "model_not_found",
                        "The model '%s' does not exist; this server serves '%s'",
                        json_string_value(model), cfg->model_id);
        goto fail;
    }
    if (get_bool(r->root, "stream", &r->stream, err)) goto fail;
    json_t *so = json_object_get(r->root, "stream_options");
    if (so && !json_is_null(so)) {
        if (!json_is_object(so)) {
            BAD("stream_options", "'stream_options' must be an object");
            goto fail;
        }
        if (get_bool(so, "include_usage", &r->include_usage, err)) goto fail;
    }
    if (chat ? parse_messages(r->root, cfg, r, err) : parse_prompt(r->root, r, err))
        goto fail;
    if (parse_sampling(r->root, cfg, r, err)) goto fail;
    if (parse_logit_bias(r->root, r, err)) goto fail;
    if (!chat && get_bool(r->root, "echo", &r->echo, err)) goto fail;
    if (parse_logprobs(r->root, r, err)) goto fail;
    if (parse_stop(r->root, cfg, r, err)) goto fail;
    if (chat && inf__srv_structured_parse(r->root, &r->st, err)) goto fail;
    if (r->n_prompt_ids) {
        r->opts.prompt_ids = r->prompt_ids;
        r->opts.n_prompt_ids = r->n_prompt_ids;
    }
    return 0;
fail:
    inf__srv_request_free(r);
    return err->status ? err->status : 400;
}

void inf__srv_request_free(inf__srv_request *r) {
    if (!r) return;
    if (r->owned)
        for (size_t i = 0; i < r->n_msgs; i++) free(r->owned[i]);
    free(r->owned);
    free(r->msgs);
    free(r->prompt_ids);
    free(r->stops);
    free(r->bias_ids);
    free(r->bias_vals);
    inf__srv_structured_free(&r->st);
    json_decref(r->root);
    memset(r, 0, sizeof *r);
}
