/* The vocabulary as bytes and its trie. */
#include <stdlib.h>
#include <string.h>

#include "text/grammar/gram_internal.h"

void inf__grammar_vocab_free(inf__grammar_vocab *v) {
    if (!v) return;
    free(v->blob); free(v->off); free(v->len); free(v->eos); free(v->eos_ids);
    free(v->nbyte); free(v->ndepth); free(v->nskip); free(v->ntok); free(v->toks);
    free(v);
}

int32_t inf__grammar_vocab_size(const inf__grammar_vocab *v) { return v ? v->n : 0; }

const char *inf__grammar_vocab_bytes(const inf__grammar_vocab *v, int32_t id, size_t *len) {
    if (!v || id < 0 || id >= v->n || !v->len[id]) { if (len) *len = 0; return NULL; }
    if (len) *len = v->len[id];
    return v->blob + v->off[id];
}

static int cmp_tok(const void *a, const void *b, void *ctx) {
    const inf__grammar_vocab *sort_v = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    uint32_t lx = sort_v->len[x], ly = sort_v->len[y];
    int c = memcmp(sort_v->blob + sort_v->off[x], sort_v->blob + sort_v->off[y], lx < ly ? lx : ly);
    if (c) return c;
    if (lx != ly) return lx < ly ? -1 : 1;
    return x < y ? -1 : x > y;
}

static int build_trie(inf__grammar_vocab *v, inf__err *err) {
    int32_t *ord = malloc((size_t)(v->n ? v->n : 1) * sizeof *ord);
    size_t total = 0;
    int32_t m = 0;
    for (int32_t i = 0; i < v->n; i++)
        if (v->len[i]) { total += v->len[i]; if (ord) ord[m++] = i; }
    /* at most one node per byte of every token */
    size_t cap = total + 1;
    v->nbyte = malloc(cap);
    v->ndepth = malloc(cap * sizeof *v->ndepth);
    v->nskip = malloc(cap * sizeof *v->nskip);
    v->ntok = calloc(cap + 1, sizeof *v->ntok);
    v->toks = malloc((size_t)(m ? m : 1) * sizeof *v->toks);
    uint32_t *path = malloc((size_t)(v->max_depth + 1) * sizeof *path);
    if (!ord || !v->nbyte || !v->ndepth || !v->nskip || !v->ntok || !v->toks || !path) {
        free(ord); free(path);
        return inf__seterr(err, INF_E_NOMEM, "out of memory building the vocabulary trie");
    }
    qsort_r(ord, (size_t)m, sizeof *ord, cmp_tok, v);
    /* Preorder: walking the sorted tokens, the path holds the nodes of the
     * previous token; the common prefix is kept, the rest closed (their
     * subtrees end here) and the new bytes opened. */
    uint32_t n = 0, depth = 0, nt = 0;
    const char *prev = NULL;
    for (int32_t k = 0; k < m; k++) {
        int32_t id = ord[k];
        const char *s = v->blob + v->off[id];
        uint32_t l = v->len[id], lcp = 0;
        if (prev)
            while (lcp < l && lcp < depth && s[lcp] == prev[lcp]) lcp++;
        while (depth > lcp) v->nskip[path[--depth]] = n;
        while (depth < l) {
            v->nbyte[n] = (uint8_t)s[depth];
            v->ndepth[n] = depth + 1;
            v->ntok[n + 1] = v->ntok[n] = nt;
            path[depth++] = n++;
        }
        /* ids ending at node path[l-1]: tokens are sorted, so equal byte
         * strings are consecutive and this node is the last opened */
        v->toks[nt++] = id;
        v->ntok[path[l - 1] + 1] = nt;
        prev = s;
    }
    while (depth > 0) v->nskip[path[--depth]] = n;
    v->n_nodes = n;
    free(ord);
    free(path);
    return INF_OK;
}

int inf__grammar_vocab_from_bytes(const char *const *toks, const size_t *lens, int32_t n_tokens,
                                  const int32_t *eos_ids, size_t n_eos, inf__grammar_vocab **out, inf__err *err) {
    *out = NULL;
    if (n_tokens <= 0) return inf__seterr(err, INF_E_INVALID_ARGUMENT, "empty vocabulary");
    inf__grammar_vocab *v = calloc(1, sizeof *v);
    if (!v) return inf__seterr(err, INF_E_NOMEM, "out of memory");
    static _Atomic uint64_t next_uid = 1;
    v->uid = next_uid++;
    v->n = n_tokens;
    v->off = calloc((size_t)n_tokens, sizeof *v->off);
    v->len = calloc((size_t)n_tokens, sizeof *v->len);
    v->eos = calloc((size_t)n_tokens, 1);
    v->eos_ids = malloc((n_eos ? n_eos : 1) * sizeof *v->eos_ids);
    size_t total = 0;
    for (int32_t i = 0; i < n_tokens; i++)
        if (toks[i]) total += lens[i];
    v->blob = malloc(total + 1);
    if (!v->off || !v->len || !v->eos || !v->eos_ids || !v->blob) goto oom;
    for (size_t k = 0; k < n_eos; k++) {
        if (eos_ids[k] < 0 || eos_ids[k] >= n_tokens) {
            inf__grammar_vocab_free(v);
            return inf__seterr(err, INF_E_INVALID_ARGUMENT, "eos id %d outside the vocabulary", (int)eos_ids[k]);
        }
        v->eos[eos_ids[k]] = 1;
        v->eos_ids[v->n_eos++] = eos_ids[k];
    }
    size_t at = 0;
    for (int32_t i = 0; i < n_tokens; i++) {
        v->off[i] = at;
        if (!toks[i] || v->eos[i] || !lens[i] || lens[i] > 0xFFFF) continue;
        memcpy(v->blob + at, toks[i], lens[i]);
        at += lens[i];
        v->len[i] = (uint32_t)lens[i];
        if (v->len[i] > v->max_depth) v->max_depth = v->len[i];
    }
    int rc = build_trie(v, err);
    if (rc) { inf__grammar_vocab_free(v); return rc; }
    *out = v;
    return INF_OK;
oom:
    inf__grammar_vocab_free(v);
    return inf__seterr(err, INF_E_NOMEM, "out of memory");
}

int inf__grammar_vocab_new(const inf__tokenizer *tok, const int32_t *eos_ids, size_t n_eos,
                           inf__grammar_vocab **out, inf__err *err) {
    *out = NULL;
    int32_t n = inf__tok_vocab_size(tok);
    if (n <= 0) return inf__seterr(err, INF_E_INVALID_ARGUMENT, "empty vocabulary");
    char **t = calloc((size_t)n, sizeof *t);
    size_t *l = calloc((size_t)n, sizeof *l);
    int rc = INF_OK;
    if (!t || !l) { rc = inf__seterr(err, INF_E_NOMEM, "out of memory"); goto done; }
    for (int32_t i = 0; i < n && !rc; i++) {
        /* special / control tokens never come out of a constrained
         * sequence (an eos id is allowed through its own rule) */
        if (!inf__tok_piece(tok, i) || inf__tok_is_special(tok, i)) continue;
        rc = inf__tok_token_bytes(tok, i, &t[i], &l[i], err);
    }
    if (!rc) rc = inf__grammar_vocab_from_bytes((const char *const *)t, l, n, eos_ids, n_eos, out, err);
done:
    if (t)
        for (int32_t i = 0; i < n; i++) free(t[i]);
    free(t);
    free(l);
    return rc;
}
