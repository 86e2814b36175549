/* GGUF reader (see gguf.h): every length, count, offset and shape is
 * checked against the bytes that are there before it is used. */
#include "model/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"
#include "model/wmap.h"

#define GGUF_MAGIC 0x46554747u /* "GGUF" little-endian */
#define DEFAULT_ALIGN 32

/* ------------------------------------------------------------------------
 * Types
 * ------------------------------------------------------------------------ */

const char *inf__gguf_type_name(int type) {
    static const char *n[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                              "bool", "string", "array", "u64", "i64", "f64"};
    return type >= 0 && type < INF__GGUF_TYPE_COUNT ? n[type] : "?";
}

static size_t scalar_size(int type) {
    switch (type) {
    case INF__GGUF_U8: case INF__GGUF_I8: case INF__GGUF_BOOL: return 1;
    case INF__GGUF_U16: case INF__GGUF_I16: return 2;
    case INF__GGUF_U32: case INF__GGUF_I32: case INF__GGUF_F32: return 4;
    case INF__GGUF_U64: case INF__GGUF_I64: case INF__GGUF_F64: return 8;
    default: return 0;
    }
}

static int is_int_type(int t) {
    return t == INF__GGUF_U8 || t == INF__GGUF_I8 || t == INF__GGUF_U16 ||
           t == INF__GGUF_I16 || t == INF__GGUF_U32 || t == INF__GGUF_I32 ||
           t == INF__GGUF_U64 || t == INF__GGUF_I64;
}

/* ggml's types (ggml.h, ggml-common.h): name, values per block, bytes per
 * block.  Ids that ggml removed or never used have no entry. */
typedef struct ggml_info {
    const char *name;
    int32_t blk, bytes;
} ggml_info;

static const ggml_info GGML[] = {
    [0] = {"F32", 1, 4},        [1] = {"F16", 1, 2},
    [2] = {"Q4_0", 32, 18},     [3] = {"Q4_1", 32, 20},
    [6] = {"Q5_0", 32, 22},     [7] = {"Q5_1", 32, 24},
    [8] = {"Q8_0", 32, 34},     [9] = {"Q8_1", 32, 36},
    [10] = {"Q2_K", 256, 84},   [11] = {"Q3_K", 256, 110},
    [12] = {"Q4_K", 256, 144},  [13] = {"Q5_K", 256, 176},
    [14] = {"Q6_K", 256, 210},  [15] = {"Q8_K", 256, 292},
    [16] = {"IQ2_XXS", 256, 66}, [17] = {"IQ2_XS", 256, 74},
    [18] = {"IQ3_XXS", 256, 98}, [19] = {"IQ1_S", 256, 50},
    [20] = {"IQ4_NL", 32, 18},  [21] = {"IQ3_S", 256, 110},
    [22] = {"IQ2_S", 256, 82},  [23] = {"IQ4_XS", 256, 136},
    [24] = {"I8", 1, 1},        [25] = {"I16", 1, 2},
    [26] = {"I32", 1, 4},       [27] = {"I64", 1, 8},
    [28] = {"F64", 1, 8},       [29] = {"IQ1_M", 256, 56},
    [30] = {"BF16", 1, 2},      [34] = {"TQ1_0", 256, 54},
    [35] = {"TQ2_0", 256, 66},  [39] = {"MXFP4", 32, 17},
    [40] = {"NVFP4", 64, 36},   [41] = {"Q1_0", 128, 18},
    [42] = {"Q2_0", 64, 18},
};
#define N_GGML (sizeof GGML / sizeof GGML[0])

const char *inf__ggml_type_name(uint32_t t) {
    return t < N_GGML ? GGML[t].name : NULL;
}
int64_t inf__ggml_block_elems(uint32_t t) {
    return t < N_GGML && GGML[t].name ? GGML[t].blk : 0;
}
int64_t inf__ggml_block_bytes(uint32_t t) {
    return t < N_GGML && GGML[t].name ? GGML[t].bytes : 0;
}

/* ------------------------------------------------------------------------
 * The reader
 * ------------------------------------------------------------------------ */

typedef struct gfile {
    char *path;
    void *map;        /* our mapping, or NULL when the caller owns the bytes */
    size_t size;
    const uint8_t *data; /* the data section */
    size_t data_size;
} gfile;

/* An open-addressing table of indices (+1; 0 = empty) keyed by name. */
typedef struct htab {
    uint32_t *slot;
    size_t cap; /* power of two */
} htab;

struct inf__gguf {
    int refs;
    char *path;
    uint32_t version;
    uint64_t alignment;
    gfile *files;
    int n_files;
    inf__gguf_kv *kvs;
    size_t n_kv;
    inf__gguf_tensor *tensors;
    size_t n_tensors;
    htab kv_index, t_index;
    int64_t data_bytes;
};

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static int htab_init(htab *h, size_t n) {
    size_t cap = 16;
    while (cap < 2 * n + 2) cap *= 2;
    h->slot = calloc(cap, sizeof *h->slot);
    h->cap = cap;
    return h->slot != NULL;
}

/* Finds name: returns the index, or -1 (and the free slot in *free_slot). */
typedef const char *(*name_at_fn)(const void *ctx, size_t i);
static const char *kv_name(const void *g, size_t i) {
    return ((const inf__gguf *)g)->kvs[i].key;
}
static const char *t_name(const void *g, size_t i) {
    return ((const inf__gguf *)g)->tensors[i].name;
}

static long htab_find(const htab *h, const void *g, name_at_fn at, const char *name,
                      size_t *free_slot) {
    if (!h->cap) return -1;
    size_t m = h->cap - 1, i = (size_t)hash_str(name) & m;
    for (;; i = (i + 1) & m) {
        uint32_t s = h->slot[i];
        if (!s) {
            if (free_slot) *free_slot = i;
            return -1;
        }
        if (strcmp(at(g, s - 1), name) == 0) return (long)(s - 1);
    }
}

static void kv_free_one(inf__gguf_kv *kv) {
    free((char *)kv->key);
    free(kv->strs);
}

static void gguf_destroy(inf__gguf *g) {
    for (size_t i = 0; i < g->n_kv; i++) kv_free_one(&g->kvs[i]);
    free(g->kvs);
    for (size_t i = 0; i < g->n_tensors; i++) free((char *)g->tensors[i].name);
    free(g->tensors);
    /* files is NULL when gguf_new's allocation of it failed. */
    for (int i = 0; g->files && i < g->n_files; i++) {
        if (g->files[i].map) munmap(g->files[i].map, g->files[i].size);
        free(g->files[i].path);
    }
    free(g->files);
    free(g->kv_index.slot);
    free(g->t_index.slot);
    free(g->path);
    free(g);
}

inf__gguf *inf__gguf_ref(inf__gguf *g) {
    if (g) g->refs++;
    return g;
}

void inf__gguf_free(inf__gguf *g) {
    if (g && --g->refs <= 0) gguf_destroy(g);
}

/* ------------------------------------------------------------------------
 * Parsing one file
 * ------------------------------------------------------------------------ */

typedef struct rd {
    const uint8_t *p;
    size_t len, off;
    const char *fname;
    inf__err *err;
} rd;

static int trunc_err(rd *r, const char *what) {
    return inf__seterr(r->err, INF_E_FORMAT,
                       "%s: truncated GGUF file: %s at byte %zu runs past the end (%zu bytes)",
                       r->fname, what, r->off, r->len);
}

static int need(rd *r, uint64_t n, const char *what) {
    if (n > r->len - r->off) return trunc_err(r, what);
    return INF_OK;
}

static uint64_t le(const uint8_t *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static int rd_u32(rd *r, uint32_t *v, const char *what) {
    if (need(r, 4, what)) return INF_E_FORMAT;
    *v = (uint32_t)le(r->p + r->off, 4);
    r->off += 4;
    return INF_OK;
}

static int rd_u64(rd *r, uint64_t *v, const char *what) {
    if (need(r, 8, what)) return INF_E_FORMAT;
    *v = le(r->p + r->off, 8);
    r->off += 8;
    return INF_OK;
}

static int rd_str(rd *r, inf__gguf_str *s, const char *what) {
    uint64_t n;
    if (rd_u64(r, &n, what)) return INF_E_FORMAT;
    if (n > r->len - r->off)
        return inf__seterr(r->err, INF_E_FORMAT,
                           "%s: %s: string length %llu at byte %zu runs past the end of the "
                           "file (%zu bytes)", r->fname, what, (unsigned long long)n,
                           r->off - 8, r->len);
    s->s = (const char *)r->p + r->off;
    s->n = n;
    r->off += (size_t)n;
    return INF_OK;
}

/* Decodes a scalar at p of the given type into kv's i/u/f. */
static void decode_scalar(int type, const uint8_t *p, inf__gguf_kv *kv) {
    size_t n = scalar_size(type);
    uint64_t raw = le(p, n);
    kv->u = raw;
    switch (type) {
    case INF__GGUF_I8: kv->i = (int8_t)raw; break;
    case INF__GGUF_I16: kv->i = (int16_t)raw; break;
    case INF__GGUF_I32: kv->i = (int32_t)raw; break;
    case INF__GGUF_I64: kv->i = (int64_t)raw; break;
    case INF__GGUF_U64: kv->i = raw > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)raw; break;
    case INF__GGUF_F32: {
        uint32_t b = (uint32_t)raw;
        float f;
        memcpy(&f, &b, 4);
        kv->f = f;
        return;
    }
    case INF__GGUF_F64: {
        double d;
        memcpy(&d, &raw, 8);
        kv->f = d;
        return;
    }
    default: kv->i = (int64_t)raw; break;
    }
    kv->f = (double)kv->i;
    if (type != INF__GGUF_I8 && type != INF__GGUF_I16 && type != INF__GGUF_I32 &&
        type != INF__GGUF_I64)
        kv->u = raw;
}

/* Reads a value of `type`; kv (may be NULL for nested elements) gets it.
 * depth counts the arrays around it. */
static int rd_value(rd *r, int type, int depth, const char *key, inf__gguf_kv *kv) {
    if (type < 0 || type >= INF__GGUF_TYPE_COUNT)
        return inf__seterr(r->err, INF_E_FORMAT, "%s: key \"%s\": unknown value type %d",
                           r->fname, key, type);
    size_t ss = scalar_size(type);
    if (ss) {
        if (need(r, ss, "a metadata value")) return INF_E_FORMAT;
        if (type == INF__GGUF_BOOL && r->p[r->off] > 1)
            return inf__seterr(r->err, INF_E_FORMAT, "%s: key \"%s\": bool value %u is not 0 or 1",
                               r->fname, key, r->p[r->off]);
        if (kv) decode_scalar(type, r->p + r->off, kv);
        r->off += ss;
        return INF_OK;
    }
    if (type == INF__GGUF_STRING) {
        inf__gguf_str s;
        if (rd_str(r, &s, key)) return INF_E_FORMAT;
        if (kv) kv->str = s;
        return INF_OK;
    }
    /* An array. */
    if (depth >= INF__GGUF_MAX_DEPTH)
        return inf__seterr(r->err, INF_E_FORMAT,
                           "%s: key \"%s\": arrays nested more than %d deep", r->fname, key,
                           INF__GGUF_MAX_DEPTH);
    uint32_t et;
    uint64_t n;
    if (rd_u32(r, &et, "an array's element type") || rd_u64(r, &n, "an array's length"))
        return INF_E_FORMAT;
    if (et >= INF__GGUF_TYPE_COUNT)
        return inf__seterr(r->err, INF_E_FORMAT,
                           "%s: key \"%s\": unknown array element type %u", r->fname, key, et);
    /* Every element takes at least min bytes: a count beyond what is left
     * is refused before anything is allocated or walked. */
    size_t min = scalar_size((int)et);
    if (et == INF__GGUF_STRING) min = 8;
    if (et == INF__GGUF_ARRAY) min = 12;
    if (n > (r->len - r->off) / min)
        return inf__seterr(r->err, INF_E_FORMAT,
                           "%s: key \"%s\": array of %llu %s elements runs past the end of the "
                           "file (%zu bytes)", r->fname, key, (unsigned long long)n,
                           inf__gguf_type_name((int)et), r->len);
    if (kv) {
        kv->arr_type = (int)et;
        kv->arr_n = n;
        kv->raw = r->p + r->off;
    }
    if (min && et != INF__GGUF_STRING && et != INF__GGUF_ARRAY) {
        if (et == INF__GGUF_BOOL)
            for (uint64_t i = 0; i < n; i++)
                if (r->p[r->off + i] > 1)
                    return inf__seterr(r->err, INF_E_FORMAT,
                                       "%s: key \"%s\": bool element %llu is not 0 or 1",
                                       r->fname, key, (unsigned long long)i);
        r->off += (size_t)n * min;
        return INF_OK;
    }
    if (et == INF__GGUF_STRING) {
        inf__gguf_str *strs = NULL;
        if (kv && n) {
            strs = malloc((size_t)n * sizeof *strs);
            if (!strs) return inf__seterr(r->err, INF_E_NOMEM, "out of memory");
            kv->strs = strs;
        }
        for (uint64_t i = 0; i < n; i++) {
            inf__gguf_str s;
            if (rd_str(r, &s, key)) return INF_E_FORMAT;
            if (strs) strs[i] = s;
        }
        return INF_OK;
    }
    /* An array of arrays: each element is an array value (element type,
     * count, elements), at most INF__GGUF_MAX_DEPTH deep. */
    for (uint64_t i = 0; i < n; i++) {
        int rc = rd_value(r, INF__GGUF_ARRAY, depth + 1, key, NULL);
        if (rc) return rc;
    }
    return INF_OK;
}

/* Checks the types of the keys the reader itself relies on. */
static int check_known(const inf__gguf_kv *kv, const char *fname, inf__err *err) {
    static const struct { const char *key; int type; } known[] = {
        {"general.alignment", INF__GGUF_U32},
        {"general.architecture", INF__GGUF_STRING},
        {"general.name", INF__GGUF_STRING},
        {"general.file_type", -1},
        {"split.no", -1},
        {"split.count", -1},
        {"split.tensors.count", -1},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strcmp(kv->key, known[i].key) != 0) continue;
        int ok = known[i].type < 0 ? is_int_type(kv->type) : kv->type == known[i].type;
        if (!ok)
            return inf__seterr(err, INF_E_FORMAT, "%s: key \"%s\" has type %s, expected %s",
                               fname, kv->key, inf__gguf_type_name(kv->type),
                               known[i].type < 0 ? "an integer"
                                                 : inf__gguf_type_name(known[i].type));
    }
    return INF_OK;
}

typedef struct parsed {
    uint32_t version;
    uint64_t alignment;
    inf__gguf_kv *kvs;
    size_t n_kv;
    htab kv_index;
} parsed;

static void parsed_free(parsed *p) {
    for (size_t i = 0; i < p->n_kv; i++) kv_free_one(&p->kvs[i]);
    free(p->kvs);
    free(p->kv_index.slot);
    memset(p, 0, sizeof *p);
}

static const char *pkv_name(const void *p, size_t i) {
    return ((const parsed *)p)->kvs[i].key;
}

static int cmp_off(const void *a, const void *b) {
    const inf__gguf_tensor *x = *(inf__gguf_tensor *const *)a, *y = *(inf__gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Parses buf[len] as file number `fi` of g: its metadata into *pm, its
 * tensors appended to g->tensors. */
static int parse_file(inf__gguf *g, int fi, const uint8_t *buf, size_t len, const char *fname,
                      parsed *pm, inf__err *err) {
    rd r = {buf, len, 0, fname, err};
    uint32_t magic, version;
    uint64_t n_tensors, n_kv;
    memset(pm, 0, sizeof *pm);
    if (len < 4 || (magic = (uint32_t)le(buf, 4)) != GGUF_MAGIC)
        return inf__seterr(err, INF_E_FORMAT, "%s: not a GGUF file (no \"GGUF\" magic)", fname);
    r.off = 4;
    if (rd_u32(&r, &version, "the version")) return INF_E_FORMAT;
    if (version == 1)
        return inf__seterr(err, INF_E_UNSUPPORTED,
                           "%s: GGUF version 1 is not supported (only 2 and 3)", fname);
    if ((version & 0xffff) == 0 && (version >> 16) != 0)
        return inf__seterr(err, INF_E_UNSUPPORTED,
                           "%s: a big-endian GGUF file is not supported", fname);
    if (version != 2 && version != 3)
        return inf__seterr(err, INF_E_FORMAT, "%s: unknown GGUF version %u", fname, version);
    if (rd_u64(&r, &n_tensors, "the tensor count") || rd_u64(&r, &n_kv, "the metadata count"))
        return INF_E_FORMAT;
    if (n_tensors > INF__GGUF_MAX_TENSORS || n_tensors > (len - r.off) / 28)
        return inf__seterr(err, INF_E_FORMAT, "%s: %llu tensors cannot fit in the file",
                           fname, (unsigned long long)n_tensors);
    if (n_kv > INF__GGUF_MAX_KV || n_kv > (len - r.off) / 13)
        return inf__seterr(err, INF_E_FORMAT, "%s: %llu metadata values cannot fit in the file",
                           fname, (unsigned long long)n_kv);
    pm->version = version;
    pm->alignment = DEFAULT_ALIGN;
    pm->kvs = calloc(n_kv ? (size_t)n_kv : 1, sizeof *pm->kvs);
    if (!pm->kvs || !htab_init(&pm->kv_index, (size_t)n_kv)) {
        parsed_free(pm);
        return inf__seterr(err, INF_E_NOMEM, "out of memory");
    }
    int rc = INF_OK;
#define FAIL(x) do { rc = (x); goto fail; } while (0)
    for (uint64_t i = 0; i < n_kv; i++) {
        inf__gguf_str key;
        uint32_t type;
        if (rd_str(&r, &key, "a metadata key")) FAIL(INF_E_FORMAT);
        if (key.n == 0 || key.n > INF__GGUF_MAX_KEY || memchr(key.s, 0, (size_t)key.n))
            FAIL(inf__seterr(err, INF_E_FORMAT, "%s: metadata key %llu: invalid key (%llu bytes)",
                             fname, (unsigned long long)i, (unsigned long long)key.n));
        inf__gguf_kv *kv = &pm->kvs[pm->n_kv];
        if (!(kv->key = inf__strndup(key.s, (size_t)key.n))) FAIL(inf__seterr(err, INF_E_NOMEM, "out of memory"));
        pm->n_kv++;
        size_t slot = 0;
        if (htab_find(&pm->kv_index, pm, pkv_name, kv->key,
                      &slot) >= 0)
            FAIL(inf__seterr(err, INF_E_FORMAT, "%s: duplicate metadata key \"%s\"", fname,
                             kv->key));
        pm->kv_index.slot[slot] = (uint32_t)pm->n_kv;
        if (rd_u32(&r, &type, "a value type")) FAIL(INF_E_FORMAT);
        kv->type = (int)type;
        if ((rc = rd_value(&r, (int)type, 0, kv->key, kv))) goto fail;
        if ((rc = check_known(kv, fname, err))) goto fail;
        if (strcmp(kv->key, "general.alignment") == 0) {
            uint64_t a = kv->u;
            if (a == 0 || (a & (a - 1)) || a > INF__GGUF_MAX_ALIGN)
                FAIL(inf__seterr(err, INF_E_FORMAT,
                                 "%s: general.alignment %llu is not a power of two up to %llu",
                                 fname, (unsigned long long)a,
                                 (unsigned long long)INF__GGUF_MAX_ALIGN));
            pm->alignment = a;
        }
    }
    /* Tensor infos. */
    size_t base = g->n_tensors;
    if (n_tensors) {
        inf__gguf_tensor *t = realloc(g->tensors, (base + (size_t)n_tensors) * sizeof *t);
        if (!t) FAIL(inf__seterr(err, INF_E_NOMEM, "out of memory"));
        g->tensors = t;
    }
    for (uint64_t i = 0; i < n_tensors; i++) {
        inf__gguf_str name;
        uint32_t nd, type;
        if (rd_str(&r, &name, "a tensor name")) FAIL(INF_E_FORMAT);
        if (name.n == 0 || name.n > INF__GGUF_MAX_NAME || memchr(name.s, 0, (size_t)name.n))
            FAIL(inf__seterr(err, INF_E_FORMAT, "%s: tensor %llu: invalid name (%llu bytes)",
                             fname, (unsigned long long)i, (unsigned long long)name.n));
        inf__gguf_tensor *t = &g->tensors[g->n_tensors];
        memset(t, 0, sizeof *t);
        if (!(t->name = inf__strndup(name.s, (size_t)name.n)))
            FAIL(inf__seterr(err, INF_E_NOMEM, "out of memory"));
        g->n_tensors++;
        t->file = fi;
        if (rd_u32(&r, &nd, "a tensor's dimension count")) FAIL(INF_E_FORMAT);
        if (nd < 1 || nd > 4)
            FAIL(inf__seterr(err, INF_E_FORMAT, "%s: tensor \"%s\": %u dimensions (1 to 4 allowed)",
                             fname, t->name, nd));
        t->n_dims = (int)nd;
        for (int d = 0; d < 4; d++) t->ne[d] = 1;
        for (uint32_t d = 0; d < nd; d++) {
            uint64_t ne;
            if (rd_u64(&r, &ne, "a tensor dimension")) FAIL(INF_E_FORMAT);
            if (ne == 0 || ne > (uint64_t)INT64_MAX)
                FAIL(inf__seterr(err, INF_E_FORMAT, "%s: tensor \"%s\": invalid dimension %llu",
                                 fname, t->name, (unsigned long long)ne));
            t->ne[d] = (int64_t)ne;
        }
        if (rd_u32(&r, &type, "a tensor type") || rd_u64(&r, &t->offset, "a tensor offset"))
            FAIL(INF_E_FORMAT);
        t->type = type;
        int64_t be = inf__ggml_block_elems(type), bb = inf__ggml_block_bytes(type);
        if (!be)
            FAIL(inf__seterr(err, INF_E_FORMAT, "%s: tensor \"%s\": unknown ggml type %u", fname,
                             t->name, type));
        if (t->ne[0] % be)
            FAIL(inf__seterr(err, INF_E_FORMAT,
                             "%s: tensor \"%s\": %lld values per row do not split into %s "
                             "blocks of %lld", fname, t->name, (long long)t->ne[0],
                             inf__ggml_type_name(type), (long long)be));
        /* Bytes: blocks per row * bytes per block * the other dims, with
         * every product checked (and the whole bounded by the file). */
        uint64_t bytes = (uint64_t)(t->ne[0] / be) * (uint64_t)bb; /* < 2^63/1 * 292: check */
        if ((uint64_t)(t->ne[0] / be) > (uint64_t)len / (uint64_t)bb)
            bytes = UINT64_MAX;
        for (int d = 1; d < 4 && bytes != UINT64_MAX; d++) {
            if ((uint64_t)t->ne[d] > (uint64_t)len / (bytes ? bytes : 1)) bytes = UINT64_MAX;
            else bytes *= (uint64_t)t->ne[d];
        }
        if (bytes == UINT64_MAX || bytes > len)
            FAIL(inf__seterr(err, INF_E_FORMAT,
                             "%s: tensor \"%s\": shape [%lld, %lld, %lld, %lld] is larger than "
                             "the file", fname, t->name, (long long)t->ne[0],
                             (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3]));
        t->nbytes = (size_t)bytes;
        if (t->offset % pm->alignment)
            FAIL(inf__seterr(err, INF_E_FORMAT,
                             "%s: tensor \"%s\": offset %llu is not a multiple of the "
                             "alignment %llu", fname, t->name, (unsigned long long)t->offset,
                             (unsigned long long)pm->alignment));
    }
    /* The data section starts at the next multiple of the alignment. */
    uint64_t ds = ((uint64_t)r.off + pm->alignment - 1) / pm->alignment * pm->alignment;
    if (n_tensors && ds > len)
        FAIL(inf__seterr(err, INF_E_FORMAT, "%s: truncated GGUF file: no data section", fname));
    size_t data_size = ds <= len ? len - (size_t)ds : 0;
    const uint8_t *data = buf + (ds <= len ? ds : len);
    g->files[fi].data = data;
    g->files[fi].data_size = data_size;
    for (size_t i = base; i < g->n_tensors; i++) {
        inf__gguf_tensor *t = &g->tensors[i];
        if (t->offset > data_size || t->nbytes > data_size - t->offset)
            FAIL(inf__seterr(err, INF_E_FORMAT,
                             "%s: tensor \"%s\": bytes %llu..%llu of the data section lie "
                             "beyond its end (%zu bytes)", fname, t->name,
                             (unsigned long long)t->offset,
                             (unsigned long long)t->offset + t->nbytes, data_size));
        t->data = data + t->offset;
    }
    if (g->n_tensors > base) {
        size_t n = g->n_tensors - base;
        inf__gguf_tensor **order = malloc(n * sizeof *order);
        if (!order) FAIL(inf__seterr(err, INF_E_NOMEM, "out of memory"));
        for (size_t i = 0; i < n; i++) order[i] = &g->tensors[base + i];
        qsort(order, n, sizeof *order, cmp_off);
        for (size_t i = 1; i < n; i++)
            if (order[i - 1]->offset + order[i - 1]->nbytes > order[i]->offset) {
                rc = inf__seterr(err, INF_E_FORMAT, "%s: tensors \"%s\" and \"%s\" overlap",
                                 fname, order[i - 1]->name, order[i]->name);
                break;
            }
        free(order);
        if (rc) goto fail;
    }
    g->data_bytes += (int64_t)data_size;
    return INF_OK;
fail:
#undef FAIL
    parsed_free(pm);
    return rc;
}

/* Tensor names unique across the whole set. */
static int index_tensors(inf__gguf *g, inf__err *err) {
    if (!htab_init(&g->t_index, g->n_tensors)) return inf__seterr(err, INF_E_NOMEM, "out of memory");
    for (size_t i = 0; i < g->n_tensors; i++) {
        size_t slot = 0;
        if (htab_find(&g->t_index, g, t_name, g->tensors[i].name, &slot) >= 0)
            return inf__seterr(err, INF_E_FORMAT, "%s: duplicate tensor \"%s\"",
                               g->files[g->tensors[i].file].path, g->tensors[i].name);
        g->t_index.slot[slot] = (uint32_t)(i + 1);
    }
    return INF_OK;
}

static inf__gguf *gguf_new(const char *path, int n_files) {
    inf__gguf *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->refs = 1;
    g->files = calloc((size_t)n_files, sizeof *g->files);
    g->n_files = n_files;
    g->path = inf__strdup(path);
    if (!g->files || !g->path) {
        gguf_destroy(g);
        return NULL;
    }
    return g;
}

static void adopt_kvs(inf__gguf *g, parsed *pm) {
    g->version = pm->version;
    g->alignment = pm->alignment;
    g->kvs = pm->kvs;
    g->n_kv = pm->n_kv;
    g->kv_index = pm->kv_index;
    memset(pm, 0, sizeof *pm);
}

int inf__gguf_parse_mem(const void *buf, size_t len, const char *fname, inf__gguf **out,
                        inf__err *err) {
    inf__err local;
    if (!err) err = &local;
    inf__err_clear(err);
    if (out) *out = NULL;
    if (!buf || !out) return inf__seterr(err, INF_E_INVALID_ARGUMENT, "inf__gguf_parse_mem: NULL argument");
    if (!fname) fname = "<memory>";
    inf__gguf *g = gguf_new(fname, 1);
    if (!g || !(g->files[0].path = inf__strdup(fname))) {
        if (g) gguf_destroy(g);
        return inf__seterr(err, INF_E_NOMEM, "out of memory");
    }
    g->files[0].size = len;
    parsed pm;
    int rc = parse_file(g, 0, buf, len, fname, &pm, err);
    if (!rc) adopt_kvs(g, &pm);
    if (!rc) rc = index_tensors(g, err);
    if (rc) {
        gguf_destroy(g);
        return rc;
    }
    *out = g;
    return INF_OK;
}

/* ------------------------------------------------------------------------
 * Files and split sets
 * ------------------------------------------------------------------------ */

static int map_file(const char *path, unsigned flags, gfile *f, inf__err *err) {
    /* O_NONBLOCK: a FIFO in place of the file must not block the open
     * (fstat below refuses it). */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return inf__seterr(err, errno == ENOENT ? INF_E_NOT_FOUND : INF_E_IO, "%s: %s", path,
                           strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return inf__seterr(err, INF_E_IO, "%s: not a regular file", path);
    }
    if (st.st_size < 24) {
        close(fd);
        return inf__seterr(err, INF_E_FORMAT, "%s: truncated GGUF file (%lld bytes)", path,
                           (long long)st.st_size);
    }
    void *m = NULL;
    int rc = inf__wmap_fd(fd, (size_t)st.st_size, flags, path, &m, err);
    close(fd);
    if (rc) return rc;
    f->map = m;
    f->size = (size_t)st.st_size;
    return INF_OK;
}

int inf__gguf_is_gguf_name(const char *path) {
    size_t n = path ? strlen(path) : 0;
    return n > 5 && strcmp(path + n - 5, ".gguf") == 0;
}

int inf__gguf_split_name(const char *name, int *k, int *n, size_t *prefix_len) {
    /* ...-KKKKK-of-NNNNN.gguf: 5 digits each, as gguf-split writes them. */
    size_t len = name ? strlen(name) : 0;
    const size_t tail = strlen("-00001-of-00003.gguf");
    if (len <= tail) return 0;
    const char *t = name + len - tail;
    int kk = 0, nn = 0;
    for (int i = 0; i < 5; i++) {
        if (t[1 + i] < '0' || t[1 + i] > '9' || t[10 + i] < '0' || t[10 + i] > '9') return 0;
        kk = kk * 10 + (t[1 + i] - '0');
        nn = nn * 10 + (t[10 + i] - '0');
    }
    if (t[0] != '-' || strncmp(t + 6, "-of-", 4) != 0 || strcmp(t + 15, ".gguf") != 0) return 0;
    if (kk < 1 || nn < 1 || kk > nn) return 0;
    if (k) *k = kk;
    if (n) *n = nn;
    if (prefix_len) *prefix_len = len - tail;
    return 1;
}

static int split_keys(const parsed *pm, const char *fname, int64_t *no, int64_t *count,
                      int64_t *tcount, inf__err *err) {
    *no = 0;
    *count = 1;
    *tcount = -1;
    for (size_t i = 0; i < pm->n_kv; i++) {
        const inf__gguf_kv *kv = &pm->kvs[i];
        int64_t *dst = strcmp(kv->key, "split.no") == 0      ? no
                       : strcmp(kv->key, "split.count") == 0 ? count
                       : strcmp(kv->key, "split.tensors.count") == 0 ? tcount
                                                                    : NULL;
        if (!dst) continue;
        *dst = kv->i;
    }
    if (*count < 1 || *count > INF__GGUF_MAX_SPLITS || *no < 0 || *no >= *count)
        return inf__seterr(err, INF_E_FORMAT, "%s: split.no %lld / split.count %lld are invalid",
                           fname, (long long)*no, (long long)*count);
    return INF_OK;
}

int inf__gguf_open(const char *path, inf__gguf **out, inf__err *err) {
    return inf__gguf_open_flags(path, 0, out, err);
}

int inf__gguf_open_flags(const char *path, unsigned flags, inf__gguf **out, inf__err *err) {
    inf__err local;
    if (!err) err = &local;
    inf__err_clear(err);
    if (out) *out = NULL;
    if (!path || !out) return inf__seterr(err, INF_E_INVALID_ARGUMENT, "inf__gguf_open: NULL argument");
    gfile first = {0};
    int rc = map_file(path, flags, &first, err);
    if (rc) return rc;
    inf__gguf *g = gguf_new(path, 1);
    if (!g || !(first.path = inf__strdup(path))) {
        if (first.map) munmap(first.map, first.size);
        if (g) gguf_destroy(g);
        return inf__seterr(err, INF_E_NOMEM, "out of memory");
    }
    g->files[0] = first;
    parsed pm;
    rc = parse_file(g, 0, first.map, first.size, path, &pm, err);
    int64_t no = 0, count = 1, tcount = -1;
    if (!rc) rc = split_keys(&pm, path, &no, &count, &tcount, err);
    if (!rc) adopt_kvs(g, &pm);
    else parsed_free(&pm);
    if (!rc && no != 0) {
        rc = inf__seterr(err, INF_E_INVALID_ARGUMENT,
                         "%s: part %lld of a split model of %lld files: open the first part "
                         "(...-00001-of-%05lld.gguf)", path, (long long)no + 1,
                         (long long)count, (long long)count);
    }
    if (!rc && count > 1) {
        int k0, n0;
        size_t pl;
        if (!inf__gguf_split_name(path, &k0, &n0, &pl) || k0 != 1 || n0 != count) {
            rc = inf__seterr(err, INF_E_FORMAT,
                             "%s: split.count is %lld but the name is not "
                             "NAME-00001-of-%05lld.gguf, so the other parts cannot be found",
                             path, (long long)count, (long long)count);
        } else {
            gfile *nf = realloc(g->files, (size_t)count * sizeof *nf);
            if (!nf) rc = inf__seterr(err, INF_E_NOMEM, "out of memory");
            else {
                g->files = nf;
                memset(nf + 1, 0, (size_t)(count - 1) * sizeof *nf);
            }
            for (int64_t k = 1; !rc && k < count; k++) {
                gfile *f = &g->files[k];
                g->n_files = (int)k + 1;
                size_t n = pl + 32;
                if (!(f->path = malloc(n))) {
                    rc = inf__seterr(err, INF_E_NOMEM, "out of memory");
                    break;
                }
                snprintf(f->path, n, "%.*s-%05lld-of-%05lld.gguf", (int)pl, path,
                         (long long)k + 1, (long long)count);
                if ((rc = map_file(f->path, flags, f, err))) break;
                parsed pk;
                if ((rc = parse_file(g, (int)k, f->map, f->size, f->path, &pk, err))) break;
                int64_t no2, count2, t2;
                rc = split_keys(&pk, f->path, &no2, &count2, &t2, err);
                if (!rc && (no2 != k || count2 != count))
                    rc = inf__seterr(err, INF_E_FORMAT,
                                     "%s: split.no %lld of %lld, expected part %lld of %lld",
                                     f->path, (long long)no2, (long long)count2, (long long)k,
                                     (long long)count);
                parsed_free(&pk);
            }
        }
    }
    if (!rc && tcount >= 0 && (uint64_t)tcount != g->n_tensors)
        rc = inf__seterr(err, INF_E_FORMAT, "%s: split.tensors.count is %lld but the files hold %zu",
                         path, (long long)tcount, g->n_tensors);
    if (!rc) rc = index_tensors(g, err);
    if (rc) {
        gguf_destroy(g);
        return rc;
    }
    *out = g;
    return INF_OK;
}

/* ------------------------------------------------------------------------
 * Access
 * ------------------------------------------------------------------------ */

const char *inf__gguf_path(const inf__gguf *g) { return g->path; }
uint32_t inf__gguf_version(const inf__gguf *g) { return g->version; }
uint64_t inf__gguf_alignment(const inf__gguf *g) { return g->alignment; }
int inf__gguf_file_count(const inf__gguf *g) { return g->n_files; }
int64_t inf__gguf_data_bytes(const inf__gguf *g) { return g->data_bytes; }
size_t inf__gguf_kv_count(const inf__gguf *g) { return g->n_kv; }
const inf__gguf_kv *inf__gguf_kv_at(const inf__gguf *g, size_t i) {
    return i < g->n_kv ? &g->kvs[i] : NULL;
}
size_t inf__gguf_tensor_count(const inf__gguf *g) { return g->n_tensors; }
const inf__gguf_tensor *inf__gguf_tensor_at(const inf__gguf *g, size_t i) {
    return i < g->n_tensors ? &g->tensors[i] : NULL;
}

const inf__gguf_kv *inf__gguf_find(const inf__gguf *g, const char *key) {
    long i = htab_find(&g->kv_index, g, kv_name, key, NULL);
    return i >= 0 ? &g->kvs[i] : NULL;
}

const inf__gguf_tensor *inf__gguf_tensor_find(const inf__gguf *g, const char *name) {
    long i = htab_find(&g->t_index, g, t_name, name, NULL);
    return i >= 0 ? &g->tensors[i] : NULL;
}

static int wrong_type(const inf__gguf *g, const inf__gguf_kv *kv, const char *want,
                      inf__err *err) {
    inf__seterr(err, INF_E_FORMAT, "%s: key \"%s\" has type %s, expected %s", g->path, kv->key,
                inf__gguf_type_name(kv->type), want);
    return -1;
}

int inf__gguf_get_int(const inf__gguf *g, const char *key, int64_t lo, int64_t hi, int64_t *v,
                      inf__err *err) {
    const inf__gguf_kv *kv = inf__gguf_find(g, key);
    if (!kv) return 0;
    if (!is_int_type(kv->type)) return wrong_type(g, kv, "an integer", err);
    if (kv->i < lo || kv->i > hi) {
        inf__seterr(err, INF_E_FORMAT, "%s: key \"%s\": %lld is outside [%lld, %lld]", g->path,
                    key, (long long)kv->i, (long long)lo, (long long)hi);
        return -1;
    }
    *v = kv->i;
    return 1;
}

int inf__gguf_get_float(const inf__gguf *g, const char *key, double *v, inf__err *err) {
    const inf__gguf_kv *kv = inf__gguf_find(g, key);
    if (!kv) return 0;
    if (kv->type != INF__GGUF_F32 && kv->type != INF__GGUF_F64 && !is_int_type(kv->type))
        return wrong_type(g, kv, "a number", err);
    *v = kv->f;
    return 1;
}

int inf__gguf_get_bool(const inf__gguf *g, const char *key, int *v, inf__err *err) {
    const inf__gguf_kv *kv = inf__gguf_find(g, key);
    if (!kv) return 0;
    if (kv->type != INF__GGUF_BOOL) return wrong_type(g, kv, "bool", err);
    *v = kv->i != 0;
    return 1;
}

int inf__gguf_get_str(const inf__gguf *g, const char *key, inf__gguf_str *v, inf__err *err) {
    const inf__gguf_kv *kv = inf__gguf_find(g, key);
    if (!kv) return 0;
    if (kv->type != INF__GGUF_STRING) return wrong_type(g, kv, "string", err);
    *v = kv->str;
    return 1;
}

char *inf__gguf_str_copy(const inf__gguf *g, const char *key, char *buf, size_t n) {
    const inf__gguf_kv *kv = inf__gguf_find(g, key);
    if (!n) return buf;
    buf[0] = 0;
    if (kv && kv->type == INF__GGUF_STRING) {
        size_t l = kv->str.n < n - 1 ? (size_t)kv->str.n : n - 1;
        memcpy(buf, kv->str.s, l);
        buf[l] = 0;
    }
    return buf;
}

int64_t inf__gguf_arr_int(const inf__gguf_kv *kv, uint64_t i) {
    if (!kv || kv->type != INF__GGUF_ARRAY || i >= kv->arr_n) return 0;
    if (!is_int_type(kv->arr_type) && kv->arr_type != INF__GGUF_BOOL) return 0;
    inf__gguf_kv tmp;
    size_t s = scalar_size(kv->arr_type);
    decode_scalar(kv->arr_type, kv->raw + (size_t)i * s, &tmp);
    return tmp.i;
}

double inf__gguf_arr_float(const inf__gguf_kv *kv, uint64_t i) {
    if (!kv || kv->type != INF__GGUF_ARRAY || i >= kv->arr_n) return 0;
    size_t s = scalar_size(kv->arr_type);
    if (!s) return 0;
    inf__gguf_kv tmp;
    decode_scalar(kv->arr_type, kv->raw + (size_t)i * s, &tmp);
    return tmp.f;
}
