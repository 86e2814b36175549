/*
 * A 16 x 16 transpose of 32-bit lanes in AVX-512 registers, shared by the
 * avx512 kernels (f32 weight panels, transposed keys) and the avx512bf16
 * ones (bf16 PAIRS moved as one 32-bit lane).  Inlined into callers whose
 * target includes avx512f.
 */
#ifndef INF_BACKENDS_CPU_TRANSPOSE_AVX512_H
#define INF_BACKENDS_CPU_TRANSPOSE_AVX512_H

#if defined(__x86_64__) && defined(__GNUC__)

#include <immintrin.h>

/* 16 rows of 16 lanes (r[i] = row i) -> r[j] = column j. */
static inline __attribute__((always_inline, target("avx512f"))) void inf__transpose16(__m512 r[16]) {
    __m512 a[16], b[16];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        a[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        a[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* b[4q + c], 128-bit lane L: column 4L + c of rows 4q..4q+3. */
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++) {
        const __m512d a0 = _mm512_castps_pd(a[4 * q]), a1 = _mm512_castps_pd(a[4 * q + 1]);
        const __m512d a2 = _mm512_castps_pd(a[4 * q + 2]), a3 = _mm512_castps_pd(a[4 * q + 3]);
        b[4 * q] = _mm512_castpd_ps(_mm512_unpacklo_pd(a0, a2));
        b[4 * q + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a0, a2));
        b[4 * q + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(a1, a3));
        b[4 * q + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(a1, a3));
    }
    /* column 4L + c, lane q = b[4q + c], lane L: a 4x4 transpose of lanes. */
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        const __m512 u0 = _mm512_shuffle_f32x4(b[c], b[4 + c], 0x44);
        const __m512 u1 = _mm512_shuffle_f32x4(b[c], b[4 + c], 0xEE);
        const __m512 u2 = _mm512_shuffle_f32x4(b[8 + c], b[12 + c], 0x44);
        const __m512 u3 = _mm512_shuffle_f32x4(b[8 + c], b[12 + c], 0xEE);
        r[c] = _mm512_shuffle_f32x4(u0, u2, 0x88);
        r[4 + c] = _mm512_shuffle_f32x4(u0, u2, 0xDD);
        r[8 + c] = _mm512_shuffle_f32x4(u1, u3, 0x88);
        r[12 + c] = _mm512_shuffle_f32x4(u1, u3, 0xDD);
    }
}

#endif
#endif
