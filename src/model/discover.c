/* inf_discover: find Hugging Face model directories (config.json plus at
 * least one *.safetensors) in a directory and its immediate subdirectories.
 * config.json is read by src/model/modeldir and understood by the loader's
 * own parser (hfconfig.c), leniently: a directory whose config the loader
 * would refuse is still listed, so that loading it can say why. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/util.h"
#include "inference.h"
#include "model/gguf.h"
#include "model/gguf_model.h"
#include "model/hfconfig.h"
#include "model/modeldir.h"

static int set_msg(char **errmsg, int code, const char *msg, const char *dir) {
    if (errmsg) {
        char buf[1024];
        if (dir) snprintf(buf, sizeof buf, "%s: %s", dir, msg);
        else snprintf(buf, sizeof buf, "%s", msg);
        *errmsg = inf__strdup(buf);
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
    char *cfg = inf__path_join(dir, "config.json");
    if (!cfg) return -1;
    struct stat st;
    int is_cfg = stat(cfg, &st) == 0 && S_ISREG(st.st_mode);
    free(cfg);
    if (!is_cfg) return 0;
    int n = count_safetensors(dir);
    if (n <= 0) return 0;
    memset(m, 0, sizeof *m);
    m->n_safetensors = n;
    char real[PATH_MAX];
    m->path = inf__strdup(realpath(dir, real) ? real : dir);
    /* A config that cannot be read or does not parse still marks a model
     * directory (model_type ""); loading it reports the problem. */
    inf__modeldir md;
    inf__hfconfig_peek_t pk;
    memset(&pk, 0, sizeof pk);
    if (inf__modeldir_open(dir, INF__MD_CONFIG, &md, NULL) == INF_OK) {
        inf__hfconfig_peek(md.config.text, md.config.len, md.config.path, &pk, NULL);
        inf__modeldir_free(&md);
    }
    m->model_type = inf__strdup(pk.model_type);
    m->quant_bits = pk.quant_bits;
    m->quant_group = pk.quant_group;
    m->format = inf__strdup("safetensors");
    m->weight_types = inf__strdup("");
    m->n_files = n;
    if (!m->path || !m->model_type || !m->format || !m->weight_types) {
        free(m->path);
        free(m->model_type);
        free(m->format);
        free(m->weight_types);
        return -1;
    }
    return 1;
}

/* One row for a GGUF model file; a file that does not open or parse is
 * still listed (model_type ""), so that loading it can say why. */
static int probe_gguf(const char *path, inf_discovered *m) {
    memset(m, 0, sizeof *m);
    char real[PATH_MAX], mix[256] = "", arch[64] = "";
    inf__gguf *g = NULL;
    if (inf__gguf_open(path, &g, NULL) == INF_OK) {
        inf__gguf_str_copy(g, "general.architecture", arch, sizeof arch);
        inf__gguf_type_mix(g, mix, sizeof mix);
        m->n_files = inf__gguf_file_count(g);
        inf__hfconfig c;
        if (inf__gguf_config(g, &c, NULL) == INF_OK) {
            m->quant_bits = c.desc.quant_bits;
            m->quant_group = c.desc.quant_group;
            inf__hfconfig_free(&c);
        }
        inf__gguf_free(g);
    }
    m->path = inf__strdup(realpath(path, real) ? real : path);
    m->model_type = inf__strdup(arch);
    m->format = inf__strdup("gguf");
    m->weight_types = inf__strdup(mix);
    if (!m->path || !m->model_type || !m->format || !m->weight_types) {
        free(m->path);
        free(m->model_type);
        free(m->format);
        free(m->weight_types);
        return -1;
    }
    return 1;
}

static int grow(inf_discovered **v, size_t len, size_t *cap) {
    if (len < *cap) return 0;
    size_t ncap = *cap ? 2 * *cap : 16;
    inf_discovered *nv = realloc(*v, ncap * sizeof *nv);
    if (!nv) return -1;
    *v = nv;
    *cap = ncap;
    return 0;
}

/* The GGUF models in dir, sorted by name, appended to v. */
static int add_gguf(const char *dir, inf_discovered **v, size_t *len, size_t *cap) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        if (!inf__modeldir_is_gguf_model(e->d_name)) continue;
        char *p = inf__path_join(dir, e->d_name);
        struct stat st;
        if (!p) { rc = -1; break; }
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
            if (grow(v, *len, cap) || probe_gguf(p, &(*v)[*len]) < 0) rc = -1;
            else (*len)++;
        }
        free(p);
    }
    closedir(d);
    return rc;
}

static int cmp_path(const void *a, const void *b) {
    return strcmp(((const inf_discovered *)a)->path, ((const inf_discovered *)b)->path);
}

void inf_discovered_free(inf_discovered *d, size_t n) {
    if (!d) return;
    for (size_t i = 0; i < n; i++) {
        free(d[i].path);
        free(d[i].model_type);
        free(d[i].format);
        free(d[i].weight_types);
    }
    free(d);
}

int inf_discover(const char *dir, inf_discovered **out, size_t *n, char **errmsg) {
    if (errmsg) *errmsg = NULL;
    if (out) *out = NULL;
    if (n) *n = 0;
    if (!dir || !out || !n)
        return set_msg(errmsg, INF_E_INVALID_ARGUMENT, "inf_discover: NULL argument", NULL);
    DIR *d = opendir(dir);
    if (!d) {
        char why[256];
        snprintf(why, sizeof why, "cannot open directory: %s", strerror(errno));
        return set_msg(errmsg, errno == ENOENT ? INF_E_NOT_FOUND : INF_E_IO, why, dir);
    }
    inf_discovered *v = NULL;
    size_t len = 0, cap = 0;
    int rc = INF_OK;
    /* Slot 0 is the base directory when it is a model. */
    for (int base = 1;; base = 0) {
        char *sub;
        if (base) {
            sub = inf__strdup(dir);
        } else {
            struct dirent *e = readdir(d);
            if (!e) break;
            if (e->d_name[0] == '.') continue;
            sub = inf__path_join(dir, e->d_name);
            if (sub && !is_dir(sub)) {
                free(sub);
                continue;
            }
        }
        if (!sub) { rc = INF_E_NOMEM; break; }
        if (len == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            inf_discovered *nv = realloc(v, ncap * sizeof *nv);
            if (!nv) { free(sub); rc = INF_E_NOMEM; break; }
            v = nv;
            cap = ncap;
        }
        int r = probe(sub, &v[len]);
        if (r == 1) len++;
        if (r >= 0 && add_gguf(sub, &v, &len, &cap) < 0) r = -1;
        free(sub);
        if (r < 0) { rc = INF_E_NOMEM; break; }
    }
    closedir(d);
    if (rc) {
        inf_discovered_free(v, len);
        return set_msg(errmsg, rc, "out of memory", NULL);
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
