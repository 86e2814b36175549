/*
 * ggml block formats (Q8_0 .. Q6_K) on AVX2+FMA+F16C, for the avx2 set
 * (and the avx512 set's panels, which dequantise through the tile):
 *  - one token (decode): weights unpacked in registers ...
 *  - tiles for the prefill GEMMs: rows x columns dequantised to f32.
 */
#include "backends/cpu/ggml_blocks.h"
#include "backends/cpu/kernels.h"
#include "backends/cpu/kernels_x86.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include <immintrin.h>

int inf__cpu_ggml_avx2_decode(const inf__weight *w, const float *x, float *y, int64_t r0, int64_t r1) {
    (void)w; (void)x; (void)y; (void)r0; (void)r1;
    return 0;
}

void inf__cpu_ggml_avx2_tile(const inf__weight *w, int64_t r, int nr, int64_t k0, int64_t kc,
                             float *tile, int64_t ld) {
    for (int i = 0; i < nr; i++) inf__cpu_ggml_dequant_range(w, r + i, k0, kc, tile + i * ld);
}

#endif
