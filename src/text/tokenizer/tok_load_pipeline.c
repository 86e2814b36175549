/* Reading the pipeline sections of tokenizer.json: normalizer,
 * pre_tokenizer, post_processor, decoder.  Sequences are flattened into one
 * array per stage (a Sequence applies its parts in order, which is what a
 * flat list does too). */
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer/tok_load.h"

#define OOM(err) inf__seterr(err, INF_E_NOMEM, "out of memory loading tokenizer")

static const char *jstr(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int grow(void **arr, size_t *n, size_t elem) {
    void *p = realloc(*arr, (*n + 1) * elem);
    if (!p) return -1;
    memset((char *)p + *n * elem, 0, elem);
    *arr = p;
    (*n)++;
    return 0;
}

static int is_none(json_t *j) { return !j || json_is_null(j); }

/* {"String": s} or {"Regex": r}: *is_regex, *s, *len. */
static int read_pattern(json_t *p, const char *where, int *is_regex, const char **s, size_t *len,
                        inf__err *err) {
    json_t *v;
    if ((v = json_object_get(p, "String")) && json_is_string(v)) *is_regex = 0;
    else if ((v = json_object_get(p, "Regex")) && json_is_string(v)) *is_regex = 1;
    else return inf__seterr(err, INF_E_FORMAT, "%s: pattern is neither String nor Regex", where);
    *s = json_string_value(v);
    *len = json_string_length(v);
    return INF_OK;
}

/* Metaspace: prepend_scheme, or the older add_prefix_space boolean. */
static int read_prepend_scheme(json_t *j, int *scheme, inf__err *err) {
    const char *s = jstr(j, "prepend_scheme");
    if (!s) *scheme = inf__tk_json_bool(j, "add_prefix_space", 1) ? PS_ALWAYS : PS_NEVER;
    else if (!strcmp(s, "always")) *scheme = PS_ALWAYS;
    else if (!strcmp(s, "first")) *scheme = PS_FIRST;
    else if (!strcmp(s, "never")) *scheme = PS_NEVER;
    else return inf__seterr(err, INF_E_UNSUPPORTED, "Metaspace prepend_scheme \"%s\" is not supported", s);
    return INF_OK;
}

static int read_replacement(json_t *j, char *out, int *len, inf__err *err) {
    const char *r = jstr(j, "replacement");
    if (!r) r = "\xE2\x96\x81"; /* U+2581 */
    size_t n = strlen(r);
    if (n == 0 || n > 4 || inf__utf8_valid_prefix(r, n) != n)
        return inf__seterr(err, INF_E_FORMAT, "Metaspace replacement must be one character");
    memcpy(out, r, n);
    out[n] = '\0';
    *len = (int)n;
    return INF_OK;
}

/* ---- normalizer -------------------------------------------------------- */
int inf__tk_parse_normalizer(inf__tokenizer *t, json_t *j, inf__err *err) {
    if (is_none(j)) return INF_OK;
    const char *type = jstr(j, "type");
    if (!type) return inf__seterr(err, INF_E_FORMAT, "normalizer without a type");
    if (!strcmp(type, "Sequence")) {
        json_t *parts = json_object_get(j, "normalizers");
        size_t i;
        json_t *p;
        json_array_foreach(parts, i, p) {
            int rc = inf__tk_parse_normalizer(t, p, err);
            if (rc) return rc;
        }
        return INF_OK;
    }
    static const struct { const char *name; int type; } simple[] = {
        {"NFC", NZ_NFC}, {"NFD", NZ_NFD}, {"NFKC", NZ_NFKC}, {"NFKD", NZ_NFKD},
        {"Lowercase", NZ_LOWERCASE}, {"StripAccents", NZ_STRIP_ACCENTS},
        {"Strip", NZ_STRIP}, {"Replace", NZ_REPLACE}, {"Prepend", NZ_PREPEND}};
    int kind = -1;
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++)
        if (!strcmp(type, simple[i].name)) kind = simple[i].type;
    if (kind < 0) return inf__seterr(err, INF_E_UNSUPPORTED, "normalizer \"%s\" is not supported", type);
    if (grow((void **)&t->norm, &t->n_norm, sizeof *t->norm)) return OOM(err);
    tk_norm *n = &t->norm[t->n_norm - 1];
    n->type = kind;
    if (kind == NZ_STRIP) {
        n->left = inf__tk_json_bool(j, "strip_left", 1);
        n->right = inf__tk_json_bool(j, "strip_right", 1);
    } else if (kind == NZ_PREPEND) {
        const char *s = jstr(j, "prepend");
        if (!s) return inf__seterr(err, INF_E_FORMAT, "Prepend normalizer without \"prepend\"");
        n->content_len = strlen(s);
        if (!(n->content = inf__tk_arena_dup(&t->arena, s, n->content_len))) return OOM(err);
    } else if (kind == NZ_REPLACE) {
        int is_re = 0;       /* initialised for gcc -O3's flow analysis */
        const char *s = NULL;
        size_t len = 0;
        int rc = read_pattern(json_object_get(j, "pattern"), "Replace normalizer", &is_re, &s, &len, err);
        if (rc) return rc;
        const char *c = jstr(j, "content");
        if (!c) return inf__seterr(err, INF_E_FORMAT, "Replace normalizer without content");
        n->content_len = strlen(c);
        if (!(n->content = inf__tk_arena_dup(&t->arena, c, n->content_len))) return OOM(err);
        if (is_re) {
            if (!(n->re = inf__tk_regex_compile(s, len, 0, err))) return err ? err->code : INF_E_UNSUPPORTED;
        } else {
            if (len == 0) return inf__seterr(err, INF_E_FORMAT, "Replace normalizer with an empty pattern");
            n->pat_len = len;
            if (!(n->pat = inf__tk_arena_dup(&t->arena, s, len))) return OOM(err);
        }
    }
    return INF_OK;
}

/* ---- pre-tokenizer ----------------------------------------------------- */
static int read_behavior(const char *b, int *out, inf__err *err) {
    static const struct { const char *name; int v; } map[] = {
        {"Removed", SB_REMOVED}, {"Isolated", SB_ISOLATED}, {"MergedWithPrevious", SB_MERGED_PREV},
        {"MergedWithNext", SB_MERGED_NEXT}, {"Contiguous", SB_CONTIGUOUS}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (b && !strcmp(b, map[i].name)) { *out = map[i].v; return INF_OK; }
    return inf__seterr(err, INF_E_UNSUPPORTED, "split behavior \"%s\" is not supported", b ? b : "(none)");
}

int inf__tk_parse_pretok(inf__tokenizer *t, json_t *j, inf__err *err) {
    if (is_none(j)) return INF_OK;
    const char *type = jstr(j, "type");
    if (!type) return inf__seterr(err, INF_E_FORMAT, "pre_tokenizer without a type");
    if (!strcmp(type, "Sequence")) {
        json_t *parts = json_object_get(j, "pretokenizers");
        size_t i;
        json_t *p;
        json_array_foreach(parts, i, p) {
            int rc = inf__tk_parse_pretok(t, p, err);
            if (rc) return rc;
        }
        return INF_OK;
    }
    int kind;
    if (!strcmp(type, "Split")) kind = PT_SPLIT;
    else if (!strcmp(type, "ByteLevel")) kind = PT_BYTELEVEL;
    else if (!strcmp(type, "Metaspace")) kind = PT_METASPACE;
    else if (!strcmp(type, "Digits")) kind = PT_DIGITS;
    else if (!strcmp(type, "Whitespace")) kind = PT_WHITESPACE;
    else if (!strcmp(type, "WhitespaceSplit")) kind = PT_WHITESPACE_SPLIT;
    else if (!strcmp(type, "Punctuation")) kind = PT_PUNCTUATION;
    else return inf__seterr(err, INF_E_UNSUPPORTED, "pre_tokenizer \"%s\" is not supported", type);
    if (grow((void **)&t->pre, &t->n_pre, sizeof *t->pre)) return OOM(err);
    tk_pretok *p = &t->pre[t->n_pre - 1];
    p->type = kind;
    int rc = INF_OK;
    switch (kind) {
    case PT_SPLIT: {
        int is_re = 0;       /* initialised for gcc -O3's flow analysis */
        const char *s = NULL;
        size_t len = 0;
        if ((rc = read_pattern(json_object_get(j, "pattern"), "Split pre_tokenizer", &is_re, &s, &len, err))) return rc;
        if ((rc = read_behavior(jstr(j, "behavior"), &p->behavior, err))) return rc;
        p->invert = inf__tk_json_bool(j, "invert", 0);
        if (!(p->re = inf__tk_regex_compile(s, len, !is_re, err))) return err ? err->code : INF_E_UNSUPPORTED;
        break;
    }
    case PT_BYTELEVEL:
        p->add_prefix_space = inf__tk_json_bool(j, "add_prefix_space", 1);
        p->use_regex = inf__tk_json_bool(j, "use_regex", 1);
        if (p->use_regex) {
            /* The GPT-2 split used by ByteLevel itself. */
            static const char gpt2[] =
                "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
            if (!(p->re = inf__tk_regex_compile(gpt2, sizeof gpt2 - 1, 0, err))) return err ? err->code : INF_E_INTERNAL;
        }
        break;
    case PT_METASPACE:
        if ((rc = read_replacement(j, p->repl, &p->repl_len, err))) return rc;
        if ((rc = read_prepend_scheme(j, &p->prepend_scheme, err))) return rc;
        p->split = inf__tk_json_bool(j, "split", 1);
        break;
    case PT_WHITESPACE: {
        /* HF's Whitespace: the words are the matches of \w+|[^\w\s]+ in Rust's
         * regex crate, whose \w and \s are spelled out here. */
        static const char ws[] =
            "[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}]+"
            "|[^\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}\\p{White_Space}]+";
        if (!(p->re = inf__tk_regex_compile(ws, sizeof ws - 1, 0, err))) return err ? err->code : INF_E_INTERNAL;
        break;
    }
    case PT_DIGITS:
        p->individual_digits = inf__tk_json_bool(j, "individual_digits", 0);
        break;
    case PT_PUNCTUATION:
        if ((rc = read_behavior(jstr(j, "behavior") ? jstr(j, "behavior") : "Isolated", &p->behavior, err))) return rc;
        break;
    default:
        break;
    }
    return INF_OK;
}

/* ---- post-processor ---------------------------------------------------- */
static int push_id(int32_t **arr, size_t *n, int32_t id) {
    int32_t *p = realloc(*arr, (*n + 1) * sizeof *p);
    if (!p) return -1;
    p[(*n)++] = id;
    *arr = p;
    return 0;
}

static int parse_template(inf__tokenizer *t, json_t *j, inf__err *err) {
    json_t *single = json_object_get(j, "single"), *specials = json_object_get(j, "special_tokens");
    if (!json_is_array(single)) return inf__seterr(err, INF_E_UNSUPPORTED, "TemplateProcessing without a \"single\" template");
    int seen_seq = 0;
    size_t i;
    json_t *piece;
    json_array_foreach(single, i, piece) {
        json_t *sp = json_object_get(piece, "SpecialToken"), *sq = json_object_get(piece, "Sequence");
        if (sq) {
            const char *id = jstr(sq, "id");
            if (seen_seq || !id || strcmp(id, "A"))
                return inf__seterr(err, INF_E_UNSUPPORTED, "TemplateProcessing single template with sequence \"%s\"", id ? id : "?");
            seen_seq = 1;
            continue;
        }
        const char *name = jstr(sp, "id");
        json_t *tok = name ? json_object_get(specials, name) : NULL;
        json_t *ids = json_object_get(tok, "ids");
        if (!json_is_array(ids))
            return inf__seterr(err, INF_E_FORMAT, "TemplateProcessing special token \"%s\" is not defined", name ? name : "?");
        size_t k;
        json_t *idv;
        json_array_foreach(ids, k, idv) {
            if (!json_is_integer(idv)) return inf__seterr(err, INF_E_FORMAT, "TemplateProcessing id is not an integer");
            int32_t id = (int32_t)json_integer_value(idv);
            if (seen_seq ? push_id(&t->post_post, &t->n_post_post, id) : push_id(&t->post_pre, &t->n_post_pre, id))
                return OOM(err);
        }
    }
    return INF_OK;
}

int inf__tk_parse_post(inf__tokenizer *t, json_t *j, inf__err *err) {
    if (is_none(j)) return INF_OK;
    const char *type = jstr(j, "type");
    if (!type) return inf__seterr(err, INF_E_FORMAT, "post_processor without a type");
    if (!strcmp(type, "Sequence")) {
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(j, "processors"), i, p) {
            int rc = inf__tk_parse_post(t, p, err);
            if (rc) return rc;
        }
        return INF_OK;
    }
    if (!strcmp(type, "ByteLevel")) return INF_OK; /* only moves offsets */
    if (!strcmp(type, "TemplateProcessing")) return parse_template(t, j, err);
    if (!strcmp(type, "RobertaProcessing") || !strcmp(type, "BertProcessing")) {
        json_t *cls = json_object_get(j, "cls"), *sep = json_object_get(j, "sep");
        if (!json_is_integer(json_array_get(cls, 1)) || !json_is_integer(json_array_get(sep, 1)))
            return inf__seterr(err, INF_E_FORMAT, "%s needs cls and sep", type);
        if (push_id(&t->post_pre, &t->n_post_pre, (int32_t)json_integer_value(json_array_get(cls, 1))) ||
            push_id(&t->post_post, &t->n_post_post, (int32_t)json_integer_value(json_array_get(sep, 1))))
            return OOM(err);
        return INF_OK;
    }
    return inf__seterr(err, INF_E_UNSUPPORTED, "post_processor \"%s\" is not supported", type);
}

/* ---- decoder ----------------------------------------------------------- */
int inf__tk_parse_decoder(inf__tokenizer *t, json_t *j, inf__err *err) {
    if (is_none(j)) return INF_OK;
    t->has_decoder = 1;
    const char *type = jstr(j, "type");
    if (!type) return inf__seterr(err, INF_E_FORMAT, "decoder without a type");
    if (!strcmp(type, "Sequence")) {
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(j, "decoders"), i, p) {
            int rc = inf__tk_parse_decoder(t, p, err);
            if (rc) return rc;
        }
        return INF_OK;
    }
    int kind;
    if (!strcmp(type, "ByteLevel")) kind = DC_BYTELEVEL;
    else if (!strcmp(type, "Replace")) kind = DC_REPLACE;
    else if (!strcmp(type, "ByteFallback")) kind = DC_BYTEFALLBACK;
    else if (!strcmp(type, "Fuse")) kind = DC_FUSE;
    else if (!strcmp(type, "Strip")) kind = DC_STRIP;
    else if (!strcmp(type, "Metaspace")) kind = DC_METASPACE;
    else if (!strcmp(type, "BPEDecoder")) kind = DC_BPE_SUFFIX;
    else return inf__seterr(err, INF_E_UNSUPPORTED, "decoder \"%s\" is not supported", type);
    if (grow((void **)&t->dec, &t->n_dec, sizeof *t->dec)) return OOM(err);
    tk_dec *d = &t->dec[t->n_dec - 1];
    d->type = kind;
    int rc = INF_OK;
    if (kind == DC_REPLACE) {
        int is_re = 0;       /* initialised for gcc -O3's flow analysis */
        const char *s = NULL;
        size_t len = 0;
        if ((rc = read_pattern(json_object_get(j, "pattern"), "Replace decoder", &is_re, &s, &len, err))) return rc;
        if (is_re) return inf__seterr(err, INF_E_UNSUPPORTED, "Replace decoder with a Regex pattern is not supported");
        const char *c = jstr(j, "content");
        if (!c || len == 0) return inf__seterr(err, INF_E_FORMAT, "Replace decoder needs a pattern and content");
        d->pat_len = len;
        d->content_len = strlen(c);
        if (!(d->pat = inf__tk_arena_dup(&t->arena, s, len)) ||
            !(d->content = inf__tk_arena_dup(&t->arena, c, d->content_len)))
            return OOM(err);
    } else if (kind == DC_STRIP) {
        const char *c = jstr(j, "content");
        int l = 0;
        if (!c || !*c) return inf__seterr(err, INF_E_FORMAT, "Strip decoder needs content");
        d->strip_cp = inf__tk_utf8_dec(c, strlen(c), &l);
        json_t *st = json_object_get(j, "start"), *sp = json_object_get(j, "stop");
        d->start = json_is_integer(st) ? (int)json_integer_value(st) : 0;
        d->stop = json_is_integer(sp) ? (int)json_integer_value(sp) : 0;
    } else if (kind == DC_METASPACE) {
        if ((rc = read_replacement(j, d->repl, &d->repl_len, err))) return rc;
        if ((rc = read_prepend_scheme(j, &d->prepend_scheme, err))) return rc;
    } else if (kind == DC_BPE_SUFFIX) {
        const char *s = jstr(j, "suffix");
        if (!s) s = "</w>";
        d->pat_len = strlen(s);
        if (!(d->pat = inf__tk_arena_dup(&t->arena, s, d->pat_len))) return OOM(err);
    }
    return INF_OK;
}
