/*
 * The "fast" precision's integer form of the weights and activations
 * (private to the cpu backend).
 *
 * Every weight format whose values are `scale * small integer + constant`
 * per block of 32 columns (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, MLX4
 * and MLX8 with groups a multiple of 32) is read, block by block, as
 *     w = d * u + c,   u an unsigned byte (0..255), d and c f32,
 * which is exact: u is the stored integer (shifted to be unsigned, e.g.
 * Q8_0's q + 128 with c = -128 d), d the (sub-)block scale and c the offset
 * or minimum.  The activations x are rounded to int8 per block of 32, as
 * llama.cpp's Q8 activations: x ~ dx * xq with dx = max|x| / 127, and the
 * exact f32 sum s of each block is kept.  A block's dot product is then
 *     sum w x ~ d * dx * sum(u * xq) + c * s
 * with sum(u * xq) an integer dot product (VNNI: 64 u8 x s8 products per
 * instruction).  Only x loses precision (by at most dx/2 per value).
 * Q2_K, Q3_K and Q6_K (scales per 16 values) have no such form here and
 * stay on the exact kernels.
 *
 * The decoders are static inline so that each kernel file compiles them
 * for its own target (the AVX-512 file vectorises them).
 */
#ifndef INF_BACKENDS_CPU_KERNELS_INT8_H
#define INF_BACKENDS_CPU_KERNELS_INT8_H

#include <stdint.h>

#include "backends/cpu/ggml_blocks.h"
#include "backends/cpu/kernels.h"

/* f16 bits -> f32 in the decoders; a vector file defines it as the F16C
 * instruction before including this header. */
#ifndef INF__Q8_F16
#define INF__Q8_F16(h) inf__f16_to_f32(h)
#endif

/* Entry i of an MLX scale/bias array stored as dt. */
static inline float inf__cpu_q8_sb(const void *p, inf__dtype dt, int64_t i) {
    if (dt == INF__DT_F32) return ((const float *)p)[i];
    if (dt == INF__DT_BF16) return inf__bf16_to_f32(((const uint16_t *)p)[i]);
    return INF__Q8_F16(((const uint16_t *)p)[i]);
}

/* 1 when w has the integer form above (cols a multiple of 32). */
static inline int inf__cpu_q8_form(const inf__weight *w) {
    if (w->cols % 32) return 0;
    switch (w->fmt) {
    case INF__W_Q8_0: case INF__W_Q4_0: case INF__W_Q4_1: case INF__W_Q5_0:
    case INF__W_Q5_1: case INF__W_Q4_K: case INF__W_Q5_K:
        return 1;
    case INF__W_MLX4: case INF__W_MLX8:
        return w->group >= 32 && w->group % 32 == 0;
    default:
        return 0;
    }
}

/* ggml K-quant sub-block sb (0..7) of super-block blk: scale and minimum. */
static inline void inf__cpu_q8_kscale(const uint8_t *blk, int sb, float *d, float *c) {
    uint8_t sc, mn;
    inf__cpu_ggml_scale_min_k4(sb, blk + 4, &sc, &mn);
    *d = INF__Q8_F16(inf__cpu_ggml_u16(blk)) * (float)sc;
    *c = -(INF__Q8_F16(inf__cpu_ggml_u16(blk + 2)) * (float)mn);
}

/* Blocks [b0, b0+nb) (of 32 columns) of row r of w (inf__cpu_q8_form) as
 * u[nb*32], d[nb], c[nb]: w[r, 32b + j] = d[b-b0] * u[32(b-b0) + j] +
 * c[b-b0], exactly (c is the value f32 gives ggml's dequantiser:
 * -(dmin * m) for the K-quants). */
static inline void inf__cpu_q8_decode(const inf__weight *w, int64_t r, int64_t b0, int64_t nb,
                                      uint8_t *restrict u, float *restrict d, float *restrict c) {
    const inf__wfmt f = w->fmt;
    if (f == INF__W_MLX4 || f == INF__W_MLX8) {
        const int64_t gpr = w->cols / w->group, bpg = w->group / 32;
        const int64_t bpr = w->cols * w->bits / 8; /* bytes per row */
        const uint8_t *q = (const uint8_t *)w->data + r * bpr;
        for (int64_t b = 0; b < nb; b++) {
            const int64_t g = r * gpr + (b0 + b) / bpg;
            d[b] = inf__cpu_q8_sb(w->scales, w->sb_dtype, g);
            c[b] = inf__cpu_q8_sb(w->biases, w->sb_dtype, g);
        }
        if (f == INF__W_MLX8) {
            memcpy(u, q + b0 * 32, (size_t)nb * 32);
        } else {
            const uint8_t *p = q + b0 * 16;
            for (int64_t j = 0; j < nb * 16; j++) {
                u[2 * j] = p[j] & 15;
                u[2 * j + 1] = p[j] >> 4;
            }
        }
        return;
    }
    if (f == INF__W_Q4_K || f == INF__W_Q5_K) {
        for (int64_t b = 0; b < nb; b++) {
            const int64_t sb = b0 + b;
            const uint8_t *blk = inf__cpu_ggml_block(w, r, sb / 8);
            const int s = (int)(sb % 8), pair = s / 2, shift = (s % 2) * 4;
            inf__cpu_q8_kscale(blk, s, &d[b], &c[b]);
            uint8_t *ub = u + 32 * b;
            if (f == INF__W_Q4_K) {
                const uint8_t *q = blk + 16 + 32 * pair;
                for (int l = 0; l < 32; l++) ub[l] = (q[l] >> shift) & 15;
            } else {
                const uint8_t *qh = blk + 16, *q = blk + 48 + 32 * pair;
                for (int l = 0; l < 32; l++)
                    ub[l] = (uint8_t)(((q[l] >> shift) & 15) | (((qh[l] >> s) & 1) << 4));
            }
        }
        return;
    }
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = inf__cpu_ggml_block(w, r, b0 + b);
        const float s = INF__Q8_F16(inf__cpu_ggml_u16(blk));
        uint8_t *ub = u + 32 * b;
        d[b] = s;
        switch (f) {
        case INF__W_Q8_0:
            for (int j = 0; j < 32; j++) ub[j] = blk[2 + j] ^ 0x80; /* q + 128 */
            c[b] = -128.0f * s;
            break;
        case INF__W_Q4_0:
        case INF__W_Q4_1: {
            const uint8_t *qs = blk + (f == INF__W_Q4_0 ? 2 : 4);
            for (int j = 0; j < 16; j++) {
                ub[j] = qs[j] & 15;
                ub[j + 16] = qs[j] >> 4;
            }
            c[b] = f == INF__W_Q4_0 ? -8.0f * s : INF__Q8_F16(inf__cpu_ggml_u16(blk + 2));
            break;
        }
        default: { /* Q5_0, Q5_1 */
            const int o = f == INF__W_Q5_0 ? 2 : 4;
            const uint8_t *h = blk + o, *qs = blk + o + 4;
            const uint32_t qh = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 |
                                (uint32_t)h[3] << 24;
            for (int j = 0; j < 16; j++) {
                ub[j] = (uint8_t)((qs[j] & 15) | ((qh >> j) & 1) << 4);
                ub[j + 16] = (uint8_t)((qs[j] >> 4) | ((qh >> (j + 16)) & 1) << 4);
            }
            c[b] = f == INF__W_Q5_0 ? -16.0f * s : INF__Q8_F16(inf__cpu_ggml_u16(blk + 2));
            break;
        }
        }
    }
}

/* Rounds x rows [t0, t1) (x[t*ldx + k], k < xq->cols, cols a multiple of
 * 32) into xq (kernels.h: inf__cpu_xq): per block of 32, dx = max|x|/127,
 * xq = x/dx rounded to nearest (even) in [-127, 127], s = sum of x (f32,
 * index order).  Portable (kernels_int8.c). */
void inf__cpu_q8_quantize(const float *x, int64_t ldx, int64_t t0, int64_t t1, inf__cpu_xq *xq);

/* The portable integer matmul (kernels_int8.c): rows [r0, r1) of w
 * (inf__cpu_q8_form) times the n = xq->n rounded rows of x:
 * y[t*ldy + r] = sum_b (d_b * dx_b) * (float)sum(u * xq) + c_b * s_b,
 * summed over blocks in order with fmaf.  The reference the vector kernels
 * are tested against. */
void inf__cpu_q8_matmul_ref(const inf__weight *w, const inf__cpu_xq *xq, float *y, int64_t ldy,
                            int64_t r0, int64_t r1);

#endif
