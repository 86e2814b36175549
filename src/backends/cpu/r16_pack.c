/*
 * The 16-row interleaved layouts' packers (model.h: INF__W_*_R16;
 * kernels_x86.h: inf__cpu_r16_pack_bytes, inf__cpu_r16_pack): byte
 * shuffles in portable C, so that every kernel set that reads a layout
 * (kernels_r16.c on AVX-512 VNNI, kernels_q8_gg.c on AVX2) can make it;
 * compiled without any target of its own.  Why the layouts look as they do:
 * kernels_r16.c.
 */
#include "backends/cpu/kernels_x86.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include <string.h>

#include "backends/cpu/ggml_blocks.h"
#include "backends/cpu/r16_layout.h"

#define group_bytes inf__r16_group_bytes

int64_t inf__cpu_r16_pack_bytes(const inf__weight *w) {
    if (w->rows <= 0) return 0;
    if ((w->fmt == INF__W_MLX8 || w->fmt == INF__W_MLX4) && w->group >= 32 && w->group <= 512 &&
        (w->group & (w->group - 1)) == 0 && w->cols % w->group == 0)
        return (w->rows + 15) / 16 * inf__mlxr16_group_bytes(w);
    if (w->fmt == INF__W_Q8_0 && w->cols % 32 == 0) return (w->rows + 15) / 16 * inf__q8r16_group_bytes(w);
    if (w->fmt == INF__W_Q4_0 && w->cols % 32 == 0) return (w->rows + 15) / 16 * inf__q4r16_group_bytes(w);
    if (w->fmt == INF__W_Q4_K && w->cols % 256 == 0) return (w->rows + 15) / 16 * inf__q4kr16_group_bytes(w);
    if (w->fmt == INF__W_Q5_K && w->cols % 256 == 0) return (w->rows + 15) / 16 * inf__q5kr16_group_bytes(w);
    if (w->fmt == INF__W_Q6_K && w->cols % 256 == 0 && w->cols <= Q6_K_MAX_COLS)
        return (w->rows + 15) / 16 * inf__q6kr16_group_bytes(w);
    if (w->fmt == INF__W_Q3_K && w->cols % 256 == 0 && w->cols <= Q6_K_MAX_COLS)
        return (w->rows + 15) / 16 * inf__q3kr16_group_bytes(w);
    if (w->fmt == INF__W_Q2_K && w->cols % 256 == 0 && w->cols <= Q6_K_MAX_COLS)
        return (w->rows + 15) / 16 * inf__q2kr16_group_bytes(w);
    return 0;
}

/* Row i of group grp from the stored row src (NULL: a missing row, zero;
 * the ggml formats' packers).  Q4_0 and Q8_0: a block's scale, then its
 * 16 or 32 value bytes in parts of 4 (Q8_0's plus 128). */
static void pack_q4_0_q8_0_row(const inf__weight *w, const uint8_t *src, uint8_t *grp, int i) {
    const int eight = w->fmt == INF__W_Q8_0;
    const int64_t nb = w->cols / 32, bb = eight ? 34 : 18;
    static const uint8_t zero[34];
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = src ? src + b * bb : zero;
        memcpy(grp + b * 32 + 2 * i, blk, 2);
        for (int k = 0; k < (eight ? 8 : 4); k++)
            for (int l = 0; l < 4; l++)
                grp[nb * 32 + b * (eight ? 512 : 256) + 64 * k + 4 * i + l] = blk[2 + 4 * k + l] ^ (eight ? 0x80 : 0);
    }
}

/* MLX: row r (or a missing row, zero) into row i of group grp. */
static void pack_mlx_row(const inf__weight *w, int64_t r, uint8_t *grp, int i) {
    const int64_t sbs = w->sb_dtype == INF__DT_F32 ? 4 : 2, ng = w->cols / w->group;
    const int have = r < w->rows;
    for (int64_t j = 0; j < ng; j++) {
        uint8_t *sb = grp + j * 32 * sbs;
        if (have) {
            memcpy(sb + i * sbs, (const char *)w->scales + (r * ng + j) * sbs, (size_t)sbs);
            memcpy(sb + (16 + i) * sbs, (const char *)w->biases + (r * ng + j) * sbs, (size_t)sbs);
        } else {
            memset(sb + i * sbs, 0, (size_t)sbs);
            memset(sb + (16 + i) * sbs, 0, (size_t)sbs);
        }
    }
    uint8_t *v = grp + ng * 32 * sbs;
    for (int64_t b = 0; b < w->cols / 32; b++) {
        uint8_t q[32] = {0}; /* the block's values */
        if (have && w->bits == 8) {
            memcpy(q, (const uint8_t *)w->data + r * w->cols + 32 * b, 32);
        } else if (have) {
            const uint8_t *p = (const uint8_t *)w->data + r * (w->cols / 2) + 16 * b;
            for (int c = 0; c < 32; c++) q[c] = (uint8_t)((p[c / 2] >> (4 * (c & 1))) & 15);
        }
        for (int k = 0; k < w->bits; k++) /* parts: MLX8 8, MLX4 4 */
            for (int l = 0; l < 4; l++)
                v[b * 64 * w->bits + 64 * k + 4 * i + l] =
                    w->bits == 8 ? q[4 * k + l] : (uint8_t)(q[4 * k + l] | q[16 + 4 * k + l] << 4);
    }
}

/* Q4_K and Q5_K (ggml's blocks: d, dmin, 12 bytes of scales and
 * minimums, Q5_K's 32 bytes of fifth bits, 128 of nibbles). */
static void pack_k_row(const inf__weight *w, const uint8_t *src, uint8_t *grp, int i) {
    static const uint8_t zero[176];
    const int five = w->fmt == INF__W_Q5_K;
    const int64_t bb = five ? 176 : 144, ssb = five ? K5SB : KSB;
    for (int64_t s = 0; s < w->cols / 256; s++) {
        const uint8_t *blk = src ? src + s * bb : zero;
        uint8_t *sb = grp + s * ssb;
        memcpy(sb + 2 * i, blk, 2);
        memcpy(sb + 32 + 2 * i, blk + 2, 2);
        for (int j = 0; j < 8; j++)
            inf__cpu_ggml_scale_min_k4(j, blk + 4, &sb[KSC + 32 * j + i], &sb[KSC + 32 * j + 16 + i]);
        for (int pk = 0; pk < 32; pk++) memcpy(sb + KQ + 64 * pk + 4 * i, blk + (five ? 48 : 16) + 4 * pk, 4);
        for (int k = 0; five && k < 8; k++) memcpy(sb + KQH + 64 * k + 4 * i, blk + 16 + 4 * k, 4);
    }
}

static void pack_q6_k_row(const inf__weight *w, const uint8_t *src, uint8_t *grp, int i) {
    const int64_t nsb = w->cols / 256;
    static const uint8_t zero[210];
    for (int64_t s = 0; s < nsb; s++) {
        const uint8_t *b = src ? src + s * 210 : zero;
        memcpy(grp + s * 32 + 2 * i, b + 208, 2);
        for (int m = 0; m < 16; m++) grp[Q6SC(nsb) + s * 256 + 16 * m + i] = b[192 + m];
        uint8_t *q = grp + Q6Q(nsb) + s * 3072;
        for (int n = 0; n < 2; n++)
            for (int k = 0; k < 16; k++) {
                memcpy(q + 1536 * n + 64 * k + 4 * i, b + 64 * n + 4 * k, 4);
                if (k < 8) memcpy(q + 1536 * n + 1024 + 64 * k + 4 * i, b + 128 + 32 * n + 4 * k, 4);
            }
    }
}

/* Q3_K (ggml's block: hmask[32], qs[64], scales[12], f16 d): d and the
 * scales unpacked as Q6_K_R16's, the values' bytes in parts. */
static void pack_q3_k_row(const inf__weight *w, const uint8_t *src, uint8_t *grp, int i) {
    const int64_t nsb = w->cols / 256;
    static const uint8_t zero[110];
    for (int64_t s = 0; s < nsb; s++) {
        const uint8_t *b = src ? src + s * 110 : zero;
        memcpy(grp + s * 32 + 2 * i, b + 108, 2);
        for (int m = 0; m < 16; m++) grp[Q6SC(nsb) + s * 256 + 16 * m + i] = (uint8_t)(int8_t)inf__cpu_ggml_scale_k3(b + 96, m);
        uint8_t *q = grp + Q3Q(nsb) + s * 1536;
        for (int k = 0; k < 8; k++) {
            memcpy(q + 64 * k + 4 * i, b + 32 + 4 * k, 4);
            memcpy(q + 512 + 64 * k + 4 * i, b + 64 + 4 * k, 4);
            memcpy(q + 1024 + 64 * k + 4 * i, b + 4 * k, 4);
        }
    }
}

/* Q2_K (ggml's block: scales[16], qs[64], f16 d, f16 dmin). */
static void pack_q2_k_row(const inf__weight *w, const uint8_t *src, uint8_t *grp, int i) {
    const int64_t nsb = w->cols / 256;
    static const uint8_t zero[84];
    for (int64_t s = 0; s < nsb; s++) {
        const uint8_t *b = src ? src + s * 84 : zero;
        memcpy(grp + s * 64 + 2 * i, b + 80, 2);
        memcpy(grp + s * 64 + 32 + 2 * i, b + 82, 2);
        for (int m = 0; m < 16; m++) grp[Q2SC(nsb) + s * 256 + 16 * m + i] = b[m];
        uint8_t *q = grp + Q2Q(nsb) + s * 1024;
        for (int k = 0; k < 16; k++) memcpy(q + 64 * k + 4 * i, b + 16 + 4 * k, 4);
    }
}

void inf__cpu_r16_pack(const inf__weight *w, int64_t r0, int64_t r1, void *dst, inf__weight *out) {
    *out = *w;
    out->fmt = w->fmt == INF__W_Q4_K   ? INF__W_Q4_K_R16
               : w->fmt == INF__W_Q5_K ? INF__W_Q5_K_R16
               : w->fmt == INF__W_Q6_K ? INF__W_Q6_K_R16
               : w->fmt == INF__W_Q3_K ? INF__W_Q3_K_R16
               : w->fmt == INF__W_Q2_K ? INF__W_Q2_K_R16
               : w->fmt == INF__W_Q8_0 ? INF__W_Q8_0_R16
               : w->fmt == INF__W_MLX8 ? INF__W_MLX8_R16
               : w->fmt == INF__W_MLX4 ? INF__W_MLX4_R16
                                       : INF__W_Q4_0_R16;
    out->data = dst;
    const int64_t gb = group_bytes(w);
    if (w->fmt == INF__W_MLX8 || w->fmt == INF__W_MLX4) {
        out->scales = out->biases = NULL;
        for (int64_t g = r0 / 16; g * 16 < r1; g++)
            for (int i = 0; i < 16; i++) pack_mlx_row(w, g * 16 + i, (uint8_t *)dst + g * gb, i);
        return;
    }
    const int64_t rb = w->cols / inf__cpu_ggml_block_elems(w->fmt) * inf__cpu_ggml_block_bytes(w->fmt);
    for (int64_t g = r0 / 16; g * 16 < r1; g++)
        for (int i = 0; i < 16; i++) {
            const int64_t r = g * 16 + i;
            const uint8_t *src = r < w->rows ? (const uint8_t *)w->data + r * rb : NULL;
            if (w->fmt == INF__W_Q4_K || w->fmt == INF__W_Q5_K) pack_k_row(w, src, (uint8_t *)dst + g * gb, i);
            else if (w->fmt == INF__W_Q6_K) pack_q6_k_row(w, src, (uint8_t *)dst + g * gb, i);
            else if (w->fmt == INF__W_Q3_K) pack_q3_k_row(w, src, (uint8_t *)dst + g * gb, i);
            else if (w->fmt == INF__W_Q2_K) pack_q2_k_row(w, src, (uint8_t *)dst + g * gb, i);
            else pack_q4_0_q8_0_row(w, src, (uint8_t *)dst + g * gb, i);
        }
}

#endif
