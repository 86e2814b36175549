/* POST /v1/chat/completions and /v1/completions: admission, generation,
 * and the two response shapes (one JSON object, or server-sent events).
 *
 * Streaming: the handler pulls the first token before answering, so that
 * errors the engine reports at prefill (a prompt longer than the context)
 * still get a 4xx status; after that a libmicrohttpd content-reader
 * callback pulls one token per call and writes one SSE event.  When the
 * client goes away, MHD frees the response, and the free callback cancels
 * the stream and gives the slot back.
 *
 * n > 1: one `gen` per choice, each with its own stream; choice 0 (the
 * lead) owns the request, the connection's output and the n admission
 * slots, the others borrow its request.  The n streams are submitted
 * together, so the engine batches them (and its prefix cache can share
 * their prompt).  Streaming takes one token from each unfinished choice in
 * turn; every chunk carries its choice's index. */
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
#include "server/toolcall.h"
#include "server/tokenize.h"

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

/* One generation (one choice) in flight. */
typedef struct inf__srv_gen gen;
struct inf__srv_gen {
    gen *prev, *next;   /* in srv->live while the stream is open */
    int linked;
    inf__srv *srv;
    inf__srv_request req; /* choices other than the lead: a shallow copy of
                             the lead's (borrowed; only opts.seed differs) */
    inf_stream *stream;
    int fd;
    int slot_held;      /* admission slots held (the lead: n) */
    gen *lead;          /* choice 0; itself for the lead */
    gen **choices;      /* the lead: [n_choices], choices[0] == lead */
    int n_choices;
    int index;          /* this choice's index */
    int rr;             /* the lead, streaming: the next choice to serve */
    int role_sent;      /* the lead, streaming chat: role chunks sent */
    int fin_sent;       /* streaming: this choice's last chunk went out */
    char *echo;         /* completions echo: the prompt text not yet sent */
    size_t echo_len;
    json_t *echo_lp;    /* and its tokens' logprobs, or NULL */
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
    int32_t first_id;   /* the id of the token pulled before the headers */
    /* tool calls (chat with tools offered): the reply so far, with the
     * special tokens the parser needs put back; content is sent up to
     * tc_sent, the rest is held (toolcall.h) */
    char *tc_text;
    size_t tc_len, tc_cap, tc_sent;
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

/* Ends the generation's bookkeeping once: metrics, slot, stream; the
 * lead's ends every choice's. */
static void gen_finish(gen *g, int cancelled) {
    for (int i = 1; g->choices && i < g->n_choices; i++)
        if (g->choices[i]) gen_finish(g->choices[i], cancelled);
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
        inf__admit_release_n(&g->srv->gate, g->slot_held);
        g->slot_held = 0;
    }
}

static void gen_free(gen *g) {
    if (!g) return;
    gen_finish(g, !g->ended);
    for (int i = 1; g->choices && i < g->n_choices; i++) gen_free(g->choices[i]);
    free(g->choices);
    if (g->lead == g || !g->lead) inf__srv_request_free(&g->req);
    free(g->echo);
    json_decref(g->echo_lp);
    free(g->first_text);
    free(g->first_lp);
    free(g->tc_text);
    json_decref(g->lp);
    free(g->out);
    free(g);
}

/* Prompt tokens that the engine did not have to compute for a stream:
 * served from its prefix cache (0 with the cache off, or a backend
 * without one). */
static int64_t cached_tokens(const inf_metrics *m) {
    return m->cached_prompt_tokens;
}

/* OpenAI's usage: the prompt counted once (choice 0's), the completion
 * tokens of every choice. */
static json_t *usage_json(gen *g) {
    inf_metrics m = {0};
    int64_t completion = 0;
    for (int i = 0; i < g->n_choices; i++) {
        gen *c = g->choices[i];
        inf_metrics cm = {0};
        if (c->stream) inf_stream_metrics(c->stream, &cm);
        if (i == 0) m = cm;
        completion += cm.generated_tokens;
    }
    return json_pack("{s:I, s:I, s:I, s:{s:I}}", "prompt_tokens", (json_int_t)m.prompt_tokens,
                     "completion_tokens", (json_int_t)completion,
                     "total_tokens", (json_int_t)(m.prompt_tokens + completion),
                     "prompt_tokens_details", "cached_tokens",
                     (json_int_t)cached_tokens(&m));
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
    json_t *choice = json_pack("{s:i}", "index", g->index);
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

/* A chunk for one token's text, with its logprobs when asked for.  The
 * first chunk of an echoing choice leads with the prompt (and its
 * tokens' logprobs). */
static json_t *token_chunk(gen *g, const char *text, size_t n, const inf__srv_lp *o) {
    json_t *c;
    if (g->echo) {
        char *both = malloc(g->echo_len + n + 1);
        if (!both) return NULL;
        memcpy(both, g->echo, g->echo_len);
        if (n) memcpy(both + g->echo_len, text, n);
        c = chunk(g, both, g->echo_len + n, NULL, NULL);
        free(both);
        free(g->echo);
        g->echo = NULL;
    } else {
        c = chunk(g, text, n, NULL, NULL);
    }
    if ((o || g->echo_lp) && c) {
        json_t *lp = g->echo_lp ? g->echo_lp : inf__srv_lp_new(g->req.chat);
        g->echo_lp = NULL;
        if (o) lp_add(g, lp, o, text, n);
        json_object_set_new(json_array_get(json_object_get(c, "choices"), 0), "logprobs", lp);
    }
    return c;
}

/* Sets the response's output (the lead's g->out) to "data: <json>\n\n"
 * (steals obj). 0 ok, -1 out of memory. */
static int emit_json(gen *g, json_t *obj) {
    g = g->lead;
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
    g = g->lead;
    free(g->out);
    g->out = strdup(s);
    if (!g->out) return -1;
    g->out_len = strlen(s);
    g->out_off = 0;
    return 0;
}

/* ---- tool calls (toolcall.h, structured.h) ---- */

/* Appends a token's text to the reply kept for the tool-call parser,
 * preceded by the text of a special token the parser needs.  0, or -1
 * when out of memory. */
static int tc_add(gen *g, int32_t id, const char *text, size_t n) {
    const char *mark = inf__srv_marker_text(inf_model_tokenizer(g->srv->model), id);
    size_t ml = mark ? strlen(mark) : 0;
    if (g->tc_len + ml + n + 1 > g->tc_cap) {
        size_t cap = (g->tc_len + ml + n + 1) * 2 + 64;
        char *p = realloc(g->tc_text, cap);
        if (!p) return -1;
        g->tc_text = p;
        g->tc_cap = cap;
    }
    if (ml) memcpy(g->tc_text + g->tc_len, mark, ml);
    memcpy(g->tc_text + g->tc_len + ml, text, n);
    g->tc_len += ml + n;
    g->tc_text[g->tc_len] = '\0';
    return 0;
}

/* Parses the whole reply (the forced prefix first).  Returns the number of
 * calls with *calls and *content set (see inf__tc_parse), 0 when the reply
 * is text. */
static int tc_parse(gen *g, const char *reply, size_t n, json_t **calls, char **content) {
    const inf__srv_structured *st = &g->req.st;
    size_t pl = st->prefix ? strlen(st->prefix) : 0;
    char *all = malloc(pl + n + 1);
    *calls = NULL;
    *content = NULL;
    if (!all) return 0;
    if (pl) memcpy(all, st->prefix, pl);
    if (n) memcpy(all + pl, reply, n);
    all[pl + n] = '\0';
    int k = inf__tc_parse(st->format, all, pl + n, st->tools, calls, content);
    free(all);
    return k > 0 ? k : 0;
}

/* The OpenAI tool_calls array for parsed calls (ids made here). */
static json_t *tc_openai(gen *g, json_t *calls, int with_index) {
    json_t *out = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(calls, i, c) {
        char id[40];
        inf__tc_make_id(g->req.st.format, id, sizeof id);
        json_t *o = json_pack("{s:s, s:s, s:{s:O, s:O}}", "id", id, "type", "function",
                              "function", "name", json_object_get(c, "name"), "arguments",
                              json_object_get(c, "arguments"));
        if (with_index) json_object_set_new(o, "index", json_integer((json_int_t)i));
        json_array_append_new(out, o);
    }
    return out;
}

/* Sets g->out to several events at once (steals the objects; NULLs are
 * skipped).  0, or -1 when out of memory. */
static int emit_many(gen *g, json_t **objs, size_t n) {
    size_t len = 0, cap = 256;
    char *o = malloc(cap);
    int bad = !o;
    for (size_t i = 0; i < n; i++) {
        if (!objs[i]) continue;
        char *s = bad ? NULL : json_dumps(objs[i], JSON_COMPACT);
        json_decref(objs[i]);
        if (!s) {
            bad = 1;
            continue;
        }
        size_t sl = strlen(s);
        if (len + sl + 9 > cap) {
            cap = (len + sl + 9) * 2;
            char *p = realloc(o, cap);
            if (!p) {
                free(s);
                bad = 1;
                continue;
            }
            o = p;
        }
        memcpy(o + len, "data: ", 6);
        memcpy(o + len + 6, s, sl);
        memcpy(o + len + 6 + sl, "\n\n", 3);
        len += sl + 8;
        free(s);
    }
    if (bad) {
        free(o);
        return -1;
    }
    g = g->lead;
    free(g->out);
    g->out = o;
    g->out_len = len;
    g->out_off = 0;
    return 0;
}

/* Streaming with tools: the content that became safe to send, or NULL
 * (nothing to send yet). */
static json_t *tc_safe_chunk(gen *g) {
    if (g->req.st.prefix) return NULL; /* a forced call: all of it is the call */
    size_t safe = inf__tc_safe_prefix(g->req.st.format, g->tc_text, g->tc_len);
    if (safe <= g->tc_sent) return NULL;
    json_t *c = chunk(g, g->tc_text + g->tc_sent, safe - g->tc_sent, NULL, NULL);
    g->tc_sent = safe;
    return c;
}

/* Streaming with tools, at the end: the held text as content, or the calls
 * (a chunk announcing each with its id and name, then one with its
 * arguments, as OpenAI streams them), then the finish chunk. */
static int tc_stream_end(gen *g, const char *fin) {
    json_t *calls = NULL;
    char *content = NULL;
    size_t n = 0;
    int k = tc_parse(g, g->tc_text, g->tc_len, &calls, &content);
    /* content, two chunks per call, the finish chunk */
    json_t **ev = calloc((size_t)k * 2 + 3, sizeof *ev);
    if (!ev) {
        json_decref(calls);
        free(content);
        return -1;
    }
    if (k == 0) {
        if (g->tc_len > g->tc_sent)
            ev[n++] = chunk(g, g->tc_text + g->tc_sent, g->tc_len - g->tc_sent, NULL, NULL);
        ev[n++] = chunk(g, NULL, 0, NULL, fin);
        int rc = emit_many(g, ev, n);
        free(ev);
        return rc;
    }
    /* Content after what was already sent (text after the calls). */
    size_t sent = g->tc_sent, skip = 0;
    while (skip < sent && (g->tc_text[skip] == ' ' || g->tc_text[skip] == '\n')) skip++;
    size_t cl = strlen(content);
    if (sent - skip < cl && strncmp(content, g->tc_text + skip, sent - skip) == 0)
        ev[n++] = chunk(g, content + (sent - skip), cl - (sent - skip), NULL, NULL);
    free(content);
    json_t *oa = tc_openai(g, calls, 1);
    json_decref(calls);
    size_t i;
    json_t *c;
    json_array_foreach(oa, i, c) {
        json_t *args = json_object_get(json_object_get(c, "function"), "arguments");
        json_t *head = json_pack("{s:O, s:O, s:O, s:{s:O, s:s}}", "index",
                                 json_object_get(c, "index"), "id", json_object_get(c, "id"),
                                 "type", json_object_get(c, "type"), "function", "name",
                                 json_object_get(json_object_get(c, "function"), "name"),
                                 "arguments", "");
        json_t *body = json_pack("{s:O, s:{s:O}}", "index", json_object_get(c, "index"),
                                 "function", "arguments", args);
        json_t *pair[2] = {head, body};
        for (int j = 0; j < 2; j++) {
            json_t *ch = chunk(g, NULL, 0, NULL, NULL);
            json_t *delta = json_object_get(json_array_get(json_object_get(ch, "choices"), 0),
                                            "delta");
            json_object_set_new(delta, "tool_calls", json_pack("[o]", pair[j]));
            ev[n++] = ch;
        }
    }
    json_decref(oa);
    ev[n++] = chunk(g, NULL, 0, NULL, "tool_calls");
    int rc = emit_many(g, ev, n);
    free(ev);
    return rc;
}

/* The next choice to serve, in turn among those not finished. */
static gen *next_choice(gen *lead) {
    for (int k = 0; k < lead->n_choices; k++) {
        int i = (lead->rr + k) % lead->n_choices;
        if (!lead->choices[i]->fin_sent) {
            lead->rr = (i + 1) % lead->n_choices;
            return lead->choices[i];
        }
    }
    return lead; /* not reached: PH_TOKENS ends with the last choice */
}

/* Produces the next SSE event into lead->out.  Returns 0, 1 at the end of
 * the response, -1 to abort the connection. */
static int next_event(gen *lead) {
    switch (lead->phase) {
    case PH_ROLE: {
        gen *c = lead->choices[lead->role_sent++];
        if (lead->role_sent >= lead->n_choices) lead->phase = PH_TOKENS;
        return emit_json(c, chunk(c, NULL, 0, "assistant", NULL));
    }
    case PH_TOKENS: {
        gen *g = next_choice(lead);
        for (;;) {
            if (g->first_pending && g->req.st.parse_calls) {
                g->first_pending = 0;
                if (g->first_text && tc_add(g, g->first_id, g->first_text, g->first_len))
                    return -1;
                json_t *c = tc_safe_chunk(g);
                if (c) return emit_json(g, c);
                if (!g->ended) continue;
            }
            if (g->first_pending) {
                g->first_pending = 0;
                if (g->first_text && (g->first_len || g->first_lp || g->echo))
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
                    if (g->req.st.parse_calls) {
                        /* No logprobs here: held text has no token of its own. */
                        if (tc_add(g, t.id, t.text, t.text_len)) return -1;
                        json_t *c = tc_safe_chunk(g);
                        if (c) return emit_json(g, c);
                        continue;
                    }
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
                lead->phase = PH_DONE; /* one failed choice ends the response */
                return emit_json(g, inf__srv_error_json(&e));
            }
            g->fin_sent = 1;
            int all = 1;
            for (int i = 0; i < lead->n_choices; i++) all &= lead->choices[i]->fin_sent;
            if (all) lead->phase = g->req.include_usage ? PH_USAGE : PH_DONE;
            const char *fin = inf_finish_reason_openai(inf_stream_finish_reason(g->stream));
            if (g->req.st.parse_calls) return tc_stream_end(g, fin ? fin : "stop");
            return emit_json(g, chunk(g, g->req.chat ? NULL : "", 0, NULL,
                                      fin ? fin : "stop"));
        }
    }
    case PH_USAGE: {
        lead->phase = PH_DONE;
        json_t *o = envelope(lead, lead->req.chat ? "chat.completion.chunk" : "text_completion");
        json_object_set_new(o, "choices", json_array());
        json_object_set_new(o, "usage", usage_json(lead));
        return emit_json(lead, o);
    }
    case PH_DONE:
        lead->phase = PH_END;
        /* The generation is over: give the slots back before the last
         * bytes are flushed to a possibly slow client. */
        gen_finish(lead, 0);
        return emit_raw(lead, "data: [DONE]\n\n");
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

/* Appends src[n] to the growing buffer *buf (*len used, *cap allocated).
 * 0, or -1 when out of memory. */
static int buf_add(char **buf, size_t *len, size_t *cap, const char *src, size_t n) {
    if (*len + n + 1 > *cap) {
        size_t c = (*len + n + 1) * 2;
        char *p = realloc(*buf, c);
        if (!p) return -1;
        *buf = p;
        *cap = c;
    }
    if (n) memcpy(*buf + *len, src, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

/* Non-streaming, one choice: pulls its stream to the end and builds its
 * entry of "choices" in *out.  Returns 0; 1 when the client left or memory
 * ran out (nothing to answer); 2 when the stream failed (*e filled). */
static int whole_choice(gen *g, json_t **out, inf__srv_error *e) {
    size_t cap = 256, len = 0;
    char *text = malloc(cap);
    *out = NULL;
    if (!text) return 1;
    text[0] = '\0';
    if (g->echo && buf_add(&text, &len, &cap, g->echo, g->echo_len) != 0) {
        free(text);
        return 1;
    }
    if (g->req.logprobs) {
        g->lp = g->echo_lp ? g->echo_lp : inf__srv_lp_new(g->req.chat);
        g->echo_lp = NULL;
        if (g->first_lp) lp_add(g, g->lp, g->first_lp, g->first_text, g->first_len);
    }
    if (g->first_text && buf_add(&text, &len, &cap, g->first_text, g->first_len) != 0) {
        free(text);
        return 1;
    }
    if (g->first_text && g->req.st.parse_calls &&
        tc_add(g, g->first_id, g->first_text, g->first_len)) {
        free(text);
        return 1;
    }
    while (!g->ended) {
        if (fd_gone(g->fd)) {
            free(text);
            return 1; /* the caller frees g, which cancels the stream */
        }
        inf_token t;
        int rc = inf_stream_next(g->stream, &t);
        if (rc != 1) {
            g->ended = 1;
            g->status = rc < 0 ? rc : inf_stream_err(g->stream);
            break;
        }
        inf__metrics_tokens(&g->srv->metrics, 1);
        if (g->req.st.parse_calls && tc_add(g, t.id, t.text, t.text_len)) {
            free(text);
            return 1;
        }
        if (g->lp) {
            inf__srv_lp o;
            inf__srv_lp_compute(&t, g->req.top_logprobs, &o);
            lp_add(g, g->lp, &o, t.text, t.text_len);
        }
        if (buf_add(&text, &len, &cap, t.text, t.text_len) != 0) {
            free(text);
            return 1;
        }
    }
    if (g->status != INF_OK) {
        free(text);
        status_error(e, g->status, inf_stream_errmsg(g->stream), g->req.chat);
        return 2;
    }
    const char *fin = inf_finish_reason_openai(inf_stream_finish_reason(g->stream));
    json_t *choice = json_pack("{s:i}", "index", g->index);
    json_t *calls = NULL;
    char *content = NULL;
    if (g->req.st.parse_calls && tc_parse(g, g->tc_text, g->tc_len, &calls, &content) > 0) {
        /* The calls, with the text around them as content (null when none). */
        json_t *msg = json_pack("{s:s}", "role", "assistant");
        json_object_set_new(msg, "content", content[0] ? text_json(content, strlen(content))
                                                       : json_null());
        json_object_set_new(msg, "tool_calls", tc_openai(g, calls, 0));
        json_object_set_new(choice, "message", msg);
        json_decref(calls);
        free(content);
        fin = "tool_calls";
    } else if (g->req.chat)
        json_object_set_new(choice, "message",
                            json_pack("{s:s, s:o}", "role", "assistant",
                                      "content", text_json(text, len)));
    else
        json_object_set_new(choice, "text", text_json(text, len));
    free(text);
    json_object_set_new(choice, "logprobs", g->lp ? json_incref(g->lp) : json_null());
    json_object_set_new(choice, "finish_reason", json_string(fin ? fin : "stop"));
    *out = choice;
    return 0;
}

/* Non-streaming: pull everything (choice by choice; they all run in the
 * engine meanwhile), then one JSON response. */
static unsigned respond_whole(gen *g, struct MHD_Connection *conn) {
    json_t *choices = json_array();
    if (!choices) return 0;
    for (int i = 0; i < g->n_choices; i++) {
        json_t *c;
        inf__srv_error e;
        int r = whole_choice(g->choices[i], &c, &e);
        if (r != 0) {
            json_decref(choices);
            return r == 2 ? inf__srv_send_error(conn, &e) : 0;
        }
        json_array_append_new(choices, c);
    }
    json_t *o = envelope(g, g->req.chat ? "chat.completion" : "text_completion");
    json_object_set_new(o, "choices", choices);
    json_object_set_new(o, "usage", usage_json(g));
    return inf__srv_send_json(conn, 200, o);
}

/* Completions with echo: the prompt text that leads each choice's text
 * (the prompt as sent, or a token-id prompt decoded) and, with logprobs,
 * its tokens' log-probabilities from the prompt's logits
 * (inf_model_logits: [prompt tokens, vocab] floats for the time of the
 * call).  A text prompt is tokenized here once and generated from those
 * ids, so the echoed tokens are exactly the ones the engine saw.
 * Returns 0, or the HTTP status with *e filled. */
#define ECHO_LOGITS_MAX ((size_t)256 << 20)
static unsigned prepare_echo(gen *g, inf__srv_error *e) {
    inf__srv_request *r = &g->req;
    const inf_tokenizer *tok = g->srv->cfg.tokenizer;
    if (!r->n_prompt_ids) {
        g->echo_len = strlen(r->prompt);
        g->echo = malloc(g->echo_len + 1);
        if (!g->echo) return inf__srv_errorf(e, 500, "server_error", NULL, NULL, "out of memory");
        memcpy(g->echo, r->prompt, g->echo_len + 1);
        if (!r->logprobs) return 0;
    }
    if (!tok)
        return inf__srv_errorf(e, 400, "invalid_request_error", "echo", NULL,
                               "'echo' with %s needs the model's own tokenizer, which this "
                               "(remote) model does not have",
                               r->n_prompt_ids ? "a token-id prompt" : "'logprobs'");
    if (!r->n_prompt_ids) {
        int32_t *ids = NULL;
        size_t n = 0;
        char *msg = NULL;
        int rc = inf_tokenize(tok, r->prompt, g->echo_len, 1, &ids, &n, &msg);
        if (rc == INF_OK && n) {
            r->prompt_ids = malloc(n * sizeof *r->prompt_ids);
            if (r->prompt_ids) memcpy(r->prompt_ids, ids, n * sizeof *ids);
            r->n_prompt_ids = r->prompt_ids ? n : 0;
        }
        inf_free(ids);
        if (rc != INF_OK) {
            status_error(e, rc, msg && *msg ? msg : inf_strerror(rc), 0);
            inf_free(msg);
            return e->status;
        }
        if (!r->n_prompt_ids)
            return inf__srv_errorf(e, n ? 500 : 400, n ? "server_error" : "invalid_request_error",
                                   n ? NULL : "prompt", NULL,
                                   n ? "out of memory" : "the prompt is empty (no tokens)");
        r->opts.prompt_ids = r->prompt_ids;
        r->opts.n_prompt_ids = r->n_prompt_ids;
    } else {
        char *buf;
        size_t *off;
        if (inf__srv_token_pieces(tok, r->prompt_ids, r->n_prompt_ids, 1, &buf, &off) != INF_OK)
            return inf__srv_errorf(e, 400, "invalid_request_error", "prompt", NULL,
                                   "the token-id prompt cannot be decoded for 'echo'");
        g->echo = buf;
        g->echo_len = off[r->n_prompt_ids];
        free(off);
        if (!r->logprobs) return 0;
    }
    /* The prompt's logits are prompt x vocabulary floats at once: bounded,
     * so that one request cannot take gigabytes (a 4096-token prompt of a
     * 151936-token vocabulary would be 2.3 GiB). */
    inf_model_info info;
    if (inf_model_info_get(g->srv->model, &info) == INF_OK && info.vocab_size > 0 &&
        (double)r->n_prompt_ids * info.vocab_size * sizeof(float) > ECHO_LOGITS_MAX)
        return inf__srv_errorf(e, 400, "invalid_request_error", "echo", NULL,
                               "'echo' with 'logprobs' needs the logits of every prompt "
                               "token: %zu tokens x %d vocabulary entries exceed this "
                               "server's %d MiB for them; shorten the prompt",
                               r->n_prompt_ids, (int)info.vocab_size,
                               (int)(ECHO_LOGITS_MAX >> 20));
    float *logits = NULL;
    int32_t vocab = 0;
    char *msg = NULL;
    int rc = inf_model_logits(g->srv->model, r->prompt_ids, r->n_prompt_ids, &logits, &vocab,
                              &msg);
    if (rc != INF_OK) {
        status_error(e, rc, msg && *msg ? msg : inf_strerror(rc), 0);
        inf_free(msg);
        return e->status;
    }
    g->echo_lp = inf__srv_lp_new(0);
    size_t off = 0;
    rc = g->echo_lp ? inf__srv_lp_prompt(g->echo_lp, tok, r->prompt_ids, r->n_prompt_ids, logits,
                                          vocab, r->top_logprobs, &off)
                    : INF_E_NOMEM;
    inf_free(logits);
    if (rc != INF_OK)
        return inf__srv_errorf(e, 500, "server_error", NULL, NULL,
                               "cannot report the prompt's logprobs: %s", inf_strerror(rc));
    /* The completion's text_offset counts from the end of the echo. */
    g->text_off = g->echo_len;
    return 0;
}

/* Choices 1..n-1: the lead's request (borrowed) with a seed of their own,
 * and their own copy of the echo.  0, or -1 when out of memory. */
static int make_choices(gen *g) {
    for (int i = 1; i < g->n_choices; i++) {
        gen *c = calloc(1, sizeof *c);
        if (!c) return -1;
        g->choices[i] = c;
        c->srv = g->srv;
        c->req = g->req;
        c->fd = g->fd;
        c->lead = g;
        c->index = i;
        c->t_request = g->t_request;
        c->created = g->created;
        memcpy(c->id, g->id, sizeof c->id);
        /* A fixed seed still gives n different choices, reproducibly. */
        if (c->req.opts.seed != INF_SEED_RANDOM) {
            c->req.opts.seed += (uint64_t)i;
            if (c->req.opts.seed == INF_SEED_RANDOM) c->req.opts.seed = 0;
        }
        if (g->echo) {
            c->echo = malloc(g->echo_len + 1);
            if (!c->echo) return -1;
            memcpy(c->echo, g->echo, g->echo_len + 1);
            c->echo_len = g->echo_len;
        }
        if (g->echo_lp && !(c->echo_lp = json_deep_copy(g->echo_lp))) return -1;
        c->text_off = g->text_off;
    }
    return 0;
}

/* Starts choice c's stream.  0, or the HTTP status with *e filled. */
static unsigned start_choice(gen *c, inf__srv_error *e) {
    inf__srv *s = c->srv;
    int chat = c->req.chat;
    char start_msg[512] = "";
    int rc = chat ? inf__srv_chat_start(s->model, c->req.msgs, c->req.n_msgs, &c->req.opts,
                                        &c->req.st, &c->stream, start_msg, sizeof start_msg)
                  : inf_generate(s->model, c->req.prompt, &c->req.opts, &c->stream);
    int stopping = 0;
    if (rc == INF_OK && live_link(c) != 0) {
        inf_stream_close(&c->stream);
        rc = INF_E_CANCELLED;
        stopping = 1;
    }
    if (rc != INF_OK) {
        /* The model keeps the message of this thread's failed call. */
        char msg[512];
        snprintf(msg, sizeof msg, "%s",
                 stopping ? "the server is shutting down"
                 : start_msg[0] ? start_msg : inf_model_errmsg(s->model));
        if (!msg[0]) snprintf(msg, sizeof msg, "%s", inf_strerror(rc));
        c->stream = NULL;
        status_error(e, rc, msg, chat);
        return e->status;
    }
    return 0;
}

/* Pulls choice c's first token before answering (see the file comment).
 * 0; the HTTP status with *e filled when the stream failed; 1 when out of
 * memory (nothing to answer). */
static unsigned first_token(gen *c, inf__srv_error *e) {
    inf_token t;
    int rc = inf_stream_next(c->stream, &t);
    c->t_first = now_s();
    if (rc == 1) {
        inf__metrics_tokens(&c->srv->metrics, 1);
        c->first_text = malloc(t.text_len + 1);
        if (!c->first_text) return 1;
        memcpy(c->first_text, t.text, t.text_len);
        c->first_text[t.text_len] = '\0';
        c->first_len = t.text_len;
        c->first_id = t.id;
        if (c->req.logprobs) {
            c->first_lp = malloc(sizeof *c->first_lp);
            if (!c->first_lp) return 1;
            inf__srv_lp_compute(&t, c->req.top_logprobs, c->first_lp);
        }
    } else {
        c->ended = 1;
        c->status = rc < 0 ? rc : inf_stream_err(c->stream);
        if (c->status != INF_OK) {
            status_error(e, c->status, inf_stream_errmsg(c->stream), c->req.chat);
            return e->status;
        }
        /* No token at all: an echo still has its text to send. */
        if (c->echo && !(c->first_text = calloc(1, 1))) return 1;
    }
    c->first_pending = 1;
    return 0;
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
    g->lead = g;
    g->n_choices = g->req.n > 0 ? g->req.n : 1;
    g->choices = calloc((size_t)g->n_choices, sizeof *g->choices);
    if (!g->choices) {
        inf__srv_request_free(&g->req);
        free(g);
        return 0;
    }
    g->choices[0] = g;
    unsigned st = 0;
    /* One slot per choice, all at once (admit.h). */
    switch (inf__admit_acquire_n(&s->gate, g->n_choices, s->cfg.queue_timeout_ms, gone_cb,
                                 &g->fd)) {
    case INF__ADMIT_OK:
        g->slot_held = g->n_choices;
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
    if (!chat && g->req.echo && prepare_echo(g, &e)) {
        st = inf__srv_send_error(conn, &e);
        goto out;
    }
    /* Tools / response_format: the format, the constraint (shared by the
     * choices, owned by the lead's request). */
    if (chat) {
        char msg[512];
        int rc = inf__srv_structured_prepare(s->model, &g->req.st, &g->req.opts, msg, sizeof msg);
        if (rc != INF_OK) {
            status_error(&e, rc, msg, chat);
            st = inf__srv_send_error(conn, &e);
            goto out;
        }
    }
    if (make_choices(g) != 0) goto out;
    /* Every choice is submitted before any is read, so they run together. */
    for (int i = 0; i < g->n_choices; i++)
        if (start_choice(g->choices[i], &e)) {
            st = inf__srv_send_error(conn, &e);
            goto out;
        }
    for (int i = 0; i < g->n_choices; i++) {
        unsigned fs = first_token(g->choices[i], &e);
        if (fs == 1) goto out;
        if (fs) {
            st = inf__srv_send_error(conn, &e);
            goto out;
        }
    }

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
