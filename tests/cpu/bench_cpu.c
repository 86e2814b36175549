/* Benchmark of the cpu forward pass (not a test): prefill and decode
 * tokens/s for a model directory, or for dummy weights from a config.json.
 *
 *   bench_cpu DIR [-d] [-b BITS] [-p PREFILL] [-n DECODE] [-s SLOTS] [-t THREADS]
 *     -d        dummy weights (DIR needs only config.json)
 *     -b BITS   dummy weights quantised to MLX BITS (4 or 8), group 64
 *     -p N      prompt tokens prefilled in one forward (default 128)
 *     -n N      decode steps (default 32); with -s S, S sequences per step
 *   INF_CPU_REFERENCE=1 selects the reference kernels. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backends/cpu/cpu.h"
#include "model/model.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}
/* Process CPU time: on a shared, oversubscribed machine wall time mostly
 * measures the neighbours; CPU seconds (all threads) measure our work. */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    int dummy = 0, bits = 0, prefill = 128, decode = 32, slots = 1, threads = 0, opt;
    while ((opt = getopt(argc, argv, "db:p:n:s:t:")) != -1) {
        switch (opt) {
        case 'd': dummy = 1; break;
        case 'b': bits = atoi(optarg); dummy = 1; break;
        case 'p': prefill = atoi(optarg); break;
        case 'n': decode = atoi(optarg); break;
        case 's': slots = atoi(optarg); break;
        case 't': threads = atoi(optarg); break;
        default: fprintf(stderr, "usage: %s DIR [-d] [-b BITS] [-p N] [-n N] [-s S] [-t T]\n", argv[0]); return 2;
        }
    }
    if (optind >= argc || prefill < 1 || slots < 1) {
        fprintf(stderr, "usage: %s DIR [-d] [-b BITS] [-p N] [-n N] [-s S] [-t T]\n", argv[0]);
        return 2;
    }
    inf__load_params lp = {0};
    lp.dummy_weights = dummy;
    lp.dummy_bits = bits;
    lp.dummy_group = 64;
    inf__model_desc d;
    inf__model_files *f = NULL;
    inf__err e;
    double t0 = now();
    if (inf__model_open(argv[optind], &lp, &d, &f, &e) != INF_OK) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    double t_load = now() - t0;
    /* INF_PRECISION=fast: the fast kernels (as the library reads it) */
    const char *prec = getenv("INF_PRECISION");
    inf__compute_params cp = {slots, prefill + decode + 1, threads, -1, 0, 0,
                              prec && strcmp(prec, "fast") == 0 ? INF_PRECISION_FAST : INF_PRECISION_EXACT, 0};
    void *ctx = NULL;
    if (inf__cpu_compute.init(&d, &cp, &ctx, &e) != INF_OK) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    const int V = d.vocab_size, n = prefill * slots;
    int32_t *tok = malloc((size_t)n * 4), *pos = malloc((size_t)n * 4), *slot = malloc((size_t)n * 4);
    uint8_t *want = calloc((size_t)n, 1);
    float *lg = malloc((size_t)slots * V * 4);
    for (int s = 0; s < slots; s++)
        for (int i = 0; i < prefill; i++) {
            int r = s * prefill + i;
            tok[r] = (int32_t)((1 + 7919u * (unsigned)r) % (unsigned)V);
            pos[r] = i;
            slot[r] = s;
            want[r] = i == prefill - 1;
        }
    printf("model %s: %s, hidden %d, layers %d, vocab %d, weights %.1f MB (load %.2f s), kernels %s\n",
           argv[optind], d.model_type, d.hidden_size, d.n_layers, V,
           inf__model_weight_bytes(f) / 1e6, t_load, inf__cpu_kernels_name(ctx));
    /* Prefill: slots*prefill rows in forwards of at most 512 rows. */
    t0 = now();
    double c0 = cpu_now();
    for (int r0 = 0; r0 < n; r0 += 512) {
        int m = n - r0 < 512 ? n - r0 : 512, nw = 0;
        for (int i = r0; i < r0 + m; i++) nw += want[i];
        inf__batch b = {m, tok + r0, pos + r0, slot + r0, want + r0, lg, NULL};
        (void)nw;
        if (inf__cpu_compute.forward(ctx, &b, &e) != INF_OK) { fprintf(stderr, "%s\n", e.msg); return 1; }
    }
    double tp = now() - t0, cp_ = cpu_now() - c0;
    printf("prefill: %d tokens (%d x %d) in %.3f s = %.1f tokens/s  (cpu %.3f s: %.1f tokens per cpu-second)\n",
           n, slots, prefill, tp, n / tp, cp_, n / cp_);
    /* Decode: one row per slot per forward. */
    for (int s = 0; s < slots; s++) { tok[s] = s + 3; pos[s] = prefill; slot[s] = s; want[s] = 1; }
    t0 = now();
    c0 = cpu_now();
    for (int i = 0; i < decode; i++) {
        inf__batch b = {slots, tok, pos, slot, want, lg, NULL};
        if (inf__cpu_compute.forward(ctx, &b, &e) != INF_OK) { fprintf(stderr, "%s\n", e.msg); return 1; }
        for (int s = 0; s < slots; s++) { pos[s]++; tok[s] = (tok[s] * 31 + 7) % V; }
    }
    double td = now() - t0, cd = cpu_now() - c0;
    double wb = (double)inf__model_weight_bytes(f);
    printf("decode: %d steps x %d seqs in %.3f s = %.1f tokens/s (%.2f ms/step, weights %.1f GB/s)"
           "  (cpu %.3f s: %.2f cpu-ms/step)\n",
           decode, slots, td, decode * slots / td, 1e3 * td / decode, wb * decode / td / 1e9, cd,
           1e3 * cd / decode);
    int64_t act, peak;
    inf__cpu_compute.memory(ctx, &act, &peak);
    printf("cpu memory: active %.1f MB, peak %.1f MB\n", act / 1e6, peak / 1e6);
    inf__cpu_compute.free(ctx);
    inf__model_files_free(f);
    free(tok); free(pos); free(slot); free(want); free(lg);
    return 0;
}
