/*
 * safetensors reader.  A file is an 8-byte little-endian header length, a
 * JSON header {name: {"dtype", "shape", "data_offsets": [begin, end]}, ...,
 * "__metadata__": {...}} and the data section the offsets index.  Files are
 * memory-mapped read-only; tensors point straight into the mapping.
 *
 * Everything in the header is validated before a tensor is handed out:
 * header length within the file, well-formed UTF-8 JSON, known dtypes,
 * non-negative dims, shape product * dtype size == offset span, offsets
 * inside the data section, no two tensors overlapping, no duplicate names.
 */
#ifndef INF_MODEL_SAFETENSORS_H
#define INF_MODEL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

/* Largest header accepted (the reference implementation's limit too). */
#define INF__ST_MAX_HEADER ((uint64_t)100 * 1024 * 1024)

/* The parsed header of one file: tensors in file order. */
typedef struct inf__st_header {
    inf__tensor *tensors; /* [n]; name and data point into this header's
                             storage and the caller's buffer */
    size_t n;
    size_t data_bytes;    /* size of the data section */
    char *names;          /* storage for tensor names */
} inf__st_header;

/* Parses a whole safetensors image buf[len] (header and data) held by the
 * caller; `fname` only labels error messages.  On success *out is a new
 * header (free with inf__st_header_free) whose tensors' data point into buf,
 * so buf must outlive it.  Returns INF_OK, INF_E_FORMAT (with the file and
 * the problem in err), INF_E_UNSUPPORTED (more than INF__MAX_DIMS dims) or
 * INF_E_NOMEM. */
int inf__st_parse_mem(const void *buf, size_t len, const char *fname,
                      inf__st_header **out, inf__err *err);
void inf__st_header_free(inf__st_header *h);

/* A set of mapped files (one model), with lookup by tensor name. */
typedef struct inf__st_set inf__st_set;

/* Maps a model directory's weights: model.safetensors.index.json when
 * present (every shard its weight_map names, and every tensor it lists must
 * be in the shard it names), else every *.safetensors file in the directory
 * (sorted by name).  Tensor names must be unique across files.  flags:
 * 0 maps the files, INF__WMAP_COPY (model/wmap.h) reads them into private
 * memory instead.  progress (may be NULL) is called with 0..1 as files are
 * mapped and parsed.  Errors: INF_E_NOT_FOUND (no weights, missing shard),
 * INF_E_IO, INF_E_FORMAT, INF_E_NOMEM.  Free with inf__st_set_free. */
int inf__st_open_dir(const char *dir, unsigned flags, inf__st_set **out,
                     void (*progress)(float fraction, void *user), void *user,
                     inf__err *err);
/* Maps a single file into a new set (same errors). */
int inf__st_open_file(const char *path, inf__st_set **out, inf__err *err);
void inf__st_set_free(inf__st_set *s);

/* The tensor called `name`, or NULL.  The pointer lives as long as s. */
const inf__tensor *inf__st_find(const inf__st_set *s, const char *name);
/* The base name of the file holding t (for messages); "?" if not found. */
const char *inf__st_file_of(const inf__st_set *s, const inf__tensor *t);
/* The path of the file holding t (for messages); "?" if not found. */
const char *inf__st_path_of(const inf__st_set *s, const inf__tensor *t);
/* Number of tensors, and the i-th (files in order, tensors in file order). */
size_t inf__st_count(const inf__st_set *s);
const inf__tensor *inf__st_at(const inf__st_set *s, size_t i);
/* Total bytes of the files' data sections. */
int64_t inf__st_data_bytes(const inf__st_set *s);
/* Number of files mapped. */
size_t inf__st_file_count(const inf__st_set *s);

/* dtype from its safetensors spelling ("BF16"); -1 when unknown. */
int inf__dtype_parse(const char *s);

#endif
