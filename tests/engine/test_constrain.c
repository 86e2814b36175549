/* Constrained decoding in the engine (src/engine/constrain.c) through the
 * public API on the bundled model: every sampled text inside its regex /
 * schema, with and without penalties (the masked-row path); the stream
 * ends when the grammar is finished; a constrained stream batched with an
 * unconstrained one leaves the latter's greedy tokens unchanged;
 * BatchGenerate applies the constraint to every prompt; the same seed
 * gives the same text; bad constraints fail the call with the grammar
 * engine's message. */
#include <jansson.h>
#include <regex.h>

#include "engine_testutil.h"

static inf_model *g_m;

static int full_match(const char *re, const char *text) {
    regex_t r;
    char anchored[256];
    snprintf(anchored, sizeof anchored, "^(%s)$", re);
    if (regcomp(&r, anchored, REG_EXTENDED | REG_NOSUB) != 0) return 0;
    int ok = regexec(&r, text, 0, NULL, 0) == 0;
    regfree(&r);
    return ok;
}

static const char *RE = "(cat|dog)s? [0-9]{2,4}!";
static const char *SCHEMA =
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":10},"
    "\"n\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":9}},\"required\":[\"name\",\"n\"],"
    "\"additionalProperties\":false}";

static int schema_ok(const char *text) {
    json_t *v = json_loads(text, 0, NULL);
    json_t *name = json_object_get(v, "name"), *n = json_object_get(v, "n");
    int ok = json_is_object(v) && json_object_size(v) == 2 && json_is_string(name) &&
             json_string_length(name) <= 40 && json_is_integer(n) && json_integer_value(n) >= 0 &&
             json_integer_value(n) <= 9;
    json_decref(v);
    return ok;
}

static void test_sampled(void) {
    inf_generate_options o;
    for (int pen = 0; pen < 2; pen++)
        for (uint64_t seed = 0; seed < 6; seed++) {
            inf_generate_options_default(&o);
            o.temperature = 1.0f;
            o.seed = seed;
            o.max_tokens = 64;
            o.constraint_kind = INF_CONSTRAINT_REGEX;
            o.constraint = RE;
            int32_t bias_id = 29871; /* a token the text may well use */
            float bias = 2.0f;
            if (pen) { /* the masked-row path: the sampler reads ids */
                o.repeat_penalty = 1.3f;
                o.presence_penalty = 0.5f;
                o.logit_bias_ids = &bias_id;
                o.logit_bias_values = &bias;
                o.n_logit_bias = 1;
            }
            et_run r;
            et_generate(g_m, "Pets:", NULL, 0, &o, &r);
            CHECK_EQ_INT(r.rc, INF_OK);
            CHECK_EQ_INT(r.err, INF_OK);
            CHECK_MSG(full_match(RE, r.text), "regex seed %llu pen %d: '%s'",
                      (unsigned long long)seed, pen, r.text);
            CHECK_EQ_INT(r.finish, INF_FINISH_EOS);
            o.constraint_kind = INF_CONSTRAINT_JSON_SCHEMA;
            o.constraint = SCHEMA;
            o.max_tokens = 300;
            et_generate(g_m, "Data:", NULL, 0, &o, &r);
            CHECK_EQ_INT(r.rc, INF_OK);
            CHECK_MSG(schema_ok(r.text), "schema seed %llu pen %d: '%s'",
                      (unsigned long long)seed, pen, r.text);
        }
    /* The same seed, the same text. */
    et_run a, b;
    inf_generate_options_default(&o);
    o.temperature = 1.0f;
    o.seed = 77;
    o.max_tokens = 300;
    o.constraint_kind = INF_CONSTRAINT_JSON_SCHEMA;
    o.constraint = SCHEMA;
    et_generate(g_m, "Data:", NULL, 0, &o, &a);
    et_generate(g_m, "Data:", NULL, 0, &o, &b);
    CHECK_EQ_STR(a.text, b.text);
    /* A grammar with one sentence ends as soon as it is written. */
    o.constraint_kind = INF_CONSTRAINT_GRAMMAR;
    o.constraint = "root ::= \"yes\"";
    et_generate(g_m, "Answer:", NULL, 0, &o, &a);
    CHECK_EQ_STR(a.text, "yes");
    CHECK_EQ_INT(a.finish, INF_FINISH_EOS);
    CHECK(a.n <= 3);
    /* ignore_eos cannot make a complete text go on. */
    o.ignore_eos = 1;
    o.constraint = "root ::= \"yes\" | \"yes!\"";
    et_generate(g_m, "Answer:", NULL, 0, &o, &a);
    CHECK_EQ_INT(a.err, INF_OK);
    CHECK_MSG(!strcmp(a.text, "yes") || !strcmp(a.text, "yes!"), "ignore_eos: '%s'", a.text);
    CHECK_EQ_INT(a.finish, INF_FINISH_EOS);
    o.ignore_eos = 0;
    /* "Any JSON object" (json_object). */
    o.constraint_kind = INF_CONSTRAINT_JSON;
    o.constraint = NULL;
    o.max_tokens = 2000;
    et_generate(g_m, "{", NULL, 0, &o, &a);
    if (a.finish == INF_FINISH_EOS) {
        json_t *v = json_loads(a.text, 0, NULL);
        CHECK_MSG(json_is_object(v), "json_object: '%s'", a.text);
        json_decref(v);
    }
}

/* A constrained stream next to an unconstrained greedy one: the latter's
 * tokens equal its run alone. */
static void test_batched_with_unconstrained(void) {
    inf_generate_options plain, con;
    inf_generate_options_default(&plain);
    plain.max_tokens = 32;
    et_run alone, r1, r2;
    et_generate(g_m, "The jury said", NULL, 0, &plain, &alone);
    CHECK_EQ_INT(alone.n, 32);
    inf_generate_options_default(&con);
    con.temperature = 1.0f;
    con.seed = 5;
    con.max_tokens = 300;
    con.constraint_kind = INF_CONSTRAINT_JSON_SCHEMA;
    con.constraint = SCHEMA;
    inf_stream *s1 = NULL, *s2 = NULL;
    memset(&r1, 0, sizeof r1);
    memset(&r2, 0, sizeof r2);
    CHECK_EQ_INT(inf_generate(g_m, "Data:", &con, &s1), INF_OK);
    CHECK_EQ_INT(inf_generate(g_m, "The jury said", &plain, &s2), INF_OK);
    if (s1) et_drain(s1, &r1);
    if (s2) et_drain(s2, &r2);
    CHECK_MSG(schema_ok(r1.text), "batched schema: '%s'", r1.text);
    CHECK_EQ_INT(r2.n, alone.n);
    CHECK(memcmp(r2.ids, alone.ids, alone.n * sizeof *alone.ids) == 0);
    CHECK_EQ_STR(r2.text, alone.text);
}

static void test_batch_generate(void) {
    const char *ps[4] = {"Data:", "A person:", "JSON:", "Record:"};
    inf_generate_options o;
    inf_generate_options_default(&o);
    o.temperature = 1.0f;
    o.seed = 9;
    o.max_tokens = 300;
    o.constraint_kind = INF_CONSTRAINT_JSON_SCHEMA;
    o.constraint = SCHEMA;
    inf_batch_result *res = NULL;
    CHECK_EQ_INT(inf_batch_generate(g_m, ps, 4, &o, &res), INF_OK);
    for (int i = 0; res && i < 4; i++) {
        CHECK_EQ_INT(res[i].status, INF_OK);
        CHECK_MSG(res[i].text && schema_ok(res[i].text), "batch %d: '%s'", i,
                  res[i].text ? res[i].text : "(null)");
    }
    inf_batch_results_free(res, 4);
}

static void bad(int kind, const char *text, int want, const char *needle) {
    inf_generate_options o;
    inf_generate_options_default(&o);
    o.constraint_kind = kind;
    o.constraint = text;
    inf_stream *s = NULL;
    int rc = inf_generate(g_m, "x", &o, &s);
    CHECK_MSG(rc == want, "%s: %d, expected %d (%s)", text ? text : "(null)", rc, want,
              inf_model_errmsg(g_m));
    CHECK_MSG(strstr(inf_model_errmsg(g_m), needle) != NULL, "message '%s' lacks '%s'",
              inf_model_errmsg(g_m), needle);
    CHECK(s == NULL);
    inf_stream_close(&s);
}

static void test_errors(void) {
    bad(INF_CONSTRAINT_REGEX, "a(", INF_E_INVALID_ARGUMENT, "regex");
    bad(INF_CONSTRAINT_REGEX, "(?=a)b", INF_E_UNSUPPORTED, "");
    bad(INF_CONSTRAINT_GRAMMAR, "root ::= undefined_rule", INF_E_INVALID_ARGUMENT, "undefined_rule");
    bad(INF_CONSTRAINT_JSON_SCHEMA, "{\"type\":\"number\",\"multipleOf\":2}", INF_E_UNSUPPORTED,
        "multipleOf");
    bad(INF_CONSTRAINT_JSON_SCHEMA, "{\"type\":\"integer\",\"minimum\":3,\"maximum\":1}",
        INF_E_INVALID_ARGUMENT, "never be satisfied");
    bad(INF_CONSTRAINT_JSON_SCHEMA, "{not json", INF_E_INVALID_ARGUMENT, "");
    bad(INF_CONSTRAINT_JSON_SCHEMA, NULL, INF_E_INVALID_ARGUMENT, "constraint is NULL");
    bad(7, "x", INF_E_INVALID_ARGUMENT, "constraint_kind");
}

int main(void) {
    g_m = et_load(BROWN, 0, 4);
    if (!g_m) return tu_summary("test_engine_constrain");
    test_sampled();
    test_batched_with_unconstrained();
    test_batch_generate();
    test_errors();
    inf_model_close(&g_m);
    return tu_summary("test_engine_constrain");
}
