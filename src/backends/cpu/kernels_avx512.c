/*
 * AVX-512 kernels for several tokens (prefill, batched decode): the same
 * tiling as the avx2 set (a 4-row x 512-column weight tile dequantised to
 * L1 once per block of tokens), with a 4-row x 6-token register tile of
 * 16-lane accumulators (24 of the 32 zmm registers).  One-token decode
 * and 2-4 tokens of dense weights are memory-bound and stay on the avx2
 * kernels, as do attention and softmax.
 * Selected at run time only where the processor and OS support AVX-512.
 */
#include "backends/cpu/kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include <immintrin.h>
#include <pthread.h>

#define TGT5 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
#define AI static inline __attribute__((always_inline))
#define KC INF__CPU_KC
#define TB 96  /* tokens per block: x block 96 x 512 x 4 B = 192 KiB (L2) */

static const inf__cpu_kernels *avx2; /* set once in make_set() */

/* y[t*ldy + i] (+)= tile row i . x row t over kc columns (R <= 4, T <= 6). */
TGT5 AI void micro(int R, int T, const float *tile, int64_t kc, const float *x,
                   int64_t ldx, float *y, int64_t ldy, int first) {
    const int64_t kend = kc & ~(int64_t)15;
    __m512 acc[4][6];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 6
        for (int t = 0; t < T; t++) acc[i][t] = _mm512_setzero_ps();
    for (int64_t k = 0; k < kend; k += 16) {
        __m512 xv[6];
#pragma GCC unroll 6
        for (int t = 0; t < T; t++) xv[t] = _mm512_loadu_ps(x + t * ldx + k);
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            const __m512 wv = _mm512_load_ps(tile + i * KC + k);
#pragma GCC unroll 6
            for (int t = 0; t < T; t++) acc[i][t] = _mm512_fmadd_ps(wv, xv[t], acc[i][t]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 6
        for (int t = 0; t < T; t++) {
            float s = _mm512_reduce_add_ps(acc[i][t]);
            for (int64_t k = kend; k < kc; k++) s += tile[i * KC + k] * x[t * ldx + k];
            y[t * ldy + i] = first ? s : y[t * ldy + i] + s;
        }
}

TGT5 AI void micro_rows(int R, const float *tile, int64_t kc, const float *x, int64_t ldx,
                        int64_t nt, float *y, int64_t ldy, int first) {
    int64_t t = 0;
    for (; t + 6 <= nt; t += 6) micro(R, 6, tile, kc, x + t * ldx, ldx, y + t * ldy, ldy, first);
    x += t * ldx;
    y += t * ldy;
    switch (nt - t) {
    case 5: micro(R, 5, tile, kc, x, ldx, y, ldy, first); break;
    case 4: micro(R, 4, tile, kc, x, ldx, y, ldy, first); break;
    case 3: micro(R, 3, tile, kc, x, ldx, y, ldy, first); break;
    case 2: micro(R, 2, tile, kc, x, ldx, y, ldy, first); break;
    case 1: micro(R, 1, tile, kc, x, ldx, y, ldy, first); break;
    default: break;
    }
}

TGT5 static void mm_tiled(const inf__weight *w, const float *x, int64_t ldx, int64_t n,
                          float *y, int64_t ldy, int64_t r0, int64_t r1) {
    float tile[4 * KC] __attribute__((aligned(64)));
    const int64_t cols = w->cols;
    for (int64_t t0 = 0; t0 < n; t0 += TB) {
        const int64_t nt = n - t0 < TB ? n - t0 : TB;
        for (int64_t k0 = 0; k0 < cols; k0 += KC) {
            const int64_t kc = cols - k0 < KC ? cols - k0 : KC;
            const float *xb = x + t0 * ldx + k0;
            float *yb = y + t0 * ldy;
            int64_t r = r0;
            for (; r + 4 <= r1; r += 4) {
                inf__cpu_avx2_dequant_tile(w, r, 4, k0, kc, tile);
                micro_rows(4, tile, kc, xb, ldx, nt, yb + r, ldy, k0 == 0);
            }
            for (; r < r1; r++) {
                inf__cpu_avx2_dequant_tile(w, r, 1, k0, kc, tile);
                micro_rows(1, tile, kc, xb, ldx, nt, yb + r, ldy, k0 == 0);
            }
        }
    }
}

static void avx512_matmul_rows(const inf__weight *w, const float *x, int64_t ldx,
                               int64_t n, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    /* One token, or a layout the tile dequantiser does not take: avx2. */
    const int tiled = w->fmt == INF__W_F32 || w->fmt == INF__W_F16 || w->fmt == INF__W_BF16 ||
                      ((w->fmt == INF__W_MLX4 || w->fmt == INF__W_MLX8) && w->group > 0 &&
                       w->group % 8 == 0 && w->cols % w->group == 0);
    const int dense = w->fmt == INF__W_F32 || w->fmt == INF__W_F16 || w->fmt == INF__W_BF16;
    const int mlx_few = !dense && n <= INF__CPU_MLX_FEW_MAX;
    if (n == 1 || (n <= 4 && dense) || mlx_few || !tiled)
        avx2->matmul_rows(w, x, ldx, n, y, ldy, r0, r1);
    else mm_tiled(w, x, ldx, n, y, ldy, r0, r1);
}

static inf__cpu_kernels avx512_set;
static int avx512_ok;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void make_set(void) {
    avx2 = inf__cpu_kernels_avx2();
    if (!avx2 || !inf__cpu_cpu_has_avx512()) return;
    avx512_set = *avx2;
    avx512_set.name = "avx512";
    avx512_set.matmul_rows = avx512_matmul_rows;
    avx512_ok = 1;
}

const inf__cpu_kernels *inf__cpu_kernels_avx512(void) {
    pthread_once(&once, make_set);
    return avx512_ok ? &avx512_set : NULL;
}

#else

const inf__cpu_kernels *inf__cpu_kernels_avx512(void) { return NULL; }

#endif
