/* The BPE model on one pre-token: characters (or byte-fallback / unknown
 * tokens) become symbols in a linked list, then the pair with the lowest
 * merge rank is merged repeatedly, leftmost first among equal ranks, using a
 * binary heap of candidate merges: O(n log n) even for a long word (Gemma's
 * pre-tokenizer leaves whole paragraphs as one word). */
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer/tok_internal.h"

typedef struct { int32_t rank, pos, id; } merge_t;

struct tk_bpe_scratch {
    int32_t *id, *prev, *next;
    uint32_t *len;
    size_t cap;
    merge_t *heap;
    size_t hn, hcap;
    tk_buf tmp;
};

tk_bpe_scratch *inf__tk_bpe_scratch_new(void) { return calloc(1, sizeof(tk_bpe_scratch)); }

void inf__tk_bpe_scratch_free(tk_bpe_scratch *s) {
    if (!s) return;
    free(s->id); free(s->prev); free(s->next); free(s->len); free(s->heap); free(s->tmp.p);
    free(s);
}

static int reserve(tk_bpe_scratch *s, size_t n) {
    if (n <= s->cap) return 0;
    size_t cap = s->cap ? s->cap : 64;
    while (cap < n) cap *= 2;
    int32_t *a = realloc(s->id, cap * sizeof *a);
    if (!a) return -1;
    s->id = a;
    if (!(a = realloc(s->prev, cap * sizeof *a))) return -1;
    s->prev = a;
    if (!(a = realloc(s->next, cap * sizeof *a))) return -1;
    s->next = a;
    uint32_t *l = realloc(s->len, cap * sizeof *l);
    if (!l) return -1;
    s->len = l;
    merge_t *h = realloc(s->heap, cap * 2 * sizeof *h);
    if (!h) return -1;
    s->heap = h;
    s->hcap = cap * 2;
    s->cap = cap;
    return 0;
}

static inline int before(const merge_t *a, const merge_t *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static int heap_push(tk_bpe_scratch *s, merge_t m) {
    if (s->hn == s->hcap) {
        merge_t *h = realloc(s->heap, s->hcap * 2 * sizeof *h);
        if (!h) return -1;
        s->heap = h;
        s->hcap *= 2;
    }
    size_t i = s->hn++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!before(&m, &s->heap[p])) break;
        s->heap[i] = s->heap[p];
        i = p;
    }
    s->heap[i] = m;
    return 0;
}

static merge_t heap_pop(tk_bpe_scratch *s) {
    merge_t top = s->heap[0], last = s->heap[--s->hn];
    size_t i = 0, n = s->hn;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && before(&s->heap[c + 1], &s->heap[c])) c++;
        if (!before(&s->heap[c], &last)) break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n) s->heap[i] = last;
    return top;
}

static int32_t piece_id(const inf__tokenizer *t, const char *w, size_t n, size_t i, int l,
                        tk_buf *tmp, const char **dec, size_t *dec_len) {
    *dec = w + i;
    *dec_len = (size_t)l;
    if (!t->cont_prefix && !t->eow_suffix) {
        int k;
        uint32_t cp = inf__tk_utf8_dec(w + i, n - i, &k);
        if (cp < 65536) return t->cp_id[cp];
        return inf__tk_strmap_get(&t->vocab, w + i, (size_t)l);
    }
    /* Decorated pieces: "##" before non-initial characters, "</w>" after the
     * last one. */
    tmp->n = 0;
    if (i > 0 && t->cont_prefix && inf__tk_buf_put(tmp, t->cont_prefix, t->cont_prefix_len)) return -2;
    if (inf__tk_buf_put(tmp, w + i, (size_t)l)) return -2;
    if (i + (size_t)l == n && t->eow_suffix && inf__tk_buf_put(tmp, t->eow_suffix, t->eow_suffix_len)) return -2;
    *dec = tmp->p;
    *dec_len = tmp->n;
    return inf__tk_strmap_get(&t->vocab, tmp->p, tmp->n);
}

int inf__tk_bpe(const inf__tokenizer *t, const char *w, size_t n, tk_ids *out, tk_bpe_scratch *s) {
    if (n == 0) return 0;
    if (t->spm_score) return inf__tk_spm(t, w, n, out); /* GGUF "llama" vocabularies */
    if (t->ignore_merges) {
        int32_t id = inf__tk_strmap_get(&t->vocab, w, n);
        if (id >= 0) return inf__tk_ids_push(out, id);
    }
    if (reserve(s, n + 1)) return -1;
    size_t ns = 0;
    int32_t unk = -1;
    uint32_t unk_len = 0;
#define ADD(ID, LEN) do { s->id[ns] = (ID); s->len[ns] = (LEN); ns++; } while (0)
    for (size_t i = 0; i < n;) {
        int l;
        inf__tk_utf8_dec(w + i, n - i, &l);
        const char *dec;
        size_t dec_len;
        int32_t id = piece_id(t, w, n, i, l, &s->tmp, &dec, &dec_len);
        if (id == -2) return -1;
        if (id >= 0) {
            if (unk >= 0) { ADD(unk, unk_len); unk = -1; }
            ADD(id, (uint32_t)l);
        } else {
            int done = 0;
            if (t->byte_fallback) {
                size_t k;
                for (k = 0; k < dec_len && t->byte_id[(uint8_t)dec[k]] >= 0; k++) {}
                if (k == dec_len) {
                    if (reserve(s, ns + dec_len + (n - i) + 1)) return -1;
                    for (k = 0; k < dec_len; k++) ADD(t->byte_id[(uint8_t)dec[k]], 1);
                    done = 1;
                }
            }
            if (!done && t->unk_id >= 0) {
                if (unk >= 0 && t->fuse_unk) unk_len += (uint32_t)l;
                else {
                    if (unk >= 0) ADD(unk, unk_len);
                    unk = t->unk_id;
                    unk_len = (uint32_t)l;
                }
            }
        }
        i += (size_t)l;
    }
    if (unk >= 0) ADD(unk, unk_len);
#undef ADD
    if (ns == 0) return 0;
    for (size_t i = 0; i < ns; i++) {
        s->prev[i] = (int32_t)i - 1;
        s->next[i] = i + 1 < ns ? (int32_t)i + 1 : -1;
    }
    s->hn = 0;
    for (size_t i = 0; i + 1 < ns; i++) {
        const tk_pslot *m = inf__tk_pairmap_get(&t->merges, s->id[i], s->id[i + 1]);
        if (m && heap_push(s, (merge_t){m->rank, (int32_t)i, m->id})) return -1;
    }
    while (s->hn) {
        merge_t top = heap_pop(s);
        int32_t p = top.pos;
        if (s->len[p] == 0 || s->next[p] < 0) continue;
        int32_t r = s->next[p];
        const tk_pslot *m = inf__tk_pairmap_get(&t->merges, s->id[p], s->id[r]);
        if (!m || m->id != top.id) continue; /* stale: a neighbour changed */
        s->id[p] = top.id;
        s->len[p] += s->len[r];
        s->len[r] = 0;
        s->next[p] = s->next[r];
        if (s->next[r] >= 0) s->prev[s->next[r]] = p;
        if (s->prev[p] >= 0) {
            const tk_pslot *pm = inf__tk_pairmap_get(&t->merges, s->id[s->prev[p]], s->id[p]);
            if (pm && heap_push(s, (merge_t){pm->rank, s->prev[p], pm->id})) return -1;
        }
        if (s->next[p] >= 0) {
            const tk_pslot *nm = inf__tk_pairmap_get(&t->merges, s->id[p], s->id[s->next[p]]);
            if (nm && heap_push(s, (merge_t){nm->rank, p, nm->id})) return -1;
        }
    }
    for (int32_t i = 0; i >= 0; i = s->next[i])
        if (inf__tk_ids_push(out, s->id[i])) return -1;
    return 0;
}
