/*
 * The AVX2 set's exact f32 GEMM for many tokens (prefill): packed weight
 * panels and a 16-row x 6-token register tile.  Private to the cpu
 * backend; kernels_avx2.c's matmul calls it from INF__CPU_GEMM_MIN_TOKENS
 * tokens (kernels_x86.h), any weight layout inf__cpu_avx2_dequant_tile
 * converts (dense, MLX, ggml blocks).
 *
 * Why not kernels_avx2.c's 4-row x 3-token tile (dot products over a
 * dequantised 4 x 512 tile, each output's 8 lanes summed at the end of a
 * chunk): on Zen 3 that tile ran the BF16 GEMM at 45-55 GFLOP/s a core
 * where OpenBLAS's sgemm reached 67-77 on the same shape (3072 x 1024, 512
 * tokens, one thread, this machine), and its loop, alone in L1, at ~60
 * against ~80 for this tile's loop.  Here a panel of 16 weight rows x KCP
 * columns is dequantised and transposed to pan[k][16] (dense rows straight
 * from the matrix, 8 x 8 at a time; the others through
 * inf__cpu_avx2_dequant_tile's rows); each k step loads
 * the panel's two vectors, broadcasts 6 x values and issues 12 FMAs, and a
 * register holds 8 consecutive outputs of one token, stored straight into
 * y[t][r..r+8).  The x values are packed too (xb[k][6] per 6 tokens: the
 * broadcasts read one sequential stream instead of six rows).
 *
 * Loop order (as BLIS): token block (<= TBP) > column chunk (KCP) > group
 * of PG panels (PG x 16 KiB, L2) > 6 tokens (their packed x, 6 KiB, L1) >
 * panel, so that consecutive micro-tiles write consecutive pieces of the
 * same 6 rows of y.  Measured in a stand-alone copy (Zen 3, one thread):
 * 3 panels a group 57-69 GFLOP/s, 12 panels ~53; one panel over all the
 * tokens (each row of y revisited only after every other token's) ~45,
 * perf putting ~18% of the samples on the stores to y.
 *
 * Each output is one FMA chain over k in index order, continued across
 * column chunks (the chain starts from the partial sum in y), so the result
 * does not depend on the thread split or on the token block.
 */
#include "backends/cpu/kernels_x86.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include <stdlib.h>
#include <string.h>

#define TGT __attribute__((target("avx2,fma,f16c")))
#define AI static inline __attribute__((always_inline))

#define MR 16   /* rows per panel (2 ymm) */
#define NR 6    /* tokens per micro tile */
#define KCP 256 /* columns per panel: 16 x 256 x 4 B = 16 KiB */
#define TBP 256 /* tokens per block: their packed x, 256 x 256 x 4 B, stays in L2 (512 KiB on Zen 3) */
#define PG 3    /* panels per group (above) */

/* 8 weights of a dense row from element i, the first n of them (n < 8:
 * the rest 0). */
TGT AI __m256 dense8(inf__wfmt fmt, const void *data, int64_t i, int n) {
    if (n == 8) return inf__dense8(fmt, data, i);
    float v[8] = {0};
    for (int j = 0; j < n; j++) v[j] = inf__dense1(fmt, data, i + j);
    return _mm256_loadu_ps(v);
}

/* 8 rows x 8 columns (v[i] = row i's columns k..k+7) into the panel's
 * rows k..k+7, lanes h..h+7. */
TGT AI void panel_put(__m256 v[8], float *pan, int64_t k, int h) {
    inf__transpose8(v);
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) _mm256_store_ps(pan + (k + j) * MR + h, v[j]);
}

/* Dense weights: converted and transposed straight from the matrix, 8
 * rows x 8 columns at a time, the next panel's rows fetched meanwhile. */
TGT AI void pack_dense(inf__wfmt fmt, const inf__weight *w, int64_t r, int nr, int64_t k0, int64_t kc, float *pan) {
    const int64_t cols = w->cols, es = fmt == INF__W_F32 ? 4 : 2;
    const int ahead = r + MR + MR <= w->rows; /* the next panel's rows, this chunk */
    for (int h = 0; h < MR; h += 8)
        for (int64_t k = 0; k < kc; k += 8) {
            const int n = kc - k < 8 ? (int)(kc - k) : 8;
            __m256 v[8];
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) {
                const int64_t at = (r + h + i) * cols + k0 + k;
                if (ahead && (k * es) % 64 == 0) _mm_prefetch((const char *)w->data + (at + MR * cols) * es, _MM_HINT_T0);
                v[i] = h + i < nr ? dense8(fmt, w->data, at, n) : _mm256_setzero_ps();
            }
            panel_put(v, pan, k, h);
        }
}

/* Rows [r, r+nr) (nr <= MR) x columns [k0, k0+kc) of w into pan[k][MR]
 * for k < roundup(kc, 8); rows nr..MR-1 and the padding columns are 0.
 * tmp: MR x INF__CPU_KC floats of scratch (64-byte aligned), for the
 * quantised layouts (inf__cpu_avx2_dequant_tile's rows, then transposed). */
TGT static void pack_panel(const inf__weight *w, int64_t r, int nr, int64_t k0, int64_t kc, float *tmp,
                           float *pan) {
    switch (w->fmt) {
    case INF__W_F32: pack_dense(INF__W_F32, w, r, nr, k0, kc, pan); return;
    case INF__W_F16: pack_dense(INF__W_F16, w, r, nr, k0, kc, pan); return;
    case INF__W_BF16: pack_dense(INF__W_BF16, w, r, nr, k0, kc, pan); return;
    default: break;
    }
    for (int i = 0; i < nr; i += 4) /* 4 rows at a time: the tile's prefetch of the rows after */
        inf__cpu_avx2_dequant_tile(w, r + i, nr - i < 4 ? nr - i : 4, k0, kc, tmp + (int64_t)i * INF__CPU_KC);
    const int64_t kc8 = (kc + 7) & ~(int64_t)7;
    for (int i = 0; i < nr; i++)
        for (int64_t k = kc; k < kc8; k++) tmp[(int64_t)i * INF__CPU_KC + k] = 0.0f;
    for (int h = 0; h < MR; h += 8)
        for (int64_t k = 0; k < kc8; k += 8) {
            __m256 v[8];
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++)
                v[i] = h + i < nr ? _mm256_load_ps(tmp + (int64_t)(h + i) * INF__CPU_KC + k) : _mm256_setzero_ps();
            panel_put(v, pan, k, h);
        }
}

/* Tokens [0, nt) x columns [k0, k0+kc) of x into xb: per 6 tokens a
 * block [k][6] (tokens past nt: 0).  8 columns at a time through the 8 x 8
 * transpose (two rows of zeros), each column's 8 lanes stored whole: its
 * last two land on the next column's first two, which the next store
 * overwrites (the last column's on the next block's start, or on xb's
 * slack of NR x KCP floats).  One element at a time this was ~9% of a
 * Qwen3-0.6B BF16 prefill (each thread packs the block for its rows). */
TGT static void pack_x(const float *x, int64_t ldx, int64_t nt, int64_t k0, int64_t kc, float *xb) {
    for (int64_t p = 0; p < nt; p += NR) {
        float *dst = xb + p * kc;
        const int ne = nt - p < NR ? (int)(nt - p) : NR;
        int64_t k = 0;
        for (; k + 8 <= kc; k += 8) {
            __m256 v[8];
#pragma GCC unroll 8
            for (int e = 0; e < 8; e++) v[e] = e < ne ? _mm256_loadu_ps(x + (p + e) * ldx + k0 + k) : _mm256_setzero_ps();
            inf__transpose8(v);
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++) _mm256_storeu_ps(dst + (k + j) * NR, v[j]);
        }
        for (; k < kc; k++)
            for (int e = 0; e < NR; e++) dst[k * NR + e] = e < ne ? x[(p + e) * ldx + k0 + k] : 0.0f;
    }
}

/* y[t*ldy + i] (+)= sum_k pan[k][i] * xb[k][t] for i < nr (the rest
 * masked off), t < T. */
TGT AI void micro(int T, const float *pan, int64_t kc, const float *xb, float *y, int64_t ldy, __m256i m0,
                  __m256i m1, int full, int first) {
    __m256 acc[NR][2];
#pragma GCC unroll 6
    for (int t = 0; t < T; t++) {
        if (first) {
            acc[t][0] = acc[t][1] = _mm256_setzero_ps();
        } else if (full) {
            acc[t][0] = _mm256_loadu_ps(y + t * ldy);
            acc[t][1] = _mm256_loadu_ps(y + t * ldy + 8);
        } else {
            acc[t][0] = _mm256_maskload_ps(y + t * ldy, m0);
            acc[t][1] = _mm256_maskload_ps(y + t * ldy + 8, m1);
        }
    }
    for (int64_t k = 0; k < kc; k++) {
        const __m256 w0 = _mm256_load_ps(pan + k * MR), w1 = _mm256_load_ps(pan + k * MR + 8);
#pragma GCC unroll 6
        for (int t = 0; t < T; t++) {
            const __m256 b = _mm256_broadcast_ss(xb + k * NR + t);
            acc[t][0] = _mm256_fmadd_ps(w0, b, acc[t][0]);
            acc[t][1] = _mm256_fmadd_ps(w1, b, acc[t][1]);
        }
    }
#pragma GCC unroll 6
    for (int t = 0; t < T; t++) {
        if (full) {
            _mm256_storeu_ps(y + t * ldy, acc[t][0]);
            _mm256_storeu_ps(y + t * ldy + 8, acc[t][1]);
        } else {
            _mm256_maskstore_ps(y + t * ldy, m0, acc[t][0]);
            _mm256_maskstore_ps(y + t * ldy + 8, m1, acc[t][1]);
        }
    }
}

/* One micro tile of T <= NR tokens and nr <= MR rows (a switch to the
 * fixed-T bodies; full rows without masks). */
TGT static void micro_one(int T, const float *pan, int64_t kc, const float *xb, float *y, int64_t ldy, int nr,
                          int first) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr), lane);
    const __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr - 8), lane);
    if (nr == MR && T == NR) {
        micro(NR, pan, kc, xb, y, ldy, m0, m1, 1, first);
        return;
    }
    switch (T) {
#define CASE(TT) case TT: micro(TT, pan, kc, xb, y, ldy, m0, m1, 0, first); break;
    CASE(6) CASE(5) CASE(4) CASE(3) CASE(2) CASE(1)
#undef CASE
    default: break;
    }
}

TGT int inf__cpu_avx2_gemm(const inf__weight *w, const float *x, int64_t ldx, int64_t n, float *y, int64_t ldy,
                           int64_t r0, int64_t r1) {
    /* scratch: the panel group, the packed x block, the dequantised rows */
    const size_t npan = (size_t)PG * KCP * MR, nxb = (size_t)(TBP + NR) * KCP, ntmp = (size_t)MR * INF__CPU_KC;
    float *buf = aligned_alloc(64, (npan + nxb + ntmp) * sizeof(float));
    if (!buf) return 0;
    float *pans = buf, *xb = buf + npan, *tmp = xb + nxb;
    const int64_t cols = w->cols;
    const int dense = w->fmt == INF__W_F32 || w->fmt == INF__W_F16 || w->fmt == INF__W_BF16;
    const int64_t es = w->fmt == INF__W_F32 ? 4 : 2; /* dense: bytes per weight */
    /* Equal token blocks of at most TBP. */
    const int64_t nblk = (n + TBP - 1) / TBP, tb = (n + nblk - 1) / nblk;
    for (int64_t t0 = 0; t0 < n; t0 += tb) {
        const int64_t nt = n - t0 < tb ? n - t0 : tb;
        for (int64_t k0 = 0; k0 < cols; k0 += KCP) {
            const int64_t kc = cols - k0 < KCP ? cols - k0 : KCP;
            pack_x(x + t0 * ldx, ldx, nt, k0, kc, xb);
            for (int64_t rg = r0; rg < r1; rg += (int64_t)PG * MR) {
                int np = 0;
                for (int64_t r = rg; r < r1 && np < PG; r += MR, np++)
                    pack_panel(w, r, r1 - r < MR ? (int)(r1 - r) : MR, k0, kc, tmp, pans + (int64_t)np * KCP * MR);
                /* the next group's dense rows, this chunk, fetched over
                 * the token loop (two rows per 6 tokens): packing found
                 * them in memory, not in cache (Llama-3.2-1B BF16 prefill:
                 * ~8% of the time in pack_panel) */
                const int64_t pf_end = rg + 2 * PG * MR < r1 ? rg + 2 * PG * MR : r1;
                int64_t pf = dense ? rg + PG * MR : pf_end;
                for (int64_t p = 0; p < nt; p += NR) {
                    const int T = nt - p < NR ? (int)(nt - p) : NR;
                    for (int q = 0; q < 2 && pf < pf_end; q++, pf++)
                        inf__pf_tile_row((const char *)w->data + (pf * cols + k0) * es, kc * es);
                    for (int i = 0; i < np; i++) {
                        const int64_t r = rg + (int64_t)i * MR;
                        micro_one(T, pans + (int64_t)i * KCP * MR, kc, xb + p * kc, y + (t0 + p) * ldy + r, ldy,
                                  r1 - r < MR ? (int)(r1 - r) : MR, k0 == 0);
                    }
                }
            }
        }
    }
    free(buf);
    return 1;
}

#endif
