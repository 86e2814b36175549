/*
 * Matrix kernels of the cpu backend, in interchangeable sets:
 *  - reference: portable C, f32 math, f32 accumulation in index order (the
 *    exact path the golden tests check);
 *  - avx2, avx512 (exact): compiled with per-function target attributes
 *    and chosen at run time (kernels_select.c), so one binary runs on any
 *    x86-64;
 *  - the "fast" precision's sets (inf__cpu_kernels_fast): the fastest exact
 *    set with rounded activations where the processor has the instructions
 *    for it (int8 x VNNI for quantised weights, bf16 for BF16 weights).
 * All take weights in their stored format (inf__weight) and dequantise
 * inside the dot products; nothing is expanded to f32 in memory beyond one
 * row of scratch.
 */
#ifndef INF_BACKENDS_CPU_KERNELS_H
#define INF_BACKENDS_CPU_KERNELS_H

#include <stdint.h>
#include <string.h>

#include "model/model.h"

/* Activations rounded to int8 per block of 32 (the "fast" precision;
 * kernels_int8.h).  The caller owns the arrays. */
typedef struct inf__cpu_xq {
    int64_t n, cols, ld; /* rows (tokens), values per row, bytes between rows of q */
    int8_t *q;           /* [n, ld]: round(x / dx), in [-127, 127] */
    float *d;            /* [n, cols/32]: dx = max|x| / 127 of each block (0: all zero) */
    float *s;            /* [n, cols/32]: the exact f32 sum of each block of x */
} inf__cpu_xq;

typedef struct inf__cpu_kernels {
    const char *name; /* "reference", "avx2", "avx512"; fast: "avx512-fast",
                         "avx2-fast", "reference-fast" */
    /* y[t*ldy + r] = sum_k W[r,k] * x[t*ldx + k]  for t in [0,n), r in
     * [r0,r1).  W is w [rows, cols]; x [n, ldx>=cols]; y [n, ldy>=r1].
     * Each output is computed by one call in a fixed order, so splitting
     * the rows over threads does not change the result. */
    void (*matmul_rows)(const inf__weight *w, const float *x, int64_t ldx,
                        int64_t n, float *y, int64_t ldy, int64_t r0,
                        int64_t r1);
    /* Returns sum a[i]*b[i] over n. */
    float (*dot)(const float *a, const float *b, int64_t n);
    /* y[i] += a * x[i] over n. */
    void (*axpy)(float a, const float *x, float *y, int64_t n);
    /* Attention scores of nq query heads against m keys (the heads of one
     * GQA group share the keys): s[h*lds + j] = scale * q_h . k_j, with
     * q_h = q + h*hd, k_j = k + j*ldk, each of length hd. */
    void (*attn_scores)(const float *q, int nq, const float *k, int64_t ldk,
                        int64_t m, int64_t hd, float scale, float *s,
                        int64_t lds);
    /* o_h[hd] = sum_j p[h*ldp + j] * v_j over m values, v_j = v + j*ldv,
     * o_h = o + h*hd, for nq heads; add != 0: o_h += that sum instead,
     * the sum formed from 0 as for add == 0 and then added (attention over
     * several blocks of the cache adds each block's sums in order, without
     * a second buffer and a pass over it). */
    void (*attn_values)(const float *p, int64_t ldp, int nq, const float *v,
                        int64_t ldv, int64_t m, int64_t hd, float *o, int add);
    /* In place: s[j] = exp(s[j] - max) / sum over m (m >= 1). */
    void (*softmax)(float *s, int64_t m);
    /* The "fast" precision's integer products (kernels_int8.h); NULL in the
     * exact sets.  q8_takes: 1 when matmul_q8 handles w at n tokens (else
     * the caller uses matmul_rows).  matmul_q8: as matmul_rows for the
     * xq->n rows of x rounded by inf__cpu_q8_quantize; each output is
     * computed by one call in a fixed order. */
    int (*q8_takes)(const inf__weight *w, int64_t n);
    /* Rounds x rows [t0, t1) into xq (as inf__cpu_q8_quantize; NULL where
     * q8_takes is). */
    void (*q8_quantize)(const float *x, int64_t ldx, int64_t t0, int64_t t1,
                        inf__cpu_xq *xq);
    void (*matmul_q8)(const inf__weight *w, const inf__cpu_xq *xq, float *y, int64_t ldy,
                      int64_t r0, int64_t r1);
    /* The f16 KV cache (precision fast; cpu_ctx.h).  Every set has these,
     * exact ones included: the pool's element type, not the kernel set,
     * decides which attention kernels run (INF_CPU_REFERENCE=1 under fast
     * runs the reference set over an f16 pool).
     * kv_round: y[i] = x[i] rounded to IEEE half precision, to nearest
     * even (overflow to +-inf, NaN stays NaN), bit for bit as F16C's
     * vcvtps2ph with _MM_FROUND_TO_NEAREST_INT does.
     * attn_scores_f16 / attn_values_f16: attn_scores / attn_values with
     * the keys / values stored as f16 (k, v, ldk, ldv in elements); each
     * element is widened to f32 in registers and the sums are formed as in
     * the f32 kernels of the same set, so on f16-representable inputs the
     * two agree up to accumulation order (bit for bit where the set's code
     * paths are the same). */
    void (*kv_round)(const float *x, uint16_t *y, int64_t n);
    void (*attn_scores_f16)(const float *q, int nq, const uint16_t *k, int64_t ldk,
                            int64_t m, int64_t hd, float scale, float *s, int64_t lds);
    void (*attn_values_f16)(const float *p, int64_t ldp, int nq, const uint16_t *v,
                            int64_t ldv, int64_t m, int64_t hd, float *o, int add);
    /* A layout of the set's own, made once at init (NULL in the sets
     * without one; cpu_backend.c: pack_weights).  pack_bytes(w): the bytes
     * of w repacked, 0 when the set reads w as stored.  pack: writes rows
     * [r0, r1) of w's repacked form (r0 a multiple of pack_rows, r1 too or
     * w->rows) into dst, the start of a pack_bytes(w) region aligned to 64
     * bytes, and describes the whole repacked matrix in *out (the same
     * for every call: out->data = dst).  Only this set's kernels read
     * the result: matmul_rows a BF16_R32 matrix (q8_takes returns 0 for
     * it), matmul_q8 the 16-row interleaved ones (model.h: *_R16;
     * q8_takes returns 1 at every n). */
    int64_t (*pack_bytes)(const inf__weight *w);
    void (*pack)(const inf__weight *w, int64_t r0, int64_t r1, void *dst, inf__weight *out);
    int64_t pack_rows;
    /* g[i] = act(g[i]) * u[i] over n (ops.h: inf__cpu_act_mul), in a set's
     * own way; NULL: inf__cpu_act_mul itself (libm's expf and tanhf, the
     * exact sets).  Precision fast's SiLU (AVX-512 and AVX2, the same
     * floats) rounds a double-precision exp: libm's result but in very
     * rare cases. */
    void (*act_mul)(inf__act act, float *g, const float *u, int64_t n);
    /* Precision fast's BF16 products with x converted to bf16 pairs once
     * per matmul for all its row chunks (as q8_quantize does for the
     * integer forms; NULL in the sets without).  xb_takes(w, n): nonzero
     * when matmul_xb takes w at n tokens.  xb_convert: rows [t0, t1) of x
     * (cols columns) into xb, a buffer of xb_plane(rows, cols) dwords for
     * at most rows tokens (the layout is the set's own); matmul_xb: as
     * matmul_rows with x given by xb (converted for n tokens, rows its
     * capacity), the same results bit for bit. */
    int (*xb_takes)(const inf__weight *w, int64_t n);
    int64_t (*xb_plane)(int64_t rows, int64_t cols);
    void (*xb_convert)(const float *x, int64_t ldx, int64_t t0, int64_t t1, int64_t cols,
                       uint32_t *xb, int64_t rows);
    void (*matmul_xb)(const inf__weight *w, const uint32_t *xb, int64_t rows, int64_t n, float *y,
                      int64_t ldy, int64_t r0, int64_t r1);
} inf__cpu_kernels;


/* The portable reference set (always present; kernels_ref.c). */
extern const inf__cpu_kernels inf__cpu_kernels_ref;
/* The reference set plus the portable integer matmul (kernels_int8.c): the
 * "fast" precision where no vector set is available, and the one the
 * tests compare the vector sets' integer kernels with. */
extern const inf__cpu_kernels inf__cpu_kernels_ref_fast;

/* Kernel selection (kernels_select.c): the processor's features are read
 * once (cpuid); each getter returns its set, or NULL where the processor,
 * the OS or the compiler target lacks what the set needs. */

/* The AVX2+FMA+F16C set (kernels_avx2.c). */
const inf__cpu_kernels *inf__cpu_kernels_avx2(void);

/* The AVX-512 set (kernels_avx512.c: 512-bit register tiles for several
 * tokens; decode as avx2); needs AVX-512 F/BW/VL besides the avx2 set's. */
const inf__cpu_kernels *inf__cpu_kernels_avx512(void);

/* The set to use, by name: "reference", "avx2", "avx512", or NULL / "" for
 * the fastest exact set this processor supports.  An unavailable or
 * unknown name falls back to the fastest available at or below it. Never
 * NULL. */
const inf__cpu_kernels *inf__cpu_kernels_select(const char *name);

/* The exact set a context uses according to the environment, read on each
 * call: INF_CPU_REFERENCE set and not "0" forces "reference", else
 * INF_CPU_KERNELS names one (inf__cpu_kernels_select). Never NULL. */
const inf__cpu_kernels *inf__cpu_kernels_from_env(void);

/* The "fast" precision's set (never NULL):
 *  - "avx512-fast" (AVX-512 F/BW/VL + VNNI): the avx512 set with int8
 *    activations and VNNI dot products for every weight with the integer
 *    form of kernels_int8.h (any token count; MLX8 with groups of 32..512
 *    in powers of two included), one-token MLX4 (and other MLX8) as
 *    "avx2-fast", and bf16 activations for BF16 weights at 5+ tokens: on
 *    the AMX tile unit where the processor and the OS allow it
 *    (kernels_amx.c), else with AVX512_BF16 on a non-Intel processor
 *    (kernels_bf16.c; see kernels_select.c);
 *  - "avx2-fast" (AVX2 without AVX512-VNNI): the fastest exact set except
 *    one-token MLX4/MLX8 with int8 activations (kernels_q8.c);
 *  - "reference-fast" (other processors): the reference set with the
 *    portable integer matmul (inf__cpu_q8_matmul_ref).
 * INF_CPU_REFERENCE=1 still forces the exact reference set (cpu_backend.c). */
const inf__cpu_kernels *inf__cpu_kernels_fast(void);
/* Which layer of inf__cpu_kernels_fast rounds BF16 prefill to bf16:
 * "amx", "avx512bf16", or NULL (the exact kernels: no rounding). */
const char *inf__cpu_kernels_fast_bf16(void);

/* x86 internals shared by the avx2 and avx512 sets. */
#define INF__CPU_KC 512 /* columns per dequantised weight tile */
/* Up to this many tokens, MLX matrices (group a multiple of 8) take the avx2
 * few-token kernel (weights unpacked once in registers for all tokens, no
 * tile); the avx512 set routes them there too.  Measured on the shared
 * 2-core machine: clearly faster at 2-4 tokens (cols 3072/4096), about
 * even at 6-8 tokens and slower than the tile for MLX4 at 1024 columns, so
 * 4.  (A compile definition may override it: 0 measures the tile path, 8
 * the kernel's 3+2 .. 4+4 token chunks.) */
#ifndef INF__CPU_MLX_FEW_MAX
#define INF__CPU_MLX_FEW_MAX 4
#endif
/* Rows [r, r+nr) x columns [k0, k0+kc) of w as f32 into tile[nr][INF__CPU_KC]
 * (64-byte aligned); returns 0 (nothing written) for an unsupported layout. */
int inf__cpu_avx2_dequant_tile(const inf__weight *w, int64_t r, int nr, int64_t k0,
                               int64_t kc, float *tile);

/* Writes row r of w, dequantised, to out[w->cols] (f32). Used for the
 * embedding lookup (only the looked-up rows of a quantised table are
 * expanded) and by the reference matmul. */
void inf__cpu_dequant_row(const inf__weight *w, int64_t r, float *out);
/* Columns [k0, k0+nk) of row r of w, dequantised, to out[nk]. */
void inf__cpu_dequant_range(const inf__weight *w, int64_t r, int64_t k0,
                            int64_t nk, float *out);

/* Element i of a stored vector as f32 (0 when v is NONE). */
float inf__cpu_vec_get(const inf__vec *v, int64_t i);

/* Scalar conversions of half-precision bit patterns. */
static inline float inf__bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
float inf__f16_to_f32(uint16_t h);
/* f32 -> IEEE half, round to nearest even, NaN payload as F16C (the
 * reference kv_round). */
uint16_t inf__cpu_f32_to_f16(float f);

/* One scale/bias entry (F16, BF16 or F32 storage) as f32. */
static inline float inf__cpu_sb_get(const void *p, inf__dtype dt, int64_t i) {
    if (dt == INF__DT_F32) return ((const float *)p)[i];
    if (dt == INF__DT_BF16) return inf__bf16_to_f32(((const uint16_t *)p)[i]);
    return inf__f16_to_f32(((const uint16_t *)p)[i]);
}

#endif
