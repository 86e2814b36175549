/* POST /v1/chat/completions and /v1/completions: admission, generation,
 * and the two response shapes (one JSON object, or server-sent events).
 *
 * Streaming: the handler pulls the first token before answering, so that
 * errors the engine reports at prefill (a prompt longer than the context)
 * still get a 4xx status; after that a libmicrohttpd content-reader
 * callback pulls one token per call and writes one SSE event.  When the
 * client goes away, MHD frees the response, and the free callback cancels
 * the stream and gives the slot back. */
#include <microhttpd.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/cliutil.h"
#include "server/logprobs.h"
#include "server/request.h"
#include "server/respond.h"
#include "server/server.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* 1 when the peer has closed (or reset) the connection.  POLLRDHUP also
 * fires for a client that only shut down its sending side, which HTTP
 * clients do not do while awaiting a response. */
static int fd_gone(int fd) {
    if (fd < 0) return 0;
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    if (poll(&p, 1, 0) <= 0) return 0;
    return (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

static int gone_cb(void *user) { return fd_gone(*(int *)user); }

/* A JSON string from text[n], repairing invalid UTF-8. */
static json_t *text_json(const char *text, size_t n) {
    json_t *v = cli_json_string(text, n);
    return v ? v : json_string("");
}

/* The engine's status as an HTTP error. */
static void status_error(inf__srv_error *e, int st, const char *msg, int chat) {
    switch (st) {
    case INF_E_CONTEXT_LENGTH:
        inf__srv_errorf(e, 400, "invalid_request_error", chat ? "messages" : "prompt",
                        "context_length_exceeded", "%s", msg);
        break;
    case INF_E_INVALID_ARGUMENT: case INF_E_TOKENIZER: case INF_E_TEMPLATE:
    case INF_E_LIMIT: case INF_E_UNSUPPORTED:
        inf__srv_errorf(e, 400, "invalid_request_error", NULL, inf_status_name(st),
                        "%s", msg);
        break;
    case INF_E_BUSY: case INF_E_CANCELLED: case INF_E_DEADLINE:
        inf__srv_errorf(e, 503, "server_error", NULL, "server_overloaded", "%s", msg);
        break;
    default:
        inf__srv_errorf(e, 500, "server_error", NULL, inf_status_name(st), "%s", msg);
    }
}

/* One generation in flight. */
typedef struct inf__srv_gen gen;
struct inf__srv_gen {
    gen *prev, *next;   /* in srv->live while the stream is open */
    int linked;
    inf__srv *srv;
    inf__srv_request req;
    inf_stream *stream;
    int fd;
    int slot_held;
    int ended;          /* the stream reached its end (or error) */
    int status;         /* INF_OK or the stream's error */
    char id[48];
    int64_t created;
    double t_request, t_first;
    /* streaming */
    int phase;
    char *first_text;   /* the token pulled before the headers, or NULL */
    size_t first_len;
    int first_pending;
    char *out;          /* bytes of the current event not yet written */
    size_t out_len, out_off;
    /* logprobs */
    struct inf__srv_lp *first_lp; /* of the token pulled before the headers */
    json_t *lp;         /* non-streaming: the entries gathered so far */
    size_t text_off;    /* bytes of completion text so far (text_offset) */
};

/* Records a token's logprobs into obj (an inf__srv_lp_new object). */
static void lp_add(gen *g, json_t *obj, const inf__srv_lp *o, const char *text, size_t n) {
    inf__srv_lp_add(obj, g->req.chat, g->srv->cfg.tokenizer, o, text, n, &g->text_off);
}

enum { PH_ROLE, PH_TOKENS, PH_USAGE, PH_DONE, PH_END };

static void make_id(char *buf, size_t n, int chat) {
    static atomic_uint_fast64_t counter;
    uint64_t c = atomic_fetch_add(&counter, 1);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)ts.tv_nsec ^
                 ((uint64_t)getpid() << 40) ^ (c * 0x9e3779b97f4a7c15ull);
    snprintf(buf, n, "%s-%016llx%04llx", chat ? "chatcmpl" : "cmpl",
             (unsigned long long)x, (unsigned long long)(c & 0xffff));
}

static void live_unlink(gen *g) {
    inf__srv *s = g->srv;
    pthread_mutex_lock(&s->live_mu);
    if (g->linked) {
        if (g->prev) g->prev->next = g->next; else s->live = g->next;
        if (g->next) g->next->prev = g->prev;
        g->linked = 0;
    }
    pthread_mutex_unlock(&s->live_mu);
}

/* Links g into the live list; 0, or -1 when the server is stopping. */
static int live_link(gen *g) {
    inf__srv *s = g->srv;
    pthread_mutex_lock(&s->live_mu);
    int ok = !s->stopping;
    if (ok) {
        g->prev = NULL;
        g->next = s->live;
        if (s->live) s->live->prev = g;
        s->live = g;
        g->linked = 1;
    }
    pthread_mutex_unlock(&s->live_mu);
    return ok ? 0 : -1;
}

void inf__srv_cancel_all(inf__srv *s) {
    pthread_mutex_lock(&s->live_mu);
    s->stopping = 1;
    for (gen *g = s->live; g; g = g->next)
        if (g->stream) inf_stream_cancel(g->stream);
    pthread_mutex_unlock(&s->live_mu);
}

/* Ends the generation's bookkeeping once: metrics, slot, stream. */
static void gen_finish(gen *g, int cancelled) {
    live_unlink(g);
    if (g->stream) {
        inf_metrics m = {0};
        inf_stream_metrics(g->stream, &m);
        if (!g->ended) inf_stream_cancel(g->stream);
        inf_stream_close(&g->stream);
        inf__metrics_generation(&g->srv->metrics, (uint64_t)m.prompt_tokens,
                                now_s() - g->t_request,
                                g->t_first > 0 ? g->t_first - g->t_request : -1,
                                cancelled);
    }
    if (g->slot_held) {
        inf__admit_release(&g->srv->gate);
        g->slot_held = 0;
    }
}

static void gen_free(gen *g) {
    if (!g) return;
    gen_finish(g, !g->ended);
    inf__srv_request_free(&g->req);
    free(g->first_text);
    free(g->first_lp);
    json_decref(g->lp);
    free(g->out);
    free(g);
}

static json_t *usage_json(gen *g) {
    inf_metrics m = {0};
    if (g->stream) inf_stream_metrics(g->stream, &m);
    return json_pack("{s:I, s:I, s:I}", "prompt_tokens", (json_int_t)m.prompt_tokens,
                     "completion_tokens", (json_int_t)m.generated_tokens,
                     "total_tokens", (json_int_t)(m.prompt_tokens + m.generated_tokens));
}

/* The envelope shared by chunks and whole responses. */
static json_t *envelope(gen *g, const char *object) {
    return json_pack("{s:s, s:s, s:I, s:s}", "id", g->id, "object", object,
                     "created", (json_int_t)g->created, "model",
                     g->srv->cfg.model_id ? g->srv->cfg.model_id : "");
}

/* A stream chunk with one choice: delta text (or role) and finish reason. */
static json_t *chunk(gen *g, const char *text, size_t n, const char *role,
                     const char *finish) {
    int chat = g->req.chat;
    json_t *o = envelope(g, chat ? "chat.completion.chunk" : "text_completion");
    json_t *choice = json_pack("{s:i}", "index", 0);
    if (chat) {
        json_t *delta = json_object();
        if (role) json_object_set_new(delta, "role", json_string(role));
        if (text) json_object_set_new(delta, "content", text_json(text, n));
        json_object_set_new(choice, "delta", delta);
    } else {
        json_object_set_new(choice, "text", text ? text_json(text, n) : json_string(""));
    }
    json_object_set_new(choice, "logprobs", json_null());
    json_object_set_new(choice, "finish_reason", finish ? json_string(finish) : json_null());
    json_object_set_new(o, "choices", json_pack("[o]", choice));
    return o;
}

/* A chunk for one token's text, with its logprobs when asked for. */
static json_t *token_chunk(gen *g, const char *text, size_t n, const inf__srv_lp *o) {
    json_t *c = chunk(g, text, n, NULL, NULL);
    if (o && c) {
        json_t *lp = inf__srv_lp_new(g->req.chat);
        lp_add(g, lp, o, text, n);
        json_object_set_new(json_array_get(json_object_get(c, "choices"), 0), "logprobs", lp);
    }
    return c;
}

/* Sets g->out to "data: <json>\n\n" (steals obj). 0 ok, -1 out of memory. */
static int emit_json(gen *g, json_t *obj) {
    char *s = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (!s) return -1;
    size_t n = strlen(s);
    char *o = malloc(n + 9);
    if (!o) {
        free(s);
        return -1;
    }
    memcpy(o, "data: ", 6);
    memcpy(o + 6, s, n);
    memcpy(o + 6 + n, "\n\n", 3);
    free(s);
    free(g->out);
    g->out = o;
    g->out_len = n + 8;
    g->out_off = 0;
    return 0;
}

static int emit_raw(gen *g, const char *s) {
    free(g->out);
    g->out = strdup(s);
    if (!g->out) return -1;
    g->out_len = strlen(s);
    g->out_off = 0;
    return 0;
}

/* Produces the next SSE event into g->out.  Returns 0, 1 at the end of the
 * response, -1 to abort the connection. */
static int next_event(gen *g) {
    switch (g->phase) {
    case PH_ROLE:
        g->phase = PH_TOKENS;
        return emit_json(g, chunk(g, NULL, 0, "assistant", NULL));
    case PH_TOKENS:
        for (;;) {
            if (g->first_pending) {
                g->first_pending = 0;
                if (g->first_text && (g->first_len || g->first_lp))
                    return emit_json(g, token_chunk(g, g->first_text, g->first_len,
                                                    g->first_lp));
                if (!g->ended) continue;
            }
            if (!g->ended) {
                if (fd_gone(g->fd)) return -1;
                inf_token t;
                int rc = inf_stream_next(g->stream, &t);
                if (rc == 1) {
                    inf__metrics_tokens(&g->srv->metrics, 1);
                    if (g->req.logprobs) {
                        inf__srv_lp o;
                        inf__srv_lp_compute(&t, g->req.top_logprobs, &o);
                        return emit_json(g, token_chunk(g, t.text, t.text_len, &o));
                    }
                    if (t.text_len == 0) continue; /* held-back bytes */
                    return emit_json(g, token_chunk(g, t.text, t.text_len, NULL));
                }
                g->ended = 1;
                g->status = rc < 0 ? rc : inf_stream_err(g->stream);
            }
            if (g->status != INF_OK) {
                inf__srv_error e;
                status_error(&e, g->status, inf_stream_errmsg(g->stream), g->req.chat);
                g->phase = PH_DONE;
                return emit_json(g, inf__srv_error_json(&e));
            }
            g->phase = g->req.include_usage ? PH_USAGE : PH_DONE;
            const char *fin = inf_finish_reason_openai(inf_stream_finish_reason(g->stream));
            return emit_json(g, chunk(g, g->req.chat ? NULL : "", 0, NULL,
                                      fin ? fin : "stop"));
        }
    case PH_USAGE: {
        g->phase = PH_DONE;
        json_t *o = envelope(g, g->req.chat ? "chat.completion.chunk" : "text_completion");
        json_object_set_new(o, "choices", json_array());
        json_object_set_new(o, "usage", usage_json(g));
        return emit_json(g, o);
    }
    case PH_DONE:
        g->phase = PH_END;
        /* The generation is over: give the slot back before the last
         * bytes are flushed to a possibly slow client. */
        gen_finish(g, 0);
        return emit_raw(g, "data: [DONE]\n\n");
    default:
        return 1;
    }
}

static ssize_t sse_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    gen *g = cls;
    while (g->out_off >= g->out_len) {
        int rc = next_event(g);
        if (rc == 1) return MHD_CONTENT_READER_END_OF_STREAM;
        if (rc < 0) return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = g->out_len - g->out_off;
    if (n > max) n = max;
    memcpy(buf, g->out + g->out_off, n);
    g->out_off += n;
    return (ssize_t)n;
}

static void sse_free(void *cls) { gen_free(cls); }

/* Non-streaming: pull everything, then one JSON response. */
static unsigned respond_whole(gen *g, struct MHD_Connection *conn) {
    size_t cap = 256, len = 0;
    char *text = malloc(cap);
    if (!text) return 0;
    if (g->req.logprobs) {
        g->lp = inf__srv_lp_new(g->req.chat);
        if (g->first_lp) lp_add(g, g->lp, g->first_lp, g->first_text, g->first_len);
    }
    if (g->first_text) {
        if (g->first_len + 1 > cap) {
            cap = g->first_len + 256;
            char *t = realloc(text, cap);
            if (!t) { free(text); return 0; }
            text = t;
        }
        memcpy(text, g->first_text, g->first_len);
        len = g->first_len;
    }
    while (!g->ended) {
        if (fd_gone(g->fd)) {
            free(text);
            return 0; /* the caller frees g, which cancels the stream */
        }
        inf_token t;
        int rc = inf_stream_next(g->stream, &t);
        if (rc != 1) {
            g->ended = 1;
            g->status = rc < 0 ? rc : inf_stream_err(g->stream);
            break;
        }
        inf__metrics_tokens(&g->srv->metrics, 1);
        if (g->lp) {
            inf__srv_lp o;
            inf__srv_lp_compute(&t, g->req.top_logprobs, &o);
            lp_add(g, g->lp, &o, t.text, t.text_len);
        }
        if (len + t.text_len + 1 > cap) {
            cap = (len + t.text_len + 1) * 2;
            char *p = realloc(text, cap);
            if (!p) { free(text); return 0; }
            text = p;
        }
        memcpy(text + len, t.text, t.text_len);
        len += t.text_len;
    }
    if (g->status != INF_OK) {
        free(text);
        inf__srv_error e;
        status_error(&e, g->status, inf_stream_errmsg(g->stream), g->req.chat);
        return inf__srv_send_error(conn, &e);
    }
    const char *fin = inf_finish_reason_openai(inf_stream_finish_reason(g->stream));
    json_t *o = envelope(g, g->req.chat ? "chat.completion" : "text_completion");
    json_t *choice = json_pack("{s:i}", "index", 0);
    if (g->req.chat)
        json_object_set_new(choice, "message",
                            json_pack("{s:s, s:o}", "role", "assistant",
                                      "content", text_json(text, len)));
    else
        json_object_set_new(choice, "text", text_json(text, len));
    free(text);
    json_object_set_new(choice, "logprobs", g->lp ? json_incref(g->lp) : json_null());
    json_object_set_new(choice, "finish_reason", json_string(fin ? fin : "stop"));
    json_object_set_new(o, "choices", json_pack("[o]", choice));
    json_object_set_new(o, "usage", usage_json(g));
    return inf__srv_send_json(conn, 200, o);
}

unsigned inf__srv_generate(inf__srv *s, struct MHD_Connection *conn,
                           const char *body, size_t len, int chat) {
    inf__srv_error e;
    gen *g = calloc(1, sizeof *g);
    if (!g) return 0;
    g->srv = s;
    g->t_request = now_s();
    g->created = (int64_t)time(NULL);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    g->fd = ci ? ci->connect_fd : -1;
    make_id(g->id, sizeof g->id, chat);
    if (inf__srv_request_parse(body, len, chat, &s->cfg, &g->req, &e)) {
        free(g);
        return inf__srv_send_error(conn, &e);
    }
    unsigned st = 0;
    switch (inf__admit_acquire(&s->gate, s->cfg.queue_timeout_ms, gone_cb, &g->fd)) {
    case INF__ADMIT_OK:
        g->slot_held = 1;
        break;
    case INF__ADMIT_FULL:
        inf__metrics_rejected(&s->metrics);
        inf__srv_errorf(&e, 503, "server_error", NULL, "server_overloaded",
                        "the server is busy: %d generations running and %d waiting; retry later",
                        s->cfg.parallel, s->cfg.queue);
        st = inf__srv_send_error(conn, &e);
        goto out;
    case INF__ADMIT_TIMEOUT:
        inf__srv_errorf(&e, 503, "server_error", NULL, "server_overloaded",
                        "no generation slot became free within %lld ms; retry later",
                        (long long)s->cfg.queue_timeout_ms);
        st = inf__srv_send_error(conn, &e);
        goto out;
    case INF__ADMIT_CLOSED:
        inf__srv_errorf(&e, 503, "server_error", NULL, "server_shutting_down",
                        "the server is shutting down");
        st = inf__srv_send_error(conn, &e);
        goto out;
    case INF__ADMIT_ABANDONED:
        goto out; /* nobody to answer */
    }

    int rc = chat ? inf_chat(s->model, g->req.msgs, g->req.n_msgs, &g->req.opts, &g->stream)
                  : inf_generate(s->model, g->req.prompt, &g->req.opts, &g->stream);
    int stopping = 0;
    if (rc == INF_OK && live_link(g) != 0) {
        inf_stream_close(&g->stream);
        rc = INF_E_CANCELLED;
        stopping = 1;
    }
    if (rc != INF_OK) {
        /* The model keeps the message of this thread's failed call. */
        char msg[512];
        snprintf(msg, sizeof msg, "%s",
                 stopping ? "the server is shutting down" : inf_model_errmsg(s->model));
        if (!msg[0]) snprintf(msg, sizeof msg, "%s", inf_strerror(rc));
        g->stream = NULL;
        status_error(&e, rc, msg, chat);
        st = inf__srv_send_error(conn, &e);
        goto out;
    }
    /* Pull the first token before answering (see the file comment). */
    inf_token t;
    rc = inf_stream_next(g->stream, &t);
    g->t_first = now_s();
    if (rc == 1) {
        inf__metrics_tokens(&s->metrics, 1);
        g->first_text = malloc(t.text_len + 1);
        if (!g->first_text) goto out;
        memcpy(g->first_text, t.text, t.text_len);
        g->first_text[t.text_len] = '\0';
        g->first_len = t.text_len;
        if (g->req.logprobs) {
            g->first_lp = malloc(sizeof *g->first_lp);
            if (!g->first_lp) goto out;
            inf__srv_lp_compute(&t, g->req.top_logprobs, g->first_lp);
        }
    } else {
        g->ended = 1;
        g->status = rc < 0 ? rc : inf_stream_err(g->stream);
        if (g->status != INF_OK) {
            status_error(&e, g->status, inf_stream_errmsg(g->stream), chat);
            st = inf__srv_send_error(conn, &e);
            goto out;
        }
    }
    g->first_pending = 1;

    if (!g->req.stream) {
        st = respond_whole(g, conn);
        goto out;
    }
    g->phase = chat ? PH_ROLE : PH_TOKENS;
    struct MHD_Response *r = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, 16384, sse_reader, g, sse_free);
    if (!r) goto out;
    inf__srv_common_headers(r, "text/event-stream");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    /* From here the response owns g (sse_free releases it). */
    st = MHD_queue_response(conn, 200, r) == MHD_YES ? 200 : 0;
    MHD_destroy_response(r);
    return st;
out:
    gen_free(g);
    return st;
}
