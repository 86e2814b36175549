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
        free(sub);
        if (r < 0) { rc = INF_E_NOMEM; break; }
        if (r == 1) len++;
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
