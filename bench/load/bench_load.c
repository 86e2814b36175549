/*
 * What inf_load_options.copy_weights costs (issue 14), side by side with
 * mapping the weight files, repeated and alternated (mapped, copied,
 * mapped, ...), median and range:
 *
 *   load      inf_model_load until it returns
 *   first     load + the logits of 8 tokens: a mapped model reads its
 *             weights from the page cache on this first forward pass, a
 *             copied one has read them all during the load, so this is the
 *             fair "time until the first answer"
 *   +RSS      resident memory after that first pass, minus before the
 *             load: anonymous (a copy) and file-backed (a mapping's pages)
 *
 *   bench_load [-m DIR|FILE.gguf] [-r REPS] [-t THREADS]
 *   (default: the bundled brown-llama-8m, 5 reps, one thread per core)
 *
 * The files are in the page cache (a first, unmeasured load of each mode
 * warms it): this is the cost of the copy itself, not of the disk.  A cold
 * cache adds the same disk read to both modes, on the first pass instead of
 * the load for a mapped model.  Not a test: prints numbers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "inference.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Resident bytes of this process from /proc/self/status: anonymous
 * (private: a copy counts here, and only swap can take it back) and
 * file-backed (mapped weights: page cache the kernel may drop and re-read,
 * shared with other processes mapping the same file). */
static void rss_bytes(double *anon, double *file) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb;
    *anon = *file = 0;
    while (f && fgets(line, sizeof line, f)) {
        if (sscanf(line, "RssAnon: %ld kB", &kb) == 1) *anon = (double)kb * 1024;
        else if (sscanf(line, "RssFile: %ld kB", &kb) == 1) *file = (double)kb * 1024;
    }
    if (f) fclose(f);
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One load in `copy` mode: fills load and first seconds, RSS growth
 * (anonymous, file-backed). */
static int one(const char *dir, int copy, int threads, double *load, double *first,
               double *anon, double *file) {
    inf_load_options lo;
    inf_load_options_default(&lo);
    lo.copy_weights = copy;
    lo.n_threads = threads;
    lo.parallel_slots = 1;
    lo.context_length = 256;
    double a0, f0;
    rss_bytes(&a0, &f0);
    double t0 = now_s();
    inf_model *m = NULL;
    char *err = NULL;
    int rc = inf_model_load(dir, &lo, &m, &err);
    double t1 = now_s();
    if (rc != INF_OK) {
        fprintf(stderr, "cannot load %s: %s\n", dir, err ? err : "");
        inf_free(err);
        return rc;
    }
    int32_t ids[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    float *lg = NULL;
    int32_t vocab = 0;
    rc = inf_model_logits(m, ids, 8, &lg, &vocab, &err);
    double t2 = now_s();
    rss_bytes(anon, file);
    *anon -= a0;
    *file -= f0;
    if (rc != INF_OK) fprintf(stderr, "logits: %s\n", err ? err : "");
    inf_free(lg);
    inf_free(err);
    inf_model_close(&m);
    *load = t1 - t0;
    *first = t2 - t0;
    return rc;
}

int main(int argc, char **argv) {
    const char *dir = INF_SOURCE_DIR "/models/brown-llama-8m";
    int reps = 5, threads = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-m") == 0 && i + 1 < argc) dir = argv[++i];
        else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_load [-m DIR|FILE.gguf] [-r REPS] [-t THREADS]\n");
            return 2;
        }
    }
    if (reps < 1) reps = 1;
    double *v = calloc((size_t)reps * 8, sizeof *v); /* [mode][what][rep] */
    if (!v) return 1;
    double l, f, a, fb;
    for (int copy = 0; copy < 2; copy++) /* warm the page cache, unmeasured */
        if (one(dir, copy, threads, &l, &f, &a, &fb) != INF_OK) return 1;
    for (int i = 0; i < reps; i++)
        for (int copy = 0; copy < 2; copy++) {
            double *b = v + (size_t)copy * 4 * reps;
            if (one(dir, copy, threads, &b[i], &b[reps + i], &b[2 * reps + i],
                    &b[3 * reps + i]) != INF_OK)
                return 1;
        }
    printf("%s, %d reps alternated, page cache warm\n", dir, reps);
    printf("%-8s %-26s %-26s %s\n", "mode", "load s: median [min,max]",
           "first s: median [min,max]", "+RSS MiB anon / file (median)");
    for (int copy = 0; copy < 2; copy++) {
        double *b = v + (size_t)copy * 4 * reps;
        for (int k = 0; k < 4; k++) qsort(b + k * reps, (size_t)reps, sizeof *b, cmp_d);
        printf("%-8s %.3f [%.3f,%.3f]        %.3f [%.3f,%.3f]        %.1f / %.1f\n",
               copy ? "copied" : "mapped", b[reps / 2], b[0], b[reps - 1], b[reps + reps / 2],
               b[reps], b[2 * reps - 1], b[2 * reps + reps / 2] / 1048576.0,
               b[3 * reps + reps / 2] / 1048576.0);
    }
    free(v);
    return 0;
}
