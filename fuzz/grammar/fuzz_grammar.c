/* libFuzzer target for one grammar front end (FUZZ_KIND 0: GBNF, 1: regex,
 * 2: JSON Schema): compile the input under small limits; when it compiles,
 * run a matcher over the input's bytes and compute masks along the way.
 * Any result is fine; a crash, leak, sanitizer report or hang is not. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text/grammar/grammar.h"

static inf__grammar_vocab *vocab;

static void init(void) {
    static char bytes[256];
    const char *t[259];
    size_t l[259];
    for (int b = 0; b < 256; b++) { bytes[b] = (char)b; t[b] = &bytes[b]; l[b] = 1; }
    t[256] = "\"a"; l[256] = 2;
    t[257] = "},"; l[257] = 2;
    t[258] = NULL; l[258] = 0;
    int32_t eos = 258;
    inf__err err;
    if (inf__grammar_vocab_from_bytes(t, l, 259, &eos, 1, &vocab, &err)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!vocab) init();
    inf__grammar_limits lim = {0};
    lim.max_states = 20000;
    lim.max_rules = 500;
    lim.max_repeat = 64;
    lim.max_ref_depth = 24;
    lim.max_stacks = 64;
    lim.max_depth = 200;
    inf__grammar *g = NULL;
    inf__err err;
    const char *s = (const char *)data;
    int rc = FUZZ_KIND == 0   ? inf__grammar_from_gbnf(s, size, &lim, &g, &err)
             : FUZZ_KIND == 1 ? inf__grammar_from_regex(s, size, &lim, &g, &err)
                              : inf__grammar_from_json_schema(s, size, &lim, &g, &err);
    if (rc != INF_OK) {
        if (g || !err.msg[0]) abort(); /* a failure always says why */
        return 0;
    }
    inf__matcher *m = NULL;
    if (inf__matcher_new(g, vocab, &m, &err) == INF_OK) {
        uint32_t bits[9];
        for (size_t i = 0; i < size && i < 64; i++) {
            if (i % 8 == 0 && inf__matcher_fill_mask(m, bits, &err) != INF_OK) break;
            if (inf__matcher_accept_bytes(m, s + i, 1, &err) != INF_OK) break;
        }
        inf__matcher_is_finished(m);
        inf__matcher_free(m);
    }
    inf__grammar_free(g);
    return 0;
}
