/* Tool-call formats: detection, parsing, streaming hold-back (see
 * toolcall.h for the formats).  The parsers read JSON with jansson one
 * value at a time (JSON_DISABLE_EOF_CHECK reports where a value ends), so
 * text around and between calls is found without a second JSON scanner. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include "server/toolcall.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char HERMES_OPEN[] = "<tool_call>";
static const char HERMES_CLOSE[] = "</tool_call>";
static const char PYTHON_TAG[] = "<|python_tag|>";
static const char MISTRAL_MARK[] = "[TOOL_CALLS]";
static const char MISTRAL_ARGS[] = "[ARGS]";
static const char MISTRAL_ID[] = "[CALL_ID]";

inf__tc_format inf__tc_detect(const char *src) {
    if (!src) return INF__TC_GENERIC;
    if (strstr(src, HERMES_OPEN)) return INF__TC_HERMES;
    if (strstr(src, MISTRAL_MARK)) return INF__TC_MISTRAL;
    if (strstr(src, PYTHON_TAG) ||
        (strstr(src, "ipython") && strstr(src, "<|start_header_id|>")))
        return INF__TC_LLAMA3;
    return INF__TC_GENERIC;
}

const char *inf__tc_format_name(inf__tc_format f) {
    switch (f) {
    case INF__TC_HERMES: return "hermes";
    case INF__TC_LLAMA3: return "llama3";
    case INF__TC_MISTRAL: return "mistral";
    default: return "generic";
    }
}

int inf__tc_template_has_tools(const char *src) {
    /* A template that never reads `tools` would drop them silently. */
    return src && strstr(src, "tools") != NULL;
}

/* ---- small text helpers ---------------------------------------------- */

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static size_t skip_ws(const char *t, size_t len, size_t p) {
    while (p < len && is_ws(t[p])) p++;
    return p;
}

static const char *find(const char *t, size_t len, size_t from, const char *needle) {
    if (from >= len) return NULL;
    return memmem(t + from, len - from, needle, strlen(needle));
}

/* A growing, NUL-terminated buffer; ok turns 0 when out of memory. */
typedef struct {
    char *s;
    size_t n, cap;
    int ok;
} buf;

static void buf_add(buf *b, const char *p, size_t n) {
    if (!b->ok) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->ok = 0;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->n, p, n);
    b->n += n;
    b->s[b->n] = '\0';
}

/* The buffer's text without surrounding white space, as a new string. */
static char *buf_trimmed(buf *b) {
    const char *s = b->s ? b->s : "";
    size_t a = 0, e = b->n;
    while (a < e && is_ws(s[a])) a++;
    while (e > a && is_ws(s[e - 1])) e--;
    char *out = malloc(e - a + 1);
    if (out) {
        memcpy(out, s + a, e - a);
        out[e - a] = '\0';
    }
    return out;
}

/* Parses one JSON object or array at t[p..len) (after white space); the
 * value, with *end just past it, or NULL when there is none. */
static json_t *json_at(const char *t, size_t len, size_t p, size_t *end) {
    p = skip_ws(t, len, p);
    if (p >= len || (t[p] != '{' && t[p] != '[')) return NULL;
    json_error_t e;
    json_t *v = json_loadb(t + p, len - p, JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES, &e);
    if (!v) return NULL;
    *end = p + (size_t)e.position;
    return v;
}

/* 1 when `name` is one of the tools' function names (or tools is NULL). */
static int tool_known(const json_t *tools, const char *name) {
    if (!tools) return 1;
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) {
        json_t *n = json_object_get(json_object_get(t, "function"), "name");
        if (json_is_string(n) && strcmp(json_string_value(n), name) == 0) return 1;
    }
    return 0;
}

/* Appends the call {name, arguments as text} to calls; 0, or -1 when the
 * call is malformed (no name, an unknown function, arguments that are not
 * an object or a string holding one).  args_key: the format's own key;
 * "arguments" and "parameters" are both accepted. */
static int add_call(json_t *calls, const json_t *tools, const char *name,
                    json_t *args) {
    if (!name || !*name || !tool_known(tools, name)) return -1;
    json_t *own = NULL;
    if (!args) {
        args = own = json_object(); /* a call without parameters */
    } else if (json_is_string(args)) {
        args = own = json_loads(json_string_value(args), 0, NULL);
    }
    if (!json_is_object(args)) {
        json_decref(own);
        return -1;
    }
    char *text = json_dumps(args, JSON_COMPACT);
    json_decref(own);
    if (!text) return -1;
    json_t *c = json_pack("{s:s, s:s}", "name", name, "arguments", text);
    free(text);
    if (!c || json_array_append_new(calls, c) != 0) return -1;
    return 0;
}

static int add_call_obj(json_t *calls, const json_t *tools, json_t *o) {
    if (!json_is_object(o)) return -1;
    json_t *n = json_object_get(o, "name");
    json_t *a = json_object_get(o, "arguments");
    if (!a) a = json_object_get(o, "parameters");
    return add_call(calls, tools, json_is_string(n) ? json_string_value(n) : NULL, a);
}

/* Adds an object, or each object of an array; -1 if any is malformed. */
static int add_calls_value(json_t *calls, const json_t *tools, json_t *v) {
    if (json_is_object(v)) return add_call_obj(calls, tools, v);
    if (!json_is_array(v) || json_array_size(v) == 0) return -1;
    size_t i;
    json_t *o;
    json_array_foreach(v, i, o) if (add_call_obj(calls, tools, o) != 0) return -1;
    return 0;
}

/* ---- the formats --------------------------------------------------------- */

static int parse_hermes(const char *t, size_t len, const json_t *tools,
                        json_t *calls, buf *content) {
    size_t p = 0;
    for (;;) {
        const char *o = find(t, len, p, HERMES_OPEN);
        if (!o) {
            buf_add(content, t + p, len - p);
            return 0;
        }
        buf_add(content, t + p, (size_t)(o - t) - p);
        size_t end;
        json_t *v = json_at(t, len, (size_t)(o - t) + strlen(HERMES_OPEN), &end);
        if (!v) return -1;
        int rc = add_calls_value(calls, tools, v);
        json_decref(v);
        if (rc) return -1;
        end = skip_ws(t, len, end);
        if (end >= len) return 0; /* eos before the closing tag */
        if (len - end < strlen(HERMES_CLOSE) ||
            memcmp(t + end, HERMES_CLOSE, strlen(HERMES_CLOSE)) != 0)
            return -1;
        p = end + strlen(HERMES_CLOSE);
    }
}

static int parse_llama3(const char *t, size_t len, const json_t *tools,
                        json_t *calls, buf *content) {
    size_t p = 0;
    const char *tag = find(t, len, 0, PYTHON_TAG);
    if (tag) {
        buf_add(content, t, (size_t)(tag - t));
        p = (size_t)(tag - t) + strlen(PYTHON_TAG);
    }
    for (;;) {
        size_t end;
        json_t *v = json_at(t, len, p, &end);
        if (!v) return -1;
        int rc = add_calls_value(calls, tools, v);
        json_decref(v);
        if (rc) return -1;
        p = skip_ws(t, len, end);
        if (p >= len) return 0;
        if (t[p] != ';') return -1;
        p++;
        if (skip_ws(t, len, p) >= len) return 0; /* a trailing ';' */
    }
}

/* Mistral v11+: NAME[ARGS]{...} or NAME[CALL_ID]ID[ARGS]{...}. */
static int mistral_named(const char *t, size_t len, size_t *pp,
                         const json_t *tools, json_t *calls) {
    size_t p = skip_ws(t, len, *pp);
    const char *a = find(t, len, p, MISTRAL_ARGS);
    if (!a) return -1;
    size_t name_end = (size_t)(a - t);
    const char *id = find(t, len, p, MISTRAL_ID);
    if (id && id < a) name_end = (size_t)(id - t);
    while (name_end > p && is_ws(t[name_end - 1])) name_end--;
    if (name_end == p || name_end - p > 256) return -1;
    char name[257];
    memcpy(name, t + p, name_end - p);
    name[name_end - p] = '\0';
    for (const char *c = name; *c; c++)
        if (is_ws(*c) || *c == '[' || *c == '{') return -1;
    size_t end;
    json_t *v = json_at(t, len, (size_t)(a - t) + strlen(MISTRAL_ARGS), &end);
    if (!v) return -1;
    int rc = add_call(calls, tools, name, v);
    json_decref(v);
    *pp = end;
    return rc;
}

static int parse_mistral(const char *t, size_t len, const json_t *tools,
                         json_t *calls, buf *content) {
    const char *m = find(t, len, 0, MISTRAL_MARK);
    if (!m) {
        buf_add(content, t, len);
        return 0;
    }
    buf_add(content, t, (size_t)(m - t));
    size_t p = (size_t)(m - t) + strlen(MISTRAL_MARK);
    for (;;) {
        size_t q = skip_ws(t, len, p);
        if (q < len && t[q] == '[') {
            size_t end;
            json_t *v = json_at(t, len, q, &end);
            if (!v) return -1;
            int rc = add_calls_value(calls, tools, v);
            json_decref(v);
            if (rc) return -1;
            p = end;
        } else if (mistral_named(t, len, &p, tools, calls) != 0) {
            return -1;
        }
        p = skip_ws(t, len, p);
        if (p >= len) return 0;
        if (len - p < strlen(MISTRAL_MARK) || memcmp(t + p, MISTRAL_MARK, strlen(MISTRAL_MARK)))
            return -1;
        p += strlen(MISTRAL_MARK);
    }
}

/* The whole reply is {"tool_calls": [...]}. */
static int parse_generic(const char *t, size_t len, const json_t *tools,
                         json_t *calls, buf *content) {
    (void)content;
    size_t end;
    json_t *v = json_at(t, len, 0, &end);
    if (!v) return -1;
    int rc = -1;
    if (skip_ws(t, len, end) == len && json_is_object(v) && json_object_size(v) == 1) {
        json_t *a = json_object_get(v, "tool_calls");
        if (json_is_array(a)) rc = add_calls_value(calls, tools, a);
    }
    json_decref(v);
    return rc;
}

int inf__tc_parse(inf__tc_format f, const char *text, size_t len,
                  const json_t *tools, json_t **calls, char **content) {
    *calls = NULL;
    *content = NULL;
    if (!text) return 0;
    /* Format parsers that never see a marker say "no calls" cheaply. */
    if (f == INF__TC_HERMES && !find(text, len, 0, HERMES_OPEN)) return 0;
    if (f == INF__TC_MISTRAL && !find(text, len, 0, MISTRAL_MARK)) return 0;
    json_t *c = json_array();
    buf b = {NULL, 0, 0, 1};
    if (!c) return -1;
    int rc;
    switch (f) {
    case INF__TC_HERMES: rc = parse_hermes(text, len, tools, c, &b); break;
    case INF__TC_LLAMA3: rc = parse_llama3(text, len, tools, c, &b); break;
    case INF__TC_MISTRAL: rc = parse_mistral(text, len, tools, c, &b); break;
    default: rc = parse_generic(text, len, tools, c, &b); break;
    }
    if (rc != 0 || json_array_size(c) == 0) {
        json_decref(c);
        free(b.s);
        return 0;
    }
    if (!b.ok || !(*content = buf_trimmed(&b))) {
        json_decref(c);
        free(b.s);
        return -1;
    }
    free(b.s);
    *calls = c;
    return (int)json_array_size(c);
}

/* ---- streaming ------------------------------------------------------------ */

/* Where `marker` starts in text, or where a proper prefix of it ends the
 * text; len when neither. */
static size_t marker_hold(const char *t, size_t len, const char *marker) {
    const char *m = find(t, len, 0, marker);
    if (m) return (size_t)(m - t);
    size_t ml = strlen(marker);
    for (size_t k = ml - 1; k > 0; k--)
        if (k <= len && memcmp(t + len - k, marker, k) == 0) return len - k;
    return len;
}

size_t inf__tc_safe_prefix(inf__tc_format f, const char *text, size_t len) {
    switch (f) {
    case INF__TC_HERMES: return marker_hold(text, len, HERMES_OPEN);
    case INF__TC_MISTRAL: return marker_hold(text, len, MISTRAL_MARK);
    case INF__TC_LLAMA3: {
        size_t p = skip_ws(text, len, 0);
        if (p == len || text[p] == '{' || text[p] == '[') return 0;
        return marker_hold(text, len, PYTHON_TAG);
    }
    default: {
        size_t p = skip_ws(text, len, 0);
        return p == len || text[p] == '{' ? 0 : len;
    }
    }
}

/* ---- the generic convention ----------------------------------------------- */

char *inf__tc_generic_prompt(const json_t *tools) {
    buf b = {NULL, 0, 0, 1};
    static const char head[] =
        "You can call functions. They are listed below, one JSON object "
        "per line, in OpenAI's tools format:\n";
    static const char tail[] =
        "\nTo call one or more of them, reply with only a JSON object of this "
        "form and nothing else:\n"
        "{\"tool_calls\": [{\"name\": \"<function name>\", \"arguments\": "
        "{<the arguments as a JSON object>}}]}\n"
        "Otherwise, reply to the user normally.";
    buf_add(&b, head, strlen(head));
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) {
        char *s = json_dumps(t, JSON_COMPACT);
        if (!s) {
            free(b.s);
            return NULL;
        }
        buf_add(&b, s, strlen(s));
        buf_add(&b, "\n", 1);
        free(s);
    }
    buf_add(&b, tail, strlen(tail));
    if (!b.ok) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

void inf__tc_make_id(inf__tc_format f, char *out, size_t n) {
    static const char al[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    static atomic_uint_fast64_t counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^
                 ((uint64_t)getpid() << 44) ^
                 (atomic_fetch_add(&counter, 1) + 1) * 0x9e3779b97f4a7c15ull;
    const char *prefix = f == INF__TC_MISTRAL ? "" : "call_";
    size_t want = f == INF__TC_MISTRAL ? 9 : 24;
    size_t at = (size_t)snprintf(out, n, "%s", prefix);
    for (size_t i = 0; i < want && at + 1 < n; i++) {
        /* splitmix64: enough spread for ids that only need to differ */
        x += 0x9e3779b97f4a7c15ull;
        uint64_t z = x;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        out[at++] = al[z % (sizeof al - 1)];
    }
    if (at < n) out[at] = '\0';
}
