/*
 * The AVX2 int8 pieces shared by precision fast's ggml row kernels
 * (kernels_q8_gg.c: one or two tokens) and its many-token tiles
 * (kernels_q8_tile.c): the token's 4 int8 broadcast, the stores of 8 rows'
 * outputs, the Q4_0/MLX4 interleaved group's scales, nibbles and scaling
 * (one formula for both files, so that a token gets the same bits from
 * either) and Q6_K's values, scales, scaled sums and f32 terms.  Private
 * to those two files: it is included after their target pragma (AVX2, FMA,
 * F16C) and
 * kernels_int8.h, r16_layout.h, which its inline functions compile under
 * and use.
 */
#ifndef INF_BACKENDS_CPU_KERNELS_Q8_AVX2_H
#define INF_BACKENDS_CPU_KERNELS_Q8_AVX2_H

#include <string.h>

#define TGT
#define AI static inline __attribute__((always_inline))

TGT AI __m256i ones16(void) { return _mm256_set1_epi16(1); }

TGT AI __m256i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* The stores of half h's 8 rows (row0 .. row0+7) of token t: lanes of
 * rows outside [r0, r1) untouched. */
TGT AI void store_half(float *yt, int64_t row0, int64_t r0, int64_t r1, __m256 v) {
    if (row0 >= r0 && row0 + 8 <= r1) {
        _mm256_storeu_ps(yt + row0, v);
        return;
    }
    float l[8];
    _mm256_storeu_ps(l, v);
    for (int i = 0; i < 8; i++)
        if (row0 + i >= r0 && row0 + i < r1) yt[row0 + i] = l[i];
}

/* The pieces of the Q4_0_R16 (M 0) and MLX4_R16 (M 1) kernels below, half
 * h (rows 8h .. 8h+7) of a group at grp.  Q4_0: y = sum over blocks of d
 * (dx P - 8 s); MLX4 (the same nibbles, a scale and a bias per group of
 * columns, stored as the file has them): y = sum (scale dx P + bias s),
 * each block's bias term added after its scaled sum (q4r_bias). */
typedef struct q4r {
    int M;
    int64_t nb, bpg, sbs; /* blocks; MLX: blocks per group, bytes per scale */
    const uint8_t *grp, *vals;
    inf__dtype dt;
    int h;
} q4r;

TGT AI q4r q4r_of(int M, const inf__weight *w, int64_t g, int h) {
    q4r q = {M, w->cols / 32, M ? w->group / 32 : 1, w->sb_dtype == INF__DT_F32 ? 4 : 2, NULL, NULL, w->sb_dtype, h};
    q.grp = (const uint8_t *)w->data + g * inf__r16_group_bytes(w);
    q.vals = q.grp + (M ? q.nb / q.bpg * 32 * q.sbs : q.nb * 32) + 32 * h;
    return q;
}

/* Block b's 8 rows' scale (dv) and, MLX at a group's first block, bias. */
TGT AI void q4r_scales(const q4r *q, int64_t b, __m256 *dv, __m256 *cv) {
    if (!q->M) {
        *dv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(q->grp + 32 * b + 16 * q->h)));
    } else if (b % q->bpg == 0) { /* the group's 16 scales, then 16 biases */
        const uint8_t *sb = q->grp + b / q->bpg * 32 * q->sbs;
        *dv = inf__load_sb8(sb, q->dt, 8 * q->h);
        *cv = inf__load_sb8(sb, q->dt, 16 + 8 * q->h);
    }
}

/* Block b's 4 parts: low nibbles (columns 4k ..) and high (16 + 4k ..). */
TGT AI void q4r_unpack(const q4r *q, int64_t b, __m256i lo[4], __m256i hi[4]) {
    const __m256i m4 = _mm256_set1_epi8(15);
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)(q->vals + 256 * b + 64 * k));
        lo[k] = _mm256_and_si256(v, m4);
        hi[k] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
    }
}

/* A block's int16 pair sums s16 (8 rows) scaled and added to acc: Q4_0
 * (M 0) dv (dx P - 8 s) with k8 = -8 s, MLX4 and Q4_K (M 1) dv (dx P),
 * their bias terms apart.  The one formula of the group kernels and the
 * tiles, so that both give a token the same bits. */
TGT AI __m256 q4r_scaled(int M, __m256i s16, __m256 dv, __m256 dx, __m256 k8, __m256 acc) {
    const __m256 p = _mm256_cvtepi32_ps(_mm256_madd_epi16(s16, ones16()));
    return M ? _mm256_fmadd_ps(dv, _mm256_mul_ps(p, dx), acc) : _mm256_fmadd_ps(dv, _mm256_fmadd_ps(p, dx, k8), acc);
}

/* A block's bias term cv s added to acc after its scaled sum (q4r_scaled):
 * MLX4's and MLX8's bias (sub 0), Q4_K's minimum dmin m (sub 1:
 * subtracted).  One sum per output, not the scaled sums and the bias terms
 * apart: a pass of its own over the biases was ~5% of a 256-token product
 * (perf, Q8_0's tile), and the two terms nearly cancel where the values
 * are offset (MLX8's q - 128). */
TGT AI __m256 q4r_bias(int sub, __m256 cv, __m256 sv, __m256 acc) {
    return sub ? _mm256_fnmadd_ps(cv, sv, acc) : _mm256_fmadd_ps(cv, sv, acc);
}

/* 8 u8 at p as f32 lanes. */
TGT AI __m256 u8x8(const uint8_t *p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}

/* Q6_K: one 32-byte part of values (u8 0..63) from its ql part (low
 * nibbles for quarters 0-1, high for 2-3) and its qh part (bit pair q). */
TGT AI __m256i q6_w(const uint8_t *ql, const uint8_t *qh, int q) {
    const __m256i a = _mm256_loadu_si256((const __m256i *)ql), hb = _mm256_loadu_si256((const __m256i *)qh);
    const __m256i lo = _mm256_and_si256(q >= 2 ? _mm256_srli_epi16(a, 4) : a, _mm256_set1_epi8(15));
    const __m256i hi = _mm256_and_si256(q ? _mm256_srli_epi16(hb, 2 * q) : hb, _mm256_set1_epi8(3));
    return _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
}

/* Q6_K's scales in the integer sums.  A block of 32 columns has two
 * sub-blocks of 16 (lo, hi) with an int8 scale per row each; each 16
 * columns' products are summed in int16 pairs (two maddubs of values up to
 * 63 times xq: at most 4 x 63 x 127) and widened by a madd with the rows'
 * scales instead of ones, so that a block's two sums and both scales make
 * one int32 per row, S = sc_lo P_lo + sc_hi P_hi, exactly (at most 2 x 128
 * x 16 x 63 x 127, with the offset below ~5e7).  The offset of q - 32 comes
 * the same way: nc, the token's sums of xq over the two sub-blocks as an
 * int16 pair, times the rows' (sc_lo, sc_hi) pairs, times 32.  One
 * conversion and two f32 operations per block and 8 rows instead of two
 * conversions and four, and a single int32 sum per row and token, so that
 * the tile can take three tokens at a time in registers (gm_tokens_q6k). */

/* 8 rows' int8 scales at p as int16 pairs (s, s): row i's madd scale. */
TGT AI __m256i q6_sc16(const uint8_t *p) {
    const __m128i v = _mm_loadl_epi64((const __m128i *)p);
    return _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(v, v));
}

/* 8 rows' lo and hi scales as int16 pairs (lo, hi): the offset's madd. */
TGT AI __m256i q6_scpair(const uint8_t *lo, const uint8_t *hi) {
    return _mm256_cvtepi8_epi16(
        _mm_unpacklo_epi8(_mm_loadl_epi64((const __m128i *)lo), _mm_loadl_epi64((const __m128i *)hi)));
}

/* Block b's scales for rows 8h..8h+7 of a Q6_K_R16 group (r16_layout.h):
 * q6_sc16 of its lo and hi sub-blocks, their q6_scpair, and the rows' d;
 * read the same way by the row kernel and the tile's unpacking. */
typedef struct q6s {
    __m256i lo, hi, pair;
    __m256 d;
} q6s;

TGT AI q6s q6_scales(const uint8_t *grp, int64_t nsb, int64_t b, int h) {
    const uint8_t *sc = grp + Q6SC(nsb) + 256 * (b / 8) + 32 * (b % 8) + 8 * h;
    const q6s s = {q6_sc16(sc), q6_sc16(sc + 16), q6_scpair(sc, sc + 16),
                   _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(grp + 32 * (b / 8) + 16 * h)))};
    return s;
}

/* Parts 2e and 2e+1 (values wa, wb) times the token's 8 int8 (xa, xc),
 * summed in int16 and widened with the rows' scales sc16 (q6_sc16 of the
 * sub-block: lo for e 0, 1, hi for e 2, 3). */
TGT AI __m256i q6_part(__m256i wa, __m256i wb, __m256i xa, __m256i xc, __m256i sc16) {
    return _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(wa, xa), _mm256_maddubs_epi16(wb, xc)), sc16);
}

/* A block's sum S (its four q6_part added) with the offset of q - 32
 * (scpair: q6_scpair; ncp: the token's xq sums of the block's two halves,
 * int16 pair) scaled by the rows' d and the token's dx, added to acc:
 * d dx (S - 32 (sc_lo X_lo + sc_hi X_hi)) = d dx sum_k sc_k (q_k - 32) xq_k. */
TGT AI __m256 q6_done(__m256i S, __m256i scpair, int32_t ncp, __m256 d, __m256 dx, __m256 acc) {
    const __m256i off = _mm256_madd_epi16(scpair, _mm256_set1_epi32(ncp));
    const __m256i T = _mm256_sub_epi32(S, _mm256_slli_epi32(off, 5));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(T), _mm256_mul_ps(d, dx), acc);
}

/* Rows [r0, r1) of an R16 matrix (K 0 Q4_0, 1 MLX4, 2 Q4_K, 3 Q6_K: nc,
 * its tokens' sums of xq, q6k_matmul) or of MLX8 (K 4) or Q8_0 (K 5) as
 * stored times xq's tokens, 3 or more of them, through the tiles of
 * kernels_q8_tile.c. */
void inf__cpu_q8_tile_gemm(int K, const inf__weight *w, const inf__cpu_xq *xq, const int32_t *nc, float *y,
                           int64_t ldy, int64_t r0, int64_t r1);

#endif
