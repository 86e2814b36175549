/* Paged KV memory: block states, LRU of cached blocks, the prefix index
 * (kv.h). */
#include "engine/kv.h"

#include <stdlib.h>
#include <string.h>

int inf__kv_init(inf__kv *kv, int32_t n_blocks, int cache_on, inf__err *err) {
    memset(kv, 0, sizeof *kv);
    if (n_blocks <= 0)
        return inf__seterr(err, INF_E_INVALID_ARGUMENT, "KV pool of %d blocks",
                           (int)n_blocks);
    kv->n_blocks = n_blocks;
    kv->cache_on = cache_on;
    uint32_t nb = 16;
    while (nb < (uint32_t)n_blocks * 2u) nb *= 2;
    kv->mask = nb - 1;
    kv->b = calloc((size_t)n_blocks, sizeof *kv->b);
    kv->tokens = malloc((size_t)n_blocks * INF__KV_BLOCK * sizeof *kv->tokens);
    kv->bucket = malloc((size_t)nb * sizeof *kv->bucket);
    if (!kv->b || !kv->tokens || !kv->bucket) {
        inf__kv_free(kv);
        return inf__seterr(err, INF_E_NOMEM, "out of memory");
    }
    for (uint32_t i = 0; i < nb; i++) kv->bucket[i] = -1;
    /* The free stack pops block 0 first: low ids are used first, so the
     * backend's pages are touched in order (memory grows with use). */
    kv->free_top = -1;
    for (int32_t i = n_blocks - 1; i >= 0; i--) {
        kv->b[i].next = kv->free_top;
        kv->b[i].prev = kv->b[i].hnext = kv->b[i].parent = -1;
        kv->free_top = i;
    }
    kv->lru_head = kv->lru_tail = -1;
    kv->n_free = n_blocks;
    return INF_OK;
}

void inf__kv_free(inf__kv *kv) {
    free(kv->b);
    free(kv->tokens);
    free(kv->bucket);
    memset(kv, 0, sizeof *kv);
}

int64_t inf__kv_available(const inf__kv *kv) { return kv->n_free + kv->n_cached; }

static void lru_remove(inf__kv *kv, int32_t id) {
    inf__kv_block *b = &kv->b[id];
    if (b->prev >= 0) kv->b[b->prev].next = b->next;
    else kv->lru_head = b->next;
    if (b->next >= 0) kv->b[b->next].prev = b->prev;
    else kv->lru_tail = b->prev;
    b->prev = b->next = -1;
    kv->n_cached--;
}

static void lru_push(inf__kv *kv, int32_t id) {
    inf__kv_block *b = &kv->b[id];
    b->next = -1;
    b->prev = kv->lru_tail;
    if (kv->lru_tail >= 0) kv->b[kv->lru_tail].next = id;
    else kv->lru_head = id;
    kv->lru_tail = id;
    kv->n_cached++;
}

static void unindex(inf__kv *kv, int32_t id) {
    inf__kv_block *b = &kv->b[id];
    int32_t *pp = &kv->bucket[b->hash & kv->mask];
    while (*pp >= 0 && *pp != id) pp = &kv->b[*pp].hnext;
    if (*pp == id) *pp = b->hnext;
    b->hnext = -1;
    b->indexed = 0;
}

int32_t inf__kv_alloc(inf__kv *kv) {
    int32_t id = kv->free_top;
    if (id >= 0) {
        kv->free_top = kv->b[id].next;
        kv->n_free--;
    } else if ((id = kv->lru_head) >= 0) {
        lru_remove(kv, id);
        unindex(kv, id);
        kv->evictions++;
    } else {
        return -1;
    }
    inf__kv_block *b = &kv->b[id];
    b->gen++; /* blocks published after the old contents no longer match */
    b->ref = 1;
    b->prev = b->next = b->parent = -1;
    kv->n_used++;
    return id;
}

void inf__kv_ref(inf__kv *kv, int32_t id) {
    inf__kv_block *b = &kv->b[id];
    if (b->ref++ == 0) {
        lru_remove(kv, id); /* a block with no reference is cached here */
        kv->n_used++;
    }
}

void inf__kv_unref(inf__kv *kv, int32_t id) {
    inf__kv_block *b = &kv->b[id];
    if (--b->ref > 0) return;
    kv->n_used--;
    if (b->indexed) {
        lru_push(kv, id);
    } else {
        b->next = kv->free_top;
        kv->free_top = id;
        kv->n_free++;
    }
}

uint64_t inf__kv_hash(uint64_t prev, const int32_t *tokens) {
    /* FNV-1a over the previous hash and the token ids, then a final mix so
     * that the bucket bits depend on every input bit. */
    uint64_t h = 0xcbf29ce484222325ULL ^ prev;
    for (int i = 0; i < INF__KV_BLOCK; i++) {
        uint32_t t = (uint32_t)tokens[i];
        for (int k = 0; k < 4; k++) {
            h ^= (t >> (8 * k)) & 0xffu;
            h *= 0x100000001b3ULL;
        }
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

/* The indexed block equal to (parent, hash, tokens), or -1. */
static int32_t find(const inf__kv *kv, int32_t parent, uint64_t hash,
                    const int32_t *tokens) {
    for (int32_t id = kv->bucket[hash & kv->mask]; id >= 0; id = kv->b[id].hnext) {
        const inf__kv_block *b = &kv->b[id];
        if (b->hash != hash || b->parent != parent) continue;
        if (parent >= 0 && kv->b[parent].gen != b->parent_gen) continue;
        if (memcmp(kv->tokens + (int64_t)id * INF__KV_BLOCK, tokens,
                   INF__KV_BLOCK * sizeof *tokens) != 0)
            continue;
        return id;
    }
    return -1;
}

int32_t inf__kv_lookup(inf__kv *kv, int32_t parent, uint64_t hash,
                       const int32_t *tokens) {
    if (!kv->cache_on) return -1;
    int32_t id = find(kv, parent, hash, tokens);
    if (id >= 0) inf__kv_ref(kv, id);
    return id;
}

void inf__kv_publish(inf__kv *kv, int32_t id, int32_t parent, uint64_t hash,
                     const int32_t *tokens) {
    inf__kv_block *b = &kv->b[id];
    if (!kv->cache_on || b->indexed || find(kv, parent, hash, tokens) >= 0) return;
    memcpy(kv->tokens + (int64_t)id * INF__KV_BLOCK, tokens,
           INF__KV_BLOCK * sizeof *tokens);
    b->hash = hash;
    b->parent = parent;
    b->parent_gen = parent >= 0 ? kv->b[parent].gen : 0;
    b->indexed = 1;
    uint32_t k = (uint32_t)(hash & kv->mask);
    b->hnext = kv->bucket[k];
    kv->bucket[k] = id;
}

int inf__kv_shared(const inf__kv *kv, int32_t id) {
    return kv->b[id].ref > 1 || kv->b[id].indexed;
}
