/* An incremental parser for server-sent events (the text/event-stream
 * format OpenAI-compatible servers stream completions in).
 *
 * Bytes arrive from the network in arbitrary pieces; the parser keeps the
 * unfinished line between calls and calls back once per complete event
 * (at the blank line that ends it).  Only the fields the completion APIs use
 * are kept: "event" and "data" (several data lines are joined with '\n').
 * Comment lines (":" ...), "id" and "retry" are ignored. */
#ifndef INF_OPENAI_SSE_H
#define INF_OPENAI_SSE_H

#include <stddef.h>

/* Receives one event.  event is "" when the server sent no "event:" line;
 * data is NUL-terminated (data_len bytes).  Both are valid only during the
 * call.  Return 0 to go on, non-zero to stop parsing (inf__sse_feed then
 * returns that value). */
typedef int (*inf__sse_fn)(const char *event, const char *data,
                           size_t data_len, void *user);

typedef struct inf__sse {
    char *line;        /* the unfinished line */
    size_t line_len, line_cap;
    char *data;        /* data of the event being assembled */
    size_t data_len, data_cap;
    int has_data;      /* a data field was seen for this event */
    char event[64];
    int last_cr;       /* the previous chunk ended in '\r' (CRLF split) */
    size_t max_line;   /* a line longer than this is an error (0: 8 MiB) */
} inf__sse;

/* Initialises an empty parser (no allocation). */
void inf__sse_init(inf__sse *p);
/* Releases the parser's buffers; NULL is fine. */
void inf__sse_free(inf__sse *p);
/* Feeds n bytes.  Returns 0, the callback's non-zero value when it asked
 * to stop, or -1 when out of memory or a line exceeded max_line. */
int inf__sse_feed(inf__sse *p, const char *buf, size_t n, inf__sse_fn fn,
                  void *user);
/* At the end of the stream: dispatches an event that was not followed by
 * a blank line (servers that omit the last one).  Returns as feed. */
int inf__sse_finish(inf__sse *p, inf__sse_fn fn, void *user);

#endif
