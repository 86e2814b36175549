/*
 * The adaptive prefill chunk (engine/pace.h) on made-up step times: it
 * starts at its first value, shrinks at once in proportion after an
 * over-run (never below 1 row), grows at most 1.5x a step after an under-run
 * only when the chunk was the limit, judges a step against decode-only
 * steps with the same number of decode rows (median: one slow step does not
 * move it), and ignores steps before any decode-only step was seen.
 */
#include <math.h>
#include <stdio.h>

#include "engine/pace.h"
#include "testutil.h"

static void test_start(void) {
    inf__pace p;
    inf__pace_init(&p, 16, 0.25);
    CHECK(inf__pace_chunk(&p, 512) == 16);
    CHECK(inf__pace_chunk(&p, 8) == 8); /* the step's rows bound it */
    CHECK(inf__pace_t_dec(&p, 8) == 0);
    /* No decode-only step yet: a mixed step teaches nothing. */
    inf__pace_mixed(&p, 1.0, 8, 16, 1);
    CHECK(inf__pace_chunk(&p, 512) == 16);
}

static void test_overrun_underrun(void) {
    inf__pace p;
    inf__pace_init(&p, 16, 0.25);
    for (int i = 0; i < 5; i++) inf__pace_decode(&p, 0.004, 8);
    CHECK(fabs(inf__pace_t_dec(&p, 8) - 0.004) < 1e-12);
    /* 16 rows cost 4 ms extra = 4x the 1 ms target: next chunk 4. */
    inf__pace_mixed(&p, 0.008, 8, 16, 1);
    CHECK_MSG(inf__pace_chunk(&p, 512) == 4, "chunk %d", inf__pace_chunk(&p, 512));
    /* A huge over-run: never below one row. */
    inf__pace_mixed(&p, 1.0, 8, 4, 1);
    CHECK(inf__pace_chunk(&p, 512) == 1);
    /* Under-runs grow it by at most 1.5x a step, from the fractional
     * chunk (1 -> 1.5 -> 2.25 -> 3.375). */
    inf__pace_mixed(&p, 0.0041, 8, 1, 1);
    inf__pace_mixed(&p, 0.0041, 8, 1, 1);
    CHECK_MSG(inf__pace_chunk(&p, 512) == 2, "chunk %d", inf__pace_chunk(&p, 512));
    inf__pace_mixed(&p, 0.0041, 8, 2, 1);
    CHECK(inf__pace_chunk(&p, 512) == 3);
    /* Near the target it grows by target / extra only (1 ms / 0.8 ms). */
    inf__pace_mixed(&p, 0.0048, 8, 3, 1);
    CHECK_MSG(fabs(p.chunk - 3.375 * 1.25) < 1e-9, "chunk %.4f", p.chunk);
    /* Not limited by the chunk (the prompt ended): no growth. */
    double c = p.chunk;
    inf__pace_mixed(&p, 0.0040, 8, 1, 0);
    CHECK(p.chunk == c);
    /* ... but an over-run still shrinks it, from the rows it had. */
    inf__pace_mixed(&p, 0.0060, 8, 2, 0);
    CHECK_MSG(fabs(p.chunk - 1.0) < 1e-9, "chunk %.4f", p.chunk);
}

static void test_yardstick(void) {
    inf__pace p;
    inf__pace_init(&p, 16, 0.25);
    /* One stream's steps (1 ms), then eight streams' (4 ms) with one slow
     * outlier: the yardstick for 8 rows is the median of the 8-row steps. */
    for (int i = 0; i < 6; i++) inf__pace_decode(&p, 0.001, 1);
    for (int i = 0; i < 4; i++) inf__pace_decode(&p, 0.004, 8);
    inf__pace_decode(&p, 0.030, 8);
    CHECK_MSG(fabs(inf__pace_t_dec(&p, 8) - 0.004) < 1e-12, "t_dec %.4f", inf__pace_t_dec(&p, 8));
    CHECK(fabs(inf__pace_t_dec(&p, 1) - 0.001) < 1e-12);
    /* 7 rows were never seen: scaled from the nearest count, 8 (median of
     * 4 ms x 7/8 four times and 30 ms x 7/8). */
    CHECK_MSG(fabs(inf__pace_t_dec(&p, 7) - 0.0035) < 1e-12, "t_dec %.5f", inf__pace_t_dec(&p, 7));
    /* A 5 ms step of 8 decode + 16 prompt rows is on target: no shrink. */
    inf__pace_mixed(&p, 0.005, 8, 16, 1);
    CHECK(inf__pace_chunk(&p, 512) == 16);
    /* The ring forgets: 16 newer 2 ms steps replace the old ones. */
    for (int i = 0; i < INF__PACE_RING; i++) inf__pace_decode(&p, 0.002, 8);
    CHECK(fabs(inf__pace_t_dec(&p, 8) - 0.002) < 1e-12);
    CHECK(fabs(inf__pace_t_dec(&p, 1) - 0.00025) < 1e-12);
}

int main(void) {
    test_start();
    test_overrun_underrun();
    test_yardstick();
    return tu_summary("test_engine_pace");
}
