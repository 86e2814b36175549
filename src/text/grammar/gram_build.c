/* Expression trees: the builder every front end writes into. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/grammar/gram_internal.h"

void inf__grammar_limits_default(inf__grammar_limits *l) {
    l->max_source = 1u << 20;
    l->max_rules = 10000;
    l->max_states = 500000;
    l->max_ref_depth = 64;
    l->max_repeat = 1000;
    l->max_stacks = 1024;
    l->max_depth = 2000;
}

void gx_init(gx_builder *b, const inf__grammar_limits *lim, inf__err *err) {
    memset(b, 0, sizeof *b);
    inf__grammar_limits_default(&b->lim);
    if (lim) {
        if (lim->max_source) b->lim.max_source = lim->max_source;
        if (lim->max_rules) b->lim.max_rules = lim->max_rules;
        if (lim->max_states) b->lim.max_states = lim->max_states;
        if (lim->max_ref_depth) b->lim.max_ref_depth = lim->max_ref_depth;
        if (lim->max_repeat) b->lim.max_repeat = lim->max_repeat;
        if (lim->max_stacks) b->lim.max_stacks = lim->max_stacks;
        if (lim->max_depth) b->lim.max_depth = lim->max_depth;
    }
    b->err = err;
}

void gx_free(gx_builder *b) {
    gx_node *n = b->nodes;
    while (n) {
        gx_node *nx = n->next_alloc;
        free(n->kids);
        free(n);
        n = nx;
    }
    for (uint32_t i = 0; i < b->n_rules; i++) free(b->rules[i].name);
    free(b->rules);
    memset(b, 0, sizeof *b);
}

static gx_node *node(gx_builder *b, int kind) {
    if (b->failed) return NULL;
    /* Every node costs at least one NFA state, so the state limit also
     * bounds the trees a hostile input can make us build. */
    if (b->n_nodes >= (size_t)b->lim.max_states * 4) {
        b->failed = 1;
        inf__seterr(b->err, INF_E_LIMIT, "grammar too large (more than %zu expression nodes)", b->n_nodes);
        return NULL;
    }
    gx_node *n = calloc(1, sizeof *n);
    if (!n) {
        b->failed = 1;
        inf__seterr(b->err, INF_E_NOMEM, "out of memory building a grammar");
        return NULL;
    }
    n->kind = kind;
    n->next_alloc = b->nodes;
    b->nodes = n;
    b->n_nodes++;
    return n;
}

gx_node *gx_set(gx_builder *b) { return node(b, GX_SET); }
gx_node *gx_seq(gx_builder *b) { return node(b, GX_SEQ); }
gx_node *gx_alt(gx_builder *b) { return node(b, GX_ALT); }

gx_node *gx_range(gx_builder *b, uint8_t lo, uint8_t hi) {
    gx_node *n = node(b, GX_SET);
    if (n)
        for (unsigned c = lo; c <= hi; c++) n->set[c >> 5] |= 1u << (c & 31);
    return n;
}

gx_node *gx_byte(gx_builder *b, uint8_t c) { return gx_range(b, c, c); }

gx_node *gx_rep(gx_builder *b, gx_node *kid, uint32_t min, uint32_t max) {
    if (!kid) return NULL;
    gx_node *n = node(b, GX_REP);
    if (!n) return NULL;
    n->min = min;
    n->max = max;
    if (gx_add(b, n, kid)) return NULL;
    return n;
}

gx_node *gx_ref(gx_builder *b, uint32_t rule) {
    gx_node *n = node(b, GX_REF);
    if (n) n->rule = rule;
    return n;
}

int gx_add(gx_builder *b, gx_node *parent, gx_node *kid) {
    if (!parent || !kid) return -1;
    if (parent->n_kids == parent->cap_kids) {
        uint32_t cap = parent->cap_kids ? parent->cap_kids * 2 : 4;
        gx_node **k = realloc(parent->kids, cap * sizeof *k);
        if (!k) {
            b->failed = 1;
            inf__seterr(b->err, INF_E_NOMEM, "out of memory building a grammar");
            return -1;
        }
        parent->kids = k;
        parent->cap_kids = cap;
    }
    parent->kids[parent->n_kids++] = kid;
    return 0;
}

gx_node *gx_lit(gx_builder *b, const char *s, size_t n) {
    if (n == 1) return gx_byte(b, (uint8_t)s[0]);
    gx_node *q = gx_seq(b);
    for (size_t i = 0; i < n && q; i++)
        if (gx_add(b, q, gx_byte(b, (uint8_t)s[i]))) return NULL;
    return q;
}

static int enc(uint32_t c, uint8_t *o) {
    if (c < 0x80) { o[0] = (uint8_t)c; return 1; }
    if (c < 0x800) { o[0] = (uint8_t)(0xC0 | (c >> 6)); o[1] = (uint8_t)(0x80 | (c & 63)); return 2; }
    if (c < 0x10000) {
        o[0] = (uint8_t)(0xE0 | (c >> 12)); o[1] = (uint8_t)(0x80 | ((c >> 6) & 63));
        o[2] = (uint8_t)(0x80 | (c & 63)); return 3;
    }
    o[0] = (uint8_t)(0xF0 | (c >> 18)); o[1] = (uint8_t)(0x80 | ((c >> 12) & 63));
    o[2] = (uint8_t)(0x80 | ((c >> 6) & 63)); o[3] = (uint8_t)(0x80 | (c & 63));
    return 4;
}

/* [lo, hi] of code points of one encoded length, split until every byte
 * position ranges independently (the usual UTF-8 range construction). */
static int cp_same_len(gx_builder *b, gx_node *alt, uint32_t lo, uint32_t hi, int n) {
    for (int i = 1; i < n; i++) {
        uint32_t m = (1u << (6 * i)) - 1;
        if ((lo & ~m) != (hi & ~m)) {
            if ((lo & m) != 0)
                return cp_same_len(b, alt, lo, lo | m, n) || cp_same_len(b, alt, (lo | m) + 1, hi, n);
            if ((hi & m) != m)
                return cp_same_len(b, alt, lo, (hi & ~m) - 1, n) || cp_same_len(b, alt, hi & ~m, hi, n);
        }
    }
    uint8_t a[4], z[4];
    enc(lo, a);
    enc(hi, z);
    if (n == 1) return gx_add(b, alt, gx_range(b, a[0], z[0]));
    gx_node *q = gx_seq(b);
    for (int i = 0; i < n && q; i++)
        if (gx_add(b, q, gx_range(b, a[i], z[i]))) return -1;
    return gx_add(b, alt, q);
}

static int cp_add(gx_builder *b, gx_node *alt, uint32_t lo, uint32_t hi) {
    static const uint32_t ends[4] = {0x7F, 0x7FF, 0xFFFF, 0x10FFFF};
    if (hi > 0x10FFFF) hi = 0x10FFFF;
    /* surrogates are not code points UTF-8 may encode */
    if (lo <= 0xDFFF && hi >= 0xD800) {
        if (lo < 0xD800 && cp_add(b, alt, lo, 0xD7FF)) return -1;
        if (hi > 0xDFFF && cp_add(b, alt, 0xE000, hi)) return -1;
        return 0;
    }
    uint32_t start = 0;
    for (int n = 1; n <= 4; n++) {
        uint32_t a = lo > start ? lo : start, z = hi < ends[n - 1] ? hi : ends[n - 1];
        if (a <= z && cp_same_len(b, alt, a, z, n)) return -1;
        start = ends[n - 1] + 1;
    }
    return 0;
}

gx_node *gx_cp_range(gx_builder *b, uint32_t lo, uint32_t hi) {
    gx_node *alt = gx_alt(b);
    if (!alt || lo > hi) return alt;
    return cp_add(b, alt, lo, hi) ? NULL : alt;
}

gx_node *gx_cp_except(gx_builder *b, const uint32_t *ex, size_t n) {
    gx_node *alt = gx_alt(b);
    if (!alt) return NULL;
    uint32_t next = 0;
    for (size_t i = 0; i < n; i++) {
        if (ex[2 * i] > next && cp_add(b, alt, next, ex[2 * i] - 1)) return NULL;
        if (ex[2 * i + 1] + 1 > next) next = ex[2 * i + 1] + 1;
    }
    if (next <= 0x10FFFF && cp_add(b, alt, next, 0x10FFFF)) return NULL;
    return alt;
}

uint32_t gx_rule_id(gx_builder *b, const char *name, size_t len, int line, int col) {
    for (uint32_t i = 0; name && i < b->n_rules; i++)
        if (strlen(b->rules[i].name) == len && !memcmp(b->rules[i].name, name, len)) return i;
    char anon[24];
    if (!name) { /* a new rule without a name of its own */
        len = (size_t)snprintf(anon, sizeof anon, "#%u", b->n_rules);
        name = anon;
    }
    if (b->n_rules >= b->lim.max_rules) {
        inf__seterr(b->err, INF_E_LIMIT, "grammar has more than %u rules", b->lim.max_rules);
        b->failed = 1;
        return UINT32_MAX;
    }
    if (b->n_rules == b->cap_rules) {
        uint32_t cap = b->cap_rules ? b->cap_rules * 2 : 16;
        gx_rule *r = realloc(b->rules, cap * sizeof *r);
        if (!r) goto oom;
        b->rules = r;
        b->cap_rules = cap;
    }
    char *nm = malloc(len + 1);
    if (!nm) goto oom;
    memcpy(nm, name, len);
    nm[len] = 0;
    b->rules[b->n_rules] = (gx_rule){nm, NULL, line, col};
    return b->n_rules++;
oom:
    inf__seterr(b->err, INF_E_NOMEM, "out of memory building a grammar");
    b->failed = 1;
    return UINT32_MAX;
}
