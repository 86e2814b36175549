/* Portable dequantisation of ggml's block formats (ggml_blocks.h): one
 * block at a time, in ggml's value order and arithmetic (dequantize_row_*
 * of ggml-quants.c, written here from the block layouts). */
#include "backends/cpu/ggml_blocks.h"

#include "backends/cpu/kernels.h"

static float f16(const uint8_t *p) { return inf__f16_to_f32(inf__cpu_ggml_u16(p)); }

/* 32 values: f16 d, int8 q[32]; w = d*q. */
static void dq_q8_0(const uint8_t *b, float *y) {
    const float d = f16(b);
    for (int j = 0; j < 32; j++) y[j] = (float)(int8_t)b[2 + j] * d;
}

/* 32 values: f16 d, 16 bytes: byte j holds value j (low nibble) and
 * value j+16 (high nibble); w = d*(q-8). */
static void dq_q4_0(const uint8_t *b, float *y) {
    const float d = f16(b);
    const uint8_t *qs = b + 2;
    for (int j = 0; j < 16; j++) {
        y[j] = (float)((qs[j] & 0xF) - 8) * d;
        y[j + 16] = (float)((qs[j] >> 4) - 8) * d;
    }
}

/* f16 d, f16 m, nibbles as Q4_0; w = d*q + m. */
static void dq_q4_1(const uint8_t *b, float *y) {
    const float d = f16(b), m = f16(b + 2);
    const uint8_t *qs = b + 4;
    for (int j = 0; j < 16; j++) {
        y[j] = (float)(qs[j] & 0xF) * d + m;
        y[j + 16] = (float)(qs[j] >> 4) * d + m;
    }
}

/* The 5-bit value pair j of a Q5 block: nibbles as Q4_0, bit j (value j)
 * and bit j+16 (value j+16) of the little-endian 32-bit qh on top. */
static void q5_pair(const uint8_t *qh4, const uint8_t *qs, int j, int *v0, int *v1) {
    const uint32_t qh = (uint32_t)qh4[0] | (uint32_t)qh4[1] << 8 | (uint32_t)qh4[2] << 16 |
                        (uint32_t)qh4[3] << 24;
    *v0 = (qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4);
    *v1 = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
}

/* f16 d, qh[4], qs[16]; w = d*(q-16). */
static void dq_q5_0(const uint8_t *b, float *y) {
    const float d = f16(b);
    for (int j = 0; j < 16; j++) {
        int v0, v1;
        q5_pair(b + 2, b + 6, j, &v0, &v1);
        y[j] = (float)(v0 - 16) * d;
        y[j + 16] = (float)(v1 - 16) * d;
    }
}

/* f16 d, f16 m, qh[4], qs[16]; w = d*q + m. */
static void dq_q5_1(const uint8_t *b, float *y) {
    const float d = f16(b), m = f16(b + 2);
    for (int j = 0; j < 16; j++) {
        int v0, v1;
        q5_pair(b + 4, b + 8, j, &v0, &v1);
        y[j] = (float)v0 * d + m;
        y[j + 16] = (float)v1 * d + m;
    }
}

/* 256 values: scales[16] (4-bit scale | 4-bit min << 4), qs[64] (2-bit),
 * f16 d, f16 dmin.  Each 128 values: 32 bytes of qs, 4 shifts x (16 + 16)
 * values; w = d*sc*q - dmin*m. */
static void dq_q2_k(const uint8_t *b, float *y) {
    const uint8_t *sc = b, *qs = b + 16;
    const float d = f16(b + 80), dmin = f16(b + 82);
    int is = 0;
    for (int n = 0; n < 256; n += 128, qs += 32)
        for (int shift = 0; shift < 8; shift += 2)
            for (int h = 0; h < 2; h++, is++) {
                const float dl = d * (float)(sc[is] & 0xF), ml = dmin * (float)(sc[is] >> 4);
                for (int l = 0; l < 16; l++) *y++ = dl * (float)((qs[16 * h + l] >> shift) & 3) - ml;
            }
}

/* 256 values: hmask[32], qs[64] (low 2 bits), scales[12], f16 d;
 * w = d*(scale-32)*(q - (high bit clear ? 4 : 0)). */
static void dq_q3_k(const uint8_t *b, float *y) {
    const uint8_t *hm = b, *qs = b + 32, *sc = b + 96;
    const float d = f16(b + 108);
    int is = 0;
    unsigned m = 1;
    for (int n = 0; n < 256; n += 128, qs += 32)
        for (int shift = 0; shift < 8; shift += 2, m <<= 1)
            for (int h = 0; h < 2; h++, is++) {
                const float dl = d * (float)inf__cpu_ggml_scale_k3(sc, is);
                for (int l = 16 * h; l < 16 * h + 16; l++)
                    *y++ = dl * (float)(((qs[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4));
            }
}

/* 256 values: f16 d, f16 dmin, scales[12] (8 6-bit scales and mins),
 * qs[128]: each 64 values, 32 bytes: low nibbles sub-block 2j, high
 * nibbles sub-block 2j+1; w = d*sc*q - dmin*m. */
static void dq_q4_k(const uint8_t *b, float *y) {
    const float d = f16(b), dmin = f16(b + 2);
    const uint8_t *s = b + 4, *q = b + 16;
    for (int j = 0; j < 4; j++, q += 32) {
        uint8_t sc, mn;
        inf__cpu_ggml_scale_min_k4(2 * j, s, &sc, &mn);
        const float d1 = d * sc, m1 = dmin * mn;
        inf__cpu_ggml_scale_min_k4(2 * j + 1, s, &sc, &mn);
        const float d2 = d * sc, m2 = dmin * mn;
        for (int l = 0; l < 32; l++) *y++ = d1 * (float)(q[l] & 0xF) - m1;
        for (int l = 0; l < 32; l++) *y++ = d2 * (float)(q[l] >> 4) - m2;
    }
}

/* As Q4_K with qh[32] (after the scales): bit 2j of qh[l] is the fifth bit
 * of value l of sub-block 2j, bit 2j+1 that of sub-block 2j+1. */
static void dq_q5_k(const uint8_t *b, float *y) {
    const float d = f16(b), dmin = f16(b + 2);
    const uint8_t *s = b + 4, *qh = b + 16, *q = b + 48;
    for (int j = 0; j < 4; j++, q += 32) {
        uint8_t sc, mn;
        inf__cpu_ggml_scale_min_k4(2 * j, s, &sc, &mn);
        const float d1 = d * sc, m1 = dmin * mn;
        inf__cpu_ggml_scale_min_k4(2 * j + 1, s, &sc, &mn);
        const float d2 = d * sc, m2 = dmin * mn;
        for (int l = 0; l < 32; l++)
            *y++ = d1 * (float)((q[l] & 0xF) + ((qh[l] >> (2 * j)) & 1) * 16) - m1;
        for (int l = 0; l < 32; l++)
            *y++ = d2 * (float)((q[l] >> 4) + ((qh[l] >> (2 * j + 1)) & 1) * 16) - m2;
    }
}

/* 256 values: ql[128] (low 4 bits), qh[64] (high 2 bits), int8
 * scales[16] (one per 16 values), f16 d; w = d*sc*(q-32).  Each 128
 * values: 64 bytes of ql, 32 of qh; value l, l+32, l+64, l+96 (l < 32)
 * from ql[l] low, ql[l+32] low, ql[l] high, ql[l+32] high nibble and bits
 * 0-1, 2-3, 4-5, 6-7 of qh[l]. */
static void dq_q6_k(const uint8_t *b, float *y) {
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    const float d = f16(b + 208);
    for (int n = 0; n < 256; n += 128, y += 128, ql += 64, qh += 32, sc += 8)
        for (int l = 0; l < 32; l++) {
            const int is = l / 16;
            const int q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32;
            const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
            const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l] = d * (float)sc[is] * (float)q1;
            y[l + 32] = d * (float)sc[is + 2] * (float)q2;
            y[l + 64] = d * (float)sc[is + 4] * (float)q3;
            y[l + 96] = d * (float)sc[is + 6] * (float)q4;
        }
}

void inf__cpu_ggml_dequant_block(inf__wfmt f, const uint8_t *blk, float *out) {
    switch (f) {
    case INF__W_Q8_0: dq_q8_0(blk, out); return;
    case INF__W_Q4_0: dq_q4_0(blk, out); return;
    case INF__W_Q4_1: dq_q4_1(blk, out); return;
    case INF__W_Q5_0: dq_q5_0(blk, out); return;
    case INF__W_Q5_1: dq_q5_1(blk, out); return;
    case INF__W_Q2_K: dq_q2_k(blk, out); return;
    case INF__W_Q3_K: dq_q3_k(blk, out); return;
    case INF__W_Q4_K: dq_q4_k(blk, out); return;
    case INF__W_Q5_K: dq_q5_k(blk, out); return;
    case INF__W_Q6_K: dq_q6_k(blk, out); return;
    default: return;
    }
}

void inf__cpu_ggml_dequant_range(const inf__weight *w, int64_t r, int64_t k0, int64_t nk,
                                 float *out) {
    const int64_t be = inf__cpu_ggml_block_elems(w->fmt);
    float tmp[256];
    int64_t k = k0;
    const int64_t end = k0 + nk;
    while (k < end) {
        const int64_t b = k / be, off = k - b * be;
        const int64_t take = be - off < end - k ? be - off : end - k;
        const uint8_t *blk = inf__cpu_ggml_block(w, r, b);
        if (off == 0 && take == be) {
            inf__cpu_ggml_dequant_block(w->fmt, blk, out + (k - k0));
        } else {
            inf__cpu_ggml_dequant_block(w->fmt, blk, tmp);
            memcpy(out + (k - k0), tmp + off, (size_t)take * sizeof(float));
        }
        k += take;
    }
}
