/* Differential test, libinference side: reads the JSON lines written by
 * scripts/tokenizer-diff/gen.js (reference results of HF tokenizers
 * 0.23.2) and checks encode (with and without special tokens), decode (with
 * and without skipping special tokens) and streaming decode against them.
 *
 *   tok_diff TOKENIZER_DIR CASES.jsonl [MAX_REPORTS]
 *
 * Prints the first disagreements and "N cases, M disagreements"; exit 1
 * when any. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer/tok_internal.h"
#include "text/tokenizer/tokenizer.h"

/* 1 when text holds a character that PCRE2's Unicode tables (10.42:
 * Unicode 14) leave unassigned: the reference's tables are newer (its regex
 * engine knows Unicode 15 / 16 letters and digits), so \p{L} / \p{N} in the
 * split regexes may disagree there.  Such cases are counted apart. */
static int newer_unicode(const pcre2_code *cn, pcre2_match_data *md, const char *s, size_t n) {
    size_t ms, me;
    return inf__tk_regex_next(cn, md, s, n, 0, &ms, &me) == 1;
}

static int same_ids(const int32_t *a, size_t n, json_t *ref) {
    if (n != json_array_size(ref)) return 0;
    for (size_t i = 0; i < n; i++)
        if (a[i] != (int32_t)json_integer_value(json_array_get(ref, i))) return 0;
    return 1;
}

static void dump_ids(const char *what, const int32_t *a, size_t n, json_t *ref) {
    fprintf(stderr, "  %s ours:", what);
    for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", a[i]);
    fprintf(stderr, "\n  %s ref: ", what);
    for (size_t i = 0; i < json_array_size(ref); i++)
        fprintf(stderr, " %lld", (long long)json_integer_value(json_array_get(ref, i)));
    fputc('\n', stderr);
}

/* 0 when decode and streaming decode of ids equal expect. */
static int check_decode(const inf__tokenizer *t, const int32_t *ids, size_t n, int skip, const char *expect,
                        size_t expect_len, char **why) {
    char *out = NULL;
    size_t len = 0;
    inf__err err;
    if (inf__tok_decode(t, ids, n, skip, &out, &len, &err)) { *why = strdup(err.msg); return 1; }
    int bad = len != expect_len || memcmp(out, expect, len) != 0;
    if (bad) {
        size_t m = strlen(out) + expect_len + 64;
        *why = malloc(m);
        snprintf(*why, m, "decode skip=%d: ours \"%s\" ref \"%s\"", skip, out, expect);
        free(out);
        return 1;
    }
    free(out);
    inf__detok *d = inf__detok_new(t, skip);
    tk_buf all = {0};
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const char *p;
        size_t k;
        rc = inf__detok_push(d, ids[i], &p, &k, &err);
        if (!rc && inf__utf8_valid_prefix(p, k) != k) { *why = strdup("stream piece not valid UTF-8"); rc = 1; }
        if (!rc) inf__tk_buf_put(&all, p, k);
    }
    const char *p;
    size_t k;
    if (!rc && !(rc = inf__detok_flush(d, &p, &k, &err))) inf__tk_buf_put(&all, p, k);
    else if (rc && !*why) *why = strdup(err.msg);
    if (!rc && (all.n != expect_len || (all.n && memcmp(all.p, expect, all.n)))) {
        size_t m = all.n + expect_len + 64;
        *why = malloc(m);
        snprintf(*why, m, "stream skip=%d: ours \"%.*s\" ref \"%s\"", skip, (int)all.n, all.p ? all.p : "", expect);
        rc = 1;
    }
    free(all.p);
    inf__detok_free(d);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: tok_diff TOKENIZER_DIR CASES.jsonl [MAX_REPORTS]\n"); return 2; }
    int max_reports = argc > 3 ? atoi(argv[3]) : 5;
    inf__tokenizer *t;
    inf__err err;
    if (inf__tok_load_dir(argv[1], &t, &err)) { fprintf(stderr, "%s\n", err.msg); return 2; }
    FILE *f = fopen(argv[2], "rb");
    if (!f) { perror(argv[2]); return 2; }
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    long n_cases = 0, n_bad = 0, n_unicode = 0;
    inf__err e2;
    pcre2_code *cn = inf__tk_regex_compile("\\p{Cn}", 6, 0, &e2);
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    while ((got = getline(&line, &cap, f)) > 0) {
        json_error_t je;
        json_t *c = json_loadb(line, (size_t)got, JSON_ALLOW_NUL, &je);
        if (!c) { fprintf(stderr, "bad line %ld: %s\n", n_cases + 1, je.text); return 2; }
        n_cases++;
        char *why = NULL;
        json_t *ref = json_object_get(c, "ids");
        size_t n = json_array_size(ref);
        int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
        for (size_t i = 0; i < n; i++) ids[i] = (int32_t)json_integer_value(json_array_get(ref, i));
        int bad = 0;
        const char *kind = json_string_value(json_object_get(c, "t"));
        int nps = !strcmp(kind, "enc_nps"); /* special tokens not parsed */
        if (!strcmp(kind, "enc") || nps) {
            json_t *jt = json_object_get(c, "text");
            for (int sp = 0; sp < 2 && !bad; sp++) {
                int32_t *ours;
                size_t no;
                json_t *r = json_object_get(c, sp ? "ids_sp" : "ids");
                int flags = (sp ? INF__TOK_ADD_SPECIAL : 0) | (nps ? 0 : INF__TOK_PARSE_SPECIAL);
                if (inf__tok_encode_flags(t, json_string_value(jt), json_string_length(jt), flags, &ours, &no, &err)) {
                    why = strdup(err.msg);
                    bad = 1;
                    continue;
                }
                if (!same_ids(ours, no, r)) {
                    bad = 1;
                    if (n_bad < max_reports) {
                        fprintf(stderr, "case %ld%s: encode (special=%d%s) of \"%s\" differs\n", n_cases,
                                newer_unicode(cn, md, json_string_value(jt), json_string_length(jt))
                                    ? " [newer Unicode character]" : "",
                                sp, nps ? ", special tokens not parsed" : "", json_string_value(jt));
                        dump_ids("ids", ours, no, r);
                    }
                }
                free(ours);
            }
        }
        for (int skip = 0; skip < 2 && !bad; skip++) {
            json_t *d = json_object_get(c, skip ? "dec_skip" : "dec");
            if (check_decode(t, ids, n, skip, json_string_value(d), json_string_length(d), &why)) bad = 1;
        }
        json_t *jt = json_object_get(c, "text");
        if (bad && jt && newer_unicode(cn, md, json_string_value(jt), json_string_length(jt))) {
            n_unicode++;
            bad = 0;
        }
        if (bad) {
            if (n_bad < max_reports && why) {
                fprintf(stderr, "case %ld (ids:", n_cases);
                for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
                fprintf(stderr, "): %s\n", why);
            }
            n_bad++;
        }
        free(why);
        free(ids);
        json_decref(c);
    }
    free(line);
    fclose(f);
    inf__tok_free(t);
    pcre2_code_free(cn);
    pcre2_match_data_free(md);
    printf("%s: %ld cases, %ld disagreements (+%ld only from characters newer than PCRE2's Unicode tables)\n",
           argv[1], n_cases, n_bad, n_unicode);
    return n_bad ? 1 : 0;
}
