/*
 * A small persistent thread pool for the cpu backend.  A job is n_chunks
 * independent pieces of work; the calling thread and n-1 workers claim
 * chunks from an atomic counter until none are left.  Dynamic claiming
 * matters on a busy machine: a worker that is descheduled (or still asleep)
 * simply claims nothing, and the caller does the remaining chunks itself
 * instead of waiting for a fixed share.
 * Workers spin briefly after a job (the next matmul of the same forward is
 * usually microseconds away) and then sleep on a condition variable, so an
 * idle model costs no CPU.
 */
#ifndef INF_BACKENDS_CPU_THREADPOOL_H
#define INF_BACKENDS_CPU_THREADPOOL_H

#include <stdint.h>

#include "core/error.h"

typedef struct inf__pool inf__pool;

/* fn(arg, chunk, ith): chunk in [0, n_chunks), each run exactly once; ith
 * in [0, nth) names the thread running it (0 = the caller), for per-thread
 * scratch. */
typedef void (*inf__pool_fn)(void *arg, int64_t chunk, int ith);

/* Starts n_threads-1 workers (n_threads <= 0: one per online core).
 * Returns INF_OK and *out, or INF_E_NOMEM / INF_E_INTERNAL with a message.
 * Free with inf__pool_free. */
int inf__pool_create(int n_threads, inf__pool **out, inf__err *err);

/* Runs fn on every chunk and returns when all have finished.  One caller
 * at a time per pool.  n_chunks may be 0 (returns at once). */
void inf__pool_run(inf__pool *p, inf__pool_fn fn, void *arg, int64_t n_chunks);

/* Number of threads, caller included (>= 1). */
int inf__pool_size(const inf__pool *p);

/* Stops and joins the workers. Accepts NULL. */
void inf__pool_free(inf__pool *p);

#endif
