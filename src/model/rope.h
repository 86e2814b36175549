/* RoPE inverse frequencies of a layer: model math that the compute
 * backends share (cpu and cuda build the same table from inf__rope).
 *
 * Defined here, inline, rather than in the inf_model area: the cpu area's
 * objects are linked by programs that link only inf_cpu and inf_core
 * (bench/kernels, tests/cpu), so a call into another area would break
 * them.  Compiled as C (cpu) and as the host C++ of cuda_compute.cu: plain
 * double arithmetic and pow, the same result in both. */
#ifndef INF_MODEL_ROPE_H
#define INF_MODEL_ROPE_H

#include <math.h>
#include <stdint.h>

#include "model/model.h"

/* Inverse frequencies inv[head_dim/2] of a layer's RoPE (default, linear,
 * llama3), computed in double and rounded to f32 as transformers does. */
static inline void inf__rope_inv_freq(const inf__rope *r, int32_t head_dim,
                                      float *inv) {
    const int32_t half = head_dim / 2;
    for (int32_t i = 0; i < half; i++) {
        double f = 1.0 / pow((double)r->theta, (double)(2 * i) / (double)head_dim);
        if (r->kind == INF__ROPE_LINEAR && r->factor > 0) {
            f /= r->factor;
        } else if (r->kind == INF__ROPE_LLAMA3 && r->factor > 0) {
            /* Llama 3.1: long wavelengths slowed by factor, short ones kept,
             * a smooth blend between. */
            const double old = r->original_max_positions;
            const double lo = r->low_freq_factor, hi = r->high_freq_factor;
            const double low_wl = old / lo, high_wl = old / hi;
            const double wl = 2.0 * M_PI / f;
            if (wl > low_wl) {
                f = f / r->factor;
            } else if (wl >= high_wl) {
                double smooth = (old / wl - lo) / (hi - lo);
                f = (1.0 - smooth) * f / r->factor + smooth * f;
            }
        }
        inv[i] = (float)f;
    }
}

#endif
