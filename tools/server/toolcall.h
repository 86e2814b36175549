/* Tool calls in model output: which format a chat template teaches, how to
 * find the calls in what the model wrote, and how much streamed text is
 * certainly not part of a call.
 *
 * Formats (chosen from the chat template's source by inf__tc_detect):
 *   hermes   Qwen 2.5 / Qwen 3 (and other Hermes-style templates): calls are
 *            <tool_call>{"name": N, "arguments": {...}}</tool_call> blocks,
 *            one per call, anywhere in the reply; the text outside them is
 *            the message content.  Detected by "<tool_call>" in the template.
 *   llama3   Llama 3.1 / 3.2: the reply is a JSON call
 *            {"name": N, "parameters": {...}} ("arguments" accepted too),
 *            optionally after <|python_tag|>; several calls as a JSON array
 *            or separated by ';'.  Detected by "<|python_tag|>" or by
 *            "ipython" together with "<|start_header_id|>".
 *   mistral  Mistral: [TOOL_CALLS] followed by a JSON array of
 *            {"name", "arguments"[, "id"]} (v3 tokenizers), or by
 *            N[ARGS]{...} / N[CALL_ID]ID[ARGS]{...} repeated after each
 *            [TOOL_CALLS] (v11+).  Text before the first marker is content.
 *            Detected by "[TOOL_CALLS]" in the template.
 *   generic  every other template (the bundled model's ChatML fallback
 *            included): the server describes the tools in a system message
 *            (inf__tc_generic_prompt) and the reply, to call tools, is only
 *            a JSON object {"tool_calls": [{"name": N, "arguments": {...}},
 *            ...]}.
 *
 * <|python_tag|> and [TOOL_CALLS] are special tokens, which the library
 * leaves out of a stream's text; the server puts their text back (it sees
 * the token ids) before the text reaches this parser.
 *
 * Nothing here crashes on malformed output: a reply whose calls do not
 * parse, name a function that was not offered, or carry arguments that are
 * not a JSON object is reported as no calls, and the caller returns the
 * reply as text. */
#ifndef INF_SERVER_TOOLCALL_H
#define INF_SERVER_TOOLCALL_H

#include <jansson.h>
#include <stddef.h>

typedef enum inf__tc_format {
    INF__TC_GENERIC = 0,
    INF__TC_HERMES,
    INF__TC_LLAMA3,
    INF__TC_MISTRAL
} inf__tc_format;

/* The format a template's source teaches (NULL: generic). */
inf__tc_format inf__tc_detect(const char *template_source);
/* "generic", "hermes", "llama3", "mistral". Static. */
const char *inf__tc_format_name(inf__tc_format f);
/* 1 when the template renders the `tools` variable itself (its source
 * mentions it); else the server adds the generic system message. */
int inf__tc_template_has_tools(const char *template_source);

/* Finds the calls in text[len].  tools: the request's OpenAI tools array
 * (a call must name one of its functions), or NULL to accept any name.
 * Returns the number of calls (0: none, or malformed: the reply is text).
 * When it returns > 0, *calls is a new JSON array of
 *   {"name": N, "arguments": "<the arguments object as JSON text>"}
 * and *content a malloc'd NUL-terminated string, the text outside the calls
 * (trimmed; "" when none).  When it returns 0 both are set to NULL.
 * -1 when out of memory. */
int inf__tc_parse(inf__tc_format f, const char *text, size_t len,
                  const json_t *tools, json_t **calls, char **content);

/* Streaming: the number of leading bytes of text[len] (the reply so far)
 * that cannot belong to a call, so they may be sent as content now.  The
 * rest is held until more text arrives or the reply ends.  Never more than
 * len; monotone as text grows. */
size_t inf__tc_safe_prefix(inf__tc_format f, const char *text, size_t len);

/* The generic convention's system-message text for `tools` (an OpenAI
 * tools array): the functions as JSON and how to call them.  malloc'd;
 * NULL when out of memory. */
char *inf__tc_generic_prompt(const json_t *tools);

/* A new call id into buf: "call_" and 24 random letters and digits, or,
 * for Mistral (whose templates insist on it), 9 letters and digits. */
void inf__tc_make_id(inf__tc_format f, char *buf, size_t n);

#endif
