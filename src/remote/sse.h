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

/* Limits on what a server can make the parser hold (issue 14: a server
 * streaming "data:" lines without the blank line that ends an event took a
 * client to 1.4 GB in 8 s).  Both are per parser; 0 in the fields below
 * means these defaults. */
#define INF__SSE_MAX_LINE ((size_t)8 << 20)  /* one line, without its end */
#define INF__SSE_MAX_EVENT ((size_t)8 << 20) /* one event's data lines joined */

/* What inf__sse_feed and inf__sse_finish return for their own failures
 * (a callback's value to stop is positive). */
#define INF__SSE_E_NOMEM (-1) /* out of memory */
#define INF__SSE_E_LINE (-2)  /* a line longer than max_line */
#define INF__SSE_E_EVENT (-3) /* an event's data longer than max_event */

/* Receives one event.  event is "" when the server sent no "event:" line;
 * data is NUL-terminated (data_len bytes).  Both are valid only during the
 * call.  Return 0 to go on, a positive value to stop parsing
 * (inf__sse_feed then returns that value). */
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
    size_t max_line;   /* a longer line is an error (0: INF__SSE_MAX_LINE) */
    size_t max_event;  /* longer event data is an error (0:
                          INF__SSE_MAX_EVENT) */
} inf__sse;

/* Initialises an empty parser (no allocation). */
void inf__sse_init(inf__sse *p);
/* Releases the parser's buffers; NULL is fine. */
void inf__sse_free(inf__sse *p);
/* Feeds n bytes.  Returns 0, the callback's value when it asked to stop,
 * or INF__SSE_E_NOMEM, INF__SSE_E_LINE or INF__SSE_E_EVENT (nothing more
 * should be fed then). */
int inf__sse_feed(inf__sse *p, const char *buf, size_t n, inf__sse_fn fn,
                  void *user);
/* At the end of the stream: dispatches an event that was not followed by
 * a blank line (servers that omit the last one).  Returns as feed. */
int inf__sse_finish(inf__sse *p, inf__sse_fn fn, void *user);

#endif
