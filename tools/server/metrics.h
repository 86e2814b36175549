/* Counters behind GET /metrics (Prometheus text exposition format). */
#ifndef INF_SERVER_METRICS_H
#define INF_SERVER_METRICS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "inference.h"

/* Endpoints counted separately (anything else is "other"). */
typedef enum inf__srv_endpoint {
    INF__EP_CHAT = 0, INF__EP_COMPLETIONS, INF__EP_MODELS, INF__EP_HEALTH,
    INF__EP_METRICS, INF__EP_WEB, INF__EP_TOKENIZE, INF__EP_DETOKENIZE, INF__EP_OTHER,
    INF__EP_COUNT
} inf__srv_endpoint;

#define INF__METRICS_CODES 12 /* distinct HTTP status codes tracked */
#define INF__METRICS_WINDOW 10 /* seconds of the tokens/s gauge */

typedef struct inf__metrics {
    pthread_mutex_t mu;
    /* requests[endpoint][i] counts responses with status codes[i]. */
    unsigned codes[INF__METRICS_CODES];
    uint64_t requests[INF__EP_COUNT][INF__METRICS_CODES];
    uint64_t prompt_tokens, completion_tokens;
    uint64_t generations, cancelled, rejected;
    double generation_seconds; /* summed wall time of generations */
    double ttft_seconds_sum;   /* summed time to first token */
    uint64_t ttft_count;
    /* Completion tokens per wall-clock second over the last WINDOW s. */
    int64_t bucket_sec[INF__METRICS_WINDOW];
    uint64_t bucket_tokens[INF__METRICS_WINDOW];
} inf__metrics;

int inf__metrics_init(inf__metrics *m);
void inf__metrics_destroy(inf__metrics *m);
/* Counts one response of `status` on endpoint ep. */
void inf__metrics_request(inf__metrics *m, inf__srv_endpoint ep,
                          unsigned status);
/* Counts tokens as they are produced (feeds the tokens/s gauge). */
void inf__metrics_tokens(inf__metrics *m, uint64_t n);
/* Counts a finished generation: its prompt tokens, wall time, time to first
 * token (< 0: none) and whether it was cancelled by the client. */
void inf__metrics_generation(inf__metrics *m, uint64_t prompt_tokens,
                             double seconds, double ttft, int cancelled);
/* Counts a request turned away because slots and queue were full. */
void inf__metrics_rejected(inf__metrics *m);
/* Renders the Prometheus text; busy/slots/waiting/queue are the gate's;
 * model: inf_model_metrics of the served model (the prefix cache and KV
 * block lines, when its kv_block_tokens > 0), or NULL.
 * Returns a malloc'd NUL-terminated string (caller frees) or NULL. */
char *inf__metrics_render(inf__metrics *m, int busy, int slots, int waiting,
                          int queue, const inf_metrics *model);

#endif
