/* Monotonic time and process memory readings shared by the engine,
 * backends and metrics. */
#ifndef INF_CORE_CLOCK_H
#define INF_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t inf__now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline double inf__now_s(void) { return (double)inf__now_ns() * 1e-9; }

/* CPU time the calling thread has used, in ns (0 where the platform has no
 * per-thread clock).  Unlike wall time it does not grow while the thread
 * waits for a core, so it measures the thread's own work on a busy machine. */
static inline int64_t inf__thread_cpu_ns(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return 0;
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Current and peak resident set size of this process in bytes (0 when the
 * platform does not say). */
void inf__process_memory(int64_t *active, int64_t *peak);

#endif
