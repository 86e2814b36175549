/* llama.cpp's SentencePiece-style ("SPM") tokenizer, which GGUF "llama"
 * vocabularies mean: a word starts as its UTF-8 characters; repeatedly the
 * adjacent pair whose concatenation is a vocabulary token of the highest
 * score is merged (the leftmost pair among equal scores); a symbol left at
 * the end that is no token (an unknown character) becomes its bytes'
 * <0xNN> tokens.  No merges list: the scores alone decide.  A binary heap
 * of candidate pairs keeps it O(n log n); stale candidates (a side already
 * merged elsewhere) are recognised by their length, as llama.cpp does. */
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer/tok_internal.h"

typedef struct { float score; int32_t left, right; uint32_t size; } bigram_t;

typedef struct {
    uint32_t *off, *len;
    int32_t *prev, *next;
    bigram_t *heap;
    size_t hn, hcap;
} spm_state;

/* a comes out of the heap before b: higher score, then smaller left. */
static int before(const bigram_t *a, const bigram_t *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static int heap_push(spm_state *s, bigram_t m) {
    if (s->hn == s->hcap) {
        size_t cap = s->hcap ? s->hcap * 2 : 64;
        bigram_t *h = realloc(s->heap, cap * sizeof *h);
        if (!h) return -1;
        s->heap = h;
        s->hcap = cap;
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

static bigram_t heap_pop(spm_state *s) {
    bigram_t top = s->heap[0], last = s->heap[--s->hn];
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

/* Queues the pair (l, r) when their concatenation is a token. */
static int try_pair(const inf__tokenizer *t, spm_state *s, const char *w, int32_t l, int32_t r) {
    if (l < 0 || r < 0) return 0;
    uint32_t size = s->len[l] + s->len[r];
    int32_t id = inf__tk_strmap_get(&t->vocab, w + s->off[l], size);
    if (id < 0) return 0;
    return heap_push(s, (bigram_t){t->spm_score[id], l, r, size});
}

int inf__tk_spm(const inf__tokenizer *t, const char *w, size_t n, tk_ids *out) {
    if (n == 0) return 0;
    spm_state s = {0};
    int rc = -1;
    /* Words are mostly short: their symbols live on the stack. */
    enum { SMALL = 128 };
    uint32_t small[4 * SMALL];
    uint32_t *arr = n <= SMALL ? small : malloc(4 * n * sizeof *arr);
    if (!arr) return -1;
    s.off = arr;
    s.len = arr + n;
    s.prev = (int32_t *)(arr + 2 * n);
    s.next = (int32_t *)(arr + 3 * n);
    int32_t ns = 0;
    for (size_t i = 0; i < n;) {
        int l;
        inf__tk_utf8_dec(w + i, n - i, &l);
        s.off[ns] = (uint32_t)i;
        s.len[ns] = (uint32_t)l;
        s.prev[ns] = ns - 1;
        s.next[ns] = i + (size_t)l < n ? ns + 1 : -1;
        ns++;
        i += (size_t)l;
    }
    for (int32_t i = 1; i < ns; i++)
        if (try_pair(t, &s, w, i - 1, i)) goto done;
    while (s.hn) {
        bigram_t b = heap_pop(&s);
        if (s.len[b.left] == 0 || s.len[b.right] == 0 || s.len[b.left] + s.len[b.right] != b.size) continue;
        s.len[b.left] += s.len[b.right];
        s.len[b.right] = 0;
        s.next[b.left] = s.next[b.right];
        if (s.next[b.right] >= 0) s.prev[s.next[b.right]] = b.left;
        if (try_pair(t, &s, w, s.prev[b.left], b.left) || try_pair(t, &s, w, b.left, s.next[b.left])) goto done;
    }
    for (int32_t i = 0; i >= 0; i = s.next[i]) {
        int32_t id = inf__tk_strmap_get(&t->vocab, w + s.off[i], s.len[i]);
        if (id >= 0) {
            if (inf__tk_ids_push(out, id)) goto done;
            continue;
        }
        /* Merged symbols are tokens; only a single unknown character gets
         * here: its bytes (or unk when a byte has no token). */
        for (uint32_t k = 0; k < s.len[i]; k++) {
            int32_t b = t->byte_id[(uint8_t)w[s.off[i] + k]];
            if (b < 0) b = t->unk_id;
            if (b >= 0 && inf__tk_ids_push(out, b)) goto done;
        }
    }
    rc = 0;
done:
    if (arr != small) free(arr);
    free(s.heap);
    return rc;
}
