/*
 * The "avx512-fast" set's integer kernels (AVX-512 F/BW/VL + VNNI): weights
 * with the integer form of kernels_int8.h times activations rounded to int8
 * per block of 32, with vpdpbusd (64 u8 x s8 products per instruction).
 *
 * Several tokens (prefill, n >= Q8_GEMM_MIN): panels of 32 rows x 512
 * columns are decoded to u8 and transposed so that dword (g, i) holds row
 * i's 4 values of column group g (pan[g][32][4]); the micro-kernel
 * broadcasts 4 bytes of a token's xq and accumulates 32 rows x 6 tokens of
 * int32 per block of 32 columns, then adds d*dx*(float)isum + c*s into f32
 * accumulators.  One token or a few: each row is decoded to u8 once (in
 * L1) and dotted with every token, 64 columns (two blocks) per vpdpbusd,
 * the per-block scales d*dx applied to the int32 lanes as a vector.
 */
#include "backends/cpu/kernels.h"
#include "backends/cpu/kernels_x86.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include <immintrin.h>
#include <stdlib.h>

/* The whole file, kernels_int8.h's inline helpers included, is compiled
 * for AVX-512 VNNI; kernels_select.c calls it only where the CPU has it.
 * GCC takes a target pragma, clang an attribute applied to every function. */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target( \
    "avx512f,avx512bw,avx512vl,avx512vnni,avx512dq,avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512vnni,avx512dq,avx2,fma,f16c")
#endif
#define INF__Q8_F16(h) _cvtsh_ss(h)
#include "backends/cpu/kernels_int8.h"

#define AI static inline __attribute__((always_inline))

#define MR 32          /* rows per panel */
#define NR 6           /* tokens per micro tile */
#define KC 512         /* columns per panel chunk */
#define KB (KC / 32)   /* blocks per chunk */
#define Q8_GEMM_MIN 5  /* fewer tokens: the row kernel */

/* ---- weights -> u8 blocks ------------------------------------------------- */

/* Four Q4_0 blocks (b .. b+3, 72 bytes at p) as their 64 bytes of packed
 * nibbles, block k in 128-bit lane k (first: the 64 bytes at p), from
 * two overlapping loads and one word
 * permutation instead of four 16-byte loads put together with three
 * inserts (the shuffle port was this kernel's bound).  Block k's bytes are
 * words 9k+1 .. 9k+8 of the 72; words 32-35 come from the second load
 * (bytes 8..71, its words 28-31). */
AI __m512i q4_0_quad(__m512i first, const uint8_t *p) {
    const __m512i idx = _mm512_set_epi16(63, 62, 61, 60, 31, 30, 29, 28, 26, 25, 24, 23, 22, 21, 20, 19,
                                         17, 16, 15, 14, 13, 12, 11, 10, 8, 7, 6, 5, 4, 3, 2, 1);
    return _mm512_permutex2var_epi16(first, idx, _mm512_loadu_si512((const void *)(p + 8)));
}

/* The 16-row interleaved layouts (kernels_r16.c), and Q6_K's two scales
 * per block (as stored or interleaved). */
static int is_r16(const inf__weight *w) {
    return w->fmt == INF__W_Q4_0_R16 || w->fmt == INF__W_Q4_K_R16 || w->fmt == INF__W_Q5_K_R16 || w->fmt == INF__W_Q6_K_R16 ||
           w->fmt == INF__W_Q3_K_R16 || w->fmt == INF__W_Q2_K_R16 ||
           w->fmt == INF__W_Q8_0_R16 || w->fmt == INF__W_MLX8_R16 || w->fmt == INF__W_MLX4_R16;
}
/* Scales per 16 columns and w = d sc (q - z): Q6_K (z 32, stored or
 * interleaved) and Q3_K (z 4, interleaved only); Q2_K (interleaved):
 * w = d sc q - c, c = dmin mn per 16 columns too (z 0). */
static int is_q6(const inf__weight *w) {
    return w->fmt == INF__W_Q6_K || w->fmt == INF__W_Q6_K_R16 || w->fmt == INF__W_Q3_K_R16 ||
           w->fmt == INF__W_Q2_K_R16;
}


/* Bytes from one row to the next: MLX its values only (the scales and
 * biases lie apart and are small). */
static int64_t row_bytes(const inf__weight *w) {
    if (w->fmt == INF__W_MLX4 || w->fmt == INF__W_MLX8) return w->cols * w->bits / 8;
    return w->cols / inf__cpu_ggml_block_elems(w->fmt) * inf__cpu_ggml_block_bytes(w->fmt);
}

/* An MLX row's values, and its scales and biases (gb: the bytes of a row's
 * scales, cols / group times their size, computed once by the caller: a
 * division per call cost the fused decode loop its speed). */
AI const uint8_t *mlx_vals(const inf__weight *w, int64_t rb, int64_t r) {
    return (const uint8_t *)w->data + r * rb;
}
AI void mlx_sb_row(const inf__weight *w, int64_t gb, int64_t r, const char **sc, const char **bi) {
    *sc = (const char *)w->scales + r * gb;
    *bi = (const char *)w->biases + r * gb;
}

/* n <= 16 MLX scales or biases from element i on, as f32 (lanes past n: 0). */
AI __m512 sb16(const void *p, inf__dtype dt, int64_t i, int n) {
    const __mmask16 m = (__mmask16)(n >= 16 ? 0xffff : (1u << n) - 1);
    if (dt == INF__DT_F32) return _mm512_maskz_loadu_ps(m, (const float *)p + i);
    const __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)p + i);
    if (dt == INF__DT_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* MLX groups of 32 to 512 columns in powers of two, whole groups per row:
 * the fused kernels' (mlx_fusable) and mlx_sb16's. */
static int mlx_pow2_groups(const inf__weight *w) {
    return w->group >= 32 && w->group <= 512 && (w->group & (w->group - 1)) == 0 && w->cols % w->group == 0;
}

/* The scales d and offsets c of MLX row r's blocks [b0, b0+16) (lane j:
 * block b0+j; lanes past the row's end 0), w with mlx_pow2_groups and b0
 * a multiple of 16, so that the 16 blocks start a group.  Shifts and one
 * permutation, not a division and a scalar load per group: those were
 * most of the MLX panel decode's time (perf, bench_ggml -f MLX4). */
AI void mlx_sb16(const inf__weight *w, int64_t r, int64_t b0, __m512 *d, __m512 *c) {
    const int gsh = __builtin_ctzll((unsigned long long)w->group), sh = gsh - 5;
    const int64_t gpr = w->cols >> gsh, g0 = (b0 * 32) >> gsh, gb = gpr * (w->sb_dtype == INF__DT_F32 ? 4 : 2);
    const int ng = (int)(gpr - g0 < (16 >> sh) ? gpr - g0 : (16 >> sh));
    const __m512i idx = _mm512_srli_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                          (unsigned)sh);
    const char *srow, *brow;
    mlx_sb_row(w, gb, r, &srow, &brow);
    *d = _mm512_permutexvar_ps(idx, sb16(srow, w->sb_dtype, g0, ng));
    *c = _mm512_permutexvar_ps(idx, sb16(brow, w->sb_dtype, g0, ng));
}

/* inf__cpu_q8_decode with explicit vector code for the common formats (the
 * compiler's version of the portable loops spent ~85 ns per block in byte
 * inserts); the others through the portable one. */
static void decode(const inf__weight *w, int64_t r, int64_t b0, int64_t nb, uint8_t *restrict u,
                   float *restrict d, float *restrict c) {
    const __m128i m4 = _mm_set1_epi8(15);
    const __m256i m4y = _mm256_set1_epi8(15);
    switch (w->fmt) {
    case INF__W_Q8_0: {
        const uint8_t *p = (const uint8_t *)w->data + (r * (w->cols / 32) + b0) * 34;
        const __m256i flip = _mm256_set1_epi8((char)0x80);
        for (int64_t b = 0; b < nb; b++, p += 34) {
            _mm256_store_si256((__m256i *)(u + 32 * b),
                               _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(p + 2)), flip));
            d[b] = _cvtsh_ss(inf__cpu_ggml_u16(p));
            c[b] = -128.0f * d[b];
        }
        return;
    }
    case INF__W_Q4_0:
    case INF__W_Q4_1: {
        const int64_t bb = w->fmt == INF__W_Q4_0 ? 18 : 20, o = bb - 16;
        const uint8_t *p = (const uint8_t *)w->data + (r * (w->cols / 32) + b0) * bb;
        int64_t b = 0;
        if (w->fmt == INF__W_Q4_0) {
            /* Four blocks (72 bytes) per step: their nibbles by
             * q4_0_quad, the scales (words 9k) by another word
             * permutation; qword k of the results in u's order (low
             * nibbles of block k, then its high ones).  ~14 instructions
             * for four blocks where the loop below takes ~13 per block. */
            const __m512i didx = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                                  0, 0, 0, 0, 0, 0, 27, 18, 9, 0);
            const __m512i lo_order = _mm512_set_epi64(11, 10, 3, 2, 9, 8, 1, 0);
            const __m512i hi_order = _mm512_set_epi64(15, 14, 7, 6, 13, 12, 5, 4);
            const __m512i m4z = _mm512_set1_epi8(15);
            const __m128 eight = _mm_set1_ps(-8.0f);
            for (; b + 4 <= nb; b += 4, p += 72) {
                const __m512i a = _mm512_loadu_si512(p), q = q4_0_quad(a, p);
                const __m512i lo = _mm512_and_si512(q, m4z), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4z);
                _mm512_store_si512(u + 32 * b, _mm512_permutex2var_epi64(lo, lo_order, hi));
                _mm512_store_si512(u + 32 * b + 64, _mm512_permutex2var_epi64(lo, hi_order, hi));
                const __m128 dv = _mm_cvtph_ps(_mm512_castsi512_si128(_mm512_permutexvar_epi16(didx, a)));
                _mm_storeu_ps(d + b, dv);
                _mm_storeu_ps(c + b, _mm_mul_ps(dv, eight));
            }
        }
        for (; b < nb; b++, p += bb) {
            const __m128i q = _mm_loadu_si128((const __m128i *)(p + o));
            _mm_store_si128((__m128i *)(u + 32 * b), _mm_and_si128(q, m4));
            _mm_store_si128((__m128i *)(u + 32 * b + 16), _mm_and_si128(_mm_srli_epi16(q, 4), m4));
            d[b] = _cvtsh_ss(inf__cpu_ggml_u16(p));
            c[b] = o == 2 ? -8.0f * d[b] : _cvtsh_ss(inf__cpu_ggml_u16(p + 2));
        }
        return;
    }
    case INF__W_Q5_0:
    case INF__W_Q5_1: {
        const int64_t bb = w->fmt == INF__W_Q5_0 ? 22 : 24, o = bb - 20;
        const uint8_t *p = (const uint8_t *)w->data + (r * (w->cols / 32) + b0) * bb;
        const __m256i sixteen = _mm256_set1_epi8(16);
        for (int64_t b = 0; b < nb; b++, p += bb) {
            uint32_t qh;
            memcpy(&qh, p + o, 4);
            const __m128i q = _mm_loadu_si128((const __m128i *)(p + o + 4));
            const __m256i lohi = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m4), _mm_and_si128(q, m4));
            _mm256_store_si256((__m256i *)(u + 32 * b),
                               _mm256_or_si256(lohi, _mm256_maskz_mov_epi8((__mmask32)qh, sixteen)));
            d[b] = _cvtsh_ss(inf__cpu_ggml_u16(p));
            c[b] = o == 2 ? -16.0f * d[b] : _cvtsh_ss(inf__cpu_ggml_u16(p + 2));
        }
        return;
    }
    case INF__W_Q4_K:
    case INF__W_Q5_K: {
        const int five = w->fmt == INF__W_Q5_K;
        const int64_t bb = five ? 176 : 144;
        const __m256i sixteen = _mm256_set1_epi8(16);
        for (int64_t b = 0; b < nb; b++) {
            const int64_t sb = b0 + b;
            const uint8_t *blk = (const uint8_t *)w->data + (r * (w->cols / 256) + sb / 8) * bb;
            const int s = (int)(sb % 8);
            uint8_t sc, mn;
            inf__cpu_ggml_scale_min_k4(s, blk + 4, &sc, &mn);
            d[b] = _cvtsh_ss(inf__cpu_ggml_u16(blk)) * (float)sc;
            c[b] = -(_cvtsh_ss(inf__cpu_ggml_u16(blk + 2)) * (float)mn);
            const __m256i q = _mm256_loadu_si256((const __m256i *)(blk + (five ? 48 : 16) + 32 * (s / 2)));
            __m256i v = _mm256_and_si256(s % 2 ? _mm256_srli_epi16(q, 4) : q, m4y);
            if (five) {
                const __m256i qh = _mm256_loadu_si256((const __m256i *)(blk + 16));
                v = _mm256_or_si256(v, _mm256_maskz_mov_epi8(
                                           _mm256_test_epi8_mask(qh, _mm256_set1_epi8((char)(1 << s))), sixteen));
            }
            _mm256_store_si256((__m256i *)(u + 32 * b), v);
        }
        return;
    }
    case INF__W_Q6_K: { /* u = q (0..63), d[2b], d[2b+1]: the two 16-value scales of block b */
        const __m256i m2 = _mm256_set1_epi8(3);
        for (int64_t b = 0; b < nb; b++) {
            const int64_t blk32 = b0 + b; /* 32-value block: 8 per super-block */
            const uint8_t *blk = (const uint8_t *)w->data + (r * (w->cols / 256) + blk32 / 8) * 210;
            const int j = (int)(blk32 % 8), half = j / 4, k = j % 4; /* values 128 half + 32 k + l */
            const uint8_t *ql = blk + 64 * half + (k & 1 ? 32 : 0), *qh = blk + 128 + 32 * half;
            const __m256i lo = _mm256_loadu_si256((const __m256i *)ql);
            const __m256i l4 = _mm256_and_si256(k >= 2 ? _mm256_srli_epi16(lo, 4) : lo, m4y);
            const __m256i h2 = _mm256_and_si256(_mm256_srli_epi16(_mm256_loadu_si256((const __m256i *)qh), 2 * k), m2);
            _mm256_store_si256((__m256i *)(u + 32 * b), _mm256_or_si256(l4, _mm256_slli_epi16(h2, 4)));
            const float dv = _cvtsh_ss(inf__cpu_ggml_u16(blk + 208));
            const int8_t *sc = (const int8_t *)(blk + 192) + 8 * half + 2 * k;
            d[2 * b] = dv * (float)sc[0];
            d[2 * b + 1] = dv * (float)sc[1];
        }
        (void)c;
        return;
    }
    case INF__W_MLX4:
    case INF__W_MLX8: {
        const int64_t bpg = w->group / 32, rb = row_bytes(w);
        if (b0 % 16 == 0 && mlx_pow2_groups(w)) {
            for (int64_t b = 0; b < nb; b += 16) {
                __m512 dv, cv;
                mlx_sb16(w, r, b0 + b, &dv, &cv);
                const __mmask16 m = (__mmask16)(nb - b >= 16 ? 0xffff : (1u << (nb - b)) - 1);
                _mm512_mask_storeu_ps(d + b, m, dv);
                _mm512_mask_storeu_ps(c + b, m, cv);
            }
        } else { /* scales and biases once per group (a group spans bpg blocks) */
            const char *srow, *brow;
            mlx_sb_row(w, w->cols / w->group * (w->sb_dtype == INF__DT_F32 ? 4 : 2), r, &srow, &brow);
            for (int64_t b = 0; b < nb;) {
                const int64_t gi = (b0 + b) / bpg;
                const int64_t e = (gi + 1) * bpg - b0 < nb ? (gi + 1) * bpg - b0 : nb;
                const float sd = inf__cpu_q8_sb(srow, w->sb_dtype, gi), sc = inf__cpu_q8_sb(brow, w->sb_dtype, gi);
                for (; b < e; b++) {
                    d[b] = sd;
                    c[b] = sc;
                }
            }
        }
        if (w->fmt != INF__W_MLX4) {
            const uint8_t *p = mlx_vals(w, rb, r) + b0 * 32;
            int64_t b = 0;
            for (; b + 2 <= nb; b += 2) _mm512_store_si512(u + 32 * b, _mm512_loadu_si512(p + 32 * b));
            if (b < nb) _mm256_store_si256((__m256i *)(u + 32 * b), _mm256_loadu_si256((const __m256i *)(p + 32 * b)));
            return;
        }
        /* MLX4: four blocks (64 bytes) per step; value 2j of a block is
         * byte j's low nibble, 2j+1 its high one: bytes unpacked per
         * 128-bit lane (lane k: block k), then qwords in u's order. */
        const uint8_t *p = (const uint8_t *)w->data + r * (w->cols / 2) + b0 * 16;
        const __m512i m4z = _mm512_set1_epi8(15);
        const __m512i first = _mm512_set_epi64(11, 10, 3, 2, 9, 8, 1, 0);
        const __m512i second = _mm512_set_epi64(15, 14, 7, 6, 13, 12, 5, 4);
        int64_t b = 0;
        for (; b + 4 <= nb; b += 4, p += 64) {
            const __m512i q = _mm512_loadu_si512(p);
            const __m512i lo = _mm512_and_si512(q, m4z), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4z);
            const __m512i l = _mm512_unpacklo_epi8(lo, hi), h = _mm512_unpackhi_epi8(lo, hi);
            _mm512_store_si512(u + 32 * b, _mm512_permutex2var_epi64(l, first, h));
            _mm512_store_si512(u + 32 * b + 64, _mm512_permutex2var_epi64(l, second, h));
        }
        for (; b < nb; b++, p += 16) {
            const __m128i q = _mm_loadu_si128((const __m128i *)p);
            const __m128i lo = _mm_and_si128(q, m4), hi = _mm_and_si128(_mm_srli_epi16(q, 4), m4);
            _mm_store_si128((__m128i *)(u + 32 * b), _mm_unpacklo_epi8(lo, hi));
            _mm_store_si128((__m128i *)(u + 32 * b + 16), _mm_unpackhi_epi8(lo, hi));
        }
        return;
    }
    case INF__W_Q4_0_R16:
    case INF__W_Q4_K_R16:
    case INF__W_Q5_K_R16:
    case INF__W_Q3_K_R16:
    case INF__W_Q2_K_R16:
    case INF__W_Q6_K_R16:
    case INF__W_Q8_0_R16:
    case INF__W_MLX8_R16:
    case INF__W_MLX4_R16:
        inf__cpu_r16_decode(w, r, b0, nb, u, d, c);
        return;
    default:
        inf__cpu_q8_decode(w, r, b0, nb, u, d, c);
        return;
    }
}

/* ---- x -> int8 blocks ----------------------------------------------------- */

static void vnni_quantize(const float *x, int64_t ldx, int64_t t0, int64_t t1, inf__cpu_xq *xq) {
    const int64_t nb = xq->cols / 32;
    for (int64_t t = t0; t < t1; t++) {
        const float *xr = x + t * ldx;
        int8_t *q = xq->q + t * xq->ld;
        for (int64_t b = 0; b < nb; b++) {
            const __m512 a = _mm512_loadu_ps(xr + 32 * b), bb = _mm512_loadu_ps(xr + 32 * b + 16);
            const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(a), _mm512_abs_ps(bb)));
            const __m512 id = _mm512_set1_ps(amax > 0 ? 127.0f / amax : 0.0f);
            /* cvtps rounds to nearest even (MXCSR default), as nearbyintf */
            _mm_storeu_si128((__m128i *)(q + 32 * b), _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(a, id))));
            _mm_storeu_si128((__m128i *)(q + 32 * b + 16),
                             _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(bb, id))));
            xq->d[t * nb + b] = amax / 127.0f;
            xq->s[t * nb + b] = _mm512_reduce_add_ps(_mm512_add_ps(a, bb));
        }
    }
}

/* ---- several tokens: packed panels ---------------------------------------- */

typedef struct panel {
    uint8_t rows[MR][KC] __attribute__((aligned(64))); /* decoded rows */
    uint32_t pan[KC / 4][MR] __attribute__((aligned(64)));
    float d[2 * KB][MR] __attribute__((aligned(64))); /* Q6_K: one per 16 columns */
    float c[2 * KB][MR] __attribute__((aligned(64))); /* Q2_K: one per 16 columns */
} panel;

/* The lines holding an MLX row's scales and biases from block b0's group
 * on, towards L1 (one line covers a piece's groups for g64 bf16; they sit
 * apart from the values, which the token-lane path prefetches paced). */
static void prefetch_sb(const inf__weight *w, int64_t r, int64_t b0) {
    if (w->fmt != INF__W_MLX4 && w->fmt != INF__W_MLX8) return;
    const int64_t g = r * (w->cols / w->group) + b0 * 32 / w->group;
    const int64_t sbs = w->sb_dtype == INF__DT_F32 ? 4 : 2;
    _mm_prefetch((const char *)w->scales + g * sbs, _MM_HINT_T0);
    _mm_prefetch((const char *)w->biases + g * sbs, _MM_HINT_T0);
}

/* Rows [r, r+nr) x blocks [b0, b0+nb) of w into p (rows past nr: 0). */
static void pack(const inf__weight *w, int64_t r, int nr, int64_t b0, int64_t nb, panel *p) {
    float dd[2 * KB], cc[2 * KB];
    const int64_t nd = is_q6(w) ? 2 * nb : nb; /* scales per row */
    const int64_t nc = w->fmt == INF__W_Q2_K_R16 ? 2 * nb : nb; /* offsets (Q6_K, Q3_K: none) */
    if (is_r16(w) && r % 16 == 0) {
        /* already 16 rows' dwords side by side: the whole group (rows past
         * nr are computed and never stored; past the matrix they are 0) */
        for (int h = 0; h < MR; h += 16) {
            if (h < nr) {
                inf__cpu_r16_panel(w, r + h, b0, nb, &p->pan[0][h], MR, &p->d[0][h], &p->c[0][h], MR);
                continue;
            }
            for (int64_t g = 0; g < 8 * nb; g++) memset(&p->pan[g][h], 0, 64);
            for (int64_t b = 0; b < nd; b++) memset(&p->d[b][h], 0, 64);
            for (int64_t b = 0; b < nc; b++) memset(&p->c[b][h], 0, 64);
        }
        return;
    }
    for (int i = 0; i < MR; i++) {
        if (i < nr) {
            decode(w, r + i, b0, nb, p->rows[i], dd, cc);
            for (int64_t b = 0; b < nd; b++) p->d[b][i] = dd[b];
            for (int64_t b = 0; b < nc && (nd == nb || nc == nd); b++) p->c[b][i] = cc[b];
        } else {
            memset(p->rows[i], 0, (size_t)nb * 32);
            for (int64_t b = 0; b < nd; b++) p->d[b][i] = 0;
            for (int64_t b = 0; b < nc; b++) p->c[b][i] = 0;
        }
    }
    for (int h = 0; h < MR; h += 16)
        for (int64_t k = 0; k < nb * 32; k += 64) {
            __m512 v[16];
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++) v[i] = _mm512_load_ps((const float *)(p->rows[h + i] + k));
            inf__transpose16(v);
#pragma GCC unroll 16
            for (int j = 0; j < 16; j++) _mm512_store_ps((float *)&p->pan[k / 4 + j][h], v[j]);
        }
}

/* y[t*ldy + i] (+)= panel rows x tokens [0, T) over the chunk's nb blocks;
 * xq points at the chunk's first column of token 0. */
AI void micro(int T, const panel *p, int64_t nb, const int8_t *xq, int64_t ldq, const float *dx,
              const float *sx, int64_t ldd, float *y, int64_t ldy, __mmask16 m0, __mmask16 m1,
              int first) {
    __m512 f[2][NR];
#pragma GCC unroll 6
    for (int t = 0; t < T; t++) {
        f[0][t] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m0, y + t * ldy);
        f[1][t] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m1, y + t * ldy + 16);
    }
    for (int64_t b = 0; b < nb; b++) {
        __m512i a[2][NR];
#pragma GCC unroll 6
        for (int t = 0; t < T; t++) a[0][t] = a[1][t] = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int g = 0; g < 8; g++) {
            const __m512i w0 = _mm512_load_si512(&p->pan[8 * b + g][0]);
            const __m512i w1 = _mm512_load_si512(&p->pan[8 * b + g][16]);
#pragma GCC unroll 6
            for (int t = 0; t < T; t++) {
                int32_t xv;
                memcpy(&xv, xq + t * ldq + 32 * b + 4 * g, 4);
                const __m512i xb = _mm512_set1_epi32(xv);
                a[0][t] = _mm512_dpbusd_epi32(a[0][t], w0, xb);
                a[1][t] = _mm512_dpbusd_epi32(a[1][t], w1, xb);
            }
        }
        const __m512 d0 = _mm512_load_ps(p->d[b]), d1 = _mm512_load_ps(p->d[b] + 16);
        const __m512 c0 = _mm512_load_ps(p->c[b]), c1 = _mm512_load_ps(p->c[b] + 16);
#pragma GCC unroll 6
        for (int t = 0; t < T; t++) {
            const __m512 sd = _mm512_set1_ps(dx[t * ldd + b]), ss = _mm512_set1_ps(sx[t * ldd + b]);
            f[0][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a[0][t]), _mm512_mul_ps(d0, sd), f[0][t]);
            f[1][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a[1][t]), _mm512_mul_ps(d1, sd), f[1][t]);
            f[0][t] = _mm512_fmadd_ps(c0, ss, f[0][t]);
            f[1][t] = _mm512_fmadd_ps(c1, ss, f[1][t]);
        }
    }
#pragma GCC unroll 6
    for (int t = 0; t < T; t++) {
        _mm512_mask_storeu_ps(y + t * ldy, m0, f[0][t]);
        _mm512_mask_storeu_ps(y + t * ldy + 16, m1, f[1][t]);
    }
}

static void micro_any(int T, const panel *p, int64_t nb, const int8_t *xq, int64_t ldq,
                      const float *dx, const float *sx, int64_t ldd, float *y, int64_t ldy, int nr,
                      int first) {
    const __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xffff : (1u << nr) - 1);
    const __mmask16 m1 = (__mmask16)(nr >= 32 ? 0xffff : nr <= 16 ? 0 : (1u << (nr - 16)) - 1);
    switch (T) {
#define CASE(TT) case TT: micro(TT, p, nb, xq, ldq, dx, sx, ldd, y, ldy, m0, m1, first); break;
    CASE(6) CASE(5) CASE(4) CASE(3) CASE(2) CASE(1)
#undef CASE
    default: break;
    }
}

/* Q6_K and Q3_K: scales per 16 columns and w = d (q - z): each half
 * block's integer sum started from -z sum(xq) of the half (off[t * lds +
 * h].i, inf__cpu_r16_offsets) times d16 * dx; no offset term.  Q2_K (M):
 * sums from 0, less the half's c times dx sum(xq) (off[...].f). */
AI void micro16(int T, int M, const panel *p, int64_t nb, const int8_t *xq, int64_t ldq, const float *dx,
                int64_t ldd, const inf__cpu_r16_off *off, int64_t lds, float *y, int64_t ldy,
                __mmask16 m0, __mmask16 m1, int first) {
    __m512 f[2][NR];
#pragma GCC unroll 6
    for (int t = 0; t < T; t++) {
        f[0][t] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m0, y + t * ldy);
        f[1][t] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m1, y + t * ldy + 16);
    }
    for (int64_t h = 0; h < 2 * nb; h++) {
        __m512i a[2][NR];
#pragma GCC unroll 6
        for (int t = 0; t < T; t++) a[0][t] = a[1][t] = (M ? _mm512_setzero_si512() : _mm512_set1_epi32(off[t * lds + h].i));
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++) {
            const __m512i w0 = _mm512_load_si512(&p->pan[4 * h + g][0]);
            const __m512i w1 = _mm512_load_si512(&p->pan[4 * h + g][16]);
#pragma GCC unroll 6
            for (int t = 0; t < T; t++) {
                int32_t xv;
                memcpy(&xv, xq + t * ldq + 16 * h + 4 * g, 4);
                const __m512i xb = _mm512_set1_epi32(xv);
                a[0][t] = _mm512_dpbusd_epi32(a[0][t], w0, xb);
                a[1][t] = _mm512_dpbusd_epi32(a[1][t], w1, xb);
            }
        }
        const __m512 d0 = _mm512_load_ps(p->d[h]), d1 = _mm512_load_ps(p->d[h] + 16);
#pragma GCC unroll 6
        for (int t = 0; t < T; t++) {
            const __m512 sd = _mm512_set1_ps(dx[t * ldd + h / 2]);
            f[0][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a[0][t]), _mm512_mul_ps(d0, sd), f[0][t]);
            f[1][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a[1][t]), _mm512_mul_ps(d1, sd), f[1][t]);
            if (M) {
                const __m512 sm = _mm512_set1_ps(off[t * lds + h].f);
                f[0][t] = _mm512_fnmadd_ps(_mm512_load_ps(p->c[h]), sm, f[0][t]);
                f[1][t] = _mm512_fnmadd_ps(_mm512_load_ps(p->c[h] + 16), sm, f[1][t]);
            }
        }
    }
#pragma GCC unroll 6
    for (int t = 0; t < T; t++) {
        _mm512_mask_storeu_ps(y + t * ldy, m0, f[0][t]);
        _mm512_mask_storeu_ps(y + t * ldy + 16, m1, f[1][t]);
    }
}

static void micro16_any(int T, const panel *p, int64_t nb, const int8_t *xq, int64_t ldq,
                        const float *dx, int64_t ldd, const inf__cpu_r16_off *off, int64_t lds, int mins,
                        float *y, int64_t ldy, int nr, int first) {
    const __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xffff : (1u << nr) - 1);
    const __mmask16 m1 = (__mmask16)(nr >= 32 ? 0xffff : nr <= 16 ? 0 : (1u << (nr - 16)) - 1);
    switch (T + (mins ? 8 : 0)) {
#define CASE(TT)                                                                                   \
    case TT: micro16(TT, 0, p, nb, xq, ldq, dx, ldd, off, lds, y, ldy, m0, m1, first); break;         \
    case TT + 8: micro16(TT, 1, p, nb, xq, ldq, dx, ldd, off, lds, y, ldy, m0, m1, first); break;
    CASE(6) CASE(5) CASE(4) CASE(3) CASE(2) CASE(1)
#undef CASE
    default: break;
    }
}

/* Panel > chunk of 512 columns > tokens in sixes; returns 0 (nothing done)
 * without memory for the panel. */
static int gemm(const inf__weight *w, const inf__cpu_xq *xq, float *y, int64_t ldy, int64_t r0,
                int64_t r1) {
    panel *p = aligned_alloc(64, sizeof *p);
    if (!p) return 0;
    const int64_t nbt = w->cols / 32, n = xq->n;
    /* scales per 16 columns: the tokens' offsets, once for all the panels */
    inf__cpu_r16_off *off = NULL;
    if (is_q6(w)) {
        off = malloc((size_t)(n * 2 * nbt) * sizeof *off);
        if (!off) {
            free(p);
            return 0;
        }
        inf__cpu_r16_offsets(w, xq, off);
    }
    for (int64_t r = r0; r < r1; r += MR) {
        const int nr = r1 - r < MR ? (int)(r1 - r) : MR;
        for (int64_t b0 = 0; b0 < nbt; b0 += KB) {
            const int64_t nb = nbt - b0 < KB ? nbt - b0 : KB;
            pack(w, r, nr, b0, nb, p);
            for (int64_t t = 0; t < n; t += NR) {
                const int T = n - t < NR ? (int)(n - t) : NR;
                if (is_q6(w)) {
                    micro16_any(T, p, nb, xq->q + t * xq->ld + 32 * b0, xq->ld, xq->d + t * nbt + b0, nbt,
                                off + t * 2 * nbt + 2 * b0, 2 * nbt, w->fmt == INF__W_Q2_K_R16,
                                y + t * ldy + r, ldy, nr, b0 == 0);
                    continue;
                }
                micro_any(T, p, nb, xq->q + t * xq->ld + 32 * b0, xq->ld, xq->d + t * nbt + b0,
                          xq->s + t * nbt + b0, nbt, y + t * ldy + r, ldy, nr, b0 == 0);
            }
        }
    }
    free(p);
    free(off);
    return 1;
}

/* ---- 5 to 16 tokens: the tokens in the lanes ---------------------------------- */

/* Since the 16-row interleaved layouts (kernels_r16.c), which have their
 * own kernel for 1-16 tokens, this path serves the formats left as
 * stored: Q4_1, Q5_0, Q5_1, MLX with other groups, and any matrix
 * read as stored (no memory for the copies). */

/* Batched decode (16 streams: 16 tokens per matmul) through the panels
 * spent more time packing than multiplying (perf, Q4_0, 16 tokens: decode
 * and transpose 50% of the step, the micro-kernel 25%): a panel serves only
 * 16 tokens.  Here the 16 tokens are the lanes instead: x is transposed
 * once per call (xt[g][t] = token t's 4 int8 of columns 4g..4g+3, a few
 * KB), each weight row is decoded to u8 once into L1 and never transposed;
 * one 4-byte broadcast of the row times xt[g] is one vpdpbusd for all 16
 * tokens.  Rows go TR at a time (TR independent accumulation chains); the
 * 16-row x 16-token results are transposed into y.  Each row's sum runs the
 * same operations in the same order whatever the rows around it, so the
 * row split does not change the result. */
#define T16_MAX 16 /* most tokens of this path */
#define TR 8       /* rows per pass */
/* Columns per piece of a pass: the TR rows' pieces are decoded to u8, then
 * multiplied.  1024 (a whole row of the 1024-column matrices) ran 16-stream
 * decode ~8% faster than the panels' 512 on Zen 5, 2048 in between. */
#define LKC 1024
#ifndef LANES_PF_ROWS
#define LANES_PF_ROWS 8 /* prefetch distance in rows: the next pass (over 16: +0-18%, median +3%, in 7 alternated rounds) */
#endif

/* Rows [r, r+R) over all blocks: ft[i][t] = y of row r+i, token t (lane t;
 * lanes past the tokens give 0).  xt, dt, st: the transposed x (above),
 * d and s per block x 16 lanes.
 *
 * The same pieces of the rows LANES_PF_ROWS further (below pf_end) are
 * prefetched, paced: a few lines per block of the dot products.  Issued
 * all at once before each row's decode (72 lines per pass of 8 rows of
 * 1024 columns), the decode's loads still waited on memory (perf: ~half of
 * decode's samples on them) whatever the distance or the hint; most likely
 * the burst found the core's L1 miss buffers full and was dropped (the VM
 * has no hardware counters to show it).  Paced, 16-stream Qwen3-0.6B Q4_0
 * decode went from ~330 to ~385 tok/s on Zen 5 (3 alternated rounds). */
AI void lanes_pass(int R, const inf__weight *w, int64_t r, const int32_t *xt, const float *dt,
                   const float *st, float *ft, int64_t pf_end) {
    uint8_t u[TR][LKC] __attribute__((aligned(64)));
    float dd[TR][LKC / 32], cc[TR][LKC / 32];
    const int64_t nbt = w->cols / 32;
    __m512 f[TR];
#pragma GCC unroll 8
    for (int i = 0; i < R; i++) f[i] = _mm512_setzero_ps();
    const int64_t rb = row_bytes(w);
    int64_t pf_rows = pf_end - (r + LANES_PF_ROWS); /* rows of the prefetch target */
    pf_rows = pf_rows < 0 ? 0 : pf_rows > R ? R : pf_rows;
    for (int64_t b0 = 0; b0 < nbt; b0 += LKC / 32) {
        const int64_t nb = nbt - b0 < LKC / 32 ? nbt - b0 : LKC / 32;
        for (int i = 0; i < R; i++) {
            if (i < pf_rows) prefetch_sb(w, r + i + LANES_PF_ROWS, b0);
            decode(w, r + i, b0, nb, u[i], dd[i], cc[i]);
        }
        /* The target: pf_rows segments of the piece's bytes (seglen from
         * byte seg0 of each row; lps lines cover one wherever it starts),
         * line k of them prefetched at block k / per. */
        const int64_t seg0 = b0 * rb / nbt, seglen = (nb * rb + nbt - 1) / nbt;
        const int64_t lps = (seglen + 63) / 64 + 1;
        const int64_t tot = pf_rows * lps, per = (tot + nb - 1) / nb;
        const uintptr_t pf = (uintptr_t)w->data + (uintptr_t)((r + LANES_PF_ROWS) * rb + seg0);
        /* line k = kr * lps + kl, counted rather than divided: an idiv per
         * prefetch was ~10% of this kernel's samples (perf, 16 streams) */
        int64_t k = 0, kl = 0, kr = 0;
        uintptr_t row_pf = pf & ~(uintptr_t)63;
        for (int64_t b = 0; b < nb; b++) {
            for (const int64_t ke = k + per < tot ? k + per : tot; k < ke; k++) {
                _mm_prefetch((const char *)(row_pf + (uintptr_t)(kl * 64)), _MM_HINT_T0);
                if (++kl == lps) {
                    kl = 0;
                    row_pf = (pf + (uintptr_t)(++kr * rb)) & ~(uintptr_t)63;
                }
            }
            const int32_t *xg = xt + (b0 + b) * 8 * 16;
            __m512i xv[8];
#pragma GCC unroll 8
            for (int g = 0; g < 8; g++) xv[g] = _mm512_load_si512(xg + 16 * g);
            const __m512 dx = _mm512_load_ps(dt + (b0 + b) * 16), sx = _mm512_load_ps(st + (b0 + b) * 16);
#pragma GCC unroll 8
            for (int i = 0; i < R; i++) {
                __m512i a = _mm512_setzero_si512();
#pragma GCC unroll 8
                for (int g = 0; g < 8; g++) {
                    int32_t wv;
                    memcpy(&wv, u[i] + 32 * b + 4 * g, 4);
                    a = _mm512_dpbusd_epi32(a, _mm512_set1_epi32(wv), xv[g]);
                }
                f[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a), _mm512_mul_ps(_mm512_set1_ps(dd[i][b]), dx), f[i]);
                f[i] = _mm512_fmadd_ps(_mm512_set1_ps(cc[i][b]), sx, f[i]);
            }
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < R; i++) _mm512_store_ps(ft + 16 * i, f[i]);
}

/* n in [1, 16] tokens (w not Q6_K); returns 0 (nothing done) without memory
 * for the transposed x. */
static int lanes_gemm(const inf__weight *w, const inf__cpu_xq *xq, float *y, int64_t ldy,
                      int64_t r0, int64_t r1) {
    const int64_t nbt = w->cols / 32, ng = w->cols / 4, n = xq->n;
    int32_t *xt = aligned_alloc(64, (size_t)(ng * 64 + 2 * nbt * 64));
    if (!xt) return 0;
    float *dt = (float *)(xt + ng * 16), *st = dt + nbt * 16;
    for (int64_t g0 = 0; g0 < ng; g0 += 16) {
        const int64_t cnt = ng - g0 < 16 ? ng - g0 : 16;
        const __mmask16 m = (__mmask16)((1u << cnt) - 1);
        __m512 v[16];
#pragma GCC unroll 16
        for (int t = 0; t < 16; t++)
            v[t] = t < n ? _mm512_maskz_loadu_ps(m, xq->q + t * xq->ld + 4 * g0) : _mm512_setzero_ps();
        inf__transpose16(v);
        for (int64_t j = 0; j < cnt; j++) _mm512_store_ps((float *)(xt + (g0 + j) * 16), v[j]);
    }
    for (int64_t b = 0; b < nbt; b++)
        for (int t = 0; t < 16; t++) {
            dt[b * 16 + t] = t < n ? xq->d[t * nbt + b] : 0.0f;
            st[b * 16 + t] = t < n ? xq->s[t * nbt + b] : 0.0f;
        }
    float ft[16][16] __attribute__((aligned(64)));
    for (int64_t r = r0; r < r1; r += 16) {
        const int nr = r1 - r < 16 ? (int)(r1 - r) : 16;
        for (int h = 0; h < nr;) {
            if (nr - h >= TR) {
                lanes_pass(TR, w, r + h, xt, dt, st, ft[h], r1);
                h += TR;
            } else {
                lanes_pass(1, w, r + h, xt, dt, st, ft[h], r1);
                h += 1;
            }
        }
        __m512 v[16];
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++) v[i] = _mm512_load_ps(ft[i]);
        inf__transpose16(v); /* v[t]: token t's 16 rows */
        const __mmask16 m = (__mmask16)(nr >= 16 ? 0xffff : (1u << nr) - 1);
        for (int64_t t = 0; t < n; t++) _mm512_mask_storeu_ps(y + t * ldy + r, m, v[t]);
    }
    free(xt);
    return 1;
}

/* ---- one token or a few: row by row --------------------------------------- */

/* Lane l of the result: block (l / 8) of the 64 columns (pair p: blocks 2p, 2p+1). */
AI __m512 pair_scale(__m512 ds16, int p) {
    const __m512i idx = _mm512_set_epi32(2 * p + 1, 2 * p + 1, 2 * p + 1, 2 * p + 1, 2 * p + 1,
                                         2 * p + 1, 2 * p + 1, 2 * p + 1, 2 * p, 2 * p, 2 * p, 2 * p,
                                         2 * p, 2 * p, 2 * p, 2 * p);
    return _mm512_permutexvar_ps(idx, ds16);
}


/* Lane l of the result: block (l / 4) of the 128 columns of quad q (blocks
 * 4q .. 4q+3). */
AI __m512 quad_scale(__m512 ds16, int q) {
    const __m512i idx = _mm512_add_epi32(
        _mm512_srli_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), 2),
        _mm512_set1_epi32(4 * q));
    return _mm512_permutexvar_ps(idx, ds16);
}

/* Lanes 0-7: block a of the 16, lanes 8-15: block b. */
AI __m512 two_scale(__m512 ds16, int a, int b) {
    return _mm512_permutexvar_ps(_mm512_inserti64x4(_mm512_set1_epi32(a), _mm256_set1_epi32(b), 1), ds16);
}

/* Formats with a fused path in rows_t (blocks unpacked in registers,
 * straight from the stored bytes); FUSE_NONE: through decode()'s buffer. */
enum { FUSE_NONE, FUSE_Q8_0, FUSE_Q4_0, FUSE_Q4_K, FUSE_MLX8, FUSE_MLX4 };

/* MLX8 (rows_t) and MLX4 (rows_q4, cols a multiple of 512) take the fused
 * paths when their groups tile the 16-block (512-column) steps: G = 32,
 * 64, ..., 512. */
static int mlx_fusable(const inf__weight *w) {
    return (w->fmt == INF__W_MLX8 || w->fmt == INF__W_MLX4) && mlx_pow2_groups(w);
}

/* Blocks b, b+1 (b even) of row r as 64 u8 in column order. */
AI __m512i fused_pair(int F, const inf__weight *w, int64_t rb, int64_t r, int64_t b) {
    const __m256i m4 = _mm256_set1_epi8(15);
    if (F == FUSE_Q4_0) {
        const uint8_t *p = (const uint8_t *)w->data + (r * (w->cols / 32) + b) * 18;
        const __m256i q = _mm256_loadu2_m128i((const __m128i *)(p + 20), (const __m128i *)(p + 2));
        const __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        const __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); /* l0 l1 h0 h1 */
        return _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0));              /* l0 h0 l1 h1 */
    }
    if (F == FUSE_MLX8) /* values 0..255 as stored: vpdpbusd's unsigned side */
        return _mm512_loadu_si512((const void *)(mlx_vals(w, rb, r) + 32 * b));
    if (F == FUSE_Q8_0) {
        const uint8_t *p = (const uint8_t *)w->data + (r * (w->cols / 32) + b) * 34;
        const __m512i z = _mm512_inserti64x4(
            _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(p + 2))),
            _mm256_loadu_si256((const __m256i *)(p + 36)), 1);
        return _mm512_xor_si512(z, _mm512_set1_epi8((char)0x80));
    }
    /* Q4_K: sub-blocks 2j, 2j+1 are the low and high nibbles of 32 bytes */
    const uint8_t *blk = (const uint8_t *)w->data + (r * (w->cols / 256) + b / 8) * 144;
    const __m256i q = _mm256_loadu_si256((const __m256i *)(blk + 16 + 32 * ((b % 8) / 2)));
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(q, m4)),
                              _mm256_and_si256(_mm256_srli_epi16(q, 4), m4), 1);
}


/* The scales d and offsets c of 16 blocks [b0, b0+16) of row r (fused
 * formats) as vectors, built in registers (16 scalar stores then a vector
 * load of them stalled on store forwarding). */
AI void fused_scales(int F, const inf__weight *w, int64_t rb, int64_t r, int64_t b0, __m512 *d, __m512 *c) {
    if (F == FUSE_MLX8 || F == FUSE_MLX4) {
        (void)rb;
        mlx_sb16(w, r, b0, d, c);
        return;
    }
    if (F == FUSE_Q4_0) {
        /* The 16 f16 scales are words 9k of the 288 bytes: words 9k
         * (k < 8) of bytes 0-127 and of bytes 144-271, one two-source word
         * permutation each (a 16-lane gather was this loop's bound on Zen 5). */
        const uint8_t *p = (const uint8_t *)w->data + (r * (w->cols / 32) + b0) * 18;
        const __m512i idx = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                             0, 63, 54, 45, 36, 27, 18, 9, 0);
        const __m512i lo = _mm512_permutex2var_epi16(_mm512_loadu_si512((const void *)p), idx,
                                                     _mm512_loadu_si512((const void *)(p + 64)));
        const __m512i hi = _mm512_permutex2var_epi16(_mm512_loadu_si512((const void *)(p + 144)), idx,
                                                     _mm512_loadu_si512((const void *)(p + 208)));
        *d = _mm512_cvtph_ps(_mm256_inserti128_si256(_mm512_castsi512_si256(lo), _mm512_castsi512_si128(hi), 1));
        *c = _mm512_mul_ps(*d, _mm512_set1_ps(-8.0f));
        return;
    }
    if (F == FUSE_Q8_0) {
        /* Words 17k of the 544 bytes: four blocks (136 bytes) per
         * two-source word permutation, each into its own 4 lanes (the
         * mask zeroes the others). */
        const uint8_t *p = (const uint8_t *)w->data + (r * (w->cols / 32) + b0) * 34;
        const __m512i idx = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 51, 34, 17, 0, 51, 34, 17,
                                             0, 51, 34, 17, 0, 51, 34, 17, 0);
        __m512i h = _mm512_setzero_si512();
        for (int g = 0; g < 4; g++) {
            h = _mm512_or_si512(h, _mm512_maskz_permutex2var_epi16((__mmask32)(0xfu << (4 * g)),
                                                                   _mm512_loadu_si512((const void *)(p + 136 * g)), idx,
                                                                   _mm512_loadu_si512((const void *)(p + 136 * g + 64))));
        }
        *d = _mm512_cvtph_ps(_mm512_castsi512_si256(h));
        *c = _mm512_mul_ps(*d, _mm512_set1_ps(-128.0f));
        return;
    }
    /* Q4_K: super-blocks b0/8 and the next, their 16-byte heads (d, dmin,
     * 12 bytes of 6-bit scales and mins: dwords a0, a1, a2) in the two
     * lanes of one vector, unpacked both at once as ggml's get_scale_min_k4
     * in word form: sc[0..3] = a0 & 0x3f.., m[0..3] = a1 & 0x3f..,
     * sc[4..7] = (a2 & 0x0f..) | ((a0 >> 6) & 3..) << 4,
     * m[4..7] = ((a2 >> 4) & 0x0f..) | ((a1 >> 6) & 3..) << 4. */
    const uint8_t *p = (const uint8_t *)w->data + (r * (w->cols / 256) + b0 / 8) * 144;
    const __m256i v = _mm256_loadu2_m128i((const __m128i *)(p + 144), (const __m128i *)p);
    const __m256i m6 = _mm256_set1_epi8(0x3f), m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(0x03);
    const __m256i lo = _mm256_and_si256(v, m6); /* dword 1: sc j<4, dword 2: m j<4 */
    const __m256i top = _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(v, 6), m2), 4);
    const __m256i a2 = _mm256_shuffle_epi32(v, _MM_SHUFFLE(3, 3, 3, 3));
    const __m256i a2n = _mm256_blend_epi32(_mm256_and_si256(a2, m4), _mm256_and_si256(_mm256_srli_epi32(a2, 4), m4), 0x44);
    const __m256i hi = _mm256_or_si256(a2n, top); /* dword 1: sc j>=4, dword 2: m j>=4 */
    const __m128i sc8 = _mm256_castsi256_si128(
        _mm256_permute4x64_epi64(_mm256_unpacklo_epi32(lo, hi), _MM_SHUFFLE(3, 1, 3, 1)));
    const __m128i mn8 = _mm256_castsi256_si128(
        _mm256_permute4x64_epi64(_mm256_unpackhi_epi32(lo, hi), _MM_SHUFFLE(2, 0, 2, 0)));
    const __m512 dv = _mm512_cvtph_ps(
        _mm256_permutexvar_epi16(_mm256_set_epi16(8, 8, 8, 8, 8, 8, 8, 8, 0, 0, 0, 0, 0, 0, 0, 0), v));
    const __m512 mv = _mm512_cvtph_ps(
        _mm256_permutexvar_epi16(_mm256_set_epi16(9, 9, 9, 9, 9, 9, 9, 9, 1, 1, 1, 1, 1, 1, 1, 1), v));
    *d = _mm512_mul_ps(dv, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(sc8)));
    *c = _mm512_sub_ps(_mm512_setzero_ps(), _mm512_mul_ps(mv, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(mn8))));
}

/* Rows [r0, r1) x n <= 4 tokens, row by row, 16 blocks (512 columns) at a
 * time: the blocks' scales first (d*dx per block and token as a vector),
 * then pairs of blocks as 64 u8 (F: unpacked in registers; FUSE_NONE:
 * decoded to an L1 buffer), one vpdpbusd per token, the int32 lanes of
 * each block scaled by its d*dx (a lane permutation of the vector). */
AI void rows_t(int F, int T, int R, const inf__weight *w, const inf__cpu_xq *xq, float *y,
               int64_t ldy, int64_t r0, int64_t r1) {
    uint8_t u[4][16 * 32] __attribute__((aligned(64)));
    float dd[16] __attribute__((aligned(64))), cc[16] __attribute__((aligned(64)));
    const int64_t nbt = w->cols / 32, rb = row_bytes(w);
    const int mlx = w->fmt == INF__W_MLX4 || w->fmt == INF__W_MLX8;
    const char *data = (const char *)w->data;
    /* rows are short streams that the hardware prefetcher starts late:
     * paced software prefetch (kernels_x86.h) */
    const int64_t ahead = inf__pf_ahead(R * rb), step = inf__pf_step(R * rb, (nbt + 1) / 2);
    for (int64_t r = r0; r + R <= r1; r += R) {
        /* MLX's scales and biases are apart from the values */
        if (mlx) inf__mlx_prefetch_sb(w, r + ahead / rb, R);
        const char *next = data + r * rb + ahead;
        __m512 acc[4][4], cacc[4][4];
#pragma GCC unroll 4
        for (int i = 0; i < R; i++)
#pragma GCC unroll 4
            for (int t = 0; t < T; t++) acc[i][t] = cacc[i][t] = _mm512_setzero_ps();
        for (int64_t b0 = 0; b0 < nbt; b0 += 16) {
            const int nb = nbt - b0 < 16 ? (int)(nbt - b0) : 16;
            const int fused = F != FUSE_NONE && nb == 16;
            const __mmask16 mb = (__mmask16)((1u << nb) - 1);
            __m512 ds[4][4];
#pragma GCC unroll 4
            for (int i = 0; i < R; i++) {
                __m512 d16, c16;
                if (fused) {
                    fused_scales(F, w, rb, r + i, b0, &d16, &c16);
                } else {
                    decode(w, r + i, b0, nb, u[i], dd, cc);
                    d16 = _mm512_maskz_loadu_ps(mb, dd);
                    c16 = _mm512_maskz_loadu_ps(mb, cc);
                }
#pragma GCC unroll 4
                for (int t = 0; t < T; t++) {
                    ds[i][t] = _mm512_mul_ps(d16, _mm512_maskz_loadu_ps(mb, xq->d + t * nbt + b0));
                    cacc[i][t] = _mm512_fmadd_ps(c16, _mm512_maskz_loadu_ps(mb, xq->s + t * nbt + b0), cacc[i][t]);
                }
            }
            for (int p = 0; 2 * p < nb; p++) {
                inf__pf_share(next, step, b0 / 2 + p);
                const __mmask64 m = nb - 2 * p >= 2 ? ~(__mmask64)0 : (__mmask64)0xffffffffu;
                __m512i xv[4];
#pragma GCC unroll 4
                for (int t = 0; t < T; t++) xv[t] = _mm512_maskz_loadu_epi8(m, xq->q + t * xq->ld + 32 * b0 + 64 * p);
#pragma GCC unroll 4
                for (int i = 0; i < R; i++) {
                    const __m512i wv =
                        fused ? fused_pair(F, w, rb, r + i, b0 + 2 * p) : _mm512_maskz_loadu_epi8(m, u[i] + 64 * p);
#pragma GCC unroll 4
                    for (int t = 0; t < T; t++) {
                        const __m512i sm = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wv, xv[t]);
                        acc[i][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sm), pair_scale(ds[i][t], p), acc[i][t]);
                    }
                }
            }
        }
#pragma GCC unroll 4
        for (int i = 0; i < R; i++)
#pragma GCC unroll 4
            for (int t = 0; t < T; t++)
                y[t * ldy + r + i] = _mm512_reduce_add_ps(_mm512_add_ps(acc[i][t], cacc[i][t]));
    }
}

/* Q4_0 and Q4_K rows [r0, r1) x T <= 4 tokens, R rows at a time, in
 * quads of 4 blocks (128 columns) per step; cols a multiple of 512 (whole
 * 16-block groups).  Apart from rows_t: inside it, unrelated branches
 * changed the register allocation of this loop and cost Q4_0 decode 6%. */
AI void rows_q4(int F, int T, int R, const inf__weight *w, const inf__cpu_xq *xq, float *y,
                int64_t ldy, int64_t r0, int64_t r1) {
    const int64_t nbt = w->cols / 32, rb = row_bytes(w);
    const char *data = (const char *)w->data;
    const int64_t ahead = inf__pf_ahead(R * rb), step = inf__pf_step(R * rb, (nbt + 1) / 2);
    for (int64_t r = r0; r + R <= r1; r += R) {
        const char *next = data + r * rb + ahead;
        if (F == FUSE_MLX4) inf__mlx_prefetch_sb(w, r + ahead / rb, R); /* apart from the values */
        __m512 acc[4][4], cacc[4][4];
#pragma GCC unroll 4
        for (int i = 0; i < R; i++)
#pragma GCC unroll 4
            for (int t = 0; t < T; t++) acc[i][t] = cacc[i][t] = _mm512_setzero_ps();
        for (int64_t b0 = 0; b0 < nbt; b0 += 16) {
            __m512 ds[4][4];
            {
#pragma GCC unroll 4
                for (int i = 0; i < R; i++) {
                    __m512 d16, c16;
                    fused_scales(F, w, rb, r + i, b0, &d16, &c16);
#pragma GCC unroll 4
                    for (int t = 0; t < T; t++) {
                        ds[i][t] = _mm512_mul_ps(d16, _mm512_loadu_ps(xq->d + t * nbt + b0));
                        cacc[i][t] = _mm512_fmadd_ps(c16, _mm512_loadu_ps(xq->s + t * nbt + b0), cacc[i][t]);
                    }
                }
            }
            if (F == FUSE_Q4_0) {
                /* Four blocks at a time: low nibbles are columns 0-15 of
                 * each block, high nibbles 16-31, so x is taken in the same
                 * two halves per block (one shuffle each, shared by the R
                 * rows) and both products land in the block's lanes. */
                const __m512i m4 = _mm512_set1_epi8(15);
                for (int q = 0; q < 4; q++) {
                    inf__pf_share(next, step, b0 / 2 + 2 * q);
                    inf__pf_share(next, step, b0 / 2 + 2 * q + 1);
                    __m512i xl[4], xh[4];
#pragma GCC unroll 4
                    for (int t = 0; t < T; t++) {
                        const int8_t *xp = xq->q + t * xq->ld + 32 * b0 + 128 * q;
                        const __m512i x0 = _mm512_loadu_si512((const void *)xp);
                        const __m512i x1 = _mm512_loadu_si512((const void *)(xp + 64));
                        xl[t] = _mm512_shuffle_i64x2(x0, x1, _MM_SHUFFLE(2, 0, 2, 0));
                        xh[t] = _mm512_shuffle_i64x2(x0, x1, _MM_SHUFFLE(3, 1, 3, 1));
                    }
#pragma GCC unroll 4
                    for (int i = 0; i < R; i++) {
                        const uint8_t *p = (const uint8_t *)data + (r + i) * rb + (b0 + 4 * q) * 18;
                        const __m512i qv = q4_0_quad(_mm512_loadu_si512((const void *)p), p);
                        const __m512i lo = _mm512_and_si512(qv, m4);
                        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(qv, 4), m4);
#pragma GCC unroll 4
                        for (int t = 0; t < T; t++) {
                            const __m512i sm = _mm512_dpbusd_epi32(
                                _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, xl[t]), hi, xh[t]);
                            acc[i][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sm), quad_scale(ds[i][t], q), acc[i][t]);
                        }
                    }
                }
            }
            if (F == FUSE_MLX4) {
                /* MLX4: 64 bytes are 128 columns, byte j's low nibble
                 * column 2j and its high nibble column 2j+1, so x is taken
                 * deinterleaved (even columns, odd columns: a byte shuffle
                 * per 128-bit lane and a qword permutation, shared by the
                 * rows).  Dword lane l then holds columns 8l..8l+7 of
                 * either half, block l/4 of the four, as for Q4_0. */
                const __m512i m4 = _mm512_set1_epi8(15);
                const __m512i eo = _mm512_broadcast_i32x4(
                    _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15));
                const __m512i ev = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
                const __m512i od = _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15);
                for (int q = 0; q < 4; q++) {
                    inf__pf_share(next, step, b0 / 2 + 2 * q);
                    inf__pf_share(next, step, b0 / 2 + 2 * q + 1);
                    __m512i xl[4], xh[4];
#pragma GCC unroll 4
                    for (int t = 0; t < T; t++) {
                        const int8_t *xp = xq->q + t * xq->ld + 32 * b0 + 128 * q;
                        const __m512i x0 = _mm512_shuffle_epi8(_mm512_loadu_si512((const void *)xp), eo);
                        const __m512i x1 = _mm512_shuffle_epi8(_mm512_loadu_si512((const void *)(xp + 64)), eo);
                        xl[t] = _mm512_permutex2var_epi64(x0, ev, x1);
                        xh[t] = _mm512_permutex2var_epi64(x0, od, x1);
                    }
#pragma GCC unroll 4
                    for (int i = 0; i < R; i++) {
                        const __m512i qv =
                            _mm512_loadu_si512((const void *)(data + (r + i) * rb + 16 * b0 + 64 * q));
                        const __m512i lo = _mm512_and_si512(qv, m4);
                        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(qv, 4), m4);
#pragma GCC unroll 4
                        for (int t = 0; t < T; t++) {
                            const __m512i sm = _mm512_dpbusd_epi32(
                                _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, xl[t]), hi, xh[t]);
                            acc[i][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sm), quad_scale(ds[i][t], q), acc[i][t]);
                        }
                    }
                }
            }
            if (F == FUSE_Q4_K) {
                /* Two 32-byte chunks at a time (one 64-byte load): low
                 * nibbles are sub-blocks b and b+2 (a 256-bit half each),
                 * high nibbles b+1 and b+3; x's halves to match come from
                 * two 128-bit-lane shuffles shared by the rows.  The two
                 * products keep their own lanes' scales. */
                const __m512i m4 = _mm512_set1_epi8(15);
                for (int q = 0; q < 4; q++) {
                    inf__pf_share(next, step, b0 / 2 + 2 * q);
                    inf__pf_share(next, step, b0 / 2 + 2 * q + 1);
                    __m512i xl[4], xh[4];
#pragma GCC unroll 4
                    for (int t = 0; t < T; t++) {
                        const int8_t *xp = xq->q + t * xq->ld + 32 * b0 + 128 * q;
                        const __m512i x0 = _mm512_loadu_si512((const void *)xp);
                        const __m512i x1 = _mm512_loadu_si512((const void *)(xp + 64));
                        xl[t] = _mm512_shuffle_i64x2(x0, x1, _MM_SHUFFLE(1, 0, 1, 0));
                        xh[t] = _mm512_shuffle_i64x2(x0, x1, _MM_SHUFFLE(3, 2, 3, 2));
                    }
                    const int64_t b = b0 + 4 * q;
#pragma GCC unroll 4
                    for (int i = 0; i < R; i++) {
                        const uint8_t *blk = (const uint8_t *)data + (r + i) * rb + (b / 8) * 144;
                        const __m512i qv = _mm512_loadu_si512((const void *)(blk + 16 + 32 * ((b % 8) / 2)));
                        const __m512i lo = _mm512_and_si512(qv, m4);
                        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(qv, 4), m4);
#pragma GCC unroll 4
                        for (int t = 0; t < T; t++) {
                            const __m512i sl = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, xl[t]);
                            const __m512i sh = _mm512_dpbusd_epi32(_mm512_setzero_si512(), hi, xh[t]);
                            acc[i][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sl), two_scale(ds[i][t], 4 * q, 4 * q + 2),
                                                        acc[i][t]);
                            acc[i][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sh),
                                                        two_scale(ds[i][t], 4 * q + 1, 4 * q + 3), acc[i][t]);
                        }
                    }
                }
            }
        }
#pragma GCC unroll 4
        for (int i = 0; i < R; i++)
#pragma GCC unroll 4
            for (int t = 0; t < T; t++)
                y[t * ldy + r + i] = _mm512_reduce_add_ps(_mm512_add_ps(acc[i][t], cacc[i][t]));
    }
}

/* Rows in fours for one token, twos for two, ones for more; the rest one
 * at a time. */
#define ROWS_T(NAME, KERNEL, F)                                                          \
    static void NAME(const inf__weight *w, const inf__cpu_xq *xq, float *y, int64_t ldy,   \
                     int64_t r0, int64_t r1) {                                           \
        const int64_t n = xq->n, R = n == 1 ? 4 : n == 2 ? 2 : 1;                        \
        const int64_t rm = r0 + (r1 - r0) / R * R;                                       \
        switch (n) {                                                                     \
        case 1: KERNEL(F, 1, 4, w, xq, y, ldy, r0, rm); KERNEL(F, 1, 1, w, xq, y, ldy, rm, r1); return; \
        case 2: KERNEL(F, 2, 2, w, xq, y, ldy, r0, rm); KERNEL(F, 2, 1, w, xq, y, ldy, rm, r1); return; \
        case 3: KERNEL(F, 3, 1, w, xq, y, ldy, r0, r1); return;                          \
        default: KERNEL(F, 4, 1, w, xq, y, ldy, r0, r1); return;                         \
        }                                                                                \
    }
ROWS_T(rows_FUSE_Q8_0, rows_t, FUSE_Q8_0)
ROWS_T(rows_FUSE_Q4_0, rows_t, FUSE_Q4_0)
ROWS_T(rows_FUSE_Q4_K, rows_t, FUSE_Q4_K)
ROWS_T(rows_quad_Q4_0, rows_q4, FUSE_Q4_0)
ROWS_T(rows_quad_Q4_K, rows_q4, FUSE_Q4_K)
ROWS_T(rows_quad_MLX4, rows_q4, FUSE_MLX4)
ROWS_T(rows_FUSE_MLX8, rows_t, FUSE_MLX8)
ROWS_T(rows_FUSE_NONE, rows_t, FUSE_NONE)

/* n <= 4 tokens. */
static void rows_few(const inf__weight *w, const inf__cpu_xq *xq, float *y, int64_t ldy,
                     int64_t r0, int64_t r1) {
    switch (w->fmt) {
    case INF__W_Q8_0: rows_FUSE_Q8_0(w, xq, y, ldy, r0, r1); return;
    case INF__W_Q4_0:
        if (w->cols % 512 == 0) rows_quad_Q4_0(w, xq, y, ldy, r0, r1);
        else rows_FUSE_Q4_0(w, xq, y, ldy, r0, r1);
        return;
    case INF__W_Q4_K:
        if (w->cols % 512 == 0) rows_quad_Q4_K(w, xq, y, ldy, r0, r1);
        else rows_FUSE_Q4_K(w, xq, y, ldy, r0, r1);
        return;
    case INF__W_MLX4:
        if (mlx_fusable(w) && w->cols % 512 == 0) rows_quad_MLX4(w, xq, y, ldy, r0, r1);
        else rows_FUSE_NONE(w, xq, y, ldy, r0, r1);
        return;
    case INF__W_MLX8:
        if (mlx_fusable(w)) {
            rows_FUSE_MLX8(w, xq, y, ldy, r0, r1);
            return;
        }
        rows_FUSE_NONE(w, xq, y, ldy, r0, r1);
        return;
    default: rows_FUSE_NONE(w, xq, y, ldy, r0, r1); return;
    }
}

/* Q6_K, n <= 4 tokens, row by row: w = d sc[16 values] (q - 32), q 6-bit.
 * A half super-block (128 values) is 64 bytes of low nibbles and 32 of
 * high bit pairs: values 0..63 are the nibbles' low halves with bit pairs
 * 0-1 and 2-3, values 64..127 the high halves with pairs 4-5 and 6-7, so
 * each 64 columns unpack in registers to u8 in column order.  One vpdpbusd
 * per 64 columns and token, started from -32 * (the lane's four xq: one
 * vpdpbusd by 32 shared by every row) gives sum (q - 32) xq per lane
 * exactly; lane j's scale is d sc[j / 4] dx[j / 8] of its pair. */
AI __m512i q6k_pair(const uint8_t *blk, int k) {
    const __m512i m4 = _mm512_set1_epi8(15), m2 = _mm512_set1_epi8(3);
    const int half = k / 2;
    const __m512i ql = _mm512_loadu_si512((const void *)(blk + 64 * half));
    const __m256i qh = _mm256_loadu_si256((const __m256i *)(blk + 128 + 32 * half));
    __m512i h2 = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
    __m512i lo = ql;
    if (k & 1) {
        h2 = _mm512_srli_epi16(h2, 4);
        lo = _mm512_srli_epi16(ql, 4);
    }
    return _mm512_or_si512(_mm512_and_si512(lo, m4), _mm512_slli_epi16(_mm512_and_si512(h2, m2), 4));
}

AI void rows_q6k_t(int F, int T, int R, const inf__weight *w, const inf__cpu_xq *xq, float *y,
                   int64_t ldy, int64_t r0, int64_t r1) {
    (void)F; /* the signature of rows_t, for ROWS_T */
    const int64_t nbt = w->cols / 32, nsb = w->cols / 256, rb = nsb * 210;
    const char *data = (const char *)w->data;
    const int64_t ahead = inf__pf_ahead(R * rb), step = inf__pf_step(R * rb, 4 * nsb);
    const __m512i c32 = _mm512_set1_epi8(32);
    /* lane j of pair k: sub-block 4k + j/4, block 2k + j/8 */
    __m512i sidx[4], bidx[4];
    for (int k = 0; k < 4; k++) {
        sidx[k] = _mm512_add_epi32(_mm512_set1_epi32(4 * k),
                                   _mm512_srli_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), 2));
        bidx[k] = _mm512_add_epi32(_mm512_set1_epi32(2 * k),
                                   _mm512_srli_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), 3));
    }
    for (int64_t r = r0; r + R <= r1; r += R) {
        const char *next = data + r * rb + ahead;
        __m512 acc[4][4];
#pragma GCC unroll 4
        for (int i = 0; i < R; i++)
#pragma GCC unroll 4
            for (int t = 0; t < T; t++) acc[i][t] = _mm512_setzero_ps();
        for (int64_t s = 0; s < nsb; s++) {
            __m512 dxs[4];
#pragma GCC unroll 4
            for (int t = 0; t < T; t++) dxs[t] = _mm512_castps256_ps512(_mm256_loadu_ps(xq->d + t * nbt + 8 * s));
            __m512 scv[4];
#pragma GCC unroll 4
            for (int i = 0; i < R; i++) {
                const uint8_t *blk = (const uint8_t *)data + (r + i) * rb + s * 210;
                scv[i] = _mm512_mul_ps(_mm512_set1_ps(_cvtsh_ss(inf__cpu_ggml_u16(blk + 208))),
                                       _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(blk + 192)))));
            }
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) {
                inf__pf_share(next, step, 4 * s + k);
                __m512i xv[4], nc[4];
                __m512 dl[4];
#pragma GCC unroll 4
                for (int t = 0; t < T; t++) {
                    xv[t] = _mm512_loadu_si512((const void *)(xq->q + t * xq->ld + 256 * s + 64 * k));
                    nc[t] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), c32, xv[t]));
                    dl[t] = _mm512_permutexvar_ps(bidx[k], dxs[t]);
                }
#pragma GCC unroll 4
                for (int i = 0; i < R; i++) {
                    const __m512i wv = q6k_pair((const uint8_t *)data + (r + i) * rb + s * 210, k);
                    const __m512 sl = _mm512_permutexvar_ps(sidx[k], scv[i]);
#pragma GCC unroll 4
                    for (int t = 0; t < T; t++) {
                        const __m512i sm = _mm512_dpbusd_epi32(nc[t], wv, xv[t]);
                        acc[i][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sm), _mm512_mul_ps(sl, dl[t]), acc[i][t]);
                    }
                }
            }
        }
#pragma GCC unroll 4
        for (int i = 0; i < R; i++)
#pragma GCC unroll 4
            for (int t = 0; t < T; t++) y[t * ldy + r + i] = _mm512_reduce_add_ps(acc[i][t]);
    }
}

ROWS_T(rows_q6k, rows_q6k_t, FUSE_NONE) /* F unused */

/* ---- the set ---------------------------------------------------------------- */

static int vnni_q8_takes(const inf__weight *w, int64_t n) {
    /* Q6_K (scales per 16 columns): the panel GEMM, and rows_q6k for fewer
     * tokens */
    if (w->fmt == INF__W_Q6_K) return w->cols % 256 == 0;
    /* this set's own layouts: only it reads them */
    if (is_r16(w)) return 1;
    if (!inf__cpu_q8_form(w)) return 0;
    /* one token of MLX4 (and of MLX8 whose groups the fused row kernel
     * does not take): the avx2-fast kernel (kernels_q8.c), faster there */
    if (w->fmt == INF__W_MLX4 && n == 1 && !(mlx_fusable(w) && w->cols % 512 == 0)) return 0;
    if (w->fmt == INF__W_MLX8 && n == 1 && !mlx_fusable(w)) return 0;
    return 1;
}

static void vnni_matmul_q8(const inf__weight *w, const inf__cpu_xq *xq, float *y, int64_t ldy,
                           int64_t r0, int64_t r1) {
    /* the interleaved layouts: their own kernel up to 16 tokens, then the
     * panels; without the panel's memory, their kernel too */
    if (is_r16(w)) {
        if (xq->n <= T16_MAX || !gemm(w, xq, y, ldy, r0, r1)) inf__cpu_r16_matmul(w, xq, y, ldy, r0, r1);
        return;
    }
    if (xq->n >= Q8_GEMM_MIN && xq->n <= T16_MAX && !is_q6(w) && !is_r16(w) &&
        lanes_gemm(w, xq, y, ldy, r0, r1))
        return;
    if (xq->n >= Q8_GEMM_MIN && gemm(w, xq, y, ldy, r0, r1)) return;
    for (int64_t t = 0; t < xq->n; t += 4) { /* the row kernel takes up to 4 tokens */
        inf__cpu_xq part = *xq;
        const int64_t nbt = w->cols / 32;
        part.n = xq->n - t < 4 ? xq->n - t : 4;
        part.q = xq->q + t * xq->ld;
        part.d = xq->d + t * nbt;
        part.s = xq->s + t * nbt;
        if (w->fmt == INF__W_Q6_K) rows_q6k(w, &part, y + t * ldy, ldy, r0, r1);
        else rows_few(w, &part, y + t * ldy, ldy, r0, r1);
    }
}

/* ---- weights repacked at load (kernels.h: pack) -------------------------------
 *
 * Q4_0, Q4_K, Q5_K, Q6_K, Q8_0 and MLX8/MLX4 (groups of 32 to 512 columns in
 * powers of two) into rows interleaved 16 at a time (kernels_r16.c: why,
 * and what it measured); other formats go to the set beneath (BF16's
 * panels). */

static const inf__cpu_kernels *vnni_under;

static int64_t vnni_pack_bytes(const inf__weight *w) {
    const int64_t b = inf__cpu_r16_pack_bytes(w);
    if (b > 0) return b;
    return vnni_under->pack_bytes ? vnni_under->pack_bytes(w) : 0;
}

static void vnni_pack(const inf__weight *w, int64_t r0, int64_t r1, void *dst, inf__weight *out) {
    if (inf__cpu_r16_pack_bytes(w) > 0) inf__cpu_r16_pack(w, r0, r1, dst, out);
    else vnni_under->pack(w, r0, r1, dst, out);
}

static inf__cpu_kernels vnni_set;

const inf__cpu_kernels *inf__cpu_vnni_build(const inf__cpu_kernels *under) {
    vnni_under = under;
    vnni_set = *under;
    vnni_set.pack_bytes = vnni_pack_bytes;
    vnni_set.pack = vnni_pack;
    vnni_set.pack_rows = under->pack_rows > 16 ? under->pack_rows : 16; /* Q4_0_R16's groups; BF16's panels: 32 */
    vnni_set.name = "avx512-fast";
    vnni_set.q8_quantize = vnni_quantize;
    vnni_set.q8_takes = vnni_q8_takes;
    vnni_set.matmul_q8 = vnni_matmul_q8;
    return &vnni_set;
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif
