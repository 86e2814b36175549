/*
 * GGUF reader (llama.cpp's model file format), versions 2 and 3, little
 * endian.  A file is
 *
 *   "GGUF", u32 version, u64 n_tensors, u64 n_kv,
 *   n_kv x (string key, u32 value type, value),
 *   n_tensors x (string name, u32 n_dims, u64 ne[n_dims], u32 ggml type,
 *                u64 offset),
 *   padding to general.alignment (default 32), the data section.
 *
 * A string is a u64 length and that many bytes (no NUL); an array value is
 * u32 element type, u64 count, the elements.  ne[0] is the innermost
 * (contiguous) dimension: a matrix [rows, cols] is stored with ne = {cols,
 * rows}.  Offsets are relative to the data section and multiples of the
 * alignment.
 *
 * Files are memory-mapped read-only; values and tensor data point into the
 * mapping.  The parser is written for hostile input: every length, count,
 * offset and shape is checked against the file size before it is used;
 * counts are bounded (INF__GGUF_MAX_*), arrays nest at most
 * INF__GGUF_MAX_DEPTH deep, keys and tensor names must be unique, known keys
 * must have their type (general.alignment u32, general.architecture
 * string, split.* integers), tensor types must be ggml types, shapes must
 * not overflow, tensors must lie inside the data section without
 * overlapping.  Errors are INF_E_FORMAT naming the file and the problem
 * (INF_E_UNSUPPORTED for version 1 and big-endian files).
 *
 * Split models (llama.cpp's gguf-split: NAME-00001-of-00003.gguf with
 * split.no, split.count, split.tensors.count) open as one: the metadata is
 * the first file's, the tensors are all files' together.
 */
#ifndef INF_MODEL_GGUF_H
#define INF_MODEL_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* Bounds: far above any real file, low enough that a hostile header
 * cannot make the reader allocate much. */
#define INF__GGUF_MAX_TENSORS ((uint64_t)1 << 20)
#define INF__GGUF_MAX_KV ((uint64_t)1 << 20)
#define INF__GGUF_MAX_DEPTH 4          /* arrays of arrays of ... */
#define INF__GGUF_MAX_KEY 65535        /* bytes in a key */
#define INF__GGUF_MAX_NAME 1024        /* bytes in a tensor name */
#define INF__GGUF_MAX_SPLITS 1024
#define INF__GGUF_MAX_ALIGN ((uint64_t)1 << 20)

/* Value types, as stored. */
typedef enum inf__gguf_type {
    INF__GGUF_U8 = 0,
    INF__GGUF_I8 = 1,
    INF__GGUF_U16 = 2,
    INF__GGUF_I16 = 3,
    INF__GGUF_U32 = 4,
    INF__GGUF_I32 = 5,
    INF__GGUF_F32 = 6,
    INF__GGUF_BOOL = 7,
    INF__GGUF_STRING = 8,
    INF__GGUF_ARRAY = 9,
    INF__GGUF_U64 = 10,
    INF__GGUF_I64 = 11,
    INF__GGUF_F64 = 12,
    INF__GGUF_TYPE_COUNT
} inf__gguf_type;

/* "u32", "string", "array", ...; "?" when unknown. */
const char *inf__gguf_type_name(int type);

/* ggml tensor types (ggml.h): the ids GGUF files store. */
enum {
    INF__GGML_F32 = 0,
    INF__GGML_F16 = 1,
    INF__GGML_Q4_0 = 2,
    INF__GGML_Q4_1 = 3,
    INF__GGML_Q5_0 = 6,
    INF__GGML_Q5_1 = 7,
    INF__GGML_Q8_0 = 8,
    INF__GGML_Q2_K = 10,
    INF__GGML_Q3_K = 11,
    INF__GGML_Q4_K = 12,
    INF__GGML_Q5_K = 13,
    INF__GGML_Q6_K = 14,
    INF__GGML_BF16 = 30,
};

/* The name of a ggml type ("Q4_K", "IQ2_XXS", ...); NULL when the id is
 * not a ggml type.  Values per block and bytes per block (0 when unknown). */
const char *inf__ggml_type_name(uint32_t type);
int64_t inf__ggml_block_elems(uint32_t type);
int64_t inf__ggml_block_bytes(uint32_t type);

/* A string in the mapping: n bytes, not NUL-terminated. */
typedef struct inf__gguf_str {
    const char *s;
    uint64_t n;
} inf__gguf_str;

/* One metadata value. */
typedef struct inf__gguf_kv {
    const char *key;     /* NUL-terminated (owned by the reader) */
    int type;            /* inf__gguf_type */
    /* Scalars, decoded: integers and bool in i (u64 values above INT64_MAX
     * in u), floats in f; a string in str. */
    int64_t i;
    uint64_t u;
    double f;
    inf__gguf_str str;
    /* Arrays: element type and count; `raw` points at the first element in
     * the mapping.  Scalar elements are read with inf__gguf_arr_int /
     * _float; string elements are indexed (strs[n]).  Nested arrays are
     * validated but not indexed (strs NULL, raw at the first nested one). */
    int arr_type;
    uint64_t arr_n;
    const uint8_t *raw;
    inf__gguf_str *strs; /* string arrays: [arr_n] */
} inf__gguf_kv;

/* One tensor. */
typedef struct inf__gguf_tensor {
    const char *name;    /* NUL-terminated (owned by the reader) */
    uint32_t type;       /* ggml type */
    int n_dims;          /* 1..4 */
    int64_t ne[4];       /* ne[0] innermost; unused dims are 1 */
    uint64_t offset;     /* in its file's data section */
    const void *data;
    size_t nbytes;
    int file;            /* index of its file in a split set */
} inf__gguf_tensor;

typedef struct inf__gguf inf__gguf;

/* Parses one GGUF image buf[len] held by the caller (a part of a split set
 * parses as itself alone; only inf__gguf_open joins the parts).  fname
 * labels messages.  On success *out points into buf, which must outlive
 * it; free with inf__gguf_free. */
int inf__gguf_parse_mem(const void *buf, size_t len, const char *fname,
                        inf__gguf **out, inf__err *err);

/* Maps and parses a file, and when it is the first of a split set
 * (split.count > 1, name NAME-00001-of-0000N.gguf) the other parts beside
 * it.  A later part of a set is refused with a message naming the first.
 * INF_E_NOT_FOUND when the file (or a part) does not exist, INF_E_IO,
 * INF_E_FORMAT, INF_E_NOMEM. */
int inf__gguf_open(const char *path, inf__gguf **out, inf__err *err);
/* The same with flags: 0 maps the files (as inf__gguf_open),
 * INF__WMAP_COPY (model/wmap.h) reads them into private memory instead, so
 * that the reader never touches the files after this returns. */
int inf__gguf_open_flags(const char *path, unsigned flags, inf__gguf **out, inf__err *err);

/* Reference counting: inf__gguf_free drops one reference; the last frees
 * the reader and its mappings.  NULL is fine for both. */
inf__gguf *inf__gguf_ref(inf__gguf *g);
void inf__gguf_free(inf__gguf *g);

/* The path given to inf__gguf_open (or fname), its version, alignment, and
 * number of files (1, or the split count). */
const char *inf__gguf_path(const inf__gguf *g);
uint32_t inf__gguf_version(const inf__gguf *g);
uint64_t inf__gguf_alignment(const inf__gguf *g);
int inf__gguf_file_count(const inf__gguf *g);
/* Total bytes of the files' data sections. */
int64_t inf__gguf_data_bytes(const inf__gguf *g);

/* Metadata: count, i-th (file order), by key (NULL when absent). */
size_t inf__gguf_kv_count(const inf__gguf *g);
const inf__gguf_kv *inf__gguf_kv_at(const inf__gguf *g, size_t i);
const inf__gguf_kv *inf__gguf_find(const inf__gguf *g, const char *key);

/* Typed reads of a key.  Each returns 1 and the value when the key is
 * present with a fitting type, 0 when absent (*v untouched), and -1 with
 * INF_E_FORMAT in err when present with another type (or, for integers,
 * a value outside [lo, hi]).
 *   int: any integer type (not bool); float: f32/f64 or an integer;
 *   bool: bool; string: string (*v points into the mapping, n bytes). */
int inf__gguf_get_int(const inf__gguf *g, const char *key, int64_t lo,
                      int64_t hi, int64_t *v, inf__err *err);
int inf__gguf_get_float(const inf__gguf *g, const char *key, double *v,
                        inf__err *err);
int inf__gguf_get_bool(const inf__gguf *g, const char *key, int *v,
                       inf__err *err);
int inf__gguf_get_str(const inf__gguf *g, const char *key, inf__gguf_str *v,
                      inf__err *err);
/* Copies a string value into buf[n] (NUL-terminated, truncated); "" when
 * absent or not a string.  Returns buf. */
char *inf__gguf_str_copy(const inf__gguf *g, const char *key, char *buf,
                         size_t n);

/* Element i (< kv->arr_n) of an array of integers / bools (as int64; a u64
 * above INT64_MAX reads as INT64_MAX) or of floats / integers (as double).
 * 0 for another element type. */
int64_t inf__gguf_arr_int(const inf__gguf_kv *kv, uint64_t i);
double inf__gguf_arr_float(const inf__gguf_kv *kv, uint64_t i);

/* Tensors: count, i-th (files in order, tensors in file order), by name. */
size_t inf__gguf_tensor_count(const inf__gguf *g);
const inf__gguf_tensor *inf__gguf_tensor_at(const inf__gguf *g, size_t i);
const inf__gguf_tensor *inf__gguf_tensor_find(const inf__gguf *g,
                                              const char *name);

/* 1 when path names a GGUF file by its name (ends in ".gguf"). */
int inf__gguf_is_gguf_name(const char *path);
/* When name is a split part "PREFIX-0000K-of-0000N.gguf": returns 1 and
 * sets *k, *n (1-based) and *prefix_len; 0 otherwise. */
int inf__gguf_split_name(const char *name, int *k, int *n, size_t *prefix_len);

#endif
