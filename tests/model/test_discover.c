/* inf_discover on the bundled models, the tiny fixtures and constructed
 * trees (base directory first, subdirectories sorted, non-models skipped;
 * config.json understood as the loader understands it). */
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "inference.h"
#include "testutil.h"

static void touch(const char *dir, const char *name, const char *text) {
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* Each entry against its own config.json and directory listing. */
static void check_entries(const inf_discovered *d, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char p[PATH_MAX];
        CHECK(d[i].path[0] == '/');
        snprintf(p, sizeof p, "%s/config.json", d[i].path);
        json_t *c = json_load_file(p, 0, NULL);
        CHECK_MSG(c != NULL, "%s", p);
        /* the architecture as the loader names it: gemma3_text is gemma3 */
        const char *mt = json_string_value(json_object_get(c, "model_type"));
        CHECK_EQ_STR(d[i].model_type, mt && strcmp(mt, "gemma3_text") == 0 ? "gemma3" : mt);
        json_t *q = json_object_get(c, "quantization");
        CHECK_EQ_INT(d[i].quant_bits, q ? json_integer_value(json_object_get(q, "bits")) : 0);
        CHECK_EQ_INT(d[i].quant_group, q ? json_integer_value(json_object_get(q, "group_size")) : 0);
        json_decref(c);
        if (i > 1) CHECK(strcmp(d[i - 1].path, d[i].path) < 0);
    }
}

static int rm_cb(const char *p, const struct stat *s, int flag, struct FTW *f) {
    (void)s; (void)flag; (void)f;
    return remove(p);
}

int main(void) {
    inf_discovered *d;
    size_t n;
    char *msg;
    char p[PATH_MAX], real[PATH_MAX];

    snprintf(p, sizeof p, "%s/models", INF_SOURCE_DIR);
    CHECK_EQ_INT(inf_discover(p, &d, &n, &msg), INF_OK);
    CHECK_EQ_INT(n, 3);
    check_entries(d, n);
    if (n == 3) {
        snprintf(p, sizeof p, "%s/models/brown-llama-8m", INF_SOURCE_DIR);
        CHECK_EQ_STR(d[0].path, realpath(p, real));
        CHECK_EQ_INT(d[0].n_safetensors, 2);
        CHECK_EQ_INT(d[1].quant_bits, 4);
        CHECK_EQ_INT(d[1].n_safetensors, 1);
        CHECK_EQ_INT(d[2].quant_bits, 8);
    }
    inf_discovered_free(d, n);

    snprintf(p, sizeof p, "%s/tiny", INF_FIXTURES);
    CHECK_EQ_INT(inf_discover(p, &d, &n, &msg), INF_OK);
    CHECK_EQ_INT(n, 12);
    check_entries(d, n);
    for (size_t i = 0; i < n; i++)
        if (strstr(d[i].path, "qwen3-f16-sharded")) CHECK_EQ_INT(d[i].n_safetensors, 3);
    inf_discovered_free(d, n);

    /* The base directory itself is a model: it comes first. */
    snprintf(p, sizeof p, "%s/models/brown-llama-8m-mlx4", INF_SOURCE_DIR);
    CHECK_EQ_INT(inf_discover(p, &d, &n, &msg), INF_OK);
    CHECK_EQ_INT(n, 1);
    if (n == 1) CHECK_EQ_STR(d[0].path, realpath(p, real));
    inf_discovered_free(d, n);

    /* A constructed tree: base model, subdirs b/ and a/ (models; a/ is a
     * multimodal gemma3 whose top-level type counts), c/ with no weights,
     * .hidden/ skipped. */
    char tmp[] = "/tmp/inf_discover_XXXXXX";
    CHECK(mkdtemp(tmp) != NULL);
    touch(tmp, "config.json", "{\"model_type\": \"qwen3\"}");
    touch(tmp, "model.safetensors", "");
    static const char *subs[] = {"b", "a", "c", ".hidden"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", tmp, subs[i]);
        mkdir(p, 0755);
        touch(p, "config.json", i == 1 ? "{\"model_type\": \"gemma3\", \"text_config\": "
                                         "{\"model_type\": \"gemma3_text\"}}"
                                       : "{\"model_type\": \"llama\", \"quantization\": "
                                         "{\"group_size\": 32, \"bits\": 4}}");
        if (i != 2) touch(p, "model-00001-of-00002.safetensors", "");
        if (i == 0) touch(p, "model-00002-of-00002.safetensors", "");
    }
    CHECK_EQ_INT(inf_discover(tmp, &d, &n, &msg), INF_OK);
    CHECK_EQ_INT(n, 3);
    if (n == 3) {
        CHECK_EQ_STR(d[0].path, realpath(tmp, real));
        CHECK_EQ_STR(d[0].model_type, "qwen3");
        CHECK_EQ_INT(d[0].quant_bits, 0);
        CHECK(strcmp(d[1].path + strlen(d[1].path) - 2, "/a") == 0);
        CHECK_EQ_STR(d[1].model_type, "gemma3");
        CHECK(strcmp(d[2].path + strlen(d[2].path) - 2, "/b") == 0);
        CHECK_EQ_INT(d[2].n_safetensors, 2);
        CHECK_EQ_INT(d[2].quant_bits, 4);
        CHECK_EQ_INT(d[2].quant_group, 32);
    }
    inf_discovered_free(d, n);
    nftw(tmp, rm_cb, 8, FTW_DEPTH | FTW_PHYS);

    /* Discover reads config.json as the loader does (hfconfig): a nested
     * text_config's model_type names the architecture; an unsupported one
     * is still listed, as written; a config that does not parse or cannot
     * be read is listed with model_type ""; MLX quantisation under
     * "quantization_config" counts, a transformers quant_method does not. */
    char tmp2[] = "/tmp/inf_discover_XXXXXX";
    CHECK(mkdtemp(tmp2) != NULL);
    static const struct { const char *dir, *config, *type; int bits, group; } nest[] = {
        {"llava", "{\"model_type\": \"llava\", \"text_config\": {\"model_type\": \"llama\"}}",
         "llama", 0, 0},
        {"mistral3", "{\"model_type\": \"mistral3\", \"text_config\": {\"model_type\": \"mistral\"},"
                     " \"quantization_config\": {\"bits\": 8, \"group_size\": 64}}", "mistral", 8, 64},
        {"paligemma", "{\"model_type\": \"paligemma\", \"text_config\": {\"model_type\": \"gemma2\"}}",
         "gemma2", 0, 0},
        {"gemma3-text", "{\"model_type\": \"gemma3_text\"}", "gemma3", 0, 0},
        {"nested-no-type", "{\"model_type\": \"qwen3\", \"text_config\": {\"hidden_size\": 8}}", "qwen3", 0, 0},
        {"gptq", "{\"model_type\": \"llama\", \"quantization_config\": {\"quant_method\": \"gptq\","
                 " \"bits\": 4, \"group_size\": 128}}", "llama", 0, 0},
        {"bert", "{\"model_type\": \"bert\"}", "bert", 0, 0},
        {"broken", "{\"model_type\": ", "", 0, 0},
        {"no-type", "{\"quantization\": {\"bits\": 4, \"group_size\": 32}}", "", 4, 32},
        {"array", "[1, 2]", "", 0, 0},
    };
    size_t n_nest = sizeof nest / sizeof nest[0];
    for (size_t i = 0; i < n_nest; i++) {
        snprintf(p, sizeof p, "%s/%s", tmp2, nest[i].dir);
        mkdir(p, 0755);
        touch(p, "config.json", nest[i].config);
        touch(p, "model.safetensors", "");
    }
    CHECK_EQ_INT(inf_discover(tmp2, &d, &n, &msg), INF_OK);
    CHECK_EQ_INT(n, n_nest);
    for (size_t i = 0; i < n_nest; i++) {
        const inf_discovered *e = NULL;
        for (size_t j = 0; j < n; j++) {
            const char *slash = strrchr(d[j].path, '/');
            if (slash && strcmp(slash + 1, nest[i].dir) == 0) e = &d[j];
        }
        CHECK_MSG(e != NULL, "%s not listed", nest[i].dir);
        if (!e) continue;
        CHECK_EQ_STR(e->model_type, nest[i].type);
        CHECK_EQ_INT(e->quant_bits, nest[i].bits);
        CHECK_EQ_INT(e->quant_group, nest[i].group);
        CHECK_EQ_INT(e->n_safetensors, 1);
    }
    inf_discovered_free(d, n);
    nftw(tmp2, rm_cb, 8, FTW_DEPTH | FTW_PHYS);

    /* Errors: the message names the directory and is freed with inf_free. */
    CHECK_EQ_INT(inf_discover("/nonexistent/models", &d, &n, &msg), INF_E_NOT_FOUND);
    CHECK(msg && strstr(msg, "/nonexistent/models"));
    CHECK(d == NULL && n == 0);
    inf_free(msg);
    CHECK_EQ_INT(inf_discover(NULL, &d, &n, NULL), INF_E_INVALID_ARGUMENT);
    inf_discovered_free(NULL, 0);
    return tu_summary("test_discover");
}
