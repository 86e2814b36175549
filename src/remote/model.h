/* The "openai" model object shared by the backend's source files: where
 * the server is, how to talk to it, and the metrics of the last operation. */
#ifndef INF_OPENAI_MODEL_H
#define INF_OPENAI_MODEL_H

#include <pthread.h>
#include <stdint.h>

#include "remote/xfer.h"
#include "inference_backend.h"

typedef struct inf__oai_model {
    char *base_url;          /* ".../v1" */
    char *model;             /* model name sent in requests (may be NULL) */
    struct curl_slist *headers; /* JSON content type, Authorization */
    int64_t timeout_ms;
    int max_retries;
    int want_token_ids;
    char backend[32];
    char arch[32];           /* "remote" unless the caller or server says */
    int arch_given;          /* arch came from the caller: keep it */
    /* What the server says about the model (llama.cpp's /models "meta");
     * 0 when unknown. */
    int32_t vocab_size, n_ctx, n_embd, n_layers;
    int64_t size_bytes;
    inf__oai_diag_fn diag;
    void *diag_user;
    void (*on_close)(void *user);
    void *close_user;
    pthread_mutex_t mu;      /* guards last */
    inf_metrics last;        /* of the last operation completed */
} inf__oai_model;

/* A transfer for one Generate (prompt or opts->prompt_ids) or Chat (msgs)
 * request, with the caller's cancel token and the model's diagnosis hook
 * attached.  stream: streamed (SSE) request.  Returns INF_OK or an error
 * with a malloc'd message in *errmsg. */
int inf__oai_request(inf__oai_model *m, const char *prompt,
                     const inf_message *msgs, size_t n_msgs,
                     const inf_generate_options *o, int stream,
                     inf__oai_xfer **out, char **errmsg);

/* Metrics of a transfer so far (usage where the server gave it, else
 * counted pieces; timings measured here). */
void inf__oai_xfer_metrics(const inf__oai_xfer *x, inf_metrics *out);
/* Records the metrics of a completed operation on the model. */
void inf__oai_model_record(inf__oai_model *m, const inf_metrics *mt);

/* The stream ops (stream.c): starts a streamed Generate / Chat. */
int inf__oai_stream_start(void *model, const char *prompt,
                          const inf_message *msgs, size_t n_msgs,
                          const inf_generate_options *opts,
                          const inf_stream_ops **sops, void **stream,
                          char **errmsg);

/* Classify and BatchGenerate as concurrent requests (batch.c). */
int inf__oai_classify(void *model, const char *const *prompts, size_t n,
                      const inf_generate_options *opts,
                      inf_classify_result *out, char **errmsg);
int inf__oai_batch_generate(void *model, const char *const *prompts,
                            size_t n, const inf_generate_options *opts,
                            inf_batch_result *out, char **errmsg);

#endif
