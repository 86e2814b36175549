/* Unit tests of the tool-call parser (tools/server/toolcall.c) on model
 * replies in each format (toolcall_cases.json): the calls found, their
 * arguments, the content around them; malformed replies come back as text;
 * the streaming hold-back never lets a call's text out as content and only
 * grows; random corruptions never crash (the sanitizer pass runs this). */
#include <jansson.h>
#include <stdint.h>

#include "server/toolcall.h"
#include "testutil.h"

static inf__tc_format fmt_of(const char *s) {
    if (strcmp(s, "hermes") == 0) return INF__TC_HERMES;
    if (strcmp(s, "llama3") == 0) return INF__TC_LLAMA3;
    if (strcmp(s, "mistral") == 0) return INF__TC_MISTRAL;
    return INF__TC_GENERIC;
}

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint64_t next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Text with surrounding white space removed, as a new string. */
static char *trim(const char *s, size_t n) {
    while (n && (*s == ' ' || *s == '\n')) s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\n')) n--;
    char *o = malloc(n + 1);
    memcpy(o, s, n);
    o[n] = '\0';
    return o;
}

static void check_case(json_t *c, const json_t *tools, size_t k) {
    inf__tc_format f = fmt_of(json_string_value(json_object_get(c, "format")));
    const char *text = json_string_value(json_object_get(c, "text"));
    size_t len = strlen(text);
    json_t *want = json_object_get(c, "calls");
    json_t *calls;
    char *content;
    int n = inf__tc_parse(f, text, len, tools, &calls, &content);
    if (json_is_null(want)) {
        CHECK_MSG(n == 0 && !calls && !content, "case %zu (%s): malformed, expected text, got %d calls",
                  k, inf__tc_format_name(f), n);
        json_decref(calls);
        free(content);
    } else {
        CHECK_MSG(n == (int)json_array_size(want), "case %zu: %d calls, expected %zu", k, n,
                  json_array_size(want));
        for (size_t i = 0; n > 0 && i < json_array_size(want) && i < (size_t)n; i++) {
            json_t *got = json_array_get(calls, i), *w = json_array_get(want, i);
            CHECK_EQ_STR(json_string_value(json_object_get(got, "name")),
                         json_string_value(json_object_get(w, "name")));
            /* The arguments are a JSON string holding the object. */
            json_t *a = json_loads(json_string_value(json_object_get(got, "arguments")), 0, NULL);
            CHECK_MSG(a && json_equal(a, json_object_get(w, "arguments")),
                      "case %zu call %zu: arguments %s", k, i,
                      json_string_value(json_object_get(got, "arguments")));
            json_decref(a);
        }
        if (n > 0) CHECK_EQ_STR(content, json_string_value(json_object_get(c, "content")));
        json_decref(calls);
        free(content);
    }

    /* Streaming: the safe prefix grows with the text and stays within it;
     * for a reply with calls, what it lets out is the content before them. */
    size_t last = 0;
    for (size_t i = 0; i <= len; i++) {
        size_t s = inf__tc_safe_prefix(f, text, i);
        CHECK_MSG(s <= i && s >= last, "case %zu: safe prefix %zu at %zu (was %zu)", k, s, i, last);
        last = s;
    }
    if (!json_is_null(want)) {
        char *sent = trim(text, last);
        const char *cont = json_string_value(json_object_get(c, "content"));
        CHECK_MSG(strncmp(cont, sent, strlen(sent)) == 0,
                  "case %zu: streamed '%s' before the calls, not part of the content '%s'", k,
                  sent, cont);
        free(sent);
    }

    /* Corruptions: delete, duplicate or flip bytes; only no crash matters,
     * and a result that is either calls + content or nothing. */
    char *buf = malloc(len * 2 + 2);
    for (int r = 0; r < 200; r++) {
        size_t m = len;
        memcpy(buf, text, len);
        int edits = 1 + (int)(next_rand() % 4);
        for (int e = 0; e < edits && m > 0; e++) {
            size_t at = next_rand() % m;
            switch (next_rand() % 3) {
            case 0: memmove(buf + at, buf + at + 1, m - at - 1); m--; break;
            case 1: memmove(buf + at + 1, buf + at, m - at); m++; break;
            default: buf[at] = (char)(next_rand() & 0xff); break;
            }
        }
        n = inf__tc_parse(f, buf, m, tools, &calls, &content);
        CHECK_MSG(n >= 0 && (n == 0) == (calls == NULL) && (n == 0) == (content == NULL),
                  "case %zu corrupted: inconsistent result %d", k, n);
        json_decref(calls);
        free(content);
        (void)inf__tc_safe_prefix(f, buf, m);
    }
    free(buf);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_toolcall toolcall_cases.json\n");
        return 2;
    }
    json_error_t je;
    json_t *root = json_load_file(argv[1], 0, &je);
    if (!root) {
        fprintf(stderr, "%s: %s\n", argv[1], je.text);
        return 2;
    }
    json_t *tools = json_loads(
        "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\","
        "\"properties\":{\"city\":{\"type\":\"string\"},\"unit\":{\"enum\":[\"celsius\",\"fahrenheit\"]}},"
        "\"required\":[\"city\"]}}},"
        "{\"type\":\"function\",\"function\":{\"name\":\"get_time\",\"parameters\":{\"type\":\"object\","
        "\"properties\":{\"tz\":{\"type\":\"string\"}}}}},"
        "{\"type\":\"function\",\"function\":{\"name\":\"search\"}}]",
        0, NULL);
    json_t *cases = json_object_get(root, "cases");
    size_t k;
    json_t *c;
    json_array_foreach(cases, k, c) check_case(c, tools, k);
    CHECK(json_array_size(cases) >= 30);

    /* Without a tools list any name is accepted. */
    json_t *calls;
    char *content;
    const char *anyname = "<tool_call>{\"name\":\"x\",\"arguments\":{}}</tool_call>";
    CHECK_EQ_INT(inf__tc_parse(INF__TC_HERMES, anyname, strlen(anyname), NULL, &calls, &content), 1);
    json_decref(calls);
    free(content);

    /* Detection from template text. */
    CHECK_EQ_INT(inf__tc_detect(NULL), INF__TC_GENERIC);
    CHECK_EQ_INT(inf__tc_detect("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"),
                 INF__TC_GENERIC);
    CHECK_EQ_INT(inf__tc_detect("{%- if tools %}...<tool_call>\\n{\"name\": <function-name>}...{% endif %}"),
                 INF__TC_HERMES);
    CHECK_EQ_INT(inf__tc_detect("{%- if builtin_tools is defined %}{{- \"<|python_tag|>\" }}{%- endif %}"),
                 INF__TC_LLAMA3);
    CHECK_EQ_INT(inf__tc_detect("{{- '<|start_header_id|>ipython<|end_header_id|>\\n\\n' }}"),
                 INF__TC_LLAMA3);
    CHECK_EQ_INT(inf__tc_detect("{%- if message.tool_calls %}{{- \"[TOOL_CALLS][\" }}"), INF__TC_MISTRAL);
    CHECK(inf__tc_template_has_tools("{% if tools %}x{% endif %}"));
    CHECK(!inf__tc_template_has_tools("{{ messages }}"));

    /* The generic convention's prompt names every function and the shape. */
    char *p = inf__tc_generic_prompt(tools);
    CHECK(p && strstr(p, "get_weather") && strstr(p, "search") && strstr(p, "{\"tool_calls\": ["));
    free(p);

    /* Ids: OpenAI-like, or Mistral's 9 alphanumerics; distinct. */
    char a[40], b[40];
    inf__tc_make_id(INF__TC_HERMES, a, sizeof a);
    inf__tc_make_id(INF__TC_HERMES, b, sizeof b);
    CHECK(strncmp(a, "call_", 5) == 0 && strlen(a) == 29 && strcmp(a, b) != 0);
    inf__tc_make_id(INF__TC_MISTRAL, a, sizeof a);
    CHECK(strlen(a) == 9);
    for (const char *q = a; *q; q++)
        CHECK((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9'));

    json_decref(tools);
    json_decref(root);
    return tu_summary("test_toolcall");
}
