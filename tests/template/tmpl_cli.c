/* tmpl_cli: renders a chat template for each JSON line on stdin; used by
 * scripts/template-diff (differential testing against Jinja2) and for
 * debugging.
 *   tmpl_cli TEMPLATE_FILE [SPECIAL_TOKENS_JSON] < cases.jsonl
 * Each input line: {"messages": [...], "add_generation_prompt": true,
 *                   "tools": [...] (optional), "extra": {...} (optional)}
 * Each output line: {"ok": true, "text": "..."} or
 *                   {"ok": false, "status": "E_TEMPLATE", "error": "..."} */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "text/template/chat_template.h"

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s TEMPLATE_FILE [SPECIAL_TOKENS_JSON] < cases.jsonl\n", argv[0]);
        return 2;
    }
    char *src = tu_read_file(argv[1], NULL);
    if (!src) { fprintf(stderr, "cannot read %s\n", argv[1]); return 2; }
    inf__err err;
    inf__chat_template *t = NULL;
    int rc = inf__tmpl_from_source(src, argc > 2 ? argv[2] : NULL, &t, &err);
    free(src);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, stdin)) > 0) {
        json_error_t je;
        json_t *c = json_loadb(line, (size_t)len, 0, &je);
        json_t *res = json_object();
        if (!c) {
            json_object_set_new(res, "ok", json_false());
            json_object_set_new(res, "status", json_string("BAD_INPUT"));
            json_object_set_new(res, "error", json_string(je.text));
        } else if (rc != INF_OK) {
            json_object_set_new(res, "ok", json_false());
            json_object_set_new(res, "status", json_string(inf_status_name(rc)));
            json_object_set_new(res, "error", json_string(err.msg));
        } else {
            char *msgs = json_dumps(json_object_get(c, "messages"), JSON_ENCODE_ANY);
            json_t *tj = json_object_get(c, "tools");
            json_t *ej = json_object_get(c, "extra");
            char *tools = tj && !json_is_null(tj) ? json_dumps(tj, JSON_ENCODE_ANY) : NULL;
            char *extra = ej ? json_dumps(ej, JSON_ENCODE_ANY) : NULL;
            char *out = NULL;
            inf__err e2;
            int r2 = inf__tmpl_render_json(t, msgs ? msgs : "[]", json_is_true(json_object_get(c, "add_generation_prompt")),
                                           tools, extra, &out, &e2);
            if (r2 == INF_OK) {
                json_object_set_new(res, "ok", json_true());
                json_object_set_new(res, "text", json_string(out));
            } else {
                json_object_set_new(res, "ok", json_false());
                json_object_set_new(res, "status", json_string(inf_status_name(r2)));
                json_object_set_new(res, "error", json_string(e2.msg));
            }
            free(out);
            free(msgs);
            free(tools);
            free(extra);
        }
        char *s = json_dumps(res, JSON_COMPACT | JSON_ENSURE_ASCII);
        puts(s ? s : "{}");
        fflush(stdout);
        free(s);
        json_decref(res);
        json_decref(c);
    }
    free(line);
    inf__tmpl_free(t);
    return 0;
}
