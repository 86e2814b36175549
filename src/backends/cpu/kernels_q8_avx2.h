/*
 * The AVX2 int8 pieces shared by precision fast's ggml row kernels
 * (kernels_q8_gg.c: one or two tokens) and its many-token tiles
 * (kernels_q8_tile.c): the token's 4 int8 broadcast, the stores of 8 rows'
 * outputs, the Q4_0/MLX4 interleaved group's scales, nibbles and scaling
 * (one formula for both files, so that a token gets the same bits from
 * either) and Q6_K's value and pair sums.  Private to those two files: it
 * is included after their target pragma (AVX2, FMA, F16C) and
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

/* Q6_K: parts 2e and 2e+1 (values wa, wb) times the token's 8 int8 (xa,
 * xc), widened, into the sums of columns 0-15 (e 0, 1: sl) or 16-31 (e 2,
 * 3: sh). */
TGT AI void q6_pair(int e, __m256i wa, __m256i wb, __m256i xa, __m256i xc, __m256i *sl, __m256i *sh) {
    const __m256i p =
        _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(wa, xa), _mm256_maddubs_epi16(wb, xc)), ones16());
    if (e == 0) *sl = p;
    else if (e == 1) *sl = _mm256_add_epi32(*sl, p);
    else if (e == 2) *sh = p;
    else *sh = _mm256_add_epi32(*sh, p);
}

/* Q6_K: a block's two sums (plus the offsets o[0], o[1]) scaled by the
 * rows' dlo, dhi and the token's dx, added to acc. */
TGT AI __m256 q6_finish(__m256i sl, __m256i sh, const int32_t *o, __m256 dlo, __m256 dhi, __m256 dx, __m256 acc) {
    const __m256i slo = _mm256_add_epi32(sl, _mm256_set1_epi32(o[0]));
    const __m256i shi = _mm256_add_epi32(sh, _mm256_set1_epi32(o[1]));
    const __m256 v = _mm256_fmadd_ps(dhi, _mm256_cvtepi32_ps(shi), _mm256_mul_ps(dlo, _mm256_cvtepi32_ps(slo)));
    return _mm256_fmadd_ps(v, dx, acc);
}

/* Rows [r0, r1) of an R16 matrix (K 0 Q4_0, 1 MLX4, 2 Q4_K, 3 Q6_K: nc,
 * its offsets) or of MLX8 (K 4) or Q8_0 (K 5) as stored times xq's tokens,
 * 3 or more of them, through the tiles of kernels_q8_tile.c. */
void inf__cpu_q8_tile_gemm(int K, const inf__weight *w, const inf__cpu_xq *xq, const int32_t *nc, float *y,
                           int64_t ldy, int64_t r0, int64_t r1);

#endif
