/* The admission gate (see admit.h).  FIFO order comes from a line of
 * waiters: only the head may take a free slot, so a slot that frees up goes
 * to the request that has waited longest rather than to whichever thread
 * wakes first.  A waiter that gives up unlinks itself from anywhere in the
 * line. */
#include "server/admit.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

int inf__admit_init(inf__admit *g, int slots, int queue) {
    g->slots = slots < 1 ? 1 : slots;
    g->queue = queue < 0 ? 0 : queue;
    g->busy = g->waiting = 0;
    g->head = g->tail = NULL;
    g->closed = 0;
    if (pthread_mutex_init(&g->mu, NULL) != 0) return -1;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    /* Monotonic so that a wall-clock jump does not stretch timeouts. */
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&g->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0) {
        pthread_mutex_destroy(&g->mu);
        return -1;
    }
    return 0;
}

void inf__admit_destroy(inf__admit *g) {
    if (!g) return;
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One waiting request; lives on its thread's stack while it waits. */
struct inf__admit_waiter {
    struct inf__admit_waiter *prev, *next;
};

static void unlink_waiter(inf__admit *g, struct inf__admit_waiter *w) {
    if (w->prev) w->prev->next = w->next; else g->head = w->next;
    if (w->next) w->next->prev = w->prev; else g->tail = w->prev;
}

inf__admit_result inf__admit_acquire(inf__admit *g, int64_t timeout_ms,
                                     int (*gone)(void *user), void *user) {
    return inf__admit_acquire_n(g, 1, timeout_ms, gone, user);
}

inf__admit_result inf__admit_acquire_n(inf__admit *g, int k, int64_t timeout_ms,
                                       int (*gone)(void *user), void *user) {
    if (k < 1) k = 1;
    pthread_mutex_lock(&g->mu);
    if (g->closed) {
        pthread_mutex_unlock(&g->mu);
        return INF__ADMIT_CLOSED;
    }
    if (k > g->slots) {
        pthread_mutex_unlock(&g->mu);
        return INF__ADMIT_FULL; /* could never be admitted */
    }
    if (!g->head && g->busy + k <= g->slots) {
        g->busy += k;
        pthread_mutex_unlock(&g->mu);
        return INF__ADMIT_OK;
    }
    if (g->waiting >= g->queue) {
        pthread_mutex_unlock(&g->mu);
        return INF__ADMIT_FULL;
    }
    struct inf__admit_waiter me = {g->tail, NULL};
    if (g->tail) g->tail->next = &me; else g->head = &me;
    g->tail = &me;
    g->waiting++;
    int64_t deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
    inf__admit_result res = INF__ADMIT_OK;
    for (;;) {
        if (g->closed) { res = INF__ADMIT_CLOSED; break; }
        if (g->head == &me && g->busy + k <= g->slots) break;
        int64_t t = now_ms();
        if (deadline && t >= deadline) { res = INF__ADMIT_TIMEOUT; break; }
        int64_t wait = 50;
        if (deadline && deadline - t < wait) wait = deadline - t;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += (long)(wait % 1000) * 1000000L;
        ts.tv_sec += (time_t)(wait / 1000) + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        int rc = pthread_cond_timedwait(&g->cv, &g->mu, &ts);
        if (rc == ETIMEDOUT && gone) {
            /* gone() may poll a socket: not under the lock. */
            pthread_mutex_unlock(&g->mu);
            int left = gone(user);
            pthread_mutex_lock(&g->mu);
            if (left) { res = INF__ADMIT_ABANDONED; break; }
        }
    }
    unlink_waiter(g, &me);
    g->waiting--;
    if (res == INF__ADMIT_OK) g->busy += k;
    /* The new head (if any) may be able to go now. */
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    return res;
}

void inf__admit_release(inf__admit *g) { inf__admit_release_n(g, 1); }

void inf__admit_release_n(inf__admit *g, int k) {
    pthread_mutex_lock(&g->mu);
    g->busy = g->busy > k ? g->busy - k : 0;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

void inf__admit_close(inf__admit *g) {
    pthread_mutex_lock(&g->mu);
    g->closed = 1;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

void inf__admit_stats(inf__admit *g, int *busy, int *waiting) {
    pthread_mutex_lock(&g->mu);
    if (busy) *busy = g->busy;
    if (waiting) *waiting = g->waiting;
    pthread_mutex_unlock(&g->mu);
}
