/* safetensors: header validation, memory mapping, shard sets (see the
 * header for the format and the checks). */
#include "model/safetensors.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"
#include "core/jsonwatch.h"
#include "model/wmap.h"

/* ------------------------------------------------------------------------
 * Header parsing
 * ------------------------------------------------------------------------ */

void inf__st_header_free(inf__st_header *h) {
    if (!h) return;
    free(h->tensors);
    free(h->names);
    free(h);
}

static int cmp_by_offset(const void *a, const void *b) {
    const inf__tensor *x = *(const inf__tensor *const *)a;
    const inf__tensor *y = *(const inf__tensor *const *)b;
    const char *px = x->data, *py = y->data;
    return px < py ? -1 : px > py ? 1 : 0;
}

/* Reads one JSON integer >= 0 into *v; 0 on success. */
static int get_nonneg(json_t *j, int64_t *v) {
    if (!json_is_integer(j)) return -1;
    json_int_t x = json_integer_value(j);
    if (x < 0) return -1;
    *v = (int64_t)x;
    return 0;
}

/* Validates one header entry and fills *t (name set by the caller). */
static int parse_entry(const char *fname, const char *name, json_t *v,
                       const uint8_t *data, size_t data_bytes, inf__tensor *t,
                       inf__err *err) {
    if (!json_is_object(v))
        return inf__seterr(err, INF_E_FORMAT,
                           "%s: tensor \"%s\": header entry is not an object",
                           fname, name);
    json_t *jd = json_object_get(v, "dtype");
    json_t *js = json_object_get(v, "shape");
    json_t *jo = json_object_get(v, "data_offsets");
    if (!json_is_string(jd) || !json_is_array(js) || !json_is_array(jo))
        return inf__seterr(err, INF_E_FORMAT,
                           "%s: tensor \"%s\": needs string \"dtype\", array "
                           "\"shape\" and array \"data_offsets\"", fname, name);
    int dt = inf__dtype_parse(json_string_value(jd));
    if (dt < 0)
        return inf__seterr(err, INF_E_FORMAT,
                           "%s: tensor \"%s\": unknown dtype \"%.32s\"", fname,
                           name, json_string_value(jd));
    size_t nd = json_array_size(js);
    if (nd > INF__MAX_DIMS)
        return inf__seterr(err, INF_E_UNSUPPORTED,
                           "%s: tensor \"%s\": %zu dims (at most %d supported)",
                           fname, name, nd, INF__MAX_DIMS);
    t->dtype = (inf__dtype)dt;
    t->ndim = (int)nd;
    /* The element count must not overflow: a product above SIZE_MAX can
     * never match a span inside a mapped file anyway. */
    uint64_t count = 1;
    int overflow = 0;
    for (size_t i = 0; i < nd; i++) {
        json_t *d = json_array_get(js, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return inf__seterr(err, INF_E_FORMAT,
                               "%s: tensor \"%s\": shape[%zu] is not a "
                               "non-negative integer", fname, name, i);
        t->shape[i] = (int64_t)json_integer_value(d);
        if (__builtin_mul_overflow(count, (uint64_t)t->shape[i], &count))
            overflow = 1;
    }
    for (size_t i = nd; i < INF__MAX_DIMS; i++) t->shape[i] = 0;
    int64_t b, e;
    if (json_array_size(jo) != 2 || get_nonneg(json_array_get(jo, 0), &b) ||
        get_nonneg(json_array_get(jo, 1), &e))
        return inf__seterr(err, INF_E_FORMAT,
                           "%s: tensor \"%s\": data_offsets must be two "
                           "non-negative integers", fname, name);
    if (e < b)
        return inf__seterr(err, INF_E_FORMAT,
                           "%s: tensor \"%s\": data_offsets end %lld before "
                           "begin %lld", fname, name, (long long)e, (long long)b);
    if ((uint64_t)e > data_bytes)
        return inf__seterr(err, INF_E_FORMAT,
                           "%s: tensor \"%s\": data_offsets [%lld, %lld] out of "
                           "range (data section is %zu bytes)", fname, name,
                           (long long)b, (long long)e, data_bytes);
    uint64_t bytes;
    if (overflow ||
        __builtin_mul_overflow(count, (uint64_t)inf__dtype_size(t->dtype), &bytes) ||
        bytes != (uint64_t)(e - b))
        return inf__seterr(err, INF_E_FORMAT,
                           "%s: tensor \"%s\": shape and dtype %s need %s%llu "
                           "bytes but data_offsets span %lld", fname, name,
                           inf__dtype_name(t->dtype), overflow ? "over " : "",
                           overflow ? (unsigned long long)UINT64_MAX
                                    : (unsigned long long)(count * inf__dtype_size(t->dtype)),
                           (long long)(e - b));
    t->data = data + b;
    t->nbytes = (size_t)(e - b);
    return INF_OK;
}

int inf__st_parse_mem(const void *buf, size_t len, const char *fname,
                      inf__st_header **out, inf__err *err) {
    *out = NULL;
    if (!fname) fname = "(buffer)";
    const uint8_t *p = buf;
    if (len < 8)
        return inf__seterr(err, INF_E_FORMAT,
                           "%s: truncated: %zu bytes, too short for the 8-byte "
                           "header length", fname, len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | p[i];
    if (hlen > len - 8)
        return inf__seterr(err, INF_E_FORMAT,
                           "%s: header length %llu beyond the file size (%zu "
                           "bytes)", fname, (unsigned long long)hlen, len);
    if (hlen > INF__ST_MAX_HEADER)
        return inf__seterr(err, INF_E_FORMAT,
                           "%s: header length %llu exceeds the %llu-byte limit",
                           fname, (unsigned long long)hlen,
                           (unsigned long long)INF__ST_MAX_HEADER);
    json_error_t je;
    /* jansson rejects invalid UTF-8 and, with this flag, duplicate keys. */
    inf__json_watch_begin();
    json_t *root = json_loadb((const char *)p + 8, (size_t)hlen,
                              JSON_REJECT_DUPLICATES, &je);
    if (inf__json_watch_failed()) { /* jansson says "malformed": see jsonwatch.h */
        json_decref(root);
        return inf__seterr(err, INF_E_NOMEM, "%s: out of memory parsing the header", fname);
    }
    if (!root)
        return inf__seterr(err, INF_E_FORMAT,
                           "%s: malformed header JSON: %s (at byte %d)", fname,
                           je.text, je.position);
    if (!json_is_object(root)) {
        json_decref(root);
        return inf__seterr(err, INF_E_FORMAT, "%s: header is not a JSON object",
                           fname);
    }
    const uint8_t *data = p + 8 + hlen;
    size_t data_bytes = len - 8 - (size_t)hlen;

    inf__st_header *h = calloc(1, sizeof *h);
    size_t cap = json_object_size(root), name_bytes = 0;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) name_bytes += strlen(key) + 1;
    if (h) {
        h->tensors = calloc(cap ? cap : 1, sizeof *h->tensors);
        h->names = malloc(name_bytes ? name_bytes : 1);
    }
    inf__tensor **order = calloc(cap ? cap : 1, sizeof *order);
    if (!h || !h->tensors || !h->names || !order) {
        json_decref(root);
        inf__st_header_free(h);
        free(order);
        return inf__seterr(err, INF_E_NOMEM, "%s: out of memory", fname);
    }
    h->data_bytes = data_bytes;
    int rc = INF_OK;
    size_t npos = 0;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) continue;
        inf__tensor *t = &h->tensors[h->n];
        rc = parse_entry(fname, key, val, data, data_bytes, t, err);
        if (rc) break;
        size_t kl = strlen(key) + 1;
        memcpy(h->names + npos, key, kl);
        t->name = h->names + npos;
        npos += kl;
        h->n++;
    }
    json_decref(root);
    if (rc == INF_OK) {
        /* Overlap check: sort non-empty tensors by start, compare neighbours. */
        size_t m = 0;
        for (size_t i = 0; i < h->n; i++)
            if (h->tensors[i].nbytes) order[m++] = &h->tensors[i];
        qsort(order, m, sizeof *order, cmp_by_offset);
        for (size_t i = 1; i < m; i++) {
            const uint8_t *pe = (const uint8_t *)order[i - 1]->data + order[i - 1]->nbytes;
            if ((const uint8_t *)order[i]->data < pe) {
                rc = inf__seterr(err, INF_E_FORMAT,
                                 "%s: tensors \"%s\" and \"%s\" overlap (data "
                                 "offsets %lld and %lld)", fname,
                                 order[i - 1]->name, order[i]->name,
                                 (long long)((const uint8_t *)order[i - 1]->data - data),
                                 (long long)((const uint8_t *)order[i]->data - data));
                break;
            }
        }
    }
    free(order);
    if (rc) {
        inf__st_header_free(h);
        return rc;
    }
    *out = h;
    return INF_OK;
}

/* ------------------------------------------------------------------------
 * Mapped files and sets
 * ------------------------------------------------------------------------ */

typedef struct st_file {
    char *path;
    void *map;
    size_t size;
    inf__st_header *h;
} st_file;

struct inf__st_set {
    st_file *files;
    size_t n_files;
    const inf__tensor **all; /* [n_all] in file order */
    size_t n_all;
    size_t *file_of;         /* [n_all] index into files */
    size_t *slots;           /* hash table: index+1 into all, 0 = empty */
    size_t n_slots;          /* power of two */
};

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

void inf__st_set_free(inf__st_set *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n_files; i++) {
        if (s->files[i].map) munmap(s->files[i].map, s->files[i].size);
        inf__st_header_free(s->files[i].h);
        free(s->files[i].path);
    }
    free(s->files);
    free(s->all);
    free(s->file_of);
    free(s->slots);
    free(s);
}

static int map_file(const char *path, unsigned flags, st_file *f, inf__err *err) {
    memset(f, 0, sizeof *f);
    f->path = inf__strdup(path);
    if (!f->path) return inf__seterr(err, INF_E_NOMEM, "out of memory");
    /* O_NONBLOCK: a FIFO in place of the file must not block the open
     * (fstat below refuses it). */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return inf__seterr(err, errno == ENOENT ? INF_E_NOT_FOUND : INF_E_IO,
                           "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return inf__seterr(err, INF_E_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return inf__seterr(err, INF_E_IO, "%s: not a regular file", path);
    }
    if (st.st_size < 8) {
        close(fd);
        return inf__seterr(err, INF_E_FORMAT,
                           "%s: truncated: %lld bytes, too short for the "
                           "8-byte header length", path, (long long)st.st_size);
    }
    f->size = (size_t)st.st_size;
    void *m = NULL;
    int rc = inf__wmap_fd(fd, f->size, flags, path, &m, err);
    close(fd);
    if (rc) return rc;
    f->map = m;
    return inf__st_parse_mem(f->map, f->size, path, &f->h, err);
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Builds the flat list and the name table; rejects duplicate names. */
static int index_set(inf__st_set *s, inf__err *err) {
    size_t n = 0;
    for (size_t i = 0; i < s->n_files; i++) n += s->files[i].h->n;
    size_t slots = 16;
    while (slots < 2 * n) slots *= 2;
    s->all = calloc(n ? n : 1, sizeof *s->all);
    s->file_of = calloc(n ? n : 1, sizeof *s->file_of);
    s->slots = calloc(slots, sizeof *s->slots);
    if (!s->all || !s->file_of || !s->slots)
        return inf__seterr(err, INF_E_NOMEM, "out of memory");
    s->n_slots = slots;
    for (size_t i = 0; i < s->n_files; i++) {
        for (size_t j = 0; j < s->files[i].h->n; j++) {
            const inf__tensor *t = &s->files[i].h->tensors[j];
            size_t k = hash_str(t->name) & (slots - 1);
            while (s->slots[k]) {
                size_t o = s->slots[k] - 1;
                if (strcmp(s->all[o]->name, t->name) == 0)
                    return inf__seterr(err, INF_E_FORMAT,
                                       "tensor \"%s\" appears twice: in %s and %s",
                                       t->name, s->files[s->file_of[o]].path,
                                       s->files[i].path);
                k = (k + 1) & (slots - 1);
            }
            s->all[s->n_all] = t;
            s->file_of[s->n_all] = i;
            s->slots[k] = ++s->n_all;
        }
    }
    return INF_OK;
}

const inf__tensor *inf__st_find(const inf__st_set *s, const char *name) {
    if (!s || !name || !s->n_slots) return NULL;
    size_t k = hash_str(name) & (s->n_slots - 1);
    while (s->slots[k]) {
        const inf__tensor *t = s->all[s->slots[k] - 1];
        if (strcmp(t->name, name) == 0) return t;
        k = (k + 1) & (s->n_slots - 1);
    }
    return NULL;
}

const char *inf__st_file_of(const inf__st_set *s, const inf__tensor *t) {
    if (!s || !t) return "?";
    for (size_t i = 0; i < s->n_files; i++) {
        const inf__st_header *h = s->files[i].h;
        if (t >= h->tensors && t < h->tensors + h->n) return base_name(s->files[i].path);
    }
    return "?";
}

const char *inf__st_path_of(const inf__st_set *s, const inf__tensor *t) {
    if (!s || !t) return "?";
    for (size_t i = 0; i < s->n_files; i++) {
        const inf__st_header *h = s->files[i].h;
        if (t >= h->tensors && t < h->tensors + h->n) return s->files[i].path;
    }
    return "?";
}

size_t inf__st_count(const inf__st_set *s) { return s ? s->n_all : 0; }
const inf__tensor *inf__st_at(const inf__st_set *s, size_t i) {
    return s && i < s->n_all ? s->all[i] : NULL;
}
size_t inf__st_file_count(const inf__st_set *s) { return s ? s->n_files : 0; }
int64_t inf__st_data_bytes(const inf__st_set *s) {
    int64_t b = 0;
    for (size_t i = 0; s && i < s->n_files; i++) b += (int64_t)s->files[i].h->data_bytes;
    return b;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Maps the files named in names[n] (relative to dir) into a new set. */
static int open_files(const char *dir, char **names, size_t n, unsigned flags,
                      inf__st_set **out, void (*progress)(float, void *), void *user,
                      const char *listed_by, inf__err *err) {
    inf__st_set *s = calloc(1, sizeof *s);
    if (s) s->files = calloc(n ? n : 1, sizeof *s->files);
    if (!s || !s->files) {
        free(s);
        return inf__seterr(err, INF_E_NOMEM, "out of memory");
    }
    int rc = INF_OK;
    for (size_t i = 0; i < n && rc == INF_OK; i++) {
        char *path = inf__path_join(dir, names[i]);
        if (!path) {
            rc = inf__seterr(err, INF_E_NOMEM, "out of memory");
            break;
        }
        s->n_files++;
        rc = map_file(path, flags, &s->files[i], err);
        if (rc == INF_E_NOT_FOUND && listed_by)
            inf__seterr(err, INF_E_NOT_FOUND, "%s: shard %s (listed in %s) is missing",
                        path, names[i], listed_by);
        free(path);
        if (progress) progress((float)(i + 1) / (float)n, user);
    }
    if (rc == INF_OK) rc = index_set(s, err);
    if (rc) {
        inf__st_set_free(s);
        return rc;
    }
    *out = s;
    return INF_OK;
}

int inf__st_open_file(const char *path, inf__st_set **out, inf__err *err) {
    *out = NULL;
    char *names[1] = {(char *)base_name(path)};
    char *dir = inf__strdup(path);
    if (!dir) return inf__seterr(err, INF_E_NOMEM, "out of memory");
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0'; else strcpy(dir, ".");
    int rc = open_files(dir, names, 1, 0, out, NULL, NULL, NULL, err);
    free(dir);
    return rc;
}

/* Reads the index: shard names (unique, sorted) and checks the names are
 * plain file names.  *names is malloc'd; the strings are too. */
static int read_index(const char *ipath, json_t **root_out, char ***names,
                      size_t *n_names, inf__err *err) {
    json_error_t je;
    char *text;
    size_t len;
    int rc0 = inf__read_file(ipath, (size_t)64 << 20, &text, &len, err);
    if (rc0 != INF_OK) return rc0;
    inf__json_watch_begin();
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    free(text);
    if (inf__json_watch_failed()) {
        json_decref(root);
        return inf__seterr(err, INF_E_NOMEM, "%s: out of memory parsing it", ipath);
    }
    if (!root)
        return inf__seterr(err, INF_E_FORMAT, "%s: malformed JSON: %s (line %d)",
                           ipath, je.text, je.line);
    json_t *wm = json_object_get(root, "weight_map");
    if (!json_is_object(wm)) {
        json_decref(root);
        return inf__seterr(err, INF_E_FORMAT, "%s: no \"weight_map\" object", ipath);
    }
    size_t cap = json_object_size(wm), n = 0;
    char **v = calloc(cap ? cap : 1, sizeof *v);
    if (!v) {
        json_decref(root);
        return inf__seterr(err, INF_E_NOMEM, "out of memory");
    }
    const char *key;
    json_t *val;
    int rc = INF_OK;
    json_object_foreach(wm, key, val) {
        const char *f = json_string_value(val);
        if (!f || !*f || strchr(f, '/') || strcmp(f, "..") == 0 || strcmp(f, ".") == 0) {
            rc = inf__seterr(err, INF_E_FORMAT,
                             "%s: weight_map entry \"%s\" is not a plain file name",
                             ipath, key);
            break;
        }
        int seen = 0;
        for (size_t i = 0; i < n && !seen; i++) seen = strcmp(v[i], f) == 0;
        if (!seen && !(v[n++] = inf__strdup(f))) {
            rc = inf__seterr(err, INF_E_NOMEM, "out of memory");
            break;
        }
    }
    if (rc == INF_OK && n == 0)
        rc = inf__seterr(err, INF_E_FORMAT, "%s: weight_map is empty", ipath);
    if (rc) {
        for (size_t i = 0; i < n; i++) free(v[i]);
        free(v);
        json_decref(root);
        return rc;
    }
    qsort(v, n, sizeof *v, cmp_str);
    *names = v;
    *n_names = n;
    *root_out = root;
    return INF_OK;
}

int inf__st_open_dir(const char *dir, unsigned flags, inf__st_set **out,
                     void (*progress)(float, void *), void *user, inf__err *err) {
    *out = NULL;
    char *ipath = inf__path_join(dir, "model.safetensors.index.json");
    if (!ipath) return inf__seterr(err, INF_E_NOMEM, "out of memory");
    char **names = NULL;
    size_t n = 0;
    json_t *index = NULL;
    int rc = INF_OK;
    if (access(ipath, F_OK) == 0) {
        rc = read_index(ipath, &index, &names, &n, err);
    } else {
        DIR *d = opendir(dir);
        if (!d) {
            rc = inf__seterr(err, errno == ENOENT ? INF_E_NOT_FOUND : INF_E_IO,
                             "%s: cannot open directory: %s", dir, strerror(errno));
        } else {
            size_t cap = 0;
            struct dirent *e;
            while (rc == INF_OK && (e = readdir(d))) {
                size_t l = strlen(e->d_name);
                if (l <= 12 || e->d_name[0] == '.' ||
                    strcmp(e->d_name + l - 12, ".safetensors") != 0)
                    continue;
                if (n == cap) {
                    cap = cap ? 2 * cap : 8;
                    char **nv = realloc(names, cap * sizeof *nv);
                    if (!nv) { rc = inf__seterr(err, INF_E_NOMEM, "out of memory"); break; }
                    names = nv;
                }
                if (!(names[n] = inf__strdup(e->d_name))) {
                    rc = inf__seterr(err, INF_E_NOMEM, "out of memory");
                    break;
                }
                n++;
            }
            closedir(d);
            if (rc == INF_OK && n == 0)
                rc = inf__seterr(err, INF_E_NOT_FOUND, "%s: no *.safetensors files", dir);
            if (rc == INF_OK) qsort(names, n, sizeof *names, cmp_str);
        }
    }
    if (rc == INF_OK)
        rc = open_files(dir, names, n, flags, out, progress, user,
                        index ? "model.safetensors.index.json" : NULL, err);
    if (rc == INF_OK && index) {
        /* Every tensor the index lists must be in the shard it names. */
        json_t *wm = json_object_get(index, "weight_map");
        const char *key;
        json_t *val;
        json_object_foreach(wm, key, val) {
            const inf__tensor *t = inf__st_find(*out, key);
            const char *f = json_string_value(val);
            if (!t || strcmp(inf__st_file_of(*out, t), f) != 0) {
                rc = inf__seterr(err, INF_E_FORMAT,
                                 "%s: tensor \"%s\" is listed in %s but %s",
                                 ipath, key, f,
                                 t ? "stored in another shard" : "not stored there");
                inf__st_set_free(*out);
                *out = NULL;
                break;
            }
        }
    }
    json_decref(index);
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    free(ipath);
    return rc;
}
