/* Token-mask benchmark: the time of inf__matcher_fill_mask per generated
 * token, for JSON-schema grammars on a real vocabulary (Qwen3, 151k ids).
 *
 *   bench_grammar_mask [-w] [-n REPEATS] [-t TOKENIZER_DIR] [SCHEMA.json ...]
 *
 * Each SCHEMA.json holds {"schema": ..., "documents": [...]}: every
 * document is written as JSON text twice (one line with ", " / ": ", and
 * indented by 2), tokenized as a model would write it, and replayed through
 * a fresh matcher (a new request: no cached masks), timing fill_mask before
 * each token and before the end of sequence.  The grammar is compiled once
 * per schema and run: its matchers share the grammar's mask cache, so the
 * first document of a schema meets a cold cache (the "cold" line) and the
 * later ones reuse the states they have in common.  Each token must be in its
 * mask and eos at the end (else the benchmark fails: the grammar would
 * have refused the document).  REPEATS (default 5) runs of the whole set
 * give the spread.  One thread; times are the thread's CPU time (-w: wall
 * clock).  Default schemas: bench/grammar_mask/schemas. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "text/grammar/grammar.h"
#include "text/tokenizer/tokenizer.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* This thread's CPU time: the build machine is shared, so wall time of a
 * microsecond call mostly measures the neighbours' time slices (-w: wall). */
static int use_wall = 0;
static double cpu_now(void) {
    if (use_wall) return now();
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p) {
    if (!n) return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

typedef struct { double *v; size_t n, cap; } vec;
static void push(vec *a, double x) {
    if (a->n == a->cap) { a->cap = a->cap ? a->cap * 2 : 1024; a->v = realloc(a->v, a->cap * sizeof *a->v); }
    a->v[a->n++] = x;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
    const char *cache = getenv("INF_TEST_CACHE") ? getenv("INF_TEST_CACHE") : INF_TEST_CACHE;
    char tokdir[1024];
    snprintf(tokdir, sizeof tokdir, "%s/tokenizers/qwen3", cache);
    int repeats = 5, i = 1;
    for (; i < argc && argv[i][0] == '-'; i += 2) {
        if (!strcmp(argv[i], "-w")) { use_wall = 1; i--; continue; }
        if (i + 1 >= argc) break;
        if (!strcmp(argv[i], "-n")) repeats = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-t")) snprintf(tokdir, sizeof tokdir, "%s", argv[i + 1]);
    }
    char **files = NULL;
    int n_files = 0;
    if (i < argc) { files = argv + i; n_files = argc - i; }
    else {
        DIR *d = opendir(INF_BENCH_SCHEMAS);
        struct dirent *e;
        files = calloc(256, sizeof *files);
        while (d && (e = readdir(d)) && n_files < 256)
            if (strstr(e->d_name, ".json")) {
                files[n_files] = malloc(strlen(INF_BENCH_SCHEMAS) + strlen(e->d_name) + 2);
                sprintf(files[n_files++], "%s/%s", INF_BENCH_SCHEMAS, e->d_name);
            }
        if (d) closedir(d);
        qsort(files, (size_t)n_files, sizeof *files, cmp_str);
    }
    inf__err err = {0};
    inf__tokenizer *tok = NULL;
    if (inf__tok_load_dir(tokdir, &tok, &err)) { fprintf(stderr, "tokenizer %s: %s\n", tokdir, err.msg); return 1; }
    int32_t eos[2] = {inf__tok_piece_id(tok, "<|im_end|>"), inf__tok_piece_id(tok, "<|endoftext|>")};
    size_t n_eos = 0;
    for (int k = 0; k < 2; k++) if (eos[k] >= 0) eos[n_eos++] = eos[k];
    if (!n_eos) { eos[0] = inf__tok_eos_id(tok); n_eos = eos[0] >= 0; }
    double t0 = now();
    inf__grammar_vocab *voc = NULL;
    if (inf__grammar_vocab_new(tok, eos, n_eos, &voc, &err)) { fprintf(stderr, "vocab: %s\n", err.msg); return 1; }
    printf("vocabulary %s: %d ids, built in %.1f ms\n", tokdir, inf__grammar_vocab_size(voc), (now() - t0) * 1e3);
    printf("%-24s %8s %6s %6s %9s %9s %9s %9s %9s\n", "schema", "compile", "states", "tokens", "median_us", "p90_us",
           "p99_us", "max_us", "mean_us");
    vec all = {0}, cold = {0};
    double *rep_median = calloc((size_t)repeats, sizeof *rep_median);
    int bad = 0;
    for (int r = 0; r < repeats; r++) {
        vec rep = {0};
        for (int f = 0; f < n_files; f++) {
            json_error_t je;
            json_t *spec = json_load_file(files[f], 0, &je);
            json_t *schema = json_object_get(spec, "schema"), *docs = json_object_get(spec, "documents");
            if (!spec || !schema || !json_is_array(docs)) { fprintf(stderr, "%s: bad file\n", files[f]); bad = 1; json_decref(spec); continue; }
            char *stext = json_dumps(schema, 0);
            double c0 = now();
            inf__grammar *g = NULL;
            int rc = inf__grammar_from_json_schema(stext, strlen(stext), NULL, &g, &err);
            double compile_ms = (now() - c0) * 1e3;
            free(stext);
            if (rc) { fprintf(stderr, "%s: %s\n", files[f], err.msg); bad = 1; json_decref(spec); continue; }
            vec one = {0};
            int first_doc = 1;
            size_t di;
            json_t *doc;
            json_array_foreach(docs, di, doc) {
                for (int style = 0; style < 2; style++) {
                    /* numbers as people and models write them (0.93, not 0.93000000000000005) */
                    char *text = json_dumps(doc, (style ? JSON_INDENT(2) : 0) | JSON_REAL_PRECISION(15));
                    int32_t *ids = NULL;
                    size_t n_ids = 0;
                    if (inf__tok_encode(tok, text, strlen(text), 0, &ids, &n_ids, &err)) { fprintf(stderr, "encode: %s\n", err.msg); return 1; }
                    inf__matcher *m = NULL;
                    inf__matcher_new(g, voc, &m, &err);
                    uint32_t *bits = malloc(inf__matcher_mask_words(m) * sizeof *bits);
                    for (size_t k = 0; k <= n_ids; k++) {
                        double a = cpu_now();
                        rc = inf__matcher_fill_mask(m, bits, &err);
                        double us = (cpu_now() - a) * 1e6;
                        push(&one, us);
                        push(&rep, us);
                        if (r == 0) push(&all, us);
                        if (r == 0 && first_doc) push(&cold, us);
                        int32_t id = k < n_ids ? ids[k] : eos[0];
                        if (rc || !((bits[id >> 5] >> (id & 31)) & 1) || inf__matcher_accept_token(m, id, &err)) {
                            fprintf(stderr, "%s: document %zu style %d refused at token %zu (%d): %s\n%s\n", files[f], di, style,
                                    k, id, err.msg, text);
                            bad = 1;
                            break;
                        }
                    }
                    first_doc = 0;
                    free(bits);
                    inf__matcher_free(m);
                    free(ids);
                    free(text);
                }
            }
            if (r == 0) {
                qsort(one.v, one.n, sizeof *one.v, cmp_d);
                double sum = 0;
                for (size_t k = 0; k < one.n; k++) sum += one.v[k];
                const char *base = strrchr(files[f], '/');
                printf("%-24s %6.1fms %6u %6zu %9.1f %9.1f %9.1f %9.1f %9.1f\n", base ? base + 1 : files[f], compile_ms,
                       inf__grammar_n_states(g), one.n, pct(one.v, one.n, 0.5), pct(one.v, one.n, 0.9),
                       pct(one.v, one.n, 0.99), one.v[one.n - 1], sum / (double)one.n);
            }
            free(one.v);
            inf__grammar_free(g);
            json_decref(spec);
        }
        qsort(rep.v, rep.n, sizeof *rep.v, cmp_d);
        rep_median[r] = pct(rep.v, rep.n, 0.5);
        free(rep.v);
    }
    qsort(all.v, all.n, sizeof *all.v, cmp_d);
    double sum = 0;
    for (size_t k = 0; k < all.n; k++) sum += all.v[k];
    qsort(rep_median, (size_t)repeats, sizeof *rep_median, cmp_d);
    printf("all schemas, first run: %zu masks, median %.1f us, p90 %.1f us, p99 %.1f us, mean %.1f us\n", all.n,
           pct(all.v, all.n, 0.5), pct(all.v, all.n, 0.9), pct(all.v, all.n, 0.99), sum / (double)all.n);
    qsort(cold.v, cold.n, sizeof *cold.v, cmp_d);
    sum = 0;
    for (size_t k = 0; k < cold.n; k++) sum += cold.v[k];
    printf("first document of each schema (cold cache): %zu masks, median %.1f us, p90 %.1f us, p99 %.1f us, mean %.1f us\n",
           cold.n, pct(cold.v, cold.n, 0.5), pct(cold.v, cold.n, 0.9), pct(cold.v, cold.n, 0.99),
           cold.n ? sum / (double)cold.n : 0);
    printf("median per token over %d runs: %.1f us (min %.1f, max %.1f)\n", repeats, pct(rep_median, (size_t)repeats, 0.5),
           rep_median[0], rep_median[repeats - 1]);
    inf__grammar_vocab_free(voc);
    inf__tok_free(tok);
    return bad;
}
