/* bench_constrained: the end-to-end decode slowdown under a JSON schema.
 *
 *   bench_constrained MODEL_DIR [-r ROUNDS] [-n TOKENS] [-t THREADS] [-T TEMPERATURE] [-s SCHEMA_FILE]
 *
 * Each round generates TOKENS tokens twice from the same prompt with the
 * same seed at temperature 1 (-T: another; 0 = greedy): once unconstrained (ignore_eos, so it runs
 * the whole length) and once under the schema (by default an array of at
 * least 24 small objects, so that the document does not close before
 * TOKENS tokens and both runs decode at the same positions).  Schema compilation happens at submit, before the
 * first token, so it is outside the decode rate.  The order alternates between rounds so that a
 * drift in the machine's speed hits both.  Decode tokens/s come from the
 * stream's metrics (first token to last, prefill excluded).  Prints median,
 * min and max of each, side by side, and the slowdown of the medians. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inference.h"

static const char default_schema[] =
    "{\"type\":\"array\",\"minItems\":24,\"items\":{\"type\":\"object\","
    "\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":16},"
    "\"age\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":120},"
    "\"tags\":{\"type\":\"array\",\"items\":{\"enum\":[\"a\",\"b\",\"c\"]},\"maxItems\":3}},"
    "\"required\":[\"name\",\"age\",\"tags\"],\"additionalProperties\":false}}";

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One generation; its decode tokens/s, or -1 on failure. */
static float g_temp = 1.0f;

static double run(inf_model *m, const char *schema, int32_t n, uint64_t seed, int64_t *made) {
    inf_generate_options o;
    inf_generate_options_default(&o);
    o.temperature = g_temp;
    o.seed = seed;
    o.max_tokens = n;
    if (schema) {
        o.constraint_kind = INF_CONSTRAINT_JSON_SCHEMA;
        o.constraint = schema;
    } else {
        o.ignore_eos = 1;
    }
    inf_stream *s = NULL;
    if (inf_generate(m, "Here is the list of people as JSON:\n", &o, &s) != INF_OK) {
        fprintf(stderr, "generate: %s\n", inf_model_errmsg(m));
        return -1;
    }
    inf_token t;
    while (inf_stream_next(s, &t) == 1) {
    }
    int err = inf_stream_err(s);
    inf_metrics mt;
    inf_stream_metrics(s, &mt);
    if (err != INF_OK) fprintf(stderr, "stream: %s\n", inf_stream_errmsg(s));
    *made = mt.generated_tokens;
    inf_stream_close(&s);
    return err == INF_OK ? mt.decode_tokens_per_second : -1;
}

int main(int argc, char **argv) {
    const char *dir = NULL, *schema_path = NULL;
    int rounds = 9, n = 128, threads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-r") && i + 1 < argc) rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-n") && i + 1 < argc) n = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-t") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-s") && i + 1 < argc) schema_path = argv[++i];
        else if (!strcmp(argv[i], "-T") && i + 1 < argc) g_temp = (float)atof(argv[++i]);
        else if (argv[i][0] != '-' && !dir) dir = argv[i];
        else {
            fprintf(stderr, "usage: bench_constrained MODEL_DIR [-r ROUNDS] [-n TOKENS] [-t THREADS] [-T TEMPERATURE] [-s SCHEMA_FILE]\n");
            return 2;
        }
    }
    if (!dir || rounds < 1 || n < 2) {
        fprintf(stderr, "usage: bench_constrained MODEL_DIR [-r ROUNDS] [-n TOKENS] [-t THREADS] [-T TEMPERATURE] [-s SCHEMA_FILE]\n");
        return 2;
    }
    char *schema = NULL;
    if (schema_path) {
        FILE *f = fopen(schema_path, "rb");
        if (!f) {
            perror(schema_path);
            return 1;
        }
        fseek(f, 0, SEEK_END);
        long len = ftell(f);
        rewind(f);
        schema = calloc(1, (size_t)len + 1);
        if (!schema || fread(schema, 1, (size_t)len, f) != (size_t)len) {
            fclose(f);
            return 1;
        }
        fclose(f);
    }
    inf_load_options lo;
    inf_load_options_default(&lo);
    lo.n_threads = threads;
    lo.parallel_slots = 1;
    inf_model *m = NULL;
    char *err = NULL;
    if (inf_model_load(dir, &lo, &m, &err) != INF_OK) {
        fprintf(stderr, "load: %s\n", err ? err : "?");
        return 1;
    }
    const char *sc = schema ? schema : default_schema;
    double *a = calloc((size_t)rounds, sizeof *a), *b = calloc((size_t)rounds, sizeof *b);
    double *q = calloc((size_t)rounds, sizeof *q); /* per round: schema / unconstrained */
    int64_t na = 0, nb = 0, k;
    /* warm-up: the first constrained request builds the vocabulary */
    run(m, NULL, 16, 1, &k);
    run(m, sc, 16, 1, &k);
    for (int r = 0; r < rounds; r++) {
        uint64_t seed = 1000 + (uint64_t)r;
        if (r % 2 == 0) {
            a[r] = run(m, NULL, n, seed, &k);
            na += k;
            b[r] = run(m, sc, n, seed, &k);
            nb += k;
        } else {
            b[r] = run(m, sc, n, seed, &k);
            nb += k;
            a[r] = run(m, NULL, n, seed, &k);
            na += k;
        }
        if (a[r] <= 0 || b[r] < 0) return 1;
        q[r] = b[r] / a[r];
        printf("round %d: unconstrained %.1f tok/s, schema %.1f tok/s\n", r + 1, a[r], b[r]);
    }
    qsort(a, (size_t)rounds, sizeof *a, cmp);
    qsort(b, (size_t)rounds, sizeof *b, cmp);
    qsort(q, (size_t)rounds, sizeof *q, cmp);
    double ma = a[rounds / 2], mb = b[rounds / 2];
    printf("\n%-14s %10s %10s %10s %8s\n", "decode tok/s", "median", "min", "max", "tokens");
    printf("%-14s %10.1f %10.1f %10.1f %8lld\n", "unconstrained", ma, a[0], a[rounds - 1], (long long)na);
    printf("%-14s %10.1f %10.1f %10.1f %8lld\n", "json schema", mb, b[0], b[rounds - 1], (long long)nb);
    printf("slowdown of the medians: %.1f%% (%d rounds of %d tokens)\n", 100.0 * (1.0 - mb / ma),
           rounds, n);
    /* The two runs of a round are back to back, so their ratio is less
     * exposed to a busy machine than the medians taken apart. */
    printf("per-round rate ratio schema/unconstrained: median %.3f (min %.3f, max %.3f); "
           "slowdown %.1f%%\n", q[rounds / 2], q[0], q[rounds - 1], 100.0 * (1.0 - q[rounds / 2]));
    free(q);
    free(a);
    free(b);
    free(schema);
    inf_free(err);
    inf_model_close(&m);
    return 0;
}
