/* The "fast" precision's portable parts (kernels_int8.h): rounding x to
 * int8 blocks, the reference integer matmul, and the "reference-fast" set
 * (the reference kernels plus that matmul) for processors without the
 * vector instructions. */
#include "backends/cpu/kernels_int8.h"

#include <math.h>
#include <stdlib.h>

void inf__cpu_q8_quantize(const float *x, int64_t ldx, int64_t t0, int64_t t1, inf__cpu_xq *xq) {
    const int64_t nb = xq->cols / 32;
    for (int64_t t = t0; t < t1; t++) {
        const float *xr = x + t * ldx;
        int8_t *q = xq->q + t * xq->ld;
        for (int64_t b = 0; b < nb; b++) {
            float amax = 0, s = 0;
            for (int j = 0; j < 32; j++) {
                const float a = fabsf(xr[32 * b + j]);
                amax = a > amax ? a : amax;
                s += xr[32 * b + j];
            }
            const float id = amax > 0 ? 127.0f / amax : 0.0f;
            for (int j = 0; j < 32; j++) {
                const float v = nearbyintf(xr[32 * b + j] * id); /* nearest, ties to even */
                q[32 * b + j] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
            }
            xq->d[t * nb + b] = amax / 127.0f;
            xq->s[t * nb + b] = s;
        }
    }
}

void inf__cpu_q8_matmul_ref(const inf__weight *w, const inf__cpu_xq *xq, float *y, int64_t ldy,
                            int64_t r0, int64_t r1) {
    const int64_t nb = w->cols / 32;
    uint8_t *u = malloc((size_t)w->cols);
    float *d = malloc((size_t)nb * sizeof *d), *c = malloc((size_t)nb * sizeof *c);
    if (!u || !d || !c) { /* no error channel in a kernel: leave y as it was */
        free(u), free(d), free(c);
        return;
    }
    for (int64_t r = r0; r < r1; r++) {
        inf__cpu_q8_decode(w, r, 0, nb, u, d, c);
        for (int64_t t = 0; t < xq->n; t++) {
            const int8_t *q = xq->q + t * xq->ld;
            const float *dx = xq->d + t * nb, *sx = xq->s + t * nb;
            float acc = 0;
            for (int64_t b = 0; b < nb; b++) {
                int32_t is = 0;
                for (int j = 0; j < 32; j++) is += (int32_t)u[32 * b + j] * q[32 * b + j];
                acc = fmaf((float)is, d[b] * dx[b], acc);
                acc = fmaf(c[b], sx[b], acc);
            }
            y[t * ldy + r] = acc;
        }
    }
    free(u), free(d), free(c);
}

static int ref_q8_takes(const inf__weight *w, int64_t n) {
    (void)n;
    return inf__cpu_q8_form(w);
}

/* The reference set's exact kernels, named here (kernels_ref.c keeps them
 * static): matmul_rows, for the weights without an integer form, stays
 * exact. */
static void ref_fast_matmul_rows(const inf__weight *w, const float *x, int64_t ldx, int64_t n,
                                 float *y, int64_t ldy, int64_t r0, int64_t r1) {
    inf__cpu_kernels_ref.matmul_rows(w, x, ldx, n, y, ldy, r0, r1);
}
static float ref_fast_dot(const float *a, const float *b, int64_t n) {
    return inf__cpu_kernels_ref.dot(a, b, n);
}
static void ref_fast_axpy(float a, const float *x, float *y, int64_t n) {
    inf__cpu_kernels_ref.axpy(a, x, y, n);
}
static void ref_fast_scores(const float *q, int nq, const float *k, int64_t ldk, int64_t m,
                            int64_t hd, float scale, float *s, int64_t lds) {
    inf__cpu_kernels_ref.attn_scores(q, nq, k, ldk, m, hd, scale, s, lds);
}
static void ref_fast_values(const float *p, int64_t ldp, int nq, const float *v, int64_t ldv,
                            int64_t m, int64_t hd, float *o, int add) {
    inf__cpu_kernels_ref.attn_values(p, ldp, nq, v, ldv, m, hd, o, add);
}
static void ref_fast_softmax(float *s, int64_t m) { inf__cpu_kernels_ref.softmax(s, m); }
static void ref_fast_kv_round(const float *x, uint16_t *y, int64_t n) {
    inf__cpu_kernels_ref.kv_round(x, y, n);
}
static void ref_fast_scores_f16(const float *q, int nq, const uint16_t *k, int64_t ldk, int64_t m,
                                int64_t hd, float scale, float *s, int64_t lds) {
    inf__cpu_kernels_ref.attn_scores_f16(q, nq, k, ldk, m, hd, scale, s, lds);
}
static void ref_fast_values_f16(const float *p, int64_t ldp, int nq, const uint16_t *v, int64_t ldv,
                                int64_t m, int64_t hd, float *o, int add) {
    inf__cpu_kernels_ref.attn_values_f16(p, ldp, nq, v, ldv, m, hd, o, add);
}

const inf__cpu_kernels inf__cpu_kernels_ref_fast = {
    "reference-fast", ref_fast_matmul_rows, ref_fast_dot, ref_fast_axpy, ref_fast_scores,
    ref_fast_values, ref_fast_softmax, ref_q8_takes, inf__cpu_q8_quantize,
    inf__cpu_q8_matmul_ref, ref_fast_kv_round, ref_fast_scores_f16, ref_fast_values_f16,
    NULL, NULL, 0, /* weights read as stored */
    NULL,          /* ops.c's act_mul */
    NULL, NULL, NULL, NULL, /* no bf16 matmul input */
};
