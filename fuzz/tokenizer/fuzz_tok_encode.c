/* libFuzzer target: encoding arbitrary bytes and decoding arbitrary ids.
 *
 * Input: byte 0 picks the tokenizer (bits 0-1), add_special (bit 2) and
 * skip_special (bit 3); the rest is the text.  The tokenizers are the
 * bundled brown-llama-8m one (SentencePiece style, byte fallback) and,
 * when scripts/fetch-tokenizers.sh has run, qwen3 / llama3 / gemma3 from the
 * test cache.  Checked on every input:
 *  - encode succeeds (invalid UTF-8 is read as U+FFFD, never an error) and
 *    every id is in range;
 *  - decode succeeds; streaming decode gives valid UTF-8 pieces whose
 *    concatenation is the decode;
 *  - llama3 (byte-level, no normalizer): decode(encode(text)) is the text
 *    (after the same invalid-UTF-8 replacement);
 *  - the text's bytes read as ids (mod vocab size) decode, plain and
 *    streaming, consistently. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer/tok_internal.h"
#include "text/tokenizer/tokenizer.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inf__tokenizer *toks[4];
static int n_toks, llama3_index = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    inf__err err;
    if (inf__tok_load_dir(INF_SOURCE_DIR "/models/brown-llama-8m", &toks[n_toks], &err) == INF_OK) n_toks++;
    const char *names[] = {"qwen3", "llama3", "gemma3"};
    for (int i = 0; i < 3; i++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/tokenizers/%s", INF_TEST_CACHE, names[i]);
        if (inf__tok_load_dir(dir, &toks[n_toks], &err) == INF_OK) {
            if (i == 1) llama3_index = n_toks;
            n_toks++;
        }
    }
    if (!n_toks) __builtin_trap();
    return 0;
}

static void check_stream(const inf__tokenizer *t, const int32_t *ids, size_t n, int skip) {
    inf__err err;
    char *full = NULL;
    size_t full_len = 0;
    if (inf__tok_decode(t, ids, n, skip, &full, &full_len, &err) != INF_OK) __builtin_trap();
    if (inf__utf8_valid_prefix(full, full_len) != full_len) __builtin_trap();
    inf__detok *d = inf__detok_new(t, skip);
    tk_buf all = {0};
    const char *p;
    size_t k;
    for (size_t i = 0; i < n; i++) {
        if (inf__detok_push(d, ids[i], &p, &k, &err) != INF_OK) __builtin_trap();
        if (inf__utf8_valid_prefix(p, k) != k) __builtin_trap();
        inf__tk_buf_put(&all, p, k);
    }
    if (inf__detok_flush(d, &p, &k, &err) != INF_OK) __builtin_trap();
    inf__tk_buf_put(&all, p, k);
    if (all.n != full_len || (full_len && memcmp(all.p, full, full_len))) __builtin_trap();
    free(all.p);
    free(full);
    inf__detok_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int which = (data[0] & 3) % n_toks, sp = (data[0] >> 2) & 1, skip = (data[0] >> 3) & 1;
    const inf__tokenizer *t = toks[which];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    inf__err err;
    int32_t *ids = NULL;
    size_t n = 0;
    if (inf__tok_encode(t, text, len, sp, &ids, &n, &err) != INF_OK) __builtin_trap();
    int32_t V = inf__tok_vocab_size(t);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= V) __builtin_trap();
    check_stream(t, ids, n, skip);
    if (which == llama3_index && !sp) {
        tk_buf want = {0};
        char *out = NULL;
        size_t out_len;
        inf__tk_utf8_lossy(&want, text, len);
        if (inf__tok_decode(t, ids, n, 0, &out, &out_len, &err) != INF_OK) __builtin_trap();
        if (out_len != want.n || (out_len && memcmp(out, want.p, out_len))) __builtin_trap();
        free(out);
        free(want.p);
    }
    free(ids);
    /* The same bytes as ids. */
    size_t m = len / 3;
    int32_t *rid = malloc((m ? m : 1) * sizeof *rid);
    for (size_t i = 0; i < m; i++) {
        uint32_t v = (uint32_t)(uint8_t)text[3 * i] | (uint32_t)(uint8_t)text[3 * i + 1] << 8 |
                     (uint32_t)(uint8_t)text[3 * i + 2] << 16;
        rid[i] = (int32_t)(v % (uint32_t)(V + 2)) - 1; /* -1 and V: out-of-range ids too */
    }
    check_stream(t, rid, m, skip);
    free(rid);
    return 0;
}
