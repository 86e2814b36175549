/* The HTTP daemon: libmicrohttpd with one thread per connection, limits on
 * connections (in all and per client address) with header and body
 * deadlines (conns.c), routing, request bodies under a size limit (a body
 * that grows past it closes the connection), Bearer authentication on the /v1 paths,
 * the checks against cross-site requests and DNS rebinding (Host, Origin,
 * JSON bodies, CORS for --cors-origin), and the small endpoints (/health,
 * /v1/models, /metrics, the chat page).  The generation endpoints live in
 * api.c. */
#include <arpa/inet.h>
#include <ctype.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/respond.h"
#include "server/server.h"
#include "server/tokenize.h"

/* Per-connection state while a request body arrives. */
typedef struct conn_ctx {
    inf__srv_endpoint ep;
    char *body;
    size_t len, cap;
    int too_big;
    int answered; /* a response was queued on an earlier call */
    const char *cors; /* the request's Origin when --cors-origin allows it */
} conn_ctx;

static const char *header(struct MHD_Connection *c, const char *name) {
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* Compares without an early exit, so timing does not reveal the key. */
static int key_equal(const char *a, size_t an, const char *b, size_t bn) {
    unsigned char d = an != bn;
    size_t n = an < bn ? an : bn;
    for (size_t i = 0; i < n; i++) d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

const char *inf__srv_api_key_problem(const char *key) {
    if (!key) return NULL;
    size_t n = strlen(key);
    if (n == 0) return "the API key is empty";
    if (key[0] == ' ' || key[0] == '\t' || key[n - 1] == ' ' || key[n - 1] == '\t')
        return "the API key starts or ends with a blank, which no client can send";
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)key[i] < 0x20 || key[i] == 0x7f)
            return "the API key holds a control character, which no client can send";
    return NULL;
}

static int authorised(inf__srv *s, struct MHD_Connection *c) {
    /* inf__srv_start refused an empty key: NULL is the only "no key". */
    if (!s->cfg.api_key) return 1;
    const char *h = header(c, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return 0;
    h += 7;
    while (*h == ' ') h++;
    return key_equal(h, strlen(h), s->cfg.api_key, strlen(s->cfg.api_key));
}

const char *inf__srv_cors_origin_problem(const char *origin) {
    if (!origin || !origin[0]) return "an origin cannot be empty";
    if (strcmp(origin, "*") == 0 || strcmp(origin, "null") == 0) return NULL;
    const char *host = strncmp(origin, "http://", 7) == 0    ? origin + 7
                       : strncmp(origin, "https://", 8) == 0 ? origin + 8
                                                             : NULL;
    if (!host) return "an origin starts with http:// or https://";
    if (!host[0] || host[0] == ':') return "an origin names a host";
    for (const char *p = host; *p; p++)
        if (*p == '/' || *p <= ' ' || *p == 0x7f)
            return "an origin is scheme://host[:port], without a path or blanks";
    return NULL;
}

/* ---- cross-site requests and DNS rebinding --------------------------- */

static int is_wildcard(const char *host) {
    return !host || !host[0] || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 ||
           strcmp(host, "[::]") == 0;
}

/* Whether a Host header names this server: one of localhost, 127.0.0.1,
 * [::1] or the bound host (any IP literal when bound to every interface),
 * with our port (or none when it is 80).  A page that rebinds its own name
 * to 127.0.0.1 sends its name here, and is refused. */
static int host_allowed(const inf__srv *s, const char *h) {
    char name[256];
    const char *port;
    if (h[0] == '[') {
        const char *end = strchr(h, ']');
        if (!end || (size_t)(end - h + 1) >= sizeof name) return 0;
        memcpy(name, h, (size_t)(end - h + 1));
        name[end - h + 1] = '\0';
        port = end + 1;
    } else {
        size_t n = strcspn(h, ":");
        if (n >= sizeof name) return 0;
        memcpy(name, h, n);
        name[n] = '\0';
        port = h + n;
    }
    if (*port == ':') {
        char *e;
        long p = strtol(port + 1, &e, 10);
        if (e == port + 1 || *e || p != s->port) return 0;
    } else if (*port || s->port != 80) {
        return 0;
    }
    if (strcasecmp(name, "localhost") == 0 || strcmp(name, "127.0.0.1") == 0 ||
        strcmp(name, "[::1]") == 0)
        return 1;
    const char *bound = s->cfg.host;
    if (bound && bound[0]) {
        size_t bl = strlen(bound);
        if (strchr(bound, ':') && bound[0] != '[') { /* a bare IPv6 address */
            if (strlen(name) == bl + 2 && name[0] == '[' && strncasecmp(name + 1, bound, bl) == 0)
                return 1;
        } else if (strcasecmp(name, bound) == 0) {
            return 1;
        }
    }
    if (is_wildcard(bound)) { /* every interface: any address literal */
        unsigned char a[16];
        if (inet_pton(AF_INET, name, a) == 1) return 1;
        size_t nl = strlen(name);
        if (nl > 2 && name[0] == '[') {
            char v6[256];
            memcpy(v6, name + 1, nl - 2);
            v6[nl - 2] = '\0';
            if (inet_pton(AF_INET6, v6, a) == 1) return 1;
        }
    }
    return 0;
}

static int origin_listed(const inf__srv *s, const char *origin) {
    for (size_t i = 0; i < s->cfg.n_cors_origins; i++)
        if (strcmp(s->cfg.cors_origins[i], "*") == 0 ||
            strcasecmp(s->cfg.cors_origins[i], origin) == 0)
            return 1;
    return 0;
}

/* A JSON body: "application/json", any parameters after ';'.  Forms and
 * text/plain are what a page elsewhere can POST without a CORS preflight. */
static int json_content_type(const char *ct) {
    if (!ct) return 0;
    while (*ct == ' ' || *ct == '\t') ct++;
    if (strncasecmp(ct, "application/json", 16) != 0) return 0;
    char next = ct[16];
    return next == '\0' || next == ';' || next == ' ' || next == '\t';
}

/* Access-Control-Request-Headers echoed when it is a plain list of header
 * names (the official clients send x-stainless-* headers), else ours. */
static const char *preflight_headers(struct MHD_Connection *c) {
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                "Access-Control-Request-Headers");
    if (!h || !h[0] || strlen(h) > 1024) return "Authorization, Content-Type";
    for (const char *p = h; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("-_, ", *p)) return "Authorization, Content-Type";
    return h;
}

static unsigned send_preflight(struct MHD_Connection *c, const char *origin) {
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"",
                                                             MHD_RESPMEM_PERSISTENT);
    if (!r) return 0;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD, POST, OPTIONS");
    if (origin) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", origin);
        MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, HEAD, POST, OPTIONS");
        MHD_add_response_header(r, "Access-Control-Allow-Headers", preflight_headers(c));
        MHD_add_response_header(r, "Access-Control-Max-Age", "600");
        MHD_add_response_header(r, "Vary", "Origin");
    }
    enum MHD_Result ok = MHD_queue_response(c, 204, r);
    MHD_destroy_response(r);
    return ok == MHD_YES ? 204 : 0;
}

/* Runs when a request's headers have arrived, before its body is read:
 * checks Host (unless an API key guards the server: a rebinding page
 * cannot send it) and Origin (the server's own page, or an origin that
 * --cors-origin allows), and answers OPTIONS.  Returns 0 to go on (with
 * cc->cors set for an allowed cross-origin request), else the status it
 * queued (or 499 when queuing failed). */
static unsigned guard(inf__srv *s, struct MHD_Connection *c, conn_ctx *cc, const char *method) {
    inf__srv_error e;
    const char *host = header(c, MHD_HTTP_HEADER_HOST);
    if (!s->cfg.api_key && host && !host_allowed(s, host)) {
        inf__srv_errorf(&e, 403, "invalid_request_error", NULL, "host_not_allowed",
                        "Host '%.100s' is not this server's address (localhost, 127.0.0.1, "
                        "[::1] or the --host it listens on, with its port); use one of those, "
                        "or --api-key", host);
        unsigned st = inf__srv_send_error(c, &e);
        return st ? st : 499;
    }
    const char *origin = header(c, "Origin");
    if (origin) {
        /* The server's own page: the origin of the address it was loaded
         * from, which the Host header names. */
        int same = host && strncasecmp(origin, "http://", 7) == 0 &&
                   strcasecmp(origin + 7, host) == 0;
        if (!same) {
            if (!origin_listed(s, origin)) {
                inf__srv_errorf(&e, 403, "invalid_request_error", NULL, "origin_not_allowed",
                                "requests from pages at '%.100s' are not allowed (the server "
                                "allows its own page; more with --cors-origin)", origin);
                unsigned st = inf__srv_send_error(c, &e);
                return st ? st : 499;
            }
            cc->cors = origin;
        }
    }
    if (strcmp(method, "OPTIONS") == 0) {
        unsigned st = send_preflight(c, cc->cors);
        return st ? st : 499;
    }
    return 0;
}

static json_t *model_object(inf__srv *s) {
    inf_model_info info;
    memset(&info, 0, sizeof info);
    inf_model_info_get(s->model, &info);
    return json_pack("{s:s, s:s, s:I, s:s, s:{s:s, s:s, s:i, s:i}}",
                     "id", s->cfg.model_id, "object", "model",
                     "created", (json_int_t)s->started_unix, "owned_by", "libinference",
                     "meta", "architecture", info.architecture,
                     "backend", info.backend,
                     "context_length", (int)info.context_length,
                     "vocab_size", (int)info.vocab_size);
}

static unsigned not_found(struct MHD_Connection *c, const char *url) {
    inf__srv_error e;
    inf__srv_errorf(&e, 404, "invalid_request_error", NULL, "not_found",
                    "no such endpoint: %s", url);
    return inf__srv_send_error(c, &e);
}

static unsigned wrong_method(struct MHD_Connection *c, const char *method,
                             const char *allow) {
    inf__srv_error e;
    inf__srv_errorf(&e, 405, "invalid_request_error", NULL, "method_not_allowed",
                    "method %s is not allowed here; use %s", method, allow);
    struct MHD_Response *r;
    json_t *o = inf__srv_error_json(&e);
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!body) return 0;
    r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return 0;
    }
    inf__srv_common_headers(r, "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result ok = MHD_queue_response(c, 405, r);
    MHD_destroy_response(r);
    return ok == MHD_YES ? 405 : 0;
}

static inf__srv_endpoint classify(const char *url) {
    if (strcmp(url, "/v1/chat/completions") == 0) return INF__EP_CHAT;
    if (strcmp(url, "/v1/completions") == 0) return INF__EP_COMPLETIONS;
    if (strcmp(url, "/v1/models") == 0 || strncmp(url, "/v1/models/", 11) == 0)
        return INF__EP_MODELS;
    if (strcmp(url, "/health") == 0) return INF__EP_HEALTH;
    if (strcmp(url, "/metrics") == 0) return INF__EP_METRICS;
    if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0) return INF__EP_WEB;
    if (strcmp(url, "/tokenize") == 0) return INF__EP_TOKENIZE;
    if (strcmp(url, "/detokenize") == 0) return INF__EP_DETOKENIZE;
    return INF__EP_OTHER;
}

/* Answers a complete request; returns the status queued (0: none). */
static unsigned dispatch(inf__srv *s, struct MHD_Connection *c, conn_ctx *cc,
                         const char *url, const char *method) {
    int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    int post = strcmp(method, "POST") == 0;
    inf__srv_error e;
    /* The key guards everything that uses the model (llama.cpp's server
     * guards /tokenize and /detokenize too). */
    int guarded = strncmp(url, "/v1/", 4) == 0 || cc->ep == INF__EP_TOKENIZE ||
                  cc->ep == INF__EP_DETOKENIZE;
    if (guarded && !authorised(s, c)) {
        inf__srv_errorf(&e, 401, "invalid_request_error", NULL, "invalid_api_key",
                        "missing or incorrect API key: send 'Authorization: Bearer <key>'");
        return inf__srv_send_error(c, &e);
    }
    switch (cc->ep) {
    case INF__EP_CHAT:
    case INF__EP_COMPLETIONS:
    case INF__EP_TOKENIZE:
    case INF__EP_DETOKENIZE: {
        if (!post) return wrong_method(c, method, "POST");
        if (cc->too_big) {
            inf__srv_errorf(&e, 413, "invalid_request_error", NULL, "request_too_large",
                            "the request body exceeds %zu bytes", s->cfg.max_body);
            return inf__srv_send_error(c, &e);
        }
        const char *ct = header(c, MHD_HTTP_HEADER_CONTENT_TYPE);
        if (!json_content_type(ct)) {
            inf__srv_errorf(&e, 415, "invalid_request_error", NULL, "unsupported_media_type",
                            "the body must be JSON sent as 'Content-Type: application/json' "
                            "(got %s%.100s%s)", ct ? "'" : "", ct ? ct : "none", ct ? "'" : "");
            return inf__srv_send_error(c, &e);
        }
        if (cc->ep == INF__EP_TOKENIZE || cc->ep == INF__EP_DETOKENIZE)
            return inf__srv_tokenize(s, c, cc->body ? cc->body : "", cc->len,
                                     cc->ep == INF__EP_DETOKENIZE);
        return inf__srv_generate(s, c, cc->body ? cc->body : "", cc->len,
                                 cc->ep == INF__EP_CHAT);
    }
    case INF__EP_MODELS:
        if (!get) return wrong_method(c, method, "GET");
        if (url[10] == '/') {
            if (strcmp(url + 11, s->cfg.model_id) != 0) {
                inf__srv_errorf(&e, 404, "invalid_request_error", "model", "model_not_found",
                                "The model '%s' does not exist", url + 11);
                return inf__srv_send_error(c, &e);
            }
            return inf__srv_send_json(c, 200, model_object(s));
        }
        return inf__srv_send_json(c, 200, json_pack("{s:s, s:[o]}", "object", "list",
                                                    "data", model_object(s)));
    case INF__EP_HEALTH: {
        if (!get) return wrong_method(c, method, "GET");
        int busy, waiting;
        inf__admit_stats(&s->gate, &busy, &waiting);
        return inf__srv_send_json(c, 200, json_pack("{s:s, s:s, s:i, s:i, s:i}",
                                                    "status", "ok", "model", s->cfg.model_id,
                                                    "slots_busy", busy, "slots_total",
                                                    s->cfg.parallel, "queue_depth", waiting));
    }
    case INF__EP_METRICS: {
        if (!get) return wrong_method(c, method, "GET");
        int busy, waiting;
        inf__admit_stats(&s->gate, &busy, &waiting);
        inf_metrics km;
        int have_km = inf_model_metrics(s->model, &km) == INF_OK;
        char *text = inf__metrics_render(&s->metrics, busy, s->cfg.parallel, waiting,
                                         s->cfg.queue, have_km ? &km : NULL);
        if (!text) return 0;
        unsigned st = inf__srv_send_bytes(c, 200, "text/plain; version=0.0.4; charset=utf-8",
                                          text, strlen(text));
        free(text);
        return st;
    }
    case INF__EP_WEB:
        if (!get) return wrong_method(c, method, "GET");
        return inf__srv_send_bytes(c, 200, "text/html; charset=utf-8", inf__srv_web_index,
                                   inf__srv_web_index_len);
    default:
        return not_found(c, url);
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
    (void)version;
    inf__srv *s = cls;
    conn_ctx *cc = *con_cls;
    if (!cc) {
        cc = calloc(1, sizeof *cc);
        if (!cc) return MHD_NO;
        cc->ep = classify(url);
        *con_cls = cc;
        /* The header is complete: the body's deadline starts now. */
        inf__conns_phase(&s->conns, c, INF__CONN_BODY);
        /* Host, Origin and preflights are settled before any body is read. */
        unsigned gst = guard(s, c, cc, method);
        if (gst) {
            /* Still in BODY: a body that follows is read and discarded
             * within the body deadline. */
            cc->answered = 1;
            cc->too_big = 1; /* a body that follows is discarded */
            inf__metrics_request(&s->metrics, cc->ep, gst);
            return gst != 499 ? MHD_YES : MHD_NO;
        }
        /* A declared oversized body is refused before it is read. */
        const char *cl = header(c, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > s->cfg.max_body) {
            /* Answer at once (MHD then closes the connection) rather than
             * reading a body that will be refused anyway. */
            cc->too_big = 1;
            cc->answered = 1;
            inf__srv_cors_set(cc->cors);
            unsigned st = dispatch(s, c, cc, url, method);
            inf__srv_cors_set(NULL);
            inf__metrics_request(&s->metrics, cc->ep, st ? st : 499);
            return st ? MHD_YES : MHD_NO;
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (cc->too_big) {
            /* The body of a request already answered (Host or Origin
             * refused): MHD discards it, within the body deadline. */
            *upload_size = 0;
            return MHD_YES;
        }
        if (cc->len + *upload_size > s->cfg.max_body) {
            /* A body without a length (chunked) that grows past the limit:
             * close the connection now instead of reading and discarding
             * the rest for as long as the client sends it.  (MHD cannot
             * queue a response in the middle of a body.) */
            cc->too_big = 1;
            cc->answered = 1;
            free(cc->body);
            cc->body = NULL;
            cc->len = cc->cap = 0;
            inf__metrics_request(&s->metrics, cc->ep, 413);
            return MHD_NO;
        }
        {
            if (cc->len + *upload_size + 1 > cc->cap) {
                size_t cap = (cc->len + *upload_size + 1) * 2;
                if (cap > s->cfg.max_body + 1) cap = s->cfg.max_body + 1;
                char *p = realloc(cc->body, cap);
                if (!p) return MHD_NO;
                cc->body = p;
                cc->cap = cap;
            }
            memcpy(cc->body + cc->len, upload, *upload_size);
            cc->len += *upload_size;
            cc->body[cc->len] = '\0';
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (cc->answered) return MHD_YES;
    cc->answered = 1;
    /* The request is complete: answering it (queue wait, generation,
     * streaming) has no deadline from the watch. */
    inf__conns_phase(&s->conns, c, INF__CONN_RESPONSE);
    inf__srv_cors_set(cc->cors); /* CORS headers on whatever dispatch sends */
    unsigned st = dispatch(s, c, cc, url, method);
    inf__srv_cors_set(NULL);
    inf__metrics_request(&s->metrics, cc->ep, st ? st : 499);
    return st ? MHD_YES : MHD_NO;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    inf__srv *s = cls;
    (void)toe;
    /* A kept-alive connection now waits for its next request's header. */
    inf__conns_phase(&s->conns, c, INF__CONN_HEADER);
    conn_ctx *cc = *con_cls;
    if (cc) {
        free(cc->body);
        free(cc);
        *con_cls = NULL;
    }
}

int inf__srv_start(inf_model *model, const inf__srv_config *cfg, inf__srv **out,
                   char *err, size_t err_size) {
    *out = NULL;
    const char *bad_key = inf__srv_api_key_problem(cfg->api_key);
    if (bad_key) {
        /* An empty key must never mean "no authentication". */
        snprintf(err, err_size, "%s", bad_key);
        return INF_E_INVALID_ARGUMENT;
    }
    for (size_t i = 0; i < cfg->n_cors_origins; i++) {
        const char *why = inf__srv_cors_origin_problem(cfg->cors_origins[i]);
        if (why) {
            snprintf(err, err_size, "CORS origin '%s': %s", cfg->cors_origins[i], why);
            return INF_E_INVALID_ARGUMENT;
        }
    }
    if (cfg->max_connections < 1 || cfg->max_connections_per_address < 1 ||
        cfg->header_timeout_ms < 1 || cfg->body_timeout_ms < 1) {
        snprintf(err, err_size, "connection limits and header/body timeouts must be positive");
        return INF_E_INVALID_ARGUMENT;
    }
    inf__srv *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_size, "out of memory");
        return INF_E_NOMEM;
    }
    s->cfg = *cfg;
    s->model = model;
    s->started_unix = (int64_t)time(NULL);
    if (inf__admit_init(&s->gate, cfg->parallel, cfg->queue) != 0) {
        free(s);
        snprintf(err, err_size, "cannot create the admission gate");
        return INF_E_INTERNAL;
    }
    if (inf__metrics_init(&s->metrics) != 0 || pthread_mutex_init(&s->live_mu, NULL) != 0) {
        inf__admit_destroy(&s->gate);
        free(s);
        snprintf(err, err_size, "cannot create the metrics lock");
        return INF_E_INTERNAL;
    }
    if (inf__conns_start(&s->conns, cfg->header_timeout_ms, cfg->body_timeout_ms) != 0) {
        snprintf(err, err_size, "cannot start the connection watch thread");
        inf__srv_stop(s);
        return INF_E_INTERNAL;
    }
    /* Resolve the host: numeric addresses and names (e.g. "localhost"). */
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    char port[16];
    snprintf(port, sizeof port, "%d", cfg->port);
    int gai = getaddrinfo(cfg->host, port, &hints, &ai);
    if (gai != 0 || !ai) {
        snprintf(err, err_size, "cannot resolve host '%s': %s", cfg->host, gai_strerror(gai));
        inf__srv_stop(s);
        return INF_E_INVALID_ARGUMENT;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ITC;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    /* Slowloris: a client address holds at most max_connections_per_address
     * connections (MHD closes further ones at once), and the watch cuts a
     * connection that has not sent its header or body in time.  The idle
     * timeout still covers a reader that stops reading a response. */
    s->daemon = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, on_request, s,
        MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, inf__conns_notify, &s->conns,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->max_connections_per_address,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
        MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!s->daemon) {
        snprintf(err, err_size, "cannot listen on %s:%d (address in use or not allowed)",
                 cfg->host, cfg->port);
        inf__srv_stop(s);
        return INF_E_IO;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : cfg->port;
    *out = s;
    return INF_OK;
}

int inf__srv_port(const inf__srv *s) { return s ? s->port : 0; }

void inf__srv_stop(inf__srv *s) {
    if (!s) return;
    if (s->daemon) {
        /* Stop accepting, turn the queue away, cancel what runs; then
         * MHD_stop_daemon joins the connection threads, which end quickly
         * because every stream is cancelled. */
        MHD_socket ls = MHD_quiesce_daemon(s->daemon);
        if (ls != MHD_INVALID_SOCKET) close(ls);
        inf__admit_close(&s->gate);
        inf__srv_cancel_all(s);
        MHD_stop_daemon(s->daemon);
    }
    inf__conns_stop(&s->conns);
    pthread_mutex_destroy(&s->live_mu);
    inf__metrics_destroy(&s->metrics);
    inf__admit_destroy(&s->gate);
    free(s);
}
