/*
 * The model description: a Hugging Face model directory becomes one plain
 * struct.  Architectures are data, not code paths: llama, qwen2, qwen3,
 * gemma3 and mistral differ only in the flags and per-layer attributes
 * below, so one forward pass (per compute backend) serves them all.
 *
 * Weights stay as stored: tensors point into the memory-mapped safetensors
 * files (or into a dummy-weight buffer); quantised MLX weights are kept
 * packed and dequantised inside the kernels.
 */
#ifndef INF_MODEL_MODEL_H
#define INF_MODEL_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define INF__MAX_DIMS 4
#define INF__MAX_EOS 8

typedef enum inf__dtype {
    INF__DT_F32 = 0,
    INF__DT_F16,
    INF__DT_BF16,
    INF__DT_F64,
    INF__DT_I8,
    INF__DT_U8,
    INF__DT_I16,
    INF__DT_U16,
    INF__DT_I32,
    INF__DT_U32,
    INF__DT_I64,
    INF__DT_U64,
    INF__DT_BOOL,
    INF__DT_COUNT
} inf__dtype;

/* Bytes per element; 0 for an unknown dtype. */
size_t inf__dtype_size(inf__dtype dt);
/* "F32", "BF16", ... as safetensors spells them. */
const char *inf__dtype_name(inf__dtype dt);

/* A tensor as stored: raw bytes in `data` (little-endian, row-major). */
typedef struct inf__tensor {
    const char *name;
    inf__dtype dtype;
    int ndim;
    int64_t shape[INF__MAX_DIMS];
    const void *data;
    size_t nbytes;
} inf__tensor;

/* How a matrix's values are stored. */
typedef enum inf__wfmt {
    INF__W_NONE = 0, /* absent (e.g. no bias) */
    INF__W_F32,
    INF__W_F16,
    INF__W_BF16,
    INF__W_MLX4, /* MLX affine 4-bit: packed U32, scales + biases per group */
    INF__W_MLX8, /* MLX affine 8-bit */
    /* ggml's block formats, as GGUF files store them: `data` points at
     * rows * (cols / inf__wfmt_block_elems(fmt)) blocks of
     * inf__wfmt_block_bytes(fmt) bytes each, row after row, in ggml's own
     * block layout (ggml-common.h); cols is a multiple of the block size.
     * Values are block-scaled as ggml defines each type. */
    INF__W_Q8_0, /* 32 values: f16 d, int8 q[32]; w = d*q */
    INF__W_Q4_0, /* 32 values: f16 d, 4-bit q packed (low nibbles first);
                    w = d*(q-8) */
    INF__W_Q4_1, /* 32 values: f16 d, f16 m, 4-bit q; w = d*q + m */
    INF__W_Q5_0, /* 32 values: f16 d, 32 high bits, 4-bit low; w = d*(q-16) */
    INF__W_Q5_1, /* 32 values: f16 d, f16 m, 32 high bits, 4-bit low */
    INF__W_Q2_K, /* 256-value super-blocks (K-quants) */
    INF__W_Q3_K,
    INF__W_Q4_K,
    INF__W_Q5_K,
    INF__W_Q6_K,
    /* Never in a file: BF16 values repacked at load by a backend for its
     * own kernels (the cpu backend under precision fast, kernels.h's
     * pack), read only by them.  Panels of 32 rows, rows*cols/32 rounded
     * up; within panel p (rows 32p..32p+31, zero past rows) 32-bit word
     * kp*32 + i holds row i's columns 2kp (low half) and 2kp+1. */
    INF__W_BF16_R32,
    /* Never in a file: Q4_0 rows repacked at load 16 at a time (the cpu
     * backend's int8 kernels under precision fast), so that one 64-byte
     * load holds four columns of 16 rows.  Row group g (rows 16g .. 16g+15;
     * rows past `rows` are zero) starts at data + g *
     * inf__q4r16_group_bytes(w): first its cols/32 blocks' scales, 16 f16
     * per block (row i's Q4_0 d at index i), then the blocks' nibbles, 256
     * bytes per block in four parts of 64: bytes 4i .. 4i+3 of part k are
     * row i's Q4_0 bytes 4k .. 4k+3 (low nibble: column 4k+j of the block,
     * high: column 16+4k+j).  w = d * (q - 8) as for Q4_0. */
    INF__W_Q4_0_R16,
    /* Never in a file: Q4_K rows repacked at load 16 at a time, as
     * INF__W_Q4_0_R16 for the same kernels.  Row group g starts at data +
     * g * inf__q4kr16_group_bytes(w); in it, super-block s (columns 256s ..
     * 256s+255) at s * 2368 holds: d[16] and dmin[16] (f16; index i: row
     * i), then for each of the 8 sub-blocks j of 32 columns 16 bytes of
     * scales and 16 of minimums (u8, 0..63: ggml's 6-bit values
     * unpacked; index i: row i), then the nibbles: 4 pairs of sub-blocks
     * (2p, 2p+1) x 8 parts of 64 bytes, bytes 4i .. 4i+3 of part k being
     * row i's Q4_K bytes 32p+4k .. 32p+4k+3 (low nibble: column 4k+j' of
     * sub-block 2p, high: of sub-block 2p+1).  w = d*sc*q - dmin*mn. */
    INF__W_Q4_K_R16,
    /* Never in a file: Q5_K rows repacked at load 16 at a time, as
     * INF__W_Q4_K_R16 with the fifth bits beside the nibbles.  Row group g
     * starts at data + g * inf__q5kr16_group_bytes(w); in it, super-block
     * s at s * 2880 holds the 2368 bytes of a Q4_K_R16 super-block (d,
     * dmin, scales and minimums unpacked, nibbles; Q5_K's low 4 bits),
     * then its fifth bits: 8 parts of 64 bytes, bytes 4i .. 4i+3 of part
     * k being row i's Q5_K qh bytes 4k .. 4k+3 (bit j: column 4k+j' of
     * sub-block j).  w = d*sc*q - dmin*mn, q = nibble + 16 * bit. */
    INF__W_Q5_K_R16,
    /* Never in a file: Q6_K rows repacked at load 16 at a time, as
     * INF__W_Q4_0_R16.  Row group g (nsb = cols/256 super-blocks) starts at
     * data + g * inf__q6kr16_group_bytes(w): first the super-blocks' d
     * (16 f16 each, index i: row i), then their scales (16 sub-blocks of
     * 16 columns x 16 rows, int8: sub-block m of super-block s at s*256 +
     * 16m), then their values, 3072 bytes per super-block: per half n
     * (columns 128n ..) 16 parts of 64 bytes of ql (bytes 4i .. 4i+3 of
     * part k: row i's ql bytes 64n+4k ..) and 8 of qh (part k: row i's qh
     * bytes 32n+4k ..).  Bytes as Q6_K's 210 per row and super-block;
     * w = d * sc * (q - 32) as for Q6_K. */
    INF__W_Q6_K_R16,
    /* Never in a file: Q3_K rows repacked at load 16 at a time, as
     * INF__W_Q6_K_R16.  Row group g (nsb = cols/256 super-blocks) starts at
     * data + g * inf__q3kr16_group_bytes(w): first the super-blocks' d (16
     * f16 each, index i: row i), then their scales unpacked (16 sub-blocks
     * of 16 columns x 16 rows, int8 -32 .. 31, ggml's 6-bit value less 32:
     * sub-block m of super-block s at s*256 + 16m), then their values,
     * 1536 bytes per super-block: per half n (columns 128n ..) 8 parts of
     * 64 bytes of qs (bytes 4i .. 4i+3 of part k: row i's qs bytes 32n+4k
     * ..), then 8 of hmask (part k: row i's hmask bytes 4k ..).
     * w = d * sc * (q - 4), q = the 2 low bits + 4 * the hmask bit, as for
     * Q3_K. */
    INF__W_Q3_K_R16,
    /* Never in a file: Q2_K rows repacked at load 16 at a time, as
     * INF__W_Q3_K_R16.  Row group g (nsb = cols/256 super-blocks) starts at
     * data + g * inf__q2kr16_group_bytes(w): first the super-blocks' d[16]
     * and dmin[16] (f16, index i: row i; 64 bytes each), then their scale
     * bytes as stored (scale | min << 4; sub-block m of super-block s at
     * s*256 + 16m), then their values, 1024 bytes per super-block: per
     * half n (columns 128n ..) 8 parts of 64 bytes (bytes 4i .. 4i+3 of
     * part k: row i's qs bytes 32n+4k ..).  Bytes as Q2_K's 84 per row and
     * super-block; w = d * sc * q - dmin * mn as for Q2_K. */
    INF__W_Q2_K_R16,
    /* Never in a file: Q8_0 rows repacked at load 16 at a time, as
     * INF__W_Q4_0_R16.  Row group g starts at data + g *
     * inf__q8r16_group_bytes(w): its cols/32 blocks' scales (16 f16 per
     * block, index i: row i), then their values, 512 bytes per block in 8
     * parts of 64: bytes 4i .. 4i+3 of part k are row i's values 4k ..
     * 4k+3 plus 128 (q ^ 0x80: u8, as the VNNI kernels multiply them).
     * w = d * q as for Q8_0. */
    INF__W_Q8_0_R16,
    /* Never in a file: MLX 8-bit and 4-bit rows repacked at load 16 at a
     * time, as INF__W_Q4_0_R16 (groups of 32 to 512 columns, powers of
     * two).  Row group g starts at data + g * inf__mlxr16_group_bytes(w):
     * first, for each group j of columns, 16 scales then 16 biases
     * (sb_dtype; index i: row i), then the values, per block of 32
     * columns: MLX8 512 bytes in 8 parts of 64 (bytes 4i .. 4i+3 of part
     * k: row i's values 4k .. 4k+3), MLX4 256 bytes in 4 parts (byte 4i+l
     * of part k: row i's value 4k+l in its low nibble, value 16+4k+l in
     * its high one, Q4_0's order).  scales and biases are NULL;
     * w = scale * q + bias as for MLX. */
    INF__W_MLX8_R16,
    INF__W_MLX4_R16,
    INF__W_COUNT
} inf__wfmt;

/* Values per block and bytes per block of a ggml block format (1 and the
 * element size for dense formats; 0 for NONE and the MLX formats, which
 * are not block-contiguous).  Defined in src/model/dtype.c. */
int64_t inf__wfmt_block_elems(inf__wfmt f);
int64_t inf__wfmt_block_bytes(inf__wfmt f);
/* "F32", "Q4_K", "MLX4", ... */
const char *inf__wfmt_name(inf__wfmt f);

/* A weight matrix [rows, cols] (rows = output features, cols = input
 * features, as nn.Linear and the embedding table store them).
 * Dense formats: `data` points at rows*cols elements of fmt.
 * MLX formats: `data` is U32 [rows, cols*bits/32], values packed
 * least-significant bits first; `scales` and `biases` are
 * [rows, cols/group] of `sb_dtype` (F16, BF16 or F32); w = scale*q + bias. */
typedef struct inf__weight {
    inf__wfmt fmt;
    int64_t rows, cols;
    const void *data;
    const void *scales;
    const void *biases;
    inf__dtype sb_dtype;
    int32_t bits;  /* 4 or 8 for MLX, else 0 */
    int32_t group; /* MLX group size, else 0 */
} inf__weight;

/* Bytes per 16-row group of an INF__W_Q4_0_R16 matrix (above): Q4_0's
 * 18 bytes per row and block of 32 columns. */
static inline int64_t inf__q4r16_group_bytes(const inf__weight *w) {
    return w->cols / 32 * 288;
}

/* Bytes per 16-row group of an INF__W_Q4_K_R16 matrix (above): 2368 per
 * super-block (Q4_K's 16 x 144 and 64 for the scales unpacked). */
static inline int64_t inf__q4kr16_group_bytes(const inf__weight *w) {
    return w->cols / 256 * 2368;
}

/* Bytes per 16-row group of an INF__W_Q5_K_R16 matrix (above): 2880 per
 * super-block (Q5_K's 16 x 176 and 64 for the scales unpacked). */
static inline int64_t inf__q5kr16_group_bytes(const inf__weight *w) {
    return w->cols / 256 * 2880;
}

/* Bytes per 16-row group of an INF__W_Q3_K_R16 matrix (above): 1824 per
 * super-block (Q3_K's 16 x 110 and 64 for the scales unpacked). */
static inline int64_t inf__q3kr16_group_bytes(const inf__weight *w) {
    return w->cols / 256 * 1824;
}

/* Bytes per 16-row group of an INF__W_Q2_K_R16 matrix (above): Q2_K's
 * 84 per row and super-block. */
static inline int64_t inf__q2kr16_group_bytes(const inf__weight *w) {
    return w->cols / 256 * 1344;
}

/* Bytes per 16-row group of an INF__W_Q6_K_R16 matrix (above). */
static inline int64_t inf__q6kr16_group_bytes(const inf__weight *w) {
    return w->cols / 256 * 3360;
}

/* Bytes per 16-row group of an INF__W_Q8_0_R16 matrix (above). */
static inline int64_t inf__q8r16_group_bytes(const inf__weight *w) {
    return w->cols / 32 * 544;
}

/* Bytes per 16-row group of an INF__W_MLX8_R16 / INF__W_MLX4_R16 matrix
 * (above). */
static inline int64_t inf__mlxr16_group_bytes(const inf__weight *w) {
    return w->cols / w->group * 32 * (w->sb_dtype == INF__DT_F32 ? 4 : 2) + w->cols / 32 * 64 * w->bits;
}

/* A 1-D vector (norm weight, bias) as stored: fmt F32/F16/BF16 or NONE. */
typedef struct inf__vec {
    inf__wfmt fmt;
    int64_t n;
    const void *data;
} inf__vec;

typedef enum inf__act { INF__ACT_SILU = 0, INF__ACT_GELU_TANH } inf__act;

typedef enum inf__rope_kind {
    INF__ROPE_DEFAULT = 0,
    INF__ROPE_LINEAR, /* positions divided by factor */
    INF__ROPE_LLAMA3  /* frequency-dependent scaling of Llama 3.1+ */
} inf__rope_kind;

typedef struct inf__rope {
    /* Which dimensions RoPE rotates together: 0 (Hugging Face, NEOX style)
     * pairs i with i + head_dim/2; 1 pairs 2i with 2i+1, as llama.cpp does
     * for GGUF llama files, whose converter permuted the rows of Q and K to
     * match. */
    int adjacent_pairs;
    float theta;
    inf__rope_kind kind;
    float factor;
    float low_freq_factor;          /* llama3 */
    float high_freq_factor;         /* llama3 */
    int32_t original_max_positions; /* llama3 */
} inf__rope;

typedef struct inf__layer {
    /* Norms (weights of length hidden, or head_dim for q/k norms). */
    inf__vec attn_norm;      /* input_layernorm */
    inf__vec post_attn_norm; /* gemma3: post_attention_layernorm (applied to
                                the attention output); NONE otherwise */
    inf__vec ffn_norm;       /* llama/qwen: post_attention_layernorm;
                                gemma3: pre_feedforward_layernorm */
    inf__vec post_ffn_norm;  /* gemma3: post_feedforward_layernorm */
    inf__vec q_norm, k_norm; /* qwen3/gemma3: per-head RMSNorm [head_dim] */
    /* Attention: q [n_heads*head_dim, hidden], k/v [n_kv_heads*head_dim,
     * hidden], o [hidden, n_heads*head_dim]. */
    inf__weight wq, wk, wv, wo;
    inf__vec bq, bk, bv; /* qwen2 biases; NONE otherwise */
    /* MLP: gate/up [intermediate, hidden], down [hidden, intermediate]. */
    inf__weight w_gate, w_up, w_down;
    int32_t sliding_window; /* 0 = full attention, else window size */
    inf__rope rope;
} inf__layer;

typedef struct inf__model_desc {
    char model_type[32];    /* "llama", "qwen2", "qwen3", "gemma3", ... */
    char dtype[16];         /* "bfloat16", "float16", "float32" */
    int32_t vocab_size;
    int32_t hidden_size;
    int32_t n_layers;
    int32_t n_heads;
    int32_t n_kv_heads;
    int32_t head_dim;
    int32_t intermediate_size;
    int32_t max_positions;  /* max_position_embeddings */
    float norm_eps;
    int norm_add_one;       /* gemma: RMSNorm scales by (1 + w) */
    float embed_scale;      /* gemma: sqrt(hidden); 1 otherwise */
    inf__act act;
    float attn_scale;       /* softmax scale: 1/sqrt(head_dim) or
                               1/sqrt(query_pre_attn_scalar) */
    float final_logit_softcap;  /* 0 = none */
    float attn_logit_softcap;   /* 0 = none */
    int tie_embeddings;
    int32_t quant_bits, quant_group; /* 0 when not quantised */

    inf__weight embed;   /* [vocab, hidden] */
    inf__weight lm_head; /* [vocab, hidden]; == embed when tied */
    inf__vec final_norm;
    inf__layer *layers;  /* [n_layers] */

    /* Token ids from config.json / generation_config.json. */
    int32_t bos_id;      /* -1 when unknown */
    int32_t eos_ids[INF__MAX_EOS];
    int32_t n_eos;
    /* generation_config.json sampling defaults (0 when absent; gen_have
     * says which the file gave, INF__GEN_* bits). */
    int gen_do_sample;      /* "do_sample": true */
    float gen_temperature, gen_top_p;
    int32_t gen_top_k;      /* given only as an integer */
    float gen_repeat_penalty; /* "repetition_penalty" */
    float gen_min_p;
    uint32_t gen_have;

    /* The file format, for ModelInfo: filled by src/model/gguf_model.c for
     * GGUF files; all empty/0 for safetensors directories. */
    char format[16];          /* "gguf" */
    char weight_types[128];   /* tensor types by count, e.g. "Q4_K 145, Q6_K 24, F32 57" */
    char tok_model[16];       /* tokenizer.ggml.model ("llama", "gpt2"), "" when absent */
    char tok_pre[32];         /* tokenizer.ggml.pre, "" when absent */
    int has_chat_template;    /* tokenizer.chat_template present */
} inf__model_desc;

#define INF__GEN_TEMPERATURE 1u
#define INF__GEN_TOP_P 2u
#define INF__GEN_TOP_K 4u
#define INF__GEN_MIN_P 8u
#define INF__GEN_REPEAT_PENALTY 16u

/* A loaded model directory: description, tensors, and the storage behind
 * them (mmaps or a dummy buffer). */
typedef struct inf__model_files inf__model_files;

typedef struct inf__load_params {
    int dummy_weights;        /* config.json only; random weights */
    int32_t dummy_bits;       /* 0, 4 or 8 */
    int32_t dummy_group;      /* default 64 */
    const char *dummy_dtype;  /* NULL = config's dtype */
    int copy_weights;         /* safetensors: read the files into private
                                 memory instead of mapping them (a GGUF
                                 source: see INF__MD_COPY) */
    void (*progress)(float fraction, void *user);
    void *progress_user;
} inf__load_params;

/* Loads and validates a model directory already read by
 * src/model/modeldir (opened with at least INF__MD_MODEL: config.json and
 * generation_config.json parsed): maps the safetensors files (single or
 * sharded), checks every expected tensor's dtype and shape against the
 * config, and fills *desc.  md is only read and may be freed afterwards;
 * desc's pointers stay valid until inf__model_files_free(*out).  Errors
 * name the file and the problem. */
struct inf__modeldir;
int inf__model_open_md(const struct inf__modeldir *md,
                       const inf__load_params *p, inf__model_desc *desc,
                       inf__model_files **out, inf__err *err);
/* The same from a directory path: reads it (INF__MD_MODEL) first. */
int inf__model_open(const char *dir, const inf__load_params *p,
                    inf__model_desc *desc, inf__model_files **out,
                    inf__err *err);
void inf__model_files_free(inf__model_files *f);

/* The widest sliding window when every layer has one (mistral-style), else
 * 0 (some layer attends to all positions, or no layers).  Cache positions
 * before pos - window + 1 are then read by no layer: the engine releases
 * their blocks and the backends neither read nor check them.  Inline: the
 * backends use it without linking the loader. */
static inline int32_t inf__model_kv_window(const inf__model_desc *d) {
    int32_t win = 0;
    for (int32_t l = 0; l < d->n_layers; l++) {
        const int32_t w = d->layers[l].sliding_window;
        if (w <= 0) return 0;
        if (w > win) win = w;
    }
    return win;
}
/* Bytes of weights held (mapped or allocated). */
int64_t inf__model_weight_bytes(const inf__model_files *f);

#endif
