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

/* Current and peak resident set size of this process in bytes (0 when the
 * platform does not say). */
void inf__process_memory(int64_t *active, int64_t *peak);

#endif
