/* Rules' expression trees -> one DFA per rule (over byte classes and rule
 * calls), then global checks: undefined rules, left recursion, states that
 * can never complete (trimmed, so a mask never leads into a dead end), and
 * a grammar that matches nothing (an unsatisfiable schema). */
#include <stdlib.h>
#include <string.h>

#include "text/grammar/gram_internal.h"

enum { NS_EPS, NS_SET, NS_REF, NS_MATCH };

/* Work budget of the subset construction (NFA states visited, over all
 * rules): about a second of compilation. */
#define GX_WORK_MAX ((uint64_t)250 * 1000 * 1000)
typedef struct {
    int kind;
    uint32_t arg;       /* NS_SET: index into sets; NS_REF: rule */
    int32_t out1, out2; /* NS_EPS: up to two; NS_SET / NS_REF: out1 */
} nstate;

typedef struct {
    nstate *s;
    uint32_t n, cap, limit;
    const uint32_t **sets;
    uint32_t n_sets, cap_sets;
    inf__err *err;
    int rc;
} nfa;

static int32_t ns_new(nfa *a, int kind, uint32_t arg) {
    if (a->rc) return -1;
    if (a->n >= a->limit) {
        a->rc = inf__seterr(a->err, INF_E_LIMIT, "grammar too large (a rule needs more than %u automaton states)",
                            a->limit);
        return -1;
    }
    if (a->n == a->cap) {
        uint32_t cap = a->cap ? a->cap * 2 : 64;
        nstate *s = realloc(a->s, cap * sizeof *s);
        if (!s) { a->rc = inf__seterr(a->err, INF_E_NOMEM, "out of memory compiling a grammar"); return -1; }
        a->s = s;
        a->cap = cap;
    }
    a->s[a->n] = (nstate){kind, arg, -1, -1};
    return (int32_t)a->n++;
}

typedef struct { int32_t start, end; } frag;

static frag build(nfa *a, const gx_node *n) {
    frag f = {-1, -1};
    if (a->rc) return f;
    switch (n->kind) {
    case GX_SET:
    case GX_REF: {
        uint32_t arg = n->rule;
        if (n->kind == GX_SET) {
            if (a->n_sets == a->cap_sets) {
                uint32_t cap = a->cap_sets ? a->cap_sets * 2 : 16;
                const uint32_t **s = realloc(a->sets, cap * sizeof *s);
                if (!s) { a->rc = inf__seterr(a->err, INF_E_NOMEM, "out of memory compiling a grammar"); return f; }
                a->sets = s;
                a->cap_sets = cap;
            }
            a->sets[a->n_sets] = n->set;
            arg = a->n_sets++;
        }
        f.start = ns_new(a, n->kind == GX_SET ? NS_SET : NS_REF, arg);
        f.end = ns_new(a, NS_EPS, 0);
        if (f.end >= 0) a->s[f.start].out1 = f.end;
        return f;
    }
    case GX_SEQ: {
        f.start = f.end = ns_new(a, NS_EPS, 0);
        for (uint32_t i = 0; i < n->n_kids && !a->rc; i++) {
            frag k = build(a, n->kids[i]);
            if (a->rc) break;
            a->s[f.end].out1 = k.start;
            f.end = k.end;
        }
        return f;
    }
    case GX_ALT: {
        f.start = ns_new(a, NS_EPS, 0);
        f.end = ns_new(a, NS_EPS, 0);
        int32_t at = f.start;
        for (uint32_t i = 0; i < n->n_kids && !a->rc; i++) {
            frag k = build(a, n->kids[i]);
            if (a->rc) break;
            a->s[k.end].out1 = f.end;
            if (i + 1 < n->n_kids) {
                int32_t nx = ns_new(a, NS_EPS, 0);
                if (nx < 0) break;
                a->s[at].out1 = k.start;
                a->s[at].out2 = nx;
                at = nx;
            } else {
                a->s[at].out1 = k.start;
            }
        }
        return f;
    }
    case GX_REP: {
        f.start = f.end = ns_new(a, NS_EPS, 0);
        for (uint32_t i = 0; i < n->min && !a->rc; i++) {
            frag k = build(a, n->kids[0]);
            if (a->rc) break;
            a->s[f.end].out1 = k.start;
            f.end = k.end;
        }
        if (a->rc) return f;
        if (n->max == GX_INF) {
            int32_t loop = ns_new(a, NS_EPS, 0), out = ns_new(a, NS_EPS, 0);
            frag k = build(a, n->kids[0]);
            if (a->rc) return f;
            a->s[f.end].out1 = loop;
            a->s[loop].out1 = k.start;
            a->s[loop].out2 = out;
            a->s[k.end].out1 = loop;
            f.end = out;
        } else if (n->max > n->min) {
            int32_t out = ns_new(a, NS_EPS, 0);
            for (uint32_t i = n->min; i < n->max && !a->rc; i++) {
                frag k = build(a, n->kids[0]);
                if (a->rc) break;
                a->s[f.end].out1 = k.start;
                a->s[f.end].out2 = out;
                f.end = k.end;
            }
            if (a->rc) return f;
            a->s[f.end].out1 = out;
            f.end = out;
        }
        return f;
    }
    }
    return f;
}

/* ---- subset construction ---- */

typedef struct {
    uint32_t *pool;     /* concatenated sorted NFA state sets */
    size_t n_pool, cap_pool;
    size_t *off;        /* [n] start in pool; set i is pool[off[i] .. off[i+1]) */
    uint64_t *hash;     /* [n] each set's hash (growing the table rehashes) */
    uint32_t n, cap;
    uint32_t *tab;      /* hash table of ids + 1 */
    uint32_t tab_cap;
} setmap;

static uint64_t hash_set(const uint32_t *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static int sm_grow(setmap *m) {
    uint32_t cap = m->tab_cap ? m->tab_cap * 2 : 256;
    uint32_t *t = calloc(cap, sizeof *t);
    if (!t) return -1;
    for (uint32_t i = 0; i < m->n; i++) {
        uint64_t h = m->hash[i];
        uint32_t j = (uint32_t)h & (cap - 1);
        while (t[j]) j = (j + 1) & (cap - 1);
        t[j] = i + 1;
    }
    free(m->tab);
    m->tab = t;
    m->tab_cap = cap;
    return 0;
}

/* The id of set s[n] (added when new: *added = 1); -1 out of memory. */
static int64_t sm_get(setmap *m, const uint32_t *s, size_t n, int *added) {
    *added = 0;
    if ((m->n + 1) * 2 >= m->tab_cap && sm_grow(m)) return -1;
    uint64_t h = hash_set(s, n);
    uint32_t j = (uint32_t)h & (m->tab_cap - 1);
    while (m->tab[j]) {
        uint32_t id = m->tab[j] - 1;
        size_t l = m->off[id + 1] - m->off[id];
        if (l == n && !memcmp(m->pool + m->off[id], s, n * sizeof *s)) return id;
        j = (j + 1) & (m->tab_cap - 1);
    }
    if (m->n_pool + n > m->cap_pool) {
        size_t cap = (m->cap_pool + n) * 2;
        uint32_t *p = realloc(m->pool, cap * sizeof *p);
        if (!p) return -1;
        m->pool = p;
        m->cap_pool = cap;
    }
    if (m->n + 2 > m->cap) {
        uint32_t cap = m->cap ? m->cap * 2 : 64;
        size_t *o = realloc(m->off, cap * sizeof *o);
        if (!o) return -1;
        m->off = o;
        uint64_t *hs = realloc(m->hash, cap * sizeof *hs);
        if (!hs) return -1;
        m->hash = hs;
        m->cap = cap;
    }
    m->hash[m->n] = h;
    if (m->n == 0) m->off[0] = 0;
    memcpy(m->pool + m->n_pool, s, n * sizeof *s);
    m->n_pool += n;
    m->off[m->n + 1] = m->n_pool;
    m->tab[j] = m->n + 1;
    *added = 1;
    return m->n++;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Epsilon closure of the n states in buf (capacity a->n), sorted; returns
 * the new count.  mark[] is scratch (all 0 on entry and exit). */
static size_t closure(const nfa *a, uint32_t *buf, size_t n, uint8_t *mark, uint32_t *stk) {
    size_t ns = 0, out = 0;
    for (size_t i = 0; i < n; i++)
        if (!mark[buf[i]]) { mark[buf[i]] = 1; stk[ns++] = buf[i]; }
    while (ns) {
        uint32_t s = stk[--ns];
        buf[out++] = s;
        if (a->s[s].kind == NS_EPS) {
            int32_t o[2] = {a->s[s].out1, a->s[s].out2};
            for (int k = 0; k < 2; k++)
                if (o[k] >= 0 && !mark[o[k]]) { mark[o[k]] = 1; stk[ns++] = (uint32_t)o[k]; }
        }
    }
    for (size_t i = 0; i < out; i++) mark[buf[i]] = 0;
    if (out > 48) qsort(buf, out, sizeof *buf, cmp_u32);
    else /* closures are mostly small: insertion sort beats qsort's setup */
        for (size_t i = 1; i < out; i++) {
            uint32_t x = buf[i];
            size_t j = i;
            for (; j > 0 && buf[j - 1] > x; j--) buf[j] = buf[j - 1];
            buf[j] = x;
        }
    return out;
}

/* Growing output arrays of the whole grammar. */
typedef struct {
    inf__grammar *g;
    uint64_t work;      /* NFA states visited by the subset construction */
    uint32_t cap_states;
    size_t n_trans, cap_trans;
    size_t n_refs, cap_refs;
} gout;

static int grow(void **p, size_t n, size_t size) {
    void *q = realloc(*p, n * size);
    if (!q) return -1;
    *p = q;
    return 0;
}

static int add_state(gout *o, uint32_t rule, int final, uint32_t ncls) {
    inf__grammar *g = o->g;
    if (g->n_states == o->cap_states) {
        uint32_t cap = o->cap_states ? o->cap_states * 2 : 256;
        if (grow((void **)&g->st_rule, cap, sizeof *g->st_rule) ||
            grow((void **)&g->st_final, cap, 1) || grow((void **)&g->st_final_cl, cap, 1) ||
            grow((void **)&g->st_trans, cap, sizeof *g->st_trans) ||
            grow((void **)&g->st_ref, cap + 1, sizeof *g->st_ref))
            return -1;
        o->cap_states = cap;
    }
    if (o->n_trans + ncls > o->cap_trans) {
        size_t cap = (o->cap_trans + ncls) * 2;
        if (grow((void **)&g->trans, cap, sizeof *g->trans)) return -1;
        o->cap_trans = cap;
    }
    uint32_t s = g->n_states++;
    g->st_rule[s] = rule;
    g->st_final[s] = (uint8_t)final;
    g->st_trans[s] = o->n_trans;
    for (uint32_t c = 0; c < ncls; c++) g->trans[o->n_trans + c] = -1;
    o->n_trans += ncls;
    return 0;
}

static int add_ref(gout *o, uint32_t rule, uint32_t target) {
    if (o->n_refs == o->cap_refs) {
        size_t cap = o->cap_refs ? o->cap_refs * 2 : 64;
        if (grow((void **)&o->g->refs, cap, sizeof *o->g->refs)) return -1;
        o->cap_refs = cap;
    }
    o->g->refs[o->n_refs++] = (gx_refedge){rule, target};
    return 0;
}

/* Compiles rule r's tree into DFA states appended to o. */
static int compile_rule(gx_builder *b, uint32_t r, gout *o, inf__err *err) {
    inf__grammar *g = o->g;
    nfa a = {0};
    a.err = err;
    a.limit = g->lim.max_states * 2;
    frag f = build(&a, b->rules[r].body);
    int32_t match = a.rc ? -1 : ns_new(&a, NS_MATCH, 0);
    if (a.rc) { free(a.s); free(a.sets); return a.rc; }
    a.s[f.end].out1 = match;

    /* byte classes: refine the partition of 0..255 by every set */
    uint8_t *cls = g->rule_cls + (size_t)r * 256;
    uint16_t cur[256], nxt[256];
    memset(cur, 0, sizeof cur);
    uint32_t ncls = 1;
    for (uint32_t i = 0; i < a.n_sets; i++) {
        int16_t map[512];
        memset(map, -1, sizeof map);
        uint32_t k = 0;
        for (int c = 0; c < 256; c++) {
            int in = (a.sets[i][c >> 5] >> (c & 31)) & 1;
            int key = cur[c] * 2 + in;
            if (map[key] < 0) map[key] = (int16_t)k++;
            nxt[c] = (uint16_t)map[key];
        }
        memcpy(cur, nxt, sizeof cur);
        ncls = k;
    }
    uint8_t rep[256];
    for (int c = 255; c >= 0; c--) { cls[c] = (uint8_t)cur[c]; rep[cur[c]] = (uint8_t)c; }
    g->rule_ncls[r] = ncls;

    int rc = INF_OK;
    setmap m = {0}, pm = {0}; /* DFA states; targets before closure */
    int64_t *pre_dfa = NULL;  /* pm id -> DFA state */
    size_t cap_pre = 0;
    uint32_t *buf = malloc((size_t)a.n * sizeof *buf), *stk = malloc((size_t)a.n * sizeof *stk);
    uint8_t *mark = calloc(a.n, 1);
    uint32_t *rules_seen = malloc((size_t)a.n * sizeof *rules_seen);
    if (!buf || !stk || !mark || !rules_seen) goto oom;
    uint32_t base = g->n_states;
    buf[0] = (uint32_t)f.start;
    size_t n = closure(&a, buf, 1, mark, stk);
    int added;
    if (sm_get(&m, buf, n, &added) < 0) goto oom;
    g->rule_start[r] = base;
    for (uint32_t d = 0; d < m.n; d++) {
        if (g->n_states >= g->lim.max_states) {
            rc = inf__seterr(err, INF_E_LIMIT, "grammar too large (more than %u automaton states)", g->lim.max_states);
            goto done;
        }
        /* this DFA state's NFA set, copied: sm_get may move the pool */
        size_t ln = m.off[d + 1] - m.off[d];
        /* the subset construction can take time exponential in the
         * pattern's size long before the state limit (e.g. (a|b|ab){1,1000}):
         * bound the work too */
        o->work += (uint64_t)ln * (ncls + 1);
        if (o->work > GX_WORK_MAX) {
            rc = inf__seterr(err, INF_E_LIMIT, "grammar too complex to compile (its automaton grows too fast; "
                             "simplify repeats of overlapping alternatives)");
            goto done;
        }
        uint32_t *set = malloc((ln ? ln : 1) * sizeof *set);
        if (!set) goto oom;
        memcpy(set, m.pool + m.off[d], ln * sizeof *set);
        int final = 0;
        for (size_t i = 0; i < ln; i++) final |= set[i] == (uint32_t)match;
        if (add_state(o, r, final, ncls)) { free(set); goto oom; }
        uint32_t s = base + d;
        for (uint32_t c = 0; c < ncls && !rc; c++) {
            n = 0;
            for (size_t i = 0; i < ln; i++) {
                const nstate *q = &a.s[set[i]];
                if (q->kind == NS_SET && (a.sets[q->arg][rep[c] >> 5] >> (rep[c] & 31) & 1))
                    buf[n++] = (uint32_t)q->out1;
            }
            if (!n) continue;
            /* the targets before closure decide the DFA state: remember
             * them (many classes and states lead to the same few) */
            if (n > 1) qsort(buf, n, sizeof *buf, cmp_u32);
            o->work += n > 48 ? 16 * (uint64_t)n : n;
            size_t u = 0;
            for (size_t i = 0; i < n; i++)
                if (!u || buf[u - 1] != buf[i]) buf[u++] = buf[i];
            n = u;
            int64_t pi = sm_get(&pm, buf, n, &added);
            if (pi < 0) { free(set); goto oom; }
            if (added) {
                if ((size_t)pi >= cap_pre) {
                    size_t cap = cap_pre ? cap_pre * 2 : 256;
                    int64_t *np = realloc(pre_dfa, cap * sizeof *np);
                    if (!np) { free(set); goto oom; }
                    pre_dfa = np;
                    cap_pre = cap;
                }
                n = closure(&a, buf, n, mark, stk);
                o->work += (n > 48 ? 16 : 2) * (uint64_t)n; /* closure, its sort and hash */
                pre_dfa[pi] = sm_get(&m, buf, n, &added);
                if (pre_dfa[pi] < 0) { free(set); goto oom; }
            }
            g->trans[g->st_trans[s] + c] = (int32_t)(base + pre_dfa[pi]);
        }
        /* rule calls, one edge per distinct callee */
        g->st_ref[s] = (uint32_t)o->n_refs;
        uint32_t nr = 0;
        for (size_t i = 0; i < ln; i++) {
            const nstate *q = &a.s[set[i]];
            if (q->kind != NS_REF) continue;
            uint32_t k;
            for (k = 0; k < nr && rules_seen[k] != q->arg; k++) {}
            if (k < nr) continue;
            rules_seen[nr++] = q->arg;
            n = 0;
            for (size_t j = 0; j < ln; j++)
                if (a.s[set[j]].kind == NS_REF && a.s[set[j]].arg == q->arg) buf[n++] = (uint32_t)a.s[set[j]].out1;
            n = closure(&a, buf, n, mark, stk);
            int64_t t = sm_get(&m, buf, n, &added);
            if (t < 0 || add_ref(o, q->arg, base + (uint32_t)t)) { free(set); goto oom; }
        }
        g->st_ref[s + 1] = (uint32_t)o->n_refs;
        free(set);
    }
    goto done;
oom:
    rc = inf__seterr(err, INF_E_NOMEM, "out of memory compiling a grammar");
done:
    free(buf); free(stk); free(mark); free(rules_seen);
    free(m.pool); free(m.off); free(m.tab); free(m.hash);
    free(pm.pool); free(pm.off); free(pm.tab); free(pm.hash); free(pre_dfa);
    free(a.s); free(a.sets);
    return rc;
}

void inf__grammar_free(inf__grammar *g) {
    if (!g) return;
    gx_cache_free(g->cache);
    if (g->rule_name)
        for (uint32_t i = 0; i < g->n_rules; i++) free(g->rule_name[i]);
    free(g->rule_name); free(g->rule_start); free(g->rule_nullable); free(g->rule_ncls); free(g->rule_cls);
    free(g->st_rule); free(g->st_final); free(g->st_final_cl); free(g->st_trans); free(g->trans);
    free(g->st_ref); free(g->refs);
    free(g);
}

uint32_t inf__grammar_n_rules(const inf__grammar *g) { return g ? g->n_rules : 0; }
uint32_t inf__grammar_n_states(const inf__grammar *g) { return g ? g->n_states : 0; }

/* Removes every byte edge and call that cannot lead to the end of its rule
 * (live: some path of bytes and completed calls reaches a final state), so
 * that the matcher never allows a byte after which nothing completes. */
static void trim(inf__grammar *g) {
    uint8_t *live = calloc(g->n_states, 1);
    if (!live) return; /* trimming is an optimisation of masks' exactness;
                          caller checks root liveness separately */
    for (uint32_t s = 0; s < g->n_states; s++) live[s] = g->st_final[s];
    for (int changed = 1; changed;) {
        changed = 0;
        for (uint32_t s = 0; s < g->n_states; s++) {
            if (live[s]) continue;
            uint32_t r = g->st_rule[s], nc = g->rule_ncls[r];
            int l = 0;
            for (uint32_t c = 0; c < nc && !l; c++) {
                int32_t t = g->trans[g->st_trans[s] + c];
                l = t >= 0 && live[t];
            }
            for (uint32_t k = g->st_ref[s]; k < g->st_ref[s + 1] && !l; k++)
                l = live[g->rule_start[g->refs[k].rule]] && live[g->refs[k].target];
            if (l) { live[s] = 1; changed = 1; }
        }
    }
    for (uint32_t s = 0; s < g->n_states; s++) {
        uint32_t r = g->st_rule[s], nc = g->rule_ncls[r];
        for (uint32_t c = 0; c < nc; c++) {
            int32_t *t = &g->trans[g->st_trans[s] + c];
            if (*t >= 0 && !live[*t]) *t = -1;
        }
        for (uint32_t k = g->st_ref[s]; k < g->st_ref[s + 1]; k++)
            if (!live[g->rule_start[g->refs[k].rule]] || !live[g->refs[k].target])
                g->refs[k].rule = UINT32_MAX; /* dead call: the matcher skips it */
    }
    free(live);
}

int gx_compile(gx_builder *b, const char *root_name, inf__grammar **out, inf__err *err) {
    *out = NULL;
    if (b->failed) return err && err->code ? err->code : INF_E_NOMEM;
    uint32_t root = UINT32_MAX;
    for (uint32_t i = 0; i < b->n_rules; i++) {
        if (!b->rules[i].body)
            return inf__seterr(err, INF_E_INVALID_ARGUMENT, "line %d col %d: rule '%s' is used but not defined",
                               b->rules[i].line, b->rules[i].col, b->rules[i].name);
        if (!strcmp(b->rules[i].name, root_name)) root = i;
    }
    if (root == UINT32_MAX)
        return inf__seterr(err, INF_E_INVALID_ARGUMENT, "grammar has no rule named '%s'", root_name);
    inf__grammar *g = calloc(1, sizeof *g);
    if (!g) return inf__seterr(err, INF_E_NOMEM, "out of memory compiling a grammar");
    g->lim = b->lim;
    g->n_rules = b->n_rules;
    g->root = root;
    g->rule_start = calloc(b->n_rules, sizeof *g->rule_start);
    g->rule_nullable = calloc(b->n_rules, 1);
    g->rule_name = calloc(b->n_rules, sizeof *g->rule_name);
    g->rule_ncls = calloc(b->n_rules, sizeof *g->rule_ncls);
    g->rule_cls = calloc((size_t)b->n_rules * 256, 1);
    g->cache = gx_cache_new();
    int rc = INF_OK;
    if (!g->cache || !g->rule_start || !g->rule_nullable || !g->rule_name || !g->rule_ncls || !g->rule_cls) goto oom;
    for (uint32_t i = 0; i < b->n_rules; i++)
        if (!(g->rule_name[i] = strdup(b->rules[i].name))) goto oom;
    gout o = {g, 0, 0, 0, 0, 0, 0};
    for (uint32_t r = 0; r < b->n_rules && !rc; r++) rc = compile_rule(b, r, &o, err);
    if (rc) goto fail;
    if (!g->st_ref) { /* cannot happen: every rule has a start state */ goto oom; }
    trim(g);

    /* nullable rules and final-through-nullable-calls, by fixed point */
    for (uint32_t s = 0; s < g->n_states; s++) g->st_final_cl[s] = g->st_final[s];
    for (int changed = 1; changed;) {
        changed = 0;
        for (uint32_t s = 0; s < g->n_states; s++) {
            if (g->st_final_cl[s]) continue;
            for (uint32_t k = g->st_ref[s]; k < g->st_ref[s + 1]; k++) {
                uint32_t cr = g->refs[k].rule;
                if (cr != UINT32_MAX && g->rule_nullable[cr] && g->st_final_cl[g->refs[k].target]) {
                    g->st_final_cl[s] = 1;
                    changed = 1;
                    break;
                }
            }
        }
        for (uint32_t r = 0; r < g->n_rules; r++)
            if (!g->rule_nullable[r] && g->st_final_cl[g->rule_start[r]]) { g->rule_nullable[r] = 1; changed = 1; }
    }

    /* left recursion: rule A calls B before consuming a byte (through
     * nullable calls) and B reaches A the same way.  Depth-first search
     * over the "calls first" graph. */
    {
        uint32_t n = g->n_rules;
        uint8_t *color = calloc(n, 1);
        uint32_t *stack = malloc((size_t)n * 2 * sizeof *stack);
        uint32_t *seen_st = malloc((size_t)g->n_states * sizeof *seen_st);
        uint8_t *vis = calloc(g->n_states, 1);
        if (!color || !stack || !seen_st || !vis) { free(color); free(stack); free(seen_st); free(vis); goto oom; }
        /* first[r]: the rules r may call before consuming, computed per
         * rule by a walk over its states reached through nullable calls. */
        uint32_t *firsts = NULL, *first_off = calloc(n + 1, sizeof *first_off);
        size_t nf = 0, capf = 0;
        if (!first_off) { free(color); free(stack); free(seen_st); free(vis); goto oom; }
        for (uint32_t r = 0; r < n && !rc; r++) {
            first_off[r] = (uint32_t)nf;
            size_t ns = 0;
            seen_st[ns++] = g->rule_start[r];
            vis[g->rule_start[r]] = 1;
            for (size_t i = 0; i < ns; i++) {
                uint32_t s = seen_st[i];
                for (uint32_t k = g->st_ref[s]; k < g->st_ref[s + 1]; k++) {
                    uint32_t cr = g->refs[k].rule;
                    if (cr == UINT32_MAX) continue;
                    if (nf == capf) {
                        capf = capf ? capf * 2 : 64;
                        uint32_t *nfp = realloc(firsts, capf * sizeof *nfp);
                        if (!nfp) { rc = INF_E_NOMEM; break; }
                        firsts = nfp;
                    }
                    firsts[nf++] = cr;
                    uint32_t t = g->refs[k].target;
                    if (g->rule_nullable[cr] && !vis[t]) { vis[t] = 1; seen_st[ns++] = t; }
                }
            }
            for (size_t i = 0; i < ns; i++) vis[seen_st[i]] = 0;
        }
        first_off[n] = (uint32_t)nf;
        /* iterative DFS: color 1 = on the path, 2 = done */
        for (uint32_t r0 = 0; r0 < n && !rc; r0++) {
            if (color[r0]) continue;
            size_t sp = 0;
            stack[sp++] = r0; stack[sp++] = 0;
            color[r0] = 1;
            while (sp && !rc) {
                uint32_t r = stack[sp - 2], i = stack[sp - 1];
                if (first_off[r] + i < first_off[r + 1]) {
                    stack[sp - 1]++;
                    uint32_t c = firsts[first_off[r] + i];
                    if (color[c] == 1)
                        rc = inf__seterr(err, INF_E_INVALID_ARGUMENT,
                                         "left recursion: rule '%s' can reach itself before reading a byte "
                                         "(rewrite it with repetition, e.g. x ::= y (\",\" y)*)", g->rule_name[c]);
                    else if (!color[c]) { color[c] = 1; stack[sp++] = c; stack[sp++] = 0; }
                } else {
                    color[r] = 2;
                    sp -= 2;
                }
            }
        }
        if (rc == INF_E_NOMEM) inf__seterr(err, INF_E_NOMEM, "out of memory compiling a grammar");
        free(color); free(stack); free(seen_st); free(vis); free(firsts); free(first_off);
        if (rc) goto fail;
    }
    /* a live start state of root: some string matches */
    {
        uint32_t s = g->rule_start[root];
        int any = g->st_final[s];
        for (uint32_t c = 0; c < g->rule_ncls[root] && !any; c++) any = g->trans[g->st_trans[s] + c] >= 0;
        for (uint32_t k = g->st_ref[s]; k < g->st_ref[s + 1] && !any; k++) any = g->refs[k].rule != UINT32_MAX;
        if (!any) {
            rc = inf__seterr(err, INF_E_INVALID_ARGUMENT, "the grammar matches no string at all (unsatisfiable)");
            goto fail;
        }
    }
    *out = g;
    return INF_OK;
oom:
    rc = inf__seterr(err, INF_E_NOMEM, "out of memory compiling a grammar");
fail:
    inf__grammar_free(g);
    return rc;
}
