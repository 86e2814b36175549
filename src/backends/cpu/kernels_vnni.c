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

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512vnni,avx512dq,avx2,fma,f16c")
#define INF__Q8_F16(h) _cvtsh_ss(h)
#include "backends/cpu/kernels_int8.h"

#define AI static inline __attribute__((always_inline))

#define MR 32          /* rows per panel */
#define NR 6           /* tokens per micro tile */
#define KC 512         /* columns per panel chunk */
#define KB (KC / 32)   /* blocks per chunk */
#define Q8_GEMM_MIN 5  /* fewer tokens: the row kernel */
#define ROW_CHUNK 4096 /* columns per decoded row piece in the row kernel */

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
    float d[KB][MR] __attribute__((aligned(64)));
    float c[KB][MR] __attribute__((aligned(64)));
} panel;

/* Rows [r, r+nr) x blocks [b0, b0+nb) of w into p (rows past nr: 0). */
static void pack(const inf__weight *w, int64_t r, int nr, int64_t b0, int64_t nb, panel *p) {
    float dd[KB], cc[KB];
    for (int i = 0; i < MR; i++) {
        if (i < nr) {
            inf__cpu_q8_decode(w, r + i, b0, nb, p->rows[i], dd, cc);
            for (int64_t b = 0; b < nb; b++) p->d[b][i] = dd[b], p->c[b][i] = cc[b];
        } else {
            memset(p->rows[i], 0, (size_t)nb * 32);
            for (int64_t b = 0; b < nb; b++) p->d[b][i] = 0, p->c[b][i] = 0;
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

/* Panel > chunk of 512 columns > tokens in sixes; returns 0 (nothing done)
 * without memory for the panel. */
static int gemm(const inf__weight *w, const inf__cpu_xq *xq, float *y, int64_t ldy, int64_t r0,
                int64_t r1) {
    panel *p = aligned_alloc(64, sizeof *p);
    if (!p) return 0;
    const int64_t nbt = w->cols / 32, n = xq->n;
    for (int64_t r = r0; r < r1; r += MR) {
        const int nr = r1 - r < MR ? (int)(r1 - r) : MR;
        for (int64_t b0 = 0; b0 < nbt; b0 += KB) {
            const int64_t nb = nbt - b0 < KB ? nbt - b0 : KB;
            pack(w, r, nr, b0, nb, p);
            for (int64_t t = 0; t < n; t += NR) {
                const int T = n - t < NR ? (int)(n - t) : NR;
                micro_any(T, p, nb, xq->q + t * xq->ld + 32 * b0, xq->ld, xq->d + t * nbt + b0,
                          xq->s + t * nbt + b0, nbt, y + t * ldy + r, ldy, nr, b0 == 0);
            }
        }
    }
    free(p);
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

/* Bytes of row r (data only; scales of MLX are small) for the prefetch. */
static int64_t row_bytes(const inf__weight *w) {
    if (w->fmt == INF__W_MLX4 || w->fmt == INF__W_MLX8) return w->cols * w->bits / 8;
    return w->cols / inf__cpu_ggml_block_elems(w->fmt) * inf__cpu_ggml_block_bytes(w->fmt);
}

static void rows_few(const inf__weight *w, const inf__cpu_xq *xq, float *y, int64_t ldy,
                     int64_t r0, int64_t r1) {
    uint8_t u[ROW_CHUNK] __attribute__((aligned(64)));
    float d[ROW_CHUNK / 32] __attribute__((aligned(64))), c[ROW_CHUNK / 32];
    float ds[ROW_CHUNK / 32 + 16] __attribute__((aligned(64)));
    const int64_t nbt = w->cols / 32, rb = row_bytes(w), n = xq->n;
    const int mlx = w->fmt == INF__W_MLX4 || w->fmt == INF__W_MLX8;
    const char *base_data = (const char *)w->data;
    for (int64_t r = r0; r < r1; r++) {
        /* the row 4 ahead (rows are short streams: the hardware prefetcher
         * starts each one late) */
        if (r + 4 < r1 && !mlx)
            for (int64_t o = 0; o < rb; o += 64) _mm_prefetch(base_data + (r + 4) * rb + o, _MM_HINT_T0);
        if (r + 4 < r1 && mlx) inf__mlx_prefetch_rows(w, r, 1, rb);
        __m512 acc[4];
        float cs[4] = {0, 0, 0, 0};
        for (int64_t t = 0; t < n; t++) acc[t] = _mm512_setzero_ps();
        for (int64_t b0 = 0; b0 < nbt; b0 += ROW_CHUNK / 32) {
            const int64_t nb = nbt - b0 < ROW_CHUNK / 32 ? nbt - b0 : ROW_CHUNK / 32;
            inf__cpu_q8_decode(w, r, b0, nb, u, d, c);
            for (int64_t t = 0; t < n; t++) {
                const int8_t *q = xq->q + t * xq->ld + 32 * b0;
                const float *dx = xq->d + t * nbt + b0, *sx = xq->s + t * nbt + b0;
                int64_t b = 0;
                __m512 cv = _mm512_setzero_ps();
                for (; b + 16 <= nb; b += 16) {
                    const __m512 ds16 = _mm512_mul_ps(_mm512_loadu_ps(d + b), _mm512_loadu_ps(dx + b));
                    cv = _mm512_fmadd_ps(_mm512_loadu_ps(c + b), _mm512_loadu_ps(sx + b), cv);
#pragma GCC unroll 8
                    for (int p = 0; p < 8; p++) {
                        const __m512i wv = _mm512_load_si512(u + 32 * b + 64 * p);
                        const __m512i xv = _mm512_loadu_si512(q + 32 * b + 64 * p);
                        const __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wv, xv);
                        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), pair_scale(ds16, p), acc[t]);
                    }
                }
                float rest = _mm512_reduce_add_ps(cv);
                if (b < nb) { /* fewer than 16 blocks left: 2 at a time, then 1 */
                    for (int64_t j = b; j < nb; j++) ds[j - b] = d[j] * dx[j];
                    for (int64_t j = nb - b; j < 16; j++) ds[j] = 0;
                    const __m512 ds16 = _mm512_loadu_ps(ds);
                    for (int p = 0; 2 * p < nb - b; p++) {
                        const __mmask64 m = nb - b - 2 * p >= 2 ? ~(__mmask64)0 : (__mmask64)0xffffffffu;
                        const __m512i wv = _mm512_maskz_loadu_epi8(m, u + 32 * b + 64 * p);
                        const __m512i xv = _mm512_maskz_loadu_epi8(m, q + 32 * b + 64 * p);
                        const __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wv, xv);
                        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), pair_scale(ds16, p), acc[t]);
                    }
                    for (int64_t j = b; j < nb; j++) rest += c[j] * sx[j];
                }
                cs[t] += rest;
            }
        }
        for (int64_t t = 0; t < n; t++) y[t * ldy + r] = _mm512_reduce_add_ps(acc[t]) + cs[t];
    }
}

/* ---- the set ---------------------------------------------------------------- */

static int vnni_q8_takes(const inf__weight *w, int64_t n) {
    if (!inf__cpu_q8_form(w)) return 0;
    /* one token of MLX: the specialised avx2-fast kernel (kernels_q8.c) */
    if ((w->fmt == INF__W_MLX4 || w->fmt == INF__W_MLX8) && n == 1) return 0;
    return 1;
}

static void vnni_matmul_q8(const inf__weight *w, const inf__cpu_xq *xq, float *y, int64_t ldy,
                           int64_t r0, int64_t r1) {
    if (xq->n >= Q8_GEMM_MIN && gemm(w, xq, y, ldy, r0, r1)) return;
    for (int64_t t = 0; t < xq->n; t += 4) { /* the row kernel takes up to 4 tokens */
        inf__cpu_xq part = *xq;
        const int64_t nbt = w->cols / 32;
        part.n = xq->n - t < 4 ? xq->n - t : 4;
        part.q = xq->q + t * xq->ld;
        part.d = xq->d + t * nbt;
        part.s = xq->s + t * nbt;
        rows_few(w, &part, y + t * ldy, ldy, r0, r1);
    }
}

static inf__cpu_kernels vnni_set;

const inf__cpu_kernels *inf__cpu_vnni_build(const inf__cpu_kernels *under) {
    vnni_set = *under;
    vnni_set.name = "avx512-fast";
    vnni_set.q8_quantize = vnni_quantize;
    vnni_set.q8_takes = vnni_q8_takes;
    vnni_set.matmul_q8 = vnni_matmul_q8;
    return &vnni_set;
}

#pragma GCC pop_options
#endif
