/* JSON Schema conformance of the grammar compiler against the official
 * JSON Schema Test Suite, and random documents for the ajv check.
 *
 *   schema_suite SUITE_DIR EXPECTED OUT.jsonl [SCHEMA_FILE...]
 *
 * For every test group of SUITE_DIR/<keyword>.json (and optional/format.json)
 * the schema is compiled.  A group whose schema uses a keyword outside the
 * subset must fail with INF_E_UNSUPPORTED (counted "unsupported", its
 * cases not run); otherwise every case's instance must be accepted by the
 * grammar when valid and refused when invalid.  The grammar writes object
 * properties in the schema's order, so an instance is tried as written and
 * with its properties reordered after the schema; the two are the same JSON
 * value.  Cases where the grammar differs by design are listed in EXPECTED
 * (tab-separated: keyword, group, case, reason); any other difference, and
 * any listed one that no longer happens, fails the test.  An invalid
 * instance accepted is a soundness bug: none is listed.
 *
 * Each compiled schema then yields random documents (a random walk over the
 * grammar's bytes), written to OUT.jsonl as {"draft", "schema", "doc"} for
 * tests/grammar/ajv_check.js; SCHEMA_FILE arguments ({"schema": ...}, draft
 * 2020-12) add more. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "testutil.h"
#include "text/grammar/grammar.h"

static inf__grammar_vocab *vocab; /* 256 byte tokens (ids 1..256), eos 0 */

static void make_vocab(void) {
    static char bytes[256];
    const char *t[257];
    size_t l[257];
    t[0] = NULL;
    l[0] = 0;
    for (int b = 0; b < 256; b++) { bytes[b] = (char)b; t[1 + b] = &bytes[b]; l[1 + b] = 1; }
    int32_t eos = 0;
    inf__err err = {0};
    if (inf__grammar_vocab_from_bytes(t, l, 257, &eos, 1, &vocab, &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
}

static int accepts(const inf__grammar *g, const char *s) {
    inf__matcher *m = NULL;
    inf__err err = {0};
    if (inf__matcher_new(g, vocab, &m, &err)) return 0;
    int ok = inf__matcher_accept_bytes(m, s, strlen(s), &err) == INF_OK && inf__matcher_is_accepting(m);
    inf__matcher_free(m);
    return ok;
}

/* ---- reordering an instance's properties after the schema ---- */

static json_t *deref(json_t *s, json_t *root) {
    for (int k = 0; k < 16 && json_is_object(s); k++) {
        const char *r = json_string_value(json_object_get(s, "$ref"));
        if (!r || r[0] != '#') break;
        json_t *at = root;
        char buf[256];
        snprintf(buf, sizeof buf, "%s", r + 1);
        for (char *tok = strtok(buf, "/"); tok && at; tok = strtok(NULL, "/")) at = json_object_get(at, tok);
        if (!at) break;
        s = at;
    }
    return s;
}

/* The schemas s applies to objects through: itself, allOf, anyOf, oneOf. */
static void collect(json_t *s, json_t *root, json_t **out, size_t *n, int depth) {
    s = deref(s, root);
    if (!json_is_object(s) || depth > 8 || *n >= 64) return;
    out[(*n)++] = s;
    const char *kws[] = {"allOf", "anyOf", "oneOf"};
    for (int k = 0; k < 3; k++) {
        json_t *a = json_object_get(s, kws[k]);
        size_t i;
        json_t *x;
        json_array_foreach(a, i, x) collect(x, root, out, n, depth + 1);
    }
}

static json_t *canon(json_t *d, json_t *s, json_t *root, int depth) {
    if (depth > 32) return json_deep_copy(d);
    json_t *sub[64];
    size_t ns = 0;
    if (s) collect(s, root, sub, &ns, 0);
    if (json_is_object(d)) {
        json_t *o = json_object();
        for (size_t i = 0; i < ns; i++) {
            json_t *props = json_object_get(sub[i], "properties");
            const char *k;
            json_t *ps;
            json_object_foreach(props, k, ps) {
                json_t *v = json_object_get(d, k);
                if (v && !json_object_get(o, k)) json_object_set_new(o, k, canon(v, ps, root, depth + 1));
            }
        }
        const char *k;
        json_t *v;
        json_object_foreach(d, k, v) {
            if (json_object_get(o, k)) continue;
            json_t *ap = NULL;
            for (size_t i = 0; i < ns && !ap; i++) ap = json_object_get(sub[i], "additionalProperties");
            json_object_set_new(o, k, canon(v, json_is_object(ap) ? ap : NULL, root, depth + 1));
        }
        return o;
    }
    if (json_is_array(d)) {
        json_t *a = json_array();
        size_t i;
        json_t *v;
        json_array_foreach(d, i, v) {
            json_t *is = NULL;
            for (size_t k = 0; k < ns && !is; k++) {
                json_t *it = json_object_get(sub[k], "items");
                if (json_is_array(it)) is = json_array_get(it, i);
                else if (json_is_object(it)) is = it;
            }
            json_array_append_new(a, canon(v, is, root, depth + 1));
        }
        return a;
    }
    return json_deep_copy(d);
}

/* ---- random documents ---- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

/* A random string of g (bytes chosen uniformly among those allowed; past
 * 60 bytes closing characters are preferred so that it ends).  Returns a
 * malloc'd string or NULL when it did not end within 20000 bytes. */
static char *random_doc(const inf__grammar *g) {
    inf__matcher *m = NULL;
    inf__err err = {0};
    if (inf__matcher_new(g, vocab, &m, &err)) return NULL;
    size_t cap = 256, n = 0;
    char *out = malloc(cap);
    uint32_t bits[9];
    int allowed[257];
    static const char prefer[] = "\"]}0e";
    while (n < 20000) {
        if (inf__matcher_fill_mask(m, bits, &err)) break;
        int na = 0;
        for (int id = 1; id <= 256; id++)
            if ((bits[id >> 5] >> (id & 31)) & 1) allowed[na++] = id;
        int eos = bits[0] & 1;
        if (eos && (na == 0 || rnd() % 100 < (n > 60 ? 90u : 40u))) {
            out[n] = 0;
            inf__matcher_free(m);
            return out;
        }
        if (!na) break;
        int pick = allowed[rnd() % (uint32_t)na];
        if (n > 60)
            for (const char *p = prefer; *p; p++) {
                int id = 1 + (uint8_t)*p;
                if ((bits[id >> 5] >> (id & 31)) & 1) { pick = id; break; }
            }
        if (inf__matcher_accept_token(m, pick, &err)) break;
        if (n + 2 > cap) out = realloc(out, cap *= 2);
        out[n++] = (char)(pick - 1);
    }
    free(out);
    inf__matcher_free(m);
    return NULL;
}

static int emit_docs(FILE *f, const inf__grammar *g, json_t *schema, int draft, int count) {
    int made = 0;
    for (int k = 0; k < count; k++) {
        char *d = random_doc(g);
        if (!d) continue;
        json_t *line = json_pack("{s:i,s:O,s:s}", "draft", draft, "schema", schema, "doc", d);
        CHECK_MSG(line != NULL, "generated document is not valid UTF-8: %s", d);
        if (line) {
            char *t = json_dumps(line, JSON_COMPACT);
            fprintf(f, "%s\n", t);
            free(t);
            made++;
        }
        json_decref(line);
        free(d);
    }
    return made;
}

/* ---- the suite ---- */

typedef struct { char *kw, *group, *test; int seen; } expect;
static expect *exp_list;
static size_t n_exp;

static void load_expected(const char *path) {
    char *text = tu_read_file(path, NULL);
    if (!text) { fprintf(stderr, "cannot read %s\n", path); exit(1); }
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#' || !line[0]) continue;
        char *a = line, *b = strchr(a, '\t'), *c = b ? strchr(b + 1, '\t') : NULL, *d = c ? strchr(c + 1, '\t') : NULL;
        if (!b || !c || !d) { fprintf(stderr, "%s: bad line: %s\n", path, line); exit(1); }
        *b = *c = *d = 0;
        exp_list = realloc(exp_list, (n_exp + 1) * sizeof *exp_list);
        exp_list[n_exp++] = (expect){strdup(a), strdup(b + 1), strdup(c + 1), 0};
    }
    free(text);
}

static int expected(const char *kw, const char *group, const char *test) {
    for (size_t i = 0; i < n_exp; i++)
        if (!strcmp(exp_list[i].kw, kw) && !strcmp(exp_list[i].group, group) && !strcmp(exp_list[i].test, test)) {
            exp_list[i].seen = 1;
            return 1;
        }
    return 0;
}

typedef struct { char kw[64]; int groups, unsupported, cases, pass, valid_rejected, invalid_accepted, documented; } kwstat;

static void run_file(const char *path, const char *kw, kwstat *st, FILE *gen, int *docs) {
    json_error_t je;
    json_t *groups = json_load_file(path, 0, &je);
    CHECK_MSG(json_is_array(groups), "%s: %s", path, je.text);
    size_t gi;
    json_t *grp;
    json_array_foreach(groups, gi, grp) {
        const char *gdesc = json_string_value(json_object_get(grp, "description"));
        json_t *schema = json_object_get(grp, "schema"), *tests = json_object_get(grp, "tests");
        st->groups++;
        char *stext = json_dumps(schema, JSON_COMPACT | JSON_ENCODE_ANY);
        inf__grammar *g = NULL;
        inf__err err = {0};
        int rc = inf__grammar_from_json_schema(stext, strlen(stext), NULL, &g, &err);
        free(stext);
        if (rc == INF_E_UNSUPPORTED) {
            st->unsupported++;
            if (getenv("SCHEMA_SUITE_VERBOSE")) printf("  unsupported: %s / %s: %s\n", kw, gdesc, err.msg);
            continue;
        }
        int unsat = rc == INF_E_INVALID_ARGUMENT && strstr(err.msg, "never be satisfied");
        CHECK_MSG(rc == INF_OK || unsat, "%s / %s: %s", kw, gdesc, err.msg);
        if (rc && !unsat) continue;
        size_t ti;
        json_t *t;
        json_array_foreach(tests, ti, t) {
            const char *tdesc = json_string_value(json_object_get(t, "description"));
            json_t *data = json_object_get(t, "data");
            int valid = json_is_true(json_object_get(t, "valid"));
            int acc = 0;
            if (g) {
                /* numbers as the suite writes them (15 digits: 1.1, not
                 * 1.1000000000000001) and at full precision */
                size_t fl = JSON_COMPACT | JSON_ENCODE_ANY;
                char *a = json_dumps(data, fl | JSON_REAL_PRECISION(15));
                json_t *cd = canon(data, schema, schema, 0);
                char *b = json_dumps(cd, fl | JSON_REAL_PRECISION(15));
                char *a17 = json_dumps(data, fl), *b17 = json_dumps(cd, fl);
                acc = (a && accepts(g, a)) || (b && accepts(g, b)) || (a17 && accepts(g, a17)) || (b17 && accepts(g, b17));
                free(a);
                free(b);
                free(a17);
                free(b17);
                json_decref(cd);
            }
            st->cases++;
            if (acc == valid) { st->pass++; continue; }
            if (valid) st->valid_rejected++;
            else st->invalid_accepted++;
            if (expected(kw, gdesc, tdesc)) { st->documented++; continue; }
            char *a = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
            CHECK_MSG(0, "%s\t%s\t%s\t(%s instance %s %s)", kw, gdesc, tdesc, valid ? "valid" : "INVALID", a,
                      valid ? "refused" : "ACCEPTED");
            free(a);
        }
        if (g) *docs += emit_docs(gen, g, schema, 4, 20);
        inf__grammar_free(g);
    }
    json_decref(groups);
}

static int cmp_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: schema_suite SUITE_DIR EXPECTED OUT.jsonl [SCHEMA_FILE...]\n"); return 2; }
    make_vocab();
    load_expected(argv[2]);
    FILE *gen = fopen(argv[3], "w");
    if (!gen) { perror(argv[3]); return 1; }
    DIR *d = opendir(argv[1]);
    if (!d) { perror(argv[1]); return 1; }
    char *names[128];
    int nn = 0;
    struct dirent *e;
    while ((e = readdir(d)) && nn < 127)
        if (strstr(e->d_name, ".json")) names[nn++] = strdup(e->d_name);
    closedir(d);
    names[nn++] = strdup("optional/format.json");
    qsort(names, (size_t)nn, sizeof *names, cmp_name);
    kwstat *st = calloc((size_t)nn, sizeof *st);
    int docs = 0;
    kwstat tot = {"total", 0, 0, 0, 0, 0, 0, 0};
    printf("%-22s %6s %6s %6s %6s %8s %8s %6s\n", "keyword", "groups", "unsup", "cases", "pass", "valid-", "invalid+",
           "known");
    for (int i = 0; i < nn; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", argv[1], names[i]);
        snprintf(st[i].kw, sizeof st[i].kw, "%.*s", (int)(strlen(names[i]) - 5), names[i]);
        run_file(path, st[i].kw, &st[i], gen, &docs);
        printf("%-22s %6d %6d %6d %6d %8d %8d %6d\n", st[i].kw, st[i].groups, st[i].unsupported, st[i].cases, st[i].pass,
               st[i].valid_rejected, st[i].invalid_accepted, st[i].documented);
        tot.groups += st[i].groups; tot.unsupported += st[i].unsupported; tot.cases += st[i].cases;
        tot.pass += st[i].pass; tot.valid_rejected += st[i].valid_rejected;
        tot.invalid_accepted += st[i].invalid_accepted; tot.documented += st[i].documented;
        free(names[i]);
    }
    printf("%-22s %6d %6d %6d %6d %8d %8d %6d\n", tot.kw, tot.groups, tot.unsupported, tot.cases, tot.pass,
           tot.valid_rejected, tot.invalid_accepted, tot.documented);
    printf("(valid-: valid instances the grammar refuses; invalid+: invalid instances it accepts; known: listed in %s)\n",
           argv[2]);
    for (size_t i = 0; i < n_exp; i++)
        CHECK_MSG(exp_list[i].seen, "listed difference no longer happens: %s / %s / %s", exp_list[i].kw, exp_list[i].group,
                  exp_list[i].test);
    /* the benchmark's schemas (draft 2020-12) */
    for (int i = 4; i < argc; i++) {
        json_error_t je;
        json_t *spec = json_load_file(argv[i], 0, &je);
        json_t *schema = json_object_get(spec, "schema");
        char *stext = json_dumps(schema, JSON_COMPACT);
        inf__grammar *g = NULL;
        inf__err err = {0};
        int rc = stext ? inf__grammar_from_json_schema(stext, strlen(stext), NULL, &g, &err) : -1;
        CHECK_MSG(rc == INF_OK, "%s: %s", argv[i], err.msg);
        if (g) docs += emit_docs(gen, g, schema, 2020, 50);
        inf__grammar_free(g);
        free(stext);
        json_decref(spec);
    }
    fclose(gen);
    printf("%d random documents written to %s\n", docs, argv[3]);
    CHECK(docs > 0);
    inf__grammar_vocab_free(vocab);
    free(st);
    for (size_t i = 0; i < n_exp; i++) { free(exp_list[i].kw); free(exp_list[i].group); free(exp_list[i].test); }
    free(exp_list);
    return tu_summary("schema_suite");
}
