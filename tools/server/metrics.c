/* Prometheus counters for the server (see metrics.h).  One mutex: every
 * update is a handful of additions, far cheaper than a decode step. */
#include "server/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const ep_names[INF__EP_COUNT] = {
    "/v1/chat/completions", "/v1/completions", "/v1/models", "/health",
    "/metrics", "/", "/tokenize", "/detokenize", "other"};

int inf__metrics_init(inf__metrics *m) {
    memset(m, 0, sizeof *m);
    static const unsigned codes[INF__METRICS_CODES] = {
        200, 400, 401, 404, 405, 413, 429, 500, 503, 0, 0, 0};
    memcpy(m->codes, codes, sizeof codes);
    return pthread_mutex_init(&m->mu, NULL) == 0 ? 0 : -1;
}

void inf__metrics_destroy(inf__metrics *m) {
    if (m) pthread_mutex_destroy(&m->mu);
}

void inf__metrics_request(inf__metrics *m, inf__srv_endpoint ep,
                          unsigned status) {
    if ((unsigned)ep >= INF__EP_COUNT) ep = INF__EP_OTHER;
    pthread_mutex_lock(&m->mu);
    int slot = -1;
    for (int i = 0; i < INF__METRICS_CODES; i++) {
        if (m->codes[i] == status) { slot = i; break; }
        if (m->codes[i] == 0) { m->codes[i] = status; slot = i; break; }
    }
    if (slot >= 0) m->requests[ep][slot]++;
    pthread_mutex_unlock(&m->mu);
}

static int64_t now_sec(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec;
}

void inf__metrics_tokens(inf__metrics *m, uint64_t n) {
    int64_t s = now_sec();
    int b = (int)(s % INF__METRICS_WINDOW);
    pthread_mutex_lock(&m->mu);
    m->completion_tokens += n;
    if (m->bucket_sec[b] != s) {
        m->bucket_sec[b] = s;
        m->bucket_tokens[b] = 0;
    }
    m->bucket_tokens[b] += n;
    pthread_mutex_unlock(&m->mu);
}

void inf__metrics_generation(inf__metrics *m, uint64_t prompt_tokens,
                             double seconds, double ttft, int cancelled) {
    pthread_mutex_lock(&m->mu);
    m->generations++;
    m->prompt_tokens += prompt_tokens;
    m->generation_seconds += seconds;
    if (ttft >= 0) {
        m->ttft_seconds_sum += ttft;
        m->ttft_count++;
    }
    if (cancelled) m->cancelled++;
    pthread_mutex_unlock(&m->mu);
}

void inf__metrics_rejected(inf__metrics *m) {
    pthread_mutex_lock(&m->mu);
    m->rejected++;
    pthread_mutex_unlock(&m->mu);
}

/* A growing string for the exposition text. */
typedef struct sbuf { char *p; size_t n, cap; int oom; } sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (k < 0) { b->oom = 1; return; }
        if ((size_t)k < b->cap - b->n) { b->n += (size_t)k; return; }
        size_t cap = (b->cap + (size_t)k + 1) * 2;
        char *p = realloc(b->p, cap);
        if (!p) { b->oom = 1; return; }
        b->p = p;
        b->cap = cap;
    }
}

char *inf__metrics_render(inf__metrics *m, int busy, int slots, int waiting,
                          int queue, const inf_metrics *model) {
    sbuf b = {malloc(4096), 0, 4096, 0};
    if (!b.p) return NULL;
    b.p[0] = '\0';
    pthread_mutex_lock(&m->mu);
    sb_printf(&b, "# HELP inference_requests_total HTTP responses by endpoint and status code.\n"
                  "# TYPE inference_requests_total counter\n");
    for (int e = 0; e < INF__EP_COUNT; e++)
        for (int i = 0; i < INF__METRICS_CODES; i++)
            if (m->requests[e][i])
                sb_printf(&b, "inference_requests_total{endpoint=\"%s\",code=\"%u\"} %llu\n",
                          ep_names[e], m->codes[i],
                          (unsigned long long)m->requests[e][i]);
    sb_printf(&b, "# HELP inference_generations_total Generations run (admitted requests).\n"
                  "# TYPE inference_generations_total counter\n"
                  "inference_generations_total %llu\n",
              (unsigned long long)m->generations);
    sb_printf(&b, "# HELP inference_generations_cancelled_total Generations ended because the client went away.\n"
                  "# TYPE inference_generations_cancelled_total counter\n"
                  "inference_generations_cancelled_total %llu\n",
              (unsigned long long)m->cancelled);
    sb_printf(&b, "# HELP inference_requests_rejected_total Requests turned away with 503: slots and queue full.\n"
                  "# TYPE inference_requests_rejected_total counter\n"
                  "inference_requests_rejected_total %llu\n",
              (unsigned long long)m->rejected);
    sb_printf(&b, "# HELP inference_prompt_tokens_total Prompt tokens processed.\n"
                  "# TYPE inference_prompt_tokens_total counter\n"
                  "inference_prompt_tokens_total %llu\n",
              (unsigned long long)m->prompt_tokens);
    sb_printf(&b, "# HELP inference_completion_tokens_total Tokens generated.\n"
                  "# TYPE inference_completion_tokens_total counter\n"
                  "inference_completion_tokens_total %llu\n",
              (unsigned long long)m->completion_tokens);
    sb_printf(&b, "# HELP inference_generation_seconds_total Summed wall time of generations.\n"
                  "# TYPE inference_generation_seconds_total counter\n"
                  "inference_generation_seconds_total %.6f\n",
              m->generation_seconds);
    sb_printf(&b, "# HELP inference_time_to_first_token_seconds Time from the complete request to its first token (queueing included).\n"
                  "# TYPE inference_time_to_first_token_seconds summary\n"
                  "inference_time_to_first_token_seconds_sum %.6f\n"
                  "inference_time_to_first_token_seconds_count %llu\n",
              m->ttft_seconds_sum, (unsigned long long)m->ttft_count);
    /* The gauge averages the last complete WINDOW-1 seconds plus the
     * current one, so that it reads the recent aggregate rate. */
    int64_t s = now_sec();
    uint64_t recent = 0;
    for (int i = 0; i < INF__METRICS_WINDOW; i++)
        if (m->bucket_sec[i] > s - INF__METRICS_WINDOW) recent += m->bucket_tokens[i];
    pthread_mutex_unlock(&m->mu);
    sb_printf(&b, "# HELP inference_tokens_per_second Tokens generated per second, all requests, over the last %d s.\n"
                  "# TYPE inference_tokens_per_second gauge\n"
                  "inference_tokens_per_second %.3f\n",
              INF__METRICS_WINDOW, (double)recent / INF__METRICS_WINDOW);
    sb_printf(&b, "# HELP inference_slots_busy Generations running now.\n"
                  "# TYPE inference_slots_busy gauge\n"
                  "inference_slots_busy %d\n"
                  "# HELP inference_slots_total Concurrent generations allowed (--parallel).\n"
                  "# TYPE inference_slots_total gauge\n"
                  "inference_slots_total %d\n"
                  "# HELP inference_queue_depth Requests waiting for a slot.\n"
                  "# TYPE inference_queue_depth gauge\n"
                  "inference_queue_depth %d\n"
                  "# HELP inference_queue_capacity Requests that may wait (--queue).\n"
                  "# TYPE inference_queue_capacity gauge\n"
                  "inference_queue_capacity %d\n",
              busy, slots, waiting, queue);
    if (model && model->kv_block_tokens > 0) {
        const inf_metrics *k = model;
        sb_printf(&b, "# HELP inference_prefix_cache_lookup_tokens_total Prompt tokens looked up in the prefix cache.\n"
                      "# TYPE inference_prefix_cache_lookup_tokens_total counter\n"
                      "inference_prefix_cache_lookup_tokens_total %lld\n"
                      "# HELP inference_prefix_cache_hit_tokens_total Prompt tokens served from the prefix cache (not prefilled).\n"
                      "# TYPE inference_prefix_cache_hit_tokens_total counter\n"
                      "inference_prefix_cache_hit_tokens_total %lld\n"
                      "# HELP inference_prefix_cache_hit_ratio Hit tokens / lookup tokens since start.\n"
                      "# TYPE inference_prefix_cache_hit_ratio gauge\n"
                      "inference_prefix_cache_hit_ratio %.4f\n",
                  (long long)k->prefix_lookup_tokens, (long long)k->prefix_hit_tokens,
                  k->prefix_lookup_tokens > 0
                      ? (double)k->prefix_hit_tokens / (double)k->prefix_lookup_tokens : 0.0);
        sb_printf(&b, "# HELP inference_kv_blocks KV cache blocks by state: used by running sequences, cached (reusable prefix), free.\n"
                      "# TYPE inference_kv_blocks gauge\n"
                      "inference_kv_blocks{state=\"used\"} %lld\n"
                      "inference_kv_blocks{state=\"cached\"} %lld\n"
                      "inference_kv_blocks{state=\"free\"} %lld\n"
                      "# HELP inference_kv_blocks_total KV cache blocks in the pool.\n"
                      "# TYPE inference_kv_blocks_total gauge\n"
                      "inference_kv_blocks_total %lld\n"
                      "# HELP inference_kv_block_tokens Positions per KV cache block.\n"
                      "# TYPE inference_kv_block_tokens gauge\n"
                      "inference_kv_block_tokens %d\n"
                      "# HELP inference_kv_evictions_total Cached blocks evicted for new data.\n"
                      "# TYPE inference_kv_evictions_total counter\n"
                      "inference_kv_evictions_total %lld\n",
                  (long long)k->kv_blocks_used, (long long)k->kv_blocks_cached,
                  (long long)k->kv_blocks_free, (long long)k->kv_blocks_total,
                  (int)k->kv_block_tokens, (long long)k->kv_evictions);
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
