/* inf__model_open: a model directory's parsed config (src/model/modeldir)
 * + safetensors (or dummy weights) -> the model description, with every
 * expected tensor checked against the config. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "model/dummy.h"
#include "model/gguf.h"
#include "model/gguf_model.h"
#include "model/hfconfig.h"
#include "model/model.h"
#include "model/modeldir.h"
#include "model/safetensors.h"
#include "model/wmap.h"

struct inf__model_files {
    inf__st_set *st;   /* mapped files, or NULL with dummy weights */
    inf__gguf *gguf;   /* a GGUF source (a reference), or NULL */
    void *arena;       /* dummy weights (anonymous mapping) */
    size_t arena_size;
    inf__layer *layers;
    int64_t weight_bytes;
};

void inf__model_files_free(inf__model_files *f) {
    if (!f) return;
    inf__st_set_free(f->st);
    inf__gguf_free(f->gguf);
    if (f->arena) munmap(f->arena, f->arena_size);
    free(f->layers);
    free(f);
}

int64_t inf__model_weight_bytes(const inf__model_files *f) {
    return f ? f->weight_bytes : 0;
}

/* ------------------------------------------------------------------------
 * Walking the expected tensors.  The same walk validates mapped files, or
 * plans (sizes) and then places dummy weights.
 * ------------------------------------------------------------------------ */

typedef enum { M_FILES, M_PLAN, M_PLACE } walk_mode;

typedef struct walk {
    walk_mode mode;
    const inf__hfconfig *cfg;
    const inf__st_set *st;
    const char *dir;
    const char *prefix; /* "model." or a multimodal checkpoint's prefix */
    inf__err *err;
    /* Dummy weights */
    inf__dtype dt;
    int32_t bits, group;
    uint8_t *arena;
    size_t off;
    inf__fill_job *jobs;
    size_t n_jobs, cap_jobs;
    /* Progress over layers, from `base` to 1 */
    void (*progress)(float, void *);
    void *user;
    float base;
} walk;

static int dense_fmt(inf__dtype dt, inf__wfmt *f) {
    switch (dt) {
    case INF__DT_F32: *f = INF__W_F32; return 1;
    case INF__DT_F16: *f = INF__W_F16; return 1;
    case INF__DT_BF16: *f = INF__W_BF16; return 1;
    default: return 0;
    }
}

static const char *shape_str(const inf__tensor *t, char *buf, size_t n) {
    size_t o = (size_t)snprintf(buf, n, "%s [", inf__dtype_name(t->dtype));
    for (int i = 0; i < t->ndim && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (o < n) snprintf(buf + o, n - o, "]");
    return buf;
}

static int is_shape(const inf__tensor *t, int64_t a, int64_t b, int nd) {
    return t->ndim == nd && t->shape[0] == a && (nd == 1 || t->shape[1] == b);
}

static int missing(walk *w, const char *name, const char *expect) {
    return inf__seterr(w->err, INF_E_FORMAT, "%s: missing tensor \"%s\" (expected %s) in the safetensors files",
                       w->dir, name, expect);
}

static int mismatch(walk *w, const inf__tensor *t, const char *expect) {
    char got[96];
    return inf__seterr(w->err, INF_E_FORMAT, "%s: tensor \"%s\": expected %s, found %s",
                       inf__st_path_of(w->st, t), t->name, expect,
                       shape_str(t, got, sizeof got));
}

/* Dummy storage: 64-byte aligned slices of the arena (NULL while planning). */
static void *take(walk *w, size_t bytes) {
    w->off = (w->off + 63) & ~(size_t)63;
    void *p = w->mode == M_PLACE ? w->arena + w->off : NULL;
    w->off += bytes;
    return p;
}

static int add_job(walk *w, void *p, size_t n, inf__fill_kind kind, inf__dtype dt,
                   float mean, float std) {
    if (w->mode != M_PLACE || n == 0) return INF_OK;
    if (w->n_jobs == w->cap_jobs) {
        size_t cap = w->cap_jobs ? 2 * w->cap_jobs : 256;
        inf__fill_job *j = realloc(w->jobs, cap * sizeof *j);
        if (!j) return inf__seterr(w->err, INF_E_NOMEM, "out of memory");
        w->jobs = j;
        w->cap_jobs = cap;
    }
    w->jobs[w->n_jobs++] = (inf__fill_job){p, n, kind, dt, mean, std};
    return INF_OK;
}

/* A matrix [rows, cols] stored as `base`.weight (+ .scales/.biases when
 * MLX-quantised). */
static int bind_mat(walk *w, const char *base, int64_t rows, int64_t cols,
                    inf__weight *out) {
    char name[320], expect[128];
    int32_t qb = 0, qg = 0;
    memset(out, 0, sizeof *out);
    out->rows = rows;
    out->cols = cols;
    if (w->mode != M_FILES) {
        /* mlx-lm quantises a linear only when its input splits into groups. */
        int quant = w->bits && cols % w->group == 0;
        size_t n = (size_t)rows * (size_t)cols;
        if (!quant) {
            dense_fmt(w->dt, &out->fmt);
            out->data = take(w, n * inf__dtype_size(w->dt));
            return add_job(w, (void *)out->data, n, INF__FILL_NORMAL, w->dt, 0, 0.02f);
        }
        size_t ng = (size_t)rows * (size_t)(cols / w->group);
        out->fmt = w->bits == 4 ? INF__W_MLX4 : INF__W_MLX8;
        out->bits = w->bits;
        out->group = w->group;
        out->sb_dtype = w->dt;
        out->data = take(w, n * (size_t)w->bits / 8);
        out->scales = take(w, ng * inf__dtype_size(w->dt));
        out->biases = take(w, ng * inf__dtype_size(w->dt));
        /* q uniform in [0, L]: scale*q + bias has mean 0 and std 0.02. */
        float levels = (float)((1 << w->bits) - 1);
        float scale = 0.02f * 3.4641016f / levels;
        int rc = add_job(w, (void *)out->data, n * (size_t)w->bits / 8, INF__FILL_BITS, w->dt, 0, 0);
        if (!rc) rc = add_job(w, (void *)out->scales, ng, INF__FILL_CONST, w->dt, scale, 0);
        if (!rc) rc = add_job(w, (void *)out->biases, ng, INF__FILL_CONST, w->dt, -scale * levels / 2, 0);
        return rc;
    }
    snprintf(name, sizeof name, "%s.weight", base);
    const inf__tensor *t = inf__st_find(w->st, name);
    int qexp = inf__hfconfig_quant_for(w->cfg, base, &qb, &qg);
    if (!t) {
        if (qexp && cols % qg == 0)
            snprintf(expect, sizeof expect, "U32 [%lld, %lld] (MLX %d-bit)", (long long)rows,
                     (long long)(cols * qb / 32), qb);
        else
            snprintf(expect, sizeof expect, "[%lld, %lld]", (long long)rows, (long long)cols);
        return missing(w, name, expect);
    }
    if (t->dtype == INF__DT_U32) {
        if (!qexp)
            return inf__seterr(w->err, INF_E_FORMAT,
                               "%s: tensor \"%s\" is U32 (MLX-quantised) but config.json %s",
                               inf__st_path_of(w->st, t), name,
                               w->cfg->desc.quant_bits ? "marks this module as not quantised"
                                                       : "has no \"quantization\"");
        if (cols % qg != 0)
            return inf__seterr(w->err, INF_E_FORMAT,
                               "%s: tensor \"%s\": %lld input features do not split into "
                               "groups of %d", inf__st_path_of(w->st, t), name,
                               (long long)cols, qg);
        snprintf(expect, sizeof expect, "U32 [%lld, %lld] (MLX %d-bit)", (long long)rows,
                 (long long)(cols * qb / 32), qb);
        if (!is_shape(t, rows, cols * qb / 32, 2)) return mismatch(w, t, expect);
        const inf__tensor *sb[2];
        const char *sfx[2] = {"scales", "biases"};
        snprintf(expect, sizeof expect, "F16/BF16/F32 [%lld, %lld]", (long long)rows,
                 (long long)(cols / qg));
        for (int i = 0; i < 2; i++) {
            snprintf(name, sizeof name, "%s.%s", base, sfx[i]);
            sb[i] = inf__st_find(w->st, name);
            inf__wfmt f;
            if (!sb[i]) return missing(w, name, expect);
            if (!dense_fmt(sb[i]->dtype, &f) || !is_shape(sb[i], rows, cols / qg, 2) ||
                sb[i]->dtype != sb[0]->dtype)
                return mismatch(w, sb[i], expect);
        }
        out->fmt = qb == 4 ? INF__W_MLX4 : INF__W_MLX8;
        out->data = t->data;
        out->scales = sb[0]->data;
        out->biases = sb[1]->data;
        out->sb_dtype = sb[0]->dtype;
        out->bits = qb;
        out->group = qg;
        return INF_OK;
    }
    /* Dense.  A module the config would quantise may still be dense (a
     * converter's predicate skipped it); the stored layout is what counts. */
    snprintf(expect, sizeof expect, "F32/F16/BF16 [%lld, %lld]", (long long)rows, (long long)cols);
    if (!dense_fmt(t->dtype, &out->fmt) || !is_shape(t, rows, cols, 2))
        return mismatch(w, t, expect);
    out->data = t->data;
    return INF_OK;
}

/* A vector [n]: norm weight (dummy: constant `one`) or bias (dummy: random).
 * Optional vectors that are absent stay INF__W_NONE. */
static int bind_vec(walk *w, const char *name, int64_t n, int required, int is_norm,
                    inf__vec *out) {
    memset(out, 0, sizeof *out);
    if (w->mode != M_FILES) {
        if (!required) return INF_OK;
        dense_fmt(w->dt, &out->fmt);
        out->n = n;
        out->data = take(w, (size_t)n * inf__dtype_size(w->dt));
        /* Gemma scales by (1 + w): 0 there is the identity, as 1 is elsewhere. */
        return is_norm ? add_job(w, (void *)out->data, (size_t)n, INF__FILL_CONST, w->dt,
                                 w->cfg->desc.norm_add_one ? 0.0f : 1.0f, 0)
                       : add_job(w, (void *)out->data, (size_t)n, INF__FILL_NORMAL, w->dt,
                                 0, 0.02f);
    }
    char expect[64];
    snprintf(expect, sizeof expect, "F32/F16/BF16 [%lld]", (long long)n);
    const inf__tensor *t = inf__st_find(w->st, name);
    if (!t) return required ? missing(w, name, expect) : INF_OK;
    if (!dense_fmt(t->dtype, &out->fmt) || !is_shape(t, n, 0, 1)) return mismatch(w, t, expect);
    out->n = n;
    out->data = t->data;
    return INF_OK;
}

static int walk_model(walk *w, inf__model_desc *d, const char *lm_name) {
    const char *P = w->prefix;
    char b[320];
    int gemma = d->norm_add_one;
    int qwen2 = strcmp(d->model_type, "qwen2") == 0;
    int qknorm = gemma || strcmp(d->model_type, "qwen3") == 0;
    int64_t H = d->hidden_size, I = d->intermediate_size, V = d->vocab_size;
    int64_t QD = (int64_t)d->n_heads * d->head_dim, KD = (int64_t)d->n_kv_heads * d->head_dim;
    int rc;
#define TRY(x) do { if ((rc = (x)) != INF_OK) return rc; } while (0)
#define NM(...) (snprintf(b, sizeof b, __VA_ARGS__), b)
    TRY(bind_mat(w, NM("%sembed_tokens", P), V, H, &d->embed));
    for (int i = 0; i < d->n_layers; i++) {
        inf__layer *L = &d->layers[i];
        char lp[160];
        snprintf(lp, sizeof lp, "%slayers.%d.", P, i);
        TRY(bind_vec(w, NM("%sinput_layernorm.weight", lp), H, 1, 1, &L->attn_norm));
        TRY(bind_mat(w, NM("%sself_attn.q_proj", lp), QD, H, &L->wq));
        TRY(bind_mat(w, NM("%sself_attn.k_proj", lp), KD, H, &L->wk));
        TRY(bind_mat(w, NM("%sself_attn.v_proj", lp), KD, H, &L->wv));
        TRY(bind_mat(w, NM("%sself_attn.o_proj", lp), H, QD, &L->wo));
        /* Qwen2 always has q/k/v biases; elsewhere (attention_bias) they may. */
        TRY(bind_vec(w, NM("%sself_attn.q_proj.bias", lp), QD, qwen2, 0, &L->bq));
        TRY(bind_vec(w, NM("%sself_attn.k_proj.bias", lp), KD, qwen2, 0, &L->bk));
        TRY(bind_vec(w, NM("%sself_attn.v_proj.bias", lp), KD, qwen2, 0, &L->bv));
        if (qknorm) {
            TRY(bind_vec(w, NM("%sself_attn.q_norm.weight", lp), d->head_dim, 1, 1, &L->q_norm));
            TRY(bind_vec(w, NM("%sself_attn.k_norm.weight", lp), d->head_dim, 1, 1, &L->k_norm));
        }
        if (gemma) {
            TRY(bind_vec(w, NM("%spost_attention_layernorm.weight", lp), H, 1, 1, &L->post_attn_norm));
            TRY(bind_vec(w, NM("%spre_feedforward_layernorm.weight", lp), H, 1, 1, &L->ffn_norm));
            TRY(bind_vec(w, NM("%spost_feedforward_layernorm.weight", lp), H, 1, 1, &L->post_ffn_norm));
        } else {
            TRY(bind_vec(w, NM("%spost_attention_layernorm.weight", lp), H, 1, 1, &L->ffn_norm));
        }
        if (w->mode == M_FILES) {
            /* The description has no place for output-projection or MLP
             * biases (Llama's attention_bias / mlp_bias): refuse rather
             * than silently drop them. */
            static const char *nobias[] = {"self_attn.o_proj.bias", "mlp.gate_proj.bias",
                                           "mlp.up_proj.bias", "mlp.down_proj.bias"};
            for (int k = 0; k < 4; k++) {
                const inf__tensor *t = inf__st_find(w->st, NM("%s%s", lp, nobias[k]));
                if (t)
                    return inf__seterr(w->err, INF_E_UNSUPPORTED,
                                       "%s: tensor \"%s\": biases on o_proj and the MLP "
                                       "are not supported", inf__st_path_of(w->st, t), b);
            }
        }
        TRY(bind_mat(w, NM("%smlp.gate_proj", lp), I, H, &L->w_gate));
        TRY(bind_mat(w, NM("%smlp.up_proj", lp), I, H, &L->w_up));
        TRY(bind_mat(w, NM("%smlp.down_proj", lp), H, I, &L->w_down));
        if (w->progress && w->mode != M_PLAN)
            w->progress(w->base + (1.0f - w->base) * (float)(i + 1) / (float)(d->n_layers + 1),
                        w->user);
    }
    TRY(bind_vec(w, NM("%snorm.weight", P), H, 1, 1, &d->final_norm));
    if (d->tie_embeddings) {
        d->lm_head = d->embed;
    } else {
        /* lm_head.weight -> module "lm_head" */
        size_t l = strlen(lm_name) - strlen(".weight");
        snprintf(b, sizeof b, "%.*s", (int)l, lm_name);
        TRY(bind_mat(w, b, V, H, &d->lm_head));
    }
#undef TRY
#undef NM
    return INF_OK;
}

/* ------------------------------------------------------------------------
 * Files
 * ------------------------------------------------------------------------ */

static int parse_dtype_name(const char *s, inf__dtype *dt) {
    static const struct { const char *n; inf__dtype d; } t[] = {
        {"bf16", INF__DT_BF16}, {"bfloat16", INF__DT_BF16}, {"BF16", INF__DT_BF16},
        {"f16", INF__DT_F16},   {"float16", INF__DT_F16},   {"fp16", INF__DT_F16},
        {"F16", INF__DT_F16},   {"f32", INF__DT_F32},       {"float32", INF__DT_F32},
        {"fp32", INF__DT_F32},  {"F32", INF__DT_F32},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(s, t[i].n) == 0) { *dt = t[i].d; return 1; }
    return 0;
}

static int open_dummy(const char *dir, const inf__load_params *p, const inf__hfconfig *cfg,
                      inf__model_desc *d, inf__model_files *f, inf__err *err) {
    walk w = {.mode = M_PLAN, .cfg = cfg, .dir = dir, .prefix = "model.", .err = err,
              .progress = p->progress, .user = p->progress_user, .base = 0.1f};
    const char *dts = p->dummy_dtype ? p->dummy_dtype : d->dtype;
    if (!parse_dtype_name(dts, &w.dt))
        return inf__seterr(err, p->dummy_dtype ? INF_E_INVALID_ARGUMENT : INF_E_UNSUPPORTED,
                           "%s: dummy weights: dtype \"%s\" is not bf16, f16 or f32", dir, dts);
    w.bits = p->dummy_bits ? p->dummy_bits : d->quant_bits;
    w.group = p->dummy_group > 0 ? p->dummy_group : d->quant_group > 0 ? d->quant_group : 64;
    if (w.bits != 0 && w.bits != 4 && w.bits != 8)
        return inf__seterr(err, INF_E_INVALID_ARGUMENT,
                           "dummy weights: bits must be 0, 4 or 8 (got %d)", w.bits);
    if (w.bits && (w.group % (32 / w.bits) != 0 || w.group > 4096))
        return inf__seterr(err, INF_E_INVALID_ARGUMENT,
                           "dummy weights: invalid group size %d", w.group);
    d->quant_bits = w.bits;
    d->quant_group = w.bits ? w.group : 0;
    static const char *names[] = {[INF__DT_F32] = "float32", [INF__DT_F16] = "float16",
                                  [INF__DT_BF16] = "bfloat16"};
    snprintf(d->dtype, sizeof d->dtype, "%s", names[w.dt]);
    int rc = walk_model(&w, d, "lm_head.weight");
    if (rc) return rc;
    size_t size = (w.off + 4095) & ~(size_t)4095;
    void *m = mmap(NULL, size ? size : 4096, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return inf__seterr(err, INF_E_NOMEM, "dummy weights: cannot allocate %zu bytes", size);
#ifdef MADV_HUGEPAGE
    /* Fewer, larger page faults: most of the fill time is the kernel
     * handing out zeroed pages. Advisory; failure changes nothing. */
    madvise(m, size ? size : 4096, MADV_HUGEPAGE);
#endif
    f->arena = m;
    f->arena_size = size ? size : 4096;
    f->weight_bytes = (int64_t)w.off;
    w.mode = M_PLACE;
    w.arena = m;
    w.off = 0;
    rc = walk_model(&w, d, "lm_head.weight");
    if (!rc) rc = inf__dummy_fill(w.jobs, w.n_jobs, 0x5eed);
    if (rc == INF_E_NOMEM) inf__seterr(err, rc, "out of memory");
    free(w.jobs);
    return rc;
}

typedef struct progress_half {
    void (*fn)(float, void *);
    void *user;
} progress_half;

static void half_progress(float x, void *user) {
    progress_half *h = user;
    h->fn(0.5f * x, h->user);
}

static int open_files(const char *dir, const inf__load_params *p, const inf__hfconfig *cfg,
                      inf__model_desc *d, inf__model_files *f, inf__err *err) {
    /* Mapping and parsing the files is the first half of the progress,
     * checking the tensors layer by layer the second. */
    progress_half half = {p->progress, p->progress_user};
    int rc = inf__st_open_dir(dir, p->copy_weights ? INF__WMAP_COPY : 0, &f->st,
                              p->progress ? half_progress : NULL, &half, err);
    if (rc) return rc;
    f->weight_bytes = inf__st_data_bytes(f->st);
    walk w = {.mode = M_FILES, .cfg = cfg, .st = f->st, .dir = dir, .prefix = "model.",
              .err = err, .progress = p->progress, .user = p->progress_user, .base = 0.5f};
    /* Multimodal Gemma 3 checkpoints keep the text model under a prefix
     * (older transformers: language_model.model., newer:
     * model.language_model.). */
    static const char *prefixes[] = {"model.", "language_model.model.", "model.language_model."};
    char b[64];
    for (size_t i = 0; i < 3; i++) {
        snprintf(b, sizeof b, "%sembed_tokens.weight", prefixes[i]);
        if (inf__st_find(f->st, b)) { w.prefix = prefixes[i]; break; }
    }
    const char *lm = "lm_head.weight";
    if (!inf__st_find(f->st, lm) && inf__st_find(f->st, "language_model.lm_head.weight"))
        lm = "language_model.lm_head.weight";
    /* tie_word_embeddings, or transformers' default for the architecture
     * (tied for Gemma 3 only): an untied model without lm_head is an error,
     * as transformers would initialise a random one. */
    int rc2 = walk_model(&w, d, lm);
    if (rc2 == INF_E_FORMAT && !cfg->tie_given && !d->tie_embeddings &&
        !inf__st_find(f->st, lm) && strstr(err->msg, lm)) {
        char m[INF__ERR_MSG_MAX];
        snprintf(m, sizeof m, "%s", err->msg);
        inf__seterr(err, rc2, "%.300s; config.json does not set tie_word_embeddings and %s "
                    "defaults to untied", m, d->model_type);
    }
    return rc2;
}

int inf__model_open_md(const struct inf__modeldir *md, const inf__load_params *p,
                       inf__model_desc *desc, inf__model_files **out, inf__err *err) {
    inf__err local;
    if (!err) err = &local;
    inf__err_clear(err);
    if (out) *out = NULL;
    if (desc) memset(desc, 0, sizeof *desc);
    if (!md || !desc || !out)
        return inf__seterr(err, INF_E_INVALID_ARGUMENT, "inf__model_open_md: NULL argument");
    if ((md->what & INF__MD_MODEL) != INF__MD_MODEL)
        return inf__seterr(err, INF_E_INVALID_ARGUMENT,
                           "inf__model_open_md: %s was opened without its parsed config", md->dir);
    inf__load_params defaults = {0};
    if (!p) p = &defaults;
    const inf__hfconfig *cfg = &md->cfg;
    /* The description is worked on as a copy: the directory's parse stays
     * as it was read. */
    inf__model_desc d = cfg->desc;
    size_t lb = (size_t)d.n_layers * sizeof *d.layers;
    d.layers = malloc(lb ? lb : 1);
    inf__model_files *f = calloc(1, sizeof *f);
    if (!d.layers || !f) {
        free(d.layers);
        free(f);
        return inf__seterr(err, INF_E_NOMEM, "out of memory");
    }
    if (lb) memcpy(d.layers, cfg->desc.layers, lb);
    f->layers = d.layers; /* owned by the files object from here on */
    if (p->progress) p->progress(0.0f, p->progress_user);
    int rc;
    if (md->gguf) {
        /* GGUF (src/model/gguf_model.c): the tensors stay in md's mapping,
         * which the files object keeps a reference to. */
        if (p->dummy_weights)
            rc = inf__seterr(err, INF_E_INVALID_ARGUMENT,
                             "%s: dummy weights need a config.json directory, not a GGUF file",
                             md->config.path);
        else {
            f->gguf = inf__gguf_ref(md->gguf);
            f->weight_bytes = inf__gguf_data_bytes(f->gguf);
            rc = inf__gguf_bind(f->gguf, &d, err);
        }
    } else {
        rc = p->dummy_weights ? open_dummy(md->dir, p, cfg, &d, f, err)
                              : open_files(md->dir, p, cfg, &d, f, err);
    }
    if (rc) {
        inf__model_files_free(f);
        return rc;
    }
    *desc = d;
    if (p->progress) p->progress(1.0f, p->progress_user);
    *out = f;
    return INF_OK;
}

int inf__model_open(const char *dir, const inf__load_params *p, inf__model_desc *desc,
                    inf__model_files **out, inf__err *err) {
    inf__err local;
    if (!err) err = &local;
    inf__err_clear(err);
    if (out) *out = NULL;
    if (desc) memset(desc, 0, sizeof *desc);
    if (!dir || !desc || !out)
        return inf__seterr(err, INF_E_INVALID_ARGUMENT, "inf__model_open: NULL argument");
    inf__modeldir md;
    int rc = inf__modeldir_open(dir, INF__MD_MODEL, &md, err);
    if (rc) return rc;
    rc = inf__model_open_md(&md, p, desc, out, err);
    inf__modeldir_free(&md);
    return rc;
}
