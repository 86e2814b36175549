/* Chat templates: Hugging Face Jinja chat templates rendered in C.
 *
 * A template is parsed once (inf__tmpl_load_texts / inf__tmpl_load_dir /
 * inf__tmpl_from_source) and can then be rendered any number of times,
 * from several threads at once (rendering only reads the template).  Each render runs in its own
 * arena with limits on loop iterations, recursion depth, memory and output
 * size, so any template source and any input terminates without crashing.
 *
 * Rendering matches transformers' apply_chat_template: Jinja with
 * trim_blocks and lstrip_blocks, loop controls, transformers' tojson,
 * raise_exception(msg) and strftime_now(fmt); the variables are messages,
 * add_generation_prompt, tools, documents, the special tokens of
 * tokenizer_config.json, and the caller's extra variables.
 *
 * Errors: INF_E_TEMPLATE with a message (for raise_exception exactly the
 * message the template raised); INF_E_LIMIT when a limit was hit;
 * INF_E_INVALID_ARGUMENT for malformed JSON inputs. */
#ifndef INF_TEXT_CHAT_TEMPLATE_H
#define INF_TEXT_CHAT_TEMPLATE_H

#include <stddef.h>

#include "core/error.h"
#include "inference.h"

typedef struct inf__chat_template inf__chat_template;

/* The ChatML template used when a model has none:
 *   <|im_start|>{role}\n{content}<|im_end|>\n per message, then
 *   <|im_start|>assistant\n when add_generation_prompt. */
extern const char inf__tmpl_chatml_source[];

/* The template of a model directory, from the texts of its files (the
 * directory itself is read elsewhere: by src/model/modeldir for a model,
 * which the engine hands over, or by inf__tmpl_load_dir below):
 * tokenizer_config.json "chat_template" (a string, or a list of {name,
 * template} where "default" is used, else the first), else
 * chat_template.jinja, else the ChatML fallback (inf__tmpl_is_fallback()
 * then returns 1).  The special tokens of tokenizer_config.json
 * (bos_token, eos_token, unk_token, sep_token, pad_token, cls_token,
 * mask_token, additional_special_tokens; plain strings or
 * {"content": ...}) become template variables.
 *   config_json[config_len]: tokenizer_config.json, NULL when absent;
 *   jinja: chat_template.jinja (NUL-terminated), NULL when absent;
 *   dir: the directory, for messages only (may be NULL).
 * Errors: INF_E_FORMAT (tokenizer_config.json is not a JSON object),
 * INF_E_TEMPLATE (a syntax error, with its line), INF_E_NOMEM.
 * On success *out owns a new template (free with inf__tmpl_free). */
int inf__tmpl_load_texts(const char *config_json, size_t config_len,
                         const char *jinja, const char *dir,
                         inf__chat_template **out, inf__err *err);

/* Standalone use (no model loaded): reads dir/tokenizer_config.json and
 * dir/chat_template.jinja (each optional; present but unreadable or over
 * 64 MiB is an error naming the file) and goes through
 * inf__tmpl_load_texts. */
int inf__tmpl_load_dir(const char *dir, inf__chat_template **out, inf__err *err);

/* Parses template source.  special_tokens_json: a JSON object of extra
 * variables such as {"bos_token":"<s>"}, or NULL.  Syntax errors return
 * INF_E_TEMPLATE with the line. */
int inf__tmpl_from_source(const char *source, const char *special_tokens_json,
                          inf__chat_template **out, inf__err *err);

/* 1 when t is the ChatML fallback chosen because the model had none. */
int inf__tmpl_is_fallback(const inf__chat_template *t);
/* The template source (owned by t). */
const char *inf__tmpl_source(const inf__chat_template *t);
/* The bos_token variable as a string, or NULL when there is none (lets
 * Chat() avoid adding BOS twice when the rendered text starts with it). */
const char *inf__tmpl_bos_token(const inf__chat_template *t);
void inf__tmpl_free(inf__chat_template *t);

/* Renders msgs[0..n) (role/content; content NULL reads as None).
 * tools_json: a JSON array or NULL (tools is then None); extra_vars_json: a
 * JSON object of more variables (e.g. {"enable_thinking": false}) or NULL.
 * On success *out is a malloc'd NUL-terminated string (free()). */
int inf__tmpl_render(const inf__chat_template *t, const inf_message *msgs,
                     size_t n, int add_generation_prompt,
                     const char *tools_json, const char *extra_vars_json,
                     char **out, inf__err *err);

/* The same with messages as a JSON array of objects, which keeps fields
 * such as tool_calls and reasoning_content. */
int inf__tmpl_render_json(const inf__chat_template *t,
                          const char *messages_json, int add_generation_prompt,
                          const char *tools_json, const char *extra_vars_json,
                          char **out, inf__err *err);

/* Limits of one render; defaults are used by the functions above. */
typedef struct inf__tmpl_limits {
    size_t max_iterations;  /* loop iterations + element visits, default 1e6 */
    int max_depth;          /* nested expression/statement/macro levels, 500 */
    size_t max_output;      /* bytes of any produced string, default 32 MiB */
    size_t max_memory;      /* arena bytes per render, default 256 MiB */
} inf__tmpl_limits;
void inf__tmpl_limits_default(inf__tmpl_limits *l);

/* inf__tmpl_render_json with explicit limits (NULL: defaults). */
int inf__tmpl_render_json_limits(const inf__chat_template *t,
                                 const char *messages_json,
                                 int add_generation_prompt,
                                 const char *tools_json,
                                 const char *extra_vars_json,
                                 const inf__tmpl_limits *limits, char **out,
                                 inf__err *err);

/* Special-token variables of tokenizer_config.json text (NULL: absent) as a
 * malloc'd JSON object string ("{}" when absent); dir labels messages. */
int inf__tmpl_special_tokens_text(const char *config_json, size_t config_len,
                                  const char *dir, char **json_out,
                                  inf__err *err);
/* The same, reading dir/tokenizer_config.json (standalone use). */
int inf__tmpl_dir_special_tokens(const char *dir, char **json_out, inf__err *err);

/* The public handle (inference.h's inf_chat_template) around a parsed
 * template, so that the code which loaded one (the engine) can own a handle
 * and lend it out.  inf__tmpl_wrap takes ownership of t (freed by
 * inf_chat_template_free, or here when out of memory, when it returns
 * NULL); inf__tmpl_unwrap gives the template inside (NULL for NULL). */
inf_chat_template *inf__tmpl_wrap(inf__chat_template *t);
const inf__chat_template *inf__tmpl_unwrap(const inf_chat_template *h);

#endif
