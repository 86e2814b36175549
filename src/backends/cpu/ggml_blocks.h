/*
 * ggml's block weight formats (model.h: INF__W_Q8_0 .. INF__W_Q6_K) in the
 * cpu backend: block sizes and the portable dequantisation of one block,
 * value for value as ggml's dequantize_row_* defines it (ggml-common.h's
 * block layouts, little-endian).  Every value is a product that f32 holds
 * exactly (an f16 scale times small integers), minus or plus an f16 offset
 * for the types with a minimum, so one rounding at most: the vector
 * kernels reproduce these values bit for bit.
 *
 * The sizes are repeated here rather than taken from src/model/dtype.c:
 * programs that link only inf_cpu and inf_core (tests/cpu, bench/kernels)
 * must not call into the model area.  Private to the cpu backend.
 */
#ifndef INF_BACKENDS_CPU_GGML_BLOCKS_H
#define INF_BACKENDS_CPU_GGML_BLOCKS_H

#include <stdint.h>
#include <string.h>

#include "model/model.h"

/* 1 for Q8_0 .. Q6_K. */
static inline int inf__cpu_is_ggml(inf__wfmt f) {
    return f >= INF__W_Q8_0 && f <= INF__W_Q6_K;
}

/* Values per block (32 or 256) and bytes per block; 0 for other formats. */
static inline int64_t inf__cpu_ggml_block_elems(inf__wfmt f) {
    if (!inf__cpu_is_ggml(f)) return 0;
    return f >= INF__W_Q2_K ? 256 : 32;
}
static inline int64_t inf__cpu_ggml_block_bytes(inf__wfmt f) {
    switch (f) {
    case INF__W_Q8_0: return 34;
    case INF__W_Q4_0: return 18;
    case INF__W_Q4_1: return 20;
    case INF__W_Q5_0: return 22;
    case INF__W_Q5_1: return 24;
    case INF__W_Q2_K: return 84;
    case INF__W_Q3_K: return 110;
    case INF__W_Q4_K: return 144;
    case INF__W_Q5_K: return 176;
    case INF__W_Q6_K: return 210;
    default: return 0;
    }
}

/* "Q8_0", "Q4_K", ... (NULL for other formats). */
static inline const char *inf__cpu_ggml_name(inf__wfmt f) {
    static const char *const names[] = {"Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1",
                                        "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"};
    return inf__cpu_is_ggml(f) ? names[f - INF__W_Q8_0] : NULL;
}

/* Start of block b of row r of a ggml matrix w. */
static inline const uint8_t *inf__cpu_ggml_block(const inf__weight *w, int64_t r, int64_t b) {
    const int64_t be = inf__cpu_ggml_block_elems(w->fmt), bb = inf__cpu_ggml_block_bytes(w->fmt);
    return (const uint8_t *)w->data + (r * (w->cols / be) + b) * bb;
}

/* The f16 at p (any alignment) as raw bits. */
static inline uint16_t inf__cpu_ggml_u16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return h;
}

/* Scale j (0..7) and min j of a Q4_K/Q5_K block's 12 packed 6-bit
 * scale/min bytes (ggml's get_scale_min_k4). */
static inline void inf__cpu_ggml_scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *mn) {
    if (j < 4) {
        *sc = q[j] & 63;
        *mn = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *mn = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* Scale i (0..15) of a Q3_K block's 12 packed 6-bit scale bytes, less 32
 * (-32 .. 31), as ggml's dequantize_row_q3_K unpacks them. */
static inline int inf__cpu_ggml_scale_k3(const uint8_t *s, int i) {
    const int lo = i < 8 ? s[i] & 0xF : s[i - 8] >> 4;
    const int hi = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
    return (lo | hi << 4) - 32;
}

/* Block blk of format f, dequantised to out[block_elems] (f32). */
void inf__cpu_ggml_dequant_block(inf__wfmt f, const uint8_t *blk, float *out);

/* Columns [k0, k0+nk) of row r of a ggml matrix, dequantised (any k0, nk:
 * partial blocks at the ends are expanded through a block of scratch). */
void inf__cpu_ggml_dequant_range(const inf__weight *w, int64_t r, int64_t k0, int64_t nk,
                                 float *out);

#endif
