/* Hugging Face tokenizer.json: load, encode, decode, streaming decode.
 * The same tokenizer can also be built from plain vocabulary arrays as a
 * GGUF file holds them (inf__tok_load_vocab, tok_gguf.c), with llama.cpp's
 * meaning.
 *
 * Encoding follows the `tokenizers` library pipeline: added tokens are split
 * out of the raw text (longest match first), the rest is normalized,
 * pre-tokenized, run through the BPE model, then the post-processor adds its
 * special tokens.  Decoding runs the decoder chain over the token strings.
 *
 * Input text that is not valid UTF-8 is read as Rust's
 * String::from_utf8_lossy would: each maximal invalid subsequence becomes
 * U+FFFD before encoding (never a crash, never an error).
 *
 * A loaded tokenizer is immutable: every const function may be called from
 * several threads at once. */
#ifndef INF_TEXT_TOKENIZER_H
#define INF_TEXT_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct inf__tokenizer inf__tokenizer;

/* Loads dir/tokenizer.json and, when present, dir/tokenizer_config.json.
 * Returns INF_OK and *out (free with inf__tok_free); on failure an error code
 * (INF_E_IO, INF_E_FORMAT, INF_E_UNSUPPORTED naming the component, ...),
 * *out = NULL and a message in *err. */
int inf__tok_load_dir(const char *dir, inf__tokenizer **out, inf__err *err);
/* As inf__tok_load_dir from memory; config_json may be NULL. The buffers are
 * not kept. */
int inf__tok_load_mem(const char *tokenizer_json, size_t len,
                      const char *config_json /*nullable*/, size_t config_len,
                      inf__tokenizer **out, inf__err *err);
/* Frees t; NULL is a no-op. */
void inf__tok_free(inf__tokenizer *t);

/* A tokenizer described by plain arrays, as a GGUF file's tokenizer.ggml.*
 * metadata holds it (the engine fills this in; text knows nothing of GGUF).
 * The meaning is llama.cpp's (llama-vocab.cpp):
 *   model "llama": SentencePiece-style; tokens with U+2581 for spaces,
 *     scores (higher merges first), token types, <0xNN> byte fallback;
 *   model "gpt2": byte-level BPE; tokens, merges ("a b"), and pre naming
 *     the pre-tokenizer ("llama-bpe", "qwen2", "gpt-2", "default", ...).
 * Token types (tokenizer.ggml.token_type): */
enum { INF__TOK_TYPE_UNDEFINED = 0, INF__TOK_TYPE_NORMAL = 1, INF__TOK_TYPE_UNKNOWN = 2,
       INF__TOK_TYPE_CONTROL = 3, INF__TOK_TYPE_USER_DEFINED = 4, INF__TOK_TYPE_UNUSED = 5,
       INF__TOK_TYPE_BYTE = 6 };
enum { INF__TOK_FIM_PRE, INF__TOK_FIM_SUF, INF__TOK_FIM_MID, INF__TOK_FIM_PAD, INF__TOK_FIM_REP,
       INF__TOK_FIM_SEP, INF__TOK_FIM_ROLES };
typedef struct inf__tok_vocab_spec {
    const char *model;             /* tokenizer.ggml.model */
    const char *pre;               /* tokenizer.ggml.pre; NULL when absent */
    size_t n_tokens;               /* ids are 0 .. n_tokens-1 */
    const char *const *tokens;     /* tokenizer.ggml.tokens */
    const size_t *token_lens;      /* nullable: NUL-terminated tokens */
    const float *scores;           /* tokenizer.ggml.scores; nullable */
    const int32_t *token_types;    /* tokenizer.ggml.token_type; nullable */
    size_t n_merges;
    const char *const *merges;     /* tokenizer.ggml.merges, "a b" */
    const size_t *merge_lens;      /* nullable: NUL-terminated merges */
    /* tokenizer.ggml.*_token_id; -1 when not given (then llama.cpp's
     * defaults: "llama" bos 1, eos 2, unk 0; "gpt2" bos = eos = 11).  sep,
     * mask, eot and eom are carried for the engine (end-of-generation
     * tokens) and not used by the tokenizer. */
    int32_t bos_id, eos_id, unk_id, sep_id, pad_id, mask_id, eot_id, eom_id;
    /* tokenizer.ggml.fim_{pre,suf,mid,pad,rep,sep}_token_id (the first
     * three also as the older prefix/suffix/middle_token_id), -1 when not
     * given: a fill-in-the-middle role named here is not looked up by
     * text (see inf__tok_vocab_types). */
    int32_t fim_ids[INF__TOK_FIM_ROLES];
    /* tokenizer.ggml.add_bos_token, add_eos_token, add_space_prefix,
     * remove_extra_whitespaces: 0 / 1, or -1 when not given (then
     * llama.cpp's defaults: BOS for "llama" and the Llama 3 pre-tokenizers,
     * no EOS, space prefix for "llama").  remove_extra_whitespaces only
     * matters to models not supported here (llama.cpp's "t5"). */
    int add_bos, add_eos, add_space_prefix, remove_extra_whitespaces;
} inf__tok_vocab_spec;
/* Sets every pointer to NULL, every count to 0, every id and flag to -1. */
void inf__tok_vocab_spec_init(inf__tok_vocab_spec *spec);
/* Builds a tokenizer from spec (whose arrays are copied, not kept).
 * CONTROL, UNKNOWN and USER_DEFINED tokens (the types of
 * inf__tok_vocab_types) are added tokens matched in the raw text (the
 * first two flagged special); bos/eos/unk/pad also answer
 * inf__tok_config_token ("bos_token", ...).  INF_E_UNSUPPORTED naming the
 * model or pre-tokenizer when it is not one of those handled (tok_gguf.c
 * lists them); INF_E_FORMAT for an empty vocabulary or a merge without a
 * space.  Merges whose pieces or result are not in the vocabulary are
 * dropped (llama.cpp keeps them; a valid vocabulary has none). */
int inf__tok_load_vocab(const inf__tok_vocab_spec *spec, inf__tokenizer **out, inf__err *err);
/* The token types inf__tok_load_vocab uses: spec's token_type (NORMAL where
 * absent) after llama.cpp's changes by token text (end-of-generation and
 * fill-in-the-middle tokens made CONTROL, and the others listed in
 * tok_gguf.c).  types[spec->n_tokens] is the caller's.  INF_OK, or
 * INF_E_INVALID_ARGUMENT / INF_E_NOMEM. */
int inf__tok_vocab_types(const inf__tok_vocab_spec *spec, int32_t *types, inf__err *err);

/* The public handle (inference.h's inf_tokenizer) around a built tokenizer,
 * so that the code which built one (the engine, from a model directory's
 * texts) can own a handle and lend it out.  inf__tok_wrap takes ownership
 * of t (freed by inf_tokenizer_free, or here when out of memory, when it
 * returns NULL).  inf__tok_unwrap gives the tokenizer inside (NULL for
 * NULL); it stays owned by the handle. */
inf_tokenizer *inf__tok_wrap(inf__tokenizer *t);
const inf__tokenizer *inf__tok_unwrap(const inf_tokenizer *h);

/* Encodes text[len].  Special tokens written in the text are always
 * recognised (HF behaviour).  add_special: add what the post-processor adds
 * (or add_bos_token / add_eos_token of tokenizer_config.json when the
 * post-processor does not add them).  *ids is malloc'd (caller frees, also
 * when *n_ids == 0 it may be NULL).  Returns INF_OK or an error code. */
int inf__tok_encode(const inf__tokenizer *t, const char *text, size_t len,
                    int add_special, int32_t **ids, size_t *n_ids,
                    inf__err *err);
/* inf__tok_encode with options: INF__TOK_ADD_SPECIAL as add_special;
 * INF__TOK_PARSE_SPECIAL recognises added tokens flagged special written
 * in the text (without it they are encoded as ordinary text, like HF's
 * encode_special_tokens / split_special_tokens; non-special added tokens
 * are always recognised). */
#define INF__TOK_ADD_SPECIAL 1
#define INF__TOK_PARSE_SPECIAL 2
int inf__tok_encode_flags(const inf__tokenizer *t, const char *text, size_t len,
                          int flags, int32_t **ids, size_t *n_ids,
                          inf__err *err);
/* Decodes ids into *out (malloc'd, NUL-terminated, *out_len bytes without the
 * NUL).  skip_special drops tokens flagged special.  Unknown ids are skipped
 * as HF does.  Returns INF_OK or an error code. */
int inf__tok_decode(const inf__tokenizer *t, const int32_t *ids, size_t n,
                    int skip_special, char **out, size_t *out_len,
                    inf__err *err);

/* The bytes id stands for in the middle of a sequence (for constrained
 * decoding): the decoder chain applied to this one token without making
 * the result valid UTF-8 (byte-level BPE pieces become their raw bytes,
 * <0xNN> one byte) and without the sequence-start rules (Strip, the first
 * token's Metaspace prefix).  *out is malloc'd (caller frees), NUL-
 * terminated, *out_len bytes.  INF_E_INVALID_ARGUMENT for an id without a
 * piece, INF_E_NOMEM. */
int inf__tok_token_bytes(const inf__tokenizer *t, int32_t id, char **out, size_t *out_len, inf__err *err);

/* Max id + 1, added tokens included. */
int32_t inf__tok_vocab_size(const inf__tokenizer *t);
/* The raw vocabulary string of id (e.g. "Ġthe", "▁the", "<0x0A>"), owned by
 * t; NULL when id has none. */
const char *inf__tok_piece(const inf__tokenizer *t, int32_t id);
/* Id of a raw vocabulary string or added token content; -1 when absent. */
int32_t inf__tok_piece_id(const inf__tokenizer *t, const char *piece);
/* 1 when id is an added token flagged "special", else 0. */
int inf__tok_is_special(const inf__tokenizer *t, int32_t id);
/* BOS / EOS ids from tokenizer_config.json (bos_token, eos_token) or, for BOS,
 * the post-processor's leading special token; -1 when none. */
int32_t inf__tok_bos_id(const inf__tokenizer *t);
int32_t inf__tok_eos_id(const inf__tokenizer *t);
/* tokenizer_config.json special token string by name ("bos_token" -> "<s>"),
 * string and {"content": ...} forms; owned by t; NULL when absent. */
const char *inf__tok_config_token(const inf__tokenizer *t, const char *name);

/* Streaming detokeniser.  Push ids one at a time; each call yields the newly
 * completed text (whole UTF-8 sequences only: bytes of an unfinished
 * character wait for later tokens).  The concatenation of every piece plus
 * the flush equals inf__tok_decode of all ids. */
typedef struct inf__detok inf__detok;
/* NULL when out of memory.  t must outlive the detokeniser. */
inf__detok *inf__detok_new(const inf__tokenizer *t, int skip_special);
/* *piece (owned by d, valid until the next call on d) gets *len new bytes,
 * possibly 0.  Returns INF_OK or an error code. */
int inf__detok_push(inf__detok *d, int32_t id, const char **piece, size_t *len,
                    inf__err *err);
/* The rest: text still held back (invalid trailing bytes become U+FFFD as HF
 * does).  After a flush the detokeniser starts a new sequence. */
int inf__detok_flush(inf__detok *d, const char **piece, size_t *len,
                     inf__err *err);
/* Forgets all state: the next push starts a new sequence. */
void inf__detok_reset(inf__detok *d);
/* NULL is a no-op. */
void inf__detok_free(inf__detok *d);

#endif
