/* Micro-benchmark of the cpu backend's ggml block formats (not a test).
 *
 *   bench_ggml [-r ROWS] [-c COLS] [-n TOKENS] [-k RUNS] [-m COPIES] [-s SETS] [-u] [-f TYPES]
 *
 * For Q8_0, Q4_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, MLX8, MLX4 (and BF16 beside them for scale): matmul of a
 * ROWS x COLS matrix (default 2048 x 2048) of random blocks with 1 token
 * and with TOKENS tokens (default 64) (TYPES: a comma list to pick), for each exact kernel set this
 * processor has (reference, avx2, avx512; SETS: a comma list to pick).
 * Reports the median of RUNS (default 9) calls: microseconds per call, GB/s
 * of weights read, tokens/s of this matrix (n / time), and GFLOP/s.  One
 * thread, timed in process CPU time (the shared machine's neighbours do
 * not count).  In the fast set BF16 runs repacked, as the forward pass
 * holds it (kernels.h: pack; "BF16r", "Q4_0r", ...; -u: as stored instead).  COPIES (default 1) distinct
 * matrices are cycled through so
 * that, with enough of them, the weights come from memory instead of the
 * caches (a 2048 x 2048 Q4_0 matrix is 2.4 MB). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backends/cpu/kernels.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

typedef struct fmt { inf__wfmt f; const char *name; int elems, bytes, d_off[2]; } fmt;
static const fmt FMTS[] = {
    {INF__W_BF16, "BF16", 1, 2, {-1, -1}},
    {INF__W_Q8_0, "Q8_0", 32, 34, {0, -1}},
    {INF__W_Q4_0, "Q4_0", 32, 18, {0, -1}},
    {INF__W_Q2_K, "Q2_K", 256, 84, {80, 82}},
    {INF__W_Q3_K, "Q3_K", 256, 110, {108, -1}},
    {INF__W_Q4_K, "Q4_K", 256, 144, {0, 2}},
    {INF__W_Q5_K, "Q5_K", 256, 176, {0, 2}},
    {INF__W_Q6_K, "Q6_K", 256, 210, {208, -1}},
    /* MLX 8-bit and 4-bit, group 64, bf16 scales and biases (the values'
     * bytes + 4 per group; as make_mlx below) */
    {INF__W_MLX8, "MLX8", 64, 68, {-1, -1}},
    {INF__W_MLX4, "MLX4", 64, 36, {-1, -1}},
};

/* w's values, scales and biases for MLX (group 64, bf16 scales near 2^-7,
 * biases near -1). */
static void make_mlx(inf__weight *w, int bits) {
    const int64_t n = w->rows * w->cols * bits / 8, ng = w->rows * w->cols / 64;
    uint8_t *v = malloc((size_t)n);
    uint16_t *sc = malloc((size_t)ng * 2), *bi = malloc((size_t)ng * 2);
    for (int64_t i = 0; i < n; i++) v[i] = (uint8_t)rnd();
    for (int64_t g = 0; g < ng; g++) {
        sc[g] = (uint16_t)(0x3c00 | (rnd() & 0x7f));
        bi[g] = (uint16_t)(0xbf80 | (rnd() & 0x7f));
    }
    w->data = v;
    w->scales = sc;
    w->biases = bi;
    w->sb_dtype = INF__DT_BF16;
    w->bits = bits;
    w->group = 64;
}

/* Random blocks with f16 scales near 2^-6 (finite, moderate values). */
static void *make_data(const fmt *f, int64_t rows, int64_t cols) {
    const int64_t nb = rows * cols / f->elems;
    uint8_t *d = malloc((size_t)(nb * f->bytes));
    for (int64_t i = 0; i < nb * f->bytes; i++) d[i] = (uint8_t)rnd();
    for (int64_t b = 0; b < nb; b++)
        for (int j = 0; j < 2; j++)
            if (f->d_off[j] >= 0) {
                const uint16_t h = (uint16_t)((9u << 10) | (rnd() & 0x3ff));
                memcpy(d + b * f->bytes + f->d_off[j], &h, 2);
            }
    if (f->f == INF__W_BF16)
        for (int64_t i = 0; i < nb; i++) {
            const uint16_t h = (uint16_t)(0x3c00 | (rnd() & 0x7f) | (rnd() & 1) << 15);
            memcpy(d + 2 * i, &h, 2);
        }
    return d;
}

static int cmp(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* x's row stride: padded as the forward pass pads its activations
 * (cpu_backend.c: rows exactly 4 KiB apart share L1 sets). */
#define LDX(cols) ((cols) + 16)

/* One product as the forward pass runs it: with the fast set's integer
 * kernels x is rounded first (timed too). */
static void run_mm(const inf__cpu_kernels *k, const inf__weight *w, const float *x, int64_t n,
                   float *y, inf__cpu_xq *xq) {
    if (k->q8_takes && k->q8_takes(w, n)) {
        xq->n = n;
        xq->cols = w->cols;
        k->q8_quantize(x, LDX(w->cols), 0, n, xq);
        k->matmul_q8(w, xq, y, w->rows, 0, w->rows);
    } else {
        k->matmul_rows(w, x, LDX(w->cols), n, y, w->rows, 0, w->rows);
    }
}

int main(int argc, char **argv) {
    int64_t rows = 2048, cols = 2048, ntok = 64;
    int runs = 9, copies = 1, as_stored = 0;
    const char *sets = "reference,avx2,avx512,fast", *types = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "r:c:n:k:m:s:uf:")) != -1) {
        switch (opt) {
        case 'r': rows = atoll(optarg); break;
        case 'c': cols = atoll(optarg); break;
        case 'n': ntok = atoll(optarg); break;
        case 'k': runs = atoi(optarg); break;
        case 'm': copies = atoi(optarg); break;
        case 's': sets = optarg; break;
        case 'u': as_stored = 1; break;
        case 'f': types = optarg; break;
        default:
            fprintf(stderr, "usage: bench_ggml [-r ROWS] [-c COLS] [-n TOKENS] [-k RUNS] [-m COPIES] [-s SETS] [-u] [-f TYPES]\n");
            return 2;
        }
    }
    if (cols % 256 || rows <= 0 || ntok <= 0 || runs <= 0 || copies <= 0 || runs > 99) {
        fprintf(stderr, "bench_ggml: COLS must be a multiple of 256, sizes positive, RUNS at most 99\n");
        return 2;
    }
    float *x = malloc((size_t)(ntok * LDX(cols)) * sizeof(float));
    float *y = malloc((size_t)(ntok * rows) * sizeof(float));
    for (int64_t i = 0; i < ntok * LDX(cols); i++) x[i] = (float)(rnd() % 2001) / 1000.0f - 1.0f;
    printf("matrix %lld x %lld, %d cop%s, median of %d, 1 thread (CPU time)\n", (long long)rows,
           (long long)cols, copies, copies == 1 ? "y" : "ies", runs);
    printf("%-10s %-5s %6s %10s %8s %10s %8s\n", "set", "type", "tokens", "us/call", "GB/s", "tok/s",
           "GFLOP/s");
    inf__cpu_xq xq = {0, cols, cols, malloc((size_t)(ntok * cols)),
                      malloc((size_t)(ntok * cols / 32) * 4), malloc((size_t)(ntok * cols / 32) * 4)};
    static const char *names[] = {"reference", "avx2", "avx512", "fast"};
    for (int si = 0; si < 4; si++) {
        if (!strstr(sets, names[si])) continue;
        const inf__cpu_kernels *k =
            si == 3 ? inf__cpu_kernels_fast() : inf__cpu_kernels_select(names[si]);
        if (si < 3 && strcmp(k->name, names[si]) != 0) {
            printf("%-10s (not available here)\n", names[si]);
            continue;
        }
        for (size_t fi = 0; fi < sizeof FMTS / sizeof FMTS[0]; fi++) {
            const fmt *f = &FMTS[fi];
            if (types && !strstr(types, f->name)) continue;
            inf__weight *w = calloc((size_t)copies, sizeof *w);
            for (int c = 0; c < copies; c++) {
                w[c].fmt = f->f;
                w[c].rows = rows;
                w[c].cols = cols;
                if (f->f == INF__W_MLX8 || f->f == INF__W_MLX4) make_mlx(&w[c], f->f == INF__W_MLX8 ? 8 : 4);
                else w[c].data = make_data(f, rows, cols);
                /* the fast set's own layout, as the forward pass holds it */
                const int64_t pb = k->pack_bytes && !as_stored ? k->pack_bytes(&w[c]) : 0;
                if (pb > 0) {
                    const inf__weight orig = w[c];
                    void *buf = aligned_alloc(64, (size_t)(pb + 63) / 64 * 64);
                    k->pack(&orig, 0, rows, buf, &w[c]);
                    free((void *)orig.data);
                    free((void *)orig.scales);
                    free((void *)orig.biases);
                }
            }
            const double bytes = (double)rows * cols / f->elems * f->bytes;
            const int64_t toks[2] = {1, ntok};
            for (int ti = 0; ti < 2; ti++) {
                const int64_t n = toks[ti];
                /* The reference set at 64 tokens takes seconds: fewer runs. */
                const int nr = si == 0 && n > 1 ? 3 : runs;
                double t[99];
                run_mm(k, &w[0], x, n, y, &xq); /* warm-up */
                for (int r = 0; r < nr; r++) {
                    const double t0 = now();
                    run_mm(k, &w[r % copies], x, n, y, &xq);
                    t[r] = now() - t0;
                }
                qsort(t, (size_t)nr, sizeof t[0], cmp);
                const double med = t[nr / 2];
                char label[16];
                snprintf(label, sizeof label, "%s%s", f->name, w[0].fmt != f->f ? "r" : "");
                printf("%-10s %-5s %6lld %10.1f %8.2f %10.1f %8.2f\n", names[si], label, (long long)n,
                       med * 1e6, bytes / med / 1e9, (double)n / med, 2.0 * rows * cols * n / med / 1e9);
            }
            for (int c = 0; c < copies; c++) {
                free((void *)w[c].data);
                free((void *)w[c].scales);
                free((void *)w[c].biases);
            }
            free(w);
        }
    }
    free(x);
    free(y);
    free(xq.q), free(xq.d), free(xq.s);
    return 0;
}
