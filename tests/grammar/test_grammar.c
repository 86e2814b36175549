/* Grammar engine: accepted and rejected strings for each construct of the
 * three syntaxes, masks against token-by-token checks, bad input. */
#include <stdint.h>
#include <string.h>

#include "testutil.h"
#include "text/grammar/grammar.h"

enum { GBNF, REGEX, SCHEMA };
static const char *kind_name[] = {"gbnf", "regex", "schema"};

static int compile(int kind, const char *src, inf__grammar **g, inf__err *err) {
    size_t n = strlen(src);
    if (kind == GBNF) return inf__grammar_from_gbnf(src, n, NULL, g, err);
    if (kind == REGEX) return inf__grammar_from_regex(src, n, NULL, g, err);
    return inf__grammar_from_json_schema(src, n, NULL, g, err);
}

/* A vocabulary of the 256 single bytes, some longer strings and eos (id 0). */
static inf__grammar_vocab *vocab;
static const char *multi[] = {"ab", "abc", "\"a", "\",", "\":", "{\"", "true", "null", "12", "1.", ".5", "\xc3\xa9",
                              "\xc3", "\xa9x", "  ", ", ", "\"}", "}}", "]]", "[1", "aaaa", "xy", "-1", "e+"};
#define N_MULTI (sizeof multi / sizeof *multi)

static void make_vocab(void) {
    int32_t n = 1 + 256 + (int32_t)N_MULTI;
    const char **t = calloc((size_t)n, sizeof *t);
    size_t *l = calloc((size_t)n, sizeof *l);
    static char bytes[256];
    for (int b = 0; b < 256; b++) { bytes[b] = (char)b; t[1 + b] = &bytes[b]; l[1 + b] = 1; }
    for (size_t k = 0; k < N_MULTI; k++) { t[257 + k] = multi[k]; l[257 + k] = strlen(multi[k]); }
    int32_t eos = 0;
    inf__err err = {0};
    CHECK(inf__grammar_vocab_from_bytes((const char *const *)t, l, n, &eos, 1, &vocab, &err) == INF_OK);
    free(t);
    free(l);
}

/* Whether the whole string s is in the grammar, checked two ways: bytes
 * fed at once, and the mask of every step (byte tokens) agreeing. */
static int matches(const inf__grammar *g, const char *s, size_t n) {
    inf__matcher *m = NULL;
    inf__err err = {0};
    if (inf__matcher_new(g, vocab, &m, &err)) return -1;
    int ok = inf__matcher_accept_bytes(m, s, n, &err) == INF_OK && inf__matcher_is_accepting(m);
    inf__matcher_reset(m);
    uint32_t *bits = calloc(inf__matcher_mask_words(m), sizeof *bits);
    int ok2 = 1;
    for (size_t i = 0; i <= n && ok2; i++) {
        if (inf__matcher_fill_mask(m, bits, &err)) { ok2 = -1; break; }
        int32_t id = i < n ? 1 + (uint8_t)s[i] : 0;
        int bit = (bits[id >> 5] >> (id & 31)) & 1;
        CHECK_MSG(bit == inf__matcher_token_allowed(m, id), "mask and token_allowed disagree at %zu of %.*s", i,
                  (int)n, s);
        if (!bit) ok2 = 0;
        else CHECK(inf__matcher_accept_token(m, id, &err) == INF_OK);
    }
    if (ok2 == 1) CHECK(inf__matcher_is_finished(m));
    CHECK_MSG(ok == ok2, "byte feed (%d) and masks (%d) disagree on %.*s", ok, ok2, (int)n, s);
    free(bits);
    inf__matcher_free(m);
    return ok;
}

typedef struct {
    int kind;
    const char *src;
    const char *yes[12];
    const char *no[12];
} gcase;

static const gcase cases[] = {
    /* GBNF */
    {GBNF, "root ::= \"ab\" | \"cd\"", {"ab", "cd"}, {"", "a", "abcd", "ac"}},
    {GBNF, "root ::= x y\nx ::= [a-c]+\ny ::= \"!\"?", {"a", "abc!", "cc"}, {"", "!", "ad", "a!!"}},
    {GBNF, "# comment\nroot ::= (\"a\" | \"b\")* \"c\"  # trailing\n", {"c", "abababc", "bc"}, {"", "ca", "ab"}},
    {GBNF, "root ::= \"x\"{2,3}", {"xx", "xxx"}, {"x", "xxxx", ""}},
    {GBNF, "root ::= \"x\"{2} \"y\"{1,}", {"xxy", "xxyyy"}, {"xy", "xx"}},
    {GBNF, "root ::= [^a-z] .", {"A\xc3\xa9", "1b"}, {"ab", "A", "A\n"}},
    {GBNF, "root ::= \"\\n\\t\\\"\\\\\\x41\\u00e9\"", {"\n\t\"\\A\xc3\xa9"}, {"\n"}},
    {GBNF, "root ::= [\\u00e0-\\u00ff]+", {"\xc3\xa0\xc3\xbf"}, {"a", "\xc3\x9f"}},
    {GBNF, "root ::= list\nlist ::= \"[\" (item (\",\" item)*)? \"]\"\nitem ::= [0-9] | list",
     {"[]", "[1,2]", "[[1],[[]],3]"}, {"[", "[1,]", "[[1]", "1"}},
    {GBNF, "root ::= ws \"a\" ws\nws ::= [ ]*", {"a", "  a ", "a  "}, {" ", "b"}},
    {GBNF, "root ::= e\ne ::= t (\"+\" t)*\nt ::= f (\"*\" f)*\nf ::= [0-9]+ | \"(\" e \")\"",
     {"1+2*3", "(1+2)*3", "((7))"}, {"1+", "(1", "1)"}},
    {GBNF, "root ::= opt opt \"z\"\nopt ::= \"q\"?", {"z", "qz", "qqz"}, {"qqqz"}},
    {GBNF, "root ::= 'single' \"double\"", {"singledouble"}, {"single"}},
    /* regex */
    {REGEX, "abc", {"abc"}, {"ab", "abcd", ""}},
    {REGEX, "a|bc|", {"a", "bc", ""}, {"b", "abc"}},
    {REGEX, "(ab)+c?", {"ab", "ababc"}, {"", "abca", "a"}},
    {REGEX, "\\d{3}-\\d{2,4}", {"123-45", "000-0000"}, {"12-45", "123-4", "123-45678"}},
    {REGEX, "[a-f0-9]*x", {"x", "deadbeefx"}, {"gx", "deadbeef"}},
    {REGEX, "\\w+\\s\\w+", {"hello world", "a_1\tb"}, {"hello  world", "hi"}},
    {REGEX, "[^0-9]+", {"abc", "\xc3\xa9"}, {"a1", ""}},
    {REGEX, "\\D\\W\\S", {"a b"}, {"1 b", "aab", "a  "}},
    {REGEX, "^a.c$", {"abc", "a\xc3\xa9" "c"}, {"a\nc", "ac"}},
    {REGEX, "(?:x|y){2}z{0,1}", {"xy", "yyz"}, {"x", "xyzz"}},
    {REGEX, "a{2,}?b*?", {"aa", "aaabb"}, {"a"}},
    {REGEX, "\\.\\*\\(\\)\\[\\]\\{\\}\\|\\?\\+\\\\\\^\\$", {".*()[]{}|?+\\^$"}, {""}},
    {REGEX, "[\\]\\-a]+", {"]-a", "a"}, {"b"}},
    {REGEX, "\\u00e9\\x41", {"\xc3\xa9" "A"}, {"eA"}},
    {REGEX, "a{,3}", {"a{,3}"}, {"aaa"}},
    {REGEX, "[+-]?(0|[1-9][0-9]*)(\\.[0-9]+)?", {"0", "-12.5", "+3"}, {"01", "1.", "-"}},
    /* JSON Schema */
    {SCHEMA, "{}", {"1", "\"x\"", "{\"a\": [1, {\"b\": null}]}", "[]", "true", "-1.5e3"}, {"", "{", "tru", "01", "[1,]", "{\"a\"}"}},
    {SCHEMA, "{\"type\":\"string\"}", {"\"\"", "\"a\\\"\\n\\u00e9\"", "\"\xc3\xa9\"", "\"\\ud83d\\ude00\""}, {"1", "\"\n\"", "\"\\x\"", "\"a"}},
    {SCHEMA, "{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}", {"\"ab\"", "\"\xc3\xa9\xc3\xa9\xc3\xa9\"", "\"a\\n\""}, {"\"a\"", "\"abcd\""}},
    {SCHEMA, "{\"type\":\"string\",\"pattern\":\"^[a-z]+\\\\d$\"}", {"\"ab1\""}, {"\"ab\"", "\"1\""}},
    {SCHEMA, "{\"type\":\"string\",\"pattern\":\"b\\\"c\"}", {"\"b\\\"c\"", "\"xb\\\"cx\""}, {"\"bc\""}},
    {SCHEMA, "{\"type\":\"string\",\"format\":\"date\"}", {"\"2024-02-29\""}, {"\"2024-13-01\"", "\"24-01-01\""}},
    {SCHEMA, "{\"type\":\"string\",\"format\":\"date-time\"}", {"\"2024-01-31T23:59:59Z\"", "\"2024-01-31T01:02:03.5+02:00\""}, {"\"2024-01-31 23:59:59\""}},
    {SCHEMA, "{\"type\":\"string\",\"format\":\"uuid\"}", {"\"123e4567-e89b-12d3-a456-426614174000\""}, {"\"123e4567e89b12d3a456426614174000\""}},
    {SCHEMA, "{\"type\":\"string\",\"format\":\"email\"}", {"\"a.b@example.com\""}, {"\"a@b\"", "\"@x.com\"", "\"a..b@x.com\""}},
    {SCHEMA, "{\"type\":\"integer\"}", {"0", "-7", "123"}, {"01", "1.0", "-", "1e3"}},
    {SCHEMA, "{\"type\":\"integer\",\"minimum\":-12,\"maximum\":305}", {"-12", "0", "9", "99", "305", "-1"}, {"-13", "306", "1000", "-0"}},
    {SCHEMA, "{\"type\":\"integer\",\"exclusiveMinimum\":7}", {"8", "70", "1234567890123456789"}, {"7", "-8", "0", "12345678901234567890"}},
    {SCHEMA, "{\"type\":\"number\",\"minimum\":-1,\"exclusiveMaximum\":2}", {"-1", "-0.5", "0", "1.999", "1", "-1.0"}, {"2", "2.0", "-1.01", "3"}},
    {SCHEMA, "{\"type\":\"number\",\"minimum\":1.25,\"exclusiveMaximum\":3.5}", {"1.25", "1.250", "1.3", "2", "3.4999", "3.49"}, {"1.2", "1.249", "3.5", "3.50", "4", "1"}},
    {SCHEMA, "{\"type\":\"number\",\"exclusiveMinimum\":-0.5,\"maximum\":0}", {"-0.4", "0", "-0.49999", "0.0"}, {"-0.5", "0.1", "-1"}},
    {SCHEMA, "{\"type\":\"number\",\"exclusiveMinimum\":1.1}", {"1.2", "1.10000000000001", "2.00000000000000001"}, {"1.1", "1.10000000000000001", "1.09"}},
    {SCHEMA, "{\"type\":\"number\",\"minimum\":0.1,\"maximum\":0.1}", {"0.1", "0.10"}, {"0.11", "0.09", "0"}},
    {SCHEMA, "{\"type\":\"number\"}", {"1", "-0.5", "2.5E-3", "0.12345678901234567"}, {".5", "1.", "+1", "0.123456789012345678", "1e1234"}},
    {SCHEMA, "{\"type\":\"string\",\"format\":\"date\"}", {"\"2024-01-31\"", "\"2023-04-30\"", "\"2000-02-29\"", "\"2024-02-29\"", "\"0000-02-29\""},
     {"\"2023-04-31\"", "\"2023-02-29\"", "\"1900-02-29\"", "\"2023-11-31\""}},
    {SCHEMA, "{\"type\":[\"boolean\",\"null\"]}", {"true", "false", "null"}, {"0", "\"true\""}},
    {SCHEMA, "{\"type\":\"integer\",\"nullable\":true}", {"1", "null"}, {"\"1\""}},
    {SCHEMA, "{\"enum\":[\"red\",1,null,{\"a\":[true]}]}", {"\"red\"", "1", "null", "{\"a\":[true]}"}, {"\"blue\"", "2"}},
    {SCHEMA, "{\"const\":\"x\"}", {"\"x\""}, {"\"y\""}},
    {SCHEMA, "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"string\"}},\"required\":[\"a\"]}",
     {"{\"a\":1}", "{\"a\": 1, \"b\": \"x\"}", "{ \"a\" : 1 }"}, {"{}", "{\"b\":\"x\"}", "{\"a\":1,}", "{\"a\":1,\"c\":2}", "{\"b\":\"x\",\"a\":1}"}},
    {SCHEMA, "{\"type\":\"object\",\"properties\":{\"a\":{},\"b\":{}},\"additionalProperties\":{\"type\":\"integer\"}}",
     {"{}", "{\"b\":1}", "{\"a\":1,\"c\":2}", "{\"ab\":3}", "{\"c\":1,\"d\":2}"}, {"{\"c\":\"x\"}", "{\"c\":1,\"a\":\"x\"}", "{\"a\":1,\"a\":1}"}},
    {SCHEMA, "{\"type\":\"object\",\"additionalProperties\":false}", {"{}"}, {"{\"a\":1}"}},
    {SCHEMA, "{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":1,\"maxItems\":3}", {"[1]", "[1, 2,3]"}, {"[]", "[1,2,3,4]", "[\"a\"]"}},
    {SCHEMA, "{\"type\":\"array\",\"prefixItems\":[{\"type\":\"string\"},{\"type\":\"integer\"}],\"items\":false}", {"[]", "[\"a\"]", "[\"a\",1]"}, {"[1]", "[\"a\",1,2]"}},
    {SCHEMA, "{\"type\":\"array\",\"prefixItems\":[{\"const\":1}],\"items\":{\"const\":2},\"minItems\":2}", {"[1,2]", "[1,2,2]"}, {"[1]", "[2,2]"}},
    {SCHEMA, "{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"string\",\"maxLength\":1}]}", {"1", "\"a\""}, {"\"ab\"", "null"}},
    {SCHEMA, "{\"oneOf\":[{\"const\":1},{\"const\":2}]}", {"1", "2"}, {"3"}},
    {SCHEMA, "{\"oneOf\":[{\"type\":\"object\",\"properties\":{\"k\":{\"const\":\"a\"},\"x\":{\"type\":\"integer\"}},\"required\":[\"k\"]},"
             "{\"type\":\"object\",\"properties\":{\"k\":{\"enum\":[\"b\",\"c\"]},\"y\":{\"type\":\"string\"}},\"required\":[\"k\"]},{\"type\":\"string\"}]}",
     {"{\"k\":\"a\",\"x\":1}", "{\"k\":\"c\",\"y\":\"s\"}", "\"s\""}, {"{\"k\":\"a\",\"y\":\"s\"}", "{}"}},
    {SCHEMA, "{\"allOf\":[{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"]},{\"properties\":{\"b\":{\"type\":\"boolean\"}},\"required\":[\"b\"]}]}",
     {"{\"a\":1,\"b\":true}"}, {"{\"a\":1}", "{\"b\":true}"}},
    {SCHEMA, "{\"allOf\":[{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"additionalProperties\":{\"type\":\"string\"}},{\"properties\":{\"b\":{\"type\":[\"string\",\"integer\"]}},\"required\":[\"b\"]}]}",
     {"{\"a\":1,\"b\":\"x\"}", "{\"b\":\"x\"}"}, {"{\"b\":1}", "{\"a\":1}"}},
    {SCHEMA, "{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\"},\"kids\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/node\"}}},\"required\":[\"v\"]}},\"$ref\":\"#/$defs/node\"}",
     {"{\"v\":1}", "{\"v\":1,\"kids\":[{\"v\":2,\"kids\":[]},{\"v\":3}]}"}, {"{\"kids\":[]}", "{\"v\":1,\"kids\":[{}]}"}},
    {SCHEMA, "{\"type\":\"object\",\"properties\":{\"x\":{\"$ref\":\"#/definitions/p\"}},\"definitions\":{\"p\":{\"type\":\"integer\",\"minimum\":0}}}", {"{\"x\":5}", "{}"}, {"{\"x\":-5}"}},
    {SCHEMA, "true", {"[]", "0"}, {""}},
};

static const struct { int kind; const char *src; int code; const char *msg_part; } bad[] = {
    {GBNF, "root ::= \"a", INF_E_INVALID_ARGUMENT, "unterminated literal"},
    {GBNF, "root ::= x", INF_E_INVALID_ARGUMENT, "'x' is used but not defined"},
    {GBNF, "foo ::= \"a\"", INF_E_INVALID_ARGUMENT, "no rule named 'root'"},
    {GBNF, "root ::= root \"a\" | \"b\"", INF_E_INVALID_ARGUMENT, "left recursion"},
    {GBNF, "root ::= a\na ::= b? a \"x\" | \"z\"\nb ::= \"y\"", INF_E_INVALID_ARGUMENT, "left recursion"},
    {GBNF, "root ::= (\"a\"", INF_E_INVALID_ARGUMENT, "expected ')'"},
    {GBNF, "root ::= \"a\" )", INF_E_INVALID_ARGUMENT, "unbalanced"},
    {GBNF, "root ::= [b-a]", INF_E_INVALID_ARGUMENT, "out of order"},
    {GBNF, "root ::= \"a\"{3,2}", INF_E_INVALID_ARGUMENT, "n < m"},
    {GBNF, "root ::= \"a\"{100000}", INF_E_LIMIT, "limit"},
    {GBNF, "root ::= \"a\"\nroot ::= \"b\"", INF_E_INVALID_ARGUMENT, "defined twice"},
    {GBNF, "root ::= \"\\q\"", INF_E_INVALID_ARGUMENT, "unknown escape"},
    {GBNF, "root ::= x\nx ::= \"a\" x", INF_E_INVALID_ARGUMENT, "matches no string"},
    {GBNF, "root ::= []", INF_E_INVALID_ARGUMENT, "matches no string"},
    {GBNF, "root ::= ::=", INF_E_INVALID_ARGUMENT, "expected"},
    {REGEX, "(a", INF_E_INVALID_ARGUMENT, "expected ')'"},
    {REGEX, "a)", INF_E_INVALID_ARGUMENT, "unbalanced"},
    {REGEX, "*a", INF_E_INVALID_ARGUMENT, "nothing to repeat"},
    {REGEX, "(a)\\1", INF_E_UNSUPPORTED, "back-references"},
    {REGEX, "(?=a)", INF_E_UNSUPPORTED, "lookaround"},
    {REGEX, "a\\bb", INF_E_UNSUPPORTED, "word boundaries"},
    {REGEX, "a^b", INF_E_UNSUPPORTED, "anchors"},
    {REGEX, "[a", INF_E_INVALID_ARGUMENT, "unterminated"},
    {REGEX, "a{5,1}", INF_E_INVALID_ARGUMENT, "n < m"},
    {REGEX, "\\p{L}", INF_E_UNSUPPORTED, "property"},
    {REGEX, "[z-a]", INF_E_INVALID_ARGUMENT, "out of order"},
    {SCHEMA, "{\"type\":", INF_E_INVALID_ARGUMENT, "not valid JSON"},
    {SCHEMA, "{\"type\":\"strin\"}", INF_E_INVALID_ARGUMENT, "unknown type"},
    {SCHEMA, "{\"type\":\"object\",\"patternProperties\":{}}", INF_E_UNSUPPORTED, "'patternProperties'"},
    {SCHEMA, "{\"not\":{}}", INF_E_UNSUPPORTED, "'not'"},
    {SCHEMA, "{\"type\":\"array\",\"uniqueItems\":true}", INF_E_UNSUPPORTED, "'uniqueItems'"},
    {SCHEMA, "{\"type\":\"string\",\"format\":\"hostname\"}", INF_E_UNSUPPORTED, "format 'hostname'"},
    {SCHEMA, "{\"properties\":{\"a\":{\"multipleOf\":2}}}", INF_E_UNSUPPORTED, "/properties/a: keyword 'multipleOf'"},
    {SCHEMA, "false", INF_E_INVALID_ARGUMENT, "never be satisfied"},
    {SCHEMA, "{\"type\":\"integer\",\"minimum\":5,\"maximum\":1}", INF_E_INVALID_ARGUMENT, "never be satisfied"},
    {SCHEMA, "{\"type\":\"object\",\"properties\":{\"a\":false},\"required\":[\"a\"]}", INF_E_INVALID_ARGUMENT, "never be satisfied"},
    {SCHEMA, "{\"allOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}", INF_E_INVALID_ARGUMENT, "never be satisfied"},
    {SCHEMA, "{\"type\":\"object\",\"allOf\":[{\"properties\":{\"a\":{}},\"required\":[\"a\"]}],\"additionalProperties\":false}", INF_E_INVALID_ARGUMENT, "never be satisfied"},
    {SCHEMA, "{\"$defs\":{\"a\":{\"type\":\"object\",\"properties\":{\"n\":{\"$ref\":\"#/$defs/a\"}},\"required\":[\"n\"]}},\"$ref\":\"#/$defs/a\"}",
     INF_E_INVALID_ARGUMENT, "never be satisfied"},
    {SCHEMA, "{\"$ref\":\"#\"}", INF_E_INVALID_ARGUMENT, "never be satisfied"},
    {SCHEMA, "{\"$defs\":{\"a\":{\"$ref\":\"#/$defs/b\"},\"b\":{\"$ref\":\"#/$defs/a\"}},\"$ref\":\"#/$defs/a\"}", INF_E_INVALID_ARGUMENT, "never be satisfied"},
    {SCHEMA, "{\"anyOf\":[{\"$ref\":\"#\"},{\"type\":\"null\"}]}", INF_E_INVALID_ARGUMENT, "refers to itself"},
    {SCHEMA, "{\"$ref\":\"#/$defs/missing\"}", INF_E_INVALID_ARGUMENT, "points to nothing"},
    {SCHEMA, "{\"$ref\":\"http://example.com/s.json\"}", INF_E_UNSUPPORTED, "only references inside"},
    {SCHEMA, "{\"allOf\":[{\"$ref\":\"#\"}]}", INF_E_LIMIT, "nested too deeply"},
    {SCHEMA, "{\"type\":\"string\",\"maxLength\":100000}", INF_E_LIMIT, "above the limit"},
    {SCHEMA, "{\"type\":\"string\",\"pattern\":\"(a\"}", INF_E_INVALID_ARGUMENT, "pattern"},
    {SCHEMA, "{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":2}]}", INF_E_UNSUPPORTED, "oneOf whose branches may overlap"},
};

static void run_cases(void) {
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        inf__grammar *g = NULL;
        inf__err err = {0};
        int rc = compile(cases[c].kind, cases[c].src, &g, &err);
        CHECK_MSG(rc == INF_OK, "%s %s: %s", kind_name[cases[c].kind], cases[c].src, err.msg);
        if (rc) continue;
        for (int k = 0; k < 12 && cases[c].yes[k]; k++)
            CHECK_MSG(matches(g, cases[c].yes[k], strlen(cases[c].yes[k])) == 1, "%s %s should accept '%s'",
                      kind_name[cases[c].kind], cases[c].src, cases[c].yes[k]);
        for (int k = 0; k < 12 && cases[c].no[k]; k++)
            CHECK_MSG(matches(g, cases[c].no[k], strlen(cases[c].no[k])) == 0, "%s %s should reject '%s'",
                      kind_name[cases[c].kind], cases[c].src, cases[c].no[k]);
        inf__grammar_free(g);
    }
    for (size_t c = 0; c < sizeof bad / sizeof *bad; c++) {
        inf__grammar *g = NULL;
        inf__err err = {0};
        int rc = compile(bad[c].kind, bad[c].src, &g, &err);
        CHECK_MSG(rc == bad[c].code && g == NULL, "%s '%s': rc %d (%s)", kind_name[bad[c].kind], bad[c].src, rc, err.msg);
        CHECK_MSG(strstr(err.msg, bad[c].msg_part) != NULL, "%s '%s': message '%s' lacks '%s'", kind_name[bad[c].kind],
                  bad[c].src, err.msg, bad[c].msg_part);
        inf__grammar_free(g);
    }
}

/* Masks with multi-byte tokens: every allowed token must be accepted and
 * every refused one refused by accept_token; a walk of random allowed
 * tokens ends only in accepting states. */
static void mask_walks(void) {
    const char *srcs[] = {"root ::= \"[\" (item (\", \" item)*)? \"]\"\nitem ::= \"\\\"a\\\"\" | \"true\" | \"null\" | \"12\"",
                          "root ::= [a-c]+ \"\\u00e9\" \"x\"?"};
    unsigned seed = 12345;
    for (size_t s = 0; s < 2; s++) {
        inf__grammar *g = NULL;
        inf__err err = {0};
        CHECK(inf__grammar_from_gbnf(srcs[s], strlen(srcs[s]), NULL, &g, &err) == INF_OK);
        if (!g) continue;
        inf__matcher *m = NULL;
        CHECK(inf__matcher_new(g, vocab, &m, &err) == INF_OK);
        size_t w = inf__matcher_mask_words(m);
        uint32_t *bits = calloc(w, sizeof *bits);
        for (int walkn = 0; walkn < 50; walkn++) {
            inf__matcher_reset(m);
            for (int step = 0; step < 40; step++) {
                CHECK(inf__matcher_fill_mask(m, bits, &err) == INF_OK);
                int32_t allowed[600], na = 0;
                for (int32_t id = 0; id < inf__grammar_vocab_size(vocab); id++) {
                    int bit = (bits[id >> 5] >> (id & 31)) & 1;
                    CHECK(bit == inf__matcher_token_allowed(m, id));
                    if (bit) allowed[na++] = id;
                }
                CHECK(na > 0);
                if (!na) break;
                seed = seed * 1103515245u + 12345u;
                int32_t id = allowed[(seed >> 8) % (unsigned)na];
                CHECK(inf__matcher_accept_token(m, id, &err) == INF_OK);
                if (id == 0) { CHECK(inf__matcher_is_finished(m)); break; }
            }
        }
        free(bits);
        inf__matcher_free(m);
        inf__grammar_free(g);
    }
}

/* Right recursion runs in constant depth (tail calls); a grammar whose
 * parses multiply fails with INF_E_LIMIT instead of running on. */
static void depth_and_ambiguity(void) {
    inf__err err = {0};
    inf__grammar *g = NULL;
    const char *list = "root ::= item root | item\nitem ::= \"x\"";
    CHECK(inf__grammar_from_gbnf(list, strlen(list), NULL, &g, &err) == INF_OK);
    if (g) {
        size_t n = 20000;
        char *s = malloc(n);
        memset(s, 'x', n);
        inf__matcher *m = NULL;
        CHECK(inf__matcher_new(g, vocab, &m, &err) == INF_OK);
        CHECK_MSG(inf__matcher_accept_bytes(m, s, n, &err) == INF_OK, "%s", err.msg);
        CHECK(inf__matcher_is_accepting(m));
        uint32_t bits[16];
        CHECK(inf__matcher_fill_mask(m, bits, &err) == INF_OK);
        CHECK((bits[0] & 1) && ((bits[(1 + 'x') >> 5] >> ((1 + 'x') & 31)) & 1));
        inf__matcher_free(m);
        free(s);
        inf__grammar_free(g);
    }
    const char *amb = "root ::= x\nx ::= y | z | \"\"\ny ::= \"a\" x \"b\"\nz ::= \"a\" x \"c\"";
    g = NULL;
    CHECK(inf__grammar_from_gbnf(amb, strlen(amb), NULL, &g, &err) == INF_OK);
    if (g) {
        inf__matcher *m = NULL;
        CHECK(inf__matcher_new(g, vocab, &m, &err) == INF_OK);
        int rc = INF_OK;
        for (int i = 0; i < 40 && rc == INF_OK; i++) rc = inf__matcher_accept_bytes(m, "a", 1, &err);
        CHECK_MSG(rc == INF_E_LIMIT && strstr(err.msg, "parses"), "rc %d %s", rc, err.msg);
        uint32_t bits[16];
        CHECK(inf__matcher_fill_mask(m, bits, &err) == INF_E_LIMIT);
        inf__matcher_free(m);
        inf__grammar_free(g);
    }
    /* the subset construction's work is bounded too */
    const char *re = "(a|b|ab|ba){1,1000}";
    g = NULL;
    CHECK(inf__grammar_from_regex(re, strlen(re), NULL, &g, &err) == INF_E_LIMIT && !g);
    CHECK(strstr(err.msg, "too complex") != NULL);
}

int main(void) {
    make_vocab();
    depth_and_ambiguity();
    run_cases();
    mask_walks();
    inf__grammar_vocab_free(vocab);
    return tu_summary("test_grammar");
}
