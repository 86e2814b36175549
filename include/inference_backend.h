/*
 * inference_backend.h — the backend plug-in interface of libinference.
 *
 * Programs that only load and run models need inference.h alone.  This
 * header is for those that add a backend of their own: a backend is a name,
 * an availability check and a loader (struct inf_backend) that returns a
 * model as a table of function pointers (inf_model_ops) plus its context,
 * and streams the same way (inf_stream_ops).  The built-in backends (cpu,
 * cuda, openai, llama_cpp) are written against exactly this interface.
 *
 * The library wraps what a backend returns in the public handles
 * (inf_model, inf_stream): it normalises and validates the options before a
 * backend sees them (every field of a full-size inf_generate_options is
 * set, and every value lies within inf_generate_option_bounds), keeps the
 * error messages, and supplies Classify / BatchGenerate on top of start()
 * where a backend leaves them out.
 */
#ifndef INFERENCE_BACKEND_H
#define INFERENCE_BACKEND_H

#include "inference.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A stream as a backend implements it.  next: 1 token, 0 end, <0 error
 * (then errmsg says why).  cancel may be called from any thread. */
typedef struct inf_stream_ops {
    int (*next)(void *stream, inf_token *tok);
    int (*err)(void *stream);
    const char *(*errmsg)(void *stream);
    inf_finish_reason (*finish_reason)(void *stream);
    int (*metrics)(void *stream, inf_metrics *out);
    void (*cancel)(void *stream);
    void (*close)(void *stream);
} inf_stream_ops;

/* A loaded model as a backend implements it.  Functions may be NULL where
 * noted; the library then supplies a generic implementation on top of
 * start, or reports INF_E_UNSUPPORTED.  Errors: return a status and store a
 * message (allocated with malloc; the library frees it) in *errmsg.
 * `opts` is always a full-size, validated struct (see above). */
typedef struct inf_model_ops {
    const char *(*model_type)(void *model);
    int (*info)(void *model, inf_model_info *out);
    /* Exactly one of prompt / msgs is used: msgs when prompt is NULL;
     * neither when opts->n_prompt_ids > 0 (then prompt is NULL and msgs
     * NULL). */
    int (*start)(void *model, const char *prompt, const inf_message *msgs,
                 size_t n_msgs, const inf_generate_options *opts,
                 const inf_stream_ops **sops, void **stream, char **errmsg);
    int (*classify)(void *model, const char *const *prompts, size_t n,
                    const inf_generate_options *opts,
                    inf_classify_result *out, char **errmsg); /* optional */
    int (*batch_generate)(void *model, const char *const *prompts, size_t n,
                          const inf_generate_options *opts,
                          inf_batch_result *out, char **errmsg); /* optional */
    int (*metrics)(void *model, inf_metrics *out);
    void (*close)(void *model);
    /* optional: logits at every position of ids (see inf_model_logits);
     * out has room for n * vocab floats, vocab from info(). */
    int (*logits)(void *model, const int32_t *ids, size_t n, float *out,
                  char **errmsg);
    /* optional: the model's tokenizer and chat template, owned by the model
     * (see inf_model_tokenizer / inf_model_chat_template). */
    const inf_tokenizer *(*tokenizer)(void *model);
    const inf_chat_template *(*chat_template)(void *model);
    /* optional: writes the model's own sampling defaults into *o (see
     * inf_model_generation_defaults); fields it has no opinion on are left
     * alone. */
    void (*generation_defaults)(void *model, inf_generate_options *o);
} inf_model_ops;

/* A backend: a name, an availability check and a loader. */
struct inf_backend {
    const char *name;         /* unique, e.g. "cpu" */
    const char *description;  /* one line */
    void *user;               /* passed to available() and load() */
    /* 1 when usable on this machine; 0 otherwise, with a reason written
     * into why[why_size] (may be NULL). */
    int (*available)(void *user, char *why, size_t why_size);
    /* opts is a full-size struct (never NULL). */
    int (*load)(void *user, const char *path, const inf_load_options *opts,
                const inf_model_ops **ops, void **model, char **errmsg);
};

/* Registers a backend (the struct is copied; strings must outlive the
 * registry).  The backends compiled into the library register themselves
 * on first use of the registry, before any of the program's.  Returns
 * INF_OK, INF_E_INVALID_ARGUMENT for a duplicate name or a missing
 * function, INF_E_LIMIT past 32 backends.  Thread-safe. */
INF_API int inf_backend_register(const inf_backend *b);
/* Removes a backend; INF_E_BACKEND_NOT_REGISTERED when there is none of
 * that name.  Models loaded through it must be closed first.  Thread-safe. */
INF_API int inf_backend_unregister(const char *name);

#ifdef __cplusplus
}
#endif

#endif /* INFERENCE_BACKEND_H */
