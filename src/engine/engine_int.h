/* Private layout shared by the engine's source files: the engine, its
 * sequences (one per stream / classify prompt / batch prompt) and the
 * events the worker hands to a stream's reader. */
#ifndef INF_ENGINE_ENGINE_INT_H
#define INF_ENGINE_ENGINE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "engine/engine.h"
#include "engine/kv.h"
#include "engine/pace.h"
#include "engine/sample.h"
#include "engine/stopstr.h"
#include "model/model.h"
#include "text/grammar/grammar.h"
#include "text/tokenizer/tokenizer.h"

typedef struct inf__engine inf__engine;
typedef struct inf__seq inf__seq;

/* One delivered token. text and logits are malloc'd (logits may be NULL). */
typedef struct inf__event {
    int32_t id;
    char *text;
    size_t len;
    float *logits; /* [vocab] when return_logits */
} inf__event;

struct inf__seq {
    atomic_int refs;      /* reader + worker; the last one frees */
    atomic_int cancelled; /* set by cancel/close from any thread */
    inf__engine *eng;
    int32_t vocab;        /* logits per row (copied: readers never touch
                             the engine once the sequence has ended) */
    inf__seq *next;       /* queue link, under eng->mu */

    /* Request, fixed at submit. */
    size_t n_prompt;
    int32_t max_tokens;
    inf__sampler_cfg scfg;  /* its logit-bias arrays are bias_ids/bias */
    int32_t *bias_ids;      /* owned copies of the request's logit_bias */
    float *bias;
    inf__rng rng;
    int32_t *stop_ids;
    size_t n_stop_ids;
    int ignore_eos;
    int return_logits;
    inf_cancel *cancel;   /* borrowed, may be NULL */
    inf__detok *detok;    /* NULL: no text */
    inf__stopstr *stop;   /* NULL: no stop strings */
    float *all_logits;    /* logits op: [n_prompt, vocab] caller buffer;
                             the sequence only prefills, every row wanted */
    inf__grammar *grammar; /* constrained decoding (constrain.h), or NULL */
    inf__matcher *matcher; /* its state; worker-only after submit */

    /* Worker state. */
    int32_t *hist;        /* prompt + generated ids [n_hist] */
    size_t n_hist, hist_cap;
    size_t n_past;        /* tokens in the KV cache */
    int32_t slot;         /* -1 while queued */
    int32_t n_gen;
    int has_pending;      /* a token held back with its text (see engine.h) */
    inf__event pending;
    int64_t t_submit, t_admit, t_first, t_end;
    int64_t mem_active, mem_peak; /* memory when it ended */
    int32_t priority;     /* queue order: higher first, then FCFS */
    uint64_t admit_no;    /* admission order (preemption takes the youngest) */
    int preempted;        /* was sent back to the queue once (seqkv.c) */
    int counted;          /* its prompt is in the cache's lookup count */

    /* Paged KV (seqkv.c; empty in per-slot mode). Position p lives in
     * block blocks[p / INF__KV_BLOCK]; blocks[0..n_pub) are published in
     * the prefix index (or were matched there), bhash[k] is block k's chain
     * hash.  n_cached: prompt tokens taken from the cache (metrics).
     * Blocks [0, n_low) were released below the sliding window (entries
     * -1; seqkv.c inf__seqkv_drop_window). */
    int32_t *blocks;
    uint64_t *bhash;
    int32_t n_blocks, n_pub, blocks_cap, n_low;
    int64_t n_cached;

    /* Shared with the reader, under mu. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    inf__event *ev;       /* ring of undelivered events */
    size_t ev_head, ev_len, ev_cap;
    int done;
    int status;
    inf_finish_reason finish;
    char errmsg[INF__ERR_MSG_MAX];

    /* Reader-only. */
    inf__event cur;       /* the token last returned by next() */
};

struct inf__engine {
    inf__model_desc desc;
    struct inf__model_files *files;
    /* The tokenizer and chat template are owned as the public handles
     * (tok_pub / tmpl_pub, lent out through the ops table); tok and tmpl
     * are the objects inside them, for the engine's own use.  Any may be
     * NULL (no tokenizer.json; a template that failed to load). */
    inf_tokenizer *tok_pub;
    inf_chat_template *tmpl_pub;
    inf__tokenizer *tok;
    struct inf__chat_template *tmpl;
    int tmpl_code;
    char tmpl_err[INF__ERR_MSG_MAX];
    const inf__compute_ops *compute;
    void *cctx;
    int32_t n_slots, n_ctx, vocab;
    int32_t eos[INF__MAX_EOS + 1];
    int32_t n_eos;

    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu;   /* queue, stopping, last metrics */
    pthread_cond_t cv;    /* wakes the worker */
    inf__seq *q_head, *q_tail;
    size_t q_len;
    int stopping;
    uint64_t wakes;       /* bumped by submit and by a reader that unpauses
                             its sequence, so the worker never sleeps
                             through either */
    inf_metrics last;     /* last completed operation */
    inf_metrics kv_stats; /* the pool's counters, copied by the worker */

    /* Paged KV memory (paged = the backend has copy_block; compute.h). */
    int paged;
    inf__kv kv;           /* worker-only */
    const int32_t **tables; /* [n_slots] block tables of the batch */
    int32_t kv_window;    /* > 0: every layer attends to at most this many
                             positions back, so blocks wholly below it are
                             released (seqkv.c); 0: some layer sees all */
    inf__pace pace;       /* adaptive chunks from step times (worker) */
    int32_t prefill_chunk; /* prompt rows per step while others decode:
                              0 adaptive (pace), > 0 fixed,
                              -1: whole prompts in one step */
    uint64_t admit_count;

    /* Worker-only. */
    inf__seq **active;    /* [n_slots] */
    int32_t step_tokens;  /* rows per forward */
    int32_t want_rows;    /* rows of b_logits (>= n_slots) */
    int32_t *b_tok, *b_pos, *b_slot; /* [step_tokens] */
    uint8_t *b_want;      /* [step_tokens] */
    inf__seq **b_seq;     /* [want_rows] sequence of each want row */
    int32_t *b_wpos;      /* [want_rows] position of each want row */
    float *b_logits;      /* [want_rows, vocab] */
    inf__sample_scratch ss;

    /* Constrained decoding (constrain.h): the vocabulary as bytes, built on
     * the first constrained request under gmu; the worker's mask. */
    pthread_mutex_t gmu;
    inf__grammar_vocab *gvocab;
    uint32_t *gmask;
    size_t gmask_words;
    int32_t *gids;        /* [vocab] the allowed ids of the last mask */
    float *gvals;         /* [vocab] and their logits */
};

/* --- sequences (seq.c) --- */

/* A new sequence for ids[n] with opts (normalised).  want_text: detokenize
 * (needs eng->tok).  Returns NULL with *err set on failure. */
inf__seq *inf__seq_new(inf__engine *e, const int32_t *ids, size_t n,
                       const inf_generate_options *opts, int want_text,
                       inf__err *err);
/* Drops one reference; frees at zero. NULL is fine. */
void inf__seq_unref(inf__seq *s);
/* Worker side: queues an event for the reader (takes ownership of ev's
 * buffers; frees them when out of memory). */
void inf__seq_deliver(inf__seq *s, inf__event *ev);
/* Worker side: marks the sequence finished and wakes the reader. */
void inf__seq_finish(inf__seq *s, int status, inf_finish_reason why,
                     const char *msg);
/* Worker side: 1 when s is paused because INF__SEQ_LOGITS_BACKLOG tokens
 * with logits wait for its reader (locks s->mu). */
int inf__seq_backlogged(inf__seq *s);
/* Reader side, under s->mu, after taking an event: wakes the worker when
 * that unpaused the sequence. */
void inf__seq_unpause_locked(inf__seq *s);
/* Waits until the sequence has finished (reader side). */
void inf__seq_wait(inf__seq *s);
/* Metrics of the sequence so far (locks s->mu). */
void inf__seq_metrics(inf__seq *s, inf_metrics *out);
/* Frees an event's buffers. */
void inf__event_clear(inf__event *ev);

/* --- scheduler (sched.c) --- */

/* Starts / stops the worker.  Stopping ends every sequence still queued or
 * running with INF_E_STATE. */
int inf__sched_start(inf__engine *e, inf__err *err);
void inf__sched_stop(inf__engine *e);
/* Queues s (takes the worker's reference).  bypass_limit: batch calls,
 * which submit all their prompts at once, are not refused for the queue
 * bound.  Returns INF_E_BUSY when the queue is full, INF_E_STATE when the
 * model is closing. */
int inf__sched_submit(inf__engine *e, inf__seq *s, int bypass_limit,
                      inf__err *err);
/* Records m as the model's last completed operation. */
void inf__engine_set_last(inf__engine *e, const inf_metrics *m);
/* Fills the memory fields of m from the compute backend or the process. */
void inf__engine_memory(inf__engine *e, inf_metrics *m);

/* --- paged KV of a sequence (seqkv.c), worker-only --- */

/* Extends s's cached prefix from the prefix index while s is still
 * prefilling and stands at a block boundary: matched blocks are shared
 * (referenced), n_past advances, and at least the last prompt token is
 * left to compute.  Counts the hits. */
void inf__seqkv_match(inf__engine *e, inf__seq *s);
/* Makes positions [from, to) of s writable: new blocks, and a private copy
 * of a shared block written into (copy-on-write).  Returns INF_OK,
 * INF_E_BUSY when the pool has no block left (nothing changed for the
 * missing block), or the backend's error. */
int inf__seqkv_reserve(inf__engine *e, inf__seq *s, size_t from, size_t to,
                       inf__err *err);
/* Publishes s's blocks that became full (positions below n_past). */
void inf__seqkv_publish(inf__engine *e, inf__seq *s);
/* Drops all of s's blocks (it ends or goes back to the queue). */
void inf__seqkv_release(inf__engine *e, inf__seq *s);
/* Sliding windows on every layer (e->kv_window > 0): releases s's blocks
 * that lie wholly before the window of its next position (their table
 * entries become -1 and [0, n_low) is never read again); with the cache
 * on, not before the next block is published.  A preempted sequence
 * recomputes from position 0 with fresh blocks. */
void inf__seqkv_drop_window(inf__engine *e, inf__seq *s);
/* The (index, hash) of the full prompt block s computes next, for letting
 * one of several identical prompts go first; 0 when there is none. */
int inf__seqkv_next_block(inf__engine *e, const inf__seq *s, int32_t *k,
                          uint64_t *hash);
/* Blocks s still needs to hold its whole history plus one token. */
int64_t inf__seqkv_blocks_needed(const inf__engine *e, const inf__seq *s);

/* --- streams (stream.c) --- */

extern const inf_stream_ops inf__engine_stream_ops;

/* --- text (engine.c) --- */

struct inf__gguf;
/* The tokenizer of a GGUF file's tokenizer.ggml.* metadata
 * (tokenizer_load.c): INF_OK and *out (the caller's), or INF_E_FORMAT for
 * missing or mistyped keys and the errors of inf__tok_load_vocab. */
int inf__engine_gguf_tokenizer(const struct inf__gguf *g, inf__tokenizer **out, inf__err *err);

/* Tokenizes prompt text (add_special) or rendered chat; *ids malloc'd. */
int inf__engine_tokenize(inf__engine *e, const char *text, int add_special,
                         int32_t **ids, size_t *n, inf__err *err);

/* Checks ids (non-empty, within the context and the vocabulary), makes a
 * sequence and queues it; *out holds the caller's (reader's) reference. */
int inf__engine_submit_ids(inf__engine *e, const int32_t *ids, size_t n,
                           const inf_generate_options *o, int want_text,
                           int bypass_limit, inf__seq **out, inf__err *err);

/* --- classify / batch / logits (batch.c): inf_model_ops entries --- */
int inf__engine_op_logits(void *model, const int32_t *ids, size_t n,
                          float *out, char **errmsg);
int inf__engine_op_classify(void *model, const char *const *prompts, size_t n,
                            const inf_generate_options *opts,
                            inf_classify_result *out, char **errmsg);
int inf__engine_op_batch(void *model, const char *const *prompts, size_t n,
                         const inf_generate_options *opts,
                         inf_batch_result *out, char **errmsg);

#endif
