/* Parsing and validating a /v1/chat/completions or /v1/completions request
 * body into generation options.  Every malformed input becomes an
 * inf__srv_error with a 4xx status; nothing here can crash on bad JSON. */
#ifndef INF_SERVER_REQUEST_H
#define INF_SERVER_REQUEST_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "inference.h"
#include "server/respond.h"
#include "server/server.h"
#include "server/structured.h"

typedef struct inf__srv_request {
    int chat;                /* 1: chat completions, 0: completions */
    json_t *root;            /* the parsed body; strings below point in it */
    inf_message *msgs;       /* chat: [n_msgs] */
    size_t n_msgs;
    char **owned;            /* contents joined from parts: [n_msgs], may
                                hold NULLs */
    const char *prompt;      /* completions: the text prompt */
    int32_t *prompt_ids;     /* completions: a token-id prompt, or NULL */
    size_t n_prompt_ids;
    const char **stops;      /* [n_stops] stop strings */
    size_t n_stops;
    int stream;              /* "stream": true */
    int include_usage;       /* stream_options.include_usage */
    int logprobs;            /* report the log-probability of each token */
    int top_logprobs;        /* and of this many most likely tokens */
    int n;                   /* choices to generate (1..cfg->parallel) */
    int echo;                /* completions: the prompt leads the text (and
                                its tokens the logprobs) */
    int32_t *bias_ids;       /* logit_bias: [n_bias] token ids ... */
    float *bias_vals;        /* ... and their biases (-100..100) */
    size_t n_bias;
    inf_generate_options opts; /* filled, pointing into the above */
    /* Chat: tools, tool_choice, response_format (structured.h). */
    inf__srv_structured st;
} inf__srv_request;

/* Parses body[len] (chat selects the endpoint's schema) under the limits
 * and defaults of cfg.  On success returns 0 and fills *r (release with
 * inf__srv_request_free); on failure returns the HTTP status (4xx) with
 * *err filled, and *r needs no release. */
unsigned inf__srv_request_parse(const char *body, size_t len, int chat,
                                const inf__srv_config *cfg,
                                inf__srv_request *r, inf__srv_error *err);
/* Releases what parse allocated. NULL is fine. */
void inf__srv_request_free(inf__srv_request *r);

#endif
