/*
 * AVX2+FMA+F16C kernels.  Every function carries a target attribute instead
 * of the file being compiled with -mavx2, so the library still runs on any
 * x86-64: inf__cpu_kernels_avx2() checks the processor at run time.
 *
 * The matmul is a register tile of R weight rows x T tokens (R*T vector
 * accumulators of 8 lanes along k); each weight vector is loaded and
 * converted (bf16/f16 -> f32, or MLX q -> scale*q + bias) once per tile and
 * used for T tokens, so a token block re-reads weights from L1/L2, not from
 * memory.  Decode (one token) uses 8 rows x 1 token to keep 8 independent
 * FMA chains in flight.
 */
#include "backends/cpu/kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include <cpuid.h>
#include <immintrin.h>

#define TGT __attribute__((target("avx2,fma,f16c")))
#define AI static inline __attribute__((always_inline))

enum { F_F32, F_F16, F_BF16, F_Q4, F_Q8 };

TGT AI float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* 8 dense weights starting at element index i of the matrix. */
TGT AI __m256 load_dense(int fmt, const void *data, int64_t i) {
    if (fmt == F_F32) return _mm256_loadu_ps((const float *)data + i);
    __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)data + i));
    if (fmt == F_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/* One dense weight as f32 (for the cols % 8 tail). */
TGT AI float load_dense1(int fmt, const void *data, int64_t i) {
    if (fmt == F_F32) return ((const float *)data)[i];
    uint16_t h = ((const uint16_t *)data)[i];
    if (fmt == F_F16) return _cvtsh_ss(h);
    return inf__bf16_to_f32(h);
}

TGT AI float load_sb(const void *p, inf__dtype dt, int64_t i) {
    if (dt == INF__DT_F32) return ((const float *)p)[i];
    uint16_t h = ((const uint16_t *)p)[i];
    if (dt == INF__DT_F16) return _cvtsh_ss(h);
    return inf__bf16_to_f32(h);
}

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

/* The register tile: rows [r, r+R) x tokens [0, T) of x/y (already offset
 * to the first token).  R <= 8, T <= 3, both compile-time after inlining. */
TGT AI void tile(int fmt, int R, int T, const inf__weight *w, int64_t r,
                 const float *x, int64_t ldx, float *y, int64_t ldy) {
    const int64_t cols = w->cols;
    __m256 acc[8][3];
    float out[8][3];
#pragma GCC unroll 8
    for (int i = 0; i < R; i++)
#pragma GCC unroll 3
        for (int t = 0; t < T; t++) acc[i][t] = _mm256_setzero_ps();
    if (fmt == F_F32 || fmt == F_F16 || fmt == F_BF16) {
        const int64_t kend = cols & ~(int64_t)7;
        for (int64_t k = 0; k < kend; k += 8) {
            __m256 xv[3];
#pragma GCC unroll 3
            for (int t = 0; t < T; t++) xv[t] = _mm256_loadu_ps(x + t * ldx + k);
#pragma GCC unroll 8
            for (int i = 0; i < R; i++) {
                __m256 wv = load_dense(fmt, w->data, (r + i) * cols + k);
#pragma GCC unroll 3
                for (int t = 0; t < T; t++)
                    acc[i][t] = _mm256_fmadd_ps(wv, xv[t], acc[i][t]);
            }
        }
#pragma GCC unroll 8
        for (int i = 0; i < R; i++)
#pragma GCC unroll 3
            for (int t = 0; t < T; t++) {
                float s = hsum8(acc[i][t]);
                for (int64_t k = kend; k < cols; k++)
                    s += load_dense1(fmt, w->data, (r + i) * cols + k) * x[t * ldx + k];
                out[i][t] = s;
            }
    } else {
        const int64_t G = w->group, gpr = cols / G;
        const int64_t wpr = cols * (fmt == F_Q4 ? 4 : 8) / 32;
        const uint32_t *q = (const uint32_t *)w->data;
        for (int64_t g = 0; g < gpr; g++) {
            __m256 sv[8], bv[8];
#pragma GCC unroll 8
            for (int i = 0; i < R; i++) {
                sv[i] = _mm256_set1_ps(load_sb(w->scales, w->sb_dtype, (r + i) * gpr + g));
                bv[i] = _mm256_set1_ps(load_sb(w->biases, w->sb_dtype, (r + i) * gpr + g));
            }
            for (int64_t k = g * G; k < (g + 1) * G; k += 8) {
                __m256 xv[3];
#pragma GCC unroll 3
                for (int t = 0; t < T; t++) xv[t] = _mm256_loadu_ps(x + t * ldx + k);
#pragma GCC unroll 8
                for (int i = 0; i < R; i++) {
                    __m256 wv = _mm256_fmadd_ps(load_q(fmt, q + (r + i) * wpr, k), sv[i], bv[i]);
#pragma GCC unroll 3
                    for (int t = 0; t < T; t++)
                        acc[i][t] = _mm256_fmadd_ps(wv, xv[t], acc[i][t]);
                }
            }
        }
#pragma GCC unroll 8
        for (int i = 0; i < R; i++)
#pragma GCC unroll 3
            for (int t = 0; t < T; t++) out[i][t] = hsum8(acc[i][t]);
    }
#pragma GCC unroll 3
    for (int t = 0; t < T; t++)
#pragma GCC unroll 8
        for (int i = 0; i < R; i++) y[t * ldy + r + i] = out[i][t];
}

/* Rows [r0, r1) for n tokens.  Tokens are taken in blocks whose x rows fit
 * in L2 (~128 KiB); within a block, each group of 4 weight rows is
 * converted once per 3 tokens. */
TGT AI void matmul_fmt(int fmt, const inf__weight *w, const float *x,
                       int64_t ldx, int64_t n, float *y, int64_t ldy,
                       int64_t r0, int64_t r1) {
    if (n == 1) {
        int64_t r = r0;
        for (; r + 8 <= r1; r += 8) tile(fmt, 8, 1, w, r, x, ldx, y, ldy);
        for (; r < r1; r++) tile(fmt, 1, 1, w, r, x, ldx, y, ldy);
        return;
    }
    int64_t tb = (131072 / 4) / (w->cols > 0 ? w->cols : 1);
    tb = tb < 3 ? 3 : tb / 3 * 3;
    for (int64_t t0 = 0; t0 < n; t0 += tb) {
        const int64_t t1 = t0 + tb < n ? t0 + tb : n;
        int64_t r = r0;
        for (; r < r1; r += 4) {
            const int four = r + 4 <= r1;
            int64_t t = t0;
            for (; t + 3 <= t1; t += 3) {
                if (four) tile(fmt, 4, 3, w, r, x + t * ldx, ldx, y + t * ldy, ldy);
                else for (int64_t i = r; i < r1; i++)
                    tile(fmt, 1, 3, w, i, x + t * ldx, ldx, y + t * ldy, ldy);
            }
            if (t1 - t == 2) {
                if (four) tile(fmt, 4, 2, w, r, x + t * ldx, ldx, y + t * ldy, ldy);
                else for (int64_t i = r; i < r1; i++)
                    tile(fmt, 1, 2, w, i, x + t * ldx, ldx, y + t * ldy, ldy);
            } else if (t1 - t == 1) {
                if (four) tile(fmt, 4, 1, w, r, x + t * ldx, ldx, y + t * ldy, ldy);
                else for (int64_t i = r; i < r1; i++)
                    tile(fmt, 1, 1, w, i, x + t * ldx, ldx, y + t * ldy, ldy);
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
    float s = hsum8(_mm256_add_ps(s0, s1));
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

static const inf__cpu_kernels avx2_kernels = {
    "avx2", avx2_matmul_rows, avx2_dot, avx2_axpy,
};

/* AVX2 and FMA from the compiler's cpu model; F16C and the OS's saving of
 * the YMM state (OSXSAVE + XCR0) from cpuid, which covers what the
 * builtin does not name. */
static int cpu_has_avx2_fma_f16c(void) {
    unsigned a, b, c, d;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
        return 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (!(c & (1u << 29)) || !(c & (1u << 27))) return 0; /* F16C, OSXSAVE */
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    (void)hi;
    return (lo & 6) == 6; /* XMM and YMM state enabled */
}

const inf__cpu_kernels *inf__cpu_kernels_avx2(void) {
    /* Called once per context init: cpuid is cheap, and no cached flag
     * means no shared state between threads. */
    return cpu_has_avx2_fma_f16c() ? &avx2_kernels : NULL;
}

#else /* not x86-64 GCC/clang: portable kernels only */

const inf__cpu_kernels *inf__cpu_kernels_avx2(void) { return NULL; }

#endif
