/* Throughput of the engine + cpu backend through the scheduler (not a
 * test; run by hand):
 *   engine_bench MODEL_DIR [dummy_bits]      (dummy_bits: use dummy weights
 *                                             of 0 = config dtype, 4 or 8)
 * Prints prefill tok/s (one 512-token prompt), decode tok/s of one
 * sequence, and decode tok/s of parallel_slots sequences at once. */
#include <stdio.h>
#include <stdlib.h>

#include "backends/cpu/cpu.h"
#include "engine/engine.h"

static int run(void *m, const char *what, int32_t np, int32_t ng, int32_t par) {
    inf_metrics x;
    char *err = NULL;
    int rc = inf__engine_bench(m, np, ng, par, &x, &err);
    if (rc != INF_OK) {
        fprintf(stderr, "%s: %s\n", what, err ? err : inf_strerror(rc));
        free(err);
        return 1;
    }
    printf("%-28s prompt %4d x %d, gen %3d: prefill %8.1f tok/s, decode "
           "%7.1f tok/s, total %.3f s, peak mem %.1f MiB\n",
           what, np, par, ng, x.prefill_tokens_per_second,
           x.decode_tokens_per_second, x.total_seconds,
           (double)x.peak_memory_bytes / 1048576.0);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL_DIR [dummy_bits]\n", argv[0]);
        return 2;
    }
    inf_load_options lo;
    inf_load_options_default(&lo);
    if (argc > 2) {
        lo.dummy_weights = 1;
        lo.dummy_bits = atoi(argv[2]);
    }
    lo.context_length = 1024;
    const inf_model_ops *ops = NULL;
    void *m = NULL;
    char *err = NULL;
    int rc = inf__engine_open(argv[1], &lo, &inf__cpu_compute,
                              INF__ENGINE_NO_TOKENIZER_OK, &ops, &m, &err);
    if (rc != INF_OK) {
        fprintf(stderr, "load: %s\n", err ? err : inf_strerror(rc));
        free(err);
        return 1;
    }
    int32_t slots = inf__engine_slots(m);
    int bad = run(m, "warm-up", 16, 4, 1);
    bad |= run(m, "prefill", 512, 1, 1);
    bad |= run(m, "decode, 1 sequence", 32, 64, 1);
    bad |= run(m, "decode, all slots", 32, 64, slots);
    ops->close(m);
    return bad;
}
