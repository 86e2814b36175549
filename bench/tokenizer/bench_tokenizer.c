/* Tokenizer benchmark: tokenizer.json load time and encode throughput.
 *
 *   bench_tokenizer [-t TEXT_FILE] [-n REPEATS] [NAME...]
 *
 * NAME is a tokenizer directory under $INF_TEST_CACHE/tokenizers (default:
 * qwen3 gemma3 llama3 llama2) or any path holding tokenizer.json.  TEXT_FILE
 * defaults to $INF_TEST_CACHE/brown.txt (bench/tokenizer/fetch-brown-text.sh).
 * Reports the best of REPEATS runs (default 3), one thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "text/tokenizer/tokenizer.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU time of this process: the build machine is shared, so wall time
 * alone mostly measures the neighbours. */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); b = NULL; }
    fclose(f);
    if (b) { b[n] = 0; *len = (size_t)n; }
    return b;
}

int main(int argc, char **argv) {
    const char *cache = getenv("INF_TEST_CACHE") ? getenv("INF_TEST_CACHE") : INF_TEST_CACHE;
    char text_path[1024];
    snprintf(text_path, sizeof text_path, "%s/brown.txt", cache);
    int repeats = 3, i = 1;
    for (; i < argc && argv[i][0] == '-'; i += 2) {
        if (i + 1 >= argc) break;
        if (!strcmp(argv[i], "-t")) snprintf(text_path, sizeof text_path, "%s", argv[i + 1]);
        else if (!strcmp(argv[i], "-n")) repeats = atoi(argv[i + 1]);
    }
    const char *defaults[] = {"qwen3", "gemma3", "llama3", "llama2"};
    const char **names = i < argc ? (const char **)argv + i : defaults;
    int n_names = i < argc ? argc - i : 4;
    size_t text_len = 0;
    char *text = read_file(text_path, &text_len);
    if (!text) fprintf(stderr, "no text at %s (run bench/tokenizer/fetch-brown-text.sh): load times only\n", text_path);
    else printf("text: %s, %.2f MB\n", text_path, text_len / 1e6);
    printf("%-10s %8s %8s %8s %12s %12s %10s\n", "tokenizer", "load_s", "load_cpu", "vocab", "encode_MB/s",
           "enc_cpuMB/s", "tokens");
    for (int k = 0; k < n_names; k++) {
        char dir[1024];
        if (strchr(names[k], '/')) snprintf(dir, sizeof dir, "%s", names[k]);
        else snprintf(dir, sizeof dir, "%s/tokenizers/%s", cache, names[k]);
        double best_load = 1e9, best_load_cpu = 1e9, best_enc_cpu = 1e9;
        inf__tokenizer *t = NULL;
        inf__err err;
        for (int r = 0; r < repeats; r++) {
            inf__tok_free(t);
            t = NULL;
            double t0 = now(), c0 = cpu_now();
            if (inf__tok_load_dir(dir, &t, &err)) { fprintf(stderr, "%s: %s\n", dir, err.msg); break; }
            double dt = now() - t0, dc = cpu_now() - c0;
            if (dt < best_load) best_load = dt;
            if (dc < best_load_cpu) best_load_cpu = dc;
        }
        if (!t) continue;
        double best_enc = 1e9;
        size_t n_tok = 0;
        for (int r = 0; text && r < repeats; r++) {
            int32_t *ids;
            double t0 = now(), c0 = cpu_now();
            if (inf__tok_encode(t, text, text_len, 0, &ids, &n_tok, &err)) { fprintf(stderr, "%s\n", err.msg); break; }
            double dt = now() - t0, dc = cpu_now() - c0;
            free(ids);
            if (dt < best_enc) best_enc = dt;
            if (dc < best_enc_cpu) best_enc_cpu = dc;
        }
        printf("%-10s %8.3f %8.3f %8d %12.2f %12.2f %10zu\n", names[k], best_load, best_load_cpu,
               inf__tok_vocab_size(t), text ? text_len / 1e6 / best_enc : 0.0,
               text ? text_len / 1e6 / best_enc_cpu : 0.0, n_tok);
        inf__tok_free(t);
    }
    free(text);
    return 0;
}
