/*
 * Constrained decoding: grammars and the token masks they allow.
 *
 * Three ways to write a constraint, all compiled to one representation
 * (README.md in this folder documents the syntaxes):
 *   - a GBNF-like context-free grammar (rules, alternation, grouping,
 *     ?, *, +, {m,n}, character classes, literals; start rule "root");
 *   - a regular expression (whole-output match, no anchors needed);
 *   - a JSON Schema (the subset README.md lists; "{}" or "true" means any
 *     JSON value, {"type":"object"} is OpenAI's json_object mode).
 *
 * The compiled form is a set of rules, each a deterministic automaton over
 * bytes whose edges may also call another rule (a recursive transition
 * network); a matcher runs it as a pushdown automaton over the bytes the
 * tokens decode to.
 *
 * Objects and who owns them:
 *   inf__grammar        compiled constraint; immutable (but for an internal,
 *                       locked cache of the masks its matchers computed,
 *                       bounded to 64 MiB), may be shared by any number of
 *                       threads and matchers: a schema reused across
 *                       requests computes each state's mask once.
 *   inf__grammar_vocab  one tokenizer's vocabulary as decoded bytes (byte-
 *                       fallback tokens as their byte; special / control
 *                       tokens excluded) plus the end-of-sequence ids;
 *                       immutable, shareable, built once per tokenizer.
 *   inf__matcher        the state of ONE sequence under one grammar; not
 *                       thread-safe (one thread at a time).  The grammar
 *                       and the vocab must outlive it.
 *
 * Errors: functions that can fail return INF_OK or a negative INF_E_* code
 * with a message in *err (err may be NULL):
 *   INF_E_INVALID_ARGUMENT  malformed grammar / regex / schema (the message
 *                           says where: "gbnf line 3 col 7: ...",
 *                           "schema at /properties/a: ..."), a schema that
 *                           no value satisfies, a token the state forbids;
 *   INF_E_UNSUPPORTED       a JSON Schema keyword or regex feature outside
 *                           the subset, named in the message;
 *   INF_E_LIMIT             a bound of inf__grammar_limits was reached
 *                           (hostile or too large input);
 *   INF_E_NOMEM             out of memory.
 * The library never prints or aborts; on failure *out is set to NULL.
 */
#ifndef INF_TEXT_GRAMMAR_H
#define INF_TEXT_GRAMMAR_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "text/tokenizer/tokenizer.h"

/* Bounds that keep hostile input finite.  0 in a field means its default.
 * Beyond these, compilation has a fixed work budget (about a second: a
 * pattern whose automaton explodes fails with INF_E_LIMIT "too complex"),
 * and so does each mask / step of a matcher (an ambiguous grammar whose
 * parses multiply). */
typedef struct inf__grammar_limits {
    size_t max_source;      /* bytes of grammar / regex / schema text (1 MiB) */
    uint32_t max_rules;     /* rules after compilation (10000) */
    uint32_t max_states;    /* automaton states over all rules (500000) */
    uint32_t max_ref_depth; /* nesting of $ref expansion, of groups and of
                               schema objects while compiling (64) */
    uint32_t max_repeat;    /* largest count in {m,n}, minLength, maxItems,
                               ... that is unrolled (1000) */
    uint32_t max_stacks;    /* matcher: parses kept at once when the grammar
                               is ambiguous (1024) */
    uint32_t max_depth;     /* matcher: rule nesting of one parse (2000) */
} inf__grammar_limits;

/* Fills *l with the defaults named above. */
void inf__grammar_limits_default(inf__grammar_limits *l);

typedef struct inf__grammar inf__grammar;

/* Compiles a GBNF grammar text[len] (not NUL-terminated necessarily) whose
 * start rule is "root".  limits may be NULL (defaults).  Returns INF_OK and
 * *out (free with inf__grammar_free). */
int inf__grammar_from_gbnf(const char *text, size_t len, const inf__grammar_limits *limits,
                           inf__grammar **out, inf__err *err);
/* Compiles a regular expression re[len]; the whole output must match it. */
int inf__grammar_from_regex(const char *re, size_t len, const inf__grammar_limits *limits,
                            inf__grammar **out, inf__err *err);
/* Compiles a JSON Schema given as JSON text json[len].  Keywords outside
 * the supported subset fail with INF_E_UNSUPPORTED naming them; annotation
 * keywords (title, description, examples, default, $schema, $id,
 * $comment) are ignored. */
int inf__grammar_from_json_schema(const char *json, size_t len, const inf__grammar_limits *limits,
                                  inf__grammar **out, inf__err *err);
/* NULL is a no-op. */
void inf__grammar_free(inf__grammar *g);
/* Number of rules and of automaton states (for tests and limits). */
uint32_t inf__grammar_n_rules(const inf__grammar *g);
uint32_t inf__grammar_n_states(const inf__grammar *g);

typedef struct inf__grammar_vocab inf__grammar_vocab;

/* Builds the vocabulary of tok: each id's bytes as the tokenizer's decoder
 * yields them inside a sequence (byte-level BPE mapped back to bytes,
 * SentencePiece "▁" as a space, <0xNN> as one byte).  Special tokens and
 * ids without a piece get no bytes and are never allowed by a mask, except
 * the eos_ids[n_eos] given here (the model's end-of-generation ids), which
 * a mask allows exactly when the grammar accepts the output so far.
 * tok is not kept.  Returns INF_OK and *out (free with
 * inf__grammar_vocab_free). */
int inf__grammar_vocab_new(const inf__tokenizer *tok, const int32_t *eos_ids, size_t n_eos,
                           inf__grammar_vocab **out, inf__err *err);
/* The same from plain arrays: token i has bytes toks[i][lens[i]]; a NULL
 * toks[i] is a token never allowed (special).  For tests and tools. */
int inf__grammar_vocab_from_bytes(const char *const *toks, const size_t *lens, int32_t n_tokens,
                                  const int32_t *eos_ids, size_t n_eos,
                                  inf__grammar_vocab **out, inf__err *err);
void inf__grammar_vocab_free(inf__grammar_vocab *v);
/* Number of ids (the mask has this many bits). */
int32_t inf__grammar_vocab_size(const inf__grammar_vocab *v);
/* Bytes of id (owned by v) and their count in *len; NULL for a token with
 * no bytes (special, eos, unknown id). */
const char *inf__grammar_vocab_bytes(const inf__grammar_vocab *v, int32_t id, size_t *len);

typedef struct inf__matcher inf__matcher;

/* A matcher at the start of the output.  g and v must outlive it.
 * Returns INF_OK and *out (free with inf__matcher_free). */
int inf__matcher_new(const inf__grammar *g, const inf__grammar_vocab *v,
                     inf__matcher **out, inf__err *err);
void inf__matcher_free(inf__matcher *m);
/* Back to the start of the output. */
void inf__matcher_reset(inf__matcher *m);

/* Words of the mask bitset: (inf__grammar_vocab_size + 31) / 32. */
size_t inf__matcher_mask_words(const inf__matcher *m);
/* Writes the set of allowed ids into bits[inf__matcher_mask_words]: bit
 * (id % 32) of bits[id / 32] is 1 when id may come next, i.e. its bytes
 * keep the output a prefix of some string of the grammar (eos ids: when
 * the output so far is in the grammar).  After eos was accepted, or when
 * the matcher failed, no bit is set.  Returns INF_OK, INF_E_LIMIT (the
 * grammar's ambiguity or nesting passed the limits; the caller should end
 * the sequence with this error) or INF_E_NOMEM. */
int inf__matcher_fill_mask(inf__matcher *m, uint32_t *bits, inf__err *err);
/* 1 when id is allowed now (the bit fill_mask would set), else 0; cheaper
 * than a whole mask when the sampler tries its choice first. */
int inf__matcher_token_allowed(inf__matcher *m, int32_t id);
/* Advances by token id.  An eos id is accepted when the output is
 * complete; afterwards the matcher is finished and allows nothing.
 * INF_E_INVALID_ARGUMENT when id is not allowed (the state is unchanged),
 * INF_E_LIMIT / INF_E_NOMEM as for fill_mask. */
int inf__matcher_accept_token(inf__matcher *m, int32_t id, inf__err *err);
/* Advances by raw bytes s[n] (e.g. a forced prefix); all or nothing:
 * INF_E_INVALID_ARGUMENT and no change when they would leave the grammar. */
int inf__matcher_accept_bytes(inf__matcher *m, const char *s, size_t n, inf__err *err);
/* 1 when the output so far is a complete string of the grammar (eos would
 * be allowed), else 0. */
int inf__matcher_is_accepting(const inf__matcher *m);
/* 1 when nothing more can follow: eos was accepted, or the output is
 * complete and no byte may extend it (the caller can stop without asking
 * the model); else 0. */
int inf__matcher_is_finished(const inf__matcher *m);

#endif
