/* Unit tests of the remote backends' protocol pieces: the incremental SSE
 * parser (every split of a stream into two network reads must give the same
 * events), event parsing, request bodies and URL forms. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "backends/openai/openai.h"
#include "remote/proto.h"
#include "remote/sse.h"
#include "testutil.h"

typedef struct collected {
    char buf[4096];
    size_t len;
    int n;
} collected;

/* Records "event|data;" for each event. */
static int collect(const char *event, const char *data, size_t len, void *user) {
    collected *c = user;
    c->len += (size_t)snprintf(c->buf + c->len, sizeof c->buf - c->len,
                               "%s|%.*s;", event, (int)len, data);
    c->n++;
    return 0;
}

static void test_sse_splits(void) {
    /* LF, CRLF and CR line ends, a comment, multi-line data, an event name,
     * a field without space, an event without data (not dispatched), and
     * a last event without a trailing blank line. */
    const char *stream =
        ": keep-alive\n\n"
        "data: {\"a\":1}\n\n"
        "data: line1\r\ndata: line2\r\n\r\n"
        "event: error\rdata:{\"e\":2}\r\r"
        "id: 7\n\n"
        "data: [DONE]";
    const char *want = "|{\"a\":1};|line1\nline2;error|{\"e\":2};|[DONE];";
    size_t n = strlen(stream);
    int all_ok = 1;
    for (size_t cut = 0; cut <= n; cut++) {
        for (size_t cut2 = cut; cut2 <= n; cut2 += 7) {
            inf__sse p;
            inf__sse_init(&p);
            collected c = {{0}, 0, 0};
            int rc = inf__sse_feed(&p, stream, cut, collect, &c);
            rc |= inf__sse_feed(&p, stream + cut, cut2 - cut, collect, &c);
            rc |= inf__sse_feed(&p, stream + cut2, n - cut2, collect, &c);
            rc |= inf__sse_finish(&p, collect, &c);
            inf__sse_free(&p);
            if (rc != 0 || strcmp(c.buf, want) != 0) {
                if (all_ok)
                    fprintf(stderr, "split %zu/%zu: got \"%s\"\n", cut, cut2, c.buf);
                all_ok = 0;
            }
        }
    }
    CHECK_MSG(all_ok, "SSE events independent of how reads split the stream");

    /* One byte at a time. */
    inf__sse p;
    inf__sse_init(&p);
    collected c = {{0}, 0, 0};
    for (size_t i = 0; i < n; i++) inf__sse_feed(&p, stream + i, 1, collect, &c);
    inf__sse_finish(&p, collect, &c);
    inf__sse_free(&p);
    CHECK_EQ_STR(c.buf, want);
    CHECK_EQ_INT(c.n, 4);

    /* A line over the limit is an error, not unbounded growth. */
    inf__sse_init(&p);
    p.max_line = 16;
    char big[64];
    memset(big, 'x', sizeof big);
    CHECK_EQ_INT(inf__sse_feed(&p, big, sizeof big, collect, &c), INF__SSE_E_LINE);
    inf__sse_free(&p);
}

/* Issue 14: every buffer the parser fills from the network is capped.  A
 * server streaming "data:" lines that never end the event (no blank line)
 * used to grow the event's data without bound (1.4 GB in 8 s). */
static int count_events(const char *event, const char *data, size_t len, void *user) {
    (void)event;
    (void)data;
    (void)len;
    (*(int *)user)++;
    return 0;
}

static void test_sse_limits(void) {
    /* Data lines with no blank line: an error once the joined data would
     * pass max_event, with the buffer never beyond it. */
    inf__sse p;
    inf__sse_init(&p);
    p.max_event = 1000;
    int n_events = 0, rc = 0;
    const char *line = "data: 0123456789012345678901234567890123456789\n"; /* 40 bytes of data */
    int lines = 0;
    for (; lines < 1000 && rc == 0; lines++)
        rc = inf__sse_feed(&p, line, strlen(line), count_events, &n_events);
    CHECK_EQ_INT(rc, INF__SSE_E_EVENT);
    CHECK_MSG(lines <= 25, "failed after %d lines (40 bytes each, limit 1000)", lines);
    CHECK_MSG(p.data_cap <= 2048, "event buffer grew to %zu bytes", p.data_cap);
    CHECK_EQ_INT(n_events, 0);
    inf__sse_free(&p);

    /* Exactly max_event bytes of data (two lines and the '\n' joining
     * them) is fine; one more byte is not. */
    inf__sse_init(&p);
    p.max_event = 9;
    n_events = 0;
    const char *at_limit = "data: abcd\ndata: efgh\n\n", *over = "data: abcd\ndata: efghi\n\n";
    CHECK_EQ_INT(inf__sse_feed(&p, at_limit, strlen(at_limit), count_events, &n_events), 0);
    CHECK_EQ_INT(n_events, 1);
    CHECK_EQ_INT(inf__sse_feed(&p, over, strlen(over), count_events, &n_events), INF__SSE_E_EVENT);
    CHECK_EQ_INT(n_events, 1);
    inf__sse_free(&p);

    /* The default limit applies without any setting: up to 16 MiB of short
     * data lines (10 bytes of data each) in 64 KiB network reads. */
    inf__sse_init(&p);
    size_t chunk_len = (size_t)64 << 10;
    char *chunk = malloc(chunk_len);
    for (size_t i = 0; i < chunk_len; i += 16) memcpy(chunk + i, "data: 123456789\n", 16);
    rc = 0;
    size_t fed = 0;
    while (rc == 0 && fed < ((size_t)16 << 20)) {
        rc = inf__sse_feed(&p, chunk, chunk_len, count_events, &n_events);
        fed += chunk_len;
    }
    CHECK_EQ_INT(rc, INF__SSE_E_EVENT);
    CHECK_MSG(p.data_cap <= 2 * INF__SSE_MAX_EVENT, "event buffer grew to %zu bytes", p.data_cap);
    inf__sse_free(&p);

    /* A line that arrives whole in one read is held to max_line as well
     * as one assembled from several reads; a line at the limit is fine. */
    inf__sse_init(&p);
    p.max_line = 16;
    n_events = 0;
    const char *line16 = "data: 0123456789\n\n", *line17 = "data: 01234567890\n\n";
    CHECK_EQ_INT(inf__sse_feed(&p, line16, strlen(line16), count_events, &n_events), 0);
    CHECK_EQ_INT(n_events, 1);
    CHECK_EQ_INT(inf__sse_feed(&p, line17, strlen(line17), count_events, &n_events),
                 INF__SSE_E_LINE);
    inf__sse_free(&p);
    inf__sse_init(&p);
    p.max_line = 16;
    CHECK_EQ_INT(inf__sse_feed(&p, "data: 0123", strlen("data: 0123"), count_events, &n_events), 0);
    CHECK_EQ_INT(inf__sse_feed(&p, "4567890\n", strlen("4567890\n"), count_events, &n_events),
                 INF__SSE_E_LINE);
    inf__sse_free(&p);
    /* Default line limit, one unterminated line in 64 KiB reads. */
    inf__sse_init(&p);
    memset(chunk, 'x', chunk_len);
    memcpy(chunk, "data: ", 6);
    rc = inf__sse_feed(&p, chunk, chunk_len, count_events, &n_events);
    memset(chunk, 'x', 6);
    fed = chunk_len;
    while (rc == 0 && fed < ((size_t)9 << 20)) {
        rc = inf__sse_feed(&p, chunk, chunk_len, count_events, &n_events);
        fed += chunk_len;
    }
    CHECK_EQ_INT(rc, INF__SSE_E_LINE);
    CHECK_MSG(p.line_cap <= 2 * INF__SSE_MAX_LINE, "line buffer grew to %zu bytes", p.line_cap);
    inf__sse_free(&p);
    free(chunk);
}

static void test_events(void) {
    inf__oai_event ev;
    const char *chunk = "{\"choices\":[{\"text\":\" h\\u00e9\",\"index\":0,"
                        "\"finish_reason\":null}]}";
    CHECK_EQ_INT(inf__oai_parse_event(chunk, strlen(chunk), 0, &ev), 0);
    CHECK_EQ_STR(ev.text, " h\xc3\xa9");
    CHECK_EQ_INT(ev.text_len, 4);
    CHECK_EQ_INT(ev.token_id, -1);
    CHECK(ev.finish == NULL);
    inf__oai_event_free(&ev);

    const char *chat = "{\"choices\":[{\"delta\":{\"content\":\"Hi\"},"
                       "\"logprobs\":{\"content\":[{\"id\":42,\"token\":\"Hi\"}]},"
                       "\"finish_reason\":\"length\"}],"
                       "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":3}}";
    CHECK_EQ_INT(inf__oai_parse_event(chat, strlen(chat), 1, &ev), 0);
    CHECK_EQ_STR(ev.text, "Hi");
    CHECK_EQ_INT(ev.token_id, 42);
    CHECK_EQ_STR(ev.finish, "length");
    CHECK_EQ_INT(ev.prompt_tokens, 5);
    CHECK_EQ_INT(ev.completion_tokens, 3);
    inf__oai_event_free(&ev);

    CHECK_EQ_INT(inf__oai_parse_event(" [DONE] ", 8, 0, &ev), 0);
    CHECK(ev.done);
    inf__oai_event_free(&ev);

    const char *err = "{\"error\":{\"message\":\"context full\",\"code\":400}}";
    CHECK_EQ_INT(inf__oai_parse_event(err, strlen(err), 0, &ev), 0);
    CHECK_EQ_STR(ev.error, "context full");
    inf__oai_event_free(&ev);

    CHECK_EQ_INT(inf__oai_parse_event("{not json", 9, 0, &ev), -1);
    CHECK(ev.error != NULL);
    inf__oai_event_free(&ev);

    /* Fields of the wrong type: a malformed event naming the field, never
     * an event without text that would end the completion empty. */
    static const struct { const char *json; int chat; const char *field; } wrong[] = {
        {"{\"choices\":\"x\"}", 0, "\"choices\""},
        {"{\"choices\":[7]}", 0, "choice"},
        {"{\"choices\":[{\"text\":42}]}", 0, "\"text\""},
        {"{\"choices\":[{\"delta\":{\"content\":[1]}}]}", 1, "\"content\""},
        {"{\"choices\":[{\"delta\":[]}]}", 1, "\"delta\""},
        {"{\"choices\":[{\"text\":\"a\",\"finish_reason\":{}}]}", 0, "\"finish_reason\""},
    };
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        CHECK_EQ_INT(inf__oai_parse_event(wrong[i].json, strlen(wrong[i].json), wrong[i].chat,
                                          &ev), -1);
        CHECK_MSG(ev.error && strstr(ev.error, wrong[i].field) && !ev.text, "%s -> %s",
                  wrong[i].json, ev.error ? ev.error : "(no error)");
        inf__oai_event_free(&ev);
    }
    /* null stands for absent: a role-only delta, a null finish reason. */
    const char *nulls = "{\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":null},"
                        "\"finish_reason\":null}]}";
    CHECK_EQ_INT(inf__oai_parse_event(nulls, strlen(nulls), 1, &ev), 0);
    CHECK(ev.error == NULL && ev.text == NULL);
    inf__oai_event_free(&ev);

    char *m = inf__oai_error_message("{\"error\":\"bad key\"}", 19);
    CHECK_EQ_STR(m, "bad key");
    free(m);
    CHECK(inf__oai_error_message("<html>", 6) == NULL);

    CHECK_EQ_INT(inf__oai_finish("length", 0), INF_FINISH_LENGTH);
    CHECK_EQ_INT(inf__oai_finish("stop", 0), INF_FINISH_EOS);
    CHECK_EQ_INT(inf__oai_finish("stop", 1), INF_FINISH_STOP);
    CHECK_EQ_INT(inf__oai_finish(NULL, 0), INF_FINISH_NONE);
}

static void test_bodies(void) {
    inf_generate_options o;
    inf_generate_options_default(&o);
    char *b = inf__oai_body_completion("m1", "Hello", NULL, 0, &o, 1, NULL);
    json_t *j = json_loads(b, 0, NULL);
    CHECK(j != NULL);
    CHECK_EQ_STR(json_string_value(json_object_get(j, "model")), "m1");
    CHECK_EQ_STR(json_string_value(json_object_get(j, "prompt")), "Hello");
    CHECK_EQ_INT(json_integer_value(json_object_get(j, "max_tokens")), 256);
    /* temperature is always sent (servers default to 1), 0 = greedy */
    CHECK(json_is_number(json_object_get(j, "temperature")));
    CHECK_NEAR(json_number_value(json_object_get(j, "temperature")), 0.0, 0);
    CHECK(json_object_get(j, "top_k") == NULL);
    CHECK(json_object_get(j, "top_p") == NULL);
    CHECK(json_object_get(j, "seed") == NULL);
    CHECK(json_object_get(j, "stop") == NULL);
    CHECK(json_is_true(json_object_get(j, "stream")));
    CHECK(json_is_true(json_object_get(json_object_get(j, "stream_options"),
                                       "include_usage")));
    json_decref(j);
    free(b);

    const char *stops[] = {"\n\n", "END"};
    int32_t ids[] = {1, 415, 19723};
    o.max_tokens = 7;
    o.temperature = 0.5f;
    o.top_k = 40;
    o.top_p = 0.9f;
    o.min_p = 0.05f;
    o.repeat_penalty = 1.1f;
    o.seed = 1234;
    o.stop_strings = stops;
    o.n_stop_strings = 2;
    o.prompt_ids = ids;
    o.n_prompt_ids = 3;
    o.presence_penalty = 0.5f;
    o.frequency_penalty = -0.25f;
    int32_t bias_ids[] = {42, 7, 42};
    float bias_vals[] = {-100.0f, 3.0f, 1.0f};
    o.logit_bias_ids = bias_ids;
    o.logit_bias_values = bias_vals;
    o.n_logit_bias = 3;
    b = inf__oai_body_completion(NULL, NULL, ids, 3, &o, 0, NULL);
    j = json_loads(b, 0, NULL);
    CHECK(json_object_get(j, "model") == NULL);
    json_t *p = json_object_get(j, "prompt");
    CHECK(json_is_array(p) && json_array_size(p) == 3);
    CHECK_EQ_INT(json_integer_value(json_array_get(p, 2)), 19723);
    CHECK_EQ_INT(json_integer_value(json_object_get(j, "max_tokens")), 7);
    CHECK_EQ_INT(json_integer_value(json_object_get(j, "top_k")), 40);
    CHECK_NEAR(json_number_value(json_object_get(j, "top_p")), 0.9, 1e-6);
    CHECK_NEAR(json_number_value(json_object_get(j, "min_p")), 0.05, 1e-6);
    CHECK_NEAR(json_number_value(json_object_get(j, "repeat_penalty")), 1.1, 1e-6);
    CHECK_EQ_INT(json_integer_value(json_object_get(j, "seed")), 1234);
    CHECK_NEAR(json_number_value(json_object_get(j, "presence_penalty")), 0.5, 1e-6);
    CHECK_NEAR(json_number_value(json_object_get(j, "frequency_penalty")), -0.25, 1e-6);
    json_t *lb = json_object_get(j, "logit_bias");
    CHECK(json_is_object(lb) && json_object_size(lb) == 2);
    CHECK_NEAR(json_number_value(json_object_get(lb, "42")), -99.0, 1e-6); /* adds up */
    CHECK_NEAR(json_number_value(json_object_get(lb, "7")), 3.0, 1e-6);
    json_t *st = json_object_get(j, "stop");
    CHECK(json_is_array(st) && json_array_size(st) == 2);
    CHECK_EQ_STR(json_string_value(json_array_get(st, 1)), "END");
    CHECK(json_object_get(j, "stream") == NULL);
    json_decref(j);
    free(b);

    inf_message msgs[] = {{"system", "Be brief."}, {"user", "Hi \"there\""}};
    inf_generate_options_default(&o);
    o.tools_json = "[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]";
    o.template_vars_json = "{\"enable_thinking\":false}";
    b = inf__oai_body_chat("m", msgs, 2, &o, 1, NULL);
    j = json_loads(b, 0, NULL);
    json_t *ms = json_object_get(j, "messages");
    CHECK(json_is_array(ms) && json_array_size(ms) == 2);
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(ms, 0), "role")), "system");
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(ms, 1), "content")),
                 "Hi \"there\"");
    CHECK(json_is_array(json_object_get(j, "tools")));
    CHECK(json_is_false(json_object_get(json_object_get(j, "chat_template_kwargs"),
                                        "enable_thinking")));
    json_decref(j);
    free(b);

    const char *bad = NULL;
    o.tools_json = "[not json";
    CHECK(inf__oai_body_chat("m", msgs, 2, &o, 1, &bad) == NULL);
    CHECK_EQ_STR(bad, "tools_json");
}

static void test_urls(void) {
    struct { const char *in, *base, *model; int rc; } cases[] = {
        {"http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1", NULL, INF_OK},
        {"http://127.0.0.1:8080/v1/", "http://127.0.0.1:8080/v1", NULL, INF_OK},
        {"http://localhost:8080", "http://localhost:8080/v1", NULL, INF_OK},
        {"https://api.example.com/", "https://api.example.com/v1", NULL, INF_OK},
        {"openai:http://h:1/v1#brown", "http://h:1/v1", "brown", INF_OK},
        {"http://h:1/api/v1#a/b:c", "http://h:1/api/v1", "a/b:c", INF_OK},
        {"ftp://h/v1", NULL, NULL, INF_E_INVALID_ARGUMENT},
        {"models/brown", NULL, NULL, INF_E_INVALID_ARGUMENT},
        {"http://", NULL, NULL, INF_E_INVALID_ARGUMENT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *base = NULL, *model = NULL;
        inf__err e;
        inf__err_clear(&e);
        int rc = inf__openai_parse_url(cases[i].in, &base, &model, &e);
        CHECK_EQ_INT(rc, cases[i].rc);
        if (cases[i].base) CHECK_EQ_STR(base, cases[i].base);
        if (cases[i].model) CHECK_EQ_STR(model, cases[i].model);
        else CHECK(model == NULL);
        if (rc != INF_OK) CHECK(e.msg[0] != '\0');
        free(base);
        free(model);
    }
}

int main(void) {
    test_sse_splits();
    test_sse_limits();
    test_events();
    test_bodies();
    test_urls();
    return tu_summary("test_remote_proto");
}
