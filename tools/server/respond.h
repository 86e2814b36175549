/* Queuing responses on a libmicrohttpd connection: JSON bodies, static
 * bodies, and OpenAI-style error objects
 *   {"error": {"message": ..., "type": ..., "param": ..., "code": ...}}. */
#ifndef INF_SERVER_RESPOND_H
#define INF_SERVER_RESPOND_H

#include <jansson.h>
#include <stddef.h>

struct MHD_Connection;
struct MHD_Response;

/* An error to report to the client. */
typedef struct inf__srv_error {
    unsigned status;   /* HTTP status, e.g. 400 */
    const char *type;  /* "invalid_request_error", "authentication_error",
                          "server_error", ... (static string) */
    char param[64];    /* the offending request field, "" for null */
    char code[64];     /* machine-readable code, "" for null */
    char message[512];
} inf__srv_error;

/* Fills *e and returns e->status.  param/code may be NULL. */
unsigned inf__srv_errorf(inf__srv_error *e, unsigned status, const char *type,
                         const char *param, const char *code,
                         const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* The error object as JSON (new reference). */
json_t *inf__srv_error_json(const inf__srv_error *e);

/* Adds the headers every response carries (content type, no-store, and
 * the CORS headers of the request being answered, see below). */
void inf__srv_common_headers(struct MHD_Response *r, const char *ctype);
/* The allowed cross-origin Origin of the request this thread answers
 * (libmicrohttpd runs one thread per connection and every response is
 * created while the request is dispatched), or NULL: while set, every
 * response carries Access-Control-Allow-Origin: origin and Vary: Origin.
 * The string must outlive the responses' creation. */
void inf__srv_cors_set(const char *origin);

/* Queues `body` (copied) with status and content type.  Returns status, or
 * 0 when the response could not be queued. */
unsigned inf__srv_send_bytes(struct MHD_Connection *c, unsigned status,
                             const char *ctype, const void *body, size_t len);
/* Queues obj serialised compactly (steals the reference). */
unsigned inf__srv_send_json(struct MHD_Connection *c, unsigned status,
                            json_t *obj);
/* Queues the error object with e->status (and Retry-After for 503,
 * WWW-Authenticate for 401). */
unsigned inf__srv_send_error(struct MHD_Connection *c,
                             const inf__srv_error *e);

#endif
