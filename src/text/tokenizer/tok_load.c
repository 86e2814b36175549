/* Reading tokenizer.json (+ tokenizer_config.json) into an inf__tokenizer.
 * Every component the encoder or decoder would need but does not implement
 * is an INF_E_UNSUPPORTED error naming it: a silently wrong tokenisation is
 * worse than none.  So is, as INF_E_FORMAT, a vocabulary that would drop or
 * confuse text (empty; two pieces or two added tokens with one id; a piece
 * listed twice), and an id far beyond the entries (id_limit below). The pipeline parts are read in tok_load_pipeline.c. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonwatch.h"
#include "text/tokenizer/tok_internal.h"
#include "text/tokenizer/tok_json_fast.h"
#include "text/tokenizer/tok_load.h"

#define OOM(err) inf__seterr(err, INF_E_NOMEM, "out of memory loading tokenizer")

/* Sizes inf__tok_load_dir accepts (the model directory reader,
 * src/model/modeldir.c, keeps to the same). */
#define INF__TOK_JSON_MAX INF__READ_FILE_MAX
#define INF__TOK_CONFIG_MAX ((size_t)64 << 20)

static const char *jstr(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

int inf__tk_json_bool(json_t *o, const char *k, int dflt) {
    json_t *v = json_object_get(o, k);
    if (json_is_boolean(v)) return json_is_true(v);
    return dflt;
}

/* ---- model ------------------------------------------------------------- */

/* Two vocab pieces with one id: one of them could never be decoded. */
static int repeated_id(const inf__tokenizer *t, int32_t id, const char *piece, inf__err *err) {
    return inf__seterr(err, INF_E_FORMAT, "vocab ids repeat: \"%.40s\" and \"%.40s\" are both id %d",
                       t->model_piece[id], piece, (int)id);
}

static int vocab_lookup(const inf__tokenizer *t, const char *s, size_t n) {
    return inf__tk_strmap_get(&t->vocab, s, n);
}

static int add_merge(inf__tokenizer *t, size_t i, const char *a, size_t la, const char *b, size_t lb,
                     tk_buf *cat, inf__err *err) {
    int32_t ia = vocab_lookup(t, a, la), ib = vocab_lookup(t, b, lb);
    /* With a continuing-subword prefix the merged piece drops b's prefix
     * (HF cuts prefix-length bytes off b unconditionally). */
    size_t cut = t->cont_prefix_len <= lb ? t->cont_prefix_len : lb;
    cat->n = 0;
    if (inf__tk_buf_put(cat, a, la) || inf__tk_buf_put(cat, b + cut, lb - cut)) return OOM(err);
    int32_t ic = vocab_lookup(t, cat->p, cat->n);
    if (ia < 0 || ib < 0 || ic < 0)
        return inf__seterr(err, INF_E_FORMAT, "merge %zu (\"%.*s\" \"%.*s\") uses a token missing from the vocab",
                           i, (int)la, a, (int)lb, b);
    if (inf__tk_pairmap_put(&t->merges, ia, ib, (int32_t)i, ic)) return OOM(err);
    return INF_OK;
}

/* Merges [i0, i0+m) of the fast path, in three passes so that the hash
 * table slots of a whole batch are fetched from memory in parallel. */
static int add_merges_fast(inf__tokenizer *t, const tk_fastjson *fj, size_t i0, size_t m, inf__err *err) {
    uint32_t ha[64], hb[64], hc[64];
    int32_t ia[64], ib[64], ic[64];
    const char *B = t->blob; /* the fast path's strings, now owned by t */
    for (size_t j = 0; j < m; j++) {
        const size_t *q = fj->merges + 4 * (i0 + j);
        ha[j] = inf__tk_hash(B + q[0], q[1]);
        hb[j] = inf__tk_hash(B + q[2], q[3]);
        size_t cut = t->cont_prefix_len <= q[3] ? t->cont_prefix_len : q[3];
        hc[j] = inf__tk_hash2(B + q[0], q[1], B + q[2] + cut, q[3] - cut);
        inf__tk_strmap_prefetch(&t->vocab, ha[j]);
        inf__tk_strmap_prefetch(&t->vocab, hb[j]);
        inf__tk_strmap_prefetch(&t->vocab, hc[j]);
    }
    for (size_t j = 0; j < m; j++) {
        const size_t *q = fj->merges + 4 * (i0 + j);
        ia[j] = inf__tk_strmap_get2(&t->vocab, B + q[0], q[1], "", 0, ha[j]);
        ib[j] = inf__tk_strmap_get2(&t->vocab, B + q[2], q[3], "", 0, hb[j]);
        size_t cut = t->cont_prefix_len <= q[3] ? t->cont_prefix_len : q[3];
        ic[j] = inf__tk_strmap_get2(&t->vocab, B + q[0], q[1], B + q[2] + cut, q[3] - cut, hc[j]);
        if (ia[j] < 0 || ib[j] < 0 || ic[j] < 0)
            return inf__seterr(err, INF_E_FORMAT, "merge %zu (\"%.*s\" \"%.*s\") uses a token missing from the vocab",
                               i0 + j, (int)q[1], B + q[0], (int)q[3], B + q[2]);
        inf__tk_pairmap_prefetch(&t->merges, ia[j], ib[j]);
    }
    for (size_t j = 0; j < m; j++)
        if (inf__tk_pairmap_put(&t->merges, ia[j], ib[j], (int32_t)(i0 + j), ic[j])) return OOM(err);
    return INF_OK;
}

static int parse_merges(inf__tokenizer *t, json_t *merges, const tk_fastjson *fj, inf__err *err) {
    size_t n = fj ? fj->n_merges : json_array_size(merges);
    if (inf__tk_pairmap_init(&t->merges, n)) return OOM(err);
    tk_buf cat = {0};
    int rc = INF_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        if (fj) {
            rc = add_merges_fast(t, fj, i, n - i < 64 ? n - i : 64, err);
            i += (n - i < 64 ? n - i : 64) - 1;
            continue;
        }
        json_t *m = json_array_get(merges, i);
        if (json_is_string(m)) {
            /* Legacy form "a b": the pieces never contain a space. */
            const char *s = json_string_value(m);
            const char *sp = strchr(s, ' ');
            if (!sp) { rc = inf__seterr(err, INF_E_FORMAT, "merge %zu \"%s\" has no space", i, s); break; }
            rc = add_merge(t, i, s, (size_t)(sp - s), sp + 1, strlen(sp + 1), &cat, err);
        } else if (json_is_array(m) && json_array_size(m) == 2 &&
                   json_is_string(json_array_get(m, 0)) && json_is_string(json_array_get(m, 1))) {
            rc = add_merge(t, i, json_string_value(json_array_get(m, 0)), json_string_length(json_array_get(m, 0)),
                           json_string_value(json_array_get(m, 1)), json_string_length(json_array_get(m, 1)), &cat, err);
        } else {
            rc = inf__seterr(err, INF_E_FORMAT, "merge %zu is neither \"a b\" nor [a, b]", i);
        }
    }
    free(cat.p);
    return rc;
}

/* The largest id a tokenizer.json may use: below twice its entries (vocab
 * plus added tokens) plus INF__TK_ID_SLACK.  Per-id tables are sized by the
 * largest id, so without a bound a 300-byte file with one id 0x7FFFFFF cost
 * 535 MB (issue 14); with it, memory follows the file's size.  Real files
 * have gaps and added tokens above the model's vocabulary (Qwen3: 151,643
 * entries, added ids up to 151,668; Llama 3: 128,000 and 128,255), well
 * within this. */
#define INF__TK_ID_SLACK 1024

static int64_t id_limit(size_t n_vocab, size_t n_added) {
    return 2 * ((int64_t)n_vocab + (int64_t)n_added) + INF__TK_ID_SLACK;
}

static int id_too_large(int64_t id, const char *what, int64_t limit, size_t n_vocab,
                        size_t n_added, inf__err *err) {
    return inf__seterr(err, INF_E_FORMAT,
                       "%s has id %lld, far beyond the %zu vocab entries and %zu added "
                       "tokens (ids must be below %lld)", what, (long long)id, n_vocab,
                       n_added, (long long)limit);
}

static int parse_model(inf__tokenizer *t, json_t *model, json_t *added, tk_fastjson *fj, inf__err *err) {
    if (!json_is_object(model)) return inf__seterr(err, INF_E_FORMAT, "tokenizer.json has no \"model\" object");
    const char *type = jstr(model, "type");
    json_t *vocab = json_object_get(model, "vocab"), *merges = json_object_get(model, "merges");
    if (type ? strcmp(type, "BPE") != 0 : !(json_is_object(vocab) && json_is_array(merges)))
        return inf__seterr(err, INF_E_UNSUPPORTED, "tokenizer model type \"%s\" is not supported (only BPE)",
                           type ? type : "(untagged)");
    if (!fj && (!json_is_object(vocab) || !json_is_array(merges)))
        return inf__seterr(err, INF_E_FORMAT, "BPE model needs a \"vocab\" object and a \"merges\" array");
    json_t *dropout = json_object_get(model, "dropout");
    if (json_is_number(dropout) && json_number_value(dropout) > 0.0)
        return inf__seterr(err, INF_E_UNSUPPORTED, "BPE dropout is not supported");

    /* Ids first, so the by-id tables are sized once, and bounded by the
     * number of entries (id_limit). */
    const char *key;
    json_t *val;
    size_t n_vocab = fj ? fj->n_vocab : json_object_size(vocab);
    size_t n_added = json_array_size(added);
    if (n_vocab == 0)
        return inf__seterr(err, INF_E_FORMAT, "the BPE vocab is empty (every ordinary "
                           "character would be dropped)");
    int64_t limit = id_limit(n_vocab, n_added);
    int32_t max_id = -1;
    char what[96];
    if (fj) {
        for (size_t i = 0; i < fj->n_vocab; i++) {
            size_t id = fj->vocab[3 * i + 2];
            if ((uint64_t)id >= (uint64_t)limit) {
                snprintf(what, sizeof what, "vocab entry \"%.40s\"", fj->blob.p + fj->vocab[3 * i]);
                return id_too_large((int64_t)id, what, limit, n_vocab, n_added, err);
            }
            if ((int32_t)id > max_id) max_id = (int32_t)id;
        }
    } else {
        json_object_foreach(vocab, key, val) {
            if (!json_is_integer(val) || json_integer_value(val) < 0)
                return inf__seterr(err, INF_E_FORMAT, "vocab entry \"%s\" has an invalid id", key);
            if (json_integer_value(val) >= limit) {
                snprintf(what, sizeof what, "vocab entry \"%.40s\"", key);
                return id_too_large(json_integer_value(val), what, limit, n_vocab, n_added, err);
            }
            if (json_integer_value(val) > max_id) max_id = (int32_t)json_integer_value(val);
        }
    }
    size_t ai;
    json_array_foreach(added, ai, val) { /* parse_added checks the rest */
        json_t *id = json_object_get(val, "id");
        if (!json_is_integer(id) || json_integer_value(id) < 0) continue;
        if (json_integer_value(id) >= limit) {
            snprintf(what, sizeof what, "added_tokens[%zu]", ai);
            return id_too_large(json_integer_value(id), what, limit, n_vocab, n_added, err);
        }
        if (json_integer_value(id) > max_id) max_id = (int32_t)json_integer_value(id);
    }
    t->n_ids = max_id + 1;
    t->model_piece = calloc((size_t)t->n_ids, sizeof *t->model_piece);
    t->model_len = calloc((size_t)t->n_ids, sizeof *t->model_len);
    t->added_of_id = malloc((size_t)t->n_ids * sizeof *t->added_of_id);
    if (!t->model_piece || !t->model_len || !t->added_of_id) return OOM(err);
    for (int32_t i = 0; i < t->n_ids; i++) t->added_of_id[i] = -1;
    if (inf__tk_strmap_init(&t->vocab, n_vocab)) return OOM(err);
    if (fj) {
        /* The blob becomes the tokenizer's: pieces point into it. */
        t->blob = fj->blob.p;
        fj->blob.p = NULL;
        uint32_t h[64];
        for (size_t i0 = 0; i0 < fj->n_vocab; i0 += 64) {
            size_t m = fj->n_vocab - i0 < 64 ? fj->n_vocab - i0 : 64;
            for (size_t j = 0; j < m; j++) { /* hash and prefetch a batch */
                const size_t *q = fj->vocab + 3 * (i0 + j);
                h[j] = inf__tk_hash(t->blob + q[0], q[1]);
                inf__tk_strmap_prefetch(&t->vocab, h[j]);
            }
            for (size_t j = 0; j < m; j++) {
                const size_t *q = fj->vocab + 3 * (i0 + j);
                char *k = t->blob + q[0];
                int32_t id = (int32_t)q[2];
                if (t->model_piece[id]) return repeated_id(t, id, k, err);
                if (inf__tk_strmap_put_h(&t->vocab, k, q[1], id, h[j])) return OOM(err);
                t->model_piece[id] = k;
                t->model_len[id] = (uint32_t)q[1];
            }
        }
        /* From here on the strings are read through t->blob.  A piece
         * listed twice (jansson would keep the last) is an error too: the
         * map holds fewer keys than there were entries. */
        if (t->vocab.count != fj->n_vocab) {
            for (size_t i = 0; i < fj->n_vocab; i++) {
                const size_t *q = fj->vocab + 3 * i;
                int32_t id = inf__tk_strmap_get(&t->vocab, t->blob + q[0], q[1]);
                if (id != (int32_t)q[2])
                    return inf__seterr(err, INF_E_FORMAT, "the vocab lists \"%.40s\" twice (ids %d and %d)",
                                       t->blob + q[0], (int)q[2], (int)id);
            }
        }
    } else {
        size_t klen;
        json_object_keylen_foreach(vocab, key, klen, val) {
            int32_t id = (int32_t)json_integer_value(val);
            if (t->model_piece[id]) return repeated_id(t, id, key, err);
            char *k = inf__tk_arena_dup(&t->arena, key, klen);
            if (!k || inf__tk_strmap_put(&t->vocab, k, klen, id)) return OOM(err);
            t->model_piece[id] = k;
            t->model_len[id] = (uint32_t)klen;
        }
    }
    t->byte_fallback = inf__tk_json_bool(model, "byte_fallback", 0);
    t->fuse_unk = inf__tk_json_bool(model, "fuse_unk", 0);
    t->ignore_merges = inf__tk_json_bool(model, "ignore_merges", 0);
    const char *s;
    if ((s = jstr(model, "continuing_subword_prefix")) && *s) {
        t->cont_prefix_len = strlen(s);
        if (!(t->cont_prefix = inf__tk_arena_dup(&t->arena, s, t->cont_prefix_len))) return OOM(err);
    }
    if ((s = jstr(model, "end_of_word_suffix")) && *s) {
        t->eow_suffix_len = strlen(s);
        if (!(t->eow_suffix = inf__tk_arena_dup(&t->arena, s, t->eow_suffix_len))) return OOM(err);
    }
    t->unk_id = -1;
    if ((s = jstr(model, "unk_token"))) {
        t->unk_id = vocab_lookup(t, s, strlen(s));
        if (t->unk_id < 0)
            return inf__seterr(err, INF_E_FORMAT, "unk_token \"%s\" is not in the vocab", s);
    }
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->byte_id[b] = vocab_lookup(t, name, 6);
    }
    int rc = parse_merges(t, merges, fj, err);
    if (rc) return rc;
    /* Single-character pieces: a direct table spares a hash per character in
     * the BPE inner loop. Only valid when no prefix/suffix decorates them. */
    t->cp_id = malloc(65536 * sizeof *t->cp_id);
    if (!t->cp_id) return OOM(err);
    for (int i = 0; i < 65536; i++) t->cp_id[i] = -1;
    for (int32_t id = 0; id < t->n_ids; id++) {
        const char *p = t->model_piece[id];
        if (!p) continue;
        int l;
        uint32_t cp = inf__tk_utf8_dec(p, t->model_len[id], &l);
        if ((uint32_t)l == t->model_len[id] && cp < 65536 && t->cp_id[cp] < 0) t->cp_id[cp] = id;
    }
    t->sp_chunk = 0;
    if (!t->cont_prefix && !t->eow_suffix && t->cp_id[0x2581] >= 0) inf__tk_find_sp_chunking(t);
    return INF_OK;
}

/* Long SentencePiece words may be cut before a U+2581 that follows a
 * character x when no token holds "x\u2581": no merge can cross there, so
 * the parts encode as the whole does and the encoder's word cache serves
 * them (tok_encode.c's sp_chunk).  Shared with the GGUF loader (tok_gguf.c). */
void inf__tk_find_sp_chunking(inf__tokenizer *t) {
    t->sp_chunk = 0;
    t->n_sp_unsafe = 0;
    for (int32_t id = 0; id < t->n_ids; id++) {
        const char *p = t->model_piece[id];
        size_t n = t->model_len[id];
        for (size_t j = 1; p && j + 3 <= n; j++) {
            if (memcmp(p + j, "\xE2\x96\x81", 3) != 0) continue;
            size_t k = j - 1;
            while (k > 0 && ((uint8_t)p[k] & 0xC0) == 0x80) k--;
            if (inf__utf8_valid_prefix(p + k, j - k) != j - k) return; /* a byte piece: no chunking */
            int l;
            uint32_t x = inf__tk_utf8_dec(p + k, j - k, &l);
            int known = x == 0x2581;
            for (int u = 0; u < t->n_sp_unsafe && !known; u++) known = t->sp_unsafe[u] == x;
            if (known) continue;
            if (t->n_sp_unsafe == 32) return; /* too many: no chunking */
            t->sp_unsafe[t->n_sp_unsafe++] = x;
        }
    }
    t->sp_chunk = 1;
}

/* ---- added tokens -------------------------------------------------------- */
static int parse_added(inf__tokenizer *t, json_t *added, inf__err *err) {
    size_t n = json_array_size(added);
    if (inf__tk_strmap_init(&t->added_map, n)) return OOM(err);
    if (!n) return INF_OK;
    t->added = calloc(n, sizeof *t->added);
    if (!t->added) return OOM(err);
    size_t i;
    json_t *a;
    json_array_foreach(added, i, a) {
        json_t *id = json_object_get(a, "id"), *content = json_object_get(a, "content");
        if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) >= t->n_ids ||
            !json_is_string(content) || json_string_length(content) == 0)
            return inf__seterr(err, INF_E_FORMAT, "added_tokens[%zu] needs an id and a non-empty content", i);
        int32_t xid = (int32_t)json_integer_value(id);
        if (t->added_of_id[xid] >= 0)
            return inf__seterr(err, INF_E_FORMAT, "added_tokens[%zu] repeats id %d (of added_tokens[%d])",
                               i, (int)xid, (int)t->added_of_id[xid]);
        tk_added *x = &t->added[t->n_added++];
        x->id = xid;
        x->len = json_string_length(content);
        if (!(x->content = inf__tk_arena_dup(&t->arena, json_string_value(content), x->len))) return OOM(err);
        x->special = (uint8_t)inf__tk_json_bool(a, "special", 0);
        x->lstrip = (uint8_t)inf__tk_json_bool(a, "lstrip", 0);
        x->rstrip = (uint8_t)inf__tk_json_bool(a, "rstrip", 0);
        x->single_word = (uint8_t)inf__tk_json_bool(a, "single_word", 0);
        x->normalized = (uint8_t)inf__tk_json_bool(a, "normalized", !x->special);
        t->added_of_id[x->id] = (int32_t)(t->n_added - 1);
        if (inf__tk_strmap_put(&t->added_map, x->content, x->len, x->id)) return OOM(err);
    }
    return INF_OK;
}

/* ---- added-token trie ------------------------------------------------------ */
int inf__tk_trie_init(tk_trie *tr) {
    memset(tr, 0, sizeof *tr);
    if (inf__tk_pairmap_init(&tr->edges, 64)) return -1;
    tr->cap_nodes = 64;
    tr->term = malloc((size_t)tr->cap_nodes * sizeof *tr->term);
    if (!tr->term) return -1;
    tr->term[0] = -1;
    tr->n_nodes = 1;
    return 0;
}

int inf__tk_trie_add(tk_trie *tr, const char *s, size_t n, int32_t idx) {
    int32_t node = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        const tk_pslot *e = inf__tk_pairmap_get(&tr->edges, node, c);
        if (e) { node = e->id; continue; }
        if (tr->n_nodes == tr->cap_nodes) {
            int32_t *p = realloc(tr->term, (size_t)tr->cap_nodes * 2 * sizeof *p);
            if (!p) return -1;
            tr->term = p;
            tr->cap_nodes *= 2;
        }
        int32_t child = tr->n_nodes++;
        tr->term[child] = -1;
        if (inf__tk_pairmap_put(&tr->edges, node, c, 0, child)) return -1;
        node = child;
    }
    if (n) tr->first[(uint8_t)s[0]] = 1;
    /* Two added tokens with the same content: the later one wins, as in the
     * HF map from content to id. */
    tr->term[node] = idx;
    return 0;
}

void inf__tk_trie_free(tk_trie *tr) {
    inf__tk_pairmap_free(&tr->edges);
    free(tr->term);
    tr->term = NULL;
}

static int build_tries(inf__tokenizer *t, inf__err *err) {
    if (inf__tk_trie_init(&t->trie_raw) || inf__tk_trie_init(&t->trie_norm)) return OOM(err);
    tk_buf norm = {0}, tmp = {0};
    int rc = INF_OK;
    for (size_t i = 0; i < t->n_added && !rc; i++) {
        tk_added *a = &t->added[i];
        if (!a->normalized) {
            if (inf__tk_trie_add(&t->trie_raw, a->content, a->len, (int32_t)i)) rc = OOM(err);
            continue;
        }
        /* Normalized tokens are matched in normalized text, so their own
         * content is normalized the same way first (HF does this too). */
        rc = inf__tk_normalize(t, a->content, a->len, &norm, &tmp, err);
        if (!rc && norm.n && inf__tk_trie_add(&t->trie_norm, norm.p, norm.n, (int32_t)i)) rc = OOM(err);
    }
    free(norm.p);
    free(tmp.p);
    return rc;
}

/* ---- tokenizer_config.json ----------------------------------------------- */
static int parse_config(inf__tokenizer *t, const char *cfg, size_t len, inf__err *err) {
    json_error_t je;
    /* model_max_length is often 1e30 written as an integer: read numbers as
     * reals (only strings and booleans are used here). */
    inf__json_watch_begin();
    json_t *root = json_loadb(cfg, len, JSON_DECODE_INT_AS_REAL, &je);
    if (inf__json_watch_failed()) { /* jansson says "malformed": core/jsonwatch.h */
        json_decref(root);
        return OOM(err);
    }
    if (!root || !json_is_object(root)) {
        json_decref(root);
        return inf__seterr(err, INF_E_FORMAT, "tokenizer_config.json: %s (line %d)", je.text, je.line);
    }
    size_t n = json_object_size(root);
    t->cfg = calloc(n ? n : 1, sizeof *t->cfg);
    if (!t->cfg) { json_decref(root); return OOM(err); }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        const char *s = NULL;
        if (json_is_string(v)) s = json_string_value(v);
        else if (json_is_object(v) && json_is_string(json_object_get(v, "content")))
            s = json_string_value(json_object_get(v, "content"));
        if (!s) continue;
        tk_cfgtok *c = &t->cfg[t->n_cfg++];
        c->name = inf__tk_arena_dup(&t->arena, key, strlen(key));
        c->value = inf__tk_arena_dup(&t->arena, s, strlen(s));
        if (!c->name || !c->value) { json_decref(root); return OOM(err); }
    }
    t->add_bos_cfg = inf__tk_json_bool(root, "add_bos_token", -1);
    t->add_eos_cfg = inf__tk_json_bool(root, "add_eos_token", -1);
    json_decref(root);
    return INF_OK;
}

/* ---- entry points -------------------------------------------------------- */
/* Three parts of the document, each followed by a blank ("{}", "[]", ""),
 * handed to jansson in order. */
typedef struct {
    const char *part[3];
    size_t part_len[3];
    const char *blank[3];
    int i;        /* current part */
    size_t off;   /* offset in part i, then in its blank */
} rest_reader;

static size_t rest_read(void *buf, size_t size, void *data) {
    rest_reader *r = data;
    char *o = buf;
    size_t n = 0;
    while (n < size && r->i < 3) {
        size_t pl = r->part_len[r->i], bl = strlen(r->blank[r->i]);
        if (r->off < pl) {
            size_t k = pl - r->off < size - n ? pl - r->off : size - n;
            memcpy(o + n, r->part[r->i] + r->off, k);
            n += k;
            r->off += k;
        } else if (r->off < pl + bl) {
            o[n++] = r->blank[r->i][r->off - pl];
            r->off++;
        } else {
            r->i++;
            r->off = 0;
        }
    }
    return n;
}

int inf__tok_load_mem(const char *js, size_t len, const char *cfg, size_t cfg_len,
                      inf__tokenizer **out, inf__err *err) {
    if (!out) return inf__seterr(err, INF_E_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    if (!js) return inf__seterr(err, INF_E_INVALID_ARGUMENT, "tokenizer json is NULL");
    inf__tokenizer *t = calloc(1, sizeof *t);
    if (!t) return OOM(err);
    t->add_bos_cfg = t->add_eos_cfg = -1;
    t->bos_id = t->eos_id = t->unk_id = -1;
    json_error_t je;
    tk_fastjson fj;
    int fast = inf__tk_fast_model(js, len, &fj) == 0;
    json_t *root;
    if (fast) {
        /* jansson reads the document with vocab and merges blanked out,
         * fed piecewise so the big file is not copied. */
        rest_reader rr = {{js, js + fj.vocab_end, js + fj.merges_end},
                          {fj.vocab_start, fj.merges_start - fj.vocab_end, len - fj.merges_end},
                          {"{}", "[]", ""}, 0, 0};
        if (fj.merges_start < fj.vocab_start) {
            rr.part[1] = js + fj.merges_end;
            rr.part_len[0] = fj.merges_start;
            rr.part_len[1] = fj.vocab_start - fj.merges_end;
            rr.part[2] = js + fj.vocab_end;
            rr.part_len[2] = len - fj.vocab_end;
            rr.blank[0] = "[]";
            rr.blank[1] = "{}";
        }
        inf__json_watch_begin();
        root = json_load_callback(rest_read, &rr, 0, &je);
    } else {
        inf__json_watch_begin();
        root = json_loadb(js, len, 0, &je);
    }
    int rc = INF_OK;
    if (inf__json_watch_failed()) { /* jansson says "malformed": core/jsonwatch.h */
        rc = OOM(err);
        goto done;
    }
    if (!root || !json_is_object(root)) {
        rc = inf__seterr(err, INF_E_FORMAT, "tokenizer.json: %s (line %d, column %d)",
                         root ? "top level is not an object" : je.text, je.line, je.column);
        goto done;
    }
    json_t *added = json_object_get(root, "added_tokens");
    if (added && !json_is_array(added)) { rc = inf__seterr(err, INF_E_FORMAT, "added_tokens is not an array"); goto done; }
    json_t *trunc = json_object_get(root, "truncation"), *pad = json_object_get(root, "padding");
    if ((trunc && !json_is_null(trunc)) || (pad && !json_is_null(pad))) {
        rc = inf__seterr(err, INF_E_UNSUPPORTED, "tokenizer.json %s is not supported",
                         trunc && !json_is_null(trunc) ? "truncation" : "padding");
        goto done;
    }
    if ((rc = parse_model(t, json_object_get(root, "model"), added, fast ? &fj : NULL, err))) goto done;
    if ((rc = parse_added(t, added, err))) goto done;
    if ((rc = inf__tk_parse_normalizer(t, json_object_get(root, "normalizer"), err))) goto done;
    if ((rc = inf__tk_parse_pretok(t, json_object_get(root, "pre_tokenizer"), err))) goto done;
    if ((rc = inf__tk_parse_post(t, json_object_get(root, "post_processor"), err))) goto done;
    if ((rc = inf__tk_parse_decoder(t, json_object_get(root, "decoder"), err))) goto done;
    for (size_t i = 0; i < t->n_post_pre + t->n_post_post; i++) {
        int32_t id = i < t->n_post_pre ? t->post_pre[i] : t->post_post[i - t->n_post_pre];
        if (id < 0 || id >= t->n_ids) {
            rc = inf__seterr(err, INF_E_FORMAT, "post_processor adds id %d, outside the vocabulary", (int)id);
            goto done;
        }
    }
    if ((rc = build_tries(t, err))) goto done;
    if (cfg && (rc = parse_config(t, cfg, cfg_len, err))) goto done;
    const char *bos = inf__tok_config_token(t, "bos_token"), *eos = inf__tok_config_token(t, "eos_token");
    if (bos) t->bos_id = inf__tok_piece_id(t, bos);
    if (t->bos_id < 0 && t->n_post_pre > 0) t->bos_id = t->post_pre[0];
    if (eos) t->eos_id = inf__tok_piece_id(t, eos);
    if (t->eos_id < 0 && t->n_post_post > 0) t->eos_id = t->post_post[t->n_post_post - 1];
done:
    json_decref(root);
    if (fast) inf__tk_fast_free(&fj);
    if (rc) { inf__tok_free(t); return rc; }
    *out = t;
    return INF_OK;
}

int inf__tok_load_dir(const char *dir, inf__tokenizer **out, inf__err *err) {
    if (!out) return inf__seterr(err, INF_E_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    if (!dir) return inf__seterr(err, INF_E_INVALID_ARGUMENT, "directory is NULL");
    char *jpath = inf__path_join(dir, "tokenizer.json");
    char *cpath = inf__path_join(dir, "tokenizer_config.json");
    char *js = NULL, *cfg = NULL;
    size_t jlen = 0, clen = 0;
    int rc = jpath && cpath ? INF_OK : OOM(err);
    if (!rc) {
        rc = inf__read_file(jpath, INF__TOK_JSON_MAX, &js, &jlen, err);
        /* Absent or unreadable alike: the directory has no usable tokenizer. */
        if (rc == INF_E_NOT_FOUND) rc = inf__seterr(err, INF_E_IO, "cannot read %s", jpath);
    }
    if (!rc) {
        rc = inf__read_file(cpath, INF__TOK_CONFIG_MAX, &cfg, &clen, err); /* optional */
        if (rc == INF_E_NOT_FOUND) {
            inf__err_clear(err);
            rc = INF_OK;
        }
    }
    if (!rc) {
        rc = inf__tok_load_mem(js, jlen, cfg, clen, out, err);
        if (rc) inf__err_prefix(err, "%s", dir);
    }
    free(js);
    free(cfg);
    free(jpath);
    free(cpath);
    return rc;
}

void inf__tok_free(inf__tokenizer *t) {
    if (!t) return;
    inf__tk_strmap_free(&t->vocab);
    inf__tk_strmap_free(&t->added_map);
    inf__tk_pairmap_free(&t->merges);
    inf__tk_trie_free(&t->trie_raw);
    inf__tk_trie_free(&t->trie_norm);
    for (size_t i = 0; i < t->n_norm; i++) pcre2_code_free(t->norm[i].re);
    for (size_t i = 0; i < t->n_pre; i++) pcre2_code_free(t->pre[i].re);
    free(t->norm);
    free(t->pre);
    free(t->dec);
    free(t->post_pre);
    free(t->post_post);
    free(t->model_piece);
    free(t->model_len);
    free(t->added_of_id);
    free(t->added);
    free(t->cp_id);
    free(t->cfg);
    inf__tk_arena_free(&t->arena);
    free(t->blob);
    free(t);
}

/* ---- accessors ------------------------------------------------------------ */
int32_t inf__tok_vocab_size(const inf__tokenizer *t) { return t ? t->n_ids : 0; }

const char *inf__tok_piece(const inf__tokenizer *t, int32_t id) {
    if (!t || id < 0 || id >= t->n_ids) return NULL;
    if (t->added_of_id[id] >= 0) return t->added[t->added_of_id[id]].content;
    return t->model_piece[id];
}

int32_t inf__tok_piece_id(const inf__tokenizer *t, const char *piece) {
    if (!t || !piece) return -1;
    size_t n = strlen(piece);
    int32_t id = inf__tk_strmap_get(&t->added_map, piece, n);
    return id >= 0 ? id : inf__tk_strmap_get(&t->vocab, piece, n);
}

int inf__tok_is_special(const inf__tokenizer *t, int32_t id) {
    if (!t || id < 0 || id >= t->n_ids || t->added_of_id[id] < 0) return 0;
    return t->added[t->added_of_id[id]].special;
}

int32_t inf__tok_bos_id(const inf__tokenizer *t) { return t ? t->bos_id : -1; }
int32_t inf__tok_eos_id(const inf__tokenizer *t) { return t ? t->eos_id : -1; }

const char *inf__tok_config_token(const inf__tokenizer *t, const char *name) {
    if (!t || !name) return NULL;
    for (size_t i = 0; i < t->n_cfg; i++)
        if (strcmp(t->cfg[i].name, name) == 0) return t->cfg[i].value;
    return NULL;
}
