/*
 * Precision fast's MLX decode layer: the set beneath except
 * that one-token MLX4/MLX8 products quantise the activation vector x to
 * int8 (one f32 scale d_b per block of 32, d_b = max|x|/127) and use
 * integer dot products (_mm256_maddubs_epi16 + _mm256_madd_epi16), as
 * llama.cpp's Q8 activations do.  This changes the numerics (each x_k moves
 * by at most d_b/2): part of precision fast only (kernels_select.c).
 *
 * Row r of an MLX matrix is sum_g s_g sum_{k in g} q_k x_k + b_g X_g with
 * X_g the exact f32 sum of x over group g; the first term becomes
 * s_g sum_{b in g} d_b sum_{k in b} q_k xq_k, the bias term stays exact.
 * MLX8 values q in [0,255] would overflow maddubs' int16 pair sums, so the
 * kernel uses q' = q - 128 (|q'| <= 128, pairs <= 2*128*127) and adds back
 * 128 d_b sum(xq) per block through a per-group correction C_g.
 */
#include "backends/cpu/kernels.h"
#include "backends/cpu/kernels_x86.h"
#include "backends/cpu/ops.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include <immintrin.h>
#include <string.h>

#define TGT __attribute__((target("avx2,fma,f16c")))
#define AI static inline __attribute__((always_inline))

#define Q8_MAX_COLS 16384 /* larger rows take the exact kernels */

/* Rows [r, r+R)'s scales as f32 into sf[i][g] (g < gpr), converted before
 * the dot products: a dependent scalar load per group missed the cache and
 * stalled the loop.  Also prefetches the scales and biases of the rows
 * `ahead` bytes of values on (the values themselves are paced, R * 32
 * bytes per step of either kernel). */
TGT AI void row_scales(const inf__weight *w, int R, int64_t r, int64_t bpr, int64_t ahead,
                       float (*sf)[Q8_MAX_COLS / 32]) {
    const int64_t gpr = w->cols / w->group;
    inf__mlx_prefetch_sb(w, r + ahead / bpr, R);
    for (int i = 0; i < R; i++) {
        int64_t g = 0;
        for (; g + 8 <= gpr; g += 8) _mm256_storeu_ps(sf[i] + g, inf__load_sb8(w->scales, w->sb_dtype, (r + i) * gpr + g));
        for (; g < gpr; g++) sf[i][g] = inf__load_sb(w->scales, w->sb_dtype, (r + i) * gpr + g);
    }
}

/* x quantised once per call (one token). */
typedef struct q8x {
    int8_t xq[Q8_MAX_COLS] __attribute__((aligned(32))); /* MLX8: in order; MLX4: see below */
    float d[Q8_MAX_COLS / 32];      /* block scale d_b */
    float dl[Q8_MAX_COLS / 32 * 4]; /* d_b repeated 4 times: [d_2c x4, d_2c+1 x4] per 64 */
    float xs[Q8_MAX_COLS / 8];      /* exact f32 sum of x per weight group */
    float corr[Q8_MAX_COLS / 8];    /* MLX8: 128 sum_{b in g} d_b sum(xq_b) */
} q8x;

/* Quantises x[cols] (cols % 64 == 0, G % 32 == 0).  For MLX4 each 64-value
 * chunk c is stored as xq[64c + j] = q(x[64c + 2j]), xq[64c + 32 + j] =
 * q(x[64c + 2j + 1]) (j < 32): the low nibbles of a 32-byte weight load are
 * the even values, the high nibbles the odd ones. */
TGT static void quantise_x(const float *x, int64_t cols, int64_t G, int q4, q8x *o) {
    const int64_t nb = cols / 32;
    int32_t isum[Q8_MAX_COLS / 32];
    int8_t tmp[32];
    for (int64_t b = 0; b < nb; b++) {
        const float d = inf__q8_block32(x + 32 * b, tmp, &isum[b]);
        o->d[b] = d;
        if (q4) {
            /* block b = 2c + h covers j-lanes [16h, 16h+16) of chunk c */
            const int64_t c = b / 2, hb = b % 2;
            for (int j = 0; j < 16; j++) {
                o->xq[64 * c + 16 * hb + j] = tmp[2 * j];
                o->xq[64 * c + 32 + 16 * hb + j] = tmp[2 * j + 1];
            }
        } else {
            memcpy(o->xq + 32 * b, tmp, 32);
        }
        for (int l = 0; l < 4; l++) o->dl[4 * b + l] = d;
    }
    const int64_t gpr = cols / G, bpg = G / 32;
    for (int64_t g = 0; g < gpr; g++) {
        __m256 a = _mm256_setzero_ps();
        for (int64_t k = g * G; k < (g + 1) * G; k += 8) a = _mm256_add_ps(a, _mm256_loadu_ps(x + k));
        o->xs[g] = inf__hsum8(a);
        float c = 0.0f;
        for (int64_t b = g * bpg; b < (g + 1) * bpg; b++) c += o->d[b] * (float)isum[b];
        o->corr[g] = 128.0f * c;
    }
}

/* MLX4 rows [r, r+R): a 32-byte load is 64 values; low nibbles (even
 * values) and high nibbles (odd values) meet the permuted xq.  int32 lanes
 * 0-3 belong to block 2c, 4-7 to block 2c+1, hence the [d x4, d x4]
 * scale vector.  Groups: 32 or a multiple of 64. */
TGT AI void q4_rows(int R, const inf__weight *w, int64_t r, int64_t ahead, const q8x *o, float *y) {
    const int64_t cols = w->cols, G = w->group, gpr = cols / G, wpr = cols / 8;
    const uint32_t *q = (const uint32_t *)w->data;
    const __m256i m4 = _mm256_set1_epi8(15);
    const __m256i ones = _mm256_set1_epi16(1);
    float sf[4][Q8_MAX_COLS / 32];
    row_scales(w, R, r, cols / 2, ahead, sf);
    const char *next = (const char *)w->data + r * (cols / 2) + ahead;
    __m256 acc[4];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) acc[i] = _mm256_setzero_ps();
    const int64_t bpg = G >= 64 ? G / 64 : 1;
    int64_t gb = 0, cnt = 0;
    for (int64_t c = 0; c < cols / 64; c++) {
        const __m256i xlo = _mm256_load_si256((const __m256i *)(o->xq + 64 * c));
        const __m256i xhi = _mm256_load_si256((const __m256i *)(o->xq + 64 * c + 32));
        const __m256 dv = _mm256_loadu_ps(o->dl + 8 * c);
        inf__pf_share(next, R * 32, c);
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(q + (r + i) * wpr + 8 * c));
            const __m256i lo = _mm256_and_si256(v, m4);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
            const __m256i p16 = _mm256_add_epi16(_mm256_maddubs_epi16(lo, xlo), _mm256_maddubs_epi16(hi, xhi));
            const __m256 p = _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, ones));
            __m256 sv;
            if (G == 32)
                sv = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_set1_ps(sf[i][gb])),
                                          _mm_set1_ps(sf[i][gb + 1]), 1);
            else
                sv = _mm256_set1_ps(sf[i][gb]);
            acc[i] = _mm256_fmadd_ps(p, _mm256_mul_ps(sv, dv), acc[i]);
        }
        if (G == 32) gb += 2;
        else if (++cnt == bpg) { cnt = 0; gb++; }
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
        y[r + i] = inf__hsum8(acc[i]) + inf__sb_dot(w->biases, w->sb_dtype, (r + i) * gpr, o->xs, gpr);
}

/* MLX8 rows [r, r+R): 32 values per load, q' = q ^ 0x80 = q - 128 as
 * signed bytes, |q'| . sign(xq, q') through maddubs; the 128 sum(xq) part
 * comes back as sum_g s_g corr_g. */
TGT AI void q8_rows(int R, const inf__weight *w, int64_t r, int64_t ahead, const q8x *o, float *y) {
    const int64_t cols = w->cols, G = w->group, gpr = cols / G, wpr = cols / 4;
    const uint32_t *q = (const uint32_t *)w->data;
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[4];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) acc[i] = _mm256_setzero_ps();
    const int64_t bpg = G / 32;
    float sf[4][Q8_MAX_COLS / 32];
    row_scales(w, R, r, cols, ahead, sf);
    const char *next = (const char *)w->data + r * cols + ahead;
    for (int64_t g = 0; g < gpr; g++) {
        __m256 sv[4];
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) sv[i] = _mm256_set1_ps(sf[i][g]);
        for (int64_t b = g * bpg; b < (g + 1) * bpg; b++) {
            const __m256i xv = _mm256_load_si256((const __m256i *)(o->xq + 32 * b));
            const __m256 dv = _mm256_broadcast_ss(o->d + b);
            inf__pf_share(next, R * 32, b);
#pragma GCC unroll 4
            for (int i = 0; i < R; i++) {
                const __m256i v = _mm256_xor_si256(
                    _mm256_loadu_si256((const __m256i *)(q + (r + i) * wpr + 8 * b)), flip);
                const __m256i p16 = _mm256_maddubs_epi16(_mm256_abs_epi8(v), _mm256_sign_epi8(xv, v));
                const __m256 p = _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, ones));
                acc[i] = _mm256_fmadd_ps(p, _mm256_mul_ps(sv[i], dv), acc[i]);
            }
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
        y[r + i] = inf__hsum8(acc[i]) + inf__sb_dot(w->scales, w->sb_dtype, (r + i) * gpr, o->corr, gpr) +
                   inf__sb_dot(w->biases, w->sb_dtype, (r + i) * gpr, o->xs, gpr);
}

TGT static void q4_matvec(const inf__weight *w, const q8x *o, float *y, int64_t r0, int64_t r1) {
    const int64_t bpr = w->cols / 2, a4 = inf__pf_ahead(4 * bpr), a1 = inf__pf_ahead(bpr);
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) q4_rows(4, w, r, a4, o, y);
    for (; r < r1; r++) q4_rows(1, w, r, a1, o, y);
}

TGT static void q8_matvec(const inf__weight *w, const q8x *o, float *y, int64_t r0, int64_t r1) {
    const int64_t bpr = w->cols, a4 = inf__pf_ahead(4 * bpr), a1 = inf__pf_ahead(bpr);
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) q8_rows(4, w, r, a4, o, y);
    for (; r < r1; r++) q8_rows(1, w, r, a1, o, y);
}

static const inf__cpu_kernels *base; /* the exact set underneath (inf__cpu_q8_build) */

static void q8_matmul_rows(const inf__weight *w, const float *x, int64_t ldx, int64_t n,
                           float *y, int64_t ldy, int64_t r0, int64_t r1) {
    const int mlx = w->fmt == INF__W_MLX4 || w->fmt == INF__W_MLX8;
    const int64_t G = w->group;
    int ok = mlx && n == 1 && G > 0 && G % 32 == 0 && w->cols % G == 0 && w->cols % 64 == 0 &&
             w->cols <= Q8_MAX_COLS;
    if (ok && w->fmt == INF__W_MLX4 && !(G == 32 || G % 64 == 0)) ok = 0;
    if (!ok) {
        base->matmul_rows(w, x, ldx, n, y, ldy, r0, r1);
        return;
    }
    /* About 40 KiB: on the stack of whichever thread runs the chunk. */
    q8x o __attribute__((aligned(32)));
    quantise_x(x, w->cols, G, w->fmt == INF__W_MLX4, &o);
    if (w->fmt == INF__W_MLX4) q4_matvec(w, &o, y, r0, r1);
    else q8_matvec(w, &o, y, r0, r1);
}

static int64_t q8_pack_bytes(const inf__weight *w) {
    const int64_t b = inf__cpu_q8_gg_pack_bytes(w);
    if (b > 0) return b;
    return base->pack_bytes ? base->pack_bytes(w) : 0;
}

static void q8_pack(const inf__weight *w, int64_t r0, int64_t r1, void *dst, inf__weight *out) {
    if (inf__cpu_q8_gg_pack_bytes(w) > 0) inf__cpu_r16_pack(w, r0, r1, dst, out);
    else base->pack(w, r0, r1, dst, out);
}

/* ---- precision fast's SiLU ----------------------------------------------
 *
 * kernels_avx512.c's (g = g / (1 + exp(-g)) * u, exp in double precision
 * and rounded to float: libm's expf but in very rare cases) 8 at a time:
 * the same double operations, so the same floats on either set.  AVX2
 * has no vscalefpd: 2^n is built in the exponent field, exact for the
 * clamped range (n in [-151, 129]).  libm's expf, one value at a time,
 * was ~5% of a Qwen3-0.6B Q4_0 prefill on Zen 3 (perf: act_mul and
 * __expf_fma). */
TGT AI __m256d exp256d(__m256d x) {
    x = _mm256_min_pd(_mm256_max_pd(x, _mm256_set1_pd(-104.0)), _mm256_set1_pd(89.0));
    const __m256d n = _mm256_round_pd(_mm256_mul_pd(x, _mm256_set1_pd(1.4426950408889634)),
                                      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256d r = _mm256_fnmadd_pd(n, _mm256_set1_pd(6.93147180369123816490e-01), x);
    r = _mm256_fnmadd_pd(n, _mm256_set1_pd(1.90821492927058770002e-10), r);
    __m256d p = _mm256_set1_pd(1.0 / 39916800.0); /* 1/11! */
    for (int i = 0; i < 11; i++) p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(inf__exp_taylor[i]));
    const __m256i e = _mm256_slli_epi64(_mm256_add_epi64(_mm256_cvtepi32_epi64(_mm256_cvtpd_epi32(n)),
                                                         _mm256_set1_epi64x(1023)), 52);
    return _mm256_mul_pd(p, _mm256_castsi256_pd(e));
}

/* silu(v) * u for 8 lanes: v / (1 + exp(-v)) * u, the exp in double. */
TGT AI __m256 silu_mul8(__m256 v, __m256 u) {
    const __m256 nv = _mm256_sub_ps(_mm256_setzero_ps(), v);
    const __m128 e0 = _mm256_cvtpd_ps(exp256d(_mm256_cvtps_pd(_mm256_castps256_ps128(nv))));
    const __m128 e1 = _mm256_cvtpd_ps(exp256d(_mm256_cvtps_pd(_mm256_extractf128_ps(nv, 1))));
    const __m256 e = _mm256_set_m128(e1, e0);
    return _mm256_mul_ps(_mm256_div_ps(v, _mm256_add_ps(_mm256_set1_ps(1.0f), e)), u);
}

/* The masked loads and stores only for the last 1-7 values: AMD runs
 * vmaskmovps to memory as microcode (Zen 3: perf put ~20% of this
 * function's samples next to them when every step was masked). */
TGT static void avx2_act_mul(inf__act act, float *g, const float *u, int64_t n) {
    if (act != INF__ACT_SILU) {
        inf__cpu_act_mul(act, g, u, n);
        return;
    }
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(g + i, silu_mul8(_mm256_loadu_ps(g + i), _mm256_loadu_ps(u + i)));
    if (i < n) { /* the last 1-7: masked, the same operations */
        const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n - i)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        _mm256_maskstore_ps(g + i, m, silu_mul8(_mm256_maskload_ps(g + i, m), _mm256_maskload_ps(u + i, m)));
    }
}

void (*const inf__cpu_avx2_act_mul)(inf__act, float *, const float *, int64_t) = avx2_act_mul;

static inf__cpu_kernels q8_set;

const inf__cpu_kernels *inf__cpu_q8_build(const inf__cpu_kernels *exact) {
    base = exact;
    q8_set = *exact;
    q8_set.name = strncmp(exact->name, "avx512", 6) == 0 ? "avx512-fast" : "avx2-fast";
    q8_set.matmul_rows = q8_matmul_rows;
    /* ggml Q4_0 and Q4_K: int8 products (kernels_q8_gg.c) */
    q8_set.q8_takes = inf__cpu_q8_gg_takes;
    q8_set.q8_quantize = inf__cpu_q8_gg_quantize;
    q8_set.matmul_q8 = inf__cpu_q8_gg_matmul;
    /* Q4_0 repacked 16 rows at a time at load (kernels.h: pack); the set
     * beneath packs the rest (BF16's panels on AVX-512 BF16) */
    q8_set.pack_bytes = q8_pack_bytes;
    q8_set.pack = q8_pack;
    q8_set.pack_rows = exact->pack_rows > 16 ? exact->pack_rows : 16;
    q8_set.act_mul = strncmp(exact->name, "avx512", 6) == 0 ? inf__cpu_avx512_act_mul : inf__cpu_avx2_act_mul;
    return &q8_set;
}

#endif
