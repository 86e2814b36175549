/* inf_discover: find Hugging Face model directories (config.json plus at
 * least one *.safetensors) in a directory and its immediate subdirectories. */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "inference.h"

static int set_msg(char **errmsg, int code, const char *fmt, const char *a, const char *b) {
    if (errmsg) {
        char buf[1024];
        snprintf(buf, sizeof buf, fmt, a, b);
        *errmsg = strdup(buf);
    }
    return code;
}

/* Counts *.safetensors files in dir (-1 if dir cannot be read). */
static int count_safetensors(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] != '.' && l > 12 && strcmp(e->d_name + l - 12, ".safetensors") == 0)
            n++;
    }
    closedir(d);
    return n;
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Fills *m when dir is a model directory; 1 if so, 0 if not, -1 on OOM. */
static int probe(const char *dir, inf_discovered *m) {
    char cfg[PATH_MAX + 16];
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    struct stat st;
    if (stat(cfg, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    int n = count_safetensors(dir);
    if (n <= 0) return 0;
    memset(m, 0, sizeof *m);
    m->n_safetensors = n;
    char real[PATH_MAX];
    m->path = strdup(realpath(dir, real) ? real : dir);
    /* A config that does not parse still marks a model directory; loading
     * it reports the problem. */
    json_t *root = json_load_file(cfg, 0, NULL);
    const char *mt = json_string_value(json_object_get(root, "model_type"));
    m->model_type = strdup(mt ? mt : "");
    json_t *q = json_object_get(root, "quantization");
    if (!json_is_object(q)) {
        q = json_object_get(root, "quantization_config");
        if (json_object_get(q, "quant_method")) q = NULL; /* not MLX */
    }
    json_t *b = json_object_get(q, "bits"), *g = json_object_get(q, "group_size");
    if (json_is_integer(b) && json_is_integer(g)) {
        m->quant_bits = (int32_t)json_integer_value(b);
        m->quant_group = (int32_t)json_integer_value(g);
    }
    json_decref(root);
    if (!m->path || !m->model_type) {
        free(m->path);
        free(m->model_type);
        return -1;
    }
    return 1;
}

static int cmp_path(const void *a, const void *b) {
    return strcmp(((const inf_discovered *)a)->path, ((const inf_discovered *)b)->path);
}

void inf_discovered_free(inf_discovered *d, size_t n) {
    if (!d) return;
    for (size_t i = 0; i < n; i++) {
        free(d[i].path);
        free(d[i].model_type);
    }
    free(d);
}

int inf_discover(const char *dir, inf_discovered **out, size_t *n, char **errmsg) {
    if (errmsg) *errmsg = NULL;
    if (out) *out = NULL;
    if (n) *n = 0;
    if (!dir || !out || !n)
        return set_msg(errmsg, INF_E_INVALID_ARGUMENT, "inf_discover: NULL argument%s%s", "", "");
    DIR *d = opendir(dir);
    if (!d)
        return set_msg(errmsg, errno == ENOENT ? INF_E_NOT_FOUND : INF_E_IO,
                       "%s: cannot open directory: %s", dir, strerror(errno));
    inf_discovered *v = NULL;
    size_t len = 0, cap = 0;
    int rc = INF_OK;
    /* Slot 0 is the base directory when it is a model. */
    for (int base = 1;; base = 0) {
        char sub[PATH_MAX];
        if (base) {
            snprintf(sub, sizeof sub, "%s", dir);
        } else {
            struct dirent *e = readdir(d);
            if (!e) break;
            if (e->d_name[0] == '.') continue;
            if (snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name) >= (int)sizeof sub) continue;
            if (!is_dir(sub)) continue;
        }
        if (len == cap) {
            cap = cap ? 2 * cap : 16;
            inf_discovered *nv = realloc(v, cap * sizeof *nv);
            if (!nv) { rc = INF_E_NOMEM; break; }
            v = nv;
        }
        int r = probe(sub, &v[len]);
        if (r < 0) { rc = INF_E_NOMEM; break; }
        if (r == 1) len++;
    }
    closedir(d);
    if (rc) {
        inf_discovered_free(v, len);
        return set_msg(errmsg, rc, "out of memory%s%s", "", "");
    }
    /* The base directory, when it is a model, was probed first: keep it
     * there and sort the rest. */
    char real[PATH_MAX];
    const char *rb = realpath(dir, real) ? real : dir;
    size_t start = (len && strcmp(v[0].path, rb) == 0) ? 1 : 0;
    if (len > start) qsort(v + start, len - start, sizeof *v, cmp_path);
    if (len == 0) {
        free(v);
        v = NULL;
    }
    *out = v;
    *n = len;
    return INF_OK;
}
