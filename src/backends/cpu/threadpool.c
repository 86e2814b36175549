/* Persistent pool with dynamically claimed chunks.
 *
 * A 64-bit ticket holds (job generation << 32 | next chunk).  Workers claim
 * a chunk with a compare-and-swap on the whole ticket, so a late worker
 * still holding an old generation can never claim a chunk of a newer job.
 * A new job first CLOSES the ticket (new generation, chunk = CLOSED, which
 * no claim accepts), then writes its fields, then opens the ticket (chunk
 * 0, release).  The closing matters: without it a worker still in the old
 * job could read the old ticket (old generation, chunk = old n) together
 * with the NEW n_chunks, find old n < new n, and win a compare-and-swap on
 * the old ticket before the new one was stored: it ran a phantom chunk and
 * counted it in the new job's done, so the caller could return while a
 * real chunk was still running (seen as rare wrong results under load).
 * With the ticket closed first, a worker that sees a new field also sees
 * (acquire) the closed ticket, so its compare-and-swap fails. */
#include "backends/cpu/threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* Chunk value of a ticket whose job is being set up. */
#define CLOSED 0xffffffffu

/* Workers poll for a new job this long before sleeping. */
#define SPIN_NS 100000

struct inf__pool {
    int n;                 /* threads, caller included */
    pthread_t *threads;    /* [n-1] */
    pthread_mutex_t mu;
    pthread_cond_t wake;   /* new job or quit */
    pthread_cond_t done_cv;
    atomic_uint_fast64_t ticket;
    _Atomic(inf__pool_fn) fn;
    _Atomic(void *) arg;
    atomic_int_fast64_t n_chunks;
    atomic_int_fast64_t done;
    atomic_int sleepers;   /* workers inside cond_wait (or about to be) */
    atomic_int main_waiting;
    atomic_int quit;
};

typedef struct worker_arg {
    inf__pool *p;
    int ith;
} worker_arg;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Claims and runs chunks of generation gen until none are left. */
static void work(inf__pool *p, uint64_t gen, int ith) {
    for (;;) {
        uint64_t t = atomic_load_explicit(&p->ticket, memory_order_acquire);
        if ((t >> 32) != gen) return;
        if ((t & 0xffffffffu) == CLOSED) { /* set-up of this job: wait */
            cpu_relax();
            continue;
        }
        const int64_t n = atomic_load_explicit(&p->n_chunks, memory_order_acquire);
        const inf__pool_fn fn = atomic_load_explicit(&p->fn, memory_order_acquire);
        void *arg = atomic_load_explicit(&p->arg, memory_order_acquire);
        const int64_t c = (int64_t)(t & 0xffffffffu);
        if (c >= n) return;
        if (!atomic_compare_exchange_weak_explicit(&p->ticket, &t, t + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue;
        fn(arg, c, ith);
        /* seq_cst: pairs with main_waiting (see inf__pool_run). */
        if (atomic_fetch_add(&p->done, 1) + 1 == n &&
            atomic_load(&p->main_waiting)) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done_cv);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

static void *worker_main(void *a) {
    worker_arg wa = *(worker_arg *)a;
    free(a);
    inf__pool *p = wa.p;
    uint64_t seen = 0; /* generations start at 1 */
    for (;;) {
        uint64_t g = atomic_load_explicit(&p->ticket, memory_order_acquire) >> 32;
        if (g == seen && !atomic_load(&p->quit)) {
            const int64_t t0 = now_ns();
            for (int i = 0; g == seen; i++) {
                cpu_relax();
                g = atomic_load_explicit(&p->ticket, memory_order_acquire) >> 32;
                if ((i & 63) == 63 && (now_ns() - t0 > SPIN_NS || atomic_load(&p->quit))) break;
            }
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while ((g = atomic_load(&p->ticket) >> 32) == seen && !atomic_load(&p->quit))
                pthread_cond_wait(&p->wake, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->quit)) return NULL;
        seen = g;
        work(p, g, wa.ith);
    }
}

int inf__pool_create(int n_threads, inf__pool **out, inf__err *err) {
    *out = NULL;
    if (n_threads <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = c > 0 ? (int)c : 1;
    }
    if (n_threads > 256) n_threads = 256;
    inf__pool *p = calloc(1, sizeof *p);
    if (!p) return inf__seterr(err, INF_E_NOMEM, "cpu: thread pool: out of memory");
    p->n = 1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    atomic_init(&p->ticket, 0);
    atomic_init(&p->fn, NULL);
    atomic_init(&p->arg, NULL);
    atomic_init(&p->n_chunks, 0);
    atomic_init(&p->done, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->main_waiting, 0);
    atomic_init(&p->quit, 0);
    if (n_threads > 1) {
        p->threads = calloc((size_t)n_threads - 1, sizeof *p->threads);
        if (!p->threads) {
            inf__pool_free(p);
            return inf__seterr(err, INF_E_NOMEM, "cpu: thread pool: out of memory");
        }
    }
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa) {
            inf__pool_free(p);
            return inf__seterr(err, INF_E_NOMEM, "cpu: thread pool: out of memory");
        }
        wa->p = p;
        wa->ith = i;
        if (pthread_create(&p->threads[i - 1], NULL, worker_main, wa) != 0) {
            free(wa);
            inf__pool_free(p);
            return inf__seterr(err, INF_E_INTERNAL,
                               "cpu: thread pool: cannot start thread %d of %d", i, n_threads);
        }
        p->n = i + 1;
    }
    *out = p;
    return INF_OK;
}

void inf__pool_run(inf__pool *p, inf__pool_fn fn, void *arg, int64_t n_chunks) {
    if (n_chunks <= 0) return;
    if (p->n == 1 || n_chunks == 1) {
        for (int64_t c = 0; c < n_chunks; c++) fn(arg, c, 0);
        return;
    }
    const uint64_t gen = (atomic_load(&p->ticket) >> 32) + 1;
    /* Close first (see the top of the file), then the fields (release: a
     * worker that reads one of them also sees the closed ticket). */
    atomic_store(&p->ticket, gen << 32 | CLOSED);
    atomic_store_explicit(&p->fn, fn, memory_order_release);
    atomic_store_explicit(&p->arg, arg, memory_order_release);
    atomic_store_explicit(&p->n_chunks, n_chunks, memory_order_release);
    atomic_store_explicit(&p->done, 0, memory_order_release);
    /* seq_cst: pairs with the sleepers count (a worker going to sleep
     * either sees this ticket or is seen in sleepers). */
    atomic_store(&p->ticket, gen << 32);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    work(p, gen, 0);
    /* Only chunks other threads already claimed can still be running. */
    for (int i = 0; atomic_load_explicit(&p->done, memory_order_acquire) < n_chunks; i++) {
        cpu_relax();
        if (i > 2000) {
            pthread_mutex_lock(&p->mu);
            atomic_store(&p->main_waiting, 1);
            while (atomic_load(&p->done) < n_chunks) pthread_cond_wait(&p->done_cv, &p->mu);
            atomic_store(&p->main_waiting, 0);
            pthread_mutex_unlock(&p->mu);
            break;
        }
    }
}

int inf__pool_size(const inf__pool *p) { return p ? p->n : 1; }

void inf__pool_free(inf__pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n - 1; i++) pthread_join(p->threads[i], NULL);
    free(p->threads);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done_cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
