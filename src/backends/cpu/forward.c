/*
 * The transformer forward pass over a batch of tokens from several slots
 * (engine/compute.h).  One code path for every architecture: the model
 * description's flags and per-layer attributes select q/k/v biases,
 * per-head q/k norms, gemma's extra norms and embedding scale, the
 * activation, sliding windows and per-layer RoPE.
 *
 * Per pass of up to max_rows tokens (shapes per token row):
 *   x = embed[tok] * embed_scale                       [hidden]
 *   per layer: h = norm(x); q,k,v = h W^T (+b)         [q_dim],[kv_dim]
 *              q,k per-head norm; RoPE at pos; k,v -> the cache row of
 *              (slot, pos) through the slot's block table
 *              att = softmax(q K^T * scale) V over the slot's cached
 *              positions (window-limited), block by block  [q_dim]
 *              o = att Wo^T; x += post_norm?(o)
 *              h = norm(x); g = act(h Wg^T) * (h Wu^T); x += post_norm?(g Wd^T)
 *   rows with want: logits = norm(x) Wlm^T (softcap)    [vocab]
 */
#include <math.h>
#include <string.h>

#include "backends/cpu/cpu_ctx.h"
#include "backends/cpu/ops.h"

/* ---- threaded matmul: up to 3 weights sharing one input ---------------- */

/* Most chunks of one matmul job: mm_plan's chunks are at least 1/48 of
 * the rows, plus one per weight where a chunk is cut at its end. */
#define MM_MAX_CHUNKS 64

typedef struct mm_chunk_rows {
    int32_t j;      /* the weight */
    int64_t r0, r1; /* its rows */
} mm_chunk_rows;

typedef struct mm_task {
    const inf__cpu_kernels *kern;
    const inf__cpu_xq *xq; /* non-NULL: x rounded (precision fast), matmul_q8 for the weights in q8 */
    int q8;                /* bit j: q8_takes took weight j */
    const uint32_t *xb;    /* non-NULL: x as bf16 pairs (precision fast), matmul_xb */
    int64_t xb_cap;
    const float *x;
    int64_t ldx, n;
    int nj;
    const inf__weight *w[3];
    float *y[3];
    int64_t ldy[3];
    int64_t n_chunks;
    mm_chunk_rows ch[MM_MAX_CHUNKS];
} mm_task;

static void mm_chunk(void *arg, int64_t chunk, int ith) {
    const mm_task *t = arg;
    (void)ith;
    const mm_chunk_rows *c = &t->ch[chunk];
    if (t->xq && (t->q8 >> c->j & 1)) t->kern->matmul_q8(t->w[c->j], t->xq, t->y[c->j], t->ldy[c->j], c->r0, c->r1);
    else if (t->xb) t->kern->matmul_xb(t->w[c->j], t->xb, t->xb_cap, t->n, t->y[c->j], t->ldy[c->j], c->r0, c->r1);
    else t->kern->matmul_rows(t->w[c->j], t->x, t->ldx, t->n, t->y[c->j], t->ldy[c->j], c->r0, c->r1);
}

/* The rows of t's weights (laid end to end, total rows) in chunks of
 * whole g-row tiles, none crossing from one weight to the next, each at
 * least 1/48 of the total (so at most 48 + 3 chunks).
 * shrink (a few tokens): chunks that shrink as they go, each a 1/(2 nth)
 * share of the rows left and at least 1/(32 nth) of the total.  The pool
 * hands chunks out in index order, so the big ones go first and the last
 * to be claimed is small: the thread that finishes first waits at most
 * that long.  With 4 equal chunks per thread, decode's caller waited on
 * the last one ~5% of its time (perf: inf__pool_run).
 * Else (prefill): 4 equal chunks per thread; shrinking cost prefill 1-2%
 * (each chunk streams all the tokens' x past its panels). */
static void mm_plan(mm_task *t, int64_t total, int nth, int64_t g, int shrink) {
    const int64_t share = total / ((shrink ? 32 : 4) * (int64_t)nth);
    int64_t least = share > total / 48 ? share : total / 48;
    least = (least + g - 1) / g * g;
    if (least < g) least = g;
    int64_t left = total, at = 0;
    int j = 0;
    t->n_chunks = 0;
    while (left > 0) {
        int64_t size = shrink ? (left / (2 * (int64_t)nth) + g - 1) / g * g : least;
        if (size < least) size = least;
        if (t->n_chunks + 3 >= MM_MAX_CHUNKS) size = left; /* never (the bound above): a guard, one chunk per weight left */
        /* clip at the weight's end; the next chunk starts the next weight */
        const int64_t r1 = at + size < t->w[j]->rows ? at + size : t->w[j]->rows;
        t->ch[t->n_chunks++] = (mm_chunk_rows){j, at, r1};
        left -= r1 - at;
        at = r1;
        if (at == t->w[j]->rows) {
            j++;
            at = 0;
        }
    }
}

/* Precision fast: a matmul input rounded once for all its row chunks, to
 * int8 blocks (xq: q8_quantize) or to bf16 pairs (xb: xb_convert), a few
 * tokens per pool chunk. */
typedef struct round_task {
    const inf__cpu_kernels *kern;
    const float *x;
    int64_t ldx, n, per, cols;
    inf__cpu_xq *xq;
    uint32_t *xb;
    int64_t xb_cap;
} round_task;

static void round_chunk(void *arg, int64_t chunk, int ith) {
    const round_task *t = arg;
    (void)ith;
    const int64_t t0 = chunk * t->per, t1 = t0 + t->per < t->n ? t0 + t->per : t->n;
    if (t->xq) t->kern->q8_quantize(t->x, t->ldx, t0, t1, t->xq);
    else t->kern->xb_convert(t->x, t->ldx, t0, t1, t->cols, t->xb, t->xb_cap);
}

static void round_input(inf__cpu_ctx *c, const float *x, int64_t ldx, int64_t n, int64_t cols,
                        inf__cpu_xq *xq, uint32_t *xb) {
    round_task rt = {c->kern, x, ldx, n, n > 8 ? (n + 2 * c->nth - 1) / (2 * c->nth) : n, cols, xq, xb, c->xb_cap};
    inf__pool_run(c->pool, round_chunk, &rt, (n + rt.per - 1) / rt.per);
}

/* y_j[n, rows_j] = x[n, cols] W_j^T for up to 3 weights sharing the input
 * (q/k/v, gate/up): one pool job of row chunks, whole 8-row tiles each.
 * Row stride of every y_j: ldy, or rows_j when ldy is 0 (dense). */
static void matmul(inf__cpu_ctx *c, const float *x, int64_t ldx, int64_t n, int64_t ldy,
                   int nj, const inf__weight *w0, float *y0, const inf__weight *w1,
                   float *y1, const inf__weight *w2, float *y2) {
    mm_task t = {c->kern, NULL, 0, NULL, 0, x, ldx, n, nj, {w0, w1, w2}, {y0, y1, y2}, {0, 0, 0}, 0, {{0, 0, 0}}};
    /* Precision fast: when the kernels take a weight of this call in
     * integer form, x is rounded once here for all row chunks, and the
     * weights they do not take read x as it is (a Q4_K_M file's v or down
     * projection in Q6_K beside Q4_K ones: a repacked layout has no other
     * reader); when they take every weight as bf16 pairs (BF16), x is
     * converted once. */
    for (int j = 0; c->kern->q8_takes && j < nj; j++) t.q8 |= c->kern->q8_takes(t.w[j], n) << j;
    const int q8 = t.q8 != 0;
    int xb = !q8 && c->xb != NULL;
    for (int j = 0; xb && j < nj; j++) xb = c->kern->xb_takes(t.w[j], n);
    if (q8) {
        c->xq.n = n;
        c->xq.cols = w0->cols;
        round_input(c, x, ldx, n, w0->cols, &c->xq, NULL);
        t.xq = &c->xq;
    } else if (xb) {
        round_input(c, x, ldx, n, w0->cols, NULL, c->xb);
        t.xb = c->xb;
        t.xb_cap = c->xb_cap;
    }
    int64_t total = 0;
    for (int j = 0; j < nj; j++) {
        t.ldy[j] = ldy ? ldy : t.w[j]->rows;
        total += t.w[j]->rows;
    }
    /* whole tiles: 16 rows (several tokens: the int8 panels' 32), or the
     * repacked layouts' groups and panels */
    const int64_t tile = n > 16 ? 32 : 16;
    mm_plan(&t, total, c->nth, c->kern->pack_rows > tile ? c->kern->pack_rows : tile, n <= 16);
    inf__pool_run(c->pool, mm_chunk, &t, t.n_chunks);
}

/* ---- attention over the cache ------------------------------------------ */

typedef struct attn_task {
    inf__cpu_ctx *c;
    int32_t layer;
    int64_t n;
    const int32_t *pos, *slot;
    const int32_t *const *tables; /* [n_slots] block tables */
    int64_t n_blocks; /* token blocks of att_qb tokens */
    int64_t per;      /* (token block, kv head) units per chunk */
} attn_task;

/* Asks for the next block's run of one head's keys or values (bt x hd
 * elements, contiguous) while the current one is computed.  A block is a
 * short run at an arbitrary place in the pool: the hardware prefetcher
 * streams it only once it has seen its first lines, and decode at depth
 * 2,000 spent most of its attention time waiting on the values' loads
 * (perf annotate). */
static inline void pf_run(const char *p, int64_t bytes) {
    for (int64_t o = 0; o < bytes; o += 64) __builtin_prefetch(p + o, 0, 2);
}

/* First key position token t may attend to (sliding window or 0). */
static int32_t attn_lo(int32_t p, int32_t window) {
    return window > 0 && p - window + 1 > 0 ? p - window + 1 : 0;
}

/* Tokens [t0, t1) of one sequence (slot) x KV head g: their nr = (t1-t0) *
 * rep query rows are gathered into one block so that every key and value
 * row of the group is read once for all of them.  Scores are computed over
 * the union [lo, hi] of the rows' key ranges; a row's keys outside its own
 * range get probability exactly 0, so each output is the same sum as for
 * that token alone.
 *
 * The keys and values are read KV block by KV block through the slot's
 * table.  Scores are computed for whole blocks (rows past hi are computed
 * and discarded), so a key's score takes the same kernel path whatever the
 * batch around it; the values are summed per block (exact zeros past a
 * row's own position) and each block's sums added to the rows' outputs in
 * order (the kernels' add).  A position's output
 * therefore depends only on the cache contents and the block size, not on
 * how the sequence was batched or which physical blocks hold it: the
 * prefix cache's reused-prefix logits equal fresh ones. */
static void attn_run(const attn_task *a, int64_t t0, int64_t t1, int32_t g, int ith) {
    inf__cpu_ctx *c = a->c;
    const inf__model_desc *d = c->d;
    const int32_t hd = d->head_dim, rep = d->n_heads / d->n_kv_heads, bt = c->bt;
    const int32_t window = d->layers[a->layer].sliding_window;
    const float cap = d->attn_logit_softcap;
    float *sc = c->scores + (int64_t)ith * c->att_rows * c->lds; /* [nr, lds] */
    float *qb = c->att_q + (int64_t)ith * c->att_rows * hd;   /* [nr, hd] */
    float *ob = c->att_o + (int64_t)ith * c->att_rows * hd;   /* [nr, hd] */
    int32_t lo = INT32_MAX, hi = 0;
    for (int64_t t = t0; t < t1; t++) {
        const int32_t l = attn_lo(a->pos[t], window);
        lo = l < lo ? l : lo;
        hi = a->pos[t] > hi ? a->pos[t] : hi;
        memcpy(qb + (t - t0) * rep * hd, c->q + t * c->q_dim + (int64_t)g * rep * hd,
               (size_t)rep * hd * sizeof(float));
    }
    /* Blocks [b0, b1]; the score row starts at block b0's first position. */
    const int32_t b0 = lo / bt, b1 = hi / bt, base = b0 * bt;
    const int32_t m = hi - base + 1;
    const int nr = (int)(t1 - t0) * rep;
    /* Score rows as long as this block needs, not the context's c->lds
     * (16 KiB at 4,096 positions: each of the 64 rows on its own page,
     * where the values kernel reads a column of them per key; ~1 point of
     * a 512-token prefill's samples, perf).  Padded as c->lds is. */
    const int64_t lds = ((int64_t)(b1 - b0 + 1) * bt + 15) / 16 * 16 + 16;
    const int32_t *tab = a->tables[a->slot[t0]];
    /* Element offsets of head g and of a block in the layer's pools (f32,
     * or f16 under precision fast: the _f16 kernels widen in registers). */
    const void *Kp = c->kp[a->layer], *Vp = c->vp[a->layer];
    /* Head g's rows of a block are contiguous (head-major blocks,
     * cpu_ctx.h): row stride hd. */
    const int64_t gofs = (int64_t)g * bt * hd, bofs = c->kv_bstride;
    const int64_t elem = c->kv_elem, run = (int64_t)bt * hd * elem; /* bytes of a head's block */
    const int64_t last = (int64_t)(hi - b1 * bt + 1) * hd * elem;    /* b1's rows only */
    for (int32_t b = b0; b <= b1; b++) {
        const int64_t off = gofs + tab[b] * bofs;
        if (b < b1) pf_run((const char *)Kp + (gofs + tab[b + 1] * bofs) * elem, b + 1 < b1 ? run : last);
        else if (b > b0) pf_run((const char *)Vp + (gofs + tab[b0] * bofs) * elem, run);
        if (c->kv_f16)
            c->kern->attn_scores_f16(qb, nr, (const uint16_t *)Kp + off, hd, bt, hd, d->attn_scale,
                                     sc + (b - b0) * bt, lds);
        else
            c->kern->attn_scores(qb, nr, (const float *)Kp + off, hd, bt, hd, d->attn_scale,
                                 sc + (b - b0) * bt, lds);
    }
    for (int64_t t = t0; t < t1; t++) {
        const int32_t j0 = attn_lo(a->pos[t], window) - base, j1 = a->pos[t] - base + 1;
        for (int32_t h = 0; h < rep; h++) {
            float *s = sc + ((t - t0) * rep + h) * lds;
            if (cap > 0)
                for (int32_t j = j0; j < j1; j++) s[j] = cap * tanhf(s[j] / cap);
            c->kern->softmax(s + j0, j1 - j0);
            memset(s, 0, (size_t)j0 * sizeof(float));
            memset(s + j1, 0, (size_t)(m - j1) * sizeof(float));
        }
    }
    for (int32_t b = b0; b <= b1; b++) {
        const int32_t len = b < b1 ? bt : hi - b * bt + 1;
        const int64_t off = gofs + tab[b] * bofs;
        if (b < b1) pf_run((const char *)Vp + (gofs + tab[b + 1] * bofs) * elem, b + 1 < b1 ? run : last);
        if (c->kv_f16)
            c->kern->attn_values_f16(sc + (b - b0) * bt, lds, nr, (const uint16_t *)Vp + off, hd, len, hd, ob, b > b0);
        else
            c->kern->attn_values(sc + (b - b0) * bt, lds, nr, (const float *)Vp + off, hd, len, hd, ob, b > b0);
    }
    for (int64_t t = t0; t < t1; t++)
        memcpy(c->att + t * c->ld_att + (int64_t)g * rep * hd, ob + (t - t0) * rep * hd,
               (size_t)rep * hd * sizeof(float));
}

static void attn_chunk(void *arg, int64_t chunk, int ith) {
    const attn_task *a = arg;
    const int32_t nkv = a->c->d->n_kv_heads, qbn = a->c->att_qb;
    const int64_t units = a->n_blocks * nkv;
    const int64_t i0 = chunk * a->per, i1 = i0 + a->per < units ? i0 + a->per : units;
    for (int64_t u = i0; u < i1; u++) {
        const int64_t b = a->n_blocks - 1 - u % a->n_blocks;
        const int32_t g = (int32_t)(u / a->n_blocks);
        const int64_t end = (b + 1) * qbn < a->n ? (b + 1) * qbn : a->n;
        /* Runs of one sequence: a batch may mix sequences within a block. */
        for (int64_t t0 = b * qbn, t1; t0 < end; t0 = t1) {
            for (t1 = t0 + 1; t1 < end && a->slot[t1] == a->slot[t0]; t1++) {}
            attn_run(a, t0, t1, g, ith);
        }
    }
}

/* ---- per-token stages between the matmuls, spread over the pool -------- */

typedef enum stage {
    ST_ATTN_IN,  /* x -> h: the layer's attention norm */
    ST_QKV,      /* biases, q/k norms, RoPE; k and v into the cache */
    ST_ATTN_OUT, /* o (post-attention norm) added to x; h = ffn norm of x */
    ST_ACT,      /* gate = act(gate) * up */
    ST_FFN_OUT   /* o (post-ffn norm) added to x */
} stage;

typedef struct stage_task {
    inf__cpu_ctx *c;
    int32_t l;
    stage st;
    const int32_t *pos, *slot;
    const int32_t *const *tables;
    int64_t n, per;
} stage_task;

static void stage_token(const stage_task *s, int64_t t) {
    inf__cpu_ctx *c = s->c;
    const inf__model_desc *d = c->d;
    const inf__cpu_layer *C = &c->layers[s->l];
    const int64_t H = d->hidden_size, qd = c->q_dim, kvd = c->kv_dim, hd = d->head_dim;
    const int32_t half = c->half;
    switch (s->st) {
    case ST_ATTN_IN:
        inf__cpu_rmsnorm(c->x + t * H, C->attn_norm, d->norm_eps, H, c->h + t * c->ldh);
        break;
    case ST_QKV: {
        float *q = c->q + t * qd, *k = c->k + t * kvd, *v = c->v + t * kvd;
        float *cs = c->cs + t * half, *sn = c->sn + t * half;
        /* rope_as_prev: the previous layer left this token's table here. */
        if (!C->rope_as_prev) inf__cpu_rope_cos_sin(C->inv_freq, half, s->pos[t], cs, sn);
        if (C->bq) for (int64_t i = 0; i < qd; i++) q[i] += C->bq[i];
        if (C->bk) for (int64_t i = 0; i < kvd; i++) k[i] += C->bk[i];
        if (C->bv) for (int64_t i = 0; i < kvd; i++) v[i] += C->bv[i];
        /* HF pairs (i, i + half), or GGUF llama's adjacent (2i, 2i+1). */
        void (*rope)(float *, const float *, const float *, int32_t) =
            d->layers[s->l].rope.adjacent_pairs ? inf__cpu_rope_apply_adjacent : inf__cpu_rope_apply;
        for (int32_t h = 0; h < d->n_heads; h++) {
            if (C->q_norm) inf__cpu_rmsnorm(q + h * hd, C->q_norm, d->norm_eps, hd, q + h * hd);
            rope(q + h * hd, cs, sn, half);
        }
        for (int32_t h = 0; h < d->n_kv_heads; h++) {
            if (C->k_norm) inf__cpu_rmsnorm(k + h * hd, C->k_norm, d->norm_eps, hd, k + h * hd);
            rope(k + h * hd, cs, sn, half);
        }
        /* Head-major blocks (cpu_ctx.h): head h's row of this position. */
        const int32_t p = s->pos[t];
        const int64_t at = (int64_t)s->tables[s->slot[t]][p / c->bt] * c->kv_bstride + (int64_t)(p % c->bt) * hd;
        for (int32_t h = 0; h < d->n_kv_heads; h++) {
            const int64_t e = at + (int64_t)h * c->bt * hd;
            if (c->kv_f16) { /* precision fast: the cache holds k, v rounded to f16 */
                c->kern->kv_round(k + h * hd, (uint16_t *)c->kp[s->l] + e, hd);
                c->kern->kv_round(v + h * hd, (uint16_t *)c->vp[s->l] + e, hd);
            } else {
                memcpy((float *)c->kp[s->l] + e, k + h * hd, (size_t)hd * sizeof(float));
                memcpy((float *)c->vp[s->l] + e, v + h * hd, (size_t)hd * sizeof(float));
            }
        }
        break;
    }
    case ST_ATTN_OUT: {
        float *o = c->o + t * H, *x = c->x + t * H;
        if (C->post_attn_norm) inf__cpu_rmsnorm(o, C->post_attn_norm, d->norm_eps, H, o);
        for (int64_t i = 0; i < H; i++) x[i] += o[i];
        inf__cpu_rmsnorm(x, C->ffn_norm, d->norm_eps, H, c->h + t * c->ldh);
        break;
    }
    case ST_ACT:
        c->act_mul(d->act, c->gate + t * c->ld_ffn, c->up + t * c->ld_ffn, d->intermediate_size);
        break;
    case ST_FFN_OUT: {
        float *o = c->o + t * H, *x = c->x + t * H;
        if (C->post_ffn_norm) inf__cpu_rmsnorm(o, C->post_ffn_norm, d->norm_eps, H, o);
        for (int64_t i = 0; i < H; i++) x[i] += o[i];
        break;
    }
    }
}

static void stage_chunk(void *arg, int64_t chunk, int ith) {
    const stage_task *s = arg;
    (void)ith;
    const int64_t t1 = (chunk + 1) * s->per < s->n ? (chunk + 1) * s->per : s->n;
    for (int64_t t = chunk * s->per; t < t1; t++) stage_token(s, t);
}

/* Runs stage st of layer l for tokens [0, n): each token's work only
 * touches that token's rows (and its own cache row), so they may run in
 * any order and on any thread.  A few tokens (decode) stay on the caller. */
static void run_stage(inf__cpu_ctx *c, int32_t l, stage st, int64_t n, const int32_t *pos,
                      const int32_t *slot, const int32_t *const *tables) {
    stage_task s = {c, l, st, pos, slot, tables, n, 0};
    if (n < 8 || c->nth == 1) {
        for (int64_t t = 0; t < n; t++) stage_token(&s, t);
        return;
    }
    s.per = (n + (int64_t)c->nth * 4 - 1) / ((int64_t)c->nth * 4);
    inf__pool_run(c->pool, stage_chunk, &s, (n + s.per - 1) / s.per);
}

/* The activation of a few tokens (decode), split along the intermediate
 * dimension instead: elementwise, so the split changes no result, and
 * ~3,000 expf per token per layer were a serial stretch between the
 * gate/up and down matmuls while the other threads waited. */
typedef struct act_task {
    inf__cpu_ctx *c;
    int64_t n, per;
} act_task;

static void act_chunk(void *arg, int64_t chunk, int ith) {
    const act_task *a = arg;
    (void)ith;
    inf__cpu_ctx *c = a->c;
    const int64_t I = c->d->intermediate_size, i0 = chunk * a->per;
    const int64_t len = i0 + a->per < I ? a->per : I - i0;
    for (int64_t t = 0; t < a->n; t++)
        c->act_mul(c->d->act, c->gate + t * c->ld_ffn + i0, c->up + t * c->ld_ffn + i0, len);
}

static void run_act(inf__cpu_ctx *c, int32_t l, int64_t n, const int32_t *pos, const int32_t *slot,
                    const int32_t *const *tables) {
    const int64_t I = c->d->intermediate_size;
    if (n >= 8 || c->nth == 1 || I < 1024) {
        run_stage(c, l, ST_ACT, n, pos, slot, tables);
        return;
    }
    act_task a = {c, n, 0};
    a.per = (I / (2 * c->nth) + 63) / 64 * 64; /* two chunks per thread, whole cache lines */
    inf__pool_run(c->pool, act_chunk, &a, (I + a.per - 1) / a.per);
}

/* ---- one pass over n <= max_rows tokens -------------------------------- */

static void run_pass(inf__cpu_ctx *c, int64_t n, const int32_t *tok,
                     const int32_t *pos, const int32_t *slot, const uint8_t *want,
                     const int32_t *const *tables, float *logits) {
    const inf__model_desc *d = c->d;
    const int64_t H = d->hidden_size;

    for (int64_t t = 0; t < n; t++) {
        float *xt = c->x + t * H;
        inf__cpu_dequant_row(&c->embed, tok[t], xt);
        if (d->embed_scale != 1.0f && d->embed_scale != 0.0f)
            for (int64_t i = 0; i < H; i++) xt[i] *= d->embed_scale;
    }

    for (int32_t l = 0; l < d->n_layers; l++) {
        const inf__cpu_layer *C = &c->layers[l];

        run_stage(c, l, ST_ATTN_IN, n, pos, slot, tables);
        matmul(c, c->h, c->ldh, n, 0, 3, &C->wq, c->q, &C->wk, c->k, &C->wv, c->v);
        run_stage(c, l, ST_QKV, n, pos, slot, tables);

        /* (token block, KV head) units in small chunks: causal rows differ in length,
         * dynamic claiming evens the load.  attn_chunk walks them head by head
         * (a head's keys and values stay in L2 from one block to the next) and
         * the longest blocks first, so the last chunks claimed are short. */
        attn_task at = {c, l, n, pos, slot, tables, (n + c->att_qb - 1) / c->att_qb, 0};
        const int64_t units = at.n_blocks * d->n_kv_heads;
        at.per = units / ((int64_t)c->nth * 8);
        if (at.per < 1) at.per = 1;
        inf__pool_run(c->pool, attn_chunk, &at, (units + at.per - 1) / at.per);
        matmul(c, c->att, c->ld_att, n, 0, 1, &C->wo, c->o, NULL, NULL, NULL, NULL);
        run_stage(c, l, ST_ATTN_OUT, n, pos, slot, tables);

        matmul(c, c->h, c->ldh, n, c->ld_ffn, 2, &C->w_gate, c->gate, &C->w_up, c->up, NULL, NULL);
        run_act(c, l, n, pos, slot, tables);
        matmul(c, c->gate, c->ld_ffn, n, 0, 1, &C->w_down, c->o, NULL, NULL, NULL, NULL);
        run_stage(c, l, ST_FFN_OUT, n, pos, slot, tables);
    }

    /* Final norm and lm_head only for the rows that want logits. */
    int64_t nw = 0;
    for (int64_t t = 0; t < n; t++)
        if (want[t]) inf__cpu_rmsnorm(c->x + t * H, c->final_norm, d->norm_eps, H, c->h + nw++ * c->ldh);
    if (nw == 0) return;
    matmul(c, c->h, c->ldh, nw, 0, 1, &c->lm_head, logits, NULL, NULL, NULL, NULL);
    if (d->final_logit_softcap > 0)
        inf__cpu_softcap(logits, nw * d->vocab_size, d->final_logit_softcap);
}

int inf__cpu_forward(void *ctx, const inf__batch *b, inf__err *err) {
    inf__cpu_ctx *c = ctx;
    if (!c || !b || b->n_tokens < 0 || (b->n_tokens > 0 && (!b->tokens || !b->pos || !b->slot || !b->want)))
        return inf__seterr(err, INF_E_INVALID_ARGUMENT, "cpu: forward: invalid batch");
    const int32_t n = b->n_tokens;
    int32_t n_want = 0;
    /* Validate everything before touching a cache. */
    for (int32_t i = 0; i < n; i++) {
        if (b->tokens[i] < 0 || b->tokens[i] >= c->d->vocab_size)
            return inf__seterr(err, INF_E_INVALID_ARGUMENT, "cpu: forward: token %d at row %d out of range [0, %d)",
                               (int)b->tokens[i], (int)i, (int)c->d->vocab_size);
        if (b->slot[i] < 0 || b->slot[i] >= c->n_slots)
            return inf__seterr(err, INF_E_INVALID_ARGUMENT, "cpu: forward: slot %d at row %d out of range [0, %d)",
                               (int)b->slot[i], (int)i, (int)c->n_slots);
        if (b->pos[i] < 0 || b->pos[i] >= c->n_ctx)
            return inf__seterr(err, INF_E_CONTEXT_LENGTH,
                               "cpu: forward: position %d at row %d beyond the context length %d",
                               (int)b->pos[i], (int)i, (int)c->n_ctx);
        if (b->want[i]) n_want++;
    }
    if (n_want > 0 && !b->logits)
        return inf__seterr(err, INF_E_INVALID_ARGUMENT, "cpu: forward: no logits buffer");
    if (c->paged && n > 0 && !b->block_tables)
        return inf__seterr(err, INF_E_INVALID_ARGUMENT, "cpu: forward: paged KV cache but no block tables");
    const int32_t *const *tables = c->paged ? b->block_tables : c->own;
    /* A slot's rows have consecutive positions, continuing its cache in
     * per-slot mode; in paged mode every block they read or write exists. */
    int32_t hw = 0;
    for (int32_t i = 0; i < n; i++) {
        int32_t s = b->slot[i];
        int first = 1;
        for (int32_t j = 0; j < i; j++)
            if (b->slot[j] == s) { first = 0; break; }
        if (!first) continue;
        int32_t expect = c->paged ? b->pos[i] : c->n_cached[s];
        for (int32_t j = i; j < n; j++) {
            if (b->slot[j] != s) continue;
            if (b->pos[j] != expect)
                return inf__seterr(err, INF_E_INVALID_ARGUMENT,
                                   "cpu: forward: slot %d row %d has position %d, expected %d",
                                   (int)s, (int)j, (int)b->pos[j], (int)expect);
            expect++;
        }
        if (!tables[s])
            return inf__seterr(err, INF_E_INVALID_ARGUMENT, "cpu: forward: slot %d has no block table", (int)s);
        /* Blocks before every layer's window of the first row may be
         * released (-1, compute.h): they are not read. */
        const int32_t lo = c->kv_window > 0 && b->pos[i] - c->kv_window + 1 > 0 ? b->pos[i] - c->kv_window + 1 : 0;
        for (int32_t k = lo / c->bt; k <= (expect - 1) / c->bt; k++) {
            int32_t id = tables[s][k];
            if (id < 0 || id >= c->n_blocks)
                return inf__seterr(err, INF_E_INVALID_ARGUMENT,
                                   "cpu: forward: slot %d block %d is %d, outside the pool [0, %d)", (int)s,
                                   (int)k, (int)id, (int)c->n_blocks);
            if (id + 1 > hw) hw = id + 1;
        }
    }
    inf__cpu_note_blocks(c, hw);

    float *logits = b->logits;
    for (int32_t c0 = 0; c0 < n; c0 += (int32_t)c->max_rows) {
        int32_t m = n - c0 < c->max_rows ? n - c0 : (int32_t)c->max_rows;
        run_pass(c, m, b->tokens + c0, b->pos + c0, b->slot + c0, b->want + c0, tables, logits);
        for (int32_t i = c0; i < c0 + m; i++)
            if (b->want[i]) logits += c->d->vocab_size;
    }
    if (!c->paged)
        for (int32_t i = 0; i < n; i++)
            if (b->pos[i] + 1 > c->n_cached[b->slot[i]]) c->n_cached[b->slot[i]] = b->pos[i] + 1;
    return INF_OK;
}
