/* libFuzzer target: arbitrary messages / tools / variables input rendered
 * by chat templates.  Byte 0 picks the template (the self-written feature
 * templates of scripts/template-diff/templates, the ChatML fallback, and the
 * real qwen3/gemma3/llama3 templates when the test cache has them); byte 1
 * sets add_generation_prompt and which of the remaining text (split at the
 * first NUL byte) is messages vs tools JSON. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/template/chat_template.h"

#define MAX_T 16
static inf__chat_template *g_t[MAX_T];
static int g_n;

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (buf) buf[n] = '\0';
    return buf;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    inf__err err;
    if (inf__tmpl_from_source(inf__tmpl_chatml_source, NULL, &g_t[g_n], &err) == INF_OK) g_n++;
    const char *dir = INF_SOURCE_DIR "/scripts/template-diff/templates";
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) && g_n < MAX_T) {
        if (!strstr(e->d_name, ".jinja")) continue;
        char p[2048];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        char *src = slurp(p);
        if (src && inf__tmpl_from_source(src, "{\"bos_token\":\"<s>\"}", &g_t[g_n], &err) == INF_OK) g_n++;
        free(src);
    }
    if (d) closedir(d);
    static const char *const real[] = {"qwen3", "gemma3", "llama3"};
    for (int i = 0; i < 3 && g_n < MAX_T; i++) {
        char p[2048];
        snprintf(p, sizeof p, "%s/tokenizers/%s", INF_TEST_CACHE, real[i]);
        if (inf__tmpl_load_dir(p, &g_t[g_n], &err) == INF_OK) g_n++;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2 || size > 64 * 1024 || g_n == 0) return 0;
    const inf__chat_template *t = g_t[data[0] % g_n];
    int flags = data[1];
    char *buf = malloc(size - 1);
    if (!buf) return 0;
    memcpy(buf, data + 2, size - 2);
    buf[size - 2] = '\0';
    /* text before the first NUL: messages; after it: tools */
    size_t k = strlen(buf);
    const char *tools = (k + 1 < size - 2) ? buf + k + 1 : NULL;
    inf__tmpl_limits lim;
    inf__tmpl_limits_default(&lim);
    lim.max_iterations = 50000;
    lim.max_output = 1 << 20;
    lim.max_memory = 64 << 20;
    inf__err err;
    char *out = NULL;
    const char *extra = (flags & 2) ? "{\"enable_thinking\":false}" : (flags & 4) ? "{\"enable_thinking\":true}" : NULL;
    if (inf__tmpl_render_json_limits(t, buf, flags & 1, (flags & 8) ? tools : NULL, extra, &lim, &out, &err) == INF_OK)
        free(out);
    free(buf);
    return 0;
}
