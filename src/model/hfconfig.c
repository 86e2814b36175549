/* config.json parsing: architectures as data (see hfconfig.h). */
#include "model/hfconfig.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

/* A parse of `fname` that ran out of memory: jansson calls it malformed
 * (core/jsonwatch.h), so ask the watch first. */
static int parse_nomem(json_t *root, const char *fname, inf__err *err) {
    json_decref(root);
    return inf__seterr(err, INF_E_NOMEM, "%s: out of memory parsing it", fname);
}
#include "core/jsonwatch.h"

/* Sanity bounds: far above any real model, low enough that products of
 * dims stay inside int64 and allocations stay plausible. */
#define MAX_DIM (1 << 24)
#define MAX_LAYERS 4096

/* A value that stays a positive, finite number once stored as a float. */
static int pos_float(double v) {
    float f = (float)v;
    return f > 0 && isfinite(f);
}

typedef struct cfg {
    json_t *root, *text; /* text == root unless a text_config is nested */
    const char *fname;
    inf__err *err;
} cfg;

/* A key from the text config, falling back to the top level. JSON null
 * counts as absent. */
static json_t *get(const cfg *c, const char *key) {
    json_t *v = json_object_get(c->text, key);
    if ((!v || json_is_null(v)) && c->text != c->root) v = json_object_get(c->root, key);
    return json_is_null(v) ? NULL : v;
}

/* Token ids: a multimodal config's top level speaks for generation, so it
 * wins over the nested text_config. */
static json_t *get_top(const cfg *c, const char *key) {
    json_t *v = json_object_get(c->root, key);
    if ((!v || json_is_null(v)) && c->text != c->root) v = json_object_get(c->text, key);
    return json_is_null(v) ? NULL : v;
}

/* Integer key: 0 absent (*v = def), 1 present, -1 present but invalid
 * (error set). */
static int get_int(const cfg *c, const char *key, int64_t lo, int64_t hi,
                   int64_t def, int64_t *v) {
    json_t *j = get(c, key);
    *v = def;
    if (!j) return 0;
    /* Some writers store integral values as 8.0. */
    double d = json_number_value(j);
    if (!json_is_number(j) || d != floor(d) || d < (double)lo || d > (double)hi) {
        inf__seterr(c->err, INF_E_FORMAT,
                    "%s: \"%s\" must be an integer in [%lld, %lld]", c->fname,
                    key, (long long)lo, (long long)hi);
        return -1;
    }
    *v = (int64_t)d;
    return 1;
}

static int need_int(const cfg *c, const char *key, int64_t lo, int64_t hi,
                    int32_t *out) {
    int64_t v;
    int r = get_int(c, key, lo, hi, 0, &v);
    if (r < 0) return -1;
    if (r == 0) {
        inf__seterr(c->err, INF_E_FORMAT, "%s: missing \"%s\"", c->fname, key);
        return -1;
    }
    *out = (int32_t)v;
    return 0;
}

/* Number from an object (not the fallback chain); def when absent/null. */
static int obj_num(const cfg *c, json_t *o, const char *key, double def,
                   double *out) {
    json_t *j = json_object_get(o, key);
    *out = def;
    if (!j || json_is_null(j)) return 0;
    if (!json_is_number(j) || !isfinite(json_number_value(j))) {
        inf__seterr(c->err, INF_E_FORMAT, "%s: \"%s\" must be a number",
                    c->fname, key);
        return -1;
    }
    *out = json_number_value(j);
    return 1;
}

/* Fills r from a rope_scaling / rope_parameters object (keys rope_type or
 * type, factor, llama3 factors, and rope_theta when present). */
static int parse_rope(const cfg *c, json_t *o, const char *what, inf__rope *r) {
    if (!o) return 0;
    if (!json_is_object(o))
        return inf__seterr(c->err, INF_E_FORMAT, "%s: \"%s\" must be an object",
                           c->fname, what);
    double v;
    if (obj_num(c, o, "rope_theta", r->theta, &v) < 0) return -1;
    if (!pos_float(v))
        return inf__seterr(c->err, INF_E_FORMAT, "%s: %s: rope_theta must be > 0",
                           c->fname, what);
    r->theta = (float)v;
    json_t *jt = json_object_get(o, "rope_type");
    if (!json_is_string(jt)) jt = json_object_get(o, "type");
    const char *type = json_is_string(jt) ? json_string_value(jt) : "default";
    if (strcmp(type, "default") == 0) {
        r->kind = INF__ROPE_DEFAULT;
        return 0;
    }
    int llama3 = strcmp(type, "llama3") == 0;
    if (!llama3 && strcmp(type, "linear") != 0)
        return inf__seterr(c->err, INF_E_UNSUPPORTED,
                           "%s: %s: rope type \"%.40s\" is not supported "
                           "(default, linear, llama3 are)", c->fname, what, type);
    double f;
    if (obj_num(c, o, "factor", 1.0, &f) < 0) return -1;
    if (!pos_float(f))
        return inf__seterr(c->err, INF_E_FORMAT, "%s: %s: factor must be > 0",
                           c->fname, what);
    r->factor = (float)f;
    r->kind = llama3 ? INF__ROPE_LLAMA3 : INF__ROPE_LINEAR;
    if (llama3) {
        double lo, hi, om;
        if (obj_num(c, o, "low_freq_factor", 1.0, &lo) < 0 ||
            obj_num(c, o, "high_freq_factor", 4.0, &hi) < 0 ||
            obj_num(c, o, "original_max_position_embeddings", 8192, &om) < 0)
            return -1;
        if (!pos_float(hi) || !pos_float(lo) || (float)hi <= (float)lo ||
            !(om >= 1 && om <= MAX_DIM))
            return inf__seterr(c->err, INF_E_FORMAT,
                               "%s: %s: llama3 rope needs high_freq_factor > "
                               "low_freq_factor > 0 and a positive "
                               "original_max_position_embeddings", c->fname, what);
        r->low_freq_factor = (float)lo;
        r->high_freq_factor = (float)hi;
        r->original_max_positions = (int32_t)om;
    }
    return 0;
}

static int arch_of(const char *t) {
    static const char *known[] = {"llama", "qwen2", "qwen3", "gemma3_text", "mistral"};
    for (int i = 0; i < 5; i++)
        if (strcmp(t, known[i]) == 0) return i;
    return -1;
}
enum { A_LLAMA, A_QWEN2, A_QWEN3, A_GEMMA3, A_MISTRAL };

/* The model_type that decides the architecture, given the top-level one:
 * a nested text_config's own model_type first (multimodal checkpoints),
 * gemma3 meaning its text model gemma3_text.  *text is the object the
 * dimensions come from (the text_config, else root). */
static const char *resolve_type(json_t *root, const char *top, json_t **text) {
    json_t *tc = json_object_get(root, "text_config");
    *text = root;
    if (json_is_object(tc)) {
        *text = tc;
        const char *mt = json_string_value(json_object_get(tc, "model_type"));
        if (mt) return mt;
    }
    return strcmp(top, "gemma3") == 0 ? "gemma3_text" : top;
}

/* The architecture's name as the description carries it ("gemma3" for
 * gemma3_text). */
static const char *arch_name(int arch, const char *mt) {
    return arch == A_GEMMA3 ? "gemma3" : mt;
}

/* Adds id to the eos list unless present. */
static void add_eos(inf__model_desc *d, int64_t id) {
    for (int i = 0; i < d->n_eos; i++)
        if (d->eos_ids[i] == id) return;
    if (d->n_eos < INF__MAX_EOS) d->eos_ids[d->n_eos++] = (int32_t)id;
}

static int read_eos(const cfg *c, json_t *j, inf__model_desc *d) {
    if (!j || json_is_null(j)) return 0;
    if (json_is_integer(j)) {
        if (json_integer_value(j) >= 0 && json_integer_value(j) <= INT32_MAX)
            add_eos(d, json_integer_value(j));
        return 0;
    }
    if (json_is_array(j)) {
        size_t i;
        json_t *e;
        json_array_foreach(j, i, e) {
            if (!json_is_integer(e) || json_integer_value(e) < 0 ||
                json_integer_value(e) > INT32_MAX)
                return inf__seterr(c->err, INF_E_FORMAT,
                                   "%s: eos_token_id[%zu] is not a token id",
                                   c->fname, i);
            add_eos(d, json_integer_value(e));
        }
        return 0;
    }
    return inf__seterr(c->err, INF_E_FORMAT,
                       "%s: eos_token_id must be an integer or a list", c->fname);
}

static int read_bos(const cfg *c, json_t *j, int32_t *bos) {
    if (!j || json_is_null(j)) return 0;
    if (!json_is_integer(j) || json_integer_value(j) < 0 ||
        json_integer_value(j) > INT32_MAX)
        return inf__seterr(c->err, INF_E_FORMAT,
                           "%s: bos_token_id must be a token id", c->fname);
    *bos = (int32_t)json_integer_value(j);
    return 0;
}

static int read_group_bits(const cfg *c, json_t *o, const char *what,
                           int32_t *bits, int32_t *group) {
    json_t *jb = json_object_get(o, "bits"), *jg = json_object_get(o, "group_size");
    json_t *jm = json_object_get(o, "mode");
    if (json_is_string(jm) && strcmp(json_string_value(jm), "affine") != 0)
        return inf__seterr(c->err, INF_E_UNSUPPORTED,
                           "%s: %s: quantisation mode \"%.32s\" is not supported "
                           "(affine is)", c->fname, what, json_string_value(jm));
    if (!json_is_integer(jb) || !json_is_integer(jg))
        return inf__seterr(c->err, INF_E_FORMAT,
                           "%s: %s: needs integer \"bits\" and \"group_size\"",
                           c->fname, what);
    json_int_t b = json_integer_value(jb), g = json_integer_value(jg);
    if (b != 4 && b != 8)
        return inf__seterr(c->err, INF_E_UNSUPPORTED,
                           "%s: %s: %lld-bit quantisation is not supported (4 "
                           "and 8 are)", c->fname, what, (long long)b);
    /* A group spans whole U32 words of packed values. */
    if (g <= 0 || g > 4096 || g % (32 / b) != 0)
        return inf__seterr(c->err, INF_E_FORMAT, "%s: %s: invalid group_size %lld",
                           c->fname, what, (long long)g);
    *bits = (int32_t)b;
    *group = (int32_t)g;
    return 0;
}

/* The quantisation block of a config: "quantization", else
 * "quantization_config" (NULL when neither).  *foreign is the quant_method
 * of a quantization_config that names one: transformers' own quantisers
 * (GPTQ, AWQ, bitsandbytes...) say quant_method; MLX writes the same block
 * as "quantization" or without it. */
static json_t *quant_block(json_t *root, json_t **foreign) {
    *foreign = NULL;
    json_t *q = json_object_get(root, "quantization");
    if (q && !json_is_null(q)) return q;
    q = json_object_get(root, "quantization_config");
    if (!q || json_is_null(q)) return NULL;
    *foreign = json_object_get(q, "quant_method");
    return q;
}

static int parse_quant(const cfg *c, inf__hfconfig *h) {
    json_t *m;
    json_t *q = quant_block(c->root, &m);
    if (!q) return 0;
    if (m)
        return inf__seterr(c->err, INF_E_UNSUPPORTED,
                           "%s: quant_method \"%.32s\" is not supported (MLX "
                           "affine 4/8-bit is)", c->fname,
                           json_is_string(m) ? json_string_value(m) : "?");
    if (!json_is_object(q))
        return inf__seterr(c->err, INF_E_FORMAT, "%s: \"quantization\" must be an object",
                           c->fname);
    if (read_group_bits(c, q, "quantization", &h->desc.quant_bits, &h->desc.quant_group))
        return -1;
    size_t n = 0, cap = json_object_size(q);
    h->rules = calloc(cap ? cap : 1, sizeof *h->rules);
    if (!h->rules) return inf__seterr(c->err, INF_E_NOMEM, "out of memory");
    const char *key;
    json_t *v;
    json_object_foreach(q, key, v) {
        if (!json_is_object(v) && !json_is_false(v)) continue; /* group_size, bits, mode */
        inf__quant_rule *r = &h->rules[n];
        if (json_is_object(v)) {
            if (read_group_bits(c, v, key, &r->bits, &r->group)) return -1;
            r->quantized = 1;
        }
        if (!(r->module = inf__strdup(key))) return inf__seterr(c->err, INF_E_NOMEM, "out of memory");
        h->n_rules = ++n;
    }
    return 0;
}

static int parse_act(const cfg *c, int arch, inf__act *act) {
    json_t *j = get(c, "hidden_activation");
    if (!json_is_string(j)) j = get(c, "hidden_act");
    const char *a = json_is_string(j) ? json_string_value(j)
                                      : arch == A_GEMMA3 ? "gelu_pytorch_tanh" : "silu";
    if (strcmp(a, "silu") == 0 || strcmp(a, "swish") == 0) *act = INF__ACT_SILU;
    else if (strcmp(a, "gelu_pytorch_tanh") == 0 || strcmp(a, "gelu_new") == 0 ||
             strcmp(a, "gelu_fast") == 0 || strcmp(a, "gelu_tanh") == 0)
        *act = INF__ACT_GELU_TANH;
    else
        return inf__seterr(c->err, INF_E_UNSUPPORTED,
                           "%s: activation \"%.32s\" is not supported (silu, "
                           "gelu_pytorch_tanh are)", c->fname, a);
    return 0;
}

/* Per-layer attention kind and rope (see the architecture notes inline). */
static int parse_layers(const cfg *c, int arch, inf__model_desc *d) {
    int gemma = arch == A_GEMMA3;
    inf__rope global = {.theta = gemma ? 1000000.0f : 10000.0f, .factor = 1.0f};
    inf__rope local = {.theta = 10000.0f, .factor = 1.0f};
    json_t *j;
    if ((j = get(c, "rope_theta"))) {
        if (!json_is_number(j) || !pos_float(json_number_value(j)))
            return inf__seterr(c->err, INF_E_FORMAT, "%s: rope_theta must be > 0", c->fname);
        global.theta = (float)json_number_value(j);
    }
    if ((j = get(c, "rope_local_base_freq"))) {
        if (!json_is_number(j) || !pos_float(json_number_value(j)))
            return inf__seterr(c->err, INF_E_FORMAT,
                               "%s: rope_local_base_freq must be > 0", c->fname);
        local.theta = (float)json_number_value(j);
    }
    /* Older: rope_scaling; newer: rope_parameters, either flat or keyed by
     * layer type ({"full_attention": {...}, "sliding_attention": {...}}). */
    if (parse_rope(c, get(c, "rope_scaling"), "rope_scaling", &global)) return -1;
    json_t *rp = get(c, "rope_parameters");
    if (rp) {
        json_t *full = json_object_get(rp, "full_attention");
        json_t *slide = json_object_get(rp, "sliding_attention");
        if (json_is_object(full) || json_is_object(slide)) {
            if (parse_rope(c, full, "rope_parameters.full_attention", &global) ||
                parse_rope(c, slide, "rope_parameters.sliding_attention", &local))
                return -1;
        } else if (parse_rope(c, rp, "rope_parameters", &global)) {
            return -1;
        }
    }
    /* Which layers slide, and the window. */
    int64_t window = 0;
    if (get_int(c, "sliding_window", 0, INT32_MAX, gemma ? 4096 : 0, &window) < 0) return -1;
    if (arch == A_QWEN2 || arch == A_QWEN3) {
        /* Qwen only slides with use_sliding_window, on layers >= max_window_layers. */
        json_t *u = get(c, "use_sliding_window");
        if (!json_is_true(u)) window = 0;
    }
    if (arch == A_LLAMA) window = 0;
    int64_t pattern = 6, max_window_layers = 28;
    if (get_int(c, "sliding_window_pattern", 1, MAX_LAYERS, 6, &pattern) < 0 ||
        get_int(c, "max_window_layers", 0, MAX_LAYERS, 28, &max_window_layers) < 0)
        return -1;
    json_t *lt = get(c, "layer_types");
    if (lt && (!json_is_array(lt) || json_array_size(lt) != (size_t)d->n_layers))
        return inf__seterr(c->err, INF_E_FORMAT,
                           "%s: layer_types must be a list of %d strings",
                           c->fname, d->n_layers);
    for (int i = 0; i < d->n_layers; i++) {
        int sliding;
        if (lt) {
            const char *s = json_string_value(json_array_get(lt, (size_t)i));
            if (!s || (strcmp(s, "sliding_attention") != 0 &&
                       strcmp(s, "full_attention") != 0))
                return inf__seterr(c->err, INF_E_FORMAT,
                                   "%s: layer_types[%d] must be \"full_attention\" "
                                   "or \"sliding_attention\"", c->fname, i);
            sliding = s[0] == 's';
        } else if (gemma) {
            sliding = (i + 1) % pattern != 0;
        } else if (arch == A_QWEN2 || arch == A_QWEN3) {
            sliding = i >= max_window_layers;
        } else {
            sliding = 1; /* mistral: every layer when a window is set */
        }
        inf__layer *L = &d->layers[i];
        L->sliding_window = sliding ? (int32_t)window : 0;
        /* Gemma's local layers use their own base and no scaling. */
        L->rope = (gemma && sliding) ? local : global;
    }
    return 0;
}

int inf__hfconfig_parse(const char *json, size_t len, const char *fname,
                        inf__hfconfig *h, inf__err *err) {
    memset(h, 0, sizeof *h);
    if (!fname) fname = "config.json";
    inf__err local;
    if (!err) err = &local; /* the code is needed even without a message */
    inf__err_clear(err);
    json_error_t je;
    inf__json_watch_begin();
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (inf__json_watch_failed()) return parse_nomem(root, fname, err);
    if (!root)
        return inf__seterr(err, INF_E_FORMAT, "%s: malformed JSON: %s (line %d, column %d)",
                           fname, je.text, je.line, je.column);
    cfg c = {root, root, fname, err};
    inf__model_desc *d = &h->desc;
    int rc = -1;
    if (!json_is_object(root)) {
        inf__seterr(err, INF_E_FORMAT, "%s: not a JSON object", fname);
        goto done;
    }
    const char *top = json_string_value(json_object_get(root, "model_type"));
    if (!top) {
        inf__seterr(err, INF_E_FORMAT, "%s: no \"model_type\"", fname);
        goto done;
    }
    snprintf(h->top_model_type, sizeof h->top_model_type, "%s", top);
    const char *mt = resolve_type(root, top, &c.text);
    h->nested = c.text != root;
    int arch = arch_of(mt);
    if (arch < 0) {
        inf__seterr(err, INF_E_UNSUPPORTED,
                    "%s: unknown architecture: model_type \"%.40s\" (supported: "
                    "llama, qwen2, qwen3, gemma3, gemma3_text, mistral)", fname, mt);
        goto done;
    }
    int gemma = arch == A_GEMMA3;
    snprintf(d->model_type, sizeof d->model_type, "%s", arch_name(arch, mt));

    if (need_int(&c, "vocab_size", 1, MAX_DIM, &d->vocab_size) ||
        need_int(&c, "hidden_size", 1, MAX_DIM, &d->hidden_size) ||
        need_int(&c, "num_hidden_layers", 1, MAX_LAYERS, &d->n_layers) ||
        need_int(&c, "num_attention_heads", 1, 65536, &d->n_heads) ||
        need_int(&c, "intermediate_size", 1, MAX_DIM, &d->intermediate_size))
        goto done;
    int64_t v;
    if (get_int(&c, "num_key_value_heads", 1, 65536, d->n_heads, &v) < 0) goto done;
    d->n_kv_heads = (int32_t)v;
    /* Gemma3TextConfig's default is 256; elsewhere hidden / heads. */
    if (get_int(&c, "head_dim", 1, 65536, gemma ? 256 : d->hidden_size / d->n_heads, &v) < 0)
        goto done;
    d->head_dim = (int32_t)v;
    if (d->head_dim <= 0 || d->head_dim % 2) {
        inf__seterr(err, INF_E_FORMAT, "%s: head_dim %d must be even and positive",
                    fname, d->head_dim);
        goto done;
    }
    if (d->n_heads % d->n_kv_heads != 0) {
        inf__seterr(err, INF_E_FORMAT,
                    "%s: num_attention_heads %d is not a multiple of "
                    "num_key_value_heads %d", fname, d->n_heads, d->n_kv_heads);
        goto done;
    }
    if ((int64_t)d->n_heads * d->head_dim > MAX_DIM) {
        inf__seterr(err, INF_E_FORMAT, "%s: num_attention_heads * head_dim too large",
                    fname);
        goto done;
    }
    if (get_int(&c, "max_position_embeddings", 1, INT32_MAX,
                gemma ? 131072 : arch == A_LLAMA ? 2048 : 32768, &v) < 0)
        goto done;
    d->max_positions = (int32_t)v;
    double eps = 1e-6;
    json_t *je2 = get(&c, "rms_norm_eps");
    if (je2) {
        eps = json_number_value(je2);
        if (!json_is_number(je2) || !pos_float(eps) || !(eps < 1)) {
            inf__seterr(err, INF_E_FORMAT, "%s: rms_norm_eps must be in (0, 1)", fname);
            goto done;
        }
    }
    d->norm_eps = (float)eps;

    json_t *jd = get(&c, "dtype");
    if (!json_is_string(jd)) jd = get(&c, "torch_dtype");
    snprintf(d->dtype, sizeof d->dtype, "%s",
             json_is_string(jd) ? json_string_value(jd) : "float32");
    if (parse_act(&c, arch, &d->act)) goto done;

    json_t *tie = get(&c, "tie_word_embeddings");
    if (tie && !json_is_boolean(tie)) {
        inf__seterr(err, INF_E_FORMAT, "%s: tie_word_embeddings must be a boolean", fname);
        goto done;
    }
    h->tie_given = tie != NULL;
    /* transformers' per-architecture defaults: Gemma3 ties, the rest not. */
    d->tie_embeddings = tie ? json_is_true(tie) : gemma;

    d->embed_scale = 1.0f;
    d->attn_scale = 1.0f / sqrtf((float)d->head_dim);
    if (gemma) {
        d->norm_add_one = 1;
        d->embed_scale = sqrtf((float)d->hidden_size);
        double qs;
        if (obj_num(&c, c.text, "query_pre_attn_scalar", 256, &qs) < 0) goto done;
        if (!pos_float(qs)) {
            inf__seterr(err, INF_E_FORMAT, "%s: query_pre_attn_scalar must be > 0", fname);
            goto done;
        }
        d->attn_scale = (float)(1.0 / sqrt(qs));
    }
    double cap;
    if (obj_num(&c, c.text, "final_logit_softcapping", 0, &cap) < 0) goto done;
    d->final_logit_softcap = pos_float(cap) ? (float)cap : 0;
    if (obj_num(&c, c.text, "attn_logit_softcapping", 0, &cap) < 0) goto done;
    d->attn_logit_softcap = pos_float(cap) ? (float)cap : 0;

    d->layers = calloc((size_t)d->n_layers, sizeof *d->layers);
    if (!d->layers) {
        inf__seterr(err, INF_E_NOMEM, "out of memory");
        goto done;
    }
    if (parse_layers(&c, arch, d)) goto done;

    d->bos_id = -1;
    if (read_bos(&c, get_top(&c, "bos_token_id"), &d->bos_id) ||
        read_eos(&c, get_top(&c, "eos_token_id"), d))
        goto done;
    if (parse_quant(&c, h)) goto done;
    rc = INF_OK;
done:
    json_decref(root);
    if (rc != INF_OK) {
        inf__hfconfig_free(h);
        return err->code ? err->code : INF_E_FORMAT;
    }
    return INF_OK;
}

int inf__hfconfig_parse_gen(const char *json, size_t len, const char *fname,
                            inf__model_desc *d, inf__err *err) {
    if (!fname) fname = "generation_config.json";
    json_error_t je;
    inf__json_watch_begin();
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (inf__json_watch_failed()) return parse_nomem(root, fname, err);
    if (!root)
        return inf__seterr(err, INF_E_FORMAT, "%s: malformed JSON: %s (line %d, column %d)",
                           fname, je.text, je.line, je.column);
    cfg c = {root, root, fname, err};
    int rc = INF_E_FORMAT;
    if (!json_is_object(root)) {
        inf__seterr(err, INF_E_FORMAT, "%s: not a JSON object", fname);
        goto done;
    }
    int32_t bos = -1;
    if (read_eos(&c, json_object_get(root, "eos_token_id"), d) ||
        read_bos(&c, json_object_get(root, "bos_token_id"), &bos))
        goto done;
    if (d->bos_id < 0) d->bos_id = bos;
    double t, p, rp, k, mp;
    int ht, hp, hrp, hk, hmp;
    if ((ht = obj_num(&c, root, "temperature", 0, &t)) < 0 ||
        (hp = obj_num(&c, root, "top_p", 0, &p)) < 0 ||
        (hrp = obj_num(&c, root, "repetition_penalty", 0, &rp)) < 0 ||
        (hk = obj_num(&c, root, "top_k", 0, &k)) < 0 ||
        (hmp = obj_num(&c, root, "min_p", 0, &mp)) < 0)
        goto done;
    d->gen_do_sample = json_is_true(json_object_get(root, "do_sample"));
    d->gen_temperature = (float)t;
    d->gen_top_p = (float)p;
    d->gen_repeat_penalty = (float)rp;
    d->gen_min_p = (float)mp;
    d->gen_top_k = k > 0 && k < INT32_MAX ? (int32_t)k : 0;
    d->gen_have = (ht ? INF__GEN_TEMPERATURE : 0u) | (hp ? INF__GEN_TOP_P : 0u) |
                  (hrp ? INF__GEN_REPEAT_PENALTY : 0u) | (hmp ? INF__GEN_MIN_P : 0u) |
                  /* top_k counts only as an integer (50, not 50.5) */
                  (hk && json_is_integer(json_object_get(root, "top_k")) ? INF__GEN_TOP_K : 0u);
    rc = INF_OK;
done:
    json_decref(root);
    return rc;
}

int inf__hfconfig_peek(const char *json, size_t len, const char *fname,
                       inf__hfconfig_peek_t *out, inf__err *err) {
    memset(out, 0, sizeof *out);
    if (!fname) fname = "config.json";
    json_error_t je;
    inf__json_watch_begin();
    json_t *root = json_loadb(json, len, 0, &je);
    if (inf__json_watch_failed()) return parse_nomem(root, fname, err);
    if (!root)
        return inf__seterr(err, INF_E_FORMAT, "%s: malformed JSON: %s (line %d, column %d)",
                           fname, je.text, je.line, je.column);
    int rc = INF_OK;
    const char *top = json_string_value(json_object_get(root, "model_type"));
    if (!json_is_object(root)) {
        rc = inf__seterr(err, INF_E_FORMAT, "%s: not a JSON object", fname);
    } else {
        if (top) {
            json_t *text;
            const char *mt = resolve_type(root, top, &text);
            int arch = arch_of(mt);
            out->supported = arch >= 0;
            snprintf(out->model_type, sizeof out->model_type, "%s",
                     arch >= 0 ? arch_name(arch, mt) : mt);
        }
        json_t *foreign;
        json_t *q = quant_block(root, &foreign);
        json_t *b = json_object_get(q, "bits"), *g = json_object_get(q, "group_size");
        if (!foreign && json_is_integer(b) && json_is_integer(g)) {
            out->quant_bits = (int32_t)json_integer_value(b);
            out->quant_group = (int32_t)json_integer_value(g);
        }
    }
    json_decref(root);
    return rc;
}

int inf__hfconfig_quant_for(const inf__hfconfig *c, const char *module,
                            int32_t *bits, int32_t *group) {
    *bits = *group = 0;
    if (!c || !c->desc.quant_bits) return 0;
    for (size_t i = 0; i < c->n_rules; i++) {
        if (strcmp(c->rules[i].module, module) != 0) continue;
        if (!c->rules[i].quantized) return 0;
        *bits = c->rules[i].bits;
        *group = c->rules[i].group;
        return 1;
    }
    *bits = c->desc.quant_bits;
    *group = c->desc.quant_group;
    return 1;
}

void inf__hfconfig_free(inf__hfconfig *c) {
    if (!c) return;
    free(c->desc.layers);
    for (size_t i = 0; i < c->n_rules; i++) free(c->rules[i].module);
    free(c->rules);
    memset(c, 0, sizeof *c);
}
