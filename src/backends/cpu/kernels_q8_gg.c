/*
 * Precision fast's integer products for ggml blocks on AVX2 without VNNI
 * (kernels_int8.h: the integer form; the avx2-fast set, kernels_q8.c, hands
 * these out).  Before this, an AVX2-only processor (Zen 3 and older, Intel
 * before Ice Lake) ran every GGUF matrix through the exact f32 kernels:
 * each 4-bit value widened to f32 and multiplied with an FMA, 8 products
 * per instruction, which cannot keep up with memory on 2 cores (Qwen3-0.6B
 * Q4_0 decode, Zen 3, 2 threads: 39.7 tok/s against llama.cpp's 51.8).
 * Here x is rounded to int8 per block of 32 (inf__cpu_q8_quantize, the
 * vector form below) and each block is 32 u8 x s8 products summed by
 * _mm256_maddubs_epi16 into int16 pairs and _mm256_madd_epi16 into 8 int32
 * lanes, as llama.cpp's AVX2 dot products do.
 *
 * Per format, with P the block's integer sum and dx, s the block's x scale
 * and exact f32 sum (kernels_int8.h: w = d u + c):
 *   Q4_0: u = the nibble (0..15), c = -8 d:  d (dx P - 8 s)
 *   Q4_K: sub-block j of a super-block, d_j = d sc_j, c_j = -dmin m_j:
 *         d_j dx P + c_j s  (the c s terms apart)
 *   Q6_K: u = the 6-bit value (0..63), sub-blocks of 16 with int8 scales
 *         sc: d dx sum_k sc_k (P_k - 32 X_k), X_k the sub-block's sum of
 *         xq, the sum over the block's two sub-blocks in int32, exact
 *         (kernels_q8_avx2.h: q6_part, q6_done)
 * Every term is the portable integer matmul's (inf__cpu_q8_matmul_ref) in
 * another order of summation.  Each row's operations are the same whichever
 * group of rows it is computed in, so the result does not depend on the
 * row split.
 *
 * Q8_0 decodes (1 or 2 tokens) on the exact kernels: at the memory's
 * speed there already (Zen 3, Qwen3-0.6B Q8_0, 2 threads: 35-38 tok/s,
 * ~24 GB/s of ~26), and its integer form cost time (u = q + 128 overflows
 * maddubs' int16 pairs, 2 x 255 x 127, so each 32 products need |q| .
 * sign(xq, q) and a widening: 29-35 tok/s, rows as stored or
 * interleaved).  Prefill is arithmetic-bound, not memory-bound, and there
 * Q8_0 and MLX8 (as stored, 3 or more tokens) take that integer form, 16
 * rows at a time through kernels_q8_tile.c's tiles (gm_tokens_s8): ~1.4x the exact
 * 4x3 f32 tile's rate, and at 512 tokens about the rate of the exact
 * packed GEMM that replaced that tile from 48 tokens (kernels_avx2_gemm.c;
 * bench_ggml 3072 x 1024, Zen 3: 58-65 against 53-65 GFLOP/s).
 *
 * The matrices are repacked 16 rows at a time at load (r16_rows below);
 * the row kernels (gg_rows) read them as stored where the packed copy
 * could not be made.  Those go 4 rows at a time (one x block loaded for 4
 * rows, 4 accumulator chains); several tokens are passes over the same 4
 * rows, whose blocks the first pass left in L1.  Private to the cpu
 * backend.
 */
#include "backends/cpu/kernels_x86.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include <stdlib.h>
#include <string.h>

/* The whole file, kernels_int8.h's inline helpers included, is compiled
 * for AVX2 (kernels_select.c builds the set that calls it only where the
 * processor has it); GCC takes a target pragma, clang an attribute. */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif
#define INF__Q8_F16(h) _cvtsh_ss(h)
#include "backends/cpu/kernels_int8.h"
#include "backends/cpu/r16_layout.h"
#include "backends/cpu/kernels_q8_avx2.h"

#define GG_MAX_TOKENS 16 /* as stored, more tokens (prefill) take the exact panel GEMM */
#define GG_R 4 /* rows per group */

/* Rounds x rows [t0, t1) into xq as inf__cpu_q8_quantize does, bit for bit
 * in q and d (inf__q8_block32); s, the block's f32 sum, in another order
 * (8 lanes). */
TGT void inf__cpu_q8_gg_quantize(const float *x, int64_t ldx, int64_t t0, int64_t t1, inf__cpu_xq *xq) {
    const int64_t nb = xq->cols / 32;
    for (int64_t t = t0; t < t1; t++) {
        const float *xr = x + t * ldx;
        for (int64_t b = 0; b < nb; b++) {
            int32_t isum;
            xq->d[t * nb + b] = inf__q8_block32(xr + 32 * b, xq->q + t * xq->ld + 32 * b, &isum);
            __m256 s = _mm256_setzero_ps();
            for (int j = 0; j < 4; j++) s = _mm256_add_ps(s, _mm256_loadu_ps(xr + 32 * b + 8 * j));
            xq->s[t * nb + b] = inf__hsum8(s);
        }
    }
}

/* The 16-row interleaved layouts these kernels read (r16_rows). */
static int is_r16(inf__wfmt f) {
    return f == INF__W_Q4_0_R16 || f == INF__W_MLX4_R16 || f == INF__W_Q4_K_R16 || f == INF__W_Q6_K_R16;
}

/* 1 when inf__cpu_q8_gg_matmul takes w at n tokens. */
int inf__cpu_q8_gg_takes(const inf__weight *w, int64_t n) {
    if (is_r16(w->fmt)) return 1; /* only these kernels read them */
    if (w->fmt == INF__W_MLX8) /* 3+ tokens (gm_tokens_s8); fewer: kernels_q8.c's rows, the exact set's */
        return n >= 3 && w->group >= 32 && w->group % 32 == 0 && w->cols % w->group == 0;
    if (w->fmt == INF__W_Q8_0) /* 3+ tokens (gm_tokens_s8); fewer: the exact set's, at memory speed */
        return n >= 3 && w->cols % 32 == 0;
    if (n < 1 || n > GG_MAX_TOKENS || w->cols % 32) return 0;
    return w->fmt == INF__W_Q4_0 || (w->fmt == INF__W_Q4_K && w->cols % 256 == 0);
}

/* 32 products u8 u times s8 xv as f32 lanes (int32 sums of 4). */
TGT AI __m256 dot_u8(__m256i u, __m256i xv) {
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(u, xv), ones16()));
}

/* Q4_0 block's 16 bytes as 32 nibbles in column order: low nibbles are
 * columns 0-15, high ones 16-31. */
TGT AI __m256i q4_0_u(const uint8_t *qs) {
    const __m128i v = _mm_loadu_si128((const __m128i *)qs), m4 = _mm_set1_epi8(15);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m4), _mm_and_si128(v, m4));
}

TGT AI __m256 f16_bcast(const uint8_t *p) {
    return _mm256_cvtph_ps(_mm_set1_epi16((short)inf__cpu_ggml_u16(p)));
}

/* Q4_0 rows [r, r+R) times token t: y[r+i] = sum over blocks of d (dx P -
 * 8 s). */
TGT AI void rows_q40(int R, const inf__weight *w, const inf__cpu_xq *xq, int64_t t, float *y, int64_t r,
                     const char *next, int64_t step) {
    const int64_t nb = w->cols / 32;
    const uint8_t *row = (const uint8_t *)w->data + r * nb * 18;
    const int8_t *xr = xq->q + t * xq->ld;
    const float *dx = xq->d + t * nb, *sx = xq->s + t * nb;
    __m256 acc[GG_R];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) acc[i] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        if (next) inf__pf_share(next, step, b);
        const __m256i xv = _mm256_loadu_si256((const __m256i *)(xr + 32 * b));
        /* -8 s into lane 0 only: the lanes are summed at the end */
        const __m256 dxv = _mm256_broadcast_ss(dx + b), kv = _mm256_zextps128_ps256(_mm_set_ss(-8.0f * sx[b]));
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            const uint8_t *blk = row + (i * nb + b) * 18;
            acc[i] = _mm256_fmadd_ps(f16_bcast(blk), _mm256_fmadd_ps(dot_u8(q4_0_u(blk + 2), xv), dxv, kv), acc[i]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) y[r + i] = inf__hsum8(acc[i]);
}

/* Q4_K rows [r, r+R) times token t. */
TGT AI void rows_q4k(int R, const inf__weight *w, const inf__cpu_xq *xq, int64_t t, float *y, int64_t r,
                     const char *next, int64_t step) {
    const int64_t nsb = w->cols / 256, nb = w->cols / 32;
    const uint8_t *row = (const uint8_t *)w->data + r * nsb * 144;
    const int8_t *xr = xq->q + t * xq->ld;
    const float *dx = xq->d + t * nb, *sx = xq->s + t * nb;
    const __m256i m4 = _mm256_set1_epi8(15);
    __m256 acc[GG_R], accm[GG_R];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) acc[i] = accm[i] = _mm256_setzero_ps();
    for (int64_t k = 0; k < nsb; k++) {
        if (next) inf__pf_share(next, step, k);
        const __m256 dxv = _mm256_loadu_ps(dx + 8 * k), sv = _mm256_loadu_ps(sx + 8 * k);
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            const uint8_t *blk = row + (i * nsb + k) * 144;
            float dj[8] __attribute__((aligned(32))), cj[8] __attribute__((aligned(32)));
            for (int j = 0; j < 8; j++) inf__cpu_q8_kscale(blk, j, &dj[j], &cj[j]);
            accm[i] = _mm256_fmadd_ps(_mm256_load_ps(cj), sv, accm[i]);
            _mm256_store_ps(dj, _mm256_mul_ps(_mm256_load_ps(dj), dxv)); /* d_j dx_j */
#pragma GCC unroll 4
            for (int p = 0; p < 4; p++) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)(blk + 16 + 32 * p));
                const __m256i xlo = _mm256_loadu_si256((const __m256i *)(xr + 256 * k + 64 * p));
                const __m256i xhi = _mm256_loadu_si256((const __m256i *)(xr + 256 * k + 64 * p + 32));
                acc[i] = _mm256_fmadd_ps(dot_u8(_mm256_and_si256(v, m4), xlo), _mm256_broadcast_ss(dj + 2 * p), acc[i]);
                acc[i] = _mm256_fmadd_ps(dot_u8(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4), xhi),
                                         _mm256_broadcast_ss(dj + 2 * p + 1), acc[i]);
            }
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) y[r + i] = inf__hsum8(_mm256_add_ps(acc[i], accm[i]));
}

/* Rows [r0, r1) of Q4_0 (K 0) or Q4_K (K 2) as stored times the n
 * tokens of xq. */
TGT AI void gg_rows(int K, const inf__weight *w, const inf__cpu_xq *xq, float *y, int64_t ldy, int64_t r0,
                    int64_t r1) {
    const int64_t nb = w->cols / 32;
    const int64_t rb = K == 2 ? w->cols / 256 * 144 : nb * 18; /* bytes per row */
    const int64_t steps = K == 2 ? w->cols / 256 : nb;
    const int64_t ahead = inf__pf_ahead(GG_R * rb), step = inf__pf_step(GG_R * rb, steps);
    int64_t r = r0;
    for (; r + GG_R <= r1; r += GG_R) {
        /* the group of rows ahead, paced over the first token's pass */
        const char *next = r + GG_R + ahead / rb <= w->rows ? (const char *)w->data + r * rb + ahead : NULL;
        for (int64_t t = 0; t < xq->n; t++) {
            const char *pf = t == 0 ? next : NULL;
            if (K == 2) rows_q4k(GG_R, w, xq, t, y + t * ldy, r, pf, step);
            else rows_q40(GG_R, w, xq, t, y + t * ldy, r, pf, step);
        }
    }
    for (; r < r1; r++)
        for (int64_t t = 0; t < xq->n; t++) {
            if (K == 2) rows_q4k(1, w, xq, t, y + t * ldy, r, NULL, 0);
            else rows_q40(1, w, xq, t, y + t * ldy, r, NULL, 0);
        }
}

/* ---- Rows interleaved 16 at a time (INF__W_*_R16), one or two tokens -------
 *
 * Row-major, each block costs its row ~13 operations for 32 products (the
 * nibbles unpacked, maddubs, madd, a conversion, the f16 scale, two FMAs)
 * and the kernel stays below memory speed on 2 cores (1 thread reached
 * half of 2 threads' rate).  Interleaved (model.h, kernels_r16.c), a
 * 32-byte load holds 4 columns of 8 rows (dword i: row i; a group's 16
 * rows are two halves of 8) and the token's 4 int8 are broadcast to every
 * lane, so one maddubs advances 8 rows by 4 columns, and each broadcast
 * serves both halves.  Q4_0's and Q4_K's 8 int16 pair sums of a block
 * stay below 2^15 (16 products of at most 15 x 127), so they are added as
 * int16 and widened once per block; the 8 rows' scales are one vector and
 * the sums come out in y's order.  Per 16 rows and Q4_0 block: 8 loads,
 * 24 operations to unpack, then per token 8 broadcasts, 16 maddubs, 14
 * adds, 2 madds, 2 conversions and 4 FMAs.
 *
 * GCC reassociates the int16 sums (integer addition is associative): it
 * computed all of a block's products first, to add them as a tree, and
 * spilled them to the stack; an empty asm on the sums after each addition
 * keeps them in order (kernels_q8_tile.c's gm_tokens: 52 -> 30 cycles per block
 * and pair of tokens in llvm-mca's znver3 model, 46 stack accesses -> 0;
 * ~1.5x faster measured).  Half by half, with the broadcasts made twice,
 * the one-token loop took ~19 cycles per 8 rows and block (llvm-mca);
 * both halves at once it takes ~20 per 16 rows, and Qwen3-0.6B Q4_0
 * decode went from 52-56 to 63-72 tok/s (Zen 3, 2 threads).  Three
 * tokens or more take the tiles (kernels_q8_tile.c). */

/* Q4_0_R16 (M 0), MLX4_R16 (M 1): group g (both halves) times tokens [t0,
 * t0+T), T 1 or 2, the sums in registers; each 32-byte load unpacked as it
 * comes (low nibbles, high nibbles). */
TGT AI void r16_group(int M, int T, const inf__weight *w, const inf__cpu_xq *xq, float *y, int64_t ldy, int64_t g,
                      int64_t t0, int64_t r0, int64_t r1, const char *next, int64_t step) {
    const q4r q[2] = {q4r_of(M, w, g, 0), q4r_of(M, w, g, 1)};
    const __m256i m4 = _mm256_set1_epi8(15);
    __m256 acc[2][2], dv[2], cv[2];
#pragma GCC unroll 2
    for (int t = 0; t < T; t++)
        for (int h = 0; h < 2; h++) acc[t][h] = _mm256_setzero_ps();
    dv[0] = dv[1] = cv[0] = cv[1] = _mm256_setzero_ps();
    for (int64_t b = 0; b < q[0].nb; b++) {
        if (next) inf__pf_share(next, step, b);
        q4r_scales(&q[0], b, &dv[0], &cv[0]);
        q4r_scales(&q[1], b, &dv[1], &cv[1]);
        __m256i s[2][2];
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            const __m256i v0 = _mm256_loadu_si256((const __m256i *)(q[0].vals + 256 * b + 64 * k));
            const __m256i v1 = _mm256_loadu_si256((const __m256i *)(q[1].vals + 256 * b + 64 * k));
            const __m256i lo0 = _mm256_and_si256(v0, m4), hi0 = _mm256_and_si256(_mm256_srli_epi16(v0, 4), m4);
            const __m256i lo1 = _mm256_and_si256(v1, m4), hi1 = _mm256_and_si256(_mm256_srli_epi16(v1, 4), m4);
#pragma GCC unroll 2
            for (int t = 0; t < T; t++) {
                const int8_t *xb = xq->q + (t0 + t) * xq->ld + 32 * b;
                const __m256i xl = bcast4(xb + 4 * k), xh = bcast4(xb + 16 + 4 * k);
                const __m256i p0 = _mm256_add_epi16(_mm256_maddubs_epi16(lo0, xl), _mm256_maddubs_epi16(hi0, xh));
                const __m256i p1 = _mm256_add_epi16(_mm256_maddubs_epi16(lo1, xl), _mm256_maddubs_epi16(hi1, xh));
                s[t][0] = k ? _mm256_add_epi16(s[t][0], p0) : p0;
                s[t][1] = k ? _mm256_add_epi16(s[t][1], p1) : p1;
                __asm__("" : "+x"(s[t][0]), "+x"(s[t][1])); /* as kernels_q8_tile.c's gm_tokens */
            }
        }
#pragma GCC unroll 2
        for (int t = 0; t < T; t++) { /* the token's scale and sum once for both halves */
            const int64_t i = (t0 + t) * q[0].nb + b;
            const __m256 dx = _mm256_broadcast_ss(xq->d + i), sv = _mm256_broadcast_ss(xq->s + i);
            const __m256 k8 = _mm256_set1_ps(-8.0f * xq->s[i]);
            for (int h = 0; h < 2; h++) {
                acc[t][h] = q4r_scaled(M, s[t][h], dv[h], dx, k8, acc[t][h]);
                if (M) acc[t][h] = q4r_bias(0, cv[h], sv, acc[t][h]);
            }
        }
    }
#pragma GCC unroll 2
    for (int t = 0; t < T; t++)
        for (int h = 0; h < 2; h++)
            if (16 * g + 8 * h + 8 > r0 && 16 * g + 8 * h < r1)
                store_half(y + (t0 + t) * ldy, 16 * g + 8 * h, r0, r1, acc[t][h]);
}

/* Q4_K_R16: group g (both halves) times token t.  Sub-blocks 2p and 2p+1
 * are the low and high nibbles of pair p's 8 parts; y = sum (d sc dx P -
 * dmin mn s), each sub-block's terms in that order (q4r_bias).  One token
 * only: with two, the 8 int16 sums and 8 f32 sums would not leave
 * registers for the rest (two tokens take the tiles). */
TGT AI void r16_group_q4k(const inf__weight *w, const inf__cpu_xq *xq, float *y, int64_t ldy, int64_t g, int64_t t,
                          int64_t r0, int64_t r1, const char *next, int64_t step) {
    const int64_t nsb = w->cols / 256, nb = w->cols / 32;
    const uint8_t *grp = (const uint8_t *)w->data + g * inf__r16_group_bytes(w);
    const __m256i m4 = _mm256_set1_epi8(15);
    __m256 acc[2];
    acc[0] = acc[1] = _mm256_setzero_ps();
    for (int64_t sb = 0; sb < nsb; sb++) {
        const uint8_t *blk = grp + sb * KSB;
        for (int p = 0; p < 4; p++) {
            if (next) inf__pf_share(next, step, 4 * sb + p);
            const int8_t *xs = xq->q + t * xq->ld + 256 * sb + 64 * p;
            __m256i slo[2], shi[2];
#pragma GCC unroll 8
            for (int k = 0; k < 8; k++) {
                const __m256i v0 = _mm256_loadu_si256((const __m256i *)(blk + KQ + 512 * p + 64 * k));
                const __m256i v1 = _mm256_loadu_si256((const __m256i *)(blk + KQ + 512 * p + 64 * k + 32));
                const __m256i xl = bcast4(xs + 4 * k), xh = bcast4(xs + 32 + 4 * k);
                const __m256i a0 = _mm256_maddubs_epi16(_mm256_and_si256(v0, m4), xl);
                const __m256i b0 = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v0, 4), m4), xh);
                const __m256i a1 = _mm256_maddubs_epi16(_mm256_and_si256(v1, m4), xl);
                const __m256i b1 = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v1, 4), m4), xh);
                slo[0] = k ? _mm256_add_epi16(slo[0], a0) : a0;
                shi[0] = k ? _mm256_add_epi16(shi[0], b0) : b0;
                slo[1] = k ? _mm256_add_epi16(slo[1], a1) : a1;
                shi[1] = k ? _mm256_add_epi16(shi[1], b1) : b1;
                __asm__("" : "+x"(slo[0]), "+x"(shi[0]), "+x"(slo[1]), "+x"(shi[1])); /* as kernels_q8_tile.c's gm_tokens */
            }
#pragma GCC unroll 2
            for (int e = 0; e < 2; e++) {
                const int j = 2 * p + e;
                const int64_t i = t * nb + 8 * sb + j;
                for (int h = 0; h < 2; h++) {
                    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(blk + 16 * h)));
                    const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(blk + 32 + 16 * h)));
                    const __m256 dj = _mm256_mul_ps(d, u8x8(blk + KSC + 32 * j + 8 * h));
                    const __m256 mj = _mm256_mul_ps(dmin, u8x8(blk + KSC + 32 * j + 16 + 8 * h));
                    const __m256 pj = _mm256_cvtepi32_ps(_mm256_madd_epi16(e ? shi[h] : slo[h], ones16()));
                    acc[h] = _mm256_fmadd_ps(_mm256_mul_ps(pj, _mm256_broadcast_ss(xq->d + i)), dj, acc[h]);
                    acc[h] = q4r_bias(1, mj, _mm256_broadcast_ss(xq->s + i), acc[h]);
                }
            }
        }
    }
    for (int h = 0; h < 2; h++)
        if (16 * g + 8 * h + 8 > r0 && 16 * g + 8 * h < r1)
            store_half(y + t * ldy, 16 * g + 8 * h, r0, r1, acc[h]);
}

/* Q6_K_R16: group g (both halves) times token t.  Block b's values (u8
 * 0..63) are put together from a ql part (low or high nibbles) and a qh
 * part (a bit pair), as the AVX-512 kernel does (kernels_r16.c: q6_w);
 * each 16 columns' products go through two maddubs added in int16 and a
 * madd with the rows' scales (kernels_q8_avx2.h: q6_part), the block's
 * offset and f32 terms through q6_done (nc: the tokens' int16 pairs of
 * sums of xq, q6k_matmul).  A half super-block's four quarters are
 * unrolled (their shifts constant). */
TGT AI void r16_group_q6k(const inf__weight *w, const inf__cpu_xq *xq, const int32_t *nc, float *y, int64_t ldy,
                          int64_t g, int64_t t, int64_t r0, int64_t r1, const char *next, int64_t step) {
    const int64_t nsb = w->cols / 256, nb = w->cols / 32;
    const uint8_t *grp = (const uint8_t *)w->data + g * inf__r16_group_bytes(w);
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t b4 = 0; b4 < nb; b4 += 4)
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++) { /* a quarter of a half super-block: its shifts constant */
        const int64_t b = b4 + q, sb = b / 8;
        if (next) inf__pf_share(next, step, b);
        const int n = (int)((b % 8) / 4);
        const uint8_t *half = grp + Q6Q(nsb) + 3072 * sb + 1536 * n;
        const int8_t *xb = xq->q + t * xq->ld + 32 * b;
        const q6s s[2] = {q6_scales(grp, nsb, b, 0), q6_scales(grp, nsb, b, 1)};
        __m256i S[2];
#pragma GCC unroll 4
        for (int e = 0; e < 4; e++) {
            const __m256i xa = bcast4(xb + 8 * e), xc = bcast4(xb + 8 * e + 4);
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) {
                const uint8_t *ql = half + 32 * h + 64 * ((q & 1) * 8 + 2 * e), *qh = half + 32 * h + 1024 + 128 * e;
                const __m256i p = q6_part(q6_w(ql, qh, q), q6_w(ql + 64, qh + 64, q), xa, xc, e < 2 ? s[h].lo : s[h].hi);
                S[h] = e ? _mm256_add_epi32(S[h], p) : p;
            }
        }
        const __m256 dx = _mm256_broadcast_ss(xq->d + t * nb + b);
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) acc[h] = q6_done(S[h], s[h].pair, nc[t * nb + b], s[h].d, dx, acc[h]);
    }
    for (int h = 0; h < 2; h++)
        if (16 * g + 8 * h + 8 > r0 && 16 * g + 8 * h < r1) store_half(y + t * ldy, 16 * g + 8 * h, r0, r1, acc[h]);
}

/* Rows [r0, r1) of an R16 matrix (K 0 Q4_0, 1 MLX4, 2 Q4_K, 3 Q6_K: nc,
 * its tokens' sums of xq, q6k_matmul) times xq's tokens: one token (two
 * for Q4_0, MLX4) group by group, more through the tiles. */
TGT AI void r16_rows(int K, const inf__weight *w, const inf__cpu_xq *xq, const int32_t *nc, float *y, int64_t ldy,
                     int64_t r0, int64_t r1) {
    if (xq->n > 2 || (K >= 2 && xq->n == 2)) { /* Q4_K, Q6_K: r16_group_q4k/q6k take one token */
        inf__cpu_q8_tile_gemm(K, w, xq, nc, y, ldy, r0, r1);
        return;
    }
    const int64_t gb = inf__r16_group_bytes(w), ahead = inf__pf_ahead(gb);
    const int64_t step = inf__pf_step(gb, K == 2 ? w->cols / 64 : w->cols / 32);
    for (int64_t g = r0 / 16; 16 * g < r1; g++) {
        const char *next = (const char *)w->data + g * gb + ahead; /* the group ahead, over the pass */
        if (K <= 1 && xq->n == 2) r16_group(K, 2, w, xq, y, ldy, g, 0, r0, r1, next, step);
        else if (K <= 1) r16_group(K, 1, w, xq, y, ldy, g, 0, r0, r1, next, step);
        else if (K == 2) r16_group_q4k(w, xq, y, ldy, g, 0, r0, r1, next, step);
        else r16_group_q6k(w, xq, nc, y, ldy, g, 0, r0, r1, next, step);
    }
}

int64_t inf__cpu_q8_gg_pack_bytes(const inf__weight *w) {
    const inf__wfmt f = w->fmt;
    return f == INF__W_Q4_0 || f == INF__W_MLX4 || f == INF__W_Q4_K || f == INF__W_Q6_K ? inf__cpu_r16_pack_bytes(w) : 0;
}

/* Q6_K_R16: each token's sums of xq over the two halves of each block (16
 * columns each, at most 16 x 127: int16), packed as a pair (low half in
 * the low 16 bits) for q6_done's madd, on the stack for up to 16 tokens
 * of 4,096 columns, else on the heap, else (no memory) as many tokens at a
 * time as the stack holds: at least one, since the packer takes rows of
 * at most Q6_K_MAX_COLS = 32 STACK columns (r16_layout.h). */
static void q6k_matmul(const inf__weight *w, const inf__cpu_xq *xq, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    enum { STACK = Q6_K_MAX_COLS / 32 };
    const int64_t nb = w->cols / 32;
    int32_t stack[STACK];
    int64_t per = xq->n; /* tokens per call of r16_rows */
    int32_t *nc = xq->n * nb <= STACK ? stack : malloc((size_t)(xq->n * nb) * sizeof *nc);
    if (!nc) {
        nc = stack;
        per = STACK / nb;
    }
    for (int64_t t0 = 0; t0 < xq->n; t0 += per) {
        inf__cpu_xq part = *xq;
        part.n = xq->n - t0 < per ? xq->n - t0 : per;
        part.q = xq->q + t0 * xq->ld;
        part.d = xq->d + t0 * nb;
        part.s = xq->s + t0 * nb;
        for (int64_t t = 0; t < part.n; t++)
            for (int64_t b = 0; b < nb; b++) {
                uint32_t half[2]; /* the sums of columns 0-15 and 16-31 */
                for (int c = 0; c < 2; c++) {
                    const __m128i v = _mm_loadu_si128((const __m128i *)(part.q + t * part.ld + 32 * b + 16 * c));
                    const __m128i s = _mm_madd_epi16(_mm_maddubs_epi16(_mm_set1_epi8(1), v), _mm_set1_epi16(1));
                    const __m128i s2 = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
                    half[c] = (uint32_t)_mm_cvtsi128_si32(_mm_add_epi32(s2, _mm_shuffle_epi32(s2, 0xb1)));
                }
                nc[t * nb + b] = (int32_t)(half[1] << 16 | (half[0] & 0xffffu));
            }
        r16_rows(3, w, &part, nc, y + t0 * ldy, ldy, r0, r1);
    }
    if (nc != stack) free(nc);
}

/* As matmul_q8 (kernels.h) for inf__cpu_q8_gg_takes's matrices. */
TGT void inf__cpu_q8_gg_matmul(const inf__weight *w, const inf__cpu_xq *xq, float *y, int64_t ldy, int64_t r0,
                               int64_t r1) {
    if (w->fmt == INF__W_Q6_K_R16) {
        q6k_matmul(w, xq, y, ldy, r0, r1);
        return;
    }
    switch (w->fmt) {
    case INF__W_Q4_0_R16: r16_rows(0, w, xq, NULL, y, ldy, r0, r1); break;
    case INF__W_MLX4_R16: r16_rows(1, w, xq, NULL, y, ldy, r0, r1); break;
    case INF__W_Q4_K_R16: r16_rows(2, w, xq, NULL, y, ldy, r0, r1); break;
    case INF__W_MLX8: inf__cpu_q8_tile_gemm(4, w, xq, NULL, y, ldy, r0, r1); break; /* 3+ tokens (takes) */
    case INF__W_Q8_0: inf__cpu_q8_tile_gemm(5, w, xq, NULL, y, ldy, r0, r1); break;
    case INF__W_Q4_0: gg_rows(0, w, xq, y, ldy, r0, r1); break;
    default: gg_rows(2, w, xq, y, ldy, r0, r1); break;
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif
