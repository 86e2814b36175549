/*
 * Issue 16's serving targets on a native model (default: the bundled
 * brown-llama-8m on the cpu backend), each measured side by side in one
 * run with the feature on and off, repeated and alternated, median and
 * range.  Token-id prompts (pseudo-random ids): the timings do not depend
 * on the words.
 *
 *   bench_kv [-m MODEL] [-r REPS] [-t THREADS] [-c CHUNK] [-k MIB] [SCENARIO...]
 *   (-c: the fixed chunk compared in "fair", default 64; -k: kv_memory of
 *   the "fair" models in MiB, default context x slots, which for a real
 *   model such as Qwen3-0.6B (4608 x 9 positions, 112 KiB each in f16) is
 *   4.5 GiB per model: "fair" loads four)
 *
 *   chat     TTFT of a chat's second turn (900-token first turn + 16
 *            generated + 24 new tokens) against the cold first turn; cache
 *            on vs off.  Target: turn 2 <= 10% of turn 1.
 *   shared   16 concurrent clients, one 1,000-token system prompt, 40
 *            different tokens each, 16 generated: total time and the
 *            prefix-cache hit rate; cache on vs off.  Target: >= 3x.
 *            (context 2048: the model's 1,024 positions cannot hold 1,040;
 *            context_length raises it, the same weights, speed is what is
 *            measured.)
 *   memory   64 concurrent streams of 256 positions (128 prompt + 128
 *            generated) with kv_memory = 8 full 2,048-token slots: how many
 *            run at once, blocks used at peak.
 *   fair     8 streams decode; a 4,000-token prompt arrives; the gaps
 *            between their tokens (p50/p90/p99/max, and the max relative to
 *            the normal step before the prompt came) with adaptive chunks,
 *            64-row chunks and no chunking (context 4608).
 *
 * Not a test: prints numbers; the targets are judged in the text.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inference.h"

static const char *g_dir = INF_SOURCE_DIR "/models/brown-llama-8m";
static int g_reps = 5, g_threads = 0, g_chunk = 64;
static int64_t g_fair_kv = 0; /* -k, bytes */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void rand_ids(uint64_t seed, int32_t *ids, size_t n) {
    uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 12345;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ids[i] = (int32_t)(100 + x % 30000);
    }
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median, min, max of v[n] (sorts v). */
static void stats(double *v, int n, double *med, double *lo, double *hi) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    *med = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    *lo = v[0];
    *hi = v[n - 1];
}

static double pct(const double *sorted, int n, double p) {
    int i = (int)(p * (n - 1) + 0.5);
    return sorted[i < 0 ? 0 : i >= n ? n - 1 : i];
}

static inf_model *load(int32_t ctx, int32_t slots, int64_t kv_memory, int no_cache,
                       int32_t chunk) {
    inf_load_options lo;
    inf_load_options_default(&lo);
    lo.backend = "cpu";
    lo.context_length = ctx;
    lo.parallel_slots = slots;
    lo.n_threads = g_threads;
    lo.kv_memory = kv_memory;
    lo.no_prefix_cache = no_cache;
    lo.prefill_chunk = chunk;
    inf_model *m = NULL;
    char *err = NULL;
    if (inf_model_load(g_dir, &lo, &m, &err) != INF_OK) {
        fprintf(stderr, "bench_kv: load %s: %s\n", g_dir, err ? err : "");
        exit(1);
    }
    inf_free(err);
    return m;
}

/* One stream: submit time, token times, generated ids. */
typedef struct job {
    inf_model *m;
    const int32_t *ids;
    size_t n;
    int32_t max_tokens;
    double t_submit, t_first, t_end;
    double *times; /* [max_tokens] arrival of each token, or NULL */
    int32_t out[256];
    int n_out;
    inf_metrics met;
    atomic_int *started; /* counts first tokens (or NULL) */
} job;

static void *job_fn(void *arg) {
    job *j = arg;
    inf_generate_options o;
    inf_generate_options_default(&o);
    o.max_tokens = j->max_tokens;
    o.ignore_eos = 1;
    o.prompt_ids = j->ids;
    o.n_prompt_ids = j->n;
    inf_stream *s = NULL;
    j->t_submit = now();
    j->n_out = 0;
    if (inf_generate(j->m, NULL, &o, &s) != INF_OK) {
        fprintf(stderr, "bench_kv: generate failed\n");
        exit(1);
    }
    inf_token t;
    int k = 0;
    while (inf_stream_next(s, &t) == 1) {
        double tt = now();
        if (k == 0) {
            j->t_first = tt;
            if (j->started) atomic_fetch_add(j->started, 1);
        }
        if (j->times && k < j->max_tokens) j->times[k] = tt;
        if (j->n_out < 256) j->out[j->n_out++] = t.id;
        k++;
    }
    if (inf_stream_err(s) != INF_OK) {
        fprintf(stderr, "bench_kv: stream failed: %s\n", inf_stream_errmsg(s));
        exit(1);
    }
    inf_stream_metrics(s, &j->met);
    j->t_end = now();
    inf_stream_close(&s);
    return NULL;
}

static void run1(job *j) { job_fn(j); }

/* ---- chat second turn ---------------------------------------------------- */

static void bench_chat(void) {
    printf("\n== chat: TTFT of turn 2 (history 900 + 16 generated + 24 new tokens) vs cold turn 1 (900 tokens)\n");
    inf_model *m[2] = {load(1024, 4, 0, 0, 0), load(1024, 4, 0, 1, 0)};
    const char *name[2] = {"cache on", "cache off"};
    double t1[2][64], t2[2][64], ratio[2][64];
    int32_t *h = malloc(2048 * sizeof *h);
    for (int r = 0; r < g_reps; r++) {
        for (int c = 0; c < 2; c++) { /* alternated */
            rand_ids((uint64_t)(1000 + r * 2 + c), h, 900);
            job a = {.m = m[c], .ids = h, .n = 900, .max_tokens = 16};
            run1(&a);
            /* turn 2: the history, the reply, a new user message */
            memcpy(h + 900, a.out, 16 * sizeof *h);
            rand_ids((uint64_t)(5000 + r * 2 + c), h + 916, 24);
            job b = {.m = m[c], .ids = h, .n = 940, .max_tokens = 4};
            run1(&b);
            t1[c][r] = a.t_first - a.t_submit;
            t2[c][r] = b.t_first - b.t_submit;
            ratio[c][r] = t2[c][r] / t1[c][r];
            if (c == 0 && r == 0)
                printf("   turn 2 cached prompt tokens: %lld of 940\n",
                       (long long)b.met.cached_prompt_tokens);
        }
    }
    printf("   %-10s %28s %28s %24s\n", "", "turn 1 TTFT ms med [min,max]",
           "turn 2 TTFT ms med [min,max]", "turn2/turn1 med [min,max]");
    for (int c = 0; c < 2; c++) {
        double a, b, d, e, f, g;
        stats(t1[c], g_reps, &a, &b, &d);
        stats(t2[c], g_reps, &e, &f, &g);
        double rm, rl, rh;
        stats(ratio[c], g_reps, &rm, &rl, &rh);
        printf("   %-10s %9.2f [%7.2f,%7.2f]   %9.2f [%7.2f,%7.2f]   %5.1f%% [%4.1f%%,%4.1f%%]\n", name[c],
               a * 1e3, b * 1e3, d * 1e3, e * 1e3, f * 1e3, g * 1e3, rm * 100, rl * 100, rh * 100);
    }
    free(h);
    inf_model_close(&m[0]);
    inf_model_close(&m[1]);
}

/* ---- shared system prompt ------------------------------------------------ */

static double shared_once(inf_model *m, uint64_t seed, double *ttft_med) {
    enum { N = 16, SYS = 1000, Q = 40 };
    static int32_t ids[N][SYS + Q];
    int32_t sys[SYS];
    rand_ids(seed, sys, SYS);
    job j[N];
    pthread_t th[N];
    memset(j, 0, sizeof j);
    double t0 = now();
    for (int i = 0; i < N; i++) {
        memcpy(ids[i], sys, sizeof sys);
        rand_ids(seed * 100 + (uint64_t)i + 1, ids[i] + SYS, Q);
        j[i] = (job){.m = m, .ids = ids[i], .n = SYS + Q, .max_tokens = 16};
        pthread_create(&th[i], NULL, job_fn, &j[i]);
    }
    double tt[N];
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        tt[i] = j[i].t_first - j[i].t_submit;
    }
    double lo, hi;
    stats(tt, N, ttft_med, &lo, &hi);
    return now() - t0;
}

static void bench_shared(void) {
    printf("\n== shared: 16 concurrent clients, same 1,000-token system prompt + 40 own tokens, 16 generated (ctx 2048, parallel 16)\n");
    inf_model *m[2] = {load(2048, 16, 0, 0, 0), load(2048, 16, 0, 1, 0)};
    const char *name[2] = {"cache on", "cache off"};
    double tot[2][64], ttft[2][64];
    for (int r = 0; r < g_reps; r++)
        for (int c = 0; c < 2; c++) tot[c][r] = shared_once(m[c], (uint64_t)(77 + r * 2 + c), &ttft[c][r]);
    double med[2];
    printf("   %-10s %26s %26s\n", "", "total s med [min,max]", "TTFT med-of-16 s med [min,max]");
    for (int c = 0; c < 2; c++) {
        double lo, hi, a, b, d;
        stats(tot[c], g_reps, &med[c], &lo, &hi);
        stats(ttft[c], g_reps, &a, &b, &d);
        printf("   %-10s %8.3f [%6.3f,%6.3f]   %8.3f [%6.3f,%6.3f]\n", name[c], med[c], lo, hi, a, b, d);
    }
    printf("   speed-up (median total, off / on): %.2fx\n", med[1] / med[0]);
    inf_metrics mm;
    inf_model_metrics(m[0], &mm);
    printf("   cache on, since load: prefix lookup %lld tokens, hit %lld (%.1f%%); per run the system prompt\n"
           "   is prefilled once: 16 x 1040 prompt tokens, of which 15 x 992 could be hits (%.1f%%)\n",
           (long long)mm.prefix_lookup_tokens, (long long)mm.prefix_hit_tokens,
           mm.prefix_lookup_tokens ? 100.0 * mm.prefix_hit_tokens / mm.prefix_lookup_tokens : 0.0,
           100.0 * 15 * 992 / (16 * 1040));
    inf_model_close(&m[0]);
    inf_model_close(&m[1]);
}

/* ---- memory --------------------------------------------------------------- */

typedef struct sampler {
    inf_model *m;
    atomic_int stop;
    int64_t peak_used;
} sampler;

static void *sample_fn(void *arg) {
    sampler *s = arg;
    while (!atomic_load(&s->stop)) {
        inf_metrics mm;
        inf_model_metrics(s->m, &mm);
        if (mm.kv_blocks_used > s->peak_used) s->peak_used = mm.kv_blocks_used;
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void bench_memory(void) {
    enum { N = 64, P = 128, G = 128 };
    printf("\n== memory: %d concurrent streams of %d positions (%d prompt + %d generated), parallel %d, ctx 2048\n", N,
           P + G, P, G, N);
    const int64_t tok_bytes = 2LL * 6 * 64 * 4; /* brown: 6 layers, kv_dim 64, f32 K and V */
    const int64_t kvm = 8LL * 2048 * tok_bytes;
    printf("   kv_memory = 8 x 2048 positions x %lld B = %.1f MiB (per-slot caches for %d streams: %.1f MiB)\n",
           (long long)tok_bytes, kvm / 1048576.0, N, (double)N * 2048 * tok_bytes / 1048576.0);
    /* Prompts in whole 512-row steps (not the adaptive chunks that favour
     * running streams), so that all 64 are resident at once. */
    inf_model *m = load(2048, N, kvm, 0, 512);
    static int32_t ids[N][P];
    double wall[64];
    int conc_min = N;
    int64_t peak = 0, total = 0, evict = 0;
    for (int r = 0; r < g_reps; r++) {
        job j[N];
        pthread_t th[N];
        memset(j, 0, sizeof j);
        atomic_int started = 0;
        sampler sm = {.m = m};
        pthread_t st;
        pthread_create(&st, NULL, sample_fn, &sm);
        double t0 = now();
        for (int i = 0; i < N; i++) {
            rand_ids((uint64_t)(r * 1000 + i), ids[i], P);
            j[i] = (job){.m = m, .ids = ids[i], .n = P, .max_tokens = G, .started = &started};
            pthread_create(&th[i], NULL, job_fn, &j[i]);
        }
        for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
        wall[r] = now() - t0;
        atomic_store(&sm.stop, 1);
        pthread_join(st, NULL);
        /* Streams running at once: those whose first token came before
         * the first stream ended. */
        double first_end = 1e30;
        for (int i = 0; i < N; i++) first_end = j[i].t_end < first_end ? j[i].t_end : first_end;
        int conc = 0;
        for (int i = 0; i < N; i++) conc += j[i].t_first <= first_end;
        conc_min = conc < conc_min ? conc : conc_min;
        peak = sm.peak_used > peak ? sm.peak_used : peak;
        inf_metrics mm;
        inf_model_metrics(m, &mm);
        total = mm.kv_blocks_total;
        evict = mm.kv_evictions;
    }
    double med, lo, hi;
    stats(wall, g_reps, &med, &lo, &hi);
    printf("   pool %lld blocks of 32; peak blocks used %lld; streams running at once (min over runs) %d of %d\n",
           (long long)total, (long long)peak, conc_min, N);
    printf("   wall per run: %.3f s [%.3f, %.3f]; evictions since load %lld\n", med, lo, hi, (long long)evict);
    inf_model_close(&m);
}

/* ---- fairness ------------------------------------------------------------- */

static void bench_fair(void) {
    enum { N = 8, G = 160, LONG = 4000 };
    printf("\n== fair: %d streams decode (%d tokens each); a %d-token prompt arrives after their 30th token (ctx 4608)\n",
           N, G, LONG);
    /* The control runs the 8 streams alone: the gaps this machine gives
     * anyway (its window: from the 30th token on). */
    char fixed[32];
    snprintf(fixed, sizeof fixed, "chunk %d", g_chunk);
    const char *name[4] = {"adaptive", fixed, "no chunks", "control"};
    const int32_t chunk[4] = {0, g_chunk, -1, 0};
    inf_model *m[4];
    for (int c = 0; c < 4; c++) m[c] = load(4608, N + 1, g_fair_kv, 1, chunk[c]);
    static int32_t longp[LONG], shortp[N][16];
    static double times[N][G];
    double maxrel[4][64], p99[4][64], p50[4][64], normal[4][64], ttft_long[4][64];
    double fp99[4][64], fmax[4][64];
    static double gaps[N * G], fgaps[G];
    for (int r = 0; r < g_reps; r++) {
        for (int c = 0; c < 4; c++) {
            job j[N];
            pthread_t th[N];
            memset(j, 0, sizeof j);
            for (int i = 0; i < N; i++) {
                rand_ids((uint64_t)(r * 50 + i + 1), shortp[i], 16);
                j[i] = (job){.m = m[c], .ids = shortp[i], .n = 16, .max_tokens = G, .times = times[i]};
                pthread_create(&th[i], NULL, job_fn, &j[i]);
            }
            /* wait until every stream has 30 tokens */
            for (;;) {
                int ok = 1;
                for (int i = 0; i < N; i++) ok &= times[i][29] > 0 && times[i][29] > j[i].t_submit;
                if (ok) break;
                struct timespec ts = {0, 1000000};
                nanosleep(&ts, NULL);
            }
            rand_ids((uint64_t)(9000 + r), longp, LONG);
            job L = {.m = m[c], .ids = longp, .n = LONG, .max_tokens = 1};
            if (c < 3) {
                run1(&L);
            } else {
                L.t_submit = now();
                L.t_first = L.t_end = 1e30;
            }
            for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
            /* normal step: median gap between tokens 10..29 of all
             * streams; then every gap that overlaps the long prompt */
            int ng = 0, nn = 0;
            static double norm[N * 32];
            double worst = 0;
            for (int i = 0; i < N; i++)
                for (int k = 1; k < G; k++) {
                    double g = times[i][k] - times[i][k - 1];
                    if (k >= 10 && k < 30) norm[nn++] = g;
                    if (times[i][k] >= L.t_submit && times[i][k - 1] <= L.t_end + 0.05) {
                        gaps[ng++] = g;
                        worst = g > worst ? g : worst;
                    }
                }
            /* The first reader's gaps: token k's earliest arrival over the
             * 8 streams (they decode in the same steps) minus token k-1's.
             * A late wake-up of one reader thread (on 2 busy cores, about
             * one 4 ms scheduler tick) stretches that reader's gap but not
             * this one, so it shows the pace of the engine's steps. */
            int nf = 0;
            for (int k = 1; k < G; k++) {
                double a = 1e30, b = 1e30;
                for (int i = 0; i < N; i++) {
                    a = times[i][k] < a ? times[i][k] : a;
                    b = times[i][k - 1] < b ? times[i][k - 1] : b;
                }
                if (a >= L.t_submit && b <= L.t_end + 0.05) fgaps[nf++] = a - b;
            }
            double nm, nlo, nhi;
            stats(norm, nn, &nm, &nlo, &nhi);
            qsort(gaps, (size_t)ng, sizeof *gaps, cmp_d);
            qsort(fgaps, (size_t)nf, sizeof *fgaps, cmp_d);
            fp99[c][r] = nf ? pct(fgaps, nf, 0.99) / nm : 0;
            fmax[c][r] = nf ? fgaps[nf - 1] / nm : 0;
            normal[c][r] = nm;
            maxrel[c][r] = worst / nm;
            p99[c][r] = ng ? pct(gaps, ng, 0.99) / nm : 0;
            p50[c][r] = ng ? pct(gaps, ng, 0.5) / nm : 0;
            ttft_long[c][r] = c < 3 ? L.t_first - L.t_submit : 0;
            if (r == 0)
                printf("   %-9s run 1: normal step %.2f ms; gaps during the long prefill (%d): p50 %.2f p90 %.2f "
                       "p99 %.2f max %.2f ms; first reader's (%d): p99 %.2f max %.2f ms\n",
                       name[c], nm * 1e3, ng, ng ? pct(gaps, ng, 0.5) * 1e3 : 0, ng ? pct(gaps, ng, 0.9) * 1e3 : 0,
                       ng ? pct(gaps, ng, 0.99) * 1e3 : 0, worst * 1e3, nf, nf ? pct(fgaps, nf, 0.99) * 1e3 : 0,
                       nf ? fgaps[nf - 1] * 1e3 : 0);
            memset(times, 0, sizeof times);
        }
    }
    printf("   gaps during the long prompt's prefill, relative to the normal step of the same run; median [min,max] over runs\n");
    printf("   (first reader: the earliest of the 8 streams' arrivals of each token, the engine's pace without\n"
           "   one reader thread's late wake-up)\n");
    printf("   %-9s %22s %20s %20s %20s %20s %20s %20s\n", "", "normal step ms", "p50 gap/normal", "p99 gap/normal",
           "max gap/normal", "long prompt TTFT s", "1st reader p99", "1st reader max");
    for (int c = 0; c < 4; c++) {
        double a, b, d, e, f, g, h, i2, k, x, y, z, u, v, w, f1, f2, f3, m1, m2, m3;
        stats(fp99[c], g_reps, &f1, &f2, &f3);
        stats(fmax[c], g_reps, &m1, &m2, &m3);
        stats(normal[c], g_reps, &a, &b, &d);
        stats(maxrel[c], g_reps, &e, &f, &g);
        stats(p99[c], g_reps, &h, &i2, &k);
        stats(p50[c], g_reps, &u, &v, &w);
        stats(ttft_long[c], g_reps, &x, &y, &z);
        printf("   %-9s %6.2f [%5.2f,%5.2f] %6.2fx [%4.1f,%5.1f] %6.2fx [%4.1f,%5.1f] %6.1fx [%4.1f,%5.1f] %6.2f [%4.2f,%4.2f]"
               " %6.2fx [%4.1f,%5.1f] %6.2fx [%4.1f,%5.1f]\n",
               name[c], a * 1e3, b * 1e3, d * 1e3, u, v, w, h, i2, k, e, f, g, x, y, z, f1, f2, f3, m1, m2, m3);
        inf_model_close(&m[c]);
    }
}

int main(int argc, char **argv) {
    const char *which[8];
    int nw = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-m") && i + 1 < argc) g_dir = argv[++i];
        else if (!strcmp(argv[i], "-r") && i + 1 < argc) g_reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-t") && i + 1 < argc) g_threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-c") && i + 1 < argc) g_chunk = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-k") && i + 1 < argc) g_fair_kv = (int64_t)atoi(argv[++i]) << 20;
        else if (argv[i][0] != '-' && nw < 8) which[nw++] = argv[i];
        else {
            fprintf(stderr, "usage: bench_kv [-m MODEL] [-r REPS] [-t THREADS] [-c CHUNK] [-k MIB] [chat|shared|memory|fair ...]\n");
            return 2;
        }
    }
    if (g_reps < 1 || g_reps > 64) g_reps = 5;
    if (!nw) {
        which[nw++] = "chat";
        which[nw++] = "shared";
        which[nw++] = "memory";
        which[nw++] = "fair";
    }
    printf("bench_kv: %s, %d repetitions (alternated on/off)\n", g_dir, g_reps);
    for (int i = 0; i < nw; i++) {
        if (!strcmp(which[i], "chat")) bench_chat();
        else if (!strcmp(which[i], "shared")) bench_shared();
        else if (!strcmp(which[i], "memory")) bench_memory();
        else if (!strcmp(which[i], "fair")) bench_fair();
        else fprintf(stderr, "bench_kv: unknown scenario %s\n", which[i]);
    }
    return 0;
}
