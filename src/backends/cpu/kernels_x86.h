/*
 * x86 helpers shared by the kernel sets (kernels_avx2.c, kernels_q8.c,
 * kernels_avx512.c, kernels_bf16.c).  Each helper carries its own target
 * attribute and is always inlined, so it compiles into callers whose
 * target includes it (avx2 helpers into avx512 code too) while the files
 * stay free of -m flags.  Also the sets' entry points, for
 * kernels_select.c.  Private to the cpu backend.
 */
#ifndef INF_BACKENDS_CPU_KERNELS_X86_H
#define INF_BACKENDS_CPU_KERNELS_X86_H

#if defined(__x86_64__) && defined(__GNUC__)

#include <immintrin.h>

#include "backends/cpu/kernels.h"

/* The x86 sets.  Their files define them and check nothing;
 * kernels_select.c reads the processor's features and builds each set once,
 * over the exact set beneath it (whose kernels it reuses and falls back
 * on), before any of them is handed out. */
extern const inf__cpu_kernels inf__cpu_avx2_set;                              /* kernels_avx2.c */
const inf__cpu_kernels *inf__cpu_avx512_build(const inf__cpu_kernels *avx2);  /* kernels_avx512.c */
/* precision fast's act_mul on AVX-512 (kernels_avx512.c) and AVX2
 * (kernels_q8.c); kernels.h */
extern void (*const inf__cpu_avx512_act_mul)(inf__act act, float *g, const float *u, int64_t n);
extern void (*const inf__cpu_avx2_act_mul)(inf__act act, float *g, const float *u, int64_t n);
/* Their exp(r)'s Taylor coefficients 1/10! .. 1/0!, Horner's order after
 * 1/11! (kernels_avx512.c: exp512d) */
static const double inf__exp_taylor[11] = {1.0 / 3628800.0, 1.0 / 362880.0, 1.0 / 40320.0, 1.0 / 5040.0,
                                           1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0};
const inf__cpu_kernels *inf__cpu_q8_build(const inf__cpu_kernels *exact);     /* kernels_q8.c */
/* precision fast's integer products for ggml Q4_0 and Q4_K on AVX2
 * (kernels_q8_gg.c; the avx2-fast set's q8 hooks, kernels.h): _takes
 * (1-16 tokens; INF__W_Q4_0_R16 at any count), _quantize (inf__cpu_q8_quantize's results, vectorised),
 * _matmul. */
int inf__cpu_q8_gg_takes(const inf__weight *w, int64_t n);
void inf__cpu_q8_gg_quantize(const float *x, int64_t ldx, int64_t t0, int64_t t1, inf__cpu_xq *xq);
/* the bytes of w's 16-row interleaved form where these kernels read it
 * (Q4_0: INF__W_Q4_0_R16, made by inf__cpu_r16_pack), else 0 */
int64_t inf__cpu_q8_gg_pack_bytes(const inf__weight *w);
void inf__cpu_q8_gg_matmul(const inf__weight *w, const inf__cpu_xq *xq, float *y, int64_t ldy, int64_t r0,
                           int64_t r1);
/* The avx2 set's exact GEMM for INF__CPU_GEMM_MIN_TOKENS or more tokens
 * (kernels_avx2_gemm.c): as matmul_rows (kernels.h) for any layout
 * inf__cpu_avx2_dequant_tile converts; returns 0 (nothing written) when
 * its scratch (~270 KiB) cannot be allocated.  Below that count the
 * 4-row x 3-token tile of kernels_avx2.c is faster: a panel is packed for
 * too few tokens. */
#define INF__CPU_GEMM_MIN_TOKENS 48
int inf__cpu_avx2_gemm(const inf__weight *w, const float *x, int64_t ldx, int64_t n, float *y, int64_t ldy,
                       int64_t r0, int64_t r1);
const inf__cpu_kernels *inf__cpu_bf16_build(const inf__cpu_kernels *avx512);  /* kernels_bf16.c */
const inf__cpu_kernels *inf__cpu_vnni_build(const inf__cpu_kernels *under);   /* kernels_vnni.c */
const inf__cpu_kernels *inf__cpu_amx_build(const inf__cpu_kernels *under);    /* kernels_amx.c */

/* Q4_0 rows interleaved 16 at a time (INF__W_Q4_0_R16, model.h; kernels_r16.c,
 * AVX-512 VNNI): the avx512-fast set's layout for Q4_0 and its kernels.
 * _pack_bytes / _pack: kernels.h's pack hooks for a Q4_0 matrix (0 bytes
 * for any other), r0 a multiple of 16.  _matmul: matmul_q8 on an R16
 * matrix, any token count and row range.  _decode: kernels_vnni.c's
 * decode() of row r (u8 values in column order, d, c = -8d).  _panel:
 * blocks [b0, b0+nb) of rows [r, r+16) (r a multiple of 16) as the panel
 * GEMM's transposed u8 (dword (8b+j, i) at pan[(8b+j)*ldp + i]: row i's
 * values of columns 4j..4j+3 of block b) and d, c at [b*ldd + i]. */
int64_t inf__cpu_r16_pack_bytes(const inf__weight *w);
void inf__cpu_r16_pack(const inf__weight *w, int64_t r0, int64_t r1, void *dst, inf__weight *out);
void inf__cpu_r16_matmul(const inf__weight *w, const inf__cpu_xq *xq, float *y, int64_t ldy, int64_t r0,
                         int64_t r1);
void inf__cpu_r16_decode(const inf__weight *w, int64_t r, int64_t b0, int64_t nb, uint8_t *restrict u,
                         float *restrict d, float *restrict c);
void inf__cpu_r16_panel(const inf__weight *w, int64_t r, int64_t b0, int64_t nb, uint32_t *pan, int64_t ldp,
                        float *d, float *c, int64_t ldd);

/* The formats with scales per 16 columns (Q6_K stored or interleaved,
 * Q3_K_R16, Q2_K_R16): per token t < xq->n and 16 columns h, at
 * off[t * cols/16 + h], Q6_K's and Q3_K's integer offset -z sum(xq) (z 32,
 * 4: their sums start from it, so they are sum (q - z) xq) in .i, Q2_K's
 * dx sum(xq) (its minimums' factor) in .f.  kernels_r16.c. */
typedef union inf__cpu_r16_off {
    int32_t i;
    float f;
} inf__cpu_r16_off;
void inf__cpu_r16_offsets(const inf__weight *w, const inf__cpu_xq *xq, inf__cpu_r16_off *off);

/* ggml block formats (kernels_ggml.c).  inf__cpu_ggml_is: Q8_0 .. Q6_K.
 * _decode: one token, rows [r0, r1), y[r] = W[r] . x; returns 0 (nothing
 * written) for a type or size it has no kernel for.  _tile: rows
 * [r, r+nr) x columns [k0, k0+kc) as f32 into tile[i*ld + k], values
 * bit-identical to inf__cpu_dequant_range. */
static inline int inf__cpu_ggml_is(inf__wfmt f) { return f >= INF__W_Q8_0 && f <= INF__W_Q6_K; }
int inf__cpu_ggml_avx2_decode(const inf__weight *w, const float *x, float *y, int64_t r0, int64_t r1);
/* The same on AVX-512 F/BW/VL (the avx512 set's one-token path). */
int inf__cpu_ggml_avx512_decode(const inf__weight *w, const float *x, float *y, int64_t r0, int64_t r1);
void inf__cpu_ggml_avx2_tile(const inf__weight *w, int64_t r, int nr, int64_t k0, int64_t kc,
                             float *tile, int64_t ld);

#define INF__X86_AVX2 static inline __attribute__((always_inline, target("avx2,fma,f16c")))
#define INF__X86_AVX512 static inline __attribute__((always_inline, target("avx512f")))

/* Sum of the 8 lanes. */
INF__X86_AVX2 float inf__hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Element i of an MLX scale/bias array stored as dt (F16, BF16 or F32). */
INF__X86_AVX2 float inf__load_sb(const void *p, inf__dtype dt, int64_t i) {
    if (dt == INF__DT_F32) return ((const float *)p)[i];
    const uint16_t h = ((const uint16_t *)p)[i];
    if (dt == INF__DT_F16) return _cvtsh_ss(h);
    return inf__bf16_to_f32(h);
}

/* One block of 32 values of x rounded to int8 as inf__cpu_q8_quantize
 * does, bit for bit: q[j] = x[j] * (127 / amax) rounded in the current
 * rounding mode (nearest even, as lrintf), clamped to +-127; returns d =
 * amax / 127 and sets *isum to the sum of the 32 q. */
INF__X86_AVX2 float inf__q8_block32(const float *x, int8_t *q, int32_t *isum) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 v[4], mx = _mm256_setzero_ps();
    for (int j = 0; j < 4; j++) {
        v[j] = _mm256_loadu_ps(x + 8 * j);
        mx = _mm256_max_ps(mx, _mm256_and_ps(v[j], absmask));
    }
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    const float amax = _mm_cvtss_f32(h);
    const __m256 id = _mm256_set1_ps(amax > 0 ? 127.0f / amax : 0.0f);
    const __m256 hi = _mm256_set1_ps(127.0f), lo = _mm256_set1_ps(-127.0f);
    __m256i iv[4];
    for (int j = 0; j < 4; j++) {
        const __m256 r = _mm256_round_ps(_mm256_mul_ps(v[j], id), _MM_FROUND_CUR_DIRECTION);
        iv[j] = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(r, lo), hi));
    }
    /* int32 -> int8 in order: the packs interleave 128-bit lanes, the
     * permute puts them back */
    const __m256i p8 = _mm256_packs_epi16(_mm256_packs_epi32(iv[0], iv[1]), _mm256_packs_epi32(iv[2], iv[3]));
    _mm256_storeu_si256((__m256i *)q, _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    const __m256i s4 = _mm256_add_epi32(_mm256_add_epi32(iv[0], iv[1]), _mm256_add_epi32(iv[2], iv[3]));
    const __m128i s2 = _mm_add_epi32(_mm256_castsi256_si128(s4), _mm256_extracti128_si256(s4, 1));
    const __m128i s1 = _mm_add_epi32(s2, _mm_shuffle_epi32(s2, 0x4e));
    *isum = _mm_cvtsi128_si32(_mm_add_epi32(s1, _mm_shuffle_epi32(s1, 0xb1)));
    return amax / 127.0f;
}

/* Elements i..i+7 of such an array as f32. */
INF__X86_AVX2 __m256 inf__load_sb8(const void *p, inf__dtype dt, int64_t i) {
    if (dt == INF__DT_F32) return _mm256_loadu_ps((const float *)p + i);
    const __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)p + i));
    return dt == INF__DT_F16 ? _mm256_cvtph_ps(h)
                             : _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/* sum over g < n of v[off + g] * a[g], v stored as dt. */
INF__X86_AVX2 float inf__sb_dot(const void *v, inf__dtype dt, int64_t off, const float *a, int64_t n) {
    __m256 acc = _mm256_setzero_ps();
    int64_t g = 0;
    for (; g + 8 <= n; g += 8) acc = _mm256_fmadd_ps(inf__load_sb8(v, dt, off + g), _mm256_loadu_ps(a + g), acc);
    float s = inf__hsum8(acc);
    for (; g < n; g++) s += inf__load_sb(v, dt, off + g) * a[g];
    return s;
}

/* Paced software prefetch for the one-token row kernels.  Rows [r, r+R)
 * are one run of R*rb bytes, computed in nq steps; while step q runs, the
 * same share of the run `ahead` bytes further on is fetched (whole groups
 * of R rows, about INF__PF_BYTES).  A burst of the next group's lines at a
 * group's start leaves most of them waiting for fill buffers, and short
 * rows are separate streams that the hardware prefetcher starts late: one
 * thread read a matrix not in the caches ~35% slower that way (measured on
 * the int8 row kernels).  16 KiB against 2 KiB: Qwen3-0.6B decode Q4_0
 * +15%, Q4_K_M +5%, Llama-3.2-1B Q4_K_M +8% (32 KiB: less).  The lines go
 * to L2 (T1), not L1: an L1 prefetch holds one of the core's few L1 fill
 * buffers until its line arrives, which capped the lines in flight; with
 * T1 Qwen3-0.6B decode (2 threads) went Q4_0 +3%, Q6_K +11%, Q4_K_M +3%,
 * BF16 +2% (8-24 KiB within noise of each other, 32 KiB and more slower).
 * That was an Intel Xeon (Sapphire Rapids).  On AMD's Zen 5 the
 * non-temporal hint (NTA) is much the best: one thread's Qwen3-0.6B Q4_0
 * decode 60 -> 80 tok/s against T1 (T0: 73), two threads' Q4_K_M 97 ->
 * 109; the weights are read once per token, and NTA keeps them from
 * displacing what the caches hold.  With NTA, 8 KiB ahead beat 16 KiB
 * (two threads' Q4_0 121 -> 129, Llama-3.2-1B Q4_K_M 53 -> 58; 4 KiB and
 * 32 KiB slower), and 8 KiB was within the Xeon's flat 8-24 KiB.
 * kernels_select.c sets inf__cpu_pf_nta on AMD processors (their decode
 * measured here), once, before any kernel runs; Intel keeps T1.
 * Prefetches never fault, so fetches past a matrix's end are harmless.
 * Needs nothing beyond SSE. */
#define INF__PF_BYTES 8192
extern int inf__cpu_pf_nta;

/* Bytes from a group's first row to the group fetched: whole groups of gb
 * bytes, about INF__PF_BYTES. */
static inline int64_t inf__pf_ahead(int64_t gb) {
    const int64_t groups = (INF__PF_BYTES + gb - 1) / gb;
    return (groups > 0 ? groups : 1) * gb;
}

/* Bytes fetched per step when a group of gb bytes is computed in nq steps
 * (rounded up), for kernels whose bytes per step vary at run time; a
 * kernel whose step is a compile-time constant passes that instead (a
 * run-time count in a loop of 8 columns cost BF16 decode 17%).  Computed
 * outside the loops: two divisions per step cost Q8_0 ~5% of its decode. */
static inline int64_t inf__pf_step(int64_t gb, int64_t nq) { return (gb + nq - 1) / nq; }

/* Step q's share of the group at next (= the current group + ahead). */
static inline __attribute__((always_inline)) void inf__pf_share(const char *next, int64_t step, int64_t q) {
    const int64_t o0 = q * step & ~(int64_t)63, o1 = (q + 1) * step;
    if (inf__cpu_pf_nta)
        for (int64_t o = o0; o < o1; o += 64) _mm_prefetch(next + o, _MM_HINT_NTA);
    else
        for (int64_t o = o0; o < o1; o += 64) _mm_prefetch(next + o, _MM_HINT_T1);
}

/* Prefetches [p, p+bytes) into L1: the next row tile's piece of a
 * dequantised tile (kernels_avx2.c dequant_tile), fetched while this
 * tile's rows are converted.  Rows 4 at a time and 512 columns per piece
 * are short strided streams that the hardware prefetcher follows late:
 * without it the loads of MLX8's tile conversion were ~20% of its 64-token
 * matmul (perf, Zen 3); with it, MLX8 prefill ~+8% (alternated runs). */
static inline __attribute__((always_inline)) void inf__pf_tile_row(const void *p, int64_t bytes) {
    for (int64_t o = 0; o < bytes; o += 64) _mm_prefetch((const char *)p + o, _MM_HINT_T0);
}

/* Prefetches the scales and biases of MLX rows [r, r+R) (a few lines: the
 * values are paced with inf__pf_share, these sparse streams in one go,
 * since a dependent scale load that missed the cache stalled the loop). */
static inline __attribute__((always_inline)) void inf__mlx_prefetch_sb(const inf__weight *w, int64_t r, int64_t R) {
    if (r + R > w->rows) return;
    const int64_t gpr = w->cols / w->group, sbs = w->sb_dtype == INF__DT_F32 ? 4 : 2;
    const char *sn = (const char *)w->scales + r * gpr * sbs, *bn = (const char *)w->biases + r * gpr * sbs;
    for (int64_t o = 0; o < R * gpr * sbs; o += 64) {
        _mm_prefetch(sn + o, _MM_HINT_T0);
        _mm_prefetch(bn + o, _MM_HINT_T0);
    }
}

/* 8 weights of a dense matrix (F32, F16, BF16) from element i, and one:
 * the avx2 set's decode, tile and GEMM conversions. */
INF__X86_AVX2 __m256 inf__dense8(inf__wfmt fmt, const void *data, int64_t i) {
    if (fmt == INF__W_F32) return _mm256_loadu_ps((const float *)data + i);
    const __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)data + i));
    if (fmt == INF__W_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
INF__X86_AVX2 float inf__dense1(inf__wfmt fmt, const void *data, int64_t i) {
    if (fmt == INF__W_F32) return ((const float *)data)[i];
    const uint16_t h = ((const uint16_t *)data)[i];
    return fmt == INF__W_F16 ? _cvtsh_ss(h) : inf__bf16_to_f32(h);
}

/* 8 rows of 8 32-bit lanes (r[i] = row i) -> r[j] = column j: the avx2
 * GEMM's weight panels. */
INF__X86_AVX2 void inf__transpose8(__m256 r[8]) {
    __m256 a[8], b[8];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        a[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        a[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* b[4q + c], 128-bit lane L: column 4L + c of rows 4q..4q+3 */
#pragma GCC unroll 2
    for (int q = 0; q < 2; q++) {
        b[4 * q] = _mm256_shuffle_ps(a[4 * q], a[4 * q + 2], 0x44);
        b[4 * q + 1] = _mm256_shuffle_ps(a[4 * q], a[4 * q + 2], 0xEE);
        b[4 * q + 2] = _mm256_shuffle_ps(a[4 * q + 1], a[4 * q + 3], 0x44);
        b[4 * q + 3] = _mm256_shuffle_ps(a[4 * q + 1], a[4 * q + 3], 0xEE);
    }
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        r[c] = _mm256_permute2f128_ps(b[c], b[4 + c], 0x20);
        r[4 + c] = _mm256_permute2f128_ps(b[c], b[4 + c], 0x31);
    }
}

/* 16 rows of 16 32-bit lanes (r[i] = row i) -> r[j] = column j: f32 weight
 * panels and transposed keys (avx512), bf16 PAIRS moved as one lane
 * (kernels_bf16.c). */
INF__X86_AVX512 void inf__transpose16(__m512 r[16]) {
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
