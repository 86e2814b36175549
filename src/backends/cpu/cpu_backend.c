/* The cpu compute backend's life cycle: checks the description, converts
 * the small vectors, starts the thread pool, owns the KV block pools. */
#include "backends/cpu/cpu.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backends/cpu/cpu_ctx.h"
#include "backends/cpu/ggml_blocks.h"
#include "backends/cpu/ops.h"
#include "core/log.h"
#include "model/rope.h"

/* Rows per pass: bounds scratch memory; the engine chunks prefill too. */
#define CPU_MAX_ROWS 512
/* Query rows per attention block (tokens x heads of one KV group): each key
 * and value row is read once for all of them instead of once per token,
 * which in a 512-token prefill cut attention's cache traffic ~16x.  64
 * rather than 32: Qwen3-0.6B's 512-token prefill spent ~1 point less of
 * its samples in attention (perf, 2 alternated runs each). */
#define CPU_ATT_QUERY_ROWS 64

/* Row stride of a matmul input of width n: a multiple of 16 floats plus 16,
 * so consecutive rows never sit a multiple of 4 KiB apart (cpu_ctx.h). */
static int64_t padded_ld(int64_t n) { return (n + 15) / 16 * 16 + 16; }

static int cpu_available(char *why, size_t why_size) {
    if (why && why_size) why[0] = '\0';
    return 1;
}

static void note_alloc(inf__cpu_ctx *c) {
    int64_t a = c->kv_bytes + c->scratch_bytes;
    if (a > c->peak_bytes) c->peak_bytes = a;
}

/* A stored vector as a malloc'd f32 array (add_one: 1 + w, for gemma
 * norms); NULL with *ok untouched when v is absent, *ok = 0 on no memory. */
static float *vec_f32(const inf__vec *v, int64_t n, int add_one, int *ok) {
    if (v->fmt == INF__W_NONE || !v->data) return NULL;
    float *out = malloc((size_t)n * sizeof *out);
    if (!out) { *ok = 0; return NULL; }
    for (int64_t i = 0; i < n; i++) {
        float w = inf__cpu_vec_get(v, i);
        out[i] = add_one ? 1.0f + w : w;
    }
    return out;
}

static int weight_ok(const inf__weight *w, int64_t rows, int64_t cols,
                     const char *what, int layer, inf__err *err) {
    switch (w->fmt) {
    case INF__W_F32: case INF__W_F16: case INF__W_BF16:
        break;
    case INF__W_MLX4: case INF__W_MLX8:
        if (w->group <= 0 || cols % w->group != 0 || !w->scales || !w->biases ||
            (w->sb_dtype != INF__DT_F32 && w->sb_dtype != INF__DT_F16 &&
             w->sb_dtype != INF__DT_BF16) ||
            (cols * (w->fmt == INF__W_MLX4 ? 4 : 8)) % 32 != 0)
            return inf__seterr(err, INF_E_UNSUPPORTED,
                               "cpu: layer %d %s: unsupported MLX layout (group %d, cols %lld)",
                               layer, what, (int)w->group, (long long)cols);
        break;
    case INF__W_Q8_0: case INF__W_Q4_0: case INF__W_Q4_1: case INF__W_Q5_0: case INF__W_Q5_1:
    case INF__W_Q2_K: case INF__W_Q3_K: case INF__W_Q4_K: case INF__W_Q5_K: case INF__W_Q6_K:
        /* ggml blocks: whole blocks per row (ggml_blocks.h). */
        if (cols % inf__cpu_ggml_block_elems(w->fmt) != 0)
            return inf__seterr(err, INF_E_UNSUPPORTED,
                               "cpu: layer %d %s: %s needs a multiple of %d columns, got %lld",
                               layer, what, inf__cpu_ggml_name(w->fmt),
                               (int)inf__cpu_ggml_block_elems(w->fmt), (long long)cols);
        break;
    default:
        return inf__seterr(err, INF_E_UNSUPPORTED, "cpu: layer %d %s: unsupported weight format %d",
                           layer, what, (int)w->fmt);
    }
    if (!w->data || w->rows != rows || w->cols != cols)
        return inf__seterr(err, INF_E_INVALID_ARGUMENT,
                           "cpu: layer %d %s: shape [%lld, %lld], expected [%lld, %lld]",
                           layer, what, (long long)w->rows, (long long)w->cols,
                           (long long)rows, (long long)cols);
    return INF_OK;
}

/* The KV pools' memory: an anonymous mapping, its pages committed by the
 * OS as blocks are first written.  Huge pages where the system gives them
 * on request (THP "madvise", Debian's default): a prompt written into
 * fresh blocks took a page fault per 4 KiB of K and V, 4-5% of a 512-token
 * prefill of Qwen3-0.6B Q4_0 on a virtual machine (perf: the faults under
 * kv_round).  The cost is a coarser commit: up to one 2 MiB page beyond
 * the blocks written.  NULL when the mapping fails. */
static void *kv_pool_alloc(size_t bytes) {
    void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return NULL;
#ifdef MADV_HUGEPAGE
    if (bytes >= ((size_t)2 << 20)) madvise(m, bytes, MADV_HUGEPAGE); /* advisory: failure changes nothing */
#endif
    return m;
}

static void kv_pool_free(void *m, size_t bytes) {
    if (m) munmap(m, bytes);
}

static void cpu_free(void *ctx) {
    inf__cpu_ctx *c = ctx;
    if (!c) return;
    inf__pool_free(c->pool);
    if (c->layers) {
        for (int32_t l = 0; l < c->d->n_layers; l++) {
            inf__cpu_layer *L = &c->layers[l];
            free(L->attn_norm); free(L->post_attn_norm); free(L->ffn_norm);
            free(L->post_ffn_norm); free(L->q_norm); free(L->k_norm);
            free(L->bq); free(L->bk); free(L->bv); free(L->inv_freq);
        }
        free(c->layers);
    }
    free(c->final_norm);
    if (c->wpack) munmap(c->wpack, c->wpack_bytes);
    kv_pool_free(c->kv_map, c->kv_map_bytes);
    free(c->kp); free(c->vp);
    free(c->own_tables); free(c->own); free(c->n_cached);
    free(c->x); free(c->h); free(c->o); free(c->q); free(c->att);
    free(c->k); free(c->v); free(c->gate); free(c->up);
    free(c->cs); free(c->sn); free(c->scores); free(c->att_q); free(c->att_o);
    free(c->xq.q); free(c->xq.d); free(c->xq.s); free(c->xb);
    free(c);
}

/* Positions per block when the engine does not page (per-slot mode). */
#define CPU_SLOT_BLOCK 32

/* Precision fast keeps the cache in f16 (issue 20): half the memory and
 * half the bytes attention reads per position; exact keeps f32. */
static int kv_is_f16(const inf__compute_params *p) { return p->precision == INF_PRECISION_FAST; }

static int64_t cpu_kv_token_bytes(const inf__model_desc *d, const inf__compute_params *p) {
    const int64_t elem = kv_is_f16(p) ? 2 : (int64_t)sizeof(float);
    return 2 * (int64_t)d->n_layers * d->n_kv_heads * d->head_dim * elem;
}

/* The pools and, in per-slot mode, the slots' fixed tables. */
static int kv_init(inf__cpu_ctx *c, const inf__compute_params *p, inf__err *err) {
    const inf__model_desc *d = c->d;
    c->paged = p->kv_block_tokens > 0;
    c->bt = c->paged ? p->kv_block_tokens : CPU_SLOT_BLOCK;
    c->slot_blocks = (c->n_ctx + c->bt - 1) / c->bt;
    c->n_blocks = c->paged ? p->kv_blocks : c->slot_blocks * c->n_slots;
    c->kv_window = inf__model_kv_window(d);
    if (c->n_blocks <= 0)
        return inf__seterr(err, INF_E_INVALID_ARGUMENT, "cpu: init: %d KV blocks", (int)c->n_blocks);
    c->kv_f16 = kv_is_f16(p);
    c->kv_elem = c->kv_f16 ? 2 : (int64_t)sizeof(float);
    c->kp = calloc((size_t)d->n_layers, sizeof *c->kp);
    c->vp = calloc((size_t)d->n_layers, sizeof *c->vp);
    if (!c->kp || !c->vp) goto nomem;
    /* One mapping; block b of every layer's K and V side by side
     * (cpu_ctx.h), so the first blocks written commit one huge page, not
     * one per layer and side. */
    const size_t part = (size_t)c->bt * (size_t)c->kv_dim * (size_t)c->kv_elem; /* a block of one pool */
    c->kv_bstride = 2 * (int64_t)d->n_layers * c->bt * c->kv_dim;
    c->kv_map_bytes = (size_t)c->n_blocks * 2 * (size_t)d->n_layers * part;
    if (!(c->kv_map = kv_pool_alloc(c->kv_map_bytes))) goto nomem;
    for (int32_t l = 0; l < d->n_layers; l++) {
        c->kp[l] = (char *)c->kv_map + 2 * (size_t)l * part;
        c->vp[l] = (char *)c->kv_map + (2 * (size_t)l + 1) * part;
    }
    if (!c->paged) {
        c->own_tables = malloc((size_t)c->n_blocks * sizeof *c->own_tables);
        c->own = malloc((size_t)c->n_slots * sizeof *c->own);
        c->n_cached = calloc((size_t)c->n_slots, sizeof *c->n_cached);
        if (!c->own_tables || !c->own || !c->n_cached) goto nomem;
        for (int32_t i = 0; i < c->n_blocks; i++) c->own_tables[i] = i;
        for (int32_t s = 0; s < c->n_slots; s++) c->own[s] = c->own_tables + (int64_t)s * c->slot_blocks;
    }
    return INF_OK;
nomem:
    return inf__seterr(err, INF_E_NOMEM, "cpu: KV cache of %d blocks of %d positions: out of memory",
                       (int)c->n_blocks, (int)c->bt);
}

/* ---- the layers' matrices in the kernel set's own layout ---------------
 *
 * Where the set has one (kernels.h: pack_bytes; precision fast's BF16
 * layer), every layer matrix it takes is copied once into one anonymous
 * mapping in that layout, layer by layer, the rows of a layer's matrices
 * shared out over the pool; the copies replace the description's in
 * inf__cpu_layer.  With release_weights, each layer's originals are given
 * back as soon as its copies exist, so the weights are held about once
 * (plus one layer) throughout, copied files included. */

#define PACK_CHUNK_ROWS 256 /* rows per pool chunk while packing */
#define PACK_HEAD_ROWS 4096 /* rows of the output head per slice */

typedef struct pack_task {
    const inf__cpu_kernels *k;
    const inf__weight *src[7];
    inf__weight *dst[7];
    char *at[7];            /* where each copy goes (NULL: kept as stored) */
    int64_t first_chunk[8]; /* chunk index where matrix j starts; [7] = total */
} pack_task;

static void pack_chunk(void *arg, int64_t chunk, int ith) {
    const pack_task *t = arg;
    (void)ith;
    int64_t r0, r1;
    const int j = inf__cpu_chunk_rows(t->first_chunk, t->src, PACK_CHUNK_ROWS, chunk, &r0, &r1);
    t->k->pack(t->src[j], r0, r1, t->at[j], t->dst[j]);
}

/* The memory holding w as stored, for the formats a set repacks (dense
 * values, ggml's blocks; MLX's values, scales and biases): the regions' starts and
 * lengths in p and n, and their count (0 for other formats). */
static int stored_regions(const inf__weight *w, const void *p[3], int64_t n[3]) {
    const inf__wfmt f = w->fmt;
    const int64_t eb = f == INF__W_F32 ? 4 : f == INF__W_F16 || f == INF__W_BF16 ? 2 : 0;
    if (eb > 0) {
        p[0] = w->data;
        n[0] = w->rows * w->cols * eb;
        return 1;
    }
    if (inf__cpu_is_ggml(f)) {
        p[0] = w->data;
        n[0] = w->rows * (w->cols / inf__cpu_ggml_block_elems(f)) * inf__cpu_ggml_block_bytes(f);
        return 1;
    }
    if (f != INF__W_MLX4 && f != INF__W_MLX8) return 0;
    p[0] = w->data;
    n[0] = w->rows * w->cols * w->bits / 8;
    p[1] = w->scales;
    p[2] = w->biases;
    n[1] = n[2] = w->rows * (w->cols / w->group) * (w->sb_dtype == INF__DT_F32 ? 4 : 2);
    return 3;
}

/* Rows [r0, r0+rows) of w as a matrix of their own (a format that
 * stored_regions takes). */
static inf__weight rows_of(const inf__weight *w, int64_t r0, int64_t rows) {
    const void *p[3] = {0};
    int64_t n[3] = {0};
    inf__weight v = *w;
    const int k = stored_regions(w, p, n);
    v.rows = rows;
    v.data = (const char *)w->data + n[0] / w->rows * r0;
    if (k == 3) {
        v.scales = (const char *)w->scales + n[1] / w->rows * r0;
        v.biases = (const char *)w->biases + n[2] / w->rows * r0;
    }
    return v;
}

/* MADV_DONTNEED over the whole pages inside w's stored bytes (the formats
 * repacked; others are left alone). */
static void give_back(const inf__weight *w) {
    const void *p[3];
    int64_t n[3];
    const long ps = sysconf(_SC_PAGESIZE);
    const int k = stored_regions(w, p, n);
    for (int i = 0; i < k && ps > 0; i++) {
        const uintptr_t pg = (uintptr_t)ps, s = (uintptr_t)p[i], a = (s + pg - 1) & ~(pg - 1),
                        b = (s + (uintptr_t)n[i]) & ~(pg - 1);
        if (b > a) madvise((void *)a, b - a, MADV_DONTNEED); /* advisory: failure keeps them */
    }
}

/* Without the memory for the copies the weights stay as stored (slower,
 * not wrong), with a warning. */
/* Packs the weights ws[0..nw) (those the set repacks) at *at, advancing
 * it, rows shared out over the pool; gives back the originals' pages. */
static void pack_group(inf__cpu_ctx *c, inf__weight *const *ws, int nw, char **at, int release) {
    const inf__cpu_kernels *k = c->kern;
    pack_task t = {k, {0}, {0}, {0}, {0}};
    inf__weight orig[7];
    for (int j = 0; j < nw; j++) {
        orig[j] = *ws[j];
        t.src[j] = &orig[j];
        t.dst[j] = ws[j];
        const int64_t b = k->pack_bytes(&orig[j]);
        t.at[j] = b > 0 ? *at : NULL;
        *at += ((size_t)b + 63) / 64 * 64;
        const int64_t chunks = b > 0 ? (orig[j].rows + PACK_CHUNK_ROWS - 1) / PACK_CHUNK_ROWS : 0;
        t.first_chunk[j + 1] = t.first_chunk[j] + chunks;
    }
    inf__pool_run(c->pool, pack_chunk, &t, t.first_chunk[nw]);
    for (int j = 0; release && j < nw; j++)
        if (t.at[j]) give_back(&orig[j]);
}

/* Without the memory for the copies the weights stay as stored (slower,
 * not wrong), with a warning.  The output head is repacked too (a third
 * of the bytes a Qwen3-0.6B decode reads); when the embedding table is
 * the same matrix (tied), lookups read the repacked copy
 * (inf__cpu_dequant_row takes the layout), else the table stays as
 * stored. */
static void pack_weights(inf__cpu_ctx *c, int release) {
    const inf__model_desc *d = c->d;
    const inf__cpu_kernels *k = c->kern;
    if (!k->pack_bytes || !k->pack || k->pack_rows <= 0 || PACK_CHUNK_ROWS % k->pack_rows)
        return;
    size_t total = ((size_t)k->pack_bytes(&c->lm_head) + 63) / 64 * 64;
    for (int32_t l = 0; l < d->n_layers; l++) {
        const inf__cpu_layer *C = &c->layers[l];
        const inf__weight *w[7] = {&C->wq, &C->wk, &C->wv, &C->wo, &C->w_gate, &C->w_up, &C->w_down};
        for (int j = 0; j < 7; j++) total += ((size_t)k->pack_bytes(w[j]) + 63) / 64 * 64;
    }
    if (total == 0) return;
    void *m = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        inf__log(INF_LOG_WARN, "cpu: no memory to repack %.1f MiB of weights: kept as stored (slower)",
                 total / 1048576.0);
        return;
    }
#ifdef MADV_HUGEPAGE
    madvise(m, total, MADV_HUGEPAGE); /* fewer TLB misses streaming them; advisory */
#endif
    c->wpack = m;
    c->wpack_bytes = total;
    char *at = m;
    for (int32_t l = 0; l < d->n_layers; l++) {
        inf__cpu_layer *C = &c->layers[l];
        inf__weight *const ws[7] = {&C->wq, &C->wk, &C->wv, &C->wo, &C->w_gate, &C->w_up, &C->w_down};
        pack_group(c, ws, 7, &at, release);
    }
    const int tied = c->embed.data == c->lm_head.data && c->embed.fmt == c->lm_head.fmt &&
                     c->embed.rows == c->lm_head.rows && c->embed.cols == c->lm_head.cols;
    /* the head (151,936 rows for Qwen3) in slices of PACK_HEAD_ROWS, each
     * given back once copied: the peak stays the weights plus a slice */
    const inf__weight head = c->lm_head;
    const void *hp[3];
    int64_t hn[3];
    if (k->pack_bytes(&head) > 0 && stored_regions(&head, hp, hn) > 0) {
        inf__weight slice = head;
        for (int64_t r0 = 0; r0 < head.rows; r0 += PACK_HEAD_ROWS) {
            slice = rows_of(&head, r0, head.rows - r0 < PACK_HEAD_ROWS ? head.rows - r0 : PACK_HEAD_ROWS);
            const inf__weight before = rows_of(&head, 0, r0); /* PACK_HEAD_ROWS: whole pack_rows */
            char *sat = at + (size_t)(r0 > 0 ? k->pack_bytes(&before) : 0);
            inf__weight *const one[1] = {&slice};
            pack_group(c, one, 1, &sat, release);
        }
        c->lm_head = slice; /* the last slice's description, made whole */
        c->lm_head.rows = head.rows;
        c->lm_head.data = at;
        if (tied) c->embed = c->lm_head; /* its pages were the head's */
    }
    inf__log(INF_LOG_INFO, "cpu: %.1f MiB of weights repacked for the %s kernels%s", total / 1048576.0,
             k->name, release ? "" : " (originals kept)");
}

static int cpu_init(const inf__model_desc *d, const inf__compute_params *p,
                    void **out, inf__err *err) {
    *out = NULL;
    if (!d || !p) return inf__seterr(err, INF_E_INVALID_ARGUMENT, "cpu: init: NULL argument");
    if (d->hidden_size <= 0 || d->n_layers <= 0 || d->n_heads <= 0 ||
        d->n_kv_heads <= 0 || d->n_heads % d->n_kv_heads != 0 ||
        d->head_dim <= 0 || d->head_dim % 2 != 0 || d->vocab_size <= 0 ||
        d->intermediate_size <= 0 || !d->layers)
        return inf__seterr(err, INF_E_INVALID_ARGUMENT,
                           "cpu: init: invalid dimensions (hidden %d, layers %d, heads %d/%d, head_dim %d)",
                           (int)d->hidden_size, (int)d->n_layers, (int)d->n_heads,
                           (int)d->n_kv_heads, (int)d->head_dim);
    if (p->n_slots <= 0 || p->context_length <= 0)
        return inf__seterr(err, INF_E_INVALID_ARGUMENT, "cpu: init: n_slots %d, context_length %d",
                           (int)p->n_slots, (int)p->context_length);
    const int64_t H = d->hidden_size, qd = (int64_t)d->n_heads * d->head_dim,
                  kvd = (int64_t)d->n_kv_heads * d->head_dim, I = d->intermediate_size;
    int rc;
    if ((rc = weight_ok(&d->embed, d->vocab_size, H, "embed", -1, err)) ||
        (rc = weight_ok(&d->lm_head, d->vocab_size, H, "lm_head", -1, err)))
        return rc;
    for (int32_t l = 0; l < d->n_layers; l++) {
        const inf__layer *L = &d->layers[l];
        if ((rc = weight_ok(&L->wq, qd, H, "q_proj", l, err)) ||
            (rc = weight_ok(&L->wk, kvd, H, "k_proj", l, err)) ||
            (rc = weight_ok(&L->wv, kvd, H, "v_proj", l, err)) ||
            (rc = weight_ok(&L->wo, H, qd, "o_proj", l, err)) ||
            (rc = weight_ok(&L->w_gate, I, H, "gate_proj", l, err)) ||
            (rc = weight_ok(&L->w_up, I, H, "up_proj", l, err)) ||
            (rc = weight_ok(&L->w_down, H, I, "down_proj", l, err)))
            return rc;
    }

    inf__cpu_ctx *c = calloc(1, sizeof *c);
    if (!c) return inf__seterr(err, INF_E_NOMEM, "cpu: init: out of memory");
    c->d = d;
    /* Precision fast: the rounding kernels (kernels.h); exact: the
     * environment's exact set.  INF_CPU_REFERENCE=1 forces the reference
     * kernels either way; INF_CPU_KERNELS picks an exact set for
     * comparisons (kernels_select.c). */
    const char *ref = getenv("INF_CPU_REFERENCE");
    const int force_ref = ref && ref[0] && strcmp(ref, "0") != 0;
    c->kern = p->precision == INF_PRECISION_FAST && !force_ref ? inf__cpu_kernels_fast()
                                                               : inf__cpu_kernels_from_env();
    c->act_mul = c->kern->act_mul ? c->kern->act_mul : inf__cpu_act_mul;
    c->embed = d->embed;
    c->lm_head = d->lm_head;
    c->n_slots = p->n_slots;
    c->n_ctx = p->context_length;
    c->q_dim = (int32_t)qd;
    c->kv_dim = (int32_t)kvd;
    c->half = d->head_dim / 2;
    if ((rc = inf__pool_create(p->n_threads, &c->pool, err))) { cpu_free(c); return rc; }
    c->nth = inf__pool_size(c->pool);
    /* Which kernels run decides speed and (under precision fast) numerics. */
    const char *bf16 = c->kern == inf__cpu_kernels_fast() ? inf__cpu_kernels_fast_bf16() : NULL;
    inf__log(INF_LOG_INFO, "cpu: %s kernels%s%s, %d thread%s", c->kern->name, bf16 ? ", BF16 prefill on " : "",
             bf16 ? bf16 : "", c->nth, c->nth == 1 ? "" : "s");

    int ok = 1;
    c->layers = calloc((size_t)d->n_layers, sizeof *c->layers);
    if (!c->layers) ok = 0;
    for (int32_t l = 0; ok && l < d->n_layers; l++) {
        const inf__layer *L = &d->layers[l];
        inf__cpu_layer *C = &c->layers[l];
        const int a1 = d->norm_add_one;
        C->attn_norm = vec_f32(&L->attn_norm, H, a1, &ok);
        C->post_attn_norm = vec_f32(&L->post_attn_norm, H, a1, &ok);
        C->ffn_norm = vec_f32(&L->ffn_norm, H, a1, &ok);
        C->post_ffn_norm = vec_f32(&L->post_ffn_norm, H, a1, &ok);
        C->q_norm = vec_f32(&L->q_norm, d->head_dim, a1, &ok);
        C->k_norm = vec_f32(&L->k_norm, d->head_dim, a1, &ok);
        C->bq = vec_f32(&L->bq, qd, 0, &ok);
        C->bk = vec_f32(&L->bk, kvd, 0, &ok);
        C->bv = vec_f32(&L->bv, kvd, 0, &ok);
        if (ok && (!C->attn_norm || !C->ffn_norm)) {
            cpu_free(c);
            return inf__seterr(err, INF_E_INVALID_ARGUMENT, "cpu: layer %d: missing norm weights", (int)l);
        }
        C->wq = L->wq; C->wk = L->wk; C->wv = L->wv; C->wo = L->wo;
        C->w_gate = L->w_gate; C->w_up = L->w_up; C->w_down = L->w_down;
        C->inv_freq = malloc((size_t)c->half * sizeof(float));
        if (!C->inv_freq) { ok = 0; break; }
        inf__rope_inv_freq(&L->rope, d->head_dim, C->inv_freq);
        C->rope_as_prev = l > 0 && memcmp(C->inv_freq, c->layers[l - 1].inv_freq,
                                          (size_t)c->half * sizeof(float)) == 0;
    }
    if (ok) {
        c->final_norm = vec_f32(&d->final_norm, H, d->norm_add_one, &ok);
        if (ok && !c->final_norm) {
            cpu_free(c);
            return inf__seterr(err, INF_E_INVALID_ARGUMENT, "cpu: missing final norm weights");
        }
    }
    if (ok) pack_weights(c, p->release_weights);
    if (ok && (rc = kv_init(c, p, err))) { cpu_free(c); return rc; }
    if (ok) {
        const int64_t R = CPU_MAX_ROWS;
        c->max_rows = R;
        c->x = malloc((size_t)(R * H) * 4);
        c->ldh = padded_ld(H);
        c->ld_att = padded_ld(qd);
        c->ld_ffn = padded_ld(I);
        c->h = malloc((size_t)(R * c->ldh) * 4);
        c->o = malloc((size_t)(R * H) * 4);
        c->q = malloc((size_t)(R * qd) * 4);
        c->att = malloc((size_t)(R * c->ld_att) * 4);
        c->k = malloc((size_t)(R * kvd) * 4);
        c->v = malloc((size_t)(R * kvd) * 4);
        c->gate = malloc((size_t)(R * c->ld_ffn) * 4);
        c->up = malloc((size_t)(R * c->ld_ffn) * 4);
        c->cs = malloc((size_t)(R * c->half) * 4);
        c->sn = malloc((size_t)(R * c->half) * 4);
        const int32_t rep = d->n_heads / d->n_kv_heads;
        c->att_qb = CPU_ATT_QUERY_ROWS / rep > 1 ? CPU_ATT_QUERY_ROWS / rep : 1;
        c->att_rows = c->att_qb * rep;
        const int64_t arows = (int64_t)c->nth * c->att_rows;
        /* Scores are computed for whole blocks (forward.c): room up to
         * the end of the block holding the last position, padded as the
         * matmul inputs are (padded_ld): at 4,096 positions the rows sat
         * 16 KiB apart, so a column of the micro-kernels' rows fell in one
         * L1 set and evicted itself. */
        c->lds = padded_ld((int64_t)c->slot_blocks * c->bt);
        c->scores = malloc((size_t)(arows * c->lds) * 4);
        c->att_q = malloc((size_t)(arows * d->head_dim) * 4);
        c->att_o = malloc((size_t)(arows * d->head_dim) * 4);
        ok = c->x && c->h && c->o && c->q && c->att && c->k && c->v && c->gate &&
             c->up && c->cs && c->sn && c->scores && c->att_q && c->att_o;
        c->scratch_bytes = 4 * (R * (2 * H + c->ldh + qd + c->ld_att + 2 * kvd + 2 * c->ld_ffn +
                                     2 * c->half) +
                                arows * (c->lds + 2 * (int64_t)d->head_dim));
        /* the widest matmul input: rounded inputs (fast) take its columns */
        int64_t mc = H > qd ? H : qd;
        mc = mc > I ? mc : I;
        if (ok && c->kern->matmul_q8) { /* int8 blocks */
            c->xq.ld = (mc + 63) / 64 * 64;
            c->xq.q = malloc((size_t)(R * c->xq.ld));
            c->xq.d = malloc((size_t)(R * (mc / 32 + 1)) * 4);
            c->xq.s = malloc((size_t)(R * (mc / 32 + 1)) * 4);
            ok = c->xq.q && c->xq.d && c->xq.s;
            c->scratch_bytes += R * (c->xq.ld + 8 * (mc / 32 + 1)); /* after the sum above, not under it */
        }
        if (ok && c->kern->xb_convert) { /* bf16 pairs */
            const int64_t bytes = c->kern->xb_plane(R, mc) * 4;
            c->xb = aligned_alloc(64, (size_t)(bytes + 63) / 64 * 64);
            c->xb_cap = R;
            ok = c->xb != NULL;
            c->scratch_bytes += bytes;
        }
        note_alloc(c);
    }
    if (!ok) {
        cpu_free(c);
        return inf__seterr(err, INF_E_NOMEM, "cpu: init: out of memory");
    }
    *out = c;
    return INF_OK;
}

static void cpu_seq_reset(void *ctx, int32_t slot) {
    inf__cpu_ctx *c = ctx;
    if (c && !c->paged && slot >= 0 && slot < c->n_slots) c->n_cached[slot] = 0;
}

static int cpu_copy_block(void *ctx, int32_t dst, int32_t src, int32_t n_rows, inf__err *err) {
    inf__cpu_ctx *c = ctx;
    if (!c || dst < 0 || src < 0 || dst >= c->n_blocks || src >= c->n_blocks || n_rows < 0 ||
        n_rows > c->bt)
        return inf__seterr(err, INF_E_INVALID_ARGUMENT, "cpu: copy_block %d -> %d (%d rows) out of range",
                           (int)src, (int)dst, (int)n_rows);
    /* Byte offsets: the elements are f16 or f32 (kv_elem), copied as stored;
     * blocks are head-major (cpu_ctx.h): the first n_rows rows of each
     * head's part. */
    const size_t hd = (size_t)c->d->head_dim, head = (size_t)c->bt * hd * (size_t)c->kv_elem;
    const size_t blk = (size_t)c->kv_bstride * (size_t)c->kv_elem;
    const size_t bytes = (size_t)n_rows * hd * (size_t)c->kv_elem;
    for (int32_t l = 0; l < c->d->n_layers; l++)
        for (int32_t h = 0; h < c->d->n_kv_heads; h++) {
            const size_t off_d = (size_t)dst * blk + h * head, off_s = (size_t)src * blk + h * head;
            memcpy((char *)c->kp[l] + off_d, (const char *)c->kp[l] + off_s, bytes);
            memcpy((char *)c->vp[l] + off_d, (const char *)c->vp[l] + off_s, bytes);
        }
    inf__cpu_note_blocks(c, dst + 1);
    return INF_OK;
}

void inf__cpu_note_blocks(inf__cpu_ctx *c, int32_t hw) {
    if (hw <= c->kv_hw) return;
    c->kv_hw = hw;
    c->kv_bytes = (int64_t)hw * c->bt * 2 * (int64_t)c->d->n_layers * c->kv_dim * c->kv_elem;
    note_alloc(c);
}

static void cpu_memory(void *ctx, int64_t *active, int64_t *peak) {
    inf__cpu_ctx *c = ctx;
    if (active) *active = c ? c->kv_bytes + c->scratch_bytes : 0;
    if (peak) *peak = c ? c->peak_bytes : 0;
}

const char *inf__cpu_kernels_name(const void *ctx) {
    const inf__cpu_ctx *c = ctx;
    return c ? c->kern->name : "";
}

int inf__cpu_kv_elem_bytes(const void *ctx) {
    const inf__cpu_ctx *c = ctx;
    return c ? (int)c->kv_elem : 0;
}

const inf__compute_ops inf__cpu_compute = {
    "cpu", cpu_available, cpu_init, inf__cpu_forward, cpu_seq_reset, cpu_memory, cpu_free,
    cpu_kv_token_bytes, cpu_copy_block,
};
