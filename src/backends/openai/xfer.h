/* One HTTP request to an OpenAI-compatible server, driven by the curl
 * multi interface so that the caller pulls tokens as they arrive, several
 * requests run concurrently (Classify, BatchGenerate), and another thread
 * can abort a transfer at once (curl_multi_wakeup).
 *
 * A transfer parses the server-sent events of a streamed response into a
 * queue of text pieces (one per chunk that carries text).  Connection
 * errors and HTTP 5xx are retried with exponential backoff while no piece
 * has arrived yet; after the first piece an error ends the transfer. */
#ifndef INF_OPENAI_XFER_H
#define INF_OPENAI_XFER_H

#include <curl/curl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "backends/openai/client.h" /* inf__oai_diag_fn, inf__oai_simple */
#include "backends/openai/sse.h"
#include "inference.h"

typedef struct inf__oai_piece {
    char *text;      /* NUL-terminated, whole UTF-8 characters */
    size_t len;
    int32_t id;      /* -1 when the server gives no id */
} inf__oai_piece;

typedef struct inf__oai_xfer {
    /* request (set by inf__oai_xfer_new) */
    CURL *easy;
    struct curl_slist *headers;
    char *url;
    char *body;          /* NULL: GET */
    int chat;            /* parse chat chunks (delta.content) */
    int sent_stop;       /* stop strings were sent (finish "stop" = STOP) */
    int max_retries;
    int64_t timeout_ms;
    char curl_err[CURL_ERROR_SIZE];
    inf__oai_diag_fn diag;
    void *diag_user;
    const inf_cancel *cancel;  /* the caller's token (borrowed) */
    atomic_int cancelled;      /* set by inf__oai_xfer_cancel */

    /* response of the current attempt */
    long http_status;
    int is_sse;
    int headers_seen;
    inf__sse sse;
    char *raw;           /* body when not an event stream (capped) */
    size_t raw_len, raw_cap;
    int saw_done;        /* "[DONE]" */

    /* results */
    inf__oai_piece *q;   /* FIFO of pieces not yet taken */
    size_t q_head, q_len, q_cap;
    int64_t n_pieces;
    int got_first;
    int in_multi;
    int started;
    int done;
    int status;          /* INF_OK or the error once done */
    char errmsg[1024];
    const char *finish;  /* the server's finish_reason (static) or NULL */
    int64_t prompt_tokens, completion_tokens; /* usage, or -1 */
    int attempts;
    int64_t retry_at_ns; /* 0: not waiting to retry */
    int64_t t_start_ns, t_first_ns, t_end_ns;
} inf__oai_xfer;

/* A new transfer of `body` (NULL for GET) to url with the given headers
 * (the list is copied).  Returns NULL when out of memory. */
inf__oai_xfer *inf__oai_xfer_new(const char *url, const char *body,
                                 const struct curl_slist *headers, int chat,
                                 int64_t timeout_ms, int max_retries);
/* Releases a transfer; it must have been removed from its multi handle
 * (inf__oai_pump does that when the transfer ends; inf__oai_xfer_detach
 * otherwise).  NULL is fine. */
void inf__oai_xfer_free(inf__oai_xfer *x);
/* Removes x from multi if it is still attached (abandoning the request). */
void inf__oai_xfer_detach(inf__oai_xfer *x, CURLM *multi);
/* Asks x to stop; any thread.  Wake the pump with curl_multi_wakeup. */
void inf__oai_xfer_cancel(inf__oai_xfer *x);
/* Takes the oldest queued piece: 1 and *out filled (the caller owns
 * out->text), or 0 when the queue is empty. */
int inf__oai_xfer_pop(inf__oai_xfer *x, inf__oai_piece *out);

/* Runs the transfers xs[n] on multi for at most wait_ms: starts those not
 * started (at most max_active at once, 0 = all), restarts retries that are
 * due, reads what arrived and finishes the transfers that ended (then
 * x->done is set and x->status says how).  Returns INF_OK or INF_E_NOMEM /
 * INF_E_INTERNAL for a failure of curl itself. */
int inf__oai_pump(CURLM *multi, inf__oai_xfer **xs, size_t n,
                  size_t max_active, int wait_ms);

/* Ensures curl_global_init ran (thread-safe).  Returns 0 on success. */
int inf__oai_curl_init(void);

#endif
