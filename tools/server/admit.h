/* The admission gate: at most `slots` generations run at once, at most
 * `queue` more wait for a slot in arrival order, and the rest are turned
 * away at once (the server answers 503).  Waiting is bounded in time and
 * can be abandoned when the client goes away or the server stops. */
#ifndef INF_SERVER_ADMIT_H
#define INF_SERVER_ADMIT_H

#include <pthread.h>
#include <stdint.h>

struct inf__admit_waiter;

typedef struct inf__admit {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int slots, queue;       /* capacities */
    int busy, waiting;      /* current use */
    struct inf__admit_waiter *head, *tail; /* FIFO line of waiters */
    int closed;             /* stopping: nobody is admitted any more */
} inf__admit;

typedef enum inf__admit_result {
    INF__ADMIT_OK = 0,       /* holds a slot: call inf__admit_release */
    INF__ADMIT_FULL = 1,     /* slots and queue are full */
    INF__ADMIT_TIMEOUT = 2,  /* waited timeout_ms without a slot */
    INF__ADMIT_ABANDONED = 3,/* gone() said the client left */
    INF__ADMIT_CLOSED = 4    /* the gate was closed (server stopping) */
} inf__admit_result;

/* Initialises the gate (slots >= 1, queue >= 0). Returns 0, or -1 when the
 * mutex/condvar cannot be created. */
int inf__admit_init(inf__admit *g, int slots, int queue);
void inf__admit_destroy(inf__admit *g);

/* Takes a slot, waiting in the queue when none is free.  gone(user), when
 * not NULL, is polled about every 50 ms while waiting; non-zero abandons
 * the wait.  timeout_ms <= 0 waits without limit. */
inf__admit_result inf__admit_acquire(inf__admit *g, int64_t timeout_ms,
                                     int (*gone)(void *user), void *user);
/* The same for k slots at once (a request with n choices): the request
 * waits in line until k are free together, so two such requests never hold
 * part of what each needs.  k > slots: INF__ADMIT_FULL at once. */
inf__admit_result inf__admit_acquire_n(inf__admit *g, int k, int64_t timeout_ms,
                                       int (*gone)(void *user), void *user);
/* Gives a slot back and wakes the next waiter. */
void inf__admit_release(inf__admit *g);
/* Gives k slots back (what inf__admit_acquire_n took). */
void inf__admit_release_n(inf__admit *g, int k);
/* Refuses every later acquire and wakes the waiters (INF__ADMIT_CLOSED). */
void inf__admit_close(inf__admit *g);
/* A consistent snapshot of busy slots and waiting requests. */
void inf__admit_stats(inf__admit *g, int *busy, int *waiting);

#endif
