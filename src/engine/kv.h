/*
 * Paged KV memory, the engine's side: which blocks of the backend's pool
 * are free, held by sequences, or cached for reuse, and the prefix index.
 *
 * The backend stores the blocks (compute.h, paged mode); this allocator
 * only hands out block ids and never touches KV data.  Every block is in
 * exactly one of three states:
 *   used   - ref > 0: in the block table of one or more running sequences;
 *   cached - ref == 0 and in the prefix index: a full block of some earlier
 *            sequence, kept for reuse, evicted least recently used first;
 *   free   - ref == 0, not indexed: empty.
 *
 * Prefix index: a full block (INF__KV_BLOCK positions) is published under
 * the chain hash of its tokens and its parent's hash (as vLLM's automatic
 * prefix caching does), together with its parent block id and the parent's
 * generation (bumped whenever a block is reused for other data).  A lookup
 * succeeds only when the tokens are equal and the parent is the block the
 * caller matched just before, in the same generation: walking from the
 * first block, every matched block therefore holds exactly the caller's
 * tokens at the same positions (the hash only finds candidates).
 *
 * Not thread-safe: the scheduler's worker is the only user.
 */
#ifndef INF_ENGINE_KV_H
#define INF_ENGINE_KV_H

#include <stdint.h>

#include "core/error.h"

/* Positions per block: small enough that short sequences waste little and
 * prefixes are shared at a fine grain, large enough that attention reads
 * long runs of contiguous rows (cpu: forward.c). */
#define INF__KV_BLOCK 32

typedef struct inf__kv_block {
    int32_t ref;
    int32_t prev, next;  /* LRU list (cached) or free stack (next only) */
    int32_t hnext;       /* next block in the same hash bucket */
    int32_t parent;      /* block before it in its sequence, -1: first */
    uint32_t parent_gen; /* the parent's generation when published */
    uint32_t gen;        /* bumped when the block is handed out again */
    int indexed;         /* in the prefix index */
    uint64_t hash;       /* chain hash (when indexed) */
} inf__kv_block;

typedef struct inf__kv {
    int32_t n_blocks;
    int cache_on;        /* 0: nothing is published; blocks free at once */
    inf__kv_block *b;    /* [n_blocks] */
    int32_t *tokens;     /* [n_blocks * INF__KV_BLOCK] tokens of indexed blocks */
    int32_t *bucket;     /* [mask + 1] heads of hash chains, -1 empty */
    uint32_t mask;
    int32_t free_top;    /* free stack (lowest ids handed out first) */
    int32_t lru_head, lru_tail; /* cached blocks, head = least recently used */
    int64_t n_used, n_cached, n_free;
    /* Counters since creation. */
    int64_t lookup_tokens, hit_tokens, evictions;
} inf__kv;

/* Sets up n_blocks blocks, all free.  cache_on: keep and index full blocks.
 * Returns INF_OK or INF_E_NOMEM. */
int inf__kv_init(inf__kv *kv, int32_t n_blocks, int cache_on, inf__err *err);
void inf__kv_free(inf__kv *kv);

/* Blocks that inf__kv_alloc can still hand out (free + cached). */
int64_t inf__kv_available(const inf__kv *kv);

/* A block for new data with ref 1: a free one, else the least recently
 * used cached one (unpublished: an eviction).  Returns -1 when every block
 * is in use. */
int32_t inf__kv_alloc(inf__kv *kv);

/* Takes one more reference to a used or cached block. */
void inf__kv_ref(inf__kv *kv, int32_t id);
/* Drops a reference; at zero the block becomes cached (indexed, most
 * recently used) or free. */
void inf__kv_unref(inf__kv *kv, int32_t id);

/* The chain hash of a block of INF__KV_BLOCK tokens after a prefix whose
 * hash is prev (0 for the first block). */
uint64_t inf__kv_hash(uint64_t prev, const int32_t *tokens);

/* The cached block that holds tokens[INF__KV_BLOCK] right after block
 * parent (-1: at the start), with hash = inf__kv_hash(parent's hash,
 * tokens); on a hit takes a reference and returns its id, else -1. */
int32_t inf__kv_lookup(inf__kv *kv, int32_t parent, uint64_t hash,
                       const int32_t *tokens);

/* Publishes block id (full, held by the caller) as holding tokens after
 * parent.  Does nothing when the cache is off, the block is already
 * indexed, or an equal block (same parent and tokens) is indexed. */
void inf__kv_publish(inf__kv *kv, int32_t id, int32_t parent, uint64_t hash,
                     const int32_t *tokens);

/* 1 when the block is shared: held more than once or indexed (another
 * request may take it at any time), so it must be copied before a write. */
int inf__kv_shared(const inf__kv *kv, int32_t id);

#endif
