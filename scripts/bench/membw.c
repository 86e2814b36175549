/* membw.c — memory read bandwidth: a streaming sum over a 1 GiB buffer,
 * split across T threads, which is what decoding one token does with the
 * weights.  Prints GB/s (10^9 bytes/s) per pass: median, min and max.
 *
 *   cc -O3 -march=native -pthread scripts/bench/membw.c -o membw
 *   ./membw [threads=1] [passes=10] [MiB=1024]
 *
 * The buffer is filled (paged in) before timing; each thread sums its own
 * contiguous slice with 4 independent 8-lane float accumulators so the sum
 * is bound by loads, not by the add latency.  The buffer asks for
 * transparent huge pages, as the library's copied weights do (with 4 KiB
 * pages the sum measured ~10% less: TLB misses); MEMBW_4K=1 leaves it on
 * 4 KiB pages, as a file mapping is. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

typedef float v8 __attribute__((vector_size(32)));

typedef struct {
    const float *p;
    size_t n;
    float sum;
    pthread_barrier_t *bar;
} job;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *sum_slice(void *arg) {
    job *j = arg;
    pthread_barrier_wait(j->bar);
    v8 a = {0}, b = {0}, c = {0}, d = {0};
    const v8 *v = (const v8 *)j->p;
    size_t nv = j->n / 8;
    for (size_t i = 0; i + 4 <= nv; i += 4) {
        a += v[i];
        b += v[i + 1];
        c += v[i + 2];
        d += v[i + 3];
    }
    v8 s = a + b + c + d;
    float t = 0;
    for (int k = 0; k < 8; k++) t += s[k];
    j->sum = t;
    return NULL;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    int passes = argc > 2 ? atoi(argv[2]) : 10;
    size_t mib = argc > 3 ? (size_t)atol(argv[3]) : 1024;
    if (threads < 1 || threads > 64 || passes < 1 || passes > 1000 || mib < 1) {
        fprintf(stderr, "usage: membw [threads] [passes] [MiB]\n");
        return 2;
    }
    size_t bytes = mib << 20, n = bytes / sizeof(float);
    float *buf = aligned_alloc((size_t)2 << 20, bytes);
    if (!buf) {
        fprintf(stderr, "cannot allocate %zu MiB\n", mib);
        return 1;
    }
    const char *small = getenv("MEMBW_4K");
    if (!(small && *small == '1')) madvise(buf, bytes, MADV_HUGEPAGE);
    for (size_t i = 0; i < n; i++) buf[i] = (float)(i & 1023) * 1e-3f;
    double *gbs = calloc((size_t)passes, sizeof *gbs);
    double check = 0;
    for (int p = 0; p < passes; p++) {
        pthread_barrier_t bar;
        pthread_barrier_init(&bar, NULL, (unsigned)threads + 1);
        pthread_t th[64];
        job jobs[64];
        size_t per = n / (size_t)threads / 32 * 32;
        for (int t = 0; t < threads; t++) {
            jobs[t] = (job){buf + (size_t)t * per, per, 0, &bar};
            pthread_create(&th[t], NULL, sum_slice, &jobs[t]);
        }
        double t0 = now();
        pthread_barrier_wait(&bar);
        for (int t = 0; t < threads; t++) pthread_join(th[t], NULL);
        double dt = now() - t0;
        pthread_barrier_destroy(&bar);
        for (int t = 0; t < threads; t++) check += jobs[t].sum;
        gbs[p] = (double)per * threads * sizeof(float) / dt / 1e9;
    }
    qsort(gbs, (size_t)passes, sizeof *gbs, cmp);
    printf("{\"threads\": %d, \"MiB\": %zu, \"passes\": %d, \"gbps_median\": %.2f, "
           "\"gbps_min\": %.2f, \"gbps_max\": %.2f, \"checksum\": %.1f}\n",
           threads, mib, passes, gbs[passes / 2], gbs[0], gbs[passes - 1], check);
    free(gbs);
    free(buf);
    return 0;
}
