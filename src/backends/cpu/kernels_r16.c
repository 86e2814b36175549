/*
 * Rows interleaved 16 at a time (INF__W_Q4_0_R16, INF__W_Q4_K_R16,
 * INF__W_Q5_K_R16, INF__W_Q6_K_R16, INF__W_Q8_0_R16, INF__W_MLX8_R16,
 * INF__W_MLX4_R16, model.h): the layouts the avx512-fast set
 * (kernels_vnni.c) repacks Q4_0, Q4_K, Q5_K, Q6_K, Q8_0 and MLX8/MLX4
 * matrices into at load (kernels.h: pack; the packers: r16_pack.c), and
 * their AVX-512 VNNI kernels (AVX2's, Q4_0 only: kernels_q8_gg.c).
 *
 * Why.  As stored, a row is a run of blocks; the row kernels
 * (kernels_vnni.c: rows_q4) unpack a row's nibbles once into registers and
 * then spend, per token and 128 columns, two vpdpbusd, a conversion, a
 * scale permutation and an FMA, plus a horizontal sum per row at the end.
 * So 4 tokens cost 3x one (bench_ggml -f Q4_0 -m 1, 2048x1024, CPU time:
 * 40 us for 1 token, 123 us for 4; Q4_K 42 and 232): the 4-stream batch
 * and short prompts pay for it, and at 1 token the unpack and the sums
 * keep the kernel below the memory's speed.  Interleaved, one 64-byte load
 * holds four columns of 16 rows (dword i: row i); a token's four int8 are
 * broadcast to every lane, so one vpdpbusd advances 16 rows by 4 columns
 * and the 16 sums come out in y's order, with no horizontal sum; the 16
 * rows' scales are one vector.  Per 16 rows x 32 columns: 4 loads (Q4_K:
 * 8, each half of a sub-block pair's bytes), 8 ands and shifts shared by
 * the tokens; per token 8 vpdpbusd (x broadcast from memory), one
 * conversion and 3 float operations.  Measured, the same matrices: 1
 * token 23 us (Q4_0) and 24 us (Q4_K), 4 tokens 41 and 42 us, 16 tokens
 * 182 and 156 us (Q4_0 through the token-lane kernel: 294).
 * (ik_llama.cpp's Q4_0_R8 and Q4_K_R4 repack for the same reason.)
 *
 * Q4_0 keeps its bytes: a block's nibble byte 4k+j of row i goes to byte
 * 4i+j of the block's part k, its scale to index i of the block's 16
 * scales, 18 bytes per row and block.  Q4_K's 6-bit scales and minimums
 * are unpacked to bytes (2.8% more than its 144 per 256 columns) so that
 * a sub-block's 16 rows of them are two vector loads.  Q6_K keeps its
 * bytes: its 6-bit values are put together in registers from a part of
 * low nibbles and a part of high bit pairs (4 operations per 64 bytes),
 * and each 16 columns' sum starts from -32 times their xq's sum, so that
 * it is sum (q - 32) xq exactly, as rows_q6k does.  Measured as above:
 * 1 token 41 us (as stored 73), 4 tokens 67 (190), 16 tokens 327 (589).
 * Q8_0 keeps its bytes too, each value stored plus 128 (the u8 side of
 * vpdpbusd, as the stored kernels flip it when they load it): no unpacking
 * at all.  From memory (64 copies): 1 token 71 us (85), 4 tokens 78
 * (239), 16 tokens 192 (246).  MLX8 and MLX4 (groups of 32 to 512 in
 * powers of two) take the same kernels, their values in Q8_0's and Q4_0's
 * places (MLX4's nibbles reordered to Q4_0's), a group's 16 scales and 16
 * biases (as stored: f16, bf16 or f32) before the values: in cache, 4
 * tokens 52-54 us (Q8_0 54-62) and 44-46 (Q4_0 43-52).  As stored, an MLX
 * row's scales and biases lay in two arrays apart from its values, three
 * streams where a Q8_0 row is one.  Q5_K is Q4_K's layout with its fifth
 * bits (Q5_K's qh) after each super-block's nibbles, in 8 parts of 64
 * bytes as the nibbles; a sub-block's values are its nibbles plus 16
 * where its bit is set (a vptestmb and a masked add per 64 bytes).  As
 * stored, Q5_K went through the per-row decode to u8: 1 token 205 us
 * against 34 interleaved, 4 tokens 334 / 54, 16 tokens 336 / 182 (Q4_K:
 * 26, 44, 155).  Q3_K (scales per 16 columns, w = d sc (q - 4)) takes
 * Q6_K's path: its scales unpacked to int8 where Q6_K's are, its 3-bit
 * values put together from a part of 2-bit fields (Q6_K's bit pairs'
 * order) and one of hmask bits, its sums started from -4 sum(xq).
 * Q3_K had no integer kernel at all (the exact f32 one, 773 us at 1
 * token); interleaved: 1 token 28 us, 4 tokens 54.  Q2_K (scales and
 * minimums per 16 columns, 4 bits each) keeps its bytes; its 2-bit values
 * are Q3_K's fields without the hmask, its minimums' share is dmin mn
 * times dx sum(xq) of the 16 columns, two FMAs per token and block.  Q2_K
 * too had only the exact f32 kernel (1005 us at 1 token); interleaved 38.
 * Prefill's panels take it as Q6_K's with a minimum per 16 columns.
 */
#include "backends/cpu/kernels.h"
#include "backends/cpu/kernels_x86.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/ggml_blocks.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target( \
    "avx512f,avx512bw,avx512vl,avx512vnni,avx512dq,avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512vnni,avx512dq,avx2,fma,f16c")
#endif

#define AI static inline __attribute__((always_inline))
#define R16_T 8 /* most tokens per pass over a group's blocks (r16_rows) */

#include "backends/cpu/r16_layout.h"

typedef inf__cpu_r16_off r16_off; /* kernels_x86.h: inf__cpu_r16_offsets */
#define group_bytes inf__r16_group_bytes

/* Q6_K block b (32 columns: half n = b/4 % 2, quarter q = b % 4 of its
 * super-block's values) of 16 rows as u8 0..63: W[k] = columns 4k .. 4k+3.
 * ql part (q & 1 ? 8 : 0) + k holds their low 4 bits (low nibbles for
 * q < 2, high ones for q >= 2), qh part k their high 2 (bits 2q, 2q+1). */
AI void q6_w(const uint8_t *half, int q, __m512i W[8]) {
    const __m512i m4 = _mm512_set1_epi8(15), m2 = _mm512_set1_epi8(3);
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++) {
        const __m512i a = _mm512_loadu_si512((const void *)(half + 64 * ((q & 1) * 8 + k)));
        const __m512i h = _mm512_loadu_si512((const void *)(half + 1024 + 64 * k));
        const __m512i lo = _mm512_and_si512(q >= 2 ? _mm512_srli_epi16(a, 4) : a, m4);
        const __m512i hi = _mm512_and_si512(q ? _mm512_srli_epi16(h, (unsigned)(2 * q)) : h, m2);
        W[k] = _mm512_or_si512(lo, _mm512_slli_epi16(hi, 4));
    }
}

/* Q3_K block b (32 columns: half n = b/4 % 2, quarter q = b % 4 of its
 * super-block's values, vals at its values) of 16 rows as u8 0..7:
 * W[k] = columns 4k .. 4k+3, qs part 8n + k's bits 2q, 2q+1 plus 4 where
 * hmask part k's bit 4n + q is set. */
AI void q3_w(const uint8_t *vals, int n, int q, __m512i W[8]) {
    const __m512i m3 = _mm512_set1_epi8(3), four = _mm512_set1_epi8(4), bit = _mm512_set1_epi8((char)(1 << (4 * n + q)));
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++) {
        const __m512i a = _mm512_loadu_si512((const void *)(vals + 512 * n + 64 * k));
        const __m512i lo = _mm512_and_si512(q ? _mm512_srli_epi16(a, (unsigned)(2 * q)) : a, m3);
        const __mmask64 hm = _mm512_test_epi8_mask(_mm512_loadu_si512((const void *)(vals + 1024 + 64 * k)), bit);
        W[k] = _mm512_mask_add_epi8(lo, hm, lo, four);
    }
}

/* Q2_K block b (half n = b/4 % 2, quarter q = b % 4 of its super-block;
 * vals at its values) of 16 rows as u8 0..3: W[k] = columns 4k .. 4k+3. */
AI void q2_w(const uint8_t *vals, int n, int q, __m512i W[8]) {
    const __m512i m3 = _mm512_set1_epi8(3);
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++) {
        const __m512i a = _mm512_loadu_si512((const void *)(vals + 512 * n + 64 * k));
        W[k] = _mm512_and_si512(q ? _mm512_srli_epi16(a, (unsigned)(2 * q)) : a, m3);
    }
}

/* Q2_K block b's two halves' scales d sc and minimums dmin mn for 16
 * rows (d, dmin: its super-block's). */
AI void q2_scales(const uint8_t *grp, int64_t nsb, int64_t b, __m512 d, __m512 dmin, __m512 *dlo, __m512 *dhi,
                  __m512 *mlo, __m512 *mhi) {
    const __m256i sm = _mm256_loadu_si256((const __m256i *)(grp + Q2SC(nsb) + 256 * (b / 8) + 32 * (b % 8)));
    const __m512i lo = _mm512_cvtepu8_epi32(_mm256_castsi256_si128(sm));
    const __m512i hi = _mm512_cvtepu8_epi32(_mm256_extracti128_si256(sm, 1));
    const __m512i m4 = _mm512_set1_epi32(15);
    *dlo = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_and_si512(lo, m4)));
    *dhi = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_and_si512(hi, m4)));
    *mlo = _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(_mm512_srli_epi32(lo, 4)));
    *mhi = _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(_mm512_srli_epi32(hi, 4)));
}

/* Q6_K block b's two scales (d sc of its 16-column halves) for 16 rows
 * (Q3_K's too: the same layout). */
AI void q6_scales(const uint8_t *grp, int64_t nsb, int64_t b, __m512 *dlo, __m512 *dhi) {
    const int64_t s = b / 8;
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(grp + 32 * s)));
    const __m256i sc = _mm256_loadu_si256((const __m256i *)(grp + Q6SC(nsb) + 256 * s + 32 * (b % 8)));
    *dlo = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(sc))));
    *dhi = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(sc, 1))));
}

/* Sub-block j (0..7) of a Q4_K or Q5_K (five) super-block sb of 16 rows as
 * u8: W[k] = columns 4k .. 4k+3, the nibbles (low ones for even j, high
 * for odd) plus, for Q5_K, 16 where bit j of the fifth bits is set. */
AI void k_w(int five, const uint8_t *sb, int j, __m512i W[8]) {
    const __m512i m4 = _mm512_set1_epi8(15), sixteen = _mm512_set1_epi8(16), bit = _mm512_set1_epi8((char)(1 << j));
    const uint8_t *q = sb + KQ + 512 * (j / 2);
    const unsigned sh = 4u * (unsigned)(j & 1);
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++) {
        W[k] = _mm512_and_si512(_mm512_srli_epi16(_mm512_loadu_si512((const void *)(q + 64 * k)), sh), m4);
        if (five) {
            const __mmask64 hm = _mm512_test_epi8_mask(_mm512_loadu_si512((const void *)(sb + KQH + 64 * k)), bit);
            W[k] = _mm512_mask_add_epi8(W[k], hm, W[k], sixteen);
        }
    }
}

/* The 16 rows' d (f32 of the f16) and -dmin of Q4_K super-block sb. */
AI void k_super(const uint8_t *sb, __m512 *d, __m512 *ndmin) {
    *d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)sb));
    *ndmin = _mm512_sub_ps(_mm512_setzero_ps(), _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(sb + 32))));
}

/* Sub-block j's scales d sc and offsets c = -dmin mn (ggml's products;
 * -dmin mn is -(dmin mn) exactly) from k_super's d and ndmin. */
AI void k_scales(const uint8_t *sb, int j, __m512 d, __m512 ndmin, __m512 *dv, __m512 *cv) {
    const __m256i scm = _mm256_loadu_si256((const __m256i *)(sb + KSC + 32 * j)); /* 16 scales, 16 minimums */
    *dv = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm256_castsi256_si128(scm))));
    *cv = _mm512_mul_ps(ndmin, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm256_extracti128_si256(scm, 1))));
}

/* 16 MLX scales or biases (dt) as f32. */
AI __m512 sb16v(const uint8_t *p, inf__dtype dt) {
    if (dt == INF__DT_F32) return _mm512_loadu_ps((const float *)p);
    const __m256i h = _mm256_loadu_si256((const __m256i *)p);
    if (dt == INF__DT_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* MLX: block b's group's scales and biases (16 rows) and its values. */
AI const uint8_t *mlx_sb(const inf__weight *w, const uint8_t *grp, int64_t b) {
    const int64_t sbs = w->sb_dtype == INF__DT_F32 ? 4 : 2;
    return grp + (b * 32 >> __builtin_ctzll((unsigned long long)w->group)) * 32 * sbs;
}
AI const uint8_t *mlx_v(const inf__weight *w, const uint8_t *grp) {
    return grp + (w->cols >> __builtin_ctzll((unsigned long long)w->group)) * 32 * (w->sb_dtype == INF__DT_F32 ? 4 : 2);
}

/* The plain layouts (Q4_0, Q8_0, MLX8, MLX4: values in 4 parts of nibbles
 * or 8 parts of bytes, no other per-block data): 1 for 8-bit ones; block
 * b's values; its 16 rows' scales d and offsets c (Q: f16 d, c = -8d or
 * -128d; MLX: the group's scales and biases). */
AI int plain_layout(const inf__weight *w) {
    return w->fmt == INF__W_Q4_0_R16 || w->fmt == INF__W_Q8_0_R16 || w->fmt == INF__W_MLX8_R16 || w->fmt == INF__W_MLX4_R16;
}
AI int plain_eight(const inf__weight *w) { return w->fmt == INF__W_Q8_0_R16 || w->fmt == INF__W_MLX8_R16; }
AI int plain_mlx(const inf__weight *w) { return w->fmt == INF__W_MLX8_R16 || w->fmt == INF__W_MLX4_R16; }
AI const uint8_t *plain_values(const inf__weight *w, const uint8_t *grp, int64_t b) {
    return (plain_mlx(w) ? mlx_v(w, grp) : grp + w->cols / 32 * 32) + b * (plain_eight(w) ? 512 : 256);
}
AI void plain_scales(const inf__weight *w, const uint8_t *grp, int64_t b, __m512 *dv, __m512 *cv) {
    if (plain_mlx(w)) {
        const uint8_t *sb = mlx_sb(w, grp, b);
        *dv = sb16v(sb, w->sb_dtype);
        *cv = sb16v(sb + 16 * (w->sb_dtype == INF__DT_F32 ? 4 : 2), w->sb_dtype);
        return;
    }
    *dv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(grp + 32 * b)));
    *cv = _mm512_mul_ps(*dv, _mm512_set1_ps(plain_eight(w) ? -128.0f : -8.0f));
}
/* A plain block's values as W[k] = columns 4k .. 4k+3 of its 16 rows. */
AI void plain_w(int eight, const uint8_t *q, __m512i W[8]) {
    const __m512i m4 = _mm512_set1_epi8(15);
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        const __m512i v = _mm512_loadu_si512((const void *)(q + 64 * k));
        W[k] = eight ? v : _mm512_and_si512(v, m4); /* columns 4k .. */
        W[k + 4] = eight ? _mm512_loadu_si512((const void *)(q + 256 + 64 * k)) /* 16+4k .. */
                         : _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
    }
}

void inf__cpu_r16_decode(const inf__weight *w, int64_t r, int64_t b0, int64_t nb, uint8_t *restrict u,
                         float *restrict d, float *restrict c) {
    const int64_t i = r % 16;
    const uint8_t *grp = (const uint8_t *)w->data + (r / 16) * group_bytes(w);
    const __m128i m4 = _mm_set1_epi8(15);
    for (int64_t b = 0; b < nb; b++) {
        const int64_t bb = b0 + b;
        if (plain_layout(w)) { /* the plain layouts */
            const uint8_t *p = plain_values(w, grp, bb) + 4 * i;
            if (plain_eight(w)) {
                for (int k = 0; k < 8; k++) memcpy(u + 32 * b + 4 * k, p + 64 * k, 4);
            } else {
                int32_t v[4];
                for (int k = 0; k < 4; k++) memcpy(&v[k], p + 64 * k, 4);
                const __m128i x = _mm_set_epi32(v[3], v[2], v[1], v[0]);
                _mm_store_si128((__m128i *)(u + 32 * b), _mm_and_si128(x, m4));
                _mm_store_si128((__m128i *)(u + 32 * b + 16), _mm_and_si128(_mm_srli_epi16(x, 4), m4));
            }
            __m512 dv, cv;
            plain_scales(w, grp, bb, &dv, &cv);
            float dl[16], cl[16];
            _mm512_storeu_ps(dl, dv);
            _mm512_storeu_ps(cl, cv);
            d[b] = dl[i];
            c[b] = cl[i];
            continue;
        }
        if (w->fmt == INF__W_Q2_K_R16) { /* u = q (0..3); d[2b], d[2b+1], c[2b], c[2b+1]: its halves' */
            const int64_t nsb = w->cols / 256;
            const uint8_t *vals = grp + Q2Q(nsb) + (bb / 8) * 1024 + 512 * ((bb / 4) % 2) + 4 * i;
            const int q = (int)(bb % 4);
            for (int k = 0; k < 8; k++)
                for (int l = 0; l < 4; l++) u[32 * b + 4 * k + l] = (uint8_t)((vals[64 * k + l] >> (2 * q)) & 3);
            const float dv = _cvtsh_ss(inf__cpu_ggml_u16(grp + 64 * (bb / 8) + 2 * i));
            const float mv = _cvtsh_ss(inf__cpu_ggml_u16(grp + 64 * (bb / 8) + 32 + 2 * i));
            const uint8_t *sm = grp + Q2SC(nsb) + 256 * (bb / 8) + 32 * (bb % 8) + i;
            d[2 * b] = dv * (float)(sm[0] & 15);
            d[2 * b + 1] = dv * (float)(sm[16] & 15);
            c[2 * b] = mv * (float)(sm[0] >> 4);
            c[2 * b + 1] = mv * (float)(sm[16] >> 4);
            continue;
        }
        if (w->fmt == INF__W_Q3_K_R16) { /* u = q (0..7); d[2b], d[2b+1]: its halves' scales */
            const int64_t nsb = w->cols / 256;
            const uint8_t *vals = grp + Q3Q(nsb) + (bb / 8) * 1536 + 4 * i;
            const int n = (int)((bb / 4) % 2), q = (int)(bb % 4);
            uint8_t *o = u + 32 * b;
            for (int k = 0; k < 8; k++)
                for (int l = 0; l < 4; l++)
                    o[4 * k + l] = (uint8_t)(((vals[512 * n + 64 * k + l] >> (2 * q)) & 3) |
                                             (((vals[1024 + 64 * k + l] >> (4 * n + q)) & 1) << 2));
            const float dv = _cvtsh_ss(inf__cpu_ggml_u16(grp + 32 * (bb / 8) + 2 * i));
            const int8_t *sc = (const int8_t *)grp + Q6SC(nsb) + 256 * (bb / 8) + 32 * (bb % 8) + i;
            d[2 * b] = dv * (float)sc[0];
            d[2 * b + 1] = dv * (float)sc[16];
            continue;
        }
        if (w->fmt == INF__W_Q6_K_R16) { /* u = q (0..63); d[2b], d[2b+1]: its halves' scales */
            const int64_t nsb = w->cols / 256;
            const uint8_t *half = grp + Q6Q(nsb) + (bb / 8) * 3072 + 1536 * ((bb / 4) % 2) + 4 * i;
            const int q = (int)(bb % 4);
            uint8_t *o = u + 32 * b;
            for (int k = 0; k < 8; k++)
                for (int l = 0; l < 4; l++) {
                    const uint8_t a = half[64 * ((q & 1) * 8 + k) + l], h = half[1024 + 64 * k + l];
                    o[4 * k + l] = (uint8_t)(((q >= 2 ? a >> 4 : a) & 15) | (((h >> (2 * q)) & 3) << 4));
                }
            const float dv = _cvtsh_ss(inf__cpu_ggml_u16(grp + 32 * (bb / 8) + 2 * i));
            const int8_t *sc = (const int8_t *)grp + Q6SC(nsb) + 256 * (bb / 8) + 32 * (bb % 8) + i;
            d[2 * b] = dv * (float)sc[0];
            d[2 * b + 1] = dv * (float)sc[16];
            (void)c;
            continue;
        }
        const int five = w->fmt == INF__W_Q5_K_R16; /* else Q4_K */
        const uint8_t *sb = grp + (bb / 8) * (five ? K5SB : KSB);
        const int j = (int)(bb % 8), sh = 4 * (j & 1);
        const uint8_t *p = sb + KQ + 512 * (j / 2) + 4 * i;
        int32_t v[8];
        for (int k = 0; k < 8; k++) memcpy(&v[k], p + 64 * k, 4);
        const __m256i x = _mm256_set_epi32(v[7], v[6], v[5], v[4], v[3], v[2], v[1], v[0]);
        __m256i q = _mm256_and_si256(_mm256_srli_epi16(x, sh), _mm256_set1_epi8(15));
        if (five) {
            for (int k = 0; k < 8; k++) memcpy(&v[k], sb + KQH + 64 * k + 4 * i, 4);
            const __m256i h = _mm256_set_epi32(v[7], v[6], v[5], v[4], v[3], v[2], v[1], v[0]);
            const __mmask32 hm = _mm256_test_epi8_mask(h, _mm256_set1_epi8((char)(1 << j)));
            q = _mm256_mask_add_epi8(q, hm, q, _mm256_set1_epi8(16));
        }
        _mm256_store_si256((__m256i *)(u + 32 * b), q);
        d[b] = _cvtsh_ss(inf__cpu_ggml_u16(sb + 2 * i)) * (float)sb[KSC + 32 * j + i];
        c[b] = -(_cvtsh_ss(inf__cpu_ggml_u16(sb + 32 + 2 * i)) * (float)sb[KSC + 32 * j + 16 + i]);
    }
}

void inf__cpu_r16_panel(const inf__weight *w, int64_t r, int64_t b0, int64_t nb, uint32_t *pan, int64_t ldp,
                        float *d, float *c, int64_t ldd) {
    const int64_t nbt = w->cols / 32;
    const uint8_t *grp = (const uint8_t *)w->data + (r / 16) * group_bytes(w);
    for (int64_t b = 0; b < nb; b++) {
        const int64_t bb = b0 + b;
        __m512 dv, cv;
        if (plain_layout(w)) { /* the plain layouts */
            __m512i W[8];
            plain_w(plain_eight(w), plain_values(w, grp, bb), W);
            for (int k = 0; k < 8; k++) _mm512_store_si512(pan + (8 * b + k) * ldp, W[k]);
            plain_scales(w, grp, bb, &dv, &cv);
        } else if (w->fmt == INF__W_Q2_K_R16) { /* d[2b], d[2b+1], c[2b], c[2b+1]: the halves' */
            const int64_t nsb = nbt / 8;
            const uint8_t *sb = grp + 64 * (bb / 8), *vals = grp + Q2Q(nsb) + (bb / 8) * 1024;
            const int n = (int)((bb / 4) % 2);
            __m512i W[8];
            switch (bb % 4) {
            case 0: q2_w(vals, n, 0, W); break;
            case 1: q2_w(vals, n, 1, W); break;
            case 2: q2_w(vals, n, 2, W); break;
            default: q2_w(vals, n, 3, W); break;
            }
            for (int k = 0; k < 8; k++) _mm512_store_si512(pan + (8 * b + k) * ldp, W[k]);
            __m512 mlo, mhi;
            q2_scales(grp, nsb, bb, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)sb)),
                      _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(sb + 32))), &dv, &cv, &mlo, &mhi);
            _mm512_store_ps(d + 2 * b * ldd, dv);
            _mm512_store_ps(d + (2 * b + 1) * ldd, cv);
            _mm512_store_ps(c + 2 * b * ldd, mlo);
            _mm512_store_ps(c + (2 * b + 1) * ldd, mhi);
            continue;
        } else if (w->fmt == INF__W_Q3_K_R16) { /* as Q6_K below */
            const int64_t nsb = nbt / 8;
            const uint8_t *vals = grp + Q3Q(nsb) + (bb / 8) * 1536;
            __m512i W[8];
            switch (bb % 8) {
            case 0: q3_w(vals, 0, 0, W); break;
            case 1: q3_w(vals, 0, 1, W); break;
            case 2: q3_w(vals, 0, 2, W); break;
            case 3: q3_w(vals, 0, 3, W); break;
            case 4: q3_w(vals, 1, 0, W); break;
            case 5: q3_w(vals, 1, 1, W); break;
            case 6: q3_w(vals, 1, 2, W); break;
            default: q3_w(vals, 1, 3, W); break;
            }
            for (int k = 0; k < 8; k++) _mm512_store_si512(pan + (8 * b + k) * ldp, W[k]);
            q6_scales(grp, nsb, bb, &dv, &cv);
            _mm512_store_ps(d + 2 * b * ldd, dv);
            _mm512_store_ps(d + (2 * b + 1) * ldd, cv);
            continue;
        } else if (w->fmt == INF__W_Q6_K_R16) { /* d[2b], d[2b+1]: the halves' scales (no c) */
            const int64_t nsb = nbt / 8;
            const uint8_t *half = grp + Q6Q(nsb) + (bb / 8) * 3072 + 1536 * ((bb / 4) % 2);
            __m512i W[8];
            switch (bb % 4) {
            case 0: q6_w(half, 0, W); break;
            case 1: q6_w(half, 1, W); break;
            case 2: q6_w(half, 2, W); break;
            default: q6_w(half, 3, W); break;
            }
            for (int k = 0; k < 8; k++) _mm512_store_si512(pan + (8 * b + k) * ldp, W[k]);
            q6_scales(grp, nsb, bb, &dv, &cv);
            _mm512_store_ps(d + 2 * b * ldd, dv);
            _mm512_store_ps(d + (2 * b + 1) * ldd, cv);
            continue;
        } else { /* Q4_K, Q5_K */
            const int five = w->fmt == INF__W_Q5_K_R16;
            const uint8_t *sb = grp + (bb / 8) * (five ? K5SB : KSB);
            const int j = (int)(bb % 8);
            __m512i W[8];
            if (five) k_w(1, sb, j, W);
            else k_w(0, sb, j, W);
            for (int k = 0; k < 8; k++) _mm512_store_si512(pan + (8 * b + k) * ldp, W[k]);
            __m512 d16, nm16;
            k_super(sb, &d16, &nm16);
            k_scales(sb, j, d16, nm16, &dv, &cv);
        }
        _mm512_store_ps(d + b * ldd, dv);
        _mm512_store_ps(c + b * ldd, cv);
    }
}

AI __m512i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* The two 16-column halves' integer sums of a block's values W (below)
 * times a token's xq (xb: the block's 32), added to a and a2: two chains
 * of 4 vpdpbusd. */
AI void dot_halves(const __m512i W[8], const int8_t *xb, __m512i *a, __m512i *a2) {
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        *a = _mm512_dpbusd_epi32(*a, W[k], bcast4(xb + 4 * k));
        *a2 = _mm512_dpbusd_epi32(*a2, W[k + 4], bcast4(xb + 16 + 4 * k));
    }
}

/* One block of 32 columns (b) of 16 rows, its values in W[0..8) (W[k]:
 * columns 4k .. 4k+3, dword i: row i), scales dv and offsets cv, times
 * tokens [t0, t0+T): f += dv dx isum, e += cv s.  Two chains of vpdpbusd:
 * one token alone would wait on 8 dependent ones. */
AI void block_tokens(int T, const __m512i W[8], const inf__cpu_xq *xq, int64_t t0, int64_t b, __m512 dv, __m512 cv,
                     __m512 *f, __m512 *e) {
    const int64_t nb = xq->cols / 32;
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) {
        const int8_t *xb = xq->q + (t0 + t) * xq->ld + 32 * b;
        __m512i a = _mm512_setzero_si512(), a2 = _mm512_setzero_si512();
        dot_halves(W, xb, &a, &a2);
        const float dx = xq->d[(t0 + t) * nb + b], sx = xq->s[(t0 + t) * nb + b];
        f[t] = _mm512_fmadd_ps(dv, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(a, a2)), _mm512_set1_ps(dx)), f[t]);
        e[t] = _mm512_fmadd_ps(cv, _mm512_set1_ps(sx), e[t]);
    }
}

/* Q2_K block b, tokens [t0, t0+T): its two 16-column halves' integer sums
 * (from 0) times d sc dx, less dmin mn times the halves' dx sum(xq) (xs,
 * inf__cpu_r16_offsets); the values as Q3_K's 2-bit fields. */
AI void block_tokens_q2(int T, const uint8_t *grp, int64_t nsb, const uint8_t *vals, int n, int q,
                        const inf__cpu_xq *xq, const r16_off *xs, int64_t t0, int64_t b, __m512 d, __m512 dmin,
                        __m512 *f) {
    const int64_t nb = xq->cols / 32;
    __m512i W[8];
    q2_w(vals, n, q, W);
    __m512 dlo, dhi, mlo, mhi;
    q2_scales(grp, nsb, b, d, dmin, &dlo, &dhi, &mlo, &mhi);
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) {
        const int8_t *xb = xq->q + (t0 + t) * xq->ld + 32 * b;
        __m512i a = _mm512_setzero_si512(), a2 = _mm512_setzero_si512();
        dot_halves(W, xb, &a, &a2);
        const r16_off *s = xs + (t0 + t) * 2 * nb + 2 * b;
        const __m512 v = _mm512_fmadd_ps(dhi, _mm512_cvtepi32_ps(a2), _mm512_mul_ps(dlo, _mm512_cvtepi32_ps(a)));
        f[t] = _mm512_fmadd_ps(v, _mm512_set1_ps(xq->d[(t0 + t) * nb + b]), f[t]);
        f[t] = _mm512_fnmadd_ps(mlo, _mm512_set1_ps(s[0].f), f[t]);
        f[t] = _mm512_fnmadd_ps(mhi, _mm512_set1_ps(s[1].f), f[t]);
    }
}

/* Q6_K block b, tokens [t0, t0+T): the sums start from nc (-32 times the
 * sum of each 16-column half's xq) so that they are sum (q - 32) xq
 * exactly; f += dx (dlo sum_lo + dhi sum_hi). */
AI void block_tokens_q6(int T, const __m512i W[8], const inf__cpu_xq *xq, const r16_off *nc, int64_t t0, int64_t b,
                        __m512 dlo, __m512 dhi, __m512 *f) {
    const int64_t nb = xq->cols / 32;
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) {
        const int8_t *xb = xq->q + (t0 + t) * xq->ld + 32 * b;
        __m512i a = _mm512_set1_epi32(nc[(t0 + t) * 2 * nb + 2 * b].i);
        __m512i a2 = _mm512_set1_epi32(nc[(t0 + t) * 2 * nb + 2 * b + 1].i);
        dot_halves(W, xb, &a, &a2);
        const __m512 v = _mm512_fmadd_ps(dhi, _mm512_cvtepi32_ps(a2), _mm512_mul_ps(dlo, _mm512_cvtepi32_ps(a)));
        f[t] = _mm512_fmadd_ps(v, _mm512_set1_ps(xq->d[(t0 + t) * nb + b]), f[t]);
    }
}

/* Tokens [t0, t0+T) (T <= R16_T, a constant after inlining) times the 16
 * rows of group g of a K layout (0 Q4_0, 1 Q4_K, 2 Q6_K, 3 Q8_0, 4 MLX8,
 * 5 MLX4, 6 Q5_K, 7 Q3_K, 8 Q2_K; a constant too); lanes of y outside m untouched.  y = f + e: the
 * scaled integer sums and the offsets' share (c s, as in the other
 * kernels; Q6_K's and Q3_K's offsets are in their sums). */
AI void r16_group(int T, int K, const inf__weight *w, const inf__cpu_xq *xq, const r16_off *nc, int64_t t0, float *y,
                  int64_t ldy, int64_t g, __mmask16 m, const char *next, int64_t step) {
    const int64_t nb = w->cols / 32;
    const uint8_t *grp = (const uint8_t *)w->data + g * group_bytes(w);
    __m512 f[R16_T], e[R16_T];
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) f[t] = e[t] = _mm512_setzero_ps();
    if (K == 8) { /* Q2_K */
        const int64_t nsb = nb / 8;
        __m512 d = _mm512_setzero_ps(), dmin = d;
        for (int64_t b = 0; b < nb; b += 4) {
            const uint8_t *vals = grp + Q2Q(nsb) + (b / 8) * 1024;
            if (b % 8 == 0) {
                d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(grp + 64 * (b / 8))));
                dmin = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(grp + 64 * (b / 8) + 32)));
            }
            const int n = (int)((b / 4) % 2);
#pragma GCC unroll 4
            for (int q = 0; q < 4; q++) {
                if (next) inf__pf_share(next, step, b + q);
                block_tokens_q2(T, grp, nsb, vals, n, q, xq, nc, t0, b + q, d, dmin, f);
            }
        }
    } else if (K == 7) { /* Q3_K: as Q6_K below */
        const int64_t nsb = nb / 8;
        for (int64_t b = 0; b < nb; b += 4) {
            const uint8_t *vals = grp + Q3Q(nsb) + (b / 8) * 1536;
            const int n = (int)((b / 4) % 2);
#pragma GCC unroll 4
            for (int q = 0; q < 4; q++) {
                if (next) inf__pf_share(next, step, b + q);
                __m512 dlo, dhi;
                q6_scales(grp, nsb, b + q, &dlo, &dhi);
                __m512i W[8];
                q3_w(vals, n, q, W);
                block_tokens_q6(T, W, xq, nc, t0, b + q, dlo, dhi, f);
            }
        }
    } else if (K == 2) { /* Q6_K: a half super-block's four blocks, the quarters' shifts constant */
        const int64_t nsb = nb / 8;
        for (int64_t b = 0; b < nb; b += 4) {
            const uint8_t *half = grp + Q6Q(nsb) + (b / 8) * 3072 + 1536 * ((b / 4) % 2);
#pragma GCC unroll 4
            for (int q = 0; q < 4; q++) {
                if (next) inf__pf_share(next, step, b + q);
                __m512 dlo, dhi;
                q6_scales(grp, nsb, b + q, &dlo, &dhi);
                __m512i W[8];
                q6_w(half, q, W);
                block_tokens_q6(T, W, xq, nc, t0, b + q, dlo, dhi, f);
            }
        }
    } else if (K == 0 || (K >= 3 && K <= 5)) {
        /* Q4_0 (K 0), Q8_0 (3), MLX8 (4), MLX4 (5): 8-bit values as they
         * are (u8: Q8_0's plus 128) in 8 parts, 4-bit ones in 4 parts of
         * low and high nibbles; Q's scales per block, MLX's per group */
        const int eight = K == 3 || K == 4, bpg = K >= 4 ? (int)(w->group / 32) : 1;
        __m512 dv = _mm512_setzero_ps(), cv = dv;
        for (int64_t b = 0; b < nb; b++) {
            if (next) inf__pf_share(next, step, b);
            if ((b & (bpg - 1)) == 0) plain_scales(w, grp, b, &dv, &cv); /* MLX: once per group */
            __m512i W[8];
            plain_w(eight, plain_values(w, grp, b), W);
            block_tokens(T, W, xq, t0, b, dv, cv, f, e);
        }
    } else { /* Q4_K (K 1), Q5_K (6) */
        __m512 d16 = _mm512_setzero_ps(), nm16 = d16;
        for (int64_t b = 0; b < nb; b += 2) { /* a pair of sub-blocks: its low nibbles, then its high */
            const uint8_t *sb = grp + (b / 8) * (K == 6 ? K5SB : KSB);
            if (b % 8 == 0) k_super(sb, &d16, &nm16);
            if (next) {
                inf__pf_share(next, step, b);
                inf__pf_share(next, step, b + 1);
            }
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) {
                __m512 dv, cv;
                k_scales(sb, (int)(b % 8) + h, d16, nm16, &dv, &cv);
                __m512i W[8];
                k_w(K == 6, sb, (int)(b % 8) + h, W);
                block_tokens(T, W, xq, t0, b + h, dv, cv, f, e);
            }
        }
    }
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) _mm512_mask_storeu_ps(y + (t0 + t) * ldy + 16 * g, m, _mm512_add_ps(f[t], e[t]));
}

#define R16_CASES(K)                                                                    \
    switch (T) {                                                                        \
    case 1: r16_group(1, K, w, xq, nc, t, y, ldy, g, m, pf, step); break;              \
    case 2: r16_group(2, K, w, xq, nc, t, y, ldy, g, m, pf, step); break;              \
    case 3: r16_group(3, K, w, xq, nc, t, y, ldy, g, m, pf, step); break;              \
    case 4: r16_group(4, K, w, xq, nc, t, y, ldy, g, m, pf, step); break;              \
    default: r16_group(8, K, w, xq, nc, t, y, ldy, g, m, pf, step); break;             \
    }

/* Rows [r0, r1) x the tokens of xq (nc: Q6_K's or Q3_K's offsets of those tokens, Q2_K's dx sum(xq): inf__cpu_r16_offsets). */
static void r16_rows(const inf__weight *w, const inf__cpu_xq *xq, const r16_off *nc, float *y, int64_t ldy,
                     int64_t r0, int64_t r1) {
    const int64_t gb = group_bytes(w), ahead = inf__pf_ahead(gb), step = inf__pf_step(gb, w->cols / 32);
    const int64_t gend = (r1 + 15) / 16;
    for (int64_t g = r0 / 16; g < gend; g++) {
        const int lo = r0 > 16 * g ? (int)(r0 - 16 * g) : 0, hi = r1 < 16 * g + 16 ? (int)(r1 - 16 * g) : 16;
        const __mmask16 m = (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
        /* the group(s) ahead, paced over the first pass of tokens (the
         * later passes find this group in the caches) */
        const char *next = (const char *)w->data + g * gb + ahead;
        for (int64_t t = 0, T; t < xq->n; t += T) {
            /* passes of 8, 4, 3, 2 or 1 tokens; Q4_K's of at most 4 (16
             * tokens, bench_ggml in cache, minima of 3 alternated runs:
             * 8 against 4: Q4_0 128 / 140 us, Q8_0 136 / 156, Q6_K 183 /
             * 205, Q4_K 162 / 152) */
            const int64_t rem = xq->n - t;
            T = rem >= 8 && w->fmt != INF__W_Q4_K_R16 && w->fmt != INF__W_Q5_K_R16 ? 8 : rem > 4 ? 4 : rem;
            const char *pf = t == 0 ? next : NULL;
            switch (w->fmt) {
            case INF__W_Q4_0_R16: R16_CASES(0) break;
            case INF__W_Q4_K_R16: R16_CASES(1) break;
            case INF__W_Q5_K_R16: R16_CASES(6) break;
            case INF__W_Q6_K_R16: R16_CASES(2) break;
            case INF__W_Q3_K_R16: R16_CASES(7) break;
            case INF__W_Q2_K_R16: R16_CASES(8) break;
            case INF__W_Q8_0_R16: R16_CASES(3) break;
            case INF__W_MLX8_R16: R16_CASES(4) break;
            default: R16_CASES(5) break;
            }
        }
    }
}

void inf__cpu_r16_offsets(const inf__weight *w, const inf__cpu_xq *xq, r16_off *nc) {
    const int32_t z = w->fmt == INF__W_Q3_K_R16 ? 4 : w->fmt == INF__W_Q2_K_R16 ? 0 : 32;
    const int64_t nh = xq->cols / 16;
    for (int64_t t = 0; t < xq->n; t++)
        for (int64_t h = 0; h < nh; h++) {
            const __m128i v = _mm_loadu_si128((const __m128i *)(xq->q + t * xq->ld + 16 * h));
            const int32_t sum = _mm512_reduce_add_epi32(_mm512_cvtepi8_epi32(v));
            if (z) nc[t * nh + h].i = -z * sum;
            else nc[t * nh + h].f = xq->d[t * (nh / 2) + h / 2] * (float)sum;
        }
}

/* GCC cannot see that q6_offsets writes the offsets r16_rows reads */
#if !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
void inf__cpu_r16_matmul(const inf__weight *w, const inf__cpu_xq *xq, float *y, int64_t ldy, int64_t r0,
                         int64_t r1) {
    if (w->fmt != INF__W_Q6_K_R16 && w->fmt != INF__W_Q3_K_R16 && w->fmt != INF__W_Q2_K_R16) {
        r16_rows(w, xq, NULL, y, ldy, r0, r1);
        return;
    }
    /* Q6_K's offsets on the stack, on the heap for many tokens of long
     * rows, else (no memory) one token at a time: a token's always fit
     * (Q6_K_MAX_COLS) */
    r16_off stack[Q6_K_MAX_COLS / 16];
    const int64_t nh = w->cols / 16;
    r16_off *nc = xq->n * nh <= Q6_K_MAX_COLS / 16 ? stack : malloc((size_t)(xq->n * nh) * sizeof *nc);
    if (nc) {
        inf__cpu_r16_offsets(w, xq, nc);
        r16_rows(w, xq, nc, y, ldy, r0, r1);
        if (nc != stack) free(nc);
        return;
    }
    for (int64_t t = 0; t < xq->n; t++) {
        const int64_t nbt = w->cols / 32;
        inf__cpu_xq one = *xq;
        one.n = 1;
        one.q = xq->q + t * xq->ld;
        one.d = xq->d + t * nbt;
        one.s = xq->s + t * nbt;
        inf__cpu_r16_offsets(w, &one, stack);
        r16_rows(w, &one, stack, y + t * ldy, ldy, r0, r1);
    }
}
#if !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif
