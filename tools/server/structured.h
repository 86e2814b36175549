/* Tools and structured output for /v1/chat/completions: the request fields
 * `tools`, `tool_choice`, `parallel_tool_calls` and `response_format`, the
 * prompt that offers the tools (rendered here from the messages as JSON, so
 * that assistant `tool_calls` and `tool` messages reach the template whole),
 * and the decoding constraint that forces a call (tool_choice "required" or
 * a named function) or a JSON reply (response_format).
 *
 * The model's reply is parsed back into calls by toolcall.h; api.c streams
 * them.  The tool-call format is chosen from the template (toolcall.h). */
#ifndef INF_SERVER_STRUCTURED_H
#define INF_SERVER_STRUCTURED_H

#include <jansson.h>
#include <stddef.h>

#include "inference.h"
#include "server/respond.h"
#include "server/toolcall.h"

typedef enum inf__tool_choice {
    INF__TOOLS_AUTO = 0,  /* the model may call a tool ("auto") */
    INF__TOOLS_NONE,      /* the tools are not offered ("none") */
    INF__TOOLS_REQUIRED,  /* it must call one or more ("required") */
    INF__TOOLS_NAMED      /* it must call this one function */
} inf__tool_choice;

typedef struct inf__srv_structured {
    /* From the request (inf__srv_structured_parse); JSON borrowed from the
     * request body. */
    json_t *messages;     /* the "messages" array */
    json_t *tools;        /* the "tools" array, NULL when none */
    inf__tool_choice choice;
    const char *named;    /* INF__TOOLS_NAMED: the function's name */
    int parallel;         /* parallel_tool_calls (default 1) */
    int rich;             /* a message carries tool_calls, tool_call_id or
                             name: the messages are rendered here */
    int response_kind;    /* INF_CONSTRAINT_NONE, _JSON or _JSON_SCHEMA */
    char *schema;         /* response_format's schema as JSON text, owned */
    /* Set when the generation starts (inf__srv_chat_start). */
    int parse_calls;      /* tools offered: parse the reply for calls */
    inf__tc_format format;
    char *prefix;         /* text the prompt ends with that belongs to the
                             reply (a forced call's opening marker), or
                             NULL: the parser reads prefix + reply */
    char *constraint;     /* the constraint's text, owned */
} inf__srv_structured;

/* Reads the fields above from the request object root (chat only).
 * Returns 0, or the 4xx status with *err filled (then *st still needs
 * inf__srv_structured_free). */
unsigned inf__srv_structured_parse(json_t *root, inf__srv_structured *st,
                                   inf__srv_error *err);
void inf__srv_structured_free(inf__srv_structured *st);

/* Once per request, before its choices start: the tool-call format (from
 * the model's template), whether to parse the reply for calls, and the
 * constraint (a forced call's schema, or response_format's) into opts,
 * pointing into st.  Returns INF_OK, or INF_E_INVALID_ARGUMENT with the
 * reason in msg[msg_size]. */
int inf__srv_structured_prepare(inf_model *m, inf__srv_structured *st,
                                inf_generate_options *opts, char *msg, size_t msg_size);
/* Starts one chat generation for msgs[n] (the request's text of each
 * message) with opts and st (prepared).  Plain requests go through
 * inf_chat; with tools or rich messages the conversation is rendered with
 * the model's template and generated from token ids.  Returns the library
 * status (INF_OK and *out), with the message in msg[msg_size] on failure
 * (a constraint that does not compile fails here). */
int inf__srv_chat_start(inf_model *m, const inf_message *msgs, size_t n,
                        inf_generate_options *opts, const inf__srv_structured *st,
                        inf_stream **out, char *msg, size_t msg_size);

/* The text a special token stands for when the tool-call parser needs it
 * (<|python_tag|>, [TOOL_CALLS], [ARGS], [CALL_ID]): the library leaves
 * special tokens out of stream text.  NULL for every other token. */
const char *inf__srv_marker_text(const inf_tokenizer *tok, int32_t id);

#endif
