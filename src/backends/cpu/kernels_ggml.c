/*
 * ggml block formats (Q8_0 .. Q6_K) on AVX2+FMA+F16C, for the avx2 set (and
 * the avx512 set, whose prefill panels dequantise through the tile here).
 * Exact like the other sets: weights become f32 and x stays f32 (no int8
 * activations); only the summation order differs from the reference.
 *
 * One token (decode), Q8_0, Q4_0, Q4_K, Q6_K: each block's integers are
 * unpacked in registers (8 bytes -> 8 int32 lanes; for the 4-bit types the
 * low and high nibbles of the same 8 bytes are two runs of values) and
 * dotted with x as f32 FMAs; the block (sub-block) scale multiplies that
 * partial sum once.  Q4_K's minimums are a dot product of the 8 mins with
 * per-32 sums of x computed once per call; Q4_0's offset -8 is applied the
 * same way (8 d sum(x_block)), which saves a vector subtraction per 8
 * values (~7% on the shared machine).  The avx512 set has 16-lane versions
 * of Q8_0, Q4_K and Q6_K (Q4_0 measured no faster on 16 lanes).  Rows in groups that share the
 * x loads; every row is the same sequence of operations whatever the
 * group, so results do not depend on the row split.
 *
 * Tiles (several tokens): rows x columns as f32, bit-identical to
 * inf__cpu_dequant_range (every ggml value is an exact product plus at
 * most one rounding, done here in the same order); vector code for the
 * four types above, the portable dequantiser for the others.
 */
#include "backends/cpu/ggml_blocks.h"
#include "backends/cpu/kernels.h"
#include "backends/cpu/kernels_x86.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include <immintrin.h>

#define TGT __attribute__((target("avx2,fma,f16c")))
#define AI static inline __attribute__((always_inline))

TGT AI float h2f(const uint8_t *p) { return _cvtsh_ss(inf__cpu_ggml_u16(p)); }

/* 8 bytes at p as 8 int32 lanes (unsigned / signed). */
TGT AI __m256i u8x8(const uint8_t *p) { return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p)); }
TGT AI __m256i i8x8(const uint8_t *p) { return _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)); }

/* The 8 6-bit scales and 8 mins of a Q4_K/Q5_K block (get_scale_min_k4
 * for all j at once), as 8 bytes each. */
AI void k4_scales(const uint8_t *s, uint8_t sc[8], uint8_t mn[8]) {
    uint32_t a, b, c;
    memcpy(&a, s, 4);
    memcpy(&b, s + 4, 4);
    memcpy(&c, s + 8, 4);
    const uint32_t sl = a & 0x3f3f3f3fu, ml = b & 0x3f3f3f3fu;
    const uint32_t sh = (c & 0x0f0f0f0fu) | ((a >> 2) & 0x30303030u);
    const uint32_t mh = ((c >> 4) & 0x0f0f0f0fu) | ((b >> 2) & 0x30303030u);
    memcpy(sc, &sl, 4);
    memcpy(sc + 4, &sh, 4);
    memcpy(mn, &ml, 4);
    memcpy(mn + 4, &mh, 4);
}

/* Software prefetch for the one-token kernels: rows [r, r+R) are one
 * contiguous run of R*nb blocks, and the next R rows follow it; while
 * block b of this group is read, the same share of the next group is
 * fetched (R rows ahead, e.g. 8.5 KiB for 4 rows of 2048 Q8_0 values).
 * Short rows are separate streams that the hardware prefetcher ramps up
 * on too late (as for MLX in kernels_avx512.c).  Prefetches never fault,
 * so the last group's reach past the matrix is harmless. */
AI void pf_next(const uint8_t *base, int R, int64_t nb, int64_t bb, int64_t b) {
    const uint8_t *p = base + (int64_t)R * nb * bb + b * R * bb;
    for (int64_t o = 0; o < R * bb; o += 64) __builtin_prefetch(p + o, 0, 3);
}

/* ---- one token --------------------------------------------------------- */

/* Q8_0: 34-byte blocks of f16 d and 32 int8. */
TGT AI void q8_0_rows(int R, const inf__weight *w, int64_t r, const float *x, float *y) {
    const int64_t nb = w->cols / 32;
    const uint8_t *base = (const uint8_t *)w->data + r * nb * 34;
    __m256 acc[4];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) acc[i] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        pf_next(base, R, nb, 34, b);
        const float *xb = x + 32 * b;
        const __m256 x0 = _mm256_loadu_ps(xb), x1 = _mm256_loadu_ps(xb + 8);
        const __m256 x2 = _mm256_loadu_ps(xb + 16), x3 = _mm256_loadu_ps(xb + 24);
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            const uint8_t *p = base + (i * nb + b) * 34;
            __m256 s = _mm256_mul_ps(_mm256_cvtepi32_ps(i8x8(p + 2)), x0);
            s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i8x8(p + 10)), x1, s);
            s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i8x8(p + 18)), x2, s);
            s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i8x8(p + 26)), x3, s);
            acc[i] = _mm256_fmadd_ps(s, _mm256_set1_ps(h2f(p)), acc[i]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) y[r + i] = inf__hsum8(acc[i]);
}

/* Q4_0: 18-byte blocks of f16 d and 16 bytes; byte j = value j (low
 * nibble) and j+16 (high); w = d*(q-8), summed as d*(q . x) - 8*d*xs[b]
 * with xs the per-32 sums of x. */
TGT AI void q4_0_rows(int R, const inf__weight *w, int64_t r, const float *x, const float *xs,
                      float *y) {
    const int64_t nb = w->cols / 32;
    const uint8_t *base = (const uint8_t *)w->data + r * nb * 18;
    const __m256i m4 = _mm256_set1_epi32(15);
    __m256 acc[4];
    float off[4];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) { acc[i] = _mm256_setzero_ps(); off[i] = 0.0f; }
    for (int64_t b = 0; b < nb; b++) {
        pf_next(base, R, nb, 18, b);
        const float *xb = x + 32 * b;
        const __m256 x0 = _mm256_loadu_ps(xb), x1 = _mm256_loadu_ps(xb + 8);
        const __m256 x2 = _mm256_loadu_ps(xb + 16), x3 = _mm256_loadu_ps(xb + 24);
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            const uint8_t *p = base + (i * nb + b) * 18;
            const __m256i v0 = u8x8(p + 2), v1 = u8x8(p + 10);
            __m256 s = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_and_si256(v0, m4)), x0);
            s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_and_si256(v1, m4)), x1, s);
            s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(v0, 4)), x2, s);
            s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(v1, 4)), x3, s);
            const float d = h2f(p);
            acc[i] = _mm256_fmadd_ps(s, _mm256_set1_ps(d), acc[i]);
            off[i] += d * xs[b];
        }
    }
    /* sum d (q - 8) x = sum d (q . x) - 8 sum d xs: no per-lane offset. */
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) y[r + i] = inf__hsum8(acc[i]) - 8.0f * off[i];
}

/* Q4_K: 144-byte super-blocks of 256: f16 d, f16 dmin, 12 bytes of 6-bit
 * scales/mins, 128 bytes: each 32 bytes hold sub-block 2j (low nibbles)
 * and 2j+1 (high).  Row = sum_s d*sc_s * (q_s . x_s) - dmin * sum_s mn_s *
 * xs[s], xs = per-32 sums of x. */
TGT AI void q4_k_rows(int R, const inf__weight *w, int64_t r, const float *x, const float *xs,
                      float *y) {
    const int64_t nb = w->cols / 256;
    const uint8_t *base = (const uint8_t *)w->data + r * nb * 144;
    const __m256i m4 = _mm256_set1_epi32(15);
    __m256 acc[2][2], macc[2];
#pragma GCC unroll 2
    for (int i = 0; i < R; i++) acc[i][0] = acc[i][1] = macc[i] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        pf_next(base, R, nb, 144, b);
        const float *xb = x + 256 * b;
#pragma GCC unroll 2
        for (int i = 0; i < R; i++) {
            const uint8_t *p = base + (i * nb + b) * 144;
            uint8_t sc[8], mn[8];
            k4_scales(p + 4, sc, mn);
            const __m256 dv = _mm256_set1_ps(h2f(p));
            float ds[8] __attribute__((aligned(32)));
            _mm256_store_ps(ds, _mm256_mul_ps(dv, _mm256_cvtepi32_ps(u8x8(sc))));
            const __m256 mv = _mm256_mul_ps(_mm256_set1_ps(h2f(p + 2)), _mm256_cvtepi32_ps(u8x8(mn)));
            macc[i] = _mm256_fmadd_ps(mv, _mm256_loadu_ps(xs + 8 * b), macc[i]);
            const uint8_t *q = p + 16;
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                const float *xj = xb + 64 * j;
                __m256 slo = _mm256_setzero_ps(), shi = _mm256_setzero_ps();
#pragma GCC unroll 4
                for (int l = 0; l < 32; l += 8) {
                    const __m256i v = u8x8(q + 32 * j + l);
                    slo = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_and_si256(v, m4)), _mm256_loadu_ps(xj + l), slo);
                    shi = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(v, 4)), _mm256_loadu_ps(xj + 32 + l), shi);
                }
                acc[i][0] = _mm256_fmadd_ps(slo, _mm256_broadcast_ss(ds + 2 * j), acc[i][0]);
                acc[i][1] = _mm256_fmadd_ps(shi, _mm256_broadcast_ss(ds + 2 * j + 1), acc[i][1]);
            }
        }
    }
#pragma GCC unroll 2
    for (int i = 0; i < R; i++)
        y[r + i] = inf__hsum8(_mm256_add_ps(acc[i][0], acc[i][1])) - inf__hsum8(macc[i]);
}

/* Q6_K: 210-byte super-blocks: ql[128], qh[64], int8 scales[16], f16 d;
 * per 128 values, lanes l..l+7 of ql[l], ql[l+32] and qh[l] give values
 * l, l+32, l+64, l+96 (scale groups of 16: l/16 + 0, 2, 4, 6). */
TGT AI void q6_k_rows(int R, const inf__weight *w, int64_t r, const float *x, float *y) {
    const int64_t nb = w->cols / 256;
    const uint8_t *base = (const uint8_t *)w->data + r * nb * 210;
    const __m256i m4 = _mm256_set1_epi32(15), m48 = _mm256_set1_epi32(48), c32 = _mm256_set1_epi32(32);
    __m256 acc[2][2];
#pragma GCC unroll 2
    for (int i = 0; i < R; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        pf_next(base, R, nb, 210, b);
#pragma GCC unroll 2
        for (int i = 0; i < R; i++) {
            const uint8_t *p = base + (i * nb + b) * 210;
            const __m256 dv = _mm256_set1_ps(h2f(p + 208));
            float ds[16] __attribute__((aligned(32)));
            _mm256_store_ps(ds, _mm256_mul_ps(dv, _mm256_cvtepi32_ps(i8x8(p + 192))));
            _mm256_store_ps(ds + 8, _mm256_mul_ps(dv, _mm256_cvtepi32_ps(i8x8(p + 200))));
#pragma GCC unroll 2
            for (int h2 = 0; h2 < 2; h2++) {
                const uint8_t *ql = p + 64 * h2, *qh = p + 128 + 32 * h2;
                const float *xh = x + 256 * b + 128 * h2;
#pragma GCC unroll 2
                for (int g = 0; g < 2; g++) { /* scale groups l/16 = g */
                    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
#pragma GCC unroll 2
                    for (int l = 16 * g; l < 16 * g + 16; l += 8) {
                        const __m256i A = u8x8(ql + l), B = u8x8(ql + 32 + l), H = u8x8(qh + l);
                        const __m256i q0 = _mm256_or_si256(_mm256_and_si256(A, m4), _mm256_and_si256(_mm256_slli_epi32(H, 4), m48));
                        const __m256i q1 = _mm256_or_si256(_mm256_and_si256(B, m4), _mm256_and_si256(_mm256_slli_epi32(H, 2), m48));
                        const __m256i q2 = _mm256_or_si256(_mm256_srli_epi32(A, 4), _mm256_and_si256(H, m48));
                        const __m256i q3 = _mm256_or_si256(_mm256_srli_epi32(B, 4), _mm256_and_si256(_mm256_srli_epi32(H, 2), m48));
#define Q6V(v) _mm256_cvtepi32_ps(_mm256_sub_epi32(v, c32))
                        s0 = _mm256_fmadd_ps(Q6V(q0), _mm256_loadu_ps(xh + l), s0);
                        s1 = _mm256_fmadd_ps(Q6V(q1), _mm256_loadu_ps(xh + 32 + l), s1);
                        s2 = _mm256_fmadd_ps(Q6V(q2), _mm256_loadu_ps(xh + 64 + l), s2);
                        s3 = _mm256_fmadd_ps(Q6V(q3), _mm256_loadu_ps(xh + 96 + l), s3);
#undef Q6V
                    }
                    const float *dg = ds + 8 * h2 + g;
                    acc[i][0] = _mm256_fmadd_ps(s0, _mm256_broadcast_ss(dg), acc[i][0]);
                    acc[i][1] = _mm256_fmadd_ps(s1, _mm256_broadcast_ss(dg + 2), acc[i][1]);
                    acc[i][0] = _mm256_fmadd_ps(s2, _mm256_broadcast_ss(dg + 4), acc[i][0]);
                    acc[i][1] = _mm256_fmadd_ps(s3, _mm256_broadcast_ss(dg + 6), acc[i][1]);
                }
            }
        }
    }
#pragma GCC unroll 2
    for (int i = 0; i < R; i++) y[r + i] = inf__hsum8(_mm256_add_ps(acc[i][0], acc[i][1]));
}

#define XS_MAX 4096 /* per-32 sums of x: up to 131072 columns */

TGT static void sums32(const float *x, int64_t cols, float *xs) {
    for (int64_t s = 0; s < cols / 32; s++) {
        const float *p = x + 32 * s;
        __m256 a = _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)),
                                 _mm256_add_ps(_mm256_loadu_ps(p + 16), _mm256_loadu_ps(p + 24)));
        xs[s] = inf__hsum8(a);
    }
}

TGT int inf__cpu_ggml_avx2_decode(const inf__weight *w, const float *x, float *y, int64_t r0, int64_t r1) {
    int64_t r = r0;
    switch (w->fmt) {
    case INF__W_Q8_0:
        for (; r + 4 <= r1; r += 4) q8_0_rows(4, w, r, x, y);
        for (; r < r1; r++) q8_0_rows(1, w, r, x, y);
        return 1;
    case INF__W_Q4_0: {
        if (w->cols / 32 > XS_MAX) return 0;
        float xs[XS_MAX];
        sums32(x, w->cols, xs);
        for (; r + 4 <= r1; r += 4) q4_0_rows(4, w, r, x, xs, y);
        for (; r < r1; r++) q4_0_rows(1, w, r, x, xs, y);
        return 1;
    }
    case INF__W_Q4_K: {
        if (w->cols / 32 > XS_MAX) return 0;
        float xs[XS_MAX];
        sums32(x, w->cols, xs);
        for (; r + 2 <= r1; r += 2) q4_k_rows(2, w, r, x, xs, y);
        for (; r < r1; r++) q4_k_rows(1, w, r, x, xs, y);
        return 1;
    }
    case INF__W_Q6_K:
        for (; r + 2 <= r1; r += 2) q6_k_rows(2, w, r, x, y);
        for (; r < r1; r++) q6_k_rows(1, w, r, x, y);
        return 1;
    default:
        return 0;
    }
}

/* ---- one token, AVX-512 (the avx512 set): the same kernels on 16 lanes -- */

#define TGT5 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))

TGT5 AI __m512i u8x16(const uint8_t *p) { return _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p)); }
TGT5 AI __m512i i8x16(const uint8_t *p) { return _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p)); }

TGT5 AI void q8_0_rows16(int R, const inf__weight *w, int64_t r, const float *x, float *y) {
    const int64_t nb = w->cols / 32;
    const uint8_t *base = (const uint8_t *)w->data + r * nb * 34;
    __m512 acc[4];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) acc[i] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        pf_next(base, R, nb, 34, b);
        const __m512 x0 = _mm512_loadu_ps(x + 32 * b), x1 = _mm512_loadu_ps(x + 32 * b + 16);
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            const uint8_t *p = base + (i * nb + b) * 34;
            __m512 s = _mm512_mul_ps(_mm512_cvtepi32_ps(i8x16(p + 2)), x0);
            s = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i8x16(p + 18)), x1, s);
            acc[i] = _mm512_fmadd_ps(s, _mm512_set1_ps(h2f(p)), acc[i]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) y[r + i] = _mm512_reduce_add_ps(acc[i]);
}

TGT5 AI void q4_k_rows16(int R, const inf__weight *w, int64_t r, const float *x, const float *xs,
                         float *y) {
    const int64_t nb = w->cols / 256;
    const uint8_t *base = (const uint8_t *)w->data + r * nb * 144;
    const __m512i m4 = _mm512_set1_epi32(15);
    __m512 acc[2][2];
    __m256 macc[2];
#pragma GCC unroll 2
    for (int i = 0; i < R; i++) {
        acc[i][0] = acc[i][1] = _mm512_setzero_ps();
        macc[i] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < nb; b++) {
        pf_next(base, R, nb, 144, b);
        const float *xb = x + 256 * b;
#pragma GCC unroll 2
        for (int i = 0; i < R; i++) {
            const uint8_t *p = base + (i * nb + b) * 144;
            uint8_t sc[8], mn[8];
            k4_scales(p + 4, sc, mn);
            float ds[8] __attribute__((aligned(32)));
            _mm256_store_ps(ds, _mm256_mul_ps(_mm256_set1_ps(h2f(p)), _mm256_cvtepi32_ps(u8x8(sc))));
            const __m256 mv = _mm256_mul_ps(_mm256_set1_ps(h2f(p + 2)), _mm256_cvtepi32_ps(u8x8(mn)));
            macc[i] = _mm256_fmadd_ps(mv, _mm256_loadu_ps(xs + 8 * b), macc[i]);
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                const uint8_t *q = p + 16 + 32 * j;
                const float *xj = xb + 64 * j;
                const __m512i v0 = u8x16(q), v1 = u8x16(q + 16);
                __m512 slo = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_and_si512(v0, m4)), _mm512_loadu_ps(xj));
                slo = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_and_si512(v1, m4)), _mm512_loadu_ps(xj + 16), slo);
                __m512 shi = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(v0, 4)), _mm512_loadu_ps(xj + 32));
                shi = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(v1, 4)), _mm512_loadu_ps(xj + 48), shi);
                acc[i][0] = _mm512_fmadd_ps(slo, _mm512_set1_ps(ds[2 * j]), acc[i][0]);
                acc[i][1] = _mm512_fmadd_ps(shi, _mm512_set1_ps(ds[2 * j + 1]), acc[i][1]);
            }
        }
    }
#pragma GCC unroll 2
    for (int i = 0; i < R; i++)
        y[r + i] = _mm512_reduce_add_ps(_mm512_add_ps(acc[i][0], acc[i][1])) - inf__hsum8(macc[i]);
}

TGT5 AI void q6_k_rows16(int R, const inf__weight *w, int64_t r, const float *x, float *y) {
    const int64_t nb = w->cols / 256;
    const uint8_t *base = (const uint8_t *)w->data + r * nb * 210;
    const __m512i m4 = _mm512_set1_epi32(15), m48 = _mm512_set1_epi32(48), c32 = _mm512_set1_epi32(32);
    __m512 acc[2][2];
#pragma GCC unroll 2
    for (int i = 0; i < R; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        pf_next(base, R, nb, 210, b);
#pragma GCC unroll 2
        for (int i = 0; i < R; i++) {
            const uint8_t *p = base + (i * nb + b) * 210;
            const __m512 ds = _mm512_mul_ps(_mm512_set1_ps(h2f(p + 208)), _mm512_cvtepi32_ps(i8x16(p + 192)));
            float dsa[16] __attribute__((aligned(64)));
            _mm512_store_ps(dsa, ds);
#pragma GCC unroll 2
            for (int h2 = 0; h2 < 2; h2++) {
                const uint8_t *ql = p + 64 * h2, *qh = p + 128 + 32 * h2;
                const float *xh = x + 256 * b + 128 * h2;
#pragma GCC unroll 2
                for (int g = 0; g < 2; g++) {
                    const int l = 16 * g;
                    const __m512i A = u8x16(ql + l), B = u8x16(ql + 32 + l), H = u8x16(qh + l);
                    const __m512i q0 = _mm512_or_si512(_mm512_and_si512(A, m4), _mm512_and_si512(_mm512_slli_epi32(H, 4), m48));
                    const __m512i q1 = _mm512_or_si512(_mm512_and_si512(B, m4), _mm512_and_si512(_mm512_slli_epi32(H, 2), m48));
                    const __m512i q2 = _mm512_or_si512(_mm512_srli_epi32(A, 4), _mm512_and_si512(H, m48));
                    const __m512i q3 = _mm512_or_si512(_mm512_srli_epi32(B, 4), _mm512_and_si512(_mm512_srli_epi32(H, 2), m48));
                    const float *dg = dsa + 8 * h2 + g;
#define Q6W(v, s) _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(v, c32)), _mm512_set1_ps(dg[s]))
                    acc[i][0] = _mm512_fmadd_ps(Q6W(q0, 0), _mm512_loadu_ps(xh + l), acc[i][0]);
                    acc[i][1] = _mm512_fmadd_ps(Q6W(q1, 2), _mm512_loadu_ps(xh + 32 + l), acc[i][1]);
                    acc[i][0] = _mm512_fmadd_ps(Q6W(q2, 4), _mm512_loadu_ps(xh + 64 + l), acc[i][0]);
                    acc[i][1] = _mm512_fmadd_ps(Q6W(q3, 6), _mm512_loadu_ps(xh + 96 + l), acc[i][1]);
#undef Q6W
                }
            }
        }
    }
#pragma GCC unroll 2
    for (int i = 0; i < R; i++) y[r + i] = _mm512_reduce_add_ps(_mm512_add_ps(acc[i][0], acc[i][1]));
}

TGT5 int inf__cpu_ggml_avx512_decode(const inf__weight *w, const float *x, float *y, int64_t r0, int64_t r1) {
    int64_t r = r0;
    switch (w->fmt) {
    case INF__W_Q8_0:
        for (; r + 4 <= r1; r += 4) q8_0_rows16(4, w, r, x, y);
        for (; r < r1; r++) q8_0_rows16(1, w, r, x, y);
        return 1;
    case INF__W_Q4_0: /* 16 lanes measured no faster (unpacking-bound): avx2's */
        return inf__cpu_ggml_avx2_decode(w, x, y, r0, r1);
    case INF__W_Q4_K: {
        if (w->cols / 32 > XS_MAX) return 0;
        float xs[XS_MAX];
        sums32(x, w->cols, xs);
        for (; r + 2 <= r1; r += 2) q4_k_rows16(2, w, r, x, xs, y);
        for (; r < r1; r++) q4_k_rows16(1, w, r, x, xs, y);
        return 1;
    }
    case INF__W_Q6_K:
        for (; r + 2 <= r1; r += 2) q6_k_rows16(2, w, r, x, y);
        for (; r < r1; r++) q6_k_rows16(1, w, r, x, y);
        return 1;
    default:
        return 0;
    }
}

/* ---- tiles ------------------------------------------------------------- */

/* Whole blocks [b0, b0+nblk) of one row into dst, same values and
 * arithmetic as ggml_blocks.c. */
TGT AI void tile_q8_0(const uint8_t *p, int64_t nblk, float *dst) {
    for (int64_t b = 0; b < nblk; b++, p += 34, dst += 32) {
        const __m256 d = _mm256_set1_ps(h2f(p));
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++)
            _mm256_storeu_ps(dst + 8 * j, _mm256_mul_ps(_mm256_cvtepi32_ps(i8x8(p + 2 + 8 * j)), d));
    }
}

TGT AI void tile_q4_0(const uint8_t *p, int64_t nblk, float *dst) {
    const __m256i m4 = _mm256_set1_epi32(15), eight = _mm256_set1_epi32(8);
    for (int64_t b = 0; b < nblk; b++, p += 18, dst += 32) {
        const __m256 d = _mm256_set1_ps(h2f(p));
        const __m256i v0 = u8x8(p + 2), v1 = u8x8(p + 10);
#define Q4V(v) _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(v, eight)), d)
        _mm256_storeu_ps(dst, Q4V(_mm256_and_si256(v0, m4)));
        _mm256_storeu_ps(dst + 8, Q4V(_mm256_and_si256(v1, m4)));
        _mm256_storeu_ps(dst + 16, Q4V(_mm256_srli_epi32(v0, 4)));
        _mm256_storeu_ps(dst + 24, Q4V(_mm256_srli_epi32(v1, 4)));
#undef Q4V
    }
}

TGT AI void tile_q4_k(const uint8_t *p, int64_t nblk, float *dst) {
    const __m256i m4 = _mm256_set1_epi32(15);
    for (int64_t b = 0; b < nblk; b++, p += 144, dst += 256) {
        uint8_t sc[8], mn[8];
        k4_scales(p + 4, sc, mn);
        float ds[8] __attribute__((aligned(32))), ms[8] __attribute__((aligned(32)));
        _mm256_store_ps(ds, _mm256_mul_ps(_mm256_set1_ps(h2f(p)), _mm256_cvtepi32_ps(u8x8(sc))));
        _mm256_store_ps(ms, _mm256_mul_ps(_mm256_set1_ps(h2f(p + 2)), _mm256_cvtepi32_ps(u8x8(mn))));
        for (int j = 0; j < 4; j++) {
            const __m256 d1 = _mm256_broadcast_ss(ds + 2 * j), m1 = _mm256_broadcast_ss(ms + 2 * j);
            const __m256 d2 = _mm256_broadcast_ss(ds + 2 * j + 1), m2 = _mm256_broadcast_ss(ms + 2 * j + 1);
#pragma GCC unroll 4
            for (int l = 0; l < 32; l += 8) {
                const __m256i v = u8x8(p + 16 + 32 * j + l);
                _mm256_storeu_ps(dst + 64 * j + l,
                                 _mm256_sub_ps(_mm256_mul_ps(d1, _mm256_cvtepi32_ps(_mm256_and_si256(v, m4))), m1));
                _mm256_storeu_ps(dst + 64 * j + 32 + l,
                                 _mm256_sub_ps(_mm256_mul_ps(d2, _mm256_cvtepi32_ps(_mm256_srli_epi32(v, 4))), m2));
            }
        }
    }
}

TGT AI void tile_q6_k(const uint8_t *p, int64_t nblk, float *dst) {
    const __m256i m4 = _mm256_set1_epi32(15), m48 = _mm256_set1_epi32(48), c32 = _mm256_set1_epi32(32);
    for (int64_t b = 0; b < nblk; b++, p += 210, dst += 256) {
        const __m256 dv = _mm256_set1_ps(h2f(p + 208));
        float ds[16] __attribute__((aligned(32)));
        _mm256_store_ps(ds, _mm256_mul_ps(dv, _mm256_cvtepi32_ps(i8x8(p + 192))));
        _mm256_store_ps(ds + 8, _mm256_mul_ps(dv, _mm256_cvtepi32_ps(i8x8(p + 200))));
        for (int h2 = 0; h2 < 2; h2++) {
            const uint8_t *ql = p + 64 * h2, *qh = p + 128 + 32 * h2;
            float *o = dst + 128 * h2;
            const float *dg = ds + 8 * h2;
#pragma GCC unroll 4
            for (int l = 0; l < 32; l += 8) {
                const __m256i A = u8x8(ql + l), B = u8x8(ql + 32 + l), H = u8x8(qh + l);
                const __m256i q0 = _mm256_or_si256(_mm256_and_si256(A, m4), _mm256_and_si256(_mm256_slli_epi32(H, 4), m48));
                const __m256i q1 = _mm256_or_si256(_mm256_and_si256(B, m4), _mm256_and_si256(_mm256_slli_epi32(H, 2), m48));
                const __m256i q2 = _mm256_or_si256(_mm256_srli_epi32(A, 4), _mm256_and_si256(H, m48));
                const __m256i q3 = _mm256_or_si256(_mm256_srli_epi32(B, 4), _mm256_and_si256(_mm256_srli_epi32(H, 2), m48));
                const int g = l / 16;
#define Q6V(v, s) _mm256_mul_ps(_mm256_broadcast_ss(dg + g + (s)), _mm256_cvtepi32_ps(_mm256_sub_epi32(v, c32)))
                _mm256_storeu_ps(o + l, Q6V(q0, 0));
                _mm256_storeu_ps(o + 32 + l, Q6V(q1, 2));
                _mm256_storeu_ps(o + 64 + l, Q6V(q2, 4));
                _mm256_storeu_ps(o + 96 + l, Q6V(q3, 6));
#undef Q6V
            }
        }
    }
}

TGT void inf__cpu_ggml_avx2_tile(const inf__weight *w, int64_t r, int nr, int64_t k0, int64_t kc,
                                 float *tile, int64_t ld) {
    const int64_t be = inf__cpu_ggml_block_elems(w->fmt);
    const int vec = (w->fmt == INF__W_Q8_0 || w->fmt == INF__W_Q4_0 || w->fmt == INF__W_Q4_K ||
                     w->fmt == INF__W_Q6_K) && k0 % be == 0 && kc % be == 0;
    for (int i = 0; i < nr; i++) {
        float *dst = tile + i * ld;
        if (!vec) {
            inf__cpu_ggml_dequant_range(w, r + i, k0, kc, dst);
            continue;
        }
        const uint8_t *p = inf__cpu_ggml_block(w, r + i, k0 / be);
        if (r + i + nr < w->rows) /* the next row tile's piece (kernels_x86.h) */
            inf__pf_tile_row(inf__cpu_ggml_block(w, r + i + nr, k0 / be), kc / be * inf__cpu_ggml_block_bytes(w->fmt));
        switch (w->fmt) {
        case INF__W_Q8_0: tile_q8_0(p, kc / be, dst); break;
        case INF__W_Q4_0: tile_q4_0(p, kc / be, dst); break;
        case INF__W_Q4_K: tile_q4_k(p, kc / be, dst); break;
        default: tile_q6_k(p, kc / be, dst); break;
        }
    }
}

#endif
