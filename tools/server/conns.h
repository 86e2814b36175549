/* The connection watch: deadlines for the parts of a request that the
 * client controls, against slowloris.
 *
 * libmicrohttpd runs one thread per connection and only times out a
 * connection that is silent for its whole idle timeout, so a client that
 * trickles one byte of header every few seconds holds a thread (and a place
 * under the connection limit) for as long as it likes.  The watch records,
 * for every open connection, the phase it is in and since when:
 *
 *   HEADER    from the accept (or the end of the previous request on a
 *             kept-alive connection) until the request header is complete:
 *             at most header_ms;
 *   BODY      from the complete header until the body is complete: at most
 *             body_ms;
 *   RESPONSE  the server is answering (queue wait, generation, streaming):
 *             no deadline here (the generation has its own limits).
 *
 * A thread wakes every 100 ms and shuts down (shutdown(2), both ways) the
 * socket of every connection past its phase's deadline; libmicrohttpd's
 * thread for it then sees the end of the stream and closes it as usual.
 * shutdown is called under the watch's lock, and a connection leaves the
 * watch (its MHD_CONNECTION_NOTIFY_CLOSED, which libmicrohttpd delivers
 * before it closes the socket) under the same lock, so the descriptor shut
 * down is always still that connection's. */
#ifndef INF_SERVER_CONNS_H
#define INF_SERVER_CONNS_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdint.h>

struct inf__conn;

typedef enum inf__conn_phase {
    INF__CONN_HEADER = 0,
    INF__CONN_BODY = 1,
    INF__CONN_RESPONSE = 2
} inf__conn_phase;

typedef struct inf__conns {
    pthread_mutex_t mu;
    pthread_cond_t cv;   /* wakes the watch thread early when stopping */
    pthread_t thread;
    int running, stop;
    int64_t header_ms, body_ms;
    struct inf__conn *head;     /* the open connections */
    uint64_t cut_header, cut_body; /* connections shut down, by phase */
    int open;                      /* connections in the watch now */
} inf__conns;

/* Starts the watch thread with the two deadlines (milliseconds, >= 1).
 * Returns 0, or -1 when the lock or the thread cannot be created (nothing
 * is left to free then). */
int inf__conns_start(inf__conns *w, int64_t header_ms, int64_t body_ms);
/* Stops the thread and frees what is left; call after MHD_stop_daemon
 * (every connection has been closed by then).  Harmless on a watch that
 * failed to start (zeroed). */
void inf__conns_stop(inf__conns *w);

/* libmicrohttpd's MHD_OPTION_NOTIFY_CONNECTION callback (cls: the watch):
 * enters a new connection in HEADER, removes a closed one.  A connection
 * that cannot be entered (out of memory) is shut down at once: unwatched,
 * it could be held open for ever. */
void inf__conns_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                       enum MHD_ConnectionNotificationCode code);
/* Moves connection c into `phase`, starting that phase's clock.  Safe on a
 * connection the watch does not know. */
void inf__conns_phase(inf__conns *w, struct MHD_Connection *c, inf__conn_phase phase);
/* A consistent snapshot of the counters (any pointer may be NULL). */
void inf__conns_stats(inf__conns *w, int *open, uint64_t *cut_header, uint64_t *cut_body);

#endif
