/* Private structures of the tokenizer area, shared by its .c files only.
 * Naming: static helpers are free-form; functions shared between the area's
 * files carry the inf__tk_ prefix. */
#ifndef INF_TEXT_TOK_INTERNAL_H
#define INF_TEXT_TOK_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>

#include "core/util.h" /* inf__utf8_valid_prefix, inf__utf8_step */
#include "text/tokenizer/tokenizer.h"

/* ---- growable byte buffer and id vector -------------------------------- */
typedef struct { char *p; size_t n, cap; } tk_buf;
typedef struct { int32_t *p; size_t n, cap; } tk_ids;
int inf__tk_buf_put(tk_buf *b, const void *s, size_t n);   /* 0 or -1 (OOM) */
int inf__tk_buf_reserve(tk_buf *b, size_t extra);
int inf__tk_ids_push(tk_ids *v, int32_t id);

/* ---- string arena: strings live until the tokenizer is freed ----------- */
typedef struct tk_chunk tk_chunk;
typedef struct { tk_chunk *head; } tk_arena;
/* Copies s[n] plus a NUL; NULL on OOM. */
char *inf__tk_arena_dup(tk_arena *a, const char *s, size_t n);
void inf__tk_arena_free(tk_arena *a);

/* ---- hash map: string -> int32 (open addressing, keys not owned) ------- */
typedef struct { const char *key; uint32_t len, hash; int32_t val; } tk_sslot;
typedef struct { tk_sslot *slots; uint32_t mask, count; } tk_strmap;
uint32_t inf__tk_hash(const char *s, size_t n);
int inf__tk_strmap_init(tk_strmap *m, size_t expected);
/* Inserts or overwrites; 0 or -1 (OOM). key must outlive the map. */
int inf__tk_strmap_put(tk_strmap *m, const char *key, size_t len, int32_t val);
/* Value or -1. */
int32_t inf__tk_strmap_get(const tk_strmap *m, const char *key, size_t len);
void inf__tk_strmap_free(tk_strmap *m);
/* Bulk-load helpers: the hash of a ++ b, a lookup of a ++ b with that hash,
 * and prefetches (big tables are built with many cache misses otherwise). */
uint32_t inf__tk_hash2(const char *a, size_t na, const char *b, size_t nb);
int32_t inf__tk_strmap_get2(const tk_strmap *m, const char *a, size_t na, const char *b, size_t nb, uint32_t h);
int inf__tk_strmap_put_h(tk_strmap *m, const char *key, size_t len, int32_t val, uint32_t h);
void inf__tk_strmap_prefetch(const tk_strmap *m, uint32_t h);

/* ---- hash map: (id, id) pair -> merge rank and merged id --------------- */
typedef struct { uint64_t key; int32_t rank, id; } tk_pslot;
typedef struct { tk_pslot *slots; uint32_t mask, count; } tk_pairmap;
int inf__tk_pairmap_init(tk_pairmap *m, size_t expected);
/* Keeps the first (lowest-rank) entry for a pair, as HF does. */
int inf__tk_pairmap_put(tk_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t id);
/* Slot or NULL. */
const tk_pslot *inf__tk_pairmap_get(const tk_pairmap *m, int32_t a, int32_t b);
void inf__tk_pairmap_free(tk_pairmap *m);
void inf__tk_pairmap_prefetch(const tk_pairmap *m, int32_t a, int32_t b);

/* ---- UTF-8 helpers ------------------------------------------------------ */
/* (Validation is core's: inf__utf8_valid_prefix / inf__utf8_step.) */
/* Decodes one code point of valid UTF-8 at s (n bytes left); *len gets its
 * length.  Input must be valid (see inf__tk_utf8_lossy). */
uint32_t inf__tk_utf8_dec(const char *s, size_t n, int *len);
int inf__tk_utf8_enc(uint32_t cp, char *out); /* bytes written (1..4) */
/* Appends s[n] to b, replacing each maximal invalid subsequence with U+FFFD
 * (Rust's from_utf8_lossy).  0 or -1 (OOM). */
int inf__tk_utf8_lossy(tk_buf *b, const char *s, size_t n);
int inf__tk_is_space(uint32_t cp);   /* Unicode White_Space */
/* Rust regex \w: Alphabetic (approximated by L and Nl), marks, Nd, Pc,
 * Join_Control; used for the single_word rule of added tokens. */
int inf__tk_is_word(uint32_t cp);

/* GPT-2 byte <-> printable character table. */
extern const uint16_t inf__tk_byte2cp[256];
int inf__tk_cp2byte(uint32_t cp);    /* byte or -1 */

/* ---- pipeline components ---------------------------------------------- */
enum { NZ_NFC, NZ_NFD, NZ_NFKC, NZ_NFKD, NZ_REPLACE, NZ_PREPEND, NZ_LOWERCASE,
       NZ_STRIP, NZ_STRIP_ACCENTS };
typedef struct {
    int type;
    char *pat; size_t pat_len;       /* Replace String pattern */
    pcre2_code *re;                  /* Replace Regex pattern */
    char *content; size_t content_len; /* Replace content / Prepend */
    int left, right;                 /* Strip */
} tk_norm;

enum { PT_SPLIT, PT_BYTELEVEL, PT_METASPACE, PT_DIGITS, PT_WHITESPACE,
       PT_WHITESPACE_SPLIT, PT_PUNCTUATION };
enum { SB_REMOVED, SB_ISOLATED, SB_MERGED_PREV, SB_MERGED_NEXT, SB_CONTIGUOUS };
enum { PS_ALWAYS, PS_FIRST, PS_NEVER };
typedef struct {
    int type;
    pcre2_code *re;                  /* Split (String patterns are escaped) */
    int behavior, invert;
    int add_prefix_space, use_regex; /* ByteLevel */
    char repl[8]; int repl_len;      /* Metaspace replacement (UTF-8) */
    int prepend_scheme, split;       /* Metaspace */
    int individual_digits;           /* Digits */
} tk_pretok;

enum { DC_BYTELEVEL, DC_REPLACE, DC_BYTEFALLBACK, DC_FUSE, DC_STRIP,
       DC_METASPACE, DC_BPE_SUFFIX };
typedef struct {
    int type;
    char *pat; size_t pat_len;       /* Replace (String) */
    char *content; size_t content_len;
    uint32_t strip_cp; int start, stop; /* Strip */
    char repl[8]; int repl_len; int prepend_scheme; /* Metaspace */
} tk_dec;

typedef struct {
    int32_t id;
    char *content; size_t len;
    uint8_t special, lstrip, rstrip, single_word, normalized;
} tk_added;

/* Trie over added-token contents for leftmost-longest matching. */
typedef struct {
    tk_pairmap edges;   /* (node, byte) -> child node (in .id) */
    int32_t *term;      /* node -> index into added[] or -1 */
    int32_t n_nodes, cap_nodes;
    uint8_t first[256]; /* bytes that can start a match */
} tk_trie;

typedef struct { char *name; char *value; } tk_cfgtok;

struct inf__tokenizer {
    tk_arena arena;
    char *blob;          /* vocab strings when read by the fast path */
    /* model vocabulary */
    tk_strmap vocab;
    char **model_piece;  uint32_t *model_len;  /* by id, NULL when none */
    int32_t n_ids;                          /* max id + 1 over everything */
    int32_t *cp_id;                         /* code point < 65536 -> id / -1 */
    tk_pairmap merges;
    int32_t unk_id, byte_id[256];
    int byte_fallback, fuse_unk, ignore_merges;
    /* Long words may be cut before a U+2581 whose preceding character is
     * not in sp_unsafe (no vocab token holds "x\u2581" for other x): no merge
     * can cross such a point, so BPE of the parts equals BPE of the whole. */
    int sp_chunk;
    uint32_t sp_unsafe[32]; int n_sp_unsafe;
    char *cont_prefix; size_t cont_prefix_len;
    char *eow_suffix; size_t eow_suffix_len;
    /* added tokens */
    tk_added *added; size_t n_added;
    int32_t *added_of_id;                   /* id -> index in added[] or -1 */
    tk_strmap added_map;
    tk_trie trie_raw, trie_norm;            /* normalized=false / true */
    /* pipeline */
    tk_norm *norm; size_t n_norm;
    tk_pretok *pre; size_t n_pre;
    tk_dec *dec; size_t n_dec; int has_decoder;
    /* post-processor: ids added before / after the sequence */
    int32_t *post_pre; size_t n_post_pre;
    int32_t *post_post; size_t n_post_post;
    /* tokenizer_config.json */
    tk_cfgtok *cfg; size_t n_cfg;
    int32_t bos_id, eos_id;
    int add_bos_cfg, add_eos_cfg;           /* -1 unset, 0, 1 */
    /* SentencePiece-style merging by score (tok_spm.c, llama.cpp's SPM
     * tokenizer), set for GGUF "llama" vocabularies: by id, NULL when the
     * model merges by rank.  Points into blob (freed with it). */
    const float *spm_score;
};

/* tok_normalize.c: applies t's normalizers to s[n], result in *out
 * (cleared first; tmp is scratch).  INF_OK or an error code. */
int inf__tk_normalize(const inf__tokenizer *t, const char *s, size_t n,
                      tk_buf *out, tk_buf *tmp, inf__err *err);
/* tok_pretok.c: splits s[n] into pre-tokens and calls fn(ctx, word, len)
 * for each, in order (fn returns 0, or an error code that stops the walk).
 * at_zero: s starts at offset 0 of the original text (Metaspace
 * prepend_scheme "first").  sc: per-call scratch (one per thread). */
typedef struct tk_pt_depth tk_pt_depth;
typedef struct { tk_pt_depth *d; size_t n; pcre2_match_data *md; } tk_pt_scratch;
tk_pt_scratch *inf__tk_pt_scratch_new(const inf__tokenizer *t);
void inf__tk_pt_scratch_free(tk_pt_scratch *s);
int inf__tk_pretokenize(const inf__tokenizer *t, const char *s, size_t n, int at_zero, tk_pt_scratch *sc,
                        int (*fn)(void *ctx, const char *w, size_t n), void *ctx, inf__err *err);
/* tok_bpe.c: BPE of one pre-token w[n]; ids appended to out.  0, or -1
 * when out of memory.  s: per-call scratch (one per thread). */
typedef struct tk_bpe_scratch tk_bpe_scratch;
tk_bpe_scratch *inf__tk_bpe_scratch_new(void);
void inf__tk_bpe_scratch_free(tk_bpe_scratch *s);
int inf__tk_bpe(const inf__tokenizer *t, const char *w, size_t n,
                tk_ids *out, tk_bpe_scratch *s);
/* tok_spm.c: the pre-token w[n] merged by score (t->spm_score): the
 * adjacent pair whose concatenation is the vocabulary token of highest
 * score first (leftmost on ties); characters left that are no token become
 * their <0xNN> byte tokens (or unk).  0, or -1 when out of memory. */
int inf__tk_spm(const inf__tokenizer *t, const char *w, size_t n, tk_ids *out);
/* tok_regex.c: compiles a pattern (PCRE2, UTF + UCP, JIT when possible;
 * literal: match pat as plain text).  NULL with INF_E_UNSUPPORTED in err
 * when PCRE2 rejects it.  Free with pcre2_code_free. */
pcre2_code *inf__tk_regex_compile(const char *pat, size_t len, int literal,
                                  inf__err *err);
/* Finds the next match of re in s[n] at or after pos; returns 1 and the
 * bounds in *ms, *me, 0 when none, <0 on error.  Callers step past empty
 * matches themselves (by one character). */
int inf__tk_regex_next(const pcre2_code *re, pcre2_match_data *md,
                       const char *s, size_t n, size_t pos,
                       size_t *ms, size_t *me);

/* The added-token trie (tok_load.c), used by both vocabulary loaders. */
int inf__tk_trie_init(tk_trie *tr);
/* Adds s[0..n) ending at added-token index idx; a later equal content wins. */
int inf__tk_trie_add(tk_trie *tr, const char *s, size_t n, int32_t idx);
void inf__tk_trie_free(tk_trie *tr);
/* Sets t->sp_chunk / sp_unsafe for a SentencePiece-style vocabulary. */
void inf__tk_find_sp_chunking(inf__tokenizer *t);

#endif
