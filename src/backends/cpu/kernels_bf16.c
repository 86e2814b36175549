/*
 * Precision fast's BF16 layer: the set beneath, except that products with
 * BF16 weights round the activations x to bfloat16 and multiply with
 * AVX512-BF16 dot products (vdpbf16ps: 32 products per instruction, twice
 * an f32 FMA), as llama.cpp does for BF16 models: at every token count for
 * the matrices repacked at load (INF__W_BF16_R32, below), at 5+ tokens for
 * BF16 read as stored (the output head, columns not a multiple of 32).
 * The weight values are used exactly; only x loses precision (relative
 * 2^-9 per value), so this layer is NOT exact: part of precision fast only
 * (kernels_select.c).  test_cpu_fast measures its perplexity.
 *
 * Layout: a panel of 32 rows x 256 column PAIRS is transposed so that
 * dword (kp, i) = row i's values 2kp and 2kp+1 (a 16 x 16 dword transpose
 * moves whole pairs), and x is converted to bf16 pairs once per matmul
 * (xb_convert, below; once per call where matmul_rows takes f32); the
 * micro-kernel broadcasts one pair of a token and
 * accumulates 32 rows x 12 tokens in 24 zmm registers.
 */
#include "backends/cpu/kernels.h"
#include "backends/cpu/kernels_x86.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include <immintrin.h>
#include <stdlib.h>

#define TGTB __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma,f16c")))
#define AI static inline __attribute__((always_inline))

#define MR 32   /* rows per panel */
#define NR 12   /* tokens per micro tile */
#define KP 256  /* column pairs per chunk (512 columns) */
#define TB 192  /* tokens per block (a multiple of NR) */
#define LDXB (KP + 16) /* dwords per converted x row (not a multiple of 4 KiB) */

static const inf__cpu_kernels *base; /* the avx512 set (inf__cpu_bf16_build) */

/* Rows [r, r+nr) x columns [k0, k0+kc) of a BF16 matrix into
 * pan[kp*MR + i] (dwords) for kp < ceil(kc/2) rounded up to 16; rows past
 * nr and columns past kc are 0. */
TGTB static void pack_pairs(const inf__weight *w, int64_t r, int nr, int64_t k0, int64_t kc,
                            uint32_t *pan) {
    const uint16_t *data = w->data;
    for (int h = 0; h < MR; h += 16)
        for (int64_t k = 0; k < kc; k += 32) {
            const int64_t left = kc - k;
            const __mmask32 m = left >= 32 ? 0xffffffffu : (__mmask32)((1u << left) - 1);
            __m512 v[16];
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++)
                v[i] = h + i < nr ? _mm512_castsi512_ps(_mm512_maskz_loadu_epi16(
                                        m, data + (r + h + i) * w->cols + k0 + k))
                                  : _mm512_setzero_ps();
            inf__transpose16(v);
#pragma GCC unroll 16
            for (int j = 0; j < 16; j++) _mm512_store_ps((float *)pan + (k / 2 + j) * MR + h, v[j]);
        }
}

/* x rows [0, nt) columns [k0, k0+kc) as bf16 pairs: xb[t*LDXB + kp]. */
TGTB static void convert_x(const float *x, int64_t ldx, int64_t nt, int64_t k0, int64_t kc,
                           uint32_t *xb) {
    for (int64_t t = 0; t < nt; t++) {
        /* x (2-6 MB at 512 tokens) comes from beyond L2, a row's chunk a
         * run of 32 lines that the hardware prefetcher picks up late:
         * the row 4 ahead is asked for (Qwen3-0.6B BF16 prefill 512, 2
         * threads: +2.5% median of 6 alternated rounds; 8 ahead: less) */
        if (t + 4 < nt)
            for (int64_t k = 0; k < kc; k += 16) _mm_prefetch((const char *)(x + (t + 4) * ldx + k0 + k), _MM_HINT_T0);
        for (int64_t k = 0; k < kc; k += 32) {
            const int64_t left = kc - k;
            const __mmask16 m0 = left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
            const __mmask16 m1 = left >= 32 ? 0xffff : left <= 16 ? 0 : (__mmask16)((1u << (left - 16)) - 1);
            const float *xr = x + t * ldx + k0 + k;
            const __m512bh p = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(m1, xr + 16),
                                                   _mm512_maskz_loadu_ps(m0, xr));
            _mm512_storeu_si512(xb + t * LDXB + k / 2, (__m512i)p);
        }
    }
}

TGTB AI void micro_bf(int T, const uint32_t *pan, int64_t np, const uint32_t *xb, float *y,
                      int64_t ldy, __mmask16 m0, __mmask16 m1, int first) {
    __m512 acc[2][NR];
#pragma GCC unroll 12
    for (int t = 0; t < T; t++) {
        acc[0][t] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m0, y + t * ldy);
        acc[1][t] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m1, y + t * ldy + 16);
    }
    /* The panel asked for 32 pairs (4 KiB) ahead: on the first tile it
     * comes from beyond L2 (a repacked matrix) and the loads of w0/w1
     * stalled (perf annotate); on the later ones it is in L1, where the
     * prefetch costs a load slot.  bench_ggml, Qwen3 shapes x 512 tokens,
     * 3 rounds: 324 -> 344 GFLOP/s (1 and 8 KiB ahead: less). */
    for (int64_t kp = 0; kp < np; kp++) {
        _mm_prefetch((const char *)(pan + kp * MR + 32 * MR), _MM_HINT_T0);
        _mm_prefetch((const char *)(pan + kp * MR + 32 * MR + 16), _MM_HINT_T0);
        const __m512bh w0 = (__m512bh)_mm512_load_si512(pan + kp * MR);
        const __m512bh w1 = (__m512bh)_mm512_load_si512(pan + kp * MR + 16);
#pragma GCC unroll 12
        for (int t = 0; t < T; t++) {
            const __m512bh b = (__m512bh)_mm512_set1_epi32((int)xb[t * LDXB + kp]);
            acc[0][t] = _mm512_dpbf16_ps(acc[0][t], w0, b);
            acc[1][t] = _mm512_dpbf16_ps(acc[1][t], w1, b);
        }
    }
#pragma GCC unroll 12
    for (int t = 0; t < T; t++) {
        _mm512_mask_storeu_ps(y + t * ldy, m0, acc[0][t]);
        _mm512_mask_storeu_ps(y + t * ldy + 16, m1, acc[1][t]);
    }
}

/* Rows [lo, hi) of a panel (0 <= lo < hi <= MR) as the two store masks. */
static void row_masks(int lo, int hi, __mmask16 *m0, __mmask16 *m1) {
    const uint32_t m = (hi >= 32 ? 0xffffffffu : (1u << hi) - 1) & ~((1u << lo) - 1);
    *m0 = (__mmask16)(m & 0xffff);
    *m1 = (__mmask16)(m >> 16);
}

TGTB static void micro_one(int T, const uint32_t *pan, int64_t np, const uint32_t *xb, float *y,
                           int64_t ldy, __mmask16 m0, __mmask16 m1, int first) {
    switch (T) {
#define CASE(TT) case TT: micro_bf(TT, pan, np, xb, y, ldy, m0, m1, first); break;
    CASE(12) CASE(11) CASE(10) CASE(9) CASE(8) CASE(7) CASE(6) CASE(5) CASE(4) CASE(3) CASE(2) CASE(1)
#undef CASE
    default: break;
    }
}

/* ---- weights repacked at load (INF__W_BF16_R32) --------------------------
 *
 * The panels pack_pairs makes, made once for the whole matrix: panel p
 * (rows 32p..32p+31) is pack_pairs(w, 32p, nr, 0, cols) at word p * 32 *
 * cols/2, and its chunk of columns [k0, k0 + 2 KP) is the contiguous 32 KiB
 * at word (p * cols/2 + k0/2) * 32.  Prefill then multiplies straight from
 * the matrix (mm_pairs): the per-call pack was 10-13% of a BF16 prefill (perf,
 * Qwen3-0.6B and Llama-3.2-1B, 512 tokens: each panel packed once per
 * block of 192 tokens), and bench_ggml with the pack skipped ran the
 * model's shapes 19-36% faster.  Decode reads the same layout (mv_r32),
 * a thread's rows one contiguous run of memory. */

static int64_t r32_bytes(const inf__weight *w) {
    if (w->fmt != INF__W_BF16 || w->rows <= 0 || w->cols <= 0 || w->cols % 32 != 0) return 0;
    return (w->rows + MR - 1) / MR * MR * w->cols * 2;
}

static void r32_pack(const inf__weight *w, int64_t r0, int64_t r1, void *dst, inf__weight *out) {
    const int64_t cp = w->cols / 2;
    for (int64_t r = r0; r < r1; r += MR)
        pack_pairs(w, r, w->rows - r < MR ? (int)(w->rows - r) : MR, 0, w->cols,
                   (uint32_t *)dst + r * cp);
    *out = *w;
    out->fmt = INF__W_BF16_R32;
    out->data = dst;
}

/* 5+ tokens: token block > column chunk (convert x) > panel > 12 tokens.
 * A repacked matrix's panel chunk is read where it lies, and rows [r0, r1)
 * need not be whole panels (a panel's other rows are computed and not
 * stored: the masks); a matrix as stored has each panel chunk packed
 * into scratch, panels starting at r0.  x comes as f32 (converted here,
 * for this call's rows only) or, pre != NULL, converted already for all
 * the matmul's chunks (xb_convert's layout, cap tokens).  Returns 0
 * (nothing done) when the scratch cannot be allocated. */
TGTB static int mm_pairs(const inf__weight *w, const float *x, int64_t ldx, const uint32_t *pre, int64_t cap,
                         int64_t n, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    const int r32 = w->fmt == INF__W_BF16_R32;
    uint32_t *pan = r32 ? NULL : aligned_alloc(64, (size_t)KP * MR * 4);
    uint32_t *xb = pre ? NULL : aligned_alloc(64, (size_t)TB * LDXB * 4);
    if ((!r32 && !pan) || (!pre && !xb)) {
        free(pan);
        free(xb);
        return 0;
    }
    const uint32_t *data = w->data;
    /* token blocks of whole tiles (TB is one): 512 tokens as 180 + 180 +
     * 152, not three blocks of 171 that each end in a 3-token tile */
    const int64_t cols = w->cols, cp = cols / 2, nb = (n + TB - 1) / TB,
                  tb = ((n + nb - 1) / nb + NR - 1) / NR * NR;
    for (int64_t t0 = 0; t0 < n; t0 += tb) {
        const int64_t nt = n - t0 < tb ? n - t0 : tb;
        for (int64_t k0 = 0; k0 < cols; k0 += 2 * KP) {
            const int64_t kc = cols - k0 < 2 * KP ? cols - k0 : 2 * KP, np = (kc + 1) / 2;
            const uint32_t *xs = xb;
            if (pre) xs = pre + (k0 / (2 * KP)) * cap * LDXB + t0 * LDXB;
            else convert_x(x + t0 * ldx, ldx, nt, k0, kc, xb);
            for (int64_t p = r32 ? r0 / MR * MR : r0; p < r1; p += MR) {
                const int hi = r1 - p < MR ? (int)(r1 - p) : MR;
                __mmask16 m0, m1;
                row_masks(r0 > p ? (int)(r0 - p) : 0, hi, &m0, &m1);
                const uint32_t *pc = pan;
                if (r32) pc = data + p * cp + k0 / 2 * MR;
                else pack_pairs(w, p, hi, k0, kc, pan);
                for (int64_t t = 0; t < nt; t += NR) {
                    const int T = nt - t < NR ? (int)(nt - t) : NR;
                    micro_one(T, pc, np, xs + t * LDXB, y + (t0 + t) * ldy + p, ldy, m0, m1, k0 == 0);
                }
            }
        }
    }
    free(pan);
    free(xb);
    return 1;
}

/* N (1-4) tokens against one panel's pairs [0, np) (np even), x as bf16
 * pairs xb[t*ldb + kp]: vdpbf16ps as in prefill, the even and odd pairs in
 * separate sums added at the end, added to y unless first.  The panels are
 * read in order, one contiguous stream per thread, which the hardware
 * prefetcher follows by itself: software prefetch 8 KiB ahead (as the
 * row kernels need) made one thread's Qwen3-0.6B decode slower (17.5 ->
 * 19.2 tok/s without it, 3 alternated rounds). */
TGTB AI void mv_panel(int N, const uint32_t *pan, int64_t np, const uint32_t *xb, int64_t ldb, float *y,
                      int64_t ldy, __mmask16 m0, __mmask16 m1, int first) {
    __m512 a[4][4];
#pragma GCC unroll 4
    for (int t = 0; t < N; t++) {
        a[t][0] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m0, y + t * ldy);
        a[t][1] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m1, y + t * ldy + 16);
        a[t][2] = a[t][3] = _mm512_setzero_ps();
    }
    for (int64_t kp = 0; kp < np; kp += 2) {
        const __m512bh w0 = (__m512bh)_mm512_load_si512(pan + kp * MR);
        const __m512bh w1 = (__m512bh)_mm512_load_si512(pan + kp * MR + 16);
        const __m512bh w2 = (__m512bh)_mm512_load_si512(pan + kp * MR + 32);
        const __m512bh w3 = (__m512bh)_mm512_load_si512(pan + kp * MR + 48);
#pragma GCC unroll 4
        for (int t = 0; t < N; t++) {
            const __m512bh b0 = (__m512bh)_mm512_set1_epi32((int)xb[t * ldb + kp]);
            const __m512bh b1 = (__m512bh)_mm512_set1_epi32((int)xb[t * ldb + kp + 1]);
            a[t][0] = _mm512_dpbf16_ps(a[t][0], w0, b0);
            a[t][1] = _mm512_dpbf16_ps(a[t][1], w1, b0);
            a[t][2] = _mm512_dpbf16_ps(a[t][2], w2, b1);
            a[t][3] = _mm512_dpbf16_ps(a[t][3], w3, b1);
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < N; t++) {
        _mm512_mask_storeu_ps(y + t * ldy, m0, _mm512_add_ps(a[t][0], a[t][2]));
        _mm512_mask_storeu_ps(y + t * ldy + 16, m1, _mm512_add_ps(a[t][1], a[t][3]));
    }
}

#define MVC 2048 /* column pairs of x rounded per pass: 4 tokens, 32 KiB of stack */

/* 1-4 tokens (decode) from the repacked panels, x rounded to bf16 as in
 * prefill (llama.cpp's BF16 decode does the same): one thread's Qwen3-0.6B
 * decode 19.0 -> 21.6 tok/s against the exact f32 products (3 alternated
 * rounds).  Columns in passes of MVC pairs (one for up to 4096 columns),
 * the panels read in order within a pass. */
TGTB static void mv_r32(const inf__weight *w, const float *x, int64_t ldx, int64_t n, float *y,
                        int64_t ldy, int64_t r0, int64_t r1) {
    uint32_t xb[4 * (MVC + 16)] __attribute__((aligned(64)));
    const uint32_t *data = w->data;
    const int64_t cp = w->cols / 2, ldb = MVC + 16;
    for (int64_t c0 = 0; c0 < cp; c0 += MVC) {
        const int64_t nc = cp - c0 < MVC ? cp - c0 : MVC; /* even: cols % 32 == 0 */
        for (int64_t t = 0; t < n; t++)
            for (int64_t k = 0; k < 2 * nc; k += 32) {
                const float *xr = x + t * ldx + 2 * c0 + k;
                _mm512_store_si512(xb + t * ldb + k / 2,
                                   (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(xr + 16), _mm512_loadu_ps(xr)));
            }
        for (int64_t p = r0 / MR * MR; p < r1; p += MR) {
            __mmask16 m0, m1;
            row_masks(r0 > p ? (int)(r0 - p) : 0, r1 - p < MR ? (int)(r1 - p) : MR, &m0, &m1);
            const uint32_t *pan = data + p * cp + c0 * MR;
            switch (n) {
            case 1: mv_panel(1, pan, nc, xb, ldb, y + p, ldy, m0, m1, c0 == 0); break;
            case 2: mv_panel(2, pan, nc, xb, ldb, y + p, ldy, m0, m1, c0 == 0); break;
            case 3: mv_panel(3, pan, nc, xb, ldb, y + p, ldy, m0, m1, c0 == 0); break;
            default: mv_panel(4, pan, nc, xb, ldb, y + p, ldy, m0, m1, c0 == 0); break;
            }
        }
    }
}

static void bf16_matmul_rows(const inf__weight *w, const float *x, int64_t ldx, int64_t n,
                             float *y, int64_t ldy, int64_t r0, int64_t r1) {
    if (w->fmt == INF__W_BF16_R32) {
        /* 5+ tokens: 4 at a time when the scratch cannot be allocated */
        if (n > 4 && mm_pairs(w, x, ldx, NULL, 0, n, y, ldy, r0, r1)) return;
        for (int64_t t = 0; t < n; t += 4)
            mv_r32(w, x + t * ldx, ldx, n - t < 4 ? n - t : 4, y + t * ldy, ldy, r0, r1);
        return;
    }
    if (w->fmt == INF__W_BF16 && n > 4 && mm_pairs(w, x, ldx, NULL, 0, n, y, ldy, r0, r1)) return;
    base->matmul_rows(w, x, ldx, n, y, ldy, r0, r1);
}

/* ---- x converted once per matmul (kernels.h: xb_*) ------------------------
 *
 * convert_x ran in every row chunk's call (4 per thread), each converting
 * all n rows of x: ~7% of a Qwen3-0.6B BF16 prefill's samples (mm_pairs'
 * own, perf after the load), 1.6% converted once.  The layout is
 * mm_pairs' scratch repeated: chunk c of 2 KP columns is a plane of cap
 * rows of LDXB dwords, at c * cap * LDXB, so the micro-kernel reads it
 * with the same constant stride. */
static int xb_takes(const inf__weight *w, int64_t n) { return w->fmt == INF__W_BF16_R32 && n > 4; }

static int64_t xb_plane(int64_t rows, int64_t cols) { return (cols + 2 * KP - 1) / (2 * KP) * rows * LDXB; }

TGTB static void xb_convert(const float *x, int64_t ldx, int64_t t0, int64_t t1, int64_t cols, uint32_t *xb,
                            int64_t cap) {
    for (int64_t k0 = 0; k0 < cols; k0 += 2 * KP)
        convert_x(x + t0 * ldx, ldx, t1 - t0, k0, cols - k0 < 2 * KP ? cols - k0 : 2 * KP,
                  xb + (k0 / (2 * KP)) * cap * LDXB + t0 * LDXB);
}

static void matmul_xb(const inf__weight *w, const uint32_t *xb, int64_t cap, int64_t n, float *y, int64_t ldy,
                      int64_t r0, int64_t r1) {
    mm_pairs(w, NULL, 0, xb, cap, n, y, ldy, r0, r1); /* allocates nothing for a repacked matrix */
}

static inf__cpu_kernels bf16_set;

const inf__cpu_kernels *inf__cpu_bf16_build(const inf__cpu_kernels *avx512) {
    base = avx512;
    bf16_set = *avx512;
    bf16_set.name = "avx512-fast";
    bf16_set.matmul_rows = bf16_matmul_rows;
    bf16_set.pack_bytes = r32_bytes;
    bf16_set.pack = r32_pack;
    bf16_set.pack_rows = MR;
    bf16_set.xb_takes = xb_takes;
    bf16_set.xb_plane = xb_plane;
    bf16_set.xb_convert = xb_convert;
    bf16_set.matmul_xb = matmul_xb;
    return &bf16_set;
}

#endif
