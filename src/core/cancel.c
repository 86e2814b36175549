/* Cancellation tokens with optional deadlines: the C form of a Go context.
 * State is atomic so any thread may trigger or check. */
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "inference.h"

struct inf_cancel {
    atomic_int cancelled;
    _Atomic int64_t deadline_ns; /* monotonic; 0 = none */
};

inf_cancel *inf_cancel_new(void) {
    inf_cancel *c = malloc(sizeof *c);
    if (!c) return NULL;
    atomic_init(&c->cancelled, 0);
    atomic_init(&c->deadline_ns, 0);
    return c;
}

void inf_cancel_trigger(inf_cancel *c) {
    if (c) atomic_store(&c->cancelled, 1);
}

void inf_cancel_set_timeout(inf_cancel *c, int64_t timeout_ms) {
    if (!c) return;
    atomic_store(&c->deadline_ns,
                 timeout_ms > 0 ? inf__now_ns() + timeout_ms * 1000000 : 0);
}

int inf_cancel_check(const inf_cancel *c) {
    if (!c) return INF_OK;
    if (atomic_load(&((inf_cancel *)c)->cancelled)) return INF_E_CANCELLED;
    int64_t d = atomic_load(&((inf_cancel *)c)->deadline_ns);
    if (d && inf__now_ns() >= d) return INF_E_DEADLINE;
    return INF_OK;
}

void inf_cancel_free(inf_cancel *c) { free(c); }
