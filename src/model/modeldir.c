/* Reading a model directory's text files once (see modeldir.h). */
#include "model/modeldir.h"

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/util.h"
#include "model/gguf.h"
#include "model/gguf_model.h"
#include "model/wmap.h"

/* Sets f->path; reads the file when `read`.  A missing file is INF_OK with
 * f->text NULL (the caller decides whether it was required). */
static int read_one(const char *dir, const char *name, int read, size_t max,
                    inf__md_file *f, inf__err *err) {
    if (!(f->path = inf__path_join(dir, name)))
        return inf__seterr(err, INF_E_NOMEM, "out of memory");
    if (!read) return INF_OK;
    int rc = inf__read_file(f->path, max, &f->text, &f->len, err);
    if (rc == INF_E_NOT_FOUND) {
        inf__err_clear(err);
        return INF_OK;
    }
    return rc;
}

static void file_free(inf__md_file *f) {
    free(f->path);
    free(f->text);
    memset(f, 0, sizeof *f);
}

void inf__modeldir_drop_tokenizer(inf__modeldir *md) {
    if (!md) return;
    free(md->tokenizer.text);
    md->tokenizer.text = NULL;
    md->tokenizer.len = 0;
}

void inf__modeldir_free(inf__modeldir *md) {
    if (!md) return;
    free(md->dir);
    file_free(&md->config);
    file_free(&md->generation);
    file_free(&md->tokenizer_config);
    file_free(&md->tokenizer);
    file_free(&md->chat_template);
    inf__hfconfig_free(&md->cfg);
    inf__gguf_free(md->gguf);
    memset(md, 0, sizeof *md);
}

static int parse(inf__modeldir *md, inf__err *err) {
    int rc = inf__hfconfig_parse(md->config.text, md->config.len, md->config.path,
                                 &md->cfg, err);
    if (rc == INF_OK && md->generation.text)
        rc = inf__hfconfig_parse_gen(md->generation.text, md->generation.len,
                                     md->generation.path, &md->cfg.desc, err);
    return rc;
}

/* ------------------------------------------------------------------------
 * GGUF
 * ------------------------------------------------------------------------ */

int inf__modeldir_is_gguf_model(const char *name) {
    if (!inf__gguf_is_gguf_name(name) || name[0] == '.') return 0;
    if (strncmp(name, "mmproj", 6) == 0) return 0; /* vision projectors */
    int k;
    if (inf__gguf_split_name(name, &k, NULL, NULL) && k != 1) return 0; /* later parts */
    return 1;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int inf__modeldir_gguf_path(const char *path, char **out, inf__err *err) {
    *out = NULL;
    struct stat st;
    if (!path || stat(path, &st) != 0) return INF_OK;
    if (S_ISREG(st.st_mode)) {
        if (!inf__gguf_is_gguf_name(path)) return INF_OK;
        return (*out = inf__strdup(path)) ? INF_OK
                                          : inf__seterr(err, INF_E_NOMEM, "out of memory");
    }
    if (!S_ISDIR(st.st_mode)) return INF_OK;
    char *cfg = inf__path_join(path, "config.json");
    if (!cfg) return inf__seterr(err, INF_E_NOMEM, "out of memory");
    int has_cfg = stat(cfg, &st) == 0;
    free(cfg);
    if (has_cfg) return INF_OK;
    DIR *d = opendir(path);
    if (!d) return INF_OK;
    char *names[8];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!inf__modeldir_is_gguf_model(e->d_name)) continue;
        if (n < 8 && !(names[n] = inf__strdup(e->d_name))) {
            for (size_t i = 0; i < n; i++) free(names[i]);
            closedir(d);
            return inf__seterr(err, INF_E_NOMEM, "out of memory");
        }
        n++;
    }
    closedir(d);
    size_t kept = n < 8 ? n : 8;
    qsort(names, kept, sizeof names[0], cmp_str);
    int rc = INF_OK;
    if (n == 1) {
        if (!(*out = inf__path_join(path, names[0])))
            rc = inf__seterr(err, INF_E_NOMEM, "out of memory");
    } else if (n > 1) {
        char list[256] = "";
        size_t o = 0;
        for (size_t i = 0; i < kept && o < sizeof list; i++)
            o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", names[i]);
        rc = inf__seterr(err, INF_E_INVALID_ARGUMENT,
                         "%s: holds %zu GGUF models (%s%s): name the file", path, n, list,
                         n > kept ? ", ..." : "");
    }
    for (size_t i = 0; i < kept; i++) free(names[i]);
    return rc;
}

/* tokenizer.ggml.tokens[id] as a JSON string, or NULL. */
static json_t *token_json(const inf__gguf *g, const char *id_key) {
    const inf__gguf_kv *tok = inf__gguf_find(g, "tokenizer.ggml.tokens");
    int64_t id;
    if (!tok || tok->type != INF__GGUF_ARRAY || !tok->strs ||
        inf__gguf_get_int(g, id_key, 0, INT32_MAX, &id, NULL) != 1 || (uint64_t)id >= tok->arr_n)
        return NULL;
    return json_stringn(tok->strs[id].s, (size_t)tok->strs[id].n);
}

static int gguf_texts(inf__modeldir *md, inf__err *err) {
    inf__gguf_str s;
    int r = inf__gguf_get_str(md->gguf, "tokenizer.chat_template", &s, err);
    if (r < 0) return INF_E_FORMAT;
    if (r == 1) {
        if (s.n > INF__MD_SMALL_MAX)
            return inf__seterr(err, INF_E_LIMIT, "%s: tokenizer.chat_template is larger than %zu bytes",
                               md->config.path, INF__MD_SMALL_MAX);
        if (!(md->chat_template.text = inf__strndup(s.s, (size_t)s.n)))
            return inf__seterr(err, INF_E_NOMEM, "out of memory");
        md->chat_template.len = (size_t)s.n;
    }
    json_t *o = json_object();
    if (!o) return inf__seterr(err, INF_E_NOMEM, "out of memory");
    json_t *b = token_json(md->gguf, "tokenizer.ggml.bos_token_id");
    json_t *e = token_json(md->gguf, "tokenizer.ggml.eos_token_id");
    if (b) json_object_set_new(o, "bos_token", b);
    if (e) json_object_set_new(o, "eos_token", e);
    char *txt = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!txt) return inf__seterr(err, INF_E_NOMEM, "out of memory");
    md->tokenizer_config.text = inf__strdup(txt);
    free(txt);
    if (!md->tokenizer_config.text) return inf__seterr(err, INF_E_NOMEM, "out of memory");
    md->tokenizer_config.len = strlen(md->tokenizer_config.text);
    return INF_OK;
}

static int open_gguf(inf__modeldir *md, const char *gpath, unsigned what, inf__err *err) {
    inf__md_file *files[] = {&md->config, &md->generation, &md->tokenizer_config,
                             &md->tokenizer, &md->chat_template};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        if (!(files[i]->path = inf__strdup(gpath)))
            return inf__seterr(err, INF_E_NOMEM, "out of memory");
    if (!(what & (INF__MD_CONFIG | INF__MD_TEXT))) return INF_OK;
    int rc = inf__gguf_open_flags(gpath, (what & INF__MD_COPY) ? INF__WMAP_COPY : 0, &md->gguf,
                                  err);
    if (!rc && (what & INF__MD_CONFIG) && (what & INF__MD_PARSE))
        rc = inf__gguf_config(md->gguf, &md->cfg, err);
    if (!rc && (what & INF__MD_TEXT)) rc = gguf_texts(md, err);
    return rc;
}

int inf__modeldir_open(const char *dir, unsigned what, inf__modeldir *md,
                       inf__err *err) {
    inf__err local;
    if (!err) err = &local;
    inf__err_clear(err);
    if (md) memset(md, 0, sizeof *md);
    if (!dir || !md)
        return inf__seterr(err, INF_E_INVALID_ARGUMENT, "inf__modeldir_open: NULL argument");
    md->what = what;
    int cfg = (what & INF__MD_CONFIG) != 0, gen = (what & INF__MD_GENERATION) != 0;
    int text = (what & INF__MD_TEXT) != 0;
    int rc = (md->dir = inf__strdup(dir)) ? INF_OK
                                          : inf__seterr(err, INF_E_NOMEM, "out of memory");
    char *gpath = NULL;
    if (!rc) rc = inf__modeldir_gguf_path(dir, &gpath, err);
    if (!rc && gpath) {
        rc = open_gguf(md, gpath, what, err);
        free(gpath);
        if (rc) inf__modeldir_free(md);
        return rc;
    }
    if (!rc) rc = read_one(dir, "config.json", cfg, INF__MD_SMALL_MAX, &md->config, err);
    if (!rc && cfg && !md->config.text)
        rc = inf__seterr(err, INF_E_NOT_FOUND, "%s: not found (not a model directory?)",
                         md->config.path);
    if (!rc)
        rc = read_one(dir, "generation_config.json", gen, INF__MD_SMALL_MAX, &md->generation, err);
    if (!rc)
        rc = read_one(dir, "tokenizer_config.json", text, INF__MD_SMALL_MAX,
                      &md->tokenizer_config, err);
    if (!rc)
        rc = read_one(dir, "tokenizer.json", text, INF__MD_TOKENIZER_MAX, &md->tokenizer, err);
    if (!rc)
        rc = read_one(dir, "chat_template.jinja", text, INF__MD_SMALL_MAX, &md->chat_template,
                      err);
    if (!rc && cfg && (what & INF__MD_PARSE)) rc = parse(md, err);
    if (rc) inf__modeldir_free(md);
    return rc;
}
