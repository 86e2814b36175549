/*
 * Q4_0 rows interleaved 16 at a time (INF__W_Q4_0_R16, model.h): the
 * layout the avx512-fast set (kernels_vnni.c) repacks Q4_0 matrices into at
 * load (kernels.h: pack), and its kernels.
 *
 * Why.  As stored, a Q4_0 row is a run of 18-byte blocks; the row kernel
 * (kernels_vnni.c: rows_q4) unpacks a row's nibbles once into registers
 * and then spends, per token and 128 columns, two vpdpbusd, a conversion,
 * a scale permutation and an FMA, plus a horizontal sum per row at the
 * end.  So 4 tokens cost 3x one (bench_ggml -f Q4_0 -m 1, 2048x1024, CPU
 * time: 40 us for 1 token, 123 us for 4): the 4-stream batch and short
 * prompts pay for it, and at 1 token the unpack and the sums keep the
 * kernel below the memory's speed.  Interleaved, one 64-byte load holds
 * four columns of 16 rows (dword i: row i); a token's four int8 are
 * broadcast to every lane, so one vpdpbusd advances 16 rows by 4 columns
 * and the 16 sums come out in y's order, with no horizontal sum; the 16
 * rows' scales are one vector.  Per 16 rows x 32 columns: 4 loads, 8
 * ands and shifts shared by the tokens; per token 8 vpdpbusd (x
 * broadcast from memory), one conversion and 3 float operations.
 * (ik_llama.cpp's Q4_0_R8 repacks for the same reason.)
 *
 * The layout keeps Q4_0's bytes: a block's nibble byte 4k+j of row i goes
 * to byte 4i+j of the block's part k, its scale to index i of the block's
 * 16 scales, so the result is the same matrix, 18 bytes per row and block.
 */
#include "backends/cpu/kernels.h"
#include "backends/cpu/kernels_x86.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include <immintrin.h>
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
#define R16_T 4 /* tokens per pass over a group's blocks */

int64_t inf__cpu_r16_pack_bytes(const inf__weight *w) {
    if (w->fmt != INF__W_Q4_0 || w->cols % 32 || w->rows <= 0) return 0;
    return (w->rows + 15) / 16 * inf__q4r16_group_bytes(w);
}

void inf__cpu_r16_pack(const inf__weight *w, int64_t r0, int64_t r1, void *dst, inf__weight *out) {
    *out = *w;
    out->fmt = INF__W_Q4_0_R16;
    out->data = dst;
    const int64_t nb = w->cols / 32, gb = inf__q4r16_group_bytes(w);
    for (int64_t g = r0 / 16; g * 16 < r1; g++) {
        uint8_t *sc = (uint8_t *)dst + g * gb, *q = sc + nb * 32;
        for (int i = 0; i < 16; i++) {
            const int64_t r = g * 16 + i;
            if (r >= w->rows) { /* the last group's missing rows: zero (d = 0) */
                for (int64_t b = 0; b < nb; b++) {
                    memset(sc + b * 32 + 2 * i, 0, 2);
                    for (int k = 0; k < 4; k++) memset(q + b * 256 + 64 * k + 4 * i, 0, 4);
                }
                continue;
            }
            const uint8_t *src = (const uint8_t *)w->data + r * nb * 18;
            for (int64_t b = 0; b < nb; b++, src += 18) {
                memcpy(sc + b * 32 + 2 * i, src, 2);
                for (int k = 0; k < 4; k++) memcpy(q + b * 256 + 64 * k + 4 * i, src + 2 + 4 * k, 4);
            }
        }
    }
}

void inf__cpu_r16_decode(const inf__weight *w, int64_t r, int64_t b0, int64_t nb, uint8_t *restrict u,
                         float *restrict d, float *restrict c) {
    const int64_t nbt = w->cols / 32, i = r % 16;
    const uint8_t *sc = (const uint8_t *)w->data + (r / 16) * inf__q4r16_group_bytes(w) + 2 * i;
    const uint8_t *q = (const uint8_t *)w->data + (r / 16) * inf__q4r16_group_bytes(w) + nbt * 32 + 4 * i;
    const __m128i m4 = _mm_set1_epi8(15);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = q + (b0 + b) * 256;
        int32_t v[4];
        for (int k = 0; k < 4; k++) memcpy(&v[k], p + 64 * k, 4);
        const __m128i x = _mm_set_epi32(v[3], v[2], v[1], v[0]);
        _mm_store_si128((__m128i *)(u + 32 * b), _mm_and_si128(x, m4));
        _mm_store_si128((__m128i *)(u + 32 * b + 16), _mm_and_si128(_mm_srli_epi16(x, 4), m4));
        d[b] = _cvtsh_ss(inf__cpu_ggml_u16(sc + (b0 + b) * 32));
        c[b] = -8.0f * d[b];
    }
}

void inf__cpu_r16_panel(const inf__weight *w, int64_t r, int64_t b0, int64_t nb, uint32_t *pan, int64_t ldp,
                        float *d, float *c, int64_t ldd) {
    const int64_t nbt = w->cols / 32;
    const uint8_t *sc = (const uint8_t *)w->data + (r / 16) * inf__q4r16_group_bytes(w);
    const uint8_t *q = sc + nbt * 32;
    const __m512i m4 = _mm512_set1_epi8(15);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = q + (b0 + b) * 256;
        for (int k = 0; k < 4; k++) {
            const __m512i v = _mm512_loadu_si512((const void *)(p + 64 * k));
            _mm512_store_si512(pan + (8 * b + k) * ldp, _mm512_and_si512(v, m4));
            _mm512_store_si512(pan + (8 * b + 4 + k) * ldp, _mm512_and_si512(_mm512_srli_epi16(v, 4), m4));
        }
        const __m512 dv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(sc + (b0 + b) * 32)));
        _mm512_store_ps(d + b * ldd, dv);
        _mm512_store_ps(c + b * ldd, _mm512_mul_ps(dv, _mm512_set1_ps(-8.0f)));
    }
}

AI __m512i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* Tokens [0, T) of xq (T <= R16_T, a constant after inlining) times the
 * 16 rows of group g; lanes of y outside [r0, r1) untouched.  Per token
 * two accumulators, f = sum d dx isum and e = sum d s, so that y = f - 8e
 * (w = d (q - 8); x's block sum s gives the offset's share exactly as
 * the other kernels' c s does). */
AI void r16_group(int T, const inf__weight *w, const inf__cpu_xq *xq, int64_t t0, float *y, int64_t ldy,
                  int64_t g, __mmask16 m, const char *next, int64_t step) {
    const int64_t nb = w->cols / 32;
    const uint8_t *sc = (const uint8_t *)w->data + g * inf__q4r16_group_bytes(w), *q = sc + nb * 32;
    const __m512i m4 = _mm512_set1_epi8(15);
    __m512 f[R16_T], e[R16_T];
#pragma GCC unroll 4
    for (int t = 0; t < T; t++) f[t] = e[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++, q += 256) {
        if (next) inf__pf_share(next, step, b);
        const __m512 dv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(sc + 32 * b)));
        __m512i lo[4], hi[4];
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            const __m512i v = _mm512_loadu_si512((const void *)(q + 64 * k));
            lo[k] = _mm512_and_si512(v, m4);
            hi[k] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
        }
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            const int8_t *xb = xq->q + (t0 + t) * xq->ld + 32 * b;
            /* two chains: one token alone would wait on 8 dependent vpdpbusd */
            __m512i a = _mm512_setzero_si512(), a2 = _mm512_setzero_si512();
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) {
                a = _mm512_dpbusd_epi32(a, lo[k], bcast4(xb + 4 * k));
                a2 = _mm512_dpbusd_epi32(a2, hi[k], bcast4(xb + 16 + 4 * k));
            }
            const float dx = xq->d[(t0 + t) * nb + b], sx = xq->s[(t0 + t) * nb + b];
            f[t] = _mm512_fmadd_ps(dv, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(a, a2)), _mm512_set1_ps(dx)),
                                   f[t]);
            e[t] = _mm512_fmadd_ps(dv, _mm512_set1_ps(sx), e[t]);
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < T; t++)
        _mm512_mask_storeu_ps(y + (t0 + t) * ldy + 16 * g, m, _mm512_fmadd_ps(e[t], _mm512_set1_ps(-8.0f), f[t]));
}

void inf__cpu_r16_matmul(const inf__weight *w, const inf__cpu_xq *xq, float *y, int64_t ldy, int64_t r0,
                         int64_t r1) {
    const int64_t gb = inf__q4r16_group_bytes(w), ahead = inf__pf_ahead(gb), step = inf__pf_step(gb, w->cols / 32);
    const int64_t gend = (r1 + 15) / 16;
    for (int64_t g = r0 / 16; g < gend; g++) {
        const int lo = r0 > 16 * g ? (int)(r0 - 16 * g) : 0, hi = r1 < 16 * g + 16 ? (int)(r1 - 16 * g) : 16;
        const __mmask16 m = (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
        /* the group(s) ahead, paced over the first pass of tokens (the
         * later passes find this group in the caches) */
        const char *next = (const char *)w->data + g * gb + ahead;
        for (int64_t t = 0; t < xq->n; t += R16_T) {
            const int64_t T = xq->n - t < R16_T ? xq->n - t : R16_T;
            const char *pf = t == 0 ? next : NULL;
            switch (T) {
            case 1: r16_group(1, w, xq, t, y, ldy, g, m, pf, step); break;
            case 2: r16_group(2, w, xq, t, y, ldy, g, m, pf, step); break;
            case 3: r16_group(3, w, xq, t, y, ldy, g, m, pf, step); break;
            default: r16_group(4, w, xq, t, y, ldy, g, m, pf, step); break;
            }
        }
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif
