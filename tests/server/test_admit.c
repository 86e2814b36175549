/* Unit tests of the admission gate (tools/server/admit.c): capacity,
 * FIFO hand-over of slots, the bounded queue, timeouts, abandoning, and
 * closing. */
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "server/admit.h"
#include "testutil.h"

static inf__admit gate;
static int order[8], n_order;
static pthread_mutex_t order_mu = PTHREAD_MUTEX_INITIALIZER;

typedef struct { int id; int res; } waiter_arg;

static void *waiter(void *p) {
    waiter_arg *a = p;
    a->res = inf__admit_acquire(&gate, 5000, NULL, NULL);
    if (a->res == INF__ADMIT_OK) {
        pthread_mutex_lock(&order_mu);
        order[n_order++] = a->id;
        pthread_mutex_unlock(&order_mu);
        inf__admit_release(&gate);
    }
    return NULL;
}

static void wait_waiting(int n) {
    for (int i = 0; i < 1000; i++) {
        int w;
        inf__admit_stats(&gate, NULL, &w);
        if (w == n) return;
        usleep(2000);
    }
}

static int flag_gone;
static int gone(void *user) { (void)user; return flag_gone; }

static void *abandoner(void *p) {
    waiter_arg *a = p;
    a->res = inf__admit_acquire(&gate, 0, gone, NULL);
    return NULL;
}

int main(void) {
    CHECK_EQ_INT(inf__admit_init(&gate, 2, 3), 0);
    /* Two slots are free at once. */
    CHECK_EQ_INT(inf__admit_acquire(&gate, 100, NULL, NULL), INF__ADMIT_OK);
    CHECK_EQ_INT(inf__admit_acquire(&gate, 100, NULL, NULL), INF__ADMIT_OK);
    int busy, waiting;
    inf__admit_stats(&gate, &busy, &waiting);
    CHECK_EQ_INT(busy, 2);
    CHECK_EQ_INT(waiting, 0);
    /* A third waits and times out. */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_EQ_INT(inf__admit_acquire(&gate, 120, NULL, NULL), INF__ADMIT_TIMEOUT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    CHECK_MSG(ms >= 100 && ms < 2000, "timeout after %.0f ms", ms);

    /* Three wait in arrival order; a fourth is refused (queue 3). */
    pthread_t th[3];
    waiter_arg args[3];
    for (int i = 0; i < 3; i++) {
        args[i].id = i;
        pthread_create(&th[i], NULL, waiter, &args[i]);
        wait_waiting(i + 1);
    }
    inf__admit_stats(&gate, &busy, &waiting);
    CHECK_EQ_INT(waiting, 3);
    CHECK_EQ_INT(inf__admit_acquire(&gate, 100, NULL, NULL), INF__ADMIT_FULL);
    /* Freeing one slot admits them one at a time, first come, first
     * served (each waiter hands the slot on when it is done). */
    inf__admit_release(&gate);
    for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
    inf__admit_release(&gate);
    for (int i = 0; i < 3; i++) CHECK_EQ_INT(args[i].res, INF__ADMIT_OK);
    CHECK_EQ_INT(n_order, 3);
    for (int i = 0; i < 3; i++) CHECK_EQ_INT(order[i], i);
    inf__admit_stats(&gate, &busy, &waiting);
    CHECK_EQ_INT(busy, 0);
    CHECK_EQ_INT(waiting, 0);

    /* A waiter whose client leaves gives up within ~50 ms polls; one
     * behind it in the line is not blocked by the hole it leaves. */
    CHECK_EQ_INT(inf__admit_acquire(&gate, 100, NULL, NULL), INF__ADMIT_OK);
    CHECK_EQ_INT(inf__admit_acquire(&gate, 100, NULL, NULL), INF__ADMIT_OK);
    waiter_arg ab = {9, -1}, behind = {7, -1};
    pthread_t tab, tbe;
    pthread_create(&tab, NULL, abandoner, &ab);
    wait_waiting(1);
    n_order = 0;
    pthread_create(&tbe, NULL, waiter, &behind);
    wait_waiting(2);
    flag_gone = 1;
    pthread_join(tab, NULL);
    CHECK_EQ_INT(ab.res, INF__ADMIT_ABANDONED);
    inf__admit_release(&gate);
    pthread_join(tbe, NULL);
    CHECK_EQ_INT(behind.res, INF__ADMIT_OK);
    CHECK_EQ_INT(order[0], 7);

    /* k slots at once (n choices): a request for 2 waits until both are
     * free together; one for more than all slots is refused at once. */
    inf__admit_release(&gate); /* the slot the waiter above was left */
    inf__admit_stats(&gate, &busy, &waiting);
    CHECK_EQ_INT(busy, 0);
    CHECK_EQ_INT(inf__admit_acquire_n(&gate, 3, 100, NULL, NULL), INF__ADMIT_FULL);
    CHECK_EQ_INT(inf__admit_acquire(&gate, 100, NULL, NULL), INF__ADMIT_OK);
    CHECK_EQ_INT(inf__admit_acquire_n(&gate, 2, 80, NULL, NULL), INF__ADMIT_TIMEOUT);
    inf__admit_release(&gate);
    CHECK_EQ_INT(inf__admit_acquire_n(&gate, 2, 100, NULL, NULL), INF__ADMIT_OK);
    inf__admit_stats(&gate, &busy, &waiting);
    CHECK_EQ_INT(busy, 2);
    CHECK_EQ_INT(inf__admit_acquire(&gate, 50, NULL, NULL), INF__ADMIT_TIMEOUT);
    inf__admit_release_n(&gate, 1); /* one stays held for the test below */
    inf__admit_stats(&gate, &busy, &waiting);
    CHECK_EQ_INT(busy, 1);

    /* Closing wakes waiters with CLOSED and refuses later arrivals. */
    flag_gone = 0;
    CHECK_EQ_INT(inf__admit_acquire(&gate, 100, NULL, NULL), INF__ADMIT_OK);
    waiter_arg cl = {5, -1};
    pthread_t tcl;
    pthread_create(&tcl, NULL, abandoner, &cl);
    wait_waiting(1);
    inf__admit_close(&gate);
    pthread_join(tcl, NULL);
    CHECK_EQ_INT(cl.res, INF__ADMIT_CLOSED);
    CHECK_EQ_INT(inf__admit_acquire(&gate, 100, NULL, NULL), INF__ADMIT_CLOSED);
    inf__admit_destroy(&gate);
    return tu_summary("server_admit");
}
