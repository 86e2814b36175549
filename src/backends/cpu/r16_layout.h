/*
 * The 16-row interleaved layouts' geometry (model.h: INF__W_*_R16): where
 * a group's parts are, shared by their packers (r16_pack.c, portable) and
 * their kernels (kernels_r16.c for AVX-512 VNNI, kernels_q8_gg.c for AVX2).
 * Private to the cpu backend.
 */
#ifndef INF_BACKENDS_CPU_R16_LAYOUT_H
#define INF_BACKENDS_CPU_R16_LAYOUT_H

#include <stdint.h>

#include "model/model.h"

/* Q4_K and Q5_K: bytes of a super-block of a group, and where its parts
 * are. */
#define KSB 2368  /* Q4_K: d, dmin: 64; scales and minimums: 256; nibbles: 2048 */
#define K5SB 2880 /* Q5_K: Q4_K's, then the fifth bits: 512 */
#define KSC 64    /* sub-block j's 16 scales at KSC + 32j, its minimums 16 further */
#define KQ 320    /* pair p's part k at KQ + 512p + 64k */
#define KQH 2368  /* Q5_K: the fifth bits' part k at KQH + 64k */

/* Q6_K: a group's d at 32s, scales at Q6SC + 256s (sub-block m: + 16m),
 * values at Q6Q + 3072s (half n: + 1536n; ql part k: + 64k; qh part k:
 * + 1024 + 64k), nsb = cols / 256 super-blocks */
#define Q6SC(nsb) ((nsb) * 32)
#define Q6Q(nsb) ((nsb) * 288)
#define Q6_K_MAX_COLS 65536 /* repacked up to this: one token's offsets fit the stack (16 KiB) */
/* Q3_K: d and scales as Q6_K's; values at Q3Q + 1536s (half n's qs part
 * k: + 512n + 64k; hmask part k: + 1024 + 64k) */
#define Q3Q(nsb) ((nsb) * 288)
/* Q2_K: d and dmin at 64s (dmin: + 32), scale bytes at Q2SC + 256s (+ 16m),
 * values at Q2Q + 1024s (half n's part k: + 512n + 64k) */
#define Q2SC(nsb) ((nsb) * 64)
#define Q2Q(nsb) ((nsb) * 320)

/* Bytes per 16-row group of w, stored (the format it packs from) or packed. */
static inline int64_t inf__r16_group_bytes(const inf__weight *w) {
    switch (w->fmt) {
    case INF__W_Q4_0: case INF__W_Q4_0_R16: return inf__q4r16_group_bytes(w);
    case INF__W_Q4_K: case INF__W_Q4_K_R16: return inf__q4kr16_group_bytes(w);
    case INF__W_Q5_K: case INF__W_Q5_K_R16: return inf__q5kr16_group_bytes(w);
    case INF__W_Q8_0: case INF__W_Q8_0_R16: return inf__q8r16_group_bytes(w);
    case INF__W_MLX8: case INF__W_MLX4: case INF__W_MLX8_R16: case INF__W_MLX4_R16: return inf__mlxr16_group_bytes(w);
    case INF__W_Q3_K: case INF__W_Q3_K_R16: return inf__q3kr16_group_bytes(w);
    case INF__W_Q2_K: case INF__W_Q2_K_R16: return inf__q2kr16_group_bytes(w);
    default: return inf__q6kr16_group_bytes(w);
    }
}

#endif
