/* The client's model: connecting to an OpenAI-compatible HTTP server
 * (ours, llama.cpp's llama-server, vLLM, ...) checks the server and picks
 * the model; Generate/Chat stream over server-sent events (stream.c),
 * Classify/BatchGenerate run concurrent requests (batch.c). */
#include "remote/client.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remote/model.h"
#include "remote/proto.h"
#include "core/clock.h"
#include "core/log.h"

#define DEFAULT_RETRIES 3

/* ---- requests ---------------------------------------------------------- */

int inf__oai_request(inf__oai_model *m, const char *prompt,
                     const inf_message *msgs, size_t n_msgs,
                     const inf_generate_options *o, int stream,
                     inf__oai_xfer **out, char **errmsg) {
    *out = NULL;
    if (o->return_logits) {
        if (errmsg)
            *errmsg = strdup("return_logits is not supported by the remote "
                             "backends: OpenAI-compatible servers do not "
                             "return logits");
        return INF_E_UNSUPPORTED;
    }
    /* Constraints (issue 15): JSON schemas and "any JSON" travel as
     * OpenAI's response_format; llama-server also takes a GBNF grammar (its
     * own dialect, which ours follows); a regex has no standard field. */
    int is_llama = strcmp(m->backend, "llama_cpp") == 0;
    if (o->constraint_kind == INF_CONSTRAINT_REGEX ||
        (o->constraint_kind == INF_CONSTRAINT_GRAMMAR && !is_llama)) {
        if (errmsg)
            *errmsg = strdup(o->constraint_kind == INF_CONSTRAINT_REGEX
                                 ? "a regex constraint is not supported by the remote "
                                   "backends (OpenAI-compatible servers take JSON schemas "
                                   "only); use a JSON schema, or a local backend"
                                 : "a grammar constraint is not supported by the openai "
                                   "backend (OpenAI-compatible servers take JSON schemas "
                                   "only); the llama_cpp backend passes grammars on");
        return INF_E_UNSUPPORTED;
    }
    json_t *constraint = NULL;
    if (o->constraint_kind == INF_CONSTRAINT_JSON_SCHEMA) {
        json_t *schema = json_loads(o->constraint, JSON_DECODE_ANY, NULL);
        if (!json_is_object(schema) && !json_is_boolean(schema)) {
            json_decref(schema);
            if (errmsg) *errmsg = strdup("the constraint is not a JSON schema (a JSON object)");
            return INF_E_INVALID_ARGUMENT;
        }
        constraint = json_pack("{s:s, s:{s:s, s:o, s:b}}", "type", "json_schema",
                               "json_schema", "name", "schema", "schema", schema, "strict", 1);
    } else if (o->constraint_kind == INF_CONSTRAINT_JSON) {
        constraint = json_pack("{s:s}", "type", "json_object");
    }
    inf_generate_options oo = *o;
    const char *bad = NULL;
    int chat = prompt == NULL && o->n_prompt_ids == 0;
    char *body = chat ? inf__oai_body_chat(m->model, msgs, n_msgs, &oo, stream, &bad)
                      : inf__oai_body_completion(m->model, prompt, o->prompt_ids,
                                                 o->n_prompt_ids, &oo, stream, &bad);
    if (!body) {
        if (errmsg) {
            char buf[160];
            snprintf(buf, sizeof buf, bad ? "%s is not valid JSON"
                                          : "could not build the request "
                                            "(text is not valid UTF-8?)%s",
                     bad ? bad : "");
            *errmsg = strdup(buf);
        }
        json_decref(constraint);
        return INF_E_INVALID_ARGUMENT;
    }
    if (constraint || o->constraint_kind == INF_CONSTRAINT_GRAMMAR) {
        /* Never sent without it: the caller relies on the constraint. */
        json_t *req = json_loads(body, 0, NULL);
        char *b2 = NULL;
        if (req) {
            if (constraint) json_object_set(req, "response_format", constraint);
            else json_object_set_new(req, "grammar", json_string(o->constraint));
            b2 = json_dumps(req, JSON_COMPACT);
            json_decref(req);
        }
        json_decref(constraint);
        free(body);
        if (!b2) {
            if (errmsg) *errmsg = strdup("out of memory");
            return INF_E_NOMEM;
        }
        body = b2;
    }
    /* llama-server refuses logprobs together with tools in a stream. */
    if (m->want_token_ids && !(chat && o->tools_json && o->tools_json[0])) {
        /* Ask llama.cpp-style servers for the sampled token's id via the
         * logprobs of the single most likely token. */
        json_t *req = json_loads(body, 0, NULL);
        if (req) {
            if (chat) {
                json_object_set_new(req, "logprobs", json_true());
                json_object_set_new(req, "top_logprobs", json_integer(1));
            } else {
                json_object_set_new(req, "logprobs", json_integer(1));
            }
            char *b2 = json_dumps(req, JSON_COMPACT);
            json_decref(req);
            if (b2) {
                free(body);
                body = b2;
            }
        }
    }
    size_t ul = strlen(m->base_url) + 32;
    char *url = malloc(ul);
    if (!url) {
        free(body);
        return INF_E_NOMEM;
    }
    snprintf(url, ul, "%s%s", m->base_url,
             chat ? "/chat/completions" : "/completions");
    inf__oai_xfer *x = inf__oai_xfer_new(url, body, m->headers, chat,
                                         m->timeout_ms, m->max_retries);
    free(url);
    free(body);
    if (!x) {
        if (errmsg) *errmsg = strdup("out of memory (curl)");
        return INF_E_NOMEM;
    }
    x->cancel = o->cancel;
    x->sent_stop = o->n_stop_strings > 0;
    x->diag = m->diag;
    x->diag_user = m->diag_user;
    *out = x;
    return INF_OK;
}

void inf__oai_xfer_metrics(const inf__oai_xfer *x, inf_metrics *out) {
    memset(out, 0, sizeof *out);
    if (!x || !x->t_start_ns) return;
    int64_t end = x->done ? x->t_end_ns : inf__now_ns();
    int64_t first = x->got_first ? x->t_first_ns : end;
    out->prompt_tokens = x->prompt_tokens >= 0 ? x->prompt_tokens : 0;
    out->generated_tokens =
        x->completion_tokens >= 0 ? x->completion_tokens : x->n_pieces;
    /* The time to the first token stands for prefill; decoding is the rest. */
    out->prefill_seconds = (double)(first - x->t_start_ns) * 1e-9;
    out->decode_seconds = (double)(end - first) * 1e-9;
    out->total_seconds = (double)(end - x->t_start_ns) * 1e-9;
    if (out->prefill_seconds > 0)
        out->prefill_tokens_per_second =
            (double)out->prompt_tokens / out->prefill_seconds;
    if (out->decode_seconds > 0 && out->generated_tokens > 1)
        out->decode_tokens_per_second =
            (double)(out->generated_tokens - 1) / out->decode_seconds;
    inf__process_memory(&out->active_memory_bytes, &out->peak_memory_bytes);
}

void inf__oai_model_record(inf__oai_model *m, const inf_metrics *mt) {
    pthread_mutex_lock(&m->mu);
    m->last = *mt;
    pthread_mutex_unlock(&m->mu);
}

/* ---- model ops --------------------------------------------------------- */

static const char *m_type(void *p) {
    inf__oai_model *m = p;
    return m->arch;
}

static int m_info(void *p, inf_model_info *out) {
    inf__oai_model *m = p;
    snprintf(out->architecture, sizeof out->architecture, "%s", m->arch);
    snprintf(out->backend, sizeof out->backend, "%s", m->backend);
    out->vocab_size = m->vocab_size;
    out->hidden_size = m->n_embd;
    out->n_layers = m->n_layers;
    out->context_length = m->n_ctx;
    out->weight_bytes = m->size_bytes;
    return INF_OK;
}

static int m_metrics(void *p, inf_metrics *out) {
    inf__oai_model *m = p;
    pthread_mutex_lock(&m->mu);
    *out = m->last;
    pthread_mutex_unlock(&m->mu);
    return INF_OK;
}

static void m_close(void *p) {
    inf__oai_model *m = p;
    if (!m) return;
    void (*on_close)(void *) = m->on_close;
    void *cu = m->close_user;
    free(m->base_url);
    free(m->model);
    curl_slist_free_all(m->headers);
    pthread_mutex_destroy(&m->mu);
    free(m);
    if (on_close) on_close(cu);
}

static const inf_model_ops model_ops = {
    .model_type = m_type,
    .info = m_info,
    .start = inf__oai_stream_start,
    .classify = inf__oai_classify,
    .batch_generate = inf__oai_batch_generate,
    .metrics = m_metrics,
    .close = m_close,
    .logits = NULL,
};

/* Reads GET {base}/models: picks the first model when none was named, and
 * checks a named one when asked.  llama.cpp adds a "meta" object with the
 * vocabulary size, context and weight size. */
static int read_models(inf__oai_model *m, int check, inf__err *err) {
    size_t ul = strlen(m->base_url) + 16;
    char *url = malloc(ul);
    if (!url) return inf__seterr(err, INF_E_NOMEM, "out of memory");
    snprintf(url, ul, "%s/models", m->base_url);
    long http = 0;
    char *body = NULL;
    char msg[1024];
    int rc = inf__oai_simple(url, m->headers, m->timeout_ms, m->max_retries,
                             &http, &body, msg, sizeof msg);
    if (rc == INF_OK && (http < 200 || http >= 300)) {
        char *em = inf__oai_error_message(body, body ? strlen(body) : 0);
        if (http == 404 && m->model) {
            /* Some servers have no model list; the name is all we need. */
            inf__log(INF_LOG_INFO, "openai: %s: no model list (HTTP 404)", url);
            free(em);
            free(body);
            free(url);
            return INF_OK;
        }
        rc = inf__seterr(err, INF_E_REMOTE, "HTTP %ld from %s: %s", http, url,
                         em ? em : body && body[0] ? body : "(no message)");
        free(em);
        free(body);
        free(url);
        return rc;
    }
    if (rc != INF_OK) {
        if (m->diag) {
            size_t used = strlen(msg);
            m->diag(m->diag_user, msg + used, sizeof msg - used);
        }
        inf__seterr(err, rc, "%s", msg);
        free(body);
        free(url);
        return rc;
    }
    json_t *root = json_loads(body ? body : "", 0, NULL);
    json_t *data = json_object_get(root, "data");
    size_t n = json_is_array(data) ? json_array_size(data) : 0;
    json_t *found = NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(data, i);
        const char *id = json_string_value(json_object_get(e, "id"));
        if (!id) continue;
        if (!m->model || strcmp(id, m->model) == 0) {
            found = e;
            break;
        }
    }
    if (!found && m->model && check && n > 0) {
        char list[512] = "";
        size_t used = 0;
        for (size_t i = 0; i < n && used < sizeof list; i++) {
            const char *id = json_string_value(
                json_object_get(json_array_get(data, i), "id"));
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s",
                                     i ? ", " : "", id ? id : "?");
        }
        rc = inf__seterr(err, INF_E_NOT_FOUND,
                         "model \"%s\" is not served by %s (it has: %s)",
                         m->model, m->base_url, list);
    } else if (!m->model && !found) {
        rc = inf__seterr(err, INF_E_NOT_FOUND,
                         "%s lists no models; name one with the "
                         "model_name option or a #model URL fragment", url);
    } else if (found) {
        if (!m->model) {
            m->model = strdup(json_string_value(json_object_get(found, "id")));
            if (!m->model) rc = inf__seterr(err, INF_E_NOMEM, "out of memory");
        }
        json_t *meta = json_object_get(found, "meta");
        if (json_is_object(meta)) {
            json_t *v;
            if (json_is_integer(v = json_object_get(meta, "n_vocab")))
                m->vocab_size = (int32_t)json_integer_value(v);
            if (json_is_integer(v = json_object_get(meta, "n_embd")))
                m->n_embd = (int32_t)json_integer_value(v);
            if (json_is_integer(v = json_object_get(meta, "n_ctx_train")))
                m->n_ctx = (int32_t)json_integer_value(v);
            if (json_is_integer(v = json_object_get(meta, "size")))
                m->size_bytes = json_integer_value(v);
            /* libinference's own server */
            if (json_is_integer(v = json_object_get(meta, "vocab_size")))
                m->vocab_size = (int32_t)json_integer_value(v);
            if (json_is_integer(v = json_object_get(meta, "context_length")))
                m->n_ctx = (int32_t)json_integer_value(v);
            if (json_is_string(v = json_object_get(meta, "architecture")) &&
                !m->arch_given)
                snprintf(m->arch, sizeof m->arch, "%s", json_string_value(v));
        }
    }
    json_decref(root);
    free(body);
    free(url);
    return rc;
}

int inf__openai_connect(const inf__openai_config *cfg,
                        const inf_model_ops **ops, void **model,
                        inf__err *err) {
    *ops = NULL;
    *model = NULL;
    if (!cfg || !cfg->base_url)
        return inf__seterr(err, INF_E_INVALID_ARGUMENT, "no server URL");
    if (inf__oai_curl_init())
        return inf__seterr(err, INF_E_INTERNAL, "libcurl failed to initialise");
    inf__oai_model *m = calloc(1, sizeof *m);
    if (!m) return inf__seterr(err, INF_E_NOMEM, "out of memory");
    pthread_mutex_init(&m->mu, NULL);
    m->base_url = strdup(cfg->base_url);
    m->model = cfg->model_name && cfg->model_name[0] ? strdup(cfg->model_name)
                                                     : NULL;
    m->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 0;
    m->max_retries = cfg->max_retries >= 0 ? cfg->max_retries : DEFAULT_RETRIES;
    m->want_token_ids = cfg->want_token_ids;
    snprintf(m->backend, sizeof m->backend, "%s",
             cfg->backend_name ? cfg->backend_name : "openai");
    snprintf(m->arch, sizeof m->arch, "%s",
             cfg->architecture && cfg->architecture[0] ? cfg->architecture
                                                      : "remote");
    m->arch_given = cfg->architecture && cfg->architecture[0];
    m->diag = cfg->diag;
    m->diag_user = cfg->diag_user;
    int ok = m->base_url && (m->model || !cfg->model_name || !cfg->model_name[0]);
    struct curl_slist *h = NULL;
    if (ok) ok = (h = curl_slist_append(NULL, "Content-Type: application/json")) != NULL;
    m->headers = h;
    if (ok && cfg->api_key && cfg->api_key[0]) {
        size_t n = strlen(cfg->api_key) + 32;
        char *auth = malloc(n);
        if (auth) {
            snprintf(auth, n, "Authorization: Bearer %s", cfg->api_key);
            h = curl_slist_append(m->headers, auth);
            free(auth);
        }
        if (!auth || !h) ok = 0;
        else m->headers = h;
    }
    if (!ok) {
        m_close(m);
        return inf__seterr(err, INF_E_NOMEM, "out of memory");
    }
    int rc = read_models(m, cfg->check_model, err);
    if (rc != INF_OK) {
        m_close(m); /* on_close is not yet set: the caller keeps ownership */
        return rc;
    }
    if (cfg->info) { /* the caller's knowledge wins */
        const inf_model_info *i = cfg->info;
        if (i->vocab_size) m->vocab_size = i->vocab_size;
        if (i->hidden_size) m->n_embd = i->hidden_size;
        if (i->n_layers) m->n_layers = i->n_layers;
        if (i->context_length) m->n_ctx = i->context_length;
        if (i->weight_bytes) m->size_bytes = i->weight_bytes;
    }
    m->on_close = cfg->on_close;
    m->close_user = cfg->close_user;
    *ops = &model_ops;
    *model = m;
    return INF_OK;
}
