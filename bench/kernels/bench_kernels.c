/* Kernel micro-benchmark of the cpu backend (not a test).
 *
 *   [BENCH_COLS=4096] bench_kernels [-t THREADS] [-m MB] [-n TOKENS]
 *
 * For each weight format (F32, F16, BF16, MLX8, MLX4 group 64) and each
 * kernel set this processor has (the last: precision fast, one-token products through matmul_rows): one-token matrix-vector products over a
 * weight matrix of about MB megabytes (default 256, beyond the caches), as
 * GB/s of weights streamed, and TOKENS-token products (default 96) as
 * GFLOP/s (up to 16 tokens, as batched decode, also as ms and as a multiple
 * of the one-token time).  Times are the best of 5 runs (shared machine).  A streaming sum over the same number of bytes gives the memory
 * bandwidth the decode kernels should approach.  Rows are split over the
 * backend's own thread pool in chunks as the forward pass does.  BENCH_COLS
 * sets the matrix width (short rows stream less well than long ones). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backends/cpu/kernels.h"
#include "backends/cpu/threadpool.h"

/* With one thread the process CPU time is measured instead of wall time:
 * on a shared, oversubscribed machine it counts our work, not the
 * neighbours' (caches and memory bandwidth are still shared). */
static int use_cpu_time;
static double now(void) {
    struct timespec ts;
    clock_gettime(use_cpu_time ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct job {
    const inf__cpu_kernels *k;
    const inf__weight *w;
    const float *x;
    float *y;
    int64_t n, per;
    const float *stream; /* membw: sum this */
    int64_t stream_n;
    double sums[256];
} job;

static void mm_chunk(void *arg, int64_t c, int ith) {
    job *j = arg;
    (void)ith;
    int64_t r0 = c * j->per, r1 = r0 + j->per < j->w->rows ? r0 + j->per : j->w->rows;
    j->k->matmul_rows(j->w, j->x, j->w->cols, j->n, j->y, j->w->rows, r0, r1);
}

static void sum_chunk(void *arg, int64_t c, int ith) {
    job *j = arg;
    const int64_t per = j->stream_n / 64;
    const float *p = j->stream + c * per;
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    for (int64_t i = 0; i + 8 <= per; i += 8) {
        s0 += p[i]; s1 += p[i + 1]; s2 += p[i + 2]; s3 += p[i + 3];
        s4 += p[i + 4]; s5 += p[i + 5]; s6 += p[i + 6]; s7 += p[i + 7];
    }
    j->sums[ith] += s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7;
}

int main(int argc, char **argv) {
    int threads = 0, opt;
    double mb = 256;
    int64_t ntok = 96;
    while ((opt = getopt(argc, argv, "t:m:n:")) != -1) {
        if (opt == 't') threads = atoi(optarg);
        else if (opt == 'm') mb = atof(optarg);
        else if (opt == 'n') ntok = atoll(optarg);
        else { fprintf(stderr, "usage: %s [-t THREADS] [-m MB] [-n TOKENS]\n", argv[0]); return 2; }
    }
    inf__pool *pool = NULL;
    inf__err e;
    if (inf__pool_create(threads, &pool, &e) != INF_OK) { fprintf(stderr, "%s\n", e.msg); return 1; }
    const int nth = inf__pool_size(pool);
    use_cpu_time = nth == 1;
    int64_t cols = getenv("BENCH_COLS") ? atoll(getenv("BENCH_COLS")) : 4096;
    const size_t bytes = (size_t)(mb * 1e6);

    /* Memory bandwidth baseline. */
    job sj;
    memset(&sj, 0, sizeof sj);
    sj.stream_n = (int64_t)(bytes / 4) / 64 * 64;
    float *buf = malloc((size_t)sj.stream_n * 4);
    for (int64_t i = 0; i < sj.stream_n; i++) buf[i] = (float)(i & 7);
    sj.stream = buf;
    inf__pool_run(pool, sum_chunk, &sj, 64);
    double t0 = now();
    int reps = 5;
    for (int r = 0; r < reps; r++) inf__pool_run(pool, sum_chunk, &sj, 64);
    double tb = (now() - t0) / reps;
    printf("threads %d (%s time); streaming sum over %.0f MB: %.1f GB/s\n", nth,
           use_cpu_time ? "cpu" : "wall", sj.stream_n * 4 / 1e6,
           sj.stream_n * 4 / tb / 1e9);
    free(buf);

    static const struct { inf__wfmt fmt; const char *name; double bytes_per; } fmts[] = {
        {INF__W_F32, "F32", 4}, {INF__W_F16, "F16", 2}, {INF__W_BF16, "BF16", 2},
        {INF__W_MLX8, "MLX8", 1 + 4.0 / 64}, {INF__W_MLX4, "MLX4", 0.5 + 4.0 / 64}};
    const inf__cpu_kernels *sets[4] = {&inf__cpu_kernels_ref, inf__cpu_kernels_avx2(), inf__cpu_kernels_avx512(),
                                       inf__cpu_kernels_fast()};
    for (size_t f = 0; f < sizeof fmts / sizeof fmts[0]; f++) {
        inf__weight w;
        memset(&w, 0, sizeof w);
        w.fmt = fmts[f].fmt;
        w.cols = cols;
        w.rows = (int64_t)(bytes / fmts[f].bytes_per / (double)cols) / 64 * 64;
        size_t dbytes = w.fmt == INF__W_F32 ? 4 : w.fmt == INF__W_MLX8 ? 1 : w.fmt == INF__W_MLX4 ? 0 : 2;
        size_t n_data = w.fmt == INF__W_MLX4 ? (size_t)(w.rows * cols / 2) : (size_t)(w.rows * cols) * dbytes;
        uint8_t *data = malloc(n_data);
        for (size_t i = 0; i < n_data; i++) data[i] = (uint8_t)(i * 2654435761u >> 13);
        if (w.fmt == INF__W_F16 || w.fmt == INF__W_BF16) /* finite values near 1 */
            for (size_t i = 1; i < n_data; i += 2) data[i] = (uint8_t)(w.fmt == INF__W_F16 ? 0x3c : 0x3f);
        if (w.fmt == INF__W_F32)
            for (size_t i = 3; i < n_data; i += 4) data[i] = 0x3f;
        uint16_t *sb = NULL;
        if (w.fmt == INF__W_MLX4 || w.fmt == INF__W_MLX8) {
            w.group = 64;
            w.bits = w.fmt == INF__W_MLX4 ? 4 : 8;
            w.sb_dtype = INF__DT_BF16;
            size_t ng = (size_t)(w.rows * cols / 64);
            sb = malloc(ng * 2 * 2);
            for (size_t i = 0; i < 2 * ng; i++) sb[i] = 0x3c00 + (uint16_t)(i & 63);
            w.scales = sb;
            w.biases = sb + ng;
        }
        w.data = data;
        const double wbytes = (double)w.rows * cols * fmts[f].bytes_per;
        float *x = malloc((size_t)(ntok * cols) * 4), *y = malloc((size_t)(ntok * w.rows) * 4);
        for (int64_t i = 0; i < ntok * cols; i++) x[i] = (float)((i % 13) - 6) * 0.01f;
        for (int s = 0; s < 4; s++) {
            if (!sets[s]) continue;
            job j;
            memset(&j, 0, sizeof j);
            j.k = sets[s];
            j.w = &w;
            j.x = x;
            j.y = y;
            /* Decode: one token, chunks as in the forward pass. */
            j.n = 1;
            j.per = w.rows / (nth * 4) / 8 * 8;
            if (j.per < 16) j.per = 16;
            const int64_t nch = (w.rows + j.per - 1) / j.per;
            inf__pool_run(pool, mm_chunk, &j, nch);
            int rr = s == 0 ? 1 : 5;
            double td = 1e30;
            for (int r = 0; r < rr; r++) { /* best of rr: the machine is shared */
                t0 = now();
                inf__pool_run(pool, mm_chunk, &j, nch);
                const double dt = now() - t0;
                td = dt < td ? dt : td;
            }
            /* Several tokens on the first 1/8 of the rows (keeps it short);
             * up to 16 tokens (batched decode) on all rows, best of 5. */
            inf__weight w8 = w;
            if (ntok > 16) w8.rows = w.rows / 8 / 64 * 64;
            j.w = &w8;
            j.n = ntok;
            j.per = w8.rows / (nth * 4) / 8 * 8;
            if (j.per < 16) j.per = 16;
            const int64_t nch8 = (w8.rows + j.per - 1) / j.per;
            double tp = 1e30;
            for (int r = 0; s > 0 && r < (ntok > 16 ? 1 : 5); r++) {
                t0 = now();
                inf__pool_run(pool, mm_chunk, &j, nch8);
                const double dt = now() - t0;
                tp = dt < tp ? dt : tp;
            }
            printf("  %-5s %-9s %6lld x %lld: 1 token %7.2f ms = %5.1f GB/s", fmts[f].name, sets[s]->name,
                   (long long)w.rows, (long long)cols, td * 1e3, wbytes / td / 1e9);
            if (s > 0)
                printf("   %lld tokens: %6.1f GFLOP/s", (long long)ntok,
                       2.0 * (double)w8.rows * cols * ntok / tp / 1e9);
            if (s > 0 && ntok <= 16) /* the step's cost in one-token steps */
                printf(" = %.2f ms (%.2fx 1 token)", tp * 1e3, tp / td);
            printf("\n");
        }
        free(x); free(y); free(data); free(sb);
    }
    inf__pool_free(pool);
    return 0;
}
