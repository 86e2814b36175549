/*
 * Adaptive prefill chunks: how many prompt rows a step may add to the
 * decode rows of running streams (prefill_chunk 0), from the step times the
 * worker measures.  Pure arithmetic, no clock: the scheduler passes the CPU
 * seconds each forward took (sched.c says why CPU time), tests pass made-up
 * ones.
 *
 * Why a feedback loop and not a cost per row.  A prompt row's cost is not
 * one number: on the cpu backend a row at depth d attends over d keys, and a
 * step that carries ANY row of a deep prompt also reads that prompt's KV
 * history (brown-llama-8m, 8 decode rows, 2-core VM: one prompt row at
 * depth 4,000 made the step 1.8x slower, 32 rows 6x; at depth 0, 32 rows
 * 1.6x).  So the chunk is steered by what the last step with prompt rows
 * cost against a decode-only step: an over-run shrinks the next chunk in
 * proportion at once (down to 1 row), an under-run grows it by at most 1.5x
 * a step.
 *
 * The decode-only cost is the median of the recent decode-only steps with
 * the same number of decode rows (a step of 1 stream is no yardstick for a
 * step of 8: measured against it, every prompt row looked like an over-run).
 * A median, not a moving average: one slow step before a long prompt
 * arrived stayed in the average for the whole prefill (no decode-only step
 * runs during it) and let chunks over-run.
 */
#ifndef INF_ENGINE_PACE_H
#define INF_ENGINE_PACE_H

#include <stdint.h>

#define INF__PACE_RING 16 /* decode-only steps remembered */

typedef struct inf__pace {
    double dec[INF__PACE_RING];       /* recent decode-only step seconds */
    int32_t dec_rows[INF__PACE_RING]; /* their decode rows */
    int32_t n_dec, i_dec;             /* entries used, next to overwrite */
    double chunk;                     /* prompt rows per mixed step (>= 1) */
    double slack;                     /* target: a step with prompt rows
                                         costs at most (1 + slack) x a
                                         decode-only step */
} inf__pace;

/* Starts with chunk `first` rows (until a step with prompt rows was timed
 * against a decode-only one) and the target (1 + slack) x a decode-only
 * step.  first >= 1; slack > 0 (else 0.25). */
void inf__pace_init(inf__pace *p, int32_t first, double slack);

/* A step of n_dec decode rows and nothing else took dt seconds. */
void inf__pace_decode(inf__pace *p, double dt, int32_t n_dec);

/* The decode-only cost for n_dec rows: the median of the remembered steps
 * with n_dec rows, else of those with the nearest count scaled to n_dec
 * rows; 0 when none is remembered. */
double inf__pace_t_dec(const inf__pace *p, int32_t n_dec);

/* A step with n_dec decode rows and `rows` prompt rows (>= 1) took dt
 * seconds; `limited` is 1 when the chunk (not the prompt's end or the
 * step's row limit) decided rows.  Ignored while no decode-only step is
 * remembered. */
void inf__pace_mixed(inf__pace *p, double dt, int32_t n_dec, int32_t rows, int limited);

/* The prompt rows the next mixed step may add: the chunk rounded down,
 * within [1, max_rows]. */
int32_t inf__pace_chunk(const inf__pace *p, int32_t max_rows);

#endif
