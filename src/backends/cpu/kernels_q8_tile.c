/*
 * Precision fast's int8 tiles for many tokens (prefill, batched decode) on
 * AVX2 without VNNI: the 16-row interleaved layouts (Q4_0, MLX4, Q4_K,
 * Q6_K: INF__W_*_R16) and MLX8 and Q8_0 as stored, 3 or more tokens (the
 * formats, terms and their order: kernels_q8_gg.c's header, whose row
 * kernels take one or two tokens).  Each chunk of a 16-row group is
 * unpacked once to u8 (or transposed s8) and tokens go over it a few at a
 * time, their sums in registers; every output's f32 operations are those
 * of the row kernels, in the same order, so a token's outputs are the same
 * bits whichever kernel computes them.  Private to the cpu backend.
 */
#include "backends/cpu/kernels_x86.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include <stdlib.h>
#include <string.h>

/* The whole file, the headers' inline helpers included, is compiled for
 * AVX2 (as kernels_q8_gg.c). */
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

/* ---- Many tokens: each block unpacked once to u8, then 3 tokens x 16 rows
 *
 * Prefill and batched decode are bound by arithmetic, not memory, and
 * without VNNI each 32 products cost a maddubs and an int16 add (a loop of
 * nothing else reaches ~125-145 billion products per second on one Zen 3
 * core); what matters is what else each maddubs costs.  Unpacking the
 * nibbles again for every pair of tokens, 8 rows at a time, ran at ~37
 * billion (Q4_0, 16 tokens, bench_ggml).  Here a chunk of GM_KC blocks of
 * a 16-row group is unpacked once into u8 (gm_chunk: 5 KiB, in L1), with
 * each block's 16 row scales (and biases) as f32, whatever the format:
 * part j of block b holds columns 4j .. 4j+3, row i's at dword i of its
 * half.  Then tokens go 3 at a time over the chunk: one load of a part
 * serves 3 tokens, one broadcast of a token's 4 int8 serves both halves,
 * and 6 int16 sums and 6 f32 sums stay in registers (~57-72 billion at 64
 * tokens 2 at a time, ~8% more 3 at a time, session 20).  The f32
 * operations per block and output are r16_group's (and
 * r16_group_q4k's), in the same order, the bias terms (MLX4's bias,
 * Q4_K's minimums) included (q4r_bias), so a token's outputs are the same
 * bits whichever kernel computes them. */
#define GM_KC 8  /* blocks per chunk */
/* Tokens per tile, their f32 sums on the stack (8 KiB); each chunk is
 * unpacked once per tile.  bench_ggml 3072 x 1024 x 512 tokens, 6
 * alternated runs: 128 against 64, medians Q4_0 +18%, Q8_0 +11%, MLX8 +3%;
 * 256 no faster than 128.  Qwen3-0.6B prefill 512 (2 threads, 5 alternated
 * rounds): Q8_0 103 -> 115 tok/s with the change before, Q4_0 194 -> 198. */
#define GM_TT 128

typedef struct gm_chunk {
    uint8_t u[GM_KC][2][8][32] __attribute__((aligned(32))); /* block, half, part */
    float dv[GM_KC][16] __attribute__((aligned(32)));        /* scale per block and row */
    float cv[GM_KC][16] __attribute__((aligned(32)));        /* MLX4 bias, Q4_K dmin m_j */
    q6s q6[GM_KC][2];                                        /* Q6_K: each half's scales and d */
} gm_chunk;

/* Blocks [b0, b0+nbk) of group g (K 0 Q4_0, 1 MLX4, 2 Q4_K: b0 a multiple
 * of 8) into c; the group ahead fetched at the pace of the first pass. */
TGT AI void gm_unpack(int K, const inf__weight *w, int64_t g, int64_t b0, int nbk, gm_chunk *c, const char *next,
                      int64_t step) {
    const __m256i m4 = _mm256_set1_epi8(15);
    if (K == 3) { /* Q6_K: as r16_group_q6k puts the values and scales together */
        const int64_t nsb = w->cols / 256;
        const uint8_t *grp = (const uint8_t *)w->data + g * inf__r16_group_bytes(w);
        for (int i = 0; i < nbk; i++) {
            const int64_t b = b0 + i, sb = b / 8;
            const int q = (int)(b % 4), n = (int)((b % 8) / 4);
            if (next) inf__pf_share(next, step, b);
            for (int h = 0; h < 2; h++) {
                const uint8_t *half = grp + Q6Q(nsb) + 3072 * sb + 1536 * n + 32 * h;
                c->q6[i][h] = q6_scales(grp, nsb, b, h);
                for (int k = 0; k < 8; k++)
                    _mm256_store_si256((__m256i *)c->u[i][h][k],
                                       q6_w(half + 64 * ((q & 1) * 8 + k), half + 1024 + 64 * k, q));
            }
        }
        return;
    }
    if (K == 2) {
        const uint8_t *blk = (const uint8_t *)w->data + g * inf__r16_group_bytes(w) + b0 / 8 * KSB;
        for (int h = 0; h < 2; h++) {
            const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(blk + 16 * h)));
            const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(blk + 32 + 16 * h)));
            for (int j = 0; j < 8; j++) {
                _mm256_store_ps(c->dv[j] + 8 * h, _mm256_mul_ps(d, u8x8(blk + KSC + 32 * j + 8 * h)));
                _mm256_store_ps(c->cv[j] + 8 * h, _mm256_mul_ps(dmin, u8x8(blk + KSC + 32 * j + 16 + 8 * h)));
            }
        }
        for (int p = 0; p < 4; p++) {
            if (next) inf__pf_share(next, step, b0 / 2 + p);
            for (int h = 0; h < 2; h++)
#pragma GCC unroll 8
                for (int k = 0; k < 8; k++) {
                    const __m256i v = _mm256_loadu_si256((const __m256i *)(blk + KQ + 512 * p + 64 * k + 32 * h));
                    _mm256_store_si256((__m256i *)c->u[2 * p][h][k], _mm256_and_si256(v, m4));
                    _mm256_store_si256((__m256i *)c->u[2 * p + 1][h][k], _mm256_and_si256(_mm256_srli_epi16(v, 4), m4));
                }
        }
        return;
    }
    for (int h = 0; h < 2; h++) {
        const q4r q = q4r_of(K, w, g, h);
        __m256 dv = _mm256_setzero_ps(), cv = dv;
        if (K && b0 % q.bpg) q4r_scales(&q, b0 - b0 % q.bpg, &dv, &cv); /* a group begun in the last chunk */
        for (int i = 0; i < nbk; i++) {
            const int64_t b = b0 + i;
            if (next && h == 0) inf__pf_share(next, step, b);
            q4r_scales(&q, b, &dv, &cv);
            _mm256_store_ps(c->dv[i] + 8 * h, dv);
            _mm256_store_ps(c->cv[i] + 8 * h, cv);
            __m256i lo[4], hi[4];
            q4r_unpack(&q, b, lo, hi);
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) {
                _mm256_store_si256((__m256i *)c->u[i][h][k], lo[k]);
                _mm256_store_si256((__m256i *)c->u[i][h][4 + k], hi[k]);
            }
        }
    }
}

/* Tokens [t, t+T) (T 1 to 3) times the chunk's nbk blocks from b0, added
 * to acc (16 f32 per token).  Three tokens per pass: each part's two loads
 * serve 6 maddubs instead of 4 (the loads, not the maddubs, bound this
 * loop on Zen 3: a loop of 12 FMAs with one vector load each runs at half
 * the rate of the FMAs alone); 6 int16 sums, 6 f32 sums, the two parts
 * and the broadcast fill 15 of the 16 registers (one f32 sum goes to the
 * stack once per block).  Q6_K's tile takes three tokens as well since its
 * scales go inside the integer sums (gm_tokens_q6k). */
TGT AI void gm_tokens(int K, int T, const gm_chunk *c, int nbk, int64_t b0, const inf__cpu_xq *xq, int64_t t,
                      float (*acc)[16]) {
    const int64_t nb = xq->cols / 32;
    __m256 a[3][2];
#pragma GCC unroll 3
    for (int e = 0; e < T; e++)
        for (int h = 0; h < 2; h++) a[e][h] = _mm256_load_ps(acc[e] + 8 * h);
    for (int i = 0; i < nbk; i++) {
        const int64_t b = b0 + i;
        __m256i s[3][2];
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) {
            const __m256i w0 = _mm256_load_si256((const __m256i *)c->u[i][0][j]);
            const __m256i w1 = _mm256_load_si256((const __m256i *)c->u[i][1][j]);
#pragma GCC unroll 3
            for (int e = 0; e < T; e++) {
                const __m256i xv = bcast4(xq->q + (t + e) * xq->ld + 32 * b + 4 * j);
                const __m256i p0 = _mm256_maddubs_epi16(w0, xv), p1 = _mm256_maddubs_epi16(w1, xv);
                s[e][0] = j ? _mm256_add_epi16(s[e][0], p0) : p0;
                s[e][1] = j ? _mm256_add_epi16(s[e][1], p1) : p1;
                /* the sums kept in order: GCC would otherwise compute
                 * all 32 products first, to add them as a tree, and
                 * spill them (above) */
                __asm__("" : "+x"(s[e][0]), "+x"(s[e][1]));
            }
        }
#pragma GCC unroll 3
        for (int e = 0; e < T; e++) {
            const int64_t x = (t + e) * nb + b;
            const __m256 dx = _mm256_broadcast_ss(xq->d + x), sv = _mm256_broadcast_ss(xq->s + x);
            const __m256 k8 = _mm256_set1_ps(-8.0f * xq->s[x]);
            for (int h = 0; h < 2; h++) {
                a[e][h] = q4r_scaled(K != 0, s[e][h], _mm256_load_ps(c->dv[i] + 8 * h), dx, k8, a[e][h]);
                if (K) a[e][h] = q4r_bias(K == 2, _mm256_load_ps(c->cv[i] + 8 * h), sv, a[e][h]);
            }
        }
    }
#pragma GCC unroll 3
    for (int e = 0; e < T; e++)
        for (int h = 0; h < 2; h++) _mm256_store_ps(acc[e] + 8 * h, a[e][h]);
}

/* The f32 sums of a pass of T tokens (two halves each): with T < 3 in
 * registers (a), loaded from acc before the blocks and stored after; with
 * 3 tokens the int32 sums fill the registers, and each block's result goes
 * to acc (a load and a store per block, as gm_tokens keeps one). */
TGT AI void sums_begin(int T, __m256 (*a)[2], float (*acc)[16]) {
#pragma GCC unroll 3
    for (int e = 0; e < T; e++)
        for (int h = 0; h < 2; h++) a[e][h] = T < 3 ? _mm256_load_ps(acc[e] + 8 * h) : _mm256_setzero_ps();
}

TGT AI __m256 sum_prev(int T, __m256 (*a)[2], float (*acc)[16], int e, int h) {
    return T < 3 ? a[e][h] : _mm256_load_ps(acc[e] + 8 * h);
}

TGT AI void sum_next(int T, __m256 (*a)[2], float (*acc)[16], int e, int h, __m256 r) {
    if (T < 3) a[e][h] = r;
    else _mm256_store_ps(acc[e] + 8 * h, r);
}

TGT AI void sums_end(int T, __m256 (*a)[2], float (*acc)[16]) {
    if (T < 3)
#pragma GCC unroll 2
        for (int e = 0; e < T; e++)
            for (int h = 0; h < 2; h++) _mm256_store_ps(acc[e] + 8 * h, a[e][h]);
}

/* Q6_K: tokens [t, t+T) (T 1 to 3) times the chunk's nbk blocks from b0
 * (nc: the tokens' int16 pairs of sums of xq, q6k_matmul), added to acc,
 * with r16_group_q6k's operations per block and output (q6_part, q6_done).
 * The rows' scales inside the integer sums leave one int32 sum per token
 * and half: three tokens' six sums, the four parts of a quarter and the
 * two broadcasts fill the registers, so the f32 sums stay in acc (a load
 * and a store per block, as gm_tokens_s8); with fewer tokens they stay in
 * registers.  One token at a time, each part loaded again for each token,
 * it ran ~1.5x slower per product than the Q4_K tile. */
TGT AI void gm_tokens_q6k(int T, const gm_chunk *c, int nbk, int64_t b0, const inf__cpu_xq *xq, const int32_t *nc,
                          int64_t t, float (*acc)[16]) {
    const int64_t nb = xq->cols / 32;
    __m256 a[3][2];
    sums_begin(T, a, acc);
    for (int i = 0; i < nbk; i++) {
        const int64_t b = b0 + i;
        __m256i S[3][2];
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            const __m256i wa0 = _mm256_load_si256((const __m256i *)c->u[i][0][2 * j]);
            const __m256i wb0 = _mm256_load_si256((const __m256i *)c->u[i][0][2 * j + 1]);
            const __m256i wa1 = _mm256_load_si256((const __m256i *)c->u[i][1][2 * j]);
            const __m256i wb1 = _mm256_load_si256((const __m256i *)c->u[i][1][2 * j + 1]);
#pragma GCC unroll 3
            for (int e = 0; e < T; e++) {
                const int8_t *xb = xq->q + (t + e) * xq->ld + 32 * b + 8 * j;
                const __m256i xa = bcast4(xb), xc = bcast4(xb + 4);
                const __m256i p0 = q6_part(wa0, wb0, xa, xc, j < 2 ? c->q6[i][0].lo : c->q6[i][0].hi);
                const __m256i p1 = q6_part(wa1, wb1, xa, xc, j < 2 ? c->q6[i][1].lo : c->q6[i][1].hi);
                S[e][0] = j ? _mm256_add_epi32(S[e][0], p0) : p0;
                S[e][1] = j ? _mm256_add_epi32(S[e][1], p1) : p1;
            }
        }
#pragma GCC unroll 3
        for (int e = 0; e < T; e++) {
            const __m256 dx = _mm256_broadcast_ss(xq->d + (t + e) * nb + b);
            const int32_t ncp = nc[(t + e) * nb + b];
            for (int h = 0; h < 2; h++) {
                const __m256 prev = sum_prev(T, a, acc, e, h);
                const __m256 r = q6_done(S[e][h], c->q6[i][h].pair, ncp, c->q6[i][h].d, dx, prev);
                sum_next(T, a, acc, e, h, r);
            }
        }
    }
    sums_end(T, a, acc);
}

/* ---- MLX8 and Q8_0 as stored, 3 or more tokens: int8 products by sign ---
 *
 * MLX8's values q are u8 (0..255), with a scale and a bias per group of
 * columns, and maddubs multiplies u8 by s8: 2 x 255 x 127 overflows its
 * int16 pairs.  So the value is taken as q' = q - 128 (s8) and multiplied
 * as |q'| times xq with q''s sign (sign_epi8), as llama.cpp's AVX2 Q8_0
 * dot product does: pairs at most 2 x 128 x 127, each maddubs widened to
 * int32 by a madd.  The 128 comes back as 128 times the block's sum of
 * xq (gm_xsum: 8 blocks per few vector operations), so each block's
 * integer sum is the portable integer matmul's, sum q xq, exactly, and
 * the f32 terms are its terms, scale dx P + bias s (the bias with the
 * exact sum s of x's block, added to the output's sum with the block's
 * other term: the two nearly cancel for Q8_0).  Taking the 128 into
 * the bias instead, (bias + 128 scale) s, would save that sum but put
 * the result ~1e-3 of sum |w x| off the portable matmul's (the offset
 * times the exact sum of x, not the rounded one).  Q8_0's values are s8
 * already and go in as they are, with the portable matmul's terms for
 * them (u = q + 128, c = -128 d: the same sums and terms).  The
 * chunk holds the s8 values transposed into gm_chunk's layout (part j of
 * a half: dword i = row i's columns 4j .. 4j+3), 8 rows by 8 dwords at a
 * time.  Before this, both took the exact f32 tile at every token count.
 * The sums of xq are made once per call for every token and block (on
 * the heap: n x cols / 32 int32); made for each 16-row group again they
 * were ~8% of a 256-token Q8_0 product's samples, and the bias terms in a
 * pass of their own (as MLX4's and Q4_K's were then) ~5%: without both,
 * bench_ggml Q8_0 3072 x 1024 x 512 tokens, 14 alternated runs, ~8%
 * faster. */

/* v[k] = dword k of rows 0..7 of v (lane i: row i): the f32 8 x 8
 * transpose (kernels_x86.h) on the bits, which its shuffles only move. */
TGT AI void transpose8_epi32(__m256i v[8]) {
    __m256 f[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) f[i] = _mm256_castsi256_ps(v[i]);
    inf__transpose8(f);
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) v[i] = _mm256_castps_si256(f[i]);
}

/* Rows [16g, 16g+16) of MLX8 (K 4) or Q8_0 (K 5), as stored (rows past
 * the matrix: zero values, scales and biases), blocks [b0, b0+nbk) into
 * c, the values as s8 transposed: MLX8's q' = q - 128 with dv, cv each
 * block's group's scales and biases; Q8_0's q itself with its blocks'
 * scales d and -128 d (the portable matmul's terms, kernels_int8.h: u = q
 * + 128, so that gm_xsum's 128 sum(xq) is added to P as for MLX8). */
TGT AI void gm_unpack_s8(int K, const inf__weight *w, int64_t g, int64_t b0, int nbk, gm_chunk *c, const char *next,
                         int64_t step) {
    const int64_t cols = w->cols, bpg = K == 4 ? w->group / 32 : 1, gpr = K == 4 ? cols / w->group : 0;
    const int64_t rb = K == 4 ? cols : cols / 32 * 34; /* bytes per row */
    const __m256i flip = _mm256_set1_epi8(K == 4 ? (char)0x80 : 0);
    for (int h = 0; h < 2; h++) {
        const int64_t row0 = 16 * g + 8 * h;
        const uint8_t *rp[8];
        for (int k = 0; k < 8; k++) rp[k] = row0 + k < w->rows ? (const uint8_t *)w->data + (row0 + k) * rb : NULL;
        __m256 dv = _mm256_setzero_ps(), cv = dv;
        for (int i = 0; i < nbk; i++) {
            const int64_t b = b0 + i;
            if (next && h == 0) inf__pf_share(next, step, b);
            if (i == 0 || b % bpg == 0) {
                float sf[8], cf[8];
                for (int k = 0; k < 8; k++) {
                    if (!rp[k]) {
                        sf[k] = cf[k] = 0.0f;
                    } else if (K == 4) {
                        const int64_t at = (row0 + k) * gpr + b / bpg;
                        sf[k] = inf__load_sb(w->scales, w->sb_dtype, at);
                        cf[k] = inf__load_sb(w->biases, w->sb_dtype, at);
                    } else {
                        sf[k] = INF__Q8_F16(inf__cpu_ggml_u16(rp[k] + 34 * b));
                        cf[k] = -128.0f * sf[k];
                    }
                }
                dv = _mm256_loadu_ps(sf);
                cv = _mm256_loadu_ps(cf);
            }
            _mm256_store_ps(c->dv[i] + 8 * h, dv);
            _mm256_store_ps(c->cv[i] + 8 * h, cv);
            __m256i v[8];
#pragma GCC unroll 8
            for (int k = 0; k < 8; k++)
                v[k] = rp[k] ? _mm256_xor_si256(
                                   _mm256_loadu_si256((const __m256i *)(rp[k] + (K == 4 ? 32 * b : 34 * b + 2))), flip)
                             : _mm256_setzero_si256();
            transpose8_epi32(v);
#pragma GCC unroll 8
            for (int k = 0; k < 8; k++) _mm256_store_si256((__m256i *)c->u[i][h][k], v[k]);
        }
    }
}

/* xs[e * ldxs + i] = 128 times the sum of token t+e's xq over block b0+i,
 * for nt tokens and blocks i < nbk (<= GM_KC; up to GM_KC are written:
 * past nbk, 0); int32: at most 128 x 32 x 127. */
TGT AI void gm_xsum(const inf__cpu_xq *xq, int64_t t, int64_t nt, int64_t b0, int nbk, int32_t *xs, int64_t ldxs) {
    const __m256i one8 = _mm256_set1_epi8(1), one16 = ones16();
    for (int64_t e = 0; e < nt; e++) {
        const int8_t *xb = xq->q + (t + e) * xq->ld + 32 * b0;
        __m256i v[GM_KC];
        for (int i = 0; i < GM_KC; i++) { /* 8 lanes of 4 values' sums each */
            const __m256i xv = i < nbk ? _mm256_loadu_si256((const __m256i *)(xb + 32 * i)) : _mm256_setzero_si256();
            v[i] = _mm256_madd_epi16(_mm256_maddubs_epi16(one8, xv), one16);
        }
        /* lane i of the result: block i's 8 sums added (hadd pairs, then the halves) */
        const __m256i h01 = _mm256_hadd_epi32(v[0], v[1]), h23 = _mm256_hadd_epi32(v[2], v[3]);
        const __m256i h45 = _mm256_hadd_epi32(v[4], v[5]), h67 = _mm256_hadd_epi32(v[6], v[7]);
        const __m256i q0 = _mm256_hadd_epi32(h01, h23), q1 = _mm256_hadd_epi32(h45, h67);
        /* q0: blocks 0 1 2 3 (low half's sums) | 0 1 2 3 (high half's); q1 the same for 4-7 */
        const __m256i lo = _mm256_permute2x128_si256(q0, q1, 0x20), hi = _mm256_permute2x128_si256(q0, q1, 0x31);
        _mm256_storeu_si256((__m256i *)(xs + e * ldxs), _mm256_slli_epi32(_mm256_add_epi32(lo, hi), 7));
    }
}

/* Tokens [t, t+T) (T 1 to 3) times an MLX8 or Q8_0 chunk (gm_unpack_s8;
 * xs[e * ldxs + i]: gm_xsum of token t+e and block b0+i), added to acc,
 * each block's bias term with it: acc = (scale dx P + acc) + bias s.  Each
 * block's operations per output are the same for any T.  Three tokens per
 * pass: each part's load and absolute value serve 6 maddubs instead of 4;
 * the 6 int32 sums, the parts, their absolute values, the broadcast and
 * the ones fill the registers, so the 6 f32 sums stay in acc (a load and
 * a store per block, as gm_tokens keeps one).  With fewer tokens they stay
 * in registers. */
TGT AI void gm_tokens_s8(int T, const gm_chunk *c, int nbk, int64_t b0, const inf__cpu_xq *xq, int64_t t,
                         const int32_t *xs, int64_t ldxs, float (*acc)[16]) {
    const int64_t nb = xq->cols / 32;
    const __m256i one = ones16();
    __m256 a[3][2];
    sums_begin(T, a, acc);
    for (int i = 0; i < nbk; i++) {
        const int64_t b = b0 + i;
        __m256i s[3][2];
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) {
            const __m256i w0 = _mm256_load_si256((const __m256i *)c->u[i][0][j]);
            const __m256i w1 = _mm256_load_si256((const __m256i *)c->u[i][1][j]);
            const __m256i u0 = _mm256_abs_epi8(w0), u1 = _mm256_abs_epi8(w1);
#pragma GCC unroll 3
            for (int e = 0; e < T; e++) {
                const __m256i xv = bcast4(xq->q + (t + e) * xq->ld + 32 * b + 4 * j);
                const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(u0, _mm256_sign_epi8(xv, w0)), one);
                const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(u1, _mm256_sign_epi8(xv, w1)), one);
                s[e][0] = j ? _mm256_add_epi32(s[e][0], p0) : p0;
                s[e][1] = j ? _mm256_add_epi32(s[e][1], p1) : p1;
                __asm__("" : "+x"(s[e][0]), "+x"(s[e][1])); /* as gm_tokens */
            }
        }
#pragma GCC unroll 3
        for (int e = 0; e < T; e++) {
            const __m256 dx = _mm256_broadcast_ss(xq->d + (t + e) * nb + b);
            const __m256 sv = _mm256_broadcast_ss(xq->s + (t + e) * nb + b);
            const __m256i off = _mm256_set1_epi32(xs[e * ldxs + i]); /* q = q' + 128 */
            for (int h = 0; h < 2; h++) {
                const __m256 prev = sum_prev(T, a, acc, e, h);
                const __m256 p = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(s[e][h], off)), dx);
                const __m256 r = q4r_bias(0, _mm256_load_ps(c->cv[i] + 8 * h), sv,
                                          _mm256_fmadd_ps(_mm256_load_ps(c->dv[i] + 8 * h), p, prev));
                sum_next(T, a, acc, e, h, r);
            }
        }
    }
    sums_end(T, a, acc);
}

/* Rows [r0, r1) of an R16 matrix (K 0 Q4_0, 1 MLX4, 2 Q4_K, 3 Q6_K: nc,
 * its tokens' sums of xq, q6k_matmul) or of MLX8 (K 4) or Q8_0 (K 5) as
 * stored times xq's tokens, 3 or more of them. */
TGT AI void r16_gemm(int K, const inf__weight *w, const inf__cpu_xq *xq, const int32_t *nc, float *y, int64_t ldy,
                     int64_t r0, int64_t r1) {
    /* MLX8's and Q8_0's 16 rows are 16 rows' bytes in a row as well */
    const int64_t nb = w->cols / 32;
    const int64_t gb = K == 4 ? 16 * w->cols : K == 5 ? 16 * nb * 34 : inf__r16_group_bytes(w), ahead = inf__pf_ahead(gb);
    const int64_t step = inf__pf_step(gb, K == 2 ? w->cols / 64 : nb);
    gm_chunk c;
    float acc[GM_TT][16] __attribute__((aligned(32)));
    /* MLX8, Q8_0: gm_xsum of every token and block, once for the call (8
     * entries of slack: gm_xsum writes a chunk's 8 whole), else (no
     * memory) of the token tile and chunk, for each group again */
    int32_t xs1[GM_TT * GM_KC], *xsa = NULL;
    if (K >= 4) {
        xsa = malloc((size_t)(xq->n * nb + GM_KC) * sizeof *xsa);
        if (xsa)
            for (int64_t t = 0; t < xq->n; t++)
                for (int64_t b0 = 0; b0 < nb; b0 += GM_KC)
                    gm_xsum(xq, t, 1, b0, (int)(nb - b0 < GM_KC ? nb - b0 : GM_KC), xsa + t * nb + b0, nb);
    }
    for (int64_t g = r0 / 16; 16 * g < r1; g++) {
        const char *next = (const char *)w->data + g * gb + ahead;
        for (int64_t t0 = 0; t0 < xq->n; t0 += GM_TT) {
            const int64_t nt = xq->n - t0 < GM_TT ? xq->n - t0 : GM_TT;
            memset(acc, 0, (size_t)nt * sizeof acc[0]);
            for (int64_t b0 = 0; b0 < nb; b0 += GM_KC) {
                const int nbk = (int)(nb - b0 < GM_KC ? nb - b0 : GM_KC);
                if (K >= 4) gm_unpack_s8(K, w, g, b0, nbk, &c, t0 == 0 ? next : NULL, step);
                else gm_unpack(K, w, g, b0, nbk, &c, t0 == 0 ? next : NULL, step);
                int64_t t = 0;
                if (K == 3) {
                    for (; t + 3 <= nt; t += 3) gm_tokens_q6k(3, &c, nbk, b0, xq, nc, t0 + t, acc + t);
                    if (nt - t == 2) gm_tokens_q6k(2, &c, nbk, b0, xq, nc, t0 + t, acc + t);
                    else if (nt - t == 1) gm_tokens_q6k(1, &c, nbk, b0, xq, nc, t0 + t, acc + t);
                } else if (K >= 4) {
                    const int32_t *xs = xs1;
                    int64_t ldxs = GM_KC;
                    if (xsa) xs = xsa + t0 * nb + b0, ldxs = nb;
                    else gm_xsum(xq, t0, nt, b0, nbk, xs1, GM_KC);
                    for (; t + 3 <= nt; t += 3) gm_tokens_s8(3, &c, nbk, b0, xq, t0 + t, xs + t * ldxs, ldxs, acc + t);
                    if (nt - t == 2) gm_tokens_s8(2, &c, nbk, b0, xq, t0 + t, xs + t * ldxs, ldxs, acc + t);
                    else if (nt - t == 1) gm_tokens_s8(1, &c, nbk, b0, xq, t0 + t, xs + t * ldxs, ldxs, acc + t);
                } else {
                    for (; t + 3 <= nt; t += 3) gm_tokens(K, 3, &c, nbk, b0, xq, t0 + t, acc + t);
                    if (nt - t == 2) gm_tokens(K, 2, &c, nbk, b0, xq, t0 + t, acc + t);
                    else if (nt - t == 1) gm_tokens(K, 1, &c, nbk, b0, xq, t0 + t, acc + t);
                }
            }
            for (int64_t t = 0; t < nt; t++)
                for (int h = 0; h < 2; h++)
                    if (16 * g + 8 * h + 8 > r0 && 16 * g + 8 * h < r1)
                        store_half(y + (t0 + t) * ldy, 16 * g + 8 * h, r0, r1, _mm256_load_ps(acc[t] + 8 * h));
        }
    }
    free(xsa);
}

/* One function per format, each with its tile specialised for it, as the
 * tiles were when kernels_q8_gg.c's callers inlined them. */
#define TILE(NAME, K)                                                                                             \
    static __attribute__((noinline)) void NAME(const inf__weight *w, const inf__cpu_xq *xq, const int32_t *nc,   \
                                               float *y, int64_t ldy, int64_t r0, int64_t r1) {                  \
        r16_gemm(K, w, xq, nc, y, ldy, r0, r1);                                                                   \
    }
TILE(tile_q4_0, 0)
TILE(tile_mlx4, 1)
TILE(tile_q4_k, 2)
TILE(tile_q6_k, 3)
TILE(tile_mlx8, 4)
TILE(tile_q8_0, 5)
#undef TILE

void inf__cpu_q8_tile_gemm(int K, const inf__weight *w, const inf__cpu_xq *xq, const int32_t *nc, float *y,
                           int64_t ldy, int64_t r0, int64_t r1) {
    switch (K) {
    case 0: tile_q4_0(w, xq, nc, y, ldy, r0, r1); break;
    case 1: tile_mlx4(w, xq, nc, y, ldy, r0, r1); break;
    case 2: tile_q4_k(w, xq, nc, y, ldy, r0, r1); break;
    case 3: tile_q6_k(w, xq, nc, y, ldy, r0, r1); break;
    case 4: tile_mlx8(w, xq, nc, y, ldy, r0, r1); break;
    default: tile_q8_0(w, xq, nc, y, ldy, r0, r1); break;
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif
