/* Loads every tiny fixture model and the bundled models, and checks the
 * description against each directory's config.json (read here with jansson,
 * independently of the loader) and the weights against the statistics
 * mkmodel.py / training gave them. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "model/model.h"
#include "testutil.h"

static float half_to_f32(uint16_t h) {
    uint32_t s = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e == 0) {
        float f = ldexpf((float)m, -24);
        return s ? -f : f;
    }
    uint32_t u = s | ((e == 31 ? 255 : e + 112) << 23) | (m << 13);
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static float bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static float load_el(const void *p, int fmt_or_dt, size_t i) {
    /* fmt_or_dt: 1=F32, 2=F16, 3=BF16 (inf__wfmt numbering) */
    if (fmt_or_dt == INF__W_F32) return ((const float *)p)[i];
    if (fmt_or_dt == INF__W_F16) return half_to_f32(((const uint16_t *)p)[i]);
    return bf16_to_f32(((const uint16_t *)p)[i]);
}
static int sb_fmt(inf__dtype dt) {
    return dt == INF__DT_F32 ? INF__W_F32 : dt == INF__DT_F16 ? INF__W_F16 : INF__W_BF16;
}
/* Element (r, c) of a weight, dequantising MLX formats. */
static float weight_at(const inf__weight *w, int64_t r, int64_t c) {
    if (w->fmt == INF__W_MLX4 || w->fmt == INF__W_MLX8) {
        int per = 32 / w->bits;
        const uint32_t *q = w->data;
        uint32_t word = q[r * (w->cols / per) + c / per];
        uint32_t v = (word >> ((c % per) * w->bits)) & ((1u << w->bits) - 1);
        size_t g = (size_t)(r * (w->cols / w->group) + c / w->group);
        return load_el(w->scales, sb_fmt(w->sb_dtype), g) * (float)v +
               load_el(w->biases, sb_fmt(w->sb_dtype), g);
    }
    return load_el(w->data, w->fmt, (size_t)(r * w->cols + c));
}
static void weight_stats(const inf__weight *w, double *mean, double *sd) {
    double s = 0, s2 = 0;
    int64_t n = 0;
    for (int64_t r = 0; r < w->rows; r++)
        for (int64_t c = 0; c < w->cols; c++, n++) {
            double v = weight_at(w, r, c);
            s += v;
            s2 += v * v;
        }
    *mean = s / (double)n;
    *sd = sqrt(s2 / (double)n - *mean * *mean);
}
static double vec_mean(const inf__vec *v) {
    double s = 0;
    for (int64_t i = 0; i < v->n; i++) s += load_el(v->data, v->fmt, (size_t)i);
    return s / (double)v->n;
}

static double num(json_t *c, const char *k, double def) {
    json_t *j = json_object_get(c, k);
    return json_is_number(j) ? json_number_value(j) : def;
}

/* tiny: 1 = mkmodel statistics apply (norms ~1 or ~0, matrices std 1/sqrt(in)) */
static void check_model(const char *dir, int tiny) {
    char path[1024];
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_error_t je;
    json_t *c = json_load_file(path, 0, &je);
    CHECK_MSG(c != NULL, "%s: %s", path, je.text);
    if (!c) return;
    inf__model_desc d;
    inf__model_files *f = NULL;
    inf__err err;
    int rc = inf__model_open(dir, NULL, &d, &f, &err);
    CHECK_MSG(rc == INF_OK, "%s: %s", dir, err.msg);
    if (rc) { json_decref(c); return; }
    const char *mt = json_string_value(json_object_get(c, "model_type"));
    int gemma = strncmp(mt, "gemma3", 6) == 0;
    CHECK_EQ_STR(d.model_type, gemma ? "gemma3" : mt);
    CHECK_EQ_INT(d.vocab_size, num(c, "vocab_size", -1));
    CHECK_EQ_INT(d.hidden_size, num(c, "hidden_size", -1));
    CHECK_EQ_INT(d.n_layers, num(c, "num_hidden_layers", -1));
    CHECK_EQ_INT(d.n_heads, num(c, "num_attention_heads", -1));
    CHECK_EQ_INT(d.n_kv_heads, num(c, "num_key_value_heads", -1));
    CHECK_EQ_INT(d.head_dim, num(c, "head_dim", -1));
    CHECK_EQ_INT(d.intermediate_size, num(c, "intermediate_size", -1));
    CHECK_EQ_INT(d.max_positions, num(c, "max_position_embeddings", -1));
    CHECK_NEAR(d.norm_eps, num(c, "rms_norm_eps", -1), 1e-12);
    json_t *dt = json_object_get(c, "dtype");
    if (!dt) dt = json_object_get(c, "torch_dtype");
    CHECK_EQ_STR(d.dtype, json_string_value(dt));
    CHECK_EQ_INT(d.tie_embeddings, json_is_true(json_object_get(c, "tie_word_embeddings")));
    json_t *q = json_object_get(c, "quantization");
    CHECK_EQ_INT(d.quant_bits, num(q, "bits", 0));
    CHECK_EQ_INT(d.quant_group, num(q, "group_size", 0));
    CHECK_EQ_INT(d.bos_id, num(c, "bos_token_id", -1));
    CHECK_EQ_INT(d.n_eos, 1);
    CHECK_EQ_INT(d.eos_ids[0], num(c, "eos_token_id", -1));
    CHECK_EQ_INT(d.norm_add_one, gemma);
    CHECK_EQ_INT(d.act, gemma ? INF__ACT_GELU_TANH : INF__ACT_SILU);
    CHECK_NEAR(d.embed_scale, gemma ? sqrt(num(c, "hidden_size", 0)) : 1.0, 1e-5);
    CHECK_NEAR(d.attn_scale,
               1.0 / sqrt(gemma ? num(c, "query_pre_attn_scalar", 0) : num(c, "head_dim", 0)), 1e-6);
    CHECK(d.layers != NULL);
    /* Rope and sliding window, layer by layer. */
    json_t *rp = json_object_get(c, "rope_parameters");
    double theta = num(c, "rope_theta", num(rp, "rope_theta", -1));
    json_t *rs = json_object_get(c, "rope_scaling");
    json_t *lt = json_object_get(c, "layer_types");
    int mistral = strcmp(mt, "mistral") == 0;
    for (int i = 0; i < d.n_layers && d.layers; i++) {
        const inf__layer *L = &d.layers[i];
        int sliding = gemma ? strcmp(json_string_value(json_array_get(lt, (size_t)i)),
                                     "sliding_attention") == 0
                            : mistral;
        CHECK_EQ_INT(L->sliding_window, sliding ? num(c, "sliding_window", -1) : 0);
        if (gemma && sliding) {
            CHECK_NEAR(L->rope.theta, num(c, "rope_local_base_freq", -1), 1e-3);
            CHECK_EQ_INT(L->rope.kind, INF__ROPE_DEFAULT);
        } else {
            CHECK_NEAR(L->rope.theta, theta, 1e-3);
            if (json_is_object(rs)) {
                CHECK_EQ_INT(L->rope.kind, INF__ROPE_LLAMA3);
                CHECK_NEAR(L->rope.factor, num(rs, "factor", -1), 1e-6);
                CHECK_NEAR(L->rope.low_freq_factor, num(rs, "low_freq_factor", -1), 1e-6);
                CHECK_NEAR(L->rope.high_freq_factor, num(rs, "high_freq_factor", -1), 1e-6);
                CHECK_EQ_INT(L->rope.original_max_positions,
                             num(rs, "original_max_position_embeddings", -1));
            } else {
                CHECK_EQ_INT(L->rope.kind, INF__ROPE_DEFAULT);
            }
        }
        int qwen2 = strcmp(mt, "qwen2") == 0, qk = gemma || strcmp(mt, "qwen3") == 0;
        CHECK_EQ_INT(L->bq.fmt != INF__W_NONE, qwen2);
        CHECK_EQ_INT(L->bv.fmt != INF__W_NONE, qwen2);
        CHECK_EQ_INT(L->q_norm.fmt != INF__W_NONE, qk);
        CHECK_EQ_INT(L->k_norm.fmt != INF__W_NONE, qk);
        CHECK_EQ_INT(L->post_attn_norm.fmt != INF__W_NONE, gemma);
        CHECK_EQ_INT(L->post_ffn_norm.fmt != INF__W_NONE, gemma);
        CHECK(L->attn_norm.fmt != INF__W_NONE && L->ffn_norm.fmt != INF__W_NONE);
        CHECK_EQ_INT(L->wq.rows, d.n_heads * d.head_dim);
        CHECK_EQ_INT(L->wk.rows, d.n_kv_heads * d.head_dim);
        CHECK_EQ_INT(L->wo.cols, d.n_heads * d.head_dim);
        CHECK_EQ_INT(L->w_down.cols, d.intermediate_size);
        if (d.quant_bits) {
            /* mkmodel quantises a matrix when its input splits into groups. */
            int qd = d.intermediate_size % d.quant_group == 0;
            inf__wfmt qf = d.quant_bits == 4 ? INF__W_MLX4 : INF__W_MLX8;
            CHECK_EQ_INT(L->wq.fmt, qf);
            CHECK_EQ_INT(L->wq.group, d.quant_group);
            CHECK_EQ_INT(L->w_gate.fmt, qf);
            CHECK(qd ? L->w_down.fmt == qf : L->w_down.fmt != qf);
        }
        if (tiny) {
            /* mkmodel: norms N(1, 0.1) (gemma N(0, 0.1)), matrices
             * N(0, 1/sqrt(in)), biases N(0, 0.1).  The means/stds tell that
             * each pointer landed on the right kind of tensor. */
            double want = gemma ? 0.0 : 1.0;
            CHECK_NEAR(vec_mean(&L->attn_norm), want, 0.1);
            CHECK_NEAR(vec_mean(&L->ffn_norm), want, 0.1);
            if (qk) CHECK_NEAR(vec_mean(&L->q_norm), want, 0.15);
            if (qwen2) CHECK_NEAR(vec_mean(&L->bq), 0.0, 0.1);
            const inf__weight *ws[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
            for (int k = 0; k < 7; k++) {
                double m, sd;
                weight_stats(ws[k], &m, &sd);
                CHECK_MSG(fabs(sd * sqrt((double)ws[k]->cols) - 1.0) < 0.15 && fabs(m) < 0.1,
                          "%s layer %d matrix %d: mean %g sd %g cols %lld", dir, i, k, m, sd,
                          (long long)ws[k]->cols);
            }
        }
    }
    CHECK_EQ_INT(d.embed.rows, d.vocab_size);
    CHECK_EQ_INT(d.embed.cols, d.hidden_size);
    CHECK_EQ_INT(d.lm_head.rows, d.vocab_size);
    if (d.tie_embeddings) CHECK(d.lm_head.data == d.embed.data);
    else CHECK(d.lm_head.data != d.embed.data && d.lm_head.data != NULL);
    CHECK(d.final_norm.fmt != INF__W_NONE && d.final_norm.n == d.hidden_size);
    if (tiny) {
        double m, sd;
        weight_stats(&d.embed, &m, &sd);
        double want = gemma ? 1.0 / sqrt(d.hidden_size) : 1.0;
        CHECK_MSG(fabs(sd / want - 1.0) < 0.1, "%s embed sd %g want %g", dir, sd, want);
        CHECK_NEAR(vec_mean(&d.final_norm), gemma ? 0.0 : 1.0, 0.1);
    }
    CHECK(inf__model_weight_bytes(f) > (int64_t)d.vocab_size * d.hidden_size / 2);
    printf("  %-24s %-7s L=%d H=%d V=%d q=%d/%d tie=%d %lld bytes\n", strrchr(dir, '/') + 1,
           d.model_type, d.n_layers, d.hidden_size, d.vocab_size, d.quant_bits, d.quant_group,
           d.tie_embeddings, (long long)inf__model_weight_bytes(f));
    inf__model_files_free(f);
    json_decref(c);
}

static void progress_cb(float x, void *user) {
    float *last = user;
    if (x < last[0]) last[1] = 1; /* went backwards */
    last[0] = x;
    last[2] += 1;
}

/* Multimodal Gemma 3 checkpoints: the text model's tensors under
 * `prefix` and config.json's dims in a nested text_config.  Rewrites the
 * gemma3 fixture that way and checks it loads to the same description. */
static void check_nested_gemma(const char *prefix, const char *lm_prefix) {
    char src[1024], tmp[] = "/tmp/inf_model_nested_XXXXXX", p[1100];
    if (!mkdtemp(tmp)) { CHECK(0); return; }
    snprintf(src, sizeof src, "%s/tiny/gemma3-bf16-swa/model.safetensors", INF_FIXTURES);
    size_t n = 0;
    char *buf = tu_read_file(src, &n);
    if (!buf) { CHECK_MSG(0, "cannot read %s", src); return; }
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | (uint8_t)buf[i];
    json_t *h = json_loadb(buf + 8, hl, 0, NULL), *nh = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(h, k, v) {
        char name[300];
        if (strncmp(k, "model.", 6) == 0) snprintf(name, sizeof name, "%s%s", prefix, k + 6);
        else snprintf(name, sizeof name, "%s", k);
        json_object_set(nh, name, v);
    }
    /* An untied lm_head under the checkpoint's own prefix must be found. */
    json_t *emb = json_object_get(h, "model.embed_tokens.weight");
    json_t *eo = json_object_get(emb, "data_offsets");
    size_t eb = (size_t)json_integer_value(json_array_get(eo, 0));
    size_t ee = (size_t)json_integer_value(json_array_get(eo, 1));
    size_t dlen = n - 8 - hl; /* a copy of the embedding, appended */
    snprintf(p, sizeof p, "%slm_head.weight", lm_prefix);
    json_object_set_new(nh, p, json_pack("{s:s, s:O, s:[I,I]}", "dtype", "BF16", "shape",
                                         json_object_get(emb, "shape"), "data_offsets",
                                         (json_int_t)dlen, (json_int_t)(dlen + ee - eb)));
    char *hs = json_dumps(nh, JSON_COMPACT);
    size_t hn = strlen(hs);
    snprintf(p, sizeof p, "%s/model.safetensors", tmp);
    FILE *f = fopen(p, "wb");
    for (int i = 0; i < 8; i++) fputc((int)((hn >> (8 * i)) & 0xff), f);
    fwrite(hs, 1, hn, f);
    fwrite(buf + 8 + hl, 1, dlen, f);
    fwrite(buf + 8 + hl + eb, 1, ee - eb, f);
    fclose(f);
    free(hs);
    free(buf);
    json_decref(h);
    json_decref(nh);
    snprintf(src, sizeof src, "%s/tiny/gemma3-bf16-swa/config.json", INF_FIXTURES);
    json_t *tc = json_load_file(src, 0, NULL);
    json_object_set_new(tc, "tie_word_embeddings", json_false());
    json_t *top = json_pack("{s:s, s:o, s:[i,i]}", "model_type", "gemma3", "text_config", tc,
                            "eos_token_id", 1, 106);
    snprintf(p, sizeof p, "%s/config.json", tmp);
    json_dump_file(top, p, 0);
    json_decref(top);

    inf__model_desc a, b;
    inf__model_files *fa, *fb;
    inf__err err;
    snprintf(src, sizeof src, "%s/tiny/gemma3-bf16-swa", INF_FIXTURES);
    CHECK_EQ_INT(inf__model_open(src, NULL, &a, &fa, &err), INF_OK);
    int rc = inf__model_open(tmp, NULL, &b, &fb, &err);
    CHECK_MSG(rc == INF_OK, "nested %s: %s", prefix, err.msg);
    if (rc == INF_OK) {
        CHECK_EQ_STR(b.model_type, "gemma3");
        CHECK_EQ_INT(b.hidden_size, a.hidden_size);
        CHECK_EQ_INT(b.n_layers, a.n_layers);
        CHECK_NEAR(b.attn_scale, a.attn_scale, 0);
        CHECK_NEAR(b.embed_scale, a.embed_scale, 0);
        CHECK_EQ_INT(b.n_eos, 2);
        CHECK_EQ_INT(b.tie_embeddings, 0);
        CHECK(b.lm_head.data != b.embed.data && b.lm_head.fmt == INF__W_BF16);
        CHECK(memcmp(a.embed.data, b.embed.data, 512 * 64 * 2) == 0);
        CHECK(memcmp(a.embed.data, b.lm_head.data, 512 * 64 * 2) == 0);
        for (int i = 0; i < a.n_layers; i++) {
            CHECK_EQ_INT(b.layers[i].sliding_window, a.layers[i].sliding_window);
            CHECK_NEAR(b.layers[i].rope.theta, a.layers[i].rope.theta, 0);
            CHECK(memcmp(a.layers[i].w_down.data, b.layers[i].w_down.data, 64 * 160 * 2) == 0);
            CHECK(memcmp(a.layers[i].post_ffn_norm.data, b.layers[i].post_ffn_norm.data, 128) == 0);
        }
        inf__model_files_free(fb);
    }
    inf__model_files_free(fa);
    snprintf(p, sizeof p, "%s/model.safetensors", tmp);
    unlink(p);
    snprintf(p, sizeof p, "%s/config.json", tmp);
    unlink(p);
    rmdir(tmp);
}

int main(void) {
    static const char *tiny[] = {"gemma3-bf16-swa", "gemma3-mlx4-g32", "llama-bf16-tied",
                                 "llama-f32", "llama-mlx8-g64", "llama3rope-bf16",
                                 "mistral-bf16-swa", "qwen2-bf16", "qwen3-bf16",
                                 "qwen3-f16-sharded", "qwen3-mlx4-g32", "qwen3-small-bf16"};
    char dir[1024];
    for (size_t i = 0; i < sizeof tiny / sizeof tiny[0]; i++) {
        snprintf(dir, sizeof dir, "%s/tiny/%s", INF_FIXTURES, tiny[i]);
        check_model(dir, 1);
    }
    static const char *bundled[] = {"brown-llama-8m", "brown-llama-8m-mlx4", "brown-llama-8m-mlx8"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(dir, sizeof dir, "%s/models/%s", INF_SOURCE_DIR, bundled[i]);
        check_model(dir, 0);
    }
    /* The bundled model's generation_config.json repeats eos 2: the union
     * keeps one. Progress runs 0 -> 1 without going back. */
    snprintf(dir, sizeof dir, "%s/models/brown-llama-8m", INF_SOURCE_DIR);
    float pr[3] = {0, 0, 0};
    inf__load_params p = {.progress = progress_cb, .progress_user = pr};
    inf__model_desc d;
    inf__model_files *f;
    inf__err err;
    CHECK_EQ_INT(inf__model_open(dir, &p, &d, &f, &err), INF_OK);
    CHECK_EQ_INT(pr[1], 0);
    CHECK_NEAR(pr[0], 1.0, 0);
    CHECK(pr[2] >= 4);
    /* 8505792 parameters in bf16 (the index's metadata). */
    CHECK_EQ_INT(inf__model_weight_bytes(f), 17011584);
    inf__model_files_free(f);
    inf__model_files_free(NULL);
    check_nested_gemma("language_model.model.", "language_model.");
    check_nested_gemma("model.language_model.", "");
    return tu_summary("test_model_load");
}
