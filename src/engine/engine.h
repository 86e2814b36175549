/*
 * The shared native engine: everything above the kernels for the native
 * compute backends (cpu, cuda).
 *
 * A loaded model owns ONE worker thread ("one scheduler, many callers").
 * Generate/Chat from any thread tokenizes, enqueues a sequence and returns
 * a stream at once.  The worker admits queued sequences into free KV-cache
 * slots (parallel_slots, default 4), prefills their prompts in chunks
 * (up to 512 tokens per step, mixed with the decode rows of the other
 * sequences) and decodes all active sequences together, one batched
 * forward per step (continuous batching).  At most 256 sequences wait in
 * the queue; beyond that Generate returns INF_E_BUSY.
 *
 * Context length: opts->context_length when > 0, else the model's
 * max_position_embeddings capped at 4096 (INF__ENGINE_DEFAULT_CTX), because
 * every slot's KV cache is sized by it and models advertise 32k-128k
 * positions that would not fit in memory times 4 slots.
 *
 * max_tokens <= 0 means no limit but the context.  Classify produces one
 * token per prompt whatever max_tokens says, and does not stop at eos.
 *
 * Chat: the messages are rendered with the chat template (the model's, or
 * opts->chat_template; ChatML when the model has none), then tokenized.
 * When the rendered text already starts with the BOS token's text the
 * template wrote BOS itself, so the text is tokenized WITHOUT the
 * tokenizer's special tokens (as transformers' apply_chat_template does
 * with add_special_tokens=False); otherwise with them, as for Generate.
 *
 * Streams: generated tokens are detokenized incrementally (whole UTF-8
 * characters, special tokens skipped).  End-of-sequence ids (the model's
 * config/generation_config eos ids plus the tokenizer's eos token) and
 * opts->stop_ids end the stream (EOS / STOP) and are not delivered.  Text
 * that could be the start of a stop string is held back (and the token that
 * carries it is delivered one step later, with its text, so that the text
 * before a stop string or the end always reaches the caller); a matching
 * stop string ends the stream with STOP and is never shown: every token
 * before the one that completes it is delivered (with its text cut at the
 * stop string, possibly to ""), the completing token only when it carries
 * text that precedes the stop string.  In the rare
 * case where text remains at the end with no token to carry it (an
 * unfinished UTF-8 character right before the end), a final token with
 * id -1 carries it.
 */
#ifndef INF_ENGINE_ENGINE_H
#define INF_ENGINE_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "engine/compute.h"
#include "inference_backend.h"

#define INF__ENGINE_DEFAULT_CTX 4096  /* cap of the default context */
#define INF__ENGINE_DEFAULT_SLOTS 4   /* default parallel_slots */
#define INF__ENGINE_QUEUE_MAX 256     /* queued sequences before E_BUSY */
#define INF__ENGINE_STEP_TOKENS 512   /* token rows per forward step */
/* Tokens carrying logits (return_logits) that may wait for a stream's
 * reader: at this many the sequence is paused (gets no decode row) until
 * the reader takes one, so a stalled reader holds at most this many
 * vocab-sized copies instead of one per generated token. */
#define INF__SEQ_LOGITS_BACKLOG 16
/* Adaptive prefill chunks (prefill_chunk 0) while others decode (pace.h):
 * a step with prompt rows aims at (1 + SLACK) x a decode-only step; FIRST
 * rows before any such step was timed (small: a prompt row can cost far
 * more than a decode row, and the chunk grows 1.5x a step when there is
 * room). */
#define INF__ENGINE_CHUNK_SLACK 0.25
#define INF__ENGINE_CHUNK_FIRST 16

/* Loads the model directory at path for the compute backend `compute` and
 * returns the model operations table (static) in *ops and the model in
 * *model (an inf__engine *; close it with (*ops)->close).  opts may be NULL.
 * The directory is read once (src/model/modeldir): the weights are loaded
 * from its parsed config, the tokenizer built from its tokenizer.json and
 * tokenizer_config.json texts, the chat template from tokenizer_config.json
 * and chat_template.jinja.  tokenizer.json is required unless
 * opts->dummy_weights is set.  The ops table lends the tokenizer and
 * template (tokenizer / chat_template) and gives generation_config.json's
 * sampling defaults (generation_defaults).  On error returns the status and
 * a malloc'd message in *errmsg (may be NULL). */
int inf__engine_load(const char *path, const inf_load_options *opts,
                     const inf__compute_ops *compute,
                     const inf_model_ops **ops, void **model, char **errmsg);

/* Flags for inf__engine_open. */
#define INF__ENGINE_NO_TOKENIZER_OK 1 /* load even without tokenizer.json */

/* As inf__engine_load with flags; the model is the void* returned. */
int inf__engine_open(const char *path, const inf_load_options *opts,
                     const inf__compute_ops *compute, int flags,
                     const inf_model_ops **ops, void **model, char **errmsg);

/* Everything the engine needs, already opened (for tests with a fake
 * compute backend, and used by inf__engine_open).  The engine takes
 * ownership of files, tok and tmpl (any may be NULL) even when it fails;
 * desc is copied (its pointers must stay valid while files lives). */
typedef struct inf__engine_parts {
    const inf__model_desc *desc;
    struct inf__model_files *files;
    struct inf__tokenizer *tok;
    struct inf__chat_template *tmpl;
    int tmpl_code;            /* error loading the template, else INF_OK */
    const char *tmpl_err;     /* its message */
    const inf__compute_ops *compute;
    inf__compute_params params; /* n_slots / context_length must be > 0;
                                   the engine sets the kv_ fields */
    /* inf_load_options' KV fields (0: defaults). */
    int64_t kv_memory;
    int no_prefix_cache;
    int32_t prefill_chunk;
} inf__engine_parts;

/* Creates the engine and starts its worker.  Returns the status; *model is
 * an inf__engine * used with inf__engine_ops. */
int inf__engine_create(const inf__engine_parts *parts, void **model,
                       inf__err *err);

/* The operations table shared by every engine model. */
extern const inf_model_ops inf__engine_ops;

/* Starts a stream from token ids (no tokenizer needed; token texts are ""
 * when the model has no tokenizer).  Same contract as inf_model_ops.start.
 * opts may be NULL (defaults). */
int inf__engine_start_ids(void *model, const int32_t *ids, size_t n,
                          const inf_generate_options *opts,
                          const inf_stream_ops **sops, void **stream,
                          char **errmsg);

/* Classify from token ids: out[i] as for inf_classify (text "" without a
 * tokenizer).  Returns INF_OK when the call ran. */
int inf__engine_classify_ids(void *model, const int32_t *const *ids,
                             const size_t *n_ids, size_t n,
                             const inf_generate_options *opts,
                             inf_classify_result *out, char **errmsg);

/* Benchmark helper: runs n_parallel sequences of n_prompt pseudo-random
 * token ids, each generating n_gen tokens greedily (eos ignored), all
 * through the scheduler, and stores metrics summed over the sequences
 * (prefill/decode seconds are wall-clock spans: first admission to the
 * last first token, and from there to the end).  n_gen = 1 measures
 * prefill.  Works on dummy-weight models without a tokenizer. */
int inf__engine_bench(void *model, int32_t n_prompt, int32_t n_gen,
                      int32_t n_parallel, inf_metrics *out, char **errmsg);

/* The context length and slot count in use. */
int32_t inf__engine_context_length(const void *model);
int32_t inf__engine_slots(const void *model);

#endif
