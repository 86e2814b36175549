/*
 * inference.h — the public interface of libinference.
 *
 * libinference runs large-language-model text generation behind one
 * backend-neutral contract.  A program loads a Hugging Face model directory
 * (config.json + *.safetensors + tokenizer.json), or a remote model, through
 * a backend chosen from a registry, and then generates text from it.
 *
 * This header is the manual.  Conventions that hold everywhere:
 *
 *  - Handles are opaque (inf_model, inf_stream, inf_cancel, inf_tokenizer,
 *    inf_chat_template).
 *  - Functions that can fail return an int status: INF_OK (0) on success, a
 *    negative INF_E_* code on failure.  inf_strerror(code) names the code.
 *    The message that says what went wrong comes one of two ways, and is
 *    always the message of that call: a function with a `char **errmsg`
 *    parameter stores a new string there (the caller frees it with
 *    inf_free()); the model-level calls without one (inf_generate, inf_chat,
 *    inf_classify, inf_batch_generate) keep it for the calling thread, read
 *    back with inf_model_errmsg(), and a stream keeps its own
 *    (inf_stream_errmsg).
 *  - Option structs are initialised by inf_*_default() and then edited.
 *    They start with `struct_size`, so that later versions can add fields
 *    without breaking programs compiled against this one.  The library
 *    checks every value against one table of bounds
 *    (inf_generate_option_bounds), the same table the inference program and
 *    server check their flags and JSON fields against.
 *  - Strings are UTF-8 and NUL-terminated unless a length is given.
 *  - Memory returned by the library is released by the matching *_free /
 *    *_close function, or by inf_free() where the function says so.  Every
 *    free/close function accepts NULL.
 *  - The library never aborts, exits or prints.  Diagnostics go to an
 *    optional log callback (inf_set_log_callback).
 *  - Thread safety: a model may be used from several threads at once (each
 *    thread with its own streams); a stream belongs to one thread, except
 *    inf_stream_cancel(), which any thread may call.  inf_cancel objects are
 *    fully thread-safe.
 */
#ifndef INFERENCE_H
#define INFERENCE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define INF_API __declspec(dllexport)
#elif defined(__GNUC__)
#define INF_API __attribute__((visibility("default")))
#else
#define INF_API
#endif

/* ------------------------------------------------------------------------
 * Version
 * ------------------------------------------------------------------------ */

#define INF_VERSION_MAJOR 0
#define INF_VERSION_MINOR 2
#define INF_VERSION_PATCH 0
#define INF_VERSION_NUMBER \
    (INF_VERSION_MAJOR * 10000 + INF_VERSION_MINOR * 100 + INF_VERSION_PATCH)
#define INF_VERSION_STRING "0.2.0"

/* The version of the library linked at run time, e.g. "0.2.0". Static.
 * Before 1.0 each minor version may change the ABI; the soname carries it
 * (libinference.so.0.2). */
INF_API const char *inf_version(void);
/* INF_VERSION_NUMBER of the library linked at run time. */
INF_API int inf_version_number(void);

/* ------------------------------------------------------------------------
 * Status codes (one table generates the enum and the strings)
 * ------------------------------------------------------------------------ */

#define INF_STATUS_MAP(X)                                                     \
    X(OK, 0, "success")                                                       \
    X(E_INVALID_ARGUMENT, -1, "invalid argument")                             \
    X(E_NOMEM, -2, "out of memory")                                           \
    X(E_IO, -3, "input/output error")                                         \
    X(E_FORMAT, -4, "malformed or invalid file")                              \
    X(E_UNSUPPORTED, -5, "unsupported feature")                               \
    X(E_NOT_FOUND, -6, "not found")                                           \
    X(E_BACKEND_NOT_REGISTERED, -7, "backend not registered")                 \
    X(E_BACKEND_UNAVAILABLE, -8, "backend not available on this hardware")    \
    X(E_NO_BACKENDS, -9, "no backends registered")                            \
    X(E_CONTEXT_LENGTH, -10, "prompt does not fit in the context")            \
    X(E_CANCELLED, -11, "cancelled")                                          \
    X(E_DEADLINE, -12, "deadline exceeded")                                   \
    X(E_TOKENIZER, -13, "tokenizer error")                                    \
    X(E_TEMPLATE, -14, "chat template error")                                 \
    X(E_NETWORK, -15, "network error")                                        \
    X(E_REMOTE, -16, "remote server error")                                   \
    X(E_BUSY, -17, "busy: too many requests")                                 \
    X(E_LIMIT, -18, "limit exceeded")                                         \
    X(E_STATE, -19, "operation not valid in this state")                      \
    X(E_INTERNAL, -20, "internal error")

typedef enum inf_status {
#define INF_STATUS_ENUM_(name, value, text) INF_##name = value,
    INF_STATUS_MAP(INF_STATUS_ENUM_)
#undef INF_STATUS_ENUM_
} inf_status;

/* A short description of a status code ("cancelled"); "unknown status" for
 * a value outside the table.  Static storage; never NULL. */
INF_API const char *inf_strerror(int status);
/* The code's name without prefix ("E_CANCELLED", "OK"). Static; never NULL. */
INF_API const char *inf_status_name(int status);

/* Frees memory the library handed to the caller where a function says
 * "free with inf_free" (error messages, rendered strings). NULL is fine. */
INF_API void inf_free(void *ptr);

/* Length of the longest prefix of s[0..n) that is well-formed UTF-8 (no
 * overlong forms, surrogates or code points past U+10FFFF); n when all of
 * it is.  The library's one UTF-8 check, for callers that must refuse bad
 * text before handing it over (prompts, messages). */
INF_API size_t inf_utf8_valid_prefix(const char *s, size_t n);

/* ------------------------------------------------------------------------
 * Logging
 * ------------------------------------------------------------------------ */

typedef enum inf_log_level {
    INF_LOG_DEBUG = 0,
    INF_LOG_INFO = 1,
    INF_LOG_WARN = 2,
    INF_LOG_ERROR = 3
} inf_log_level;

/* Receives the library's diagnostics; msg is valid only during the call. */
typedef void (*inf_log_fn)(inf_log_level level, const char *msg, void *user);

/* Installs a process-wide log callback (NULL: discard, the default).
 * Messages below min_level are not delivered.  Thread-safe. */
INF_API void inf_set_log_callback(inf_log_fn fn, void *user,
                                  inf_log_level min_level);

/* ------------------------------------------------------------------------
 * Cancellation and deadlines (the C counterpart of a Go context)
 * ------------------------------------------------------------------------ */

typedef struct inf_cancel inf_cancel;

/* A new, untriggered cancellation token without deadline, or NULL when out
 * of memory.  Pass it in inf_generate_options.cancel to any number of
 * operations; free it with inf_cancel_free() after they have ended. */
INF_API inf_cancel *inf_cancel_new(void);
/* Cancels every operation watching c.  Safe from any thread, idempotent. */
INF_API void inf_cancel_trigger(inf_cancel *c);
/* Sets a deadline `timeout_ms` milliseconds from now (<= 0 clears it).
 * An operation that reaches the deadline ends with INF_E_DEADLINE. */
INF_API void inf_cancel_set_timeout(inf_cancel *c, int64_t timeout_ms);
/* INF_OK, INF_E_CANCELLED or INF_E_DEADLINE.  NULL reads as INF_OK.
 * Backends call this between steps. */
INF_API int inf_cancel_check(const inf_cancel *c);
INF_API void inf_cancel_free(inf_cancel *c);

/* ------------------------------------------------------------------------
 * Tokens, messages, options
 * ------------------------------------------------------------------------ */

/* One generated token.  `text` holds whole UTF-8 sequences only (bytes of an
 * unfinished character are held back and emitted with a later token), is
 * NUL-terminated, and stays valid until the next call on its stream.
 * `logits` is non-NULL only when return_logits was requested. */
typedef struct inf_token {
    int32_t id;
    const char *text;
    size_t text_len;
    const float *logits; /* [n_logits] or NULL */
    int32_t n_logits;
} inf_token;

/* A chat message.  role: "system", "user", "assistant" or "tool". */
typedef struct inf_message {
    const char *role;
    const char *content;
} inf_message;

/* Why a stream ended normally. */
typedef enum inf_finish_reason {
    INF_FINISH_NONE = 0,   /* still running, or ended by an error */
    INF_FINISH_EOS = 1,    /* the model produced an end-of-sequence token */
    INF_FINISH_STOP = 2,   /* a stop token id or stop string matched */
    INF_FINISH_LENGTH = 3  /* max_tokens reached, or the context is full */
} inf_finish_reason;

/* "none", "eos", "stop", "length"; "unknown" outside the enum. Static. */
INF_API const char *inf_finish_reason_name(inf_finish_reason r);
/* OpenAI's name for it: "stop" for eos and stop, "length", or NULL for
 * none (a stream still running or ended by an error). Static. */
INF_API const char *inf_finish_reason_openai(inf_finish_reason r);

/* Options for Generate / Chat / Classify / BatchGenerate.
 * Initialise with inf_generate_options_default(). Pointers are borrowed for
 * the duration of the call that receives the struct (streams copy what they
 * keep). */
#define INF_DEFAULT_MAX_TOKENS 256
/* The seed that asks for a random one (the default); every other value,
 * 0 included, is a fixed seed that reproduces the same tokens. */
#define INF_SEED_RANDOM UINT64_MAX

typedef struct inf_generate_options {
    size_t struct_size;       /* sizeof(inf_generate_options) */
    int32_t max_tokens;       /* default INF_DEFAULT_MAX_TOKENS (256); tokens
                                 to generate at most; 0 = until the context
                                 is full */
    float temperature;        /* default 0 = greedy */
    int32_t top_k;            /* default 0 = off */
    float top_p;              /* default 0 = off (also off at >= 1) */
    float min_p;              /* default 0 = off */
    float repeat_penalty;     /* default 0 = off (1 is off too) */
    int32_t repeat_last_n;    /* tokens the penalty looks back; 0 = all */
    uint64_t seed;            /* default INF_SEED_RANDOM: pick one at
                                 random; any other value is a fixed seed */
    const int32_t *stop_ids;  /* extra stop token ids (the model's eos ids
                                 always stop unless ignore_eos is set) */
    size_t n_stop_ids;
    const char *const *stop_strings; /* generation ends when the text
                                        contains one; it is not emitted */
    size_t n_stop_strings;
    int return_logits;        /* non-zero: each token / classify result
                                 carries the vocab-sized logits */
    int ignore_eos;           /* non-zero: do not stop at eos ids */
    inf_cancel *cancel;       /* optional cancellation / deadline; must
                                 outlive the streams that watch it */
    /* Chat only: */
    const char *chat_template;  /* NULL: the model's own template */
    const char *template_vars_json; /* extra template variables as a JSON
                                       object, e.g. {"enable_thinking":false} */
    const char *tools_json;   /* JSON array passed to the template as tools */
    int add_generation_prompt; /* default 1 */
    /* Token-id prompts: when n_prompt_ids > 0, inf_generate ignores the
     * prompt text and starts from these ids exactly (no BOS is added). */
    const int32_t *prompt_ids;
    size_t n_prompt_ids;
    /* Appended with issue 16 (OpenAI's sampling fields; see
     * src/engine/sample.h for where they sit in the sampling order).
     * Presence and frequency penalties follow OpenAI: they count the
     * GENERATED tokens only, not the prompt:
     *   logit[j] -= count[j] * frequency_penalty
     *               + (count[j] > 0) * presence_penalty. */
    float presence_penalty;   /* default 0 = off; -2..2 */
    float frequency_penalty;  /* default 0 = off; -2..2 */
    /* logit_bias: logit_bias_values[i] (-100..100) is added to the logit
     * of token logit_bias_ids[i] before everything else; +100 all but
     * forces a token, -100 all but bans it.  Ids must be in the
     * vocabulary (inf_generate refuses others). */
    const int32_t *logit_bias_ids;
    const float *logit_bias_values;
    size_t n_logit_bias;
    /* Appended with fair scheduling (native backends): requests wait first
     * come, first served; a higher priority goes ahead of every waiting
     * request of a lower one (it does not stop running ones).  Default 0. */
    int32_t priority;
    /* Structured output (appended with issue 15): decoding is constrained
     * so that the generated text is a sentence of `constraint`.  Before
     * each token is sampled, every token that would leave the language is
     * removed; the end-of-sequence tokens are allowed exactly when the text
     * so far is complete, and generation ends when nothing can follow.
     * constraint_kind is an inf_constraint_kind (below); constraint holds
     * the GBNF grammar, the regular expression or the JSON schema as text
     * (NULL for INF_CONSTRAINT_NONE and INF_CONSTRAINT_JSON).  The syntax
     * and the supported JSON Schema keywords are in src/text/grammar/
     * README.md; a constraint that does not compile, uses an unsupported
     * keyword or can never be satisfied fails the call with
     * INF_E_INVALID_ARGUMENT and a message that says why.  Stop strings
     * and max_tokens still end generation early (the text may then be an
     * unfinished sentence).  Local backends (cpu, cuda) apply it; the
     * openai and llama_cpp backends pass JSON schemas and "any JSON" on as
     * OpenAI response_format and refuse grammars and regexes with
     * INF_E_UNSUPPORTED. */
    int32_t constraint_kind;  /* default INF_CONSTRAINT_NONE */
    const char *constraint;
} inf_generate_options;

/* What inf_generate_options.constraint holds. */
typedef enum inf_constraint_kind {
    INF_CONSTRAINT_NONE = 0,        /* unconstrained (constraint ignored) */
    INF_CONSTRAINT_GRAMMAR = 1,     /* a GBNF grammar; its rule "root" */
    INF_CONSTRAINT_REGEX = 2,       /* a regular expression, matched whole */
    INF_CONSTRAINT_JSON_SCHEMA = 3, /* a JSON Schema document (JSON text) */
    INF_CONSTRAINT_JSON = 4         /* any JSON object ("json_object") */
} inf_constraint_kind;

/* Fills *o with the defaults listed above. */
INF_API void inf_generate_options_default(inf_generate_options *o);

/* The accepted range of each numeric field of inf_generate_options, one
 * table for the library, the inference program and the server:
 *   field            min  max         meaning of the bounds
 *   max_tokens       0    2147483647  0 = until the context is full
 *   temperature      0    100         0 = greedy
 *   top_k            0    1000000     0 = off
 *   top_p            0    1           0 and 1 = off
 *   min_p            0    1           0 = off
 *   repeat_penalty   0    100         0 and 1 = off
 *   repeat_last_n    0    2147483647  0 = all tokens
 *   presence_penalty -2   2           0 = off
 *   frequency_penalty -2  2           0 = off
 * (NaN is outside every range.)  Each logit_bias value must be within
 * [-100, 100], as OpenAI's API has it. */
typedef struct inf_option_bound {
    const char *field;   /* the struct field's name, e.g. "temperature" */
    double min, max;     /* inclusive */
    int is_integer;      /* 1 for int32_t fields */
} inf_option_bound;

/* The table above: *n entries, static storage. */
INF_API const inf_option_bound *inf_generate_option_bounds(size_t *n);
/* The bound of one field, or NULL when `field` has none. */
INF_API const inf_option_bound *inf_generate_option_bound(const char *field);

/* Checks *o as Generate would: every bounded field in range, no NULL array
 * with a non-zero count, no NULL stop string, no stop string that is empty,
 * no negative logit_bias id, no logit_bias value outside [-100, 100].
 * Returns INF_OK, or INF_E_INVALID_ARGUMENT with a message naming the field
 * and its range in *errmsg (when not NULL; free with inf_free).  o may be
 * an older, smaller struct (struct_size says). */
INF_API int inf_generate_options_check(const inf_generate_options *o,
                                       char **errmsg);

/* Options for loading a model. Initialise with inf_load_options_default(). */
typedef struct inf_load_options {
    size_t struct_size;      /* sizeof(inf_load_options) */
    const char *backend;     /* NULL or "": automatic (inf_backend_default) */
    int32_t context_length;  /* 0: the model's, capped (see backend docs) */
    int32_t gpu_layers;      /* -1: all (default) */
    int32_t parallel_slots;  /* 0: backend default; concurrent sequences */
    int32_t n_threads;       /* 0: one per core */
    int dummy_weights;       /* non-zero: config.json only, weights filled
                                with deterministic random values (benchmarks) */
    int32_t dummy_bits;      /* with dummy_weights: 0 (model dtype), 4 or 8 */
    int32_t dummy_group;     /* with dummy_weights and bits: group, def. 64 */
    const char *dummy_dtype; /* with dummy_weights: "bf16","f16","f32"; NULL
                                = config's dtype */
    const char *model_name;  /* remote backends: the model to request */
    const char *api_key;     /* remote backends: Bearer token, or NULL */
    int64_t timeout_ms;      /* remote backends: per-request timeout; 0 def. */
    void (*progress)(float fraction, void *user); /* load progress 0..1 */
    void *progress_user;
    /* Appended with paged KV memory, the prefix cache and chunked prefill
     * (native engine, cpu and cuda backends; see src/engine/README.md): */
    int64_t kv_memory;       /* bytes of KV cache shared by all sequences, in
                                blocks of 32 positions (kv_block_tokens);
                                0: context_length x parallel_slots */
    int no_prefix_cache;     /* non-zero: never reuse cached prompt blocks */
    int32_t prefill_chunk;   /* prompt tokens per step while other streams
                                decode: 0 = adaptive (as many as keep a
                                step under ~1.25x a decode-only step, timed
                                as it runs), N > 0 = N, -1 = no chunking
                                (a prompt is prefilled in one step) */
    /* Appended (issue 20): the arithmetic of the local backends' kernels.
     * INF_PRECISION_DEFAULT (0): the environment variable INF_PRECISION
     * ("exact" or "fast") when set, else exact.  INF_PRECISION_EXACT: f32
     * activations and accumulation (the reference the golden tests check).
     * INF_PRECISION_FAST: activations rounded as llama.cpp does (int8 per
     * block of 32 with integer dot products for quantised weights, bf16 for
     * BF16 weights where the CPU has AVX512-BF16) and, on the cpu backend,
     * a KV cache in f16 (half the bytes per position, so kv_memory holds
     * twice the positions; attention widens to f32 and accumulates in
     * f32); perplexity within 0.5% of exact (tests/cpu/test_cpu_fast.c).
     * Exact keeps an f32 cache.  Remote backends ignore it. */
    int32_t precision;
    /* Appended (issue 14): non-zero reads the weight files (safetensors,
     * GGUF) into private memory during the load instead of mapping them,
     * as llama.cpp's --no-mmap does: the model then never touches the
     * files again, so truncating or rewriting them in place cannot raise
     * SIGBUS in this process (see inf_model_load).  The cost: the whole
     * files in resident (or swap) memory for the model's lifetime, where a
     * mapping shares the page cache and can drop clean pages, and a full
     * read during the load.  0 (default): mapped.  Dummy weights and the
     * remote backends ignore it; the llama_cpp backend passes --no-mmap
     * to its llama-server. */
    int copy_weights;
} inf_load_options;

#define INF_PRECISION_DEFAULT 0
#define INF_PRECISION_EXACT 1
#define INF_PRECISION_FAST 2

INF_API void inf_load_options_default(inf_load_options *o);

/* ------------------------------------------------------------------------
 * Models
 * ------------------------------------------------------------------------ */

typedef struct inf_model inf_model;
typedef struct inf_stream inf_stream;
typedef struct inf_tokenizer inf_tokenizer;
typedef struct inf_chat_template inf_chat_template;

typedef struct inf_model_info {
    char architecture[32];  /* model_type, e.g. "llama", "qwen3", "gemma3" */
    char backend[32];       /* the backend that runs it, e.g. "cpu" */
    int32_t vocab_size;
    int32_t n_layers;
    int32_t hidden_size;
    int32_t quant_bits;     /* 0 when not quantised */
    int32_t quant_group;    /* 0 when not quantised */
    int32_t context_length; /* the context in use */
    int64_t weight_bytes;   /* memory the weights take */
    /* Appended with GGUF support (fields below are 0 / "" where a backend
     * does not fill them, e.g. the remote ones). */
    char format[16];        /* "gguf" or "safetensors" */
    char weight_types[128]; /* GGUF: the tensors' ggml types by count, most
                               frequent first, e.g. "Q4_K 145, Q6_K 24,
                               F32 57" (truncated to fit); safetensors: the
                               dtype, e.g. "bfloat16", and "mlx 4-bit group
                               64" when MLX-quantised */
    int32_t train_context;  /* the context the model was trained for
                               (max_position_embeddings, or the GGUF's
                               ARCH.context_length); 0 when unknown */
    char tokenizer_model[16]; /* GGUF tokenizer.ggml.model ("llama",
                                 "gpt2"); "" otherwise */
    char tokenizer_pre[32];   /* GGUF tokenizer.ggml.pre; "" otherwise */
    int32_t chat_template;    /* GGUF: 1 when the file carries
                                 tokenizer.chat_template, else 0;
                                 safetensors: -1 (see the directory's
                                 tokenizer_config.json / chat_template.jinja) */
} inf_model_info;

/* Metrics of the last operation that completed on a model (or a stream). */
typedef struct inf_metrics {
    int64_t prompt_tokens;
    int64_t generated_tokens;
    double prefill_seconds;
    double decode_seconds;
    double total_seconds;
    double prefill_tokens_per_second;
    double decode_tokens_per_second;
    int64_t peak_memory_bytes;   /* peak resident (or device) memory */
    int64_t active_memory_bytes; /* current resident (or device) memory */
    /* Appended with the prefix cache (0 where a backend has none). */
    int64_t cached_prompt_tokens; /* prompt tokens served from the prefix
                                     cache instead of being prefilled (a
                                     stream: its own; the model: the last
                                     operation's) */
    /* Model-wide state, filled by inf_model_metrics only (0 in a stream's
     * metrics): the prefix cache since load and the KV blocks now. */
    int64_t prefix_lookup_tokens; /* prompt tokens looked up in the cache */
    int64_t prefix_hit_tokens;    /* of those, found (hit rate = hit/lookup) */
    int64_t kv_blocks_total;      /* blocks in the pool */
    int64_t kv_blocks_used;       /* held by running sequences */
    int64_t kv_blocks_cached;     /* unused but holding a cached prefix */
    int64_t kv_blocks_free;       /* empty */
    int64_t kv_evictions;         /* cached blocks reused for other data */
    int32_t kv_block_tokens;      /* positions per block (0: no paging) */
} inf_metrics;

/* Loads the model at `path` (a Hugging Face model directory, or what the
 * chosen backend accepts: a URL for "openai", a GGUF file for "llama_cpp")
 * with the backend named in opts->backend, or the default backend.
 * opts may be NULL (defaults).  On success stores a new model in *out and
 * returns INF_OK.  On failure returns the error code, sets *out to NULL and,
 * when errmsg is not NULL, stores a message there (free with inf_free).
 *
 * Weight files (safetensors, GGUF), two modes (opts->copy_weights):
 *  - mapped (the default): mapped read-only, not copied; the model reads
 *    them until inf_model_close.  Replacing a file while a model has it
 *    open (a new file renamed over it, as downloaders do) or deleting it is
 *    safe: the open model keeps reading the old contents.  Truncating or
 *    rewriting a file in place (`truncate`, `cp new old`, a download
 *    writing into the same file) is not: on Linux the next read of a page
 *    beyond the new end raises SIGBUS, which ends the process; the library
 *    installs no signal handler (it cannot resume a computation whose
 *    weights are gone).
 *  - copied (copy_weights non-zero): the files are read into private
 *    memory during the load and never touched afterwards; replacing,
 *    deleting, truncating or rewriting them in place changes nothing for
 *    the open model (same logits).  A file that shrinks while it is being
 *    read fails the load with INF_E_IO.  `inference serve` loads this way
 *    unless given --mmap.
 * Other files are read once, during the load; a file that is not a
 * regular file (a directory, a FIFO, a device) or fails to read is
 * INF_E_IO naming it. */
INF_API int inf_model_load(const char *path, const inf_load_options *opts,
                           inf_model **out, char **errmsg);

/* Releases the model and everything it holds, and sets *m to NULL, so it is
 * safe on NULL, on a pointer to NULL, and when called twice.  Streams of the
 * model must be closed first. */
INF_API void inf_model_close(inf_model **m);

/* The architecture ("llama", "qwen2", "qwen3", "gemma3", "mistral", ...).
 * Owned by the model; never NULL for a valid model. */
INF_API const char *inf_model_type(const inf_model *m);
INF_API int inf_model_info_get(const inf_model *m, inf_model_info *out);
/* Metrics of the last operation completed on this model (any thread). */
INF_API int inf_model_metrics(const inf_model *m, inf_metrics *out);
/* The code and message of the calling thread's most recent failed
 * model-level call on m (inf_generate, inf_chat, inf_classify,
 * inf_batch_generate); INF_OK and "" when that thread has none.  Each thread
 * sees its own: another thread's failure never replaces it.  A thread
 * remembers the last failure of each of the last 4 models it failed on (a
 * fifth forgets the oldest).  The message is owned by the library and valid
 * on this thread until its next failed model-level call.  Never NULL. */
INF_API int inf_model_errcode(const inf_model *m);
INF_API const char *inf_model_errmsg(const inf_model *m);

/* Fills the sampling fields of *o (temperature, top_k, top_p, min_p,
 * repeat_penalty) with what the model itself asks for
 * (generation_config.json with do_sample true; temperature 1 when it names
 * none) and leaves them alone when it asks for nothing (greedy).  Call it
 * after inf_generate_options_default and before the caller's own choices.
 * Returns INF_OK, or INF_E_INVALID_ARGUMENT for NULL. */
INF_API int inf_model_generation_defaults(const inf_model *m,
                                          inf_generate_options *o);

/* Starts generating from `prompt` (raw text; the tokenizer adds BOS where
 * the model's tokenizer does).  On success *out is a new stream that the
 * caller pulls with inf_stream_next and closes with inf_stream_close. */
INF_API int inf_generate(inf_model *m, const char *prompt,
                         const inf_generate_options *opts, inf_stream **out);

/* The same, after rendering `msgs` with the model's chat template (or
 * opts->chat_template).  Remote backends send the messages as they are. */
INF_API int inf_chat(inf_model *m, const inf_message *msgs, size_t n_msgs,
                     const inf_generate_options *opts, inf_stream **out);

/* The logits at every position of ids[n] (a fresh sequence, no BOS added):
 * *out is a new [n, *vocab] float32 array, row-major (free with inf_free).
 * For comparing with other implementations and for perplexity. */
INF_API int inf_model_logits(inf_model *m, const int32_t *ids, size_t n,
                             float **out, int32_t *vocab, char **errmsg);

/* Pulls the next token.  Returns 1 and fills *tok when a token was
 * produced; 0 at the end of the stream (see inf_stream_err for why); a
 * negative status when the stream failed on this call.  After the end or an
 * error, further calls return the same result. */
INF_API int inf_stream_next(inf_stream *s, inf_token *tok);

/* After the stream ended: INF_OK at a normal end (eos, stop, max tokens),
 * otherwise the error (INF_E_CANCELLED, INF_E_DEADLINE, ...). */
INF_API int inf_stream_err(const inf_stream *s);
/* A message for inf_stream_err; "" when none. Owned by the stream. */
INF_API const char *inf_stream_errmsg(const inf_stream *s);
INF_API inf_finish_reason inf_stream_finish_reason(const inf_stream *s);
/* Metrics of this stream so far. */
INF_API int inf_stream_metrics(const inf_stream *s, inf_metrics *out);
/* Asks the stream to stop; thread-safe (but not while another thread
 * closes the stream: close ends its life); the stream ends with
 * INF_E_CANCELLED within one decode step. */
INF_API void inf_stream_cancel(inf_stream *s);
/* Ends the stream (cancelling it if still running), releases it and sets *s
 * to NULL.  Safe on NULL and twice. */
INF_API void inf_stream_close(inf_stream **s);

/* Called for each token by inf_generate_cb / inf_chat_cb; return non-zero
 * to stop early (the call then returns INF_E_CANCELLED). */
typedef int (*inf_token_fn)(const inf_token *tok, void *user);

/* Convenience loops over inf_generate / inf_chat + inf_stream_next.
 * Return INF_OK at a normal end, else the error; errmsg as for load. */
INF_API int inf_generate_cb(inf_model *m, const char *prompt,
                            const inf_generate_options *opts,
                            inf_token_fn fn, void *user, char **errmsg);
INF_API int inf_chat_cb(inf_model *m, const inf_message *msgs, size_t n_msgs,
                        const inf_generate_options *opts, inf_token_fn fn,
                        void *user, char **errmsg);

/* Classify: one batched prefill, the next token at each prompt's last
 * position (greedy at temperature 0, else sampled with opts). */
typedef struct inf_classify_result {
    int status;          /* INF_OK or this prompt's error */
    char *error;         /* message when status != INF_OK, else NULL */
    int32_t token_id;
    char *text;          /* the token's text */
    float *logits;       /* [n_logits] when opts->return_logits, else NULL */
    int32_t n_logits;
} inf_classify_result;

/* Fills *out with an array of n results (free with
 * inf_classify_results_free).  Returns INF_OK when the call ran (each result
 * carries its own status) or an error for the call as a whole (then
 * inf_model_errmsg says why). */
INF_API int inf_classify(inf_model *m, const char *const *prompts, size_t n,
                         const inf_generate_options *opts,
                         inf_classify_result **out);
INF_API void inf_classify_results_free(inf_classify_result *r, size_t n);

/* BatchGenerate: autoregressive decoding of n prompts together. */
typedef struct inf_batch_result {
    int status;            /* INF_OK or this prompt's error */
    char *error;           /* message when status != INF_OK, else NULL */
    int32_t *token_ids;    /* [n_tokens] */
    size_t n_tokens;
    char *text;            /* the generated text */
    inf_finish_reason finish_reason;
    inf_metrics metrics;
} inf_batch_result;

INF_API int inf_batch_generate(inf_model *m, const char *const *prompts,
                               size_t n, const inf_generate_options *opts,
                               inf_batch_result **out);
INF_API void inf_batch_results_free(inf_batch_result *r, size_t n);

/* ------------------------------------------------------------------------
 * Backends and the registry
 *
 * A backend runs models: "cpu" and "cuda" (the native engine), "openai"
 * (any OpenAI-compatible server) and "llama_cpp" (llama-server as a child
 * process) are compiled in where their dependencies were found.  Programs
 * may add their own through the plug-in interface in inference_backend.h.
 * ------------------------------------------------------------------------ */

typedef struct inf_backend inf_backend;

/* The backend called `name`, or NULL. The pointer stays valid until it is
 * unregistered (built-in backends: for the life of the process). */
INF_API const inf_backend *inf_backend_get(const char *name);
/* Number of registered backends, and the i-th in registration order (NULL
 * past the end).  The built-in backends come first, in the order in which
 * inf_backend_default prefers them. */
INF_API size_t inf_backend_count(void);
INF_API const inf_backend *inf_backend_at(size_t i);
/* The backend's name ("cpu") and one-line description; "" for NULL. */
INF_API const char *inf_backend_name(const inf_backend *b);
INF_API const char *inf_backend_description(const inf_backend *b);
/* 1 if available here, else 0 with the reason in why (may be NULL). */
INF_API int inf_backend_available(const inf_backend *b, char *why,
                                  size_t why_size);
/* The default backend: the first available of "cuda", "cpu", "llama_cpp",
 * then any other available one in registration order.  NULL when none is;
 * errmsg (may be NULL) then says why (free with inf_free). */
INF_API const inf_backend *inf_backend_default(char **errmsg);

/* ------------------------------------------------------------------------
 * Discover
 * ------------------------------------------------------------------------ */

typedef struct inf_discovered {
    char *path;          /* absolute path of the model directory */
    char *model_type;    /* from config.json ("" when absent) */
    int32_t quant_bits;  /* 0 when not quantised */
    int32_t quant_group; /* 0 when not quantised */
    int32_t n_safetensors;
    /* Added with GGUF support (issue 19); new fields go below. */
    char *format;        /* "safetensors" (a model directory) or "gguf" (a
                            GGUF model file: path is the file, the first
                            part of a split set) */
    char *weight_types;  /* GGUF: the tensors' ggml types, most frequent
                            first, e.g. "Q4_K 190, F32 65"; "" otherwise */
    int32_t n_files;     /* GGUF: files of the model (split parts, else 1);
                            safetensors: n_safetensors */
} inf_discovered;

/* Scans dir and its immediate subdirectories for model directories
 * (config.json plus at least one *.safetensors) and GGUF model files (one
 * row per model: a split set once, as its first part; mmproj-*.gguf
 * projectors are left out; model_type is general.architecture, "" when the
 * file does not parse).  The base directory, when
 * it is a model directory, comes first; the rest are sorted by path.
 * Stores a new array in *out (free with inf_discovered_free). */
INF_API int inf_discover(const char *dir, inf_discovered **out, size_t *n,
                         char **errmsg);
INF_API void inf_discovered_free(inf_discovered *d, size_t n);

/* ------------------------------------------------------------------------
 * Text: tokenizers and chat templates, usable without a model
 * ------------------------------------------------------------------------ */

/* Loads a tokenizer: from a directory holding tokenizer.json, that file
 * (+ tokenizer_config.json when present); from a .gguf file (or a
 * directory without config.json holding one GGUF model), its
 * tokenizer.ggml.* metadata with llama.cpp's meaning, the weights left
 * unread. */
INF_API int inf_tokenizer_load(const char *dir, inf_tokenizer **out,
                               char **errmsg);
INF_API void inf_tokenizer_free(inf_tokenizer *t);
/* Encodes text[len]; add_special: add what the post-processor adds (BOS...).
 * *ids is malloc'd (free with inf_free). */
INF_API int inf_tokenize(const inf_tokenizer *t, const char *text, size_t len,
                         int add_special, int32_t **ids, size_t *n_ids,
                         char **errmsg);
/* Decodes ids into *text (NUL-terminated, free with inf_free). */
INF_API int inf_detokenize(const inf_tokenizer *t, const int32_t *ids,
                           size_t n_ids, int skip_special, char **text,
                           size_t *len, char **errmsg);
INF_API int32_t inf_tokenizer_vocab_size(const inf_tokenizer *t);
/* The raw vocabulary string of id ("Ġthe", "▁the", "<0x0A>", "<|im_end|>"),
 * owned by t; NULL when id has none. */
INF_API const char *inf_tokenizer_piece(const inf_tokenizer *t, int32_t id);
/* 1 when id is an added token flagged special, else 0. */
INF_API int inf_tokenizer_is_special(const inf_tokenizer *t, int32_t id);
/* The BOS / EOS id of tokenizer_config.json (or, for BOS, the
 * post-processor's leading special token); -1 when none. */
INF_API int32_t inf_tokenizer_bos_id(const inf_tokenizer *t);
INF_API int32_t inf_tokenizer_eos_id(const inf_tokenizer *t);

/* The tokenizer a loaded model uses, borrowed: owned by the model, valid
 * until inf_model_close, usable from any thread.  NULL when the model has
 * none of its own (remote backends, dummy weights without tokenizer.json). */
INF_API const inf_tokenizer *inf_model_tokenizer(const inf_model *m);

/* A parsed chat template (Jinja, as transformers' apply_chat_template
 * renders it; src/text/template/README.md lists the subset).  Rendering
 * only reads it, so one template serves any number of threads. */

/* Loads a model directory's template: tokenizer_config.json
 * "chat_template" (a string, or a list of {name, template} where "default"
 * is used, else the first), else chat_template.jinja, else ChatML
 * (inf_chat_template_is_fallback then returns 1); the special tokens of
 * tokenizer_config.json become template variables.  *out: free with
 * inf_chat_template_free.  Errors: INF_E_IO, INF_E_FORMAT, INF_E_TEMPLATE
 * (a syntax error, with its line) and a message in *errmsg. */
INF_API int inf_chat_template_load(const char *model_dir,
                                   inf_chat_template **out, char **errmsg);
/* Parses template source.  special_tokens_json: a JSON object of extra
 * variables such as {"bos_token":"<s>"}, or NULL; model_dir, when not NULL,
 * supplies its tokenizer_config.json special tokens first. */
INF_API int inf_chat_template_parse(const char *source, const char *model_dir,
                                    const char *special_tokens_json,
                                    inf_chat_template **out, char **errmsg);
INF_API void inf_chat_template_free(inf_chat_template *t);
/* The template's source, owned by t. */
INF_API const char *inf_chat_template_source(const inf_chat_template *t);
/* 1 when t is the ChatML fallback of a model that has no template. */
INF_API int inf_chat_template_is_fallback(const inf_chat_template *t);
/* Renders messages given as a JSON array of objects (fields such as
 * tool_calls and reasoning_content reach the template as they are).
 * tools_json: a JSON array or NULL; extra_vars_json: a JSON object or NULL.
 * *out: NUL-terminated, free with inf_free.  A template error returns
 * INF_E_TEMPLATE with the template's own message (raise_exception's text
 * exactly); INF_E_LIMIT when a render limit was hit; INF_E_INVALID_ARGUMENT
 * for malformed JSON. */
INF_API int inf_chat_template_apply(const inf_chat_template *t,
                                    const char *messages_json,
                                    int add_generation_prompt,
                                    const char *tools_json,
                                    const char *extra_vars_json, char **out,
                                    char **errmsg);

/* The chat template a loaded model uses for inf_chat, borrowed as for
 * inf_model_tokenizer.  NULL when the model has none of its own (remote
 * backends render on the server) or when its template failed to load (then
 * inf_chat reports why). */
INF_API const inf_chat_template *inf_model_chat_template(const inf_model *m);

/* Renders messages with a model directory's chat template (or `tmpl` when
 * not NULL). extra_vars_json: a JSON object of more variables, or NULL.
 * *out is free'd with inf_free. On a template error returns INF_E_TEMPLATE
 * and the template's message in *errmsg. */
INF_API int inf_chat_template_render(const char *model_dir, const char *tmpl,
                                     const inf_message *msgs, size_t n_msgs,
                                     int add_generation_prompt,
                                     const char *tools_json,
                                     const char *extra_vars_json, char **out,
                                     char **errmsg);

#ifdef __cplusplus
}
#endif

#endif /* INFERENCE_H */
