/*
 * AVX2+FMA+F16C kernels.  Every function carries a target attribute instead
 * of the file being compiled with -mavx2, so the library still runs on any
 * x86-64: kernels_select.c checks the processor at run time.
 *
 * Decode (one token) streams each weight once, converting in registers:
 * 8 dense rows at a time (8 independent FMA chains), MLX rows with the
 * per-group scale/bias applied once per group, and MLX4 with x permuted so
 * one 256-bit load feeds 64 weights.  Two to four tokens of a dense matrix
 * (batched decode) convert each weight vector once in registers for all
 * of them; 2-4 tokens (INF__CPU_MLX_FEW_MAX) of an MLX matrix unpack and
 * scale each 8 quantised values once for all of them (mlx_few).  More tokens dequantise
 * a 4-row x 512-column weight tile into L1 once per block of up to 96
 * tokens and run a 4-row x 3-token f32 register tile over it; from
 * INF__CPU_GEMM_MIN_TOKENS (prefill) the packed GEMM of kernels_avx2_gemm.c.
 */
#include "backends/cpu/kernels.h"
#include "backends/cpu/kernels_x86.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include <immintrin.h>
#include <math.h>

#define TGT __attribute__((target("avx2,fma,f16c")))
#define AI static inline __attribute__((always_inline))

enum { F_F32, F_F16, F_BF16, F_Q4, F_Q8, F_GG /* ggml blocks */ };

/* The dense formats' kernels_x86.h conversions (fmt: F_F32, F_F16, F_BF16). */
TGT AI inf__wfmt dense_wfmt(int fmt) { return fmt == F_F32 ? INF__W_F32 : fmt == F_F16 ? INF__W_F16 : INF__W_BF16; }
TGT AI __m256 load_dense(int fmt, const void *data, int64_t i) { return inf__dense8(dense_wfmt(fmt), data, i); }
TGT AI float load_dense1(int fmt, const void *data, int64_t i) { return inf__dense1(dense_wfmt(fmt), data, i); }

/* 8 quantised values (as f32, before scale/bias) of a row whose packed
 * words start at q, from element k (k % 8 == 0). */
TGT AI __m256 load_q(int fmt, const uint32_t *q, int64_t k) {
    if (fmt == F_Q4) {
        const __m256i shifts = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
        __m256i v = _mm256_srlv_epi32(_mm256_set1_epi32((int)q[k >> 3]), shifts);
        return _mm256_cvtepi32_ps(_mm256_and_si256(v, _mm256_set1_epi32(15)));
    }
    __m128i b = _mm_loadl_epi64((const __m128i *)((const uint8_t *)q + k));
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b));
}

/* ---- decode (one token): weights converted in registers ----------------- */

/* Dense rows [r, r+R) . x for T tokens (R*T <= 12 accumulators), each
 * weight vector converted once for the T tokens.  The same per-output
 * summation order for every T, so a sequence's logits do not depend on how
 * many others share its decode step. */
TGT AI void dense_rows(int fmt, int R, int T, const inf__weight *w, int64_t r,
                       const float *x, int64_t ldx, float *y, int64_t ldy) {
    const int64_t cols = w->cols, kend = cols & ~(int64_t)7;
    /* one token: paced prefetch (kernels_x86.h); the hardware prefetcher
     * alone kept BF16 ~10% below llama.cpp on Qwen3-0.6B.  Prefetches
     * change no result. */
    const int64_t es = fmt == F_F32 ? 4 : 2, step = R * 8 * es; /* a constant */
    const char *next = (const char *)w->data + r * cols * es + (T == 1 ? inf__pf_ahead(R * cols * es) : 0);
    __m256 acc[8][4];
#pragma GCC unroll 8
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) acc[i][t] = _mm256_setzero_ps();
    for (int64_t k = 0; k < kend; k += 8) {
        __m256 xv[4];
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) xv[t] = _mm256_loadu_ps(x + t * ldx + k);
        if (T == 1) inf__pf_share(next, step, k / 8);
#pragma GCC unroll 8
        for (int i = 0; i < R; i++) {
            const __m256 wv = load_dense(fmt, w->data, (r + i) * cols + k);
#pragma GCC unroll 4
            for (int t = 0; t < T; t++) acc[i][t] = _mm256_fmadd_ps(wv, xv[t], acc[i][t]);
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            float s = inf__hsum8(acc[i][t]);
            for (int64_t k = kend; k < cols; k++)
                s += load_dense1(fmt, w->data, (r + i) * cols + k) * x[t * ldx + k];
            y[t * ldy + r + i] = s;
        }
}

/* 2-4 tokens of a dense matrix: weights streamed once, no tile. */
TGT AI void dense_few(int fmt, const inf__weight *w, const float *x, int64_t ldx,
                      int64_t n, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    int64_t r = r0;
    if (n == 2) {
        for (; r + 4 <= r1; r += 4) dense_rows(fmt, 4, 2, w, r, x, ldx, y, ldy);
        for (; r < r1; r++) dense_rows(fmt, 1, 2, w, r, x, ldx, y, ldy);
    } else if (n == 3) {
        for (; r + 4 <= r1; r += 4) dense_rows(fmt, 4, 3, w, r, x, ldx, y, ldy);
        for (; r < r1; r++) dense_rows(fmt, 1, 3, w, r, x, ldx, y, ldy);
    } else {
        for (; r + 2 <= r1; r += 2) dense_rows(fmt, 2, 4, w, r, x, ldx, y, ldy);
        for (; r < r1; r++) dense_rows(fmt, 1, 4, w, r, x, ldx, y, ldy);
    }
}

/* MLX rows . x for one token, generic group size (a multiple of 8):
 * per group sum(q*x) in registers, then acc += s*that + b*sum(x) — one
 * FMA per 8 weights instead of two. */
TGT AI void mlx_rows(int fmt, int R, const inf__weight *w, int64_t r,
                     const float *x, float *y) {
    const int64_t cols = w->cols, G = w->group, gpr = cols / G;
    const int64_t wpr = cols * (fmt == F_Q4 ? 4 : 8) / 32;
    const uint32_t *q = (const uint32_t *)w->data;
    __m256 acc[4];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) acc[i] = _mm256_setzero_ps();
    for (int64_t g = 0; g < gpr; g++) {
        __m256 qa[4], xa = _mm256_setzero_ps();
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) qa[i] = _mm256_setzero_ps();
        for (int64_t k = g * G; k < (g + 1) * G; k += 8) {
            const __m256 xv = _mm256_loadu_ps(x + k);
            xa = _mm256_add_ps(xa, xv);
#pragma GCC unroll 4
            for (int i = 0; i < R; i++)
                qa[i] = _mm256_fmadd_ps(load_q(fmt, q + (r + i) * wpr, k), xv, qa[i]);
        }
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            const int64_t si = (r + i) * gpr + g;
            acc[i] = _mm256_fmadd_ps(qa[i], _mm256_set1_ps(inf__load_sb(w->scales, w->sb_dtype, si)), acc[i]);
            acc[i] = _mm256_fmadd_ps(xa, _mm256_set1_ps(inf__load_sb(w->biases, w->sb_dtype, si)), acc[i]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) y[r + i] = inf__hsum8(acc[i]);
}

/* MLX4 rows . x for one token with x pre-permuted (see q4_permute): a
 * 256-bit load holds 64 values, word w = values 8w..8w+7; shifting the
 * whole vector right by 4j and masking gives value 8w+j in lane w, which
 * meets xp[64b + 8j + w] = x[64b + 8w + j].  xs[8b + w] = sum of x over
 * 8w..8w+7 carries the bias.  Group sizes: 32 or a multiple of 64. */
TGT AI void q4_rows_perm(int R, const inf__weight *w, int64_t r, const float *xp,
                         const float *xs, float *y) {
    const int64_t cols = w->cols, G = w->group, gpr = cols / G, wpr = cols / 8;
    const uint32_t *q = (const uint32_t *)w->data;
    const __m256i m4 = _mm256_set1_epi32(15);
    __m256 acc[4];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) acc[i] = _mm256_setzero_ps();
    /* Group of block b: 2b for G = 32, else b / (G/64), counted. */
    const int64_t bpg = G >= 64 ? G / 64 : 1;
    int64_t gb = 0, cnt = 0;
    for (int64_t b = 0; b < cols / 64; b++) {
        __m256i v[4];
        __m256 qa[4];
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            v[i] = _mm256_loadu_si256((const __m256i *)(q + (r + i) * wpr + 8 * b));
            qa[i] = _mm256_setzero_ps();
        }
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) {
            const __m256 xv = _mm256_loadu_ps(xp + 64 * b + 8 * j);
#pragma GCC unroll 4
            for (int i = 0; i < R; i++) {
                __m256i n = _mm256_and_si256(_mm256_srli_epi32(v[i], 4 * j), m4);
                qa[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(n), xv, qa[i]);
            }
        }
        const __m256 xsv = _mm256_loadu_ps(xs + 8 * b);
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            __m256 sv, bv;
            const int64_t g0 = (r + i) * gpr + gb;
            if (G == 32) { /* lanes 0-3 in one group, 4-7 in the next */
                sv = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_set1_ps(inf__load_sb(w->scales, w->sb_dtype, g0))),
                                          _mm_set1_ps(inf__load_sb(w->scales, w->sb_dtype, g0 + 1)), 1);
                bv = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_set1_ps(inf__load_sb(w->biases, w->sb_dtype, g0))),
                                          _mm_set1_ps(inf__load_sb(w->biases, w->sb_dtype, g0 + 1)), 1);
            } else {
                sv = _mm256_set1_ps(inf__load_sb(w->scales, w->sb_dtype, g0));
                bv = _mm256_set1_ps(inf__load_sb(w->biases, w->sb_dtype, g0));
            }
            acc[i] = _mm256_fmadd_ps(qa[i], sv, acc[i]);
            acc[i] = _mm256_fmadd_ps(xsv, bv, acc[i]);
        }
        if (G == 32) gb += 2;
        else if (++cnt == bpg) { cnt = 0; gb++; }
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) y[r + i] = inf__hsum8(acc[i]);
}

/* x[cols] -> xp (lane-major within each 64-block) and xs (8-value sums). */
TGT static void q4_permute(const float *x, int64_t cols, float *xp, float *xs) {
    for (int64_t b = 0; b < cols / 64; b++)
        for (int w = 0; w < 8; w++) {
            float s = 0.0f;
            for (int j = 0; j < 8; j++) {
                const float v = x[64 * b + 8 * w + j];
                xp[64 * b + 8 * j + w] = v;
                s += v;
            }
            xs[8 * b + w] = s;
        }
}

#define Q4_PERM_MAX 16384 /* cols for the permuted-x decode (stack buffer) */

TGT AI void decode_fmt(int fmt, const inf__weight *w, const float *x, float *y,
                       int64_t r0, int64_t r1) {
    int64_t r = r0;
    if (fmt == F_F32 || fmt == F_F16 || fmt == F_BF16) {
        for (; r + 8 <= r1; r += 8) dense_rows(fmt, 8, 1, w, r, x, 0, y, 0);
        for (; r < r1; r++) dense_rows(fmt, 1, 1, w, r, x, 0, y, 0);
    } else if (fmt == F_Q4 && w->cols % 64 == 0 && w->cols <= Q4_PERM_MAX &&
               (w->group == 32 || w->group % 64 == 0)) {
        float xp[Q4_PERM_MAX] __attribute__((aligned(32)));
        float xs[Q4_PERM_MAX / 8] __attribute__((aligned(32)));
        q4_permute(x, w->cols, xp, xs);
        for (; r + 4 <= r1; r += 4) q4_rows_perm(4, w, r, xp, xs, y);
        for (; r < r1; r++) q4_rows_perm(1, w, r, xp, xs, y);
    } else {
        for (; r + 4 <= r1; r += 4) mlx_rows(fmt, 4, w, r, x, y);
        for (; r < r1; r++) mlx_rows(fmt, 1, w, r, x, y);
    }
}

/* ---- 2..MLX_FEW_MAX tokens of an MLX matrix (batched decode): no tile -- */

/* Per-group sums of x for T tokens: xs[t*gpr + g] = sum of x_t over group g
 * (G a multiple of 8). */
TGT static void group_sums(const float *x, int64_t ldx, int64_t T, int64_t cols,
                           int64_t G, float *xs) {
    const int64_t gpr = cols / G;
    for (int64_t t = 0; t < T; t++)
        for (int64_t g = 0; g < gpr; g++) {
            __m256 a = _mm256_setzero_ps();
            for (int64_t k = g * G; k < (g + 1) * G; k += 8)
                a = _mm256_add_ps(a, _mm256_loadu_ps(x + t * ldx + k));
            xs[t * gpr + g] = inf__hsum8(a);
        }
}

/* MLX rows [r, r+R) . x for T tokens (R*T <= 12 accumulators).  Row i of
 * group g is sum_k (s q_k + b) x_k = sum_k (s q_k) x_k + b sum_g(x): each
 * 8 quantised values are unpacked and scaled once (s*q is exact for F16 and
 * BF16 scales) and FMA'd into every token's accumulator; the bias term is
 * one dot product per row and token of the row's biases with the
 * precomputed group sums xs[T][gpr] of x. */
TGT AI void mlx_few_rows(int fmt, int R, int T, const inf__weight *w, int64_t r,
                         const float *x, int64_t ldx, const float *xs, float *y,
                         int64_t ldy) {
    const int64_t cols = w->cols, G = w->group, gpr = cols / G;
    const int64_t wpr = cols * (fmt == F_Q4 ? 4 : 8) / 32;
    const uint32_t *q = (const uint32_t *)w->data;
    __m256 acc[4][4];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) acc[i][t] = _mm256_setzero_ps();
    for (int64_t g = 0; g < gpr; g++) {
        __m256 sv[4];
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) sv[i] = _mm256_set1_ps(inf__load_sb(w->scales, w->sb_dtype, (r + i) * gpr + g));
        for (int64_t k = g * G; k < (g + 1) * G; k += 8) {
            __m256 xv[4];
#pragma GCC unroll 4
            for (int t = 0; t < T; t++) xv[t] = _mm256_loadu_ps(x + t * ldx + k);
#pragma GCC unroll 4
            for (int i = 0; i < R; i++) {
                const __m256 wv = _mm256_mul_ps(load_q(fmt, q + (r + i) * wpr, k), sv[i]);
#pragma GCC unroll 4
                for (int t = 0; t < T; t++) acc[i][t] = _mm256_fmadd_ps(wv, xv[t], acc[i][t]);
            }
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++)
            y[t * ldy + r + i] = inf__hsum8(acc[i][t]) +
                                 inf__sb_dot(w->biases, w->sb_dtype, (r + i) * gpr, xs + t * gpr, gpr);
}

/* Rows [r, r+R) for T tokens (T <= 4), R in 1..4 (R*T <= 12 per call). */
TGT AI void mlx_few_block(int fmt, int R, int T, const inf__weight *w, int64_t r,
                          const float *x, int64_t ldx, const float *xs, float *y,
                          int64_t ldy) {
    if (T <= 3) {
        mlx_few_rows(fmt, R, T, w, r, x, ldx, xs, y, ldy);
    } else if (R > 2) { /* 4 tokens: two calls of 2 rows and the rest */
        mlx_few_rows(fmt, 2, 4, w, r, x, ldx, xs, y, ldy);
        if (R == 4) mlx_few_rows(fmt, 2, 4, w, r + 2, x, ldx, xs, y, ldy);
        else mlx_few_rows(fmt, 1, 4, w, r + 2, x, ldx, xs, y, ldy);
    } else {
        mlx_few_rows(fmt, R, 4, w, r, x, ldx, xs, y, ldy);
    }
}

#define MLX_FEW_MAX INF__CPU_MLX_FEW_MAX
#define MLX_FEW_XS 16384    /* group sums of all tokens (stack buffer) */

/* Tokens of chunk c of n (n <= MLX_FEW_MAX) split into chunks of 2-4:
 * 5 = 3+2, 6 = 3+3, 7 = 4+3, 8 = 4+4. */
static int few_chunk(int64_t rem) {
    return rem <= 4 ? (int)rem : rem <= 6 ? 3 : 4;
}

/* 2..MLX_FEW_MAX tokens of an MLX matrix: rows in blocks of 4 (outer, so a
 * block's weights stay in L1 across the token chunks), tokens in chunks of
 * up to 4.  Returns 0 (nothing done) when the group sums do not fit. */
TGT AI int mlx_few(int fmt, const inf__weight *w, const float *x, int64_t ldx, int64_t n,
                   float *y, int64_t ldy, int64_t r0, int64_t r1) {
    const int64_t gpr = w->cols / w->group;
    if (n * gpr > MLX_FEW_XS) return 0;
    float xs[MLX_FEW_XS];
    group_sums(x, ldx, n, w->cols, w->group, xs);
    for (int64_t r = r0; r < r1; r += 4) {
        const int R = r1 - r < 4 ? (int)(r1 - r) : 4;
        for (int64_t t = 0; t < n;) {
            const int T = few_chunk(n - t);
            const float *xt = x + t * ldx, *st = xs + t * gpr;
            float *yt = y + t * ldy;
#define FEW_R(TT)                                                                       \
    switch (R) {                                                                        \
    case 4: mlx_few_block(fmt, 4, TT, w, r, xt, ldx, st, yt, ldy); break;               \
    case 3: mlx_few_block(fmt, 3, TT, w, r, xt, ldx, st, yt, ldy); break;               \
    case 2: mlx_few_block(fmt, 2, TT, w, r, xt, ldx, st, yt, ldy); break;               \
    default: mlx_few_block(fmt, 1, TT, w, r, xt, ldx, st, yt, ldy); break;              \
    }
            switch (T) {
            case 4: FEW_R(4); break;
            case 3: FEW_R(3); break;
            case 2: FEW_R(2); break;
            default: FEW_R(1); break;
            }
#undef FEW_R
            t += T;
        }
    }
    return 1;
}

/* ---- several tokens: dequantise a tile to L1, then an f32 register tile -- */

#define KC INF__CPU_KC
#define TB 96  /* tokens per block: x block 96 x 512 x 4 B = 192 KiB (L2) */

/* Rows [r, r+nr) x columns [k0, k0+kc) of w as f32 into tile[nr][KC]. */
TGT AI void dequant_tile(int fmt, const inf__weight *w, int64_t r, int nr,
                         int64_t k0, int64_t kc, float *tile) {
    const int64_t cols = w->cols;
    if (fmt == F_GG) { /* kernels_ggml.c: vector code per block type */
        inf__cpu_ggml_avx2_tile(w, r, nr, k0, kc, tile, KC);
        return;
    }
    for (int i = 0; i < nr; i++) {
        float *dst = tile + i * KC;
        int64_t k = 0;
        if (fmt == F_F32 || fmt == F_F16 || fmt == F_BF16) {
            const int64_t base = (r + i) * cols + k0, es = fmt == F_F32 ? 4 : 2;
            if (r + i + nr < w->rows) inf__pf_tile_row((const char *)w->data + (base + nr * cols) * es, kc * es);
            for (; k + 8 <= kc; k += 8) _mm256_store_ps(dst + k, load_dense(fmt, w->data, base + k));
            for (; k < kc; k++) dst[k] = load_dense1(fmt, w->data, base + k);
        } else {
            const int64_t G = w->group, gpr = cols / G, bits = fmt == F_Q4 ? 4 : 8, words = cols * bits / 32;
            const uint32_t *q = (const uint32_t *)w->data + (r + i) * words;
            /* kc, k0 and G are multiples of 8; the group index advances
             * by counting, not dividing, per vector. */
            int64_t g = k0 / G, gend = (g + 1) * G - k0;
            if (r + i + nr < w->rows) /* the next tile's row i, this piece */
                inf__pf_tile_row((const uint8_t *)(q + nr * words) + k0 * bits / 8, kc * bits / 8);
            __m256 sv = _mm256_set1_ps(inf__load_sb(w->scales, w->sb_dtype, (r + i) * gpr + g));
            __m256 bv = _mm256_set1_ps(inf__load_sb(w->biases, w->sb_dtype, (r + i) * gpr + g));
            for (; k < kc; k += 8) {
                if (k == gend) {
                    g++;
                    gend += G;
                    sv = _mm256_set1_ps(inf__load_sb(w->scales, w->sb_dtype, (r + i) * gpr + g));
                    bv = _mm256_set1_ps(inf__load_sb(w->biases, w->sb_dtype, (r + i) * gpr + g));
                }
                _mm256_store_ps(dst + k, _mm256_fmadd_ps(load_q(fmt, q, k0 + k), sv, bv));
            }
        }
    }
}

/* y[t*ldy + i] (+)= tile row i . x row t over kc columns, R rows x T
 * tokens (R <= 4, T <= 3). */
TGT AI void micro(int R, int T, const float *tile, int64_t kc, const float *x,
                  int64_t ldx, float *y, int64_t ldy, int first) {
    const int64_t kend = kc & ~(int64_t)7;
    __m256 acc[4][3];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 3
        for (int t = 0; t < T; t++) acc[i][t] = _mm256_setzero_ps();
    for (int64_t k = 0; k < kend; k += 8) {
        __m256 xv[3];
#pragma GCC unroll 3
        for (int t = 0; t < T; t++) xv[t] = _mm256_loadu_ps(x + t * ldx + k);
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            const __m256 wv = _mm256_load_ps(tile + i * KC + k);
#pragma GCC unroll 3
            for (int t = 0; t < T; t++) acc[i][t] = _mm256_fmadd_ps(wv, xv[t], acc[i][t]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 3
        for (int t = 0; t < T; t++) {
            float s = inf__hsum8(acc[i][t]);
            for (int64_t k = kend; k < kc; k++) s += tile[i * KC + k] * x[t * ldx + k];
            y[t * ldy + i] = first ? s : y[t * ldy + i] + s;
        }
}

TGT AI void micro_rows(int R, const float *tile, int64_t kc, const float *x, int64_t ldx,
                       int64_t nt, float *y, int64_t ldy, int first) {
    int64_t t = 0;
    for (; t + 3 <= nt; t += 3) micro(R, 3, tile, kc, x + t * ldx, ldx, y + t * ldy, ldy, first);
    if (nt - t == 2) micro(R, 2, tile, kc, x + t * ldx, ldx, y + t * ldy, ldy, first);
    else if (nt - t == 1) micro(R, 1, tile, kc, x + t * ldx, ldx, y + t * ldy, ldy, first);
}

/* Rows [r0, r1) for n tokens.  Loop order token block > column chunk >
 * 4-row tile > tokens: the x block (TB x KC) stays in L2 across row tiles,
 * each weight tile is dequantised once per token block, and partial sums go
 * to y (KC columns per read-modify-write, a negligible traffic). */
TGT AI void matmul_fmt(int fmt, const inf__weight *w, const float *x,
                       int64_t ldx, int64_t n, float *y, int64_t ldy,
                       int64_t r0, int64_t r1) {
    /* ggml blocks: 1 token in registers; 2 tokens as two such calls,
     * measured 15-40% faster than the tile (the tile wins from 3). */
    if (n <= 2 && fmt == F_GG && inf__cpu_ggml_avx2_decode(w, x, y, r0, r1)) {
        if (n == 2) inf__cpu_ggml_avx2_decode(w, x + ldx, y + ldy, r0, r1);
        return;
    }
    if (n == 1 && fmt != F_GG) {
        decode_fmt(fmt, w, x, y, r0, r1);
        return;
    }
    if (n <= 4 && (fmt == F_F32 || fmt == F_F16 || fmt == F_BF16)) {
        dense_few(fmt, w, x, ldx, n, y, ldy, r0, r1);
        return;
    }
    if (n <= MLX_FEW_MAX && (fmt == F_Q4 || fmt == F_Q8) && mlx_few(fmt, w, x, ldx, n, y, ldy, r0, r1))
        return;
    if (n >= INF__CPU_GEMM_MIN_TOKENS && inf__cpu_avx2_gemm(w, x, ldx, n, y, ldy, r0, r1)) return;
    float tile[4 * KC] __attribute__((aligned(64)));
    const int64_t cols = w->cols;
    for (int64_t t0 = 0; t0 < n; t0 += TB) {
        const int64_t nt = n - t0 < TB ? n - t0 : TB;
        for (int64_t k0 = 0; k0 < cols; k0 += KC) {
            const int64_t kc = cols - k0 < KC ? cols - k0 : KC;
            const float *xb = x + t0 * ldx + k0;
            float *yb = y + t0 * ldy;
            int64_t r = r0;
            for (; r + 4 <= r1; r += 4) {
                dequant_tile(fmt, w, r, 4, k0, kc, tile);
                micro_rows(4, tile, kc, xb, ldx, nt, yb + r, ldy, k0 == 0);
            }
            for (; r < r1; r++) {
                dequant_tile(fmt, w, r, 1, k0, kc, tile);
                micro_rows(1, tile, kc, xb, ldx, nt, yb + r, ldy, k0 == 0);
            }
        }
    }
}

#define MM(NAME, FMT)                                                        \
    TGT static void NAME(const inf__weight *w, const float *x, int64_t ldx,  \
                         int64_t n, float *y, int64_t ldy, int64_t r0,       \
                         int64_t r1) {                                       \
        matmul_fmt(FMT, w, x, ldx, n, y, ldy, r0, r1);                       \
    }
MM(mm_f32, F_F32)
MM(mm_f16, F_F16)
MM(mm_bf16, F_BF16)
MM(mm_q4, F_Q4)
MM(mm_q8, F_Q8)
MM(mm_gg, F_GG)

#define DQ(NAME, FMT)                                                          \
    TGT static void NAME(const inf__weight *w, int64_t r, int nr, int64_t k0,  \
                         int64_t kc, float *tile) {                            \
        dequant_tile(FMT, w, r, nr, k0, kc, tile);                             \
    }
DQ(dq_f32, F_F32)
DQ(dq_f16, F_F16)
DQ(dq_bf16, F_BF16)
DQ(dq_q4, F_Q4)
DQ(dq_q8, F_Q8)
DQ(dq_gg, F_GG)

int inf__cpu_avx2_dequant_tile(const inf__weight *w, int64_t r, int nr, int64_t k0,
                               int64_t kc, float *tile) {
    switch (w->fmt) {
    case INF__W_F32: dq_f32(w, r, nr, k0, kc, tile); return 1;
    case INF__W_F16: dq_f16(w, r, nr, k0, kc, tile); return 1;
    case INF__W_BF16: dq_bf16(w, r, nr, k0, kc, tile); return 1;
    case INF__W_MLX4:
    case INF__W_MLX8:
        if (w->group <= 0 || w->group % 8 != 0 || w->cols % w->group != 0) return 0;
        if (w->fmt == INF__W_MLX4) dq_q4(w, r, nr, k0, kc, tile);
        else dq_q8(w, r, nr, k0, kc, tile);
        return 1;
    default:
        if (!inf__cpu_ggml_is(w->fmt)) return 0;
        dq_gg(w, r, nr, k0, kc, tile);
        return 1;
    }
}

static void avx2_matmul_rows(const inf__weight *w, const float *x, int64_t ldx,
                             int64_t n, float *y, int64_t ldy, int64_t r0,
                             int64_t r1) {
    switch (w->fmt) {
    case INF__W_F32: mm_f32(w, x, ldx, n, y, ldy, r0, r1); return;
    case INF__W_F16: mm_f16(w, x, ldx, n, y, ldy, r0, r1); return;
    case INF__W_BF16: mm_bf16(w, x, ldx, n, y, ldy, r0, r1); return;
    case INF__W_MLX4:
    case INF__W_MLX8:
        /* The vector loaders need whole 8-value steps inside a group. */
        if (w->group > 0 && w->group % 8 == 0 && w->cols % w->group == 0) {
            if (w->fmt == INF__W_MLX4) mm_q4(w, x, ldx, n, y, ldy, r0, r1);
            else mm_q8(w, x, ldx, n, y, ldy, r0, r1);
            return;
        }
        break;
    default:
        /* ggml blocks: one token in registers where kernels_ggml.c has a
         * kernel, else (and for 2+ tokens) the tile path. */
        if (inf__cpu_ggml_is(w->fmt)) {
            mm_gg(w, x, ldx, n, y, ldy, r0, r1);
            return;
        }
        break;
    }
    inf__cpu_kernels_ref.matmul_rows(w, x, ldx, n, y, ldy, r0, r1);
}

TGT static float avx2_dot(const float *a, const float *b, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = inf__hsum8(_mm256_add_ps(s0, s1));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

TGT static void avx2_axpy(float a, const float *x, float *y, int64_t n) {
    const __m256 av = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

/* Reduces four 8-lane partial sums to their four totals. */
TGT AI __m128 hsum4x8(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
    const __m256 h4 = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    return _mm_add_ps(_mm256_castps256_ps128(h4), _mm256_extractf128_ps(h4, 1));
}

/* The KV cache's elements (f32, or f16 under precision fast) as f32: 8 at
 * element i, or one.  The attention kernels below are written once over
 * these loaders; f16 is a constant in every caller, so each instantiation
 * has the other's operations in the same order (the f32 ones unchanged). */
TGT AI __m256 kv8(const void *p, int64_t i, int f16) {
    if (f16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + i)));
    return _mm256_loadu_ps((const float *)p + i);
}
TGT AI float kv1(const void *p, int64_t i, int f16) {
    return f16 ? _cvtsh_ss(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}

/* Element i of such an array, as a pointer. */
AI const void *kv_at(const void *p, int64_t i, int f16) {
    return f16 ? (const void *)((const uint16_t *)p + i) : (const void *)((const float *)p + i);
}

/* avx2_dot with b read through kv8/kv1 (the same sums). */
TGT AI float dot_kv(const float *a, const void *b, int64_t n, int f16) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), kv8(b, i, f16), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), kv8(b, i + 8, f16), s1);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), kv8(b, i, f16), s0);
    float s = inf__hsum8(_mm256_add_ps(s0, s1));
    for (; i < n; i++) s += a[i] * kv1(b, i, f16);
    return s;
}

/* H query rows (consecutive, hd apart) x 4 keys from element k0: H x 4
 * FMA chains over d, each key vector loaded (and, f16, converted) once
 * for the H rows; the scores (times sc) to s[h * lds + 0..3]. */
TGT AI void scores_rows4(int H, const float *q, const void *k, int64_t k0, int64_t ldk, int64_t hd, __m128 sc,
                         float *s, int64_t lds, int f16) {
    __m256 a[3][4];
#pragma GCC unroll 3
    for (int h = 0; h < H; h++)
#pragma GCC unroll 4
        for (int u = 0; u < 4; u++) a[h][u] = _mm256_setzero_ps();
    for (int64_t d = 0; d < hd; d += 8) {
        __m256 qv[3];
#pragma GCC unroll 3
        for (int h = 0; h < H; h++) qv[h] = _mm256_loadu_ps(q + h * hd + d);
#pragma GCC unroll 4
        for (int u = 0; u < 4; u++) {
            const __m256 kv = kv8(k, k0 + u * ldk + d, f16);
#pragma GCC unroll 3
            for (int h = 0; h < H; h++) a[h][u] = _mm256_fmadd_ps(qv[h], kv, a[h][u]);
        }
    }
#pragma GCC unroll 3
    for (int h = 0; h < H; h++) _mm_storeu_ps(s + h * lds, _mm_mul_ps(hsum4x8(a[h][0], a[h][1], a[h][2], a[h][3]), sc));
}

/* Eight keys at a time per head (eight independent FMA chains); the
 * partial sums are reduced four at a time with horizontal adds.  Heads go
 * three (or two) at a time over four keys (12 or 8 chains), so that each
 * key vector loaded (and, f16, converted) serves three heads: a third of
 * the loads and conversions per FMA (prefill's scores: 32 rows x 512 f16
 * keys, bench_attn on Zen 3, 90-99 -> 57-70 us with three rows instead
 * of two).  Every score is the same
 * chain over d and the same horizontal sum either way, so a head's
 * scores do not depend on the heads beside it.  k is f32 or (f16) half
 * precision; ldk in elements. */
TGT AI void scores_kv(const float *q, int nq, const void *k, int64_t ldk, int64_t m, int64_t hd,
                      float scale, float *s, int64_t lds, int f16) {
    if (hd % 8 != 0) {
        for (int h = 0; h < nq; h++)
            for (int64_t j = 0; j < m; j++) s[h * lds + j] = dot_kv(q + h * hd, kv_at(k, j * ldk, f16), hd, f16) * scale;
        return;
    }
    const __m128 sc = _mm_set1_ps(scale);
    int64_t j = 0;
    for (; j + 8 <= m; j += 8) {
        const int64_t kj = j * ldk;
        int h = 0;
        for (; h + 3 <= nq; h += 3)
            for (int64_t g = 0; g < 8; g += 4) scores_rows4(3, q + h * hd, k, kj + g * ldk, ldk, hd, sc, s + h * lds + j + g, lds, f16);
        for (; h + 2 <= nq; h += 2)
            for (int64_t g = 0; g < 8; g += 4) scores_rows4(2, q + h * hd, k, kj + g * ldk, ldk, hd, sc, s + h * lds + j + g, lds, f16);
        for (; h < nq; h++) {
            const float *qh = q + h * hd;
            __m256 a[8];
#pragma GCC unroll 8
            for (int u = 0; u < 8; u++) a[u] = _mm256_setzero_ps();
            for (int64_t d = 0; d < hd; d += 8) {
                const __m256 qv = _mm256_loadu_ps(qh + d);
#pragma GCC unroll 8
                for (int u = 0; u < 8; u++)
                    a[u] = _mm256_fmadd_ps(qv, kv8(k, kj + u * ldk + d, f16), a[u]);
            }
            _mm_storeu_ps(s + h * lds + j, _mm_mul_ps(hsum4x8(a[0], a[1], a[2], a[3]), sc));
            _mm_storeu_ps(s + h * lds + j + 4, _mm_mul_ps(hsum4x8(a[4], a[5], a[6], a[7]), sc));
        }
    }
    for (; j + 4 <= m; j += 4) {
        const int64_t k0 = j * ldk, k1 = k0 + ldk, k2 = k1 + ldk, k3 = k2 + ldk;
        for (int h = 0; h < nq; h++) {
            const float *qh = q + h * hd;
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (int64_t d = 0; d < hd; d += 8) {
                const __m256 qv = _mm256_loadu_ps(qh + d);
                a0 = _mm256_fmadd_ps(qv, kv8(k, k0 + d, f16), a0);
                a1 = _mm256_fmadd_ps(qv, kv8(k, k1 + d, f16), a1);
                a2 = _mm256_fmadd_ps(qv, kv8(k, k2 + d, f16), a2);
                a3 = _mm256_fmadd_ps(qv, kv8(k, k3 + d, f16), a3);
            }
            _mm_storeu_ps(s + h * lds + j, _mm_mul_ps(hsum4x8(a0, a1, a2, a3), sc));
        }
    }
    for (; j < m; j++)
        for (int h = 0; h < nq; h++)
            s[h * lds + j] = dot_kv(q + h * hd, kv_at(k, j * ldk, f16), hd, f16) * scale;
}

TGT static void avx2_attn_scores(const float *q, int nq, const float *k, int64_t ldk,
                                 int64_t m, int64_t hd, float scale, float *s, int64_t lds) {
    scores_kv(q, nq, k, ldk, m, hd, scale, s, lds, 0);
}
TGT static void avx2_attn_scores_f16(const float *q, int nq, const uint16_t *k, int64_t ldk,
                                     int64_t m, int64_t hd, float scale, float *s, int64_t lds) {
    scores_kv(q, nq, k, ldk, m, hd, scale, s, lds, 1);
}

/* R query rows x 16 output columns over m values: each pair of value
 * vectors is loaded once for the R rows; even and odd values go to separate
 * accumulators (a, b) that are added at the end.  Every output is the same
 * sum (even j in order, odd j in order, then a + b) whatever R and the
 * column block, so a row's result does not depend on the rows beside it.
 * v: f32 or (f16) half values, element vd = the block's first column.
 * The m values can be one chunk of a longer sum: st (not NULL) holds the
 * R x 2 x 2 partial sums between chunks, begun at zero where first, and
 * only the last chunk (the only one with an odd m) writes od; the chain
 * is the same as in one call. */
TGT AI void values_tile(int R, const float *p, int64_t ldp, const void *v, int64_t vd, int64_t ldv,
                        int64_t m, float *st, int first, int last, float *od, int64_t hd, int f16, int add) {
    __m256 a[3][2], b[3][2];
#pragma GCC unroll 3
    for (int r = 0; r < R; r++) {
        if (first) {
            a[r][0] = a[r][1] = b[r][0] = b[r][1] = _mm256_setzero_ps();
        } else {
            a[r][0] = _mm256_loadu_ps(st + 32 * r);
            a[r][1] = _mm256_loadu_ps(st + 32 * r + 8);
            b[r][0] = _mm256_loadu_ps(st + 32 * r + 16);
            b[r][1] = _mm256_loadu_ps(st + 32 * r + 24);
        }
    }
    int64_t j = 0;
    for (; j + 2 <= m; j += 2, vd += 2 * ldv) {
        const __m256 v00 = kv8(v, vd, f16), v01 = kv8(v, vd + 8, f16);
        const __m256 v10 = kv8(v, vd + ldv, f16), v11 = kv8(v, vd + ldv + 8, f16);
#pragma GCC unroll 3
        for (int r = 0; r < R; r++) {
            const __m256 p0 = _mm256_broadcast_ss(p + r * ldp + j);
            const __m256 p1 = _mm256_broadcast_ss(p + r * ldp + j + 1);
            a[r][0] = _mm256_fmadd_ps(p0, v00, a[r][0]);
            a[r][1] = _mm256_fmadd_ps(p0, v01, a[r][1]);
            b[r][0] = _mm256_fmadd_ps(p1, v10, b[r][0]);
            b[r][1] = _mm256_fmadd_ps(p1, v11, b[r][1]);
        }
    }
    if (j < m) {
        const __m256 v00 = kv8(v, vd, f16), v01 = kv8(v, vd + 8, f16);
#pragma GCC unroll 3
        for (int r = 0; r < R; r++) {
            const __m256 p0 = _mm256_broadcast_ss(p + r * ldp + j);
            a[r][0] = _mm256_fmadd_ps(p0, v00, a[r][0]);
            a[r][1] = _mm256_fmadd_ps(p0, v01, a[r][1]);
        }
    }
    if (!last) {
#pragma GCC unroll 3
        for (int r = 0; r < R; r++) {
            _mm256_storeu_ps(st + 32 * r, a[r][0]);
            _mm256_storeu_ps(st + 32 * r + 8, a[r][1]);
            _mm256_storeu_ps(st + 32 * r + 16, b[r][0]);
            _mm256_storeu_ps(st + 32 * r + 24, b[r][1]);
        }
        return;
    }
#pragma GCC unroll 3
    for (int r = 0; r < R; r++) {
        __m256 s0 = _mm256_add_ps(a[r][0], b[r][0]), s1 = _mm256_add_ps(a[r][1], b[r][1]);
        if (add) {
            s0 = _mm256_add_ps(_mm256_loadu_ps(od + r * hd), s0);
            s1 = _mm256_add_ps(_mm256_loadu_ps(od + r * hd + 8), s1);
        }
        _mm256_storeu_ps(od + r * hd, s0);
        _mm256_storeu_ps(od + r * hd + 8, s1);
    }
}

/* The rows' tiles (3, then 2 or 1) over one column block: values from v
 * at element vd (ldv apart), m of them, sums in st between chunks. */
TGT AI void values_rows(const float *p, int64_t ldp, int nq, const void *v, int64_t vd, int64_t ldv, int64_t m,
                        float *st, int first, int last, float *od, int64_t hd, int f16, int add) {
    int h = 0;
    for (; h + 3 <= nq; h += 3)
        values_tile(3, p + h * ldp, ldp, v, vd, ldv, m, st ? st + 32 * h : NULL, first, last, od + h * hd, hd, f16, add);
    if (nq - h == 2)
        values_tile(2, p + h * ldp, ldp, v, vd, ldv, m, st ? st + 32 * h : NULL, first, last, od + h * hd, hd, f16, add);
    else if (nq - h == 1)
        values_tile(1, p + h * ldp, ldp, v, vd, ldv, m, st ? st + 32 * h : NULL, first, last, od + h * hd, hd, f16, add);
}

/* f16 values, 4 or more rows: each chunk of VCH values of a column block
 * converted to f32 once (vf, 16 KiB) for all the rows, which otherwise
 * convert every value vector once per 3 rows; the sums carried across
 * chunks in st, the same chain as unchunked (values_tile), so the same
 * bits as the rows alone.  Up to VQ rows (the cpu backend's blocks have at
 * most 64). */
#define VCH 256
#define VQ 96

TGT AI void values_chunked(const float *p, int64_t ldp, int nq, const uint16_t *v, int64_t ldv, int64_t m,
                           int64_t hd, float *o, int add) {
    float vf[VCH * 16] __attribute__((aligned(32)));
    float st[VQ * 32];
    for (int64_t d = 0; d < hd; d += 16)
        for (int64_t j0 = 0; j0 < m; j0 += VCH) {
            const int64_t jn = m - j0 < VCH ? m - j0 : VCH;
            for (int64_t j = 0; j < jn; j++) {
                _mm256_store_ps(vf + 16 * j, kv8(v, (j0 + j) * ldv + d, 1));
                _mm256_store_ps(vf + 16 * j + 8, kv8(v, (j0 + j) * ldv + d + 8, 1));
            }
            values_rows(p + j0, ldp, nq, vf, 0, 16, jn, st, j0 == 0, j0 + jn == m, o + d, hd, 0, add);
        }
}

TGT AI void values_kv(const float *p, int64_t ldp, int nq, const void *v, int64_t ldv, int64_t m,
                      int64_t hd, float *o, int f16, int add) {
    if (hd % 16 != 0) { /* avx2_axpy's sums, values read through kv8/kv1 */
        for (int h = 0; h < nq; h++)
            for (int64_t c0 = 0; c0 < hd; c0 += 64) { /* the sums from 0, then added */
                const int64_t nc = hd - c0 < 64 ? hd - c0 : 64;
                float t[64] = {0};
                for (int64_t j = 0; j < m; j++) {
                    const __m256 av = _mm256_set1_ps(p[h * ldp + j]);
                    const float a = p[h * ldp + j];
                    int64_t i = 0;
                    for (; i + 8 <= nc; i += 8)
                        _mm256_storeu_ps(t + i, _mm256_fmadd_ps(av, kv8(v, j * ldv + c0 + i, f16), _mm256_loadu_ps(t + i)));
                    for (; i < nc; i++) t[i] += a * kv1(v, j * ldv + c0 + i, f16);
                }
                float *oh = o + h * hd + c0;
                for (int64_t i = 0; i < nc; i++) oh[i] = add ? oh[i] + t[i] : t[i];
            }
        return;
    }
    if (f16 && nq >= 4 && nq <= VQ && m > 0) { /* m 0: values_rows writes the zero sums */
        values_chunked(p, ldp, nq, v, ldv, m, hd, o, add);
        return;
    }
    /* Column blocks outer: a block of all m values (m x 64 B) stays in
     * L1/L2 while every row group passes over it. */
    for (int64_t d = 0; d < hd; d += 16) values_rows(p, ldp, nq, v, d, ldv, m, NULL, 1, 1, o + d, hd, f16, add);
}

TGT static void avx2_attn_values(const float *p, int64_t ldp, int nq, const float *v,
                                 int64_t ldv, int64_t m, int64_t hd, float *o, int add) {
    values_kv(p, ldp, nq, v, ldv, m, hd, o, 0, add);
}
TGT static void avx2_attn_values_f16(const float *p, int64_t ldp, int nq, const uint16_t *v,
                                     int64_t ldv, int64_t m, int64_t hd, float *o, int add) {
    values_kv(p, ldp, nq, v, ldv, m, hd, o, 1, add);
}

/* f32 -> f16 with F16C, round to nearest even (kv_round). */
TGT static void avx2_kv_round(const float *x, uint16_t *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (; i < n; i++) y[i] = _cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

/* exp(x) for x <= 0 (softmax arguments), about 2 ulp: x = n ln2 + r with
 * |r| <= ln2/2, exp(r) by its degree-6 Taylor polynomial (error < 2e-7
 * relative), times 2^n built in the exponent bits. */
TGT AI __m256 exp_neg(__m256 x) {
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.0f / 720);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

TGT static void avx2_softmax(float *s, int64_t m) {
    int64_t j = 0;
    __m256 mv = _mm256_set1_ps(-INFINITY);
    for (; j + 8 <= m; j += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(s + j));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(mv), _mm256_extractf128_ps(mv, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    float mx = _mm_cvtss_f32(h);
    for (; j < m; j++) mx = s[j] > mx ? s[j] : mx;
    const __m256 mxv = _mm256_set1_ps(mx);
    __m256 sv = _mm256_setzero_ps();
    for (j = 0; j + 8 <= m; j += 8) {
        const __m256 e = exp_neg(_mm256_sub_ps(_mm256_loadu_ps(s + j), mxv));
        _mm256_storeu_ps(s + j, e);
        sv = _mm256_add_ps(sv, e);
    }
    float sum = inf__hsum8(sv);
    for (; j < m; j++) {
        float e = expf(s[j] - mx);
        s[j] = e;
        sum += e;
    }
    const float inv = 1.0f / sum;
    const __m256 iv = _mm256_set1_ps(inv);
    for (j = 0; j + 8 <= m; j += 8) _mm256_storeu_ps(s + j, _mm256_mul_ps(_mm256_loadu_ps(s + j), iv));
    for (; j < m; j++) s[j] *= inv;
}

const inf__cpu_kernels inf__cpu_avx2_set = {
    "avx2", avx2_matmul_rows, avx2_dot, avx2_axpy, avx2_attn_scores, avx2_attn_values,
    avx2_softmax, NULL, NULL, NULL, /* exact: no integer kernels */
    avx2_kv_round, avx2_attn_scores_f16, avx2_attn_values_f16,
    NULL, NULL, 0, /* weights read as stored */
    NULL,          /* ops.c's act_mul */
    NULL, NULL, NULL, NULL, /* no bf16 matmul input */
};

#endif
