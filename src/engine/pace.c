/* Adaptive prefill chunks from measured step times (pace.h says why). */
#include "engine/pace.h"

#include <stdlib.h>
#include <string.h>

#define PACE_GROW 1.5    /* an under-run grows the chunk at most this much */
#define PACE_MAX 65536.0 /* bound on the chunk (the step's rows bound it too) */

void inf__pace_init(inf__pace *p, int32_t first, double slack) {
    memset(p, 0, sizeof *p);
    p->chunk = first >= 1 ? first : 1;
    p->slack = slack > 0 ? slack : 0.25;
}

void inf__pace_decode(inf__pace *p, double dt, int32_t n_dec) {
    if (!(dt > 0) || n_dec < 1) return;
    p->dec[p->i_dec] = dt;
    p->dec_rows[p->i_dec] = n_dec;
    p->i_dec = (p->i_dec + 1) % INF__PACE_RING;
    if (p->n_dec < INF__PACE_RING) p->n_dec++;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double inf__pace_t_dec(const inf__pace *p, int32_t n_dec) {
    double v[INF__PACE_RING];
    int32_t n = 0;
    for (int32_t i = 0; i < p->n_dec; i++)
        if (p->dec_rows[i] == n_dec) v[n++] = p->dec[i];
    if (n == 0 && p->n_dec > 0) {
        /* No step with as many decode rows: the steps with the nearest
         * count, scaled (a decode row's cost is mostly its own on small
         * batches; a near count keeps the error of that guess small). */
        int32_t best = p->dec_rows[0];
        for (int32_t i = 1; i < p->n_dec; i++) {
            const int32_t d = abs(p->dec_rows[i] - n_dec), db = abs(best - n_dec);
            if (d < db || (d == db && p->dec_rows[i] > best)) best = p->dec_rows[i];
        }
        for (int32_t i = 0; i < p->n_dec; i++)
            if (p->dec_rows[i] == best) v[n++] = p->dec[i] * n_dec / best;
    }
    if (n == 0) return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void inf__pace_mixed(inf__pace *p, double dt, int32_t n_dec, int32_t rows, int limited) {
    const double t_dec = inf__pace_t_dec(p, n_dec);
    if (!(t_dec > 0) || rows < 1 || !(dt > 0)) return;
    const double extra = dt - t_dec, target = p->slack * t_dec;
    if (extra > target) {
        /* Over-run: the next chunk in proportion (never more rows than
         * the chunk allowed), at once. */
        const double c = rows * (target / extra);
        if (c < p->chunk) p->chunk = c;
    } else if (limited) {
        /* Under-run with the chunk as the limit: grow, at most 1.5x.  From
         * the chunk, not the rows (its floor): from 1.5, one row times 1.5
         * would never reach 2. */
        double f = extra > 0 ? target / extra : PACE_GROW;
        if (f > PACE_GROW) f = PACE_GROW;
        p->chunk *= f;
    }
    if (p->chunk < 1) p->chunk = 1;
    if (p->chunk > PACE_MAX) p->chunk = PACE_MAX;
}

int32_t inf__pace_chunk(const inf__pace *p, int32_t max_rows) {
    int32_t c = p->chunk >= max_rows ? max_rows : (int32_t)p->chunk;
    return c < 1 ? 1 : c;
}
