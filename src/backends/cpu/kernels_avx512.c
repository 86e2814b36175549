/*
 * AVX-512 kernels, selected at run time only where the processor and OS
 * support AVX-512 F/BW/VL:
 *  - 5+ tokens (prefill): packed weight panels and a 32-row x 12-token
 *    register tile (below);
 *  - 1-4 tokens of MLX4/MLX8 (decode, batched decode): 16-byte unpacking,
 *    scales converted up front, software prefetch;
 *  - attention of 8+ query rows as GEMM tiles.
 * Dense decode, 2-4 dense tokens and softmax stay on the avx2 kernels.
 */
#include "backends/cpu/kernels.h"
#include "backends/cpu/kernels_x86.h"
#include "backends/cpu/ops.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include <immintrin.h>
#include <math.h>
#include <stdlib.h>

#define TGT5 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
#define AI static inline __attribute__((always_inline))
#define KC INF__CPU_KC

static const inf__cpu_kernels *avx2; /* set once by inf__cpu_avx512_build */

/* ---- several tokens: packed weight panels and a 32-row x 12-token tile --
 *
 * The classic register-blocked GEMM: a panel of 32 weight rows x KCP
 * columns is dequantised and transposed into pan[k][32] (32 KiB, L1), then
 * for every 12 tokens a micro-kernel keeps 32 rows x 12 tokens of sums in
 * 24 zmm registers; each k step loads 2 panel vectors, broadcasts 12 x
 * values and issues 24 FMAs.  No horizontal sums: a register holds 16
 * consecutive outputs of one token, stored straight into y[t][r..r+16).
 * Each output is one FMA chain over k in index order, continued across
 * column chunks (the chain starts from the partial sum in y), so the
 * result does not depend on the thread split or on the token block. */

#define MR 32   /* rows per panel (2 zmm) */
#define NR 12   /* tokens per micro tile */
#define KCP 256 /* columns per panel: 32 x 256 x 4 B = 32 KiB */
#define TBP 192 /* tokens per block: the x block 192 x 256 x 4 B stays in L2 */

/* Rows [r, r+nr) (nr <= MR) x columns [k0, k0+kc) of w into pan[kk*MR + i]
 * for kk < roundup(kc, 16); rows nr..MR-1 and the padding columns are 0.
 * tmp: MR x KCP floats of scratch (64-byte aligned). */
/* 16 weights of a dense row from element i (lanes outside mask: 0). */
TGT5 AI __m512 load_dense16(inf__wfmt fmt, const void *data, int64_t i, __mmask16 mask) {
    if (fmt == INF__W_F32) return _mm512_maskz_loadu_ps(mask, (const float *)data + i);
    const __m256i h = _mm256_maskz_loadu_epi16(mask, (const uint16_t *)data + i);
    if (fmt == INF__W_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

TGT5 AI void pack_dense(inf__wfmt fmt, const inf__weight *w, int64_t r, int nr, int64_t k0,
                        int64_t kc, float *pan) {
    for (int h = 0; h < MR; h += 16)
        for (int64_t k = 0; k < kc; k += 16) {
            const __mmask16 mask = (__mmask16)(kc - k >= 16 ? 0xffff : (1u << (kc - k)) - 1);
            __m512 v[16];
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++)
                v[i] = h + i < nr ? load_dense16(fmt, w->data, (r + h + i) * w->cols + k0 + k, mask)
                                  : _mm512_setzero_ps();
            inf__transpose16(v);
#pragma GCC unroll 16
            for (int j = 0; j < 16; j++) _mm512_store_ps(pan + (k + j) * MR + h, v[j]);
        }
}

TGT5 static void pack_panel(const inf__weight *w, int64_t r, int nr, int64_t k0, int64_t kc,
                            float *tmp, float *pan) {
    /* Dense weights: converted and transposed straight from the matrix. */
    switch (w->fmt) {
    case INF__W_F32: pack_dense(INF__W_F32, w, r, nr, k0, kc, pan); return;
    case INF__W_F16: pack_dense(INF__W_F16, w, r, nr, k0, kc, pan); return;
    case INF__W_BF16: pack_dense(INF__W_BF16, w, r, nr, k0, kc, pan); return;
    default: break;
    }
    for (int i = 0; i < nr; i += 4) {
        const int q = nr - i < 4 ? nr - i : 4;
        inf__cpu_avx2_dequant_tile(w, r + i, q, k0, kc, tmp + (int64_t)i * KC);
    }
    const int64_t kc16 = (kc + 15) & ~(int64_t)15;
    for (int i = 0; i < nr; i++)
        for (int64_t k = kc; k < kc16; k++) tmp[(int64_t)i * KC + k] = 0.0f;
    for (int h = 0; h < MR; h += 16) {
        for (int64_t k = 0; k < kc16; k += 16) {
            __m512 v[16];
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++)
                v[i] = h + i < nr ? _mm512_load_ps(tmp + (int64_t)(h + i) * KC + k) : _mm512_setzero_ps();
            inf__transpose16(v);
#pragma GCC unroll 16
            for (int j = 0; j < 16; j++) _mm512_store_ps(pan + (k + j) * MR + h, v[j]);
        }
    }
}

/* y[t*ldy + i] (+)= sum_k pan[k][i] * x[t*ldx + k] for i < 32 (lanes past
 * nr masked off), T tokens. */
TGT5 AI void micro_p(int T, const float *pan, int64_t kc, const float *x, int64_t ldx,
                     float *y, int64_t ldy, __mmask16 m0, __mmask16 m1, int first) {
    __m512 acc[2][NR];
#pragma GCC unroll 12
    for (int t = 0; t < T; t++) {
        if (first) {
            acc[0][t] = _mm512_setzero_ps();
            acc[1][t] = _mm512_setzero_ps();
        } else {
            acc[0][t] = _mm512_maskz_loadu_ps(m0, y + t * ldy);
            acc[1][t] = _mm512_maskz_loadu_ps(m1, y + t * ldy + 16);
        }
    }
    for (int64_t k = 0; k < kc; k++) {
        const __m512 w0 = _mm512_load_ps(pan + k * MR), w1 = _mm512_load_ps(pan + k * MR + 16);
#pragma GCC unroll 12
        for (int t = 0; t < T; t++) {
            const __m512 b = _mm512_set1_ps(x[t * ldx + k]);
            acc[0][t] = _mm512_fmadd_ps(w0, b, acc[0][t]);
            acc[1][t] = _mm512_fmadd_ps(w1, b, acc[1][t]);
        }
    }
#pragma GCC unroll 12
    for (int t = 0; t < T; t++) {
        _mm512_mask_storeu_ps(y + t * ldy, m0, acc[0][t]);
        _mm512_mask_storeu_ps(y + t * ldy + 16, m1, acc[1][t]);
    }
}

/* One micro tile of T <= NR tokens (a switch to the fixed-T bodies). */
TGT5 static void micro_one(int T, const float *pan, int64_t kc, const float *x, int64_t ldx,
                           float *y, int64_t ldy, int nr, int first) {
    const __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xffff : (1u << nr) - 1);
    const __mmask16 m1 = (__mmask16)(nr >= 32 ? 0xffff : nr <= 16 ? 0 : (1u << (nr - 16)) - 1);
    switch (T) {
#define CASE(TT) case TT: micro_p(TT, pan, kc, x, ldx, y, ldy, m0, m1, first); break;
    CASE(12) CASE(11) CASE(10) CASE(9) CASE(8) CASE(7) CASE(6) CASE(5) CASE(4) CASE(3) CASE(2) CASE(1)
#undef CASE
    default: break;
    }
}

/* Loop order (BLIS-like): token block > column chunk > group of PG panels
 * (packed together, 256 KiB, L2) > 12 tokens (their 12 x 256 x values stay
 * in L1) > panel.  Returns 0 (nothing written) when the panel buffer cannot
 * be allocated. */
#define PG 8
TGT5 static int mm_packed(const inf__weight *w, const float *x, int64_t ldx, int64_t n,
                          float *y, int64_t ldy, int64_t r0, int64_t r1) {
    float tmp[MR * KC] __attribute__((aligned(64)));
    float *pans = aligned_alloc(64, (size_t)PG * KCP * MR * sizeof(float));
    if (!pans) return 0;
    const int64_t cols = w->cols;
    /* Equal token blocks of at most TBP. */
    const int64_t nb = (n + TBP - 1) / TBP, tb = (n + nb - 1) / nb;
    for (int64_t t0 = 0; t0 < n; t0 += tb) {
        const int64_t nt = n - t0 < tb ? n - t0 : tb;
        for (int64_t k0 = 0; k0 < cols; k0 += KCP) {
            const int64_t kc = cols - k0 < KCP ? cols - k0 : KCP;
            for (int64_t rg = r0; rg < r1; rg += (int64_t)PG * MR) {
                int np = 0;
                for (int64_t r = rg; r < r1 && np < PG; r += MR, np++)
                    pack_panel(w, r, r1 - r < MR ? (int)(r1 - r) : MR, k0, kc, tmp,
                               pans + (int64_t)np * KCP * MR);
                for (int64_t t = t0; t < t0 + nt; t += NR) {
                    const int T = t0 + nt - t < NR ? (int)(t0 + nt - t) : NR;
                    for (int i = 0; i < np; i++) {
                        const int64_t r = rg + (int64_t)i * MR;
                        micro_one(T, pans + (int64_t)i * KCP * MR, kc, x + t * ldx + k0, ldx,
                                  y + t * ldy + r, ldy, r1 - r < MR ? (int)(r1 - r) : MR, k0 == 0);
                    }
                }
            }
        }
    }
    free(pans);
    return 1;
}

/* ---- one token of an MLX matrix (decode) ----------------------------- *
 *
 * Per row: y = sum over groups g of s_g * (q_g . x_g) + b_g * sum(x_g), the
 * q . x part as 16-lane f32 FMAs on the unpacked integers.  MLX8: 16 bytes
 * -> 16 int32 -> f32.  MLX4: 16 bytes hold 32 values, byte n = values 2n
 * (low nibble) and 2n+1 (high), so x is permuted once per call into
 * [16 even | 16 odd] per 32 values and each 16-byte load feeds two FMAs.
 * 4 rows at a time share every x load. */

/* n (<= 16) scale/bias entries from index i as f32 (lanes past n: 0). */
TGT5 AI __m512 sb16(const void *p, inf__dtype dt, int64_t i, int n) {
    const __mmask16 m = (__mmask16)(n >= 16 ? 0xffff : (1u << n) - 1);
    if (dt == INF__DT_F32) return _mm512_maskz_loadu_ps(m, (const float *)p + i);
    const __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)p + i);
    if (dt == INF__DT_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

#define MLX_DEC_GMAX 256 /* groups per row of the converted scale/bias buffer */

/* R rows x T tokens (R*T <= 4 keeps the accumulators in registers):
 * y[t*ldy + r+i] = row i . token t.  Each weight vector is unpacked once
 * for the T tokens; every output is the same sequence of operations
 * whatever R and T, so a token's result does not depend on the tokens
 * decoded beside it.  xq: token t's x (MLX4: permuted) at xq + t*ldxq. */
TGT5 AI void mlx_dec_rows(int bits, int R, int T, const inf__weight *w, int64_t r, int64_t ahead,
                          const float *xq, int64_t ldxq, float *y, int64_t ldy) {
    const int64_t cols = w->cols, G = w->group, gpr = cols / G;
    const int64_t bpr = cols * bits / 8; /* bytes per row */
    const uint8_t *q = (const uint8_t *)w->data + r * bpr;
    const __m512i m4 = _mm512_set1_epi32(15);
    const char *next = (const char *)q + ahead; /* values paced: R * 16 bytes per step */
    inf__mlx_prefetch_sb(w, r + ahead / bpr, R);
    /* The R rows' scales and biases, converted up front: vector loads
     * issued together instead of a dependent scalar load per group (those
     * missed the cache and stalled the loop). */
    float sf[4][MLX_DEC_GMAX] __attribute__((aligned(64)));
    float bf[4][MLX_DEC_GMAX] __attribute__((aligned(64)));
    for (int i = 0; i < R; i++)
        for (int64_t g = 0; g < gpr; g += 16) {
            const int nn = gpr - g < 16 ? (int)(gpr - g) : 16;
            _mm512_store_ps(sf[i] + g, sb16(w->scales, w->sb_dtype, (r + i) * gpr + g, nn));
            _mm512_store_ps(bf[i] + g, sb16(w->biases, w->sb_dtype, (r + i) * gpr + g, nn));
        }
    __m512 acc[4][4];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) acc[i][t] = _mm512_setzero_ps();
    for (int64_t g = 0; g < gpr; g++) {
        __m512 qa[4][4], xa[4];
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            xa[t] = _mm512_setzero_ps();
#pragma GCC unroll 4
            for (int i = 0; i < R; i++) qa[i][t] = _mm512_setzero_ps();
        }
        if (bits == 8) {
            for (int64_t k = g * G; k < (g + 1) * G; k += 16) {
                inf__pf_share(next, R * 16, k / 16);
                __m512 wv[4];
#pragma GCC unroll 4
                for (int i = 0; i < R; i++)
                    wv[i] = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(q + i * bpr + k))));
#pragma GCC unroll 4
                for (int t = 0; t < T; t++) {
                    const __m512 xv = _mm512_loadu_ps(xq + t * ldxq + k);
                    xa[t] = _mm512_add_ps(xa[t], xv);
#pragma GCC unroll 4
                    for (int i = 0; i < R; i++) qa[i][t] = _mm512_fmadd_ps(wv[i], xv, qa[i][t]);
                }
            }
        } else {
            for (int64_t k = g * G; k < (g + 1) * G; k += 32) {
                inf__pf_share(next, R * 16, k / 32);
                __m512 lo[4], hi[4];
#pragma GCC unroll 4
                for (int i = 0; i < R; i++) {
                    const __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(q + i * bpr + k / 2)));
                    lo[i] = _mm512_cvtepi32_ps(_mm512_and_si512(v, m4));
                    hi[i] = _mm512_cvtepi32_ps(_mm512_srli_epi32(v, 4));
                }
#pragma GCC unroll 4
                for (int t = 0; t < T; t++) {
                    const __m512 xe = _mm512_loadu_ps(xq + t * ldxq + k);
                    const __m512 xo = _mm512_loadu_ps(xq + t * ldxq + k + 16);
                    xa[t] = _mm512_add_ps(xa[t], _mm512_add_ps(xe, xo));
#pragma GCC unroll 4
                    for (int i = 0; i < R; i++) {
                        qa[i][t] = _mm512_fmadd_ps(lo[i], xe, qa[i][t]);
                        qa[i][t] = _mm512_fmadd_ps(hi[i], xo, qa[i][t]);
                    }
                }
            }
        }
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            const __m512 sv = _mm512_set1_ps(sf[i][g]), bv = _mm512_set1_ps(bf[i][g]);
#pragma GCC unroll 4
            for (int t = 0; t < T; t++) {
                acc[i][t] = _mm512_fmadd_ps(qa[i][t], sv, acc[i][t]);
                acc[i][t] = _mm512_fmadd_ps(xa[t], bv, acc[i][t]);
            }
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) y[t * ldy + r + i] = _mm512_reduce_add_ps(acc[i][t]);
}

#define MLX_DEC_XMAX 16384 /* cols x tokens of the permuted-x stack buffer (else heap) */

/* Rows [r0, r1) for T tokens (1 <= T <= 4), rows in tiles of 4 / T. */
#define DEC_TILES(BITS, T)                                                                     \
    do {                                                                                       \
        const int64_t bpr = cols * (BITS) / 8;                                                 \
        const int64_t at = inf__pf_ahead(4 / (T) * bpr), a1 = inf__pf_ahead(bpr);              \
        for (; r + 4 / (T) <= r1; r += 4 / (T))                                                \
            mlx_dec_rows(BITS, 4 / (T), T, w, r, at, xq, ldxq, y, ldy);                        \
        for (; r < r1; r++) mlx_dec_rows(BITS, 1, T, w, r, a1, xq, ldxq, y, ldy);              \
    } while (0)

/* 1-4 tokens of an MLX matrix.  Returns 0 (nothing done) for a layout these
 * kernels do not take. */
TGT5 static int mlx_decode(const inf__weight *w, const float *x, int64_t ldx, int64_t n, float *y,
                           int64_t ldy, int64_t r0, int64_t r1) {
    const int bits = w->fmt == INF__W_MLX4 ? 4 : 8;
    const int64_t G = w->group, cols = w->cols;
    if (n < 1 || n > 4 || G <= 0 || G % (bits == 4 ? 32 : 16) != 0 || cols % G != 0 ||
        cols / G > MLX_DEC_GMAX)
        return 0;
    float xs[MLX_DEC_XMAX] __attribute__((aligned(64)));
    float *xp = xs, *heap = NULL;
    const float *xq = x;
    int64_t ldxq = ldx;
    if (bits == 4 && cols * n > MLX_DEC_XMAX) { /* MLX4 permutes x: a larger buffer */
        xp = heap = aligned_alloc(64, (size_t)(cols * n) * sizeof(float));
        if (!heap) return 0;
    }
    if (bits == 4) {
        const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        const __m512i io = _mm512_add_epi32(ie, _mm512_set1_epi32(1));
        for (int64_t t = 0; t < n; t++)
            for (int64_t k = 0; k < cols; k += 32) {
                const __m512 a = _mm512_loadu_ps(x + t * ldx + k), b = _mm512_loadu_ps(x + t * ldx + k + 16);
                _mm512_store_ps(xp + t * cols + k, _mm512_permutex2var_ps(a, ie, b));
                _mm512_store_ps(xp + t * cols + k + 16, _mm512_permutex2var_ps(a, io, b));
            }
        xq = xp;
        ldxq = cols;
    }
    int64_t r = r0;
    switch (n * 10 + bits) {
    case 14: DEC_TILES(4, 1); break;
    case 24: DEC_TILES(4, 2); break;
    case 34: DEC_TILES(4, 3); break;
    case 44: DEC_TILES(4, 4); break;
    case 18: DEC_TILES(8, 1); break;
    case 28: DEC_TILES(8, 2); break;
    case 38: DEC_TILES(8, 3); break;
    default: DEC_TILES(8, 4); break;
    }
    free(heap);
    return 1;
}
#undef DEC_TILES

/* ---- attention for blocks of query rows ------------------------------- */

/* 16 KV-cache elements at element i as f32: f32, or (f16) half precision
 * widened in registers.  f16 is a constant in every caller, so the f32 and
 * f16 kernels below run the same operations in the same order. */
TGT5 AI __m512 kv16(const void *p, int64_t i, int f16) {
    if (f16) return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)p + i)));
    return _mm512_loadu_ps((const float *)p + i);
}

/* Scores of nq query rows against m keys as a small GEMM: 32 keys at a time
 * are transposed into kT[d][32] (the panel of micro_p, keys in the lanes),
 * the query rows play the tokens.  Each score is one FMA chain over d in
 * index order, times scale: a row's scores do not depend on the other
 * rows.  Few rows (decode) do not pay back the transposes: avx2 then.
 * k: f32 or (f16) half keys, ldk in elements. */
TGT5 AI void scores512(const float *q, int nq, const void *k, int64_t ldk, int64_t m, int64_t hd,
                       float scale, float *s, int64_t lds, int f16) {
    float kT[KCP * MR] __attribute__((aligned(64)));
    const __m512 sc = _mm512_set1_ps(scale);
    for (int64_t j0 = 0; j0 < m; j0 += MR) {
        const int jn = m - j0 < MR ? (int)(m - j0) : MR;
        for (int h = 0; h < MR; h += 16)
            for (int64_t d = 0; d < hd; d += 16) {
                __m512 v[16];
#pragma GCC unroll 16
                for (int i = 0; i < 16; i++)
                    v[i] = h + i < jn ? kv16(k, (j0 + h + i) * ldk + d, f16) : _mm512_setzero_ps();
                inf__transpose16(v);
#pragma GCC unroll 16
                for (int i = 0; i < 16; i++) _mm512_store_ps(kT + (d + i) * MR + h, v[i]);
            }
        for (int t = 0; t < nq; t += NR)
            micro_one(nq - t < NR ? nq - t : NR, kT, hd, q + (int64_t)t * hd, hd, s + t * lds + j0, lds, jn, 1);
        const __mmask16 m0 = (__mmask16)(jn >= 16 ? 0xffff : (1u << jn) - 1);
        const __mmask16 m1 = (__mmask16)(jn >= 32 ? 0xffff : jn <= 16 ? 0 : (1u << (jn - 16)) - 1);
        for (int r = 0; r < nq; r++) {
            float *sr = s + r * lds + j0;
            _mm512_mask_storeu_ps(sr, m0, _mm512_mul_ps(_mm512_maskz_loadu_ps(m0, sr), sc));
            _mm512_mask_storeu_ps(sr + 16, m1, _mm512_mul_ps(_mm512_maskz_loadu_ps(m1, sr + 16), sc));
        }
    }
}

/* Scores of NH <= 4 query rows (decode: one KV head's group) against 4
 * keys j..j+3: each key vector is loaded (and widened) once for all the
 * rows, one FMA chain per (row, key) over d in index order, the 16 lanes
 * folded to 8 and reduced four keys at a time with horizontal adds. */
TGT5 AI void scores_few4(int NH, const float *q, const void *k, int64_t ldk, int64_t j, int64_t hd,
                         float scale, float *s, int64_t lds, int f16) {
    __m512 a[4][4];
#pragma GCC unroll 4
    for (int h = 0; h < NH; h++)
#pragma GCC unroll 4
        for (int u = 0; u < 4; u++) a[h][u] = _mm512_setzero_ps();
    for (int64_t d = 0; d < hd; d += 16) {
        __m512 kv[4];
#pragma GCC unroll 4
        for (int u = 0; u < 4; u++) kv[u] = kv16(k, (j + u) * ldk + d, f16);
#pragma GCC unroll 4
        for (int h = 0; h < NH; h++) {
            const __m512 qv = _mm512_loadu_ps(q + h * hd + d);
#pragma GCC unroll 4
            for (int u = 0; u < 4; u++) a[h][u] = _mm512_fmadd_ps(qv, kv[u], a[h][u]);
        }
    }
    const __m128 sc = _mm_set1_ps(scale);
#pragma GCC unroll 4
    for (int h = 0; h < NH; h++) {
        __m256 f[4];
#pragma GCC unroll 4
        for (int u = 0; u < 4; u++)
            f[u] = _mm256_add_ps(_mm512_castps512_ps256(a[h][u]),
                                 _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a[h][u]), 1)));
        const __m256 h4 = _mm256_hadd_ps(_mm256_hadd_ps(f[0], f[1]), _mm256_hadd_ps(f[2], f[3]));
        _mm_storeu_ps(s + h * lds + j,
                      _mm_mul_ps(_mm_add_ps(_mm256_castps256_ps128(h4), _mm256_extractf128_ps(h4, 1)), sc));
    }
}

/* Fewer than 8 query rows (decode), hd a multiple of 16: rows in groups of
 * up to 4 over keys in fours (scores_few4); a last 1-3 keys one at a time.
 * The avx2 kernel this replaces widened every f16 key once per row. */
TGT5 AI void scores_few512(const float *q, int nq, const void *k, int64_t ldk, int64_t m, int64_t hd,
                           float scale, float *s, int64_t lds, int f16) {
    for (int h0 = 0; h0 < nq; h0 += 4) {
        const int nh = nq - h0 < 4 ? nq - h0 : 4;
        const float *qh = q + h0 * hd;
        float *sh = s + h0 * lds;
        int64_t j = 0;
        for (; j + 4 <= m; j += 4) {
            switch (nh) {
            case 1: scores_few4(1, qh, k, ldk, j, hd, scale, sh, lds, f16); break;
            case 2: scores_few4(2, qh, k, ldk, j, hd, scale, sh, lds, f16); break;
            case 3: scores_few4(3, qh, k, ldk, j, hd, scale, sh, lds, f16); break;
            default: scores_few4(4, qh, k, ldk, j, hd, scale, sh, lds, f16); break;
            }
        }
        for (; j < m; j++)
            for (int h = 0; h < nh; h++) {
                __m512 acc = _mm512_setzero_ps();
                for (int64_t d = 0; d < hd; d += 16)
                    acc = _mm512_fmadd_ps(_mm512_loadu_ps(qh + h * hd + d), kv16(k, j * ldk + d, f16), acc);
                sh[h * lds + j] = _mm512_reduce_add_ps(acc) * scale;
            }
    }
}

TGT5 static void avx512_attn_scores(const float *q, int nq, const float *k, int64_t ldk,
                                    int64_t m, int64_t hd, float scale, float *s, int64_t lds) {
    if (hd % 16 != 0 || hd > KCP) {
        avx2->attn_scores(q, nq, k, ldk, m, hd, scale, s, lds);
        return;
    }
    if (nq < 8) {
        scores_few512(q, nq, k, ldk, m, hd, scale, s, lds, 0);
        return;
    }
    scores512(q, nq, k, ldk, m, hd, scale, s, lds, 0);
}

TGT5 static void avx512_attn_scores_f16(const float *q, int nq, const uint16_t *k, int64_t ldk,
                                        int64_t m, int64_t hd, float scale, float *s, int64_t lds) {
    if (hd % 16 != 0 || hd > KCP) {
        avx2->attn_scores_f16(q, nq, k, ldk, m, hd, scale, s, lds);
        return;
    }
    if (nq < 8) {
        scores_few512(q, nq, k, ldk, m, hd, scale, s, lds, 1);
        return;
    }
    scores512(q, nq, k, ldk, m, hd, scale, s, lds, 1);
}

/* o[r][d0 + 16*i + lane] for R rows x DV vectors: one FMA chain over j per
 * output, each value vector loaded once for the R rows.  v: f32 or (f16)
 * half values, element vd = this column block's first, ldv in elements. */
TGT5 AI void values512(int R, int DV, const float *p, int64_t ldp, const void *v, int64_t vd,
                       int64_t ldv, int64_t m, float *o, int64_t hd, int f16, int add) {
    __m512 acc[12][8];
#pragma GCC unroll 12
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int i = 0; i < DV; i++) acc[r][i] = _mm512_setzero_ps();
    for (int64_t j = 0; j < m; j++, vd += ldv) {
        __m512 vv[8];
#pragma GCC unroll 8
        for (int i = 0; i < DV; i++) vv[i] = kv16(v, vd + 16 * i, f16);
#pragma GCC unroll 12
        for (int r = 0; r < R; r++) {
            const __m512 pb = _mm512_set1_ps(p[r * ldp + j]);
#pragma GCC unroll 8
            for (int i = 0; i < DV; i++) acc[r][i] = _mm512_fmadd_ps(pb, vv[i], acc[r][i]);
        }
    }
#pragma GCC unroll 12
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int i = 0; i < DV; i++) {
            float *od = o + r * hd + 16 * i;
            _mm512_storeu_ps(od, add ? _mm512_add_ps(_mm512_loadu_ps(od), acc[r][i]) : acc[r][i]);
        }
}

/* All nq rows for one column block of DV vectors, R rows at a time, the
 * remainder with the row count it needs.  R x DV accumulators, DV value
 * vectors and a broadcast must fit the 32 registers: 8 x 3 (33) spilled
 * an accumulator to the stack in the loop over keys (perf annotate: a
 * third of the kernel's samples on the spill's store), so 8 columns take
 * 2 rows and 4 columns 6. */
#define V1(RR) values512(RR, DV, p + r * ldp, ldp, v, vd, ldv, m, o + r * hd, hd, f16, add)
#define VALUES_ROWS(NAME, DV_, R, TAIL)                                                       \
    TGT5 AI void NAME(const float *p, int64_t ldp, int nq, const void *v, int64_t vd,         \
                      int64_t ldv, int64_t m, float *o, int64_t hd, int f16, int add) {       \
        enum { DV = DV_ };                                                                   \
        int r = 0;                                                                           \
        for (; r + R <= nq; r += R) V1(R);                                                   \
        switch (nq - r) { TAIL default: break; }                                             \
    }
#define T(RR) case RR: V1(RR); break;
VALUES_ROWS(values_rows_8, 8, 2, T(1))
VALUES_ROWS(values_rows_4, 4, 6, T(1) T(2) T(3) T(4) T(5))
VALUES_ROWS(values_rows_2, 2, 12, T(1) T(2) T(3) T(4) T(5) T(6) T(7) T(8) T(9) T(10) T(11))
#undef T
#undef VALUES_ROWS
#undef V1

/* Column blocks outer: all m values of a block stay in L1/L2 while the
 * row groups pass over them.  Two rows (decode's KV group) read each value
 * row in one pass of 128 columns; more rows take 64 columns at a time, 6
 * rows per value vector loaded (bench_attn, 64 rows x 32-256 keys: 163-181
 * GFLOP/s with 8 x 3 spilling -> 212-219). */
TGT5 AI void values_kv512(const float *p, int64_t ldp, int nq, const void *v, int64_t ldv,
                          int64_t m, int64_t hd, float *o, int f16, int add) {
    if (hd % 128 == 0 && nq <= 2)
        for (int64_t d = 0; d < hd; d += 128) values_rows_8(p, ldp, nq, v, d, ldv, m, o + d, hd, f16, add);
    else if (hd % 64 == 0)
        for (int64_t d = 0; d < hd; d += 64) values_rows_4(p, ldp, nq, v, d, ldv, m, o + d, hd, f16, add);
    else
        for (int64_t d = 0; d < hd; d += 32) values_rows_2(p, ldp, nq, v, d, ldv, m, o + d, hd, f16, add);
}

TGT5 static void avx512_attn_values(const float *p, int64_t ldp, int nq, const float *v,
                                    int64_t ldv, int64_t m, int64_t hd, float *o, int add) {
    if (nq < 2 || hd % 32 != 0) {
        avx2->attn_values(p, ldp, nq, v, ldv, m, hd, o, add);
        return;
    }
    values_kv512(p, ldp, nq, v, ldv, m, hd, o, 0, add);
}

TGT5 static void avx512_attn_values_f16(const float *p, int64_t ldp, int nq, const uint16_t *v,
                                        int64_t ldv, int64_t m, int64_t hd, float *o, int add) {
    if (nq < 2 || hd % 32 != 0) {
        avx2->attn_values_f16(p, ldp, nq, v, ldv, m, hd, o, add);
        return;
    }
    values_kv512(p, ldp, nq, v, ldv, m, hd, o, 1, add);
}

/* f32 -> f16 with AVX-512's vcvtps2ph, round to nearest even (kv_round). */
TGT5 static void avx512_kv_round(const float *x, uint16_t *y, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(y + i),
                            _mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    if (i < n) avx2->kv_round(x + i, y + i, n - i);
}

static void avx512_matmul_rows(const inf__weight *w, const float *x, int64_t ldx,
                               int64_t n, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    const int dense = w->fmt == INF__W_F32 || w->fmt == INF__W_F16 || w->fmt == INF__W_BF16;
    const int mlx = w->fmt == INF__W_MLX4 || w->fmt == INF__W_MLX8;
    const int tiled = dense || inf__cpu_ggml_is(w->fmt) ||
                      (mlx && w->group > 0 && w->group % 8 == 0 && w->cols % w->group == 0);
    /* One token of a ggml block format: unpacked in 16-lane registers
     * (two tokens: two calls, faster than the tile, as on avx2). */
    if (n <= 2 && inf__cpu_ggml_is(w->fmt) && inf__cpu_ggml_avx512_decode(w, x, y, r0, r1)) {
        if (n == 2) inf__cpu_ggml_avx512_decode(w, x + ldx, y + ldy, r0, r1);
        return;
    }
    /* 1-4 tokens of MLX: weights unpacked once per tile for all tokens. */
    if (mlx && n <= 4 && mlx_decode(w, x, ldx, n, y, ldy, r0, r1)) return;
    /* 5+ tokens (MLX: above the few-token kernel) of a layout the tile
     * dequantiser takes: the packed GEMM; everything else, or no memory
     * for its panels: avx2. */
    if (tiled && n > (mlx ? INF__CPU_MLX_FEW_MAX : 4) && mm_packed(w, x, ldx, n, y, ldy, r0, r1))
        return;
    avx2->matmul_rows(w, x, ldx, n, y, ldy, r0, r1);
}

/* ---- precision fast's SiLU ----------------------------------------------
 *
 * g = g / (1 + exp(-g)) * u sixteen at a time, in ops.c's order of float
 * operations, with exp(-g) computed in double precision and rounded to
 * float: that is expf correctly rounded, which glibc's expf also is but
 * in very rare cases, so the results are libm's nearly always.  A float
 * polynomial exp (1-2 ulp) was as fast, but its ulps moved the int8
 * rounding of down_proj's input enough to change a greedy continuation
 * of test_cpu_fast_gguf.  exp(x) = 2^n p(r), n = round(x log2 e), r = x -
 * n ln 2 (ln 2 in two parts), p the Taylor series to r^11 (relative error
 * below 1e-14 on |r| <= ln2/2), 2^n by vscalefpd; x is clamped to
 * [-104, 89] first, where the float result is 0 or inf already.  libm's
 * expf, one value at a time, was 5% of a BF16 prefill of Qwen3-0.6B
 * (perf). */
TGT5 static __m512d exp512d(__m512d x) {
    x = _mm512_min_pd(_mm512_max_pd(x, _mm512_set1_pd(-104.0)), _mm512_set1_pd(89.0));
    const __m512d n = _mm512_roundscale_pd(_mm512_mul_pd(x, _mm512_set1_pd(1.4426950408889634)),
                                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512d r = _mm512_fnmadd_pd(n, _mm512_set1_pd(6.93147180369123816490e-01), x);
    r = _mm512_fnmadd_pd(n, _mm512_set1_pd(1.90821492927058770002e-10), r);
    __m512d p = _mm512_set1_pd(1.0 / 39916800.0); /* 1/11! */
    for (int i = 0; i < 11; i++) p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(inf__exp_taylor[i]));
    return _mm512_scalef_pd(p, n);
}

TGT5 static void avx512_act_mul(inf__act act, float *g, const float *u, int64_t n) {
    if (act != INF__ACT_SILU) {
        inf__cpu_act_mul(act, g, u, n);
        return;
    }
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        const __m512 v = _mm512_maskz_loadu_ps(m, g + i);
        const __m512 nv = _mm512_sub_ps(_mm512_setzero_ps(), v);
        const __m256 e0 = _mm512_cvtpd_ps(exp512d(_mm512_cvtps_pd(_mm512_castps512_ps256(nv))));
        const __m256 e1 = _mm512_cvtpd_ps(exp512d(_mm512_cvtps_pd(_mm256_castpd_ps(
            _mm512_extractf64x4_pd(_mm512_castps_pd(nv), 1)))));
        const __m512 e = _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(e0)),
                                                             _mm256_castps_pd(e1), 1));
        const __m512 s = _mm512_mul_ps(_mm512_div_ps(v, _mm512_add_ps(one, e)), _mm512_maskz_loadu_ps(m, u + i));
        _mm512_mask_storeu_ps(g + i, m, s);
    }
}

/* Precision fast's layers take it (kernels_q8.c); the exact set keeps libm. */
void (*const inf__cpu_avx512_act_mul)(inf__act, float *, const float *, int64_t) = avx512_act_mul;

/* ---- softmax -------------------------------------------------------------
 *
 * avx2_softmax sixteen lanes at a time: exp(x) for x <= 0 by the same
 * steps, lane for lane (x = n ln2 + r, degree-6 Taylor polynomial, 2^n in
 * the exponent bits), and the sum kept in avx2's 8 lanes, the low half of
 * each 16 added before the high half: the same additions in the same order,
 * so the results are avx2's bit for bit (the fast path's fidelity is
 * measured on them) at ~half the instructions for the exponentials. */
TGT5 AI __m512 exp_neg512(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.0f / 720);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}

TGT5 static void avx512_softmax(float *s, int64_t m) {
    if (m < 16) {
        avx2->softmax(s, m);
        return;
    }
    int64_t j = 0;
    __m512 mv = _mm512_set1_ps(-INFINITY);
    for (; j + 16 <= m; j += 16) mv = _mm512_max_ps(mv, _mm512_loadu_ps(s + j));
    float mx = _mm512_reduce_max_ps(mv);
    for (; j < m; j++) mx = s[j] > mx ? s[j] : mx;
    const __m512 mxv = _mm512_set1_ps(mx);
    __m256 sv = _mm256_setzero_ps();
    for (j = 0; j + 16 <= m; j += 16) {
        const __m512 e = exp_neg512(_mm512_sub_ps(_mm512_loadu_ps(s + j), mxv));
        _mm512_storeu_ps(s + j, e);
        sv = _mm256_add_ps(sv, _mm512_castps512_ps256(e));
        sv = _mm256_add_ps(sv, _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1)));
    }
    if (j + 8 <= m) {
        const __m512 e = exp_neg512(_mm512_sub_ps(_mm512_zextps256_ps512(_mm256_loadu_ps(s + j)), mxv));
        _mm256_storeu_ps(s + j, _mm512_castps512_ps256(e));
        sv = _mm256_add_ps(sv, _mm512_castps512_ps256(e));
        j += 8;
    }
    float sum = inf__hsum8(sv);
    for (; j < m; j++) {
        const float e = expf(s[j] - mx);
        s[j] = e;
        sum += e;
    }
    const float inv = 1.0f / sum;
    const __m512 iv = _mm512_set1_ps(inv);
    for (j = 0; j + 16 <= m; j += 16) _mm512_storeu_ps(s + j, _mm512_mul_ps(_mm512_loadu_ps(s + j), iv));
    for (; j < m; j++) s[j] *= inv;
}

static inf__cpu_kernels avx512_set;

const inf__cpu_kernels *inf__cpu_avx512_build(const inf__cpu_kernels *base) {
    avx2 = base;
    avx512_set = *base;
    avx512_set.name = "avx512";
    avx512_set.matmul_rows = avx512_matmul_rows;
    avx512_set.attn_scores = avx512_attn_scores;
    avx512_set.attn_values = avx512_attn_values;
    avx512_set.softmax = avx512_softmax;
    avx512_set.kv_round = avx512_kv_round;
    avx512_set.attn_scores_f16 = avx512_attn_scores_f16;
    avx512_set.attn_values_f16 = avx512_attn_values_f16;
    return &avx512_set;
}

#endif
