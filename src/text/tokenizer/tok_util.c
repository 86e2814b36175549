/* Small containers (buffers, arena, hash maps) and UTF-8 helpers used by the
 * tokenizer.  Hash maps use open addressing with linear probing: the vocab
 * and merge tables are built once and then only read, so no deletion. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "text/tokenizer/tok_internal.h"

int inf__tk_buf_reserve(tk_buf *b, size_t extra) {
    if (b->n + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + extra) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

int inf__tk_buf_put(tk_buf *b, const void *s, size_t n) {
    if (inf__tk_buf_reserve(b, n + 1)) return -1;
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0'; /* keeps the buffer printable / usable as a C string */
    return 0;
}

int inf__tk_ids_push(tk_ids *v, int32_t id) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        int32_t *p = realloc(v->p, cap * sizeof *p);
        if (!p) return -1;
        v->p = p;
        v->cap = cap;
    }
    v->p[v->n++] = id;
    return 0;
}

/* ---- arena ---------------------------------------------------------------- */
struct tk_chunk { tk_chunk *next; size_t used, cap; char data[]; };

char *inf__tk_arena_dup(tk_arena *a, const char *s, size_t n) {
    tk_chunk *c = a->head;
    if (!c || c->cap - c->used < n + 1) {
        size_t cap = n + 1 > (1u << 20) ? n + 1 : (1u << 20);
        c = malloc(sizeof *c + cap);
        if (!c) return NULL;
        c->next = a->head;
        c->used = 0;
        c->cap = cap;
        a->head = c;
    }
    char *p = c->data + c->used;
    if (n) memcpy(p, s, n);
    p[n] = '\0';
    c->used += n + 1;
    return p;
}

void inf__tk_arena_free(tk_arena *a) {
    tk_chunk *c = a->head;
    while (c) { tk_chunk *n = c->next; free(c); c = n; }
    a->head = NULL;
}

/* ---- string map --------------------------------------------------------- */
static inline uint32_t fnv(uint32_t h, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) { h ^= (uint8_t)s[i]; h *= 16777619u; }
    return h;
}

uint32_t inf__tk_hash(const char *s, size_t n) {
    /* FNV-1a; vocab strings are short, so this is cheap and good enough. */
    uint32_t h = fnv(2166136261u, s, n);
    return h ^ (h >> 15);
}

uint32_t inf__tk_hash2(const char *a, size_t na, const char *b, size_t nb) {
    uint32_t h = fnv(fnv(2166136261u, a, na), b, nb);
    return h ^ (h >> 15);
}

void inf__tk_strmap_prefetch(const tk_strmap *m, uint32_t h) {
    __builtin_prefetch(&m->slots[h & m->mask]);
}

int32_t inf__tk_strmap_get2(const tk_strmap *m, const char *a, size_t na, const char *b, size_t nb, uint32_t h) {
    size_t len = na + nb;
    for (uint32_t i = h & m->mask;; i = (i + 1) & m->mask) {
        const tk_sslot *s = &m->slots[i];
        if (!s->key) return -1;
        if (s->hash == h && s->len == len && memcmp(s->key, a, na) == 0 && memcmp(s->key + na, b, nb) == 0)
            return s->val;
    }
}

void inf__tk_pairmap_prefetch(const tk_pairmap *m, int32_t a, int32_t b);

static uint32_t cap_for(size_t expected) {
    uint32_t cap = 16;
    /* Load factor at most 3/4 when built to size (growth keeps it <= 1/2
     * otherwise): large tables stay small enough for the cache. */
    while (cap < expected + expected / 3 + 16) cap *= 2;
    return cap;
}

int inf__tk_strmap_init(tk_strmap *m, size_t expected) {
    uint32_t cap = cap_for(expected);
    m->slots = calloc(cap, sizeof *m->slots);
    if (!m->slots) return -1;
    m->mask = cap - 1;
    m->count = 0;
    return 0;
}

static int strmap_grow(tk_strmap *m) {
    tk_strmap n;
    if (inf__tk_strmap_init(&n, (size_t)(m->mask + 1))) return -1;
    for (uint32_t i = 0; i <= m->mask; i++) {
        tk_sslot *s = &m->slots[i];
        if (!s->key) continue;
        uint32_t j = s->hash & n.mask;
        while (n.slots[j].key) j = (j + 1) & n.mask;
        n.slots[j] = *s;
    }
    n.count = m->count;
    free(m->slots);
    *m = n;
    return 0;
}

int inf__tk_strmap_put(tk_strmap *m, const char *key, size_t len, int32_t val) {
    return inf__tk_strmap_put_h(m, key, len, val, inf__tk_hash(key, len));
}

int inf__tk_strmap_put_h(tk_strmap *m, const char *key, size_t len, int32_t val, uint32_t h) {
    if ((m->count + 1) * 4 > (m->mask + 1) * 3 && strmap_grow(m)) return -1;
    uint32_t i = h & m->mask;
    for (;; i = (i + 1) & m->mask) {
        tk_sslot *s = &m->slots[i];
        if (!s->key) {
            s->key = key; s->len = (uint32_t)len; s->hash = h; s->val = val;
            m->count++;
            return 0;
        }
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0) {
            s->val = val;
            return 0;
        }
    }
}

int32_t inf__tk_strmap_get(const tk_strmap *m, const char *key, size_t len) {
    if (!m->slots) return -1;
    uint32_t h = inf__tk_hash(key, len), i = h & m->mask;
    for (;; i = (i + 1) & m->mask) {
        const tk_sslot *s = &m->slots[i];
        if (!s->key) return -1;
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)
            return s->val;
    }
}

void inf__tk_strmap_free(tk_strmap *m) { free(m->slots); m->slots = NULL; }

/* ---- pair map ----------------------------------------------------------- */
/* Keys are the packed pair plus one, so that an all-zero slot is empty and
 * a table comes straight from calloc (large ones as untouched zero pages). */
#define PAIR_EMPTY 0

static inline uint64_t pair_key(int32_t a, int32_t b) {
    return (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
}

static uint32_t pair_hash(uint64_t k) {
    k ^= k >> 33; k *= 0xff51afd7ed558ccdULL; k ^= k >> 33;
    return (uint32_t)k;
}

int inf__tk_pairmap_init(tk_pairmap *m, size_t expected) {
    uint32_t cap = cap_for(expected);
    m->slots = calloc(cap, sizeof *m->slots);
    if (!m->slots) return -1;
    m->mask = cap - 1;
    m->count = 0;
    return 0;
}

static int pairmap_grow(tk_pairmap *m) {
    tk_pairmap n;
    if (inf__tk_pairmap_init(&n, (size_t)(m->mask + 1))) return -1;
    for (uint32_t i = 0; i <= m->mask; i++) {
        if (m->slots[i].key == PAIR_EMPTY) continue;
        uint32_t j = pair_hash(m->slots[i].key) & n.mask;
        while (n.slots[j].key != PAIR_EMPTY) j = (j + 1) & n.mask;
        n.slots[j] = m->slots[i];
    }
    n.count = m->count;
    free(m->slots);
    *m = n;
    return 0;
}

void inf__tk_pairmap_prefetch(const tk_pairmap *m, int32_t a, int32_t b) {
    uint64_t k = pair_key(a, b);
    __builtin_prefetch(&m->slots[pair_hash(k) & m->mask]);
}

int inf__tk_pairmap_put(tk_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t id) {
    if ((m->count + 1) * 4 > (m->mask + 1) * 3 && pairmap_grow(m)) return -1;
    uint64_t k = pair_key(a, b);
    if (k == PAIR_EMPTY) return -1; /* (-1, -1): never a real pair */
    uint32_t i = pair_hash(k) & m->mask;
    for (;; i = (i + 1) & m->mask) {
        tk_pslot *s = &m->slots[i];
        if (s->key == PAIR_EMPTY) {
            s->key = k; s->rank = rank; s->id = id;
            m->count++;
            return 0;
        }
        if (s->key == k) return 0;
    }
}

const tk_pslot *inf__tk_pairmap_get(const tk_pairmap *m, int32_t a, int32_t b) {
    uint64_t k = pair_key(a, b);
    if (!m->slots || k == PAIR_EMPTY) return NULL;
    uint32_t i = pair_hash(k) & m->mask;
    for (;; i = (i + 1) & m->mask) {
        const tk_pslot *s = &m->slots[i];
        if (s->key == k) return s;
        if (s->key == PAIR_EMPTY) return NULL;
    }
}

void inf__tk_pairmap_free(tk_pairmap *m) { free(m->slots); m->slots = NULL; }

/* ---- UTF-8 -------------------------------------------------------------- */
uint32_t inf__tk_utf8_dec(const char *s, size_t n, int *len) {
    const uint8_t *u = (const uint8_t *)s;
    if (u[0] < 0x80 || n < 2) { *len = 1; return u[0]; }
    if (u[0] < 0xE0) { *len = 2; return ((uint32_t)(u[0] & 0x1F) << 6) | (u[1] & 0x3F); }
    if (u[0] < 0xF0 || n < 4) {
        *len = 3;
        return ((uint32_t)(u[0] & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F);
    }
    *len = 4;
    return ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3F) << 12) |
           ((uint32_t)(u[2] & 0x3F) << 6) | (u[3] & 0x3F);
}

int inf__tk_utf8_enc(uint32_t cp, char *o) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

int inf__tk_utf8_lossy(tk_buf *b, const char *s, size_t n) {
    const uint8_t *u = (const uint8_t *)s;
    size_t i = 0, run = 0;
    if (inf__tk_buf_reserve(b, n + 1)) return -1;
    while (i < n) {
        int k = u[i] < 0x80 ? 1 : inf__utf8_step(u + i, n - i);
        if (k > 0) { i += (size_t)k; continue; }
        if (inf__tk_buf_put(b, s + run, i - run) || inf__tk_buf_put(b, "\xEF\xBF\xBD", 3))
            return -1;
        i += (size_t)(-k);
        run = i;
    }
    return inf__tk_buf_put(b, s + run, n - run);
}

int inf__tk_is_space(uint32_t c) {
    return (c >= 9 && c <= 13) || c == 32 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

int inf__tk_is_word(uint32_t c) {
    if (c < 0x80) return (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z') || c == '_';
    if (c == 0x200C || c == 0x200D) return 1; /* Join_Control */
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_ME) || k == UTF8PROC_CATEGORY_ND ||
           k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_PC;
}

/* ---- GPT-2 byte-level alphabet ----------------------------------------- */
/* Printable bytes map to themselves, the others to 256.. in byte order, so
 * every byte becomes a visible character that BPE vocabularies can hold. */
const uint16_t inf__tk_byte2cp[256] = {
    256, 257, 258, 259, 260, 261, 262, 263, 264, 265, 266, 267, 268, 269, 270, 271,
    272, 273, 274, 275, 276, 277, 278, 279, 280, 281, 282, 283, 284, 285, 286, 287,
    288, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47,
    48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63,
    64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79,
    80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95,
    96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111,
    112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 289,
    290, 291, 292, 293, 294, 295, 296, 297, 298, 299, 300, 301, 302, 303, 304, 305,
    306, 307, 308, 309, 310, 311, 312, 313, 314, 315, 316, 317, 318, 319, 320, 321,
    322, 161, 162, 163, 164, 165, 166, 167, 168, 169, 170, 171, 172, 323, 174, 175,
    176, 177, 178, 179, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 190, 191,
    192, 193, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 204, 205, 206, 207,
    208, 209, 210, 211, 212, 213, 214, 215, 216, 217, 218, 219, 220, 221, 222, 223,
    224, 225, 226, 227, 228, 229, 230, 231, 232, 233, 234, 235, 236, 237, 238, 239,
    240, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250, 251, 252, 253, 254, 255,
};

int inf__tk_cp2byte(uint32_t cp) {
    if (cp < 256) {
        if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF))
            return (int)cp;
        return -1;
    }
    if (cp > 323) return -1;
    /* The 68 remapped bytes in increasing order. */
    static const uint8_t remapped[68] = {
        0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,
        127,128,129,130,131,132,133,134,135,136,137,138,139,140,141,142,143,144,145,146,147,148,
        149,150,151,152,153,154,155,156,157,158,159,160,173};
    return remapped[cp - 256];
}
