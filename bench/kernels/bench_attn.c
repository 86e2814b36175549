/* Micro-benchmark of the cpu backend's attention kernels (not a test).
 *
 *   bench_attn [-q ROWS] [-m KEYS] [-d HEAD_DIM] [-k RUNS] [-s SETS] [-x]
 *
 * One prefill attention block as forward.c runs it: ROWS query rows
 * (default 32: CPU_ATT_QUERY_ROWS, 16 tokens x 2 heads of a KV group)
 * against KEYS keys and values (default 256) of HEAD_DIM (default 128),
 * the cache in f16 (precision fast; -x: f32, as precision exact), the
 * scores (attn_scores[_f16]), a softmax per row and the weighted values
 * (attn_values[_f16]), for each kernel set this processor has (SETS: a
 * comma list to pick; default: all).  Reports the median [min-max] of RUNS
 * (default 11) timings of 200 calls each, in microseconds per call and
 * GFLOP/s (2 ROWS KEYS HEAD_DIM per product), one thread, in process CPU
 * time (the shared machine's neighbours do not count). */
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

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static float frand(uint64_t *st) {
    *st = *st * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((*st >> 40) & 0xffffff) / (float)0x1000000 - 0.5f;
}

typedef struct case_ {
    const inf__cpu_kernels *k;
    int nq, f16;
    int64_t m, hd, lds;
    const float *q, *kf, *vf;
    const uint16_t *kh, *vh;
    float *s, *o;
} case_;

enum { OP_SCORES, OP_SOFTMAX, OP_VALUES };

static void run_op(const case_ *c, int op) {
    switch (op) {
    case OP_SCORES:
        if (c->f16) c->k->attn_scores_f16(c->q, c->nq, c->kh, c->hd, c->m, c->hd, 0.088f, c->s, c->lds);
        else c->k->attn_scores(c->q, c->nq, c->kf, c->hd, c->m, c->hd, 0.088f, c->s, c->lds);
        break;
    case OP_SOFTMAX:
        for (int r = 0; r < c->nq; r++) c->k->softmax(c->s + r * c->lds, c->m);
        break;
    default:
        if (c->f16) c->k->attn_values_f16(c->s, c->lds, c->nq, c->vh, c->hd, c->m, c->hd, c->o, 0);
        else c->k->attn_values(c->s, c->lds, c->nq, c->vf, c->hd, c->m, c->hd, c->o, 0);
        break;
    }
}

int main(int argc, char **argv) {
    int nq = 32, runs = 11, f16 = 1, opt;
    int64_t m = 256, hd = 128;
    const char *sets = NULL;
    while ((opt = getopt(argc, argv, "q:m:d:k:s:x")) != -1) {
        switch (opt) {
        case 'q': nq = atoi(optarg); break;
        case 'm': m = atoll(optarg); break;
        case 'd': hd = atoll(optarg); break;
        case 'k': runs = atoi(optarg); break;
        case 's': sets = optarg; break;
        case 'x': f16 = 0; break;
        default:
            fprintf(stderr, "usage: bench_attn [-q ROWS] [-m KEYS] [-d HEAD_DIM] [-k RUNS] [-s SETS] [-x]\n");
            return 2;
        }
    }
    if (nq < 1 || m < 1 || hd < 16 || hd % 16 || runs < 1 || runs > 1000) {
        fprintf(stderr, "bench_attn: ROWS, KEYS >= 1, HEAD_DIM a multiple of 16, RUNS in [1, 1000]\n");
        return 2;
    }
    const int64_t lds = (m + 15) / 16 * 16 + 16;
    float *q = malloc(sizeof(float) * (size_t)(nq * hd)), *kf = malloc(sizeof(float) * (size_t)(m * hd));
    float *vf = malloc(sizeof(float) * (size_t)(m * hd)), *s = malloc(sizeof(float) * (size_t)(nq * lds));
    float *o = malloc(sizeof(float) * (size_t)(nq * hd));
    double *times = malloc(sizeof(double) * (size_t)runs);
    uint16_t *kh = malloc(sizeof(uint16_t) * (size_t)(m * hd)), *vh = malloc(sizeof(uint16_t) * (size_t)(m * hd));
    if (!q || !kf || !vf || !s || !o || !times || !kh || !vh) {
        fprintf(stderr, "bench_attn: out of memory\n");
        return 1;
    }
    uint64_t st = 42;
    for (int64_t i = 0; i < nq * hd; i++) q[i] = frand(&st);
    for (int64_t i = 0; i < m * hd; i++) kf[i] = frand(&st), vf[i] = frand(&st);
    const char *names[] = {"reference", "avx2", "avx512", "avx512-fast"};
    printf("attention block: %d query rows x %lld keys, head dim %lld, cache %s; median [min-max] of %d, "
           "1 thread (CPU time)\n",
           nq, (long long)m, (long long)hd, f16 ? "f16" : "f32", runs);
    printf("%-12s %-8s %24s %9s\n", "set", "op", "us/call", "GFLOP/s");
    for (size_t ni = 0; ni < sizeof names / sizeof *names; ni++) {
        if (sets && !strstr(sets, names[ni])) continue;
        const inf__cpu_kernels *k =
            strcmp(names[ni], "avx512-fast") == 0 ? inf__cpu_kernels_fast() : inf__cpu_kernels_select(names[ni]);
        if (!k || strcmp(k->name, names[ni]) != 0) continue; /* not on this processor */
        k->kv_round(kf, kh, m * hd);
        k->kv_round(vf, vh, m * hd);
        case_ c = {k, nq, f16, m, hd, lds, q, kf, vf, kh, vh, s, o};
        const char *ops[] = {"scores", "softmax", "values"};
        for (int op = OP_SCORES; op <= OP_VALUES; op++) {
            enum { CALLS = 200 };
            for (int r = 0; r < runs; r++) {
                const double t0 = now();
                for (int i = 0; i < CALLS; i++) {
                    /* softmax works in place: start each call from scores */
                    if (op == OP_SOFTMAX) run_op(&c, OP_SCORES);
                    run_op(&c, op);
                }
                times[r] = (now() - t0) / CALLS;
            }
            if (op == OP_SOFTMAX) { /* less the scores that fed it */
                double ts[1000];
                for (int r = 0; r < runs; r++) {
                    const double t0 = now();
                    for (int i = 0; i < CALLS; i++) run_op(&c, OP_SCORES);
                    ts[r] = (now() - t0) / CALLS;
                }
                qsort(ts, (size_t)runs, sizeof *ts, cmp_double);
                for (int r = 0; r < runs; r++) times[r] -= ts[runs / 2];
            }
            qsort(times, (size_t)runs, sizeof *times, cmp_double);
            const double med = times[runs / 2], fl = 2.0 * nq * (double)m * (double)hd;
            char span[64];
            snprintf(span, sizeof span, "%.2f [%.2f-%.2f]", med * 1e6, times[0] * 1e6, times[runs - 1] * 1e6);
            if (op == OP_SOFTMAX) printf("%-12s %-8s %24s %9s\n", k->name, ops[op], span, "-");
            else printf("%-12s %-8s %24s %9.1f\n", k->name, ops[op], span, fl / med / 1e9);
        }
    }
    free(q), free(kf), free(vf), free(s), free(o), free(times), free(kh), free(vh);
    return 0;
}
