/* libFuzzer target for the tool-call parser (tools/server/toolcall.c).
 * Input: one byte choosing the format (and whether a tools list restricts
 * the names), then the model's reply.  Checks the parser's contract: a
 * result is either calls with content or nothing; each call's arguments
 * are a JSON object's text; the streaming safe prefix stays within the
 * text and never shrinks as the text grows. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/toolcall.h"

static json_t *tools;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    if (!tools)
        tools = json_loads("[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}},"
                           "{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]",
                           0, NULL);
    inf__tc_format f = (inf__tc_format)(data[0] % 4);
    const json_t *t = (data[0] & 4) ? tools : NULL;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    json_t *calls = NULL;
    char *content = NULL;
    int n = inf__tc_parse(f, text, len, t, &calls, &content);
    if (n < 0 || (n == 0) != (calls == NULL) || (n == 0) != (content == NULL)) abort();
    if (n > 0) {
        if ((size_t)n != json_array_size(calls)) abort();
        size_t i;
        json_t *c;
        json_array_foreach(calls, i, c) {
            json_t *a = json_loads(json_string_value(json_object_get(c, "arguments")), 0, NULL);
            if (!json_is_object(a)) abort();
            json_decref(a);
            if (!json_is_string(json_object_get(c, "name"))) abort();
        }
    }
    json_decref(calls);
    free(content);
    size_t last = 0, step = len > 512 ? len / 256 : 1;
    for (size_t i = 0; i <= len; i += step) {
        size_t s = inf__tc_safe_prefix(f, text, i);
        if (s > i || s < last) abort();
        last = s;
    }
    return 0;
}
