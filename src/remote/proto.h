/* The OpenAI wire format: request bodies built from the library's options,
 * and the pieces of streamed (or whole) responses read back.
 * Pure functions over jansson, no I/O, so the unit tests can drive them. */
#ifndef INF_OPENAI_PROTO_H
#define INF_OPENAI_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "inference.h"

/* Builds the JSON body of POST /v1/completions (prompt != NULL, or token
 * ids when n_ids > 0) or /v1/chat/completions (msgs).  Sampling fields are
 * sent only where they differ from "off" (temperature and max_tokens are
 * always sent: servers default to temperature 1).  stream: add
 * "stream":true and ask for usage in the last chunk.
 * Returns a malloc'd string, or NULL when out of memory or when
 * extra JSON (tools_json / template_vars_json) does not parse (then *bad
 * names the field). */
char *inf__oai_body_completion(const char *model, const char *prompt,
                               const int32_t *ids, size_t n_ids,
                               const inf_generate_options *o, int stream,
                               const char **bad);
char *inf__oai_body_chat(const char *model, const inf_message *msgs,
                         size_t n_msgs, const inf_generate_options *o,
                         int stream, const char **bad);

/* What one event (a streamed chunk, or a whole non-streamed response)
 * carries for choice 0. */
typedef struct inf__oai_event {
    int done;               /* the "[DONE]" sentinel */
    char *text;             /* text or delta.content (malloc'd; may be "") */
    size_t text_len;
    int32_t token_id;       /* from token_ids / tokens / logprobs, or -1 */
    const char *finish;     /* static: "stop", "length", ... or NULL */
    int64_t prompt_tokens;  /* usage, or -1 */
    int64_t completion_tokens;
    char *error;            /* an error object's message (malloc'd) */
} inf__oai_event;

/* Parses one event's data.  chat: read delta.content / message.content
 * rather than text.  Returns 0, or -1 when data is not a JSON object (then
 * ev->error says so).  Free the event with inf__oai_event_free. */
int inf__oai_parse_event(const char *data, size_t len, int chat,
                         inf__oai_event *ev);
void inf__oai_event_free(inf__oai_event *ev);

/* The "message" of an OpenAI-style error body ({"error":{"message":..}} or
 * {"error":"..."} or {"message":..}), or NULL (malloc'd). */
char *inf__oai_error_message(const char *body, size_t len);

/* The finish reason the library reports for a server's finish_reason.
 * "stop" means either end-of-sequence or a stop string; the server does
 * not say which, so it is EOS unless stop strings were sent. */
inf_finish_reason inf__oai_finish(const char *reason, int sent_stop_strings);

#endif
