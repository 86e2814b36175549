/* ggml's block weight formats in the cpu backend (Q8_0 .. Q6_K):
 *  - blocks built here from chosen integers by packers written from the
 *    published layouts (ggml-common.h), their values computed in double
 *    from the same integers: the dequantiser must give them (always run);
 *  - literal blocks with known values (Q4_0 d=0.5, Q8_0);
 *  - random blocks against gguf-py's numpy dequantiser (gguf/quants.py)
 *    when python3 with numpy and a gguf-py checkout are there at set-up
 *    (INF_GGUF_PY, else INF_TEST_CACHE/llama.cpp/src/gguf-py; skipped with a
 *    message otherwise);
 *  - every kernel set's matmul (1..64 tokens) against the reference set
 *    (max error / sum|w x| <= 1e-5) and the reference against the double
 *    values; results per row independent of the row split; the avx2 tile
 *    dequantiser bit-identical to dequant_range;
 *  - RoPE with adjacent pairs against the direct formula. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/cpu/kernels.h"
#include "backends/cpu/kernels_int8.h"
#include "backends/cpu/kernels_x86.h"
#include "backends/cpu/ops.h"
#include "testutil.h"

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint32_t rnd(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}
static double urand(void) { return (rnd() & 0xffffff) / 16777216.0; }
static int irand(int lo, int hi) { return lo + (int)(rnd() % (uint32_t)(hi - lo + 1)); }

/* A normal f16 with exponent e (unbiased) and random mantissa; its value. */
static uint16_t f16_make(int sign, int e, uint32_t man, double *val) {
    *val = (sign ? -1 : 1) * ldexp(1.0 + man / 1024.0, e);
    return (uint16_t)((sign << 15) | ((uint32_t)(e + 15) << 10) | (man & 0x3ff));
}
static uint16_t f16_rand(int emin, int emax, int allow_neg, double *val) {
    return f16_make(allow_neg ? (int)(rnd() & 1) : 0, irand(emin, emax), rnd() & 0x3ff, val);
}
static void put16(uint8_t *p, uint16_t h) { p[0] = (uint8_t)h; p[1] = (uint8_t)(h >> 8); }

typedef struct fmt_info { inf__wfmt f; const char *name; int elems, bytes; } fmt_info;
static const fmt_info FMTS[] = {
    {INF__W_Q8_0, "Q8_0", 32, 34},   {INF__W_Q4_0, "Q4_0", 32, 18},   {INF__W_Q4_1, "Q4_1", 32, 20},
    {INF__W_Q5_0, "Q5_0", 32, 22},   {INF__W_Q5_1, "Q5_1", 32, 24},   {INF__W_Q2_K, "Q2_K", 256, 84},
    {INF__W_Q3_K, "Q3_K", 256, 110}, {INF__W_Q4_K, "Q4_K", 256, 144}, {INF__W_Q5_K, "Q5_K", 256, 176},
    {INF__W_Q6_K, "Q6_K", 256, 210},
};
#define NFMT ((int)(sizeof FMTS / sizeof FMTS[0]))

/* ---- packers: random integers -> one block (layout) + values (double) --- */

/* Q4_0/Q4_1/Q5_0/Q5_1 nibbles: byte j = value j | value j+16 << 4; Q5's
 * fifth bits: bit j of the little-endian u32 qh = value j's. */
static void pack_nibbles(const int *q, uint8_t *qs) {
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((q[j] & 15) | (q[j + 16] & 15) << 4);
}
static void pack_qh32(const int *q, uint8_t *qh) {
    uint32_t h = 0;
    for (int j = 0; j < 32; j++) h |= (uint32_t)((q[j] >> 4) & 1) << j;
    for (int i = 0; i < 4; i++) qh[i] = (uint8_t)(h >> (8 * i));
}

/* Q4_K/Q5_K: 8 6-bit scales and mins into 12 bytes. */
static void pack_k4_scales(const int *sc, const int *mn, uint8_t *s) {
    memset(s, 0, 12);
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)(sc[j] & 63);
        s[j + 4] = (uint8_t)(mn[j] & 63);
    }
    for (int j = 4; j < 8; j++) {
        s[j + 4] = (uint8_t)((sc[j] & 15) | (mn[j] & 15) << 4);
        s[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
        s[j] |= (uint8_t)((mn[j] >> 4) << 6);
    }
}

/* Fills blk with a random block of format f and val[] with its values. */
static void make_block(inf__wfmt f, uint8_t *blk, double *val) {
    int q[256], sc[16], mn[16];
    double d, m;
    switch (f) {
    case INF__W_Q8_0:
        put16(blk, f16_rand(-10, -5, 1, &d));
        for (int j = 0; j < 32; j++) {
            q[j] = irand(-128, 127);
            blk[2 + j] = (uint8_t)(int8_t)q[j];
            val[j] = d * q[j];
        }
        break;
    case INF__W_Q4_0: case INF__W_Q4_1:
    case INF__W_Q5_0: case INF__W_Q5_1: {
        const int five = f == INF__W_Q5_0 || f == INF__W_Q5_1;
        const int has_m = f == INF__W_Q4_1 || f == INF__W_Q5_1;
        put16(blk, f16_rand(-8, -3, 1, &d));
        m = 0;
        if (has_m) put16(blk + 2, f16_rand(-6, -1, 1, &m));
        uint8_t *p = blk + (has_m ? 4 : 2);
        for (int j = 0; j < 32; j++) q[j] = irand(0, five ? 31 : 15);
        if (five) { pack_qh32(q, p); p += 4; }
        pack_nibbles(q, p);
        const int off = has_m ? 0 : (five ? 16 : 8);
        for (int j = 0; j < 32; j++) val[j] = has_m ? d * q[j] + m : d * (q[j] - off);
        break;
    }
    case INF__W_Q2_K: {
        put16(blk + 80, f16_rand(-8, -4, 1, &d));
        put16(blk + 82, f16_rand(-8, -4, 1, &m));
        for (int s = 0; s < 16; s++) {
            sc[s] = irand(0, 15); mn[s] = irand(0, 15);
            blk[s] = (uint8_t)(sc[s] | mn[s] << 4);
        }
        memset(blk + 16, 0, 64);
        for (int k = 0; k < 256; k++) {
            q[k] = irand(0, 3);
            const int h2 = k / 128, j = (k % 128) / 32, h = (k % 32) / 16, l = k % 16;
            blk[16 + 32 * h2 + 16 * h + l] |= (uint8_t)(q[k] << (2 * j));
            val[k] = d * sc[k / 16] * q[k] - m * mn[k / 16];
        }
        break;
    }
    case INF__W_Q3_K: {
        put16(blk + 108, f16_rand(-10, -5, 1, &d));
        memset(blk, 0, 108);
        for (int i = 0; i < 16; i++) {
            sc[i] = irand(-32, 31);
            const int u = sc[i] + 32;
            if (i < 8) blk[96 + i] |= (uint8_t)(u & 15);
            else blk[96 + i - 8] |= (uint8_t)((u & 15) << 4);
            blk[96 + 8 + i % 4] |= (uint8_t)((u >> 4) << (2 * (i / 4)));
        }
        for (int k = 0; k < 256; k++) {
            q[k] = irand(-4, 3);
            const int u = q[k] + 4;
            const int h2 = k / 128, j = (k % 128) / 32, h = (k % 32) / 16, l = k % 16;
            blk[32 + 32 * h2 + 16 * h + l] |= (uint8_t)((u & 3) << (2 * j));
            if (u >> 2) blk[16 * h + l] |= (uint8_t)(1u << (4 * h2 + j));
            val[k] = d * sc[k / 16] * q[k];
        }
        break;
    }
    case INF__W_Q4_K: case INF__W_Q5_K: {
        const int five = f == INF__W_Q5_K;
        put16(blk, f16_rand(-10, -6, 1, &d));
        put16(blk + 2, f16_rand(-10, -6, 1, &m));
        for (int s = 0; s < 8; s++) { sc[s] = irand(0, 63); mn[s] = irand(0, 63); }
        pack_k4_scales(sc, mn, blk + 4);
        uint8_t *qh = blk + 16, *qs = blk + (five ? 48 : 16);
        if (five) memset(qh, 0, 32);
        memset(qs, 0, 128);
        for (int k = 0; k < 256; k++) {
            q[k] = irand(0, five ? 31 : 15);
            const int s = k / 32, l = k % 32;
            qs[32 * (s / 2) + l] |= (uint8_t)((q[k] & 15) << (s % 2 ? 4 : 0));
            if (five) qh[l] |= (uint8_t)(((q[k] >> 4) & 1) << s);
            val[k] = d * sc[s] * q[k] - m * mn[s];
        }
        break;
    }
    case INF__W_Q6_K: {
        put16(blk + 208, f16_rand(-12, -8, 1, &d));
        memset(blk, 0, 192);
        for (int i = 0; i < 16; i++) {
            sc[i] = irand(-128, 127);
            blk[192 + i] = (uint8_t)(int8_t)sc[i];
        }
        for (int k = 0; k < 256; k++) {
            q[k] = irand(-32, 31);
            const int u = q[k] + 32;
            const int h2 = k / 128, quarter = (k % 128) / 32, l = k % 32;
            uint8_t *ql = blk + 64 * h2 + (quarter & 1 ? 32 : 0) + l;
            *ql |= (uint8_t)((u & 15) << (quarter >= 2 ? 4 : 0));
            blk[128 + 32 * h2 + l] |= (uint8_t)((u >> 4) << (2 * quarter));
            val[k] = d * sc[8 * h2 + l / 16 + 2 * quarter] * q[k];
        }
        break;
    }
    default:
        break;
    }
}

/* A rows x cols matrix of random blocks and its values in double. */
typedef struct gmat { inf__weight w; uint8_t *data; double *val; } gmat;

static gmat make_gmat(const fmt_info *fi, int64_t rows, int64_t cols) {
    gmat g;
    memset(&g, 0, sizeof g);
    const int64_t nb = rows * (cols / fi->elems);
    g.data = malloc((size_t)(nb * fi->bytes));
    g.val = malloc((size_t)(rows * cols) * sizeof(double));
    for (int64_t b = 0; b < nb; b++) make_block(fi->f, g.data + b * fi->bytes, g.val + b * fi->elems);
    g.w.fmt = fi->f;
    g.w.rows = rows;
    g.w.cols = cols;
    g.w.data = g.data;
    return g;
}
static void gmat_free(gmat *g) { free(g->data); free(g->val); }

/* ---- dequantisation ------------------------------------------------------ */

static void test_literal(void) {
    /* Q4_0, d = 0.5 (f16 0x3800): byte j = j | (15-j) << 4, so value j =
     * (j-8)*0.5 and value j+16 = (7-j)*0.5. */
    uint8_t b[18];
    put16(b, 0x3800);
    for (int j = 0; j < 16; j++) b[2 + j] = (uint8_t)(j | (15 - j) << 4);
    inf__weight w = {INF__W_Q4_0, 1, 32, b, NULL, NULL, INF__DT_F32, 0, 0};
    float out[32];
    inf__cpu_dequant_row(&w, 0, out);
    int ok = 1;
    for (int j = 0; j < 16; j++) ok &= out[j] == (j - 8) * 0.5f && out[j + 16] == (7 - j) * 0.5f;
    CHECK_MSG(ok, "Q4_0 literal block: out[0]=%g out[15]=%g out[16]=%g out[31]=%g", out[0], out[15],
              out[16], out[31]);
    /* Q8_0, d = -0.25 (f16 0xb400): q = -128, -1, 0, 1, 127, ... */
    uint8_t c[34];
    put16(c, 0xb400);
    for (int j = 0; j < 32; j++) c[2 + j] = (uint8_t)(int8_t)(j * 8 - 128);
    w.fmt = INF__W_Q8_0;
    w.data = c;
    inf__cpu_dequant_row(&w, 0, out);
    ok = 1;
    for (int j = 0; j < 32; j++) ok &= out[j] == (float)(j * 8 - 128) * -0.25f;
    CHECK_MSG(ok, "Q8_0 literal block: out[0]=%g out[31]=%g", out[0], out[31]);
    /* Q4_K: d = 1, dmin = 0.5, scales 1..8, mins 8..1, q = k % 16 */
    uint8_t k4[144];
    int sc[8], mn[8];
    put16(k4, 0x3c00);
    put16(k4 + 2, 0x3800);
    for (int s = 0; s < 8; s++) { sc[s] = s + 1 + (s >= 4 ? 40 : 0); mn[s] = 8 - s + (s >= 4 ? 20 : 0); }
    pack_k4_scales(sc, mn, k4 + 4);
    for (int j = 0; j < 4; j++)
        for (int l = 0; l < 32; l++) k4[16 + 32 * j + l] = (uint8_t)((l % 16) | ((15 - l % 16) << 4));
    w.fmt = INF__W_Q4_K;
    w.cols = 256;
    w.data = k4;
    float o4[256];
    inf__cpu_dequant_row(&w, 0, o4);
    ok = 1;
    for (int k = 0; k < 256; k++) {
        const int s = k / 32, l = k % 32, q = s % 2 ? 15 - l % 16 : l % 16;
        ok &= o4[k] == (float)(sc[s] * q) - 0.5f * (float)mn[s];
    }
    CHECK_MSG(ok, "Q4_K literal block: o[0]=%g o[255]=%g", o4[0], o4[255]);
}

/* Every format: random blocks from the packers, dequant_row and partial
 * dequant_range against the double values. */
static void test_packed(void) {
    for (int i = 0; i < NFMT; i++) {
        const fmt_info *fi = &FMTS[i];
        gmat g = make_gmat(fi, 3, 4 * 256);
        float *out = malloc((size_t)g.w.cols * sizeof(float));
        double maxe = 0;
        int64_t bad = 0;
        for (int64_t r = 0; r < g.w.rows; r++) {
            inf__cpu_dequant_row(&g.w, r, out);
            for (int64_t k = 0; k < g.w.cols; k++) {
                const double v = g.val[r * g.w.cols + k], e = fabs(out[k] - v);
                if (e > 1e-6 * (fabs(v) + 1e-3)) bad++;
                if (e > maxe) maxe = e;
            }
        }
        /* Unaligned ranges (partial blocks at both ends). */
        float part[300];
        inf__cpu_dequant_range(&g.w, 1, 37, 300, part);
        for (int k = 0; k < 300; k++)
            if (fabs(part[k] - g.val[1 * g.w.cols + 37 + k]) > 1e-6 * (fabs(g.val[1 * g.w.cols + 37 + k]) + 1e-3)) bad++;
        CHECK_MSG(bad == 0, "%s: %lld values off the layout (max |d| %g)", fi->name, (long long)bad, maxe);
        free(out);
        gmat_free(&g);
    }
}

/* gguf-py's dequantiser on random blocks, when python3 + numpy + gguf-py
 * are there. */
static const char PY[] =
    "import sys\n"
    "sys.path.insert(0, sys.argv[1])\n"
    "import numpy as np\n"
    "from gguf import quants\n"
    "from gguf.constants import GGMLQuantizationType as T\n"
    "d = sys.argv[2]\n"
    "for name in sys.argv[3:]:\n"
    "    raw = np.fromfile(d + '/in_' + name, dtype=np.uint8)\n"
    "    quants.dequantize(raw, T[name]).astype(np.float32).tofile(d + '/out_' + name)\n";

static void test_gguf_py(void) {
    const char *gp = getenv("INF_GGUF_PY");
    char gdef[1024];
    if (!gp || !gp[0]) {
        snprintf(gdef, sizeof gdef, "%s/llama.cpp/src/gguf-py", INF_TEST_CACHE);
        gp = gdef;
    }
    char probe[1200];
    snprintf(probe, sizeof probe, "%s/gguf/quants.py", gp);
    if (access(probe, R_OK) != 0) {
        printf("SKIP gguf-py comparison: %s not found (set INF_GGUF_PY to a gguf-py folder, e.g. "
               "from scripts/build-llama-cpp.sh's checkout)\n", probe);
        return;
    }
    const char *py = NULL;
    static const char *cands[] = {"python3", "/usr/bin/python3"};
    const char *env_py = getenv("INF_PYTHON");
    char cmd[4096];
    if (env_py && env_py[0]) {
        snprintf(cmd, sizeof cmd, "'%s' -c 'import numpy' >/dev/null 2>&1", env_py);
        if (system(cmd) == 0) py = env_py;
    }
    for (int i = 0; !py && i < 2; i++) {
        snprintf(cmd, sizeof cmd, "%s -c 'import numpy' >/dev/null 2>&1", cands[i]);
        if (system(cmd) == 0) py = cands[i];
    }
    if (!py) {
        printf("SKIP gguf-py comparison: no python3 with numpy (set INF_PYTHON)\n");
        return;
    }
    char dir[] = "/tmp/test_cpu_ggml_XXXXXX";
    if (!mkdtemp(dir)) { CHECK_MSG(0, "mkdtemp failed"); return; }
    enum { NB = 64 };
    double *vals = malloc(NB * 256 * sizeof(double));
    uint8_t *blocks[NFMT];
    char path[1200], names[256] = "";
    for (int i = 0; i < NFMT; i++) {
        const fmt_info *fi = &FMTS[i];
        blocks[i] = malloc((size_t)NB * fi->bytes);
        /* Random bytes for everything but the f16 scale fields. */
        for (int64_t b = 0; b < NB; b++) {
            uint8_t *blk = blocks[i] + b * fi->bytes;
            make_block(fi->f, blk, vals);
            int keep[2] = {-1, -1};
            switch (fi->f) {
            case INF__W_Q2_K: keep[0] = 80; keep[1] = 82; break;
            case INF__W_Q3_K: keep[0] = 108; break;
            case INF__W_Q6_K: keep[0] = 208; break;
            case INF__W_Q4_1: case INF__W_Q5_1: case INF__W_Q4_K: case INF__W_Q5_K:
                keep[0] = 0; keep[1] = 2; break;
            default: keep[0] = 0; break;
            }
            for (int o = 0; o < fi->bytes; o++)
                if (o != keep[0] && o != keep[0] + 1 && o != keep[1] && o != keep[1] + 1) blk[o] = (uint8_t)rnd();
        }
        snprintf(path, sizeof path, "%s/in_%s", dir, fi->name);
        FILE *f = fopen(path, "wb");
        if (f) { fwrite(blocks[i], (size_t)fi->bytes, NB, f); fclose(f); }
        strcat(names, " ");
        strcat(names, fi->name);
    }
    snprintf(path, sizeof path, "%s/ref.py", dir);
    FILE *f = fopen(path, "w");
    if (f) { fputs(PY, f); fclose(f); }
    snprintf(cmd, sizeof cmd, "%s '%s/ref.py' '%s' '%s'%s", py, dir, gp, dir, names);
    const int rc = system(cmd);
    CHECK_MSG(rc == 0, "gguf-py reference failed: %s", cmd);
    int compared = 0;
    for (int i = 0; rc == 0 && i < NFMT; i++) {
        const fmt_info *fi = &FMTS[i];
        const int64_t n = (int64_t)NB * fi->elems;
        float *ref = malloc((size_t)n * sizeof(float)), *out = malloc((size_t)n * sizeof(float));
        snprintf(path, sizeof path, "%s/out_%s", dir, fi->name);
        FILE *fr = fopen(path, "rb");
        const size_t got = fr ? fread(ref, sizeof(float), (size_t)n, fr) : 0;
        if (fr) fclose(fr);
        CHECK_MSG(got == (size_t)n, "%s: gguf-py gave %zu of %lld values", fi->name, got, (long long)n);
        inf__weight w = {fi->f, 1, n, blocks[i], NULL, NULL, INF__DT_F32, 0, 0};
        inf__cpu_dequant_row(&w, 0, out);
        int64_t bad = 0, exact = 0;
        double maxe = 0;
        for (int64_t k = 0; k < n && got == (size_t)n; k++) {
            const double e = fabs((double)out[k] - ref[k]);
            if (out[k] == ref[k]) exact++;
            if (e > 1e-6 * (fabs(ref[k]) + 1e-3)) bad++;
            if (e > maxe) maxe = e;
        }
        CHECK_MSG(bad == 0, "%s vs gguf-py: %lld of %lld values differ (max |d| %g)", fi->name,
                  (long long)bad, (long long)n, maxe);
        printf("gguf-py %s: %lld/%lld values bit-identical, max |d| %g\n", fi->name, (long long)exact,
               (long long)n, maxe);
        compared++;
        free(ref);
        free(out);
        remove(path);
        snprintf(path, sizeof path, "%s/in_%s", dir, fi->name);
        remove(path);
    }
    for (int i = 0; i < NFMT; i++) free(blocks[i]);
    free(vals);
    snprintf(path, sizeof path, "%s/ref.py", dir);
    remove(path);
    rmdir(dir);
    printf("gguf-py comparison: %d formats\n", compared);
}

/* ---- matmul -------------------------------------------------------------- */

/* Max over outputs of |a - b| / sum_k |w x|. */
static double rel_err(const gmat *g, const float *x, int64_t n, const float *a, const float *b,
                      int use_double_ref) {
    double worst = 0;
    for (int64_t t = 0; t < n; t++)
        for (int64_t r = 0; r < g->w.rows; r++) {
            double s = 0, sa = 0;
            for (int64_t k = 0; k < g->w.cols; k++) {
                const double p = g->val[r * g->w.cols + k] * x[t * g->w.cols + k];
                s += p;
                sa += fabs(p);
            }
            const double ref = use_double_ref ? s : b[t * g->w.rows + r];
            const double e = fabs(a[t * g->w.rows + r] - ref) / (sa > 0 ? sa : 1);
            if (e > worst) worst = e;
        }
    return worst;
}

static void test_matmul_set(const inf__cpu_kernels *k, const char *what) {
    static const int64_t toks[] = {1, 2, 3, 4, 5, 7, 13, 16, 17, 64};
    for (int i = 0; i < NFMT; i++) {
        const fmt_info *fi = &FMTS[i];
        /* 67 rows: the 8/4/2-row tiles and their tails; 1024 columns (4 K
         * blocks: several 512/256-column chunks); Q4_0/Q8_0 also 96 (3
         * blocks, a partial 64-value step). */
        for (int shape = 0; shape < (fi->elems == 32 ? 2 : 1); shape++) {
            const int64_t rows = 67, cols = shape ? 96 : 1024;
            gmat g = make_gmat(fi, rows, cols);
            const int64_t nmax = 64;
            float *x = malloc((size_t)(nmax * cols) * sizeof(float));
            for (int64_t j = 0; j < nmax * cols; j++) x[j] = (float)(urand() * 2 - 1);
            float *yr = malloc((size_t)(nmax * rows) * sizeof(float));
            float *yk = malloc((size_t)(nmax * rows) * sizeof(float));
            float *ys = malloc((size_t)(nmax * rows) * sizeof(float));
            for (size_t ti = 0; ti < sizeof toks / sizeof toks[0]; ti++) {
                const int64_t n = toks[ti];
                inf__cpu_kernels_ref.matmul_rows(&g.w, x, cols, n, yr, rows, 0, rows);
                k->matmul_rows(&g.w, x, cols, n, yk, rows, 0, rows);
                /* The same rows in uneven pieces must give the same bits. */
                k->matmul_rows(&g.w, x, cols, n, ys, rows, 0, 5);
                k->matmul_rows(&g.w, x, cols, n, ys, rows, 5, 38);
                k->matmul_rows(&g.w, x, cols, n, ys, rows, 38, rows);
                const double e = rel_err(&g, x, n, yk, yr, 0);
                CHECK_MSG(e <= 1e-5, "%s %s %lldx%lld n=%lld: rel err vs reference %g", what, fi->name,
                          (long long)rows, (long long)cols, (long long)n, e);
                CHECK_MSG(memcmp(yk, ys, (size_t)(n * rows) * sizeof(float)) == 0,
                          "%s %s n=%lld: result depends on the row split", what, fi->name, (long long)n);
                if (k == &inf__cpu_kernels_ref && (n == 1 || n == 5)) {
                    const double ed = rel_err(&g, x, n, yr, NULL, 1);
                    CHECK_MSG(ed <= 1e-5, "reference %s n=%lld: rel err vs double %g", fi->name, (long long)n, ed);
                }
                /* The one-token kernel: each token alone gives the bits it
                 * gives inside a batch?  Not promised across paths; the
                 * decode result is only checked against the reference. */
            }
            free(x); free(yr); free(yk); free(ys);
            gmat_free(&g);
        }
    }
}

static void test_tile(void) {
    if (!inf__cpu_kernels_avx2()) { printf("SKIP tile check: no avx2\n"); return; }
    for (int i = 0; i < NFMT; i++) {
        gmat g = make_gmat(&FMTS[i], 6, 1536);
        float *tile = aligned_alloc(64, 4 * INF__CPU_KC * sizeof(float));
        float row[1536];
        int ok = 1;
        for (int64_t k0 = 0; k0 < 1536; k0 += INF__CPU_KC) {
            const int64_t kc = 1536 - k0 < INF__CPU_KC ? 1536 - k0 : INF__CPU_KC;
            ok &= inf__cpu_avx2_dequant_tile(&g.w, 1, 4, k0, kc, tile);
            for (int r = 0; r < 4; r++) {
                inf__cpu_dequant_range(&g.w, 1 + r, k0, kc, row);
                ok &= memcmp(row, tile + r * INF__CPU_KC, (size_t)kc * sizeof(float)) == 0;
            }
        }
        CHECK_MSG(ok, "%s: avx2 tile differs from dequant_range", FMTS[i].name);
        free(tile);
        gmat_free(&g);
    }
}

/* ---- RoPE, adjacent pairs ------------------------------------------------ */

static void test_rope_adjacent(void) {
    enum { HD = 64, HALF = HD / 2 };
    float inv[HALF], cs[HALF], sn[HALF], x[HD], y[HD], z[HD];
    for (int i = 0; i < HALF; i++) inv[i] = (float)(1.0 / pow(10000.0, 2.0 * i / HD));
    int ok = 1;
    for (int pos = 0; pos < 300; pos += 37) {
        for (int i = 0; i < HD; i++) x[i] = y[i] = z[i] = (float)(urand() * 2 - 1);
        inf__cpu_rope_cos_sin(inv, HALF, pos, cs, sn);
        inf__cpu_rope_apply_adjacent(y, cs, sn, HALF);
        for (int i = 0; i < HALF; i++) { /* ggml_rope mode 0: (2i, 2i+1) at theta_i */
            const double a = (double)pos * inv[i], x0 = x[2 * i], x1 = x[2 * i + 1];
            const double r0 = x0 * cos(a) - x1 * sin(a), r1 = x0 * sin(a) + x1 * cos(a);
            ok &= fabs(y[2 * i] - r0) < 1e-5 && fabs(y[2 * i + 1] - r1) < 1e-5;
        }
        /* Same rotation as the HF pairing after interleaving the halves. */
        float p[HD];
        for (int i = 0; i < HALF; i++) { p[i] = z[2 * i]; p[i + HALF] = z[2 * i + 1]; }
        inf__cpu_rope_apply(p, cs, sn, HALF);
        for (int i = 0; i < HALF; i++) ok &= p[i] == y[2 * i] && p[i + HALF] == y[2 * i + 1];
    }
    CHECK_MSG(ok, "RoPE adjacent pairs differ from the direct formula");
}

/* ---- the fast precision's integer form (kernels_int8.h) ------------------ */

/* xq of x [n, cols] with the given quantiser. */
static inf__cpu_xq xq_make(const inf__cpu_kernels *k, const float *x, int64_t n, int64_t cols) {
    inf__cpu_xq q = {n, cols, cols + 64, NULL, NULL, NULL};
    q.q = malloc((size_t)(n * q.ld));
    q.d = malloc((size_t)(n * cols / 32) * sizeof(float));
    q.s = malloc((size_t)(n * cols / 32) * sizeof(float));
    k->q8_quantize(x, cols, 0, n, &q);
    return q;
}
static void xq_free(inf__cpu_xq *q) { free(q->q); free(q->d); free(q->s); }

/* fast->matmul_q8 of g at several token counts within the rounding bound
 * of x (sum |w| dx/2 per output, + 1e-5 sum|w x|), row split immaterial,
 * and equal (to float rounding) to the 64-token GEMM's result for the same
 * tokens: every path computes the same integer sums of the same xq, so
 * this catches an error far inside the rounding bound. */
static void test_int8_bound(const inf__cpu_kernels *fast, const gmat *g, int64_t rows, int64_t cols) {
    static const int64_t toks[] = {64, 1, 2, 3, 4, 5, 7, 13};
    float *x = malloc((size_t)(64 * cols) * 4), *y = malloc((size_t)(64 * rows) * 4);
    float *ys = malloc((size_t)(64 * rows) * 4), *y64 = malloc((size_t)(64 * rows) * 4);
    for (int64_t j = 0; j < 64 * cols; j++) x[j] = (float)(urand() * 2 - 1) * (j % 7 == 0 ? 4 : 1);
    inf__cpu_xq q = xq_make(fast, x, 64, cols);
    CHECK(fast->q8_takes(&g->w, 64));
    for (size_t ti = 0; ti < sizeof toks / sizeof toks[0]; ti++) {
        const int64_t n = toks[ti];
        if (!fast->q8_takes(&g->w, n)) continue;
        q.n = n;
        fast->matmul_q8(&g->w, &q, y, rows, 0, rows);
        fast->matmul_q8(&g->w, &q, ys, rows, 0, 7);
        fast->matmul_q8(&g->w, &q, ys, rows, 7, rows);
        double bad = 0;
        for (int64_t t = 0; t < n; t++)
            for (int64_t r = 0; r < rows; r++) {
                double s = 0, bound = 0, sa = 0;
                for (int64_t k = 0; k < cols; k++) {
                    const double w = g->val[r * cols + k];
                    s += w * x[t * cols + k];
                    sa += fabs(w * x[t * cols + k]);
                    bound += fabs(w) * q.d[t * cols / 32 + k / 32] / 2;
                }
                const double e = fabs(y[t * rows + r] - s) - (bound + 1e-5 * sa);
                if (e > bad) bad = e;
            }
        CHECK_MSG(bad <= 0, "%s %s n=%lld: beyond the rounding bound by %g", fast->name,
                  inf__cpu_ggml_name(g->w.fmt), (long long)n, bad);
        CHECK_MSG(memcmp(y, ys, (size_t)(n * rows) * 4) == 0, "%s %s n=%lld: depends on the row split",
                  fast->name, inf__cpu_ggml_name(g->w.fmt), (long long)n);
        if (n == 64) memcpy(y64, y, (size_t)(64 * rows) * 4);
        const double e = rel_err(g, x, n, y, y64, 0);
        CHECK_MSG(e <= 1e-5, "%s %s n=%lld: rel err vs the 64-token GEMM %g", fast->name,
                  inf__cpu_ggml_name(g->w.fmt), (long long)n, e);
    }
    xq_free(&q);
    free(x); free(y); free(ys); free(y64);
}

static void test_int8(void) {
    const inf__cpu_kernels *fast = inf__cpu_kernels_fast(), *ref = &inf__cpu_kernels_ref_fast;
    static const int64_t toks[] = {1, 2, 3, 4, 5, 7, 13, 16, 17, 64};
    printf("fast set: %s\n", fast->name);
    for (int i = 0; i < NFMT; i++) {
        const fmt_info *fi = &FMTS[i];
        const int64_t rows = 67, cols = fi->elems == 32 ? 1056 : 1024; /* 1056: a 33-block tail */
        gmat g = make_gmat(fi, rows, cols);
        if (!inf__cpu_q8_form(&g.w)) {
            CHECK(!ref->q8_takes(&g.w, 1));
            if (fast->q8_takes && fast->q8_takes(&g.w, 64)) /* Q6_K: its own row kernel and GEMM */
                test_int8_bound(fast, &g, rows, cols);
            gmat_free(&g);
            continue;
        }
        /* The integer form is the stored value: d*u + c = ggml's value. */
        uint8_t *u = malloc((size_t)cols);
        float *d = malloc((size_t)cols / 32 * 4), *c = malloc((size_t)cols / 32 * 4);
        double worst = 0;
        for (int64_t r = 0; r < rows; r++) {
            inf__cpu_q8_decode(&g.w, r, 0, cols / 32, u, d, c);
            for (int64_t k = 0; k < cols; k++) {
                const double v = g.val[r * cols + k], e = fabs((double)(d[k / 32] * u[k] + c[k / 32]) - v);
                const double sc = fabs(d[k / 32] * u[k]) + fabs(c[k / 32]);
                if (e / (sc > 0 ? sc : 1) > worst) worst = e / (sc > 0 ? sc : 1);
            }
        }
        CHECK_MSG(worst <= 1e-7, "%s: integer form differs from the values (%g)", fi->name, worst);
        const int64_t nmax = 64;
        float *x = malloc((size_t)(nmax * cols) * sizeof(float));
        for (int64_t j = 0; j < nmax * cols; j++) x[j] = (float)(urand() * 2 - 1) * (j % 7 == 0 ? 4 : 1);
        float *yr = malloc((size_t)(nmax * rows) * 4), *yk = malloc((size_t)(nmax * rows) * 4);
        float *ys = malloc((size_t)(nmax * rows) * 4);
        inf__cpu_xq qr = xq_make(ref, x, nmax, cols), qk = xq_make(fast->q8_quantize ? fast : ref, x, nmax, cols);
        /* both quantisers round alike (sums: another order) */
        int same = 1;
        for (int64_t t = 0; t < nmax; t++) {
            same &= memcmp(qr.q + t * qr.ld, qk.q + t * qk.ld, (size_t)cols) == 0;
            for (int64_t b = 0; b < cols / 32; b++)
                same &= qr.d[t * cols / 32 + b] == qk.d[t * cols / 32 + b] &&
                        fabsf(qr.s[t * cols / 32 + b] - qk.s[t * cols / 32 + b]) <= 1e-5f * 32 * 4;
        }
        CHECK_MSG(same, "%s: the vector quantiser differs from the portable one", fi->name);
        for (size_t ti = 0; ti < sizeof toks / sizeof toks[0]; ti++) {
            const int64_t n = toks[ti];
            qr.n = qk.n = n;
            ref->matmul_q8(&g.w, &qr, yr, rows, 0, rows);
            /* the reference integer matmul against the exact product: within
             * the rounding of x, sum |w| dx/2 per output */
            double bad = 0;
            for (int64_t t = 0; t < n; t++)
                for (int64_t r = 0; r < rows; r++) {
                    double s = 0, bound = 0, sa = 0;
                    for (int64_t k = 0; k < cols; k++) {
                        const double w = g.val[r * cols + k];
                        s += w * x[t * cols + k];
                        sa += fabs(w * x[t * cols + k]);
                        bound += fabs(w) * qr.d[t * cols / 32 + k / 32] / 2;
                    }
                    const double e = fabs(yr[t * rows + r] - s) - (bound + 1e-5 * sa);
                    if (e > bad) bad = e;
                }
            CHECK_MSG(bad <= 0, "%s n=%lld: integer matmul beyond the rounding bound by %g", fi->name,
                      (long long)n, bad);
            if (fast->q8_takes && fast->q8_takes(&g.w, n)) {
                fast->matmul_q8(&g.w, &qk, yk, rows, 0, rows);
                fast->matmul_q8(&g.w, &qk, ys, rows, 0, 5);
                fast->matmul_q8(&g.w, &qk, ys, rows, 5, 38);
                fast->matmul_q8(&g.w, &qk, ys, rows, 38, rows);
                const double e = rel_err(&g, x, n, yk, yr, 0);
                CHECK_MSG(e <= 1e-5, "%s %s n=%lld: rel err vs the portable integer matmul %g", fast->name,
                          fi->name, (long long)n, e);
                CHECK_MSG(memcmp(yk, ys, (size_t)(n * rows) * 4) == 0,
                          "%s %s n=%lld: result depends on the row split", fast->name, fi->name, (long long)n);
            }
        }
        xq_free(&qr);
        xq_free(&qk);
        free(x); free(yr); free(yk); free(ys); free(u); free(d); free(c);
        gmat_free(&g);
    }
}

/* Precision fast's 4-bit matrices repacked 16 rows at a time (kernels.h:
 * pack; INF__W_Q4_0_R16, INF__W_Q4_K_R16, ...), where the set has them: every
 * byte of the layout written (two packs over different fillings agree,
 * the second in two calls), the last group's missing rows zero, every row
 * read back bit for bit (dequant_row, dequant_range), q8_takes takes every
 * token count, and matmul_q8 on the repacked matrix at 1-67 tokens (the
 * 16-row kernel and the panel GEMM) within 1e-5 of sum |w x| of the
 * portable integer matmul on the stored one (Q6_K, Q3_K, Q2_K, which it does
 * not take: of the matrix's values times the rounded x, in double),
 * whatever the row split (5 and rows - 7: inside groups), and up to 16
 * tokens each token's outputs bit for bit those of the token alone. */
static void test_r16_set(const inf__cpu_kernels *fast, int fi_index, int64_t rows, int64_t cols) {
    const inf__cpu_kernels *ref = &inf__cpu_kernels_ref_fast;
    const fmt_info *fi = &FMTS[fi_index];
    gmat g = make_gmat(fi, rows, cols);
    const int64_t bytes = fast->pack_bytes ? fast->pack_bytes(&g.w) : 0;
    if (bytes == 0) {
        printf("  %s %s %lldx%lld: read as stored (no repacked layout here)\n", fast->name, fi->name,
               (long long)rows, (long long)cols);
        gmat_free(&g);
        return;
    }
    const int64_t groups = (rows + 15) / 16, per_row = cols / fi->elems * fi->bytes;
    CHECK(bytes >= groups * 16 * per_row && bytes <= groups * 16 * per_row * 21 / 20 && fast->pack_rows % 16 == 0);
    uint8_t *buf = aligned_alloc(64, (size_t)(bytes + 63) / 64 * 64), *one = aligned_alloc(64, (size_t)(bytes + 63) / 64 * 64);
    memset(buf, 0xa5, (size_t)bytes);
    memset(one, 0x5a, (size_t)bytes);
    inf__weight pw, pw2;
    fast->pack(&g.w, 0, 16, buf, &pw);
    fast->pack(&g.w, 16, rows, buf, &pw2);
    CHECK(pw.data == buf && pw.rows == rows && pw.cols == cols && pw.fmt != g.w.fmt &&
          (pw.fmt == INF__W_Q4_0_R16 || pw.fmt == INF__W_Q4_K_R16 || pw.fmt == INF__W_Q5_K_R16 || pw.fmt == INF__W_Q6_K_R16 ||
           pw.fmt == INF__W_Q3_K_R16 || pw.fmt == INF__W_Q2_K_R16 ||
           pw.fmt == INF__W_Q8_0_R16));
    CHECK(memcmp(&pw, &pw2, sizeof pw) == 0);
    fast->pack(&g.w, 0, rows, one, &pw2);
    CHECK_MSG(memcmp(buf, one, (size_t)bytes) == 0, "%s repacked: a byte left unwritten, or two calls differ from one",
              fi->name);
    free(one);
    float *a = malloc((size_t)cols * 4), *b = malloc((size_t)cols * 4);
    int same = 1, pad_zero = 1;
    for (int64_t r = 0; r < rows; r++) {
        inf__cpu_dequant_row(&g.w, r, a);
        inf__cpu_dequant_row(&pw, r, b);
        same &= memcmp(a, b, (size_t)cols * 4) == 0;
        inf__cpu_dequant_range(&pw, r, 40, cols - 57, b); /* partial blocks at both ends */
        same &= memcmp(a + 40, b, (size_t)(cols - 57) * 4) == 0;
    }
    for (int64_t r = rows; r < groups * 16; r++) { /* the layout holds them: zero */
        inf__cpu_dequant_row(&pw, r, b);
        for (int64_t k = 0; k < cols; k++) pad_zero &= b[k] == 0;
    }
    CHECK_MSG(same, "%s repacked: dequant_row differs from the stored rows", fi->name);
    CHECK_MSG(pad_zero, "%s repacked: the missing rows are not zero", fi->name);
    free(a); free(b);
    static const int64_t toks[] = {1, 2, 3, 4, 5, 7, 13, 16, 17, 64, 67}; /* 67: past a 64-token tile */
    const int64_t nmax = 67;
    float *x = malloc((size_t)(nmax * cols) * sizeof(float));
    for (int64_t j = 0; j < nmax * cols; j++) x[j] = (float)(urand() * 2 - 1) * (j % 7 == 0 ? 4 : 1);
    float *yr = malloc((size_t)(nmax * rows) * 4), *yk = malloc((size_t)(nmax * rows) * 4);
    float *ys = malloc((size_t)(nmax * rows) * 4);
    inf__cpu_xq qr = xq_make(ref, x, nmax, cols), qk = xq_make(fast, x, nmax, cols);
    double worst = 0;
    int taken = 1, split_same = 1, alone_same = 1;
    for (size_t ti = 0; ti < sizeof toks / sizeof toks[0]; ti++) {
        const int64_t n = toks[ti];
        qr.n = qk.n = n;
        taken &= fast->q8_takes(&pw, n);
        if (ref->q8_takes(&g.w, n)) {
            ref->matmul_q8(&g.w, &qr, yr, rows, 0, rows);
        } else { /* Q6_K, Q3_K, Q2_K: the integer form's product in double, the matrix's values times
                    the rounded x (w = d sc (q - z) exactly) */
            for (int64_t t = 0; t < n; t++)
                for (int64_t r = 0; r < rows; r++) {
                    double s = 0;
                    for (int64_t k = 0; k < cols; k++)
                        s += g.val[r * cols + k] * qk.d[t * cols / 32 + k / 32] * qk.q[t * qk.ld + k];
                    yr[t * rows + r] = (float)s;
                }
        }
        fast->matmul_q8(&pw, &qk, yk, rows, 0, rows);
        fast->matmul_q8(&pw, &qk, ys, rows, 0, 5);
        fast->matmul_q8(&pw, &qk, ys, rows, 5, rows - 7);
        fast->matmul_q8(&pw, &qk, ys, rows, rows - 7, rows);
        const double e = rel_err(&g, x, n, yk, yr, 0);
        if (e > worst) worst = e;
        split_same &= memcmp(yk, ys, (size_t)(n * rows) * 4) == 0;
        /* up to 16 tokens the 16-row kernel takes them in passes of 8, 4,
         * 3, 2, 1: each token's outputs as alone, whatever its pass */
        for (int64_t t = 0; n <= 16 && t < n; t++) {
            inf__cpu_xq one = qk;
            one.n = 1;
            one.q = qk.q + t * qk.ld;
            one.d = qk.d + t * (cols / 32);
            one.s = qk.s + t * (cols / 32);
            fast->matmul_q8(&pw, &one, ys, rows, 0, rows);
            alone_same &= memcmp(ys, yk + t * rows, (size_t)rows * 4) == 0;
        }
    }
    printf("  %s %s repacked %lldx%lld: 1-67 tokens within %.2e of the %s\n", fast->name, fi->name,
           (long long)rows, (long long)cols, worst,
           ref->q8_takes(&g.w, 1) ? "portable integer matmul" : "integer form in double");
    CHECK_MSG(taken, "%s repacked: q8_takes must take every token count", fi->name);
    CHECK_MSG(worst <= 1e-5, "%s repacked: rel err %g", fi->name, worst);
    CHECK_MSG(split_same, "%s repacked: the result depends on the row split", fi->name);
    CHECK_MSG(alone_same, "%s repacked: a token's result at 2-16 tokens differs from its result alone", fi->name);
    xq_free(&qr);
    xq_free(&qk);
    free(x); free(yr); free(yk); free(ys); free(buf);
    gmat_free(&g);
}

/* The AVX2 int8 kernels (kernels_q8_gg.c) as a set of their own: the fast
 * set hands them out only where the processor has no AVX-512 VNNI, so on
 * a VNNI machine they are tested here directly (on an AVX2-only one,
 * twice). */
#if defined(__x86_64__) && defined(__GNUC__)
static inf__cpu_kernels avx2_int8;
static const inf__cpu_kernels *avx2_int8_set(void) {
    if (!inf__cpu_kernels_avx2()) return NULL; /* AVX2, FMA, F16C and the OS's YMM state */
    avx2_int8 = *inf__cpu_kernels_fast();
    avx2_int8.name = "avx2 int8 (kernels_q8_gg.c)";
    avx2_int8.q8_takes = inf__cpu_q8_gg_takes;
    avx2_int8.q8_quantize = inf__cpu_q8_gg_quantize;
    avx2_int8.matmul_q8 = inf__cpu_q8_gg_matmul;
    avx2_int8.pack_bytes = inf__cpu_q8_gg_pack_bytes;
    avx2_int8.pack = inf__cpu_r16_pack;
    avx2_int8.pack_rows = 16;
    return &avx2_int8;
}
#else
static const inf__cpu_kernels *avx2_int8_set(void) { return NULL; }
#endif

static void test_r16(int fi_index, int64_t rows, int64_t cols) {
    test_r16_set(inf__cpu_kernels_fast(), fi_index, rows, cols);
    const inf__cpu_kernels *a = avx2_int8_set();
    if (a) test_r16_set(a, fi_index, rows, cols);
}

int main(void) {
    test_int8();
    test_r16(1, 67, 1056); /* Q4_0: a partial last group; 33 blocks (an odd count) */
    test_r16(1, 64, 1024);
    test_r16(1, 37, 544);
    test_r16(7, 67, 1024); /* Q4_K */
    test_r16(7, 48, 256);
    test_r16(7, 21, 2560);
    test_r16(5, 67, 1024); /* Q2_K */
    test_r16(5, 48, 256);
    test_r16(5, 21, 2560);
    test_r16(5, 18, 8192);
    test_r16(6, 67, 1024); /* Q3_K */
    test_r16(6, 48, 256);
    test_r16(6, 21, 2560);
    test_r16(6, 18, 8192);
    test_r16(8, 67, 1024); /* Q5_K */
    test_r16(8, 48, 256);
    test_r16(8, 21, 2560);
    test_r16(9, 67, 1024); /* Q6_K */
    test_r16(0, 67, 1056); /* Q8_0 */
    test_r16(0, 37, 544);
    test_r16(9, 48, 256);
    test_r16(9, 21, 2560);
    test_r16(9, 18, 8192); /* 16 tokens: offsets on the heap */
    test_literal();
    test_packed();
    test_gguf_py();
    test_tile();
    test_rope_adjacent();
    test_matmul_set(&inf__cpu_kernels_ref, "reference");
    if (inf__cpu_kernels_fast()->q8_takes) /* its matmul_rows: exact for what q8 leaves */
        test_matmul_set(inf__cpu_kernels_fast(), inf__cpu_kernels_fast()->name);
    const char *names[] = {"avx2", "avx512"};
    for (int i = 0; i < 2; i++) {
        const inf__cpu_kernels *k = inf__cpu_kernels_select(names[i]);
        if (strcmp(k->name, names[i]) != 0) {
            printf("SKIP %s: not available here\n", names[i]);
            continue;
        }
        test_matmul_set(k, names[i]);
    }
    return tu_summary("test_cpu_ggml");
}
