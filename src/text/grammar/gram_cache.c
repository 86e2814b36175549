/* Masks cached per grammar, shared by all its matchers (threads included):
 * the same schema serving many requests computes each state's mask once.
 * Keyed by the vocabulary's unique id and the canonical state; bounded in
 * bytes (cleared when full). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "text/grammar/gram_internal.h"

#define CACHE_BUCKETS 4096
#define CACHE_MAX_BYTES ((size_t)64 << 20)

typedef struct centry {
    struct centry *next;
    uint64_t hash, vocab;
    uint32_t key_len;
    uint32_t *key;
    uint32_t *bits;
} centry;

struct gx_cache {
    pthread_mutex_t mu;
    centry *tab[CACHE_BUCKETS];
    size_t bytes;
};

gx_cache *gx_cache_new(void) {
    gx_cache *c = calloc(1, sizeof *c);
    if (c && pthread_mutex_init(&c->mu, NULL)) { free(c); return NULL; }
    return c;
}

static void clear(gx_cache *c) {
    for (size_t i = 0; i < CACHE_BUCKETS; i++) {
        for (centry *e = c->tab[i], *nx; e; e = nx) {
            nx = e->next;
            free(e->key);
            free(e->bits);
            free(e);
        }
        c->tab[i] = NULL;
    }
    c->bytes = 0;
}

void gx_cache_free(gx_cache *c) {
    if (!c) return;
    clear(c);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

int gx_cache_get(gx_cache *c, uint64_t vocab, uint64_t h, const uint32_t *key, size_t kl, uint32_t *bits, size_t words) {
    int found = 0;
    pthread_mutex_lock(&c->mu);
    for (centry *e = c->tab[h % CACHE_BUCKETS]; e; e = e->next)
        if (e->hash == h && e->vocab == vocab && e->key_len == kl && !memcmp(e->key, key, kl * sizeof *key)) {
            memcpy(bits, e->bits, words * sizeof *bits);
            found = 1;
            break;
        }
    pthread_mutex_unlock(&c->mu);
    return found;
}

void gx_cache_put(gx_cache *c, uint64_t vocab, uint64_t h, const uint32_t *key, size_t kl, const uint32_t *bits,
                  size_t words) {
    size_t bytes = sizeof(centry) + (kl + words) * sizeof(uint32_t);
    centry *e = malloc(sizeof *e);
    uint32_t *k = malloc(kl * sizeof *k), *b = malloc(words * sizeof *b);
    if (!e || !k || !b) { free(e); free(k); free(b); return; } /* a miss later, not an error */
    memcpy(k, key, kl * sizeof *k);
    memcpy(b, bits, words * sizeof *b);
    pthread_mutex_lock(&c->mu);
    if (c->bytes + bytes > CACHE_MAX_BYTES) clear(c);
    *e = (centry){c->tab[h % CACHE_BUCKETS], h, vocab, (uint32_t)kl, k, b};
    c->tab[h % CACHE_BUCKETS] = e;
    c->bytes += bytes;
    pthread_mutex_unlock(&c->mu);
}
