/* libFuzzer target: the SSE parser and the completion-chunk parser, fed
 * what a server may send, cut into network reads at places the input's
 * first bytes choose.  Small limits (a line 64 bytes, an event 256) reach
 * the limit paths often; the parser must never hold more than its limits
 * allow nor hand over an event larger than max_event (issue 14). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "remote/proto.h"
#include "remote/sse.h"

#define MAX_LINE 64
#define MAX_EVENT 256

static int on_event(const char *event, const char *data, size_t len, void *user) {
    (void)user;
    if (len > MAX_EVENT || strlen(event) >= 64 || data[len] != '\0') abort();
    inf__oai_event ev;
    inf__oai_parse_event(data, len, len & 1, &ev);
    inf__oai_event_free(&ev);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t n) {
    if (n < 2) return 0;
    size_t step = (size_t)buf[0] % 32 + 1, first = (size_t)buf[1] + 1;
    buf += 2;
    n -= 2;
    inf__sse p;
    inf__sse_init(&p);
    p.max_line = MAX_LINE;
    p.max_event = MAX_EVENT;
    size_t i = 0;
    int rc = 0;
    while (i < n && rc == 0) {
        size_t k = i == 0 ? first : step;
        if (k > n - i) k = n - i;
        rc = inf__sse_feed(&p, (const char *)buf + i, k, on_event, NULL);
        if (p.data_len > MAX_EVENT || p.line_len > MAX_LINE) abort();
        i += k;
    }
    if (rc == 0) inf__sse_finish(&p, on_event, NULL);
    inf__sse_free(&p);
    return 0;
}
