/*
 * Precision fast's BF16 layer: the set beneath, except that prefill of BF16
 * weights (5+ tokens) rounds the activations x to bfloat16 and multiplies
 * with AVX512-BF16 dot products (vdpbf16ps: 32 products per instruction,
 * twice an f32 FMA), as llama.cpp does for BF16 models.  The weights are
 * used exactly as stored; only x loses precision (relative 2^-9 per value),
 * so this layer is NOT exact: part of precision fast only
 * (kernels_select.c).  test_cpu_fast measures its perplexity.
 *
 * Layout: a panel of 32 rows x 256 column PAIRS is transposed so that
 * dword (kp, i) = row i's values 2kp and 2kp+1 (a 16 x 16 dword transpose
 * moves whole pairs), and x is converted to bf16 pairs once per token block
 * and column chunk; the micro-kernel broadcasts one pair of a token and
 * accumulates 32 rows x 12 tokens in 24 zmm registers.
 */
#include "backends/cpu/kernels.h"
#include "backends/cpu/kernels_x86.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include <immintrin.h>
#include <stdlib.h>

#define TGTB __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma,f16c")))
#define AI static inline __attribute__((always_inline))

#define MR 32   /* rows per panel */
#define NR 12   /* tokens per micro tile */
#define KP 256  /* column pairs per chunk (512 columns) */
#define TB 192  /* tokens per block */
#define LDXB (KP + 16) /* dwords per converted x row (not a multiple of 4 KiB) */

static const inf__cpu_kernels *base; /* the avx512 set (inf__cpu_bf16_build) */

/* Rows [r, r+nr) x columns [k0, k0+kc) of a BF16 matrix into
 * pan[kp*MR + i] (dwords) for kp < ceil(kc/2) rounded up to 16; rows past
 * nr and columns past kc are 0. */
TGTB static void pack_pairs(const inf__weight *w, int64_t r, int nr, int64_t k0, int64_t kc,
                            uint32_t *pan) {
    const uint16_t *data = w->data;
    for (int h = 0; h < MR; h += 16)
        for (int64_t k = 0; k < kc; k += 32) {
            const int64_t left = kc - k;
            const __mmask32 m = left >= 32 ? 0xffffffffu : (__mmask32)((1u << left) - 1);
            __m512 v[16];
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++)
                v[i] = h + i < nr ? _mm512_castsi512_ps(_mm512_maskz_loadu_epi16(
                                        m, data + (r + h + i) * w->cols + k0 + k))
                                  : _mm512_setzero_ps();
            inf__transpose16(v);
#pragma GCC unroll 16
            for (int j = 0; j < 16; j++) _mm512_store_ps((float *)pan + (k / 2 + j) * MR + h, v[j]);
        }
}

/* x rows [0, nt) columns [k0, k0+kc) as bf16 pairs: xb[t*LDXB + kp]. */
TGTB static void convert_x(const float *x, int64_t ldx, int64_t nt, int64_t k0, int64_t kc,
                           uint32_t *xb) {
    for (int64_t t = 0; t < nt; t++) {
        /* x (2-6 MB at 512 tokens) comes from beyond L2, a row's chunk a
         * run of 32 lines that the hardware prefetcher picks up late:
         * the row 4 ahead is asked for (Qwen3-0.6B BF16 prefill 512, 2
         * threads: +2.5% median of 6 alternated rounds; 8 ahead: less) */
        if (t + 4 < nt)
            for (int64_t k = 0; k < kc; k += 16) _mm_prefetch((const char *)(x + (t + 4) * ldx + k0 + k), _MM_HINT_T0);
        for (int64_t k = 0; k < kc; k += 32) {
            const int64_t left = kc - k;
            const __mmask16 m0 = left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
            const __mmask16 m1 = left >= 32 ? 0xffff : left <= 16 ? 0 : (__mmask16)((1u << (left - 16)) - 1);
            const float *xr = x + t * ldx + k0 + k;
            const __m512bh p = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(m1, xr + 16),
                                                   _mm512_maskz_loadu_ps(m0, xr));
            _mm512_storeu_si512(xb + t * LDXB + k / 2, (__m512i)p);
        }
    }
}

TGTB AI void micro_bf(int T, const uint32_t *pan, int64_t np, const uint32_t *xb, float *y,
                      int64_t ldy, __mmask16 m0, __mmask16 m1, int first) {
    __m512 acc[2][NR];
#pragma GCC unroll 12
    for (int t = 0; t < T; t++) {
        acc[0][t] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m0, y + t * ldy);
        acc[1][t] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m1, y + t * ldy + 16);
    }
    for (int64_t kp = 0; kp < np; kp++) {
        const __m512bh w0 = (__m512bh)_mm512_load_si512(pan + kp * MR);
        const __m512bh w1 = (__m512bh)_mm512_load_si512(pan + kp * MR + 16);
#pragma GCC unroll 12
        for (int t = 0; t < T; t++) {
            const __m512bh b = (__m512bh)_mm512_set1_epi32((int)xb[t * LDXB + kp]);
            acc[0][t] = _mm512_dpbf16_ps(acc[0][t], w0, b);
            acc[1][t] = _mm512_dpbf16_ps(acc[1][t], w1, b);
        }
    }
#pragma GCC unroll 12
    for (int t = 0; t < T; t++) {
        _mm512_mask_storeu_ps(y + t * ldy, m0, acc[0][t]);
        _mm512_mask_storeu_ps(y + t * ldy + 16, m1, acc[1][t]);
    }
}

TGTB static void micro_one(int T, const uint32_t *pan, int64_t np, const uint32_t *xb, float *y,
                           int64_t ldy, int nr, int first) {
    const __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xffff : (1u << nr) - 1);
    const __mmask16 m1 = (__mmask16)(nr >= 32 ? 0xffff : nr <= 16 ? 0 : (1u << (nr - 16)) - 1);
    switch (T) {
#define CASE(TT) case TT: micro_bf(TT, pan, np, xb, y, ldy, m0, m1, first); break;
    CASE(12) CASE(11) CASE(10) CASE(9) CASE(8) CASE(7) CASE(6) CASE(5) CASE(4) CASE(3) CASE(2) CASE(1)
#undef CASE
    default: break;
    }
}

/* Token block > column chunk (convert x) > panel (pack) > 12 tokens.
 * Returns 0 (nothing done) when the scratch cannot be allocated. */
TGTB static int mm_bf16_pairs(const inf__weight *w, const float *x, int64_t ldx, int64_t n,
                              float *y, int64_t ldy, int64_t r0, int64_t r1) {
    uint32_t *pan = aligned_alloc(64, (size_t)KP * MR * 4);
    uint32_t *xb = aligned_alloc(64, (size_t)TB * LDXB * 4);
    if (!pan || !xb) {
        free(pan);
        free(xb);
        return 0;
    }
    const int64_t cols = w->cols, nb = (n + TB - 1) / TB, tb = (n + nb - 1) / nb;
    for (int64_t t0 = 0; t0 < n; t0 += tb) {
        const int64_t nt = n - t0 < tb ? n - t0 : tb;
        for (int64_t k0 = 0; k0 < cols; k0 += 2 * KP) {
            const int64_t kc = cols - k0 < 2 * KP ? cols - k0 : 2 * KP, np = (kc + 1) / 2;
            convert_x(x + t0 * ldx, ldx, nt, k0, kc, xb);
            for (int64_t r = r0; r < r1; r += MR) {
                const int nr = r1 - r < MR ? (int)(r1 - r) : MR;
                pack_pairs(w, r, nr, k0, kc, pan);
                for (int64_t t = 0; t < nt; t += NR) {
                    const int T = nt - t < NR ? (int)(nt - t) : NR;
                    micro_one(T, pan, np, xb + t * LDXB, y + (t0 + t) * ldy + r, ldy, nr, k0 == 0);
                }
            }
        }
    }
    free(pan);
    free(xb);
    return 1;
}

static void bf16_matmul_rows(const inf__weight *w, const float *x, int64_t ldx, int64_t n,
                             float *y, int64_t ldy, int64_t r0, int64_t r1) {
    if (w->fmt == INF__W_BF16 && n > 4 && mm_bf16_pairs(w, x, ldx, n, y, ldy, r0, r1)) return;
    base->matmul_rows(w, x, ldx, n, y, ldy, r0, r1);
}

static inf__cpu_kernels bf16_set;

const inf__cpu_kernels *inf__cpu_bf16_build(const inf__cpu_kernels *avx512) {
    base = avx512;
    bf16_set = *avx512;
    bf16_set.name = "avx512-fast";
    bf16_set.matmul_rows = bf16_matmul_rows;
    return &bf16_set;
}

#endif
