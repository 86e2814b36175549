/* src/model/modeldir: a model directory's text files read once, with the
 * contract of modeldir.h (required / optional files, limits, errors that
 * name the file, what each flag reads); inf__model_open_md against
 * inf__model_open; generation_config.json's sampling fields; and
 * inf__hfconfig_peek, the lenient reading inf_discover is built on. */
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/hfconfig.h"
#include "model/model.h"
#include "model/modeldir.h"
#include "testutil.h"

#define BROWN INF_SOURCE_DIR "/models/brown-llama-8m"

static void write_file(const char *dir, const char *name, const char *text) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static long file_size(const char *dir, const char *name) {
    char p[PATH_MAX];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static int rm_cb(const char *p, const struct stat *s, int flag, struct FTW *f) {
    (void)s; (void)flag; (void)f;
    return remove(p);
}

/* The bundled model: every flag reads what it says and nothing more. */
static void bundled(void) {
    inf__modeldir md;
    inf__err err;
    int rc = inf__modeldir_open(BROWN, INF__MD_ALL, &md, &err);
    CHECK_MSG(rc == INF_OK, "%s", err.msg);
    if (rc) return;
    CHECK_EQ_STR(md.dir, BROWN);
    CHECK_EQ_STR(md.config.path, BROWN "/config.json");
    CHECK_EQ_STR(md.tokenizer.path, BROWN "/tokenizer.json");
    CHECK(md.config.text && md.generation.text && md.tokenizer.text && md.tokenizer_config.text);
    CHECK_EQ_INT(md.config.len, file_size(BROWN, "config.json"));
    CHECK_EQ_INT(md.generation.len, file_size(BROWN, "generation_config.json"));
    CHECK_EQ_INT(md.tokenizer.len, file_size(BROWN, "tokenizer.json"));
    CHECK_EQ_INT(md.tokenizer_config.len, file_size(BROWN, "tokenizer_config.json"));
    CHECK(md.tokenizer.text && md.tokenizer.text[md.tokenizer.len] == '\0');
    CHECK(md.chat_template.text == NULL); /* brown has no chat_template.jinja */
    CHECK_EQ_STR(md.chat_template.path, BROWN "/chat_template.jinja");
    CHECK_EQ_STR(md.cfg.desc.model_type, "llama");
    CHECK_EQ_INT(md.cfg.desc.vocab_size, 32000);
    CHECK_EQ_INT(md.cfg.desc.bos_id, 1);
    CHECK_EQ_INT(md.cfg.desc.n_eos, 1);
    CHECK_EQ_INT(md.cfg.desc.gen_do_sample, 0);
    CHECK_EQ_INT(md.cfg.desc.gen_have, 0);
    inf__modeldir_drop_tokenizer(&md);
    CHECK(md.tokenizer.text == NULL && md.tokenizer.len == 0 && md.tokenizer_config.text != NULL);

    /* The loader from the directory's parse gives what inf__model_open
     * gives, and leaves the parse as it was. */
    inf__model_desc a, b;
    inf__model_files *fa = NULL, *fb = NULL;
    CHECK_EQ_INT(inf__model_open_md(&md, NULL, &a, &fa, &err), INF_OK);
    CHECK_EQ_INT(inf__model_open(BROWN, NULL, &b, &fb, &err), INF_OK);
    if (fa && fb) {
        CHECK_EQ_STR(a.model_type, b.model_type);
        CHECK_EQ_INT(a.n_layers, b.n_layers);
        CHECK_EQ_INT(a.n_eos, b.n_eos);
        CHECK_EQ_INT(inf__model_weight_bytes(fa), inf__model_weight_bytes(fb));
        CHECK(a.layers != md.cfg.desc.layers);
        CHECK(a.layers[0].wq.data != NULL);
        CHECK(md.cfg.desc.layers[0].wq.data == NULL);
        CHECK(memcmp(a.layers[0].wq.data, b.layers[0].wq.data, 64) == 0);
    }
    inf__model_files_free(fa);
    inf__model_files_free(fb);
    /* a second load from the same parse */
    CHECK_EQ_INT(inf__model_open_md(&md, NULL, &a, &fa, &err), INF_OK);
    inf__model_files_free(fa);
    inf__modeldir_free(&md);
    inf__modeldir_free(&md); /* zeroed: twice is fine */
    inf__modeldir_free(NULL);

    /* Only config.json: nothing else is read, nothing parsed. */
    CHECK_EQ_INT(inf__modeldir_open(BROWN, INF__MD_CONFIG, &md, &err), INF_OK);
    CHECK(md.config.text != NULL && md.generation.text == NULL && md.tokenizer.text == NULL &&
          md.tokenizer_config.text == NULL);
    CHECK_EQ_STR(md.generation.path, BROWN "/generation_config.json");
    CHECK(md.cfg.desc.layers == NULL && md.cfg.desc.model_type[0] == '\0');
    /* ... which the loader refuses */
    CHECK_EQ_INT(inf__model_open_md(&md, NULL, &a, &fa, &err), INF_E_INVALID_ARGUMENT);
    CHECK(fa == NULL);
    inf__modeldir_free(&md);
    /* Only the texts. */
    CHECK_EQ_INT(inf__modeldir_open(BROWN, INF__MD_TEXT, &md, &err), INF_OK);
    CHECK(md.config.text == NULL && md.tokenizer.text != NULL && md.tokenizer_config.text != NULL);
    inf__modeldir_free(&md);
    CHECK_EQ_INT(inf__modeldir_open(NULL, INF__MD_ALL, &md, &err), INF_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(inf__modeldir_open(BROWN, INF__MD_ALL, NULL, &err), INF_E_INVALID_ARGUMENT);
}

/* Required / optional files and errors that name the file. */
static void contract(void) {
    char tmp[] = "/tmp/inf_modeldir_XXXXXX";
    if (!mkdtemp(tmp)) { CHECK(0); return; }
    inf__modeldir md;
    inf__err err;
    /* no config.json */
    CHECK_EQ_INT(inf__modeldir_open(tmp, INF__MD_ALL, &md, &err), INF_E_NOT_FOUND);
    CHECK_MSG(strstr(err.msg, "config.json: not found (not a model directory?)") != NULL, "%s", err.msg);
    CHECK(md.dir == NULL && md.config.path == NULL); /* nothing to free */
    /* ...but the texts alone need none */
    write_file(tmp, "tokenizer_config.json", "{\"eos_token\": \"</s>\"}");
    write_file(tmp, "chat_template.jinja", "{{ messages }}");
    CHECK_EQ_INT(inf__modeldir_open(tmp, INF__MD_TEXT, &md, &err), INF_OK);
    CHECK(md.tokenizer.text == NULL && md.tokenizer_config.text && md.chat_template.text);
    CHECK_EQ_STR(md.chat_template.text, "{{ messages }}");
    inf__modeldir_free(&md);

    /* A config the parser refuses: its error, naming the file; unparsed it
     * is only text. */
    write_file(tmp, "config.json", "{\"model_type\": \"gpt_neox\"}");
    CHECK_EQ_INT(inf__modeldir_open(tmp, INF__MD_ALL, &md, &err), INF_E_UNSUPPORTED);
    CHECK_MSG(strstr(err.msg, "/config.json") && strstr(err.msg, "gpt_neox"), "%s", err.msg);
    CHECK_EQ_INT(inf__modeldir_open(tmp, INF__MD_CONFIG | INF__MD_TEXT, &md, &err), INF_OK);
    CHECK_EQ_STR(md.config.text, "{\"model_type\": \"gpt_neox\"}");
    inf__modeldir_free(&md);

    /* A good config; a malformed generation_config.json is an error naming
     * it (only when it is read). */
    char cfg[PATH_MAX];
    snprintf(cfg, sizeof cfg, "%s/tests/fixtures/tiny/llama-f32/config.json", INF_SOURCE_DIR);
    size_t len;
    char *text = tu_read_file(cfg, &len);
    CHECK(text != NULL);
    if (text) write_file(tmp, "config.json", text);
    free(text);
    write_file(tmp, "generation_config.json", "{\"temperature\": }");
    CHECK_EQ_INT(inf__modeldir_open(tmp, INF__MD_ALL, &md, &err), INF_E_FORMAT);
    CHECK_MSG(strstr(err.msg, "generation_config.json") != NULL, "%s", err.msg);
    CHECK_EQ_INT(inf__modeldir_open(tmp, INF__MD_CONFIG | INF__MD_PARSE, &md, &err), INF_OK);
    CHECK_EQ_STR(md.cfg.desc.model_type, "llama");
    inf__modeldir_free(&md);

    /* generation_config.json's sampling fields: do_sample, which were given,
     * top_k only as an integer. */
    write_file(tmp, "generation_config.json",
               "{\"do_sample\": true, \"temperature\": 0.7, \"top_p\": 0.8, \"top_k\": 20,"
               " \"min_p\": 0.05, \"repetition_penalty\": 1.05, \"eos_token_id\": [5, 6]}");
    CHECK_EQ_INT(inf__modeldir_open(tmp, INF__MD_MODEL, &md, &err), INF_OK);
    const inf__model_desc *d = &md.cfg.desc;
    CHECK_EQ_INT(d->gen_do_sample, 1);
    CHECK_NEAR(d->gen_temperature, 0.7, 1e-6);
    CHECK_NEAR(d->gen_top_p, 0.8, 1e-6);
    CHECK_EQ_INT(d->gen_top_k, 20);
    CHECK_NEAR(d->gen_min_p, 0.05, 1e-6);
    CHECK_NEAR(d->gen_repeat_penalty, 1.05, 1e-6);
    CHECK_EQ_INT(d->gen_have, INF__GEN_TEMPERATURE | INF__GEN_TOP_P | INF__GEN_TOP_K |
                                  INF__GEN_MIN_P | INF__GEN_REPEAT_PENALTY);
    inf__modeldir_free(&md);
    write_file(tmp, "generation_config.json", "{\"do_sample\": \"yes\", \"top_k\": 20.0, \"top_p\": null}");
    CHECK_EQ_INT(inf__modeldir_open(tmp, INF__MD_MODEL, &md, &err), INF_OK);
    CHECK_EQ_INT(md.cfg.desc.gen_do_sample, 0);
    CHECK_EQ_INT(md.cfg.desc.gen_have, 0);
    inf__modeldir_free(&md);

    /* Present but unreadable: a directory where a file should be. */
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/tokenizer.json", tmp);
    CHECK(mkdir(p, 0755) == 0);
    CHECK_EQ_INT(inf__modeldir_open(tmp, INF__MD_ALL, &md, &err), INF_E_IO);
    CHECK_MSG(strstr(err.msg, "tokenizer.json") != NULL, "%s", err.msg);
    CHECK_EQ_INT(inf__modeldir_open(tmp, INF__MD_MODEL, &md, &err), INF_OK); /* not asked for */
    inf__modeldir_free(&md);
    rmdir(p);

    /* Over the limit: INF_E_LIMIT naming the file (a sparse file). */
    snprintf(p, sizeof p, "%s/chat_template.jinja", tmp);
    FILE *f = fopen(p, "wb");
    if (f) fclose(f);
    CHECK(truncate(p, (off_t)INF__MD_SMALL_MAX + 1) == 0);
    CHECK_EQ_INT(inf__modeldir_open(tmp, INF__MD_ALL, &md, &err), INF_E_LIMIT);
    CHECK_MSG(strstr(err.msg, "chat_template.jinja") != NULL, "%s", err.msg);
    nftw(tmp, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

/* inf__hfconfig_peek: the model type as the full parser resolves it. */
static void peek(void) {
    static const struct { const char *json, *type; int supported, bits, group, rc; } c[] = {
        {"{\"model_type\": \"qwen3\"}", "qwen3", 1, 0, 0, INF_OK},
        {"{\"model_type\": \"gemma3\"}", "gemma3", 1, 0, 0, INF_OK},
        {"{\"model_type\": \"gemma3_text\"}", "gemma3", 1, 0, 0, INF_OK},
        {"{\"model_type\": \"gemma3\", \"text_config\": {\"model_type\": \"gemma3_text\"}}", "gemma3", 1, 0, 0,
         INF_OK},
        {"{\"model_type\": \"llava\", \"text_config\": {\"model_type\": \"llama\"}}", "llama", 1, 0, 0, INF_OK},
        {"{\"model_type\": \"llava\", \"text_config\": {\"model_type\": \"phi3\"}}", "phi3", 0, 0, 0, INF_OK},
        {"{\"model_type\": \"llava\", \"text_config\": {}}", "llava", 0, 0, 0, INF_OK},
        {"{\"model_type\": \"llama\", \"quantization\": {\"bits\": 4, \"group_size\": 64}}", "llama", 1, 4, 64,
         INF_OK},
        {"{\"model_type\": \"llama\", \"quantization_config\": {\"bits\": 8, \"group_size\": 32}}", "llama", 1, 8,
         32, INF_OK},
        {"{\"model_type\": \"llama\", \"quantization_config\": {\"quant_method\": \"awq\", \"bits\": 4,"
         " \"group_size\": 128}}", "llama", 1, 0, 0, INF_OK},
        {"{\"text_config\": {\"model_type\": \"llama\"}}", "", 0, 0, 0, INF_OK},
        {"{\"model_type\": 5}", "", 0, 0, 0, INF_OK},
        {"[]", "", 0, 0, 0, INF_E_FORMAT},
        {"{\"model_type\": ", "", 0, 0, 0, INF_E_FORMAT},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        inf__hfconfig_peek_t pk;
        inf__err err;
        inf__err_clear(&err);
        int rc = inf__hfconfig_peek(c[i].json, strlen(c[i].json), "x/config.json", &pk, &err);
        CHECK_MSG(rc == c[i].rc, "%s: %d", c[i].json, rc);
        CHECK_EQ_STR(pk.model_type, c[i].type);
        CHECK_EQ_INT(pk.supported, c[i].supported);
        CHECK_EQ_INT(pk.quant_bits, c[i].bits);
        CHECK_EQ_INT(pk.quant_group, c[i].group);
        if (rc) CHECK_MSG(strstr(err.msg, "x/config.json") != NULL, "%s", err.msg);
    }
}

int main(void) {
    bundled();
    contract();
    peek();
    return tu_summary("test_modeldir");
}
