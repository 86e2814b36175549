/* libFuzzer target: arbitrary template source, parsed and rendered against a
 * fixed conversation (tool calls, tools, extra variables) with small limits.
 * Any input must end in INF_OK or an error status: never a crash, hang or
 * leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text/template/chat_template.h"

static const char kMessages[] =
    "[{\"role\":\"system\",\"content\":\"Be brief.\"},"
    "{\"role\":\"user\",\"content\":\"Hi {{ x }} \\u00e9\"},"
    "{\"role\":\"assistant\",\"content\":\"<think>\\nr\\n</think>\\n\\nok\","
    "\"tool_calls\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":{\"a\":1,\"b\":[1.5,null]}}}]},"
    "{\"role\":\"tool\",\"content\":\"42\"},{\"role\":\"user\",\"content\":\"\"}]";
static const char kTools[] =
    "[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\","
    "\"properties\":{\"a\":{\"type\":\"integer\"}}}}}]";
static const char kExtra[] = "{\"enable_thinking\":false,\"n\":3,\"s\":\"str\"}";
static const char kSpecial[] = "{\"bos_token\":\"<s>\",\"eos_token\":\"</s>\"}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 64 * 1024) return 0;
    char *src = malloc(size + 1);
    if (!src) return 0;
    memcpy(src, data, size);
    src[size] = '\0';
    inf__err err;
    inf__chat_template *t = NULL;
    if (inf__tmpl_from_source(src, kSpecial, &t, &err) == INF_OK) {
        inf__tmpl_limits lim;
        inf__tmpl_limits_default(&lim);
        lim.max_iterations = 20000;
        lim.max_output = 1 << 20;
        lim.max_memory = 64 << 20;
        lim.max_depth = 200;
        char *out = NULL;
        for (int agp = 0; agp < 2; agp++) {
            if (inf__tmpl_render_json_limits(t, kMessages, agp, agp ? kTools : NULL, kExtra, &lim, &out, &err) == INF_OK)
                free(out);
            out = NULL;
        }
    }
    inf__tmpl_free(t);
    free(src);
    return 0;
}
