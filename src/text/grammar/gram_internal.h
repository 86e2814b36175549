/* Internals of the grammar engine, shared by its files.
 *
 * The front ends (gram_gbnf.c, gram_regex.c, gram_schema.c) build an
 * expression tree per rule (gx_node) in a gx_builder; gram_compile.c turns
 * each rule's tree into a Thompson NFA and then a DFA over byte classes and
 * rule calls; gram_match.c runs the DFAs as a pushdown automaton. */
#ifndef INF_TEXT_GRAMMAR_INTERNAL_H
#define INF_TEXT_GRAMMAR_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "text/grammar/grammar.h"

#define GX_INF UINT32_MAX /* unbounded repeat */

enum { GX_SET, GX_SEQ, GX_ALT, GX_REP, GX_REF };

/* One node of an expression tree.  Nodes belong to the builder (freed with
 * it); children are node pointers. */
typedef struct gx_node {
    int kind;
    uint32_t set[8];            /* GX_SET: the bytes matched (bit b of set[b/32]) */
    struct gx_node **kids;      /* GX_SEQ / GX_ALT (an empty SEQ matches "", an
                                   empty ALT matches nothing); GX_REP: kids[0] */
    uint32_t n_kids, cap_kids;
    uint32_t min, max;          /* GX_REP; max may be GX_INF */
    uint32_t rule;              /* GX_REF */
    struct gx_node *next_alloc; /* the builder's list of every node */
} gx_node;

typedef struct gx_rule {
    char *name;
    gx_node *body;   /* NULL while only referenced (declared, not defined) */
    int line, col;   /* where first referenced (for "undefined rule") */
} gx_rule;

typedef struct gx_builder {
    inf__grammar_limits lim;
    gx_rule *rules;
    uint32_t n_rules, cap_rules;
    gx_node *nodes;   /* every node allocated, for freeing */
    size_t n_nodes;
    inf__err *err;
    int failed;       /* an allocation failed (err set) */
} gx_builder;

void gx_init(gx_builder *b, const inf__grammar_limits *lim, inf__err *err);
void gx_free(gx_builder *b);
/* Node constructors; NULL only when out of memory or past the node budget
 * (then b->failed is set and err says which). */
gx_node *gx_set(gx_builder *b);                 /* empty set: fill set[] */
gx_node *gx_byte(gx_builder *b, uint8_t c);
gx_node *gx_range(gx_builder *b, uint8_t lo, uint8_t hi);
gx_node *gx_seq(gx_builder *b);
gx_node *gx_alt(gx_builder *b);
gx_node *gx_rep(gx_builder *b, gx_node *kid, uint32_t min, uint32_t max);
gx_node *gx_ref(gx_builder *b, uint32_t rule);
gx_node *gx_lit(gx_builder *b, const char *s, size_t n); /* a byte sequence */
/* Appends kid to a SEQ or ALT; 0 or -1 (out of memory).  A NULL kid fails. */
int gx_add(gx_builder *b, gx_node *parent, gx_node *kid);
/* One UTF-8 encoded code point in [lo, hi] (lo <= hi <= 0x10FFFF,
 * surrogates excluded), as byte-level alternatives. */
gx_node *gx_cp_range(gx_builder *b, uint32_t lo, uint32_t hi);
/* Any code point except those in the sorted, disjoint list of excluded
 * ranges ex[2*n] (lo, hi pairs). */
gx_node *gx_cp_except(gx_builder *b, const uint32_t *ex, size_t n);
/* The id of rule name (declared on first use), or UINT32_MAX past the rule
 * limit / out of memory (err set).  name NULL: a new anonymous rule. */
uint32_t gx_rule_id(gx_builder *b, const char *name, size_t len, int line, int col);

/* The compiled grammar.  States are numbered over all rules; each state
 * belongs to one rule and steps on a byte through its rule's class map. */
typedef struct gx_refedge {
    uint32_t rule;    /* callee */
    uint32_t target;  /* state to return to */
} gx_refedge;

/* gram_cache.c: masks shared by a grammar's matchers (thread-safe). */
typedef struct gx_cache gx_cache;
gx_cache *gx_cache_new(void);
void gx_cache_free(gx_cache *c);
/* 1 and the mask in bits when (vocab, key) is cached, else 0. */
int gx_cache_get(gx_cache *c, uint64_t vocab, uint64_t hash, const uint32_t *key, size_t key_len, uint32_t *bits,
                 size_t words);
void gx_cache_put(gx_cache *c, uint64_t vocab, uint64_t hash, const uint32_t *key, size_t key_len,
                  const uint32_t *bits, size_t words);

struct inf__grammar {
    inf__grammar_limits lim;
    gx_cache *cache;          /* the one mutable part: internally locked */
    uint32_t n_rules, n_states, root;
    uint32_t *rule_start;     /* [n_rules] start state */
    uint8_t *rule_nullable;   /* [n_rules] */
    char **rule_name;         /* [n_rules] */
    uint32_t *rule_ncls;      /* [n_rules] byte classes */
    uint8_t *rule_cls;        /* [n_rules * 256] byte -> class */
    uint32_t *st_rule;        /* [n_states] */
    uint8_t *st_final;        /* [n_states] rule may end here */
    uint8_t *st_final_cl;     /* [n_states] may end through nullable calls */
    size_t *st_trans;         /* [n_states] offset into trans (rule_ncls entries) */
    int32_t *trans;           /* target state or -1 */
    uint32_t *st_ref;         /* [n_states + 1] offsets into refs */
    gx_refedge *refs;
};

/* A vocabulary: each id's bytes, and a trie of them in preorder (node i's
 * subtree is i .. skip[i]-1; depth[i] is its byte's position + 1), so a mask
 * is one pass over the arrays that jumps over every subtree whose prefix
 * the grammar refuses. */
struct inf__grammar_vocab {
    uint64_t uid;       /* unique over the process: the mask cache's key */
    int32_t n;          /* ids */
    char *blob;         /* all tokens' bytes */
    size_t *off;        /* [n] start in blob */
    uint32_t *len;      /* [n] 0: never allowed (special / eos / no piece) */
    uint8_t *eos;       /* [n] 1 for the end-of-sequence ids */
    int32_t *eos_ids;
    size_t n_eos;
    uint32_t n_nodes, max_depth;
    uint8_t *nbyte;     /* [n_nodes] */
    uint32_t *ndepth;   /* [n_nodes] 1 for children of the root */
    uint32_t *nskip;    /* [n_nodes] first node after the subtree */
    uint32_t *ntok;     /* [n_nodes + 1] offsets into toks: ids ending here */
    int32_t *toks;
};

/* Compiles the rules of b (root: the rule named root_name) into *out.
 * Checks: every referenced rule defined, no left recursion, limits. */
int gx_compile(gx_builder *b, const char *root_name, inf__grammar **out, inf__err *err);

/* The regex parser for the schema compiler: re[len] into a node.  json: the
 * expression describes a JSON string's value (JSON Schema "pattern": search
 * semantics unless anchored, characters JSON escapes matched escaped);
 * otherwise it describes raw bytes, whole match.  what prefixes errors. */
gx_node *gx_regex_parse(gx_builder *b, const char *re, size_t len, int json, const char *what, inf__err *err);

#endif
