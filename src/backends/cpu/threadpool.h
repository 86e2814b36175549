/*
 * A small persistent thread pool for the cpu backend: n-1 worker threads
 * plus the calling thread run one function together, each with its index.
 * Workers spin briefly after a job (the next matmul of the same forward is
 * usually microseconds away) and then sleep on a condition variable, so an
 * idle model costs no CPU.
 */
#ifndef INF_BACKENDS_CPU_THREADPOOL_H
#define INF_BACKENDS_CPU_THREADPOOL_H

#include "core/error.h"

typedef struct inf__pool inf__pool;

/* fn(arg, ith, nth): ith in [0, nth); the caller runs ith = 0. */
typedef void (*inf__pool_fn)(void *arg, int ith, int nth);

/* Starts n_threads-1 workers (n_threads <= 0: one per online core).
 * Returns INF_OK and *out, or INF_E_NOMEM / INF_E_INTERNAL with a message.
 * Free with inf__pool_free. */
int inf__pool_create(int n_threads, inf__pool **out, inf__err *err);

/* Runs fn on every thread of the pool and returns when all have finished.
 * One caller at a time per pool. */
void inf__pool_run(inf__pool *p, inf__pool_fn fn, void *arg);

/* Number of threads, caller included (>= 1). */
int inf__pool_size(const inf__pool *p);

/* Stops and joins the workers. Accepts NULL. */
void inf__pool_free(inf__pool *p);

#endif
