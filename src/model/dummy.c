/* Dummy weight fills (see dummy.h). */
#include "model/dummy.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TABLE_BITS 12
#define TABLE_N (1u << TABLE_BITS)
#define CHUNK ((size_t)1 << 20) /* elements per work unit */
#define MAX_THREADS 8

uint16_t inf__f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* NaN */
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

uint16_t inf__f32_to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);            /* NaN */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);           /* overflow */
    if (a < 0x38800000u) {                                             /* subnormal */
        float af;
        memcpy(&af, &a, 4);
        /* Adding 0.5 makes the FPU round the value into the low bits. */
        float r = af + 0.5f;
        uint32_t ru;
        memcpy(&ru, &r, 4);
        return (uint16_t)(sign | (ru - 0x3f000000u));
    }
    uint32_t mant_odd = (a >> 13) & 1;
    a += 0xc8000fffu + mant_odd; /* rebias exponent (-112 << 23) and round */
    return (uint16_t)(sign | (a >> 13));
}

static uint64_t splitmix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static inline uint64_t xorshift(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

typedef struct fill_ctx {
    const inf__fill_job *jobs;
    size_t n_jobs;
    size_t *first_unit; /* [n_jobs + 1] prefix sums of work units */
    float normal[TABLE_N];
    uint64_t seed;
    atomic_size_t next;
} fill_ctx;

static void fill_unit(fill_ctx *c, size_t j, size_t unit) {
    const inf__fill_job *job = &c->jobs[j];
    size_t begin = unit * CHUNK, end = begin + CHUNK;
    if (end > job->n) end = job->n;
    uint64_t s = splitmix(c->seed ^ splitmix(j * 0x100000001b3ull + unit)) | 1;
    if (job->kind == INF__FILL_BITS) {
        uint8_t *p = (uint8_t *)job->p + begin;
        size_t n = end - begin, i = 0;
        for (; i + 8 <= n; i += 8) {
            uint64_t r = xorshift(&s);
            memcpy(p + i, &r, 8);
        }
        for (uint64_t r = xorshift(&s); i < n; i++, r >>= 8) p[i] = (uint8_t)r;
        return;
    }
    /* The job's value table in its storage format, then indexed fills. */
    union { float f[TABLE_N]; uint16_t h[TABLE_N]; } tab;
    for (unsigned i = 0; i < TABLE_N; i++) {
        float v = job->kind == INF__FILL_CONST ? job->mean : job->mean + job->std * c->normal[i];
        if (job->dtype == INF__DT_F32) tab.f[i] = v;
        else if (job->dtype == INF__DT_F16) tab.h[i] = inf__f32_to_f16(v);
        else tab.h[i] = inf__f32_to_bf16(v);
    }
    size_t i = begin;
    if (job->dtype == INF__DT_F32) {
        float *p = job->p;
        while (i < end) {
            uint64_t r = xorshift(&s);
            for (int k = 0; k < 5 && i < end; k++, i++, r >>= TABLE_BITS)
                p[i] = tab.f[r & (TABLE_N - 1)];
        }
    } else {
        uint16_t *p = job->p;
        /* Four values per 64-bit store: the fill is bound by memory writes. */
        for (; i + 4 <= end; i += 4) {
            uint64_t r = xorshift(&s);
            uint64_t v = (uint64_t)tab.h[r & (TABLE_N - 1)] |
                         (uint64_t)tab.h[(r >> 12) & (TABLE_N - 1)] << 16 |
                         (uint64_t)tab.h[(r >> 24) & (TABLE_N - 1)] << 32 |
                         (uint64_t)tab.h[(r >> 36) & (TABLE_N - 1)] << 48;
            memcpy(p + i, &v, 8);
        }
        for (uint64_t r = xorshift(&s); i < end; i++, r >>= TABLE_BITS)
            p[i] = tab.h[r & (TABLE_N - 1)];
    }
}

static void *worker(void *arg) {
    fill_ctx *c = arg;
    size_t total = c->first_unit[c->n_jobs];
    for (;;) {
        size_t u = atomic_fetch_add(&c->next, 1);
        if (u >= total) break;
        size_t j = 0;
        while (c->first_unit[j + 1] <= u) j++; /* few jobs per model: linear is fine */
        fill_unit(c, j, u - c->first_unit[j]);
    }
    return NULL;
}

int inf__dummy_fill(const inf__fill_job *jobs, size_t n_jobs, uint64_t seed) {
    fill_ctx c;
    c.jobs = jobs;
    c.n_jobs = n_jobs;
    c.seed = seed;
    atomic_init(&c.next, 0);
    /* Normal samples by Box-Muller from the seeded generator. */
    uint64_t s = splitmix(seed) | 1;
    for (unsigned i = 0; i < TABLE_N; i += 2) {
        double u1 = ((xorshift(&s) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
        double u2 = (xorshift(&s) >> 11) * (1.0 / 9007199254740992.0);
        double r = sqrt(-2.0 * log(u1));
        c.normal[i] = (float)(r * cos(2 * M_PI * u2));
        c.normal[i + 1] = (float)(r * sin(2 * M_PI * u2));
    }
    size_t *first = malloc((n_jobs + 1) * sizeof *first);
    if (!first) return INF_E_NOMEM;
    first[0] = 0;
    for (size_t j = 0; j < n_jobs; j++) first[j + 1] = first[j] + (jobs[j].n + CHUNK - 1) / CHUNK;
    c.first_unit = first;
    long nproc = sysconf(_SC_NPROCESSORS_ONLN);
    int nt = nproc < 1 ? 1 : nproc > MAX_THREADS ? MAX_THREADS : (int)nproc;
    if ((size_t)nt > first[n_jobs]) nt = first[n_jobs] ? (int)first[n_jobs] : 1;
    pthread_t th[MAX_THREADS];
    int started = 0;
    for (int t = 1; t < nt; t++)
        if (pthread_create(&th[started], NULL, worker, &c) == 0) started++;
    worker(&c); /* this thread works too; alone if thread creation failed */
    for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
    free(first);
    return INF_OK;
}
