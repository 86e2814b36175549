/*
 * The scheduler: one worker thread per model runs every sequence.
 *
 * Each step the worker
 *   1. ends sequences that were cancelled (stream cancel/close, inf_cancel,
 *      deadline) — so a cancel takes effect within one step;
 *   2. admits queued sequences into free slots (queue order: priority,
 *      then first come first served; paged mode: the longest cached prefix
 *      is taken from the prefix index, and a sequence waits while the KV
 *      pool cannot hold its prompt);
 *   3. builds ONE batch: a decode row for every sequence that has sampled a
 *      token (except those paused because INF__SEQ_LOGITS_BACKLOG tokens
 *      with logits wait for a stalled reader), then prompt chunks of sequences still prefilling, up to
 *      step_tokens rows, and only a chunk of prompt rows while other
 *      sequences decode (so a long prompt delays their next token by one
 *      small chunk per step, not by its whole prefill): prefill_chunk
 *      rows, or adaptive: steered by the measured step times so that a
 *      step costs about 1.25x a decode-only one (pace.h);
 *   4. paged mode: gives every row a writable block (new blocks,
 *      copy-on-write of shared ones); when the pool is exhausted the
 *      youngest sequence goes back to the queue and recomputes later;
 *   5. runs forward() once, publishes the blocks that became full, and
 *      samples a token for every sequence whose last row was in the batch.
 * With nothing to run (every active sequence paused) the worker sleeps
 * until a submit or a reader wakes it, or 50 ms pass (cancellations and
 * deadlines of paused sequences are noticed then).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "engine/constrain.h"
#include "engine/engine_int.h"

/* ---- helpers ------------------------------------------------------------ */

void inf__engine_memory(inf__engine *e, inf_metrics *m) {
    int64_t active = 0, peak = 0;
    if (e && e->compute && e->compute->memory && e->cctx)
        e->compute->memory(e->cctx, &active, &peak);
    if (active <= 0 && peak <= 0) inf__process_memory(&active, &peak);
    m->active_memory_bytes = active;
    m->peak_memory_bytes = peak > active ? peak : active;
}

void inf__engine_set_last(inf__engine *e, const inf_metrics *m) {
    pthread_mutex_lock(&e->mu);
    e->last = *m;
    pthread_mutex_unlock(&e->mu);
}

/* Appends src[n] to the event's text. */
static int event_append(inf__event *ev, const char *src, size_t n) {
    if (!n) return 0;
    char *t = realloc(ev->text, ev->len + n + 1);
    if (!t) return -1;
    memcpy(t + ev->len, src, n);
    ev->len += n;
    t[ev->len] = '\0';
    ev->text = t;
    return 0;
}

static char *dup_n(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) return NULL;
    if (n) memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* Ends s on the worker: records memory and metrics, frees its slot and
 * drops the worker's reference. */
static void end_seq(inf__engine *e, inf__seq *s, int status,
                    inf_finish_reason why, const char *msg) {
    inf_metrics m;
    memset(&m, 0, sizeof m);
    inf__engine_memory(e, &m);
    pthread_mutex_lock(&s->mu);
    s->mem_active = m.active_memory_bytes;
    s->mem_peak = m.peak_memory_bytes;
    pthread_mutex_unlock(&s->mu);
    inf__event_clear(&s->pending);
    s->has_pending = 0;
    /* The model's metrics are recorded before the reader wakes up, so a
     * caller that reads them right after its stream ended sees this one. */
    pthread_mutex_lock(&s->mu);
    s->t_end = inf__now_ns();
    pthread_mutex_unlock(&s->mu);
    inf__seq_metrics(s, &m);
    inf__engine_set_last(e, &m);
    inf__seq_finish(s, status, why, msg);
    if (e->paged) inf__seqkv_release(e, s);
    if (s->slot >= 0 && e->active[s->slot] == s) e->active[s->slot] = NULL;
    s->slot = -1;
    inf__seq_unref(s);
}

static int check_cancel(inf__seq *s, const char **msg) {
    if (atomic_load(&s->cancelled)) {
        *msg = "cancelled";
        return INF_E_CANCELLED;
    }
    int rc = inf_cancel_check(s->cancel);
    if (rc == INF_E_CANCELLED) *msg = "cancelled by its inf_cancel";
    else if (rc == INF_E_DEADLINE) *msg = "deadline exceeded";
    return rc;
}

/* The text still held back at the end (detokenizer tail, then the stop
 * matcher's tail).  *stopped: a stop string matched inside it. */
static char *flush_text(inf__seq *s, size_t *len, int *stopped) {
    *len = 0;
    *stopped = 0;
    if (!s->detok) return NULL;
    const char *p = NULL, *out = NULL;
    size_t pl = 0, ol = 0;
    if (inf__detok_flush(s->detok, &p, &pl, NULL) != INF_OK) pl = 0;
    if (!s->stop) return pl ? dup_n(p, (*len = pl)) : NULL;
    int r = inf__stopstr_feed(s->stop, p, pl, &out, &ol);
    char *t = dup_n(out ? out : "", ol);
    if (!t) return NULL;
    if (r == 1) {
        *stopped = 1;
        *len = ol;
        return t;
    }
    inf__stopstr_flush(s->stop, &out, &pl);
    inf__event tmp = {.text = t, .len = ol};
    if (event_append(&tmp, out, pl) != 0) {
        free(tmp.text);
        return NULL;
    }
    *len = tmp.len;
    return tmp.text;
}

/* End by an eos id or stop id (not delivered): the held-back text goes out
 * with the pending token, or alone as id -1. */
static void end_by_token(inf__engine *e, inf__seq *s, inf_finish_reason why) {
    size_t tl;
    int stopped;
    char *tail = flush_text(s, &tl, &stopped);
    if (s->has_pending) {
        event_append(&s->pending, tail, tl);
        inf__seq_deliver(s, &s->pending);
        s->has_pending = 0;
    } else if (tl) {
        inf__event ev = {.id = -1, .text = tail, .len = tl};
        tail = NULL;
        inf__seq_deliver(s, &ev);
    }
    free(tail);
    end_seq(e, s, INF_OK, why, NULL);
}

static int is_in(int32_t t, const int32_t *set, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (set[i] == t) return 1;
    return 0;
}

/* Samples s's next token from its logits row and delivers / ends. */
static void take_token(inf__engine *e, inf__seq *s, const float *logits) {
    int64_t now = inf__now_ns();
    float *lcopy = NULL;
    if (s->return_logits) {
        lcopy = malloc((size_t)e->vocab * sizeof *lcopy);
        if (!lcopy) {
            end_seq(e, s, INF_E_NOMEM, INF_FINISH_NONE, "out of memory");
            return;
        }
        memcpy(lcopy, logits, (size_t)e->vocab * sizeof *lcopy);
    }
    int32_t tok;
    if (s->matcher) {
        /* The row is the worker's own buffer: the mask may be written in. */
        inf__err cerr;
        inf__err_clear(&cerr);
        tok = inf__constraint_sample(e, s, (float *)logits, &cerr);
        if (tok < 0) {
            free(lcopy);
            end_seq(e, s, tok, INF_FINISH_NONE, cerr.msg);
            return;
        }
    } else {
        tok = inf__sample(&s->scfg, logits, e->vocab, s->hist, s->n_hist,
                          &s->rng, &e->ss);
    }
    if (tok < 0) {
        free(lcopy);
        end_seq(e, s, INF_E_NOMEM, INF_FINISH_NONE, "out of memory");
        return;
    }
    pthread_mutex_lock(&s->mu);
    if (!s->t_first) s->t_first = now;
    s->n_gen++;
    pthread_mutex_unlock(&s->mu);
    s->hist[s->n_hist++] = tok;

    /* Under a constraint eos is sampled only when the text is complete, and
     * ends it even with ignore_eos (the grammar allows nothing after it). */
    if ((!s->ignore_eos || s->matcher) && is_in(tok, e->eos, (size_t)e->n_eos)) {
        free(lcopy);
        end_by_token(e, s, INF_FINISH_EOS);
        return;
    }
    if (is_in(tok, s->stop_ids, s->n_stop_ids)) {
        free(lcopy);
        end_by_token(e, s, INF_FINISH_STOP);
        return;
    }

    const char *piece = "", *out = "";
    size_t pl = 0, ol = 0;
    int matched = 0;
    if (s->detok) {
        inf__err err;
        inf__err_clear(&err);
        if (inf__detok_push(s->detok, tok, &piece, &pl, &err) != INF_OK) {
            free(lcopy);
            end_seq(e, s, err.code ? err.code : INF_E_TOKENIZER,
                    INF_FINISH_NONE, err.msg);
            return;
        }
        out = piece;
        ol = pl;
        if (s->stop) {
            matched = inf__stopstr_feed(s->stop, piece, pl, &out, &ol);
            if (matched < 0) {
                free(lcopy);
                end_seq(e, s, INF_E_NOMEM, INF_FINISH_NONE, "out of memory");
                return;
            }
        }
    }
    inf__event ev = {.id = tok, .text = dup_n(out, ol), .len = ol,
                     .logits = lcopy};
    if (!ev.text) {
        inf__event_clear(&ev);
        end_seq(e, s, INF_E_NOMEM, INF_FINISH_NONE, "out of memory");
        return;
    }
    if (matched == 1) {
        /* The stop string is cut off; the text before it still goes out,
         * with the held-back token when there is one. */
        if (s->has_pending) {
            event_append(&s->pending, ev.text, ev.len);
            inf__seq_deliver(s, &s->pending);
            s->has_pending = 0;
            inf__event_clear(&ev);
        } else if (ev.len) {
            inf__seq_deliver(s, &ev);
        } else {
            inf__event_clear(&ev);
        }
        end_seq(e, s, INF_OK, INF_FINISH_STOP, NULL);
        return;
    }
    if (s->has_pending) {
        inf__seq_deliver(s, &s->pending);
        s->has_pending = 0;
    }
    int at_max = s->max_tokens > 0 && s->n_gen >= s->max_tokens;
    /* The token just sampled would go to position n_hist - 1. */
    int ctx_full = s->n_hist > (size_t)e->n_ctx;
    /* A constraint that can take nothing more ends the text as eos would. */
    int done = inf__constraint_finished(s);
    if (at_max || ctx_full || done) {
        size_t tl;
        int stopped;
        char *tail = flush_text(s, &tl, &stopped);
        event_append(&ev, tail, tl);
        free(tail);
        inf__seq_deliver(s, &ev);
        end_seq(e, s, INF_OK,
                stopped ? INF_FINISH_STOP
                : done  ? INF_FINISH_EOS
                        : INF_FINISH_LENGTH,
                NULL);
        return;
    }
    /* Hold the token back while its text may still grow: part of a stop
     * string, or (empty piece) bytes of an unfinished character. */
    if ((s->stop && inf__stopstr_held(s->stop) > 0) || (s->detok && pl == 0)) {
        s->pending = ev;
        s->has_pending = 1;
    } else {
        inf__seq_deliver(s, &ev);
    }
}

/* Puts s back at the head of the queue (under e->mu). */
static void requeue_front(inf__engine *e, inf__seq *s) {
    s->next = e->q_head;
    e->q_head = s;
    if (!e->q_tail) e->q_tail = s;
    e->q_len++;
}

/* Paged mode, out of blocks: s leaves its slot and goes back to the head
 * of the queue.  Its blocks are released (the full ones stay cached, so
 * the recompute of its history when it comes back is mostly hits). */
static void preempt(inf__engine *e, inf__seq *s) {
    inf__seqkv_release(e, s);
    if (s->slot >= 0 && e->active[s->slot] == s) e->active[s->slot] = NULL;
    s->slot = -1;
    s->n_past = 0;
    s->preempted = 1;
    pthread_mutex_lock(&e->mu);
    requeue_front(e, s);
    pthread_mutex_unlock(&e->mu);
}

/* The most recently admitted active sequence, or NULL. */
static inf__seq *youngest(inf__engine *e) {
    inf__seq *y = NULL;
    for (int32_t i = 0; i < e->n_slots; i++) {
        inf__seq *s = e->active[i];
        if (s && (!y || s->admit_no > y->admit_no)) y = s;
    }
    return y;
}

/* Paged mode: blocks for the planned rows adv[], oldest sequence first;
 * preempts the youngest sequences when the pool runs out. */
static void reserve_rows(inf__engine *e, int32_t *adv) {
    const int32_t ns = e->n_slots;
    int32_t order[ns > 0 ? ns : 1], n = 0;
    for (int32_t i = 0; i < ns; i++) {
        if (!e->active[i] || !adv[i]) continue;
        int32_t j = n++;
        while (j > 0 && e->active[order[j - 1]]->admit_no > e->active[i]->admit_no) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    for (int32_t o = 0; o < n; o++) {
        const int32_t i = order[o];
        inf__seq *s = e->active[i];
        while (s && adv[i]) {
            inf__err err;
            inf__err_clear(&err);
            int rc = inf__seqkv_reserve(e, s, s->n_past, s->n_past + (size_t)adv[i], &err);
            if (rc == INF_OK) break;
            inf__seq *v = rc == INF_E_BUSY ? youngest(e) : NULL;
            int alone = v == s;
            for (int32_t k = 0; alone && k < ns; k++) alone = !e->active[k] || e->active[k] == s;
            if (!v || alone) {
                adv[i] = 0;
                if (rc == INF_E_BUSY)
                    end_seq(e, s, INF_E_NOMEM, INF_FINISH_NONE,
                            "the KV memory cannot hold this sequence (raise kv_memory)");
                else
                    end_seq(e, s, rc, INF_FINISH_NONE, err.msg[0] ? err.msg : "copy-on-write failed");
                break;
            }
            adv[v->slot] = 0;
            preempt(e, v);
        }
    }
}

/* One forward step over the active sequences.  Returns the rows run (0:
 * nothing was runnable). */
static int32_t step(inf__engine *e) {
    const char *msg = NULL;
    for (int32_t i = 0; i < e->n_slots; i++) {
        inf__seq *s = e->active[i];
        if (!s) continue;
        int rc = check_cancel(s, &msg);
        if (rc != INF_OK) end_seq(e, s, rc, INF_FINISH_NONE, msg);
    }
    /* Prompts that stand at a block another sequence just computed take it
     * from the prefix index instead of computing it again. */
    if (e->paged)
        for (int32_t i = 0; i < e->n_slots; i++)
            if (e->active[i]) inf__seqkv_match(e, e->active[i]);

    const int32_t ns = e->n_slots > 0 ? e->n_slots : 1;
    int32_t adv[ns];
    memset(adv, 0, sizeof adv);
    /* Plan.  Decode rows first: every sequence that sampled a token
     * advances. */
    int32_t rows = 0, n_dec = 0, wants = 0;
    for (int32_t i = 0; i < e->n_slots; i++) {
        inf__seq *s = e->active[i];
        if (!s || s->all_logits || s->n_hist - s->n_past != 1) continue;
        if (inf__seq_backlogged(s)) continue; /* its reader is behind */
        adv[i] = 1;
        rows++;
        n_dec++;
        wants++;
    }
    /* Then prompt chunks: up to the step's rows, but only prefill_chunk
     * while others decode; without chunking (-1) only whole prompts.  Of
     * several prompts about to compute the same full block (a shared
     * system prompt), only the first does; the others take it from the
     * index next step. */
    int32_t budget = e->step_tokens - rows, chunk = 0;
    if (n_dec > 0 && e->prefill_chunk >= 0) {
        /* Adaptive: the rows the last mixed steps' times allow (pace.h:
         * a step with prompt rows aims at 1.25x a decode-only step, so the
         * decoding streams' next token comes at most about that late). */
        chunk = e->prefill_chunk > 0 ? e->prefill_chunk : inf__pace_chunk(&e->pace, e->step_tokens);
        if (budget > chunk) budget = chunk;
    }
    int32_t n_pf = 0;
    int32_t lead_k[ns];
    uint64_t lead_h[ns];
    int32_t n_lead = 0;
    for (int32_t i = 0; i < e->n_slots && budget > 0; i++) {
        inf__seq *s = e->active[i];
        if (!s || s->all_logits || s->n_hist - s->n_past <= 1) continue;
        int32_t k;
        uint64_t h;
        if (inf__seqkv_next_block(e, s, &k, &h)) {
            int wait = 0;
            for (int32_t j = 0; j < n_lead && !wait; j++) wait = lead_k[j] == k && lead_h[j] == h;
            if (wait) continue;
            lead_k[n_lead] = k;
            lead_h[n_lead++] = h;
        }
        size_t left = s->n_hist - s->n_past;
        if (e->prefill_chunk < 0 && left > (size_t)budget) continue;
        size_t take = left < (size_t)budget ? left : (size_t)budget;
        adv[i] = (int32_t)take;
        budget -= (int32_t)take;
        rows += (int32_t)take;
        n_pf += (int32_t)take;
        wants += take == left;
    }
    /* Logits-at-every-position requests take what is left of both the
     * rows and the logits buffer (each of their rows is wanted). */
    for (int32_t i = 0; i < e->n_slots && rows < e->step_tokens; i++) {
        inf__seq *s = e->active[i];
        if (!s || !s->all_logits || wants >= e->want_rows) continue;
        size_t left = s->n_hist - s->n_past;
        size_t take = (size_t)(e->step_tokens - rows);
        if (take > (size_t)(e->want_rows - wants)) take = (size_t)(e->want_rows - wants);
        if (take > left) take = left;
        adv[i] = (int32_t)take;
        rows += (int32_t)take;
        wants += (int32_t)take;
    }
    if (e->paged) reserve_rows(e, adv);

    /* Build the batch from the plan, in the same order. */
    int32_t n = 0, n_want = 0;
    for (int pass = 0; pass < 3; pass++) {
        for (int32_t i = 0; i < e->n_slots; i++) {
            inf__seq *s = e->active[i];
            if (!s || !adv[i]) continue;
            const int is_dec = !s->all_logits && s->n_hist - s->n_past == 1;
            if ((pass == 0) != is_dec || (pass == 2) != (s->all_logits != NULL)) continue;
            for (int32_t j = 0; j < adv[i]; j++) {
                size_t p = s->n_past + (size_t)j;
                e->b_tok[n] = s->hist[p];
                e->b_pos[n] = (int32_t)p;
                e->b_slot[n] = i;
                /* a prompt wants the logits of its last row only */
                e->b_want[n] = s->all_logits || p == s->n_hist - 1;
                if (e->b_want[n]) {
                    e->b_wpos[n_want] = (int32_t)p;
                    e->b_seq[n_want++] = s;
                }
                n++;
            }
        }
    }
    if (n == 0) return 0;
    if (e->paged) {
        /* Every block a sequence reads must be held (a broken count would
         * let the pool hand it to another sequence): checked each step,
         * it costs a table walk next to a forward pass. */
        for (int32_t i = 0; i < e->n_slots; i++) {
            inf__seq *s = e->active[i];
            e->tables[i] = s ? s->blocks : NULL;
            if (!s || !adv[i]) continue;
            const int32_t last = (int32_t)((s->n_past + (size_t)adv[i] - 1) / INF__KV_BLOCK);
            for (int32_t k = s->n_low; k <= last; k++) { /* below n_low: outside the window */
                if (k < s->n_blocks && e->kv.b[s->blocks[k]].ref > 0) continue;
                adv[i] = 0;
                end_seq(e, s, INF_E_INTERNAL, INF_FINISH_NONE,
                        "internal error: a KV block of this sequence is not held");
                return 0; /* its rows are in the batch; run the rest next step */
            }
        }
    }

    inf__batch b = {.n_tokens = n, .tokens = e->b_tok, .pos = e->b_pos,
                    .slot = e->b_slot, .want = e->b_want,
                    .logits = e->b_logits,
                    .block_tables = e->paged ? e->tables : NULL};
    inf__err err;
    inf__err_clear(&err);
    int64_t t0 = inf__thread_cpu_ns();
    int rc = e->compute->forward(e->cctx, &b, &err);
    /* Step costs for adaptive chunks: decode-only steps, and steps with
     * prompt rows next to decode rows (pace.h), in the worker thread's CPU
     * time: on a busy machine the wall time of a step also holds the time
     * other processes had the core, which no chunk size changes (bench_kv
     * fair at load 10: the same steps took 8-16 ms of wall time and 4.1-4.6
     * ms of CPU time; timed by the wall, every chunk looked like an
     * over-run).  The pool's caller claims work like its helpers, so its
     * CPU time grows with the step's work at any thread count. */
    double dt = (double)(inf__thread_cpu_ns() - t0) * 1e-9;
    if (rc == INF_OK && n_dec > 0 && n == n_dec)
        inf__pace_decode(&e->pace, dt, n_dec);
    else if (rc == INF_OK && n_dec > 0 && n_pf > 0 && n == n_dec + n_pf)
        inf__pace_mixed(&e->pace, dt, n_dec, n_pf, chunk > 0 && n_pf == chunk);
    if (rc != INF_OK) {
        /* The caches of the slots in this batch are now unknown: end
         * those sequences with the backend's error. */
        for (int32_t i = 0; i < e->n_slots; i++) {
            inf__seq *s = e->active[i];
            if (!s || !adv[i]) continue;
            e->compute->seq_reset(e->cctx, i);
            end_seq(e, s, rc, INF_FINISH_NONE,
                    err.msg[0] ? err.msg : "forward pass failed");
        }
        return n;
    }
    for (int32_t i = 0; i < e->n_slots; i++) {
        inf__seq *s = e->active[i];
        if (!s || !adv[i]) continue;
        s->n_past += (size_t)adv[i];
        if (e->paged) {
            inf__seqkv_publish(e, s);
            inf__seqkv_drop_window(e, s);
        }
    }
    for (int32_t w = 0; w < n_want; w++) {
        inf__seq *s = e->b_seq[w];
        const float *row = e->b_logits + (size_t)w * e->vocab;
        if (!s->all_logits) {
            take_token(e, s, row);
            continue;
        }
        memcpy(s->all_logits + (size_t)e->b_wpos[w] * e->vocab, row,
               (size_t)e->vocab * sizeof *row);
        if ((size_t)e->b_wpos[w] == s->n_hist - 1) {
            pthread_mutex_lock(&s->mu);
            s->t_first = inf__now_ns();
            pthread_mutex_unlock(&s->mu);
            end_seq(e, s, INF_OK, INF_FINISH_LENGTH, NULL);
        }
    }
    return n;
}

/* Ends queued sequences that were cancelled before they ran; under e->mu.
 * Collected into *dead so that they are ended outside the lock. */
static inf__seq *purge_queue(inf__engine *e) {
    inf__seq *dead = NULL, **pp = &e->q_head, *prev = NULL;
    while (*pp) {
        inf__seq *s = *pp;
        const char *msg;
        if (check_cancel(s, &msg) != INF_OK) {
            *pp = s->next;
            if (e->q_tail == s) e->q_tail = prev;
            e->q_len--;
            s->next = dead;
            dead = s;
        } else {
            prev = s;
            pp = &s->next;
        }
    }
    return dead;
}

/* Starts the sequences just taken from the queue.  Paged mode: each takes
 * its cached prefix; one whose prompt the pool cannot hold now (with the
 * ones after it) goes back to the queue while others run. */
static void admit(inf__engine *e, inf__seq **adm, int32_t n) {
    int64_t now = inf__now_ns();
    for (int32_t k = 0; k < n; k++) {
        inf__seq *s = adm[k];
        s->n_past = 0;
        if (!e->paged) {
            e->compute->seq_reset(e->cctx, s->slot);
        } else {
            if (!s->counted && e->kv.cache_on && !s->all_logits)
                e->kv.lookup_tokens += (int64_t)s->n_prompt;
            s->counted = 1;
            inf__seqkv_match(e, s);
            /* Others that will run: the active ones but s and those after. */
            int others = 0;
            for (int32_t i = 0; i < e->n_slots; i++) {
                inf__seq *a = e->active[i];
                int later = 0;
                for (int32_t j = k; j < n && a; j++) later |= adm[j] == a;
                others |= a && !later;
            }
            if (others && inf__seqkv_blocks_needed(e, s) > inf__kv_available(&e->kv)) {
                /* Undo: this one and every later one wait, in order. */
                for (int32_t j = n - 1; j >= k; j--) {
                    inf__seq *w = adm[j];
                    if (e->active[w->slot] == w) e->active[w->slot] = NULL;
                    w->slot = -1;
                    if (w->n_blocks) {
                        e->kv.hit_tokens -= w->n_cached;
                        pthread_mutex_lock(&w->mu);
                        w->n_cached = 0;
                        pthread_mutex_unlock(&w->mu);
                        inf__seqkv_release(e, w);
                    }
                    w->n_past = 0;
                    pthread_mutex_lock(&e->mu);
                    requeue_front(e, w);
                    pthread_mutex_unlock(&e->mu);
                }
                return;
            }
        }
        s->admit_no = ++e->admit_count;
        pthread_mutex_lock(&s->mu);
        if (!s->t_admit) s->t_admit = now;
        pthread_mutex_unlock(&s->mu);
    }
}

/* The pool's counters for inf_model_metrics (under e->mu). */
static void kv_snapshot(inf__engine *e) {
    if (!e->paged) return;
    inf_metrics *m = &e->kv_stats;
    m->prefix_lookup_tokens = e->kv.lookup_tokens;
    m->prefix_hit_tokens = e->kv.hit_tokens;
    m->kv_blocks_total = e->kv.n_blocks;
    m->kv_blocks_used = e->kv.n_used;
    m->kv_blocks_cached = e->kv.n_cached;
    m->kv_blocks_free = e->kv.n_free;
    m->kv_evictions = e->kv.evictions;
    m->kv_block_tokens = INF__KV_BLOCK;
}

static void *worker(void *arg) {
    inf__engine *e = arg;
    pthread_mutex_lock(&e->mu);
    for (;;) {
        int any = 0;
        for (int32_t i = 0; i < e->n_slots; i++) any |= e->active[i] != NULL;
        if (!e->stopping && !any && !e->q_head) {
            pthread_cond_wait(&e->cv, &e->mu);
            continue;
        }
        if (e->stopping) break;
        uint64_t wakes = e->wakes;
        inf__seq *dead = purge_queue(e);
        inf__seq *admitted[e->n_slots > 0 ? e->n_slots : 1];
        int32_t n_adm = 0;
        for (int32_t i = 0; i < e->n_slots && e->q_head; i++) {
            if (e->active[i]) continue;
            inf__seq *s = e->q_head;
            e->q_head = s->next;
            if (!e->q_head) e->q_tail = NULL;
            e->q_len--;
            s->next = NULL;
            s->slot = i;
            e->active[i] = s;
            admitted[n_adm++] = s;
        }
        pthread_mutex_unlock(&e->mu);

        while (dead) {
            inf__seq *s = dead;
            dead = s->next;
            const char *msg = "cancelled";
            int rc = check_cancel(s, &msg);
            end_seq(e, s, rc != INF_OK ? rc : INF_E_CANCELLED,
                    INF_FINISH_NONE, msg);
        }
        admit(e, admitted, n_adm);
        int32_t rows = step(e);
        pthread_mutex_lock(&e->mu);
        kv_snapshot(e);
        if (rows == 0 && e->wakes == wakes && !e->stopping) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 50000000L;
            ts.tv_sec += ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&e->cv, &e->mu, &ts);
        }
    }
    /* Closing: nothing may keep running on a model that goes away. */
    inf__seq *q = e->q_head;
    e->q_head = e->q_tail = NULL;
    e->q_len = 0;
    pthread_mutex_unlock(&e->mu);
    while (q) {
        inf__seq *s = q;
        q = s->next;
        end_seq(e, s, INF_E_STATE, INF_FINISH_NONE, "the model was closed");
    }
    for (int32_t i = 0; i < e->n_slots; i++)
        if (e->active[i])
            end_seq(e, e->active[i], INF_E_STATE, INF_FINISH_NONE,
                    "the model was closed");
    return NULL;
}

/* ---- public to the engine ---------------------------------------------- */

int inf__sched_start(inf__engine *e, inf__err *err) {
    e->step_tokens = INF__ENGINE_STEP_TOKENS;
    inf__pace_init(&e->pace, INF__ENGINE_CHUNK_FIRST, INF__ENGINE_CHUNK_SLACK);
    /* Without chunking a whole prompt goes in one step. */
    if (e->prefill_chunk < 0) e->step_tokens = e->n_ctx + e->n_slots;
    if (e->step_tokens < e->n_slots) e->step_tokens = e->n_slots;
    size_t st = (size_t)e->step_tokens;
    e->active = calloc((size_t)e->n_slots, sizeof *e->active);
    if (e->paged) {
        e->tables = calloc((size_t)e->n_slots, sizeof *e->tables);
        if (!e->tables) return inf__seterr(err, INF_E_NOMEM, "out of memory");
    }
    e->b_tok = malloc(st * sizeof *e->b_tok);
    e->b_pos = malloc(st * sizeof *e->b_pos);
    e->b_slot = malloc(st * sizeof *e->b_slot);
    e->b_want = malloc(st);
    /* Room for 64 logits rows (for logits-at-every-position requests),
     * fewer for huge vocabularies, never fewer than one per slot. */
    int32_t w = (int32_t)((16u << 20) / (size_t)e->vocab);
    if (w > 64) w = 64;
    if (w < e->n_slots) w = e->n_slots;
    e->want_rows = w;
    e->b_seq = calloc((size_t)w, sizeof *e->b_seq);
    e->b_wpos = calloc((size_t)w, sizeof *e->b_wpos);
    e->b_logits = malloc((size_t)w * (size_t)e->vocab * sizeof *e->b_logits);
    if (!e->active || !e->b_tok || !e->b_pos || !e->b_slot || !e->b_want ||
        !e->b_seq || !e->b_wpos || !e->b_logits)
        return inf__seterr(err, INF_E_NOMEM, "out of memory");
    kv_snapshot(e);
    if (pthread_create(&e->thread, NULL, worker, e) != 0)
        return inf__seterr(err, INF_E_INTERNAL,
                           "could not start the engine's worker thread");
    e->thread_started = 1;
    return INF_OK;
}

void inf__sched_stop(inf__engine *e) {
    if (e->thread_started) {
        pthread_mutex_lock(&e->mu);
        e->stopping = 1;
        pthread_cond_broadcast(&e->cv);
        pthread_mutex_unlock(&e->mu);
        pthread_join(e->thread, NULL);
        e->thread_started = 0;
    }
    free(e->active);
    free(e->b_tok);
    free(e->b_pos);
    free(e->b_slot);
    free(e->b_want);
    free(e->b_seq);
    free(e->b_wpos);
    free(e->b_logits);
    free(e->tables);
    e->tables = NULL;
    inf__sample_scratch_free(&e->ss);
    e->active = NULL;
    e->b_tok = e->b_pos = e->b_slot = NULL;
    e->b_want = NULL;
    e->b_seq = NULL;
    e->b_wpos = NULL;
    e->b_logits = NULL;
}

int inf__sched_submit(inf__engine *e, inf__seq *s, int bypass_limit,
                      inf__err *err) {
    pthread_mutex_lock(&e->mu);
    if (e->stopping || !e->thread_started) {
        pthread_mutex_unlock(&e->mu);
        return inf__seterr(err, INF_E_STATE, "the model is closing");
    }
    /* Closed streams stay queued until the worker's next step; they do
     * not count against the bound. */
    size_t live = e->q_len;
    if (!bypass_limit && live >= INF__ENGINE_QUEUE_MAX) {
        live = 0;
        for (inf__seq *q = e->q_head; q; q = q->next)
            live += !atomic_load(&q->cancelled);
    }
    if (!bypass_limit && live >= INF__ENGINE_QUEUE_MAX) {
        pthread_mutex_unlock(&e->mu);
        return inf__seterr(err, INF_E_BUSY,
                           "%d requests are already waiting for this model",
                           INF__ENGINE_QUEUE_MAX);
    }
    atomic_fetch_add(&s->refs, 1); /* the worker's */
    s->next = NULL;
    if (!e->q_tail || e->q_tail->priority >= s->priority) {
        /* first come, first served within a priority (the usual case) */
        if (e->q_tail) e->q_tail->next = s;
        else e->q_head = s;
        e->q_tail = s;
    } else {
        /* ahead of every waiting request of a lower priority */
        inf__seq **pp = &e->q_head;
        while ((*pp)->priority >= s->priority) pp = &(*pp)->next;
        s->next = *pp;
        *pp = s;
    }
    e->q_len++;
    e->wakes++;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
    return INF_OK;
}
