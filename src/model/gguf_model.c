/* GGUF metadata and tensors -> the model description (see gguf_model.h). */
#include "model/gguf_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DIM (1 << 24)
#define MAX_LAYERS 4096

enum { A_LLAMA, A_QWEN2, A_QWEN3, A_GEMMA3 };

typedef struct gcfg {
    const inf__gguf *g;
    const char *arch;
    const char *path;
    inf__err *err;
} gcfg;

/* ARCH.key */
static const char *ak(const gcfg *c, const char *key, char *buf, size_t n) {
    snprintf(buf, n, "%s.%s", c->arch, key);
    return buf;
}

/* An integer ARCH.key in [lo, hi]; def when absent (required: an error).
 * Returns 0, or -1 with err set. */
static int arch_int(const gcfg *c, const char *key, int64_t lo, int64_t hi, int required,
                    int64_t def, int64_t *v) {
    char k[160];
    ak(c, key, k, sizeof k);
    int r = inf__gguf_get_int(c->g, k, lo, hi, v, c->err);
    if (r < 0) return -1;
    if (r == 0) {
        if (required) {
            inf__seterr(c->err, INF_E_FORMAT, "%s: missing metadata key \"%s\"", c->path, k);
            return -1;
        }
        *v = def;
    }
    return 0;
}

static int arch_float(const gcfg *c, const char *key, double def, double *v) {
    char k[160];
    ak(c, key, k, sizeof k);
    int r = inf__gguf_get_float(c->g, k, v, c->err);
    if (r < 0) return -1;
    if (r == 0) *v = def;
    if (!isfinite(*v)) {
        inf__seterr(c->err, INF_E_FORMAT, "%s: \"%s\" is not a finite number", c->path, k);
        return -1;
    }
    return 0;
}

inf__wfmt inf__gguf_wfmt(uint32_t t) {
    switch (t) {
    case INF__GGML_F32: return INF__W_F32;
    case INF__GGML_F16: return INF__W_F16;
    case INF__GGML_BF16: return INF__W_BF16;
    case INF__GGML_Q8_0: return INF__W_Q8_0;
    case INF__GGML_Q4_0: return INF__W_Q4_0;
    case INF__GGML_Q4_1: return INF__W_Q4_1;
    case INF__GGML_Q5_0: return INF__W_Q5_0;
    case INF__GGML_Q5_1: return INF__W_Q5_1;
    case INF__GGML_Q2_K: return INF__W_Q2_K;
    case INF__GGML_Q3_K: return INF__W_Q3_K;
    case INF__GGML_Q4_K: return INF__W_Q4_K;
    case INF__GGML_Q5_K: return INF__W_Q5_K;
    case INF__GGML_Q6_K: return INF__W_Q6_K;
    default: return INF__W_NONE;
    }
}

/* Token ids from tokenizer.ggml.*: -1 when absent. */
static int token_id(const gcfg *c, const char *key, int32_t *id) {
    int64_t v;
    int r = inf__gguf_get_int(c->g, key, 0, INT32_MAX, &v, c->err);
    if (r < 0) return -1;
    *id = r ? (int32_t)v : -1;
    return 0;
}

static void add_eos(inf__model_desc *d, int32_t id) {
    if (id < 0) return;
    for (int i = 0; i < d->n_eos; i++)
        if (d->eos_ids[i] == id) return;
    if (d->n_eos < INF__MAX_EOS) d->eos_ids[d->n_eos++] = id;
}

/* Which layers slide (gemma3): ARCH.attention.sliding_window_pattern as a
 * period (every period-th layer is global) or an array of bools. */
static int swa_layers(const gcfg *c, inf__model_desc *d, int *slide) {
    char k[160];
    ak(c, "attention.sliding_window_pattern", k, sizeof k);
    const inf__gguf_kv *kv = inf__gguf_find(c->g, k);
    int64_t period = 6;
    if (kv && kv->type == INF__GGUF_ARRAY) {
        if (kv->arr_type != INF__GGUF_BOOL || kv->arr_n != (uint64_t)d->n_layers)
            return inf__seterr(c->err, INF_E_FORMAT,
                               "%s: \"%s\" must be %d bools, one per layer", c->path, k,
                               d->n_layers);
        for (int i = 0; i < d->n_layers; i++) slide[i] = inf__gguf_arr_int(kv, (uint64_t)i) != 0;
        return INF_OK;
    }
    if (arch_int(c, "attention.sliding_window_pattern", 0, MAX_LAYERS, 0, 6, &period))
        return INF_E_FORMAT;
    for (int i = 0; i < d->n_layers; i++)
        slide[i] = period == 0 || (i % period) < period - 1;
    return INF_OK;
}

int inf__gguf_config(const inf__gguf *g, inf__hfconfig *h, inf__err *err) {
    inf__err local;
    if (!err) err = &local;
    memset(h, 0, sizeof *h);
    inf__model_desc *d = &h->desc;
    gcfg c = {g, NULL, inf__gguf_path(g), err};
    inf__gguf_str as;
    int r = inf__gguf_get_str(g, "general.architecture", &as, err);
    if (r < 0) return INF_E_FORMAT;
    if (r == 0)
        return inf__seterr(err, INF_E_FORMAT, "%s: missing metadata key \"general.architecture\"",
                           c.path);
    char arch[32];
    snprintf(arch, sizeof arch, "%.*s", (int)(as.n < 31 ? as.n : 31), as.s);
    int a;
    if (as.n == 5 && memcmp(as.s, "llama", 5) == 0) a = A_LLAMA;
    else if (as.n == 5 && memcmp(as.s, "qwen2", 5) == 0) a = A_QWEN2;
    else if (as.n == 5 && memcmp(as.s, "qwen3", 5) == 0) a = A_QWEN3;
    else if (as.n == 6 && memcmp(as.s, "gemma3", 6) == 0) a = A_GEMMA3;
    else
        return inf__seterr(err, INF_E_UNSUPPORTED,
                           "%s: GGUF architecture \"%.*s\" is not supported (llama, qwen2, "
                           "qwen3, gemma3 are)", c.path, (int)(as.n < 64 ? as.n : 64), as.s);
    c.arch = arch;
    snprintf(d->model_type, sizeof d->model_type, "%s", arch);
    int gemma = a == A_GEMMA3;

    int64_t v;
#define INT(key, lo, hi, req, def, dst) \
    do { if (arch_int(&c, key, lo, hi, req, def, &v)) return INF_E_FORMAT; dst = (int32_t)v; } while (0)
    INT("embedding_length", 1, MAX_DIM, 1, 0, d->hidden_size);
    INT("block_count", 1, MAX_LAYERS, 1, 0, d->n_layers);
    INT("feed_forward_length", 1, MAX_DIM, 1, 0, d->intermediate_size);
    INT("attention.head_count", 1, 65536, 1, 0, d->n_heads);
    INT("context_length", 1, INT32_MAX, 0, 0, d->max_positions);
    /* head_count_kv: a number, or one per layer (all equal here). */
    {
        char k[160];
        const inf__gguf_kv *kv = inf__gguf_find(g, ak(&c, "attention.head_count_kv", k, sizeof k));
        if (kv && kv->type == INF__GGUF_ARRAY) {
            if (kv->arr_n == 0 || kv->arr_n > MAX_LAYERS)
                return inf__seterr(err, INF_E_FORMAT, "%s: \"%s\": invalid array", c.path, k);
            int64_t x = inf__gguf_arr_int(kv, 0);
            for (uint64_t i = 1; i < kv->arr_n; i++)
                if (inf__gguf_arr_int(kv, i) != x)
                    return inf__seterr(err, INF_E_UNSUPPORTED,
                                       "%s: \"%s\": a different KV head count per layer is not "
                                       "supported", c.path, k);
            if (x < 1 || x > 65536)
                return inf__seterr(err, INF_E_FORMAT, "%s: \"%s\": invalid value %lld", c.path, k,
                                   (long long)x);
            d->n_kv_heads = (int32_t)x;
        } else {
            INT("attention.head_count_kv", 1, 65536, 0, d->n_heads, d->n_kv_heads);
        }
    }
    if (d->n_heads % d->n_kv_heads)
        return inf__seterr(err, INF_E_FORMAT, "%s: %d attention heads do not split into %d KV heads",
                           c.path, d->n_heads, d->n_kv_heads);
    INT("attention.key_length", 1, 65536, 0, d->hidden_size / d->n_heads, d->head_dim);
    int32_t vlen;
    INT("attention.value_length", 1, 65536, 0, d->head_dim, vlen);
    if (vlen != d->head_dim)
        return inf__seterr(err, INF_E_UNSUPPORTED,
                           "%s: key_length %d != value_length %d is not supported", c.path,
                           d->head_dim, vlen);
    if (d->head_dim <= 0 || d->head_dim % 2)
        return inf__seterr(err, INF_E_FORMAT, "%s: head dimension %d must be even and positive",
                           c.path, d->head_dim);
    if ((int64_t)d->n_heads * d->head_dim > MAX_DIM)
        return inf__seterr(err, INF_E_FORMAT, "%s: head_count * key_length too large", c.path);
    int32_t rot;
    INT("rope.dimension_count", 1, 65536, 0, d->head_dim, rot);
    if (rot != d->head_dim)
        return inf__seterr(err, INF_E_UNSUPPORTED,
                           "%s: partial RoPE (rope.dimension_count %d of head dimension %d) is "
                           "not supported", c.path, rot, d->head_dim);
    int32_t window;
    INT("attention.sliding_window", 0, INT32_MAX, 0, 0, window);
#undef INT
    double eps, theta, theta_swa, scale, cap;
    char k[160];
    if (arch_float(&c, "attention.layer_norm_rms_epsilon", -1, &eps)) return INF_E_FORMAT;
    if (!(eps > 0))
        return inf__seterr(err, INF_E_FORMAT, "%s: missing or invalid \"%s\"", c.path,
                           ak(&c, "attention.layer_norm_rms_epsilon", k, sizeof k));
    d->norm_eps = (float)eps;
    if (arch_float(&c, "rope.freq_base", gemma ? 1000000.0 : 10000.0, &theta) ||
        arch_float(&c, "rope.freq_base_swa", 10000.0, &theta_swa))
        return INF_E_FORMAT;
    if (!(theta > 0) || !(theta_swa > 0))
        return inf__seterr(err, INF_E_FORMAT, "%s: rope.freq_base must be > 0", c.path);

    inf__rope rope = {.adjacent_pairs = a == A_LLAMA, .theta = (float)theta,
                      .kind = INF__ROPE_DEFAULT, .factor = 1.0f};
    inf__gguf_str st;
    r = inf__gguf_get_str(g, ak(&c, "rope.scaling.type", k, sizeof k), &st, err);
    if (r < 0) return INF_E_FORMAT;
    double factor;
    if (arch_float(&c, "rope.scaling.factor", 0, &factor)) return INF_E_FORMAT;
    if (r == 0 && factor == 0) {
        /* older files: rope.scale_linear */
        if (arch_float(&c, "rope.scale_linear", 0, &factor)) return INF_E_FORMAT;
        if (factor > 0 && factor != 1) {
            rope.kind = INF__ROPE_LINEAR;
            rope.factor = (float)factor;
        }
    } else if (r == 1 && !(st.n == 4 && memcmp(st.s, "none", 4) == 0)) {
        if (st.n == 6 && memcmp(st.s, "linear", 6) == 0) {
            if (!(factor > 0))
                return inf__seterr(err, INF_E_FORMAT, "%s: linear RoPE scaling without a factor",
                                   c.path);
            rope.kind = INF__ROPE_LINEAR;
            rope.factor = (float)factor;
        } else {
            return inf__seterr(err, INF_E_UNSUPPORTED,
                               "%s: RoPE scaling \"%.*s\" is not supported (none, linear and "
                               "Llama 3's rope_freqs are)", c.path, (int)(st.n < 32 ? st.n : 32),
                               st.s);
        }
    }
    d->act = gemma ? INF__ACT_GELU_TANH : INF__ACT_SILU;
    d->embed_scale = gemma ? sqrtf((float)d->hidden_size) : 1.0f;
    /* The converter added 1 to Gemma's norm weights already. */
    d->norm_add_one = 0;
    d->attn_scale = 1.0f / sqrtf((float)d->head_dim);
    if (gemma && d->n_layers == 62 && d->hidden_size / d->n_heads != d->head_dim)
        /* llama.cpp: Gemma 3 27B scales by query_pre_attn_scalar =
         * hidden / heads */
        d->attn_scale = 1.0f / sqrtf((float)(d->hidden_size / d->n_heads));
    if (arch_float(&c, "attention.scale", 0, &scale)) return INF_E_FORMAT;
    if (scale > 0) d->attn_scale = (float)scale;
    if (arch_float(&c, "final_logit_softcapping", 0, &cap)) return INF_E_FORMAT;
    d->final_logit_softcap = cap > 0 ? (float)cap : 0;
    if (arch_float(&c, "attn_logit_softcapping", 0, &cap)) return INF_E_FORMAT;
    d->attn_logit_softcap = cap > 0 ? (float)cap : 0;

    /* vocab from the embedding table ([hidden, vocab] as ggml stores it) */
    const inf__gguf_tensor *emb = inf__gguf_tensor_find(g, "token_embd.weight");
    if (!emb || emb->n_dims != 2)
        return inf__seterr(err, INF_E_FORMAT, "%s: missing tensor \"token_embd.weight\" "
                           "(2 dimensions)", c.path);
    if (emb->ne[1] > INT32_MAX)
        return inf__seterr(err, INF_E_FORMAT, "%s: vocabulary too large", c.path);
    d->vocab_size = (int32_t)emb->ne[1];
    d->tie_embeddings = inf__gguf_tensor_find(g, "output.weight") == NULL;
    h->tie_given = 1;

    /* dtype: what most matrices are stored as. */
    {
        static const struct { uint32_t t; const char *name; int bits, group; } dn[] = {
            {INF__GGML_F32, "float32", 0, 0}, {INF__GGML_F16, "float16", 0, 0},
            {INF__GGML_BF16, "bfloat16", 0, 0}, {INF__GGML_Q8_0, "q8_0", 8, 32},
            {INF__GGML_Q4_0, "q4_0", 4, 32}, {INF__GGML_Q4_1, "q4_1", 4, 32},
            {INF__GGML_Q5_0, "q5_0", 5, 32}, {INF__GGML_Q5_1, "q5_1", 5, 32},
            {INF__GGML_Q2_K, "q2_k", 2, 256}, {INF__GGML_Q3_K, "q3_k", 3, 256},
            {INF__GGML_Q4_K, "q4_k", 4, 256}, {INF__GGML_Q5_K, "q5_k", 5, 256},
            {INF__GGML_Q6_K, "q6_k", 6, 256}};
        size_t cnt[sizeof dn / sizeof dn[0]] = {0}, best = 0;
        for (size_t i = 0; i < inf__gguf_tensor_count(g); i++) {
            const inf__gguf_tensor *t = inf__gguf_tensor_at(g, i);
            if (t->n_dims < 2) continue;
            for (size_t j = 0; j < sizeof dn / sizeof dn[0]; j++)
                if (dn[j].t == t->type) cnt[j]++;
        }
        for (size_t j = 1; j < sizeof dn / sizeof dn[0]; j++)
            if (cnt[j] > cnt[best]) best = j;
        snprintf(d->dtype, sizeof d->dtype, "%s", dn[best].name);
        d->quant_bits = dn[best].bits;
        d->quant_group = dn[best].group;
    }

    d->layers = calloc((size_t)d->n_layers, sizeof *d->layers);
    int *slide = calloc((size_t)d->n_layers, sizeof *slide);
    if (!d->layers || !slide) {
        free(slide);
        inf__hfconfig_free(h);
        return inf__seterr(err, INF_E_NOMEM, "out of memory");
    }
    int rc = INF_OK;
    if (gemma && window > 0) rc = swa_layers(&c, d, slide);
    else if (window > 0)
        for (int i = 0; i < d->n_layers; i++) slide[i] = 1; /* mistral: every layer */
    for (int i = 0; !rc && i < d->n_layers; i++) {
        inf__layer *L = &d->layers[i];
        L->sliding_window = slide[i] ? window : 0;
        L->rope = rope;
        if (gemma && slide[i]) {
            /* llama.cpp: local layers use freq_base_swa, unscaled */
            L->rope.theta = (float)theta_swa;
            L->rope.kind = INF__ROPE_DEFAULT;
            L->rope.factor = 1.0f;
        }
    }
    free(slide);

    d->bos_id = -1;
    int32_t id;
    if (!rc && token_id(&c, "tokenizer.ggml.bos_token_id", &d->bos_id)) rc = INF_E_FORMAT;
    static const char *eos_keys[] = {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id",
                                     "tokenizer.ggml.eom_token_id"};
    for (size_t i = 0; !rc && i < 3; i++) {
        if (token_id(&c, eos_keys[i], &id)) rc = INF_E_FORMAT;
        else add_eos(d, id);
    }
    if (!rc) {
        snprintf(d->format, sizeof d->format, "gguf");
        inf__gguf_type_mix(g, d->weight_types, sizeof d->weight_types);
        if (inf__gguf_find(g, "tokenizer.ggml.model") &&
            !inf__gguf_str_copy(g, "tokenizer.ggml.model", d->tok_model, sizeof d->tok_model))
            d->tok_model[0] = 0;
        if (inf__gguf_find(g, "tokenizer.ggml.pre") &&
            !inf__gguf_str_copy(g, "tokenizer.ggml.pre", d->tok_pre, sizeof d->tok_pre))
            d->tok_pre[0] = 0;
        d->has_chat_template = inf__gguf_find(g, "tokenizer.chat_template") != NULL;
    }
    if (rc) inf__hfconfig_free(h);
    return rc;
}

/* ------------------------------------------------------------------------
 * Tensors
 * ------------------------------------------------------------------------ */

typedef struct bind {
    const inf__gguf *g;
    const char *path;
    unsigned char *used; /* [tensor count] */
    inf__err *err;
} bind;

static long index_of(const bind *b, const inf__gguf_tensor *t) {
    return (long)(t - inf__gguf_tensor_at(b->g, 0));
}

static const char *shape_str(const inf__gguf_tensor *t, char *buf, size_t n) {
    const char *tn = inf__ggml_type_name(t->type);
    size_t o = (size_t)snprintf(buf, n, "%s [", tn ? tn : "?");
    for (int i = 0; i < t->n_dims && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%lld", i ? ", " : "", (long long)t->ne[i]);
    if (o < n) snprintf(buf + o, n - o, "]");
    return buf;
}

static int unsupported_type(bind *b, const inf__gguf_tensor *t) {
    const char *tn = inf__ggml_type_name(t->type);
    return inf__seterr(b->err, INF_E_UNSUPPORTED,
                       "%s: tensor \"%s\": ggml type %s is not supported (F32, F16, BF16, "
                       "Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K are)", b->path, t->name,
                       tn ? tn : "?");
}

/* A matrix [rows, cols]: ggml ne = {cols, rows}. */
static int bind_mat(bind *b, const char *name, int64_t rows, int64_t cols, int required,
                    inf__weight *out) {
    memset(out, 0, sizeof *out);
    const inf__gguf_tensor *t = inf__gguf_tensor_find(b->g, name);
    if (!t) {
        if (!required) return INF_OK;
        return inf__seterr(b->err, INF_E_FORMAT, "%s: missing tensor \"%s\" (expected [%lld, %lld])",
                           b->path, name, (long long)cols, (long long)rows);
    }
    b->used[index_of(b, t)] = 1;
    inf__wfmt f = inf__gguf_wfmt(t->type);
    if (f == INF__W_NONE) return unsupported_type(b, t);
    if (t->n_dims != 2 || t->ne[0] != cols || t->ne[1] != rows) {
        char got[96];
        return inf__seterr(b->err, INF_E_FORMAT, "%s: tensor \"%s\": expected [%lld, %lld], found %s",
                           b->path, name, (long long)cols, (long long)rows,
                           shape_str(t, got, sizeof got));
    }
    out->fmt = f;
    out->rows = rows;
    out->cols = cols;
    out->data = t->data;
    return INF_OK;
}

static int bind_vec(bind *b, const char *name, int64_t n, int required, inf__vec *out) {
    memset(out, 0, sizeof *out);
    const inf__gguf_tensor *t = inf__gguf_tensor_find(b->g, name);
    if (!t) {
        if (!required) return INF_OK;
        return inf__seterr(b->err, INF_E_FORMAT, "%s: missing tensor \"%s\" (expected [%lld])",
                           b->path, name, (long long)n);
    }
    b->used[index_of(b, t)] = 1;
    inf__wfmt f = inf__gguf_wfmt(t->type);
    if (f != INF__W_F32 && f != INF__W_F16 && f != INF__W_BF16) {
        char got[96];
        return inf__seterr(b->err, INF_E_FORMAT, "%s: tensor \"%s\": expected F32/F16/BF16 [%lld], "
                           "found %s", b->path, name, (long long)n, shape_str(t, got, sizeof got));
    }
    if (t->n_dims != 1 || t->ne[0] != n) {
        char got[96];
        return inf__seterr(b->err, INF_E_FORMAT, "%s: tensor \"%s\": expected [%lld], found %s",
                           b->path, name, (long long)n, shape_str(t, got, sizeof got));
    }
    out->fmt = f;
    out->n = n;
    out->data = t->data;
    return INF_OK;
}

/* The converter's Llama 3 factors for (theta, dim, factor, lo, hi, orig). */
static double llama3_factor(double theta, int dim, int i, double factor, double lo, double hi,
                            double orig) {
    double freq = 1.0 / pow(theta, (double)(2 * i) / dim);
    double wl = 2 * M_PI / freq, low_wl = orig / lo, high_wl = orig / hi;
    if (wl < high_wl) return 1;
    if (wl > low_wl) return factor;
    double s = (orig / wl - lo) / (hi - lo);
    return 1 / ((1 - s) / factor + s);
}

/* rope_freqs [head_dim/2] F32: recognised as Llama 3 scaling, or refused. */
static int bind_rope_freqs(bind *b, inf__model_desc *d) {
    const inf__gguf_tensor *t = inf__gguf_tensor_find(b->g, "rope_freqs.weight");
    if (!t) return INF_OK;
    b->used[index_of(b, t)] = 1;
    const int half = d->head_dim / 2;
    if (t->type != INF__GGML_F32 || t->n_dims != 1 || t->ne[0] != half)
        return inf__seterr(b->err, INF_E_FORMAT, "%s: tensor \"rope_freqs.weight\": expected F32 [%d]",
                           b->path, half);
    const float *ff = t->data;
    float mx = 0;
    int all_one = 1;
    for (int i = 0; i < half; i++) {
        float x;
        memcpy(&x, &ff[i], sizeof x);
        if (!(x > 0) || !isfinite(x))
            return inf__seterr(b->err, INF_E_FORMAT, "%s: rope_freqs.weight[%d] is not positive",
                               b->path, i);
        if (x > mx) mx = x;
        if (x != 1.0f) all_one = 0;
    }
    if (all_one) return INF_OK;
    if (d->layers[0].rope.kind != INF__ROPE_DEFAULT)
        return inf__seterr(b->err, INF_E_UNSUPPORTED,
                           "%s: rope_freqs together with rope.scaling is not supported", b->path);
    /* The original context is not stored: try the key, then powers of two. */
    int64_t orig_key = 0;
    char k[160];
    snprintf(k, sizeof k, "%s.rope.scaling.original_context_length", d->model_type);
    if (inf__gguf_get_int(b->g, k, 1, INT32_MAX, &orig_key, b->err) < 0) return INF_E_FORMAT;
    double theta = d->layers[0].rope.theta;
    for (int cand = -1; cand <= 24; cand++) {
        double orig = cand < 0 ? (double)(orig_key ? orig_key : 8192) : (double)(1 << cand);
        int ok = 1;
        for (int i = 0; ok && i < half; i++) {
            float x;
            memcpy(&x, &ff[i], sizeof x);
            double want = llama3_factor(theta, d->head_dim, i, mx, 1.0, 4.0, orig);
            ok = fabs(want - x) <= 1e-5 * fabs(want);
        }
        if (!ok) continue;
        for (int l = 0; l < d->n_layers; l++) {
            inf__rope *r = &d->layers[l].rope;
            r->kind = INF__ROPE_LLAMA3;
            r->factor = mx;
            r->low_freq_factor = 1.0f;
            r->high_freq_factor = 4.0f;
            r->original_max_positions = (int32_t)orig;
        }
        return INF_OK;
    }
    return inf__seterr(b->err, INF_E_UNSUPPORTED,
                       "%s: tensor \"rope_freqs.weight\": per-dimension RoPE factors that are "
                       "not Llama 3's scaling are not supported", b->path);
}

int inf__gguf_bind(const inf__gguf *g, inf__model_desc *d, inf__err *err) {
    inf__err local;
    if (!err) err = &local;
    size_t nt = inf__gguf_tensor_count(g);
    bind b = {g, inf__gguf_path(g), calloc(nt ? nt : 1, 1), err};
    if (!b.used) return inf__seterr(err, INF_E_NOMEM, "out of memory");
    int gemma = strcmp(d->model_type, "gemma3") == 0;
    int qwen2 = strcmp(d->model_type, "qwen2") == 0;
    int qknorm = gemma || strcmp(d->model_type, "qwen3") == 0;
    int64_t H = d->hidden_size, I = d->intermediate_size, V = d->vocab_size;
    int64_t QD = (int64_t)d->n_heads * d->head_dim, KD = (int64_t)d->n_kv_heads * d->head_dim;
    char n[96];
    int rc;
#define TRY(x) do { if ((rc = (x)) != INF_OK) goto out; } while (0)
#define NM(...) (snprintf(n, sizeof n, __VA_ARGS__), n)
    TRY(bind_mat(&b, "token_embd.weight", V, H, 1, &d->embed));
    for (int i = 0; i < d->n_layers; i++) {
        inf__layer *L = &d->layers[i];
        TRY(bind_vec(&b, NM("blk.%d.attn_norm.weight", i), H, 1, &L->attn_norm));
        TRY(bind_mat(&b, NM("blk.%d.attn_q.weight", i), QD, H, 1, &L->wq));
        TRY(bind_mat(&b, NM("blk.%d.attn_k.weight", i), KD, H, 1, &L->wk));
        TRY(bind_mat(&b, NM("blk.%d.attn_v.weight", i), KD, H, 1, &L->wv));
        TRY(bind_mat(&b, NM("blk.%d.attn_output.weight", i), H, QD, 1, &L->wo));
        TRY(bind_vec(&b, NM("blk.%d.attn_q.bias", i), QD, qwen2, &L->bq));
        TRY(bind_vec(&b, NM("blk.%d.attn_k.bias", i), KD, qwen2, &L->bk));
        TRY(bind_vec(&b, NM("blk.%d.attn_v.bias", i), KD, qwen2, &L->bv));
        if (qknorm) {
            TRY(bind_vec(&b, NM("blk.%d.attn_q_norm.weight", i), d->head_dim, 1, &L->q_norm));
            TRY(bind_vec(&b, NM("blk.%d.attn_k_norm.weight", i), d->head_dim, 1, &L->k_norm));
        }
        TRY(bind_vec(&b, NM("blk.%d.ffn_norm.weight", i), H, 1, &L->ffn_norm));
        if (gemma) {
            TRY(bind_vec(&b, NM("blk.%d.post_attention_norm.weight", i), H, 1, &L->post_attn_norm));
            TRY(bind_vec(&b, NM("blk.%d.post_ffw_norm.weight", i), H, 1, &L->post_ffn_norm));
        }
        TRY(bind_mat(&b, NM("blk.%d.ffn_gate.weight", i), I, H, 1, &L->w_gate));
        TRY(bind_mat(&b, NM("blk.%d.ffn_up.weight", i), I, H, 1, &L->w_up));
        TRY(bind_mat(&b, NM("blk.%d.ffn_down.weight", i), H, I, 1, &L->w_down));
    }
    TRY(bind_vec(&b, "output_norm.weight", H, 1, &d->final_norm));
    if (d->tie_embeddings) d->lm_head = d->embed;
    else TRY(bind_mat(&b, "output.weight", V, H, 1, &d->lm_head));
    TRY(bind_rope_freqs(&b, d));
    /* Anything left over would be silently dropped (o_proj / MLP biases,
     * another architecture's extras): refuse instead. */
    for (size_t i = 0; i < nt; i++)
        if (!b.used[i]) {
            rc = inf__seterr(err, INF_E_UNSUPPORTED,
                             "%s: tensor \"%s\" is not used by the %s mapping (not supported)",
                             b.path, inf__gguf_tensor_at(g, i)->name, d->model_type);
            goto out;
        }
    rc = INF_OK;
out:
#undef TRY
#undef NM
    free(b.used);
    return rc;
}

void inf__gguf_type_mix(const inf__gguf *g, char *buf, size_t n) {
    size_t cnt[64] = {0};
    for (size_t i = 0; i < inf__gguf_tensor_count(g); i++) {
        uint32_t t = inf__gguf_tensor_at(g, i)->type;
        if (t < 64) cnt[t]++;
    }
    size_t o = 0;
    if (n) buf[0] = 0;
    for (;;) {
        size_t best = 64;
        for (size_t t = 0; t < 64; t++)
            if (cnt[t] && (best == 64 || cnt[t] > cnt[best])) best = t;
        if (best == 64 || o >= n) break;
        const char *tn = inf__ggml_type_name((uint32_t)best);
        o += (size_t)snprintf(buf + o, n - o, "%s%s %zu", o ? ", " : "", tn ? tn : "?", cnt[best]);
        cnt[best] = 0;
    }
}
