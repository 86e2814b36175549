/* The matcher: the grammar's DFAs run as a pushdown automaton over bytes,
 * and token masks computed by one pass over the vocabulary trie.
 *
 * A parse is a stack: the top is a (state, parent) pair, the parent a frame
 * in an arena (frames are immutable and shared, so stepping never copies a
 * stack).  An ambiguous grammar keeps several parses: the matcher's state
 * is a set of tops.  On a byte, a top may
 *   - follow its state's byte edge (a new top, no frame),
 *   - call a rule (push a frame holding the return state, step the
 *     callee's start state),
 *   - end its rule when its state is final (continue with the parent).
 *
 * Masks: the trie walk keeps the set of tops after each prefix, one level
 * per depth, and skips a subtree as soon as the set is empty; frames made
 * during the walk are dropped when it backtracks.  Each mask is cached
 * under the canonical form of the state (the sorted list of stacks), so a
 * state seen again (inside a string, a repeated array element) costs a
 * copy of the bitset. */
#include <stdlib.h>
#include <string.h>

#include "text/grammar/gram_internal.h"

typedef struct { uint32_t pos; int32_t parent; uint32_t depth; } frame;
typedef struct { uint32_t pos; int32_t parent; } top;

struct inf__matcher {
    const inf__grammar *g;
    const inf__grammar_vocab *v;
    size_t words;
    frame *fr;
    size_t n_fr, cap_fr;
    top *cur;          /* the state: set of tops */
    size_t n_cur, cap_cur;
    int ended;         /* eos accepted */
    uint64_t work;     /* parse steps of the current mask / advance (bounded) */
    int limit_hit;     /* a step passed max_stacks / max_depth */
    int oom;
    /* scratch for one byte step */
    top *vis;          /* tops already stepped in this byte step */
    size_t n_vis, cap_vis;
    /* trie walk levels: pool of tops, per depth its start and count */
    top *pool;
    size_t n_pool, cap_pool;
    size_t *lv_off, *lv_n, *lv_fr;
    uint8_t *simple;   /* [n_states] no calls, not final: steps without frames */
    uint8_t *tail;     /* [n_states] final with no way on: a call returning here
                          may return to the caller's parent instead */
    uint32_t *key;     /* the canonical state (make_key) */
    size_t cap_key;
};

static int grow_arr(void **p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * size);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

static int32_t new_frame(inf__matcher *m, uint32_t pos, int32_t parent) {
    uint32_t depth = parent >= 0 ? m->fr[parent].depth + 1 : 1;
    if (depth > m->g->lim.max_depth) { m->limit_hit = 1; return -1; }
    if (grow_arr((void **)&m->fr, &m->cap_fr, m->n_fr + 1, sizeof *m->fr)) { m->oom = 1; return -1; }
    m->fr[m->n_fr] = (frame){pos, parent, depth};
    return (int32_t)m->n_fr++;
}

static int same_stack(const inf__matcher *m, int32_t a, int32_t b) {
    while (a != b) {
        if (a < 0 || b < 0 || m->fr[a].pos != m->fr[b].pos) return 0;
        a = m->fr[a].parent;
        b = m->fr[b].parent;
    }
    return 1;
}

/* Parse steps one mask may take: an ambiguous grammar keeps many parses,
 * each byte costs their number squared; past this the mask fails with
 * INF_E_LIMIT instead of running for minutes. */
#define MATCH_WORK_MAX ((uint64_t)200 * 1000 * 1000)

/* Adds t to the output (pool[start .. n_pool)) unless already there. */
static void emit(inf__matcher *m, size_t start, top t) {
    m->work += m->n_pool - start + 1;
    if (m->work > MATCH_WORK_MAX) { m->limit_hit = 1; return; }
    for (size_t i = start; i < m->n_pool; i++)
        if (m->pool[i].pos == t.pos && same_stack(m, m->pool[i].parent, t.parent)) return;
    if (m->n_pool - start >= m->g->lim.max_stacks) { m->limit_hit = 1; return; }
    if (grow_arr((void **)&m->pool, &m->cap_pool, m->n_pool + 1, sizeof *m->pool)) { m->oom = 1; return; }
    m->pool[m->n_pool++] = t;
}

static void step_top(inf__matcher *m, top t, uint8_t b, size_t start) {
    const inf__grammar *g = m->g;
    /* the same top stepped twice gives the same result; this also stops
     * the loop of a nullable rule called under a repetition */
    for (size_t i = 0; i < m->n_vis; i++)
        if (m->vis[i].pos == t.pos && m->vis[i].parent == t.parent) return;
    if (grow_arr((void **)&m->vis, &m->cap_vis, m->n_vis + 1, sizeof *m->vis)) { m->oom = 1; return; }
    m->vis[m->n_vis++] = t;
    uint32_t r = g->st_rule[t.pos];
    int32_t nx = g->trans[g->st_trans[t.pos] + g->rule_cls[(size_t)r * 256 + b]];
    if (nx >= 0) emit(m, start, (top){(uint32_t)nx, t.parent});
    for (uint32_t k = g->st_ref[t.pos]; k < g->st_ref[t.pos + 1]; k++) {
        const gx_refedge *e = &g->refs[k];
        if (e->rule == UINT32_MAX) continue;
        /* a call in tail position (its return state can only end the
         * rule) returns straight to our parent: right recursion such as
         * list ::= item list | item then runs in constant stack depth */
        int32_t ret = m->tail[e->target] ? t.parent : new_frame(m, e->target, t.parent);
        if (ret < 0 && !m->tail[e->target]) return;
        step_top(m, (top){g->rule_start[e->rule], ret}, b, start);
    }
    if (g->st_final[t.pos] && t.parent >= 0) {
        const frame *p = &m->fr[t.parent];
        step_top(m, (top){p->pos, p->parent}, b, start);
    }
}

/* Steps the n tops at in[] (inside pool, or cur) by byte b; the result is
 * appended to the pool.  Returns how many tops it has. */
static size_t step_set(inf__matcher *m, const top *in, size_t n, uint8_t b) {
    size_t start = m->n_pool;
    const inf__grammar *g = m->g;
    if (n == 1) {
        /* fast path: a plain byte edge, no call, not final */
        uint32_t pos = in[0].pos;
        if (g->st_ref[pos] == g->st_ref[pos + 1] && !g->st_final[pos]) {
            int32_t nx = g->trans[g->st_trans[pos] + g->rule_cls[(size_t)g->st_rule[pos] * 256 + b]];
            if (nx < 0) return 0;
            int32_t parent = in[0].parent; /* in[] may move with the pool */
            if (grow_arr((void **)&m->pool, &m->cap_pool, m->n_pool + 1, sizeof *m->pool)) { m->oom = 1; return 0; }
            m->pool[m->n_pool++] = (top){(uint32_t)nx, parent};
            return 1;
        }
    }
    /* in[] may point into the pool, which emit() may move: copy */
    top local[8];
    top *src = n <= 8 ? local : malloc(n * sizeof *src);
    if (!src) { m->oom = 1; return 0; }
    memcpy(src, in, n * sizeof *src);
    m->n_vis = 0;
    for (size_t i = 0; i < n; i++) step_top(m, src[i], b, start);
    if (src != local) free(src);
    return m->n_pool - start;
}

static int stack_accepts(const inf__matcher *m, top t) {
    if (!m->g->st_final_cl[t.pos]) return 0;
    for (int32_t f = t.parent; f >= 0; f = m->fr[f].parent)
        if (!m->g->st_final_cl[m->fr[f].pos]) return 0;
    return 1;
}

int inf__matcher_is_accepting(const inf__matcher *m) {
    if (m->ended) return 0;
    for (size_t i = 0; i < m->n_cur; i++)
        if (stack_accepts(m, m->cur[i])) return 1;
    return 0;
}

void inf__matcher_reset(inf__matcher *m) {
    m->n_fr = 0;
    m->n_cur = 1;
    m->cur[0] = (top){m->g->rule_start[m->g->root], -1};
    m->ended = m->limit_hit = m->oom = 0;
}

int inf__matcher_new(const inf__grammar *g, const inf__grammar_vocab *v, inf__matcher **out, inf__err *err) {
    *out = NULL;
    if (!g || !v) return inf__seterr(err, INF_E_INVALID_ARGUMENT, "matcher needs a grammar and a vocabulary");
    inf__matcher *m = calloc(1, sizeof *m);
    if (!m) return inf__seterr(err, INF_E_NOMEM, "out of memory");
    m->g = g;
    m->v = v;
    m->words = ((size_t)v->n + 31) / 32;
    size_t lv = (size_t)v->max_depth + 2;
    m->lv_off = malloc(lv * sizeof *m->lv_off);
    m->lv_n = malloc(lv * sizeof *m->lv_n);
    m->lv_fr = malloc(lv * sizeof *m->lv_fr);
    m->cur = malloc(sizeof *m->cur);
    m->cap_cur = 1;
    m->simple = malloc(g->n_states ? g->n_states : 1);
    m->tail = malloc(g->n_states ? g->n_states : 1);
    if (m->tail)
        for (uint32_t s = 0; s < g->n_states; s++) {
            int way = 0;
            uint32_t nc = g->rule_ncls[g->st_rule[s]];
            for (uint32_t c = 0; c < nc && !way; c++) way = g->trans[g->st_trans[s] + c] >= 0;
            for (uint32_t k = g->st_ref[s]; k < g->st_ref[s + 1] && !way; k++) way = g->refs[k].rule != UINT32_MAX;
            m->tail[s] = g->st_final[s] && !way;
        }
    if (m->simple)
        for (uint32_t s = 0; s < g->n_states; s++) {
            int calls = 0;
            for (uint32_t k = g->st_ref[s]; k < g->st_ref[s + 1]; k++) calls |= g->refs[k].rule != UINT32_MAX;
            m->simple[s] = !calls && !g->st_final[s];
        }
    if (!m->simple || !m->tail || !m->lv_off || !m->lv_n || !m->lv_fr || !m->cur) {
        inf__matcher_free(m);
        return inf__seterr(err, INF_E_NOMEM, "out of memory");
    }
    inf__matcher_reset(m);
    *out = m;
    return INF_OK;
}

void inf__matcher_free(inf__matcher *m) {
    if (!m) return;
    free(m->key);
    free(m->fr); free(m->cur); free(m->vis); free(m->pool);
    free(m->lv_off); free(m->lv_n); free(m->lv_fr); free(m->simple); free(m->tail);
    free(m);
}

size_t inf__matcher_mask_words(const inf__matcher *m) { return m->words; }

static int status(inf__matcher *m, inf__err *err) {
    if (m->oom) return inf__seterr(err, INF_E_NOMEM, "out of memory in the grammar matcher");
    if (m->limit_hit)
        return inf__seterr(err, INF_E_LIMIT, "grammar matcher limit: more than %u parses at once or nesting deeper "
                           "than %u", m->g->lim.max_stacks, m->g->lim.max_depth);
    return INF_OK;
}

/* The canonical form of the state into m->key: each stack as its states
 * from the top down, ended by UINT32_MAX, stacks sorted.  Returns the
 * length, 0 out of memory. */
static int cmp_stack_keys(const void *a, const void *b, void *ctx) {
    const uint32_t *k = ctx;
    const uint32_t *x = k + *(const uint32_t *)a, *y = k + *(const uint32_t *)b;
    for (;; x++, y++) {
        if (*x != *y) return *x < *y ? -1 : 1;
        if (*x == UINT32_MAX) return 0;
    }
}

static size_t make_key(inf__matcher *m) {
    size_t n = 0;
    for (size_t i = 0; i < m->n_cur; i++) {
        n += 2;
        for (int32_t f = m->cur[i].parent; f >= 0; f = m->fr[f].parent) n++;
    }
    /* stacks written after a table of their offsets, then sorted by it */
    size_t need = 2 * n + m->n_cur + 1;
    if (grow_arr((void **)&m->key, &m->cap_key, need, sizeof *m->key)) return 0;
    uint32_t *raw = m->key + n + m->n_cur, *idx = m->key + n;
    size_t at = 0;
    for (size_t i = 0; i < m->n_cur; i++) {
        idx[i] = (uint32_t)at;
        raw[at++] = m->cur[i].pos;
        for (int32_t f = m->cur[i].parent; f >= 0; f = m->fr[f].parent) raw[at++] = m->fr[f].pos;
        raw[at++] = UINT32_MAX;
    }
    qsort_r(idx, m->n_cur, sizeof *idx, cmp_stack_keys, raw);
    size_t o = 0;
    for (size_t i = 0; i < m->n_cur; i++)
        for (const uint32_t *s = raw + idx[i];; s++) {
            m->key[o++] = *s;
            if (*s == UINT32_MAX) break;
        }
    return o;
}

static uint64_t hash_key(const uint32_t *k, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < n; i++) h = (h ^ k[i]) * 0x100000001B3ull;
    return h ^ (h >> 31);
}

/* The trie walk (see the top of the file).  Most levels hold one parse
 * whose state has neither calls nor an end (inside a string, a number, a
 * literal): those step inline, without frames; the rest go through
 * step_set. */
static void walk(inf__matcher *m, uint32_t *bits) {
    m->work = 0;
    const inf__grammar_vocab *v = m->v;
    const inf__grammar *g = m->g;
    size_t fr0 = m->n_fr;
    size_t need = m->n_cur + (size_t)v->max_depth + 2;
    if (grow_arr((void **)&m->pool, &m->cap_pool, need, sizeof *m->pool)) { m->oom = 1; return; }
    memcpy(m->pool, m->cur, m->n_cur * sizeof *m->pool);
    m->n_pool = m->n_cur;
    m->lv_off[0] = 0;
    m->lv_n[0] = m->n_cur;
    m->lv_fr[0] = fr0;
    const uint8_t *simple = m->simple;
    const uint32_t *st_rule = g->st_rule;
    const size_t *st_trans = g->st_trans;
    const int32_t *trans = g->trans;
    const uint8_t *cls = g->rule_cls;
    const uint8_t *nbyte = v->nbyte;
    const uint32_t *ndepth = v->ndepth, *nskip = v->nskip, *ntok = v->ntok;
    const int32_t *toks = v->toks;
    for (uint32_t i = 0; i < v->n_nodes;) {
        uint32_t d = ndepth[i];
        size_t po = m->lv_off[d - 1], pn = m->lv_n[d - 1], base = po + pn;
        top *prev = m->pool + po;
        if (pn == 1 && simple[prev->pos] && base < m->cap_pool) {
            uint32_t pos = prev->pos;
            int32_t nx = trans[st_trans[pos] + cls[(size_t)st_rule[pos] * 256 + nbyte[i]]];
            if (nx < 0) { i = nskip[i]; continue; }
            m->pool[base] = (top){(uint32_t)nx, prev->parent};
            m->n_pool = base + 1;
            m->lv_off[d] = base;
            m->lv_n[d] = 1;
            m->lv_fr[d] = m->lv_fr[d - 1];
        } else {
            /* drop what the previous sibling subtrees left above this level */
            m->n_pool = base;
            m->n_fr = m->lv_fr[d - 1];
            size_t n = step_set(m, m->pool + po, pn, nbyte[i]);
            if (m->oom || m->limit_hit) break;
            if (!n) { i = nskip[i]; continue; }
            m->lv_off[d] = m->n_pool - n;
            m->lv_n[d] = n;
            m->lv_fr[d] = m->n_fr;
        }
        for (uint32_t k = ntok[i]; k < ntok[i + 1]; k++) {
            int32_t id = toks[k];
            bits[id >> 5] |= 1u << (id & 31);
        }
        i++;
    }
    m->n_fr = fr0;
}

int inf__matcher_fill_mask(inf__matcher *m, uint32_t *bits, inf__err *err) {
    memset(bits, 0, m->words * sizeof *bits);
    if (m->ended) return INF_OK;
    int rc = status(m, err);
    if (rc) return rc;
    size_t kl = make_key(m);
    if (!kl) return inf__seterr(err, INF_E_NOMEM, "out of memory");
    uint64_t h = hash_key(m->key, kl);
    if (gx_cache_get(m->g->cache, m->v->uid, h, m->key, kl, bits, m->words)) return INF_OK;
    walk(m, bits);
    rc = status(m, err);
    if (rc) { memset(bits, 0, m->words * sizeof *bits); return rc; }
    if (inf__matcher_is_accepting(m))
        for (size_t k = 0; k < m->v->n_eos; k++) {
            int32_t id = m->v->eos_ids[k];
            bits[id >> 5] |= 1u << (id & 31);
        }
    gx_cache_put(m->g->cache, m->v->uid, h, m->key, kl, bits, m->words);
    return INF_OK;
}

/* Steps the state by s[n]; on success the new tops replace cur and the
 * frames made stay.  0 when some byte leaves the grammar (state kept). */
static int advance(inf__matcher *m, const char *s, size_t n, int commit) {
    size_t fr0 = m->n_fr;
    m->work = 0;
    m->n_pool = 0;
    if (grow_arr((void **)&m->pool, &m->cap_pool, m->n_cur, sizeof *m->pool)) { m->oom = 1; return 0; }
    memcpy(m->pool, m->cur, m->n_cur * sizeof *m->pool);
    m->n_pool = m->n_cur;
    size_t off = 0, cnt = m->n_cur;
    for (size_t i = 0; i < n; i++) {
        size_t k = step_set(m, m->pool + off, cnt, (uint8_t)s[i]);
        if (!k || m->oom || m->limit_hit) { m->n_fr = fr0; return 0; }
        off = m->n_pool - k;
        cnt = k;
    }
    if (!commit) { m->n_fr = fr0; return 1; }
    if (grow_arr((void **)&m->cur, &m->cap_cur, cnt, sizeof *m->cur)) { m->oom = 1; m->n_fr = fr0; return 0; }
    memcpy(m->cur, m->pool + off, cnt * sizeof *m->cur);
    m->n_cur = cnt;
    return 1;
}

int inf__matcher_token_allowed(inf__matcher *m, int32_t id) {
    if (m->ended || id < 0 || id >= m->v->n) return 0;
    if (m->v->eos[id]) return inf__matcher_is_accepting(m);
    if (!m->v->len[id]) return 0;
    int lim = m->limit_hit;
    int ok = advance(m, m->v->blob + m->v->off[id], m->v->len[id], 0);
    m->limit_hit = lim; /* a refused probe is not the matcher's failure */
    return ok;
}

int inf__matcher_accept_bytes(inf__matcher *m, const char *s, size_t n, inf__err *err) {
    if (m->ended) return inf__seterr(err, INF_E_INVALID_ARGUMENT, "the grammar's output already ended");
    int rc = status(m, err);
    if (rc) return rc;
    if (!advance(m, s, n, 1)) {
        rc = status(m, err);
        return rc ? rc : inf__seterr(err, INF_E_INVALID_ARGUMENT, "the bytes do not continue the grammar");
    }
    return INF_OK;
}

int inf__matcher_accept_token(inf__matcher *m, int32_t id, inf__err *err) {
    if (m->ended) return inf__seterr(err, INF_E_INVALID_ARGUMENT, "the grammar's output already ended");
    if (id < 0 || id >= m->v->n) return inf__seterr(err, INF_E_INVALID_ARGUMENT, "token id %d outside the vocabulary", (int)id);
    if (m->v->eos[id]) {
        if (!inf__matcher_is_accepting(m))
            return inf__seterr(err, INF_E_INVALID_ARGUMENT, "end of sequence before the grammar's output is complete");
        m->ended = 1;
        return INF_OK;
    }
    if (!m->v->len[id]) return inf__seterr(err, INF_E_INVALID_ARGUMENT, "token %d is special: never allowed by a grammar", (int)id);
    int rc = inf__matcher_accept_bytes(m, m->v->blob + m->v->off[id], m->v->len[id], err);
    if (rc == INF_E_INVALID_ARGUMENT) inf__seterr(err, rc, "token %d is not allowed by the grammar here", (int)id);
    return rc;
}

int inf__matcher_is_finished(const inf__matcher *mc) {
    inf__matcher *m = (inf__matcher *)mc; /* probes leave the state as it was */
    if (m->ended) return 1;
    if (!inf__matcher_is_accepting(m)) return 0;
    int lim = m->limit_hit;
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        if (advance(m, &c, 1, 0)) { m->limit_hit = lim; return 0; }
    }
    m->limit_hit = lim;
    return 1;
}
