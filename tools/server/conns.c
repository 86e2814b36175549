/* The connection watch (conns.h): per-phase deadlines enforced by one
 * thread that shuts down the sockets of connections past them. */
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "server/conns.h"

struct inf__conn {
    struct inf__conn *prev, *next;
    int fd;
    inf__conn_phase phase;
    int64_t since_ms; /* when the phase began (CLOCK_MONOTONIC) */
    int cut;          /* shut down once already */
};

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void unlink_conn(inf__conns *w, struct inf__conn *k) {
    if (k->prev) k->prev->next = k->next;
    else w->head = k->next;
    if (k->next) k->next->prev = k->prev;
    w->open--;
}

/* Shuts down, under w->mu, every connection past its deadline. */
static void sweep(inf__conns *w, int64_t now) {
    for (struct inf__conn *k = w->head; k; k = k->next) {
        if (k->cut || k->phase == INF__CONN_RESPONSE) continue;
        int64_t limit = k->phase == INF__CONN_HEADER ? w->header_ms : w->body_ms;
        if (now - k->since_ms <= limit) continue;
        k->cut = 1;
        if (k->phase == INF__CONN_HEADER) w->cut_header++;
        else w->cut_body++;
        /* Both directions: the connection's thread wakes from its poll,
         * reads the end of the stream and closes the connection. */
        shutdown(k->fd, SHUT_RDWR);
    }
}

static void *watch_main(void *arg) {
    inf__conns *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        sweep(w, now_ms());
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 100 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&w->cv, &w->mu, &until);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int inf__conns_start(inf__conns *w, int64_t header_ms, int64_t body_ms) {
    *w = (inf__conns){.header_ms = header_ms, .body_ms = body_ms};
    if (pthread_mutex_init(&w->mu, NULL) != 0) return -1;
    if (pthread_cond_init(&w->cv, NULL) != 0) {
        pthread_mutex_destroy(&w->mu);
        return -1;
    }
    if (pthread_create(&w->thread, NULL, watch_main, w) != 0) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        return -1;
    }
    w->running = 1;
    return 0;
}

void inf__conns_stop(inf__conns *w) {
    if (!w->running) return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    /* MHD_stop_daemon closed every connection; anything left is freed. */
    while (w->head) {
        struct inf__conn *k = w->head;
        unlink_conn(w, k);
        free(k);
    }
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    w->running = 0;
}

void inf__conns_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                       enum MHD_ConnectionNotificationCode code) {
    inf__conns *w = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct inf__conn *k = calloc(1, sizeof *k);
        if (!k || !ci) {
            free(k);
            if (ci) shutdown(ci->connect_fd, SHUT_RDWR);
            *socket_context = NULL;
            return;
        }
        k->fd = ci->connect_fd;
        k->phase = INF__CONN_HEADER;
        k->since_ms = now_ms();
        pthread_mutex_lock(&w->mu);
        k->next = w->head;
        if (w->head) w->head->prev = k;
        w->head = k;
        w->open++;
        pthread_mutex_unlock(&w->mu);
        *socket_context = k;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        struct inf__conn *k = *socket_context;
        if (!k) return;
        pthread_mutex_lock(&w->mu);
        unlink_conn(w, k);
        pthread_mutex_unlock(&w->mu);
        free(k);
        *socket_context = NULL;
    }
}

void inf__conns_phase(inf__conns *w, struct MHD_Connection *c, inf__conn_phase phase) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct inf__conn *k = ci ? ci->socket_context : NULL;
    if (!k) return;
    pthread_mutex_lock(&w->mu);
    if (k->phase != phase) {
        k->phase = phase;
        k->since_ms = now_ms();
    }
    pthread_mutex_unlock(&w->mu);
}

void inf__conns_stats(inf__conns *w, int *open, uint64_t *cut_header, uint64_t *cut_body) {
    pthread_mutex_lock(&w->mu);
    if (open) *open = w->open;
    if (cut_header) *cut_header = w->cut_header;
    if (cut_body) *cut_body = w->cut_body;
    pthread_mutex_unlock(&w->mu);
}
