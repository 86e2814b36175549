/*
 * Precision fast's AMX layer: the set beneath, except that BF16 weights
 * times 5 or more tokens (prefill, batched decode) round the activations x
 * to bfloat16 and multiply on Intel's AMX tile unit (TDPBF16PS: a 16 x 16
 * f32 tile += 16 x 32 bf16 times 32 x 16 bf16, 8,192 products per
 * instruction).  The weights are used exactly as stored; only x loses
 * precision (relative 2^-9 per value), as in kernels_bf16.c, so this layer
 * is NOT exact: part of precision fast only (kernels_select.c, which also
 * asks Linux for the tile state: see inf__cpu_amx_usable there).
 *
 * Why this shape: y[t, r] = sum_k W[r, k] x[t, k].  The weights are the A
 * operand (16 rows x 32 bf16 per tile row), read straight from the matrix
 * with the row stride, so they are never packed or transposed; x is the B
 * operand, which AMX wants as pairs: B row kp holds, for 16 tokens, the
 * dword (x[t, 2kp], x[t, 2kp+1]).  x is converted to that layout once per
 * call (a few KB per token).  Each step of 32 columns loads two weight
 * tiles (32 rows) and two x tiles (32 tokens) and issues four TDPBF16PS
 * into four accumulator tiles: every tile loaded is used twice, the most
 * the 8 tile registers allow.  The accumulators cover the whole row, so
 * each 32 x 32 block of y is written once, transposed through a small
 * buffer (the C tiles are rows x tokens, y is tokens x rows).
 *
 * Loop order: a block of tokens whose converted x fits in L2 (about 1 MiB)
 * outside, then panels of 32 weight rows, then 32 tokens at a time: a
 * panel (32 rows x cols bf16, 64-192 KB) stays in L2 while every token of
 * the block passes over it, and the weights come from memory once per
 * token block.
 *
 * Tile state is per thread: each call loads the tile configuration and
 * releases the tiles before it returns (the kernel's context switches then
 * skip the 8 KB of tile data).
 */
#include "backends/cpu/kernels.h"
#include "backends/cpu/kernels_x86.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#define TGTA __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma,f16c")))

#define TILE 16                  /* rows and tokens per tile */
#define XB_BYTES (1024 * 1024)   /* converted x per token block */

static const inf__cpu_kernels *base; /* the set beneath (inf__cpu_amx_build) */

/* The 64-byte tile configuration (palette 1): tiles 0-7 all 16 rows x 64
 * bytes (16 f32, or 32 bf16, or 16 bf16 pairs). */
typedef struct tilecfg {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tilecfg;

/* Tokens [0, nt) (nt <= tb, tb % 16 == 0) of x, columns [0, cols) (cols %
 * 32 == 0) as bf16 pairs: xp[((g * cols/2) + kp) * 16 + j] = token 16g+j's
 * columns 2kp, 2kp+1 (round to nearest even); tokens past nt are 0. */
TGTA static void convert_x(const float *x, int64_t ldx, int64_t nt, int64_t tb, int64_t cols, uint32_t *xp) {
    const int64_t np = cols / 2;
    for (int64_t t = 0; t < tb; t++) {
        uint32_t *col = xp + (t / TILE) * np * TILE + t % TILE;
        if (t >= nt) {
            for (int64_t kp = 0; kp < np; kp++) col[kp * TILE] = 0;
            continue;
        }
        const float *xr = x + t * ldx;
        for (int64_t k = 0; k < cols; k += 32) {
            uint32_t pairs[16] __attribute__((aligned(64)));
            const __m512bh p = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(xr + k + 16), _mm512_loadu_ps(xr + k));
            _mm512_store_si512(pairs, (__m512i)p);
            for (int j = 0; j < 16; j++) col[(k / 2 + j) * TILE] = pairs[j];
        }
    }
}

/* 32 weight rows starting at a (row stride lda bytes) times 32 tokens
 * (xp0: tokens 0-15, xp1: 16-31) or, with two == 0, 16 tokens (xp0 only;
 * the last odd tile of a block) over all np column pairs: c[2*(i/16) +
 * t/16][(i%16)*16 + t%16] = row i . token t.  Always inlined with a
 * constant two (the tile numbers must be constants). */
static inline __attribute__((always_inline)) TGTA void block(int two, const uint16_t *a, int64_t lda,
                                                             const uint32_t *xp0, const uint32_t *xp1, int64_t np,
                                                             float c[4][TILE * TILE]) {
    _tile_zero(0);
    _tile_zero(2);
    if (two) {
        _tile_zero(1);
        _tile_zero(3);
    }
    const char *a0 = (const char *)a, *a1 = (const char *)a + TILE * lda;
    for (int64_t kp = 0; kp < np; kp += TILE) {
        _tile_loadd(4, a0 + kp * 4, lda);
        _tile_loadd(5, a1 + kp * 4, lda);
        _tile_loadd(6, xp0 + kp * TILE, 64);
        _tile_dpbf16ps(0, 4, 6); /* rows 0-15, tokens 0-15 */
        _tile_dpbf16ps(2, 5, 6); /* rows 16-31, tokens 0-15 */
        if (two) {
            _tile_loadd(7, xp1 + kp * TILE, 64);
            _tile_dpbf16ps(1, 4, 7); /* rows 0-15, tokens 16-31 */
            _tile_dpbf16ps(3, 5, 7); /* rows 16-31, tokens 16-31 */
        }
    }
    _tile_stored(0, c[0], 64);
    _tile_stored(2, c[2], 64);
    if (two) {
        _tile_stored(1, c[1], 64);
        _tile_stored(3, c[3], 64);
    }
}

/* y[t*ldy + r+i] = c's (row i, token t) for i < nr, t < nt (c as block
 * leaves it). */
TGTA static void store_block(const float c[4][TILE * TILE], int nr, int nt, float *y, int64_t ldy) {
    for (int t = 0; t < nt; t++) {
        float *yt = y + t * ldy;
        for (int i = 0; i < nr; i++) yt[i] = c[2 * (i / TILE) + t / TILE][(i % TILE) * TILE + t % TILE];
    }
}

/* Rows [r0, r1) x n tokens.  Returns 0 (nothing done) when the scratch
 * cannot be allocated. */
TGTA static int amx_bf16(const inf__weight *w, const float *x, int64_t ldx, int64_t n, float *y, int64_t ldy,
                         int64_t r0, int64_t r1) {
    const int64_t cols = w->cols, np = cols / 2;
    /* tokens per block: converted x within XB_BYTES, whole pairs of tiles */
    int64_t tb = XB_BYTES / (cols * 2) / (2 * TILE) * (2 * TILE);
    if (tb < 2 * TILE) tb = 2 * TILE;
    const int64_t nblk = (n + tb - 1) / tb;
    tb = ((n + nblk - 1) / nblk + 2 * TILE - 1) / (2 * TILE) * (2 * TILE); /* even blocks */
    uint32_t *xp = aligned_alloc(64, (size_t)(tb * np) * 4);
    uint16_t *tail = NULL; /* the last < 32 rows, zero-padded to 32 */
    if ((r1 - r0) % 32) tail = aligned_alloc(64, (size_t)(32 * cols) * 2);
    if (!xp || ((r1 - r0) % 32 && !tail)) {
        free(xp);
        free(tail);
        return 0;
    }
    tilecfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int i = 0; i < 8; i++) {
        cfg.colsb[i] = 64;
        cfg.rows[i] = TILE;
    }
    _tile_loadconfig(&cfg);
    float c[4][TILE * TILE] __attribute__((aligned(64)));
    const uint16_t *data = w->data;
    for (int64_t t0 = 0; t0 < n; t0 += tb) {
        const int64_t nt = n - t0 < tb ? n - t0 : tb, ntp = (nt + TILE - 1) / TILE * TILE;
        convert_x(x + t0 * ldx, ldx, nt, ntp, cols, xp);
        for (int64_t r = r0; r < r1; r += 32) {
            const int nr = r1 - r < 32 ? (int)(r1 - r) : 32;
            const uint16_t *a = data + r * cols;
            if (nr < 32) { /* rows past r1 may be past the matrix: a padded copy */
                memcpy(tail, a, (size_t)(nr * cols) * 2);
                memset(tail + nr * cols, 0, (size_t)((32 - nr) * cols) * 2);
                a = tail;
            }
            for (int64_t t = 0; t < ntp; t += 2 * TILE) {
                const uint32_t *xp0 = xp + (t / TILE) * np * TILE;
                if (ntp - t >= 2 * TILE) block(1, a, cols * 2, xp0, xp0 + np * TILE, np, c);
                else block(0, a, cols * 2, xp0, NULL, np, c);
                const int nn = nt - t < 2 * TILE ? (int)(nt - t) : 2 * TILE;
                store_block((const float(*)[TILE * TILE])c, nr, nn, y + (t0 + t) * ldy + r, ldy);
            }
        }
    }
    _tile_release();
    free(xp);
    free(tail);
    return 1;
}

static void amx_matmul_rows(const inf__weight *w, const float *x, int64_t ldx, int64_t n, float *y,
                            int64_t ldy, int64_t r0, int64_t r1) {
    if (w->fmt == INF__W_BF16 && n > 4 && w->cols % 32 == 0 && r1 > r0 &&
        amx_bf16(w, x, ldx, n, y, ldy, r0, r1))
        return;
    base->matmul_rows(w, x, ldx, n, y, ldy, r0, r1);
}

static inf__cpu_kernels amx_set;

const inf__cpu_kernels *inf__cpu_amx_build(const inf__cpu_kernels *under) {
    base = under;
    amx_set = *under;
    amx_set.name = "avx512-fast";
    amx_set.matmul_rows = amx_matmul_rows;
    /* the tile unit reads BF16 as stored: no repacked copy for the layer
     * beneath to make (it would take BF16 prefill from the tiles) */
    amx_set.pack_bytes = NULL;
    amx_set.pack = NULL;
    amx_set.pack_rows = 0;
    /* nor the beneath layer's bf16-pair inputs (they feed its own kernel) */
    amx_set.xb_takes = NULL;
    amx_set.xb_plane = NULL;
    amx_set.xb_convert = NULL;
    amx_set.matmul_xb = NULL;
    return &amx_set;
}

#endif
