/* A sequence's block table over the engine's paged KV memory: prefix
 * matching, copy-on-write, publishing full blocks, release (engine_int.h;
 * the allocator and the index are kv.c). */
#include "engine/engine_int.h"

#define BT INF__KV_BLOCK

/* Hash of the prefix before block k (0 before the first). */
static uint64_t prev_hash(const inf__seq *s, int32_t k) { return k ? s->bhash[k - 1] : 0; }

void inf__seqkv_match(inf__engine *e, inf__seq *s) {
    if (!e->paged || !e->kv.cache_on || s->all_logits) return;
    /* Only at a block boundary with every block so far in the index: the
     * next block's parent must be the indexed block before it. */
    while ((size_t)s->n_blocks * BT == s->n_past && s->n_pub == s->n_blocks &&
           s->n_hist - s->n_past > 1 && (size_t)(s->n_blocks + 1) * BT <= s->n_hist) {
        const int32_t k = s->n_blocks;
        const int32_t *toks = s->hist + (size_t)k * BT;
        const uint64_t h = inf__kv_hash(prev_hash(s, k), toks);
        const int32_t id = inf__kv_lookup(&e->kv, k ? s->blocks[k - 1] : -1, h, toks);
        if (id < 0) break;
        s->blocks[k] = id;
        s->bhash[k] = h;
        s->n_blocks = s->n_pub = k + 1;
        /* The last prompt token is always computed (its logits give the
         * first token): a block ending at the prompt's end is reused for
         * all but its last position, which goes to a private copy. */
        size_t upto = (size_t)(k + 1) * BT;
        if (upto > s->n_hist - 1) upto = s->n_hist - 1;
        if (!s->preempted && s->n_past < s->n_prompt) {
            size_t hit = (upto < s->n_prompt ? upto : s->n_prompt) - s->n_past;
            pthread_mutex_lock(&s->mu); /* readers take metrics under it */
            s->n_cached += (int64_t)hit;
            pthread_mutex_unlock(&s->mu);
            e->kv.hit_tokens += (int64_t)hit;
        }
        s->n_past = upto;
    }
}

int inf__seqkv_reserve(inf__engine *e, inf__seq *s, size_t from, size_t to,
                       inf__err *err) {
    if (to <= from) return INF_OK;
    for (int32_t k = (int32_t)(from / BT); (size_t)k * BT < to; k++) {
        if (k < s->n_blocks) {
            const int32_t old = s->blocks[k];
            if (!inf__kv_shared(&e->kv, old)) continue;
            /* Copy-on-write: the positions of the block before `from` are
             * valid and stay; the rest is about to be written. */
            const int32_t id = inf__kv_alloc(&e->kv);
            if (id < 0) return INF_E_BUSY;
            const size_t keep = from > (size_t)k * BT ? from - (size_t)k * BT : 0;
            int rc = e->compute->copy_block(e->cctx, id, old, (int32_t)keep, err);
            if (rc != INF_OK) {
                inf__kv_unref(&e->kv, id);
                return rc;
            }
            inf__kv_unref(&e->kv, old);
            s->blocks[k] = id;
            if (s->n_pub > k) s->n_pub = k; /* re-published (or found equal) when full */
        } else {
            const int32_t id = inf__kv_alloc(&e->kv);
            if (id < 0) return INF_E_BUSY;
            s->blocks[s->n_blocks++] = id;
        }
    }
    return INF_OK;
}

void inf__seqkv_publish(inf__engine *e, inf__seq *s) {
    while ((size_t)(s->n_pub + 1) * BT <= s->n_past && s->n_pub < s->n_blocks) {
        const int32_t k = s->n_pub;
        const int32_t *toks = s->hist + (size_t)k * BT;
        s->bhash[k] = inf__kv_hash(prev_hash(s, k), toks);
        inf__kv_publish(&e->kv, s->blocks[k], k ? s->blocks[k - 1] : -1, s->bhash[k], toks);
        s->n_pub = k + 1;
    }
}

void inf__seqkv_release(inf__engine *e, inf__seq *s) {
    for (int32_t k = s->n_low; k < s->n_blocks; k++) inf__kv_unref(&e->kv, s->blocks[k]);
    s->n_blocks = s->n_pub = s->n_low = 0;
}

void inf__seqkv_drop_window(inf__engine *e, inf__seq *s) {
    if (!e->paged || e->kv_window <= 0 || s->n_past < (size_t)e->kv_window) return;
    /* The next row, at position n_past, reads keys from n_past - window + 1
     * on (cpu forward.c attn_lo; later rows read later keys): blocks
     * wholly before that are never read again. */
    int32_t upto = (int32_t)((s->n_past - (size_t)e->kv_window + 1) / BT);
    /* With the cache on, a block is kept until the block after it is
     * published: publishing names its parent block id (kv.h), and a
     * released parent could already hold other data. */
    if (e->kv.cache_on && upto > s->n_pub - 1) upto = s->n_pub - 1;
    if (upto > s->n_blocks) upto = s->n_blocks;
    for (; s->n_low < upto; s->n_low++) {
        inf__kv_unref(&e->kv, s->blocks[s->n_low]);
        s->blocks[s->n_low] = -1;
    }
}

int inf__seqkv_next_block(inf__engine *e, const inf__seq *s, int32_t *k,
                          uint64_t *hash) {
    if (!e->paged || !e->kv.cache_on || s->all_logits) return 0;
    if ((size_t)s->n_blocks * BT != s->n_past || s->n_pub != s->n_blocks ||
        (size_t)(s->n_blocks + 1) * BT > s->n_hist)
        return 0;
    *k = s->n_blocks;
    *hash = inf__kv_hash(prev_hash(s, *k), s->hist + (size_t)*k * BT);
    return 1;
}

int64_t inf__seqkv_blocks_needed(const inf__engine *e, const inf__seq *s) {
    size_t pos = s->n_hist + 1 < (size_t)e->n_ctx ? s->n_hist + 1 : (size_t)e->n_ctx;
    int64_t need = (int64_t)(pos + BT - 1) / BT - s->n_blocks;
    /* A shared last block is copied before the first write. */
    return need + (s->n_blocks > 0 && s->n_past < (size_t)s->n_blocks * BT);
}
