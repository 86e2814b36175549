/* Dummy weights: a directory holding only config.json loads, in the
 * config's dtype or a requested one, dense or MLX 4/8-bit, with the
 * expected sizes, deterministic bytes and values of a sensible scale. */
#include <ftw.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "model/model.h"
#include "testutil.h"

static float to_f32(const void *p, inf__dtype dt, size_t i) {
    if (dt == INF__DT_F32) return ((const float *)p)[i];
    uint16_t h = ((const uint16_t *)p)[i];
    uint32_t u;
    if (dt == INF__DT_BF16) {
        u = (uint32_t)h << 16;
    } else {
        uint32_t s = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
        if (e == 0) return (s ? -1.f : 1.f) * ldexpf((float)m, -24);
        u = s | ((e == 31 ? 255 : e + 112) << 23) | (m << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static inf__dtype fmt_dt(inf__wfmt f) {
    return f == INF__W_F32 ? INF__DT_F32 : f == INF__W_F16 ? INF__DT_F16 : INF__DT_BF16;
}
static float w_at(const inf__weight *w, int64_t r, int64_t c) {
    if (w->fmt == INF__W_MLX4 || w->fmt == INF__W_MLX8) {
        int per = 32 / w->bits;
        uint32_t word = ((const uint32_t *)w->data)[r * (w->cols / per) + c / per];
        uint32_t q = (word >> ((c % per) * w->bits)) & ((1u << w->bits) - 1);
        size_t g = (size_t)(r * (w->cols / w->group) + c / w->group);
        return to_f32(w->scales, w->sb_dtype, g) * (float)q + to_f32(w->biases, w->sb_dtype, g);
    }
    return to_f32(w->data, fmt_dt(w->fmt), (size_t)(r * w->cols + c));
}
static void stats(const inf__weight *w, double *mean, double *sd) {
    double s = 0, s2 = 0, n = 0;
    for (int64_t r = 0; r < w->rows; r++)
        for (int64_t c = 0; c < w->cols; c++, n++) {
            double v = w_at(w, r, c);
            s += v;
            s2 += v * v;
        }
    *mean = s / n;
    *sd = sqrt(s2 / n - *mean * *mean);
}

static char tmp[128];

static void write_config(const char *src) {
    size_t n;
    char path[600];
    snprintf(path, sizeof path, "%s/config.json", src);
    char *buf = tu_read_file(path, &n);
    CHECK_MSG(buf != NULL, "%s", path);
    snprintf(path, sizeof path, "%s/config.json", tmp);
    FILE *f = fopen(path, "wb");
    if (f && buf) fwrite(buf, 1, n, f);
    if (f) fclose(f);
    free(buf);
}

/* Checks one dummy load of the tiny qwen3 config; returns weight bytes. */
static int64_t check_dummy(int bits, int group, const char *dtype, inf__dtype want_dt) {
    inf__load_params p = {.dummy_weights = 1, .dummy_bits = bits, .dummy_group = group,
                          .dummy_dtype = dtype};
    inf__model_desc d;
    inf__model_files *f;
    inf__err err;
    int rc = inf__model_open(tmp, &p, &d, &f, &err);
    CHECK_MSG(rc == INF_OK, "bits %d: %s", bits, err.msg);
    if (rc) return -1;
    CHECK_EQ_INT(d.quant_bits, bits);
    CHECK_EQ_INT(d.quant_group, bits ? group : 0);
    CHECK_EQ_INT(d.n_layers, 3);
    inf__wfmt want = bits == 4 ? INF__W_MLX4 : bits == 8 ? INF__W_MLX8
                   : want_dt == INF__DT_F32 ? INF__W_F32 : want_dt == INF__DT_F16 ? INF__W_F16
                   : INF__W_BF16;
    int64_t bytes = 0, H = d.hidden_size, I = d.intermediate_size;
    for (int i = 0; i < d.n_layers; i++) {
        const inf__layer *L = &d.layers[i];
        const inf__weight *ws[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (int k = 0; k < 7; k++) {
            /* mlx-lm's rule: quantise when the input splits into groups. */
            int q = bits && ws[k]->cols % group == 0;
            CHECK_EQ_INT(ws[k]->fmt, q ? want : (inf__wfmt)(want_dt == INF__DT_F32 ? INF__W_F32
                                              : want_dt == INF__DT_F16 ? INF__W_F16 : INF__W_BF16));
            if (q) CHECK_EQ_INT(ws[k]->sb_dtype, want_dt);
            double m, sd;
            stats(ws[k], &m, &sd);
            CHECK_MSG(fabs(m) < 0.004 && fabs(sd - 0.02) < 0.004,
                      "bits %d layer %d mat %d: mean %g sd %g", bits, i, k, m, sd);
            int64_t n = ws[k]->rows * ws[k]->cols;
            bytes += q ? n * bits / 8 + 2 * (n / group) * (int64_t)(want_dt == INF__DT_F32 ? 4 : 2)
                       : n * (want_dt == INF__DT_F32 ? 4 : 2);
        }
        /* Norms are the identity: 1 for qwen3. */
        CHECK_NEAR(to_f32(L->attn_norm.data, fmt_dt(L->attn_norm.fmt), 5), 1.0, 0);
        CHECK_NEAR(to_f32(L->q_norm.data, fmt_dt(L->q_norm.fmt), 3), 1.0, 0);
        CHECK_EQ_INT(L->bq.fmt, INF__W_NONE);
        bytes += (2 * H + 2 * d.head_dim) * (want_dt == INF__DT_F32 ? 4 : 2);
    }
    (void)I;
    CHECK(d.embed.data != NULL && d.lm_head.data != NULL && d.lm_head.data != d.embed.data);
    /* embed + lm_head + final norm */
    int q = bits && H % group == 0;
    int64_t e = d.vocab_size * H, sz = want_dt == INF__DT_F32 ? 4 : 2;
    bytes += 2 * (q ? e * bits / 8 + 2 * (e / group) * sz : e * sz) + H * sz;
    int64_t wb = inf__model_weight_bytes(f);
    /* 64-byte alignment of each tensor adds at most 63 bytes per tensor. */
    CHECK_MSG(wb >= bytes && wb < bytes + 64 * 200, "weight bytes %lld vs %lld", (long long)wb,
              (long long)bytes);
    /* Same parameters, same bytes. */
    inf__model_desc d2;
    inf__model_files *f2;
    CHECK_EQ_INT(inf__model_open(tmp, &p, &d2, &f2, &err), INF_OK);
    size_t eb = q ? (size_t)(e * bits / 8) : (size_t)(e * sz);
    CHECK(memcmp(d.embed.data, d2.embed.data, eb) == 0);
    CHECK(memcmp(d.layers[2].w_down.data, d2.layers[2].w_down.data, 64) == 0);
    CHECK(memcmp(d.layers[1].w_up.data, d.layers[2].w_up.data, 64) != 0);
    inf__model_files_free(f2);
    inf__model_files_free(f);
    return wb;
}

static int rm_cb(const char *p, const struct stat *s, int flag, struct FTW *f) {
    (void)s; (void)flag; (void)f;
    return remove(p);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/inf_model_dummy_XXXXXX");
    if (!mkdtemp(tmp)) return 1;
    char src[512];
    snprintf(src, sizeof src, "%s/tiny/qwen3-bf16", INF_FIXTURES);
    write_config(src);
    /* Without dummy_weights, a config-only directory is not a model. */
    inf__model_desc d;
    inf__model_files *f;
    inf__err err;
    CHECK_EQ_INT(inf__model_open(tmp, NULL, &d, &f, &err), INF_E_NOT_FOUND);
    int64_t b16 = check_dummy(0, 0, NULL, INF__DT_BF16);
    int64_t b32 = check_dummy(0, 0, "f32", INF__DT_F32);
    check_dummy(0, 0, "float16", INF__DT_F16);
    int64_t b8 = check_dummy(8, 64, NULL, INF__DT_BF16);
    int64_t b4 = check_dummy(4, 32, NULL, INF__DT_BF16);
    check_dummy(4, 64, "f16", INF__DT_F16);
    CHECK(b32 > b16 && b16 > b8 && b8 > b4);
    printf("tiny qwen3 dummy weight bytes: f32 %lld, bf16 %lld, mlx8 %lld, mlx4 %lld\n",
           (long long)b32, (long long)b16, (long long)b8, (long long)b4);
    /* Bad parameters. */
    inf__load_params p = {.dummy_weights = 1, .dummy_bits = 3};
    CHECK_EQ_INT(inf__model_open(tmp, &p, &d, &f, &err), INF_E_INVALID_ARGUMENT);
    p.dummy_bits = 0;
    p.dummy_dtype = "int8";
    CHECK_EQ_INT(inf__model_open(tmp, &p, &d, &f, &err), INF_E_INVALID_ARGUMENT);
    CHECK(strstr(err.msg, "int8") != NULL);

    /* A real size: Qwen3-0.6B (bench/configs), bf16 and 4-bit, timed.
     * Gemma 3 norms are (1 + w): the identity is 0. */
    static const char *big[] = {"qwen3-0.6b", "gemma-3-1b"};
    for (int k = 0; k < 2; k++) {
        snprintf(src, sizeof src, "%s/bench/configs/%s", INF_SOURCE_DIR, big[k]);
        write_config(src);
        /* qwen3 in bf16 (the 1.2 GB case), gemma in 4-bit: enough to
         * cover both paths without holding the machine for long. */
        for (int bits = k ? 4 : 0; bits <= (k ? 4 : 0); bits += 4) {
            inf__load_params pb = {.dummy_weights = 1, .dummy_bits = bits};
            double t0 = now();
            int rc = inf__model_open(tmp, &pb, &d, &f, &err);
            double dt = now() - t0;
            CHECK_MSG(rc == INF_OK, "%s: %s", big[k], err.msg);
            if (rc) continue;
            printf("%s dummy %s: %.3f GB in %.2f s\n", big[k], bits ? "mlx4 g64" : "bf16",
                   inf__model_weight_bytes(f) / 1e9, dt);
            CHECK_EQ_INT(d.tie_embeddings, 1);
            CHECK(d.lm_head.data == d.embed.data);
            CHECK_NEAR(to_f32(d.final_norm.data, INF__DT_BF16, 7), k == 1 ? 0.0 : 1.0, 0);
            if (!bits) {
                /* ~0.6B parameters (tied) in bf16 */
                CHECK(k == 1 || (inf__model_weight_bytes(f) > 1190000000LL &&
                                 inf__model_weight_bytes(f) < 1200000000LL));
            }
            inf__model_files_free(f);
        }
    }
    nftw(tmp, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
    return tu_summary("test_model_dummy");
}
