/* Portable reference kernels: plain C, f32 math, f32 accumulation in index
 * order. They define what "correct" means for the fast kernels. */
#include "backends/cpu/kernels.h"

#include <math.h>

#include "backends/cpu/ggml_blocks.h"

float inf__f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else { /* subnormal: renormalise */
            int e = -1;
            do { e++; man <<= 1; } while (!(man & 0x400));
            u = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Written here rather than taken from model/dummy.c (a sibling area the
 * cpu kernels' tests and benchmarks do not link): the same rounding, and
 * NaN payloads kept as F16C keeps them, so every set's kv_round is bit for
 * bit the same function. */
uint16_t inf__cpu_f32_to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    const uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    const uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) /* NaN: quiet, the payload's top bits kept */
        return (uint16_t)(sign | 0x7e00 | ((a >> 13) & 0x3ff));
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* >= 65520 (and inf): inf */
    uint32_t r, rem, halfway;
    if (a >= 0x38800000u) { /* normal half (>= 2^-14) */
        r = ((a >> 23) - 112) << 10 | ((a >> 13) & 0x3ff);
        rem = a & 0x1fff;
        halfway = 0x1000;
    } else { /* subnormal half: units of 2^-24 */
        if (a <= 0x33000000u) return sign; /* <= 2^-25 rounds to (even) zero */
        const uint32_t e = a >> 23, mant = (a & 0x7fffff) | 0x800000, shift = 126 - e;
        r = mant >> shift;
        rem = mant & ((1u << shift) - 1);
        halfway = 1u << (shift - 1);
    }
    /* Ties to even; a carry into the exponent is right (the largest
     * subnormal becomes the smallest normal, 2047.5 ulp the next power). */
    if (rem > halfway || (rem == halfway && (r & 1))) r++;
    return (uint16_t)(sign | r);
}

float inf__cpu_vec_get(const inf__vec *v, int64_t i) {
    if (!v || !v->data) return 0.0f;
    switch (v->fmt) {
    case INF__W_F32: return ((const float *)v->data)[i];
    case INF__W_F16: return inf__f16_to_f32(((const uint16_t *)v->data)[i]);
    case INF__W_BF16: return inf__bf16_to_f32(((const uint16_t *)v->data)[i]);
    default: return 0.0f;
    }
}

/* The ggml format a 16-row interleaved layout holds (model.h: *_R16). */
static inf__wfmt r16_block_fmt(inf__wfmt f) {
    return f == INF__W_Q4_0_R16 ? INF__W_Q4_0 : f == INF__W_Q8_0_R16 ? INF__W_Q8_0 : INF__W_Q6_K;
}

/* Block b of row r of a Q4_0_R16, Q8_0_R16 or Q6_K_R16 matrix as the
 * stored format's block (model.h gives where each byte went). */
static void r16_block(const inf__weight *w, int64_t r, int64_t b, uint8_t *blk) {
    const int64_t i = r % 16;
    if (w->fmt == INF__W_Q6_K_R16) {
        const int64_t nsb = w->cols / 256;
        const uint8_t *g = (const uint8_t *)w->data + (r / 16) * inf__q6kr16_group_bytes(w);
        const uint8_t *q = g + nsb * 288 + b * 3072;
        for (int n = 0; n < 2; n++)
            for (int k = 0; k < 16; k++) {
                memcpy(blk + 64 * n + 4 * k, q + 1536 * n + 64 * k + 4 * i, 4);
                if (k < 8) memcpy(blk + 128 + 32 * n + 4 * k, q + 1536 * n + 1024 + 64 * k + 4 * i, 4);
            }
        for (int m = 0; m < 16; m++) blk[192 + m] = g[nsb * 32 + b * 256 + 16 * m + i];
        memcpy(blk + 208, g + b * 32 + 2 * i, 2);
        return;
    }
    const int eight = w->fmt == INF__W_Q8_0_R16;
    const int64_t nb = w->cols / 32;
    const uint8_t *g = (const uint8_t *)w->data +
                       (r / 16) * (eight ? inf__q8r16_group_bytes(w) : inf__q4r16_group_bytes(w));
    memcpy(blk, g + b * 32 + 2 * i, 2);
    for (int k = 0; k < (eight ? 8 : 4); k++)
        for (int l = 0; l < 4; l++)
            blk[2 + 4 * k + l] = g[nb * 32 + b * (eight ? 512 : 256) + 64 * k + 4 * i + l] ^ (eight ? 0x80 : 0);
}

void inf__cpu_dequant_range(const inf__weight *w, int64_t r, int64_t k0,
                            int64_t nk, float *out) {
    const int64_t cols = w->cols;
    switch (w->fmt) {
    case INF__W_F32:
        memcpy(out, (const float *)w->data + r * cols + k0, (size_t)nk * 4);
        return;
    case INF__W_F16: {
        const uint16_t *p = (const uint16_t *)w->data + r * cols + k0;
        for (int64_t k = 0; k < nk; k++) out[k] = inf__f16_to_f32(p[k]);
        return;
    }
    case INF__W_BF16: {
        const uint16_t *p = (const uint16_t *)w->data + r * cols + k0;
        for (int64_t k = 0; k < nk; k++) out[k] = inf__bf16_to_f32(p[k]);
        return;
    }
    case INF__W_BF16_R32: { /* panels of 32 rows, 32-bit words of column pairs (model.h) */
        const uint16_t *p = (const uint16_t *)w->data + (r / 32) * 32 * cols + (r % 32) * 2;
        for (int64_t k = k0; k < k0 + nk; k++) out[k - k0] = inf__bf16_to_f32(p[(k / 2) * 64 + (k & 1)]);
        return;
    }
    case INF__W_Q4_K_R16:
    case INF__W_Q5_K_R16: { /* 16 rows interleaved (model.h), ggml's arithmetic (dq_q4_k, dq_q5_k) */
        const int five = w->fmt == INF__W_Q5_K_R16;
        const uint8_t *g = (const uint8_t *)w->data + (r / 16) * (five ? inf__q5kr16_group_bytes(w) : inf__q4kr16_group_bytes(w));
        const int64_t i = r % 16;
        for (int64_t k = k0; k < k0 + nk; k++) {
            const uint8_t *sb = g + (k / 256) * (five ? 2880 : 2368);
            const int j = (int)(k % 256 / 32), p = j / 2, l = (int)(k % 32);
            const float d = inf__f16_to_f32(inf__cpu_ggml_u16(sb + 2 * i)) * sb[64 + 32 * j + i];
            const float m = inf__f16_to_f32(inf__cpu_ggml_u16(sb + 32 + 2 * i)) * sb[64 + 32 * j + 16 + i];
            const uint8_t q = sb[320 + 512 * p + 64 * (l / 4) + 4 * i + l % 4];
            const int hi = five ? (sb[2368 + 64 * (l / 4) + 4 * i + l % 4] >> j & 1) << 4 : 0;
            out[k - k0] = d * (float)((j & 1 ? q >> 4 : q & 0xF) + hi) - m;
        }
        return;
    }
    case INF__W_Q3_K_R16:
    case INF__W_Q2_K_R16: { /* 16 rows interleaved (model.h), ggml's arithmetic (dq_q3_k, dq_q2_k) */
        const int three = w->fmt == INF__W_Q3_K_R16;
        const int64_t nsb = cols / 256, i = r % 16;
        const uint8_t *g = (const uint8_t *)w->data + (r / 16) * (three ? inf__q3kr16_group_bytes(w) : inf__q2kr16_group_bytes(w));
        for (int64_t k = k0; k < k0 + nk; k++) {
            const int64_t s = k / 256, kk = k % 256;
            const int n = (int)(kk / 128), j = (int)(kk % 128 / 32), l = (int)(kk % 32);
            /* this column's byte of qs (its bits 2j, 2j+1) and, Q3_K, of hmask */
            const uint8_t *v = g + nsb * (three ? 288 : 320) + s * (three ? 1536 : 1024) + 512 * n + 64 * (l / 4) + 4 * i + l % 4;
            const float d = inf__f16_to_f32(inf__cpu_ggml_u16(g + (three ? 32 : 64) * s + 2 * i));
            const int q = (*v >> (2 * j)) & 3;
            if (three) {
                const float dl = d * (float)(int8_t)g[nsb * 32 + s * 256 + 16 * (kk / 16) + i];
                out[k - k0] = dl * (float)(q - ((v[1024 - 512 * n] >> (4 * n + j)) & 1 ? 0 : 4));
            } else {
                const uint8_t sm = g[nsb * 64 + s * 256 + 16 * (kk / 16) + i];
                const float ml = inf__f16_to_f32(inf__cpu_ggml_u16(g + 64 * s + 32 + 2 * i)) * (float)(sm >> 4);
                out[k - k0] = d * (float)(sm & 0xF) * (float)q - ml;
            }
        }
        return;
    }
    case INF__W_Q4_0_R16:
    case INF__W_Q8_0_R16:
    case INF__W_Q6_K_R16: { /* 16 rows interleaved (model.h): row r's blocks put back together */
        const inf__wfmt f = r16_block_fmt(w->fmt);
        const int64_t be = inf__cpu_ggml_block_elems(f);
        uint8_t blk[210];
        float tmp[256];
        for (int64_t b = k0 / be; b * be < k0 + nk; b++) {
            r16_block(w, r, b, blk);
            inf__cpu_ggml_dequant_block(f, blk, tmp);
            const int64_t lo = b * be > k0 ? b * be : k0, hi = b * be + be < k0 + nk ? b * be + be : k0 + nk;
            memcpy(out + (lo - k0), tmp + (lo - b * be), (size_t)(hi - lo) * 4);
        }
        return;
    }
    case INF__W_MLX8_R16:
    case INF__W_MLX4_R16: { /* 16 rows interleaved (model.h), MLX's arithmetic (below) */
        const int64_t sbs = w->sb_dtype == INF__DT_F32 ? 4 : 2, i = r % 16;
        const uint8_t *g = (const uint8_t *)w->data + (r / 16) * inf__mlxr16_group_bytes(w);
        const uint8_t *v = g + cols / w->group * 32 * sbs;
        for (int64_t k = k0; k < k0 + nk; k++) {
            const uint8_t *sb = g + (k / w->group) * 32 * sbs;
            const int64_t b = k / 32, c = k % 32;
            uint32_t q;
            if (w->fmt == INF__W_MLX8_R16) {
                q = v[b * 512 + 64 * (c / 4) + 4 * i + c % 4];
            } else {
                const uint8_t byte = v[b * 256 + 64 * (c % 16 / 4) + 4 * i + c % 4];
                q = c < 16 ? byte & 15u : (uint32_t)byte >> 4;
            }
            out[k - k0] = inf__cpu_sb_get(sb, w->sb_dtype, i) * (float)q + inf__cpu_sb_get(sb + 16 * sbs, w->sb_dtype, i);
        }
        return;
    }
    case INF__W_MLX4:
    case INF__W_MLX8: {
        /* U32 words, values packed least-significant bits first. */
        const int bits = w->fmt == INF__W_MLX4 ? 4 : 8;
        const uint32_t mask = (1u << bits) - 1;
        const int64_t wpr = cols * bits / 32, gpr = cols / w->group;
        const uint32_t *q = (const uint32_t *)w->data + r * wpr;
        int64_t g = -1;
        float s = 0.0f, b = 0.0f;
        for (int64_t k = k0; k < k0 + nk; k++) {
            if (k / w->group != g) {
                g = k / w->group;
                s = inf__cpu_sb_get(w->scales, w->sb_dtype, r * gpr + g);
                b = inf__cpu_sb_get(w->biases, w->sb_dtype, r * gpr + g);
            }
            int64_t bit = k * bits;
            uint32_t v = (q[bit >> 5] >> (bit & 31)) & mask;
            out[k - k0] = s * (float)v + b;
        }
        return;
    }
    default:
        if (inf__cpu_is_ggml(w->fmt)) { /* ggml blocks (ggml_blocks.c) */
            inf__cpu_ggml_dequant_range(w, r, k0, nk, out);
            return;
        }
        memset(out, 0, (size_t)nk * 4);
        return;
    }
}

void inf__cpu_dequant_row(const inf__weight *w, int64_t r, float *out) {
    inf__cpu_dequant_range(w, r, 0, w->cols, out);
}

static float ref_dot(const float *a, const float *b, int64_t n) {
    float s = 0.0f;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static void ref_axpy(float a, const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

static void ref_attn_scores(const float *q, int nq, const float *k, int64_t ldk,
                            int64_t m, int64_t hd, float scale, float *s, int64_t lds) {
    for (int h = 0; h < nq; h++)
        for (int64_t j = 0; j < m; j++) s[h * lds + j] = ref_dot(q + h * hd, k + j * ldk, hd) * scale;
}

static void ref_attn_values(const float *p, int64_t ldp, int nq, const float *v,
                            int64_t ldv, int64_t m, int64_t hd, float *o, int add) {
    for (int h = 0; h < nq; h++)
        for (int64_t c0 = 0; c0 < hd; c0 += 64) { /* the sums from 0, then added */
            const int64_t nc = hd - c0 < 64 ? hd - c0 : 64;
            float t[64] = {0};
            for (int64_t j = 0; j < m; j++) ref_axpy(p[h * ldp + j], v + j * ldv + c0, t, nc);
            float *oh = o + h * hd + c0;
            for (int64_t i = 0; i < nc; i++) oh[i] = add ? oh[i] + t[i] : t[i];
        }
}

static void ref_kv_round(const float *x, uint16_t *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = inf__cpu_f32_to_f16(x[i]);
}

/* The f16 cache's kernels: ref_attn_scores / ref_attn_values with each
 * key / value widened first (the same sums, in the same order). */
static void ref_attn_scores_f16(const float *q, int nq, const uint16_t *k, int64_t ldk,
                                int64_t m, int64_t hd, float scale, float *s, int64_t lds) {
    for (int h = 0; h < nq; h++)
        for (int64_t j = 0; j < m; j++) {
            const float *qh = q + h * hd;
            const uint16_t *kj = k + j * ldk;
            float d = 0.0f;
            for (int64_t i = 0; i < hd; i++) d += qh[i] * inf__f16_to_f32(kj[i]);
            s[h * lds + j] = d * scale;
        }
}

static void ref_attn_values_f16(const float *p, int64_t ldp, int nq, const uint16_t *v,
                                int64_t ldv, int64_t m, int64_t hd, float *o, int add) {
    for (int h = 0; h < nq; h++)
        for (int64_t c0 = 0; c0 < hd; c0 += 64) {
            const int64_t nc = hd - c0 < 64 ? hd - c0 : 64;
            float t[64] = {0};
            for (int64_t j = 0; j < m; j++) {
                const float a = p[h * ldp + j];
                const uint16_t *vj = v + j * ldv + c0;
                for (int64_t i = 0; i < nc; i++) t[i] += a * inf__f16_to_f32(vj[i]);
            }
            float *oh = o + h * hd + c0;
            for (int64_t i = 0; i < nc; i++) oh[i] = add ? oh[i] + t[i] : t[i];
        }
}

static void ref_softmax(float *s, int64_t m) {
    float mx = -INFINITY, sum = 0.0f;
    for (int64_t j = 0; j < m; j++) mx = s[j] > mx ? s[j] : mx;
    for (int64_t j = 0; j < m; j++) { s[j] = expf(s[j] - mx); sum += s[j]; }
    const float inv = 1.0f / sum;
    for (int64_t j = 0; j < m; j++) s[j] *= inv;
}

/* Each row is dequantised a chunk at a time into a stack buffer and dotted
 * with every token (running f32 sums in index order, so chunking does not
 * change the result): the weights are read once per call. */
#define REF_CHUNK 2048
static void ref_matmul_rows(const inf__weight *w, const float *x, int64_t ldx,
                            int64_t n, float *y, int64_t ldy, int64_t r0,
                            int64_t r1) {
    float row[REF_CHUNK];
    for (int64_t r = r0; r < r1; r++) {
        for (int64_t t = 0; t < n; t++) y[t * ldy + r] = 0.0f;
        for (int64_t k0 = 0; k0 < w->cols; k0 += REF_CHUNK) {
            int64_t nk = w->cols - k0 < REF_CHUNK ? w->cols - k0 : REF_CHUNK;
            inf__cpu_dequant_range(w, r, k0, nk, row);
            for (int64_t t = 0; t < n; t++) {
                const float *xt = x + t * ldx + k0;
                float s = y[t * ldy + r];
                for (int64_t k = 0; k < nk; k++) s += row[k] * xt[k];
                y[t * ldy + r] = s;
            }
        }
    }
}

const inf__cpu_kernels inf__cpu_kernels_ref = {
    "reference", ref_matmul_rows, ref_dot, ref_axpy, ref_attn_scores, ref_attn_values,
    ref_softmax, NULL, NULL, NULL, /* exact: no integer kernels */
    ref_kv_round, ref_attn_scores_f16, ref_attn_values_f16,
    NULL, NULL, 0, /* weights read as stored */
    NULL,          /* ops.c's act_mul */
    NULL, NULL, NULL, NULL, /* no bf16 matmul input */
};
