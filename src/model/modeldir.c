/* Reading a model directory's text files once (see modeldir.h). */
#include "model/modeldir.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"

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
