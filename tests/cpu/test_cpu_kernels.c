/* Kernel tests: every weight format's reference matmul against an
 * independent double-precision dequantisation written here, the AVX2
 * kernels against the reference (max abs diff reported), dot/axpy, the f16
 * decoder's special values, and the thread pool's job distribution;
 * precision fast's one-token MLX products against a derived
 * int8-quantisation error bound and its BF16 prefill against 2^-7; the
 * f16 KV cache's rounding and attention kernels of every set. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/kernels.h"
#include "backends/cpu/kernels_int8.h"
#include "backends/cpu/ops.h"
#include "backends/cpu/threadpool.h"
#include "testutil.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}
static double urand(void) { return (rnd() & 0xffffff) / 16777216.0; } /* [0,1) */

/* Random finite half-precision bit patterns with exponents near 1, decoded
 * independently with ldexp. */
static uint16_t rand_f16(double *val) {
    uint32_t sign = rnd() & 1, e = 11 + rnd() % 6, m = rnd() & 0x3ff;
    *val = (sign ? -1 : 1) * ldexp(1.0 + m / 1024.0, (int)e - 15);
    return (uint16_t)((sign << 15) | (e << 10) | m);
}
static uint16_t rand_bf16(double *val) {
    uint32_t sign = rnd() & 1, e = 123 + rnd() % 6, m = rnd() & 0x7f;
    *val = (sign ? -1 : 1) * ldexp(1.0 + m / 128.0, (int)e - 127);
    return (uint16_t)((sign << 15) | (e << 7) | m);
}

typedef struct mat {
    inf__weight w;
    double *ref; /* [rows, cols] exact values */
    void *data, *scales, *biases;
} mat;

static void mat_free(mat *m) {
    free(m->ref); free(m->data); free(m->scales); free(m->biases);
}

/* sb: storage of MLX scales/biases. */
static mat make_mat(inf__wfmt fmt, int64_t rows, int64_t cols, int group, inf__dtype sb) {
    mat m;
    memset(&m, 0, sizeof m);
    m.w.fmt = fmt; m.w.rows = rows; m.w.cols = cols;
    m.ref = malloc((size_t)(rows * cols) * sizeof(double));
    if (fmt == INF__W_F32) {
        float *d = malloc((size_t)(rows * cols) * 4);
        for (int64_t i = 0; i < rows * cols; i++) { d[i] = (float)(urand() * 2 - 1); m.ref[i] = d[i]; }
        m.data = d;
    } else if (fmt == INF__W_F16 || fmt == INF__W_BF16) {
        uint16_t *d = malloc((size_t)(rows * cols) * 2);
        for (int64_t i = 0; i < rows * cols; i++)
            d[i] = fmt == INF__W_F16 ? rand_f16(&m.ref[i]) : rand_bf16(&m.ref[i]);
        m.data = d;
    } else {
        const int bits = fmt == INF__W_MLX4 ? 4 : 8;
        const int64_t gpr = cols / group, wpr = cols * bits / 32;
        uint32_t *q = calloc((size_t)(rows * wpr), 4);
        size_t sbsz = sb == INF__DT_F32 ? 4 : 2;
        uint8_t *s = malloc((size_t)(rows * gpr) * sbsz), *b = malloc((size_t)(rows * gpr) * sbsz);
        double *sv = malloc((size_t)(rows * gpr) * sizeof(double)), *bv = malloc((size_t)(rows * gpr) * sizeof(double));
        for (int64_t i = 0; i < rows * gpr; i++) {
            for (int which = 0; which < 2; which++) {
                uint8_t *dst = which ? b : s;
                double *val = which ? &bv[i] : &sv[i];
                if (sb == INF__DT_F32) {
                    float f = (float)((urand() * 2 - 1) * (which ? 0.5 : 0.1));
                    memcpy(dst + i * 4, &f, 4); *val = f;
                } else {
                    uint16_t h = sb == INF__DT_F16 ? rand_f16(val) : rand_bf16(val);
                    if (!which) { /* small scales: scale*15 or *255 stays moderate */
                        h = (uint16_t)(sb == INF__DT_F16 ? (h & 0x83ff) | (10u << 10) : (h & 0x807f) | (120u << 7));
                        *val = (h & 0x8000 ? -1 : 1) *
                               (sb == INF__DT_F16 ? ldexp(1.0 + (h & 0x3ff) / 1024.0, 10 - 15)
                                                  : ldexp(1.0 + (h & 0x7f) / 128.0, 120 - 127));
                    }
                    memcpy(dst + i * 2, &h, 2);
                }
            }
        }
        for (int64_t r = 0; r < rows; r++)
            for (int64_t k = 0; k < cols; k++) {
                uint32_t v = rnd() & ((1u << bits) - 1);
                int64_t bit = k * bits;
                q[r * wpr + bit / 32] |= v << (bit % 32);
                int64_t g = r * gpr + k / group;
                m.ref[r * cols + k] = sv[g] * v + bv[g];
            }
        free(sv); free(bv);
        m.data = q; m.scales = s; m.biases = b;
        m.w.scales = s; m.w.biases = b; m.w.sb_dtype = sb;
        m.w.bits = bits; m.w.group = group;
    }
    m.w.data = m.data;
    return m;
}

static const char *fmt_name(inf__wfmt f) {
    static const char *n[] = {"none", "F32", "F16", "BF16", "MLX4", "MLX8"};
    return n[f];
}

static void test_format(inf__wfmt fmt, int64_t rows, int64_t cols, int group, inf__dtype sb,
                        const inf__cpu_kernels *fast) {
    mat m = make_mat(fmt, rows, cols, group, sb);
    /* up to 13: the few-token kernels and the avx2 3-token tile; 48 and
     * more: the packed GEMMs (INF__CPU_GEMM_MIN_TOKENS), 300 in two token
     * blocks */
    const int ns[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 48, 61, 300};
    const int64_t ldx = cols + 3, ldy = rows + 5;
    double worst_ref = 0, worst_fast = 0, worst_fast_rel = 0;
    int same_split = 1, same_count = 1;
    float *y61 = NULL, *xall = malloc((size_t)(300 * ldx) * 4); /* the tokens of every n: xall's first n */
    for (int64_t i = 0; i < 300 * ldx; i++) xall[i] = (float)(urand() * 2 - 1);
    for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
        const int64_t n = ns[ni];
        const float *x = xall;
        float *yr = calloc((size_t)(n * ldy), 4), *yf = calloc((size_t)(n * ldy), 4);
        /* Two row ranges, as two threads would split them. */
        int64_t mid = rows / 3;
        inf__cpu_kernels_ref.matmul_rows(&m.w, x, ldx, n, yr, ldy, 0, mid);
        inf__cpu_kernels_ref.matmul_rows(&m.w, x, ldx, n, yr, ldy, mid, rows);
        if (fast) {
            fast->matmul_rows(&m.w, x, ldx, n, yf, ldy, 0, mid);
            fast->matmul_rows(&m.w, x, ldx, n, yf, ldy, mid, rows);
            /* the same bits in one range (one thread) */
            float *y1 = calloc((size_t)(n * ldy), 4);
            fast->matmul_rows(&m.w, x, ldx, n, y1, ldy, 0, rows);
            same_split &= memcmp(y1, yf, (size_t)(n * ldy) * 4) == 0;
            free(y1);
            /* and a token's outputs the same at 61 and 300 tokens */
            if (n == 61) y61 = yf;
            if (n == 300 && y61) same_count &= memcmp(y61, yf, (size_t)(61 * ldy) * 4) == 0;
        }
        for (int64_t t = 0; t < n; t++)
            for (int64_t r = 0; r < rows; r++) {
                double e = 0, mag = 0;
                for (int64_t k = 0; k < cols; k++) {
                    e += m.ref[r * cols + k] * x[t * ldx + k];
                    mag += fabs(m.ref[r * cols + k] * x[t * ldx + k]);
                }
                double dr = fabs(yr[t * ldy + r] - e) / (mag > 1 ? mag : 1);
                if (dr > worst_ref) worst_ref = dr;
                if (fast) {
                    double df = fabs(yf[t * ldy + r] - yr[t * ldy + r]);
                    if (df > worst_fast) worst_fast = df;
                    if (df / (mag > 1 ? mag : 1) > worst_fast_rel) worst_fast_rel = df / (mag > 1 ? mag : 1);
                }
            }
        /* The padding columns of y must stay untouched. */
        int pad_ok = 1;
        for (int64_t t = 0; t < n; t++)
            for (int64_t r = rows; r < ldy; r++) pad_ok &= yr[t * ldy + r] == 0 && yf[t * ldy + r] == 0;
        CHECK_MSG(pad_ok, "%s wrote outside its rows", fmt_name(fmt));
        free(yr);
        if (yf != y61) free(yf);
    }
    free(y61); free(xall);
    CHECK_MSG(same_split, "%s: the outputs depend on the row split", fmt_name(fmt));
    CHECK_MSG(same_count, "%s: a token's outputs differ between 61 and 300 tokens", fmt_name(fmt));
    printf("  %-5s %3lldx%-4lld group %-3d sb %-4s  ref vs exact: %.2e (rel)  fast vs ref: %.2e (abs) %.2e (rel)\n",
           fmt_name(fmt), (long long)rows, (long long)cols, group,
           fmt == INF__W_MLX4 || fmt == INF__W_MLX8 ? (sb == INF__DT_F32 ? "F32" : sb == INF__DT_F16 ? "F16" : "BF16") : "-", worst_ref, worst_fast,
           worst_fast_rel);
    CHECK_MSG(worst_ref < 1e-5, "%s reference off by %g", fmt_name(fmt), worst_ref);
    /* Relative to sum |w*x|: the fast kernels sum in another order. */
    if (fast) CHECK_MSG(worst_fast_rel < 1e-5, "%s fast off by %g (relative)", fmt_name(fmt), worst_fast_rel);

    /* dequant_row and dequant_range agree with the exact values. */
    float *row = malloc((size_t)cols * 4);
    double dq = 0;
    for (int64_t r = 0; r < rows; r += 5) {
        inf__cpu_dequant_row(&m.w, r, row);
        for (int64_t k = 0; k < cols; k++)
            dq = fmax(dq, fabs(row[k] - m.ref[r * cols + k]) / fmax(1.0, fabs(m.ref[r * cols + k])));
        inf__cpu_dequant_range(&m.w, r, 7, cols - 9, row);
        for (int64_t k = 0; k < cols - 9; k++)
            dq = fmax(dq, fabs(row[k] - m.ref[r * cols + k + 7]) / fmax(1.0, fabs(m.ref[r * cols + k + 7])));
    }
    CHECK_MSG(dq < 1e-6, "%s dequant off by %g (relative)", fmt_name(fmt), dq);
    free(row);
    mat_free(&m);
}

static void test_f16_specials(void) {
    CHECK(inf__f16_to_f32(0x0000) == 0.0f);
    CHECK(signbit(inf__f16_to_f32(0x8000)));
    CHECK(inf__f16_to_f32(0x3c00) == 1.0f);
    CHECK(inf__f16_to_f32(0xc000) == -2.0f);
    CHECK(inf__f16_to_f32(0x7bff) == 65504.0f);
    CHECK(inf__f16_to_f32(0x0001) == ldexpf(1.0f, -24));       /* smallest subnormal */
    CHECK(inf__f16_to_f32(0x03ff) == ldexpf(1023.0f, -24));    /* largest subnormal */
    CHECK(isinf(inf__f16_to_f32(0x7c00)));
    CHECK(isnan(inf__f16_to_f32(0x7e00)));
    CHECK(inf__bf16_to_f32(0x3f80) == 1.0f);
}

static void test_vec(const inf__cpu_kernels *fast) {
    if (!fast) return;
    for (int n = 1; n < 70; n += 7) {
        float a[80], b[80], y1[80], y2[80];
        for (int i = 0; i < n; i++) { a[i] = (float)urand(); b[i] = (float)urand(); y1[i] = y2[i] = (float)urand(); }
        CHECK_NEAR(fast->dot(a, b, n), inf__cpu_kernels_ref.dot(a, b, n), 1e-4);
        fast->axpy(0.7f, a, y1, n);
        inf__cpu_kernels_ref.axpy(0.7f, a, y2, n);
        double d = 0;
        for (int i = 0; i < n; i++) d = fmax(d, fabs(y1[i] - y2[i]));
        CHECK(d < 1e-6);
    }
}

/* Attention score/value kernels: fast vs reference over head sizes that
 * take the vector paths (multiples of 8 / 32) and the fallbacks. */
static void test_attn(const inf__cpu_kernels *fast) {
    if (!fast) return;
    const int hds[] = {32, 64, 128, 48, 24, 20, 128, 64, 96};
    const int nqs[] = {3, 1, 2, 5, 8, 32, 32, 13, 9};
    for (size_t hi = 0; hi < sizeof hds / sizeof hds[0]; hi++) {
        const int hd = hds[hi], nq = nqs[hi], m = 37, ldk = hd * 2 + 8;
        float *q = malloc((size_t)nq * hd * 4), *k = malloc((size_t)m * ldk * 4);
        float *s1 = malloc((size_t)nq * 40 * 4), *s2 = malloc((size_t)nq * 40 * 4);
        float *o1 = malloc((size_t)nq * hd * 4), *o2 = malloc((size_t)nq * hd * 4);
        for (int i = 0; i < nq * hd; i++) q[i] = (float)(urand() * 2 - 1);
        for (int i = 0; i < m * ldk; i++) k[i] = (float)(urand() * 2 - 1);
        inf__cpu_kernels_ref.attn_scores(q, nq, k, ldk, m, hd, 0.3f, s1, 40);
        fast->attn_scores(q, nq, k, ldk, m, hd, 0.3f, s2, 40);
        double ds = 0, dv = 0;
        for (int h = 0; h < nq; h++)
            for (int j = 0; j < m; j++) ds = fmax(ds, fabs(s1[h * 40 + j] - s2[h * 40 + j]));
        /* Reuse the scores as weights, k as the values. */
        inf__cpu_kernels_ref.attn_values(s1, 40, nq, k, ldk, m, hd, o1, 0);
        fast->attn_values(s1, 40, nq, k, ldk, m, hd, o2, 0);
        for (int i = 0; i < nq * hd; i++) dv = fmax(dv, fabs(o1[i] - o2[i]));
        CHECK_MSG(ds < 1e-5 && dv < 1e-5, "attention hd %d: scores %g values %g", hd, ds, dv);
        /* add: the values in two calls (keys [0, h) then [h, m), the
         * second adding to the first's sums) are the same sums. */
        {
            const int half = m / 2;
            double da = 0;
            fast->attn_values(s1, 40, nq, k, ldk, half, hd, o2, 0);
            fast->attn_values(s1 + half, 40, nq, k + half * ldk, ldk, m - half, hd, o2, 1);
            for (int i = 0; i < nq * hd; i++) da = fmax(da, fabs(o1[i] - o2[i]));
            CHECK_MSG(da < 1e-5, "attention hd %d: values in two calls (add) differ by %g", hd, da);
            fast->attn_values(s1, 40, nq, k, ldk, m, hd, o2, 0); /* as before, for the rows check */
        }
        /* avx2: a row's result does not depend on the rows computed
         * beside it (the cpu backend blocks several tokens' queries
         * together): bit-identical to the row alone.  (avx512 switches to
         * transposed-key GEMM tiles at 8 rows, another summation order.) */
        int same = 1;
        for (int h = 0; h < nq && strcmp(fast->name, "avx2") == 0; h++) {
            float one[40], oo[128];
            fast->attn_scores(q + h * hd, 1, k, ldk, m, hd, 0.3f, one, 40);
            for (int j = 0; j < m; j++) same &= one[j] == s2[h * 40 + j];
            fast->attn_values(s1 + h * 40, 40, 1, k, ldk, m, hd, oo, 0);
            for (int i = 0; i < hd; i++) same &= oo[i] == o2[h * hd + i];
        }
        CHECK_MSG(same, "attention hd %d: %d rows together differ from one row alone", hd, nq);
        /* Softmax over rows of several lengths, with a wide range. */
        for (int len = 1; len <= 37; len += 6) {
            float a[40], b[40];
            for (int j = 0; j < len; j++) a[j] = b[j] = (float)(urand() * 60 - 50);
            inf__cpu_kernels_ref.softmax(a, len);
            fast->softmax(b, len);
            double dm = 0, sum = 0;
            for (int j = 0; j < len; j++) { dm = fmax(dm, fabs(a[j] - b[j])); sum += b[j]; }
            CHECK_MSG(dm < 1e-6 && fabs(sum - 1) < 1e-5, "softmax len %d: %g (sum %g)", len, dm, sum);
        }
        free(q); free(k); free(s1); free(s2); free(o1); free(o2);
    }
}

/* avx512's softmax is avx2's sixteen lanes at a time with the same
 * operations in the same order: equal bit for bit, at every length's
 * tails (16-lane blocks, an 8-lane block, scalar rest). */
static void test_softmax_same(const inf__cpu_kernels *avx2, const inf__cpu_kernels *avx512) {
    if (!avx2 || !avx512) return;
    int diff = 0;
    for (int len = 1; len <= 300; len++) {
        float a[300], b[300];
        for (int j = 0; j < len; j++) a[j] = b[j] = (float)(urand() * 80 - 60);
        avx2->softmax(a, len);
        avx512->softmax(b, len);
        diff += memcmp(a, b, (size_t)len * sizeof(float)) != 0;
    }
    CHECK_MSG(diff == 0, "softmax: avx512 differs from avx2 at %d of 300 lengths", diff);
}

typedef struct pool_arg { int hits[1000]; int bad_ith; int nth; } pool_arg;
/* ---- the f16 KV cache (precision fast) ---------------------------------- */

/* f32 -> f16 of the reference (inf__cpu_f32_to_f16) against independent
 * expectations: every finite half survives the round trip, the midpoint
 * between two neighbours goes to the even one, just above it to the upper
 * one; overflow, subnormals, signed zero, NaN. */
static void test_f16_round_ref(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        const uint32_t e = (h >> 10) & 0x1f;
        if (e == 31) continue; /* inf / NaN below */
        const float f = inf__f16_to_f32((uint16_t)h);
        bad += inf__cpu_f32_to_f16(f) != h;
        if ((h & 0x7fff) == 0x7bff) continue; /* 65504: next is inf, checked below */
        const double lo = f, hi = inf__f16_to_f32((uint16_t)(h + 1)); /* |h+1| > |h| */
        const float mid = (float)((lo + hi) / 2); /* exact in f32 */
        const uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        bad += inf__cpu_f32_to_f16(mid) != even;
        bad += inf__cpu_f32_to_f16(nextafterf(mid, (float)hi)) != (uint16_t)(h + 1);
        bad += inf__cpu_f32_to_f16(nextafterf(mid, (float)lo)) != (uint16_t)h;
    }
    CHECK_MSG(bad == 0, "f32 -> f16 reference: %d wrong roundings", bad);
    CHECK(inf__cpu_f32_to_f16(65519.0f) == 0x7bff);
    CHECK(inf__cpu_f32_to_f16(65520.0f) == 0x7c00);   /* the midpoint to 2^16 ties to inf */
    CHECK(inf__cpu_f32_to_f16(-1e10f) == 0xfc00);
    CHECK(inf__cpu_f32_to_f16(INFINITY) == 0x7c00);
    CHECK(inf__cpu_f32_to_f16(ldexpf(1.0f, -25)) == 0x0000);  /* half the smallest subnormal: even 0 */
    CHECK(inf__cpu_f32_to_f16(nextafterf(ldexpf(1.0f, -25), 1.0f)) == 0x0001);
    CHECK(inf__cpu_f32_to_f16(ldexpf(1.0f, -40)) == 0x0000);
    CHECK(inf__cpu_f32_to_f16(-0.0f) == 0x8000);
    CHECK(inf__cpu_f32_to_f16(1.0f) == 0x3c00);
    const uint16_t qn = inf__cpu_f32_to_f16(NAN);
    CHECK(((qn >> 10) & 0x1f) == 0x1f && (qn & 0x3ff) != 0);
}

/* A set's kv_round against the reference on random f32 bit patterns of
 * every exponent (subnormal, overflow, NaN included) and lengths that
 * leave vector tails: bit for bit (x86: F16C's conversion). */
static void test_f16_round(const inf__cpu_kernels *k) {
    enum { N = 4099 };
    float *x = malloc(N * sizeof *x);
    uint16_t *y = malloc(N * sizeof *y);
    int bad = 0;
    for (int rep = 0; rep < 40; rep++) {
        for (int i = 0; i < N; i++) {
            uint32_t u = rnd() << 16 ^ rnd();
            /* half the values near the f16 range, where rounding matters */
            if (i & 1) u = (u & 0x807fffffu) | ((uint32_t)(100 + rnd() % 45) << 23);
            memcpy(&x[i], &u, 4);
        }
        const int n = N - rep % 17;
        k->kv_round(x, y, n);
        for (int i = 0; i < n; i++) bad += y[i] != inf__cpu_f32_to_f16(x[i]);
    }
    CHECK_MSG(bad == 0, "%s kv_round: %d values differ from the reference", k->name, bad);
    free(x); free(y);
}

/* A set's f16 attention kernels against its own f32 kernels (and the
 * reference's) on f16-representable keys and values: the same sums up to
 * accumulation order; with the same code path (every set here widens in
 * registers and keeps the f32 kernels' order) bit for bit.  Strided rows
 * (ld > hd), partial blocks (m 37, 5) and a full one (32), and 517
 * values (avx2 converts f16 values in chunks of 256 for 4+ rows, carrying
 * the sums across chunks: 256 + 256 + 5, an odd tail), the head sizes of
 * test_attn, 1-32 query rows (avx512 takes 8+ rows as GEMM tiles). */
static void test_attn_f16(const inf__cpu_kernels *k) {
    const int hds[] = {32, 64, 128, 48, 24, 20, 128, 64, 96, 128};
    const int nqs[] = {3, 1, 2, 5, 8, 32, 32, 13, 9, 1};
    const int ms[] = {37, 32, 5, 517};
    double worst_ref = 0;
    for (size_t hi = 0; hi < sizeof hds / sizeof hds[0]; hi++)
        for (size_t mi = 0; mi < sizeof ms / sizeof ms[0]; mi++) {
            const int hd = hds[hi], nq = nqs[hi], m = ms[mi], ld = hd * 2 + 8, lds = m > 37 ? m + 3 : 40;
            float *q = malloc((size_t)nq * hd * 4), *kf = malloc((size_t)m * ld * 4);
            uint16_t *kh = malloc((size_t)m * ld * 2);
            float *s1 = malloc((size_t)nq * lds * 4), *s2 = malloc((size_t)nq * lds * 4);
            float *s3 = malloc((size_t)nq * lds * 4);
            float *o1 = malloc((size_t)nq * hd * 4), *o2 = malloc((size_t)nq * hd * 4);
            float *o3 = malloc((size_t)nq * hd * 4);
            for (int i = 0; i < nq * hd; i++) q[i] = (float)(urand() * 2 - 1);
            for (int i = 0; i < m * ld; i++) {
                double v;
                kh[i] = rand_f16(&v);
                kf[i] = (float)v;
            }
            k->attn_scores(q, nq, kf, ld, m, hd, 0.3f, s1, lds);
            k->attn_scores_f16(q, nq, kh, ld, m, hd, 0.3f, s2, lds);
            inf__cpu_kernels_ref.attn_scores(q, nq, kf, ld, m, hd, 0.3f, s3, lds);
            int same = 1;
            double ds = 0, dr = 0, mag = 0;
            for (int h = 0; h < nq; h++)
                for (int j = 0; j < m; j++) {
                    const float a = s1[h * lds + j], b = s2[h * lds + j];
                    same &= memcmp(&a, &b, 4) == 0;
                    ds = fmax(ds, fabs(a - b));
                    dr = fmax(dr, fabs(s3[h * lds + j] - b));
                    mag = fmax(mag, fabs(s3[h * lds + j]));
                }
            /* the scores as probabilities-like weights, kh/kf as values */
            k->attn_values(s3, lds, nq, kf, ld, m, hd, o1, 0);
            k->attn_values_f16(s3, lds, nq, kh, ld, m, hd, o2, 0);
            inf__cpu_kernels_ref.attn_values(s3, lds, nq, kf, ld, m, hd, o3, 0);
            double dv = 0, dvr = 0;
            for (int i = 0; i < nq * hd; i++) {
                same &= memcmp(&o1[i], &o2[i], 4) == 0;
                dv = fmax(dv, fabs(o1[i] - o2[i]));
                dvr = fmax(dvr, fabs(o3[i] - o2[i]));
                mag = fmax(mag, fabs(o3[i]));
            }
            worst_ref = fmax(worst_ref, fmax(dr, dvr) / (mag > 1 ? mag : 1));
            /* sums of up to 128 products of magnitude < 4: f32 rounding of
             * another order stays far below 1e-4 relative */
            CHECK_MSG(fmax(dr, dvr) <= 1e-5 * (mag > 1 ? mag : 1),
                      "%s f16 attention hd %d nq %d m %d vs reference f32: scores %g values %g", k->name,
                      hd, nq, m, dr, dvr);
            CHECK_MSG(same, "%s f16 attention hd %d nq %d m %d differs from its f32 kernels: scores %g values %g",
                      k->name, hd, nq, m, ds, dv);
            free(q); free(kf); free(kh); free(s1); free(s2); free(s3); free(o1); free(o2); free(o3);
        }
    printf("%s: f16 attention = its f32 kernels bit for bit; vs reference f32 max rel diff %.2g\n",
           k->name, worst_ref);
}

static void test_kv_f16(const inf__cpu_kernels *k) {
    if (!k) return;
    CHECK(k->kv_round && k->attn_scores_f16 && k->attn_values_f16);
    if (!k->kv_round || !k->attn_scores_f16 || !k->attn_values_f16) return;
    test_f16_round(k);
    test_attn_f16(k);
}

static void pool_fn(void *arg, int64_t chunk, int ith) {
    pool_arg *p = arg;
    __atomic_fetch_add(&p->hits[chunk], 1, __ATOMIC_RELAXED);
    if (ith < 0 || ith >= p->nth) __atomic_fetch_add(&p->bad_ith, 1, __ATOMIC_RELAXED);
}

static void test_pool(void) {
    for (int nt = 1; nt <= 4; nt++) {
        inf__pool *p = NULL;
        inf__err e;
        CHECK_EQ_INT(inf__pool_create(nt, &p, &e), INF_OK);
        if (!p) continue;
        CHECK_EQ_INT(inf__pool_size(p), nt);
        /* Every chunk runs exactly once per job, whatever the chunk count;
         * 0 chunks runs nothing. */
        pool_arg a;
        memset(&a, 0, sizeof a);
        a.nth = nt;
        int64_t expect[1000] = {0};
        for (int it = 0; it < 2000; it++) {
            int64_t n = (it * 37) % 1000;
            inf__pool_run(p, pool_fn, &a, n);
            for (int64_t c = 0; c < n; c++) expect[c]++;
        }
        int same = 1;
        for (int c = 0; c < 1000; c++) same &= a.hits[c] == expect[c];
        CHECK_MSG(same, "pool of %d: a chunk ran the wrong number of times", nt);
        CHECK_EQ_INT(a.bad_ith, 0);
        inf__pool_free(p);
    }
    inf__pool_free(NULL);
}

/* Precision fast (int8 activations): one token of MLX4/MLX8 against the exact
 * product.  Quantising x per block of 32 (scale amax/127, round to nearest)
 * moves each x_k by at most amax_b/254, so |y - exact| <= sum_k |w_k|
 * amax_b(k)/254 (plus f32 rounding): the bound is derived, not fitted.
 * Several tokens must match the exact kernels (1e-5 relative). */
/* quantised: 1 when the shape takes the int8 path (cols % 64 == 0, group
 * 32 or a multiple of 64 (MLX4) / of 32 (MLX8)), 0 when it must fall back to
 * the exact kernels. */
static void test_q8(inf__wfmt fmt, int64_t rows, int64_t cols, int group, inf__dtype sb,
                    int quantised) {
    /* precision fast's one-token MLX products (kernels_q8.c), on AVX2 */
    const inf__cpu_kernels *q8 = inf__cpu_kernels_fast();
    if (!inf__cpu_kernels_avx2()) return;
    mat m = make_mat(fmt, rows, cols, group, sb);
    double worst = 0, worst_err = 0, worst_multi = 0;
    for (int n = 1; n <= 3; n += 2) {
        const int64_t ldx = cols + 3, ldy = rows + 5;
        float *x = malloc((size_t)(n * ldx) * 4);
        for (int64_t i = 0; i < n * ldx; i++) /* blocks of very different size */
            x[i] = (float)((urand() * 2 - 1) * ((i / 32) % 3 == 0 ? 10.0 : (i / 32) % 3 == 1 ? 0.01 : 1.0));
        float *yq = calloc((size_t)(n * ldy), 4), *yr = calloc((size_t)(n * ldy), 4);
        q8->matmul_rows(&m.w, x, ldx, n, yq, ldy, 0, rows / 3);
        q8->matmul_rows(&m.w, x, ldx, n, yq, ldy, rows / 3, rows);
        inf__cpu_kernels_ref.matmul_rows(&m.w, x, ldx, n, yr, ldy, 0, rows);
        for (int64_t t = 0; t < n; t++)
            for (int64_t r = 0; r < rows; r++) {
                double e = 0, bound = 0, mag = 0;
                for (int64_t k = 0; k < cols; k++) {
                    double amax = 0;
                    for (int64_t j = k / 32 * 32; j < k / 32 * 32 + 32 && j < cols; j++) amax = fmax(amax, fabs(x[t * ldx + j]));
                    e += m.ref[r * cols + k] * x[t * ldx + k];
                    bound += fabs(m.ref[r * cols + k]) * amax / 254;
                    mag += fabs(m.ref[r * cols + k] * x[t * ldx + k]);
                }
                const double d = fabs(yq[t * ldy + r] - e);
                if (n == 1) {
                    worst = fmax(worst, d / (bound * 1.001 + 1e-5 * fmax(mag, 1)));
                    worst_err = fmax(worst_err, d / fmax(mag, 1));
                } else {
                    worst_multi = fmax(worst_multi, fabs(yq[t * ldy + r] - yr[t * ldy + r]) / fmax(mag, 1));
                }
            }
        free(x); free(yq); free(yr);
    }
    printf("  fast %-5s %3lldx%-5lld group %-3d  1 token: error %.2e (rel), %.2f of the bound; 3 tokens vs ref %.2e\n",
           fmt_name(fmt), (long long)rows, (long long)cols, group, worst_err, worst, worst_multi);
    CHECK_MSG(worst <= 1.0, "fast %s beyond the quantisation bound (%.3f)", fmt_name(fmt), worst);
    if (quantised) CHECK_MSG(worst_err > 1e-5, "fast %s exact: x was not quantised?", fmt_name(fmt));
    else CHECK_MSG(worst_err < 1e-5, "fast %s should fall back to exact kernels (%g)", fmt_name(fmt), worst_err);
    CHECK_MSG(worst_multi < 1e-5, "fast %s several tokens off by %g", fmt_name(fmt), worst_multi);
    mat_free(&m);
}

/* Precision fast, MLX weights at 1-17 tokens through matmul_q8 (the row
 * kernels, the token-lane kernel for batched decode at 5-16, the panels
 * above): against the portable integer matmul (same rounded x, another
 * summation order: 1e-5 of sum |w x|), and the same bits whatever the row
 * split. */
static void test_q8_mlx_tokens(inf__wfmt fmt, int64_t rows, int64_t cols, int group, inf__dtype sb) {
    if (rows < 20) abort(); /* the row splits below reach row 20 */
    const inf__cpu_kernels *fast = inf__cpu_kernels_fast();
    if (!fast->q8_takes) return;
    mat m = make_mat(fmt, rows, cols, group, sb);
    enum { NMAX = 67 }; /* 1-17, then across avx2-fast's 64-token tile */
    static const int64_t more[] = {31, 64, 65, 67};
    float *x = malloc((size_t)(NMAX * cols) * 4);
    for (int64_t i = 0; i < NMAX * cols; i++) x[i] = (float)((urand() * 2 - 1) * ((i / 32) % 3 == 0 ? 4.0 : 1.0));
    inf__cpu_xq q = {NMAX, cols, cols, malloc((size_t)(NMAX * cols)), malloc((size_t)(NMAX * cols / 32) * 4),
                     malloc((size_t)(NMAX * cols / 32) * 4)};
    inf__cpu_q8_quantize(x, cols, 0, NMAX, &q);
    float *yr = malloc((size_t)(NMAX * rows) * 4), *yk = malloc((size_t)(NMAX * rows) * 4);
    float *ys = malloc((size_t)(NMAX * rows) * 4);
    float *yn = malloc((size_t)(NMAX * rows) * 4);
    q.n = NMAX;
    const int all_n = fast->q8_takes(&m.w, NMAX);
    if (all_n) fast->matmul_q8(&m.w, &q, yn, rows, 0, rows);
    double worst = 0;
    int split_same = 1, taken = 0, same_tokens = 1;
    for (int64_t i = 0; i < 17 + (int64_t)(sizeof more / sizeof more[0]); i++) {
        const int64_t n = i < 17 ? i + 1 : more[i - 17];
        q.n = n;
        if (!fast->q8_takes(&m.w, n)) continue;
        taken += n <= 17;
        inf__cpu_q8_matmul_ref(&m.w, &q, yr, rows, 0, rows);
        fast->matmul_q8(&m.w, &q, yk, rows, 0, rows);
        fast->matmul_q8(&m.w, &q, ys, rows, 0, 3);
        fast->matmul_q8(&m.w, &q, ys, rows, 3, 20);
        fast->matmul_q8(&m.w, &q, ys, rows, 20, rows);
        split_same &= memcmp(yk, ys, (size_t)(n * rows) * 4) == 0;
        same_tokens &= all_n && memcmp(yk, yn, (size_t)(n * rows) * 4) == 0;
        for (int64_t t = 0; t < n; t++)
            for (int64_t r = 0; r < rows; r++) {
                double mag = 0;
                for (int64_t k = 0; k < cols; k++) mag += fabs(m.ref[r * cols + k] * x[t * cols + k]);
                worst = fmax(worst, fabs(yk[t * rows + r] - yr[t * rows + r]) / fmax(mag, 1));
            }
    }
    printf("  fast %-5s %3lldx%-5lld group %-3d matmul_q8 at 1-17, 31, 64-67 tokens (%d of 1-17 taken) vs the "
           "portable one: %.2e (rel)\n", fmt_name(fmt), (long long)rows, (long long)cols, group, taken, worst);
    /* the AVX-512 VNNI set takes MLX at every count; avx2-fast's integer
     * hooks take stored MLX8 from 3 tokens (kernels_q8_gg.c: fewer take
     * its matmul_rows) and stored MLX4 not at all (it runs repacked) */
    const int avx2_mlx8 = fmt == INF__W_MLX8 && !__builtin_cpu_supports("avx512vnni");
    if (taken == 0 && !__builtin_cpu_supports("avx512vnni") && fmt != INF__W_MLX8) {
        free(yn);
        free(q.q); free(q.d); free(q.s); free(x); free(yr); free(yk); free(ys);
        mat_free(&m);
        return;
    }
    CHECK_MSG(taken >= (avx2_mlx8 ? 15 : 16), "fast %s: matmul_q8 took only %d of 17 token counts", fmt_name(fmt),
              taken);
    CHECK_MSG(worst <= 1e-5, "fast %s matmul_q8 off the portable integer matmul by %g", fmt_name(fmt), worst);
    CHECK_MSG(split_same, "fast %s matmul_q8: result depends on the row split", fmt_name(fmt));
    /* avx2-fast's MLX8 tile: a token's outputs the same bits whatever the
     * token count (tokens go 2 at a time and 1, 64 per tile) */
    if (avx2_mlx8)
        CHECK_MSG(same_tokens, "fast %s matmul_q8: a token's outputs depend on the token count", fmt_name(fmt));
    free(yn);
    free(q.q); free(q.d); free(q.s); free(x); free(yr); free(yk); free(ys);
    mat_free(&m);
}

/* 1 when every row of the repacked matrix p reads back (dequant_row, as a
 * tied embedding table's lookups do) bit for bit as the stored w's. */
static int same_rows(const inf__weight *w, const inf__weight *p) {
    float *a = malloc((size_t)w->cols * 4), *b = malloc((size_t)w->cols * 4);
    int same = 1;
    for (int64_t r = 0; r < w->rows; r++) {
        inf__cpu_dequant_row(w, r, a);
        inf__cpu_dequant_row(p, r, b);
        same &= memcmp(a, b, (size_t)w->cols * 4) == 0;
    }
    free(a);
    free(b);
    return same;
}

/* Precision fast's repacked MLX (kernels.h: pack; INF__W_MLX8_R16,
 * INF__W_MLX4_R16: rows interleaved 16 at a time), where the set has it:
 * every byte of the layout written (two packs over different fillings
 * agree, the second in one call, the first in two), rows read back (a tied
 * embedding's lookups) bit for bit as stored and the missing rows of the
 * last group as 0, q8_takes takes every token count, and the products at
 * 1-40 tokens (the 16-row kernel, the panels) within 1e-5 of sum |w x| of
 * the portable integer matmul on the stored matrix, whatever the row split;
 * groups the interleaved kernel does not take stay as stored. */
static void test_mlx_r16(inf__wfmt fmt, int64_t rows, int64_t cols, int group, inf__dtype sb, int packs) {
    const inf__cpu_kernels *fast = inf__cpu_kernels_fast();
    mat m = make_mat(fmt, rows, cols, group, sb);
    const int64_t bytes = fast->pack_bytes ? fast->pack_bytes(&m.w) : 0;
    if (!packs || bytes == 0) {
        printf("  fast %s %lldx%lld group %d: read as stored\n", fmt_name(fmt), (long long)rows, (long long)cols, group);
        CHECK_MSG(!packs, "fast %s group %d: not repacked", fmt_name(fmt), group);
        CHECK_MSG(bytes == 0 || packs, "fast %s group %d: repacked where it should not be", fmt_name(fmt), group);
        mat_free(&m);
        return;
    }
    const int64_t groups = (rows + 15) / 16;
    CHECK(bytes == groups * inf__mlxr16_group_bytes(&m.w) && bytes % 64 == 0 && fast->pack_rows % 16 == 0);
    uint8_t *buf = aligned_alloc(64, (size_t)bytes), *one = aligned_alloc(64, (size_t)bytes);
    memset(buf, 0xa5, (size_t)bytes);
    memset(one, 0x5a, (size_t)bytes);
    inf__weight pw, pw2;
    fast->pack(&m.w, 0, 16, buf, &pw);
    fast->pack(&m.w, 16, rows, buf, &pw2);
    CHECK(pw.fmt == (fmt == INF__W_MLX8 ? INF__W_MLX8_R16 : INF__W_MLX4_R16) && pw.data == buf && pw.rows == rows &&
          pw.cols == cols && !pw.scales && !pw.biases);
    CHECK(memcmp(&pw, &pw2, sizeof pw) == 0);
    fast->pack(&m.w, 0, rows, one, &pw2);
    CHECK_MSG(memcmp(buf, one, (size_t)bytes) == 0, "fast %s repacked: a byte left unwritten, or two calls differ",
              fmt_name(fmt));
    free(one);
    CHECK_MSG(same_rows(&m.w, &pw), "fast %s repacked: dequant_row differs from the stored rows", fmt_name(fmt));
    int pad_zero = 1;
    float *z = malloc((size_t)cols * 4);
    for (int64_t r = rows; r < groups * 16; r++) {
        inf__cpu_dequant_row(&pw, r, z);
        for (int64_t k = 0; k < cols; k++) pad_zero &= z[k] == 0;
    }
    free(z);
    CHECK_MSG(pad_zero, "fast %s repacked: the missing rows are not zero", fmt_name(fmt));
    enum { NMAX = 40 };
    float *x = malloc((size_t)(NMAX * cols) * 4);
    for (int64_t i = 0; i < NMAX * cols; i++) x[i] = (float)(urand() * 2 - 1);
    inf__cpu_xq q = {NMAX, cols, cols, malloc((size_t)(NMAX * cols)), malloc((size_t)(NMAX * cols / 32) * 4),
                     malloc((size_t)(NMAX * cols / 32) * 4)};
    fast->q8_quantize(x, cols, 0, NMAX, &q);
    float *yr = malloc((size_t)(NMAX * rows) * 4), *yp = malloc((size_t)(NMAX * rows) * 4);
    float *ys = malloc((size_t)(NMAX * rows) * 4);
    const int ns[] = {1, 2, 3, 4, 5, 13, 16, 17, 40};
    int split_same = 1, taken = 1;
    double worst = 0;
    for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
        q.n = ns[ni];
        taken &= fast->q8_takes(&pw, q.n);
        inf__cpu_q8_matmul_ref(&m.w, &q, yr, rows, 0, rows);
        fast->matmul_q8(&pw, &q, yp, rows, 0, rows);
        fast->matmul_q8(&pw, &q, ys, rows, 0, rows / 3 + 1);
        fast->matmul_q8(&pw, &q, ys, rows, rows / 3 + 1, rows);
        split_same &= memcmp(yp, ys, (size_t)(q.n * rows) * 4) == 0;
        for (int64_t t = 0; t < q.n; t++)
            for (int64_t r = 0; r < rows; r++) {
                double mag = 0;
                for (int64_t k = 0; k < cols; k++) mag += fabs(m.ref[r * cols + k] * x[t * cols + k]);
                worst = fmax(worst, fabs(yp[t * rows + r] - yr[t * rows + r]) / (mag > 1e-30 ? mag : 1));
            }
    }
    printf("  fast %s repacked %3lldx%-5lld group %-3d: 1-40 tokens within %.2e of the portable integer matmul\n",
           fmt_name(fmt), (long long)rows, (long long)cols, group, worst);
    CHECK_MSG(taken, "fast %s repacked: q8_takes must take every token count", fmt_name(fmt));
    CHECK_MSG(worst <= 1e-5, "fast %s repacked: off the portable integer matmul by %g", fmt_name(fmt), worst);
    CHECK_MSG(split_same, "fast %s repacked: the result depends on the row split", fmt_name(fmt));
    free(q.q); free(q.d); free(q.s); free(x); free(yr); free(yp); free(ys); free(buf);
    mat_free(&m);
}

/* Precision fast: BF16 weights, several tokens, x rounded to
 * bfloat16.  Bound: each product moves by at most |w x| 2^-8 (x's rounding;
 * the dot-product accumulation adds a little), so the error relative to
 * sum |w x| must stay below 2^-7, and must not be 0 (x was rounded).
 * Fewer than 5 tokens and other formats: the exact avx512 result. */
static void test_bf16(int64_t rows, int64_t cols) {
    /* precision fast's BF16 prefill (kernels_amx.c or kernels_bf16.c) */
    const inf__cpu_kernels *bf = inf__cpu_kernels_fast();
    const char *layer = inf__cpu_kernels_fast_bf16();
    if (!layer) {
        printf("  fast BF16 prefill: exact on this processor (no AMX-BF16, no AVX512_BF16 off Intel)\n");
        return;
    }
    mat m = make_mat(INF__W_BF16, rows, cols, 0, INF__DT_F32);
    const int ns[] = {3, 5, 13, 29, 40}; /* AMX: 1 or 2 tiles of tokens, part of the second */
    double worst = 0, worst_small = 0;
    for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
        const int64_t n = ns[ni], ldx = cols + 7, ldy = rows + 3;
        float *x = malloc((size_t)(n * ldx) * 4);
        for (int64_t i = 0; i < n * ldx; i++) x[i] = (float)(urand() * 2 - 1);
        float *yr = calloc((size_t)(n * ldy), 4), *yb = calloc((size_t)(n * ldy), 4);
        const int64_t mid = rows / 3 + 1;
        inf__cpu_kernels_ref.matmul_rows(&m.w, x, ldx, n, yr, ldy, 0, rows);
        bf->matmul_rows(&m.w, x, ldx, n, yb, ldy, 0, mid);
        bf->matmul_rows(&m.w, x, ldx, n, yb, ldy, mid, rows);
        for (int64_t t = 0; t < n; t++)
            for (int64_t r = 0; r < rows; r++) {
                double mag = 0;
                for (int64_t k = 0; k < cols; k++) mag += fabs(m.ref[r * cols + k] * x[t * ldx + k]);
                const double e = fabs(yb[t * ldy + r] - yr[t * ldy + r]) / (mag > 1e-30 ? mag : 1);
                if (n > 4) worst = fmax(worst, e);
                else worst_small = fmax(worst_small, e);
            }
        int pad_ok = 1;
        for (int64_t t = 0; t < n; t++)
            for (int64_t r = rows; r < ldy; r++) pad_ok &= yb[t * ldy + r] == 0;
        CHECK_MSG(pad_ok, "fast BF16 wrote outside its rows");
        free(x); free(yr); free(yb);
    }
    printf("  fast BF16 (%s) %3lldx%-5lld 5+ tokens: error %.2e of sum|wx|; 3 tokens %.2e\n", layer,
           (long long)rows, (long long)cols, worst, worst_small);
    CHECK_MSG(worst < 1.0 / 128, "fast BF16 error %g (bound 2^-7)", worst);
    /* x rounded (the error is far above f32 rounding), except where AMX
     * leaves the shape to the exact kernels (cols % 32 != 0) */
    if (strcmp(layer, "amx") == 0 && cols % 32 != 0)
        CHECK_MSG(worst < 1e-5, "fast BF16 %lld columns should stay exact under AMX (%g)", (long long)cols, worst);
    else
        CHECK_MSG(worst > 1e-5, "fast BF16 (%s): x was not rounded? (%g)", layer, worst);
    CHECK_MSG(worst_small < 1e-5, "fast BF16 3 tokens should be exact (%g)", worst_small);
    mat_free(&m);
}

/* Precision fast's repacked BF16 (kernels.h: pack; INF__W_BF16_R32), where
 * the set has it: 5+ tokens bit for bit the result from the matrix as
 * stored (the same products, summed in the same order), 1-4 tokens with x
 * rounded to bf16 too (within 2^-7 of sum |w x|, and not exact); row
 * ranges that split a panel, a zero-padded tail panel, more columns than
 * one pass of the decode kernel (16384), the padding of y untouched. */
static void test_bf16_packed(int64_t rows, int64_t cols) {
    const inf__cpu_kernels *bf = inf__cpu_kernels_fast();
    mat m = make_mat(INF__W_BF16, rows, cols, 0, INF__DT_F32);
    const int64_t bytes = bf->pack_bytes ? bf->pack_bytes(&m.w) : 0;
    if (bytes == 0) {
        printf("  fast BF16 %lldx%lld: read as stored (no repacked layout here)\n", (long long)rows,
               (long long)cols);
        mat_free(&m);
        return;
    }
    CHECK(bytes >= rows * cols * 2 && bf->pack_rows > 0);
    void *buf = aligned_alloc(64, (size_t)(bytes + 63) / 64 * 64);
    inf__weight pw, pw2;
    const int64_t cut = bf->pack_rows < rows ? bf->pack_rows : rows; /* two calls, as two chunks */
    bf->pack(&m.w, 0, cut, buf, &pw);
    bf->pack(&m.w, cut, rows, buf, &pw2);
    CHECK(pw.fmt == INF__W_BF16_R32 && pw.data == buf && pw.rows == rows && pw.cols == cols);
    CHECK(memcmp(&pw, &pw2, sizeof pw) == 0);
    CHECK(bf->q8_takes == NULL || bf->q8_takes(&pw, 40) == 0);
    /* rows read back (a tied embedding table's lookups): the stored values */
    CHECK_MSG(same_rows(&m.w, &pw), "fast BF16 repacked: dequant_row differs from the stored rows");
    const int ns[] = {1, 2, 3, 4, 5, 13, 29, 40};
    double worst_small = 0;
    int same = 1, pad_ok = 1;
    for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
        const int64_t n = ns[ni], ldx = cols + 7, ldy = rows + 3, mid = rows / 3 + 1;
        float *x = malloc((size_t)(n * ldx) * 4);
        for (int64_t i = 0; i < n * ldx; i++) x[i] = (float)(urand() * 2 - 1);
        float *yr = calloc((size_t)(n * ldy), 4), *ys = calloc((size_t)(n * ldy), 4),
              *yp = calloc((size_t)(n * ldy), 4);
        inf__cpu_kernels_ref.matmul_rows(&m.w, x, ldx, n, yr, ldy, 0, rows);
        bf->matmul_rows(&m.w, x, ldx, n, ys, ldy, 0, rows);
        bf->matmul_rows(&pw, x, ldx, n, yp, ldy, 0, mid);
        bf->matmul_rows(&pw, x, ldx, n, yp, ldy, mid, rows);
        /* x converted once (xb_convert, two calls as the pool's chunks;
         * capacity above n), then the two row ranges: bit for bit */
        if (bf->xb_takes && bf->xb_takes(&pw, n)) {
            const int64_t cap = n + 3;
            uint32_t *xb = aligned_alloc(64, (size_t)(bf->xb_plane(cap, cols) * 4 + 63) / 64 * 64);
            float *yx = calloc((size_t)(n * ldy), 4);
            bf->xb_convert(x, ldx, 0, n / 2, cols, xb, cap);
            bf->xb_convert(x, ldx, n / 2, n, cols, xb, cap);
            bf->matmul_xb(&pw, xb, cap, n, yx, ldy, 0, mid);
            bf->matmul_xb(&pw, xb, cap, n, yx, ldy, mid, rows);
            CHECK_MSG(memcmp(yx, yp, (size_t)(n * ldy) * 4) == 0,
                      "fast BF16 %lldx%lld, %lld tokens: matmul_xb differs from matmul_rows", (long long)rows,
                      (long long)cols, (long long)n);
            free(yx);
            free(xb);
        }
        for (int64_t t = 0; t < n; t++) {
            for (int64_t r = 0; r < rows; r++) {
                if (n > 4) {
                    same &= yp[t * ldy + r] == ys[t * ldy + r];
                    continue;
                }
                double mag = 0;
                for (int64_t k = 0; k < cols; k++) mag += fabs(m.ref[r * cols + k] * x[t * ldx + k]);
                worst_small = fmax(worst_small, fabs(yp[t * ldy + r] - yr[t * ldy + r]) / (mag > 1e-30 ? mag : 1));
            }
            for (int64_t r = rows; r < ldy; r++) pad_ok &= yp[t * ldy + r] == 0;
        }
        free(x); free(yr); free(ys); free(yp);
    }
    printf("  fast BF16 repacked %3lldx%-5lld 5+ tokens %s the matrix as stored; 1-4 tokens %.2e of sum|wx|\n",
           (long long)rows, (long long)cols, same ? "equal to" : "DIFFER from", worst_small);
    CHECK_MSG(same, "fast BF16 repacked: 5+ tokens differ from the stored matrix's result");
    CHECK_MSG(worst_small < 1.0 / 128, "fast BF16 repacked 1-4 tokens off by %g (bound 2^-7)", worst_small);
    CHECK_MSG(worst_small > 1e-5, "fast BF16 repacked 1-4 tokens: x was not rounded? (%g)", worst_small);
    CHECK_MSG(pad_ok, "fast BF16 repacked wrote outside its rows");
    free(buf);
    mat_free(&m);
}

/* Precision fast's act_mul (kernels.h) against ops.c's: SiLU within a few
 * ulp over the range where it is not 0 or g, and the same specials. */
static void test_act_mul(void) {
    const inf__cpu_kernels *k = inf__cpu_kernels_fast();
    if (!k->act_mul) {
        printf("  act_mul: ops.c's on this processor\n");
        return;
    }
    enum { N = 4099 };
    float *g = malloc(N * 4), *g2 = malloc(N * 4), *u = malloc(N * 4);
    for (int i = 0; i < N; i++) {
        g[i] = (float)(-120.0 + 240.0 * i / (N - 1) + (urand() - 0.5) * 0.01);
        u[i] = (float)(urand() * 4 - 2);
    }
    const float sp[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 88.5f, -88.5f, 1e-30f, -1e-30f};
    for (int i = 0; i < 9; i++) { g[i * 7] = sp[i]; u[i * 7] = 1.5f; }
    memcpy(g2, g, N * 4);
    const float last = g2[N - 1];
    inf__cpu_act_mul(INF__ACT_SILU, g, u, N);
    k->act_mul(INF__ACT_SILU, g2, u, N - 3); /* a masked tail, and 3 untouched */
    double worst = 0;
    int specials = 1, same = 0;
    for (int i = 0; i < N - 3; i++) {
        if (isnan(g[i]) || isinf(g[i])) { specials &= memcmp(&g[i], &g2[i], 4) == 0 || (isnan(g[i]) && isnan(g2[i])); continue; }
        worst = fmax(worst, fabs(g2[i] - g[i]) / (fabs(g[i]) + 1e-37));
        same += memcmp(&g[i], &g2[i], 4) == 0;
    }
    printf("  fast act_mul (SiLU) vs libm: %.2e (rel), %d of %d bit for bit\n", worst, same, N - 3);
    /* libm's nearly always (kernels.h): a few differ by an ulp at most */
    CHECK_MSG(worst < 2.5e-7, "fast SiLU off by %g (relative)", worst);
    CHECK_MSG(same >= (N - 3) * 99 / 100 - 9, "fast SiLU: only %d of %d equal to libm's", same, N - 3);
    CHECK_MSG(specials, "fast SiLU: infinities or NaN differ");
    CHECK(g2[N - 1] == last); /* untouched past n */
    free(g); free(g2); free(u);
}

static void run_all(const inf__cpu_kernels *fast) {
    printf("fast kernels: %s\n", fast ? fast->name : "(none on this cpu)");
    test_format(INF__W_F32, 37, 100, 0, INF__DT_F32, fast);
    test_format(INF__W_F16, 37, 100, 0, INF__DT_F32, fast);
    test_format(INF__W_BF16, 37, 100, 0, INF__DT_F32, fast);
    test_format(INF__W_BF16, 16, 64, 0, INF__DT_F32, fast);
    const inf__dtype sbs[] = {INF__DT_F16, INF__DT_BF16, INF__DT_F32};
    for (int i = 0; i < 3; i++) {
        test_format(INF__W_MLX4, 37, 128, 32, sbs[i], fast);
        test_format(INF__W_MLX4, 20, 192, 64, sbs[i], fast);
        test_format(INF__W_MLX8, 37, 128, 64, sbs[i], fast);
        test_format(INF__W_MLX8, 9, 96, 32, sbs[i], fast);
    }
    test_format(INF__W_MLX4, 11, 48, 12, INF__DT_F16, fast); /* group not a multiple of 8 */
    /* Several 512-column tiles, dense tails, group 128. */
    test_format(INF__W_BF16, 13, 1100, 0, INF__DT_F32, fast);
    test_format(INF__W_F16, 9, 1029, 0, INF__DT_F32, fast);
    test_format(INF__W_MLX4, 12, 1152, 128, INF__DT_BF16, fast);
    test_format(INF__W_MLX4, 12, 1088, 32, INF__DT_F16, fast);
    test_format(INF__W_MLX8, 12, 1088, 64, INF__DT_F16, fast);
    test_vec(fast);
    test_attn(fast);
}

int main(void) {
    test_f16_specials();
    /* Every fast set this processor has, each against the reference. */
    const inf__cpu_kernels *avx2 = inf__cpu_kernels_avx2(), *avx512 = inf__cpu_kernels_avx512();
    run_all(avx2);
    if (avx512) run_all(avx512);
    test_softmax_same(avx2, avx512);
    CHECK(inf__cpu_kernels_select("reference") == &inf__cpu_kernels_ref);
    CHECK(inf__cpu_kernels_select(NULL) == (avx512 ? avx512 : avx2 ? avx2 : &inf__cpu_kernels_ref));
    CHECK(inf__cpu_kernels_select("avx2") == (avx2 ? avx2 : &inf__cpu_kernels_ref));
    const inf__dtype sbs[] = {INF__DT_F16, INF__DT_BF16, INF__DT_F32};
    for (int i = 0; i < 3; i++) {
        test_q8(INF__W_MLX4, 37, 128, 32, sbs[i], 1);
        test_q8(INF__W_MLX4, 20, 192, 64, sbs[i], 1);
        test_q8(INF__W_MLX8, 37, 128, 64, sbs[i], 1);
        test_q8(INF__W_MLX8, 9, 96, 32, sbs[i], 0); /* cols % 64 */
    }
    test_q8(INF__W_MLX4, 12, 1152, 128, INF__DT_BF16, 1);
    test_q8(INF__W_MLX4, 12, 1088, 32, INF__DT_F16, 1);
    test_q8(INF__W_MLX8, 12, 1088, 64, INF__DT_F16, 1);
    test_q8(INF__W_MLX8, 12, 1152, 96, INF__DT_BF16, 1);
    test_q8(INF__W_MLX4, 12, 1152, 96, INF__DT_BF16, 0); /* MLX4 group 96 */
    test_q8(INF__W_MLX4, 11, 48, 12, INF__DT_F16, 0); /* group 12 */
    test_q8_mlx_tokens(INF__W_MLX4, 37, 1056, 32, INF__DT_F16);  /* 33 blocks: a tail chunk */
    test_q8_mlx_tokens(INF__W_MLX4, 37, 1024, 64, INF__DT_BF16);
    /* MLX4's quad row kernel (cols a multiple of 512): every group size
     * from 32 to 512, every scale type, rows not a multiple of 4 */
    test_q8_mlx_tokens(INF__W_MLX4, 23, 2048, 32, INF__DT_F16);
    test_q8_mlx_tokens(INF__W_MLX4, 21, 1024, 128, INF__DT_F32);
    test_q8_mlx_tokens(INF__W_MLX4, 22, 512, 512, INF__DT_BF16);
    test_q8_mlx_tokens(INF__W_MLX4, 21, 1536, 256, INF__DT_F16);
    test_q8_mlx_tokens(INF__W_MLX8, 29, 1152, 128, INF__DT_F32);
    /* MLX8's fused row kernel (groups of 32..512 in powers of two, scales of
     * every type, a tail chunk) and a group it leaves to the decoded path */
    test_q8_mlx_tokens(INF__W_MLX8, 37, 1024, 64, INF__DT_BF16);
    test_q8_mlx_tokens(INF__W_MLX8, 21, 544, 32, INF__DT_F16);
    test_q8_mlx_tokens(INF__W_MLX8, 23, 1536, 512, INF__DT_F16);
    test_q8_mlx_tokens(INF__W_MLX8, 21, 1152, 96, INF__DT_BF16);
    /* the old opt-in names now choose an exact set (precision fast replaced them) */
    CHECK(inf__cpu_kernels_select("avx2q8")->q8_takes == NULL);
    test_bf16(37, 100);
    test_bf16(70, 1100);
    test_bf16(33, 513);
    /* AMX takes cols % 32 == 0: rows in whole panels and with a tail
     * panel, a split inside a panel, and columns long enough (16384) that
     * 40 tokens make two token blocks */
    test_bf16(64, 96);
    test_bf16(70, 1024);
    test_bf16(37, 16384);
    CHECK(inf__cpu_kernels_select("avx512bf16")->q8_takes == NULL);
    test_bf16_packed(37, 1024); /* a zero-padded tail panel */
    test_bf16_packed(64, 96);
    test_bf16_packed(70, 544);  /* a 32-column tail chunk */
    test_bf16_packed(33, 16384);
    test_bf16_packed(20, 100);  /* cols % 32: read as stored */
    /* the VNNI layer of the fast set repacks MLX (kernels_r16.c); without
     * it, the AVX2 layer repacks MLX4 (kernels_q8_gg.c) */
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    const int mlx8_packs = __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw");
    const int mlx4_packs = mlx8_packs || inf__cpu_kernels_avx2() != NULL;
#else
    const int mlx8_packs = 0, mlx4_packs = 0;
#endif
    test_mlx_r16(INF__W_MLX8, 37, 1024, 64, INF__DT_BF16, mlx8_packs);
    test_mlx_r16(INF__W_MLX8, 21, 544, 32, INF__DT_F16, mlx8_packs);  /* a 32-column tail chunk */
    test_mlx_r16(INF__W_MLX8, 23, 1536, 512, INF__DT_F32, mlx8_packs);
    test_mlx_r16(INF__W_MLX8, 20, 1152, 96, INF__DT_BF16, 0);          /* group 96: as stored */
    test_mlx_r16(INF__W_MLX4, 37, 1024, 64, INF__DT_BF16, mlx4_packs);
    test_mlx_r16(INF__W_MLX4, 21, 544, 32, INF__DT_F16, mlx4_packs);
    test_mlx_r16(INF__W_MLX4, 48, 2048, 128, INF__DT_F32, mlx4_packs);
    test_mlx_r16(INF__W_MLX4, 20, 1152, 96, INF__DT_F16, 0);
    test_act_mul();
    test_pool();
    /* The f16 KV cache: every set, exact and fast (the pool's element
     * type picks these kernels, not the precision's set). */
    test_f16_round_ref();
    test_kv_f16(&inf__cpu_kernels_ref);
    test_kv_f16(&inf__cpu_kernels_ref_fast);
    test_kv_f16(avx2);
    test_kv_f16(avx512);
    test_kv_f16(inf__cpu_kernels_fast());
    return tu_summary("test_cpu_kernels");
}
