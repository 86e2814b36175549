/* Engine semantics: every case of engine_cases.json (template, variables,
 * expected output or error) rendered through inf__tmpl_render_json.  The
 * expectations were written from Jinja2's documented behaviour and are
 * checked against Jinja2 itself by scripts/template-diff/check_engine_cases.py.
 * Also: limits (iterations, depth, output) and the public entry point. */
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "text/template/chat_template.h"

static void run_cases(void) {
    json_error_t je;
    json_t *cases = json_load_file(INF_SOURCE_DIR "/tests/template/engine_cases.json", 0, &je);
    CHECK_MSG(cases && json_array_size(cases) > 50, "engine_cases.json: %s", je.text);
    if (!cases) return;
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        const char *src = json_string_value(json_object_get(c, "template"));
        char *vars = json_dumps(json_object_get(c, "vars"), JSON_COMPACT);
        json_t *expect = json_object_get(c, "expect");
        json_t *error = json_object_get(c, "error");
        inf__err err;
        inf__chat_template *t = NULL;
        char *out = NULL;
        int rc = inf__tmpl_from_source(src, NULL, &t, &err);
        if (rc == INF_OK) rc = inf__tmpl_render_json(t, "[]", 0, NULL, vars, &out, &err);
        if (expect) {
            CHECK_MSG(rc == INF_OK, "%s: error %d %s", name, rc, err.msg);
            if (rc == INF_OK && strcmp(out, json_string_value(expect)) != 0)
                CHECK_MSG(0, "%s:\n  got:      \"%s\"\n  expected: \"%s\"", name, out, json_string_value(expect));
            else if (rc == INF_OK) CHECK(1);
        } else {
            CHECK_MSG(rc == INF_E_TEMPLATE, "%s: expected a template error, got %d (%s)", name, rc, out ? out : err.msg);
            if (json_is_string(error)) CHECK_EQ_STR(err.msg, json_string_value(error));
        }
        free(out);
        free(vars);
        inf__tmpl_free(t);
    }
    json_decref(cases);
}

static int render_src(const char *src, const char *vars, char **out, inf__err *err) {
    inf__chat_template *t = NULL;
    int rc = inf__tmpl_from_source(src, NULL, &t, err);
    if (rc == INF_OK) rc = inf__tmpl_render_json(t, "[]", 0, NULL, vars, out, err);
    inf__tmpl_free(t);
    return rc;
}

static void limits(void) {
    inf__err err;
    char *out = NULL;
    /* an endless-looking loop hits the iteration limit, not the CPU */
    CHECK_EQ_INT(render_src("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}", NULL, &out, &err), INF_E_LIMIT);
    CHECK(strstr(err.msg, "iteration") != NULL);
    /* unbounded recursion hits the depth limit */
    CHECK_EQ_INT(render_src("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", NULL, &out, &err), INF_E_LIMIT);
    CHECK(strstr(err.msg, "depth") != NULL);
    /* output growth hits the output limit */
    CHECK_EQ_INT(render_src("{% set s = 'x' * 1000000 %}{% for i in range(100) %}{{ s }}{% endfor %}", NULL, &out, &err), INF_E_LIMIT);
    CHECK_EQ_INT(render_src("{{ 'x' * 100000000000 }}", NULL, &out, &err), INF_E_LIMIT);
    /* explicit, smaller limits */
    inf__chat_template *t = NULL;
    CHECK_EQ_INT(inf__tmpl_from_source("{% for i in range(50) %}{{ i }}{% endfor %}", NULL, &t, &err), INF_OK);
    inf__tmpl_limits lim;
    inf__tmpl_limits_default(&lim);
    lim.max_iterations = 10;
    CHECK_EQ_INT(inf__tmpl_render_json_limits(t, "[]", 0, NULL, NULL, &lim, &out, &err), INF_E_LIMIT);
    inf__tmpl_limits_default(&lim);
    lim.max_output = 20;
    CHECK_EQ_INT(inf__tmpl_render_json_limits(t, "[]", 0, NULL, NULL, &lim, &out, &err), INF_E_LIMIT);
    CHECK(out == NULL);
    inf__tmpl_free(t);
    /* values nested deeper than the C stack allows to walk: clean errors */
    CHECK_EQ_INT(render_src("{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% endfor %}"
                            "{{ ns.x }}", NULL, &out, &err), INF_E_LIMIT);
    CHECK_EQ_INT(render_src("{% set ns = namespace(x={}) %}{% for i in range(100000) %}{% set ns.x = {'k': ns.x} %}{% endfor %}"
                            "{{ ns.x|tojson }}", NULL, &out, &err), INF_E_LIMIT);
    CHECK_EQ_INT(render_src("{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% endfor %}"
                            "{{ [ns.x, ns.x]|sort }}", NULL, &out, &err), INF_E_LIMIT);
    /* deep nesting in the source is a clean error */
    char deep[4000];
    memset(deep, '(', sizeof deep - 1);
    deep[sizeof deep - 1] = '\0';
    memcpy(deep, "{{ ", 3);
    CHECK(inf__tmpl_from_source(deep, NULL, &t, &err) != INF_OK);
    CHECK(t == NULL);
}

static void inputs_and_api(void) {
    inf__err err;
    inf__chat_template *t = NULL;
    char *out = NULL;
    /* messages given as inf_message[] and special tokens as variables */
    CHECK_EQ_INT(inf__tmpl_from_source("{{ bos_token }}{% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}"
                                       "{% if add_generation_prompt %}>{% endif %}{{ tools|length }}{{ enable_thinking }}",
                                       "{\"bos_token\":\"<s>\"}", &t, &err), INF_OK);
    inf_message msgs[2] = {{"user", "hi"}, {"assistant", NULL}};
    CHECK_EQ_INT(inf__tmpl_render(t, msgs, 2, 1, "[{\"a\":1}]", "{\"enable_thinking\":false}", &out, &err), INF_OK);
    CHECK_EQ_STR(out, "<s>[user:hi][assistant:None]>1False");
    CHECK_EQ_STR(inf__tmpl_bos_token(t), "<s>");
    free(out);
    /* malformed JSON inputs are argument errors, not crashes */
    CHECK_EQ_INT(inf__tmpl_render_json(t, "[{", 0, NULL, NULL, &out, &err), INF_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(inf__tmpl_render_json(t, "{}", 0, NULL, NULL, &out, &err), INF_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(inf__tmpl_render(t, msgs, 1, 0, "{\"not\":\"array\"}", NULL, &out, &err), INF_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(inf__tmpl_render(t, msgs, 1, 0, NULL, "[1]", &out, &err), INF_E_INVALID_ARGUMENT);
    inf__tmpl_free(t);
    inf__tmpl_free(NULL);

    /* ChatML fallback for a directory without a template */
    CHECK_EQ_INT(inf__tmpl_load_dir(INF_FIXTURES "/tiny/llama-f32", &t, &err), INF_OK);
    if (t) {
        CHECK_EQ_INT(inf__tmpl_is_fallback(t), 1);
        CHECK_EQ_INT(inf__tmpl_render(t, msgs, 1, 1, NULL, NULL, &out, &err), INF_OK);
        CHECK_EQ_STR(out, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
        free(out);
        inf__tmpl_free(t);
    }

    /* public entry point: caller's template, raise_exception message */
    char *pout = NULL, *perr = NULL;
    CHECK_EQ_INT(inf_chat_template_render(NULL, "{{ messages[0].content|upper }}", msgs, 1, 0, NULL, NULL, &pout, &perr), INF_OK);
    CHECK_EQ_STR(pout, "HI");
    free(pout);
    pout = NULL;
    CHECK_EQ_INT(inf_chat_template_render(NULL, "{{ raise_exception('nope: ' ~ messages|length) }}", msgs, 2, 0, NULL, NULL, &pout, &perr), INF_E_TEMPLATE);
    CHECK_EQ_STR(perr, "nope: 2");
    CHECK(pout == NULL);
    free(perr);
    perr = NULL;
    CHECK_EQ_INT(inf_chat_template_render(NULL, NULL, msgs, 1, 0, NULL, NULL, &pout, &perr), INF_E_INVALID_ARGUMENT);
    free(perr);
}

static int write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

/* Model directories: list-form chat_template ("default" wins), a
 * chat_template.jinja file, special tokens in both spellings, bad JSON. */
static void load_dirs(void) {
    char dir[] = "/tmp/inf_tmpl_testXXXXXX";
    if (!mkdtemp(dir)) { CHECK(0); return; }
    char cfg[512], jinja[512];
    snprintf(cfg, sizeof cfg, "%s/tokenizer_config.json", dir);
    snprintf(jinja, sizeof jinja, "%s/chat_template.jinja", dir);
    inf__err err;
    inf__chat_template *t = NULL;
    char *out = NULL;
    inf_message m[1] = {{"user", "x"}};

    write_file(cfg, "{\"bos_token\": {\"content\": \"<B>\", \"lstrip\": false}, \"eos_token\": \"<E>\","
                    " \"model_max_length\": 1000000000000000019884624838656,"
                    " \"chat_template\": [{\"name\": \"tool_use\", \"template\": \"T\"},"
                    " {\"name\": \"default\", \"template\": \"{{ bos_token }}D{{ eos_token }}\"}]}");
    CHECK_EQ_INT(inf__tmpl_load_dir(dir, &t, &err), INF_OK);
    if (t) {
        CHECK_EQ_INT(inf__tmpl_is_fallback(t), 0);
        CHECK_EQ_INT(inf__tmpl_render(t, m, 1, 0, NULL, NULL, &out, &err), INF_OK);
        CHECK_EQ_STR(out, "<B>D<E>");
        free(out);
        inf__tmpl_free(t);
    }
    /* the public call with a caller template still sees the special tokens */
    char *pout = NULL, *perr = NULL;
    CHECK_EQ_INT(inf_chat_template_render(dir, "[{{ eos_token }}]", m, 1, 0, NULL, NULL, &pout, &perr), INF_OK);
    CHECK_EQ_STR(pout, "[<E>]");
    free(pout);
    free(perr);

    /* no chat_template key: chat_template.jinja is used */
    write_file(cfg, "{\"eos_token\": \"<E>\"}");
    write_file(jinja, "J{{ messages[0].content }}{{ eos_token }}\n");
    CHECK_EQ_INT(inf__tmpl_load_dir(dir, &t, &err), INF_OK);
    if (t) {
        CHECK_EQ_INT(inf__tmpl_render(t, m, 1, 0, NULL, NULL, &out, &err), INF_OK);
        CHECK_EQ_STR(out, "Jx<E>");
        free(out);
        inf__tmpl_free(t);
    }
    /* a syntax error in the model's template is reported with its place */
    write_file(jinja, "{% for %}");
    CHECK_EQ_INT(inf__tmpl_load_dir(dir, &t, &err), INF_E_TEMPLATE);
    CHECK(strstr(err.msg, "line 1") != NULL);
    /* malformed tokenizer_config.json */
    write_file(cfg, "{\"chat_template\": ");
    CHECK_EQ_INT(inf__tmpl_load_dir(dir, &t, &err), INF_E_FORMAT);
    CHECK(t == NULL);
    unlink(cfg);
    unlink(jinja);
    rmdir(dir);
}

/* The texts of a model directory given directly (as the engine hands them
 * over from src/model/modeldir), and the public inf_chat_template handle:
 * load, parse, source, is_fallback, apply, wrap/unwrap, errors. */
static void texts_and_handle(void) {
    inf__err err;
    inf__chat_template *t = NULL;
    char *out = NULL;
    inf_message m[1] = {{"user", "x"}};
    const char *cfg = "{\"bos_token\": \"<B>\", \"eos_token\": {\"content\": \"<E>\"},"
                      " \"chat_template\": \"{{ bos_token }}C{{ messages[0].content }}{{ eos_token }}\"}";
    /* tokenizer_config.json's template wins over chat_template.jinja */
    CHECK_EQ_INT(inf__tmpl_load_texts(cfg, strlen(cfg), "J", "/some/dir", &t, &err), INF_OK);
    if (t) {
        CHECK_EQ_INT(inf__tmpl_is_fallback(t), 0);
        CHECK_EQ_INT(inf__tmpl_render(t, m, 1, 0, NULL, NULL, &out, &err), INF_OK);
        CHECK_EQ_STR(out, "<B>Cx<E>");
        free(out);
        inf__tmpl_free(t);
    }
    /* no chat_template key: the jinja text, with the config's tokens */
    const char *cfg2 = "{\"eos_token\": \"<E>\"}";
    CHECK_EQ_INT(inf__tmpl_load_texts(cfg2, strlen(cfg2), "J{{ eos_token }}", NULL, &t, &err), INF_OK);
    if (t) {
        CHECK_EQ_STR(inf__tmpl_source(t), "J{{ eos_token }}");
        CHECK_EQ_INT(inf__tmpl_render(t, m, 1, 0, NULL, NULL, &out, &err), INF_OK);
        CHECK_EQ_STR(out, "J<E>");
        free(out);
        inf__tmpl_free(t);
    }
    /* neither: ChatML */
    CHECK_EQ_INT(inf__tmpl_load_texts(NULL, 0, NULL, NULL, &t, &err), INF_OK);
    CHECK_EQ_INT(inf__tmpl_is_fallback(t), 1);
    CHECK_EQ_STR(inf__tmpl_source(t), inf__tmpl_chatml_source);
    inf__tmpl_free(t);
    /* errors name the directory and the file */
    CHECK_EQ_INT(inf__tmpl_load_texts("[1]", 3, NULL, "/some/dir", &t, &err), INF_E_FORMAT);
    CHECK(t == NULL);
    CHECK_MSG(strstr(err.msg, "/some/dir/tokenizer_config.json") != NULL, "%s", err.msg);
    CHECK_EQ_INT(inf__tmpl_load_texts(NULL, 0, "{% if %}", "/some/dir", &t, &err), INF_E_TEMPLATE);
    CHECK_MSG(strstr(err.msg, "/some/dir: chat template") != NULL, "%s", err.msg);
    char *vars = NULL;
    CHECK_EQ_INT(inf__tmpl_special_tokens_text(cfg, strlen(cfg), NULL, &vars, &err), INF_OK);
    CHECK_EQ_STR(vars, "{\"bos_token\":\"<B>\",\"eos_token\":\"<E>\"}");
    free(vars);
    CHECK_EQ_INT(inf__tmpl_special_tokens_text(NULL, 0, NULL, &vars, &err), INF_OK);
    CHECK_EQ_STR(vars, "{}");
    free(vars);

    /* the handle */
    char dir[] = "/tmp/inf_tmpl_handleXXXXXX";
    if (!mkdtemp(dir)) { CHECK(0); return; }
    char cpath[512], jpath[512];
    snprintf(cpath, sizeof cpath, "%s/tokenizer_config.json", dir);
    snprintf(jpath, sizeof jpath, "%s/chat_template.jinja", dir);
    write_file(cpath, cfg);
    inf_chat_template *h = NULL;
    char *msg = NULL;
    CHECK_EQ_INT(inf_chat_template_load(dir, &h, &msg), INF_OK);
    CHECK(msg == NULL);
    CHECK(h != NULL);
    CHECK_EQ_STR(inf_chat_template_source(h), "{{ bos_token }}C{{ messages[0].content }}{{ eos_token }}");
    CHECK_EQ_INT(inf_chat_template_is_fallback(h), 0);
    CHECK_EQ_INT(inf_chat_template_apply(h, "[{\"role\":\"user\",\"content\":\"hi\"}]", 0, NULL, NULL, &out, &msg),
                 INF_OK);
    CHECK_EQ_STR(out, "<B>Chi<E>");
    inf_free(out);
    CHECK_EQ_INT(inf_chat_template_apply(h, "[{", 0, NULL, NULL, &out, &msg), INF_E_INVALID_ARGUMENT);
    CHECK(out == NULL && msg != NULL);
    inf_free(msg);
    msg = NULL;
    CHECK_EQ_INT(inf_chat_template_apply(h, NULL, 0, NULL, NULL, &out, &msg), INF_E_INVALID_ARGUMENT);
    inf_free(msg);
    msg = NULL;
    CHECK_EQ_INT(inf_chat_template_apply(NULL, "[]", 0, NULL, NULL, &out, NULL), INF_E_INVALID_ARGUMENT);
    inf_chat_template_free(h);
    inf_chat_template_free(NULL);

    /* parse: the directory's tokens first, the caller's on top; message
     * fields beyond role/content reach the template; raise_exception's
     * message comes back exactly */
    CHECK_EQ_INT(inf_chat_template_parse("{{ bos_token }}|{{ eos_token }}|{{ messages[0].tool_calls[0].name }}"
                                         "{% if add_generation_prompt %}>{% endif %}{{ tools|length }}{{ x }}",
                                         dir, "{\"eos_token\":\"<X>\"}", &h, &msg),
                 INF_OK);
    if (h) {
        CHECK_EQ_INT(inf_chat_template_is_fallback(h), 0);
        CHECK_EQ_INT(inf_chat_template_apply(h, "[{\"role\":\"assistant\",\"tool_calls\":[{\"name\":\"f\"}]}]", 1,
                                             "[1,2]", "{\"x\":7}", &out, &msg),
                     INF_OK);
        CHECK_EQ_STR(out, "<B>|<X>|f>27");
        inf_free(out);
        inf_chat_template_free(h);
    }
    CHECK_EQ_INT(inf_chat_template_parse("{{ raise_exception('no: ' ~ messages|length) }}", NULL, NULL, &h, &msg),
                 INF_OK);
    CHECK_EQ_INT(inf_chat_template_apply(h, "[{}, {}]", 0, NULL, NULL, &out, &msg), INF_E_TEMPLATE);
    CHECK_EQ_STR(msg, "no: 2");
    CHECK(out == NULL);
    inf_free(msg);
    msg = NULL;
    inf_chat_template_free(h);
    CHECK_EQ_INT(inf_chat_template_parse("{% for %}", NULL, NULL, &h, &msg), INF_E_TEMPLATE);
    CHECK(h == NULL);
    CHECK_MSG(msg && strstr(msg, "line 1"), "%s", msg ? msg : "(null)");
    inf_free(msg);
    msg = NULL;
    CHECK_EQ_INT(inf_chat_template_parse("x", NULL, "[1]", &h, &msg), INF_E_INVALID_ARGUMENT);
    inf_free(msg);
    msg = NULL;
    CHECK_EQ_INT(inf_chat_template_parse("x", dir, "[1]", &h, &msg), INF_E_INVALID_ARGUMENT);
    inf_free(msg);
    msg = NULL;
    CHECK_EQ_INT(inf_chat_template_parse(NULL, NULL, NULL, &h, &msg), INF_E_INVALID_ARGUMENT);
    inf_free(msg);
    msg = NULL;
    CHECK_EQ_INT(inf_chat_template_parse("x", "/nonexistent-dir", NULL, &h, &msg), INF_E_IO);
    inf_free(msg);
    msg = NULL;

    /* errors of load: the message names the place */
    CHECK_EQ_INT(inf_chat_template_load("/nonexistent-dir", &h, &msg), INF_E_IO);
    CHECK(h == NULL);
    CHECK_MSG(msg && strstr(msg, "/nonexistent-dir"), "%s", msg ? msg : "(null)");
    inf_free(msg);
    msg = NULL;
    write_file(cpath, "{\"eos_token\": \"<E>\"}");
    write_file(jpath, "{% for %}");
    CHECK_EQ_INT(inf_chat_template_load(dir, &h, &msg), INF_E_TEMPLATE);
    CHECK_MSG(msg && strstr(msg, "line 1"), "%s", msg ? msg : "(null)");
    inf_free(msg);
    msg = NULL;
    write_file(cpath, "{\"chat_template\": ");
    CHECK_EQ_INT(inf_chat_template_load(dir, &h, &msg), INF_E_FORMAT);
    CHECK_MSG(msg && strstr(msg, "tokenizer_config.json"), "%s", msg ? msg : "(null)");
    inf_free(msg);
    msg = NULL;
    CHECK_EQ_INT(inf_chat_template_load(NULL, &h, &msg), INF_E_INVALID_ARGUMENT);
    inf_free(msg);
    msg = NULL;
    /* no template at all: ChatML, flagged */
    unlink(cpath);
    unlink(jpath);
    CHECK_EQ_INT(inf_chat_template_load(dir, &h, &msg), INF_OK);
    CHECK_EQ_INT(inf_chat_template_is_fallback(h), 1);
    CHECK_EQ_STR(inf_chat_template_source(h), inf__tmpl_chatml_source);
    CHECK_EQ_INT(inf_chat_template_apply(h, "[{\"role\":\"user\",\"content\":\"q\"}]", 1, NULL, NULL, &out, &msg),
                 INF_OK);
    CHECK_EQ_STR(out, "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n");
    inf_free(out);
    /* wrap / unwrap: the handle holds exactly the template it was given */
    CHECK(inf__tmpl_unwrap(h) != NULL);
    CHECK(inf__tmpl_unwrap(NULL) == NULL);
    inf_chat_template_free(h);
    CHECK_EQ_INT(inf__tmpl_from_source("W", NULL, &t, &err), INF_OK);
    h = inf__tmpl_wrap(t);
    CHECK(h != NULL && inf__tmpl_unwrap(h) == t);
    CHECK(inf__tmpl_wrap(NULL) == NULL);
    CHECK_EQ_STR(inf_chat_template_source(h), "W");
    CHECK(inf_chat_template_source(NULL) == NULL);
    CHECK_EQ_INT(inf_chat_template_is_fallback(NULL), 0);
    inf_chat_template_free(h);
    rmdir(dir);
}

/* Rendering only reads the template: several threads share one. */
typedef struct { const inf__chat_template *t; int ok; } thr_arg;
static void *thr_main(void *p) {
    thr_arg *a = p;
    a->ok = 1;
    for (int i = 0; i < 200; i++) {
        char msgs[128], want[160];
        snprintf(msgs, sizeof msgs, "[{\"role\":\"user\",\"content\":\"m%d\"}]", i);
        snprintf(want, sizeof want, "<s>|user:m%d|1", i);
        char *out = NULL;
        inf__err err;
        if (inf__tmpl_render_json(a->t, msgs, 1, NULL, NULL, &out, &err) != INF_OK || strcmp(out, want) != 0) a->ok = 0;
        free(out);
    }
    return NULL;
}

static void threads(void) {
    inf__err err;
    inf__chat_template *t = NULL;
    CHECK_EQ_INT(inf__tmpl_from_source("{{ bos_token }}{% for m in messages %}|{{ m.role }}:{{ m.content }}{% endfor %}"
                                       "|{{ messages|length }}", "{\"bos_token\":\"<s>\"}", &t, &err), INF_OK);
    pthread_t th[4];
    thr_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i].t = t;
        pthread_create(&th[i], NULL, thr_main, &args[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK(args[i].ok);
    }
    inf__tmpl_free(t);
}

int main(void) {
    run_cases();
    load_dirs();
    threads();
    limits();
    inputs_and_api();
    texts_and_handle();
    return tu_summary("test_tmpl_engine");
}
