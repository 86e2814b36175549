/* Encoding: added tokens out of the raw text, normalizer, added tokens out of
 * the normalized text, pre-tokenizer, BPE, post-processor.  Everything an
 * encode call writes lives in its own context, so one tokenizer serves many
 * threads at once. */
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer/tok_internal.h"

#define OOM(err) inf__seterr(err, INF_E_NOMEM, "out of memory")

/* Words up to this length are cached per call: running text repeats its
 * words, and a lookup is much cheaper than a BPE merge loop. */
#define CACHE_MAX_WORD 48
#define CACHE_MIN_TEXT 2048

typedef struct {
    const inf__tokenizer *t;
    tk_buf norm, tmp;
    tk_pt_scratch *pt;
    tk_bpe_scratch *bpe;
    tk_ids ids;
    int parse_special;   /* 0: special added tokens are plain text */
    int use_cache;
    tk_strmap cache;     /* word -> index into cache_ids (start) */
    tk_ids cache_ids;    /* per entry: count, then the ids */
    tk_arena cache_keys;
} enc_ctx;

static void ctx_free(enc_ctx *c) {
    free(c->norm.p); free(c->tmp.p);
    inf__tk_pt_scratch_free(c->pt);
    inf__tk_bpe_scratch_free(c->bpe);
    free(c->ids.p);
    inf__tk_strmap_free(&c->cache);
    free(c->cache_ids.p);
    inf__tk_arena_free(&c->cache_keys);
}

static int bpe_cached(const inf__tokenizer *t, enc_ctx *c, const char *w, size_t n) {
    if (!c->use_cache || n > CACHE_MAX_WORD) return inf__tk_bpe(t, w, n, &c->ids, c->bpe);
    int32_t at = inf__tk_strmap_get(&c->cache, w, n);
    if (at >= 0) {
        int32_t cnt = c->cache_ids.p[at];
        for (int32_t k = 0; k < cnt; k++)
            if (inf__tk_ids_push(&c->ids, c->cache_ids.p[at + 1 + k])) return -1;
        return 0;
    }
    size_t before = c->ids.n;
    if (inf__tk_bpe(t, w, n, &c->ids, c->bpe)) return -1;
    size_t cnt = c->ids.n - before;
    int32_t start = (int32_t)c->cache_ids.n;
    if (inf__tk_ids_push(&c->cache_ids, (int32_t)cnt)) return -1;
    for (size_t k = 0; k < cnt; k++)
        if (inf__tk_ids_push(&c->cache_ids, c->ids.p[before + k])) return -1;
    char *key = inf__tk_arena_dup(&c->cache_keys, w, n);
    if (!key || inf__tk_strmap_put(&c->cache, key, n, start)) return -1;
    return 0;
}

/* Words longer than this are cut at safe U+2581 points (see sp_chunk):
 * SentencePiece-style tokenizers leave whole paragraphs as one word. */
#define CHUNK_MIN_WORD 64

static int on_word(void *ctx, const char *w, size_t n) {
    enc_ctx *c = ctx;
    const inf__tokenizer *t = c->t;
    if (t->sp_chunk && n > CHUNK_MIN_WORD) {
        size_t start = 0;
        uint32_t prev = 0x2581;
        for (size_t i = 0; i < n;) {
            int l;
            uint32_t cp = inf__tk_utf8_dec(w + i, n - i, &l);
            if (cp == 0x2581 && i > start && prev != 0x2581) {
                int unsafe = 0;
                for (int u = 0; u < t->n_sp_unsafe; u++) unsafe |= t->sp_unsafe[u] == prev;
                if (!unsafe) {
                    if (bpe_cached(t, c, w + start, i - start)) return INF_E_NOMEM;
                    start = i;
                }
            }
            prev = cp;
            i += (size_t)l;
        }
        return bpe_cached(t, c, w + start, n - start) ? INF_E_NOMEM : 0;
    }
    return bpe_cached(t, c, w, n) ? INF_E_NOMEM : 0;
}

/* Pre-tokenizes and runs BPE on one piece of normalized text. */
static int encode_normalized(const inf__tokenizer *t, enc_ctx *c, const char *s, size_t n, int first,
                             inf__err *err) {
    int rc = inf__tk_pretokenize(t, s, n, first, c->pt, on_word, c, err);
    if (rc == INF_E_NOMEM) return OOM(err);
    return rc;
}

/* Longest added token starting at s[i] in trie tr: index into t->added, or
 * -1; *end gets the end offset. */
static int32_t trie_match(const tk_trie *tr, const char *s, size_t n, size_t i, size_t *end) {
    int32_t node = 0, best = -1;
    for (size_t k = i; k < n; k++) {
        const tk_pslot *e = inf__tk_pairmap_get(&tr->edges, node, (uint8_t)s[k]);
        if (!e) break;
        node = e->id;
        if (tr->term[node] >= 0) { best = tr->term[node]; *end = k + 1; }
    }
    return best;
}

static uint32_t last_cp(const char *s, size_t n) {
    size_t k = n - 1;
    while (k > 0 && ((uint8_t)s[k] & 0xC0) == 0x80) k--;
    int l;
    return inf__tk_utf8_dec(s + k, n - k, &l);
}

/* Splits s[n] at the added tokens of tr (leftmost-longest, with the lstrip /
 * rstrip / single_word rules).  For every piece: added tokens push their id,
 * other text goes to on_text. */
typedef int (*text_fn)(const inf__tokenizer *t, enc_ctx *c, const char *s, size_t n, int first, inf__err *err);

static int split_added(const inf__tokenizer *t, enc_ctx *c, const tk_trie *tr, const char *s, size_t n,
                       int first, text_fn on_text, inf__err *err) {
    size_t start_off = 0, i = 0;
    int rc;
    while (i < n) {
        if (!tr->first[(uint8_t)s[i]]) { i++; continue; }
        size_t stop = i;
        int32_t ai = trie_match(tr, s, n, i, &stop);
        if (ai < 0) { i++; continue; }
        const tk_added *a = &t->added[ai];
        size_t start = i;
        i = stop; /* matches never overlap, even rejected ones */
        if (a->special && !c->parse_special) continue; /* HF encode_special_tokens */
        if (a->single_word) {
            int l;
            int word_before = start > 0 && inf__tk_is_word(last_cp(s, start));
            int word_after = stop < n && inf__tk_is_word(inf__tk_utf8_dec(s + stop, n - stop, &l));
            if (word_before || word_after) continue;
        }
        if (start < start_off) continue;
        if (a->lstrip) {
            size_t k = start;
            while (k > start_off && inf__tk_is_space(last_cp(s, k))) {
                k--;
                while (k > 0 && ((uint8_t)s[k] & 0xC0) == 0x80) k--;
            }
            start = k;
        }
        if (a->rstrip) {
            int l;
            while (stop < n && inf__tk_is_space(inf__tk_utf8_dec(s + stop, n - stop, &l))) stop += (size_t)l;
            i = stop;
        }
        if (start > start_off && (rc = on_text(t, c, s + start_off, start - start_off, first && start_off == 0, err)))
            return rc;
        if (inf__tk_ids_push(&c->ids, a->id)) return OOM(err);
        start_off = stop;
    }
    if (start_off < n) return on_text(t, c, s + start_off, n - start_off, first && start_off == 0, err);
    return INF_OK;
}

static int on_normalized_text(const inf__tokenizer *t, enc_ctx *c, const char *s, size_t n, int first, inf__err *err) {
    return encode_normalized(t, c, s, n, first, err);
}

static int on_raw_text(const inf__tokenizer *t, enc_ctx *c, const char *s, size_t n, int first, inf__err *err) {
    int rc = inf__tk_normalize(t, s, n, &c->norm, &c->tmp, err);
    if (rc) return rc;
    if (t->trie_norm.n_nodes <= 1) return encode_normalized(t, c, c->norm.p, c->norm.n, first, err);
    /* The normalized text is split again; own it, as norm is reused. */
    char *copy = malloc(c->norm.n + 1);
    if (!copy) return OOM(err);
    memcpy(copy, c->norm.p, c->norm.n);
    rc = split_added(t, c, &t->trie_norm, copy, c->norm.n, first, on_normalized_text, err);
    free(copy);
    return rc;
}

static int contains(const int32_t *a, size_t n, int32_t v) {
    for (size_t i = 0; i < n; i++)
        if (a[i] == v) return 1;
    return 0;
}

int inf__tok_encode(const inf__tokenizer *t, const char *text, size_t len, int add_special,
                    int32_t **ids, size_t *n_ids, inf__err *err) {
    return inf__tok_encode_flags(t, text, len, INF__TOK_PARSE_SPECIAL | (add_special ? INF__TOK_ADD_SPECIAL : 0),
                                 ids, n_ids, err);
}

int inf__tok_encode_flags(const inf__tokenizer *t, const char *text, size_t len, int flags,
                          int32_t **ids, size_t *n_ids, inf__err *err) {
    int add_special = (flags & INF__TOK_ADD_SPECIAL) != 0;
    if (ids) *ids = NULL;
    if (n_ids) *n_ids = 0;
    if (!t || !ids || !n_ids || (!text && len)) return inf__seterr(err, INF_E_INVALID_ARGUMENT, "encode: NULL argument");
    enc_ctx c;
    memset(&c, 0, sizeof c);
    int rc = INF_OK;
    tk_buf valid = {0};
    const char *s = text;
    if (inf__utf8_valid_prefix(text, len) != len) {
        /* Read invalid UTF-8 as from_utf8_lossy does. */
        if (inf__tk_utf8_lossy(&valid, text, len)) { rc = OOM(err); goto done; }
        s = valid.p;
        len = valid.n;
    }
    c.t = t;
    c.parse_special = (flags & INF__TOK_PARSE_SPECIAL) != 0;
    if (!(c.bpe = inf__tk_bpe_scratch_new()) || !(c.pt = inf__tk_pt_scratch_new(t))) { rc = OOM(err); goto done; }
    if (len >= CACHE_MIN_TEXT) {
        if (inf__tk_strmap_init(&c.cache, 4096)) { rc = OOM(err); goto done; }
        c.use_cache = 1;
    }
    int pre_bos = 0, post_eos = 0;
    if (add_special) {
        pre_bos = t->add_bos_cfg == 1 && t->bos_id >= 0 && !contains(t->post_pre, t->n_post_pre, t->bos_id);
        post_eos = t->add_eos_cfg == 1 && t->eos_id >= 0 && !contains(t->post_post, t->n_post_post, t->eos_id);
        if (pre_bos && inf__tk_ids_push(&c.ids, t->bos_id)) { rc = OOM(err); goto done; }
        for (size_t i = 0; i < t->n_post_pre; i++)
            if (inf__tk_ids_push(&c.ids, t->post_pre[i])) { rc = OOM(err); goto done; }
    }
    if (len && (rc = split_added(t, &c, &t->trie_raw, s, len, 1, on_raw_text, err))) goto done;
    if (add_special) {
        for (size_t i = 0; i < t->n_post_post; i++)
            if (inf__tk_ids_push(&c.ids, t->post_post[i])) { rc = OOM(err); goto done; }
        if (post_eos && inf__tk_ids_push(&c.ids, t->eos_id)) { rc = OOM(err); goto done; }
    }
    /* Always a real allocation, so callers may free it unconditionally. */
    if (!c.ids.p && !(c.ids.p = malloc(sizeof *c.ids.p))) { rc = OOM(err); goto done; }
    *n_ids = c.ids.n;
    *ids = c.ids.p;
    c.ids.p = NULL;
done:
    free(valid.p);
    ctx_free(&c);
    return rc;
}
