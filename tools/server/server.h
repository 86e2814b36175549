/* The OpenAI-compatible HTTP server behind `inference serve`.
 *
 * One loaded model (thread-safe, continuous batching inside the engine) is
 * shared by every request.  libmicrohttpd runs one thread per connection;
 * a request that generates first passes the admission gate (admit.h), which
 * lets at most `parallel` generations run and `queue` more wait, FIFO.
 *
 * Files: server.c (daemon, routing, bodies, auth), api.c (the /v1
 * generation endpoints), logprobs.c (their log-probabilities), request.c (JSON request -> options), respond.c
 * (JSON and error responses), metrics.c (/metrics), admit.c (the gate), conns.c (header and body
 * deadlines),
 * web.c (the chat page, generated from web/index.html at build time). */
#ifndef INF_SERVER_H
#define INF_SERVER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "inference.h"
#include "server/admit.h"
#include "server/conns.h"
#include "server/metrics.h"

/* Everything `inference serve` can be told on its command line. */
typedef struct inf__srv_config {
    const char *host;          /* default "127.0.0.1" (loopback only) */
    int port;                  /* default 8080; 0 = any free port */
    int parallel;              /* concurrent generations (= engine slots) */
    int queue;                 /* requests that may wait for a slot */
    const char *api_key;       /* NULL: no authentication; otherwise a
                                  key that inf__srv_api_key_problem
                                  accepts (never "": inf__srv_start
                                  refuses it) */
    const char *model_id;      /* the id /v1/models lists */
    size_t max_body;           /* request body bytes (default 1 MiB) */
    int max_messages;          /* messages per chat request */
    int max_tokens_limit;      /* upper bound accepted for max_tokens (a
                                  policy on top of the library's bound) */
    int default_max_tokens;    /* when the request does not say (default
                                  INF_DEFAULT_MAX_TOKENS) */
    int max_stop;              /* stop strings per request */
    int64_t queue_timeout_ms;  /* a queued request gives up after this */
    /* Browser origins allowed beyond the server's own page (--cors-origin;
     * "*" any, "null" the opaque origin), each checked with
     * inf__srv_cors_origin_problem.  Requests from them get CORS headers
     * and OPTIONS preflights are answered; any other Origin is refused. */
    const char *const *cors_origins;
    size_t n_cors_origins;
    /* The options a request starts from: the library's defaults, with the
     * model's sampling defaults (inf_model_generation_defaults) where it
     * asks for sampling, else greedy.  Fields a request sets replace them. */
    inf_generate_options sampling;
    /* Optional (may be NULL; borrowed from the model, inf_model_tokenizer):
     * names the alternatives in top_logprobs. */
    const inf_tokenizer *tokenizer;
    /* Against slowloris (conns.h): open connections in all (default 1024)
     * and from one client address (default 128; further ones are closed
     * at once), and the time a client has to send a request's header
     * (from the accept, or the end of the previous request on a kept-alive
     * connection; default 10 s) and then its body (default 30 s). */
    int max_connections;
    int max_connections_per_address;
    int64_t header_timeout_ms;
    int64_t body_timeout_ms;
} inf__srv_config;

/* Fills the defaults listed above (model_id NULL, host loopback). */
void inf__srv_config_default(inf__srv_config *c);

/* Why `key` cannot be an API key ("the API key is empty", a leading or
 * trailing blank, a control character: keys no client could send), or
 * NULL when it can (or is NULL: no key). */
const char *inf__srv_api_key_problem(const char *key);
/* Why `origin` cannot be a --cors-origin (it must be scheme://host[:port]
 * with scheme http or https and no path, or "*", or "null"), or NULL. */
const char *inf__srv_cors_origin_problem(const char *origin);

typedef struct inf__srv inf__srv;

/* Starts serving `model` (borrowed; must outlive the server) with cfg
 * (copied; its strings must outlive the server).  Returns INF_OK and a
 * new server in *out, listening; or an error with a message in
 * err[err_size]. */
int inf__srv_start(inf_model *model, const inf__srv_config *cfg,
                   inf__srv **out, char *err, size_t err_size);
/* The TCP port the server listens on (useful with port 0). */
int inf__srv_port(const inf__srv *s);
/* Stops accepting, cancels running generations, wakes queued requests
 * (they get 503), waits for every connection thread and frees the server.
 * NULL is fine. */
void inf__srv_stop(inf__srv *s);

/* --- shared with api.c (not for other users) --------------------------- */

struct MHD_Connection;

/* The server state that the endpoint handlers read. */
struct inf__srv {
    inf__srv_config cfg;
    inf_model *model;
    struct MHD_Daemon *daemon;
    int port;
    inf__admit gate;
    inf__metrics metrics;
    inf__conns conns; /* header and body deadlines */
    int64_t started_unix; /* for "created" fields */
    pthread_mutex_t live_mu; /* guards live and stopping */
    struct inf__srv_gen *live; /* generations running now (api.c) */
    int stopping;
};

/* Cancels every running generation (server stopping). */
void inf__srv_cancel_all(inf__srv *s);

/* Handles POST /v1/chat/completions (chat != 0) or /v1/completions with the
 * complete body; queues exactly one response on conn.  Returns the HTTP
 * status queued (for the metrics), or 0 when queuing failed. */
unsigned inf__srv_generate(inf__srv *s, struct MHD_Connection *conn,
                           const char *body, size_t len, int chat);

/* The chat page (web/index.html), embedded at build time. */
extern const unsigned char inf__srv_web_index[];
extern const size_t inf__srv_web_index_len;

#endif
