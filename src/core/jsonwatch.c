/* jansson allocation failures, noticed (see jsonwatch.h). */
#include "core/jsonwatch.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>

static json_malloc_t prev_malloc;
static json_free_t prev_free;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static _Thread_local int failed;

static void *watch_malloc(size_t n) {
    void *p = prev_malloc(n);
    if (!p) failed = 1;
    return p;
}

static void watch_free(void *p) { prev_free(p); }

static void install(void) {
    /* Chained, not replaced: an application's own functions (or a test's
     * fault injector) keep working, and blocks allocated before this point
     * are freed by the same free as before. */
    json_get_alloc_funcs(&prev_malloc, &prev_free);
    if (!prev_malloc) prev_malloc = malloc;
    if (!prev_free) prev_free = free;
    json_set_alloc_funcs(watch_malloc, watch_free);
}

void inf__json_watch_begin(void) {
    pthread_once(&once, install);
    failed = 0;
}

int inf__json_watch_failed(void) { return failed; }
