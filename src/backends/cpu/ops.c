#include "backends/cpu/ops.h"

#include <math.h>

void inf__cpu_rmsnorm(const float *x, const float *w, float eps, int64_t n,
                      float *y) {
    /* Eight partial sums, not one chain: a single double accumulator made
     * every norm a chain of n dependent adds (~1.4 us at 1024; Qwen3's 24
     * per-head norms per layer were most of its decode's QKV stage). */
    double s8[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) s8[j] += (double)x[i + j] * x[i + j];
    double ss = ((s8[0] + s8[4]) + (s8[1] + s8[5])) + ((s8[2] + s8[6]) + (s8[3] + s8[7]));
    for (; i < n; i++) ss += (double)x[i] * x[i];
    const float r = 1.0f / sqrtf((float)(ss / (double)n) + eps);
    for (i = 0; i < n; i++) y[i] = (x[i] * r) * w[i];
}

void inf__cpu_rope_cos_sin(const float *inv, int32_t half, int32_t pos,
                           float *cs, float *sn) {
    for (int32_t i = 0; i < half; i++) {
        float a = (float)pos * inv[i];
        cs[i] = (float)cos((double)a);
        sn[i] = (float)sin((double)a);
    }
}

void inf__cpu_rope_apply(float *x, const float *cs, const float *sn,
                         int32_t half) {
    for (int32_t i = 0; i < half; i++) {
        float a = x[i], b = x[i + half];
        x[i] = a * cs[i] - b * sn[i];
        x[i + half] = b * cs[i] + a * sn[i];
    }
}

void inf__cpu_rope_apply_adjacent(float *x, const float *cs, const float *sn,
                                  int32_t half) {
    for (int32_t i = 0; i < half; i++) {
        float a = x[2 * i], b = x[2 * i + 1];
        x[2 * i] = a * cs[i] - b * sn[i];
        x[2 * i + 1] = b * cs[i] + a * sn[i];
    }
}

void inf__cpu_act_mul(inf__act act, float *g, const float *u, int64_t n) {
    if (act == INF__ACT_GELU_TANH) {
        const float c = 0.7978845608028654f; /* sqrt(2/pi) */
        for (int64_t i = 0; i < n; i++) {
            float v = g[i];
            g[i] = 0.5f * v * (1.0f + tanhf(c * (v + 0.044715f * v * v * v))) * u[i];
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            float v = g[i];
            g[i] = v / (1.0f + expf(-v)) * u[i];
        }
    }
}

void inf__cpu_softcap(float *x, int64_t n, float cap) {
    for (int64_t i = 0; i < n; i++) x[i] = cap * tanhf(x[i] / cap);
}
